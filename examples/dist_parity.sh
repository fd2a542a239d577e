#!/bin/bash
# dist_parity.sh CLNN_TRAIN NP [BATCH [WORK_DIR [ARGS...]]] - does clnn-train
# --dist --sync-bn on NP processes train like one process? Both run 20
# AdamW steps of the global batch BATCH (64) from the same seed on the first
# 20 batches of Fashion-MNIST; examples/dist_compare.py then prints the
# relative L2 of the weights and of the BN running statistics and exits 1
# above 1e-5 (it says which tensors are gradient-free, and why those are
# not judged). ARGS go to both runs (e.g. --precision f16).
#   NP = gpu: the control. Instead of NP processes, one process with the
#   GPU-class kernels (CLNN_DEVICE_CLASS=gpu), another valid summation
#   order, shows how far float32 noise alone carries 20 steps (slow: a few
#   minutes).
# The runs stay in WORK_DIR/one and WORK_DIR/other (a temporary folder,
# removed, when WORK_DIR is not given). tests/dist_check.sh runs it with
# NP = 2; docs/DISTRIBUTED.md quotes it.
set -eu
train=$1 np=$2 batch=${3:-64} work=${4:-}
shift $(($# < 4 ? $# : 4))
here=$(cd "$(dirname "$0")" && pwd)
data=${CLNN_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/clnn-dist-parity-XXXXXX)
  trap 'rm -rf "$work"' EXIT
else
  mkdir -p "$work"
fi
if [ -z "${CLNN_CACHE_DIR:-}" ]; then # one private program cache for every process
  export CLNN_CACHE_DIR="$work/cache"
  mkdir -p -m 700 "$CLNN_CACHE_DIR"
fi
args=(--data "$data" --epochs 1 --batch "$batch" --train-limit $((20 * batch)) --test-limit 256 --max-steps 20 --quiet "$@")
"$train" "${args[@]}" --out "$work/one" > "$work/one.txt"
if [ "$np" = gpu ]; then
  CLNN_DEVICE_CLASS=gpu "$train" "${args[@]}" --out "$work/other" > "$work/other.txt"
else
  mpirun --allow-run-as-root --oversubscribe --mca btl self,vader -np "$np" \
    "$train" "${args[@]}" --dist --sync-bn --out "$work/other" > "$work/other.txt"
  grep -q "data-parallel over $np processes" "$work/other.txt"
fi
/usr/bin/python3 "$here/dist_compare.py" "$work/one/checkpoint.safetensors" "$work/other/checkpoint.safetensors" \
  --tol 1e-5 --free '\.proj\.bn\.bias$' --free '(expand|head)\.bn\.running_mean$'
