"""What a worker process holds, read from /proc, and the crash lines of its log."""

from __future__ import annotations

import os
import re
from pathlib import Path

CRASH_MARKERS = ("Program crashed", "Fatal error", "stack smashing", "Assertion", "Backtrace",
                 "Segmentation", "malloc(): ", "free(): ", "double free", "corrupted")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))


def crash_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if any(m in line for m in CRASH_MARKERS)]
