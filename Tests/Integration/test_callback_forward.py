"""Forwarding verified upload callbacks to the application (`[callback] forward`), through a
real nginx, to a real application server (upload_app.py).

Written from the feature's contract, never from upsign's sources:

  * `forward = "http(s)://host[:port]/path"` or `"unix:/abs/path.sock:/path"` (nginx's syntax),
    `forward_timeout` seconds in 0.1...4.5 (default 3). `forward` with `records`, or with
    `response`, is refused (check-config names `callback.forward` / `callback.response`); a
    malformed forward names `callback.forward`, a timeout out of range `callback.forward_timeout`.
  * A callback that passes OSS's signature check and the binding check is POSTed to the target
    with `Content-Type: application/json` and `Upsign-Upload-Id: ID`, the body
    `{"id":ID,"bucket","key","size":N,"mimeType","etag","user","time":"...Z"}`; ID is 32 lowercase
    hex, the same for a resend of the same callback body, another for another issued upload;
    `user` is the user the upload was issued to.
  * The application's 2xx with a JSON body (any JSON value, at most 1 MiB) reaches the caller as
    200 with exactly those bytes. Unreachable, non-2xx (3xx included, redirects not followed), not
    JSON, more than 1 MiB: 502 `forward_failed`; no full answer within forward_timeout: 504
    `forward_timeout`. No message names the forward URL or a secret.
  * Exactly once while upsign runs: a delivered callback sent again gets the same bytes and the
    application is not contacted again; a failed delivery is not remembered. After a restart a
    resend is forwarded again with the same ID (the application dedupes on it).
  * Refused callbacks never reach the application; a hung application holds no policy request;
    no records file is written.

Readings this module depends on: `check-config` reports problems with exit 1
(README's CLI table; `serve` exits 78, checked too); `size` in the forwarded body is a JSON
number, as the contract writes `"size":N`; a port outside 1...65535 is a malformed forward.

Runtime: ~9 s (of which ~3 s waiting out the 1 s forward_timeout three times).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import pytest

import helpers
import oss_callback_sim as sim
import upload_app
from harness.callback_checks import check_error, issue, issued, json_body, main_url, oss_body, oss_values
from harness.callbacks import BINDING_SECRET, RESPONSE, CbStack, config_text, write_stack_config
from harness.http import raw_request
from harness.processes import check_config, output_lines
from harness.stack import start_stack
from harness.verdicts import oss_rejections

ID_RE = re.compile(r"^[0-9a-f]{32}$")
FORWARD_MEMBERS = {"id", "bucket", "key", "size", "mimeType", "etag", "user", "time"}
PROFILE_CASES = [
    ("cb", "native", []), ("cb", "uppy", [("format", "uppy")]), ("cbform", "native", []),
    ("cbapp", "aliyun-appserver", []),
]


# --------------------------------------------------------------------------------------------
# The application and the stacks


@pytest.fixture(scope="module")
def app():
    a = upload_app.UploadApp()
    yield a
    a.close()


@pytest.fixture(autouse=True)
def _app_answers_ok(app):
    """Every test starts with the application running and answering `ok`."""
    if not app.running:
        app.start()
    app.set_behaviour("ok")
    yield
    app.set_behaviour("ok")      # release anything a test left hanging


@pytest.fixture(scope="module")
def unix_app():
    d = helpers.scratch_dir("usapp")
    a = upload_app.UnixUploadApp(d / "app.sock")
    yield a
    a.close()


def _start(name: str, keyserver, dead_port, forward: str, env_extra: dict | None = None,
           cfg: Path | None = None, **kw) -> CbStack:
    """A stack forwarding to `forward` (no records, no response), bound callbacks required."""
    if cfg is None:
        cfg, _ = write_stack_config(name, keyserver, dead_port, with_records=False, response=None,
                                        forward=forward, **kw)
        text = cfg.read_text()
        assert "records =" not in text and "response =" not in text and "require_binding" not in text, text
        proc = check_config(cfg)
        assert proc.returncode == 0, f"check-config refused the forwarding config: {proc.stdout}{proc.stderr}"
    s = start_stack(cfg, env=helpers.cred_env(token=True, **(env_extra or {})), keepalive=32)
    return CbStack(s, None, cfg)


@pytest.fixture(scope="module")
def fwd_stack(nginx_bin, keyserver, dead_port, app):
    st = _start("fwd", keyserver, dead_port, app.forward)
    yield st
    st.stack.close()


@pytest.fixture(scope="module")
def hang_stack(nginx_bin, keyserver, dead_port, app):
    """forward_timeout 1 s, one event loop (a forward that held the loop would hold everything)."""
    st = _start("fwdhang", keyserver, dead_port, app.forward, env_extra={"UPSIGN_EVENT_LOOPS": "1"},
                forward_timeout=1.0)
    yield st
    st.stack.close()


@pytest.fixture(scope="module")
def unix_stack(nginx_bin, keyserver, dead_port, unix_app):
    st = _start("fwdunix", keyserver, dead_port, unix_app.forward)
    yield st
    st.stack.close()


# --------------------------------------------------------------------------------------------
# OSS's side and the checks


def post_callback(st: CbStack, body: bytes, ctype: str, key, key_url: str | None,
                  target: str = "/upload/callback", authorization: str | None = "sign"):
    h = sim.callback_headers(key, key_url, target, body, ctype, authorization=authorization)
    return raw_request(st.port, "POST", target.encode(), h, body)


class Call:
    """One upload's callback as OSS sends it: resend() sends the very same request again."""

    def __init__(self, st, iss, keys, keyserver, size: int | None = None, mime: str = "image/jpeg",
                 **override):
        self.st, self.iss = st, iss
        self.key, self.key_url = keys.main, main_url(keyserver)
        size = size if size is not None else max(iss.lo, 4096)
        why = oss_rejections(iss.fields, iss.prof["bucket"], size)
        assert not why, f"OSS would refuse the upload: {why}"
        cb = json.loads(base64.b64decode(iss.fields["callback"]))
        url = urllib.parse.urlsplit(cb["callbackUrl"].split(";")[0])
        self.target = url.path + ("?" + url.query if url.query else "")
        self.body, self.ctype, self.values = oss_body(iss, size, mime, **override)

    def send(self, st=None):
        return post_callback(st or self.st, self.body, self.ctype, self.key, self.key_url, self.target)

    resend = send


