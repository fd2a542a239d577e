/*
 * test_eltwise.c - add, broadcast multiply (and the fused multiply-add)
 * and scale with their backward passes against the host reference: sizes around the 128-element vector
 * groups (tails), every broadcast path (s of x's shape, rows of 16k
 * elements, other rows, whole tensors, rows longer than one reduction
 * chunk), in-place calls, bit-identical repeats of the reductions, the
 * reference backward against finite differences, and bad arguments. The
 * GPU variants' edges too (sizes around float4s and work-groups of 256,
 * more elements than one pass of the grid, rows of 2 and 3 elements and
 * rows that float4s cross, reductions over several slices of 4096), and
 * that each suite runs its class's variants (test_eltwise.gpu the GPU ones).
 * Every case again in float16 and bfloat16 (special values, in-place calls,
 * repeats) and calls that mix types.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fd.h"
#include "common/testutil.h"
#include "host/ref.h"

/* ----------------------------------------------------------- helpers */

static clnn_tensor *dev(int ndim, const int64_t *dims, const float *host) {
  clnn_tensor *t = tu_tensor(ndim, dims, host);
  if (!host) tu_poison(t);
  return t;
}

static float *fetch_free(clnn_tensor *t) {
  float *h = tu_download(t);
  clnn_tensor_free(t);
  return h;
}

/* A tensor of a float type dt: uploaded from host (rounded to dt), or poisoned. */
static clnn_tensor *dev_dt(clnn_dtype dt, int ndim, const int64_t *dims, const float *host) {
  clnn_tensor *t = tu_tensor_dt(dt, ndim, dims, host);
  if (!host) tu_poison(t);
  return t;
}

/* Read back as float32 and free. */
static float *fetch_free_f32(clnn_tensor *t) {
  float *h = tu_download_f32(t);
  clnn_tensor_free(t);
  return h;
}

static size_t numel_of(int ndim, const int64_t *dims) {
  size_t n = 1;
  for (int i = 0; i < ndim; i++) n *= (size_t)dims[i];
  return n;
}

static float *ints(size_t n, uint64_t seed, int lo, int hi) {
  float *p = tu_alloc(n);
  tu_fill_ints(p, n, seed, lo, hi);
  return p;
}

static float *normals(size_t n, uint64_t seed) {
  float *p = tu_alloc(n);
  tu_fill_normal(p, n, seed, 0.0f, 1.0f);
  return p;
}

/* The variants of the calls since the last check are of the context's
 * class: ".gpu_" names under CLNN_DEVICE_CLASS=gpu, others otherwise (a
 * backward planned as its forward, ".as_fwd", serves both). Clears the record. */
static void assert_planned_class(const char *what) {
  clnn_context *ctx = tu_ctx();
  clnn_device_caps caps;
  TU_OK(clnn_context_device_caps(ctx, &caps));
  const bool gpu = caps.plan_class == CLNN_DEVICE_CLASS_GPU;
  char ran[1024];
  snprintf(ran, sizeof ran, "%s", clnn_context_last_variant(ctx, NULL));
  ck_assert_msg(*ran, "%s: no variant recorded", what);
  for (char *name = strtok(ran, ","); name; name = strtok(NULL, ",")) {
    if (strstr(name, ".as_fwd")) continue;
    ck_assert_msg((strstr(name, ".gpu_") != NULL) == gpu, "%s ran %s on a %s-class context", what, name,
                  gpu ? "GPU" : "CPU");
  }
  clnn_context_clear_variants(ctx);
}

/* ---------------------------------------------------------------- add */

/* 1023, 1025: around one float4 per work-item of 256; 70001: more than
 * one pass of the GPU grid on a small device, and 18 slices of dalpha. */
static const int64_t flat_sizes[] = {1, 3, 15, 128, 129, 1000, 1023, 1025, 1155, 4096 + 77, 70001};
#define N_FLAT (int)(sizeof flat_sizes / sizeof flat_sizes[0])

START_TEST(test_add_and_scale) {
  const int64_t n = flat_sizes[_i];
  char what[96];
  float *a = ints((size_t)n, 10 + (uint64_t)_i, -50, 50), *b = ints((size_t)n, 20 + (uint64_t)_i, -50, 50);
  float *ref = tu_alloc((size_t)n), *ref2 = tu_alloc((size_t)n);
  static const float coef[][2] = {{1.0f, 1.0f}, {0.5f, -2.0f}};
  for (int c = 0; c < 2; c++) {
    const float alpha = coef[c][0], beta = coef[c][1];
    clnn_tensor *ta = dev(1, &n, a), *tb = dev(1, &n, b), *ty = dev(1, &n, NULL);
    TU_OK(clnn_eltwise_add(tu_ctx(), alpha, ta, beta, tb, ty));
    float *got = fetch_free(ty);
    TU_OK(clnn_ref_eltwise_add(n, alpha, a, beta, b, ref));
    snprintf(what, sizeof what, "add n%lld alpha=%g beta=%g", (long long)n, alpha, beta);
    ck_assert(tu_compare(what, got, ref, (size_t)n, 0.0, 0.0, NULL));
    free(got);
    /* backward: da = alpha dy, db = beta dy; each alone */
    clnn_tensor *da = dev(1, &n, NULL), *db = dev(1, &n, NULL);
    TU_OK(clnn_eltwise_add_bwd(tu_ctx(), alpha, beta, ta, da, db));
    TU_OK(clnn_ref_eltwise_add_bwd(n, alpha, beta, a, ref, ref2));
    float *gda = fetch_free(da), *gdb = fetch_free(db);
    snprintf(what, sizeof what, "add n%lld alpha=%g beta=%g --pass=bwd", (long long)n, alpha, beta);
    ck_assert(tu_compare(what, gda, ref, (size_t)n, 0.0, 0.0, NULL));
    ck_assert(tu_compare(what, gdb, ref2, (size_t)n, 0.0, 0.0, NULL));
    free(gda);
    free(gdb);
    db = dev(1, &n, NULL);
    TU_OK(clnn_eltwise_add_bwd(tu_ctx(), alpha, beta, ta, NULL, db));
    gdb = fetch_free(db);
    ck_assert(tu_compare(what, gdb, ref2, (size_t)n, 0.0, 0.0, NULL));
    free(gdb);
    assert_planned_class(what);
    /* scale forward and dx-only backward */
    ty = dev(1, &n, NULL);
    TU_OK(clnn_eltwise_scale(tu_ctx(), beta, ta, ty));
    got = fetch_free(ty);
    TU_OK(clnn_ref_eltwise_scale(n, beta, a, ref));
    snprintf(what, sizeof what, "scale n%lld alpha=%g", (long long)n, beta);
    ck_assert(tu_compare(what, got, ref, (size_t)n, 0.0, 0.0, NULL));
    free(got);
    assert_planned_class(what);
    clnn_tensor_free(ta);
    clnn_tensor_free(tb);
  }
  free(a);
  free(b);
  free(ref);
  free(ref2);
}
END_TEST

