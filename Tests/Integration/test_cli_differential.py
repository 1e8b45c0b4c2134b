"""Differential test of `upsign sign`: a few hundred generated requests, each answer checked
against a model written from the contract and the SDK signature oracle.

The request rules of the contract (issue #16, "policy hardening": which file names and content
types a profile accepts, the pinned Content-Type, the download name of a pinned
Content-Disposition and Qiniu's mimeLimit) are modelled once in harness/rules.py, the case
framework shared with test_v4_differential and test_store_differential is harness/differential.py."""

from __future__ import annotations

import json
import random

import pytest

import helpers
from harness.differential import (ACTIVE_SAMPLES, ANY_TYPES, Case, NameStyle, make_case, mixed_case,
                                  parse_now, random_filename, random_name, random_now, random_user,
                                  random_uuid, run_cases, sign_args)
from harness.rules import allowed_types, settle_expectation
from helpers import AKID, SECRET, TOKEN

N_CASES = 300
SEED = 0x5EED2026

SPECIAL_NOWS = [
    "2026-01-02T03:04:05Z",
    "2026-12-31T23:59:59Z",   # expiry crosses the year
    "2028-02-29T23:59:59Z",   # leap day, expiry on 1 March
    "2024-02-29T12:00:00Z",
    "2027-02-28T23:59:59Z",   # non-leap year: next day is 1 March
    "2000-02-29T23:59:59Z",
    "2099-12-31T23:59:59Z",
    "2030-06-30T23:59:59Z",
    "2026-03-01T00:00:00Z",
]
# Inputs: this file's tables (the seeds below pin the cases drawn from them)
USER_LENGTHS = [1, 2, 5, 8, 12, 32, 64, 127, 128]
NAMES = NameStyle(until=(0.8, 0.87, 0.9, 0.92),
                  common_exts=("pdf", "txt", "docx", "7z", "MP4", "gz", "svg", "html", "bin"),
                  prefix="archive.", prefix_share=0.15, name_max=24, trailing_dot_cased=True)


def _draw_case(rng: random.Random, profiles: dict) -> Case | None:
    name = rng.choice(["avatar", "avatar", "photo", "photo", "doc", "doc", "public"])
    prof = profiles[name]
    fmt = rng.choice([None, None, "java", "native"])
    if fmt == "java" and prof["format"] != "java":
        # A profile offers only shapes that pin at least as much as its own (test_security).
        fmt = rng.choice([None, "native"])
    eff_fmt = fmt or prof["format"]
    exts = prof.get("extensions") or []
    types = prof.get("content_types") or []
    lo, hi = prof.get("min_size", 0), prof.get("max_size", 1048576000)
    needs_user = prof.get("require_user", True) or "{user}" in prof["key"]

    user = random_user(rng, USER_LENGTHS, inner_dots=True) if (needs_user or rng.random() < 0.5) else None
    filename = random_filename(rng, exts, NAMES)
    if types:
        # Without contentType a native answer pins the extension's type (which the profile
        # must allow); java checks only a type the client names.
        content_type = rng.choice(allowed_types(prof)) if rng.random() < 0.6 else None
        if content_type and rng.random() < 0.1:
            content_type = content_type.upper()       # compared and pinned lowercased
    else:
        content_type = rng.choice(ANY_TYPES) if rng.random() < 0.6 else None
    size = rng.choice([None, lo, hi, rng.randint(lo, hi), rng.randint(lo, min(hi, 4096))])

    c = Case(name, fmt, user, filename, content_type, size,
             random_now(rng, SPECIAL_NOWS, special_until=0.3), random_uuid(rng))

    if rng.random() < 0.25:      # one fault, never more (the order of checks is not specified)
        faults = ["size_high", "identity_bad", "ext", "active"]
        if lo > 0:
            faults.append("size_low")
        if needs_user:
            faults.append("identity_missing")
        if exts:
            faults += ["no_filename", "ext_required"]
        if types:
            faults.append("ctype")
        fault = rng.choice(faults)
        c.fault = fault
        if fault == "size_high":
            c.size, c.expect = hi + rng.choice([1, 1000]), "size_out_of_range"
        elif fault == "size_low":
            c.size, c.expect = lo - 1, "size_out_of_range"
        elif fault == "identity_bad":
            c.user = rng.choice(["../etc", "a/b", "a..b", "x" * 129, "..", "/root"])
            c.expect = "invalid_identity"
        elif fault == "identity_missing":
            c.user, c.expect = None, "identity_required"
        # The file name and type faults: rule_errors below names their code.
        elif fault == "ext":
            ext = mixed_case(rng, rng.choice(["exe", "gif", "html"]) if exts
                             else rng.choice(["j-g", "tar_gz", "p#"]))
            c.filename = f"{random_name(rng, NAMES.name_max)}.{ext}"
        elif fault == "no_filename":
            c.filename = None
        elif fault == "ext_required":
            c.filename = rng.choice(["noext", "photo.", "a.png.", "." + rng.choice(exts)])
        elif fault == "ctype":
            c.content_type = rng.choice(["text/html", "image/gif", "application/x-sh",
                                         "image/svg+xml", "IMAGE/SVG+XML"])
        elif fault == "active":
            c.content_type = rng.choice(ACTIVE_SAMPLES)

    if not settle_expectation(c, prof, eff_fmt):
        return None
    c.args = sign_args(c)
    return c


def check_answer(profiles: dict, token: str | None):
    """The check of a signed answer: helpers.check_signed with the case's exact --now and uuid."""
    def check(c: Case, body: dict) -> None:
        prof = profiles[c.profile]
        helpers.check_signed(body, fmt=c.fmt or prof["format"], prof=prof, profile_name=c.profile,
                             token=token, user=c.user, filename=c.filename,
                             content_type=c.content_type, size=c.size, now=parse_now(c.now),
                             uuid=c.uuid)
    return check


