"""Differential test of `upsign sign` for the other stores of issue #5 (s3, tencent-cos,
huawei-obs, qiniu, gcs): a few hundred generated requests per store, every field checked against
the contract (/tmp/stores/spec.md) and every signature against the vendors' official SDKs
(oracle_stores.py; tested on their own in test_store_oracles.py). The SDKs' own POST-form
generators, run on the same inputs with the same pinned clock, must produce the same policy
conditions and expiration instant as upsign (compared semantically, see oracle_stores).

Nothing here is derived from upsign's sources.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import re
import uuid as uuidlib

import pytest

import helpers
import oracle_stores as o
from harness.differential import (ACTIVE_SAMPLES, ANY_TYPES, V4_NAMES, V4_USER_LENGTHS, Case, check_case,
                                  fmt_ms, make_case, random_filename, random_now, random_user, random_uuid,
                                  run_cases, sign_args)
from harness.processes import check_config
from harness.rules import allowed_types, content_disposition, qiniu_mime_limit, settle_expectation

# esdk-obs-python builds an ssl context with a deprecated constant on every ObsClient.
pytestmark = pytest.mark.filterwarnings("ignore:ssl.PROTOCOL_TLS is deprecated:DeprecationWarning")

UTC = dt.timezone.utc
HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX40 = re.compile(r"^[0-9a-f]{40}$")

# ------------------------------------------------------------------------------------------
# Credentials (distinctive strings, one set per store and variant)

CREDS = {
    # store: (env var names (id, secret, token or None), akid, secret, token or None)
    "s3": (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
           "AKIAUPSIGNITEST0S3AK", "itest-s3-Secret+/With=Chars-5e1f", "FwoGZXIvYXdzEitest-s3-sts+/=token"),
    "tencent-cos": (("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_SESSION_TOKEN"),
                    "AKIDupsignItestCos0000000000000001", "itestCosSecretKey0123456789abcdef",
                    "itest-cos-sts-token-7a7a+/="),
    "huawei-obs": (("OBS_ACCESS_KEY_ID", "OBS_SECRET_ACCESS_KEY", "OBS_SECURITY_TOKEN"),
                   "UPSIGNITESTOBSAK0001", "itest-obs-Secret+/With=Chars-9c9c", "itest-obs-sts-token-0b5+/="),
    "qiniu": (("QINIU_ACCESS_KEY", "QINIU_SECRET_KEY", None),
              "itestQiniuAccessKey_0123456789abcdefABCD", "itestQiniuSecretKey_fedcba9876543210-_ZZ", None),
    "gcs": (("GCS_HMAC_ACCESS_ID", "GCS_HMAC_SECRET", None),
            "GOOG1EUPSIGNITESTGCSACCESSID0000000000000000000000000001",
            "itest-gcs-hmac-Secret+/With=Chars-6c6c", None),
}
# Profile-named variables for the s3 "named env" profile.
NAMED = ("UPSIGN_S3N_AK", "UPSIGN_S3N_SECRET", "UPSIGN_S3N_TOKEN")
NAMED_CREDS = ("AKIAUPSIGNNAMEDENV01", "itest-s3-named-Secret/+=-1234", "itest-s3-named-sts-token+/=")
ALL_STORE_VARS = [v for (names, *_rest) in CREDS.values() for v in names if v] + list(NAMED)

STORE_SECRETS = [c[2] for c in CREDS.values()] + [NAMED_CREDS[1]]


def store_env(tokens: bool) -> dict:
    env = {k: v for k, v in helpers.clean_env().items() if k not in ALL_STORE_VARS}
    for store, (names, akid, secret, token) in CREDS.items():
        env[names[0]], env[names[1]] = akid, secret
        if tokens and names[2]:
            env[names[2]] = token
    env[NAMED[0]], env[NAMED[1]] = NAMED_CREDS[0], NAMED_CREDS[1]
    if tokens:
        env[NAMED[2]] = NAMED_CREDS[2]
    return env


def creds_for(prof: dict, tokens: bool) -> tuple[str, str, str | None]:
    if prof.get("access_key_id_env") == NAMED[0]:
        return NAMED_CREDS[0], NAMED_CREDS[1], NAMED_CREDS[2] if tokens else None
    _names, akid, secret, token = CREDS[prof["provider"]]
    return akid, secret, token if tokens else None


# ------------------------------------------------------------------------------------------
# Profiles

IMAGE_TYPES = ["image/jpeg", "image/png", "image/webp"]


def store_profile(provider: str, **over) -> dict:
    p = {
        "provider": provider,
        "bucket": "examplebucket",
        "key": "up/{user}/{uuid}{ext}",
        "extensions": ["jpg", "jpeg", "png", "webp"],
        "content_types": IMAGE_TYPES,
        "min_size": 0,
        "max_size": 1048576000,
        "expires_in": 300,
        "format": "native",
        "require_user": True,
        "credentials": "env",
    }
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


def store_profiles() -> dict:
    sp = store_profile
    return {
        # s3: default endpoint (virtual host), explicit signature v4, restricted types
        "s3v": sp("s3", bucket="upsign-s3", region="us-west-2", signature="v4", expires_in=600),
        # s3: region default us-east-1, path-style endpoint, no identity, extras pinned
        "s3p": sp("s3", bucket="upsign-path", endpoint="http://127.0.0.1:9000/upsign-path",
                  key="p/{yyyy}/{mm}/{dd}/{uuid}{ext}", require_user=False, extensions=None,
                  content_types=None, min_size=1, max_size=5000000, expires_in=3600,
                  cache_control="max-age=3600", content_disposition="attachment",
                  object_acl="private", server_side_encryption="AES256"),
        # s3: credentials from profile-named variables, a full day (expiry on the next day)
        "s3n": sp("s3", bucket="upsign-named", region="eu-central-1",
                  endpoint="https://upsign-named.s3.eu-central-1.amazonaws.com",
                  key="n/{profile}/{hh}/{user}-{uuid}{ext}", extensions=None, content_types=None,
                  expires_in=86400, access_key_id_env=NAMED[0], secret_env=NAMED[1],
                  token_env=NAMED[2]),
        # tencent-cos
        "cos": sp("tencent-cos", bucket="upsign-1250000000", region="ap-guangzhou",
                  content_disposition="inline"),
        "cosx": sp("tencent-cos", bucket="upsign2-1250000000", region="ap-shanghai",
                   endpoint="https://upsign2-1250000000.cos.ap-shanghai.myqcloud.com",
                   key="c/{timestamp}/{uuid}{ext}", require_user=False, extensions=None,
                   content_types=None, expires_in=7200, object_acl="private",
                   server_side_encryption="AES256", cache_control="no-cache"),
        # huawei-obs
        "obs": sp("huawei-obs", bucket="upsign-obs", region="cn-north-4"),
        "obsx": sp("huawei-obs", bucket="upsign-obs2", region="ap-southeast-1",
                   key="o/{user}/{yyyy}{mm}{dd}/{uuid}{ext}", extensions=None, content_types=None,
                   min_size=10, max_size=10485760, expires_in=60, object_acl="public-read",
                   server_side_encryption="kms", content_disposition="attachment"),
        # qiniu: region default z0, restricted types, forbid_overwrite
        "qn": sp("qiniu", bucket="upsign-qiniu", forbid_overwrite=True, min_size=1,
                 max_size=10485760),
        # qiniu: any type, explicit region and endpoint, min 0 (no fsizeMin)
        "qnany": sp("qiniu", bucket="upsign-qiniu2", region="z2", endpoint="https://up-z2.qiniup.com",
                    key="q/{uuid}{ext}", require_user=False, extensions=None, content_types=None,
                    expires_in=3600),
        # qiniu: a family that holds an active type ("image/" → the passive image types upsign
        # knows, in mimeLimit)
        "qnpre": sp("qiniu", bucket="upsign-qiniu3", content_types=["image/", "application/pdf"],
                    extensions=["png", "jpg", "webp", "pdf"], expires_in=120),
        # qiniu: families with and without active types ("video/" → "video/*"), an exact type
        # inside a listed family (listed once)
        "qnfam": sp("qiniu", bucket="upsign-qiniu4", key="f/{user}/{uuid}{ext}", extensions=None,
                    content_types=["video/", "text/", "application/pdf", "audio/", "text/csv",
                                   "application/"]),
        # gcs: default endpoint and location "auto"; extensions whose types the profile does not
        # all allow (gif, txt: without contentType, missing_parameter)
        "gcs": sp("gcs", bucket="upsign-gcs", extensions=["jpg", "jpeg", "png", "webp", "gif", "txt"]),
        # gcs: explicit location, signature v4, a week
        "gcsl": sp("gcs", bucket="upsign-gcs2", region="us-east1", signature="v4",
                   key="g/{user}/{uuid}{ext}", extensions=None, content_types=None,
                   expires_in=604800, cache_control="private, max-age=0",
                   content_disposition="inline"),
    }


SERVER = dict(helpers.STANDARD_SERVER, default_profile="s3v")


def endpoint_of(prof: dict) -> str:
    if "endpoint" in prof:
        return prof["endpoint"]
    b, p = prof["bucket"], prof["provider"]
    if p == "s3":
        return f"https://{b}.s3.{prof.get('region', 'us-east-1')}.amazonaws.com"
    if p == "tencent-cos":
        return f"https://{b}.cos.{prof['region']}.myqcloud.com"
    if p == "huawei-obs":
        return f"https://{b}.obs.{prof['region']}.myhuaweicloud.com"
    if p == "qiniu":
        return f"https://up-{prof.get('region', 'z0')}.qiniup.com"
    if p == "gcs":
        return f"https://storage.googleapis.com/{b}"
    raise AssertionError(p)


def region_of(prof: dict) -> str:
    if prof["provider"] == "s3":
        return prof.get("region", "us-east-1")
    if prof["provider"] == "gcs":
        return prof.get("region", "auto")
    return prof["region"]


# ------------------------------------------------------------------------------------------
# Cases


SPECIAL_NOWS = [
    "2026-01-02T03:04:05Z", "2026-01-02T23:59:59Z", "2026-01-03T00:00:00Z", "2026-01-03T00:00:01Z",
    "2026-12-31T23:59:59Z", "2027-01-01T00:00:00Z", "2028-02-29T23:59:59Z", "2028-02-29T00:00:00Z",
    "2027-02-28T23:59:59Z", "2000-02-29T23:59:59Z", "2099-12-31T23:59:59Z", "2030-06-30T23:59:59Z",
]


def _midnight(rng: random.Random) -> str:
    """Around a UTC midnight: the signing-key date changes (key caches across days)."""
    day = dt.datetime(2001, 1, 1, tzinfo=UTC) + dt.timedelta(days=rng.randint(0, 36000))
    t = day + dt.timedelta(seconds=rng.choice([-2, -1, 0, 1]))
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def store_now(rng: random.Random) -> str:
    return random_now(rng, SPECIAL_NOWS, special_until=0.3, midnight=_midnight, midnight_until=0.5)


PROFILES_BY_STORE = {
    "s3": ["s3v", "s3p", "s3n"], "tencent-cos": ["cos", "cosx"], "huawei-obs": ["obs", "obsx"],
    "qiniu": ["qn", "qnany", "qnpre", "qnfam"], "gcs": ["gcs", "gcsl"],
}


def _draw_case(rng: random.Random, profiles: dict, store: str, tokens: bool) -> Case | None:
    name = rng.choice(PROFILES_BY_STORE[store])
    prof = profiles[name]
    exts = prof.get("extensions") or []
    types = allowed_types(prof)
    lo, hi = prof.get("min_size", 0), prof.get("max_size", 1048576000)
    needs_user = prof.get("require_user", True) or "{user}" in prof["key"]
    user = random_user(rng, V4_USER_LENGTHS) if (needs_user or rng.random() < 0.5) else None
    filename = random_filename(rng, exts, V4_NAMES)
    if types:
        # without contentType: the extension's type is pinned if the profile allows it (Qiniu
        # then limits the detected type to the profile's list)
        content_type = rng.choice(types) if rng.random() < 0.7 else None
    else:
        content_type = rng.choice(ANY_TYPES) if rng.random() < 0.6 else None
    size = rng.choice([None, None, lo, hi, rng.randint(lo, hi), rng.randint(lo, min(hi, 4096))])
    fmt = rng.choice([None, None, "native", "uppy"])
    c = Case(name, fmt, user, filename, content_type, size, store_now(rng), random_uuid(rng),
             tokens=tokens)

    if rng.random() < 0.12:   # one fault per case
        faults = ["size_high", "format_java", "ext", "active"]
        if lo > 0:
            faults.append("size_low")
        if needs_user:
            faults.append("identity_missing")
        if exts:
            faults += ["no_filename", "ext_required"]
        if types:
            faults.append("ctype")
        c.fault = rng.choice(faults)
        if c.fault == "format_java":
            c.fmt, c.expect = "java", "invalid_request"
        elif c.fault == "size_high":
            c.size, c.expect = hi + 1, "size_out_of_range"
        elif c.fault == "size_low":
            c.size, c.expect = lo - 1, "size_out_of_range"
        elif c.fault == "identity_missing":
            c.user, c.expect = None, "identity_required"
        # file name and type faults: harness.rules.rule_errors names the code
        elif c.fault == "ext":
            c.filename = "x.exe" if exts else "x.p-q"
        elif c.fault == "no_filename":
            c.filename = None
        elif c.fault == "ext_required":
            c.filename = rng.choice(["noext", "x.", f"x.{exts[0]}.", f".{exts[-1]}"])
        elif c.fault == "ctype":
            c.content_type = rng.choice(["text/html", "image/gif", "application/x-sh"])
        elif c.fault == "active":
            c.content_type = rng.choice(ACTIVE_SAMPLES)

    if not settle_expectation(c, prof, c.fmt or prof["format"]):
        return None
    c.args = sign_args(c)
    return c


# ------------------------------------------------------------------------------------------
# The contract, per store

ACL_FIELD = {"s3": "acl", "tencent-cos": "x-cos-acl", "huawei-obs": "x-obs-acl", "gcs": "acl"}
SSE_FIELD = {"s3": "x-amz-server-side-encryption", "tencent-cos": "x-cos-server-side-encryption",
             "huawei-obs": "x-obs-server-side-encryption"}
TOKEN_FIELD = {"s3": "x-amz-security-token", "tencent-cos": "x-cos-security-token",
               "huawei-obs": "x-obs-security-token"}
AUTH_FIELDS = {
    "s3": ["key", "policy", "x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"],
    "tencent-cos": ["key", "policy", "q-sign-algorithm", "q-ak", "q-key-time", "q-signature"],
    "huawei-obs": ["key", "policy", "AccessKeyId", "signature"],
    "gcs": ["key", "policy", "x-goog-algorithm", "x-goog-credential", "x-goog-date", "x-goog-signature"],
}


def trailing(prof: dict, filename: str | None, content_type: str | None,
             token: str | None) -> list[tuple[str, str, bool]]:
    """(field, value, as_object_condition) in the contract's order. Content-Type is always
    there: the client's type, else its extension's, else application/octet-stream."""
    p = prof["provider"]
    out = [("success_action_status", str(prof.get("success_action_status", 200)), True),
           ("Content-Type", helpers.pinned_content_type(content_type, filename), False)]
    if "cache_control" in prof:
        out.append(("Cache-Control", prof["cache_control"], False))
    cd = content_disposition(prof, filename)
    if cd is not None:
        out.append(("Content-Disposition", cd, False))
    if "object_acl" in prof:
        out.append((ACL_FIELD[p], prof["object_acl"], False))
    if "server_side_encryption" in prof:
        out.append((SSE_FIELD[p], prof["server_side_encryption"], False))
    if token is not None:
        out.append((TOKEN_FIELD[p], token, True))
    return out


def trailing_conditions(tr) -> list:
    return [{n: v} if obj else ["eq", "$" + n, v] for n, v, obj in tr]


def qiniu_decode_policy(p: str) -> tuple[str, dict]:
    assert re.fullmatch(r"[A-Za-z0-9_-]+=*", p), f"putPolicy is not urlsafe base64: {p!r}"
    raw = base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))
    text = raw.decode("utf-8")
    return text, json.loads(text, object_pairs_hook=lambda kv: dict(kv))


def check_store_answer(c: Case, body: dict, prof: dict, akid: str, secret: str, token: str | None) -> None:
    store = prof["provider"]
    fmt = c.fmt or prof["format"]
    now = o.parse_instant(c.now)
    expires_in = prof.get("expires_in", 300)
    exp = now + dt.timedelta(seconds=expires_in)
    url = endpoint_of(prof)
    if fmt == "uppy":
        assert set(body) == {"method", "url", "fields", "headers"}, f"uppy keys {sorted(body)}"
        assert body["headers"] == {}, body["headers"]
    else:
        assert set(body) == {"provider", "method", "url", "key", "expiresAt", "fields"}, \
            f"native keys {sorted(body)}"
        assert body["provider"] == store
        assert body["expiresAt"] == fmt_ms(exp), f"expiresAt {body['expiresAt']} != {fmt_ms(exp)}"
    assert body["method"] == "POST"
    assert body["url"] == url, f"url {body['url']!r} != {url!r}"
    fields = body["fields"]
    assert all(isinstance(v, str) for v in fields.values()), f"non-string field: {fields}"
    key = fields["key"]
    if fmt != "uppy":
        assert body["key"] == key
    want_key = helpers.expand_key(prof["key"], user=c.user, uuid=c.uuid,
                                  ext=helpers.ext_of(c.filename), now=now, profile_name=c.profile)
    assert key == want_key, f"key {key!r} != {want_key!r}"
    lo, hi = (c.size, c.size) if c.size is not None else \
        (prof.get("min_size", 0), prof.get("max_size", 1048576000))
    if store == "qiniu":
        return check_qiniu(c, fields, prof, akid, secret, key, now, exp, lo, hi)

    tr = trailing(prof, c.filename, c.content_type, token)
    want_order = AUTH_FIELDS[store] + [n for n, _v, _o in tr]
    assert list(fields) == want_order, f"fields {list(fields)} != {want_order}"
    for n, v, _obj in tr:
        assert fields[n] == v, f"field {n}={fields[n]!r} != {v!r}"
    extra = {n: v for n, v, _obj in tr if n != TOKEN_FIELD.get(store)}
    text, policy = o.decode_b64_json(fields["policy"])
    assert set(policy) == {"expiration", "conditions"}, f"policy members {sorted(policy)}"
    conds = policy["conditions"]
    tail = [["eq", "$key", key], ["content-length-range", lo, hi]] + trailing_conditions(tr)
    for cnd in conds:
        if isinstance(cnd, list) and cnd and cnd[0] == "content-length-range":
            assert all(type(x) is int for x in cnd[1:]), cnd
    date = now.strftime("%Y%m%dT%H%M%SZ")
    region = region_of(prof)

    if store == "s3":
        cred = f"{akid}/{date[:8]}/{region}/s3/aws4_request"
        assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
        assert fields["x-amz-credential"] == cred
        assert fields["x-amz-date"] == date
        assert policy["expiration"] == fmt_ms(exp), f"expiration {policy['expiration']}"
        want = [{"bucket": prof["bucket"]}, {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
                {"x-amz-credential": cred}, {"x-amz-date": date}] + tail
        assert conds == want, f"conditions\n  {conds}\n!= contract\n  {want}"
        assert HEX64.match(fields["x-amz-signature"])
        assert fields["x-amz-signature"] == o.s3_signature(secret, date, region, fields["policy"]), \
            "x-amz-signature differs from botocore/minio"
        sdk_kw = dict(url=url, bucket=prof["bucket"], key=key, region=region, akid=akid,
                      secret=secret, token=token, now=now, expires_in=expires_in,
                      extra_fields=extra, length_range=(lo, hi))
        b = o.s3_botocore_post(**sdk_kw)
        m = o.s3_minio_post(**sdk_kw)
        ours = o.norm_conditions(conds)
        for sdk, res in (("botocore", b), ("minio", m)):
            theirs = o.norm_conditions(res["policy"]["conditions"])
            assert ours == theirs, f"{sdk} conditions differ: ours-only {ours - theirs}, {sdk}-only {theirs - ours}"
            assert o.parse_instant(res["policy"]["expiration"]) == o.parse_instant(policy["expiration"])
            for k in ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-security-token"):
                assert res["fields"].get(k) == fields.get(k), f"{sdk} {k}: {res['fields'].get(k)!r}"
        assert b["url"].rstrip("/") == body["url"], f"botocore url {b['url']}"
        for k, v in b["fields"].items():
            if k not in ("policy", "x-amz-signature"):
                assert fields.get(k) == v, f"botocore field {k}={v!r}, ours {fields.get(k)!r}"

    elif store == "tencent-cos":
        kt = f"{int(now.timestamp())};{int(exp.timestamp())}"
        assert fields["q-sign-algorithm"] == "sha1"
        assert fields["q-ak"] == akid
        assert fields["q-key-time"] == kt
        assert o.parse_instant(policy["expiration"]) == exp, f"expiration {policy['expiration']}"
        want = [{"bucket": prof["bucket"]}, {"q-sign-algorithm": "sha1"}, {"q-ak": akid},
                {"q-sign-time": kt}] + tail
        assert conds == want, f"conditions\n  {conds}\n!= contract\n  {want}"
        assert HEX40.match(fields["q-signature"])
        assert fields["q-signature"] == o.cos_signature(akid, secret, kt, text), \
            "q-signature differs from qcloud_cos (over SHA1 of the policy JSON text)"

    elif store == "huawei-obs":
        assert fields["AccessKeyId"] == akid
        assert o.parse_instant(policy["expiration"]) == exp, f"expiration {policy['expiration']}"
        want = [{"bucket": prof["bucket"]}] + tail
        assert conds == want, f"conditions\n  {conds}\n!= contract\n  {want}"
        assert fields["signature"] == o.obs_signature(akid, secret, fields["policy"]), \
            "signature differs from esdk-obs-python"
        # esdk-obs-python writes its policy JSON by concatenation, without escaping: a value
        # with a double quote (a Content-Disposition naming a file) would break its JSON, so
        # such fields (checked against the contract above) are left out of the SDK comparison.
        unquotable = {n for n, v in extra.items() if '"' in v}
        r = o.obs_sdk_post(url=url, bucket=prof["bucket"], key=key, akid=akid, secret=secret,
                           token=token, now=now, expires_in=expires_in,
                           extra_fields={n: v for n, v in extra.items() if n not in unquotable})
        ours = {x for x in o.norm_conditions(conds)
                if x[0] == "eq" and x[1] not in {n.lower() for n in unquotable}}
        theirs = o.norm_conditions(r["policy"]["conditions"])
        assert ours == theirs, f"obs SDK conditions differ: ours-only {ours - theirs}, SDK-only {theirs - ours}"
        assert o.parse_instant(r["policy"]["expiration"]) == o.parse_instant(policy["expiration"])

    elif store == "gcs":
        cred = f"{akid}/{date[:8]}/{region}/storage/goog4_request"
        assert fields["x-goog-algorithm"] == "GOOG4-HMAC-SHA256"
        assert fields["x-goog-credential"] == cred
        assert fields["x-goog-date"] == date
        assert policy["expiration"] == exp.strftime("%Y-%m-%dT%H:%M:%SZ"), f"expiration {policy['expiration']}"
        want = [{"bucket": prof["bucket"]}, {"x-goog-algorithm": "GOOG4-HMAC-SHA256"},
                {"x-goog-credential": cred}, {"x-goog-date": date}] + tail
        assert conds == want, f"conditions\n  {conds}\n!= contract\n  {want}"
        assert HEX64.match(fields["x-goog-signature"])
        assert fields["x-goog-signature"] == o.gcs_hmac_signature(secret, date, region, fields["policy"])
        g = o.gcs_sdk_post(bucket=prof["bucket"], key=key, location=region, access_id=akid,
                           secret=secret, now=now, expires_in=expires_in, extra_fields=extra,
                           length_range=(lo, hi))
        ours, theirs = o.norm_conditions(conds), o.norm_conditions(g["conditions_hmac"])
        assert ours == theirs, f"GCS SDK conditions differ: ours-only {ours - theirs}, SDK-only {theirs - ours}"
        assert g["policy"]["expiration"] == policy["expiration"]
        assert g["url"].rstrip("/") == body["url"], f"SDK url {g['url']}"
        for k, v in g["fields_hmac"].items():
            if k not in ("policy", "x-goog-signature"):
                assert fields.get(k) == v, f"GCS SDK field {k}={v!r}, ours {fields.get(k)!r}"

    form = dict(fields)
    if store == "tencent-cos":
        # COS (POST Object docs): the policy's q-sign-time is checked against the q-key-time field
        form["q-sign-time"] = form["q-key-time"]
    failures = helpers.evaluate_policy(conds, form, prof["bucket"], lo)
    assert not failures, f"the client's own form would fail the policy: {failures}"


def check_qiniu(c, fields, prof, akid, secret, key, now, exp, lo, hi):
    assert list(fields) == ["key", "token"], f"qiniu fields {list(fields)}"
    tok = fields["token"]
    parts = tok.split(":")
    assert len(parts) == 3, f"token is not AK:sig:policy: {tok!r}"
    assert parts[0] == akid
    text, pp = qiniu_decode_policy(parts[2])
    compact = json.dumps(pp, separators=(",", ":"), ensure_ascii=False)
    assert text in (compact, compact.replace("/", "\\/")), f"putPolicy is not compact JSON: {text}"
    want = {"scope": f"{prof['bucket']}:{key}", "deadline": int(exp.timestamp())}
    if lo > 0:
        want["fsizeMin"] = lo
    want["fsizeLimit"] = hi
    # always a mimeLimit (the client's type, the profile's types, or "!" and the active types)
    # and detectMime: Qiniu checks and stores the type it detects, not the uploader's claim
    want["mimeLimit"] = qiniu_mime_limit(prof, c.content_type)
    want["detectMime"] = 1
    if prof.get("forbid_overwrite"):
        want["insertOnly"] = 1
    assert pp == want and list(pp) == list(want), f"putPolicy {text} != contract {want}"
    for k in ("deadline", "fsizeLimit", "fsizeMin", "detectMime", "insertOnly"):
        if k in pp:
            assert type(pp[k]) is int, f"{k} is not an integer: {pp[k]!r}"
    assert tok == o.qiniu_token_for(akid, secret, parts[2]), "token signature differs from the qiniu SDK"
    sdk = o.qiniu_sdk_upload_token(akid=akid, secret=secret, bucket=prof["bucket"], key=key,
                                   now=now, expires_in=prof.get("expires_in", 300),
                                   policy={k: v for k, v in want.items() if k not in ("scope", "deadline")})
    assert sdk["put_policy"] == pp and list(sdk["put_policy"]) == list(pp), \
        f"qiniu SDK putPolicy {sdk['put_policy_text']} != ours {text}"


def check_answer(profiles: dict):
    """The check of a signed answer against the store's contract and SDKs, with the credentials
    of the profile and of the case's environment (tokens or not)."""
    def check(c: Case, body: dict) -> None:
        prof = profiles[c.profile]
        akid, secret, token = creds_for(prof, c.tokens)
        check_store_answer(c, body, prof, akid, secret, token)
    return check


