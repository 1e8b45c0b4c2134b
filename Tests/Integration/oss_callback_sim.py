"""An independent simulator of Aliyun OSS's side of an upload callback, for test_callback.py.

Written from the vendor facts (shared/reference/direct-upload.md, "OSS upload callback") and
Aliyun's published receiver samples, never from upsign's sources:

* OSS signs   url-decoded path + ("?" + raw query, when the URL has one) + "\\n" + body
  with RSA PKCS#1 v1.5 over MD5, and sends
      authorization:      base64(signature)
      x-oss-pub-key-url:  base64(URL of the PEM public key)
* the callback body is the profile's callbackBody with the variables substituted: for
  application/json, strings as JSON strings and numbers bare; for
  application/x-www-form-urlencoded, percent-encoded values.

The public key is served by `KeyServer`, a threaded loopback HTTP server that counts every hit
(and can misbehave on purpose: garbage, oversized, endless, slow, redirecting, erroring).
"""

from __future__ import annotations

import base64
import collections
import json
import posixpath
import re
import subprocess
import ssl
from pathlib import Path
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from harness.http import as_bytes


# --------------------------------------------------------------------------------------------
# Keys


def new_key(bits: int = 1024):
    """A fresh RSA private key. OSS's own callback key (gosspublic.alicdn.com/callback_pub_key_v1.pem,
    `MFwwDQYJ...`) is a 512-bit key, which `cryptography` refuses to generate: that size comes
    from the openssl CLI."""
    if bits < 1024:
        pem = subprocess.run(["openssl", "genrsa", str(bits)], capture_output=True, check=True).stdout
        return serialization.load_pem_private_key(pem, None)
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def public_pem(key) -> bytes:
    """The SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----"), as gosspublic serves it."""
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


# --------------------------------------------------------------------------------------------
# Signing


def string_to_sign(target: str | bytes, body: bytes) -> bytes:
    """url-decoded path + ("?" + raw query when the request target has a "?") + "\\n" + body."""
    target = as_bytes(target)
    path, sep, query = target.partition(b"?")
    return urllib.parse.unquote_to_bytes(path) + (b"?" + query if sep else b"") + b"\n" + body


def sign_raw(key, data: bytes) -> str:
    return base64.b64encode(key.sign(data, padding.PKCS1v15(), hashes.MD5())).decode("ascii")


def sign(key, target: str | bytes, body: bytes) -> str:
    """The `authorization` header value OSS would send for this request target and body."""
    return sign_raw(key, string_to_sign(target, body))


def b64(s: str | bytes) -> str:
    return base64.b64encode(as_bytes(s)).decode("ascii")


def callback_headers(key, key_url: str | None, target: str | bytes, body: bytes, content_type: str,
                     *, authorization: str | None = "sign") -> list[tuple[bytes, bytes]]:
    """Headers of an OSS callback request (raw-request form). authorization="sign" signs;
    None omits the header; any other string is sent as is."""
    h = [(b"Content-Type", content_type.encode())]
    if authorization == "sign":
        authorization = sign(key, target, body)
    if authorization is not None:
        h.append((b"authorization", authorization.encode("latin-1")))
    if key_url is not None:
        h.append((b"x-oss-pub-key-url", b64(key_url).encode("ascii")))
    h.append((b"User-Agent", b"aliyun-oss-callback"))
    return h


# --------------------------------------------------------------------------------------------
# Callback bodies


VAR_RE = re.compile(r"\$\{([A-Za-z0-9_.:\-]+)\}")


def render_callback_body(template: str, body_type: str, values: dict) -> bytes:
    """callbackBody with OSS's variable substitution. Unknown variables are left empty."""
    json_type = body_type.split(";")[0].strip().lower() == "application/json"

    def sub(m):
        v = values.get(m.group(1), "")
        if json_type:
            return str(v) if isinstance(v, int) else json.dumps(str(v), ensure_ascii=False)
        return urllib.parse.quote(str(v), safe="")
    return VAR_RE.sub(sub, template).encode("utf-8")


