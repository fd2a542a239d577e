/*
 * pool.cl - 2-D max and average pooling over NCHW tensors, forward and
 * backward, and the global-average special case as a plane reduction.
 *
 * The data tensors (x, y, dy, dx) are float32, float16 or bfloat16 (-DDT,
 * the LOAD / STORE macros of common.h; the indices stay int32): every
 * value is loaded to float, maxima, sums and quotients are float32 (private
 * rows, accumulators and local memory included), and each output is
 * rounded once when stored. A maximum stores a loaded value: exact.
 *
 * Windows follow PyTorch: output o covers rows [o*SH - PH, o*SH - PH + KH)
 * clipped to [0, H) for the data, and (average, count_include_pad) to
 * [.., H + PH) for the divisor.
 *
 * Two kernel pairs:
 *  - pool_fwd_rows / pool_bwd_rows (rows up to POOL_ROWBUF floats): the
 *    forward copies each input row it needs into a private row padded with
 *    -inf (max) or 0 (average), then updates 16 outputs at a time as one
 *    float16, with no bounds checks (branches stop PoCL
 *    vectorising). Padding never wins a max and adds nothing to a sum, so
 *    the results equal the clipped windows'. The backward gives each
 *    work-item one input row and lets the outputs that depend on it add
 *    into a private row, in ascending output order: a gather per row, so no
 *    two work-items write the same element and the order is fixed.
 *  - pool_fwd / pool_bwd: plain loops over the clipped windows, for rows
 *    too long for the private buffers.
 *
 * -D: DT (the data tensors' type), POOL_MAX (1: max, 0: average),
 *     COUNT_PAD (average: 1 = divide by the padded window area, 0 = by the
 *     covered inputs), WRITE_IDX (max: also write the argmax), POOL_SW (the
 *     rows kernels: column stride 1 or 2 read the row with vector loads; 0
 *     gathers any stride).
 */
#ifndef POOL_MAX
#define POOL_MAX 1
#endif
#ifndef COUNT_PAD
#define COUNT_PAD 1
#endif
#ifndef WRITE_IDX
#define WRITE_IDX 0
#endif
#ifndef POOL_SW
#define POOL_SW 0
#endif
/* Private row buffers of the rows kernels, in floats (ops/pool.c checks). */
#define POOL_ROWBUF CLNN_POOL_ROWBUF
#define POOL_OUTBUF CLNN_POOL_OUTBUF
#if POOL_MAX
#define POOL_PAD (-INFINITY)
#else
#define POOL_PAD 0.0f
#endif

/* One dimension of a window: data range [lo, hi), padded end for the divisor. */
typedef struct pool_span {
  int lo, hi, area;
} pool_span;

pool_span span_of(int o, int S, int P, int K, int n) {
  pool_span s;
  const int start = o * S - P, end = min(start + K, n + P);
  s.lo = max(start, 0);
  s.hi = min(end, n);
  s.area = end - start;
  return s;
}

/* The average's divisor of one window. */
float pool_divisor(pool_span r, pool_span c, int divisor) {
  if (divisor > 0) return (float)divisor;
  return COUNT_PAD ? (float)(r.area * c.area) : (float)((r.hi - r.lo) * (c.hi - c.lo));
}

/* The divisors of the 16 outputs ox0 .. ox0 + 15 of an output row with row
 * span r, in integer vector arithmetic (lanes past the row are unused). */
float16 pool_divisor16(pool_span r, int ox0, int SW, int PW, int KW, int W, int divisor) {
  if (divisor > 0) return (float16)((float)divisor);
  const int16 start = ((int16)(ox0) + (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)) * SW - PW;
  const int16 end = min(start + KW, (int16)(W + PW));
#if COUNT_PAD
  return convert_float16((end - start) * r.area);
#else
  return convert_float16((min(end, (int16)(W)) - max(start, (int16)(0))) * (r.hi - r.lo));
#endif
}

#if DT == CLNN_DTYPE_CODE_FLOAT32
/* dst[0 .. n) = src[0 .. n) as float (a private row): 16 at a time, then the tail. */
void pool_load_row(float *dst, __global const STORE_T *src, int n) {
  int j = 0;
  for (; j + 16 <= n; j += 16) vstore16(LOAD16(0, src + j), 0, dst + j);
  for (; j < n; j++) dst[j] = LOAD1(src, j);
}

/* dst[0 .. n) = src[0 .. n), each rounded once to the storage type: 16 at a time, then the tail. */
void pool_store_row(__global STORE_T *dst, const float *src, int n) {
  int j = 0;
  for (; j + 16 <= n; j += 16) STORE16(vload16(0, src + j), 0, dst + j);
  for (; j < n; j++) STORE1(src[j], dst, j);
}
#else
/* The half forms: every piece a 16-wide vector move and conversion
 * (common.h's LOADV16 / STOREV16), a row of n >= 16 ending with one more
 * piece at n - 16 that converts a few elements again to the same values. A
 * lone half element costs PoCL a conversion call (float16: about 15 scalar
 * instructions a load, more a rounded store), and a row of 56 inputs or 28
 * outputs left 8 or 12 of them to the tail loop. Rows under 16 stay element
 * by element. */
void pool_load_row(float *dst, __global const STORE_T *src, int n) {
  if (n < 16) {
    for (int j = 0; j < n; j++) dst[j] = LOAD1(src, j);
    return;
  }
  for (int j = 0; j < n; j += 16) {
    const int at = min(j, n - 16);
    vstore16(LOADV16(src + at), 0, dst + at);
  }
}

