"""The policy endpoint through a real nginx (fastcgi_keep_conn on, upstream keepalive)."""

from __future__ import annotations

import json
import random
import re
import urllib.parse

import pytest

import helpers
from harness.contract import ok_json
from harness.measure import timed
from helpers import SECRET

JSON_CT = {"Content-Type": "application/json"}
FORM_CT = {"Content-Type": "application/x-www-form-urlencoded"}


# ---------------------------------------------------------------------------------- healthz


def test_healthz_get(stack):
    r = stack.request("GET", "/upload/healthz")
    assert ok_json(r) == {"status": "ok", "credentials": {"sources": 1, "unavailable": 0, "expired": 0}}


def test_healthz_head(stack):
    r = stack.request("HEAD", "/upload/healthz")
    assert r.status_code == 200
    assert r.content == b""


# ---------------------------------------------------------------------------------- success


def test_java_policy_over_keepalive(stack, std_profiles):
    """Many requests on one kept-alive client connection; nginx keeps its upstream connections
    (fastcgi_keep_conn on). Default profile (avatar, java) when none is named."""
    prof = std_profiles["avatar"]
    keys = set()
    for i in range(150):
        fname = random.Random(i).choice(["a.jpg", "B.JPEG", "c.Png", "photo.final.webp", "dir.png/x.jpeg"])
        r, window = timed(stack.request, "GET", "/upload/policy?filename=" + urllib.parse.quote(fname),
                          user=f"user{i % 7}")
        body = ok_json(r)
        helpers.check_signed(body, fmt="java", prof=prof, profile_name="avatar", user=f"user{i % 7}",
                             filename=fname, now_window=window)
        keys.add(body["key"])
    assert len(keys) == 150, "keys (uuids) repeat across requests"


def test_java_policy_post_form(stack, std_profiles):
    r, window = timed(stack.request, "POST", "/upload/policy", user="carol", headers=FORM_CT,
                      data="profile=avatar&filename=me%20and%20you.PNG&size=2048")
    helpers.check_signed(ok_json(r), fmt="java", prof=std_profiles["avatar"], profile_name="avatar",
                         user="carol", filename="me and you.PNG", size=2048, now_window=window)


def test_java_policy_post_json(stack, std_profiles):
    r, window = timed(stack.request, "POST", "/upload/policy", user="dave", headers=JSON_CT,
                      data=json.dumps({"profile": "avatar", "filename": "x.webp", "size": 10,
                                       "format": "java"}))
    helpers.check_signed(ok_json(r), fmt="java", prof=std_profiles["avatar"], profile_name="avatar",
                         user="dave", filename="x.webp", size=10, now_window=window)


def test_native_policy_get(stack, std_profiles):
    r, window = timed(stack.request, "GET", "/upload/policy?profile=photo&filename=cat.JPG"
                      "&contentType=image%2Fjpeg&size=123456", user="erin")
    helpers.check_signed(ok_json(r), fmt="native", prof=std_profiles["photo"], profile_name="photo",
                         user="erin", filename="cat.JPG", content_type="image/jpeg", size=123456,
                         now_window=window)


def test_native_policy_post_form(stack, std_profiles):
    r, window = timed(stack.request, "POST", "/upload/policy", user="erin", headers=FORM_CT,
                      data=urllib.parse.urlencode({"profile": "photo", "filename": "dog.png",
                                                   "contentType": "image/png"}))
    helpers.check_signed(ok_json(r), fmt="native", prof=std_profiles["photo"], profile_name="photo",
                         user="erin", filename="dog.png", content_type="image/png",
                         now_window=window)


def test_native_policy_post_json(stack, std_profiles):
    r, window = timed(stack.request, "POST", "/upload/policy", user="frank", headers=JSON_CT,
                      data=json.dumps({"profile": "doc", "filename": "report.PDF",
                                       "contentType": "application/pdf", "size": 4096}))
    helpers.check_signed(ok_json(r), fmt="native", prof=std_profiles["doc"], profile_name="doc",
                         user="frank", filename="report.PDF", content_type="application/pdf",
                         size=4096, now_window=window)


