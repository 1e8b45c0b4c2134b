"""More kept-alive connections than worker threads: nginx keeps up to `keepalive` idle connections
per worker process, and each idle one holds an upsign thread. Without relief, a new connection
waits in the backlog until nginx drops an idle one (60 s) and the request fails or crawls."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import requests

import helpers
from helpers import Nginx, Worker
from test_shutdown import parse_wrk


def test_requests_are_served_when_kept_connections_outnumber_threads(tmp_path):
    wrk = shutil.which("wrk")
    if not wrk:
        pytest.fail("wrk not installed (deploy/install-deps.sh installs it)")
    config = helpers.write_config(tmp_path, server=dict(helpers.STANDARD_SERVER, threads=4))
    d = helpers.scratch_dir("uspin")
    sock = d / "p.sock"
    w = Worker(helpers.serve_argv(config, listen=f"unix:{sock}"), helpers.cred_env(), name="pinned", log_dir=d)
    helpers.wait_unix_socket(sock, w)
    # Two nginx workers, each with its own cache of kept connections: the one answering the next
    # request may hold only idle connections that no upsign thread has accepted.
    nginx = Nginx(f"unix:{sock}", keepalive=32, workers=2)
    try:
        url = nginx.url("/upload/policy?filename=a.jpg")
        # 16 concurrent clients: nginx opens up to 16 connections to a worker with 4 threads.
        out = subprocess.run([wrk, "-t2", "-c16", "-d3s", "--timeout", "5s", "-H", "X-Test-User: p", url],
                             capture_output=True, text=True, timeout=60).stdout
        res = parse_wrk(out)
        assert res["requests"] > 0, out
        assert res["non2xx"] == 0 and res["socket_errors"] == 0, f"{res}\n{out}\n{nginx.error_log()[-2000:]}"
        # nginx now holds up to 16 idle connections, 4 of them on threads. Each new request must
        # still be answered promptly (a stall here lasts until nginx's 60 s timeouts).
        for i in range(8):
            started = time.monotonic()
            r = requests.get(url, headers={"X-Test-User": f"after{i}"}, timeout=10)
            assert r.status_code == 200, r.text
            assert time.monotonic() - started < 5, "a request waited for a thread held by an idle connection"
        assert "closing idle kept-alive connections" in w.log(), "the worker never had to free a thread: the test proved nothing"
    finally:
        nginx.stop()
        w.stop()
