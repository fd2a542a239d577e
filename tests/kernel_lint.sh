#!/bin/sh
# kernel_lint.sh KERNEL_DIR - portability rules for the OpenCL C sources that
# a test on PoCL cannot see, checked on the preprocessed text a non-CPU device
# compiles (shared.h, common.h, the headers of the file's own folder, then the
# file, CLNN_DEVICE_CPU=0, as a Clang-based driver sees it; every .cl and every
# header of kernels/ and its family folders):
#  - no compiler built-in (__builtin_*): PoCL accepts __builtin_prefetch on a
#    __global pointer, NVIDIA's OpenCL compiler refuses the whole program;
#  - no printf: not in OpenCL 1.2's core for every device, and a kernel must
#    not write to stdout.
set -eu
dir=$1
status=0
for f in "$dir"/*.cl "$dir"/*.h "$dir"/*/*.cl "$dir"/*/*.h; do
  [ -f "$f" ] || continue
  case $f in "$dir/shared.h" | "$dir/common.h") continue ;; esac
  folder=$(dirname "$f")
  headers=""
  if [ "$folder" != "$dir" ]; then
    for h in "$folder"/*.h; do [ -f "$h" ] && [ "$h" != "$f" ] && headers="$headers $h"; done
  fi
  # shellcheck disable=SC2086 # headers is a list of paths without spaces
  out=$(cat "$dir/shared.h" "$dir/common.h" $headers "$f" | cc -E -P -x c -D__clang__=1 -D__OPENCL_VERSION__=120 \
        -DCL_VERSION_1_2=120 -DCLNN_DEVICE_CPU=0 - 2>&1) || {
    echo "$f: preprocessing failed: $out"
    status=1
    continue
  }
  bad=$(printf '%s\n' "$out" | grep -n -E '__builtin_[a-z_]+|(^|[^a-z_])printf *\(' || true)
  if [ -n "$bad" ]; then
    echo "$f: not portable to GPU drivers (preprocessed for CLNN_DEVICE_CPU=0):"
    printf '%s\n' "$bad" | head -5
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "kernel sources: no compiler built-ins or printf outside CPU-only code"
exit $status
