/*
 * test_act.c - activation layers against the host reference: every
 * activation, plain and gated (SwiGLU, GeGLU, GLU), forward and backward, on
 * sizes that are not multiples of the 16-wide vectors, batch > 1, special
 * values (NaN, +-inf, +-0, the kinks, +-100), in place, bit-identical
 * repeats, the fused conv epilogue sharing the same functions, the reference
 * backward against double-precision finite differences, and bad arguments.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fd.h"
#include "common/rmode.h"
#include "common/testutil.h"
#include "host/ref.h"

typedef struct act_case {
  int n, c, h, w;
  clnn_activation act;
  float alpha;
  clnn_act_gate gate;
} act_case;

#define NONE CLNN_GATE_NONE
#define FIRST CLNN_GATE_FIRST
#define SECOND CLNN_GATE_SECOND

static const act_case cases[] = {
    /* n  c   h   w  act                      alpha  gate */
    {2, 3, 7, 5, CLNN_ACT_IDENTITY, 0.0f, NONE},      /* 210 elements: 13 vectors + tail */
    {3, 5, 9, 7, CLNN_ACT_RELU, 0.0f, NONE},
    {1, 1, 1, 1, CLNN_ACT_RELU, 0.0f, NONE},          /* a single element: tail only */
    {2, 4, 6, 6, CLNN_ACT_LEAKY_RELU, 0.2f, NONE},
    {2, 3, 11, 3, CLNN_ACT_ELU, 1.5f, NONE},
    {4, 3, 5, 7, CLNN_ACT_SIGMOID, 0.0f, NONE},
    {2, 7, 5, 5, CLNN_ACT_TANH, 0.0f, NONE},
    {2, 6, 7, 9, CLNN_ACT_GELU, 0.0f, NONE},
    {1, 5, 13, 11, CLNN_ACT_GELU_TANH, 0.0f, NONE},
    {3, 4, 8, 4, CLNN_ACT_SILU, 0.0f, NONE},          /* 384: exactly 24 vectors */
    {2, 5, 9, 9, CLNN_ACT_HARDSWISH, 0.0f, NONE},
    {3, 5, 7, 9, CLNN_ACT_RELU6, 0.0f, NONE},         /* 945: tail; clamps at 0 and 6 */
    {2, 6, 5, 7, CLNN_ACT_SILU, 0.0f, FIRST},         /* SwiGLU: 105 per half, tail */
    {3, 8, 4, 4, CLNN_ACT_GELU, 0.0f, FIRST},         /* GeGLU: 64 per half */
    {2, 10, 3, 3, CLNN_ACT_SIGMOID, 0.0f, SECOND},    /* GLU */
    {1, 2, 1, 1, CLNN_ACT_GELU_TANH, 0.0f, FIRST},    /* one element per half */
    {2, 14, 9, 1, CLNN_ACT_TANH, 0.0f, SECOND},
    {8, 16, 17, 19, CLNN_ACT_SILU, 0.0f, NONE},       /* larger, batch 8 */
};
#define N_CASES (int)(sizeof cases / sizeof cases[0])

static clnn_act_desc desc_of(const act_case *c) {
  clnn_act_desc d = clnn_act_desc_make(c->n, c->c, c->h, c->w, c->act);
  d.alpha = c->alpha;
  d.gate = c->gate;
  return d;
}

static void describe(const clnn_act_desc *d, char *buf, size_t n) {
  static const char *const gates[] = {"none", "first", "second"};
  snprintf(buf, n, "act mb%lldic%lldih%lldiw%lld %s alpha=%g gate=%s", (long long)d->n, (long long)d->c,
           (long long)d->h, (long long)d->w, clnn_activation_name(d->act), (double)d->alpha, gates[d->gate]);
}

/* Host data, reference outputs and the device results of one problem. */
typedef struct problem {
  clnn_act_desc d;
  size_t nx, ny;
  int64_t xdims[4], ydims[4];
  float *x, *dy, *y_ref, *dx_ref;
  char what[160];
} problem;

static void problem_make(problem *p, const clnn_act_desc *d, uint64_t seed) {
  int64_t yc;
  p->d = *d;
  TU_OK(clnn_act_desc_check(d, &yc));
  p->nx = (size_t)(d->n * d->c * d->h * d->w);
  p->ny = (size_t)(d->n * yc * d->h * d->w);
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, ydm[4] = {d->n, yc, d->h, d->w};
  memcpy(p->xdims, xd, sizeof xd);
  memcpy(p->ydims, ydm, sizeof ydm);
  p->x = tu_alloc(p->nx);
  p->dy = tu_alloc(p->ny);
  p->y_ref = tu_alloc(p->ny);
  p->dx_ref = tu_alloc(p->nx);
  tu_fill_uniform(p->x, p->nx, seed, -5.0f, 5.0f);
  tu_fill_normal(p->dy, p->ny, seed + 1, 0.0f, 1.0f);
  describe(d, p->what, sizeof p->what);
}

static void problem_ref(problem *p) {
  TU_OK(clnn_ref_act_fwd(&p->d, p->x, p->y_ref));
  TU_OK(clnn_ref_act_bwd(&p->d, p->x, p->dy, p->dx_ref));
}

static void problem_free(problem *p) {
  free(p->x);
  free(p->dy);
  free(p->y_ref);
  free(p->dx_ref);
}