/* y = a + y and x *= alpha on the very same tensor. */
START_TEST(test_in_place) {
  const int64_t n = 1155;
  float *a = ints((size_t)n, 30, -9, 9), *b = ints((size_t)n, 31, -9, 9), *ref = tu_alloc((size_t)n);
  clnn_tensor *ta = dev(1, &n, a), *tb = dev(1, &n, b);
  TU_OK(clnn_eltwise_add(tu_ctx(), 1.0f, ta, 2.0f, tb, tb));
  TU_OK(clnn_eltwise_scale(tu_ctx(), -0.5f, ta, ta));
  TU_OK(clnn_ref_eltwise_add(n, 1.0f, a, 2.0f, b, ref));
  float *got = tu_download(tb);
  ck_assert(tu_compare("add in place", got, ref, (size_t)n, 0.0, 0.0, NULL));
  free(got);
  TU_OK(clnn_ref_eltwise_scale(n, -0.5f, a, ref));
  got = tu_download(ta);
  ck_assert(tu_compare("scale in place", got, ref, (size_t)n, 0.0, 0.0, NULL));
  free(got);
  clnn_tensor_free(ta);
  clnn_tensor_free(tb);
  free(a);
  free(b);
  free(ref);
}
END_TEST

/* ---------------------------------------------------------------- mul */

typedef struct mul_case {
  int64_t x[4], s[4];
} mul_case;

static const mul_case mul_cases[] = {
    {{2, 3, 5, 5}, {2, 3, 1, 1}},     /* rows of 25: one work-item per row */
    {{2, 3, 8, 8}, {2, 3, 1, 1}},     /* rows of 64: flat float16 path */
    {{2, 5, 56, 56}, {2, 5, 1, 1}},   /* squeeze-excitation plane */
    {{3, 4, 7, 9}, {3, 4, 1, 1}},     /* 63: row path with a 15-element tail */
    {{2, 3, 4, 4}, {2, 3, 1, 1}},     /* exactly 16 */
    {{3, 3, 3, 3}, {3, 3, 3, 3}},     /* same shape: element-wise */
    {{2, 3, 4, 5}, {2, 1, 1, 1}},     /* one factor per image */
    {{2, 2, 2, 2}, {1, 1, 1, 1}},     /* one factor for all */
    {{1, 2, 100, 100}, {1, 2, 1, 1}}, /* rows longer than one reduction chunk */
    {{1, 1, 1, 1}, {1, 1, 1, 1}},     /* one element */
    {{2, 3, 1, 3}, {2, 3, 1, 1}},     /* rows of 3: a float4 spans 2 rows */
    {{3, 2, 2, 1}, {3, 2, 1, 1}},     /* rows of 2 */
    {{2, 3, 33, 33}, {2, 3, 1, 1}},   /* 1089: over one float4 per work-item of 256 */
    {{1, 1, 97, 131}, {1, 1, 1, 1}},  /* 12707: 4 slices of 4096 and a tail */
};
#define N_MUL (int)(sizeof mul_cases / sizeof mul_cases[0])

static void mul_what(const mul_case *c, const char *pass, char *buf, size_t n) {
  bool full = c->s[2] != 1 || c->s[3] != 1;
  snprintf(buf, n, "mul mb%lldic%lldih%lldiw%lld%s --pass=%s (s [%lld,%lld,%lld,%lld])", (long long)c->x[0],
           (long long)c->x[1], (long long)c->x[2], (long long)c->x[3], full ? " full" : "", pass,
           (long long)c->s[0], (long long)c->s[1], (long long)c->s[2], (long long)c->s[3]);
}

/* Integer data: forward and both gradients exact. */
START_TEST(test_mul_integer) {
  const mul_case *c = &mul_cases[_i];
  const size_t nx = numel_of(4, c->x), ns = numel_of(4, c->s);
  const int64_t outer = (int64_t)ns, inner = (int64_t)(nx / ns);
  float *x = ints(nx, 40 + (uint64_t)_i, -4, 4), *s = ints(ns, 50 + (uint64_t)_i, -3, 3);
  float *dy = ints(nx, 60 + (uint64_t)_i, -4, 4);
  float *ry = tu_alloc(nx), *rdx = tu_alloc(nx), *rds = tu_alloc(ns);
  TU_OK(clnn_ref_eltwise_mul(outer, inner, x, s, ry));
  TU_OK(clnn_ref_eltwise_mul_bwd(outer, inner, x, s, dy, rdx, rds));
  char what[160];
  clnn_tensor *tx = dev(4, c->x, x), *ts = dev(4, c->s, s), *tdy = dev(4, c->x, dy);
  clnn_tensor *ty = dev(4, c->x, NULL), *tdx = dev(4, c->x, NULL), *tds = dev(4, c->s, NULL);
  TU_OK(clnn_eltwise_mul(tu_ctx(), tx, ts, ty));
  TU_OK(clnn_eltwise_mul_bwd(tu_ctx(), tx, ts, tdy, tdx, tds));
  float *gy = fetch_free(ty), *gdx = fetch_free(tdx), *gds = fetch_free(tds);
  mul_what(c, "fwd", what, sizeof what);
  assert_planned_class(what);
  ck_assert(tu_compare(what, gy, ry, nx, 0.0, 0.0, NULL));
  mul_what(c, "bwd", what, sizeof what);
  ck_assert(tu_compare(what, gdx, rdx, nx, 0.0, 0.0, NULL));
  ck_assert(tu_compare(what, gds, rds, ns, 0.0, 0.0, NULL));
  free(gy), free(gdx), free(gds);
  /* each gradient alone; dx in place over dy */
  tds = dev(4, c->s, NULL);
  TU_OK(clnn_eltwise_mul_bwd(tu_ctx(), tx, ts, tdy, NULL, tds));
  gds = fetch_free(tds);
  ck_assert(tu_compare(what, gds, rds, ns, 0.0, 0.0, NULL));
  TU_OK(clnn_eltwise_mul_bwd(tu_ctx(), NULL, ts, tdy, tdy, NULL));
  gdx = tu_download(tdy);
  ck_assert(tu_compare(what, gdx, rdx, nx, 0.0, 0.0, NULL));
  free(gds), free(gdx);
  /* the fused multiply-add: y = x * s + beta * t (exact: beta a power of two), then in place over x */
  float *t = ints(ns, 70 + (uint64_t)_i, -5, 5), *rma = tu_alloc(nx);
  TU_OK(clnn_ref_eltwise_mul_add(outer, inner, x, s, 0.25f, t, rma));
  clnn_tensor *tt = dev(4, c->s, t), *tma = dev(4, c->x, NULL);
  TU_OK(clnn_eltwise_mul_add(tu_ctx(), tx, ts, 0.25f, tt, tma));
  float *gma = fetch_free(tma);
  mul_what(c, "mul_add", what, sizeof what);
  ck_assert(tu_compare(what, gma, rma, nx, 0.0, 0.0, NULL));
  free(gma);
  TU_OK(clnn_eltwise_mul_add(tu_ctx(), tx, ts, 0.25f, tt, tx));
  gma = tu_download(tx);
  ck_assert(tu_compare(what, gma, rma, nx, 0.0, 0.0, NULL));
  assert_planned_class(what);
  free(gma), free(t), free(rma);
  clnn_tensor_free(tt);
  clnn_tensor_free(tx), clnn_tensor_free(ts), clnn_tensor_free(tdy);
  free(x), free(s), free(dy), free(ry), free(rdx), free(rds);
}
END_TEST

