/*
 * norm.c - host reference of batch normalisation in double: exact two-pass
 * statistics per channel (mean, then the sum of squared deviations), the
 * definitions of the forward in both modes, and the backward formulas
 * (checked against finite differences of the forward in tests/test_norm.c).
 */
#include <math.h>
#include <stdlib.h>

#include "ref.h"

/* Index of element i of plane (img, ch). */
#define BN_AT(d, img, ch, i) ((((img) * (d)->c + (ch)) * (d)->h * (d)->w) + (i))

/* The activation's input z is gamma * xhat + beta; these give z's parts. */
static double gamma_of(const clnn_batchnorm_desc *d, const double *gamma, int64_t ch) {
  return d->affine ? gamma[ch] : 1.0;
}
static double beta_of(const clnn_batchnorm_desc *d, const double *beta, int64_t ch) {
  return d->affine ? beta[ch] : 0.0;
}

static clnn_status check_affine(const clnn_batchnorm_desc *d, const void *gamma, const void *beta) {
  if (d->affine && (!gamma || !beta))
    return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL (desc->affine)", gamma ? "beta" : "gamma");
  if (!d->affine && (gamma || beta))
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "desc->affine is 0 but '%s' is given", gamma ? "gamma" : "beta");
  return CLNN_SUCCESS;
}

static clnn_status check_pair(const void *a, const char *an, const void *b, const char *bn) {
  if ((a == NULL) != (b == NULL))
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "'%s' and '%s' go together: one is NULL", an, bn);
  return CLNN_SUCCESS;
}

/* y = act(gamma (x - mean) invstd + beta) for every element of channel ch. */
static void normalise_channel(const clnn_batchnorm_desc *d, int64_t ch, const double *x, const double *gamma,
                              const double *beta, double mean, double invstd, double *y) {
  const int64_t hw = d->h * d->w;
  const double g = gamma_of(d, gamma, ch), b = beta_of(d, beta, ch);
  for (int64_t img = 0; img < d->n; img++)
    for (int64_t i = 0; i < hw; i++) {
      const int64_t at = BN_AT(d, img, ch, i);
      y[at] = clnn__ref_act(g * (x[at] - mean) * invstd + b, d->act, d->act_alpha);
    }
}

clnn_status clnn__ref_batchnorm_fwd_training_f64(const clnn_batchnorm_desc *d, const double *x,
                                                 const double *gamma, const double *beta, double *y,
                                                 double *save_mean, double *save_invstd, double *running_mean,
                                                 double *running_var, int64_t *num_batches_tracked) {
  CLNN_TRY(clnn_batchnorm_desc_check(d));
  const int64_t hw = d->h * d->w, m = d->n * hw;
  if (m == 1) return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "training needs more than one value per channel");
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, y);
  CLNN_TRY(check_affine(d, gamma, beta));
  CLNN_TRY(check_pair(save_mean, "save_mean", save_invstd, "save_invstd"));
  CLNN_TRY(check_pair(running_mean, "running_mean", running_var, "running_var"));
  if (d->cumulative && running_mean && !num_batches_tracked)
    return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "argument 'num_batches_tracked' is NULL (desc->cumulative)");
  const int64_t tracked = num_batches_tracked ? *num_batches_tracked + 1 : 1;
  const double factor = d->cumulative ? 1.0 / (double)tracked : (double)d->momentum;
  for (int64_t ch = 0; ch < d->c; ch++) {
    double sum = 0.0, m2 = 0.0;
    for (int64_t img = 0; img < d->n; img++)
      for (int64_t i = 0; i < hw; i++) sum += x[BN_AT(d, img, ch, i)];
    const double mean = sum / (double)m;
    for (int64_t img = 0; img < d->n; img++)
      for (int64_t i = 0; i < hw; i++) {
        const double dev = x[BN_AT(d, img, ch, i)] - mean;
        m2 += dev * dev;
      }
    const double var = m2 / (double)m, invstd = 1.0 / sqrt(var + (double)d->eps);
    normalise_channel(d, ch, x, gamma, beta, mean, invstd, y);
    if (save_mean) {
      save_mean[ch] = mean;
      save_invstd[ch] = invstd;
    }
    if (running_mean && m > 0) { /* an empty batch leaves them, as torch does */
      running_mean[ch] = (1.0 - factor) * running_mean[ch] + factor * mean;
      running_var[ch] = (1.0 - factor) * running_var[ch] + factor * m2 / (double)(m - 1);
    }
  }
  if (num_batches_tracked) *num_batches_tracked = tracked;
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_batchnorm_fwd_inference_f64(const clnn_batchnorm_desc *d, const double *x,
                                                  const double *gamma, const double *beta,
                                                  const double *running_mean, const double *running_var,
                                                  double *y) {
  CLNN_TRY(clnn_batchnorm_desc_check(d));
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, running_mean);
  CLNN_CHECK_NULL(NULL, running_var);
  CLNN_CHECK_NULL(NULL, y);
  CLNN_TRY(check_affine(d, gamma, beta));
  for (int64_t ch = 0; ch < d->c; ch++)
    normalise_channel(d, ch, x, gamma, beta, running_mean[ch], 1.0 / sqrt(running_var[ch] + (double)d->eps), y);
  return CLNN_SUCCESS;
}