/* Device forward (y poisoned first) and backward (dx poisoned first), in
 * tensors of type dt, read back as float32. */
static void run_device_dt(const problem *p, clnn_dtype dt, float **y_out, float **dx_out);

static void run_device(const problem *p, float **y_out, float **dx_out) { run_device_dt(p, CLNN_FLOAT32, y_out, dx_out); }

/* A few float ulps: the device uses its own exp, and rational functions for
 * tanh and GELU (kernels/common.h); their error is absolute where PyTorch's
 * is (GELU's far negative tail). */
#define REL_TOL 2e-6
#define ABS_TOL 1e-6

START_TEST(test_case_fwd_bwd) {
  clnn_act_desc d = desc_of(&cases[_i]);
  problem p;
  problem_make(&p, &d, 100 + (uint64_t)_i);
  problem_ref(&p);
  float *y1, *dx1, *y2, *dx2;
  run_device(&p, &y1, &dx1);
  run_device(&p, &y2, &dx2);
  tu_cmp c;
  ck_assert_msg(tu_compare(p.what, y1, p.y_ref, p.ny, REL_TOL, ABS_TOL, &c), "%s: forward differs", p.what);
  ck_assert_msg(c.rel_l2_err < 1e-6, "%s: forward rel L2 %.3g", p.what, c.rel_l2_err);
  ck_assert_msg(tu_compare(p.what, dx1, p.dx_ref, p.nx, REL_TOL, ABS_TOL, &c), "%s: backward differs", p.what);
  ck_assert_msg(c.rel_l2_err < 1e-6, "%s: backward rel L2 %.3g", p.what, c.rel_l2_err);
  ck_assert_msg(!memcmp(y1, y2, p.ny * sizeof(float)), "%s: two forward runs differ", p.what);
  ck_assert_msg(!memcmp(dx1, dx2, p.nx * sizeof(float)), "%s: two backward runs differ", p.what);
  free(y1);
  free(dx1);
  free(y2);
  free(dx2);
  problem_free(&p);
}
END_TEST

/* NaN where the reference has NaN, the same infinity, else within tolerance. */
static bool agrees(float got, float ref) {
  if (isnan(got) || isnan(ref)) return isnan(got) && isnan(ref);
  if (isinf(got) || isinf(ref)) return got == ref;
  return fabs((double)got - ref) <= ABS_TOL + REL_TOL * fabs((double)ref);
}

/* Special values: NaN propagates forward; +-inf, +-0, kinks and large
 * magnitudes give what the reference gives (NaN where it gives NaN), and
 * exactly what it gives, rounded to float, where that is a saturated value:
 * +-1 or x itself for y (tanh(9.05) = 1, silu(30) = 30), +-dy for dx. Where
 * the reference is 0 the device may hold what double rounding lost
 * (sigmoid'(100) is 3.7e-44, not 0) but nothing near float resolution:
 * under 1e-20 of the scale (GELU'(-30) once came out as -6e-8). */
static bool saturates_alike(float got, double ref, float unit, float same) {
  const float r = (float)ref;
  if (r == 0.0f) return fabs((double)got) < 1e-20 * fmax(1.0, fabs((double)unit));
  const bool saturated = r == unit || r == -unit || r == same;
  return !saturated || got == r;
}
static const float specials[] = {NAN,   INFINITY, -INFINITY, 0.0f,    -0.0f, 3.0f,   -3.0f,
                                 1e-4f, -1e-4f,   100.0f,    -100.0f, 30.0f, -30.0f, 1e-30f,
                                 -9.0f, 0.5f,     9.05f,     -9.05f,  1e20f, -1e20f, 3e38f, 6.0f, 5.99f, 6.01f};

START_TEST(test_special_values) {
  const clnn_activation act = (clnn_activation)_i;
  clnn_act_desc d = clnn_act_desc_make(1, 3, 1, 21, act); /* 63 elements: vectors and tail */
  problem p;
  problem_make(&p, &d, 7);
  for (size_t i = 0; i < p.nx; i++) p.x[i] = specials[i % (sizeof specials / sizeof specials[0])];
  problem_ref(&p);
  for (size_t i = 0; i < p.nx; i++)
    if (isnan(p.x[i])) ck_assert_msg(isnan(p.y_ref[i]), "reference %s(NaN) is not NaN", clnn_activation_name(act));
  float *y, *dx;
  run_device(&p, &y, &dx);
  for (size_t i = 0; i < p.nx; i++) {
    ck_assert_msg(agrees(y[i], p.y_ref[i]), "%s(%g): device %.9g, reference %.9g", clnn_activation_name(act),
                  (double)p.x[i], (double)y[i], (double)p.y_ref[i]);
    ck_assert_msg(agrees(dx[i], p.dx_ref[i]), "%s'(%g) * %g: device %.9g, reference %.9g", clnn_activation_name(act),
                  (double)p.x[i], (double)p.dy[i], (double)dx[i], (double)p.dx_ref[i]);
    ck_assert_msg(saturates_alike(y[i], p.y_ref[i], 1.0f, p.x[i]), "%s(%g): device %.9g, reference exactly %.9g",
                  clnn_activation_name(act), (double)p.x[i], (double)y[i], (double)p.y_ref[i]);
    ck_assert_msg(saturates_alike(dx[i], p.dx_ref[i], p.dy[i], NAN),
                  "%s'(%g) * %g: device %.9g, reference exactly %.9g", clnn_activation_name(act), (double)p.x[i],
                  (double)p.dy[i], (double)dx[i], (double)p.dx_ref[i]);
  }
  free(y);
  free(dx);
  problem_free(&p);
}
END_TEST

