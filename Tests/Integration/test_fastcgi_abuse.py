"""Raw FastCGI abuse straight at the worker's socket (issue 7 covers this fully).

Known defect, kept as a strict expected failure so that fixing it turns this red: libfcgi
(Debian 2.4.2-2+deb12u1) adds a PARAMS name and value length without an overflow check and
asserts on the failed allocation, so one crafted record aborts the whole worker. Only a client
that can connect to the socket (nginx, or the socket's group) can send it."""

from __future__ import annotations

import socket
import struct
import time

import pytest

import helpers
from helpers import Worker


def _record(rtype: int, content: bytes) -> bytes:
    return struct.pack(">BBHHBB", 1, rtype, 1, len(content), 0, 0) + content


@pytest.mark.xfail(strict=True, reason="libfcgi asserts on an overflowing PARAMS length (issue 7: validate records before libfcgi parses them)")
def test_an_overflowing_param_length_does_not_kill_the_worker(std_config):
    d = helpers.scratch_dir("usabu")
    sock = d / "a.sock"
    w = Worker(helpers.serve_argv(std_config, listen=f"unix:{sock}"), helpers.cred_env(), name="abuse", log_dir=d)
    try:
        helpers.wait_unix_socket(sock, w)
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(sock))
        begin = _record(1, struct.pack(">HB5x", 1, 0))
        params = _record(4, struct.pack(">I", 0xFFFFFFF0) + struct.pack(">I", 0x80000010) + b"x" * 20)
        s.sendall(begin + params)
        time.sleep(1.0)
        s.close()
        # A crash prints a backtrace first, which takes a few seconds.
        deadline = time.monotonic() + 15
        while w.alive() and "Assertion" not in w.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "Assertion" not in w.log(), f"libfcgi aborted: {w.log()[-300:]}"
        assert w.alive(), f"the worker died: {w.log()[-600:]}"
    finally:
        w.stop()
