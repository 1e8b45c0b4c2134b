"""Issue #16's seven closed holes, through a real nginx: active types (SVG, HTML, +xml) behind a
family or an empty list, names that dodge an extension list, the Content-Type every native/uppy
answer pins (checked by the OSS model and by a real Ceph RGW), client headers as identity/tenant
params, aliyun-appserver without {uuid} or with ${x:...} callbacks, and the java content_types warning.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import urllib.parse

import pytest

import helpers
import oracle
import oracle_stores
from harness.processes import output_lines
from harness.stack import start_stack

USER = "alice"
QINIU_AK = "itestHardeningQiniuAccessKey_0123456789ab"
QINIU_SK = "itestHardeningQiniuSecretKey_fedcba98765-_"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(600) + b"IEND"


def _p(**over) -> dict:
    """A native OSS V1 profile with no lists, overridden by `over` (None removes a field)."""
    base = dict(format="native", extensions=None, content_types=None, key="h/{user}/{uuid}{ext}")
    base.update(over)
    return helpers.profile(**base)


def _qiniu(**over) -> dict:
    p = {"provider": "qiniu", "bucket": "hard-qiniu", "key": "q/{user}/{uuid}{ext}",
         "format": "native", "require_user": True, "credentials": "env", "max_size": 10485760}
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


PROFILES = {
    "img": _p(content_types=["image/"]),
    "imgsvg": _p(content_types=["image/", "image/svg+xml"]),
    "any": _p(),
    "jimg": _p(format="java", content_types=["image/"]),
    "ext": _p(extensions=["jpg", "png"]),
    "cdfree": _p(content_disposition="attachment", key="d/{user}/{uuid}{ext}"),
    "cdext": _p(content_disposition="attachment", extensions=["jpg", "png"], key="d/{user}/{uuid}{ext}"),
    "qimg": _qiniu(content_types=["image/"]),
    "qany": _qiniu(),
}


@pytest.fixture(scope="module")
def hard(nginx_bin, tmp_path_factory):
    server = dict(helpers.STANDARD_SERVER, default_profile="any")
    config = helpers.write_config(tmp_path_factory.mktemp("hard"), server=server, profiles=PROFILES)
    s = start_stack(config, env=helpers.cred_env(QINIU_ACCESS_KEY=QINIU_AK, QINIU_SECRET_KEY=QINIU_SK))
    yield s
    s.close()


def ask(stack, profile: str, user: str | None = USER, headers=None, **params):
    """GET the policy; returns (response, (t0, t1)) for check_signed's now_window."""
    q = urllib.parse.urlencode({"profile": profile, **params})
    t0 = time.time()
    r = stack.request("GET", "/upload/policy?" + q, user=user, headers=headers)
    return r, (t0, time.time())


def signed(stack, profile: str, *, fmt: str = "native", **params) -> dict:
    """A 200 answer, checked against the contract with helpers.check_signed."""
    r, window = ask(stack, profile, **params)
    assert r.status_code == 200, f"{profile} {params}: {r.status_code} {r.text}"
    helpers.assert_std_headers(r)
    body = r.json()
    helpers.check_signed(body, fmt=fmt, prof=PROFILES[profile], profile_name=profile, user=USER,
                         filename=params.get("filename"), content_type=params.get("contentType"),
                         now_window=window)
    return body


def refused(stack, profile: str, code: str, **params) -> dict:
    r, _ = ask(stack, profile, **params)
    return helpers.assert_http_error(r, code)


def conditions_of(fields: dict) -> list:
    return oracle.decode_policy(fields["policy"])["conditions"]


def check_pinned_native(body: dict, profile: str) -> list:
    """The checks of helpers.check_signed that still fit an answer pinning extra fields
    (Content-Disposition): SDK signature, every field pinned, the form satisfies the policy."""
    prof = PROFILES[profile]
    f = body["fields"]
    assert f["OSSAccessKeyId"] == helpers.AKID
    assert f["Signature"] == oracle.v1_signature(helpers.SECRET, f["policy"])
    conds = conditions_of(f)
    for name in ("key", "Content-Type", "Content-Disposition", "success_action_status"):
        assert helpers.has_condition(conds, name, f[name]), f"{name} not pinned: {conds}"
    assert not helpers.evaluate_policy(conds, f, prof["bucket"], 1)
    return conds


# --------------------------------------------------------------------------------------------
# 1. Active types


