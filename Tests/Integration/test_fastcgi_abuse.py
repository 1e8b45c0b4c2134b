"""Raw FastCGI abuse straight at the worker's socket (issue 7).

libfcgi (Debian 2.4.2-2+deb12u1) adds a PARAMS name and value length without an overflow check
and asserts on the failed allocation, so one crafted record would abort the whole worker. upsign
peeks at each request's records and checks them before libfcgi reads them.

The shared worker (`rig`, below) is abused by raw-socket clients while a well-behaved client keeps
asking for signed policies on other connections: truncated records, wrong versions, unknown record
types, huge name-value lengths, interleaved request ids, clients that stall or close early, a burst
of dropped connections. Every case ends with a signed 200 for a good client; the last tests check
that stalled clients were cut off (or served) as the worker's timeouts say, and that the process is
alive, without a crash on stderr, with its open descriptors back to the baseline and its resident
memory grown by less than RSS_GROWTH_LIMIT_KIB.

The worker's read timeout is the arrival timeout of FastCGIServer.awaitRequest: 30 s for a whole
request (BEGIN_REQUEST, the PARAMS stream and the STDIN stream) once its first byte is queued,
and for a new connection's first byte; its wait counts 30 100 pauses of at least 1 ms, so it gives
up 30-36 s after the last byte (about 34 s measured). The stalls run in the background from the
start of the module, so the whole file stays under a minute.

Four tests here pinned worker defects found while writing them (a GET_VALUES overrunning
libfcgi's answer buffer, management records with huge lengths inside the body, a closed peer
noticed only after the arrival timeout, unknown management records dropping the connection);
they were fixed in FastCGIServer and RecordCheck.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

import helpers
from harness.fastcgi import (ABORT, ARRIVAL_TIMEOUT, BEGIN, CANT_MPX_CONN, END, GET_VALUES,
                             GET_VALUES_RESULT, PARAMS, POST_BODY, STDIN, UNKNOWN_TYPE, Connection, begin,
                             connect, encode_params, good_params, params_stream, parse_records, post_params,
                             record, request_start, status_of, stdout_of)
from harness.processes import crash_lines, fd_count, rss_kib
from helpers import Worker

ARRIVAL_GIVE_UP = ARRIVAL_TIMEOUT * 1.3  # the latest the worker may still hold a stalled start
STALL_SECONDS = ARRIVAL_GIVE_UP + 1     # a stalled client sleeps longer than any worker timeout
THREADS = helpers.STANDARD_SERVER["threads"]   # 16
# Resident memory may grow by less than this over the module, measured after the warm-up (the
# start-up trim has run, every thread has served requests, so its malloc arena and stack pages are
# resident). Measured: +210 to +270 KiB. What may legitimately still grow: pages of a thread's
# 144 KiB peek buffer touched for the first time (one case below sends 131 KB of params), a few
# arena pages. The module opens about 3,500 connections (the background client, each case): a
# leak of more than about 600 bytes per connection (libfcgi's streams alone are 8 + 8 + 0.5 KiB)
# or of a peek per abuse case would exceed 2 MiB, which is also the bound the issue suggests.
RSS_GROWTH_LIMIT_KIB = 2048


# --------------------------------------------------------------------------------------------
# Raw records


def read_answer(s: socket.socket, timeout: float = 5.0, until_end: int | None = None):
    """Reads until the worker closes, resets, or (until_end) sends END_REQUEST for that id.
    Returns (records, how) with how in eof / reset / timeout / end."""
    s.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    while True:
        if until_end is not None and any(t == END and r == until_end for t, r, _ in parse_records(buf)):
            return parse_records(buf), "end"
        left = deadline - time.monotonic()
        if left <= 0:
            return parse_records(buf), "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return parse_records(buf), "timeout"
        except (ConnectionResetError, BrokenPipeError):
            return parse_records(buf), "reset"
        if not chunk:
            return parse_records(buf), "eof"
        buf += chunk


def send_quietly(s: socket.socket, data: bytes) -> bool:
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


# --------------------------------------------------------------------------------------------
# The shared worker and its well-behaved clients


class Rig:
    """One worker (16 threads) abused by the tests of this module, with a background client that
    keeps asking for signed policies, each on a new connection, the whole time."""

    def __init__(self, config: Path, profiles: dict):
        self.profiles = profiles
        d = helpers.scratch_dir("usabr")
        self.sock = d / "rig.sock"
        self.worker = Worker(helpers.serve_argv(config, listen=f"unix:{self.sock}"), helpers.cred_env(),
                             name="abuse-rig", log_dir=d)
        self.t_start = time.monotonic()
        helpers.wait_unix_socket(self.sock, self.worker)
        self.pid = self.worker.pid
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.served = 0
        self.failures: list[str] = []
        self.last_partial_close = 0.0   # when a connection was last closed inside a request start
        self.stalls: dict[str, dict] = {}
        self.client_socks: list[socket.socket] = []
        self.stall_threads: list[threading.Thread] = []
        self.threads: list[threading.Thread] = []   # every thread of ours, stalls included
        self.fd_baseline = self.rss_baseline = 0

    # -- well-behaved requests

    def good(self, user: str = "good-user", record: bool = True) -> None:
        """One signed policy on a new connection, checked against the contract and the SDK."""
        t0 = time.time()
        c = Connection(str(self.sock))
        try:
            r = c.request(good_params(user), keep_conn=False)
        finally:
            c.close()
        if record:
            helpers.RESPONSE_BODIES.append(("abuse good", r.raw))
        assert r.status == 200, f"good request answered {r.status}: {r.raw[:300]!r}"
        helpers.check_signed(json.loads(r.body), fmt="java", prof=self.profiles["avatar"],
                             profile_name="avatar", user=user, filename="a.jpg", size=100,
                             now_window=(t0, time.time()))

    def _background(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                self.good(f"bg{n % 7}", record=n % 50 == 1)
                with self.lock:
                    self.served += 1
            except Exception as e:   # noqa: BLE001 - every failure is reported by the tests
                with self.lock:
                    self.failures.append(f"{time.monotonic() - self.t_start:.2f}s: {e!r}"[:400])
            self.stop.wait(0.01)

    def start_background(self) -> None:
        t = threading.Thread(target=self._background, name="good-client", daemon=True)
        t.start()
        self.threads.append(t)

    # -- state of the process

    def assert_healthy(self) -> None:
        assert self.worker.alive(), f"the worker died: {self.worker.describe()}"
        crashed = crash_lines(self.worker.log())
        assert not crashed, f"crash on the worker's stderr: {crashed[:5]}\n{self.worker.log()[-3000:]}"
        with self.lock:
            failures = list(self.failures)
        assert not failures, f"the well-behaved client failed {len(failures)} time(s): {failures[:5]}"

    def wait_served_past(self, mark: int, timeout: float = 5.0) -> None:
        """Waits until the background client completes a request started after `mark`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.served >= mark + 2:
                    return
            time.sleep(0.01)
        raise AssertionError(f"the well-behaved client was not served within {timeout}s "
                             f"(served {self.served}, mark {mark}); failures: {self.failures[:3]}")

    @contextmanager
    def case(self, name: str):
        """Runs one abuse case: the background client is served meanwhile, a good request after."""
        with self.lock:
            mark = self.served
        yield
        self.wait_served_past(mark)
        self.good(f"after-{re.sub(r'[^a-z0-9]+', '-', name.lower())[:40]}")
        self.assert_healthy()

    def partial_closed(self) -> None:
        self.last_partial_close = time.monotonic()

    # -- start-up

    def warm_up(self) -> None:
        # The start-up trim (MADV_PAGEOUT, 3 s after start) must be behind us: the pages it
        # gives back come back as requests fault them in, which is not growth.
        time.sleep(max(0.0, self.t_start + 3.6 - time.monotonic()))
        # Every thread serves: one kept connection per thread, several rounds.
        conns = [Connection(str(self.sock)) for _ in range(THREADS)]
        try:
            for rnd in range(4):
                for i, c in enumerate(conns):
                    r = c.request(good_params(f"warm{i}"), keep_conn=True)
                    assert r.status == 200, r.raw[:300]
        finally:
            for c in conns:
                c.close()
        # The refusal, error and peer-gone paths once each.
        s = connect(self.sock)
        s.sendall(begin(version=2) + params_stream(good_params("w")))
        read_answer(s, 2)
        s.close()
        s = connect(self.sock)
        s.sendall(request_start(post_params("w")) + record(STDIN, 1, POST_BODY[:5]) + record(STDIN, 1))
        read_answer(s, 2)
        s.close()
        s = connect(self.sock)
        s.sendall(request_start(good_params("w")) + record(STDIN, 1))
        s.close()
        for i in range(40):
            self.good(f"warm-seq{i}", record=False)

    def measure_baseline(self) -> None:
        # Idle: no client connection left; the count must stay put for half a second.
        deadline = time.monotonic() + 10
        last, stable_since = fd_count(self.pid), time.monotonic()
        while time.monotonic() - stable_since < 0.5:
            assert time.monotonic() < deadline, "the worker's descriptor count never settled"
            time.sleep(0.05)
            n = fd_count(self.pid)
            if n != last:
                last, stable_since = n, time.monotonic()
        self.fd_baseline = last
        self.rss_baseline = rss_kib(self.pid)

    def close(self) -> None:
        self.stop.set()
        # Stalled clients still waiting (only when a subset of the module ran) wake up now.
        for s in self.client_socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(timeout=10)
        self.worker.stop()


