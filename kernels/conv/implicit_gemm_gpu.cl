/*
 * conv/implicit_gemm_gpu.cl - conv.*.gpu_implicit_gemm: the three passes of
 * convolution as implicit GEMMs on the tiled engine of gemm_gpu.h (program:
 * gemm_gpu.h, then this file; GG_MODE picks the pass).
 */

#if GG_MODE == CLNN_GG_CONV_FWD
/*
 * conv_fwd_gpu: y[img][g*Kg + m][p] = act(sum_kk w[g][m][kk] x_patch(img, p)[kk]
 * + bias) over kk = (c, kh, kw) of group g; columns n = img * OHW + p over the
 * images [0, nimg). NDRange (ceil(nimg * OHW / NWG) * NDIM, ceil(Kg / MWG) *
 * MDIM, G), local (NDIM, MDIM, 1).
 */
__kernel __attribute__((reqd_work_group_size(GG_NDIM, GG_MDIM, 1))) void conv_fwd_gpu(
    CTENSOR(x), CTENSOR(w), CTENSOR(bias), TENSOR(y), const int nimg, const int C, const int H, const int W,
    const int K, const int G, const int OH, const int OW, const int PH, const int PW) {
  const int tx = get_local_id(0), ty = get_local_id(1), t = ty * GG_NDIM + tx;
  const int n0 = get_group_id(0) * GG_NWG, m0 = get_group_id(1) * GG_MWG, g = get_group_id(2);
  const int Cg = C / G, Kg = K / G, KD = Cg * GG_KH * GG_KW, OHW = OH * OW, HW = H * W, NN = nimg * OHW;
  __global const float *wg = AT(w) + (size_t)g * Kg * KD;
  int arow[GG_LOADS_A];
  _Pragma("unroll") for (int l = 0; l < GG_LOADS_A; l++) arow[l] = m0 + GG_A_ROW(t, l);
  /* Each B slot's column: its image's plane base and top-left input pixel. */
  int xbase[GG_LOADS_B], ih0[GG_LOADS_B], iw0[GG_LOADS_B];
  _Pragma("unroll") for (int l = 0; l < GG_LOADS_B; l++) {
    const int n = n0 + GG_B_COL(t, l), img = n / OHW, p = n - img * OHW, oh = p / OW, ow = p - oh * OW;
    xbase[l] = n < NN ? (img * C + g * Cg) * HW : -1;
    ih0[l] = oh * GG_SH - PH;
    iw0[l] = ow * GG_SW - PW;
  }
  __global const float *X = AT(x);
#define GG_LOAD_CONV_FWD(k0)                                                                   \
  do {                                                                                         \
    _Pragma("unroll") for (int l = 0; l < GG_LOADS_A; l++) {                                   \
      const int k = (k0) + GG_A_K(t, l);                                                       \
      ra[l] = (arow[l] < Kg && k < KD) ? wg[arow[l] * KD + k] : 0.0f;                          \
    }                                                                                          \
    _Pragma("unroll") for (int l = 0; l < GG_LOADS_B; l++) {                                   \
      const int k = (k0) + GG_B_K(t, l), c = k / (GG_KH * GG_KW), rs = k - c * (GG_KH * GG_KW); \
      const int r = rs / GG_KW, s = rs - r * GG_KW;                                            \
      const int ih = ih0[l] + r * GG_DH, iw = iw0[l] + s * GG_DW;                              \
      const bool in = xbase[l] >= 0 && k < KD && ih >= 0 && ih < H && iw >= 0 && iw < W;       \
      rb[l] = in ? X[xbase[l] + c * HW + ih * W + iw] : 0.0f;                                  \
    }                                                                                          \
  } while (0)
  GG_TILE_LOOP(0, KD, GG_LOAD_CONV_FWD)
  _Pragma("unroll") for (int j = 0; j < GG_NWI; j++) {
    const int n = n0 + tx + GG_NDIM * j;
    if (n >= NN) continue;
    const int img = n / OHW, p = n - img * OHW;
    __global float *yp = AT(y) + (size_t)(img * K + g * Kg) * OHW + p;
    _Pragma("unroll") for (int i = 0; i < GG_MWI; i++) {
      const int m = m0 + ty + GG_MDIM * i;
      if (m < Kg) yp[(size_t)m * OHW] = act_f1(acc[i][j] + (HAS_BIAS ? AT(bias)[g * Kg + m] : 0.0f));
    }
  }
}
#endif

#if GG_MODE == CLNN_GG_CONV_BWD_DATA
/*
 * conv_bwd_data_gpu: dx[img][g*Cg + m][q] = act(sum_kk wt[g][m][kk] dy_at(img,
 * q, kk) + bias), kk = (k, kh, kw) over the group's output channels, where
 * dy_at is dy at the output pixel that input pixel q feeds through tap
 * (kh, kw), or 0 where no output pixel does (stride not dividing, outside).
 * NDRange (ceil(nimg * H * W / NWG) * NDIM, ceil(Cg / MWG) * MDIM, G).
 */
