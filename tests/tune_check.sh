#!/bin/sh
# tune_check.sh CLNN_TUNE CLNN_INFO CLNN_BENCH - clnn-tune's output is a table
# section libclnn takes: run the tool on tiny problems (GPU class on this
# device), then make a context with the result as CLNN_TUNE_FILE, check that
# its device section is the one used, and run a GPU convolution with it.
set -u
tune=$1 info=$2 bench=$3
work=$(mktemp -d /tmp/clnn-tune-check-XXXXXX)
trap 'rm -rf "$work"' EXIT
export CLNN_DEVICE_CLASS=gpu
"$tune" --tiny --quick --max-seconds 4 --out "$work/table.txt" > "$work/stdout" 2> "$work/log" ||
  { cat "$work/log"; echo "FAIL: clnn-tune exited $?"; exit 1; }
cmp -s "$work/stdout" "$work/table.txt" || { echo "FAIL: --out differs from what was printed"; exit 1; }
grep -q '^\[device ' "$work/table.txt" || { cat "$work/table.txt"; echo "FAIL: no device section"; exit 1; }
CLNN_TUNE_FILE=$work/table.txt "$info" > "$work/info" 2>&1 || { cat "$work/info"; echo "FAIL: clnn-info"; exit 1; }
grep -q "tuning: $work/table.txt \[device " "$work/info" ||
  { grep tuning "$work/info"; echo "FAIL: the table's device section was not used"; exit 1; }
CLNN_TUNE_FILE=$work/table.txt "$bench" --mode=C --quiet --pass=all "conv mb2ic5ih9iw11oc7kh3ph1" ||
  { echo "FAIL: convolution with the tuned table"; exit 1; }
cat "$work/table.txt"
echo "clnn-tune's section is accepted and used"
