#!/usr/bin/env bash
# Builds the libFuzzer targets (release, -sanitize=fuzzer,address, in .build-fuzz/) and runs them.
#
#   bash Fuzz/run.sh [--ci | --full | --known | --build] [TARGET...]
#
#   --ci     a short run per target (FUZZ_CI_SECONDS, default 25 s each, two at a time);
#            the whole script, build included, stays under about 4 minutes on 2 cores
#   --full   1,000,000 executions per target (FUZZ_RUNS to change), one at a time
#   --known  replays the committed regression seeds (Fuzz/corpus/*/regression-*) with the
#            known-bug bypasses off (UPSIGN_FUZZ_KNOWN_BUGS=crash): exits non-zero while any of
#            them still reproduces. Not for CI: it fails until those bugs are fixed.
#   --build  builds only
#   (none)   as --ci
#   TARGET   fuzz-fastcgi-records fuzz-request fuzz-config fuzz-callback (default: all four)
#
# Every run reads a copy of the committed seeds (Fuzz/corpus/TARGET/ is never written) and writes
# the inputs it finds to a fresh temporary folder; a crash, timeout (FUZZ_TIMEOUT s per input), leak, out-
# of-memory (FUZZ_RSS_MB), sanitizer report or oracle failure stops the target, keeps the input
# in .build-fuzz/artifacts/TARGET/ and makes the script exit non-zero. Per target it prints the
# executions, executions per second, the final coverage line and the wall time.
#
# Environment: FUZZ_JOBS (targets run at once; --ci 2, --full 1), FUZZ_CI_SECONDS, FUZZ_RUNS,
# FUZZ_TIMEOUT (10), FUZZ_RSS_MB (2560; fuzz-config 6144), FUZZ_KEEP=1 (keep the new inputs; the folder is printed).
# Needs Swift 6 (PATH, or /opt/swift/usr/bin), whose toolchain ships libFuzzer and the sanitizer
# runtimes, and Debian's libfcgi-dev libssl-dev libcurl4-openssl-dev pkg-config (installed with
# apt-get when missing and running as root).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
SCRATCH="$ROOT/.build-fuzz"
ALL_TARGETS=(fuzz-fastcgi-records fuzz-request fuzz-config fuzz-callback)

mode=ci
targets=()
for arg in "$@"; do
  case $arg in
    --ci) mode=ci ;;
    --full) mode=full ;;
    --known) mode=known ;;
    --build) mode=build ;;
    -h|--help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
    fuzz-*) targets+=("$arg") ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done
