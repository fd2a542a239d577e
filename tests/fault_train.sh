#!/bin/sh
# fault_train.sh CLNN_TRAIN - with a build made with -DCLNN_FAULT_INJECTION=ON
# (best with -DCLNN_SANITIZE=address,undefined): fail OpenCL calls inside
# clnn-train's training steps and check what a user keeps afterwards.
#
# A first run trains one epoch on 128 images and commits a checkpoint. Then,
# for every class of OpenCL call (runtime/fault.h) and n = 1, 2, 3, 5, 8, ...
# (a Fibonacci walk: the calls of one step repeat, so every kind of call is
# reached early), a resumed run that would add a second epoch gets its n-th
# call of the class failed. Each such run must
#  - exit with a status below 128 (no crash) and no sanitizer report,
#  - either recover and finish (a program binary from the cache that fails
#    to build is built again from source: exit 0 with the new epoch
#    committed), or fail with a message that names the status (CLNN_ERR_);
#  - leave a run folder a user can resume: the checkpoint is the old one
#    byte for byte, or a new complete one that --eval reads, and log.csv has
#    one row per epoch the checkpoint holds (a failed epoch adds nothing).
# Skips (77) without Fashion-MNIST or without fault injection.
set -u
train=$1
data=${CLNN_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
[ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "no Fashion-MNIST in $data: skipping"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/clnn-fault-train-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
# a private program cache, warmed by the first run, so that each faulted run
# spends its time in the steps rather than in the compiler
export CLNN_CACHE_DIR="$work/cache"
mkdir -m 700 "$CLNN_CACHE_DIR"
args="--data $data --batch 64 --train-limit 128 --test-limit 64 --warmup-epochs 0 --quiet"

# shellcheck disable=SC2086 # args is a word list
"$train" $args --epochs 1 --out "$work/base" > "$work/base.log" 2>&1
rc=$?
[ "$rc" -eq 0 ] || { cat "$work/base.log"; echo "FAIL: the first run exited $rc"; exit 1; }
CLNN_FAULT=finish:1 "$train" $args --epochs 1 --out "$work/probe" > "$work/probe.log" 2>&1
grep -q "injected fault" "$work/probe.log" || { echo "clnn-train is not built with CLNN_FAULT_INJECTION: skipping"; exit 77; }

fails=0 runs=0
for class in buffer build enqueue read write finish; do
  a=1 b=2
  n=1 last=0
  while [ "$n" -le 100000 ]; do
    rm -rf "$work/run"
    cp -r "$work/base" "$work/run"
    # shellcheck disable=SC2086
    CLNN_FAULT=$class:$n "$train" $args --epochs 2 --out "$work/run" --resume "$work/run/checkpoint.safetensors" \
      > "$work/out" 2>&1
    rc=$?
    runs=$((runs + 1))
    grep -q "injected fault" "$work/out" || break # the class has fewer calls than n
    last=$n
    bad=""
    [ "$rc" -lt 128 ] || bad="crashed (exit $rc)"
    grep -qE "Sanitizer|runtime error" "$work/out" && bad="$bad, sanitizer report"
    [ "$rc" -eq 0 ] || grep -q "CLNN_ERR_" "$work/out" || bad="$bad, no status in the message"
    # what the folder holds: the old checkpoint, or a new one that loads
    if cmp -s "$work/base/checkpoint.safetensors" "$work/run/checkpoint.safetensors"; then
      epochs=1
    elif "$train" --data "$data" --eval "$work/run/checkpoint.safetensors" --test-limit 64 > /dev/null 2>&1; then
      epochs=2
    else
      epochs=0 bad="$bad, the checkpoint neither the old one nor readable"
    fi
    rows=$(($(wc -l < "$work/run/log.csv") - 1))
    [ "$epochs" -eq 0 ] || [ "$rows" -eq "$epochs" ] || bad="$bad, log.csv has $rows epochs, the checkpoint $epochs"
    [ "$rc" -ne 0 ] || [ "$epochs" -eq 2 ] || bad="$bad, exit 0 without the new epoch committed"
    ls "$work/run" | grep -q '\.tmp' && bad="$bad, a temporary file left behind"
    if [ -n "$bad" ]; then
      echo "FAIL $class:$n: $bad"
      tail -5 "$work/out"
      fails=$((fails + 1))
    fi
    n=$b
    b=$((a + b))
    a=$n
  done
  echo "$class: calls 1, 2, 3, 5, ... up to $last failed in turn (a run makes fewer than $n)"
done
echo "$runs runs, $fails failures"
[ "$fails" -eq 0 ]
