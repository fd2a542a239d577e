/*
 * act.cl - activation layers, forward and backward: the plain element-wise
 * form y = ACT(x) and the gated forms (SwiGLU, GeGLU, GLU) that split the
 * input in two halves along the channel axis. The activation itself
 * (act_f16 / act_grad_f16 and their scalar twins) lives in common.h, shared
 * with the fused epilogues of conv and GEMM.
 *
 * Every kernel gives each work-item 16 consecutive elements as one float16
 * (PoCL gives 512-bit registers only to explicit float16), and the
 * one work-item past the last full vector does the scalar tail, so no bounds
 * check sits on the vector path. Pointers are not restrict: the ungated ops
 * run in place (y == x, dx == dy), each element read before it is written by
 * the same work-item.
 *
 * Tensors are float32, float16 or bfloat16 (-DDT, the LOAD / STORE macros
 * of common.h): the math is float32 either way.
 *
 * Common -D: ACT, ACT_ALPHA (common.h), DT, GATE (CLNN_ACT_GATE_FIRST: y =
 * ACT(a) * b, CLNN_ACT_GATE_SECOND: y = a * ACT(b); gated kernels only).
 */
#ifndef GATE
#define GATE CLNN_ACT_GATE_FIRST
#endif

/*
 * act_fwd: y[i] = ACT(x[i]) for i < n.
 * NDRange (n / 16 + 1), any local size (the launch rounds up; extra
 * work-items return).
 */
__kernel void act_fwd(__global const STORE_T *x_base, const ulong x_off, __global STORE_T *y_base,
                      const ulong y_off, const int n) {
  const int i = get_global_id(0), nvec = n >> 4;
  __global const STORE_T *x = x_base + x_off;
  __global STORE_T *y = y_base + y_off;
  if (i < nvec) {
    STOREP16(act_f16(LOADP16(i, x)), i, y);
  } else if (i == nvec) {
    for (int j = nvec << 4; j < n; j++) STORE1(act_f1(LOAD1(x, j)), y, j);
  }
}

/*
 * act_bwd: dx[i] = dy[i] * ACT'(x[i]) for i < n.
 * NDRange (n / 16 + 1), any local size.
 */
__kernel void act_bwd(__global const STORE_T *x_base, const ulong x_off, __global const STORE_T *dy_base,
                      const ulong dy_off, __global STORE_T *dx_base, const ulong dx_off, const int n) {
  const int i = get_global_id(0), nvec = n >> 4;
  __global const STORE_T *x = x_base + x_off;
  __global const STORE_T *dy = dy_base + dy_off;
  __global STORE_T *dx = dx_base + dx_off;
  if (i < nvec) {
    STOREP16(act_grad_f16(LOADP16(i, x), LOADP16(i, dy)), i, dx);
  } else if (i == nvec) {
    for (int j = nvec << 4; j < n; j++) STORE1(act_grad_f1(LOAD1(x, j), LOAD1(dy, j)), dx, j);
  }
}

/* The gated value and its two partial gradients, for one element or 16. */
#define GLU_DEFINE(T, suffix)                                                     \
  T glu_##suffix(T a, T b) {                                                      \
    return GATE == CLNN_ACT_GATE_FIRST ? act_##suffix(a) * b                      \
                                       : a * act_##suffix(b);                     \
  }                                                                               \
  void glu_grad_##suffix(T a, T b, T dy, T *da, T *db) {                          \
    if (GATE == CLNN_ACT_GATE_FIRST) {                                            \
      *da = act_grad_##suffix(a, dy * b);                                         \
      *db = dy * act_##suffix(a);                                                 \
    } else {                                                                      \
      *da = dy * act_##suffix(b);                                                 \
      *db = act_grad_##suffix(b, dy * a);                                         \
    }                                                                             \
  }
GLU_DEFINE(float, f1)
GLU_DEFINE(float16, f16)
GLU_DEFINE(float4, f4)

/*
 * act_glu_fwd: per image, a = x[img][0 .. hlen), b = x[img][hlen .. 2*hlen)
 * (hlen = c/2 * h * w elements), y[img][i] = glu(a[i], b[i]).
 * NDRange (hlen / 16 + 1, n images), any local size.
 */
__kernel void act_glu_fwd(__global const STORE_T *restrict x_base, const ulong x_off,
                          __global STORE_T *restrict y_base, const ulong y_off, const int hlen) {
  const int i = get_global_id(0), img = get_global_id(1), nvec = hlen >> 4;
  __global const STORE_T *a = x_base + x_off + (size_t)img * 2 * hlen;
  __global const STORE_T *b = a + hlen;
  __global STORE_T *y = y_base + y_off + (size_t)img * hlen;
  if (i < nvec) {
    STOREP16(glu_f16(LOADP16(i, a), LOADP16(i, b)), i, y);
  } else if (i == nvec) {
    for (int j = nvec << 4; j < hlen; j++) STORE1(glu_f1(LOAD1(a, j), LOAD1(b, j)), y, j);
  }
}

/*
 * act_glu_bwd: dx[img] = [da, db] from x[img] = [a, b] and dy[img].
 * NDRange (hlen / 16 + 1, n images), any local size.
 */
