#!/usr/bin/env python3
"""Soak and sanitizer driver for upsign behind its own nginx (issue #7); run through soak.sh.

--mode soak   the worker (64 threads, deploy/demo.toml, the demo credentials) behind nginx
              (one worker process, fastcgi_keep_conn on, upstream keepalive 32) takes a warm-up,
              then N valid policy requests at saturation: wrk -t1 -c32 in chunks of STEP requests,
              each chunk stopped by its Lua script after exactly STEP answers. After each chunk
              the worker's VmRSS, threads and open fds are sampled. Checks: every answer 200, no
              socket error, each chunk complete, RSS growth from the first sample to the last
              < 1 MiB, no [error] in nginx's log, no error line in the worker's, no fd but the
              listening socket left once nginx has gone and no other fd gained under load, exit 0
              on SIGTERM.
--mode asan   the same stack with an AddressSanitizer build, ASAN_OPTIONS=detect_leaks=1,
              [callback] added to the configuration (a pinned key made here), nginx's body limit
              raised to 1 MiB so the worker's own 413 runs, and a mix of valid and invalid
              requests (every route, every method, bad parameters, bad JSON and form bodies,
              oversize bodies, bad identities, signed and junk callbacks), two SIGHUP reloads under
              load, then SIGTERM. Checks: each request shape answered its expected status
              (preflight, one request each; HEAD shapes only there, as wrk cannot read HEAD
              answers), no 5xx, no socket error, exit 0, and no AddressSanitizer or LeakSanitizer
              report in any process's log (the worker's and its configuration-probe children's).
              LSan runs at exit, so the leak check covers the whole run. Known, bounded leaks are
              suppressed with their reasons (LSAN_SUPPRESSIONS below) and their bytes capped.

Environment (see soak.sh): SOAK_REQUESTS, SOAK_STEP, SOAK_CONNECTIONS, SOAK_LOG_LEVEL, SOAK_KEEP;
for --asan also SOAK_SIGHUPS (0-2, default 2) and SOAK_NO_SUPPRESSIONS=1 (show every leak).

Only the Python standard library, nginx, wrk and openssl are needed.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from wrk_quota import result_line, run_until_quota

ROOT = Path(__file__).resolve().parents[1]
DEMO_CONFIG = ROOT / "deploy" / "demo.toml"
FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"
# deploy/demo.toml's fake credentials (deploy/demo.sh, Benchmarks/stack.sh): nothing here talks to a store.
DEMO_ENV = {"OSS_ACCESS_KEY_ID": "LTAI5tDemoDemoDemoDemo0000",
            "OSS_ACCESS_KEY_SECRET": "demo-secret-not-a-real-key-0000000000"}
# Credential variables the worker must not inherit from whoever runs the soak.
FOREIGN_ENV = re.compile(r"^(OSS_|ALIBABA_CLOUD_|AWS_|TENCENTCLOUD_|OBS_|QINIU_|GCS_|LISTEN_)")
USER = "soak-user"
RSS_GROWTH_LIMIT_KIB = 1024
THREADS = 64
KEEPALIVE = 32

# LeakSanitizer suppressions: (pattern, reason). Swift's runtime gave no false positive in these
# runs (issue #7); what LSan reports is one real leak in TOMLKit, bounded by the number of
# configuration loads (the worker's at start and on each SIGHUP; each `_parse-probe` child's
# once), and nothing in libfcgi or OpenSSL. They are suppressed here so that the gate catches anything
# new, and kept in sight: every run prints what each pattern matched, and the run fails when the
# suppressed bytes exceed SUPPRESSED_LIMIT_PER_LOAD per configuration load (a per-request leak
# through the same frames would). Remove a pattern when its cause is fixed. Patterns match a
# frame's function (Swift frames by mangled name; `$` would be an anchor) or source file.
LSAN_SUPPRESSIONS: list[tuple[str, str]] = [
    ("tableCreateFromString",
     "TOMLKit 0.6.0: TOMLTable has no deinit, so the parsed toml++ tree of every configuration "
     "load is never freed (about 8 KiB for deploy/demo.toml)"),
    ("s7TOMLKit9TOMLTableC6stringACSS_tKcfc",
     "TOMLKit 0.6.0: TOMLTable.init(string:) allocates its CTOMLParseError and never frees it"),
    ("tableGetKeys",
     "TOMLKit 0.6.0: TOMLTable.keys never frees the array and the strdup'd keys tableGetKeys returns"),
    ("nodeAs",
     "TOMLKit 0.6.0: the .string/.int/.bool/.double getters never free what nodeAsString (strdup), "
     "nodeAsInt, nodeAsBool, nodeAsDouble malloc"),
]
# (PerThread.deinit used to leave the boxes of threads that lived on: each SIGHUP leaked every
# thread's signing-key cache. Fixed: PerThread now frees them, and this run checks it.)
SUPPRESSED_LIMIT_PER_LOAD = 64 * 1024


# --------------------------------------------------------------------------------------------
# Request shapes


@dataclass
class Shape:
    name: str
    method: str
    path: str
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    expect: frozenset = frozenset({200})


P = "/upload/policy"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def valid_shapes() -> list[Shape]:
    """Valid policy requests over deploy/demo.toml's two profiles (demo: native V4, the default;
    avatar: java V1), in the three parameter carriers. All answer 200."""
    q = P + "?"
    return [
        Shape("avatar jpg", "GET", q + "profile=avatar&filename=a.jpg"),
        Shape("avatar PNG size", "GET", q + "profile=avatar&filename=IMG_0001.PNG&size=123456"),
        Shape("avatar webp contentType", "GET", q + "profile=avatar&filename=b.webp&contentType=image/webp"),
        Shape("default profile jpeg", "GET", q + "filename=photo.jpeg"),
        Shape("demo jpg contentType size", "GET", q + "profile=demo&filename=a.jpg&contentType=image/jpeg&size=1000"),
        Shape("demo pdf size", "GET", q + "profile=demo&filename=report.pdf&size=5242880"),
        Shape("demo txt", "GET", q + "profile=demo&filename=notes.txt"),
        Shape("demo gif uppy", "GET", q + "profile=demo&filename=anim.gif&format=uppy"),
        Shape("avatar as native", "GET", q + "profile=avatar&format=native&filename=a.png&contentType=image/png&size=2048"),
        Shape("demo unicode name", "GET", q + "profile=demo&filename=%E7%85%A7%E7%89%87.webp&size=10"),
        Shape("demo form POST", "POST", P, dict(FORM), b"profile=demo&filename=scan.png&size=77777"),
        Shape("avatar JSON POST", "POST", P, dict(JSON), b'{"profile":"avatar","filename":"me.jpg","size":4096}'),
    ]


def invalid_shapes() -> list[Shape]:
    """Requests a client should not send, each on a different refusal path of the worker."""
    q = P + "?"

    def s(name, method, path, headers=None, body=None, expect=(400,)):
        return Shape(name, method, path, dict(headers or {}), body, frozenset(expect))

    big_json = b'{"profile":"demo","filename":"' + b"x" * 70_000 + b'.jpg"}'
    return [
        s("unknown profile", "GET", q + "profile=nope&filename=a.jpg", expect=(404,)),
        s("extension not allowed", "GET", q + "profile=avatar&filename=evil.exe"),
        # Accepted today (only the extension is used; none is not refused): either answer is fine
        # for a sanitizer run, which wants the paths, not the verdicts.
        s("no extension", "GET", q + "profile=avatar&filename=README", expect=(200, 400)),
        s("contentType not allowed", "GET", q + "profile=avatar&filename=a.jpg&contentType=text/html"),
        s("size too large", "GET", q + "profile=avatar&filename=a.jpg&size=99999999999"),
        s("size not a number", "GET", q + "profile=avatar&filename=a.jpg&size=12ab"),
        s("size negative", "GET", q + "profile=demo&filename=a.jpg&size=-1"),
        s("size zero under min", "GET", q + "profile=demo&filename=a.jpg&size=0"),
        s("bad format", "GET", q + "profile=demo&filename=a.jpg&format=xml"),
        s("java format on a V4 profile", "GET", q + "profile=demo&filename=anim.gif&format=java"),
        s("parameter twice", "GET", q + "profile=avatar&profile=demo&filename=a.jpg"),
        s("bad percent escape", "GET", q + "profile=demo&filename=%zz.jpg"),
        s("percent NUL", "GET", q + "profile=demo&filename=a%00.jpg", expect=(200, 400)),
        s("unknown parameter", "GET", q + "profile=demo&filename=a.jpg&colour=red", expect=(200, 400)),
        s("long query", "GET", q + "profile=demo&filename=" + "a" * 6000 + ".jpg"),
        s("query and body twice", "POST", q + "profile=demo", FORM, b"profile=demo&filename=a.jpg"),
        s("PUT policy", "PUT", P, FORM, b"profile=demo", expect=(405,)),
        s("DELETE policy", "DELETE", q + "profile=demo", expect=(405,)),
        s("HEAD policy", "HEAD", q + "profile=demo", expect=(405,)),
        s("OPTIONS policy", "OPTIONS", P, expect=(405,)),
        s("JSON truncated", "POST", P, JSON, b'{"profile":"demo","filename":'),
        s("JSON nested", "POST", P, JSON, b'{"profile":{"name":"demo"},"filename":"a.jpg"}'),
        s("JSON array", "POST", P, JSON, b'["profile","demo"]'),
        s("JSON duplicate key", "POST", P, JSON, b'{"profile":"demo","profile":"avatar"}'),
        s("JSON bad escape", "POST", P, JSON, b'{"filename":"a\\ud800.jpg","profile":"demo"}'),
        s("JSON trailing junk", "POST", P, JSON, b'{"profile":"demo"} x'),
        s("JSON not UTF-8", "POST", P, JSON, b'{"profile":"\xff\xfe"}'),
        s("JSON deep", "POST", P, JSON, b"[" * 2000 + b"]" * 2000),
        s("form binary", "POST", P, FORM, bytes(range(256)) * 4),
        s("form no equals", "POST", P, FORM, b"profile&filename", expect=(200, 400)),
        s("text/plain body", "POST", P, {"Content-Type": "text/plain"}, b"profile=demo", expect=(415,)),
        s("multipart body", "POST", P, {"Content-Type": "multipart/form-data; boundary=x"},
          b"--x\r\nContent-Disposition: form-data; name=\"profile\"\r\n\r\ndemo\r\n--x--\r\n", expect=(415,)),
        s("oversize JSON (70 KB)", "POST", P, JSON, big_json, expect=(413,)),
        s("oversize form (600 KB)", "POST", P, FORM, b"filename=" + b"y" * 600_000, expect=(413,)),
        s("identity with slash", "GET", q + "profile=demo&filename=a.jpg", {"X-User": "a/b"}),
        s("identity too long", "GET", q + "profile=demo&filename=a.jpg", {"X-User": "u" * 300}),
        s("no identity", "GET", q + "profile=demo&filename=a.jpg", {"X-User": "none"}, expect=(401,)),
        s("healthz", "GET", "/upload/healthz", expect=(200,)),
        s("healthz HEAD", "HEAD", "/upload/healthz", expect=(200,)),
        s("healthz POST", "POST", "/upload/healthz", FORM, b"x=1", expect=(405,)),
        # Another engineer is adding /metrics; until then it is an unknown route.
        s("metrics", "GET", "/upload/metrics", expect=(200, 404)),
        s("unknown route", "GET", "/upload/nope?x=1", expect=(404,)),
        s("base path", "GET", "/upload/", expect=(404,)),
        s("policy/extra", "GET", "/upload/policy/extra", expect=(404,)),
    ]


def callback_shapes(key: Path, other_key: Path) -> list[Shape]:
    """OSS upload callbacks: signed ones (verified with the pinned key, recorded) and junk."""
    target = "/upload/callback?src=soak"
    good_json = (b'{"bucket":"examplebucket","object":"uploads/soak-user/x.jpg","etag":"\\"0a1b\\"",'
                 b'"size":1234,"mimeType":"image/jpeg","x:user":"soak-user"}')
    good_form = b"bucket=examplebucket&object=uploads%2Fsoak-user%2Fy.png&etag=ab&size=5&mimeType=image%2Fpng"

    def signed(name, body, ctype="application/json", *, with_key=key, sign_body=None, expect=(200,), path=target):
        auth = openssl_sign(with_key, string_to_sign(path, body if sign_body is None else sign_body))
        return Shape(name, "POST", path, {"Content-Type": ctype, "Authorization": auth}, body, frozenset(expect))

    # A token for another object (the MAC is zeros): the binding check runs and refuses it.
    forged_bind = (b'{"object":"uploads/soak-user/x.jpg","upsign_bind":"1.4102444800.e.736f616b2d75736572.'
                   + b"0" * 64 + b'","upsign_bucket":"examplebucket","upsign_object":"uploads/soak-user/x.jpg"}')

    return [
        signed("callback forged binding", forged_bind, expect=(403,)),
        signed("callback signed JSON", good_json),
        signed("callback signed form", good_form, "application/x-www-form-urlencoded"),
        signed("callback other key", good_json, with_key=other_key, expect=(403,)),
        signed("callback body changed", good_json, sign_body=good_json + b" ", expect=(403,)),
        signed("callback signed junk JSON", b'{"a":[1,2,{"b":null}]}', expect=(400,)),
        signed("callback signed not UTF-8", b"bucket=\xff\xfe", "application/x-www-form-urlencoded", expect=(400,)),
        signed("callback signed text/plain", b"hello", "text/plain", expect=(400,)),
        Shape("callback unsigned", "POST", target, dict(JSON), good_json, frozenset({403})),
        Shape("callback auth not base64", "POST", target, {**JSON, "Authorization": "!!not*base64!!"}, good_json,
              frozenset({400})),
        Shape("callback auth 4 KB junk", "POST", target,
              {**JSON, "Authorization": base64.b64encode(os.urandom(3000)).decode()}, good_json, frozenset({403})),
        Shape("callback GET", "GET", target, {}, None, frozenset({405})),
        Shape("callback oversize", "POST", target, {**JSON, "Authorization": "AAAA"}, b"{" + b" " * 80_000 + b"}",
              frozenset({413})),
    ]


def string_to_sign(target: str, body: bytes) -> bytes:
    """What OSS signs for a callback: url-decoded path, "?" + raw query, "\\n", body."""
    from urllib.parse import unquote_to_bytes
    path, sep, query = target.partition("?")
    return unquote_to_bytes(path) + (b"?" + query.encode() if sep else b"") + b"\n" + body


def openssl_sign(key: Path, data: bytes) -> str:
    """RSA PKCS#1 v1.5 over MD5, base64: OSS's callback `authorization`."""
    sig = subprocess.run(["openssl", "dgst", "-md5", "-sign", str(key)], input=data,
                         capture_output=True, check=True).stdout
    return base64.b64encode(sig).decode()


