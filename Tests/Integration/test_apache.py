"""upsign behind a real Apache httpd 2.4 (contract Addendum 4, issue 9: shared hosting).

* mod_fcgid: Apache spawns `upsign serve --config ...` itself (a listening socket as fd 0), gives
  a process one request at a time, and stops idle processes with SIGTERM;
* plain CGI (mod_cgid, the event MPM's CGI module): a ScriptAlias to the binary itself (the
  configuration from UPSIGN_CONFIG) or to a two-line wrapper (`exec upsign serve --config ...`),
  and the binary run directly as a CGI program, its output checked byte for byte;
* the identity from Apache's authentication (REMOTE_USER), tenants named by Apache (SetEnv per
  site, or mod_rewrite from the logged-in user), per-profile credentials from named variables;
* the operator examples deploy/apache/upsign.conf and deploy/apache/htaccess.example as written.

Every expectation comes from the contract (/tmp/upsign-spec.md) and Apache's documented
behaviour, never from upsign's sources. Latency and throughput are printed, never asserted.
Each Apache runs from its own ServerRoot in a scratch folder (nothing from /etc/apache2), as
www-data when the suite runs as root, and is stopped at teardown with a check that no apache or
upsign process of it is left.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import threading
import time
from pathlib import Path

import pytest

import helpers
from harness.apache import (MODULE_DIR, RUN_GROUP, RUN_USER, Apache, apache_bin, auth_block,
                            world_readable_dir, write_htpasswd)
from harness.cgi import parse_cgi, run_cgi
from harness.measure import say, timed
from harness.oss_v4 import check_v4
from harness.wrk import parse_wrk
from helpers import AKID, SECRET, UPSIGN_BIN

# Per-tenant key pairs (profiles `shop` and `blog` name these variables).
SHOP_AKID = "LTAI5tApacheShopTenant01"
SHOP_SECRET = "itest-Shop-Tenant-Secret-5ca1ab1e+/="
BLOG_AKID = "LTAI5tApacheBlogTenant02"
BLOG_SECRET = "itest-Blog-Tenant-Secret-b10gb10g"
TENANT_ENV = {"SHOP_OSS_AK": SHOP_AKID, "SHOP_OSS_SK": SHOP_SECRET,
              "BLOG_OSS_AK": BLOG_AKID, "BLOG_OSS_SK": BLOG_SECRET}
CRED_VARS = {"OSS_ACCESS_KEY_ID": AKID, "OSS_ACCESS_KEY_SECRET": SECRET, **TENANT_ENV}
ALL_MY_SECRETS = helpers.ALL_SECRETS + (SHOP_SECRET, BLOG_SECRET)

# Apache's users (an htpasswd file made by the test). "x/y" is a valid Basic-auth name that the
# contract refuses as an identity; "shopkeeper"/"blogger" are mapped to tenants by mod_rewrite.
PASSWORDS = {"alice": "alice-pw-1", "shopkeeper": "shop-pw-2", "blogger": "blog-pw-3",
             "x/y": "slash-pw-4"}

JSON_CT = {"Content-Type": "application/json"}
FORM_CT = {"Content-Type": "application/x-www-form-urlencoded"}
FCGID_CMD_THREADS = 2


# --------------------------------------------------------------------------------------------
# upsign configuration


def apache_profiles() -> dict:
    p = helpers.standard_profiles()
    p["v4nat"] = helpers.profile(
        signature="v4", format="native", region="oss-cn-shanghai", bucket="v4-bucket",
        endpoint="https://v4-bucket.oss-cn-shanghai.aliyuncs.com", key="v4/{user}/{uuid}{ext}",
        extensions=None, content_types=None, expires_in=900)
    p["shop"] = helpers.profile(
        apps=["shop"], access_key_id_env="SHOP_OSS_AK", secret_env="SHOP_OSS_SK",
        bucket="shop-bucket", endpoint="https://shop-bucket.oss-cn-hangzhou.aliyuncs.com",
        key="shop-uploads/{user}/{uuid}{ext}")
    p["blog"] = helpers.profile(
        apps=["blog"], access_key_id_env="BLOG_OSS_AK", secret_env="BLOG_OSS_SK",
        signature="v4", format="native", region="cn-beijing", bucket="blog-bucket",
        endpoint="https://blog-bucket.oss-cn-beijing.aliyuncs.com",
        key="blog-media/{user}/{uuid}{ext}", extensions=None, content_types=None)
    return p


APACHE_SERVER = dict(helpers.STANDARD_SERVER, identity_param="REMOTE_USER",
                     tenant_param="UPSIGN_APP")


@pytest.fixture(scope="module")
def cfg() -> tuple[Path, dict]:
    d = world_readable_dir("usapc")
    profiles = apache_profiles()
    path = helpers.write_config(d, server=APACHE_SERVER, profiles=profiles)
    os.chmod(path, 0o644)
    proc = helpers.run_cli(["check-config", "--config", str(path)], env=helpers.clean_env())
    assert proc.returncode == 0, f"check-config: {proc.stdout}{proc.stderr}"
    assert "share credentials across tenants" not in proc.stdout, \
        f"each tenant has its own key pair here, yet check-config warns: {proc.stdout}"
    return path, profiles


# --------------------------------------------------------------------------------------------
# Apache (harness/apache.py)


@pytest.fixture(scope="module")
def apache_ready(need_root):
    apache_bin()
    for mod in ("fcgid", "cgid", "mpm_event", "rewrite"):
        if not (MODULE_DIR / f"mod_{mod}.so").exists():
            pytest.fail(f"{MODULE_DIR}/mod_{mod}.so missing (apache2, libapache2-mod-fcgid)")
    if not shutil.which("htpasswd"):
        pytest.fail("htpasswd missing (apache2-utils, pulled in by apache2)")
    # Apache's children run as www-data: the binary must be reachable for that user.
    probe = subprocess.run(["setpriv", f"--reuid={RUN_USER}", f"--regid={RUN_GROUP}", "--clear-groups",
                            "test", "-x", UPSIGN_BIN], capture_output=True, timeout=10)
    if probe.returncode != 0:
        pytest.fail(f"{UPSIGN_BIN} is not executable by {RUN_USER} (Apache runs CGI and FastCGI "
                    "programs as its own user); put the binary where that user can reach it")


# Tenant from the logged-in user: mod_rewrite runs in the fixup phase, after authentication.
TENANT_FROM_USER = """RewriteEngine On
        RewriteCond %{REMOTE_USER} ^shopkeeper$
        RewriteRule ^ - [E=UPSIGN_APP:shop]
        RewriteCond %{REMOTE_USER} ^blogger$
        RewriteRule ^ - [E=UPSIGN_APP:blog]"""


def fcgid_vhost(name: str, cmd: str, *, access: str, extra: str = "", vhost_extra: str = "",
                max_procs: int = 8) -> str:
    env = "\n".join(f'    FcgidInitialEnv {k} "{v}"' for k, v in CRED_VARS.items())
    return f"""
