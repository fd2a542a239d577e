/*
 * gemm_gpu.cl - the GPU-class GEMM engine: one tiled kernel body that serves a
 * plain (batched) GEMM and the implicit GEMMs of convolution, whose operands
 * are gathered from the tensors while a tile is staged, never materialised.
 *
 * C (M x N) = epilogue(A (M x K) * B (K x N)). Tiling (GPU-NOTES, "GEMM-like
 * work"): a work-group of GG_NDIM x GG_MDIM work-items owns a GG_MWG x GG_NWG
 * tile of C and walks K in slices of GG_KWG. Each slice of A and B is read
 * from global memory into registers (the next slice while the current one is
 * multiplied, hiding the latency), stored to local memory, and each
 * work-item accumulates GG_MWI x GG_NWI outputs from it: rows ty + GG_MDIM*i
 * and columns tx + GG_NDIM*j, so that neighbouring work-items hold
 * neighbouring columns (coalesced stores, conflict-free local reads). Local
 * rows are padded by one float: the loads that run along K store down a
 * column.
 *
 * How a work-item loads its share of a slice: element e = t + WG*l (l <
 * LOADS) of the slice, t the flat local id. An operand loaded "along K"
 * (GG_A_ALONG_K / GG_B_ALONG_K) has consecutive work-items on consecutive k
 * (row-major A, K-contiguous operands: coalesced), otherwise on consecutive m
 * or n. Either way the m (or n) of load slot l never changes while K is
 * walked, so each slot decodes its row or column once (the conv loaders
 * turn n into an image and a pixel there), and only the k part is decoded
 * per slice.
 *
 * Modes (GG_MODE, the CLNN_GG_* codes of kernels/shared.h):
 *  GEMM: A (trans or not), B (trans or not), batched over the NDRange's
 *    third axis with two strides, C = act(alpha AB + beta C + bias[row]).
 *  CONV_FWD: A = weights [G][Kg][Cg*KH*KW], B = patches of x (im2col on
 *    the fly), columns = (image, output pixel), one group per third-axis
 *    index; y = act(AB + bias).
 *  CONV_BWD_DATA: A = the weights transposed per group, [G][Cg][Kg*KH*KW]
 *    (conv_gpu_pack_wt), B = dy gathered at the output pixels each input
 *    pixel feeds (stride divisibility checked), columns = (image, input
 *    pixel); dx = act(AB + bias) (bias and act: the transposed convolution).
 *  CONV_BWD_WEIGHTS: rows = output channels, columns = (c, kh, kw), K =
 *    (image, output pixel), split into GG_SPLIT-free slices: each work-group
 *    of the third axis (split s, group g) sums its range of K into its own
 *    partial tile; gemm_gpu_sum_splits adds the partials in split order.
 *
 * Parameters (-D): GG_MWG GG_NWG GG_KWG GG_MDIM GG_NDIM (tile and work-group;
 * the host checks the divisibility below), GG_MODE, and per mode GG_A_TRANS
 * GG_B_TRANS (0), GG_KH GG_KW GG_SH GG_SW GG_DH GG_DW (1-3), HAS_BIAS, ACT.
 */
#ifndef GG_MWG
#define GG_MWG 64
#endif
#ifndef GG_NWG
#define GG_NWG 64
#endif
#ifndef GG_KWG
#define GG_KWG 16
#endif
#ifndef GG_MDIM
#define GG_MDIM 16
#endif
#ifndef GG_NDIM
#define GG_NDIM 16
#endif
#ifndef GG_MODE
#define GG_MODE CLNN_GG_GEMM
#endif
#ifndef HAS_BIAS
#define HAS_BIAS 0
#endif

#define GG_WG (GG_MDIM * GG_NDIM)
#define GG_MWI (GG_MWG / GG_MDIM)
#define GG_NWI (GG_NWG / GG_NDIM)
#define GG_LOADS_A (GG_MWG * GG_KWG / GG_WG)
#define GG_LOADS_B (GG_KWG * GG_NWG / GG_WG)

