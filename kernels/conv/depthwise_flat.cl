/*
 * conv/depthwise_flat.cl - conv.*.depthwise_flat: depthwise convolution in
 * all three passes for small planes, several images' padded planes as one
 * flat array.
 */

/*
 * The flat depthwise kernels, for small planes (groups == C, K = C * mult):
 * -D: DWF_KH, DWF_KW (the tap loops unroll), DWF_SH, DWF_SW (the phase
 *     layout of conv_dwf_fwd and conv_dwf_bwd_weights, the zero insertion
 *     of conv_dwf_bwd_data), DWF_BUF (floats of each private buffer, a size
 *     class), DWF_DH, DWF_DW (dilation), ACT, ACT_ALPHA (the epilogue of
 *     conv_dwf_fwd and conv_dwf_bwd_data). Sizes are arguments.
 * DT (kernels/common.h, default float32): the storage type of x, w, bias,
 * dy, y and dx. Half planes are widened as they enter the private
 * buffers, the math is the float32 kernels' (same order), and y / dx are
 * rounded once on store; the weight gradient's sums stay float32 (out).
 *
 * A zero-padded plane of row stride Ws is one flat array: output pixel
 * (oy, ox) is flat position q = oy*Ws + ox, and tap (r, s) of every pixel is
 * the same shift of q, so 16 consecutive positions take one vector load per
 * tap whatever the plane's width (the strip kernels above compute 64-column
 * rows, 16x the work on a 4x4 plane). Columns ox >= Wo of the flat grid are
 * computed and dropped. The planes of G images follow each other in the
 * buffer (image i at i * plane), so tiny planes still fill the vectors; the
 * padding rows keep every tap of a valid position inside its own image.
 * Stride SH x SW splits the padded input into SH*SW phase planes: phase
 * (py % SH, px % SW) holds x_pad[py][px] at (py / SH, px / SW), at
 * buf[phase * PHS + i * plane ...], and tap (r, s) of output (oy, ox) is
 * phase ((r*DH) % SH, (s*DW) % SW) at (oy + r*DH / SH, ox + s*DW / SW):
 * again one shift of q = oy*Ws + ox. Only data positions are ever written,
 * so the padding stays zero from the one clearing at the start.
 * The host (clnn__conv_dwf_geometry) sizes everything: plane = Hs * Ws, nq
 * (the positions computed, a multiple of 64) >= G * plane, PHS >= nq plus
 * the largest tap shift.
 */
#define DWF_TAPS (DWF_KH * DWF_KW)
#define DWF_NPH (DWF_SH * DWF_SW)

/* Copy n floats in vector pieces (16, 8, 4, 2, 1): the planes' rows are
 * short (4 to 28 floats), where an element loop costs a load and a store
 * per float. Half tensors (DT, conv/common.h) are widened on the way in
 * and rounded once on the way out, 16 at a time (their rows start at any
 * 2-byte offset, which the narrower vector pieces would need aligned). */
