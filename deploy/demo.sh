#!/usr/bin/env bash
# Run upsign for real on this machine: nginx on 127.0.0.1:8080 (plain HTTP) in front of upsign
# on a unix socket, with deploy/demo.toml and fake credentials. nginx also serves the browser
# example (deploy/examples/browser/index.html) at /upload/demo/.
#
#   bash deploy/demo.sh          install missing Debian packages, build, (re)start both, show a request
#   bash deploy/demo.sh local    the same, plus a local S3 store (Ceph RADOS Gateway, deploy/rgw.sh)
#                                and a profile "local" for it: uploads really land, from the page too
#   bash deploy/demo.sh stop     stop everything it started
#   bash deploy/demo.sh status   show whether both are up
#
# The Swift 6 toolchain is not a Debian package and is not installed here: install it first
# (https://www.swift.org/install/linux/), or pass a built binary with UPSIGN_BIN.
#
# Environment:
#   UPSIGN_BIN=path       use this upsign binary and skip the build
#   UPSIGN_DEMO_DIR=dir   run folder for socket, pids, logs, nginx temp files (/tmp/upsign-demo)
#   UPSIGN_DEMO_PORT=n    nginx's port on 127.0.0.1 (8080)
#   UPSIGN_SKIP_DEPS=1    don't run deploy/install-deps.sh
#
# nginx passes the fixed identity "demo-user" (fastcgi_param UPSIGN_USER) where production
# would take it from auth_request. Everything this script starts is stopped by its pid files;
# nothing is written outside the run folder and the build folder.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PATH=$PATH:/usr/sbin:/sbin          # nginx, for users whose PATH lacks sbin
RUN_DIR=${UPSIGN_DEMO_DIR:-/tmp/upsign-demo}
PORT=${UPSIGN_DEMO_PORT:-8080}
CONFIG=$ROOT/deploy/demo.toml
BASE=http://127.0.0.1:$PORT
STORE_PORT=$((PORT + 1))
LOCAL=0
DEPS_FLAG=--no-test-extras
# The local store's test user (deploy/rgw.sh creates it); nothing outside this machine knows it.
LOCAL_ACCESS_KEY=UPSIGNRGWTESTKEY0001
LOCAL_SECRET=upsign-rgw-test-secret-0000000000000000
LOCAL_BUCKET=upsign-demo

# Clearly fake credentials: the signatures are real HMACs, but OSS knows no such key.
DEMO_ACCESS_KEY_ID=LTAI5tDemoDemoDemoDemo0000
DEMO_ACCESS_KEY_SECRET=demo-secret-not-a-real-key-0000000000
DEMO_SESSION_TOKEN=CAISdemo-sts-token-not-real-0000000000

say() { printf '%s\n' "demo: $*"; }
die() { printf '%s\n' "demo: $*" >&2; exit 1; }

# The run folder: ours, a real directory, not writable by others (it lives in /tmp).
prepare_run_dir() {
  if [[ -L $RUN_DIR ]]; then die "$RUN_DIR is a symlink; refusing to use it"; fi
  mkdir -p "$RUN_DIR"
  [[ -O $RUN_DIR ]] || die "$RUN_DIR belongs to another user; set UPSIGN_DEMO_DIR"
  chmod 0700 "$RUN_DIR"
  mkdir -p "$RUN_DIR/nginx-tmp"
}