# -- stalled clients, started with the rig so that their 30+ s run alongside the other tests


def _stall_start(rig: Rig, name: str, payload: bytes, rest: bytes) -> None:
    """Sends `payload` (part of a request start), then waits for the worker to give up on it:
    it must close the connection once its arrival timeout has passed."""
    info = rig.stalls[name]
    try:
        s = connect(rig.sock)
        rig.client_socks.append(s)
        s.sendall(payload)
        t0 = time.monotonic()
        _, how = read_answer(s, STALL_SECONDS)
        info["closed_after"] = time.monotonic() - t0 if how in ("eof", "reset") else None
        info["how"] = how
        # Waking up, the client sends the rest: nothing may be answered on a dropped start.
        send_quietly(s, rest)
        records, _ = read_answer(s, 2)
        info["late_answer"] = stdout_of(records)
        s.close()
    except Exception as e:   # noqa: BLE001
        info["error"] = repr(e)


def _stall_body(rig: Rig, name: str) -> None:
    """A whole request start and half the body, then a stall longer than any timeout of the
    worker, then the rest of the body: a body has no timeout, so the request is answered (a
    worker that does time bodies out would close the connection instead, also acceptable)."""
    info = rig.stalls[name]
    try:
        user = "stalled-body"
        s = connect(rig.sock)
        rig.client_socks.append(s)
        t_req = time.time()
        s.sendall(request_start(post_params(user)) + record(STDIN, 1, POST_BODY[:9]))
        t0 = time.monotonic()
        _, how = read_answer(s, STALL_SECONDS)
        info["how"] = how
        if how in ("eof", "reset"):
            info["closed_after"] = time.monotonic() - t0
            s.close()
            return
        s.sendall(record(STDIN, 1, POST_BODY[9:]) + record(STDIN, 1))
        records, how = read_answer(s, 10, until_end=1)
        out = stdout_of(records)
        info["status"] = status_of(records)
        if info["status"] == 200:
            body = json.loads(out.partition(b"\r\n\r\n")[2])
            helpers.RESPONSE_BODIES.append(("abuse stalled body", out))
            helpers.check_signed(body, fmt="java", prof=rig.profiles["avatar"], profile_name="avatar",
                                 user=user, filename="b.png", size=200, now_window=(t_req, time.time()))
            info["signed"] = True
        else:
            info["answer"] = out[:300]
        s.close()
    except Exception as e:   # noqa: BLE001
        info["error"] = repr(e)


