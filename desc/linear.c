/*
 * linear.c - the fully connected layer's descriptor: defaults and
 * validation (including the packed operands ops/linear.c makes), shared by
 * ops/linear.c and host/linear.c.
 */
#include "desc.h"

#include <string.h>

#define PANEL_N CLNN_TILE_NR /* the own GEMM's B panels (ops/linear.c packs them) */

clnn_linear_desc clnn_linear_desc_make(int64_t n, int64_t in_features, int64_t out_features) {
  clnn_linear_desc d;
  memset(&d, 0, sizeof d);
  d.n = n;
  d.in_features = in_features;
  d.out_features = out_features;
  d.act = CLNN_ACT_IDENTITY;
  return d;
}

clnn_status clnn__linear_desc_check(clnn_context *ctx, const clnn_linear_desc *d) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  CLNN_TRY(clnn__check_dim(ctx, "n", d->n, 0)); /* a batch of 0: empty outputs, as in torch */
  CLNN_TRY(clnn__check_dim(ctx, "in_features", d->in_features, 1));
  CLNN_TRY(clnn__check_dim(ctx, "out_features", d->out_features, 1));
  if ((int)d->act < 0 || d->act >= CLNN_ACT_COUNT_)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->act = %d is not a clnn_activation", (int)d->act);
  CLNN_TRY(clnn__check_numel(ctx, "x", 2, (int64_t[]){d->n, d->in_features}));
  CLNN_TRY(clnn__check_numel(ctx, "w", 2, (int64_t[]){d->out_features, d->in_features}));
  CLNN_TRY(clnn__check_numel(ctx, "y", 2, (int64_t[]){d->n, d->out_features}));
  /* packed operands (up to 31 columns of padding) are indexed with 32-bit ints too */
  int64_t padded_out = (d->out_features + PANEL_N - 1) / PANEL_N * PANEL_N;
  int64_t padded_in = (d->in_features + PANEL_N - 1) / PANEL_N * PANEL_N;
  CLNN_TRY(clnn__check_numel(ctx, "the packed weight", 2, (int64_t[]){padded_out, d->in_features}));
  CLNN_TRY(clnn__check_numel(ctx, "the packed weight", 2, (int64_t[]){padded_in, d->out_features}));
  return clnn__check_numel(ctx, "the packed input", 2, (int64_t[]){padded_in, d->n});
}

clnn_status clnn_linear_desc_check(const clnn_linear_desc *desc) {
  CLNN_ENTER(NULL);
  return clnn__linear_desc_check(NULL, desc);
}
