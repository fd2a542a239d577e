/*
 * test_deconv.c - transposed convolution forward and backward against the
 * host reference: a table of shapes (strides 1/2/3, output padding 0/1/2,
 * dilation 2 and 3, groups 2 and depthwise, kernels 1 to 5, odd and
 * non-square sizes, batch 1 to 4, bias on and off, activations), both
 * algorithms, outputs poisoned before each run, bit-identical repeats,
 * combined and separate backward calls, both GEMM engines, chunked scratch,
 * clnn-bench's descriptor and R mode, and bad arguments; every case again
 * in float16 and bfloat16 under each algorithm, with special values, odd
 * view offsets, empty batches and mixed-type errors. The reference's
 * backward passes are checked by central finite differences in double, and
 * the reference forward against the convolution's data gradient (which it
 * is, by definition).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fd.h"
#include "common/rmode.h"
#include "common/testutil.h"
#include "host/ref.h"

typedef struct dc_case {
  int n, c, h, w, k, kh, kw, sh, sw, ph, pw, oph, opw, dh, dw, g;
  int bias;
  clnn_activation act;
} dc_case;

static const dc_case cases[] = {
    /* n  c   h   w   k kh kw sh sw ph pw op op dh dw  g bias act */
    {2, 8, 7, 9, 6, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1, 0, CLNN_ACT_IDENTITY},  /* 0: 4x4 stride 2 (the anchor's kind) */
    {2, 6, 5, 6, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, CLNN_ACT_IDENTITY},  /* 1: 3x3 s2, output padding 1 */
    {1, 4, 5, 4, 6, 3, 3, 3, 3, 1, 1, 2, 2, 1, 1, 1, 1, CLNN_ACT_IDENTITY},  /* 2: stride 3, output padding 2 */
    {3, 5, 7, 6, 4, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, CLNN_ACT_IDENTITY},  /* 3: stride 1 (conv path) */
    {1, 3, 5, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2, 2, 1, 0, CLNN_ACT_IDENTITY},  /* 4: dilation 2, stride 1, output pad 1 */
    {2, 4, 5, 5, 4, 3, 3, 2, 2, 1, 1, 1, 1, 2, 2, 1, 1, CLNN_ACT_IDENTITY},  /* 5: dilation 2, stride 2 */
    {2, 4, 5, 6, 4, 3, 3, 2, 2, 2, 1, 2, 2, 3, 3, 1, 1, CLNN_ACT_IDENTITY},  /* 6: output pad >= stride (< dilation 3) */
    {2, 4, 6, 6, 6, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 2, 1, CLNN_ACT_IDENTITY},  /* 7: 2x2 s2, groups 2 (U-Net up) */
    {1, 6, 4, 5, 6, 4, 4, 2, 2, 3, 3, 1, 1, 1, 1, 6, 1, CLNN_ACT_IDENTITY},  /* 8: depthwise, pad 3 */
    {1, 4, 3, 5, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1, 1, 1, 1, CLNN_ACT_IDENTITY},  /* 9: 1x1 stride 2 (conv path) */
    {2, 5, 6, 7, 7, 4, 3, 2, 3, 2, 1, 1, 2, 1, 1, 1, 1, CLNN_ACT_SILU},      /* 10: non-square, silu */
    {3, 5, 11, 13, 7, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1, CLNN_ACT_RELU},    /* 11: odd sizes, batch 3, relu */
    {2, 6, 7, 7, 5, 5, 5, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, CLNN_ACT_IDENTITY},  /* 12: 5x5 s2 */
    {1, 3, 6, 6, 4, 3, 3, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, CLNN_ACT_IDENTITY},  /* 13: padding past the kernel */
    {2, 33, 7, 5, 17, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1, CLNN_ACT_IDENTITY}, /* 14: channels off the tiles */
    {2, 4, 6, 7, 5, 3, 3, 2, 1, 1, 2, 1, 0, 1, 2, 1, 1, CLNN_ACT_IDENTITY},  /* 15: stride 2 x dilation 2 */
    {1, 3, 1, 1, 4, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1, CLNN_ACT_IDENTITY},  /* 16: 1x1 input */
    {4, 8, 5, 6, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 0, CLNN_ACT_LEAKY_RELU}, /* 17: batch 4, groups 2, leaky */
    {2, 32, 14, 14, 16, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1, 0, CLNN_ACT_IDENTITY}, /* 18: GEMM-sized 4x4 s2 */
    {1, 4, 9, 3, 3, 2, 3, 3, 2, 0, 1, 2, 0, 1, 1, 1, 1, CLNN_ACT_IDENTITY},  /* 19: kernel 2 stride 3 (zero phases) */
    {2, 3, 4, 5, 4, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, CLNN_ACT_IDENTITY},  /* 20: stride 1, no padding */
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static clnn_conv_transpose2d_desc desc_of(const dc_case *c) {
  clnn_conv_transpose2d_desc d = clnn_conv_transpose2d_desc_make(c->n, c->c, c->h, c->w, c->k, c->kh, c->kw);
  d.stride_h = c->sh;
  d.stride_w = c->sw;
  d.pad_h = c->ph;
  d.pad_w = c->pw;
  d.output_pad_h = c->oph;
  d.output_pad_w = c->opw;
  d.dilation_h = c->dh;
  d.dilation_w = c->dw;
  d.groups = c->g;
  d.act = c->act;
  return d;
}

/* The clnn-bench descriptor that reproduces a case. */
static void describe(const clnn_conv_transpose2d_desc *d, int bias, char *buf, size_t n) {
  snprintf(buf, n,
           "deconv mb%lldic%lldih%lldiw%lldoc%lldkh%lldkw%lldsh%lldsw%lldph%lldpw%lldoph%lldopw%llddh%llddw%lldg%lld%s%s%s",
           (long long)d->n, (long long)d->c, (long long)d->h, (long long)d->w, (long long)d->k, (long long)d->kh,
           (long long)d->kw, (long long)d->stride_h, (long long)d->stride_w, (long long)d->pad_h,
           (long long)d->pad_w, (long long)d->output_pad_h, (long long)d->output_pad_w, (long long)d->dilation_h,
           (long long)d->dilation_w, (long long)d->groups, d->act ? " act=" : "",
           d->act ? clnn_activation_name(d->act) : "", bias ? "" : " --no-bias");
}

/* ------------------------------------------------------------- problems */

/* Host data of one problem and every reference output. */
typedef struct problem {
  clnn_conv_transpose2d_desc d;
  int64_t oh, ow;
  size_t nx, nw, ny, nb;
  float *x, *w, *b, *dy, *dw0, *db0;   /* inputs (b NULL without bias); dw0, db0: what accumulate adds to */
  float *ref_y, *ref_dx, *ref_dw, *ref_db;
  float *ref_dw_acc, *ref_db_acc;
  char what[256];
} problem;

static void problem_make(problem *p, const clnn_conv_transpose2d_desc *d, int bias, bool integers, uint64_t seed) {
  memset(p, 0, sizeof *p);
  p->d = *d;
  TU_OK(clnn_conv_transpose2d_desc_check(d, &p->oh, &p->ow));
  p->nx = (size_t)(d->n * d->c * d->h * d->w);
  p->nw = (size_t)(d->c * (d->k / d->groups) * d->kh * d->kw);
  p->ny = (size_t)(d->n * d->k * p->oh * p->ow);
  p->nb = (size_t)d->k;
  float **in[6] = {&p->x, &p->w, &p->b, &p->dy, &p->dw0, &p->db0};
  size_t sizes[6] = {p->nx, p->nw, p->nb, p->ny, p->nw, p->nb};
  for (int i = 0; i < 6; i++) {
    *in[i] = tu_alloc(sizes[i]);
    if (integers)
      tu_fill_ints(*in[i], sizes[i], seed + (uint64_t)i, i == 1 ? -2 : -3, i == 1 ? 2 : 3);
    else
      tu_fill_normal(*in[i], sizes[i], seed + (uint64_t)i, 0.0f,
                     i == 1 ? 1.0f / sqrtf((float)(p->nw / (size_t)d->c)) : 1.0f);
  }
  if (!bias) {
    free(p->b);
    p->b = NULL;
  }
  p->ref_y = tu_alloc(p->ny);
  p->ref_dx = tu_alloc(p->nx);
  p->ref_dw = tu_alloc(p->nw);
  p->ref_db = tu_alloc(p->nb);
  p->ref_dw_acc = tu_alloc(p->nw);
  p->ref_db_acc = tu_alloc(p->nb);
  memcpy(p->ref_dw_acc, p->dw0, p->nw * sizeof(float));
  memcpy(p->ref_db_acc, p->db0, p->nb * sizeof(float));
  TU_OK(clnn_ref_conv_transpose2d_fwd(d, p->x, p->w, p->b, p->ref_y));
  TU_OK(clnn_ref_conv_transpose2d_bwd_data(d, p->dy, p->w, p->ref_dx));
  TU_OK(clnn_ref_conv_transpose2d_bwd_weights(d, p->x, p->dy, p->ref_dw, 0));
  TU_OK(clnn_ref_conv_transpose2d_bwd_bias(d, p->dy, p->ref_db, 0));
  TU_OK(clnn_ref_conv_transpose2d_bwd_weights(d, p->x, p->dy, p->ref_dw_acc, 1));
  TU_OK(clnn_ref_conv_transpose2d_bwd_bias(d, p->dy, p->ref_db_acc, 1));
  describe(d, bias, p->what, sizeof p->what);
}

static void problem_free(problem *p) {
  float *all[] = {p->x, p->w, p->b, p->dy, p->dw0, p->db0, p->ref_y, p->ref_dx, p->ref_dw, p->ref_db,
                  p->ref_dw_acc, p->ref_db_acc};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

/* Device results of one run. */
typedef struct result {
  float *y, *dx, *dw, *db;
} result;

static void result_free(result *r) {
  free(r->y);
  free(r->dx);
  free(r->dw);
  free(r->db);
}

/* How run() calls the backward. */
typedef enum bwd_mode { BWD_SEPARATE = 0, BWD_COMBINED = 1 } bwd_mode;

static clnn_tensor *upload(clnn_context *ctx, int ndim, const int64_t *dims, const float *host, size_t n) {
  clnn_tensor *t;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, ndim, dims, &t));
  if (host)
    TU_OK(clnn_tensor_write(t, host, n * sizeof(float)));
  else
    TU_OK(clnn_tensor_fill(t, NAN));
  return t;
}

