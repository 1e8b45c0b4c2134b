"""More kept-alive connections than threads: nginx keeps up to `keepalive` idle connections per
worker process. Were each to hold an upsign thread, a new connection would wait in the backlog
until nginx dropped an idle one (60 s), or upsign would have to close idle ones nginx may be
writing to. Kept connections cost upsign no thread: all are held and all are answered."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import requests

import helpers
from harness.nginx import Nginx
from harness.wrk import parse_wrk
from helpers import Worker


def test_requests_are_served_when_kept_connections_outnumber_threads(tmp_path):
    wrk = shutil.which("wrk")
    if not wrk:
        pytest.fail("wrk not installed (deploy/install-deps.sh installs it)")
    config = helpers.write_config(tmp_path, server=dict(helpers.STANDARD_SERVER, threads=4))
    d = helpers.scratch_dir("uspin")
    sock = d / "p.sock"
    w = Worker(helpers.serve_argv(config, listen=f"unix:{sock}"), helpers.cred_env(), name="pinned", log_dir=d)
    helpers.wait_unix_socket(sock, w)
    # Two nginx workers, each with its own cache of kept connections: more connections than
    # threads (4), each of which must go on being answered.
    nginx = Nginx(f"unix:{sock}", keepalive=32, workers=2)
    try:
        url = nginx.url("/upload/policy?filename=a.jpg")
        # 16 concurrent clients: nginx opens up to 16 connections to a worker with 4 threads.
        out = subprocess.run([wrk, "-t2", "-c16", "-d3s", "--timeout", "5s", "-H", "X-Test-User: p", url],
                             capture_output=True, text=True, timeout=60).stdout
        res = parse_wrk(out)
        assert res["requests"] > 0, out
        assert res["non2xx"] == 0 and res["socket_errors"] == 0, f"{res}\n{out}\n{nginx.error_log()[-2000:]}"
        # nginx now holds up to 16 idle connections to a worker with 4 threads. Each new request
        # must be answered (a stall here lasts until nginx's 60 s timeouts).
        for i in range(8):
            started = time.monotonic()
            r = requests.get(url, headers={"X-Test-User": f"after{i}"}, timeout=10)
            assert r.status_code == 200, r.text
            assert time.monotonic() - started < 5, "a request waited for a thread held by an idle connection (hang guard)"
        # The connections nginx keeps outnumber the threads, and the worker holds them all: a kept
        # connection costs it no thread, so it never closes one the front end may be writing to.
        m = requests.get(nginx.url("/upload/metrics"), timeout=10)
        assert m.status_code == 200, m.text[:300]
        open_now = [float(line.split()[-1]) for line in m.text.splitlines() if line.startswith("upsign_connections_open ")]
        assert open_now and open_now[0] > 4, f"connections open: {open_now}: the test proved nothing"
        assert "closing idle" not in w.log(), w.log()[-2000:]
    finally:
        nginx.stop()
        w.stop()