@pytest.fixture(scope="module")
def stores_config(tmp_path_factory):
    profiles = store_profiles()
    cfg = helpers.write_config(tmp_path_factory.mktemp("storescfg"), server=SERVER, profiles=profiles)
    return cfg, profiles


RUNS = {
    # name: (store, seed, cases, tokens)
    "s3": ("s3", 0x5301, 250, False),
    "s3-sts": ("s3", 0x5302, 100, True),
    "cos": ("tencent-cos", 0xC051, 200, False),
    "cos-sts": ("tencent-cos", 0xC052, 80, True),
    "obs": ("huawei-obs", 0x0B51, 200, False),
    "obs-sts": ("huawei-obs", 0x0B52, 80, True),
    "qiniu": ("qiniu", 0x9101, 250, False),
    "gcs": ("gcs", 0x6C51, 250, False),
}


@pytest.mark.parametrize("run", list(RUNS))
def test_store_differential_sign(stores_config, run):
    config, profiles = stores_config
    store, seed, n, tokens = RUNS[run]
    rng = random.Random(seed)
    cases = [make_case(rng, _draw_case, profiles, store, tokens) for _ in range(n)]
    assert sum(c.expect == "ok" for c in cases) > n // 2
    failures = run_cases(cases, config, store_env(tokens), check_answer(profiles))
    print(f"\nstore differential [{run}]: {n} cases, {len(failures)} mismatches")
    assert not failures, f"{len(failures)}/{len(cases)} cases differ from the contract/SDKs:\n" + \
        "\n".join(failures[:12])