(( ${#targets[@]} )) || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "unknown target: $t" >&2; exit 2; }
done

say() { printf '\n==> %s\n' "$*"; }
script_start=$(date +%s)

# --- toolchain and packages -----------------------------------------------------------------------
if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null 2>&1 || { echo "swift not found (PATH or /opt/swift/usr/bin)" >&2; exit 2; }
missing=()
for p in libfcgi-dev libssl-dev libcurl4-openssl-dev pkg-config; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$p")
done
if (( ${#missing[@]} )); then
  if [[ $(id -u) -eq 0 ]]; then
    say "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "missing packages: ${missing[*]} (run as root, or install them)" >&2
    exit 2
  fi
fi
# libFuzzer's runtime comes with the toolchain's clang; say so plainly if this one lacks it.
toolchain_lib=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")/lib
if ! compgen -G "$toolchain_lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null \
  && ! compgen -G "$toolchain_lib/swift/clang/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
  echo "this Swift toolchain ($toolchain_lib) has no libFuzzer runtime (libclang_rt.fuzzer)" >&2
  exit 2
fi

# --- build ------------------------------------------------------------------------------------------
# One set of flags for every product, so they share one build; the sanitizers apply to every
# module, C and C++ dependencies included. SwiftPM passes --sanitize=fuzzer --sanitize=address to
# swiftc as two -sanitize= flags, of which swiftc keeps only the last: Swift code would get
# ASan but no coverage counters (libFuzzer: "Is the code instrumented for coverage?"). The
# trailing -Xswiftc -sanitize=fuzzer,address is the one swiftc keeps. toml_assert.h routes toml++'s
# assertions to the known-bug hook (see the file).
BUILD_FLAGS=(-c release --sanitize=fuzzer --sanitize=address -Xswiftc -sanitize=fuzzer,address
  -Xcxx -include -Xcxx "$ROOT/Fuzz/toml_assert.h" --scratch-path "$SCRATCH")
say "build: UPSIGN_FUZZ=1 swift build ${BUILD_FLAGS[*]} --product TARGET"
build_start=$(date +%s)
mkdir -p "$SCRATCH"
for t in "${targets[@]}"; do
  if ! UPSIGN_FUZZ=1 swift build "${BUILD_FLAGS[@]}" --product "$t" >"$SCRATCH/build-$t.log" 2>&1; then
    grep -Ev 'Cannot export local symbol' "$SCRATCH/build-$t.log" | tail -40 >&2
    echo "build of $t failed (log: $SCRATCH/build-$t.log)" >&2
    exit 1
  fi
done
BIN=$(UPSIGN_FUZZ=1 swift build "${BUILD_FLAGS[@]}" --show-bin-path)
echo "built in $(( $(date +%s) - build_start )) s: $BIN"
[[ $mode == build ]] && exit 0

# --- run --------------------------------------------------------------------------------------------
export SWIFT_BACKTRACE=enable=no   # libFuzzer and ASan report crashes; Swift's backtracer would race them
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=0:handle_abort=1:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$ROOT/Fuzz/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
if [[ -z ${ASAN_SYMBOLIZER_PATH:-} ]] && command -v llvm-symbolizer >/dev/null 2>&1; then
  export ASAN_SYMBOLIZER_PATH=$(command -v llvm-symbolizer)
fi
TIMEOUT=${FUZZ_TIMEOUT:-10}
RSS_MB=${FUZZ_RSS_MB:-2560}
ARTIFACTS="$SCRATCH/artifacts"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/upsign-fuzz-run.XXXXXX")
SHM=$(mktemp -d /dev/shm/upsign-fuzz-run.XXXXXX 2>/dev/null || mktemp -d "$WORK/shm.XXXXXX")
cleanup() {
  rm -rf "$SHM" "$WORK/tmp"
  if [[ ${FUZZ_KEEP:-0} == 1 ]]; then echo "new inputs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
# The targets' sandboxes (credentials files, a records file) go here, so that a run that crashes
# leaves nothing behind.
mkdir -p "$WORK/tmp"
export TMPDIR="$WORK/tmp" UPSIGN_FUZZ_SHM="$SHM"

# fuzz-config leaks what TOMLKit leaks per Configuration.parse (about 2 KB per input; see
# Fuzz/lsan.supp), so a million inputs need more room than the others.
rss_mb() {
  case $1 in
    fuzz-config) echo "${FUZZ_RSS_MB:-6144}" ;;
    *) echo "$RSS_MB" ;;
  esac
}

# fuzz-config and fuzz-fastcgi-records call dependencies that leak on purpose-less paths
# (TOMLKit on every parse, libfcgi on unknown management records; both suppressed in
# Fuzz/lsan.supp): libFuzzer's per-input leak check would fire on nearly every input, run a full
# LeakSanitizer pass each time (the first thousand times) and then switch itself off. Those two
# targets check leaks once, when the run ends (ASan's own check, the same suppressions).
detect_leaks() {
  case $1 in
    fuzz-config|fuzz-fastcgi-records) echo 0 ;;
    *) echo 1 ;;
  esac
}

max_len() {
  case $1 in
    fuzz-fastcgi-records) echo 16384 ;;
    fuzz-config) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

if [[ $mode == known ]]; then
  say "known bugs: replaying the regression seeds with the bypasses and the libfcgi leak suppression off"
  grep -v '^leak:libfcgi' "$ROOT/Fuzz/lsan.supp" >"$WORK/known.supp"
  export LSAN_OPTIONS="suppressions=$WORK/known.supp:print_suppressions=0"
  still=0
  for t in "${targets[@]}"; do
    for seed in "$ROOT"/Fuzz/corpus/"$t"/regression-*; do
      [[ -e $seed ]] || continue
      if UPSIGN_FUZZ_KNOWN_BUGS=crash "$BIN/$t" -runs=1 "$seed" >"$WORK/known.log" 2>&1; then
        echo "fixed:        $t/$(basename "$seed")"
      else
        still=1
        echo "REPRODUCES:   $t/$(basename "$seed"): $(grep -m1 -E 'assertion|ORACLE FAILURE|ERROR:' "$WORK/known.log" || echo 'non-zero exit')"
      fi
    done
  done
  exit $still
fi

if [[ $mode == full ]]; then
  limit=(-runs="${FUZZ_RUNS:-1000000}")
  jobs=${FUZZ_JOBS:-1}
else
  limit=(-max_total_time="${FUZZ_CI_SECONDS:-25}")
  jobs=${FUZZ_JOBS:-2}
fi

# Runs one target; its log goes to $WORK/TARGET.log, its exit status to $WORK/TARGET.rc.
run_target() {
  local t=$1 dict=() start rc
  # The committed seeds are read from a copy: libFuzzer writes only to its first corpus folder,
  # but nothing it does can touch Fuzz/corpus/ this way.
  mkdir -p "$WORK/$t.new" "$ARTIFACTS/$t"
  cp -R "$ROOT/Fuzz/corpus/$t" "$WORK/$t.seeds"
  [[ -f $ROOT/Fuzz/dicts/$t.dict ]] && dict=(-dict="$ROOT/Fuzz/dicts/$t.dict")
  start=$(date +%s)
  set +e
  "$BIN/$t" "${limit[@]}" -timeout="$TIMEOUT" -rss_limit_mb="$(rss_mb "$t")" -max_len="$(max_len "$t")" \
    -detect_leaks="$(detect_leaks "$t")" -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$t/" "${dict[@]}" \
    "$WORK/$t.new" "$WORK/$t.seeds" >"$WORK/$t.log" 2>&1
  rc=$?
  set -e
  echo "$rc $(( $(date +%s) - start ))" >"$WORK/$t.rc"
}

say "fuzzing (${limit[*]}, -timeout=$TIMEOUT, -rss_limit_mb=$RSS_MB (fuzz-config $(rss_mb fuzz-config)), $jobs at a time)"
running=0
for t in "${targets[@]}"; do
  run_target "$t" &
  running=$(( running + 1 ))
  if (( running >= jobs )); then wait -n || true; running=$(( running - 1 )); fi
done
wait || true

status=0
for t in "${targets[@]}"; do
  read -r rc seconds <"$WORK/$t.rc"
  log="$WORK/$t.log"
  execs=$(grep -m1 '^stat::number_of_executed_units:' "$log" | awk '{print $2}' || true)
  speed=$(grep -m1 '^stat::average_exec_per_sec:' "$log" | awk '{print $2}' || true)
  rss=$(grep -m1 '^stat::peak_rss_mb:' "$log" | awk '{print $2}' || true)
  coverage=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -E 's/[[:space:]]+/ /g' || true)
  problem=$(grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|ORACLE FAILURE|SUMMARY: |==[0-9]+== ERROR' "$log" || true)
  printf '\n%s: %s executions, %s exec/s, peak RSS %s MB, %s s wall\n  %s\n' \
    "$t" "${execs:-?}" "${speed:-?}" "${rss:-?}" "$seconds" "${coverage:-no coverage line}"
  grep -E '^KNOWN BUG' "$log" | sed 's/^/  /' || true
  if [[ $rc -ne 0 || -n $problem ]]; then
    status=1
    echo "  FAILED (exit $rc): ${problem:-see the log}"
    echo "  ---- last 60 lines of the log ----"
    tail -60 "$log" | sed 's/^/  | /'
    echo "  the input is in $ARTIFACTS/$t/ (reproduce: $BIN/$t FILE)"
  fi
done
echo
echo "fuzz ($mode): $([[ $status -eq 0 ]] && echo passed || echo FAILED) in $(( $(date +%s) - script_start )) s"
exit $status
