"""The repository's nginx.conf.example is a complete nginx.conf that `nginx -t` accepts."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

import helpers

EXAMPLE = helpers.ROOT / "nginx.conf.example"


@pytest.fixture(scope="module")
def example_text():
    assert EXAMPLE.is_file(), f"{EXAMPLE} is missing"
    return EXAMPLE.read_text()


def test_nginx_t_accepts_example(nginx_bin, example_text, tmp_path):
    openssl = shutil.which("openssl")
    assert openssl, "openssl not installed"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=upload.example.com", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)

    text = example_text
    assert re.search(r"^\s*ssl_certificate\s+\S+;", text, re.M), "no ssl_certificate line"
    assert re.search(r"^\s*ssl_certificate_key\s+\S+;", text, re.M), "no ssl_certificate_key line"
    text = re.sub(r"^(\s*ssl_certificate)\s+\S+;", rf"\1 {cert};", text, flags=re.M)
    text = re.sub(r"^(\s*ssl_certificate_key)\s+\S+;", rf"\1 {key};", text, flags=re.M)
    text = re.sub(r"unix:[^;\s]+", f"unix:{tmp_path}/upsign.sock", text)
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    proc = subprocess.run([nginx_bin, "-t", "-c", str(conf), "-e", str(tmp_path / "error.log")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"nginx -t failed:\n{proc.stdout}{proc.stderr}"
    assert "test is successful" in proc.stderr + proc.stdout


def test_example_passes_identity_and_keeps_connections(example_text):
    """The contract's defaults: identity in the UPSIGN_USER param, fastcgi_keep_conn on,
    the stock fastcgi_params included, an upstream with keepalive."""
    live = "\n".join(line.split("#", 1)[0] for line in example_text.splitlines())
    assert re.search(r"fastcgi_param\s+UPSIGN_USER\s", live), "UPSIGN_USER is never set"
    assert re.search(r"fastcgi_keep_conn\s+on\s*;", live)
    assert re.search(r"include\s+/etc/nginx/fastcgi_params\s*;", live)
    assert re.search(r"upstream\s+\w+\s*\{[^}]*keepalive\s+\d+\s*;", live, re.S)


def test_example_lets_nginx_retry_post_on_a_closed_kept_alive_connection(example_text):
    """When a worker stops (restart, deploy) it closes its idle kept-alive connections, racing
    nginx reusing one of them. nginx retries such a request on another connection only for
    GET unless told `non_idempotent`; test_shutdown measured 6-16 failed POSTs (502) per worker
    restart under load without it. Signing a policy is safe to repeat."""
    live = "\n".join(line.split("#", 1)[0] for line in example_text.splitlines())
    m = re.search(r"fastcgi_next_upstream\s+([^;]*);", live)
    assert m and "non_idempotent" in m.group(1).split(), \
        "nginx.conf.example should set `fastcgi_next_upstream error timeout non_idempotent;`"


# ---------------------------------------------------------------------------------------------
# The example, run for real: TLS, auth_request to a stand-in app, the worker behind it.


class _App:
    """Stand-in for the site's application: answers the session check."""

    def __init__(self):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/auth/session") and "session=good" in self.headers.get("Cookie", ""):
                    self.send_response(200)
                    self.send_header("X-User", "alice")
                else:
                    self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def example_running(nginx_bin, example_text, std_config, tmp_path_factory):
    import time
    tmp = helpers.scratch_dir("usexm")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=upload.example.com", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    sock = tmp / "upsign.sock"
    worker = helpers.Worker(helpers.serve_argv(std_config, listen=f"unix:{sock}"),
                            helpers.cred_env(), name="example", log_dir=tmp)
    helpers.wait_unix_socket(sock, worker)
    app = _App()
    ports = {}

    def listen(m):
        if m.group(1):            # [::]:PORT: IPv6 twin of a listen line, dropped here
            return ""
        port = ports.setdefault(m.group(2), helpers.free_port())
        return f"listen 127.0.0.1:{port}{m.group(3)};"

    text = example_text
    text = re.sub(r"listen\s+(\[::\]:)?(\d+)([^;]*);", listen, text)
    text = re.sub(r"^(\s*ssl_certificate)\s+\S+;", rf"\1 {cert};", text, flags=re.M)
    text = re.sub(r"^(\s*ssl_certificate_key)\s+\S+;", rf"\1 {key};", text, flags=re.M)
    text = re.sub(r"unix:[^;\s]+", f"unix:{sock}", text)
    text = re.sub(r"server\s+127\.0\.0\.1:8000\s*;", f"server 127.0.0.1:{app.port};", text)
    text = re.sub(r"^\s*user\s+[^;]+;", "user root;", text, flags=re.M)
    text = re.sub(r"^\s*pid\s+[^;]+;", f"pid {tmp}/nginx.pid;", text, flags=re.M)
    text = re.sub(r"(error_log)\s+[^;\s]+", rf"\1 {tmp}/error.log", text)
    text = re.sub(r"(access_log)\s+[^;\s]+", rf"\1 {tmp}/access.log", text)
    text = re.sub(r"^(\s*)(daemon|master_process)\s+[^;]+;", "", text, flags=re.M)
    text = "daemon off;\n" + text
    conf = tmp / "nginx.conf"
    conf.write_text(text)
    proc = subprocess.Popen([nginx_bin, "-c", str(conf), "-e", str(tmp / "error.log")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    tls_port = ports.get("443")
    try:
        assert tls_port, f"no `listen 443` in the example: {sorted(ports)}"

        def check():
            if proc.poll() is not None:
                raise AssertionError(f"nginx (example) exited: {proc.stderr.read().decode()}")

        helpers.wait_tcp("127.0.0.1", tls_port, proc_check=check)
        time.sleep(0.2)
        yield f"https://127.0.0.1:{tls_port}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)
        app.stop()
        worker.stop()


def _get(url, **kw):
    import requests
    import urllib3
    urllib3.disable_warnings()
    r = requests.get(url, verify=False, timeout=10, **kw)
    helpers.record_response("example", r)
    return r


def test_example_signs_for_the_authenticated_user(example_running, std_profiles):
    import time
    t0 = time.time()
    r = _get(example_running + "/upload/policy?filename=me.png",
             headers={"Cookie": "session=good", "X-User": "mallory", "Upsign-User": "mallory"})
    assert r.status_code == 200, r.text
    helpers.check_signed(r.json(), fmt="java", prof=std_profiles["avatar"], profile_name="avatar",
                         user="alice", filename="me.png", now_window=(t0, time.time()))


def test_example_refuses_without_session(example_running):
    r = _get(example_running + "/upload/policy?filename=me.png",
             headers={"X-User": "mallory", "Upsign-User": "mallory"})
    helpers.assert_http_error(r, "identity_required")


def test_example_healthz_metrics_and_unknown_route(example_running):
    r = _get(example_running + "/upload/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok", r.text
    m = _get(example_running + "/upload/metrics")
    assert m.status_code == 200, m.text
    assert m.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert re.search(r'^upsign_requests_total\{route="healthz",profile="",status="200"\} 1$', m.text, re.M), m.text
    helpers.assert_http_error(_get(example_running + "/upload/nope"), "not_found")


def test_example_restricts_health_and_metrics_to_this_host(example_text):
    live = "\n".join(line.split("#", 1)[0] for line in example_text.splitlines())
    m = re.search(r"location\s+~\s+\^/upload/\(healthz\|metrics\)\$\s*\{([^}]*)\}", live)
    assert m, "no location for /upload/healthz and /upload/metrics"
    body = m.group(1)
    assert re.search(r"allow\s+127\.0\.0\.1;", body) and re.search(r"deny\s+all;", body), body
