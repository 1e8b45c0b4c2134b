"""A small, real application server for test_callback_forward.py: the service upsign forwards
verified upload callbacks to (`[callback] forward`).

It speaks HTTP/1.1 (keep-alive, Content-Length or chunked request bodies) on a loopback TCP
port (`UploadApp`) or on a unix socket (`UnixUploadApp`), records every request it receives
(method, path, headers, raw body and the body parsed as JSON) under a lock, and answers by the
behaviour the test last set:

    ok          200 {"stored": ID, "key": KEY} (ID and KEY from the request body; the bytes as
                json.dumps writes them, spaces included, so a re-encoding caller is visible)
    raw         any status, body bytes and Content-Type, optionally chunked
    status      status N with a JSON body
    nonjson     200 with an HTML body
    oversized   200 with a valid JSON value of more than 1 MiB (optionally chunked)
    redirect    302 to another path of this app (with a JSON body)
    hang        nothing, until released (set_behaviour, stop) or `hang_s` passed
    partial     the status line, headers and half the body, then nothing until released

It dedupes nothing: the tests count what it received. `stop()` closes the listener and every
open connection (a stopped application is gone, kept-alive connections included) and, for the
unix variant, removes the socket file; `start()` listens again on the same port or path.
"""

from __future__ import annotations

import json
import os
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harness.processes import free_port

MIB = 1024 * 1024


@dataclass
class Received:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    json: object = None          # the body parsed as JSON, None when it is not JSON
    is_json: bool = False
    at: float = field(default_factory=time.monotonic)

    def header(self, name: str) -> str | None:
        """The value of the one header `name` (case-insensitive); AssertionError if repeated."""
        vals = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(vals) <= 1, f"header {name} sent {len(vals)} times: {vals}"
        return vals[0] if vals else None


