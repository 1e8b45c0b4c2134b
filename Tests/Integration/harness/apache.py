"""A private Apache httpd 2.4 (event MPM) for the suite: its own ServerRoot in a scratch folder
(nothing from /etc/apache2), in the foreground on a free 127.0.0.1 port, as www-data when the
suite runs as root; requests per virtual host with Basic credentials; mod_fcgid's process log;
and at stop, every process of it (httpd, mod_fcgid's and CGI's upsign) found and reported."""

from __future__ import annotations

import base64
import grp
import http.client
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.http import RawResponse
from harness.processes import LOG_FILES, free_port, record_response, scratch_dir, wait_tcp

MODULE_DIR = Path("/usr/lib/apache2/modules")
RUN_USER = RUN_GROUP = "www-data"
APACHE_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def world_readable_dir(prefix: str) -> Path:
    """A scratch folder the web server's user can read (Apache's children run as www-data)."""
    d = scratch_dir(prefix)
    os.chmod(d, 0o755)
    return d


def write_htpasswd(path: Path, passwords: dict[str, str], *, bcrypt: tuple[str, ...] = (),
                   group: str | None = None, mode: int = 0o644) -> Path:
    """An htpasswd file (htpasswd -m, Apache's MD5; -B, bcrypt, for the users in `bcrypt`),
    owned by root:`group` when given, with `mode`."""
    path.write_text("")
    for user, pw in passwords.items():
        flag = "-B" if user in bcrypt else "-m"
        subprocess.run(["htpasswd", "-b", flag, str(path), user, pw], check=True,
                       capture_output=True, timeout=30)
    if group is not None:
        os.chown(path, 0, grp.getgrnam(group).gr_gid)
    os.chmod(path, mode)
    return path


def auth_block(htpasswd: Path) -> str:
    return f"""AuthType Basic
        AuthName "upload"
        AuthBasicProvider file
        AuthUserFile "{htpasswd}"
        Require valid-user"""


# --------------------------------------------------------------------------------------------
# A private Apache

APACHE_CONF = """\
# Written by the integration suite (harness/apache.py); nothing here comes from /etc/apache2.
ServerRoot "{dir}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile "{dir}/run/httpd.pid"
DefaultRuntimeDir "{dir}/run"
ErrorLog "{dir}/error.log"
LogLevel {log_level}
LogFormat "%v %>s \\"%r\\" %D" upsign
CustomLog "{dir}/access.log" upsign
{user_lines}
{load_lines}
StartServers 1
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 8
MaxSpareThreads 64
Timeout 30
KeepAlive On
DocumentRoot "{dir}/htdocs"
<Directory />
    Options FollowSymLinks
    AllowOverride None
    Require all denied
</Directory>
<Files ".ht*">
    Require all denied
</Files>
<IfModule cgid_module>
    ScriptSock "{dir}/run/cgid.sock"
</IfModule>
<IfModule mime_module>
    TypesConfig /dev/null
</IfModule>
<IfModule fcgid_module>
    FcgidIPCDir "{dir}/run/fcgid"
    FcgidProcessTableFile "{dir}/run/fcgid_shm"
</IfModule>

{body}
"""


