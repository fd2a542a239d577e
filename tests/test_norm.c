/*
 * test_norm.c - batch normalisation against the host reference: training
 * and inference forward (y, saved statistics, running-stat updates with a
 * momentum and with the cumulative average), training and frozen-statistics
 * backward (dx, dgamma, dbeta, and subsets of them), fused activations, no
 * affine, 2-D and 3-D tensors, planes split in chunks and small planes
 * grouped, channels over several GPU work-groups, one value per channel,
 * inputs with mean 1e4, bit-identical repeats, the variants' device class
 * (GPU-class ones in test_norm.gpu), the reference backward against
 * double-precision finite differences, and bad arguments. Every case also
 * runs with x, y, dy, dx in float16 and bfloat16 (statistics and parameters
 * float32) against the reference on inputs rounded to the type, with
 * special values, views at odd element offsets, empty tensors in each type
 * and mixed-type errors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fd.h"
#include "common/rmode.h"
#include "common/testutil.h"
#include "host/ref.h"

typedef struct bn_case {
  int n, c, h, w;
  int affine;
  clnn_activation act;
  float mean; /* inputs ~ N(mean, 1) */
  int cumulative;
} bn_case;

static const bn_case cases[] = {
    /* n  c   h   w  affine act                 mean  cumul */
    {2, 5, 7, 9, 1, CLNN_ACT_IDENTITY, 0.0f, 0},   /* odd plane (63): vectors and tail */
    {3, 4, 8, 8, 0, CLNN_ACT_IDENTITY, 0.5f, 0},   /* no affine */
    {2, 3, 9, 11, 1, CLNN_ACT_SILU, 0.0f, 1},      /* fused SiLU, momentum = None */
    {1, 2, 70, 65, 1, CLNN_ACT_RELU, 0.0f, 0},     /* 4550-value planes: two chunks */
    {100, 3, 7, 7, 1, CLNN_ACT_IDENTITY, 0.0f, 0}, /* 49-value planes grouped 83 images per unit */
    {37, 6, 1, 1, 1, CLNN_ACT_IDENTITY, 0.0f, 0},  /* BatchNorm1d on (n, c) */
    {5, 4, 13, 1, 1, CLNN_ACT_GELU, 0.0f, 0},      /* (n, c, L) */
    {4, 6, 5, 5, 1, CLNN_ACT_IDENTITY, 1e4f, 0},   /* large mean: the variance must stay right */
    {2, 3, 6, 6, 0, CLNN_ACT_TANH, 1e4f, 1},
    {8, 16, 12, 12, 1, CLNN_ACT_HARDSWISH, -3.0f, 0},
    /* the GPU variants' edges: 16 values per work-item of 256 make slices
     * of 4096, so these channels span 3 slices cut inside planes */
    {3, 2, 61, 59, 1, CLNN_ACT_SILU, 0.0f, 0},     /* M = 10797 */
    {2, 3, 75, 77, 1, CLNN_ACT_IDENTITY, 1e4f, 0}, /* large mean over 3 slices */
    {1, 5, 257, 1, 0, CLNN_ACT_RELU, 0.0f, 0},     /* planes one past the work-group */
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

/* Tensor rank the case's activations use: 2-D and 3-D where the shape allows. */
static int rank_of(const clnn_batchnorm_desc *d) { return d->h == 1 && d->w == 1 ? 2 : d->w == 1 ? 3 : 4; }

static clnn_batchnorm_desc desc_of(const bn_case *c) {
  clnn_batchnorm_desc d = clnn_batchnorm_desc_make(c->n, c->c, c->h, c->w);
  d.affine = c->affine;
  d.act = c->act;
  d.act_alpha = 1.0f;
  d.cumulative = c->cumulative;
  d.momentum = 0.25f;
  return d;
}

static void describe(const clnn_batchnorm_desc *d, float mean, char *buf, size_t n) {
  snprintf(buf, n, "bnorm mb%lldic%lldih%lldiw%lld%s act=%s%s mean=%g", (long long)d->n, (long long)d->c,
           (long long)d->h, (long long)d->w, d->affine ? "" : " noaffine", clnn_activation_name(d->act),
           d->cumulative ? " momentum=none" : "", (double)mean);
}

/* Host data of one problem. */
typedef struct problem {
  clnn_batchnorm_desc d;
  clnn_dtype dt; /* of x, y, dy, dx on the device (float32 unless a half test sets it) */
  size_t nx, nc;
  int64_t dims[4];
  float *x, *dy, *gamma, *beta, *rmean, *rvar;
  char what[160];
} problem;

static void problem_make(problem *p, const clnn_batchnorm_desc *d, float mean, uint64_t seed) {
  p->d = *d;
  p->dt = CLNN_FLOAT32;
  TU_OK(clnn_batchnorm_desc_check(d));
  p->nx = (size_t)(d->n * d->c * d->h * d->w);
  p->nc = (size_t)d->c;
  int64_t dims[4] = {d->n, d->c, d->h, d->w};
  memcpy(p->dims, dims, sizeof dims);
  p->x = tu_alloc(p->nx);
  p->dy = tu_alloc(p->nx);
  tu_fill_normal(p->x, p->nx, seed, mean, 1.0f);
  tu_fill_normal(p->dy, p->nx, seed + 1, 0.0f, 1.0f);
  p->gamma = p->beta = NULL;
  if (d->affine) {
    p->gamma = tu_alloc(p->nc);
    p->beta = tu_alloc(p->nc);
    tu_fill_uniform(p->gamma, p->nc, seed + 2, 0.5f, 1.5f);
    tu_fill_uniform(p->beta, p->nc, seed + 3, -0.5f, 0.5f);
  }
  p->rmean = tu_alloc(p->nc);
  p->rvar = tu_alloc(p->nc);
  tu_fill_uniform(p->rmean, p->nc, seed + 4, mean - 0.5f, mean + 0.5f);
  tu_fill_uniform(p->rvar, p->nc, seed + 5, 0.5f, 2.0f);
  describe(d, mean, p->what, sizeof p->what);
}

static void problem_free(problem *p) {
  free(p->x);
  free(p->dy);
  free(p->gamma);
  free(p->beta);
  free(p->rmean);
  free(p->rvar);
}

static clnn_tensor *act_tensor(const problem *p, const float *data) {
  int r = rank_of(&p->d);
  return tu_tensor_dt(p->dt, r, p->dims, data);
}

static clnn_tensor *chan_tensor(const problem *p, const float *data) {
  int64_t c = p->d.c;
  return data ? tu_tensor(1, &c, data) : NULL;
}

/* The variants that ran are of the context's class: GPU-class ones
 * (".gpu_" names) in test_norm.gpu (CLNN_DEVICE_CLASS=gpu), CPU-class ones
 * otherwise. Clears the record for the next call. */
static void assert_planned_class(const char *what) {
  clnn_context *ctx = tu_ctx();
  clnn_device_caps caps;
  TU_OK(clnn_context_device_caps(ctx, &caps));
  const char *ran = clnn_context_last_variant(ctx, NULL);
  const bool gpu = caps.plan_class == CLNN_DEVICE_CLASS_GPU;
  ck_assert_msg(*ran && (strstr(ran, ".gpu_") != NULL) == gpu, "%s ran '%s' on a %s-class context", what, ran,
                gpu ? "GPU" : "CPU");
  clnn_context_clear_variants(ctx);
}

/* ------------------------------------------------------------ training */

/* Device results of a training forward. */
typedef struct fwd_result {
  float *y, *save_mean, *save_invstd, *rmean, *rvar;
  int64_t nbt;
} fwd_result;

static void fwd_result_free(fwd_result *r) {
  free(r->y);
  free(r->save_mean);
  free(r->save_invstd);
  free(r->rmean);
  free(r->rvar);
}

static fwd_result run_training(const problem *p, int64_t nbt) {
  clnn_context *ctx = tu_ctx();
  clnn_tensor *x = act_tensor(p, p->x), *y = act_tensor(p, NULL);
  clnn_tensor *g = chan_tensor(p, p->gamma), *b = chan_tensor(p, p->beta);
  clnn_tensor *sm = chan_tensor(p, p->rmean), *si = chan_tensor(p, p->rmean); /* overwritten */
  clnn_tensor *rm = chan_tensor(p, p->rmean), *rv = chan_tensor(p, p->rvar);
  tu_poison(y);
  tu_poison(sm);
  tu_poison(si);
  fwd_result r;
  r.nbt = nbt;
  clnn_context_clear_variants(ctx);
  clnn_status st = clnn_batchnorm_fwd_training(ctx, &p->d, x, g, b, y, sm, si, rm, rv, &r.nbt);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  assert_planned_class(p->what);
  r.y = tu_download_f32(y);
  r.save_mean = tu_download(sm);
  r.save_invstd = tu_download(si);
  r.rmean = tu_download(rm);
  r.rvar = tu_download(rv);
  clnn_tensor *ts[] = {x, y, g, b, sm, si, rm, rv};
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) clnn_tensor_free(ts[i]);
  return r;
}