/* Real data: the reductions within tolerance and bit-identical twice. */
START_TEST(test_reductions_float_deterministic) {
  const mul_case *c = &mul_cases[_i];
  const size_t nx = numel_of(4, c->x), ns = numel_of(4, c->s);
  const int64_t outer = (int64_t)ns, inner = (int64_t)(nx / ns);
  float *x = normals(nx, 70 + (uint64_t)_i), *s = normals(ns, 80 + (uint64_t)_i), *dy = normals(nx, 90 + (uint64_t)_i);
  float *rdx = tu_alloc(nx), *rds = tu_alloc(ns), rda;
  TU_OK(clnn_ref_eltwise_mul_bwd(outer, inner, x, s, dy, rdx, rds));
  clnn_tensor *tx = dev(4, c->x, x), *ts = dev(4, c->s, s), *tdy = dev(4, c->x, dy);
  float *gds[2], *gda[2], *gdx = NULL;
  int64_t one = 1;
  for (int rep = 0; rep < 2; rep++) {
    clnn_tensor *tdx = dev(4, c->x, NULL), *tds = dev(4, c->s, NULL), *tda = dev(1, &one, NULL);
    TU_OK(clnn_eltwise_mul_bwd(tu_ctx(), tx, ts, tdy, tdx, tds));
    TU_OK(clnn_eltwise_scale_bwd(tu_ctx(), 0.75f, tx, tdy, NULL, tda));
    free(gdx);
    gdx = fetch_free(tdx);
    gds[rep] = fetch_free(tds);
    gda[rep] = fetch_free(tda);
  }
  TU_OK(clnn_ref_eltwise_scale_bwd((int64_t)nx, 0.75f, x, dy, NULL, &rda));
  char what[160];
  mul_what(c, "bwd", what, sizeof what);
  tu_cmp cmp;
  ck_assert(tu_compare(what, gdx, rdx, nx, 1e-6, 1e-6, NULL));
  ck_assert(tu_compare(what, gds[0], rds, ns, 1e-5, 1e-5, &cmp));
  ck_assert(tu_compare("scale bwd dalpha", gda[0], &rda, 1, 1e-5, 1e-5, NULL));
  ck_assert_msg(!memcmp(gds[0], gds[1], ns * sizeof(float)), "%s: ds differs between runs", what);
  ck_assert_msg(!memcmp(gda[0], gda[1], sizeof(float)), "dalpha differs between runs");
  clnn_tensor_free(tx), clnn_tensor_free(ts), clnn_tensor_free(tdy);
  free(x), free(s), free(dy), free(rdx), free(rds), free(gdx);
  free(gds[0]), free(gds[1]), free(gda[0]), free(gda[1]);
}
END_TEST

/* scale backward with dalpha over sizes around the chunks, dx in place. */
START_TEST(test_scale_bwd) {
  const int64_t n = flat_sizes[_i], one = 1;
  float *x = ints((size_t)n, 100 + (uint64_t)_i, -7, 7), *dy = ints((size_t)n, 110 + (uint64_t)_i, -7, 7);
  float *rdx = tu_alloc((size_t)n), rda;
  TU_OK(clnn_ref_eltwise_scale_bwd(n, 1.5f, x, dy, rdx, &rda));
  clnn_tensor *tx = dev(1, &n, x), *tdy = dev(1, &n, dy), *tda = dev(1, &one, NULL);
  TU_OK(clnn_eltwise_scale_bwd(tu_ctx(), 1.5f, tx, tdy, tdy, tda));
  float *gdx = tu_download(tdy), *gda = fetch_free(tda);
  char what[64];
  snprintf(what, sizeof what, "scale n%lld alpha=1.5 --pass=bwd", (long long)n);
  ck_assert(tu_compare(what, gdx, rdx, (size_t)n, 0.0, 0.0, NULL));
  ck_assert(tu_compare(what, gda, &rda, 1, 0.0, 0.0, NULL));
  clnn_tensor_free(tx), clnn_tensor_free(tdy);
  free(x), free(dy), free(rdx), free(gdx), free(gda);
}
END_TEST

/* ------------------------------------------- reference vs finite differences */

typedef struct fd_problem {
  int64_t outer, inner;
  double alpha, beta;
  double *x, *s, *g, *y;
  int op; /* 0 mul, 1 scale (alpha is param[0] of a one-element array), 2 add */
  double *alpha_p, *b;
} fd_problem;

