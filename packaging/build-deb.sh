#!/bin/bash
# Builds shadowtap_<version>_<arch>.deb with dpkg-deb, offline, from an already built tree
# (make native ts): packaging/build-deb.sh [OUTPUT_DIR]   (default: dist/deb)
#
#   /usr/lib/shadowtap/      dist/src (compiled JS), package.json, the capture addon
#                            (native/build/Release/shadowtap_pcap.node) and the production
#                            node_modules (a copy of ./node_modules pruned by npm to
#                            --omit=dev: no download, and the `cap` addon stays built)
#   /usr/bin/shadowtap       sh wrapper: exec /usr/bin/node .../main.js
#   /lib/systemd/system/     shadowtap.service, shadowtap@.service, shadowtap-worker.service
#   /etc/shadowtap/shadowtap.yaml   commented default config (a conffile)
#   /etc/shadowtap/worker.yaml      the same for a fleet worker (a conffile)
#   /usr/share/man/man1/shadowtap.1.gz, /usr/share/bash-completion/completions/shadowtap
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(mkdir -p "${1:-$ROOT/dist/deb}" && cd "${1:-$ROOT/dist/deb}" && pwd)
cd "$ROOT"

VERSION=$(node -p "require('./package.json').version")
ARCH=$(dpkg --print-architecture)
ADDON=native/build/Release/shadowtap_pcap.node
for f in "$ADDON" dist/src/cli/main.js node_modules/cap/build/Release/cap.node; do
  [ -e "$f" ] || { echo "build-deb: $f missing: run 'make native ts' first" >&2; exit 1; }
done

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/shadowtap-deb.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
PKG=$STAGE/pkg
LIB=$PKG/usr/lib/shadowtap
mkdir -p "$LIB/native/build/Release" "$PKG/usr/bin" "$PKG/lib/systemd/system" "$PKG/etc/shadowtap" \
  "$PKG/usr/share/doc/shadowtap" "$PKG/DEBIAN"

# The program: compiled sources only (no tests, benches or source maps).
mkdir -p "$LIB/dist"
cp -a dist/src "$LIB/dist/src"
find "$LIB/dist" -name '*.map' -delete
cp package.json package-lock.json "$LIB/"
install -m 0644 "$ADDON" "$LIB/native/build/Release/"

# Production dependencies: copy, then let npm remove the dev ones (works offline; npm prune
# runs no install scripts, so native dependencies keep their build).
# The tree itself, not a symlink to it (a worktree's node_modules may be one): npm prune below
# must never reach the original.
cp -a "$(readlink -f node_modules)" "$LIB/node_modules"
(cd "$LIB" && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --offline >/dev/null)
# Build leftovers of native dependencies (objects, makefiles) are not needed at run time.
find "$LIB/node_modules" -type d \( -name obj.target -o -name .deps \) -prune -exec rm -rf {} +
find "$LIB/node_modules" -path '*/build/*' \( -name Makefile -o -name '*.mk' -o -name config.gypi \) -delete
find "$LIB/node_modules" -type d -empty -delete
rm -f "$LIB/package-lock.json"
chmod -R u=rwX,go=rX "$LIB"

install -m 0755 packaging/shadowtap.sh "$PKG/usr/bin/shadowtap"
install -m 0644 systemd/shadowtap.service systemd/shadowtap@.service systemd/shadowtap-worker.service "$PKG/lib/systemd/system/"
install -m 0644 packaging/shadowtap.yaml "$PKG/etc/shadowtap/shadowtap.yaml"
install -m 0644 packaging/worker.yaml "$PKG/etc/shadowtap/worker.yaml"
install -m 0644 README.md "$PKG/usr/share/doc/shadowtap/README.md"
# The man page and the bash completion, from the option tables (as --help).
mkdir -p "$PKG/usr/share/man/man1" "$PKG/usr/share/bash-completion/completions"
node dist/src/config/manpage.js man "$VERSION" | gzip -9n > "$PKG/usr/share/man/man1/shadowtap.1.gz"
node dist/src/config/manpage.js bash > "$PKG/usr/share/bash-completion/completions/shadowtap"
chmod 0644 "$PKG/usr/share/man/man1/shadowtap.1.gz" "$PKG/usr/share/bash-completion/completions/shadowtap"
for s in postinst prerm postrm; do install -m 0755 "packaging/debian/$s" "$PKG/DEBIAN/$s"; done
printf '%s\n' /etc/shadowtap/shadowtap.yaml /etc/shadowtap/worker.yaml > "$PKG/DEBIAN/conffiles"

# Shared-library dependencies of the two addons, as dpkg-shlibdeps computes them.
SHLIBS=""
if command -v dpkg-shlibdeps >/dev/null; then
  mkdir -p "$STAGE/shl/debian"
  printf 'Source: shadowtap\n\nPackage: shadowtap\nArchitecture: any\n' > "$STAGE/shl/debian/control"
  SHLIBS=$(cd "$STAGE/shl" && dpkg-shlibdeps -O -e"$LIB/native/build/Release/shadowtap_pcap.node" \
    -e"$LIB/node_modules/cap/build/Release/cap.node" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
fi
[ -n "$SHLIBS" ] || SHLIBS="libc6 (>= 2.34), libgcc-s1 (>= 3.0), libpcap0.8 (>= 1.10.0), libstdc++6 (>= 11)"

SIZE=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
cat > "$PKG/DEBIAN/control" <<CONTROL
Package: shadowtap
Version: $VERSION
Architecture: $ARCH
Maintainer: shadowtap maintainers <shadowtap@localhost>
Installed-Size: $SIZE
Depends: nodejs (>= 20), adduser, $SHLIBS
Section: net
Priority: optional
Homepage: https://github.com/shadowtap/shadowtap
Description: passive shadow traffic for HTTP/1.x
 shadowtap sniffs production HTTP/1.x traffic from a network interface with
 libpcap, replays every request to a shadow deployment without touching the
 production request path, compares the shadow's answers with production's
 and gives a release verdict. Runs as a systemd service (shadowtap.service,
 or shadowtap@NAME.service per interface/port) holding only CAP_NET_RAW.
CONTROL

DEB="$OUT/shadowtap_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
