/*
 * linear.c - host reference of the fully connected layer, forward and both
 * backward passes, as plain loops over double (see ref.h).
 */
#include <stdlib.h>

#include "ref.h"

clnn_status clnn__ref_linear_fwd_f64(const clnn_linear_desc *d, const double *x, const double *w,
                                     const double *b, double *y) {
  CLNN_TRY(clnn_linear_desc_check(d));
  const int64_t ni = d->in_features, no = d->out_features;
  for (int64_t i = 0; i < d->n; i++) {
    for (int64_t o = 0; o < no; o++) {
      double acc = b ? b[o] : 0.0;
      for (int64_t k = 0; k < ni; k++) acc += x[i * ni + k] * w[o * ni + k];
      y[i * no + o] = clnn__ref_act(acc, d->act, (double)d->act_alpha);
    }
  }
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_linear_bwd_data_f64(const clnn_linear_desc *d, const double *dy,
                                          const double *w, double *dx) {
  CLNN_TRY(clnn_linear_desc_check(d));
  const int64_t ni = d->in_features, no = d->out_features;
  for (int64_t i = 0; i < d->n; i++) {
    for (int64_t k = 0; k < ni; k++) {
      double acc = 0.0;
      for (int64_t o = 0; o < no; o++) acc += dy[i * no + o] * w[o * ni + k];
      dx[i * ni + k] = acc;
    }
  }
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_linear_bwd_weights_f64(const clnn_linear_desc *d, const double *x,
                                             const double *dy, double *dw, double *db,
                                             int accumulate) {
  CLNN_TRY(clnn_linear_desc_check(d));
  const int64_t ni = d->in_features, no = d->out_features;
  for (int64_t o = 0; o < no; o++) {
    if (dw) {
      for (int64_t k = 0; k < ni; k++) {
        double acc = accumulate ? dw[o * ni + k] : 0.0;
        for (int64_t i = 0; i < d->n; i++) acc += dy[i * no + o] * x[i * ni + k];
        dw[o * ni + k] = acc;
      }
    }
    if (db) {
      double acc = accumulate ? db[o] : 0.0;
      for (int64_t i = 0; i < d->n; i++) acc += dy[i * no + o];
      db[o] = acc;
    }
  }
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------ float wrappers */

static clnn_status out_of_memory(void) {
  return clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
}

clnn_status clnn_ref_linear_fwd(const clnn_linear_desc *desc, const float *x, const float *w,
                                const float *b, float *y) {
  CLNN_TRY(clnn_linear_desc_check(desc));
  clnn__enter(NULL, "clnn_ref_linear_fwd");
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, w);
  CLNN_CHECK_NULL(NULL, y);
  const clnn_linear_desc *d = desc;
  size_t nx = (size_t)(d->n * d->in_features), nw = (size_t)(d->out_features * d->in_features);
  size_t ny = (size_t)(d->n * d->out_features);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, nx, &ok), *wd = clnn__ref_f64_copy(w, nw, &ok);
  double *bd = clnn__ref_f64_copy(b, (size_t)d->out_features, &ok), *yd = clnn__ref_f64_zeros(ny, &ok);
  clnn_status st = ok ? clnn__ref_linear_fwd_f64(d, xd, wd, bd, yd) : out_of_memory();
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(y, yd, ny);
  free(xd);
  free(wd);
  free(bd);
  free(yd);
  return st;
}

clnn_status clnn_ref_linear_bwd_data(const clnn_linear_desc *desc, const float *dy, const float *w,
                                     float *dx) {
  CLNN_TRY(clnn_linear_desc_check(desc));
  clnn__enter(NULL, "clnn_ref_linear_bwd_data");
  CLNN_CHECK_NULL(NULL, dy);
  CLNN_CHECK_NULL(NULL, w);
  CLNN_CHECK_NULL(NULL, dx);
  const clnn_linear_desc *d = desc;
  size_t ndx = (size_t)(d->n * d->in_features), nw = (size_t)(d->out_features * d->in_features);
  size_t ndy = (size_t)(d->n * d->out_features);
  bool ok = true;
  double *dyd = clnn__ref_f64_copy(dy, ndy, &ok), *wd = clnn__ref_f64_copy(w, nw, &ok);
  double *dxd = clnn__ref_f64_zeros(ndx, &ok);
  clnn_status st = ok ? clnn__ref_linear_bwd_data_f64(d, dyd, wd, dxd) : out_of_memory();
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(dx, dxd, ndx);
  free(dyd);
  free(wd);
  free(dxd);
  return st;
}

clnn_status clnn_ref_linear_bwd_weights(const clnn_linear_desc *desc, const float *x,
                                        const float *dy, float *dw, float *db, int accumulate) {
  CLNN_TRY(clnn_linear_desc_check(desc));
  clnn__enter(NULL, "clnn_ref_linear_bwd_weights");
  CLNN_CHECK_NULL(NULL, dy);
  if (!dw && !db) return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "dw and db are both NULL");
  if (dw) CLNN_CHECK_NULL(NULL, x);
  if (accumulate != 0 && accumulate != 1)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "accumulate = %d is not 0 or 1", accumulate);
  const clnn_linear_desc *d = desc;
  size_t nx = (size_t)(d->n * d->in_features), nw = (size_t)(d->out_features * d->in_features);
  size_t ndy = (size_t)(d->n * d->out_features), nb = (size_t)d->out_features;
  bool ok = true;
  double *xd = dw ? clnn__ref_f64_copy(x, nx, &ok) : NULL, *dyd = clnn__ref_f64_copy(dy, ndy, &ok);
  /* accumulate: start from the caller's values */
  double *dwd = dw ? (accumulate ? clnn__ref_f64_copy(dw, nw, &ok) : clnn__ref_f64_zeros(nw, &ok)) : NULL;
  double *dbd = db ? (accumulate ? clnn__ref_f64_copy(db, nb, &ok) : clnn__ref_f64_zeros(nb, &ok)) : NULL;
  clnn_status st = ok ? clnn__ref_linear_bwd_weights_f64(d, xd, dyd, dwd, dbd, accumulate) : out_of_memory();
  if (st == CLNN_SUCCESS) {
    if (dw) clnn__ref_to_f32(dw, dwd, nw);
    if (db) clnn__ref_to_f32(db, dbd, nb);
  }
  free(xd);
  free(dyd);
  free(dwd);
  free(dbd);
  return st;
}
