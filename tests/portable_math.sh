#!/bin/sh
# portable_math.sh KERNEL_DIR TEST... - run test suites on the kernels' portable
# math: a copy of KERNEL_DIR whose common.h defines CLNN_NO_X86_BUILTINS, so
# the helpers take the path that non-AVX-512 devices (GPUs, AVX2 CPUs) compile
# instead of the x86 builtin. Loaded through CLNN_KERNEL_DIR. A suite's exit
# status is passed on (77: no OpenCL device, CTest's skip).
set -u
src=$1
shift
grep -q CLNN_NO_X86_BUILTINS "$src/common.h" || { echo "common.h no longer tests CLNN_NO_X86_BUILTINS"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/clnn-portable-math-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
cp -R "$src"/. "$work"/ || exit 1
{ echo "#define CLNN_NO_X86_BUILTINS 1"; cat "$src/common.h"; } > "$work/common.h"
for t in "$@"; do
  echo "== $t with CLNN_NO_X86_BUILTINS"
  CLNN_KERNEL_DIR=$work "$t" || exit $?
done