def start_stalls(rig: Rig) -> None:
    start = request_start(good_params("stalled"))
    cases = {
        "half a header": (start[:4], start[4:]),
        "half the PARAMS content": (start[:16 + 8 + 20], start[16 + 8 + 20:]),
    }
    for name, (payload, rest) in cases.items():
        rig.stalls[name] = {}
        t = threading.Thread(target=_stall_start, args=(rig, name, payload, rest), daemon=True)
        t.start()
        rig.stall_threads.append(t)
    rig.stalls["half the body"] = {}
    t = threading.Thread(target=_stall_body, args=(rig, "half the body"), daemon=True)
    t.start()
    rig.stall_threads.append(t)
    rig.threads.extend(rig.stall_threads)


@pytest.fixture(scope="module")
def rig(std_config, std_profiles):
    r = Rig(std_config, std_profiles)
    try:
        r.warm_up()
        r.measure_baseline()
        start_stalls(r)
        r.start_background()
        yield r
    finally:
        r.close()


# --------------------------------------------------------------------------------------------
# Abuse cases on the shared worker. Those that leave a request start unfinished hold a thread
# until the arrival timeout, so they come first.


TRUNCATED_STARTS = {
    # name: bytes sent before the close, all inside the request start
    "header cut at 3 bytes": begin()[:3],
    "header cut at 7 bytes": begin()[:7],
    "BEGIN content cut short": begin()[:12],
    "PARAMS header cut short": begin() + record(PARAMS, 1, b"\x03\x01abcd")[:5],
    "PARAMS content cut short": begin() + record(PARAMS, 1, encode_params(good_params("t")))[:40],
    "close after BEGIN": begin(),
    "close after PARAMS without its end": begin() + record(PARAMS, 1, encode_params(good_params("t"))),
}


