"""Cold start: from exec of `upsign serve` to the first policy answered over its FastCGI socket.

    python3 Benchmarks/coldstart.py [BINARY] [RUNS]     (default .build/release/upsign, 21 runs)

Each run starts the worker on a fresh unix socket with deploy/demo.toml and the demo's fake
credentials, connects as soon as the socket exists, asks for one `avatar` policy and stops the
worker. Prints the median and the fastest run, in milliseconds.
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "Tests", "Integration"))
import fcgi_client  # noqa: E402

binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build", "release", "upsign")
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 21
env = dict(os.environ, OSS_ACCESS_KEY_ID="LTAI5tDemoDemoDemoDemo0000",
           OSS_ACCESS_KEY_SECRET="demo-secret-not-a-real-key-0000000000")
params = {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/upload/policy", "SCRIPT_NAME": "/upload/policy",
          "QUERY_STRING": "profile=avatar&filename=a.jpg", "UPSIGN_USER": "bench-user"}
times = []
with tempfile.TemporaryDirectory() as d:
    for i in range(runs):
        sock = os.path.join(d, f"cold{i}.sock")
        t0 = time.perf_counter()
        worker = subprocess.Popen([binary, "serve", "--config", os.path.join(ROOT, "deploy", "demo.toml"),
                                   "--listen", f"unix:{sock}"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    conn = fcgi_client.Connection(sock)
                    break
                except OSError:
                    if worker.poll() is not None:
                        sys.exit(f"the worker exited with {worker.returncode}")
                    time.sleep(0.0002)
            response = conn.request(params)
            t1 = time.perf_counter()
            conn.close()
            assert b"\"signature\"" in response.body, response.raw[:200]
        finally:
            worker.terminate()
            worker.wait()
        times.append((t1 - t0) * 1000)
times.sort()
print(f"cold start to first answered policy: median {times[len(times) // 2]:.1f} ms, "
      f"fastest {times[0]:.1f} ms ({runs} runs, {binary})")