void pool_store_row(__global STORE_T *dst, const float *src, int n) {
  if (n < 16) {
    for (int j = 0; j < n; j++) STORE1(src[j], dst, j);
    return;
  }
  for (int j = 0; j < n; j += 16) {
    const int at = min(j, n - 16);
    STOREV16(vload16(0, src + at), dst + at);
  }
}
#endif

/*
 * pool_fwd (generic): one output row oy of plane p (p = image * C + channel) per
 * work-item. Max: a NaN wins (the last one), ties keep the first position,
 * the index is iy * W + ix; the initial index is the window's first covered
 * position (PyTorch's choice for a window of -inf).
 * NDRange (OH, N * C), local (1, 1).
 */
#if POOL_MAX
/* The largest x over rows [y0, y1) and columns [x0, x1) of a plane W wide,
 * NaN winning as in torch, and its flat index in *at (the window's first
 * element when every value is -inf): pool_fwd, pool_fwd_gpu and the
 * scalar tail of the 2x2 kernel. */
static inline float max_window(__global const STORE_T *xp, int W, int y0, int y1, int x0, int x1, int *at) {
  float best = -INFINITY;
  int best_i = y0 * W + x0;
  for (int iy = y0; iy < y1; iy++)
    for (int ix = x0; ix < x1; ix++) {
      const float v = LOAD1(xp, iy * W + ix);
      const bool take = v > best || isnan(v);
      best = take ? v : best;
      best_i = take ? iy * W + ix : best_i;
    }
  *at = best_i;
  return best;
}
#endif

__kernel void pool_fwd(CTENSOR_DT(x), TENSOR_DT(y), ITENSOR(idx), const int H, const int W, const int OH,
                       const int OW, const int KH, const int KW, const int SH, const int SW, const int PH,
                       const int PW, const int divisor) {
  const int oy = get_global_id(0), p = get_global_id(1);
  if (oy >= OH) return;
  __global const STORE_T *xp = AT(x) + (size_t)p * H * W;
  __global STORE_T *yp = AT(y) + ((size_t)p * OH + oy) * OW;
  const pool_span r = span_of(oy, SH, PH, KH, H);
#if POOL_MAX && WRITE_IDX
  __global int *ip = AT(idx) + ((size_t)p * OH + oy) * OW;
#endif
  for (int ox = 0; ox < OW; ox++) {
    const pool_span c = span_of(ox, SW, PW, KW, W);
#if POOL_MAX
    int best_i;
    STORE1(max_window(xp, W, r.lo, r.hi, c.lo, c.hi, &best_i), yp, ox);
#if WRITE_IDX
    ip[ox] = best_i;
#endif
#else
    float sum = 0.0f;
    for (int iy = r.lo; iy < r.hi; iy++)
      for (int ix = c.lo; ix < c.hi; ix++) sum += LOAD1(xp, iy * W + ix);
    STORE1(sum / pool_divisor(r, c, divisor), yp, ox);
#endif
  }
}

/*
 * pool_bwd (generic): one input row iy of plane p per work-item. Each dx element sums
 * over the outputs whose window holds it, rows then columns ascending:
 * max adds dy[o] where idx[o] names this position, average dy[o] / divisor.
 * NDRange (H, N * C), local (1, 1).
 */
__kernel void pool_bwd(CTENSOR_DT(dy), CITENSOR(idx), TENSOR_DT(dx), const int H, const int W, const int OH,
                       const int OW, const int KH, const int KW, const int SH, const int SW, const int PH,
                       const int PW, const int divisor) {
  const int iy = get_global_id(0), p = get_global_id(1);
  if (iy >= H) return;
  __global const STORE_T *gp = AT(dy) + (size_t)p * OH * OW;
#if POOL_MAX
  __global const int *ip = AT(idx) + (size_t)p * OH * OW;
#endif
  __global STORE_T *out = AT(dx) + ((size_t)p * H + iy) * W;
  /* outputs oy with oy*SH - PH <= iy < oy*SH - PH + KH */
  const int ty = iy + PH - KH + 1;
  const int oy0 = ty <= 0 ? 0 : (ty + SH - 1) / SH, oy1 = min(OH - 1, (iy + PH) / SH);
  for (int ix = 0; ix < W; ix++) {
    const int tx = ix + PW - KW + 1;
    const int ox0 = tx <= 0 ? 0 : (tx + SW - 1) / SW, ox1 = min(OW - 1, (ix + PW) / SW);
    float sum = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++) {
#if !POOL_MAX
      const pool_span r = span_of(oy, SH, PH, KH, H);
#endif
      for (int ox = ox0; ox <= ox1; ox++) {
#if POOL_MAX
        sum += ip[oy * OW + ox] == iy * W + ix ? LOAD1(gp, oy * OW + ox) : 0.0f;
#else
        sum += LOAD1(gp, oy * OW + ox) / pool_divisor(r, span_of(ox, SW, PW, KW, W), divisor);
#endif
      }
    }
    STORE1(sum, out, ix);
  }
}

/* 16 values of the padded row at columns (ox0 + j) * SW + s, j = 0..15. */
float16 pool_gather(const float *row, int ox0, int s, int SW) {
#if POOL_SW == 1
  return vload16(0, row + ox0 + s);
#elif POOL_SW == 2
  const float16 lo = vload16(0, row + 2 * ox0 + s), hi = vload16(0, row + 2 * ox0 + s + 16);
  return (float16)(lo.even, hi.even);
#else
  float t[16];
  for (int j = 0; j < 16; j++) t[j] = row[(ox0 + j) * SW + s];
  return vload16(0, t);
#endif
}

