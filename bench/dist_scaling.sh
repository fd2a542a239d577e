#!/bin/bash
# dist_scaling.sh [ROUNDS] - clnn-train's data-parallel scaling on this
# machine (docs/DISTRIBUTED.md): 1 process against 2 (mpirun -np 2 --dist),
# each process with one PoCL worker thread (POCL_MAX_PTHREAD_COUNT=1), the
# same global batch of 64 and 7680 training images (120 steps), alternating
# in one run. Prints each run's training images/s (log.csv, evaluation not
# included) and the medians' ratio; a first round of each warms the program
# cache and is not counted.
set -eu
rounds=${1:-3}
train=${CLNN_TRAIN:-build/examples/clnn-train}
data=${CLNN_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
work=$(mktemp -d /tmp/clnn-dist-scaling-XXXXXX)
trap 'rm -rf "$work"' EXIT
export CLNN_CACHE_DIR="$work/cache" POCL_MAX_PTHREAD_COUNT=1
mkdir -m 700 "$CLNN_CACHE_DIR"
args="--data $data --epochs 1 --batch 64 --train-limit 7680 --test-limit 64 --warmup-epochs 0 --quiet"
mpi="mpirun --allow-run-as-root --oversubscribe --mca btl self,vader"
ips() { awk -F, 'NR == 2 { print $9 }' "$1/log.csv"; }
run_one() { rm -rf "$work/o"; "$train" $args $extra --out "$work/o" > /dev/null; ips "$work/o"; }
run_two() { rm -rf "$work/o"; $mpi -np 2 "$train" $args $extra --dist --out "$work/o" > /dev/null; ips "$work/o"; }
for extra in "" "--sync-bn"; do
  [ -z "$extra" ] && label="local BN" || label="--sync-bn"
  one=() two=()
  extra1=""
  for r in $(seq 0 "$rounds"); do
    a=$(extra=$extra1 run_one)
    b=$(run_two)
    [ "$r" -eq 0 ] && continue # warm-up
    one+=("$a") two+=("$b")
    echo "$label round $r: 1 process $a img/s, 2 processes $b img/s"
  done
  m1=$(printf '%s\n' "${one[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  m2=$(printf '%s\n' "${two[@]}" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
  echo "$label: median 1 process $m1 img/s, 2 processes $m2 img/s: $(awk -v a="$m1" -v b="$m2" 'BEGIN { printf "%.2fx", b / a }')"
done
