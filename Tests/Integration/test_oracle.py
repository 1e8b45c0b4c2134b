"""The oracle itself: both SDK signers agree with each other and with a published HMAC vector."""

import base64
import json
import random

import oracle


def test_rfc2202_vector_through_both_sdks():
    # RFC 2202 test case 2: HMAC-SHA1(key="Jefe", "what do ya want for nothing?").
    want = base64.b64encode(bytes.fromhex("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")).decode()
    assert oracle.sign_with_oss_v2("Jefe", "what do ya want for nothing?") == want
    assert oracle.sign_with_oss2("Jefe", "what do ya want for nothing?") == want


def test_sdks_agree_on_random_policies():
    rng = random.Random(20260102)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=-_"
    for _ in range(200):
        secret = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 64)))
        doc = {"expiration": "2026-01-02T03:09:05.000Z",
               "conditions": [{"bucket": "b"}, ["eq", "$key", f"k/{rng.random()}"],
                              ["content-length-range", 0, rng.randint(0, 10**9)]]}
        b64 = base64.b64encode(json.dumps(doc).encode()).decode()
        sig = oracle.v1_signature(secret, b64)
        assert len(base64.b64decode(sig)) == 20


def test_oracle_detects_a_wrong_secret():
    b64 = base64.b64encode(b'{"expiration":"2026-01-02T03:09:05.000Z","conditions":[]}').decode()
    assert oracle.v1_signature("secret-a", b64) != oracle.v1_signature("secret-b", b64)
