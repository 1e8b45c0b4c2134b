"""Where credentials come from: env (OSS_*), the ALIBABA_CLOUD_* fallback, a credentials file
(and its refusal when group/world readable), and the STS token in both form and policy."""

from __future__ import annotations

import json
import os
import time

import pytest

import helpers
from harness.nginx import Nginx
from helpers import AKID, ALT_AKID, ALT_SECRET, ALT_TOKEN, FILE_AKID, FILE_SECRET, FILE_TOKEN, SECRET, TOKEN

NOW = "2026-01-02T03:04:05Z"
UUID = "0f8c3c1e-6a57-4b2e-9d7a-3b1f2c4d5e6f"


def sign(cfg, env, profile="native", fmt=None):
    args = ["sign", "--config", str(cfg), "--profile", profile, "--user", "alice",
            "--filename", "a.png", "--content-type", "image/png", "--now", NOW, "--uuid", UUID]
    if fmt:
        args += ["--format", fmt]
    return helpers.run_cli(args, env=env)


def config_with(tmp_path, credentials: str):
    profiles = {
        "native": helpers.profile(format="native", credentials=credentials),
        "java": helpers.profile(format="java", credentials=credentials),
    }
    return helpers.write_config(tmp_path, profiles=profiles), profiles


def check_ok(proc, prof, *, akid, secret, token, fmt="native"):
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stdout} {proc.stderr[-500:]}"
    body = json.loads(proc.stdout)
    helpers.check_signed(body, fmt=fmt, prof=prof, profile_name="native", akid=akid, secret=secret,
                         token=token, user="alice", filename="a.png", content_type="image/png",
                         now=helpers.parse_expiration("2026-01-02T03:04:05.000Z"), uuid=UUID)
    return body


def test_env_oss_vars(tmp_path):
    cfg, profs = config_with(tmp_path, "env")
    check_ok(sign(cfg, helpers.cred_env()), profs["native"], akid=AKID, secret=SECRET, token=None)


def test_env_oss_session_token(tmp_path):
    cfg, profs = config_with(tmp_path, "env")
    body = check_ok(sign(cfg, helpers.cred_env(token=True)), profs["native"], akid=AKID,
                    secret=SECRET, token=TOKEN)
    assert body["fields"]["x-oss-security-token"] == TOKEN


def test_env_alibaba_cloud_fallback(tmp_path):
    cfg, profs = config_with(tmp_path, "env")
    env = helpers.clean_env(ALIBABA_CLOUD_ACCESS_KEY_ID=ALT_AKID,
                            ALIBABA_CLOUD_ACCESS_KEY_SECRET=ALT_SECRET)
    check_ok(sign(cfg, env), profs["native"], akid=ALT_AKID, secret=ALT_SECRET, token=None)


def test_env_alibaba_cloud_fallback_with_token(tmp_path):
    cfg, profs = config_with(tmp_path, "env")
    env = helpers.clean_env(ALIBABA_CLOUD_ACCESS_KEY_ID=ALT_AKID,
                            ALIBABA_CLOUD_ACCESS_KEY_SECRET=ALT_SECRET,
                            ALIBABA_CLOUD_SECURITY_TOKEN=ALT_TOKEN)
    check_ok(sign(cfg, env), profs["native"], akid=ALT_AKID, secret=ALT_SECRET, token=ALT_TOKEN)


def test_env_oss_vars_take_precedence_over_alibaba_cloud(tmp_path):
    cfg, profs = config_with(tmp_path, "env")
    env = helpers.cred_env(ALIBABA_CLOUD_ACCESS_KEY_ID=ALT_AKID,
                           ALIBABA_CLOUD_ACCESS_KEY_SECRET=ALT_SECRET)
    check_ok(sign(cfg, env), profs["native"], akid=AKID, secret=SECRET, token=None)


def test_no_credentials_is_credentials_unavailable(tmp_path):
    cfg, _ = config_with(tmp_path, "env")
    proc = sign(cfg, helpers.clean_env())
    assert proc.returncode == 1, f"exit {proc.returncode}: {proc.stdout} {proc.stderr}"
    helpers.assert_error_body(503, None, proc.stdout, "credentials_unavailable")