static fwd_result ref_training(const problem *p, int64_t nbt) {
  fwd_result r;
  r.y = tu_alloc(p->nx);
  r.save_mean = tu_alloc(p->nc);
  r.save_invstd = tu_alloc(p->nc);
  r.rmean = tu_alloc(p->nc);
  r.rvar = tu_alloc(p->nc);
  memcpy(r.rmean, p->rmean, p->nc * sizeof(float));
  memcpy(r.rvar, p->rvar, p->nc * sizeof(float));
  r.nbt = nbt;
  TU_OK(clnn_ref_batchnorm_fwd_training(&p->d, p->x, p->gamma, p->beta, r.y, r.save_mean, r.save_invstd, r.rmean,
                                        r.rvar, &r.nbt));
  return r;
}

/* Absolute errors are measured against the data's spread (std 1), so a mean
 * of 1e4 is held to the same standard as a mean of 0. */
#define TOL 1e-5

/* y of type p->dt against the reference: float32 within TOL, a half type
 * within one unit of its last place plus TOL (tu_check_half). */
static void compare_act_output(const problem *p, const char *pass, const float *got, const float *ref, double tol) {
  char what[200];
  snprintf(what, sizeof what, "%s: %s", p->what, pass);
  if (p->dt == CLNN_FLOAT32)
    ck_assert_msg(tu_compare(what, got, ref, p->nx, tol, tol, NULL), "%s", what);
  else
    tu_check_half(p->what, pass, got, ref, p->nx, p->dt, tol);
}

static void compare_training(const problem *p, const fwd_result *got, const fwd_result *ref) {
  char what[200];
  compare_act_output(p, "y", got->y, ref->y, TOL);
  /* The batch mean of centred data is near 0: its relative error means little. */
  for (size_t c = 0; c < p->nc; c++)
    ck_assert_msg(fabs((double)got->save_mean[c] - ref->save_mean[c]) <= TOL * (1.0 + fabs(ref->save_mean[c])),
                  "%s: save_mean[%zu] %.9g, reference %.9g", p->what, c, (double)got->save_mean[c],
                  (double)ref->save_mean[c]);
  snprintf(what, sizeof what, "%s: save_invstd", p->what);
  ck_assert_msg(tu_compare(what, got->save_invstd, ref->save_invstd, p->nc, TOL, TOL, NULL), "%s", what);
  snprintf(what, sizeof what, "%s: running_mean", p->what);
  ck_assert_msg(tu_compare(what, got->rmean, ref->rmean, p->nc, TOL, TOL, NULL), "%s", what);
  snprintf(what, sizeof what, "%s: running_var", p->what);
  ck_assert_msg(tu_compare(what, got->rvar, ref->rvar, p->nc, TOL, TOL, NULL), "%s", what);
  ck_assert_int_eq(got->nbt, ref->nbt);
}

START_TEST(test_training_forward) {
  const bn_case *c = &cases[_i];
  clnn_batchnorm_desc d = desc_of(c);
  problem p;
  problem_make(&p, &d, c->mean, 100 + (uint64_t)_i);
  fwd_result ref = ref_training(&p, 4);
  fwd_result got = run_training(&p, 4), again = run_training(&p, 4);
  compare_training(&p, &got, &ref);
  ck_assert_int_eq(got.nbt, 5);
  ck_assert_msg(!memcmp(got.y, again.y, p.nx * sizeof(float)), "%s: two runs differ", p.what);
  ck_assert(!memcmp(got.save_invstd, again.save_invstd, p.nc * sizeof(float)));
  ck_assert(!memcmp(got.rvar, again.rvar, p.nc * sizeof(float)));
  fwd_result_free(&ref);
  fwd_result_free(&got);
  fwd_result_free(&again);
  problem_free(&p);
}
END_TEST

/* Inputs 1e4 + N(0, 1): the variance must come out right to float accuracy
 * (a one-pass sum of squares in float would lose every digit of it). */
START_TEST(test_large_mean_variance) {
  clnn_batchnorm_desc d = clnn_batchnorm_desc_make(8, 4, 32, 32);
  problem p;
  problem_make(&p, &d, 1e4f, 42);
  fwd_result ref = ref_training(&p, 0), got = run_training(&p, 0);
  double var_ref, var_got, worst = 0.0;
  for (size_t c = 0; c < p.nc; c++) {
    var_ref = 1.0 / ((double)ref.save_invstd[c] * ref.save_invstd[c]) - d.eps;
    var_got = 1.0 / ((double)got.save_invstd[c] * got.save_invstd[c]) - d.eps;
    ck_assert_msg(fabs(var_ref - 1.0) < 0.1, "the data's variance is about 1, got %g", var_ref);
    double rel = fabs(var_got - var_ref) / var_ref;
    if (rel > worst) worst = rel;
  }
  ck_assert_msg(worst < 1e-5, "variance relative error %.3g with mean 1e4", worst);
  compare_training(&p, &got, &ref);
  fwd_result_free(&ref);
  fwd_result_free(&got);
  problem_free(&p);
}
END_TEST

/* A NaN poisons its own channel (its batch statistics), as in PyTorch, and
 * no other: y, the saved and the running statistics of channel 1 are NaN. */
START_TEST(test_nan_propagation) {
  clnn_batchnorm_desc d = clnn_batchnorm_desc_make(2, 3, 4, 5);
  problem p;
  problem_make(&p, &d, 0.0f, 77);
  p.x[(1 * 3 + 1) * 20 + 7] = NAN; /* image 1, channel 1 */
  fwd_result got = run_training(&p, 0), ref = ref_training(&p, 0);
  for (int img = 0; img < 2; img++)
    for (int ch = 0; ch < 3; ch++)
      for (int i = 0; i < 20; i++) {
        const float v = got.y[(img * 3 + ch) * 20 + i];
        ck_assert_msg(isnan(v) == (ch == 1), "y[%d][%d][%d] = %g", img, ch, i, (double)v);
      }
  ck_assert(isnan(got.save_mean[1]) && isnan(got.save_invstd[1]) && isnan(got.rmean[1]) && isnan(got.rvar[1]));
  ck_assert(!isnan(got.save_mean[0]) && !isnan(got.rvar[2]));
  ck_assert(tu_compare(p.what, got.y, ref.y, p.nx, TOL, TOL, NULL));
  fwd_result_free(&got);
  fwd_result_free(&ref);
  problem_free(&p);
}
END_TEST

/* momentum = None: after k batches the running mean is the plain average of
 * the k batch means (PyTorch starts it from 0 and the variance from 1). */
START_TEST(test_cumulative_average) {
  clnn_context *ctx = tu_ctx();
  clnn_batchnorm_desc d = clnn_batchnorm_desc_make(3, 4, 5, 5);
  d.cumulative = 1;
  int64_t c = 4, dims[4] = {3, 4, 5, 5};
  float zeros[4] = {0, 0, 0, 0}, ones[4] = {1, 1, 1, 1}, ref_rm[4] = {0, 0, 0, 0}, ref_rv[4] = {1, 1, 1, 1};
  float gamma[4] = {1, 1, 1, 1}, beta[4] = {0, 0, 0, 0};
  clnn_tensor *rm = tu_tensor(1, &c, zeros), *rv = tu_tensor(1, &c, ones);
  clnn_tensor *g = tu_tensor(1, &c, gamma), *b = tu_tensor(1, &c, beta), *y = tu_tensor(4, dims, NULL);
  double mean_sum[4] = {0, 0, 0, 0};
  int64_t nbt = 0, ref_nbt = 0;
  float x[300], yh[300], sm[4], si[4];
  for (int step = 0; step < 3; step++) {
    tu_fill_normal(x, 300, 300 + (uint64_t)step, (float)step, 1.0f + (float)step);
    clnn_tensor *tx = tu_tensor(4, dims, x);
    TU_OK(clnn_batchnorm_fwd_training(ctx, &d, tx, g, b, y, NULL, NULL, rm, rv, &nbt));
    clnn_tensor_free(tx);
    TU_OK(clnn_ref_batchnorm_fwd_training(&d, x, gamma, beta, yh, sm, si, ref_rm, ref_rv, &ref_nbt));
    for (int k = 0; k < 4; k++) mean_sum[k] += sm[k];
  }
  ck_assert_int_eq(nbt, 3);
  float *got_rm = tu_download(rm), *got_rv = tu_download(rv);
  for (int k = 0; k < 4; k++) {
    ck_assert_msg(fabs(got_rm[k] - mean_sum[k] / 3.0) < 1e-5, "running_mean[%d] %g, average %g", k,
                  (double)got_rm[k], mean_sum[k] / 3.0);
    ck_assert(fabs(got_rm[k] - ref_rm[k]) < 1e-5);
    ck_assert(fabs(got_rv[k] - ref_rv[k]) < 1e-5 * ref_rv[k]);
  }
  free(got_rm);
  free(got_rv);
  clnn_tensor *ts[] = {rm, rv, g, b, y};
  for (size_t i = 0; i < 5; i++) clnn_tensor_free(ts[i]);
}
END_TEST