static double fd_loss(void *arg) {
  fd_problem *p = arg;
  const int64_t n = p->outer * p->inner;
  if (p->op == 0) clnn__ref_eltwise_mul_f64(p->outer, p->inner, p->x, p->s, p->y);
  else if (p->op == 1) clnn__ref_eltwise_scale_f64(n, p->alpha_p[0], p->x, p->y);
  else clnn__ref_eltwise_add_f64(n, p->alpha, p->x, p->beta, p->b, p->y);
  double sum = 0.0;
  for (int64_t i = 0; i < n; i++) sum += p->y[i] * p->g[i];
  return sum;
}

START_TEST(test_reference_backward_fd) {
  fd_problem p = {3, 7, 0.7, -1.3, NULL, NULL, NULL, NULL, 0, NULL, NULL};
  const size_t n = 21;
  p.x = tu_normal_f64(n, 1);
  p.s = tu_normal_f64(3, 2);
  p.g = tu_normal_f64(n, 3);
  p.b = tu_normal_f64(n, 4);
  p.y = calloc(n, sizeof(double));
  double alpha[1] = {0.7};
  p.alpha_p = alpha;
  double *dx = calloc(n, sizeof(double)), *ds = calloc(3, sizeof(double)), *db = calloc(n, sizeof(double)), da;
  clnn__ref_eltwise_mul_bwd_f64(3, 7, p.x, p.s, p.g, dx, ds);
  ck_assert(tu_fd_check("mul dx", fd_loss, &p, p.x, n, dx, 1e-6, 1e-8));
  ck_assert(tu_fd_check("mul ds", fd_loss, &p, p.s, 3, ds, 1e-6, 1e-8));
  p.op = 1;
  clnn__ref_eltwise_scale_bwd_f64((int64_t)n, alpha[0], p.x, p.g, dx, &da);
  ck_assert(tu_fd_check("scale dx", fd_loss, &p, p.x, n, dx, 1e-6, 1e-8));
  ck_assert(tu_fd_check("scale dalpha", fd_loss, &p, alpha, 1, &da, 1e-6, 1e-8));
  p.op = 2;
  clnn__ref_eltwise_add_bwd_f64((int64_t)n, p.alpha, p.beta, p.g, dx, db);
  ck_assert(tu_fd_check("add da", fd_loss, &p, p.x, n, dx, 1e-6, 1e-8));
  ck_assert(tu_fd_check("add db", fd_loss, &p, p.b, n, db, 1e-6, 1e-8));
  free(p.x), free(p.s), free(p.g), free(p.b), free(p.y), free(dx), free(ds), free(db);
}
END_TEST

/* ------------------------------------------------------------ bad input */

static clnn_tensor *bx, *bs, *by, *bdx, *bds, *bda;
static const int64_t bxd[4] = {2, 3, 4, 4}, bsd[4] = {2, 3, 1, 1};

static void bad_setup(void) {
  int64_t one = 1;
  bx = dev(4, bxd, NULL);
  bs = dev(4, bsd, NULL);
  TU_OK(clnn_tensor_fill(bx, 1.0f));
  TU_OK(clnn_tensor_fill(bs, 1.0f));
  by = dev(4, bxd, NULL);
  bdx = dev(4, bxd, NULL);
  bds = dev(4, bsd, NULL);
  bda = dev(1, &one, NULL);
}

static void bad_teardown(void) {
  clnn_tensor *all[] = {bx, bs, by, bdx, bds, bda};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
}

static void assert_untouched(void) {
  clnn_tensor *outs[] = {by, bdx, bds, bda};
  tu_assert_poisoned(outs, sizeof outs / sizeof outs[0]);
}

static const clnn_dtype float_types[] = {CLNN_FLOAT32, CLNN_FLOAT16, CLNN_BFLOAT16};
#define N_FLOAT_TYPES (int)(sizeof float_types / sizeof float_types[0])

/* Empty tensors, as torch takes them, in each float type: every op succeeds
 * and writes nothing, and the reductions over no element (ds of a mul whose
 * x has a 0 past s's dims, dalpha of a scale) are 0, torch's empty sum,
 * written over their own elements only (ds and dalpha share a buffer with
 * a poisoned guard after them). */
START_TEST(test_empty_tensors) {
  clnn_context *ctx = tu_ctx();
  const clnn_dtype dt = float_types[_i];
  const size_t es = clnn_dtype_size(dt);
  const int64_t xd[4] = {2, 0, 3, 3}, sd[4] = {2, 1, 1, 1}, zd[4] = {0, 3, 1, 1}, one[1] = {1}, nguard = 5;
  clnn_tensor *x = dev_dt(dt, 4, xd, NULL), *dy = dev_dt(dt, 4, xd, NULL), *dx = dev_dt(dt, 4, xd, NULL);
  clnn_tensor *s = dev_dt(dt, 4, sd, NULL), *t = dev_dt(dt, 4, sd, NULL);
  clnn_buffer *buf;
  clnn_tensor *ds, *dalpha, *guard;
  TU_OK(clnn_buffer_create(ctx, 8 * es, &buf));
  TU_OK(clnn_tensor_view(buf, 0, dt, 4, sd, &ds));
  TU_OK(clnn_tensor_view(buf, 2 * es, dt, 1, one, &dalpha));
  TU_OK(clnn_tensor_view(buf, 3 * es, dt, 1, &nguard, &guard));
  tu_poison(ds), tu_poison(dalpha), tu_poison(guard);
  TU_OK(clnn_eltwise_add(ctx, 1.0f, x, 2.0f, dy, dx));
  TU_OK(clnn_eltwise_add_bwd(ctx, 1.0f, 2.0f, dy, dx, NULL));
  TU_OK(clnn_eltwise_scale(ctx, 3.0f, x, dx));
  TU_OK(clnn_eltwise_mul(ctx, x, s, dx));
  TU_OK(clnn_eltwise_mul_add(ctx, x, s, 0.5f, t, dx));
  TU_OK(clnn_eltwise_mul_bwd(ctx, x, s, dy, dx, ds));
  TU_OK(clnn_eltwise_scale_bwd(ctx, 3.0f, x, dy, dx, dalpha));
  tu_assert_zero("ds", ds);
  tu_assert_zero("dalpha", dalpha);
  tu_assert_poisoned(&guard, 1);
  /* s empty too (a batch of 0): nothing to write anywhere */
  clnn_tensor *x0 = dev_dt(dt, 4, (const int64_t[]){0, 3, 2, 2}, NULL), *s0 = dev_dt(dt, 4, zd, NULL);
  clnn_tensor *ds0 = dev_dt(dt, 4, zd, NULL);
  TU_OK(clnn_eltwise_mul_bwd(ctx, x0, s0, x0, NULL, ds0));
  clnn_tensor *objs[] = {x, dy, dx, s, t, ds, dalpha, guard, x0, s0, ds0};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) clnn_tensor_free(objs[i]);
  clnn_buffer_free(buf);
}
END_TEST

