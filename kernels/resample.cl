/*
 * resample.cl - pixel shuffle / unshuffle and nearest / bilinear resize,
 * forward and backward (NCHW; float32, float16 or bfloat16 by -DDT). Written for CPU devices
 * (docs/DESIGN.md, "Kernels on CPU devices"): work-groups of one work-item that each stream
 * whole rows in float16 pieces, no bounds checks inside the element loops
 * (the host hands every kernel the ranges where the fast pattern holds; the
 * rest goes through the generic table code).
 *
 * Resize never computes sampling positions on the device: the host builds
 * them once per call with PyTorch's float rules (host/resample.c) and passes
 * them as a table of 32-bit words (weights as float bits, read back with
 * as_float). The backward kernels gather: every dx element sums, in a fixed
 * order, the dy elements whose forward read it.
 *
 * Half precision (-DDT, kernels/common.h): the kernels that only move
 * elements (pixel shuffle, nearest resize forward) copy them as they are in
 * memory, RAW_T, 2-byte bit patterns in the half types: exact for every
 * value (NaN payloads, -0) and no conversion at all. Bilinear blends and
 * the backward sums load through common.h's LOAD macros, compute in float32
 * and round once on store (STORE macros).
 */

#if DT == CLNN_DTYPE_CODE_FLOAT32
#define RAW_T float
#define RAW16 float16
#define RAW16_LOAD(p) vload16(0, (p))
#define RAW16_STORE(v, p) vstore16((v), 0, (p))
#else
#define RAW_T ushort
#define RAW16 ushort16
/* one vector move each (common.h: PoCL's vload16 / vstore16 of ushort16
 * move element by element) */
#define RAW16_LOAD(p) VLOAD16_US(p)
#define RAW16_STORE(v, p) VSTORE16_US((v), (p))
#endif
#define RTENSOR(name) __global RAW_T *restrict name##_base, ulong name##_off
#define CRTENSOR(name) __global const RAW_T *restrict name##_base, ulong name##_off

/* Interleave a and b: (a0, b0, a1, b1, ...) as two 16-lane halves of type
 * T. Written as vector literals of swizzles, not shuffle2: PoCL runs a
 * shuffle2 of ushort16 element by element (a float16 pixel shuffle took
 * 5-10x its float32 time that way), while literals become one constant
 * shuffle for every lane type. */
#define ZIP_LO(T, a, b)                                                                                 \
  (T)((a).s0, (b).s0, (a).s1, (b).s1, (a).s2, (b).s2, (a).s3, (b).s3, (a).s4, (b).s4, (a).s5, (b).s5,   \
      (a).s6, (b).s6, (a).s7, (b).s7)
#define ZIP_HI(T, a, b)                                                                                 \
  (T)((a).s8, (b).s8, (a).s9, (b).s9, (a).sa, (b).sa, (a).sb, (b).sb, (a).sc, (b).sc, (a).sd, (b).sd,   \
      (a).se, (b).se, (a).sf, (b).sf)

/* ------------------------------------------------------------ pixel shuffle */

#ifndef PS_R
#define PS_R 2
#endif