<VirtualHost 127.0.0.1:*>
    ServerName {name}
{env}
    FcgidMaxProcessesPerClass {max_procs}
    FcgidMaxRequestLen 1048576
{vhost_extra}
    <Location /upload/>
        SetHandler fcgid-script
        Options +ExecCGI
        FcgidWrapper "{cmd}" virtual
        {access}
        {extra}
    </Location>
</VirtualHost>
"""


def cgi_vhost(name: str, target: str, *, access: str, config: Path | None, extra: str = "") -> str:
    env = "\n".join(f'        SetEnv {k} "{v}"' for k, v in CRED_VARS.items())
    conf_line = f'SetEnv UPSIGN_CONFIG "{config}"' if config else ""
    # Apache >= 2.4.59 drops a CGI program's Content-Length unless told to trust it
    # (CVE-2024-24795); the example does the same.
    conf_line += "\n        SetEnv ap_trust_cgilike_cl 1"
    return f"""
<VirtualHost 127.0.0.1:*>
    ServerName {name}
    ScriptAlias /upload "{target}"
    <Location /upload>
        {conf_line}
{env}
        {access}
        {extra}
    </Location>
</VirtualHost>
"""


class Site:
    """The module's Apache: name-based virtual hosts on one port, `{mode}.test` and friends for
    mode in fcgid / cgi."""

    def __init__(self, apache: Apache, config: Path, profiles: dict):
        self.apache = apache
        self.config = config
        self.profiles = profiles


@pytest.fixture(scope="module")
def site(apache_ready, cfg):
    base_config, profiles = cfg
    apache = Apache("site", PASSWORDS)
    # Every path the upsign processes see lies in Apache's folder, which marks them for the
    # leftover check at teardown.
    config = apache.dir / "upsign.toml"
    shutil.copy(base_config, config)
    os.chmod(config, 0o644)
    htpasswd = write_htpasswd(apache.dir / "htpasswd", PASSWORDS)
    wrapper = apache.dir / "upsign-wrapper.cgi"
    wrapper.write_text(f'#!/bin/sh\nexec "{UPSIGN_BIN}" serve --config "{config}"\n')
    os.chmod(wrapper, 0o755)
    # The idle-kill host gets its own copy of the configuration: its own process class.
    idle_config = apache.dir / "upsign-idle.toml"
    shutil.copy(config, idle_config)
    os.chmod(idle_config, 0o644)

    cmd = f"{UPSIGN_BIN} serve --config {config} --threads {FCGID_CMD_THREADS}"
    auth = auth_block(htpasswd)
    open_ = "Require all granted"
    body = [
        # Server-wide mod_fcgid scans: every second, so that the idle host's short timeouts act.
        # (mod_fcgid scans when more than N whole seconds passed: 0 = each new second.)
        "FcgidIdleScanInterval 0\nFcgidErrorScanInterval 0\nFcgidZombieScanInterval 1",
        fcgid_vhost("fcgid.test", cmd, access=auth, extra=TENANT_FROM_USER),
        fcgid_vhost("fcgid-open.test", cmd, access=open_),
        fcgid_vhost("fcgid-wide.test", cmd, access=open_, max_procs=16),
        fcgid_vhost("fcgid-shop.test", cmd, access=auth, extra="SetEnv UPSIGN_APP shop"),
        fcgid_vhost("fcgid-blog.test", cmd, access=auth, extra="SetEnv UPSIGN_APP blog"),
        fcgid_vhost("fcgid-idle.test",
                    f"{UPSIGN_BIN} serve --config {idle_config} --threads {FCGID_CMD_THREADS}",
                    access=open_,
                    vhost_extra="    FcgidIdleTimeout 1\n    FcgidProcessLifeTime 2\n"
                                "    FcgidMinProcessesPerClass 0"),
        # Plain CGI: the binary itself (configuration from UPSIGN_CONFIG) ...
        cgi_vhost("cgi.test", UPSIGN_BIN, access=auth, config=config, extra=TENANT_FROM_USER),
        # ... or a wrapper that runs `upsign serve --config`.
        cgi_vhost("cgi-open.test", str(wrapper), access=open_, config=None),
        cgi_vhost("cgi-shop.test", UPSIGN_BIN, access=auth, config=config,
                  extra="SetEnv UPSIGN_APP shop"),
        cgi_vhost("cgi-blog.test", UPSIGN_BIN, access=auth, config=config,
                  extra="SetEnv UPSIGN_APP blog"),
    ]
    apache.write("\n".join(body), ["mpm_event", "authz_core", "authn_core", "authn_file",
                                   "auth_basic", "authz_user", "alias", "env", "rewrite", "cgid",
                                   "fcgid"])
    apache.start()
    s = Site(apache, config, profiles)
    yield s
    left = apache.stop()
    assert not left, f"processes left after Apache stopped (killed now): {left}"


MODES = ["fcgid", "cgi"]


def host(mode: str, kind: str = "auth") -> str:
    return f"{mode}.test" if kind == "auth" else f"{mode}-{kind}.test"


def ok_json(r, apache: Apache) -> dict:
    assert r.status_code == 200, f"{r.status_code}: {r.text[:400]}\n--- apache ---\n{apache.error_log(3000)}"
    helpers.assert_std_headers(r)
    return r.json()


# --------------------------------------------------------------------------------------------
# mod_fcgid and plain CGI through Apache: signed answers


@pytest.mark.parametrize("mode", MODES)
def test_signed_policies_through_apache(site, mode):
    a, prof = site.apache, site.profiles
    # java (V1), the default profile, identity from Basic authentication
    r, win = timed(a.request, host(mode), "GET", "/upload/policy?filename=Me.JPG", user="alice")
    helpers.check_signed(ok_json(r, a), fmt="java", prof=prof["avatar"], profile_name="avatar",
                         user="alice", filename="Me.JPG", now_window=win)
    # native V1, form body
    r, win = timed(a.request, host(mode), "POST", "/upload/policy", user="alice", headers=FORM_CT,
                   data="profile=photo&filename=cat.png&contentType=image%2Fpng&size=2048")
    helpers.check_signed(ok_json(r, a), fmt="native", prof=prof["photo"], profile_name="photo",
                         user="alice", filename="cat.png", content_type="image/png", size=2048,
                         now_window=win)
    # native V1, JSON body
    r, win = timed(a.request, host(mode), "POST", "/upload/policy", user="alice", headers=JSON_CT,
                   data=json.dumps({"profile": "doc", "filename": "report.PDF", "size": 4096}))
    helpers.check_signed(ok_json(r, a), fmt="native", prof=prof["doc"], profile_name="doc",
                         user="alice", filename="report.PDF", size=4096, now_window=win)
    # native V4 (OSS4-HMAC-SHA256)
    r, win = timed(a.request, host(mode), "GET",
                   "/upload/policy?profile=v4nat&filename=clip.mp4&contentType=video%2Fmp4",
                   user="shopkeeper")
    check_v4(ok_json(r, a), prof=prof["v4nat"], profile_name="v4nat", user="shopkeeper",
             filename="clip.mp4", content_type="video/mp4", now_window=win)
    # no identity needed, nobody logged in
    r, win = timed(a.request, host(mode, "open"), "GET", "/upload/policy?profile=public&filename=x.bin")
    helpers.check_signed(ok_json(r, a), fmt="java", prof=prof["public"], profile_name="public",
                         user=None, filename="x.bin", now_window=win)
    # health
    r = a.request(host(mode, "open"), "GET", "/upload/healthz")
    assert ok_json(r, a)["status"] == "ok"
    r = a.request(host(mode, "open"), "HEAD", "/upload/healthz")
    assert r.status_code == 200 and r.content == b"", (r.status_code, r.content)


# --------------------------------------------------------------------------------------------
# Errors through Apache: JSON from upsign, not Apache's HTML pages

ERRORS = [
    # (id, host kind, method, path, user, headers, body, code)
    ("nobody-logged-in", "open", "GET", "/upload/policy?filename=a.jpg", None, {}, None,
     "identity_required"),
    ("remote-user-header-is-not-an-identity", "open", "GET", "/upload/policy?filename=a.jpg", None,
     {"Remote-User": "alice", "X-Remote-User": "alice"}, None, "identity_required"),
    ("login-name-with-slash", "auth", "GET", "/upload/policy?filename=a.jpg", "x/y", {}, None,
     "invalid_identity"),
    ("duplicate-param", "auth", "GET", "/upload/policy?filename=a.jpg&filename=b.jpg", "alice", {},
     None, "invalid_request"),
    ("bad-percent", "auth", "GET", "/upload/policy?filename=a%zz.jpg", "alice", {}, None,
     "invalid_request"),
    ("bad-json", "auth", "POST", "/upload/policy", "alice", JSON_CT, '{"filename": "a.jpg"',
     "invalid_request"),
    ("bad-size", "auth", "GET", "/upload/policy?filename=a.jpg&size=1e3", "alice", {}, None,
     "invalid_request"),
    ("extension", "auth", "GET", "/upload/policy?filename=evil.exe", "alice", {}, None,
     "extension_not_allowed"),
    # With tenants on (this configuration), the contract leaves open whether an unknown profile
    # is 404 unknown_profile (base contract) or the tenants' 403 profile_forbidden (which keeps
    # other tenants' profile names from being probed); either is accepted here.
    ("unknown-profile", "auth", "GET", "/upload/policy?profile=nope&filename=a.jpg", "alice", {},
     None, "unknown_profile|profile_forbidden"),
    ("unknown-route", "auth", "GET", "/upload/nope", "alice", {}, None, "not_found"),
    ("policy-subpath", "auth", "GET", "/upload/policy/extra", "alice", {}, None, "not_found"),
    ("text-plain-body", "auth", "POST", "/upload/policy", "alice", {"Content-Type": "text/plain"},
     "filename=a.jpg", "unsupported_media_type"),
    ("body-too-large", "auth", "POST", "/upload/policy", "alice", FORM_CT,
     "filename=a.jpg&pad=" + "x" * 2000, "body_too_large"),
    ("put", "auth", "PUT", "/upload/policy?filename=a.jpg", "alice", {}, None, "method_not_allowed"),
    ("delete", "auth", "DELETE", "/upload/policy", "alice", {}, None, "method_not_allowed"),
    ("healthz-post", "open", "POST", "/upload/healthz", None, FORM_CT, "", "method_not_allowed"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors_through_apache(site, mode, case):
    _, kind, method, path, user, headers, body, code = case
    r = site.apache.request(host(mode, kind), method, path, user=user, headers=headers, data=body)
    if "|" in code:
        codes = code.split("|")
        got = r.json().get("error", {}).get("code") if r.text.startswith("{") else None
        code = got if got in codes else codes[0]
    try:
        helpers.assert_http_error(r, code, 403 if code == "profile_forbidden" else None)
        helpers.assert_std_headers(r)
    except AssertionError as e:
        raise AssertionError(f"{e}\n--- apache ---\n{site.apache.error_log(2000)}") from None
    if code == "method_not_allowed":
        allow = {m.strip().upper() for m in r.headers.get("Allow", "").split(",") if m.strip()}
        assert method not in allow and ({"GET", "POST"} <= allow or {"GET", "HEAD"} <= allow), \
            f"Allow: {r.headers.get('Allow')!r}"


@pytest.mark.parametrize("mode", MODES)
def test_body_larger_than_a_socket_buffer_gets_413(site, mode):
    """A body far above max_body and above what the kernel buffers between Apache and the
    program (mod_cgid: a unix socket, ~200 KB; mod_fcgid: the whole request is written before the
    answer is read). The client must still get the JSON 413, not a reset connection or a 500;
    the test Apache raises FcgidMaxRequestLen to 1 MB so that upsign, not mod_fcgid, decides."""
    body = "filename=a.jpg&pad=" + "x" * 400_000
    try:
        r = site.apache.request(host(mode), "POST", "/upload/policy", user="alice", headers=FORM_CT,
                                data=body)
    except (ConnectionError, http.client.HTTPException) as e:
        raise AssertionError(
            f"{mode}: no answer to a {len(body)}-byte body ({e!r}): upsign answered without reading "
            f"the body, and Apache could not hand it over\n--- apache ---\n{site.apache.error_log(1500)}")
    try:
        helpers.assert_http_error(r, "body_too_large")
    except AssertionError as e:
        raise AssertionError(f"{mode}: {e}\n--- apache ---\n{site.apache.error_log(1500)}") from None


# --------------------------------------------------------------------------------------------
# Tenants: Apache names the app; per-profile key pairs


@pytest.mark.parametrize("mode", MODES)
def test_tenants_set_by_apache(site, mode):
    a, prof = site.apache, site.profiles
    refusals: list[str] = []

    def shop_ok(h, user):
        r, win = timed(a.request, h, "GET", "/upload/policy?profile=shop&filename=Bag.png", user=user)
        helpers.check_signed(ok_json(r, a), fmt="java", prof=prof["shop"], profile_name="shop",
                             akid=SHOP_AKID, secret=SHOP_SECRET, user=user, filename="Bag.png",
                             now_window=win)

    def blog_ok(h, user):
        r, win = timed(a.request, h, "GET", "/upload/policy?profile=blog&filename=post.webp"
                       "&contentType=image%2Fwebp", user=user)
        check_v4(ok_json(r, a), prof=prof["blog"], profile_name="blog", akid=BLOG_AKID,
                 secret=BLOG_SECRET, user=user, filename="post.webp", content_type="image/webp",
                 now_window=win)

    def refused(h, user, profile, headers=None):
        r = a.request(h, "GET", f"/upload/policy?profile={profile}&filename=a.png", user=user,
                      headers=headers)
        err = helpers.assert_http_error(r, "profile_forbidden", 403)
        helpers.assert_std_headers(r)
        refusals.append(err["message"])

    def shared_ok(h, user):   # a profile without `apps` serves every tenant, with the default key
        r, win = timed(a.request, h, "GET", "/upload/policy?filename=a.jpg", user=user)
        helpers.check_signed(ok_json(r, a), fmt="java", prof=prof["avatar"], profile_name="avatar",
                             user=user, filename="a.jpg", now_window=win)

    # SetEnv UPSIGN_APP per site (mod_fcgid passes it as a FastCGI param, CGI as a variable)
    shop_ok(host(mode, "shop"), "alice")
    refused(host(mode, "shop"), "alice", "blog")
    shared_ok(host(mode, "shop"), "alice")
    blog_ok(host(mode, "blog"), "alice")
    refused(host(mode, "blog"), "alice", "shop")
    shared_ok(host(mode, "blog"), "alice")
    # the tenant from the logged-in user (mod_rewrite after authentication)
    shop_ok(host(mode), "shopkeeper")
    refused(host(mode), "shopkeeper", "blog")
    blog_ok(host(mode), "blogger")
    refused(host(mode), "blogger", "shop")
    # no tenant at all: alice is mapped to none
    refused(host(mode), "alice", "shop")
    refused(host(mode), "alice", "blog")
    shared_ok(host(mode), "alice")
    # a client cannot name its tenant: headers arrive as HTTP_* params only
    refused(host(mode), "alice", "shop", headers={"Upsign-App": "shop", "X-Upsign-App": "shop"})
    refused(host(mode, "blog"), "alice", "shop", headers={"Upsign-App": "shop"})

    assert len(set(refusals)) == 1, f"refusals differ, so they describe the profile: {set(refusals)}"
    msg = refusals[0].lower()
    for word in ("shop", "blog", "apps", "tenant", "upsign_app", "bucket", "shop-uploads",
                 "blog-media", "aliyuncs", SHOP_AKID.lower(), BLOG_AKID.lower()):
        assert word not in msg, f"profile_forbidden message mentions {word!r}: {refusals[0]!r}"


# --------------------------------------------------------------------------------------------
# mod_fcgid stops idle processes while requests keep coming


def test_fcgid_idle_kills_lose_no_request(site, capsys):
    """FcgidIdleTimeout 1 / FcgidProcessLifeTime 2 / scans every second: Apache sends SIGTERM to
    idle upsign processes between bursts and, by lifetime, in the middle of them. Every request
    is answered 200 and signed; every killed process exits 0 on its own (no SIGKILL)."""
    a, prof = site.apache, site.profiles
    h = "fcgid-idle.test"
    results: list[tuple[int, str, tuple[float, float], str]] = []
    lock = threading.Lock()

    def client(stop_at: float, n: int):
        i = 0
        while time.monotonic() < stop_at:
            t0 = time.time()
            fname = f"f{n}-{i}.bin"
            try:
                r = a.request(h, "GET", f"/upload/policy?profile=public&filename={fname}", timeout=60)
                item = (r.status_code, r.text, (t0, time.time()), fname)
            except Exception as e:   # noqa: BLE001 - a lost request is the failure we look for
                item = (0, repr(e), (t0, time.time()), fname)
            with lock:
                results.append(item)
            i += 1

    def idle_pids() -> set[int]:
        return {pid for pid, vh in a.fcgid_started().items() if vh == h}

    def wait_all_exited(deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if idle_pids() and idle_pids() <= {e["pid"] for e in a.fcgid_exits()}:
                return
            time.sleep(0.2)

    rounds, kills_per_gap = 3, []
    t_start = time.monotonic()
    for rnd in range(rounds):
        stop_at = time.monotonic() + 2.0
        threads = [threading.Thread(target=client, args=(stop_at, k)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=90)
        before = {e["pid"] for e in a.fcgid_exits()}
        # The gap: long enough for the idle scan, SIGTERM, and the reaping of every process.
        wait_all_exited(10)
        kills_per_gap.append(len({e["pid"] for e in a.fcgid_exits()} - before))
    took = time.monotonic() - t_start

    lost = [(st, txt[:200]) for st, txt, _, _ in results if st != 200]
    assert not lost, f"{len(lost)} of {len(results)} requests not answered 200: {lost[:5]}\n{a.error_log(3000)}"
    for _, txt, win, fname in results:
        helpers.check_signed(json.loads(txt), fmt="java", prof=prof["public"], profile_name="public",
                             user=None, filename=fname, now_window=win)

    pids = idle_pids()
    exits = [e for e in a.fcgid_exits() if e["pid"] in pids]
    by_reason: dict[str, int] = {}
    for e in exits:
        by_reason[e["why"]] = by_reason.get(e["why"], 0) + 1
    say(capsys, f"[apache] mod_fcgid idle kills: {len(results)} requests in {rounds} bursts over "
                f"{took:.1f}s, all 200; {len(pids)} upsign processes started, {len(exits)} stopped "
                f"by Apache {by_reason}; stopped per gap {kills_per_gap}")
    assert all(k >= 1 for k in kills_per_gap), \
        f"Apache stopped no process in some gap ({kills_per_gap}): the test proved nothing\n{a.error_log(3000)}"
    stopped = [e for e in exits if e["why"] in ("idle timeout", "lifetime expired")]
    assert stopped, f"no idle/lifetime stop logged: {exits}"
    bad = [e for e in stopped if e["how"] != "terminated by calling exit(), return code: 0"]
    assert not bad, f"upsign did not exit 0 on Apache's SIGTERM: {bad}"
    killed = a.sigkilled() & pids
    assert not killed, f"Apache had to SIGKILL {killed}: upsign ignored SIGTERM while idle"


# --------------------------------------------------------------------------------------------
# The binary run directly as a CGI program


def cgi_env(config: Path, method: str, path: str, query: str = "", *, user: str | None = None,
            body: bytes = b"", content_type: str | None = None, request_uri: bool = True,
            creds: bool = True, extra: dict | None = None) -> dict:
    """The meta-variables Apache sets for `ScriptAlias /upload /path/to/upsign`."""
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
           "SERVER_SOFTWARE": "Apache/2.4 (pytest)", "SERVER_NAME": "127.0.0.1",
           "SERVER_ADDR": "127.0.0.1", "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1",
           "REMOTE_PORT": "40000", "REQUEST_SCHEME": "http", "REQUEST_METHOD": method,
           "QUERY_STRING": query, "SCRIPT_NAME": "/upload", "SCRIPT_FILENAME": UPSIGN_BIN,
           "DOCUMENT_ROOT": "/var/www/html", "UPSIGN_CONFIG": str(config)}
    info = path[len("/upload"):] if path.startswith("/upload") else path
    if info:
        env["PATH_INFO"] = info
    if request_uri:
        env["REQUEST_URI"] = path + ("?" + query if query else "")
    if user is not None:
        env["REMOTE_USER"] = user
        env["AUTH_TYPE"] = "Basic"
    if body or method == "POST":
        env["CONTENT_LENGTH"] = str(len(body))
    if content_type:
        env["CONTENT_TYPE"] = content_type
    if creds:
        env.update(CRED_VARS)
    env.update(extra or {})
    return env


def check_cgi_run(rc: int, out: bytes, err: str, method: str = "GET"):
    assert rc == 0, f"exit {rc}; stdout={out[:300]!r} stderr={err[-500:]!r}"
    for line in err.splitlines():
        if line.strip():
            assert isinstance(json.loads(line), dict), f"stderr line is not a JSON object: {line!r}"
    leaked = [s for s in ALL_MY_SECRETS if s.encode() in out or s in err]
    assert not leaked, "a secret in the CGI output"
    return parse_cgi(out, method)


BARE = "bare binary, UPSIGN_CONFIG"
SERVE = "upsign serve --config"


def cgi_argv(kind: str, config: Path) -> list[str]:
    return [UPSIGN_BIN] if kind == BARE else [UPSIGN_BIN, "serve", "--config", str(config)]


@pytest.mark.parametrize("kind", [BARE, SERVE])
def test_cgi_direct_signed_answers(cfg, kind):
    config, prof = cfg
    argv = cgi_argv(kind, config)
    env_extra = {} if kind == BARE else {"UPSIGN_CONFIG": ""}

    def go(env, body=b"", stdin="pipe", method="GET"):
        env = {k: v for k, v in {**env, **env_extra}.items() if v != ""}
        t0 = time.time()
        rc, out, err, _ = run_cgi(argv, env, body, stdin)
        status, _, payload = check_cgi_run(rc, out, err, method)
        assert status == 200, f"{status}: {payload[:300]!r}"
        return json.loads(payload), (t0, time.time())

    # GET, routed by REQUEST_URI
    q = "filename=Me.JPG"
    body, win = go(cgi_env(config, "GET", "/upload/policy", q, user="alice"))
    helpers.check_signed(body, fmt="java", prof=prof["avatar"], profile_name="avatar", user="alice",
                         filename="Me.JPG", now_window=win)
    # GET without REQUEST_URI: SCRIPT_NAME + PATH_INFO
    q = "profile=photo&filename=c.png&contentType=image%2Fpng"
    body, win = go(cgi_env(config, "GET", "/upload/policy", q, user="bob", request_uri=False))
    helpers.check_signed(body, fmt="native", prof=prof["photo"], profile_name="photo", user="bob",
                         filename="c.png", content_type="image/png", now_window=win)
    # POST form through a pipe (mod_cgi)
    form = b"profile=doc&filename=r.txt&size=100"
    body, win = go(cgi_env(config, "POST", "/upload/policy", user="carol", body=form,
                           content_type="application/x-www-form-urlencoded"), form)
    helpers.check_signed(body, fmt="native", prof=prof["doc"], profile_name="doc", user="carol",
                         filename="r.txt", size=100, now_window=win)
    # POST JSON through a socket left open after the body (mod_cgid)
    js = json.dumps({"profile": "v4nat", "filename": "v.mp4", "contentType": "video/mp4"}).encode()
    body, win = go(cgi_env(config, "POST", "/upload/policy", user="dave", body=js,
                           content_type="application/json"), js, stdin="socket")
    check_v4(body, prof=prof["v4nat"], profile_name="v4nat", user="dave", filename="v.mp4",
             content_type="video/mp4", now_window=win)
    # a tenant with its own key pair
    body, win = go(cgi_env(config, "GET", "/upload/policy", "profile=shop&filename=s.jpg",
                           user="erin", extra={"UPSIGN_APP": "shop"}))
    helpers.check_signed(body, fmt="java", prof=prof["shop"], profile_name="shop", akid=SHOP_AKID,
                         secret=SHOP_SECRET, user="erin", filename="s.jpg", now_window=win)
    # HEAD health
    rc, out, err, _ = run_cgi(argv, {k: v for k, v in {**cgi_env(config, "HEAD", "/upload/healthz"),
                                                        **env_extra}.items() if v != ""})
    status, _, _ = check_cgi_run(rc, out, err, "HEAD")
    assert status == 200


CGI_ERRORS = [
    # (id, method, path, query, user, body, content type, extra env, code, status)
    ("no-identity", "GET", "/upload/policy", "filename=a.jpg", None, b"", None, {}, "identity_required", 401),
    ("bad-identity", "GET", "/upload/policy", "filename=a.jpg", "../x", b"", None, {}, "invalid_identity", 400),
    ("put", "PUT", "/upload/policy", "", "u", b"", None, {}, "method_not_allowed", 405),
    ("unknown-route", "GET", "/upload/nope", "", "u", b"", None, {}, "not_found", 404),
    ("outside-base", "GET", "/other/policy", "", "u", b"", None, {}, "not_found", 404),
    ("body-too-large", "POST", "/upload/policy", "", "u", b"filename=a.jpg&pad=" + b"x" * 5000,
     "application/x-www-form-urlencoded", {}, "body_too_large", 413),
    ("bad-json", "POST", "/upload/policy", "", "u", b'{"filename":', "application/json", {},
     "invalid_request", 400),
    ("forbidden-tenant", "GET", "/upload/policy", "profile=shop", "u", b"", None,
     {"UPSIGN_APP": "blog"}, "profile_forbidden", 403),
    ("no-tenant", "GET", "/upload/policy", "profile=blog", "u", b"", None, {}, "profile_forbidden", 403),
    ("no-credentials", "GET", "/upload/policy", "filename=a.jpg", "u", b"", None, {"__nocreds": "1"},
     "credentials_unavailable", 503),
]


@pytest.mark.parametrize("case", CGI_ERRORS, ids=[c[0] for c in CGI_ERRORS])
@pytest.mark.parametrize("stdin", ["pipe", "socket"])
def test_cgi_direct_errors(cfg, case, stdin):
    config, _ = cfg
    _, method, path, query, user, body, ctype, extra, code, status = case
    extra = dict(extra)
    creds = extra.pop("__nocreds", None) is None
    env = cgi_env(config, method, path, query, user=user, body=body, content_type=ctype,
                  creds=creds, extra=extra)
    rc, out, err, _ = run_cgi([UPSIGN_BIN], env, body, stdin)
    got, headers, payload = check_cgi_run(rc, out, err, method)
    helpers.assert_error_body(got, headers["content-type"], payload.decode(), code, status)
    if status == 405:
        allow = {m.strip().upper() for m in headers["allow"].split(",")}
        assert {"GET", "POST"} <= allow and method not in allow, headers


# --------------------------------------------------------------------------------------------
# Latency and throughput (printed, not asserted)


def _ms(xs: list[float]) -> str:
    xs = sorted(xs)
    return (f"median {statistics.median(xs) * 1000:6.1f} ms  p90 {xs[int(len(xs) * 0.9) - 1] * 1000:6.1f} ms"
            f"  min {xs[0] * 1000:6.1f} ms")


def test_cgi_latency(site, capsys):
    """Per request, end to end: the binary run directly as CGI (fork+exec+answer), through Apache
    as plain CGI (mod_cgid, the binary itself), and through Apache's mod_fcgid for comparison."""
    a, config = site.apache, site.config
    n = 50
    env = cgi_env(config, "GET", "/upload/policy", "filename=a.jpg", user="alice")
    direct = []
    for _ in range(n):
        rc, out, err, took = run_cgi([UPSIGN_BIN], env)
        assert rc == 0 and out.startswith(b"Status: 200"), (rc, out[:200], err[-300:])
        direct.append(took)

    def through(h):
        times = []
        a.request(h, "GET", "/upload/policy?filename=a.jpg", user="alice")   # warm (spawn)
        for _ in range(n):
            t0 = time.perf_counter()
            r = a.request(h, "GET", "/upload/policy?filename=a.jpg", user="alice")
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text[:300]
        return times

    cgi = through("cgi.test")
    fcgid = through("fcgid.test")
    say(capsys, f"[apache] latency per request over {n} sequential requests (GET /upload/policy, java):\n"
                f"    CGI, process run directly   {_ms(direct)}\n"
                f"    CGI through Apache mod_cgid {_ms(cgi)}\n"
                f"    FastCGI through mod_fcgid   {_ms(fcgid)}")


