/*
 * conv/depthwise_strips.cl - conv.*.depthwise_strips: depthwise
 * convolution in all three passes, 16-wide strips of output rows from a
 * private ring of rows.
 */

/*
 * The direct depthwise kernels (groups == C, K = C * mult): one program for
 * the forward and one for both backward kernels, per kernel size and stride:
 * -D: DWB_FWD (1: conv_dw_fwd, 0: conv_dw_bwd_data and conv_dw_bwd_weights),
 *     DWB_KH, DWB_KW, DWB_SH, DWB_SW (compile-time: the tap loops unroll, the
 *     column layout depends on SW, and row arithmetic divides by SH),
 *     DWB_ROWLEN (private row length, a multiple of 64 * SW), DWB_RING (rows
 *     of the private ring, a power of two), ACT, ACT_ALPHA (the epilogue of
 *     conv_dw_fwd and conv_dw_bwd_data).
 * The dilations and whether there is a bias are arguments, so problems that
 * differ only in those (or in sizes that round to the same buffers) share
 * the program.
 * DT (kernels/common.h, default float32): the storage type of x, w, bias,
 * dy, y and dx. Half rows are widened as they enter the private rows and
 * rings, the math is the float32 kernels' (same order), and y / dx are
 * rounded once on store; the weight gradient's sums stay float32 (out).
 */
#define DWB_TAPS (DWB_KH * DWB_KW)
#define DWB_AHEAD CLNN_CONV_DWB_AHEAD /* rows prepared ahead of use (the host sizes the ring for it) */

/*
 * conv_dw_bwd_data: dx of a depthwise convolution, any stride and dilation,
 * written as a gather:
 *   dx[c, iy, ix] = act(bias[c] + sum over m < mult and taps (r, s) of
 *                   dy[c*mult + m, oy, ox] * w[c*mult + m, r, s])
 * where iy = oy*SH - PH + r*DH and ix = ox*SW - PW + s*DW.
 * One work-item per dx plane walks its rows. Each dy row it needs is spread
 * once into a private, zero-filled ring row at stride SW ("zero insertion":
 * dy[ox] lands at off + ox*SW, off = (KW-1)*DW). Then, for every stride, 16
 * columns of dx are one contiguous vector load per tap, no bounds checks:
 *   dx[ix0 .. ix0+15] += ring[row][ix0 + PW + off - s*DW ..] * w[r][s],
 * four such strips at a time (independent FMA chains). Stride 2 instead
 * splits dx columns by parity (see below): half the FMAs.
 * With mult > 1 the channels m > 0 add to what m - 1 stored (fixed order).
 * NDRange (N * C), local (1).
 */
#if !DWB_FWD
/* Spread dy row src (Wo values) into ring row dst at stride DWB_SW (1 for
 * SW <= 2) from off. Everything else in the ring stays zero from the start:
 * no row writes anywhere else. */
inline void conv_dwb_prepare_row(float *dst, __global const STORE_T *src, const int Wo, const int off) {
#if DWB_SW <= 2
  int j = 0;
  for (; j + 16 <= Wo; j += 16) vstore16(LOADU16(src + j), 0, dst + off + j);
  for (; j < Wo; j++) dst[off + j] = LOAD1(src, j);
#else
  for (int ox = 0; ox < Wo; ox++) dst[off + ox * DWB_SW] = LOAD1(src, ox);
#endif
}

