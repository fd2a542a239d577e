/*
 * test_conv.c - convolution forward and backward against the host
 * reference: a table of shapes (odd sizes, strides, padding, dilation,
 * groups, depthwise, 1x1, 5x5, 7x7, batch 1 and 3), outputs poisoned before
 * each run, bit-identical repeats, both GEMM engines, chunked workspaces,
 * and bad arguments. The reference's own backward passes are checked by
 * central finite differences in double.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fd.h"
#include "common/rmode.h"
#include "common/testutil.h"
#include "host/ref.h"
#include "ops/conv_bwd.h"
#include "ops/subpixel.h"

typedef struct conv_case {
  int n, c, h, w, k, kh, kw, sh, sw, ph, pw, dh, dw, g;
  int bias;
  clnn_activation act;
} conv_case;

static const conv_case cases[] = {
    /* n  c   h   w   k kh kw sh sw ph pw dh dw   g bias act */
    {1, 3, 13, 11, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, CLNN_ACT_IDENTITY},   /* odd sizes */
    {2, 8, 13, 11, 16, 3, 3, 2, 2, 1, 1, 2, 2, 2, 1, CLNN_ACT_IDENTITY},  /* stride, dilation, groups */
    {3, 4, 9, 9, 6, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, CLNN_ACT_IDENTITY},     /* batch 3, no pad/bias */
    {1, 16, 7, 7, 16, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, CLNN_ACT_IDENTITY},   /* 1x1 */
    {3, 16, 10, 9, 24, 1, 1, 1, 1, 0, 0, 1, 1, 2, 0, CLNN_ACT_IDENTITY},  /* 1x1 grouped */
    {2, 8, 15, 13, 8, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1, CLNN_ACT_IDENTITY},   /* 1x1 stride 2 */
    {1, 4, 17, 19, 5, 5, 5, 1, 1, 2, 2, 1, 1, 1, 1, CLNN_ACT_IDENTITY},   /* 5x5 */
    {2, 3, 23, 21, 4, 7, 7, 2, 2, 3, 3, 1, 1, 1, 1, CLNN_ACT_IDENTITY},   /* 7x7 stride 2 stem */
    {3, 12, 11, 13, 12, 3, 3, 1, 1, 1, 1, 1, 1, 12, 1, CLNN_ACT_IDENTITY}, /* depthwise */
    {2, 12, 11, 13, 12, 3, 3, 2, 2, 1, 1, 1, 1, 12, 0, CLNN_ACT_IDENTITY}, /* depthwise s2 */
    {1, 10, 20, 18, 10, 5, 5, 2, 2, 2, 2, 1, 1, 10, 1, CLNN_ACT_IDENTITY}, /* depthwise 5x5 s2 */
    {1, 6, 12, 12, 6, 3, 3, 1, 1, 2, 2, 2, 2, 6, 1, CLNN_ACT_IDENTITY},   /* depthwise dilated */
    {2, 6, 9, 10, 12, 3, 3, 1, 1, 1, 1, 1, 1, 6, 1, CLNN_ACT_IDENTITY},   /* depthwise multiplier 2 */
    {1, 5, 14, 15, 5, 3, 3, 3, 3, 1, 1, 1, 1, 5, 1, CLNN_ACT_IDENTITY},   /* depthwise stride 3 */
    {1, 8, 16, 16, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1, CLNN_ACT_IDENTITY},   /* groups 2 */
    {3, 9, 12, 10, 6, 3, 3, 1, 1, 1, 1, 1, 1, 3, 0, CLNN_ACT_IDENTITY},   /* groups 3 */
    {1, 4, 12, 12, 4, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1, CLNN_ACT_IDENTITY},   /* dilation 2 */
    {2, 4, 20, 13, 8, 3, 5, 1, 2, 1, 2, 1, 1, 1, 1, CLNN_ACT_IDENTITY},   /* non-square kernel/stride */
    {1, 2, 5, 5, 3, 5, 5, 1, 1, 0, 0, 1, 1, 1, 1, CLNN_ACT_IDENTITY},     /* kernel == input */
    {1, 3, 1, 1, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, CLNN_ACT_IDENTITY},     /* 1x1 image */
    {2, 33, 7, 5, 65, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, CLNN_ACT_IDENTITY},   /* channels off the tiles */
    {1, 8, 32, 32, 16, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, CLNN_ACT_IDENTITY},  /* 1x1, 1024-pixel rows */
    {1, 8, 13, 11, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, CLNN_ACT_RELU},      /* fused relu */
    {3, 12, 11, 13, 12, 3, 3, 1, 1, 1, 1, 1, 1, 12, 1, CLNN_ACT_RELU},    /* depthwise + relu */
    {4, 16, 28, 28, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, CLNN_ACT_IDENTITY}, /* batch 4 */
    {1, 3, 8, 8, 5, 3, 3, 1, 1, 4, 4, 1, 1, 1, 1, CLNN_ACT_IDENTITY},     /* padding > kernel */
    {3, 16, 6, 6, 16, 1, 1, 1, 1, 0, 0, 1, 1, 16, 1, CLNN_ACT_IDENTITY},  /* depthwise 1x1 */
    {1, 64, 9, 9, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, CLNN_ACT_IDENTITY},   /* many channels */
    {1, 2, 40, 3, 2, 3, 1, 1, 1, 1, 0, 1, 1, 1, 1, CLNN_ACT_IDENTITY},    /* tall and thin */
    {2, 7, 33, 35, 9, 3, 3, 2, 1, 0, 1, 1, 3, 1, 1, CLNN_ACT_IDENTITY},   /* mixed stride/dilation */
    {2, 6, 17, 21, 12, 5, 5, 2, 2, 3, 4, 2, 3, 6, 1, CLNN_ACT_IDENTITY},  /* depthwise x2, s2, odd pads/dilations */
    {1, 4, 9, 70, 4, 3, 3, 1, 2, 1, 1, 1, 1, 4, 0, CLNN_ACT_IDENTITY},    /* depthwise, rows over 64 columns */
    {2, 32, 6, 70, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, CLNN_ACT_RELU},     /* direct_band: 70-pixel rows, bwd_data too */
    {1, 64, 10, 12, 64, 3, 3, 1, 1, 2, 2, 2, 2, 2, 1, CLNN_ACT_IDENTITY}, /* direct_band: 2 groups of 32, dilation 2 */
    {2, 32, 70, 6, 32, 3, 3, 1, 1, 2, 2, 2, 2, 1, 0, CLNN_ACT_IDENTITY},  /* direct_band: bands of 2 rows, dilation 2 */
    {3, 9, 17, 15, 13, 1, 1, 2, 2, 1, 1, 1, 1, 1, 1, CLNN_ACT_RELU},      /* strided 1x1: padded, relu, k off the tiles */
    {2, 16, 13, 11, 16, 3, 3, 1, 1, 1, 1, 1, 1, 4, 1, CLNN_ACT_RELU},     /* grouped_direct: 4 per group, bias + relu */
    {3, 32, 15, 17, 32, 3, 3, 2, 2, 1, 1, 1, 1, 4, 1, CLNN_ACT_IDENTITY}, /* grouped_direct: 8 per group, stride 2 */
    {2, 16, 9, 37, 16, 3, 3, 2, 2, 1, 1, 1, 1, 4, 0, CLNN_ACT_IDENTITY},  /* grouped_direct: 4 per group, s2, 3 strips */
    {2, 32, 11, 40, 64, 3, 3, 1, 1, 1, 1, 1, 1, 4, 1, CLNN_ACT_SILU},     /* grouped_direct: 8 in, 16 out per group */
    {1, 24, 30, 9, 24, 3, 3, 1, 1, 1, 1, 1, 1, 6, 1, CLNN_ACT_IDENTITY},  /* grouped_direct: bands of rows */
    {2, 16, 19, 23, 16, 5, 5, 2, 2, 2, 3, 2, 1, 2, 1, CLNN_ACT_IDENTITY}, /* grouped_direct: 5x5, s2, dilation, odd pads */
    {1, 8, 14, 17, 8, 3, 3, 3, 3, 1, 1, 1, 1, 2, 1, CLNN_ACT_RELU},       /* grouped_direct: stride 3 */
    /* bwd_data through the sub-pixel forward (ops/subpixel.h), output padding 1: */
    {2, 6, 16, 14, 5, 5, 5, 2, 2, 2, 2, 1, 1, 1, 0, CLNN_ACT_IDENTITY},   /* 5x5 stride 2, groups 1 */
    {2, 128, 10, 9, 128, 3, 3, 2, 2, 1, 1, 1, 1, 32, 0, CLNN_ACT_IDENTITY}, /* ResNeXt g32x4d, stride 2 */
    {1, 6, 13, 11, 7, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, CLNN_ACT_IDENTITY},   /* stride 3, groups 1 */
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static clnn_conv2d_desc desc_of(const conv_case *c) {
  clnn_conv2d_desc d = clnn_conv2d_desc_make(c->n, c->c, c->h, c->w, c->k, c->kh, c->kw);
  d.stride_h = c->sh;
  d.stride_w = c->sw;
  d.pad_h = c->ph;
  d.pad_w = c->pw;
  d.dilation_h = c->dh;
  d.dilation_w = c->dw;
  d.groups = c->g;
  d.act = c->act;
  return d;
}

/* The clnn-bench descriptor that reproduces a case. */
static void describe(const clnn_conv2d_desc *d, int bias, char *buf, size_t n) {
  snprintf(buf, n, "conv mb%lldic%lldih%lldiw%lldoc%lldkh%lldkw%lldsh%lldsw%lldph%lldpw%llddh%llddw%lldg%lld%s%s%s",
           (long long)d->n, (long long)d->c, (long long)d->h, (long long)d->w, (long long)d->k,
           (long long)d->kh, (long long)d->kw, (long long)d->stride_h, (long long)d->stride_w,
           (long long)d->pad_h, (long long)d->pad_w, (long long)d->dilation_h,
           (long long)d->dilation_w, (long long)d->groups, d->act ? " act=" : "",
           d->act ? clnn_activation_name(d->act) : "", bias ? "" : " --no-bias");
}

/* Host data and reference output of one problem. */
typedef struct problem {
  clnn_conv2d_desc d;
  int64_t oh, ow;
  size_t nx, nw, nb, ny;
  float *x, *w, *b, *ref;
  char what[256];
} problem;

static void problem_make(problem *p, const clnn_conv2d_desc *d, int bias, bool integers, uint64_t seed) {
  p->d = *d;
  TU_OK(clnn_conv2d_desc_check(d, &p->oh, &p->ow));
  p->nx = (size_t)(d->n * d->c * d->h * d->w);
  p->nw = (size_t)(d->k * (d->c / d->groups) * d->kh * d->kw);
  p->nb = (size_t)d->k;
  p->ny = (size_t)(d->n * d->k * p->oh * p->ow);
  p->x = tu_alloc(p->nx);
  p->w = tu_alloc(p->nw);
  p->b = bias ? tu_alloc(p->nb) : NULL;
  p->ref = tu_alloc(p->ny);
  if (integers) {
    tu_fill_ints(p->x, p->nx, seed, -3, 3);
    tu_fill_ints(p->w, p->nw, seed + 1, -2, 2);
    if (p->b) tu_fill_ints(p->b, p->nb, seed + 2, -4, 4);
  } else {
    tu_fill_normal(p->x, p->nx, seed, 0.0f, 1.0f);
    tu_fill_normal(p->w, p->nw, seed + 1, 0.0f, 1.0f / sqrtf((float)(p->nw / (size_t)d->k)));
    if (p->b) tu_fill_normal(p->b, p->nb, seed + 2, 0.0f, 1.0f);
  }
  TU_OK(clnn_ref_conv2d_fwd(d, p->x, p->w, p->b, p->ref));
  describe(d, bias, p->what, sizeof p->what);
}

static void problem_free(problem *p) {
  free(p->x);
  free(p->w);
  free(p->b);
  free(p->ref);
}

/* Run the device op on ctx with y poisoned first; return y on the host. */
static float *run_device(clnn_context *ctx, const problem *p) {
  const clnn_conv2d_desc *d = &p->d;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->k, d->c / d->groups, d->kh, d->kw};
  int64_t yd[4] = {d->n, d->k, p->oh, p->ow};
  clnn_tensor *x, *w, *b = NULL, *y;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, xd, &x));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, wd, &w));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, yd, &y));
  TU_OK(clnn_tensor_write(x, p->x, p->nx * sizeof(float)));
  TU_OK(clnn_tensor_write(w, p->w, p->nw * sizeof(float)));
  if (p->b) {
    TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &d->k, &b));
    TU_OK(clnn_tensor_write(b, p->b, p->nb * sizeof(float)));
  }
  TU_OK(clnn_tensor_fill(y, NAN));
  clnn_status st = clnn_conv2d_fwd(ctx, d, x, w, b, y);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  float *out = tu_alloc(p->ny);
  TU_OK(clnn_tensor_read(y, out, p->ny * sizeof(float)));
  clnn_tensor_free(x);
  clnn_tensor_free(w);
  clnn_tensor_free(b);
  clnn_tensor_free(y);
  return out;
}

