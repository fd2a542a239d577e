/*
 * act.c - the activation descriptor: defaults (plain and gated) and
 * validation, shared by ops/act.c and host/act.c.
 */
#include "desc.h"

#include <math.h>
#include <string.h>

clnn_act_desc clnn_act_desc_make(int64_t n, int64_t c, int64_t h, int64_t w, clnn_activation act) {
  clnn_act_desc d;
  memset(&d, 0, sizeof d);
  d.n = n;
  d.c = c;
  d.h = h;
  d.w = w;
  d.act = act;
  d.alpha = act == CLNN_ACT_LEAKY_RELU ? 0.01f : act == CLNN_ACT_ELU ? 1.0f : 0.0f;
  d.gate = CLNN_GATE_NONE;
  return d;
}

clnn_act_desc clnn_act_desc_swiglu(int64_t n, int64_t c, int64_t h, int64_t w) {
  clnn_act_desc d = clnn_act_desc_make(n, c, h, w, CLNN_ACT_SILU);
  d.gate = CLNN_GATE_FIRST;
  return d;
}

clnn_act_desc clnn_act_desc_geglu(int64_t n, int64_t c, int64_t h, int64_t w) {
  clnn_act_desc d = clnn_act_desc_make(n, c, h, w, CLNN_ACT_GELU);
  d.gate = CLNN_GATE_FIRST;
  return d;
}

clnn_status clnn__act_desc_check(clnn_context *ctx, const clnn_act_desc *d, int64_t *out_c) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  CLNN_TRY(clnn__check_dim(ctx, "n", d->n, 0)); /* a batch of 0: empty outputs, as in torch */
  CLNN_TRY(clnn__check_dim(ctx, "c", d->c, 0));
  CLNN_TRY(clnn__check_dim(ctx, "h", d->h, 0));
  CLNN_TRY(clnn__check_dim(ctx, "w", d->w, 0));
  if ((int)d->act < 0 || d->act >= CLNN_ACT_COUNT_)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->act = %d is not a clnn_activation", (int)d->act);
  if ((int)d->gate < 0 || d->gate >= CLNN_GATE_COUNT_)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->gate = %d is not a clnn_act_gate", (int)d->gate);
  if (!isfinite(d->alpha))
    return clnn__fail(ctx, CLNN_ERR_NOT_FINITE, "desc->alpha is %g", (double)d->alpha);
  if (d->gate != CLNN_GATE_NONE && d->c % 2)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "a gated activation needs an even channel count, desc->c = %lld",
                      (long long)d->c);
  int64_t dims[4] = {d->n, d->c, d->h, d->w}, numel;
  if (!clnn__numel_ok(4, dims, &numel) || numel > CLNN_INDEX_MAX)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "the input has over 2^31 - 1 elements");
  if (out_c) *out_c = d->gate == CLNN_GATE_NONE ? d->c : d->c / 2;
  return CLNN_SUCCESS;
}

clnn_status clnn_act_desc_check(const clnn_act_desc *desc, int64_t *out_c) {
  CLNN_ENTER(NULL);
  return clnn__act_desc_check(NULL, desc, out_c);
}
