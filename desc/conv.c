/*
 * conv.c - the 2-D convolution descriptor: defaults, validation and output
 * size, shared by ops/conv*.c, host/conv.c and the families built on
 * convolutions (deconv, deform_conv).
 */
#include "desc.h"

#include <string.h>

clnn_conv2d_desc clnn_conv2d_desc_make(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k,
                                       int64_t kh, int64_t kw) {
  clnn_conv2d_desc d;
  memset(&d, 0, sizeof d);
  d.n = n;
  d.c = c;
  d.h = h;
  d.w = w;
  d.k = k;
  d.kh = kh;
  d.kw = kw;
  d.stride_h = d.stride_w = 1;
  d.dilation_h = d.dilation_w = 1;
  d.groups = 1;
  d.act = CLNN_ACT_IDENTITY;
  return d;
}

/* PyTorch's output length of one dimension (the kernel's dilated extent within the padded input). */
static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t p, int64_t dil) {
  return (in + 2 * p - dil * (k - 1) - 1) / s + 1;
}

void clnn__conv2d_out_size(const clnn_conv2d_desc *d, int64_t *oh, int64_t *ow) {
  *oh = out_len(d->h, d->kh, d->stride_h, d->pad_h, d->dilation_h);
  *ow = out_len(d->w, d->kw, d->stride_w, d->pad_w, d->dilation_w);
}

clnn_status clnn__conv2d_desc_check(clnn_context *ctx, const clnn_conv2d_desc *d, int64_t *oh, int64_t *ow) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  CLNN_TRY(clnn__check_dim(ctx, "n", d->n, 0)); /* a batch of 0: empty outputs, as in torch */
  CLNN_TRY(clnn__check_dim(ctx, "c", d->c, 1));
  CLNN_TRY(clnn__check_dim(ctx, "h", d->h, 1));
  CLNN_TRY(clnn__check_dim(ctx, "w", d->w, 1));
  CLNN_TRY(clnn__check_dim(ctx, "k", d->k, 1));
  CLNN_TRY(clnn__check_dim(ctx, "kh", d->kh, 1));
  CLNN_TRY(clnn__check_dim(ctx, "kw", d->kw, 1));
  CLNN_TRY(clnn__check_dim(ctx, "stride_h", d->stride_h, 1));
  CLNN_TRY(clnn__check_dim(ctx, "stride_w", d->stride_w, 1));
  CLNN_TRY(clnn__check_dim(ctx, "pad_h", d->pad_h, 0));
  CLNN_TRY(clnn__check_dim(ctx, "pad_w", d->pad_w, 0));
  CLNN_TRY(clnn__check_dim(ctx, "dilation_h", d->dilation_h, 1));
  CLNN_TRY(clnn__check_dim(ctx, "dilation_w", d->dilation_w, 1));
  CLNN_TRY(clnn__check_dim(ctx, "groups", d->groups, 1));
  if (d->c % d->groups || d->k % d->groups)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "groups = %lld does not divide c = %lld and k = %lld",
                      (long long)d->groups, (long long)d->c, (long long)d->k);
  if ((int)d->act < 0 || d->act >= CLNN_ACT_COUNT_)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->act = %d is not a clnn_activation", (int)d->act);
  int64_t ext_h = d->dilation_h * (d->kh - 1) + 1, ext_w = d->dilation_w * (d->kw - 1) + 1;
  if (ext_h > d->h + 2 * d->pad_h || ext_w > d->w + 2 * d->pad_w)
    return clnn__fail(ctx, CLNN_ERR_SHAPE_MISMATCH,
                      "the dilated kernel (%lld x %lld) is larger than the padded input (%lld x %lld)",
                      (long long)ext_h, (long long)ext_w, (long long)(d->h + 2 * d->pad_h),
                      (long long)(d->w + 2 * d->pad_w));
  int64_t out_h, out_w;
  clnn__conv2d_out_size(d, &out_h, &out_w);
  CLNN_TRY(clnn__check_numel(ctx, "the input", 4, (int64_t[]){d->n, d->c, d->h, d->w}));
  CLNN_TRY(clnn__check_numel(ctx, "the weight", 4, (int64_t[]){d->k, d->c / d->groups, d->kh, d->kw}));
  CLNN_TRY(clnn__check_numel(ctx, "the output", 4, (int64_t[]){d->n, d->k, out_h, out_w}));
  if (oh) *oh = out_h;
  if (ow) *ow = out_w;
  return CLNN_SUCCESS;
}

clnn_status clnn_conv2d_desc_check(const clnn_conv2d_desc *desc, int64_t *out_h, int64_t *out_w) {
  CLNN_ENTER(NULL);
  return clnn__conv2d_desc_check(NULL, desc, out_h, out_w);
}
