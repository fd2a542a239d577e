/*
 * deform_conv.c - host reference of deformable convolution v1/v2 (forward and
 * backward), plain loops over double (see ref.h), written from the
 * definition in include/clnn.h, which follows torchvision.ops.deform_conv2d:
 *  - bilinear sampling reads zero at points with py <= -1, py >= h, px <= -1
 *    or px >= w, and treats pixels outside the image as zero;
 *  - doffset uses torchvision's coordinate weight (the derivative of the
 *    bilinear form with per-corner validity, one-sided at integers);
 *  - dx is the exact transpose of the sampling (torchvision's col2im).
 * NaN or infinite offsets read zero and get zero gradients.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

/* Everything the loops need, derived once from the descriptor. */
typedef struct dc_geom {
  int64_t n, c, h, w, k, kh, kw, oh, ow;
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t groups, dg, cg, kg, cog, taps, npix;
  bool modulated;
} dc_geom;

static dc_geom geometry(const clnn_deform_conv2d_desc *desc, int64_t oh, int64_t ow) {
  const clnn_conv2d_desc *d = &desc->conv;
  dc_geom g;
  g.n = d->n, g.c = d->c, g.h = d->h, g.w = d->w, g.k = d->k, g.kh = d->kh, g.kw = d->kw;
  g.oh = oh, g.ow = ow;
  g.sh = d->stride_h, g.sw = d->stride_w, g.ph = d->pad_h, g.pw = d->pad_w;
  g.dh = d->dilation_h, g.dw = d->dilation_w;
  g.groups = d->groups, g.dg = desc->offset_groups;
  g.cg = d->c / d->groups, g.kg = d->k / d->groups, g.cog = d->c / desc->offset_groups;
  g.taps = d->kh * d->kw, g.npix = oh * ow;
  g.modulated = desc->modulated != 0;
  return g;
}

/* A sampling point: where tap t of pixel p of image n, offset group og, reads. */
typedef struct dc_point {
  double y, x, m;
} dc_point;

static dc_point point_at(const dc_geom *g, const double *offset, const double *mask, int64_t n,
                         int64_t og, int64_t t, int64_t p) {
  const int64_t oy = p / g->ow, ox = p % g->ow, i = t / g->kw, j = t % g->kw;
  const double *off = offset + ((n * g->dg + og) * 2 * g->taps + 2 * t) * g->npix + p;
  dc_point pt;
  pt.y = (double)(oy * g->sh - g->ph + i * g->dh) + off[0];
  pt.x = (double)(ox * g->sw - g->pw + j * g->dw) + off[g->npix];
  pt.m = g->modulated ? mask[((n * g->dg + og) * g->taps + t) * g->npix + p] : 1.0;
  return pt;
}

/* The sample reads something: inside the open box (-1, h) x (-1, w) (false for NaN). */
static bool reads_image(const dc_geom *g, double y, double x) {
  return y > -1.0 && y < (double)g->h && x > -1.0 && x < (double)g->w;
}

/* Pixel (iy, ix) of plane, or zero outside the image. */
static double pixel(const dc_geom *g, const double *plane, int64_t iy, int64_t ix) {
  if (iy < 0 || iy >= g->h || ix < 0 || ix >= g->w) return 0.0;
  return plane[iy * g->w + ix];
}

static double bilinear(const dc_geom *g, const double *plane, double y, double x) {
  if (!reads_image(g, y, x)) return 0.0;
  const int64_t y0 = (int64_t)floor(y), x0 = (int64_t)floor(x);
  const double ly = y - (double)y0, lx = x - (double)x0;
  return (1 - ly) * (1 - lx) * pixel(g, plane, y0, x0) + (1 - ly) * lx * pixel(g, plane, y0, x0 + 1) +
         ly * (1 - lx) * pixel(g, plane, y0 + 1, x0) + ly * lx * pixel(g, plane, y0 + 1, x0 + 1);
}

/*
 * d bilinear / d y (is_y) or d x at (y, x), torchvision's get_coordinate_weight:
 * the corners floor(.) and floor(.) + 1 each count when inside the image, with
 * no test of the point itself, so it is non-zero on [-1, h) x [-1, w).
 */
