/*
 * deconv.c - the transposed 2-D convolution descriptor: defaults,
 * validation with PyTorch's output-size rules, and the transposed
 * convolution whose forward is a convolution's data gradient. Shared by
 * ops/deconv.c and host/deconv.c.
 */
#include "desc.h"

#include <string.h>

clnn_conv_transpose2d_desc clnn_conv_transpose2d_desc_make(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k,
                                                           int64_t kh, int64_t kw) {
  clnn_conv_transpose2d_desc d;
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

/* PyTorch's rule: output padding below the stride or below the dilation. */
static clnn_status check_output_pad(clnn_context *ctx, const char *name, int64_t op, int64_t s, int64_t dil) {
  if (op >= s && op >= dil)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE,
                      "desc->%s = %lld must be smaller than the stride (%lld) or the dilation (%lld)", name,
                      (long long)op, (long long)s, (long long)dil);
  return CLNN_SUCCESS;
}

/* Output length of one dimension (may be below 1: the caller rejects it). */
static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t p, int64_t op, int64_t dil) {
  return (in - 1) * s - 2 * p + dil * (k - 1) + op + 1;
}

clnn_status clnn__conv_transpose2d_desc_check(clnn_context *ctx, const clnn_conv_transpose2d_desc *d, int64_t *oh, int64_t *ow) {
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
  CLNN_TRY(clnn__check_dim(ctx, "output_pad_h", d->output_pad_h, 0));
  CLNN_TRY(clnn__check_dim(ctx, "output_pad_w", d->output_pad_w, 0));
  CLNN_TRY(clnn__check_dim(ctx, "dilation_h", d->dilation_h, 1));
  CLNN_TRY(clnn__check_dim(ctx, "dilation_w", d->dilation_w, 1));
  CLNN_TRY(clnn__check_dim(ctx, "groups", d->groups, 1));
  CLNN_TRY(check_output_pad(ctx, "output_pad_h", d->output_pad_h, d->stride_h, d->dilation_h));
  CLNN_TRY(check_output_pad(ctx, "output_pad_w", d->output_pad_w, d->stride_w, d->dilation_w));
  if (d->c % d->groups || d->k % d->groups)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "groups = %lld does not divide c = %lld and k = %lld",
                      (long long)d->groups, (long long)d->c, (long long)d->k);
  if ((int)d->act < 0 || d->act >= CLNN_ACT_COUNT_)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->act = %d is not a clnn_activation", (int)d->act);
  int64_t out_h = out_len(d->h, d->kh, d->stride_h, d->pad_h, d->output_pad_h, d->dilation_h);
  int64_t out_w = out_len(d->w, d->kw, d->stride_w, d->pad_w, d->output_pad_w, d->dilation_w);
  if (out_h < 1 || out_w < 1)
    return clnn__fail(ctx, CLNN_ERR_SHAPE_MISMATCH,
                      "the output would be %lld x %lld: the padding (%lld, %lld) removes more than the input and "
                      "the dilated kernel cover",
                      (long long)out_h, (long long)out_w, (long long)d->pad_h, (long long)d->pad_w);
  CLNN_TRY(clnn__check_numel(ctx, "the input", 4, (int64_t[]){d->n, d->c, d->h, d->w}));
  CLNN_TRY(clnn__check_numel(ctx, "the weight", 4, (int64_t[]){d->c, d->k / d->groups, d->kh, d->kw}));
  CLNN_TRY(clnn__check_numel(ctx, "the output", 4, (int64_t[]){d->n, d->k, out_h, out_w}));
  if (oh) *oh = out_h;
  if (ow) *ow = out_w;
  return CLNN_SUCCESS;
}

clnn_status clnn_conv_transpose2d_desc_check(const clnn_conv_transpose2d_desc *desc, int64_t *out_h,
                                             int64_t *out_w) {
  CLNN_ENTER(NULL);
  return clnn__conv_transpose2d_desc_check(NULL, desc, out_h, out_w);
}

clnn_conv_transpose2d_desc clnn__conv_transpose2d_of_bwd_data(const clnn_conv2d_desc *d) {
  int64_t oh, ow;
  clnn__conv2d_out_size(d, &oh, &ow);
  clnn_conv_transpose2d_desc t = clnn_conv_transpose2d_desc_make(d->n, d->k, oh, ow, d->c, d->kh, d->kw);
  t.stride_h = d->stride_h;
  t.stride_w = d->stride_w;
  t.pad_h = d->pad_h;
  t.pad_w = d->pad_w;
  t.dilation_h = d->dilation_h;
  t.dilation_w = d->dilation_w;
  t.groups = d->groups;
  t.output_pad_h = d->h - out_len(oh, d->kh, d->stride_h, d->pad_h, 0, d->dilation_h);
  t.output_pad_w = d->w - out_len(ow, d->kw, d->stride_w, d->pad_w, 0, d->dilation_w);
  return t; /* act identity: the data gradient has no bias or activation */
}