def check_forwarded(req: upload_app.Received, values: dict, *, user: str,
                    window: tuple[float, float] | None, path: str = "/uploads") -> str:
    """The request the application received for one callback; returns its ID."""
    assert req.method == "POST", req.method
    assert req.path == path, f"forwarded to {req.path!r}, want {path!r}"
    ct = req.header("Content-Type") or ""
    assert ct.split(";")[0].strip().lower() == "application/json", f"Content-Type {ct!r}"
    assert req.is_json and isinstance(req.json, dict), f"forwarded body is not a JSON object: {req.body[:300]!r}"
    doc = req.json
    assert set(doc) == FORWARD_MEMBERS, f"forwarded members {list(doc)} != {sorted(FORWARD_MEMBERS)}"
    assert list(doc)[0] == "id", f"`id` is not the first member: {list(doc)}"
    fid = doc["id"]
    assert isinstance(fid, str) and ID_RE.match(fid), f"id {fid!r} is not 32 lowercase hex"
    assert req.header("Upsign-Upload-Id") == fid, \
        f"Upsign-Upload-Id {req.header('Upsign-Upload-Id')!r} != body id {fid!r}"
    assert doc["bucket"] == values["bucket"], doc
    assert doc["key"] == values["object"], doc
    assert type(doc["size"]) is int and doc["size"] == int(values["size"]), \
        f"size {doc['size']!r} is not the number {values['size']}"
    assert doc["mimeType"] == values["mimeType"], doc
    assert doc["etag"] == values["etag"], doc
    assert doc["user"] == user, f"user {doc['user']!r} != the issued user {user!r}"
    assert isinstance(doc["time"], str) and doc["time"].endswith("Z"), doc["time"]
    t = helpers.parse_iso(doc["time"])
    if window is not None:
        assert window[0] - 2 <= t.timestamp() <= window[1] + 2, f"time {doc['time']} outside {window}"
    return fid


def check_passed_through(r, answer: bytes) -> None:
    """The caller got 200 with exactly the application's bytes."""
    assert r.status_code == 200, f"status {r.status_code}: {r.text[:400]!r}"
    ct = r.headers.get("content-type", "")
    assert ct.split(";")[0].strip().lower() == "application/json", f"Content-Type {ct!r}"
    assert r.headers.get("content-length") == str(len(r.content)), \
        f"Content-Length {r.headers.get('content-length')!r} for {len(r.content)} bytes"
    assert r.content == answer, f"answer {r.content[:200]!r} != the application's {answer[:200]!r}"


