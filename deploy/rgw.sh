#!/usr/bin/env bash
# A throw-away single-node Ceph RADOS Gateway (S3) on loopback, for the integration tests and
# `deploy/demo.sh local`.
#
#   bash rgw.sh start DIR PORT    # mon + memstore OSD + radosgw on http://127.0.0.1:PORT
#   bash rgw.sh stop DIR          # stop what `start DIR` started
#
# Everything lives under DIR (config, keyrings, daemon data, pid files, logs); /etc/ceph and
# /var/lib/ceph are never read or written. The OSD is a `memstore` (RAM only), so the data is
# gone when it stops. `start` creates the S3 user with the fixed test keys (ACCESS_KEY,
# SECRET_KEY below), waits until S3 answers and prints the endpoint. On failure it prints the tail
# of every log, stops what it started and exits non-zero.
#
# `start` on a DIR whose daemons still run stops them first and rebuilds the cluster state
# (only the files and folders this script creates). `stop` on a DIR with nothing running is a
# no-op; it removes the pid files and nothing else.
#
# Environment:
#   RGW_MON_PORT    the monitor's port (default: a free loopback port)
#   RGW_START_WAIT  seconds to wait for the whole cluster (default 90)
#
# Packages (Debian 12): ceph-mon ceph-osd radosgw (ceph-common, ceph-base come with them).
# Meant to run as root (CI); needs python3 only to pick a free port.
set -euo pipefail

ACCESS_KEY=UPSIGNRGWTESTKEY0001
SECRET_KEY=upsign-rgw-test-secret-0000000000000000
RGW_USER=upsign-e2e

die() { echo "rgw.sh: $*" >&2; exit 1; }
usage() { die "usage: rgw.sh start DIR PORT | rgw.sh stop DIR"; }

# --- stop ------------------------------------------------------------------------------------

# The pid in DIR/run/NAME.pid if that process is still alive and is our daemon (its command
# line names DIR/ceph.conf: a stale pid file must not make us kill a recycled pid), else nothing.
live_pid() {
  local f=$DIR/run/$1.pid pid
  [[ -f $f ]] || return 0
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-c $DIR/ceph.conf" && echo "$pid"
  return 0
}

# True while one of the pids runs. A zombie counts as gone: the daemons outlive the rgw.sh that
# spawned them, and a container's pid 1 may never reap them.
any_alive() {
  local pid state
  for pid in "$@"; do
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || continue
    [[ -n $state && $state != Z ]] && return 0
  done
  return 1
}

