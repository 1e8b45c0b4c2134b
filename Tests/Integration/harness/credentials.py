"""The suite's test credentials (distinctive strings, so that a leak is easy to spot in logs and
bodies), the environments a worker runs with, and the scan for secrets in any output."""

from __future__ import annotations

import os
from typing import Iterable

# Test credentials. Distinctive strings so that a leak is easy to spot in logs and bodies.
AKID = "LTAI5tIntegrationTestAk01"
SECRET = "itest-Secret+/With=Chars-7f3a9c1e5b2d4086"
TOKEN = "CAIS-itest-sts-token+/=-c0ffee0ddba11"
ALT_AKID = "LTAI5tFallbackAlibabaCloud2"
ALT_SECRET = "itest-AlibabaCloud-Fallback-Secret-55aa77"
ALT_TOKEN = "CAIS-itest-alibaba-fallback-token-9911"
FILE_AKID = "LTAI5tFromCredentialsFile3"
FILE_SECRET = "itest-File-Secret-0d15ea5e-8badf00d"
FILE_TOKEN = "CAIS-itest-file-token-feedface"
ALL_SECRETS = (SECRET, ALT_SECRET, FILE_SECRET)

CRED_ENV_VARS = (
    "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN",
    "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_SECURITY_TOKEN", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_SESSION_TOKEN",
    "OBS_ACCESS_KEY_ID", "OBS_SECRET_ACCESS_KEY", "OBS_SECURITY_TOKEN",
    "QINIU_ACCESS_KEY", "QINIU_SECRET_KEY", "GCS_HMAC_ACCESS_ID", "GCS_HMAC_SECRET",
)


def clean_env(**extra: str) -> dict:
    """os.environ without any credential / socket-activation variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in CRED_ENV_VARS}
    env.update(extra)
    return env


def cred_env(token: bool = False, **extra: str) -> dict:
    e = clean_env(OSS_ACCESS_KEY_ID=AKID, OSS_ACCESS_KEY_SECRET=SECRET, **extra)
    if token:
        e["OSS_SESSION_TOKEN"] = TOKEN
    return e


def secrets_in(blob: bytes | str, secrets: Iterable[str] = ALL_SECRETS) -> list[str]:
    if isinstance(blob, bytes):
        blob = blob.decode("utf-8", errors="replace")
    return [s for s in secrets if s in blob]
