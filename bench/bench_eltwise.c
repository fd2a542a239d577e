/*
 * bench_eltwise.c - clnn-bench families of the element-wise ops:
 *   add n3612672 [alpha=1 beta=1]          y = alpha a + beta b
 *   mul mb8ic144ih56 [iw56] [full]         y = x * s, s (mb, ic, 1, 1) or x's shape
 *   scale n3612672 [alpha=0.5]             y = alpha x
 *   mul_add mb8ic144ih56 [iw56] [beta=1]   y = x * s + beta * t, s and t (mb, ic, 1, 1)
 * Passes: fwd, bwd (mul_add: fwd). Tensors (the .npy names in R mode):
 *   add   fwd: a, b -> y              bwd: dy -> da, db
 *   mul   fwd: x, s -> y              bwd: x, s, dy -> dx, ds
 *   scale fwd: x -> y                 bwd: x, dy -> dx, dalpha (1)
 *   mul_add fwd: x, s, t -> y
 * The word dx_only makes mul's and scale's backward compute dx alone (no ds,
 * no dalpha; the backward that is the forward of dy).
 * dt=f16|bf16: every tensor in that type, ds and dalpha included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct elt_params {
  int64_t n;              /* add, scale: elements */
  int64_t mb, ic, ih, iw; /* mul: x's shape */
  bool full;              /* mul: s has x's shape */
  bool dx_only;           /* mul, scale bwd: no gradient of the factor */
  double alpha, beta;
} elt_params;

/* Product of positive dims, at most 2^31 - 1. */
static bool numel_ok(int ndim, const int64_t *dims, int64_t *out) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (dims[i] < 1 || dims[i] > INT32_MAX / n) return false;
    n *= dims[i];
  }
  *out = n;
  return true;
}

static bool is_bwd(const bench_problem *p) { return !strcmp(p->pass, "bwd"); }

static elt_params *params_new(bench_problem *p) {
  elt_params *e = calloc(1, sizeof *e);
  p->params = e;
  return e;
}

/* n, alpha, beta of add and scale. */
static bool parse_flat(bench_args *a, elt_params *e, double alpha_default, char *err, size_t errlen) {
  bool ok = true;
  e->alpha = alpha_default;
  e->beta = 1.0;
  bench_arg_int(a, "n", &e->n, &ok);
  bench_arg_real(a, "alpha", &e->alpha, &ok);
  bench_arg_real(a, "beta", &e->beta, &ok);
  if (!ok || e->n < 1 || e->n > INT32_MAX) {
    snprintf(err, errlen, "needs n (elements, 1 to 2^31 - 1) and numeric alpha/beta");
    return false;
  }
  return true;
}

/* ------------------------------------------------------------------ add */

static bool add_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  elt_params *e = params_new(p);
  if (!e || !parse_flat(a, e, 1.0, err, errlen)) return false;
  if (is_bwd(p)) {
    bench_add(p, "dy", BENCH_IN, CLNN_FLOAT32, 1, &e->n);
    bench_add(p, "da", BENCH_OUT, CLNN_FLOAT32, 1, &e->n);
    bench_add(p, "db", BENCH_OUT, CLNN_FLOAT32, 1, &e->n);
  } else {
    bench_add(p, "a", BENCH_IN, CLNN_FLOAT32, 1, &e->n);
    bench_add(p, "b", BENCH_IN, CLNN_FLOAT32, 1, &e->n);
    bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 1, &e->n);
  }
  p->bytes = 3.0 * bench_elem_bytes(p) * (double)e->n;
  return true;
}

static clnn_status add_run_device(clnn_context *ctx, bench_problem *p) {
  const elt_params *e = p->params;
  if (is_bwd(p))
    return clnn_eltwise_add_bwd(ctx, (float)e->alpha, (float)e->beta, bench_dev(p, "dy"), bench_dev(p, "da"),
                                bench_dev(p, "db"));
  return clnn_eltwise_add(ctx, (float)e->alpha, bench_dev(p, "a"), (float)e->beta, bench_dev(p, "b"),
                          bench_dev(p, "y"));
}

