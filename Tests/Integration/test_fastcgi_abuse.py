"""Raw FastCGI abuse straight at the worker's socket (issue 7 covers this fully).

libfcgi (Debian 2.4.2-2+deb12u1) adds a PARAMS name and value length without an overflow check
and asserts on the failed allocation, so one crafted record would abort the whole worker. upsign
peeks at each request's records and checks them before libfcgi reads them."""

from __future__ import annotations

import socket
import struct
import time

import pytest

import helpers
from helpers import Worker


def _record(rtype: int, content: bytes) -> bytes:
    return struct.pack(">BBHHBB", 1, rtype, 1, len(content), 0, 0) + content


@pytest.mark.parametrize("params", [
    struct.pack(">I", 0xFFFFFFF0) + struct.pack(">I", 0x80000010) + b"x" * 20,   # lengths overflow
    struct.pack(">I", 0x80100000) + b"\x01" + b"x" * 20,                         # 1 MB claimed
    b"\x05\xc8NAMEX",                                                             # value overruns
])
def test_malformed_params_do_not_kill_the_worker(std_config, params):
    d = helpers.scratch_dir("usabu")
    sock = d / "a.sock"
    w = Worker(helpers.serve_argv(std_config, listen=f"unix:{sock}"), helpers.cred_env(), name="abuse", log_dir=d)
    try:
        helpers.wait_unix_socket(sock, w)
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(sock))
        begin = _record(1, struct.pack(">HB5x", 1, 0))
        s.sendall(begin + _record(4, params) + _record(4, b""))
        time.sleep(1.0)
        s.close()
        # A crash prints a backtrace first, which takes a few seconds.
        time.sleep(3.0)
        assert "Assertion" not in w.log(), f"libfcgi aborted: {w.log()[-300:]}"
        assert w.alive(), f"the worker died: {w.log()[-600:]}"
        assert "dropped a connection" in w.log(), "the bad request was not refused by upsign's check"
        # And it still serves.
        import fcgi_client
        c = fcgi_client.Connection(str(sock))
        r = c.request({"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/healthz"})
        c.close()
        assert r.status == 200, r.raw
    finally:
        w.stop()
