#!/bin/sh
# oclgrind.sh CLASS CLNN_INFO CLNN_BENCH HOSTSTORE_SHIM CASES
#
# Runs tiny problems of every op family and pass (clnn-bench --mode=C,
# checked against the host reference) on Oclgrind, the OpenCL device
# simulator, which reports out-of-bounds accesses, data races between
# work-items, divergent barriers, misuse of the API and, where it works,
# reads of uninitialised values. CLASS is cpu or gpu: the lines of CASES
# (format below) that run in that class's kernel variants. Any Oclgrind
# report, any Oclgrind abort and any failed check fails the test. Exits 77
# (skipped) when oclgrind is not installed (scripts/install-deps.sh
# installs it).
#
# CASES lines: WHERE CHECKS PASS DESCRIPTOR (# starts a comment)
#   WHERE   comma-separated runs, each [CLASS:]WHAT[@KIB]: WHAT is cpu or
#           gpu (the CLNN_DEVICE_CLASS it runs in), or variants joined by +
#           (forced with CLNN_VARIANT; each must run), which run in CLASS,
#           by default the first variant's class (cpu when clnn-info
#           --variants lists cpu among its classes). @KIB: the local memory
#           Oclgrind's device reports (default 32 KiB, a small GPU's and
#           Intel's CPU runtime's; @2048 is PoCL's, where the CPU-class
#           variants sized for it run).
#   CHECKS  u: also --uninitialized; -: without it (see below).
#   PASS    all, a pass, or a comma-separated list (clnn-bench --pass).
#
# What is checked, and how (Oclgrind 21.10, Debian 12's):
# - Every run: --data-races --check-api, and Oclgrind's always-on checks
#   (out-of-bounds global/local/private accesses, barrier divergence,
#   invalid work-group sizes and local-memory over-use, kernel build and
#   launch errors). The kernels are built with -O2 -fno-inline: with
#   inlining, LLVM 14 emits llvm.experimental.noalias.scope.decl, which
#   21.10 cannot run (it refuses to create the kernel).
# - CHECKS u adds --uninitialized, with the kernels built at -O0: its
#   checker aborts on LLVM's `freeze` instruction ("Unsupported
#   instruction: freeze"), which the optimiser emits at -O1 and above, and
#   it crashes (SIGSEGV in Uninitialized::instructionExecuted) on the
#   optimised vector code of several kernels. At -O0 it still reports
#   false uninitialised values after vector arguments pass through a
#   non-inlined helper (e.g. hsum16 in eltwise.cl, hmax16 in loss.cl: the
#   same lanes are clean when summed in the caller), and crashes on
#   pool.cl's max-pooling kernels; the lines marked - are the ones where it
#   does that, and they run without it.
# - Host stores: Oclgrind's uninitialised-value shadow is wrong after any
#   host store that is not a whole buffer at offset 0 (clEnqueueFillBuffer,
#   which clnn-bench uses to poison outputs, partial writes and copies,
#   clCreateBuffer's COPY_HOST_PTR). HOSTSTORE_SHIM (tests/oclgrind_hoststore.c,
#   preloaded before Oclgrind's runtime) turns each such store into a
#   whole-buffer write. So a buffer the host wrote any part of counts as
#   initialised everywhere; buffers only kernels write (workspaces,
#   partials, outputs after the poisoning) are tracked exactly.
# - roi.cl's CPU-only __builtin_prefetch is defined away (-D): 21.10 does
#   not know llvm.prefetch either, and a prefetch changes no result.
# - The library's binary cache is off (CLNN_CACHE_DIR=): Oclgrind runs
#   source builds only.
# Not checked here: uninitialised reads on the - lines, and in the parts of
# host-written buffers the host did not write; the kernels as a driver's
# optimiser shapes them (Oclgrind gets -O2 -fno-inline or -O0 on top of the
# library's options); devices with other limits than Oclgrind's (one
# compute unit, work-groups up to 1024, no sub-groups, the local memory
# above); problems other than those in CASES. CLBlast's kernels (the GEMMs
# the GPU class uses) are checked like libclnn's.
set -u
class=$1 info=$2 bench=$3 shim=$4 cases=$5

if ! command -v oclgrind >/dev/null 2>&1; then
  echo "oclgrind is not installed (scripts/install-deps.sh installs it): skipped"
  exit 77
fi
work=$(mktemp -d /tmp/clnn-oclgrind-XXXXXX)
trap 'rm -rf "$work"' EXIT

# The classes of each variant: "NAME CLASSES" lines.
"$info" --variants | awk '{print $3, $4}' > "$work/variants"

# The class of a variant (cpu when its classes include cpu), or none.
variant_class() {
  awk -v v="$1" '$1 == v { print ($2 ~ /cpu/) ? "cpu" : "gpu"; found = 1 } END { if (!found) print "none" }' \
    "$work/variants"
}