def test_fcgid_throughput_beside_nginx(site, stack, capsys):
    """wrk -t1 -c16 -d3s through Apache/mod_fcgid with FcgidMaxProcessesPerClass 8 (as in the
    example) and 16 (one process per connection), and through the suite's nginx fixture; the
    same request (public profile, java)."""
    wrk = shutil.which("wrk")
    if not wrk:
        pytest.fail("wrk not installed (deploy/install-deps.sh installs it)")
    path = "/upload/policy?profile=public&filename=x.bin"
    a = site.apache

    def run(url, *hdr, duration="3s"):
        args = [wrk, "-t1", "-c16", f"-d{duration}", "--timeout", "10s", "--latency"]
        for h in hdr:
            args += ["-H", h]
        out = subprocess.run(args + [url], capture_output=True, text=True, timeout=60).stdout
        res = parse_wrk(out)
        m = re.search(r"Requests/sec:\s*([\d.]+)", out)
        lat = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
        res["rps"] = float(m.group(1)) if m else 0.0
        pct = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", out, re.M))
        res["lat"] = (f"latency mean {lat.group(1)} p50 {pct.get('50', '?')} p90 {pct.get('90', '?')} "
                      f"p99 {pct.get('99', '?')} max {lat.group(3)}") if lat else "?"
        res["out"] = out
        return res

    rows = []
    for vh, label, warm in (("fcgid-open.test", "Apache + mod_fcgid, max 8 processes  ", False),
                            ("fcgid-wide.test", "Apache + mod_fcgid, max 16, warmed up", True)):
        assert a.request(vh, "GET", path).status_code == 200   # one process up
        if warm:   # mod_fcgid spawns gradually (FcgidSpawnScoreUpLimit): let it reach 16
            run(f"http://127.0.0.1:{a.port}{path}", f"Host: {vh}", duration="2s")
        res = run(f"http://127.0.0.1:{a.port}{path}", f"Host: {vh}")
        res["procs"] = len([1 for _, h in a.fcgid_started().items() if h == vh])
        rows.append((label, res))
        assert res["requests"] > 0 and res["non2xx"] == 0 and res["socket_errors"] == 0, \
            f"{vh}: {res['out']}\n{a.error_log(2000)}"
    ng = run(stack.url(path))
    assert ng["requests"] > 0 and ng["non2xx"] == 0, ng["out"]
    rows.append(("nginx fixture, one upsign, keep-alive ", ng))
    say(capsys, f"[apache] wrk -t1 -c16 -d3s GET {path}\n" + "\n".join(
        f"    {label} {r['rps']:7.0f} req/s  {r['lat']}"
        + (f"  ({r['procs']} upsign processes started)" if "procs" in r else "")
        for label, r in rows))