#ifndef POOL_2X2
#define POOL_2X2 0
#endif
#if POOL_2X2
/* A max step: lanes where v is greater or NaN take v and its position. */
void pool_take16(float16 *a, int16 *ai, const float16 v, const int16 at) {
  const int16 take = isgreater(v, *a) | isnan(v);
  *a = select(*a, v, take);
  *ai = select(*ai, at, take);
}

/*
 * Output row oy of a half max pool with 2x2 windows, stride 2 and no
 * padding (-DPOOL_2X2=1: ops/pool.c sets it for half types only), straight
 * from input rows 2oy and 2oy + 1 (one in ceil mode at the bottom edge):
 * 16 outputs from 32 inputs of each row, loaded as two vectors and split
 * into even and odd columns, the last 16 from W / 2 - 16 (computing a few
 * outputs again, the same values), the outputs whose window passes the
 * right edge (ceil mode) or rows of under 32 inputs one by one. Same
 * order as pool_fwd_rows (rows, then columns; NaN wins, ties keep the
 * first), same bits, but no private rows: at 28 outputs a row their
 * filling cost as much as the maxima, and moving half the bytes bought
 * nothing.
 */
void pool_fwd_2x2_row(__global const STORE_T *xp, __global STORE_T *yp, __global int *ip, const int oy, const int H,
                      const int W, const int OW) {
  const int iy0 = 2 * oy, iy1 = min(iy0 + 2, H), full = W / 2; /* full: outputs with both columns */
  const int16 lane2 = 2 * (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int ox = 0;
  if (full >= 16) {
    for (int t = 0; t < full; t += 16) {
      const int ox0 = min(t, full - 16);
      float16 a = (float16)(-INFINITY);
      int16 ai = (int16)(iy0 * W + 2 * ox0) + lane2;
      for (int iy = iy0; iy < iy1; iy++) {
        __global const STORE_T *row = xp + (size_t)iy * W + 2 * ox0;
        const float16 lo = LOADV16(row), hi = LOADV16(row + 16);
        const int16 at = (int16)(iy * W + 2 * ox0) + lane2;
        pool_take16(&a, &ai, (float16)(lo.even, hi.even), at);
        pool_take16(&a, &ai, (float16)(lo.odd, hi.odd), at + 1);
      }
      STOREV16(a, yp + ox0);
#if WRITE_IDX
      vstore16(ai, 0, ip + ox0);
#endif
    }
    ox = full;
  }
  for (; ox < OW; ox++) {
    const int ix1 = min(2 * ox + 2, W);
    int best_i;
    STORE1(max_window(xp, W, iy0, iy1, 2 * ox, ix1, &best_i), yp, ox);
#if WRITE_IDX
    ip[ox] = best_i;
#endif
  }
}
#endif

#ifndef POOL_K3S1
#define POOL_K3S1 0
#endif
#if POOL_K3S1
/*
 * Output row oy of a half average pool with 3-column windows, column
 * stride 1 and column padding 1 (-DPOOL_K3S1=1: ops/pool.c sets it for half
 * types only; OW == W), for rows of 16 outputs or more: each 16 outputs
 * from ox0 sum, row by row, the input columns ox0 - 1, ox0 and ox0 + 1 read
 * as three 16-wide vectors straight from memory (the padding column a
 * zero lane shifted in at either edge), in registers, then divide; the
 * last 16 from OW - 16. Same additions in the same order as pool_fwd_rows
 * (padding adds +0 there too), same bits, but no private rows: their
 * stores and the unaligned reloads that followed cost as much as the sums.
 */
void pool_fwd_k3s1_row(__global const STORE_T *xp, __global STORE_T *yp, const pool_span r, const int KH,
                       const int W, const int OW, const int divisor) {
  for (int t = 0; t < OW; t += 16) {
    const int ox0 = min(t, OW - 16);
    float16 a = (float16)(0.0f);
    for (int iy = r.lo; iy < r.hi; iy++) {
      __global const STORE_T *row = xp + (size_t)iy * W + ox0;
      const float16 m = LOADV16(row);
      const float16 l = ox0 >= 1 ? LOADV16(row - 1)
                                 : (float16)(0.0f, m.s0, m.s1, m.s2, m.s3, m.s4, m.s5, m.s6, m.s7, m.s8, m.s9,
                                             m.sa, m.sb, m.sc, m.sd, m.se);
      const float16 n = ox0 + 17 <= W ? LOADV16(row + 1)
                                      : (float16)(m.s1, m.s2, m.s3, m.s4, m.s5, m.s6, m.s7, m.s8, m.s9, m.sa,
                                                  m.sb, m.sc, m.sd, m.se, m.sf, 0.0f);
      a += l;
      a += m;
      a += n;
    }
    STOREV16(a / pool_divisor16(r, ox0, 1, 1, 3, W, divisor), yp + ox0);
  }
}
#endif

/*
 * pool_fwd_rows: output row oy of plane p per work-item, 16 outputs per
 * float16. Each covered input row goes into a private row padded with
 * POOL_PAD at [0, PW) and [PW + W, rowlen); rowlen (>= what the last strip
 * reads) and OW rounded up to 16 fit POOL_ROWBUF and POOL_OUTBUF.
 * NDRange (OH, N * C), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void pool_fwd_rows(
    CTENSOR_DT(x), TENSOR_DT(y), ITENSOR(idx), const int H, const int W, const int OH, const int OW, const int KH,
    const int KW, const int SH, const int SW, const int PH, const int PW, const int divisor, const int rowlen) {
  const int oy = get_global_id(0), p = get_global_id(1);
  if (oy >= OH) return;
  __global const STORE_T *xp = AT(x) + (size_t)p * H * W;
#if POOL_2X2
  pool_fwd_2x2_row(xp, AT(y) + ((size_t)p * OH + oy) * OW, AT(idx) + ((size_t)p * OH + oy) * OW, oy, H, W, OW);
  return;
#endif
  const pool_span r = span_of(oy, SH, PH, KH, H);
#if POOL_K3S1
  if (OW >= 16) {
    pool_fwd_k3s1_row(xp, AT(y) + ((size_t)p * OH + oy) * OW, r, KH, W, OW, divisor);
    return;
  }
#endif
  const int strips = (OW + 15) >> 4;
  float row[POOL_ROWBUF], acc[POOL_OUTBUF];
#if POOL_MAX
  int arg[POOL_OUTBUF];
  for (int ox = 0; ox < strips * 16; ox++) {
    acc[ox] = -INFINITY;
    arg[ox] = r.lo * W + max(ox * SW - PW, 0); /* the first covered position */
  }
  const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) * SW;
