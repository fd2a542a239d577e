/*
 * conv/grouped_direct.cl - conv.fwd.grouped_direct: grouped convolution
 * with few channels per group, pixels along the vectors.
 */

/*
 * conv_grouped_direct: grouped convolution with few channels per group
 * (ResNeXt / RegNet: 4 to 16), between depthwise and dense:
 *   y[img, g*M + m, oy, ox] = act(b[g*M + m] + sum over c < Cg and taps (r, s) of
 *       w[g*M + m, c, r, s] * x[img, g*Cg + c, oy*SH - PH + r*DH, ox*SW - PW + s*DW])
 * The GEMM tiles (8 or 32 output channels) waste most of their rows when a
 * group has 4; here the pixels run along the vectors instead, as in
 * conv_dw_fwd, and all GD_M output channels of the group are computed at
 * once: a block of GD_R output rows x GD_NS 16-wide strips keeps
 * GD_R * GD_NS * GD_M float16 accumulators (24 at most), so every input
 * vector load feeds GD_M FMAs and every weight (a scalar broadcast)
 * GD_R * GD_NS of them.
 * One work-item per (band of output rows, image * group). The input rows of
 * the group's Cg channels go once into a local-memory window (win rows per
 * channel, a power of two): zero-padded by PW and split by column phase
 * modulo GD_SW as in conv_dww_prepare_row, so tap s of a strip is one
 * contiguous vector load, no bounds checks in the tap loops; tap rows
 * outside the image read a row of zeros. Only the data columns of a window
 * row are ever written: its padding stays zero from the start. Fixed
 * summation order (c, r, s): deterministic.
 * Weights: [G][Cg*KH*KW][GD_M] (conv_pack_blocks with MB = M).
 * -D: GD_M (output channels per group), GD_KH, GD_KW (taps, unrolled),
 *     GD_SW (stride_w), GD_NS, GD_R (the block), GD_LOCAL (floats of the
 *     window, a size class >= Cg*win*rowlen + rowlen), HAS_BIAS, ACT, ACT_ALPHA.
 * Args: rowlen = GD_SW * plen floats per window row (plen a multiple of 16
 *     covering every strip's reads), win, rows (output rows per band, a
 *     multiple of GD_R).
 * NDRange (ceil(Ho/rows), N*G), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_grouped_direct(
    CTENSOR(x), CTENSOR(w), CTENSOR(bias), TENSOR(y), const int C, const int H, const int W, const int K,
    const int G, const int Ho, const int Wo, const int SH, const int PH, const int PW, const int DH,
    const int DW, const int rowlen, const int win, const int rows) {
  __local float buf[GD_LOCAL];
  const int oy_begin = get_global_id(0) * rows, bi = get_global_id(1);
  if (oy_begin >= Ho) return;
  const int oy_end = min(oy_begin + rows, Ho);
  const int Cg = C / G, img = bi / G, g = bi % G, plen = rowlen / GD_SW, chan_len = win * rowlen;
  __global const float *X = AT(x) + ((size_t)img * C + (size_t)g * Cg) * H * W;
  __global float *Y = AT(y) + ((size_t)img * K + (size_t)g * GD_M) * Ho * Wo;
  __global const float *Wg = AT(w) + (size_t)g * Cg * GD_KH * GD_KW * GD_M;
  __local float *const zero_row = buf + Cg * chan_len;
  for (int j = 0; j < Cg * chan_len + rowlen; j += 16) vstore16((float16)(0.0f), 0, buf + j);
  int tap_at[GD_KW]; /* where tap s starts in a phase-split row */
  for (int s = 0; s < GD_KW; s++) tap_at[s] = ((s * DW) % GD_SW) * plen + (s * DW) / GD_SW;
  float bv[GD_M];
  for (int m = 0; m < GD_M; m++) bv[m] = HAS_BIAS ? AT(bias)[g * GD_M + m] : 0.0f;
  int next_iy = 0; /* the next input row to bring into the window */
  for (int oy = oy_begin; oy < oy_end; oy += GD_R) {
    const int iy_first = oy * SH - PH, iy_last = iy_first + (GD_R - 1) * SH + (GD_KH - 1) * DH;
    next_iy = max(next_iy, iy_first);
    for (; next_iy <= min(H - 1, iy_last); next_iy++) {
      __local float *dst = buf + (next_iy & (win - 1)) * rowlen;
      __global const float *src = X + (size_t)next_iy * W;
      for (int c = 0; c < Cg; c++, dst += chan_len, src += (size_t)H * W) {
#if GD_SW == 1
        int j = 0;
        for (; j + 16 <= W; j += 16) vstore16(vload16(0, src + j), 0, dst + PW + j);
        for (; j < W; j++) dst[PW + j] = src[j];
#else
        for (int j = 0; j < W; j++) {
          const int p = PW + j;
          dst[(p % GD_SW) * plen + p / GD_SW] = src[j];
        }
#endif
      }
    }
    /* Window offset of tap row r of block row q, or -1: outside the image. */
    int row_at[GD_R][GD_KH];
    for (int q = 0; q < GD_R; q++)
      for (int r = 0; r < GD_KH; r++) {
        const int iy = iy_first + q * SH + r * DH;
        row_at[q][r] = iy >= 0 && iy < H ? (iy & (win - 1)) * rowlen : -1;
      }
    for (int ox0 = 0; ox0 < Wo; ox0 += GD_NS * 16) {
      float16 acc[GD_R][GD_NS][GD_M];
#pragma unroll
      for (int q = 0; q < GD_R; q++)
#pragma unroll
        for (int j = 0; j < GD_NS; j++)
#pragma unroll
          for (int m = 0; m < GD_M; m++) acc[q][j][m] = (float16)(0.0f);
      __global const float *wp = Wg;
      for (int c = 0; c < Cg; c++) {
        __local const float *chan = buf + c * chan_len + ox0;
#pragma unroll
        for (int r = 0; r < GD_KH; r++) {
          __local const float *rp[GD_R];
#pragma unroll
          for (int q = 0; q < GD_R; q++) rp[q] = row_at[q][r] >= 0 ? chan + row_at[q][r] : zero_row;
#pragma unroll
          for (int s = 0; s < GD_KW; s++, wp += GD_M) {
            float16 xv[GD_R][GD_NS];
#pragma unroll
            for (int q = 0; q < GD_R; q++)
#pragma unroll
              for (int j = 0; j < GD_NS; j++) xv[q][j] = vload16(j, rp[q] + tap_at[s]);
#pragma unroll
            for (int m = 0; m < GD_M; m++) {
              const float16 wv = (float16)(wp[m]);
#pragma unroll
              for (int q = 0; q < GD_R; q++)
#pragma unroll
                for (int j = 0; j < GD_NS; j++) acc[q][j][m] = fma(xv[q][j], wv, acc[q][j][m]);
            }
          }
        }
      }
      for (int q = 0; q < GD_R; q++) {
        if (oy + q >= oy_end) break;
        __global float *yrow = Y + (size_t)(oy + q) * Wo + ox0;
#pragma unroll
        for (int m = 0; m < GD_M; m++)
#pragma unroll
          for (int j = 0; j < GD_NS; j++)
            conv_store16_upto(act_f16(acc[q][j][m] + bv[m]), yrow + (size_t)m * Ho * Wo + 16 * j,
                              Wo - ox0 - 16 * j);
      }
    }
  }
}
