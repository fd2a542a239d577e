/*
 * conv.cl - 2-D convolution kernels (NCHW, float32): im2col into GEMM
 * panels, zero-padded copies, and the direct depthwise kernel.
 * The GEMM itself is kernels/gemm.cl.
 */
#ifndef PANELS
#define PANELS 1 /* im2col output: 1 = [ceil(N/32)][Kd][32] panels, 0 = row-major Kd x N */
#endif

/*
 * conv_im2col: the input patches of a chunk of images, one work-item per
 * (row kd of the patch matrix, group, image of the chunk); it walks every
 * output pixel. Row kd = (c * KH + r) * KW + s holds x[c, oy*SH - PH + r*DH,
 * ox*SW - PW + s*DW] (zero outside the image) for pixel p = oy * Wo + ox.
 * The matrix of (image ii, group g) starts at (ii * G + g) * Kd * ncols.
 * NDRange (Kd, G, images in chunk), local (1, 1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_im2col(
    CTENSOR(x), TENSOR(col), const int C, const int H, const int W, const int Ho, const int Wo,
    const int KH, const int KW, const int SH, const int SW, const int PH, const int PW,
    const int DH, const int DW, const int G, const int img0) {
  const int kd = get_global_id(0), g = get_global_id(1), ii = get_global_id(2);
  const int Cg = C / G, Kd = Cg * KH * KW;
  if (kd >= Kd) return;
  const int c = kd / (KH * KW), r = (kd / KW) % KH, s = kd % KW;
  const int npix = Ho * Wo;
  __global const float *plane = AT(x) + ((size_t)(img0 + ii) * C + g * Cg + c) * H * W;
#if PANELS
  const int ntiles = (npix + 31) / 32;
  __global float *out = AT(col) + (size_t)(ii * G + g) * Kd * ntiles * 32 + (size_t)kd * 32;
  const size_t tile_stride = (size_t)Kd * 32;
#define COL_AT(p) out[((p) >> 5) * tile_stride + ((p)&31)]
#else
  __global float *out = AT(col) + ((size_t)(ii * G + g) * Kd + kd) * npix;
#define COL_AT(p) out[p]
#endif
  int p = 0;
  for (int oy = 0; oy < Ho; oy++) {
    const int iy = oy * SH - PH + r * DH;
    if (iy < 0 || iy >= H) {
      for (int ox = 0; ox < Wo; ox++, p++) COL_AT(p) = 0.0f;
      continue;
    }
    __global const float *row = plane + (size_t)iy * W;
    int ix = -PW + s * DW;
    for (int ox = 0; ox < Wo; ox++, p++, ix += SW) COL_AT(p) = (ix >= 0 && ix < W) ? row[ix] : 0.0f;
  }
#if PANELS
  for (; p < ntiles * 32; p++) COL_AT(p) = 0.0f; /* pad the last panel with zeros */
#endif
#undef COL_AT
}

/*
 * conv_pad: copy planes of H x W into zero-filled planes of Hp x Wp with the
 * data at (PH, PW). One work-item per padded row.
 * NDRange (Hp, planes), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_pad(
    CTENSOR(x), TENSOR(xp), const int H, const int W, const int Hp, const int Wp, const int PH,
    const int PW) {
  const int row = get_global_id(0), plane = get_global_id(1);
  if (row >= Hp) return;
  __global float *out = AT(xp) + ((size_t)plane * Hp + row) * Wp;
  const int iy = row - PH;
  if (iy < 0 || iy >= H) {
    for (int j = 0; j < Wp; j++) out[j] = 0.0f;
    return;
  }
  __global const float *in = AT(x) + ((size_t)plane * H + iy) * W;
  for (int j = 0; j < PW; j++) out[j] = 0.0f;
  for (int j = 0; j < W; j++) out[PW + j] = in[j];
  for (int j = PW + W; j < Wp; j++) out[j] = 0.0f;
}

/*
 * conv_dw_direct: depthwise convolution (groups == C, K a multiple of C):
 * output channel ko reads input channel ko / (K / C). One work-item per
 * output row: it copies the DW_KH input rows it needs into a private,
 * zero-padded row buffer (so the tap loops have no bounds checks, which
 * would stop PoCL vectorizing), then computes the row in 16-wide strips.
 * -D: DW_KH, DW_KW, DW_SH, DW_SW, DW_DH, DW_DW (compile-time: the tap loops
 *     unroll), DW_ROWLEN (row buffer length), HAS_BIAS, ACT, ACT_ALPHA.
 * NDRange (Ho, N * K), local (1, 1, 1).
 */
