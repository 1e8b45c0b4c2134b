"""The case framework of the differential files (test_cli_differential, test_v4_differential,
test_store_differential): one `Case` (a generated `upsign sign` run and the answer the contract
gives it), the input generators, and make_case / check_case / run_cases.

What differs per file comes in as hooks: its profiles and faults (the `draw` function given to
make_case), the tables its generators draw from (the special instants and the instants around a
midnight given to random_now, the name lengths given to random_user, a NameStyle for
random_filename; each file's seeds pin its cases, so each keeps its own tables), and the check of
a signed answer (the `check_answer` given to check_case and run_cases)."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from harness.contract import ERROR_STATUS, assert_error_body
from harness.processes import run_cli


UTC = dt.timezone.utc
USER_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-@"
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_- "
# What clients send to profiles without content_types: passive types (one in mixed case: the
# pinned type is the lowercased one) and types a browser runs, which such a profile refuses.
ANY_TYPES = ["application/pdf", "text/plain", "application/octet-stream", "image/svg+xml",
             "video/mp4", "Text/CSV", "text/html", "application/xhtml+xml"]
# Refused by every profile that does not list them exactly (some are in a listed family).
ACTIVE_SAMPLES = ["text/html", "image/svg+xml", "application/xhtml+xml", "text/javascript",
                  "image/foo+xml", "application/xml"]


@dataclass
class Case:
    """One `upsign sign` run: its inputs, the expected outcome ("ok" or an error code), the fault
    drawn (if any), the argv (CONFIG standing for the config path) and, for the other stores,
    whether the run's environment carries session tokens."""
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
    tokens: bool = False


# ------------------------------------------------------------------------------------------
# Inputs


def random_now(rng: random.Random, specials: list[str], *, special_until: float,
               midnight: Callable[[random.Random], str] | None = None,
               midnight_until: float = 0.0) -> str:
    """A --now value: one of `specials` (a draw below special_until), an instant around a UTC
    midnight from `midnight` (below midnight_until), else any second of 2000-2099."""
    r = rng.random()
    if r < special_until:
        return rng.choice(specials)
    if midnight is not None and r < midnight_until:
        return midnight(rng)
    t = dt.datetime(2000, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=rng.randint(0, 100 * 365 * 86400))
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def random_user(rng: random.Random, lengths: list[int], *, inner_dots: bool = False) -> str:
    """An identity of one of `lengths` characters; with inner_dots sometimes a single inner dot
    (allowed: "a.b"; ".." is not)."""
    n = rng.choice(lengths)
    s = "".join(rng.choice(USER_CHARS) for _ in range(n))
    if inner_dots and n > 3 and rng.random() < 0.3:
        i = rng.randint(1, n - 2)
        s = s[:i] + "." + s[i + 1:]
    if s[0] == "-":
        s = "u" + s[1:]                # keep argv unambiguous
    return s


def random_name(rng: random.Random, max_len: int) -> str:
    base = "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(1, max_len))).strip() or "f"
    return base.lstrip("-") or "f"   # a leading "-" would read as an option


@dataclass(frozen=True)
class NameStyle:
    """How a file draws file names: the shares of (a name with an extension, without one, with a
    trailing dot, a leading dot only) as cumulative bounds, the extensions for profiles without a
    list, a dotted part put before some names, the longest stem, and whether the trailing-dot
    name is drawn as the others are (extension first, case mixed) or stem first."""
    until: tuple[float, float, float, float]
    common_exts: tuple[str, ...]
    prefix: str
    prefix_share: float
    name_max: int
    trailing_dot_cased: bool


# The names and identities test_v4_differential draws, and test_store_differential with it.
V4_NAMES = NameStyle(until=(0.78, 0.88, 0.91, 0.93),
                     common_exts=("pdf", "txt", "docx", "7z", "MP4", "svg", "html", "bin"),
                     prefix="v1.", prefix_share=0.1, name_max=20, trailing_dot_cased=False)
V4_USER_LENGTHS = [1, 3, 8, 16, 64, 128]


def mixed_case(rng: random.Random, ext: str) -> str:
    return "".join(c.upper() if rng.random() < 0.3 else c for c in ext)