static float *download(clnn_tensor *t, size_t n) {
  float *v = tu_alloc(n);
  TU_OK(clnn_tensor_read(t, v, n * sizeof(float)));
  clnn_tensor_free(t);
  return v;
}

/* Forward and all three gradients on ctx. Outputs start poisoned with NaN,
 * except dw and db with accumulate, which start from dw0 and db0. */
static result run(clnn_context *ctx, const problem *p, bwd_mode mode, int accumulate) {
  const clnn_conv_transpose2d_desc *d = &p->d;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->c, d->k / d->groups, d->kh, d->kw};
  int64_t yd[4] = {d->n, d->k, p->oh, p->ow};
  clnn_tensor *x = upload(ctx, 4, xd, p->x, p->nx), *w = upload(ctx, 4, wd, p->w, p->nw);
  clnn_tensor *b = p->b ? upload(ctx, 1, &d->k, p->b, p->nb) : NULL, *dy = upload(ctx, 4, yd, p->dy, p->ny);
  clnn_tensor *y = upload(ctx, 4, yd, NULL, 0), *dx = upload(ctx, 4, xd, NULL, 0);
  clnn_tensor *dw = upload(ctx, 4, wd, accumulate ? p->dw0 : NULL, p->nw);
  clnn_tensor *db = upload(ctx, 1, &d->k, accumulate ? p->db0 : NULL, p->nb);
  clnn_status st = clnn_conv_transpose2d_fwd(ctx, d, x, w, b, y);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: fwd: %s", p->what, clnn_context_errmsg(ctx));
  if (mode == BWD_COMBINED) {
    st = clnn_conv_transpose2d_bwd(ctx, d, x, w, dy, dx, dw, db, accumulate);
    ck_assert_msg(st == CLNN_SUCCESS, "%s: bwd: %s", p->what, clnn_context_errmsg(ctx));
  } else {
    st = clnn_conv_transpose2d_bwd_data(ctx, d, dy, w, dx);
    ck_assert_msg(st == CLNN_SUCCESS, "%s: bwd_data: %s", p->what, clnn_context_errmsg(ctx));
    st = clnn_conv_transpose2d_bwd_weights(ctx, d, x, dy, dw, accumulate);
    ck_assert_msg(st == CLNN_SUCCESS, "%s: bwd_weights: %s", p->what, clnn_context_errmsg(ctx));
    st = clnn_conv_transpose2d_bwd_bias(ctx, d, dy, db, accumulate);
    ck_assert_msg(st == CLNN_SUCCESS, "%s: bwd_bias: %s", p->what, clnn_context_errmsg(ctx));
  }
  result r = {download(y, p->ny), download(dx, p->nx), download(dw, p->nw), download(db, p->nb)};
  clnn_tensor_free(x);
  clnn_tensor_free(w);
  clnn_tensor_free(b);
  clnn_tensor_free(dy);
  return r;
}

/* Root mean square of a reference output: the scale of its elements. */
static double rms(const float *v, size_t n) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += (double)v[i] * v[i];
  return n ? sqrt(s / (double)n) : 0.0;
}

/* One output: relative L2 error <= tol and each element within tol of the
 * output's scale (sums that cancel keep their terms' absolute error);
 * tol 0: exact. */
static void compare(const problem *p, const char *name, const float *got, const float *ref, size_t n, double tol) {
  char what[320];
  snprintf(what, sizeof what, "%s (%s)", p->what, name);
  tu_cmp cmp;
  ck_assert_msg(tu_compare(what, got, ref, n, tol, tol * rms(ref, n), &cmp), "%s differs", what);
}

static void check(const problem *p, const result *r, int accumulate, double fwd_tol, double bwd_tol) {
  compare(p, "y", r->y, p->ref_y, p->ny, fwd_tol);
  compare(p, "dx", r->dx, p->ref_dx, p->nx, bwd_tol);
  compare(p, accumulate ? "dw, accumulate" : "dw", r->dw, accumulate ? p->ref_dw_acc : p->ref_dw, p->nw, bwd_tol);
  compare(p, accumulate ? "db, accumulate" : "db", r->db, accumulate ? p->ref_db_acc : p->ref_db, p->nb, bwd_tol);
}

static bool same_bits(const float *a, const float *b, size_t n) { return !memcmp(a, b, n * sizeof(float)); }

/* ----------------------------------------------------------------- cases */

/* The algorithm every call of a test runs: chosen by the library, or forced
 * through CLNN_CONV_TRANSPOSE_ALGO (subpixel falls back to conv where it
 * does not apply). */
static const char *const modes[3] = {NULL, "subpixel", "conv"};

static void force_algo(const char *algo) {
  const char *now = getenv("CLNN_CONV_TRANSPOSE_ALGO");
  if ((now == NULL) == (algo == NULL) && (!algo || !strcmp(now, algo))) return;
  if (algo)
    setenv("CLNN_CONV_TRANSPOSE_ALGO", algo, 1);
  else
    unsetenv("CLNN_CONV_TRANSPOSE_ALGO");
  tu_ctx_free(); /* a context reads the environment once, when it is made */
}

/* Integer data: sums are exact in float32, so every path must equal the
 * reference bit for bit (smooth activations get a float tolerance). Each
 * case runs under each algorithm: _i = mode * N_CASES + case. */
START_TEST(test_integer_case) {
  const int ci = _i % N_CASES, mode = _i / N_CASES;
  const dc_case *c = &cases[ci];
  clnn_conv_transpose2d_desc d = desc_of(c);
  problem p;
  problem_make(&p, &d, c->bias, true, 1000 + 10 * (uint64_t)ci);
  if (modes[mode]) snprintf(p.what + strlen(p.what), sizeof p.what - strlen(p.what), " [%s]", modes[mode]);
  force_algo(modes[mode]);
  double fwd_tol = (c->act == CLNN_ACT_IDENTITY || c->act == CLNN_ACT_RELU) ? 0.0 : 1e-6;
  result r = run(tu_ctx(), &p, ci % 2 ? BWD_COMBINED : BWD_SEPARATE, 0);
  check(&p, &r, 0, fwd_tol, 0.0);
  result_free(&r);
  r = run(tu_ctx(), &p, ci % 2 ? BWD_SEPARATE : BWD_COMBINED, 1);
  check(&p, &r, 1, fwd_tol, 0.0);
  result_free(&r);
  force_algo(NULL);
  problem_free(&p);
}
END_TEST

/* Normal floats: within tolerance; repeats, and combined against separate
 * backward calls, give the same bits. Chosen and forced sub-pixel
 * algorithms: _i = mode * N_CASES + case. */
START_TEST(test_float_deterministic) {
  const int ci = _i % N_CASES, mode = _i / N_CASES;
  const dc_case *c = &cases[ci];
  clnn_conv_transpose2d_desc d = desc_of(c);
  problem p;
  problem_make(&p, &d, c->bias, false, 2000 + 10 * (uint64_t)ci);
  if (modes[mode]) snprintf(p.what + strlen(p.what), sizeof p.what - strlen(p.what), " [%s]", modes[mode]);
  force_algo(modes[mode]);
  result r1 = run(tu_ctx(), &p, BWD_COMBINED, 0), r2 = run(tu_ctx(), &p, BWD_SEPARATE, 0);
  force_algo(NULL);
  check(&p, &r1, 0, 1e-5, 1e-5);
  tu_cmp cmp;
  ck_assert(tu_compare(p.what, r1.y, p.ref_y, p.ny, 1e-5, 1e-5, &cmp));
  ck_assert_msg(cmp.rel_l2_err < 1e-6, "%s: y rel L2 %.3g", p.what, cmp.rel_l2_err);
  ck_assert_msg(same_bits(r1.y, r2.y, p.ny), "%s: two forward runs differ", p.what);
  ck_assert_msg(same_bits(r1.dx, r2.dx, p.nx), "%s: dx differs between calls", p.what);
  ck_assert_msg(same_bits(r1.dw, r2.dw, p.nw), "%s: dw differs between calls", p.what);
  ck_assert_msg(same_bits(r1.db, r2.db, p.nb), "%s: db differs between calls", p.what);
  result_free(&r1);
  result_free(&r2);
  problem_free(&p);
}
END_TEST

/* The library's choice per pass, and the override. */
START_TEST(test_algo_choice) {
  static const struct {
    int index;
    const char *fwd, *bwd;
  } want[] = {{0, "conv", "conv"},         /* small image: the borders cost sub-pixel too much */
              {1, "conv", "conv"},         /* 3x3 stride 2: 7 zero taps in 16 */
              {2, "conv", "subpixel"},     /* stride 3, kernel 3: no zero taps */
              {3, "conv", "conv"},         /* stride 1 */
              {7, "subpixel", "subpixel"}, /* 2x2 stride 2: no borders either */
              {10, "conv", "subpixel"},
              {11, "subpixel", "subpixel"},
              {18, "subpixel", "subpixel"}};
  clnn_conv_transpose_algo a;
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    clnn_conv_transpose2d_desc d = desc_of(&cases[want[i].index]);
    TU_OK(clnn_conv_transpose2d_fwd_algo(tu_ctx(), &d, &a));
    ck_assert_msg(!strcmp(clnn_conv_transpose_algo_name(a), want[i].fwd), "case %d fwd: %s, expected %s",
                  want[i].index, clnn_conv_transpose_algo_name(a), want[i].fwd);
    TU_OK(clnn_conv_transpose2d_bwd_algo(tu_ctx(), &d, &a));
    ck_assert_msg(!strcmp(clnn_conv_transpose_algo_name(a), want[i].bwd), "case %d bwd: %s, expected %s",
                  want[i].index, clnn_conv_transpose_algo_name(a), want[i].bwd);
  }
  /* The anchor problem runs sub-pixel both ways. */
  clnn_conv_transpose2d_desc anchor = clnn_conv_transpose2d_desc_make(8, 64, 56, 56, 32, 4, 4);
  anchor.stride_h = anchor.stride_w = 2;
  anchor.pad_h = anchor.pad_w = 1;
  TU_OK(clnn_conv_transpose2d_fwd_algo(tu_ctx(), &anchor, &a));
  ck_assert_str_eq(clnn_conv_transpose_algo_name(a), "subpixel");
  TU_OK(clnn_conv_transpose2d_bwd_algo(tu_ctx(), &anchor, &a));
  ck_assert_str_eq(clnn_conv_transpose_algo_name(a), "subpixel");
  /* Forced: sub-pixel where it applies (not with stride and dilation both), conv anywhere. */
  clnn_conv_transpose2d_desc d1 = desc_of(&cases[1]), d5 = desc_of(&cases[5]);
  force_algo("subpixel");
  TU_OK(clnn_conv_transpose2d_fwd_algo(tu_ctx(), &d1, &a));
  ck_assert_str_eq(clnn_conv_transpose_algo_name(a), "subpixel");
  TU_OK(clnn_conv_transpose2d_bwd_algo(tu_ctx(), &d5, &a));
  ck_assert_str_eq(clnn_conv_transpose_algo_name(a), "conv");
  force_algo("conv");
  TU_OK(clnn_conv_transpose2d_fwd_algo(tu_ctx(), &anchor, &a));
  ck_assert_str_eq(clnn_conv_transpose_algo_name(a), "conv");
  force_algo(NULL);
  ck_assert_str_eq(clnn_conv_transpose_algo_name((clnn_conv_transpose_algo)7), "unknown");
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_fwd_algo(tu_ctx(), &d1, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_bwd_algo(NULL, &d1, &a));
  d1.kh = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv_transpose2d_fwd_algo(tu_ctx(), &d1, &a));
}
END_TEST