/* ----------------------------------------------------------- inference */

START_TEST(test_inference_forward) {
  const bn_case *c = &cases[_i];
  clnn_batchnorm_desc d = desc_of(c);
  problem p;
  problem_make(&p, &d, c->mean, 200 + (uint64_t)_i);
  float *ref = tu_alloc(p.nx);
  TU_OK(clnn_ref_batchnorm_fwd_inference(&d, p.x, p.gamma, p.beta, p.rmean, p.rvar, ref));
  clnn_tensor *x = act_tensor(&p, p.x), *y = act_tensor(&p, NULL);
  clnn_tensor *g = chan_tensor(&p, p.gamma), *b = chan_tensor(&p, p.beta);
  clnn_tensor *rm = chan_tensor(&p, p.rmean), *rv = chan_tensor(&p, p.rvar);
  tu_poison(y);
  clnn_context_clear_variants(tu_ctx());
  TU_OK(clnn_batchnorm_fwd_inference(tu_ctx(), &d, x, g, b, rm, rv, y));
  assert_planned_class(p.what);
  TU_OK(clnn_batchnorm_fwd_inference(tu_ctx(), &d, x, g, b, rm, rv, x)); /* in place */
  float *got = tu_download(y), *in_place = tu_download(x);
  ck_assert_msg(tu_compare(p.what, got, ref, p.nx, TOL, TOL, NULL), "%s: inference y", p.what);
  ck_assert_msg(!memcmp(got, in_place, p.nx * sizeof(float)), "%s: in place differs", p.what);
  free(got);
  free(in_place);
  free(ref);
  clnn_tensor *ts[] = {x, y, g, b, rm, rv};
  for (size_t i = 0; i < 6; i++) clnn_tensor_free(ts[i]);
  problem_free(&p);
}
END_TEST

/* ------------------------------------------------------------ backward */

typedef struct bwd_result {
  float *dx, *dgamma, *dbeta;
} bwd_result;

static void bwd_result_free(bwd_result *r) {
  free(r->dx);
  free(r->dgamma);
  free(r->dbeta);
}

/* Device backward with the given statistics (save_* or running_*), asking
 * for the outputs in want ("x", "g", "b" letters). */
static bwd_result run_backward(const problem *p, bool frozen, const float *mean, const float *stat,
                               const char *want) {
  clnn_context *ctx = tu_ctx();
  clnn_tensor *x = act_tensor(p, p->x), *dy = act_tensor(p, p->dy);
  clnn_tensor *g = chan_tensor(p, p->gamma), *b = chan_tensor(p, p->beta);
  clnn_tensor *tm = chan_tensor(p, mean), *ts = chan_tensor(p, stat);
  bool affine = p->d.affine;
  clnn_tensor *dx = strchr(want, 'x') ? act_tensor(p, NULL) : NULL;
  clnn_tensor *dg = affine && strchr(want, 'g') ? chan_tensor(p, p->rvar) : NULL;
  clnn_tensor *db = affine && strchr(want, 'b') ? chan_tensor(p, p->rvar) : NULL;
  if (dx) tu_poison(dx);
  if (dg) tu_poison(dg);
  if (db) tu_poison(db);
  clnn_context_clear_variants(ctx);
  clnn_status st = frozen ? clnn_batchnorm_bwd_inference(ctx, &p->d, x, dy, g, b, tm, ts, dx, dg, db)
                          : clnn_batchnorm_bwd(ctx, &p->d, x, dy, g, b, tm, ts, dx, dg, db);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  assert_planned_class(p->what);
  bwd_result r = {dx ? tu_download_f32(dx) : NULL, dg ? tu_download(dg) : NULL, db ? tu_download(db) : NULL};
  clnn_tensor *all[] = {x, dy, g, b, tm, ts, dx, dg, db};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
  return r;
}

static bwd_result ref_backward(const problem *p, bool frozen, const float *mean, const float *stat) {
  bwd_result r = {tu_alloc(p->nx), p->d.affine ? tu_alloc(p->nc) : NULL, p->d.affine ? tu_alloc(p->nc) : NULL};
  if (frozen)
    TU_OK(clnn_ref_batchnorm_bwd_inference(&p->d, p->x, p->dy, p->gamma, p->beta, mean, stat, r.dx, r.dgamma,
                                           r.dbeta));
  else
    TU_OK(clnn_ref_batchnorm_bwd(&p->d, p->x, p->dy, p->gamma, p->beta, mean, stat, r.dx, r.dgamma, r.dbeta));
  return r;
}

/* Parameter gradients are sums over n*h*w terms: compare relative to their
 * size. dx with a fused activation and a mean of 1e4: the device recomputes
 * the activation's input from the saved float mean, ulp(1e4) / 2 = 5e-4
 * away from the true one (the reference uses the exact mean), hence 1e-3. */
static void compare_backward(const problem *p, const bwd_result *got, const bwd_result *ref, const char *mode,
                             float mean) {
  char what[220];
  snprintf(what, sizeof what, "%s: %s dx", p->what, mode);
  double dx_tol = p->d.act != CLNN_ACT_IDENTITY && fabs(mean) > 1e3 ? 1e-3 : 1e-4;
  if (got->dx && p->dt != CLNN_FLOAT32) tu_check_half(p->what, what, got->dx, ref->dx, p->nx, p->dt, dx_tol);
  if (got->dx && p->dt == CLNN_FLOAT32)
    ck_assert_msg(tu_compare(what, got->dx, ref->dx, p->nx, dx_tol, dx_tol > 1e-4 ? dx_tol : TOL, NULL), "%s", what);
  double scale = sqrt((double)(p->d.n * p->d.h * p->d.w));
  snprintf(what, sizeof what, "%s: %s dgamma", p->what, mode);
  if (got->dgamma) ck_assert_msg(tu_compare(what, got->dgamma, ref->dgamma, p->nc, 1e-5, TOL * scale, NULL), "%s", what);
  snprintf(what, sizeof what, "%s: %s dbeta", p->what, mode);
  if (got->dbeta) ck_assert_msg(tu_compare(what, got->dbeta, ref->dbeta, p->nc, 1e-5, TOL * scale, NULL), "%s", what);
}

START_TEST(test_backward) {
  const bn_case *c = &cases[_i];
  clnn_batchnorm_desc d = desc_of(c);
  problem p;
  problem_make(&p, &d, c->mean, 300 + (uint64_t)_i);
  /* training: with the statistics the device forward saved */
  fwd_result fwd = run_training(&p, 0);
  bwd_result ref = ref_backward(&p, false, fwd.save_mean, fwd.save_invstd);
  bwd_result got = run_backward(&p, false, fwd.save_mean, fwd.save_invstd, "xgb");
  bwd_result again = run_backward(&p, false, fwd.save_mean, fwd.save_invstd, "xgb");
  compare_backward(&p, &got, &ref, "training", c->mean);
  ck_assert_msg(!memcmp(got.dx, again.dx, p.nx * sizeof(float)), "%s: two backward runs differ", p.what);
  if (d.affine) ck_assert(!memcmp(got.dgamma, again.dgamma, p.nc * sizeof(float)));
  bwd_result_free(&again);
  /* only some outputs */
  bwd_result part = run_backward(&p, false, fwd.save_mean, fwd.save_invstd, d.affine ? "g" : "x");
  compare_backward(&p, &part, &ref, "training, one output", c->mean);
  bwd_result_free(&part);
  bwd_result_free(&got);
  bwd_result_free(&ref);
  /* frozen statistics */
  ref = ref_backward(&p, true, p.rmean, p.rvar);
  got = run_backward(&p, true, p.rmean, p.rvar, "xgb");
  compare_backward(&p, &got, &ref, "inference", c->mean);
  bwd_result_free(&got);
  bwd_result_free(&ref);
  fwd_result_free(&fwd);
  problem_free(&p);
}
END_TEST

