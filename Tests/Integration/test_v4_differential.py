"""OSS V4 (OSS4-HMAC-SHA256) POST policies: the oracle itself, a differential run of `upsign sign`
on generated inputs, configuration rules and one pass through nginx.

Every expectation is written from the contract (/tmp/upsign-spec.md, "Addendum (issue 3)") and
the vendor facts (shared/reference/direct-upload.md); signatures come from both official SDKs
(oracle.v4_signature), never from upsign's sources.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import re
import urllib.parse

import pytest

import helpers
import oracle
from harness.contract import ok_json
from harness.differential import (ACTIVE_SAMPLES, ANY_TYPES, V4_NAMES, V4_USER_LENGTHS, Case, make_case,
                                  parse_now, random_filename, random_now, random_user, random_uuid,
                                  run_cases, sign_args)
from harness.measure import timed
from harness.oss_v4 import HEX64, check_v4
from harness.processes import check_config, output_lines
from harness.rules import allowed_types, settle_expectation
from harness.stack import start_stack
from helpers import AKID, ALT_AKID, ALT_SECRET, ALT_TOKEN, SECRET, TOKEN

UTC = dt.timezone.utc

# ------------------------------------------------------------------------------------------
# The oracle


# Published vectors of alibabacloud-oss-python-sdk-v2 (tests/unit/signer/test_v4.py): full V4
# request signatures with ak="ak", sk="sk", region cn-hangzhou, product oss. The SDK builds the
# canonical request and string to sign; our oracle must reproduce the published signature from
# that string to sign (this exercises exactly the signing-key chain and the final hex HMAC).
SDK_VECTORS = [
    # (signing unix time, expiration unix time for query auth or None, token, want signature)
    (1702743657, None, None, "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"),
    (1702784856, None, "token", "b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea"),
    (1702781677, 1702782276, None, "a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe"),
]


@pytest.mark.parametrize("ts,exp,token,want", SDK_VECTORS, ids=["header", "header-sts", "query"])
def test_v4_oracle_reproduces_published_sdk_vectors(ts, exp, token, want):
    from alibabacloud_oss_v2.credentials import StaticCredentialsProvider
    from alibabacloud_oss_v2.signer import SignerV4
    from alibabacloud_oss_v2.types import HttpRequest, SigningContext

    cred = (StaticCredentialsProvider("ak", "sk", token) if token
            else StaticCredentialsProvider("ak", "sk")).get_credentials()
    req = HttpRequest("PUT", "http://bucket.oss-cn-hangzhou.aliyuncs.com")
    req.headers.update({"x-oss-head1": "value", "abc": "value", "ZAbc": "value", "XYZ": "value",
                        "content-type": "text/plain" if exp is None else "application/octet-stream"})
    if exp is None:
        req.headers["x-oss-content-sha256"] = "UNSIGNED-PAYLOAD"
    ctx = SigningContext(bucket="bucket", key="1234+-/123/1.txt", request=req, credentials=cred,
                         product="oss", region="cn-hangzhou",
                         signing_time=dt.datetime.fromtimestamp(ts, UTC))
    if exp is not None:
        ctx.expiration_time = dt.datetime.fromtimestamp(exp, UTC)
        ctx.auth_method_query = True
    params = {"param1": "value1", "+param1": "value3", "|param1": "value4", "+param2": "",
              "|param2": "", "param2": ""}
    req.url += "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    SignerV4().sign(ctx)
    if exp is None:
        assert req.headers["Authorization"].endswith(f"Signature={want}"), req.headers["Authorization"]
    else:
        assert req.url.endswith(f"x-oss-signature={want}"), req.url
    x_oss_date = ctx.string_to_sign.split("\n")[1]
    assert oracle.v4_signature("sk", x_oss_date[:8], "cn-hangzhou", ctx.string_to_sign) == want


def _addendum_signature(secret: str, date: str, region: str, msg: str) -> str:
    """The addendum's formula, written out (a third implementation, for the cross-check)."""
    k = ("aliyun_v4" + secret).encode()
    for part in (date, region, "oss", "aliyun_v4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return hmac.new(k, msg.encode(), hashlib.sha256).hexdigest()


def test_v4_oracles_agree_with_each_other_and_the_addendum():
    rng = random.Random(0x0554)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=-_"
    for _ in range(200):
        secret = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 64)))
        date = (dt.date(2000, 1, 1) + dt.timedelta(days=rng.randint(0, 36500))).strftime("%Y%m%d")
        region = rng.choice(REGIONS)
        b64 = base64.b64encode(json.dumps({"n": rng.random()}).encode()).decode()
        sig = oracle.v4_signature(secret, date, region, b64)   # asserts the two SDKs agree
        assert HEX64.match(sig), sig
        assert sig == _addendum_signature(secret, date, region, b64)
        # oss2's signing key, used directly
        key = oracle.v4_signing_key_oss2(secret, date + "T000000Z", region)
        assert hmac.new(key, b64.encode(), hashlib.sha256).hexdigest() == sig


