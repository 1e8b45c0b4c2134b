"""The deploy files as an operator would check them: nginx -t on both nginx configurations,
systemd-analyze verify on the units, shell syntax, check-config on the demo configuration."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_deploy_files_pass_their_checks():
    env = dict(os.environ, UPSIGN_BIN=os.environ["UPSIGN_BIN"])
    proc = subprocess.run(["bash", str(ROOT / "deploy" / "check-deploy.sh")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "FAIL" not in proc.stdout
    assert "skip" not in proc.stdout, proc.stdout
