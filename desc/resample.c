/*
 * resample.c - the resample descriptors (pixel shuffle / unshuffle, and
 * nearest / bilinear resize): defaults and validation, and the one
 * definition of PyTorch's resize sampling rules (clnn__resize_taps), which
 * the host reference follows and the device ops lay out as tables. Shared
 * by ops/resample.c and host/resample.c.
 */
#include "desc.h"

#include <math.h>
#include <string.h>

/* --------------------------------------------------------- pixel shuffle */

clnn_status clnn__pixel_shuffle_desc_check(clnn_context *ctx, const clnn_pixel_shuffle_desc *d, bool unshuffle,
                                           int64_t y_dims[4]) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  /* Empty tensors (a 0 in any size) are valid, as in torch: nothing to move. */
  CLNN_TRY(clnn__check_dim(ctx, "n", d->n, 0));
  CLNN_TRY(clnn__check_dim(ctx, "c", d->c, 0));
  CLNN_TRY(clnn__check_dim(ctx, "h", d->h, 0));
  CLNN_TRY(clnn__check_dim(ctx, "w", d->w, 0));
  CLNN_TRY(clnn__check_dim(ctx, "r", d->r, 1));
  const int64_t r = d->r, xd[4] = {d->n, d->c, d->h, d->w};
  CLNN_TRY(clnn__check_numel(ctx, "x", 4, xd));
  int64_t yd[4];
  if (!unshuffle) {
    if (d->c % (r * r))
      return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE,
                        "pixel_shuffle needs channels divisible by r*r: c = %lld, r = %lld", (long long)d->c,
                        (long long)r);
    yd[0] = d->n, yd[1] = d->c / (r * r), yd[2] = d->h * r, yd[3] = d->w * r;
  } else {
    if (d->h % r || d->w % r)
      return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE,
                        "pixel_unshuffle needs h and w divisible by r: h = %lld, w = %lld, r = %lld",
                        (long long)d->h, (long long)d->w, (long long)r);
    if (d->c > CLNN_DIM_MAX / (r * r))
      return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "c * r * r is over 2^30");
    yd[0] = d->n, yd[1] = d->c * r * r, yd[2] = d->h / r, yd[3] = d->w / r;
  }
  /* y has x's element count, so it fits when x does. */
  if (y_dims) memcpy(y_dims, yd, sizeof yd);
  return CLNN_SUCCESS;
}

clnn_status clnn_pixel_shuffle_desc_check(const clnn_pixel_shuffle_desc *desc, int64_t y_dims[4]) {
  CLNN_ENTER(NULL);
  return clnn__pixel_shuffle_desc_check(NULL, desc, false, y_dims);
}

clnn_status clnn_pixel_unshuffle_desc_check(const clnn_pixel_shuffle_desc *desc, int64_t y_dims[4]) {
  CLNN_ENTER(NULL);
  return clnn__pixel_shuffle_desc_check(NULL, desc, true, y_dims);
}

/* ---------------------------------------------------------------- resize */

clnn_resize_desc clnn_resize_desc_make(int64_t n, int64_t c, int64_t h, int64_t w, int64_t out_h,
                                       int64_t out_w, clnn_resize_mode mode) {
  clnn_resize_desc d;
  memset(&d, 0, sizeof d);
  d.n = n;
  d.c = c;
  d.h = h;
  d.w = w;
  d.out_h = out_h;
  d.out_w = out_w;
  d.mode = mode;
  return d;
}

static clnn_status check_scale(clnn_context *ctx, const char *name, double s) {
  if (s != s || s - s != 0.0)
    return clnn__fail(ctx, CLNN_ERR_NOT_FINITE, "desc->%s = %g is not finite", name, s);
  if (s < 0.0) return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->%s = %g is negative (0 = none)", name, s);
  return CLNN_SUCCESS;
}