def default_answer(req: Received) -> bytes:
    body = req.json if isinstance(req.json, dict) else {}
    return json.dumps({"stored": body.get("id"), "key": body.get("key")}).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "upload-app/1"
    app: "UploadApp"   # set on the subclass each app makes

    def log_message(self, *a):   # quiet
        pass

    def address_string(self) -> str:
        return "app-client"

    def setup(self):
        super().setup()
        self.app._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.app._track(self.connection, False)

    # -- reading

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = b""
            while True:
                line = self.rfile.readline(1024)
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline(8)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    # -- answering

    def _answer(self, status: int, body: bytes, ctype: str | None = "application/json",
                chunked: bool = False, extra: dict | None = None) -> None:
        self.send_response(status)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if chunked:
                for i in range(0, len(body), 65536):
                    part = body[i:i + 65536]
                    self.wfile.write(b"%x\r\n" % len(part) + part + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            elif status not in (204, 304):
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _handle(self):
        body = self._read_body()
        req = Received(self.command, self.path, list(self.headers.items()), body)
        try:
            req.json = json.loads(body)
            req.is_json = True
        except ValueError:
            pass
        app = self.app
        mode, kw, release = app._record(req)
        if mode == "ok":
            return self._answer(200, default_answer(req))
        if mode == "raw":
            return self._answer(kw.get("status", 200), kw["body"], kw.get("ctype", "application/json"),
                                kw.get("chunked", False))
        if mode == "status":
            n = kw["status"]
            return self._answer(n, json.dumps({"error": f"the application says {n}"}).encode())
        if mode == "nonjson":
            return self._answer(200, b"<html><body>stored</body></html>\n", "text/html")
        if mode == "oversized":
            size = kw.get("size", MIB + 1)
            payload = b'"' + b"x" * (size - 2) + b'"'      # a valid JSON string of `size` bytes
            return self._answer(200, payload, "application/json", kw.get("chunked", False))
        if mode == "redirect":
            return self._answer(302, b'{"moved":true}', "application/json",
                                extra={"Location": app.url("/uploads/elsewhere")})
        if mode == "hang":
            release.wait(kw.get("hang_s", 10.0))
            self.close_connection = True
            return self._answer(200, default_answer(req))
        if mode == "partial":
            full = default_answer(req) + b" " * 64
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(full)))
            self.end_headers()
            try:
                self.wfile.write(full[:len(full) // 2])
                self.wfile.flush()
                release.wait(kw.get("hang_s", 10.0))
                self.wfile.write(full[len(full) // 2:])
                self.wfile.flush()
            except OSError:
                pass
            self.close_connection = True
            return None
        raise AssertionError(f"unknown behaviour {mode!r}")

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _handle


class UploadApp:
    """The application on 127.0.0.1:`port` (a free port when None)."""

    def __init__(self, port: int | None = None, path: str = "/uploads"):
        self.port = port or free_port()
        self.path = path
        self._init_state()
        self.start()

    # -- state

    def _init_state(self):
        self._lock = threading.Lock()
        self.requests: list[Received] = []
        self._mode, self._kw = "ok", {}
        self._release = threading.Event()
        self._conns: set = set()
        self.httpd = None
        self._thread = None

    def _record(self, req: Received):
        with self._lock:
            self.requests.append(req)
            return self._mode, dict(self._kw), self._release

    def _track(self, conn, add: bool):
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def set_behaviour(self, mode: str = "ok", **kw) -> None:
        """Switch what the next requests get; requests hanging under the last behaviour are
        released."""
        with self._lock:
            self._release.set()
            self._release = threading.Event()
            self._mode, self._kw = mode, kw

    def mark(self) -> int:
        with self._lock:
            return len(self.requests)

    def since(self, mark: int) -> list[Received]:
        with self._lock:
            return list(self.requests[mark:])

    def wait_for(self, mark: int, n: int, timeout: float = 10.0) -> list[Received]:
        """The requests since `mark`, once there are at least `n` (or whatever came by the
        deadline)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.since(mark)
            if len(got) >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.01)

    # -- lifecycle

    def url(self, path: str | None = None) -> str:
        return f"http://127.0.0.1:{self.port}{self.path if path is None else path}"

    @property
    def forward(self) -> str:
        """The `forward =` value naming this application."""
        return self.url()

    def _handler(self):
        return type("Handler", (_Handler,), {"app": self})

    def _make_server(self):
        return _TCPHTTPServer(("127.0.0.1", self.port), self._handler())

    def start(self) -> None:
        assert self.httpd is None, "already running"
        self.httpd = self._make_server()
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.05})
        self._thread.start()

    def stop(self) -> None:
        if self.httpd is None:
            return
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
        with self._lock:
            conns = list(self._conns)
            self._release.set()
            self._release = threading.Event()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.httpd = None
        self._after_stop()

    def _after_stop(self) -> None:
        pass

    @property
    def running(self) -> bool:
        return self.httpd is not None

    def close(self) -> None:
        self.stop()


class _QuietErrors:
    def handle_error(self, request, client_address):
        import sys
        if not isinstance(sys.exc_info()[1], OSError):   # a peer that went away is no news
            super().handle_error(request, client_address)


class _TCPHTTPServer(_QuietErrors, ThreadingHTTPServer):
    daemon_threads = True


class _UnixHTTPServer(_QuietErrors, socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False

    def get_request(self):
        sock, _ = self.socket.accept()
        return sock, ("unix", 0)     # a fixed client address (BaseHTTPRequestHandler wants a pair)


class UnixUploadApp(UploadApp):
    """The same application on a unix socket (`forward = "unix:PATH:/uploads"`)."""

    def __init__(self, sock_path: Path, path: str = "/uploads"):
        self.sock_path = Path(sock_path)
        self.port = 0
        self.path = path
        self._init_state()
        self.start()

    def url(self, path: str | None = None) -> str:
        return f"unix:{self.sock_path}:{self.path if path is None else path}"

    @property
    def forward(self) -> str:
        return self.url()

    def _make_server(self):
        if self.sock_path.exists() or self.sock_path.is_socket():
            self.sock_path.unlink()
        srv = _UnixHTTPServer(str(self.sock_path), self._handler())
        os.chmod(self.sock_path, 0o666)
        return srv

    def _after_stop(self) -> None:
        try:
            self.sock_path.unlink()
        except FileNotFoundError:
            pass
