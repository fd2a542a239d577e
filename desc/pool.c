/*
 * pool.c - the 2-D pooling descriptor: defaults (windowed and global) and
 * validation with PyTorch's output-size rules, shared by ops/pool.c and
 * host/pool.c.
 */
#include "desc.h"

#include <string.h>

clnn_pool2d_desc clnn_pool2d_desc_make(int64_t n, int64_t c, int64_t h, int64_t w, clnn_pool_mode mode,
                                       int64_t kh, int64_t kw) {
  clnn_pool2d_desc d;
  memset(&d, 0, sizeof d);
  d.n = n;
  d.c = c;
  d.h = h;
  d.w = w;
  d.kh = kh;
  d.kw = kw;
  d.stride_h = kh;
  d.stride_w = kw;
  d.mode = mode;
  return d;
}

clnn_pool2d_desc clnn_pool2d_desc_global(int64_t n, int64_t c, int64_t h, int64_t w) {
  clnn_pool2d_desc d = clnn_pool2d_desc_make(n, c, h, w, CLNN_POOL_AVG, h, w);
  d.stride_h = d.stride_w = 1;
  return d;
}

/* PyTorch's pooling_output_shape (dilation 1); < 1 means no output. */
static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  int64_t num = in + 2 * p - k + (ceil_mode ? s - 1 : 0);
  int64_t out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
  if (ceil_mode && (out - 1) * s >= in + p) out--;
  return out;
}

clnn_status clnn__pool2d_desc_check(clnn_context *ctx, const clnn_pool2d_desc *d, int64_t *oh, int64_t *ow) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  CLNN_TRY(clnn__check_dim(ctx, "n", d->n, 0)); /* a batch of 0: empty outputs, as in torch */
  CLNN_TRY(clnn__check_dim(ctx, "c", d->c, 1)); /* torch pools a batch of 0, not 0 channels */
  CLNN_TRY(clnn__check_dim(ctx, "h", d->h, 1));
  CLNN_TRY(clnn__check_dim(ctx, "w", d->w, 1));
  CLNN_TRY(clnn__check_dim(ctx, "kh", d->kh, 1));
  CLNN_TRY(clnn__check_dim(ctx, "kw", d->kw, 1));
  CLNN_TRY(clnn__check_dim(ctx, "stride_h", d->stride_h, 1));
  CLNN_TRY(clnn__check_dim(ctx, "stride_w", d->stride_w, 1));
  CLNN_TRY(clnn__check_dim(ctx, "pad_h", d->pad_h, 0));
  CLNN_TRY(clnn__check_dim(ctx, "pad_w", d->pad_w, 0));
  if ((int)d->mode < 0 || d->mode >= CLNN_POOL_MODE_COUNT_)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->mode = %d is not a clnn_pool_mode", (int)d->mode);
  if (d->pad_h > d->kh / 2 || d->pad_w > d->kw / 2)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE,
                      "padding (%lld, %lld) is more than half the kernel (%lld, %lld), as PyTorch forbids",
                      (long long)d->pad_h, (long long)d->pad_w, (long long)d->kh, (long long)d->kw);
  if (d->divisor < 0 || d->divisor > CLNN_INDEX_MAX || (d->divisor && d->mode == CLNN_POOL_MAX))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->divisor = %lld is invalid%s", (long long)d->divisor,
                      d->mode == CLNN_POOL_MAX ? " (max pooling has no divisor)" : "");
  const int64_t out_h = out_size(d->h, d->kh, d->stride_h, d->pad_h, d->ceil_mode != 0);
  const int64_t out_w = out_size(d->w, d->kw, d->stride_w, d->pad_w, d->ceil_mode != 0);
  if (out_h < 1 || out_w < 1)
    return clnn__fail(ctx, CLNN_ERR_SHAPE_MISMATCH, "the kernel (%lld x %lld) is larger than the padded input (%lld x %lld)",
                      (long long)d->kh, (long long)d->kw, (long long)(d->h + 2 * d->pad_h),
                      (long long)(d->w + 2 * d->pad_w));
  int64_t dims[4] = {d->n, d->c, d->h, d->w}, numel;
  if (!clnn__numel_ok(4, dims, &numel) || numel > CLNN_INDEX_MAX)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "the input has over 2^31 - 1 elements");
  if (oh) *oh = out_h;
  if (ow) *ow = out_w;
  return CLNN_SUCCESS;
}

clnn_status clnn_pool2d_desc_check(const clnn_pool2d_desc *desc, int64_t *out_h, int64_t *out_w) {
  CLNN_ENTER(NULL);
  return clnn__pool2d_desc_check(NULL, desc, out_h, out_w);
}