#ifdef DW_KH
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dw_direct(
    CTENSOR(x), CTENSOR(w), CTENSOR(bias), TENSOR(y), const int C, const int K, const int H,
    const int W, const int Ho, const int Wo, const int PH, const int PW) {
  const int oy = get_global_id(0), plane = get_global_id(1);
  if (oy >= Ho) return;
  const int ko = plane % K, img = plane / K;
  const int ci = ko / (K / C);
  __global const float *in = AT(x) + ((size_t)img * C + ci) * H * W;
  __global float *out = AT(y) + (size_t)plane * Ho * Wo + (size_t)oy * Wo;
  float wv[DW_KH * DW_KW];
  for (int i = 0; i < DW_KH * DW_KW; i++) wv[i] = AT(w)[ko * DW_KH * DW_KW + i];
#if HAS_BIAS
  const float bv = AT(bias)[ko];
#else
  const float bv = 0.0f;
#endif
  /* rows[r] holds input row oy*SH - PH + r*DH at offset PW, zeros around it. */
  float rows[DW_KH][DW_ROWLEN];
  bool valid[DW_KH];
  for (int r = 0; r < DW_KH; r++) {
    const int iy = oy * DW_SH - PH + r * DW_DH;
    valid[r] = iy >= 0 && iy < H;
    for (int j = 0; j < DW_ROWLEN; j++) rows[r][j] = 0.0f;
    if (!valid[r]) continue;
    __global const float *src = in + (size_t)iy * W;
    int j = 0;
    for (; j + 16 <= W; j += 16) vstore16(vload16(0, src + j), 0, &rows[r][PW + j]);
    for (; j < W; j++) rows[r][PW + j] = src[j];
  }
  for (int ox0 = 0; ox0 < Wo; ox0 += 16) {
    float16 acc = (float16)(0.0f);
#pragma unroll
    for (int r = 0; r < DW_KH; r++) {
      if (!valid[r]) continue;
#pragma unroll
      for (int s = 0; s < DW_KW; s++) {
        const float *p = &rows[r][ox0 * DW_SW + s * DW_DW];
#if DW_SW == 1
        const float16 v = vload16(0, p);
#elif DW_SW == 2
        const float16 v = (float16)(vload16(0, p).even, vload16(1, p).even);
#else
        float t[16];
        for (int l = 0; l < 16; l++) t[l] = p[l * DW_SW];
        const float16 v = vload16(0, t);
#endif
        acc = fma(v, (float16)(wv[r * DW_KW + s]), acc);
      }
    }
    acc = act_f16(acc + bv);
    if (ox0 + 16 <= Wo) {
      vstore16(acc, 0, out + ox0);
    } else {
      float t[16];
      vstore16(acc, 0, t);
      for (int l = 0; l < Wo - ox0; l++) out[ox0 + l] = t[l];
    }
  }
}
#endif

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
#ifdef CP_KC
#define CP_MR 8
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
      for (int k = 0; k < kn; k++) {
        const float16 b0 = vload16(0, panel + k * 32), b1 = vload16(1, panel + k * 32);
        const float8 a8 = vload8(0, ap + k * CP_MR);
        acc0[0] = fma((float16)(a8.s0), b0, acc0[0]); acc1[0] = fma((float16)(a8.s0), b1, acc1[0]);
        acc0[1] = fma((float16)(a8.s1), b0, acc0[1]); acc1[1] = fma((float16)(a8.s1), b1, acc1[1]);
        acc0[2] = fma((float16)(a8.s2), b0, acc0[2]); acc1[2] = fma((float16)(a8.s2), b1, acc1[2]);
        acc0[3] = fma((float16)(a8.s3), b0, acc0[3]); acc1[3] = fma((float16)(a8.s3), b1, acc1[3]);
        acc0[4] = fma((float16)(a8.s4), b0, acc0[4]); acc1[4] = fma((float16)(a8.s4), b1, acc1[4]);
        acc0[5] = fma((float16)(a8.s5), b0, acc0[5]); acc1[5] = fma((float16)(a8.s5), b1, acc1[5]);
        acc0[6] = fma((float16)(a8.s6), b0, acc0[6]); acc1[6] = fma((float16)(a8.s6), b1, acc1[6]);
        acc0[7] = fma((float16)(a8.s7), b0, acc0[7]); acc1[7] = fma((float16)(a8.s7), b1, acc1[7]);
      }
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
#endif
