/*
 * roi.c - host reference of the RoI family: RoI align, RoI pool, PS-RoI
 * align and PS-RoI pool, forward and backward (see ref.h).
 *
 * Geometry - box scaling, rounding, bin edges, sample positions and sample
 * counts - is computed in float32 in the operation order of torchvision's
 * CPU kernels: these are discrete choices (which cells, how many samples),
 * and computing them in double would pick different cells than torchvision
 * for some boxes. Feature values, weights and sums are double. The backward
 * functions are the exact adjoints of the forward ones (the gradient of
 * sum(y * dy) w.r.t. x), written as plain scatters.
 */
#include <math.h>
#include <stdlib.h>

#include "ref.h"

/* ------------------------------------------------------------- geometry */

typedef struct align_geom {
  float start_h, start_w, bin_h, bin_w;
  int64_t grid_h, grid_w;
  double count;
} align_geom;

static align_geom align_geometry(const clnn_roi_desc *d, const float *roi) {
  const float offset = (d->op == CLNN_PS_ROI_ALIGN || d->aligned) ? 0.5f : 0.0f;
  const float scale = d->spatial_scale;
  align_geom g;
  g.start_w = roi[1] * scale - offset;
  g.start_h = roi[2] * scale - offset;
  const float end_w = roi[3] * scale - offset, end_h = roi[4] * scale - offset;
  float rw = end_w - g.start_w, rh = end_h - g.start_h;
  if (d->op == CLNN_ROI_ALIGN && !d->aligned) { /* torchvision forces a 1x1 minimum box */
    rw = fmaxf(rw, 1.0f);
    rh = fmaxf(rh, 1.0f);
  }
  g.bin_h = rh / (float)d->pooled_h;
  g.bin_w = rw / (float)d->pooled_w;
  g.grid_h = d->sampling_ratio > 0 ? d->sampling_ratio : (int64_t)ceilf(rh / (float)d->pooled_h);
  g.grid_w = d->sampling_ratio > 0 ? d->sampling_ratio : (int64_t)ceilf(rw / (float)d->pooled_w);
  /* torchvision's ps_roi_align divides by 0 here for a zero-size box with
   * adaptive sampling (NaN); libclnn averages no samples to 0 instead. */
  g.count = fmax((double)g.grid_h * (double)g.grid_w, 1.0);
  return g;
}

/* Sample (iy, ix) of bin (ph, pw). */
static float sample_y(const align_geom *g, int64_t ph, int64_t iy) {
  return g->start_h + (float)ph * g->bin_h + ((float)iy + 0.5f) * g->bin_h / (float)g->grid_h;
}
static float sample_x(const align_geom *g, int64_t pw, int64_t ix) {
  return g->start_w + (float)pw * g->bin_w + ((float)ix + 0.5f) * g->bin_w / (float)g->grid_w;
}

/* The four plane offsets and weights of a bilinear sample; false when the
 * sample lies outside [-1, h] x [-1, w] and contributes nothing. */
static bool bilinear(float y, float x, int64_t h, int64_t w, int64_t off[4], double wt[4]) {
  if (y < -1.0f || y > (float)h || x < -1.0f || x > (float)w) return false;
  if (y <= 0.0f) y = 0.0f;
  if (x <= 0.0f) x = 0.0f;
  int64_t yl = (int64_t)y, xl = (int64_t)x, yh, xh;
  if (yl >= h - 1) {
    yh = yl = h - 1;
    y = (float)yl;
  } else {
    yh = yl + 1;
  }
  if (xl >= w - 1) {
    xh = xl = w - 1;
    x = (float)xl;
  } else {
    xh = xl + 1;
  }
  const double ly = (double)y - (double)yl, lx = (double)x - (double)xl, hy = 1.0 - ly, hx = 1.0 - lx;
  off[0] = yl * w + xl;
  off[1] = yl * w + xh;
  off[2] = yh * w + xl;
  off[3] = yh * w + xh;
  wt[0] = hy * hx;
  wt[1] = hy * lx;
  wt[2] = ly * hx;
  wt[3] = ly * lx;
  return true;
}

/* Rows [h0, h1) and columns [w0, w1) of a pooling bin. */
typedef struct bin_rect {
  int64_t h0, h1, w0, w1;
} bin_rect;

/* RoI pool: box with both end pixels, clipped to the map. PS pool: box
 * without the +1 and, as in torchvision's forward, clipped to h-1 / w-1. */