static double coord_weight(const dc_geom *g, const double *plane, double y, double x, bool is_y) {
  if (!(y > -2.0 && y < (double)g->h + 1 && x > -2.0 && x < (double)g->w + 1)) return 0.0;
  const int64_t y0 = (int64_t)floor(y), x0 = (int64_t)floor(x);
  const double v00 = pixel(g, plane, y0, x0), v01 = pixel(g, plane, y0, x0 + 1);
  const double v10 = pixel(g, plane, y0 + 1, x0), v11 = pixel(g, plane, y0 + 1, x0 + 1);
  if (is_y) {
    const double lx = x - (double)x0;
    return lx * (v11 - v01) + (1 - lx) * (v10 - v00);
  }
  const double ly = y - (double)y0;
  return ly * (v11 - v10) + (1 - ly) * (v01 - v00);
}

/* col[(c*taps + t) * npix + p] = m * sample, for every channel of image n. */
static void deformable_im2col(const dc_geom *g, const double *x, const double *offset,
                              const double *mask, int64_t n, double *col) {
  for (int64_t c = 0; c < g->c; c++) {
    const double *plane = x + (n * g->c + c) * g->h * g->w;
    const int64_t og = c / g->cog;
    for (int64_t t = 0; t < g->taps; t++)
      for (int64_t p = 0; p < g->npix; p++) {
        const dc_point pt = point_at(g, offset, mask, n, og, t, p);
        /* As torchvision: m * sample, so a NaN mask propagates even where the sample is 0. */
        col[(c * g->taps + t) * g->npix + p] = pt.m * bilinear(g, plane, pt.y, pt.x);
      }
  }
}

static clnn_status check_desc(const clnn_deform_conv2d_desc *desc, int64_t *oh, int64_t *ow) {
  return clnn_deform_conv2d_desc_check(desc, oh, ow);
}

clnn_status clnn__ref_deform_conv2d_fwd_f64(const clnn_deform_conv2d_desc *desc, const double *x,
                                            const double *offset, const double *mask, const double *w,
                                            const double *b, double *y) {
  int64_t oh, ow;
  CLNN_TRY(check_desc(desc, &oh, &ow));
  const dc_geom g = geometry(desc, oh, ow);
  double *col = malloc((size_t)(g.c * g.taps * g.npix) * sizeof *col);
  if (!col) return clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  const int64_t kd = g.cg * g.taps;
  double *acc = malloc((size_t)g.npix * sizeof *acc);
  if (!acc) {
    free(col);
    return clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  }
  for (int64_t n = 0; n < g.n; n++) {
    deformable_im2col(&g, x, offset, mask, n, col);
    for (int64_t k = 0; k < g.k; k++) {
      const int64_t grp = k / g.kg;
      const double *colg = col + grp * kd * g.npix;
      for (int64_t p = 0; p < g.npix; p++) acc[p] = 0.0;
      for (int64_t r = 0; r < kd; r++) {
        const double wv = w[k * kd + r];
        const double *row = colg + r * g.npix;
        for (int64_t p = 0; p < g.npix; p++) acc[p] += wv * row[p];
      }
      for (int64_t p = 0; p < g.npix; p++)
        y[(n * g.k + k) * g.npix + p] =
            clnn__ref_act(acc[p] + (b ? b[k] : 0.0), desc->conv.act, (double)desc->conv.act_alpha);
    }
  }
  free(acc);
  free(col);
  return CLNN_SUCCESS;
}

/* dx of one sample: its gradient g_val spread over the four corners inside the image. */
static void scatter_to_corners(const dc_geom *g, double *dplane, double y, double x, double g_val) {
  if (!reads_image(g, y, x)) return;
  const int64_t y0 = (int64_t)floor(y), x0 = (int64_t)floor(x);
  const double ly = y - (double)y0, lx = x - (double)x0;
  const int64_t ys[2] = {y0, y0 + 1}, xs[2] = {x0, x0 + 1};
  const double wy[2] = {1 - ly, ly}, wx[2] = {1 - lx, lx};
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++)
      if (ys[a] >= 0 && ys[a] < g->h && xs[b] >= 0 && xs[b] < g->w)
        dplane[ys[a] * g->w + xs[b]] += wy[a] * wx[b] * g_val;
}

