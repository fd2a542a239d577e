/*
 * conv/packed_gemm.cl - conv.fwd.implicit_gemm, conv.fwd.gather_gemm and
 * conv.bwd_d.as_fwd: the implicit GEMM with each tile's patches packed in
 * local memory.
 */

/*
 * conv_packed_gemm: a convolution as GEMM (M = output channels of a group,
 * N = output pixels, K = Cg*KH*KW), one work-item per 32-pixel tile of one
 * image and group. The work-item packs the tile's patch rows for a block of
 * KC GEMM rows into local memory (im2col of one tile, cache-resident), then
 * runs the 8 x 32 register-tile microkernel over that panel for every
 * 8-channel slice of M: the packing is paid once per pixel, not once per
 * output channel, and nothing is written to global memory but y.
 *
 * Two ways to pack, chosen with -DCP_PADDED:
 *  1: stride 1, src is zero-padded planes of width Wp (conv_pad). Pixels are
 *     numbered over the padded width (q = oy*Wp + ox) so that patch row
 *     (c, r, s) is the contiguous run src_c[q + r*DH*Wp + s*DW]: two vector
 *     loads per row. Columns ox >= Wo are computed and dropped.
 *  0: any stride; src is x, pixels q = oy*Wo + ox, and each element is
 *     gathered with its bounds check (zero outside the image).
 * When K exceeds KC the tile's partial sums go through y: block 0 writes,
 * later blocks add, the last applies bias and activation (fixed order).
 * -D: CP_KC, CP_PADDED, HAS_BIAS, ACT, ACT_ALPHA.
 * NDRange (ceil(Ho*Wgrid/32), images * G), local (1, 1).
 */
#define CP_MR CLNN_TILE_MR
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_packed_gemm(
    CTENSOR(src), const int Hs, const int Ws, const ulong plane, CTENSOR(w), CTENSOR(bias),
    TENSOR(y), const int C, const int K, const int G, const int Ho, const int Wo, const int Wgrid,
    const int KH, const int KW, const int SH, const int SW, const int PH, const int PW,
    const int DH, const int DW) {
  __local float panel[CP_KC * 32];
  const int q0 = get_global_id(0) * 32, bi = get_global_id(1);
  if (q0 >= Ho * Wgrid) return;
  const int Cg = C / G, M = K / G, img = bi / G, g = bi % G;
  const int taps = KH * KW, kd = Cg * taps;
  __global const float *S = AT(src) + ((size_t)img * C + (size_t)g * Cg) * plane;
  const int oy0 = q0 / Wgrid, ox0 = q0 % Wgrid;
  const bool one_row = ox0 + 32 <= Wo && oy0 < Ho;
#if !CP_PADDED
  int iy0[32], ix0[32];
  for (int j = 0, oy = oy0, ox = ox0; j < 32; j++) {
    iy0[j] = oy < Ho ? oy * SH - PH : -(1 << 28); /* past the last pixel: reads zero */
    ix0[j] = ox * SW - PW;
    if (++ox == Wgrid) ox = 0, oy++;
  }
#endif
  for (int kb = 0; kb < kd; kb += CP_KC) {
    const int kn = min(CP_KC, kd - kb);
    /* Pack patch rows kb .. kb+kn-1 of this tile. */
    for (int k = 0; k < kn; k++) {
      const int row = kb + k, c = row / taps, r = (row / KW) % KH, s = row % KW;
#if CP_PADDED
      __global const float *p = S + (size_t)c * plane + q0 + r * DH * Ws + s * DW;
      vstore16(vload16(0, p), 0, panel + k * 32);
      vstore16(vload16(1, p), 0, panel + k * 32 + 16);
#else
      __global const float *p = S + (size_t)c * plane;
      for (int j = 0; j < 32; j++) {
        const int iy = iy0[j] + r * DH, ix = ix0[j] + s * DW;
        panel[k * 32 + j] = (iy >= 0 && iy < Hs && ix >= 0 && ix < Ws) ? p[iy * Ws + ix] : 0.0f;
      }
#endif
    }
    const bool first = kb == 0, last = kb + kn >= kd;
    for (int m0 = 0; m0 < M; m0 += CP_MR) {
      /* Packed weights: [G][ceil(M/8)][kd][8], see gemm_pack_a. */
      __global const float *ap = AT(w) + ((size_t)g * ((M + CP_MR - 1) / CP_MR) + m0 / CP_MR) * kd * CP_MR +
                                 (size_t)kb * CP_MR;
      float16 acc0[CP_MR], acc1[CP_MR];
      for (int i = 0; i < CP_MR; i++) acc0[i] = acc1[i] = (float16)(0.0f);
      /* Each weight is broadcast straight from memory (a load-port
       * broadcast): extracting lanes of a vector load would put shuffles on
       * the port the second FMA unit uses. */
#define CP_FMA_ROW(i)                                    \
  do {                                                   \
    const float16 a_ = (float16)(a[i]);                  \
    acc0[i] = fma(a_, b0, acc0[i]);                      \
    acc1[i] = fma(a_, b1, acc1[i]);                      \
  } while (0)
      for (int k = 0; k < kn; k++) {
        const float16 b0 = vload16(0, panel + k * 32), b1 = vload16(1, panel + k * 32);
        __global const float *a = ap + k * CP_MR;
        CP_FMA_ROW(0);
        CP_FMA_ROW(1);
        CP_FMA_ROW(2);
        CP_FMA_ROW(3);
        CP_FMA_ROW(4);
        CP_FMA_ROW(5);
        CP_FMA_ROW(6);
        CP_FMA_ROW(7);
      }
#undef CP_FMA_ROW
      for (int i = 0; i < CP_MR && m0 + i < M; i++) {
        const int ko = g * M + m0 + i;
        __global float *yp = AT(y) + ((size_t)img * K + ko) * Ho * Wo;
#if HAS_BIAS
        const float bv = last ? AT(bias)[ko] : 0.0f;
#else
        const float bv = 0.0f;
#endif
        float16 v0 = acc0[i], v1 = acc1[i];
        if (one_row) {
          __global float *o = yp + oy0 * Wo + ox0;
          if (!first) v0 += vload16(0, o), v1 += vload16(1, o);
          if (last) v0 = act_f16(v0 + bv), v1 = act_f16(v1 + bv);
          vstore16(v0, 0, o);
          vstore16(v1, 1, o);
        } else {
          float t[32];
          vstore16(v0, 0, t);
          vstore16(v1, 1, t);
          for (int j = 0, oy = oy0, ox = ox0; j < 32; j++) {
            if (oy < Ho && ox < Wo) {
              float v = t[j];
              if (!first) v += yp[oy * Wo + ox];
              yp[oy * Wo + ox] = last ? act_f1(v + bv) : v;
            }
            if (++ox == Wgrid) ox = 0, oy++;
          }
        }
      }
    }
  }
}
