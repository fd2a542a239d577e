#!/bin/sh
# net_cli.sh CLNN_NET - clnn-net's command line: every network runs a tiny
# inference and training step, and bad input gets a clear message and a
# nonzero status, never a crash.
set -u
NET=$1
TMP=$(mktemp -d "${TMPDIR:-/tmp}/clnn-net-cli.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
fail=0
expect() { # expect STATUS PATTERN ARGS...: status and a line matching PATTERN
  want=$1 pat=$2
  shift 2
  "$NET" "$@" >"$TMP/out" 2>&1
  got=$?
  if [ "$got" -ne "$want" ] || ! grep -q -- "$pat" "$TMP/out"; then
    echo "FAIL: clnn-net $*: status $got (want $want), output:"
    cat "$TMP/out"
    fail=1
  fi
}
expect 0 "usage: clnn-net" --help
for m in resnet18 mobilenet_v2 efficientnet_b0 resnet18_dcn; do
  expect 0 "images/s" --model "$m" --batch 2 --size 32 --steps 1 --warmup 0
  expect 0 "last loss" --model "$m" --mode train --batch 2 --size 32 --steps 1 --warmup 0 --optim adamw \
    --json "$TMP/r.jsonl"
done
# mixed precision: a training step in each half type (float16 with loss scaling, SGD and AdamW
# writing the half model copies), the DCN network's deformable convs included
for p in f16 bf16; do
  expect 0 "last loss" --model resnet18_dcn --mode train --precision "$p" --batch 2 --size 32 --steps 1 --warmup 1
  expect 0 "last loss" --model mobilenet_v2 --mode train --precision "$p" --optim adamw --batch 2 --size 32 \
    --steps 1 --warmup 0 --no-profile
done
expect 2 "bad or missing value for --precision" --model resnet18 --precision f64
[ "$(wc -l <"$TMP/r.jsonl")" -eq 4 ] || { echo "FAIL: --json wrote $(wc -l <"$TMP/r.jsonl") records"; fail=1; }
expect 2 "--model must be" --model resnet50
expect 2 "bad or missing value for --batch" --model resnet18 --batch 0
expect 2 "bad or missing value for --mode" --model resnet18 --mode eval
expect 2 "unknown option" --model resnet18 --bogus
expect 1 "No such file\|cannot open\|open" --model resnet18 --size 32 --weights "$TMP/none.safetensors"
# weights of another network, or of another class count: a shape or name error
expect 0 "images/s" --model mobilenet_v2 --size 32 --batch 1 --steps 1 --classes 10 --no-profile \
  --save-weights "$TMP/mnv2.safetensors"
expect 1 "no tensor" --model resnet18 --size 32 --weights "$TMP/mnv2.safetensors"
expect 1 "another shape" --model mobilenet_v2 --size 32 --weights "$TMP/mnv2.safetensors"
printf 'not a npy file' >"$TMP/bad.npy"
expect 2 "" --model resnet18 --input "$TMP/bad.npy"
# one image per batch in training: batch norm over a single value is refused, with its message
expect 1 "batchnorm" --model resnet18 --mode train --batch 1 --size 32 --steps 1 --warmup 0 --no-profile
exit $fail