/* Gradients that go through the sampling (dx, doffset, dmask) of image n from dcol. */
static void sampling_backward(const dc_geom *g, const double *x, const double *offset,
                              const double *mask, int64_t n, const double *dcol, double *dx,
                              double *doffset, double *dmask) {
  for (int64_t c = 0; c < g->c; c++) {
    const double *plane = x + (n * g->c + c) * g->h * g->w;
    const int64_t og = c / g->cog;
    for (int64_t t = 0; t < g->taps; t++)
      for (int64_t p = 0; p < g->npix; p++) {
        const dc_point pt = point_at(g, offset, mask, n, og, t, p);
        const double gc = dcol[(c * g->taps + t) * g->npix + p];
        if (dx) scatter_to_corners(g, dx + (n * g->c + c) * g->h * g->w, pt.y, pt.x, pt.m * gc);
        if (doffset) {
          double *dof = doffset + ((n * g->dg + og) * 2 * g->taps + 2 * t) * g->npix + p;
          dof[0] += pt.m * gc * coord_weight(g, plane, pt.y, pt.x, true);
          dof[g->npix] += pt.m * gc * coord_weight(g, plane, pt.y, pt.x, false);
        }
        if (dmask)
          dmask[((n * g->dg + og) * g->taps + t) * g->npix + p] += gc * bilinear(g, plane, pt.y, pt.x);
      }
  }
}

clnn_status clnn__ref_deform_conv2d_bwd_f64(const clnn_deform_conv2d_desc *desc, const double *x,
                                            const double *offset, const double *mask, const double *w,
                                            const double *dy, double *dx, double *doffset, double *dmask,
                                            double *dw, double *db) {
  int64_t oh, ow;
  CLNN_TRY(check_desc(desc, &oh, &ow));
  const dc_geom g = geometry(desc, oh, ow);
  const int64_t kd = g.cg * g.taps;
  const size_t ncol = (size_t)(g.c * g.taps * g.npix);
  if (dx) memset(dx, 0, (size_t)(g.n * g.c * g.h * g.w) * sizeof *dx);
  if (doffset) memset(doffset, 0, (size_t)(g.n * 2 * g.dg * g.taps * g.npix) * sizeof *doffset);
  if (dmask && g.modulated) memset(dmask, 0, (size_t)(g.n * g.dg * g.taps * g.npix) * sizeof *dmask);
  if (!g.modulated) dmask = NULL;
  if (dw) memset(dw, 0, (size_t)(g.k * kd) * sizeof *dw);
  if (db) memset(db, 0, (size_t)g.k * sizeof *db);
  double *col = malloc(ncol * sizeof *col), *dcol = malloc(ncol * sizeof *dcol);
  if (!col || !dcol) {
    free(col);
    free(dcol);
    return clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  }
  for (int64_t n = 0; n < g.n; n++) {
    const double *dyn = dy + n * g.k * g.npix;
    if (dw) {
      deformable_im2col(&g, x, offset, mask, n, col);
      for (int64_t k = 0; k < g.k; k++) {
        const double *colg = col + (k / g.kg) * kd * g.npix;
        for (int64_t r = 0; r < kd; r++) {
          double s = 0.0;
          for (int64_t p = 0; p < g.npix; p++) s += dyn[k * g.npix + p] * colg[r * g.npix + p];
          dw[k * kd + r] += s;
        }
      }
    }
    if (db)
      for (int64_t k = 0; k < g.k; k++)
        for (int64_t p = 0; p < g.npix; p++) db[k] += dyn[k * g.npix + p];
    if (!dx && !doffset && !dmask) continue;
    /* dcol = W^T dy, per group. */
    memset(dcol, 0, ncol * sizeof *dcol);
    for (int64_t k = 0; k < g.k; k++) {
      double *dcolg = dcol + (k / g.kg) * kd * g.npix;
      for (int64_t r = 0; r < kd; r++) {
        const double wv = w[k * kd + r];
        for (int64_t p = 0; p < g.npix; p++) dcolg[r * g.npix + p] += wv * dyn[k * g.npix + p];
      }
    }
    sampling_backward(&g, x, offset, mask, n, dcol, dx, doffset, dmask);
  }
  free(col);
  free(dcol);
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------------ float API */

typedef struct dc_sizes {
  size_t x, offset, mask, w, y;
} dc_sizes;

static dc_sizes sizes_of(const clnn_deform_conv2d_desc *desc, int64_t oh, int64_t ow) {
  const dc_geom g = geometry(desc, oh, ow);
  dc_sizes s;
  s.x = (size_t)(g.n * g.c * g.h * g.w);
  s.offset = (size_t)(g.n * 2 * g.dg * g.taps * g.npix);
  s.mask = (size_t)(g.n * g.dg * g.taps * g.npix);
  s.w = (size_t)(g.k * g.cg * g.taps);
  s.y = (size_t)(g.n * g.k * g.npix);
  return s;
}

/* Shared checks of the float entry points; leaves messages thread-locally. */
static clnn_status check_ref_args(const clnn_deform_conv2d_desc *desc, const float *x,
                                  const float *offset, const float *mask, const float *w, int64_t *oh,
                                  int64_t *ow) {
  CLNN_TRY(check_desc(desc, oh, ow));
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, offset);
  CLNN_CHECK_NULL(NULL, w);
  if (desc->modulated && !mask)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "desc->modulated is 1 but 'mask' is NULL");
  if (!desc->modulated && mask)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "desc->modulated is 0 but a 'mask' is given");
  return CLNN_SUCCESS;
}