inline void conv_dwf_copy_in(float *dst, __global const STORE_T *src, const int n) {
  int j = 0;
#if DT == CLNN_DTYPE_CODE_FLOAT32
  for (; j + 16 <= n; j += 16) vstore16(vload16(0, src + j), 0, dst + j);
  if (n - j >= 8) vstore8(vload8(0, src + j), 0, dst + j), j += 8;
  if (n - j >= 4) vstore4(vload4(0, src + j), 0, dst + j), j += 4;
  if (n - j >= 2) vstore2(vload2(0, src + j), 0, dst + j), j += 2;
  if (n - j >= 1) dst[j] = src[j];
#else
  for (; j + 16 <= n; j += 16) vstore16(LOADU16(src + j), 0, dst + j);
  for (; j < n; j++) dst[j] = LOAD1(src, j);
#endif
}
inline void conv_dwf_copy_out(__global STORE_T *dst, const float *src, const int n) {
  int j = 0;
#if DT == CLNN_DTYPE_CODE_FLOAT32
  for (; j + 16 <= n; j += 16) vstore16(vload16(0, src + j), 0, dst + j);
  if (n - j >= 8) vstore8(vload8(0, src + j), 0, dst + j), j += 8;
  if (n - j >= 4) vstore4(vload4(0, src + j), 0, dst + j), j += 4;
  if (n - j >= 2) vstore2(vload2(0, src + j), 0, dst + j), j += 2;
  if (n - j >= 1) dst[j] = src[j];
#else
  for (; j + 16 <= n; j += 16) conv_half_store_upto(conv_half_round16(vload16(0, src + j)), dst + j, 16);
  if (j < n) {
    float t[16]; /* the last piece, zeros after: no read past the private buffer */
    for (int l = 0; l < 16; l++) t[l] = l < n - j ? src[j + l] : 0.0f;
    conv_half_store_upto(conv_half_round16(vload16(0, t)), dst + j, n - j);
  }
#endif
}
inline void conv_dwf_copy(float *dst, const float *src, const int n) {
  int j = 0;
  for (; j + 16 <= n; j += 16) vstore16(vload16(0, src + j), 0, dst + j);
  if (n - j >= 8) vstore8(vload8(0, src + j), 0, dst + j), j += 8;
  if (n - j >= 4) vstore4(vload4(0, src + j), 0, dst + j), j += 4;
  if (n - j >= 2) vstore2(vload2(0, src + j), 0, dst + j), j += 2;
  if (n - j >= 1) dst[j] = src[j];
}

/* Lanes of shuffle2(a, b, .) that interleave a and b: a0 b0 a1 b1 ... */
#define DWF_ZIP_LO (uint16)(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define DWF_ZIP_HI (uint16)(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

/* Longest padded row the stride-2 fill splits with vector shuffles. */
#define DWF_LIN 64

/*
 * Copy nimg images' planes (H x W, img_stride apart from src) into buf,
 * zero-padded by (PH, PW) and split by phase. Stride 1: row copies.
 * Stride 2 in x, padded rows of at most DWF_LIN: the row goes into lin
 * (zero-padded, kept by the caller, zero from the start) and is split into
 * even and odd columns with shuffles. Otherwise element by element.
 */
inline void conv_dwf_fill(float *buf, float *lin, __global const STORE_T *src, const ulong img_stride, const int nimg,
                          const int H, const int W, const int PH, const int PW, const int Ws, const int plane,
                          const int PHS) {
  for (int i = 0; i < nimg; i++) {
    __global const STORE_T *xp = src + i * img_stride;
    for (int iy = 0; iy < H; iy++) {
      __global const STORE_T *row = xp + iy * W;
      const int py = iy + PH;
      float *dst = buf + (py % DWF_SH) * DWF_SW * PHS + i * plane + (py / DWF_SH) * Ws;
#if DWF_SW == 1
      conv_dwf_copy_in(dst + PW, row, W);
#else
#if DWF_SW == 2
      if (W + PW <= DWF_LIN) {
        conv_dwf_copy_in(lin + PW, row, W);
        for (int j = 0; 2 * j < W + PW; j += 16) {
          const float16 a = vload16(0, lin + 2 * j), b = vload16(1, lin + 2 * j);
          const float16 ev = (float16)(a.even, b.even), od = (float16)(a.odd, b.odd);
          float t[32];
          vstore16(ev, 0, t);
          vstore16(od, 0, t + 16);
          const int n = min(16, Ws - j);
          conv_dwf_copy(dst + j, t, n);
          conv_dwf_copy(dst + PHS + j, t + 16, n);
        }
        continue;
      }
#endif
      for (int ix = 0; ix < W; ix++) {
        const int px = ix + PW;
        dst[(px % DWF_SW) * PHS + px / DWF_SW] = LOAD1(row, ix);
      }
#endif
    }
  }
}

/*
 * The tap loops address the buffer with one pointer per tap row r (and,
 * for stride 2 in x, a second one a phase further); the column shifts are
 * then compile-time constants folded into the loads: runtime offsets per
 * tap (25 for 5x5) would not fit in registers and be reloaded per FMA.
 * Tap (r, s): phase row (r*DH) % SH at row (r*DH) / SH, phase column
 * (s*DW) % SW at column (s*DW) / SW.
 */
