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

/* ---------------------------------------------------------- conv backward */
/* Gradients of clnn__ref_conv2d_fwd_f64 without its activation: dx, dw and db
 * are overwritten (the float wrappers add when asked to accumulate). */
clnn_status clnn__ref_conv2d_bwd_data_f64(const clnn_conv2d_desc *d, const double *dy, const double *w,
                                          double *dx);
clnn_status clnn__ref_conv2d_bwd_weights_f64(const clnn_conv2d_desc *d, const double *x, const double *dy,
                                             double *dw);
clnn_status clnn__ref_conv2d_bwd_bias_f64(const clnn_conv2d_desc *d, const double *dy, double *db);

#endif
