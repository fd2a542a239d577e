/*
 * conv/winograd.cl - conv.fwd.winograd: 3x3, stride 1, dilation 1, one
 * group, as Winograd's minimal filtering F(m x m, 3 x 3) (m = WG_M, 2 or 4;
 * alpha = m + 2 transform points a side). Three kernels around the own
 * GEMM (kernels/gemm.cl, batched over the alpha^2 points):
 *   U[t][k][c]       = (G g G^T)[t]       conv_wino_weights
 *   V[t][p/32][c][32] = (B^T d B)[t]       conv_wino_input (GEMM B panels)
 *   M[t][k][p]       = sum_c U[t][k][c] V[t][c][p]   gemm_tile8x32
 *   y tile           = act(A^T M A + bias) conv_wino_output
 * p numbers the m x m output tiles of a chunk of images, row-major per
 * image. The matrices are Lavin and Gray's ("Fast Algorithms for
 * Convolutional Neural Networks", 2015) with the points 0, +-1, (+-2), inf,
 * written out as sums so that the common terms are shared.
 */
#ifndef WG_M
#define WG_M 4
#endif
#if WG_M == 4
#define WG_A 6
#elif WG_M == 2
#define WG_A 4
#else
#error "WG_M must be 2 or 4"
#endif
#define WG_T (WG_A * WG_A)

/* r = G g for three taps, 16 filters at once. */
inline void wino_w_1d16(const float16 *g, float16 *r) {
#if WG_M == 4
  const float16 even = g[0] + g[2];
  r[0] = 0.25f * g[0];
  r[1] = -(even + g[1]) / 6.0f;
  r[2] = -(even - g[1]) / 6.0f;
  r[3] = g[0] / 24.0f + g[1] / 12.0f + g[2] / 6.0f;
  r[4] = g[0] / 24.0f - g[1] / 12.0f + g[2] / 6.0f;
  r[5] = g[2];
#else
  r[0] = g[0];
  r[1] = 0.5f * (g[0] + g[1] + g[2]);
  r[2] = 0.5f * (g[0] - g[1] + g[2]);
  r[3] = g[2];
#endif
}

/* 16 floats at p[0], p[s], ..., p[15 * s]. */
#define WINO_GATHER16(p, s)                                                                                 \
  ((float16)((p)[0], (p)[(s)], (p)[2 * (s)], (p)[3 * (s)], (p)[4 * (s)], (p)[5 * (s)], (p)[6 * (s)],        \
             (p)[7 * (s)], (p)[8 * (s)], (p)[9 * (s)], (p)[10 * (s)], (p)[11 * (s)], (p)[12 * (s)],         \
             (p)[13 * (s)], (p)[14 * (s)], (p)[15 * (s)]))

/* 16 floats at p[a.s0], ..., p[a.sf] (a: an int16 of element offsets). */
#define WINO_GATHER16_AT(p, a)                                                                              \
  ((float16)((p)[(a).s0], (p)[(a).s1], (p)[(a).s2], (p)[(a).s3], (p)[(a).s4], (p)[(a).s5], (p)[(a).s6],    \
             (p)[(a).s7], (p)[(a).s8], (p)[(a).s9], (p)[(a).sa], (p)[(a).sb], (p)[(a).sc], (p)[(a).sd],    \
             (p)[(a).se], (p)[(a).sf]))