# --------------------------------------------------------------------------------------------
# The operator examples, as written


EXAMPLE = helpers.ROOT / "deploy" / "apache" / "upsign.conf"
HTACCESS = helpers.ROOT / "deploy" / "apache" / "htaccess.example"
DEMO_AKID, DEMO_SECRET = "LTAI5tDemoDemoDemoDemo0000", "demo-secret-not-a-real-key-0000000000"


def _substitute(text: str, subs: dict[str, str], what: str) -> str:
    for k in sorted(subs, key=len, reverse=True):
        assert k in text, f"{what} no longer mentions {k!r}: update this test's substitutions"
        text = text.replace(k, subs[k])
    return text


def example_setup(apache: Apache, *, plain_cgi: bool) -> tuple[str, dict]:
    """The rendered example in one virtual host, the .htaccess example in another; the
    operator's paths and the fake demo credentials replaced by the test's."""
    d = apache.dir
    htpasswd = write_htpasswd(d / "htpasswd", PASSWORDS)
    prof = {"avatar": helpers.profile()}
    conf = helpers.write_config(d, server={"base_path": "/upload", "identity_param": "REMOTE_USER"},
                                profiles=prof, name="example.toml")
    os.chmod(conf, 0o644)
    # .htaccess flavour: credentials from a file only the program's user may read
    creds = d / "credentials.json"
    creds.write_text(json.dumps({"AccessKeyId": AKID, "AccessKeySecret": SECRET}))
    os.chmod(creds, 0o600)
    shutil.chown(creds, RUN_USER, RUN_GROUP)
    hprof = {"avatar": helpers.profile(credentials=str(creds))}
    hconf = helpers.write_config(d, server={"base_path": "/upload", "identity_param": "REMOTE_USER"},
                                 profiles=hprof, name="htaccess.toml")
    os.chmod(hconf, 0o644)

    rendered = _substitute(EXAMPLE.read_text(), {
        "/usr/local/bin/upsign": UPSIGN_BIN, "/etc/upsign/upsign.toml": str(conf),
        "/etc/upsign/htpasswd": str(htpasswd), DEMO_AKID: AKID, DEMO_SECRET: SECRET}, str(EXAMPLE))
    (d / "upsign.conf").write_text(rendered)
    os.chmod(d / "upsign.conf", 0o600)
    docroot = d / "site"
    (docroot / "upload").mkdir(parents=True)
    os.chmod(docroot, 0o755)
    os.chmod(docroot / "upload", 0o755)
    ht = _substitute(HTACCESS.read_text(), {
        "/home/me/bin/upsign": UPSIGN_BIN, "/home/me/upsign/upsign.toml": str(hconf),
        "/home/me/upsign/htpasswd": str(htpasswd)}, str(HTACCESS))
    (docroot / "upload" / ".htaccess").write_text(ht)
    os.chmod(docroot / "upload" / ".htaccess", 0o644)
    if plain_cgi:
        shutil.copy(UPSIGN_BIN, docroot / "upload" / "upsign.cgi")
        os.chmod(docroot / "upload" / "upsign.cgi", 0o755)
    body = f"""
<VirtualHost 127.0.0.1:*>
    ServerName example.test
    Include "{d / 'upsign.conf'}"
</VirtualHost>
<VirtualHost 127.0.0.1:*>
    ServerName htaccess.test
    DocumentRoot "{docroot}"
    <Directory "{docroot}">
        AllowOverride FileInfo AuthConfig Options=ExecCGI
        Require all granted
    </Directory>
</VirtualHost>
"""
    return body, {"avatar": hprof["avatar"], "conf_avatar": prof["avatar"]}


