/*
 * conv.c - host reference of 2-D convolution: the definition as plain loops
 * over double (see ref.h), same descriptor as the device op.
 */
#include <stdlib.h>

#include "ref.h"

clnn_status clnn__ref_conv2d_fwd_f64(const clnn_conv2d_desc *d, const double *x, const double *w,
                                     const double *b, double *y) {
  int64_t oh, ow;
  CLNN_TRY(clnn_conv2d_desc_check(d, &oh, &ow));
  const int64_t cg = d->c / d->groups, kg = d->k / d->groups;
  for (int64_t n = 0; n < d->n; n++) {
    for (int64_t k = 0; k < d->k; k++) {
      const int64_t g = k / kg;
      for (int64_t oy = 0; oy < oh; oy++) {
        for (int64_t ox = 0; ox < ow; ox++) {
          double acc = 0.0;
          for (int64_t ci = 0; ci < cg; ci++) {
            const int64_t c = g * cg + ci;
            for (int64_t r = 0; r < d->kh; r++) {
              const int64_t iy = oy * d->stride_h - d->pad_h + r * d->dilation_h;
              if (iy < 0 || iy >= d->h) continue;
              for (int64_t s = 0; s < d->kw; s++) {
                const int64_t ix = ox * d->stride_w - d->pad_w + s * d->dilation_w;
                if (ix < 0 || ix >= d->w) continue;
                acc += x[((n * d->c + c) * d->h + iy) * d->w + ix] * w[((k * cg + ci) * d->kh + r) * d->kw + s];
              }
            }
          }
          if (b) acc += b[k];
          y[((n * d->k + k) * oh + oy) * ow + ox] = clnn__ref_act(acc, d->act, (double)d->act_alpha);
        }
      }
    }
  }
  return CLNN_SUCCESS;
}

clnn_status clnn_ref_conv2d_fwd(const clnn_conv2d_desc *desc, const float *x, const float *w,
                                const float *b, float *y) {
  CLNN_ENTER(NULL);
  int64_t oh, ow;
  CLNN_TRY(clnn_conv2d_desc_check(desc, &oh, &ow));
  clnn__enter(NULL, "clnn_ref_conv2d_fwd");
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, w);
  CLNN_CHECK_NULL(NULL, y);
  const clnn_conv2d_desc *d = desc;
  size_t nx = (size_t)(d->n * d->c * d->h * d->w), nw = (size_t)(d->k * (d->c / d->groups) * d->kh * d->kw);
  size_t ny = (size_t)(d->n * d->k * oh * ow);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, nx, &ok), *wd = clnn__ref_f64_copy(w, nw, &ok);
  double *bd = clnn__ref_f64_copy(b, (size_t)d->k, &ok), *yd = clnn__ref_f64_zeros(ny, &ok);
  clnn_status st = ok ? clnn__ref_conv2d_fwd_f64(d, xd, wd, bd, yd)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(y, yd, ny);
  free(xd);
  free(wd);
  free(bd);
  free(yd);
  return st;
}

/* ------------------------------------------------------------- backward */

/*
 * The backward passes are the forward's loops with the roles swapped: every
 * (output pixel, input channel, tap) term dy * w or dy * x of the forward
 * sum lands on the element it came from. Order does not matter here: the
 * sums are in double, far more precise than the float device results.
 */

/* Visit every term of the forward sum: fn(x index, w index, y index). */
#define CONV_FOR_EACH_TERM(d, oh, ow, BODY)                                                     \
  do {                                                                                          \
    const int64_t cg_ = (d)->c / (d)->groups, kg_ = (d)->k / (d)->groups;                       \
    for (int64_t n = 0; n < (d)->n; n++)                                                        \
      for (int64_t k = 0; k < (d)->k; k++)                                                      \
        for (int64_t oy = 0; oy < (oh); oy++)                                                   \
          for (int64_t ox = 0; ox < (ow); ox++) {                                               \
            const int64_t yi = ((n * (d)->k + k) * (oh) + oy) * (ow) + ox;                      \
            for (int64_t ci = 0; ci < cg_; ci++) {                                              \
              const int64_t c = (k / kg_) * cg_ + ci;                                           \
              for (int64_t r = 0; r < (d)->kh; r++) {                                           \
                const int64_t iy = oy * (d)->stride_h - (d)->pad_h + r * (d)->dilation_h;       \
                if (iy < 0 || iy >= (d)->h) continue;                                           \
                for (int64_t s = 0; s < (d)->kw; s++) {                                         \
                  const int64_t ix = ox * (d)->stride_w - (d)->pad_w + s * (d)->dilation_w;     \
                  if (ix < 0 || ix >= (d)->w) continue;                                         \
                  const int64_t xi = ((n * (d)->c + c) * (d)->h + iy) * (d)->w + ix;            \
                  const int64_t wi = ((k * cg_ + ci) * (d)->kh + r) * (d)->kw + s;              \
                  BODY;                                                                         \
                }                                                                               \
              }                                                                                 \
            }                                                                                   \
          }                                                                                     \
  } while (0)