/* Interleave the even (e) and odd (o) columns of 32 dx columns: lanes 0-15 / 16-31. */
#define DWB_EVEN_ODD_LO (uint16)(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define DWB_EVEN_ODD_HI (uint16)(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dw_bwd_data(
    CTENSOR_DT(dy), CTENSOR_DT(w), CTENSOR_DT(bias), TENSOR_DT(dx), const int C, const int K, const int H,
    const int W, const int Ho, const int Wo, const int PH, const int PW, const int DH, const int DW,
    const int has_bias) {
  const int plane = get_global_id(0);
  const int c = plane % C, img = plane / C, mult = K / C;
#if DWB_SW == 2
  /* Stride 2: even and odd dx columns are computed apart, each a stride-1
   * correlation of the plain (zero-padded) dy row: no FMA on inserted
   * zeros. Tap s feeds the columns of parity (PW - s*DW) & 1, at dy offset
   * (PW - s*DW + parity) / 2; off leaves room for the most negative one. */
  const int off = ((DWB_KW - 1) * DW + 1) / 2;
  int tap_odd[DWB_KW], tap_at[DWB_KW];
  for (int s = 0; s < DWB_KW; s++) {
    const int e = PW - s * DW;
    tap_odd[s] = e & 1;
    tap_at[s] = off + (e + tap_odd[s]) / 2;
  }
#else
  const int off = (DWB_KW - 1) * DW;
#endif
  __global STORE_T *out = AT(dx) + (size_t)plane * H * W;
  float ring[DWB_RING * DWB_ROWLEN];
  conv_zero_private(ring, DWB_RING * DWB_ROWLEN);
  const float bv = has_bias ? LOAD1(AT(bias), c) : 0.0f;
  for (int m = 0; m < mult; m++) {
    const int ko = c * mult + m;
    __global const STORE_T *src = AT(dy) + ((size_t)img * K + ko) * Ho * Wo;
    float wv[DWB_TAPS];
    for (int i = 0; i < DWB_TAPS; i++) wv[i] = LOAD1(AT(w), ko * DWB_TAPS + i);
    int next_oy = 0; /* the next dy row to bring into the ring */
    for (int iy = 0; iy < H; iy++) {
      /* Tap row r reaches dy row (iy + PH - r*DH) / SH when that divides.
       * Rows are prepared DWB_AHEAD rows before they are needed: vector
       * loads right after the scattered stores that wrote them would stall
       * on store forwarding. */
      const int newest = min(Ho - 1, (iy + PH) / DWB_SH + DWB_AHEAD);
      for (; next_oy <= newest; next_oy++)
        conv_dwb_prepare_row(ring + (next_oy & (DWB_RING - 1)) * DWB_ROWLEN, src + (size_t)next_oy * Wo, Wo, off);
      int row_at[DWB_KH];
      for (int r = 0; r < DWB_KH; r++) {
        const int t = iy + PH - r * DH, oy = t / DWB_SH;
        row_at[r] = (t >= 0 && oy * DWB_SH == t && oy < Ho) ? (oy & (DWB_RING - 1)) * DWB_ROWLEN : -1;
      }
      __global STORE_T *orow = out + (size_t)iy * W;
      /* 64 columns (four independent FMA chains) per block: one chain per
       * strip would wait on the FMA latency. */
      for (int ix0 = 0; ix0 < W; ix0 += 64) {
        float16 acc[4];
#if DWB_SW == 2
        float16 e0 = (float16)(0.0f), e1 = e0, o0 = e0, o1 = e0;
#pragma unroll
        for (int r = 0; r < DWB_KH; r++) {
          if (row_at[r] < 0) continue;
          const float *row = ring + row_at[r] + ix0 / 2;
#pragma unroll
          for (int s = 0; s < DWB_KW; s++) {
            const float16 wsv = (float16)(wv[r * DWB_KW + s]);
            const float *rs = row + tap_at[s];
            if (tap_odd[s]) {
              o0 = fma(vload16(0, rs), wsv, o0);
              o1 = fma(vload16(1, rs), wsv, o1);
            } else {
              e0 = fma(vload16(0, rs), wsv, e0);
              e1 = fma(vload16(1, rs), wsv, e1);
            }
          }
        }
        acc[0] = shuffle2(e0, o0, DWB_EVEN_ODD_LO);
        acc[1] = shuffle2(e0, o0, DWB_EVEN_ODD_HI);
        acc[2] = shuffle2(e1, o1, DWB_EVEN_ODD_LO);
        acc[3] = shuffle2(e1, o1, DWB_EVEN_ODD_HI);
#else
        for (int q = 0; q < 4; q++) acc[q] = (float16)(0.0f);
#pragma unroll
        for (int r = 0; r < DWB_KH; r++) {
          if (row_at[r] < 0) continue;
          const float *row = ring + row_at[r] + PW + off + ix0;
#pragma unroll
          for (int s = 0; s < DWB_KW; s++) {
            const float16 wsv = (float16)(wv[r * DWB_KW + s]);
            const float *rs = row - s * DW;
            acc[0] = fma(vload16(0, rs), wsv, acc[0]);
            acc[1] = fma(vload16(1, rs), wsv, acc[1]);
            acc[2] = fma(vload16(2, rs), wsv, acc[2]);
            acc[3] = fma(vload16(3, rs), wsv, acc[3]);
          }
        }
#endif
        for (int q = 0; q < 4; q++) {
          float16 v = acc[q];
          /* (a half dx would be rounded here between channels: the
           * variant table stages half problems with mult > 1) */
          if (m > 0) v += conv_load16_upto(orow + ix0 + 16 * q, W - ix0 - 16 * q);
          if (m == mult - 1) v = act_f16(v + bv);
          conv_store16_upto(v, orow + ix0 + 16 * q, W - ix0 - 16 * q);
        }
      }
    }
  }
}