/* The CLBlast engine (the GPU default) must agree with the reference too. */
START_TEST(test_clblast_engine) {
  static const int picks[] = {0, 6, 17};
  clnn_context_options o = clnn_context_options_default();
  o.gemm = CLNN_GEMM_CLBLAST;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
    const dc_case *c = &cases[picks[i]];
    clnn_conv_transpose2d_desc d = desc_of(c);
    d.act = CLNN_ACT_IDENTITY;
    problem p;
    problem_make(&p, &d, c->bias, true, 3000 + i);
    result r = run(ctx, &p, BWD_COMBINED, 1);
    check(&p, &r, 1, 0.0, 0.0);
    result_free(&r);
    problem_free(&p);
  }
  clnn_context_free(ctx);
}
END_TEST

/* Forward (bwd = false) or the combined backward with accumulate on a
 * context with the given workspace limit; outputs start poisoned (dw and
 * db from dw0, db0). Returns the status; on success checks the outputs
 * exactly, on failure that nothing was written. */
static clnn_status run_limited(const problem *p, size_t limit, bool bwd) {
  const clnn_conv_transpose2d_desc *d = &p->d;
  clnn_context_options o = clnn_context_options_default();
  o.workspace_limit = limit;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->c, d->k / d->groups, d->kh, d->kw};
  int64_t yd[4] = {d->n, d->k, p->oh, p->ow};
  clnn_tensor *x = upload(ctx, 4, xd, p->x, p->nx), *w = upload(ctx, 4, wd, p->w, p->nw);
  clnn_tensor *b = upload(ctx, 1, &d->k, p->b, p->nb), *dy = upload(ctx, 4, yd, p->dy, p->ny);
  clnn_tensor *y = upload(ctx, 4, yd, NULL, 0), *dx = upload(ctx, 4, xd, NULL, 0);
  clnn_tensor *dw = upload(ctx, 4, wd, p->dw0, p->nw), *db = upload(ctx, 1, &d->k, p->db0, p->nb);
  clnn_status st = bwd ? clnn_conv_transpose2d_bwd(ctx, d, x, w, dy, dx, dw, db, 1)
                       : clnn_conv_transpose2d_fwd(ctx, d, x, w, b, y);
  if (st != CLNN_SUCCESS) {
    ck_assert_msg(st == CLNN_ERR_UNSUPPORTED, "%s: %s", p->what, clnn_context_errmsg(ctx));
    ck_assert_msg(strstr(clnn_context_errmsg(ctx), "workspace") != NULL, "%s", clnn_context_errmsg(ctx));
  }
  float *vy = download(y, p->ny), *vdx = download(dx, p->nx), *vdw = download(dw, p->nw), *vdb = download(db, p->nb);
  if (st == CLNN_SUCCESS && !bwd) compare(p, "y, chunked", vy, p->ref_y, p->ny, 0.0);
  if (st == CLNN_SUCCESS && bwd) {
    compare(p, "dx, chunked", vdx, p->ref_dx, p->nx, 0.0);
    compare(p, "dw, chunked", vdw, p->ref_dw_acc, p->nw, 0.0);
    compare(p, "db, chunked", vdb, p->ref_db_acc, p->nb, 0.0);
  }
  if (st != CLNN_SUCCESS) {
    for (size_t i = 0; i < p->ny; i++) ck_assert_msg(isnan(vy[i]), "%s: y[%zu] written", p->what, i);
    for (size_t i = 0; i < p->nx; i++) ck_assert_msg(isnan(vdx[i]), "%s: dx[%zu] written", p->what, i);
    ck_assert_msg(same_bits(vdw, p->dw0, p->nw), "%s: dw written", p->what);
    ck_assert_msg(same_bits(vdb, p->db0, p->nb), "%s: db written", p->what);
  }
  free(vy);
  free(vdx);
  free(vdw);
  free(vdb);
  clnn_tensor_free(x);
  clnn_tensor_free(w);
  clnn_tensor_free(b);
  clnn_tensor_free(dy);
  clnn_context_free(ctx);
  return st;
}

/* The smallest workspace limits (doubling from 2 KiB) at which each pass
 * runs: images go in chunks of one or two there, and must give exactly the
 * reference's results; the limits below must fail cleanly (UNSUPPORTED,
 * nothing written). Sub-pixel, conv with zero-extended x, plain conv. */
START_TEST(test_chunked_scratch) {
  static const dc_case chunk_cases[] = {
      {5, 5, 11, 13, 7, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1, CLNN_ACT_RELU},
      {5, 4, 9, 10, 4, 3, 3, 2, 2, 2, 1, 2, 2, 3, 3, 1, 1, CLNN_ACT_IDENTITY},
      {5, 5, 9, 8, 4, 3, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, CLNN_ACT_IDENTITY},
  };
  static const char *const algos[] = {"subpixel", "conv", "conv"};
  for (size_t i = 0; i < sizeof chunk_cases / sizeof chunk_cases[0]; i++) {
    clnn_conv_transpose2d_desc d = desc_of(&chunk_cases[i]);
    problem p;
    problem_make(&p, &d, 1, true, 4000 + i);
    force_algo(algos[i]);
    for (int pass = 0; pass < 2; pass++) {
      size_t limit = 2 << 10;
      while (run_limited(&p, limit, pass == 1) != CLNN_SUCCESS) {
        limit *= 2;
        ck_assert_msg(limit <= (4 << 20), "%s: no workspace limit up to 4 MiB works", p.what);
      }
      /* The CPU variants need scratch here; the GPU ones (CLNN_DEVICE_CLASS=gpu)
       * read patches in place and may not, which is fine. */
      if (clnn_context_is_cpu(tu_ctx())) ck_assert_msg(limit > (2 << 10), "%s: even 2 KiB was enough", p.what);
    }
    force_algo(NULL);
    problem_free(&p);
  }
}
END_TEST

/* ------------------------------------------------------------ reference */

typedef struct fd_problem {
  clnn_conv_transpose2d_desc d;
  size_t nx, nw, ny;
  double *x, *w, *b, *dy, *y;
} fd_problem;

/* sum(y * dy): its gradients are the backward passes given dy. */
static double fd_loss(void *vp) {
  fd_problem *p = vp;
  ck_assert_int_eq(clnn__ref_conv_transpose2d_fwd_f64(&p->d, p->x, p->w, p->b, p->y), CLNN_SUCCESS);
  double s = 0.0;
  for (size_t i = 0; i < p->ny; i++) s += p->y[i] * p->dy[i];
  return s;
}

START_TEST(test_ref_finite_differences) {
  static const int picks[] = {1, 2, 6, 8, 15};
  for (size_t ci = 0; ci < sizeof picks / sizeof picks[0]; ci++) {
    fd_problem p;
    p.d = desc_of(&cases[picks[ci]]);
    p.d.act = CLNN_ACT_IDENTITY;
    int64_t oh, ow;
    TU_OK(clnn_conv_transpose2d_desc_check(&p.d, &oh, &ow));
    p.nx = (size_t)(p.d.n * p.d.c * p.d.h * p.d.w);
    p.nw = (size_t)(p.d.c * (p.d.k / p.d.groups) * p.d.kh * p.d.kw);
    p.ny = (size_t)(p.d.n * p.d.k * oh * ow);
    p.x = tu_normal_f64(p.nx, 100 + ci);
    p.w = tu_normal_f64(p.nw, 200 + ci);
    p.b = tu_normal_f64((size_t)p.d.k, 300 + ci);
    p.dy = tu_normal_f64(p.ny, 400 + ci);
    p.y = tu_normal_f64(p.ny, 500 + ci);
    double *gx = tu_normal_f64(p.nx, 1), *gw = tu_normal_f64(p.nw, 2), *gb = tu_normal_f64((size_t)p.d.k, 3);
    clnn_conv_transpose2d_desc with_act = p.d; /* the backward ignores the activation */
    with_act.act = CLNN_ACT_SILU;
    TU_OK(clnn__ref_conv_transpose2d_bwd_data_f64(&with_act, p.dy, p.w, gx));
    TU_OK(clnn__ref_conv_transpose2d_bwd_weights_f64(&with_act, p.x, p.dy, gw));
    TU_OK(clnn__ref_conv_transpose2d_bwd_bias_f64(&with_act, p.dy, gb));
    ck_assert(tu_fd_check("ref bwd_data", fd_loss, &p, p.x, p.nx, gx, 1e-3, 1e-8));
    ck_assert(tu_fd_check("ref bwd_weights", fd_loss, &p, p.w, p.nw, gw, 1e-3, 1e-8));
    ck_assert(tu_fd_check("ref bwd_bias", fd_loss, &p, p.b, (size_t)p.d.k, gb, 1e-3, 1e-8));
    free(p.x);
    free(p.w);
    free(p.b);
    free(p.dy);
    free(p.y);
    free(gx);
    free(gw);
    free(gb);
  }
}
END_TEST

/* By definition the forward is the data gradient of the equivalent
 * convolution (whenever output padding is below the stride, so that the
 * convolution maps the output size back to the input size), and dx is that
 * convolution's forward: the two references must agree. */
