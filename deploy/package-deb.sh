#!/usr/bin/env bash
# Build the Debian package of upsign from a release build: .build-deb/upsign_VERSION-REV_ARCH.deb
#
#   bash deploy/package-deb.sh           # as root on Debian 12; prints the .deb's path last
#
# Steps: install the packaging tools when missing (dpkg-dev, lintian, pandoc, binutils), `swift
# build -c release --static-swift-stdlib --product upsign`, lay out the package tree in
# .build-deb/root, generate the man pages (upsign.1 and one page per subcommand with
# swift-argument-parser's generate-manual, the tool behind its GenerateManual plugin; upsign.toml.5 with pandoc from
# docs/configuration.md, or from the example configuration when that document is missing),
# compute Depends with dpkg-shlibdeps, build with dpkg-deb, and run lintian (errors fail the build).
#
# What goes where:
#   /usr/bin/upsign                      the binary (Swift runtime linked in, stripped)
#   /lib/systemd/system/upsign.{socket,service}
#                                        deploy/systemd/, paths changed from /usr/local to /usr;
#                                        not enabled on install (credentials come first, see the
#                                        service's comments), restarted on upgrade when running
#   /etc/upsign/upsign.toml              conffile: deploy/upsign.toml.example, else deploy/demo.toml
#   /usr/share/man/man1/upsign*.1.gz, /usr/share/man/man5/upsign.toml.5.gz
#   /usr/share/doc/upsign/               README.md, docs/*.md, nginx.conf.example, copyright,
#                                        changelog.Debian.gz (compressed above 4 KiB, as dh_compress)
# No system user is created: the service runs with DynamicUser=.
#
# Environment:
#   DEB_SCRATCH_PATH     swift's build folder for the package (default .build-deb/swift)
#   DEB_REVISION         the Debian revision (default 1): upsign_0.9.0-1_amd64.deb
#   DEB_MAINTAINER       the Maintainer field (default: upsign maintainers <git's user.email>)
#   SOURCE_DATE_EPOCH    timestamps of the files, the changelog and the man pages (default: the
#                        last commit's time), so that two builds of one commit are alike
#   UPSIGN_SKIP_DEPS=1   don't apt-get install the packaging tools (they must be there)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
OUT=$ROOT/.build-deb
PKG=upsign
say() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'package-deb.sh: %s\n' "$*" >&2; exit 1; }

