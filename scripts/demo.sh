#!/usr/bin/env bash
# The README's first command: install what is needed, build, and run sluiced on this host with
# the default rules in monitor mode, alerts printed to this terminal. Ctrl-C stops it and detaches
# every probe.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: run as root: sluiced loads BPF programs (sudo $0)" >&2
  exit 1
fi
bash scripts/install-deps.sh
bash scripts/build.sh
build=${SLUICE_BUILD_DIR:-build}
exec "$build/agent/cmd/sluiced/sluiced" --rules rules --mode monitor --alerts -
