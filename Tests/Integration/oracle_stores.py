"""Signature and policy oracles for the non-Aliyun stores (issue #5): s3, tencent-cos, huawei-obs,
qiniu and gcs, computed by the vendors' official Python SDKs from PyPI — never from upsign's code.

Each store has two kinds of oracle:

* a *policy* oracle: the SDK's own POST-form generator, run with the same credentials, bucket,
  key, extra form fields and the same pinned clock as the upsign answer under test. Its policy
  text differs from ours in spacing and condition order (and sometimes in the expiration
  format), so callers compare the decoded conditions semantically (``norm_conditions``) and the
  expiration as an instant (``parse_instant``).
* a *signature* oracle: the SDK's own signing routine applied to OUR policy (the base64 string,
  or for COS the policy JSON text), so the signature upsign put in the form can be compared for
  equality.

What comes from each SDK, and how its clock is pinned:

s3 — botocore (boto3) and minio, both must agree.
  policy:    ``boto3.client("s3").generate_presigned_post`` (botocore.signers) and
             ``Minio.presigned_post_policy(PostPolicy)`` (minio.datatypes).
  signature: botocore ``S3SigV4PostAuth.signature(policy_b64, request)`` (the method
             ``add_auth`` uses for presigned POSTs; the date comes from
             ``request.context["timestamp"]``) and ``minio.signer.post_presign_v4``.
  clock:     botocore reads ``get_current_datetime()`` (imported by name into botocore.signers
             for the expiration and botocore.auth for x-amz-date): both names are patched.
             minio's ``PostPolicy.form_data`` calls ``datetime.utcnow()`` on the ``datetime``
             class it imported into minio.datatypes: that name is patched with a subclass.
tencent-cos — cos-python-sdk-v5 (qcloud_cos). The SDK has NO POST-policy helper, so there is no
  policy oracle; the policy is checked against the contract by the tests. Signature: the SDK's
  request signer ``CosS3Auth.__call__`` is run with ``time.time`` pinned so that its
  ``q-key-time`` equals ours; it computes SignKey = hex(HMAC-SHA1(SecretKey, KeyTime)) itself.
  Its final line is ``hmac.new(sign_key, str_to_sign, sha1)``; for a POST the string to sign is
  hex(SHA1(policy JSON text)) instead of its request string, so the ``hmac`` module seen by
  qcloud_cos.cos_auth is replaced (for that one call) by a shim that swaps the message of the
  second HMAC for hex(SHA1(policy)) (the SHA-1 of the policy is stdlib hashlib; the two HMACs,
  the hex encodings and the key derivation are the SDK's lines). The shim records the SDK's
  SignKey too, and the SDK's Authorization header is parsed for the final q-signature.
huawei-obs — esdk-obs-python (obs).
  policy:    ``ObsClient.createPostSignature(bucket, key, expires, formParams)`` (v2/"obs"
             signature). The SDK cannot express ``content-length-range`` and writes every
             condition as ``{"name":"value"}`` with a lower-cased name, so only equality
             conditions are compared.
  signature: ``ObsClient._parse_post_signature_type(False, ...)`` — the SDK routine that signs
             the base64 policy (``Authentication.hmacSha128``: base64(HMAC-SHA1(SK, policy))).
  clock:     ``_createPostSignature`` does ``from datetime import datetime`` inside the function,
             so ``datetime.datetime`` itself is patched (with a subclass whose ``utcnow`` is
             pinned) while the SDK runs.
qiniu — qiniu (python-sdk).
  policy:    ``Auth.upload_token(bucket, key, expires, policy)``; deadline = int(time.time()) +
             expires, so ``qiniu.auth.time.time`` is patched.
  signature: ``Auth.token(encoded_put_policy)`` = "AK:" + urlsafe_b64(HMAC-SHA1(SK, data)); the
             whole upload token is that + ":" + encoded putPolicy (what ``token_with_data`` and
             ``upload_token`` return).
gcs — google-cloud-storage. The SDK signs POST policies only with RSA service-account keys
  (``Client.generate_signed_post_policy_v4``, algorithm GOOG4-RSA-SHA256, location always
  "auto"); HMAC keys use the same policy and the GOOG4-HMAC-SHA256 algorithm.
  policy:    ``generate_signed_post_policy_v4`` with a ``google.auth.credentials.Signing`` object
             whose ``sign_bytes`` is HMAC-SHA256 with the GOOG4 key chain; the SDK builds the
             policy, the fields and the URL. In its conditions/fields, the algorithm is then
             substituted (GOOG4-RSA-SHA256 → GOOG4-HMAC-SHA256) and the credential's location
             ("auto") by the profile's location before comparing.
  signature: STDLIB ONLY — hex(HMAC-SHA256(kSigning, base64 policy)) with kSigning =
             HMAC-SHA256 chain from "GOOG4"+secret over date, location, "storage",
             "goog4_request" (``gcs_hmac_signature``); the SDK contributes only the hex
             encoding path (``binascii.hexlify(credentials.sign_bytes(policy))``) when it signs
             its own policy with our fake signer. No Google SDK implements HMAC signing.
  clock:     ``_NOW`` is imported by name into google.cloud.storage.client and
             google.cloud.storage._signing: both are patched.

Every SDK run that patches a clock (or a module) holds ``_SDK_LOCK``, so the oracles can be
called from a ThreadPoolExecutor.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import re
import threading
import urllib.parse
from typing import Iterable
from unittest import mock

UTC = dt.timezone.utc
_REAL_DATETIME = dt.datetime   # captured before any patching
_SDK_LOCK = threading.RLock()


# ------------------------------------------------------------------------------------------
# Common helpers


def utc(t: dt.datetime) -> dt.datetime:
    """An aware UTC datetime (naive input is taken as UTC)."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def naive_utc(t: dt.datetime) -> dt.datetime:
    return utc(t).replace(tzinfo=None)


