/*
 * loss.c - host reference of the losses (softmax cross-entropy, soft
 * accuracy, InfoNCE / NT-Xent), loss and gradient, over double (see ref.h).
 * Written from the definitions, not from the device algorithm: softmaxes
 * subtract the row maximum, and nothing else is shared with the kernels.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

/* ------------------------------------------------- classification losses */

/* Positions are (sample b, spatial index p); class k of position (b, p) is at
 * ((b * classes) + k) * inner + p, its label at b * inner + p. */
typedef struct class_layout {
  int64_t positions, classes, inner;
} class_layout;

static int64_t logit_index(const class_layout *l, int64_t pos, int64_t k) {
  const int64_t b = pos / l->inner, p = pos % l->inner;
  return (b * l->classes + k) * l->inner + p;
}

/* Count the labels that are not ignore_index; reject labels out of range. */
static clnn_status count_labels(const clnn_loss_class_desc *d, const class_layout *l,
                                const int32_t *labels, int64_t *count) {
  *count = 0;
  for (int64_t pos = 0; pos < l->positions; pos++) {
    const int32_t y = labels[pos];
    if (y == d->ignore_index) continue;
    if (y < 0 || y >= d->classes)
      return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "labels[%lld] = %d is outside [0, %lld)",
                        (long long)pos, (int)y, (long long)d->classes);
    (*count)++;
  }
  return CLNN_SUCCESS;
}

/* Softmax of one position's logits into p (classes entries); returns log of
 * the normaliser relative to the maximum, and the maximum in *max. */
static double softmax_row(const class_layout *l, const double *logits, int64_t pos, double *p,
                          double *max) {
  double m = -INFINITY;
  for (int64_t k = 0; k < l->classes; k++) {
    const double z = logits[logit_index(l, pos, k)];
    if (z > m || isnan(z)) m = z;
  }
  double sum = 0.0;
  for (int64_t k = 0; k < l->classes; k++) sum += p[k] = exp(logits[logit_index(l, pos, k)] - m);
  for (int64_t k = 0; k < l->classes; k++) p[k] /= sum;
  *max = m;
  return log(sum);
}

typedef enum { LOSS_XENT, LOSS_SOFTACC } class_loss_kind;

static clnn_status class_loss_f64(class_loss_kind kind, const clnn_loss_class_desc *d,
                                  const double *logits, const int32_t *labels, double *loss,
                                  double *dlogits) {
  CLNN_TRY(clnn_loss_class_desc_check(d));
  class_layout l = {d->n * d->inner, d->classes, d->inner};
  int64_t count;
  CLNN_TRY(count_labels(d, &l, labels, &count));
  double *p = malloc((size_t)d->classes * sizeof *p);
  if (!p) return clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  const double e = d->label_smoothing, K = (double)d->classes;
  const double gscale = count ? (double)d->grad_scale / (double)count : 0.0;
  double total = 0.0;
  for (int64_t pos = 0; pos < l.positions; pos++) {
    const int32_t y = labels[pos];
    if (y == d->ignore_index) {
      if (dlogits)
        for (int64_t k = 0; k < l.classes; k++) dlogits[logit_index(&l, pos, k)] = 0.0;
      continue;
    }
    double m;
    const double log_sum = softmax_row(&l, logits, pos, p, &m);
    if (kind == LOSS_XENT) {
      /* -sum_k q_k log p_k = log_sum - sum_k q_k (z_k - m), since sum_k q_k = 1 */
      double qz = 0.0;
      for (int64_t k = 0; k < l.classes; k++) {
        const double q = (1.0 - e) * (k == y) + e / K;
        qz += q * (logits[logit_index(&l, pos, k)] - m);
        if (dlogits) dlogits[logit_index(&l, pos, k)] = gscale * (p[k] - q);
      }
      total += log_sum - qz;
    } else {
      const double py = p[y];
      total += py;
      for (int64_t k = 0; k < l.classes && dlogits; k++)
        dlogits[logit_index(&l, pos, k)] = -gscale * py * ((k == y) - p[k]);
    }
  }
  free(p);
  const double mean = count ? total / (double)count : NAN; /* PyTorch: 0 / 0 */
  *loss = kind == LOSS_XENT ? mean : 1.0 - mean;
  return CLNN_SUCCESS;
}