__kernel void act_glu_bwd(__global const STORE_T *restrict x_base, const ulong x_off,
                          __global const STORE_T *restrict dy_base, const ulong dy_off,
                          __global STORE_T *restrict dx_base, const ulong dx_off, const int hlen) {
  const int i = get_global_id(0), img = get_global_id(1), nvec = hlen >> 4;
  __global const STORE_T *a = x_base + x_off + (size_t)img * 2 * hlen;
  __global const STORE_T *b = a + hlen;
  __global const STORE_T *dy = dy_base + dy_off + (size_t)img * hlen;
  __global STORE_T *da = dx_base + dx_off + (size_t)img * 2 * hlen;
  __global STORE_T *db = da + hlen;
  if (i < nvec) {
    float16 ga, gb;
    glu_grad_f16(LOADP16(i, a), LOADP16(i, b), LOADP16(i, dy), &ga, &gb);
    STOREP16(ga, i, da);
    STOREP16(gb, i, db);
  } else if (i == nvec) {
    for (int j = nvec << 4; j < hlen; j++) {
      float ga, gb;
      glu_grad_f1(LOAD1(a, j), LOAD1(b, j), LOAD1(dy, j), &ga, &gb);
      STORE1(ga, da, j);
      STORE1(gb, db, j);
    }
  }
}

/* ------------------------------------------------------------ GPU variants
 * One float4 per work-item per step, neighbouring work-items on neighbouring
 * float4s (coalesced), in a grid-stride loop over a grid the host sizes to
 * fill the device; the n % 4 tail goes to the first work-items after the
 * loop. Any work-group size (the host picks 256 or the device's maximum).
 */

/* act_fwd_gpu: y[i] = ACT(x[i]) for i < n. */
__kernel void act_fwd_gpu(__global const STORE_T *x_base, const ulong x_off, __global STORE_T *y_base,
                          const ulong y_off, const int n) {
  __global const STORE_T *x = x_base + x_off;
  __global STORE_T *y = y_base + y_off;
  const int nvec = n >> 2, step = get_global_size(0);
  for (int i = get_global_id(0); i < nvec; i += step) STORE4(act_f4(LOAD4(i, x)), i, y);
  const long j = ((long)nvec << 2) + (long)get_global_id(0); /* long: near 2^31 elements an int wraps */
  if (j < n) STORE1(act_f1(LOAD1(x, j)), y, j);
}

/* act_bwd_gpu: dx[i] = dy[i] * ACT'(x[i]) for i < n. */
__kernel void act_bwd_gpu(__global const STORE_T *x_base, const ulong x_off, __global const STORE_T *dy_base,
                          const ulong dy_off, __global STORE_T *dx_base, const ulong dx_off, const int n) {
  __global const STORE_T *x = x_base + x_off;
  __global const STORE_T *dy = dy_base + dy_off;
  __global STORE_T *dx = dx_base + dx_off;
  const int nvec = n >> 2, step = get_global_size(0);
  for (int i = get_global_id(0); i < nvec; i += step) STORE4(act_grad_f4(LOAD4(i, x), LOAD4(i, dy)), i, dx);
  const long j = ((long)nvec << 2) + (long)get_global_id(0); /* long: near 2^31 elements an int wraps */
  if (j < n) STORE1(act_grad_f1(LOAD1(x, j), LOAD1(dy, j)), dx, j);
}

/* act_glu_fwd_gpu: the gated forward (see act_glu_fwd), images along the
 * second NDRange axis. */
__kernel void act_glu_fwd_gpu(__global const STORE_T *restrict x_base, const ulong x_off,
                              __global STORE_T *restrict y_base, const ulong y_off, const int hlen) {
  const int img = get_global_id(1), nvec = hlen >> 2, step = get_global_size(0);
  __global const STORE_T *a = x_base + x_off + (size_t)img * 2 * hlen;
  __global const STORE_T *b = a + hlen;
  __global STORE_T *y = y_base + y_off + (size_t)img * hlen;
  for (int i = get_global_id(0); i < nvec; i += step) STORE4(glu_f4(LOAD4(i, a), LOAD4(i, b)), i, y);
  const long j = ((long)nvec << 2) + (long)get_global_id(0); /* long: near 2^31 elements an int wraps */
  if (j < hlen) STORE1(glu_f1(LOAD1(a, j), LOAD1(b, j)), y, j);
}

/* act_glu_bwd_gpu: the gated backward (see act_glu_bwd). */
__kernel void act_glu_bwd_gpu(__global const STORE_T *restrict x_base, const ulong x_off,
                              __global const STORE_T *restrict dy_base, const ulong dy_off,
                              __global STORE_T *restrict dx_base, const ulong dx_off, const int hlen) {
  const int img = get_global_id(1), nvec = hlen >> 2, step = get_global_size(0);
  __global const STORE_T *a = x_base + x_off + (size_t)img * 2 * hlen;
  __global const STORE_T *b = a + hlen;
  __global const STORE_T *dy = dy_base + dy_off + (size_t)img * hlen;
  __global STORE_T *da = dx_base + dx_off + (size_t)img * 2 * hlen;
  __global STORE_T *db = da + hlen;
  for (int i = get_global_id(0); i < nvec; i += step) {
    float4 ga, gb;
    glu_grad_f4(LOAD4(i, a), LOAD4(i, b), LOAD4(i, dy), &ga, &gb);
    STORE4(ga, i, da);
    STORE4(gb, i, db);
  }
  const long j = ((long)nvec << 2) + (long)get_global_id(0); /* long: near 2^31 elements an int wraps */
  if (j < hlen) {
    float ga, gb;
    glu_grad_f1(LOAD1(a, j), LOAD1(b, j), LOAD1(dy, j), &ga, &gb);
    STORE1(ga, da, j);
    STORE1(gb, db, j);
  }
}
