#!/usr/bin/env bash
# Soak and sanitizer runs of the worker behind its own nginx (issue #7). The driver is soak.py.
#
#   bash Benchmarks/soak.sh            # release build (.build-soak), 1,000,000 valid policy requests
#                                      # at saturation (wrk -t1 -c32), VmRSS/fd table every 100,000,
#                                      # verdict: only 200s, no socket errors, RSS growth from the
#                                      # first 100k mark to the end < 1 MiB, fds back to the start
#   bash Benchmarks/soak.sh --asan     # ASan+LSan debug build (.build-asan), 50,000 mixed requests
#                                      # (valid and invalid, every route, signed callbacks, SIGHUP
#                                      # reloads), SIGTERM; no ASan report, no leak but the known
#                                      # bounded ones (suppressed, listed, capped: soak.py)
#
# Environment:
#   UPSIGN_BIN=path      skip the build (with --asan it must be an ASan build: checked)
#   SOAK_REQUESTS=n      requests after the warm-up (default 1,000,000; --asan 50,000)
#   SOAK_STEP=n          sample every n requests (default 100,000, or n/5 when n < 200,000)
#   SOAK_CONNECTIONS=n   wrk connections (default 32 = the upstream keepalive; threads are 64)
#   SOAK_LOG_LEVEL=lvl   the worker's --log-level (default info: one line per request)
#   SOAK_KEEP=1          keep the run folder (/tmp/upsign-soak-*) even when every check passed
#   --asan only: SOAK_SIGHUPS=0..2 (reloads under load, default 2), SOAK_NO_SUPPRESSIONS=1 (report
#                every leak, the known ones too; see LSAN_SUPPRESSIONS in soak.py)
# Exit status: 0 when every check passed, 1 when one failed, 2 on a setup problem.
# Needs nginx, wrk, openssl (Debian packages; deploy/install-deps.sh) and Swift 6 to build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=soak
pass=()
for a in "$@"; do
  case $a in
    --asan) mode=asan ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) pass+=("$a") ;;
  esac
done

if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi

if [[ -n ${UPSIGN_BIN:-} ]]; then
  BIN=$UPSIGN_BIN
elif [[ $mode == asan ]]; then
  # Debug: ASan's reports then carry file:line, and the checks of a debug build stay in.
  build=(swift build --sanitize=address --scratch-path .build-asan --product upsign)
  echo "soak.sh: ${build[*]}" >&2
  "${build[@]}" >&2
  BIN=$(swift build --sanitize=address --scratch-path .build-asan --show-bin-path)/upsign
else
  build=(swift build -c release --scratch-path .build-soak --product upsign)
  echo "soak.sh: ${build[*]}" >&2
  "${build[@]}" >&2
  BIN=$(swift build -c release --scratch-path .build-soak --show-bin-path)/upsign
fi
[[ -x $BIN ]] || { echo "soak.sh: no executable at $BIN" >&2; exit 2; }

exec python3 Benchmarks/soak.py --mode "$mode" --bin "$BIN" ${pass[@]+"${pass[@]}"}