/* Integer data: exact for identity/relu, a float tolerance for smooth activations. */
static double tolerance_for(clnn_activation act) {
  return (act == CLNN_ACT_IDENTITY || act == CLNN_ACT_RELU) ? 0.0 : 1e-6;
}

START_TEST(test_fwd_integer_case) {
  const conv_case *c = &cases[_i];
  clnn_conv2d_desc d = desc_of(c);
  problem p;
  problem_make(&p, &d, c->bias, true, 1000 + (uint64_t)_i);
  float *got = run_device(tu_ctx(), &p);
  double tol = tolerance_for(c->act);
  ck_assert_msg(tu_compare(p.what, got, p.ref, p.ny, tol, tol, NULL), "%s differs from the reference", p.what);
  free(got);
  problem_free(&p);
}
END_TEST

/* Normal floats: tolerance, and two runs must give the same bits. */
START_TEST(test_fwd_float_deterministic) {
  const conv_case *c = &cases[_i];
  clnn_conv2d_desc d = desc_of(c);
  d.act = CLNN_ACT_SILU;
  problem p;
  problem_make(&p, &d, c->bias, false, 2000 + (uint64_t)_i);
  float *got1 = run_device(tu_ctx(), &p);
  float *got2 = run_device(tu_ctx(), &p);
  tu_cmp cmp;
  ck_assert_msg(tu_compare(p.what, got1, p.ref, p.ny, 1e-5, 1e-5, &cmp), "%s differs", p.what);
  ck_assert_msg(cmp.rel_l2_err < 1e-6, "%s: rel L2 %.3g", p.what, cmp.rel_l2_err);
  ck_assert_msg(!memcmp(got1, got2, p.ny * sizeof(float)), "%s: two runs differ", p.what);
  free(got1);
  free(got2);
  problem_free(&p);
}
END_TEST

/* The CLBlast engine (the GPU default) must agree with the reference too. */
START_TEST(test_fwd_clblast_engine) {
  static const int picks[] = {1, 4, 7, 14, 20};
  clnn_context_options o = clnn_context_options_default();
  o.gemm = CLNN_GEMM_CLBLAST;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
    const conv_case *c = &cases[picks[i]];
    clnn_conv2d_desc d = desc_of(c);
    problem p;
    problem_make(&p, &d, c->bias, true, 3000 + i);
    float *got = run_device(ctx, &p);
    ck_assert_msg(tu_compare(p.what, got, p.ref, p.ny, 0.0, 0.0, NULL), "CLBlast engine: %s", p.what);
    free(got);
    problem_free(&p);
  }
  clnn_context_free(ctx);
}
END_TEST

/* A workspace limit that holds one image's patches forces chunking by image. */
START_TEST(test_fwd_chunked_workspace) {
  clnn_conv2d_desc d = clnn_conv2d_desc_make(5, 6, 14, 13, 10, 3, 3);
  d.pad_h = d.pad_w = 1;
  problem p;
  problem_make(&p, &d, 1, true, 4000);
  clnn_context_options o = clnn_context_options_default();
  o.workspace_limit = (size_t)6 * 3 * 3 * (14 * 13 + 31) * sizeof(float) + 64;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  float *got = run_device(ctx, &p);
  ck_assert(tu_compare(p.what, got, p.ref, p.ny, 0.0, 0.0, NULL));
  free(got);
  /* A limit below one image is a clear UNSUPPORTED, not a crash. */
  clnn_context_free(ctx);
  o.workspace_limit = 1024;
  TU_OK(clnn_context_create(&o, &ctx));
  int64_t xd[4] = {5, 6, 14, 13}, wd[4] = {10, 6, 3, 3}, yd[4] = {5, 10, 14, 13};
  clnn_tensor *x, *w, *y;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, xd, &x));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, wd, &w));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, yd, &y));
  if (clnn_context_is_cpu(ctx)) {
    ck_assert_int_eq(clnn_conv2d_fwd(ctx, &d, x, w, NULL, y), CLNN_ERR_UNSUPPORTED);
    ck_assert(strstr(clnn_context_errmsg(ctx), "workspace") != NULL);
  } else { /* the GPU implicit GEMM gathers patches in place: no workspace */
    TU_OK(clnn_conv2d_fwd(ctx, &d, x, w, NULL, y));
  }
  clnn_tensor_free(x);
  clnn_tensor_free(w);
  clnn_tensor_free(y);
  clnn_context_free(ctx);
  problem_free(&p);
}
END_TEST

/* The legacy algorithm names of the chosen variants; on GPU-class devices
 * every pass but depthwise is the GPU implicit GEMM. */
START_TEST(test_algo_choice) {
  clnn_conv_algo a;
  const bool cpu = clnn_context_is_cpu(tu_ctx());
  clnn_conv2d_desc d = clnn_conv2d_desc_make(1, 8, 10, 10, 8, 3, 3);
  TU_OK(clnn_conv2d_fwd_algo(tu_ctx(), &d, &a));
  ck_assert_str_eq(clnn_conv_algo_name(a), "implicit_gemm");
  d.stride_h = 2;
  TU_OK(clnn_conv2d_fwd_algo(tu_ctx(), &d, &a));
  ck_assert_str_eq(clnn_conv_algo_name(a), cpu ? "im2col_gemm" : "implicit_gemm");
  d.stride_h = 1;
  d.groups = 8;
  TU_OK(clnn_conv2d_fwd_algo(tu_ctx(), &d, &a));
  ck_assert_str_eq(clnn_conv_algo_name(a), "depthwise_direct");
  d = clnn_conv2d_desc_make(1, 8, 10, 10, 8, 1, 1);
  TU_OK(clnn_conv2d_fwd_algo(tu_ctx(), &d, &a));
  ck_assert_str_eq(clnn_conv_algo_name(a), cpu ? "gemm_1x1" : "implicit_gemm");
}
END_TEST

/* ------------------------------------------------------------ bad input */

/* Fixture of valid tensors for conv mb2ic4ih8iw8oc6kh3kw3ph1pw1. */
static clnn_tensor *bx, *bw, *bb, *by;
static clnn_conv2d_desc bd;

static void bad_setup(void) {
  bd = clnn_conv2d_desc_make(2, 4, 8, 8, 6, 3, 3);
  bd.pad_h = bd.pad_w = 1;
  int64_t xd[4] = {2, 4, 8, 8}, wd[4] = {6, 4, 3, 3}, bdim[1] = {6}, yd[4] = {2, 6, 8, 8};
  bx = tu_tensor(4, xd, NULL);
  bw = tu_tensor(4, wd, NULL);
  bb = tu_tensor(1, bdim, NULL);
  by = tu_tensor(4, yd, NULL);
  TU_OK(clnn_tensor_fill(bx, 1.0f));
  TU_OK(clnn_tensor_fill(bw, 1.0f));
  TU_OK(clnn_tensor_fill(bb, 1.0f));
  tu_poison(by);
}

static void bad_teardown(void) {
  clnn_tensor_free(bx);
  clnn_tensor_free(bw);
  clnn_tensor_free(bb);
  clnn_tensor_free(by);
}

/* y must still hold its poison: a failed call writes nothing. */
static void assert_untouched(void) {
  TU_OK(clnn_context_finish(tu_ctx()));
  float *y = tu_download(by);
  for (size_t i = 0; i < clnn_tensor_numel(by); i++) ck_assert_msg(isnan(y[i]), "y[%zu] written", i);
  free(y);
}

START_TEST(test_bad_pointers) {
  clnn_context *ctx = tu_ctx();
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_fwd(NULL, &bd, bx, bw, bb, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_fwd(ctx, NULL, bx, bw, bb, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_fwd(ctx, &bd, NULL, bw, bb, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'x'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_fwd(ctx, &bd, bx, NULL, bb, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_fwd(ctx, &bd, bx, bw, bb, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_desc_check(NULL, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_conv2d_fwd(&bd, NULL, NULL, NULL, NULL));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_descriptors) {
  clnn_context *ctx = tu_ctx();
  clnn_conv2d_desc d = bd;
  d.stride_h = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv2d_fwd(ctx, &d, bx, bw, bb, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "stride_h") != NULL);
  d = bd;
  d.pad_w = -1;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv2d_fwd(ctx, &d, bx, bw, bb, by));
  d = bd;
  d.n = -2;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv2d_fwd(ctx, &d, bx, bw, bb, by));
  d = bd;
  d.groups = 3; /* divides neither 4 nor 6 */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv2d_fwd(ctx, &d, bx, bw, bb, by));
  d = bd;
  d.dilation_h = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv2d_fwd(ctx, &d, bx, bw, bb, by));
  d = bd;
  d.act = (clnn_activation)99;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv2d_fwd(ctx, &d, bx, bw, bb, by));
  d = bd;
  d.kh = 11; /* larger than the padded input (10) */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv2d_fwd(ctx, &d, bx, bw, bb, by));
  d = bd;
  d.n = 1 << 20;
  d.c = 1 << 10; /* 2^30 * 64 elements */
  TU_FAILS(CLNN_ERR_SIZE_OVERFLOW, clnn_conv2d_desc_check(&d, NULL, NULL));
  d = bd;
  d.h = (int64_t)1 << 40;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv2d_desc_check(&d, NULL, NULL));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_shapes) {
  clnn_context *ctx = tu_ctx();
  clnn_conv2d_desc d = bd;
  d.c = 5; /* x and w have 4 channels */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv2d_fwd(ctx, &d, bx, bw, bb, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "[2,4,8,8]") != NULL);
  d = bd;
  d.stride_h = 2; /* y should be 4 x 8 */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv2d_fwd(ctx, &d, bx, bw, bb, by));
  /* bias of the wrong length */
  int64_t five = 5;
  clnn_tensor *b5 = tu_tensor(1, &five, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv2d_fwd(ctx, &bd, bx, bw, b5, by));
  clnn_tensor_free(b5);
  /* an int32 tensor where float32 is needed */
  int64_t xd[4] = {2, 4, 8, 8};
  clnn_tensor *xi;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, xd, &xi));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv2d_fwd(ctx, &bd, xi, bw, bb, by));
  clnn_tensor_free(xi);
  assert_untouched();
}
END_TEST

START_TEST(test_bad_aliasing_and_context) {
  clnn_context *ctx = tu_ctx();
  /* y viewing the same memory as x */
  clnn_conv2d_desc d = clnn_conv2d_desc_make(2, 6, 8, 8, 6, 3, 3);
  d.pad_h = d.pad_w = 1;
  int64_t dims[4] = {2, 6, 8, 8}, wd[4] = {6, 6, 3, 3};
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, 2 * 6 * 8 * 8 * sizeof(float), &buf));
  clnn_tensor *x, *y, *w = tu_tensor(4, wd, NULL);
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, dims, &x));
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, dims, &y));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_conv2d_fwd(ctx, &d, x, w, NULL, y));
  clnn_tensor_free(x);
  clnn_tensor_free(y);
  clnn_tensor_free(w);
  clnn_buffer_free(buf);
  /* a tensor of another context */
  clnn_context *other;
  TU_OK(clnn_context_create(NULL, &other));
  int64_t xd[4] = {2, 4, 8, 8};
  clnn_tensor *xo;
  TU_OK(clnn_tensor_create(other, CLNN_FLOAT32, 4, xd, &xo));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_conv2d_fwd(ctx, &bd, xo, bw, bb, by));
  clnn_tensor_free(xo);
  clnn_context_free(other);
  assert_untouched();
}
END_TEST

/* =============================================================== backward */

/* Host data of one backward problem and its reference gradients. */
typedef struct bwd_problem {
  clnn_conv2d_desc d;
  int64_t oh, ow;
  size_t nx, nw, ny, nb;
  float *x, *w, *dy, *dw0, *db0;              /* inputs; dw0, db0: what accumulate adds to */
  float *ref_dx, *ref_dw, *ref_db;            /* overwrite */
  float *ref_dw_acc, *ref_db_acc;             /* accumulate onto dw0, db0 */
  char what[256];
} bwd_problem;

