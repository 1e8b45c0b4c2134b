"""The independent checks of a signed answer against the interface contract
(/tmp/upsign-spec.md): the answer's shape, the signature by the SDK oracles, the key from the
template, the policy's conditions and expiration, what OSS would accept (evaluate_policy), and
the error bodies and headers. Written from the contract, never from upsign's sources."""

from __future__ import annotations

import datetime as dt
import json
import re

import oracle
from harness.credentials import AKID, SECRET
from harness.processes import record_response

UUID4_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
EXPIRATION_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$")
ERROR_STATUS = {
    "invalid_request": 400, "extension_not_allowed": 400, "extension_required": 400,
    "content_type_not_allowed": 400,
    "size_out_of_range": 400, "missing_parameter": 400, "invalid_identity": 400,
    "identity_required": 401, "not_found": 404, "unknown_profile": 404,
    "method_not_allowed": 405, "body_too_large": 413, "unsupported_media_type": 415,
    "credentials_unavailable": 503,
}


# The contract for Content-Type (README, "Security notes"), written here from the README and
# the IANA registry, not from upsign's code. Types a browser runs (HTML, SVG, XML, script) come
# through no family entry and no empty list; any "+xml" type counts.
ACTIVE_TYPES = (   # in the order the contract writes them after "!" in Qiniu's mimeLimit
    "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
    "text/xsl", "application/xslt+xml", "text/javascript", "application/javascript",
    "application/x-javascript", "application/ecmascript", "text/ecmascript", "text/jscript",
    "application/x-shockwave-flash", "text/vnd.wap.wml", "text/x-component", "application/hta",
    "message/rfc822", "multipart/x-mixed-replace", "application/vnd.wap.xhtml+xml",
    "application/rss+xml", "application/atom+xml", "application/mathml+xml",
)
# Native and uppy answers pin the client's type, else the one the vetted extension stands for
# (passive types only), else application/octet-stream.
EXTENSION_TYPES = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp",
    "bmp": "image/bmp", "avif": "image/avif", "heic": "image/heic", "heif": "image/heif", "tif": "image/tiff",
    "tiff": "image/tiff", "ico": "image/x-icon", "mp4": "video/mp4", "m4v": "video/mp4", "mov": "video/quicktime",
    "webm": "video/webm", "avi": "video/x-msvideo", "mkv": "video/x-matroska", "3gp": "video/3gpp",
    "mp3": "audio/mpeg", "m4a": "audio/mp4", "aac": "audio/aac", "wav": "audio/wav", "ogg": "audio/ogg",
    "oga": "audio/ogg", "flac": "audio/flac", "amr": "audio/amr", "pdf": "application/pdf", "txt": "text/plain",
    "csv": "text/csv", "json": "application/json", "zip": "application/zip", "gz": "application/gzip",
    "7z": "application/x-7z-compressed", "doc": "application/msword", "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


def is_active_type(t: str) -> bool:
    return t in ACTIVE_TYPES or t.endswith("+xml")


def type_allowed(t: str, content_types: list[str] | None) -> bool:
    """The contract's content_types rule: listed exactly, or in a listed family (any type when
    none is listed) and not active."""
    types = [c.lower() for c in content_types or []]
    if t in types:
        return True
    if is_active_type(t):
        return False
    return not types or any(c.endswith("/") and t.startswith(c) for c in types)


def pinned_content_type(content_type: str | None, filename: str | None) -> str:
    """The Content-Type a native or uppy answer pins (stores with the field: all but Qiniu)."""
    if content_type:
        return content_type.lower()
    return EXTENSION_TYPES.get(ext_of(filename).lstrip("."), "application/octet-stream")



def fmt_expiration(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_expiration(s: str) -> dt.datetime:
    assert EXPIRATION_RE.match(s), f"expiration not UTC ISO-8601 with .000 milliseconds: {s!r}"
    return dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=dt.timezone.utc)


def parse_iso(s: str) -> dt.datetime:
    """Any ISO-8601 UTC instant (used for native `expiresAt`)."""
    assert isinstance(s, str)
    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|\+00:00)$", s)
    assert m, f"not an ISO-8601 UTC instant: {s!r}"
    t = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc)
    if m.group(2):
        t += dt.timedelta(seconds=float("0" + m.group(2)))
    return t


def expand_key(template: str, *, user: str | None, uuid: str, ext: str, now: dt.datetime,
               profile_name: str) -> str:
    """The object key the contract's template rules produce."""
    now = now.astimezone(dt.timezone.utc)
    values = {
        "user": user or "", "uuid": uuid, "ext": ext, "yyyy": f"{now.year:04d}",
        "mm": f"{now.month:02d}", "dd": f"{now.day:02d}", "hh": f"{now.hour:02d}",
        "timestamp": str(int(now.timestamp())), "profile": profile_name,
    }
    return re.sub(r"\{([a-z]+)\}", lambda m: values[m.group(1)], template)


