#!/usr/bin/env bash
# Through-the-stack benchmark: nginx alone, the C libfcgi responder, php-fpm and upsign (release
# build, spawned by spawn-fcgi) side by side, by the external rig ../shared/bench/run.py (not in
# this repository; UPSIGN_BENCH_RIG names it elsewhere; docs/BENCHMARK.md).
#
#   bash Benchmarks/stack.sh [run.py options]      e.g. --rounds 5 --conns 256
#
# Measures the `java` (OSS V1) profile of deploy/demo.toml, then its native V4 profile, each as
# one run.py table with every candidate's ratio to the C responder; then the CPU time per request
# (user, system, nginx's) of the C responder and upsign (cpu_per_request.py). Needs the rig's packages
# (nginx spawn-fcgi wrk php-fpm libfcgi-dev libssl-dev gcc) and Swift 6.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RIG=${UPSIGN_BENCH_RIG:-../shared/bench/run.py}
[[ -f $RIG ]] || { echo "stack.sh: no rig at $RIG (set UPSIGN_BENCH_RIG)" >&2; exit 1; }

# The Swift runtime linked in statically: as deployed (docs/deploy.md), 30 -> 21 MiB RSS, faster start.
swift build -c release --static-swift-stdlib --product upsign >&2
BIN=$(swift build -c release --show-bin-path)/upsign
# The demo configuration's fake credentials: nothing here talks to a store.
export OSS_ACCESS_KEY_ID=LTAI5tDemoDemoDemoDemo0000 OSS_ACCESS_KEY_SECRET=demo-secret-not-a-real-key-0000000000
WORKER="$BIN serve --config $PWD/deploy/demo.toml"

echo "== java profile (OSS V1, the Java bean), the C responder's work"
python3 "$RIG" --worker "$WORKER" --path "/upload/policy?profile=avatar&filename=a.jpg" "$@"
echo
echo "== native V4 profile (longer policy, content type and no-overwrite pins, HMAC-SHA256)"
python3 "$RIG" --only c-ref,worker --worker "$WORKER" \
  --path "/upload/policy?profile=demo&filename=a.jpg&contentType=image/jpeg&size=1000" "$@"
echo
echo "== CPU per request (java profile): where a throughput gap comes from"
python3 Benchmarks/cpu_per_request.py --rig "$(dirname "$RIG")" --worker "$WORKER" \
  --path "/upload/policy?profile=avatar&filename=a.jpg"
