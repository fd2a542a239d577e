/*
 * deform_conv.c - the deformable convolution descriptor (a convolution's,
 * plus offset groups and modulation): defaults and validation, shared by
 * ops/deform_conv.c and host/deform_conv.c.
 */
#include "desc.h"

#include <string.h>

clnn_deform_conv2d_desc clnn_deform_conv2d_desc_make(int64_t n, int64_t c, int64_t h, int64_t w,
                                                     int64_t k, int64_t kh, int64_t kw) {
  clnn_deform_conv2d_desc d;
  memset(&d, 0, sizeof d);
  d.conv = clnn_conv2d_desc_make(n, c, h, w, k, kh, kw);
  d.offset_groups = 1;
  d.modulated = 0;
  return d;
}

clnn_status clnn__deform_conv2d_desc_check(clnn_context *ctx, const clnn_deform_conv2d_desc *d, int64_t *oh,
                                           int64_t *ow) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  int64_t out_h, out_w;
  /* as a convolution's, a batch of 0 included (torchvision: empty y, zero dw and db) */
  CLNN_TRY(clnn__conv2d_desc_check(ctx, &d->conv, &out_h, &out_w)); /* e.g. "desc->stride_h = 0 ..." */
  if (d->offset_groups < 1 || d->offset_groups > d->conv.c || d->conv.c % d->offset_groups)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->offset_groups = %lld does not divide c = %lld",
                      (long long)d->offset_groups, (long long)d->conv.c);
  if (d->modulated != 0 && d->modulated != 1)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->modulated = %d is not 0 or 1", d->modulated);
  /* offset: n * 2*dg*kh*kw * out_h * out_w elements; every factor is <= 2^30. */
  int64_t dims[5] = {d->conv.n, 2 * d->offset_groups, d->conv.kh * d->conv.kw, out_h, out_w}, numel;
  if (!clnn__numel_ok(5, dims, &numel) || numel > CLNN_INDEX_MAX)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "the offset tensor has over 2^31 - 1 elements");
  if (oh) *oh = out_h;
  if (ow) *ow = out_w;
  return CLNN_SUCCESS;
}

clnn_status clnn_deform_conv2d_desc_check(const clnn_deform_conv2d_desc *desc, int64_t *out_h,
                                          int64_t *out_w) {
  CLNN_ENTER(NULL);
  return clnn__deform_conv2d_desc_check(NULL, desc, out_h, out_w);
}