def random_filename(rng: random.Random, exts: list[str], style: NameStyle) -> str | None:
    """Mostly a name with one of `exts` (or a common extension) in random case, sometimes behind
    another dotted part (the last extension counts); sometimes no extension, a trailing dot, a
    leading dot only (with `exts`), or no file name at all."""
    r = rng.random()
    with_ext, no_ext, trailing_dot, leading_dot = style.until
    if r < with_ext:
        ext = mixed_case(rng, rng.choice(exts) if exts else rng.choice(style.common_exts))
        name = f"{random_name(rng, style.name_max)}.{ext}"
        return style.prefix + name if rng.random() < style.prefix_share else name
    if r < no_ext:
        return random_name(rng, style.name_max).replace(".", "")      # no extension: {ext} = ""
    if r < trailing_dot:
        if style.trailing_dot_cased:
            ext = mixed_case(rng, rng.choice(exts or ["exe", "png"]))
            return f"{random_name(rng, style.name_max)}.{ext}."
        return f"{random_name(rng, style.name_max)}.{rng.choice(exts or ['exe', 'png'])}."
    if r < leading_dot and exts:
        return "." + rng.choice(exts)
    return None


def random_uuid(rng: random.Random) -> str:
    return str(uuidlib.UUID(int=rng.getrandbits(128), version=4))


def parse_now(s: str) -> dt.datetime:
    """--now value: YYYY-MM-DDTHH:MM:SS[.fff]Z."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d{1,6})?Z", s)
    assert m, s
    t = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    if m.group(2):
        t = t.replace(microsecond=int((m.group(2)[1:] + "000000")[:6]))
    return t


def fmt_ms(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


# ------------------------------------------------------------------------------------------
# Making, checking and running cases


def make_case(rng: random.Random, draw: Callable[..., Case | None], *args) -> Case:
    """A request with at most one error: `draw(rng, *args)` again while it returns None (the
    contract's rules would give two different codes, whose order it does not specify)."""
    while True:
        c = draw(rng, *args)
        if c is not None:
            return c


def sign_args(c: Case) -> list[str]:
    """`upsign sign` argv for the case (CONFIG stands for the config path)."""
    args = ["sign", "--config", "CONFIG", "--profile", c.profile]
    for opt, val in (("--user", c.user), ("--filename", c.filename),
                     ("--content-type", c.content_type), ("--size", c.size), ("--format", c.fmt)):
        if val is not None:
            args += [opt, str(val)]
    return args + ["--now", c.now, "--uuid", c.uuid]


def check_case(c: Case, proc, check_answer: Callable[[Case, dict], object]) -> None:
    """One run against the contract: a single line on stdout; for an error case exit 1 and the
    error body; otherwise exit 0 and `check_answer(case, answer)`."""
    out = proc.stdout
    assert out.endswith("\n") and out.count("\n") == 1, \
        f"stdout is not one line + newline (exit {proc.returncode}): {out!r} stderr={proc.stderr[-300:]!r}"
    if c.expect != "ok":
        assert proc.returncode == 1, f"exit {proc.returncode} for an error case: {out!r}"
        assert_error_body(ERROR_STATUS[c.expect], None, out, c.expect)
        return
    assert proc.returncode == 0, f"exit {proc.returncode}; stdout={out!r} stderr={proc.stderr[-500:]!r}"
    check_answer(c, json.loads(out))


def run_case(c: Case, config, env, check_answer) -> str | None:
    """Run one case; None when it matches the contract, else a description of the mismatch."""
    args = [str(config) if a == "CONFIG" else a for a in c.args]
    proc = run_cli(args, env=env)
    try:
        check_case(c, proc, check_answer)
        return None
    except AssertionError as exc:
        return f"[{c.profile}/{c.fault}] upsign {' '.join(args)}\n    -> {exc}"


def run_cases(cases: list[Case], config, env, check_answer) -> list[str]:
    """Every case, four `upsign sign` processes at a time; the mismatches."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return [r for r in pool.map(lambda c: run_case(c, config, env, check_answer), cases) if r]
