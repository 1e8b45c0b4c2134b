#!/usr/bin/env bash
# Signing-core micro-benchmark: upsign's signers (release build) against a C + OpenSSL baseline
# doing the same work, and boto3's generate_presigned_post, all on one thread in one run.
#
#   bash Benchmarks/signing.sh [seconds-per-case]     (default 2; UPSIGN_BENCH_ROUNDS, default 3)
#
# Needs: Swift 6, gcc, libssl-dev, python3-venv (boto3 is installed into .build-venv if missing).
# Prints policies/s per case and the ratios the performance targets are stated in:
# OSS V1 and V4 against the C baseline, S3 against boto3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_PER_CASE=${1:-2}
OUT=.build-bench
mkdir -p "$OUT"

# Linked as upsign is deployed (docs/deploy.md): the Swift runtime statically, so retain and release are
# direct calls rather than calls through the PLT into libswiftCore.so (measured: V4 +8 %).
swift build -c release --static-swift-stdlib --product upsign-bench >&2
BENCH=$(swift build -c release --show-bin-path)/upsign-bench
cc -O2 -o "$OUT/sign_baseline" Benchmarks/baseline/sign_baseline.c -lcrypto
if [[ ! -x .build-venv/bin/python ]]; then python3 -m venv .build-venv; fi
.build-venv/bin/python -c 'import boto3' 2>/dev/null || .build-venv/bin/pip install -q boto3

# Interleaved rounds, medians: the machine's drift hits the baseline and upsign alike.
ROUNDS=${UPSIGN_BENCH_ROUNDS:-3}
results=""
for ((round = 1; round <= ROUNDS; round++)); do
  results+=$("$OUT/sign_baseline" "$SECONDS_PER_CASE")$'\n'
  results+=$("$BENCH" "$SECONDS_PER_CASE")$'\n'
done
results+=$(.build-venv/bin/python Benchmarks/baseline/boto3_post.py "$SECONDS_PER_CASE")
python3 - "$results" "$ROUNDS" <<'PY'
import statistics
import sys
runs = {}
for line in sys.argv[1].splitlines():
    if line.strip():
        name, value = line.split()
        runs.setdefault(name, []).append(int(value))
rate = {name: int(statistics.median(values)) for name, values in runs.items()}
print(f"median of {sys.argv[2]} interleaved rounds, one thread")
print(f"{'case':<14}{'policies/s':>12}  ratio")
ref = {"oss-v1": ("c-oss-v1", "C"), "oss-v4": ("c-oss-v4", "C"), "s3-v4": ("boto3-s3-v4", "boto3")}
for name, r in rate.items():
    note = ""
    if name in ref:
        base, label = ref[name]
        note = f"{r / rate[base]:.2f}x {label}"
    print(f"{name:<14}{r:>12}  {note}")
PY