def test_format_param_overrides_profile_default(stack, std_profiles):
    r, window = timed(stack.request, "GET", "/upload/policy?profile=avatar&format=native&filename=a.jpg"
                      "&contentType=image/png", user="gina")
    helpers.check_signed(ok_json(r), fmt="native", prof=std_profiles["avatar"], profile_name="avatar",
                         user="gina", filename="a.jpg", content_type="image/png", now_window=window)
    # The other way round pins less (no Content-Type for java clients): a native profile refuses it.
    r, window = timed(stack.request, "GET", "/upload/policy?profile=doc&format=java&filename=a.txt",
                      user="gina")
    helpers.assert_http_error(r, "invalid_request", 400)


def test_form_body_with_charset_parameter(stack, std_profiles):
    """wx.request / axios send `application/x-www-form-urlencoded; charset=UTF-8`."""
    r, window = timed(stack.request, "POST", "/upload/policy", user="hank",
                      headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
                      data="filename=a.jpg")
    helpers.check_signed(ok_json(r), fmt="java", prof=std_profiles["avatar"], profile_name="avatar",
                         user="hank", filename="a.jpg", now_window=window)
    r, window = timed(stack.request, "POST", "/upload/policy", user="hank",
                      headers={"Content-Type": "application/json; charset=utf-8"},
                      data=json.dumps({"filename": "a.jpg"}))
    helpers.check_signed(ok_json(r), fmt="java", prof=std_profiles["avatar"], profile_name="avatar",
                         user="hank", filename="a.jpg", now_window=window)


def test_post_without_body_uses_query(stack, std_profiles):
    r, window = timed(stack.request, "POST", "/upload/policy?filename=a.png", user="ivy")
    helpers.check_signed(ok_json(r), fmt="java", prof=std_profiles["avatar"], profile_name="avatar",
                         user="ivy", filename="a.png", now_window=window)


def test_profile_without_identity(stack, std_profiles):
    r, window = timed(stack.request, "GET", "/upload/policy?profile=public&filename=x.bin")
    helpers.check_signed(ok_json(r), fmt="java", prof=std_profiles["public"], profile_name="public",
                         user=None, filename="x.bin", now_window=window)


def test_timestamp_placeholder_is_unix_seconds(stack, std_profiles):
    r, window = timed(stack.request, "GET", "/upload/policy?profile=stamp&filename=x.bin")
    body = ok_json(r)
    m = re.fullmatch(r"t/(\d+)/" + helpers.UUID4_RE + r"\.bin", body["key"])
    assert m, f"key {body['key']!r} does not match t/{{timestamp}}/{{uuid}}.bin"
    assert int(window[0]) - 1 <= int(m.group(1)) <= window[1] + 1, \
        f"{{timestamp}}={m.group(1)} is not the request's unix time in seconds ({window})"
    helpers.check_signed(body, fmt="native", prof=std_profiles["stamp"], profile_name="stamp",
                         user=None, filename="x.bin", now_window=window)


def test_identity_edge_lengths(stack, std_profiles):
    user = "a" * 128
    r, window = timed(stack.request, "GET", "/upload/policy?filename=a.jpg", user=user)
    helpers.check_signed(ok_json(r), fmt="java", prof=std_profiles["avatar"], profile_name="avatar",
                         user=user, filename="a.jpg", now_window=window)
    helpers.assert_http_error(stack.request("GET", "/upload/policy?filename=a.jpg", user="a" * 129),
                              "invalid_identity")


@pytest.mark.parametrize("user", ['quote"d', "back\\slash", "sp ace", "dollar$", "<tag>", "a.b",
                                  "100%", "x+y=z", "{user}"])
