"""The verdicts on a hostile request's answer (test_security; the callback tests reuse the body
check and OSS's model): a documented 4xx JSON error, nginx's own refusal, or a 200 whose key stays
in the profile's prefix, whose policy pins it, whose signature verifies and whose fields carry no
control characters. `oss_rejections` is the suite's model of OSS accepting a PostObject form."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import unicodedata
import urllib.parse

import oracle
from harness.contract import ERROR_STATUS, UUID4_RE, evaluate_policy, is_active_type, type_allowed
from harness.credentials import AKID, SECRET, TOKEN
from harness.hostile import PROFILES, fixed_prefix
from harness.http import RawResponse

UTC = dt.timezone.utc
DOC_STATUS = dict(ERROR_STATUS, meta_not_allowed=400, credentials_expired=503)


NGINX_REFUSALS: list[str] = []          # what nginx refused itself (never reached upsign)
NEUTRALISED: list[str] = []             # hostile values answered 200 (and found clean)
CASES = {"n": 0}

BIDI_AND_FORMAT = {"Cc", "Cf", "Cs", "Co"}


def bad_chars(s: str) -> list[str]:
    return [f"U+{ord(c):04X}" for c in s if unicodedata.category(c) in BIDI_AND_FORMAT]


def check_body_bytes(r: RawResponse, label: str) -> None:
    raw = r.content
    try:
        raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise AssertionError(f"{label}: body is not UTF-8 ({exc}): {raw[:300]!r}")
    ctl = sorted({b for b in raw if b < 0x20 or b == 0x7f})
    assert not ctl, f"{label}: raw control bytes {ctl} in the body: {raw[:300]!r}"
    ct = r.headers.get("content-type", "")
    assert ct.split(";")[0].strip().lower() == "application/json", f"{label}: Content-Type {ct!r}"


def check_error(r: RawResponse, label: str, allowed: set[str]) -> dict:
    check_body_bytes(r, label)
    assert 400 <= r.status_code < 500, f"{label}: status {r.status_code}: {r.text[:300]!r}"
    doc = json.loads(r.content)
    assert set(doc) == {"error"} and set(doc["error"]) == {"code", "message"}, f"{label}: {r.text[:300]}"
    code = doc["error"]["code"]
    assert code in DOC_STATUS, f"{label}: undocumented error code {code!r}"
    assert DOC_STATUS[code] == r.status_code, f"{label}: {r.status_code} with code {code!r}"
    assert code in allowed, f"{label}: code {code!r} not among {sorted(allowed)}: {r.text[:300]}"
    return doc["error"]


def cond_norm(c):
    if isinstance(c, dict):
        (k, v), = c.items()
        return ("eq", k.lower(), v)
    if c[0] == "content-length-range":
        return ("content-length-range", "", (c[1], c[2]))
    return (c[0].lower(), c[1][1:].lower(), c[2])


class Signed:
    """One signed answer reduced to what a client would send and what OSS would check."""

    def __init__(self, body: dict, profile_name: str):
        prof = PROFILES[profile_name]
        self.profile_name, self.prof, self.body = profile_name, prof, body
        self.dir = None
        if "fields" in body and "provider" in body:          # native
            assert set(body) == {"provider", "method", "url", "key", "expiresAt", "fields"}, sorted(body)
            self.form = dict(body["fields"])
            self.key = body["key"]
            assert self.form["key"] == self.key, "native key != fields.key"
            assert body["url"] == prof["endpoint"]
        elif "fields" in body:                               # uppy
            assert set(body) == {"method", "url", "fields", "headers"}, sorted(body)
            self.form = dict(body["fields"])
            self.key = self.form["key"]
            assert body["url"] == prof["endpoint"]
        elif "ossAccessKeyId" in body:                       # java
            assert set(body) <= {"url", "policy", "signature", "ossAccessKeyId", "key",
                                 "securityToken"}, sorted(body)
            self.key = body["key"]
            self.form = {"key": body["key"], "policy": body["policy"],
                         "OSSAccessKeyId": body["ossAccessKeyId"], "signature": body["signature"]}
            if "securityToken" in body:
                self.form["x-oss-security-token"] = body["securityToken"]
            assert body["url"] == prof["endpoint"]
        elif "dir" in body:                                  # aliyun-appserver
            self.dir = body["dir"]
            self.key = None
            self.form = {"key": self.dir + "photo.jpg", "policy": body["policy"],
                         "success_action_status": "200"}
            if "x_oss_signature_version" in body:
                self.form.update({"x-oss-signature-version": body["x_oss_signature_version"],
                                  "x-oss-credential": body["x_oss_credential"],
                                  "x-oss-date": body["x_oss_date"],
                                  "x-oss-signature": body["signature"]})
            else:
                self.form.update({"OSSAccessKeyId": body["accessid"], "Signature": body["signature"]})
            if "security_token" in body:
                self.form["x-oss-security-token"] = body["security_token"]
            assert body["host"] == prof["endpoint"]
        else:
            raise AssertionError(f"unknown answer shape {sorted(body)}")
        self.policy_b64 = self.form["policy"]
        self.policy = oracle.decode_policy(self.policy_b64)
        self.conds = self.policy["conditions"]


def oss_rejections(form: dict, bucket: str, size: int, *, secret: str = SECRET, akid: str = AKID,
                   token: str | None = TOKEN, now: dt.datetime | None = None) -> list[str]:
    """Why OSS would refuse this PostObject form (empty = accepted), as the suite models OSS:
    signature recomputed by the SDK oracles over the form's base64 policy, the STS token
    present, then every policy condition (evaluate_policy) and the expiration."""
    low = {k.lower(): v for k, v in form.items()}
    why = []
    policy_b64 = low.get("policy")
    if not policy_b64:
        return ["no policy"]
    if "x-oss-signature-version" in low:
        if low["x-oss-signature-version"] != "OSS4-HMAC-SHA256":
            why.append("bad x-oss-signature-version")
        cred = low.get("x-oss-credential", "").split("/")
        if len(cred) != 5 or cred[0] != akid or cred[3:] != ["oss", "aliyun_v4_request"]:
            why.append(f"bad credential {low.get('x-oss-credential')!r}")
        elif not low.get("x-oss-date", "").startswith(cred[1]):
            why.append("x-oss-date not on the credential's day")
        else:
            want = oracle.v4_signature(secret, cred[1], cred[2], policy_b64)
            if low.get("x-oss-signature") != want:
                why.append("SignatureDoesNotMatch (V4)")
    else:
        if low.get("ossaccesskeyid") != akid:
            why.append("InvalidAccessKeyId")
        if low.get("signature") != oracle.v1_signature(secret, policy_b64):
            why.append("SignatureDoesNotMatch (V1)")
    if token is not None and low.get("x-oss-security-token") != token:
        why.append("InvalidAccessKeyId (STS token missing or wrong)")
    try:
        policy = json.loads(base64.b64decode(policy_b64, validate=True))
        conds = policy["conditions"]
        exp = dt.datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except Exception as exc:   # noqa: BLE001 - a malformed policy is a rejection
        return why + [f"malformed policy: {exc}"]
    if exp <= (now or dt.datetime.now(UTC)):
        why.append("Policy expired")
    why += evaluate_policy(conds, form, bucket, size)
    return why


def check_signed_answer(r: RawResponse, label: str, profile_name: str, *, user: str | None) -> Signed:
    """A 200 to a hostile request: the key stays inside the profile, the policy pins it, the
    signature verifies, no field carries control characters, Content-Disposition is clean."""
    check_body_bytes(r, label)
    s = Signed(json.loads(r.content), profile_name)
    prof = s.prof
    prefix = fixed_prefix(profile_name)
    target = s.dir if s.dir is not None else s.key
    what = "dir" if s.dir is not None else "key"
    assert isinstance(target, str) and target.startswith(prefix), \
        f"{label}: {what} {target!r} outside the profile prefix {prefix!r}"
    segs = target.split("/")
    assert ".." not in segs, f"{label}: `..` segment in {what} {target!r}"
    assert not bad_chars(target), f"{label}: control/format chars {bad_chars(target)} in {what} {target!r}"
    assert "\\" not in target, f"{label}: backslash in {what} {target!r}"
    assert "$" not in target, f"{label}: `$` in {what} {target!r} (OSS expands ${{filename}} after the policy check)"
    # The template's shape: as many segments as the template, the fixed ones unchanged.
    tmpl = prof["key"].split("/")
    got = segs[:-1] if s.dir is not None else segs
    assert s.dir is None or segs[-1] == "", f"{label}: dir {s.dir!r} does not end with /"
    assert len(got) == len(tmpl), f"{label}: {what} {target!r} has {len(got)} segments, template {prof['key']!r}"
    for t, g in zip(tmpl, got):
        if "{" not in t:
            assert g == t, f"{label}: fixed segment {t!r} became {g!r} in {target!r}"
        if t == "{user}" and user is not None:
            assert g == user, f"{label}: user segment {g!r} != authenticated user {user!r}"
        if t == "{profile}":
            assert g == profile_name, f"{label}: profile segment {g!r} != {profile_name!r}"
        if t == "{yyyy}":
            assert re.fullmatch(r"\d{4}", g), f"{label}: year segment {g!r}"
    last = got[-1]
    if tmpl[-1] == "{uuid}{ext}":
        m = re.fullmatch(UUID4_RE + r"(\.[^./]*)?", last)
        assert m, f"{label}: last segment {last!r} is not uuid + ext"
        ext = m.group(1) or ""
        assert s.dir is None or ext == "", f"{label}: dir {s.dir!r} carries an extension"
        if ext and not re.fullmatch(r"\.[a-z0-9]+", ext):
            NEUTRALISED.append(f"{label}: non-ASCII {{ext}} {ext!r} in key {target!r}")
    # The policy pins exactly that key (or that folder).
    key_conds = [c for c in s.conds if cond_norm(c)[1] == "key"]
    if s.dir is not None:
        assert key_conds == [["starts-with", "$key", s.dir]], f"{label}: key conditions {key_conds}"
    else:
        assert key_conds == [["eq", "$key", s.key]], f"{label}: key conditions {key_conds} for {s.key!r}"
    assert [c for c in s.conds if cond_norm(c)[1] == "bucket"] == [{"bucket": prof["bucket"]}], s.conds
    assert any(cond_norm(c) == ("eq", "x-oss-security-token", TOKEN) for c in s.conds), \
        f"{label}: STS token not pinned: {s.conds}"
    # Every field the client sends: no control characters; CD clean; meta clean.
    for k, v in s.form.items():
        assert isinstance(v, str), f"{label}: field {k} is {type(v).__name__}"
        assert not [c for c in v if unicodedata.category(c) == "Cc"], f"{label}: control char in field {k}: {v!r}"
        if k.lower() == "content-disposition":
            check_content_disposition(v, label)
        if k.lower().startswith("x-oss-meta-"):
            assert re.fullmatch(r"[\x20-\x7e]*", v) and "$" not in v, f"{label}: meta {k}={v!r}"
        if k.lower() in ("content-type", "cache-control", "content-disposition") or k.lower().startswith("x-oss-meta-"):
            assert ["eq", "$" + k, v] in s.conds, f"{label}: {k} not pinned with eq: {s.conds}"
    if prof.get("content_disposition") and s.dir is None and "fields" in s.body:
        assert any(k.lower() == "content-disposition" for k in s.form), f"{label}: CD missing"
    check_hardening(s, label, last if tmpl[-1].endswith("{ext}") else None)
    lo = [c for c in s.conds if cond_norm(c)[0] == "content-length-range"][0][1]
    why = oss_rejections(s.form, prof["bucket"], max(lo, 1))
    assert not why, f"{label}: the answer's own form fails: {why}"
    return s


def check_hardening(s: Signed, label: str, last_segment: str | None) -> None:
    """Issue #16's rules on any 200: an extension on the profile's list when it has one (no name,
    no extension or a trailing dot never pass); a download name that ends in the key's vetted
    extension (or has no dot when there is none); and in native and uppy answers a Content-Type
    that is always there, pinned, and never a type a browser runs unless the profile lists it."""
    prof = s.prof
    ext = None
    if s.dir is None and last_segment is not None:
        m = re.fullmatch(UUID4_RE + r"(\.[^./]*)?", last_segment)
        ext = (m.group(1) or "") if m else None
        if prof.get("extensions"):
            assert ext and ext[1:] in prof["extensions"], \
                f"{label}: key {s.key!r} carries extension {ext!r}, not one of {prof['extensions']}"
    cd = next((v for k, v in s.form.items() if k.lower() == "content-disposition"), None)
    m = CD_RE.fullmatch(cd) if cd else None
    if m and m.group(2) is not None and ext is not None:
        name = urllib.parse.unquote(m.group(2))
        if ext:
            assert name.endswith(ext), f"{label}: download name {name!r} does not end in the key's {ext!r}"
        else:
            assert "." not in name, f"{label}: download name {name!r} has an extension the key has not"
    if "fields" in s.body:
        ct = next((v for k, v in s.form.items() if k.lower() == "content-type"), None)
        assert ct is not None, f"{label}: native/uppy answer without a Content-Type: {sorted(s.form)}"
        assert ["eq", "$Content-Type", ct] in s.conds, f"{label}: Content-Type {ct!r} not pinned: {s.conds}"
        assert type_allowed(ct, prof.get("content_types")), \
            f"{label}: Content-Type {ct!r} is not allowed by {prof.get('content_types')} (active: {is_active_type(ct)})"


CD_RE = re.compile(r"attachment(?:; filename=\"([^\"]*)\"; filename\*=UTF-8''([A-Za-z0-9%!#&+\-.^_`|~]*))?")


def check_content_disposition(v: str, label: str) -> None:
    assert "\r" not in v and "\n" not in v, f"{label}: CR/LF in Content-Disposition {v!r}"
    assert "$" not in v, f"{label}: `$` in Content-Disposition {v!r}"
    assert not bad_chars(v), f"{label}: control/bidi chars {bad_chars(v)} in Content-Disposition {v!r}"
    m = CD_RE.fullmatch(v)
    assert m, f"{label}: Content-Disposition {v!r} is not attachment[; filename=\"..\"; filename*=UTF-8''..]"
    if m.group(1) is None:
        return
    fallback, star = m.group(1), m.group(2)
    decoded = urllib.parse.unquote_to_bytes(star)
    try:
        name = decoded.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise AssertionError(f"{label}: filename* is not UTF-8: {star!r}")
    for which, n in (("fallback", fallback), ("filename*", name)):
        assert n, f"{label}: empty {which} in {v!r}"
        assert not set(n) & set('"\\$;/\r\n'), f"{label}: {which} {n!r} keeps a forbidden char"
        assert not bad_chars(n), f"{label}: {which} {n!r} keeps {bad_chars(n)}"
        assert n == n.strip(" ."), f"{label}: {which} {n!r} not trimmed of spaces/dots"
        assert len(n) <= 128, f"{label}: {which} has {len(n)} characters (max 128)"
        assert n not in (".", ".."), f"{label}: {which} {n!r}"
    assert re.fullmatch(r"[\x20-\x7e]+", fallback), f"{label}: non-ASCII fallback {fallback!r}"


def judge(r: RawResponse, label: str, profile_name: str, *, allowed: set[str], user: str | None = "alice",
          nginx_may_refuse: bool = False, must_refuse: bool = False) -> str:
    """The verdict for one hostile request. Returns "nginx", "error" or "ok"."""
    CASES["n"] += 1
    assert r.status_code < 500, f"{label}: 5xx {r.status_code}: {r.text[:300]!r}"
    if r.from_nginx():
        assert nginx_may_refuse and r.status_code in (400, 414, 494), \
            f"{label}: nginx answered {r.status_code} itself: {r.text[:200]!r}"
        NGINX_REFUSALS.append(f"{label}: nginx {r.status_code}")
        return "nginx"
    if r.status_code != 200:
        check_error(r, label, allowed)
        return "error"
    assert not must_refuse, f"{label}: the contract requires a refusal ({sorted(allowed)}), got 200: {r.text[:400]}"
    check_signed_answer(r, label, profile_name, user=user)
    NEUTRALISED.append(label)
    return "ok"