/* One value per channel (n * h * w = 1, BatchNorm1d on a batch of one):
 * training refuses it, inference and the frozen backward take it (each
 * channel's reduction is a single value, less than a GPU work-group). */
START_TEST(test_single_value_per_channel) {
  clnn_batchnorm_desc d = clnn_batchnorm_desc_make(1, 7, 1, 1);
  d.act = CLNN_ACT_SILU;
  d.act_alpha = 1.0f;
  problem p;
  problem_make(&p, &d, 0.0f, 55);
  float *ref = tu_alloc(p.nx);
  TU_OK(clnn_ref_batchnorm_fwd_inference(&d, p.x, p.gamma, p.beta, p.rmean, p.rvar, ref));
  clnn_tensor *x = act_tensor(&p, p.x), *y = act_tensor(&p, NULL);
  clnn_tensor *g = chan_tensor(&p, p.gamma), *b = chan_tensor(&p, p.beta);
  clnn_tensor *rm = chan_tensor(&p, p.rmean), *rv = chan_tensor(&p, p.rvar);
  tu_poison(y);
  clnn_context_clear_variants(tu_ctx());
  TU_OK(clnn_batchnorm_fwd_inference(tu_ctx(), &d, x, g, b, rm, rv, y));
  assert_planned_class(p.what);
  float *got = tu_download(y);
  ck_assert_msg(tu_compare(p.what, got, ref, p.nx, TOL, TOL, NULL), "%s: inference y", p.what);
  free(got);
  free(ref);
  clnn_tensor *ts[] = {x, y, g, b, rm, rv};
  for (size_t i = 0; i < 6; i++) clnn_tensor_free(ts[i]);
  /* the training backward needs the batch statistics of a training forward */
  bwd_result r = ref_backward(&p, true, p.rmean, p.rvar), gd = run_backward(&p, true, p.rmean, p.rvar, "xgb");
  compare_backward(&p, &gd, &r, "inference", 0.0f);
  bwd_result_free(&r);
  bwd_result_free(&gd);
  problem_free(&p);
}
END_TEST

/* clnn-bench R mode: a training forward updates the running statistics in
 * their files and saves the batch statistics, which the backward then reads. */
START_TEST(test_bench_r_mode) {
  rm_dir dir;
  if (!rm_open(&dir)) return;
  clnn_batchnorm_desc d = clnn_batchnorm_desc_make(3, 4, 5, 6);
  d.cumulative = 1;
  problem p;
  problem_make(&p, &d, 0.0f, 41);
  int64_t c = 4;
  rm_write(&dir, "x", CLNN_FLOAT32, 4, p.dims, p.x);
  rm_write(&dir, "dy", CLNN_FLOAT32, 4, p.dims, p.dy);
  rm_write(&dir, "gamma", CLNN_FLOAT32, 1, &c, p.gamma);
  rm_write(&dir, "beta", CLNN_FLOAT32, 1, &c, p.beta);
  rm_write(&dir, "running_mean", CLNN_FLOAT32, 1, &c, p.rmean);
  rm_write(&dir, "running_var", CLNN_FLOAT32, 1, &c, p.rvar);
  rm_run(&dir, "fwd", "bnorm mb3ic4ih5iw6 momentum=none nbt=2");
  fwd_result ref = ref_training(&p, 2), got;
  got.y = rm_read(&dir, "y", CLNN_FLOAT32, p.nx);
  got.save_mean = rm_read(&dir, "save_mean", CLNN_FLOAT32, p.nc);
  got.save_invstd = rm_read(&dir, "save_invstd", CLNN_FLOAT32, p.nc);
  got.rmean = rm_read(&dir, "running_mean", CLNN_FLOAT32, p.nc);
  got.rvar = rm_read(&dir, "running_var", CLNN_FLOAT32, p.nc);
  got.nbt = ref.nbt;
  compare_training(&p, &got, &ref);
  rm_run(&dir, "bwd", "bnorm mb3ic4ih5iw6");
  bwd_result bref = ref_backward(&p, false, got.save_mean, got.save_invstd);
  bwd_result bgot = {rm_read(&dir, "dx", CLNN_FLOAT32, p.nx), rm_read(&dir, "dgamma", CLNN_FLOAT32, p.nc),
                     rm_read(&dir, "dbeta", CLNN_FLOAT32, p.nc)};
  compare_backward(&p, &bgot, &bref, "R mode", 0.0f);
  bwd_result_free(&bgot);
  bwd_result_free(&bref);
  fwd_result_free(&got);
  fwd_result_free(&ref);
  problem_free(&p);
  rm_close(&dir);
}
END_TEST

/* ------------------------------------------------------- half precision */

/* x and dy of p rounded to dt (what the device loads), and the device
 * tensors x, y, dy, dx of that type; the reference then runs on the same
 * values in double. */
static void half_inputs(problem *p, clnn_dtype dt) {
  p->dt = dt;
  tu_round_to(dt, p->x, p->nx);
  tu_round_to(dt, p->dy, p->nx);
  size_t len = strlen(p->what);
  snprintf(p->what + len, sizeof p->what - len, " dt=%s", dt == CLNN_FLOAT16 ? "f16" : "bf16");
}

/* Every case in float16 and bfloat16: the training forward (y of the type,
 * the statistics float32), inference, and both backward passes, against
 * the reference on the rounded inputs; outputs poisoned (run_training,
 * run_backward), repeats bit-identical. */
START_TEST(test_half_precision) {
  const bn_case *c = &cases[_i / TU_N_HALF_TYPES];
  const clnn_dtype dt = tu_half_types[_i % TU_N_HALF_TYPES];
  clnn_batchnorm_desc d = desc_of(c);
  problem p;
  problem_make(&p, &d, c->mean, 400 + (uint64_t)_i);
  half_inputs(&p, dt);
  fwd_result ref = ref_training(&p, 4);
  fwd_result got = run_training(&p, 4), again = run_training(&p, 4);
  compare_training(&p, &got, &ref);
  ck_assert_msg(!memcmp(got.y, again.y, p.nx * sizeof(float)), "%s: two runs differ", p.what);
  ck_assert(!memcmp(got.save_invstd, again.save_invstd, p.nc * sizeof(float)));
  /* inference, to a poisoned y and in place */
  float *iref = tu_alloc(p.nx);
  TU_OK(clnn_ref_batchnorm_fwd_inference(&d, p.x, p.gamma, p.beta, p.rmean, p.rvar, iref));
  clnn_tensor *x = act_tensor(&p, p.x), *y = act_tensor(&p, NULL);
  clnn_tensor *g = chan_tensor(&p, p.gamma), *b = chan_tensor(&p, p.beta);
  clnn_tensor *rm = chan_tensor(&p, p.rmean), *rv = chan_tensor(&p, p.rvar);
  tu_poison(y);
  clnn_context_clear_variants(tu_ctx());
  TU_OK(clnn_batchnorm_fwd_inference(tu_ctx(), &d, x, g, b, rm, rv, y));
  assert_planned_class(p.what);
  TU_OK(clnn_batchnorm_fwd_inference(tu_ctx(), &d, x, g, b, rm, rv, x));
  float *iy = tu_download_f32(y), *in_place = tu_download_f32(x);
  compare_act_output(&p, "inference y", iy, iref, TOL);
  ck_assert_msg(!memcmp(iy, in_place, p.nx * sizeof(float)), "%s: in place differs", p.what);
  free(iy);
  free(in_place);
  free(iref);
  clnn_tensor *ts[] = {x, y, g, b, rm, rv};
  for (size_t i = 0; i < 6; i++) clnn_tensor_free(ts[i]);
  /* backward with the statistics the device forward saved, then frozen */
  bwd_result bref = ref_backward(&p, false, got.save_mean, got.save_invstd);
  bwd_result bgot = run_backward(&p, false, got.save_mean, got.save_invstd, "xgb");
  bwd_result bagain = run_backward(&p, false, got.save_mean, got.save_invstd, "xgb");
  compare_backward(&p, &bgot, &bref, "training", c->mean);
  ck_assert_msg(!memcmp(bgot.dx, bagain.dx, p.nx * sizeof(float)), "%s: two backward runs differ", p.what);
  bwd_result_free(&bagain);
  bwd_result_free(&bgot);
  bwd_result_free(&bref);
  bref = ref_backward(&p, true, p.rmean, p.rvar);
  bgot = run_backward(&p, true, p.rmean, p.rvar, "xgb");
  compare_backward(&p, &bgot, &bref, "inference", c->mean);
  bwd_result_free(&bgot);
  bwd_result_free(&bref);
  fwd_result_free(&ref);
  fwd_result_free(&got);
  fwd_result_free(&again);
  problem_free(&p);
}
END_TEST

