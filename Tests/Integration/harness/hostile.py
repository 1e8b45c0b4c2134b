"""test_security's configuration under test, its hostile values (the issue's list) and the
encoders that put them on the wire as a hostile client would: percent-encoded query strings and
form bodies, JSON bodies with invalid UTF-8 written raw. Requests go out through
harness.http.raw_request, so the bytes written are the bytes nginx sees."""

from __future__ import annotations

import json
import urllib.parse

from harness.config import profile
from harness.http import RawResponse, raw_request

# --------------------------------------------------------------------------------------------
# Configuration under test

SERVER = {
    "base_path": "/upload",
    "identity_param": "UPSIGN_USER",
    "threads": 8,
    "max_body": 65536,          # the contract's example: a 70 KB body must be refused (413)
    "default_profile": "sec",
    "max_expires_in": 3600,
}

PINS = dict(content_disposition="attachment", forbid_overwrite=True, object_acl="private",
            cache_control="no-cache", meta=["album", "note"])


def _profiles() -> dict:
    p = profile
    return {
        # native V1, any extension / content type, every pin the addenda define
        "sec": p(format="native", signature="v1", bucket="sec-bucket",
                 endpoint="https://sec-bucket.oss-cn-hangzhou.aliyuncs.com",
                 key="uploads/{user}/{uuid}{ext}", extensions=None, content_types=None,
                 min_size=1, max_size=10485760, expires_in=600, **PINS),
        # the same in V4
        "sec4": p(format="native", signature="v4", region="oss-cn-shanghai", bucket="sec4-bucket",
                  endpoint="https://sec4-bucket.oss-cn-shanghai.aliyuncs.com",
                  key="uploads4/{user}/{uuid}{ext}", extensions=None, content_types=None,
                  min_size=1, max_size=10485760, expires_in=600, **PINS),
        # the classic java bean, restricted extensions and content types
        "img": p(format="java", bucket="img-bucket",
                 endpoint="https://img-bucket.oss-cn-hangzhou.aliyuncs.com",
                 key="avatars/{user}/{uuid}{ext}"),
        # native, restricted content types (contentType required)
        "imgn": p(format="native", signature="v1", bucket="imgn-bucket",
                  endpoint="https://imgn-bucket.oss-cn-hangzhou.aliyuncs.com",
                  key="photos/{user}/{yyyy}/{uuid}{ext}"),
        # Aliyun's sample front end: a fresh folder pinned by prefix
        "app": p(format="aliyun-appserver", signature="v1", bucket="app-bucket",
                 endpoint="https://app-bucket.oss-cn-hangzhou.aliyuncs.com",
                 key="appsrv/{user}/{uuid}{ext}", extensions=None, content_types=None),
        "app4": p(format="aliyun-appserver", signature="v4", region="cn-beijing",
                  bucket="app4-bucket", endpoint="https://app4-bucket.oss-cn-beijing.aliyuncs.com",
                  key="appsrv4/{user}/{uuid}{ext}", extensions=None, content_types=None),
        # Uppy shape, no identity needed: the client's only input is the file name
        "pub": p(format="uppy", signature="v1", bucket="pub-bucket",
                 endpoint="https://pub-bucket.oss-cn-hangzhou.aliyuncs.com",
                 key="public/{profile}/{uuid}{ext}", extensions=None, content_types=None,
                 require_user=False, content_disposition="attachment"),
    }


PROFILES = _profiles()


def fixed_prefix(name: str) -> str:
    return PROFILES[name]["key"].split("{", 1)[0]


# --------------------------------------------------------------------------------------------
# Request encoders

def pct(b: bytes | str) -> bytes:
    """Percent-encode every byte except unreserved ones (invalid UTF-8 stays invalid)."""
    if isinstance(b, str):
        b = b.encode("utf-8")
    return urllib.parse.quote_from_bytes(b, safe="").encode("ascii")


def query_target(params: list[tuple[str, bytes | str]], path: bytes = b"/upload/policy") -> bytes:
    return path + b"?" + b"&".join(pct(k) + b"=" + pct(v) for k, v in params)


def form_body(params: list[tuple[str, bytes | str]]) -> bytes:
    return b"&".join(pct(k) + b"=" + pct(v) for k, v in params)


def json_body(params: list[tuple[str, bytes | str]]) -> bytes:
    """A flat JSON object; text values \\u-escaped, invalid UTF-8 written raw (the body is then
    not valid JSON text, which is what a hostile client would send)."""
    parts = []
    for k, v in params:
        if isinstance(v, str):
            v = v.encode("utf-8")
        try:
            enc = json.dumps(v.decode("utf-8")).encode("ascii")
        except UnicodeDecodeError:
            enc = b'"' + v.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
        parts.append(json.dumps(k).encode() + b":" + enc)
    return b"{" + b",".join(parts) + b"}"


FORM_H = (b"Content-Type", b"application/x-www-form-urlencoded")
JSON_H = (b"Content-Type", b"application/json")


