#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into Fuzz/corpus/<target>/ (run from anywhere;
the files are committed, this script is how they were made). Seeds from elsewhere are kept as they
are: fuzz-fastcgi-records/nginx-* were captured from nginx 1.22 (Debian 12) with the
fastcgi_params of nginx.conf.example; regression-* files are inputs that found bugs.

Field framing of the text targets: fields separated by NUL (Fuzz/Support/FuzzInput.swift)."""
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(ROOT, "corpus")
REPO = os.path.dirname(ROOT)


def write(target: str, name: str, data: bytes) -> None:
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fields(*parts) -> bytes:
    return b"\0".join(p.encode() if isinstance(p, str) else p for p in parts)


# --- fuzz-fastcgi-records: hand-built starts beside the nginx captures -----------------------------
def record(rtype: int, rid: int, content: bytes, pad: int | None = None) -> bytes:
    if pad is None:
        pad = (-len(content)) % 8
    return struct.pack(">BBHHBx", 1, rtype, rid, len(content), pad) + content + b"\0" * pad


def nv(name: bytes, value: bytes) -> bytes:
    def n(x: int) -> bytes:
        return bytes([x]) if x < 128 else struct.pack(">I", x | 0x80000000)
    return n(len(name)) + n(len(value)) + name + value


def params(pairs) -> bytes:
    return b"".join(nv(k.encode(), v.encode() if isinstance(v, str) else v) for k, v in pairs)


BASE = [("REQUEST_METHOD", "GET"), ("DOCUMENT_URI", "/upload/policy"), ("REQUEST_URI", "/upload/policy?filename=a.jpg"),
        ("QUERY_STRING", "filename=a.jpg&size=100"), ("UPSIGN_USER", "alice"), ("CONTENT_LENGTH", ""), ("CONTENT_TYPE", "")]
begin = record(1, 1, struct.pack(">HB5x", 1, 1))
p = params(BASE)
write("fuzz-fastcgi-records", "split-params", begin + record(4, 1, p[:40]) + record(4, 1, p[40:]) + record(4, 1, b"") + record(5, 1, b""))
write("fuzz-fastcgi-records", "get-values-first",
      record(9, 0, nv(b"FCGI_MAX_CONNS", b"") + nv(b"FCGI_MPXS_CONNS", b"")) + begin + record(4, 1, p) + record(4, 1, b"") + record(5, 1, b""))
long_value = "x" * 300
write("fuzz-fastcgi-records", "long-value-4-byte-length",
      begin + record(4, 1, params(BASE + [("HTTP_X_LONG", long_value)])) + record(4, 1, b"") + record(5, 1, b""))
body = b'{"filename":"cat.png","size":"42"}'
post = [("REQUEST_METHOD", "POST"), ("DOCUMENT_URI", "/upload/policy"), ("CONTENT_TYPE", "application/json"),
        ("CONTENT_LENGTH", str(len(body))), ("UPSIGN_USER", "bob"), ("QUERY_STRING", "")]
write("fuzz-fastcgi-records", "post-body-in-two-records",
      begin + record(4, 1, params(post)) + record(4, 1, b"") + record(5, 1, body[:10]) + record(5, 1, body[10:]) + record(5, 1, b""))
write("fuzz-fastcgi-records", "no-keep-conn-request-id-258",
      record(1, 258, struct.pack(">HB5x", 1, 0)) + record(4, 258, p, pad=0) + record(4, 258, b"") + record(5, 258, b""))
write("fuzz-fastcgi-records", "authorizer-role",
      record(1, 1, struct.pack(">HB5x", 2, 0)) + record(4, 1, p) + record(4, 1, b""))

# Regressions for RecordCheck as committed in f6608a8 (the working tree's RecordCheck refuses all
# three). It passed PARAMS of request 2 after BEGIN_REQUEST 1 (libfcgi skips them),
# so the pairs it checked are not the ones libfcgi uses (here libfcgi then finds no params of
# request 1 it can read and answers a request with none).
overflow = struct.pack(">I", 0xFFFFFFFF) + struct.pack(">I", 0xFFFFFFFF) + b"x" * 16
write("fuzz-fastcgi-records", "regression-recordcheck-params-request-id",
      begin + record(4, 2, nv(b"REQUEST_METHOD", b"GET")) + record(4, 2, b"") + record(4, 1, overflow) + record(4, 1, b"") + record(5, 1, b""))

# Regression: RecordCheck skips a BEGIN_REQUEST's padding; libfcgi reads it as records, so the
# PARAMS hidden there are used, and the checked ones after it are not. Hidden here: a pair whose
# lengths (0x72f9fefb + 0x7ffeb253) overflow libfcgi's int sum even with Debian's CVE-2025-23016
# fix: `upsign serve` aborts (fcgiapp.c:75: Malloc: Assertion ... failed), every thread with it.
smuggled = record(4, 1, bytes.fromhex("f2f9fefbfffeb253") + b"x" * 16) + record(4, 1, b"")
write("fuzz-fastcgi-records", "regression-recordcheck-begin-request-padding",
      struct.pack(">BBHHBx", 1, 1, 1, 8, len(smuggled)) + struct.pack(">HB5x", 1, 1) + smuggled
      + record(4, 1, nv(b"REQUEST_METHOD", b"GET") + nv(b"DOCUMENT_URI", b"/upload/healthz")) + record(4, 1, b"") + record(5, 1, b""))
hidden = record(4, 1, nv(b"REQUEST_METHOD", b"HIDDEN") + nv(b"DOCUMENT_URI", b"/upload/healthz")) + record(4, 1, b"")
write("fuzz-fastcgi-records", "regression-recordcheck-begin-request-padding-hidden-params",
      struct.pack(">BBHHBx", 1, 1, 1, 8, len(hidden)) + struct.pack(">HB5x", 1, 1) + hidden
      + record(4, 1, nv(b"REQUEST_METHOD", b"GET") + nv(b"DOCUMENT_URI", b"/upload/policy")) + record(4, 1, b"") + record(5, 1, b""))

# Regression: empty management records of an unknown type (here 0) inside a request, which
# RecordCheck lets through: libfcgi answers each and leaks 48 bytes (suppressed in Fuzz/lsan.supp).
write("fuzz-fastcgi-records", "regression-libfcgi-unknown-management-record-leak",
      begin + record(4, 1, params(post)) + record(4, 1, b"") + record(0, 0, b"") * 4 + record(5, 1, body) + record(5, 1, b""))

# --- fuzz-request: extra params | QUERY_STRING | CONTENT_TYPE | body -----------------------------
R = "fuzz-request"
write(R, "get-java-bean", fields("", "profile=avatar&filename=photo.jpg&size=12345&contentType=image%2Fjpeg", "", ""))
write(R, "get-native-meta", fields("", "profile=native&filename=Cat.PNG&contentType=image%2Fpng&size=2048&x-oss-meta-album=Trip&meta-camera=X100", "", ""))
write(R, "post-json", fields("", "", "application/json",
      '{"profile":"native","filename":"cat.png","contentType":"image/png","size":2048,"x-oss-meta-album":"trip"}'))
write(R, "post-json-escapes", fields("", "format=uppy", "application/json; charset=utf-8",
      '\ufeff{"profile":"cb","filename":"\\u4f60\\u597d \\"q\\".jpg","x:album":"Sommer \\ud83d\\ude00","x:user":"mallory","size":null}'))
write(R, "post-form", fields("", "format=uppy", "application/x-www-form-urlencoded",
      "profile=cb&filename=a%20b.jpg&x%3Aalbum=Summer+2026&size=99"))
write(R, "post-form-appserver", fields("", "", "application/x-www-form-urlencoded", "profile=appserver&filename=report.pdf"))
write(R, "get-tenant", fields("UPSIGN_APP=app1\nUPSIGN_USER=carol", "profile=tenant&filename=t.webp", "", ""))
write(R, "get-stores", fields("", "profile=s3&filename=a.jpg&contentType=image%2Fjpeg&x-amz-meta-album=a", "", ""))
for store in ["minio", "cos", "obs", "qiniu", "gcs", "open", "sts", "expired", "missing"]:
    write(R, f"get-{store}", fields("", f"profile={store}&filename=Photo.JPG&size=100&contentType=image%2Fjpeg&meta-album=x", "", ""))
write(R, "get-open-java", fields("", "profile=open&format=java&filename=a.txt", "", ""))
write(R, "get-open-appserver", fields("", "profile=open&format=aliyun-appserver&filename=a.txt&x-oss-meta-a=1", "", ""))
write(R, "bad-escapes", fields("", "filename=a%zzb.jpg&size=0x10", "", ""))
write(R, "repeated-name", fields("", "filename=a.jpg&filename=b.jpg", "", ""))
write(R, "head-healthz", fields("REQUEST_METHOD=HEAD\nDOCUMENT_URI=/upload/healthz", "", "", ""))
write(R, "request-uri-only", fields("DOCUMENT_URI=\nREQUEST_URI=/upload/policy?x=1\nSCRIPT_NAME=/upload\nPATH_INFO=/policy", "filename=a.png", "", ""))
write(R, "too-large", fields("CONTENT_LENGTH=70000", "", "application/json", "{}"))
write(R, "truncated", fields("CONTENT_LENGTH=12", "", "application/json", "{}"))
write(R, "put-method", fields("REQUEST_METHOD=PUT\nREQUEST_ID=abc-123", "", "", ""))
write(R, "no-user", fields("UPSIGN_USER=", "profile=avatar&filename=a.jpg", "", ""))
write(R, "user-with-slash", fields("UPSIGN_USER=../root", "profile=native&filename=a.png&contentType=image/png", "", ""))
write(R, "callback-route", fields("DOCUMENT_URI=/upload/callback\nHTTP_AUTHORIZATION=AAAA", "", "application/json", '{"bucket":"b"}'))

# --- fuzz-config: TOML | query string | credentials file --------------------------------------------
C = "fuzz-config"
for name, path in [("demo.toml", "deploy/demo.toml"), ("valid.toml", "Tests/UpsignTests/Fixtures/valid.toml"),
                   ("broken.toml", "Tests/UpsignTests/Fixtures/broken.toml")]:
    with open(os.path.join(REPO, path), "rb") as f:
        write(C, name, f.read())
write(C, "stores.toml", fields("""[server]
tenant_param = "UPSIGN_APP"
default_profile = "s3"
[profiles.s3]
provider = "s3"
bucket = "my.bucket"
meta = ["album"]
object_acl = "private"
[profiles.cos]
provider = "tencent-cos"
bucket = "examplebucket-1250000000"
region = "ap-guangzhou"
apps = ["app1"]
credentials = "/etc/upsign/creds.json"
[profiles.obs]
provider = "huawei-obs"
bucket = "obs-bucket"
region = "cn-north-4"
access_key_id_env = "OBS_A"
secret_env = "OBS_S"
token_env = "OBS_T"
[profiles.qiniu]
provider = "qiniu"
bucket = "q-bucket"
forbid_overwrite = true
""", "filename=a.jpg&size=1", "[default]\naws_access_key_id = AKIA\naws_secret_access_key = s\naws_session_token = t\nexpiration = 2026-01-03T00:00:00Z\n"))
write(C, "callback.toml", fields("""[server]
base_path = "/api/up/"
max_expires_in = 900
[profiles.cb]
bucket = "examplebucket"
region = "cn-hangzhou"
key = "cb/{user}/{yyyy}/{mm}/{dd}/{hh}/{timestamp}-{uuid}{ext}"
format = "uppy"
content_disposition = "attachment"
cache_control = "max-age=60"
server_side_encryption = "KMS"
server_side_encryption_key_id = "kms-1"
success_action_status = 201
[profiles.cb.callback]
url = ["https://a.example.com/cb", "https://b.example.com/cb"]
host = "a.example.com"
body = '{"object":${object},"user":${x:user},"album":${x:album}}'
sni = true
[profiles.sts]
bucket = "examplebucket"
region = "cn-hangzhou"
credentials = "/var/lib/upsign/sts.json"
[callback]
public_key_url_prefixes = ["https://gosspublic.alicdn.com/"]
public_key_file = "/etc/upsign/key.pem"
records = "/var/log/upsign/uploads.jsonl"
response = '{"ok":true,"key":"${object}"}'
""", "", '{"AccessKeyId":"STS.x","AccessKeySecret":"y","SecurityToken":"z","Expiration":"2026-01-03T00:04:59Z"}'))
# Regressions: toml++ 3.4.0 (TOMLKit 0.6.0) aborts on these; so does `upsign check-config`.
write(C, "regression-toml-table-header-plus", b"[+a]\n")
write(C, "regression-toml-array-brace", b"a = [}]\n")
write(C, "regression-toml-datetime-colon", b"a=2000-01-01T:0\n")
write(C, "credentials-only", fields("", "", '{"TmpSecretId":"AKID","TmpSecretKey":"k","Token":"t"}'))

# --- fuzz-callback: mode | REQUEST_URI | key URL | authorization | CONTENT_TYPE | params | fetched | body
K = "fuzz-callback"
key_url = "https://gosspublic.alicdn.com/callback_pub_key_v1.pem"
form = "bucket=examplebucket&object=cb%2Falice%2Fphoto.jpg&etag=D41D8CD98F00B204E9800998ECF8427E&size=123&mimeType=image%2Fjpeg&x%3Auser=alice&x%3Aalbum=Trip"
js = '{"bucket":"examplebucket","object":"a/b c.jpg","etag":"D41D8CD98F00B204E9800998ECF8427E","size":123,"mimeType":"image/jpeg","user":"alice","ok":true,"n":null}'
write(K, "signed-form", fields("s", "/upload/callback?a=1&b=%2F", key_url, "", "application/x-www-form-urlencoded", "", "", form))
write(K, "signed-json-records", fields("sr", "/upload/%63allback?a=1&b=%2F&c=a%20b+c&d=%E4%BD%A0", key_url, "", "application/json", "", "", js))
write(K, "signed-pinned-no-uri", fields("sp", "", "", "", "", "QUERY_STRING=x=1", "", "object=a.jpg&size=1"))
write(K, "unsigned", fields("", "/upload/callback", key_url, "", "application/json", "", "", js))
write(K, "garbage-signature", fields("", "/upload/callback", key_url, "not base64!", "application/json", "", "", js))
write(K, "wrong-signature", fields("", "/upload/callback", key_url, "bm90IGEgc2lnbmF0dXJl", "application/json", "", "", js))
write(K, "key-url-escapes", fields("s", "/upload/callback", "https://gosspublic.alicdn.com/keys/../evil.pem", "", "", "", "", form))
write(K, "key-url-raw-header", fields("se", "/upload/callback", "aHR0cDovLzEyNy4wLjAuMTo5L2tleXMvay5wZW0=", "", "", "", "", form))
write(K, "local-prefix", fields("s", "/upload/callback", "http://127.0.0.1:9/keys/k.pem", "", "application/json", "", "", js))
write(K, "fetch-fails", fields("sf", "/upload/callback", key_url, "", "", "", "", form))
write(K, "fetch-garbage", fields("sk", "/upload/callback", key_url, "", "", "", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", form))
write(K, "bad-path-escape", fields("s", "/upload/call%zzback", key_url, "", "", "", "", form))
write(K, "xml-body", fields("s", "/upload/callback", key_url, "", "text/xml", "", "", "<a/>"))
write(K, "get-method", fields("", "/upload/callback", key_url, "", "", "REQUEST_METHOD=GET", "", ""))
print("seeds written under", CORPUS)
