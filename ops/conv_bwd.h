/*
 * conv_bwd.h - the entry points of the convolution's backward passes
 * (ops/conv_bwd.c), which other op families run instead of copying the
 * math. Transposed convolution (ops/deconv.c), for one, is
 *   forward   = clnn__conv2d_bwd_data_run (with its bias and activation),
 *   bwd_data  = clnn__conv2d_fwd_run (act identity in its descriptor),
 *   bwd_weights = clnn__conv2d_bwd_weights_run with x := its output gradient
 *               and dy := its input,
 *   bias gradient = clnn__conv2d_bwd_bias_run on a 1x1 descriptor whose k is
 *               its output channel count and whose image is its output,
 * all (but the last) on the descriptor of the equivalent forward convolution.
 * As ops/conv_internal.h's *_run functions, they take validated descriptors
 * and checked operands, only enqueue, and use the context's workspace.
 *
 * The backward lies above the sub-pixel rewrite (ops/subpixel.h), whose
 * forward its data gradient may run; nothing below includes this file.
 */
#ifndef CLNN_OPS_CONV_BWD_H
#define CLNN_OPS_CONV_BWD_H

#include "conv_internal.h"

/* dx = act(conv_transpose(dy, w) + bias[c]): the gradient of the forward
 * with respect to x when bias.mem is NULL and act is identity. */
clnn_status clnn__conv2d_bwd_data_run(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem dy,
                                      clnn_conv_mem w, clnn_conv_mem bias, clnn_activation act, float act_alpha,
                                      clnn_conv_mem dx);

/* The same without the sub-pixel route (ops/subpixel.h), which uses the
 * outer workspace: for callers that hold data there (deconv's "conv"
 * algorithm). clnn__conv2d_bwd_data_run takes that route for strided
 * problems without bias and activation where it pays. */
clnn_status clnn__conv2d_bwd_data_run_no_subpixel(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem dy,
                                                  clnn_conv_mem w, clnn_conv_mem bias, clnn_activation act,
                                                  float act_alpha, clnn_conv_mem dx);

/* dw (+)= the gradient of the forward with respect to w. */
clnn_status clnn__conv2d_bwd_weights_run(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem x,
                                         clnn_conv_mem dy, clnn_conv_mem dw, bool accumulate);

/* db (+)= the sum of dy over images and pixels, per output channel. */
clnn_status clnn__conv2d_bwd_bias_run(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem dy,
                                      clnn_conv_mem db, bool accumulate);

/* The algorithm each backward pass picks for a validated descriptor. */
clnn_conv_algo clnn__conv2d_bwd_data_algo(const clnn_context *ctx, const clnn_conv2d_desc *d);
clnn_conv_algo clnn__conv2d_bwd_weights_algo(const clnn_context *ctx, const clnn_conv2d_desc *d);

#endif /* CLNN_OPS_CONV_BWD_H */