/*
 * conv_wino_weights: U[t][k][c] = (G g G^T)[t] for the 3x3 filters g of
 * output channel k and input channels c0 .. c0+15 (the lanes; channels past
 * C read channel C-1 and are not stored). TRANSPOSED = 0: g = w[k][c];
 * 1: bwd_data's flipped, channel-swapped weights, g[r][s] =
 * w[c][k][2-r][2-s] (w holds C x K filters; see conv_pack_wt).
 * NDRange (ceil(C/16), K), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_wino_weights(
    CTENSOR(w), TENSOR(u), const int C, const int K, const int transposed) {
  const int c0 = get_global_id(0) * 16, k = get_global_id(1);
  const int n = min(16, C - c0);
  float16 g[9];
  if (n < 16) { /* the last block: lanes past C repeat channel C-1 */
    float t16[9][16];
    for (int l = 0; l < 16; l++) {
      const int c = c0 + min(l, n - 1);
      __global const float *src = AT(w) + (transposed ? ((size_t)c * K + k) * 9 : ((size_t)k * C + c) * 9);
      for (int t = 0; t < 9; t++) t16[t][l] = src[transposed ? 8 - t : t];
    }
    for (int t = 0; t < 9; t++) g[t] = vload16(0, t16[t]);
  } else if (transposed) {
    __global const float *src = AT(w) + ((size_t)c0 * K + k) * 9;
    const int s = K * 9;
    for (int t = 0; t < 9; t++) g[t] = WINO_GATHER16(src + 8 - t, s);
  } else {
    __global const float *src = AT(w) + ((size_t)k * C + c0) * 9;
    for (int t = 0; t < 9; t++) g[t] = WINO_GATHER16(src + t, 9);
  }
  float16 tmp[WG_A][3]; /* G g: alpha rows of three */
  for (int s = 0; s < 3; s++) {
    float16 col[3] = {g[s], g[3 + s], g[6 + s]}, r[WG_A];
    wino_w_1d16(col, r);
    for (int i = 0; i < WG_A; i++) tmp[i][s] = r[i];
  }
  __global float *U = AT(u) + (size_t)k * C + c0;
  const size_t plane = (size_t)K * C;
  for (int i = 0; i < WG_A; i++) {
    float16 r[WG_A];
    wino_w_1d16(tmp[i], r);
    for (int j = 0; j < WG_A; j++) {
      __global float *dst = U + (i * WG_A + j) * plane;
      if (n == 16) {
        vstore16(r[j], 0, dst);
      } else {
        float o[16];
        vstore16(r[j], 0, o);
        for (int l = 0; l < n; l++) dst[l] = o[l];
      }
    }
  }
}

/* The 1-D transforms on 16 tiles at once (one tile a lane): r = B^T d for
 * one column (or row) of alpha values, and o = A^T m. */
