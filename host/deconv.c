/*
 * deconv.c - host reference of the transposed 2-D convolution: the
 * definition as plain loops over double (see ref.h). Every input pixel
 * scatters its weighted kernel into the output; the backward passes visit
 * the same terms with the roles swapped. Written from the definition rather
 * than through the convolution's reference, so the two check each other in
 * the tests (the transposed convolution is the convolution's data gradient).
 */
#include <stdlib.h>

#include "ref.h"

/*
 * Visit every term x[xi] * w[wi] -> y[yi] of the forward sum (n, input
 * channel, input pixel, output channel of the group, tap) whose output pixel
 * lies inside y. Order does not matter: the sums are in double.
 */
#define DECONV_FOR_EACH_TERM(d, oh, ow, BODY)                                                   \
  do {                                                                                          \
    const int64_t cg_ = (d)->c / (d)->groups, kg_ = (d)->k / (d)->groups;                       \
    for (int64_t n = 0; n < (d)->n; n++)                                                        \
      for (int64_t ci = 0; ci < (d)->c; ci++)                                                   \
        for (int64_t iy = 0; iy < (d)->h; iy++)                                                 \
          for (int64_t ix = 0; ix < (d)->w; ix++) {                                             \
            const int64_t xi = ((n * (d)->c + ci) * (d)->h + iy) * (d)->w + ix;                 \
            for (int64_t kl = 0; kl < kg_; kl++) {                                              \
              const int64_t co = (ci / cg_) * kg_ + kl;                                         \
              for (int64_t r = 0; r < (d)->kh; r++) {                                           \
                const int64_t oy = iy * (d)->stride_h - (d)->pad_h + r * (d)->dilation_h;       \
                if (oy < 0 || oy >= (oh)) continue;                                             \
                for (int64_t s = 0; s < (d)->kw; s++) {                                         \
                  const int64_t ox = ix * (d)->stride_w - (d)->pad_w + s * (d)->dilation_w;     \
                  if (ox < 0 || ox >= (ow)) continue;                                           \
                  const int64_t yi = ((n * (d)->k + co) * (oh) + oy) * (ow) + ox;               \
                  const int64_t wi = ((ci * kg_ + kl) * (d)->kh + r) * (d)->kw + s;             \
                  BODY;                                                                         \
                }                                                                               \
              }                                                                                 \
            }                                                                                   \
          }                                                                                     \
  } while (0)

static size_t x_numel(const clnn_conv_transpose2d_desc *d) { return (size_t)(d->n * d->c * d->h * d->w); }
static size_t w_numel(const clnn_conv_transpose2d_desc *d) {
  return (size_t)(d->c * (d->k / d->groups) * d->kh * d->kw);
}
static size_t y_numel(const clnn_conv_transpose2d_desc *d, int64_t oh, int64_t ow) {
  return (size_t)(d->n * d->k * oh * ow);
}