/* ------------------------------------------------------- half precision */

/* Where half precision has its edges: NaN, +-inf, +-0, float16 overflow
 * (70000 is inf once rounded; 65504, its largest value, overflows when
 * doubled or scaled), float16 subnormals. */
static const float half_specials[] = {NAN,      INFINITY, -INFINITY, 0.0f,  -0.0f,
                                      70000.0f, -70000.0f, 65504.0f, 3e-6f, -3e-6f};
#define N_HALF_SPECIALS (sizeof half_specials / sizeof half_specials[0])

/* n normals times scale rounded to dt, with the specials at (i * step +
 * first) % n when step > 0 (later ones win where positions meet). */
static float *half_inputs(clnn_dtype dt, size_t n, uint64_t seed, float scale, size_t first, size_t step) {
  float *p = normals(n, seed);
  for (size_t i = 0; i < n; i++) p[i] *= scale;
  for (size_t i = 0; step && i < N_HALF_SPECIALS; i++) p[(i * step + first) % n] = half_specials[i];
  tu_round_to(dt, p, n);
  return p;
}

/* The flat ops' outputs in the half-precision test: their passes and the
 * output each in-place call must reproduce. */
enum { F_ADD, F_DA, F_DB, F_SCALE, F_DX, F_DALPHA, F_DX_SP, F_DALPHA_SP, F_DX_ALONE, F_ADD_IP, F_SCALE_IP, F_DA_IP,
       F_DX_IP, F_DALPHA_IP, F_COUNT };
static const char *const flat_pass[F_COUNT] = {"add",
                                               "add_bwd da",
                                               "add_bwd db",
                                               "scale",
                                               "scale_bwd dx",
                                               "scale_bwd dalpha",
                                               "scale_bwd dx (specials)",
                                               "scale_bwd dalpha (specials)",
                                               "scale_bwd dx alone",
                                               "add in place",
                                               "scale in place",
                                               "add_bwd da in place",
                                               "scale_bwd dx in place",
                                               "scale_bwd dalpha (dx in place)"};
static const int flat_like[F_COUNT] = {F_ADD,       F_DA, F_DB,  F_SCALE, F_DX, F_DALPHA, F_DX_SP,
                                       F_DALPHA_SP, F_DX, F_ADD, F_SCALE, F_DA, F_DX,     F_DALPHA};
static bool flat_is_dalpha(int k) { return k == F_DALPHA || k == F_DALPHA_SP || k == F_DALPHA_IP; }

/* The flat ops in dt on n elements: a and b hold specials, c and d are
 * finite (dalpha's accuracy); outputs poisoned first, in-place outputs
 * uploaded from the input they replace. */
static void run_flat_dt(clnn_dtype dt, int64_t n, float *const in[4], float *out[F_COUNT]) {
  clnn_context *ctx = tu_ctx();
  const int64_t one = 1;
  clnn_tensor *a = dev_dt(dt, 1, &n, in[0]), *b = dev_dt(dt, 1, &n, in[1]);
  clnn_tensor *c = dev_dt(dt, 1, &n, in[2]), *d = dev_dt(dt, 1, &n, in[3]);
  const float *src[F_COUNT] = {[F_ADD_IP] = in[1], [F_SCALE_IP] = in[0], [F_DA_IP] = in[0], [F_DX_IP] = in[3]};
  clnn_tensor *t[F_COUNT];
  for (int k = 0; k < F_COUNT; k++) t[k] = dev_dt(dt, 1, flat_is_dalpha(k) ? &one : &n, src[k]);
  TU_OK(clnn_eltwise_add(ctx, 0.5f, a, -2.0f, b, t[F_ADD]));
  TU_OK(clnn_eltwise_add_bwd(ctx, 0.5f, -2.0f, a, t[F_DA], t[F_DB]));
  TU_OK(clnn_eltwise_scale(ctx, -2.0f, a, t[F_SCALE]));
  TU_OK(clnn_eltwise_scale_bwd(ctx, 1.5f, c, d, t[F_DX], t[F_DALPHA]));
  TU_OK(clnn_eltwise_scale_bwd(ctx, 1.5f, c, a, t[F_DX_SP], t[F_DALPHA_SP]));
  TU_OK(clnn_eltwise_scale_bwd(ctx, 1.5f, NULL, d, t[F_DX_ALONE], NULL));
  TU_OK(clnn_eltwise_add(ctx, 0.5f, a, -2.0f, t[F_ADD_IP], t[F_ADD_IP]));
  TU_OK(clnn_eltwise_scale(ctx, -2.0f, t[F_SCALE_IP], t[F_SCALE_IP]));
  TU_OK(clnn_eltwise_add_bwd(ctx, 0.5f, -2.0f, t[F_DA_IP], t[F_DA_IP], NULL));
  TU_OK(clnn_eltwise_scale_bwd(ctx, 1.5f, c, t[F_DX_IP], t[F_DX_IP], t[F_DALPHA_IP]));
  assert_planned_class("flat ops in half precision");
  for (int k = 0; k < F_COUNT; k++) out[k] = fetch_free_f32(t[k]);
  clnn_tensor_free(a), clnn_tensor_free(b), clnn_tensor_free(c), clnn_tensor_free(d);
}

/* add, scale and their backward passes in float16 and bfloat16 over the
 * flat sizes: inputs rounded to the type, the reference on those, the
 * device (float32 math, one rounding on store) against it rounded the same
 * way; specials, in-place calls and bit-identical repeats. */
