"""Fixtures of the integration suite. The harness itself is the package harness/ (and helpers.py)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import helpers  # noqa: E402
import rgw as rgw_store  # noqa: E402
from harness import callbacks  # noqa: E402
from harness.stack import start_stack  # noqa: E402


def pytest_report_header(config):
    return f"upsign binary: {helpers.UPSIGN_BIN}"


@pytest.fixture(scope="session", autouse=True)
def upsign_bin() -> str:
    path = Path(helpers.UPSIGN_BIN)
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.exit(f"upsign binary not found or not executable: {path} (set UPSIGN_BIN)", returncode=2)
    return str(path)


@pytest.fixture(scope="session", autouse=True)
def remove_scratch_dirs():
    yield
    if os.environ.get("UPSIGN_KEEP_TMP") != "1":
        for d in helpers.SCRATCH_DIRS:
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (nginx runs with `user root`, temp paths in /tmp)")


@pytest.fixture(scope="session")
def nginx_bin(need_root):
    if not shutil.which("nginx"):
        pytest.fail("nginx not installed (deploy/install-deps.sh installs it)")
    return shutil.which("nginx")


@pytest.fixture(scope="session")
def rgw():
    """A real, validating S3 store (Ceph RADOS Gateway on loopback, see rgw.py), one per session,
    with the bucket rgw_store.BUCKET. It fails, never skips, when the gateway cannot start: CI must
    not pass without it."""
    d = helpers.scratch_dir("usrgw")
    try:
        store = rgw_store.start(d, helpers.free_port())
    except rgw_store.StartError as e:
        pytest.fail(f"the Ceph RGW test store did not start: {e}", pytrace=False)
    try:
        yield store
    finally:
        rgw_store.stop(d)


@pytest.fixture(scope="session")
def std_config(tmp_path_factory) -> Path:
    """The standard test config (credentials from env, max_body 1024)."""
    return helpers.write_config(tmp_path_factory.mktemp("cfg"))


@pytest.fixture(scope="session")
def std_profiles(std_config) -> dict:
    return helpers.load_profiles_from(std_config)["profiles"]


@pytest.fixture(scope="module")
def stack(nginx_bin, std_config):
    s = start_stack(std_config)
    yield s
    s.close()


# --------------------------------------------------------------------------------------------
# The callback tests' OSS side (test_callback, test_callback_forward): one set per module


@pytest.fixture(scope="module")
def keys():
    return callbacks.Keys()


@pytest.fixture(scope="module")
def key_pki(tmp_path_factory):
    """The CA upsign trusts for key fetches (callback.ca_file) and the key server's certificate."""
    return callbacks.make_key_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def keyserver(keys, key_pki):
    """OSS's key server over HTTPS (as upsign fetches every key; its URLs stay http:// as OSS
    writes them), serving good, foreign and misbehaving keys."""
    ks = callbacks.start_keyserver(keys, key_pki)
    yield ks
    ks.close()


@pytest.fixture(scope="module")
def dead_port():
    return helpers.free_port()     # nothing listens there
