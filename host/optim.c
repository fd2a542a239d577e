/*
 * optim.c - host reference of the optimizer steps, gradient clipping and the
 * parameter EMA: PyTorch's formulas written out over double (see ref.h),
 * with the same descriptors and validation as the device ops. The public
 * clnn_ref_* functions work on one flat float array; a list step is the
 * same step on the concatenation of the list.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "ref.h"

/* Whether the gradient as a step uses it would be NaN or infinite in float32. */
static bool nonfinite_f32(double x) { return !(fabs(x) <= FLT_MAX); }

static int any_nonfinite(size_t n, const double *g, double factor) {
  for (size_t i = 0; i < n; i++)
    if (nonfinite_f32(g[i] * factor)) return 1;
  return 0;
}

/* torch.maximum: NaN if either is NaN. */
static double max_nan(double a, double b) {
  if (isnan(a) || isnan(b)) return NAN;
  return a > b ? a : b;
}

clnn_status clnn__ref_adam_step_f64(const clnn_adam_desc *d, bool decoupled, size_t n, double *p,
                                    const double *g, double *m, double *v, double *vmax, int *found_inf) {
  CLNN_TRY(clnn_adam_desc_check(d));
  const double gfac = (d->maximize ? -1.0 : 1.0) / d->grad_scale;
  const int found = any_nonfinite(n, g, gfac);
  if (found_inf) *found_inf = found;
  if (found && d->skip_nonfinite) return CLNN_SUCCESS;
  const double t = (double)d->step;
  const double bias_correction1 = 1.0 - pow(d->beta1, t);
  const double bias_correction2 = 1.0 - pow(d->beta2, t);
  const double step_size = d->lr / bias_correction1;
  const double bias_correction2_sqrt = sqrt(bias_correction2);
  const double wd = d->weight_decay;
  for (size_t i = 0; i < n; i++) {
    double gi = g[i] * gfac;
    if (decoupled) p[i] *= 1.0 - d->lr * wd;
    else if (wd != 0.0) gi += wd * p[i];
    m[i] = d->beta1 * m[i] + (1.0 - d->beta1) * gi;
    v[i] = d->beta2 * v[i] + (1.0 - d->beta2) * gi * gi;
    double second = v[i];
    if (d->amsgrad) second = vmax[i] = max_nan(vmax[i], v[i]);
    const double denom = sqrt(second) / bias_correction2_sqrt + d->eps;
    p[i] -= step_size * m[i] / denom;
  }
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_sgd_step_f64(const clnn_sgd_desc *d, size_t n, double *p, const double *g,
                                   double *buf, int *found_inf) {
  CLNN_TRY(clnn_sgd_desc_check(d));
  const double gfac = (d->maximize ? -1.0 : 1.0) / d->grad_scale;
  const int found = any_nonfinite(n, g, gfac);
  if (found_inf) *found_inf = found;
  if (found && d->skip_nonfinite) return CLNN_SUCCESS;
  for (size_t i = 0; i < n; i++) {
    double di = g[i] * gfac;
    if (d->weight_decay != 0.0) di += d->weight_decay * p[i];
    if (d->momentum != 0.0) {
      if (d->step == 1) buf[i] = di; /* PyTorch creates the buffer as a copy of d */
      else buf[i] = d->momentum * buf[i] + (1.0 - d->dampening) * di;
      di = d->nesterov ? di + d->momentum * buf[i] : buf[i];
    }
    p[i] -= d->lr * di;
  }
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_clip_grad_norm_f64(size_t n, double *g, double max_norm, double *total_norm) {
  if (!(max_norm >= 0.0))
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "max_norm = %g must be >= 0 (INFINITY: no clipping)",
                      max_norm);
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) sum += g[i] * g[i];
  const double norm = sqrt(sum);
  if (total_norm) *total_norm = norm;
  if (isinf(max_norm)) return CLNN_SUCCESS;
  double coef = max_norm / (norm + 1e-6);
  if (coef > 1.0) coef = 1.0; /* torch.clamp(max=1): NaN stays NaN */
  if (coef < 1.0 || isnan(coef))
    for (size_t i = 0; i < n; i++) g[i] *= coef;
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_ema_update_f64(double decay, size_t n, double *ema, const double *p) {
  if (!(decay >= 0.0 && decay <= 1.0))
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "decay = %g is outside [0, 1]", decay);
  for (size_t i = 0; i < n; i++) ema[i] = decay * ema[i] + (1.0 - decay) * p[i];
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------- float wrappers */

static clnn_status oom(void) { return clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory"); }

static clnn_status ref_adam(const char *api, const clnn_adam_desc *desc, bool decoupled, size_t n,
                            float *param, const float *grad, float *m, float *v, float *vmax,
                            int *found_inf) {
  CLNN_TRY(clnn_adam_desc_check(desc));
  clnn__enter(NULL, api);
  CLNN_CHECK_NULL(NULL, param);
  CLNN_CHECK_NULL(NULL, grad);
  CLNN_CHECK_NULL(NULL, m);
  CLNN_CHECK_NULL(NULL, v);
  if (desc->amsgrad) CLNN_CHECK_NULL(NULL, vmax);
  else vmax = NULL;
  bool ok = true;
  double *pd = clnn__ref_f64_copy(param, n, &ok), *gd = clnn__ref_f64_copy(grad, n, &ok);
  double *md = clnn__ref_f64_copy(m, n, &ok), *vd = clnn__ref_f64_copy(v, n, &ok);
  double *xd = clnn__ref_f64_copy(vmax, n, &ok);
  clnn_status st = ok ? clnn__ref_adam_step_f64(desc, decoupled, n, pd, gd, md, vd, xd, found_inf) : oom();
  if (st == CLNN_SUCCESS) {
    clnn__ref_to_f32(param, pd, n);
    clnn__ref_to_f32(m, md, n);
    clnn__ref_to_f32(v, vd, n);
    if (vmax) clnn__ref_to_f32(vmax, xd, n);
  }
  free(pd);
  free(gd);
  free(md);
  free(vd);
  free(xd);
  return st;
}

clnn_status clnn_ref_adam_step(const clnn_adam_desc *desc, size_t n, float *param, const float *grad,
                               float *exp_avg, float *exp_avg_sq, float *max_exp_avg_sq, int *found_inf) {
  return ref_adam("clnn_ref_adam_step", desc, false, n, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, found_inf);
}

clnn_status clnn_ref_adamw_step(const clnn_adam_desc *desc, size_t n, float *param, const float *grad,
                                float *exp_avg, float *exp_avg_sq, float *max_exp_avg_sq, int *found_inf) {
  return ref_adam("clnn_ref_adamw_step", desc, true, n, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, found_inf);
}

clnn_status clnn_ref_sgd_step(const clnn_sgd_desc *desc, size_t n, float *param, const float *grad,
                              float *momentum_buf, int *found_inf) {
  CLNN_ENTER(NULL);
  CLNN_TRY(clnn_sgd_desc_check(desc));
  clnn__enter(NULL, "clnn_ref_sgd_step");
  CLNN_CHECK_NULL(NULL, param);
  CLNN_CHECK_NULL(NULL, grad);
  if (desc->momentum != 0.0) CLNN_CHECK_NULL(NULL, momentum_buf);
  else momentum_buf = NULL;
  bool ok = true;
  double *pd = clnn__ref_f64_copy(param, n, &ok), *gd = clnn__ref_f64_copy(grad, n, &ok);
  double *bd = clnn__ref_f64_copy(momentum_buf, n, &ok);
  clnn_status st = ok ? clnn__ref_sgd_step_f64(desc, n, pd, gd, bd, found_inf) : oom();
  if (st == CLNN_SUCCESS) {
    clnn__ref_to_f32(param, pd, n);
    if (momentum_buf) clnn__ref_to_f32(momentum_buf, bd, n);
  }
  free(pd);
  free(gd);
  free(bd);
  return st;
}

clnn_status clnn_ref_clip_grad_norm(size_t n, float *grad, double max_norm, float *total_norm) {
  CLNN_ENTER(NULL);
  CLNN_CHECK_NULL(NULL, grad);
  bool ok = true;
  double *gd = clnn__ref_f64_copy(grad, n, &ok), norm = 0.0;
  clnn_status st = ok ? clnn__ref_clip_grad_norm_f64(n, gd, max_norm, &norm) : oom();
  if (st == CLNN_SUCCESS) {
    clnn__ref_to_f32(grad, gd, n);
    if (total_norm) *total_norm = (float)norm;
  }
  free(gd);
  return st;
}

clnn_status clnn_ref_ema_update(double decay, size_t n, float *ema, const float *param) {
  CLNN_ENTER(NULL);
  CLNN_CHECK_NULL(NULL, ema);
  CLNN_CHECK_NULL(NULL, param);
  bool ok = true;
  double *ed = clnn__ref_f64_copy(ema, n, &ok), *pd = clnn__ref_f64_copy(param, n, &ok);
  clnn_status st = ok ? clnn__ref_ema_update_f64(decay, n, ed, pd) : oom();
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(ema, ed, n);
  free(ed);
  free(pd);
  return st;
}