# alive PID: the process exists and is not a zombie waiting for its (adoptive) parent.
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# stop_pidfile FILE NAME WORD: stops the process in FILE if its command line contains WORD
# (so a stale pid file never makes us signal an unrelated process), TERM first, KILL after 15 s.
stop_pidfile() {
  local file=$1 name=$2 word=$3 pid
  [[ -f $file ]] || return 0
  pid=$(tr -dc '0-9' <"$file")
  if [[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$word"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      say "$name (pid $pid) did not stop within 15 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    else
      say "stopped $name (pid $pid)"
    fi
  fi
  rm -f "$file"
}

stop_all() {
  [[ -d $RUN_DIR ]] || return 0
  stop_pidfile "$RUN_DIR/nginx.pid" nginx "nginx"
  stop_pidfile "$RUN_DIR/upsign.pid" upsign "serve"
  rm -f "$RUN_DIR/upsign.sock"
  if [[ -d $RUN_DIR/rgw ]]; then bash "$ROOT/deploy/rgw.sh" stop "$RUN_DIR/rgw" && say "stopped the local store"; fi
}

status() {
  local up=0
  for name in nginx upsign; do
    local file=$RUN_DIR/$name.pid
    if [[ -f $file ]] && alive "$(tr -dc '0-9' <"$file")"; then
      say "$name running (pid $(tr -dc '0-9' <"$file"))"
    else
      say "$name not running"; up=1
    fi
  done
  if curl -fsS --max-time 2 "$BASE/upload/healthz" >/dev/null 2>&1; then
    say "$BASE/upload/healthz answers"
  else
    say "$BASE/upload/healthz does not answer"; up=1
  fi
  return $up
}

install_deps() {
  [[ ${UPSIGN_SKIP_DEPS:-} == 1 ]] && return 0
  if [[ $(id -u) -eq 0 ]]; then
    bash "$ROOT/deploy/install-deps.sh" "$DEPS_FLAG"
  elif command -v sudo >/dev/null 2>&1; then
    sudo bash "$ROOT/deploy/install-deps.sh" "$DEPS_FLAG"
  else
    say "not root and no sudo: skipping deploy/install-deps.sh"
  fi
  command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || die "nginx is not installed"
  command -v curl >/dev/null 2>&1 || die "curl is not installed"
}

# Sets BIN: $UPSIGN_BIN, or a release build of this checkout.
build() {
  if [[ -n ${UPSIGN_BIN:-} ]]; then
    BIN=$UPSIGN_BIN
    [[ -x $BIN ]] || die "UPSIGN_BIN=$BIN is not an executable file"
    say "using $BIN (UPSIGN_BIN set; not building)"
    return 0
  fi
  if ! command -v swift >/dev/null 2>&1; then
    [[ -x /opt/swift/usr/bin/swift ]] && PATH=/opt/swift/usr/bin:$PATH
    command -v swift >/dev/null 2>&1 ||
      die "no Swift toolchain: install Swift 6 (https://www.swift.org/install/linux/) and re-run"
  fi
  say "building upsign: swift build -c release --static-swift-stdlib (the first build takes several minutes)"
  swift build -c release --static-swift-stdlib --package-path "$ROOT"
  BIN=$(swift build -c release --package-path "$ROOT" --show-bin-path)/upsign
  [[ -x $BIN ]] || die "build finished but $BIN is missing"
}

# `local`: the store, its bucket, and a configuration with a profile for it (demo.toml + "local").
start_local_store() {
  say "starting the local S3 store on 127.0.0.1:$STORE_PORT (deploy/rgw.sh)"
  bash "$ROOT/deploy/rgw.sh" start "$RUN_DIR/rgw" "$STORE_PORT" >/dev/null
  # S3 CreateBucket, signed by curl (SigV4); 409 when it exists already is fine.
  local code
  code=$(curl -sS -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$LOCAL_ACCESS_KEY:$LOCAL_SECRET" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    -X PUT "http://127.0.0.1:$STORE_PORT/$LOCAL_BUCKET")
  [[ $code == 200 || $code == 409 ]] || die "could not create the bucket $LOCAL_BUCKET (HTTP $code)"
  CONFIG=$RUN_DIR/demo-local.toml
  cat "$ROOT/deploy/demo.toml" - >"$CONFIG" <<EOF

# Added by demo.sh local: the local S3 store, reached through the demo's nginx (/store/).
[profiles.local]
provider = "s3"
bucket = "$LOCAL_BUCKET"
region = "us-east-1"
endpoint = "$BASE/store/$LOCAL_BUCKET"
key = "demo/{user}/{uuid}{ext}"
max_size = 10485760
object_acl = "public-read"        # so the page's links open
access_key_id_env = "UPSIGN_DEMO_S3_KEY"
secret_env = "UPSIGN_DEMO_S3_SECRET"
EOF
  say "local store ready: bucket $LOCAL_BUCKET, profile \"local\" in $CONFIG"
}

start_upsign() {
  local out
  if ! out=$("$BIN" check-config --config "$CONFIG" 2>&1); then
    printf '%s\n' "$out" >&2
    die "$CONFIG does not pass check-config"
  fi
  say "check-config: $out"
  rm -f "$RUN_DIR/upsign.sock"
  # Credentials go in through the environment, never the command line (which /proc shows to
  # every user). setsid: Ctrl-C in this terminal later must not reach the demo.
  (
    unset OSS_SESSION_TOKEN ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET \
          ALIBABA_CLOUD_SECURITY_TOKEN
    export OSS_ACCESS_KEY_ID=$DEMO_ACCESS_KEY_ID OSS_ACCESS_KEY_SECRET=$DEMO_ACCESS_KEY_SECRET
    # A fake STS token, to show where a temporary key's token goes (form and policy).
    export OSS_SESSION_TOKEN=$DEMO_SESSION_TOKEN
    export UPSIGN_DEMO_S3_KEY=$LOCAL_ACCESS_KEY UPSIGN_DEMO_S3_SECRET=$LOCAL_SECRET
    cd "$RUN_DIR"
    exec setsid "$BIN" serve --config "$CONFIG" --listen "unix:$RUN_DIR/upsign.sock"
  ) </dev/null >>"$RUN_DIR/upsign.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$RUN_DIR/upsign.pid"
  for _ in $(seq 100); do
    [[ -S $RUN_DIR/upsign.sock ]] && break
    alive "$pid" || break
    sleep 0.1
  done
  if ! alive "$pid" || [[ ! -S $RUN_DIR/upsign.sock ]]; then
    tail -n 20 "$RUN_DIR/upsign.log" >&2 || true
    die "upsign did not start (log: $RUN_DIR/upsign.log)"
  fi
  say "upsign running (pid $pid), socket $RUN_DIR/upsign.sock, log $RUN_DIR/upsign.log"
}

start_nginx() {
  local conf=$RUN_DIR/nginx.conf
  # The browser example page, served at /upload/demo/ (a copy: nginx reads only the run folder).
  mkdir -p "$RUN_DIR/browser"
  cp "$ROOT/deploy/examples/browser/index.html" "$RUN_DIR/browser/index.html"
  sed -e "s|@RUN_DIR@|$RUN_DIR|g" -e "s|@PORT@|$PORT|g" -e "s|@STORE_PORT@|$STORE_PORT|g" \
    "$ROOT/deploy/demo-nginx.conf" >"$conf"
  local args=(-p "$RUN_DIR/" -e "$RUN_DIR/nginx-error.log" -c "$conf")
  if ! nginx -t -q "${args[@]}" || ! nginx "${args[@]}"; then
    tail -n 20 "$RUN_DIR/nginx-error.log" >&2 || true
    die "nginx did not start (is port $PORT in use? set UPSIGN_DEMO_PORT)"
  fi
  say "nginx running (pid $(cat "$RUN_DIR/nginx.pid")) on $BASE, config $conf"
}

wait_healthy() {
  for _ in $(seq 100); do
    curl -fsS --max-time 2 "$BASE/upload/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  tail -n 20 "$RUN_DIR/upsign.log" "$RUN_DIR/nginx-error.log" >&2 || true
  die "$BASE/upload/healthz did not answer within 20 s"
}

# show TITLE URL: prints the curl command and its pretty-printed answer.
show() {
  local title=$1 url=$2 body
  printf '\n# %s\n$ curl -s '\''%s'\''\n' "$title" "$url"
  body=$(curl -sS --max-time 5 "$url")
  printf '%s\n' "$body" | python3 -m json.tool 2>/dev/null || printf '%s\n' "$body"
  LAST_BODY=$body
}

demo_requests() {
  show "native format, OSS V4 (profile demo, the default): 'fields' is wx.uploadFile's formData" \
    "$BASE/upload/policy?profile=demo&filename=cat.jpg&contentType=image/jpeg&size=52341"
  printf '\n# the policy it signed, decoded:\n'
  printf '%s' "$LAST_BODY" | python3 -c '
import base64, json, sys
try:
    policy = json.load(sys.stdin)["fields"]["policy"]
    print(json.dumps(json.loads(base64.b64decode(policy)), indent=4))
except Exception as e:
    print("(could not decode: %s)" % e)'
  show "java format (profile avatar, OSS V1): the Java bean, for clients of the old Java endpoint" \
    "$BASE/upload/policy?profile=avatar&filename=me.png"
  if [[ $LOCAL == 1 ]]; then local_upload; fi
}

# `local`: a real upload with the fields of a policy, as a client does, and the object read back.
local_upload() {
  local file=$RUN_DIR/hello.txt body key code field args=()
  printf 'hello from upsign %s\n' "$(date -u +%FT%TZ)" >"$file"
  show "profile local: a policy for the local S3 store" \
    "$BASE/upload/policy?profile=local&filename=hello.txt&contentType=text/plain&size=$(stat -c %s "$file")"
  body=$LAST_BODY
  key=$(printf '%s' "$body" | python3 -c 'import json,sys; print(json.load(sys.stdin)["key"])')
  while IFS= read -r -d '' field; do args+=(-F "$field"); done < <(printf '%s' "$body" | python3 -c '
import json, sys
for name, value in json.load(sys.stdin)["fields"].items():
    sys.stdout.write(name + "=" + value + "\0")')
  printf '\n# posting the file with exactly those fields, file last:\n'
  printf '$ curl -F key=... -F policy=... (every field) -F file=@hello.txt %s\n' "$BASE/store/$LOCAL_BUCKET"
  code=$(curl -sS -o /dev/null -w '%{http_code}' "${args[@]}" -F "file=@$file;type=text/plain" "$BASE/store/$LOCAL_BUCKET")
  printf 'HTTP %s\n\n# reading it back:\n$ curl -s %s\n' "$code" "$BASE/store/$LOCAL_BUCKET/$key"
  curl -sS "$BASE/store/$LOCAL_BUCKET/$key"
}

# A start that fails half-way stops what it started.
on_exit() {
  local rc=$?
  if [[ $rc -ne 0 && ${STARTING:-0} == 1 ]]; then
    stop_all
  fi
  exit $rc
}

start() {
  install_deps
  build
  prepare_run_dir
  stop_all
  if [[ $LOCAL == 1 ]]; then start_local_store; fi
  : >"$RUN_DIR/upsign.log"
  : >"$RUN_DIR/nginx-error.log"
  STARTING=1
  trap on_exit EXIT
  start_upsign
  start_nginx
  wait_healthy
  STARTING=0
  demo_requests
  cat <<EOF

upsign and nginx are running (the OSS credentials are fake: OSS would refuse those uploads).
  health:  curl -s $BASE/upload/healthz
  browser: $BASE/upload/demo/?profile=$([[ $LOCAL == 1 ]] && echo "local  (uploads land in the local store)" || echo "demo  (its uploads fail with the fake key; 'demo.sh local' adds a store)")
  logs:    $RUN_DIR/upsign.log  $RUN_DIR/nginx-error.log  $RUN_DIR/nginx-access.log
  stop:    bash deploy/demo.sh stop
EOF
}

case ${1:-start} in
  start|restart) start ;;
  local) LOCAL=1; DEPS_FLAG=--store-only; start ;;
  stop) stop_all; say "stopped" ;;
  status) status ;;
  *) die "usage: demo.sh [start|local|stop|status]" ;;
esac
