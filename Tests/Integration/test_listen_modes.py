"""Every way the worker gets its listening socket, each proven through nginx and ended by SIGTERM."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import requests

import helpers
from helpers import Nginx, Worker


def exercise(nginx: Nginx, profiles: dict, n: int = 20) -> None:
    """Some signed policies over one kept-alive client connection, each checked by the oracle."""
    with requests.Session() as s:
        for i in range(n):
            t0 = time.time()
            r = s.get(nginx.url("/upload/policy?filename=p.jpg&size=100"),
                      headers={"X-Test-User": f"m{i}"}, timeout=15)
            helpers.record_response("listen-mode", r)
            assert r.status_code == 200, f"{r.status_code}: {r.text[:300]}\n{nginx.error_log()[-1500:]}"
            helpers.check_signed(r.json(), fmt="java", prof=profiles["avatar"], profile_name="avatar",
                                 user=f"m{i}", filename="p.jpg", size=100, now_window=(t0, time.time()))
        r = s.get(nginx.url("/upload/healthz"), timeout=15)
        assert r.status_code == 200 and r.json()["status"] == "ok"


def assert_terminates_cleanly(worker: Worker) -> None:
    rc, took = worker.terminate(timeout=10)
    assert rc is not None, f"still running 10 s after SIGTERM: {worker.describe()}"
    assert rc == 0, f"exit code {rc} after SIGTERM (took {took:.2f}s): {worker.describe()}"


def run_mode(worker: Worker, upstream: str, profiles: dict, ready) -> None:
    nginx = None
    try:
        ready()
        nginx = Nginx(upstream)
        exercise(nginx, profiles)
        assert worker.alive(), worker.describe()
        assert_terminates_cleanly(worker)
    finally:
        if nginx:
            nginx.stop()
        worker.stop()


def test_listen_unix(nginx_bin, std_config, std_profiles):
    d = helpers.scratch_dir("uslu")
    sock = d / "w.sock"
    w = Worker(helpers.serve_argv(std_config, listen=f"unix:{sock}"), helpers.cred_env(),
               name="listen-unix", log_dir=d)
    run_mode(w, f"unix:{sock}", std_profiles, lambda: helpers.wait_unix_socket(sock, w))


def test_listen_tcp(nginx_bin, std_config, std_profiles):
    port = helpers.free_port()
    d = helpers.scratch_dir("uslt")
    w = Worker(helpers.serve_argv(std_config, listen=f"127.0.0.1:{port}", threads=4),
               helpers.cred_env(), name="listen-tcp", log_dir=d)

    def ready():
        def check():
            if not w.alive():
                raise AssertionError(w.describe())
        helpers.wait_tcp("127.0.0.1", port, proc_check=check)

    run_mode(w, f"127.0.0.1:{port}", std_profiles, ready)


def test_fd0_socket_from_harness(nginx_bin, std_config, std_profiles):
    d = helpers.scratch_dir("usfd0")
    sock_path = d / "fd0.sock"
    lsock = helpers.listening_unix_socket(sock_path)
    try:
        w = Worker(helpers.serve_argv(std_config), helpers.cred_env(), stdin=lsock, name="fd0",
                   log_dir=d)
    finally:
        lsock.close()   # the worker holds its own copy as fd 0
    run_mode(w, f"unix:{sock_path}", std_profiles, lambda: None)


def test_fd0_socket_from_spawn_fcgi(nginx_bin, std_config, std_profiles):
    spawn = shutil.which("spawn-fcgi")
    if not spawn:
        pytest.fail("spawn-fcgi not installed (deploy/install-deps.sh installs it)")
    d = helpers.scratch_dir("ussf")
    sock = d / "spawn.sock"
    # -n: no fork, spawn-fcgi binds the socket to fd 0 and execs upsign in its own process.
    w = Worker([spawn, "-n", "-s", str(sock), "--", *helpers.serve_argv(std_config)],
               helpers.cred_env(), name="spawn-fcgi", log_dir=d)
    run_mode(w, f"unix:{sock}", std_profiles, lambda: helpers.wait_unix_socket(sock, w))


def test_systemd_socket_activation(nginx_bin, std_config, std_profiles):
    ssa = shutil.which("systemd-socket-activate")
    if not ssa:
        pytest.skip("systemd-socket-activate not on this machine (package systemd)")
    d = helpers.scratch_dir("ussa")
    sock = d / "activate.sock"
    # systemd-socket-activate passes only the -E variables on; it execs the service in place on
    # the first connection with LISTEN_FDS=1, LISTEN_PID=its pid and the socket as fd 3.
    w = Worker([ssa, "-l", str(sock), "-E", "OSS_ACCESS_KEY_ID", "-E", "OSS_ACCESS_KEY_SECRET", "--",
                *helpers.serve_argv(std_config)], helpers.cred_env(), name="socket-activate",
               log_dir=d)

    def ready():
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert w.alive() and time.monotonic() < deadline, w.describe()
            time.sleep(0.05)

    run_mode(w, f"unix:{sock}", std_profiles, ready)


def test_no_socket_exits_2(std_config):
    proc = subprocess.run(helpers.serve_argv(std_config), env=helpers.cred_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=15)
    helpers.CAPTURED_OUTPUT.append(("serve without socket", proc.stderr + proc.stdout))
    assert proc.returncode == 2, f"exit {proc.returncode}; stderr={proc.stderr[-500:]!r}"
    assert proc.stderr.strip(), "no message on stderr"


def test_foreign_listen_pid_is_not_activation(std_config):
    """LISTEN_FDS for another process (LISTEN_PID != own pid) must be ignored."""
    proc = subprocess.run(helpers.serve_argv(std_config),
                          env=helpers.cred_env(LISTEN_FDS="1", LISTEN_PID="1"),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=15)
    helpers.CAPTURED_OUTPUT.append(("serve foreign LISTEN_PID", proc.stderr + proc.stdout))
    assert proc.returncode == 2, f"exit {proc.returncode}; stderr={proc.stderr[-500:]!r}"
