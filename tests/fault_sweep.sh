#!/bin/sh
# fault_sweep.sh CLNN_BENCH CASES - with a build made with -DCLNN_FAULT_INJECTION=ON
# (and best with -DCLNN_SANITIZE=address,undefined): for every problem of
# CASES and every class of OpenCL call (runtime/fault.h), fail the 1st, 2nd,
# ... call of the class until one run never reaches it. Each failed run must
# exit with a status and a message (not a crash), report no leak or memory
# error, and leave the outputs of the call that failed untouched
# (clnn-bench --mode=C checks them). tests/fault_known lists the calls where
# a failure still changes outputs, open work that must not grow: a change of
# output by any other call fails. Builds without fault injection skip (77).
set -u
bench=$1
cases=$2
known=$(dirname "$cases")/fault_known # open cases: CLASS FUNCTION REASON
work=$(mktemp -d "${TMPDIR:-/tmp}/clnn-fault-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
CLNN_FAULT=finish:1 "$bench" --mode=C "add n7" > "$work/probe" 2>&1
grep -q "injected fault" "$work/probe" || { echo "clnn-bench is not built with CLNN_FAULT_INJECTION: skipping"; exit 77; }
fails=0 runs=0 known_hits=0
while read -r passes check desc; do
  case $passes in '' | '#'*) continue ;; esac
  for class in buffer build enqueue read write finish; do
    n=1
    while [ "$n" -le 400 ]; do
      CLNN_FAULT=$class:$n "$bench" --mode=C --pass="$passes" "$desc" > "$work/out" 2>&1
      rc=$?
      runs=$((runs + 1))
      grep -q "injected fault" "$work/out" || break # the class has fewer calls than n
      if grep -q "in clnn_context_free" "$work/out"; then
        # a void function: the run may succeed; it must still not crash or leak
        [ "$rc" -le 3 ] && ! grep -qE "Sanitizer|runtime error" "$work/out" || {
          echo "FAIL $class:$n $desc: in clnn_context_free: exit $rc"
          fails=$((fails + 1))
        }
        n=$((n + 1))
        continue
      fi
      bad=""
      [ "$rc" -ge 1 ] && [ "$rc" -le 3 ] || bad="exit status $rc"
      grep -q "CLNN_ERR_" "$work/out" || bad="$bad, no status in the message"
      grep -qE "Sanitizer|runtime error" "$work/out" && bad="$bad, $(grep -m1 -E "Sanitizer|runtime error" "$work/out")"
      if [ "$check" = outputs ] && grep -q "changed its output" "$work/out"; then
        # the public function that failed, as its message starts
        fn=$(grep -m1 -oE "CLNN_ERR_[A-Z_]+: clnn_[a-z0-9_]+" "$work/out" | sed 's/.*: //')
        if grep -qE "^$class +$fn( |\$)" "$known"; then
          known_hits=$((known_hits + 1))
        else
          bad="$bad, $(grep -m1 "changed its output" "$work/out") (in $fn)"
        fi
      fi
      if [ -n "$bad" ]; then
        echo "FAIL $class:$n $desc: ${bad#, }"
        fails=$((fails + 1))
      fi
      n=$((n + 1))
    done
  done
done < "$cases"
echo "$runs runs, $fails failures, $known_hits outputs changed by a failure listed in $(basename "$known")"
[ "$fails" -eq 0 ]
