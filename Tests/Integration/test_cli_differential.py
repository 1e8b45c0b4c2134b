"""Differential test of `upsign sign`: a few hundred generated requests, each answer checked
against a model written from the contract and the SDK signature oracle."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

import helpers
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
USER_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-@"
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_- "
ANY_TYPES = ["application/pdf", "text/plain", "application/octet-stream", "image/svg+xml",
             "video/mp4"]


@dataclass
class Case:
    profile: str
    fmt: str | None
    user: str | None
    filename: str | None
    content_type: str | None
    size: int | None
    now: str
    uuid: str
    expect: str = "ok"          # "ok" or an error code
    fault: str = "none"
    args: list = field(default_factory=list)


def random_user(rng: random.Random) -> str:
    n = rng.choice([1, 2, 5, 8, 12, 32, 64, 127, 128])
    s = "".join(rng.choice(USER_CHARS) for _ in range(n))
    if n > 3 and rng.random() < 0.3:   # single inner dots are allowed ("a.b"), ".." is not
        i = rng.randint(1, n - 2)
        s = s[:i] + "." + s[i + 1:]
    if s[0] == "-":
        s = "u" + s[1:]                # keep argv unambiguous
    return s


def random_now(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(SPECIAL_NOWS)
    t = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(
        seconds=rng.randint(0, 100 * 365 * 86400))
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def random_name(rng: random.Random) -> str:
    base = "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(1, 24))).strip() or "f"
    return base.lstrip("-") or "f"   # a leading "-" would read as an option


def with_ext(rng, ext: str) -> str:
    ext = "".join(c.upper() if rng.random() < 0.3 else c for c in ext)
    return f"{random_name(rng)}.{ext}"


def make_case(rng: random.Random, profiles: dict) -> Case:
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

    user = random_user(rng) if (needs_user or rng.random() < 0.5) else None
    # filename: allowed extension, or none at all
    r = rng.random()
    if r < 0.75:
        ext = rng.choice(exts) if exts else rng.choice(["pdf", "txt", "docx", "7z", "MP4", "gz"])
        filename = with_ext(rng, ext)
        if rng.random() < 0.15:
            filename = "archive." + filename          # multi-dot: last extension counts
    elif r < 0.9:
        filename = random_name(rng).replace(".", "")  # no extension → {ext} = ""
    else:
        filename = None
    if types:
        content_type = rng.choice(types) if (eff_fmt == "native" or rng.random() < 0.5) else None
    else:
        content_type = rng.choice(ANY_TYPES) if rng.random() < 0.6 else None
    size = rng.choice([None, lo, hi, rng.randint(lo, hi), rng.randint(lo, min(hi, 4096))])

    c = Case(name, fmt, user, filename, content_type, size, random_now(rng), str(uuidlib.UUID(
        int=rng.getrandbits(128), version=4)))

    if rng.random() < 0.25:      # one fault, never more (the order of checks is not specified)
        faults = ["size_high", "identity_bad"]
        if lo > 0:
            faults.append("size_low")
        if needs_user:
            faults.append("identity_missing")
        faults.append("ext")
        if types and eff_fmt == "native":
            faults += ["ctype", "missing_ct"]
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
        elif fault == "ext":
            c.filename = with_ext(rng, rng.choice(["exe", "gif", "html"]) if exts
                                  else rng.choice(["j-g", "tar_gz", "p#"]))
            c.expect = "extension_not_allowed"
        elif fault == "ctype":
            c.content_type, c.expect = rng.choice(["text/html", "image/gif", "application/x-sh"]), \
                "content_type_not_allowed"
        elif fault == "missing_ct":
            c.content_type, c.expect = None, "missing_parameter"

    args = ["sign", "--config", "CONFIG", "--profile", c.profile]
    if c.user is not None:
        args += ["--user", c.user]
    if c.filename is not None:
        args += ["--filename", c.filename]
    if c.content_type is not None:
        args += ["--content-type", c.content_type]
    if c.size is not None:
        args += ["--size", str(c.size)]
    if c.fmt is not None:
        args += ["--format", c.fmt]
    args += ["--now", c.now, "--uuid", c.uuid]
    c.args = args
    return c


def parse_now(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)


def check_case(c: Case, proc, profiles: dict, token: str | None) -> None:
    out = proc.stdout
    assert out.endswith("\n") and out.count("\n") == 1, f"stdout is not one line + newline: {out!r}"
    if c.expect != "ok":
        assert proc.returncode == 1, f"exit {proc.returncode} for an error case"
        helpers.assert_error_body(helpers.ERROR_STATUS[c.expect], None, out, c.expect)
        return
    assert proc.returncode == 0, f"exit {proc.returncode}; stdout={out!r} stderr={proc.stderr[-500:]!r}"
    body = json.loads(out)
    prof = profiles[c.profile]
    helpers.check_signed(body, fmt=c.fmt or prof["format"], prof=prof, profile_name=c.profile,
                         token=token, user=c.user, filename=c.filename,
                         content_type=c.content_type, size=c.size, now=parse_now(c.now),
                         uuid=c.uuid)


def run_cases(cases: list[Case], config, env, profiles, token=None) -> list[str]:
    def one(c: Case):
        args = [str(config) if a == "CONFIG" else a for a in c.args]
        proc = helpers.run_cli(args, env=env)
        try:
            check_case(c, proc, profiles, token)
            return None
        except AssertionError as exc:
            return f"[{c.fault}] upsign {' '.join(args)}\n    -> {exc}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        return [r for r in pool.map(one, cases) if r]


def test_differential_sign(std_config, std_profiles):
    rng = random.Random(SEED)
    cases = [make_case(rng, std_profiles) for _ in range(N_CASES)]
    assert sum(c.expect == "ok" for c in cases) > N_CASES // 2
    failures = run_cases(cases, std_config, helpers.cred_env(), std_profiles)
    assert not failures, f"{len(failures)}/{len(cases)} cases differ from the contract:\n" + \
        "\n".join(failures[:15])


def test_differential_sign_with_session_token(std_config, std_profiles):
    """STS: native fields carry x-oss-security-token and the policy pins it."""
    rng = random.Random(SEED + 1)
    cases = [make_case(rng, std_profiles) for _ in range(60)]
    failures = run_cases(cases, std_config, helpers.cred_env(token=True), std_profiles, token=TOKEN)
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
    (["--profile", "photo", "--user", "a", "--filename", "x.png"], "missing_parameter"),
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
