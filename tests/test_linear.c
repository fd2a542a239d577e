/*
 * test_linear.c - the fully connected layer against the host reference:
 * forward (with and without bias, fused activations), bwd_data and
 * bwd_weights (overwrite and accumulate), odd sizes, power-of-two strides,
 * both GEMM engines, chunked packing under a small workspace limit,
 * (n, c, 1, 1) tensors, bit-identical repeats, the reference backward
 * against finite differences, and bad arguments. Every case again in
 * float16 and bfloat16 (odd-offset views, accumulate, specials, both
 * engines, chunked packing, empty batches, mixed-type errors).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fd.h"
#include "common/testutil.h"
#include "host/ref.h"

typedef struct linear_case {
  int n, in, out;
  int bias;
  clnn_activation act;
} linear_case;

static const linear_case cases[] = {
    {1, 1, 1, 1, CLNN_ACT_IDENTITY},      /* smallest */
    {3, 17, 5, 1, CLNN_ACT_SILU},         /* odd sizes, fused SiLU */
    {37, 70, 33, 0, CLNN_ACT_IDENTITY},   /* no bias, off every tile */
    {128, 1280, 10, 1, CLNN_ACT_IDENTITY}, /* EfficientNet-B0 head on CIFAR-10 */
    {2, 1024, 40, 1, CLNN_ACT_IDENTITY},  /* power-of-two row stride of x and w */
    {5, 33, 1024, 1, CLNN_ACT_RELU},      /* wide output */
    {8, 144, 36, 1, CLNN_ACT_SILU},       /* squeeze-excitation reduce */
    {9, 40, 70, 1, CLNN_ACT_IDENTITY},    /* more rows than one tile */
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static clnn_linear_desc desc_of(const linear_case *c) {
  clnn_linear_desc d = clnn_linear_desc_make(c->n, c->in, c->out);
  d.act = c->act;
  return d;
}

static void describe(const clnn_linear_desc *d, int bias, const char *pass, char *buf, size_t n) {
  snprintf(buf, n, "linear mb%lldic%lldoc%lld%s%s%s --pass=%s", (long long)d->n, (long long)d->in_features,
           (long long)d->out_features, d->act ? " act=" : "", d->act ? clnn_activation_name(d->act) : "",
           bias ? "" : " --no-bias", pass);
}

/* Host data of one problem: inputs of every pass and the reference outputs. */
typedef struct problem {
  clnn_linear_desc d;
  int bias;
  size_t nx, nw, ny;
  float *x, *w, *b, *dy;        /* inputs */
  float *y, *dx, *dw, *db;      /* reference outputs */
  float *dw0, *db0;             /* starting values for accumulate */
} problem;

static void problem_make(problem *p, const clnn_linear_desc *d, int bias, bool integers, uint64_t seed) {
  memset(p, 0, sizeof *p);
  p->d = *d;
  p->bias = bias;
  p->nx = (size_t)(d->n * d->in_features);
  p->nw = (size_t)(d->out_features * d->in_features);
  p->ny = (size_t)(d->n * d->out_features);
  size_t no = (size_t)d->out_features;
  p->x = tu_alloc(p->nx);
  p->w = tu_alloc(p->nw);
  p->b = bias ? tu_alloc(no) : NULL;
  p->dy = tu_alloc(p->ny);
  p->dw0 = tu_alloc(p->nw);
  p->db0 = tu_alloc(no);
  if (integers) {
    tu_fill_ints(p->x, p->nx, seed, -3, 3);
    tu_fill_ints(p->w, p->nw, seed + 1, -2, 2);
    if (p->b) tu_fill_ints(p->b, no, seed + 2, -4, 4);
    tu_fill_ints(p->dy, p->ny, seed + 3, -3, 3);
    tu_fill_ints(p->dw0, p->nw, seed + 4, -5, 5);
    tu_fill_ints(p->db0, no, seed + 5, -5, 5);
  } else {
    tu_fill_normal(p->x, p->nx, seed, 0.0f, 1.0f);
    tu_fill_normal(p->w, p->nw, seed + 1, 0.0f, 1.0f / sqrtf((float)d->in_features));
    if (p->b) tu_fill_normal(p->b, no, seed + 2, 0.0f, 1.0f);
    tu_fill_normal(p->dy, p->ny, seed + 3, 0.0f, 1.0f);
    tu_fill_normal(p->dw0, p->nw, seed + 4, 0.0f, 1.0f);
    tu_fill_normal(p->db0, no, seed + 5, 0.0f, 1.0f);
  }
  p->y = tu_alloc(p->ny);
  p->dx = tu_alloc(p->nx);
  p->dw = tu_alloc(p->nw);
  p->db = tu_alloc(no);
  TU_OK(clnn_ref_linear_fwd(d, p->x, p->w, p->b, p->y));
  TU_OK(clnn_ref_linear_bwd_data(d, p->dy, p->w, p->dx));
  TU_OK(clnn_ref_linear_bwd_weights(d, p->x, p->dy, p->dw, p->db, 0));
}

