#!/bin/sh
# /usr/bin/shadowtap: the shadowtap command line (Node.js program in /usr/lib/shadowtap).
# SHADOWTAP_LIBDIR runs an unpacked copy elsewhere (tests of the package).
exec /usr/bin/node "${SHADOWTAP_LIBDIR:-/usr/lib/shadowtap}/dist/src/cli/main.js" "$@"