/* A float32 output with special values: NaN where the reference is NaN,
 * the same infinity, else within tol (relative and absolute). */
static void check_f32_specials(const char *what, const float *got, const float *ref, size_t n, double tol) {
  for (size_t i = 0; i < n; i++) {
    const bool ok = isnan(ref[i])   ? isnan(got[i])
                    : isinf(ref[i]) ? got[i] == ref[i]
                                    : fabs((double)got[i] - ref[i]) <= tol * (1.0 + fabs(ref[i]));
    ck_assert_msg(ok, "%s [%zu]: device %.9g, reference %.9g", what, i, (double)got[i], (double)ref[i]);
  }
}

/*
 * Special values in half precision (channels of (3, 4, 6, 7)): channel 0
 * has a NaN in x (the channel is NaN, as in torch), channel 1 a 70000,
 * float16's overflow to infinity (its statistics are NaN) and a finite
 * outlier in bfloat16, channel 2 gamma = 3e4, so y and dx overflow
 * float16 to +-inf; the frozen backward gets a NaN (channel 0) and a -inf
 * (channel 3) in dy. No NaN where the reference has none.
 */
START_TEST(test_half_specials) {
  const clnn_dtype dt = tu_half_types[_i];
  clnn_batchnorm_desc d = clnn_batchnorm_desc_make(3, 4, 6, 7);
  problem p;
  problem_make(&p, &d, 0.0f, 91 + (uint64_t)_i);
  const size_t hw = 42;
  p.x[(1 * 4 + 0) * hw + 5] = NAN;
  p.x[(2 * 4 + 1) * hw + 17] = 70000.0f;
  p.x[(0 * 4 + 2) * hw + 3] = 4.0f; /* xhat well over 65504 / 3e4 */
  p.gamma[2] = 3e4f;
  half_inputs(&p, dt);
  fwd_result ref = ref_training(&p, 0), got = run_training(&p, 0);
  compare_act_output(&p, "training y", got.y, ref.y, TOL);
  for (size_t c = 0; c < p.nc; c++) {
    if (dt == CLNN_FLOAT16 && c == 1) { /* an infinite x: mean inf in double, NaN here; variance NaN in both */
      ck_assert(isnan(got.save_invstd[c]) && isnan(got.rvar[c]));
      continue;
    }
    check_f32_specials(p.what, &got.save_mean[c], &ref.save_mean[c], 1, TOL);
    check_f32_specials(p.what, &got.save_invstd[c], &ref.save_invstd[c], 1, TOL);
    check_f32_specials(p.what, &got.rvar[c], &ref.rvar[c], 1, TOL);
  }
  if (dt == CLNN_FLOAT16) {
    bool overflow = false;
    for (size_t i = 0; i < p.nx; i++) overflow |= isinf(got.y[i]);
    ck_assert_msg(overflow, "%s: gamma 3e4 made no float16 infinity", p.what);
  }
  /* the training backward on the saved statistics (NaN channels stay NaN) */
  bwd_result bref = ref_backward(&p, false, got.save_mean, got.save_invstd);
  bwd_result bgot = run_backward(&p, false, got.save_mean, got.save_invstd, "xgb");
  tu_check_half(p.what, "training dx", bgot.dx, bref.dx, p.nx, dt, 1e-4);
  check_f32_specials(p.what, bgot.dgamma, bref.dgamma, p.nc, 1e-4);
  check_f32_specials(p.what, bgot.dbeta, bref.dbeta, p.nc, 1e-4);
  bwd_result_free(&bgot);
  bwd_result_free(&bref);
  /* frozen statistics with special dy; x finite again (a frozen dx is
   * dy * gamma * invstd, which torch computes without x: the kernels'
   * 0 * (x - mean) term would make an infinite or NaN x's element NaN) */
  p.x[(1 * 4 + 0) * hw + 5] = 0.0f;
  p.x[(2 * 4 + 1) * hw + 17] = 0.0f;
  p.dy[(0 * 4 + 0) * hw + 9] = NAN;
  p.dy[(2 * 4 + 3) * hw + 40] = -INFINITY;
  bref = ref_backward(&p, true, p.rmean, p.rvar);
  bgot = run_backward(&p, true, p.rmean, p.rvar, "xgb");
  tu_check_half(p.what, "frozen dx", bgot.dx, bref.dx, p.nx, dt, 1e-4);
  /* dgamma of channel 3 (an infinite dy) is NaN here, -inf in the
   * reference: the kernels' 0 * sum(dz) term (float32 does the same) */
  check_f32_specials(p.what, bgot.dgamma, bref.dgamma, 3, 1e-4);
  check_f32_specials(p.what, bgot.dbeta, bref.dbeta, p.nc, 1e-4);
  ck_assert(isinf(bgot.dbeta[3]) && bgot.dbeta[3] < 0);
  bwd_result_free(&bgot);
  bwd_result_free(&bref);
  fwd_result_free(&ref);
  fwd_result_free(&got);
  problem_free(&p);
}
END_TEST

/* A view of dims (rank r) at element offset off of buf, of type dt, optionally uploaded. */
/*
 * x, y, dy, dx as views at odd element offsets of one buffer (a half
 * tensor's data then starts 2 bytes past a 4-byte boundary: the bfloat16
 * kernels must not take pairs there, the vector loads must take the
 * offset), for both half types, per-channel (even planes) and flat shapes.
 */
START_TEST(test_half_odd_offsets) {
  static const int shapes[2][4] = {{2, 3, 5, 6}, {9, 5, 1, 1}};
  for (int t = 0; t < TU_N_HALF_TYPES; t++)
    for (int sh = 0; sh < 2; sh++) {
      const clnn_dtype dt = tu_half_types[t];
      clnn_batchnorm_desc d = clnn_batchnorm_desc_make(shapes[sh][0], shapes[sh][1], shapes[sh][2], shapes[sh][3]);
      d.act = CLNN_ACT_SILU;
      d.act_alpha = 1.0f;
      problem p;
      problem_make(&p, &d, 0.5f, 60 + (uint64_t)(t * 2 + sh));
      half_inputs(&p, dt);
      const int r = rank_of(&d);
      const size_t ox = 1, oy = ox + p.nx + 2, ody = oy + p.nx + 2, odx = ody + p.nx + 2;
      clnn_buffer *buf;
      TU_OK(clnn_buffer_create(tu_ctx(), (odx + p.nx + 1) * clnn_dtype_size(dt), &buf));
      clnn_tensor *x = tu_view_dt(buf, ox, dt, r, p.dims, p.x), *y = tu_view_dt(buf, oy, dt, r, p.dims, NULL);
      clnn_tensor *dy = tu_view_dt(buf, ody, dt, r, p.dims, p.dy), *dx = tu_view_dt(buf, odx, dt, r, p.dims, NULL);
      clnn_tensor *g = chan_tensor(&p, p.gamma), *b = chan_tensor(&p, p.beta);
      clnn_tensor *sm = chan_tensor(&p, p.rmean), *si = chan_tensor(&p, p.rmean);
      clnn_tensor *rm = chan_tensor(&p, p.rmean), *rv = chan_tensor(&p, p.rvar);
      tu_poison(y);
      tu_poison(dx);
      fwd_result ref = ref_training(&p, 0);
      TU_OK(clnn_batchnorm_fwd_training(tu_ctx(), &d, x, g, b, y, sm, si, NULL, NULL, NULL));
      float *got_y = tu_download_f32(y), *got_sm = tu_download(sm), *got_si = tu_download(si);
      compare_act_output(&p, "training y (odd offset)", got_y, ref.y, TOL);
      TU_OK(clnn_batchnorm_bwd(tu_ctx(), &d, x, dy, g, b, sm, si, dx, NULL, NULL));
      float *got_dx = tu_download_f32(dx);
      bwd_result bref = ref_backward(&p, false, got_sm, got_si);
      tu_check_half(p.what, "training dx (odd offset)", got_dx, bref.dx, p.nx, dt, 1e-4);
      tu_poison(y);
      TU_OK(clnn_batchnorm_fwd_inference(tu_ctx(), &d, x, g, b, rm, rv, y));
      float *got_iy = tu_download_f32(y), *iref = tu_alloc(p.nx);
      TU_OK(clnn_ref_batchnorm_fwd_inference(&d, p.x, p.gamma, p.beta, p.rmean, p.rvar, iref));
      compare_act_output(&p, "inference y (odd offset)", got_iy, iref, TOL);
      float *arrays[] = {got_y, got_sm, got_si, got_dx, got_iy, iref};
      for (size_t i = 0; i < 6; i++) free(arrays[i]);
      bwd_result_free(&bref);
      fwd_result_free(&ref);
      clnn_tensor *ts[] = {x, y, dy, dx, g, b, sm, si, rm, rv};
      for (size_t i = 0; i < 10; i++) clnn_tensor_free(ts[i]);
      clnn_buffer_free(buf);
      problem_free(&p);
    }
}
END_TEST

