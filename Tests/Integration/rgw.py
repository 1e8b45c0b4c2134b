"""A real, validating S3 store for the tests: a throw-away single-node Ceph RADOS Gateway.

deploy/rgw.sh starts a monitor, a memstore OSD and radosgw on loopback, all state
under one scratch directory, with a fixed test user. `start` runs it and creates the test
bucket; conftest.py wraps it as the session fixture `rgw`.

The gateway checks browser POST forms the way S3 does: SigV4 (x-amz-*) and SigV2-style
(AWSAccessKeyId + signature) signatures, the policy's expiration, and every condition. It
answers 403 AccessDenied (not SignatureDoesNotMatch) for a bad signature.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

RGW_SH = Path(__file__).resolve().parents[2] / "deploy" / "rgw.sh"

# Fixed in rgw.sh (the user it creates); test-only values.
ACCESS_KEY = "UPSIGNRGWTESTKEY0001"
SECRET = "upsign-rgw-test-secret-0000000000000000"
BUCKET = "upsign-e2e"
REGION = "us-east-1"

# rgw.sh bounds its own wait (90 s); this only guards against a hung script.
START_TIMEOUT = 150
STOP_TIMEOUT = 60


class StartError(RuntimeError):
    """rgw.sh could not bring the store up; the message carries its output (log tails)."""


@dataclass
class RgwStore:
    """A running gateway with the test bucket; `client` is a boto3 S3 client for the test user."""

    directory: Path
    endpoint: str                 # http://127.0.0.1:PORT
    bucket: str = BUCKET
    access_key: str = ACCESS_KEY
    secret: str = SECRET
    region: str = REGION
    startup_seconds: float = 0.0  # rgw.sh start, wall clock
    client: object = field(default=None, repr=False)

    @property
    def bucket_url(self) -> str:
        """The path-style form URL of the test bucket."""
        return f"{self.endpoint}/{self.bucket}"

    def post(self, url: str, fields: list[tuple[str, str]], file_bytes: bytes,
             filename: str = "upload.bin", content_type: str = "application/octet-stream",
             ) -> requests.Response:
        """A browser-style multipart POST: `fields` in the given order, the file part last."""
        parts = [(name, (None, value)) for name, value in fields]
        parts.append(("file", (filename, file_bytes, content_type)))
        return requests.post(url, files=parts, timeout=30)

    def get_object(self, key: str) -> bytes | None:
        """The object's bytes, or None when the bucket holds no such key."""
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise


def s3_client(endpoint: str):
    """A boto3 S3 client for the test user: SigV4, path-style addressing, no retries."""
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}, connect_timeout=10, read_timeout=30))


def start(directory: Path, port: int) -> RgwStore:
    """Start the gateway on 127.0.0.1:`port` with its state under `directory`, create the test
    bucket. Raises StartError (after stopping whatever started) when anything fails."""
    t0 = time.monotonic()
    try:
        proc = subprocess.run(["bash", str(RGW_SH), "start", str(directory), str(port)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        stop(directory)
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr or ""
        raise StartError(f"rgw.sh start did not finish within {START_TIMEOUT}s\n{err}") from e
    if proc.returncode != 0:
        raise StartError(f"rgw.sh start exited {proc.returncode}\n{proc.stdout}{proc.stderr}")
    endpoint = f"http://127.0.0.1:{port}"
    store = RgwStore(directory=directory, endpoint=endpoint,
                     startup_seconds=time.monotonic() - t0, client=s3_client(endpoint))
    try:
        store.client.create_bucket(Bucket=BUCKET)
    except Exception as e:
        stop(directory)
        raise StartError(f"gateway up but creating bucket {BUCKET} failed: {e}") from e
    return store


def stop(directory: Path) -> None:
    """Stop the daemons `start` left running in `directory` (a no-op when none run)."""
    subprocess.run(["bash", str(RGW_SH), "stop", str(directory)], stdin=subprocess.DEVNULL,
                   capture_output=True, timeout=STOP_TIMEOUT, check=False)