/* Opposite signs: a sign error hides under the absolute tolerance where
 * values are tiny (GELU's far negative tail). */
static bool same_sign(float got, double ref) { return !((got > 0 && ref < 0) || (got < 0 && ref > 0)); }

/* n values x_i = x0 + i * step of activation act, dy = 1 (dx is then the
 * derivative itself), against the reference: within tolerance, same sign. */
static void check_sweep(clnn_activation act, double x0, double step, int64_t n) {
  clnn_act_desc d = clnn_act_desc_make(1, 1, 1, n, act);
  problem p;
  problem_make(&p, &d, 8);
  for (size_t i = 0; i < p.nx; i++) {
    p.x[i] = (float)(x0 + (double)i * step);
    p.dy[i] = 1.0f;
  }
  problem_ref(&p);
  float *y, *dx;
  run_device(&p, &y, &dx);
  for (size_t i = 0; i < p.nx; i++) {
    ck_assert_msg(agrees(y[i], p.y_ref[i]) && same_sign(y[i], p.y_ref[i]), "%s(%.9g): device %.9g, reference %.9g",
                  clnn_activation_name(act), (double)p.x[i], (double)y[i], (double)p.y_ref[i]);
    ck_assert_msg(agrees(dx[i], p.dx_ref[i]) && same_sign(dx[i], p.dx_ref[i]), "%s'(%.9g): device %.9g, reference %.9g",
                  clnn_activation_name(act), (double)p.x[i], (double)dx[i], (double)p.dx_ref[i]);
  }
  free(y);
  free(dx);
  problem_free(&p);
}

/* Every activation and its derivative over [-30, 30] in steps of 1/2000,
 * 120001 values: crosses each approximation's pieces and cut-offs (tanh's
 * at 9.02, GELU's at 5.7 and 6, exp's range reduction) and the saturation
 * of sigmoid, SiLU and ELU. Those values run through the 16-wide path; the
 * one-value path (a launch's last n % 16 values) gets 15-value sweeps
 * across each cut-off, exp's range limits included. */
START_TEST(test_range_sweep) {
  const clnn_activation act = (clnn_activation)_i;
  check_sweep(act, -30.0, 1.0 / 2000.0, 120001);
  static const double cutoffs[] = {-104.0, -88.0, -20.0, -9.02, -6.0, -5.7, 0.0, 5.7, 6.0, 9.02, 20.0, 88.3, 89.0};
  for (size_t i = 0; i < sizeof cutoffs / sizeof cutoffs[0]; i++) check_sweep(act, cutoffs[i] - 0.07, 0.01, 15);
}
END_TEST

/* Known values pin the definitions (and PyTorch's kink conventions). */
START_TEST(test_reference_values) {
  const double a = 0.1;
  ck_assert(fabs(clnn__ref_act(1.0, CLNN_ACT_GELU, 0) - 0.8413447460685429) < 1e-12);
  ck_assert(fabs(clnn__ref_act(1.0, CLNN_ACT_GELU_TANH, 0) - 0.8411919906082768) < 1e-12);
  ck_assert(fabs(clnn__ref_act(-1.0, CLNN_ACT_ELU, 1.0) - (exp(-1.0) - 1.0)) < 1e-15);
  ck_assert(fabs(clnn__ref_act(1.0, CLNN_ACT_HARDSWISH, 0) - 4.0 / 6.0) < 1e-15);
  ck_assert(clnn__ref_act_deriv(0.0, CLNN_ACT_RELU, 0) == 0.0);
  ck_assert(clnn__ref_act_deriv(0.0, CLNN_ACT_LEAKY_RELU, a) == a);
  ck_assert(clnn__ref_act_deriv(0.0, CLNN_ACT_ELU, 2.0) == 2.0);
  ck_assert(clnn__ref_act_deriv(-3.0, CLNN_ACT_HARDSWISH, 0) == -0.5);
  ck_assert(clnn__ref_act_deriv(3.0, CLNN_ACT_HARDSWISH, 0) == 1.5);
  ck_assert(clnn__ref_act_deriv(NAN, CLNN_ACT_RELU, 0) == 1.0);
  ck_assert(clnn__ref_act(7.5, CLNN_ACT_RELU6, 0) == 6.0 && clnn__ref_act(-2.0, CLNN_ACT_RELU6, 0) == 0.0);
  ck_assert(clnn__ref_act_deriv(0.0, CLNN_ACT_RELU6, 0) == 0.0 && clnn__ref_act_deriv(6.0, CLNN_ACT_RELU6, 0) == 0.0);
  ck_assert(clnn__ref_act_deriv(5.0, CLNN_ACT_RELU6, 0) == 1.0 && clnn__ref_act_deriv(NAN, CLNN_ACT_RELU6, 0) == 0.0);
  ck_assert(clnn__ref_act_deriv(NAN, CLNN_ACT_LEAKY_RELU, a) == a);
}
END_TEST

/* ------------------------------------------------- finite differences */