def test_v4_oracle_depends_on_every_input():
    b64 = base64.b64encode(b'{"expiration":"2026-01-02T03:09:05.000Z","conditions":[]}').decode()
    base = oracle.v4_signature("s", "20260102", "cn-hangzhou", b64)
    assert base != oracle.v4_signature("t", "20260102", "cn-hangzhou", b64)
    assert base != oracle.v4_signature("s", "20260103", "cn-hangzhou", b64)
    assert base != oracle.v4_signature("s", "20260102", "oss-cn-hangzhou", b64)
    assert base != oracle.v4_signature("s", "20260102", "cn-hangzhou", b64[:-4])


# ------------------------------------------------------------------------------------------
# Differential run of `upsign sign`

REGIONS = ["cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen", "ap-southeast-1",
           "us-west-1", "eu-central-1", "cn-hongkong", "ap-northeast-1", "me-east-1"]


def v4_profiles() -> dict:
    p = helpers.profile
    return {
        # explicit v4, plain region, restricted types (native needs contentType)
        "v4a": p(signature="v4", format="native", region="cn-hangzhou"),
        # `oss-` prefixed region in the config; date placeholders in the key
        "v4oss": p(signature="v4", format="native", region="oss-cn-shanghai", bucket="photo-bucket",
                   endpoint="https://photo-bucket.oss-cn-shanghai.aliyuncs.com",
                   key="photos/{user}/{yyyy}/{mm}/{dd}/{uuid}{ext}", min_size=1,
                   max_size=10485760, expires_in=600),
        # signature absent: native profiles default to v4
        "v4def": p(signature=None, format="native", region="ap-southeast-1", bucket="doc-bucket",
                   endpoint="https://doc-bucket.oss-ap-southeast-1.aliyuncs.com",
                   key="docs/{profile}/{hh}/{user}-{uuid}{ext}", extensions=None,
                   content_types=None, min_size=10, max_size=5000000, expires_in=3600),
        # a full day: the expiration is always on the next UTC day, the key date must not follow
        "v4day": p(signature="v4", format="native", region="oss-us-west-1", bucket="day-bucket",
                   endpoint="https://day-bucket.oss-us-west-1.aliyuncs.com",
                   key="t/{timestamp}/{uuid}{ext}", require_user=False, extensions=None,
                   content_types=None, expires_in=86400),
        # the 7-day maximum (direct-upload.md: valid at most 7 days); a pinned inline
        # Content-Disposition named after any file name
        "v4week": p(signature="v4", format="native", region="eu-central-1", bucket="week-bucket",
                    endpoint="https://week-bucket.oss-eu-central-1.aliyuncs.com",
                    key="public/{uuid}{ext}", require_user=False, extensions=None,
                    content_types=None, expires_in=7 * 86400, content_disposition="inline"),
        # extensions whose types the profile does not all allow (svg, txt, mp4: a request
        # without contentType is then missing_parameter), a family, a pinned attachment
        "v4mix": p(signature="v4", format="native", region="cn-shenzhen", bucket="mix-bucket",
                   endpoint="https://mix-bucket.oss-cn-shenzhen.aliyuncs.com",
                   key="m/{user}/{uuid}{ext}", extensions=["png", "jpg", "gif", "pdf", "svg", "txt", "mp4"],
                   content_types=["image/", "application/pdf"], content_disposition="attachment"),
        # V1 beside V4 in the same file
        "v1nat": p(signature="v1", format="native", region="cn-beijing", bucket="v1-bucket",
                   endpoint="https://v1-bucket.oss-cn-beijing.aliyuncs.com", expires_in=120),
        # one profile per region, every other one written with the `oss-` prefix
        **{f"rg{i}": p(signature="v4", format="native", region=("oss-" if i % 2 else "") + r,
                       bucket=f"rg{i}-bucket", endpoint=f"https://rg{i}-bucket.oss-{r}.aliyuncs.com",
                       key="r/{user}/{uuid}{ext}", extensions=None, content_types=None,
                       expires_in=900)
           for i, r in enumerate(REGIONS)},
    }


