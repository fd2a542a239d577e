/*
 * eltwise.c - host reference of the element-wise ops (add, broadcast
 * multiply, scale) and their backward passes, over double (see ref.h).
 */
#include <math.h>
#include <stdlib.h>

#include "ref.h"

void clnn__ref_eltwise_add_f64(int64_t n, double alpha, const double *a, double beta,
                               const double *b, double *y) {
  for (int64_t i = 0; i < n; i++) y[i] = alpha * a[i] + beta * b[i];
}

void clnn__ref_eltwise_add_bwd_f64(int64_t n, double alpha, double beta, const double *dy,
                                   double *da, double *db) {
  for (int64_t i = 0; i < n; i++) {
    if (da) da[i] = alpha * dy[i];
    if (db) db[i] = beta * dy[i];
  }
}

void clnn__ref_eltwise_mul_f64(int64_t outer, int64_t inner, const double *x, const double *s,
                               double *y) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) y[o * inner + i] = x[o * inner + i] * s[o];
}

void clnn__ref_eltwise_mul_bwd_f64(int64_t outer, int64_t inner, const double *x, const double *s,
                                   const double *dy, double *dx, double *ds) {
  for (int64_t o = 0; o < outer; o++) {
    double acc = 0.0;
    for (int64_t i = 0; i < inner; i++) {
      if (dx) dx[o * inner + i] = dy[o * inner + i] * s[o];
      if (ds) acc += dy[o * inner + i] * x[o * inner + i];
    }
    if (ds) ds[o] = acc;
  }
}

void clnn__ref_eltwise_mul_add_f64(int64_t outer, int64_t inner, const double *x, const double *s, double beta,
                                   const double *t, double *y) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) y[o * inner + i] = x[o * inner + i] * s[o] + beta * t[o];
}

void clnn__ref_eltwise_scale_f64(int64_t n, double alpha, const double *x, double *y) {
  for (int64_t i = 0; i < n; i++) y[i] = alpha * x[i];
}

void clnn__ref_eltwise_scale_bwd_f64(int64_t n, double alpha, const double *x, const double *dy,
                                     double *dx, double *dalpha) {
  double acc = 0.0;
  for (int64_t i = 0; i < n; i++) {
    if (dx) dx[i] = alpha * dy[i];
    if (dalpha) acc += dy[i] * x[i];
  }
  if (dalpha) *dalpha = acc;
}

/* ------------------------------------------------------ float wrappers */

/* Sizes the float wrappers accept: positive and countable in size_t. */
static clnn_status check_count(const char *name, int64_t n) {
  if (n < 1 || n > CLNN_INDEX_MAX)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "%s = %lld is outside [1, 2^31 - 1]", name,
                      (long long)n);
  return CLNN_SUCCESS;
}

static clnn_status check_finite(const char *name, float v) {
  if (!isfinite(v)) return clnn__fail(NULL, CLNN_ERR_NOT_FINITE, "%s is not finite", name);
  return CLNN_SUCCESS;
}

static clnn_status out_of_memory(void) {
  return clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
}

clnn_status clnn_ref_eltwise_add(int64_t n, float alpha, const float *a, float beta, const float *b,
                                 float *y) {
  CLNN_ENTER(NULL);
  CLNN_TRY(check_count("n", n));
  CLNN_TRY(check_finite("alpha", alpha));
  CLNN_TRY(check_finite("beta", beta));
  CLNN_CHECK_NULL(NULL, a);
  CLNN_CHECK_NULL(NULL, b);
  CLNN_CHECK_NULL(NULL, y);
  bool ok = true;
  double *ad = clnn__ref_f64_copy(a, (size_t)n, &ok), *bd = clnn__ref_f64_copy(b, (size_t)n, &ok);
  double *yd = clnn__ref_f64_zeros((size_t)n, &ok);
  if (ok) {
    clnn__ref_eltwise_add_f64(n, alpha, ad, beta, bd, yd);
    clnn__ref_to_f32(y, yd, (size_t)n);
  }
  free(ad);
  free(bd);
  free(yd);
  return ok ? CLNN_SUCCESS : out_of_memory();
}

clnn_status clnn_ref_eltwise_add_bwd(int64_t n, float alpha, float beta, const float *dy, float *da,
                                     float *db) {
  CLNN_ENTER(NULL);
  CLNN_TRY(check_count("n", n));
  CLNN_TRY(check_finite("alpha", alpha));
  CLNN_TRY(check_finite("beta", beta));
  CLNN_CHECK_NULL(NULL, dy);
  if (!da && !db) return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "da and db are both NULL");
  bool ok = true;
  double *dyd = clnn__ref_f64_copy(dy, (size_t)n, &ok);
  double *dad = da ? clnn__ref_f64_zeros((size_t)n, &ok) : NULL;
  double *dbd = db ? clnn__ref_f64_zeros((size_t)n, &ok) : NULL;
  if (ok) {
    clnn__ref_eltwise_add_bwd_f64(n, alpha, beta, dyd, dad, dbd);
    if (da) clnn__ref_to_f32(da, dad, (size_t)n);
    if (db) clnn__ref_to_f32(db, dbd, (size_t)n);
  }
  free(dyd);
  free(dad);
  free(dbd);
  return ok ? CLNN_SUCCESS : out_of_memory();
}

/* outer * inner must stay countable too. */
static clnn_status check_outer_inner(int64_t outer, int64_t inner) {
  CLNN_TRY(check_count("outer", outer));
  CLNN_TRY(check_count("inner", inner));
  if (outer > CLNN_INDEX_MAX / inner)
    return clnn__fail(NULL, CLNN_ERR_SIZE_OVERFLOW, "outer * inner is over 2^31 - 1 elements");
  return CLNN_SUCCESS;
}

