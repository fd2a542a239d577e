#!/bin/sh
# fault_sweep.sh CLNN_BENCH CASES - with a build made with -DCLNN_FAULT_INJECTION=ON
# (and best with -DCLNN_SANITIZE=address,undefined): for every problem of
# CASES and every class of OpenCL call (runtime/fault.h), fail the 1st, 2nd,
# ... call of the class until one run never reaches it. Each failed run must
# exit with a status and a message (not a crash), report no leak or memory
# error, and leave the outputs of the call that failed untouched
# (clnn-bench --mode=C checks them). Builds without fault injection skip (77).
set -u
bench=$1
cases=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/clnn-fault-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
CLNN_FAULT=finish:1 "$bench" --mode=C "add n7" > "$work/probe" 2>&1
grep -q "injected fault" "$work/probe" || { echo "clnn-bench is not built with CLNN_FAULT_INJECTION: skipping"; exit 77; }
fails=0 runs=0
while read -r passes desc; do
  case $passes in '' | '#'*) continue ;; esac
  for class in buffer build enqueue read write finish; do
    n=1
    while [ "$n" -le 400 ]; do
      CLNN_FAULT=$class:$n "$bench" --mode=C --pass="$passes" "$desc" > "$work/out" 2>&1
      rc=$?
      runs=$((runs + 1))
      grep -q "injected fault" "$work/out" || break # the class has fewer calls than n
      bad=""
      [ "$rc" -ge 1 ] && [ "$rc" -le 3 ] || bad="exit status $rc"
      grep -q "CLNN_ERR_" "$work/out" || bad="$bad, no status in the message"
      grep -qE "Sanitizer|runtime error|changed its output" "$work/out" && bad="$bad, $(grep -m1 -E "Sanitizer|runtime error|changed its output" "$work/out")"
      if [ -n "$bad" ]; then
        echo "FAIL $class:$n $desc: ${bad#, }"
        fails=$((fails + 1))
      fi
      n=$((n + 1))
    done
  done
done < "$cases"
echo "$runs runs, $fails failures"
[ "$fails" -eq 0 ]