@pytest.mark.parametrize("name", list(TRUNCATED_STARTS))
def test_truncated_request_start_then_close(rig, name):
    with rig.case(name):
        s = connect(rig.sock)
        s.sendall(TRUNCATED_STARTS[name])
        time.sleep(0.05)
        s.close()
        rig.partial_closed()


def test_truncated_records_inside_the_body(rig):
    """Past the request start libfcgi reads: a cut record there ends the body early (400, or the
    answer is lost on the closed connection); the worker frees the connection at once."""
    start = request_start(post_params("cut"))
    cases = {
        "STDIN header cut short": start + record(STDIN, 1, POST_BODY)[:5],
        "STDIN content cut short": start + record(STDIN, 1, POST_BODY)[:8 + 7],
        "padding cut short": start + record(STDIN, 1, POST_BODY, pad=200)[:8 + len(POST_BODY) + 3],
    }
    for name, payload in cases.items():
        with rig.case(name):
            s = connect(rig.sock)
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            records, how = read_answer(s, 5)
            s.close()
            assert how in ("eof", "reset"), f"{name}: the worker kept a connection whose peer is gone ({how})"
            st = status_of(records)
            # With the whole body there and only the padding cut, answering is fine.
            assert st in (None, 400) or (st == 200 and name == "padding cut short"), \
                f"{name}: answered {stdout_of(records)[:200]!r}"


def test_clients_that_close_early(rig):
    start_get = request_start(good_params("early"))
    start_post = request_start(post_params("early"))
    cases = {
        "after the whole PARAMS stream": start_get,
        "mid-STDIN": start_post + record(STDIN, 1, POST_BODY[:10]),
        "after a full request, answer unread": start_get + record(STDIN, 1),
        "after a full POST, answer unread": start_post + record(STDIN, 1, POST_BODY) + record(STDIN, 1),
    }
    for name, payload in cases.items():
        with rig.case(name):
            s = connect(rig.sock)
            s.sendall(payload)
            s.close()
    # Closed with the answer queued unread: the worker's next write or read on it is refused.
    with rig.case("answer unread, connection kept"):
        s = connect(rig.sock)
        s.sendall(request_start(good_params("early"), keep=True) + record(STDIN, 1))
        time.sleep(0.2)
        s.close()
    # A kept connection that the client drops between two requests.
    with rig.case("between two requests"):
        c = Connection(str(rig.sock))
        assert c.request(good_params("kept"), keep_conn=True).status == 200
        c.close()


@pytest.mark.parametrize("version", [0, 2, 255])
def test_wrong_versions(rig, version):
    with rig.case(f"version {version} at the start"):
        s = connect(rig.sock)
        s.sendall(begin(version=version) + params_stream(good_params("v")) + record(STDIN, 1))
        records, how = read_answer(s, 5)
        s.close()
        assert how in ("eof", "reset") and not records, \
            f"version {version}: expected the connection dropped, got {how} {records[:3]}"
    with rig.case(f"version {version} on a kept connection's second request"):
        c = Connection(str(rig.sock))
        assert c.request(good_params("v1"), keep_conn=True).status == 200
        c.sock.sendall(begin(version=version, keep=True) + params_stream(good_params("v2")) + record(STDIN, 1))
        records, how = read_answer(c.sock, 5)
        c.close()
        assert how in ("eof", "reset") and not records, \
            f"version {version} on a kept connection: got {how} {records[:3]}"
    with rig.case(f"version {version} inside the body"):
        s = connect(rig.sock)
        s.sendall(request_start(post_params("v")) + record(STDIN, 1, POST_BODY[:5])
                  + record(STDIN, 1, POST_BODY[5:], version=version) + record(STDIN, 1))
        records, how = read_answer(s, 5, until_end=1)
        s.close()
        assert status_of(records) in (None, 400), f"version {version} in the body: {stdout_of(records)[:200]!r}"
        assert how != "timeout", "the worker neither answered nor closed"
    assert f"FastCGI version {version}" in rig.worker.log(), "the bad version was not refused by upsign's check"