def test_printable_identities_are_escaped_or_refused(stack, std_profiles, user):
    """The contract refuses only /, .., control chars, non-ASCII and >128 bytes. Other printable
    ASCII must either be refused as invalid_identity or end up verbatim in a well-formed,
    correctly signed answer (JSON escaping)."""
    r, window = timed(stack.request, "GET", "/upload/policy?filename=a.jpg", user=user)
    if r.status_code == 400:
        helpers.assert_http_error(r, "invalid_identity")
        return
    helpers.check_signed(ok_json(r), fmt="java", prof=std_profiles["avatar"], profile_name="avatar",
                         user=user, filename="a.jpg", now_window=window)


# ---------------------------------------------------------------------------------- errors

BAD = [
    # (id, method, path, user, headers, body, code)
    ("no-identity", "GET", "/upload/policy?filename=a.jpg", None, {}, None, "identity_required"),
    ("empty-identity", "GET", "/upload/policy?filename=a.jpg", "", {}, None, "identity_required"),
    ("identity-dotdot-slash", "GET", "/upload/policy?filename=a.jpg", "../x", {}, None, "invalid_identity"),
    ("identity-slash", "GET", "/upload/policy?filename=a.jpg", "a/b", {}, None, "invalid_identity"),
    ("identity-dotdot", "GET", "/upload/policy?filename=a.jpg", "..", {}, None, "invalid_identity"),
    ("identity-inner-dotdot", "GET", "/upload/policy?filename=a.jpg", "a..b", {}, None, "invalid_identity"),
    ("identity-too-long", "GET", "/upload/policy?filename=a.jpg", "u" * 200, {}, None, "invalid_identity"),
    ("identity-tab", "GET", "/upload/policy?filename=a.jpg", "a\tb", {}, None, "invalid_identity"),
    ("identity-non-ascii", "GET", "/upload/policy?filename=a.jpg", "ann\u00e9".encode("utf-8"), {},
     None, "invalid_identity"),
    ("size-alpha", "GET", "/upload/policy?filename=a.jpg&size=abc", "u", {}, None, "invalid_request"),
    ("size-negative", "GET", "/upload/policy?filename=a.jpg&size=-1", "u", {}, None, "invalid_request"),
    ("size-fraction", "GET", "/upload/policy?filename=a.jpg&size=1.5", "u", {}, None, "invalid_request"),
    ("size-exponent", "GET", "/upload/policy?filename=a.jpg&size=1e3", "u", {}, None, "invalid_request"),
    ("size-hex", "GET", "/upload/policy?filename=a.jpg&size=0x10", "u", {}, None, "invalid_request"),
    ("size-above-max", "GET", "/upload/policy?profile=photo&filename=a.jpg&contentType=image/jpeg"
     "&size=10485761", "u", {}, None, "size_out_of_range"),
    ("size-below-min", "GET", "/upload/policy?profile=photo&filename=a.jpg&contentType=image/jpeg"
     "&size=0", "u", {}, None, "size_out_of_range"),
    ("size-json-string-garbage", "POST", "/upload/policy", "u", JSON_CT,
     '{"filename":"a.jpg","size":"12abc"}', "invalid_request"),
    ("size-json-negative", "POST", "/upload/policy", "u", JSON_CT,
     '{"filename":"a.jpg","size":-5}', "invalid_request"),
    ("bad-format", "GET", "/upload/policy?filename=a.jpg&format=xml", "u", {}, None, "invalid_request"),
    ("bad-pct-zz", "GET", "/upload/policy?filename=a%zzb.jpg", "u", {}, None, "invalid_request"),
    ("bad-pct-truncated", "GET", "/upload/policy?filename=a.jpg%2", "u", {}, None, "invalid_request"),
    ("bad-pct-in-form", "POST", "/upload/policy", "u", FORM_CT, "filename=a%g1.jpg", "invalid_request"),
    ("dup-query", "GET", "/upload/policy?size=1&size=2&filename=a.jpg", "u", {}, None, "invalid_request"),
    ("dup-query-filename", "GET", "/upload/policy?filename=a.jpg&filename=b.jpg", "u", {}, None,
     "invalid_request"),
    ("dup-form", "POST", "/upload/policy", "u", FORM_CT, "filename=a.jpg&filename=b.png",
     "invalid_request"),
    ("dup-json", "POST", "/upload/policy", "u", JSON_CT, '{"filename":"a.jpg","filename":"b.jpg"}',
     "invalid_request"),
    ("dup-query-and-body", "POST", "/upload/policy?filename=a.jpg", "u", FORM_CT, "filename=b.jpg",
     "invalid_request"),
    ("bad-json", "POST", "/upload/policy", "u", JSON_CT, '{"filename": "a.jpg"', "invalid_request"),
    ("json-array", "POST", "/upload/policy", "u", JSON_CT, '["filename", "a.jpg"]', "invalid_request"),
    ("json-nested", "POST", "/upload/policy", "u", JSON_CT, '{"filename": {"x": "a.jpg"}}',
     "invalid_request"),
    ("ext-not-allowed", "GET", "/upload/policy?filename=evil.exe", "u", {}, None, "extension_not_allowed"),
    ("ext-gif-not-allowed", "GET", "/upload/policy?filename=a.GIF", "u", {}, None, "extension_not_allowed"),
    ("ext-not-alnum", "GET", "/upload/policy?profile=doc&filename=a.p-df", "u", {}, None,
     "extension_not_allowed"),
    ("ctype-not-allowed-native", "GET", "/upload/policy?profile=photo&filename=a.png"
     "&contentType=text/html", "u", {}, None, "content_type_not_allowed"),
    ("ctype-not-allowed-java", "GET", "/upload/policy?profile=avatar&filename=a.png"
     "&contentType=text/html", "u", {}, None, "content_type_not_allowed"),
    ("missing-filename-with-extensions", "GET", "/upload/policy?profile=photo", "u", {}, None,
     "missing_parameter"),
    ("no-extension", "GET", "/upload/policy?profile=photo&filename=photo", "u", {}, None,
     "extension_required"),
    ("trailing-dot", "GET", "/upload/policy?profile=photo&filename=evil.exe.", "u", {}, None,
     "extension_required"),
    ("dot-only-name", "GET", "/upload/policy?profile=avatar&filename=.png", "u", {}, None,
     "extension_required"),
    ("svg-through-no-list", "GET", "/upload/policy?profile=doc&filename=a.svg&contentType=image/svg%2Bxml", "u",
     {}, None, "content_type_not_allowed"),
    ("html-through-no-list", "GET", "/upload/policy?profile=doc&filename=a.txt&contentType=text/html", "u",
     {}, None, "content_type_not_allowed"),
    ("unknown-profile", "GET", "/upload/policy?profile=nope&filename=a.jpg", "u", {}, None,
     "unknown_profile"),
    ("unknown-path", "GET", "/upload/nope", "u", {}, None, "not_found"),
    ("unknown-path-outside-base", "GET", "/elsewhere/policy", "u", {}, None, "not_found"),
    ("policy-subpath", "GET", "/upload/policy/extra", "u", {}, None, "not_found"),
    ("base-only", "GET", "/upload", "u", {}, None, "not_found"),
    ("root", "GET", "/", "u", {}, None, "not_found"),
    ("text-plain-body", "POST", "/upload/policy", "u", {"Content-Type": "text/plain"}, "filename=a.jpg",
     "unsupported_media_type"),
    ("multipart-body", "POST", "/upload/policy", "u",
     {"Content-Type": "multipart/form-data; boundary=xx"},
     '--xx\r\nContent-Disposition: form-data; name="filename"\r\n\r\na.jpg\r\n--xx--\r\n',
     "unsupported_media_type"),
    ("body-too-large", "POST", "/upload/policy", "u", FORM_CT, "filename=a.jpg&pad=" + "x" * 2000,
     "body_too_large"),
    ("json-too-large", "POST", "/upload/policy", "u", JSON_CT,
     json.dumps({"filename": "a.jpg", "pad": "y" * 5000}), "body_too_large"),
]


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_error_responses(stack, case):
    _, method, path, user, headers, body, code = case
    r = stack.request(method, path, user=user, headers=headers, data=body)
    helpers.assert_http_error(r, code)
    helpers.assert_std_headers(r)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_policy_wrong_method(stack, method):
    r = stack.request(method, "/upload/policy?filename=a.jpg", user="u")
    helpers.assert_http_error(r, "method_not_allowed")
    helpers.assert_std_headers(r)
    allow = {m.strip().upper() for m in r.headers.get("Allow", "").split(",") if m.strip()}
    assert {"GET", "POST"} <= allow and method not in allow, f"Allow: {r.headers.get('Allow')!r}"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_healthz_wrong_method(stack, method):
    r = stack.request(method, "/upload/healthz")
    helpers.assert_http_error(r, "method_not_allowed")
    allow = {m.strip().upper() for m in r.headers.get("Allow", "").split(",") if m.strip()}
    assert {"GET", "HEAD"} <= allow and method not in allow, f"Allow: {r.headers.get('Allow')!r}"


