#!/bin/sh
# variants.sh CLNN_INFO CLNN_BENCH CASES - every kernel variant is tested.
# CASES holds lines "VARIANT PASS DESCRIPTOR" (# comments). For each line,
# the problem runs with CLNN_VARIANT=VARIANT (clnn-bench --mode=C: against
# the host reference, outputs poisoned first) and must pass and report that
# variant. A GPU-class variant runs with CLNN_DEVICE_CLASS=gpu, so that the
# rest of the op is planned as on a GPU too. A variant that `clnn-info --variants` lists and no line names
# fails the suite: a new variant comes with its cases.
set -u
info=$1 bench=$2 cases=$3
work=$(mktemp -d /tmp/clnn-variants-XXXXXX)
trap 'rm -rf "$work"' EXIT
status=0
"$info" --variants | awk '{print $3}' > "$work/all"
"$info" --variants | awk '$4 == "gpu" {print $3}' > "$work/gpu"
sed 's/#.*//' "$cases" | grep -v '^[[:space:]]*$' > "$work/cases"
while read -r v; do
  grep -q "^$v " "$work/cases" || { echo "FAIL: no case in $(basename "$cases") reaches $v"; status=1; }
done < "$work/all"
n=0
while read -r variant pass desc; do
  grep -qx "$variant" "$work/all" || { echo "FAIL: $variant is not a variant (clnn-info --variants)"; status=1; continue; }
  rm -f "$work/out.jsonl"
  class=auto
  grep -qx "$variant" "$work/gpu" && class=gpu
  if ! CLNN_DEVICE_CLASS=$class CLNN_VARIANT=$variant "$bench" --mode=C --quiet --pass="$pass" --json "$work/out.jsonl" "$desc" \
       > "$work/log" 2>&1; then
    echo "FAIL: $variant $pass \"$desc\":"
    cat "$work/log"
    status=1
    continue
  fi
  if ! grep -q "\"variant\": \"\([^\"]*,\)*$variant[,\"]" "$work/out.jsonl"; then
    echo "FAIL: $variant $pass \"$desc\" ran $(sed -n 's/.*"variant": \("[^"]*"\).*/\1/p' "$work/out.jsonl")"
    status=1
    continue
  fi
  n=$((n + 1))
done < "$work/cases"
echo "$n variant cases passed against the host reference"
exit $status
