"""Secrets sweep (issue #7): 100,000 varied requests through nginx to a worker logging at `trace`
(every line it can write), then every response (status line, headers, body), every worker log
line and every nginx log line is searched for each credential secret in use, in every form a
leak could take: as is, standard and URL-safe base64 at each of the three byte alignments (so a
secret inside a longer base64'd text is found too), hex in both cases, percent-encoded,
form-encoded and JSON-escaped ("\\/"), and each half of it (a truncated leak).

The configuration uses every signing path a secret reaches: OSS V1 and V4, STS credentials
(env variables named by the profile, with a token), a credentials file with a token, the Aliyun
appserver shape, S3, COS, OBS, Qiniu and GCS, and a profile with an upload callback; the
`[callback]` route verifies with a pinned key. The requests cycle through about a hundred shapes:
every route (policy, healthz, metrics, callback, unknown ones), GET/POST/PUT/HEAD/DELETE/
OPTIONS/PATCH, good and bad parameters, query, form and JSON carriers, bad JSON and form bodies,
bodies over the worker's limit and over nginx's, unknown profiles, bad and missing identities,
and signed, badly signed and junk callbacks. They are sent by an asyncio client over 16
kept-alive connections (no requests/urllib3: ~50 us per request), and the count and statuses
of each shape are recorded (printed, and written to .build-artifacts/secret_sweep.txt or
$UPSIGN_ARTIFACTS/secret_sweep.txt).

test_scanner_finds_every_form checks the scanner itself: it must find each form of the secret in
synthetic text (and nothing in clean text), so a scanner that finds nothing cannot pass silently.

SWEEP_REQUESTS=n scales the sweep (default 100,000: 35-55 s with the debug build on a shared
2-core machine, the worker being the bottleneck; the client takes about 9 s of CPU).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import datetime as dt
import json
import os
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import helpers
import oss_callback_sim as sim
from harness.nginx import Nginx
from helpers import ALL_SECRETS, ALT_AKID, ALT_SECRET, ALT_TOKEN, FILE_AKID, FILE_SECRET, FILE_TOKEN, SECRET

REQUESTS = int(os.environ.get("SWEEP_REQUESTS", "100000"))
CONNECTIONS = 16
USER = "alice"

# --------------------------------------------------------------------------------------------
# The scanner


def secret_forms(secret: str) -> dict[str, bytes]:
    """Every form of `secret` searched for, by name."""
    s = secret.encode()
    forms = {
        "raw": s,
        "first half": s[: len(s) // 2],
        "second half": s[len(s) // 2:],
        "hex": s.hex().encode(),
        "HEX": s.hex().upper().encode(),
        "percent-encoded": urllib.parse.quote(secret, safe="").encode(),
        "form-encoded": urllib.parse.quote_plus(secret).encode(),
        "JSON \\/": secret.replace("/", "\\/").encode(),
    }
    for name, enc in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
        for offset in range(3):
            # The secret at byte offset 0, 1 or 2 of a longer text: keep only the 4-character
            # groups made of the secret's bytes alone, which appear whatever surrounds it.
            full = enc(b"\0" * offset + s)
            forms[f"{name} at +{offset}"] = full[(4 if offset else 0): (offset + len(s)) // 3 * 4]
    return {k: v for k, v in forms.items() if len(v) >= 12}


# The callback binding secret: signs every callback's proof; never sent anywhere either.
BINDING_SECRET = "itestSweepBindingSecret0123456789abcdefABCDEF"
SWEPT_SECRETS = ALL_SECRETS + (BINDING_SECRET,)


class Scanner:
    def __init__(self, secrets=SWEPT_SECRETS):
        self.forms = [(f"secret #{i + 1} {name}", needle)
                      for i, sec in enumerate(secrets) for name, needle in secret_forms(sec).items()]
        self.regex = re.compile(b"|".join(re.escape(n) for _, n in self.forms))
        self.scanned_bytes = 0

    def find(self, blob: bytes) -> list[str]:
        """The names of the forms found in `blob` (empty: clean)."""
        self.scanned_bytes += len(blob)
        if not self.regex.search(blob):
            return []
        return [name for name, needle in self.forms if needle in blob]


def test_scanner_finds_every_form():
    """The check itself can fail: each encoding of a secret, alone or inside other text, is found;
    clean text is not flagged."""
    sc = Scanner()
    s = SECRET.encode()
    # the case the issue names: the standard base64 form inside a synthetic response
    assert sc.find(b'{"fields":{"policy":"' + base64.b64encode(s) + b'"}}'), "base64 of the secret not found"
    for prefix in (b"", b"k", b"ke"):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = b"log: " + enc(prefix + b"key=" + s + b"&more") + b" end"
            assert sc.find(text), f"{enc.__name__} of the secret inside other text (+{len(prefix)}) not found"
    for blob in (b"x" + s + b"y", s.hex().encode(), s.hex().upper().encode(),
                 urllib.parse.quote(SECRET, safe="").encode(), urllib.parse.quote_plus(SECRET).encode(),
                 json.dumps({"k": SECRET}).replace("/", "\\/").encode(), b"...." + s[:25] + b"....",
                 b"...." + s[-25:] + b"...."):
        assert sc.find(blob), f"not found in {blob[:80]!r}"
    for other in (helpers.ALT_SECRET, helpers.FILE_SECRET):
        assert sc.find(b"a" + base64.b64encode(b"zz" + other.encode()) + b"b")
    # clean text: a real answer's shapes, the access key ids and the STS tokens (which answers carry)
    clean = (b'{"url":"https://examplebucket.oss-cn-hangzhou.aliyuncs.com","policy":"eyJleHBpcmF0aW9uIjoi'
             b'MjAyNi0xMS0yOVQxMjowMDowMC4wMDBaIn0=","signature":"/KYu/s7JRZPGe/suX5o6kZGHlZs=",'
             + helpers.AKID.encode() + ALT_TOKEN.encode() + FILE_TOKEN.encode() + helpers.TOKEN.encode()
             + b"itest-Secret" + b"}")
    assert sc.find(clean) == [], sc.find(clean)


# --------------------------------------------------------------------------------------------
# Configuration

STS_ENV = ("SWEEP_STS_AKID", "SWEEP_STS_SECRET", "SWEEP_STS_TOKEN")
P = helpers.profile
_any = dict(extensions=None, content_types=None)
_oss_env = dict(access_key_id_env="OSS_ACCESS_KEY_ID", secret_env="OSS_ACCESS_KEY_SECRET")


def sweep_profiles(creds_file: Path) -> dict:
    def store(provider, **kw):
        p = P(provider=provider, signature=None, region=None, endpoint=None, format="native",
              key="s/{user}/{uuid}{ext}", **_oss_env, **_any)
        p.update(kw)
        return {k: v for k, v in p.items() if v is not None}

    return {
        # OSS V1, the Java bean (the default profile)
        "v1": P(),
        # OSS V4 native with the further fields a client can influence
        "v4": P(signature="v4", format="native", key="v4/{user}/{yyyy}/{mm}/{dd}/{uuid}{ext}",
                forbid_overwrite=True, content_disposition="attachment", cache_control="no-cache",
                meta=["album"], formats=["native", "uppy"], **_any),
        # STS: variables the profile names, with a token
        "sts": P(signature="v4", format="native", region="cn-shanghai",
                 endpoint="https://sts-bucket.oss-cn-shanghai.aliyuncs.com", bucket="sts-bucket",
                 key="sts/{user}/{uuid}{ext}", access_key_id_env=STS_ENV[0], secret_env=STS_ENV[1],
                 token_env=STS_ENV[2], **_any),
        # Aliyun's appserver sample answer (V4), same STS credentials
        "app": P(signature="v4", format="aliyun-appserver", region="cn-beijing", bucket="app-bucket",
                 endpoint="https://app-bucket.oss-cn-beijing.aliyuncs.com", key="app/{user}/{uuid}{ext}",
                 access_key_id_env=STS_ENV[0], secret_env=STS_ENV[1], token_env=STS_ENV[2], **_any),
        # a credentials file with a token (what an STS agent writes)
        "file": P(format="native", bucket="file-bucket", endpoint="https://file-bucket.oss-cn-hangzhou.aliyuncs.com",
                  key="f/{user}/{uuid}{ext}", credentials=str(creds_file), **_any),
        "s3": store("s3", bucket="sweep-s3", region="us-west-2"),
        "cos": store("tencent-cos", bucket="sweep-1250000000", region="ap-guangzhou"),
        "obs": store("huawei-obs", bucket="sweep-obs", region="cn-north-4"),
        "qiniu": store("qiniu", bucket="sweep-qiniu"),
        "gcs": store("gcs", bucket="sweep-gcs"),
        # an upload callback in the policy
        "cb": P(format="native", bucket="cb-bucket", endpoint="https://cb-bucket.oss-cn-hangzhou.aliyuncs.com",
                key="cb/{user}/{uuid}{ext}", **_any),
    }


SERVER = {"base_path": "/upload", "identity_param": "UPSIGN_USER", "threads": 32, "max_body": 65536,
          "default_profile": "v1", "max_expires_in": 3600}
CALLBACK_BODY = '{"bucket":${bucket},"object":${object},"size":${size},"user":${x:user}}'


def write_sweep_config(d: Path, pub_pem: Path) -> Path:
    creds = d / "creds.json"
    expiration = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    creds.write_text(json.dumps({"AccessKeyId": FILE_AKID, "AccessKeySecret": FILE_SECRET,
                                 "SecurityToken": FILE_TOKEN, "Expiration": expiration}))
    creds.chmod(0o600)
    binding = d / "binding.key"
    binding.write_text(BINDING_SECRET + "\n")
    binding.chmod(0o600)
    tv = helpers.toml_value
    text = helpers.toml_text(SERVER, sweep_profiles(creds))
    text += ("\n[profiles.cb.callback]\n"
             f'url = "https://app.example.com/upload/callback"\nbody = {tv(CALLBACK_BODY)}\n'
             "\n[callback]\n"
             f"binding_secret = {tv(str(binding))}\n"
             # The sweep's own signed callbacks are unbound; bound ones are still checked.
             "require_binding = false\n"
             f"public_key_file = {tv(str(pub_pem))}\n"
             f"records = {tv(str(d / 'records.jsonl'))}\n"
             'response = "{\\"ok\\":true,\\"key\\":\\"${object}\\"}"\n')
    path = d / "upsign.toml"
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------
# Request shapes


@dataclass
class Shape:
    name: str
    method: str
    target: str
    headers: dict = field(default_factory=dict)
    body: bytes | None = None
    valid: bool = False            # must answer 200: a signing path that reads a secret ran
    nginx_answers: bool = False    # refused by nginx itself, never reaches the worker

    def wire(self, port: int) -> bytes:
        h = {"Host": f"127.0.0.1:{port}", "X-Test-User": USER, **self.headers}
        h = {k: v for k, v in h.items() if v is not None}
        if self.body is not None:
            h["Content-Length"] = str(len(self.body))
        head = f"{self.method} {self.target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())
        return head.encode("latin-1") + b"\r\n" + (self.body or b"")


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON_CT = {"Content-Type": "application/json"}
PARAMS = {
    "v1": {"filename": "photo.jpg", "size": "1234"},
    "v4": {"filename": "report.pdf", "size": "5000", "contentType": "application/pdf", "x-oss-meta-album": "summer"},
    "sts": {"filename": "clip.mp4", "size": "99999", "contentType": "video/mp4"},
    "app": {"filename": "a.png"},
    "file": {"filename": "scan.tiff", "size": "77"},
    "s3": {"filename": "s.jpg", "contentType": "image/jpeg", "size": "10"},
    "cos": {"filename": "c.webp", "size": "2048"},
    "obs": {"filename": "o.gif"},
    "qiniu": {"filename": "q.png", "size": "3"},
    "gcs": {"filename": "g.txt", "contentType": "text/plain"},
    "cb": {"filename": "cb.jpg", "size": "42"},
}


def shapes(key, other_key) -> list[Shape]:
    q = urllib.parse.urlencode
    out: list[Shape] = []
    # valid, each profile in the three carriers
    for prof, params in PARAMS.items():
        p = {"profile": prof, **params}
        out.append(Shape(f"{prof}: GET query", "GET", "/upload/policy?" + q(p), valid=True))
        out.append(Shape(f"{prof}: POST form", "POST", "/upload/policy", FORM, q(p).encode(), valid=True))
        out.append(Shape(f"{prof}: POST JSON", "POST", "/upload/policy", JSON_CT, json.dumps(p).encode(), valid=True))
    out += [
        Shape("default profile", "GET", "/upload/policy?filename=a.jpeg", valid=True),
        Shape("v4 as uppy", "GET", "/upload/policy?profile=v4&format=uppy&filename=a.jpg", valid=True),
        Shape("v1 as native", "GET", "/upload/policy?profile=v1&format=native&filename=a.png&contentType=image/png",
              valid=True),
        Shape("with X-Request-Id", "GET", "/upload/policy?profile=sts&filename=x.jpg",
              {"X-Request-Id": "sweep-" + "r" * 100}, valid=True),
    ]

    def bad(name, method, target, headers=None, body=None):
        out.append(Shape(name, method, target, dict(headers or {}), body))

    pol = "/upload/policy"
    for prof in ("v1", "v4", "sts", "file", "s3", "qiniu"):
        bad(f"{prof}: bad extension" if prof == "v1" else f"{prof}: negative size", "GET",
            f"{pol}?profile={prof}&filename=evil.exe" if prof == "v1" else f"{pol}?profile={prof}&filename=a.jpg&size=-5")
        bad(f"{prof}: size too large", "GET", f"{pol}?profile={prof}&filename=a.jpg&size=99999999999999")
        bad(f"{prof}: no identity", "GET", f"{pol}?profile={prof}&filename=a.jpg", {"X-Test-User": None})
        bad(f"{prof}: bad identity", "POST", pol, {**FORM, "X-Test-User": "a/b"}, f"profile={prof}".encode())
    bad("unknown profile", "GET", f"{pol}?profile=nope&filename=a.jpg")
    bad("unknown profile JSON", "POST", pol, JSON_CT, b'{"profile":"' + b"n" * 300 + b'"}')
    bad("contentType not allowed", "GET", f"{pol}?profile=v1&filename=a.jpg&contentType=text/html")
    bad("size not a number", "GET", f"{pol}?profile=v4&filename=a.jpg&size=1e3")
    bad("format not allowed", "GET", f"{pol}?profile=v1&filename=a.jpg&format=aliyun-appserver")
    bad("format unknown", "GET", f"{pol}?profile=v4&filename=a.jpg&format=xml")
    bad("meta not allowed", "GET", f"{pol}?profile=v4&filename=a.jpg&x-oss-meta-evil=1")
    bad("parameter twice", "GET", f"{pol}?profile=v1&profile=v4")
    bad("query and body", "POST", f"{pol}?profile=v4", FORM, b"profile=v1")
    bad("bad percent escape", "GET", f"{pol}?profile=v4&filename=%zz.jpg")
    bad("long query", "GET", f"{pol}?profile=v4&filename=" + "a" * 6000 + ".jpg")
    bad("secret-shaped parameter name", "GET", f"{pol}?profile=v4&OSSAccessKeySecret=1&secret=2")
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
        bad(f"{method} policy", method, f"{pol}?profile=v1&filename=a.jpg",
            FORM if method in ("PUT", "PATCH") else None, b"profile=v1" if method in ("PUT", "PATCH") else None)
    bad("JSON truncated", "POST", pol, JSON_CT, b'{"profile":"v4","filename":')
    bad("JSON nested", "POST", pol, JSON_CT, b'{"profile":{"x":1}}')
    bad("JSON array", "POST", pol, JSON_CT, b'["v4"]')
    bad("JSON duplicate key", "POST", pol, JSON_CT, b'{"profile":"v4","profile":"v1"}')
    bad("JSON lone surrogate", "POST", pol, JSON_CT, b'{"filename":"\\ud800.jpg"}')
    bad("JSON not UTF-8", "POST", pol, JSON_CT, b'{"profile":"\xff"}')
    bad("JSON deep", "POST", pol, JSON_CT, b"[" * 5000 + b"]" * 5000)
    bad("JSON huge number", "POST", pol, JSON_CT, b'{"profile":"v4","filename":"a.jpg","size":' + b"9" * 400 + b"}")
    bad("form binary", "POST", pol, FORM, bytes(range(256)) * 8)
    bad("form empty", "POST", pol, FORM, b"")
    bad("text/plain body", "POST", pol, {"Content-Type": "text/plain"}, b"profile=v4")
    bad("no content type", "POST", pol, {}, b"profile=v4&filename=a.jpg")
    bad("multipart body", "POST", pol, {"Content-Type": "multipart/form-data; boundary=b"},
        b'--b\r\nContent-Disposition: form-data; name="profile"\r\n\r\nv4\r\n--b--\r\n')
    bad("body over max_body (70 KB)", "POST", pol, JSON_CT, b'{"filename":"' + b"x" * 70_000 + b'"}')
    out.append(Shape("body over nginx's 256k", "POST", pol, dict(FORM), b"filename=" + b"y" * 300_000,
                     nginx_answers=True))
    for method in ("GET", "HEAD", "POST", "PUT"):
        bad(f"healthz {method}", method, "/upload/healthz", FORM if method in ("POST", "PUT") else None,
            b"x=1" if method in ("POST", "PUT") else None)
    for method in ("GET", "HEAD", "POST"):
        bad(f"metrics {method}", method, "/upload/metrics", FORM if method == "POST" else None,
            b"x=1" if method == "POST" else None)
    for target in ("/upload/", "/upload/nope", "/upload/policy/x", "/", "/upload/healthz/x?y=1",
                   "/upload/POLICY?profile=v1", "/upload/%70olicy?profile=v1&filename=a.jpg"):
        bad(f"route {target[:30]}", "GET", target)

    # callbacks: signed (pinned key), signed by another key, unsigned, junk
    cb = "/upload/callback?src=sweep"
    good = b'{"bucket":"cb-bucket","object":"cb/alice/x.jpg","size":42,"x:user":"alice"}'
    form = b"bucket=cb-bucket&object=cb%2Falice%2Fy.png&size=5"

    def cbs(name, body, ctype="application/json", *, k=key, signed_body=None, target=cb):
        auth = sim.sign(k, target, body if signed_body is None else signed_body)
        out.append(Shape(name, "POST", target, {"Content-Type": ctype, "Authorization": auth}, body,
                         valid=(k is key and signed_body is None and name.endswith("ok"))))

    cbs("callback JSON ok", good)
    cbs("callback form ok", form, "application/x-www-form-urlencoded")
    cbs("callback other key", good, k=other_key)
    cbs("callback body changed", good, signed_body=good + b" ")
    cbs("callback junk JSON", b'{"a":[1,{"b":2}]}')
    cbs("callback not UTF-8", b"bucket=\xff", "application/x-www-form-urlencoded")
    cbs("callback text/plain", b"hi", "text/plain")
    bad("callback unsigned", "POST", cb, JSON_CT, good)
    bad("callback auth not base64", "POST", cb, {**JSON_CT, "Authorization": "***"}, good)
    bad("callback auth junk", "POST", cb, {**JSON_CT, "Authorization": base64.b64encode(b"\x01" * 2000).decode()}, good)
    bad("callback key URL header", "POST", cb, {**JSON_CT, "Authorization": "AAAA",
                                                "x-oss-pub-key-url": base64.b64encode(b"http://127.0.0.1:1/k.pem").decode()}, good)
    bad("callback GET", "GET", cb)
    bad("callback PUT", "PUT", cb, JSON_CT, good)
    bad("callback over max_body", "POST", cb, {**JSON_CT, "Authorization": "AAAA"}, b"{" + b" " * 70_000 + b"}")
    return out


# --------------------------------------------------------------------------------------------
# The client


class Result:
    def __init__(self, shapes_: list[Shape]):
        self.shapes = shapes_
        self.statuses = [collections.Counter() for _ in shapes_]
        self.leaks: list[tuple[str, list[str]]] = []
        self.errors: list[str] = []
        self.sent = 0
        self.client_cpu = 0.0


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[int, bytes, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.strip().lower()] = v.strip()
    close = headers.get(b"connection", b"").lower() == b"close"
    if method == "HEAD" or status in (204, 304) or status < 200:
        return status, head, b"", close
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(chunk[:-2])
        return status, head, b"".join(parts), close
    if b"content-length" in headers:
        return status, head, await reader.readexactly(int(headers[b"content-length"])), close
    return status, head, await reader.read(), True


async def _connection(port: int, work: collections.deque, wires: list[bytes], res: Result, scanner: Scanner):
    reader = writer = None
    while work:
        i = work.popleft()
        shape = res.shapes[i]
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
            writer.write(wires[i])
            await writer.drain()
            status, head, body, close = await asyncio.wait_for(_read_response(reader, shape.method), 30)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as e:
            res.statuses[i]["socket error"] += 1
            res.errors.append(f"{shape.name}: {type(e).__name__}: {e}")
            if writer is not None:
                writer.close()
            reader = writer = None
            continue
        res.sent += 1
        res.statuses[i][status] += 1
        found = scanner.find(head + body)
        if found:
            res.leaks.append((f"{shape.name} -> {status}", found))
        if close:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


async def _drive(port: int, res: Result, scanner: Scanner, total: int) -> None:
    wires = [s.wire(port) for s in res.shapes]
    # Every shape in turn, so each is sent total/len(shapes) times, interleaved.
    work = collections.deque(i % len(res.shapes) for i in range(total))
    await asyncio.gather(*(_connection(port, work, wires, res, scanner) for _ in range(CONNECTIONS)))


# --------------------------------------------------------------------------------------------
# The sweep (one per module)


@dataclass
class Sweep:
    result: Result
    scanner: Scanner
    seconds: float
    worker_log_lines: int
    worker_request_lines: int
    log_leaks: list
    nginx_leaks: list
    nginx_files: list


@pytest.fixture(scope="module")
def sweep(nginx_bin) -> Sweep:
    d = helpers.scratch_dir("ussweep")
    key, other = sim.new_key(1024), sim.new_key(1024)
    pub = d / "callback-pub.pem"
    pub.write_bytes(sim.public_pem(key))
    config = write_sweep_config(d, pub)
    env = helpers.cred_env(**dict(zip(STS_ENV, (ALT_AKID, ALT_SECRET, ALT_TOKEN))))
    check = helpers.run_cli(["check-config", "--config", str(config)], env=env)
    assert check.returncode == 0, f"sweep configuration refused:\n{check.stdout}\n{check.stderr}"

    sock = d / "upsign.sock"
    # trace is the lowest level: every line the worker can write is scanned.
    argv = helpers.serve_argv(config, listen=f"unix:{sock}") + ["--log-level", "trace"]
    worker = helpers.Worker(argv, env, name="sweep", log_dir=d)
    nginx = None
    try:
        helpers.wait_unix_socket(sock, worker)
        nginx = Nginx(f"unix:{sock}", keepalive=16, extra_location=(
            "client_max_body_size 256k;\n"
            "            fastcgi_param HTTP_PROXY \"\";\n"
            # as nginx.conf.example: a request on a kept connection the worker has just closed
            # (it does after its own 413) is retried on a new one, POST included
            "            fastcgi_next_upstream error timeout non_idempotent;"))
        res = Result(shapes(key, other))
        scanner = Scanner()
        t0, cpu0 = time.monotonic(), time.process_time()
        asyncio.run(_drive(nginx.port, res, scanner, REQUESTS))
        seconds, res.client_cpu = time.monotonic() - t0, time.process_time() - cpu0

        # nginx's files (error log at info, access log, temp files) before nginx.stop() removes them
        nginx_files, nginx_leaks = [], []
        for p in sorted(nginx.dir.rglob("*")):
            if p.is_file():
                nginx_files.append(p.name)
                for n, line in enumerate(p.read_bytes().splitlines(), 1):
                    if found := scanner.find(line):
                        nginx_leaks.append((f"{p.name}:{n}", found, line[:200]))
    finally:
        if nginx is not None:
            nginx.stop()
        worker.stop()

    log_leaks, lines, request_lines = [], 0, 0
    for p in (worker.log_path, worker.out_path, d / "records.jsonl"):
        if not p.exists():
            continue
        for n, line in enumerate(p.read_bytes().splitlines(), 1):
            lines += 1
            request_lines += b'"msg":"request"' in line
            if found := scanner.find(line):
                log_leaks.append((f"{p.name}:{n}", found, line[:200]))
    sw = Sweep(res, scanner, seconds, lines, request_lines, log_leaks, nginx_leaks, nginx_files)
    _record(sw)
    return sw


def _record(sw: Sweep) -> None:
    res = sw.result
    rows = [f"secret sweep: {res.sent:,} answers to {REQUESTS:,} requests in {sw.seconds:.1f} s "
            f"({res.sent / sw.seconds:,.0f}/s, {CONNECTIONS} connections, client CPU {res.client_cpu:.1f} s); "
            f"{sw.scanner.scanned_bytes:,} bytes scanned "
            f"for {len(sw.scanner.forms)} forms of {len(SWEPT_SECRETS)} secrets; worker log {sw.worker_log_lines:,} lines",
            f"{'shape':<42} {'sent':>6}  statuses"]
    for s, c in zip(res.shapes, res.statuses):
        rows.append(f"{s.name[:42]:<42} {sum(c.values()):>6}  "
                    + ", ".join(f"{k}: {v}" for k, v in sorted(c.items(), key=lambda kv: str(kv[0]))))
    text = "\n".join(rows) + "\n"
    print("\n" + text)
    out = Path(os.environ.get("UPSIGN_ARTIFACTS") or helpers.ROOT / ".build-artifacts")
    out.mkdir(parents=True, exist_ok=True)
    (out / "secret_sweep.txt").write_text(text)


def test_sweep_sent_every_shape_and_signed(sweep):
    res = sweep.result
    assert not res.errors, f"{len(res.errors)} socket errors, first: {res.errors[:3]}"
    assert res.sent == REQUESTS
    for s, c in zip(res.shapes, res.statuses):
        assert sum(c.values()) >= REQUESTS // len(res.shapes), f"{s.name}: sent {sum(c.values())}"
        if s.valid:
            # the signing paths that read the secrets really ran
            assert set(c) == {200}, f"{s.name}: statuses {dict(c)}"
        else:
            assert all(isinstance(k, int) and k < 500 for k in c), f"{s.name}: statuses {dict(c)}"
    # every answer and every log line was scanned
    assert sweep.scanner.scanned_bytes > REQUESTS * 100
    to_worker = sum(sum(c.values()) for s, c in zip(res.shapes, res.statuses) if not s.nginx_answers)
    assert sweep.worker_request_lines >= to_worker, \
        f"the worker logged {sweep.worker_request_lines} request lines for the {to_worker} requests nginx passed on"


def test_no_secret_in_any_response(sweep):
    leaks = sweep.result.leaks
    assert not leaks, f"{len(leaks)} response(s) carry a secret: {leaks[:5]}"


def test_no_secret_in_worker_log_or_records(sweep):
    assert sweep.worker_log_lines > REQUESTS
    assert not sweep.log_leaks, f"worker output carries a secret: {sweep.log_leaks[:5]}"


def test_no_secret_in_nginx_logs(sweep):
    assert "error.log" in sweep.nginx_files and "access.log" in sweep.nginx_files, sweep.nginx_files
    assert not sweep.nginx_leaks, f"nginx's files carry a secret: {sweep.nginx_leaks[:5]}"
