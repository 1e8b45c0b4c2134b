"""`upsign check-config`: ok for good configs, one `path.to.field: message` line per problem."""

from __future__ import annotations

import os
import re

import pytest

import helpers
from harness.processes import check_config, output_lines

DEMO = helpers.ROOT / "deploy" / "demo.toml"


def OK_LINE(n: int):
    # The contract writes `ok: N profile(s)`; read as "profile" or "profiles" (or literally).
    return re.compile(rf"ok: {n} (profile|profiles|profile\(s\))")


def test_demo_config_ok():
    assert DEMO.is_file(), f"{DEMO} missing"
    proc = check_config(DEMO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    n = len(helpers.load_profiles_from(DEMO)["profiles"])
    assert OK_LINE(n).fullmatch(proc.stdout.strip()), repr(proc.stdout)


def test_standard_test_config_ok(std_config, std_profiles):
    """Valid; its java profile with content_types gets the one warning that they are checked on
    the request only (the Java bean cannot pin a Content-Type)."""
    proc = check_config(std_config)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    *warnings, last = proc.stdout.strip().splitlines()
    assert OK_LINE(len(std_profiles)).fullmatch(last), repr(proc.stdout)
    assert [w.split(":")[:2] for w in warnings] == [["warning", " profiles.avatar.content_types"]], warnings


BROKEN = {
    "missing-bucket": ({}, {"bucket": None}, r"^profiles\.p\.bucket: "),
    "unknown-placeholder": ({}, {"key": "x/{user}/{nope}{ext}"}, r"^profiles\.p\.key: "),
    "bad-format": ({}, {"format": "xml"}, r"^profiles\.p\.format: "),
    "threads-zero": ({"threads": 0}, {}, r"^server\.threads: "),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_single_problem_reported_with_field_path(tmp_path, name):
    server_over, prof_over, pattern = BROKEN[name]
    cfg = helpers.write_config(tmp_path, server=dict(helpers.STANDARD_SERVER, default_profile="p",
                                                     **server_over),
                               profiles={"p": helpers.profile(**prof_over)})
    proc = check_config(cfg)
    assert proc.returncode == 1, f"exit {proc.returncode}: {proc.stdout}{proc.stderr}"
    lines = output_lines(proc)
    assert any(re.match(pattern, l) for l in lines), f"no line matching {pattern!r} in {lines}"
    assert not proc.stdout.startswith("ok"), proc.stdout


def test_all_problems_reported_at_once(tmp_path):
    server = dict(helpers.STANDARD_SERVER, threads=0, default_profile="a")
    profiles = {
        "a": helpers.profile(bucket=None),
        "b": helpers.profile(key="k/{user}/{bogus}"),
        "c": helpers.profile(format="yaml"),
    }
    cfg = helpers.write_config(tmp_path, server=server, profiles=profiles)
    proc = check_config(cfg)
    assert proc.returncode == 1
    lines = output_lines(proc)
    for pattern in (r"^server\.threads: ", r"^profiles\.a\.bucket: ", r"^profiles\.b\.key: ",
                    r"^profiles\.c\.format: "):
        assert any(re.match(pattern, l) for l in lines), f"{pattern!r} not among {lines}"
    # `path.to.field: message` on every line
    for l in lines:
        assert re.match(r"^[A-Za-z0-9_.\-\[\]]+: \S", l), f"line not `path: message`: {l!r}"


def test_unparseable_toml(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[server\nthreads = = 3\n")
    proc = check_config(cfg)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert output_lines(proc)


# TOML on which TOMLKit's parser (toml++ 3.4) fails an assert() and aborts the process, even in
# release builds (found by Fuzz/run.sh): upsign parses new text in a child process first.
PARSER_ABORTS = ["[+a]\n", "a = [1, }]\n", "a=2000-01-01T:0\n", "[.a]\nbucket = \"abc\"\ntke = \"abc\"\nregiprofiles.a]\n"]


@pytest.mark.parametrize("text", PARSER_ABORTS)
def test_toml_that_aborts_the_parser_is_a_problem_not_a_crash(tmp_path, text):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    proc = check_config(cfg)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert output_lines(proc) == [f"file: {cfg}: not valid TOML (the TOML parser gave up on it: the check died of signal 6)"]
    assert "Assertion" not in proc.stdout + proc.stderr and "crashed" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("text", PARSER_ABORTS[:1])
def test_serve_exits_78_on_toml_that_aborts_the_parser(tmp_path, text):
    import subprocess
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    proc = subprocess.run(helpers.serve_argv(cfg, listen=f"unix:{helpers.scratch_dir()}/x.sock"),
                          env=helpers.cred_env(), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=15)
    assert proc.returncode == 78, proc.stderr
    assert "not valid TOML" in proc.stderr


def test_missing_config_file(tmp_path):
    proc = check_config(tmp_path / "nope.toml")
    assert proc.returncode != 0


def test_serve_refuses_broken_config(tmp_path):
    import subprocess
    cfg = helpers.write_config(tmp_path, profiles={"p": helpers.profile(bucket=None)},
                               server=dict(helpers.STANDARD_SERVER, default_profile="p"))
    proc = subprocess.run(helpers.serve_argv(cfg, listen=f"unix:{helpers.scratch_dir()}/x.sock"),
                          env=helpers.cred_env(), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=15)
    assert proc.returncode != 0
    assert "bucket" in proc.stderr


def test_records_checked_as_root_say_what_they_could_not_check(tmp_path):
    """As root every path is writable, so the check says plainly that the service's own user
    (DynamicUser) was not checked; as the service's user a non-writable records file is a
    problem."""
    records = tmp_path / "uploads.jsonl"
    cfg = helpers.write_config(tmp_path, profiles={"a": helpers.profile(format="native", extensions=None,
                                                                       content_types=None)})
    cfg.write_text(cfg.read_text() + f'\n[callback]\nrecords = "{records}"\n')
    proc = check_config(cfg)
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.strip().splitlines()
    if os.geteuid() == 0:
        assert [l for l in lines if l.startswith("warning: callback.records: checked as root")], lines
    else:
        assert not [l for l in lines if "callback.records" in l], lines


def test_the_shipped_unit_gives_the_documented_records_path_a_writable_home():
    """ProtectSystem=strict makes /var read-only; StateDirectory=upsign is what lets the
    service's dynamic user write the records path docs/callbacks.md gives."""
    unit = (helpers.ROOT / "deploy" / "systemd" / "upsign.service").read_text()
    assert re.search(r"^StateDirectory=upsign$", unit, re.M), "StateDirectory=upsign missing"
    assert re.search(r"^ProtectSystem=strict$", unit, re.M)
    readme = (helpers.ROOT / "docs" / "callbacks.md").read_text()
    paths = set(re.findall(r'records = "([^"]+)"', readme))
    assert paths and all(p.startswith("/var/lib/upsign/") for p in paths), paths


@pytest.mark.parametrize("case", ["missing", "short", "unbound-allowed", "bad-ca"])
def test_callback_binding_and_key_trust_are_checked(tmp_path, case):
    """A profile with a callback needs a binding secret of 32+ characters; accepting unbound
    callbacks is a warning; a ca_file must hold PEM certificates."""
    prof = helpers.profile(format="native", extensions=None, content_types=None)
    text = helpers.toml_text(dict(helpers.STANDARD_SERVER, default_profile="a"), {"a": prof})
    text += '\n[profiles.a.callback]\nurl = "https://app.example.com/cb"\nbody = \'{"object":${object}}\'\n'
    secret = tmp_path / "binding.key"
    secret.write_text(("short" if case == "short" else "s" * 64) + "\n")
    if case != "missing":
        text += f'\n[callback]\nbinding_secret = "{secret}"\n'
    if case == "unbound-allowed":
        text += "require_binding = false\n"
    if case == "bad-ca":
        (tmp_path / "ca.pem").write_text("not a certificate\n")
        text += f'ca_file = "{tmp_path / "ca.pem"}"\n'
    cfg = tmp_path / "upsign.toml"
    cfg.write_text(text)
    proc = check_config(cfg)
    lines = output_lines(proc)
    if case == "unbound-allowed":
        assert proc.returncode == 0, lines
        assert any(l.startswith("warning: callback.require_binding = false") for l in lines), lines
    else:
        field = "callback.ca_file" if case == "bad-ca" else "callback.binding_secret"
        assert proc.returncode == 1, lines
        assert [l for l in lines if l.startswith(field + ": ")], lines
