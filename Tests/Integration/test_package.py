"""The Debian package on a Debian 12 with no Swift: installed by apt into a fresh debootstrapped
bookworm (a chroot), where upsign answers a signed policy through nginx.

Steps: the .deb from deploy/package-deb.sh (or $UPSIGN_DEB); a minimal bookworm made once by
debootstrap and kept in .build-deb/bookworm-root (remove the folder to make it anew), overlaid
per run (a copy where overlayfs is refused) so that each run starts clean; /proc and /dev mounted
in it; `apt-get install` of the .deb, nginx and man-db inside; then checks that no Swift is there,
that the files, conffile and man pages are installed, that `upsign check-config` passes on the
shipped configuration, and that a V4 native OSS profile answers through nginx's fastcgi_pass.
Everything started in the chroot is stopped and every mount unmounted at the end.

Skipped, with the reason, when not root or without debootstrap; any failure after that is a
failure (no skip). Self-contained (stdlib + pytest): no fixture of conftest.py or helpers.py.
Runtime (2 cores): debootstrap about 1 min the first time (52 s here; 2-4 min on a slow
mirror); then about 10 s per run (apt-get update and install from the Debian mirror), plus
deploy/package-deb.sh when $UPSIGN_DEB is not set (about 30 s once built, 5-6 min from nothing).

Environment: UPSIGN_DEB=path (a built .deb), UPSIGN_DEBIAN_MIRROR (default deb.debian.org),
UPSIGN_KEEP_TMP=1 (keep the run's folder, unmounted, for a look).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEB_DIR = ROOT / ".build-deb"
BASE_ROOT = DEB_DIR / "bookworm-root"
MIRROR = os.environ.get("UPSIGN_DEBIAN_MIRROR", "http://deb.debian.org/debian")
ACCESS_KEY_ID = "LTAI5tPackageTestKey"
ACCESS_KEY_SECRET = "package-test-secret-not-real"
USER = "pkg-user"
SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _debootstrap() -> str | None:
    return shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (debootstrap, chroot, mounts)"),
    pytest.mark.skipif(_debootstrap() is None,
                       reason="debootstrap not installed (apt-get install debootstrap; .ci/run does)"),
]


def run(argv: list[str], *, timeout: float, what: str, env: dict | None = None,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Runs argv; a non-zero exit or a timeout fails the test with the command's output."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{what}: timed out after {timeout:.0f} s: {argv}\n{e.stdout or ''}\n{e.stderr or ''}",
                    pytrace=False)
    if proc.returncode != 0:
        pytest.fail(f"{what}: exit {proc.returncode}: {argv}\n--- stdout\n{proc.stdout[-6000:]}\n"
                    f"--- stderr\n{proc.stderr[-6000:]}", pytrace=False)
    return proc


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below path, deepest first (from /proc/self/mountinfo)."""
    prefix = str(path)
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the package -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def deb() -> Path:
    given = os.environ.get("UPSIGN_DEB")
    if given:
        path = Path(given)
        if not path.is_file():
            pytest.fail(f"UPSIGN_DEB={given}: no such file", pytrace=False)
        return path
    proc = run(["bash", str(ROOT / "deploy" / "package-deb.sh")], timeout=3600,
               what="deploy/package-deb.sh")
    lines = proc.stdout.strip().splitlines()
    path = Path(lines[-1]) if lines else None
    if path is None or path.suffix != ".deb" or not path.is_file():
        pytest.fail(f"deploy/package-deb.sh printed no .deb path:\n{proc.stdout}\n{proc.stderr[-4000:]}",
                    pytrace=False)
    return path


def test_control_file(deb):
    """Depends from the binary's libraries (no Swift runtime among them), nginx recommended, the
    configuration a conffile."""
    fields = run(["dpkg-deb", "--field", str(deb)], timeout=60, what="dpkg-deb --field").stdout
    control = {}
    for line in fields.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, value = line.split(":", 1)
            control[key] = value.strip()
    assert control["Package"] == "upsign"
    assert control["Architecture"] == "amd64"
    depends = [d.strip().split()[0] for d in control["Depends"].split(",")]
    for lib in ("libc6", "libfcgi0ldbl", "libssl3", "libcurl4"):
        assert lib in depends, control["Depends"]
    assert not [d for d in depends if "swift" in d], control["Depends"]
    assert control["Recommends"] == "nginx"
    conffiles = run(["dpkg-deb", "--info", str(deb), "conffiles"], timeout=60, what="dpkg-deb --info").stdout
    assert conffiles.split() == ["/etc/upsign/upsign.toml"]
    listing = run(["dpkg-deb", "--contents", str(deb)], timeout=60, what="dpkg-deb --contents").stdout
    for path in ("./usr/bin/upsign", "./lib/systemd/system/upsign.service", "./lib/systemd/system/upsign.socket",
                 "./etc/upsign/upsign.toml", "./usr/share/man/man1/upsign.1.gz",
                 "./usr/share/man/man5/upsign.toml.5.gz", "./usr/share/doc/upsign/copyright",
                 "./usr/share/doc/upsign/changelog.Debian.gz"):
        assert path in listing, f"{path} not in the package:\n{listing}"


