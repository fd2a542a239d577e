/*
 * act.c - host reference of the activation functions and the activation
 * layers (plain and gated), in double. The same functions, and the same
 * one-sided choices at the kinks and limits at +-inf, as kernels/common.h
 * (act_f1 / act_grad_f1), computed with libm where the device has its own
 * approximations.
 */
#include <math.h>
#include <stdlib.h>

#include "ref.h"

double clnn__ref_act(double v, clnn_activation act, double alpha) {
  switch (act) {
    case CLNN_ACT_IDENTITY:
      return v;
    case CLNN_ACT_RELU:
      return v < 0 ? 0.0 : v;
    case CLNN_ACT_LEAKY_RELU:
      return v < 0 ? v * alpha : v;
    case CLNN_ACT_ELU:
      return v < 0 ? alpha * expm1(v) : v;
    case CLNN_ACT_SIGMOID:
      return 1.0 / (1.0 + exp(-v));
    case CLNN_ACT_TANH:
      return tanh(v);
    case CLNN_ACT_GELU:
      return 0.5 * v * (1.0 + erf(v * 0.70710678118654752));
    case CLNN_ACT_GELU_TANH:
      return 0.5 * v * (1.0 + tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)));
    case CLNN_ACT_SILU:
      return v / (1.0 + exp(-v));
    case CLNN_ACT_HARDSWISH: {
      double r6 = v + 3.0 < 0 ? 0.0 : (v + 3.0 > 6.0 ? 6.0 : v + 3.0);
      return v * r6 / 6.0;
    }
    case CLNN_ACT_RELU6:
      return v < 0 ? 0.0 : (v > 6.0 ? 6.0 : v);
    default:
      return v;
  }
}

double clnn__ref_act_deriv(double v, clnn_activation act, double alpha) {
  switch (act) {
    case CLNN_ACT_IDENTITY:
      return 1.0;
    case CLNN_ACT_RELU:
      return v <= 0 ? 0.0 : 1.0;
    case CLNN_ACT_LEAKY_RELU:
      return v > 0 ? 1.0 : alpha;
    case CLNN_ACT_ELU:
      return v <= 0 ? alpha * exp(v) : 1.0;
    case CLNN_ACT_SIGMOID: {
      double s = 1.0 / (1.0 + exp(-v));
      return s * (1.0 - s);
    }
    case CLNN_ACT_TANH: { /* 1 - tanh^2 as 4e / (1 + e)^2, e = exp(-2|v|): 1 - t * t cancels */
      const double e = exp(-2.0 * fabs(v)); /* to nothing in double from |v| ~ 10 (half inputs of mean 1e4) */
      return 4.0 * e / ((1.0 + e) * (1.0 + e));
    }
    case CLNN_ACT_GELU: {
      if (isinf(v)) return v > 0 ? 1.0 : 0.0; /* the limits; the formula gives inf * 0 */
      double cdf = 0.5 * (1.0 + erf(v * 0.70710678118654752));
      double pdf = exp(-0.5 * v * v) * 0.39894228040143268;
      return cdf + v * pdf;
    }
    case CLNN_ACT_GELU_TANH: {
      if (isinf(v)) return v > 0 ? 1.0 : 0.0; /* the limits; the formula gives inf * 0 */
      const double k = 0.79788456080286536;
      double t = tanh(k * (v + 0.044715 * v * v * v));
      return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * v * v);
    }
    case CLNN_ACT_SILU: {
      double s = 1.0 / (1.0 + exp(-v));
      return s * (1.0 + v * (1.0 - s));
    }
    case CLNN_ACT_HARDSWISH:
      if (v < -3.0) return 0.0;
      return v <= 3.0 ? v / 3.0 + 0.5 : 1.0;
    case CLNN_ACT_RELU6:
      return v > 0.0 && v < 6.0 ? 1.0 : 0.0;
    default:
      return 1.0;
  }
}

/* ------------------------------------------------------------ act layers */

