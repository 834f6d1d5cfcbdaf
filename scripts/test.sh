#!/usr/bin/env bash
# Quick start (2): install dependencies, build, run every fuzz target for a bounded time
# (scripts/fuzz.sh, clang; FUZZ_SECONDS each, default 20), the sanitizer jobs (scripts/sanitize.sh:
# ASan+UBSan over the unit and simulator tests, TSan over the storage tests), then every test
# (unit, simulator, integration against real dynakv-server processes; ctest's summary is the
# last word, and a sanitizer failure fails the run after it). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash scripts/fuzz.sh
sanitize_rc=0
bash scripts/sanitize.sh || sanitize_rc=$?
cd build
ctest --output-on-failure --timeout 600 -j2
exit $sanitize_rc