static bin_rect pool_bin(const clnn_roi_desc *d, const float *roi, int64_t ph, int64_t pw) {
  const bool ps = d->op == CLNN_PS_ROI_POOL;
  const float scale = d->spatial_scale;
  const int64_t sw = (int64_t)roundf(roi[1] * scale), sh = (int64_t)roundf(roi[2] * scale);
  const int64_t ew = (int64_t)roundf(roi[3] * scale), eh = (int64_t)roundf(roi[4] * scale);
  const int64_t plus1 = ps ? 0 : 1;
  const int64_t rw = ew - sw + plus1 > 1 ? ew - sw + plus1 : 1, rh = eh - sh + plus1 > 1 ? eh - sh + plus1 : 1;
  const float bin_h = (float)rh / (float)d->pooled_h, bin_w = (float)rw / (float)d->pooled_w;
  const int64_t lim_h = ps ? d->h - 1 : d->h, lim_w = ps ? d->w - 1 : d->w;
  int64_t v[4] = {(int64_t)floorf((float)ph * bin_h) + sh, (int64_t)ceilf((float)(ph + 1) * bin_h) + sh,
                  (int64_t)floorf((float)pw * bin_w) + sw, (int64_t)ceilf((float)(pw + 1) * bin_w) + sw};
  for (int i = 0; i < 4; i++) {
    const int64_t lim = i < 2 ? lim_h : lim_w;
    v[i] = v[i] < 0 ? 0 : v[i] > lim ? lim : v[i];
  }
  bin_rect r = {v[0], v[1], v[2], v[3]};
  return r;
}

static bool rect_empty(const bin_rect *r) { return r->h1 <= r->h0 || r->w1 <= r->w0; }

/* Input channel read by output channel c of bin (ph, pw). */
static int64_t in_channel(const clnn_roi_desc *d, int64_t c, int64_t ph, int64_t pw) {
  if (d->op == CLNN_ROI_ALIGN || d->op == CLNN_ROI_POOL) return c;
  return (c * d->pooled_h + ph) * d->pooled_w + pw;
}

/* -------------------------------------------------------------- forward */

/* Value of bin (ph, pw) of one input plane; *where gets RoI pool's argmax. */
static double bin_value(const clnn_roi_desc *d, const float *roi, const double *plane, int64_t ph, int64_t pw,
                        int32_t *where) {
  if (d->op == CLNN_ROI_ALIGN || d->op == CLNN_PS_ROI_ALIGN) {
    const align_geom g = align_geometry(d, roi);
    double sum = 0.0;
    for (int64_t iy = 0; iy < g.grid_h; iy++)
      for (int64_t ix = 0; ix < g.grid_w; ix++) {
        int64_t o[4];
        double wt[4];
        if (!bilinear(sample_y(&g, ph, iy), sample_x(&g, pw, ix), d->h, d->w, o, wt)) continue;
        for (int i = 0; i < 4; i++) sum += wt[i] * plane[o[i]];
      }
    return sum / g.count;
  }
  const bin_rect r = pool_bin(d, roi, ph, pw);
  if (d->op == CLNN_PS_ROI_POOL) {
    if (rect_empty(&r)) return 0.0;
    double sum = 0.0;
    for (int64_t y = r.h0; y < r.h1; y++)
      for (int64_t x = r.w0; x < r.w1; x++) sum += plane[y * d->w + x];
    return sum / (double)((r.h1 - r.h0) * (r.w1 - r.w0));
  }
  double best = rect_empty(&r) ? 0.0 : -(double)3.402823466e+38f; /* -FLT_MAX, as torchvision */
  *where = -1;
  for (int64_t y = r.h0; y < r.h1; y++)
    for (int64_t x = r.w0; x < r.w1; x++)
      if (plane[y * d->w + x] > best) {
        best = plane[y * d->w + x];
        *where = (int32_t)(y * d->w + x);
      }
  return best;
}

