"""Rotating credentials files (an STS agent rewriting them): `upsign serve` polls the file
(every 250 ms) and swaps in the new credentials whole; SIGHUP reads it again at once; a file
that fails to load (half-written, group/world-readable) keeps the previous credentials; expired
credentials answer 503 `credentials_expired` and clamp a policy's expiration.

Every answer is checked with exactly one generation's credentials: the AccessKeyId names the
generation, the signature must verify with THAT generation's secret through the SDK oracle
(helpers.check_signed → oracle.v1_signature), and every token in the answer is that
generation's token.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets as rnd
import signal
import threading
import time
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

import helpers
from harness.stack import start_stack

USER = "rot-user"
NATIVE_PATH = "/upload/policy?profile=rn&filename=a.png&contentType=image%2Fpng"
JAVA_PATH = "/upload/policy?profile=rj&filename=b.jpg"
POLL = 0.25            # the worker's polling interval (contract)
# How long a wait for a new generation goes on before the test gives up: a guard against a hang,
# not a claim about speed (a loaded CI machine can stretch the 0.25 s poll well past a second).
# What the tests assert is order: nothing served before it was written, never back to an older one.
PICKUP_GUARD = 15.0

GEN_IN_TEXT = (re.compile(r"STS\.gen(\d+)\b"), re.compile(r"token-(\d+)-"), re.compile(r"secret-(\d+)-"))


# --------------------------------------------------------------------------------------------
# Credentials files


@dataclass
class Gen:
    index: int
    akid: str
    secret: str
    token: str
    expiration: dt.datetime


def iso_seconds(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(gen: Gen, style: str) -> tuple[str, int]:
    """The file text in `style` and a split offset at which the text is incomplete in a way a
    loader can detect (JSON: unterminated; INI: the secret line cut inside its key name)."""
    exp = iso_seconds(gen.expiration)
    if style == "json":
        text = json.dumps({"AccessKeyId": gen.akid, "AccessKeySecret": gen.secret,
                           "SecurityToken": gen.token, "Expiration": exp}, indent=1) + "\n"
        return text, len(text) // 2
    if style == "ini-credentials":
        keys = ("accessKeyID", "accessKeySecret", "stsToken", "expiration")
        head = "[Credentials]\n"
    elif style == "ini-default":
        keys = ("access_key_id", "access_key_secret", "security_token", "expiration")
        head = "# written by the rotation test\n[default]\n"
    else:
        raise ValueError(style)
    values = (gen.akid, gen.secret, gen.token, exp)
    text = head + "".join(f"{k} = {v}\n" for k, v in zip(keys, values))
    return text, text.index(keys[1]) + 6


class CredFile:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.gens: dict[int, Gen] = {}

    def make(self, i: int, expiration: dt.datetime | None = None) -> Gen:
        if expiration is None:
            expiration = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(hours=1)
        g = Gen(i, f"STS.gen{i}", f"secret-{i}-{rnd.token_hex(12)}", f"token-{i}-{rnd.token_hex(16)}",
                expiration)
        self.gens[i] = g
        return g

    @property
    def all_secrets(self) -> list[str]:
        return [g.secret for g in self.gens.values()]

    def write_atomic(self, gen: Gen, style: str = "json", mode: int = 0o600) -> None:
        text, _ = render(gen, style)
        tmp = self.path.with_name(f".{self.path.name}.tmp{gen.index}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.fchmod(fd, mode)
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        os.replace(tmp, self.path)

    def write_in_place(self, gen: Gen, style: str = "json", empty_pause: float = 0.0,
                       half_pause: float = 0.0) -> None:
        """truncate, (pause), first part, (pause), rest: a reader can see an empty or a
        half-written file in between."""
        text, split = render(gen, style)
        data = text.encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_TRUNC)
        try:
            if empty_pause:
                time.sleep(empty_pause)
            os.write(fd, data[:split])
            if half_pause:
                time.sleep(half_pause)
            os.write(fd, data[split:])
        finally:
            os.close(fd)


# --------------------------------------------------------------------------------------------
# Worker + nginx


def rotation_stack(tmp_dir: Path, cred_path: Path):
    profiles = {
        "rn": helpers.profile(format="native", credentials=str(cred_path)),
        "rj": helpers.profile(format="java", credentials=str(cred_path)),
    }
    server = {k: v for k, v in helpers.STANDARD_SERVER.items() if k != "default_profile"}
    config = helpers.write_config(tmp_dir, server=server, profiles=profiles)
    # env credentials present too: the profiles name the file, so the file must win
    return start_stack(config, env=helpers.cred_env(token=True)), profiles


@pytest.fixture
def cred_file():
    d = helpers.scratch_dir("usrot")
    return CredFile(d / "sts-credentials")


def verify_answer(body: dict, kind: str, cf: CredFile, profiles: dict,
                  window: tuple[float, float] | None, *, expect_expiration: dt.datetime | None = None) -> int:
    """Check one 200 answer against exactly one generation; returns its index."""
    akid = body["fields"]["OSSAccessKeyId"] if kind == "native" else body["ossAccessKeyId"]
    m = re.fullmatch(r"STS\.gen(\d+)", akid or "")
    assert m, f"AccessKeyId {akid!r} is none of the generations written"
    i = int(m.group(1))
    assert i in cf.gens, f"AccessKeyId {akid!r}: generation {i} was never written"
    g = cf.gens[i]
    prof = profiles["rn" if kind == "native" else "rj"]
    if window is not None and g.expiration.timestamp() < window[1] + prof["expires_in"] + 1:
        # short-lived credentials: the policy's expiration is clamped to theirs
        expect_expiration, window = g.expiration, None
    policy = helpers.check_signed(
        body, fmt=kind, prof=prof, profile_name="rn" if kind == "native" else "rj",
        akid=g.akid, secret=g.secret, token=g.token, user=USER,
        filename="a.png" if kind == "native" else "b.jpg",
        content_type="image/png" if kind == "native" else None, now_window=window)
    # Never a mix: every generation marker anywhere in the answer or its policy is this one's,
    # and the policy pins the token exactly once.
    text = json.dumps(body) + json.dumps(policy)
    others = sorted({int(n) for rx in GEN_IN_TEXT for n in rx.findall(text)} - {i})
    assert not others, f"answer for generation {i} also carries generation(s) {others}: {text[:600]}"
    assert g.secret not in text, "the secret itself is in the answer"
    tokens = [c for c in policy["conditions"]
              if (isinstance(c, dict) and "x-oss-security-token" in {k.lower() for k in c})
              or (isinstance(c, list) and len(c) == 3 and str(c[1]).lower() == "$x-oss-security-token")]
    assert len(tokens) == 1, f"policy pins the token {len(tokens)} times: {policy['conditions']}"
    if expect_expiration is not None:
        assert policy["expiration"] == helpers.fmt_expiration(expect_expiration), \
            f"policy expiration {policy['expiration']} not clamped to the credentials' " \
            f"{iso_seconds(expect_expiration)}"
        if kind == "native":
            assert helpers.parse_iso(body["expiresAt"]) == expect_expiration, \
                f"expiresAt {body['expiresAt']} not clamped to {iso_seconds(expect_expiration)}"
    return i


def gen_of_text(content: bytes) -> int | None:
    """The generation an answer's AccessKeyId names, unverified (for deciding when to stop)."""
    m = re.search(rb"STS\.gen(\d+)\b", content)
    return int(m.group(1)) if m else None


