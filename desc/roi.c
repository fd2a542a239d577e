/*
 * roi.c - the RoI descriptor (RoI align / pool and their position-
 * sensitive forms): defaults, validation, and the check of the RoI rows
 * themselves, shared by ops/roi.c (on the rows it reads back) and
 * host/roi.c.
 */
#include "desc.h"

#include <math.h>
#include <string.h>

/* Scaled RoI coordinates beyond this are rejected: the kernels convert them
 * to int, and float32 has no integer resolution past 2^24 anyway. */
#define COORD_MAX 16777216.0f

static const char *const op_names[CLNN_ROI_OP_COUNT_] = {"roi_align", "roi_pool", "ps_roi_align",
                                                         "ps_roi_pool"};

const char *clnn_roi_op_name(clnn_roi_op op) {
  if ((int)op < 0 || op >= CLNN_ROI_OP_COUNT_) return NULL;
  return op_names[op];
}

clnn_roi_desc clnn_roi_desc_make(clnn_roi_op op, int64_t n, int64_t c, int64_t h, int64_t w,
                                 int64_t num_rois, int64_t pooled_h, int64_t pooled_w,
                                 float spatial_scale) {
  clnn_roi_desc d;
  memset(&d, 0, sizeof d);
  d.op = op;
  d.n = n;
  d.c = c;
  d.h = h;
  d.w = w;
  d.num_rois = num_rois;
  d.pooled_h = pooled_h;
  d.pooled_w = pooled_w;
  d.spatial_scale = spatial_scale;
  d.sampling_ratio = -1;
  d.aligned = 0;
  return d;
}

clnn_status clnn__roi_desc_check(clnn_context *ctx, const clnn_roi_desc *d, int64_t *out_c) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  if ((int)d->op < 0 || d->op >= CLNN_ROI_OP_COUNT_)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->op = %d is not a clnn_roi_op", (int)d->op);
  CLNN_TRY(clnn__check_dim(ctx, "n", d->n, 1));
  CLNN_TRY(clnn__check_dim(ctx, "c", d->c, 1));
  CLNN_TRY(clnn__check_dim(ctx, "h", d->h, 1));
  CLNN_TRY(clnn__check_dim(ctx, "w", d->w, 1));
  /* No RoIs is a valid call (an image without proposals), as in torchvision. */
  CLNN_TRY(clnn__check_dim(ctx, "num_rois", d->num_rois, 0));
  CLNN_TRY(clnn__check_dim(ctx, "pooled_h", d->pooled_h, 1));
  CLNN_TRY(clnn__check_dim(ctx, "pooled_w", d->pooled_w, 1));
  if (!isfinite(d->spatial_scale) || !(d->spatial_scale > 0.0f))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->spatial_scale = %g must be finite and > 0",
                      (double)d->spatial_scale);
  if (d->aligned != 0 && d->aligned != 1)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->aligned = %d must be 0 or 1", d->aligned);
  if (d->sampling_ratio > (1 << 15))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->sampling_ratio = %lld is above 2^15",
                      (long long)d->sampling_ratio);
  int64_t bins;
  if (!clnn__mul_ok(d->pooled_h, d->pooled_w, &bins) || bins > CLNN_INDEX_MAX)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "pooled_h * pooled_w is over 2^31 - 1");
  int64_t oc = d->c;
  if (clnn__roi_is_ps(d)) {
    if (d->c % bins)
      return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE,
                        "%s needs c = %lld divisible by pooled_h * pooled_w = %lld", op_names[d->op],
                        (long long)d->c, (long long)bins);
    oc = d->c / bins;
  }
  CLNN_TRY(clnn__check_numel(ctx, "the input", 4, (int64_t[]){d->n, d->c, d->h, d->w}));
  CLNN_TRY(clnn__check_numel(ctx, "the output", 4, (int64_t[]){d->num_rois, d->c, d->pooled_h, d->pooled_w}));
  if (d->n + 1 + d->num_rois > CLNN_INDEX_MAX) /* the per-image RoI index is indexed with ints */
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "n + num_rois + 1 is over 2^31 - 1");
  if (out_c) *out_c = oc;
  return CLNN_SUCCESS;
}

clnn_status clnn_roi_desc_check(const clnn_roi_desc *desc, int64_t *out_c) {
  CLNN_ENTER(NULL);
  return clnn__roi_desc_check(NULL, desc, out_c);
}

/* Every row: finite, integer batch index in range, x1 <= x2, y1 <= y2, and
 * scaled coordinates within +-2^24. */
clnn_status clnn__roi_rois_check(clnn_context *ctx, const clnn_roi_desc *d, const float *rois) {
  for (int64_t k = 0; k < d->num_rois; k++) {
    const float *r = rois + k * 5;
    for (int i = 0; i < 5; i++)
      if (!isfinite(r[i]))
        return clnn__fail(ctx, CLNN_ERR_NOT_FINITE, "rois[%lld] = [%g, %g, %g, %g, %g] has a NaN or infinite value",
                          (long long)k, (double)r[0], (double)r[1], (double)r[2], (double)r[3], (double)r[4]);
    if (r[0] != floorf(r[0]) || r[0] < 0.0f || (double)r[0] >= (double)d->n)
      return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE,
                        "rois[%lld]: batch index %g is not an integer in [0, %lld)", (long long)k,
                        (double)r[0], (long long)d->n);
    /* x2 < x1 or y2 < y1 is valid, as in torchvision: roi_align clamps the
     * size to 1 (aligned = 0) or keeps it negative (aligned = 1), the pools
     * clamp it, and the geometry of every op follows its torchvision kernel. */
    for (int i = 1; i < 5; i++)
      if (!(fabsf(r[i] * d->spatial_scale) <= COORD_MAX))
        return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE,
                          "rois[%lld]: coordinate %g times spatial_scale is beyond +-2^24", (long long)k,
                          (double)r[i]);
  }
  return CLNN_SUCCESS;
}

clnn_status clnn_roi_rois_check(const clnn_roi_desc *desc, const float *rois) {
  CLNN_ENTER(NULL);
  CLNN_TRY(clnn__roi_desc_check(NULL, desc, NULL));
  if (desc->num_rois == 0) return CLNN_SUCCESS; /* rois may be NULL */
  CLNN_CHECK_NULL(NULL, rois);
  return clnn__roi_rois_check(NULL, desc, rois);
}