clnn_status clnn_ref_deform_conv2d_fwd(const clnn_deform_conv2d_desc *desc, const float *x,
                                       const float *offset, const float *mask, const float *w,
                                       const float *b, float *y) {
  CLNN_ENTER(NULL);
  int64_t oh, ow;
  CLNN_TRY(check_ref_args(desc, x, offset, mask, w, &oh, &ow));
  clnn__enter(NULL, "clnn_ref_deform_conv2d_fwd");
  CLNN_CHECK_NULL(NULL, y);
  const dc_sizes s = sizes_of(desc, oh, ow);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, s.x, &ok), *od = clnn__ref_f64_copy(offset, s.offset, &ok);
  double *md = clnn__ref_f64_copy(mask, s.mask, &ok), *wd = clnn__ref_f64_copy(w, s.w, &ok);
  double *bd = clnn__ref_f64_copy(b, (size_t)desc->conv.k, &ok), *yd = clnn__ref_f64_zeros(s.y, &ok);
  clnn_status st = ok ? clnn__ref_deform_conv2d_fwd_f64(desc, xd, od, md, wd, bd, yd)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(y, yd, s.y);
  free(xd);
  free(od);
  free(md);
  free(wd);
  free(bd);
  free(yd);
  return st;
}

clnn_status clnn_ref_deform_conv2d_bwd(const clnn_deform_conv2d_desc *desc, const float *x,
                                       const float *offset, const float *mask, const float *w,
                                       const float *dy, float *dx, float *doffset, float *dmask,
                                       float *dw, float *db) {
  CLNN_ENTER(NULL);
  int64_t oh, ow;
  CLNN_TRY(check_ref_args(desc, x, offset, mask, w, &oh, &ow));
  clnn__enter(NULL, "clnn_ref_deform_conv2d_bwd");
  CLNN_CHECK_NULL(NULL, dy);
  if (dmask && !desc->modulated)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "desc->modulated is 0 but 'dmask' is given");
  const dc_sizes s = sizes_of(desc, oh, ow);
  bool ok = true;
  double *xd = clnn__ref_f64_copy(x, s.x, &ok), *od = clnn__ref_f64_copy(offset, s.offset, &ok);
  double *md = clnn__ref_f64_copy(mask, s.mask, &ok), *wd = clnn__ref_f64_copy(w, s.w, &ok);
  double *dyd = clnn__ref_f64_copy(dy, s.y, &ok);
  double *gx = dx ? clnn__ref_f64_zeros(s.x, &ok) : NULL;
  double *goff = doffset ? clnn__ref_f64_zeros(s.offset, &ok) : NULL;
  double *gm = dmask ? clnn__ref_f64_zeros(s.mask, &ok) : NULL;
  double *gw = dw ? clnn__ref_f64_zeros(s.w, &ok) : NULL;
  double *gb = db ? clnn__ref_f64_zeros((size_t)desc->conv.k, &ok) : NULL;
  clnn_status st = ok ? clnn__ref_deform_conv2d_bwd_f64(desc, xd, od, md, wd, dyd, gx, goff, gm, gw, gb)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) {
    if (dx) clnn__ref_to_f32(dx, gx, s.x);
    if (doffset) clnn__ref_to_f32(doffset, goff, s.offset);
    if (dmask) clnn__ref_to_f32(dmask, gm, s.mask);
    if (dw) clnn__ref_to_f32(dw, gw, s.w);
    if (db) clnn__ref_to_f32(db, gb, (size_t)desc->conv.k);
  }
  double *all[] = {xd, od, md, wd, dyd, gx, goff, gm, gw, gb};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
  return st;
}