static clnn_status add_run_ref(bench_problem *p) {
  const elt_params *e = p->params;
  if (is_bwd(p))
    return clnn_ref_eltwise_add_bwd(e->n, (float)e->alpha, (float)e->beta, bench_ref_in(p, "dy"),
                                    bench_ref_out(p, "da"), bench_ref_out(p, "db"));
  return clnn_ref_eltwise_add(e->n, (float)e->alpha, bench_ref_in(p, "a"), (float)e->beta,
                              bench_ref_in(p, "b"), bench_ref_out(p, "y"));
}

/* ------------------------------------------------------------------ mul */

static bool mul_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  elt_params *e = params_new(p);
  if (!e) return false;
  bool ok = true;
  bench_arg_int(a, "mb", &e->mb, &ok);
  bench_arg_int(a, "ic", &e->ic, &ok);
  bench_arg_int(a, "ih", &e->ih, &ok);
  e->iw = e->ih;
  bench_arg_int(a, "iw", &e->iw, &ok);
  e->full = bench_arg_word(a, "full");
  e->dx_only = bench_arg_word(a, "dx_only");
  int64_t xd[4] = {e->mb, e->ic, e->ih, e->iw}, numel;
  if (!ok || !numel_ok(4, xd, &numel)) return bench_args_explain(a, "mul", "mb ic ih", err, errlen);
  int64_t sd[4] = {e->mb, e->ic, e->full ? e->ih : 1, e->full ? e->iw : 1};
  if (is_bwd(p)) {
    bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 4, xd);
    bench_add(p, "s", BENCH_IN, CLNN_FLOAT32, 4, sd);
    bench_add(p, "dy", BENCH_IN, CLNN_FLOAT32, 4, xd);
    bench_add(p, "dx", BENCH_OUT, CLNN_FLOAT32, 4, xd);
    if (!e->dx_only) bench_add(p, "ds", BENCH_OUT, CLNN_FLOAT32, 4, sd);
  } else {
    bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 4, xd);
    bench_add(p, "s", BENCH_IN, CLNN_FLOAT32, 4, sd);
    bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 4, xd);
  }
  double ns = (double)(sd[0] * sd[1] * sd[2] * sd[3]);
  const bool reduces = is_bwd(p) && !e->dx_only;
  p->bytes = bench_elem_bytes(p) * (reduces ? 3.0 * (double)numel + 2.0 * ns : 2.0 * (double)numel + ns);
  return true;
}

static clnn_status mul_run_device(clnn_context *ctx, bench_problem *p) {
  const elt_params *e = p->params;
  if (is_bwd(p))
    return clnn_eltwise_mul_bwd(ctx, bench_dev(p, "x"), bench_dev(p, "s"), bench_dev(p, "dy"), bench_dev(p, "dx"),
                                e->dx_only ? NULL : bench_dev(p, "ds"));
  return clnn_eltwise_mul(ctx, bench_dev(p, "x"), bench_dev(p, "s"), bench_dev(p, "y"));
}

static clnn_status mul_run_ref(bench_problem *p) {
  const bench_tensor *x = bench_find(p, "x"), *s = bench_find(p, "s");
  const int64_t outer = (int64_t)s->numel, inner = (int64_t)(x->numel / s->numel);
  const elt_params *e = p->params;
  if (is_bwd(p))
    return clnn_ref_eltwise_mul_bwd(outer, inner, bench_ref_in(p, "x"), bench_ref_in(p, "s"), bench_ref_in(p, "dy"),
                                    bench_ref_out(p, "dx"), e->dx_only ? NULL : bench_ref_out(p, "ds"));
  return clnn_ref_eltwise_mul(outer, inner, bench_ref_in(p, "x"), bench_ref_in(p, "s"), bench_ref_out(p, "y"));
}

/* ---------------------------------------------------------------- scale */

static bool scale_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  elt_params *e = params_new(p);
  if (!e || !parse_flat(a, e, 0.5, err, errlen)) return false;
  e->dx_only = bench_arg_word(a, "dx_only");
  int64_t one = 1;
  const bool reduces = is_bwd(p) && !e->dx_only;
  if (is_bwd(p)) {
    bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 1, &e->n);
    bench_add(p, "dy", BENCH_IN, CLNN_FLOAT32, 1, &e->n);
    bench_add(p, "dx", BENCH_OUT, CLNN_FLOAT32, 1, &e->n);
    /* a sum of n products: float32 rounding grows with n */
    if (reduces) bench_add(p, "dalpha", BENCH_OUT, CLNN_FLOAT32, 1, &one)->tol = 1e-4;
  } else {
    bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 1, &e->n);
    bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 1, &e->n);
  }
  p->bytes = bench_elem_bytes(p) * (reduces ? 3.0 * (double)e->n + 1.0 : 2.0 * (double)e->n);
  return true;
}