typedef struct fd_problem {
  clnn_act_desc d;
  double *x, *dy, *y;
} fd_problem;

/* sum(y * dy): its gradient with respect to x is the backward's dx. */
static double fd_loss(void *ptr) {
  fd_problem *p = ptr;
  int64_t yc;
  clnn_act_desc_check(&p->d, &yc);
  size_t ny = (size_t)(p->d.n * yc * p->d.h * p->d.w);
  clnn__ref_act_fwd_f64(&p->d, p->x, p->y);
  double s = 0.0;
  for (size_t i = 0; i < ny; i++) s += p->y[i] * p->dy[i];
  return s;
}

START_TEST(test_reference_backward_fd) {
  static const clnn_act_gate gates[] = {CLNN_GATE_NONE, CLNN_GATE_FIRST, CLNN_GATE_SECOND};
  for (int a = 0; a < CLNN_ACT_COUNT_; a++) {
    for (int g = 0; g < 3; g++) {
      fd_problem p;
      p.d = clnn_act_desc_make(2, 4, 3, 3, (clnn_activation)a);
      if (a == CLNN_ACT_ELU) p.d.alpha = 1.3f;
      p.d.gate = gates[g];
      size_t n = 72;
      p.x = malloc(n * sizeof(double));
      p.dy = malloc(n * sizeof(double));
      p.y = malloc(n * sizeof(double));
      double *dx = malloc(n * sizeof(double));
      tu_rng r = tu_rng_make(500 + (uint64_t)(a * 3 + g));
      for (size_t i = 0; i < n; i++) {
        p.x[i] = tu_rng_uniform(&r, -4.0, 4.0);
        p.dy[i] = tu_rng_normal(&r);
      }
      TU_OK(clnn__ref_act_bwd_f64(&p.d, p.x, p.dy, dx));
      char what[128];
      describe(&p.d, what, sizeof what);
      ck_assert_msg(tu_fd_check(what, fd_loss, &p, p.x, n, dx, 1e-6, 1e-7), "%s: reference backward", what);
      free(p.x);
      free(p.dy);
      free(p.y);
      free(dx);
    }
  }
}
END_TEST

/* ------------------------------------------------------ in place, 2-D */

START_TEST(test_in_place_and_2d) {
  clnn_context *ctx = tu_ctx();
  clnn_act_desc d = clnn_act_desc_make(5, 37, 1, 1, CLNN_ACT_SILU); /* a linear layer's output */
  problem p;
  problem_make(&p, &d, 77);
  problem_ref(&p);
  int64_t dims2[2] = {5, 37};
  clnn_tensor *x = tu_tensor(2, dims2, p.x), *dy = tu_tensor(2, dims2, p.dy);
  clnn_tensor *x_copy = tu_tensor(2, dims2, p.x);
  TU_OK(clnn_act_fwd(ctx, &d, x, x));           /* y == x */
  TU_OK(clnn_act_bwd(ctx, &d, x_copy, dy, dy)); /* dx == dy */
  float *y = tu_download(x), *dx = tu_download(dy);
  ck_assert(tu_compare("in-place forward", y, p.y_ref, p.ny, REL_TOL, ABS_TOL, NULL));
  ck_assert(tu_compare("in-place backward", dx, p.dx_ref, p.nx, REL_TOL, ABS_TOL, NULL));
  free(y);
  free(dx);
  clnn_tensor_free(x);
  clnn_tensor_free(dy);
  clnn_tensor_free(x_copy);
  problem_free(&p);
}
END_TEST

/* The conv epilogue uses the same act_f16 / act_f1: check it after the
 * rational tanh and GELU and the scalef-based exp and expm1. */
START_TEST(test_conv_epilogue) {
  static const clnn_activation acts[] = {CLNN_ACT_GELU, CLNN_ACT_TANH, CLNN_ACT_ELU, CLNN_ACT_GELU_TANH};
  for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
    clnn_conv2d_desc d = clnn_conv2d_desc_make(2, 8, 9, 7, 16, 1, 1);
    d.act = acts[i];
    d.act_alpha = 1.0f;
    int64_t xd[4] = {2, 8, 9, 7}, wd[4] = {16, 8, 1, 1}, yd[4] = {2, 16, 9, 7};
    size_t nx = 2 * 8 * 9 * 7, nw = 16 * 8, ny = 2 * 16 * 9 * 7;
    float *x = tu_alloc(nx), *w = tu_alloc(nw), *ref = tu_alloc(ny);
    tu_fill_normal(x, nx, 900 + i, 0.0f, 1.0f);
    tu_fill_normal(w, nw, 901 + i, 0.0f, 0.5f);
    TU_OK(clnn_ref_conv2d_fwd(&d, x, w, NULL, ref));
    clnn_tensor *tx = tu_tensor(4, xd, x), *tw = tu_tensor(4, wd, w), *ty = tu_tensor(4, yd, NULL);
    tu_poison(ty);
    TU_OK(clnn_conv2d_fwd(tu_ctx(), &d, tx, tw, NULL, ty));
    float *got = tu_download(ty);
    ck_assert_msg(tu_compare(clnn_activation_name(acts[i]), got, ref, ny, 1e-5, 1e-5, NULL), "conv + %s",
                  clnn_activation_name(acts[i]));
    free(got);
    free(x);
    free(w);
    free(ref);
    clnn_tensor_free(tx);
    clnn_tensor_free(tw);
    clnn_tensor_free(ty);
  }
}
END_TEST

