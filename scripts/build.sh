#!/usr/bin/env bash
# Configures and builds dynakv into ./build (RelWithDebInfo: optimised, invariant checks on).
# Compiles through ccache when it is installed (scripts/install-deps.sh installs it), as the
# sanitizer and fuzz builds do, so a rebuild of an unchanged file is a cache hit.
set -euo pipefail
cd "$(dirname "$0")/.."
LAUNCHER=()
command -v ccache >/dev/null && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "${LAUNCHER[@]}" >/dev/null
cmake --build build -j"$(nproc)"
