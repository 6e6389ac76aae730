#!/usr/bin/env bash
# The README's test command: install what is needed, build, run every test label this machine can
# run (unit, integration, privileged, vm). As root the privileged tests load the real BPF programs;
# with SLUICE_REQUIRE_PRIVILEGED=1 (CI) a privileged test that would skip fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/install-deps.sh
else
  echo "test.sh: not root: dependencies not installed and privileged tests will skip" >&2
fi
bash scripts/build.sh
build=${SLUICE_BUILD_DIR:-build}
cd "$build"
ctest --output-on-failure -L 'unit|integration|privileged|vm' "$@"