START_TEST(test_ref_is_conv_adjoint) {
  for (int i = 0; i < N_CASES; i++) {
    const dc_case *c = &cases[i];
    if (c->oph >= c->sh || c->opw >= c->sw) continue;
    clnn_conv_transpose2d_desc d = desc_of(c);
    d.act = CLNN_ACT_IDENTITY;
    problem p;
    problem_make(&p, &d, 0, true, 6000 + (uint64_t)i);
    clnn_conv2d_desc e = clnn_conv2d_desc_make(d.n, d.k, p.oh, p.ow, d.c, d.kh, d.kw);
    e.stride_h = d.stride_h, e.stride_w = d.stride_w, e.pad_h = d.pad_h, e.pad_w = d.pad_w;
    e.dilation_h = d.dilation_h, e.dilation_w = d.dilation_w, e.groups = d.groups;
    int64_t eh, ew;
    TU_OK(clnn_conv2d_desc_check(&e, &eh, &ew));
    ck_assert_int_eq(eh, d.h);
    ck_assert_int_eq(ew, d.w);
    float *y = tu_alloc(p.ny), *dx = tu_alloc(p.nx), *dw = tu_alloc(p.nw);
    TU_OK(clnn_ref_conv2d_bwd_data(&e, p.x, p.w, y));
    TU_OK(clnn_ref_conv2d_fwd(&e, p.dy, p.w, NULL, dx));
    TU_OK(clnn_ref_conv2d_bwd_weights(&e, p.dy, p.x, dw, 0));
    ck_assert_msg(same_bits(y, p.ref_y, p.ny), "%s: y differs from conv bwd_data", p.what);
    ck_assert_msg(same_bits(dx, p.ref_dx, p.nx), "%s: dx differs from conv fwd", p.what);
    ck_assert_msg(same_bits(dw, p.ref_dw, p.nw), "%s: dw differs from conv bwd_weights", p.what);
    free(y);
    free(dx);
    free(dw);
    problem_free(&p);
  }
}
END_TEST

/* ------------------------------------------------------------ bad input */

/* Fixture: deconv mb2ic4ih5iw5oc6kh3sh2ph1oph1 (output 10 x 10), valid
 * tensors, outputs poisoned. */
static clnn_conv_transpose2d_desc bd;
static clnn_tensor *bx, *bw, *bb, *by, *bdy, *bdx, *bdw, *bdb;

static void bad_setup(void) {
  bd = clnn_conv_transpose2d_desc_make(2, 4, 5, 5, 6, 3, 3);
  bd.stride_h = bd.stride_w = 2;
  bd.pad_h = bd.pad_w = 1;
  bd.output_pad_h = bd.output_pad_w = 1;
  int64_t xd[4] = {2, 4, 5, 5}, wd[4] = {4, 6, 3, 3}, k = 6, yd[4] = {2, 6, 10, 10};
  bx = tu_tensor(4, xd, NULL);
  bw = tu_tensor(4, wd, NULL);
  bb = tu_tensor(1, &k, NULL);
  bdy = tu_tensor(4, yd, NULL);
  TU_OK(clnn_tensor_fill(bx, 1.0f));
  TU_OK(clnn_tensor_fill(bw, 1.0f));
  TU_OK(clnn_tensor_fill(bb, 1.0f));
  TU_OK(clnn_tensor_fill(bdy, 1.0f));
  by = tu_tensor(4, yd, NULL);
  bdx = tu_tensor(4, xd, NULL);
  bdw = tu_tensor(4, wd, NULL);
  bdb = tu_tensor(1, &k, NULL);
  tu_poison(by);
  tu_poison(bdx);
  tu_poison(bdw);
  tu_poison(bdb);
}

static void bad_teardown(void) {
  clnn_tensor *all[] = {bx, bw, bb, by, bdy, bdx, bdw, bdb};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
}

/* Every output must still hold its poison: a failed call writes nothing. */
static void assert_untouched(void) {
  clnn_tensor *outs[] = {by, bdx, bdw, bdb};
  tu_assert_poisoned(outs, sizeof outs / sizeof outs[0]);
}

START_TEST(test_bad_pointers) {
  clnn_context *ctx = tu_ctx();
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_fwd(NULL, &bd, bx, bw, bb, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_fwd(ctx, NULL, bx, bw, bb, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_fwd(ctx, &bd, NULL, bw, bb, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'x'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_fwd(ctx, &bd, bx, NULL, bb, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_fwd(ctx, &bd, bx, bw, bb, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_bwd_data(ctx, &bd, NULL, bw, bdx));
  ck_assert(strstr(clnn_context_errmsg(ctx), "clnn_conv_transpose2d_bwd_data") != NULL);
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dy'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_bwd_data(ctx, &bd, bdy, NULL, bdx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_bwd_data(ctx, &bd, bdy, bw, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_bwd_weights(ctx, &bd, NULL, bdy, bdw, 0));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_bwd_weights(ctx, &bd, bx, bdy, NULL, 0));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dw'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_bwd_bias(ctx, &bd, NULL, bdb, 0));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_bwd_bias(NULL, &bd, bdy, bdb, 0));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_bwd(ctx, &bd, bx, bw, bdy, NULL, NULL, NULL, 0));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_bwd(ctx, &bd, NULL, bw, bdy, bdx, bdw, NULL, 0));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'x'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_conv_transpose2d_desc_check(NULL, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_conv_transpose2d_fwd(&bd, NULL, NULL, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_conv_transpose2d_bwd_data(&bd, NULL, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_conv_transpose2d_bwd_weights(&bd, NULL, NULL, NULL, 0));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_conv_transpose2d_bwd_bias(&bd, NULL, NULL, 0));
  assert_untouched();
}
END_TEST

/* Each bad descriptor fails forward and backward with status want and a
 * message naming field (NULL: any message). */
static void expect_bad(const clnn_conv_transpose2d_desc *d, clnn_status want, const char *field) {
  clnn_context *ctx = tu_ctx();
  TU_FAILS(want, clnn_conv_transpose2d_fwd(ctx, d, bx, bw, bb, by));
  if (field) ck_assert_msg(strstr(clnn_context_errmsg(ctx), field) != NULL, "%s", clnn_context_errmsg(ctx));
  TU_FAILS(want, clnn_conv_transpose2d_bwd(ctx, d, bx, bw, bdy, bdx, bdw, bdb, 0));
  TU_FAILS(want, clnn_conv_transpose2d_desc_check(d, NULL, NULL));
  float host[1];
  TU_FAILS(want, clnn_ref_conv_transpose2d_fwd(d, host, host, NULL, host));
}

START_TEST(test_bad_descriptors) {
  clnn_conv_transpose2d_desc d = bd;
  d.output_pad_h = 2; /* not below stride 2 nor dilation 1 */
  expect_bad(&d, CLNN_ERR_INVALID_VALUE, "output_pad_h");
  d = bd;
  d.stride_w = 1;
  d.output_pad_w = 1; /* equal to the stride and the dilation */
  expect_bad(&d, CLNN_ERR_INVALID_VALUE, "output_pad_w");
  d = bd;
  d.output_pad_h = -1;
  expect_bad(&d, CLNN_ERR_INVALID_VALUE, "output_pad_h");
  d = bd;
  d.n = -1; /* 0 is an empty batch (test_empty_batch) */
  expect_bad(&d, CLNN_ERR_INVALID_VALUE, "desc->n");
  d = bd;
  d.c = -4;
  expect_bad(&d, CLNN_ERR_INVALID_VALUE, "desc->c");
  d = bd;
  d.kw = 0;
  expect_bad(&d, CLNN_ERR_INVALID_VALUE, "desc->kw");
  d = bd;
  d.stride_h = 0;
  expect_bad(&d, CLNN_ERR_INVALID_VALUE, "stride_h");
  d = bd;
  d.dilation_w = -1;
  expect_bad(&d, CLNN_ERR_INVALID_VALUE, "dilation_w");
  d = bd;
  d.pad_h = -1;
  expect_bad(&d, CLNN_ERR_INVALID_VALUE, "pad_h");
  d = bd;
  d.groups = 4; /* divides c = 4 but not k = 6 */
  expect_bad(&d, CLNN_ERR_INVALID_VALUE, "groups");
  d = bd;
  d.act = (clnn_activation)99;
  expect_bad(&d, CLNN_ERR_INVALID_VALUE, "act");
  d = bd;
  d.h = (int64_t)1 << 31;
  expect_bad(&d, CLNN_ERR_INVALID_VALUE, "desc->h");
  d = bd;
  d.pad_h = 7; /* output (5-1)*2 - 14 + 2 + 1 + 1 = -2 rows */
  expect_bad(&d, CLNN_ERR_SHAPE_MISMATCH, "output would be");
  d = bd;
  d.n = 1 << 20, d.c = 1 << 10; /* x alone has 2^30 * 25 elements */
  expect_bad(&d, CLNN_ERR_SIZE_OVERFLOW, "input");
  /* output padding below the dilation is fine even at or above the stride */
  d = bd;
  d.stride_h = 1, d.output_pad_h = 1, d.dilation_h = 2;
  TU_OK(clnn_conv_transpose2d_desc_check(&d, NULL, NULL));
  /* accumulate must be 0 or 1 */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv_transpose2d_bwd_weights(tu_ctx(), &bd, bx, bdy, bdw, 2));
  ck_assert(strstr(clnn_context_errmsg(tu_ctx()), "accumulate") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv_transpose2d_bwd_bias(tu_ctx(), &bd, bdy, bdb, -1));
  float host[6];
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_ref_conv_transpose2d_bwd_bias(&bd, host, host, 3));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_shapes) {
  clnn_context *ctx = tu_ctx();
  /* y / dy 10 x 9 where the output is 10 x 10 (output padding forgotten, say) */
  int64_t yd_bad[4] = {2, 6, 10, 9};
  clnn_tensor *y_bad = tu_tensor(4, yd_bad, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv_transpose2d_fwd(ctx, &bd, bx, bw, bb, y_bad));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'y'") && strstr(clnn_context_errmsg(ctx), "[2,6,10,10]"));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv_transpose2d_bwd_data(ctx, &bd, y_bad, bw, bdx));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv_transpose2d_bwd_weights(ctx, &bd, bx, y_bad, bdw, 0));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv_transpose2d_bwd_bias(ctx, &bd, y_bad, bdb, 0));
  clnn_tensor_free(y_bad);
  /* the weight in the convolution's layout (k, c/g, kh, kw) instead of (c, k/g, kh, kw) */
  int64_t wd_conv[4] = {6, 4, 3, 3};
  clnn_tensor *w_conv = tu_tensor(4, wd_conv, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv_transpose2d_fwd(ctx, &bd, bx, w_conv, bb, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'w'") && strstr(clnn_context_errmsg(ctx), "[4,6,3,3]"));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv_transpose2d_bwd_weights(ctx, &bd, bx, bdy, w_conv, 0));
  clnn_tensor_free(w_conv);
  /* groups 2 needs w (4, 3, 3, 3) */
  clnn_conv_transpose2d_desc d = bd;
  d.groups = 2;
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv_transpose2d_fwd(ctx, &d, bx, bw, bb, by));
  /* x, dx of the wrong size, b and db of the wrong length */
  int64_t xd_bad[4] = {2, 4, 5, 6}, five = 5;
  clnn_tensor *x_bad = tu_tensor(4, xd_bad, NULL), *b_bad = tu_tensor(1, &five, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv_transpose2d_fwd(ctx, &bd, x_bad, bw, bb, by));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv_transpose2d_fwd(ctx, &bd, bx, bw, b_bad, by));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv_transpose2d_bwd_data(ctx, &bd, bdy, bw, x_bad));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_conv_transpose2d_bwd_bias(ctx, &bd, bdy, b_bad, 0));
  clnn_tensor_free(x_bad);
  clnn_tensor_free(b_bad);
  /* int32 where float32 is needed */
  int64_t xd[4] = {2, 4, 5, 5};
  clnn_tensor *xi;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, xd, &xi));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_conv_transpose2d_fwd(ctx, &bd, xi, bw, bb, by));
  clnn_tensor_free(xi);
  assert_untouched();
}
END_TEST

