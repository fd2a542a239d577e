#!/bin/bash
# dist_check.sh CLNN_TRAIN - clnn-train --dist under mpirun (docs/DISTRIBUTED.md):
#  1. parity: 2 processes with --sync-bn against 1, the same global batch of
#     64, 20 AdamW steps: weights and BN running statistics within a relative
#     L2 of 1e-5 (examples/dist_compare.py says which tensors no gradient
#     reaches, and why they are not judged);
#  2. determinism: a second 2-process run gives a byte-identical checkpoint,
#     in float32 and in float16 (which, like one process, skips no step);
#  3. --resume with another process count, and a sharded --eval that agrees
#     with one process;
#  4. faults: a killed process, and a stopped (hung) one, end the job within
#     60 s with a message, and the last checkpoint still loads;
#  5. bad combinations of options are refused with a message, and so are
#     processes given different training options (mpirun's A : B form).
# Exits 77 (skip) without Fashion-MNIST or without mpirun.
set -u
train=$1
here=$(cd "$(dirname "$0")" && pwd)
compare="$here/../examples/dist_compare.py"
data=${CLNN_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
[ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "no Fashion-MNIST in $data: skipping"; exit 77; }
command -v mpirun > /dev/null || { echo "no mpirun (openmpi-bin): skipping"; exit 77; }
work=$(mktemp -d /tmp/clnn-dist-check-XXXXXX)
trap 'kill -9 $(jobs -p) 2> /dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
# One private program cache for every process of every run here (compiling
# the kernels once, not in each of ~12 processes).
export CLNN_CACHE_DIR="$work/cache"
mkdir -m 700 "$CLNN_CACHE_DIR"
# CI runs as root; the shared-memory transport between the processes.
mpi="mpirun --allow-run-as-root --oversubscribe --mca btl self,vader"
common="--data $data --epochs 1 --batch 64 --train-limit 1280 --test-limit 256 --quiet"
free="--free \\.proj\\.bn\\.bias\$ --free (expand|head)\\.bn\\.running_mean\$"

echo "== parity: 1 process against 2 with --sync-bn, 20 AdamW steps of batch 64"
bash "$here/../examples/dist_parity.sh" "$train" 2 64 "$work" || fail "2 processes do not train like 1"
mv "$work/other" "$work/two"

echo "== determinism: a second 2-process run"
$mpi -np 2 "$train" $common --max-steps 20 --dist --sync-bn --out "$work/two-again" > /dev/null || fail "rerun exited $?"
cmp "$work/two/checkpoint.safetensors" "$work/two-again/checkpoint.safetensors" || fail "two 2-process runs differ"
# float16, with its loss scaling: half gradients are summed in float32
for run in f16a f16b; do
  $mpi -np 2 "$train" $common --max-steps 20 --dist --sync-bn --precision f16 --out "$work/$run" > "$work/$run.txt" ||
    fail "float16 run exited $?"
done
cmp "$work/f16a/checkpoint.safetensors" "$work/f16b/checkpoint.safetensors" || fail "two float16 2-process runs differ"
# One process skips no step of these 20 at the initial scale; two must not
# either (each process's gradients have one process's magnitudes).
grep -q "loss scale 65536, 0 steps skipped" "$work/f16a.txt" ||
  fail "2 float16 processes skipped steps: $(grep 'loss scale' "$work/f16a.txt")"

echo "== resume with another process count; sharded eval"
$mpi -np 2 "$train" $common --max-steps 10 --dist --sync-bn --out "$work/half" > /dev/null || fail "10-step run exited $?"
"$train" $common --max-steps 20 --out "$work/half" --resume "$work/half/checkpoint.safetensors" > /dev/null ||
  fail "1-process resume of a 2-process checkpoint exited $?"
/usr/bin/python3 "$compare" "$work/one/checkpoint.safetensors" "$work/half/checkpoint.safetensors" --tol 1e-5 $free ||
  fail "2 processes, then 1, do not train like 1"
"$train" --data "$data" --eval "$work/one/checkpoint.safetensors" --test-limit 300 > "$work/eval1.txt" || fail "eval exited $?"
$mpi -np 2 "$train" --data "$data" --eval "$work/one/checkpoint.safetensors" --test-limit 300 --dist > "$work/eval2.txt" ||
  fail "sharded eval exited $?"
cat "$work/eval2.txt"
[ "$(grep -o 'accuracy .*) on' "$work/eval1.txt")" = "$(grep -o 'accuracy .*) on' "$work/eval2.txt")" ] ||
  fail "sharded eval: $(cat "$work/eval2.txt") against $(cat "$work/eval1.txt")"

# fault_run NAME SIGNAL EXTRA...: a 2-process run of 3 epochs; once its
# first checkpoint is written, rank 1 gets SIGNAL. The job must end within
# 60 s, with a message, and the checkpoint must load.
fault_run() {
  name=$1 sig=$2
  shift 2
  out="$work/$name"
  $mpi -np 2 "$train" --data "$data" --epochs 3 --batch 64 --train-limit 1280 --test-limit 64 --dist --out "$out" "$@" \
    > "$work/$name.txt" 2>&1 &
  job=$!
  for _ in $(seq 600); do [ -f "$out/checkpoint.safetensors" ] && break; sleep 0.1; done
  [ -f "$out/checkpoint.safetensors" ] || fail "$name: no checkpoint after 60 s"
  victim=""
  for p in $(pgrep -f -- "--out $out"); do
    tr '\0' '\n' < /proc/$p/environ 2> /dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && victim=$p
  done
  [ -n "$victim" ] || fail "$name: rank 1 not found"
  start=$(date +%s)
  kill -s "$sig" "$victim"
  for _ in $(seq 600); do kill -0 "$job" 2> /dev/null || break; sleep 0.1; done
  kill -0 "$job" 2> /dev/null && { kill -9 "$victim" 2> /dev/null; fail "$name: the job still runs 60 s after SIGSTOP"; }
  wait "$job" && fail "$name: the job exited 0"
  echo "$name: the job ended $(( $(date +%s) - start )) s after rank 1 got SIG$sig; its message:"
  grep -E "$want" "$work/$name.txt" || { cat "$work/$name.txt"; fail "$name: no message"; }
  "$train" --data "$data" --eval "$out/checkpoint.safetensors" --test-limit 64 > /dev/null ||
    fail "$name: the last checkpoint does not load"
}
echo "== faults"
want="exited on signal 9|killed|aborted" fault_run killed KILL
kill -9 $(pgrep -f -- "--out $work/killed") 2> /dev/null
want="did not finish within" fault_run hung STOP --dist-timeout 5
kill -9 $(pgrep -f -- "--out $work/hung") 2> /dev/null

echo "== option errors"
# (--out and --max-steps bound what a regression would write and run)
bad="$common --max-steps 1 --out $work/e"
"$train" $bad --sync-bn > "$work/e.txt" 2>&1 && fail "--sync-bn without --dist ran"
grep -q "needs --dist" "$work/e.txt" || fail "--sync-bn without --dist: $(cat "$work/e.txt")"
$mpi -np 2 "$train" $bad --batch 63 --dist > "$work/e.txt" 2>&1 && fail "an odd batch over 2 processes ran"
grep -q "does not split over 2 processes" "$work/e.txt" || fail "odd batch: $(cat "$work/e.txt")"
$mpi -np 1 "$train" $bad --dist : -np 1 "$train" $bad --dist --seed 7 > "$work/e.txt" 2>&1 &&
  fail "processes with different seeds ran"
grep -q "training options differ across processes" "$work/e.txt" || fail "different seeds: $(cat "$work/e.txt")"
echo "clnn-train --dist checks passed"