__kernel __attribute__((reqd_work_group_size(GG_NDIM, GG_MDIM, 1))) void conv_bwd_data_gpu(
    CTENSOR(dy), CTENSOR(wt), CTENSOR(bias), TENSOR(dx), const int nimg, const int C, const int H, const int W,
    const int K, const int G, const int OH, const int OW, const int PH, const int PW) {
  const int tx = get_local_id(0), ty = get_local_id(1), t = ty * GG_NDIM + tx;
  const int n0 = get_group_id(0) * GG_NWG, m0 = get_group_id(1) * GG_MWG, g = get_group_id(2);
  const int Cg = C / G, Kg = K / G, KD = Kg * GG_KH * GG_KW, OHW = OH * OW, HW = H * W, NN = nimg * HW;
  __global const float *wg = AT(wt) + (size_t)g * Cg * KD;
  int arow[GG_LOADS_A];
  _Pragma("unroll") for (int l = 0; l < GG_LOADS_A; l++) arow[l] = m0 + GG_A_ROW(t, l);
  /* Each B slot's column: its image's dy base and padded input position. */
  int dbase[GG_LOADS_B], hp[GG_LOADS_B], wp[GG_LOADS_B];
  _Pragma("unroll") for (int l = 0; l < GG_LOADS_B; l++) {
    const int n = n0 + GG_B_COL(t, l), img = n / HW, q = n - img * HW, h = q / W, w = q - h * W;
    dbase[l] = n < NN ? (img * K + g * Kg) * OHW : -1;
    hp[l] = h + PH;
    wp[l] = w + PW;
  }
  __global const float *DY = AT(dy);
#define GG_LOAD_CONV_BWD_DATA(k0)                                                              \
  do {                                                                                         \
    _Pragma("unroll") for (int l = 0; l < GG_LOADS_A; l++) {                                   \
      const int k = (k0) + GG_A_K(t, l);                                                       \
      ra[l] = (arow[l] < Cg && k < KD) ? wg[arow[l] * KD + k] : 0.0f;                          \
    }                                                                                          \
    _Pragma("unroll") for (int l = 0; l < GG_LOADS_B; l++) {                                   \
      const int k = (k0) + GG_B_K(t, l), kc = k / (GG_KH * GG_KW), rs = k - kc * (GG_KH * GG_KW); \
      const int r = rs / GG_KW, s = rs - r * GG_KW;                                            \
      const int th = hp[l] - r * GG_DH, tw = wp[l] - s * GG_DW;                                \
      const int oh = th / GG_SH, ow = tw / GG_SW;                                              \
      const bool in = dbase[l] >= 0 && k < KD && th >= 0 && tw >= 0 && oh * GG_SH == th &&     \
                      ow * GG_SW == tw && oh < OH && ow < OW;                                  \
      rb[l] = in ? DY[dbase[l] + kc * OHW + oh * OW + ow] : 0.0f;                              \
    }                                                                                          \
  } while (0)
  GG_TILE_LOOP(0, KD, GG_LOAD_CONV_BWD_DATA)
  _Pragma("unroll") for (int j = 0; j < GG_NWI; j++) {
    const int n = n0 + tx + GG_NDIM * j;
    if (n >= NN) continue;
    const int img = n / HW, q = n - img * HW;
    __global float *xp = AT(dx) + (size_t)(img * C + g * Cg) * HW + q;
    _Pragma("unroll") for (int i = 0; i < GG_MWI; i++) {
      const int m = m0 + ty + GG_MDIM * i;
      if (m < Cg) xp[(size_t)m * HW] = act_f1(acc[i][j] + (HAS_BIAS ? AT(bias)[g * Cg + m] : 0.0f));
    }
  }
}

/* conv_gpu_pack_wt: wt[g][c][k][kh][kw] = w[g*Kg + k][c][kh][kw] (the A of
 * conv_bwd_data_gpu). NDRange (KH*KW*Kg*Cg, G), any local size. */
__kernel void conv_gpu_pack_wt(CTENSOR(w), TENSOR(wt), const int Kg, const int Cg, const int G) {
  const int i = get_global_id(0), g = get_global_id(1), taps = GG_KH * GG_KW;
  if (i >= Kg * Cg * taps || g >= G) return;
  const int rs = i % taps, k = (i / taps) % Kg, c = i / (taps * Kg); /* i indexes wt's [c][k][rs] */
  AT(wt)[(size_t)g * Cg * Kg * taps + i] = AT(w)[((size_t)(g * Kg + k) * Cg + c) * taps + rs];
}
#endif