START_TEST(test_bad_aliasing_and_context) {
  clnn_context *ctx = tu_ctx();
  /* stride 1, c == k, kernel 3 pad 1: x and y have one shape; y viewing x's memory */
  clnn_conv_transpose2d_desc d = clnn_conv_transpose2d_desc_make(2, 6, 8, 8, 6, 3, 3);
  d.pad_h = d.pad_w = 1;
  int64_t dims[4] = {2, 6, 8, 8}, wd[4] = {6, 6, 3, 3}, six = 6;
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, 2 * 6 * 8 * 8 * sizeof(float), &buf));
  clnn_tensor *a, *a2, *wv, *bv, *w = tu_tensor(4, wd, NULL), *t = tu_tensor(4, dims, NULL);
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, dims, &a));
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, dims, &a2));
  TU_OK(clnn_tensor_view(buf, 64, CLNN_FLOAT32, 4, wd, &wv));
  TU_OK(clnn_tensor_view(buf, 128, CLNN_FLOAT32, 1, &six, &bv));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_conv_transpose2d_fwd(ctx, &d, a, w, NULL, a2));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_conv_transpose2d_fwd(ctx, &d, t, wv, NULL, a));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_conv_transpose2d_bwd_data(ctx, &d, a, w, a2));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_conv_transpose2d_bwd_weights(ctx, &d, a, t, wv, 0));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dw'") && strstr(clnn_context_errmsg(ctx), "'x'"));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_conv_transpose2d_bwd_bias(ctx, &d, a, bv, 1));
  /* outputs overlapping each other */
  clnn_tensor *dx = tu_tensor(4, dims, NULL);
  TU_FAILS(CLNN_ERR_ALIASING, clnn_conv_transpose2d_bwd(ctx, &d, t, w, dx, a, wv, NULL, 0));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dx'") && strstr(clnn_context_errmsg(ctx), "'dw'"));
  clnn_tensor *all[] = {a, a2, wv, bv, w, t, dx};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
  clnn_buffer_free(buf);
  /* a tensor of another context */
  clnn_context *other;
  TU_OK(clnn_context_create(NULL, &other));
  int64_t xd[4] = {2, 4, 5, 5};
  clnn_tensor *xo;
  TU_OK(clnn_tensor_create(other, CLNN_FLOAT32, 4, xd, &xo));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_conv_transpose2d_fwd(ctx, &bd, xo, bw, bb, by));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_conv_transpose2d_bwd_weights(ctx, &bd, xo, bdy, bdw, 0));
  clnn_tensor_free(xo);
  clnn_context_free(other);
  assert_untouched();
}
END_TEST

/* ------------------------------------------------------------ clnn-bench */

static void expect_file(const rm_dir *dir, const problem *p, const char *name, const float *ref, size_t n) {
  float *v = rm_read(dir, name, CLNN_FLOAT32, n);
  compare(p, name, v, ref, n, 1e-5);
  free(v);
}

/* The descriptor syntax (omitted w-keys copy the h-keys), C mode,
 * usage errors, and R mode: x, w, b, dy in; y, dx, dw, db out. */
START_TEST(test_bench) {
  rm_dir dir;
  if (!rm_open(&dir)) return;
  ck_assert_int_eq(
      rm_bench(&dir, "--mode=C --pass=bwd \"deconv mb2ic8ih7iw7oc6kh4kw4sh2sw2ph1pw1oph0opw0dh1dw1g1\""), 0);
  ck_assert_int_eq(rm_bench(&dir, "--mode=C \"deconv mb2ic8ih7oc6kh4sh2ph1oph1 act=relu\""), 0);
  /* output padding 2 >= stride 2, then an unknown key */
  ck_assert_int_eq(rm_bench(&dir, "--mode=C \"deconv mb2ic8ih7oc6kh4sh2ph1oph2\""), 2);
  ck_assert_int_eq(rm_bench(&dir, "--mode=C \"deconv mb2ic8ih7oc6kh4sh2xx1\""), 2);
  ck_assert_int_eq(rm_bench(&dir, "--mode=C --pass=sideways \"deconv mb2ic8ih7oc6kh4\""), 2);

  /* case 10: non-square, both output paddings, silu; w-keys given */
  clnn_conv_transpose2d_desc d = desc_of(&cases[10]);
  problem p;
  problem_make(&p, &d, 1, false, 9000);
  int64_t xd[4] = {d.n, d.c, d.h, d.w}, wd[4] = {d.c, d.k / d.groups, d.kh, d.kw}, yd[4] = {d.n, d.k, p.oh, p.ow};
  rm_write(&dir, "x", CLNN_FLOAT32, 4, xd, p.x);
  rm_write(&dir, "w", CLNN_FLOAT32, 4, wd, p.w);
  rm_write(&dir, "b", CLNN_FLOAT32, 1, &d.k, p.b);
  rm_write(&dir, "dy", CLNN_FLOAT32, 4, yd, p.dy);
  rm_run(&dir, "bwd", p.what);
  expect_file(&dir, &p, "y", p.ref_y, p.ny);
  expect_file(&dir, &p, "dx", p.ref_dx, p.nx);
  expect_file(&dir, &p, "dw", p.ref_dw, p.nw);
  expect_file(&dir, &p, "db", p.ref_db, p.nb);
  /* Without b.npy: no bias in y, no db; the default pass (fwd) reads x and w only. */
  rm_remove(&dir, "b");
  rm_remove(&dir, "db");
  rm_remove(&dir, "y");
  rm_run(&dir, NULL, p.what);
  float *y_nobias = tu_alloc(p.ny);
  TU_OK(clnn_ref_conv_transpose2d_fwd(&d, p.x, p.w, NULL, y_nobias));
  expect_file(&dir, &p, "y", y_nobias, p.ny);
  free(y_nobias);
  rm_run(&dir, "bwd_w", p.what);
  ck_assert_ptr_null(rm_read_opt(&dir, "db", CLNN_FLOAT32, p.nb));
  /* A dy of the wrong shape is a usage error (exit 2). */
  int64_t yd_bad[4] = {d.n, d.k, p.oh, p.ow - 1};
  float *junk = tu_alloc(p.ny);
  memset(junk, 0, p.ny * sizeof(float));
  rm_write(&dir, "dy", CLNN_FLOAT32, 4, yd_bad, junk);
  free(junk);
  ck_assert_int_eq(rm_run_status(&dir, "bwd_d", p.what), 2);
  problem_free(&p);
  rm_close(&dir);
}
END_TEST


/* A batch of 0, as torch takes it: y and dx are empty, dw and db are sums
 * over no image (0, or unchanged when accumulating), on the device and in
 * the reference. */
START_TEST(test_empty_batch) {
  clnn_context *ctx = tu_ctx();
  clnn_conv_transpose2d_desc d = clnn_conv_transpose2d_desc_make(0, 4, 5, 6, 6, 3, 3);
  d.stride_h = d.stride_w = 2;
  d.groups = 2;
  int64_t oh, ow;
  TU_OK(clnn_conv_transpose2d_desc_check(&d, &oh, &ow));
  int64_t xd[4] = {0, 4, 5, 6}, wd[4] = {4, 3, 3, 3}, bd[1] = {6}, yd[4] = {0, 6, oh, ow};
  clnn_tensor *x = tu_tensor(4, xd, NULL), *w = tu_tensor(4, wd, NULL), *b = tu_tensor(1, bd, NULL);
  clnn_tensor *y = tu_tensor(4, yd, NULL), *dx = tu_tensor(4, xd, NULL), *dw = tu_tensor(4, wd, NULL);
  clnn_tensor *db = tu_tensor(1, bd, NULL);
  tu_poison(w);
  TU_OK(clnn_conv_transpose2d_fwd(ctx, &d, x, w, b, y));
  tu_poison(dw);
  tu_poison(db);
  TU_OK(clnn_conv_transpose2d_bwd(ctx, &d, x, w, y, dx, dw, db, 0));
  tu_assert_zero("dw", dw);
  tu_assert_zero("db", db);
  tu_poison(dw);
  TU_OK(clnn_conv_transpose2d_bwd_weights(ctx, &d, x, y, dw, 0));
  tu_assert_zero("dw (alone)", dw);
  TU_OK(clnn_conv_transpose2d_bwd(ctx, &d, x, w, y, dx, dw, db, 1));
  tu_assert_zero("dw (accumulated)", dw);
  float dummy = 0.0f, hw[4 * 3 * 9], hb[6];
  for (int i = 0; i < 4 * 3 * 9; i++) hw[i] = NAN;
  for (int i = 0; i < 6; i++) hb[i] = NAN;
  TU_OK(clnn_ref_conv_transpose2d_fwd(&d, &dummy, hw, hb, &dummy));
  TU_OK(clnn_ref_conv_transpose2d_bwd_weights(&d, &dummy, &dummy, hw, 0));
  TU_OK(clnn_ref_conv_transpose2d_bwd_bias(&d, &dummy, hb, 0));
  for (int i = 0; i < 4 * 3 * 9; i++) ck_assert(hw[i] == 0.0f);
  for (int i = 0; i < 6; i++) ck_assert(hb[i] == 0.0f);
  clnn_tensor *all[] = {x, w, b, y, dx, dw, db};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
}
END_TEST