static void problem_free(problem *p) {
  float *all[] = {p->x, p->w, p->b, p->dy, p->y, p->dx, p->dw, p->db, p->dw0, p->db0};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

/* Device results of one problem's three passes. */
typedef struct results {
  float *y, *dx, *dw, *db;
} results;

static void results_free(results *r) {
  free(r->y);
  free(r->dx);
  free(r->dw);
  free(r->db);
}

static clnn_tensor *upload(clnn_context *ctx, int ndim, const int64_t *dims, const float *host) {
  clnn_tensor *t;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, ndim, dims, &t));
  if (host) TU_OK(clnn_tensor_write(t, host, clnn_tensor_bytes(t)));
  else TU_OK(clnn_tensor_fill(t, NAN));
  return t;
}

static float *download_free(clnn_tensor *t) {
  float *h = tu_alloc(clnn_tensor_numel(t));
  TU_OK(clnn_tensor_read(t, h, clnn_tensor_bytes(t)));
  clnn_tensor_free(t);
  return h;
}

/* Run fwd, bwd_data and bwd_weights on ctx, outputs poisoned first. */
static results run_device(clnn_context *ctx, const problem *p) {
  const clnn_linear_desc *d = &p->d;
  int64_t xd[2] = {d->n, d->in_features}, wd[2] = {d->out_features, d->in_features};
  int64_t yd[2] = {d->n, d->out_features}, bd[1] = {d->out_features};
  clnn_tensor *x = upload(ctx, 2, xd, p->x), *w = upload(ctx, 2, wd, p->w);
  clnn_tensor *b = p->b ? upload(ctx, 1, bd, p->b) : NULL, *dy = upload(ctx, 2, yd, p->dy);
  clnn_tensor *y = upload(ctx, 2, yd, NULL), *dx = upload(ctx, 2, xd, NULL);
  clnn_tensor *dw = upload(ctx, 2, wd, NULL), *db = upload(ctx, 1, bd, NULL);
  TU_OK(clnn_linear_fwd(ctx, d, x, w, b, y));
  TU_OK(clnn_linear_bwd_data(ctx, d, dy, w, dx));
  TU_OK(clnn_linear_bwd_weights(ctx, d, x, dy, dw, db, 0));
  results r = {download_free(y), download_free(dx), download_free(dw), download_free(db)};
  clnn_tensor_free(x);
  clnn_tensor_free(w);
  clnn_tensor_free(b);
  clnn_tensor_free(dy);
  return r;
}

static void compare_all(const problem *p, const results *r, double tol, const char *engine) {
  char what[256];
  describe(&p->d, p->bias, "fwd", what, sizeof what);
  ck_assert_msg(tu_compare(what, r->y, p->y, p->ny, tol, tol, NULL), "%s: %s", engine, what);
  describe(&p->d, p->bias, "bwd_d", what, sizeof what);
  ck_assert_msg(tu_compare(what, r->dx, p->dx, p->nx, tol, tol, NULL), "%s: %s", engine, what);
  describe(&p->d, p->bias, "bwd_w", what, sizeof what);
  ck_assert_msg(tu_compare(what, r->dw, p->dw, p->nw, tol, tol, NULL), "%s: %s dw", engine, what);
  ck_assert_msg(tu_compare(what, r->db, p->db, (size_t)p->d.out_features, tol, tol, NULL), "%s: %s db",
                engine, what);
}

/* Integer data: every pass is exact (identity and ReLU; smooth activations get a float tolerance). */
START_TEST(test_integer_case) {
  const linear_case *c = &cases[_i];
  clnn_linear_desc d = desc_of(c);
  problem p;
  problem_make(&p, &d, c->bias, true, 100 + (uint64_t)_i);
  results r = run_device(tu_ctx(), &p);
  double tol = (c->act == CLNN_ACT_IDENTITY || c->act == CLNN_ACT_RELU) ? 0.0 : 1e-6;
  compare_all(&p, &r, tol, "own/default engine");
  results_free(&r);
  problem_free(&p);
}
END_TEST

/* Normal floats: tolerance, and a second run gives the same bits. */
START_TEST(test_float_deterministic) {
  const linear_case *c = &cases[_i];
  clnn_linear_desc d = desc_of(c);
  problem p;
  problem_make(&p, &d, c->bias, false, 200 + (uint64_t)_i);
  results r1 = run_device(tu_ctx(), &p), r2 = run_device(tu_ctx(), &p);
  compare_all(&p, &r1, 1e-5, "default engine");
  ck_assert(!memcmp(r1.y, r2.y, p.ny * sizeof(float)));
  ck_assert(!memcmp(r1.dx, r2.dx, p.nx * sizeof(float)));
  ck_assert(!memcmp(r1.dw, r2.dw, p.nw * sizeof(float)));
  ck_assert(!memcmp(r1.db, r2.db, (size_t)d.out_features * sizeof(float)));
  results_free(&r1);
  results_free(&r2);
  problem_free(&p);
}
END_TEST

/* The CLBlast engine (the GPU default) on a few cases, exact on integers. */
START_TEST(test_clblast_engine) {
  static const int picks[] = {1, 2, 4, 5};
  clnn_context_options o = clnn_context_options_default();
  o.gemm = CLNN_GEMM_CLBLAST;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  for (size_t i = 0; i < sizeof picks / sizeof picks[0]; i++) {
    const linear_case *c = &cases[picks[i]];
    clnn_linear_desc d = desc_of(c);
    problem p;
    problem_make(&p, &d, c->bias, true, 300 + i);
    results r = run_device(ctx, &p);
    compare_all(&p, &r, c->act == CLNN_ACT_IDENTITY || c->act == CLNN_ACT_RELU ? 0.0 : 1e-6, "CLBlast");
    results_free(&r);
    problem_free(&p);
  }
  clnn_context_free(ctx);
}
END_TEST

