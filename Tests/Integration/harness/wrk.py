"""Reading wrk's summary (as shared/bench/run.py reads it)."""

from __future__ import annotations

import re


def parse_wrk(out: str) -> dict:
    """requests (the total), rps (requests/s, None when wrk printed none), non2xx answers, and
    socket_errors (= errors): the sum of wrk's connect, read, write and timeout errors."""
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    assert m, f"cannot parse wrk output:\n{out}"
    res = {"requests": int(m.group(1)), "non2xx": 0, "socket_errors": 0, "rps": None}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    if m:
        res["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["socket_errors"] = sum(int(x) for x in m.groups())
    res["errors"] = res["socket_errors"]
    return res
