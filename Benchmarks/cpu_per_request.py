#!/usr/bin/env python3
"""CPU time per request, split into user and system time, for the C libfcgi responder and the
worker, and for the nginx in front of each: the figure that says *where* a throughput gap comes
from, which req/s alone does not (both candidates share two cores with nginx and wrk).

    python3 Benchmarks/cpu_per_request.py --worker "CMD" --path "/upload/policy?..." [--rounds 3]

Uses the shared rig's nginx configuration and C responder (../shared/bench/), loads each
candidate with wrk -t1 -c32 for a few seconds per round, in interleaved rounds, and reads the
processes' utime and stime from /proc before and after. Prints medians, and the worker's figures
as ratios to the C responder's.
"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def cpu_seconds(pid):
    """utime and stime of every thread of `pid`, in seconds."""
    user = system = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user += int(fields[11])
            system += int(fields[12])
        except OSError:
            pass
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, system / tick


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", required=True)
    ap.add_argument("--path", required=True)
    ap.add_argument("--rig", default=os.path.join(HERE, "..", "..", "shared", "bench"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--port", type=int, default=18091)
    a = ap.parse_args()
    rig = os.path.abspath(a.rig)
    d = tempfile.mkdtemp(prefix="upsign-cpu-")
    pids = {}

    def sh(command):
        subprocess.run(command, shell=True, check=True)

    try:
        text = open(os.path.join(rig, "nginx.conf.in")).read()
        text = text.replace("@DIR@", d).replace("@PORT@", str(a.port)).replace("@BENCH@", rig)
        open(f"{d}/nginx.conf", "w").write(text)
        sh(f"gcc -O2 -o {d}/c_ref {rig}/c_responder.c -lfcgi -lcrypto -lpthread")
        sh(f"spawn-fcgi -s {d}/c.sock -P {d}/c.pid -- {d}/c_ref 48 >/dev/null")
        sh(f"spawn-fcgi -s {d}/worker.sock -P {d}/worker.pid -- {a.worker} >/dev/null")
        sh(f"nginx -c {d}/nginx.conf")
        time.sleep(1)
        pids = {"c-ref": int(open(f"{d}/c.pid").read()), "worker": int(open(f"{d}/worker.pid").read())}
        master = int(open(f"{d}/nginx.pid").read())
        nginx_worker = int(subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()[0])
        paths = {"c-ref": "/c-ref", "worker": a.path}
        results = {name: [] for name in pids}
        for _ in range(a.rounds):
            for name, pid in pids.items():
                before, nginx_before = cpu_seconds(pid), cpu_seconds(nginx_worker)
                out = subprocess.run(
                    ["wrk", "-t1", f"-c{a.conns}", f"-d{a.seconds}s", f"http://127.0.0.1:{a.port}{paths[name]}"],
                    capture_output=True, text=True).stdout
                after, nginx_after = cpu_seconds(pid), cpu_seconds(nginx_worker)
                requests = int(re.search(r"(\d+) requests in", out).group(1))
                results[name].append({
                    "user": (after[0] - before[0]) / requests * 1e6,
                    "system": (after[1] - before[1]) / requests * 1e6,
                    "nginx": (sum(nginx_after) - sum(nginx_before)) / requests * 1e6,
                })
        median = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in results.items()}
        print(f"CPU per request, µs (medians of {a.rounds} rounds, wrk -c{a.conns})")
        print(f"{'candidate':10} {'user':>7} {'system':>7} {'total':>7} {'nginx':>7}")
        for name, m in median.items():
            print(f"{name:10} {m['user']:7.1f} {m['system']:7.1f} {m['user'] + m['system']:7.1f} {m['nginx']:7.1f}")
        c, w = median["c-ref"], median["worker"]
        print(f"worker / c-ref: user {w['user'] / c['user']:.2f}x, system {w['system'] / c['system']:.2f}x, "
              f"total {(w['user'] + w['system']) / (c['user'] + c['system']):.2f}x")
    finally:
        subprocess.run(f"nginx -c {d}/nginx.conf -s stop", shell=True, capture_output=True)
        for pid in pids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.3)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