inline void wino_in_1d16(const float16 *d, float16 *r) {
#if WG_M == 4
  r[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
  r[1] = -4.0f * (d[1] + d[2]) + d[3] + d[4];
  r[2] = 4.0f * (d[1] - d[2]) - d[3] + d[4];
  r[3] = 2.0f * (d[3] - d[1]) - d[2] + d[4];
  r[4] = 2.0f * (d[1] - d[3]) - d[2] + d[4];
  r[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
#else
  r[0] = d[0] - d[2];
  r[1] = d[1] + d[2];
  r[2] = d[2] - d[1];
  r[3] = d[1] - d[3];
#endif
}

inline void wino_out_1d16(const float16 *m, float16 *o) {
#if WG_M == 4
  const float16 s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
  o[0] = m[0] + s12 + s34;
  o[1] = d12 + 2.0f * d34;
  o[2] = s12 + 4.0f * s34;
  o[3] = d12 + 8.0f * d34 + m[5];
#else
  o[0] = m[0] + m[1] + m[2];
  o[1] = m[1] - m[2] - m[3];
#endif
}

/*
 * conv_wino_input: V = B^T d B for 16 consecutive tiles (the lanes of the
 * vectors) and one input channel, stored into the GEMM's zero-padded B
 * panels V[t][P/32][C][32] (tiles past P: zeros). Tile p of image img
 * (th x tw tiles per image) reads x rows ty*m - PH .. + alpha - 1 and
 * columns tx*m - PW .. + alpha - 1, zeros outside the image: each lane
 * loads from clamped coordinates and is masked, so no lane branches.
 * Every panel is written whole (launch ceil(P/32) * 2 groups).
 * Args: x at the chunk's first image; P tiles in the chunk; vt_s floats per
 * transform point in V.
 * NDRange (2 * ceil(P/32), C), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_wino_input(
    CTENSOR(x), TENSOR(v), const int C, const int H, const int W, const int PH, const int PW, const int th,
    const int tw, const int P, const ulong vt_s) {
  const int p0 = get_global_id(0) * 16, c = get_global_id(1);
  const int tpi = th * tw;
  __global float *V = AT(v) + ((size_t)(p0 / 32) * C + c) * 32 + p0 % 32;
  __global const float *X = AT(x) + (size_t)c * H * W;
  int16 rowoff[WG_A], col[WG_A];
  int16 rowok[WG_A], colok[WG_A]; /* lane masks (-1: inside) */
  {
    const int16 p = (int16)(p0) + (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const int16 pc = min(p, (int16)(P - 1)), img = pc / tpi, q = pc % tpi;
    const int16 iy0 = (q / tw) * WG_M - PH, ix0 = (q % tw) * WG_M - PW;
    const int16 live = p < (int16)(P);
    for (int i = 0; i < WG_A; i++) {
      const int16 iy = iy0 + i, ix = ix0 + i;
      rowoff[i] = (img * C * H + clamp(iy, (int16)(0), (int16)(H - 1))) * W;
      rowok[i] = live & (iy >= 0) & (iy < H);
      col[i] = clamp(ix, (int16)(0), (int16)(W - 1));
      colok[i] = (ix >= 0) & (ix < W);
    }
  }
  float16 tmp[WG_A][WG_A]; /* B^T d */
  for (int j = 0; j < WG_A; j++) {
    float16 d[WG_A], r[WG_A];
    for (int i = 0; i < WG_A; i++) {
      const int16 a = rowoff[i] + col[j];
      const float16 g = WINO_GATHER16_AT(X, a);
      /* select, not a product with 0/1: padding is zero even next to an inf */
      d[i] = select((float16)(0.0f), g, rowok[i] & colok[j]);
    }
    wino_in_1d16(d, r);
    for (int i = 0; i < WG_A; i++) tmp[i][j] = r[i];
  }
  for (int i = 0; i < WG_A; i++) {
    float16 r[WG_A];
    wino_in_1d16(tmp[i], r);
    for (int j = 0; j < WG_A; j++) vstore16(r[j], 0, V + (i * WG_A + j) * vt_s);
  }
}

/* 16 floats from p, zeros past the first n (the GEMM leaves M's row
 * padding unwritten). */
inline float16 wino_load_upto(__global const float *p, const int n) {
  if (n == 16) return vload16(0, p);
  float t[16];
  for (int l = 0; l < 16; l++) t[l] = l < n ? p[l] : 0.0f;
  return vload16(0, t);
}

/*
 * conv_wino_output: y = act(A^T M A + bias) for 16 consecutive tiles (the
 * lanes) and one output channel; outputs past Ho x Wo are dropped.
 * Args: M[t][k][p] (K rows of ldm >= round_up(P, 16) floats per point,
 * mt_s floats per point; only the first P of a row read); y at the
 * chunk's first image.
 * -D: HAS_BIAS, ACT, ACT_ALPHA.
 * NDRange (ceil(P/16), K), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_wino_output(
    CTENSOR(m), CTENSOR(bias), TENSOR(y), const int K, const int Ho, const int Wo, const int th, const int tw,
    const int P, const int ldm, const ulong mt_s) {
  const int p0 = get_global_id(0) * 16, k = get_global_id(1);
  const int tpi = th * tw;
#if HAS_BIAS
  const float b = AT(bias)[k];
#else
  const float b = 0.0f;
#endif
  __global const float *Mk = AT(m) + (size_t)k * ldm + p0;
  const int n = min(16, P - p0);
  float16 tmp[WG_M][WG_A]; /* A^T M */
  for (int j = 0; j < WG_A; j++) {
    float16 col[WG_A], o[WG_M];
    for (int i = 0; i < WG_A; i++) col[i] = wino_load_upto(Mk + (i * WG_A + j) * mt_s, n);
    wino_out_1d16(col, o);
    for (int i = 0; i < WG_M; i++) tmp[i][j] = o[i];
  }
  float out[WG_M][WG_M][16];
  for (int i = 0; i < WG_M; i++) {
    float16 o[WG_M];
    wino_out_1d16(tmp[i], o);
    for (int j = 0; j < WG_M; j++) vstore16(act_f16(o[j] + b), 0, out[i][j]);
  }
  for (int l = 0; l < n; l++) {
    const int p = p0 + l, img = p / tpi, q = p % tpi, oy0 = (q / tw) * WG_M, ox0 = (q % tw) * WG_M;
    __global float *Y = AT(y) + (((size_t)img * K + k) * Ho + oy0) * Wo + ox0;
    const int rows = min(WG_M, Ho - oy0), cols = min(WG_M, Wo - ox0);
    for (int i = 0; i < rows; i++) {
      if (cols == WG_M) {
#if WG_M == 4
        vstore4((float4)(out[i][0][l], out[i][1][l], out[i][2][l], out[i][3][l]), 0, Y + (size_t)i * Wo);
#else
        vstore2((float2)(out[i][0][l], out[i][1][l]), 0, Y + (size_t)i * Wo);
#endif
      } else {
        for (int j = 0; j < cols; j++) Y[(size_t)i * Wo + j] = out[i][j][l];
      }
    }
  }
}

/* ----------------------------------------------------------- bwd_weights
 * conv.bwd_w.winograd: the weight gradient dw[k][c] = sum over images and
 * output pixels of dy[k] times the shifted x[c] is F(3x3, m x m): with the
 * forward's matrices, y = A^T [(G g) . (B^T d)] gives by transposition
 *   dw = G^T [ sum_p (A dy_p A^T) . (B^T x_p B) ] G
 * for the m x m tile dy_p of dy and the alpha x alpha tile x_p of x that
 * the forward's tile p reads. The sum over tiles is a GEMM per point t:
 *   DYT[t][k][p] = (A dy_p A^T)[t]         conv_wino_bw_dy
 *   XT[t][c/32][p][32] = (B^T x_p B)[t]    conv_wino_bw_x (GEMM B panels)
 *   S[t][k][c] (+)= sum_p DYT XT           gemm_tile8x32, beta 1 after the first chunk
 *   dw (+)= G^T S G                        conv_wino_bw_out
 */

/* u = A m for m values (A = (A^T)^T, alpha x m). */
inline void wino_bw_dy_1d16(const float16 *d, float16 *u) {
#if WG_M == 4
  const float16 s02 = d[0] + d[2], d13 = d[1] + d[3], e02 = d[0] + 4.0f * d[2], e13 = 2.0f * d[1] + 8.0f * d[3];
  u[0] = d[0];
  u[1] = s02 + d13;
  u[2] = s02 - d13;
  u[3] = e02 + e13;
  u[4] = e02 - e13;
  u[5] = d[3];
#else
  u[0] = d[0];
  u[1] = d[0] + d[1];
  u[2] = d[0] - d[1];
  u[3] = -d[1];
#endif
}

/* w = G^T s for alpha values (three out). */
inline void wino_bw_out_1d16(const float16 *s, float16 *w) {
#if WG_M == 4
  const float16 s12 = s[1] + s[2], d12 = s[2] - s[1], s34 = s[3] + s[4], d34 = s[3] - s[4];
  w[0] = 0.25f * s[0] - s12 / 6.0f + s34 / 24.0f;
  w[1] = d12 / 6.0f + d34 / 12.0f;
  w[2] = -s12 / 6.0f + s34 / 6.0f + s[5];
#else
  w[0] = s[0] + 0.5f * (s[1] + s[2]);
  w[1] = 0.5f * (s[1] - s[2]);
  w[2] = 0.5f * (s[1] + s[2]) + s[3];
#endif
}

/*
 * conv_wino_bw_dy: DYT = A dy_p A^T for 16 consecutive tiles (the lanes)
 * and one output channel; dy past Ho x Wo and tiles past P read as zeros.
 * Args: dy at the chunk's first image; ldp (>= round_up(P, 16)) floats a
 * row of DYT, dt_s floats per point.
 * NDRange (ceil(P/16), K), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_wino_bw_dy(
    CTENSOR(dy), TENSOR(u), const int K, const int Ho, const int Wo, const int th, const int tw, const int P,
    const int ldp, const ulong dt_s) {
  const int p0 = get_global_id(0) * 16, k = get_global_id(1);
  const int tpi = th * tw;
  __global const float *D = AT(dy) + (size_t)k * Ho * Wo;
  int16 rowoff[WG_M], col[WG_M];
  int16 rowok[WG_M], colok[WG_M];
  {
    const int16 p = (int16)(p0) + (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const int16 pc = min(p, (int16)(P - 1)), img = pc / tpi, q = pc % tpi;
    const int16 oy0 = (q / tw) * WG_M, ox0 = (q % tw) * WG_M, live = p < (int16)(P);
    for (int i = 0; i < WG_M; i++) {
      const int16 oy = oy0 + i, ox = ox0 + i;
      rowoff[i] = (img * K * Ho + min(oy, (int16)(Ho - 1))) * Wo;
      rowok[i] = live & (oy < Ho);
      col[i] = min(ox, (int16)(Wo - 1));
      colok[i] = ox < Wo;
    }
  }
  float16 tmp[WG_A][WG_M]; /* A dy */
  for (int j = 0; j < WG_M; j++) {
    float16 d[WG_M], r[WG_A];
    for (int i = 0; i < WG_M; i++) {
      const int16 a = rowoff[i] + col[j];
      const float16 g = WINO_GATHER16_AT(D, a);
      d[i] = select((float16)(0.0f), g, rowok[i] & colok[j]);
    }
    wino_bw_dy_1d16(d, r);
    for (int i = 0; i < WG_A; i++) tmp[i][j] = r[i];
  }
  __global float *U = AT(u) + (size_t)k * ldp + p0;
  for (int i = 0; i < WG_A; i++) {
    float16 r[WG_A];
    wino_bw_dy_1d16(tmp[i], r);
    for (int j = 0; j < WG_A; j++) vstore16(r[j], 0, U + (i * WG_A + j) * dt_s);
  }
}