# --- the system it goes on ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def base_root() -> Path:
    """A minimal bookworm, made once; a folder that exists is taken as complete (debootstrap
    builds into a .partial folder that is renamed when it succeeds)."""
    if BASE_ROOT.is_dir():
        return BASE_ROOT
    DEB_DIR.mkdir(parents=True, exist_ok=True)
    partial = DEB_DIR / "bookworm-root.partial"
    if partial.exists():
        if mounts_under(partial):
            pytest.fail(f"{partial} has mounts left: {mounts_under(partial)}", pytrace=False)
        shutil.rmtree(partial)
    started = time.monotonic()
    run([_debootstrap(), "--variant=minbase", "bookworm", str(partial), MIRROR], timeout=1800,
        what="debootstrap bookworm", env=dict(os.environ, PATH=SYS_PATH + ":" + os.environ.get("PATH", "")))
    partial.rename(BASE_ROOT)
    print(f"\ndebootstrap: {time.monotonic() - started:.0f} s")
    return BASE_ROOT


class Chroot:
    """A clean, writable view of the base system, with /proc and /dev mounted."""

    def __init__(self, base: Path):
        self.base = base
        self.dir = Path(tempfile.mkdtemp(prefix="pkgtest-", dir=DEB_DIR))
        self.root = self.dir / "root"
        self.procs: list[subprocess.Popen] = []

    def setup(self) -> None:
        """Mounts; close() undoes whatever part of this was done."""
        base = self.base
        self.root.mkdir()
        upper, work = self.dir / "upper", self.dir / "work"
        upper.mkdir()
        work.mkdir()
        overlay = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={base},upperdir={upper},workdir={work}",
             str(self.root)], capture_output=True, text=True)
        if overlay.returncode != 0:
            print(f"\noverlayfs refused ({overlay.stderr.strip()}): copying the base system")
            self.root.rmdir()
            run(["cp", "-a", str(base), str(self.root)], timeout=600, what="cp -a base system")
        run(["mount", "-t", "proc", "proc", str(self.root / "proc")], timeout=30, what="mount /proc")
        run(["mount", "--bind", "/dev", str(self.root / "dev")], timeout=30, what="mount --bind /dev")
        # No service starts from a package's scripts (nginx would take port 80 of this machine).
        policy = self.root / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")

    def env(self, **extra: str) -> dict:
        return {"PATH": SYS_PATH, "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive", "HOME": "/root",
                **extra}

    def run(self, argv: list[str], *, timeout: float = 120, what: str | None = None,
            **extra: str) -> subprocess.CompletedProcess:
        return run(["chroot", str(self.root), *argv], timeout=timeout, what=what or " ".join(argv),
                   env=self.env(**extra))

    def start(self, argv: list[str], log: str, **extra: str) -> subprocess.Popen:
        out = open(self.dir / log, "wb")
        proc = subprocess.Popen(["chroot", str(self.root), *argv], stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=self.env(**extra), start_new_session=True)
        out.close()
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        p = self.dir / name
        return p.read_text(errors="replace")[-4000:] if p.exists() else ""

    def _inside(self) -> list[int]:
        """Processes whose root is this chroot (nginx's workers, anything a package left)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "root") == str(self.root):
                        pids.append(int(entry.name))
                except OSError:
                    pass
        return pids

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for _ in range(50):
            left = self._inside()
            if not left:
                break
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
        for point in mounts_under(self.dir):
            if subprocess.run(["umount", point], capture_output=True).returncode != 0:
                subprocess.run(["umount", "--lazy", point], capture_output=True)
        left = mounts_under(self.dir)
        # Never remove a folder with /dev still mounted in it.
        assert not left, f"still mounted, {self.dir} left in place: {left}"
        if os.environ.get("UPSIGN_KEEP_TMP") == "1":
            print(f"\nkept: {self.dir}")
        else:
            shutil.rmtree(self.dir)


@pytest.fixture(scope="module")
def installed(deb, base_root):
    """The chroot with the package, nginx and man-db installed by apt."""
    started = time.monotonic()
    chroot = Chroot(base_root)
    try:
        chroot.setup()
        shutil.copy(deb, chroot.path("/tmp/upsign.deb"))
        chroot.path("/tmp/upsign.deb").chmod(0o644)
        chroot.run(["apt-get", "update"], timeout=600, what="apt-get update (chroot)")
        chroot.run(["apt-get", "install", "-y", "--no-install-recommends", "/tmp/upsign.deb", "nginx", "man-db"],
                   timeout=900, what="apt-get install ./upsign.deb nginx man-db (chroot)")
        print(f"\nchroot ready with the package in {time.monotonic() - started:.0f} s")
        yield chroot
    finally:
        chroot.close()


# --- checks ------------------------------------------------------------------------------------

def test_no_swift_in_the_system(installed, deb):
    assert installed.run(["sh", "-c", "command -v swift || true"]).stdout.strip() == ""
    assert not installed.path("/opt/swift").exists()
    found = installed.run(["find", "/", "-xdev", "-name", "libswiftCore*", "-o", "-name", "libFoundation*.so*"],
                          timeout=120).stdout.strip()
    assert found == "", found
    ldd = installed.run(["ldd", "/usr/bin/upsign"]).stdout
    assert "not found" not in ldd and "swift" not in ldd, ldd
    version = run(["dpkg-deb", "--field", str(deb), "Version"], timeout=30, what="dpkg-deb --field").stdout
    assert installed.run(["upsign", "--version"]).stdout.strip() == version.strip().rsplit("-", 1)[0]


def test_files_conffile_and_units(installed):
    files = installed.run(["dpkg", "-L", "upsign"]).stdout.split()
    for path in ("/usr/bin/upsign", "/lib/systemd/system/upsign.service", "/lib/systemd/system/upsign.socket",
                 "/etc/upsign/upsign.toml", "/usr/share/doc/upsign/copyright",
                 "/usr/share/doc/upsign/changelog.Debian.gz", "/usr/share/doc/upsign/README.md.gz",
                 "/usr/share/doc/upsign/nginx.conf.example.gz"):
        assert path in files, path
    conffiles = installed.run(["dpkg-query", "-W", "-f=${Conffiles}", "upsign"]).stdout
    assert "/etc/upsign/upsign.toml" in conffiles, conffiles
    assert installed.path("/etc/upsign/upsign.toml").stat().st_size > 0
    installed.run(["upsign", "check-config", "--config", "/etc/upsign/upsign.toml"])
    service = installed.path("/lib/systemd/system/upsign.service").read_text()
    assert "ExecStart=/usr/bin/upsign serve --config /etc/upsign/upsign.toml" in service
    assert "/usr/local" not in service + installed.path("/lib/systemd/system/upsign.socket").read_text()


def test_man_pages(installed):
    assert installed.run(["man", "-w", "upsign"]).stdout.strip() == "/usr/share/man/man1/upsign.1.gz"
    assert installed.run(["man", "-w", "5", "upsign.toml"]).stdout.strip() == "/usr/share/man/man5/upsign.toml.5.gz"
    page = installed.run(["man", "-P", "cat", "upsign"], MANWIDTH="100").stdout
    assert "upsign" in page and "SYNOPSIS" in page, page[:2000]
    serve = installed.run(["man", "-P", "cat", "upsign.serve"], MANWIDTH="100").stdout
    assert "--listen" in serve, serve[:2000]
    conf = installed.run(["man", "-P", "cat", "5", "upsign.toml"], MANWIDTH="100").stdout
    assert "NAME" in conf and "upsign.toml" in conf, conf[:2000]


CONFIG = """\
[server]
base_path = "/upload"
identity_param = "UPSIGN_USER"
default_profile = "pkg"

