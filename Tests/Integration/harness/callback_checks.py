"""What the callback tests expect (test_callback, test_callback_forward): the issued callback
field and its binding token, a JSON error, the form a client posts (Issued); and OSS's side:
sending a signed callback, the body OSS renders, the answer and the record line upsign writes."""

from __future__ import annotations

import base64
import json
import re
import uuid as uuidlib

import oss_callback_sim as sim
from harness.callbacks import CALLBACKS, CB_BODY, PROFILES, RECORD_KEYS, RESPONSE, XVARS, CbStack
from harness.contract import parse_iso
from harness.hostile import send
from harness.http import as_bytes, raw_request
from harness.verdicts import check_body_bytes, oss_rejections

TOKEN_RE = re.compile(r"1\.\d+\.(?:e|p\d+)\.(?:[0-9a-f]{2})*\.[0-9a-f]{64}")


def bound_body(body: str, body_type: str, token: str) -> str:
    """The contract's callbackBody for one upload: the profile's body with the binding members
    (the token as text, the bucket and object for OSS to fill) added last."""
    if body_type == "application/json":
        head, close = body.rsplit("}", 1)
        sep = "" if head.strip() in ("{", "") else ","
        return (f'{head}{sep}"upsign_bind":"{token}","upsign_bucket":${{bucket}},'
                f'"upsign_object":${{object}}}}{close}')
    return f"{body}&upsign_bind={token}&upsign_bucket=${{bucket}}&upsign_object=${{object}}"


def expected_callback_json(name: str, token: str | None = None) -> str:
    cb = CALLBACKS[name]
    urls = cb["url"] if isinstance(cb["url"], list) else [cb["url"]]
    d = {"callbackUrl": ";".join(urls)}
    if "host" in cb:
        d["callbackHost"] = cb["host"]
    body_type = cb.get("body_type", "application/json")
    d["callbackBody"] = cb["body"] if token is None else bound_body(cb["body"], body_type, token)
    d["callbackBodyType"] = cb.get("body_type", "application/json")
    if "sni" in cb:
        d["callbackSNI"] = cb["sni"]
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False)


def check_callback_value(value: str, name: str) -> None:
    raw = base64.b64decode(value, validate=True)
    tokens = TOKEN_RE.findall(json.loads(raw)["callbackBody"])
    assert len(tokens) == 1, f"{name}: {len(tokens)} binding tokens in {raw!r}"
    want = expected_callback_json(name, tokens[0])
    assert base64.b64encode(raw).decode() == value, f"callback base64 not canonical: {value!r}"
    got = raw.decode("utf-8")
    assert json.loads(got) == json.loads(want), f"{name}: callback JSON {got} != {want}"
    assert list(json.loads(got)) == list(json.loads(want)), f"{name}: member order {got} != {want}"
    # compact: no whitespace outside string literals (string escapes such as \u0026 for `&` are
    # a JSON writer's choice; OSS decodes the JSON)
    outside_strings = re.sub(r'"(?:[^"\\]|\\.)*"', '""', got)
    assert not re.search(r"\s", outside_strings), f"{name}: callback JSON not compact: {got}"
    if got != want:
        NOTES.append(f"callback JSON of {name} differs from the plain compact text only in escapes: {got}")


def check_error(r, code: str | None, status: int) -> str:
    """A JSON error with `status`; `code` None = any code (reported). Returns the code."""
    assert r.status_code == status, f"status {r.status_code} != {status} ({code}): {r.text[:400]!r}"
    ct = r.headers.get("content-type", "")
    assert ct.split(";")[0].strip().lower() == "application/json", f"Content-Type {ct!r}: {r.text[:200]!r}"
    doc = json.loads(r.content)
    assert set(doc) == {"error"} and set(doc["error"]) == {"code", "message"}, r.text[:400]
    got = doc["error"]["code"]
    if code is not None:
        assert got == code, f"code {got!r} != {code!r}: {r.text[:400]}"
    OBSERVED_CODES.setdefault(f"{status}", set()).add(got)
    return got


OBSERVED_CODES: dict[str, set] = {}
NOTES: list[str] = []


def issue(st: CbStack, params: list, user: str | None = "alice", transport: str = "query"):
    return send(st.stack, transport, params, user=user)


