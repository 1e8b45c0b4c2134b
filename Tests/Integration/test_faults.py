"""Faults behind a supervisor and a real nginx (issue 7): the worker killed, stopped or reloaded
under load.

supervisor.py plays systemd (upsign.socket + upsign.service, Restart=always): it holds the
listening socket, so while no worker runs, nginx's new connections wait in the backlog instead
of being refused, and starts a new worker 0.1 s after one exits. nginx is configured as in
nginx.conf.example: upstream keepalive 32, fastcgi_keep_conn on, and the retry it suggests for
restarts, fastcgi_next_upstream error timeout non_idempotent.

Failures are counted on the client side (HTTP status, connection errors) and checked against
nginx's access log (status and $upstream_status of every request) and error log.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import helpers
from harness.fastcgi import Connection
from harness.nginx import Nginx
from harness.wrk import parse_wrk
from helpers import Worker

SUPERVISOR = Path(__file__).resolve().parent / "supervisor.py"
RESTART_DELAY = 0.1          # systemd's default RestartSec
THREADS = 64
CLIENTS = 32                 # concurrent HTTP clients (wrk -c32)
NEXT_UPSTREAM = "fastcgi_next_upstream error timeout non_idempotent;"   # nginx.conf.example
# nginx error-log lines that mean a connection to the worker's socket was refused or could not
# be queued: with the socket held by the supervisor there must be none.
REFUSAL = re.compile(r"connect\(\) to unix:\S+ failed \((111|11|2):|no live upstreams")
CRASH_MARKERS = ("Program crashed", "Fatal error", "stack smashing", "Assertion", "Segmentation")
QUERY = "/upload/policy?filename=load.png&size=1000"
POST_BODY = "filename=load.png&size=1000"
POST_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}
# nginx error-log lines of an attempt lost with a worker's connection: a request in flight on it,
# or one sent on it before nginx saw it closed (retried when it went on a kept connection, else
# it fails with 502). Reported, not asserted: one request can lose several attempts.
LOST_ATTEMPT = re.compile(r"upstream prematurely closed|\((104|32): (Connection reset by peer|Broken pipe)\) while")


@pytest.fixture(scope="module")
def faults_config(tmp_path_factory):
    server = dict(helpers.STANDARD_SERVER, threads=THREADS)
    return helpers.write_config(tmp_path_factory.mktemp("faults"), server=server)


# --------------------------------------------------------------------------------------------
# The supervised worker behind nginx


class Service:
    """supervisor.py running upsign, and (unless nginx=None) a private nginx in front of it."""

    def __init__(self, config: Path, nginx: str | None = NEXT_UPSTREAM):
        self.dir = helpers.scratch_dir("usflt")
        self.sock = self.dir / "upsign.sock"
        self.config = config
        argv = [sys.executable, str(SUPERVISOR), "--socket", str(self.sock), "--state", str(self.dir),
                "--restart-delay", str(RESTART_DELAY), "--", *helpers.serve_argv(config)]
        self.supervisor = Worker(argv, helpers.cred_env(), name="supervisor", log_dir=self.dir)
        helpers.LOG_FILES.append(self.dir / "worker.log")
        self.nginx = None
        try:
            self.first_pid = self.wait_worker()
            if nginx is not None:
                self.nginx = Nginx(f"unix:{self.sock}", keepalive=32, extra_location=nginx)
        except BaseException:
            self.stop()
            raise

    def events(self) -> list[dict]:
        p = self.dir / "events.jsonl"
        if not p.exists():
            return []
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]

    def worker_pid(self) -> int:
        return int((self.dir / "worker.pid").read_text())

    def wait_worker(self, after: float = 0.0, timeout: float = 10.0) -> int:
        """The pid of the first worker started after `after` (time.monotonic())."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.supervisor.alive(), f"the supervisor exited: {self.supervisor.describe()}"
            for e in self.events():
                if e["event"] == "start" and e["mono"] > after:
                    return e["pid"]
            time.sleep(0.005)
        raise AssertionError(f"no worker started within {timeout}s: {self.events()[-5:]}")

    def wait_exit(self, pid: int, timeout: float = 15.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events():
                if e["event"] == "exit" and e["pid"] == pid:
                    return e
            time.sleep(0.005)
        raise AssertionError(f"worker {pid} still running {timeout}s after the signal")

    def worker_log(self) -> str:
        p = self.dir / "worker.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def error_log(self) -> str:
        p = self.nginx.dir / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def error_log_size(self) -> int:
        p = self.nginx.dir / "error.log"
        return p.stat().st_size if p.exists() else 0

    def lost_attempts(self, start: int, end: int | None) -> int:
        p = self.nginx.dir / "error.log"
        data = p.read_bytes()[start:end].decode(errors="replace")
        return sum(1 for line in data.splitlines() if LOST_ATTEMPT.search(line))

    def warm_up(self) -> None:
        conns = [http.client.HTTPConnection("127.0.0.1", self.nginx.port, timeout=10) for _ in range(8)]
        try:
            for rnd in range(6):
                for i, c in enumerate(conns):
                    c.request("GET", QUERY, headers={"X-Test-User": f"warm{i}"})
                    r = c.getresponse()
                    body = r.read()
                    assert r.status == 200, f"{r.status} {body[:300]!r}\n{self.error_log()[-2000:]}"
        finally:
            for c in conns:
                c.close()

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        self.supervisor.stop()


def connection_count(pid: int) -> int:
    """Sockets the worker holds besides the listening one (fd 3): its connections."""
    return helpers.socket_count(pid, besides="3")


# --------------------------------------------------------------------------------------------
# Client load with a record of every request


@dataclass
class Result:
    client: int
    t0: float            # time.monotonic() when sent
    t1: float            # when the answer (or the error) came
    status: int | None   # None: no HTTP answer
    error: str | None    # a connection error, or what was wrong with a 200
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


class Load:
    """CLIENTS threads, each on its own kept-alive HTTP connection to nginx, asking for signed
    policies back to back: even clients with GET, odd ones with a form POST (retried by nginx
    only because of `non_idempotent`)."""

    def __init__(self, port: int, clients: int = CLIENTS):
        self.port = port
        self.stop_event = threading.Event()
        self.results: list[Result] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)]

    def _client(self, i: int) -> None:
        conn = None
        user = f"load{i}"
        while not self.stop_event.is_set():
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            t0 = time.monotonic()
            try:
                if i % 2:
                    conn.request("POST", "/upload/policy", body=POST_BODY,
                                 headers={"X-Test-User": user, **POST_HEADERS})
                else:
                    conn.request("GET", QUERY, headers={"X-Test-User": user})
                r = conn.getresponse()
                body = r.read()
            except (OSError, http.client.HTTPException) as e:
                res = Result(i, t0, time.monotonic(), None, repr(e))
                conn.close()
                conn = None
            else:
                error = None
                if r.status == 200 and f'"key":"avatars/{user}/'.encode() not in body:
                    error = f"a 200 without this client's key: {body[:200]!r}"
                res = Result(i, t0, time.monotonic(), r.status, error, body if r.status != 200 else b"")
                if r.will_close:
                    conn.close()
                    conn = None
            with self.lock:
                self.results.append(res)
        if conn is not None:
            conn.close()

    def start(self) -> "Load":
        for t in self.threads:
            t.start()
        return self

    def stop(self) -> list[Result]:
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=30)
        with self.lock:
            return sorted(self.results, key=lambda r: r.t0)

    def count(self) -> int:
        with self.lock:
            return len(self.results)