V4_SERVER = dict(helpers.STANDARD_SERVER, default_profile="v4a")

SPECIAL_NOWS = [
    "2026-01-02T23:59:59Z", "2026-01-02T23:59:59.5Z", "2026-01-02T23:59:59.999Z",
    "2026-01-03T00:00:00Z", "2026-01-03T00:00:00.000Z", "2026-01-03T00:00:00.001Z",
    "2026-12-31T23:59:59Z", "2026-12-31T23:59:59.999Z", "2027-01-01T00:00:00Z",
    "2028-02-29T23:59:59.999Z", "2028-02-29T00:00:00Z", "2028-02-28T23:59:59.9Z",
    "2024-02-29T12:00:00Z", "2000-02-29T23:59:59Z", "2027-02-28T23:59:59.999Z",
    "2099-12-31T23:59:59.999Z", "2030-06-30T23:59:59Z", "2026-03-01T00:00:00Z",
]


def _midnight(rng: random.Random) -> str:
    """The last or first second of a random UTC day, with or without a fraction."""
    day = dt.datetime(2000, 1, 1, tzinfo=UTC) + dt.timedelta(days=rng.randint(0, 36500))
    t = day - dt.timedelta(seconds=1) if rng.random() < 0.7 else day
    frac = rng.choice(["", ".0", ".5", ".999", ".001", ".42"])
    return t.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


def v4_now(rng: random.Random) -> str:
    return random_now(rng, SPECIAL_NOWS, special_until=0.35, midnight=_midnight, midnight_until=0.55)


def _draw_case(rng: random.Random, profiles: dict) -> Case | None:
    name = rng.choice(["v4a", "v4a", "v4oss", "v4oss", "v4def", "v4def", "v4day", "v4week", "v1nat",
                       "v4mix", "v4mix", "rg", "rg"])
    if name == "rg":
        name = f"rg{rng.randrange(len(REGIONS))}"
    prof = profiles[name]
    exts = prof.get("extensions") or []
    types = prof.get("content_types") or []
    lo, hi = prof.get("min_size", 0), prof.get("max_size", 1048576000)
    needs_user = prof.get("require_user", True) or "{user}" in prof["key"]
    user = random_user(rng, V4_USER_LENGTHS) if (needs_user or rng.random() < 0.5) else None
    filename = random_filename(rng, exts, V4_NAMES)
    if types:
        # without contentType the extension's type is pinned, if the profile allows it
        content_type = rng.choice(allowed_types(prof)) if rng.random() < 0.7 else None
    else:
        content_type = rng.choice(ANY_TYPES) if rng.random() < 0.6 else None
    size = rng.choice([None, None, lo, hi, rng.randint(lo, hi), rng.randint(lo, min(hi, 4096))])
    c = Case(name, rng.choice([None, None, "native"]), user, filename, content_type, size,
             v4_now(rng), random_uuid(rng))

    if rng.random() < 0.15:   # one fault per case
        faults = ["size_high", "ext", "active"] + (["format_java"] if name != "v1nat" else [])
        if needs_user:
            faults.append("identity_missing")
        if exts:
            faults += ["no_filename", "ext_required"]
        c.fault = rng.choice(faults)
        if c.fault == "format_java":
            c.fmt, c.expect = "java", "invalid_request"
        elif c.fault == "size_high":
            c.size, c.expect = hi + 1, "size_out_of_range"
        elif c.fault == "identity_missing":
            c.user, c.expect = None, "identity_required"
        # file name and type faults: harness.rules.rule_errors names the code
        elif c.fault == "ext":
            c.filename = "x.exe"
        elif c.fault == "no_filename":
            c.filename = None
        elif c.fault == "ext_required":
            c.filename = rng.choice(["noext", "x.", f"x.{exts[0]}.", f".{exts[-1]}"])
        elif c.fault == "active":
            c.content_type = rng.choice(ACTIVE_SAMPLES)

    eff_fmt = "java" if c.fmt == "java" else "native"
    if not settle_expectation(c, prof, eff_fmt):
        return None
    c.args = sign_args(c)
    return c


