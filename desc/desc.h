/*
 * desc.h - the descriptor layer: every op family's descriptor defaults
 * (clnn_<op>_desc_make), validation (clnn_<op>_desc_check) and output
 * shapes, one file per family in desc/. It lies below both the device ops
 * (ops/) and the host reference (host/), which validate a descriptor with
 * the same code and the same words, and it touches no device.
 *
 * Each clnn__<op>_desc_check(ctx, ...) is the public clnn_<op>_desc_check
 * with its messages going to ctx (to the thread's message when ctx is
 * NULL), so that an op reports a bad descriptor under its own name.
 */
#ifndef CLNN_DESC_H
#define CLNN_DESC_H

#include "../runtime/internal.h"

/* ------------------------------------------------------------------- act */
clnn_status clnn__act_desc_check(clnn_context *ctx, const clnn_act_desc *d, int64_t *out_c);

/* ------------------------------------------------------------------ conv */
clnn_status clnn__conv2d_desc_check(clnn_context *ctx, const clnn_conv2d_desc *d, int64_t *oh, int64_t *ow);
/* The output size of a validated descriptor. */
void clnn__conv2d_out_size(const clnn_conv2d_desc *d, int64_t *oh, int64_t *ow);

/* ------------------------------------------------- transposed convolution */
clnn_status clnn__conv_transpose2d_desc_check(clnn_context *ctx, const clnn_conv_transpose2d_desc *d, int64_t *oh,
                                              int64_t *ow);
/* The transposed convolution whose forward is the data gradient of the
 * validated convolution d: from d's output to its input, with d's weights,
 * stride, padding, dilation and groups, the output padding that gives back
 * d's input size, no bias and the identity activation. */
clnn_conv_transpose2d_desc clnn__conv_transpose2d_of_bwd_data(const clnn_conv2d_desc *d);

/* ----------------------------------------------------------- deform_conv */
clnn_status clnn__deform_conv2d_desc_check(clnn_context *ctx, const clnn_deform_conv2d_desc *d, int64_t *oh,
                                           int64_t *ow);

/* ---------------------------------------------------------------- linear */
clnn_status clnn__linear_desc_check(clnn_context *ctx, const clnn_linear_desc *d);

/* ------------------------------------------------------------------ loss */
clnn_status clnn__loss_class_desc_check(clnn_context *ctx, const clnn_loss_class_desc *d);
clnn_status clnn__loss_infonce_desc_check(clnn_context *ctx, const clnn_loss_infonce_desc *d);

/* ------------------------------------------------------------------ norm */
clnn_status clnn__batchnorm_desc_check(clnn_context *ctx, const clnn_batchnorm_desc *d);

/* ----------------------------------------------------------------- optim */
/* What the Adam kernel computes with, derived from a descriptor. */
typedef struct clnn_adam_scalars {
  float gmul, wd, decay, beta1, omb1, beta2, omb2, step_size, inv_sqrt_bc2, eps;
} clnn_adam_scalars;
/* What the SGD kernel computes with. */
typedef struct clnn_sgd_scalars {
  float gmul, wd, momentum, omd, lr;
} clnn_sgd_scalars;
/* Validate d and, when s is not NULL, derive its scalars (each must stay a
 * finite float32). */
clnn_status clnn__adam_desc_check(clnn_context *ctx, const clnn_adam_desc *d, clnn_adam_scalars *s);
clnn_status clnn__sgd_desc_check(clnn_context *ctx, const clnn_sgd_desc *d, clnn_sgd_scalars *s);

/* ------------------------------------------------------------------ pool */
clnn_status clnn__pool2d_desc_check(clnn_context *ctx, const clnn_pool2d_desc *d, int64_t *oh, int64_t *ow);

/* -------------------------------------------------------------- resample */
/* Pixel shuffle (unshuffle = false) or unshuffle; y_dims may be NULL. */
clnn_status clnn__pixel_shuffle_desc_check(clnn_context *ctx, const clnn_pixel_shuffle_desc *d, bool unshuffle,
                                           int64_t y_dims[4]);
clnn_status clnn__resize_desc_check(clnn_context *ctx, const clnn_resize_desc *d);
/*
 * PyTorch's sampling of one dimension of a resize from in to out elements:
 * output o reads inputs i0[o] and i1[o] with weights l0[o] and l1[o] (for
 * nearest i1 = i0, l0 = 1, l1 = 0). scale is the descriptor's scale_h or
 * scale_w. The host reference and the device ops' tables both come from it.
 */
void clnn__resize_taps(int64_t in, int64_t out, clnn_resize_mode mode, int align_corners, double scale,
                       int32_t *i0, int32_t *i1, float *l0, float *l1);

/* ------------------------------------------------------------------- roi */
clnn_status clnn__roi_desc_check(clnn_context *ctx, const clnn_roi_desc *d, int64_t *out_c);
/* Every RoI row of a validated descriptor: finite, an integer batch index
 * in range, x1 <= x2 and y1 <= y2, scaled coordinates within +-2^24. */
clnn_status clnn__roi_rois_check(clnn_context *ctx, const clnn_roi_desc *d, const float *rois);
/* Whether the op is position-sensitive (PS RoI align or pool). */
static inline bool clnn__roi_is_ps(const clnn_roi_desc *d) {
  return d->op == CLNN_PS_ROI_ALIGN || d->op == CLNN_PS_ROI_POOL;
}

#endif /* CLNN_DESC_H */
