"""A tiny service supervisor doing what systemd does for upsign.socket + upsign.service with
Restart=always: it creates and holds the listening unix socket, starts the service with the
socket as fd 3 and LISTEN_FDS=1 / LISTEN_PID=<the service's pid>, and starts it again whenever it
exits, after a short delay. Connections that arrive while no service runs wait in the socket's
backlog (nginx never sees a refusal), as with systemd.

    python supervisor.py --socket /tmp/x/upsign.sock --state /tmp/x [--restart-delay 0.1] \\
        -- /path/to/upsign serve --config /path/to/upsign.toml

--state DIR receives:
  events.jsonl   one JSON object a line: {"event": "listening"|"start"|"exit"|"stopped", "pid",
                 "rc" (exit), "time" (time.time()), "mono" (time.monotonic(), CLOCK_MONOTONIC,
                 comparable with the tests' own time.monotonic())}
  worker.pid     the pid of the running service (replaced atomically at each start)
  worker.log     the services' stdout and stderr, appended, one "--- start pid N" line each

Signals to the supervisor: SIGTERM/SIGINT stop the service (SIGTERM, then SIGKILL after
--stop-timeout) and exit 0, removing the socket; SIGHUP is passed on to the service (ExecReload).
The service gets LISTEN_PID from a one-line shell wrapper that sets it to its own pid and execs the
service, so the pid is the service's (`sh -c 'LISTEN_PID=$$ ... exec "$@"'`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

LISTEN_FD = 3  # SD_LISTEN_FDS_START
WRAPPER = 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"'


class Supervisor:
    def __init__(self, args):
        self.args = args
        self.state = Path(args.state)
        self.state.mkdir(parents=True, exist_ok=True)
        self.stopping = False
        self.child: subprocess.Popen | None = None
        self.listener = self._listen(Path(args.socket), args.backlog)
        self.events = open(self.state / "events.jsonl", "a", buffering=1)
        self.log = open(self.state / "worker.log", "ab", buffering=0)
        self.event("listening", pid=os.getpid(), socket=args.socket)

    @staticmethod
    def _listen(path: Path, backlog: int) -> socket.socket:
        if path.exists() or path.is_symlink():
            path.unlink()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(path))
        os.chmod(path, 0o666)
        s.listen(backlog)
        if s.fileno() != LISTEN_FD:
            # The service must find the socket at fd 3; nothing else of ours may sit there.
            os.dup2(s.fileno(), LISTEN_FD, inheritable=True)
            s.close()
            s = socket.socket(fileno=LISTEN_FD)
        os.set_inheritable(LISTEN_FD, True)
        return s

    def event(self, name: str, **fields) -> None:
        fields.update(event=name, time=time.time(), mono=time.monotonic())
        self.events.write(json.dumps(fields) + "\n")

    def start(self) -> None:
        env = dict(os.environ)
        env["LISTEN_FDS"] = "1"
        env.pop("LISTEN_PID", None)
        env.pop("LISTEN_FDNAMES", None)
        self.child = subprocess.Popen(
            ["/bin/sh", "-c", WRAPPER, "upsign-activation", *self.args.command],
            env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            pass_fds=(LISTEN_FD,), close_fds=True)
        self.log.write(f"--- start pid {self.child.pid}\n".encode())
        pid_tmp = self.state / "worker.pid.tmp"
        pid_tmp.write_text(str(self.child.pid))
        os.replace(pid_tmp, self.state / "worker.pid")
        self.event("start", pid=self.child.pid)

    def on_stop_signal(self, signum, _frame) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            try:
                self.child.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def on_hup(self, _signum, _frame) -> None:
        if self.child is not None and self.child.poll() is None:
            try:
                self.child.send_signal(signal.SIGHUP)
            except ProcessLookupError:
                pass

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_stop_signal)
        signal.signal(signal.SIGINT, self.on_stop_signal)
        signal.signal(signal.SIGHUP, self.on_hup)
        while not self.stopping:
            self.start()
            if self.stopping:   # a stop signal between the check and the start
                self.child.send_signal(signal.SIGTERM)
            rc = self._wait_child()
            self.event("exit", pid=self.child.pid, rc=rc)
            if self.stopping:
                break
            # RestartSec: a short pause, so a service that cannot start does not spin.
            deadline = time.monotonic() + self.args.restart_delay
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(min(0.01, max(0.0, deadline - time.monotonic())))
        self.event("stopped", pid=os.getpid())
        try:
            os.unlink(self.args.socket)
        except FileNotFoundError:
            pass
        return 0

    def _wait_child(self) -> int:
        stop_deadline = None
        while True:
            try:
                return self.child.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                pass
            if self.stopping:
                if stop_deadline is None:
                    stop_deadline = time.monotonic() + self.args.stop_timeout
                elif time.monotonic() > stop_deadline:
                    self.child.kill()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--socket", required=True, help="path of the unix socket to create and hold")
    p.add_argument("--state", required=True, help="directory for events.jsonl, worker.pid, worker.log")
    p.add_argument("--restart-delay", type=float, default=0.1, help="seconds between an exit and the restart")
    p.add_argument("--stop-timeout", type=float, default=15.0, help="seconds before SIGKILL when stopping")
    p.add_argument("--backlog", type=int, default=1024, help="listen backlog (upsign.socket: 1024)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- the service's argv")
    args = p.parse_args(argv)
    if args.command and args.command[0] == "--":
        args.command = args.command[1:]
    if not args.command:
        p.error("no service command after --")
    return Supervisor(args).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