static void bwd_make(bwd_problem *p, const clnn_conv2d_desc *d, bool integers, uint64_t seed) {
  memset(p, 0, sizeof *p);
  p->d = *d;
  TU_OK(clnn_conv2d_desc_check(d, &p->oh, &p->ow));
  p->nx = (size_t)(d->n * d->c * d->h * d->w);
  p->nw = (size_t)(d->k * (d->c / d->groups) * d->kh * d->kw);
  p->ny = (size_t)(d->n * d->k * p->oh * p->ow);
  p->nb = (size_t)d->k;
  p->x = tu_alloc(p->nx);
  p->w = tu_alloc(p->nw);
  p->dy = tu_alloc(p->ny);
  p->dw0 = tu_alloc(p->nw);
  p->db0 = tu_alloc(p->nb);
  if (integers) {
    tu_fill_ints(p->x, p->nx, seed, -3, 3);
    tu_fill_ints(p->w, p->nw, seed + 1, -2, 2);
    tu_fill_ints(p->dy, p->ny, seed + 2, -3, 3);
    tu_fill_ints(p->dw0, p->nw, seed + 3, -5, 5);
    tu_fill_ints(p->db0, p->nb, seed + 4, -5, 5);
  } else {
    tu_fill_normal(p->x, p->nx, seed, 0.0f, 1.0f);
    tu_fill_normal(p->w, p->nw, seed + 1, 0.0f, 1.0f / sqrtf((float)(p->nw / (size_t)d->k)));
    tu_fill_normal(p->dy, p->ny, seed + 2, 0.0f, 1.0f);
    tu_fill_normal(p->dw0, p->nw, seed + 3, 0.0f, 1.0f);
    tu_fill_normal(p->db0, p->nb, seed + 4, 0.0f, 1.0f);
  }
  p->ref_dx = tu_alloc(p->nx);
  p->ref_dw = tu_alloc(p->nw);
  p->ref_db = tu_alloc(p->nb);
  p->ref_dw_acc = tu_alloc(p->nw);
  p->ref_db_acc = tu_alloc(p->nb);
  memcpy(p->ref_dw_acc, p->dw0, p->nw * sizeof(float));
  memcpy(p->ref_db_acc, p->db0, p->nb * sizeof(float));
  TU_OK(clnn_ref_conv2d_bwd_data(d, p->dy, p->w, p->ref_dx));
  TU_OK(clnn_ref_conv2d_bwd_weights(d, p->x, p->dy, p->ref_dw, 0));
  TU_OK(clnn_ref_conv2d_bwd_bias(d, p->dy, p->ref_db, 0));
  TU_OK(clnn_ref_conv2d_bwd_weights(d, p->x, p->dy, p->ref_dw_acc, 1));
  TU_OK(clnn_ref_conv2d_bwd_bias(d, p->dy, p->ref_db_acc, 1));
  describe(d, 1, p->what, sizeof p->what);
  snprintf(p->what + strlen(p->what), sizeof p->what - strlen(p->what), " --pass=bwd");
}

static void bwd_free(bwd_problem *p) {
  float *all[] = {p->x, p->w, p->dy, p->dw0, p->db0, p->ref_dx, p->ref_dw, p->ref_db, p->ref_dw_acc, p->ref_db_acc};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

/* Device gradients of one run. */
typedef struct bwd_result {
  float *dx, *dw, *db;
} bwd_result;

static void bwd_result_free(bwd_result *r) {
  free(r->dx);
  free(r->dw);
  free(r->db);
}

/* Run the three backward ops on ctx; accumulate: start dw, db from dw0, db0
 * (else they are poisoned with NaN, as dx always is). */
static bwd_result bwd_run(clnn_context *ctx, const bwd_problem *p, int accumulate) {
  const clnn_conv2d_desc *d = &p->d;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->k, d->c / d->groups, d->kh, d->kw};
  int64_t yd[4] = {d->n, d->k, p->oh, p->ow};
  clnn_tensor *x, *w, *dy, *dx, *dw, *db;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, xd, &x));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, wd, &w));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, yd, &dy));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, xd, &dx));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, wd, &dw));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, &d->k, &db));
  TU_OK(clnn_tensor_write(x, p->x, p->nx * sizeof(float)));
  TU_OK(clnn_tensor_write(w, p->w, p->nw * sizeof(float)));
  TU_OK(clnn_tensor_write(dy, p->dy, p->ny * sizeof(float)));
  TU_OK(clnn_tensor_fill(dx, NAN));
  if (accumulate) {
    TU_OK(clnn_tensor_write(dw, p->dw0, p->nw * sizeof(float)));
    TU_OK(clnn_tensor_write(db, p->db0, p->nb * sizeof(float)));
  } else {
    TU_OK(clnn_tensor_fill(dw, NAN));
    TU_OK(clnn_tensor_fill(db, NAN));
  }
  clnn_status st = clnn_conv2d_bwd_data(ctx, d, dy, w, dx);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: bwd_data: %s", p->what, clnn_context_errmsg(ctx));
  st = clnn_conv2d_bwd_weights(ctx, d, x, dy, dw, accumulate);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: bwd_weights: %s", p->what, clnn_context_errmsg(ctx));
  st = clnn_conv2d_bwd_bias(ctx, d, dy, db, accumulate);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: bwd_bias: %s", p->what, clnn_context_errmsg(ctx));
  bwd_result r = {tu_alloc(p->nx), tu_alloc(p->nw), tu_alloc(p->nb)};
  TU_OK(clnn_tensor_read(dx, r.dx, p->nx * sizeof(float)));
  TU_OK(clnn_tensor_read(dw, r.dw, p->nw * sizeof(float)));
  TU_OK(clnn_tensor_read(db, r.db, p->nb * sizeof(float)));
  clnn_tensor *all[] = {x, w, dy, dx, dw, db};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
  return r;
}

/* Root mean square of a reference output: the scale of its elements. */
static double rms(const float *v, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
  return n ? sqrt(s / (double)n) : 0.0;
}

/* Compare one output: relative L2 error <= tol, and each element within tol
 * of the output's scale (a long float sum that cancels to a small value
 * keeps the absolute error of its terms). tol 0: exact. */
static void bwd_compare(const char *what, const float *got, const float *ref, size_t n, double tol) {
  ck_assert_msg(tu_compare(what, got, ref, n, tol, tol * rms(ref, n), NULL), "%s differs", what);
}

/* Compare one run with the reference; tol 0 for integer data (exact). */
static void bwd_check(const bwd_problem *p, const bwd_result *r, int accumulate, double tol) {
  char what[300];
  snprintf(what, sizeof what, "%s (dx)", p->what);
  bwd_compare(what, r->dx, p->ref_dx, p->nx, tol);
  snprintf(what, sizeof what, "%s (dw%s)", p->what, accumulate ? ", accumulate" : "");
  bwd_compare(what, r->dw, accumulate ? p->ref_dw_acc : p->ref_dw, p->nw, tol);
  snprintf(what, sizeof what, "%s (db%s)", p->what, accumulate ? ", accumulate" : "");
  bwd_compare(what, r->db, accumulate ? p->ref_db_acc : p->ref_db, p->nb, tol);
}

/* Integer data: every backward path must equal the reference exactly,
 * overwriting poisoned outputs and accumulating onto given ones. */
START_TEST(test_bwd_integer_case) {
  clnn_conv2d_desc d = desc_of(&cases[_i]);
  bwd_problem p;
  bwd_make(&p, &d, true, 5000 + (uint64_t)_i);
  for (int acc = 0; acc <= 1; acc++) {
    bwd_result r = bwd_run(tu_ctx(), &p, acc);
    bwd_check(&p, &r, acc, 0.0);
    bwd_result_free(&r);
  }
  bwd_free(&p);
}
END_TEST

/* Normal floats: tolerance, and two runs must give the same bits. */
START_TEST(test_bwd_float_deterministic) {
  clnn_conv2d_desc d = desc_of(&cases[_i]);
  bwd_problem p;
  bwd_make(&p, &d, false, 6000 + (uint64_t)_i);
  bwd_result r1 = bwd_run(tu_ctx(), &p, 0), r2 = bwd_run(tu_ctx(), &p, 0);
  bwd_check(&p, &r1, 0, 1e-5);
  ck_assert_msg(!memcmp(r1.dx, r2.dx, p.nx * sizeof(float)), "%s: dx of two runs differ", p.what);
  ck_assert_msg(!memcmp(r1.dw, r2.dw, p.nw * sizeof(float)), "%s: dw of two runs differ", p.what);
  ck_assert_msg(!memcmp(r1.db, r2.db, p.nb * sizeof(float)), "%s: db of two runs differ", p.what);
  bwd_result_free(&r1);
  bwd_result_free(&r2);
  bwd_free(&p);
}
END_TEST

/* The internal bwd_data entry point with a bias and an activation (what
 * transposed convolution's forward runs) on every path: implicit GEMM over
 * padded planes and gathered (negative padding), col2im, 1x1 GEMM and
 * depthwise; exact on integers. ReLU, as in the forward cases, so that
 * most programs are shared with them (cold compiles cost test time). */
/* The strided bwd_data cases above run partly through the sub-pixel
 * forward (their results are checked by the cases' tests): make sure the
 * route is really taken by several of them, across strides and groups. */
START_TEST(test_bwd_data_subpixel_route) {
  int routed = 0, strides3 = 0, grouped = 0;
  for (int i = 0; i < N_CASES; i++) {
    clnn_conv2d_desc d = desc_of(&cases[i]);
    if (!clnn__subpixel_bwd_data_applies(tu_ctx(), &d)) continue;
    routed++;
    strides3 += d.stride_h == 3;
    grouped += d.groups > 1;
  }
  ck_assert_msg(routed >= 5 && strides3 >= 1 && grouped >= 2, "sub-pixel bwd_data: %d cases (%d stride 3, %d grouped)",
                routed, strides3, grouped);
  /* 1x1 stride 2 (3 of 4 phases empty) and dilation with stride stay on col2im. */
  clnn_conv2d_desc d = clnn_conv2d_desc_make(2, 8, 15, 13, 8, 1, 1);
  d.stride_h = d.stride_w = 2;
  ck_assert(!clnn__subpixel_bwd_data_applies(tu_ctx(), &d));
  d = clnn_conv2d_desc_make(2, 8, 13, 11, 16, 3, 3);
  d.stride_h = d.stride_w = d.dilation_h = d.dilation_w = d.groups = 2;
  ck_assert(!clnn__subpixel_bwd_data_applies(tu_ctx(), &d));
}
END_TEST

START_TEST(test_bwd_data_epilogue) {
  static const int picks[] = {0, 1, 3, 8, 25};
  clnn_context *ctx = tu_ctx();
  for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
    clnn_conv2d_desc d = desc_of(&cases[picks[i]]);
    bwd_problem p;
    bwd_make(&p, &d, true, 9500 + i);
    float *bias = tu_alloc((size_t)d.c), *want = tu_alloc(p.nx);
    tu_fill_ints(bias, (size_t)d.c, 9600 + i, -4, 4);
    size_t plane = (size_t)(d.h * d.w);
    for (size_t e = 0; e < p.nx; e++) {
      float v = p.ref_dx[e] + bias[(e / plane) % (size_t)d.c];
      want[e] = v < 0 ? 0.0f : v;
    }
    int64_t xd[4] = {d.n, d.c, d.h, d.w}, wd[4] = {d.k, d.c / d.groups, d.kh, d.kw}, yd[4] = {d.n, d.k, p.oh, p.ow};
    clnn_tensor *w = tu_tensor(4, wd, p.w), *dy = tu_tensor(4, yd, p.dy), *b = tu_tensor(1, &d.c, bias);
    clnn_tensor *dx = tu_tensor(4, xd, NULL);
    tu_poison(dx);
    TU_OK(clnn__conv2d_bwd_data_run(ctx, &d, clnn__conv_mem(dy), clnn__conv_mem(w), clnn__conv_mem(b),
                                    CLNN_ACT_RELU, 0.0f, clnn__conv_mem(dx)));
    float *got = tu_download(dx);
    char what[300];
    snprintf(what, sizeof what, "%s (relu(dx + bias), algo %s)", p.what,
             clnn_conv_algo_name(clnn__conv2d_bwd_data_algo(ctx, &d)));
    ck_assert_msg(tu_compare(what, got, want, p.nx, 0.0, 0.0, NULL), "%s differs", what);
    free(got);
    free(bias);
    free(want);
    clnn_tensor *all[] = {w, dy, b, dx};
    for (size_t t = 0; t < 4; t++) clnn_tensor_free(all[t]);
    bwd_free(&p);
  }
}
END_TEST

/* ------------------------------------------- reference by finite differences */

/* loss(x, w, b) = sum((conv(x, w) + b) * dy) in double: its gradients are the backward passes. */
typedef struct fd_problem {
  clnn_conv2d_desc d;
  size_t nx, nw, ny;
  double *x, *w, *b, *dy, *y;
} fd_problem;

static double fd_loss(void *vp) {
  fd_problem *p = vp;
  ck_assert_int_eq(clnn__ref_conv2d_fwd_f64(&p->d, p->x, p->w, p->b, p->y), CLNN_SUCCESS);
  double s = 0.0;
  for (size_t i = 0; i < p->ny; i++) s += p->y[i] * p->dy[i];
  return s;
}