clnn_status clnn__resize_desc_check(clnn_context *ctx, const clnn_resize_desc *d) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  /* A batch of 0 is valid, as in torch (empty in, empty out); torch's
   * interpolate refuses 0 channels ("Non-empty 4D data tensor expected"). */
  CLNN_TRY(clnn__check_dim(ctx, "n", d->n, 0));
  CLNN_TRY(clnn__check_dim(ctx, "c", d->c, 1));
  CLNN_TRY(clnn__check_dim(ctx, "h", d->h, 1));
  CLNN_TRY(clnn__check_dim(ctx, "w", d->w, 1));
  CLNN_TRY(clnn__check_dim(ctx, "out_h", d->out_h, 1));
  CLNN_TRY(clnn__check_dim(ctx, "out_w", d->out_w, 1));
  if (d->mode != CLNN_RESIZE_NEAREST && d->mode != CLNN_RESIZE_BILINEAR)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->mode = %d is not a clnn_resize_mode", (int)d->mode);
  if (d->align_corners != 0 && d->align_corners != 1)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->align_corners = %d is not 0 or 1", d->align_corners);
  if (d->align_corners && d->mode == CLNN_RESIZE_NEAREST)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "align_corners applies to bilinear only (as in torch)");
  CLNN_TRY(check_scale(ctx, "scale_h", d->scale_h));
  CLNN_TRY(check_scale(ctx, "scale_w", d->scale_w));
  const int64_t xd[4] = {d->n, d->c, d->h, d->w}, yd[4] = {d->n, d->c, d->out_h, d->out_w};
  CLNN_TRY(clnn__check_numel(ctx, "x", 4, xd));
  CLNN_TRY(clnn__check_numel(ctx, "y", 4, yd));
  return CLNN_SUCCESS;
}

clnn_status clnn_resize_desc_check(const clnn_resize_desc *desc) {
  CLNN_ENTER(NULL);
  return clnn__resize_desc_check(NULL, desc);
}

/* ------------------------------------------------------- sampling rules */

/*
 * ATen's compute_scales_value<float>: the source step per output step, from
 * a given scale factor (1 / scale, rounded to float) or from the sizes
 * (float division of the sizes).
 */
static float step_from_scale(int64_t in, int64_t out, double scale) {
  if (scale > 0.0) return (float)(1.0 / scale);
  return (float)in / (float)out;
}

/* ATen's nearest_idx: copies when sizes match, halves for exactly 2x (torch
 * applies both even when a scale factor is given), else floor(dst * step)
 * with a float product, clamped to the last input. */
static int32_t nearest_src(int64_t dst, int64_t in, int64_t out, double scale) {
  if (out == in) return (int32_t)dst;
  if (out == 2 * in) return (int32_t)(dst >> 1);
  const float step = step_from_scale(in, out, scale);
  int64_t src = (int64_t)floorf((float)dst * step);
  return (int32_t)(src < in - 1 ? src : in - 1);
}

/* ATen's area_pixel_compute_scale<float> for linear modes. */
static float linear_step(int64_t in, int64_t out, int align_corners, double scale) {
  if (align_corners) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
  return step_from_scale(in, out, scale);
}

/*
 * ATen's compute_source_index_and_lambda (torch 1.13 on CPU): the step is a
 * float, but the source position is computed in double (its accumulate
 * type): step * dst for align_corners = 1, else step * (dst + 0.5) - 0.5
 * clamped at 0. i0 is its integer part, i1 the next index (i0 itself at the
 * last input), l1 = (float)(pos - i0) and l0 = 1 - l1 in float. Checked
 * against torch's weights bit for bit (bench/torch/resample.py --check).
 * i0 and l1 are also clamped to [0, in - 1] and [0, 1], which only matters
 * for a scale that does not fit the sizes (newer torch clamps the same way).
 */
static void linear_src(int64_t dst, int64_t in, int64_t out, int align_corners, float step,
                       int32_t *i0, int32_t *i1, float *l0, float *l1) {
  if (out == in) {
    *i0 = *i1 = (int32_t)dst;
    *l0 = 1.0f;
    *l1 = 0.0f;
    return;
  }
  double pos;
  if (align_corners) {
    pos = (double)step * (double)dst;
  } else {
    pos = (double)step * ((double)dst + 0.5) - 0.5;
    if (pos < 0.0) pos = 0.0;
  }
  int64_t a = (int64_t)pos;
  if (a > in - 1) a = in - 1;
  float frac = (float)(pos - (double)a);
  if (frac < 0.0f) frac = 0.0f;
  if (frac > 1.0f) frac = 1.0f;
  *i0 = (int32_t)a;
  *i1 = (int32_t)(a < in - 1 ? a + 1 : a);
  *l1 = frac;
  *l0 = 1.0f - frac;
}

void clnn__resize_taps(int64_t in, int64_t out, clnn_resize_mode mode, int align_corners, double scale,
                       int32_t *i0, int32_t *i1, float *l0, float *l1) {
  if (mode == CLNN_RESIZE_NEAREST) {
    for (int64_t o = 0; o < out; o++) {
      i0[o] = i1[o] = nearest_src(o, in, out, scale);
      l0[o] = 1.0f;
      l1[o] = 0.0f;
    }
    return;
  }
  const float step = linear_step(in, out, align_corners, scale);
  for (int64_t o = 0; o < out; o++) linear_src(o, in, out, align_corners, step, &i0[o], &i1[o], &l0[o], &l1[o]);
}
