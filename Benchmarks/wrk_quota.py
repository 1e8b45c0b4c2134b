"""wrk run until a number of answers, shared by Benchmarks/soak.py, Benchmarks/connections.py
and Tests/Integration/test_connections.py.

wrk runs for a duration, not a count. Its Lua script counts the answers and, at the quota,
stops its thread and creates a marker file. `run_until_quota` then interrupts wrk (SIGINT ends
its sleep and prints its summary, with the script's result line) and returns wrk's output.
The script gets `-- QUOTA [ARGS...] MARKER` as its arguments.

`OVERSIZE_LUA` is such a script: it POSTs a form body of `size` bytes (`OVERSIZE_LUA % {"size": N}`),
counts the answers by status and the 413s carrying upsign's `body_too_large` code, and prints
`COUNTED {json}`; `run_oversize` runs it and parses that line.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import tempfile
from pathlib import Path


def run_until_quota(lua: Path, url: str, quota: int, conns: int, max_seconds: int,
                    extra_args: tuple[str, ...] = ()) -> tuple[str, int]:
    """wrk -t1 with `lua` until its marker appears (or `max_seconds`); wrk's output and exit code."""
    marker = lua.with_name("quota-reached")
    marker.unlink(missing_ok=True)
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max_seconds}s", "--timeout", "10s", "-s", str(lua), url,
           "--", str(quota), *extra_args, str(marker)]
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
        try:
            while proc.poll() is None:
                if marker.exists():
                    # Repeated in case one arrives before wrk's handler is set or lands on the
                    # busy thread.
                    proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=0.05)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out.seek(0)
        return out.read(), proc.returncode


def result_line(text: str, tag: str) -> dict | None:
    """The JSON after `tag ` on a line of wrk's output, with its `counts` keyed by int status."""
    m = re.search(rf"^{tag} (.*)$", text, re.M)
    if not m:
        return None
    r = json.loads(m.group(1))
    r["counts"] = {int(k): v for k, v in r["counts"].items()}
    return r


OVERSIZE_LUA = r"""
-- POSTs a %(size)d-byte form body; counts answers by status and the 413s carrying
-- {"error":{"code":"body_too_large"}}; stops after QUOTA answers (wrk_quota.py).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-Test-User"] = "big-poster"
wrk.body = "filename=big.jpg&size=100&pad=" .. string.rep("x", %(size)d - 30)
local quota, seen, marker = 0, 0, nil
counts = {}
coded = 0

function init(args)
  quota = tonumber(args[1])
  marker = args[2]
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if status == 413 and body and string.find(body, '"code":"body_too_large"', 1, true) then
    coded = coded + 1
  end
  seen = seen + 1
  if seen == quota then
    wrk.thread:stop()
    local f = io.open(marker, "w")
    if f then f:close() end
  end
end

local threads = {}
function setup(thread) table.insert(threads, thread) end

function done(summary, latency, requests)
  local total, nc = {}, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("counts")) do total[k] = (total[k] or 0) + v end
    nc = nc + t:get("coded")
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, string.format('"%%d":%%d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    'COUNTED {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"timeout":%%d,' ..
    '"coded":%%d,"counts":{%%s}}\n', summary.requests, summary.duration, e.connect, e.read, e.write,
    e.timeout, nc, table.concat(parts, ",")))
end
"""


def run_oversize(script: Path, size: int, url: str, quota: int, conns: int, max_seconds: int) -> tuple[dict | None, str]:
    """Writes OVERSIZE_LUA for `size` to `script` and runs it until `quota` answers: the counted
    result (with `socket_errors` summed), or None when wrk printed none; and wrk's output."""
    script.write_text(OVERSIZE_LUA % {"size": size})
    text, _ = run_until_quota(script, url, quota, conns, max_seconds)
    r = result_line(text, "COUNTED")
    if r is not None:
        r["socket_errors"] = sum(r[k] for k in ("connect", "read", "write", "timeout"))
    return r, text