START_TEST(test_ref_bwd_finite_differences) {
  /* Small shapes covering stride, padding, dilation, groups, depthwise with a
   * multiplier, 1x1 stride 2 and padding beyond the kernel. */
  static const conv_case fd_cases[] = {
      {2, 4, 7, 6, 6, 3, 3, 2, 1, 1, 2, 2, 1, 2, 1, CLNN_ACT_IDENTITY},
      {1, 3, 6, 7, 6, 3, 2, 1, 2, 1, 0, 1, 2, 3, 1, CLNN_ACT_IDENTITY},
      {2, 3, 5, 5, 2, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1, CLNN_ACT_IDENTITY},
      {1, 2, 4, 4, 3, 3, 3, 1, 1, 3, 3, 1, 1, 1, 1, CLNN_ACT_IDENTITY},
  };
  for (size_t ci = 0; ci < sizeof fd_cases / sizeof fd_cases[0]; ci++) {
    fd_problem p;
    p.d = desc_of(&fd_cases[ci]);
    int64_t oh, ow;
    TU_OK(clnn_conv2d_desc_check(&p.d, &oh, &ow));
    p.nx = (size_t)(p.d.n * p.d.c * p.d.h * p.d.w);
    p.nw = (size_t)(p.d.k * (p.d.c / p.d.groups) * p.d.kh * p.d.kw);
    p.ny = (size_t)(p.d.n * p.d.k * oh * ow);
    p.x = tu_normal_f64(p.nx, 100 + ci);
    p.w = tu_normal_f64(p.nw, 200 + ci);
    p.b = tu_normal_f64((size_t)p.d.k, 300 + ci);
    p.dy = tu_normal_f64(p.ny, 400 + ci);
    p.y = tu_normal_f64(p.ny, 500 + ci);
    double *gx = tu_normal_f64(p.nx, 1), *gw = tu_normal_f64(p.nw, 2), *gb = tu_normal_f64((size_t)p.d.k, 3);
    clnn_conv2d_desc with_act = p.d; /* the backward ignores the activation */
    with_act.act = CLNN_ACT_SILU;
    TU_OK(clnn__ref_conv2d_bwd_data_f64(&with_act, p.dy, p.w, gx));
    TU_OK(clnn__ref_conv2d_bwd_weights_f64(&with_act, p.x, p.dy, gw));
    TU_OK(clnn__ref_conv2d_bwd_bias_f64(&with_act, p.dy, gb));
    ck_assert(tu_fd_check("ref bwd_data", fd_loss, &p, p.x, p.nx, gx, 1e-3, 1e-8));
    ck_assert(tu_fd_check("ref bwd_weights", fd_loss, &p, p.w, p.nw, gw, 1e-3, 1e-8));
    ck_assert(tu_fd_check("ref bwd_bias", fd_loss, &p, p.b, (size_t)p.d.k, gb, 1e-3, 1e-8));
    double *all[] = {p.x, p.w, p.b, p.dy, p.y, gx, gw, gb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
  }
}
END_TEST

/* The CLBlast engine takes the GEMM paths of the backward passes. */
START_TEST(test_bwd_clblast_engine) {
  static const int picks[] = {1, 4, 5, 7, 14, 25};
  clnn_context_options o = clnn_context_options_default();
  o.gemm = CLNN_GEMM_CLBLAST;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
    clnn_conv2d_desc d = desc_of(&cases[picks[i]]);
    bwd_problem p;
    bwd_make(&p, &d, true, 7000 + i);
    for (int acc = 0; acc <= 1; acc++) {
      bwd_result r = bwd_run(ctx, &p, acc);
      bwd_check(&p, &r, acc, 0.0);
      bwd_result_free(&r);
    }
    bwd_free(&p);
  }
  clnn_context_free(ctx);
}
END_TEST

/* Small workspace limits split the work into chunks of images (and, for the
 * weight gradient, fewer partial-sum slots); results must not change. */
START_TEST(test_bwd_chunked_workspace) {
  static const conv_case chunk_cases[] = {
      {5, 6, 14, 13, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, CLNN_ACT_IDENTITY}, /* padded planes */
      {5, 6, 14, 13, 10, 3, 3, 2, 2, 1, 1, 1, 1, 2, 1, CLNN_ACT_IDENTITY}, /* col2im, gathered patches */
  };
  for (int engine = 0; engine < 2; engine++) {
    clnn_context_options o = clnn_context_options_default();
    o.gemm = engine ? CLNN_GEMM_CLBLAST : CLNN_GEMM_OWN;
    o.workspace_limit = 48 << 10; /* a couple of images' scratch at most */
    clnn_context *ctx;
    TU_OK(clnn_context_create(&o, &ctx));
    for (size_t ci = 0; ci < sizeof chunk_cases / sizeof chunk_cases[0]; ci++) {
      clnn_conv2d_desc d = desc_of(&chunk_cases[ci]);
      bwd_problem p;
      bwd_make(&p, &d, true, 8000 + ci);
      bwd_result r = bwd_run(ctx, &p, 1);
      bwd_check(&p, &r, 1, 0.0);
      bwd_result_free(&r);
      bwd_free(&p);
    }
    clnn_context_free(ctx);
  }
  /* Below one image: a clear UNSUPPORTED, nothing written. */
  clnn_conv2d_desc d = desc_of(&chunk_cases[0]);
  clnn_context_options o = clnn_context_options_default();
  o.workspace_limit = 1024;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  int64_t xd[4] = {5, 6, 14, 13}, wd[4] = {10, 6, 3, 3}, yd[4] = {5, 10, 14, 13};
  clnn_tensor *x, *w, *dy;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, xd, &x));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, wd, &w));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, yd, &dy));
  ck_assert_int_eq(clnn_conv2d_bwd_weights(ctx, &d, x, dy, w, 0), CLNN_ERR_UNSUPPORTED);
  ck_assert(strstr(clnn_context_errmsg(ctx), "workspace") != NULL);
  /* bwd_data: CPU variants pad or gather into the workspace; the GPU one
   * needs only the transposed weights (540 floats, over the 1 KiB too). */
  ck_assert_int_eq(clnn_conv2d_bwd_data(ctx, &d, dy, w, x), CLNN_ERR_UNSUPPORTED);
  clnn_tensor_free(x);
  clnn_tensor_free(w);
  clnn_tensor_free(dy);
  clnn_context_free(ctx);
}
END_TEST

/* ------------------------------------------------- clnn-bench R mode, backward */

/* R mode reads x, w, dy (b.npy only says there is a bias) and writes dx, dw, db. */
START_TEST(test_bwd_bench_r_mode) {
  rm_dir dir;
  if (!rm_open(&dir)) return;
  const char *desc = "conv mb2ic8ih13iw11oc16kh3kw3sh2sw2ph1pw1dh2dw2g2";
  clnn_conv2d_desc d = desc_of(&cases[1]); /* the same problem */
  bwd_problem p;
  bwd_make(&p, &d, false, 9000);
  int64_t xd[4] = {d.n, d.c, d.h, d.w}, wd[4] = {d.k, d.c / d.groups, d.kh, d.kw}, yd[4] = {d.n, d.k, p.oh, p.ow};
  rm_write(&dir, "x", CLNN_FLOAT32, 4, xd, p.x);
  rm_write(&dir, "w", CLNN_FLOAT32, 4, wd, p.w);
  rm_write(&dir, "dy", CLNN_FLOAT32, 4, yd, p.dy);
  rm_write(&dir, "b", CLNN_FLOAT32, 1, &d.k, p.db0); /* values unused: it marks the bias */
  rm_run(&dir, "bwd", desc);
  float *dx = rm_read(&dir, "dx", CLNN_FLOAT32, p.nx), *dw = rm_read(&dir, "dw", CLNN_FLOAT32, p.nw),
        *db = rm_read(&dir, "db", CLNN_FLOAT32, p.nb);
  bwd_compare("R mode dx", dx, p.ref_dx, p.nx, 1e-5);
  bwd_compare("R mode dw", dw, p.ref_dw, p.nw, 1e-5);
  bwd_compare("R mode db", db, p.ref_db, p.nb, 1e-5);
  free(dx);
  free(dw);
  free(db);
  /* Without b.npy: bwd_w writes dw only; bwd_d needs no x.npy. */
  rm_remove(&dir, "b");
  rm_remove(&dir, "db");
  rm_remove(&dir, "dw");
  rm_run(&dir, "bwd_w", desc);
  ck_assert_ptr_null(rm_read_opt(&dir, "db", CLNN_FLOAT32, p.nb));
  dw = rm_read(&dir, "dw", CLNN_FLOAT32, p.nw);
  bwd_compare("R mode bwd_w dw", dw, p.ref_dw, p.nw, 1e-5);
  free(dw);
  rm_remove(&dir, "x");
  rm_remove(&dir, "dx");
  rm_run(&dir, "bwd_d", desc);
  dx = rm_read(&dir, "dx", CLNN_FLOAT32, p.nx);
  bwd_compare("R mode bwd_d dx", dx, p.ref_dx, p.nx, 1e-5);
  free(dx);
  /* A dy of the wrong shape is a usage error (exit 2). */
  int64_t yd_bad[4] = {d.n, d.k, p.oh, p.ow + 1};
  float *junk = tu_alloc(p.ny + (size_t)(d.n * d.k * p.oh));
  memset(junk, 0, (p.ny + (size_t)(d.n * d.k * p.oh)) * sizeof(float));
  rm_write(&dir, "dy", CLNN_FLOAT32, 4, yd_bad, junk);
  free(junk);
  ck_assert_int_eq(rm_run_status(&dir, "bwd_d", desc), 2);
  bwd_free(&p);
  rm_close(&dir);
}
END_TEST

START_TEST(test_bwd_algo_choice) {
  clnn_context *ctx = tu_ctx();
  bool cpu = clnn_context_is_cpu(ctx);
  clnn_conv_algo a;
  clnn_conv2d_desc d = clnn_conv2d_desc_make(1, 8, 10, 10, 8, 3, 3);
  TU_OK(clnn_conv2d_bwd_data_algo(ctx, &d, &a));
  ck_assert_str_eq(clnn_conv_algo_name(a), "implicit_gemm");
  TU_OK(clnn_conv2d_bwd_weights_algo(ctx, &d, &a));
  ck_assert_str_eq(clnn_conv_algo_name(a), "implicit_gemm");
  d.stride_h = 2;
  TU_OK(clnn_conv2d_bwd_data_algo(ctx, &d, &a));
  ck_assert_str_eq(clnn_conv_algo_name(a), cpu ? "im2col_gemm" : "implicit_gemm");
  TU_OK(clnn_conv2d_bwd_weights_algo(ctx, &d, &a));
  ck_assert_str_eq(clnn_conv_algo_name(a), cpu ? "im2col_gemm" : "implicit_gemm");
  d.groups = 8;
  TU_OK(clnn_conv2d_bwd_data_algo(ctx, &d, &a));
  ck_assert_str_eq(clnn_conv_algo_name(a), "depthwise_direct");
  TU_OK(clnn_conv2d_bwd_weights_algo(ctx, &d, &a));
  ck_assert_str_eq(clnn_conv_algo_name(a), "depthwise_direct");
  d = clnn_conv2d_desc_make(1, 8, 10, 10, 8, 1, 1);
  TU_OK(clnn_conv2d_bwd_data_algo(ctx, &d, &a));
  ck_assert_str_eq(clnn_conv_algo_name(a), cpu ? "gemm_1x1" : "implicit_gemm");
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_bwd_data_algo(ctx, &d, NULL));
  d.kh = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv2d_bwd_weights_algo(ctx, &d, &a));
}
END_TEST

/* ------------------------------------------------------ backward bad input */

/* Fixture: conv mb2ic4ih8iw8oc6kh3kw3ph1pw1 with valid tensors, the outputs poisoned. */
static clnn_tensor *gx, *gw, *gdy, *gdx, *gdw, *gdb;

static void bwd_bad_setup(void) {
  bad_setup(); /* bd, bx, bw, bb, by */
  int64_t xd[4] = {2, 4, 8, 8}, wd[4] = {6, 4, 3, 3}, yd[4] = {2, 6, 8, 8}, k = 6;
  gx = bx;
  gw = bw;
  gdy = tu_tensor(4, yd, NULL);
  TU_OK(clnn_tensor_fill(gdy, 1.0f));
  gdx = tu_tensor(4, xd, NULL);
  gdw = tu_tensor(4, wd, NULL);
  gdb = tu_tensor(1, &k, NULL);
  tu_poison(gdx);
  tu_poison(gdw);
  tu_poison(gdb);
}

static void bwd_bad_teardown(void) {
  clnn_tensor_free(gdy);
  clnn_tensor_free(gdx);
  clnn_tensor_free(gdw);
  clnn_tensor_free(gdb);
  bad_teardown();
}

/* The gradient outputs must still hold their poison. */
static void assert_grads_untouched(void) {
  clnn_tensor *outs[] = {gdx, gdw, gdb};
  tu_assert_poisoned(outs, sizeof outs / sizeof outs[0]);
}

START_TEST(test_bwd_bad_pointers) {
  clnn_context *ctx = tu_ctx();
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_bwd_data(NULL, &bd, gdy, gw, gdx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_bwd_data(ctx, NULL, gdy, gw, gdx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_bwd_data(ctx, &bd, NULL, gw, gdx));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dy'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_bwd_data(ctx, &bd, gdy, NULL, gdx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_bwd_data(ctx, &bd, gdy, gw, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_bwd_weights(ctx, &bd, NULL, gdy, gdw, 0));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_bwd_weights(ctx, &bd, gx, NULL, gdw, 0));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_bwd_weights(ctx, &bd, gx, gdy, NULL, 0));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dw'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_bwd_bias(ctx, &bd, NULL, gdb, 0));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_bwd_bias(ctx, &bd, gdy, NULL, 0));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv2d_bwd_bias(NULL, &bd, gdy, gdb, 0));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_conv2d_bwd_data(&bd, NULL, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_conv2d_bwd_weights(&bd, NULL, NULL, NULL, 0));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_conv2d_bwd_bias(&bd, NULL, NULL, 0));
  assert_grads_untouched();
}
END_TEST

