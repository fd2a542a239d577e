#!/bin/bash
# gpu-check.sh OUTDIR - build libclnn on a machine with a GPU, check it and time it
# against PyTorch on the same GPU, writing every log into OUTDIR.
#
# Made for a short window on a machine with an NVIDIA GPU, CUDA, PyTorch and CMake
# but no OpenCL loader or headers and no network: the packages the build needs
# come as Debian .deb files in $CLNN_GPU_DEBS (default .gpu-debs/ in the checkout;
# scripts/gpu-debs.sh fills it), unpacked with dpkg -x into a prefix under /tmp,
# never into /. The driver's own OpenCL library (libnvidia-opencl.so.1) is found
# in the driver's folder and named in an .icd file that OCL_ICD_VENDORS points at.
#
# Steps (each under its own time limit, so that one hang cannot eat the window):
#   1. unpack the packages, write the .icd file, print the machine's facts;
#   2. build with -j16 into build-gpu/;
#   3. clnn-info;
#   4. ctest and clnn-bench --mode=C over bench/inputs/, side by side;
#   5. clnn-tune: the device's tuning-table section (tune.txt), used from here on
#      through CLNN_TUNE_FILE (T_TUNE seconds; 0 skips it);
#   6. bench/torch/compare.py --device cuda: clnn-bench --mode=P (device time
#      from OpenCL profiling events, as PyTorch's side is timed with CUDA events)
#      against PyTorch on the same GPU, alternating, over $CLNN_GPU_COMPARE
#      (default bench/gpu/anchors);
#   7. with CLNN_GPU_TRAIN=1, one clnn-train epoch and one epoch of its PyTorch
#      twin on the GPU (Fashion-MNIST from $CLNN_FMNIST_DIR, default
#      $CLNN_GPU_DEBS/fashion-mnist: scripts/gpu-debs.sh copies it there).
# The step limits are T_BUILD, T_TEST, T_TUNE, T_COMPARE and T_TRAIN seconds.
# Everything lands in at most eight files in OUTDIR (the device tool returns
# eight): gpu-check.log (the summary, with the build and training output),
# ctest.log, check.jsonl, check.log, tune.txt, compare.log, compare.jsonl.
# For a dry run on a machine without a GPU: CLNN_GPU_OCL_LIB names the vendor
# library to put in the .icd file (PoCL's, say) and CLNN_GPU_TORCH_DEVICE=cpu.
set -u
OUTDIR=${1:?usage: scripts/gpu-check.sh OUTDIR}
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEBS=${CLNN_GPU_DEBS:-$ROOT/.gpu-debs}
PFX=${CLNN_GPU_PREFIX:-/tmp/clnn-gpu-prefix}
BUILD=${CLNN_GPU_BUILD:-$ROOT/build-gpu}
T_BUILD=${T_BUILD:-150}
T_TEST=${T_TEST:-180}
T_COMPARE=${T_COMPARE:-150}
T_TUNE=${T_TUNE:-120}
T_TRAIN=${T_TRAIN:-240}
LOG=$OUTDIR/gpu-check.log
START=$(date +%s)

say() { echo "[$(($(date +%s) - START))s] $*" | tee -a "$LOG"; }
# run NAME LIMIT CMD...: run CMD under a time limit, its output into NAME's log.
run_step() {
  local name=$1 limit=$2
  shift 2
  say "== $name (limit ${limit}s): $*"
  timeout --kill-after=5 "$limit" "$@" >> "$OUTDIR/$name.log" 2>&1
  local rc=$?
  say "== $name: exit $rc$([ $rc -eq 124 ] && echo ' (time limit)')"
  return $rc
}

# ------------------------------------------------------------ 1. environment
: > "$LOG"
# $DEBS/commit, written where the tree was sent from, names the commit: the
# copy on the GPU machine may carry a stale .git.
say "gpu-check in $ROOT, commit $(cat "$DEBS/commit" 2>/dev/null || (cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null) || echo unknown)"
{
  uname -a
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv 2>&1
  for t in cc gcc cmake ninja python3 pkg-config; do printf '%-10s %s\n' "$t" "$(command -v $t || echo missing)"; done
  cc --version 2>&1 | head -1
  cmake --version 2>&1 | head -1
  python3 -c 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name())' 2>&1
} >> "$LOG" 2>&1