# --- packaging tools ---------------------------------------------------------------------------
#   dpkg-dev   dpkg-shlibdeps (Depends from the binary's libraries), dpkg-architecture
#   lintian    the package's checks
#   pandoc     docs/configuration.md → upsign.toml.5
#   binutils   strip
#   man-db     lexgrog (the man pages' whatis entries)
TOOLS=(dpkg-dev lintian pandoc binutils man-db)
missing=()
for pkg in "${TOOLS[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true) == "install ok installed" ]] || missing+=("$pkg")
done
if (( ${#missing[@]} )); then
  [[ ${UPSIGN_SKIP_DEPS:-0} != 1 && $(id -u) -eq 0 ]] ||
    die "missing packages: ${missing[*]} (run as root, or apt-get install them)"
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi

if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
  export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null 2>&1 || die "no Swift toolchain (swift) on PATH or in /opt/swift"

# A build folder of its own: SwiftPM does not relink when only --static-swift-stdlib changed, so a
# release build in a shared folder may hand back an upsign that needs the toolchain's runtime.
SCRATCH=${DEB_SCRATCH_PATH:-$OUT/swift}
swift_args=(--scratch-path "$SCRATCH")

if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
  SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)

# --- the release build -------------------------------------------------------------------------
say "swift build -c release --static-swift-stdlib --product upsign"
swift build "${swift_args[@]}" -c release --static-swift-stdlib --product upsign >&2
BIN_DIR=$(swift build "${swift_args[@]}" -c release --show-bin-path)
[[ -x $BIN_DIR/upsign ]] || die "no binary at $BIN_DIR/upsign"
# The package must not need the toolchain: no libswiftCore.so and no RUNPATH but $ORIGIN (which
# SwiftPM always sets) — none into /opt/swift.
if readelf -d "$BIN_DIR/upsign" | grep -E 'R(UN)?PATH.*\[[^]]*/|NEEDED.*(libswift|libFoundation|libdispatch|libBlocksRuntime)' >&2; then
  die "$BIN_DIR/upsign needs the Swift runtime (above): remove $SCRATCH and run again"
fi

rm -rf "$OUT/root" "$OUT/work"
mkdir -p "$OUT/root" "$OUT/work"
TREE=$OUT/root
WORK=$OUT/work
install -m 0755 "$BIN_DIR/upsign" "$WORK/upsign"

# --- version -----------------------------------------------------------------------------------
VERSION=$("$WORK/upsign" --version)
SOURCE_VERSION=$(sed -n 's/.*static let version = "\([^"]*\)".*/\1/p' Sources/Upsign/BuildInfo.swift)
[[ $VERSION =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || die "unexpected version from upsign --version: '$VERSION'"
[[ $VERSION == "$SOURCE_VERSION" ]] ||
  die "upsign --version says $VERSION, Sources/Upsign/BuildInfo.swift says $SOURCE_VERSION"
DEB_VERSION=$VERSION-${DEB_REVISION:-1}
ARCH=$(dpkg --print-architecture)
MAINTAINER=${DEB_MAINTAINER:-"upsign maintainers <$(git -C "$ROOT" config user.email 2>/dev/null || echo root@localhost)>"}
DEB=$OUT/${PKG}_${DEB_VERSION}_${ARCH}.deb
say "upsign $DEB_VERSION ($ARCH), commit $COMMIT"

umask 022
install -d "$TREE/usr/bin" "$TREE/lib/systemd/system" "$TREE/etc/upsign" \
  "$TREE/usr/share/man/man1" "$TREE/usr/share/man/man5" "$TREE/usr/share/doc/$PKG" "$TREE/DEBIAN"

# --- the binary --------------------------------------------------------------------------------
# As dh_strip: the symbol table and debug sections go; Swift's reflection metadata stays.
install -m 0755 "$WORK/upsign" "$TREE/usr/bin/upsign"
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$TREE/usr/bin/upsign"
[[ $("$TREE/usr/bin/upsign" --version) == "$VERSION" ]] || die "the stripped binary does not run"

# --- systemd units -----------------------------------------------------------------------------
for unit in upsign.service upsign.socket; do
  sed -e 's|/usr/local/bin/upsign|/usr/bin/upsign|g' \
      -e 's|^Documentation=file:///usr/local/share/doc/upsign/README.md$|Documentation=man:upsign(1) man:upsign.toml(5) file:///usr/share/doc/upsign/README.md.gz|' \
      -e 's|/etc/systemd/system/|/lib/systemd/system/|g' \
      "deploy/systemd/$unit" >"$TREE/lib/systemd/system/$unit"
  chmod 0644 "$TREE/lib/systemd/system/$unit"
  if grep -n '/usr/local' "$TREE/lib/systemd/system/$unit" >&2; then
    die "$unit still names /usr/local (the lines above): update the sed in package-deb.sh"
  fi
done
grep -q '^ExecStart=/usr/bin/upsign ' "$TREE/lib/systemd/system/upsign.service" || die "upsign.service: no ExecStart=/usr/bin/upsign"

# --- the configuration (a conffile) ------------------------------------------------------------
if [[ -f deploy/upsign.toml.example ]]; then
  EXAMPLE=deploy/upsign.toml.example
else
  EXAMPLE=deploy/demo.toml
fi
install -m 0644 "$EXAMPLE" "$TREE/etc/upsign/upsign.toml"
# Only a credentials file that this machine lacks is forgiven (the target machine writes it).
if ! out=$("$TREE/usr/bin/upsign" check-config --config "$TREE/etc/upsign/upsign.toml" 2>&1); then
  printf '%s\n' "$out" >&2
  if grep -v 'credentials file .*: No such file or directory$' <<<"$out" | grep -q .; then
    die "$EXAMPLE does not pass upsign check-config"
  fi
fi
say "configuration: $EXAMPLE → /etc/upsign/upsign.toml"

# --- man pages ---------------------------------------------------------------------------------
# upsign.1 and upsign.SUBCOMMAND.1 from the argument parser (`--experimental-dump-help`), by
# swift-argument-parser's generate-manual, the tool behind its GenerateManual plugin, built from
# the checkout SwiftPM already has (offline, no Package.swift change). Not `swift package plugin
# generate-manual`: it builds every product in release without --static-swift-stdlib into the
# same folder, and SwiftPM would then keep that dynamically linked upsign.
say "man pages: generate-manual (swift-argument-parser)"
SAP=$SCRATCH/checkouts/swift-argument-parser
[[ -f $SAP/Tools/generate-manual/GenerateManual.swift ]] || die "no swift-argument-parser checkout with generate-manual at $SAP"
swift build --package-path "$SAP" --scratch-path "$OUT/generate-manual" -c release --product generate-manual >&2
GENERATE_MANUAL=$(swift build --package-path "$SAP" --scratch-path "$OUT/generate-manual" -c release --show-bin-path)/generate-manual
MAN_DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
MAN1_DIR=$WORK/man1
mkdir -p "$MAN1_DIR"
"$GENERATE_MANUAL" "$WORK/upsign" --multi-page --date "$MAN_DATE" --output-directory "$MAN1_DIR" >&2
[[ -f $MAN1_DIR/upsign.1 ]] || die "generate-manual wrote no upsign.1"
# generate-manual writes a page for every subcommand, hidden ones (_parse-probe, internal) and `help`
# included: only those `upsign --help` lists are shipped, and upsign.1's SEE ALSO names those.
mapfile -t SUBCOMMANDS < <("$WORK/upsign" --help | awk '/^SUBCOMMANDS:/{s=1; next} s && !NF{exit} s && /^  [^ ]/{print $1}')
(( ${#SUBCOMMANDS[@]} )) || die "no subcommands in upsign --help"
for sub in "${SUBCOMMANDS[@]}"; do
  [[ -f $MAN1_DIR/upsign.$sub.1 ]] || die "generate-manual wrote no upsign.$sub.1"
done
# Each page's NAME reads `upsign.SUB - abstract` (the page's own name, which whatis and apropos
# index; "upsign SUB" with a space cannot be parsed by lexgrog), its SYNOPSIS `upsign SUB`.
# `.Nd` loses its quotes, which whatis would keep.
fix_page() {  # fix_page SRC DEST SUB (SUB empty for upsign.1)
  local sub=$3
  awk -v sub_="$sub" -v keep=" ${SUBCOMMANDS[*]} " '
    /^\.Nd "/ { sub(/^\.Nd "/, ".Nd "); sub(/"$/, "") }
    sub_ != "" && $0 == ".Nm \"upsign " sub_ "\"" { lines[++n] = ".Nm upsign." sub_; next }
    sub_ != "" && $0 == ".Nm" { lines[++n] = ".Nm \"upsign " sub_ "\""; next }
    /^\.Xr upsign\./ {
      name = $2; sub(/^upsign\./, "", name)
      if (index(keep, " " name " ") == 0) next
    }
    { lines[++n] = $0 }
    END {
      for (i = n; i > 0; i--) if (lines[i] ~ /^\.Xr /) { sub(/ ,$/, "", lines[i]); break }
      for (i = 1; i <= n; i++) print lines[i]
    }' "$1" >"$2"
  chmod 0644 "$2"
}
fix_page "$MAN1_DIR/upsign.1" "$TREE/usr/share/man/man1/upsign.1" ""
for sub in "${SUBCOMMANDS[@]}"; do
  fix_page "$MAN1_DIR/upsign.$sub.1" "$TREE/usr/share/man/man1/upsign.$sub.1" "$sub"
done
for page in "$TREE"/usr/share/man/man1/*.1; do
  lexgrog "$page" >/dev/null 2>&1 || die "whatis cannot parse $(basename "$page")"
done

# upsign.toml.5: docs/configuration.md through pandoc, whatever it holds. A NAME section is
# added (for whatis and apropos). A document that opens with its only level-1 heading loses it
# (the page has its own title) and its other headings move up one level (## → .SH, ### → .SS);
# text before the first heading goes under DESCRIPTION. Fenced code is left alone.
say "man page: upsign.toml.5"
NAME_ROFF=$WORK/name.roff
printf '.SH NAME\nupsign.toml \\- configuration file of upsign, the signed upload policy worker\n' >"$NAME_ROFF"
pandoc_man() {  # pandoc_man SRC [pandoc options]: SRC (markdown) → $WORK/upsign.toml.5
  local src=$1
  shift
  pandoc --standalone --from markdown --to man "$@" \
    --variable title=UPSIGN.TOML --variable section=5 --variable date="$MAN_DATE" \
    --variable header="upsign manual" --variable footer="upsign $VERSION" \
    --include-before-body "$NAME_ROFF" --output "$WORK/upsign.toml.5" "$src"
}
if [[ -f docs/configuration.md ]]; then
  MAN5_SOURCE=docs/configuration.md
  h1=$(awk '/^ ? ? ?(```|~~~)/{f=!f; next} !f && /^# /{n++} END{print n+0}' docs/configuration.md)
  first=$(awk 'NF{print; exit}' docs/configuration.md)
  shift_args=()
  title=0
  if [[ $h1 == 1 && $first == "# "* ]]; then
    shift_args=(--shift-heading-level-by=-1)
    title=1
  fi
  awk -v title="$title" '
    BEGIN { top = title ? "##" : "#" }
    /^ ? ? ?(```|~~~)/ { fence = !fence }
    !fence && title && !dropped && /^# / { dropped = 1; next }
    !seen && NF {
      seen = 1
      if (fence || $0 !~ /^#/) print top " DESCRIPTION\n"
    }
    { print }' docs/configuration.md >"$WORK/upsign.toml.md"
  pandoc_man "$WORK/upsign.toml.md" "${shift_args[@]}"
else
  # No document yet: the example configuration, whose comments explain each key, as the page.
  MAN5_SOURCE=$EXAMPLE
  {
    printf '# SYNOPSIS\n\n`/etc/upsign/upsign.toml`\n\n'
    printf '# DESCRIPTION\n\n'
    printf 'upsign reads its profiles and server settings from a TOML file: `upsign serve --config FILE`, '
    printf 'checked by `upsign check-config --config FILE`. The package installs the annotated example '
    printf 'below as /etc/upsign/upsign.toml; its comments explain each key. '
    printf 'The full reference is /usr/share/doc/upsign/README.md.gz (section Configuration).\n\n'
    printf '# EXAMPLE\n\n```toml\n'
    cat "$EXAMPLE"
    printf '```\n\n# SEE ALSO\n\n**upsign**(1), **upsign.serve**(1), **upsign.check-config**(1)\n'
  } >"$WORK/upsign.toml.md"
  pandoc_man "$WORK/upsign.toml.md"
fi
lexgrog "$WORK/upsign.toml.5" >/dev/null 2>&1 || die "whatis cannot parse upsign.toml.5 (from $MAN5_SOURCE)"
install -m 0644 "$WORK/upsign.toml.5" "$TREE/usr/share/man/man5/upsign.toml.5"
say "upsign.toml.5 from $MAN5_SOURCE"
gzip -9n "$TREE"/usr/share/man/man1/*.1 "$TREE"/usr/share/man/man5/*.5

# --- documentation -----------------------------------------------------------------------------
DOC=$TREE/usr/share/doc/$PKG
install -m 0644 README.md nginx.conf.example "$DOC/"
for md in docs/*.md; do
  [[ -f $md ]] && install -m 0644 "$md" "$DOC/"
done
YEAR=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)
cat >"$DOC/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: upsign
Upstream-Contact: $MAINTAINER
Comment: The binary links the Swift runtime and Foundation statically (Apache-2.0 with Runtime
 Library Exception) and, through SwiftPM dependencies, swift-argument-parser, swift-log,
 swift-metrics, swift-atomics, swift-prometheus (Apache-2.0) and TOMLKit with toml++ (MIT).

Files: *
Copyright: $YEAR upsign maintainers
License: other
 All rights reserved by the upsign maintainers; no licence has been granted
 to redistribute this software outside the organisation that built it.

Files: Swift runtime, Foundation, swift-argument-parser, swift-log, swift-metrics,
 swift-atomics, swift-prometheus (linked into /usr/bin/upsign)
Copyright: Apple Inc. and the Swift project authors
License: Apache-2.0 with Runtime Library Exception
 On Debian systems, the full text of the Apache License, Version 2.0 can be
 found in /usr/share/common-licenses/Apache-2.0. The Runtime Library
 Exception: https://swift.org/LICENSE.txt

Files: TOMLKit, toml++ (linked into /usr/bin/upsign)
Copyright: Jeff Lebrun; Mark Gillard
License: MIT
 Permission is hereby granted, free of charge, to any person obtaining a copy
 of this software and associated documentation files (the "Software"), to deal
 in the Software without restriction, including without limitation the rights
 to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 copies of the Software, and to permit persons to whom the Software is
 furnished to do so, subject to the following conditions:
 .
 The above copyright notice and this permission notice shall be included in
 all copies or substantial portions of the Software.
 .
 THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
 THE SOFTWARE.
EOF
chmod 0644 "$DOC/copyright"
{
  printf '%s (%s) bookworm; urgency=medium\n\n' "$PKG" "$DEB_VERSION"
  printf '  * upsign %s, built from commit %s by deploy/package-deb.sh.\n\n' "$VERSION" "$COMMIT"
  printf ' -- %s  %s\n' "$MAINTAINER" "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} >"$WORK/changelog.Debian"
gzip -9n -c "$WORK/changelog.Debian" >"$DOC/changelog.Debian.gz"
chmod 0644 "$DOC/changelog.Debian.gz"
# As dh_compress: documentation above 4 KiB is compressed (copyright never).
find "$DOC" -type f -size +4k ! -name copyright ! -name '*.gz' -exec gzip -9n {} +

# --- maintainer scripts: systemd's view of the units -------------------------------------------
# Nothing is enabled or started on install: /etc/upsign/credentials.json must be written first
# (upsign.service). On upgrade a running upsign is restarted (its socket stays open, nginx's
# connections wait in the backlog); on removal both units stop. Without systemd (a chroot, a
# container) the scripts do nothing. Shaped like dh_installsystemd's --no-enable --no-start snippets.
cat >"$TREE/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e

if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ]; then
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		if [ -n "$2" ]; then
			deb-systemd-invoke try-restart upsign.service >/dev/null || true
		fi
	fi
fi

exit 0
EOF
cat >"$TREE/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e

if [ -z "${DPKG_ROOT:-}" ] && [ "$1" = "remove" ] && [ -d /run/systemd/system ]; then
	deb-systemd-invoke stop upsign.socket upsign.service >/dev/null || true
fi

exit 0
EOF
cat >"$TREE/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e

if [ "$1" = "remove" ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi

exit 0
EOF
chmod 0755 "$TREE/DEBIAN/postinst" "$TREE/DEBIAN/prerm" "$TREE/DEBIAN/postrm"
printf '/etc/upsign/upsign.toml\n' >"$TREE/DEBIAN/conffiles"

# --- control -----------------------------------------------------------------------------------
# dpkg-shlibdeps reads debian/control: a two-stanza stand-in in the work folder.
mkdir -p "$WORK/shlibdeps/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$PKG" "$PKG" >"$WORK/shlibdeps/debian/control"
DEPENDS=$(cd "$WORK/shlibdeps" && dpkg-shlibdeps -O -e"$TREE/usr/bin/upsign" 2>"$WORK/shlibdeps.log" |
  sed -n 's/^shlibs:Depends=//p')
[[ -n $DEPENDS ]] || { cat "$WORK/shlibdeps.log" >&2; die "dpkg-shlibdeps computed no Depends"; }
INSTALLED_SIZE=$(du -sk --exclude=DEBIAN "$TREE" | cut -f1)
cat >"$TREE/DEBIAN/control" <<EOF
Package: $PKG
Version: $DEB_VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $INSTALLED_SIZE
Depends: $DEPENDS
Recommends: nginx
Section: web
Priority: optional
Description: signed upload policies for object stores (FastCGI worker)
 upsign issues signed upload policies for Aliyun OSS, Amazon S3 and
 S3-compatible stores, Tencent COS, Huawei OBS, Qiniu and Google Cloud
 Storage, so that browsers and WeChat mini-programs upload files straight
 to a bucket. It holds the account's secret, chooses the object key itself
 and answers a policy that pins bucket, key, size range and content type,
 valid for a few minutes.
 .
 It runs as a FastCGI worker behind nginx (or another front end), which
 authenticates the user and passes the user name on. The package ships
 systemd socket and service units, not enabled on install, and an example
 configuration in /etc/upsign/upsign.toml.
EOF
(cd "$TREE" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$TREE/DEBIAN/md5sums"
chmod 0644 "$TREE/DEBIAN/control" "$TREE/DEBIAN/conffiles" "$TREE/DEBIAN/md5sums"

# --- build and check ---------------------------------------------------------------------------
# The units as installed: ExecStart at the staged binary, the man: links against the staged pages.
if command -v systemd-analyze >/dev/null 2>&1; then
  mkdir -p "$WORK/units"
  cp "$TREE"/lib/systemd/system/upsign.{socket,service} "$WORK/units/"
  sed -i "s|^ExecStart=/usr/bin/upsign |ExecStart=$TREE/usr/bin/upsign |" "$WORK/units/upsign.service"
  out=$(cd "$WORK/units" && MANPATH=$TREE/usr/share/man systemd-analyze verify ./upsign.socket ./upsign.service 2>&1) &&
    [[ -z $out ]] || { printf '%s\n' "$out" >&2; die "systemd-analyze verify: the packaged units"; }
  say "systemd-analyze verify: the packaged units pass"
fi

find "$TREE" -type d -exec chmod 0755 {} +
find "$TREE" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +
rm -f "$OUT"/${PKG}_*.deb
say "dpkg-deb --build"
dpkg-deb --root-owner-group -Zxz --build "$TREE" "$DEB" >&2

say "lintian"
# Errors fail the build; warnings and information are printed.
lintian --display-info --fail-on error --suppress-tags-from-file /dev/null "$DEB" >&2 ||
  die "lintian found errors in $DEB"
echo "$DEB"