def parse_instant(s: str) -> dt.datetime:
    """An ISO-8601 UTC instant with or without fractional seconds (policy expirations of the
    various SDKs: "…:05Z", "…:05.000Z")."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,6})?Z", s)
    assert m, f"not an ISO-8601 UTC instant: {s!r}"
    t = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    if m.group(2):
        t = t.replace(microsecond=int((m.group(2)[1:] + "000000")[:6]))
    return t


def decode_b64_json(b64: str, *, urlsafe: bool = False) -> tuple[str, object]:
    """Strictly decode base64 (canonical, padded) → (JSON text, parsed JSON)."""
    assert isinstance(b64, str) and b64, "empty base64 string"
    try:
        if urlsafe:
            assert re.fullmatch(r"[A-Za-z0-9_=-]+", b64), f"not urlsafe base64: {b64!r}"
            raw = base64.urlsafe_b64decode(b64.encode("ascii"))
            again = base64.urlsafe_b64encode(raw).decode("ascii")
        else:
            raw = base64.b64decode(b64.encode("ascii"), validate=True)
            again = base64.b64encode(raw).decode("ascii")
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise AssertionError(f"bad base64 {b64!r}: {exc}")
    assert again == b64, f"base64 is not canonical/padded: {b64!r}"
    text = raw.decode("utf-8")
    return text, json.loads(text)


def norm_condition(c) -> tuple:
    """A POST-policy condition in a canonical, hashable form:
    {"name": v} and ["eq", "$name", v] → ("eq", name.lower(), v);
    ["starts-with", "$name", v] → ("starts-with", name.lower(), v);
    ["content-length-range", a, b] → ("content-length-range", a, b)."""
    if isinstance(c, dict):
        assert len(c) == 1, f"object condition with {len(c)} members: {c}"
        (k, v), = c.items()
        return ("eq", k.lower(), v)
    assert isinstance(c, list) and c, f"condition is neither object nor array: {c!r}"
    op = c[0].lower()
    if op == "content-length-range":
        assert len(c) == 3 and all(type(x) is int for x in c[1:]), f"bad range {c}"
        return (op, c[1], c[2])
    assert len(c) == 3 and isinstance(c[1], str) and c[1].startswith("$"), f"bad condition {c}"
    return (op, c[1][1:].lower(), c[2])


def norm_conditions(conds: Iterable) -> set:
    out = [norm_condition(c) for c in conds]
    assert len(out) == len(set(out)), f"duplicate conditions: {out}"
    return set(out)


@contextlib.contextmanager
def _patched(*patches):
    with _SDK_LOCK, contextlib.ExitStack() as stack:
        for p in patches:
            stack.enter_context(p)
        yield


def _fixed_datetime_class(base: type, naive_now: dt.datetime) -> type:
    """A subclass of `base` (datetime.datetime) whose utcnow()/now() read the pinned instant."""
    aware = naive_now.replace(tzinfo=UTC)

    class Fixed(base):  # type: ignore[misc, valid-type]
        @classmethod
        def utcnow(cls):
            return base(*naive_now.timetuple()[:6], naive_now.microsecond)

        @classmethod
        def now(cls, tz=None):
            if tz is None:
                return base(*naive_now.timetuple()[:6], naive_now.microsecond)
            return aware.astimezone(tz)

    return Fixed


# ------------------------------------------------------------------------------------------
# s3 — AWS Signature V4 POST (botocore + minio)


def _s3_addressing(url: str, bucket: str) -> tuple[str, str]:
    """(endpoint_url for the SDK, "path" | "virtual") from upsign's form URL."""
    u = urllib.parse.urlsplit(url)
    path = u.path.rstrip("/")
    if path == "/" + bucket:
        return f"{u.scheme}://{u.netloc}", "path"
    assert path == "", f"unexpected path in an S3 form URL: {url}"
    host = u.netloc
    assert host.startswith(bucket + "."), f"virtual-host URL without the bucket: {url}"
    return f"{u.scheme}://{host[len(bucket) + 1:]}", "virtual"


