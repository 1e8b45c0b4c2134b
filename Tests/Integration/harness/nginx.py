"""A private nginx on a free 127.0.0.1 port in front of one FastCGI upstream, as
nginx.conf.example sets it up (kept connections, the stock fastcgi_params, the identity from the
X-Test-User header), with its error and access logs in a scratch folder."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess

from harness.processes import FASTCGI_PARAMS, free_port, scratch_dir, wait_tcp


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes {workers};
{user_line}
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections {worker_connections}; }}
http {{
    log_format upsign '$status $upstream_status $request_method "$request_uri" $request_id';
    access_log {dir}/access.log upsign;
    client_body_temp_path {dir}/client_body;
    fastcgi_temp_path {dir}/fastcgi;
    proxy_temp_path {dir}/proxy;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream upsign {{
        server {upstream};
        keepalive {keepalive};
    }}
    server {{
        listen 127.0.0.1:{port} backlog={backlog};
        location / {{
            fastcgi_pass upsign;
            fastcgi_keep_conn on;
            include {fastcgi_params};
            fastcgi_param UPSIGN_USER $http_x_test_user;
            fastcgi_param REQUEST_ID $request_id;
            {extra_location}
        }}
    }}
}}
"""


class Nginx:
    """A private nginx on a free 127.0.0.1 port, proxying everything to one FastCGI upstream."""

    def __init__(self, upstream: str, keepalive: int = 16, extra_location: str = "", workers: int = 1,
                 worker_connections: int = 1024, backlog: int = 511, user: str | None = None):
        self.dir = scratch_dir("usngx")
        self.port = free_port()
        conf = NGINX_CONF.format(
            dir=self.dir, port=self.port, upstream=upstream, keepalive=keepalive, workers=workers,
            worker_connections=worker_connections, backlog=backlog,
            fastcgi_params=FASTCGI_PARAMS, extra_location=extra_location,
            user_line=f"user {user};" if user else "user root;" if os.geteuid() == 0 else "")
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(conf)
        self._log = open(self.dir / "nginx.out", "wb")
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(self.dir), "-c", str(self.conf), "-e", str(self.dir / "error.log")],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)

        def check():
            if self.proc.poll() is not None:
                raise AssertionError(f"nginx exited rc={self.proc.returncode}: {self.error_log()}")

        wait_tcp("127.0.0.1", self.port, proc_check=check)
        self.base = f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base + path

    def error_log(self) -> str:
        p = self.dir / "error.log"
        out = (self.dir / "nginx.out").read_text(errors="replace")
        return out + (p.read_text(errors="replace")[-4000:] if p.exists() else "")

    def error_lines(self, pattern: str) -> list[str]:
        """Lines of nginx's error log that match `pattern`."""
        p = self.dir / "error.log"
        if not p.exists():
            return []
        return [line for line in p.read_text(errors="replace").splitlines() if re.search(pattern, line)]

    def access_statuses(self) -> list[tuple[str, str]]:
        """(status sent to the client, $upstream_status) per logged request; the upstream
        status lists every attempt, e.g. "502, 200" when nginx retried."""
        p = self.dir / "access.log"
        if not p.exists():
            return []
        rows = []
        for line in p.read_text().splitlines():
            m = re.match(r'^(\d{3}) (.*?) [A-Z]+ "', line)
            if m:
                rows.append((m.group(1), m.group(2)))
        return rows

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
