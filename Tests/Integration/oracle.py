"""Signature oracle: the OSS V1 POST-policy signature as the official Aliyun SDKs compute it.

V1: Signature = base64(HMAC-SHA1(AccessKeySecret, base64(policy JSON))).

Neither SDK exposes a public "sign this POST policy" helper, so we call the private signer
routine each one uses for every V1 request signature:

* alibabacloud-oss-v2: ``SignerV1()._calc_signature(secret, string_to_sign)``.
* oss2: ``ProviderAuth.__make_signature(req, bucket, key, credentials)`` with its
  ``__get_bytes_to_sign`` replaced (on the instance) so the string to sign is the base64 policy.

Both must agree; the result is what upsign's signature must equal. Nothing here is derived from
upsign's own code.
"""

from __future__ import annotations

import base64
import binascii
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
