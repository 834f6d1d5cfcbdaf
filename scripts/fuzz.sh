#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into ./build-fuzz and runs each for a bounded time
# over its seed corpus (tests/fuzz/corpus/<target>). Fails on any crash, hang, leak or OOM;
# the input that caused it is kept under build-fuzz/fuzz-artifacts/<target>/.
#   scripts/fuzz.sh                    every target, FUZZ_SECONDS (default 20) each
#   scripts/fuzz.sh record_fuzz ...    only these
# Environment: FUZZ_SECONDS, FUZZ_JOBS (build parallelism; default nproc), FUZZ_CC/FUZZ_CXX
# (default clang/clang++).
# New inputs a run finds go to build-fuzz/fuzz-corpus/<target>, never into the repository.
# Prints one line per target: "fuzz <target>: <runs> runs, <n> findings", then a summary
# ("fuzz: N passed, M failed", a target passing when it ran out its time with no finding).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${FUZZ_SECONDS:-20}
JOBS=${FUZZ_JOBS:-$(nproc)}
ALL=(resp_fuzz memcache_fuzz memcache_binary_fuzz context_fuzz record_fuzz counter_fuzz
     message_fuzz node_state_fuzz config_fuzz)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")

# Not CC/CXX: those may name the g++ of the main build.
CC=${FUZZ_CC:-clang}
CXX=${FUZZ_CXX:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz: $CXX not found (scripts/install-deps.sh installs clang)"; exit 1; }
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
CC=$CC CXX=$CXX cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LAUNCHER[@]}" >/dev/null
if ! grep -q '^DKV_HAVE_LIBFUZZER:INTERNAL=1' build-fuzz/CMakeCache.txt; then
  echo "fuzz: $CXX cannot link -fsanitize=fuzzer (Debian: apt-get install clang libclang-rt-14-dev)"
  exit 1
fi
cmake --build build-fuzz -j"$JOBS" --target "${TARGETS[@]}"

failed=0
total_runs=0
for t in "${TARGETS[@]}"; do
  seeds="$ROOT/tests/fuzz/corpus/${t%_fuzz}"
  [ -d "$seeds" ] || seeds="$ROOT/tests/fuzz/corpus/$t"
  work="build-fuzz/fuzz-corpus/$t"
  art="build-fuzz/fuzz-artifacts/$t"
  log="build-fuzz/fuzz-logs/$t.log"
  rm -rf "$art"
  mkdir -p "$work" "$art" "$(dirname "$log")"
  dirs=("$work")
  [ -d "$seeds" ] && dirs+=("$seeds")
  rc=0
  # -timeout: one input taking longer is a hang; -rss_limit_mb: an allocation driven by a
  # forged length is an OOM finding, not a slow machine.
  timeout $((SECONDS_EACH + 120)) "build-fuzz/tests/fuzz/$t" -max_total_time="$SECONDS_EACH" \
    -max_len=8192 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$art/" "${dirs[@]}" >"$log" 2>&1 || rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  runs=${runs:-0}
  findings=$(find "$art" -type f | wc -l)
  total_runs=$((total_runs + runs))
  echo "fuzz $t: $runs runs, $findings findings (exit $rc)"
  if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then
    failed=$((failed + 1))
    grep -E 'ERROR|SUMMARY|runtime error|Check|deadly signal|==[0-9]+==' "$log" | head -20 || true
    ls "$art"
  fi
done
echo "fuzz: ${#TARGETS[@]} targets, $total_runs runs in all"
echo "fuzz: $((${#TARGETS[@]} - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