#endif

/*
 * Input rows of conv_dw_fwd and conv_dw_bwd_weights are kept zero-padded
 * and split by column phase modulo SW, so that tap s of a 16-wide strip of
 * output columns reads one contiguous vector:
 *   x[.., ox*SW + s*DW - PW] = phase[(s*DW) % SW][ox + (s*DW) / SW]
 * (for stride 1 the single phase is the padded row itself).
 */
#define DWB_PLEN (DWB_ROWLEN / DWB_SW)
/* Load input row src (W values) zero-padded by PW on the left, split by
 * phase: the first nj (a multiple of 16, <= DWB_PLEN) elements of each
 * phase, all the tap loops read; lanes past them only feed discarded
 * output lanes. Only the data columns are written: the padding of ph (one
 * phase) or of lin (the row before the split, kept by the caller) is zero
 * from the start and stays so. */
inline void conv_dww_prepare_row(float *ph, float *lin, __global const STORE_T *src, const int W, const int PW,
                                 const int nj) {
#if DWB_SW == 1
  float *dst = ph;
#else
  float *dst = lin;
#endif
  const int n = min(W, nj * DWB_SW - PW);
  int j = 0;
  for (; j + 16 <= n; j += 16) vstore16(LOADU16(src + j), 0, dst + PW + j);
  for (; j < n; j++) dst[PW + j] = LOAD1(src, j);
#if DWB_SW == 2
  for (j = 0; j < nj; j += 16) {
    const float16 a = vload16(0, lin + 2 * j), b = vload16(1, lin + 2 * j);
    vstore16((float16)(a.even, b.even), 0, ph + j);
    vstore16((float16)(a.odd, b.odd), 0, ph + DWB_PLEN + j);
  }
#elif DWB_SW > 2
  for (j = 0; j < nj; j++)
    for (int f = 0; f < DWB_SW; f++) ph[f * DWB_PLEN + j] = lin[j * DWB_SW + f];
#endif
}