/* A workspace limit of a few panels makes the packed operands of the CPU
 * engine go in column chunks; the other engines (CLBlast, and the GPU engine
 * under CLNN_DEVICE_CLASS=gpu) read the transposed operands as they are and
 * need no workspace at all. */
START_TEST(test_chunked_packing) {
  for (int engine = 0; engine < 2; engine++) {
    clnn_context_options o = clnn_context_options_default();
    o.gemm = engine ? CLNN_GEMM_CLBLAST : CLNN_GEMM_OWN;
    o.workspace_limit = 40 * 32 * sizeof(float) * 2; /* two 32-wide panels of K = 40 */
    clnn_context *ctx;
    TU_OK(clnn_context_create(&o, &ctx));
    /* W^T: 150 columns, 3 chunks; with 70 rows dY^T no longer fits: dW reads dY transposed */
    static const int rows[2] = {9, 70};
    for (int i = 0; i < 2; i++) {
      clnn_linear_desc dc = clnn_linear_desc_make(rows[i], 40, 150);
      problem p;
      problem_make(&p, &dc, 1, true, 400 + (uint64_t)(2 * engine + i));
      results r = run_device(ctx, &p);
      compare_all(&p, &r, 0.0, engine ? "CLBlast, chunked" : "own, chunked");
      results_free(&r);
      problem_free(&p);
    }
    clnn_linear_desc d = clnn_linear_desc_make(9, 40, 150);
    /* below one panel: a clear UNSUPPORTED before anything is written */
    clnn_context_free(ctx);
    o.workspace_limit = 1024;
    TU_OK(clnn_context_create(&o, &ctx));
    int64_t xd[2] = {9, 40}, wd[2] = {150, 40}, yd[2] = {9, 150};
    clnn_tensor *x = upload(ctx, 2, xd, NULL), *w = upload(ctx, 2, wd, NULL), *y = upload(ctx, 2, yd, NULL);
    if (clnn_context_is_cpu(ctx) && engine == 0) {
      ck_assert_int_eq(clnn_linear_fwd(ctx, &d, x, w, NULL, y), CLNN_ERR_UNSUPPORTED);
      ck_assert(strstr(clnn_context_errmsg(ctx), "workspace") != NULL);
    } else {
      TU_OK(clnn_linear_fwd(ctx, &d, x, w, NULL, y));
    }
    clnn_tensor_free(x);
    clnn_tensor_free(w);
    clnn_tensor_free(y);
    clnn_context_free(ctx);
  }
}
END_TEST

/* accumulate = 1 adds to dw and db; (n, c, 1, 1) activations are accepted. */
START_TEST(test_accumulate_and_4d) {
  clnn_context *ctx = tu_ctx();
  clnn_linear_desc d = clnn_linear_desc_make(6, 24, 10);
  problem p;
  problem_make(&p, &d, 1, true, 500);
  float *dw_ref = tu_alloc(p.nw), *db_ref = tu_alloc(10);
  memcpy(dw_ref, p.dw0, p.nw * sizeof(float));
  memcpy(db_ref, p.db0, 10 * sizeof(float));
  TU_OK(clnn_ref_linear_bwd_weights(&d, p.x, p.dy, dw_ref, db_ref, 1));
  int64_t x4[4] = {6, 24, 1, 1}, y4[4] = {6, 10, 1, 1}, wd[2] = {10, 24}, bd[1] = {10};
  clnn_tensor *x = upload(ctx, 4, x4, p.x), *dy = upload(ctx, 4, y4, p.dy);
  clnn_tensor *dw = upload(ctx, 2, wd, p.dw0), *db = upload(ctx, 1, bd, p.db0);
  TU_OK(clnn_linear_bwd_weights(ctx, &d, x, dy, dw, db, 1));
  float *got_dw = download_free(dw), *got_db = download_free(db);
  ck_assert(tu_compare("linear mb6ic24oc10 acc --pass=bwd_w", got_dw, dw_ref, p.nw, 0.0, 0.0, NULL));
  ck_assert(tu_compare("linear mb6ic24oc10 acc --pass=bwd_w", got_db, db_ref, 10, 0.0, 0.0, NULL));
  /* db alone, dw NULL */
  db = upload(ctx, 1, bd, NULL);
  TU_OK(clnn_linear_bwd_weights(ctx, &d, NULL, dy, NULL, db, 0));
  float *got_db2 = download_free(db);
  ck_assert(tu_compare("linear db only", got_db2, p.db, 10, 0.0, 0.0, NULL));
  /* forward with 4-D x and y */
  clnn_tensor *w = upload(ctx, 2, wd, p.w), *b = upload(ctx, 1, bd, p.b), *y = upload(ctx, 4, y4, NULL);
  TU_OK(clnn_linear_fwd(ctx, &d, x, w, b, y));
  float *got_y = download_free(y);
  ck_assert(tu_compare("linear mb6ic24oc10 (4-D)", got_y, p.y, p.ny, 0.0, 0.0, NULL));
  clnn_tensor_free(x);
  clnn_tensor_free(dy);
  clnn_tensor_free(w);
  clnn_tensor_free(b);
  free(got_dw);
  free(got_db);
  free(got_db2);
  free(got_y);
  free(dw_ref);
  free(db_ref);
  problem_free(&p);
}
END_TEST