/* dx of a half-type backward on context ctx (x, dy of p, the frozen statistics). */
static float *half_dx_on(clnn_context *ctx, const problem *p) {
  clnn_tensor *t[7];
  const float *host[6] = {p->x, p->dy, p->gamma, p->beta, p->rmean, p->rvar};
  int64_t c = p->d.c;
  for (int i = 0; i < 7; i++) {
    const bool act = i < 2 || i == 6;
    TU_OK(clnn_tensor_create(ctx, act ? p->dt : CLNN_FLOAT32, act ? 4 : 1, act ? p->dims : &c, &t[i]));
    if (i < 6) TU_OK(clnn_tensor_write_f32(t[i], host[i], clnn_tensor_numel(t[i])));
  }
  TU_OK(clnn_tensor_fill(t[6], NAN));
  TU_OK(clnn_batchnorm_bwd_inference(ctx, &p->d, t[0], t[1], t[2], t[3], t[4], t[5], t[6], NULL, NULL));
  float *dx = tu_alloc(p->nx);
  TU_OK(clnn_tensor_read_f32(t[6], dx, p->nx));
  for (int i = 0; i < 7; i++) clnn_tensor_free(t[i]);
  return dx;
}

/* The per-channel backward with an activation keeps dz in a float32
 * workspace scratch in half types; a workspace limit too small for it makes
 * the kernel recompute dz instead: the same bits, and the reference's. */
START_TEST(test_half_keep_dz_fallback) {
  const clnn_dtype dt = tu_half_types[_i];
  clnn_batchnorm_desc d = clnn_batchnorm_desc_make(4, 8, 6, 6);
  d.act = CLNN_ACT_SILU;
  d.act_alpha = 1.0f;
  problem p;
  problem_make(&p, &d, 0.0f, 88 + (uint64_t)_i);
  half_inputs(&p, dt);
  clnn_context_options o = clnn_context_options_default();
  o.workspace_limit = 1024; /* under the scratch's 1152 floats */
  clnn_context *small;
  TU_OK(clnn_context_create(&o, &small));
  float *kept = half_dx_on(tu_ctx(), &p), *recomputed = half_dx_on(small, &p);
  ck_assert_msg(!memcmp(kept, recomputed, p.nx * sizeof(float)), "%s: kept and recomputed dz differ", p.what);
  bwd_result ref = ref_backward(&p, true, p.rmean, p.rvar);
  tu_check_half(p.what, "frozen dx", kept, ref.dx, p.nx, dt, 1e-4);
  bwd_result_free(&ref);
  free(kept);
  free(recomputed);
  clnn_context_free(small);
  problem_free(&p);
}
END_TEST

/* ------------------------------------------------- finite differences */

typedef struct fd_problem {
  clnn_batchnorm_desc d;
  bool frozen;
  double *x, *dy, *gamma, *beta, *rmean, *rvar, *y;
  size_t nx;
} fd_problem;

/* sum(y * dy) of the forward in the problem's mode. */
static double fd_loss(void *ptr) {
  fd_problem *p = ptr;
  if (p->frozen)
    clnn__ref_batchnorm_fwd_inference_f64(&p->d, p->x, p->gamma, p->beta, p->rmean, p->rvar, p->y);
  else
    clnn__ref_batchnorm_fwd_training_f64(&p->d, p->x, p->gamma, p->beta, p->y, NULL, NULL, NULL, NULL, NULL);
  double s = 0.0;
  for (size_t i = 0; i < p->nx; i++) s += p->y[i] * p->dy[i];
  return s;
}

static double *random_f64(size_t n, uint64_t seed, double lo, double hi) {
  double *v = malloc(n * sizeof *v);
  tu_rng r = tu_rng_make(seed);
  for (size_t i = 0; i < n; i++) v[i] = tu_rng_uniform(&r, lo, hi);
  return v;
}

START_TEST(test_reference_backward_fd) {
  static const clnn_activation acts[] = {CLNN_ACT_IDENTITY, CLNN_ACT_SILU, CLNN_ACT_GELU_TANH};
  for (int frozen = 0; frozen < 2; frozen++)
    for (int a = 0; a < 3; a++)
      for (int affine = 0; affine < 2; affine++) {
        fd_problem p;
        p.d = clnn_batchnorm_desc_make(3, 2, 3, 4);
        p.d.act = acts[a];
        p.d.affine = affine;
        p.frozen = frozen;
        p.nx = 72;
        uint64_t seed = 700 + (uint64_t)(frozen * 10 + a * 2 + affine) * 16;
        p.x = random_f64(p.nx, seed, -2.0, 2.0);
        p.dy = random_f64(p.nx, seed + 1, -1.0, 1.0);
        p.y = malloc(p.nx * sizeof(double));
        p.gamma = affine ? random_f64(2, seed + 2, 0.5, 1.5) : NULL;
        p.beta = affine ? random_f64(2, seed + 3, -0.5, 0.5) : NULL;
        p.rmean = random_f64(2, seed + 4, -0.5, 0.5);
        p.rvar = random_f64(2, seed + 5, 0.5, 2.0);
        double mean[2], invstd[2], dg[2], db[2], *dx = malloc(p.nx * sizeof(double));
        if (frozen) {
          TU_OK(clnn__ref_batchnorm_bwd_inference_f64(&p.d, p.x, p.dy, p.gamma, p.beta, p.rmean, p.rvar, dx,
                                                      affine ? dg : NULL, affine ? db : NULL));
        } else {
          TU_OK(clnn__ref_batchnorm_fwd_training_f64(&p.d, p.x, p.gamma, p.beta, p.y, mean, invstd, NULL, NULL,
                                                     NULL));
          TU_OK(clnn__ref_batchnorm_bwd_f64(&p.d, p.x, p.dy, p.gamma, p.beta, mean, invstd, dx, affine ? dg : NULL,
                                            affine ? db : NULL));
        }
        char what[160];
        snprintf(what, sizeof what, "%s bnorm act=%s affine=%d", frozen ? "frozen" : "training",
                 clnn_activation_name(acts[a]), affine);
        ck_assert_msg(tu_fd_check(what, fd_loss, &p, p.x, p.nx, dx, 1e-6, 1e-6), "%s: dx", what);
        if (affine) {
          ck_assert_msg(tu_fd_check(what, fd_loss, &p, p.gamma, 2, dg, 1e-6, 1e-6), "%s: dgamma", what);
          ck_assert_msg(tu_fd_check(what, fd_loss, &p, p.beta, 2, db, 1e-6, 1e-6), "%s: dbeta", what);
        }
        free(p.x);
        free(p.dy);
        free(p.y);
        free(p.gamma);
        free(p.beta);
        free(p.rmean);
        free(p.rvar);
        free(dx);
      }
}
END_TEST

/* ------------------------------------------------------------ bad input */

static clnn_tensor *bx, *by, *bg, *bb, *bsm, *bsi, *brm, *brv, *bdx;
static clnn_batchnorm_desc bd;
static int64_t bdims[4] = {2, 3, 4, 4}, bc = 3;

static void bad_setup(void) {
  bd = clnn_batchnorm_desc_make(2, 3, 4, 4);
  bx = tu_tensor(4, bdims, NULL);
  by = tu_tensor(4, bdims, NULL);
  bdx = tu_tensor(4, bdims, NULL);
  bg = tu_tensor(1, &bc, NULL);
  bb = tu_tensor(1, &bc, NULL);
  bsm = tu_tensor(1, &bc, NULL);
  bsi = tu_tensor(1, &bc, NULL);
  brm = tu_tensor(1, &bc, NULL);
  brv = tu_tensor(1, &bc, NULL);
  clnn_tensor *ones[] = {bx, bg, bb, brv, bsi};
  for (int i = 0; i < 5; i++) TU_OK(clnn_tensor_fill(ones[i], 1.0f));
  TU_OK(clnn_tensor_fill(brm, 0.0f));
  clnn_tensor *outs[] = {by, bdx, bsm};
  for (int i = 0; i < 3; i++) tu_poison(outs[i]);
}

