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
 * conv_dw_direct: depthwise convolution (groups == C, K a multiple of C) on
 * the padded copy: output channel ko reads input channel ko / (K / C).
 * One work-item per output row, computed in 16-wide strips (float16): no
 * bounds checks inside the tap loops, since the padded copy is wide enough.
 * -D: DW_KH, DW_KW, DW_SH, DW_SW, DW_DH, DW_DW (compile-time, so the tap loops unroll),
 *     HAS_BIAS, ACT, ACT_ALPHA.
 * NDRange (Ho, N * K), local (1, 1).
 */
#ifdef DW_KH
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dw_direct(
    CTENSOR(xp), CTENSOR(w), CTENSOR(bias), TENSOR(y), const int C, const int K, const int Hp,
    const int Wp, const int Ho, const int Wo) {
  const int oy = get_global_id(0), plane = get_global_id(1);
  if (oy >= Ho) return;
  const int ko = plane % K, img = plane / K;
  const int ci = ko / (K / C);
  __global const float *in = AT(xp) + ((size_t)img * C + ci) * Hp * Wp + (size_t)(oy * DW_SH) * Wp;
  __global float *out = AT(y) + (size_t)plane * Ho * Wo + (size_t)oy * Wo;
  float wv[DW_KH * DW_KW];
  for (int i = 0; i < DW_KH * DW_KW; i++) wv[i] = AT(w)[ko * DW_KH * DW_KW + i];
#if HAS_BIAS
  const float bv = AT(bias)[ko];
#else
  const float bv = 0.0f;
#endif
  for (int ox0 = 0; ox0 < Wo; ox0 += 16) {
    float16 acc = (float16)(0.0f);
#pragma unroll
    for (int r = 0; r < DW_KH; r++) {
#pragma unroll
      for (int s = 0; s < DW_KW; s++) {
        __global const float *p = in + r * DW_DH * Wp + ox0 * DW_SW + s * DW_DW;
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