def test_no_500_from_random_input(stack):
    """Hostile queries and bodies: always a documented status and JSON error body, never 5xx."""
    rng = random.Random(7)
    names = ["profile", "filename", "contentType", "size", "format", "x", "", "%", "size[]"]
    junk = ["", "%", "%%", "%00", "%ff%fe", "..%2f..%2f", "a" * 3000, "\u00e9\u4e2d", "-0", "00",
            "18446744073709551616", "9" * 40, "+1", " 1", "image/png\r\n", "{ext}", "${filename}",
            "null", "true", "[]"]
    allowed = {200, 400, 401, 404, 413, 415}
    for i in range(120):
        parts = []
        for _ in range(rng.randint(0, 4)):
            k = rng.choice(names)
            v = rng.choice(junk)
            parts.append(urllib.parse.quote(k, safe="%[]") + "=" + (urllib.parse.quote(v, safe="%")
                                                                  if rng.random() < 0.7 else v))
        qs = "&".join(parts)
        kind = rng.choice(["get", "form", "json", "rawjson"])
        user = rng.choice([None, "u", "../x", "a" * 129])
        h = {"X-Test-User": user} if user is not None else {}
        if kind == "get":
            r = stack.http.get(stack.url("/upload/policy?" + qs), headers=h, timeout=15)
        elif kind == "form":
            r = stack.http.post(stack.url("/upload/policy"), data=qs.encode("utf-8", "replace"),
                                headers={**h, **FORM_CT}, timeout=15)
        elif kind == "json":
            obj = {rng.choice(names): rng.choice(junk + [1, -1, 1.5, None, True, [1], {"a": 1}])
                   for _ in range(rng.randint(0, 4))}
            r = stack.http.post(stack.url("/upload/policy"), data=json.dumps(obj),
                                headers={**h, **JSON_CT}, timeout=15)
        else:
            raw = rng.choice(['{', '{"size":1e999}', '{"a":"\\ud800"}', '"x"', '1', '{"a":1}x',
                              '\xff\xfe', '{"filename":"a.jpg",}', '{}', '{"size":null}'])
            r = stack.http.post(stack.url("/upload/policy"), data=raw.encode("utf-8", "replace"),
                                headers={**h, **JSON_CT}, timeout=15)
        helpers.record_response("fuzz", r)
        assert r.status_code in allowed, f"case {i} ({kind} {qs[:200]!r}): {r.status_code} {r.text[:300]}"
        if r.status_code != 200:
            doc = r.json()
            code = doc["error"]["code"]
            assert helpers.ERROR_STATUS.get(code) == r.status_code, f"{r.status_code} with code {code}"


def test_secret_never_in_responses_so_far(stack):
    leaks = [label for label, body in helpers.RESPONSE_BODIES if helpers.secrets_in(body)]
    assert not leaks, f"secret found in responses: {leaks[:5]}"
    assert SECRET not in stack.worker.log()
