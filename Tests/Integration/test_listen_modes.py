"""Every way the worker gets its listening socket, each proven through nginx and ended by SIGTERM."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
import requests

import helpers
from harness.fastcgi import Connection
from harness.nginx import Nginx
from helpers import Worker


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


def test_listen_unix_with_a_socket_group_lets_that_group_connect(nginx_bin, std_config, std_profiles):
    """Without systemd or spawn-fcgi, --socket-group gives the socket to the web server's group:
    nginx's workers, running as www-data, connect (mode 660, owner root)."""
    import grp
    import os
    import stat
    d = helpers.scratch_dir("uslg")
    d.chmod(0o755)
    sock = d / "w.sock"
    w = Worker(helpers.serve_argv(std_config, listen=f"unix:{sock}") + ["--socket-group", "www-data"], helpers.cred_env(),
               name="listen-group", log_dir=d)

    def ready():
        helpers.wait_unix_socket(sock, w)
        st = os.stat(sock)
        assert st.st_gid == grp.getgrnam("www-data").gr_gid and stat.S_IMODE(st.st_mode) == 0o660, (st.st_gid, oct(st.st_mode))

    nginx = None
    try:
        ready()
        nginx = Nginx(f"unix:{sock}", user="www-data")
        exercise(nginx, std_profiles)
        assert_terminates_cleanly(w)
    finally:
        if nginx:
            nginx.stop()
        w.stop()


@pytest.mark.parametrize("args,message", [
    (["--socket-group", "no-such-group-here"], "no group named no-such-group-here"),
    (["--listen", "127.0.0.1:9", "--socket-group", "www-data"], "unix:/path only"),
])
def test_a_socket_group_that_cannot_apply_is_an_argument_error(std_config, args, message):
    argv = [helpers.UPSIGN_BIN, "serve", "--config", str(std_config)] + \
        (args if "--listen" in args else ["--listen", "unix:/tmp/never.sock"] + args)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=helpers.cred_env())
    assert r.returncode == 64 and message in r.stderr, (r.returncode, r.stderr)


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


# --------------------------------------------------------------------------------------------
# TCP between hosts: FCGI_WEB_SERVER_ADDRS, libfcgi's allow-list of front-end addresses. upsign
# accepts connections itself (libfcgi never sees them), so it must check the list itself; with
# neither the list nor a loopback address it warns that anyone who reaches the port can send
# any identity param.

def _tcp_worker(std_config, host: str, env_extra: dict, name: str):
    port = helpers.free_port()
    d = helpers.scratch_dir("usallow")
    w = Worker(helpers.serve_argv(std_config, listen=f"{host}:{port}"), helpers.cred_env(**env_extra), name=name, log_dir=d)

    def check():
        if not w.alive():
            raise AssertionError(w.describe())
    helpers.wait_tcp("127.0.0.1" if ":" not in host else "::1", port, proc_check=check)
    return w, port


def _healthz(address) -> bytes | None:
    """The answer to a raw FastCGI healthz request, or None when the worker closed unanswered."""
    params = {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/healthz", "QUERY_STRING": ""}
    c = Connection(address)
    try:
        return c.request(params).raw
    except (ConnectionError, OSError):
        return None
    finally:
        c.close()


def test_a_peer_not_in_fcgi_web_server_addrs_is_refused(std_config):
    w, port = _tcp_worker(std_config, "0.0.0.0", {"FCGI_WEB_SERVER_ADDRS": "10.9.9.9, 192.0.2.1"}, "allow-refuse")
    try:
        assert _healthz(("127.0.0.1", port)) is None, "a peer not on the list was answered"
        events = helpers.log_events(w)
        assert any("not in FCGI_WEB_SERVER_ADDRS" in e.get("event", "") for e in events), w.log()[-2000:]
        assert not any("whoever reaches the port" in e.get("msg", "") for e in events), "warned although a list is set"
        assert w.alive()
        assert_terminates_cleanly(w)
    finally:
        w.stop()


@pytest.mark.parametrize("host,peer,allowed", [
    ("0.0.0.0", "127.0.0.1", "10.9.9.9,127.0.0.1"),
    ("::", "::1", " ::1 "),
    ("::", "127.0.0.1", "127.0.0.1"),      # an IPv4 peer on a dual-stack socket arrives IPv4-mapped
])
def test_a_peer_in_fcgi_web_server_addrs_is_served(std_config, host, peer, allowed):
    w, port = _tcp_worker(std_config, host, {"FCGI_WEB_SERVER_ADDRS": allowed}, "allow-serve")
    try:
        out = _healthz((peer, port))
        assert out is not None and b'"status":"ok"' in out, f"{out!r}\n{w.log()[-2000:]}"
        assert_terminates_cleanly(w)
    finally:
        w.stop()


def test_an_open_tcp_port_without_an_allow_list_is_warned_about(std_config):
    w, port = _tcp_worker(std_config, "0.0.0.0", {}, "allow-warn")
    try:
        assert _healthz(("127.0.0.1", port)) is not None, "no list: any peer is served"
        warnings = [e for e in helpers.log_events(w) if e.get("level") == "warning" and "FCGI_WEB_SERVER_ADDRS" in e.get("msg", "")]
        assert warnings, w.log()[-2000:]
        assert_terminates_cleanly(w)
    finally:
        w.stop()


def test_loopback_tcp_is_not_warned_about(std_config):
    w, port = _tcp_worker(std_config, "127.0.0.1", {}, "allow-loopback")
    try:
        assert _healthz(("127.0.0.1", port)) is not None
        assert "FCGI_WEB_SERVER_ADDRS" not in w.log(), w.log()[-2000:]
        assert_terminates_cleanly(w)
    finally:
        w.stop()


def test_a_malformed_fcgi_web_server_addrs_stops_the_start(std_config):
    port = helpers.free_port()
    r = subprocess.run(helpers.serve_argv(std_config, listen=f"0.0.0.0:{port}"),
                       env=helpers.cred_env(FCGI_WEB_SERVER_ADDRS="10.0.0.1,not-an-address"),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert "not-an-address" in r.stderr and "FCGI_WEB_SERVER_ADDRS" in r.stderr, r.stderr[-2000:]