def in_flight(results: list[Result], t: float) -> int:
    return sum(1 for r in results if r.t0 < t < r.t1)


def describe_failures(failed: list[Result], base: float) -> str:
    return "; ".join(f"client {r.client} sent {r.t0 - base:+.3f}s answered {r.t1 - base:+.3f}s: "
                     f"{r.status} {r.error or r.body[:120]!r}" for r in failed[:8])


def check_no_refusals(svc: Service) -> None:
    refusals = [line for line in svc.error_log().splitlines() if REFUSAL.search(line)]
    assert not refusals, f"nginx could not connect to the held socket: {refusals[:5]}"


def check_no_crash(svc: Service) -> None:
    crashed = [line for line in svc.worker_log().splitlines() if any(m in line for m in CRASH_MARKERS)]
    assert not crashed, f"a worker crashed: {crashed[:5]}\n{svc.worker_log()[-3000:]}"


@pytest.fixture
def service(nginx_bin, faults_config):
    svc = Service(faults_config)
    yield svc
    svc.stop()


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("retry", ["non_idempotent", "default"])
def test_sigkill_under_load(nginx_bin, faults_config, retry):
    """SIGKILL three times under load: no refusal, only requests in flight in the killed worker
    fail, and a new worker answers (how soon is printed, not asserted). nginx retries a request lost on a
    kept connection: with nginx.conf.example's `fastcgi_next_upstream ... non_idempotent`, POSTs
    too; with nginx's default (`retry=default`) only GETs, so the POSTs in flight fail."""
    svc = Service(faults_config, nginx=NEXT_UPSTREAM if retry == "non_idempotent" else "")
    try:
        _sigkill_under_load(svc, retry)
    finally:
        svc.stop()