def check_forward_error(r, code: str, status: int, forward: str) -> None:
    check_error(r, code, status)
    text = r.content.decode("utf-8", errors="replace") + json.dumps(dict(r.headers))
    leaks = [forward, urllib.parse.quote(forward, safe=""), BINDING_SECRET, helpers.TOKEN, *helpers.ALL_SECRETS]
    if forward.startswith("unix:"):
        leaks.append(forward[len("unix:"):].rsplit(":", 1)[0])        # the socket's path
    else:
        leaks.append(urllib.parse.urlsplit(forward).netloc)          # host:port
    found = [s for s in leaks if s and s in text]
    assert not found, f"the {status} answer names {found}: {text[:400]!r}"


def assert_no_records(st: CbStack) -> None:
    """Nothing but the config and the binding secret in the stack's directory, and no .jsonl
    file open in the worker."""
    d = st.cfg.parent
    files = sorted(str(p.relative_to(d)) for p in d.rglob("*") if p.is_file())
    assert files == ["records/binding.key", "upsign.toml"], f"files written next to the config: {files}"
    open_jsonl = [t for t in helpers.descriptor_targets(st.stack.worker.pid).values() if t.endswith(".jsonl")]
    assert not open_jsonl, f"the worker holds a records file open: {open_jsonl}"


# --------------------------------------------------------------------------------------------
# 1. Configuration


def _write_cfg(tmp_path: Path, **kw) -> Path:
    kw.setdefault("response", None)
    kw.setdefault("records", None)
    text = config_text(prefixes=["https://127.0.0.1:1/ossk/"], secret_dir=tmp_path, **kw)
    cfg = tmp_path / "upsign.toml"
    cfg.write_text(text)
    return cfg


GOOD_FORWARDS = {
    "http-port": "http://127.0.0.1:8000/uploads",
    "http-no-port": "http://app.internal/hooks/uploads",
    "https": "https://app.example.com/uploads",
    "unix": "unix:/run/app/app.sock:/uploads",
}


@pytest.mark.parametrize("fid", list(GOOD_FORWARDS))
def test_config_forward_targets_are_accepted(tmp_path, fid):
    proc = check_config(_write_cfg(tmp_path, forward=GOOD_FORWARDS[fid]))
    assert proc.returncode == 0, output_lines(proc)


@pytest.mark.parametrize("timeout", [0.1, 3.0, 4.5])
def test_config_forward_timeout_in_range_is_accepted(tmp_path, timeout):
    proc = check_config(_write_cfg(tmp_path, forward=GOOD_FORWARDS["http-port"], forward_timeout=timeout))
    assert proc.returncode == 0, output_lines(proc)