def fetch(session: requests.Session, stack, kind: str):
    path = NATIVE_PATH if kind == "native" else JAVA_PATH
    t0 = time.time()
    r = session.get(stack.url(path), headers={"X-Test-User": USER}, timeout=10)
    t1 = time.time()
    helpers.record_response(f"rotation {kind}", r)
    return r, (t0, t1)


def current_gen(stack, cf, profiles, kind="native") -> int:
    r, win = fetch(stack.http, stack, kind)
    assert r.status_code == 200, f"{r.status_code}: {r.text[:300]}"
    return verify_answer(r.json(), kind, cf, profiles, win)


def wait_for_gen(stack, cf, profiles, i: int, timeout: float = PICKUP_GUARD) -> float:
    """Requests until the answers use generation i (both formats); returns the seconds it took."""
    t0 = time.monotonic()
    while True:
        seen = [current_gen(stack, cf, profiles, k) for k in ("native", "java")]
        if seen == [i, i]:
            return time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, \
            f"generation {i} not served {timeout}s after it was written (answers use {seen}):\n" \
            f"{stack.worker.log()[-2000:]}"
        time.sleep(0.02)


def assert_no_secret_in_log(worker, cf: CredFile) -> None:
    leaked = helpers.secrets_in(worker.log(), cf.all_secrets + list(helpers.ALL_SECRETS))
    assert not leaked, f"{len(leaked)} secret(s) in the worker's log, e.g. generation " \
                       f"{leaked[0].split('-')[1]}"


