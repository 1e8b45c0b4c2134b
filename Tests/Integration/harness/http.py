"""HTTP clients of the suite. One response type (the parts of a requests.Response the tests use)
for both clients: `raw_request`, which writes the request bytes exactly as given (requests and
http.client would re-encode or refuse hostile bytes), and the http.client-based clients of the
front-end managers (RawResponse.of)."""

from __future__ import annotations

import http.client
import json
import re
import socket
import time

import requests

from harness.processes import record_response


HANG_TIMEOUT = 10.0


def as_bytes(v: bytes | str) -> bytes:
    """Bytes as given; text as UTF-8."""
    return v if isinstance(v, bytes) else v.encode("utf-8")


class RawResponse:
    """Status, headers (case-insensitive) and body of one answer; `elapsed` in seconds."""

    def __init__(self, status: int, headers: dict, content: bytes, elapsed: float = 0.0):
        self.status_code = status
        self.headers = requests.structures.CaseInsensitiveDict(headers)
        self.content = content
        self.elapsed = elapsed

    @classmethod
    def of(cls, resp: http.client.HTTPResponse, content: bytes) -> "RawResponse":
        return cls(resp.status, resp.getheaders(), content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.content)

    def from_nginx(self) -> bool:
        """nginx's own error page (the request never reached upsign)."""
        return (self.headers.get("content-type", "").startswith("text/html")
                and b"<center>nginx" in self.content)


def raw_request(port: int, method: str, target: bytes, headers: list[tuple[bytes, bytes]] = (),
                body: bytes | None = None, chunked: bool = False) -> RawResponse:
    """One HTTP/1.1 request to 127.0.0.1:`port` on its own connection, written byte for byte (the
    target and header values as given); the answer read to the close. No complete answer within
    HANG_TIMEOUT is a failure (a hang)."""
    req = method.encode() + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    for k, v in headers:
        req += k + b": " + v + b"\r\n"
    if body is not None and chunked:
        req += b"Transfer-Encoding: chunked\r\n\r\n"
        for i in range(0, len(body), 4096):
            part = body[i:i + 4096]
            req += b"%x\r\n" % len(part) + part + b"\r\n"
        req += b"0\r\n\r\n"
    elif body is not None:
        req += b"Content-Length: %d\r\n\r\n" % len(body) + body
    else:
        req += b"\r\n"
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=HANG_TIMEOUT)
    chunks = []
    try:
        try:
            s.sendall(req)
        except (BrokenPipeError, ConnectionResetError):
            pass   # answered (and closed) before reading everything: read what was said
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        except socket.timeout:
            raise AssertionError(f"HANG: no complete answer within {HANG_TIMEOUT}s to "
                                 f"{method} {target[:200]!r} (got {b''.join(chunks)[:200]!r})")
        except ConnectionResetError:
            pass
    finally:
        s.close()
    data = b"".join(chunks)
    head, sep, rest = data.partition(b"\r\n\r\n")
    assert sep, f"no HTTP answer to {method} {target[:200]!r}: {data[:300]!r}"
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
    assert m, f"bad status line {lines[0]!r}"
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        hdrs[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        out, buf = b"", rest
        while True:
            size_line, _, buf = buf.partition(b"\r\n")
            n = int(size_line.split(b";")[0], 16)
            if n == 0:
                break
            out, buf = out + buf[:n], buf[n + 2:]
        rest = out
    elif "content-length" in hdrs:
        n = int(hdrs["content-length"])
        assert len(rest) >= n, f"short body: {len(rest)} < Content-Length {n}"
        rest = rest[:n]
    r = RawResponse(int(m.group(1)), hdrs, rest, time.monotonic() - t0)
    record_response(f"raw {method} {target[:80]!r}", r)
    return r