clnn_status clnn__ref_conv_transpose2d_fwd_f64(const clnn_conv_transpose2d_desc *d, const double *x,
                                               const double *w, const double *b, double *y) {
  int64_t oh, ow;
  CLNN_TRY(clnn_conv_transpose2d_desc_check(d, &oh, &ow));
  const size_t ny = y_numel(d, oh, ow), plane = (size_t)(oh * ow);
  for (size_t i = 0; i < ny; i++) y[i] = 0.0;
  DECONV_FOR_EACH_TERM(d, oh, ow, y[yi] += x[xi] * w[wi]);
  for (size_t i = 0; i < ny; i++) {
    const double v = y[i] + (b ? b[(i / plane) % (size_t)d->k] : 0.0);
    y[i] = clnn__ref_act(v, d->act, (double)d->act_alpha);
  }
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_conv_transpose2d_bwd_data_f64(const clnn_conv_transpose2d_desc *d, const double *dy,
                                                    const double *w, double *dx) {
  int64_t oh, ow;
  CLNN_TRY(clnn_conv_transpose2d_desc_check(d, &oh, &ow));
  const size_t nx = x_numel(d);
  for (size_t i = 0; i < nx; i++) dx[i] = 0.0;
  DECONV_FOR_EACH_TERM(d, oh, ow, dx[xi] += dy[yi] * w[wi]);
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_conv_transpose2d_bwd_weights_f64(const clnn_conv_transpose2d_desc *d, const double *x,
                                                       const double *dy, double *dw) {
  int64_t oh, ow;
  CLNN_TRY(clnn_conv_transpose2d_desc_check(d, &oh, &ow));
  const size_t nw = w_numel(d);
  for (size_t i = 0; i < nw; i++) dw[i] = 0.0;
  DECONV_FOR_EACH_TERM(d, oh, ow, dw[wi] += x[xi] * dy[yi]);
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_conv_transpose2d_bwd_bias_f64(const clnn_conv_transpose2d_desc *d, const double *dy,
                                                    double *db) {
  int64_t oh, ow;
  CLNN_TRY(clnn_conv_transpose2d_desc_check(d, &oh, &ow));
  for (int64_t k = 0; k < d->k; k++) db[k] = 0.0;
  for (int64_t n = 0; n < d->n; n++)
    for (int64_t k = 0; k < d->k; k++)
      for (int64_t p = 0; p < oh * ow; p++) db[k] += dy[(n * d->k + k) * oh * ow + p];
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------ float wrappers */

/* Shared front of the float wrappers: validate, record the API name. */
static clnn_status ref_enter(const clnn_conv_transpose2d_desc *desc, const char *api, int accumulate, int64_t *oh,
                             int64_t *ow) {
  CLNN_TRY(clnn_conv_transpose2d_desc_check(desc, oh, ow));
  clnn__enter(NULL, api);
  if (accumulate != 0 && accumulate != 1)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "accumulate = %d must be 0 or 1", accumulate);
  return CLNN_SUCCESS;
}

static clnn_status oom(void) { return clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory"); }

clnn_status clnn_ref_conv_transpose2d_fwd(const clnn_conv_transpose2d_desc *desc, const float *x, const float *w,
                                          const float *b, float *y) {
  CLNN_ENTER(NULL);
  int64_t oh, ow;
  CLNN_TRY(ref_enter(desc, __func__, 0, &oh, &ow));
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, w);
  CLNN_CHECK_NULL(NULL, y);
  const size_t nx = x_numel(desc), nw = w_numel(desc), ny = y_numel(desc, oh, ow);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, nx, &ok), *wd = clnn__ref_f64_copy(w, nw, &ok);
  double *bd = clnn__ref_f64_copy(b, (size_t)desc->k, &ok), *yd = clnn__ref_f64_zeros(ny, &ok);
  clnn_status st = ok ? clnn__ref_conv_transpose2d_fwd_f64(desc, xd, wd, bd, yd) : oom();
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(y, yd, ny);
  free(xd);
  free(wd);
  free(bd);
  free(yd);
  return st;
}

clnn_status clnn_ref_conv_transpose2d_bwd_data(const clnn_conv_transpose2d_desc *desc, const float *dy,
                                               const float *w, float *dx) {
  CLNN_ENTER(NULL);
  int64_t oh, ow;
  CLNN_TRY(ref_enter(desc, __func__, 0, &oh, &ow));
  CLNN_CHECK_NULL(NULL, dy);
  CLNN_CHECK_NULL(NULL, w);
  CLNN_CHECK_NULL(NULL, dx);
  const size_t nx = x_numel(desc), nw = w_numel(desc), ny = y_numel(desc, oh, ow);
  bool ok = true;
  double *dyd = clnn__ref_f64_copy(dy, ny, &ok), *wd = clnn__ref_f64_copy(w, nw, &ok);
  double *dxd = clnn__ref_f64_zeros(nx, &ok);
  clnn_status st = ok ? clnn__ref_conv_transpose2d_bwd_data_f64(desc, dyd, wd, dxd) : oom();
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(dx, dxd, nx);
  free(dyd);
  free(wd);
  free(dxd);
  return st;
}

clnn_status clnn_ref_conv_transpose2d_bwd_weights(const clnn_conv_transpose2d_desc *desc, const float *x,
                                                  const float *dy, float *dw, int accumulate) {
  CLNN_ENTER(NULL);
  int64_t oh, ow;
  CLNN_TRY(ref_enter(desc, __func__, accumulate, &oh, &ow));
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, dy);
  CLNN_CHECK_NULL(NULL, dw);
  const size_t nx = x_numel(desc), nw = w_numel(desc), ny = y_numel(desc, oh, ow);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, nx, &ok), *dyd = clnn__ref_f64_copy(dy, ny, &ok);
  double *dwd = clnn__ref_f64_zeros(nw, &ok);
  clnn_status st = ok ? clnn__ref_conv_transpose2d_bwd_weights_f64(desc, xd, dyd, dwd) : oom();
  if (st == CLNN_SUCCESS) clnn__ref_store_f32(dw, dwd, nw, accumulate);
  free(xd);
  free(dyd);
  free(dwd);
  return st;
}

clnn_status clnn_ref_conv_transpose2d_bwd_bias(const clnn_conv_transpose2d_desc *desc, const float *dy, float *db,
                                               int accumulate) {
  CLNN_ENTER(NULL);
  int64_t oh, ow;
  CLNN_TRY(ref_enter(desc, __func__, accumulate, &oh, &ow));
  CLNN_CHECK_NULL(NULL, dy);
  CLNN_CHECK_NULL(NULL, db);
  const size_t ny = y_numel(desc, oh, ow);
  bool ok = true;
  double *dyd = clnn__ref_f64_copy(dy, ny, &ok), *dbd = clnn__ref_f64_zeros((size_t)desc->k, &ok);
  clnn_status st = ok ? clnn__ref_conv_transpose2d_bwd_bias_f64(desc, dyd, dbd) : oom();
  if (st == CLNN_SUCCESS) clnn__ref_store_f32(db, dbd, (size_t)desc->k, accumulate);
  free(dyd);
  free(dbd);
  return st;
}