[profiles.pkg]
provider = "aliyun-oss"
signature = "v4"
bucket = "pkg-bucket"
region = "cn-hangzhou"
endpoint = "https://pkg-bucket.oss-cn-hangzhou.aliyuncs.com"
key = "uploads/{user}/{uuid}{ext}"
extensions = ["jpg", "png"]
min_size = 1
max_size = 1048576
expires_in = 300
format = "native"
require_user = true
credentials = "env"
"""

NGINX = """\
user root;
worker_processes 1;
daemon off;
pid /run/pkgtest-nginx.pid;
error_log /var/log/pkgtest-nginx-error.log warn;
events { worker_connections 64; }
http {
    access_log /var/log/pkgtest-nginx-access.log;
    upstream upsign {
        server unix:/run/upsign/upsign.sock;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:@PORT@;
        location /upload/ {
            client_max_body_size 64k;
            include /etc/nginx/fastcgi_params;
            fastcgi_param UPSIGN_USER @USER@;
            fastcgi_param HTTP_PROXY "";
            fastcgi_param REQUEST_ID $request_id;
            fastcgi_keep_conn on;
            fastcgi_pass upsign;
        }
    }
}
"""


def wait_for(check, what: str, procs: list[subprocess.Popen], logs: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                pytest.fail(f"{what}: {p.args} exited with {p.returncode}\n{logs()}", pytrace=False)
        if check():
            return
        time.sleep(0.1)
    pytest.fail(f"{what}: not ready after {timeout:.0f} s\n{logs()}", pytrace=False)


def connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def v4_signature(secret: str, day: str, region: str, policy_b64: str) -> str:
    """OSS V4 PostObject signature: the signing key derived from "aliyun_v4" + secret, the day,
    the region, "oss", "aliyun_v4_request"; then HMAC-SHA256 over the base64 policy, in hex."""
    key = ("aliyun_v4" + secret).encode()
    for part in (day, region, "oss", "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, policy_b64.encode(), hashlib.sha256).hexdigest()


def test_signed_policy_through_nginx(installed):
    chroot = installed
    chroot.path("/etc/pkgtest").mkdir(exist_ok=True)
    chroot.path("/etc/pkgtest/upsign.toml").write_text(CONFIG)
    chroot.run(["upsign", "check-config", "--config", "/etc/pkgtest/upsign.toml"])
    port = free_port()
    chroot.path("/etc/pkgtest/nginx.conf").write_text(
        NGINX.replace("@PORT@", str(port)).replace("@USER@", USER))
    chroot.path("/run/upsign").mkdir(parents=True, exist_ok=True)
    sock = chroot.path("/run/upsign/upsign.sock")

    def logs() -> str:
        error_log = chroot.path("/var/log/pkgtest-nginx-error.log")
        errors = error_log.read_text(errors="replace")[-3000:] if error_log.exists() else ""
        return (f"--- upsign\n{chroot.log('upsign.log')}\n--- nginx\n{chroot.log('nginx.log')}\n"
                f"--- nginx error log\n{errors}")

    worker = chroot.start(["/usr/bin/upsign", "serve", "--config", "/etc/pkgtest/upsign.toml",
                           "--listen", "unix:/run/upsign/upsign.sock"], "upsign.log",
                          OSS_ACCESS_KEY_ID=ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET)
    wait_for(sock.is_socket, "upsign's socket", [worker], logs)
    chroot.run(["nginx", "-t", "-c", "/etc/pkgtest/nginx.conf", "-e", "/var/log/pkgtest-nginx-error.log"])
    web = chroot.start(["/usr/sbin/nginx", "-c", "/etc/pkgtest/nginx.conf", "-e", "/var/log/pkgtest-nginx-error.log"],
                       "nginx.log")
    wait_for(lambda: connects(port), "nginx", [worker, web], logs)

    base = f"http://127.0.0.1:{port}/upload"
    with urllib.request.urlopen(f"{base}/healthz", timeout=10) as resp:
        assert resp.status == 200, logs()
        assert json.loads(resp.read())["status"] == "ok"
    try:
        resp = urllib.request.urlopen(f"{base}/policy?profile=pkg&filename=photo.jpg&size=1234", timeout=10)
    except urllib.error.HTTPError as e:
        pytest.fail(f"/upload/policy answered {e.code}: {e.read()[:2000]!r}\n{logs()}", pytrace=False)
    with resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/json")
        body = json.loads(resp.read())

    fields = body["fields"]
    assert body["url"] == "https://pkg-bucket.oss-cn-hangzhou.aliyuncs.com"
    assert fields["key"] == body["key"] and body["key"].startswith(f"uploads/{USER}/")
    assert body["key"].endswith(".jpg")
    assert fields["x-oss-signature-version"] == "OSS4-HMAC-SHA256"
    day = fields["x-oss-date"][:8]
    assert fields["x-oss-credential"] == f"{ACCESS_KEY_ID}/{day}/cn-hangzhou/oss/aliyun_v4_request"
    assert dt.datetime.strptime(fields["x-oss-date"], "%Y%m%dT%H%M%SZ")
    assert fields["x-oss-signature"] == v4_signature(ACCESS_KEY_SECRET, day, "cn-hangzhou", fields["policy"])
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {"bucket": "pkg-bucket"} in policy["conditions"]
    assert ["content-length-range", 1234, 1234] in policy["conditions"]
    assert ACCESS_KEY_SECRET not in json.dumps(body)
