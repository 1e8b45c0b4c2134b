"""lighttpd, Caddy and Apache mod_proxy_fcgi in front of one upsign worker, each configured from
its shipped example (deploy/*) rendered with the test's paths, in the foreground on a free
127.0.0.1 port from its own scratch folder (harness/frontend_stack.py puts a worker behind one)."""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from harness.apache import APACHE_PATH, MODULE_DIR, RUN_USER, write_htpasswd
from harness.http import RawResponse
from harness.processes import LOG_FILES, ROOT, free_port, record_response, scratch_dir, wait_tcp

# Two users: alice's password hash is Apache's MD5 (htpasswd -m), bob's bcrypt (htpasswd -B),
# the two formats the examples advise; Caddy has only bcrypt (caddy hash-password).
USERS = {"alice": "alice-Pw-3e1f", "bob": "bob-Pw-77c2"}

EXAMPLES = {
    "lighttpd": ROOT / "deploy" / "lighttpd" / "upsign.conf",
    "caddy": ROOT / "deploy" / "caddy" / "Caddyfile",
    "apache": ROOT / "deploy" / "apache" / "upsign-proxy-fcgi.conf",
}
# What the examples name for the operator, replaced by the test's own paths.
EXAMPLE_SOCKET = "/run/upsign/upsign.sock"
EXAMPLE_HTPASSWD = "/etc/upsign/htpasswd"
CADDY_SITE = "upload.example.com"
CADDY_USER_LINE = "alice REPLACE_WITH_THE_OUTPUT_OF_caddy_hash-password"


def render(example: Path, subs: dict[str, str]) -> str:
    """The example with each key replaced by its value; a key the example no longer contains
    fails the test (the substitutions must follow the example, never silently miss)."""
    text = example.read_text()
    for k in sorted(subs, key=len, reverse=True):
        assert k in text, f"{example} no longer contains {k!r}: update the substitutions in {__file__}"
        text = text.replace(k, subs[k])
    return text


def basic(user: str, password: str | None = None) -> str:
    password = USERS[user] if password is None else password
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --------------------------------------------------------------------------------------------
# The front ends


class FrontEnd:
    """One front end in the foreground, on a free 127.0.0.1 port, configured from its shipped
    example in its own scratch folder; its output and error log are kept for the assertions."""

    name = "front end"

    def __init__(self, sock: Path):
        self.sock = sock
        self.dir = scratch_dir(f"usfe-{self.name}")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.out_path = self.dir / f"{self.name}.out"
        self.error_log_path = self.dir / f"{self.name}-error.log"
        LOG_FILES.extend([self.out_path, self.error_log_path])   # the secret scan reads them
        self.proc: subprocess.Popen | None = None

    # subclasses: write the configuration, return the argv and environment
    def prepare(self) -> tuple[list[str], dict]:
        raise NotImplementedError

    def start(self) -> None:
        argv, env = self.prepare()
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

        def check():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited rc={self.proc.returncode}:\n{self.error_log()}")

        wait_tcp("127.0.0.1", self.port, proc_check=check)

    def error_log(self, tail: int = 4000) -> str:
        out = self.out_path.read_text(errors="replace") if self.out_path.exists() else ""
        log = self.error_log_path.read_text(errors="replace") if self.error_log_path.exists() else ""
        return f"--- {self.name} output ---\n{out[-tail:]}\n--- {self.name} error log ---\n{log[-tail:]}"

    def error_log_size(self) -> tuple[int, int]:
        return tuple(p.stat().st_size if p.exists() else 0 for p in (self.out_path, self.error_log_path))

    def error_log_since(self, sizes: tuple[int, int]) -> list[str]:
        """The lines the front end logged (output and error log) after error_log_size()."""
        lines = []
        for p, start in zip((self.out_path, self.error_log_path), sizes):
            if p.exists():
                with open(p, "rb") as f:
                    f.seek(start)
                    lines += f.read().decode(errors="replace").splitlines()
        return [line for line in lines if line.strip()]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method: str, path: str, *, auth: str | None = None, headers: dict | None = None,
                data: str | None = None) -> RawResponse:
        """One request on its own connection; `auth` is the Authorization header's value."""
        h = dict(headers or {})
        if auth is not None:
            h["Authorization"] = auth
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=data.encode() if data is not None else None, headers=h)
            resp = conn.getresponse()
            r = RawResponse.of(resp, resp.read())
        finally:
            conn.close()
        record_response(f"{self.name} {method} {path[:80]}", r)
        return r

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._out.close()


