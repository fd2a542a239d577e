/*
 * optim.c - the optimizer descriptors (Adam / AdamW, SGD): defaults,
 * validation, and the float32 scalars the step kernels compute with,
 * checked here to stay finite after rounding. Shared by ops/optim.c and
 * host/optim.c.
 */
#include "desc.h"

#include <float.h>
#include <math.h>
#include <string.h>

clnn_adam_desc clnn_adam_desc_make(double lr, int64_t step) {
  clnn_adam_desc d;
  memset(&d, 0, sizeof d);
  d.lr = lr;
  d.beta1 = 0.9;
  d.beta2 = 0.999;
  d.eps = 1e-8;
  d.step = step;
  d.grad_scale = 1.0;
  return d;
}

clnn_sgd_desc clnn_sgd_desc_make(double lr, int64_t step) {
  clnn_sgd_desc d;
  memset(&d, 0, sizeof d);
  d.lr = lr;
  d.step = step;
  d.grad_scale = 1.0;
  return d;
}

static clnn_status check_nonneg(clnn_context *ctx, const char *name, double v) {
  if (!(v >= 0.0) || isinf(v))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->%s = %g must be finite and >= 0", name, v);
  return CLNN_SUCCESS;
}

static clnn_status check_beta(clnn_context *ctx, const char *name, double v) {
  if (!(v >= 0.0 && v < 1.0))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->%s = %g is outside [0, 1)", name, v);
  return CLNN_SUCCESS;
}

static clnn_status check_flag(clnn_context *ctx, const char *name, int v) {
  if (v != 0 && v != 1) return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->%s = %d is not 0 or 1", name, v);
  return CLNN_SUCCESS;
}

static clnn_status check_common(clnn_context *ctx, int64_t step, double grad_scale, int maximize,
                                int skip) {
  if (step < 1)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->step = %lld must be >= 1 (1 on the first step)",
                      (long long)step);
  if (!(grad_scale > 0.0) || isinf(grad_scale))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->grad_scale = %g must be finite and > 0", grad_scale);
  CLNN_TRY(check_flag(ctx, "maximize", maximize));
  return check_flag(ctx, "skip_nonfinite", skip);
}

/* A scalar the kernels get as float: it must stay finite after rounding. */
static clnn_status float_scalar(clnn_context *ctx, const char *what, double v, float *out) {
  if (!(fabs(v) <= FLT_MAX))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "%s = %g is not a finite float32", what, v);
  *out = (float)v;
  return CLNN_SUCCESS;
}

clnn_status clnn__adam_desc_check(clnn_context *ctx, const clnn_adam_desc *d, clnn_adam_scalars *s) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  CLNN_TRY(check_nonneg(ctx, "lr", d->lr));
  CLNN_TRY(check_beta(ctx, "beta1", d->beta1));
  CLNN_TRY(check_beta(ctx, "beta2", d->beta2));
  CLNN_TRY(check_nonneg(ctx, "eps", d->eps));
  CLNN_TRY(check_nonneg(ctx, "weight_decay", d->weight_decay));
  CLNN_TRY(check_flag(ctx, "amsgrad", d->amsgrad));
  CLNN_TRY(check_common(ctx, d->step, d->grad_scale, d->maximize, d->skip_nonfinite));
  clnn_adam_scalars t = {0};
  const double bc1 = 1.0 - pow(d->beta1, (double)d->step);
  const double bc2 = 1.0 - pow(d->beta2, (double)d->step);
  CLNN_TRY(float_scalar(ctx, "the gradient factor (maximize ? -1 : 1) / grad_scale",
                        (d->maximize ? -1.0 : 1.0) / d->grad_scale, &t.gmul));
  CLNN_TRY(float_scalar(ctx, "desc->weight_decay", d->weight_decay, &t.wd));
  CLNN_TRY(float_scalar(ctx, "1 - lr * weight_decay", 1.0 - d->lr * d->weight_decay, &t.decay));
  CLNN_TRY(float_scalar(ctx, "the step size lr / (1 - beta1^t)", d->lr / bc1, &t.step_size));
  CLNN_TRY(float_scalar(ctx, "1 / sqrt(1 - beta2^t)", 1.0 / sqrt(bc2), &t.inv_sqrt_bc2));
  CLNN_TRY(float_scalar(ctx, "desc->eps", d->eps, &t.eps));
  t.beta1 = (float)d->beta1;
  t.omb1 = (float)(1.0 - d->beta1);
  t.beta2 = (float)d->beta2;
  t.omb2 = (float)(1.0 - d->beta2);
  if (s) *s = t;
  return CLNN_SUCCESS;
}