/* clnn-bench R mode: .npy in, the same results as the library's reference out. */
START_TEST(test_bench_r_mode) {
  rm_dir dir;
  if (!rm_open(&dir)) return;
  clnn_act_desc d = clnn_act_desc_swiglu(2, 6, 5, 7);
  problem p;
  problem_make(&p, &d, 31);
  problem_ref(&p);
  rm_write(&dir, "x", CLNN_FLOAT32, 4, p.xdims, p.x);
  rm_write(&dir, "dy", CLNN_FLOAT32, 4, p.ydims, p.dy);
  rm_run(&dir, "fwd", "act mb2ic6ih5iw7 swiglu");
  rm_run(&dir, "bwd", "act mb2ic6ih5iw7 swiglu");
  float *y = rm_read(&dir, "y", CLNN_FLOAT32, p.ny), *dx = rm_read(&dir, "dx", CLNN_FLOAT32, p.nx);
  ck_assert(tu_compare("R mode y", y, p.y_ref, p.ny, REL_TOL, ABS_TOL, NULL));
  ck_assert(tu_compare("R mode dx", dx, p.dx_ref, p.nx, REL_TOL, ABS_TOL, NULL));
  free(y);
  free(dx);
  problem_free(&p);
  rm_close(&dir);
}
END_TEST

/* ------------------------------------------------------------ bad input */

static clnn_tensor *bx, *by, *bdy, *bdx;
static clnn_act_desc bd;
static int64_t bxd[4] = {2, 6, 5, 5}, byd[4] = {2, 3, 5, 5};

static void bad_setup(void) {
  bd = clnn_act_desc_swiglu(2, 6, 5, 5);
  bx = tu_tensor(4, bxd, NULL);
  bdy = tu_tensor(4, byd, NULL);
  by = tu_tensor(4, byd, NULL);
  bdx = tu_tensor(4, bxd, NULL);
  TU_OK(clnn_tensor_fill(bx, 1.0f));
  TU_OK(clnn_tensor_fill(bdy, 1.0f));
  tu_poison(by);
  tu_poison(bdx);
}

static void bad_teardown(void) {
  clnn_tensor_free(bx);
  clnn_tensor_free(by);
  clnn_tensor_free(bdy);
  clnn_tensor_free(bdx);
}

/* Failed calls write nothing: y and dx still hold their poison. */
static void assert_untouched(void) {
  TU_OK(clnn_context_finish(tu_ctx()));
  float *y = tu_download(by), *dx = tu_download(bdx);
  for (size_t i = 0; i < clnn_tensor_numel(by); i++) ck_assert_msg(isnan(y[i]), "y[%zu] written", i);
  for (size_t i = 0; i < clnn_tensor_numel(bdx); i++) ck_assert_msg(isnan(dx[i]), "dx[%zu] written", i);
  free(y);
  free(dx);
}

/* Tensors of a call share one float type: a mix, or int32, is refused by name. */
START_TEST(test_bad_dtypes) {
  clnn_context *ctx = tu_ctx();
  clnn_tensor *hx = tu_tensor_dt(CLNN_FLOAT16, 4, bxd, NULL), *hy = tu_tensor_dt(CLNN_BFLOAT16, 4, byd, NULL);
  clnn_tensor *ix = NULL;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, bxd, &ix));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_act_fwd(ctx, &bd, hx, by));
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "'y'") && strstr(clnn_context_errmsg(ctx), "float16"), "%s",
                clnn_context_errmsg(ctx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_act_fwd(ctx, &bd, hx, hy));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_act_fwd(ctx, &bd, ix, by));
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "int32"), "%s", clnn_context_errmsg(ctx));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_act_bwd(ctx, &bd, bx, bdy, hx));
  clnn_tensor_free(hx);
  clnn_tensor_free(hy);
  clnn_tensor_free(ix);
  assert_untouched();
}
END_TEST

START_TEST(test_bad_pointers) {
  clnn_context *ctx = tu_ctx();
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_act_fwd(NULL, &bd, bx, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_act_fwd(ctx, NULL, bx, by));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_act_fwd(ctx, &bd, NULL, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "'x'") != NULL);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_act_fwd(ctx, &bd, bx, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_act_bwd(ctx, &bd, bx, NULL, bdx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_act_bwd(ctx, &bd, bx, bdy, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_act_desc_check(NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_act_fwd(&bd, NULL, NULL));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_ref_act_bwd(&bd, NULL, NULL, NULL));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_descriptors) {
  clnn_context *ctx = tu_ctx();
  clnn_act_desc d = bd;
  d.n = -1; /* 0 is an empty tensor (test_empty_tensors) */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_act_fwd(ctx, &d, bx, by));
  ck_assert(strstr(clnn_context_errmsg(ctx), "desc->n") != NULL);
  d = bd;
  d.h = -5;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_act_bwd(ctx, &d, bx, bdy, bdx));
  d = bd;
  d.act = (clnn_activation)99;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_act_fwd(ctx, &d, bx, by));
  d = bd;
  d.gate = (clnn_act_gate)7;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_act_fwd(ctx, &d, bx, by));
  d = bd;
  d.c = 5; /* odd channel count cannot be split */
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_act_desc_check(&d, NULL));
  d = bd;
  d.alpha = NAN;
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_act_fwd(ctx, &d, bx, by));
  d.alpha = INFINITY;
  TU_FAILS(CLNN_ERR_NOT_FINITE, clnn_act_bwd(ctx, &d, bx, bdy, bdx));
  d = bd;
  d.n = 1 << 20;
  d.c = 1 << 12; /* 2^32 * 25 elements */
  TU_FAILS(CLNN_ERR_SIZE_OVERFLOW, clnn_act_desc_check(&d, NULL));
  d = bd;
  d.w = (int64_t)1 << 40;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_act_desc_check(&d, NULL));
  assert_untouched();
}
END_TEST