#if DWB_FWD
/*
 * conv_dw_fwd: the forward depthwise convolution, one work-item per output
 * plane (image, ko):
 *   y[ko, oy, ox] = act(b[ko] + sum over (r, s) of
 *                   w[ko, r, s] * x[ko/mult, oy*SH - PH + r*DH, ox*SW - PW + s*DW])
 * Input rows go once into the private ring (conv_dww_prepare_row:
 * zero-padded, split by column phase), prepared ahead of use. Four 16-wide
 * strips are computed at a time, four independent FMA chains: 64 columns of
 * one output row, or for rows of at most 32 columns, 32 columns of two rows.
 * Tap rows outside the image read a row of zeros: no branches per strip.
 * NDRange (N * K), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dw_fwd(
    CTENSOR_DT(x), CTENSOR_DT(w), CTENSOR_DT(bias), TENSOR_DT(y), const int C, const int K, const int H, const int W,
    const int Ho, const int Wo, const int PH, const int PW, const int DH, const int DW, const int has_bias) {
  const int plane = get_global_id(0);
  const int ko = plane % K, img = plane / K, ci = ko / (K / C);
  __global const STORE_T *xp = AT(x) + ((size_t)img * C + ci) * H * W;
  __global STORE_T *out = AT(y) + (size_t)plane * Ho * Wo;
  float wv[DWB_TAPS];
  for (int i = 0; i < DWB_TAPS; i++) wv[i] = LOAD1(AT(w), ko * DWB_TAPS + i);
  const float bv = has_bias ? LOAD1(AT(bias), ko) : 0.0f;
  float ring[(DWB_RING + 1) * DWB_ROWLEN], lin[DWB_ROWLEN]; /* the last ring row stays zero */
  float *const zero_row = ring + DWB_RING * DWB_ROWLEN;
  conv_zero_private(ring, (DWB_RING + 1) * DWB_ROWLEN);
  conv_zero_private(lin, DWB_ROWLEN);
  int tap_at[DWB_KW]; /* where tap s starts in a phase-split row */
  for (int s = 0; s < DWB_KW; s++) tap_at[s] = ((s * DW) % DWB_SW) * DWB_PLEN + (s * DW) / DWB_SW;
  const bool two_rows = Wo <= 32;
  const int rows_per_pass = two_rows ? 2 : 1, cols_per_pass = two_rows ? 32 : 64;
  /* phase elements the tap loops read */
  const int nj = min(DWB_PLEN, (((Wo + cols_per_pass - 1) / cols_per_pass * cols_per_pass +
                                  ((DWB_KW - 1) * DW) / DWB_SW) + 15) & ~15);
  int next_iy = 0; /* the next input row to bring into the ring */
  for (int oy = 0; oy < Ho; oy += rows_per_pass) {
    const int iy_first = oy * DWB_SH - PH;
    const int iy_last = iy_first + (rows_per_pass - 1) * DWB_SH + (DWB_KH - 1) * DH;
    next_iy = max(next_iy, iy_first);
    for (; next_iy <= min(H - 1, iy_last + DWB_AHEAD); next_iy++)
      conv_dww_prepare_row(ring + (next_iy & (DWB_RING - 1)) * DWB_ROWLEN, lin, xp + (size_t)next_iy * W, W, PW, nj);
    /* Strip q: output row oy + q_row, columns from q_col; its tap rows. */
    int q_row[4], q_col[4];
    const float *tap_row[4][DWB_KH];
    for (int q = 0; q < 4; q++) {
      q_row[q] = two_rows ? q >> 1 : 0;
      q_col[q] = two_rows ? (q & 1) * 16 : q * 16;
      for (int r = 0; r < DWB_KH; r++) {
        const int iy = iy_first + q_row[q] * DWB_SH + r * DH;
        const bool in = iy >= 0 && iy < H && oy + q_row[q] < Ho;
        tap_row[q][r] = (in ? ring + (iy & (DWB_RING - 1)) * DWB_ROWLEN : zero_row) + q_col[q];
      }
    }
    for (int ox0 = 0; ox0 < Wo; ox0 += cols_per_pass) {
      float16 acc0 = (float16)(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
#pragma unroll
      for (int r = 0; r < DWB_KH; r++) {
        const float *r0 = tap_row[0][r] + ox0, *r1 = tap_row[1][r] + ox0;
        const float *r2 = tap_row[2][r] + ox0, *r3 = tap_row[3][r] + ox0;
#pragma unroll
        for (int s = 0; s < DWB_KW; s++) {
          const float16 wsv = (float16)(wv[r * DWB_KW + s]);
          const int t = tap_at[s];
          acc0 = fma(vload16(0, r0 + t), wsv, acc0);
          acc1 = fma(vload16(0, r1 + t), wsv, acc1);
          acc2 = fma(vload16(0, r2 + t), wsv, acc2);
          acc3 = fma(vload16(0, r3 + t), wsv, acc3);
        }
      }
      const float16 acc[4] = {acc0, acc1, acc2, acc3};
      for (int q = 0; q < 4; q++)
        if (oy + q_row[q] < Ho)
          conv_store16_upto(act_f16(acc[q] + bv), out + (size_t)(oy + q_row[q]) * Wo + ox0 + q_col[q],
                            Wo - ox0 - q_col[q]);
    }
  }
}

#endif

