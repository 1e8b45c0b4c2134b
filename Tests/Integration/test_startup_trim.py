"""The worker gives back the pages only start-up used (StartupTrim: MADV_PAGEOUT on its read-only
file mappings a few seconds after start), and keeps answering correctly afterwards.

Memory, not time, is asserted: the resident set after the trim is well below the one before, and
the signatures of answers given after the trim are the SDK's.
"""

from __future__ import annotations

import time
from pathlib import Path

import helpers
import oracle
from harness.fastcgi import Connection
from harness.processes import rss_kib
from helpers import SECRET, Worker


def policy(sock: Path) -> dict:
    import json
    c = Connection(sock)
    try:
        r = c.request({"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/policy",
                       "QUERY_STRING": "profile=avatar&filename=a.jpg", "UPSIGN_USER": "trim-user"})
    finally:
        c.close()
    assert r.status == 200, r.raw[:300]
    return json.loads(r.body)


def test_start_up_pages_are_given_back_and_answers_stay_right(tmp_path):
    config = helpers.write_config(tmp_path)
    sock = tmp_path / "w.sock"
    w = Worker(helpers.serve_argv(config, listen=f"unix:{sock}"), helpers.cred_env(), name="trim", log_dir=tmp_path)
    try:
        helpers.wait_unix_socket(sock, w)
        policy(sock)
        before = rss_kib(w.pid)
        # The trim runs 3 s after start; wait for the resident set to fall (bounded).
        deadline = time.monotonic() + 20
        after = before
        while time.monotonic() < deadline and after > before * 0.7:
            time.sleep(0.5)
            after = rss_kib(w.pid)
        assert after <= before * 0.7, f"RSS {before} KiB before the trim, {after} KiB after"
        for _ in range(50):
            body = policy(sock)
            assert body["signature"] == oracle.v1_signature(SECRET, body["policy"])
        assert w.alive(), w.describe()
    finally:
        w.stop()