/* Gated value for the halves a and b (see clnn_act_gate). */
static double glu(const clnn_act_desc *d, double a, double b) {
  return d->gate == CLNN_GATE_FIRST ? clnn__ref_act(a, d->act, d->alpha) * b
                                    : a * clnn__ref_act(b, d->act, d->alpha);
}

clnn_status clnn__ref_act_fwd_f64(const clnn_act_desc *d, const double *x, double *y) {
  CLNN_TRY(clnn_act_desc_check(d, NULL));
  if (d->gate == CLNN_GATE_NONE) {
    int64_t n = d->n * d->c * d->h * d->w;
    for (int64_t i = 0; i < n; i++) y[i] = clnn__ref_act(x[i], d->act, d->alpha);
    return CLNN_SUCCESS;
  }
  const int64_t half = d->c / 2 * d->h * d->w;
  for (int64_t img = 0; img < d->n; img++) {
    const double *a = x + img * 2 * half, *b = a + half;
    for (int64_t i = 0; i < half; i++) y[img * half + i] = glu(d, a[i], b[i]);
  }
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_act_bwd_f64(const clnn_act_desc *d, const double *x, const double *dy, double *dx) {
  CLNN_TRY(clnn_act_desc_check(d, NULL));
  if (d->gate == CLNN_GATE_NONE) {
    int64_t n = d->n * d->c * d->h * d->w;
    for (int64_t i = 0; i < n; i++) dx[i] = dy[i] * clnn__ref_act_deriv(x[i], d->act, d->alpha);
    return CLNN_SUCCESS;
  }
  const int64_t half = d->c / 2 * d->h * d->w;
  for (int64_t img = 0; img < d->n; img++) {
    const double *a = x + img * 2 * half, *b = a + half, *g = dy + img * half;
    double *da = dx + img * 2 * half, *db = da + half;
    for (int64_t i = 0; i < half; i++) {
      if (d->gate == CLNN_GATE_FIRST) {
        da[i] = g[i] * b[i] * clnn__ref_act_deriv(a[i], d->act, d->alpha);
        db[i] = g[i] * clnn__ref_act(a[i], d->act, d->alpha);
      } else {
        da[i] = g[i] * clnn__ref_act(b[i], d->act, d->alpha);
        db[i] = g[i] * a[i] * clnn__ref_act_deriv(b[i], d->act, d->alpha);
      }
    }
  }
  return CLNN_SUCCESS;
}

/* Element counts of x and y, after validating the descriptor. */
static clnn_status act_sizes(const clnn_act_desc *d, size_t *nx, size_t *ny) {
  int64_t yc;
  CLNN_TRY(clnn_act_desc_check(d, &yc));
  *nx = (size_t)(d->n * d->c * d->h * d->w);
  *ny = (size_t)(d->n * yc * d->h * d->w);
  return CLNN_SUCCESS;
}

clnn_status clnn_ref_act_fwd(const clnn_act_desc *desc, const float *x, float *y) {
  size_t nx, ny;
  CLNN_TRY(act_sizes(desc, &nx, &ny));
  clnn__enter(NULL, "clnn_ref_act_fwd");
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, y);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, nx, &ok), *yd = clnn__ref_f64_zeros(ny, &ok);
  clnn_status st = ok ? clnn__ref_act_fwd_f64(desc, xd, yd)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(y, yd, ny);
  free(xd);
  free(yd);
  return st;
}

clnn_status clnn_ref_act_bwd(const clnn_act_desc *desc, const float *x, const float *dy, float *dx) {
  size_t nx, ny;
  CLNN_TRY(act_sizes(desc, &nx, &ny));
  clnn__enter(NULL, "clnn_ref_act_bwd");
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, dy);
  CLNN_CHECK_NULL(NULL, dx);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, nx, &ok), *dyd = clnn__ref_f64_copy(dy, ny, &ok);
  double *dxd = clnn__ref_f64_zeros(nx, &ok);
  clnn_status st = ok ? clnn__ref_act_bwd_f64(desc, xd, dyd, dxd)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(dx, dxd, nx);
  free(xd);
  free(dyd);
  free(dxd);
  return st;
}