#define DWF_COL_PHASE(s) (((s)*DWF_DW) % DWF_SW)
#define DWF_COL(s) (((s)*DWF_DW) / DWF_SW)

/* Where tap row r (phase column 0) starts in the phase-split buffer. */
inline int conv_dwf_row(const int r, const int Ws, const int PHS) {
  return ((r * DWF_DH) % DWF_SH) * DWF_SW * PHS + ((r * DWF_DH) / DWF_SH) * Ws;
}

/* a0..a3 (64 positions) = sum over taps of wv[t] * the tap's 64 values from
 * position q: four independent FMA chains. rows[r]: conv_dwf_row of row r
 * (or, in bwd_data, r*DH*Wb with SW = 1). */
#define DWF_BLOCK64(buf, q, rows, PHS, wv, a0, a1, a2, a3)                   \
  do {                                                                       \
    a0 = a1 = a2 = a3 = (float16)(0.0f);                                     \
    _Pragma("unroll") for (int r = 0; r < DWF_KH; r++) {                     \
      const float *row_ = (buf) + (rows)[r] + (q);                           \
      _Pragma("unroll") for (int s = 0; s < DWF_KW; s++) {                   \
        const float16 wt_ = (float16)((wv)[r * DWF_KW + s]);                 \
        const float *pt_ = row_ + DWF_COL_PHASE(s) * (PHS) + DWF_COL(s);     \
        a0 = fma(vload16(0, pt_), wt_, a0);                                  \
        a1 = fma(vload16(1, pt_), wt_, a1);                                  \
        a2 = fma(vload16(2, pt_), wt_, a2);                                  \
        a3 = fma(vload16(3, pt_), wt_, a3);                                  \
      }                                                                      \
    }                                                                        \
  } while (0)

/*
 * conv_dwf_fwd: y[img, ko] = act(b[ko] + depthwise conv of x[img, ko/mult]),
 * for the G images from get_global_id(1) * G.
 * Args: G, Hs, Ws (one image's phase plane), PHS, nq (see above).
 * NDRange (K, ceil(N / G)), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dwf_fwd(
    CTENSOR_DT(x), CTENSOR_DT(w), CTENSOR_DT(bias), TENSOR_DT(y), const int N, const int C, const int K, const int H,
    const int W, const int Ho, const int Wo, const int PH, const int PW, const int G, const int Hs, const int Ws,
    const int PHS, const int nq, const int has_bias) {
  const int ko = get_global_id(0), img0 = get_global_id(1) * G;
  if (ko >= K || img0 >= N) return;
  const int ci = ko / (K / C), nimg = min(G, N - img0), plane = Hs * Ws;
  float buf[DWF_BUF], out[DWF_BUF], lin[DWF_LIN];
  conv_zero_private(buf, DWF_NPH * PHS);
  conv_zero_private(lin, DWF_LIN);
  conv_dwf_fill(buf, lin, AT(x) + ((size_t)img0 * C + ci) * H * W, (ulong)C * H * W, nimg, H, W, PH, PW, Ws,
                plane, PHS);
  float wv[DWF_TAPS];
  for (int t = 0; t < DWF_TAPS; t++) wv[t] = LOAD1(AT(w), ko * DWF_TAPS + t);
  int rows[DWF_KH];
  for (int r = 0; r < DWF_KH; r++) rows[r] = conv_dwf_row(r, Ws, PHS);
  const float bv = has_bias ? LOAD1(AT(bias), ko) : 0.0f;
  for (int q = 0; q < nq; q += 64) {
    float16 a0, a1, a2, a3;
    DWF_BLOCK64(buf, q, rows, PHS, wv, a0, a1, a2, a3);
    vstore16(act_f16(a0 + bv), 0, out + q);
    vstore16(act_f16(a1 + bv), 0, out + q + 16);
    vstore16(act_f16(a2 + bv), 0, out + q + 32);
    vstore16(act_f16(a3 + bv), 0, out + q + 48);
  }
  for (int i = 0; i < nimg; i++)
    for (int oy = 0; oy < Ho; oy++)
      conv_dwf_copy_out(AT(y) + (((size_t)(img0 + i) * K + ko) * Ho + oy) * Wo, out + i * plane + oy * Ws, Wo);
}

/*
 * conv_dwf_bwd_data: dx[img, c] = act(bias[c] + sum over m < mult of the
 * transposed depthwise conv of dy[img, c*mult + m]), for G images.
 * dy is zero-inserted (stride SH x SW) into planes of Hb x Wb, Hb = H +
 * (KH-1)*DH, Wb = W + (KW-1)*DW, at (PT + oy*SH, PL + ox*SW) with
 * PT = (KH-1)*DH - PH >= 0, PL = (KW-1)*DW - PW >= 0; then
 *   dx[iy][ix] = sum over (r, s) of w[KH-1-r][KW-1-s] * buf[iy + r*DH][ix + s*DW]
 * is a stride-1 correlation over flat positions q = iy*Wb + ix.
 * Args: G, Hb, Wb, ext (floats of buf to clear), nq.
 * NDRange (C, ceil(N / G)), local (1, 1).
 */
