/*
 * gemm.cl - libclnn's own matrix multiply, shaped for CPU devices (see
 * docs/DESIGN.md, "Kernels on CPU devices"): one work-item owns an 8 x 32 tile of C in sixteen
 * float16 registers, work-groups of one work-item, no local memory. Plus the
 * small kernels around it: packing B into K-contiguous panels, and the
 * bias/activation epilogue used after CLBlast.
 *
 * Batched with two levels: batch index bi = i1 * nb2 + i2 (e.g. image and
 * group of a grouped convolution) offsets each matrix by i1 * s1 + i2 * s2.
 */
#ifndef A_TRANS
#define A_TRANS 0 /* 1: A is stored K x M (element (m, k) at a[k * lda + m]) */
#endif
#ifndef B_PANELS
#define B_PANELS 0 /* 1: B is packed as [N / 32][K][32] panels, zero padded */
#endif
#ifndef HAS_BIAS
#define HAS_BIAS 0 /* 1: add bias[i2 * bias_s2 + m] to row m */
#endif

#define MR CLNN_TILE_MR
#define NR CLNN_TILE_NR
#if MR != 8 || NR != 32
#error "the microkernel holds an 8 x 32 tile: eight rows of two float16"
#endif

#define FMA_TILE_ROW(i, av)                                  \
  do {                                                       \
    const float16 a_ = (float16)(av);                        \
    acc0[i] = fma(a_, b0, acc0[i]);                          \
    acc1[i] = fma(a_, b1, acc1[i]);                          \
  } while (0)

#if A_TRANS
#define A_ELEM(i, k) A[(size_t)(k) * lda + mrow[i]]
#else
#define A_ELEM(i, k) arow[i][k]
#endif

#define FMA_ALL_ROWS(k)                       \
  do {                                        \
    _Pragma("unroll") for (int i = 0; i < MR; i++) FMA_TILE_ROW(i, A_ELEM(i, k)); \
  } while (0)

/*
 * gemm_tile8x32: C = act(alpha * A B + beta * C + bias) for one 8 x 32 tile.
 * -D: A_TRANS, B_PANELS, HAS_BIAS, ACT, ACT_ALPHA.
 * NDRange (ceil(M/8), ceil(N/32), nb1 * nb2), local (1, 1, 1).
 * Rows past M read row M-1 (valid memory) and are not stored; columns past N
 * read zeros (panels are padded; row-major B takes a masked path).
 * beta == 0 never reads C, so C may hold anything (NaN poison) beforehand.
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void gemm_tile8x32(
    const int M, const int N, const int K, const int nb2, CTENSOR(a), const int lda,
    const ulong a_s1, const ulong a_s2, CTENSOR(b), const int ldb, const ulong b_s1,
    const ulong b_s2, TENSOR(c), const int ldc, const ulong c_s1, const ulong c_s2,
    CTENSOR(bias), const ulong bias_s2, const float alpha, const float beta) {
  const int m0 = get_global_id(0) * MR;
  const int n0 = get_global_id(1) * NR;
  const int bi = get_global_id(2);
  if (m0 >= M || n0 >= N) return;
  const ulong i1 = bi / nb2, i2 = bi % nb2;
  __global const float *A = AT(a) + i1 * a_s1 + i2 * a_s2;
  __global const float *B = AT(b) + i1 * b_s1 + i2 * b_s2;
  __global float *C = AT(c) + i1 * c_s1 + i2 * c_s2;

  int mrow[MR];
  __global const float *arow[MR];
  for (int i = 0; i < MR; i++) {
    mrow[i] = min(m0 + i, M - 1);
    arow[i] = A + (size_t)mrow[i] * lda;
  }
  float16 acc0[MR], acc1[MR];
  for (int i = 0; i < MR; i++) acc0[i] = acc1[i] = (float16)(0.0f);

  const bool full_n = n0 + NR <= N;
#if B_PANELS
  __global const float *bp = B + (size_t)(n0 / NR) * K * NR;
  for (int k = 0; k < K; k++) {
    const float16 b0 = vload16(0, bp + (size_t)k * NR);
    const float16 b1 = vload16(1, bp + (size_t)k * NR);
    FMA_ALL_ROWS(k);
  }
#else
  __global const float *bp = B + n0;
  if (full_n) {
    for (int k = 0; k < K; k++) {
      const float16 b0 = vload16(0, bp + (size_t)k * ldb);
      const float16 b1 = vload16(1, bp + (size_t)k * ldb);
      FMA_ALL_ROWS(k);
    }
  } else {
    const int nvalid = N - n0;
    float row[NR];
    for (int k = 0; k < K; k++) {
      for (int j = 0; j < NR; j++) row[j] = j < nvalid ? bp[(size_t)k * ldb + j] : 0.0f;
      const float16 b0 = vload16(0, row);
      const float16 b1 = vload16(1, row);
      FMA_ALL_ROWS(k);
    }
  }
#endif

  for (int i = 0; i < MR && m0 + i < M; i++) {
    __global float *crow = C + (size_t)(m0 + i) * ldc + n0;
    float16 v0 = alpha * acc0[i], v1 = alpha * acc1[i];
#if HAS_BIAS
    const float bv = AT(bias)[i2 * bias_s2 + m0 + i];
#else
    const float bv = 0.0f;
#endif
    if (full_n) {
      if (beta != 0.0f) {
        v0 += beta * vload16(0, crow);
        v1 += beta * vload16(1, crow);
      }
      vstore16(act_f16(v0 + bv), 0, crow);
      vstore16(act_f16(v1 + bv), 1, crow);
    } else {
      float row[NR];
      vstore16(v0, 0, row);
      vstore16(v1, 1, row);
      for (int j = 0; j < N - n0; j++) {
        float v = row[j];
        if (beta != 0.0f) v += beta * crow[j];
        crow[j] = act_f1(v + bv);
      }
    }
  }
}

/*
 * gemm_pack_b: copy B (K x N, or N x K with -DB_TRANS=1) into zero-padded
 * panels P[bi][N/32][K][32], so the tile kernel reads it contiguously.
 * NDRange (K, ceil(N/32), nb1 * nb2), local (1, 1, 1). p_s: elements per batch.
 */
