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