class Issued:
    """A 200 answer reduced to the form a client posts (what OSS receives)."""

    def __init__(self, r, name: str, fmt: str):
        assert r.status_code == 200, f"{name}/{fmt}: {r.status_code} {r.text[:500]}"
        check_body_bytes(r, f"{name}/{fmt}")
        self.body = body = json.loads(r.content)
        self.name, self.prof = name, PROFILES[name]
        if fmt == "native":
            assert set(body) == {"provider", "method", "url", "key", "expiresAt", "fields"}, sorted(body)
            self.fields = body["fields"]
            self.key = body["key"]
            assert self.fields["key"] == self.key
        elif fmt == "uppy":
            assert set(body) == {"method", "url", "fields", "headers"}, sorted(body)
            self.fields = body["fields"]
            self.key = self.fields["key"]
        elif fmt == "aliyun-appserver":
            want = {"host", "policy", "x_oss_signature_version", "x_oss_credential", "x_oss_date",
                    "signature", "security_token", "dir", "expire", "callback"}
            assert set(body) == want, f"appserver V4+STS+callback keys {sorted(body)} != {sorted(want)}"
            self.key = body["dir"] + "photo.jpg"
            self.fields = {"key": self.key, "policy": body["policy"],
                           "x-oss-signature-version": body["x_oss_signature_version"],
                           "x-oss-credential": body["x_oss_credential"], "x-oss-date": body["x_oss_date"],
                           "x-oss-signature": body["signature"], "success_action_status": "200",
                           "callback": body["callback"], "x-oss-security-token": body["security_token"]}
        else:
            raise ValueError(fmt)
        self.policy = json.loads(base64.b64decode(self.fields["policy"]))
        self.conds = self.policy["conditions"]
        self.lo = [c for c in self.conds if isinstance(c, list) and c[0] == "content-length-range"][0][1]


def check_issued(iss: Issued, *, user: str, xvals: dict, fmt: str) -> None:
    """The callback field, the x: fields, their pins and order; the whole form passes OSS's
    checks (signature by the SDK oracles, every condition, token)."""
    name, f = iss.name, iss.fields
    assert "callback" in f, f"{name}/{fmt}: no callback field: {sorted(f)}"
    check_callback_value(f["callback"], name)
    assert {"callback": f["callback"]} in iss.conds, f"{name}: callback not pinned as {{\"callback\":V}}: {iss.conds}"
    want_x = {"x:" + n: (user if n == "user" else xvals[n]) for n in XVARS[name]}
    got_x = {k: v for k, v in f.items() if k.lower().startswith("x:")}
    assert got_x == want_x, f"{name}/{fmt}: x: fields {got_x} != {want_x}"
    for k, v in want_x.items():
        assert ["eq", "$" + k, v] in iss.conds, f"{name}: {k} not pinned with eq: {iss.conds}"
    if fmt in ("native", "uppy"):
        order = list(f)
        tail = ["callback"] + list(want_x) + ["x-oss-security-token"]
        assert order[-len(tail):] == tail, f"{name}/{fmt}: field order {order}; want it to end with {tail}"
    why = oss_rejections(f, iss.prof["bucket"], max(iss.lo, 1))
    assert not why, f"{name}/{fmt}: the answer's own form fails OSS's checks: {why}"


# --------------------------------------------------------------------------------------------
# OSS's side: send a signed callback


class CallbackResult:
    def __init__(self, r, new_records: list[bytes]):
        self.r, self.new_records = r, new_records


def records_size(st: CbStack) -> int:
    return st.records.stat().st_size


def new_records(st: CbStack, before: int) -> list[bytes]:
    data = st.records.read_bytes()[before:]
    if not data:
        return []
    return data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")


def send_callback(st: CbStack, target: str | bytes, body: bytes, *, key, key_url: str | None,
                  ctype: str = "application/json", authorization: str | None = "sign",
                  sign_target: str | bytes | None = None, sign_body: bytes | None = None,
                  extra_headers: list = ()) -> CallbackResult:
    if authorization == "sign":
        authorization = sim.sign(key, sign_target if sign_target is not None else target,
                                 sign_body if sign_body is not None else body)
    h = sim.callback_headers(key, key_url, target, body, ctype, authorization=authorization)
    before = records_size(st)
    r = raw_request(st.port, "POST", as_bytes(target), h + list(extra_headers), body)
    return CallbackResult(r, new_records(st, before))