/*
 * Pixel shuffle moves data between a "deep" tensor (n, k*R*R, h, w) and a
 * "wide" one (n, k, h*R, w*R): wide[b, q, y*R + i, x*R + j] =
 * deep[b, q*R*R + i*R + j, y, x]. resample_to_wide copies deep -> wide
 * (pixel_shuffle forward, pixel_unshuffle backward); resample_to_deep copies
 * wide -> deep (pixel_unshuffle forward, pixel_shuffle backward).
 *
 * -D: PS_R (the factor; 2 uses 16-lane shuffles, others a plain loop), DT.
 * Arguments: src, dst (tensors), h, w (the deep plane's size), rows (deep
 * rows per work-item).
 * NDRange (ceil(h / rows), n * k), local (1, 1): work-item (t, plane) does
 * deep rows [t*rows, t*rows + rows) of every deep plane of wide plane `plane`.
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void resample_to_wide(
    CRTENSOR(src), RTENSOR(dst), const int h, const int w, const int rows) {
  const int y0 = get_global_id(0) * rows, plane = get_global_id(1);
  if (y0 >= h) return;
  const int y1 = min(y0 + rows, h);
  const size_t deep_plane = (size_t)h * w;
  __global const RAW_T *deep = AT(src) + (size_t)plane * PS_R * PS_R * deep_plane;
  __global RAW_T *wide = AT(dst) + (size_t)plane * deep_plane * PS_R * PS_R;
  for (int y = y0; y < y1; y++) {
    for (int i = 0; i < PS_R; i++) {
      __global const RAW_T *in = deep + (size_t)(i * PS_R) * deep_plane + (size_t)y * w;
      __global RAW_T *out = wide + ((size_t)y * PS_R + i) * w * PS_R;
      int x = 0;
#if PS_R == 2
      __global const RAW_T *in1 = in + deep_plane;
      for (; x + 16 <= w; x += 16) {
        const RAW16 a = RAW16_LOAD(in + x), b = RAW16_LOAD(in1 + x);
        RAW16_STORE(ZIP_LO(RAW16, a, b), out + 2 * x);
        RAW16_STORE(ZIP_HI(RAW16, a, b), out + 2 * x + 16);
      }
#endif
      for (; x < w; x++)
        for (int j = 0; j < PS_R; j++) out[x * PS_R + j] = in[(size_t)j * deep_plane + x];
    }
  }
}

/* resample_to_deep: the inverse of resample_to_wide; same -D, arguments and NDRange. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void resample_to_deep(
    CRTENSOR(src), RTENSOR(dst), const int h, const int w, const int rows) {
  const int y0 = get_global_id(0) * rows, plane = get_global_id(1);
  if (y0 >= h) return;
  const int y1 = min(y0 + rows, h);
  const size_t deep_plane = (size_t)h * w;
  __global const RAW_T *wide = AT(src) + (size_t)plane * deep_plane * PS_R * PS_R;
  __global RAW_T *deep = AT(dst) + (size_t)plane * PS_R * PS_R * deep_plane;
  for (int y = y0; y < y1; y++) {
    for (int i = 0; i < PS_R; i++) {
      __global const RAW_T *in = wide + ((size_t)y * PS_R + i) * w * PS_R;
      __global RAW_T *out = deep + (size_t)(i * PS_R) * deep_plane + (size_t)y * w;
      int x = 0;
#if PS_R == 2
      __global RAW_T *out1 = out + deep_plane;
      for (; x + 16 <= w; x += 16) {
        const RAW16 a = RAW16_LOAD(in + 2 * x), b = RAW16_LOAD(in + 2 * x + 16);
        RAW16_STORE((RAW16)(a.even, b.even), out + x);
        RAW16_STORE((RAW16)(a.odd, b.odd), out1 + x);
      }
#endif
      for (; x < w; x++)
        for (int j = 0; j < PS_R; j++) out[(size_t)j * deep_plane + x] = in[x * PS_R + j];
    }
  }
}

/* ------------------------------------------------------------------ resize */

#ifndef BILINEAR
#define BILINEAR 0
#endif
/* Horizontal fast path: 0 none, 1 nearest 2x, 2 bilinear 2x (align_corners = 0). */
#ifndef XFAST
#define XFAST 0
#endif
/* Backward: column entries per input column (the table's fixed width). */
#ifndef KX
#define KX 1
#endif

#define TAB_F(i) as_float(tab[i])

/* The forward's element type in memory: bilinear blends in float32 from
 * STORE_T through LOAD / STORE; nearest copies raw elements. */
#if BILINEAR
#define FWD_T STORE_T
#else
#define FWD_T RAW_T
#endif

/* Output element ox of row out from the column table: x0 at cx[ox], x1 at
 * cx[ow+ox], weights at cx[2ow+ox], cx[3ow+ox]. */
