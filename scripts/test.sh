#!/usr/bin/env bash
# Quick start (2): install dependencies, build, run every fuzz target for a bounded time
# (scripts/fuzz.sh, clang; FUZZ_SECONDS each, default 20), the sanitizer jobs (scripts/sanitize.sh:
# ASan+UBSan over the unit and simulator tests, TSan over the storage tests), then every test
# (unit, simulator, integration against real dynakv-server processes; ctest's summary comes
# last but for the phase times, and a sanitizer failure fails the run after it). CI runs
# exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each phase prints how long it took ("test.sh: <phase> took N s"), to keep CI's length in view.
phase() { echo "test.sh: $1 took $((SECONDS - phase_start)) s"; phase_start=$SECONDS; }
phase_start=$SECONDS
bash scripts/install-deps.sh
phase "install-deps"
bash scripts/build.sh
phase "build"
FUZZ_SECONDS=${FUZZ_SECONDS:-20} bash scripts/fuzz.sh
phase "fuzz"
sanitize_rc=0
bash scripts/sanitize.sh || sanitize_rc=$?
phase "sanitize"
cd build
ctest_rc=0
ctest --output-on-failure --timeout 600 -j2 || ctest_rc=$?
phase "ctest"
echo "test.sh: all phases took $SECONDS s"
[ $ctest_rc -eq 0 ] || exit $ctest_rc
exit $sanitize_rc
