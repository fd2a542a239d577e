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

/* ----------------------------------------------------------------- optim */
/* Steps on one flat array of n elements (a list step is the same step on the
 * concatenation); arrays are updated in place. found_inf may be NULL. */
clnn_status clnn__ref_adam_step_f64(const clnn_adam_desc *d, bool decoupled, size_t n, double *p,
                                    const double *g, double *m, double *v, double *vmax, int *found_inf);
clnn_status clnn__ref_sgd_step_f64(const clnn_sgd_desc *d, size_t n, double *p, const double *g,
                                   double *buf, int *found_inf);
clnn_status clnn__ref_clip_grad_norm_f64(size_t n, double *g, double max_norm, double *total_norm);
clnn_status clnn__ref_ema_update_f64(double decay, size_t n, double *ema, const double *p);

#endif