inline void resize_one(__global FWD_T *out, __global const int *restrict cx, const int ow, const int ox,
                       __global const FWD_T *r0, __global const FWD_T *r1, const float ly0, const float ly1) {
#if BILINEAR
  const int u = cx[ox], v = cx[ow + ox];
  const float lx0 = as_float(cx[2 * ow + ox]), lx1 = as_float(cx[3 * ow + ox]);
  STORE1(ly0 * (LOAD1(r0, u) * lx0 + LOAD1(r0, v) * lx1) + ly1 * (LOAD1(r1, u) * lx0 + LOAD1(r1, v) * lx1), out,
         ox);
#else
  out[ox] = r0[cx[ox]];
#endif
}

#if BILINEAR && XFAST == 0 && DT == CLNN_DTYPE_CODE_FLOAT16
/* Longest input row the staged float16 forward keeps in private memory. */
#define STAGE_MAX 1024

/* n >= 1 elements of row r widened into f, 16 at a time (the last piece
 * ends at n, rewriting a few with the same values). */
inline void widen_row(float *f, __global const FWD_T *r, const int n) {
  if (n < 16) {
    for (int j = 0; j < n; j++) f[j] = LOAD1(r, j);
    return;
  }
  for (int j = 0; j < n; j += 16) {
    const int at = min(j, n - 16);
    vstore16(LOADV16(r + at), 0, f + at);
  }
}

/*
 * One output row of the generic bilinear forward in float16 (rows of
 * w <= STAGE_MAX): input rows r0 and r1 widened once into private float
 * rows, each output blended from them as resize_one does (same arithmetic,
 * same values) into 16-wide pieces rounded and stored 16 at a time. A lone
 * float16 element costs PoCL a conversion call (vload_half, vstore_half_rte),
 * and resize_one converts five per output: 8x64x56x56 -> 100x90 took about
 * 50 ms that way, about 12 ms staged (float32: about 3). bfloat16's lone
 * conversions are shifts, and its 16-wide ones slower (PoCL widens ushort16
 * element by element): it keeps resize_one.
 */
inline void bilinear_row_staged(__global FWD_T *out, __global const int *restrict cx, const int ow, const int w,
                                __global const FWD_T *r0, __global const FWD_T *r1, const float ly0,
                                const float ly1) {
  float f0[STAGE_MAX], f1[STAGE_MAX], piece[16];
  widen_row(f0, r0, w);
  widen_row(f1, r1, w);
  for (int ox0 = 0; ox0 < ow; ox0 += 16) {
    const int at = ow < 16 ? ox0 : min(ox0, ow - 16), n = min(16, ow - at);
    for (int t = 0; t < n; t++) {
      const int ox = at + t, u = cx[ox], v = cx[ow + ox];
      const float lx0 = as_float(cx[2 * ow + ox]), lx1 = as_float(cx[3 * ow + ox]);
      piece[t] = ly0 * (f0[u] * lx0 + f0[v] * lx1) + ly1 * (f1[u] * lx0 + f1[v] * lx1);
    }
    if (n == 16)
      STOREV16(vload16(0, piece), out + at);
    else
      for (int t = 0; t < n; t++) STORE1(piece[t], out, at + t);
  }
}
#endif

#if XFAST == 2
/* Bilinear 2x, 16 pairs from m: outputs 2m+1 .. 2m+32 from inputs m .. m+16. */
inline void bilinear2x_16(__global FWD_T *out, __global const FWD_T *r0, __global const FWD_T *r1, const int m,
                          const float ly0, const float ly1) {
  const float16 a0 = LOADV16(r0 + m), b0 = LOADV16(r0 + m + 1);
  const float16 a1 = LOADV16(r1 + m), b1 = LOADV16(r1 + m + 1);
  const float16 odd = ly0 * (a0 * 0.75f + b0 * 0.25f) + ly1 * (a1 * 0.75f + b1 * 0.25f);
  const float16 even = ly0 * (a0 * 0.25f + b0 * 0.75f) + ly1 * (a1 * 0.25f + b1 * 0.75f);
  STOREV16(ZIP_LO(float16, odd, even), out + 2 * m + 1);
  STOREV16(ZIP_HI(float16, odd, even), out + 2 * m + 17);
}
#endif