START_TEST(test_bwd_bad_shapes_and_values) {
  clnn_context *ctx = tu_ctx();
  /* dy of the wrong shape: the forward output is 2 x 6 x 8 x 8. */
  int64_t yd_bad[4] = {2, 6, 8, 7};
  clnn_tensor *dy_bad = tu_tensor(4, yd_bad, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv2d_bwd_data(ctx, &bd, dy_bad, gw, gdx));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dy'") && strstr(clnn_context_errmsg(ctx), "[2,6,8,8]"));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv2d_bwd_weights(ctx, &bd, gx, dy_bad, gdw, 0));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv2d_bwd_bias(ctx, &bd, dy_bad, gdb, 0));
  clnn_tensor_free(dy_bad);
  /* dw of the wrong shape (groups 2 would need 6 x 2 x 3 x 3) */
  clnn_conv2d_desc d = bd;
  d.groups = 2;
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv2d_bwd_weights(ctx, &d, gx, gdy, gdw, 0));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dw'") != NULL);
  /* dx of the wrong shape, db of the wrong length */
  int64_t xd_bad[4] = {2, 4, 8, 9}, five = 5;
  clnn_tensor *dx_bad = tu_tensor(4, xd_bad, NULL), *db_bad = tu_tensor(1, &five, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv2d_bwd_data(ctx, &bd, gdy, gw, dx_bad));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv2d_bwd_bias(ctx, &bd, gdy, db_bad, 0));
  clnn_tensor_free(dx_bad);
  clnn_tensor_free(db_bad);
  /* accumulate must be 0 or 1 */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv2d_bwd_weights(ctx, &bd, gx, gdy, gdw, 2));
  ck_assert(strstr(clnn_context_errmsg(ctx), "accumulate") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv2d_bwd_bias(ctx, &bd, gdy, gdb, -1));
  float host[6];
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_ref_conv2d_bwd_bias(&bd, host, host, 3));
  /* bad descriptors */
  d = bd;
  d.stride_w = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv2d_bwd_data(ctx, &d, gdy, gw, gdx));
  d = bd;
  d.kh = 11;
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv2d_bwd_weights(ctx, &d, gx, gdy, gdw, 0));
  /* int32 where float32 is needed */
  int64_t yd[4] = {2, 6, 8, 8};
  clnn_tensor *dyi;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, yd, &dyi));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv2d_bwd_bias(ctx, &bd, dyi, gdb, 0));
  clnn_tensor_free(dyi);
  assert_grads_untouched();
}
END_TEST

START_TEST(test_bwd_bad_aliasing_and_context) {
  clnn_context *ctx = tu_ctx();
  /* dx viewing dy's memory (same shapes when c == k and stride 1) */
  clnn_conv2d_desc d = clnn_conv2d_desc_make(2, 6, 8, 8, 6, 3, 3);
  d.pad_h = d.pad_w = 1;
  int64_t dims[4] = {2, 6, 8, 8}, wd[4] = {6, 6, 3, 3};
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, 2 * 6 * 8 * 8 * sizeof(float), &buf));
  clnn_tensor *a, *b2, *w = tu_tensor(4, wd, NULL);
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, dims, &a));
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, dims, &b2));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_conv2d_bwd_data(ctx, &d, a, w, b2));
  /* dw overlapping x */
  clnn_tensor *wv, *dy = tu_tensor(4, dims, NULL);
  TU_OK(clnn_tensor_view(buf, 64, CLNN_FLOAT32, 4, wd, &wv));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_conv2d_bwd_weights(ctx, &d, a, dy, wv, 0));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dw'") && strstr(clnn_context_errmsg(ctx), "'x'"));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_conv2d_bwd_weights(ctx, &d, dy, a, wv, 0));
  clnn_tensor_free(dy);
  int64_t six = 6;
  clnn_tensor *dbv;
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 1, &six, &dbv));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_conv2d_bwd_bias(ctx, &d, a, dbv, 1));
  clnn_tensor_free(a);
  clnn_tensor_free(b2);
  clnn_tensor_free(wv);
  clnn_tensor_free(dbv);
  clnn_tensor_free(w);
  clnn_buffer_free(buf);
  /* a tensor of another context */
  clnn_context *other;
  TU_OK(clnn_context_create(NULL, &other));
  int64_t yd[4] = {2, 6, 8, 8};
  clnn_tensor *dyo;
  TU_OK(clnn_tensor_create(other, CLNN_FLOAT32, 4, yd, &dyo));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_conv2d_bwd_data(ctx, &bd, dyo, gw, gdx));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_conv2d_bwd_weights(ctx, &bd, gx, dyo, gdw, 0));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_conv2d_bwd_bias(ctx, &bd, dyo, gdb, 0));
  clnn_tensor_free(dyo);
  clnn_context_free(other);
  assert_grads_untouched();
}
END_TEST


/* A batch of 0, as torch takes it: y and dx are empty, dw and db are sums
 * over no image (0, or unchanged when accumulating), on the device and in
 * the reference. */
START_TEST(test_empty_batch) {
  clnn_context *ctx = tu_ctx();
  clnn_conv2d_desc d = clnn_conv2d_desc_make(0, 4, 6, 5, 6, 3, 3);
  d.pad_h = d.pad_w = 1;
  d.groups = 2;
  d.act = CLNN_ACT_RELU;
  int64_t oh, ow;
  TU_OK(clnn_conv2d_desc_check(&d, &oh, &ow));
  int64_t xd[4] = {0, 4, 6, 5}, wd[4] = {6, 2, 3, 3}, bd[1] = {6}, yd[4] = {0, 6, oh, ow};
  clnn_tensor *x = tu_tensor(4, xd, NULL), *w = tu_tensor(4, wd, NULL), *b = tu_tensor(1, bd, NULL);
  clnn_tensor *y = tu_tensor(4, yd, NULL), *dx = tu_tensor(4, xd, NULL), *dw = tu_tensor(4, wd, NULL);
  clnn_tensor *db = tu_tensor(1, bd, NULL);
  tu_poison(w);
  TU_OK(clnn_conv2d_fwd(ctx, &d, x, w, b, y));
  TU_OK(clnn_conv2d_bwd_data(ctx, &d, y, w, dx));
  tu_poison(dw);
  tu_poison(db);
  TU_OK(clnn_conv2d_bwd_weights(ctx, &d, x, y, dw, 0));
  TU_OK(clnn_conv2d_bwd_bias(ctx, &d, y, db, 0));
  tu_assert_zero("dw", dw);
  tu_assert_zero("db", db);
  TU_OK(clnn_conv2d_bwd_weights(ctx, &d, x, y, dw, 1));
  tu_assert_zero("dw (accumulated)", dw);
  float dummy = 0.0f, hw[6 * 2 * 9], hb[6];
  for (int i = 0; i < 6 * 2 * 9; i++) hw[i] = NAN;
  for (int i = 0; i < 6; i++) hb[i] = NAN;
  TU_OK(clnn_ref_conv2d_fwd(&d, &dummy, hw, hb, &dummy));
  TU_OK(clnn_ref_conv2d_bwd_weights(&d, &dummy, &dummy, hw, 0));
  TU_OK(clnn_ref_conv2d_bwd_bias(&d, &dummy, hb, 0));
  for (int i = 0; i < 6 * 2 * 9; i++) ck_assert(hw[i] == 0.0f);
  for (int i = 0; i < 6; i++) ck_assert(hb[i] == 0.0f);
  clnn_tensor *all[] = {x, w, b, y, dx, dw, db};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
}
END_TEST

/* ========================================================= half precision */

/*
 * Every case in float16 and bfloat16: inputs drawn as floats and rounded to
 * the type, the reference computed on the rounded inputs (in double), the
 * device outputs poisoned with NaN first and compared element by element
 * (tu_check_half: one unit of the type plus abs_tol, NaN and infinities
 * exactly) and by the type's relative L2 bar (host/ref.h). The device sums
 * in float32 where the reference sums in double: abs_tol allows that
 * difference, 1e-4 of the output's scale, far below a half unit there.
 */

/* abs_tol of tu_check_half: 1e-4 of the root mean square of the finite
 * reference values (the specials' NaN and infinities left out). */
static double half_tol(const float *ref, size_t n) {
  double s = 0.0;
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (isfinite(ref[i])) {
      s += (double)ref[i] * ref[i];
      m++;
    }
  return m ? 1e-4 * sqrt(s / (double)m) : 0.0;
}

/* One half problem: the float problem's host data rounded to dt. */
typedef struct half_problem {
  bwd_problem b;  /* x, w, dy, dw0, db0 rounded; backward references */
  float *bias;    /* rounded (NULL without bias) */
  float *ref_y;   /* forward reference */
  clnn_dtype dt;
} half_problem;

/* Round the inputs to dt and compute every reference on them. */
static void half_refs(half_problem *h) {
  bwd_problem *p = &h->b;
  const clnn_conv2d_desc *d = &p->d;
  float *in[] = {p->x, p->w, p->dy, p->dw0, p->db0};
  size_t n[] = {p->nx, p->nw, p->ny, p->nw, p->nb};
  for (size_t i = 0; i < 5; i++) tu_round_to(h->dt, in[i], n[i]);
  if (h->bias) tu_round_to(h->dt, h->bias, p->nb);
  memcpy(p->ref_dw_acc, p->dw0, p->nw * sizeof(float));
  memcpy(p->ref_db_acc, p->db0, p->nb * sizeof(float));
  TU_OK(clnn_ref_conv2d_fwd(d, p->x, p->w, h->bias, h->ref_y));
  TU_OK(clnn_ref_conv2d_bwd_data(d, p->dy, p->w, p->ref_dx));
  TU_OK(clnn_ref_conv2d_bwd_weights(d, p->x, p->dy, p->ref_dw, 0));
  TU_OK(clnn_ref_conv2d_bwd_bias(d, p->dy, p->ref_db, 0));
  TU_OK(clnn_ref_conv2d_bwd_weights(d, p->x, p->dy, p->ref_dw_acc, 1));
  TU_OK(clnn_ref_conv2d_bwd_bias(d, p->dy, p->ref_db_acc, 1));
}

static void half_make(half_problem *h, const conv_case *c, clnn_dtype dt, uint64_t seed) {
  clnn_conv2d_desc d = desc_of(c);
  if (d.act == CLNN_ACT_IDENTITY) d.act = CLNN_ACT_SILU; /* the fused epilogue in every case */
  bwd_make(&h->b, &d, false, seed);
  h->dt = dt;
  h->bias = NULL;
  if (c->bias) {
    h->bias = tu_alloc(h->b.nb);
    tu_fill_normal(h->bias, h->b.nb, seed + 5, 0.0f, 1.0f);
  }
  h->ref_y = tu_alloc(h->b.ny);
  snprintf(h->b.what + strlen(h->b.what), sizeof h->b.what - strlen(h->b.what), " dt=%s",
           dt == CLNN_FLOAT16 ? "f16" : "bf16");
}

static void half_free(half_problem *h) {
  bwd_free(&h->b);
  free(h->bias);
  free(h->ref_y);
}

/* Device results of every pass of one half problem. */
typedef struct half_result {
  float *y, *dx, *dw, *db, *dw_acc, *db_acc;
} half_result;