REFUSED = {
    # case: (config_text keywords, the field named)
    "records-and-forward": ({"records": "RECORDS", "forward": GOOD_FORWARDS["http-port"]}, "callback.forward"),
    "response-and-forward": ({"response": RESPONSE, "forward": GOOD_FORWARDS["http-port"]}, "callback.response"),
    "forward-empty": ({"forward": ""}, "callback.forward"),
    "forward-ftp": ({"forward": "ftp://127.0.0.1/uploads"}, "callback.forward"),
    "forward-no-scheme": ({"forward": "127.0.0.1:8000/uploads"}, "callback.forward"),
    "forward-no-host": ({"forward": "http:///uploads"}, "callback.forward"),
    "forward-port-99999": ({"forward": "http://127.0.0.1:99999/uploads"}, "callback.forward"),
    "forward-port-65536": ({"forward": "http://127.0.0.1:65536/uploads"}, "callback.forward"),
    "forward-port-0": ({"forward": "http://127.0.0.1:0/uploads"}, "callback.forward"),
    "forward-port-negative": ({"forward": "http://127.0.0.1:-1/uploads"}, "callback.forward"),
    "forward-unix-relative": ({"forward": "unix:run/app.sock:/uploads"}, "callback.forward"),
    "forward-not-a-string": ({"forward": ["http://127.0.0.1:8000/uploads"]}, "callback.forward"),
    "timeout-too-small": ({"forward": GOOD_FORWARDS["http-port"], "forward_timeout": 0.05}, "callback.forward_timeout"),
    "timeout-zero": ({"forward": GOOD_FORWARDS["http-port"], "forward_timeout": 0.0}, "callback.forward_timeout"),
    "timeout-negative": ({"forward": GOOD_FORWARDS["http-port"], "forward_timeout": -1.0}, "callback.forward_timeout"),
    "timeout-too-large": ({"forward": GOOD_FORWARDS["http-port"], "forward_timeout": 4.6}, "callback.forward_timeout"),
    "timeout-a-string": ({"forward": GOOD_FORWARDS["http-port"], "forward_timeout": "3"}, "callback.forward_timeout"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_config_forward_problems_are_refused_naming_the_field(tmp_path, case):
    kw, field = dict(REFUSED[case][0]), REFUSED[case][1]
    if kw.get("records") == "RECORDS":
        kw["records"] = tmp_path / "uploads.jsonl"
    if isinstance(kw.get("forward"), list):
        # config_text writes strings; a TOML array in its place
        text = _write_cfg(tmp_path, forward="PLACEHOLDER").read_text()
        (tmp_path / "upsign.toml").write_text(text.replace('forward = "PLACEHOLDER"',
                                                           f"forward = {json.dumps(kw['forward'])}"))
        cfg = tmp_path / "upsign.toml"
    else:
        cfg = _write_cfg(tmp_path, **kw)
    proc = check_config(cfg)
    lines = output_lines(proc)
    assert proc.returncode == 1, f"{case}: check-config exit {proc.returncode}, want 1: {lines}"
    assert [l for l in lines if l.startswith(field + ": ")], f"{case}: no `{field}: ...` line in {lines}"


@pytest.mark.parametrize("case", ["records-and-forward", "response-and-forward", "forward-ftp", "timeout-too-large"])
def test_serve_exits_78_on_a_forward_problem(tmp_path, case):
    kw, field = dict(REFUSED[case][0]), REFUSED[case][1]
    if kw.get("records") == "RECORDS":
        kw["records"] = tmp_path / "uploads.jsonl"
    cfg = _write_cfg(tmp_path, **kw)
    proc = subprocess.run(helpers.serve_argv(cfg, listen=f"unix:{helpers.scratch_dir()}/x.sock"),
                          env=helpers.cred_env(), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=15)
    helpers.CAPTURED_OUTPUT.append(("serve forward-config stderr", proc.stderr))
    assert proc.returncode == 78, f"{case}: serve exit {proc.returncode}: {proc.stderr[-800:]}"
    assert field in proc.stderr, f"{case}: {field} not named: {proc.stderr[-800:]}"


# --------------------------------------------------------------------------------------------
# 2. Delivery, exactly once


@pytest.mark.parametrize("name,fmt,params", PROFILE_CASES)
def test_a_bound_callback_is_forwarded_once_and_the_apps_answer_reaches_the_caller(
        fwd_stack, app, keyserver, keys, name, fmt, params):
    st = fwd_stack
    call = Call(st, issued(st, name, fmt, params=params), keys, keyserver)
    mark = app.mark()
    t0 = time.time()
    r = call.send()
    got = app.since(mark)
    assert r.status_code == 200, f"status {r.status_code}: {r.text[:400]!r}; the app got {len(got)} requests"
    assert len(got) == 1, f"the application got {len(got)} requests for one callback"
    fid = check_forwarded(got[0], call.values, user="dave", window=(t0, time.time()))
    check_passed_through(r, upload_app.default_answer(got[0]))
    assert json.loads(r.content) == {"stored": fid, "key": call.iss.key}

    again = call.resend()
    check_passed_through(again, r.content)
    assert len(app.since(mark)) == 1, "the resend of a delivered callback reached the application again"
    assert_no_records(st)


ANSWERS = {
    # a 2xx with any JSON value, passed through byte for byte
    "created-201": (201, b'{"created": true, "n": 1}'),
    "accepted-202-array": (202, b'[1, "two", {"three": 3}]\n'),
    "string": (200, b'"stored"'),
    "number-with-whitespace": (200, b'  42 \r\n'),
    "unicode": (200, '{"名前": "caf\u00e9 \\u00e9 \U0001F600"}'.encode("utf-8")),
    "exactly-1-MiB": (200, b'"' + b"y" * (upload_app.MIB - 2) + b'"'),
}


@pytest.mark.parametrize("aid", list(ANSWERS))
def test_any_json_value_in_a_2xx_answer_reaches_the_caller_byte_for_byte(fwd_stack, app, keyserver, keys, aid):
    status, answer = ANSWERS[aid]
    call = Call(fwd_stack, issued(fwd_stack), keys, keyserver)
    app.set_behaviour("raw", status=status, body=answer)
    mark = app.mark()
    r = call.send()
    assert len(app.since(mark)) == 1
    check_passed_through(r, answer)
    app.set_behaviour("ok")
    again = call.resend()
    check_passed_through(again, answer)
    assert len(app.since(mark)) == 1, "the resend of a delivered callback reached the application again"


# --------------------------------------------------------------------------------------------
# 3. Concurrency


def test_four_hundred_concurrent_bound_callbacks_reach_the_app_exactly_once(fwd_stack, app, keyserver, keys):
    st = fwd_stack
    iss_list = [issued(st, user=f"user{i % 8}") for i in range(400)]
    calls = [(i, Call(st, iss, keys, keyserver)) for i, iss in enumerate(iss_list)]
    mark = app.mark()
    results: dict[int, object] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def run(chunk):
        for i, call in chunk:
            try:
                r = call.send()
            except Exception as exc:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(f"{i}: {exc!r}")
                continue
            with lock:
                results[i] = r

    threads = [threading.Thread(target=run, args=(calls[k::16],)) for k in range(16)]
    t0 = time.time()
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    t1 = time.time()
    assert not errors, errors[:5]
    statuses = sorted({r.status_code for r in results.values()})
    assert len(results) == 400 and statuses == [200], \
        (len(results), statuses, [r.text[:200] for r in results.values() if r.status_code != 200][:3])
    got = app.since(mark)
    assert len(got) == 400, f"the application got {len(got)} requests for 400 callbacks"
    by_key: dict[str, upload_app.Received] = {}
    for req in got:
        k = req.json.get("key") if isinstance(req.json, dict) else None
        assert k not in by_key, f"key {k!r} forwarded twice"
        by_key[k] = req
    assert set(by_key) == {iss.key for iss in iss_list}
    ids = set()
    for i, call in calls:
        req = by_key[call.iss.key]
        ids.add(check_forwarded(req, call.values, user=f"user{i % 8}", window=(t0, t1)))
        check_passed_through(results[i], upload_app.default_answer(req))
    assert len(ids) == 400, f"{len(ids)} distinct ids for 400 issued uploads"


# --------------------------------------------------------------------------------------------
# 4. The application is down, then back


def test_an_unreachable_app_is_502_and_the_resend_is_delivered_once_it_is_back(fwd_stack, app, keyserver, keys):
    call = Call(fwd_stack, issued(fwd_stack), keys, keyserver)
    mark = app.mark()
    app.stop()
    try:
        for _ in range(2):    # nothing remembered from the first failure either
            check_forward_error(call.send(), "forward_failed", 502, app.forward)
    finally:
        app.start()
    assert app.since(mark) == []
    t0 = time.time()
    r = call.resend()
    got = app.since(mark)
    assert r.status_code == 200, f"status {r.status_code}: {r.text[:400]!r}"
    assert len(got) == 1, f"the application got {len(got)} requests"
    check_forwarded(got[0], call.values, user="dave", window=(t0, time.time()))
    check_passed_through(r, upload_app.default_answer(got[0]))
    check_passed_through(call.resend(), r.content)
    assert len(app.since(mark)) == 1


# --------------------------------------------------------------------------------------------
# 5. A hanging application


@pytest.mark.parametrize("mode", ["hang", "partial-body"])
def test_an_app_that_does_not_answer_in_time_is_504_and_the_resend_keeps_the_id(hang_stack, app, keyserver, keys,
                                                                                mode):
    st = hang_stack
    call = Call(st, issued(st), keys, keyserver)
    app.set_behaviour("hang" if mode == "hang" else "partial", hang_s=8.0)
    mark = app.mark()
    r = call.send()
    check_forward_error(r, "forward_timeout", 504, app.forward)
    got = app.since(mark)
    assert len(got) == 1, f"the application got {len(got)} requests"
    first_id = check_forwarded(got[0], call.values, user="dave", window=None)
    app.set_behaviour("ok")
    r = call.resend()
    got = app.since(mark)
    assert r.status_code == 200, f"status {r.status_code}: {r.text[:400]!r}"
    assert len(got) == 2, f"the application got {len(got)} requests (want the hung one and the resend)"
    assert check_forwarded(got[1], call.values, user="dave", window=None) == first_id, \
        "the resend after a timeout carries another id"
    check_passed_through(r, upload_app.default_answer(got[1]))


def test_a_hanging_app_holds_no_policy_request(hang_stack, app, keyserver, keys):
    """Eight callbacks wait on a hung application (1 s forward_timeout, one event loop) while 50
    policy requests are made: all are answered 200, before the hung callbacks are answered
    (order, not time), and every hung callback ends 504."""
    st = hang_stack
    calls = [Call(st, issued(st, user=f"hang{i}"), keys, keyserver) for i in range(8)]
    app.set_behaviour("hang", hang_s=8.0)
    mark = app.mark()
    results: dict[int, object] = {}
    lock = threading.Lock()

    def callback(i):
        r = calls[i].send()
        with lock:
            results[i] = r

    cb_threads = [threading.Thread(target=callback, args=(i,), daemon=True) for i in range(8)]
    for th in cb_threads:
        th.start()
    guard = time.monotonic() + 5
    while not app.since(mark):
        assert time.monotonic() < guard, "no forwarded callback reached the application"
        time.sleep(0.005)
    with lock:
        answered_before = len(results)
    assert answered_before == 0, f"{answered_before} callbacks answered before the application answered any"

    policy: list = []
    pending_after: list[int] = []

    def policies(k):
        for j in range(10):
            r = issue(st, [("profile", "cb"), ("filename", "a.jpg"), ("x:album", "s")], user=f"p{k}-{j}")
            with lock:
                policy.append(r.status_code)
                pending_after.append(8 - len(results))

    p_threads = [threading.Thread(target=policies, args=(k,)) for k in range(5)]
    for th in p_threads:
        th.start()
    for th in p_threads:
        th.join(30)
    for th in cb_threads:
        th.join(15)
    assert policy == [200] * 50, f"policy answers {policy}"
    assert len(results) == 8, f"{8 - len(results)} hung callbacks never answered"
    for i, r in sorted(results.items()):
        check_forward_error(r, "forward_timeout", 504, app.forward)
    assert min(pending_after) > 0, \
        f"policy requests were answered only once the hung callbacks were (pending after each: {pending_after})"


# --------------------------------------------------------------------------------------------
# 6. The application's answer is not usable


FAILURES = {
    "status-500-json": ("status", {"status": 500}),
    "status-404-json": ("status", {"status": 404}),
    "status-409-json": ("status", {"status": 409}),
    "redirect-302": ("redirect", {}),
    "not-json": ("nonjson", {}),
    "json-then-garbage": ("raw", {"body": b'{"stored":1} trailing'}),
    "empty-200": ("raw", {"body": b""}),
    "no-content-204": ("raw", {"status": 204, "body": b""}),
    "oversized": ("oversized", {}),
    "oversized-chunked": ("oversized", {"chunked": True}),
}


@pytest.mark.parametrize("fid", list(FAILURES))
def test_an_unusable_app_answer_is_502_and_not_remembered(fwd_stack, app, keyserver, keys, fid):
    mode, kw = FAILURES[fid]
    call = Call(fwd_stack, issued(fwd_stack), keys, keyserver)
    app.set_behaviour(mode, **kw)
    mark = app.mark()
    check_forward_error(call.send(), "forward_failed", 502, app.forward)
    got = app.since(mark)
    assert len(got) == 1, f"the application got {len(got)} requests (a redirect followed?): " \
                          f"{[g.path for g in got]}"
    first_id = check_forwarded(got[0], call.values, user="dave", window=None)
    app.set_behaviour("ok")
    r = call.resend()
    got = app.since(mark)
    assert len(got) == 2, f"the resend after a failed delivery: the application got {len(got) - 1}"
    assert got[1].json.get("id") == first_id
    check_passed_through(r, upload_app.default_answer(got[1]))


# --------------------------------------------------------------------------------------------
# 7. A unix socket


def test_forward_over_a_unix_socket_and_a_missing_socket_is_502(unix_stack, unix_app, keyserver, keys):
    st, ua = unix_stack, unix_app
    ua.set_behaviour("ok")
    call = Call(st, issued(st), keys, keyserver)
    mark = ua.mark()
    t0 = time.time()
    r = call.send()
    got = ua.since(mark)
    assert r.status_code == 200, f"status {r.status_code}: {r.text[:400]!r}"
    assert len(got) == 1
    check_forwarded(got[0], call.values, user="dave", window=(t0, time.time()))
    check_passed_through(r, upload_app.default_answer(got[0]))

    other = Call(st, issued(st), keys, keyserver)
    ua.stop()
    try:
        assert not ua.sock_path.exists()
        check_forward_error(other.send(), "forward_failed", 502, ua.forward)      # no socket file
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(str(ua.sock_path))                                          # a file, nobody listening
        stale.close()
        check_forward_error(other.send(), "forward_failed", 502, ua.forward)
    finally:
        ua.start()
    r = other.resend()
    got = ua.since(mark)
    assert len(got) == 2 and r.status_code == 200, (len(got), r.status_code, r.text[:300])
    check_passed_through(r, upload_app.default_answer(got[1]))
    assert_no_records(st)


# --------------------------------------------------------------------------------------------
# 8. Refused callbacks never reach the application


REFUSALS = ["literal-body-naming-our-bucket", "another-users-x-user", "another-object", "another-bucket",
            "wrong-signing-key", "unsigned"]


@pytest.mark.parametrize("case", REFUSALS)
def test_a_refused_callback_never_reaches_the_app(fwd_stack, app, keyserver, keys, case):
    st = fwd_stack
    mark = app.mark()
    url = main_url(keyserver)
    if case == "literal-body-naming-our-bucket":
        v = oss_values(bucket="cb-bucket", object="uploads/dave/x.jpg", **{"x:user": "dave"})
        r = post_callback(st, json_body(v), "application/json", keys.main, url)
        check_error(r, "callback_not_bound", 403)
    elif case in ("another-users-x-user", "another-object", "another-bucket"):
        iss = issued(st)
        override = {"another-users-x-user": {"x:user": "mallory"}, "another-object": {"object": iss.key + ".other"},
                    "another-bucket": {"bucket": "another-bucket"}}[case]
        r = Call(st, iss, keys, keyserver, **override).send()
        check_error(r, "callback_not_bound", 403)
    else:
        call = Call(st, issued(st), keys, keyserver)
        if case == "wrong-signing-key":
            r = post_callback(st, call.body, call.ctype, keys.other, url, call.target)
            check_error(r, "callback_signature_invalid", 403)
        else:
            r = post_callback(st, call.body, call.ctype, keys.main, url, call.target, authorization=None)
            code = check_error(r, None, 403)
            assert code in ("callback_unsigned", "callback_signature_invalid"), code
    assert app.since(mark) == [], f"a refused callback reached the application: {app.since(mark)[0].body[:300]!r}"


# --------------------------------------------------------------------------------------------
# 9. A restart forgets what was delivered; the id stays


def test_after_a_restart_the_resend_reaches_the_app_again_with_the_same_id(nginx_bin, keyserver, dead_port, app,
                                                                           keys):
    first = _start("fwdrestart", keyserver, dead_port, app.forward)
    cfg = first.cfg
    try:
        call = Call(first, issued(first), keys, keyserver)
        mark = app.mark()
        r = call.send()
        got = app.since(mark)
        assert r.status_code == 200 and len(got) == 1, (r.status_code, r.text[:300], len(got))
        fid = check_forwarded(got[0], call.values, user="dave", window=None)
        check_passed_through(r, upload_app.default_answer(got[0]))
    finally:
        first.stack.close()
    second = _start("fwdrestart", keyserver, dead_port, app.forward, cfg=cfg)
    try:
        again = call.send(second)
        got = app.since(mark)
        assert again.status_code == 200, f"status {again.status_code}: {again.text[:400]!r}"
        assert len(got) == 2, f"the application got {len(got) - 1} requests after the restart"
        assert check_forwarded(got[1], call.values, user="dave", window=None) == fid, \
            "the resend after a restart carries another id"
        check_passed_through(again, r.content)
        check_passed_through(call.send(second), r.content)
        assert len(app.since(mark)) == 2, "the new worker forwarded the same callback twice"
        assert_no_records(second)
    finally:
        second.stack.close()
