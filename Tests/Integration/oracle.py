"""Signature oracle: the OSS V1 POST-policy signature as the official Aliyun SDKs compute it.

V1: Signature = base64(HMAC-SHA1(AccessKeySecret, base64(policy JSON))).

Neither SDK exposes a public "sign this POST policy" helper, so we call the private signer
routine each one uses for every V1 request signature:

* alibabacloud-oss-v2: ``SignerV1()._calc_signature(secret, string_to_sign)``.
* oss2: ``ProviderAuth.__make_signature(req, bucket, key, credentials)`` with its
  ``__get_bytes_to_sign`` replaced (on the instance) so the string to sign is the base64 policy.

Both must agree; the result is what upsign's signature must equal. Nothing here is derived from
upsign's own code.

V4 (OSS4-HMAC-SHA256) POST policy, same approach:

    signing key = HMAC-SHA256 chain over ("aliyun_v4" + secret) → YYYYMMDD → region → "oss"
                  → "aliyun_v4_request"
    x-oss-signature = lowercase hex(HMAC-SHA256(signing key, base64 policy))

* alibabacloud-oss-v2: ``SignerV4()._calc_signature(secret, date, region, product,
  string_to_sign)`` (derives the key and returns the lowercase hex HMAC of string_to_sign).
* oss2: ``ProviderAuthV4.__make_signature(req, bucket, key, headers, credentials, date_time)``
  with its canonical-request/string-to-sign builders replaced (on the instance) so the string
  to sign is the base64 policy; the key comes from its private ``__get_signing_key``, which reads
  the region from ``req.region`` and the product from ``req.product``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json


def sign_with_oss_v2(secret: str, policy_b64: str) -> str:
    """V1 signature computed by alibabacloud-oss-v2's SignerV1."""
    from alibabacloud_oss_v2.signer.v1 import SignerV1

    return SignerV1()._calc_signature(secret, policy_b64)


def sign_with_oss2(secret: str, policy_b64: str) -> str:
    """V1 signature computed by oss2's ProviderAuth (version 1 signer)."""
    import oss2
    from oss2.credentials import Credentials
    from oss2.http import Request

    # oss2.Auth strips surrounding whitespace from the secret; our secrets have none.
    auth = oss2.Auth("oracle-unused-akid", secret)
    payload = policy_b64.encode("utf-8")
    # `self.__get_bytes_to_sign(...)` inside ProviderAuth compiles to
    # `self._ProviderAuth__get_bytes_to_sign(...)`; an instance attribute shadows the method.
    auth._ProviderAuth__get_bytes_to_sign = lambda req, bucket_name, key: payload
    req = Request("POST", "https://oracle.invalid/")
    creds = Credentials("oracle-unused-akid", secret, "")
    return auth._ProviderAuth__make_signature(req, None, None, creds)


def v1_signature(secret: str, policy_b64: str) -> str:
    """The signature both SDKs compute; raises AssertionError when they disagree."""
    a = sign_with_oss_v2(secret, policy_b64)
    b = sign_with_oss2(secret, policy_b64)
    assert a == b, f"SDK oracles disagree: alibabacloud-oss-v2={a!r} oss2={b!r}"
    return a


V4_PRODUCT = "oss"


def sign_v4_with_oss_v2(secret: str, date: str, region: str, string_to_sign: str,
                        product: str = V4_PRODUCT) -> str:
    """V4 signature (lowercase hex) computed by alibabacloud-oss-v2's SignerV4.
    `date` is YYYYMMDD (an x-oss-date YYYYMMDDTHHMMSSZ is cut to its date, as the SDK does)."""
    from alibabacloud_oss_v2.signer.v4 import SignerV4

    # Positional: the SDK spells the first parameter `access_key_secrect`.
    return SignerV4()._calc_signature(secret, date[:8], region, product, string_to_sign)


def _oss2_v4_auth_and_request(secret: str, region: str, product: str):
    import oss2
    from oss2.credentials import Credentials, StaticCredentialsProvider
    from oss2.http import Request

    auth = oss2.ProviderAuthV4(StaticCredentialsProvider("oracle-unused-akid", secret))
    req = Request("POST", "https://oracle.invalid/", region=region, product=product)
    creds = Credentials("oracle-unused-akid", secret, "")
    return auth, req, creds


def v4_signing_key_oss2(secret: str, date: str, region: str, product: str = V4_PRODUCT) -> bytes:
    """The V4 signing key (32 raw bytes) from oss2's private ProviderAuthV4.__get_signing_key."""
    auth, req, creds = _oss2_v4_auth_and_request(secret, region, product)
    return auth._ProviderAuthV4__get_signing_key(req, creds, date)


def sign_v4_with_oss2(secret: str, date: str, region: str, string_to_sign: str,
                      product: str = V4_PRODUCT) -> str:
    """V4 signature (lowercase hex) computed by oss2's ProviderAuthV4: key derivation and the
    final HMAC both by oss2, with the string to sign replaced by `string_to_sign`."""
    auth, req, creds = _oss2_v4_auth_and_request(secret, region, product)
    payload = string_to_sign.encode("utf-8")
    # Name-mangled private methods; instance attributes shadow them (see sign_with_oss2).
    auth._ProviderAuthV4__get_canonical_request_bytes = lambda *a: b""
    auth._ProviderAuthV4__get_string_to_sign_bytes = lambda *a: payload
    auth._ProviderAuthV4__get_canonical_request = lambda *a: ""
    auth._ProviderAuthV4__get_string_to_sign = lambda *a: string_to_sign
    sig = auth._ProviderAuthV4__make_signature(req, None, None, [], creds, date)
    # Cross-check the mangled-method route against the bare key: hex HMAC-SHA256(key, payload).
    key = auth._ProviderAuthV4__get_signing_key(req, creds, date)
    assert sig == hmac.new(key, payload, hashlib.sha256).hexdigest(), "oss2 route inconsistent"
    return sig


def v4_signature(secret: str, date: str, region: str, string_to_sign: str) -> str:
    """The V4 POST signature both SDKs compute over `string_to_sign` (the base64 policy);
    raises AssertionError when they disagree."""
    a = sign_v4_with_oss_v2(secret, date, region, string_to_sign)
    b = sign_v4_with_oss2(secret, date, region, string_to_sign)
    assert a == b, f"V4 SDK oracles disagree: alibabacloud-oss-v2={a!r} oss2={b!r}"
    return a


def decode_policy(policy_b64: str) -> dict:
    """Strictly decode a base64 (standard alphabet, padded) policy into its JSON object."""
    assert isinstance(policy_b64, str) and policy_b64, "policy must be a non-empty string"
    try:
        raw = base64.b64decode(policy_b64.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:  # pragma: no cover - reported as failure
        raise AssertionError(f"policy is not standard padded base64: {policy_b64!r}: {exc}")
    assert base64.b64encode(raw).decode("ascii") == policy_b64, "policy base64 is not canonical"
    text = raw.decode("utf-8")
    doc = json.loads(text)
    assert isinstance(doc, dict), f"policy JSON is not an object: {text}"
    return doc