@pytest.mark.parametrize("rtype", [0, 12, 200, 255])
def test_a_management_record_inside_a_request_drops_the_connection(rig, rtype):
    """libfcgi would answer a management record inside a request with FCGI_UNKNOWN_TYPE (FastCGI
    1.0 section 4.2), but leaks 48 bytes for each one (found by Fuzz/, fuzz-fastcgi-records), so
    any peer could grow the worker without bound. No web server sends them: upsign drops the
    connection without an answer, and goes on serving everyone else."""
    with rig.case(f"management type {rtype} in the body"):
        s = connect(rig.sock)
        s.sendall(request_start(post_params(f"unk{rtype}")) + record(STDIN, 1, POST_BODY[:5]) + record(rtype, 0)
                  + record(STDIN, 1, POST_BODY[5:]) + record(STDIN, 1))
        records, how = read_answer(s, 5, until_end=1)
        s.close()
        assert status_of(records) is None, f"answered: {stdout_of(records)[:200]!r}"
        assert how != "timeout", "the worker neither answered nor closed"
    assert "a management record inside a request" in rig.worker.log()


def test_unknown_records_with_content_and_request_ids(rig):
    """Unknown types that carry content, or a request id: whatever the answer (libfcgi answers
    FCGI_UNKNOWN_TYPE for a management record but then reads its content as the next header, and
    treats an unknown type on the request's id as a protocol error), never a wrong 200, and the
    worker stays up."""
    start = request_start(post_params("unk"))
    cases = {
        "management type 200 with content, in the body": start + record(STDIN, 1, POST_BODY[:5])
        + record(200, 0, b"abcdefgh" * 3) + record(STDIN, 1, POST_BODY[5:]) + record(STDIN, 1),
        "type 200 on the request's id, in the body": start + record(STDIN, 1, POST_BODY[:5])
        + record(200, 1, b"abcdefgh") + record(STDIN, 1, POST_BODY[5:]) + record(STDIN, 1),
        "type 200 on another id, in the body": start + record(STDIN, 1, POST_BODY[:5])
        + record(200, 7, b"abcdefgh") + record(STDIN, 1, POST_BODY[5:]) + record(STDIN, 1),
        "type 200 on the request's id, in the params": begin() + record(200, 1, b"x" * 8)
        + params_stream(good_params("unk")) + record(STDIN, 1),
        "ABORT_REQUEST in the body": start + record(STDIN, 1, POST_BODY[:5]) + record(ABORT, 1),
    }
    for name, payload in cases.items():
        with rig.case(name):
            s = connect(rig.sock)
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            records, how = read_answer(s, 5)
            s.close()
            st = status_of(records)
            assert st in (None, 200, 400), f"{name}: {stdout_of(records)[:300]!r}"
            if st == 200:
                out = stdout_of(records)
                assert b'"key":"avatars/unk/' in out, f"{name}: a 200 for what? {out[:300]!r}"


HUGE_LENGTHS = {
    "name length 2^31-1": struct.pack(">I", 0xFFFFFFFF) + b"\x01" + b"x" * 40,
    "value length 2^31-1": b"\x04" + struct.pack(">I", 0xFFFFFFFF) + b"NAME" + b"x" * 40,
    "lengths summing past 2^31": struct.pack(">II", 0xFFFFFFF0, 0x80000010) + b"x" * 20,
    "lengths summing to 2^32 (0 mod 2^32)": struct.pack(">II", 0xFFFFFFFF, 0xFFFFFFFF) + b"y" * 64,
    "lengths summing to 2^32-2 (-2 as int)": struct.pack(">II", 0xFFFFFFFF, 0xFFFFFFFF - 2) + b"y" * 64,
    "1 MiB claimed, 20 bytes sent": struct.pack(">I", 0x80100000) + b"\x01" + b"x" * 20,
    "value overruns the record": b"\x05\xc8NAMEX",
    "a 4-byte length cut by the record end": b"\x04\x80\x00",
    "a good pair, then 2^31-1": b"\x04\x01ABCDx" + struct.pack(">I", 0xFFFFFFFF) + b"\x00",
}