START_TEST(test_half_flat) {
  const clnn_dtype dt = tu_half_types[_i % TU_N_HALF_TYPES];
  const int64_t n = flat_sizes[_i / TU_N_HALF_TYPES];
  const size_t nn = (size_t)n;
  const uint64_t seed = 200 + 4 * (uint64_t)_i;
  float *in[4] = {half_inputs(dt, nn, seed, 3.0f, 0, 7), half_inputs(dt, nn, seed + 1, 3.0f, 2, 5),
                  half_inputs(dt, nn, seed + 2, 1.0f, 0, 0), half_inputs(dt, nn, seed + 3, 1.0f, 0, 0)};
  float *ref[F_COUNT] = {NULL};
  for (int k = 0; k < F_COUNT; k++)
    if (flat_like[k] == k) ref[k] = tu_alloc(flat_is_dalpha(k) ? 1 : nn);
  TU_OK(clnn_ref_eltwise_add(n, 0.5f, in[0], -2.0f, in[1], ref[F_ADD]));
  TU_OK(clnn_ref_eltwise_add_bwd(n, 0.5f, -2.0f, in[0], ref[F_DA], ref[F_DB]));
  TU_OK(clnn_ref_eltwise_scale(n, -2.0f, in[0], ref[F_SCALE]));
  TU_OK(clnn_ref_eltwise_scale_bwd(n, 1.5f, in[2], in[3], ref[F_DX], ref[F_DALPHA]));
  TU_OK(clnn_ref_eltwise_scale_bwd(n, 1.5f, in[2], in[0], ref[F_DX_SP], ref[F_DALPHA_SP]));
  float *got[F_COUNT], *again[F_COUNT];
  run_flat_dt(dt, n, in, got);
  run_flat_dt(dt, n, in, again);
  char what[64];
  snprintf(what, sizeof what, "eltwise n%lld", (long long)n);
  for (int k = 0; k < F_COUNT; k++) {
    const size_t m = flat_is_dalpha(k) ? 1 : nn;
    /* dalpha: float32 sums of terms of a few units, against a double sum */
    tu_check_half(what, flat_pass[k], got[k], ref[flat_like[k]], m, dt, flat_is_dalpha(k) ? 1e-6 * (double)n : 0.0);
    ck_assert_msg(!memcmp(got[k], again[k], m * sizeof(float)), "%s dt=%s: %s differs between runs", what,
                  clnn_dtype_name(dt), flat_pass[k]);
    free(got[k]), free(again[k]);
  }
  for (int k = 0; k < F_COUNT; k++) free(ref[k]);
  for (int i = 0; i < 4; i++) free(in[i]);
}
END_TEST

/* The broadcast ops' outputs in the half-precision test. */
enum { M_Y, M_DX, M_DS, M_DS_ALONE, M_MA, M_Y_IP, M_DX_IP, M_MA_IP, M_COUNT };
static const char *const mul_pass[M_COUNT] = {"fwd", "bwd dx", "bwd ds", "bwd ds alone", "mul_add",
                                              "fwd in place", "bwd dx in place", "mul_add in place"};
static const int mul_like[M_COUNT] = {M_Y, M_DX, M_DS, M_DS, M_MA, M_Y, M_DX, M_MA};
static bool mul_is_ds(int k) { return k == M_DS || k == M_DS_ALONE; }

/* mul, its backward and mul_add in dt: in = {x, s, dy, t}; outputs poisoned
 * first, in-place outputs uploaded from the input they replace. */
static void run_mul_dt(clnn_dtype dt, const mul_case *mc, float *const in[4], float *out[M_COUNT]) {
  clnn_context *ctx = tu_ctx();
  clnn_tensor *x = dev_dt(dt, 4, mc->x, in[0]), *s = dev_dt(dt, 4, mc->s, in[1]);
  clnn_tensor *dy = dev_dt(dt, 4, mc->x, in[2]), *t = dev_dt(dt, 4, mc->s, in[3]);
  const float *src[M_COUNT] = {[M_Y_IP] = in[0], [M_DX_IP] = in[2], [M_MA_IP] = in[0]};
  clnn_tensor *o[M_COUNT];
  for (int k = 0; k < M_COUNT; k++) o[k] = dev_dt(dt, 4, mul_is_ds(k) ? mc->s : mc->x, src[k]);
  TU_OK(clnn_eltwise_mul(ctx, x, s, o[M_Y]));
  TU_OK(clnn_eltwise_mul_bwd(ctx, x, s, dy, o[M_DX], o[M_DS]));
  TU_OK(clnn_eltwise_mul_bwd(ctx, x, s, dy, NULL, o[M_DS_ALONE]));
  TU_OK(clnn_eltwise_mul_add(ctx, x, s, 0.25f, t, o[M_MA]));
  TU_OK(clnn_eltwise_mul(ctx, o[M_Y_IP], s, o[M_Y_IP]));
  TU_OK(clnn_eltwise_mul_bwd(ctx, NULL, s, o[M_DX_IP], o[M_DX_IP], NULL));
  TU_OK(clnn_eltwise_mul_add(ctx, o[M_MA_IP], s, 0.25f, t, o[M_MA_IP]));
  assert_planned_class("broadcast ops in half precision");
  for (int k = 0; k < M_COUNT; k++) out[k] = fetch_free_f32(o[k]);
  clnn_tensor_free(x), clnn_tensor_free(s), clnn_tensor_free(dy), clnn_tensor_free(t);
}

/* mul (every broadcast path), its backward and mul_add in float16 and
 * bfloat16, as test_half_flat: specials in x and dy (the rows they reach
 * give NaN or inf sums in ds, the others test the float32 accumulation). */
START_TEST(test_half_mul) {
  const clnn_dtype dt = tu_half_types[_i % TU_N_HALF_TYPES];
  const mul_case *c = &mul_cases[_i / TU_N_HALF_TYPES];
  const size_t nx = numel_of(4, c->x), ns = numel_of(4, c->s);
  const int64_t outer = (int64_t)ns, inner = (int64_t)(nx / ns);
  const uint64_t seed = 400 + 4 * (uint64_t)_i;
  float *in[4] = {half_inputs(dt, nx, seed, 2.0f, 0, 7), half_inputs(dt, ns, seed + 1, 1.0f, 0, 0),
                  half_inputs(dt, nx, seed + 2, 1.0f, 3, 11), half_inputs(dt, ns, seed + 3, 1.0f, 0, 0)};
  float *ref[M_COUNT] = {NULL};
  for (int k = 0; k < M_COUNT; k++)
    if (mul_like[k] == k) ref[k] = tu_alloc(mul_is_ds(k) ? ns : nx);
  TU_OK(clnn_ref_eltwise_mul(outer, inner, in[0], in[1], ref[M_Y]));
  TU_OK(clnn_ref_eltwise_mul_bwd(outer, inner, in[0], in[1], in[2], ref[M_DX], ref[M_DS]));
  TU_OK(clnn_ref_eltwise_mul_add(outer, inner, in[0], in[1], 0.25f, in[3], ref[M_MA]));
  float *got[M_COUNT], *again[M_COUNT];
  run_mul_dt(dt, c, in, got);
  run_mul_dt(dt, c, in, again);
  char what[160];
  mul_what(c, "bwd", what, sizeof what);
  for (int k = 0; k < M_COUNT; k++) {
    const size_t m = mul_is_ds(k) ? ns : nx;
    /* ds: float32 sums of inner terms of a few units, against a double sum */
    tu_check_half(what, mul_pass[k], got[k], ref[mul_like[k]], m, dt, mul_is_ds(k) ? 1e-6 * (double)inner : 0.0);
    ck_assert_msg(!memcmp(got[k], again[k], m * sizeof(float)), "%s dt=%s: %s differs between runs", what,
                  clnn_dtype_name(dt), mul_pass[k]);
    free(got[k]), free(again[k]);
  }
  for (int k = 0; k < M_COUNT; k++) free(ref[k]);
  for (int i = 0; i < 4; i++) free(in[i]);
}
END_TEST

