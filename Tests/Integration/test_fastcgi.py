"""The worker spoken to directly over FastCGI (no nginx): route fallbacks, CGI Status headers,
FCGI_KEEP_CONN handling, CONTENT_LENGTH limits."""

from __future__ import annotations

import json
import time

import pytest

import helpers
from harness import fastcgi
from harness.fastcgi import ARRIVAL_TIMEOUT, Connection


@pytest.fixture(scope="module")
def worker_sock(std_config):
    d = helpers.scratch_dir("usfcg")
    sock = d / "direct.sock"
    w = helpers.Worker(helpers.serve_argv(std_config, listen=f"unix:{sock}"), helpers.cred_env(),
                       name="fcgi-direct", log_dir=d)
    helpers.wait_unix_socket(sock, w)
    yield sock
    w.stop()


def base_params(**over) -> dict:
    p = {"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_METHOD": "GET",
         "QUERY_STRING": "", "CONTENT_TYPE": "", "CONTENT_LENGTH": "",
         "REMOTE_ADDR": "127.0.0.1", "SERVER_NAME": "localhost", "SERVER_PORT": "80"}
    p.update(over)
    return {k: v for k, v in p.items() if v is not None}


def one(sock, params, body=b"", keep_conn=True):
    c = Connection(sock)
    try:
        r = c.request(params, body, keep_conn=keep_conn)
    finally:
        c.close()
    helpers.RESPONSE_BODIES.append(("fcgi", r.raw))
    return r


def test_cgi_status_header_not_status_line(worker_sock):
    r = one(worker_sock, base_params(DOCUMENT_URI="/upload/nope", REQUEST_URI="/upload/nope"))
    assert not r.raw.startswith(b"HTTP/"), f"FastCGI answers CGI headers, not a status line: {r.raw[:80]!r}"
    assert r.headers.get("status", "").startswith("404"), r.header_lines
    helpers.assert_error_body(r.status, r.headers.get("content-type"), r.body.decode(), "not_found")


def test_route_from_document_uri(worker_sock):
    r = one(worker_sock, base_params(DOCUMENT_URI="/upload/healthz", REQUEST_URI="/ignored"))
    assert r.status == 200 and json.loads(r.body)["status"] == "ok", r.raw


def test_route_fallback_request_uri(worker_sock):
    r = one(worker_sock, base_params(REQUEST_URI="/upload/healthz?probe=1", QUERY_STRING="probe=1"))
    assert r.status == 200 and json.loads(r.body)["status"] == "ok", r.raw


def test_route_fallback_script_name_path_info(worker_sock):
    r = one(worker_sock, base_params(SCRIPT_NAME="/upload", PATH_INFO="/healthz"))
    assert r.status == 200 and json.loads(r.body)["status"] == "ok", r.raw


def test_policy_with_request_uri_fallback(worker_sock, std_profiles):
    t0 = time.time()
    r = one(worker_sock, base_params(REQUEST_URI="/upload/policy?filename=a.png",
                                     QUERY_STRING="filename=a.png", UPSIGN_USER="zed"))
    assert r.status == 200, r.raw
    helpers.check_signed(json.loads(r.body), fmt="java", prof=std_profiles["avatar"],
                         profile_name="avatar", user="zed", filename="a.png",
                         now_window=(t0, time.time()))


def test_identity_param_absent_entirely(worker_sock):
    r = one(worker_sock, base_params(DOCUMENT_URI="/upload/policy", QUERY_STRING="filename=a.jpg"))
    helpers.assert_error_body(r.status, r.headers.get("content-type"), r.body.decode(),
                              "identity_required")


def test_form_body_over_stdin(worker_sock, std_profiles):
    body = b"filename=b.webp&size=77"
    t0 = time.time()
    r = one(worker_sock, base_params(DOCUMENT_URI="/upload/policy", REQUEST_METHOD="POST",
                                     CONTENT_TYPE="application/x-www-form-urlencoded",
                                     CONTENT_LENGTH=str(len(body)), UPSIGN_USER="yan"), body)
    assert r.status == 200, r.raw
    helpers.check_signed(json.loads(r.body), fmt="java", prof=std_profiles["avatar"],
                         profile_name="avatar", user="yan", filename="b.webp", size=77,
                         now_window=(t0, time.time()))


def test_declared_content_length_over_max_body(worker_sock):
    """413 from CONTENT_LENGTH alone: the worker must not wait for a body it will refuse."""
    r = one(worker_sock, base_params(DOCUMENT_URI="/upload/policy", REQUEST_METHOD="POST",
                                     CONTENT_TYPE="application/json", CONTENT_LENGTH="100000",
                                     UPSIGN_USER="yan"), b"")
    helpers.assert_error_body(r.status, r.headers.get("content-type"), r.body.decode(),
                              "body_too_large")


def test_bad_content_length(worker_sock):
    r = one(worker_sock, base_params(DOCUMENT_URI="/upload/policy", REQUEST_METHOD="POST",
                                     CONTENT_TYPE="application/json", CONTENT_LENGTH="12x",
                                     UPSIGN_USER="yan"), b"{}")
    assert r.status in (400, 411, 413), r.raw
    doc = json.loads(r.body)
    assert set(doc) == {"error"}


def test_many_requests_on_one_kept_connection(worker_sock):
    c = Connection(worker_sock)
    try:
        for i in range(50):
            r = c.request(base_params(DOCUMENT_URI="/upload/healthz"), keep_conn=True,
                          request_id=1 + i % 3)
            assert r.status == 200, r.raw
        assert not c.closed_by_peer(timeout=0.3), "worker closed a FCGI_KEEP_CONN connection"
    finally:
        c.close()