#ifndef B_TRANS
#define B_TRANS 0
#endif
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void gemm_pack_b(
    const int N, const int K, const int nb2, CTENSOR(b), const int ldb, const ulong b_s1,
    const ulong b_s2, TENSOR(p), const ulong p_s) {
  const int k = get_global_id(0);
  const int nt = get_global_id(1);
  const int bi = get_global_id(2);
  if (k >= K || nt * NR >= N) return;
  __global const float *B = AT(b) + (bi / nb2) * b_s1 + (bi % nb2) * b_s2;
  __global float *P = AT(p) + bi * p_s + ((size_t)nt * K + k) * NR;
  for (int j = 0; j < NR; j++) {
    const int n = nt * NR + j;
#if B_TRANS
    P[j] = n < N ? B[(size_t)n * ldb + k] : 0.0f;
#else
    P[j] = n < N ? B[(size_t)k * ldb + n] : 0.0f;
#endif
  }
}

/*
 * gemm_bias_act: C[m][n] = act(C[m][n] + bias[m]) for engines (CLBlast) that
 * have no fused epilogue. -D: HAS_BIAS, ACT, ACT_ALPHA.
 * NDRange (N, M, nb1 * nb2), any local size.
 */
__kernel void gemm_bias_act(const int M, const int N, const int nb2, TENSOR(c), const int ldc,
                            const ulong c_s1, const ulong c_s2, CTENSOR(bias),
                            const ulong bias_s2) {
  const int n = get_global_id(0), m = get_global_id(1), bi = get_global_id(2);
  if (n >= N || m >= M) return;
  const ulong i1 = bi / nb2, i2 = bi % nb2;
  __global float *C = AT(c) + i1 * c_s1 + i2 * c_s2 + (size_t)m * ldc + n;
#if HAS_BIAS
  *C = act_f1(*C + AT(bias)[i2 * bias_s2 + m]);
#else
  *C = act_f1(*C);
#endif
}

/*
 * gemm_pack_a: copy row-major A (M x K per batch, row stride lda) into
 * [batch][ceil(M/8)][K][8] panels, rows past M zero: the microkernels then
 * read the 8 values of one k with a single vector load.
 * NDRange (K, ceil(M/8), batches), local (1, 1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void gemm_pack_a(
    const int M, const int K, CTENSOR(a), const int lda, const ulong a_s, TENSOR(p)) {
  const int k = get_global_id(0), mt = get_global_id(1), bi = get_global_id(2);
  if (k >= K) return;
  const int mtiles = (M + MR - 1) / MR;
  __global const float *A = AT(a) + bi * a_s;
  __global float *P = AT(p) + (((size_t)bi * mtiles + mt) * K + k) * MR;
  for (int i = 0; i < MR; i++) {
    const int m = mt * MR + i;
    P[i] = m < M ? A[(size_t)m * lda + k] : 0.0f;
  }
}