def _sigkill_under_load(svc: Service, retry: str) -> None:
    svc.warm_up()
    logged_before = len(svc.nginx.access_statuses())
    load = Load(svc.nginx.port).start()
    kills = []
    try:
        time.sleep(1.5)
        for n in range(3):
            pid = svc.worker_pid()
            conns = connection_count(pid)
            log_at = svc.error_log_size()
            t_kill = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            exit_event = svc.wait_exit(pid)
            new_pid = svc.wait_worker(after=exit_event["mono"])
            kills.append({"pid": pid, "conns": conns, "t_kill": t_kill, "t_exit": exit_event["mono"],
                          "rc": exit_event["rc"], "new_pid": new_pid, "log_at": log_at})
            time.sleep(1.5)
    finally:
        results = load.stop()
    base = results[0].t0
    failed = [r for r in results if not r.ok]
    lines = []
    for i, k in enumerate(kills):
        assert k["rc"] == -signal.SIGKILL, k
        until = kills[i + 1]["t_kill"] if i + 1 < len(kills) else float("inf")
        # A failure belongs to this kill if it was answered after it (and before the next).
        mine = [r for r in failed if k["t_kill"] <= r.t1 < until]
        k["failed"] = len(mine)
        k["in_flight"] = in_flight(results, k["t_kill"])
        k["lost"] = svc.lost_attempts(k["log_at"], kills[i + 1]["log_at"] if i + 1 < len(kills) else None)
        later = [r for r in results if r.ok and r.t0 >= k["t_exit"]]
        assert later, f"kill {i + 1}: nothing answered after the worker died"
        k["recovery"] = min(r.t1 for r in later) - k["t_kill"]
        lines.append(f"kill {i + 1}: worker {k['pid']} held {k['conns']} connections, {k['in_flight']} "
                     f"client requests in flight; nginx lost {k['lost']} attempts with it, {k['failed']} "
                     f"failed; gone after {k['t_exit'] - k['t_kill']:.3f}s, answering again after "
                     f"{k['recovery']:.3f}s (new worker {k['new_pid']})")
        if retry == "non_idempotent":
            # Only what the killed worker had in hand may fail: sent before it was gone.
            late = [r for r in mine if r.t0 >= k["t_exit"]]
            assert not late, f"kill {i + 1}: requests sent after the worker died failed: " + describe_failures(late, base)
        else:
            # Also a POST that nginx sends on a kept connection of the dead worker before it has
            # seen that connection closed: sent before the new worker answered, never after
            # (by then nginx has dropped the dead worker's connections).
            t_back = min(r.t1 for r in later)
            slow = [r for r in mine if r.t0 > t_back]
            assert not slow, (f"kill {i + 1}: requests sent after the new worker answered failed: "
                              + describe_failures(slow, base))
        # A connection of the killed worker fails at most one request (nginx then drops it).
        assert k["failed"] <= k["conns"], (
            f"kill {i + 1}: {k['failed']} failed, more than the {k['conns']} connections of the killed "
            f"worker: " + describe_failures(mine, base))
    stray = [r for r in failed if r.t1 < kills[0]["t_kill"]]
    assert not stray, "failures before any kill: " + describe_failures(stray, base)
    summary = "\n".join(lines)
    logged = svc.nginx.access_statuses()[logged_before:]
    retried = [row for row in logged if "," in row[1]]
    print(f"SIGKILL (nginx retry: {retry}): {len(results)} requests, {len(failed)} failed, "
          f"{len(retried)} retried by nginx\n{summary}")
    # Every failure is nginx's 502 for a request the worker died with, never a client-side error,
    # and, without non_idempotent, a POST (clients with an odd number) that nginx may not resend.
    assert all(r.status == 502 for r in failed), describe_failures([r for r in failed if r.status != 502], base)
    if retry == "default":
        assert all(r.client % 2 for r in failed), describe_failures([r for r in failed if not r.client % 2], base)
    check_no_refusals(svc)
    assert len([row for row in logged if row[0] == "502"]) == len(failed), \
        f"nginx logged {[row for row in logged if row[0] != '200'][:10]}, the clients saw {len(failed)} failures"
    assert len(results) > 300, f"only {len(results)} requests: the load proved little"
    check_no_crash(svc)