/* ------------------------------------------- reference vs finite differences */

/* loss = sum(y * g) for fixed g: its gradients are the backward passes with dy = g. */
typedef struct fd_problem {
  clnn_linear_desc d;
  double *x, *w, *b, *g, *y;
} fd_problem;

static double fd_loss(void *arg) {
  fd_problem *p = arg;
  TU_OK(clnn__ref_linear_fwd_f64(&p->d, p->x, p->w, p->b, p->y));
  double s = 0.0;
  for (int64_t i = 0; i < p->d.n * p->d.out_features; i++) s += p->y[i] * p->g[i];
  return s;
}

START_TEST(test_reference_backward_fd) {
  fd_problem p;
  p.d = clnn_linear_desc_make(3, 5, 4);
  const size_t nx = 15, nw = 20, ny = 12;
  p.x = tu_normal_f64(nx, 1);
  p.w = tu_normal_f64(nw, 2);
  p.b = tu_normal_f64(4, 3);
  p.g = tu_normal_f64(ny, 4);
  p.y = calloc(ny, sizeof(double));
  double *dx = calloc(nx, sizeof(double)), *dw = calloc(nw, sizeof(double)), *db = calloc(4, sizeof(double));
  TU_OK(clnn__ref_linear_bwd_data_f64(&p.d, p.g, p.w, dx));
  TU_OK(clnn__ref_linear_bwd_weights_f64(&p.d, p.x, p.g, dw, db, 0));
  ck_assert(tu_fd_check("linear dx", fd_loss, &p, p.x, nx, dx, 1e-6, 1e-8));
  ck_assert(tu_fd_check("linear dw", fd_loss, &p, p.w, nw, dw, 1e-6, 1e-8));
  ck_assert(tu_fd_check("linear db", fd_loss, &p, p.b, 4, db, 1e-6, 1e-8));
  /* accumulate adds exactly the same gradient to what was there */
  double *dw2 = calloc(nw, sizeof(double));
  for (size_t i = 0; i < nw; i++) dw2[i] = 1.0;
  TU_OK(clnn__ref_linear_bwd_weights_f64(&p.d, p.x, p.g, dw2, NULL, 1));
  for (size_t i = 0; i < nw; i++) ck_assert(fabs(dw2[i] - 1.0 - dw[i]) < 1e-12);
  free(p.x), free(p.w), free(p.b), free(p.g), free(p.y), free(dx), free(dw), free(db), free(dw2);
}
END_TEST

/* ------------------------------------------------------------ bad input */

/* Valid tensors for linear mb4ic6oc3; outputs poisoned. */
/* ------------------------------------------------------- half precision
 * Every case again in float16 and bfloat16: the reference on the inputs
 * rounded to the type, outputs poisoned in the type and held to
 * tu_check_half; the repeat on views at odd element offsets (2-byte
 * aligned only) must give the same bits; accumulate = 1 rounds old value
 * plus sum once.
 */

/* A tensor of dt on ctx: fresh (off 0) or a view at element offset off of
 * its own buffer; NaN unless host is given. */
typedef struct half_view {
  clnn_buffer *buf;
  clnn_tensor *t;
} half_view;

static half_view half_make(clnn_context *ctx, clnn_dtype dt, size_t off, int ndim, const int64_t *dims,
                           const float *host) {
  half_view v = {NULL, NULL};
  size_t numel = 1;
  for (int i = 0; i < ndim; i++) numel *= (size_t)dims[i];
  if (off == 0) {
    TU_OK(clnn_tensor_create(ctx, dt, ndim, dims, &v.t));
  } else {
    TU_OK(clnn_buffer_create(ctx, (off + numel + 1) * clnn_dtype_size(dt), &v.buf));
    TU_OK(clnn_tensor_view(v.buf, off * clnn_dtype_size(dt), dt, ndim, dims, &v.t));
  }
  if (host) TU_OK(clnn_tensor_write_f32(v.t, host, numel));
  else TU_OK(clnn_tensor_fill(v.t, NAN));
  return v;
}

static float *half_take(half_view *v) {
  float *h = tu_download_f32(v->t);
  clnn_tensor_free(v->t);
  if (v->buf) clnn_buffer_free(v->buf);
  return h;
}

/* The problem's inputs (and accumulate's starting values) rounded to dt, and its reference again. */
static void problem_round(problem *p, clnn_dtype dt) {
  const size_t no = (size_t)p->d.out_features;
  tu_round_to(dt, p->x, p->nx);
  tu_round_to(dt, p->w, p->nw);
  if (p->b) tu_round_to(dt, p->b, no);
  tu_round_to(dt, p->dy, p->ny);
  tu_round_to(dt, p->dw0, p->nw);
  tu_round_to(dt, p->db0, no);
  TU_OK(clnn_ref_linear_fwd(&p->d, p->x, p->w, p->b, p->y));
  TU_OK(clnn_ref_linear_bwd_data(&p->d, p->dy, p->w, p->dx));
  TU_OK(clnn_ref_linear_bwd_weights(&p->d, p->x, p->dy, p->dw, p->db, 0));
}