static void half_result_free(half_result *r) {
  float *all[] = {r->y, r->dx, r->dw, r->db, r->dw_acc, r->db_acc};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

/* A tensor of type dt on ctx, uploaded from host unless NULL. */
static clnn_tensor *ctx_tensor(clnn_context *ctx, clnn_dtype dt, int ndim, const int64_t *dims, const float *host) {
  clnn_tensor *t = NULL;
  TU_OK(clnn_tensor_create(ctx, dt, ndim, dims, &t));
  if (host) TU_OK(clnn_tensor_write_f32(t, host, clnn_tensor_numel(t)));
  return t;
}

/* Run the four passes on ctx in type dt (h's, or float32 on h's rounded
 * inputs): outputs poisoned first, then the weight and bias gradients once
 * more accumulating onto dw0 and db0. */
static half_result half_run_as(clnn_context *ctx, const half_problem *h, clnn_dtype dt) {
  const bwd_problem *p = &h->b;
  const clnn_conv2d_desc *d = &p->d;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->k, d->c / d->groups, d->kh, d->kw};
  int64_t yd[4] = {d->n, d->k, p->oh, p->ow};
  clnn_tensor *x = ctx_tensor(ctx, dt, 4, xd, p->x), *w = ctx_tensor(ctx, dt, 4, wd, p->w);
  clnn_tensor *b = h->bias ? ctx_tensor(ctx, dt, 1, &d->k, h->bias) : NULL;
  clnn_tensor *dy = ctx_tensor(ctx, dt, 4, yd, p->dy);
  clnn_tensor *y = ctx_tensor(ctx, dt, 4, yd, NULL), *dx = ctx_tensor(ctx, dt, 4, xd, NULL);
  clnn_tensor *dw = ctx_tensor(ctx, dt, 4, wd, NULL), *db = ctx_tensor(ctx, dt, 1, &d->k, NULL);
  clnn_tensor *outs[] = {y, dx, dw, db};
  for (size_t i = 0; i < 4; i++) tu_poison(outs[i]);
  half_result r;
  ck_assert_msg(clnn_conv2d_fwd(ctx, d, x, w, b, y) == CLNN_SUCCESS, "%s fwd: %s", p->what, clnn_context_errmsg(ctx));
  ck_assert_msg(clnn_conv2d_bwd_data(ctx, d, dy, w, dx) == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  ck_assert_msg(clnn_conv2d_bwd_weights(ctx, d, x, dy, dw, 0) == CLNN_SUCCESS, "%s: %s", p->what,
                clnn_context_errmsg(ctx));
  ck_assert_msg(clnn_conv2d_bwd_bias(ctx, d, dy, db, 0) == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  r.y = tu_download_f32(y);
  r.dx = tu_download_f32(dx);
  r.dw = tu_download_f32(dw);
  r.db = tu_download_f32(db);
  TU_OK(clnn_tensor_write_f32(dw, p->dw0, p->nw));
  TU_OK(clnn_tensor_write_f32(db, p->db0, p->nb));
  ck_assert_msg(clnn_conv2d_bwd_weights(ctx, d, x, dy, dw, 1) == CLNN_SUCCESS, "%s: %s", p->what,
                clnn_context_errmsg(ctx));
  ck_assert_msg(clnn_conv2d_bwd_bias(ctx, d, dy, db, 1) == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  r.dw_acc = tu_download_f32(dw);
  r.db_acc = tu_download_f32(db);
  clnn_tensor *all[] = {x, w, b, dy, y, dx, dw, db};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
  return r;
}

static half_result half_run(clnn_context *ctx, const half_problem *h) { return half_run_as(ctx, h, h->dt); }

/* Every output against its reference (tu_check_half). */
static void half_check(const half_problem *h, const half_result *r) {
  const bwd_problem *p = &h->b;
  struct {
    const char *pass;
    const float *got, *ref;
    size_t n;
  } outs[] = {{"fwd y", r->y, h->ref_y, p->ny},
              {"bwd_data dx", r->dx, p->ref_dx, p->nx},
              {"bwd_weights dw", r->dw, p->ref_dw, p->nw},
              {"bwd_bias db", r->db, p->ref_db, p->nb},
              {"bwd_weights dw (accumulate)", r->dw_acc, p->ref_dw_acc, p->nw},
              {"bwd_bias db (accumulate)", r->db_acc, p->ref_db_acc, p->nb}};
  for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++)
    tu_check_half(p->what, outs[i].pass, outs[i].got, outs[i].ref, outs[i].n, h->dt,
                  half_tol(outs[i].ref, outs[i].n));
}

/* Two runs give the same bits (NaN included: compared as bytes). */
static void half_same(const half_problem *h, const half_result *a, const half_result *b) {
  const bwd_problem *p = &h->b;
  ck_assert_msg(!memcmp(a->y, b->y, p->ny * sizeof(float)), "%s: two forward runs differ", p->what);
  ck_assert_msg(!memcmp(a->dx, b->dx, p->nx * sizeof(float)), "%s: two bwd_data runs differ", p->what);
  ck_assert_msg(!memcmp(a->dw, b->dw, p->nw * sizeof(float)), "%s: two bwd_weights runs differ", p->what);
  ck_assert_msg(!memcmp(a->db, b->db, p->nb * sizeof(float)), "%s: two bwd_bias runs differ", p->what);
}

/* Case _i / 2 in float16 (even _i) or bfloat16 (odd), every pass; every
 * fourth case twice, bit-identical. */
START_TEST(test_half_case) {
  const conv_case *c = &cases[_i / 2];
  half_problem h;
  half_make(&h, c, tu_half_types[_i % 2], 5000 + (uint64_t)_i);
  half_refs(&h);
  half_result r = half_run(tu_ctx(), &h);
  half_check(&h, &r);
  if ((_i / 2) % 4 == 0) {
    half_result again = half_run(tu_ctx(), &h);
    half_same(&h, &r, &again);
    half_result_free(&again);
  }
  half_result_free(&r);
  half_free(&h);
}
END_TEST

/*
 * Special values: NaN, +-inf and values whose products overflow float16 (not
 * bfloat16) in x and dy; they must reach the outputs as the reference's do.
 * w stays finite: a padded variant multiplies its zero padding by w, which
 * the reference skips (0 * inf would be a NaN only the device makes); for
 * the same reason the weight gradient, which multiplies x's zero padding by
 * dy, is checked with the specials in x only.
 */
START_TEST(test_half_specials) {
  static const int which[] = {0, 1, 3, 5, 8, 9, 14, 32, 36};
  static const float specials[] = {NAN, INFINITY, -INFINITY, 300.0f, -300.0f, 65504.0f};
  const int ns = (int)(sizeof specials / sizeof specials[0]);
  for (int t = 0; t < TU_N_HALF_TYPES; t++)
    for (size_t k = 0; k < sizeof which / sizeof which[0]; k++) {
      half_problem h;
      half_make(&h, &cases[which[k]], tu_half_types[t], 6000 + (uint64_t)(t * 32 + k));
      bwd_problem *p = &h.b;
      for (size_t i = 0; i < p->nx; i += 7) p->x[i] = specials[(i / 7) % (size_t)ns];
      for (size_t i = 3; i < p->ny; i += 11) p->dy[i] = specials[(i / 11 + 1) % (size_t)ns];
      for (size_t i = 0; i < p->nw; i++) p->w[i] *= 200.0f; /* large products: float16 overflows */
      half_refs(&h);
      half_result r = half_run(tu_ctx(), &h);
      /* forward, bwd_data, bias: every special */
      tu_check_half(p->what, "fwd y (specials)", r.y, h.ref_y, p->ny, h.dt, half_tol(h.ref_y, p->ny));
      tu_check_half(p->what, "bwd_data dx (specials)", r.dx, p->ref_dx, p->nx, h.dt, half_tol(p->ref_dx, p->nx));
      tu_check_half(p->what, "bwd_bias db (specials)", r.db, p->ref_db, p->nb, h.dt, half_tol(p->ref_db, p->nb));
      half_result_free(&r);
      /* weights: specials in x, dy finite */
      for (size_t i = 3; i < p->ny; i += 11) p->dy[i] = 0.5f;
      half_refs(&h);
      r = half_run(tu_ctx(), &h);
      tu_check_half(p->what, "bwd_weights dw (specials in x)", r.dw, p->ref_dw, p->nw, h.dt,
                    half_tol(p->ref_dw, p->nw));
      half_result again = half_run(tu_ctx(), &h);
      half_same(&h, &r, &again);
      half_result_free(&again);
      half_result_free(&r);
      half_free(&h);
    }
}
END_TEST

/* Every tensor a view at an odd element offset of one buffer (2-byte
 * aligned only), every pass of case c in type dt on ctx. */
static void half_odd_offsets(clnn_context *ctx, const conv_case *c, clnn_dtype dt, uint64_t seed) {
  half_problem h;
  half_make(&h, c, dt, seed);
  half_refs(&h);
  bwd_problem *p = &h.b;
  const clnn_conv2d_desc *d = &p->d;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->k, d->c / d->groups, d->kh, d->kw};
  int64_t yd[4] = {d->n, d->k, p->oh, p->ow};
  /* x, w, b, dy, y, dx, dw, db one after another, each at an odd offset */
  const size_t sizes[8] = {p->nx, p->nw, p->nb, p->ny, p->ny, p->nx, p->nw, p->nb};
  size_t off[8];
  const size_t len = tu_odd_offsets(sizes, 8, off);
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, len * clnn_dtype_size(dt), &buf));
  clnn_tensor *x = tu_view_dt(buf, off[0], dt, 4, xd, p->x), *w = tu_view_dt(buf, off[1], dt, 4, wd, p->w);
  clnn_tensor *b = tu_view_dt(buf, off[2], dt, 1, &d->k, h.bias ? h.bias : p->db0);
  clnn_tensor *dy = tu_view_dt(buf, off[3], dt, 4, yd, p->dy), *y = tu_view_dt(buf, off[4], dt, 4, yd, NULL);
  clnn_tensor *dx = tu_view_dt(buf, off[5], dt, 4, xd, NULL), *dw = tu_view_dt(buf, off[6], dt, 4, wd, NULL);
  clnn_tensor *db = tu_view_dt(buf, off[7], dt, 1, &d->k, NULL);
  clnn_tensor *outs[] = {y, dx, dw, db};
  for (size_t i = 0; i < 4; i++) tu_poison(outs[i]);
  TU_OK(clnn_conv2d_fwd(ctx, d, x, w, h.bias ? b : NULL, y));
  TU_OK(clnn_conv2d_bwd_data(ctx, d, dy, w, dx));
  TU_OK(clnn_conv2d_bwd_weights(ctx, d, x, dy, dw, 0));
  TU_OK(clnn_conv2d_bwd_bias(ctx, d, dy, db, 0));
  float *got[4] = {tu_download_f32(y), tu_download_f32(dx), tu_download_f32(dw), tu_download_f32(db)};
  const float *ref[4] = {h.ref_y, p->ref_dx, p->ref_dw, p->ref_db};
  const size_t n[4] = {p->ny, p->nx, p->nw, p->nb};
  static const char *const pass[4] = {"fwd (odd offset)", "bwd_data (odd offset)", "bwd_weights (odd offset)",
                                      "bwd_bias (odd offset)"};
  for (int i = 0; i < 4; i++) {
    tu_check_half(p->what, pass[i], got[i], ref[i], n[i], dt, half_tol(ref[i], n[i]));
    free(got[i]);
  }
  clnn_tensor *all[] = {x, w, b, dy, y, dx, dw, db};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
  clnn_buffer_free(buf);
  half_free(&h);
}

START_TEST(test_half_odd_offsets) {
  static const int which[] = {0, 1, 8, 3};
  for (int t = 0; t < TU_N_HALF_TYPES; t++)
    for (size_t k = 0; k < sizeof which / sizeof which[0]; k++)
      half_odd_offsets(tu_ctx(), &cases[which[k]], tu_half_types[t], 7000 + (uint64_t)(t * 8 + k));
}
END_TEST

/* A batch of 0 in each half type: nothing to compute, y and dx empty, the
 * weight and bias gradients zero (or unchanged when accumulating). */