def test_sigterm_under_load_fails_nothing(service):
    """SIGTERM three times under load: each worker finishes what it has, exits 0, and the
    supervisor's next worker takes the connections queued meanwhile; no request fails.

    The stopping worker closes its idle kept-alive connections; nginx may have just sent a request
    on one, and then resends it on a new connection (for POST thanks to non_idempotent): those
    show as retries ("502, 200") in the access log, never as failures. A new connection that
    the stopping worker has accepted is answered before it exits
    (test_sigterm_answers_a_connection_it_has_accepted): nginx does not retry a request on a new
    connection, and before that fix 9 requests failed with 502 in 102 SIGTERMs with upstream
    keepalive 1 ("upstream prematurely closed connection while reading response header")."""
    svc = service
    svc.warm_up()
    logged_before = len(svc.nginx.access_statuses())
    load = Load(svc.nginx.port).start()
    stops = []
    try:
        time.sleep(1.5)
        for n in range(3):
            pid = svc.worker_pid()
            conns = connection_count(pid)
            t_term = time.monotonic()
            os.kill(pid, signal.SIGTERM)
            exit_event = svc.wait_exit(pid)
            new_pid = svc.wait_worker(after=exit_event["mono"])
            stops.append({"pid": pid, "conns": conns, "t_term": t_term, "t_exit": exit_event["mono"],
                          "rc": exit_event["rc"], "new_pid": new_pid})
            time.sleep(1.5)
    finally:
        results = load.stop()
    base = results[0].t0
    failed = [r for r in results if not r.ok]
    logged = svc.nginx.access_statuses()[logged_before:]
    for s in stops:
        s["in_flight"] = in_flight(results, s["t_term"])
        s["failed"] = sum(1 for r in failed if s["t_term"] <= r.t1 < s["t_exit"] + 1)
        later = [r for r in results if r.ok and r.t0 >= s["t_exit"]]
        s["recovery"] = min(r.t1 for r in later) - s["t_term"] if later else None
    summary = "\n".join(
        f"SIGTERM {i + 1}: worker {s['pid']} held {s['conns']} connections, {s['in_flight']} requests in "
        f"flight; exited {s['rc']} after {s['t_exit'] - s['t_term']:.3f}s; {s['failed']} failed; new worker "
        f"{s['new_pid']} answering after {s['recovery']:.3f}s" for i, s in enumerate(stops))
    print(f"SIGTERM: {len(results)} requests, {len(failed)} failed\n{summary}")
    retried = [row for row in logged if row[0] == "200" and "," in row[1]]
    assert not failed, (
        f"{len(failed)} of {len(results)} requests failed across the SIGTERMs:\n{summary}\n"
        + describe_failures(failed, base) + f"\nnginx non-200: {[r for r in logged if r[0] != '200'][:10]}"
        f"\nnginx error log:\n{svc.error_log()[-3000:]}")
    assert not [row for row in logged if row[0] != "200"], f"nginx logged failures: {logged[:10]}"
    for s in stops:
        assert s["rc"] == 0, f"worker {s['pid']} exited {s['rc']} after SIGTERM:\n{svc.worker_log()[-2000:]}"
    assert len(results) > 300, f"only {len(results)} requests: the load proved little"
    check_no_refusals(svc)
    check_no_crash(svc)
    print(f"nginx retried {len(retried)} request(s) on a new connection")


