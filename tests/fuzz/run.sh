#!/bin/sh
# run.sh SOURCE_DIR BUILD_DIR - build every harness of tests/fuzz/ with clang's
# libFuzzer and the address and undefined-behaviour sanitizers, and run each
# for CLNN_FUZZ_SECONDS (default 30) from a copy of its corpus. A crash, leak
# or sanitizer report fails the test and prints the input; add that input to
# tests/fuzz/corpus/<harness>/ with the fix, so fuzz_regress_<harness>
# replays it from then on. Exits 77 (skip) without clang's libFuzzer.
# The seed is fixed (CLNN_FUZZ_SEED, default 1) so that a test run explores
# the same inputs every time and CI cannot turn red by chance: a longer run
# only explores further along the same path. CLNN_FUZZ_SEED=0 draws a random
# seed, for exploratory runs.
# docs/DESIGN.md, "Fuzzing", says how to run longer.
set -u
src=$1
build=$2
seconds=${CLNN_FUZZ_SECONDS:-30}
seed=${CLNN_FUZZ_SEED:-1}
cc=${CLNN_FUZZ_CC:-clang}
work=$(mktemp -d "${TMPDIR:-/tmp}/clnn-fuzz-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$src -I$src/include -I$src/bench"
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
  > "$work/probe.c"
if ! $cc $flags "$work/probe.c" -o "$work/probe" > /dev/null 2>&1; then
  echo "no $cc with libFuzzer: skipping"
  exit 77
fi
clnn_libs="$build/libclnn.a -lOpenCL -lclblast -lm -lpthread"
status=0
for h in cache npy safetensors idx descriptor; do
  case $h in
    cache) extra="$src/runtime/cache_file.c" ;;
    npy) extra="$src/bench/npy.c" ;;
    safetensors) extra="$src/examples/common/safetensors.c $(pkg-config --cflags --libs libcjson)" ;;
    idx) extra="$src/examples/train/idx.c -lz" ;;
    descriptor) extra="$src/bench/args.c $src/bench/npy.c $src/bench/peak.c $src/bench/bench_*.c $build/bench/registry.c $clnn_libs" ;;
  esac
  # shellcheck disable=SC2086 # flags and extra are word lists
  if ! $cc $flags "$src/tests/fuzz/fuzz_$h.c" $extra -o "$work/fuzz_$h" > "$work/build_$h.log" 2>&1; then
    cat "$work/build_$h.log"
    echo "FAIL: fuzz_$h does not build"
    status=1
    continue
  fi
  mkdir -p "$work/corpus_$h" "$work/crash_$h"
  cp "$src/tests/fuzz/corpus/$h/"* "$work/corpus_$h/" 2>/dev/null
  echo "== fuzz_$h for ${seconds} s"
  if ! (cd "$work" && TMPDIR=$work ASAN_OPTIONS=detect_leaks=1 "./fuzz_$h" -max_total_time="$seconds" -seed="$seed" -max_len=4096 \
          -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$work/crash_$h/" \
          "$work/corpus_$h" > "$work/run_$h.log" 2>&1); then
    tail -60 "$work/run_$h.log"
    for c in "$work/crash_$h"/*; do
      [ -f "$c" ] || continue
      echo "input $(basename "$c") (hex):"
      od -An -tx1 "$c" | head -20
    done
    echo "FAIL: fuzz_$h"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/run_$h.log" | tail -1
  fi
done
exit $status