/* The three passes in dt on ctx (tensors at element offset off when off > 0);
 * accumulate = 1 starts dw and db from dw0 and db0. */
static results run_device_dt(clnn_context *ctx, const problem *p, clnn_dtype dt, size_t off, int accumulate) {
  const clnn_linear_desc *d = &p->d;
  int64_t xd[2] = {d->n, d->in_features}, wd[2] = {d->out_features, d->in_features};
  int64_t yd[2] = {d->n, d->out_features}, bd[1] = {d->out_features};
  half_view x = half_make(ctx, dt, off, 2, xd, p->x), w = half_make(ctx, dt, off + 1, 2, wd, p->w);
  half_view b = {NULL, NULL}, dy = half_make(ctx, dt, off + 3, 2, yd, p->dy);
  if (p->b) b = half_make(ctx, dt, off, 1, bd, p->b);
  half_view y = half_make(ctx, dt, off, 2, yd, NULL), dx = half_make(ctx, dt, off + 2, 2, xd, NULL);
  half_view dw = half_make(ctx, dt, off, 2, wd, accumulate ? p->dw0 : NULL);
  half_view db = half_make(ctx, dt, off + 4, 1, bd, accumulate ? p->db0 : NULL);
  TU_OK(clnn_linear_fwd(ctx, d, x.t, w.t, b.t, y.t));
  TU_OK(clnn_linear_bwd_data(ctx, d, dy.t, w.t, dx.t));
  TU_OK(clnn_linear_bwd_weights(ctx, d, x.t, dy.t, dw.t, db.t, accumulate));
  results r = {half_take(&y), half_take(&dx), half_take(&dw), half_take(&db)};
  free(half_take(&x)), free(half_take(&w)), free(half_take(&dy));
  if (b.t) free(half_take(&b));
  return r;
}

/* r against p's reference (plus dw0, db0 when accumulated) in dt. */
static void check_half_all(const problem *p, const results *r, clnn_dtype dt, int accumulate, const char *how) {
  char what[256];
  const size_t no = (size_t)p->d.out_features;
  describe(&p->d, p->bias, "fwd", what, sizeof what);
  tu_check_half(what, how, r->y, p->y, p->ny, dt, 1e-5);
  describe(&p->d, p->bias, "bwd_d", what, sizeof what);
  tu_check_half(what, how, r->dx, p->dx, p->nx, dt, 1e-5);
  describe(&p->d, p->bias, "bwd_w", what, sizeof what);
  float *dw = tu_alloc(p->nw), *db = tu_alloc(no);
  for (size_t i = 0; i < p->nw; i++) dw[i] = p->dw[i] + (accumulate ? p->dw0[i] : 0.0f);
  for (size_t i = 0; i < no; i++) db[i] = p->db[i] + (accumulate ? p->db0[i] : 0.0f);
  tu_check_half(what, how, r->dw, dw, p->nw, dt, 1e-5);
  tu_check_half(what, how, r->db, db, no, dt, 1e-5);
  free(dw), free(db);
}

static bool results_same(const problem *p, const results *a, const results *b) {
  return !memcmp(a->y, b->y, p->ny * sizeof(float)) && !memcmp(a->dx, b->dx, p->nx * sizeof(float)) &&
         !memcmp(a->dw, b->dw, p->nw * sizeof(float)) &&
         !memcmp(a->db, b->db, (size_t)p->d.out_features * sizeof(float));
}

START_TEST(test_half_case) {
  const linear_case *c = &cases[_i % N_CASES];
  const clnn_dtype dt = tu_half_types[_i / N_CASES];
  clnn_linear_desc d = desc_of(c);
  problem p;
  problem_make(&p, &d, c->bias, false, 500 + (uint64_t)_i);
  problem_round(&p, dt);
  results r1 = run_device_dt(tu_ctx(), &p, dt, 0, 0), r2 = run_device_dt(tu_ctx(), &p, dt, 5, 0);
  check_half_all(&p, &r1, dt, 0, "plain tensors");
  ck_assert_msg(results_same(&p, &r1, &r2), "dt=%s case %d: views at odd offsets change the bits",
                clnn_dtype_name(dt), _i % N_CASES);
  results r3 = run_device_dt(tu_ctx(), &p, dt, 3, 1);
  check_half_all(&p, &r3, dt, 1, "accumulate");
  results_free(&r1), results_free(&r2), results_free(&r3);
  problem_free(&p);
}
END_TEST

/* NaN and float16 overflow (7e4: inf in float16, finite in bfloat16) in x
 * and dy reach the rows and columns the reference says, nothing more. */
START_TEST(test_half_specials) {
  const clnn_dtype dt = tu_half_types[_i];
  clnn_linear_desc d = clnn_linear_desc_make(9, 40, 70);
  problem p;
  problem_make(&p, &d, 1, false, 600 + (uint64_t)_i);
  p.x[1 * 40 + 4] = NAN;
  p.x[3 * 40 + 7] = 7e4f;
  p.dy[5 * 70 + 2] = NAN;
  p.dy[6 * 70 + 9] = -7e4f;
  problem_round(&p, dt);
  results r = run_device_dt(tu_ctx(), &p, dt, 1, 0);
  check_half_all(&p, &r, dt, 0, "specials");
  results_free(&r);
  problem_free(&p);
}
END_TEST

