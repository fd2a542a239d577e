/*
 * subpixel.h - the sub-pixel rewrite of a strided transposed convolution
 * (ops/subpixel.c): its plan, the regrouping kernels of kernels/deconv.cl,
 * and its forward, which both the transposed convolution (ops/deconv.c)
 * and the convolution's data gradient (ops/conv_bwd.c) run.
 *
 * It sits between the convolution's forward (ops/conv.c, which its
 * stride-1 convolutions run on) and the convolution's backward: the
 * backward calls it, and it never calls the backward, so the two never
 * call each other. That is why the sub-pixel backward, whose weight
 * gradient is a convolution weight gradient, is put together in
 * ops/deconv.c from the steps below.
 *
 * Its scratch lives in the context's OUTER workspace (clnn__outer_workspace),
 * so that it outlives the inner convolutions, which use the workspace: a
 * caller that holds outer-workspace data must not reach clnn__subpixel_fwd
 * (deconv's "conv" algorithm calls clnn__conv2d_bwd_data_run_no_subpixel
 * for that reason).
 */
#ifndef CLNN_OPS_SUBPIXEL_H
#define CLNN_OPS_SUBPIXEL_H

#include "conv_internal.h"

/* One spatial dimension of a transposed convolution and of its sub-pixel
 * rewrite (see ops/subpixel.c). */
typedef struct clnn_subpixel_axis {
  int64_t in, out, k, s, p, op, dil; /* input and output length, kernel, stride, pad, output pad, dilation */
  int64_t taps, tdil;                /* sub-pixel convolutions: kernel length and dilation */
  int64_t off;                       /* output o is phase (o + off) % s of phase row (o + off) / s */
  int64_t zpad, shift, zlen;         /* forward: Z's padding, Z row of phase row 0, Z's length */
  int64_t qlen;                      /* backward: length of the regrouped dy */
} clnn_subpixel_axis;

/* The rewrite of one validated transposed convolution. */
typedef struct clnn_subpixel_plan {
  const clnn_conv_transpose2d_desc *d;
  int64_t oh, ow;      /* its output size */
  int64_t cgi, cgo;    /* channels per group: input (x), output (y) */
  int64_t phases;      /* stride_h * stride_w */
  clnn_subpixel_axis ah, aw;
  clnn_conv2d_desc zc; /* forward: x -> Z (n, phases*k, zlen_h, zlen_w) */
  clnn_conv2d_desc qc; /* backward: Q (n, phases*k, qlen_h, qlen_w) -> dx */
} clnn_subpixel_plan;

/* The plan of d, validated with output size oh x ow. */
clnn_subpixel_plan clnn__subpixel_plan(const clnn_conv_transpose2d_desc *d, int64_t oh, int64_t ow);
/* Whether the rewrite applies: dilation only where the stride is 1,
 * regrouped tensors within 32-bit indexing. */
bool clnn__subpixel_fits(const clnn_subpixel_plan *sp);
/* Whether the transposed convolution's planner runs the forward (bwd =
 * false) or the data and weight gradients (bwd = true) through the rewrite:
 * where it fits and wastes few multiply-adds, unless
 * CLNN_CONV_TRANSPOSE_ALGO says otherwise. */
bool clnn__subpixel_chosen(const clnn_context *ctx, const clnn_subpixel_plan *sp, bool bwd);

/* Scratch in the outer workspace for fixed elements plus per_image elements
 * for each image of a chunk; the chunk fits the workspace limit
 * (CLNN_ERR_UNSUPPORTED when one image does not). */
typedef struct clnn_subpixel_scratch {
  cl_mem mem;
  int64_t chunk;
} clnn_subpixel_scratch;
clnn_status clnn__subpixel_scratch(clnn_context *ctx, int64_t n, int64_t per_image, int64_t fixed, const char *what,
                                   clnn_subpixel_scratch *s);

/* y = the transposed convolution of x (bias b optional, the descriptor's
 * activation): weights regrouped, one stride-1 convolution and deconv_d2s
 * per chunk of images. */
clnn_status clnn__subpixel_fwd(clnn_context *ctx, const clnn_subpixel_plan *sp, clnn_conv_mem x, clnn_conv_mem w,
                               clnn_conv_mem b, clnn_conv_mem y);

/* The regrouping steps of the backward. deconv_pack_w: the weights
 * regrouped for the forward (backward = 0: wz) or the backward (1: wq). */
clnn_status clnn__subpixel_pack_w(clnn_context *ctx, const clnn_subpixel_plan *sp, clnn_conv_mem w,
                                  clnn_conv_mem out, int backward, const char *op);
/* deconv_s2d: dy of nimg images regrouped into Q. */
clnn_status clnn__subpixel_regroup_dy(clnn_context *ctx, const clnn_subpixel_plan *sp, clnn_conv_mem dy,
                                      clnn_conv_mem q, int64_t nimg, const char *op);
/* deconv_unpack_dw: dw (+)= the regrouped weight gradient dwq. */
clnn_status clnn__subpixel_unpack_dw(clnn_context *ctx, const clnn_subpixel_plan *sp, clnn_conv_mem dwq,
                                     clnn_conv_mem dw, bool accumulate, const char *op);
/* A window copy of nimg images of c planes from hs x ws to hd x wd,
 * zero-extended or cropped (the conv algorithm's output padding). */
clnn_status clnn__subpixel_window(clnn_context *ctx, int64_t c, int64_t hs, int64_t ws, int64_t hd, int64_t wd,
                                  clnn_conv_mem src, clnn_conv_mem dst, int64_t nimg, const char *op);

/* The convolution's data gradient through the rewrite: d (validated,
 * stride > 1) as the forward of clnn__conv_transpose2d_of_bwd_data(d).
 * Whether it takes that route, and the route (no bias, identity
 * activation; bit-deterministic; uses the outer workspace). */
bool clnn__subpixel_bwd_data_applies(const clnn_context *ctx, const clnn_conv2d_desc *d);
clnn_status clnn__subpixel_bwd_data(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem dy, clnn_conv_mem w,
                                    clnn_conv_mem dx);

#endif /* CLNN_OPS_SUBPIXEL_H */