# Which test a WHERE token runs in (cpu or gpu), or none (with a reason).
token_class() {
  what=${1%@*}
  case $what in
    cpu | gpu) echo "$what"; return ;;
    cpu:* | gpu:*) cls=${what%%:*} what=${what#*:} ;;
    *) cls= ;;
  esac
  for v in $(echo "$what" | tr '+' ' '); do
    if [ "$(variant_class "$v")" = none ]; then
      echo "none: $v is not a variant (clnn-info --variants)"
      return
    fi
  done
  echo "${cls:-$(variant_class "${what%%+*}")}"
}

# One run; prints why it failed, if it did, and returns non-zero.
run_case() { # where-token checks pass descriptor
  tok=$1 checks=$2 pass=$3 desc=$4
  what=${tok%@*} kib=32 variants=
  case $tok in *@*) kib=${tok#*@} ;; esac
  what=${what#*:}
  case $what in cpu | gpu) ;; *) variants=$(echo "$what" | tr '+' ' ') ;; esac
  flags="--data-races --check-api"
  opts="-O2 -fno-inline"
  if [ "$checks" = u ]; then
    flags="$flags --uninitialized"
    opts="-O0"
  fi
  opts="$opts -D__builtin_prefetch(p)="
  rm -f "$work/log" "$work/out.jsonl"
  forced=$(echo "$variants" | tr ' ' ',')
  # The inner shell puts the shim before Oclgrind's runtime, which the
  # oclgrind launcher preloads ($0 and $@ are the inner shell's; $flags
  # splits into options).
  # shellcheck disable=SC2016,SC2086
  env CLNN_DEVICE_CLASS="$class" CLNN_CACHE_DIR= ${forced:+CLNN_VARIANT=$forced} OCLGRIND_BUILD_OPTIONS="$opts" \
    oclgrind --log "$work/log" $flags --local-mem-size $((kib * 1024)) \
    sh -c 'LD_PRELOAD="$0${LD_PRELOAD:+:$LD_PRELOAD}" exec "$@"' "$shim" \
    "$bench" --mode=C --quiet --pass="$pass" --json "$work/out.jsonl" "$desc" > "$work/run" 2>&1
  rc=$?
  bad=
  [ $rc -eq 0 ] || bad="clnn-bench exited with $rc"
  if [ -s "$work/log" ]; then
    n=$(grep -c '^[^[:space:]]' "$work/log")
    bad="${bad:+$bad; }$n Oclgrind report(s)"
  fi
  grep -q 'Oclgrind\|OCLGRIND' "$work/run" && bad="${bad:+$bad; }Oclgrind messages on the console"
  if [ -z "$bad" ]; then
    if [ ! -s "$work/out.jsonl" ] || grep -v -q '"device": "Oclgrind Simulator"' "$work/out.jsonl"; then
      bad="did not run on Oclgrind's device"
    else
      for v in $variants; do
        grep -q "\"variant\": \"\([^\"]*,\)*${v}[,\"]" "$work/out.jsonl" ||
          bad="${bad:+$bad; }$v did not run"
      done
    fi
  fi
  [ -z "$bad" ] && return 0
  echo "FAIL: $tok $checks $pass \"$desc\": $bad"
  sed 's/^/  | /' "$work/run" | head -40
  [ -s "$work/log" ] && sed 's/^/  ! /' "$work/log" | head -60
  return 1
}

start=$(date +%s)
passed=0 failed=0
sed 's/#.*//' "$cases" | grep -v '^[[:space:]]*$' > "$work/cases"
while read -r where checks pass desc; do
  case $checks in u | -) ;; *)
    echo "FAIL: \"$where $checks $pass $desc\": CHECKS must be u or -"
    failed=$((failed + 1))
    continue ;;
  esac
  for tok in $(echo "$where" | tr ',' ' '); do
    tc=$(token_class "$tok")
    case $tc in none*)
      echo "FAIL: $tok: ${tc#none: }"
      failed=$((failed + 1))
      continue ;;
    esac
    [ "$tc" = "$class" ] || continue
    t0=$(date +%s)
    if run_case "$tok" "$checks" "$pass" "$desc"; then
      passed=$((passed + 1))
      echo "ok   $(($(date +%s) - t0))s  $tok $checks $pass $desc  [$(sed -n 's/.*"variant": "\([^"]*\)".*/\1/p' \
        "$work/out.jsonl" | tr '\n' ' ' | sed 's/ $//')]"
    else
      failed=$((failed + 1))
    fi
  done < /dev/null
done < "$work/cases"
echo "oclgrind, $class class, $(($(date +%s) - start))s: $passed passed, $failed failed"
[ $failed -eq 0 ] && [ $passed -gt 0 ]