START_TEST(test_half_empty_batch) {
  clnn_context *ctx = tu_ctx();
  for (int t = 0; t < TU_N_HALF_TYPES; t++) {
    const clnn_dtype dt = tu_half_types[t];
    clnn_conv2d_desc d = clnn_conv2d_desc_make(0, 4, 6, 5, 6, 3, 3);
    d.pad_h = d.pad_w = 1;
    d.groups = 2;
    int64_t xd[4] = {0, 4, 6, 5}, wd[4] = {6, 2, 3, 3}, bd[1] = {6}, yd[4] = {0, 6, 6, 5};
    clnn_tensor *x = tu_tensor_dt(dt, 4, xd, NULL), *w = tu_tensor_dt(dt, 4, wd, NULL);
    clnn_tensor *b = tu_tensor_dt(dt, 1, bd, NULL), *y = tu_tensor_dt(dt, 4, yd, NULL);
    clnn_tensor *dx = tu_tensor_dt(dt, 4, xd, NULL), *dw = tu_tensor_dt(dt, 4, wd, NULL);
    clnn_tensor *db = tu_tensor_dt(dt, 1, bd, NULL);
    tu_poison(w);
    TU_OK(clnn_conv2d_fwd(ctx, &d, x, w, b, y));
    TU_OK(clnn_conv2d_bwd_data(ctx, &d, y, w, dx));
    tu_poison(dw);
    tu_poison(db);
    TU_OK(clnn_conv2d_bwd_weights(ctx, &d, x, y, dw, 0));
    TU_OK(clnn_conv2d_bwd_bias(ctx, &d, y, db, 0));
    tu_assert_zero("dw (half)", dw);
    tu_assert_zero("db (half)", db);
    TU_OK(clnn_conv2d_bwd_bias(ctx, &d, y, db, 1));
    tu_assert_zero("db (half, accumulated)", db);
    clnn_tensor *all[] = {x, w, b, y, dx, dw, db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
  }
}
END_TEST

/* The call fails with CLNN_ERR_INVALID_VALUE and a message naming the
 * argument and both types. */
static void expect_type_error(clnn_status st, const char *arg, const char *got, const char *want) {
  const char *msg = clnn_context_errmsg(tu_ctx());
  char quoted[32];
  snprintf(quoted, sizeof quoted, "'%s'", arg);
  ck_assert_msg(st == CLNN_ERR_INVALID_VALUE, "%s: %s", arg, clnn_status_name(st));
  ck_assert_msg(strstr(msg, quoted) && strstr(msg, got) && (!want || strstr(msg, want)), "message: %s", msg);
}

/* Mixed types and int32 where a float is needed: refused, naming the
 * argument and its type, with nothing written (outputs stay poisoned). */
START_TEST(test_half_type_errors) {
  clnn_context *ctx = tu_ctx();
  clnn_conv2d_desc d = clnn_conv2d_desc_make(2, 4, 8, 8, 6, 3, 3);
  d.pad_h = d.pad_w = 1;
  int64_t xd[4] = {2, 4, 8, 8}, wd[4] = {6, 4, 3, 3}, bd[1] = {6}, yd[4] = {2, 6, 8, 8};
  const clnn_dtype H = CLNN_FLOAT16, B = CLNN_BFLOAT16, F = CLNN_FLOAT32;
  clnn_tensor *x = tu_tensor_dt(H, 4, xd, NULL), *w = tu_tensor_dt(H, 4, wd, NULL), *b = tu_tensor_dt(H, 1, bd, NULL);
  clnn_tensor *y = tu_tensor_dt(H, 4, yd, NULL), *dy = tu_tensor_dt(H, 4, yd, NULL), *dx = tu_tensor_dt(H, 4, xd, NULL);
  clnn_tensor *dw = tu_tensor_dt(H, 4, wd, NULL), *db = tu_tensor_dt(H, 1, bd, NULL);
  clnn_tensor *w_bf = tu_tensor_dt(B, 4, wd, NULL), *b_f32 = tu_tensor_dt(F, 1, bd, NULL);
  clnn_tensor *y_bf = tu_tensor_dt(B, 4, yd, NULL), *dx_f32 = tu_tensor_dt(F, 4, xd, NULL);
  clnn_tensor *dw_bf = tu_tensor_dt(B, 4, wd, NULL), *db_f32 = tu_tensor_dt(F, 1, bd, NULL);
  clnn_tensor *x_i32 = tu_tensor_dt(CLNN_INT32, 4, xd, NULL), *dy_i32 = tu_tensor_dt(CLNN_INT32, 4, yd, NULL);
  clnn_tensor *outs[] = {y, dx, dw, db, y_bf, dx_f32, dw_bf, db_f32};
  for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) tu_poison(outs[i]);
  expect_type_error(clnn_conv2d_fwd(ctx, &d, x, w_bf, b, y), "w", "bfloat16", "float16");
  expect_type_error(clnn_conv2d_fwd(ctx, &d, x, w, b_f32, y), "b", "float32", "float16");
  expect_type_error(clnn_conv2d_fwd(ctx, &d, x, w, b, y_bf), "y", "bfloat16", "float16");
  expect_type_error(clnn_conv2d_fwd(ctx, &d, x_i32, w, b, y), "x", "int32", NULL);
  expect_type_error(clnn_conv2d_bwd_data(ctx, &d, dy, w_bf, dx), "w", "bfloat16", "float16");
  expect_type_error(clnn_conv2d_bwd_data(ctx, &d, dy, w, dx_f32), "dx", "float32", "float16");
  expect_type_error(clnn_conv2d_bwd_data(ctx, &d, dy_i32, w, dx), "dy", "int32", NULL);
  expect_type_error(clnn_conv2d_bwd_weights(ctx, &d, x, dy, dw_bf, 0), "dw", "bfloat16", "float16");
  expect_type_error(clnn_conv2d_bwd_weights(ctx, &d, x_i32, dy, dw, 0), "x", "int32", NULL);
  expect_type_error(clnn_conv2d_bwd_weights(ctx, &d, x, dy_i32, dw, 0), "dy", "int32", "float16");
  expect_type_error(clnn_conv2d_bwd_bias(ctx, &d, dy, db_f32, 0), "db", "float32", "float16");
  expect_type_error(clnn_conv2d_bwd_bias(ctx, &d, dy_i32, db, 0), "dy", "int32", NULL);
  tu_assert_poisoned(outs, sizeof outs / sizeof outs[0]);
  clnn_tensor *all[] = {x, w, b, y, dy, dx, dw, db, w_bf, b_f32, y_bf, dx_f32, dw_bf, db_f32, x_i32, dy_i32};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
}
END_TEST

/*
 * The depthwise variants take half tensors directly (their rule in the
 * variant tables, clnn_conv_half_rule in ops/conv_internal.h): no staging
 * launches, and every output is bit for bit the float32 variant's on the
 * rounded inputs, rounded once. Each CPU-class depthwise variant is forced
 * in turn (they run in both device classes) over every depthwise case of
 * the table, in both types, and on views at odd element offsets; then the
 * default plan: direct on the CPU class, staged around the GPU-class
 * depthwise kernels on the GPU class. The one exception is the strip
 * bwd_data with a channel multiplier above 1: it adds each channel's share
 * to the dx it stored, so its rule stages it.
 */
static const int dw_cases[] = {8, 9, 10, 11, 12, 13, 23, 26, 30, 31};

/* A context made with options o while CLNN_VARIANT = forced (NULL: its
 * own plan); the variable is restored after. */
static clnn_context *ctx_with_variant(const char *forced, const clnn_context_options *o) {
  const char *old = getenv("CLNN_VARIANT");
  char *saved = old ? strdup(old) : NULL;
  if (forced) setenv("CLNN_VARIANT", forced, 1);
  else unsetenv("CLNN_VARIANT");
  clnn_context *ctx;
  TU_OK(clnn_context_create(o, &ctx));
  if (saved) setenv("CLNN_VARIANT", saved, 1);
  else unsetenv("CLNN_VARIANT");
  free(saved);
  return ctx;
}

/* A context with profiling on, with CLNN_VARIANT = forced (NULL: its own plan). */
static clnn_context *profiled_ctx(const char *forced) {
  clnn_context_options o = clnn_context_options_default();
  o.profiling = 1;
  return ctx_with_variant(forced, &o);
}

/* Whether a launch recorded since the last reset ran for op (its prefix). */
static bool profile_has(clnn_context *ctx, const char *op) {
  size_t n = 0;
  TU_OK(clnn_profile_get(ctx, NULL, 0, &n));
  clnn_profile_entry *e = calloc(n ? n : 1, sizeof *e);
  ck_assert_ptr_nonnull(e);
  TU_OK(clnn_profile_get(ctx, e, n, &n));
  bool found = false;
  for (size_t i = 0; i < n; i++) found = found || strncmp(e[i].op, op, strlen(op)) == 0;
  free(e);
  return found;
}

/* half must be f32 rounded to dt, bit for bit (f32 is rounded in place). */
static void same_bits_as_rounded(const char *what, const char *pass, const float *half, float *f32, size_t n,
                                 clnn_dtype dt) {
  tu_round_to(dt, f32, n);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(!memcmp(&half[i], &f32[i], sizeof(float)), "%s %s [%zu]: %a, the float32 variant rounded: %a",
                  what, pass, i, (double)half[i], (double)f32[i]);
}

/* Whether the forced depthwise variant ("flat" or "strips") takes d in all three passes. */
static bool dw_variant_takes(const char *kind, const clnn_conv2d_desc *d) {
  int64_t oh, ow;
  TU_OK(clnn_conv2d_desc_check(d, &oh, &ow));
  if (strcmp(kind, "strips") == 0) return clnn__conv_dw_fits(d, ow);
  clnn_conv_dwf_geom f;
  return clnn__conv_dw_flat(d, oh, ow, false, &f) && clnn__conv_dw_flat(d, oh, ow, true, &f);
}

/* One half problem on ctx (a depthwise variant forced): checked against the
 * reference, the staging launches it may make, and the float32 variant's bits. */
static void dw_direct_case(clnn_context *ctx, half_problem *h, bool staged_dx) {
  const bwd_problem *p = &h->b;
  TU_OK(clnn_profile_reset(ctx));
  half_result r = half_run(ctx, h);
  half_check(h, &r);
  ck_assert_msg(!profile_has(ctx, "conv2d_fwd:half_stage"), "%s: the forward staged its tensors", p->what);
  ck_assert_msg(profile_has(ctx, "conv2d_bwd_data:half_stage") == staged_dx, "%s: bwd_data %s", p->what,
                staged_dx ? "ran directly, its rule stages it" : "staged its tensors");
  ck_assert_msg(!profile_has(ctx, "conv2d_bwd_weights:half_stage"), "%s: bwd_weights staged its tensors", p->what);
  half_result f = half_run_as(ctx, h, CLNN_FLOAT32);
  same_bits_as_rounded(p->what, "fwd y", r.y, f.y, p->ny, h->dt);
  same_bits_as_rounded(p->what, "bwd_data dx", r.dx, f.dx, p->nx, h->dt);
  same_bits_as_rounded(p->what, "bwd_weights dw", r.dw, f.dw, p->nw, h->dt);
  same_bits_as_rounded(p->what, "bwd_weights dw (accumulate)", r.dw_acc, f.dw_acc, p->nw, h->dt);
  half_result_free(&f);
  half_result_free(&r);
}

START_TEST(test_half_depthwise_direct) {
  static const char *const kinds[] = {"flat", "strips"};
  for (int v = 0; v < 2; v++) {
    char forced[160];
    snprintf(forced, sizeof forced, "conv.fwd.depthwise_%s,conv.bwd_d.depthwise_%s,conv.bwd_w.depthwise_%s",
             kinds[v], kinds[v], kinds[v]);
    clnn_context *ctx = profiled_ctx(forced);
    int ran = 0;
    for (size_t k = 0; k < sizeof dw_cases / sizeof dw_cases[0]; k++)
      for (int t = 0; t < TU_N_HALF_TYPES; t++) {
        const conv_case *c = &cases[dw_cases[k]];
        half_problem h;
        half_make(&h, c, tu_half_types[t], 8000 + (uint64_t)(v * 64 + k * 2 + t));
        if (dw_variant_takes(kinds[v], &h.b.d)) {
          half_refs(&h);
          dw_direct_case(ctx, &h, v == 1 && c->k != c->c);
          ran++;
        }
        half_free(&h);
      }
    ck_assert_int_ge(ran, 8);
    for (int t = 0; t < TU_N_HALF_TYPES; t++) {
      half_odd_offsets(ctx, &cases[8], tu_half_types[t], 8200 + (uint64_t)(v * 4 + t));   /* 13-wide rows */
      half_odd_offsets(ctx, &cases[31], tu_half_types[t], 8300 + (uint64_t)(v * 4 + t)); /* 70-wide rows */
    }
    clnn_context_free(ctx);
  }
  /* the default plan: small planes (flat) and 47 x 45 ones (strips) */
  static const conv_case planned[] = {
      {3, 12, 11, 13, 12, 3, 3, 1, 1, 1, 1, 1, 1, 12, 1, CLNN_ACT_IDENTITY},
      {2, 4, 47, 45, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 1, CLNN_ACT_RELU},
  };
  clnn_context *ctx = profiled_ctx(NULL);
  const bool cpu = clnn_context_is_cpu(ctx);
  for (size_t k = 0; k < sizeof planned / sizeof planned[0]; k++)
    for (int t = 0; t < TU_N_HALF_TYPES; t++) {
      half_problem h;
      half_make(&h, &planned[k], tu_half_types[t], 8400 + (uint64_t)(k * 2 + t));
      half_refs(&h);
      TU_OK(clnn_profile_reset(ctx));
      half_result r = half_run(ctx, &h);
      half_check(&h, &r);
      /* each pass staged exactly when the GPU-class kernels ran it */
      static const char *const pass[] = {"conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_weights"};
      for (int i = 0; i < 3; i++) {
        char stage[64], gpu[64];
        snprintf(stage, sizeof stage, "%s:half_stage", pass[i]);
        snprintf(gpu, sizeof gpu, "%s:gpu_depthwise", pass[i]);
        const bool staged = profile_has(ctx, stage), on_gpu_kernels = profile_has(ctx, gpu);
        ck_assert_msg(!(cpu && on_gpu_kernels), "%s: %s on the CPU class", h.b.what, gpu);
        ck_assert_msg(staged == on_gpu_kernels, "%s: %s %s", h.b.what, pass[i],
                      staged ? "staged around the CPU-class kernels" : "ran the GPU-class kernels unstaged");
      }
      half_result_free(&r);
      half_free(&h);
    }
  clnn_context_free(ctx);
}
END_TEST

/*
 * bwd_data's sub-pixel route cannot take half tensors (their float32 copies
 * hold the outer workspace it needs): forced on a half problem it is refused
 * by its variant rule, saying so, while it still runs float32 there; the
 * planner's own choice for the half problem is another variant (the cases
 * above include sub-pixel ones, test_bwd_data_subpixel_route).
 */
