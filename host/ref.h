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

#include "../desc/desc.h"

/* A malloc'd double copy of n floats (NULL src gives NULL); NULL on OOM sets *ok = false. */
double *clnn__ref_f64_copy(const float *src, size_t n, bool *ok);
/* A zeroed double array of n elements; NULL on OOM sets *ok = false. */
double *clnn__ref_f64_zeros(size_t n, bool *ok);
/* dst[i] = (float)src[i]. */
void clnn__ref_to_f32(float *dst, const double *src, size_t n);
/* dst[i] = (float)((accumulate ? dst[i] : 0) + src[i]): added in double, rounded once. */
void clnn__ref_store_f32(float *dst, const double *src, size_t n, int accumulate);

/*
 * The one place that says how close a half-precision result must be to the
 * reference computed on the same (rounded) inputs: the relative L2 error of
 * float32 math rounded once to the type is about its unit roundoff (2^-11
 * for float16, 2^-8 for bfloat16); these bars leave room for float32
 * reductions and a second rounding of stored intermediates. 0 for float32
 * (each family keeps its own float32 tolerance).
 */
double clnn__ref_dtype_rel_l2(clnn_dtype dt);

/* ------------------------------------------------------------------ conv */
clnn_status clnn__ref_conv2d_fwd_f64(const clnn_conv2d_desc *d, const double *x, const double *w,
                                     const double *b, double *y);

/* ---------------------------------------------------------- conv backward */
/* Gradients of clnn__ref_conv2d_fwd_f64 without its activation: dx, dw and db
 * are overwritten (the float wrappers add when asked to accumulate). */
clnn_status clnn__ref_conv2d_bwd_data_f64(const clnn_conv2d_desc *d, const double *dy, const double *w,
                                          double *dx);
clnn_status clnn__ref_conv2d_bwd_weights_f64(const clnn_conv2d_desc *d, const double *x, const double *dy,
                                             double *dw);
clnn_status clnn__ref_conv2d_bwd_bias_f64(const clnn_conv2d_desc *d, const double *dy, double *db);

/* -------------------------------------------------------------- resample */
/* Pixel shuffle (unshuffle = false) or unshuffle, forward or backward, from
 * src to dst (shapes as the public functions; dst fully written). */
clnn_status clnn__ref_pixel_shuffle_f64(const clnn_pixel_shuffle_desc *d, bool unshuffle, bool backward,
                                        const double *src, double *dst);
/* Resize forward (src = x, dst = y) or backward (src = dy, dst = dx). */
clnn_status clnn__ref_resize_f64(const clnn_resize_desc *d, bool backward, const double *src, double *dst);

/* ------------------------------------------------------------------- roi */
/* RoI geometry uses the float32 rois (see host/roi.c); values are double.
 * argmax: int32 pixel indices of ROI_POOL (fwd: may be NULL; bwd: required). */
clnn_status clnn__ref_roi_fwd_f64(const clnn_roi_desc *d, const double *x, const float *rois, double *y,
                                  int32_t *argmax);
clnn_status clnn__ref_roi_bwd_f64(const clnn_roi_desc *d, const double *dy, const float *rois,
                                  const int32_t *argmax, double *dx);

/* ----------------------------------------------------------- deform_conv */
/* Deformable convolution v1/v2 (clnn_deform_conv2d_desc); mask NULL for v1,
 * b may be NULL; backward outputs may be NULL to skip them. */
clnn_status clnn__ref_deform_conv2d_fwd_f64(const clnn_deform_conv2d_desc *d, const double *x,
                                            const double *offset, const double *mask, const double *w,
                                            const double *b, double *y);
clnn_status clnn__ref_deform_conv2d_bwd_f64(const clnn_deform_conv2d_desc *d, const double *x,
                                            const double *offset, const double *mask, const double *w,
                                            const double *dy, double *dx, double *doffset,
                                            double *dmask, double *dw, double *db);

/* ------------------------------------------------------------------- act */
/* One activation in double: f(v), and f'(v) with PyTorch's one-sided
 * choices at the kinks, as kernels/common.h act_grad_*. */
double clnn__ref_act(double v, clnn_activation act, double alpha);
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
void clnn__ref_eltwise_mul_add_f64(int64_t outer, int64_t inner, const double *x, const double *s, double beta,
                                   const double *t, double *y);
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

/* ----------------------------------------------------------------- optim */
/* Steps on one flat array of n elements (a list step is the same step on the
 * concatenation); arrays are updated in place. found_inf may be NULL. */
clnn_status clnn__ref_adam_step_f64(const clnn_adam_desc *d, bool decoupled, size_t n, double *p,
                                    const double *g, double *m, double *v, double *vmax, int *found_inf);
clnn_status clnn__ref_sgd_step_f64(const clnn_sgd_desc *d, size_t n, double *p, const double *g,
                                   double *buf, int *found_inf);
clnn_status clnn__ref_clip_grad_norm_f64(size_t n, double *g, double max_norm, double *total_norm);
clnn_status clnn__ref_ema_update_f64(double decay, size_t n, double *ema, const double *p);

/* ------------------------------------------------- transposed convolution */
/* conv_transpose2d (clnn_conv_transpose2d_desc): outputs are overwritten
 * (the float wrappers add when asked to accumulate); b may be NULL; the
 * backward passes leave out the activation. */
clnn_status clnn__ref_conv_transpose2d_fwd_f64(const clnn_conv_transpose2d_desc *d, const double *x,
                                               const double *w, const double *b, double *y);
clnn_status clnn__ref_conv_transpose2d_bwd_data_f64(const clnn_conv_transpose2d_desc *d, const double *dy,
                                                    const double *w, double *dx);
clnn_status clnn__ref_conv_transpose2d_bwd_weights_f64(const clnn_conv_transpose2d_desc *d, const double *x,
                                                       const double *dy, double *dw);
clnn_status clnn__ref_conv_transpose2d_bwd_bias_f64(const clnn_conv_transpose2d_desc *d, const double *dy,
                                                    double *db);

#endif