def exercise_example(apache: Apache, profiles: dict, label: str) -> None:
    for h, prof in (("example.test", profiles["conf_avatar"]), ("htaccess.test", profiles["avatar"])):
        r, win = timed(apache.request, h, "GET", "/upload/policy?filename=Photo.PNG", user="alice")
        assert r.status_code == 200, f"{label} {h}: {r.status_code} {r.text[:300]}\n{apache.error_log(3000)}"
        helpers.assert_std_headers(r)
        helpers.check_signed(r.json(), fmt="java", prof=prof, profile_name="avatar", user="alice",
                             filename="Photo.PNG", now_window=win)
        r = apache.request(h, "GET", "/upload/policy?filename=Photo.PNG")
        assert r.status_code == 401 and "WWW-Authenticate" in r.headers, \
            f"{label} {h}: no login, yet {r.status_code}"
        # above upsign's default max_body: upsign's JSON 413 (mod_fcgid) or Apache's 413
        # (plain CGI, LimitRequestBody as the examples advise)
        r = apache.request(h, "POST", "/upload/policy", user="alice", headers=FORM_CT,
                           data="filename=a.jpg&pad=" + "x" * 70_000)
        assert r.status_code == 413, f"{label} {h}: a 70 KB body answered {r.status_code} {r.text[:200]}"
        if label == "mod_fcgid":
            helpers.assert_http_error(r, "body_too_large")
    r = apache.request("example.test", "GET", "/upload/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok", f"{label}: healthz {r.status_code} {r.text[:200]}"


EXAMPLE_MODULES = ["mpm_event", "authz_core", "authn_core", "authn_file", "auth_basic", "authz_user",
                   "alias", "env", "mime", "rewrite"]


def test_example_conf_mod_fcgid_and_htaccess(apache_ready):
    apache = Apache("example-fcgid", PASSWORDS)
    body, profiles = example_setup(apache, plain_cgi=False)
    apache.write(body, EXAMPLE_MODULES + ["fcgid"])
    try:
        apache.start()
        exercise_example(apache, profiles, "mod_fcgid")
    finally:
        left = apache.stop()
    assert not left, f"processes left after Apache stopped: {left}"


def test_example_conf_plain_cgi_and_htaccess(apache_ready):
    """`Define UPSIGN_PLAIN_CGI` (here -D) and no mod_fcgid loaded: the CGI variant of the
    example and the .htaccess file's CGI branch."""
    apache = Apache("example-cgi", PASSWORDS)
    body, profiles = example_setup(apache, plain_cgi=True)
    apache.write(body, EXAMPLE_MODULES + ["cgid"])
    try:
        apache.start(defines=("UPSIGN_PLAIN_CGI",))
        exercise_example(apache, profiles, "plain CGI")
    finally:
        left = apache.stop()
    assert not left, f"processes left after Apache stopped: {left}"


def test_no_secret_in_apache_answers_or_logs():
    """Runs after the tests above (file order): the tenants' secrets too (the suite's own scan
    at the end knows only the standard ones)."""
    leaks = [label for label, body in helpers.RESPONSE_BODIES
             if label.startswith("apache") and helpers.secrets_in(body, ALL_MY_SECRETS)]
    assert not leaks, f"a secret in an answer through Apache: {leaks[:5]}"
    logs = [p for p in helpers.LOG_FILES if p.name == "error.log" and p.exists()]
    leaked = [str(p) for p in logs if helpers.secrets_in(p.read_bytes(), ALL_MY_SECRETS)]
    assert not leaked, f"a secret in Apache's error log: {leaked}"