#if GG_MODE == CLNN_GG_CONV_BWD_WEIGHTS
/*
 * conv_bwd_weights_gpu: the partial dw of split s over reduction indices q in
 * [s * qper, min((s + 1) * qper, nimg * OHW)), q = img * OHW + p:
 * part[s][g][m][kk] = sum_q dy[img][g*Kg + m][p] x_patch(img, p)[kk].
 * NDRange (ceil(KD / NWG) * NDIM, ceil(Kg / MWG) * MDIM, splits * G), third
 * axis index = s * G + g.
 */
__kernel __attribute__((reqd_work_group_size(GG_NDIM, GG_MDIM, 1))) void conv_bwd_weights_gpu(
    CTENSOR(x), CTENSOR(dy), TENSOR(part), const int nimg, const int C, const int H, const int W, const int K,
    const int G, const int OH, const int OW, const int PH, const int PW, const int qper) {
  const int tx = get_local_id(0), ty = get_local_id(1), t = ty * GG_NDIM + tx;
  const int n0 = get_group_id(0) * GG_NWG, m0 = get_group_id(1) * GG_MWG;
  const int sg = get_group_id(2), s = sg / G, g = sg - s * G;
  const int Cg = C / G, Kg = K / G, KD = Cg * GG_KH * GG_KW, OHW = OH * OW, HW = H * W, NQ = nimg * OHW;
  const int q_begin = s * qper, q_end = min(q_begin + qper, NQ);
  /* Both operands are loaded along K (q): slot l's q is q0 + kq, kq the same
   * for every slot of this work-item (WG is a multiple of KWG). */
  const int kq = t % GG_KWG;
  int am[GG_LOADS_A];
  _Pragma("unroll") for (int l = 0; l < GG_LOADS_A; l++) am[l] = m0 + GG_A_ROW(t, l);
  int xoff[GG_LOADS_B], rdh[GG_LOADS_B], sdw[GG_LOADS_B];
  _Pragma("unroll") for (int l = 0; l < GG_LOADS_B; l++) {
    const int kk = n0 + GG_B_COL(t, l), c = kk / (GG_KH * GG_KW), rs = kk - c * (GG_KH * GG_KW);
    const int r = rs / GG_KW, ss = rs - r * GG_KW;
    xoff[l] = kk < KD ? (g * Cg + c) * HW : -1;
    rdh[l] = r * GG_DH - PH;
    sdw[l] = ss * GG_DW - PW;
  }
  /* The (img, oh, ow) of this work-item's q in the current slice, advanced
   * by KWG per slice instead of divided again. */
  int q = q_begin + kq, img = q / OHW, p = q - img * OHW, oh = p / OW, ow = p - oh * OW;
  __global const float *DY = AT(dy), *X = AT(x);
#define GG_LOAD_CONV_BWD_W(k0)                                                                 \
  do {                                                                                         \
    const bool qin = q < q_end;                                                                \
    const int dyb = (img * K + g * Kg) * OHW + oh * OW + ow;                                   \
    _Pragma("unroll") for (int l = 0; l < GG_LOADS_A; l++)                                     \
      ra[l] = (qin && am[l] < Kg) ? DY[dyb + am[l] * OHW] : 0.0f;                              \
    _Pragma("unroll") for (int l = 0; l < GG_LOADS_B; l++) {                                   \
      const int ih = oh * GG_SH + rdh[l], iw = ow * GG_SW + sdw[l];                            \
      const bool in = qin && xoff[l] >= 0 && ih >= 0 && ih < H && iw >= 0 && iw < W;           \
      rb[l] = in ? X[img * C * HW + xoff[l] + ih * W + iw] : 0.0f;                             \
    }                                                                                          \
    q += GG_KWG;                                                                               \
    ow += GG_KWG;                                                                              \
    while (ow >= OW) {                                                                         \
      ow -= OW;                                                                                \
      if (++oh == OH) {                                                                        \
        oh = 0;                                                                                \
        img++;                                                                                 \
      }                                                                                        \
    }                                                                                          \
  } while (0)
  GG_TILE_LOOP(q_begin, q_end, GG_LOAD_CONV_BWD_W)
  __global float *P = AT(part) + (size_t)sg * Kg * KD;
  _Pragma("unroll") for (int i = 0; i < GG_MWI; i++) {
    const int m = m0 + ty + GG_MDIM * i;
    if (m >= Kg) continue;
    _Pragma("unroll") for (int j = 0; j < GG_NWI; j++) {
      const int kk = n0 + tx + GG_NDIM * j;
      if (kk < KD) P[(size_t)m * KD + kk] = acc[i][j];
    }
  }
}

/* gemm_gpu_sum_splits: out[i] (+)= sum over s of part[s][i], s in order, for
 * i < n (one work-item each, coalesced). */
__kernel void gemm_gpu_sum_splits(CTENSOR(part), TENSOR(out), const int n, const int splits, const int accumulate) {
  const int i = get_global_id(0);
  if (i >= n) return;
  float sum = accumulate ? AT(out)[i] : 0.0f;
  for (int s = 0; s < splits; s++) sum += AT(part)[(size_t)s * n + i];
  AT(out)[i] = sum;
}
#endif