def body_vars(template: str) -> list[str]:
    """The variables of a callbackBody, in order of first appearance."""
    out = []
    for name in VAR_RE.findall(template):
        if name not in out:
            out.append(name)
    return out


# --------------------------------------------------------------------------------------------
# The key server


class KeyServer:
    """A loopback HTTP server (HTTP/1.0, a thread per request) answering GETs from a route table.

    Routing is on the *normalised* path (percent-decoded, dot segments removed), as a real web
    server or CDN would; `hits` counts every request by that normalised path and `raw_paths`
    keeps the request targets as received."""

    def __init__(self, tls: tuple[Path, Path] | None = None):
        """`tls`: (certificate, key) to speak HTTPS. The base URL stays `http://` (what OSS
        sends); upsign fetches it as `https://` on the same port."""
        self.routes: dict[str, bytes | Callable] = {}
        self.hits: collections.Counter = collections.Counter()
        self.raw_paths: list[str] = []
        self.tls_requests: list[tuple[str, str]] = []   # (request target, TLS version) over HTTPS
        self.handshake_failures: list[str] = []        # TLS handshakes that failed
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *a):  # quiet
                pass

            def do_GET(self):
                raw = self.path
                path = raw.split("?", 1)[0]
                norm = posixpath.normpath(urllib.parse.unquote(path)) if path else "/"
                if path.endswith("/") and not norm.endswith("/"):
                    norm += "/"
                with server._lock:
                    server.hits[norm] += 1
                    server.raw_paths.append(raw)
                    if tls is not None:
                        server.tls_requests.append((raw, self.connection.version()))
                route = server.routes.get(norm)
                if route is None:
                    return self._send(404, b"not found\n", "text/plain")
                if isinstance(route, bytes):
                    return self._send(200, route)
                return route(self)

            do_HEAD = do_GET

            def _send(self, status: int, body: bytes, ctype: str = "application/x-pem-file",
                      extra: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    try:
                        self.wfile.write(body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass

        self.Handler = Handler
        if tls is None:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)

            class TLSServer(ThreadingHTTPServer):
                def finish_request(self, request, client_address):
                    request.settimeout(30)
                    try:
                        wrapped = ctx.wrap_socket(request, server_side=True)
                    except (ssl.SSLError, OSError) as e:
                        with server._lock:
                            server.handshake_failures.append(f"{type(e).__name__}: {e}")
                        return
                    try:
                        Handler(wrapped, client_address, self)
                    finally:
                        wrapped.close()

            self.httpd = TLSServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                        kwargs={"poll_interval": 0.1})
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, route: bytes | Callable) -> str:
        self.routes[path] = route
        return self.url(path)

    def total_hits(self) -> int:
        with self._lock:
            return sum(self.hits.values())

    def snapshot(self) -> collections.Counter:
        with self._lock:
            return collections.Counter(self.hits)

    def tls_snapshot(self) -> tuple[list[tuple[str, str]], list[str]]:
        """The HTTPS requests so far, (target, TLS version) each, and the failed handshakes."""
        with self._lock:
            return list(self.tls_requests), list(self.handshake_failures)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# Misbehaving routes ---------------------------------------------------------------------------


def status_route(status: int, body: bytes) -> Callable:
    def route(h):
        h._send(status, body)
    return route


def redirect_route(location: str) -> Callable:
    def route(h):
        h._send(302, b"", "text/plain", {"Location": location})
    return route


def slow_route(body: bytes, delay: float) -> Callable:
    """Accepts, then says nothing for `delay` seconds (longer than upsign's 5 s fetch timeout)."""
    def route(h):
        time.sleep(delay)
        h._send(200, body)
    return route


def endless_route(first: bytes, limit: int = 32 * 1024 * 1024) -> Callable:
    """A valid PEM, then junk without end (no Content-Length, HTTP/1.0 read-until-close), up to
    `limit` bytes or until the reader goes away."""
    def route(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/x-pem-file")
        h.end_headers()
        sent = 0
        try:
            h.wfile.write(first)
            chunk = b"# padding padding padding padding padding padding padding padding\n" * 256
            while sent < limit:
                h.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
    return route