def check_answer(profiles: dict, akid: str, secret: str, token: str | None):
    """The check of a signed answer: V1 profiles by helpers.check_signed, V4 ones by check_v4,
    with the case's exact --now and uuid."""
    def check(c: Case, body: dict) -> None:
        prof = profiles[c.profile]
        now = parse_now(c.now)
        if prof.get("signature") == "v1":
            assert "." not in c.now, "V1 cases use whole seconds"
            helpers.check_signed(body, fmt="native", prof=prof, profile_name=c.profile, akid=akid,
                                 secret=secret, token=token, user=c.user, filename=c.filename,
                                 content_type=c.content_type, size=c.size, now=now, uuid=c.uuid)
            return
        check_v4(body, prof=prof, profile_name=c.profile, akid=akid, secret=secret, token=token,
                 user=c.user, filename=c.filename, content_type=c.content_type, size=c.size,
                 now=now, uuid=c.uuid)
    return check


@pytest.fixture(scope="module")
def v4_config(tmp_path_factory):
    profiles = v4_profiles()
    cfg = helpers.write_config(tmp_path_factory.mktemp("v4cfg"), server=V4_SERVER, profiles=profiles)
    return cfg, profiles


def gen_cases(seed: int, n: int, profiles: dict) -> list[Case]:
    rng = random.Random(seed)
    cases = [make_case(rng, _draw_case, profiles) for _ in range(n)]
    for c in cases:   # V1 expirations are whole seconds by the V1 contract: keep V1 nows whole
        if profiles[c.profile].get("signature") == "v1" and "." in c.now:
            c.now = c.now.split(".")[0] + "Z"
            c.args[c.args.index("--now") + 1] = c.now
    return cases


RUNS = {
    # name: (seed, number of cases, env factory, akid, secret, token)
    "env": (0x0A4A1, 300, lambda: helpers.cred_env(), AKID, SECRET, None),
    "sts": (0x0A4A2, 100, lambda: helpers.cred_env(token=True), AKID, SECRET, TOKEN),
    "alibaba-cloud-vars": (0x0A4A3, 40, lambda: helpers.clean_env(
        ALIBABA_CLOUD_ACCESS_KEY_ID=ALT_AKID, ALIBABA_CLOUD_ACCESS_KEY_SECRET=ALT_SECRET,
        ALIBABA_CLOUD_SECURITY_TOKEN=ALT_TOKEN), ALT_AKID, ALT_SECRET, ALT_TOKEN),
}

DIFF_STATS: dict[str, dict] = {}


@pytest.mark.parametrize("run", list(RUNS))
def test_v4_differential_sign(v4_config, run):
    config, profiles = v4_config
    seed, n, env, akid, secret, token = RUNS[run]
    cases = gen_cases(seed, n, profiles)
    ok_v4 = [c for c in cases if c.expect == "ok" and profiles[c.profile].get("signature") != "v1"]
    assert len(ok_v4) > n // 2
    assert any(c.now.endswith("23:59:59.999Z") for c in ok_v4) or n < 100
    failures = run_cases(cases, config, env(), check_answer(profiles, akid, secret, token))
    DIFF_STATS[run] = {"cases": n, "ok_v4": len(ok_v4), "failures": len(failures)}
    print(f"\nV4 differential [{run}]: {n} cases, {len(ok_v4)} signed V4 answers, "
          f"{len(failures)} mismatches")
    assert not failures, f"{len(failures)}/{len(cases)} cases differ from the addendum:\n" + \
        "\n".join(failures[:12])