class Lighttpd(FrontEnd):
    """lighttpd -D with a main configuration that includes the rendered example, as Debian's
    lighttpd.conf includes conf-enabled/50-upsign.conf."""

    name = "lighttpd"

    def prepare(self):
        lighttpd = shutil.which("lighttpd", path=APACHE_PATH)
        if not lighttpd:
            pytest.fail("lighttpd not installed (deploy/install-deps.sh installs it)")
        htpasswd = self.dir / "htpasswd"
        write_htpasswd(htpasswd, USERS, bcrypt=("bob",), group=RUN_USER, mode=0o640)
        example = self.dir / "50-upsign.conf"
        example.write_text(render(EXAMPLES["lighttpd"], {
            EXAMPLE_SOCKET: str(self.sock), EXAMPLE_HTPASSWD: str(htpasswd)}))
        (self.dir / "htdocs").mkdir()
        conf = self.dir / "lighttpd.conf"
        conf.write_text(f"""\
# Written by the integration suite (harness/frontends.py); nothing here comes from /etc/lighttpd.
server.document-root = "{self.dir}/htdocs"
server.bind = "127.0.0.1"
server.port = {self.port}
server.errorlog = "{self.error_log_path}"
server.pid-file = "{self.dir}/lighttpd.pid"
server.upload-dirs = ( "{self.dir}" )
include "{example}"
""")
        t = subprocess.run([lighttpd, "-tt", "-f", str(conf)], capture_output=True, text=True, timeout=30)
        assert t.returncode == 0, f"lighttpd -tt refused {conf}:\n{t.stdout}{t.stderr}"
        return [lighttpd, "-D", "-f", str(conf)], {"PATH": APACHE_PATH, "LANG": "C"}


class Caddy(FrontEnd):
    """caddy run with the rendered example: the site address becomes http://127.0.0.1:PORT, the
    placeholder user line two real users (hashes from `caddy hash-password`), and a global
    options block in front turns the admin endpoint off (the example keeps Caddy's default,
    which `systemctl reload caddy` needs; one fixed port would clash between test runs)."""

    name = "caddy"

    def prepare(self):
        caddy = shutil.which("caddy", path=APACHE_PATH)
        if not caddy:
            pytest.fail("caddy not installed (deploy/install-deps.sh installs it)")
        env = {"PATH": APACHE_PATH, "LANG": "C", "HOME": str(self.dir),
               "XDG_DATA_HOME": str(self.dir / "data"), "XDG_CONFIG_HOME": str(self.dir / "config")}
        users = []
        for user, password in USERS.items():
            h = subprocess.run([caddy, "hash-password", "--plaintext", password], env=env,
                               capture_output=True, text=True, timeout=60)
            assert h.returncode == 0 and h.stdout.strip(), f"caddy hash-password: {h.stdout}{h.stderr}"
            users.append(f"{user} {h.stdout.strip()}")
        site = render(EXAMPLES["caddy"], {
            CADDY_SITE: f"http://127.0.0.1:{self.port}", EXAMPLE_SOCKET: str(self.sock),
            CADDY_USER_LINE: "\n\t\t\t".join(users)})
        conf = self.dir / "Caddyfile"
        conf.write_text("# Written by the integration suite (harness/frontends.py): global options, then "
                        "deploy/caddy/Caddyfile rendered.\n{\n\tadmin off\n}\n\n" + site)
        return [caddy, "run", "--config", str(conf), "--adapter", "caddyfile"], env


