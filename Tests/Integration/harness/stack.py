"""One `upsign serve` worker on a unix socket behind one private nginx, with a keep-alive HTTP
client: what most tests talk to (conftest's `stack` fixture is one of these)."""

from __future__ import annotations

import http.client
from pathlib import Path

import requests

from harness.credentials import cred_env
from harness.http import RawResponse
from harness.nginx import Nginx
from harness.processes import Worker, record_response, scratch_dir, serve_argv, wait_unix_socket


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
        r = RawResponse.of(resp, content)
        record_response(f"{method} {path}", r)
        return r

    def close(self):
        if self._conn is not None:
            self._conn.close()
        self.http.close()
        self.nginx.stop()
        self.worker.stop()


def start_stack(config: Path, env: dict | None = None, threads: int | None = None,
                keepalive: int = 16) -> Stack:
    d = scratch_dir("usstk")
    sock = d / "upsign.sock"
    worker = Worker(serve_argv(config, listen=f"unix:{sock}", threads=threads),
                    env if env is not None else cred_env(), name="stack", log_dir=d)
    try:
        wait_unix_socket(sock, worker)
        nginx = Nginx(f"unix:{sock}", keepalive=keepalive)
    except BaseException:
        worker.stop()
        raise
    return Stack(worker, nginx)
