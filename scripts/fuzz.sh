#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs each over a copy
# of its regression corpus. New inputs that reach new code stay in build-fuzz/corpus-*; a crash
# stops the run with the crashing input saved in build-fuzz/ (add it to tests/fuzz/corpus/ once
# fixed). RUNS (default 200000) inputs per target.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-200000}
build=${SLUICE_FUZZ_BUILD_DIR:-build-fuzz}
cmake -S . -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_BUILD_FUZZ=ON -DSLUICE_BUILD_TESTS=ON >/dev/null
cmake --build "$build" --target dns_fuzz decode_fuzz
for t in dns decode; do
  work="$build/corpus-$t"
  mkdir -p "$work"
  cp -n tests/fuzz/corpus/$t/* "$work/" 2>/dev/null || true
  echo "fuzz: $t ($runs runs)"
  (cd "$build" && "./tests/fuzz/${t}_fuzz" -runs="$runs" -max_len=4096 "corpus-$t")
done
echo "fuzz: no crash"
