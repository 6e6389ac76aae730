#!/usr/bin/env bash
# Configures and builds sluice into ./build (or $SLUICE_BUILD_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SLUICE_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DSLUICE_BUILD_TESTS=ON >/dev/null
cmake --build "$build" -j"$(nproc)"