/*
 * The backward of one channel given its statistics. dz = dy * act'(z);
 * frozen statistics: dx = gamma invstd dz; batch statistics (the mean is
 * x's own, exact in double; the given one is the forward's float rounding):
 * dx = gamma invstd (dz - sum(dz) / M - xhat sum(dz xhat) / M).
 */
static void backward_channel(const clnn_batchnorm_desc *d, int64_t ch, const double *x, const double *dy,
                             const double *gamma, const double *beta, double mean, double invstd, bool frozen,
                             double *dx, double *dgamma, double *dbeta) {
  const int64_t hw = d->h * d->w, m = d->n * hw;
  const double g = gamma_of(d, gamma, ch), b = beta_of(d, beta, ch);
  if (!frozen) { /* the batch mean of x itself: the saved float mean only shifts the sum */
    double dev = 0.0;
    for (int64_t img = 0; img < d->n; img++)
      for (int64_t i = 0; i < hw; i++) dev += x[BN_AT(d, img, ch, i)] - mean;
    mean += dev / (double)m;
  }
  double sdz = 0.0, sdz_xhat = 0.0;
  for (int64_t img = 0; img < d->n; img++)
    for (int64_t i = 0; i < hw; i++) {
      const int64_t at = BN_AT(d, img, ch, i);
      const double xhat = (x[at] - mean) * invstd;
      const double dz = dy[at] * clnn__ref_act_deriv(g * xhat + b, d->act, d->act_alpha);
      sdz += dz;
      sdz_xhat += dz * xhat;
    }
  if (dgamma) dgamma[ch] = sdz_xhat;
  if (dbeta) dbeta[ch] = sdz;
  if (!dx) return;
  for (int64_t img = 0; img < d->n; img++)
    for (int64_t i = 0; i < hw; i++) {
      const int64_t at = BN_AT(d, img, ch, i);
      const double xhat = (x[at] - mean) * invstd;
      const double dz = dy[at] * clnn__ref_act_deriv(g * xhat + b, d->act, d->act_alpha);
      dx[at] = frozen ? g * invstd * dz : g * invstd * (dz - sdz / (double)m - xhat * sdz_xhat / (double)m);
    }
}