/*
 * conv_wino_bw_x: XT = B^T x_p B for one tile p and 16 consecutive input
 * channels (the lanes; channels past C repeat channel C-1), stored into
 * the GEMM's B panels XT[t][C/32][P][32]. The tile's bounds are the same
 * for every lane: zeros outside the image by a per-element test.
 * NDRange (P, 2 * ceil(C/32)), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_wino_bw_x(
    CTENSOR(x), TENSOR(v), const int C, const int H, const int W, const int PH, const int PW, const int th,
    const int tw, const int P, const ulong xt_s) {
  const int p = get_global_id(0), c0 = get_global_id(1) * 16;
  const int tpi = th * tw, img = p / tpi, q = p % tpi, iy0 = (q / tw) * WG_M - PH, ix0 = (q % tw) * WG_M - PW;
  __global const float *X = AT(x) + ((size_t)img * C + min(c0, C - 1)) * H * W;
  /* lane l reads channel min(c0 + l, C - 1): offsets from channel c0 */
  const int16 lane = (int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int16 choff = (min((int16)(c0) + lane, (int16)(C - 1)) - (int16)(min(c0, C - 1))) * (H * W);
  float16 tmp[WG_A][WG_A]; /* B^T x */
  for (int j = 0; j < WG_A; j++) {
    float16 d[WG_A], r[WG_A];
    const int ix = ix0 + j;
    for (int i = 0; i < WG_A; i++) {
      const int iy = iy0 + i;
      if (iy < 0 || iy >= H || ix < 0 || ix >= W) {
        d[i] = (float16)(0.0f);
      } else {
        __global const float *s = X + (size_t)iy * W + ix;
        const int16 a = choff;
        d[i] = WINO_GATHER16_AT(s, a);
      }
    }
    wino_in_1d16(d, r);
    for (int i = 0; i < WG_A; i++) tmp[i][j] = r[i];
  }
  __global float *V = AT(v) + ((size_t)(c0 / 32) * P + p) * 32 + c0 % 32;
  for (int i = 0; i < WG_A; i++) {
    float16 r[WG_A];
    wino_in_1d16(tmp[i], r);
    for (int j = 0; j < WG_A; j++) vstore16(r[j], 0, V + (i * WG_A + j) * xt_s);
  }
}

