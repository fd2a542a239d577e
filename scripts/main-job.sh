#!/bin/sh
# main-job.sh - the README's first command: install the packages, build, then
# validate every op in bench/inputs/, forward and backward, against the CPU reference (clnn-bench
# --mode=C) and time it (--mode=P) on the default OpenCL device.
# Results also go to build/bench-check.jsonl and build/bench-perf.jsonl.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > build-configure.log 2>&1 || { cat build-configure.log; exit 1; }
rm -f build-configure.log
cmake --build build -j"$(nproc)"
batches=""
for f in bench/inputs/*; do [ -f "$f" ] && batches="$batches --batch $f"; done
rm -f build/bench-check.jsonl build/bench-perf.jsonl
echo
echo "== correctness: every op against the host reference (clnn-bench --mode=C)"
status=0
./build/bench/clnn-bench --mode=C --pass=all $batches --json build/bench-check.jsonl || status=$?
echo
# the families whose ops take float16 and bfloat16 tensors (bench/inputs/<name>)
half_families="act pool eltwise resample loss linear norm roi deform_conv optim conv deconv"
half_batches=""
for f in $half_families; do half_batches="$half_batches --batch bench/inputs/$f"; done
echo "== half precision: $half_families in float16 and bfloat16 (clnn-bench --dt)"
for dt in f16 bf16; do
  ./build/bench/clnn-bench --mode=C --pass=all --dt=$dt $half_batches --json build/bench-check.jsonl || status=$?
done
echo
echo "== speed on the default device (clnn-bench --mode=P; median of the timed runs)"
./build/bench/clnn-bench --mode=P --pass=all $batches --json build/bench-perf.jsonl
echo
echo "results: build/bench-check.jsonl (checks, C mode) and build/bench-perf.jsonl (timings, P mode), one JSON line per problem and pass"
exit $status