static void bad_teardown(void) {
  clnn_tensor *all[] = {bx, by, bg, bb, bsm, bsi, brm, brv, bdx};
  for (int i = 0; i < 9; i++) clnn_tensor_free(all[i]);
}

/* Failed calls write nothing: outputs keep their poison, running stats their values. */
static void assert_untouched(void) {
  TU_OK(clnn_context_finish(tu_ctx()));
  clnn_tensor *outs[] = {by, bdx, bsm};
  for (int k = 0; k < 3; k++) {
    float *v = tu_download(outs[k]);
    for (size_t i = 0; i < clnn_tensor_numel(outs[k]); i++) ck_assert_msg(isnan(v[i]), "output %d [%zu] written", k, i);
    free(v);
  }
  float *rm = tu_download(brm), *rv = tu_download(brv);
  for (int i = 0; i < 3; i++) ck_assert(rm[i] == 0.0f && rv[i] == 1.0f);
  free(rm);
  free(rv);
}

#define TRAIN(d, nbt) clnn_batchnorm_fwd_training(ctx, (d), bx, bg, bb, by, bsm, bsi, brm, brv, (nbt))

START_TEST(test_bad_pointers) {
  clnn_context *ctx = tu_ctx();
  int64_t nbt = 0;
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_batchnorm_fwd_training(NULL, &bd, bx, bg, bb, by, bsm, bsi, brm, brv, &nbt));
  TU_FAILS(CLNN_ERR_NULL_POINTER, TRAIN(NULL, &nbt));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_batchnorm_fwd_training(ctx, &bd, NULL, bg, bb, by, bsm, bsi, brm, brv, &nbt));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'x'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_batchnorm_fwd_training(ctx, &bd, bx, NULL, bb, by, bsm, bsi, brm, brv, &nbt));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_batchnorm_fwd_training(ctx, &bd, bx, bg, bb, NULL, bsm, bsi, brm, brv, &nbt));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_batchnorm_fwd_inference(ctx, &bd, bx, bg, bb, NULL, brv, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_batchnorm_bwd(ctx, &bd, bx, bx, bg, bb, bsm, bsi, NULL, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_batchnorm_bwd(ctx, &bd, bx, NULL, bg, bb, bsm, bsi, bdx, NULL, NULL));
  /* momentum = None needs the counter */
  clnn_batchnorm_desc d = bd;
  d.cumulative = 1;
  TU_FAILS(CLNN_ERR_NULL_POINTER, TRAIN(&d, NULL));
  ck_assert(strstr(clnn_context_errmsg(ctx), "num_batches_tracked") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_batchnorm_desc_check(NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_batchnorm_fwd_inference(&bd, NULL, NULL, NULL, NULL, NULL, NULL));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_descriptors) {
  clnn_context *ctx = tu_ctx();
  int64_t nbt = 0;
  clnn_batchnorm_desc d = bd;
  d.eps = -1e-5f;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, TRAIN(&d, &nbt));
  ck_assert(strstr(clnn_context_errmsg(ctx), "eps") != NULL);
  d.eps = NAN;
  TU_FAILS(CLNN_ERR_NOT_FINITE, TRAIN(&d, &nbt));
  d = bd;
  d.momentum = 1.5f;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, TRAIN(&d, &nbt));
  d.momentum = INFINITY;
  TU_FAILS(CLNN_ERR_NOT_FINITE, TRAIN(&d, &nbt));
  d = bd;
  d.act = (clnn_activation)-1;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, TRAIN(&d, &nbt));
  d = bd;
  d.act_alpha = NAN;
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_batchnorm_fwd_inference(ctx, &d, bx, bg, bb, brm, brv, by));
  /* the flags are 0 or 1, as their documentation says (7 and 3 were taken) */
  d = bd;
  d.affine = 7;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, TRAIN(&d, &nbt));
  ck_assert(strstr(clnn_context_errmsg(ctx), "affine") != NULL);
  d = bd;
  d.cumulative = 3;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, TRAIN(&d, &nbt));
  ck_assert(strstr(clnn_context_errmsg(ctx), "cumulative") != NULL);
  d = bd;
  d.c = -1; /* 0 is an empty tensor (test_empty_batch) */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, TRAIN(&d, &nbt));
  d = bd;
  d.n = 1 << 20;
  d.h = d.w = 1 << 10; /* 2^40 * 3 elements */
  TU_FAILS(CLNN_ERR_SIZE_OVERFLOW, clnn_batchnorm_desc_check(&d));
  /* one value per channel cannot be normalised in training (PyTorch refuses too) */
  d = clnn_batchnorm_desc_make(1, 3, 1, 1);
  int64_t d2[2] = {1, 3};
  clnn_tensor *x1 = tu_tensor(2, d2, NULL), *y1 = tu_tensor(2, d2, NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_fwd_training(ctx, &d, x1, bg, bb, y1, NULL, NULL, NULL, NULL, NULL));
  ck_assert(strstr(clnn_context_errmsg(ctx), "more than one value") != NULL);
  clnn_tensor_free(x1);
  clnn_tensor_free(y1);
  nbt = -3;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, TRAIN(&bd, &nbt));
  ck_assert_int_eq(nbt, -3);
  assert_untouched();
}
END_TEST

START_TEST(test_bad_tensors) {
  clnn_context *ctx = tu_ctx();
  int64_t nbt = 0;
  /* affine = 0 with gamma given, pairs broken */
  clnn_batchnorm_desc d = bd;
  d.affine = 0;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, TRAIN(&d, &nbt));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_fwd_training(ctx, &bd, bx, bg, bb, by, bsm, NULL, brm, brv, &nbt));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_fwd_training(ctx, &bd, bx, bg, bb, by, bsm, bsi, NULL, brv, &nbt));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_bwd(ctx, &d, bx, bx, NULL, NULL, bsm, bsi, bdx, bsm, NULL));
  /* shapes */
  int64_t four = 4;
  clnn_tensor *g4 = tu_tensor(1, &four, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_batchnorm_fwd_training(ctx, &bd, bx, g4, bb, by, bsm, bsi, brm, brv, &nbt));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'gamma'") != NULL);
  clnn_tensor_free(g4);
  clnn_batchnorm_desc d5 = bd;
  d5.h = 5;
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, TRAIN(&d5, &nbt));
  int64_t d2[2] = {2, 3};
  clnn_tensor *x2 = tu_tensor(2, d2, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_batchnorm_fwd_training(ctx, &bd, x2, bg, bb, by, bsm, bsi, brm, brv, &nbt));
  clnn_tensor_free(x2);
  /* aliasing: y on x in training, dx on dy, save_mean on running_mean */
  TU_FAILS(CLNN_ERR_ALIASING, clnn_batchnorm_fwd_training(ctx, &bd, bx, bg, bb, bx, bsm, bsi, brm, brv, &nbt));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_batchnorm_fwd_training(ctx, &bd, bx, bg, bb, by, brm, bsi, brm, brv, &nbt));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_batchnorm_bwd(ctx, &bd, bx, by, bg, bb, bsm, bsi, by, NULL, NULL));
  /* int32 statistics, another context */
  clnn_tensor *ri;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 1, &bc, &ri));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_fwd_inference(ctx, &bd, bx, bg, bb, ri, brv, by));
  clnn_tensor_free(ri);
  clnn_context *other;
  TU_OK(clnn_context_create(NULL, &other));
  clnn_tensor *xo;
  TU_OK(clnn_tensor_create(other, CLNN_FLOAT32, 4, bdims, &xo));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_batchnorm_fwd_training(ctx, &bd, xo, bg, bb, by, bsm, bsi, brm, brv, &nbt));
  clnn_tensor_free(xo);
  clnn_context_free(other);
  ck_assert_int_eq(nbt, 0);
  assert_untouched();
}
END_TEST

/* Mixed types: x, y, dy, dx of one float type, the per-channel tensors
 * float32 whatever it is; an int32 x. Each refusal names the argument and
 * its type, and writes nothing. */
