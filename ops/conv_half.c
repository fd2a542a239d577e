/*
 * conv_half.c - the convolution's passes on float16 and bfloat16 tensors.
 *
 * The depthwise variants take half tensors directly (their rule in the
 * variant tables, clnn_conv_half_rule: memory-bound, they would spend more
 * on the copies than on the math). Every other variant of the four passes
 * (ops/conv.c, conv_bwd.c, conv_gpu.c) is written for float32, and most of
 * them already copy their inputs once before the math (packed weights,
 * padded planes, im2col panels). A half pass on one of those therefore
 * stages its tensors: each input is widened once into float32 (the
 * runtime's staging kernels, kernels/stage.cl), the float32 pass runs on
 * the copies as it runs for float32 tensors (the same variant, the same accumulation order),
 * and its float32 result is rounded once into the half output (nearest
 * even). The result equals the float32 computation on the half inputs,
 * rounded once, on every variant and device class, and float32 calls never
 * come here.
 *
 * The copies live in the outer workspace (clnn__outer_workspace): the pass
 * itself uses the shared workspace. The one variant that needs the outer
 * workspace as well, bwd_data's sub-pixel route, is refused by its
 * variant-table rule (the caller holds the outer workspace): half
 * bwd_data runs clnn__conv2d_bwd_data_run_no_subpixel.
 *
 * The transposed convolution (ops/deconv.c) uses the outer workspace for
 * its own sub-pixel scratch, so its copies go into a third buffer instead
 * (clnn__conv_stage_begin_apart, clnn__stage_workspace): every deconv
 * route stays open to half tensors.
 */
#include "conv_internal.h"

#include <stdio.h>

/* Staged tensors start at multiples of 16 floats (64 bytes): vector stores
 * of the float32 kernels stay aligned as they are on a fresh buffer. */
#define STAGE_ALIGN 16
/* Work-group size of the staging kernels: on PoCL, groups of 1 made them
 * about 10x slower (a scheduling step per 16 elements); 64 serves both
 * device classes. */
#define STAGE_LOCAL 64

static int64_t stage_floats(const clnn_tensor *t) {
  return t ? clnn__round_up((int64_t)t->numel, STAGE_ALIGN) : 0;
}

/* Room for the copies of the count tensors in the buffer grow() hands out. */
static clnn_status stage_begin(clnn_context *ctx, clnn_dtype dt, const clnn_tensor *const *tensors, int count,
                               const char *op, clnn_status (*grow)(clnn_context *, size_t, cl_mem *),
                               clnn_conv_stage *s) {
  int64_t floats = 0;
  for (int i = 0; i < count; i++) floats += stage_floats(tensors[i]);
  s->dt = dt;
  s->used = 0;
  s->op = op;
  return grow(ctx, (size_t)floats * sizeof(float), &s->ws);
}

clnn_status clnn__conv_stage_begin(clnn_context *ctx, clnn_dtype dt, const clnn_tensor *const *tensors, int count,
                                   const char *op, clnn_conv_stage *s) {
  return stage_begin(ctx, dt, tensors, count, op, clnn__outer_workspace, s);
}

clnn_status clnn__conv_stage_begin_apart(clnn_context *ctx, clnn_dtype dt, const clnn_tensor *const *tensors,
                                         int count, const char *op, clnn_conv_stage *s) {
  return stage_begin(ctx, dt, tensors, count, op, clnn__stage_workspace, s);
}

/* The next free float32 slot of t's size. */
static clnn_conv_mem stage_slot(clnn_conv_stage *s, const clnn_tensor *t) {
  clnn_conv_mem m = {s->ws, (size_t)s->used};
  s->used += stage_floats(t);
  return m;
}

/* One launch of stage_widen or stage_round (kernels/stage.cl, runtime/stage.c's
 * kernels: the convolution lays out buffer operands itself) over n elements. */
static clnn_status stage_launch(clnn_context *ctx, const clnn_conv_stage *s, const char *kernel, clnn_conv_mem src,
                                clnn_conv_mem dst, int64_t n) {
  char opts[32];
  snprintf(opts, sizeof opts, "-DDT=%d", (int)s->dt);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "stage", opts, kernel, &k));
  /* one work-item per 16 elements plus the tail's, in groups of 64 (the
   * kernels bound-check the rounded-up range) */
  size_t global[1] = {(size_t)(n / 16 + 1)}, local[1] = {STAGE_LOCAL};
  return clnn__launch(ctx, &k, CLNN_ARGS(CLNN_ARG_CONV_MEM(src), CLNN_ARG_CONV_MEM(dst), CLNN_ARG_U64(n)), 1,
                      global, local, s->op);
}

clnn_status clnn__conv_stage_in(clnn_context *ctx, clnn_conv_stage *s, const clnn_tensor *t, clnn_conv_mem *out) {
  if (!t) {
    *out = (clnn_conv_mem){NULL, 0};
    return CLNN_SUCCESS;
  }
  *out = stage_slot(s, t);
  return stage_launch(ctx, s, "stage_widen", clnn__conv_mem(t), *out, (int64_t)t->numel);
}

clnn_conv_mem clnn__conv_stage_out(clnn_conv_stage *s, const clnn_tensor *t) { return stage_slot(s, t); }

clnn_status clnn__conv_stage_round(clnn_context *ctx, const clnn_conv_stage *s, clnn_conv_mem f32, clnn_tensor *t) {
  return stage_launch(ctx, s, "stage_round", f32, clnn__conv_mem(t), (int64_t)t->numel);
}