/* ========================================================= half precision */

/*
 * Every case in float16 and bfloat16, under each algorithm: inputs drawn as
 * floats and rounded to the type, the references computed on the rounded
 * inputs, the device outputs poisoned with NaN first and compared element
 * by element (tu_check_half: one unit of the type plus abs_tol, NaN and
 * infinities exactly) and by the type's relative L2 bar (host/ref.h). The
 * device sums in float32 where the reference sums in double: abs_tol, 1e-4
 * of the output's scale, allows that, far below a half unit there.
 */

static const char *dt_name(clnn_dtype dt) { return dt == CLNN_FLOAT16 ? "f16" : "bf16"; }

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

/* Round p's inputs to dt and recompute every reference on them. */
static void half_refs(problem *p, clnn_dtype dt) {
  const clnn_conv_transpose2d_desc *d = &p->d;
  float *in[6] = {p->x, p->w, p->b, p->dy, p->dw0, p->db0};
  size_t n[6] = {p->nx, p->nw, p->nb, p->ny, p->nw, p->nb};
  for (int i = 0; i < 6; i++)
    if (in[i]) tu_round_to(dt, in[i], n[i]);
  memcpy(p->ref_dw_acc, p->dw0, p->nw * sizeof(float));
  memcpy(p->ref_db_acc, p->db0, p->nb * sizeof(float));
  TU_OK(clnn_ref_conv_transpose2d_fwd(d, p->x, p->w, p->b, p->ref_y));
  TU_OK(clnn_ref_conv_transpose2d_bwd_data(d, p->dy, p->w, p->ref_dx));
  TU_OK(clnn_ref_conv_transpose2d_bwd_weights(d, p->x, p->dy, p->ref_dw, 0));
  TU_OK(clnn_ref_conv_transpose2d_bwd_bias(d, p->dy, p->ref_db, 0));
  TU_OK(clnn_ref_conv_transpose2d_bwd_weights(d, p->x, p->dy, p->ref_dw_acc, 1));
  TU_OK(clnn_ref_conv_transpose2d_bwd_bias(d, p->dy, p->ref_db_acc, 1));
}

/* Case c as a float problem in dt (inputs rounded, references on them). */
static void half_make(problem *p, const dc_case *c, clnn_dtype dt, uint64_t seed) {
  clnn_conv_transpose2d_desc d = desc_of(c);
  problem_make(p, &d, c->bias, false, seed);
  half_refs(p, dt);
  snprintf(p->what + strlen(p->what), sizeof p->what - strlen(p->what), " dt=%s", dt_name(dt));
}

/* Forward and all three gradients in dt, as run() does in float32: outputs
 * poisoned first, dw and db starting from dw0 and db0 when accumulating. */
static result half_run(clnn_context *ctx, const problem *p, clnn_dtype dt, bwd_mode mode, int accumulate) {
  const clnn_conv_transpose2d_desc *d = &p->d;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->c, d->k / d->groups, d->kh, d->kw};
  int64_t yd[4] = {d->n, d->k, p->oh, p->ow};
  clnn_tensor *x = tu_tensor_dt(dt, 4, xd, p->x), *w = tu_tensor_dt(dt, 4, wd, p->w);
  clnn_tensor *b = p->b ? tu_tensor_dt(dt, 1, &d->k, p->b) : NULL, *dy = tu_tensor_dt(dt, 4, yd, p->dy);
  clnn_tensor *y = tu_tensor_dt(dt, 4, yd, NULL), *dx = tu_tensor_dt(dt, 4, xd, NULL);
  clnn_tensor *dw = tu_tensor_dt(dt, 4, wd, NULL), *db = tu_tensor_dt(dt, 1, &d->k, NULL);
  tu_poison(y);
  tu_poison(dx);
  if (accumulate) {
    TU_OK(clnn_tensor_write_f32(dw, p->dw0, p->nw));
    TU_OK(clnn_tensor_write_f32(db, p->db0, p->nb));
  } else {
    tu_poison(dw);
    tu_poison(db);
  }
  clnn_status st = clnn_conv_transpose2d_fwd(ctx, d, x, w, b, y);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: fwd: %s", p->what, clnn_context_errmsg(ctx));
  if (mode == BWD_COMBINED) {
    st = clnn_conv_transpose2d_bwd(ctx, d, x, w, dy, dx, dw, db, accumulate);
    ck_assert_msg(st == CLNN_SUCCESS, "%s: bwd: %s", p->what, clnn_context_errmsg(ctx));
  } else {
    st = clnn_conv_transpose2d_bwd_data(ctx, d, dy, w, dx);
    ck_assert_msg(st == CLNN_SUCCESS, "%s: bwd_data: %s", p->what, clnn_context_errmsg(ctx));
    st = clnn_conv_transpose2d_bwd_weights(ctx, d, x, dy, dw, accumulate);
    ck_assert_msg(st == CLNN_SUCCESS, "%s: bwd_weights: %s", p->what, clnn_context_errmsg(ctx));
    st = clnn_conv_transpose2d_bwd_bias(ctx, d, dy, db, accumulate);
    ck_assert_msg(st == CLNN_SUCCESS, "%s: bwd_bias: %s", p->what, clnn_context_errmsg(ctx));
  }
  result r = {tu_download_f32(y), tu_download_f32(dx), tu_download_f32(dw), tu_download_f32(db)};
  clnn_tensor *all[] = {x, w, b, dy, y, dx, dw, db};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
  return r;
}

/* One output of a half run against its reference. */
static void half_cmp(const problem *p, const char *pass, const float *got, const float *ref, size_t n,
                     clnn_dtype dt) {
  tu_check_half(p->what, pass, got, ref, n, dt, half_tol(ref, n));
}

static void half_check(const problem *p, const result *r, int accumulate, clnn_dtype dt) {
  half_cmp(p, "fwd y", r->y, p->ref_y, p->ny, dt);
  half_cmp(p, "bwd_data dx", r->dx, p->ref_dx, p->nx, dt);
  half_cmp(p, accumulate ? "bwd_weights dw (accumulate)" : "bwd_weights dw", r->dw,
           accumulate ? p->ref_dw_acc : p->ref_dw, p->nw, dt);
  half_cmp(p, accumulate ? "bwd_bias db (accumulate)" : "bwd_bias db", r->db, accumulate ? p->ref_db_acc : p->ref_db,
           p->nb, dt);
}

/* Two runs give the same bits (NaN included: compared as bytes). */
static void half_same(const problem *p, const result *a, const result *b, const char *how) {
  ck_assert_msg(same_bits(a->y, b->y, p->ny), "%s: y differs (%s)", p->what, how);
  ck_assert_msg(same_bits(a->dx, b->dx, p->nx), "%s: dx differs (%s)", p->what, how);
  ck_assert_msg(same_bits(a->dw, b->dw, p->nw), "%s: dw differs (%s)", p->what, how);
  ck_assert_msg(same_bits(a->db, b->db, p->nb), "%s: db differs (%s)", p->what, how);
}

/* Case ci in float16 or bfloat16 under algorithm mode (chosen, sub-pixel
 * forced, conv forced): _i = (mode * N_CASES + ci) * 2 + type. Gradients
 * overwritten and accumulated, combined and separate calls; every fourth
 * case again the other way round, bit-identical. */
START_TEST(test_half_case) {
  const int type = _i % 2, ci = (_i / 2) % N_CASES, mode = _i / 2 / N_CASES;
  const clnn_dtype dt = tu_half_types[type];
  problem p;
  half_make(&p, &cases[ci], dt, 3000 + 10 * (uint64_t)ci + (uint64_t)type);
  if (modes[mode]) snprintf(p.what + strlen(p.what), sizeof p.what - strlen(p.what), " [%s]", modes[mode]);
  force_algo(modes[mode]);
  bwd_mode first = ci % 2 ? BWD_COMBINED : BWD_SEPARATE, other = ci % 2 ? BWD_SEPARATE : BWD_COMBINED;
  result r = half_run(tu_ctx(), &p, dt, first, 0);
  half_check(&p, &r, 0, dt);
  if (ci % 4 == 0) {
    result again = half_run(tu_ctx(), &p, dt, other, 0);
    half_same(&p, &r, &again, "a repeat, combined against separate backward calls");
    result_free(&again);
  }
  result_free(&r);
  r = half_run(tu_ctx(), &p, dt, other, 1);
  half_check(&p, &r, 1, dt);
  result_free(&r);
  force_algo(NULL);
  problem_free(&p);
}
END_TEST

/*
 * Special values: NaN, +-inf and values whose products overflow float16 (not
 * bfloat16) in x and dy, with large weights; they must reach the outputs as
 * the reference's do. The weights stay finite, and the cases are those
 * whose sub-pixel kernels have no zero taps (a kernel a multiple of the
 * stride, or stride 1): a padded tap or zero-padded plane times an
 * infinity is a NaN only the device makes (as in float32). For the same
 * reason the weight gradient, which multiplies dy's zero padding by x, is
 * checked with the specials in dy only. Both algorithms.
 */