def check_key(key: str, template: str, *, user: str | None, uuid: str | None, filename: str | None,
              issued: dt.datetime, profile_name: str) -> None:
    """Asserts `key` is the template's result for this request (the uuid read from the key when
    not given)."""
    if uuid is None:
        m = re.search(UUID4_RE, key)
        assert m, f"no lowercase v4 uuid in key {key!r}"
        uuid = m.group(0)
    expected = expand_key(template, user=user, uuid=uuid, ext=ext_of(filename), now=issued, profile_name=profile_name)
    assert key == expected, f"key {key!r} != template result {expected!r}"


def ext_of(filename: str | None) -> str:
    """`{ext}` per the contract: "." + lowercased extension; "" without filename/extension."""
    if not filename or "." not in filename:
        return ""
    e = filename.rsplit(".", 1)[1]
    return "." + e.lower() if e else ""


def _cond_field(c) -> tuple[str, str, object] | None:
    """Normalise a condition to (op, field-lowercase, value)."""
    if isinstance(c, dict):
        assert len(c) == 1, f"object condition with several members: {c}"
        (k, v), = c.items()
        return ("eq", k.lower(), v)
    assert isinstance(c, list) and c, f"condition is neither object nor array: {c!r}"
    op = c[0]
    if op == "content-length-range":
        assert len(c) == 3 and all(type(x) is int for x in c[1:]), f"bad range condition {c}"
        return ("content-length-range", "", (c[1], c[2]))
    assert len(c) == 3 and isinstance(c[1], str) and c[1].startswith("$"), f"bad condition {c}"
    return (op.lower(), c[1][1:].lower(), c[2])


def evaluate_policy(conditions: list, form: dict[str, str], bucket: str, size: int) -> list[str]:
    """Evaluate the policy as OSS would for a POST of `form` (+ file of `size` bytes) to
    `bucket`. Returns the failures (empty = the upload would be accepted)."""
    lower = {k.lower(): v for k, v in form.items()}
    lower["bucket"] = bucket
    failures = []
    for c in conditions:
        op, field, value = _cond_field(c)
        if op == "content-length-range":
            lo, hi = value
            if not (lo <= size <= hi):
                failures.append(f"{c}: size {size}")
            continue
        if field not in lower:
            failures.append(f"{c}: field {field!r} not in the form")
            continue
        got = lower[field]
        ok = {
            "eq": lambda: got == value,
            "starts-with": lambda: isinstance(value, str) and got.startswith(value),
            "in": lambda: got in value,
            "not-in": lambda: got not in value,
        }.get(op, lambda: False)()
        if not ok:
            failures.append(f"{c}: form has {got!r}")
    return failures


def has_condition(conditions: list, field: str, value) -> bool:
    field = field.lower()
    for c in conditions:
        op, f, v = _cond_field(c)
        if op == "eq" and f == field and v == value:
            return True
    return False


