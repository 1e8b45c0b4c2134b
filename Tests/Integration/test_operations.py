"""Operating upsign through a real nginx: the metrics page (read by Prometheus's own Python
client parser, not by our code), the health check, one JSON log line per request carrying
nginx's $request_id, the start-up line, and credentials handed over by systemd's
LoadCredential= (found through $CREDENTIALS_DIRECTORY)."""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

import helpers
from harness.nginx import Nginx
from harness.stack import start_stack


def _families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(families: dict, name: str, sample: str | None = None, **labels) -> float | None:
    """The value of the sample `sample` (default: the family's name) with exactly `labels`."""
    fam = families.get(name)
    if fam is None:
        return None
    for s in fam.samples:
        if s.name == (sample or name) and s.labels == labels:
            return s.value
    return None


def _log_lines(worker) -> list[dict]:
    lines = []
    for raw in worker.log().splitlines():
        lines.append(json.loads(raw))     # every line is JSON (a parse error fails the test)
    return lines


@pytest.fixture(scope="module")
def ops_stack(nginx_bin, tmp_path_factory):
    config = helpers.write_config(tmp_path_factory.mktemp("ops"))
    s = start_stack(config, threads=6)
    yield s
    s.close()


def test_metrics_count_what_was_asked_and_parse_as_prometheus_text(ops_stack):
    s = ops_stack
    before = _families(s.request("GET", "/upload/metrics").text)
    base = _value(before, "upsign_requests", "upsign_requests_total", route="policy", profile="avatar", status="200") or 0
    for _ in range(5):
        assert s.request("GET", "/upload/policy?filename=a.jpg", user="alice").status_code == 200
    for _ in range(2):
        assert s.request("GET", "/upload/policy?filename=a.exe", user="alice").status_code == 400
    assert s.request("GET", "/upload/policy?profile=no-such-profile").status_code == 404
    assert s.request("GET", "/upload/nowhere").status_code == 404

    r = s.request("GET", "/upload/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert r.headers["Cache-Control"] == "no-store"
    fams = _families(r.text)
    total = "upsign_requests_total"
    assert fams["upsign_requests"].type == "counter"
    assert _value(fams, "upsign_requests", total, route="policy", profile="avatar", status="200") == base + 5
    assert _value(fams, "upsign_requests", total, route="policy", profile="avatar", status="400") >= 2
    # A profile the configuration lacks never becomes a label value.
    assert "no-such-profile" not in r.text
    assert _value(fams, "upsign_requests", total, route="policy", profile="", status="404") >= 1
    assert _value(fams, "upsign_requests", total, route="unknown", profile="", status="404") >= 1
    assert _value(fams, "upsign_requests", total, route="metrics", profile="", status="200") >= 1

    hist = fams["upsign_signing_duration_seconds"]
    assert hist.type == "histogram"
    count = _value(fams, "upsign_signing_duration_seconds", "upsign_signing_duration_seconds_count", profile="avatar")
    assert count == _value(fams, "upsign_requests", total, route="policy", profile="avatar", status="200")
    inf = _value(fams, "upsign_signing_duration_seconds", "upsign_signing_duration_seconds_bucket", profile="avatar", le="+Inf")
    assert inf == count
    total_seconds = _value(fams, "upsign_signing_duration_seconds", "upsign_signing_duration_seconds_sum", profile="avatar")
    assert 0 < total_seconds < count * 0.5, "each signing took between 0 and 0.5 s"

    # threads = 6: the event loops (one per CPU) answer inline, pool threads start when needed.
    states = {st: _value(fams, "upsign_worker_threads", state=st) for st in ("busy", "waiting")}
    assert 1 <= sum(states.values()) <= 6, states
    assert states["busy"] >= 1, "the scrape itself is being answered"
    assert _value(fams, "upsign_connections_open") >= 1, "the scrape's own connection"
    assert 0 <= _value(fams, "upsign_connections_idle") < _value(fams, "upsign_connections_open")
    assert _value(fams, "upsign_requests_in_flight") >= 1
    assert _value(fams, "upsign_credentials_loaded", source="env") == 1
    assert _value(fams, "upsign_credentials_generation", source="env") >= 1
    assert 0 <= _value(fams, "upsign_credentials_age_seconds", source="env") < 600
    assert _value(fams, "upsign_build_info", version=_value_label(fams, "upsign_build_info", "version")) == 1
    assert 1 << 20 < _value(fams, "process_resident_memory_bytes") < 1 << 30
    assert 3 <= _value(fams, "process_open_fds") < 200
    assert abs(_value(fams, "process_start_time_seconds") - time.time()) < 3600
    assert _value(fams, "upsign_config_reloads", "upsign_config_reloads_total", result="applied") == 0
    for secret in helpers.ALL_SECRETS + (helpers.AKID,):
        assert secret not in r.text


def _value_label(fams: dict, name: str, label: str) -> str:
    return fams[name].samples[0].labels[label]


def test_metrics_count_reloads(nginx_bin, tmp_path):
    config = helpers.write_config(tmp_path)
    s = start_stack(config, threads=4)
    try:
        os.kill(s.worker.pid, 1)   # SIGHUP, same configuration
        deadline = time.monotonic() + 10
        while "configuration reloaded" not in s.worker.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        config.write_text("[server\n")
        os.kill(s.worker.pid, 1)   # a broken one: refused
        deadline = time.monotonic() + 10
        while "reload refused" not in s.worker.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        fams = _families(s.request("GET", "/upload/metrics").text)
        assert _value(fams, "upsign_config_reloads", "upsign_config_reloads_total", result="applied") == 1
        assert _value(fams, "upsign_config_reloads", "upsign_config_reloads_total", result="refused") == 1
    finally:
        s.close()


def test_metrics_can_be_switched_off(nginx_bin, tmp_path):
    server = dict(helpers.STANDARD_SERVER, metrics=False)
    config = helpers.write_config(tmp_path, server=server)
    s = start_stack(config, threads=2)
    try:
        helpers.assert_http_error(s.request("GET", "/upload/metrics"), "not_found")
    finally:
        s.close()


def test_healthz_reports_credentials(ops_stack):
    r = ops_stack.request("GET", "/upload/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "credentials": {"sources": 1, "unavailable": 0, "expired": 0}}


def test_healthz_is_503_while_credentials_are_missing(nginx_bin, tmp_path):
    config = helpers.write_config(tmp_path)
    s = start_stack(config, env=helpers.clean_env(), threads=2)
    try:
        r = s.request("GET", "/upload/healthz")
        assert r.status_code == 503, r.text
        assert r.headers["Content-Type"] == "application/json"
        assert r.json() == {"status": "unavailable", "credentials": {"sources": 1, "unavailable": 1, "expired": 0}}
        fams = _families(s.request("GET", "/upload/metrics").text)
        assert _value(fams, "upsign_credentials_loaded", source="env") == 0
    finally:
        s.close()


def test_healthz_counts_down_temporary_credentials(nginx_bin, tmp_path):
    expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1800))
    creds = tmp_path / "sts.json"
    creds.write_text(json.dumps({"AccessKeyId": helpers.FILE_AKID, "AccessKeySecret": helpers.FILE_SECRET,
                                 "SecurityToken": helpers.FILE_TOKEN, "Expiration": expiration}))
    creds.chmod(0o600)
    config = helpers.write_config(tmp_path, profiles=helpers.standard_profiles(credentials=str(creds)))
    s = start_stack(config, env=helpers.clean_env(), threads=2)
    try:
        body = s.request("GET", "/upload/healthz").json()
        assert body["status"] == "ok"
        assert 1700 < body["credentials"]["expires_in"] <= 1800
        fams = _families(s.request("GET", "/upload/metrics").text)
        assert 1700 < _value(fams, "upsign_credentials_expiry_seconds", source=str(creds)) <= 1800
    finally:
        s.close()


