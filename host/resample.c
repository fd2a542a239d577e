/*
 * resample.c - host reference of the resample family (pixel shuffle and
 * unshuffle, nearest and bilinear resize), forward and backward, in double
 * (see ref.h), on PyTorch's sampling rules (clnn__resize_taps,
 * desc/resample.c), which the device ops also build their tables from.
 *
 * The resize backward is written as the scatter that defines it (every
 * output gradient added to the inputs its forward read); the device gathers
 * instead, and tests/test_resample.c checks both against each other and
 * this scatter against finite differences of the forward.
 */
#include <stdlib.h>
#include <string.h>

#include "ref.h"

/* ---------------------------------------------------------- pixel shuffle */

/*
 * Both directions of pixel shuffle are one permutation between the "deep"
 * tensor (n, k*r*r, h, w) and the "wide" tensor (n, k, h*r, w*r):
 * wide[b, q, y*r + i, x*r + j] = deep[b, q*r*r + i*r + j, y, x].
 * to_wide copies deep -> wide (shuffle forward, unshuffle backward), else
 * wide -> deep (unshuffle forward, shuffle backward).
 */
static void shuffle_permute(int64_t n, int64_t k, int64_t h, int64_t w, int64_t r, const double *src,
                            double *dst, bool to_wide) {
  for (int64_t b = 0; b < n; b++)
    for (int64_t q = 0; q < k; q++)
      for (int64_t i = 0; i < r; i++)
        for (int64_t j = 0; j < r; j++)
          for (int64_t y = 0; y < h; y++)
            for (int64_t x = 0; x < w; x++) {
              const int64_t deep = ((b * k * r * r + q * r * r + i * r + j) * h + y) * w + x;
              const int64_t wide = ((b * k + q) * h * r + y * r + i) * w * r + x * r + j;
              if (to_wide) dst[wide] = src[deep];
              else dst[deep] = src[wide];
            }
}

clnn_status clnn__ref_pixel_shuffle_f64(const clnn_pixel_shuffle_desc *d, bool unshuffle, bool backward,
                                        const double *src, double *dst) {
  CLNN_TRY(unshuffle ? clnn_pixel_unshuffle_desc_check(d, NULL) : clnn_pixel_shuffle_desc_check(d, NULL));
  const int64_t r = d->r;
  if (!unshuffle) /* deep is x: (n, c, h, w) */
    shuffle_permute(d->n, d->c / (r * r), d->h, d->w, r, src, dst, !backward);
  else /* wide is x: (n, c, h, w) */
    shuffle_permute(d->n, d->c, d->h / r, d->w / r, r, src, dst, backward);
  return CLNN_SUCCESS;
}

/* Float wrapper shared by the four public pixel shuffle references. */
static clnn_status ref_pixel_shuffle(const char *api, const clnn_pixel_shuffle_desc *d, bool unshuffle,
                                     bool backward, const float *src, float *dst) {
  clnn__enter(NULL, api);
  CLNN_TRY(unshuffle ? clnn_pixel_unshuffle_desc_check(d, NULL) : clnn_pixel_shuffle_desc_check(d, NULL));
  clnn__enter(NULL, api);
  if (!src) return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", backward ? "dy" : "x");
  if (!dst) return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", backward ? "dx" : "y");
  const size_t count = (size_t)(d->n * d->c * d->h * d->w);
  bool ok = true;
  double *s = clnn__ref_f64_copy(src, count, &ok), *t = clnn__ref_f64_zeros(count, &ok);
  clnn_status st = ok ? clnn__ref_pixel_shuffle_f64(d, unshuffle, backward, s, t)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(dst, t, count);
  free(s);
  free(t);
  return st;
}

clnn_status clnn_ref_pixel_shuffle_fwd(const clnn_pixel_shuffle_desc *desc, const float *x, float *y) {
  return ref_pixel_shuffle(__func__, desc, false, false, x, y);
}
clnn_status clnn_ref_pixel_shuffle_bwd(const clnn_pixel_shuffle_desc *desc, const float *dy, float *dx) {
  return ref_pixel_shuffle(__func__, desc, false, true, dy, dx);
}
clnn_status clnn_ref_pixel_unshuffle_fwd(const clnn_pixel_shuffle_desc *desc, const float *x, float *y) {
  return ref_pixel_shuffle(__func__, desc, true, false, x, y);
}
clnn_status clnn_ref_pixel_unshuffle_bwd(const clnn_pixel_shuffle_desc *desc, const float *dy, float *dx) {
  return ref_pixel_shuffle(__func__, desc, true, true, dy, dx);
}

/* ----------------------------------------------------------------- resize */

/* The taps of both dimensions of a descriptor (malloc'd; NULL fields on OOM). */
typedef struct resize_taps {
  int32_t *y0, *y1, *x0, *x1;
  float *ly0, *ly1, *lx0, *lx1;
} resize_taps;

static void taps_free(resize_taps *t) {
  free(t->y0);
  free(t->y1);
  free(t->x0);
  free(t->x1);
  free(t->ly0);
  free(t->ly1);
  free(t->lx0);
  free(t->lx1);
}