clnn_status clnn_ref_eltwise_mul(int64_t outer, int64_t inner, const float *x, const float *s,
                                 float *y) {
  CLNN_ENTER(NULL);
  CLNN_TRY(check_outer_inner(outer, inner));
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, s);
  CLNN_CHECK_NULL(NULL, y);
  size_t n = (size_t)(outer * inner);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, n, &ok), *sd = clnn__ref_f64_copy(s, (size_t)outer, &ok);
  double *yd = clnn__ref_f64_zeros(n, &ok);
  if (ok) {
    clnn__ref_eltwise_mul_f64(outer, inner, xd, sd, yd);
    clnn__ref_to_f32(y, yd, n);
  }
  free(xd);
  free(sd);
  free(yd);
  return ok ? CLNN_SUCCESS : out_of_memory();
}

clnn_status clnn_ref_eltwise_mul_add(int64_t outer, int64_t inner, const float *x, const float *s, float beta,
                                     const float *t, float *y) {
  CLNN_ENTER(NULL);
  CLNN_TRY(check_outer_inner(outer, inner));
  CLNN_TRY(check_finite("beta", beta));
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, s);
  CLNN_CHECK_NULL(NULL, t);
  CLNN_CHECK_NULL(NULL, y);
  size_t n = (size_t)(outer * inner);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, n, &ok), *sd = clnn__ref_f64_copy(s, (size_t)outer, &ok);
  double *td = clnn__ref_f64_copy(t, (size_t)outer, &ok), *yd = clnn__ref_f64_zeros(n, &ok);
  if (ok) {
    clnn__ref_eltwise_mul_add_f64(outer, inner, xd, sd, beta, td, yd);
    clnn__ref_to_f32(y, yd, n);
  }
  free(xd);
  free(sd);
  free(td);
  free(yd);
  return ok ? CLNN_SUCCESS : out_of_memory();
}

clnn_status clnn_ref_eltwise_mul_bwd(int64_t outer, int64_t inner, const float *x, const float *s,
                                     const float *dy, float *dx, float *ds) {
  CLNN_ENTER(NULL);
  CLNN_TRY(check_outer_inner(outer, inner));
  CLNN_CHECK_NULL(NULL, s);
  CLNN_CHECK_NULL(NULL, dy);
  if (!dx && !ds) return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "dx and ds are both NULL");
  if (ds) CLNN_CHECK_NULL(NULL, x);
  size_t n = (size_t)(outer * inner);
  bool ok = true;
  double *xd = ds ? clnn__ref_f64_copy(x, n, &ok) : NULL, *sd = clnn__ref_f64_copy(s, (size_t)outer, &ok);
  double *dyd = clnn__ref_f64_copy(dy, n, &ok);
  double *dxd = dx ? clnn__ref_f64_zeros(n, &ok) : NULL;
  double *dsd = ds ? clnn__ref_f64_zeros((size_t)outer, &ok) : NULL;
  if (ok) {
    clnn__ref_eltwise_mul_bwd_f64(outer, inner, xd, sd, dyd, dxd, dsd);
    if (dx) clnn__ref_to_f32(dx, dxd, n);
    if (ds) clnn__ref_to_f32(ds, dsd, (size_t)outer);
  }
  free(xd);
  free(sd);
  free(dyd);
  free(dxd);
  free(dsd);
  return ok ? CLNN_SUCCESS : out_of_memory();
}

clnn_status clnn_ref_eltwise_scale(int64_t n, float alpha, const float *x, float *y) {
  CLNN_ENTER(NULL);
  CLNN_TRY(check_count("n", n));
  CLNN_TRY(check_finite("alpha", alpha));
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, y);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, (size_t)n, &ok), *yd = clnn__ref_f64_zeros((size_t)n, &ok);
  if (ok) {
    clnn__ref_eltwise_scale_f64(n, alpha, xd, yd);
    clnn__ref_to_f32(y, yd, (size_t)n);
  }
  free(xd);
  free(yd);
  return ok ? CLNN_SUCCESS : out_of_memory();
}

clnn_status clnn_ref_eltwise_scale_bwd(int64_t n, float alpha, const float *x, const float *dy,
                                       float *dx, float *dalpha) {
  CLNN_ENTER(NULL);
  CLNN_TRY(check_count("n", n));
  CLNN_TRY(check_finite("alpha", alpha));
  CLNN_CHECK_NULL(NULL, dy);
  if (!dx && !dalpha) return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "dx and dalpha are both NULL");
  if (dalpha) CLNN_CHECK_NULL(NULL, x);
  bool ok = true;
  double *xd = dalpha ? clnn__ref_f64_copy(x, (size_t)n, &ok) : NULL;
  double *dyd = clnn__ref_f64_copy(dy, (size_t)n, &ok);
  double *dxd = dx ? clnn__ref_f64_zeros((size_t)n, &ok) : NULL;
  double da = 0.0;
  if (ok) {
    clnn__ref_eltwise_scale_bwd_f64(n, alpha, xd, dyd, dxd, dalpha ? &da : NULL);
    if (dx) clnn__ref_to_f32(dx, dxd, (size_t)n);
    if (dalpha) *dalpha = (float)da;
  }
  free(xd);
  free(dyd);
  free(dxd);
  return ok ? CLNN_SUCCESS : out_of_memory();
}
