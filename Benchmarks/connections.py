#!/usr/bin/env python3
"""Connection handling of a FastCGI worker behind its own nginx: what holding, churning and
refusing connections cost. Prints one small table.

  (1) hold: K (default 1,000) raw FastCGI connections, one request each with FCGI_KEEP_CONN,
      held idle while nginx (upstream keepalive 32, fastcgi_keep_conn on) and wrk -t1 -c32 load
      the same worker: req/s, errors (socket errors + non-2xx), the worker's VmRSS while holding,
      and how many of the K answer a second request afterwards (a thread-per-connection worker
      closes the ones it has no thread for, or leaves them waiting).
  (2) churn: N (default 10,000) connections, 500 at a time, each sending part of a request
      (nothing, half a record header, BEGIN only, BEGIN and half the params, the params and half
      the body) and closed: the worker's open descriptors and VmRSS before and after (after its
      descriptor count has settled, at most 15 s).
  (3) many: nginx with upstream keepalive 512 and wrk -t2 -c600 GET: req/s, p99, errors, and how
      many requests nginx had to resend on a new connection because the worker closed a kept one
      (nginx hides those from the client for GET).
  (4) oversize: P (default 20,000) POSTs of 200 KB bodies (over deploy/demo.toml's max_body of
      64 KiB; nginx's client_max_body_size is 1m) at 64 connections, through the keepalive-512
      nginx without `fastcgi_next_upstream ... non_idempotent`: how many were answered 413 (with
      upsign's body_too_large error), how many 502 (the worker reset a connection nginx was
      still writing the body to).

The worker is started here, on a unix socket in a temporary folder, with deploy/demo.toml's fake
credentials; by default `.build/release/upsign serve --config deploy/demo.toml --listen
unix:{sock}` ($UPSIGN_BIN or --bin for another binary, --worker for another command line, which
must contain {sock}). Nothing needs the event-driven build: an older worker shows its failures in
the table. nginx runs from the same temporary folder (one worker process unless --nginx-workers)
and passes UPSIGN_USER=bench-user, like ../shared/bench/run.py.

Needs nginx and wrk (deploy/install-deps.sh), Python 3.11, root (nginx runs `user root`) and
about 30 s of a 2-core machine at the defaults.

  python3 Benchmarks/connections.py
  python3 Benchmarks/connections.py --bin /tmp/upsign-baseline --only hold,oversize
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import selectors
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from wrk_quota import run_oversize

ROOT = Path(__file__).resolve().parents[1]
FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"
# deploy/demo.toml's fake credentials (deploy/demo.sh, Benchmarks/stack.sh): nothing here talks to a store.
DEMO_ENV = {"OSS_ACCESS_KEY_ID": "LTAI5tDemoDemoDemoDemo0000",
            "OSS_ACCESS_KEY_SECRET": "demo-secret-not-a-real-key-0000000000"}
FOREIGN_ENV = re.compile(r"^(OSS_|ALIBABA_CLOUD_|AWS_|TENCENTCLOUD_|OBS_|QINIU_|GCS_|LISTEN_)")
USER = "bench-user"
QUERY = "/upload/policy?filename=a.jpg&size=100"
SECTIONS = ("hold", "churn", "many", "oversize")


class SetupError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# FastCGI records

BEGIN, PARAMS, STDIN, STDOUT, END = 1, 4, 5, 6, 3


def rec(rtype: int, content: bytes = b"", rid: int = 1) -> bytes:
    pad = (-len(content)) % 8
    return struct.pack(">BBHHBx", 1, rtype, rid, len(content), pad) + content + b"\0" * pad


def encode_params(params: dict[str, str]) -> bytes:
    def ln(n: int) -> bytes:
        return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    out = b""
    for k, v in params.items():
        kb, vb = k.encode(), v.encode()
        out += ln(len(kb)) + ln(len(vb)) + kb + vb
    return out


def begin(keep: bool) -> bytes:
    return rec(BEGIN, struct.pack(">HB5x", 1, 1 if keep else 0))


GET_PARAMS = {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/policy", "QUERY_STRING": "filename=a.jpg&size=100",
              "UPSIGN_USER": USER, "CONTENT_LENGTH": ""}
POST_BODY = b"filename=b.png&size=200"
POST_PARAMS = {"REQUEST_METHOD": "POST", "DOCUMENT_URI": "/upload/policy", "QUERY_STRING": "",
               "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(POST_BODY)),
               "UPSIGN_USER": USER}


def params_stream(params: dict) -> bytes:
    return rec(PARAMS, encode_params(params)) + rec(PARAMS)


KEPT_REQUEST = begin(True) + params_stream(GET_PARAMS) + rec(STDIN)


def parse_records(buf: bytes):
    out = []
    while len(buf) >= 8:
        _, t, rid, clen, plen = struct.unpack(">BBHHBx", buf[:8])
        if len(buf) < 8 + clen + plen:
            break
        out.append((t, rid, buf[8:8 + clen]))
        buf = buf[8 + clen + plen:]
    return out


def answer_status(records) -> int | None:
    out = b"".join(c for t, _, c in records if t == STDOUT)
    if not out:
        return None
    m = re.search(rb"^Status: (\d{3})", out, re.M)
    return int(m.group(1)) if m else 200


def round_trip_all(socks: list[socket.socket], payload: bytes, timeout: float) -> list[str]:
    """Sends `payload` on every socket and reads every answer at once: per socket "200" (or the
    status answered), "closed" (EOF, reset, or the send failed) or "unanswered"."""
    result: list[str | None] = [None] * len(socks)
    bufs = [b""] * len(socks)
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        s.settimeout(10)
        try:
            s.sendall(payload)
        except OSError:
            result[i] = "closed"
            continue
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    pending = sum(1 for r in result if r is None)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(min(0.5, max(0.0, deadline - time.monotonic()))):
            i, s = key.data, key.fileobj
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                result[i] = "closed"
            else:
                bufs[i] += chunk
                recs = parse_records(bufs[i])
                if any(t == END for t, _, _ in recs):
                    result[i] = str(answer_status(recs))
            if result[i] is not None:
                sel.unregister(s)
                pending -= 1
    sel.close()
    for s in socks:
        try:
            s.setblocking(True)
        except OSError:
            pass
    return [r if r is not None else "unanswered" for r in result]


def connect_unix(path: Path) -> socket.socket:
    """A blocking connect, which waits while the listening socket's backlog is full (a
    non-blocking one, as Python makes it with a timeout set, fails with EAGAIN at once);
    SO_SNDTIMEO bounds that wait."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 10, 0))
    try:
        s.connect(str(path))
    except BaseException:
        s.close()
        raise
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 0, 0))
    s.settimeout(10)
    return s