@functools.lru_cache(maxsize=64)
def _boto_client(region: str, endpoint_url: str, style: str, akid: str, secret: str,
                 token: str | None):
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id=akid, aws_secret_access_key=secret,
                                    aws_session_token=token, region_name=region)
    return session.client("s3", region_name=region, endpoint_url=endpoint_url,
                          config=Config(signature_version="s3v4",
                                        s3={"addressing_style": style}))


def _botocore_clock(now: dt.datetime):
    naive = naive_utc(now)
    fake = lambda *a, **k: naive  # noqa: E731 - get_current_datetime(remove_tzinfo=True)
    return (mock.patch("botocore.signers.get_current_datetime", fake),
            mock.patch("botocore.auth.get_current_datetime", fake))


def s3_botocore_post(*, url: str, bucket: str, key: str, region: str, akid: str, secret: str,
                     token: str | None, now: dt.datetime, expires_in: int,
                     extra_fields: dict[str, str], length_range: tuple[int, int]) -> dict:
    """boto3 ``generate_presigned_post`` for the same request: returns {"url", "fields",
    "policy_text", "policy"}. `extra_fields` are the form fields after x-amz-signature (without
    x-amz-security-token, which botocore adds from the credentials); each is pinned by an
    equality condition, as the contract does."""
    endpoint_url, style = _s3_addressing(url, bucket)
    client = _boto_client(region, endpoint_url, style, akid, secret, token)
    conds = [["content-length-range", *length_range]]
    conds += [["eq", "$" + k, v] for k, v in extra_fields.items()]
    with _patched(*_botocore_clock(now)):
        out = client.generate_presigned_post(bucket, key, Fields=dict(extra_fields),
                                             Conditions=conds, ExpiresIn=expires_in)
    text, policy = decode_b64_json(out["fields"]["policy"])
    return {"url": out["url"], "fields": out["fields"], "policy_text": text, "policy": policy}


def s3_minio_post(*, url: str, bucket: str, key: str, region: str, akid: str, secret: str,
                  token: str | None, now: dt.datetime, expires_in: int,
                  extra_fields: dict[str, str], length_range: tuple[int, int]) -> dict:
    """minio ``presigned_post_policy(PostPolicy)`` for the same request: returns {"fields",
    "policy_text", "policy"} (minio returns only the auth fields and the policy)."""
    import minio
    from minio.datatypes import PostPolicy

    endpoint_url, _style = _s3_addressing(url, bucket)
    u = urllib.parse.urlsplit(endpoint_url)
    client = minio.Minio(u.netloc, access_key=akid, secret_key=secret, session_token=token,
                         secure=(u.scheme == "https"), region=region)
    policy = PostPolicy(bucket, utc(now) + dt.timedelta(seconds=expires_in))
    policy.add_equals_condition("key", key)
    policy.add_content_length_range_condition(*length_range)
    for k, v in extra_fields.items():
        policy.add_equals_condition(k, v)
    import minio.datatypes as mdt
    fixed = _fixed_datetime_class(_REAL_DATETIME, naive_utc(now))
    with _patched(mock.patch.object(mdt, "datetime", fixed)):
        form = client.presigned_post_policy(policy)
    text, decoded = decode_b64_json(form["policy"])
    return {"fields": form, "policy_text": text, "policy": decoded}


