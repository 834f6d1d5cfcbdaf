#!/usr/bin/env bash
# Sanitizer jobs (CI runs them from scripts/test.sh; README "Testing"):
#   asan  ./build-asan, ASan+UBSan (-fno-sanitize-recover=undefined): the unit tests and the
#         simulator runs (ctest -L 'unit|sim', the sim with SANITIZE_SIM_SEEDS seeds each).
#   tsan  ./build-tsan, ThreadSanitizer: the storage unit tests (the LMDB engine's commit,
#         checkpoint and reclaim threads).
# Only the targets those tests need are built. Any sanitizer report fails the test that
# triggered it (halt_on_error); there is no suppression file.
#   scripts/sanitize.sh            both
#   scripts/sanitize.sh asan|tsan  one
# Environment: SANITIZE_JOBS (build and ctest parallelism; default nproc), SANITIZE_SIM_SEEDS
# (default 10), CC/CXX (default: the system compiler, gcc on Debian).
# Prints one summary line per job: "sanitize <job>: ..." (ctest's own summary above it).
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${SANITIZE_JOBS:-$(nproc)}
SEEDS=${SANITIZE_SIM_SEEDS:-10}
WHICH=("$@")
[ ${#WHICH[@]} -eq 0 ] && WHICH=(asan tsan)
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

failed=0
for job in "${WHICH[@]}"; do
  start=$SECONDS
  case "$job" in
    asan)
      cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDYNAKV_SANITIZE=ON \
        -DDKV_SIM_CI_SEEDS="$SEEDS" "${LAUNCHER[@]}" >/dev/null
      cmake --build build-asan -j"$JOBS" --target unit_protocol unit_storage unit_cluster unit_server dynakv-sim
      rc=0
      (cd build-asan && ctest -L 'unit|sim' -E _NOT_BUILT --output-on-failure --timeout 900 -j"$JOBS") || rc=$?
      ;;
    tsan)
      cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDYNAKV_TSAN=ON "${LAUNCHER[@]}" >/dev/null
      cmake --build build-tsan -j"$JOBS" --target unit_storage
      rc=0
      # Only unit_storage is built here, so -L unit is the storage tests.
      (cd build-tsan && ctest -L unit -E _NOT_BUILT --output-on-failure --timeout 900 -j"$JOBS") \
        || rc=$?
      ;;
    *) echo "sanitize: unknown job $job (asan|tsan)"; exit 2 ;;
  esac
  echo "sanitize $job: $([ $rc -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - start)) s"
  [ $rc -eq 0 ] || failed=1
done
exit $failed
