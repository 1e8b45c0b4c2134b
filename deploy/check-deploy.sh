#!/usr/bin/env bash
# Check the deploy files the way CI does: nginx -t on both nginx configurations, systemd-analyze
# verify on the units, shell syntax of the scripts, check-config on the demo configuration.
# Writes only into a temporary folder (a throwaway certificate, rendered copies), removed at exit.
#
#   bash deploy/check-deploy.sh          # exit 0 when everything passes
#
# UPSIGN_BIN=path: the upsign binary for check-config and ExecStart (default .build/debug/upsign;
# without one, check-config is skipped and ExecStart points at /bin/true for the unit check).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failed=0
ok() { printf 'ok    %s\n' "$*"; }
bad() { printf 'FAIL  %s\n' "$*"; failed=1; }

BIN=${UPSIGN_BIN:-$ROOT/.build/debug/upsign}
[[ -x $BIN ]] || BIN=

# --- shell scripts ---------------------------------------------------------------------------
for f in deploy/demo.sh deploy/install-deps.sh deploy/check-deploy.sh deploy/package-deb.sh; do
  if bash -n "$ROOT/$f"; then ok "bash -n $f"; else bad "bash -n $f"; fi
done
if sh -n "$ROOT/deploy/spawn-fcgi.sh"; then ok "sh -n deploy/spawn-fcgi.sh"; else bad "sh -n deploy/spawn-fcgi.sh"; fi

# --- nginx.conf.example: certificate, logs and pid moved into $TMP ---------------------------
if command -v nginx >/dev/null 2>&1; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=upload.example.com \
    -keyout "$TMP/privkey.pem" -out "$TMP/fullchain.pem" >/dev/null 2>&1
  sed -e "s|/etc/ssl/upsign/|$TMP/|g" -e "s|/var/log/nginx/|$TMP/|g" -e "s|/run/nginx.pid|$TMP/nginx.pid|" \
    "$ROOT/nginx.conf.example" >"$TMP/example.conf"
  if out=$(nginx -t -e "$TMP/error.log" -c "$TMP/example.conf" 2>&1); then
    ok "nginx -t nginx.conf.example"
  else
    bad "nginx -t nginx.conf.example"; printf '%s\n' "$out"
  fi

  mkdir -p "$TMP/demo/nginx-tmp"
  sed -e "s|@RUN_DIR@|$TMP/demo|g" -e "s|@PORT@|8080|g" -e "s|@STORE_PORT@|8081|g" "$ROOT/deploy/demo-nginx.conf" >"$TMP/demo.conf"
  if out=$(nginx -t -p "$TMP/demo/" -e "$TMP/demo/error.log" -c "$TMP/demo.conf" 2>&1); then
    ok "nginx -t deploy/demo-nginx.conf"
  else
    bad "nginx -t deploy/demo-nginx.conf"; printf '%s\n' "$out"
  fi
else
  bad "nginx not installed (bash deploy/install-deps.sh)"
fi

# --- systemd units: ExecStart must name an existing binary, so verify a copy -----------------
if command -v systemd-analyze >/dev/null 2>&1; then
  mkdir -p "$TMP/units"
  cp "$ROOT/deploy/systemd/upsign.socket" "$TMP/units/"
  sed "s|^ExecStart=/usr/local/bin/upsign |ExecStart=${BIN:-/bin/true} |" \
    "$ROOT/deploy/systemd/upsign.service" >"$TMP/units/upsign.service"
  # verify exits 0 on unknown keys and bad values, printing a warning: any output is a failure.
  # --man=no: Documentation= names man:upsign(1), which the Debian package installs (not this tree).
  out=$(cd "$TMP/units" && systemd-analyze verify --man=no ./upsign.socket ./upsign.service 2>&1) && rc=0 || rc=$?
  if [[ $rc -eq 0 && -z $out ]]; then
    ok "systemd-analyze verify deploy/systemd/upsign.{socket,service}"
  else
    bad "systemd-analyze verify deploy/systemd/upsign.{socket,service}"; printf '%s\n' "$out"
  fi
  # The hardening, scored offline by systemd itself (0 = fully confined, 10 = unprotected).
  if out=$(cd "$TMP/units" && systemd-analyze security --offline=true --threshold=20 --no-pager ./upsign.service 2>&1); then
    ok "systemd-analyze security: $(grep -o 'exposure level for upsign.service: .*' <<<"$out")"
  else
    bad "systemd-analyze security deploy/systemd/upsign.service (exposure above 2.0)"; printf '%s\n' "$out" | grep -v '✓'
  fi
else
  bad "systemd-analyze not installed (bash deploy/install-deps.sh)"
fi

# --- the demo configuration ------------------------------------------------------------------
if [[ -n $BIN ]]; then
  if out=$("$BIN" check-config --config "$ROOT/deploy/demo.toml" 2>&1); then
    ok "check-config deploy/demo.toml ($out)"
  else
    bad "check-config deploy/demo.toml"; printf '%s\n' "$out"
  fi
else
  printf 'skip  check-config deploy/demo.toml (no upsign binary; set UPSIGN_BIN)\n'
fi

exit $failed