# --------------------------------------------------------------------------------------------
# wrk

LUA = r"""
-- Generated by Benchmarks/soak.py. Cycles through the request shapes; counts answers by status;
-- after QUOTA answers stops this thread, so each chunk is exactly QUOTA requests (-t1).
local shapes = {
%(shapes)s
}
local reqs = {}
local quota, seen, idx, marker = 0, 0, 0, nil
counts = {}

function init(args)
  quota = tonumber(args[1])
  for k, s in ipairs(shapes) do reqs[k] = wrk.format(s[1], s[2], s[3], s[4]) end
  idx = tonumber(args[2]) %% #reqs
  marker = args[3]
end

function request()
  idx = idx %% #reqs + 1
  return reqs[idx]
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  seen = seen + 1
  if seen == quota then
    -- Stop sending; soak.py sees the marker and interrupts wrk, whose main thread would
    -- otherwise sleep out -d.
    wrk.thread:stop()
    io.open(marker, "w"):close()
  end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, string.format('"%%d":%%d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    'SOAK_RESULT {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"status":%%d,' ..
    '"timeout":%%d,"p50_us":%%d,"p99_us":%%d,"max_us":%%d,"counts":{%%s}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, table.concat(parts, ",")))
end
"""


def lua_str(b: bytes | str) -> str:
    if isinstance(b, str):
        b = b.encode()
    out = []
    for c in b:
        if 0x20 <= c < 0x7F and c not in (0x22, 0x5C):
            out.append(chr(c))
        else:
            out.append("\\%03d" % c)
    return '"' + "".join(out) + '"'


