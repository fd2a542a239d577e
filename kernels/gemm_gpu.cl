/*
 * gemm_gpu.cl - gemm.mm.gpu_tiled: the batched GEMM on the tiled engine of
 * gemm_gpu.h (program: gemm_gpu.h, then this file).
 */

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