def test_one_json_line_per_request_with_nginxs_request_id(ops_stack):
    s = ops_stack
    before = len(_log_lines(s.worker))
    asked = [
        ("/upload/policy?filename=a.jpg", "alice", 200, "policy", "avatar"),
        ("/upload/policy?filename=a.exe", "bob", 400, "policy", "avatar"),
        ("/upload/policy?profile=photo&filename=a", "carol", 400, "policy", "photo"),
        ("/upload/healthz", None, 200, "healthz", None),
        ("/upload/elsewhere?x=1", None, 404, "unknown", None),
    ]
    for path, user, status, _, _ in asked:
        assert s.request("GET", path, user=user).status_code == status
    deadline = time.monotonic() + 5
    while len(_log_lines(s.worker)) < before + len(asked) and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [l for l in _log_lines(s.worker)[before:] if l["msg"] == "request"]
    assert len(lines) == len(asked), lines
    ids = [row.rsplit(" ", 1)[-1] for row in (s.nginx.dir / "access.log").read_text().splitlines()][-len(asked):]
    for line, (path, user, status, route, profile), rid in zip(lines, asked, ids):
        assert line["level"] == "info"
        assert line["request.id"] == rid and re.fullmatch(r"[0-9a-f]{32}", rid)
        assert line["route"] == route
        assert line["status"] == status                   # a JSON number
        assert isinstance(line["duration_us"], int) and 0 <= line["duration_us"] < 5_000_000
        assert line.get("profile") == profile
        assert line.get("user") == user
        assert ("error" in line) == (status != 200)
        assert "x=1" not in json.dumps(line), "no query strings in the log"
    assert lines[1]["error"] == "extension_not_allowed"
    assert lines[4]["request.path"] == "/upload/elsewhere"


