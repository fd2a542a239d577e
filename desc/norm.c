/*
 * norm.c - the batch-norm descriptor: defaults and validation, shared by
 * ops/norm.c and host/norm.c.
 */
#include "desc.h"

#include <math.h>
#include <string.h>

clnn_batchnorm_desc clnn_batchnorm_desc_make(int64_t n, int64_t c, int64_t h, int64_t w) {
  clnn_batchnorm_desc d;
  memset(&d, 0, sizeof d);
  d.n = n;
  d.c = c;
  d.h = h;
  d.w = w;
  d.eps = 1e-5f;
  d.momentum = 0.1f;
  d.cumulative = 0;
  d.affine = 1;
  d.act = CLNN_ACT_IDENTITY;
  return d;
}

clnn_status clnn__batchnorm_desc_check(clnn_context *ctx, const clnn_batchnorm_desc *d) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  /* 0 anywhere is an empty tensor, as torch takes it (see clnn.h) */
  CLNN_TRY(clnn__check_dim(ctx, "n", d->n, 0));
  CLNN_TRY(clnn__check_dim(ctx, "c", d->c, 0));
  CLNN_TRY(clnn__check_dim(ctx, "h", d->h, 0));
  CLNN_TRY(clnn__check_dim(ctx, "w", d->w, 0));
  if (!isfinite(d->eps)) return clnn__fail(ctx, CLNN_ERR_NOT_FINITE, "desc->eps is %g", (double)d->eps);
  if (d->eps < 0) return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->eps = %g is negative", (double)d->eps);
  if (!isfinite(d->momentum))
    return clnn__fail(ctx, CLNN_ERR_NOT_FINITE, "desc->momentum is %g", (double)d->momentum);
  if (d->momentum < 0 || d->momentum > 1)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->momentum = %g is outside [0, 1]", (double)d->momentum);
  if ((int)d->act < 0 || d->act >= CLNN_ACT_COUNT_)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->act = %d is not a clnn_activation", (int)d->act);
  if (!isfinite(d->act_alpha))
    return clnn__fail(ctx, CLNN_ERR_NOT_FINITE, "desc->act_alpha is %g", (double)d->act_alpha);
  if (d->affine != 0 && d->affine != 1)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->affine = %d must be 0 or 1", d->affine);
  if (d->cumulative != 0 && d->cumulative != 1)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->cumulative = %d must be 0 or 1", d->cumulative);
  int64_t dims[4] = {d->n, d->c, d->h, d->w}, numel;
  if (!clnn__numel_ok(4, dims, &numel) || numel > CLNN_INDEX_MAX)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "the input has over 2^31 - 1 elements");
  return CLNN_SUCCESS;
}

clnn_status clnn_batchnorm_desc_check(const clnn_batchnorm_desc *desc) {
  CLNN_ENTER(NULL);
  return clnn__batchnorm_desc_check(NULL, desc);
}
