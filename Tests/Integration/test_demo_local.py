"""The README's quick start: `deploy/demo.sh local` starts a local S3 store, nginx and upsign,
uploads a file with the fields of a policy and reads it back; `demo.sh stop` stops all three.

Run with the suite's binary (UPSIGN_BIN: no release build) on free ports and a scratch folder.
"""

from __future__ import annotations

import socket
import subprocess

import helpers

DEMO = helpers.ROOT / "deploy" / "demo.sh"


def test_demo_local_uploads_a_file_and_reads_it_back(nginx_bin, tmp_path):
    port = helpers.free_port_pair()
    env = helpers.clean_env(UPSIGN_BIN=helpers.UPSIGN_BIN, UPSIGN_SKIP_DEPS="1",
                            UPSIGN_DEMO_DIR=str(tmp_path / "demo"), UPSIGN_DEMO_PORT=str(port))
    try:
        run = subprocess.run(["bash", str(DEMO), "local"], env=env, capture_output=True, text=True,
                             timeout=240, stdin=subprocess.DEVNULL)
        out = run.stdout
        assert run.returncode == 0, f"exit {run.returncode}\n{out[-3000:]}\n{run.stderr[-3000:]}"
        assert '"provider": "s3"' in out and f"http://127.0.0.1:{port}/store/upsign-demo" in out
        upload = out[out.index("# posting the file"):]
        assert "HTTP 200" in upload, upload[:800]
        assert "hello from upsign" in upload[upload.index("# reading it back"):], upload[:800]
        assert "/upload/demo/?profile=local" in out
    finally:
        stop = subprocess.run(["bash", str(DEMO), "stop"], env=env, capture_output=True, text=True, timeout=120)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert "stopped the local store" in stop.stdout
    # Nothing of the demo answers any more.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