clnn_status clnn_adam_desc_check(const clnn_adam_desc *desc) {
  CLNN_ENTER(NULL);
  return clnn__adam_desc_check(NULL, desc, NULL);
}

clnn_status clnn__sgd_desc_check(clnn_context *ctx, const clnn_sgd_desc *d, clnn_sgd_scalars *s) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  CLNN_TRY(check_nonneg(ctx, "lr", d->lr));
  CLNN_TRY(check_nonneg(ctx, "momentum", d->momentum));
  CLNN_TRY(check_nonneg(ctx, "weight_decay", d->weight_decay));
  if (!isfinite(d->dampening))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->dampening = %g is not finite", d->dampening);
  CLNN_TRY(check_flag(ctx, "nesterov", d->nesterov));
  if (d->nesterov && (d->momentum <= 0.0 || d->dampening != 0.0))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE,
                      "Nesterov momentum needs momentum > 0 and dampening == 0 (momentum %g, dampening %g)",
                      d->momentum, d->dampening);
  CLNN_TRY(check_common(ctx, d->step, d->grad_scale, d->maximize, d->skip_nonfinite));
  clnn_sgd_scalars t = {0};
  CLNN_TRY(float_scalar(ctx, "the gradient factor (maximize ? -1 : 1) / grad_scale",
                        (d->maximize ? -1.0 : 1.0) / d->grad_scale, &t.gmul));
  CLNN_TRY(float_scalar(ctx, "desc->lr", d->lr, &t.lr));
  CLNN_TRY(float_scalar(ctx, "desc->weight_decay", d->weight_decay, &t.wd));
  CLNN_TRY(float_scalar(ctx, "desc->momentum", d->momentum, &t.momentum));
  CLNN_TRY(float_scalar(ctx, "1 - desc->dampening", 1.0 - d->dampening, &t.omd));
  if (s) *s = t;
  return CLNN_SUCCESS;
}

clnn_status clnn_sgd_desc_check(const clnn_sgd_desc *desc) {
  CLNN_ENTER(NULL);
  return clnn__sgd_desc_check(NULL, desc, NULL);
}

/* ------------------------------------------------- dynamic loss scaling */

clnn_grad_scaler clnn_grad_scaler_make(double init_scale) {
  clnn_grad_scaler s;
  memset(&s, 0, sizeof s);
  s.scale = init_scale;
  s.growth_factor = 2.0;
  s.backoff_factor = 0.5;
  s.growth_interval = 2000;
  return s;
}

clnn_status clnn_grad_scaler_check(const clnn_grad_scaler *s) {
  CLNN_CHECK_NULL(NULL, s);
  if (!(s->scale > 0.0) || !(s->scale <= FLT_MAX))
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "scaler->scale = %g must be a finite float32 > 0", s->scale);
  if (!(s->growth_factor > 1.0) || isinf(s->growth_factor))
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "scaler->growth_factor = %g must be finite and > 1",
                      s->growth_factor);
  if (!(s->backoff_factor > 0.0 && s->backoff_factor < 1.0))
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "scaler->backoff_factor = %g is outside (0, 1)",
                      s->backoff_factor);
  if (s->growth_interval < 1)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "scaler->growth_interval = %lld must be >= 1",
                      (long long)s->growth_interval);
  if (s->growth_tracker < 0 || s->growth_tracker >= s->growth_interval)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "scaler->growth_tracker = %lld is outside [0, growth_interval)",
                      (long long)s->growth_tracker);
  return CLNN_SUCCESS;
}

/*
 * torch.cuda.amp.GradScaler's update (_amp_update_scale_): the scale is a
 * float32 value, each new one the double product rounded to float, and a
 * growth that would overflow float32 is not taken (the tracker still
 * resets). A step whose gradients overflowed backs off and restarts the
 * count; growth_interval good steps in a row grow the scale.
 */
clnn_status clnn_grad_scaler_update(clnn_grad_scaler *s, int found_inf) {
  CLNN_ENTER(NULL);
  CLNN_TRY(clnn_grad_scaler_check(s));
  if (found_inf) {
    const float backed = (float)(s->scale * s->backoff_factor);
    if (!(backed > 0.0f))
      return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "scaler->scale = %g cannot back off further (underflow)",
                        s->scale);
    s->scale = backed;
    s->growth_tracker = 0;
    return CLNN_SUCCESS;
  }
  const int64_t successful = s->growth_tracker + 1;
  if (successful == s->growth_interval) {
    const float grown = (float)(s->scale * s->growth_factor);
    if (isfinite(grown)) s->scale = grown;
    s->growth_tracker = 0;
  } else {
    s->growth_tracker = successful;
  }
  return CLNN_SUCCESS;
}
