#!/bin/sh
# gpu_anchors.sh CLNN_INFO CLNN_BENCH INPUTS_DIR - planned as a GPU
# (CLNN_DEVICE_CLASS=gpu), the anchor problem of every family (the first line
# of each bench/inputs/<family> file, every pass) runs GPU-class variants
# only (at least one GPU-only, no CPU-only one in its plan) and its main
# kernel has work-groups of 32 work-items or more. One timed run each.
set -u
info=$1 bench=$2 inputs=$3
work=$(mktemp -d /tmp/clnn-gpu-anchors-XXXXXX)
trap 'rm -rf "$work"' EXIT
"$info" --variants | awk '$4 == "cpu" {print $3}' > "$work/cpu_only"
"$info" --variants | awk '$4 == "gpu" {print $3}' > "$work/gpu_only"
status=0
for f in "$inputs"/*; do
  [ -f "$f" ] || continue
  # a relative rois= file is relative to the batch file's folder (bench/inputs)
  line=$(sed 's/#.*//' "$f" | grep -v '^[[:space:]]*$' | head -1 | sed "s| rois=\([^/]\)| rois=$inputs/\1|")
  [ -n "$line" ] || continue
  rm -f "$work/out.jsonl"
  if ! CLNN_DEVICE_CLASS=gpu "$bench" --mode=P --quiet --no-peak --pass=all --warmup 0 --min-runs 1 --max-runs 1 \
       --json "$work/out.jsonl" "$line" > "$work/log" 2>&1; then
    echo "FAIL: $line:"; cat "$work/log"; status=1; continue
  fi
  while IFS= read -r rec; do
    pass=$(echo "$rec" | sed -n 's/.*"pass": "\([^"]*\)".*/\1/p')
    variant=$(echo "$rec" | sed -n 's/.*"variant": "\([^"]*\)".*/\1/p')
    wg=$(echo "$rec" | sed -n 's/.*"wg": \([0-9]*\).*/\1/p')
    gpu=0 cpu=""
    for v in $(echo "$variant" | tr ',' ' '); do
      grep -qx "$v" "$work/gpu_only" && gpu=1
      grep -qx "$v" "$work/cpu_only" && cpu="$cpu $v"
    done
    if [ "$gpu" = 0 ] || [ -n "$cpu" ] || [ "${wg:-0}" -lt 32 ]; then
      echo "FAIL: $line ($pass): variants '$variant', wg ${wg:-?}${cpu:+, CPU-only:$cpu}"
      status=1
    else
      printf '%-7s %-5s %-70s %s\n' "$pass" "$wg" "$variant" "$line"
    fi
  done < "$work/out.jsonl"
done
exit $status