def send(stack, transport: str, params: list[tuple[str, bytes | str]], user: bytes | str | None = b"alice",
         extra_headers: list[tuple[bytes, bytes]] = ()) -> RawResponse:
    h = list(extra_headers)
    if user is not None:
        h.append((b"X-Test-User", user.encode("utf-8") if isinstance(user, str) else user))
    port = stack.nginx.port
    if transport == "query":
        return raw_request(port, "GET", query_target(params), h)
    if transport == "form":
        return raw_request(port, "POST", b"/upload/policy", h + [FORM_H], form_body(params))
    if transport == "json":
        return raw_request(port, "POST", b"/upload/policy", h + [JSON_H], json_body(params))
    raise ValueError(transport)


# --------------------------------------------------------------------------------------------
# Hostile values (the list)

HOSTILE: list[tuple[str, bytes | str]] = [
    # ../ and absolute paths
    ("dotdot-path", b"../../etc/passwd"),
    ("dotdot-ext", b"../../../etc/cron.d/x.jpg"),
    ("dotdot", b".."),
    ("dotdot-slash", b"../"),
    ("dotdot-backslash", b"..\\..\\windows\\a.jpg"),
    ("abs-unix", b"/etc/passwd.jpg"),
    ("abs-windows", b"C:\\Windows\\System32\\a.jpg"),
    ("unc", b"\\\\host\\share\\a.jpg"),
    # NUL
    ("nul-before-ext", b"evil\x00.jpg"),
    ("nul-after-ext", b"a.jpg\x00.exe"),
    ("nul", b"\x00"),
    # CR / LF and other controls
    ("crlf-header", b"a\r\nX-Injected: 1\r\n.jpg"),
    ("lf", b"a\n.jpg"),
    ("cr-trailing", b"a.jpg\r"),
    ("tab-del-esc", b"a\t\x7f\x1b[31m.jpg"),
    ("c1-nel", "a\u0085b.jpg"),
    ("line-separator", "a\u2028b.jpg"),
    # %2f: what upsign sees after one decoding is a literal "%2f" (double-encoded on the wire)
    ("pct2f-literal", b"..%2f..%2fa.jpg"),
    ("pct2e-literal", b"%2e%2e%2f%2e%2e%2fa.jpg"),
    ("pct5c-literal", b"..%5c..%5ca.jpg"),
    # invalid UTF-8
    ("utf8-ff-fe", b"\xff\xfe.jpg"),
    ("utf8-overlong-slash", b"..\xc0\xaf..\xc0\xafa.jpg"),
    ("utf8-surrogate", b"\xed\xa0\x80.jpg"),
    ("utf8-truncated", b"a\xe2\x80.jpg"),
    ("latin1", b"caf\xe9.jpg"),
    # Unicode look-alikes
    ("division-slash", "..\u2215..\u2215a.jpg"),
    ("fullwidth-dots-slash", "\uff0e\uff0e\uff0fa.jpg"),
    ("one-dot-leader", "\u2024\u2024/a.jpg"),
    ("fullwidth-ext", "a.\uff4a\uff50\uff47"),
    ("script-g-ext", "a.jp\u0261"),
    ("kelvin-ext", "a.\u212a"),
    ("dotless-i-ext", "a.g\u0131f"),
    # RTL / bidi / format characters
    ("rtl-override", "\u202egpj.exe"),
    ("rtl-mark-ext", "a.\u200fjpg"),
    ("bidi-isolates", "\u2066evil\u2069.png"),
    ("zero-width-space", "a\u200b.jpg"),
    ("arabic-letter-mark", "a\u061c.png"),
    ("bom", "\ufeffa.jpg"),
    # ${filename} and a literal $
    ("dollar-filename", b"${filename}"),
    ("dollar-filename-ext", b"${filename}.jpg"),
    ("dollar-in-ext", b"a.${filename}"),
    ("dollar", b"$"),
    ("dollar-mid", b"a$b.jpg"),
    ("escaped-dollar", b"\\${filename}.jpg"),
    # quoting / markup / template / JSON breakers
    ("quote-semicolon", b'a"; filename=evil.exe; x=".jpg'),
    ("html", b"<script>alert(1)</script>.jpg"),
    ("template", b"{user}{uuid}{ext}.jpg"),
    ("json-breaker", b'a","key":"evil/x.jpg'),
    ("dots-spaces", b" . . "),
    ("empty-ish", b"."),
    # names that dodge an extension list (issue #16): no extension, a trailing dot or space
    ("no-extension", b"evil"),
    ("trailing-dot", b"evil.exe."),
    ("dot-only-ext", b".png"),
    ("double-ext-trailing-dot", b"a.png.exe."),
    ("trailing-space", b"a.png "),
    # types a browser runs (issue #16): never through a family or an empty list
    ("svg-type", b"image/svg+xml"),
    ("svg-type-upper", b"IMAGE/SVG+XML"),
    ("html-type", b"text/html"),
    ("xhtml-type", b"application/xhtml+xml"),
    ("xml-suffix-type", b"image/x-evil+xml"),
    ("js-type", b"text/javascript"),
    # overlong (10 KB)
    ("overlong-10k", b"a" * 10240 + b".jpg"),
]
HOSTILE_IDS = [h[0] for h in HOSTILE]
HOSTILE_BY_ID = dict(HOSTILE)


def with_profile(profile_name: str, params: list) -> list:
    return [("profile", profile_name)] + params


def ct_for(profile_name):
    return {"imgn": [("contentType", "image/png")], "sec": [("contentType", "image/png")],
            "sec4": [("contentType", "image/png")]}.get(profile_name, [])