static bool taps_make(const clnn_resize_desc *d, resize_taps *t) {
  size_t oh = (size_t)d->out_h, ow = (size_t)d->out_w;
  t->y0 = malloc(oh * sizeof(int32_t));
  t->y1 = malloc(oh * sizeof(int32_t));
  t->ly0 = malloc(oh * sizeof(float));
  t->ly1 = malloc(oh * sizeof(float));
  t->x0 = malloc(ow * sizeof(int32_t));
  t->x1 = malloc(ow * sizeof(int32_t));
  t->lx0 = malloc(ow * sizeof(float));
  t->lx1 = malloc(ow * sizeof(float));
  if (!t->y0 || !t->y1 || !t->ly0 || !t->ly1 || !t->x0 || !t->x1 || !t->lx0 || !t->lx1) {
    taps_free(t);
    return false;
  }
  clnn__resize_taps(d->h, d->out_h, d->mode, d->align_corners, d->scale_h, t->y0, t->y1, t->ly0, t->ly1);
  clnn__resize_taps(d->w, d->out_w, d->mode, d->align_corners, d->scale_w, t->x0, t->x1, t->lx0, t->lx1);
  return true;
}

/*
 * Forward: nearest copies x[y0, x0]; bilinear blends
 * ly0 * (lx0 x[y0,x0] + lx1 x[y0,x1]) + ly1 * (lx0 x[y1,x0] + lx1 x[y1,x1]),
 * every term present even when its weight is 0 (so a NaN or inf that torch
 * would spread through a zero weight spreads here too).
 * Backward (add = true): the transpose, dx[src] += weight * dy[dst].
 */
static void resize_apply(const clnn_resize_desc *d, const resize_taps *t, const double *in, double *out,
                         bool backward) {
  const int64_t H = d->h, W = d->w, OH = d->out_h, OW = d->out_w;
  const bool nearest = d->mode == CLNN_RESIZE_NEAREST;
  for (int64_t p = 0; p < d->n * d->c; p++) {
    const double *src = in + (backward ? p * OH * OW : p * H * W);
    double *dst = out + (backward ? p * H * W : p * OH * OW);
    for (int64_t oy = 0; oy < OH; oy++) {
      for (int64_t ox = 0; ox < OW; ox++) {
        const int64_t a = t->y0[oy] * W, b = t->y1[oy] * W, u = t->x0[ox], v = t->x1[ox];
        if (nearest) {
          if (backward) dst[a + u] += src[oy * OW + ox];
          else dst[oy * OW + ox] = src[a + u];
          continue;
        }
        const double wy0 = t->ly0[oy], wy1 = t->ly1[oy], wx0 = t->lx0[ox], wx1 = t->lx1[ox];
        if (backward) {
          const double g = src[oy * OW + ox];
          dst[a + u] += wy0 * wx0 * g;
          dst[a + v] += wy0 * wx1 * g;
          dst[b + u] += wy1 * wx0 * g;
          dst[b + v] += wy1 * wx1 * g;
        } else {
          dst[oy * OW + ox] = wy0 * (wx0 * src[a + u] + wx1 * src[a + v]) + wy1 * (wx0 * src[b + u] + wx1 * src[b + v]);
        }
      }
    }
  }
}

clnn_status clnn__ref_resize_f64(const clnn_resize_desc *d, bool backward, const double *src, double *dst) {
  CLNN_TRY(clnn_resize_desc_check(d));
  resize_taps t;
  if (!taps_make(d, &t)) return clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (backward) memset(dst, 0, (size_t)(d->n * d->c * d->h * d->w) * sizeof(double));
  resize_apply(d, &t, src, dst, backward);
  taps_free(&t);
  return CLNN_SUCCESS;
}

static clnn_status ref_resize(const char *api, const clnn_resize_desc *d, bool backward, const float *src,
                              float *dst) {
  clnn__enter(NULL, api);
  CLNN_TRY(clnn_resize_desc_check(d));
  clnn__enter(NULL, api);
  if (!src) return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", backward ? "dy" : "x");
  if (!dst) return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", backward ? "dx" : "y");
  const size_t nin = (size_t)(d->n * d->c * d->h * d->w), nout = (size_t)(d->n * d->c * d->out_h * d->out_w);
  const size_t nsrc = backward ? nout : nin, ndst = backward ? nin : nout;
  bool ok = true;
  double *s = clnn__ref_f64_copy(src, nsrc, &ok), *t = clnn__ref_f64_zeros(ndst, &ok);
  clnn_status st = ok ? clnn__ref_resize_f64(d, backward, s, t)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(dst, t, ndst);
  free(s);
  free(t);
  return st;
}

clnn_status clnn_ref_resize_fwd(const clnn_resize_desc *desc, const float *x, float *y) {
  return ref_resize(__func__, desc, false, x, y);
}

clnn_status clnn_ref_resize_bwd(const clnn_resize_desc *desc, const float *dy, float *dx) {
  return ref_resize(__func__, desc, true, dy, dx);
}