/*
 * resample_resize_fwd: y = resize(x).
 * -D: DT, BILINEAR (0 nearest, 1 bilinear), XFAST (0, 1 = nearest 2x: inputs
 *     [flo, fhi) of a row are duplicated; 2 = bilinear 2x: pairs m in
 *     [flo, fhi) give outputs 2m+1, 2m+2 from inputs m, m+1 with weights
 *     (0.75, 0.25) and (0.25, 0.75)). Outputs outside the fast range use the
 *     table.
 * Table (32-bit words): y0[oh], y1[oh], ly0[oh], ly1[oh], then x0[ow],
 * x1[ow], lx0[ow], lx1[ow] (weights as float bits).
 * Arguments: x, y, tab, h, w, oh, ow, rows (output rows per work-item),
 * flo, fhi.
 * NDRange (ceil(oh / rows), n * c), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void resample_resize_fwd(
    __global const FWD_T *restrict x_base, ulong x_off, __global FWD_T *restrict y_base, ulong y_off,
    __global const int *restrict tab, const int h, const int w, const int oh, const int ow, const int rows,
    const int flo, const int fhi) {
  const int oy0 = get_global_id(0) * rows, plane = get_global_id(1);
  if (oy0 >= oh) return;
  const int oy1 = min(oy0 + rows, oh);
  __global const FWD_T *in = AT(x) + (size_t)plane * h * w;
  __global const int *restrict cx = tab + 4 * oh;
  for (int oy = oy0; oy < oy1; oy++) {
    __global const FWD_T *r0 = in + (size_t)tab[oy] * w;
    __global const FWD_T *r1 = in + (size_t)tab[oh + oy] * w;
    const float ly0 = TAB_F(2 * oh + oy), ly1 = TAB_F(3 * oh + oy);
    __global FWD_T *out = AT(y) + ((size_t)plane * oh + oy) * ow;
#if XFAST == 0
#if BILINEAR && DT == CLNN_DTYPE_CODE_FLOAT16
    if (w <= STAGE_MAX) {
      bilinear_row_staged(out, cx, ow, w, r0, r1, ly0, ly1);
      continue;
    }
#endif
    for (int ox = 0; ox < ow; ox++) resize_one(out, cx, ow, ox, r0, r1, ly0, ly1);
#elif XFAST == 1
    for (int ox = 0; ox < 2 * flo; ox++) resize_one(out, cx, ow, ox, r0, r1, ly0, ly1);
    int m = flo;
    for (; m + 16 <= fhi; m += 16) {
      const RAW16 a = RAW16_LOAD(r0 + m);
      RAW16_STORE(ZIP_LO(RAW16, a, a), out + 2 * m);
      RAW16_STORE(ZIP_HI(RAW16, a, a), out + 2 * m + 16);
    }
    for (; m < fhi; m++) out[2 * m] = out[2 * m + 1] = r0[m];
    for (int ox = 2 * fhi; ox < ow; ox++) resize_one(out, cx, ow, ox, r0, r1, ly0, ly1);
#else
    for (int ox = 0; ox < 2 * flo + 1; ox++) resize_one(out, cx, ow, ox, r0, r1, ly0, ly1);
    int m = flo;
    for (; m + 16 <= fhi; m += 16) bilinear2x_16(out, r0, r1, m, ly0, ly1);
#if DT != CLNN_DTYPE_CODE_FLOAT32
    /* The last pairs as one more 16-wide piece ending at fhi (the host's range
     * has 16 pairs at least), rewriting a few outputs with the same values:
     * a half element on its own costs a conversion call in PoCL. */
    if (m < fhi) bilinear2x_16(out, r0, r1, fhi - 16, ly0, ly1);
    m = fhi;
