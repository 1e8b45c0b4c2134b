"""The check of one OSS V4 (OSS4-HMAC-SHA256) native answer against the contract's addendum
(issue 3): the fields in order, one clock reading behind x-oss-date, the credential and the
expiration, the signature by both official SDKs (oracle.v4_signature), the conditions in order.
Used by test_v4_differential and test_apache."""

from __future__ import annotations

import datetime as dt
import re

import oracle
from harness.contract import check_key, evaluate_policy, parse_iso, pinned_content_type
from harness.credentials import AKID, SECRET
from harness.differential import fmt_ms
from harness.rules import content_disposition

V4_ALGO = "OSS4-HMAC-SHA256"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
UTC = dt.timezone.utc


def plain_region(region: str) -> str:
    return region[4:] if region.startswith("oss-") else region


def parse_policy_expiration(s: str) -> dt.datetime:
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z", s)
    assert m, f"expiration not UTC ISO-8601 with milliseconds: {s!r}"
    t = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    return t.replace(microsecond=int(m.group(2)) * 1000)


def v4_trailing(prof: dict, filename: str | None, content_type: str | None,
                token: str | None) -> list[tuple[str, str]]:
    """The fields after the signature, in the contract's order: status, the pinned Content-Type
    (the client's, else its extension's, else application/octet-stream), a pinned
    Content-Disposition when the profile sets one, the token."""
    out = [("success_action_status", "200"),
           ("Content-Type", pinned_content_type(content_type, filename))]
    cd = content_disposition(prof, filename)
    if cd is not None:
        out.append(("Content-Disposition", cd))
    if token is not None:
        out.append(("x-oss-security-token", token))
    return out


def v4_field_order(prof: dict, filename: str | None, content_type: str | None,
                   token: str | None) -> list[str]:
    return ["key", "policy", "x-oss-signature-version", "x-oss-credential", "x-oss-date",
            "x-oss-signature"] + [n for n, _v in v4_trailing(prof, filename, content_type, token)]


def check_v4(body: dict, *, prof: dict, profile_name: str, akid: str = AKID, secret: str = SECRET,
             token: str | None = None, user: str | None, filename: str | None = None,
             content_type: str | None = None, size: int | None = None,
             now: dt.datetime | None = None, now_window: tuple[float, float] | None = None,
             uuid: str | None = None) -> dict:
    """One successful V4 native answer against the addendum. `now` = the exact --now instant
    (may carry a fraction), or `now_window` = unix seconds around an HTTP request."""
    assert set(body) == {"provider", "method", "url", "key", "expiresAt", "fields"}, \
        f"native shape has keys {sorted(body)}"
    assert body["provider"] == "aliyun-oss" and body["method"] == "POST", body
    assert body["url"] == prof["endpoint"], body["url"]
    fields = body["fields"]
    want_order = v4_field_order(prof, filename, content_type, token)
    assert list(fields) == want_order, f"V4 fields (in order) {list(fields)} != {want_order}"
    assert all(isinstance(v, str) for v in fields.values()), f"non-string field: {fields}"
    key = body["key"]
    assert fields["key"] == key
    assert fields["x-oss-signature-version"] == V4_ALGO
    trailing = v4_trailing(prof, filename, content_type, token)
    for n, v in trailing:
        assert fields[n] == v, f"field {n}={fields[n]!r} != {v!r} (contentType {content_type!r}, " \
                               f"filename {filename!r})"

    # One clock reading: x-oss-date, credential date and expiration all come from it.
    x_date = fields["x-oss-date"]
    assert re.fullmatch(r"\d{8}T\d{6}Z", x_date), f"x-oss-date {x_date!r}"
    issued = dt.datetime.strptime(x_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if now is not None:
        want_date = now.strftime("%Y%m%dT%H%M%SZ")     # truncates a fraction, never rounds
        assert x_date == want_date, f"x-oss-date {x_date} != --now {fmt_ms(now)} as {want_date}"
    if now_window is not None:
        lo, hi = now_window
        assert int(lo) <= issued.timestamp() <= hi + 1, f"x-oss-date {x_date} outside {now_window}"
    region = plain_region(prof["region"])
    want_cred = f"{akid}/{x_date[:8]}/{region}/oss/aliyun_v4_request"
    assert fields["x-oss-credential"] == want_cred, \
        f"x-oss-credential {fields['x-oss-credential']!r} != {want_cred!r}"

    policy_b64 = fields["policy"]
    sig = fields["x-oss-signature"]
    assert HEX64.match(sig), f"x-oss-signature is not 64 lowercase hex digits: {sig!r}"
    want_sig = oracle.v4_signature(secret, x_date[:8], region, policy_b64)
    assert sig == want_sig, f"x-oss-signature {sig} != SDK oracles {want_sig}"

    policy = oracle.decode_policy(policy_b64)
    assert set(policy) == {"expiration", "conditions"}, f"policy members {sorted(policy)}"
    expires_in = prof.get("expires_in", 300)
    expiration = parse_policy_expiration(policy["expiration"])
    exp_floor = issued + dt.timedelta(seconds=expires_in)
    if now is not None and now.microsecond:
        # The contract shows whole seconds (".000Z"); now + expires_in with the milliseconds
        # kept is as valid. Either way, from the same instant as x-oss-date.
        exact = now + dt.timedelta(seconds=expires_in)
        allowed = {fmt_ms(exp_floor), fmt_ms(exact.replace(microsecond=exact.microsecond // 1000 * 1000))}
        assert policy["expiration"] in allowed, \
            f"expiration {policy['expiration']} not in {sorted(allowed)} (now {fmt_ms(now)} + {expires_in}s)"
    elif now is not None:
        assert policy["expiration"] == fmt_ms(exp_floor), \
            f"expiration {policy['expiration']} != --now {x_date} + {expires_in}s"
    else:   # a real clock: whole seconds, or the same reading's milliseconds
        assert exp_floor <= expiration < exp_floor + dt.timedelta(seconds=1), \
            f"expiration {policy['expiration']} is not x-oss-date {x_date} + {expires_in}s"
    assert expires_in <= 7 * 86400
    assert abs((parse_iso(body["expiresAt"]) - expiration).total_seconds()) < 0.001, \
        f"expiresAt {body['expiresAt']} != policy expiration {policy['expiration']}"

    check_key(key, prof["key"], user=user, uuid=uuid, filename=filename, issued=issued,
              profile_name=profile_name)

    lo_size, hi_size = (size, size) if size is not None else \
        (prof.get("min_size", 0), prof.get("max_size", 1048576000))
    want_conds = [{"bucket": prof["bucket"]}, {"x-oss-signature-version": V4_ALGO},
                  {"x-oss-credential": want_cred}, {"x-oss-date": x_date},
                  ["eq", "$key", key], ["content-length-range", lo_size, hi_size]]
    # status and token as objects, the others as ["eq", "$name", value]
    want_conds += [{n: v} if n in ("success_action_status", "x-oss-security-token")
                   else ["eq", "$" + n, v] for n, v in trailing]
    conds = policy["conditions"]
    assert conds == want_conds, f"policy conditions\n  {conds}\n!= addendum\n  {want_conds}"
    for c in conds:   # integers stay integers (json.loads would accept 1.0 == 1)
        if isinstance(c, list) and c[0] == "content-length-range":
            assert all(type(x) is int for x in c[1:]), c

    failures = evaluate_policy(conds, dict(fields), prof["bucket"], lo_size)
    assert not failures, f"the client's own form would fail the policy: {failures}"
    return policy