/* The other engines and packing paths in half: CLBlast (operands copied to
 * float32, read as they are) and the own engine packing W^T in column
 * chunks under a small workspace limit (the packing reads the half weight). */
START_TEST(test_half_engines) {
  const clnn_dtype dt = tu_half_types[_i];
  for (int engine = 0; engine < 2; engine++) {
    clnn_context_options o = clnn_context_options_default();
    o.gemm = engine ? CLNN_GEMM_CLBLAST : CLNN_GEMM_OWN;
    if (!engine) o.workspace_limit = 40 * 32 * sizeof(float) * 2; /* two 32-wide panels of K = 40 */
    clnn_context *ctx;
    TU_OK(clnn_context_create(&o, &ctx));
    clnn_linear_desc d = clnn_linear_desc_make(9, 40, 150);
    d.act = CLNN_ACT_RELU;
    problem p;
    problem_make(&p, &d, 1, false, 700 + (uint64_t)(2 * _i + engine));
    problem_round(&p, dt);
    results r = run_device_dt(ctx, &p, dt, 1, 1);
    check_half_all(&p, &r, dt, 1, engine ? "CLBlast" : "own engine, chunked packing");
    results_free(&r);
    problem_free(&p);
    clnn_context_free(ctx);
  }
}
END_TEST

/* No rows in half types: y and dx empty, dw and db zeros (2-byte fills). */
START_TEST(test_half_empty_batch) {
  const clnn_dtype dt = tu_half_types[_i];
  clnn_context *ctx = tu_ctx();
  clnn_linear_desc d = clnn_linear_desc_make(0, 37, 5);
  int64_t xd[2] = {0, 37}, wd[2] = {5, 37}, bd[1] = {5}, yd[2] = {0, 5};
  half_view x = half_make(ctx, dt, 0, 2, xd, NULL), w = half_make(ctx, dt, 1, 2, wd, NULL);
  half_view y = half_make(ctx, dt, 0, 2, yd, NULL), dx = half_make(ctx, dt, 0, 2, xd, NULL);
  half_view dw = half_make(ctx, dt, 3, 2, wd, NULL), db = half_make(ctx, dt, 1, 1, bd, NULL);
  TU_OK(clnn_linear_fwd(ctx, &d, x.t, w.t, NULL, y.t));
  TU_OK(clnn_linear_bwd_data(ctx, &d, y.t, w.t, dx.t));
  TU_OK(clnn_linear_bwd_weights(ctx, &d, x.t, y.t, dw.t, db.t, 0));
  tu_assert_zero("dw", dw.t);
  tu_assert_zero("db", db.t);
  half_view *all[] = {&x, &w, &y, &dx, &dw, &db};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(half_take(all[i]));
}
END_TEST

static clnn_tensor *bx, *bw, *bb, *by, *bdy, *bdx, *bdw, *bdb;
static clnn_linear_desc bd;

static void bad_setup(void) {
  bd = clnn_linear_desc_make(4, 6, 3);
  int64_t xd[2] = {4, 6}, wd[2] = {3, 6}, bdim[1] = {3}, yd[2] = {4, 3};
  bx = tu_tensor(2, xd, NULL);
  bw = tu_tensor(2, wd, NULL);
  bb = tu_tensor(1, bdim, NULL);
  bdy = tu_tensor(2, yd, NULL);
  TU_OK(clnn_tensor_fill(bx, 1.0f));
  TU_OK(clnn_tensor_fill(bw, 1.0f));
  TU_OK(clnn_tensor_fill(bb, 1.0f));
  TU_OK(clnn_tensor_fill(bdy, 1.0f));
  by = tu_tensor(2, yd, NULL);
  bdx = tu_tensor(2, xd, NULL);
  bdw = tu_tensor(2, wd, NULL);
  bdb = tu_tensor(1, bdim, NULL);
  tu_poison(by);
  tu_poison(bdx);
  tu_poison(bdw);
  tu_poison(bdb);
}

static void bad_teardown(void) {
  clnn_tensor *all[] = {bx, bw, bb, by, bdy, bdx, bdw, bdb};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
}

/* Every output still holds its poison: failed calls wrote nothing. */
static void assert_untouched(void) {
  clnn_tensor *outs[] = {by, bdx, bdw, bdb};
  tu_assert_poisoned(outs, sizeof outs / sizeof outs[0]);
}