#endif
    for (; m < fhi; m++) {
      const float a0 = LOAD1(r0, m), b0 = LOAD1(r0, m + 1), a1 = LOAD1(r1, m), b1 = LOAD1(r1, m + 1);
      STORE1(ly0 * (a0 * 0.75f + b0 * 0.25f) + ly1 * (a1 * 0.75f + b1 * 0.25f), out, 2 * m + 1);
      STORE1(ly0 * (a0 * 0.25f + b0 * 0.75f) + ly1 * (a1 * 0.25f + b1 * 0.75f), out, 2 * m + 2);
    }
    for (int ox = 2 * fhi + 1; ox < ow; ox++) resize_one(out, cx, ow, ox, r0, r1, ly0, ly1);
#endif
  }
}

/* Backward: dx columns per chunk (the fast kernels' float16 width). */
#define CHUNK CLNN_RESIZE_BWD_CHUNK
/* Longest dy column span a chunk may need for the private-row path. */
#define SPAN_MAX 1024

/*
 * The generic backward of one chunk of dx columns [ix0, ix0 + n) of one dx
 * row, when the dy columns they read lie in [lo, lo + span) with span <=
 * SPAN_MAX: first the vertical sum v[j] = sum_e wy_e * dy[row_e][lo + j] over
 * the row entries [e0, e1) (contiguous, vectorizable), then per column the
 * KX entries of the column table (k-major: dy column, -1 = none; then the
 * weights) gathered from v, 16 columns at once for a full chunk. The order
 * of every sum is fixed by the tables.
 */
inline void resize_bwd_chunk(__global STORE_T *out, const int ix0, const int n, const int lo, const int span,
                             __global const int *restrict re, const int e0, const int e1,
                             __global const int *restrict cx, const int w, __global const STORE_T *dyp,
                             const int ow) {
  float v[SPAN_MAX];
  for (int j = 0; j < span; j++) v[j] = 0.0f;
  for (int e = e0; e < e1; e++) {
    __global const STORE_T *row = dyp + (size_t)re[2 * e] * ow + lo;
#if BILINEAR
    const float wy = as_float(re[2 * e + 1]);
    for (int j = 0; j < span; j++) v[j] += wy * LOAD1(row, j);
#else
    for (int j = 0; j < span; j++) v[j] += LOAD1(row, j);
#endif
  }
  if (n == CHUNK) {
    float16 acc = (float16)(0.0f);
    for (int k = 0; k < KX; k++) {
      const int16 o = vload16(0, cx + k * w + ix0);
      const int16 at = clamp(o - lo, 0, SPAN_MAX - 1);
      float16 g = (float16)(v[at.s0], v[at.s1], v[at.s2], v[at.s3], v[at.s4], v[at.s5], v[at.s6], v[at.s7],
                            v[at.s8], v[at.s9], v[at.sa], v[at.sb], v[at.sc], v[at.sd], v[at.se], v[at.sf]);
#if BILINEAR
      g *= as_float16(vload16(0, cx + (KX + k) * w + ix0));
#endif
      acc += select((float16)(0.0f), g, o >= 0);
    }
    STOREV16(acc, out);
    return;
  }
  for (int t = 0; t < n; t++) {
    const int ix = ix0 + t;
    float s = 0.0f;
    for (int k = 0; k < KX; k++) {
      const int o = cx[k * w + ix];
      float g = v[clamp(o - lo, 0, SPAN_MAX - 1)];
#if BILINEAR
      g *= as_float(cx[(KX + k) * w + ix]);
#endif
      s += select(0.0f, g, o >= 0);
    }
    STORE1(s, out, t);
  }
}

/* The same sum column by column, straight from dy (chunks whose dy span is
 * over SPAN_MAX: upscaling by more than about 60x in width). */
