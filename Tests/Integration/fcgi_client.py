"""A minimal FastCGI responder client (FastCGI 1.0 spec), to talk to the worker without nginx:
exact params, FCGI_KEEP_CONN on or off, raw CGI response headers."""

from __future__ import annotations

import socket
import struct

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
RESPONDER = 1
KEEP_CONN = 1


def _record(rtype: int, request_id: int, content: bytes) -> bytes:
    pad = (-len(content)) % 8
    return struct.pack(">BBHHBx", VERSION, rtype, request_id, len(content), pad) + content + b"\0" * pad


def _nv_len(n: int) -> bytes:
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def encode_params(params: dict[str, str | bytes]) -> bytes:
    out = b""
    for k, v in params.items():
        kb = k.encode() if isinstance(k, str) else k
        vb = v.encode() if isinstance(v, str) else v
        out += _nv_len(len(kb)) + _nv_len(len(vb)) + kb + vb
    return out


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
        flags = KEEP_CONN if keep_conn else 0
        msg = _record(BEGIN_REQUEST, request_id, struct.pack(">HB5x", RESPONDER, flags))
        p = encode_params(params)
        for i in range(0, len(p), 65535):
            msg += _record(PARAMS, request_id, p[i:i + 65535])
        msg += _record(PARAMS, request_id, b"")
        for i in range(0, len(body), 65535):
            msg += _record(STDIN, request_id, body[i:i + 65535])
        msg += _record(STDIN, request_id, b"")
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
            elif rtype == END_REQUEST:
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
