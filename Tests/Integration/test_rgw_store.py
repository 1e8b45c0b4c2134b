"""The Ceph RGW test store (fixture `rgw`) is a real, validating S3 peer.

Before the store may judge upsign's forms, it must be shown to judge forms at all: the forms here
come from boto3's `generate_presigned_post` (SigV4) or are built by hand from the S3 rules
(SigV2-style), never from upsign. A correct form must be accepted and stored byte for byte; each
single fault (signature, expiry, key, size, Content-Type) must be refused with nothing stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import uuid


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4   # 1032 bytes, every byte value
MAX_SIZE = 2048


def new_key() -> str:
    """A fresh object key, so that no test sees another's object."""
    return f"e2e/{uuid.uuid4()}.png"


def error_code(resp) -> str:
    """The <Code> of an S3 error body (for assertion messages)."""
    m = re.search(r"<Code>([^<]*)</Code>", resp.text)
    return f"{resp.status_code} {m.group(1) if m else resp.text[:200]!r}"


def presigned(rgw, key: str, expires_in: int = 300) -> tuple[str, list[tuple[str, str]]]:
    """An SDK-made SigV4 form for `key`: Content-Type pinned to image/png, size 1..MAX_SIZE."""
    form = rgw.client.generate_presigned_post(
        rgw.bucket, key, Fields={"Content-Type": "image/png"},
        Conditions=[["eq", "$Content-Type", "image/png"], ["content-length-range", 1, MAX_SIZE]],
        ExpiresIn=expires_in)
    return form["url"], list(form["fields"].items())


def replace(fields: list[tuple[str, str]], name: str, value: str) -> list[tuple[str, str]]:
    """`fields` with `name`'s value replaced, the order kept."""
    assert any(n == name for n, _ in fields), name
    return [(n, value if n == name else v) for n, v in fields]


def assert_refused(resp, *keys: str, rgw) -> None:
    """A 4xx answer, and none of `keys` was stored."""
    assert 400 <= resp.status_code < 500, error_code(resp)
    for key in keys:
        assert rgw.get_object(key) is None, f"{key} was stored although the POST was refused"


# ------------------------------------------------------------------------------------------
# SigV4 (x-amz-algorithm AWS4-HMAC-SHA256), forms made by boto3


def test_sdk_form_is_accepted_and_stored_byte_identical(rgw):
    key = new_key()
    url, fields = presigned(rgw, key)
    assert url == rgw.bucket_url   # path-style
    r = rgw.post(url, fields, PNG, "a.png", "image/png")
    assert 200 <= r.status_code < 300, error_code(r)
    assert rgw.get_object(key) == PNG


def test_tampered_signature_is_refused(rgw):
    key = new_key()
    url, fields = presigned(rgw, key)
    sig = dict(fields)["x-amz-signature"]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    r = rgw.post(url, replace(fields, "x-amz-signature", flipped), PNG, "a.png", "image/png")
    assert_refused(r, key, rgw=rgw)
    assert r.status_code == 403, error_code(r)   # RGW: AccessDenied, not SignatureDoesNotMatch


def test_expired_policy_is_refused(rgw):
    key = new_key()
    url, fields = presigned(rgw, key, expires_in=-60)   # a correct signature over a past expiry
    r = rgw.post(url, fields, PNG, "a.png", "image/png")
    assert_refused(r, key, rgw=rgw)


def test_key_outside_the_pinned_one_is_refused(rgw):
    key, other = new_key(), new_key()
    url, fields = presigned(rgw, key)
    r = rgw.post(url, replace(fields, "key", other), PNG, "a.png", "image/png")
    assert_refused(r, key, other, rgw=rgw)


def test_file_over_content_length_range_is_refused(rgw):
    key = new_key()
    url, fields = presigned(rgw, key)
    r = rgw.post(url, fields, b"x" * (MAX_SIZE + 1), "a.png", "image/png")
    assert_refused(r, key, rgw=rgw)


def test_wrong_content_type_is_refused(rgw):
    key = new_key()
    url, fields = presigned(rgw, key)
    r = rgw.post(url, replace(fields, "Content-Type", "image/jpeg"), PNG, "a.jpg", "image/jpeg")
    assert_refused(r, key, rgw=rgw)


def test_unsigned_form_is_refused(rgw):
    """The bucket is private: a form without policy and signature does not write."""
    key = new_key()
    r = rgw.post(rgw.bucket_url, [("key", key), ("Content-Type", "image/png")], PNG,
                 "a.png", "image/png")
    assert_refused(r, key, rgw=rgw)


# ------------------------------------------------------------------------------------------
# SigV2-style (AWSAccessKeyId + signature = base64 HMAC-SHA1(secret, base64 policy)), by hand


def v2_form(rgw, key: str, secret: str) -> list[tuple[str, str]]:
    """A SigV2-style form for `key` signed with `secret`."""
    expiration = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    policy = {
        "expiration": expiration.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "conditions": [{"bucket": rgw.bucket}, ["eq", "$key", key],
                       ["content-length-range", 1, MAX_SIZE],
                       ["eq", "$Content-Type", "image/png"]],
    }
    policy_b64 = base64.b64encode(json.dumps(policy).encode()).decode()
    signature = base64.b64encode(
        hmac.new(secret.encode(), policy_b64.encode(), hashlib.sha1).digest()).decode()
    return [("key", key), ("AWSAccessKeyId", rgw.access_key), ("policy", policy_b64),
            ("signature", signature), ("Content-Type", "image/png")]


def test_v2_form_is_accepted_and_stored_byte_identical(rgw):
    key = new_key()
    r = rgw.post(rgw.bucket_url, v2_form(rgw, key, rgw.secret), PNG, "a.png", "image/png")
    assert 200 <= r.status_code < 300, error_code(r)
    assert rgw.get_object(key) == PNG


def test_v2_form_signed_with_another_secret_is_refused(rgw):
    key = new_key()
    r = rgw.post(rgw.bucket_url, v2_form(rgw, key, rgw.secret + "x"), PNG, "a.png", "image/png")
    assert_refused(r, key, rgw=rgw)