def hold_and_expect(stack, cf, profiles, gen: int, seconds: float) -> int:
    """Request both formats for `seconds`; every answer must be 200 with generation `gen`."""
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for kind in ("native", "java"):
            r, win = fetch(stack.http, stack, kind)
            assert r.status_code == 200, f"{kind}: {r.status_code} {r.text[:300]} while the file " \
                                         f"could not be loaded:\n{stack.worker.log()[-1500:]}"
            got = verify_answer(r.json(), kind, cf, profiles, win)
            assert got == gen, f"{kind} answered with generation {got}, want the kept {gen}"
            n += 1
        time.sleep(0.02)
    return n


# --------------------------------------------------------------------------------------------
# 1. Rotation under load through nginx

ROTATE_EVERY = 0.1
ROTATIONS = 50            # ~5 s
AFTER_FINAL = 1.5
LOAD_THREADS = 6
MIN_ANSWERS = 1000        # load goes on until this many answers (however long that takes)
STYLES = ("json", "ini-credentials", "json", "ini-default")


def test_rotation_under_load_through_nginx(nginx_bin, cred_file):
    cf = cred_file
    cf.write_atomic(cf.make(0))
    stack, profiles = rotation_stack(cf.path.parent, cf.path)
    try:
        assert current_gen(stack, cf, profiles) == 0
        stop = threading.Event()
        answers: list[tuple] = []          # (t0, t1, kind, status, content)
        errors: list[str] = []
        writes: dict[int, tuple[float, float, str, str]] = {0: (0.0, 0.0, "json", "atomic")}

        def load(n: int):
            s = requests.Session()
            kind_cycle = ("native", "java") if n % 2 == 0 else ("java", "native")
            k = 0
            try:
                while not stop.is_set():
                    kind = kind_cycle[k % 2]
                    k += 1
                    try:
                        r, (t0, t1) = fetch(s, stack, kind)
                    except requests.RequestException as exc:
                        errors.append(f"{kind}: {exc!r}")
                        continue
                    answers.append((t0, t1, kind, r.status_code, r.content))
            finally:
                s.close()

        def rotate():
            t_next = time.time()
            for i in range(1, ROTATIONS + 1):
                t_next += ROTATE_EVERY
                style = STYLES[i % 4]
                method = ("atomic", "in-place")[(i + i // 4) % 2]
                g = cf.make(i)
                t0 = time.time()
                if method == "atomic":
                    cf.write_atomic(g, style)
                else:
                    # hold the empty and the half-written states a little, so that the poller
                    # sometimes sees them
                    cf.write_in_place(g, style, empty_pause=0.005, half_pause=0.03)
                writes[i] = (t0, time.time(), style, method)
                time.sleep(max(0.0, t_next - time.time()))

        loaders = [threading.Thread(target=load, args=(n,), daemon=True) for n in range(LOAD_THREADS)]
        rotator = threading.Thread(target=rotate, daemon=True)
        t_start = time.time()
        for t in loaders:
            t.start()
        time.sleep(0.2)
        rotator.start()
        rotator.join(timeout=ROTATIONS * ROTATE_EVERY + 10)
        assert not rotator.is_alive(), "the rotator hung"
        # Load goes on until an answer uses the final generation (a hang guard, not a deadline),
        # then a little longer, so that answers after the first final one exist to be checked,
        # and until MIN_ANSWERS answers are in: a count of answers, never a rate.
        checked = 0
        guard = time.monotonic() + PICKUP_GUARD
        final_seen = False
        while not final_seen and time.monotonic() < guard:
            time.sleep(0.1)
            new = answers[checked:]
            checked += len(new)
            final_seen = any(status == 200 and gen_of_text(content) == ROTATIONS for _, _, _, status, content in new)
        time.sleep(AFTER_FINAL)
        guard = time.monotonic() + 4 * PICKUP_GUARD
        while len(answers) < MIN_ANSWERS and not errors and time.monotonic() < guard:
            time.sleep(0.1)
        stop.set()
        for t in loaders:
            t.join(timeout=15)
        elapsed = time.time() - t_start

        # --- every answer 200, verified against exactly one generation -----------------------
        non200 = [(kind, st, c[:200]) for (_, _, kind, st, c) in answers if st != 200]
        assert not errors and not non200, (
            f"{len(non200)} non-200 answer(s) and {len(errors)} transport error(s) out of "
            f"{len(answers)}: {non200[:5]} {errors[:5]}\nworker log:\n{stack.worker.log()[-3000:]}"
            f"\nnginx:\n{stack.nginx.error_log()[-1500:]}")
        bad: list[str] = []
        rows: list[tuple[float, float, str, int]] = []   # (t0, t1, kind, generation)
        for t0, t1, kind, _, content in answers:
            try:
                body = json.loads(content)
                rows.append((t0, t1, kind, verify_answer(body, kind, cf, profiles, (t0, t1))))
            except AssertionError as exc:
                bad.append(f"{kind}: {str(exc)[:400]}")
        assert not bad, f"{len(bad)} of {len(answers)} answers fail verification: {bad[:5]}"
        assert len(rows) >= MIN_ANSWERS, f"only {len(rows)} answers ({4 * PICKUP_GUARD:.0f}s guard): not a load test"

        # --- no answer signed with credentials not yet written (causality, not a duration) ----
        future = []
        for t0, t1, kind, g in rows:
            if writes[g][0] > t1:
                future.append((kind, g, round(writes[g][0] - t1, 3)))
        assert not future, f"answers signed before their generation was written: {future[:5]}"

        # --- the swap is atomic: once an answer used generation g, a later request never
        #     goes back (per format, and across the two profiles sharing the file) -----------
        by_end = sorted(rows, key=lambda r: r[1])
        end_list = [r[1] for r in by_end]
        prefix_max, m = [], -1
        for r in by_end:
            m = max(m, r[3])
            prefix_max.append(m)
        backwards = []
        for t0, t1, kind, g in rows:
            k = bisect_left(end_list, t0) - 1
            if k >= 0 and prefix_max[k] > g:
                backwards.append((kind, g, prefix_max[k]))
        assert not backwards, (f"{len(backwards)} answer(s) went back to an older generation after "
                               f"a newer one was served (kind, served, newer seen): {backwards[:8]}")

        # --- the final generation is served, and once it is, nothing older --------------------
        final = [r for r in rows if r[3] == ROTATIONS]
        assert final, f"the final generation {ROTATIONS} was never served ({PICKUP_GUARD}s guard)"
        first_final = min(r[1] for r in final)
        late = [r for r in rows if r[0] >= first_final and r[3] != ROTATIONS]
        assert not late, f"answers after the first final one use older generations: {late[:5]}"

        # --- rotation seen under load: generations besides the first and the last were served
        #     (how many depends on the machine's speed, so only that some were) ------------------
        seen = sorted({r[3] for r in rows})
        assert len(seen) >= 3, f"only generations {seen} served while {ROTATIONS} were written"

        # --- log: one "credentials loaded" per reload, generations increasing; failures only
        #     as "reload failed; keeping the previous ones"; never a secret ------------------
        events = helpers.log_events(stack.worker)
        loaded = [int(e["credentials.generation"]) for e in events if e.get("msg") == "credentials loaded"]
        failed = [e for e in events if e.get("msg") == "credentials reload failed; keeping the previous ones"]
        assert loaded == sorted(loaded) and len(set(loaded)) == len(loaded), f"generations {loaded}"
        assert len(loaded) >= len(seen) - 1, \
            f"{len(seen)} generations served but only {len(loaded)} 'credentials loaded' lines"
        assert_no_secret_in_log(stack.worker, cf)
        assert stack.worker.alive()

        per_kind = {k: sum(1 for r in rows if r[2] == k) for k in ("native", "java")}
        in_place = sum(1 for w in writes.values() if w[3] == "in-place")
        print(f"rotation: {len(rows)} answers in {elapsed:.1f}s ({len(rows) / elapsed:.0f}/s; "
              f"{per_kind}); {ROTATIONS} generations written ({in_place} in place), {len(seen)} served; "
              f"{len(loaded)} reloads logged, {len(failed)} failed reloads (half-written seen); "
              f"final generation served {first_final - writes[ROTATIONS][1]:.3f}s after its write")
    finally:
        stack.close()


# --------------------------------------------------------------------------------------------
# 2. SIGHUP reads the file again at once

SIGHUP_ROUNDS = 5


def _sighup_read_after(events: list[dict], hup_index: int) -> dict | None:
    """The first "credentials loaded" event after the hup_index-th SIGHUP line (1-based), if any
    comes before the next SIGHUP line."""
    hups = 0
    for e in events:
        msg = str(e.get("msg", ""))
        if msg.startswith("SIGHUP"):
            hups += 1
            if hups > hup_index:
                return None
        elif hups == hup_index and msg == "credentials loaded":
            return e
    return None


def test_sighup_reloads_at_once(nginx_bin, cred_file):
    """SIGHUP reads the file again itself, without waiting for the poll: each round writes a new
    generation, waits until the poll has loaded it (answers use it), then sends SIGHUP. The file
    has not changed since the poll read it, so the poll never reads it again; a "credentials
    loaded" line after the round's SIGHUP line shows SIGHUP read it, and every answer after that
    line still uses the round's generation. Order, not time: nothing here depends on how soon."""
    cf = cred_file
    cf.write_atomic(cf.make(0))
    stack, profiles = rotation_stack(cf.path.parent, cf.path)
    try:
        assert current_gen(stack, cf, profiles) == 0
        for i in range(1, SIGHUP_ROUNDS + 1):
            cf.write_atomic(cf.make(i), STYLES[i % 4])
            wait_for_gen(stack, cf, profiles, i)
            os.kill(stack.worker.pid, signal.SIGHUP)
            guard = time.monotonic() + PICKUP_GUARD
            while (read := _sighup_read_after(helpers.log_events(stack.worker), i)) is None:
                assert time.monotonic() < guard, (
                    f"round {i}: no 'credentials loaded' line after SIGHUP {i} ({PICKUP_GUARD}s guard):\n"
                    f"{stack.worker.log()[-1500:]}")
                time.sleep(0.02)
            assert cf.path.name in str(read.get("credentials.source", "")), read
            for kind in ("native", "java"):
                r, win = fetch(stack.http, stack, kind)
                assert r.status_code == 200, f"{r.status_code}: {r.text[:300]}"
                got = verify_answer(r.json(), kind, cf, profiles, win)
                assert got == i, (f"round {i}: {kind} answer after SIGHUP's read uses generation {got}:\n"
                                  f"{stack.worker.log()[-1500:]}")
        assert stack.worker.alive(), stack.worker.describe()
        hups = [e for e in helpers.log_events(stack.worker) if str(e.get("msg", "")).startswith("SIGHUP")]
        assert len(hups) == SIGHUP_ROUNDS, f"{len(hups)} SIGHUP log lines for {SIGHUP_ROUNDS} signals"
        assert_no_secret_in_log(stack.worker, cf)
    finally:
        stack.close()


# --------------------------------------------------------------------------------------------
# 3. Expiration: clamp, then 503 credentials_expired, then fresh credentials without restart


def test_expiring_credentials_clamp_then_expire_then_recover(nginx_bin, cred_file):
    cf = cred_file
    cf.write_atomic(cf.make(0))
    stack, profiles = rotation_stack(cf.path.parent, cf.path)
    try:
        assert current_gen(stack, cf, profiles) == 0
        pid = stack.worker.pid
        # Expiration 2-3 s ahead (whole seconds, as STS writes it); expires_in is 300 s.
        exp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=3)
        g1 = cf.make(1, expiration=exp)
        cf.write_atomic(g1, "json")
        os.kill(pid, signal.SIGHUP)
        wait_for_gen(stack, cf, profiles, 1)
        for kind in ("native", "java"):
            r, win = fetch(stack.http, stack, kind)
            assert time.time() < exp.timestamp(), "too slow: the credentials expired already"
            assert r.status_code == 200, f"{kind} {r.status_code}: {r.text[:300]}"
            # expires_in would give now+300 s; the credentials expire first
            verify_answer(r.json(), kind, cf, profiles, None, expect_expiration=exp)
        # The same through an INI file.
        g2 = cf.make(2, expiration=exp)
        cf.write_atomic(g2, "ini-credentials")
        os.kill(pid, signal.SIGHUP)
        wait_for_gen(stack, cf, profiles, 2)
        r, win = fetch(stack.http, stack, "native")
        if time.time() < exp.timestamp():
            assert r.status_code == 200, r.text[:300]
            verify_answer(r.json(), "native", cf, profiles, None, expect_expiration=exp)

        time.sleep(max(0.0, exp.timestamp() + 0.2 - time.time()))
        for kind in ("native", "java"):
            r, _ = fetch(stack.http, stack, kind)
            helpers.assert_http_error(r, "credentials_expired", 503)
            helpers.assert_std_headers(r)
            assert "STS.gen" not in r.text and "token-" not in r.text, r.text

        # Fresh credentials: served again, same process, no SIGHUP (the poll picks them up).
        cf.write_in_place(cf.make(3), "ini-default")
        deadline = time.monotonic() + PICKUP_GUARD
        while True:
            r, win = fetch(stack.http, stack, "native")
            if r.status_code == 200:
                break
            helpers.assert_http_error(r, "credentials_expired", 503)
            assert time.monotonic() < deadline, "fresh credentials not picked up after expiry"
            time.sleep(0.05)
        assert verify_answer(r.json(), "native", cf, profiles, win) == 3
        wait_for_gen(stack, cf, profiles, 3)
        assert stack.worker.alive() and stack.worker.pid == pid
        assert_no_secret_in_log(stack.worker, cf)
    finally:
        stack.close()


# --------------------------------------------------------------------------------------------
# 4. A group/world-readable rewrite keeps the previous credentials


@pytest.mark.parametrize("how", ["atomic-0640", "in-place-0604"])
def test_readable_by_others_rewrite_keeps_previous(nginx_bin, cred_file, how):
    cf = cred_file
    cf.write_atomic(cf.make(0))
    stack, profiles = rotation_stack(cf.path.parent, cf.path)
    try:
        assert current_gen(stack, cf, profiles) == 0
        g1 = cf.make(1)
        if how == "atomic-0640":
            cf.write_atomic(g1, "json", mode=0o640)
        else:
            os.chmod(cf.path, 0o604)       # first, so that gen 1 is never readable 0600
            cf.write_in_place(g1, "ini-credentials")
        n = hold_and_expect(stack, cf, profiles, 0, 3 * POLL + 0.1)
        failed = [e for e in helpers.log_events(stack.worker)
                  if e.get("msg") == "credentials reload failed; keeping the previous ones"]
        assert failed, f"no 'reload failed' log line for a mode {oct(cf.path.stat().st_mode & 0o777)} " \
                       f"file:\n{stack.worker.log()[-1500:]}"
        assert str(cf.path) in json.dumps(failed[-1]), failed[-1]
        # Fixing the mode loads the new credentials.
        os.chmod(cf.path, 0o600)
        wait_for_gen(stack, cf, profiles, 1)
        assert_no_secret_in_log(stack.worker, cf)
        print(f"{how}: {n} answers kept generation 0; {len(failed)} failed reload(s) logged")
    finally:
        stack.close()


# --------------------------------------------------------------------------------------------
# 5. Half-written files (held long enough for the poller to see them) keep the previous ones


def test_half_written_file_keeps_previous(nginx_bin, cred_file):
    cf = cred_file
    cf.write_atomic(cf.make(0))
    stack, profiles = rotation_stack(cf.path.parent, cf.path)
    hold = 2 * POLL + 0.1
    try:
        assert current_gen(stack, cf, profiles) == 0
        for i, style in ((1, "json"), (2, "ini-credentials"), (3, "ini-default")):
            g = cf.make(i)
            text, split = render(g, style)
            fd = os.open(cf.path, os.O_WRONLY | os.O_TRUNC)
            try:
                hold_and_expect(stack, cf, profiles, i - 1, hold)         # empty file
                os.write(fd, text[:split].encode())
                hold_and_expect(stack, cf, profiles, i - 1, hold)         # half-written
                os.write(fd, text[split:].encode())
            finally:
                os.close(fd)
            wait_for_gen(stack, cf, profiles, i)
        failed = [e for e in helpers.log_events(stack.worker)
                  if e.get("msg") == "credentials reload failed; keeping the previous ones"]
        assert len(failed) >= 6, f"{len(failed)} 'reload failed' lines for 6 unloadable states"
        assert_no_secret_in_log(stack.worker, cf)
    finally:
        stack.close()
