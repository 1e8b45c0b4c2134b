"""upsign behind three more front ends, each logging the user in with HTTP Basic authentication
and passing the user to upsign as REMOTE_USER (`[server] identity_param = "REMOTE_USER"`):

* lighttpd, mod_fastcgi to the unix socket upsign listens on (lighttpd spawns nothing:
  "socket" + "check-local" => "disable");
* Caddy, `reverse_proxy unix//... { transport fastcgi }` behind `basicauth`;
* Apache httpd, mod_proxy_fcgi to the unix socket with connection reuse (enablereuse=on),
  behind mod_auth_basic.

The front ends run from the shipped examples, deploy/lighttpd/upsign.conf, deploy/caddy/Caddyfile
and deploy/apache/upsign-proxy-fcgi.conf, rendered by replacing the operator's paths with the
test's (harness/frontends.py: render() and the EXAMPLE_*/CADDY_* texts; each replaced text must still be in the
example, else the test fails), so the files operators copy are the files tested. Each front end gets a small main configuration of its own around the
example (a port on 127.0.0.1, logs in a scratch folder), the way an operator includes the
example in a site.

Per front end:
* a signed answer through it, the key naming the logged-in user (java and native profiles, a
  query and a form body), and upsign's own routing of the path the client asked for;
* no or wrong credentials: the front end's 401, and upsign never sees the request (checked in
  upsign's request log between two marker requests);
* client headers (Remote-User, X-Remote-User, ...) cannot set the identity;
* under load (wrk -t2 -c256 -d5s, Basic credentials on every request, upsign with its default
  thread count): no socket error, no non-2xx answer, the worker still alive and answering.
  Requests per second are printed, never asserted.

Why: upsign trusts whatever its identity_param says, so each front end must set it from its own
authentication only, and route every request to the right upsign path; and a front end that
keeps connections open (Apache's enablereuse) must not lose requests to how upsign holds them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import helpers
from harness.frontend_stack import FrontEndStack
from harness.frontends import basic
from harness.http import RawResponse
from harness.measure import say, timed
from harness.wrk import parse_wrk

SPOOFED = "mallory"
FORM_CT = {"Content-Type": "application/x-www-form-urlencoded"}
POLICY = "/upload/policy?profile=avatar&filename=a.png"
FRONT_ENDS = ["lighttpd", "caddy", "apache"]


@pytest.fixture(scope="module", params=FRONT_ENDS)
def stack(request, need_root):
    # need_root: the front ends bind and write where root may; Apache drops to www-data.
    s = FrontEndStack(request.param)
    yield s
    s.close()
    assert s.fe.proc.returncode is not None, f"{s.kind} did not stop"


def ok_json(r: RawResponse, s: FrontEndStack) -> dict:
    assert r.status_code == 200, f"{s.kind}: {r.status_code} {r.text[:400]}\n{s.logs()}"
    helpers.assert_std_headers(r)
    return r.json()


# --------------------------------------------------------------------------------------------
# Tests


def test_signed_policy_names_the_logged_in_user(stack):
    s, prof = stack, stack.profiles
    start = s.settle()
    # java profile, query string
    r, win = timed(s.fe.request, "GET", POLICY, auth=basic("alice"))
    helpers.check_signed(ok_json(r, s), fmt="java", prof=prof["avatar"], profile_name="avatar",
                         user="alice", filename="a.png", now_window=win)
    # native profile, content type and size
    r, win = timed(s.fe.request, "GET",
                   "/upload/policy?profile=photo&filename=a.png&contentType=image%2Fpng&size=2048",
                   auth=basic("alice"))
    helpers.check_signed(ok_json(r, s), fmt="native", prof=prof["photo"], profile_name="photo",
                         user="alice", filename="a.png", content_type="image/png", size=2048,
                         now_window=win)
    # a form body through the front end (CONTENT_LENGTH and FCGI_STDIN)
    r, win = timed(s.fe.request, "POST", "/upload/policy", auth=basic("alice"), headers=FORM_CT,
                   data="profile=doc&filename=report.PDF&size=4096")
    helpers.check_signed(ok_json(r, s), fmt="native", prof=prof["doc"], profile_name="doc",
                         user="alice", filename="report.PDF", size=4096, now_window=win)
    # another user (a bcrypt password hash): the key follows the login
    r, win = timed(s.fe.request, "GET", POLICY, auth=basic("bob"))
    body = ok_json(r, s)
    helpers.check_signed(body, fmt="java", prof=prof["avatar"], profile_name="avatar",
                         user="bob", filename="a.png", now_window=win)
    assert body["key"].startswith("avatars/bob/"), body["key"]

    seen = sorted((row.get("route"), row.get("status"), row.get("user")) for row in s.lines_since(start))
    assert seen == [("policy", 200, "alice")] * 3 + [("policy", 200, "bob")], \
        f"{s.kind}: upsign logged {seen}\n{s.logs()}"


def test_upsign_routes_on_the_path_the_client_asked(stack):
    """The front end hands upsign the client's path (upsign routes on DOCUMENT_URI, else
    REQUEST_URI, else SCRIPT_NAME + PATH_INFO): an unknown route is upsign's JSON 404 naming
    that path in its log, the health route answers."""
    s = stack
    start = s.settle()
    for path in ("/upload/nope", "/upload/policy/extra"):
        r = s.fe.request("GET", path, auth=basic("alice"))
        try:
            helpers.assert_http_error(r, "not_found")
        except AssertionError as e:
            raise AssertionError(f"{s.kind} {path}: {e}\n{s.logs()}") from None
    r = s.fe.request("GET", "/upload/healthz", auth=basic("alice"))
    assert ok_json(r, s)["status"] == "ok"
    seen = sorted((row.get("route"), row.get("status"), row.get("request.path", ""))
                  for row in s.lines_since(start))
    assert seen == [("healthz", 200, ""), ("unknown", 404, "/upload/nope"),
                    ("unknown", 404, "/upload/policy/extra")], \
        f"{s.kind}: upsign logged {seen}\n{s.logs()}"


@pytest.mark.parametrize("case", [
    ("no-credentials", None, {}),
    ("wrong-password", basic("alice", "not-her-password"), {}),
    ("unknown-user", basic("eve", "whatever"), {}),
    ("remote-user-header-only", None, {"Remote-User": "alice", "X-Remote-User": "alice"}),
], ids=lambda c: c[0])
def test_no_valid_login_is_the_front_ends_401(stack, case):
    _, auth, headers = case
    s = stack
    start = s.settle()
    r = s.fe.request("GET", POLICY, auth=auth, headers=headers)
    assert r.status_code == 401, f"{s.kind}: {r.status_code} {r.text[:300]}\n{s.logs()}"
    assert r.headers.get("WWW-Authenticate", "").lower().startswith("basic"), \
        f"{s.kind}: 401 without a Basic challenge: {dict(r.headers)}"
    assert "identity_required" not in r.text, \
        f"{s.kind}: the 401 is upsign's, so the request reached upsign: {r.text[:300]}"
    reached = s.lines_since(start)
    assert not reached, f"{s.kind}: upsign saw a request without a valid login: {reached}\n{s.logs()}"
    s.assert_every_policy_request_had_a_user()


def test_client_headers_cannot_set_the_identity(stack):
    s, prof = stack, stack.profiles
    start = s.settle()
    spoof = {"Remote-User": SPOOFED, "X-Remote-User": SPOOFED, "Remote_User": SPOOFED,
             "X-Forwarded-User": SPOOFED}
    r, win = timed(s.fe.request, "GET", POLICY, auth=basic("alice"), headers=spoof)
    body = ok_json(r, s)
    assert SPOOFED not in body["key"], f"{s.kind}: a client header set the identity: {body['key']}"
    helpers.check_signed(body, fmt="java", prof=prof["avatar"], profile_name="avatar",
                         user="alice", filename="a.png", now_window=win)
    seen = [(row.get("route"), row.get("user")) for row in s.lines_since(start)]
    assert seen == [("policy", "alice")], f"{s.kind}: upsign logged {seen}\n{s.logs()}"
    s.assert_every_policy_request_had_a_user()


def tally(lines: list[str], top: int = 6) -> str:
    """The front end's log lines grouped by message (Apache's AH code and text; otherwise the
    line without digits), most frequent first."""
    counts: dict[str, int] = {}
    for line in lines:
        m = re.search(r"(AH\d+: [^\[:]*)", line)
        key = m.group(1).strip() if m else re.sub(r"\d+", "N", line)[-160:]
        counts[key] = counts.get(key, 0) + 1
    return "; ".join(f"{n} x {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])[:top])


def connections_to(sock: Path) -> int:
    """Connections open to upsign's socket now: the accepted ends carry its path in
    /proc/net/unix (state 03 = connected; the listener is 01)."""
    n = 0
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        f = line.split()
        if len(f) >= 8 and f[7] == str(sock) and f[5] == "03":
            n += 1
    return n


def test_under_load_no_request_is_lost(stack, capsys):
    """wrk -t2 -c256 -d5s with Basic credentials on every request (--timeout 10s, so that a slow
    answer on this shared machine is not counted as an error; nothing about speed is asserted).
    Every answer must be 2xx, no socket may fail, and upsign must still be alive and answering."""
    s = stack
    wrk = shutil.which("wrk")
    if not wrk:
        pytest.fail("wrk not installed (deploy/install-deps.sh installs it)")
    warm = s.fe.request("GET", POLICY, auth=basic("alice"))
    ok_json(warm, s)
    log_before = len(s.worker.log())
    fe_log_before = s.fe.error_log_size()
    proc = subprocess.Popen([wrk, "-t2", "-c256", "-d5s", "--timeout", "10s", "--latency",
                             "-H", f"Authorization: {basic('alice')}", s.fe.url(POLICY)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    most_open = 0   # connections upsign had accepted, sampled while wrk runs
    while proc.poll() is None:
        most_open = max(most_open, connections_to(s.sock))
        time.sleep(0.25)
    out = proc.communicate(timeout=60)[0]
    res = parse_wrk(out)
    time.sleep(1)
    kept = connections_to(s.sock)   # still open a second later: the front end keeps them
    worker_news = [line for line in s.worker.log()[log_before:].splitlines()
                   if '"level":"info"' not in line]
    fe_log = s.fe.error_log(tail=2000)
    fe_news = s.fe.error_log_since(fe_log_before)
    say(capsys, f"[{s.kind}] wrk -t2 -c256 -d5s GET {POLICY} (Basic auth): {res['rps']:.0f} req/s, "
                f"{res['requests']} requests, {res['non2xx']} non-2xx, {res['errors']} socket errors; "
                f"up to {most_open} connections open to upsign during the run, {kept} kept "
                f"open after it; "
                f"{len(fe_news)} new {s.kind} log lines, {len(worker_news)} upsign log lines "
                f"above info" + (f"\n    {s.kind} logged: {tally(fe_news)}" if fe_news else ""))
    alive = s.worker.alive()
    assert alive, f"{s.kind}: upsign died under load\n{s.worker.describe()}\n{fe_log}"
    assert res["requests"] > 0, f"{s.kind}: wrk made no request:\n{out}"
    assert res["errors"] == 0 and res["non2xx"] == 0, (
        f"{s.kind}: {res['errors']} socket errors and {res['non2xx']} non-2xx answers out of "
        f"{res['requests']}\n--- wrk ---\n{out}\n--- {s.kind} logged during the run ---\n"
        f"{tally(fe_news)}\n{fe_log}\n--- upsign, above info ---\n"
        + "\n".join(worker_news[-20:]))
    # still answering, signed, after the load
    r, win = timed(s.fe.request, "GET", POLICY, auth=basic("alice"))
    helpers.check_signed(ok_json(r, s), fmt="java", prof=s.profiles["avatar"], profile_name="avatar",
                         user="alice", filename="a.png", now_window=win)
    s.assert_every_policy_request_had_a_user()