START_TEST(test_half_specials) {
  static const int which[] = {0, 3, 7, 8};
  static const float specials[] = {NAN, INFINITY, -INFINITY, 300.0f, -300.0f, 65504.0f};
  const size_t ns = sizeof specials / sizeof specials[0];
  for (int mode = 0; mode < 3; mode += 2)
    for (int t = 0; t < TU_N_HALF_TYPES; t++)
      for (size_t k = 0; k < sizeof which / sizeof which[0]; k++) {
        const clnn_dtype dt = tu_half_types[t];
        force_algo(modes[mode]);
        problem p;
        half_make(&p, &cases[which[k]], dt, 4000 + (uint64_t)(t * 32 + k));
        if (modes[mode]) snprintf(p.what + strlen(p.what), sizeof p.what - strlen(p.what), " [%s]", modes[mode]);
        for (size_t i = 0; i < p.nx; i += 7) p.x[i] = specials[(i / 7) % ns];
        for (size_t i = 3; i < p.ny; i += 11) p.dy[i] = specials[(i / 11 + 1) % ns];
        for (size_t i = 0; i < p.nw; i++) p.w[i] *= 200.0f; /* large products: float16 overflows */
        half_refs(&p, dt);
        result r = half_run(tu_ctx(), &p, dt, BWD_COMBINED, 0);
        half_cmp(&p, "fwd y (specials)", r.y, p.ref_y, p.ny, dt);
        half_cmp(&p, "bwd_data dx (specials)", r.dx, p.ref_dx, p.nx, dt);
        half_cmp(&p, "bwd_bias db (specials)", r.db, p.ref_db, p.nb, dt);
        result_free(&r);
        /* weights: specials in dy, x finite */
        for (size_t i = 0; i < p.nx; i += 7) p.x[i] = 0.5f;
        half_refs(&p, dt);
        r = half_run(tu_ctx(), &p, dt, BWD_SEPARATE, 0);
        half_cmp(&p, "bwd_weights dw (specials in dy)", r.dw, p.ref_dw, p.nw, dt);
        result again = half_run(tu_ctx(), &p, dt, BWD_COMBINED, 0);
        half_same(&p, &r, &again, "specials, combined against separate");
        result_free(&again);
        result_free(&r);
        problem_free(&p);
      }
  force_algo(NULL);
}
END_TEST

/* Every tensor a view at an odd element offset of one buffer (2-byte
 * aligned only), every pass, in both types, under both algorithms. */
START_TEST(test_half_odd_offsets) {
  static const int which[] = {0, 1, 3, 8, 11};
  for (int mode = 0; mode < 3; mode += 2)
    for (int t = 0; t < TU_N_HALF_TYPES; t++)
      for (size_t k = 0; k < sizeof which / sizeof which[0]; k++) {
        const clnn_dtype dt = tu_half_types[t];
        force_algo(modes[mode]);
        clnn_context *ctx = tu_ctx();
        problem p;
        half_make(&p, &cases[which[k]], dt, 5000 + (uint64_t)(t * 8 + k));
        const clnn_conv_transpose2d_desc *d = &p.d;
        int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->c, d->k / d->groups, d->kh, d->kw};
        int64_t yd[4] = {d->n, d->k, p.oh, p.ow};
        /* x, w, b, dy, y, dx, dw, db one after another, each at an odd offset */
        const size_t sizes[8] = {p.nx, p.nw, p.nb, p.ny, p.ny, p.nx, p.nw, p.nb};
        size_t off[8];
        const size_t len = tu_odd_offsets(sizes, 8, off);
        clnn_buffer *buf;
        TU_OK(clnn_buffer_create(ctx, len * clnn_dtype_size(dt), &buf));
        clnn_tensor *x = tu_view_dt(buf, off[0], dt, 4, xd, p.x), *w = tu_view_dt(buf, off[1], dt, 4, wd, p.w);
        clnn_tensor *b = tu_view_dt(buf, off[2], dt, 1, &d->k, p.b ? p.b : p.db0);
        clnn_tensor *dy = tu_view_dt(buf, off[3], dt, 4, yd, p.dy), *y = tu_view_dt(buf, off[4], dt, 4, yd, NULL);
        clnn_tensor *dx = tu_view_dt(buf, off[5], dt, 4, xd, NULL), *dw = tu_view_dt(buf, off[6], dt, 4, wd, NULL);
        clnn_tensor *db = tu_view_dt(buf, off[7], dt, 1, &d->k, NULL);
        clnn_tensor *outs[] = {y, dx, dw, db};
        for (size_t i = 0; i < 4; i++) tu_poison(outs[i]);
        TU_OK(clnn_conv_transpose2d_fwd(ctx, d, x, w, p.b ? b : NULL, y));
        TU_OK(clnn_conv_transpose2d_bwd(ctx, d, x, w, dy, dx, dw, db, 0));
        float *got[4] = {tu_download_f32(y), tu_download_f32(dx), tu_download_f32(dw), tu_download_f32(db)};
        const float *ref[4] = {p.ref_y, p.ref_dx, p.ref_dw, p.ref_db};
        const size_t n[4] = {p.ny, p.nx, p.nw, p.nb};
        static const char *const pass[4] = {"fwd (odd offset)", "bwd dx (odd offset)", "bwd dw (odd offset)",
                                            "bwd db (odd offset)"};
        for (int i = 0; i < 4; i++) {
          half_cmp(&p, pass[i], got[i], ref[i], n[i], dt);
          free(got[i]);
        }
        clnn_tensor *all[] = {x, w, b, dy, y, dx, dw, db};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
        clnn_buffer_free(buf);
        problem_free(&p);
      }
  force_algo(NULL);
}
END_TEST

/* One pass of a half problem on a context with the given workspace limit:
 * the forward (bwd = false) or the combined backward, accumulating onto dw0
 * and db0. On success the outputs are checked against the half reference;
 * on failure (UNSUPPORTED, naming the workspace) y and dx must still hold
 * their poison and dw, db their old values. */
static clnn_status half_run_limited(const problem *p, clnn_dtype dt, size_t limit, bool bwd) {
  const clnn_conv_transpose2d_desc *d = &p->d;
  clnn_context_options o = clnn_context_options_default();
  o.workspace_limit = limit;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->c, d->k / d->groups, d->kh, d->kw};
  int64_t yd[4] = {d->n, d->k, p->oh, p->ow};
  clnn_tensor *t[8];
  const float *host[8] = {p->x, p->w, p->b, p->dy, NULL, NULL, p->dw0, p->db0};
  const int64_t *dims[8] = {xd, wd, &d->k, yd, yd, xd, wd, &d->k};
  const int ndim[8] = {4, 4, 1, 4, 4, 4, 4, 1};
  for (int i = 0; i < 8; i++) {
    TU_OK(clnn_tensor_create(ctx, dt, ndim[i], dims[i], &t[i]));
    if (host[i])
      TU_OK(clnn_tensor_write_f32(t[i], host[i], clnn_tensor_numel(t[i])));
    else
      TU_OK(clnn_tensor_fill(t[i], NAN));
  }
  clnn_status st = bwd ? clnn_conv_transpose2d_bwd(ctx, d, t[0], t[1], t[3], t[5], t[6], t[7], 1)
                       : clnn_conv_transpose2d_fwd(ctx, d, t[0], t[1], t[2], t[4]);
  if (st != CLNN_SUCCESS) {
    ck_assert_msg(st == CLNN_ERR_UNSUPPORTED, "%s: %s", p->what, clnn_context_errmsg(ctx));
    ck_assert_msg(strstr(clnn_context_errmsg(ctx), "workspace") != NULL, "%s", clnn_context_errmsg(ctx));
  }
  float *got[4] = {tu_download_f32(t[4]), tu_download_f32(t[5]), tu_download_f32(t[6]), tu_download_f32(t[7])};
  const float *ref[4] = {p->ref_y, p->ref_dx, p->ref_dw_acc, p->ref_db_acc};
  const float *old[4] = {NULL, NULL, p->dw0, p->db0};
  const size_t n[4] = {p->ny, p->nx, p->nw, p->nb};
  static const char *const pass[4] = {"fwd y, chunked", "bwd dx, chunked", "bwd dw (accumulate), chunked",
                                      "bwd db (accumulate), chunked"};
  for (int i = bwd ? 1 : 0; i < (bwd ? 4 : 1); i++) {
    if (st == CLNN_SUCCESS) half_cmp(p, pass[i], got[i], ref[i], n[i], dt);
    for (size_t j = 0; st != CLNN_SUCCESS && j < n[i]; j++)
      ck_assert_msg(old[i] ? got[i][j] == old[i][j] : isnan(got[i][j]), "%s: %s written by a failed call",
                    p->what, pass[i]);
  }
  for (int i = 0; i < 4; i++) free(got[i]);
  for (int i = 0; i < 8; i++) clnn_tensor_free(t[i]);
  clnn_context_free(ctx);
  return st;
}

/* test_chunked_scratch in float16 and bfloat16: at the smallest workspace
 * limit each pass runs at (images in chunks; the float32 copies are not in
 * the limited scratch), the results agree with the half reference, and
 * below it the call fails cleanly. Sub-pixel, conv with zero-extended x. */
START_TEST(test_half_chunked_scratch) {
  static const dc_case chunk_cases[] = {
      {5, 5, 11, 13, 7, 4, 4, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1, CLNN_ACT_RELU},
      {5, 4, 9, 10, 4, 3, 3, 2, 2, 2, 1, 2, 2, 3, 3, 1, 1, CLNN_ACT_IDENTITY},
  };
  static const char *const algos[] = {"subpixel", "conv"};
  for (int t = 0; t < TU_N_HALF_TYPES; t++)
    for (size_t i = 0; i < sizeof chunk_cases / sizeof chunk_cases[0]; i++) {
      problem p;
      half_make(&p, &chunk_cases[i], tu_half_types[t], 4500 + i);
      force_algo(algos[i]);
      for (int pass = 0; pass < 2; pass++) {
        size_t limit = 2 << 10;
        while (half_run_limited(&p, tu_half_types[t], limit, pass == 1) != CLNN_SUCCESS) {
          limit *= 2;
          ck_assert_msg(limit <= (4 << 20), "%s: no workspace limit up to 4 MiB works", p.what);
        }
      }
      force_algo(NULL);
      problem_free(&p);
    }
}
END_TEST

/* The sub-pixel routes stay open to half tensors (their float32 copies are
 * not in the outer workspace the routes use): on a CPU-class device the
 * 4x4 stride-2 case runs both passes through them in every type. */