def test_signing_key_cache_across_days(stores_config):
    """The same profile signed at 23:59:59, 00:00:00 and 23:59:59 again: each answer's date
    (and so its signing key) follows --now, never a cached earlier day."""
    config, profiles = stores_config
    env = store_env(False)
    nows = ["2026-03-01T23:59:59Z", "2026-03-02T00:00:00Z", "2026-03-01T23:59:59Z",
            "2026-03-03T00:00:00Z", "2026-03-02T12:00:00Z", "2026-03-02T00:00:00Z"]
    cases = []
    for prof_name in ("s3v", "gcs", "cos", "obs", "qn"):
        for i, now in enumerate(nows):
            u = str(uuidlib.UUID(int=i + 1, version=4))
            c = Case(prof_name, None, "alice", "a.png", "image/png", None, now, u)
            c.args = ["sign", "--config", "CONFIG", "--profile", prof_name, "--user", "alice",
                      "--filename", "a.png", "--content-type", "image/png", "--now", now, "--uuid", u]
            cases.append(c)
    # sequential on purpose: one process after another, in date order and back
    failures = []
    for c in cases:
        args = [str(config) if a == "CONFIG" else a for a in c.args]
        proc = helpers.run_cli(args, env=env)
        try:
            check_case(c, proc, check_answer(profiles))
        except AssertionError as exc:
            failures.append(f"[{c.profile} {c.now}] {exc}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("now,expires_in,x_date,expiration_ms,expiration_s", [
    # hand-written literals
    ("2026-01-02T03:04:05Z", 300, "20260102T030405Z", "2026-01-02T03:09:05.000Z", "2026-01-02T03:09:05Z"),
    ("2026-12-31T23:59:59Z", 1, "20261231T235959Z", "2027-01-01T00:00:00.000Z", "2027-01-01T00:00:00Z"),
    ("2028-02-29T23:59:59Z", 86400, "20280229T235959Z", "2028-03-01T23:59:59.000Z", "2028-03-01T23:59:59Z"),
])
def test_store_date_literals(tmp_path, now, expires_in, x_date, expiration_ms, expiration_s):
    profiles = {
        "s": store_profile("s3", bucket="lit-s3", region="us-east-1", expires_in=expires_in),
        "g": store_profile("gcs", bucket="lit-gcs", expires_in=expires_in),
        "q": store_profile("qiniu", bucket="lit-q", expires_in=expires_in),
        "c": store_profile("tencent-cos", bucket="lit-1250000000", region="ap-beijing",
                           expires_in=expires_in),
    }
    cfg = helpers.write_config(tmp_path, server=dict(SERVER, default_profile="s"), profiles=profiles)
    env = store_env(False)
    base = ["--user", "alice", "--filename", "a.JPG", "--content-type", "image/jpeg", "--now", now,
            "--uuid", "0f8c3c1e-6a57-4b2e-9d7a-3b1f2c4d5e6f"]
    out = {}
    for name in profiles:
        proc = helpers.run_cli(["sign", "--config", str(cfg), "--profile", name, *base], env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out[name] = json.loads(proc.stdout)
    key = "up/alice/0f8c3c1e-6a57-4b2e-9d7a-3b1f2c4d5e6f.jpg"
    f = out["s"]["fields"]
    assert f["key"] == key and f["x-amz-date"] == x_date
    assert o.decode_b64_json(f["policy"])[1]["expiration"] == expiration_ms
    assert out["s"]["expiresAt"] == expiration_ms
    g = out["g"]["fields"]
    assert g["x-goog-date"] == x_date
    assert o.decode_b64_json(g["policy"])[1]["expiration"] == expiration_s
    exp_unix = int(dt.datetime.strptime(expiration_s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
    now_unix = int(dt.datetime.strptime(now, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
    assert qiniu_decode_policy(out["q"]["fields"]["token"].split(":")[2])[1]["deadline"] == exp_unix
    assert out["c"]["fields"]["q-key-time"] == f"{now_unix};{exp_unix}"


# ------------------------------------------------------------------------------------------
# Errors the contract names


@pytest.mark.parametrize("prof_name", ["s3v", "s3p", "cos", "obs", "qn", "gcs"])
def test_format_java_is_invalid_request_on_other_stores(stores_config, prof_name):
    config, profiles = stores_config
    proc = helpers.run_cli(["sign", "--config", str(config), "--profile", prof_name, "--user", "a",
                            "--filename", "a.png", "--content-type", "image/png", "--format", "java",
                            "--now", "2026-01-02T03:04:05Z"], env=store_env(False))
    assert proc.returncode == 1, f"exit {proc.returncode}: {proc.stdout!r}"
    helpers.assert_error_body(400, None, proc.stdout, "invalid_request")


CONFIG_ERRORS = {
    # (provider, profile overrides, the field the error names)
    "qiniu-success-action-status": ("qiniu", {"success_action_status": 201}, "success_action_status"),
    "s3-signature-v1": ("s3", {"signature": "v1"}, "signature"),
    "gcs-signature-v2": ("gcs", {"signature": "v2"}, "signature"),
    "cos-signature-v4": ("tencent-cos", {"signature": "v4", "region": "ap-guangzhou",
                                         "bucket": "b-1250000000"}, "signature"),
    # No region and no endpoint: the form's URL cannot be derived (named as for OSS V1).
    "cos-without-region": ("tencent-cos", {"bucket": "b-1250000000"}, "endpoint"),
    "obs-without-region": ("huawei-obs", {}, "endpoint"),
    "s3-forbid-overwrite": ("s3", {"forbid_overwrite": True}, "forbid_overwrite"),
    "gcs-forbid-overwrite": ("gcs", {"forbid_overwrite": True}, "forbid_overwrite"),
    "qiniu-sse": ("qiniu", {"server_side_encryption": "AES256"}, "server_side_encryption"),
    "gcs-sse": ("gcs", {"server_side_encryption": "AES256"}, "server_side_encryption"),
    "s3-format-java": ("s3", {"format": "java"}, "format"),
    "qiniu-format-aliyun-appserver": ("qiniu", {"format": "aliyun-appserver"}, "format"),
    "unknown-provider": ("azure-blob", {}, "provider"),
}


@pytest.mark.parametrize("name", list(CONFIG_ERRORS))
def test_store_config_errors_name_the_field(tmp_path, name):
    provider, over, fieldname = CONFIG_ERRORS[name]
    cfg = helpers.write_config(tmp_path, server=dict(SERVER, default_profile="pv"),
                               profiles={"pv": store_profile(provider, **over)})
    proc = check_config(cfg)
    assert proc.returncode == 1, f"exit {proc.returncode}: {proc.stdout}{proc.stderr}"
    lines = [l for l in (proc.stdout + proc.stderr).splitlines() if l.strip()]
    pattern = rf"^profiles\.pv\.{fieldname}: \S"
    assert any(re.match(pattern, l) for l in lines), f"no line matching {pattern!r} in {lines}"


def test_store_profiles_pass_check_config(stores_config):
    config, _ = stores_config
    proc = check_config(config)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_store_secret_in_any_output(stores_config):
    """Runs after the differential in this module: nothing upsign printed holds a secret."""
    config, profiles = stores_config
    env = store_env(True)
    for name in profiles:
        helpers.run_cli(["sign", "--config", str(config), "--profile", name, "--user", "bob",
                         "--filename", "b.png", "--content-type", "image/png",
                         "--now", "2026-01-02T03:04:05Z"], env=env)
    leaks = [(label, s) for label, text in helpers.CAPTURED_OUTPUT
             for s in helpers.secrets_in(text, STORE_SECRETS)]
    assert not leaks, f"secrets in upsign output: {leaks[:5]}"