#undef DWF_COL_PHASE
#undef DWF_COL
#define DWF_COL_PHASE(s) 0
#define DWF_COL(s) ((s)*DWF_DW)
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dwf_bwd_data(
    CTENSOR_DT(dy), CTENSOR_DT(w), CTENSOR_DT(bias), TENSOR_DT(dx), const int N, const int C, const int K, const int H,
    const int W, const int Ho, const int Wo, const int PT, const int PL, const int G, const int Hb, const int Wb,
    const int ext, const int nq, const int has_bias) {
  const int c = get_global_id(0), img0 = get_global_id(1) * G;
  if (c >= C || img0 >= N) return;
  const int mult = K / C, nimg = min(G, N - img0), plane = Hb * Wb;
  float buf[DWF_BUF], out[DWF_BUF];
  conv_zero_private(buf, ext);
  int rows[DWF_KH];
  for (int r = 0; r < DWF_KH; r++) rows[r] = r * DWF_DH * Wb;
  const float bv = has_bias ? LOAD1(AT(bias), c) : 0.0f;
  for (int m = 0; m < mult; m++) {
    const int ko = c * mult + m;
    for (int i = 0; i < nimg; i++)
      for (int oy = 0; oy < Ho; oy++) {
        __global const STORE_T *src = AT(dy) + (((size_t)(img0 + i) * K + ko) * Ho + oy) * Wo;
        float *dst = buf + i * plane + (PT + oy * DWF_SH) * Wb + PL;
#if DWF_SW == 1
        conv_dwf_copy_in(dst, src, Wo);
#elif DWF_SW == 2
        /* 16 dy values interleaved with zeros: 31 positions (the zeros
         * between data columns are rewritten as zeros) */
        for (int ox = 0; ox < Wo; ox += 16) {
          float t[32];
          const int n = min(16, Wo - ox);
          conv_zero_private(t, 32);
          conv_dwf_copy_in(t, src + ox, n);
          const float16 v = vload16(0, t), z = (float16)(0.0f);
          vstore16(shuffle2(v, z, DWF_ZIP_LO), 0, t);
          vstore16(shuffle2(v, z, DWF_ZIP_HI), 0, t + 16);
          conv_dwf_copy(dst + 2 * ox, t, 2 * n - 1);
        }
#else
        for (int ox = 0; ox < Wo; ox++) dst[ox * DWF_SW] = LOAD1(src, ox);
#endif
      }
    float wv[DWF_TAPS]; /* flipped in both directions */
    for (int t = 0; t < DWF_TAPS; t++) wv[t] = LOAD1(AT(w), ko * DWF_TAPS + DWF_TAPS - 1 - t);
    for (int q = 0; q < nq; q += 64) {
      float16 a[4];
      DWF_BLOCK64(buf, q, rows, 0, wv, a[0], a[1], a[2], a[3]);
      for (int j = 0; j < 4; j++) {
        float16 v = a[j];
        if (m > 0) v += vload16(0, out + q + 16 * j);
        if (m == mult - 1) v = act_f16(v + bv);
        vstore16(v, 0, out + q + 16 * j);
      }
    }
  }
  for (int i = 0; i < nimg; i++)
    for (int iy = 0; iy < H; iy++)
      conv_dwf_copy_out(AT(dx) + (((size_t)(img0 + i) * C + c) * H + iy) * W, out + i * plane + iy * Wb, W);
}
#undef DWF_COL_PHASE
#undef DWF_COL
#define DWF_COL_PHASE(s) (((s)*DWF_DW) % DWF_SW)
#define DWF_COL(s) (((s)*DWF_DW) / DWF_SW)