def test_sigterm_answers_a_connection_it_has_accepted(faults_config):
    """The web server's side of the race behind nginx's rare 502 at a SIGTERM (see the report in
    test_sigterm_under_load_fails_nothing): a new connection, accepted by the worker, whose
    request comes a moment after the SIGTERM, must still be answered (or never have been
    accepted, and so be left in the backlog for the next worker)."""
    svc = Service(faults_config, nginx=None)
    try:
        pid = svc.first_pid
        c = Connection(str(svc.sock))
        deadline = time.monotonic() + 5
        while connection_count(pid) < 1:
            assert time.monotonic() < deadline, "the worker never accepted the connection"
            time.sleep(0.01)
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.05)
        try:
            r = c.request({"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/healthz"}, keep_conn=False)
        except (ConnectionError, OSError) as e:
            pytest.fail(f"the stopping worker closed an accepted connection without answering its request: {e!r}")
        finally:
            c.close()
        assert r.status == 200, r.raw[:200]
        assert svc.wait_exit(pid)["rc"] == 0
    finally:
        svc.stop()


def _wrk(url: str, seconds: int) -> subprocess.Popen:
    wrk = shutil.which("wrk")
    if not wrk:
        pytest.fail("wrk not installed (deploy/install-deps.sh installs it)")
    return subprocess.Popen([wrk, "-t2", f"-c{CLIENTS}", f"-d{seconds}s", "--timeout", "10s",
                             "-H", "X-Test-User: loader", url],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_reloads(svc, count: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while svc.worker_log().count('"configuration reloaded"') < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_sighup_under_load_fails_nothing(service):
    """SIGHUP under wrk's 32 connections, alternately with the same configuration and with a
    changed one: the same worker goes on, every answer is a 200, and the last configuration is
    the one in force."""
    svc = service
    svc.warm_up()
    same = svc.config.read_text()
    changed_profiles = helpers.standard_profiles()
    changed_profiles["avatar"] = helpers.profile(
        bucket="reloaded-bucket", endpoint="https://reloaded-bucket.oss-cn-hangzhou.aliyuncs.com")
    changed = helpers.toml_text(dict(helpers.STANDARD_SERVER, threads=THREADS), changed_profiles)
    pid = svc.worker_pid()
    logged_before = len(svc.nginx.access_statuses())
    reloads_before = svc.worker_log().count('"configuration reloaded"')
    load = _wrk(svc.nginx.url(QUERY), 12)
    hups = 0
    try:
        time.sleep(1.0)
        for i in range(8):
            # Odd reloads change the avatar profile's bucket; the config file is replaced whole.
            text = changed if i % 2 == 0 else same
            tmp = svc.config.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, svc.config)
            os.kill(pid, signal.SIGHUP)
            hups += 1
            # Signals sent while a reload runs merge into one: wait for this one to apply.
            _wait_for_reloads(svc, reloads_before + hups)
            time.sleep(0.3)
        # Last: back to the changed one, then a quiet moment for it to apply.
        svc.config.write_text(changed)
        os.kill(pid, signal.SIGHUP)
        hups += 1
        _wait_for_reloads(svc, reloads_before + hups)
        out, _ = load.communicate(timeout=40)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
        svc.config.write_text(same)
    res = parse_wrk(out)
    logged = svc.nginx.access_statuses()[logged_before:]
    # 499: wrk closing its connections with requests in flight when its time is up.
    non200 = [row for row in logged if row[0] not in ("200", "499")]
    reloads = svc.worker_log().count('"configuration reloaded"') - reloads_before
    print(f"SIGHUP: {hups} reloads under load; wrk {res}; nginx logged {len(logged)} requests, "
          f"{len(non200)} not 200; worker reloaded {reloads} times")
    assert svc.worker_pid() == pid and svc.events()[-1]["event"] == "start", \
        f"the worker was restarted: {svc.events()[-4:]}"
    assert res["requests"] > 300, out
    assert res["non2xx"] == 0 and res["socket_errors"] == 0 and not non200, (
        f"requests failed across the reloads: wrk {res}, nginx {non200[:10]}\n{out}\n"
        f"nginx error log:\n{svc.error_log()[-3000:]}")
    assert reloads == hups, f"{hups} SIGHUPs but {reloads} 'configuration reloaded' lines"
    r = svc.nginx  # the changed configuration is in force
    conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=10)
    conn.request("GET", QUERY, headers={"X-Test-User": "after-hup"})
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200 and json.loads(body)["url"] == "https://reloaded-bucket.oss-cn-hangzhou.aliyuncs.com", body
    check_no_refusals(svc)
    check_no_crash(svc)