#else
  for (int ox = 0; ox < strips * 16; ox++) acc[ox] = 0.0f;
#endif
  for (int j = 0; j < rowlen; j++) row[j] = POOL_PAD;
  for (int iy = r.lo; iy < r.hi; iy++) {
    pool_load_row(row + PW, xp + (size_t)iy * W, W);
    for (int t = 0; t < strips; t++) {
      const int ox0 = t * 16;
      float16 a = vload16(t, acc);
#if POOL_MAX
      int16 ai = vload16(t, arg);
      const int16 base = (int16)(iy * W + ox0 * SW - PW) + lane;
#endif
      for (int s = 0; s < KW; s++) {
        const float16 v = pool_gather(row, ox0, s, SW);
#if POOL_MAX
        const int16 take = isgreater(v, a) | isnan(v);
        a = select(a, v, take);
        ai = select(ai, base + s, take);
#else
        a += v;
#endif
      }
      vstore16(a, t, acc);
#if POOL_MAX
      vstore16(ai, t, arg);
#endif
    }
  }
#if !POOL_MAX
  for (int t = 0; t < strips; t++)
    vstore16(vload16(t, acc) / pool_divisor16(r, t * 16, SW, PW, KW, W, divisor), t, acc);
#endif
  pool_store_row(AT(y) + ((size_t)p * OH + oy) * OW, acc, OW);
#if POOL_MAX && WRITE_IDX
  __global int *ip = AT(idx) + ((size_t)p * OH + oy) * OW;
  int j = 0;
  for (; j + 16 <= OW; j += 16) vstore16(vload16(0, arg + j), 0, ip + j);
  for (; j < OW; j++) ip[j] = arg[j];
#endif
}

#if POOL_2X2
/* (v0, v0, v1, v1, ..., v7, v7) of the 8 lanes at 8 * half of v. */
#define POOL_TWICE8(T, v) (T)((v).s0, (v).s0, (v).s1, (v).s1, (v).s2, (v).s2, (v).s3, (v).s3, \
                              (v).s4, (v).s4, (v).s5, (v).s5, (v).s6, (v).s6, (v).s7, (v).s7)

/*
 * dx row iy of the half 2x2 stride-2 max pool without padding (POOL_2X2):
 * windows do not overlap, so dx[iy][ix] is 0 + dy[o] when indices[o] of
 * the one output o = (iy / 2, ix / 2) names it, else 0 (what the scatter
 * gives: a sum of one term, or none). 16 outputs (32 columns) per step from
 * one dy and one indices vector, the last step from W / 2 - 16 again; the
 * columns past the last full window and short rows one by one, and a row
 * below the last window (floor mode, odd H) all zero.
 */