def lua_shapes(shapes: list[Shape]) -> str:
    rows = []
    for s in shapes:
        hs = ", ".join(f"[{lua_str(k)}] = {lua_str(v)}" for k, v in s.headers.items())
        body = lua_str(s.body) if s.body is not None else "nil"
        rows.append(f"  {{{lua_str(s.method)}, {lua_str(s.path)}, {{{hs}}}, {body}}},")
    return "\n".join(rows)


def run_wrk(lua: Path, url: str, quota: int, offset: int, conns: int, max_seconds: int) -> dict:
    text, rc = run_until_quota(lua, url, quota, conns, max_seconds, extra_args=(str(offset),))
    r = result_line(text, "SOAK_RESULT")
    if r is None:
        raise SetupError(f"wrk gave no result (rc {rc}):\n{text}")
    return r


# --------------------------------------------------------------------------------------------
# Processes


class SetupError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
{user_line}
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    server_tokens off;
    client_body_temp_path {dir}/nginx-tmp/body;
    fastcgi_temp_path {dir}/nginx-tmp/fastcgi;
    proxy_temp_path {dir}/nginx-tmp/proxy;
    uwsgi_temp_path {dir}/nginx-tmp/uwsgi;
    scgi_temp_path {dir}/nginx-tmp/scgi;
    # The user nginx would get from auth_request; X-User lets the asan mix send bad ones
    # ("none": no identity at all).
    map $http_x_user $upsign_user {{ default $http_x_user; "" {user}; "none" ""; }}
    upstream upsign {{
        server unix:{sock};
        keepalive {keepalive};        # below the worker's {threads} threads
    }}
    server {{
        listen 127.0.0.1:{port};
        location /upload/ {{
            client_max_body_size {max_body};
            client_body_buffer_size 1m;
            include {fastcgi_params};
            fastcgi_param UPSIGN_USER $upsign_user if_not_empty;
            fastcgi_param HTTP_PROXY "";
            fastcgi_keep_conn on;
            fastcgi_next_upstream error timeout non_idempotent;
            fastcgi_pass upsign;
        }}
    }}
}}
"""


class Stack:
    def __init__(self, args, run: Path):
        self.args = args
        self.run = run
        self.sock = run / "upsign.sock"
        self.worker: subprocess.Popen | None = None
        self.nginx: subprocess.Popen | None = None
        self.port = free_port()
        self.worker_log = run / "worker.stderr.log"

    def start_worker(self, config: Path, env: dict) -> None:
        argv = [self.args.bin, "serve", "--config", str(config), "--listen", f"unix:{self.sock}",
                "--threads", str(THREADS), "--log-level", self.args.log_level]
        self._wlog = open(self.worker_log, "wb")
        self.worker = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=self._wlog,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.started = time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise SetupError(f"the worker exited with {self.worker.returncode}:\n"
                                 + self.worker_log.read_text(errors="replace")[-3000:])
            if self.sock.exists():
                with socket.socket(socket.AF_UNIX) as s:
                    try:
                        s.connect(str(self.sock))
                        return
                    except OSError:
                        pass
            time.sleep(0.05)
        raise SetupError("the worker did not listen within 60 s")

    def start_nginx(self, max_body: str) -> None:
        (self.run / "nginx-tmp").mkdir()
        conf = self.run / "nginx.conf"
        conf.write_text(NGINX_CONF.format(
            dir=self.run, sock=self.sock, port=self.port, user=USER, keepalive=KEEPALIVE, threads=THREADS,
            max_body=max_body, fastcgi_params=FASTCGI_PARAMS,
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
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise SetupError("nginx did not listen within 20 s")

    def stop_nginx(self) -> None:
        if self.nginx and self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)     # graceful: finish, close upstream connections
            try:
                self.nginx.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait()

    def terminate_worker(self, timeout: float) -> tuple[int | None, float]:
        t0 = time.monotonic()
        if self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
        try:
            rc = self.worker.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        return rc, time.monotonic() - t0

    def kill_all(self) -> None:
        for p in (self.nginx, self.worker):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def sample(pid: int, records: str | None = None) -> dict:
    """VmRSS, VmHWM, threads and open fds of `pid`: sockets, the callback records file (one per
    configuration still in use), and the rest."""
    status = Path(f"/proc/{pid}/status").read_text()
    val = lambda k: int(re.search(rf"^{k}:\s+(\d+)", status, re.M).group(1))  # noqa: E731
    fds = sockets = record_files = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        fds += 1
        sockets += target.startswith("socket:")
        record_files += target == records
    return {"rss": val("VmRSS"), "hwm": val("VmHWM"), "threads": val("Threads"), "fds": fds,
            "sockets": sockets, "records": record_files, "other_fds": fds - sockets - record_files}


def http_status(port: int, s: Shape) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(s.method, s.path, body=s.body, headers=s.headers)
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


def scan_worker_log(path: Path) -> tuple[dict, list[str]]:
    """Lines per level, and the first lines above notice (or not JSON at all)."""
    levels: dict[str, int] = {}
    notable: list[str] = []
    pat = re.compile(rb'"level":"(\w+)"')
    with open(path, "rb") as f:
        for line in f:
            m = pat.search(line)
            lvl = m.group(1).decode() if m else "not-json"
            levels[lvl] = levels.get(lvl, 0) + 1
            if lvl in ("warning", "error", "critical", "not-json") and len(notable) < 10:
                notable.append(line.decode(errors="replace").rstrip()[:400])
    return levels, notable


def nginx_problems(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [l for l in path.read_text(errors="replace").splitlines()
            if re.search(r"\[(error|crit|alert|emerg)\]", l)]


def is_asan_binary(path: str) -> bool:
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


# --------------------------------------------------------------------------------------------
# The run


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("soak", "asan"), default="soak")
    ap.add_argument("--bin", required=True)
    a = ap.parse_args()
    env_int = lambda k, d: int(os.environ[k].replace(",", "").replace("_", "")) if os.environ.get(k) else d  # noqa: E731
    a.requests = env_int("SOAK_REQUESTS", 1_000_000 if a.mode == "soak" else 50_000)
    a.step = env_int("SOAK_STEP", 100_000 if a.requests >= 200_000 else max(a.requests // 5, 1))
    a.conns = env_int("SOAK_CONNECTIONS", KEEPALIVE)
    a.log_level = os.environ.get("SOAK_LOG_LEVEL", "info")
    a.keep = os.environ.get("SOAK_KEEP") == "1"
    a.sighups = min(env_int("SOAK_SIGHUPS", 2), 2)
    a.no_suppressions = os.environ.get("SOAK_NO_SUPPRESSIONS") == "1"
    for tool in ("nginx", "wrk", "openssl"):
        if not shutil.which(tool):
            print(f"soak: {tool} is not installed (deploy/install-deps.sh)", file=sys.stderr)
            return 2
    if a.mode == "asan" and not is_asan_binary(a.bin):
        print(f"soak: {a.bin} is not an AddressSanitizer build (no __asan_init)", file=sys.stderr)
        return 2

    # SIGTERM (a CI timeout) unwinds like Ctrl-C, so nginx and the worker are stopped below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = Path(tempfile.mkdtemp(prefix=f"upsign-{a.mode}-", dir="/tmp"))
    stack = Stack(a, run)
    try:
        ok = soak(a, run, stack)
    except SetupError as e:
        print(f"soak: setup failed: {e}", file=sys.stderr)
        for p in sorted(run.glob("asan.*")):
            print(f"---- {p.name} (first 60 lines) ----\n" + "\n".join(p.read_text(errors="replace").splitlines()[:60]),
                  file=sys.stderr)
        print(f"soak: run folder kept: {run}", file=sys.stderr)
        return 2
    finally:
        stack.kill_all()
    if ok and not a.keep:
        shutil.rmtree(run, ignore_errors=True)
    else:
        print(f"run folder kept: {run}")
    return 0 if ok else 1


def soak(a, run: Path, stack: Stack) -> bool:
    t_start = time.monotonic()
    env = {k: v for k, v in os.environ.items() if not FOREIGN_ENV.match(k)}
    env.update(DEMO_ENV)
    shapes = valid_shapes()
    reloads = []
    records = None
    if a.mode == "asan":
        key, other = run / "callback-key.pem", run / "other-key.pem"
        for k in (key, other):
            subprocess.run(["openssl", "genrsa", "-out", str(k), "1024"], check=True, capture_output=True)
        pub = run / "callback-pub.pem"
        subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-out", str(pub)], check=True,
                       capture_output=True)
        config = run / "upsign.toml"
        binding = run / "binding.key"
        binding.write_text("soak-binding-secret-" + "0123456789abcdef" * 3 + "\n")
        binding.chmod(0o600)
        records = str(run / "records.jsonl")
        config.write_text(DEMO_CONFIG.read_text() + (
            "\n# Added by Benchmarks/soak.py --asan: the callback route with a pinned key; the soak's\n"
            "# signed callbacks are unbound (no policy issued them), so unbound ones are accepted\n"
            "# while bound ones are still checked.\n[callback]\n"
            f'binding_secret = "{binding}"\nrequire_binding = false\n'
            f'public_key_file = "{pub}"\nrecords = "{records}"\n'
            'response = "{\\"ok\\":true,\\"key\\":\\"${object}\\",\\"size\\":\\"${size}\\"}"\n'))
        shapes = shapes + invalid_shapes() + callback_shapes(key, other)
        supp = run / "lsan.supp"
        supp.write_text("" if a.no_suppressions else
                        "".join(f"# {why}\nleak:{pattern}\n" for pattern, why in LSAN_SUPPRESSIONS))
        env["ASAN_OPTIONS"] = (f"detect_leaks=1:abort_on_error=0:log_path={run}/asan:"
                               "print_suppressions=1:symbolize=1")
        if a.no_suppressions:
            # The worker checks each configuration in a child (`upsign _parse-probe`) and takes
            # any failed exit as a bad file: with the known leaks reported, LSan's exit status 1
            # would make it refuse deploy/demo.toml. Findings are read from the logs anyway.
            env["ASAN_OPTIONS"] += ":exitcode=0"
        env["LSAN_OPTIONS"] = f"suppressions={supp}:print_suppressions=1"
        sym = shutil.which("llvm-symbolizer") or "/opt/swift/usr/bin/llvm-symbolizer"
        if Path(sym).exists():
            env["ASAN_SYMBOLIZER_PATH"] = sym
        max_body = "1m"
    else:
        config = DEMO_CONFIG
        max_body = "64k"

    stack.start_worker(config, env)
    pid = stack.worker.pid
    stack.start_nginx(max_body)
    # The start-up trim (3 s after start) must be behind us, and every thread started (an ASan
    # build is slow to), before the first sample.
    deadline = time.monotonic() + 60
    while sample(pid, records)["threads"] < THREADS and time.monotonic() < deadline:
        time.sleep(0.1)
    wait = 4.0 - (time.monotonic() - stack.started)
    if wait > 0:
        time.sleep(wait)
    before_traffic = sample(pid, records)
    url = f"http://127.0.0.1:{stack.port}/"
    lua = run / "shapes.lua"
    # wrk cannot take HEAD answers (it waits for the Content-Length bytes of a body that never
    # comes, and the connection stalls): HEAD shapes go through the preflight only.
    lua.write_text(LUA % {"shapes": lua_shapes([s for s in shapes if s.method != "HEAD"])})

    print(f"upsign {a.mode}: {a.bin}")
    print(f"  worker pid {pid}, {THREADS} threads, --log-level {a.log_level}, config {config}")
    print(f"  nginx 127.0.0.1:{stack.port} (1 worker, keepalive {KEEPALIVE}), wrk -t1 -c{a.conns}, "
          f"{len(shapes)} request shapes, {a.requests:,} requests, sample every {a.step:,}")
    print(f"  run folder {run}")

    # Preflight: every shape answers what it should, one at a time.
    failures: list[str] = []
    bad = []
    for s in shapes:
        st = http_status(stack.port, s)
        if st not in s.expect:
            bad.append(f"{s.name}: {s.method} {s.path[:80]} answered {st}, expected {sorted(s.expect)}")
    if a.mode == "asan":
        print(f"  preflight: {len(shapes)} shapes, {len(shapes) - len(bad)} answered as expected")
    if bad:
        failures += ["preflight: " + b for b in bad]
    allowed = set().union(*(s.expect for s in shapes))

    rate_hint = 400 if a.mode == "asan" else 2000   # a floor, for wrk's -d safety limit
    rows = []
    totals = {"requests": 0, "counts": {}, "connect": 0, "read": 0, "write": 0, "timeout": 0}
    offset = 0

    def chunk(n: int, label: str, counted: bool = True) -> dict:
        nonlocal offset
        r = run_wrk(lua, url, n, offset, a.conns, max(120, n // rate_hint))
        offset += r["requests"]
        if counted:
            totals["requests"] += r["requests"]
            for k in ("connect", "read", "write", "timeout"):
                totals[k] += r[k]
            for st, c in r["counts"].items():
                totals["counts"][st] = totals["counts"].get(st, 0) + c
        if r["requests"] < n:
            failures.append(f"{label}: only {r['requests']} of {n} requests completed")
        if stack.worker.poll() is not None:
            raise SetupError(f"the worker died during {label}: rc {stack.worker.returncode}")
        time.sleep(0.3)
        smp = sample(pid, records)
        rows.append((label, totals["requests"] if counted else 0, smp, r))
        return r

    warm = 0 if a.mode == "asan" else min(20_000, max(a.requests // 10, 1000))
    if warm:
        r = chunk(warm, "warm-up", counted=False)
        bad_warm = {st: c for st, c in r["counts"].items() if st != 200}
        if bad_warm or any(r[k] for k in ("connect", "read", "write", "timeout")):
            failures.append(f"warm-up: statuses {r['counts']}, socket errors "
                            f"{[r[k] for k in ('connect', 'read', 'write', 'timeout')]}")

    done = 0
    n_chunk = 0
    while done < a.requests:
        n = min(a.step, a.requests - done)
        n_chunk += 1
        timer = None
        if a.mode == "asan" and n_chunk in (2, 4)[:a.sighups]:
            # A SIGHUP reload while requests are in flight.
            timer = threading.Timer(1.0, lambda: (os.kill(pid, signal.SIGHUP), reloads.append(time.time())))
            timer.start()
        chunk(n, f"{done + n:,}")
        if timer:
            timer.join()
        done += n

    # Table.
    print()
    print(f"{'sample':>10} {'requests':>10} {'RSS KiB':>9} {'HWM KiB':>9} {'thr':>4} {'fds':>4} "
          f"{'socks':>5} {'req/s':>8} {'p99 ms':>7} {'non-200':>8} {'sock err':>8}")
    print(f"{'start':>10} {0:>10,} {before_traffic['rss']:>9,} {before_traffic['hwm']:>9,} "
          f"{before_traffic['threads']:>4} {before_traffic['fds']:>4} {before_traffic['sockets']:>5}")
    for label, count, smp, r in rows:
        non200 = sum(c for st, c in r["counts"].items() if st != 200)
        errs = sum(r[k] for k in ("connect", "read", "write", "timeout"))
        rps = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0
        print(f"{label:>10} {count:>10,} {smp['rss']:>9,} {smp['hwm']:>9,} {smp['threads']:>4} {smp['fds']:>4} "
              f"{smp['sockets']:>5} {rps:>8,.0f} {r['p99_us'] / 1000:>7.2f} {non200:>8,} {errs:>8,}")

    # Tear down: nginx first (its kept connections close), then SIGTERM the worker.
    final = rows[-1][2]
    stack.stop_nginx()
    deadline = time.monotonic() + 5
    after_nginx = sample(pid, records)
    while time.monotonic() < deadline and after_nginx["sockets"] > before_traffic["sockets"]:
        time.sleep(0.1)
        after_nginx = sample(pid, records)
    print(f"{'no nginx':>10} {'':>10} {after_nginx['rss']:>9,} {after_nginx['hwm']:>9,} "
          f"{after_nginx['threads']:>4} {after_nginx['fds']:>4} {after_nginx['sockets']:>5}")
    rc, took = stack.terminate_worker(timeout=60 if a.mode == "asan" else 20)
    stack._wlog.close()

    # Verdict.
    print()
    checks: list[tuple[bool, str]] = []
    counts = totals["counts"]
    errs = {k: totals[k] for k in ("connect", "read", "write", "timeout")}
    status_line = ", ".join(f"{st}: {c:,}" for st, c in sorted(counts.items()))
    if a.mode == "soak":
        non200 = sum(c for st, c in counts.items() if st != 200)
        checks.append((non200 == 0, f"{totals['requests']:,} requests, non-200 answers: {non200} ({status_line})"))
    else:
        unexpected = {st: c for st, c in counts.items() if st not in allowed}
        fivexx = sum(c for st, c in counts.items() if st >= 500)
        checks.append((not unexpected and fivexx == 0,
                       f"{totals['requests']:,} requests ({status_line}); 5xx: {fivexx}; "
                       f"statuses no shape expects: {unexpected or 'none'}"))
    checks.append((not any(errs.values()), f"socket errors: {errs}"))
    first = rows[1][2] if warm else rows[0][2]
    growth = final["rss"] - first["rss"]
    first_label = rows[1][0] if warm else rows[0][0]
    if a.mode == "soak":
        checks.append((growth < RSS_GROWTH_LIMIT_KIB,
                       f"RSS growth from the {first_label} mark to the end: {growth:+,} KiB "
                       f"(limit < {RSS_GROWTH_LIMIT_KIB} KiB; {first['rss']:,} -> {final['rss']:,} KiB)"))
    else:
        print(f"  (RSS under ASan, not checked: {first['rss']:,} -> {final['rss']:,} KiB; its quarantine "
              "holds freed memory)")
    # With nginx gone only the listening socket may remain; other fds (an epoll per thread, the
    # pipe) must not grow under load. The callback records file is counted apart: a configuration
    # replaced by SIGHUP keeps its file open until every thread has moved to the new one.
    checks.append((after_nginx["sockets"] == before_traffic["sockets"]
                   and after_nginx["other_fds"] == final["other_fds"] == first["other_fds"],
                   f"worker fds with nginx gone: {after_nginx['fds']} ({after_nginx['sockets']} socket(s); before "
                   f"any traffic {before_traffic['fds']}, {before_traffic['sockets']}); other fds "
                   f"{first['other_fds']} at the first sample, {final['other_fds']} at the end"
                   + (f"; records file open {after_nginx['records']} time(s) after {len(reloads)} reload(s)"
                      if records else "")))
    checks.append((rc == 0, f"SIGTERM: worker exited {rc} after {took:.1f} s"))
    probs = nginx_problems(run / "nginx-error.log")
    if a.mode == "asan":
        # Known (issue #7 report): after its own 413 the worker closes the connection nginx had
        # kept (the rest of the body is still on it); under load nginx sometimes reuses it first,
        # logs this and retries on a new connection, so the client still gets the 413.
        known = [l for l in probs if "upstream prematurely closed connection while reading response header" in l]
        probs = [l for l in probs if l not in known]
        if known:
            print(f"  (nginx retried {len(known)} request(s) on a new connection after the worker closed a kept "
                  "one following its own 413)")
    checks.append((not probs, f"nginx error log: {len(probs)} [error]/[crit] line(s)"
                   + (f", first: {probs[0][:300]}" if probs else "")))
    levels, notable = scan_worker_log(stack.worker_log)
    # ASan writes its reports to log_path, so anything not JSON in stderr is a finding too.
    serious = {k: v for k, v in levels.items() if k in ("error", "critical", "not-json")}
    checks.append((not serious, f"worker log lines by level: {levels}"))
    if a.mode == "asan":
        reloaded = levels_count(stack.worker_log, "configuration reloaded")
        checks.append((reloaded == len(reloads), f"SIGHUP reloads under load: {len(reloads)} sent, "
                                                 f"{reloaded} logged 'configuration reloaded'"))
        checks += sanitizer_checks(run, stack.worker_log, pid, loads=1 + len(reloads))
    for okk, text in checks:
        print(f"  [{'ok' if okk else 'FAIL'}] {text}")
    # The asan mix sends callbacks with bad signatures on purpose: those warnings are expected.
    shown = [l for l in notable if a.mode != "asan" or "callback refused: signature does not verify" not in l]
    for line in shown:
        print(f"  worker log: {line}")
    for f in failures:
        print(f"  [FAIL] {f}")
    passed = all(okk for okk, _ in checks) and not failures
    print(f"\nverdict: {'PASS' if passed else 'FAIL'} ({time.monotonic() - t_start:.0f} s)")
    return passed


def levels_count(path: Path, msg: str) -> int:
    needle = f'"msg":"{msg}"'.encode()
    with open(path, "rb") as f:
        return sum(1 for line in f if needle in line)


def sanitizer_checks(run: Path, worker_log: Path, worker_pid: int, loads: int) -> list[tuple[bool, str]]:
    """One log per process (log_path.PID): the worker's, and one per configuration check, which
    the worker runs in a child (`upsign _parse-probe`, the same ASan binary) at start and on each
    SIGHUP."""
    logs = sorted(run.glob("asan.*"))
    text = "".join(p.read_text(errors="replace") for p in logs)
    stderr = worker_log.read_text(errors="replace")
    out = []
    asan = re.findall(r"ERROR: AddressSanitizer: [^\n]*", text + stderr)
    lsan = re.findall(r"ERROR: LeakSanitizer: [^\n]*", text + stderr)
    summary = re.findall(r"SUMMARY: [^\n]*", text + stderr)
    out.append((not asan, f"AddressSanitizer errors: {len(asan)}" + (f" ({asan[0]})" if asan else "")))
    out.append((not lsan, f"LeakSanitizer reports: {len(lsan)}" + (f" ({summary[-1]})" if summary else "")))
    unexplained, over = [], []
    for p in logs:
        body = p.read_text(errors="replace")
        used = []
        if "Suppressions used:" in body:
            head, tail = body.split("Suppressions used:", 1)
            used = re.findall(r"^\s*(\d+)\s+(\d+)\s+(\S+)\s*$", tail, re.M)
            body = head
        if re.sub(r"(?m)^[-=]+$", "", body).strip() and not (asan or lsan):
            unexplained.append(p.name)
        is_worker = p.suffix == f".{worker_pid}"
        # The worker loads the configuration at start and on each SIGHUP; a probe child once.
        limit = SUPPRESSED_LIMIT_PER_LOAD * (loads if is_worker else 1)
        suppressed = sum(int(b) for _, b, _ in used)
        if suppressed > limit:
            over.append(f"{p.name}: {suppressed:,} > {limit:,}")
        who = "worker" if is_worker else "config probe"
        for count, nbytes, pattern in used:
            print(f"  suppressed ({who} {p.suffix[1:]}): {int(count):>4} leak(s) {int(nbytes):>7,} bytes  {pattern}")
    out.append((not over, f"suppressed leaks within {SUPPRESSED_LIMIT_PER_LOAD:,} bytes per configuration load "
                          f"({loads} in the worker, 1 per probe): {over or 'yes'}"))
    out.append((True, f"sanitizer logs: {len(logs)} ({', '.join(p.name for p in logs) or 'none'})"))
    out.append((not unexplained, f"other sanitizer output: {unexplained or 'none'}"))
    if asan or lsan:
        print("---- sanitizer output (first 200 lines) ----")
        print("\n".join((text or stderr).splitlines()[:200]))
        print("----")
    return out


if __name__ == "__main__":
    sys.exit(main())
