#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz: the DNS parser + cache, the ring record decoder, the
# payload classifiers, the recording reader, the rules loader) with
# clang, ASan and UBSan in build-fuzz/ and runs each for RUNS inputs (default 200000) over a copy
# of its regression corpus (tests/fuzz/corpus/<target>). The copy grows with the inputs that reach
# new code and is kept between runs in build-fuzz/corpus-<target>; the checked-in corpus is never
# written. A crash or a broken check stops that target, saves the input as
# build-fuzz/artifacts/<target>/crash-<sha1>, and makes the script exit 1 (after running the other
# targets). Once the bug is fixed, copy the input into tests/fuzz/corpus/<target>/ so that the
# replay test (agent/events/dns_corpus_test.cc) keeps it fixed.
#
#   RUNS=1000000 scripts/fuzz.sh        # longer run
#   FUZZ_TARGETS=dns scripts/fuzz.sh    # one target
#   SLUICE_FUZZ_BUILD_DIR=/tmp/bf scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-200000}
build=${SLUICE_FUZZ_BUILD_DIR:-build-fuzz}
targets=${FUZZ_TARGETS:-dns decode classify replay rules}
jobs=${JOBS:-2}

for tool in clang clang++; do
  if ! command -v "$tool" >/dev/null; then
    echo "fuzz: $tool not found (apt-get install clang)" >&2
    exit 2
  fi
done
cmake -S . -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_BUILD_TESTS=ON -DSLUICE_BUILD_FUZZ=ON >/dev/null
# shellcheck disable=SC2046,SC2086  # word splitting of the target list is intended
cmake --build "$build" -j "$jobs" --target $(printf '%s_fuzz ' $targets)

failed=()
for t in $targets; do
  work="$build/corpus-$t"
  artifacts="$build/artifacts/$t"
  mkdir -p "$work" "$artifacts"
  cp -p tests/fuzz/corpus/"$t"/* "$work/"
  # DNS: the sensor copies at most 512 bytes, recorded streams may hold more. Ring records: up to
  # a full TLS record (64 + 4096 bytes).
  max_len=4096
  [[ $t == decode ]] && max_len=4200
  echo "fuzz: $t: $runs runs over $(find "$work" -type f | wc -l) corpus inputs"
  if "$build/tests/fuzz/${t}_fuzz" -runs="$runs" -max_len="$max_len" -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" \
      2>"$build/fuzz-$t.log"; then
    grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$build/fuzz-$t.log" |
      sed "s/^/fuzz: $t: /" || true
    echo "fuzz: $t: no crash (log: $build/fuzz-$t.log)"
  else
    tail -n 40 "$build/fuzz-$t.log" >&2
    echo "fuzz: $t: FAILED, input saved in $artifacts/ (log: $build/fuzz-$t.log)" >&2
    failed+=("$t")
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crash"
