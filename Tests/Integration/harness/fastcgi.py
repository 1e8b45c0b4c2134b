"""FastCGI 1.0 on the wire: the one record encoder of the suite, a minimal responder client (exact
params, FCGI_KEEP_CONN on or off, raw CGI response headers) and raw-record helpers for tests that
write records by hand (truncated, lying about lengths, in the wrong version)."""

from __future__ import annotations

import re
import socket
import struct
from pathlib import Path

VERSION = 1
# Record types (FastCGI 1.0, section 8).
BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE = 9, 10, 11
RESPONDER = 1
KEEP_CONN = 1
CANT_MPX_CONN = 1
# The worker's read timeout for a whole request (BEGIN_REQUEST, PARAMS, STDIN) and for a new
# connection's first byte, in seconds (FastCGIServer.arrivalTimeoutMilliseconds).
ARRIVAL_TIMEOUT = 30.0


def record(rtype: int, rid: int, content: bytes = b"", *, version: int = VERSION,
           clen: int | None = None, pad: int | None = None) -> bytes:
    """One record, padded to a multiple of 8 bytes; `clen` lies about the content length, `pad`
    sets the padding, `version` the header's version byte."""
    if pad is None:
        pad = (-len(content)) % 8
    length = len(content) if clen is None else clen
    return struct.pack(">BBHHBx", version, rtype, rid, length, pad) + content + b"\0" * pad


def _nv_len(n: int) -> bytes:
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def encode_params(params: dict[str, str | bytes]) -> bytes:
    out = b""
    for k, v in params.items():
        kb = k.encode() if isinstance(k, str) else k
        vb = v.encode() if isinstance(v, str) else v
        out += _nv_len(len(kb)) + _nv_len(len(vb)) + kb + vb
    return out


def begin(rid: int = 1, keep: bool = False, version: int = VERSION) -> bytes:
    """FCGI_BEGIN_REQUEST for a responder."""
    return record(BEGIN, rid, struct.pack(">HB5x", RESPONDER, KEEP_CONN if keep else 0), version=version)


def params_stream(params: dict, rid: int = 1) -> bytes:
    return record(PARAMS, rid, encode_params(params)) + record(PARAMS, rid)


def request_start(params: dict, rid: int = 1, keep: bool = False) -> bytes:
    return begin(rid, keep) + params_stream(params, rid)


def parse_records(buf: bytes) -> list[tuple[int, int, bytes]]:
    """The complete records in `buf`: (type, request id, content)."""
    out = []
    while len(buf) >= 8:
        _, rtype, rid, clen, plen = struct.unpack(">BBHHBx", buf[:8])
        if len(buf) < 8 + clen + plen:
            break
        out.append((rtype, rid, buf[8:8 + clen]))
        buf = buf[8 + clen + plen:]
    return out


def stdout_of(records, rid: int = 1) -> bytes:
    return b"".join(c for t, r, c in records if t == STDOUT and r == rid)


def status_of(records, rid: int = 1) -> int | None:
    out = stdout_of(records, rid)
    if not out:
        return None
    m = re.search(rb"^Status: (\d{3})", out, re.M)
    return int(m.group(1)) if m else 200


# Requests for a signed policy, as a front end passes them.

POST_BODY = b"filename=b.png&size=200"


def good_params(user: str) -> dict:
    return {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/policy",
            "QUERY_STRING": "filename=a.jpg&size=100", "UPSIGN_USER": user, "CONTENT_LENGTH": ""}


def post_params(user: str) -> dict:
    return {"REQUEST_METHOD": "POST", "DOCUMENT_URI": "/upload/policy", "QUERY_STRING": "",
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(POST_BODY)), "UPSIGN_USER": user}


class Response:
    def __init__(self, stdout: bytes, stderr: bytes, app_status: int, protocol_status: int):
        self.raw = stdout
        self.stderr = stderr
        self.app_status = app_status
        self.protocol_status = protocol_status
        head, _, self.body = stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, self.body = stdout.partition(b"\n\n")
        self.header_lines = head.decode("latin-1").replace("\r\n", "\n").split("\n")
        self.headers: dict[str, str] = {}
        for line in self.header_lines:
            if ":" in line:
                k, v = line.split(":", 1)
                self.headers[k.strip().lower()] = v.strip()
        status = self.headers.get("status", "200")
        self.status = int(status.split()[0])


class Connection:
    """One connection to a responder (a unix socket path or a (host, port) pair)."""

    def __init__(self, address):
        if isinstance(address, tuple):
            self.sock = socket.create_connection(address, timeout=10)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(10)
            self.sock.connect(str(address))
        self.buf = b""

    def close(self):
        self.sock.close()

    def _read_record(self):
        while len(self.buf) < 8:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buf += chunk
        _, rtype, rid, clen, plen = struct.unpack(">BBHHBx", self.buf[:8])
        total = 8 + clen + plen
        while len(self.buf) < total:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed inside a record")
            self.buf += chunk
        content = self.buf[8:8 + clen]
        self.buf = self.buf[total:]
        return rtype, rid, content

    def request(self, params: dict, body: bytes = b"", keep_conn: bool = True,
                request_id: int = 1) -> Response:
        msg = begin(request_id, keep_conn)
        p = encode_params(params)
        for i in range(0, len(p), 65535):
            msg += record(PARAMS, request_id, p[i:i + 65535])
        msg += record(PARAMS, request_id)
        for i in range(0, len(body), 65535):
            msg += record(STDIN, request_id, body[i:i + 65535])
        msg += record(STDIN, request_id)
        self.sock.sendall(msg)
        out, err = b"", b""
        while True:
            rec = self._read_record()
            if rec is None:
                raise ConnectionError("connection closed before FCGI_END_REQUEST")
            rtype, rid, content = rec
            if rtype == STDOUT:
                out += content
            elif rtype == STDERR:
                err += content
            elif rtype == END:
                app, proto = struct.unpack(">IB3x", content)
                return Response(out, err, app, proto)

    def closed_by_peer(self, timeout: float = 2.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True


def connect(path: Path) -> socket.socket:
    """A plain unix-socket connection for writing records by hand."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(path))
    return s