@pytest.mark.parametrize("now,expires_in,x_date,cred_date,expiration", [
    # hand-written literals, not computed by the test's date code
    ("2026-01-02T23:59:59Z", 300, "20260102T235959Z", "20260102", "2026-01-03T00:04:59.000Z"),
    ("2026-12-31T23:59:59.999Z", 1, "20261231T235959Z", "20261231", None),
    ("2028-02-29T23:59:59Z", 86400, "20280229T235959Z", "20280229", "2028-03-01T23:59:59.000Z"),
    ("2027-02-28T23:59:00Z", 120, "20270228T235900Z", "20270228", "2027-03-01T00:01:00.000Z"),
    ("2027-01-01T00:00:00Z", 60, "20270101T000000Z", "20270101", "2027-01-01T00:01:00.000Z"),
])
def test_v4_date_literals(tmp_path, now, expires_in, x_date, cred_date, expiration):
    prof = helpers.profile(signature="v4", format="native", region="oss-cn-hangzhou",
                           expires_in=expires_in)
    cfg = helpers.write_config(tmp_path, server=dict(V4_SERVER, default_profile="p"),
                               profiles={"p": prof})
    proc = helpers.run_cli(["sign", "--config", str(cfg), "--profile", "p", "--user", "alice",
                            "--filename", "a.JPG", "--content-type", "image/jpeg", "--now", now,
                            "--uuid", "0f8c3c1e-6a57-4b2e-9d7a-3b1f2c4d5e6f"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    f = json.loads(proc.stdout)["fields"]
    assert f["key"] == "avatars/alice/0f8c3c1e-6a57-4b2e-9d7a-3b1f2c4d5e6f.jpg"
    assert f["x-oss-date"] == x_date
    assert f["x-oss-credential"] == f"{AKID}/{cred_date}/cn-hangzhou/oss/aliyun_v4_request"
    pol = oracle.decode_policy(f["policy"])
    if expiration is not None:
        assert pol["expiration"] == expiration
    else:   # 23:59:59.999 + 1 s: the next day either way; whole or exact milliseconds
        assert pol["expiration"] in ("2027-01-01T00:00:00.000Z", "2027-01-01T00:00:00.999Z")
    assert f["x-oss-signature"] == oracle.v4_signature(SECRET, cred_date, "cn-hangzhou", f["policy"])


# ------------------------------------------------------------------------------------------
# Configuration rules and the java format


CONFIG_ERRORS = {
    # java bean has no V4 fields: java requires v1
    "java-with-v4": ({"format": "java", "signature": "v4"}, "signature"),
    # v4 needs a region
    "v4-without-region": ({"format": "native", "signature": "v4", "region": None}, "region"),
    # native defaults to v4, which needs a region
    "default-v4-without-region": ({"format": "native", "signature": None, "region": None}, "region"),
    "unknown-signature": ({"format": "native", "signature": "v2"}, "signature"),
}


@pytest.mark.parametrize("name", list(CONFIG_ERRORS))
def test_v4_config_errors_name_the_field(tmp_path, name):
    over, fieldname = CONFIG_ERRORS[name]
    cfg = helpers.write_config(tmp_path, server=dict(V4_SERVER, default_profile="pv"),
                               profiles={"pv": helpers.profile(**over)})
    proc = check_config(cfg)
    assert proc.returncode == 1, f"exit {proc.returncode}: {proc.stdout}{proc.stderr}"
    assert not proc.stdout.startswith("ok"), proc.stdout
    pattern = rf"^profiles\.pv\.{fieldname}: \S"
    assert any(re.match(pattern, l) for l in output_lines(proc)), f"no line matching {pattern!r} in {output_lines(proc)}"
    # and `sign` refuses to sign with that file
    proc = helpers.run_cli(["sign", "--config", str(cfg), "--profile", "pv", "--user", "alice",
                            "--content-type", "image/png"])
    assert proc.returncode != 0, f"sign signed with a broken config: {proc.stdout!r}"
    assert '"policy"' not in proc.stdout, proc.stdout


def test_config_defaults_and_mixed_signatures(tmp_path):
    """java without `signature` = v1 (java bean); native without it = v4; both in one file."""
    profiles = {
        "j": helpers.profile(signature=None, format="java"),
        "jv1": helpers.profile(signature="v1", format="java"),
        "n": helpers.profile(signature=None, format="native", region="oss-cn-shenzhen"),
    }
    cfg = helpers.write_config(tmp_path, server=dict(V4_SERVER, default_profile="j"), profiles=profiles)
    proc = check_config(cfg)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    now = "2026-05-06T07:08:09Z"
    for name in ("j", "jv1"):
        proc = helpers.run_cli(["sign", "--config", str(cfg), "--profile", name, "--user", "bob",
                                "--filename", "a.png", "--now", now])
        assert proc.returncode == 0, proc.stdout + proc.stderr
        helpers.check_signed(json.loads(proc.stdout), fmt="java", prof=profiles[name],
                             profile_name=name, user="bob", filename="a.png", now=parse_now(now))
    proc = helpers.run_cli(["sign", "--config", str(cfg), "--profile", "n", "--user", "bob",
                            "--filename", "a.png", "--content-type", "image/png", "--now", now])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check_v4(json.loads(proc.stdout), prof=profiles["n"], profile_name="n", user="bob",
             filename="a.png", content_type="image/png", now=parse_now(now))
    # a java (V1) profile may still be asked for native: V1 native, unchanged
    # (a profile with extensions needs a file name that has one)
    proc = helpers.run_cli(["sign", "--config", str(cfg), "--profile", "j", "--user", "bob",
                            "--format", "native", "--filename", "b.webp", "--content-type",
                            "image/png", "--now", now])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    helpers.check_signed(json.loads(proc.stdout), fmt="native", prof=profiles["j"], profile_name="j",
                         user="bob", filename="b.webp", content_type="image/png",
                         now=parse_now(now))
    # without contentType, the extension's type is pinned (the profile allows image/jpeg)
    proc = helpers.run_cli(["sign", "--config", str(cfg), "--profile", "j", "--user", "bob",
                            "--format", "native", "--filename", "Photo.JPG", "--now", now])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    helpers.check_signed(json.loads(proc.stdout), fmt="native", prof=profiles["j"], profile_name="j",
                         user="bob", filename="Photo.JPG", now=parse_now(now))


def test_format_java_on_a_v4_profile_is_invalid_request(v4_config):
    config, _ = v4_config
    for prof in ("v4a", "v4def"):
        proc = helpers.run_cli(["sign", "--config", str(config), "--profile", prof, "--user", "a",
                                "--filename", "a.png", "--content-type", "image/png",
                                "--format", "java", "--now", "2026-01-02T03:04:05Z"])
        assert proc.returncode == 1, f"exit {proc.returncode}: {proc.stdout!r}"
        helpers.assert_error_body(400, None, proc.stdout, "invalid_request")


# ------------------------------------------------------------------------------------------
# Through nginx


@pytest.fixture(scope="module")
def v4_stack(nginx_bin, v4_config):
    config, profiles = v4_config
    s = start_stack(config, env=helpers.cred_env(token=True))
    yield s, profiles
    s.close()


def test_v4_native_policy_through_nginx(v4_stack):
    stack, profiles = v4_stack
    # GET with the query string (default profile v4a)
    r, win = timed(stack.request, "GET", "/upload/policy?filename=Cat.PNG&contentType=image%2Fpng&size=2048",
                    user="alice")
    check_v4(ok_json(r), prof=profiles["v4a"], profile_name="v4a", token=TOKEN, user="alice",
             filename="Cat.PNG", content_type="image/png", size=2048, now_window=win)
    # POST JSON, `oss-` prefixed region, date placeholders
    body = json.dumps({"profile": "v4oss", "filename": "p.webp", "contentType": "image/webp",
                       "format": "native"})
    r, win = timed(stack.request, "POST", "/upload/policy", user="bob",
                    headers={"Content-Type": "application/json"}, data=body)
    check_v4(ok_json(r), prof=profiles["v4oss"], profile_name="v4oss", token=TOKEN, user="bob",
             filename="p.webp", content_type="image/webp", now_window=win)
    # POST form, no identity needed, expiration next day
    r, win = timed(stack.request, "POST", "/upload/policy",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    data="profile=v4day&filename=report.pdf")
    check_v4(ok_json(r), prof=profiles["v4day"], profile_name="v4day", token=TOKEN, user=None,
             filename="report.pdf", now_window=win)
    # a java request on a v4 profile
    r = stack.request("GET", "/upload/policy?profile=v4a&format=java&filename=a.png"
                      "&contentType=image%2Fpng", user="alice")
    helpers.assert_http_error(r, "invalid_request")