rm -rf "$PFX"
mkdir -p "$PFX/etc/OpenCL/vendors"
n=0
for f in "$DEBS"/*.deb; do
  [ -f "$f" ] || continue
  dpkg -x "$f" "$PFX" && n=$((n + 1))
done
say "unpacked $n packages from $DEBS into $PFX"
LIBDIR=$PFX/usr/lib/x86_64-linux-gnu
# The packages' .pc files say prefix=/usr, or (libcjson) libdir and
# includedir under /usr outright: point them at the prefix instead.
for pc in "$LIBDIR"/pkgconfig/*.pc "$PFX"/usr/share/pkgconfig/*.pc; do
  [ -f "$pc" ] && sed -i -E "s#^(prefix|exec_prefix|libdir|includedir)=/usr(/|\$)#\\1=$PFX/usr\\2#" "$pc"
done
ocl_lib=${CLNN_GPU_OCL_LIB:-}
[ -n "$ocl_lib" ] || ocl_lib=$(find /usr/local/nvidia /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib -maxdepth 3 \
               -name 'libnvidia-opencl.so.1*' 2>/dev/null | head -1)
if [ -z "$ocl_lib" ]; then
  say "no libnvidia-opencl.so.1 found: no OpenCL driver"
  exit 1
fi
echo "$ocl_lib" > "$PFX/etc/OpenCL/vendors/nvidia.icd"
say "OpenCL driver: $ocl_lib"
export OCL_ICD_VENDORS=$PFX/etc/OpenCL/vendors
export LD_LIBRARY_PATH=$LIBDIR:$(dirname "$ocl_lib")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig:$PFX/usr/share/pkgconfig
export CMAKE_PREFIX_PATH=$PFX/usr
export CLNN_CACHE_DIR=/tmp/clnn-gpu-cache
export CLNN_FMNIST_DIR=${CLNN_FMNIST_DIR:-$DEBS/fashion-mnist}
export PYTHONUNBUFFERED=1

# ------------------------------------------------------------------ 2. build
gen=()
command -v ninja > /dev/null && gen=(-G Ninja)
run_step build "$T_BUILD" sh -c "cmake -S '$ROOT' -B '$BUILD' ${gen[*]} -DCMAKE_BUILD_TYPE=Release \
  -DOpenCL_INCLUDE_DIR='$PFX/usr/include' -DOpenCL_LIBRARY='$LIBDIR/libOpenCL.so' \
  -DPKG_CONFIG_EXECUTABLE='$PFX/usr/bin/pkgconf' && cmake --build '$BUILD' -j16" || {
  tail -40 "$OUTDIR/build.log" | tee -a "$LOG"
  exit 1
}
tail -3 "$OUTDIR/build.log" >> "$LOG"
mv "$OUTDIR/build.log" /tmp/clnn-gpu-build.log
BENCH=$BUILD/bench/clnn-bench

# -------------------------------------------------------------------- 3. info
"$BUILD/tools/clnn-info" >> "$LOG" 2>&1
say "clnn-info: exit $?"
# The device's measured FMA and copy (triad) peaks, the roofline's two ceilings.
"$BENCH" --mode=P --timer device --max-runs 7 "add n3612672" 2>&1 | grep -i "peak\|^P " >> "$LOG"

# ------------------------------------- 4. ctest and C mode, side by side
# C mode runs one clnn-bench process per problem line, twelve at a time: the
# host reference is single-threaded and is most of the time of a check.
cd "$ROOT" # the RoI problems name their files relative to the checkout
check_lines() {
  local dir=/tmp/clnn-gpu-check i=0
  rm -rf "$dir"
  mkdir -p "$dir"
  # one batch file per line, in $dir: a relative rois= file, relative to
  # bench/inputs, becomes absolute
  sed 's/#.*//' "$ROOT"/bench/inputs/* 2> /dev/null | grep -v '^[[:space:]]*$' |
    sed "s| rois=\([^/]\)| rois=$ROOT/bench/inputs/\1|" |
    while IFS= read -r line; do
      i=$((i + 1))
      printf '%s\n' "$line" > "$dir/$(printf %03d $i).txt"
    done
  ls "$dir"/*.txt | CLNN_CACHE_DIR= xargs -P 12 -I{} sh -c \
    "'$BENCH' --mode=C --pass=all --batch {} --json {}.jsonl > {}.log 2>&1; echo \"exit \$? {}\" >> {}.log"
}
run_step ctest "$T_TEST" ctest --test-dir "$BUILD" -j8 --timeout "$T_TEST" --output-on-failure &
ctest_pid=$!
export BENCH
run_step check "$T_TEST" bash -c "$(declare -f check_lines); ROOT='$ROOT' BENCH='$BENCH' check_lines" &
check_pid=$!
wait $ctest_pid
wait $check_pid
pkill -9 -f "$BUILD/" 2> /dev/null # what a time limit left behind must not share the GPU with step 5
cat /tmp/clnn-gpu-check/*.jsonl > "$OUTDIR/check.jsonl" 2> /dev/null
cat /tmp/clnn-gpu-check/*.log >> "$OUTDIR/check.log" 2> /dev/null
{
  echo "-- ctest summary"
  grep -E "tests passed|\*\*\*|Timeout|Not Run|Passed|Failed" "$OUTDIR/ctest.log" | head -40
  echo "-- clnn-bench --mode=C: $(grep -c '"ok": true' "$OUTDIR/check.jsonl") passed," \
       "$(grep -c '"ok": false' "$OUTDIR/check.jsonl") failed," \
       "$(grep -c '^exit [1-9]' "$OUTDIR/check.log") processes exited non-zero"
  grep '"ok": false' "$OUTDIR/check.jsonl" | head -30
  grep -B3 '^exit [1-9]' "$OUTDIR/check.log" | head -60
} 2>&1 | tee -a "$LOG"

# --------------------------------------------------------------- 5. tuning
if [ "$T_TUNE" -gt 0 ]; then
  run_step tune "$((T_TUNE + 30))" "$BUILD/tools/clnn-tune" --max-seconds "$T_TUNE" --out "$OUTDIR/tune.txt"
  if [ -s "$OUTDIR/tune.txt" ]; then
    export CLNN_TUNE_FILE=$OUTDIR/tune.txt
    cat "$OUTDIR/tune.txt" >> "$LOG"
  fi
  tail -5 "$OUTDIR/tune.log" >> "$LOG"
  rm -f "$OUTDIR/tune.log"
fi

# ---------------------------------------------- 6. against PyTorch on the GPU
COMPARE=${CLNN_GPU_COMPARE:-$ROOT/bench/gpu/anchors}
rm -f "$OUTDIR/compare.jsonl"
if [ -f "$COMPARE" ]; then
  # anchors lines are "PASSES descriptor": one compare.py call per distinct pass list
  cut -d' ' -f1 "$COMPARE" | grep -v '^#' | grep -v '^$' | sort -u > /tmp/clnn-gpu-passes
  deadline=$(($(date +%s) + T_COMPARE))
  while read -r passes; do
    left=$((deadline - $(date +%s)))
    [ "$left" -gt 5 ] || { say "compare: out of time before '$passes'"; break; }
    grep "^$passes " "$COMPARE" | cut -d' ' -f2- > /tmp/clnn-gpu-batch
    run_step compare "$left" python3 "$ROOT/bench/torch/compare.py" --device "${CLNN_GPU_TORCH_DEVICE:-cuda}" --per-round \
      --rounds "${CLNN_GPU_ROUNDS:-3}" --bench "$BENCH" \
      --bench-args "${CLNN_GPU_BENCH_ARGS:---timer device --time 0.2 --max-runs 15}" \
      --pass "$passes" --batch /tmp/clnn-gpu-batch \
      --json "$OUTDIR/compare.jsonl"
  done < /tmp/clnn-gpu-passes
  grep -v '^\[' "$OUTDIR/compare.log" | grep -v '^torch \|^family ' | tee -a "$LOG" > /dev/null
  say "compare: $(wc -l < "$OUTDIR/compare.jsonl" 2>/dev/null || echo 0) problems"
fi

# -------------------------------------------------- 7. training (optional)
if [ "${CLNN_GPU_TRAIN:-0}" = 1 ] && [ -f "$CLNN_FMNIST_DIR/train-images-idx3-ubyte.gz" ]; then
  run_step train "$T_TRAIN" sh -c "'$BUILD/examples/clnn-train' --data '$CLNN_FMNIST_DIR' --epochs 1 \
      --test-limit 2000 --out /tmp/clnn-gpu-train && python3 '$ROOT/examples/train_fmnist.py' \
      --device cuda --data '$CLNN_FMNIST_DIR' --epochs 1"
  cat "$OUTDIR/train.log" >> "$LOG"
  rm -f "$OUTDIR/train.log"
fi
say "done"