START_TEST(test_bad_pointers) {
  clnn_context *ctx = tu_ctx();
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_linear_fwd(NULL, &bd, bx, bw, bb, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_linear_fwd(ctx, NULL, bx, bw, bb, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_linear_fwd(ctx, &bd, NULL, bw, bb, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'x'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_linear_fwd(ctx, &bd, bx, NULL, bb, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_linear_fwd(ctx, &bd, bx, bw, bb, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_linear_bwd_data(ctx, &bd, NULL, bw, bdx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_linear_bwd_data(ctx, &bd, bdy, bw, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_linear_bwd_weights(ctx, &bd, bx, bdy, NULL, NULL, 0));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_linear_bwd_weights(ctx, &bd, NULL, bdy, bdw, bdb, 0));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_linear_desc_check(NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_linear_fwd(&bd, NULL, NULL, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_linear_bwd_weights(&bd, NULL, NULL, NULL, NULL, 0));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_descriptors) {
  clnn_context *ctx = tu_ctx();
  clnn_linear_desc d = bd;
  d.n = -1; /* 0 is an empty batch (test_empty_batch) */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_fwd(ctx, &d, bx, bw, bb, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "desc->n") != NULL);
  d = bd;
  d.in_features = -6;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_bwd_data(ctx, &d, bdy, bw, bdx));
  d = bd;
  d.act = (clnn_activation)99;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_fwd(ctx, &d, bx, bw, bb, by));
  d = bd;
  d.n = (int64_t)1 << 40;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_desc_check(&d));
  d = bd;
  d.n = d.in_features = (int64_t)1 << 20; /* 2^40 elements */
  TU_FAILS(CLNN_ERR_SIZE_OVERFLOW, clnn_linear_desc_check(&d));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_bwd_weights(ctx, &bd, bx, bdy, bdw, bdb, 2));
  ck_assert(strstr(clnn_context_errmsg(ctx), "accumulate") != NULL);
  assert_untouched();
}
END_TEST

START_TEST(test_bad_shapes) {
  clnn_context *ctx = tu_ctx();
  clnn_linear_desc d = bd;
  d.in_features = 5; /* x and w have 6 */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_linear_fwd(ctx, &d, bx, bw, bb, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "[4,6]") != NULL);
  d = bd;
  d.out_features = 4; /* y, w have 3 */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_linear_fwd(ctx, &d, bx, bw, bb, by));
  /* w transposed */
  int64_t wt[2] = {6, 3}, five = 5, x3[3] = {4, 2, 4};
  clnn_tensor *w_t = tu_tensor(2, wt, NULL), *b5 = tu_tensor(1, &five, NULL), *x_bad = tu_tensor(3, x3, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_linear_fwd(ctx, &bd, bx, w_t, bb, by));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_linear_fwd(ctx, &bd, bx, bw, b5, by));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_linear_fwd(ctx, &bd, x_bad, bw, bb, by));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_linear_bwd_weights(ctx, &bd, bx, bdy, w_t, bdb, 0));
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_linear_bwd_data(ctx, &bd, bdy, bw, by));
  clnn_tensor_free(w_t);
  clnn_tensor_free(b5);
  clnn_tensor_free(x_bad);
  /* an int32 tensor where float32 is needed */
  int64_t xd[2] = {4, 6};
  clnn_tensor *xi;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 2, xd, &xi));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_fwd(ctx, &bd, xi, bw, bb, by));
  clnn_tensor_free(xi);
  assert_untouched();
}
END_TEST

START_TEST(test_bad_aliasing_and_context) {
  clnn_context *ctx = tu_ctx();
  /* y viewing x's memory */
  clnn_linear_desc d = clnn_linear_desc_make(4, 6, 6);
  int64_t dims[2] = {4, 6}, wd[2] = {6, 6};
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, 4 * 6 * sizeof(float), &buf));
  clnn_tensor *x, *y, *w = tu_tensor(2, wd, NULL);
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 2, dims, &x));
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 2, dims, &y));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_linear_fwd(ctx, &d, x, w, NULL, y));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_linear_bwd_data(ctx, &d, x, w, y));
  clnn_tensor_free(x);
  clnn_tensor_free(y);
  clnn_tensor_free(w);
  clnn_buffer_free(buf);
  /* dw and db sharing memory */
  int64_t wd2[2] = {3, 6}, bdim[1] = {3};
  TU_OK(clnn_buffer_create(ctx, 3 * 6 * sizeof(float), &buf));
  clnn_tensor *dw, *db;
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 2, wd2, &dw));
  TU_OK(clnn_tensor_view(buf, 4 * sizeof(float), CLNN_FLOAT32, 1, bdim, &db));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_linear_bwd_weights(ctx, &bd, bx, bdy, dw, db, 0));
  clnn_tensor_free(dw);
  clnn_tensor_free(db);
  clnn_buffer_free(buf);
  /* a tensor of another context */
  clnn_context *other;
  TU_OK(clnn_context_create(NULL, &other));
  int64_t xd[2] = {4, 6};
  clnn_tensor *xo;
  TU_OK(clnn_tensor_create(other, CLNN_FLOAT32, 2, xd, &xo));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_linear_fwd(ctx, &bd, xo, bw, bb, by));
  clnn_tensor_free(xo);
  clnn_context_free(other);
  assert_untouched();
}
END_TEST


/* No rows, as torch takes them: y and dx are empty, dw and db are sums over
 * no row (0, or unchanged when accumulating), on the device and in the
 * reference. */