START_TEST(test_bad_shapes_and_aliasing) {
  clnn_context *ctx = tu_ctx();
  /* y with the input's channel count although the gate halves it */
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_act_fwd(ctx, &bd, bx, bdx));
  ck_assert(strstr(clnn_context_errmsg(ctx), "[2,3,5,5]") != NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_act_bwd(ctx, &bd, bx, bdx, bdx));
  /* 2-D tensors only when h == w == 1 */
  int64_t d2[2] = {2, 6};
  clnn_tensor *t2 = tu_tensor(2, d2, NULL);
  TU_FAILS(CLNN_ERR_SHAPE_MISMATCH, clnn_act_fwd(ctx, &bd, t2, by));
  clnn_tensor_free(t2);
  /* int32 data */
  clnn_tensor *xi;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 4, bxd, &xi));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_act_fwd(ctx, &bd, xi, by));
  clnn_tensor_free(xi);
  /* gated ops never run in place; plain ones only exactly in place */
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, 2 * 6 * 25 * sizeof(float) + 64, &buf));
  clnn_tensor *x, *y;
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, bxd, &x));
  TU_OK(clnn_tensor_view(buf, 0, CLNN_FLOAT32, 4, byd, &y));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_act_fwd(ctx, &bd, x, y));
  clnn_act_desc plain = clnn_act_desc_make(2, 6, 5, 5, CLNN_ACT_RELU);
  clnn_tensor *x_shift;
  TU_OK(clnn_tensor_view(buf, 16, CLNN_FLOAT32, 4, bxd, &x_shift));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_act_fwd(ctx, &plain, x, x_shift));
  TU_FAILS(CLNN_ERR_ALIASING, clnn_act_bwd(ctx, &plain, x, x_shift, x_shift)); /* dx overlaps x */
  clnn_tensor_free(x);
  clnn_tensor_free(y);
  clnn_tensor_free(x_shift);
  clnn_buffer_free(buf);
  /* a tensor of another context */
  clnn_context *other;
  TU_OK(clnn_context_create(NULL, &other));
  clnn_tensor *xo;
  TU_OK(clnn_tensor_create(other, CLNN_FLOAT32, 4, bxd, &xo));
  TU_FAILS(CLNN_ERR_CONTEXT_MISMATCH, clnn_act_fwd(ctx, &bd, xo, by));
  clnn_tensor_free(xo);
  clnn_context_free(other);
  assert_untouched();
}
END_TEST


/* ------------------------------------------------------- half precision */

/* Where half precision has its edges: NaN, +-inf, +-0, a float16 overflow
 * (70000 is inf once rounded), a float16 subnormal, a ReLU6 kink. */
static const float half_specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 70000.0f, -70000.0f, 3e-6f, 6.0f};
#define N_HALF_SPECIALS (sizeof half_specials / sizeof half_specials[0])

/* Forward and backward in dt (outputs poisoned first), read back as float32. */
static void run_device_dt(const problem *p, clnn_dtype dt, float **y_out, float **dx_out) {
  clnn_context *ctx = tu_ctx();
  clnn_tensor *x = tu_tensor_dt(dt, 4, p->xdims, p->x), *dy = tu_tensor_dt(dt, 4, p->ydims, p->dy);
  clnn_tensor *y = tu_tensor_dt(dt, 4, p->ydims, NULL), *dx = tu_tensor_dt(dt, 4, p->xdims, NULL);
  tu_poison(y);
  tu_poison(dx);
  clnn_status st = clnn_act_fwd(ctx, &p->d, x, y);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  st = clnn_act_bwd(ctx, &p->d, x, dy, dx);
  ck_assert_msg(st == CLNN_SUCCESS, "%s: %s", p->what, clnn_context_errmsg(ctx));
  *y_out = tu_download_f32(y);
  *dx_out = tu_download_f32(dx);
  clnn_tensor_free(x);
  clnn_tensor_free(dy);
  clnn_tensor_free(y);
  clnn_tensor_free(dx);
}

/* Every case in float16 and bfloat16: inputs rounded to the type, the
 * reference on those, the device (float32 math, one rounding on store)
 * against it rounded the same way (tu_check_half, within the float32
 * tolerance besides the type's unit); specials included, bit-identical
 * repeats. */
