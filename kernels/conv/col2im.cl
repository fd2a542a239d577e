/*
 * conv/col2im.cl - conv.bwd_d.col2im: dx gathered from the columns
 * w^T dy, no atomics.
 */

/*
 * conv_col2im: dx from the columns dcol = w^T dy of a chunk of images,
 * written as a gather: a work-item owns C2I_ROWS rows of one dx plane and
 * sums into a private row buffer, tap by tap in the fixed order (r, s), the
 * column entries of the output pixels that reach each of its elements:
 *   dx[c, iy, ix] = act(bias[c] + sum over (r, s) with iy = oy*SH - PH + r*DH,
 *                   ix = ox*SW - PW + s*DW of dcol[(cl*KH + r)*KW + s][oy*Wo + ox])
 * No two work-items write the same element; no atomics. A tap row r that
 * reaches no output row, and the columns a tap s cannot reach, cost nothing.
 * dcol of (image ii, group g) is row-major Kd x (Ho*Wo) at (ii*G + g)*Kd*Ho*Wo.
 * -D: COL2IM (selects this kernel), HAS_BIAS, ACT, ACT_ALPHA.
 * NDRange (ceil(H / C2I_ROWS), images in chunk * C), local (1, 1).
 */
#define C2I_ROWS CLNN_CONV_C2I_ROWS
#define C2I_COLS 256
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_col2im(
    CTENSOR(col), CTENSOR(bias), TENSOR(dx), const int C, const int H, const int W, const int Ho,
    const int Wo, const int KH, const int KW, const int SH, const int SW, const int PH, const int PW,
    const int DH, const int DW, const int G) {
  const int iy_begin = get_global_id(0) * C2I_ROWS, plane = get_global_id(1);
  const int c = plane % C, ii = plane / C, Cg = C / G, g = c / Cg, cl = c % Cg;
  const int npix = Ho * Wo, Kd = Cg * KH * KW;
  __global const float *cb = AT(col) + ((size_t)(ii * G + g) * Kd + (size_t)cl * KH * KW) * npix;
#if HAS_BIAS
  const float bv = AT(bias)[c];
#else
  const float bv = 0.0f;
#endif
  float buf[C2I_COLS];
  for (int iy = iy_begin; iy < min(H, iy_begin + C2I_ROWS); iy++) {
    __global float *out = AT(dx) + ((size_t)plane * H + iy) * W;
    for (int ix0 = 0; ix0 < W; ix0 += C2I_COLS) {
      const int n = min(C2I_COLS, W - ix0);
      for (int j = 0; j < C2I_COLS; j++) buf[j] = 0.0f;
      for (int r = 0; r < KH; r++) {
        const int ty = iy + PH - r * DH, oy = ty / SH;
        if (ty < 0 || oy * SH != ty || oy >= Ho) continue;
        for (int s = 0; s < KW; s++) {
          /* output columns ox with ix = ox*SW - PW + s*DW inside [ix0, ix0 + n) */
          const int t0 = ix0 + PW - s * DW, t1 = t0 + n - 1;
          if (t1 < 0) continue;
          const int ox_lo = t0 <= 0 ? 0 : (t0 + SW - 1) / SW, ox_hi = min(Wo - 1, t1 / SW);
          __global const float *src = cb + (size_t)(r * KW + s) * npix + (size_t)oy * Wo;
          for (int ox = ox_lo; ox <= ox_hi; ox++) buf[ox * SW - t0] += src[ox];
        }
      }
      for (int j = 0; j < n; j++) out[ix0 + j] = act_f1(buf[j] + bv);
    }
  }
}