/*
 * conv_wino_bw_out: dw[k][c] (+)= G^T S[.][k][c] G for 16 consecutive input
 * channels (the lanes) of one output channel.
 * Args: S[t][k][c] (rows of lds >= round_up(C, 16) floats, st_s floats per
 * point; only the first C of a row read); accumulate: add to dw.
 * NDRange (ceil(C/16), K), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_wino_bw_out(
    CTENSOR(s), TENSOR(dw), const int C, const int lds, const ulong st_s, const int accumulate) {
  const int c0 = get_global_id(0) * 16, k = get_global_id(1);
  const int n = min(16, C - c0);
  __global const float *Sk = AT(s) + (size_t)k * lds + c0;
  float16 tmp[3][WG_A]; /* G^T S */
  for (int j = 0; j < WG_A; j++) {
    float16 col[WG_A], o[3];
    for (int i = 0; i < WG_A; i++) col[i] = wino_load_upto(Sk + (i * WG_A + j) * st_s, n);
    wino_bw_out_1d16(col, o);
    for (int i = 0; i < 3; i++) tmp[i][j] = o[i];
  }
  float out[3][3][16];
  for (int i = 0; i < 3; i++) {
    float16 o[3];
    wino_bw_out_1d16(tmp[i], o);
    for (int j = 0; j < 3; j++) vstore16(o[j], 0, out[i][j]);
  }
  __global float *D = AT(dw) + ((size_t)k * C + c0) * 9;
  for (int l = 0; l < n; l++)
    for (int t = 0; t < 9; t++) {
      const float v = out[t / 3][t % 3][l];
      D[l * 9 + t] = accumulate ? D[l * 9 + t] + v : v;
    }
}