void pool_bwd_2x2_row(__global const STORE_T *gp, __global const int *ip, __global STORE_T *out, const int iy,
                      const int W, const int OH, const int OW) {
  const int oy = iy / 2, full = oy < OH ? min(OW, W / 2) : 0, here = iy * W;
  const int16 lane2 = 2 * (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const float16 zero = (float16)(0.0f);
  int ix = 0;
  if (full >= 16) {
    for (int t = 0; t < full; t += 16) {
      const int ox0 = min(t, full - 16);
      const float16 g = LOADV16(gp + oy * OW + ox0);
      const int16 idx = vload16(0, ip + oy * OW + ox0);
      const int16 at = (int16)(here + 2 * ox0) + lane2; /* even columns; odd ones at + 1 */
      const int16 i_lo = POOL_TWICE8(int16, idx.lo), i_hi = POOL_TWICE8(int16, idx.hi);
      const int16 a_lo = POOL_TWICE8(int16, at.lo) + (int16)(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1);
      const int16 a_hi = POOL_TWICE8(int16, at.hi) + (int16)(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1);
      STOREV16(zero + select(zero, POOL_TWICE8(float16, g.lo), i_lo == a_lo), out + 2 * ox0);
      STOREV16(zero + select(zero, POOL_TWICE8(float16, g.hi), i_hi == a_hi), out + 2 * ox0 + 16);
    }
    ix = 2 * full;
  }
  for (; ix < W; ix++) {
    const int ox = ix / 2;
    const bool hit = oy < OH && ox < OW && ip[oy * OW + ox] == here + ix;
    STORE1(hit ? 0.0f + LOAD1(gp, oy * OW + ox) : 0.0f, out, ix);
  }
}
#endif

/* The half max backward with column stride 1 or 2 is a vector gather
 * (pool_bwd_max_vec); float32 and other strides keep pool_bwd_rows' scatter. */
#define POOL_BWD_MAX_VEC (POOL_MAX && DT != CLNN_DTYPE_CODE_FLOAT32 && (POOL_SW == 1 || POOL_SW == 2))
#if POOL_BWD_MAX_VEC
/* The expanded rows' length (pool_bwd_max_vec), in elements. */
#define POOL_EXPBUF (POOL_ROWBUF + POOL_OUTBUF)

/* Each of 8 lanes twice: (v0, v0, v1, v1, ..., v7, v7), as vector literals
 * (one constant shuffle; see resample.cl's ZIP_LO). */
#define POOL_TWICE(T, v)                                                                                  \
  (T)((v).s0, (v).s0, (v).s1, (v).s1, (v).s2, (v).s2, (v).s3, (v).s3, (v).s4, (v).s4, (v).s5, (v).s5,   \
      (v).s6, (v).s6, (v).s7, (v).s7)

/*
 * The max backward of input row iy as a gather, 16 columns per vector: dx
 * column ix sums, over the covering output rows and then columns in
 * ascending order (the scatter's order), dy[o] where indices[o] == iy * W + ix.
 * Adding 0 for the other outputs keeps the bits: the sum starts at +0 and
 * cannot become -0 (round to nearest), so s + 0 == s, and a NaN or
 * infinite dy that does not hit adds nothing.
 * The outputs covering ix are ox = (ix + PW) / SW - k for k = 0 .. ceil(KW / SW) - 1
 * (descending k is ascending ox), where the window of ox still holds ix when
 * (ix + PW) % SW + SW * k < KW (always for stride 1). For each output row
 * the dy values (widened) and the indices go into private rows expanded by
 * SW, eg[lead + c] and ei[lead + c] for output ox = c / SW, with 0 and -1
 * (which no position equals) for the outputs before 0 and from OW on, so
 * each k is one contiguous 16-lane load at lead + ix + PW - SW * k.
 * Returns false, having written nothing, when the rows do not fit the
 * private buffers (the caller then scatters).
 */
bool pool_bwd_max_vec(__global const STORE_T *gp, __global const int *ip, __global STORE_T *out, const int iy,
                      const int oy0, const int oy1, const int W, const int OW, const int KW, const int SW,
                      const int PW) {
  const int lead = KW - 1, strips = (W + 15) >> 4, per = 16 / SW;
  const int blocks = (OW + per - 1) / per;                    /* expanded 16 at a time */
  const int elen = max(lead + strips * 16 + PW, lead + blocks * 16); /* read and written */
  if (elen > POOL_EXPBUF || blocks * per > POOL_ROWBUF + 16) return false;
  float acc[POOL_ROWBUF + 16], eg[POOL_EXPBUF], tg[POOL_ROWBUF + 16];
  int ei[POOL_EXPBUF], ti[POOL_ROWBUF + 16];
  for (int j = 0; j < strips * 16; j++) acc[j] = 0.0f;
  /* the padding: before the expanded rows, after them, after the rows */
  for (int j = 0; j < lead; j++) eg[j] = 0.0f, ei[j] = -1;
  for (int j = lead + blocks * 16; j < elen; j++) eg[j] = 0.0f, ei[j] = -1;
  for (int j = OW; j < blocks * per; j++) tg[j] = 0.0f, ti[j] = -1;
  const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int kn = (KW + SW - 1) / SW;
  for (int oy = oy0; oy <= oy1; oy++) {
    pool_load_row(tg, gp + oy * OW, OW);
    if (OW < 16) {
      for (int j = 0; j < OW; j++) ti[j] = ip[oy * OW + j];
    } else { /* the last 16 from OW - 16, as pool_load_row */
      for (int j = 0; j < OW; j += 16) {
        const int at = min(j, OW - 16);
        vstore16(vload16(0, ip + oy * OW + at), 0, ti + at);
      }
    }
    for (int b = 0; b < blocks; b++) {
#if POOL_SW == 1
      vstore16(vload16(b, tg), 0, eg + lead + 16 * b);
      vstore16(vload16(b, ti), 0, ei + lead + 16 * b);
#else
      const float8 g = vload8(b, tg);
      const int8 i = vload8(b, ti);
      vstore16(POOL_TWICE(float16, g), 0, eg + lead + 16 * b);
      vstore16(POOL_TWICE(int16, i), 0, ei + lead + 16 * b);
#endif
    }
    for (int t = 0; t < strips; t++) {
      const int16 ix = (int16)(t * 16) + lane;
      float16 a = vload16(t, acc);
      for (int k = kn - 1; k >= 0; k--) {
        const int at = lead + t * 16 + PW - SW * k;
        int16 hit = vload16(0, ei + at) == (int16)(iy * W) + ix;
#if POOL_SW == 2
        hit &= ((ix + PW) & 1) + 2 * k < KW;
#endif
        a += select((float16)(0.0f), vload16(0, eg + at), hit);
      }
      vstore16(a, t, acc);
    }
  }
  pool_store_row(out, acc, W);
  return true;
}
#endif

/*
 * pool_bwd_rows: input row iy of plane p per work-item; the outputs whose
 * windows cover the row add into a private row, so no two work-items write
 * the same element and each element sums its terms in a fixed order.
 *  - max: output rows then columns ascending, dy[o] goes to the column
 *    indices[o] names when that position is in this row and in o's window
 *    (W + 1 <= POOL_ROWBUF + 1 floats; a miss lands in the spare slot W);
 *    half types first widen each dy row into a private row (OW <= POOL_ROWBUF + 1).
 *  - average: per covering output row, the shares dy[o] / divisor of all
 *    its outputs first (a vector loop), then for each kernel column k every
 *    output adds its share at padded column ox * SW + k (with stride 1 each
 *    column gathers its KW shares, 16 columns per vector): a row of
 *    max((OW - 1) * SW + KW, OW + KW - 1 rounded up to 16) <= POOL_ROWBUF
 *    floats starting PW left of the input, whose padding is dropped; the
 *    shares take OW + KW - 1 rounded up to 16, plus KW - 1, <= POOL_OUTBUF.
 * NDRange (H, N * C), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void pool_bwd_rows(
    CTENSOR_DT(dy), CITENSOR(idx), TENSOR_DT(dx), const int H, const int W, const int OH, const int OW, const int KH,
    const int KW, const int SH, const int SW, const int PH, const int PW, const int divisor) {
  const int iy = get_global_id(0), p = get_global_id(1);
  if (iy >= H) return;
  const int ty = iy + PH - KH + 1;
  const int oy0 = ty <= 0 ? 0 : (ty + SH - 1) / SH, oy1 = min(OH - 1, (iy + PH) / SH);
  __global const STORE_T *gp = AT(dy) + (size_t)p * OH * OW;
  float acc[POOL_ROWBUF + 1];
#if POOL_MAX
  __global const int *ip = AT(idx) + (size_t)p * OH * OW;
#if POOL_2X2
  pool_bwd_2x2_row(gp, ip, AT(dx) + ((size_t)p * H + iy) * W, iy, W, OH, OW);
  return;
#elif POOL_BWD_MAX_VEC
  if (pool_bwd_max_vec(gp, ip, AT(dx) + ((size_t)p * H + iy) * W, iy, oy0, oy1, W, OW, KW, SW, PW)) return;
#endif
  for (int ix = 0; ix <= W; ix++) acc[ix] = 0.0f;
  const int row0 = iy * W;
#if DT != CLNN_DTYPE_CODE_FLOAT32
  /* each dy row widened once, 16 at a time (a lone half load is a conversion
   * call); OW <= W + 1 (padding is at most half the window) */
  float g[POOL_ROWBUF + 1];
#endif
  for (int oy = oy0; oy <= oy1; oy++) {
#if DT != CLNN_DTYPE_CODE_FLOAT32
    pool_load_row(g, gp + oy * OW, OW);
#endif
    for (int ox = 0; ox < OW; ox++) {
      const pool_span c = span_of(ox, SW, PW, KW, W);
      /* no branch on the data (it would be mispredicted half the time) */
      const int col = ip[oy * OW + ox] - row0;
#if DT == CLNN_DTYPE_CODE_FLOAT32
      acc[col >= c.lo && col < c.hi ? col : W] += gp[oy * OW + ox];
#else
      acc[col >= c.lo && col < c.hi ? col : W] += g[ox];
#endif
    }
  }
  const float *res = acc;
#else
  /* share[KW - 1 + ox] = dy[oy][ox] / divisor for 0 <= ox < OW, zero around it:
   * with stride 1 the padded column j collects share[KW - 1 + j - k] over k,
   * read as whole vectors (adding into acc at shifted offsets instead made
   * every load straddle the previous stores and stall). */
  const int strips = (OW + KW - 1 + 15) >> 4, lead = KW - 1;
  const int padded = max((OW - 1) * SW + KW, strips * 16);
  for (int j = 0; j < padded; j++) acc[j] = 0.0f;
  float share[POOL_OUTBUF];
  for (int j = 0; j < strips * 16 + lead; j++) share[j] = 0.0f;
  for (int oy = oy0; oy <= oy1; oy++) {
    const pool_span r = span_of(oy, SH, PH, KH, H);
#if DT == CLNN_DTYPE_CODE_FLOAT32
    for (int ox = 0; ox < OW; ox++) share[lead + ox] = gp[oy * OW + ox];
#else /* 16 conversions at once: a float16 stride-1 backward took about 0.8x an element loop's time */
    pool_load_row(share + lead, gp + oy * OW, OW);
#endif
    for (int t = 0; t < (OW + 15) >> 4; t++) {
      const int16 ox = (int16)(t * 16) + (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
      const float16 g = vload16(0, share + lead + t * 16) / pool_divisor16(r, t * 16, SW, PW, KW, W, divisor);
      vstore16(select(g, (float16)(0.0f), ox >= OW), 0, share + lead + t * 16); /* lanes past the row: 0 */
    }
#if POOL_SW == 1
    for (int t = 0; t < strips; t++) {
      float16 a = vload16(t, acc);
      for (int k = 0; k < KW; k++) a += vload16(0, share + lead + t * 16 - k);
      vstore16(a, t, acc);
    }
#else
    for (int k = 0; k < KW; k++)
      for (int ox = 0; ox < OW; ox++) acc[ox * SW + k] += share[lead + ox];
#endif
  }
  const float *res = acc + PW;
#endif
  pool_store_row(AT(dx) + ((size_t)p * H + iy) * W, res, W);
}

/* Sum of the 16 lanes in a fixed pairwise order. */
float pool_hsum16(float16 v) {
  float8 a = v.lo + v.hi;
  float4 b = a.lo + a.hi;
  float2 c = b.lo + b.hi;
  return c.x + c.y;
}

/*
 * pool_global_avg_fwd: y[p] = sum(plane p) / div, 16 lanes at a time.
 * NDRange (N * C), local (1).
 */
__kernel void pool_global_avg_fwd(CTENSOR_DT(x), TENSOR_DT(y), const int HW, const float div, const int planes) {
  const int p = get_global_id(0);
  if (p >= planes) return;
  __global const STORE_T *xp = AT(x) + (size_t)p * HW;
  const int nvec = HW >> 4;
  float16 acc = (float16)(0.0f);
  for (int j = 0; j < nvec; j++) acc += LOADV16(xp + ((size_t)j << 4));
  float sum = pool_hsum16(acc);
  for (int j = nvec << 4; j < HW; j++) sum += LOAD1(xp, j);
  STORE1(sum / div, AT(y), p);
}

#if DT == CLNN_DTYPE_CODE_FLOAT32
/*
 * pool_global_avg_bwd: dx[p][i] = dy[p] / div, 16 per work-item, the tail
 * by the work-item past the last full vector.
 * NDRange (HW / 16 + 1, N * C), any local size.
 */
__kernel void pool_global_avg_bwd(CTENSOR_DT(dy), TENSOR_DT(dx), const int HW, const float div) {
  const int i = get_global_id(0), p = get_global_id(1), nvec = HW >> 4;
  const float g = LOAD1(AT(dy), p) / div;
  __global STORE_T *out = AT(dx) + (size_t)p * HW;
  if (i < nvec) {
    STORE16((float16)(g), i, out);
  } else if (i == nvec) {
    for (int j = nvec << 4; j < HW; j++) STORE1(g, out, j);
  }
}
#else
/* 16-element vectors per work-item of the half global backward (ops/pool.c sizes the NDRange with it). */
#define POOL_GLOBAL_HALF_VECS CLNN_POOL_GLOBAL_HALF_VECS
/*
 * pool_global_avg_bwd (half types): dx[p][i] = dy[p] / div, rounded once,
 * POOL_GLOBAL_HALF_VECS vectors of 16 per work-item (one vector moved only
 * 32 bytes, and each work-item converts its dy element on its own, a
 * float16 conversion call: at one vector a work-item a float16
 * 8x144x56x56 backward took float32's time), stored as single unaligned
 * vector moves (common.h's STOREV16); the work-item whose vectors reach
 * the last full one also writes the tail.
 * NDRange (HW / 16 / POOL_GLOBAL_HALF_VECS + 1, N * C), any local size.
 */
__kernel void pool_global_avg_bwd(CTENSOR_DT(dy), TENSOR_DT(dx), const int HW, const float div) {
  const int nvec = HW >> 4, v0 = get_global_id(0) * POOL_GLOBAL_HALF_VECS, p = get_global_id(1);
  if (v0 > nvec) return;
  const float g = LOAD1(AT(dy), p) / div;
  __global STORE_T *out = AT(dx) + (size_t)p * HW;
  const int v1 = min(v0 + POOL_GLOBAL_HALF_VECS, nvec);
  for (int v = v0; v < v1; v++) STOREV16((float16)(g), out + ((size_t)v << 4));
  if (nvec < v0 + POOL_GLOBAL_HALF_VECS)
    for (int j = nvec << 4; j < HW; j++) STORE1(g, out, j);
}
#endif

/* ------------------------------------------------------------ GPU variants
 * Compiled into GPU-class programs, and into any program of a GPU variant
 * (those pass -DPOOL_GPU_WG): CPU-class programs stay as they were.
 *  - pool_fwd_gpu: one output per work-item over the flat output, so
 *    neighbouring work-items compute neighbouring outputs along a row and
 *    the small planes of late layers leave no work-item idle; the window
 *    loops are pool_fwd's, in its order (same bits).
 *  - pool_bwd_gpu: one dx element per work-item, a gather: it sums dy of
 *    the windows that cover it, rows then columns ascending (pool_bwd's
 *    order); max adds the outputs whose index names it. No atomics.
 *  - pool_global_avg_fwd_gpu: one work-group per plane, strided loads
 *    (coalesced), a tree in local memory in a fixed order.
 *  - pool_global_avg_bwd_gpu: dy[p] / div broadcast, one float4 per
 *    work-item per step of a grid-stride loop.
 */
#if !CLNN_DEVICE_CPU || defined(POOL_GPU_WG)
#ifndef POOL_GPU_WG
#define POOL_GPU_WG CLNN_GPU_WG
#endif

/*
 * pool_fwd_gpu: output o < total (o = (p * OH + oy) * OW + ox) per
 * work-item, as pool_fwd computes it (max: NaN wins, the last one; ties keep
 * the first position; the index of a window of -inf is its first covered
 * position).
 * NDRange (total rounded up to the work-group), any local size.
 */
__kernel void pool_fwd_gpu(CTENSOR_DT(x), TENSOR_DT(y), ITENSOR(idx), const int H, const int W, const int OH,
                           const int OW, const int KH, const int KW, const int SH, const int SW, const int PH,
                           const int PW, const int divisor, const int total) {
  const int o = get_global_id(0);
  if (o >= total) return;
  /* remainders as differences: a / and % pair becomes an LLVM freeze,
   * which Oclgrind 21.10's --uninitialized cannot interpret */
  const int t = o / OW, p = t / OH, ox = o - t * OW, oy = t - p * OH;
  __global const STORE_T *xp = AT(x) + (size_t)p * H * W;
  const pool_span r = span_of(oy, SH, PH, KH, H), c = span_of(ox, SW, PW, KW, W);
#if POOL_MAX
  int best_i;
  STORE1(max_window(xp, W, r.lo, r.hi, c.lo, c.hi, &best_i), AT(y), o);
#if WRITE_IDX
  AT(idx)[o] = best_i;
#endif
#else
  float sum = 0.0f;
  for (int iy = r.lo; iy < r.hi; iy++)
    for (int ix = c.lo; ix < c.hi; ix++) sum += LOAD1(xp, iy * W + ix);
  STORE1(sum / pool_divisor(r, c, divisor), AT(y), o);
#endif
}

/*
 * pool_bwd_gpu: dx element i < total (i = (p * H + iy) * W + ix) per
 * work-item: the sum, over the outputs whose window holds it (rows then
 * columns ascending), of dy[o] where indices[o] names it (max) or of
 * dy[o] / divisor (average).
 * NDRange (total rounded up to the work-group), any local size.
 */
__kernel void pool_bwd_gpu(CTENSOR_DT(dy), CITENSOR(idx), TENSOR_DT(dx), const int H, const int W, const int OH,
                           const int OW, const int KH, const int KW, const int SH, const int SW, const int PH,
                           const int PW, const int divisor, const int total) {
  const int i = get_global_id(0);
  if (i >= total) return;
  const int t = i / W, p = t / H, ix = i - t * W, iy = t - p * H; /* see pool_fwd_gpu */
  __global const STORE_T *gp = AT(dy) + (size_t)p * OH * OW;
#if POOL_MAX
  __global const int *ip = AT(idx) + (size_t)p * OH * OW;
  const int here = iy * W + ix;
#endif
  /* outputs oy with oy*SH - PH <= iy < oy*SH - PH + KH, and the same for ox */
  const int ty = iy + PH - KH + 1, tx = ix + PW - KW + 1;
  const int oy0 = ty <= 0 ? 0 : (ty + SH - 1) / SH, oy1 = min(OH - 1, (iy + PH) / SH);
  const int ox0 = tx <= 0 ? 0 : (tx + SW - 1) / SW, ox1 = min(OW - 1, (ix + PW) / SW);
  float sum = 0.0f;
  for (int oy = oy0; oy <= oy1; oy++) {
#if !POOL_MAX
    const pool_span r = span_of(oy, SH, PH, KH, H);
#endif
    for (int ox = ox0; ox <= ox1; ox++) {
#if POOL_MAX
      sum += ip[oy * OW + ox] == here ? LOAD1(gp, oy * OW + ox) : 0.0f;
#else
      sum += LOAD1(gp, oy * OW + ox) / pool_divisor(r, span_of(ox, SW, PW, KW, W), divisor);
#endif
    }
  }
  STORE1(sum, AT(dx), i);
}

/*
 * pool_global_avg_fwd_gpu: y[p] = sum(plane p) / div, plane p per
 * work-group: work-item l adds the values l, l + POOL_GPU_WG, ... then a
 * tree in local memory (fixed order).
 * NDRange (N * C * POOL_GPU_WG), local (POOL_GPU_WG), a power of two.
 */
__kernel __attribute__((reqd_work_group_size(POOL_GPU_WG, 1, 1))) void pool_global_avg_fwd_gpu(
    CTENSOR_DT(x), TENSOR_DT(y), const int HW, const float div) {
  __local float red[POOL_GPU_WG];
  const int lid = get_local_id(0), p = get_group_id(0);
  __global const STORE_T *xp = AT(x) + (size_t)p * HW;
  float sum = 0.0f;
  for (int j = lid; j < HW; j += POOL_GPU_WG) sum += LOAD1(xp, j);
  sum = clnn_group_sum(sum, red, POOL_GPU_WG);
  if (lid == 0) STORE1(sum / div, AT(y), p);
}

/*
 * pool_global_avg_bwd_gpu: dx[e] = dy[e / HW] / div for e < n, one float4
 * per work-item per step (lanes of two planes take each its own), the
 * n % 4 tail after the loop.
 * NDRange: a grid-stride grid, any local size.
 */
__kernel void pool_global_avg_bwd_gpu(CTENSOR_DT(dy), TENSOR_DT(dx), const int HW, const float div, const int n) {
  __global const STORE_T *g = AT(dy);
  __global STORE_T *out = AT(dx);
  const int nvec = n >> 2, step = get_global_size(0);
  /* plane p and place r of the work-item's float4, moved on by the grid's
   * stride (dp planes and dr places) without divisions */
  const int e0 = get_global_id(0) << 2, dp = (step << 2) / HW, dr = (step << 2) - dp * HW;
  int p = e0 / HW, r = e0 - p * HW;
  for (int i = get_global_id(0); i < nvec; i += step) {
    float4 v;
    if (r + 3 < HW)
      v = (float4)(LOAD1(g, p) / div);
    else /* lanes of the next planes (several when HW < 4) */
      v = (float4)(LOAD1(g, p) / div, LOAD1(g, p + (r + 1) / HW) / div, LOAD1(g, p + (r + 2) / HW) / div,
                   LOAD1(g, p + (r + 3) / HW) / div);
    STORE4(v, i, out);
    p += dp;
    r += dr;
    if (r >= HW) r -= HW, p++;
  }
  const long j = ((long)nvec << 2) + get_global_id(0); /* long: no wrap near 2^31 */
  if (j < n) STORE1(LOAD1(g, j / HW) / div, out, j);
}
#endif /* GPU variants */