static clnn_status check_bwd(const clnn_batchnorm_desc *d, const void *x, const void *dy, const void *gamma,
                             const void *beta, const void *mean, const void *stat, const void *dx,
                             const void *dgamma, const void *dbeta) {
  CLNN_TRY(clnn_batchnorm_desc_check(d));
  CLNN_CHECK_NULL(NULL, x);
  CLNN_CHECK_NULL(NULL, dy);
  CLNN_CHECK_NULL(NULL, mean);
  CLNN_CHECK_NULL(NULL, stat);
  CLNN_TRY(check_affine(d, gamma, beta));
  if (!dx && !dgamma && !dbeta) return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "'dx', 'dgamma' and 'dbeta' are all NULL");
  if (!d->affine && (dgamma || dbeta))
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "desc->affine is 0 but '%s' is given", dgamma ? "dgamma" : "dbeta");
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_batchnorm_bwd_f64(const clnn_batchnorm_desc *d, const double *x, const double *dy,
                                        const double *gamma, const double *beta, const double *save_mean,
                                        const double *save_invstd, double *dx, double *dgamma, double *dbeta) {
  CLNN_TRY(check_bwd(d, x, dy, gamma, beta, save_mean, save_invstd, dx, dgamma, dbeta));
  for (int64_t ch = 0; ch < d->c; ch++)
    backward_channel(d, ch, x, dy, gamma, beta, save_mean[ch], save_invstd[ch], false, dx, dgamma, dbeta);
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_batchnorm_bwd_inference_f64(const clnn_batchnorm_desc *d, const double *x, const double *dy,
                                                  const double *gamma, const double *beta,
                                                  const double *running_mean, const double *running_var,
                                                  double *dx, double *dgamma, double *dbeta) {
  CLNN_TRY(check_bwd(d, x, dy, gamma, beta, running_mean, running_var, dx, dgamma, dbeta));
  for (int64_t ch = 0; ch < d->c; ch++)
    backward_channel(d, ch, x, dy, gamma, beta, running_mean[ch], 1.0 / sqrt(running_var[ch] + (double)d->eps),
                     true, dx, dgamma, dbeta);
  return CLNN_SUCCESS;
}

/* --------------------------------------------------- float entry points */

/* Double copies of the arguments of one call; NULL stays NULL. */
typedef struct bn_f64 {
  double *x, *dy, *gamma, *beta, *mean, *stat, *y, *dx, *dgamma, *dbeta, *rmean, *rvar;
  bool ok;
} bn_f64;

static void bn_f64_free(bn_f64 *a) {
  free(a->x);
  free(a->dy);
  free(a->gamma);
  free(a->beta);
  free(a->mean);
  free(a->stat);
  free(a->y);
  free(a->dx);
  free(a->dgamma);
  free(a->dbeta);
  free(a->rmean);
  free(a->rvar);
}

/* An output array (zeroed) when the caller gave one. */
static double *out_f64(const float *p, size_t n, bool *ok) { return p ? clnn__ref_f64_zeros(n, ok) : NULL; }

static size_t numel_of(const clnn_batchnorm_desc *d) { return (size_t)(d->n * d->c * d->h * d->w); }

clnn_status clnn_ref_batchnorm_fwd_training(const clnn_batchnorm_desc *desc, const float *x, const float *gamma,
                                            const float *beta, float *y, float *save_mean, float *save_invstd,
                                            float *running_mean, float *running_var,
                                            int64_t *num_batches_tracked) {
  CLNN_TRY(clnn_batchnorm_desc_check(desc));
  clnn__enter(NULL, "clnn_ref_batchnorm_fwd_training");
  const size_t n = numel_of(desc), c = (size_t)desc->c;
  bn_f64 a = {.ok = true};
  a.x = clnn__ref_f64_copy(x, n, &a.ok);
  a.gamma = clnn__ref_f64_copy(gamma, c, &a.ok);
  a.beta = clnn__ref_f64_copy(beta, c, &a.ok);
  a.y = out_f64(y, n, &a.ok);
  a.mean = out_f64(save_mean, c, &a.ok);
  a.stat = out_f64(save_invstd, c, &a.ok);
  a.rmean = clnn__ref_f64_copy(running_mean, c, &a.ok); /* read and updated */
  a.rvar = clnn__ref_f64_copy(running_var, c, &a.ok);
  clnn_status st = a.ok ? clnn__ref_batchnorm_fwd_training_f64(desc, a.x, a.gamma, a.beta, a.y, a.mean, a.stat,
                                                               a.rmean, a.rvar, num_batches_tracked)
                        : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) {
    clnn__ref_to_f32(y, a.y, n);
    if (save_mean) clnn__ref_to_f32(save_mean, a.mean, c);
    if (save_invstd) clnn__ref_to_f32(save_invstd, a.stat, c);
    if (running_mean) clnn__ref_to_f32(running_mean, a.rmean, c);
    if (running_var) clnn__ref_to_f32(running_var, a.rvar, c);
  }
  bn_f64_free(&a);
  return st;
}