def check_signed(body: dict, *, fmt: str, prof: dict, profile_name: str,
                 akid: str = AKID, secret: str = SECRET, token: str | None = None,
                 user: str | None, filename: str | None = None, content_type: str | None = None,
                 size: int | None = None, now: dt.datetime | None = None,
                 now_window: tuple[float, float] | None = None, uuid: str | None = None) -> dict:
    """Check one successful answer against the contract. `now` (exact, CLI --now) or
    `now_window` (unix seconds before/after an HTTP request). Returns the decoded policy."""
    if fmt == "java":
        java_keys = {"url", "policy", "signature", "ossAccessKeyId", "key"}
        if token is not None:
            # Not in the contract's java bean; an STS upload cannot work without the token
            # (direct-upload.md: "the token goes into the form and the policy").
            java_keys.add("securityToken")
            assert body.get("securityToken") == token, f"java+STS securityToken {body.get('securityToken')!r}"
        assert set(body) == java_keys, f"java shape has keys {sorted(body)}, want {sorted(java_keys)}"
        policy_b64, signature, got_akid, key = (body["policy"], body["signature"],
                                                body["ossAccessKeyId"], body["key"])
        assert body["url"] == prof["endpoint"]
    else:
        assert set(body) == {"provider", "method", "url", "key", "expiresAt", "fields"}, \
            f"native shape has keys {sorted(body)}"
        assert body["provider"] == "aliyun-oss" and body["method"] == "POST"
        assert body["url"] == prof["endpoint"]
        fields = body["fields"]
        want = {"key", "policy", "OSSAccessKeyId", "Signature", "success_action_status", "Content-Type"}
        if token is not None:
            want.add("x-oss-security-token")
        assert set(fields) == want, f"native fields {sorted(fields)} != {sorted(want)}"
        assert all(isinstance(v, str) for v in fields.values()), f"non-string field: {fields}"
        assert fields["success_action_status"] == "200"
        assert fields["Content-Type"] == pinned_content_type(content_type, filename), \
            f"Content-Type {fields['Content-Type']!r} for contentType {content_type!r}, filename {filename!r}"
        if token is not None:
            assert fields["x-oss-security-token"] == token
        assert fields["key"] == body["key"]
        policy_b64, signature, got_akid, key = (fields["policy"], fields["Signature"],
                                                fields["OSSAccessKeyId"], body["key"])

    assert got_akid == akid, f"access key id {got_akid!r} != {akid!r}"
    # The signature, recomputed by both official SDKs.
    assert signature == oracle.v1_signature(secret, policy_b64), "signature differs from the SDK oracle"

    policy = oracle.decode_policy(policy_b64)
    assert set(policy) == {"expiration", "conditions"}, f"policy members {sorted(policy)}"
    expiration = parse_expiration(policy["expiration"])
    expires_in = prof.get("expires_in", 300)
    issued = expiration - dt.timedelta(seconds=expires_in)
    if now is not None:
        assert policy["expiration"] == fmt_expiration(now + dt.timedelta(seconds=expires_in)), \
            f"expiration {policy['expiration']} != now {now} + {expires_in}s"
        issued = now
    if now_window is not None:
        lo, hi = now_window
        assert int(lo) - 1 <= issued.timestamp() <= hi + 1, \
            f"expiration - expires_in = {issued} outside the request window"
    if fmt == "native":
        assert abs((parse_iso(body["expiresAt"]) - expiration).total_seconds()) < 1, \
            f"expiresAt {body['expiresAt']} != policy expiration {policy['expiration']}"

    # Key from the template.
    check_key(key, prof["key"], user=user, uuid=uuid, filename=filename, issued=issued,
              profile_name=profile_name)

    conds = policy["conditions"]
    assert isinstance(conds, list)
    norm = [_cond_field(c) for c in conds]
    bucket = prof["bucket"]
    assert any(f == "bucket" and v == bucket and op == "eq" for op, f, v in norm), \
        f"bucket {bucket} not pinned: {conds}"
    assert ["eq", "$key", key] in conds, f'["eq","$key",{key!r}] missing: {conds}'
    ranges = [v for op, f, v in norm if op == "content-length-range"]
    if size is not None:
        want_range = (size, size)
    else:
        want_range = (prof.get("min_size", 0), prof.get("max_size", 1048576000))
    assert ranges == [want_range], f"content-length-range {ranges} != [{want_range}]"

    if fmt == "java":
        # The java client sends only key/policy/OSSAccessKeyId/signature(/success_action_status):
        # the policy pins exactly bucket, key and size (and, under STS, the token).
        form = {"key": key, "policy": policy_b64, "OSSAccessKeyId": akid, "signature": signature}
        if token is not None:
            assert has_condition(conds, "x-oss-security-token", token), f"token not pinned: {conds}"
            form["x-oss-security-token"] = token
        assert len(conds) == 3 + (token is not None), \
            f"java policy must pin exactly bucket, key, size{' and token' if token else ''}: {conds}"
    else:
        assert has_condition(conds, "success_action_status", "200"), f"status not pinned: {conds}"
        pinned_type = pinned_content_type(content_type, filename)
        assert has_condition(conds, "Content-Type", pinned_type), f"Content-Type {pinned_type} not pinned: {conds}"
        if token is not None:
            assert has_condition(conds, "x-oss-security-token", token), f"token not pinned: {conds}"
        else:
            assert not any(f == "x-oss-security-token" for _, f, _ in norm)
        form = dict(body["fields"])
    # Whatever else it pins, the form the client sends must satisfy the whole policy.
    upload_size = size if size is not None else want_range[0]
    failures = evaluate_policy(conds, form, bucket, upload_size)
    assert not failures, f"the client's own form would fail the policy: {failures}"
    return policy


def assert_error_body(status: int, content_type: str | None, text: str, code: str,
                      expect_status: int | None = None) -> dict:
    expect_status = expect_status or ERROR_STATUS[code]
    assert status == expect_status, f"status {status} != {expect_status} ({code}); body={text[:300]!r}"
    if content_type is not None:
        assert content_type.split(";")[0].strip().lower() == "application/json", content_type
    doc = json.loads(text)
    assert set(doc) == {"error"}, f"error body members {sorted(doc)}: {text}"
    err = doc["error"]
    assert set(err) == {"code", "message"}, f"error members {sorted(err)}: {text}"
    assert err["code"] == code, f"error code {err['code']!r} != {code!r}: {text}"
    assert isinstance(err["message"], str) and err["message"], f"empty message: {text}"
    return err


def assert_http_error(resp, code: str, expect_status: int | None = None) -> dict:
    record_response("http error", resp)
    return assert_error_body(resp.status_code, resp.headers.get("Content-Type"), resp.text, code,
                             expect_status)


def ok_json(resp) -> dict:
    """A 200 with the standard headers; its JSON body."""
    assert resp.status_code == 200, f"{resp.status_code}: {resp.text[:400]}"
    assert_std_headers(resp)
    return resp.json()


def assert_std_headers(resp) -> None:
    ct = resp.headers.get("Content-Type", "")
    assert ct.split(";")[0].strip().lower() == "application/json", f"Content-Type {ct!r}"
    assert resp.headers.get("Cache-Control", "").lower() == "no-store", \
        f"Cache-Control {resp.headers.get('Cache-Control')!r}"
    assert resp.headers.get("Content-Length") == str(len(resp.content)), \
        f"Content-Length {resp.headers.get('Content-Length')!r} for {len(resp.content)} bytes"