@pytest.mark.parametrize("name", list(HUGE_LENGTHS))
def test_huge_name_value_lengths(rig, name):
    content = HUGE_LENGTHS[name]
    dropped_before = rig.worker.log().count("dropped a connection")
    with rig.case(name):
        s = connect(rig.sock)
        s.sendall(begin() + record(PARAMS, 1, content) + record(PARAMS, 1) + record(STDIN, 1))
        records, how = read_answer(s, 5)
        s.close()
        assert not records and how in ("eof", "reset"), f"{name}: expected the connection dropped: {how} {records[:3]}"
    with rig.case(name + " (split over two PARAMS records)"):
        s = connect(rig.sock)
        cut = min(3, len(content) - 1)
        s.sendall(begin() + record(PARAMS, 1, content[:cut]) + record(PARAMS, 1, content[cut:]) + record(PARAMS, 1)
                  + record(STDIN, 1))
        records, how = read_answer(s, 5)
        s.close()
        assert not records and how in ("eof", "reset"), f"{name} split: {how} {records[:3]}"
    with rig.case(name + " (in a GET_VALUES before BEGIN)"):
        s = connect(rig.sock)
        s.sendall(record(GET_VALUES, 0, content) + request_start(good_params("gv")) + record(STDIN, 1))
        records, how = read_answer(s, 5)
        s.close()
        assert not records and how in ("eof", "reset"), f"{name} in GET_VALUES: {how} {records[:3]}"
    assert rig.worker.log().count("dropped a connection") >= dropped_before + 3


def test_oversized_params_stream(rig):
    """More PARAMS bytes than the check admits (128 KiB), in well-formed pairs."""
    pairs = encode_params({f"HTTP_X_{i}": "v" * 30000 for i in range(5)})[:131200]
    dropped_before = rig.worker.log().count("dropped a connection")
    with rig.case("131 KB of params"):
        s = connect(rig.sock)
        send_quietly(s, begin() + b"".join(record(PARAMS, 1, pairs[i:i + 65535]) for i in range(0, len(pairs), 65535))
                     + record(PARAMS, 1) + record(STDIN, 1))
        records, how = read_answer(s, 5)
        s.close()
        assert not records and how in ("eof", "reset"), f"{how} {records[:3]}"
    assert rig.worker.log().count("dropped a connection") > dropped_before
    assert "bytes of params" in rig.worker.log()


def test_interleaved_request_ids(rig):
    """BEGIN 1, BEGIN 2, then both PARAMS streams interleaved: the worker does not multiplex. It
    may refuse the connection or answer request 2 with FCGI_CANT_MPX_CONN; never anything else for
    id 2, and never request 1 answered with request 2's parameters."""
    p1 = encode_params(good_params("one"))
    p2 = encode_params(good_params("two"))
    h1, h2 = len(p1) // 2, len(p2) // 2
    payload = (begin(1) + begin(2) + record(PARAMS, 1, p1[:h1]) + record(PARAMS, 2, p2[:h2])
               + record(PARAMS, 2, p2[h2:]) + record(PARAMS, 1, p1[h1:]) + record(PARAMS, 2) + record(PARAMS, 1)
               + record(STDIN, 2) + record(STDIN, 1))
    later = (request_start(good_params("one")) + begin(2) + params_stream(good_params("two"), 2)
             + record(STDIN, 2) + record(STDIN, 1))
    for name, data in {"two BEGINs first": payload, "BEGIN 2 after request 1's params": later}.items():
        with rig.case(name):
            s = connect(rig.sock)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            records, how = read_answer(s, 5)
            s.close()
            for t, r, c in records:
                if r == 2:
                    assert t == END and c[4] == CANT_MPX_CONN, f"{name}: id 2 got type {t} {c[:100]!r}"
            assert status_of(records) in (None, 200, 400), f"{name}: {stdout_of(records)[:300]!r}"
            if status_of(records) == 200:
                out = stdout_of(records)
                assert b"avatars/one/" in out and b"avatars/two/" not in out, f"{name}: mixed: {out[:300]!r}"
            print(f"interleaved, {name}: {how}, records {[(t, r) for t, r, _ in records]}")


def test_burst_of_dropped_connections(rig):
    """200 connections opened at once and dropped without a byte, then 200 more each dropped as
    soon as it is open (some before the worker has accepted them)."""
    with rig.case("burst of 200"):
        socks = [connect(rig.sock) for _ in range(200)]
        for s in socks:
            s.close()
        for _ in range(200):
            connect(rig.sock).close()


