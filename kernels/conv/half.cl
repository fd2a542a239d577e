/*
 * conv/half.cl - the convolution's half-precision staging (ops/conv_half.c):
 * float16 and bfloat16 tensors are widened to float32 in the workspace
 * before a pass, and its float32 result is rounded back once after it, so
 * every variant's kernels stay float32 and run unchanged. Built with
 * -DDT=<clnn_dtype> (kernels/common.h's LOAD / STORE macros).
 *
 * Indices are longs: a 2-byte tensor of 2^31 - 1 elements is 4 GiB, and an
 * int index would wrap before the end of it.
 */

/*
 * conv_half_widen: dst[j] = src[j] as float32, for j < n. Work-item i takes
 * elements 16i .. 16i+15; the one holding the end of the tensor takes the
 * rest one by one. src may sit at any element offset (a view): the vector
 * loads need only the element's own alignment. NDRange (n / 16 + 1), in
 * work-groups of 64 (of 1, PoCL's cost per work-group made the staging of
 * a depthwise convolution's tensors take longer than the convolution).
 */
__kernel void conv_half_widen(CTENSOR_DT(src), TENSOR(dst), const long n) {
  const long i = get_global_id(0);
  __global const STORE_T *s = AT(src);
  __global float *d = AT(dst);
  if (i < n / 16) {
    vstore16(LOAD16(i, s), i, d);
  } else if (i == n / 16) {
    for (long j = i * 16; j < n; j++) d[j] = LOAD1(s, j);
  }
}

/*
 * conv_half_round: dst[j] = src[j] rounded to the storage type (nearest
 * even; NaN stays NaN, float16 overflow gives infinity), for j < n. The
 * same split as conv_half_widen.
 */
__kernel void conv_half_round(CTENSOR(src), TENSOR_DT(dst), const long n) {
  const long i = get_global_id(0);
  __global const float *s = AT(src);
  __global STORE_T *d = AT(dst);
  if (i < n / 16) {
    STORE16(vload16(i, s), i, d);
  } else if (i == n / 16) {
    for (long j = i * 16; j < n; j++) STORE1(s[j], d, j);
  }
}