/* Which operand is loaded along K (see above). */
#if GG_MODE == CLNN_GG_GEMM
#define GG_A_ALONG_K (!GG_A_TRANS)
#define GG_B_ALONG_K (GG_B_TRANS)
#elif GG_MODE == CLNN_GG_CONV_BWD_WEIGHTS
#define GG_A_ALONG_K 1
#define GG_B_ALONG_K 1
#else
#define GG_A_ALONG_K 1
#define GG_B_ALONG_K 0
#endif

/* Slot l's element of the slice: (row or column, k) within the tile. */
#define GG_A_ROW(t, l) (GG_A_ALONG_K ? ((t) + GG_WG * (l)) / GG_KWG : ((t) + GG_WG * (l)) % GG_MWG)
#define GG_A_K(t, l) (GG_A_ALONG_K ? ((t) + GG_WG * (l)) % GG_KWG : ((t) + GG_WG * (l)) / GG_MWG)
#define GG_B_COL(t, l) (GG_B_ALONG_K ? ((t) + GG_WG * (l)) / GG_KWG : ((t) + GG_WG * (l)) % GG_NWG)
#define GG_B_K(t, l) (GG_B_ALONG_K ? ((t) + GG_WG * (l)) % GG_KWG : ((t) + GG_WG * (l)) / GG_NWG)

/* The multiply of one staged slice into the register block. */
#define GG_MULTIPLY_SLICE(As, Bs, acc, tx, ty)                                  \
  do {                                                                          \
    _Pragma("unroll") for (int k_ = 0; k_ < GG_KWG; k_++) {                     \
      float a_[GG_MWI], b_[GG_NWI];                                             \
      _Pragma("unroll") for (int i_ = 0; i_ < GG_MWI; i_++) a_[i_] = As[k_][(ty) + GG_MDIM * i_]; \
      _Pragma("unroll") for (int j_ = 0; j_ < GG_NWI; j_++) b_[j_] = Bs[k_][(tx) + GG_NDIM * j_]; \
      _Pragma("unroll") for (int i_ = 0; i_ < GG_MWI; i_++)                     \
        _Pragma("unroll") for (int j_ = 0; j_ < GG_NWI; j_++)                   \
          acc[i_][j_] = fma(a_[i_], b_[j_], acc[i_][j_]);                       \
    }                                                                           \
  } while (0)

/* Store the registers of one slice into the local tiles. */
#define GG_STAGE(As, Bs, ra, rb, t)                                                              \
  do {                                                                                           \
    _Pragma("unroll") for (int l_ = 0; l_ < GG_LOADS_A; l_++) As[GG_A_K(t, l_)][GG_A_ROW(t, l_)] = ra[l_]; \
    _Pragma("unroll") for (int l_ = 0; l_ < GG_LOADS_B; l_++) Bs[GG_B_K(t, l_)][GG_B_COL(t, l_)] = rb[l_]; \
  } while (0)

/*
 * The tile loop every mode shares: LOAD_SLICE(k0) fills ra[] and rb[] with
 * the slice starting at k0 (zeros outside the matrices), the loop runs over
 * [k_begin, k_end) and leaves the products in acc.
 */
#define GG_TILE_LOOP(k_begin, k_end, LOAD_SLICE)                                 \
  __local float As[GG_KWG][GG_MWG + 1];                                          \
  __local float Bs[GG_KWG][GG_NWG + 1];                                          \
  float acc[GG_MWI][GG_NWI];                                                     \
  _Pragma("unroll") for (int i_ = 0; i_ < GG_MWI; i_++)                          \
    _Pragma("unroll") for (int j_ = 0; j_ < GG_NWI; j_++) acc[i_][j_] = 0.0f;    \
  float ra[GG_LOADS_A], rb[GG_LOADS_B];                                          \
  if ((k_begin) < (k_end)) LOAD_SLICE(k_begin);                                  \
  for (int k0_ = (k_begin); k0_ < (k_end); k0_ += GG_KWG) {                      \
    barrier(CLK_LOCAL_MEM_FENCE);                                                \
    GG_STAGE(As, Bs, ra, rb, t);                                                 \
    barrier(CLK_LOCAL_MEM_FENCE);                                                \
    if (k0_ + GG_KWG < (k_end)) LOAD_SLICE(k0_ + GG_KWG);                        \
    GG_MULTIPLY_SLICE(As, Bs, acc, tx, ty);                                      \
  }