clnn_status clnn__ref_roi_fwd_f64(const clnn_roi_desc *d, const double *x, const float *rois, double *y,
                                  int32_t *argmax) {
  int64_t oc;
  CLNN_TRY(clnn_roi_desc_check(d, &oc));
  CLNN_TRY(clnn_roi_rois_check(d, rois));
  const int64_t hw = d->h * d->w, bins = d->pooled_h * d->pooled_w;
  for (int64_t k = 0; k < d->num_rois; k++) {
    const float *roi = rois + k * 5;
    const int64_t n = (int64_t)roi[0];
    for (int64_t c = 0; c < oc; c++)
      for (int64_t ph = 0; ph < d->pooled_h; ph++)
        for (int64_t pw = 0; pw < d->pooled_w; pw++) {
          const double *plane = x + (n * d->c + in_channel(d, c, ph, pw)) * hw;
          const int64_t o = (k * oc + c) * bins + ph * d->pooled_w + pw;
          int32_t where = -1;
          y[o] = bin_value(d, roi, plane, ph, pw, &where);
          if (argmax && d->op == CLNN_ROI_POOL) argmax[o] = where;
        }
  }
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------------- backward */

/* Add g times the derivative of bin (ph, pw) w.r.t. its input plane. */
static void bin_scatter(const clnn_roi_desc *d, const float *roi, double *plane, int64_t ph, int64_t pw, double g,
                        int32_t where) {
  if (d->op == CLNN_ROI_ALIGN || d->op == CLNN_PS_ROI_ALIGN) {
    const align_geom g_ = align_geometry(d, roi);
    for (int64_t iy = 0; iy < g_.grid_h; iy++)
      for (int64_t ix = 0; ix < g_.grid_w; ix++) {
        int64_t o[4];
        double wt[4];
        if (!bilinear(sample_y(&g_, ph, iy), sample_x(&g_, pw, ix), d->h, d->w, o, wt)) continue;
        for (int i = 0; i < 4; i++) plane[o[i]] += g * wt[i] / g_.count;
      }
    return;
  }
  if (d->op == CLNN_ROI_POOL) {
    if (where >= 0 && where < d->h * d->w) plane[where] += g;
    return;
  }
  const bin_rect r = pool_bin(d, roi, ph, pw);
  if (rect_empty(&r)) return;
  const double share = g / (double)((r.h1 - r.h0) * (r.w1 - r.w0));
  for (int64_t y = r.h0; y < r.h1; y++)
    for (int64_t x = r.w0; x < r.w1; x++) plane[y * d->w + x] += share;
}

clnn_status clnn__ref_roi_bwd_f64(const clnn_roi_desc *d, const double *dy, const float *rois,
                                  const int32_t *argmax, double *dx) {
  int64_t oc;
  CLNN_TRY(clnn_roi_desc_check(d, &oc));
  CLNN_TRY(clnn_roi_rois_check(d, rois));
  clnn__enter(NULL, "clnn__ref_roi_bwd_f64");
  if (d->op == CLNN_ROI_POOL && !argmax)
    return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "argument 'argmax' is NULL (roi_pool backward needs it)");
  const int64_t hw = d->h * d->w, bins = d->pooled_h * d->pooled_w;
  for (int64_t i = 0; i < d->n * d->c * hw; i++) dx[i] = 0.0;
  for (int64_t k = 0; k < d->num_rois; k++) {
    const float *roi = rois + k * 5;
    const int64_t n = (int64_t)roi[0];
    for (int64_t c = 0; c < oc; c++)
      for (int64_t ph = 0; ph < d->pooled_h; ph++)
        for (int64_t pw = 0; pw < d->pooled_w; pw++) {
          double *plane = dx + (n * d->c + in_channel(d, c, ph, pw)) * hw;
          const int64_t o = (k * oc + c) * bins + ph * d->pooled_w + pw;
          bin_scatter(d, roi, plane, ph, pw, dy[o], argmax ? argmax[o] : -1);
        }
  }
  return CLNN_SUCCESS;
}

/* --------------------------------------------------------------- public */

/* Element counts of x and y (after a successful desc check). */
static void sizes(const clnn_roi_desc *d, size_t *nx, size_t *ny) {
  int64_t oc;
  clnn_roi_desc_check(d, &oc);
  *nx = (size_t)(d->n * d->c * d->h * d->w);
  *ny = (size_t)(d->num_rois * oc * d->pooled_h * d->pooled_w);
}

clnn_status clnn_ref_roi_fwd(const clnn_roi_desc *desc, const float *x, const float *rois, float *y,
                             int32_t *argmax) {
  CLNN_ENTER(NULL);
  CLNN_TRY(clnn_roi_desc_check(desc, NULL));
  clnn__enter(NULL, "clnn_ref_roi_fwd");
  CLNN_CHECK_NULL(NULL, x);
  if (desc->num_rois) { /* with no RoIs, rois and y may be NULL */
    CLNN_CHECK_NULL(NULL, rois);
    CLNN_CHECK_NULL(NULL, y);
  }
  size_t nx, ny;
  sizes(desc, &nx, &ny);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, nx, &ok), *yd = clnn__ref_f64_zeros(ny, &ok);
  clnn_status st = ok ? clnn__ref_roi_fwd_f64(desc, xd, rois, yd, argmax)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(y, yd, ny);
  free(xd);
  free(yd);
  return st;
}

clnn_status clnn_ref_roi_bwd(const clnn_roi_desc *desc, const float *dy, const float *rois,
                             const int32_t *argmax, float *dx) {
  CLNN_ENTER(NULL);
  CLNN_TRY(clnn_roi_desc_check(desc, NULL));
  clnn__enter(NULL, "clnn_ref_roi_bwd");
  if (desc->num_rois) { /* with no RoIs, dy and rois may be NULL */
    CLNN_CHECK_NULL(NULL, dy);
    CLNN_CHECK_NULL(NULL, rois);
  }
  CLNN_CHECK_NULL(NULL, dx);
  size_t nx, ny;
  sizes(desc, &nx, &ny);
  bool ok = true;
  double *dyd = clnn__ref_f64_copy(dy, ny, &ok), *dxd = clnn__ref_f64_zeros(nx, &ok);
  clnn_status st = ok ? clnn__ref_roi_bwd_f64(desc, dyd, rois, argmax, dxd)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(dx, dxd, nx);
  free(dyd);
  free(dxd);
  return st;
}