def write_cred_file(path, mode: int, token: bool = False):
    doc = {"AccessKeyId": FILE_AKID, "AccessKeySecret": FILE_SECRET}
    if token:
        doc["SecurityToken"] = FILE_TOKEN
    path.write_text(json.dumps(doc))
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_credentials_file(tmp_path, mode):
    f = write_cred_file(tmp_path / "creds.json", mode)
    cfg, profs = config_with(tmp_path, str(f))
    # env credentials present too: the profile names the file, so the file wins
    check_ok(sign(cfg, helpers.cred_env()), profs["native"], akid=FILE_AKID, secret=FILE_SECRET,
             token=None)


def test_credentials_file_with_security_token(tmp_path):
    f = write_cred_file(tmp_path / "creds.json", 0o600, token=True)
    cfg, profs = config_with(tmp_path, str(f))
    check_ok(sign(cfg, helpers.clean_env()), profs["native"], akid=FILE_AKID, secret=FILE_SECRET,
             token=FILE_TOKEN)


def test_credentials_file_java_format(tmp_path):
    f = write_cred_file(tmp_path / "creds.json", 0o600)
    cfg, profs = config_with(tmp_path, str(f))
    proc = helpers.run_cli(["sign", "--config", str(cfg), "--profile", "java", "--user", "bob",
                            "--filename", "x.webp", "--now", NOW, "--uuid", UUID],
                           env=helpers.clean_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    helpers.check_signed(json.loads(proc.stdout), fmt="java", prof=profs["java"], profile_name="java",
                         akid=FILE_AKID, secret=FILE_SECRET, user="bob", filename="x.webp",
                         now=helpers.parse_expiration("2026-01-02T03:04:05.000Z"), uuid=UUID)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_credentials_file_readable_by_others_is_refused(tmp_path, mode):
    f = write_cred_file(tmp_path / "creds.json", mode)
    cfg, _ = config_with(tmp_path, str(f))
    proc = sign(cfg, helpers.cred_env())
    assert proc.returncode == 1, f"mode {oct(mode)} accepted: exit {proc.returncode}: {proc.stdout}"
    assert FILE_SECRET not in proc.stdout and "Signature" not in proc.stdout
    helpers.assert_error_body(503, None, proc.stdout, "credentials_unavailable")


def test_credentials_file_missing_or_malformed(tmp_path):
    cfg, _ = config_with(tmp_path, str(tmp_path / "does-not-exist.json"))
    proc = sign(cfg, helpers.cred_env())
    assert proc.returncode == 1
    helpers.assert_error_body(503, None, proc.stdout, "credentials_unavailable")
    bad = tmp_path / "bad.json"
    bad.write_text('{"AccessKeyId": "x"')
    os.chmod(bad, 0o600)
    (tmp_path / "b").mkdir()
    cfg2, _ = config_with(tmp_path / "b", str(bad))
    proc = sign(cfg2, helpers.cred_env())
    assert proc.returncode == 1
    helpers.assert_error_body(503, None, proc.stdout, "credentials_unavailable")


@pytest.mark.parametrize("case", ["file-0644", "env-empty"])
def test_serve_without_usable_credentials_never_signs(tmp_path, nginx_bin, case):
    """A serving worker without usable credentials (a group/world-readable file, or no env
    variables) either refuses to start (non-zero exit) or answers 503 credentials_unavailable."""
    import requests
    if case == "file-0644":
        f = write_cred_file(tmp_path / "creds.json", 0o644)
        cfg, _ = config_with(tmp_path, str(f))
    else:
        cfg, _ = config_with(tmp_path, "env")
    d = helpers.scratch_dir("uscred")
    sock = d / "s.sock"
    w = helpers.Worker(helpers.serve_argv(cfg, listen=f"unix:{sock}"), helpers.clean_env(),
                       name="cred0644", log_dir=d)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and w.alive() and not sock.exists():
            time.sleep(0.05)
        if not w.alive():
            assert w.proc.returncode != 0, "worker exited 0 with an unusable credentials file"
            return
        helpers.wait_unix_socket(sock, w)
        ngx = Nginx(f"unix:{sock}")
        try:
            r = requests.get(ngx.url("/upload/policy?profile=native&filename=a.png&contentType=image/png"),
                             headers={"X-Test-User": "alice"}, timeout=10)
            helpers.record_response("cred0644", r)
            helpers.assert_http_error(r, "credentials_unavailable")
        finally:
            ngx.stop()
    finally:
        w.stop()
