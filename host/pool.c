/*
 * pool.c - host reference of 2-D pooling in double: the definitions as
 * plain loops over each output's window, and the backward written the
 * natural way round (each output scatters its gradient), unlike the
 * device's gather, so the two check each other.
 */
#include <math.h>
#include <stdlib.h>

#include "ref.h"

/* One dimension of output o's window: data [lo, hi), padded area for the divisor. */
static void span_of(int64_t o, int64_t s, int64_t p, int64_t k, int64_t n, int64_t *lo, int64_t *hi,
                    int64_t *area) {
  const int64_t start = o * s - p, end = start + k < n + p ? start + k : n + p;
  *lo = start > 0 ? start : 0;
  *hi = end < n ? end : n;
  *area = end - start;
}

static double divisor_of(const clnn_pool2d_desc *d, int64_t ylo, int64_t yhi, int64_t yarea, int64_t xlo,
                         int64_t xhi, int64_t xarea) {
  if (d->divisor > 0) return (double)d->divisor;
  if (d->mode == CLNN_POOL_AVG) return (double)(yarea * xarea);
  return (double)((yhi - ylo) * (xhi - xlo));
}

clnn_status clnn__ref_pool2d_fwd_f64(const clnn_pool2d_desc *d, const double *x, double *y, int32_t *indices) {
  int64_t oh, ow;
  CLNN_TRY(clnn_pool2d_desc_check(d, &oh, &ow));
  if (indices && d->mode != CLNN_POOL_MAX)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "average pooling writes no 'indices'");
  for (int64_t p = 0; p < d->n * d->c; p++) {
    const double *xp = x + p * d->h * d->w;
    for (int64_t oy = 0; oy < oh; oy++) {
      int64_t ylo, yhi, yarea;
      span_of(oy, d->stride_h, d->pad_h, d->kh, d->h, &ylo, &yhi, &yarea);
      for (int64_t ox = 0; ox < ow; ox++) {
        int64_t xlo, xhi, xarea;
        span_of(ox, d->stride_w, d->pad_w, d->kw, d->w, &xlo, &xhi, &xarea);
        const int64_t o = (p * oh + oy) * ow + ox;
        if (d->mode == CLNN_POOL_MAX) {
          double best = -INFINITY;
          int64_t best_i = ylo * d->w + xlo;
          for (int64_t iy = ylo; iy < yhi; iy++)
            for (int64_t ix = xlo; ix < xhi; ix++) {
              const double v = xp[iy * d->w + ix];
              if (v > best || isnan(v)) best = v, best_i = iy * d->w + ix;
            }
          y[o] = best;
          if (indices) indices[o] = (int32_t)best_i;
        } else {
          double sum = 0.0;
          for (int64_t iy = ylo; iy < yhi; iy++)
            for (int64_t ix = xlo; ix < xhi; ix++) sum += xp[iy * d->w + ix];
          y[o] = sum / divisor_of(d, ylo, yhi, yarea, xlo, xhi, xarea);
        }
      }
    }
  }
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_pool2d_bwd_f64(const clnn_pool2d_desc *d, const double *dy, const int32_t *indices,
                                     double *dx) {
  int64_t oh, ow;
  CLNN_TRY(clnn_pool2d_desc_check(d, &oh, &ow));
  if (d->mode == CLNN_POOL_MAX && !indices)
    return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "argument 'indices' is NULL (max pooling needs them)");
  const int64_t plane = d->h * d->w;
  for (int64_t i = 0; i < d->n * d->c * plane; i++) dx[i] = 0.0;
  for (int64_t p = 0; p < d->n * d->c; p++)
    for (int64_t oy = 0; oy < oh; oy++) {
      int64_t ylo, yhi, yarea;
      span_of(oy, d->stride_h, d->pad_h, d->kh, d->h, &ylo, &yhi, &yarea);
      for (int64_t ox = 0; ox < ow; ox++) {
        int64_t xlo, xhi, xarea;
        span_of(ox, d->stride_w, d->pad_w, d->kw, d->w, &xlo, &xhi, &xarea);
        const int64_t o = (p * oh + oy) * ow + ox;
        if (d->mode == CLNN_POOL_MAX) {
          /* only an index inside the output's own window counts (as the device) */
          const int64_t iy = indices[o] / d->w, ix = indices[o] % d->w;
          if (indices[o] >= 0 && iy >= ylo && iy < yhi && ix >= xlo && ix < xhi) dx[p * plane + indices[o]] += dy[o];
          continue;
        }
        const double g = dy[o] / divisor_of(d, ylo, yhi, yarea, xlo, xhi, xarea);
        for (int64_t iy = ylo; iy < yhi; iy++)
          for (int64_t ix = xlo; ix < xhi; ix++) dx[p * plane + iy * d->w + ix] += g;
      }
    }
  return CLNN_SUCCESS;
}

clnn_status clnn_ref_pool2d_fwd(const clnn_pool2d_desc *desc, const float *x, float *y, int32_t *indices) {
  int64_t oh, ow;
  CLNN_TRY(clnn_pool2d_desc_check(desc, &oh, &ow));
  clnn__enter(NULL, "clnn_ref_pool2d_fwd");
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, y);
  const size_t nx = (size_t)(desc->n * desc->c * desc->h * desc->w), ny = (size_t)(desc->n * desc->c * oh * ow);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, nx, &ok), *yd = clnn__ref_f64_zeros(ny, &ok);
  clnn_status st = ok ? clnn__ref_pool2d_fwd_f64(desc, xd, yd, indices)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(y, yd, ny);
  free(xd);
  free(yd);
  return st;
}

clnn_status clnn_ref_pool2d_bwd(const clnn_pool2d_desc *desc, const float *dy, const int32_t *indices, float *dx) {
  int64_t oh, ow;
  CLNN_TRY(clnn_pool2d_desc_check(desc, &oh, &ow));
  clnn__enter(NULL, "clnn_ref_pool2d_bwd");
  CLNN_CHECK_NULL(NULL, dy);
  CLNN_CHECK_NULL(NULL, dx);
  if (indices && desc->mode != CLNN_POOL_MAX)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "average pooling takes no 'indices'");
  const size_t nx = (size_t)(desc->n * desc->c * desc->h * desc->w), ny = (size_t)(desc->n * desc->c * oh * ow);
  bool ok = true;
  double *dyd = clnn__ref_f64_copy(dy, ny, &ok), *dxd = clnn__ref_f64_zeros(nx, &ok);
  clnn_status st = ok ? clnn__ref_pool2d_bwd_f64(desc, dyd, indices, dxd)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(dx, dxd, nx);
  free(dyd);
  free(dxd);
  return st;
}
