#!/usr/bin/env bash
# Quick start (2): install dependencies, build, run every fuzz target for a bounded time
# (scripts/fuzz.sh, clang; FUZZ_SECONDS each, default 20), then every test (unit, simulator,
# integration against real dynakv-server processes; ctest's summary is the last word). CI
# runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash scripts/fuzz.sh
cd build
ctest --output-on-failure --timeout 600 -j2