def test_differential_sign(std_config, std_profiles):
    rng = random.Random(SEED)
    cases = [make_case(rng, _draw_case, std_profiles) for _ in range(N_CASES)]
    assert sum(c.expect == "ok" for c in cases) > N_CASES // 2
    failures = run_cases(cases, std_config, helpers.cred_env(), check_answer(std_profiles, None))
    assert not failures, f"{len(failures)}/{len(cases)} cases differ from the contract:\n" + \
        "\n".join(failures[:15])


def test_differential_sign_with_session_token(std_config, std_profiles):
    """STS: native fields carry x-oss-security-token and the policy pins it."""
    rng = random.Random(SEED + 1)
    cases = [make_case(rng, _draw_case, std_profiles) for _ in range(60)]
    failures = run_cases(cases, std_config, helpers.cred_env(token=True), check_answer(std_profiles, TOKEN))
    assert not failures, f"{len(failures)}/{len(cases)} STS cases differ:\n" + "\n".join(failures[:10])


@pytest.mark.parametrize("now,expires_in,want", [
    ("2026-01-02T03:04:05Z", 300, "2026-01-02T03:09:05.000Z"),
    ("2028-02-29T23:59:59Z", 300, "2028-03-01T00:04:59.000Z"),
    ("2026-12-31T23:59:59Z", 1, "2027-01-01T00:00:00.000Z"),
    ("2027-02-28T23:58:00Z", 120, "2027-03-01T00:00:00.000Z"),
    ("2024-02-28T23:59:59Z", 86400, "2024-02-29T23:59:59.000Z"),
])
def test_expiration_literals(tmp_path, now, expires_in, want):
    """Hand-written expirations (not computed by the test's own date code)."""
    cfg = helpers.write_config(tmp_path, profiles={"p": helpers.profile(expires_in=expires_in)})
    proc = helpers.run_cli(["sign", "--config", str(cfg), "--profile", "p", "--user", "alice",
                            "--filename", "a.jpg", "--now", now,
                            "--uuid", "0f8c3c1e-6a57-4b2e-9d7a-3b1f2c4d5e6f"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    body = json.loads(proc.stdout)
    from oracle import decode_policy
    assert decode_policy(body["policy"])["expiration"] == want
    assert body["key"] == "avatars/alice/0f8c3c1e-6a57-4b2e-9d7a-3b1f2c4d5e6f.jpg"
    assert body["signature"] == __import__("oracle").v1_signature(SECRET, body["policy"])
    assert body["ossAccessKeyId"] == AKID


def test_user_placeholder_with_require_user_false_is_a_config_error(tmp_path):
    """A key template with {user} cannot render without a user, so `require_user = false` beside it
    is contradictory: check-config names the field, and sign refuses to run on that config."""
    cfg = helpers.write_config(tmp_path, server=dict(helpers.STANDARD_SERVER, default_profile="u"),
                               profiles={"u": helpers.profile(key="u/{user}/{uuid}{ext}",
                                                              require_user=False)})
    proc = helpers.run_cli(["check-config", "--config", str(cfg)])
    assert proc.returncode == 1, f"exit {proc.returncode}: {proc.stdout!r}"
    assert "profiles.u.require_user:" in proc.stdout
    proc = helpers.run_cli(["sign", "--config", str(cfg), "--profile", "u", "--user", "alice"])
    assert proc.returncode != 0 and proc.stdout.strip() == "", f"{proc.returncode}: {proc.stdout!r}"


CLI_ERRORS = [
    (["--profile", "avatar", "--user", "a", "--format", "xml"], "invalid_request"),
    (["--profile", "avatar", "--user", "a", "--size", "abc"], "invalid_request"),
    (["--profile", "avatar", "--user", "a", "--size=-1"], "invalid_request"),
    (["--profile", "nope", "--user", "a"], "unknown_profile"),
    (["--profile", "avatar", "--user", "a/b"], "invalid_identity"),
    (["--profile", "avatar"], "identity_required"),
    (["--profile", "avatar", "--user", "a", "--filename", "x.exe"], "extension_not_allowed"),
    (["--profile", "photo", "--user", "a", "--content-type", "image/png"], "missing_parameter"),
    (["--profile", "photo", "--user", "a", "--filename", "x.", "--content-type", "image/png"],
     "extension_required"),
    (["--profile", "photo", "--user", "a", "--filename", ".png", "--content-type", "image/png"],
     "extension_required"),
    (["--profile", "doc", "--user", "a", "--filename", "x.svg", "--content-type", "image/svg+xml"],
     "content_type_not_allowed"),
    (["--profile", "photo", "--user", "a", "--filename", "x.png", "--content-type", "text/html"],
     "content_type_not_allowed"),
    (["--profile", "photo", "--user", "a", "--filename", "x.png", "--content-type", "image/png",
      "--size", "0"], "size_out_of_range"),
]


@pytest.mark.parametrize("args,code", CLI_ERRORS, ids=[c for _, c in CLI_ERRORS])
def test_cli_errors_print_the_error_body_and_exit_1(std_config, args, code):
    proc = helpers.run_cli(["sign", "--config", str(std_config), *args,
                            "--now", "2026-01-02T03:04:05Z"])
    assert proc.returncode == 1, f"exit {proc.returncode}: {proc.stdout!r} {proc.stderr[-300:]!r}"
    assert proc.stdout.endswith("\n") and proc.stdout.count("\n") == 1, repr(proc.stdout)
    helpers.assert_error_body(helpers.ERROR_STATUS[code], None, proc.stdout, code)