inline void resize_bwd_direct(__global STORE_T *out, const int ix0, const int n, __global const int *restrict re,
                              const int e0, const int e1, __global const int *restrict cx, const int w,
                              __global const STORE_T *dyp, const int ow) {
  for (int t = 0; t < n; t++) {
    const int ix = ix0 + t;
    float acc = 0.0f;
    for (int e = e0; e < e1; e++) {
      __global const STORE_T *row = dyp + (size_t)re[2 * e] * ow;
      float s = 0.0f;
      for (int k = 0; k < KX; k++) {
        const int o = cx[k * w + ix];
#if BILINEAR
        s += select(0.0f, as_float(cx[(KX + k) * w + ix]) * LOAD1(row, max(o, 0)), o >= 0);
#else
        s += select(0.0f, LOAD1(row, max(o, 0)), o >= 0);
#endif
      }
#if BILINEAR
      acc += as_float(re[2 * e + 1]) * s;
#else
      acc += s;
#endif
    }
    STORE1(acc, out, t);
  }
}

#if XFAST
/*
 * The 2x pattern for the n <= 16 dx columns from ix (the host marks chunks
 * where every column matches it exactly). Nearest: dy columns 2ix and 2ix+1
 * summed; bilinear (align_corners = 0): 0.25, 0.75, 0.75, 0.25 of dy
 * columns 2ix-1 .. 2ix+2. Rows weighted by the row entries.
 */
inline void resize_bwd_fast(__global STORE_T *out, const int ix, const int n, __global const int *restrict re,
                            const int e0, const int e1, __global const STORE_T *dyp, const int ow) {
  if (n == CHUNK) {
    float16 acc = (float16)(0.0f);
    for (int e = e0; e < e1; e++) {
      __global const STORE_T *row = dyp + (size_t)re[2 * e] * ow + 2 * ix;
#if XFAST == 1
      const float16 a = LOADV16(row), b = LOADV16(row + 16);
      acc += (float16)(a.even, b.even) + (float16)(a.odd, b.odd);
#else
      const float16 p = LOADV16(row - 1), q = LOADV16(row + 15);
      const float16 r = LOADV16(row + 1), s = LOADV16(row + 17);
      const float16 g = (float16)(p.even, q.even) * 0.25f + (float16)(p.odd, q.odd) * 0.75f +
                        (float16)(r.even, s.even) * 0.75f + (float16)(r.odd, s.odd) * 0.25f;
      acc += as_float(re[2 * e + 1]) * g;
#endif
    }
    STOREV16(acc, out);
    return;
  }
  for (int t = 0; t < n; t++) {
    float acc = 0.0f;
    for (int e = e0; e < e1; e++) {
      __global const STORE_T *row = dyp + (size_t)re[2 * e] * ow + 2 * (ix + t);
#if XFAST == 1
      acc += LOAD1(row, 0) + LOAD1(row, 1);
#else
      acc += as_float(re[2 * e + 1]) *
             (LOAD1(row - 1, 0) * 0.25f + LOAD1(row, 0) * 0.75f + LOAD1(row, 1) * 0.75f + LOAD1(row, 2) * 0.25f);
#endif
    }
    STORE1(acc, out, t);
  }
}
#endif