def oss_values(**over) -> dict:
    v = {"bucket": "cb-bucket", "object": f"uploads/alice/{uuidlib.uuid4()}.jpg",
         "etag": uuidlib.uuid4().hex.upper(), "size": 123456, "mimeType": "image/jpeg",
         "x:user": "alice", "x:album": "summer-2026"}
    v.update(over)
    return v


def json_body(values: dict) -> bytes:
    return sim.render_callback_body(CB_BODY, "application/json", values)


def expected_response(values: dict) -> dict:
    def sub(m):
        return json.dumps(str(values.get(m.group(1), "")), ensure_ascii=False)[1:-1]
    return json.loads(sim.VAR_RE.sub(sub, RESPONSE))


def check_ok(res: CallbackResult, values: dict, *, user: str | None, window: tuple[float, float],
             check_user: bool = True) -> dict:
    r = res.r
    assert r.status_code == 200, f"status {r.status_code}: {r.text[:500]!r}"
    ct = r.headers.get("content-type", "")
    assert ct.split(";")[0].strip().lower() == "application/json", f"Content-Type {ct!r}"
    assert r.headers.get("content-length") == str(len(r.content)), \
        f"Content-Length {r.headers.get('content-length')!r} for {len(r.content)} bytes"
    assert len(r.content) <= 1024 * 1024
    assert json.loads(r.content) == expected_response(values), f"response {r.text!r}"
    assert len(res.new_records) == 1, f"{len(res.new_records)} record lines for one callback: {res.new_records}"
    return check_record(res.new_records[0], values, user=user, window=window, check_user=check_user)


def check_record(line: bytes, values: dict, *, user: str | None, window: tuple[float, float] | None,
                 check_user: bool = True) -> dict:
    rec = json.loads(line)
    assert isinstance(rec, dict), line
    if check_user:
        assert set(rec) == RECORD_KEYS, f"record members {sorted(rec)} != {sorted(RECORD_KEYS)}: {line!r}"
        assert rec["user"] == user, f"record user {rec['user']!r} != {user!r}"
    else:
        assert RECORD_KEYS - {"user"} <= set(rec) <= RECORD_KEYS, f"record members {sorted(rec)}: {line!r}"
    assert rec["bucket"] == values["bucket"], rec
    assert rec["key"] == values["object"], rec
    assert rec["mimeType"] == values["mimeType"], rec
    assert rec["etag"] == values["etag"], rec
    size = rec["size"]
    assert (type(size) is int and size == int(values["size"])) or \
        (isinstance(size, str) and size == str(values["size"])), f"record size {size!r} != {values['size']!r}"
    t = parse_iso(rec["time"])
    if window is not None:
        assert window[0] - 2 <= t.timestamp() <= window[1] + 2, f"record time {rec['time']} outside {window}"
    return rec


def main_url(ks) -> str:
    return ks.url("/ossk/main.pem")


def oss_body(iss: Issued, size: int = 4096, mime: str = "image/jpeg", **override) -> tuple[bytes, str, dict]:
    """The callback body OSS sends for the issued form's upload: the issued callbackBody with
    the values OSS fills (`override` replacing some), its body type, and those values."""
    cb = json.loads(base64.b64decode(iss.fields["callback"]))
    values = {"bucket": iss.prof["bucket"], "object": iss.key, "etag": uuidlib.uuid4().hex.upper(),
              "size": size, "mimeType": mime}
    values.update({k.lower(): v for k, v in iss.fields.items() if k.lower().startswith("x:")})
    values.update(override)
    body_type = cb.get("callbackBodyType", "application/x-www-form-urlencoded")
    return sim.render_callback_body(cb["callbackBody"], body_type, values), body_type, values


def issued(st, name="cb", fmt="native", user="dave", params=()):
    r = issue(st, [("profile", name), ("filename", "pic.jpg"), ("x:album", "trip")] + list(params), user=user)
    return Issued(r, name, fmt)