def test_malformed_management_records_before_begin(rig):
    """GET_VALUES is read by libfcgi; malformed or non-management ones are refused by the check."""
    with rig.case("GET_VALUES with a request id"):
        s = connect(rig.sock)
        s.sendall(record(GET_VALUES, 3, encode_params({"FCGI_MAX_CONNS": ""}))
                  + request_start(good_params("gv")) + record(STDIN, 1))
        records, how = read_answer(s, 5)
        s.close()
        assert not records and how in ("eof", "reset"), f"{how} {records[:3]}"
    with rig.case("a well-formed GET_VALUES before the request"):
        s = connect(rig.sock)
        s.sendall(record(GET_VALUES, 0, encode_params({"FCGI_MPXS_CONNS": ""}))
                  + request_start(good_params("gv")) + record(STDIN, 1))
        records, how = read_answer(s, 5, until_end=1)
        s.close()
        assert [c for t, r, c in records if t == GET_VALUES_RESULT] == [b"\x0f\x01FCGI_MPXS_CONNS0"], records[:3]
        assert status_of(records) == 200, stdout_of(records)[:300]


# --------------------------------------------------------------------------------------------
# Defects of the worker, each on a worker of its own (a crash must not take the shared one down).


def _own_worker(config: Path, name: str, threads: int | None = None):
    d = helpers.scratch_dir("usabo")
    sock = d / "o.sock"
    # No Swift backtrace on a crash: it dumps memory around the registers, and glibc's own
    # message and the exit status say enough here.
    w = Worker(helpers.serve_argv(config, listen=f"unix:{sock}", threads=threads),
               helpers.cred_env(SWIFT_BACKTRACE="enable=no"), name=name, log_dir=d)
    helpers.wait_unix_socket(sock, w)
    return w, sock


def _served(sock: Path) -> bool:
    c = Connection(str(sock))
    try:
        return c.request({"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/healthz"}).status == 200
    finally:
        c.close()


def _survives(w: Worker, sock: Path) -> None:
    deadline = time.monotonic() + 2.5   # a crash prints its backtrace first (~0.4 s)
    while time.monotonic() < deadline and w.alive() and not crash_lines(w.log()):
        time.sleep(0.1)
    assert w.alive() and not crash_lines(w.log()), f"the worker died: {crash_lines(w.log())[:4]}"
    assert _served(sock)


def test_get_values_repeating_a_variable_does_not_kill_the_worker(std_config):
    w, sock = _own_worker(std_config, "abuse-gv-repeat", threads=2)
    try:
        s = connect(sock)
        s.sendall(record(GET_VALUES, 0, encode_params({"FCGI_MAX_CONNS": ""}) * 4)
                  + request_start(good_params("gv")) + record(STDIN, 1))
        read_answer(s, 2, until_end=1)
        s.close()
        _survives(w, sock)
    finally:
        w.stop()


def test_get_values_with_huge_lengths_inside_the_body_does_not_kill_the_worker(std_config):
    w, sock = _own_worker(std_config, "abuse-gv-body", threads=2)
    try:
        s = connect(sock)
        s.sendall(request_start(post_params("gvb")) + record(STDIN, 1, POST_BODY[:5])
                  + record(GET_VALUES, 0, struct.pack(">II", 0xFFFFFFF0, 0x80000010) + b"x" * 20)
                  + record(STDIN, 1, POST_BODY[5:]) + record(STDIN, 1))
        read_answer(s, 2, until_end=1)
        s.close()
        _survives(w, sock)
    finally:
        w.stop()


def test_a_peer_gone_mid_request_start_frees_its_thread_promptly(std_config):
    w, sock = _own_worker(std_config, "abuse-peek-eof", threads=2)
    try:
        for _ in range(2):
            s = connect(sock)
            s.sendall(begin())
            s.close()
        time.sleep(0.3)
        c = Connection(str(sock))
        c.sock.settimeout(3)
        try:
            r = c.request({"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/healthz"})
        except socket.timeout:
            pytest.fail("both threads still wait on connections whose peers have closed")
        finally:
            c.close()
        assert r.status == 200
    finally:
        w.stop()