START_TEST(test_half_precision) {
  const clnn_dtype dt = tu_half_types[_i % TU_N_HALF_TYPES];
  clnn_act_desc d = desc_of(&cases[_i / TU_N_HALF_TYPES]);
  problem p;
  problem_make(&p, &d, 300 + (uint64_t)_i);
  for (size_t i = 0; i < N_HALF_SPECIALS; i++) p.x[(i * 7) % p.nx] = half_specials[i];
  tu_round_to(dt, p.x, p.nx);
  tu_round_to(dt, p.dy, p.ny);
  problem_ref(&p);
  float *y1, *dx1, *y2, *dx2;
  run_device_dt(&p, dt, &y1, &dx1);
  run_device_dt(&p, dt, &y2, &dx2);
  tu_check_half(p.what, "forward", y1, p.y_ref, p.ny, dt, ABS_TOL);
  tu_check_half(p.what, "backward", dx1, p.dx_ref, p.nx, dt, ABS_TOL);
  ck_assert_msg(!memcmp(y1, y2, p.ny * sizeof(float)), "%s: two forward runs differ", p.what);
  ck_assert_msg(!memcmp(dx1, dx2, p.nx * sizeof(float)), "%s: two backward runs differ", p.what);
  free(y1);
  free(dx1);
  free(y2);
  free(dx2);
  problem_free(&p);
}
END_TEST

/* Every case in both half types on views at odd element offsets of one
 * buffer (2-byte aligned only: the vector loads and stores of half and
 * ushort must take that, and bfloat16 must leave its uint-pair path). */
START_TEST(test_half_odd_offsets) {
  const clnn_dtype dt = tu_half_types[_i % TU_N_HALF_TYPES];
  clnn_act_desc d = desc_of(&cases[_i / TU_N_HALF_TYPES]);
  clnn_context *ctx = tu_ctx();
  problem p;
  problem_make(&p, &d, 500 + (uint64_t)_i);
  tu_round_to(dt, p.x, p.nx);
  tu_round_to(dt, p.dy, p.ny);
  problem_ref(&p);
  const size_t ox = 1, oy = ox + p.nx + 2, ody = oy + p.ny + 2, odx = ody + p.ny + 2;
  clnn_buffer *buf;
  TU_OK(clnn_buffer_create(ctx, (odx + p.nx + 1) * clnn_dtype_size(dt), &buf));
  clnn_tensor *x = tu_view_dt(buf, ox, dt, 4, p.xdims, p.x), *y = tu_view_dt(buf, oy, dt, 4, p.ydims, NULL);
  clnn_tensor *dy = tu_view_dt(buf, ody, dt, 4, p.ydims, p.dy), *dx = tu_view_dt(buf, odx, dt, 4, p.xdims, NULL);
  tu_poison(y);
  tu_poison(dx);
  TU_OK(clnn_act_fwd(ctx, &p.d, x, y));
  TU_OK(clnn_act_bwd(ctx, &p.d, x, dy, dx));
  float *got_y = tu_download_f32(y), *got_dx = tu_download_f32(dx);
  tu_check_half(p.what, "forward (odd offset)", got_y, p.y_ref, p.ny, dt, ABS_TOL);
  tu_check_half(p.what, "backward (odd offset)", got_dx, p.dx_ref, p.nx, dt, ABS_TOL);
  free(got_y);
  free(got_dx);
  clnn_tensor_free(x);
  clnn_tensor_free(y);
  clnn_tensor_free(dy);
  clnn_tensor_free(dx);
  clnn_buffer_free(buf);
  problem_free(&p);
}
END_TEST

/* The host conversions: exact round trips, ties to even, overflow to inf,
 * float16 subnormals, NaN kept. */
