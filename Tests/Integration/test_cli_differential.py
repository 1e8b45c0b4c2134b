"""Differential test of `upsign sign`: a few hundred generated requests, each answer checked
against a model written from the contract and the SDK signature oracle.

The request rules of the contract (issue #16, "policy hardening": which file names and content
types a profile accepts, the pinned Content-Type, the download name of a pinned
Content-Disposition and Qiniu's mimeLimit) are modelled here once, from the contract and the
tables in helpers.py, for this file, test_v4_differential and test_store_differential."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import unicodedata
import urllib.parse
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
# What clients send to profiles without content_types: passive types (one in mixed case: the
# pinned type is the lowercased one) and types a browser runs, which such a profile refuses.
ANY_TYPES = ["application/pdf", "text/plain", "application/octet-stream", "image/svg+xml",
             "video/mp4", "Text/CSV", "text/html", "application/xhtml+xml"]
# Refused by every profile that does not list them exactly (some are in a listed family).
ACTIVE_SAMPLES = ["text/html", "image/svg+xml", "application/xhtml+xml", "text/javascript",
                  "image/foo+xml", "application/xml"]


# ------------------------------------------------------------------------------------------
# The request rules of the contract (issue #16)


def _leading_dot_only(filename: str) -> bool:
    """".png": the only dot starts the name, so there is no stem and no extension."""
    return filename.startswith(".") and filename.count(".") == 1


RULE_FAULTS = ("ext", "no_filename", "ext_required", "ctype", "active")


def settle_expectation(c, prof: dict, fmt: str) -> bool:
    """Sets `c.expect` from the file name / content type rules and the case's own fault. False
    when the case must be drawn again: the rules give two codes (their order is not part of the
    contract), or a rule fault the profile happens to allow is no fault case."""
    codes = rule_errors(prof, fmt, c.filename, c.content_type)
    if c.expect != "ok":
        codes.add(c.expect)
    if len(codes) > 1:
        return False
    if codes:
        c.expect = codes.pop()
        if c.fault == "none":
            c.fault = "rule"
        return True
    return c.fault not in RULE_FAULTS


def rule_errors(prof: dict, fmt: str, filename: str | None, content_type: str | None) -> set[str]:
    """Every error code the file name / content type rules give this request (empty: none).
    `fmt` is the effective format. The contract does not order its checks, so generators keep
    only requests for which this set (plus any other fault) holds at most one code."""
    errs: set[str] = set()
    exts = [e.lower() for e in prof.get("extensions") or []]
    ext = helpers.ext_of(filename).lstrip(".")
    if exts:
        if filename is None:
            errs.add("missing_parameter")
        elif not ext or _leading_dot_only(filename):
            errs.add("extension_required")
        elif ext not in exts:
            errs.add("extension_not_allowed")
    elif ext and not re.fullmatch(r"[a-z0-9]+", ext):
        errs.add("extension_not_allowed")     # without a list: any alphanumeric extension
    types = prof.get("content_types") or []
    if content_type is not None:
        if not helpers.type_allowed(content_type.lower(), types):
            errs.add("content_type_not_allowed")
    elif types and fmt in ("native", "uppy") and prof.get("provider", "aliyun-oss") != "qiniu":
        # The pinned type is then the extension's; the profile must allow it.
        if not helpers.type_allowed(helpers.pinned_content_type(None, filename), types):
            errs.add("missing_parameter")
    return errs


def allowed_types(prof: dict) -> list[str]:
    """Concrete, allowed content types a client may send for a profile with content_types:
    its exact entries and, for a family, the passive types the extension table knows in it."""
    out = []
    for t in prof.get("content_types") or []:
        if t.endswith("/"):
            out += sorted({v for v in helpers.EXTENSION_TYPES.values() if v.startswith(t)})
        else:
            out.append(t)
    return out


_CD_REPLACED = set('"\\$;')


def download_name(filename: str, ext: str) -> str:
    """The name a pinned Content-Disposition gives: the last path component's stem (cut before
    the vetted extension `ext`, ".png" or ""; without one, the whole name with every "." made
    "_"), control/format characters dropped, `"\\$;` made "_", spaces and dots trimmed, at most
    128 characters with the extension, then the lowercase vetted extension."""
    name = filename.rsplit("/", 1)[-1]
    stem = name[:name.rfind(".")] if ext else name
    stem = "".join(ch for ch in stem if unicodedata.category(ch) not in ("Cc", "Cf"))
    stem = "".join("_" if ch in _CD_REPLACED else ch for ch in stem).strip(" .")
    if not ext:
        stem = stem.replace(".", "_")
    return stem[:128 - len(ext)] + ext


def content_disposition(prof: dict, filename: str | None) -> str | None:
    """The Content-Disposition a native/uppy answer pins (None: the profile pins none)."""
    disp = prof.get("content_disposition")
    if disp is None:
        return None
    if filename is None:
        return disp
    name = download_name(filename, helpers.ext_of(filename))
    assert name and re.fullmatch(r"[\x20-\x7e]+", name), \
        f"the model covers printable ASCII names only: {filename!r} -> {name!r}"
    star = urllib.parse.quote(name, safe="!#$&+-.^_`|~")
    return f'{disp}; filename="{name}"; filename*=UTF-8\'\'{star}'


def qiniu_mime_limit(prof: dict, content_type: str | None) -> str:
    """Qiniu's mimeLimit: the client's type; else the profile's types (a family that holds an
    active type becomes the passive types of the extension table in it, any other family
    "F/*"); else "!" and the active types."""
    if content_type is not None:
        return content_type.lower()
    types = prof.get("content_types") or []
    if not types:
        return "!" + ";".join(helpers.ACTIVE_TYPES)
    out: list[str] = []
    for t in types:
        t = t.lower()
        if not t.endswith("/"):
            items = [t]
        elif any(a.startswith(t) for a in helpers.ACTIVE_TYPES):
            items = sorted({v for v in helpers.EXTENSION_TYPES.values() if v.startswith(t)})
        else:
            items = [t + "*"]
        out += [i for i in items if i not in out]
    return ";".join(out)


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


def random_filename(rng: random.Random, exts: list[str]) -> str | None:
    """Mostly a name with an allowed extension (sometimes behind another dotted part: the last
    extension counts); sometimes no extension, a trailing dot, a leading dot only, or none."""
    r = rng.random()
    if r < 0.8:
        ext = rng.choice(exts) if exts else rng.choice(["pdf", "txt", "docx", "7z", "MP4", "gz",
                                                        "svg", "html", "bin"])
        filename = with_ext(rng, ext)
        if rng.random() < 0.15:
            filename = "archive." + filename          # multi-dot: last extension counts
        return filename
    if r < 0.87:
        return random_name(rng).replace(".", "")      # no extension → {ext} = ""
    if r < 0.9:
        return with_ext(rng, rng.choice(exts or ["exe", "png"])) + "."   # trailing dot
    if r < 0.92 and exts:
        return "." + rng.choice(exts)                 # a leading dot only
    return None


def make_case(rng: random.Random, profiles: dict) -> Case:
    """A request with at most one error: drawn again while the contract's rules would give two
    different codes (their order is not specified)."""
    while True:
        c = _draw_case(rng, profiles)
        if c is not None:
            return c


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

    user = random_user(rng) if (needs_user or rng.random() < 0.5) else None
    filename = random_filename(rng, exts)
    if types:
        # Without contentType a native answer pins the extension's type (which the profile
        # must allow); java checks only a type the client names.
        content_type = rng.choice(allowed_types(prof)) if rng.random() < 0.6 else None
        if content_type and rng.random() < 0.1:
            content_type = content_type.upper()       # compared and pinned lowercased
    else:
        content_type = rng.choice(ANY_TYPES) if rng.random() < 0.6 else None
    size = rng.choice([None, lo, hi, rng.randint(lo, hi), rng.randint(lo, min(hi, 4096))])

    c = Case(name, fmt, user, filename, content_type, size, random_now(rng), str(uuidlib.UUID(
        int=rng.getrandbits(128), version=4)))

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
            c.filename = with_ext(rng, rng.choice(["exe", "gif", "html"]) if exts
                                  else rng.choice(["j-g", "tar_gz", "p#"]))
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