/*
 * conv_dwf_bwd_weights: dw of a depthwise convolution, one work-item per
 * (output channel ko, part of the batch):
 *   out[ko, r, s] (+)= sum over the part's images and output pixels of
 *                     dy[img, ko, oy, ox] * x_pad[img, ko/mult, oy*SH + r*DH, ox*SW + s*DW]
 * The part's images go through the buffers G at a time: x phase-split as
 * in conv_dwf_fwd, dy at the flat positions q = i * plane + oy*Ws + ox of
 * its outputs (zero elsewhere, so dropped columns add nothing). Every tap
 * keeps 16 lane sums over positions and images in order; the lanes are
 * added in a fixed tree at the end. Deterministic.
 * Args: G, Hs, Ws, PHS, nq as conv_dwf_fwd; img_per_part (a multiple of G);
 * out (float32) is dw itself (accumulate 0 or 1) or, with several parts or
 * a half dw, partial sums [part][K][KH*KW] (accumulate 0) that
 * conv_sum_parts adds.
 * NDRange (K, parts), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dwf_bwd_weights(
    CTENSOR_DT(x), CTENSOR_DT(dy), TENSOR(out), const int N, const int C, const int K, const int H, const int W,
    const int Ho, const int Wo, const int PH, const int PW, const int G, const int Hs, const int Ws, const int PHS,
    const int nq, const int img_per_part, const int accumulate) {
  const int ko = get_global_id(0), part = get_global_id(1);
  if (ko >= K) return;
  const int ci = ko / (K / C), plane = Hs * Ws;
  float buf[DWF_BUF], d[DWF_BUF], lin[DWF_LIN];
  conv_zero_private(buf, DWF_NPH * PHS);
  conv_zero_private(lin, DWF_LIN);
  conv_zero_private(d, nq);
  int rows[DWF_KH];
  for (int r = 0; r < DWF_KH; r++) rows[r] = conv_dwf_row(r, Ws, PHS);
  float16 acc[DWF_TAPS];
  for (int t = 0; t < DWF_TAPS; t++) acc[t] = (float16)(0.0f);
  const int img_end = min(N, (part + 1) * img_per_part);
  for (int img0 = part * img_per_part; img0 < img_end; img0 += G) {
    const int nimg = min(G, img_end - img0);
    conv_dwf_fill(buf, lin, AT(x) + ((size_t)img0 * C + ci) * H * W, (ulong)C * H * W, nimg, H, W, PH, PW, Ws,
                  plane, PHS);
    for (int i = 0; i < nimg; i++)
      for (int oy = 0; oy < Ho; oy++)
        conv_dwf_copy_in(d + i * plane + oy * Ws, AT(dy) + (((size_t)(img0 + i) * K + ko) * Ho + oy) * Wo, Wo);
    if (nimg < G) /* the last group of the part: no stale dy */
      for (int j = nimg * plane; j < nq; j++) d[j] = 0.0f;
    for (int q = 0; q < nq; q += 16) {
      const float16 dv = vload16(0, d + q);
#pragma unroll
      for (int r = 0; r < DWF_KH; r++) {
        const float *row = buf + rows[r] + q;
#pragma unroll
        for (int s = 0; s < DWF_KW; s++)
          acc[r * DWF_KW + s] =
              fma(dv, vload16(0, row + DWF_COL_PHASE(s) * PHS + DWF_COL(s)), acc[r * DWF_KW + s]);
      }
    }
  }
  __global float *o = AT(out) + ((size_t)part * K + ko) * DWF_TAPS;
  for (int t = 0; t < DWF_TAPS; t++) o[t] = (accumulate ? o[t] : 0.0f) + conv_hsum16(acc[t]);
}