# --------------------------------------------------------------------------------------------
# Processes

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
{user_line}
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log error;
events {{ worker_connections 8192; }}
http {{
    log_format st '$status $upstream_status';
    client_body_temp_path {dir}/nginx-tmp/body;
    fastcgi_temp_path {dir}/nginx-tmp/fastcgi;
    proxy_temp_path {dir}/nginx-tmp/proxy;
    uwsgi_temp_path {dir}/nginx-tmp/uwsgi;
    scgi_temp_path {dir}/nginx-tmp/scgi;
    upstream k32 {{ server unix:{sock}; keepalive 32; }}
    upstream k512 {{ server unix:{sock}; keepalive 512; }}
    # (1): as Benchmarks/stack.sh measures, upstream keepalive 32.
    server {{
        listen 127.0.0.1:{port32} backlog=4096;
        access_log {dir}/access-k32.log st;
        location /upload/ {{
            include {fastcgi_params};
            fastcgi_param UPSIGN_USER {user};
            fastcgi_keep_conn on;
            fastcgi_pass k32;
        }}
    }}
    # (3), (4): upstream keepalive 512, bodies up to 1m (over upsign's max_body), kept in memory;
    # no `fastcgi_next_upstream ... non_idempotent`, so a POST lost on a kept connection is a 502.
    server {{
        listen 127.0.0.1:{port512} backlog=4096;
        access_log {dir}/access-k512.log st;
        location /upload/ {{
            client_max_body_size 1m;
            client_body_buffer_size 1m;
            include {fastcgi_params};
            fastcgi_param UPSIGN_USER {user};
            fastcgi_keep_conn on;
            fastcgi_pass k512;
        }}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Rig:
    def __init__(self, a, run: Path):
        self.a = a
        self.run = run
        self.sock = run / "worker.sock"
        self.worker: subprocess.Popen | None = None
        self.nginx: subprocess.Popen | None = None
        self.port32, self.port512 = free_port(), free_port()

    def start_worker(self) -> None:
        if self.a.worker:
            if "{sock}" not in self.a.worker:
                raise SetupError("--worker must contain {sock}")
            argv = shlex.split(self.a.worker.replace("{sock}", str(self.sock)))
        else:
            argv = [self.a.bin, "serve", "--config", str(self.a.config), "--listen", f"unix:{self.sock}"]
        if not Path(argv[0]).exists() and not shutil.which(argv[0]):
            raise SetupError(f"no worker binary at {argv[0]} (build it, or --bin / $UPSIGN_BIN)")
        self.argv = argv
        env = {k: v for k, v in os.environ.items() if not FOREIGN_ENV.match(k)}
        env.update(DEMO_ENV)
        self._log = open(self.run / "worker.log", "wb")
        self.worker = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.started = time.monotonic()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise SetupError(f"the worker exited with {self.worker.returncode}:\n"
                                 + (self.run / "worker.log").read_text(errors="replace")[-2000:])
            if self.sock.exists():
                try:
                    connect_unix(self.sock).close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        raise SetupError("the worker did not listen within 30 s")

    def start_nginx(self) -> None:
        (self.run / "nginx-tmp").mkdir(exist_ok=True)
        conf = self.run / "nginx.conf"
        conf.write_text(NGINX_CONF.format(
            dir=self.run, sock=self.sock, port32=self.port32, port512=self.port512, user=USER,
            workers=self.a.nginx_workers, fastcgi_params=FASTCGI_PARAMS,
            user_line="user root;" if os.geteuid() == 0 else ""))
        self._nlog = open(self.run / "nginx.out", "wb")
        self.nginx = subprocess.Popen(["nginx", "-p", str(self.run), "-c", str(conf), "-e",
                                       str(self.run / "nginx-error.log")],
                                      stdin=subprocess.DEVNULL, stdout=self._nlog, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.nginx.poll() is not None:
                raise SetupError("nginx exited: " + (self.run / "nginx.out").read_text(errors="replace")
                                 + (self.run / "nginx-error.log").read_text(errors="replace"))
            try:
                for port in (self.port32, self.port512):
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SetupError("nginx did not listen within 20 s")

    def stop_nginx(self) -> None:
        """Graceful stop: nginx closes its kept upstream connections."""
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()
        self._nlog.close()

    def worker_alive(self) -> bool:
        return self.worker is not None and self.worker.poll() is None

    def stop(self) -> None:
        for p in (self.nginx, self.worker):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def rss_kib(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def settled_fds(pid: int, target: int | None, guard: float) -> tuple[int, float]:
    """The worker's descriptor count once it equals `target` (or, with None, has stayed put for
    half a second), or after `guard` seconds; and the seconds waited."""
    t0 = time.monotonic()
    last, since = fd_count(pid), time.monotonic()
    while time.monotonic() - t0 < guard:
        if target is not None and last == target:
            break
        if target is None and time.monotonic() - since >= 0.5:
            break
        time.sleep(0.05)
        n = fd_count(pid)
        if n != last:
            last, since = n, time.monotonic()
    return last, time.monotonic() - t0


# --------------------------------------------------------------------------------------------
# wrk


def wrk_plain(url: str, threads: int, conns: int, seconds: int) -> dict:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s", "--latency", url],
                         capture_output=True, text=True, timeout=seconds + 120).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise SetupError(f"cannot read wrk's output:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    p99_ms = None
    if p99:
        v, unit = float(p99.group(1)), p99.group(2)
        p99_ms = v / 1000 if unit == "us" else v if unit == "ms" else v * 1000
    total = re.search(r"(\d+) requests in", out)
    return {"rps": float(m.group(1)), "requests": int(total.group(1)) if total else 0,
            "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(int(x) for x in errs.groups()) if errs else 0, "p99_ms": p99_ms}


def access_rows(path: Path, skip: int) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines()[skip:]:
        status, _, upstream = line.partition(" ")
        rows.append((status, upstream))
    return rows


def access_len(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


# --------------------------------------------------------------------------------------------
# Sections


def section_hold(a, rig: Rig, table: list) -> None:
    socks = []
    try:
        for _ in range(a.hold):
            socks.append(connect_unix(rig.sock))
        first = round_trip_all(socks, KEPT_REQUEST, timeout=90)
        held_rss = rss_kib(rig.worker.pid)
        r = wrk_plain(f"http://127.0.0.1:{rig.port32}{QUERY}", 1, 32, a.seconds)
        second = round_trip_all(socks, KEPT_REQUEST, timeout=60)
    finally:
        for s in socks:
            s.close()
    tally = lambda rs: {k: rs.count(k) for k in sorted(set(rs))}  # noqa: E731
    table += [
        ("(1) idle kept connections held", f"{a.hold:,} (first request: {tally(first)})"),
        ("(1) nginx keepalive 32 + wrk -c32: req/s", f"{r['rps']:,.0f}"),
        ("(1)   errors (socket + non-2xx)", f"{r['socket_errors'] + r['non2xx']:,} of {r['requests']:,}"),
        ("(1)   worker VmRSS while holding", f"{held_rss:,} KiB"),
        ("(1)   answered a second request (200)", f"{second.count('200'):,} of {a.hold:,} ({tally(second)})"),
    ]


def churn_payloads() -> list[bytes]:
    get_start = begin(False) + params_stream(GET_PARAMS)
    post_start = begin(False) + params_stream(POST_PARAMS)
    body = rec(STDIN, POST_BODY)
    return [b"", begin(False)[:4], begin(True), get_start[:16 + (len(get_start) - 16) // 2],
            post_start + body[:8 + len(POST_BODY) // 2]]


def drop(rig: Rig, count: int, batch: int) -> None:
    payloads = churn_payloads()
    n = 0
    while n < count:
        socks = []
        try:
            for _ in range(min(batch, count - n)):
                s = connect_unix(rig.sock)
                socks.append(s)
                data = payloads[n % len(payloads)]
                if data:
                    try:
                        s.sendall(data)
                    except OSError:
                        pass
                n += 1
        finally:
            for s in socks:
                s.close()


def section_churn(a, rig: Rig, table: list) -> None:
    pid = rig.worker.pid
    # Without nginx, whose kept connections the worker may hold or close meanwhile, so that the
    # descriptors counted are the churn's alone; nginx starts again afterwards.
    rig.stop_nginx()
    # The start-up trim (3 s after start) must be behind the baseline; one batch as a warm-up.
    time.sleep(max(0.0, rig.started + 3.6 - time.monotonic()))
    drop(rig, a.batch, a.batch)
    fds0, _ = settled_fds(pid, None, 10)
    rss0 = rss_kib(pid)
    t0 = time.monotonic()
    drop(rig, a.churn, a.batch)
    took = time.monotonic() - t0
    fds1, waited = settled_fds(pid, fds0, 15)
    rss1 = rss_kib(pid)
    rig.start_nginx()
    table += [
        ("(2) connections dropped mid-request", f"{a.churn:,} in {took:.1f} s, {a.batch} at a time"),
        ("(2)   worker fds before -> after", f"{fds0} -> {fds1} (waited {waited:.1f} s)"),
        ("(2)   worker VmRSS before -> after", f"{rss0:,} -> {rss1:,} KiB ({rss1 - rss0:+,} KiB)"),
    ]


def section_many(a, rig: Rig, table: list) -> None:
    log = rig.run / "access-k512.log"
    before = access_len(log)
    r = wrk_plain(f"http://127.0.0.1:{rig.port512}{QUERY}", 2, a.clients, a.seconds)
    time.sleep(0.2)
    rows = access_rows(log, before)
    resent = sum(1 for _, up in rows if "," in up)
    p99 = f"{r['p99_ms']:.1f} ms" if r["p99_ms"] is not None else "?"
    table += [
        (f"(3) nginx keepalive 512 + wrk -c{a.clients}: req/s", f"{r['rps']:,.0f}"),
        ("(3)   p99", p99),
        ("(3)   errors (socket + non-2xx)", f"{r['socket_errors'] + r['non2xx']:,} of {r['requests']:,}"),
        ("(3)   resent by nginx (worker closed a kept one)", f"{resent:,}"),
    ]


def section_oversize(a, rig: Rig, table: list) -> None:
    log = rig.run / "access-k512.log"
    before = access_len(log)
    script = rig.run / "oversize.lua"
    t0 = time.monotonic()
    r, text = run_oversize(script, a.post_size, f"http://127.0.0.1:{rig.port512}/upload/policy", a.posts, a.post_conns, 600)
    if r is None:
        raise SetupError(f"wrk gave no result:\n{text}")
    took = time.monotonic() - t0
    time.sleep(0.2)
    rows = access_rows(log, before)
    logged_502 = sum(1 for st, _ in rows if st == "502")
    c = r["counts"]
    other = {k: v for k, v in c.items() if k not in (413, 502)}
    table += [
        ("(4) oversized POSTs answered", f"{sum(c.values()):,} of {a.posts:,} ({a.post_size:,} B each, "
                                          f"-c{a.post_conns}, {took:.1f} s)"),
        ("(4)   413 (with body_too_large) / 502 / other", f"{c.get(413, 0):,} ({r['coded']:,}) / {c.get(502, 0):,} / "
                                                          f"{other or 0}"),
        ("(4)   502 in nginx's access log; socket errors", f"{logged_502:,}; {r['socket_errors']:,}"),
    ]


# --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("UPSIGN_BIN") or str(ROOT / ".build" / "release" / "upsign"),
                    help="the upsign binary (default $UPSIGN_BIN, else .build/release/upsign)")
    ap.add_argument("--config", default=str(ROOT / "deploy" / "demo.toml"))
    ap.add_argument("--worker", help="the whole worker command line instead, with {sock} for its unix socket path")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {', '.join(SECTIONS)}")
    ap.add_argument("--hold", type=int, default=1000, help="(1) idle kept connections held")
    ap.add_argument("--seconds", type=int, default=5, help="(1), (3) wrk duration")
    ap.add_argument("--churn", type=int, default=10_000, help="(2) connections dropped mid-request")
    ap.add_argument("--batch", type=int, default=500, help="(2) connections open at once")
    ap.add_argument("--clients", type=int, default=600, help="(3) wrk connections")
    ap.add_argument("--posts", type=int, default=20_000, help="(4) oversized POSTs")
    ap.add_argument("--post-size", type=int, default=200 * 1024, help="(4) body bytes")
    ap.add_argument("--post-conns", type=int, default=64, help="(4) wrk connections")
    ap.add_argument("--nginx-workers", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the run folder (logs)")
    a = ap.parse_args()
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    if set(only) - set(SECTIONS):
        ap.error(f"unknown sections: {sorted(set(only) - set(SECTIONS))}")
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool):
            print(f"connections: {tool} is not installed (deploy/install-deps.sh)", file=sys.stderr)
            return 2

    # Descriptors for the held connections here, and for the worker, which inherits the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    try:
        if hard != resource.RLIM_INFINITY and hard < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        else:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if nofile < a.hold + a.batch + 64:
        print(f"connections: RLIMIT_NOFILE {nofile} is too low for --hold {a.hold}", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = Path(tempfile.mkdtemp(prefix="upsign-conns-", dir="/tmp"))
    rig = Rig(a, run)
    table: list[tuple[str, str]] = []
    t0 = time.monotonic()
    try:
        rig.start_worker()
        rig.start_nginx()
        for port in (rig.port32, rig.port512):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{QUERY}", timeout=10) as r:
                if r.status != 200:
                    raise SetupError(f"the stack answered {r.status}")
        print(f"worker: {' '.join(rig.argv)} (pid {rig.worker.pid}); nginx: {a.nginx_workers} worker(s); "
              f"run folder {run}", flush=True)
        steps = {"hold": section_hold, "churn": section_churn, "many": section_many, "oversize": section_oversize}
        for name in SECTIONS:
            if name in only:
                steps[name](a, rig, table)
                if not rig.worker_alive():
                    table.append((f"worker after {name}", f"EXITED with {rig.worker.returncode}"))
                    break
    except SetupError as e:
        print(f"connections: setup failed: {e}", file=sys.stderr)
        a.keep = True
        return 2
    except urllib.error.URLError as e:
        print(f"connections: the stack does not answer: {e}", file=sys.stderr)
        a.keep = True
        return 2
    finally:
        alive = rig.worker_alive()
        rig.stop()
        if table:
            width = max(len(k) for k, _ in table)
            print(f"\n{'measure':<{width}}  value")
            for k, v in table:
                print(f"{k:<{width}}  {v}")
            print(f"\nworker {'still running at the end' if alive else 'NOT running at the end'}; "
                  f"{time.monotonic() - t0:.0f} s")
        if a.keep:
            print(f"run folder kept: {run}")
        else:
            shutil.rmtree(run, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
