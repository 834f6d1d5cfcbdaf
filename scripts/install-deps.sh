#!/usr/bin/env bash
# Installs the Debian packages dynakv needs to build, test and benchmark.
# Runs `apt-get update` once, and only when something is missing.
set -euo pipefail
PKGS=(build-essential cmake pkg-config ccache libuv1-dev liblmdb-dev libtomlplusplus-dev
      libgtest-dev libgmock-dev libhiredis-dev libxxhash-dev libssl-dev openssl libjemalloc-dev
      libspdlog-dev logrotate  # logrotate: tests/integration/package_test.sh
      redis-server redis-tools memcached libmemcached-tools python3-redis
      clang libclang-rt-14-dev  # clang + libFuzzer runtime: scripts/fuzz.sh
      libcivetweb-dev prometheus chromium  # listen.http; its tests: Prometheus scrapes, headless Chromium
      iproute2 nftables)  # network-namespace partition tests (tests/integration/netns_lib.py)
# node and npm ship with the machine image; fall back to Debian's packages without them.
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
