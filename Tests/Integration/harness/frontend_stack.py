"""One upsign worker (default thread count, unix socket) behind one front end of
harness/frontends.py, and upsign's request log read through marker requests: every request
answered before a marker is in the log once the marker is."""

from __future__ import annotations

import grp
import json
import os
import time

from harness.apache import RUN_USER
from harness.config import standard_profiles, write_config
from harness.credentials import cred_env
from harness.frontends import FRONT_END_CLASSES, USERS, FrontEnd, basic
from harness.processes import Worker, scratch_dir, serve_argv, wait_unix_socket


class FrontEndStack:
    """One upsign (default thread count, unix socket) behind one front end."""

    def __init__(self, kind: str):
        self.kind = kind
        self.dir = scratch_dir("usfe-up")
        os.chmod(self.dir, 0o755)   # Apache's children (www-data) reach the socket through it
        server = {"base_path": "/upload", "identity_param": "REMOTE_USER", "max_body": 1024,
                  "default_profile": "avatar", "max_expires_in": 604800}   # no `threads`: the default
        self.profiles = standard_profiles()
        self.config = write_config(self.dir, server=server, profiles=self.profiles)
        self.sock = self.dir / "upsign.sock"
        self.worker = Worker(serve_argv(self.config, listen=f"unix:{self.sock}"),
                                     cred_env(), name=f"frontend-{kind}", log_dir=self.dir)
        self.fe: FrontEnd | None = None
        self._marks = 0
        try:
            wait_unix_socket(self.sock, self.worker)
            # root:www-data 0660, as upsign.socket makes it (lighttpd and Caddy run as root here)
            os.chown(self.sock, 0, grp.getgrnam(RUN_USER).gr_gid)
            self.fe = FRONT_END_CLASSES[kind](self.sock)
            self.fe.start()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.fe is not None:
            self.fe.stop()
        self.worker.stop()

    def logs(self) -> str:
        return f"{self.fe.error_log()}\n--- upsign ---\n{self.worker.log()[-3000:]}"

    def request_lines(self) -> list[dict]:
        """upsign's request log lines (one JSON object per answered request)."""
        rows = []
        for line in self.worker.log().splitlines():
            if line.startswith("{"):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if row.get("msg") == "request":
                    rows.append(row)
        return rows

    def mark(self) -> int:
        """A marker request upsign logs with its path (an unknown route, logged with
        request.path). Returns the marker line's index once it is in upsign's log: every request
        answered before the marker is logged by then (the log writer writes every thread's
        pending lines at once)."""
        self._marks += 1
        path = f"/upload/mark-{self._marks}"
        r = self.fe.request("GET", path, auth=basic("alice"))
        assert r.status_code == 404 and r.text.startswith("{"), \
            f"marker {path}: {r.status_code} {r.text[:200]}\n{self.logs()}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            for i, row in enumerate(self.request_lines()):
                if row.get("request.path") == path:
                    return i
            time.sleep(0.02)
        raise AssertionError(f"marker {path} never reached upsign's log\n{self.logs()}")

    def settle(self) -> int:
        """Two markers: after the first is in the log, nothing earlier is still pending, so only
        requests made after settle() can follow the second one."""
        self.mark()
        return self.mark()

    def lines_since(self, start: int) -> list[dict]:
        """The request lines logged after index `start` (from settle()), markers left out, once a
        closing marker is in the log. Lines of requests answered by different upsign threads
        may be written in any order within one write, so callers compare them sorted."""
        self.mark()
        return [row for row in self.request_lines()[start + 1:]
                if not str(row.get("request.path", "")).startswith("/upload/mark-")]

    def assert_every_policy_request_had_a_user(self) -> None:
        anonymous = [row for row in self.request_lines()
                     if row.get("route") == "policy" and row.get("user") not in USERS]
        assert not anonymous, (f"{self.kind}: upsign answered policy requests without a logged-in "
                               f"user: {anonymous[:3]}\n{self.logs()}")
