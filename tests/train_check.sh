#!/bin/sh
# train_check.sh CLNN_TRAIN - the end-to-end check of examples/train in CI:
#  1. a short run (3840 training images, 2 epochs of batch 64) must lower the loss and
#     reach a test accuracy far above chance (10%);
#  2. --resume continues from its checkpoint, --eval and --predict read it;
#  3. missing or corrupt data files and malformed checkpoints give a clear
#     error and a non-zero exit, never a crash.
# Exits 77 (skip) when Fashion-MNIST (dataset-fashion-mnist) is not installed.
set -u
train=$1
data=${CLNN_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
[ -f "$data/train-images-idx3-ubyte.gz" ] || { echo "no Fashion-MNIST in $data: skipping"; exit 77; }
work=$(mktemp -d /tmp/clnn-train-check-XXXXXX)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# CLNN_TRAIN_CHECK_IMAGES shrinks the runs (the GPU-class kernels run slowly
# on a CPU device): then the training accuracy, not the test accuracy, must
# show learning (batch-norm statistics need more steps to serve the test set),
# and the test sets shrink too: they are only run, not judged.
images=${CLNN_TRAIN_CHECK_IMAGES:-3840}
acc_col=7 tests=2000 tests_after=1000
[ "$images" -lt 3840 ] && acc_col=5 tests=400 tests_after=200

echo "== short training run ($images images)"
"$train" --data "$data" --epochs 2 --batch 64 --train-limit "$images" --test-limit "$tests" --warmup-epochs 0 --quiet --out "$work/run" ||
  fail "training run exited $?"
csv=$work/run/log.csv
[ -f "$csv" ] || fail "no log.csv"
[ -f "$work/run/curves.svg" ] || fail "no curves.svg"
[ -f "$work/run/checkpoint.safetensors" ] || fail "no checkpoint"
cat "$csv"
# columns: epoch,steps,lr,train_loss,train_acc,test_loss,test_acc,...
awk -F, -v col="$acc_col" 'NR == 2 { l1 = $4 } NR == 3 { l2 = $4; acc = $col }
         END { if (!(l2 < l1)) { print "loss did not fall: " l1 " -> " l2; exit 1 }
               if (!(acc > 0.5)) { print "accuracy " acc " is not far above chance"; exit 1 } }' "$csv" ||
  fail "training did not learn"

echo "== resume, eval, predict"
"$train" --data "$data" --epochs 3 --batch 64 --train-limit "$images" --test-limit "$tests_after" --warmup-epochs 0 --quiet --out "$work/run" \
  --resume "$work/run/checkpoint.safetensors" || fail "resume exited $?"
[ "$(wc -l < "$csv")" -eq 4 ] || fail "resume did not append exactly one epoch"
"$train" --data "$data" --eval "$work/run/checkpoint.safetensors" --test-limit "$tests_after" > "$work/eval.txt" || fail "eval exited $?"
grep -q "test accuracy" "$work/eval.txt" || fail "eval printed no accuracy"
"$train" --data "$data" --predict "$work/run/checkpoint.safetensors" --count 4 > "$work/predict.txt" || fail "predict exited $?"
[ "$(grep -c '^test image' "$work/predict.txt")" -eq 4 ] || fail "predict did not print 4 images"

# expect_error EXPECTED_TEXT COMMAND...: must exit non-zero and print EXPECTED_TEXT.
expect_error() {
  want=$1
  shift
  "$@" > "$work/err.txt" 2>&1
  rc=$?
  [ "$rc" -ne 0 ] || fail "'$*' succeeded"
  [ "$rc" -lt 128 ] || fail "'$*' crashed (exit $rc)"
  grep -q "$want" "$work/err.txt" || { cat "$work/err.txt"; fail "'$*' did not say '$want'"; }
}

echo "== data errors"
mkdir -p "$work/bad"
expect_error "cannot open" "$train" --data "$work/bad" --epochs 1
cp "$data"/*.gz "$work/bad/"
printf '\000\000\010\004\000\000\000\001\000\000\000\034\000\000\000\034' | gzip > "$work/bad/t10k-images-idx3-ubyte.gz"
expect_error "bad magic" "$train" --data "$work/bad" --eval x
printf '\000\000\010\003\000\000\047\020\000\000\000\034\000\000\000\034abc' | gzip > "$work/bad/t10k-images-idx3-ubyte.gz"
expect_error "truncated" "$train" --data "$work/bad" --eval x
printf '\000\000\010\003\000\000\000\002\000\000\000\002\000\000\000\002abcdefgh' | gzip > "$work/bad/t10k-images-idx3-ubyte.gz"
expect_error "labels but" "$train" --data "$work/bad" --eval x

echo "== checkpoint errors"
ck=$work/run/checkpoint.safetensors
expect_error "cannot open" "$train" --data "$data" --eval "$work/none.safetensors" --test-limit 10
head -c 5 "$ck" > "$work/short.st"
expect_error "too short" "$train" --data "$data" --eval "$work/short.st" --test-limit 10
head -c 100000 "$ck" > "$work/cut.st"
expect_error "run past the data" "$train" --data "$data" --eval "$work/cut.st" --test-limit 10
printf '\377\377\377\377\377\377\377\177{}' > "$work/huge.st"
expect_error "header length" "$train" --data "$data" --eval "$work/huge.st" --test-limit 10
# mkst FILE JSON DATA: a safetensors file with that header (under 64 KiB) and data.
mkst() {
  len=$(printf '%s' "$2" | wc -c)
  lo=$(printf '%03o' $((len % 256)))
  hi=$(printf '%03o' $((len / 256)))
  printf "\\$lo\\$hi\\000\\000\\000\\000\\000\\000%s%s" "$2" "$3" > "$1"
}
mkst "$work/json.st" '{"a":{"dtype":}' ''
expect_error "malformed header" "$train" --data "$data" --eval "$work/json.st" --test-limit 10
mkst "$work/trail.st" '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x' 'abcd'
expect_error "trailing bytes" "$train" --data "$data" --eval "$work/trail.st" --test-limit 10
mkst "$work/nul.st" '{"x\u0000y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' 'abcd'
expect_error "u0000" "$train" --data "$data" --eval "$work/nul.st" --test-limit 10
mkst "$work/neg.st" '{"x":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}' 'abcd'
expect_error "non-negative integer" "$train" --data "$data" --eval "$work/neg.st" --test-limit 10
mkst "$work/f16.st" '{"x":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}' 'ab'
expect_error "only F32" "$train" --data "$data" --eval "$work/f16.st" --test-limit 10
mkst "$work/range.st" '{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}' 'abcd'
expect_error "byte ranges" "$train" --data "$data" --eval "$work/range.st" --test-limit 10
mkst "$work/size.st" '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}' 'abcd'
expect_error "float32 elements" "$train" --data "$data" --eval "$work/size.st" --test-limit 10
mkst "$work/other.st" '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' 'abcd'
expect_error "no tensor" "$train" --data "$data" --eval "$work/other.st" --test-limit 10
mkst "$work/dup.st" '{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}' 'abcdefgh'
expect_error "appears twice" "$train" --data "$data" --eval "$work/dup.st" --test-limit 10
mkst "$work/epoch.st" '{"__metadata__":{"epoch":"-3"},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' 'abcd'
expect_error "whole number" "$train" --data "$data" --eval "$work/epoch.st" --test-limit 10
mkst "$work/epoch2.st" '{"__metadata__":{"epoch":"99999999999"},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' 'abcd'
expect_error "whole number" "$train" --data "$data" --eval "$work/epoch2.st" --test-limit 10
long=$(head -c 1100 /dev/zero | tr '\000' a)
mkst "$work/meta.st" "{\"__metadata__\":{\"note\":\"$long\"},\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}" 'abcd'
expect_error "at most 1023" "$train" --data "$data" --eval "$work/meta.st" --test-limit 10

echo "== a resume keeps the log to the checkpoint's epochs, and clears killed saves"
echo "9,1,0,1,1,1,1,1,1" >> "$csv"
touch "$work/run/checkpoint.safetensors.tmp.abcdef"
"$train" --data "$data" --epochs 4 --batch 64 --train-limit 256 --test-limit 100 --warmup-epochs 0 --quiet --out "$work/run" \
  --resume "$work/run/checkpoint.safetensors" || fail "second resume exited $?"
[ "$(wc -l < "$csv")" -eq 5 ] || { cat "$csv"; fail "the log is not the header and epochs 1-4"; }
awk -F, 'NR > 1 && $1 != NR - 1 { exit 1 }' "$csv" || { cat "$csv"; fail "the log's epochs are not 1-4 in order"; }
[ ! -e "$work/run/checkpoint.safetensors.tmp.abcdef" ] || fail "a stale temporary checkpoint was left"
# Host logic only: the shortened (GPU-class) run leaves it to the full one.
if [ "$images" -ge 3840 ]; then
  echo "== --max-steps stops inside an epoch (and at its end); a resume ends on the same bits as one run"
  short="--data $data --epochs 2 --batch 64 --train-limit 256 --test-limit 100 --warmup-epochs 0 --quiet"
  # shellcheck disable=SC2086 # $short is a list of options
  "$train" $short --out "$work/whole" > /dev/null || fail "the 8-step run exited $?"
  for stop in 5 4; do
    # shellcheck disable=SC2086
    "$train" $short --out "$work/part$stop" --max-steps "$stop" > "$work/part$stop.txt" || fail "--max-steps $stop exited $?"
    grep -q "stopped after step $stop (--max-steps)" "$work/part$stop.txt" || { cat "$work/part$stop.txt"; fail "no stop line"; }
    # shellcheck disable=SC2086
    "$train" $short --out "$work/part$stop" --resume "$work/part$stop/checkpoint.safetensors" > /dev/null ||
      fail "resuming the --max-steps $stop checkpoint exited $?"
    cmp "$work/whole/checkpoint.safetensors" "$work/part$stop/checkpoint.safetensors" ||
      fail "stopping at step $stop and resuming does not end on the 8-step run's checkpoint"
  done
fi
expect_error "option --max-steps must be a whole number" "$train" --max-steps 0
echo "== mixed precision: a float16 run (loss scaling) resumes from a float32 checkpoint, bfloat16 evaluates it"
"$train" --data "$data" --precision f16 --epochs 5 --batch 64 --train-limit 256 --test-limit 100 --warmup-epochs 0 \
  --out "$work/run" --resume "$work/run/checkpoint.safetensors" > "$work/f16.txt" || fail "float16 resume exited $?"
grep -q "loss scale" "$work/f16.txt" || fail "a float16 run printed no loss scale"
"$train" --data "$data" --precision bf16 --eval "$work/run/checkpoint.safetensors" --test-limit "$tests_after" > "$work/eval16.txt" ||
  fail "bfloat16 eval exited $?"
grep -q "test accuracy" "$work/eval16.txt" || fail "bfloat16 eval printed no accuracy"
expect_error "precision must be" "$train" --precision f8 --epochs 1
# a bad number names its option and what was given
expect_error "option --epochs must be a whole number from 1 to 100000, not '-1'" "$train" --epochs -1
expect_error "option --epochs must be a whole number from 1 to 100000, not 'abc'" "$train" --epochs abc
expect_error "option --batch must be a whole number from 1 to 2147483647, not '0'" "$train" --batch 0
echo "clnn-train end-to-end checks passed"
