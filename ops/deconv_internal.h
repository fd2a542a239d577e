/*
 * deconv_internal.h - what ops/deconv.c offers the convolution family:
 * strided conv2d bwd_data run as the sub-pixel forward of the equivalent
 * transposed convolution.
 *
 * The data gradient of a convolution c (x: (n, c, h, w) -> dy: (n, k, oh,
 * ow), weights (k, c/g, kh, kw)) is the forward of the transposed
 * convolution from (n, k, oh, ow) to (n, c, h, w) with the same stride,
 * padding, dilation and groups and output padding
 *   op = h - ((oh - 1) * s - 2 p + d (kh - 1) + 1)   (in [0, s - 1]);
 * the conv weights already have the transposed convolution's layout
 * (cin = k, cout/g = c/g, kh, kw). Its sub-pixel forward (ops/deconv.c)
 * turns the strided problem into one stride-1 convolution with
 * stride_h * stride_w phase kernels plus two regrouping gathers, much
 * faster than a column matrix and col2im on CPU devices.
 *
 * The route keeps its scratch in the context's OUTER workspace
 * (clnn__outer_workspace), so a caller that holds outer-workspace data
 * must never reach it: deconv's own "conv" algorithm calls
 * clnn__conv2d_bwd_data_run_no_subpixel (ops/conv_internal.h) for that
 * reason. The sub-pixel forward itself only runs stride-1 forward
 * convolutions, which never come back here.
 */
#ifndef CLNN_OPS_DECONV_INTERNAL_H
#define CLNN_OPS_DECONV_INTERNAL_H

#include "conv_internal.h"

/* Whether the transposed-convolution planner picks its sub-pixel forward
 * for the equivalent of d's data gradient (d validated; stride > 1). */
bool clnn__deconv_subpixel_bwd_data_applies(const clnn_context *ctx, const clnn_conv2d_desc *d);

/* dx = the data gradient of d for dy, through the sub-pixel forward (no
 * bias, identity activation; bit-deterministic). Only where
 * clnn__deconv_subpixel_bwd_data_applies(d); uses the outer workspace. */
clnn_status clnn__deconv_subpixel_bwd_data(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem dy,
                                           clnn_conv_mem w, clnn_conv_mem dx);

#endif /* CLNN_OPS_DECONV_INTERNAL_H */
