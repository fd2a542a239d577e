/*
 * ref.h - internal entry points of the host reference, in double precision.
 *
 * Every reference op is written once, over double, as clnn__ref_<op>_f64().
 * The public clnn_ref_<op>() converts its float arrays, calls it and converts
 * back; gradient tests call the f64 functions directly, so the references'
 * backward passes can be checked by central finite differences in double.
 */
#ifndef CLNN_HOST_REF_H
#define CLNN_HOST_REF_H

#include "../runtime/internal.h"

/* A malloc'd double copy of n floats (NULL src gives NULL); NULL on OOM sets *ok = false. */
double *clnn__ref_f64_copy(const float *src, size_t n, bool *ok);
/* A zeroed double array of n elements; NULL on OOM sets *ok = false. */
double *clnn__ref_f64_zeros(size_t n, bool *ok);
/* dst[i] = (float)src[i]. */
void clnn__ref_to_f32(float *dst, const double *src, size_t n);

/* ------------------------------------------------------------------ conv */
clnn_status clnn__ref_conv2d_fwd_f64(const clnn_conv2d_desc *d, const double *x, const double *w,
                                     const double *b, double *y);

/* ---------------------------------------------------------------- linear */
clnn_status clnn__ref_linear_fwd_f64(const clnn_linear_desc *d, const double *x, const double *w,
                                     const double *b, double *y);
clnn_status clnn__ref_linear_bwd_data_f64(const clnn_linear_desc *d, const double *dy,
                                          const double *w, double *dx);
clnn_status clnn__ref_linear_bwd_weights_f64(const clnn_linear_desc *d, const double *x,
                                             const double *dy, double *dw, double *db,
                                             int accumulate);

/* --------------------------------------------------------------- eltwise */
void clnn__ref_eltwise_add_f64(int64_t n, double alpha, const double *a, double beta,
                               const double *b, double *y);
void clnn__ref_eltwise_add_bwd_f64(int64_t n, double alpha, double beta, const double *dy,
                                   double *da, double *db);
void clnn__ref_eltwise_mul_f64(int64_t outer, int64_t inner, const double *x, const double *s,
                               double *y);
void clnn__ref_eltwise_mul_bwd_f64(int64_t outer, int64_t inner, const double *x, const double *s,
                                   const double *dy, double *dx, double *ds);
void clnn__ref_eltwise_scale_f64(int64_t n, double alpha, const double *x, double *y);
void clnn__ref_eltwise_scale_bwd_f64(int64_t n, double alpha, const double *x, const double *dy,
                                     double *dx, double *dalpha);

/* ------------------------------------------------------------------ loss */
/* *loss gets the loss; dlogits / dz1 / dz2 may be NULL. */
clnn_status clnn__ref_loss_xent_f64(const clnn_loss_class_desc *d, const double *logits,
                                    const int32_t *labels, double *loss, double *dlogits);
clnn_status clnn__ref_loss_soft_accuracy_f64(const clnn_loss_class_desc *d, const double *logits,
                                             const int32_t *labels, double *loss, double *dlogits);
clnn_status clnn__ref_loss_infonce_f64(const clnn_loss_infonce_desc *d, const double *z1,
                                       const double *z2, double *loss, double *dz1, double *dz2);

#endif