ACTIVE_SAMPLES = ["image/svg+xml", "text/html", "application/xhtml+xml", "text/xml",
                  "application/xml", "text/javascript", "application/javascript", "image/x-evil+xml"]


def test_a_family_entry_never_admits_svg(hard):
    for ct in ("image/svg+xml", "IMAGE/SVG+XML", "image/x-evil+xml"):
        refused(hard, "img", "content_type_not_allowed", filename="a.svg", contentType=ct)
        refused(hard, "jimg", "content_type_not_allowed", filename="a.svg", contentType=ct)
    # ... while passive members of the family still pass, pinned as asked.
    body = signed(hard, "img", filename="a.png", contentType="image/png")
    assert body["fields"]["Content-Type"] == "image/png"
    signed(hard, "jimg", fmt="java", filename="a.webp", contentType="image/webp")


def test_an_svg_listed_exactly_is_admitted_and_pinned(hard):
    body = signed(hard, "imgsvg", filename="a.svg", contentType="image/svg+xml")
    assert ["eq", "$Content-Type", "image/svg+xml"] in conditions_of(body["fields"])
    refused(hard, "imgsvg", "content_type_not_allowed", filename="a.html", contentType="text/html")


@pytest.mark.parametrize("ct", ACTIVE_SAMPLES)
def test_a_profile_without_content_types_refuses_every_active_type(hard, ct):
    assert helpers.is_active_type(ct)
    refused(hard, "any", "content_type_not_allowed", filename="x.bin", contentType=ct)


def test_a_profile_without_content_types_still_admits_passive_types(hard):
    for ct in ("text/plain", "application/pdf", "video/mp4"):
        assert helpers.type_allowed(ct, None)
        signed(hard, "any", filename="x.bin", contentType=ct)


def qiniu_put_policy(body: dict) -> dict:
    assert body["provider"] == "qiniu" and list(body["fields"]) == ["key", "token"], body
    token = body["fields"]["token"]
    ak, _sig, encoded = token.split(":")
    assert ak == QINIU_AK
    assert token == oracle_stores.qiniu_token_for(QINIU_AK, QINIU_SK, encoded), "token differs from the qiniu SDK"
    pp = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    assert pp["scope"] == f"hard-qiniu:{body['key']}"
    return pp


def qiniu_ok(stack, profile: str, **params) -> dict:
    r, _ = ask(stack, profile, **params)
    assert r.status_code == 200, r.text
    return qiniu_put_policy(r.json())


def test_qiniu_detects_the_type_and_a_family_limit_lists_passive_types_only(hard):
    pp = qiniu_ok(hard, "qimg", filename="a.png")
    assert pp["detectMime"] == 1, pp
    limit = pp["mimeLimit"].split(";")
    want = {t for t in helpers.EXTENSION_TYPES.values() if t.startswith("image/")}
    assert set(limit) == want, f"mimeLimit {pp['mimeLimit']!r}"
    assert "image/*" not in limit and "image/svg+xml" not in limit
    assert not any(helpers.is_active_type(t) for t in limit)
    # A type the client names is the limit; an active one is refused before any token.
    pp = qiniu_ok(hard, "qimg", filename="a.png", contentType="image/png")
    assert pp["mimeLimit"] == "image/png" and pp["detectMime"] == 1
    refused(hard, "qimg", "content_type_not_allowed", filename="a.svg", contentType="image/svg+xml")


def test_qiniu_without_content_types_refuses_the_active_types_by_name(hard):
    pp = qiniu_ok(hard, "qany", filename="a.bin")
    assert pp["detectMime"] == 1, pp
    assert pp["mimeLimit"].startswith("!"), pp["mimeLimit"]
    refused_types = set(pp["mimeLimit"][1:].split(";"))
    assert set(helpers.ACTIVE_TYPES) <= refused_types, set(helpers.ACTIVE_TYPES) - refused_types
    assert all(helpers.is_active_type(t) for t in refused_types)
    refused(hard, "qany", "content_type_not_allowed", filename="a.html", contentType="text/html")


# --------------------------------------------------------------------------------------------
# 2. File names that dodge an extension list


def test_a_listed_extension_is_required(hard):
    refused(hard, "ext", "missing_parameter")
    for name in ("evil", "evil.exe.", ".png"):
        refused(hard, "ext", "extension_required", filename=name)
    refused(hard, "ext", "extension_not_allowed", filename="a.exe")
    body = signed(hard, "ext", filename="Photo.PNG")
    assert body["key"].endswith(".png")