#if !DWB_FWD
/*
 * conv_dw_bwd_weights: dw of a depthwise convolution, one work-item per
 * (output channel ko, part of the batch):
 *   out[ko, r, s] (+)= sum over the part's images and the output pixels of
 *                     dy[img, ko, oy, ox] * x[img, ko/mult, oy*SH - PH + r*DH, ox*SW - PW + s*DW]
 * Each input row is loaded once per image into a private ring (zero-padded,
 * split by phase, prepared ahead of use: no bounds checks in the tap loops).
 * Every tap keeps 16 lane sums over rows, strips and images in order; the
 * lanes are added in a fixed tree at the end. Deterministic.
 * Args: nstrip = ceil(Wo / 16); img_per_part images per part; out (float32)
 * is dw itself (accumulate 0 or 1) or, with several parts or a half dw,
 * partial sums [part][K][KH*KW] (accumulate 0) that conv_sum_parts adds.
 * NDRange (K, parts), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dw_bwd_weights(
    CTENSOR_DT(x), CTENSOR_DT(dy), TENSOR(out), const int N, const int C, const int K, const int H,
    const int W, const int Ho, const int Wo, const int PH, const int PW, const int DH, const int DW,
    const int nstrip, const int img_per_part, const int accumulate) {
  const int ko = get_global_id(0), part = get_global_id(1);
  if (ko >= K) return;
  const int ci = ko / (K / C);
  float16 acc[DWB_TAPS];
  for (int t = 0; t < DWB_TAPS; t++) acc[t] = (float16)(0.0f);
  float ring[DWB_RING * DWB_ROWLEN], lin[DWB_ROWLEN];
  conv_zero_private(ring, DWB_RING * DWB_ROWLEN);
  conv_zero_private(lin, DWB_ROWLEN);
  float dyrow[DWB_PLEN];
  const int nj = min(DWB_PLEN, (nstrip * 16 + ((DWB_KW - 1) * DW) / DWB_SW + 15) & ~15);
  int tap_at[DWB_KW]; /* where tap s starts in a phase-split row */
  for (int s = 0; s < DWB_KW; s++) tap_at[s] = ((s * DW) % DWB_SW) * DWB_PLEN + (s * DW) / DWB_SW;
  const int img_end = min(N, (part + 1) * img_per_part);
  for (int img = part * img_per_part; img < img_end; img++) {
    __global const STORE_T *xp = AT(x) + ((size_t)img * C + ci) * H * W;
    __global const STORE_T *dp = AT(dy) + ((size_t)img * K + ko) * Ho * Wo;
    int next_iy = 0; /* the next input row to bring into the ring */
    for (int oy = 0; oy < Ho; oy++) {
      const int iy0 = oy * DWB_SH - PH;
      next_iy = max(next_iy, iy0);
      for (; next_iy <= min(H - 1, iy0 + (DWB_KH - 1) * DH + DWB_AHEAD); next_iy++)
        conv_dww_prepare_row(ring + (next_iy & (DWB_RING - 1)) * DWB_ROWLEN, lin, xp + (size_t)next_iy * W, W, PW, nj);
      __global const STORE_T *drow = dp + (size_t)oy * Wo;
      int j = 0;
      for (; j + 16 <= Wo; j += 16) vstore16(LOADU16(drow + j), 0, dyrow + j);
      for (; j < Wo; j++) dyrow[j] = LOAD1(drow, j);
      for (; j < nstrip * 16; j++) dyrow[j] = 0.0f;
#pragma unroll
      for (int r = 0; r < DWB_KH; r++) {
        const int iy = iy0 + r * DH;
        if (iy < 0 || iy >= H) continue;
        const float *row = ring + (iy & (DWB_RING - 1)) * DWB_ROWLEN;
        for (int st = 0; st < nstrip; st++) {
          const float16 d = vload16(st, dyrow);
#pragma unroll
          for (int s = 0; s < DWB_KW; s++)
            acc[r * DWB_KW + s] = fma(d, vload16(0, row + tap_at[s] + st * 16), acc[r * DWB_KW + s]);
        }
      }
    }
  }
  __global float *o = AT(out) + ((size_t)part * K + ko) * DWB_TAPS;
  for (int t = 0; t < DWB_TAPS; t++) o[t] = (accumulate ? o[t] : 0.0f) + conv_hsum16(acc[t]);
}
#endif
