/*
 * loss.c - the loss descriptors (classification over class logits, and
 * InfoNCE / NT-Xent over two batches of embeddings): defaults and
 * validation, shared by ops/loss.c and host/loss.c.
 */
#include "desc.h"

#include <math.h>
#include <string.h>

clnn_loss_class_desc clnn_loss_class_desc_make(int64_t n, int64_t classes) {
  clnn_loss_class_desc d;
  memset(&d, 0, sizeof d);
  d.n = n;
  d.classes = classes;
  d.inner = 1;
  d.ignore_index = -100;
  d.grad_scale = 1.0f;
  return d;
}

clnn_loss_infonce_desc clnn_loss_infonce_desc_make(int64_t n, int64_t dim, float temperature) {
  clnn_loss_infonce_desc d;
  memset(&d, 0, sizeof d);
  d.n = n;
  d.dim = dim;
  d.temperature = temperature;
  d.eps = 1e-12f;
  d.variant = CLNN_INFONCE_NT_XENT;
  d.grad_scale = 1.0f;
  return d;
}

static clnn_status check_finite(clnn_context *ctx, const char *name, float v) {
  if (!isfinite(v)) return clnn__fail(ctx, CLNN_ERR_NOT_FINITE, "desc->%s = %g is not finite", name, (double)v);
  return CLNN_SUCCESS;
}

clnn_status clnn__loss_class_desc_check(clnn_context *ctx, const clnn_loss_class_desc *d) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  CLNN_TRY(clnn__check_dim(ctx, "n", d->n, 0)); /* a batch of 0: the mean over nothing, NaN */
  CLNN_TRY(clnn__check_dim(ctx, "classes", d->classes, 1));
  CLNN_TRY(clnn__check_dim(ctx, "inner", d->inner, 1));
  CLNN_TRY(check_finite(ctx, "label_smoothing", d->label_smoothing));
  CLNN_TRY(check_finite(ctx, "grad_scale", d->grad_scale));
  if (d->label_smoothing < 0.0f || d->label_smoothing > 1.0f)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->label_smoothing = %g is outside [0, 1]",
                      (double)d->label_smoothing);
  int64_t dims[3] = {d->n, d->classes, d->inner};
  return clnn__check_numel(ctx, "the logits", 3, dims);
}

clnn_status clnn_loss_class_desc_check(const clnn_loss_class_desc *desc) {
  CLNN_ENTER(NULL);
  return clnn__loss_class_desc_check(NULL, desc);
}

clnn_status clnn__loss_infonce_desc_check(clnn_context *ctx, const clnn_loss_infonce_desc *d) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  CLNN_TRY(clnn__check_dim(ctx, "n", d->n, 1));
  CLNN_TRY(clnn__check_dim(ctx, "dim", d->dim, 1));
  CLNN_TRY(check_finite(ctx, "temperature", d->temperature));
  CLNN_TRY(check_finite(ctx, "eps", d->eps));
  CLNN_TRY(check_finite(ctx, "grad_scale", d->grad_scale));
  if (!(d->temperature > 0.0f))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->temperature = %g must be positive", (double)d->temperature);
  if (!(d->eps > 0.0f))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->eps = %g must be positive", (double)d->eps);
  if (d->variant != CLNN_INFONCE_NT_XENT && d->variant != CLNN_INFONCE_CROSS_VIEW)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->variant = %d is not a clnn_infonce_variant",
                      (int)d->variant);
  int64_t zd[2] = {d->n, d->dim}, sd[2] = {2 * d->n, 2 * d->n + 16}, ud[2] = {2 * d->n, d->dim + 16};
  CLNN_TRY(clnn__check_numel(ctx, "z1", 2, zd));
  CLNN_TRY(clnn__check_numel(ctx, "the similarity matrix", 2, sd));
  return clnn__check_numel(ctx, "the normalised embeddings", 2, ud);
}

clnn_status clnn_loss_infonce_desc_check(const clnn_loss_infonce_desc *desc) {
  CLNN_ENTER(NULL);
  return clnn__loss_infonce_desc_check(NULL, desc);
}