@pytest.mark.parametrize("rtype", [12, 200])
def test_unknown_management_record_before_begin_is_answered_or_ignored(rig, rtype):
    s = connect(rig.sock)
    s.sendall(record(rtype, 0, b"12345678") + request_start(good_params("ub")) + record(STDIN, 1))
    records, how = read_answer(s, 5, until_end=1)
    s.close()
    unknown = [c for t, r, c in records if t == UNKNOWN_TYPE]
    assert status_of(records) == 200, f"the request after it was not served: {how} {records[:3]}"
    assert not unknown or unknown[0][0] == rtype
    rig.assert_healthy()


# --------------------------------------------------------------------------------------------
# The first test of the file (its own worker per case), kept as it was.


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
        start = record(BEGIN, 1, struct.pack(">HB5x", 1, 0), pad=0)
        s.sendall(start + record(PARAMS, 1, params, pad=0) + record(PARAMS, 1, pad=0))
        time.sleep(1.0)
        s.close()
        # A crash prints a backtrace first, which takes a few seconds.
        time.sleep(3.0)
        assert "Assertion" not in w.log(), f"libfcgi aborted: {w.log()[-300:]}"
        assert w.alive(), f"the worker died: {w.log()[-600:]}"
        assert "dropped a connection" in w.log(), "the bad request was not refused by upsign's check"
        # And it still serves.
        c = Connection(str(sock))
        r = c.request({"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/healthz"})
        c.close()
        assert r.status == 200, r.raw
    finally:
        w.stop()


# --------------------------------------------------------------------------------------------
# Last: the stalled clients, then the state of the process.


def test_stalled_clients(rig):
    for t in rig.stall_threads:
        t.join(timeout=STALL_SECONDS + 15)
        assert not t.is_alive(), f"a stalled client is still waiting: {rig.stalls}"
    report = {k: {kk: vv for kk, vv in v.items() if kk != "late_answer"} for k, v in rig.stalls.items()}
    print(f"stalled clients: {report}")
    for name in ("half a header", "half the PARAMS content"):
        info = rig.stalls[name]
        assert "error" not in info, f"{name}: {info}"
        closed = info.get("closed_after")
        assert closed is not None, f"{name}: the worker never closed a stalled request start ({info})"
        # Closed while the client still stalled (closed_after is set only then), and not before
        # the arrival timeout: order, with no claim on how soon after it.
        assert closed >= ARRIVAL_TIMEOUT - 1, \
            f"{name}: closed after {closed:.1f}s, before the {ARRIVAL_TIMEOUT:.0f}s arrival timeout"
        assert not info["late_answer"], f"{name}: a dropped start was answered: {info['late_answer'][:200]!r}"
    body = rig.stalls["half the body"]
    assert "error" not in body, body
    assert body.get("signed") or body.get("closed_after") is not None, \
        f"a request whose body stalled was neither answered with a signed 200 nor closed: {body}"
    rig.assert_healthy()
    rig.good("after-stalls")


def test_the_worker_is_back_to_its_baseline(rig):
    rig.assert_healthy()
    rig.stop.set()
    for t in rig.threads:
        t.join(timeout=20)
    with rig.lock:
        served = rig.served
    assert served >= 100, f"the well-behaved client got only {served} answers"
    # Connections stalled inside a request are released at the arrival timeout; they were all
    # made at the start of the module.
    deadline = max(time.monotonic() + 5, rig.last_partial_close + ARRIVAL_GIVE_UP)
    fds = fd_count(rig.pid)
    while fds != rig.fd_baseline and time.monotonic() < deadline:
        time.sleep(0.1)
        fds = fd_count(rig.pid)
    links = sorted(helpers.descriptor_targets(rig.pid).values())
    assert fds == rig.fd_baseline, f"{fds} descriptors open, {rig.fd_baseline} before the abuse: {links}"
    rss = rss_kib(rig.pid)
    print(f"worker after the abuse: {served} good answers in the background; fds {rig.fd_baseline} -> {fds}; "
          f"VmRSS {rig.rss_baseline} KiB -> {rss} KiB ({rss - rig.rss_baseline:+d} KiB); "
          f"{time.monotonic() - rig.t_start:.1f}s since the worker started")
    assert rss - rig.rss_baseline < RSS_GROWTH_LIMIT_KIB, \
        f"VmRSS grew from {rig.rss_baseline} KiB to {rss} KiB (limit +{RSS_GROWTH_LIMIT_KIB} KiB)"
    rig.assert_healthy()
    rig.good("last")