class Apache:
    """A private Apache httpd (event MPM) in the foreground on a free 127.0.0.1 port; its
    folder (ServerRoot, logs, sockets) is a scratch folder that also marks its processes."""

    def __init__(self, name: str = "apache", passwords: dict[str, str] | None = None):
        self.name = name
        self.passwords = passwords or {}
        self.dir = world_readable_dir("usapa")
        (self.dir / "run").mkdir()
        (self.dir / "htdocs").mkdir(mode=0o755)
        self.port = free_port_distinct()
        self.proc: subprocess.Popen | None = None
        self.conf = self.dir / "httpd.conf"
        self.error_log_path = self.dir / "error.log"
        LOG_FILES.append(self.error_log_path)   # the end-of-suite secret scan reads it

    def write(self, body: str, modules: list[str]) -> None:
        loads = "\n".join(f"LoadModule {m}_module {MODULE_DIR}/mod_{m}.so" for m in modules)
        users = f"User {RUN_USER}\nGroup {RUN_GROUP}" if os.geteuid() == 0 else ""
        # mod_fcgid logs its process starts and exits at info level
        log_level = "warn fcgid:info" if "fcgid" in modules else "warn"
        self.conf.write_text(APACHE_CONF.format(dir=self.dir, port=self.port, user_lines=users,
                                                load_lines=loads, log_level=log_level, body=body))

    def argv(self, *extra: str) -> list[str]:
        return [apache_bin(), "-d", str(self.dir), "-f", str(self.conf), *extra]

    def configtest(self, defines: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(*[f"-D{d}" for d in defines], "-t"), env=apache_env(),
                              capture_output=True, text=True, timeout=30)

    def start(self, defines: tuple[str, ...] = ()) -> None:
        t = self.configtest(defines)
        assert t.returncode == 0, f"apache2 -t refused {self.conf}:\n{t.stdout}{t.stderr}"
        self._out = open(self.dir / "apache.out", "wb")
        self.proc = subprocess.Popen(self.argv(*[f"-D{d}" for d in defines], "-DFOREGROUND"),
                                     env=apache_env(), stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)

        def check():
            if self.proc.poll() is not None:
                raise AssertionError(f"apache exited rc={self.proc.returncode}: {self.error_log()}")

        wait_tcp("127.0.0.1", self.port, proc_check=check)

    def error_log(self, tail: int = 6000) -> str:
        out = (self.dir / "apache.out").read_text(errors="replace") if (self.dir / "apache.out").exists() else ""
        log = self.error_log_path.read_text(errors="replace") if self.error_log_path.exists() else ""
        return (out + log)[-tail:]

    def request(self, host: str, method: str, path: str, *, user: str | None = None,
                headers: dict | None = None, data: str | bytes | None = None,
                timeout: float = 30) -> RawResponse:
        """One request on its own connection, the path sent byte for byte, Host naming the
        virtual host, Basic credentials for `user` from the passwords given."""
        h = {"Host": host, **(headers or {})}
        if user is not None:
            token = base64.b64encode(f"{user}:{self.passwords[user]}".encode()).decode()
            h["Authorization"] = f"Basic {token}"
        body = data.encode() if isinstance(data, str) else data
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            r = RawResponse.of(resp, resp.read())
        finally:
            conn.close()
        record_response(f"apache {host} {method} {path[:80]}", r)
        return r

    def our_processes(self) -> list[tuple[int, str]]:
        """Every process whose command line or environment names this Apache's folder: the
        httpd processes, mod_fcgid's upsign processes (--config in the folder), CGI processes
        (UPSIGN_CONFIG or a wrapper in the folder)."""
        marker = str(self.dir).encode()
        found = []
        for p in Path("/proc").iterdir():
            if not p.name.isdigit() or int(p.name) == os.getpid():
                continue
            try:
                cmd = (p / "cmdline").read_bytes()
                env = (p / "environ").read_bytes()
            except OSError:
                continue
            if marker in cmd or marker in env:
                found.append((int(p.name), cmd.replace(b"\0", b" ").decode(errors="replace")[:200]))
        return found

    def stop(self) -> list[tuple[int, str]]:
        """SIGTERM (Apache stops its children, mod_fcgid its processes); returns the processes
        still there 10 s later, after killing them."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.proc is not None:
            self._out.close()
        deadline = time.monotonic() + 10
        left = self.our_processes()
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = self.our_processes()
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return left

    # mod_fcgid's process log (LogLevel fcgid:info)
    def fcgid_started(self) -> dict[int, str]:
        """pid → virtual host of every upsign process mod_fcgid started."""
        return {int(m.group(2)): m.group(1) for m in re.finditer(
            r"mod_fcgid: server ([^:\s]+):.+?\((\d+)\) started", self.error_log(tail=10**7))}

    def fcgid_exits(self) -> list[dict]:
        rows = []
        for line in self.error_log(tail=10**7).splitlines():
            m = re.search(r"mod_fcgid: process (.+)\((\d+)\) exit\(([^)]*)\), (.*)$", line)
            if m:
                rows.append({"pid": int(m.group(2)), "why": m.group(3), "how": m.group(4).strip()})
        return rows

    def sigkilled(self) -> set[int]:
        return {int(m.group(1)) for m in re.finditer(
            r"mod_fcgid: process (\d+) graceful kill fail, sending SIGKILL", self.error_log(tail=10**7))}


def apache_bin() -> str:
    b = shutil.which("apache2", path=APACHE_PATH)
    if not b:
        pytest.fail("apache2 not installed (deploy/install-deps.sh installs apache2 and "
                    "libapache2-mod-fcgid)")
    return b


def apache_env() -> dict:
    # Nothing of the test's environment (credentials in particular) reaches Apache or upsign
    # except what the configuration passes on.
    return {"PATH": APACHE_PATH, "LANG": "C"}


_used_ports: set[int] = set()


def free_port_distinct() -> int:
    while True:
        p = free_port()
        if p not in _used_ports:
            _used_ports.add(p)
            return p