/*
 * resample_resize_bwd: dx = the gradient of resize for dy, as a gather.
 * Each dx row is done chunk by chunk (at most CHUNK columns each, from the
 * host's chunk list): a fast chunk applies the 2x pattern, the others go
 * through the tables.
 * -D: DT, BILINEAR, KX (column entries per dx column), XFAST (0; 1 = nearest
 *     2x, 2 = bilinear 2x with align_corners = 0: the fast chunks' pattern).
 * Table (32-bit words): rs[h + 1] (dx row i's entries are [rs[i], rs[i+1])),
 * then the row entries (dy row, weight bits) in pairs; at cols_at the column
 * table: KX*w dy columns (k-major, -1 = none) and KX*w weights; at
 * chunks_at, nch chunks of 5 words: first dx column, column count, first dy
 * column read, dy span, fast (1 = the 2x pattern holds for these columns).
 * Arguments: dy, dx, tab, h, w, oh, ow, rows (dx rows per work-item),
 * cols_at, chunks_at, nch.
 * NDRange (ceil(h / rows), n * c), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void resample_resize_bwd(
    CTENSOR_DT(dy), TENSOR_DT(dx), __global const int *restrict tab, const int h, const int w, const int oh,
    const int ow, const int rows, const int cols_at, const int chunks_at, const int nch) {
  const int iy0 = get_global_id(0) * rows, plane = get_global_id(1);
  if (iy0 >= h) return;
  const int iy1 = min(iy0 + rows, h);
  __global const STORE_T *dyp = AT(dy) + (size_t)plane * oh * ow;
  __global const int *restrict re = tab + h + 1;
  __global const int *restrict cx = tab + cols_at;
  for (int iy = iy0; iy < iy1; iy++) {
    const int e0 = tab[iy], e1 = tab[iy + 1];
    __global STORE_T *out = AT(dx) + ((size_t)plane * h + iy) * w;
    for (int c = 0; c < nch; c++) {
      __global const int *ch = tab + chunks_at + 5 * c;
      const int ix0 = ch[0], n = ch[1], lo = ch[2], span = ch[3];
#if XFAST
      if (ch[4]) {
        resize_bwd_fast(out + ix0, ix0, n, re, e0, e1, dyp, ow);
        continue;
      }
#endif
      if (span <= SPAN_MAX)
        resize_bwd_chunk(out + ix0, ix0, n, lo, span, re, e0, e1, cx, w, dyp, ow);
      else
        resize_bwd_direct(out + ix0, ix0, n, re, e0, e1, cx, w, dyp, ow);
    }
  }
}

/* ------------------------------------------------------------ GPU variants
 * Shaped for GPUs (docs/DESIGN.md, "Kernels on GPU devices"): one output element per
 * work-item, consecutive work-items on consecutive output elements (along
 * the output width), so that every store is coalesced and the loads of
 * neighbouring work-items are close; 1-D NDRange over the output rounded up
 * to the work-group, the tail guarded. Any work-group size. The backward of
 * resize is a gather too (no atomics): each dx element sums, in the fixed
 * order of the host's tables, the dy elements whose forward read it.
 * The element index is checked as the size_t get_global_id gives before it
 * becomes an int: the NDRange is rounded up past total, and with up to
 * 2^31 - 1 elements (4 GiB in a half type) the rounded ids pass INT_MAX.
 */

/*
 * resample_to_wide_gpu: wide[b, q, y*R + i, x*R + j] = deep[b, q*R*R + i*R + j, y, x]
 * for every wide element e < total (R = PS_R; h, w: the deep plane).
 * resample_to_deep_gpu: the inverse, over every deep element.
 * -D: PS_R, DT (raw elements). NDRange (total, rounded up), local: any.
 */
__kernel void resample_to_wide_gpu(CRTENSOR(src), RTENSOR(dst), const int h, const int w, const int total) {
  if (get_global_id(0) >= (size_t)total) return;
  const int e = (int)get_global_id(0);
  const int ww = w * PS_R, hw = h * PS_R;
  const int X = e % ww, t = e / ww, Y = t % hw, plane = t / hw;
  const int y = Y / PS_R, i = Y - y * PS_R, x = X / PS_R, j = X - x * PS_R;
  const size_t from = (((size_t)plane * PS_R * PS_R + i * PS_R + j) * h + y) * w + x;
  AT(dst)[e] = AT(src)[from];
}

__kernel void resample_to_deep_gpu(CRTENSOR(src), RTENSOR(dst), const int h, const int w, const int total) {
  if (get_global_id(0) >= (size_t)total) return;
  const int e = (int)get_global_id(0);
  const int x = e % w, t = e / w, y = t % h, t2 = t / h;
  const int sub = t2 % (PS_R * PS_R), plane = t2 / (PS_R * PS_R);
  const int i = sub / PS_R, j = sub - i * PS_R;
  const size_t from = ((size_t)plane * h * PS_R + (size_t)y * PS_R + i) * ((size_t)w * PS_R) + (size_t)x * PS_R + j;
  AT(dst)[e] = AT(src)[from];
}