def test_a_trailing_dot_name_downloads_without_an_extension(hard):
    r, _ = ask(hard, "cdfree", filename="evil.exe.")
    assert r.status_code == 200, r.text
    body = r.json()
    assert re.fullmatch(rf"d/{USER}/{helpers.UUID4_RE}", body["key"]), body["key"]
    cd = body["fields"]["Content-Disposition"]
    assert cd == "attachment; filename=\"evil_exe\"; filename*=UTF-8''evil_exe", cd
    assert body["fields"]["Content-Type"] == "application/octet-stream"
    check_pinned_native(body, "cdfree")


def test_the_download_name_ends_in_the_vetted_extension(hard):
    r, _ = ask(hard, "cdext", filename="Holiday.exe.PNG")
    assert r.status_code == 200, r.text
    body = r.json()
    assert re.fullmatch(rf"d/{USER}/{helpers.UUID4_RE}\.png", body["key"]), body["key"]
    cd = body["fields"]["Content-Disposition"]
    assert cd == "attachment; filename=\"Holiday.exe.png\"; filename*=UTF-8''Holiday.exe.png", cd
    assert body["fields"]["Content-Type"] == "image/png"
    check_pinned_native(body, "cdext")
    refused(hard, "cdext", "extension_required", filename="Holiday.png.")


# --------------------------------------------------------------------------------------------
# 3. The pinned Content-Type


@pytest.mark.parametrize("filename,content_type", [
    ("a.png", "image/png"), ("a.png", None), ("a.svg", None), ("noext", None), ("a.PDF", None),
])
def test_a_native_answer_always_pins_a_content_type(hard, filename, content_type):
    params = {"filename": filename, **({"contentType": content_type} if content_type else {})}
    body = signed(hard, "any", **params)
    want = helpers.pinned_content_type(content_type, filename)
    assert body["fields"]["Content-Type"] == want
    assert ["eq", "$Content-Type", want] in conditions_of(body["fields"])


def test_an_svg_without_a_type_is_pinned_as_octet_stream(hard):
    body = signed(hard, "any", filename="a.svg")
    assert body["fields"]["Content-Type"] == "application/octet-stream"


def test_an_uppy_answer_pins_the_content_type_too(hard):
    r, _ = ask(hard, "any", filename="a.svg", format="uppy")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"method", "url", "fields", "headers"}, sorted(body)
    f = body["fields"]
    assert f["Content-Type"] == "application/octet-stream"
    conds = conditions_of(f)
    assert ["eq", "$Content-Type", "application/octet-stream"] in conds
    assert f["Signature"] == oracle.v1_signature(helpers.SECRET, f["policy"])
    assert not helpers.evaluate_policy(conds, f, PROFILES["any"]["bucket"], 1)
    assert helpers.evaluate_policy(conds, dict(f, **{"Content-Type": "text/html"}), PROFILES["any"]["bucket"], 1)


def test_a_form_tampered_to_text_html_fails_the_policy(hard):
    body = signed(hard, "any", filename="a.png")
    f = body["fields"]
    conds = conditions_of(f)
    bucket = PROFILES["any"]["bucket"]
    assert helpers.evaluate_policy(conds, f, bucket, 100) == []
    failures = helpers.evaluate_policy(conds, dict(f, **{"Content-Type": "text/html"}), bucket, 100)
    assert failures and all("Content-Type" in x for x in failures), failures


# ... and against a real store.

RGW_COMMON = {"key": "hard/{user}/{uuid}{ext}", "require_user": True, "credentials": "env",
              "min_size": 1, "max_size": 4096, "format": "native"}
# OSS V1 signs as S3's SigV2 POST does: RGW checks it once two field names are mapped.
OSS_TO_S3 = {"OSSAccessKeyId": "AWSAccessKeyId", "Signature": "signature"}


@pytest.fixture(scope="module")
def store_stack(nginx_bin, rgw, tmp_path_factory):
    common = dict(RGW_COMMON, bucket=rgw.bucket, endpoint=rgw.bucket_url)
    profiles = {"s3n": {"provider": "s3", "region": rgw.region, **common},
                "ossn": {"provider": "aliyun-oss", "signature": "v1", "region": "cn-hangzhou", **common}}
    config = helpers.write_config(tmp_path_factory.mktemp("hardrgw"), profiles=profiles)
    env = helpers.clean_env(AWS_ACCESS_KEY_ID=rgw.access_key, AWS_SECRET_ACCESS_KEY=rgw.secret,
                            OSS_ACCESS_KEY_ID=rgw.access_key, OSS_ACCESS_KEY_SECRET=rgw.secret)
    s = start_stack(config, env=env)
    yield s
    s.close()