/* The tensors of a call share one float type (the first tensor's): a mix,
 * or int32, is refused naming the argument, and nothing is written. */
#define REFUSED(name, expr)                                                                              \
  do {                                                                                                   \
    TU_FAILS(CLNN_ERR_INVALID_VALUE, expr);                                                              \
    ck_assert_msg(strstr(clnn_context_errmsg(ctx), "'" name "'"), "%s: %s", #expr, clnn_context_errmsg(ctx)); \
  } while (0)
START_TEST(test_bad_dtypes) {
  clnn_context *ctx = tu_ctx();
  const int64_t one = 1;
  clnn_tensor *hx = dev_dt(CLNN_FLOAT16, 4, bxd, NULL), *hs = dev_dt(CLNN_FLOAT16, 4, bsd, NULL);
  clnn_tensor *gx = dev_dt(CLNN_BFLOAT16, 4, bxd, NULL), *ix = NULL;
  clnn_tensor *hy = dev_dt(CLNN_FLOAT16, 4, bxd, NULL), *hds = dev_dt(CLNN_FLOAT16, 4, bsd, NULL);
  clnn_tensor *hda = dev_dt(CLNN_FLOAT16, 1, &one, NULL);
  TU_OK(clnn_tensor_fill(hx, 1.0f));
  TU_OK(clnn_tensor_fill(hs, 1.0f));
  TU_OK(clnn_tensor_fill(gx, 1.0f));
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, bxd, &ix));
  REFUSED("b", clnn_eltwise_add(ctx, 1.0f, hx, 1.0f, bx, hy));
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "float32") && strstr(clnn_context_errmsg(ctx), "float16"), "%s",
                clnn_context_errmsg(ctx));
  REFUSED("b", clnn_eltwise_add(ctx, 1.0f, hx, 1.0f, gx, hy));
  REFUSED("y", clnn_eltwise_add(ctx, 1.0f, hx, 1.0f, hx, by));
  REFUSED("a", clnn_eltwise_add(ctx, 1.0f, ix, 1.0f, ix, by));
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "int32"), "%s", clnn_context_errmsg(ctx));
  REFUSED("da", clnn_eltwise_add_bwd(ctx, 1.0f, 1.0f, hx, bdx, NULL));
  REFUSED("db", clnn_eltwise_add_bwd(ctx, 1.0f, 1.0f, bx, NULL, hy));
  REFUSED("s", clnn_eltwise_mul(ctx, hx, bs, hy));
  REFUSED("s", clnn_eltwise_mul(ctx, bx, hs, by));
  REFUSED("y", clnn_eltwise_mul(ctx, hx, hs, by));
  REFUSED("x", clnn_eltwise_mul_bwd(ctx, bx, hs, hx, hy, hds));
  REFUSED("s", clnn_eltwise_mul_bwd(ctx, bx, hs, bx, bdx, bds));
  REFUSED("ds", clnn_eltwise_mul_bwd(ctx, hx, hs, hx, hy, bds));
  REFUSED("dx", clnn_eltwise_mul_bwd(ctx, NULL, hs, hx, bdx, NULL));
  REFUSED("s", clnn_eltwise_mul_add(ctx, gx, hs, 1.0f, hs, by));
  REFUSED("t", clnn_eltwise_mul_add(ctx, hx, hs, 1.0f, bs, hy));
  REFUSED("y", clnn_eltwise_mul_add(ctx, hx, hs, 1.0f, hs, by));
  REFUSED("y", clnn_eltwise_scale(ctx, 2.0f, hx, by));
  REFUSED("x", clnn_eltwise_scale(ctx, 2.0f, ix, by));
  REFUSED("dx", clnn_eltwise_scale_bwd(ctx, 1.0f, hx, hx, bdx, NULL));
  REFUSED("x", clnn_eltwise_scale_bwd(ctx, 1.0f, bx, hx, hy, hda));
  REFUSED("dalpha", clnn_eltwise_scale_bwd(ctx, 1.0f, hx, hx, NULL, bda));
  clnn_tensor *half_outs[] = {hy, hds, hda};
  tu_assert_poisoned(half_outs, sizeof half_outs / sizeof half_outs[0]);
  clnn_tensor *objs[] = {hx, hs, gx, ix, hy, hds, hda};
  for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) clnn_tensor_free(objs[i]);
  assert_untouched();
}
END_TEST
#undef REFUSED