# Why not Debian's stock mpm_event.conf (2 to 6 children of 25 threads, MaxRequestWorkers 150):
# under wrk -c256 that Apache closes clients' kept-alive connections by itself, which wrk counts
# as read errors, even for a static file Apache serves alone: measured thousands in 5 s (still
# 2 to 29 with every child started up front and MaxKeepAliveRequests 0; children coming
# and going, and a child's limit on connections, are the likely causes). With one child of 320
# threads: none. The load test must see upsign's errors, not those. The pool of connections to
# upsign is per child, up to ThreadsPerChild: here up to 320, against upsign's 64 threads.
APACHE_MAIN = """\
# Written by the integration suite (harness/frontends.py); nothing here comes from /etc/apache2.
ServerRoot "{dir}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{dir}/run/httpd.pid"
DefaultRuntimeDir "{dir}/run"
ErrorLog "{error_log}"
LogLevel warn
{user_lines}
{load_lines}
# One child with a thread for each of wrk's 256 connections, and spare (see harness/frontends.py)
StartServers            1
ServerLimit             1
ThreadLimit             320
ThreadsPerChild         320
MaxRequestWorkers       320
MinSpareThreads         1
MaxSpareThreads         320
MaxConnectionsPerChild  0
KeepAlive On
DocumentRoot "{dir}/htdocs"
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<VirtualHost 127.0.0.1:{port}>
    ServerName 127.0.0.1
    Include "{example}"
</VirtualHost>
"""
# What the example's install notes enable (a2enmod proxy proxy_fcgi auth_basic authn_file
# authz_user env), plus the MPM and the two modules Debian always has on.
APACHE_MODULES = ["mpm_event", "authn_core", "authz_core", "proxy", "proxy_fcgi", "auth_basic",
                  "authn_file", "authz_user", "env"]


class ApacheProxyFcgi(FrontEnd):
    """apache2 -DFOREGROUND from its own ServerRoot, the rendered example Included in a
    <VirtualHost> as its notes say, one event-MPM child of 320 threads; runs as www-data."""

    name = "apache"

    def prepare(self):
        apache = shutil.which("apache2", path=APACHE_PATH)
        if not apache:
            pytest.fail("apache2 not installed (deploy/install-deps.sh installs it)")
        for m in APACHE_MODULES:
            if not (MODULE_DIR / f"mod_{m}.so").exists():
                pytest.fail(f"{MODULE_DIR}/mod_{m}.so missing (apache2)")
        (self.dir / "run").mkdir()
        (self.dir / "htdocs").mkdir()
        htpasswd = self.dir / "htpasswd"
        write_htpasswd(htpasswd, USERS, bcrypt=("bob",), group=RUN_USER, mode=0o640)
        example = self.dir / "upsign-proxy-fcgi.conf"
        example.write_text(render(EXAMPLES["apache"], {
            EXAMPLE_SOCKET: str(self.sock), EXAMPLE_HTPASSWD: str(htpasswd)}))
        loads = "\n".join(f"LoadModule {m}_module {MODULE_DIR}/mod_{m}.so" for m in APACHE_MODULES)
        users = f"User {RUN_USER}\nGroup {RUN_USER}" if os.geteuid() == 0 else ""
        conf = self.dir / "httpd.conf"
        conf.write_text(APACHE_MAIN.format(dir=self.dir, port=self.port, error_log=self.error_log_path,
                                           user_lines=users, load_lines=loads, example=example))
        env = {"PATH": APACHE_PATH, "LANG": "C"}
        argv = [apache, "-d", str(self.dir), "-f", str(conf)]
        t = subprocess.run(argv + ["-t"], env=env, capture_output=True, text=True, timeout=30)
        assert t.returncode == 0, f"apache2 -t refused {conf}:\n{t.stdout}{t.stderr}"
        return argv + ["-DFOREGROUND"], env


FRONT_END_CLASSES = {"lighttpd": Lighttpd, "caddy": Caddy, "apache": ApacheProxyFcgi}
