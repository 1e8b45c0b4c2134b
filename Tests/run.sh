#!/usr/bin/env bash
# Run every test: Swift unit tests, then the integration suite (Python, real nginx + workers).
#
#   bash Tests/run.sh            # from anywhere; as root on Debian 12
#
# Steps: install missing Debian packages (deploy/install-deps.sh), `swift format lint`, `swift build` (debug),
# `swift test`, a venv in .build-venv/ with Tests/Integration/requirements.txt, the client
# examples' Node tests (`node --test deploy/examples/miniprogram/`), `pytest Tests/Integration`
# against the debug binary, then the operations runs scaled down: a soak through nginx
# (Benchmarks/soak.sh), one under ASan/LSan (soak.sh --asan) and the fuzzers (Fuzz/run.sh --ci).
# Exits non-zero if anything fails.
#
# Environment:
#   SWIFT_SCRATCH_PATH   build folder for swift (default: SwiftPM's .build)
#   PYTEST_ARGS          extra pytest arguments (e.g. "-k http -x")
#   SKIP_SWIFT_TEST=1    skip `swift test` (the integration suite still runs)
#   SKIP_OPS=1           skip the soak, AddressSanitizer and fuzzing runs at the end
#   SOAK_REQUESTS, ASAN_REQUESTS   their sizes (default 100000 and 20000)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

say() { printf '\n==> %s\n' "$*"; }

# --- system packages ---------------------------------------------------------------------
say "system packages"
if [[ -f deploy/install-deps.sh ]]; then
  if [[ $(id -u) -eq 0 ]]; then
    bash deploy/install-deps.sh
  else
    echo "not root: skipping deploy/install-deps.sh (the suite needs nginx, spawn-fcgi, wrk, ...)"
  fi
else
  pkgs=(libfcgi-dev libfcgi-bin libssl-dev libcurl4-openssl-dev pkg-config nginx spawn-fcgi wrk curl python3-venv openssl systemd apache2 libapache2-mod-fcgid lighttpd caddy ceph-mon ceph-osd radosgw chromium chromium-driver)
  missing=()
  for p in "${pkgs[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$p")
  done
  if (( ${#missing[@]} )); then
    DEBIAN_FRONTEND=noninteractive apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  fi
fi

if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi

swift_args=()
if [[ -n ${SWIFT_SCRATCH_PATH:-} ]]; then
  swift_args+=(--scratch-path "$SWIFT_SCRATCH_PATH")
fi

# --- Swift -----------------------------------------------------------------------------------
say "swift format lint (.swift-format)"
swift format lint --strict -r Sources Tests Benchmarks/SigningCore Fuzz Package.swift

say "swift build (debug)"
swift build "${swift_args[@]}"
BIN_DIR=$(swift build "${swift_args[@]}" --show-bin-path)
export UPSIGN_BIN="$BIN_DIR/upsign"
[[ -x $UPSIGN_BIN ]] || { echo "no binary at $UPSIGN_BIN" >&2; exit 1; }

status=0
if [[ ${SKIP_SWIFT_TEST:-0} != 1 ]]; then
  say "swift test"
  swift test "${swift_args[@]}" || status=$?
  (( status == 0 )) || echo "swift test FAILED (exit $status); running the integration suite anyway" >&2
fi

# --- Python integration suite ----------------------------------------------------------------
say "integration suite: virtualenv"
VENV="$ROOT/.build-venv"
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r Tests/Integration/requirements.txt

# --- the client-side examples (Node's built-in test runner; no npm packages) --------------------
node_status=0
if [[ -d deploy/examples/miniprogram ]]; then
  say "client examples (node --test)"
  node --test deploy/examples/miniprogram/ || node_status=$?
fi

say "integration suite (pytest)"
pytest_status=0
# shellcheck disable=SC2086
"$VENV/bin/python" -m pytest Tests/Integration -q -p no:cacheprovider ${PYTEST_ARGS:-} || pytest_status=$?

# --- operations: soak, sanitizers, fuzzing, scaled down (full runs: docs/operations.md) ---
ops_status=0
if [[ ${SKIP_OPS:-0} != 1 ]]; then
  say "soak: ${SOAK_REQUESTS:-100000} requests through nginx at saturation (debug build)"
  SOAK_REQUESTS=${SOAK_REQUESTS:-100000} bash Benchmarks/soak.sh || ops_status=1
  say "soak under AddressSanitizer + LeakSanitizer: ${ASAN_REQUESTS:-20000} mixed requests"
  env -u UPSIGN_BIN SOAK_REQUESTS=${ASAN_REQUESTS:-20000} bash Benchmarks/soak.sh --asan || ops_status=1
  say "fuzzing: a short run per libFuzzer target"
  bash Fuzz/run.sh --ci || ops_status=1
fi

if (( status != 0 || node_status != 0 || pytest_status != 0 || ops_status != 0 )); then
  echo "FAILED: swift test exit $status, node --test exit $node_status, pytest exit $pytest_status, operations $ops_status" >&2
  exit 1
fi
echo "all tests passed"
