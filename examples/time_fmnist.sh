#!/bin/sh
# time_fmnist.sh - time per epoch of clnn-train (libclnn on the default
# OpenCL device) against its PyTorch twin (examples/train_fmnist.py, CPU,
# 2 threads), same network, batch and images, run alternately in the same
# session; prints each round and the ratio of the medians (> 1: libclnn is
# faster). For comparison only: CI does not run it (it needs python3-torch).
#
#   examples/time_fmnist.sh [CLNN_TRAIN] [ROUNDS] [TRAIN_IMAGES]
#   defaults: build/examples/clnn-train, 3 rounds, 12800 images (100 steps)
#
# PyTorch runs with the settings bench/torch/compare.py uses (glibc malloc
# tunables, the OpenMP build of OpenBLAS) and torch.set_num_threads(2)
# (train_fmnist.py's default). Timings on a shared machine drift: only the
# ratio within one run means anything.
set -eu
BIN=${1:-build/examples/clnn-train}
ROUNDS=${2:-3}
IMAGES=${3:-12800}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# "epoch 1/1: ... 37.6 s, 340 img/s ..." -> 37.6 (the training time of the epoch)
epoch_s() { sed -n 's/^epoch 1\/1: .* \([0-9.]*\) s, [0-9]* img\/s.*/\1/p' | tail -1; }

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

: > "$OUT/clnn"
: > "$OUT/torch"
for r in $(seq 1 "$ROUNDS"); do
  c=$("$BIN" --epochs 1 --train-limit "$IMAGES" --test-limit 500 --quiet --out "$OUT/run" | epoch_s)
  t=$(GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184 \
      LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
      /usr/bin/python3 "$HERE/train_fmnist.py" --epochs 1 --train-limit "$IMAGES" | epoch_s)
  if [ -z "$c" ] || [ -z "$t" ]; then
    echo "time_fmnist.sh: round $r: could not read an epoch time (clnn '$c', torch '$t')" >&2
    exit 1
  fi
  echo "$c" >> "$OUT/clnn"
  echo "$t" >> "$OUT/torch"
  echo "round $r: clnn-train $c s, PyTorch $t s, ratio $(echo "$t $c" | awk '{printf "%.2f", $1 / $2}')"
done
c=$(median < "$OUT/clnn")
t=$(median < "$OUT/torch")
echo "median over $ROUNDS rounds ($IMAGES images, batch 128): clnn-train $c s, PyTorch $t s per epoch;" \
     "PyTorch / libclnn = $(echo "$t $c" | awk '{printf "%.2f", $1 / $2}')"