START_TEST(test_half_conversions) {
  const float f16_in[] = {1.0f, 65504.0f, 65519.0f, 65520.0f, 1e9f, 0x1p-24f, 0x1p-25f, 0x1.8p-25f,
                          1.0f + 0x1p-11f, 1.0f + 0x1.8p-11f, -2.0f, 0x1p-14f, 0x1.ff8p-15f};
  const float f16_out[] = {1.0f, 65504.0f, 65504.0f, INFINITY, INFINITY, 0x1p-24f, 0.0f, 0x1p-24f,
                           1.0f, 1.0f + 0x1p-10f, -2.0f, 0x1p-14f, 0x1.ff8p-15f};
  const float bf16_in[] = {1.0f, 1.0f + 0x1p-8f, 1.0f + 0x1.8p-8f, 3e38f, 3.4028235e38f, -0x1p-130f};
  const float bf16_out[] = {1.0f, 1.0f, 1.0f + 0x1p-7f, 0x1.c4p+127f, INFINITY, -0x1p-130f};
  float got[16];
  uint16_t h[16];
  const size_t n16 = sizeof f16_in / sizeof f16_in[0], nb = sizeof bf16_in / sizeof bf16_in[0];
  TU_OK(clnn_pack_f32(CLNN_FLOAT16, f16_in, h, n16));
  TU_OK(clnn_unpack_f32(CLNN_FLOAT16, h, got, n16));
  for (size_t i = 0; i < n16; i++)
    ck_assert_msg(got[i] == f16_out[i], "float16(%a) = %a, expected %a", (double)f16_in[i], (double)got[i],
                  (double)f16_out[i]);
  TU_OK(clnn_pack_f32(CLNN_BFLOAT16, bf16_in, h, nb));
  TU_OK(clnn_unpack_f32(CLNN_BFLOAT16, h, got, nb));
  for (size_t i = 0; i < nb; i++)
    ck_assert_msg(got[i] == bf16_out[i], "bfloat16(%a) = %a, expected %a", (double)bf16_in[i], (double)got[i],
                  (double)bf16_out[i]);
  const float nan_in[2] = {NAN, -NAN};
  for (int t = 0; t < TU_N_HALF_TYPES; t++) {
    TU_OK(clnn_pack_f32(tu_half_types[t], nan_in, h, 2));
    TU_OK(clnn_unpack_f32(tu_half_types[t], h, got, 2));
    ck_assert(isnan(got[0]) && isnan(got[1]));
  }
  /* every float16 bit pattern survives unpack then pack */
  for (uint32_t b = 0; b < 0x10000u; b++) {
    uint16_t in = (uint16_t)b, out;
    float f;
    TU_OK(clnn_unpack_f32(CLNN_FLOAT16, &in, &f, 1));
    TU_OK(clnn_pack_f32(CLNN_FLOAT16, &f, &out, 1));
    ck_assert_msg(out == in || (isnan(f) && (out & 0x7c00u) == 0x7c00u && (out & 0x3ffu)), "float16 %04x -> %a -> %04x",
                  (unsigned)in, (double)f, (unsigned)out);
  }
  /* in place: pack into the floats' own memory, then unpack back over it */
  for (int t = 0; t < TU_N_HALF_TYPES; t++) {
    float inplace[4] = {1.5f, -2.0f, 3.25f, 0.5f};
    TU_OK(clnn_pack_f32(tu_half_types[t], inplace, inplace, 4));
    TU_OK(clnn_unpack_f32(tu_half_types[t], inplace, inplace, 4));
    ck_assert_msg(inplace[0] == 1.5f && inplace[1] == -2.0f && inplace[2] == 3.25f && inplace[3] == 0.5f,
                  "in-place %s round trip: %g %g %g %g", clnn_dtype_name(tu_half_types[t]), (double)inplace[0],
                  (double)inplace[1], (double)inplace[2], (double)inplace[3]);
  }
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_pack_f32(CLNN_INT32, f16_in, h, 1));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_unpack_f32(CLNN_FLOAT16, NULL, got, 1));
  ck_assert_str_eq(clnn_dtype_name(CLNN_BFLOAT16), "bfloat16");
  ck_assert_int_eq((int)clnn_dtype_size(CLNN_FLOAT16), 2);
}
END_TEST

/* Empty tensors, as torch takes them: a 0 in any of n, c, h, w, plain and
 * gated, forward and backward, on the device and in the reference, succeed
 * and write nothing. */
START_TEST(test_empty_tensors) {
  clnn_context *ctx = tu_ctx();
  static const int64_t shapes[4][4] = {{0, 4, 3, 3}, {2, 0, 3, 3}, {2, 4, 0, 3}, {2, 4, 3, 0}};
  for (int i = 0; i < 4; i++) {
    for (int gated = 0; gated < 2; gated++) {
      clnn_act_desc d = clnn_act_desc_make(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], CLNN_ACT_GELU);
      if (gated) d.gate = CLNN_GATE_FIRST;
      int64_t yc;
      TU_OK(clnn_act_desc_check(&d, &yc));
      int64_t yd[4] = {d.n, yc, d.h, d.w};
      clnn_tensor *x = tu_tensor(4, shapes[i], NULL), *y = tu_tensor(4, yd, NULL), *dx = tu_tensor(4, shapes[i], NULL);
      TU_OK(clnn_act_fwd(ctx, &d, x, y));
      TU_OK(clnn_act_bwd(ctx, &d, x, y, dx));
      float dummy = 0.0f;
      TU_OK(clnn_ref_act_fwd(&d, &dummy, &dummy));
      TU_OK(clnn_ref_act_bwd(&d, &dummy, &dummy, &dummy));
      clnn_tensor_free(x);
      clnn_tensor_free(y);
      clnn_tensor_free(dx);
    }
  }
}
END_TEST

static Suite *act_suite(void) {
  Suite *s = suite_create("act");
  TCase *tc = tcase_create("device");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, test_case_fwd_bwd, 0, N_CASES);
  tcase_add_loop_test(tc, test_special_values, 0, CLNN_ACT_COUNT_);
  tcase_add_loop_test(tc, test_range_sweep, 0, CLNN_ACT_COUNT_);
  tcase_add_test(tc, test_in_place_and_2d);
  tcase_add_test(tc, test_empty_tensors);
  tcase_add_loop_test(tc, test_half_precision, 0, N_CASES * TU_N_HALF_TYPES);
  tcase_add_loop_test(tc, test_half_odd_offsets, 0, N_CASES * TU_N_HALF_TYPES);
  tcase_add_test(tc, test_half_conversions);
  tcase_add_test(tc, test_conv_epilogue);
  tcase_add_test(tc, test_bench_r_mode);
  suite_add_tcase(s, tc);
  TCase *ref = tcase_create("reference");
  tcase_add_test(ref, test_reference_values);
  tcase_add_test(ref, test_reference_backward_fd);
  suite_add_tcase(s, ref);
  TCase *bad = tcase_create("bad_input");
  tcase_add_checked_fixture(bad, bad_setup, bad_teardown);
  tcase_add_test(bad, test_bad_pointers);
  tcase_add_test(bad, test_bad_dtypes);
  tcase_add_test(bad, test_bad_descriptors);
  tcase_add_test(bad, test_bad_shapes_and_aliasing);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) { return tu_run(act_suite()); }
