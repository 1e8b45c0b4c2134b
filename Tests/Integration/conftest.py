"""Fixtures of the integration suite. See helpers.py for the harness itself."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import helpers  # noqa: E402
import rgw as rgw_store  # noqa: E402
from helpers import Nginx, Worker  # noqa: E402


def pytest_report_header(config):
    return f"upsign binary: {helpers.UPSIGN_BIN}"


@pytest.fixture(scope="session", autouse=True)
def upsign_bin() -> str:
    path = Path(helpers.UPSIGN_BIN)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.exit(f"upsign binary not found or not executable: {path} (set UPSIGN_BIN)", returncode=2)
    return str(path)


@pytest.fixture(scope="session", autouse=True)
def remove_scratch_dirs():
    yield
    if os.environ.get("UPSIGN_KEEP_TMP") != "1":
        for d in helpers.SCRATCH_DIRS:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (nginx runs with `user root`, temp paths in /tmp)")


@pytest.fixture(scope="session")
def nginx_bin(need_root):
    if not shutil.which("nginx"):
        pytest.fail("nginx not installed (deploy/install-deps.sh installs it)")
    return shutil.which("nginx")


@pytest.fixture(scope="session")
def rgw():
    """A real, validating S3 store (Ceph RADOS Gateway on loopback, see rgw.py), one per session,
    with the bucket rgw_store.BUCKET. It fails, never skips, when the gateway cannot start: CI must
    not pass without it."""
    d = helpers.scratch_dir("usrgw")
    try:
        store = rgw_store.start(d, helpers.free_port())
    except rgw_store.StartError as e:
        pytest.fail(f"the Ceph RGW test store did not start: {e}", pytrace=False)
    try:
        yield store
    finally:
        rgw_store.stop(d)


@pytest.fixture(scope="session")
def std_config(tmp_path_factory) -> Path:
    """The standard test config (credentials from env, max_body 1024)."""
    return helpers.write_config(tmp_path_factory.mktemp("cfg"))


@pytest.fixture(scope="session")
def std_profiles(std_config) -> dict:
    return helpers.load_profiles_from(std_config)["profiles"]


class RawResponse:
    """The parts of a requests.Response the tests use, from http.client."""

    def __init__(self, resp: http.client.HTTPResponse, content: bytes):
        self.status_code = resp.status
        self.headers = requests.structures.CaseInsensitiveDict(resp.getheaders())
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.content)


class Stack:
    """One worker behind one private nginx, plus a keep-alive HTTP client."""

    def __init__(self, worker: Worker, nginx: Nginx):
        self.worker = worker
        self.nginx = nginx
        self.http = requests.Session()
        self._conn: http.client.HTTPConnection | None = None

    def url(self, path: str) -> str:
        return self.nginx.url(path)

    def request(self, method: str, path: str, *, user: str | bytes | None = None, headers=None,
                data: str | bytes | None = None) -> RawResponse:
        """One request on a kept-alive connection, the path sent byte for byte as written
        (requests/urllib3 would re-encode a malformed percent-escape)."""
        h = dict(headers or {})
        if user is not None:
            h["X-Test-User"] = user
        body = data.encode("utf-8") if isinstance(data, str) else data
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.nginx.port, timeout=15)
            try:
                self._conn.request(method, path, body=body, headers=h)
                resp = self._conn.getresponse()
                content = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        if resp.will_close:
            self._conn.close()
            self._conn = None
        r = RawResponse(resp, content)
        helpers.record_response(f"{method} {path}", r)
        return r

    def close(self):
        if self._conn is not None:
            self._conn.close()
        self.http.close()
        self.nginx.stop()
        self.worker.stop()


def start_stack(config: Path, env: dict | None = None, threads: int | None = None,
                keepalive: int = 16) -> Stack:
    d = helpers.scratch_dir("usstk")
    sock = d / "upsign.sock"
    worker = Worker(helpers.serve_argv(config, listen=f"unix:{sock}", threads=threads),
                    env if env is not None else helpers.cred_env(), name="stack", log_dir=d)
    try:
        helpers.wait_unix_socket(sock, worker)
        nginx = Nginx(f"unix:{sock}", keepalive=keepalive)
    except BaseException:
        worker.stop()
        raise
    return Stack(worker, nginx)


@pytest.fixture(scope="module")
def stack(nginx_bin, std_config):
    s = start_stack(std_config)
    yield s
    s.close()
