"""Runs last (file order): the secrets never appeared in anything upsign said during the suite."""

from __future__ import annotations

import json

import pytest

import helpers


def test_secret_never_in_responses():
    if not helpers.RESPONSE_BODIES:
        pytest.skip("no HTTP/FastCGI responses recorded in this run")
    leaks = [label for label, body in helpers.RESPONSE_BODIES if helpers.secrets_in(body)]
    assert not leaks, f"a secret appeared in {len(leaks)} response(s): {leaks[:5]}"


def test_secret_never_in_cli_output():
    if not helpers.CAPTURED_OUTPUT:
        pytest.skip("no CLI output recorded in this run")
    leaks = [label for label, text in helpers.CAPTURED_OUTPUT if helpers.secrets_in(text)]
    assert not leaks, f"a secret appeared in CLI output: {leaks[:5]}"


def test_secret_never_in_worker_logs():
    files = [p for p in helpers.LOG_FILES if p.exists()]
    if not files:
        pytest.skip("no worker ran in this run")
    leaks = [str(p) for p in files if helpers.secrets_in(p.read_bytes())]
    assert not leaks, f"a secret appeared in worker output: {leaks[:5]}"


def test_worker_stderr_is_json_lines():
    """Contract: serve logs to stderr as JSON lines."""
    bad = []
    for p in helpers.LOG_FILES:
        if not p.exists() or not p.name.endswith(".stderr.log"):
            continue
        # test_fastcgi_abuse's worker is crashed on purpose (libfcgi's assert and a backtrace);
        # its log is still scanned for secrets above.
        if p.name.startswith("abuse-"):
            continue
        for line in p.read_text(errors="replace").splitlines():
            if not line.strip():
                continue
            # launchers (spawn-fcgi, systemd-socket-activate) print their own plain lines
            if line.startswith(("spawn-fcgi:", "Listening on", "Communication attempt", "Execing",
                                "Received SIG")):
                continue
            try:
                if not isinstance(json.loads(line), dict):
                    bad.append((p.name, line[:200]))
            except ValueError:
                bad.append((p.name, line[:200]))
    assert not bad, f"{len(bad)} non-JSON stderr line(s): {bad[:5]}"