def test_the_start_up_line_says_version_listen_threads_and_profiles(ops_stack):
    first = [l for l in _log_lines(ops_stack.worker) if l["msg"] == "upsign started"]
    assert len(first) == 1
    line = first[0]
    assert re.fullmatch(r"\d+\.\d+\.\d+", line["version"])
    assert line["listen"].startswith("unix:/")
    assert line["threads"] == 6
    assert line["profiles"] == ",".join(sorted(helpers.standard_profiles()))
    assert line["level"] == "notice"


def test_log_level_notice_drops_the_request_lines(nginx_bin, tmp_path):
    config = helpers.write_config(tmp_path)
    d = helpers.scratch_dir("usops")
    sock = d / "w.sock"
    w = helpers.Worker(helpers.serve_argv(config, listen=f"unix:{sock}") + ["--log-level", "notice"],
                       helpers.cred_env(), name="notice", log_dir=d)
    try:
        helpers.wait_unix_socket(sock, w)
        ngx = Nginx(f"unix:{sock}")
        try:
            import requests
            assert requests.get(ngx.url("/upload/healthz"), timeout=10).status_code == 200
        finally:
            ngx.stop()
        assert not [l for l in _log_lines(w) if l["msg"] == "request"]
        helpers.wait_log_event(w, "upsign started")
    finally:
        w.stop()


def test_credentials_from_systemds_credentials_directory(nginx_bin, tmp_path):
    """LoadCredential=oss.json:/etc/upsign/credentials.json puts a copy in a private directory
    and names it in $CREDENTIALS_DIRECTORY; the profile says "$CREDENTIALS_DIRECTORY/oss.json"."""
    creddir = tmp_path / "credentials"
    creddir.mkdir(mode=0o700)
    f = creddir / "oss.json"
    f.write_text(json.dumps({"AccessKeyId": helpers.FILE_AKID, "AccessKeySecret": helpers.FILE_SECRET}))
    f.chmod(0o400)     # as systemd leaves it
    profiles = helpers.standard_profiles(credentials="$CREDENTIALS_DIRECTORY/oss.json")
    config = helpers.write_config(tmp_path, profiles=profiles)
    # Outside systemd, check-config says what it could not check; with the variable, it checks.
    check = helpers.run_cli(["check-config", "--config", str(config)], env=helpers.clean_env())
    assert check.returncode == 0, check.stdout + check.stderr
    assert "is not checked here" in check.stdout
    check = helpers.run_cli(["check-config", "--config", str(config)], env=helpers.clean_env(CREDENTIALS_DIRECTORY=str(creddir)))
    assert check.returncode == 0 and "is not checked here" not in check.stdout, check.stdout
    check = helpers.run_cli(["check-config", "--config", str(config)], env=helpers.clean_env(CREDENTIALS_DIRECTORY=str(tmp_path)))
    assert check.returncode == 1 and "oss.json" in check.stdout, check.stdout
    s = start_stack(config, env=helpers.clean_env(CREDENTIALS_DIRECTORY=str(creddir)), threads=2)
    try:
        t0 = time.time()
        r = s.request("GET", "/upload/policy?filename=a.jpg", user="alice")
        assert r.status_code == 200, r.text
        helpers.check_signed(r.json(), fmt="java", prof=profiles["avatar"], profile_name="avatar",
                             akid=helpers.FILE_AKID, secret=helpers.FILE_SECRET, user="alice",
                             filename="a.jpg", now_window=(t0 - 1, time.time() + 1))
    finally:
        s.close()
    # Without the variable (not started by systemd) the profile cannot sign, and says why.
    s = start_stack(config, env=helpers.clean_env(), threads=2)
    try:
        assert s.request("GET", "/upload/healthz").status_code == 503
        helpers.assert_http_error(s.request("GET", "/upload/policy?filename=a.jpg", user="alice"), "credentials_unavailable")
        assert "CREDENTIALS_DIRECTORY is not set" in s.worker.log()
    finally:
        s.close()
