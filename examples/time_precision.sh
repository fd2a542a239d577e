#!/bin/sh
# time_precision.sh - training time per epoch of clnn-train in float32,
# bfloat16 and float16 (--precision), run alternately in the same session;
# prints each round, the medians and each half type's speed against
# float32 (> 1: faster). For comparison only: CI does not run it.
#
#   examples/time_precision.sh [CLNN_TRAIN] [ROUNDS] [TRAIN_IMAGES]
#   defaults: build/examples/clnn-train, 3 rounds, 12800 images (100 steps)
#
# The epoch time is clnn-train's own (batch assembly and augmentation
# included, evaluation excluded). Timings on a shared machine drift: only
# the ratios within one run mean anything.
set -eu
BIN=${1:-build/examples/clnn-train}
ROUNDS=${2:-3}
IMAGES=${3:-12800}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# "epoch 1/1: ... 37.6 s, 340 img/s ..." -> 37.6
epoch_s() { sed -n 's/^epoch 1\/1: .* \([0-9.]*\) s, [0-9]* img\/s.*/\1/p' | tail -1; }

median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

for p in f32 bf16 f16; do : > "$OUT/$p"; done
for r in $(seq 1 "$ROUNDS"); do
  line="round $r:"
  for p in f32 bf16 f16; do
    t=$("$BIN" --precision "$p" --epochs 1 --train-limit "$IMAGES" --test-limit 500 --quiet --out "$OUT/run" | epoch_s)
    if [ -z "$t" ]; then
      echo "time_precision.sh: round $r: no epoch time from --precision $p" >&2
      exit 1
    fi
    echo "$t" >> "$OUT/$p"
    line="$line $p $t s,"
  done
  echo "${line%,}"
done
f32=$(median < "$OUT/f32")
bf16=$(median < "$OUT/bf16")
f16=$(median < "$OUT/f16")
echo "median over $ROUNDS rounds ($IMAGES images, batch 128): f32 $f32 s, bf16 $bf16 s, f16 $f16 s per epoch;" \
     "f32 / bf16 = $(echo "$f32 $bf16" | awk '{printf "%.2f", $1 / $2}')," \
     "f32 / f16 = $(echo "$f32 $f16" | awk '{printf "%.2f", $1 / $2}')"