# TERM the named daemons, wait up to 10 s for them all, then KILL what is left; remove their
# pid files.
stop_group() {
  local name pid pids=() i
  for name in "$@"; do
    pid=$(live_pid "$name")
    if [[ -n $pid ]]; then
      pids+=("$pid")
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for ((i = 0; i < 100; i++)); do
    any_alive "${pids[@]}" || break
    sleep 0.1
  done
  (( ${#pids[@]} == 0 )) || kill -KILL "${pids[@]}" 2>/dev/null || true
  for name in "$@"; do rm -f "$DIR/run/$name.pid"; done
}

# One at a time, in the reverse order of start: the gateway's shutdown talks to the OSD (it
# hangs until KILLed when the OSD goes first), the OSD tells the monitor that it leaves.
stop_all() {
  stop_group rgw
  stop_group osd
  stop_group mon
}

# --- start -----------------------------------------------------------------------------------

ceph_() { ceph -c "$DIR/ceph.conf" --connect-timeout 10 "$@"; }

# Print the last lines of every log, stop everything, exit 1.
fail_start() {
  echo "rgw.sh: start-up failed: $*" >&2
  local f
  for f in "$DIR"/log/*; do
    [[ -s $f ]] || continue
    echo "----- tail of $f -----" >&2
    tail -n 25 "$f" >&2
  done
  stop_all
  exit 1
}

# Run a daemon in the foreground (-f), detached in its own session, all output to its log;
# its pid goes to DIR/run/NAME.pid. No output stream of the caller is inherited, so a caller
# that reads our stdout to EOF (subprocess.run) is not kept waiting by the daemons.
spawn() {
  local name=$1; shift
  setsid "$@" -f </dev/null >"$DIR/log/$name.out" 2>&1 &
  echo $! >"$DIR/run/$name.pid"
}

# Poll `check` (a command) every 0.5 s until it succeeds or the deadline passes;
# fail the start-up if a daemon of `names` died meanwhile.
wait_for() {
  local what=$1 check=$2 name; shift 2
  until eval "$check" >/dev/null 2>&1; do
    for name in "$@"; do
      [[ -n $(live_pid "$name") ]] || fail_start "$name exited while waiting for $what"
    done
    (( SECONDS < DEADLINE )) || fail_start "no $what within ${WAIT}s"
    sleep 0.5
  done
}

write_conf() {
  cat >"$DIR/ceph.conf" <<EOF
# Throw-away single-node cluster for the upsign tests (written by rgw.sh).
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
# v2 only, on loopback only.
ms bind msgr1 = false
ms bind ipv6 = false
# cephx: with "auth ... = none" the daemons stall at start-up.
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $DIR/keyring
# One OSD: one copy, few placement groups (no mgr runs, so no autoscaler).
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
# Commit monitor map changes at once instead of batching them for 1 s: radosgw creates its
# pools one map change at a time, and this takes the whole start-up from ~13 s to ~4 s.
paxos propose interval = 0.1
paxos min wait = 0.01
mon warn on pool no redundancy = false
# Every path under DIR.
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
crash dir = $DIR/crash
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
log to stderr = false
err to stderr = true

[mon]
mon data = $DIR/mon/\$id
mon allow pool delete = true

[osd]
osd data = $DIR/osd/\$id
osd objectstore = memstore
memstore device bytes = 1073741824

[client.rgw.upsign]
rgw data = $DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw thread pool size = 32
EOF
}

start_all() {
  local osd_uuid osd_id
  WAIT=${RGW_START_WAIT:-90}
  DEADLINE=$((SECONDS + WAIT))
  for cmd in ceph ceph-authtool monmaptool ceph-mon ceph-osd radosgw radosgw-admin curl; do
    command -v "$cmd" >/dev/null || die "$cmd not found (apt-get install ceph-mon ceph-osd radosgw curl)"
  done

  # A re-run on the same DIR: stop the old daemons, rebuild only what this script creates.
  mkdir -p "$DIR/run"
  stop_all
  rm -rf "$DIR/ceph.conf" "$DIR/keyring" "$DIR/monmap" "$DIR/mon" "$DIR/osd" "$DIR/rgw" \
         "$DIR/crash" "$DIR/log"
  mkdir -p "$DIR/mon" "$DIR/osd/0" "$DIR/rgw" "$DIR/crash" "$DIR/log" "$DIR/run"

  FSID=$(cat /proc/sys/kernel/random/uuid)
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  MON_PORT=${RGW_MON_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
  write_conf

  # One keyring for every entity; the monitor imports it (keys and caps) at mkfs.
  local kr=$DIR/keyring
  ceph-authtool "$kr" --create-keyring --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$kr" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *'
  ceph-authtool "$kr" --gen-key -n osd.0 \
    --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd'
  ceph-authtool "$kr" --gen-key -n client.rgw.upsign \
    --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw'
  chmod 600 "$kr"

  # Monitor.
  monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" \
    >"$DIR/log/monmaptool.out" 2>&1 || fail_start "monmaptool"
  ceph-mon -c "$DIR/ceph.conf" --mkfs -i a --monmap "$DIR/monmap" --keyring "$kr" \
    >"$DIR/log/mon-mkfs.out" 2>&1 || fail_start "ceph-mon --mkfs"
  spawn mon ceph-mon -c "$DIR/ceph.conf" -i a
  wait_for "monitor quorum" "ceph_ mon stat" mon

  # OSD (memstore): register its id, make its store, start it, wait until it is up.
  osd_id=$(ceph_ osd new "$osd_uuid" 0 2>>"$DIR/log/osd-new.out") || fail_start "ceph osd new"
  [[ $osd_id == 0 ]] || fail_start "ceph osd new gave id '$osd_id', not 0"
  ceph-osd -c "$DIR/ceph.conf" -i 0 --mkfs --osd-uuid "$osd_uuid" \
    >"$DIR/log/osd-mkfs.out" 2>&1 || fail_start "ceph-osd --mkfs"
  spawn osd ceph-osd -c "$DIR/ceph.conf" -i 0
  wait_for "OSD up" "ceph_ osd stat -f json | grep -q '\"num_up_osds\":1'" mon osd

  # RADOS Gateway; it creates its pools on first start. Then the S3 user with the fixed keys.
  spawn rgw radosgw -c "$DIR/ceph.conf" -n client.rgw.upsign
  # An anonymous GET / is an empty bucket list: proof that it is the gateway answering.
  wait_for "S3 answer on 127.0.0.1:$PORT" \
    "curl -fsS --max-time 5 http://127.0.0.1:$PORT/ | grep -q ListAllMyBucketsResult" mon osd rgw
  radosgw-admin -c "$DIR/ceph.conf" user create --uid "$RGW_USER" --display-name "upsign e2e" \
    --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" >"$DIR/log/user-create.out" 2>&1 \
    || fail_start "radosgw-admin user create"
  echo "rgw.sh: S3 on http://127.0.0.1:$PORT (access key $ACCESS_KEY) after ${SECONDS}s"
}

# --- main ------------------------------------------------------------------------------------

case ${1:-} in
  start)
    (( $# == 3 )) || usage
    [[ $3 =~ ^[0-9]+$ ]] || die "PORT must be a number: $3"
    mkdir -p "$2"
    DIR=$(cd "$2" && pwd)
    PORT=$3
    start_all
    ;;
  stop)
    (( $# == 2 )) || usage
    [[ -d $2 ]] || exit 0
    DIR=$(cd "$2" && pwd)
    stop_all
    ;;
  *) usage ;;
esac