def store_form(stack, profile: str, filename: str) -> tuple[dict, list[tuple[str, str]]]:
    r, _ = ask(stack, profile, filename=filename)
    assert r.status_code == 200, r.text
    body = r.json()
    return body, [(OSS_TO_S3.get(k, k), v) for k, v in body["fields"].items()]


@pytest.mark.parametrize("profile", ["s3n", "ossn"])
@pytest.mark.parametrize("filename,data,want", [("a.png", PNG, "image/png"),
                                                ("a.svg", SVG, "application/octet-stream")],
                         ids=["png", "svg"])
def test_the_store_keeps_the_pinned_type_and_refuses_text_html(store_stack, rgw, profile, filename, data, want):
    body, fields = store_form(store_stack, profile, filename)
    assert body["fields"]["Content-Type"] == want
    r = rgw.post(body["url"], fields, data, filename, want)
    assert r.status_code in (200, 204), f"{r.status_code}: {r.text[:300]}"
    assert rgw.get_object(body["key"]) == data
    assert rgw.client.head_object(Bucket=rgw.bucket, Key=body["key"])["ContentType"] == want

    body, fields = store_form(store_stack, profile, filename)
    tampered = [(k, "text/html" if k == "Content-Type" else v) for k, v in fields]
    r = rgw.post(body["url"], tampered, data, filename, "text/html")
    assert r.status_code == 403, f"{r.status_code}: {r.text[:300]}"
    assert "$Content-Type" in r.text, f"refused for another reason: {r.text[:300]}"
    assert rgw.get_object(body["key"]) is None


# --------------------------------------------------------------------------------------------
# 4. Client headers never name the user or the tenant


def check(tmp_path, text: str, name: str = "upsign.toml") -> subprocess.CompletedProcess:
    import tomllib
    tomllib.loads(text)
    cfg = tmp_path / name
    cfg.write_text(text)
    return helpers.run_cli(["check-config", "--config", str(cfg)], env=helpers.clean_env())


def header_params_config(tmp_path) -> str:
    server = dict(helpers.STANDARD_SERVER, identity_param="HTTP_X_USER", tenant_param="HTTP_X_APP")
    return helpers.toml_text(server, helpers.standard_profiles())


def test_check_config_refuses_request_headers_as_identity_or_tenant(tmp_path):
    proc = check(tmp_path, header_params_config(tmp_path))
    lines = output_lines(proc)
    assert proc.returncode == 1, lines
    for field, name in (("identity_param", "HTTP_X_USER"), ("tenant_param", "HTTP_X_APP")):
        hits = [l for l in lines if l.startswith(f"server.{field}:")]
        assert len(hits) == 1 and "request header" in hits[0] and name in hits[0], lines
    assert len(lines) == 2, lines
    # Control: the same config with params of the web server's own passes.
    ok = check(tmp_path, helpers.toml_text(dict(helpers.STANDARD_SERVER, tenant_param="UPSIGN_APP"),
                                           helpers.standard_profiles()), "ok.toml")
    assert ok.returncode == 0, output_lines(ok)


def test_serve_refuses_to_start_with_a_request_header_as_identity(tmp_path):
    cfg = tmp_path / "upsign.toml"
    cfg.write_text(header_params_config(tmp_path))
    sock = helpers.scratch_dir() / "x.sock"
    proc = subprocess.run(helpers.serve_argv(cfg, listen=f"unix:{sock}"), env=helpers.cred_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=15)
    helpers.CAPTURED_OUTPUT.append(("serve header params", proc.stdout + proc.stderr))
    assert proc.returncode == 78, f"exit {proc.returncode}: {proc.stderr}"
    assert not sock.exists()
    events = [json.loads(l) for l in proc.stderr.splitlines() if l.startswith("{")]
    errors = {e.get("config.field"): e.get("config.problem", "") for e in events
              if e.get("msg") == "configuration error" and e.get("level") == "critical"}
    assert set(errors) == {"server.identity_param", "server.tenant_param"}, proc.stderr
    assert all("request header" in why for why in errors.values()), errors