static clnn_status scale_run_device(clnn_context *ctx, bench_problem *p) {
  const elt_params *e = p->params;
  if (is_bwd(p))
    return clnn_eltwise_scale_bwd(ctx, (float)e->alpha, bench_dev(p, "x"), bench_dev(p, "dy"), bench_dev(p, "dx"),
                                  e->dx_only ? NULL : bench_dev(p, "dalpha"));
  return clnn_eltwise_scale(ctx, (float)e->alpha, bench_dev(p, "x"), bench_dev(p, "y"));
}

static clnn_status scale_run_ref(bench_problem *p) {
  const elt_params *e = p->params;
  if (is_bwd(p))
    return clnn_ref_eltwise_scale_bwd(e->n, (float)e->alpha, bench_ref_in(p, "x"), bench_ref_in(p, "dy"),
                                      bench_ref_out(p, "dx"), e->dx_only ? NULL : bench_ref_out(p, "dalpha"));
  return clnn_ref_eltwise_scale(e->n, (float)e->alpha, bench_ref_in(p, "x"), bench_ref_out(p, "y"));
}

/* -------------------------------------------------------------- mul_add */

static bool mul_add_setup(bench_problem *p, bench_args *a, char *err, size_t errlen) {
  elt_params *e = params_new(p);
  if (!e) return false;
  bool ok = true;
  e->beta = 1.0;
  bench_arg_int(a, "mb", &e->mb, &ok);
  bench_arg_int(a, "ic", &e->ic, &ok);
  bench_arg_int(a, "ih", &e->ih, &ok);
  e->iw = e->ih;
  bench_arg_int(a, "iw", &e->iw, &ok);
  bench_arg_real(a, "beta", &e->beta, &ok);
  int64_t xd[4] = {e->mb, e->ic, e->ih, e->iw}, sd[4] = {e->mb, e->ic, 1, 1}, numel;
  if (!ok || !numel_ok(4, xd, &numel)) {
    snprintf(err, errlen, "mul_add needs positive mb, ic, ih (iw = ih by default) and a numeric beta");
    return false;
  }
  bench_add(p, "x", BENCH_IN, CLNN_FLOAT32, 4, xd);
  bench_add(p, "s", BENCH_IN, CLNN_FLOAT32, 4, sd);
  bench_add(p, "t", BENCH_IN, CLNN_FLOAT32, 4, sd);
  bench_add(p, "y", BENCH_OUT, CLNN_FLOAT32, 4, xd);
  p->bytes = bench_elem_bytes(p) * (2.0 * (double)numel + 2.0 * (double)(e->mb * e->ic));
  return true;
}

static clnn_status mul_add_run_device(clnn_context *ctx, bench_problem *p) {
  const elt_params *e = p->params;
  return clnn_eltwise_mul_add(ctx, bench_dev(p, "x"), bench_dev(p, "s"), (float)e->beta, bench_dev(p, "t"),
                              bench_dev(p, "y"));
}

static clnn_status mul_add_run_ref(bench_problem *p) {
  const elt_params *e = p->params;
  const int64_t outer = e->mb * e->ic, inner = e->ih * e->iw;
  return clnn_ref_eltwise_mul_add(outer, inner, bench_ref_in(p, "x"), bench_ref_in(p, "s"), (float)e->beta,
                                  bench_ref_in(p, "t"), bench_ref_out(p, "y"));
}

static const bench_family add_family = {"add", "fwd,bwd", add_setup, NULL, add_run_device, add_run_ref, true};
static const bench_family mul_family = {"mul", "fwd,bwd", mul_setup, NULL, mul_run_device, mul_run_ref, true};
static const bench_family scale_family = {"scale", "fwd,bwd", scale_setup, NULL, scale_run_device,
                                          scale_run_ref, true};

static const bench_family mul_add_family = {"mul_add", "fwd", mul_add_setup, NULL, mul_add_run_device,
                                            mul_add_run_ref, true};

const bench_family *const bench_eltwise_families[] = {&add_family, &mul_family, &scale_family, &mul_add_family,
                                                      NULL};
