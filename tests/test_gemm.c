/*
 * test_gemm.c - clnn_gemm on both engines against the host reference:
 * odd sizes, transposes, alpha/beta, offsets and leading dimensions, bad
 * arguments.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/testutil.h"

typedef struct gemm_case {
  int m, n, k;
  clnn_transpose ta, tb;
  float alpha, beta;
  int pad; /* extra columns in every leading dimension, and element offsets */
} gemm_case;

static const gemm_case cases[] = {
    {1, 1, 1, CLNN_NO_TRANS, CLNN_NO_TRANS, 1.0f, 0.0f, 0},
    {7, 33, 5, CLNN_NO_TRANS, CLNN_NO_TRANS, 1.0f, 0.0f, 0},
    {64, 64, 64, CLNN_NO_TRANS, CLNN_NO_TRANS, 1.0f, 0.0f, 0},
    {13, 70, 29, CLNN_TRANS, CLNN_NO_TRANS, 1.0f, 0.0f, 3},
    {13, 70, 29, CLNN_NO_TRANS, CLNN_TRANS, 2.0f, 0.0f, 1},
    {31, 17, 40, CLNN_TRANS, CLNN_TRANS, -1.0f, 0.5f, 2},
    {9, 1024, 12, CLNN_NO_TRANS, CLNN_NO_TRANS, 1.0f, 1.0f, 0}, /* power-of-two ldb */
    {100, 3, 257, CLNN_NO_TRANS, CLNN_NO_TRANS, 0.25f, -2.0f, 5},
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static void run_case(clnn_context *ctx, const gemm_case *c, const char *engine) {
  int ar = c->ta ? c->k : c->m, ac = c->ta ? c->m : c->k;
  int br = c->tb ? c->n : c->k, bc = c->tb ? c->k : c->n;
  int lda = ac + c->pad, ldb = bc + c->pad, ldc = c->n + c->pad, off = c->pad;
  size_t na = (size_t)(off + ar * lda), nb = (size_t)(off + br * ldb), nc = (size_t)(off + c->m * ldc);
  float *a = tu_alloc(na), *b = tu_alloc(nb), *cin = tu_alloc(nc), *ref = tu_alloc(nc);
  tu_fill_ints(a, na, 11, -3, 3);
  tu_fill_ints(b, nb, 12, -3, 3);
  tu_fill_ints(cin, nc, 13, -3, 3);
  memcpy(ref, cin, nc * sizeof(float));
  TU_OK(clnn_ref_gemm(c->ta, c->tb, c->m, c->n, c->k, c->alpha, a + off, lda, b + off, ldb, c->beta,
                      ref + off, ldc));
  int64_t da = (int64_t)na, db = (int64_t)nb, dc = (int64_t)nc;
  clnn_tensor *ta, *tb, *tc;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &da, &ta));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &db, &tb));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &dc, &tc));
  TU_OK(clnn_tensor_write(ta, a, na * 4));
  TU_OK(clnn_tensor_write(tb, b, nb * 4));
  if (c->beta == 0.0f) {
    /* beta == 0 must ignore C entirely, NaN included (BLAS semantics). */
    for (int i = 0; i < c->m; i++)
      for (int j = 0; j < c->n; j++) cin[off + i * ldc + j] = NAN;
  }
  TU_OK(clnn_tensor_write(tc, cin, nc * 4));
  clnn_status st = clnn_gemm(ctx, c->ta, c->tb, c->m, c->n, c->k, c->alpha, ta, off, lda, tb, off, ldb, c->beta,
                             tc, off, ldc);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: %s", engine, clnn_context_errmsg(ctx));
  float *got = tu_alloc(nc);
  TU_OK(clnn_tensor_read(tc, got, nc * 4));
  char what[128];
  snprintf(what, sizeof what, "gemm m%dn%dk%d ta%d tb%d alpha=%g beta=%g (%s engine)", c->m, c->n, c->k,
           (int)c->ta, (int)c->tb, (double)c->alpha, (double)c->beta, engine);
  ck_assert_msg(tu_compare(what, got, ref, nc, 0.0, 0.0, NULL), "%s", what);
  clnn_tensor_free(ta);
  clnn_tensor_free(tb);
  clnn_tensor_free(tc);
  free(a);
  free(b);
  free(cin);
  free(ref);
  free(got);
}

START_TEST(test_gemm_own) {
  clnn_context_options o = clnn_context_options_default();
  o.gemm = CLNN_GEMM_OWN;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  run_case(ctx, &cases[_i], "own");
  clnn_context_free(ctx);
}
END_TEST

START_TEST(test_gemm_clblast) {
  clnn_context_options o = clnn_context_options_default();
  o.gemm = CLNN_GEMM_CLBLAST;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  run_case(ctx, &cases[_i], "clblast");
  clnn_context_free(ctx);
}
END_TEST

START_TEST(test_gemm_bad_args) {
  clnn_context *ctx = tu_ctx();
  int64_t n16 = 16, n4 = 4;
  clnn_tensor *a = tu_tensor(1, &n16, NULL), *b = tu_tensor(1, &n16, NULL), *c = tu_tensor(1, &n16, NULL);
  clnn_tensor *small = tu_tensor(1, &n4, NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_gemm(ctx, 0, 0, 4, 4, 4, 1, NULL, 0, 4, b, 0, 4, 0, c, 0, 4));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_gemm(ctx, 0, 0, 0, 4, 4, 1, a, 0, 4, b, 0, 4, 0, c, 0, 4));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_gemm(ctx, 0, 0, 4, 4, 4, 1, a, 0, 3, b, 0, 4, 0, c, 0, 4));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_gemm(ctx, 2, 0, 4, 4, 4, 1, a, 0, 4, b, 0, 4, 0, c, 0, 4));
  TU_FAILS(CLNN_ERR_BUFFER_TOO_SMALL, clnn_gemm(ctx, 0, 0, 4, 4, 4, 1, a, 1, 4, b, 0, 4, 0, c, 0, 4));
  TU_FAILS(CLNN_ERR_BUFFER_TOO_SMALL, clnn_gemm(ctx, 0, 0, 4, 4, 4, 1, a, 0, 4, small, 0, 4, 0, c, 0, 4));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_gemm(ctx, 0, 0, 4, 4, 4, 1, a, -1, 4, b, 0, 4, 0, c, 0, 4));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_gemm(ctx, 0, 0, 4, 4, 4, 1, a, 0, 4, b, 0, 4, 0, a, 0, 4));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_gemm(0, 0, 2, 2, 2, 1, NULL, 2, NULL, 2, 0, NULL, 2));
  clnn_tensor_free(a);
  clnn_tensor_free(b);
  clnn_tensor_free(c);
  clnn_tensor_free(small);
}
END_TEST

static Suite *gemm_suite(void) {
  Suite *s = suite_create("gemm");
  TCase *tc = tcase_create("gemm");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_gemm_own, 0, N_CASES);
  tcase_add_loop_test(tc, test_gemm_clblast, 0, N_CASES);
  tcase_add_test(tc, test_gemm_bad_args);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run(gemm_suite()); }
