"""Timing a request for the contract's clock checks, and printing measurements (never asserted)."""

from __future__ import annotations

import time


def timed(fn, *a, **kw):
    """fn's result and the wall-clock window (unix seconds before, after) around the call: the
    window a signed answer's instant must fall in."""
    t0 = time.time()
    r = fn(*a, **kw)
    return r, (t0, time.time())


def say(capsys, text: str) -> None:
    """Measurements go to the terminal even without -s."""
    with capsys.disabled():
        print("\n" + text, flush=True)