def test_connection_closed_without_keep_conn(worker_sock):
    c = Connection(worker_sock)
    try:
        r = c.request(base_params(DOCUMENT_URI="/upload/healthz"), keep_conn=False)
        assert r.status == 200
        assert c.closed_by_peer(timeout=3), "connection left open although FCGI_KEEP_CONN was not set"
    finally:
        c.close()



def test_server_settings_are_honoured(tmp_path):
    """base_path and identity_param come from the config; a lone profile is the default."""
    server = {"base_path": "/api/v1/sign", "identity_param": "REMOTE_USER", "threads": 4,
              "max_body": 4096}
    prof = helpers.profile(key="only/{user}/{uuid}{ext}", format="java")
    cfg = helpers.write_config(tmp_path, server=server, profiles={"solo": prof})
    d = helpers.scratch_dir("ussrv")
    sock = d / "s.sock"
    w = helpers.Worker(helpers.serve_argv(cfg, listen=f"unix:{sock}"), helpers.cred_env(),
                       name="settings", log_dir=d)
    try:
        helpers.wait_unix_socket(sock, w)
        t0 = time.time()
        r = one(sock, base_params(DOCUMENT_URI="/api/v1/sign/policy", QUERY_STRING="filename=a.png",
                                  REMOTE_USER="rita"))
        assert r.status == 200, r.raw
        helpers.check_signed(json.loads(r.body), fmt="java", prof=prof, profile_name="solo",
                             user="rita", filename="a.png", now_window=(t0, time.time()))
        # the identity is read from REMOTE_USER only
        r = one(sock, base_params(DOCUMENT_URI="/api/v1/sign/policy", QUERY_STRING="filename=a.png",
                                  UPSIGN_USER="rita"))
        helpers.assert_error_body(r.status, r.headers.get("content-type"), r.body.decode(),
                                  "identity_required")
        r = one(sock, base_params(DOCUMENT_URI="/upload/policy", QUERY_STRING="filename=a.png",
                                  REMOTE_USER="rita"))
        helpers.assert_error_body(r.status, r.headers.get("content-type"), r.body.decode(), "not_found")
        r = one(sock, base_params(DOCUMENT_URI="/api/v1/sign/healthz"))
        assert r.status == 200 and json.loads(r.body)["status"] == "ok"
    finally:
        w.stop()


@pytest.mark.parametrize("size,expect", [(120_000, "parsed"), (900_000, "body_too_large")])
def test_a_body_larger_than_the_socket_queue_is_refused_promptly(tmp_path, size, expect):
    """The worker checks a whole request's records before libfcgi reads them, so it must see the
    body in the socket's queue (about 176 KiB on a unix socket). A body within max_body (here
    1 MiB) but beyond what the queue holds cannot be checked: it is answered 413 at once, not
    after the 30 s arrival timeout; one that fits is read as usual."""
    import struct
    import threading
    server = dict(helpers.STANDARD_SERVER, max_body=1 << 20, threads=2)
    cfg = helpers.write_config(tmp_path, server=server)
    d = helpers.scratch_dir("usbig")
    sock = d / "b.sock"
    w = helpers.Worker(helpers.serve_argv(cfg, listen=f"unix:{sock}"), helpers.cred_env(), name="bigbody", log_dir=d)
    try:
        helpers.wait_unix_socket(sock, w)
        body = b'{"filename":"' + b"a" * (size - 20) + b'.png"}'
        params = base_params(DOCUMENT_URI="/upload/policy", REQUEST_METHOD="POST", CONTENT_TYPE="application/json",
                             CONTENT_LENGTH=str(len(body)), UPSIGN_USER="yan")
        msg = fastcgi.record(fastcgi.BEGIN, 1, struct.pack(">HB5x", 1, 0))
        msg += fastcgi.record(fastcgi.PARAMS, 1, fastcgi.encode_params(params)) + fastcgi.record(fastcgi.PARAMS, 1)
        for i in range(0, len(body), 32768):
            msg += fastcgi.record(fastcgi.STDIN, 1, body[i:i + 32768])
        msg += fastcgi.record(fastcgi.STDIN, 1)
        c = fastcgi.Connection(str(sock))

        def send():
            try:
                c.sock.sendall(msg)
            except OSError:
                pass    # the worker closed after answering

        t0 = time.monotonic()
        threading.Thread(target=send, daemon=True).start()
        out = b""
        while True:
            rec = c._read_record()
            assert rec is not None, "closed without an answer"
            if rec[0] == 6:
                out += rec[2]
            if rec[0] == 3:
                break
        elapsed = time.monotonic() - t0
        c.close()
        head, _, text = out.partition(b"\r\n\r\n")
        if expect == "body_too_large":
            assert b"Status: 413" in head, out[:300]
            assert json.loads(text)["error"]["code"] == "body_too_large"
        else:
            assert b"Status: 413" not in head, out[:300]
            assert json.loads(text)["error"]["code"] in ("extension_not_allowed", "invalid_request"), out[:300]
        # Order, not speed: the answer came before the worker's 30 s arrival timeout could have
        # ended the request (a body it waited for would be cut only then).
        assert elapsed < ARRIVAL_TIMEOUT, f"answered after {elapsed:.1f} s: by the arrival timeout, not at once"
        assert w.alive()
    finally:
        w.stop()