START_TEST(test_half_subpixel_route) {
  force_algo("subpixel"); /* the planner's waste bound keeps this small case on conv */
  clnn_context *ctx = tu_ctx();
  if (!clnn_context_is_cpu(ctx)) {
    force_algo(NULL);
    return; /* the sub-pixel variants are CPU-class */
  }
  const clnn_dtype types[3] = {CLNN_FLOAT32, CLNN_FLOAT16, CLNN_BFLOAT16};
  for (int t = 0; t < 3; t++) {
    problem p;
    clnn_conv_transpose2d_desc d = desc_of(&cases[0]);
    problem_make(&p, &d, 1, false, 6000);
    int64_t xd[4] = {d.n, d.c, d.h, d.w}, wd[4] = {d.c, d.k / d.groups, d.kh, d.kw}, yd[4] = {d.n, d.k, p.oh, p.ow};
    clnn_tensor *x = tu_tensor_dt(types[t], 4, xd, p.x), *w = tu_tensor_dt(types[t], 4, wd, p.w);
    clnn_tensor *dy = tu_tensor_dt(types[t], 4, yd, p.dy), *y = tu_tensor_dt(types[t], 4, yd, NULL);
    clnn_tensor *dx = tu_tensor_dt(types[t], 4, xd, NULL), *dw = tu_tensor_dt(types[t], 4, wd, NULL);
    TU_OK(clnn_conv_transpose2d_fwd(ctx, &d, x, w, NULL, y));
    const char *v = clnn_context_last_variant(ctx, NULL);
    ck_assert_msg(strstr(v, "deconv.fwd.subpixel") != NULL, "%s: fwd ran %s", clnn_dtype_name(types[t]), v);
    TU_OK(clnn_conv_transpose2d_bwd(ctx, &d, x, w, dy, dx, dw, NULL, 0));
    v = clnn_context_last_variant(ctx, NULL);
    ck_assert_msg(strstr(v, "deconv.bwd.subpixel") != NULL, "%s: bwd ran %s", clnn_dtype_name(types[t]), v);
    clnn_tensor *all[] = {x, w, dy, y, dx, dw};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
    problem_free(&p);
  }
  force_algo(NULL);
}
END_TEST

/* A batch of 0 in each half type: y and dx empty, dw and db zero (or
 * unchanged when accumulating). */
START_TEST(test_half_empty_batch) {
  clnn_context *ctx = tu_ctx();
  for (int t = 0; t < TU_N_HALF_TYPES; t++) {
    const clnn_dtype dt = tu_half_types[t];
    clnn_conv_transpose2d_desc d = clnn_conv_transpose2d_desc_make(0, 4, 5, 6, 6, 3, 3);
    d.stride_h = d.stride_w = 2;
    d.groups = 2;
    int64_t oh, ow;
    TU_OK(clnn_conv_transpose2d_desc_check(&d, &oh, &ow));
    int64_t xd[4] = {0, 4, 5, 6}, wd[4] = {4, 3, 3, 3}, bd[1] = {6}, yd[4] = {0, 6, oh, ow};
    clnn_tensor *x = tu_tensor_dt(dt, 4, xd, NULL), *w = tu_tensor_dt(dt, 4, wd, NULL);
    clnn_tensor *b = tu_tensor_dt(dt, 1, bd, NULL), *y = tu_tensor_dt(dt, 4, yd, NULL);
    clnn_tensor *dx = tu_tensor_dt(dt, 4, xd, NULL), *dw = tu_tensor_dt(dt, 4, wd, NULL);
    clnn_tensor *db = tu_tensor_dt(dt, 1, bd, NULL);
    tu_poison(w);
    TU_OK(clnn_conv_transpose2d_fwd(ctx, &d, x, w, b, y));
    tu_poison(dw);
    tu_poison(db);
    TU_OK(clnn_conv_transpose2d_bwd(ctx, &d, x, w, y, dx, dw, db, 0));
    tu_assert_zero("dw (half)", dw);
    tu_assert_zero("db (half)", db);
    tu_poison(dw);
    TU_OK(clnn_conv_transpose2d_bwd_weights(ctx, &d, x, y, dw, 0));
    tu_assert_zero("dw (half, alone)", dw);
    TU_OK(clnn_conv_transpose2d_bwd_bias(ctx, &d, y, db, 1));
    tu_assert_zero("db (half, accumulated)", db);
    clnn_tensor *all[] = {x, w, b, y, dx, dw, db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
  }
}
END_TEST

/* The call fails with CLNN_ERR_INVALID_VALUE and a message naming the
 * argument and its type (and the expected one, want, unless NULL). */
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
  clnn_conv_transpose2d_desc d = clnn_conv_transpose2d_desc_make(2, 4, 5, 5, 6, 4, 4);
  d.stride_h = d.stride_w = 2;
  d.pad_h = d.pad_w = 1;
  int64_t oh, ow;
  TU_OK(clnn_conv_transpose2d_desc_check(&d, &oh, &ow));
  int64_t xd[4] = {2, 4, 5, 5}, wd[4] = {4, 6, 4, 4}, bd[1] = {6}, yd[4] = {2, 6, oh, ow};
  const clnn_dtype H = CLNN_FLOAT16, B = CLNN_BFLOAT16, F = CLNN_FLOAT32;
  clnn_tensor *x = tu_tensor_dt(H, 4, xd, NULL), *w = tu_tensor_dt(H, 4, wd, NULL), *b = tu_tensor_dt(H, 1, bd, NULL);
  clnn_tensor *y = tu_tensor_dt(H, 4, yd, NULL), *dy = tu_tensor_dt(H, 4, yd, NULL), *dx = tu_tensor_dt(H, 4, xd, NULL);
  clnn_tensor *dw = tu_tensor_dt(H, 4, wd, NULL), *db = tu_tensor_dt(H, 1, bd, NULL);
  clnn_tensor *w_bf = tu_tensor_dt(B, 4, wd, NULL), *b_f32 = tu_tensor_dt(F, 1, bd, NULL);
  clnn_tensor *y_bf = tu_tensor_dt(B, 4, yd, NULL), *dx_f32 = tu_tensor_dt(F, 4, xd, NULL);
  clnn_tensor *dw_bf = tu_tensor_dt(B, 4, wd, NULL), *db_f32 = tu_tensor_dt(F, 1, bd, NULL);
  clnn_tensor *x_bf = tu_tensor_dt(B, 4, xd, NULL);
  clnn_tensor *x_i32 = tu_tensor_dt(CLNN_INT32, 4, xd, NULL), *dy_i32 = tu_tensor_dt(CLNN_INT32, 4, yd, NULL);
  clnn_tensor *outs[] = {y, dx, dw, db, y_bf, dx_f32, dw_bf, db_f32};
  for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) tu_poison(outs[i]);
  expect_type_error(clnn_conv_transpose2d_fwd(ctx, &d, x, w_bf, b, y), "w", "bfloat16", "float16");
  expect_type_error(clnn_conv_transpose2d_fwd(ctx, &d, x, w, b_f32, y), "b", "float32", "float16");
  expect_type_error(clnn_conv_transpose2d_fwd(ctx, &d, x, w, b, y_bf), "y", "bfloat16", "float16");
  expect_type_error(clnn_conv_transpose2d_fwd(ctx, &d, x_i32, w, b, y), "x", "int32", NULL);
  expect_type_error(clnn_conv_transpose2d_bwd_data(ctx, &d, dy, w_bf, dx), "w", "bfloat16", "float16");
  expect_type_error(clnn_conv_transpose2d_bwd_data(ctx, &d, dy, w, dx_f32), "dx", "float32", "float16");
  expect_type_error(clnn_conv_transpose2d_bwd_data(ctx, &d, dy_i32, w, dx), "dy", "int32", NULL);
  expect_type_error(clnn_conv_transpose2d_bwd_weights(ctx, &d, x, dy, dw_bf, 0), "dw", "bfloat16", "float16");
  expect_type_error(clnn_conv_transpose2d_bwd_weights(ctx, &d, x_i32, dy, dw, 0), "x", "int32", "float16");
  expect_type_error(clnn_conv_transpose2d_bwd_weights(ctx, &d, x, dy_i32, dw, 0), "dy", "int32", NULL);
  expect_type_error(clnn_conv_transpose2d_bwd_bias(ctx, &d, dy, db_f32, 0), "db", "float32", "float16");
  expect_type_error(clnn_conv_transpose2d_bwd_bias(ctx, &d, dy_i32, db, 0), "dy", "int32", NULL);
  expect_type_error(clnn_conv_transpose2d_bwd(ctx, &d, x_bf, w, dy, dx, dw, db, 0), "x", "bfloat16", "float16");
  expect_type_error(clnn_conv_transpose2d_bwd(ctx, &d, x, w, dy, dx, dw, db_f32, 0), "db", "float32", "float16");
  tu_assert_poisoned(outs, sizeof outs / sizeof outs[0]);
  clnn_tensor *all[] = {x, w, b, y, dy, dx, dw, db, w_bf, b_f32, y_bf, dx_f32, dw_bf, db_f32, x_bf, x_i32, dy_i32};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
}
END_TEST

static Suite *deconv_suite(void) {
  Suite *s = suite_create("deconv");
  TCase *tc = tcase_create("cases");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_ref_finite_differences);
  tcase_add_test(tc, test_ref_is_conv_adjoint);
  tcase_add_loop_test(tc, test_integer_case, 0, 3 * N_CASES);
  tcase_add_loop_test(tc, test_float_deterministic, 0, 2 * N_CASES);
  tcase_add_test(tc, test_algo_choice);
  tcase_add_test(tc, test_empty_batch);
  tcase_add_test(tc, test_clblast_engine);
  tcase_add_test(tc, test_chunked_scratch);
  tcase_add_test(tc, test_bench);
  suite_add_tcase(s, tc);
  TCase *half = tcase_create("half");
  tcase_set_timeout(half, 600);
  tcase_add_loop_test(half, test_half_case, 0, 2 * 3 * N_CASES);
  tcase_add_test(half, test_half_specials);
  tcase_add_test(half, test_half_odd_offsets);
  tcase_add_test(half, test_half_subpixel_route);
  tcase_add_test(half, test_half_chunked_scratch);
  tcase_add_test(half, test_half_empty_batch);
  tcase_add_test(half, test_half_type_errors);
  suite_add_tcase(s, half);
  TCase *bad = tcase_create("bad_input");
  tcase_add_checked_fixture(bad, bad_setup, bad_teardown);
  tcase_add_test(bad, test_bad_pointers);
  tcase_add_test(bad, test_bad_descriptors);
  tcase_add_test(bad, test_bad_shapes);
  tcase_add_test(bad, test_bad_aliasing_and_context);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return tu_run(deconv_suite()); }
