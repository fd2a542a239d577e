/*
 * conv/im2col.cl - the patch matrix of im2col_gemm (forward and weight
 * gradient): convolution as a GEMM on materialised patches.
 */

/*
 * conv_im2col: the input patches of a chunk of images, one work-item per
 * (row kd of the patch matrix, group, image of the chunk); it walks every
 * output pixel. Row kd = (c * KH + r) * KW + s holds x[c, oy*SH - PH + r*DH,
 * ox*SW - PW + s*DW] (zero outside the image) for pixel p = oy * Wo + ox.
 * The matrix of (image ii, group g) starts at (ii * G + g) * Kd * ncols.
 * -D: PANELS, the layout: 1 = [ceil(N/32)][Kd][32] panels, 0 = row-major
 *     Kd x N, 2 = transposed, row-major N x Kd (the B of dw = dy col^T on CLBlast).
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
#if PANELS == 1
  const int ntiles = (npix + 31) / 32;
  __global float *out = AT(col) + (size_t)(ii * G + g) * Kd * ntiles * 32 + (size_t)kd * 32;
  const size_t tile_stride = (size_t)Kd * 32;
#define COL_AT(p) out[((p) >> 5) * tile_stride + ((p)&31)]
#elif PANELS == 2
  __global float *out = AT(col) + (size_t)(ii * G + g) * Kd * npix + kd;
#define COL_AT(p) out[(size_t)(p) * Kd]
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
#if PANELS == 1
  for (; p < ntiles * 32; p++) COL_AT(p) = 0.0f; /* pad the last panel with zeros */
#endif
#undef COL_AT
}