START_TEST(test_bad_dtypes) {
  clnn_context *ctx = tu_ctx();
  int64_t nbt = 0;
  clnn_tensor *hx = tu_tensor_dt(CLNN_FLOAT16, 4, bdims, NULL), *hy = tu_tensor_dt(CLNN_FLOAT16, 4, bdims, NULL);
  clnn_tensor *bfy = tu_tensor_dt(CLNN_BFLOAT16, 4, bdims, NULL), *hg = tu_tensor_dt(CLNN_FLOAT16, 1, &bc, NULL);
  clnn_tensor *ix;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, bdims, &ix));
  TU_OK(clnn_tensor_fill(hx, 1.0f));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_fwd_training(ctx, &bd, hx, bg, bb, by, bsm, bsi, brm, brv, &nbt));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'y'") && strstr(clnn_context_errmsg(ctx), "float32"));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_fwd_training(ctx, &bd, bx, bg, bb, hy, bsm, bsi, brm, brv, &nbt));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'y'") && strstr(clnn_context_errmsg(ctx), "float16"));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_fwd_training(ctx, &bd, hx, bg, bb, bfy, bsm, bsi, brm, brv, &nbt));
  ck_assert(strstr(clnn_context_errmsg(ctx), "bfloat16") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_fwd_training(ctx, &bd, hx, hg, bb, hy, bsm, bsi, brm, brv, &nbt));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'gamma'") && strstr(clnn_context_errmsg(ctx), "float16"));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_fwd_training(ctx, &bd, ix, bg, bb, by, bsm, bsi, brm, brv, &nbt));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'x'") && strstr(clnn_context_errmsg(ctx), "int32"));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_fwd_inference(ctx, &bd, hx, bg, bb, brm, hg, hy));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'running_var'") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_fwd_inference(ctx, &bd, hx, bg, bb, brm, brv, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'y'") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_bwd(ctx, &bd, hx, bfy, bg, bb, bsm, bsi, hy, NULL, NULL));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dy'") && strstr(clnn_context_errmsg(ctx), "bfloat16"));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_bwd(ctx, &bd, hx, hy, bg, bb, bsm, bsi, bdx, NULL, NULL));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dx'") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_bwd_inference(ctx, &bd, hx, hy, bg, bb, brm, brv, NULL, hg, NULL));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dgamma'") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_batchnorm_bwd(ctx, &bd, ix, by, bg, bb, bsm, bsi, bdx, NULL, NULL));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'x'") != NULL);
  clnn_tensor *all[] = {hx, hy, bfy, hg, ix};
  for (size_t i = 0; i < 5; i++) clnn_tensor_free(all[i]);
  ck_assert_int_eq(nbt, 0);
  assert_untouched();
}
END_TEST

/* Empty batches, as torch takes them (n, h or w 0, and c 0): the training
 * forward keeps the running statistics, saves NaN statistics (a mean over
 * nothing) and counts the batch; inference writes nothing; both backward
 * passes give dgamma = dbeta = 0. Device and reference agree. */
START_TEST(test_empty_batch) {
  clnn_context *ctx = tu_ctx();
  static const int64_t shapes[4][4] = {{0, 3, 4, 4}, {2, 3, 0, 4}, {2, 3, 4, 0}, {2, 0, 4, 4}};
  static const clnn_dtype types[3] = {CLNN_FLOAT32, CLNN_FLOAT16, CLNN_BFLOAT16};
  for (int s = 0; s < 4 * 3; s++) {
    const clnn_dtype dt = types[s / 4]; /* of x, y, dx: the statistics stay float32 */
    const int64_t *shape = shapes[s % 4];
    clnn_batchnorm_desc d = clnn_batchnorm_desc_make(shape[0], shape[1], shape[2], shape[3]);
    d.act = CLNN_ACT_RELU;
    TU_OK(clnn_batchnorm_desc_check(&d));
    const int64_t c = d.c, cd[1] = {c};
    float stats[3] = {0.5f, -1.0f, 2.0f}, ones[3] = {1.0f, 1.0f, 1.0f};
    clnn_tensor *x = tu_tensor_dt(dt, 4, shape, NULL), *y = tu_tensor_dt(dt, 4, shape, NULL);
    clnn_tensor *dx = tu_tensor_dt(dt, 4, shape, NULL);
    clnn_tensor *g = tu_tensor(1, cd, ones), *b = tu_tensor(1, cd, stats), *rm = tu_tensor(1, cd, stats);
    clnn_tensor *rv = tu_tensor(1, cd, ones), *sm = tu_tensor(1, cd, NULL), *si = tu_tensor(1, cd, NULL);
    clnn_tensor *dg = tu_tensor(1, cd, NULL), *db = tu_tensor(1, cd, NULL);
    int64_t nbt = 4;
    TU_OK(clnn_batchnorm_fwd_training(ctx, &d, x, g, b, y, sm, si, rm, rv, &nbt));
    ck_assert(nbt == 5);
    float got[3], ref_rm[3] = {0.5f, -1.0f, 2.0f}, ref_rv[3] = {1.0f, 1.0f, 1.0f}, ref_sm[3], ref_si[3], dummy = 0.0f;
    int64_t ref_nbt = 4;
    if (c) {
      TU_OK(clnn_tensor_read(rm, got, sizeof got));
      for (int i = 0; i < 3; i++) ck_assert(got[i] == stats[i]);
      TU_OK(clnn_tensor_read(rv, got, sizeof got));
      for (int i = 0; i < 3; i++) ck_assert(got[i] == 1.0f);
      TU_OK(clnn_tensor_read(sm, got, sizeof got));
      for (int i = 0; i < 3; i++) ck_assert(isnan(got[i]));
    }
    TU_OK(clnn_ref_batchnorm_fwd_training(&d, &dummy, ones, stats, &dummy, ref_sm, ref_si, ref_rm, ref_rv, &ref_nbt));
    ck_assert(ref_nbt == 5);
    for (int i = 0; i < c; i++) ck_assert(ref_rm[i] == stats[i] && ref_rv[i] == 1.0f && isnan(ref_sm[i]));
    TU_OK(clnn_batchnorm_fwd_inference(ctx, &d, x, g, b, rm, rv, y));
    for (int frozen = 0; frozen < 2; frozen++) {
      tu_poison(dg);
      tu_poison(db);
      TU_OK(frozen ? clnn_batchnorm_bwd_inference(ctx, &d, x, y, g, b, rm, rv, dx, dg, db)
                   : clnn_batchnorm_bwd(ctx, &d, x, y, g, b, sm, si, dx, dg, db));
      if (c) {
        TU_OK(clnn_tensor_read(dg, got, sizeof got));
        for (int i = 0; i < 3; i++) ck_assert_msg(got[i] == 0.0f, "dgamma[%d] = %g", i, (double)got[i]);
        TU_OK(clnn_tensor_read(db, got, sizeof got));
        for (int i = 0; i < 3; i++) ck_assert(got[i] == 0.0f);
      }
      float rdg[3] = {NAN, NAN, NAN}, rdb[3] = {NAN, NAN, NAN};
      TU_OK(frozen ? clnn_ref_batchnorm_bwd_inference(&d, &dummy, &dummy, ones, stats, stats, ones, &dummy, rdg, rdb)
                   : clnn_ref_batchnorm_bwd(&d, &dummy, &dummy, ones, stats, ref_sm, ref_si, &dummy, rdg, rdb));
      for (int i = 0; i < c; i++) ck_assert(rdg[i] == 0.0f && rdb[i] == 0.0f);
    }
    clnn_tensor *all[] = {x, y, dx, g, b, rm, rv, sm, si, dg, db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
  }
}
END_TEST

static Suite *norm_suite(void) {
  Suite *s = suite_create("norm");
  TCase *tc = tcase_create("device");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_training_forward, 0, N_CASES);
  tcase_add_test(tc, test_large_mean_variance);
  tcase_add_test(tc, test_cumulative_average);
  tcase_add_test(tc, test_nan_propagation);
  tcase_add_loop_test(tc, test_inference_forward, 0, N_CASES);
  tcase_add_loop_test(tc, test_backward, 0, N_CASES);
  tcase_add_test(tc, test_single_value_per_channel);
  tcase_add_test(tc, test_empty_batch);
  tcase_add_test(tc, test_bench_r_mode);
  tcase_add_loop_test(tc, test_half_precision, 0, N_CASES * TU_N_HALF_TYPES);
  tcase_add_loop_test(tc, test_half_specials, 0, TU_N_HALF_TYPES);
  tcase_add_test(tc, test_half_odd_offsets);
  tcase_add_loop_test(tc, test_half_keep_dz_fallback, 0, TU_N_HALF_TYPES);
  suite_add_tcase(s, tc);
  TCase *ref = tcase_create("reference");
  tcase_add_test(ref, test_reference_backward_fd);
  suite_add_tcase(s, ref);
  TCase *bad = tcase_create("bad_input");
  tcase_add_checked_fixture(bad, bad_setup, bad_teardown);
  tcase_add_test(bad, test_bad_pointers);
  tcase_add_test(bad, test_bad_descriptors);
  tcase_add_test(bad, test_bad_tensors);
  tcase_add_test(bad, test_bad_dtypes);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return tu_run(norm_suite()); }