#if GG_MODE == CLNN_GG_GEMM
/*
 * gemm_gpu: C_b = act(alpha * op(A_b) B_b + beta * C_b + bias_b[row]) for
 * batch b = i1 * nb2 + i2 (third NDRange axis), each operand at off + i1 *
 * s1 + i2 * s2. op(A) = A (M x K, row stride lda) or A^T (A stored K x M);
 * B is K x N (or stored N x K with GG_B_TRANS). beta == 0 never reads C.
 * NDRange (ceil(N / NWG) * NDIM, ceil(M / MWG) * MDIM, nb1 * nb2), local
 * (NDIM, MDIM, 1).
 */
__kernel __attribute__((reqd_work_group_size(GG_NDIM, GG_MDIM, 1))) void gemm_gpu(
    const int M, const int N, const int K, const int nb2, __global const float *a, const ulong a_off,
    const int lda, const ulong a_s1, const ulong a_s2, __global const float *b, const ulong b_off, const int ldb,
    const ulong b_s1, const ulong b_s2, __global float *c, const ulong c_off, const int ldc, const ulong c_s1,
    const ulong c_s2, __global const float *bias, const ulong bias_off, const ulong bias_s2, const float alpha,
    const float beta) {
  const int tx = get_local_id(0), ty = get_local_id(1), t = ty * GG_NDIM + tx;
  const int n0 = get_group_id(0) * GG_NWG, m0 = get_group_id(1) * GG_MWG;
  const int bi = get_global_id(2), i1 = bi / nb2, i2 = bi - i1 * nb2;
  __global const float *A = a + a_off + i1 * a_s1 + i2 * a_s2;
  __global const float *B = b + b_off + i1 * b_s1 + i2 * b_s2;
  /* Each slot's fixed row of A and column of B. */
  int arow[GG_LOADS_A], bcol[GG_LOADS_B];
  _Pragma("unroll") for (int l = 0; l < GG_LOADS_A; l++) arow[l] = m0 + GG_A_ROW(t, l);
  _Pragma("unroll") for (int l = 0; l < GG_LOADS_B; l++) bcol[l] = n0 + GG_B_COL(t, l);
#define GG_LOAD_PLAIN(k0)                                                                     \
  do {                                                                                        \
    _Pragma("unroll") for (int l = 0; l < GG_LOADS_A; l++) {                                  \
      const int k = (k0) + GG_A_K(t, l);                                                      \
      ra[l] = (arow[l] < M && k < K) ? A[GG_A_TRANS ? k * lda + arow[l] : arow[l] * lda + k] : 0.0f; \
    }                                                                                         \
    _Pragma("unroll") for (int l = 0; l < GG_LOADS_B; l++) {                                  \
      const int k = (k0) + GG_B_K(t, l);                                                      \
      rb[l] = (bcol[l] < N && k < K) ? B[GG_B_TRANS ? bcol[l] * ldb + k : k * ldb + bcol[l]] : 0.0f; \
    }                                                                                         \
  } while (0)
  GG_TILE_LOOP(0, K, GG_LOAD_PLAIN)
  __global float *C = c + c_off + i1 * c_s1 + i2 * c_s2;
  _Pragma("unroll") for (int i = 0; i < GG_MWI; i++) {
    const int m = m0 + ty + GG_MDIM * i;
    if (m >= M) continue;
    const float bm = HAS_BIAS ? bias[bias_off + i2 * bias_s2 + m] : 0.0f;
    _Pragma("unroll") for (int j = 0; j < GG_NWI; j++) {
      const int n = n0 + tx + GG_NDIM * j;
      if (n >= N) continue;
      float v = alpha * acc[i][j];
      if (beta != 0.0f) v = fma(beta, C[m * ldc + n], v);
      C[m * ldc + n] = act_f1(v + bm);
    }
  }
}
#endif

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
