#!/bin/sh
# Start upsign with spawn-fcgi, for hosts without systemd (containers, runit, rc scripts).
# spawn-fcgi creates the socket, hands it to upsign as fd 0 (upsign then needs no --listen),
# drops to the upsign user and returns. Run as root.
#
# One-time set-up:
#   useradd --system --no-create-home --shell /usr/sbin/nologin upsign
#   install -d -m 0755 /etc/upsign
#   install -m 0644 upsign.toml /etc/upsign/upsign.toml        # no secrets in it
#   install -m 0600 /dev/null /etc/upsign/credentials.env      # then write, as root:
#     OSS_ACCESS_KEY_ID=LTAI...
#     OSS_ACCESS_KEY_SECRET=...
#
# The core of it, for a script of your own (credentials exported into the environment first):
#   spawn-fcgi -s /run/upsign/upsign.sock -M 0660 -U www-data -u upsign -P /run/upsign/upsign.pid \
#     -- /usr/local/bin/upsign serve --config /etc/upsign/upsign.toml
#
# -s socket path, -M its mode, -U its owner (nginx's worker user connects through it),
# -u/-g the user upsign runs as, -P pid file. Stop: kill -TERM "$(cat /run/upsign/upsign.pid)".
# Logs: when it forks, spawn-fcgi points upsign's stdout and stderr at /dev/null, so its JSON log
# lines are lost. Under a supervisor (runit, daemontools, a container), use spawn-fcgi -n (no
# fork): it stays in the foreground and stderr goes to the supervisor's log.
# Secrets go through the environment, never the command line, which /proc shows to every user.
# Every path and name below can be overridden from the environment.
set -eu

UPSIGN_BIN=${UPSIGN_BIN:-/usr/local/bin/upsign}
UPSIGN_CONFIG=${UPSIGN_CONFIG:-/etc/upsign/upsign.toml}
UPSIGN_CREDENTIALS=${UPSIGN_CREDENTIALS:-/etc/upsign/credentials.env}
UPSIGN_SOCKET=${UPSIGN_SOCKET:-/run/upsign/upsign.sock}
UPSIGN_RUN_AS=${UPSIGN_RUN_AS:-upsign}
NGINX_USER=${NGINX_USER:-www-data}
PIDFILE=${PIDFILE:-$(dirname "$UPSIGN_SOCKET")/upsign.pid}

install -d -m 0755 "$(dirname "$UPSIGN_SOCKET")"
rm -f "$UPSIGN_SOCKET"

# KEY=value lines (the systemd EnvironmentFile format), exported to upsign's environment.
if [ -r "$UPSIGN_CREDENTIALS" ]; then
  set -a
  # shellcheck disable=SC1090
  . "$UPSIGN_CREDENTIALS"
  set +a
fi

"$UPSIGN_BIN" check-config --config "$UPSIGN_CONFIG"

exec spawn-fcgi -s "$UPSIGN_SOCKET" -M 0660 -U "$NGINX_USER" -u "$UPSIGN_RUN_AS" -P "$PIDFILE" \
  -- "$UPSIGN_BIN" serve --config "$UPSIGN_CONFIG"