START_TEST(test_half_subpixel_refused) {
  const char *old = getenv("CLNN_VARIANT");
  char *saved = old ? strdup(old) : NULL;
  setenv("CLNN_VARIANT", "conv.bwd_d.subpixel", 1);
  clnn_context *ctx;
  TU_OK(clnn_context_create(NULL, &ctx));
  if (saved) setenv("CLNN_VARIANT", saved, 1);
  else unsetenv("CLNN_VARIANT");
  free(saved);
  clnn_conv2d_desc d = clnn_conv2d_desc_make(2, 8, 14, 14, 8, 4, 4); /* variant_cases' sub-pixel case */
  d.stride_h = d.stride_w = 2;
  d.pad_h = d.pad_w = 1;
  if (!clnn_context_is_cpu(ctx)) {
    clnn_context_free(ctx); /* a CPU-class variant: nothing to force on a GPU-class plan */
    return;
  }
  ck_assert(clnn__subpixel_bwd_data_applies(ctx, &d));
  int64_t oh, ow;
  TU_OK(clnn_conv2d_desc_check(&d, &oh, &ow));
  int64_t xd[4] = {d.n, d.c, d.h, d.w}, wd[4] = {d.k, d.c / d.groups, d.kh, d.kw}, yd[4] = {d.n, d.k, oh, ow};
  for (int t = 0; t <= TU_N_HALF_TYPES; t++) {
    const clnn_dtype dt = t < TU_N_HALF_TYPES ? tu_half_types[t] : CLNN_FLOAT32;
    clnn_tensor *dy, *w, *dx;
    TU_OK(clnn_tensor_create(ctx, dt, 4, yd, &dy));
    TU_OK(clnn_tensor_create(ctx, dt, 4, wd, &w));
    TU_OK(clnn_tensor_create(ctx, dt, 4, xd, &dx));
    TU_OK(clnn_tensor_fill(dy, 1.0f));
    TU_OK(clnn_tensor_fill(w, 1.0f));
    clnn_status st = clnn_conv2d_bwd_data(ctx, &d, dy, w, dx);
    if (dt == CLNN_FLOAT32) {
      ck_assert_msg(st == CLNN_SUCCESS, "float32: %s", clnn_context_errmsg(ctx));
    } else {
      ck_assert_int_eq(st, CLNN_ERR_UNSUPPORTED);
      ck_assert_msg(strstr(clnn_context_errmsg(ctx), "conv.bwd_d.subpixel") &&
                        strstr(clnn_context_errmsg(ctx), "float16/bfloat16"),
                    "%s", clnn_context_errmsg(ctx));
    }
    clnn_tensor_free(dy);
    clnn_tensor_free(w);
    clnn_tensor_free(dx);
  }
  clnn_context_free(ctx);
}
END_TEST

/* ============================================================== Winograd */

/*
 * conv.fwd.winograd and conv.bwd_w.winograd (ops/conv_winograd.c) forced
 * on shapes the planner would not give them: planes of 1, 2, 3, 5, 7 and 13 (no multiple of the
 * 4 x 4 output tile), batches above 1, padding 0, 1 and 2, odd channel
 * counts, a fused relu. Forward, bwd_data (its transposed weights,
 * through conv.bwd_d.as_fwd) and bwd_weights against the reference on
 * poisoned outputs (dw also accumulating),
 * within 1e-5 relative L2 and 1e-4 of the output's scale per element
 * (F(4x4, 3x3) sums in float32 through transforms with weights up to 8: a
 * few times the direct kernels' rounding, measured in docs/BENCHMARKS.md
 * "conv3x3 by Winograd"); then in chunks of one image under a tight workspace limit;
 * then a batch of 0.
 */
typedef struct wino_case {
  int n, c, h, w, k, pad;
  clnn_activation act;
} wino_case;

static const wino_case wino_cases[] = {
    {2, 5, 1, 1, 7, 1, CLNN_ACT_IDENTITY},  {3, 3, 2, 2, 4, 1, CLNN_ACT_IDENTITY},
    {2, 7, 3, 3, 5, 0, CLNN_ACT_IDENTITY},  {2, 9, 5, 5, 11, 1, CLNN_ACT_RELU},
    {1, 6, 7, 7, 9, 0, CLNN_ACT_IDENTITY},  {2, 17, 13, 13, 33, 1, CLNN_ACT_IDENTITY},
    {3, 5, 13, 7, 3, 1, CLNN_ACT_RELU},     {2, 4, 5, 13, 6, 2, CLNN_ACT_IDENTITY},
    {2, 64, 7, 7, 65, 1, CLNN_ACT_IDENTITY},
};
#define N_WINO (int)(sizeof wino_cases / sizeof wino_cases[0])
#define WINO_TOL 1e-5     /* relative L2 */
#define WINO_ELEM_TOL 1e-4 /* per element, of the output's root mean square */
#define WINO_FORCED "conv.fwd.winograd,conv.bwd_w.winograd"

/* A context that plans with CLNN_VARIANT = forced and the given workspace limit (0: default). */
static clnn_context *forced_ctx(const char *forced, size_t workspace_limit) {
  clnn_context_options o = clnn_context_options_default();
  o.workspace_limit = workspace_limit;
  return ctx_with_variant(forced, &o);
}

static clnn_conv2d_desc wino_desc(const wino_case *c) {
  clnn_conv2d_desc d = clnn_conv2d_desc_make(c->n, c->c, c->h, c->w, c->k, 3, 3);
  d.pad_h = d.pad_w = c->pad;
  d.act = c->act;
  return d;
}

/* The forward, bwd_data and bwd_weights of d on ctx against the reference
 * (the weight gradient overwriting and accumulating); each must report
 * its Winograd variant. */
static void wino_check(clnn_context *ctx, const clnn_conv2d_desc *d, uint64_t seed) {
  problem p;
  problem_make(&p, d, 1, false, seed);
  clnn_context_clear_variants(ctx);
  float *got = run_device(ctx, &p);
  ck_assert_msg(strstr(clnn_context_last_variant(ctx, NULL), "conv.fwd.winograd"), "%s ran %s", p.what,
                clnn_context_last_variant(ctx, NULL));
  ck_assert_msg(tu_compare(p.what, got, p.ref, p.ny, WINO_TOL, WINO_ELEM_TOL * rms(p.ref, p.ny), NULL),
                "%s differs", p.what);
  free(got);
  problem_free(&p);
  clnn_conv2d_desc bd = *d;
  bd.act = CLNN_ACT_IDENTITY; /* the plain conv2d_bwd_data has no epilogue */
  bwd_problem b;
  bwd_make(&b, &bd, false, seed + 10);
  for (int accumulate = 0; accumulate <= 1; accumulate++) {
    clnn_context_clear_variants(ctx);
    bwd_result r = bwd_run(ctx, &b, accumulate);
    const char *ran = clnn_context_last_variant(ctx, NULL);
    ck_assert_msg(strstr(ran, "conv.bwd_d.as_fwd,conv.fwd.winograd") && strstr(ran, "conv.bwd_w.winograd"),
                  "%s ran %s", b.what, ran);
    const struct {
      const char *name;
      const float *got, *ref;
      size_t n;
    } outs[] = {{"dx", r.dx, b.ref_dx, b.nx},
                {"dw", r.dw, accumulate ? b.ref_dw_acc : b.ref_dw, b.nw},
                {"db", r.db, accumulate ? b.ref_db_acc : b.ref_db, b.nb}};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
      char what[300];
      snprintf(what, sizeof what, "%s (%s%s)", b.what, outs[i].name, accumulate ? ", accumulate" : "");
      ck_assert_msg(tu_compare(what, outs[i].got, outs[i].ref, outs[i].n, WINO_TOL,
                               WINO_ELEM_TOL * rms(outs[i].ref, outs[i].n), NULL),
                    "%s differs", what);
    }
    bwd_result_free(&r);
  }
  bwd_free(&b);
}

START_TEST(test_winograd_forced) {
  clnn_context *ctx = forced_ctx(WINO_FORCED, 0);
  if (!clnn_context_is_cpu(ctx)) { /* CPU-class variants: GPU-class plans never reach them */
    clnn_context_free(ctx);
    return;
  }
  clnn_conv2d_desc d = wino_desc(&wino_cases[_i]);
  wino_check(ctx, &d, 7000 + (uint64_t)_i * 20);
  clnn_context_free(ctx);
}
END_TEST

START_TEST(test_winograd_chunks_and_empty) {
  /* 3 images of 13 x 13 (16 tiles each), 8 -> 8 channels. The forward
   * needs U (36*8*8 floats) and per chunk V (whole 32-tile panels) and M
   * (rows of 16): 1 image 64.5 KB, 2 images 82.9 KB, 3 images 138 KB;
   * bwd_weights S (36*8*16) and per chunk DYT (rows of 16) and XT (32
   * channels a panel): 1 image 110.6 KB, 2 images 202.8 KB. A limit just
   * over 110.6 KB runs the forward in chunks of 2 + 1 images and the
   * weight gradient in 3 chunks of 1, summed in order. */
  const size_t one_image = (size_t)36 * (8 * 8 + 32 * 8 + 16 * 8) * sizeof(float);
  const size_t bw_one_image = (size_t)36 * (8 * 16 + 8 * 16 + 32 * 16) * sizeof(float);
  clnn_context *ctx = forced_ctx(WINO_FORCED, bw_one_image + 256);
  if (!clnn_context_is_cpu(ctx)) {
    clnn_context_free(ctx);
    return;
  }
  clnn_conv2d_desc d = clnn_conv2d_desc_make(3, 8, 13, 13, 8, 3, 3);
  d.pad_h = d.pad_w = 1;
  wino_check(ctx, &d, 7500);
  clnn_context_free(ctx);
  /* below one image's tiles: the variant does not apply, and says why */
  ctx = forced_ctx(WINO_FORCED, one_image / 2);
  int64_t xd[4] = {3, 8, 13, 13}, wd[4] = {8, 8, 3, 3};
  clnn_tensor *x, *w, *y;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, xd, &x));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, wd, &w));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, xd, &y));
  ck_assert_int_eq(clnn_conv2d_fwd(ctx, &d, x, w, NULL, y), CLNN_ERR_UNSUPPORTED);
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "workspace"), "%s", clnn_context_errmsg(ctx));
  clnn_tensor_free(x);
  clnn_tensor_free(w);
  clnn_tensor_free(y);
  clnn_context_free(ctx);
  /* a batch of 0: nothing to compute or plan, y and dx empty, dw zero */
  ctx = forced_ctx(WINO_FORCED, 0);
  d.n = 0;
  int64_t ed[4] = {0, 8, 13, 13};
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, ed, &x));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, wd, &w));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, ed, &y));
  TU_OK(clnn_conv2d_fwd(ctx, &d, x, w, NULL, y));
  TU_OK(clnn_conv2d_bwd_data(ctx, &d, y, w, x));
  tu_poison(w);
  TU_OK(clnn_conv2d_bwd_weights(ctx, &d, x, y, w, 0));
  tu_assert_zero("dw", w);
  clnn_tensor_free(x);
  clnn_tensor_free(w);
  clnn_tensor_free(y);
  clnn_context_free(ctx);
}
END_TEST

static Suite *conv_suite(void) {
  Suite *s = suite_create("conv");
  TCase *tc = tcase_create("forward");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_fwd_integer_case, 0, N_CASES);
  tcase_add_loop_test(tc, test_fwd_float_deterministic, 0, N_CASES);
  tcase_add_test(tc, test_fwd_clblast_engine);
  tcase_add_test(tc, test_fwd_chunked_workspace);
  tcase_add_test(tc, test_algo_choice);
  tcase_add_test(tc, test_empty_batch);
  suite_add_tcase(s, tc);
  TCase *bad = tcase_create("bad_input");
  tcase_add_checked_fixture(bad, bad_setup, bad_teardown);
  tcase_add_test(bad, test_bad_pointers);
  tcase_add_test(bad, test_bad_descriptors);
  tcase_add_test(bad, test_bad_shapes);
  tcase_add_test(bad, test_bad_aliasing_and_context);
  suite_add_tcase(s, bad);
  TCase *bwd = tcase_create("backward");
  tcase_set_timeout(bwd, 600);
  tcase_add_test(bwd, test_ref_bwd_finite_differences);
  tcase_add_loop_test(bwd, test_bwd_integer_case, 0, N_CASES);
  tcase_add_loop_test(bwd, test_bwd_float_deterministic, 0, N_CASES);
  tcase_add_test(bwd, test_bwd_data_subpixel_route);
  tcase_add_test(bwd, test_bwd_data_epilogue);
  tcase_add_test(bwd, test_bwd_clblast_engine);
  tcase_add_test(bwd, test_bwd_chunked_workspace);
  tcase_add_test(bwd, test_bwd_algo_choice);
  tcase_add_test(bwd, test_bwd_bench_r_mode);
  suite_add_tcase(s, bwd);
  TCase *bwd_bad = tcase_create("backward_bad_input");
  tcase_add_checked_fixture(bwd_bad, bwd_bad_setup, bwd_bad_teardown);
  tcase_add_test(bwd_bad, test_bwd_bad_pointers);
  tcase_add_test(bwd_bad, test_bwd_bad_shapes_and_values);
  tcase_add_test(bwd_bad, test_bwd_bad_aliasing_and_context);
  suite_add_tcase(s, bwd_bad);
  TCase *half = tcase_create("half");
  tcase_set_timeout(half, 600);
  tcase_add_loop_test(half, test_half_case, 0, 2 * N_CASES);
  tcase_add_test(half, test_half_specials);
  tcase_add_test(half, test_half_odd_offsets);
  tcase_add_test(half, test_half_empty_batch);
  tcase_add_test(half, test_half_type_errors);
  tcase_add_test(half, test_half_subpixel_refused);
  tcase_add_test(half, test_half_depthwise_direct);
  suite_add_tcase(s, half);
  TCase *wino = tcase_create("winograd");
  tcase_set_timeout(wino, 300);
  tcase_add_loop_test(wino, test_winograd_forced, 0, N_WINO);
  tcase_add_test(wino, test_winograd_chunks_and_empty);
  suite_add_tcase(s, wino);
  return s;
}

int main(void) { return tu_run(conv_suite()); }
