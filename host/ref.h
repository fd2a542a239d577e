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

/* ------------------------------------------------------------------- act */
/* f'(v) of one activation (clnn__ref_act is f itself, in runtime/internal.h);
 * PyTorch's one-sided choices at the kinks, as kernels/common.h act_grad_*. */
double clnn__ref_act_deriv(double v, clnn_activation act, double alpha);
clnn_status clnn__ref_act_fwd_f64(const clnn_act_desc *d, const double *x, double *y);
clnn_status clnn__ref_act_bwd_f64(const clnn_act_desc *d, const double *x, const double *dy, double *dx);

/* ------------------------------------------------------------------ norm */
clnn_status clnn__ref_batchnorm_fwd_training_f64(const clnn_batchnorm_desc *d, const double *x,
                                                 const double *gamma, const double *beta, double *y,
                                                 double *save_mean, double *save_invstd, double *running_mean,
                                                 double *running_var, int64_t *num_batches_tracked);
clnn_status clnn__ref_batchnorm_fwd_inference_f64(const clnn_batchnorm_desc *d, const double *x,
                                                  const double *gamma, const double *beta,
                                                  const double *running_mean, const double *running_var,
                                                  double *y);
clnn_status clnn__ref_batchnorm_bwd_f64(const clnn_batchnorm_desc *d, const double *x, const double *dy,
                                        const double *gamma, const double *beta, const double *save_mean,
                                        const double *save_invstd, double *dx, double *dgamma, double *dbeta);
clnn_status clnn__ref_batchnorm_bwd_inference_f64(const clnn_batchnorm_desc *d, const double *x, const double *dy,
                                                  const double *gamma, const double *beta,
                                                  const double *running_mean, const double *running_var,
                                                  double *dx, double *dgamma, double *dbeta);

/* ------------------------------------------------------------------ pool */
clnn_status clnn__ref_pool2d_fwd_f64(const clnn_pool2d_desc *d, const double *x, double *y, int32_t *indices);
clnn_status clnn__ref_pool2d_bwd_f64(const clnn_pool2d_desc *d, const double *dy, const int32_t *indices,
                                     double *dx);

#endif