def s3_signature_botocore(secret: str, x_amz_date: str, region: str, policy_b64: str,
                          akid: str = "oracle-unused-akid") -> str:
    """botocore's S3SigV4PostAuth.signature over `policy_b64` (the date comes from
    request.context["timestamp"], exactly as in S3SigV4PostAuth.add_auth)."""
    from botocore.auth import S3SigV4PostAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = S3SigV4PostAuth(Credentials(akid, secret), "s3", region)
    req = AWSRequest(method="POST", url="https://oracle.invalid/")
    req.context["timestamp"] = x_amz_date
    return auth.signature(policy_b64, req)


def s3_signature_minio(secret: str, x_amz_date: str, region: str, policy_b64: str) -> str:
    """minio.signer.post_presign_v4 over `policy_b64`."""
    from minio.signer import post_presign_v4

    date = dt.datetime.strptime(x_amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return post_presign_v4(policy_b64, secret, date, region)


def s3_signature(secret: str, x_amz_date: str, region: str, policy_b64: str) -> str:
    """The x-amz-signature both SDKs compute over `policy_b64`; AssertionError if they differ."""
    a = s3_signature_botocore(secret, x_amz_date, region, policy_b64)
    b = s3_signature_minio(secret, x_amz_date, region, policy_b64)
    assert a == b, f"S3 SDK oracles disagree: botocore={a} minio={b}"
    return a


# ------------------------------------------------------------------------------------------
# tencent-cos (qcloud_cos)


class _CosHmacShim:
    """Stands in for the `hmac` module inside qcloud_cos.cos_auth during one CosS3Auth call.
    Records every hmac.new(key, msg, digestmod) and, when `final_msg` is given, replaces the
    message of the second call (the SDK's `sign = hmac.new(sign_key, str_to_sign, sha1)`)."""

    def __init__(self, final_msg: bytes | None):
        self.final_msg = final_msg
        self.calls: list[tuple[bytes, bytes, str]] = []

    def new(self, key, msg=None, digestmod=None):
        if len(self.calls) == 1 and self.final_msg is not None:
            msg = self.final_msg
        h = hmac.new(key, msg, digestmod)
        self.calls.append((bytes(key), bytes(msg), h.hexdigest()))
        return h


def _cos_run_sdk_signer(secret_id: str, secret_key: str, key_time: str,
                        final_msg: bytes | None, *, method: str = "POST",
                        url: str = "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/",
                        path: str = "/", headers: dict | None = None,
                        params: dict | None = None) -> tuple[str, _CosHmacShim]:
    """Run qcloud_cos.cos_auth.CosS3Auth on a request with `time.time` pinned so that the SDK's
    sign time ("now-60;now+expire") is exactly `key_time`. Returns (Authorization, shim)."""
    import requests
    import qcloud_cos.cos_auth as cos_auth
    from qcloud_cos import CosConfig

    start, end = (int(x) for x in key_time.split(";"))
    conf = CosConfig(Region="ap-guangzhou", SecretId=secret_id, SecretKey=secret_key)
    auth = cos_auth.CosS3Auth(conf, key=path, params=params or {}, expire=end - (start + 60))
    req = requests.Request(method, url, headers=headers or {}).prepare()
    shim = _CosHmacShim(final_msg)
    with _patched(mock.patch.object(cos_auth.time, "time", lambda: float(start + 60)),
                  mock.patch.object(cos_auth, "hmac", shim)):
        auth(req)
    authz = req.headers["Authorization"]
    return authz, shim


def _cos_authz_part(authz: str, name: str) -> str:
    parts = dict(p.split("=", 1) for p in authz.split("&"))
    return parts[name]


def cos_sign_key(secret_key: str, key_time: str) -> str:
    """SignKey = hex(HMAC-SHA1(SecretKey, KeyTime)), as computed by CosS3Auth."""
    _, shim = _cos_run_sdk_signer("oracle-unused", secret_key, key_time, None)
    key, msg, hexd = shim.calls[0]
    assert msg == key_time.encode() and key == secret_key.encode(), "unexpected SDK call order"
    return hexd


def cos_string_to_sign(policy_text: str) -> str:
    """StringToSign of a COS POST = hex(SHA1(policy JSON text)) — stdlib hashlib."""
    return hashlib.sha1(policy_text.encode("utf-8")).hexdigest()


def cos_signature(secret_id: str, secret_key: str, key_time: str, policy_text: str) -> str:
    """q-signature of a COS POST, by CosS3Auth's own key derivation and final HMAC with the
    POST string to sign (hex SHA-1 of the policy JSON text, NOT of its base64)."""
    sts = cos_string_to_sign(policy_text)
    authz, shim = _cos_run_sdk_signer(secret_id, secret_key, key_time, sts.encode())
    assert _cos_authz_part(authz, "q-key-time") == key_time, authz
    assert _cos_authz_part(authz, "q-ak") == secret_id, authz
    assert len(shim.calls) == 2, f"CosS3Auth made {len(shim.calls)} HMAC calls"
    sign_key = shim.calls[0][2]
    assert shim.calls[1][0] == sign_key.encode(), "second HMAC is not keyed by the hex SignKey"
    sig = _cos_authz_part(authz, "q-signature")
    assert sig == shim.calls[1][2]
    return sig


def cos_request_authorization(secret_id: str, secret_key: str, key_time: str, *, method: str,
                              url: str, path: str, headers: dict, params: dict | None = None) -> str:
    """The SDK's unmodified request Authorization (for checking the pinning against the
    published COS request-signature example)."""
    authz, _ = _cos_run_sdk_signer(secret_id, secret_key, key_time, None, method=method, url=url,
                                   path=path, headers=headers, params=params)
    return authz


# ------------------------------------------------------------------------------------------
# huawei-obs (esdk-obs-python)


def _obs_client(akid: str, secret: str, token: str | None, server: str):
    from obs import ObsClient

    return ObsClient(access_key_id=akid, secret_access_key=secret, security_token=token,
                     server=server, signature="obs", is_signature_negotiation=False)


def obs_sdk_post(*, url: str, bucket: str, key: str, akid: str, secret: str, token: str | None,
                 now: dt.datetime, expires_in: int, extra_fields: dict[str, str]) -> dict:
    """ObsClient.createPostSignature for the same request with the clock pinned. Returns
    {"policy_text", "policy", "policy_b64", "signature", "accessKeyId"}. The SDK adds the token
    (x-obs-security-token) itself; pass `extra_fields` without it."""
    host = urllib.parse.urlsplit(url).netloc
    client = _obs_client(akid, secret, token, host)
    fixed = _fixed_datetime_class(_REAL_DATETIME, naive_utc(now))
    try:
        with _patched(mock.patch("datetime.datetime", fixed)):
            resp = client.createPostSignature(bucket, key, expires_in, dict(extra_fields))
    finally:
        client.close()
    text = resp["originPolicy"]
    return {"policy_text": text, "policy": json.loads(text), "policy_b64": resp["policy"],
            "signature": resp["signature"], "accessKeyId": resp["accessKeyId"]}


def obs_signature(akid: str, secret: str, policy_b64: str, server: str = "obs.invalid") -> str:
    """base64(HMAC-SHA1(SK, policy_b64)) from ObsClient._parse_post_signature_type (v2/obs),
    the routine createPostSignature uses to sign the base64 policy."""
    client = _obs_client(akid, secret, None, server)
    try:
        sp = client._get_token()
        res = client._parse_post_signature_type(False, sp, "", policy_b64, {}, "", "")
    finally:
        client.close()
    assert res["accessKeyId"] == akid
    return res["signature"]


# ------------------------------------------------------------------------------------------
# qiniu


def qiniu_sdk_upload_token(*, akid: str, secret: str, bucket: str, key: str, now: dt.datetime,
                           expires_in: int, policy: dict) -> dict:
    """qiniu.Auth.upload_token(bucket, key, expires_in, policy) with time.time pinned.
    Returns {"token", "put_policy_b64", "put_policy_text", "put_policy"}."""
    import qiniu.auth as qauth

    t = utc(now).timestamp()
    with _patched(mock.patch.object(qauth.time, "time", lambda: t)):
        token = qauth.Auth(akid, secret).upload_token(bucket, key, expires_in, dict(policy))
    ak, sig, enc = token.split(":")
    text, obj = decode_b64_json(enc, urlsafe=True)
    return {"token": token, "put_policy_b64": enc, "put_policy_text": text, "put_policy": obj}


def qiniu_token_for(akid: str, secret: str, encoded_put_policy: str) -> str:
    """The upload token the SDK makes for an already encoded putPolicy:
    Auth.token(P) + ":" + P (= what Auth.token_with_data/upload_token return)."""
    import qiniu

    return qiniu.Auth(akid, secret).token(encoded_put_policy) + ":" + encoded_put_policy


# ------------------------------------------------------------------------------------------
# gcs (google-cloud-storage; HMAC chain in stdlib)


def gcs_signing_key(secret: str, date: str, location: str) -> bytes:
    """STDLIB: kSigning = HMAC-SHA256 chain from "GOOG4"+secret over YYYYMMDD, location,
    "storage", "goog4_request"."""
    k = ("GOOG4" + secret).encode("utf-8")
    for part in (date[:8], location, "storage", "goog4_request"):
        k = hmac.new(k, part.encode("utf-8"), hashlib.sha256).digest()
    return k


def gcs_hmac_signature(secret: str, date: str, location: str, policy_b64: str) -> str:
    """STDLIB: x-goog-signature = hex(HMAC-SHA256(kSigning, base64 policy))."""
    return hmac.new(gcs_signing_key(secret, date, location), policy_b64.encode("utf-8"),
                    hashlib.sha256).hexdigest()


def _gcs_hmac_credentials(access_id: str, secret: str, date: str, location: str):
    import google.auth.credentials as gac

    class HmacSigning(gac.Signing):
        """google.auth Signing whose sign_bytes is GOOG4-HMAC-SHA256 (stdlib HMAC)."""

        @property
        def signer_email(self):
            return access_id

        @property
        def signer(self):
            return None

        def sign_bytes(self, message):
            if isinstance(message, str):
                message = message.encode("utf-8")
            return hmac.new(gcs_signing_key(secret, date, location), message,
                            hashlib.sha256).digest()

    return HmacSigning()


RSA_ALGO = "GOOG4-RSA-SHA256"
HMAC_ALGO = "GOOG4-HMAC-SHA256"


def gcs_sdk_post(*, bucket: str, key: str, location: str, access_id: str, secret: str,
                 now: dt.datetime, expires_in: int, extra_fields: dict[str, str],
                 length_range: tuple[int, int]) -> dict:
    """Client.generate_signed_post_policy_v4 with the HMAC signer and pinned _NOW. Returns
    {"url", "fields", "policy_text", "policy", "conditions_hmac", "fields_hmac"} where the
    *_hmac variants have GOOG4-RSA-SHA256 → GOOG4-HMAC-SHA256 and the SDK's fixed location
    "auto" → `location` substituted in x-goog-credential. The SDK's own x-goog-signature is
    over its (RSA-labelled) policy and is not comparable with ours."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    aware = utc(now)
    date = aware.strftime("%Y%m%d")
    creds = _gcs_hmac_credentials(access_id, secret, date, location)
    client = storage.Client(project="oracle-project", credentials=AnonymousCredentials())
    fake_now = lambda tz=None: aware if tz is not None else naive_utc(aware)  # noqa: E731
    with _patched(mock.patch("google.cloud.storage.client._NOW", fake_now),
                  mock.patch("google.cloud.storage._signing._NOW", fake_now)):
        out = client.generate_signed_post_policy_v4(
            bucket, key, expiration=dt.timedelta(seconds=expires_in),
            conditions=[["content-length-range", *length_range]], fields=dict(extra_fields),
            credentials=creds)
    text, policy = decode_b64_json(out["fields"]["policy"])
    sdk_cred = f"{access_id}/{date}/auto/storage/goog4_request"
    our_cred = f"{access_id}/{date}/{location}/storage/goog4_request"

    def subst(name: str, value):
        if name.lower() == "x-goog-algorithm" and value == RSA_ALGO:
            return HMAC_ALGO
        if name.lower() == "x-goog-credential" and value == sdk_cred:
            return our_cred
        return value

    conds = []
    for c in policy["conditions"]:
        if isinstance(c, dict):
            (k, v), = c.items()
            conds.append({k: subst(k, v)})
        else:
            conds.append(c)
    fields = {k: subst(k, v) for k, v in out["fields"].items()}
    return {"url": out["url"], "fields": out["fields"], "policy_text": text, "policy": policy,
            "conditions_hmac": conds, "fields_hmac": fields}


def gcs_sdk_signature_path(access_id: str, secret: str, date: str, location: str,
                           policy_b64: str) -> str:
    """The SDK's own final step (binascii.hexlify(credentials.sign_bytes(policy))) with the
    HMAC signer; equals gcs_hmac_signature (asserted by the oracle tests)."""
    creds = _gcs_hmac_credentials(access_id, secret, date, location)
    return binascii.hexlify(creds.sign_bytes(policy_b64.encode("utf-8"))).decode("utf-8")