clnn_status clnn__ref_loss_xent_f64(const clnn_loss_class_desc *d, const double *logits,
                                    const int32_t *labels, double *loss, double *dlogits) {
  return class_loss_f64(LOSS_XENT, d, logits, labels, loss, dlogits);
}

clnn_status clnn__ref_loss_soft_accuracy_f64(const clnn_loss_class_desc *d, const double *logits,
                                             const int32_t *labels, double *loss, double *dlogits) {
  if (d && d->label_smoothing != 0.0f)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "label_smoothing applies to cross-entropy only");
  return class_loss_f64(LOSS_SOFTACC, d, logits, labels, loss, dlogits);
}

/* ---------------------------------------------------------------- InfoNCE */

/* Whether anchor i may see k as a positive or negative (the mask of the
 * 2n x 2n similarity matrix). */
static bool infonce_allowed(const clnn_loss_infonce_desc *d, int64_t i, int64_t k) {
  if (d->variant == CLNN_INFONCE_CROSS_VIEW) return (i < d->n) != (k < d->n);
  return i != k;
}

clnn_status clnn__ref_loss_infonce_f64(const clnn_loss_infonce_desc *d, const double *z1,
                                       const double *z2, double *loss, double *dz1, double *dz2) {
  CLNN_TRY(clnn_loss_infonce_desc_check(d));
  const int64_t n = d->n, m = 2 * n, D = d->dim;
  const double t = d->temperature, eps = d->eps;
  double *u = malloc((size_t)(m * D) * sizeof *u), *norm = malloc((size_t)m * sizeof *norm);
  double *s = malloc((size_t)(m * m) * sizeof *s), *du = calloc((size_t)(m * D), sizeof *du);
  if (!u || !norm || !s || !du) {
    free(u), free(norm), free(s), free(du);
    return clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  }
  /* u = z / max(|z|, eps), rows of z1 then z2 */
  for (int64_t i = 0; i < m; i++) {
    const double *z = i < n ? z1 + i * D : z2 + (i - n) * D;
    double ss = 0.0;
    for (int64_t c = 0; c < D; c++) ss += z[c] * z[c];
    norm[i] = sqrt(ss);
    const double den = norm[i] > eps ? norm[i] : eps;
    for (int64_t c = 0; c < D; c++) u[i * D + c] = z[c] / den;
  }
  for (int64_t i = 0; i < m; i++)
    for (int64_t k = 0; k < m; k++) {
      double dot = 0.0;
      for (int64_t c = 0; c < D; c++) dot += u[i * D + c] * u[k * D + c];
      s[i * m + k] = dot / t;
    }
  /* loss_i = logsumexp over allowed k of s_ik - s_i,pos; s becomes dL/ds */
  double total = 0.0;
  for (int64_t i = 0; i < m; i++) {
    const int64_t pos = (i + n) % m;
    double mx = -INFINITY, sum = 0.0;
    for (int64_t k = 0; k < m; k++)
      if (infonce_allowed(d, i, k) && s[i * m + k] > mx) mx = s[i * m + k];
    for (int64_t k = 0; k < m; k++)
      if (infonce_allowed(d, i, k)) sum += exp(s[i * m + k] - mx);
    total += log(sum) + mx - s[i * m + pos];
    for (int64_t k = 0; k < m; k++) {
      const double p = infonce_allowed(d, i, k) ? exp(s[i * m + k] - mx) / sum : 0.0;
      s[i * m + k] = (p - (k == pos)) / (double)m;
    }
  }
  *loss = total / (double)m;
  if (dz1 || dz2) {
    /* s_ik = u_i . u_k / t: du_i = sum_k (g_ik + g_ki) u_k / t */
    const double gs = (double)d->grad_scale;
    for (int64_t i = 0; i < m; i++)
      for (int64_t k = 0; k < m; k++) {
        const double g = (s[i * m + k] + s[k * m + i]) * gs / t;
        for (int64_t c = 0; c < D; c++) du[i * D + c] += g * u[k * D + c];
      }
    /* through the normalisation: dz = (du - u (u . du)) / |z|, or du / eps when clamped */
    for (int64_t i = 0; i < m; i++) {
      double *dz = i < n ? (dz1 ? dz1 + i * D : NULL) : (dz2 ? dz2 + (i - n) * D : NULL);
      if (!dz) continue;
      double dot = 0.0;
      for (int64_t c = 0; c < D; c++) dot += u[i * D + c] * du[i * D + c];
      for (int64_t c = 0; c < D; c++)
        dz[c] = norm[i] > eps ? (du[i * D + c] - u[i * D + c] * dot) / norm[i] : du[i * D + c] / eps;
    }
  }
  free(u);
  free(norm);
  free(s);
  free(du);
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------ float wrappers */

static clnn_status class_wrapper(class_loss_kind kind, const clnn_loss_class_desc *d,
                                 const float *logits, const int32_t *labels, float *loss,
                                 float *dlogits) {
  CLNN_CHECK_NULL(NULL, logits);
  CLNN_CHECK_NULL(NULL, labels);
  CLNN_CHECK_NULL(NULL, loss);
  const size_t nl = (size_t)(d->n * d->classes * d->inner);
  bool ok = true;
  double *ld = clnn__ref_f64_copy(logits, nl, &ok);
  double *gd = dlogits ? clnn__ref_f64_zeros(nl, &ok) : NULL;
  double lv = 0.0;
  clnn_status st = !ok ? clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory")
                   : kind == LOSS_XENT ? clnn__ref_loss_xent_f64(d, ld, labels, &lv, gd)
                                       : clnn__ref_loss_soft_accuracy_f64(d, ld, labels, &lv, gd);
  if (st == CLNN_SUCCESS) {
    *loss = (float)lv;
    if (dlogits) clnn__ref_to_f32(dlogits, gd, nl);
  }
  free(ld);
  free(gd);
  return st;
}

clnn_status clnn_ref_loss_xent(const clnn_loss_class_desc *desc, const float *logits,
                               const int32_t *labels, float *loss, float *dlogits) {
  CLNN_TRY(clnn_loss_class_desc_check(desc));
  clnn__enter(NULL, "clnn_ref_loss_xent");
  return class_wrapper(LOSS_XENT, desc, logits, labels, loss, dlogits);
}

clnn_status clnn_ref_loss_soft_accuracy(const clnn_loss_class_desc *desc, const float *logits,
                                        const int32_t *labels, float *loss, float *dlogits) {
  CLNN_TRY(clnn_loss_class_desc_check(desc));
  clnn__enter(NULL, "clnn_ref_loss_soft_accuracy");
  return class_wrapper(LOSS_SOFTACC, desc, logits, labels, loss, dlogits);
}

clnn_status clnn_ref_loss_infonce(const clnn_loss_infonce_desc *desc, const float *z1,
                                  const float *z2, float *loss, float *dz1, float *dz2) {
  CLNN_TRY(clnn_loss_infonce_desc_check(desc));
  clnn__enter(NULL, "clnn_ref_loss_infonce");
  CLNN_CHECK_NULL(NULL, z1);
  CLNN_CHECK_NULL(NULL, z2);
  CLNN_CHECK_NULL(NULL, loss);
  const size_t nz = (size_t)(desc->n * desc->dim);
  bool ok = true;
  double *z1d = clnn__ref_f64_copy(z1, nz, &ok), *z2d = clnn__ref_f64_copy(z2, nz, &ok);
  double *g1 = dz1 ? clnn__ref_f64_zeros(nz, &ok) : NULL, *g2 = dz2 ? clnn__ref_f64_zeros(nz, &ok) : NULL;
  double lv = 0.0;
  clnn_status st = ok ? clnn__ref_loss_infonce_f64(desc, z1d, z2d, &lv, g1, g2)
                      : clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st == CLNN_SUCCESS) {
    *loss = (float)lv;
    if (dz1) clnn__ref_to_f32(dz1, g1, nz);
    if (dz2) clnn__ref_to_f32(dz2, g2, nz);
  }
  free(z1d);
  free(z2d);
  free(g1);
  free(g2);
  return st;
}
