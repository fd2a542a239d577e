/*
 * gemm.c - host reference of clnn_gemm: plain loops, double accumulation.
 */
#include "../runtime/internal.h"

clnn_status clnn_ref_gemm(clnn_transpose trans_a, clnn_transpose trans_b, int64_t m, int64_t n,
                          int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                          int64_t ldb, float beta, float *c, int64_t ldc) {
  CLNN_ENTER(NULL);
  CLNN_CHECK_NULL(NULL, a);
  CLNN_CHECK_NULL(NULL, b);
  CLNN_CHECK_NULL(NULL, c);
  bool ta = trans_a == CLNN_TRANS, tb = trans_b == CLNN_TRANS;
  if (m <= 0 || n <= 0 || k <= 0 || lda < (ta ? m : k) || ldb < (tb ? k : n) || ldc < n)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "invalid sizes or leading dimensions");
  for (int64_t i = 0; i < m; i++) {
    for (int64_t j = 0; j < n; j++) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; p++) {
        double av = ta ? a[p * lda + i] : a[i * lda + p];
        double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        acc += av * bv;
      }
      double out = (double)alpha * acc;
      if (beta != 0.0f) out += (double)beta * c[i * ldc + j];
      c[i * ldc + j] = (float)out;
    }
  }
  return CLNN_SUCCESS;
}