def test_a_client_header_never_becomes_the_identity(stack, std_profiles):
    # No identity from the web server: whatever the client sends as a header, none is read.
    for h in ({"X-User": "bob"}, {"Upsign-User": "bob"}, {"UPSIGN_USER": "bob"}, {"X-App": "bob"}):
        r = stack.request("GET", "/upload/policy?filename=a.jpg", headers=h)
        helpers.assert_http_error(r, "identity_required")
    # With one, the header changes nothing.
    t0 = time.time()
    r = stack.request("GET", "/upload/policy?filename=a.jpg", user="alice",
                      headers={"X-User": "bob", "Upsign-User": "bob"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["key"].startswith("avatars/alice/"), body["key"]
    helpers.check_signed(body, fmt="java", prof=std_profiles["avatar"], profile_name="avatar",
                         user="alice", filename="a.jpg", now_window=(t0, time.time()))


# --------------------------------------------------------------------------------------------
# 5-7. Configuration checks of the answer shapes


def one_profile(tmp_path, name: str, prof: dict, callback: dict | None = None, file: str = "upsign.toml"):
    text = helpers.toml_text(dict(helpers.STANDARD_SERVER, default_profile=name), {name: prof})
    if callback:
        text += f"\n[profiles.{name}.callback]\n" + "".join(
            f"{k} = {helpers.toml_value(v)}\n" for k, v in callback.items())
        secret = tmp_path / "binding.key"
        secret.write_text("b" * 64 + "\n")
        secret.chmod(0o600)
        text += f"\n[callback]\nbinding_secret = {helpers.toml_value(str(secret))}\n"
    return check(tmp_path, text, file)


APPSERVER = dict(format="aliyun-appserver", extensions=None, content_types=None, require_user=False)


def test_an_appserver_key_without_uuid_is_refused(tmp_path):
    proc = one_profile(tmp_path, "shared", helpers.profile(key="shared/{yyyy}{mm}{dd}/", **APPSERVER))
    lines = output_lines(proc)
    assert proc.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith("profiles.shared.format: ") and "{uuid}" in lines[0], lines
    ok = one_profile(tmp_path, "shared", helpers.profile(key="shared/{yyyy}{mm}{dd}/{uuid}/", **APPSERVER), file="ok.toml")
    assert ok.returncode == 0, output_lines(ok)


def test_a_native_profile_offering_appserver_needs_uuid_too(tmp_path):
    prof = _p(key="shared/{yyyy}{mm}{dd}/", require_user=False, formats=["aliyun-appserver"])
    proc = one_profile(tmp_path, "nat", prof)
    lines = output_lines(proc)
    assert proc.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith("profiles.nat.formats: ") and "{uuid}" in lines[0], lines


def test_an_appserver_shape_cannot_carry_callback_x_variables(tmp_path):
    prof = _p(key="c/{user}/{uuid}{ext}", formats=["native", "aliyun-appserver"])
    cb = {"url": "https://app.example.com/cb", "body": '{"object":${object},"user":${x:user}}'}
    proc = one_profile(tmp_path, "cb", prof, cb)
    lines = output_lines(proc)
    assert proc.returncode == 1, lines
    assert len(lines) == 1 and lines[0].startswith("profiles.cb.formats: ") and "x:" in lines[0], lines
    ok = one_profile(tmp_path, "cb", prof, {"url": cb["url"], "body": '{"object":${object}}'}, "ok.toml")
    assert ok.returncode == 0, output_lines(ok)


def test_java_content_types_pass_with_a_warning(tmp_path):
    text = helpers.toml_text(dict(helpers.STANDARD_SERVER, default_profile="jpng"), {
        "jpng": helpers.profile(format="java", content_types=["image/png"], extensions=["png"]),
        "npng": _p(content_types=["image/png"], extensions=["png"]),
    })
    proc = check(tmp_path, text)
    lines = output_lines(proc)
    assert proc.returncode == 0, lines
    assert re.fullmatch(r"ok: 2 (profile|profiles|profile\(s\))", lines[-1]), lines
    assert [l.split(":")[:2] for l in lines[:-1]] == [["warning", " profiles.jpng.content_types"]], lines
    assert lines[0].startswith("warning: profiles.jpng.content_types: ") and len(lines[0]) > 45, lines
