#!/usr/bin/env bash
# Install the Debian 12 packages that upsign builds, runs and is tested with.
#
# Idempotent: asks dpkg which packages are already installed and runs apt-get only when
# something is missing. Run as root. Starts no service itself (nginx's package may try to start
# nginx; in a container the policy-rc.d usually refuses, which is fine).
#
#   libfcgi-dev libssl-dev pkg-config  build: <fcgiapp.h> + fcgi.pc, libcrypto
#   libcurl4-openssl-dev               build: libcurl (fetching OSS callback public keys)
#   libfcgi-bin spawn-fcgi              run: cgi-fcgi for probing, spawn-fcgi deployment
#   nginx                               the front end (demo, integration tests)
#   wrk curl                            load and smoke tests
#   python3-venv                        the integration test suite's virtualenv
#   openssl                             throwaway TLS certificates for `nginx -t`
#   systemd                             systemd-analyze verify, systemd-socket-activate
#   apache2 libapache2-mod-fcgid        the Apache front end (mod_fcgid and plain CGI tests,
#                                       deploy/apache/ examples)
#   lighttpd caddy                      two more front ends (deploy/lighttpd/, deploy/caddy/,
#                                       Tests/Integration/test_frontends.py, docs/front-ends.md)
#   ceph-mon ceph-osd radosgw           a throw-away single-node Ceph RADOS Gateway: the real,
#                                       validating S3 store of the integration tests
#                                       (deploy/rgw.sh, also `demo.sh local`; ceph-common comes with them)
#   chromium chromium-driver            headless Chromium and its WebDriver: the browser example
#                                       page in a real browser (Tests/Integration/test_browser.py)
#   dpkg-dev lintian pandoc             the Debian package (deploy/package-deb.sh: dpkg-shlibdeps,
#                                       lintian, docs/configuration.md → upsign.toml.5)
#   debootstrap                         a Debian 12 without Swift to install that package in
#                                       (Tests/Integration/test_package.py)
#
# The Swift 6 toolchain is not a Debian package; it is checked, not installed, here.
set -euo pipefail

PACKAGES=(
  libfcgi-dev libfcgi-bin libssl-dev libcurl4-openssl-dev pkg-config
  nginx spawn-fcgi wrk curl python3-venv openssl systemd apache2 libapache2-mod-fcgid
  lighttpd caddy
)
# The tests need the store (about 60 packages), the browser (about 25, 440 MB) and the packaging
# tools too: `--no-test-extras` (deploy/demo.sh) skips all three, `--store-only` (demo.sh local)
# all but the store.
case ${1:-} in
  --no-test-extras) ;;
  --store-only) PACKAGES+=(ceph-mon ceph-osd radosgw) ;;
  *) PACKAGES+=(ceph-mon ceph-osd radosgw chromium chromium-driver debootstrap dpkg-dev lintian pandoc) ;;
esac

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps.sh: run as root (e.g. sudo bash $0)" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  # "install ok installed" only: a package that was removed but not purged reports
  # "deinstall ok config-files" and exits 0 on some dpkg versions.
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ $status != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if (( ${#missing[@]} == 0 )); then
  echo "install-deps.sh: all ${#PACKAGES[@]} packages already installed"
else
  echo "install-deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1 && [[ ! -x /opt/swift/usr/bin/swift ]]; then
  echo "install-deps.sh: note: no Swift toolchain found; building upsign needs Swift 6" \
       "(https://www.swift.org/install/linux/)" >&2
fi
