/*
 * stage.cl - the half-precision staging of runtime/stage.c: a float16 or
 * bfloat16 tensor widened into a float32 copy, and a float32 result rounded
 * once into a half tensor (nearest even; NaN stays NaN, a float16 overflow
 * gives infinity). Built with -DDT=<clnn_dtype> (kernels/common.h's LOAD
 * and STORE macros).
 *
 * Work-item i takes elements 16i .. 16i+15, the one holding the end of the
 * tensor the rest one by one; items past it do nothing. A half tensor may
 * sit at any element offset (a view): the unaligned 16-element moves need
 * only the element's own alignment. Indices are longs: a 2-byte tensor of
 * 2^31 - 1 elements is 4 GiB, and an int index would wrap before its end.
 * NDRange (n / 16 + 1, rounded up to the local size), local (any).
 */

__kernel void stage_widen(CTENSOR_DT(src), TENSOR(dst), const long n) {
  const long i = get_global_id(0);
  __global const STORE_T *s = AT(src);
  __global float *d = AT(dst);
  if (i < n / 16) {
    vstore16(LOADU16(s + i * 16), i, d);
  } else if (i == n / 16) {
    for (long j = i * 16; j < n; j++) d[j] = LOAD1(s, j);
  }
}

__kernel void stage_round(CTENSOR(src), TENSOR_DT(dst), const long n) {
  const long i = get_global_id(0);
  __global const float *s = AT(src);
  __global STORE_T *d = AT(dst);
  if (i < n / 16) {
    STOREU16(vload16(i, s), d + i * 16);
  } else if (i == n / 16) {
    for (long j = i * 16; j < n; j++) STORE1(s[j], d, j);
  }
}
