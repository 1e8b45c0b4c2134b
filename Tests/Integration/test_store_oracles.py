"""The store oracles (oracle_stores.py) tested on their own, before upsign is involved:
published vendor vectors, the vendors' SDK test vectors, and SDK-generated forms that the
oracles must reproduce. No upsign binary is needed here.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import re

import pytest

import oracle_stores as o

# esdk-obs-python builds an ssl context with a deprecated constant on every ObsClient.
pytestmark = pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLS is deprecated:DeprecationWarning")

UTC = dt.timezone.utc
HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")

# ------------------------------------------------------------------------------------------
# s3

# AWS S3 API Reference, "Example: Browser-Based Upload using HTTP POST (Using AWS Signature
# Version 4)" (sigv4-post-example.html): example credentials, the policy (CRLF line ends), its
# published base64 and the published signature.
AWS_DOC_AKID = "AKIAIOSFODNN7EXAMPLE"
AWS_DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_DOC_POLICY_LINES = [
    '{ "expiration": "2015-12-30T12:00:00.000Z",',
    '  "conditions": [',
    '    {"bucket": "sigv4examplebucket"},',
    '    ["starts-with", "$key", "user/user1/"],',
    '    {"acl": "public-read"},',
    '    {"success_action_redirect": "http://sigv4examplebucket.s3.amazonaws.com/successful_upload.html"},',
    '    ["starts-with", "$Content-Type", "image/"],',
    '    {"x-amz-meta-uuid": "14365123651274"},',
    '    {"x-amz-server-side-encryption": "AES256"},',
    '    ["starts-with", "$x-amz-meta-tag", ""],',
    '',
    '    {"x-amz-credential": "AKIAIOSFODNN7EXAMPLE/20151229/us-east-1/s3/aws4_request"},',
    '    {"x-amz-algorithm": "AWS4-HMAC-SHA256"},',
    '    {"x-amz-date": "20151229T000000Z" }',
    '  ]',
    '}',
]
AWS_DOC_POLICY_B64 = (
    "eyAiZXhwaXJhdGlvbiI6ICIyMDE1LTEyLTMwVDEyOjAwOjAwLjAwMFoiLA0KICAiY29uZGl0aW9ucyI6IFsNCiAgICB7ImJ1Y2tldCI6ICJza"
    "Wd2NGV4YW1wbGVidWNrZXQifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRrZXkiLCAidXNlci91c2VyMS8iXSwNCiAgICB7ImFjbCI6ICJwdW"
    "JsaWMtcmVhZCJ9LA0KICAgIHsic3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiOiAiaHR0cDovL3NpZ3Y0ZXhhbXBsZWJ1Y2tldC5zMy5hbWF6b25"
    "hd3MuY29tL3N1Y2Nlc3NmdWxfdXBsb2FkLmh0bWwifSwNCiAgICBbInN0YXJ0cy13aXRoIiwgIiRDb250ZW50LVR5cGUiLCAiaW1hZ2UvIl0s"
    "DQogICAgeyJ4LWFtei1tZXRhLXV1aWQiOiAiMTQzNjUxMjM2NTEyNzQifSwNCiAgICB7IngtYW16LXNlcnZlci1zaWRlLWVuY3J5cHRpb24iO"
    "iAiQUVTMjU2In0sDQogICAgWyJzdGFydHMtd2l0aCIsICIkeC1hbXotbWV0YS10YWciLCAiIl0sDQoNCiAgICB7IngtYW16LWNyZWRlbnRpYW"
    "wiOiAiQUtJQUlPU0ZPRE5ON0VYQU1QTEUvMjAxNTEyMjkvdXMtZWFzdC0xL3MzL2F3czRfcmVxdWVzdCJ9LA0KICAgIHsieC1hbXotYWxnb3J"
    "pdGhtIjogIkFXUzQtSE1BQy1TSEEyNTYifSwNCiAgICB7IngtYW16LWRhdGUiOiAiMjAxNTEyMjlUMDAwMDAwWiIgfQ0KICBdDQp9"
)
AWS_DOC_SIGNATURE = "8afdbf4008c03f22c2cd3cdb72e4afbb1f6a588f3255ac628749a66d7f09699e"


def test_aws_published_post_example():
    text = "\r\n".join(AWS_DOC_POLICY_LINES)
    assert base64.b64encode(text.encode()).decode() == AWS_DOC_POLICY_B64
    for fn in (o.s3_signature_botocore, o.s3_signature_minio, o.s3_signature):
        assert fn(AWS_DOC_SECRET, "20151229T000000Z", "us-east-1", AWS_DOC_POLICY_B64) == AWS_DOC_SIGNATURE
    # and the oracle is sensitive to each input
    assert o.s3_signature(AWS_DOC_SECRET, "20151230T000000Z", "us-east-1", AWS_DOC_POLICY_B64) != AWS_DOC_SIGNATURE
    assert o.s3_signature(AWS_DOC_SECRET, "20151229T000000Z", "us-east-2", AWS_DOC_POLICY_B64) != AWS_DOC_SIGNATURE
    assert o.s3_signature(AWS_DOC_SECRET + "x", "20151229T000000Z", "us-east-1", AWS_DOC_POLICY_B64) != AWS_DOC_SIGNATURE
    # x-amz-date's time of day does not enter the key: only YYYYMMDD does
    assert o.s3_signature(AWS_DOC_SECRET, "20151229T235959Z", "us-east-1", AWS_DOC_POLICY_B64) == AWS_DOC_SIGNATURE


def _s3_sigv4_written_out(secret, date, region, msg):
    k = ("AWS4" + secret).encode()
    for part in (date[:8], region, "s3", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, msg.encode(), hashlib.sha256).hexdigest()


def _rand_now(rng):
    return dt.datetime(2000, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=rng.randint(0, 100 * 365 * 86400))


S3_URLS = [
    ("https://bkt-{i}.s3.us-east-1.amazonaws.com", "us-east-1"),
    ("https://bkt-{i}.s3.eu-west-3.amazonaws.com", "eu-west-3"),
    ("http://127.0.0.1:9000/bkt-{i}", "us-east-1"),
    ("https://minio.example.test:9443/bkt-{i}", "ap-south-1"),
]


@pytest.mark.parametrize("with_token", [False, True])
def test_s3_botocore_and_minio_forms_agree_and_reproduce(with_token):
    rng = random.Random(0x53 + with_token)
    for i in range(25):
        url_t, region = rng.choice(S3_URLS)
        bucket = f"bkt-{i}"
        url = url_t.format(i=i)
        now = _rand_now(rng)
        expires_in = rng.choice([1, 60, 300, 3600, 86400, 604800])
        extra = {"success_action_status": "200"}
        if rng.random() < 0.6:
            extra["Content-Type"] = rng.choice(["image/png", "application/pdf", "text/plain"])
        if rng.random() < 0.5:
            extra["Cache-Control"] = "max-age=60"
        if rng.random() < 0.5:
            extra["acl"] = "private"
        if rng.random() < 0.5:
            extra["x-amz-server-side-encryption"] = "AES256"
        if rng.random() < 0.5:
            extra["x-amz-meta-origin"] = "upsign"
        lo = rng.randint(0, 100)
        rng_ = (lo, lo + rng.randint(0, 10 ** 9))
        token = "FwoGZXIvYXdzE+/=tok" + str(i) if with_token else None
        kw = dict(url=url, bucket=bucket, key=f"u/{i}/x y+z.png", region=region,
                  akid=f"AKIA{i:016d}", secret=f"s3cr3t/{i}+=", token=token, now=now,
                  expires_in=expires_in, extra_fields=extra, length_range=rng_)
        b = o.s3_botocore_post(**kw)
        m = o.s3_minio_post(**kw)
        date = now.strftime("%Y%m%dT%H%M%SZ")
        for form in (b["fields"], m["fields"]):
            assert form["x-amz-date"] == date
            assert form["x-amz-credential"] == f"AKIA{i:016d}/{date[:8]}/{region}/s3/aws4_request"
            assert form["x-amz-signature"] == o.s3_signature(kw["secret"], date, region, form["policy"])
            assert form["x-amz-signature"] == _s3_sigv4_written_out(kw["secret"], date, region, form["policy"])
            assert form.get("x-amz-security-token") == token
        assert o.norm_conditions(b["policy"]["conditions"]) == o.norm_conditions(m["policy"]["conditions"])
        exp = now + dt.timedelta(seconds=expires_in)
        assert o.parse_instant(b["policy"]["expiration"]) == exp
        assert o.parse_instant(m["policy"]["expiration"]) == exp
        assert b["url"].rstrip("/") == url
        assert {k: v for k, v in b["fields"].items() if k in extra} == extra


# ------------------------------------------------------------------------------------------
# tencent-cos

# COS API doc "POST Object", section "Signature protection use cases": sample SecretId/SecretKey,
# policy base64, and the published intermediate values and signature.
COS_DOC_SECRET_ID = "AKIDQjz3ltompVjBni5LitkWHFlFpwkn9U5q"
COS_DOC_SECRET_KEY = "BQYIM75p8x0iWVFSIgqEKwFprpRSVHlz"
COS_DOC_KEY_TIME = "1567150692;1567157892"
COS_DOC_POLICY_B64 = (
    "ewogICAgImV4cGlyYXRpb24iOiAiMjAxOS0wOC0zMFQwOTozODoxMi40MTRaIiwKICAgICJjb25kaXRpb25zIjogWwogICAgICAgIHsg"
    "ImFjbCI6ICJkZWZhdWx0IiB9LAogICAgICAgIHsgImJ1Y2tldCI6ICJleGFtcGxlYnVja2V0LTEyNTAwMDAwMDAiIH0sCiAgICAgICAg"
    "WyAic3RhcnRzLXdpdGgiLCAiJGtleSIsICJmb2xkZXIvc3ViZm9sZGVyLyIgXSwKICAgICAgICBbICJzdGFydHMtd2l0aCIsICIkQ29u"
    "dGVudC1UeXBlIiwgImltYWdlLyIgXSwKICAgICAgICBbICJzdGFydHMtd2l0aCIsICIkc3VjY2Vzc19hY3Rpb25fcmVkaXJlY3QiLCAi"
    "aHR0cHM6Ly9teS53ZWJzaXRlLyIgXSwKICAgICAgICBbICJlcSIsICIkeC1jb3Mtc2VydmVyLXNpZGUtZW5jcnlwdGlvbiIsICJBRVMy"
    "NTYiIF0sCiAgICAgICAgeyAicS1zaWduLWFsZ29yaXRobSI6ICJzaGExIiB9LAogICAgICAgIHsgInEtYWsiOiAiQUtJRFFqejNsdG9t"
    "cFZqQm5pNUxpdGtXSEZsRnB3a245VTVxIiB9LAogICAgICAgIHsgInEtc2lnbi10aW1lIjogIjE1NjcxNTA2OTI7MTU2NzE1Nzg5MiIg"
    "fQogICAgXQp9"
)
COS_DOC_SIGN_KEY = "39acc8c9f34ba5b19bce4e965b370cd3f62d2fba"
COS_DOC_STRING_TO_SIGN = "d5d903b8360468bc81c1311f134989bc8c8b5b89"
COS_DOC_SIGNATURE = "7758dc9a832e9d301dca704cacbf9d9f8172fdef"
# COS API doc "Request Signature" (PUT example): KeyTime 1557989151;1557996351 → SignKey.
COS_DOC_REQ_KEY_TIME = "1557989151;1557996351"
COS_DOC_REQ_SIGN_KEY = "eb2519b498b02ac213cb1f3d1a3d27a3b3c9bc5f"


def test_cos_published_post_example():
    text = base64.b64decode(COS_DOC_POLICY_B64).decode("utf-8")
    assert json.loads(text)["conditions"][-1] == {"q-sign-time": COS_DOC_KEY_TIME}
    assert o.cos_sign_key(COS_DOC_SECRET_KEY, COS_DOC_KEY_TIME) == COS_DOC_SIGN_KEY
    assert o.cos_string_to_sign(text) == COS_DOC_STRING_TO_SIGN
    assert o.cos_signature(COS_DOC_SECRET_ID, COS_DOC_SECRET_KEY, COS_DOC_KEY_TIME, text) == COS_DOC_SIGNATURE
    # the string to sign is the SHA-1 of the JSON text, not of its base64
    assert o.cos_signature(COS_DOC_SECRET_ID, COS_DOC_SECRET_KEY, COS_DOC_KEY_TIME,
                           COS_DOC_POLICY_B64) != COS_DOC_SIGNATURE
    assert o.cos_sign_key(COS_DOC_SECRET_KEY, COS_DOC_REQ_KEY_TIME) == COS_DOC_REQ_SIGN_KEY


def test_cos_sdk_request_signer_is_pinned_and_unmodified_without_substitution():
    """Without a substituted message, the pinned SDK signs an ordinary request exactly as the
    documented algorithm does (so the pinning itself does not alter the SDK's computation)."""
    kt = "1417773892;1417853898"
    authz = o.cos_request_authorization(
        COS_DOC_SECRET_ID, COS_DOC_SECRET_KEY, kt, method="GET",
        url="http://bucket1-1254000000.cos.ap-beijing.myqcloud.com/testfile", path="/testfile",
        headers={"Range": "bytes=0-3"})
    parts = dict(p.split("=", 1) for p in authz.split("&"))
    assert parts["q-sign-time"] == kt and parts["q-key-time"] == kt
    assert parts["q-header-list"] == "host;range"
    http = "get\n/testfile\n\nhost=bucket1-1254000000.cos.ap-beijing.myqcloud.com&range=bytes%3D0-3\n"
    sts = f"sha1\n{kt}\n{hashlib.sha1(http.encode()).hexdigest()}\n"
    key = hmac.new(COS_DOC_SECRET_KEY.encode(), kt.encode(), hashlib.sha1).hexdigest()
    assert parts["q-signature"] == hmac.new(key.encode(), sts.encode(), hashlib.sha1).hexdigest()


def test_cos_oracle_matches_the_contract_formula_on_random_inputs():
    rng = random.Random(0xC05)
    for i in range(60):
        start = rng.randint(0, 4_000_000_000)
        kt = f"{start};{start + rng.choice([1, 59, 60, 61, 300, 86400])}"
        sk = "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(32))
        policy = json.dumps({"expiration": "2026-01-02T03:09:05.000Z",
                             "conditions": [{"bucket": f"b-{i}-1250000000"}, {"q-sign-time": kt}]},
                            separators=(",", ":"))
        sig = o.cos_signature(f"AKID{i}", sk, kt, policy)
        assert HEX40.match(sig)
        key = hmac.new(sk.encode(), kt.encode(), hashlib.sha1).hexdigest()
        want = hmac.new(key.encode(), hashlib.sha1(policy.encode()).hexdigest().encode(),
                        hashlib.sha1).hexdigest()
        assert sig == want


# ------------------------------------------------------------------------------------------
# huawei-obs


def test_obs_sdk_form_and_signature_oracle():
    rng = random.Random(0x0B5)
    for i in range(30):
        now = _rand_now(rng)
        expires_in = rng.choice([1, 60, 300, 3600, 86400])
        token = f"obs-sts-token-{i}+/=" if i % 2 else None
        extra = {"success_action_status": "200", "Content-Type": "image/png"}
        if rng.random() < 0.5:
            extra["x-obs-acl"] = "public-read"
        if rng.random() < 0.5:
            extra["x-obs-meta-origin"] = "upsign"
        akid, sk = f"OBSAK{i:05d}", f"obs-secret/{i}+="
        r = o.obs_sdk_post(url=f"https://b{i}.obs.cn-north-4.myhuaweicloud.com", bucket=f"b{i}",
                           key=f"k/{i}.png", akid=akid, secret=sk, token=token, now=now,
                           expires_in=expires_in, extra_fields=extra)
        assert o.parse_instant(r["policy"]["expiration"]) == now + dt.timedelta(seconds=expires_in)
        conds = o.norm_conditions(r["policy"]["conditions"])
        assert ("eq", "bucket", f"b{i}") in conds and ("eq", "key", f"k/{i}.png") in conds
        assert (("eq", "x-obs-security-token", token) in conds) == (token is not None)
        assert base64.b64encode(r["policy_text"].encode()).decode() == r["policy_b64"]
        assert o.obs_signature(akid, sk, r["policy_b64"]) == r["signature"]
        want = base64.b64encode(hmac.new(sk.encode(), r["policy_b64"].encode(), hashlib.sha1).digest()).decode()
        assert r["signature"] == want


# ------------------------------------------------------------------------------------------
# qiniu

# qiniu/python-sdk tests (test_auth.py): dummy keys and their published tokens.
QINIU_DUMMY_AK, QINIU_DUMMY_SK = "abcdefghklmnopq", "1234567890"


def test_qiniu_sdk_published_vectors():
    import qiniu

    a = qiniu.Auth(QINIU_DUMMY_AK, QINIU_DUMMY_SK)
    assert a.token("test") == "abcdefghklmnopq:mSNBTR7uS2crJsyFr2Amwv1LaYg="
    assert a.token_with_data("test") == "abcdefghklmnopq:-jP8eEV9v48MkYiBGs81aDxl60E=:dGVzdA=="
    # our oracle: token for an already-encoded policy ("dGVzdA==" is urlsafe-b64("test"))
    assert o.qiniu_token_for(QINIU_DUMMY_AK, QINIU_DUMMY_SK, "dGVzdA==") == \
        "abcdefghklmnopq:-jP8eEV9v48MkYiBGs81aDxl60E=:dGVzdA=="


def test_qiniu_upload_token_pinned_and_reproduced():
    rng = random.Random(0x9171)
    for i in range(40):
        now = _rand_now(rng)
        expires_in = rng.choice([1, 60, 300, 3600])
        pol = {}
        if rng.random() < 0.5:
            pol["fsizeMin"] = rng.randint(1, 100)
        pol["fsizeLimit"] = rng.randint(100, 10 ** 9)
        if rng.random() < 0.5:
            pol["mimeLimit"] = rng.choice(["image/*", "image/png;image/jpeg", "application/pdf"])
        if rng.random() < 0.5:
            pol["insertOnly"] = 1
        q = o.qiniu_sdk_upload_token(akid=f"QAK{i}", secret=f"qsk-{i}", bucket="qb", key=f"a/{i}.png",
                                     now=now, expires_in=expires_in, policy=pol)
        assert q["put_policy"] == {"scope": f"qb:a/{i}.png",
                                   "deadline": int(now.timestamp()) + expires_in, **pol}
        assert list(q["put_policy"]) == ["scope", "deadline", *pol]
        assert o.qiniu_token_for(f"QAK{i}", f"qsk-{i}", q["put_policy_b64"]) == q["token"]
        sig = base64.urlsafe_b64encode(hmac.new(f"qsk-{i}".encode(), q["put_policy_b64"].encode(),
                                                hashlib.sha1).digest()).decode()
        assert q["token"] == f"QAK{i}:{sig}:{q['put_policy_b64']}"


# ------------------------------------------------------------------------------------------
# gcs


def test_gcs_sdk_policy_with_hmac_signer():
    rng = random.Random(0x6C5)
    for i in range(30):
        now = _rand_now(rng)
        expires_in = rng.choice([1, 60, 300, 3600, 604800])
        location = rng.choice(["auto", "us-east1", "europe-west4", "US"])
        extra = {"success_action_status": "200"}
        if rng.random() < 0.6:
            extra["Content-Type"] = "image/webp"
        if rng.random() < 0.4:
            extra["x-goog-meta-origin"] = "upsign"
        g = o.gcs_sdk_post(bucket=f"gb{i}", key=f"k/{i}.webp", location=location,
                           access_id=f"GOOG1E{i:06d}", secret=f"gsecret/{i}+", now=now,
                           expires_in=expires_in, extra_fields=extra, length_range=(0, 1000 + i))
        date = now.strftime("%Y%m%d")
        # pinned clock
        assert g["fields"]["x-goog-date"] == now.strftime("%Y%m%dT%H%M%SZ")
        assert g["policy"]["expiration"] == (now + dt.timedelta(seconds=expires_in)).strftime("%Y-%m-%dT%H:%M:%SZ")
        # the SDK signed its own policy through our HMAC signer: same as the stdlib formula
        assert g["fields"]["x-goog-signature"] == o.gcs_hmac_signature(f"gsecret/{i}+", date, location,
                                                                       g["fields"]["policy"])
        assert g["fields"]["x-goog-signature"] == o.gcs_sdk_signature_path(
            f"GOOG1E{i:06d}", f"gsecret/{i}+", date, location, g["fields"]["policy"])
        conds = o.norm_conditions(g["conditions_hmac"])
        assert ("eq", "x-goog-algorithm", o.HMAC_ALGO) in conds
        assert ("eq", "x-goog-credential", f"GOOG1E{i:06d}/{date}/{location}/storage/goog4_request") in conds
        assert ("content-length-range", 0, 1000 + i) in conds
        assert g["url"] == f"https://storage.googleapis.com/gb{i}/"


def test_gcs_hmac_chain_differs_from_aws_only_by_names():
    """The GOOG4 chain is SigV4's with "GOOG4"/"storage"/"goog4_request": written out."""
    k = b"GOOG4" + b"secret"
    for part in (b"20260102", b"auto", b"storage", b"goog4_request"):
        k = hmac.new(k, part, hashlib.sha256).digest()
    assert o.gcs_hmac_signature("secret", "20260102", "auto", "cG9saWN5") == \
        hmac.new(k, b"cG9saWN5", hashlib.sha256).hexdigest()
    assert HEX64.match(o.gcs_hmac_signature("secret", "20260102", "auto", "cG9saWN5"))
    assert o.gcs_hmac_signature("secret", "20260102", "auto", "cG9saWN5") != \
        o.gcs_hmac_signature("secret", "20260102", "us", "cG9saWN5")


def test_oracles_are_thread_safe_under_a_pool():
    """The clock patches are serialized: parallel calls with different pinned times each see
    their own time."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        now = dt.datetime(2001, 1, 1, tzinfo=UTC) + dt.timedelta(days=i * 37, seconds=i)
        q = o.qiniu_sdk_upload_token(akid="A", secret="S", bucket="b", key="k", now=now,
                                     expires_in=10, policy={})
        r = o.obs_sdk_post(url="https://b.obs.x", bucket="b", key="k", akid="A", secret="S",
                           token=None, now=now, expires_in=10, extra_fields={})
        b = o.s3_minio_post(url="https://bkt.s3.us-east-1.amazonaws.com", bucket="bkt", key="k",
                            region="us-east-1", akid="A", secret="S", token=None, now=now,
                            expires_in=10, extra_fields={}, length_range=(0, 1))
        exp = now + dt.timedelta(seconds=10)
        return (q["put_policy"]["deadline"] == int(exp.timestamp())
                and o.parse_instant(r["policy"]["expiration"]) == exp
                and o.parse_instant(b["policy"]["expiration"]) == exp)

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert all(pool.map(one, range(24)))
