#!/usr/bin/env bash
# Configures and builds dynakv into ./build (RelWithDebInfo: optimised, invariant checks on).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
