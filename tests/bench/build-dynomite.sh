#!/usr/bin/env bash
# Builds Dynomite (github.com/Netflix/dynomite) for tests/bench/cluster_bench.py, which runs it
# as three racks of one redis-server each (DC_QUORUM) when tests/bench/.dynomite/src/dynomite
# exists. Not part of the build or the tests; nothing of Dynomite's is kept in this repository.
#
#   bash tests/bench/build-dynomite.sh [source]
#
# source: a Dynomite checkout or git URL (default: the public repository). It is copied to
# tests/bench/.dynomite (git-ignored) and built there with -fcommon (its headers define
# globals in several objects, which GCC 10 and later reject by default).
set -euo pipefail
cd "$(dirname "$0")"
SRC=${1:-https://github.com/Netflix/dynomite.git}
OUT=.dynomite
need=()
for tool in autoreconf libtoolize automake make gcc; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ] || ! dpkg -s libssl-dev >/dev/null 2>&1; then
  echo "installing autoconf automake libtool libssl-dev (missing: ${need[*]:-libssl-dev})"
  SUDO=(); [ "$(id -u)" -eq 0 ] || SUDO=(sudo)
  "${SUDO[@]}" apt-get install -y --no-install-recommends autoconf automake libtool make gcc libssl-dev
fi
rm -rf "$OUT"
git clone --quiet "$SRC" "$OUT"
cd "$OUT"
autoreconf -fvi > autoreconf.log 2>&1
./configure CFLAGS="-O2 -fcommon" > configure.log 2>&1
make -j"$(nproc)" > make.log 2>&1
test -x src/dynomite
echo "built $(pwd)/src/dynomite ($(git rev-parse --short HEAD))"
