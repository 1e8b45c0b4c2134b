"""The processes under test and what they leave behind: `upsign serve` workers (stderr to a log
file), the CLI, scratch folders, free ports, waits for a socket, the worker's JSON log lines and
descriptors; and the session's record of every output, log file and answer body, which the
secret scan at the end of the suite reads (test_zz_secrets)."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from harness.credentials import clean_env, cred_env

ROOT = Path(__file__).resolve().parents[3]
UPSIGN_BIN = os.environ.get("UPSIGN_BIN") or str(ROOT / ".build" / "debug" / "upsign")
FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"

# Everything a worker or the CLI printed during the session, for the secret scan at the end.
CAPTURED_OUTPUT: list[tuple[str, str]] = []   # (label, text)
LOG_FILES: list[Path] = []
RESPONSE_BODIES: list[tuple[str, bytes]] = []


SCRATCH_DIRS: list[Path] = []


def scratch_dir(prefix: str = "us") -> Path:
    """A short directory under /tmp (unix socket paths must stay below 108 bytes); removed at
    the end of the session (conftest) unless UPSIGN_KEEP_TMP=1."""
    d = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir="/tmp"))
    SCRATCH_DIRS.append(d)
    return d


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_pair() -> int:
    """A port p such that p and p+1 (the demo's local store) are both free on 127.0.0.1."""
    for _ in range(50):
        p = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p + 1))
                return p
            except OSError:
                continue
    raise AssertionError("no two adjacent free ports")


def run_cli(args: list[str], env: dict | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run `upsign ARGS`, record its output for the secret scan."""
    proc = subprocess.run([UPSIGN_BIN, *args], env=env if env is not None else cred_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    CAPTURED_OUTPUT.append((f"cli {args[:1]} stdout", proc.stdout))
    CAPTURED_OUTPUT.append((f"cli {args[:1]} stderr", proc.stderr))
    return proc


def check_config(path) -> subprocess.CompletedProcess:
    """`upsign check-config --config PATH` without any credential in the environment."""
    return run_cli(["check-config", "--config", str(path)], env=clean_env())


def output_lines(proc) -> list[str]:
    """The non-blank lines a process printed, stdout then stderr."""
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]


_log_counter = itertools.count()


class Worker:
    """An `upsign serve` process (or a launcher that execs it), stderr captured to a file."""

    def __init__(self, argv: list[str], env: dict, *, stdin=None, name: str = "worker",
                 log_dir: Path | None = None):
        log_dir = log_dir or scratch_dir("uslog")
        self.log_path = Path(log_dir) / f"{name}-{next(_log_counter)}.stderr.log"
        self.out_path = Path(log_dir) / f"{name}-{next(_log_counter)}.stdout.log"
        LOG_FILES.extend([self.log_path, self.out_path])
        self._err = open(self.log_path, "wb")
        self._out = open(self.out_path, "wb")
        self.argv = argv
        self.proc = subprocess.Popen(argv, env=env, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err, start_new_session=True)
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        self._err.flush()
        return self.log_path.read_text(errors="replace")

    def describe(self) -> str:
        return (f"argv={self.argv} rc={self.proc.poll()}\n--- stderr ---\n{self.log()[-4000:]}"
                f"\n--- stdout ---\n{self.out_path.read_text(errors='replace')[-2000:]}")

    def terminate(self, timeout: float = 10.0) -> tuple[int | None, float]:
        """SIGTERM; returns (exit code or None if still running after timeout, seconds)."""
        t0 = time.monotonic()
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        return rc, time.monotonic() - t0

    def stop(self) -> None:
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        self._err.close()
        self._out.close()


def serve_argv(config: Path, listen: str | None = None, threads: int | None = None) -> list[str]:
    argv = [UPSIGN_BIN, "serve", "--config", str(config)]
    if listen:
        argv += ["--listen", listen]
    if threads:
        argv += ["--threads", str(threads)]
    return argv


def wait_unix_socket(path: Path, worker: Worker | None = None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker is not None and not worker.alive():
            raise AssertionError(f"worker exited before listening on {path}: {worker.describe()}")
        if Path(path).exists():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(path))
                return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.05)
    raise AssertionError(f"nothing listening on {path} after {timeout}s"
                         + (f": {worker.describe()}" if worker else ""))


def wait_tcp(host: str, port: int, proc_check=None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc_check is not None:
            proc_check()
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on {host}:{port} after {timeout}s")


def listening_unix_socket(path: Path, backlog: int = 128) -> socket.socket:
    """A listening unix socket created by the harness (as systemd or spawn-fcgi would)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(backlog)
    return s


def log_events(worker: Worker) -> list[dict]:
    """The worker's JSON log lines, parsed (lines that are not JSON are left out)."""
    out = []
    for line in worker.log().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def wait_log_event(worker: Worker, msg: str, timeout: float = 10.0) -> list[dict]:
    """The worker's log events once one with this `msg` is among them. The start-up lines are
    written after the socket listens, so a test that waited for the socket may be ahead of them."""
    deadline = time.monotonic() + timeout
    while True:
        events = log_events(worker)
        if any(e.get("msg") == msg for e in events):
            return events
        if time.monotonic() > deadline:
            raise AssertionError(f"no {msg!r} log line within {timeout} s:\n{worker.log()[-2000:]}")
        time.sleep(0.02)


def descriptor_targets(pid: int) -> dict[str, str]:
    """What each of a process's descriptors points at (fd number -> readlink text). A descriptor
    that closes while the list is read (the worker closes connections at any moment) is left out;
    a process that has gone gives an empty map."""
    out = {}
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return out
    for fd in fds:
        try:
            out[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
    return out


def socket_count(pid: int, besides: str | None = None) -> int:
    """Sockets the process holds, leaving out descriptor `besides` (its listening socket)."""
    return sum(1 for fd, target in descriptor_targets(pid).items()
               if fd != besides and target.startswith("socket:"))


def record_response(label: str, resp) -> None:
    RESPONSE_BODIES.append((label, resp.content))
    RESPONSE_BODIES.append((label + " headers", str(dict(resp.headers)).encode()))


# What a crash prints on a worker's stderr (Swift runtime, glibc, sanitizers).
CRASH_MARKERS = ("Program crashed", "Fatal error", "stack smashing", "Assertion", "Backtrace",
                 "Segmentation", "malloc(): ", "free(): ", "double free", "corrupted")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def crash_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if any(m in line for m in CRASH_MARKERS)]