START_TEST(test_bad_pointers) {
  clnn_context *ctx = tu_ctx();
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_eltwise_add(NULL, 1.0f, bx, 1.0f, bx, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_eltwise_add(ctx, 1.0f, NULL, 1.0f, bx, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'a'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_eltwise_add(ctx, 1.0f, bx, 1.0f, NULL, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_eltwise_add(ctx, 1.0f, bx, 1.0f, bx, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_eltwise_add_bwd(ctx, 1.0f, 1.0f, bx, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_eltwise_mul(ctx, bx, NULL, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_eltwise_mul_bwd(ctx, bx, bs, bx, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_eltwise_mul_bwd(ctx, NULL, bs, bx, bdx, bds)); /* ds needs x */
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_eltwise_mul_add(ctx, bx, bs, 1.0f, NULL, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_eltwise_mul_add(ctx, bx, bs, 1.0f, bs, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_eltwise_mul_add(2, 3, NULL, NULL, 1.0f, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_eltwise_scale(ctx, 1.0f, bx, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_eltwise_scale_bwd(ctx, 1.0f, NULL, bx, bdx, bda));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_eltwise_mul(2, 3, NULL, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_eltwise_scale_bwd(4, 1.0f, NULL, NULL, NULL, NULL));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_values_and_shapes) {
  clnn_context *ctx = tu_ctx();
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_eltwise_add(ctx, NAN, bx, 1.0f, bx, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "alpha") != NULL);
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_eltwise_add(ctx, 1.0f, bx, INFINITY, bx, by));
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_eltwise_scale(ctx, NAN, bx, by));
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_eltwise_scale_bwd(ctx, INFINITY, bx, bx, bdx, NULL));
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_ref_eltwise_add(3, 1.0f, NULL, NAN, NULL, NULL));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_ref_eltwise_scale(-1, 1.0f, NULL, NULL));
  TU_FAILS(CLNN_ERR_SIZE_OVERFLOW, clnn_ref_eltwise_mul((int64_t)1 << 20, (int64_t)1 << 20, NULL, NULL, NULL));
  /* mismatched shapes */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_eltwise_add(ctx, 1.0f, bx, 1.0f, bs, by));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_eltwise_add(ctx, 1.0f, bx, 1.0f, bx, bds));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_eltwise_add_bwd(ctx, 1.0f, 1.0f, bx, bds, NULL));
  /* s broadcasting over a leading dimension, or of another rank */
  int64_t s_lead[4] = {1, 3, 1, 1}, s_mid[4] = {2, 1, 4, 4}, s_rank[2] = {2, 3};
  clnn_tensor *t1 = dev(4, s_lead, NULL), *t2 = dev(4, s_mid, NULL), *t3 = dev(2, s_rank, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_eltwise_mul(ctx, bx, t1, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "[1,3,1,1]") != NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_eltwise_mul(ctx, bx, t2, by));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_eltwise_mul_bwd(ctx, bx, t3, bx, bdx, NULL));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_eltwise_mul_bwd(ctx, bx, bs, bx, bdx, bdx));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_eltwise_scale_bwd(ctx, 1.0f, bx, bx, NULL, bds));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_eltwise_mul_add(ctx, bx, bs, 1.0f, bx, by)); /* t not of s's shape */
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_eltwise_mul_add(ctx, bx, bs, NAN, bs, by));
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_ref_eltwise_mul_add(2, 3, NULL, NULL, INFINITY, NULL, NULL));
  clnn_tensor_free(t1), clnn_tensor_free(t2), clnn_tensor_free(t3);
  /* int32 */
  clnn_tensor *xi;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, bxd, &xi));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_eltwise_scale(ctx, 2.0f, xi, by));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_eltwise_mul(ctx, bx, bs, xi));
  clnn_tensor_free(xi);
  assert_untouched();
}
END_TEST

START_TEST(test_bad_aliasing_and_context) {
  clnn_context *ctx = tu_ctx();
  /* y overlapping a at another offset: not in place, so refused */
  const int64_t n = 64, buf_n = 80;
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, (size_t)buf_n * sizeof(float), &buf));
  clnn_tensor *a, *y;
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 1, &n, &a));
  TU_OK(clnn_tensor_view(buf, 16 * sizeof(float), CLNN_FLOAT32, 1, &n, &y));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_eltwise_add(ctx, 1.0f, a, 1.0f, a, y));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_eltwise_scale(ctx, 1.0f, a, y));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_eltwise_add_bwd(ctx, 1.0f, 1.0f, a, y, NULL));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_eltwise_add_bwd(ctx, 1.0f, 1.0f, bx, bdx, bdx)); /* da is db */
  clnn_tensor_free(a), clnn_tensor_free(y);
  clnn_buffer_free(buf);
  /* ds inside x */
  TU_OK(clnn_buffer_create(ctx, 96 * sizeof(float), &buf));
  clnn_tensor *x, *ds;
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, bxd, &x));
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, bsd, &ds));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_eltwise_mul_bwd(ctx, x, bs, bx, NULL, ds));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_eltwise_mul(ctx, bx, ds, x)); /* y (here x) over s */
  TU_FAILS(CLNN_ERR_ALIASING, clnn_eltwise_mul_add(ctx, bx, bs, 1.0f, ds, x)); /* y over t */
  clnn_tensor_free(x), clnn_tensor_free(ds);
  clnn_buffer_free(buf);
  /* another context */
  clnn_context *other;
  TU_OK(clnn_context_create(NULL, &other));
  clnn_tensor *xo;
  TU_OK(clnn_tensor_create(other, CLNN_FLOAT32, 4, bxd, &xo));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_eltwise_mul(ctx, xo, bs, by));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_eltwise_add(ctx, 1.0f, bx, 1.0f, xo, by));
  clnn_tensor_free(xo);
  clnn_context_free(other);
  assert_untouched();
}
END_TEST

static Suite *eltwise_suite(void) {
  Suite *s = suite_create("eltwise");
  TCase *tc = tcase_create("ops");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_add_and_scale, 0, N_FLAT);
  tcase_add_test(tc, test_in_place);
  tcase_add_loop_test(tc, test_mul_integer, 0, N_MUL);
  tcase_add_loop_test(tc, test_reductions_float_deterministic, 0, N_MUL);
  tcase_add_loop_test(tc, test_scale_bwd, 0, N_FLAT);
  tcase_add_test(tc, test_reference_backward_fd);
  tcase_add_loop_test(tc, test_empty_tensors, 0, N_FLOAT_TYPES);
  tcase_add_loop_test(tc, test_half_flat, 0, N_FLAT * TU_N_HALF_TYPES);
  tcase_add_loop_test(tc, test_half_mul, 0, N_MUL * TU_N_HALF_TYPES);
  suite_add_tcase(s, tc);
  TCase *bad = tcase_create("bad_input");
  tcase_add_checked_fixture(bad, bad_setup, bad_teardown);
  tcase_add_test(bad, test_bad_pointers);
  tcase_add_test(bad, test_bad_dtypes);
  tcase_add_test(bad, test_bad_values_and_shapes);
  tcase_add_test(bad, test_bad_aliasing_and_context);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return tu_run(eltwise_suite()); }