START_TEST(test_empty_batch) {
  clnn_context *ctx = tu_ctx();
  clnn_linear_desc d = clnn_linear_desc_make(0, 37, 5);
  TU_OK(clnn_linear_desc_check(&d));
  int64_t xd[2] = {0, 37}, wd[2] = {5, 37}, bd[1] = {5}, yd[2] = {0, 5};
  clnn_tensor *x = tu_tensor(2, xd, NULL), *w = tu_tensor(2, wd, NULL), *b = tu_tensor(1, bd, NULL);
  clnn_tensor *y = tu_tensor(2, yd, NULL), *dx = tu_tensor(2, xd, NULL), *dw = tu_tensor(2, wd, NULL);
  clnn_tensor *db = tu_tensor(1, bd, NULL);
  tu_poison(w);
  TU_OK(clnn_linear_fwd(ctx, &d, x, w, b, y));
  TU_OK(clnn_linear_bwd_data(ctx, &d, y, w, dx));
  tu_poison(dw);
  tu_poison(db);
  TU_OK(clnn_linear_bwd_weights(ctx, &d, x, y, dw, db, 0));
  tu_assert_zero("dw", dw);
  tu_assert_zero("db", db);
  TU_OK(clnn_linear_bwd_weights(ctx, &d, x, y, dw, db, 1));
  tu_assert_zero("dw (accumulated)", dw);
  float dummy = 0.0f, hw[5 * 37], hb[5];
  for (int i = 0; i < 5 * 37; i++) hw[i] = NAN;
  for (int i = 0; i < 5; i++) hb[i] = NAN;
  TU_OK(clnn_ref_linear_fwd(&d, &dummy, hw, hb, &dummy));
  TU_OK(clnn_ref_linear_bwd_weights(&d, &dummy, &dummy, hw, hb, 0));
  for (int i = 0; i < 5 * 37; i++) ck_assert(hw[i] == 0.0f);
  for (int i = 0; i < 5; i++) ck_assert(hb[i] == 0.0f);
  clnn_tensor *all[] = {x, w, b, y, dx, dw, db};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
}
END_TEST

/* Mixed types are refused by name before anything is written; int32 is not a float type. */
START_TEST(test_bad_mixed_types) {
  clnn_context *ctx = tu_ctx();
  int64_t xd[2] = {4, 6}, wd[2] = {3, 6}, bdim[1] = {3}, yd[2] = {4, 3};
  clnn_tensor *x16 = tu_tensor_dt(CLNN_FLOAT16, 2, xd, NULL), *w16 = tu_tensor_dt(CLNN_FLOAT16, 2, wd, NULL);
  clnn_tensor *wbf = tu_tensor_dt(CLNN_BFLOAT16, 2, wd, NULL), *b16 = tu_tensor_dt(CLNN_FLOAT16, 1, bdim, NULL);
  clnn_tensor *y16 = tu_tensor_dt(CLNN_FLOAT16, 2, yd, NULL), *dw16 = tu_tensor_dt(CLNN_FLOAT16, 2, wd, NULL);
  clnn_tensor *xi;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 2, xd, &xi));
  tu_poison(y16), tu_poison(dw16);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_fwd(ctx, &bd, x16, wbf, b16, y16));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'w' has dtype bfloat16, expected float16") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_fwd(ctx, &bd, x16, w16, bb, y16));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'b' has dtype float32, expected float16") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_fwd(ctx, &bd, x16, w16, b16, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'y' has dtype float32") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_fwd(ctx, &bd, xi, w16, b16, y16));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'x' has dtype int32, expected a float type") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_bwd_data(ctx, &bd, y16, w16, bdx));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dx' has dtype float32, expected float16") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_bwd_data(ctx, &bd, bdy, w16, bdx));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'w' has dtype float16, expected float32") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_bwd_weights(ctx, &bd, bx, y16, dw16, NULL, 0));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'x' has dtype float32, expected float16") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_bwd_weights(ctx, &bd, x16, y16, dw16, bdb, 0));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'db' has dtype float32, expected float16") != NULL);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_linear_bwd_weights(ctx, &bd, x16, y16, wbf, NULL, 1));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'dw' has dtype bfloat16") != NULL);
  clnn_tensor *outs[] = {y16, dw16};
  tu_assert_poisoned(outs, 2);
  clnn_tensor *all[] = {x16, w16, wbf, b16, y16, dw16, xi};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) clnn_tensor_free(all[i]);
  assert_untouched();
}
END_TEST

static Suite *linear_suite(void) {
  Suite *s = suite_create("linear");
  TCase *tc = tcase_create("passes");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_integer_case, 0, N_CASES);
  tcase_add_loop_test(tc, test_float_deterministic, 0, N_CASES);
  tcase_add_test(tc, test_clblast_engine);
  tcase_add_test(tc, test_chunked_packing);
  tcase_add_test(tc, test_accumulate_and_4d);
  tcase_add_test(tc, test_reference_backward_fd);
  tcase_add_test(tc, test_empty_batch);
  suite_add_tcase(s, tc);
  TCase *half = tcase_create("half");
  tcase_set_timeout(half, 600);
  tcase_add_loop_test(half, test_half_case, 0, N_CASES * TU_N_HALF_TYPES);
  tcase_add_loop_test(half, test_half_specials, 0, TU_N_HALF_TYPES);
  tcase_add_loop_test(half, test_half_engines, 0, TU_N_HALF_TYPES);
  tcase_add_loop_test(half, test_half_empty_batch, 0, TU_N_HALF_TYPES);
  suite_add_tcase(s, half);
  TCase *bad = tcase_create("bad_input");
  tcase_add_checked_fixture(bad, bad_setup, bad_teardown);
  tcase_add_test(bad, test_bad_pointers);
  tcase_add_test(bad, test_bad_descriptors);
  tcase_add_test(bad, test_bad_shapes);
  tcase_add_test(bad, test_bad_aliasing_and_context);
  tcase_add_test(bad, test_bad_mixed_types);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return tu_run(linear_suite()); }