clnn_status clnn__ref_conv2d_bwd_data_f64(const clnn_conv2d_desc *d, const double *dy, const double *w,
                                          double *dx) {
  int64_t oh, ow;
  CLNN_TRY(clnn_conv2d_desc_check(d, &oh, &ow));
  const size_t nx = (size_t)(d->n * d->c * d->h * d->w);
  for (size_t i = 0; i < nx; i++) dx[i] = 0.0;
  CONV_FOR_EACH_TERM(d, oh, ow, dx[xi] += dy[yi] * w[wi]);
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_conv2d_bwd_weights_f64(const clnn_conv2d_desc *d, const double *x, const double *dy,
                                             double *dw) {
  int64_t oh, ow;
  CLNN_TRY(clnn_conv2d_desc_check(d, &oh, &ow));
  const size_t nw = (size_t)(d->k * (d->c / d->groups) * d->kh * d->kw);
  for (size_t i = 0; i < nw; i++) dw[i] = 0.0;
  CONV_FOR_EACH_TERM(d, oh, ow, dw[wi] += dy[yi] * x[xi]);
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_conv2d_bwd_bias_f64(const clnn_conv2d_desc *d, const double *dy, double *db) {
  int64_t oh, ow;
  CLNN_TRY(clnn_conv2d_desc_check(d, &oh, &ow));
  for (int64_t k = 0; k < d->k; k++) db[k] = 0.0;
  for (int64_t n = 0; n < d->n; n++)
    for (int64_t k = 0; k < d->k; k++)
      for (int64_t p = 0; p < oh * ow; p++) db[k] += dy[(n * d->k + k) * oh * ow + p];
  return CLNN_SUCCESS;
}

/* Shared front of the float wrappers: validate, record the API name. */
static clnn_status ref_enter(const clnn_conv2d_desc *desc, const char *api, int accumulate, int64_t *oh,
                             int64_t *ow) {
  CLNN_TRY(clnn_conv2d_desc_check(desc, oh, ow));
  clnn__enter(NULL, api);
  if (accumulate != 0 && accumulate != 1)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "accumulate = %d must be 0 or 1", accumulate);
  return CLNN_SUCCESS;
}

clnn_status clnn_ref_conv2d_bwd_data(const clnn_conv2d_desc *desc, const float *dy, const float *w, float *dx) {
  CLNN_ENTER(NULL);
  int64_t oh, ow;
  CLNN_TRY(ref_enter(desc, __func__, 0, &oh, &ow));
  CLNN_CHECK_NULL(NULL, dy);
  CLNN_CHECK_NULL(NULL, w);
  CLNN_CHECK_NULL(NULL, dx);
  const clnn_conv2d_desc *d = desc;
  size_t nx = (size_t)(d->n * d->c * d->h * d->w), nw = (size_t)(d->k * (d->c / d->groups) * d->kh * d->kw);
  size_t ny = (size_t)(d->n * d->k * oh * ow);
  bool ok = true;
  double *dyd = clnn__ref_f64_copy(dy, ny, &ok), *wd = clnn__ref_f64_copy(w, nw, &ok);
  double *dxd = clnn__ref_f64_zeros(nx, &ok);
  clnn_status st = ok ? clnn__ref_conv2d_bwd_data_f64(d, dyd, wd, dxd)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(dx, dxd, nx);
  free(dyd);
  free(wd);
  free(dxd);
  return st;
}

clnn_status clnn_ref_conv2d_bwd_weights(const clnn_conv2d_desc *desc, const float *x, const float *dy, float *dw,
                                        int accumulate) {
  CLNN_ENTER(NULL);
  int64_t oh, ow;
  CLNN_TRY(ref_enter(desc, __func__, accumulate, &oh, &ow));
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, dy);
  CLNN_CHECK_NULL(NULL, dw);
  const clnn_conv2d_desc *d = desc;
  size_t nx = (size_t)(d->n * d->c * d->h * d->w), nw = (size_t)(d->k * (d->c / d->groups) * d->kh * d->kw);
  size_t ny = (size_t)(d->n * d->k * oh * ow);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, nx, &ok), *dyd = clnn__ref_f64_copy(dy, ny, &ok);
  double *dwd = clnn__ref_f64_zeros(nw, &ok);
  clnn_status st = ok ? clnn__ref_conv2d_bwd_weights_f64(d, xd, dyd, dwd)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_store_f32(dw, dwd, nw, accumulate);
  free(xd);
  free(dyd);
  free(dwd);
  return st;
}

clnn_status clnn_ref_conv2d_bwd_bias(const clnn_conv2d_desc *desc, const float *dy, float *db, int accumulate) {
  CLNN_ENTER(NULL);
  int64_t oh, ow;
  CLNN_TRY(ref_enter(desc, __func__, accumulate, &oh, &ow));
  CLNN_CHECK_NULL(NULL, dy);
  CLNN_CHECK_NULL(NULL, db);
  const clnn_conv2d_desc *d = desc;
  size_t ny = (size_t)(d->n * d->k * oh * ow);
  bool ok = true;
  double *dyd = clnn__ref_f64_copy(dy, ny, &ok), *dbd = clnn__ref_f64_zeros((size_t)d->k, &ok);
  clnn_status st = ok ? clnn__ref_conv2d_bwd_bias_f64(d, dyd, dbd)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_store_f32(db, dbd, (size_t)d->k, accumulate);
  free(dyd);
  free(dbd);
  return st;
}