/*
 * resample_resize_fwd_gpu: y = resize(x), one output element per work-item
 * e < total = planes * oh * ow, from the same table as resample_resize_fwd
 * (y0[oh], y1[oh], ly0[oh], ly1[oh], x0[ow], x1[ow], lx0[ow], lx1[ow]) and
 * the same arithmetic as resize_one (written out here: Oclgrind 21.10
 * cannot run the noalias scope that inlining its restrict pointers makes).
 * -D: DT, BILINEAR (nearest copies raw elements). NDRange (total, rounded up), local: any.
 */
__kernel void resample_resize_fwd_gpu(__global const FWD_T *restrict x_base, ulong x_off,
                                      __global FWD_T *restrict y_base, ulong y_off, __global const int *restrict tab,
                                      const int h, const int w, const int oh, const int ow, const int total) {
  if (get_global_id(0) >= (size_t)total) return;
  const int e = (int)get_global_id(0);
  const int ox = e % ow, t = e / ow, oy = t % oh, plane = t / oh;
  __global const FWD_T *in = AT(x) + (size_t)plane * h * w;
  __global const FWD_T *r0 = in + (size_t)tab[oy] * w;
  __global const int *cx = tab + 4 * oh;
#if BILINEAR
  __global const FWD_T *r1 = in + (size_t)tab[oh + oy] * w;
  const float ly0 = TAB_F(2 * oh + oy), ly1 = TAB_F(3 * oh + oy);
  const int u = cx[ox], v = cx[ow + ox];
  const float lx0 = as_float(cx[2 * ow + ox]), lx1 = as_float(cx[3 * ow + ox]);
  STORE1(ly0 * (LOAD1(r0, u) * lx0 + LOAD1(r0, v) * lx1) + ly1 * (LOAD1(r1, u) * lx0 + LOAD1(r1, v) * lx1), AT(y),
         e);
#else
  AT(y)[e] = r0[cx[ox]];
#endif
}

/*
 * resample_resize_bwd_gpu: dx = the gradient of resize for dy, one dx
 * element per work-item e < total = planes * h * w:
 *   dx[iy][ix] = sum over column entries k of ix, in order, of
 *                wx_k * (sum over row entries r of iy, in order, of wy_r * dy[row_r][col_k])
 * (nearest: every weight 1, not multiplied). Table (32-bit words): rs[h + 1]
 * (dx row i's entries are [rs[i], rs[i + 1])) and the row entries (dy row,
 * weight bits) in pairs; at cols_at, cs[w + 1] and the column entries
 * (dy column, weight bits) in pairs. Entries are in ascending dy order.
 * -D: DT, BILINEAR. NDRange (total, rounded up), local: any.
 */
__kernel void resample_resize_bwd_gpu(CTENSOR_DT(dy), TENSOR_DT(dx), __global const int *restrict tab, const int h,
                                      const int w, const int oh, const int ow, const int cols_at, const int total) {
  if (get_global_id(0) >= (size_t)total) return;
  const int e = (int)get_global_id(0);
  const int ix = e % w, t = e / w, iy = t % h, plane = t / h;
  __global const STORE_T *dyp = AT(dy) + (size_t)plane * oh * ow;
  __global const int *restrict re = tab + h + 1;
  __global const int *restrict cs = tab + cols_at;
  __global const int *restrict ce = cs + w + 1;
  const int r0 = tab[iy], r1 = tab[iy + 1];
  float acc = 0.0f;
  for (int k = cs[ix]; k < cs[ix + 1]; k++) {
    __global const STORE_T *col = dyp + ce[2 * k];
    float v = 0.0f;
    for (int r = r0; r < r1; r++) {
#if BILINEAR
      v += as_float(re[2 * r + 1]) * LOAD1(col, (size_t)re[2 * r] * ow);
#else
      v += LOAD1(col, (size_t)re[2 * r] * ow);
#endif
    }
#if BILINEAR
    acc += as_float(ce[2 * k + 1]) * v;
#else
    acc += v;
#endif
  }
  STORE1(acc, AT(dx), e);
}