clnn_status clnn_ref_batchnorm_fwd_inference(const clnn_batchnorm_desc *desc, const float *x, const float *gamma,
                                             const float *beta, const float *running_mean,
                                             const float *running_var, float *y) {
  CLNN_TRY(clnn_batchnorm_desc_check(desc));
  clnn__enter(NULL, "clnn_ref_batchnorm_fwd_inference");
  const size_t n = numel_of(desc), c = (size_t)desc->c;
  bn_f64 a = {.ok = true};
  a.x = clnn__ref_f64_copy(x, n, &a.ok);
  a.gamma = clnn__ref_f64_copy(gamma, c, &a.ok);
  a.beta = clnn__ref_f64_copy(beta, c, &a.ok);
  a.mean = clnn__ref_f64_copy(running_mean, c, &a.ok);
  a.stat = clnn__ref_f64_copy(running_var, c, &a.ok);
  a.y = out_f64(y, n, &a.ok);
  clnn_status st = a.ok ? clnn__ref_batchnorm_fwd_inference_f64(desc, a.x, a.gamma, a.beta, a.mean, a.stat, a.y)
                        : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) clnn__ref_to_f32(y, a.y, n);
  bn_f64_free(&a);
  return st;
}

/* Both backward entry points: frozen picks the inference-mode formulas. */
static clnn_status ref_bwd(const clnn_batchnorm_desc *d, bool frozen, const float *x, const float *dy,
                           const float *gamma, const float *beta, const float *mean, const float *stat, float *dx,
                           float *dgamma, float *dbeta) {
  const size_t n = numel_of(d), c = (size_t)d->c;
  bn_f64 a = {.ok = true};
  a.x = clnn__ref_f64_copy(x, n, &a.ok);
  a.dy = clnn__ref_f64_copy(dy, n, &a.ok);
  a.gamma = clnn__ref_f64_copy(gamma, c, &a.ok);
  a.beta = clnn__ref_f64_copy(beta, c, &a.ok);
  a.mean = clnn__ref_f64_copy(mean, c, &a.ok);
  a.stat = clnn__ref_f64_copy(stat, c, &a.ok);
  a.dx = out_f64(dx, n, &a.ok);
  a.dgamma = out_f64(dgamma, c, &a.ok);
  a.dbeta = out_f64(dbeta, c, &a.ok);
  clnn_status st;
  if (!a.ok)
    st = clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  else if (frozen)
    st = clnn__ref_batchnorm_bwd_inference_f64(d, a.x, a.dy, a.gamma, a.beta, a.mean, a.stat, a.dx, a.dgamma, a.dbeta);
  else
    st = clnn__ref_batchnorm_bwd_f64(d, a.x, a.dy, a.gamma, a.beta, a.mean, a.stat, a.dx, a.dgamma, a.dbeta);
  if (st == CLNN_SUCCESS) {
    if (dx) clnn__ref_to_f32(dx, a.dx, n);
    if (dgamma) clnn__ref_to_f32(dgamma, a.dgamma, c);
    if (dbeta) clnn__ref_to_f32(dbeta, a.dbeta, c);
  }
  bn_f64_free(&a);
  return st;
}

clnn_status clnn_ref_batchnorm_bwd(const clnn_batchnorm_desc *desc, const float *x, const float *dy,
                                   const float *gamma, const float *beta, const float *save_mean,
                                   const float *save_invstd, float *dx, float *dgamma, float *dbeta) {
  CLNN_TRY(clnn_batchnorm_desc_check(desc));
  clnn__enter(NULL, "clnn_ref_batchnorm_bwd");
  return ref_bwd(desc, false, x, dy, gamma, beta, save_mean, save_invstd, dx, dgamma, dbeta);
}

clnn_status clnn_ref_batchnorm_bwd_inference(const clnn_batchnorm_desc *desc, const float *x, const float *dy,
                                             const float *gamma, const float *beta, const float *running_mean,
                                             const float *running_var, float *dx, float *dgamma, float *dbeta) {
  CLNN_TRY(clnn_batchnorm_desc_check(desc));
  clnn__enter(NULL, "clnn_ref_batchnorm_bwd_inference");
  return ref_bwd(desc, true, x, dy, gamma, beta, running_mean, running_var, dx, dgamma, dbeta);
}
