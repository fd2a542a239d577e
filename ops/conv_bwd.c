/*
 * conv_bwd.c - 2-D convolution backward: the data, weight and bias
 * gradients (kernels/conv/), one variant table per pass (after each
 * pass's launches, best first; each entry also names the clnn_conv_algo
 * the legacy queries report for it). Every variant is deterministic:
 * scatters are written as gathers and every reduction has a fixed order.
 * The GPU-class variants (gpu_*) are ops/conv_gpu.c's.
 *
 * bwd_d (dx = transposed convolution of dy with w):
 *  - depthwise_flat, depthwise_strips: groups == c; the forward's depthwise
 *    programs. The strip kernel gives each work-item one dx plane, dy rows
 *    in a private ring (stride 2: even and odd dx columns computed apart;
 *    larger strides: dy rows zero-inserted).
 *  - gemm_1x1_packed, gemm_1x1: 1x1, stride 1, no padding: dx = w^T dy.
 *  - as_fwd: stride 1 on the own engine. bwd_data is then a forward
 *    convolution of dy (padding dil*(k-1) - pad) with the weights' channels
 *    swapped and taps flipped, planned on the forward's table.
 *  - subpixel: strided problems on the own engine where it pays (grouped
 *    3x3 s2, 5x5 s2, ...): the transposed convolution's sub-pixel forward
 *    (ops/subpixel.h): weights regrouped into stride_h * stride_w phase
 *    kernels, one stride-1 forward convolution, the phases interleaved.
 *  - col2im: the rest. dcol = w^T dy (GEMM, chunks of images), then
 *    conv_col2im, where each dx element gathers its own contributions.
 * bwd_w (dw = correlation of x with dy, summed over images):
 *  - depthwise_flat, depthwise_strips: per (channel, part of the batch).
 *  - gemm_1x1_packed: 1x1 on planes of 16 pixels or more: dot products of
 *    dy and x rows per part of the batch, the parts added in order.
 *  - winograd (ops/conv_winograd.c): 3x3, stride 1, one group, 64+ channels
 *    in and out: F(3x3, 4x4), the tiles' transforms and a batched own GEMM
 *    reducing over the tiles, per chunk of images in order.
 *  - packed (own engine): conv_bwdw_packed, a GEMM with the pixels as its
 *    reduction axis, per-slot partial sums added in slot order by
 *    conv_bwdw_reduce (stride 1 reads padded planes of x, other strides
 *    gather patches).
 *  - im2col_gemm: transposed im2col, then one GEMM per image accumulating
 *    into dw (beta = 1) in image order.
 * bwd_b: per_channel, conv_bwd_bias, one work-item per channel.
 */
#include "conv_bwd.h"
#include "subpixel.h"
#include "../runtime/variants.h"

#include <stdio.h>
#include <string.h>

/* conv_bwdw_packed: pixels per sub-chunk, patch rows per block, output
 * channels per work-item (see the kernel). */
#define BW_PC 128
#define BW_KC 256
#define BW_NB 128
/* Work-items the weight-gradient kernels aim for: enough to keep every
 * core of a CPU device busy with some balance. */
#define BWD_TARGET_ITEMS 16
/* Partial sums and padded planes of one chunk of images. */
#define BW_BUDGET ((size_t)64 << 20)

typedef clnn_conv_geom conv_geom;

/* ================================================================ bwd_data */

/* Small planes: conv_dwf_bwd_data, G images per work-item. */
static clnn_status bwd_data_depthwise_flat(clnn_context *ctx, const conv_geom *g, const clnn_conv_dwf_geom *f,
                                           clnn_conv_mem dy, clnn_conv_mem w, clnn_conv_mem bias, clnn_activation act,
                                           float act_alpha, clnn_conv_mem dx) {
  const clnn_conv2d_desc *d = g->d;
  clnn_kernel_ref k;
  CLNN_TRY(clnn__conv_dwf_kernel(ctx, d, f, g->dt, act, act_alpha, "conv_dwf_bwd_data", &k));
  size_t global[2] = {(size_t)d->c, (size_t)clnn__ceil_div(d->n, f->g)}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(dy), CLNN_ARG_CONV_MEM(w), CLNN_ARG_CONV_MEM(bias),
                                CLNN_ARG_CONV_MEM(dx), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->k),
                                CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w), CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow),
                                CLNN_ARG_I32(f->pt), CLNN_ARG_I32(f->pl), CLNN_ARG_I32(f->g), CLNN_ARG_I32(f->hs),
                                CLNN_ARG_I32(f->ws), CLNN_ARG_I32(f->phs), CLNN_ARG_I32(f->nq),
                                CLNN_ARG_I32(bias.mem ? 1 : 0)),
                      2, global, local, "conv2d_bwd_data:depthwise_flat");
}

static clnn_status bwd_data_depthwise(clnn_context *ctx, const conv_geom *g, clnn_conv_mem dy, clnn_conv_mem w,
                                      clnn_conv_mem bias, clnn_activation act, float act_alpha, clnn_conv_mem dx) {
  const clnn_conv2d_desc *d = g->d;
  clnn_conv_dwf_geom f;
  if (clnn__conv_dw_flat(d, g->oh, g->ow, true, &f))
    return bwd_data_depthwise_flat(ctx, g, &f, dy, w, bias, act, act_alpha, dx);
  clnn_conv_dw_geom b = clnn__conv_dw_geometry(d, g->ow);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__conv_dw_kernel(ctx, d, &b, g->dt, act, act_alpha, "conv_dw_bwd_data", &k));
  size_t global[1] = {(size_t)(d->n * d->c)}, local[1] = {1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(dy), CLNN_ARG_CONV_MEM(w), CLNN_ARG_CONV_MEM(bias),
                                CLNN_ARG_CONV_MEM(dx), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->k), CLNN_ARG_I32(d->h),
                                CLNN_ARG_I32(d->w), CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow), CLNN_ARG_I32(d->pad_h),
                                CLNN_ARG_I32(d->pad_w), CLNN_ARG_I32(d->dilation_h), CLNN_ARG_I32(d->dilation_w),
                                CLNN_ARG_I32(bias.mem ? 1 : 0)),
                      1, global, local, "conv2d_bwd_data:depthwise_direct");
}

/* Transpose each group's weights (kg x rest) into ws at element 0, so the
 * GEMMs dx = w^T dy read A untransposed (the engines' fast path). */
static clnn_status transpose_weights(clnn_context *ctx, const conv_geom *g, clnn_conv_mem w, cl_mem ws,
                                     const char *op) {
  int64_t rest = g->kd; /* cg * kh * kw */
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("support"), "", "conv_transpose_w", &k));
  size_t global[2] = {(size_t)clnn__round_up(rest, 16), (size_t)g->d->groups}, local[2] = {16, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(w), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_I32(g->kg),
                                CLNN_ARG_I32(rest)),
                      2, global, local, op);
}

/* 1x1, stride 1, no padding: dx_g = w_g^T dy_g for every image, one GEMM. */
static clnn_status bwd_data_gemm_1x1(clnn_context *ctx, const conv_geom *g, clnn_conv_mem dy, clnn_conv_mem w,
                                     clnn_conv_mem bias, clnn_activation act, float act_alpha, clnn_conv_mem dx) {
  const clnn_conv2d_desc *d = g->d;
  const char *op = "conv2d_bwd_data:gemm_1x1";
  if (clnn__conv_1x1_chunked(ctx, d))
    return clnn__conv_1x1_gemm(ctx, d->n, d->c, d->k, g->npix, w, true, bias, act, act_alpha, dy, dx, op);
  int64_t chunk;
  CLNN_TRY(clnn__conv_chunk(ctx, 1, d->k * g->cg, 0, ctx->workspace_limit, "transposed weights", &chunk));
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(d->k * g->cg) * sizeof(float), &ws));
  CLNN_TRY(transpose_weights(ctx, g, w, ws, op));
  clnn_gemm_job j = clnn__gemm_job(g->cg, g->npix, g->kg);
  j.nb1 = d->n;
  j.nb2 = d->groups;
  j.a = ws; /* w_g^T: cg x kg */
  j.a_off = 0;
  j.lda = g->kg;
  j.a_s2 = g->kg * g->cg;
  j.b = dy.mem;
  j.b_off = dy.off;
  j.ldb = g->npix;
  j.b_s1 = d->k * g->npix;
  j.b_s2 = g->kg * g->npix;
  j.c = dx.mem;
  j.c_off = dx.off;
  j.ldc = g->npix;
  j.c_s1 = d->c * g->npix;
  j.c_s2 = g->cg * g->npix;
  if (bias.mem) {
    j.bias = bias.mem;
    j.bias_off = bias.off;
    j.bias_s2 = g->cg;
  }
  j.act = act;
  j.act_alpha = act_alpha;
  return clnn__gemm_run(ctx, &j, op);
}

/*
 * Stride 1 on the own engine: the forward convolution of dy, padded by
 * dil*(k-1) - pad (negative: cropped, then patches are gathered), with the
 * weights' channels swapped and taps flipped, gives dx.
 */
/* dx of a stride-1 convolution as the forward convolution of dy with its
 * flipped, transposed weights: that forward's descriptor. */
static clnn_conv2d_desc as_fwd_desc(const conv_geom *g, clnn_activation act, float act_alpha) {
  const clnn_conv2d_desc *d = g->d;
  clnn_conv2d_desc td = *d;
  td.c = d->k;
  td.h = g->oh;
  td.w = g->ow;
  td.k = d->c;
  td.pad_h = d->dilation_h * (d->kh - 1) - d->pad_h;
  td.pad_w = d->dilation_w * (d->kw - 1) - d->pad_w;
  td.act = act;
  td.act_alpha = act_alpha;
  return td;
}

static clnn_status bwd_data_implicit(clnn_context *ctx, const conv_geom *g, clnn_conv_mem dy, clnn_conv_mem w,
                                     clnn_conv_mem bias, clnn_activation act, float act_alpha, clnn_conv_mem dx) {
  const clnn_conv2d_desc *d = g->d;
  clnn_conv2d_desc td = as_fwd_desc(g, act, act_alpha);
  conv_geom tg = clnn__conv_geometry(&td, d->h, d->w);
  clnn_conv_fwd_problem p = {&tg, true};
  return clnn__conv_fwd_problem_run(ctx, &p, dy, w, bias, dx, "conv2d_bwd_data:implicit_gemm");
}

static clnn_status launch_col2im(clnn_context *ctx, const conv_geom *g, cl_mem col, size_t col_off, clnn_conv_mem bias,
                                 clnn_activation act, float act_alpha, clnn_conv_mem dx, int64_t nimg,
                                 const char *op) {
  const clnn_conv2d_desc *d = g->d;
  char opts[128], acts[64];
  clnn__act_options(acts, sizeof acts, act, act_alpha);
  snprintf(opts, sizeof opts, "-DCOL2IM=1 -DHAS_BIAS=%d%s", bias.mem ? 1 : 0, acts);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("col2im"), opts, "conv_col2im", &k));
  size_t global[2] = {(size_t)clnn__ceil_div(d->h, CLNN_CONV_C2I_ROWS), (size_t)(nimg * d->c)}, local[2] = {1, 1};
  return clnn__launch(
      ctx, &k,
      CLNN_ARGS(CLNN_ARG_MEM(col), CLNN_ARG_U64(col_off), CLNN_ARG_CONV_MEM(bias), CLNN_ARG_CONV_MEM(dx),
                CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w), CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow),
                CLNN_ARG_I32(d->kh), CLNN_ARG_I32(d->kw), CLNN_ARG_I32(d->stride_h), CLNN_ARG_I32(d->stride_w),
                CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w), CLNN_ARG_I32(d->dilation_h),
                CLNN_ARG_I32(d->dilation_w), CLNN_ARG_I32(d->groups)),
      2, global, local, op);
}

/* General: dcol = w^T dy per (image, group) in chunks, then col2im as a gather. */
static clnn_status bwd_data_col2im(clnn_context *ctx, const conv_geom *g, clnn_conv_mem dy, clnn_conv_mem w,
                                   clnn_conv_mem bias, clnn_activation act, float act_alpha, clnn_conv_mem dx) {
  const clnn_conv2d_desc *d = g->d;
  const char *op = "conv2d_bwd_data:im2col_gemm";
  int64_t per_group = g->kd * g->npix, per_image = per_group * d->groups, wt = d->k * g->kd, chunk;
  CLNN_TRY(clnn__conv_chunk(ctx, d->n, per_image, wt, CLNN_CONV_CHUNK_BYTES, "columns", &chunk));
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(wt + chunk * per_image) * sizeof(float), &ws));
  CLNN_TRY(transpose_weights(ctx, g, w, ws, op));
  for (int64_t img0 = 0; img0 < d->n; img0 += chunk) {
    int64_t nimg = clnn__min64(chunk, d->n - img0);
    clnn_gemm_job j = clnn__gemm_job(g->kd, g->npix, g->kg);
    j.nb1 = nimg;
    j.nb2 = d->groups;
    j.a = ws; /* w_g^T: kd x kg */
    j.a_off = 0;
    j.lda = g->kg;
    j.a_s2 = g->kg * g->kd;
    j.b = dy.mem;
    j.b_off = dy.off + (size_t)(img0 * d->k * g->npix);
    j.ldb = g->npix;
    j.b_s1 = d->k * g->npix;
    j.b_s2 = g->kg * g->npix;
    j.c = ws;
    j.c_off = (size_t)wt;
    j.ldc = g->npix;
    j.c_s1 = per_image;
    j.c_s2 = per_group;
    CLNN_TRY(clnn__gemm_run(ctx, &j, op));
    CLNN_TRY(launch_col2im(ctx, g, ws, (size_t)wt, bias, act, act_alpha,
                           clnn__conv_mem_at(dx, img0 * d->c * d->h * d->w), nimg, op));
  }
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------ bwd_data variants */

/* What the bwd_data planner sees: the geometry and the fused epilogue
 * (transposed convolution's forward adds a bias and an activation). */
typedef struct bwd_data_problem {
  const conv_geom *g;
  bool has_bias;
  clnn_activation act;
  bool allow_subpixel; /* false where the caller holds the outer workspace */
} bwd_data_problem;

typedef clnn_status (*bwd_data_fn)(clnn_context *ctx, const conv_geom *g, clnn_conv_mem dy, clnn_conv_mem w,
                                   clnn_conv_mem bias, clnn_activation act, float act_alpha, clnn_conv_mem dx);

typedef struct bwd_data_variant {
  clnn_variant v;
  clnn_conv_algo algo; /* what clnn_conv2d_bwd_data_algo reports for it */
  bwd_data_fn run;
  clnn_conv_half_rule half_direct; /* NULL: half tensors are staged */
} bwd_data_variant;

#define BD_PROBLEM(p) ((const bwd_data_problem *)(p))

static bool bd_depthwise_flat_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const conv_geom *g = BD_PROBLEM(problem)->g;
  clnn_conv_dwf_geom f;
  if (!clnn__conv_is_depthwise(g->d)) return clnn__why(why, n, "not depthwise (groups == c, k a multiple of c)");
  return clnn__conv_dw_flat(g->d, g->oh, g->ow, true, &f) ||
         clnn__why(why, n, "planes too large for its private buffers, or padding beyond the kernel's extent");
}

static clnn_status bd_depthwise_flat_run(clnn_context *ctx, const conv_geom *g, clnn_conv_mem dy, clnn_conv_mem w,
                                         clnn_conv_mem bias, clnn_activation act, float act_alpha, clnn_conv_mem dx) {
  clnn_conv_dwf_geom f;
  clnn__conv_dw_flat(g->d, g->oh, g->ow, true, &f);
  return bwd_data_depthwise_flat(ctx, g, &f, dy, w, bias, act, act_alpha, dx);
}

static bool bd_depthwise_strips_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const conv_geom *g = BD_PROBLEM(problem)->g;
  if (!clnn__conv_is_depthwise(g->d)) return clnn__why(why, n, "not depthwise (groups == c, k a multiple of c)");
  return clnn__conv_dw_fits(g->d, g->ow) || clnn__why(why, n, "rows too long for its private ring");
}

/* With a channel multiplier above 1 the strip kernel adds each channel's
 * share to the dx it stored for the previous one: a half dx would be
 * rounded between channels, so those problems are staged. */
static bool bd_depthwise_strips_half(const conv_geom *g) { return g->d->k == g->d->c; }

static bool bd_gemm_1x1_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const clnn_conv2d_desc *d = BD_PROBLEM(problem)->g->d;
  if (!clnn__conv_is_1x1_plain(d))
    return clnn__why(why, n, "not a 1x1 kernel with stride 1 and no padding");
  return !clnn__bad_stride(d->h * d->w) ||
         clnn__why(why, n, "h * w is a power of two of 1024 or more (cache conflicts)");
}

static bool bd_gemm_1x1_packed_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  if (!bd_gemm_1x1_applies(ctx, problem, why, n) || !clnn__own_engine_applies(ctx, why, n)) return false;
  return clnn__conv_1x1_chunked(ctx, BD_PROBLEM(problem)->g->d) ||
         clnn__why(why, n, "needs groups == 1 and planes of 16 pixels or more");
}

/* Only the forward's own-engine variants take transposed weights, and some
 * of them need more local memory than a device may have (32 KiB on Intel's
 * CPU runtime and Oclgrind): ask the forward's plan, as the run will. */
static bool bd_as_fwd_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  const bwd_data_problem *p = BD_PROBLEM(problem);
  if (!clnn__own_engine_applies(ctx, why, n)) return false;
  if (!clnn__conv_is_stride1(p->g->d)) return clnn__why(why, n, "needs stride 1");
  clnn_conv2d_desc td = as_fwd_desc(p->g, p->act, 0.0f);
  conv_geom tg = clnn__conv_geometry(&td, p->g->d->h, p->g->d->w);
  clnn_conv_fwd_problem fp = {&tg, true};
  size_t i;
  return clnn__plan_query(ctx, &clnn__conv_fwd_variants, &fp, &i) == CLNN_SUCCESS ||
         clnn__why(why, n, "no forward variant takes its transposed weights on this device");
}

/* Strided, own engine, no fused epilogue: the transposed convolution's
 * sub-pixel forward (ops/subpixel.h). */
static bool bd_subpixel_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  const bwd_data_problem *p = BD_PROBLEM(problem);
  if (!clnn__own_engine_applies(ctx, why, n)) return false;
  /* deconv's "conv" algorithm and every half-precision bwd_data (its float32
   * copies, ops/conv_half.c) hold the outer workspace */
  if (!p->allow_subpixel)
    return clnn__why(why, n, "the caller holds the outer workspace it needs (deconv, or float16/bfloat16 staging)");
  if (p->has_bias || p->act != CLNN_ACT_IDENTITY) return clnn__why(why, n, "no fused bias or activation");
  if (clnn__conv_is_stride1(p->g->d)) return clnn__why(why, n, "needs a stride above 1");
  return clnn__subpixel_bwd_data_applies(ctx, p->g->d) ||
         clnn__why(why, n, "the transposed convolution's planner would not pick sub-pixel here");
}

static clnn_status bd_subpixel_run(clnn_context *ctx, const conv_geom *g, clnn_conv_mem dy, clnn_conv_mem w,
                                   clnn_conv_mem bias, clnn_activation act, float act_alpha, clnn_conv_mem dx) {
  (void)bias;
  (void)act;
  (void)act_alpha;
  return clnn__subpixel_bwd_data(ctx, g->d, dy, w, dx);
}

static bool bd_gpu_depthwise_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  return clnn__conv_gpu_dw_applies(ctx, BD_PROBLEM(problem)->g->d, why, n);
}

static bool bd_gpu_implicit_gemm_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)problem;
  return clnn__conv_gpu_gemm_fits(ctx, why, n);
}

static const bwd_data_variant bwd_data_variants[] = {
    {{"conv.bwd_d.gpu_depthwise", CLNN_DEVICE_CLASS_GPU, bd_gpu_depthwise_applies}, CLNN_CONV_ALGO_DEPTHWISE_DIRECT,
     clnn__conv_gpu_dw_bwd_data, NULL},
    {{"conv.bwd_d.gpu_implicit_gemm", CLNN_DEVICE_CLASS_GPU, bd_gpu_implicit_gemm_applies},
     CLNN_CONV_ALGO_IMPLICIT_GEMM, clnn__conv_gpu_bwd_data, NULL},
    {{"conv.bwd_d.depthwise_flat", CLNN_CLASS_ANY, bd_depthwise_flat_applies}, CLNN_CONV_ALGO_DEPTHWISE_DIRECT,
     bd_depthwise_flat_run, clnn__conv_half_direct},
    {{"conv.bwd_d.depthwise_strips", CLNN_CLASS_ANY, bd_depthwise_strips_applies},
     CLNN_CONV_ALGO_DEPTHWISE_DIRECT, bwd_data_depthwise, bd_depthwise_strips_half},
    {{"conv.bwd_d.gemm_1x1_packed", CLNN_DEVICE_CLASS_CPU, bd_gemm_1x1_packed_applies}, CLNN_CONV_ALGO_GEMM_1X1,
     bwd_data_gemm_1x1, NULL},
    {{"conv.bwd_d.gemm_1x1", CLNN_CLASS_ANY, bd_gemm_1x1_applies}, CLNN_CONV_ALGO_GEMM_1X1, bwd_data_gemm_1x1, NULL},
    {{"conv.bwd_d.as_fwd", CLNN_DEVICE_CLASS_CPU, bd_as_fwd_applies}, CLNN_CONV_ALGO_IMPLICIT_GEMM,
     bwd_data_implicit, NULL},
    {{"conv.bwd_d.subpixel", CLNN_DEVICE_CLASS_CPU, bd_subpixel_applies}, CLNN_CONV_ALGO_IM2COL_GEMM,
     bd_subpixel_run, NULL},
    {{"conv.bwd_d.col2im", CLNN_CLASS_ANY, NULL}, CLNN_CONV_ALGO_IM2COL_GEMM, bwd_data_col2im, NULL},
};

const clnn_variant_table clnn__conv_bwd_data_variants = {"conv", "bwd_d", &bwd_data_variants[0].v,
                                                         sizeof bwd_data_variants / sizeof bwd_data_variants[0],
                                                         sizeof bwd_data_variants[0]};

/* Whether variant i runs p's tensors as they are: float32 ones, or half
 * ones by its rule. */
static bool bd_takes(size_t i, const bwd_data_problem *p) {
  const clnn_conv_half_rule rule = bwd_data_variants[i].half_direct;
  return p->g->dt == CLNN_FLOAT32 || (rule && rule(p->g));
}

static clnn_status bwd_data_problem_run(clnn_context *ctx, const bwd_data_problem *p, clnn_conv_mem dy,
                                        clnn_conv_mem w, clnn_conv_mem bias, float act_alpha, clnn_conv_mem dx) {
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, &clnn__conv_bwd_data_variants, p, &i));
  if (!bd_takes(i, p)) /* bwd_data_half asks first */
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED, "%s does not take %s tensors directly", bwd_data_variants[i].v.name,
                      clnn_dtype_name(p->g->dt));
  return bwd_data_variants[i].run(ctx, p->g, dy, w, bias, p->act, act_alpha, dx);
}

static clnn_status bwd_data_dispatch(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem dy, clnn_conv_mem w,
                                     clnn_conv_mem bias, clnn_activation act, float act_alpha, clnn_conv_mem dx,
                                     bool allow_subpixel) {
  int64_t oh, ow;
  clnn__conv2d_out_size(d, &oh, &ow);
  conv_geom g = clnn__conv_geometry(d, oh, ow);
  bwd_data_problem p = {&g, bias.mem != NULL, act, allow_subpixel};
  return bwd_data_problem_run(ctx, &p, dy, w, bias, act_alpha, dx);
}

clnn_status clnn__conv2d_bwd_data_run_no_subpixel(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem dy,
                                                  clnn_conv_mem w, clnn_conv_mem bias, clnn_activation act,
                                                  float act_alpha, clnn_conv_mem dx) {
  return bwd_data_dispatch(ctx, d, dy, w, bias, act, act_alpha, dx, false);
}

clnn_status clnn__conv2d_bwd_data_run(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem dy,
                                      clnn_conv_mem w, clnn_conv_mem bias, clnn_activation act, float act_alpha,
                                      clnn_conv_mem dx) {
  return bwd_data_dispatch(ctx, d, dy, w, bias, act, act_alpha, dx, true);
}

clnn_conv_algo clnn__conv2d_bwd_data_algo(const clnn_context *ctx, const clnn_conv2d_desc *d) {
  int64_t oh, ow;
  clnn__conv2d_out_size(d, &oh, &ow);
  conv_geom g = clnn__conv_geometry(d, oh, ow);
  bwd_data_problem p = {&g, false, CLNN_ACT_IDENTITY, true};
  size_t i;
  if (clnn__plan_query(ctx, &clnn__conv_bwd_data_variants, &p, &i) != CLNN_SUCCESS) return CLNN_CONV_ALGO_IM2COL_GEMM;
  return bwd_data_variants[i].algo;
}

/* ============================================================= bwd_weights */

/* out (+)= the nparts partial sums in order; out of type dt (a half out is
 * rounded once). */
static clnn_status launch_sum_parts(clnn_context *ctx, cl_mem parts, int64_t n, int64_t nparts, clnn_conv_mem out,
                                    clnn_dtype dt, bool accumulate, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("support"), clnn__conv_dt_option(dt), "conv_sum_parts", &k));
  size_t global[1] = {(size_t)clnn__round_up(n, 16)}, local[1] = {16};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_MEM(parts), CLNN_ARG_U64(0), CLNN_ARG_CONV_MEM(out), CLNN_ARG_I32(n),
                                CLNN_ARG_I32(nparts), CLNN_ARG_I32(accumulate ? 1 : 0)),
                      1, global, local, op);
}

/* The depthwise weight-gradient kernels write float32 sums: into dw itself
 * (a float32 dw, one part of the batch) or into partial sums in the
 * workspace that conv_sum_parts adds in part order (several parts, or a
 * half dw, which is rounded once there). */
static bool dw_via_parts(const conv_geom *g, int64_t parts) { return parts > 1 || g->dt != CLNN_FLOAT32; }

/* Work-items the flat depthwise weight gradient aims for: parts of the
 * batch are added while there are fewer (channels x parts). */
#define DWF_BWDW_ITEMS 64

/* Small planes: conv_dwf_bwd_weights per (channel, part of the batch),
 * parts of whole buffer fills, then summed in part order. */
static clnn_status bwd_weights_depthwise_flat(clnn_context *ctx, const conv_geom *g, const clnn_conv_dwf_geom *f,
                                              clnn_conv_mem x, clnn_conv_mem dy, clnn_conv_mem dw, bool accumulate) {
  const clnn_conv2d_desc *d = g->d;
  const char *op = "conv2d_bwd_weights:depthwise_flat";
  int64_t taps = d->kh * d->kw, fills = clnn__ceil_div(d->n, f->g);
  int64_t parts = clnn__min64(fills, clnn__ceil_div(DWF_BWDW_ITEMS, d->k));
  int64_t img_per_part = clnn__ceil_div(fills, parts) * f->g;
  parts = clnn__ceil_div(d->n, img_per_part);
  if ((uint64_t)(parts * d->k * taps) * sizeof(float) > ctx->workspace_limit) parts = 1, img_per_part = d->n;
  const bool via_parts = dw_via_parts(g, parts);
  clnn_conv_mem out = dw;
  cl_mem ws = NULL;
  if (via_parts) {
    CLNN_TRY(clnn__workspace(ctx, (size_t)(parts * d->k * taps) * sizeof(float), &ws));
    out.mem = ws;
    out.off = 0;
  }
  clnn_kernel_ref k;
  CLNN_TRY(clnn__conv_dwf_kernel(ctx, d, f, g->dt, CLNN_ACT_IDENTITY, 0.0f, "conv_dwf_bwd_weights", &k));
  size_t global[2] = {(size_t)d->k, (size_t)parts}, local[2] = {1, 1};
  CLNN_TRY(clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_CONV_MEM(dy), CLNN_ARG_CONV_MEM(out),
                                  CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->k), CLNN_ARG_I32(d->h),
                                  CLNN_ARG_I32(d->w), CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow),
                                  CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w), CLNN_ARG_I32(f->g), CLNN_ARG_I32(f->hs),
                                  CLNN_ARG_I32(f->ws), CLNN_ARG_I32(f->phs), CLNN_ARG_I32(f->nq),
                                  CLNN_ARG_I32(img_per_part), CLNN_ARG_I32(via_parts ? 0 : accumulate)),
                        2, global, local, op));
  if (via_parts) return launch_sum_parts(ctx, ws, d->k * taps, parts, dw, g->dt, accumulate, op);
  return CLNN_SUCCESS;
}

/* Depthwise: per (channel, part of the batch); parts only when there are
 * too few channels to keep the device busy, then summed in part order. */
static clnn_status bwd_weights_depthwise(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem dy,
                                         clnn_conv_mem dw, bool accumulate) {
  const clnn_conv2d_desc *d = g->d;
  clnn_conv_dwf_geom f;
  if (clnn__conv_dw_flat(d, g->oh, g->ow, false, &f))
    return bwd_weights_depthwise_flat(ctx, g, &f, x, dy, dw, accumulate);
  const char *op = "conv2d_bwd_weights:depthwise_direct";
  clnn_conv_dw_geom b = clnn__conv_dw_geometry(d, g->ow);
  int64_t taps = d->kh * d->kw;
  int64_t parts = clnn__min64(d->n, clnn__ceil_div(BWD_TARGET_ITEMS, d->k));
  int64_t img_per_part = clnn__ceil_div(d->n, parts);
  parts = clnn__ceil_div(d->n, img_per_part);
  if ((uint64_t)(parts * d->k * taps) * sizeof(float) > ctx->workspace_limit) parts = 1, img_per_part = d->n;
  const bool via_parts = dw_via_parts(g, parts);
  clnn_conv_mem out = dw;
  cl_mem ws = NULL;
  if (via_parts) {
    CLNN_TRY(clnn__workspace(ctx, (size_t)(parts * d->k * taps) * sizeof(float), &ws));
    out.mem = ws;
    out.off = 0;
  }
  clnn_kernel_ref k;
  CLNN_TRY(clnn__conv_dw_kernel(ctx, d, &b, g->dt, CLNN_ACT_IDENTITY, 0.0f, "conv_dw_bwd_weights", &k));
  size_t global[2] = {(size_t)d->k, (size_t)parts}, local[2] = {1, 1};
  CLNN_TRY(clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_CONV_MEM(dy), CLNN_ARG_CONV_MEM(out),
                                  CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->k), CLNN_ARG_I32(d->h),
                                  CLNN_ARG_I32(d->w), CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow),
                                  CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w), CLNN_ARG_I32(d->dilation_h),
                                  CLNN_ARG_I32(d->dilation_w), CLNN_ARG_I32(b.nstrip), CLNN_ARG_I32(img_per_part),
                                  CLNN_ARG_I32(via_parts ? 0 : accumulate)),
                        2, global, local, op));
  if (via_parts) return launch_sum_parts(ctx, ws, d->k * taps, parts, dw, g->dt, accumulate, op);
  return CLNN_SUCCESS;
}

/* conv_1x1_bwdw's register tile (outputs x inputs); the bytes of dy and x
 * one part of the batch may span (the work-item sweeps them once per
 * tile: they should stay in the L2 cache); the parts it aims for at least
 * (enough work-items to balance the cores). */
#ifndef C1W_TM
#define C1W_TM 6
#endif
#ifndef C1W_TN
#define C1W_TN 4
#endif
#define C1W_PART_BYTES ((int64_t)1 << 20)
#define C1W_MIN_PARTS 8

/* 1x1 on planes of 16 pixels or more: dot products of dy and x rows along
 * the planes per part of the batch, then the parts added in order. */
static clnn_status bwd_weights_1x1(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem dy,
                                   clnn_conv_mem dw, bool accumulate) {
  const clnn_conv2d_desc *d = g->d;
  const char *op = "conv2d_bwd_weights:gemm_1x1";
  int64_t per_image = (d->k + d->c) * g->npix * (int64_t)sizeof(float);
  int64_t img_per_part = clnn__max64(1, clnn__min64(C1W_PART_BYTES / per_image, clnn__ceil_div(d->n, C1W_MIN_PARTS)));
  int64_t parts = clnn__ceil_div(d->n, img_per_part);
  if ((uint64_t)(parts * d->k * d->c) * sizeof(float) > ctx->workspace_limit) parts = 1, img_per_part = d->n;
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(parts * d->k * d->c) * sizeof(float), &ws));
  char opts[64];
  snprintf(opts, sizeof opts, "-DC1W_TM=%d -DC1W_TN=%d", C1W_TM, C1W_TN);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("gemm_1x1"), opts, "conv_1x1_bwdw", &k));
  size_t global[1] = {(size_t)parts}, local[1] = {1};
  CLNN_TRY(clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_CONV_MEM(dy), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                                  CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->k), CLNN_ARG_I32(d->c),
                                  CLNN_ARG_I32(g->npix), CLNN_ARG_I32(img_per_part)),
                        1, global, local, op));
  return launch_sum_parts(ctx, ws, d->k * d->c, parts, dw, CLNN_FLOAT32, accumulate, op);
}

/* How conv_bwdw_packed reads patches. */
typedef enum bw_mode { BW_DIRECT, BW_PADDED, BW_GATHER } bw_mode;

static bw_mode bwd_weights_mode(const clnn_conv2d_desc *d) {
  return !clnn__conv_is_stride1(d) ? BW_GATHER : (d->pad_h == 0 && d->pad_w == 0) ? BW_DIRECT : BW_PADDED;
}

/* Bytes of local memory conv_bwdw_packed declares in a mode: the dy tile,
 * and the patch panel unless the rows are read in place (BW_PADDED). */
static uint64_t bwd_weights_local_bytes(bw_mode mode) {
  return (uint64_t)(BW_PC * BW_NB + (mode == BW_PADDED ? 0 : BW_KC * BW_PC)) * sizeof(float);
}

/* The own engine: conv_bwdw_packed into per-slot partial sums, then the reduction. */
static clnn_status bwd_weights_packed(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem dy,
                                      clnn_conv_mem dw, bool accumulate, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  bw_mode mode = bwd_weights_mode(d);
  clnn_conv_planes pp = clnn__conv_planes(g);
  int64_t hs = d->h, ws_w = d->w, plane = d->h * d->w, wgrid = mode == BW_GATHER ? g->ow : d->w;
  if (mode == BW_PADDED) hs = pp.hp, ws_w = pp.wp, plane = pp.plane, wgrid = pp.wp;
  int64_t q = g->oh * wgrid;
  int64_t kgp = clnn__round_up(g->kg, CLNN_TILE_NR), kdp = clnn__round_up(g->kd, CLNN_TILE_MR);
  int64_t nblk = clnn__ceil_div(kgp, BW_NB);
  /* Parts per image: enough work-items, each at least one sub-chunk. */
  int64_t ppi = clnn__ceil_div(BWD_TARGET_ITEMS, d->n * d->groups * nblk);
  ppi = clnn__max64(1, clnn__min64(ppi, clnn__ceil_div(q, BW_PC)));
  int64_t q_per_part = clnn__round_up(clnn__ceil_div(q, ppi), BW_PC);
  ppi = clnn__ceil_div(q, q_per_part);
  int64_t slot_elems = d->groups * kdp * kgp;
  int64_t planes_per_image = mode == BW_PADDED ? d->c * pp.plane : 0, chunk;
  CLNN_TRY(clnn__conv_chunk(ctx, d->n, ppi * slot_elems + planes_per_image, 0, BW_BUDGET,
                            "weight-gradient partial sums and padded planes", &chunk));
  int64_t slots = chunk * ppi, planes_off = slots * slot_elems;
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(planes_off + chunk * planes_per_image) * sizeof(float), &ws));
  /* Rows in place: the padded planes leave room for every tap of the last
   * tile (clnn__conv_planes), so the kernel reads patch rows where they lie
   * instead of copying them to local memory. Not on x itself (BW_DIRECT):
   * its last plane has no such room. */
  char opts[160];
  snprintf(opts, sizeof opts, "-DBW_PC=%d -DBW_KC=%d -DBW_NB=%d -DBW_PADDED=%d -DBW_ROWS_IN_PLACE=%d", BW_PC, BW_KC,
           BW_NB, mode == BW_GATHER ? 0 : 1, mode == BW_PADDED ? 1 : 0);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("bwdw_packed"), opts, "conv_bwdw_packed", &k));
  for (int64_t img0 = 0; img0 < d->n; img0 += chunk) {
    int64_t nimg = clnn__min64(chunk, d->n - img0);
    clnn_conv_mem src = x;
    int64_t src_img0 = 0;
    if (mode == BW_PADDED) {
      CLNN_TRY(clnn__conv_pad(ctx, clnn__conv_mem_at(x, img0 * d->c * d->h * d->w), nimg * d->c, d->h, d->w, ws,
                              planes_off, &pp, d->pad_h, d->pad_w, op));
      src.mem = ws;
      src.off = (size_t)planes_off;
      src_img0 = img0;
    }
    size_t global[3] = {(size_t)slots, (size_t)nblk, (size_t)d->groups}, local[3] = {1, 1, 1};
    CLNN_TRY(clnn__launch(
        ctx, &k,
        CLNN_ARGS(CLNN_ARG_CONV_MEM(src), CLNN_ARG_I32(hs), CLNN_ARG_I32(ws_w), CLNN_ARG_U64(plane),
                  CLNN_ARG_I32(src_img0), CLNN_ARG_CONV_MEM(dy), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                  CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->k), CLNN_ARG_I32(d->groups), CLNN_ARG_I32(g->oh),
                  CLNN_ARG_I32(g->ow), CLNN_ARG_I32(wgrid), CLNN_ARG_I32(d->kh), CLNN_ARG_I32(d->kw),
                  CLNN_ARG_I32(d->stride_h), CLNN_ARG_I32(d->stride_w), CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w),
                  CLNN_ARG_I32(d->dilation_h), CLNN_ARG_I32(d->dilation_w), CLNN_ARG_I32(img0), CLNN_ARG_I32(nimg),
                  CLNN_ARG_I32(ppi), CLNN_ARG_I32(q_per_part), CLNN_ARG_I32(kgp), CLNN_ARG_I32(kdp),
                  CLNN_ARG_I32(img0 == 0 ? 1 : 0)),
        3, global, local, op));
  }
  clnn_kernel_ref kr;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("support"), "", "conv_bwdw_reduce", &kr));
  size_t global[2] = {(size_t)clnn__round_up(d->k, 16), (size_t)g->kd}, local[2] = {16, 1};
  return clnn__launch(ctx, &kr,
                      CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_CONV_MEM(dw), CLNN_ARG_I32(slots),
                                CLNN_ARG_I32(d->groups), CLNN_ARG_I32(g->kg), CLNN_ARG_I32(g->kd),
                                CLNN_ARG_I32(kdp), CLNN_ARG_I32(kgp), CLNN_ARG_I32(accumulate ? 1 : 0)),
                      2, global, local, op);
}

/* CLBlast: transposed im2col per chunk, then dw_g (+)= dy_g col_g^T image after image. */
static clnn_status bwd_weights_im2col(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem dy,
                                      clnn_conv_mem dw, bool accumulate) {
  const clnn_conv2d_desc *d = g->d;
  const char *op = "conv2d_bwd_weights:im2col_gemm";
  int64_t per_group = g->npix * g->kd, per_image = per_group * d->groups, chunk;
  CLNN_TRY(clnn__conv_chunk(ctx, d->n, per_image, 0, CLNN_CONV_CHUNK_BYTES, "patches", &chunk));
  cl_mem col;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(chunk * per_image) * sizeof(float), &col));
  for (int64_t img0 = 0; img0 < d->n; img0 += chunk) {
    int64_t nimg = clnn__min64(chunk, d->n - img0);
    CLNN_TRY(clnn__conv_im2col(ctx, g, x, (clnn_conv_mem){col, 0}, CLNN_COL_TRANSPOSED, img0, nimg, op));
    for (int64_t i = 0; i < nimg; i++) {
      clnn_gemm_job j = clnn__gemm_job(g->kg, g->kd, g->npix);
      j.nb2 = d->groups;
      j.a = dy.mem;
      j.a_off = dy.off + (size_t)((img0 + i) * d->k * g->npix);
      j.lda = g->npix;
      j.a_s2 = g->kg * g->npix;
      j.b = col;
      j.b_off = (size_t)(i * per_image);
      j.ldb = g->kd;
      j.b_s2 = per_group;
      j.c = dw.mem;
      j.c_off = dw.off;
      j.ldc = g->kd;
      j.c_s2 = g->kg * g->kd;
      /* One matrix per group (nb1 = 1); CLBlast's strided batched GEMM
       * rejects zero strides even where they go unused. */
      j.a_s1 = d->k * g->npix;
      j.b_s1 = per_image;
      j.c_s1 = d->k * g->kd;
      j.beta = (img0 + i == 0 && !accumulate) ? 0.0f : 1.0f;
      CLNN_TRY(clnn__gemm_run(ctx, &j, op));
    }
  }
  return CLNN_SUCCESS;
}

/* --------------------------------------------------- bwd_weights variants */

typedef clnn_status (*bwd_weights_fn)(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem dy,
                                      clnn_conv_mem dw, bool accumulate);

typedef struct bwd_weights_variant {
  clnn_variant v;
  clnn_conv_algo algo; /* what clnn_conv2d_bwd_weights_algo reports for it */
  bwd_weights_fn run;
  clnn_conv_half_rule half_direct; /* NULL: half tensors are staged */
} bwd_weights_variant;

#define BW_GEOM(p) ((const conv_geom *)(p))

static bool bw_depthwise_flat_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const conv_geom *g = BW_GEOM(problem);
  clnn_conv_dwf_geom f;
  if (!clnn__conv_is_depthwise(g->d)) return clnn__why(why, n, "not depthwise (groups == c, k a multiple of c)");
  return clnn__conv_dw_flat(g->d, g->oh, g->ow, false, &f) || clnn__why(why, n, "planes too large for its buffers");
}

static clnn_status bw_depthwise_flat_run(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem dy,
                                         clnn_conv_mem dw, bool accumulate) {
  clnn_conv_dwf_geom f;
  clnn__conv_dw_flat(g->d, g->oh, g->ow, false, &f);
  return bwd_weights_depthwise_flat(ctx, g, &f, x, dy, dw, accumulate);
}

static bool bw_depthwise_strips_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const conv_geom *g = BW_GEOM(problem);
  if (!clnn__conv_is_depthwise(g->d)) return clnn__why(why, n, "not depthwise (groups == c, k a multiple of c)");
  return clnn__conv_dw_fits(g->d, g->ow) || clnn__why(why, n, "rows too long for its private ring");
}

static bool bw_gemm_1x1_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  if (!clnn__own_engine_applies(ctx, why, n)) return false;
  return clnn__conv_1x1_chunked(ctx, BW_GEOM(problem)->d) ||
         clnn__why(why, n, "needs a 1x1 kernel, stride 1, no padding, groups == 1 and 16+ pixel planes");
}

/* Its tiles are sized for a CPU's large local memory; a device with less
 * (Intel's CPU runtime and Oclgrind have 32 KiB) would fail the launch with
 * CL_OUT_OF_RESOURCES, so it steps aside there. */
static bool bw_packed_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  if (!clnn__own_engine_applies(ctx, why, n)) return false;
  uint64_t need = bwd_weights_local_bytes(bwd_weights_mode(BW_GEOM(problem)->d));
  return need <= ctx->caps.local_mem_size ||
         clnn__why(why, n, "needs %llu KiB of local memory", (unsigned long long)(need >> 10));
}

static clnn_status bw_packed_run(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem dy,
                                 clnn_conv_mem dw, bool accumulate) {
  const char *op = clnn__conv_is_stride1(g->d) ? "conv2d_bwd_weights:implicit_gemm" : "conv2d_bwd_weights:im2col_gemm";
  return bwd_weights_packed(ctx, g, x, dy, dw, accumulate, op);
}

static bool bw_winograd_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  return clnn__conv_winograd_bwd_weights_applies(ctx, BW_GEOM(problem), why, n);
}

static bool bw_gpu_depthwise_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  return clnn__conv_gpu_dw_applies(ctx, BW_GEOM(problem)->d, why, n);
}

static bool bw_gpu_implicit_gemm_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)problem;
  return clnn__conv_gpu_gemm_fits(ctx, why, n);
}

static const bwd_weights_variant bwd_weights_variants[] = {
    {{"conv.bwd_w.gpu_depthwise", CLNN_DEVICE_CLASS_GPU, bw_gpu_depthwise_applies},
     CLNN_CONV_ALGO_DEPTHWISE_DIRECT, clnn__conv_gpu_dw_bwd_weights, NULL},
    {{"conv.bwd_w.gpu_implicit_gemm", CLNN_DEVICE_CLASS_GPU, bw_gpu_implicit_gemm_applies},
     CLNN_CONV_ALGO_IMPLICIT_GEMM, clnn__conv_gpu_bwd_weights, NULL},
    {{"conv.bwd_w.depthwise_flat", CLNN_CLASS_ANY, bw_depthwise_flat_applies}, CLNN_CONV_ALGO_DEPTHWISE_DIRECT,
     bw_depthwise_flat_run, clnn__conv_half_direct},
    {{"conv.bwd_w.depthwise_strips", CLNN_CLASS_ANY, bw_depthwise_strips_applies},
     CLNN_CONV_ALGO_DEPTHWISE_DIRECT, bwd_weights_depthwise, clnn__conv_half_direct},
    {{"conv.bwd_w.gemm_1x1_packed", CLNN_DEVICE_CLASS_CPU, bw_gemm_1x1_applies}, CLNN_CONV_ALGO_GEMM_1X1,
     bwd_weights_1x1, NULL},
    {{"conv.bwd_w.winograd", CLNN_DEVICE_CLASS_CPU, bw_winograd_applies}, CLNN_CONV_ALGO_IMPLICIT_GEMM,
     clnn__conv_winograd_bwd_weights, NULL},
    {{"conv.bwd_w.packed", CLNN_DEVICE_CLASS_CPU, bw_packed_applies}, CLNN_CONV_ALGO_IMPLICIT_GEMM, bw_packed_run,
     NULL},
    {{"conv.bwd_w.im2col_gemm", CLNN_CLASS_ANY, NULL}, CLNN_CONV_ALGO_IM2COL_GEMM, bwd_weights_im2col, NULL},
};

const clnn_variant_table clnn__conv_bwd_weights_variants = {
    "conv", "bwd_w", &bwd_weights_variants[0].v, sizeof bwd_weights_variants / sizeof bwd_weights_variants[0],
    sizeof bwd_weights_variants[0]};

/* Whether variant i runs g's tensors as they are: float32 ones, or half
 * ones by its rule. */
static bool bw_takes(size_t i, const conv_geom *g) {
  const clnn_conv_half_rule rule = bwd_weights_variants[i].half_direct;
  return g->dt == CLNN_FLOAT32 || (rule && rule(g));
}

static clnn_status bwd_weights_geom_run(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem dy,
                                        clnn_conv_mem dw, bool accumulate) {
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, &clnn__conv_bwd_weights_variants, g, &i));
  if (!bw_takes(i, g)) /* bwd_weights_half asks first */
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED, "%s does not take %s tensors directly",
                      bwd_weights_variants[i].v.name, clnn_dtype_name(g->dt));
  return bwd_weights_variants[i].run(ctx, g, x, dy, dw, accumulate);
}

clnn_status clnn__conv2d_bwd_weights_run(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem x,
                                         clnn_conv_mem dy, clnn_conv_mem dw, bool accumulate) {
  int64_t oh, ow;
  clnn__conv2d_out_size(d, &oh, &ow);
  conv_geom g = clnn__conv_geometry(d, oh, ow);
  return bwd_weights_geom_run(ctx, &g, x, dy, dw, accumulate);
}

clnn_conv_algo clnn__conv2d_bwd_weights_algo(const clnn_context *ctx, const clnn_conv2d_desc *d) {
  int64_t oh, ow;
  clnn__conv2d_out_size(d, &oh, &ow);
  conv_geom g = clnn__conv_geometry(d, oh, ow);
  size_t i;
  if (clnn__plan_query(ctx, &clnn__conv_bwd_weights_variants, &g, &i) != CLNN_SUCCESS)
    return CLNN_CONV_ALGO_IM2COL_GEMM;
  /* the packed GEMM is named implicit_gemm at stride 1 and im2col_gemm otherwise */
  if (bwd_weights_variants[i].run == bw_packed_run && !clnn__conv_is_stride1(d)) return CLNN_CONV_ALGO_IM2COL_GEMM;
  return bwd_weights_variants[i].algo;
}

/* ================================================================ bwd_bias */

static clnn_status bias_reduce_run(clnn_context *ctx, const clnn_conv2d_desc *d, int64_t npix, clnn_conv_mem dy,
                                   clnn_conv_mem db, bool accumulate) {
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("bwd_bias"), "", "conv_bwd_bias", &k));
  size_t global[1] = {(size_t)d->k}, local[1] = {1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(dy), CLNN_ARG_CONV_MEM(db), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->k),
                                CLNN_ARG_I32(npix), CLNN_ARG_I32(accumulate ? 1 : 0)),
                      1, global, local, "conv2d_bwd_bias");
}

typedef clnn_status (*bwd_bias_fn)(clnn_context *ctx, const clnn_conv2d_desc *d, int64_t npix, clnn_conv_mem dy,
                                   clnn_conv_mem db, bool accumulate);

typedef struct bwd_bias_variant {
  clnn_variant v;
  bwd_bias_fn run;
} bwd_bias_variant;

static bool bb_gpu_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)problem;
  return ctx->caps.max_work_group_size >= CLNN_GPU_WG || clnn__why(why, n, "needs work-groups of %d", CLNN_GPU_WG);
}

static const bwd_bias_variant bwd_bias_variants[] = {
    {{"conv.bwd_b.gpu_reduce", CLNN_DEVICE_CLASS_GPU, bb_gpu_applies}, clnn__conv_gpu_bwd_bias},
    {{"conv.bwd_b.per_channel", CLNN_CLASS_ANY, NULL}, bias_reduce_run},
};

const clnn_variant_table clnn__conv_bwd_bias_variants = {"conv", "bwd_b", &bwd_bias_variants[0].v,
                                                         sizeof bwd_bias_variants / sizeof bwd_bias_variants[0],
                                                         sizeof bwd_bias_variants[0]};

clnn_status clnn__conv2d_bwd_bias_run(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem dy,
                                      clnn_conv_mem db, bool accumulate) {
  int64_t oh, ow;
  clnn__conv2d_out_size(d, &oh, &ow);
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, &clnn__conv_bwd_bias_variants, d, &i));
  return bwd_bias_variants[i].run(ctx, d, oh * ow, dy, db, accumulate);
}

/* ================================================================== public */

/*
 * The passes on float16 or bfloat16 tensors: where the planned variant's
 * rule says so (the depthwise ones), on the half tensors themselves;
 * otherwise staged (ops/conv_half.c): inputs widened to float32 copies,
 * the float32 pass, the output rounded once. An accumulated gradient is
 * widened too, so that old + new is rounded once. A staged bwd_data cannot
 * take the sub-pixel route: the copies hold the outer workspace it needs
 * (its variant rule refuses it then), so the direct question is asked of
 * the same plan (allow_subpixel false).
 */
static clnn_status bwd_data_half(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_dtype dt, const clnn_tensor *dy,
                                 const clnn_tensor *w, clnn_tensor *dx) {
  int64_t oh, ow;
  clnn__conv2d_out_size(d, &oh, &ow);
  conv_geom g = clnn__conv_geometry(d, oh, ow);
  g.dt = dt;
  bwd_data_problem p = {&g, false, CLNN_ACT_IDENTITY, false};
  size_t i;
  clnn_conv_mem none = {NULL, 0};
  if (clnn__plan_query(ctx, &clnn__conv_bwd_data_variants, &p, &i) == CLNN_SUCCESS && bd_takes(i, &p))
    return bwd_data_problem_run(ctx, &p, clnn__conv_mem(dy), clnn__conv_mem(w), none, 0.0f, clnn__conv_mem(dx));
  const clnn_tensor *all[3] = {dy, w, dx};
  clnn_conv_stage s;
  clnn_conv_mem dy32, w32;
  CLNN_TRY(clnn__conv_stage_begin(ctx, dt, all, 3, "conv2d_bwd_data:half_stage", &s));
  CLNN_TRY(clnn__conv_stage_in(ctx, &s, dy, &dy32));
  CLNN_TRY(clnn__conv_stage_in(ctx, &s, w, &w32));
  clnn_conv_mem dx32 = clnn__conv_stage_out(&s, dx);
  CLNN_TRY(clnn__conv2d_bwd_data_run_no_subpixel(ctx, d, dy32, w32, none, CLNN_ACT_IDENTITY, 0.0f, dx32));
  return clnn__conv_stage_round(ctx, &s, dx32, dx);
}

static clnn_status bwd_weights_half(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_dtype dt,
                                    const clnn_tensor *x, const clnn_tensor *dy, clnn_tensor *dw, bool accumulate) {
  int64_t oh, ow;
  clnn__conv2d_out_size(d, &oh, &ow);
  conv_geom g = clnn__conv_geometry(d, oh, ow);
  g.dt = dt;
  size_t i;
  if (clnn__plan_query(ctx, &clnn__conv_bwd_weights_variants, &g, &i) == CLNN_SUCCESS && bw_takes(i, &g))
    return bwd_weights_geom_run(ctx, &g, clnn__conv_mem(x), clnn__conv_mem(dy), clnn__conv_mem(dw), accumulate);
  const clnn_tensor *all[3] = {x, dy, dw};
  clnn_conv_stage s;
  clnn_conv_mem x32, dy32, dw32;
  CLNN_TRY(clnn__conv_stage_begin(ctx, dt, all, 3, "conv2d_bwd_weights:half_stage", &s));
  CLNN_TRY(clnn__conv_stage_in(ctx, &s, x, &x32));
  CLNN_TRY(clnn__conv_stage_in(ctx, &s, dy, &dy32));
  if (accumulate)
    CLNN_TRY(clnn__conv_stage_in(ctx, &s, dw, &dw32));
  else
    dw32 = clnn__conv_stage_out(&s, dw);
  CLNN_TRY(clnn__conv2d_bwd_weights_run(ctx, d, x32, dy32, dw32, accumulate));
  return clnn__conv_stage_round(ctx, &s, dw32, dw);
}

static clnn_status bwd_bias_half(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_dtype dt, const clnn_tensor *dy,
                                 clnn_tensor *db, bool accumulate) {
  const clnn_tensor *all[2] = {dy, db};
  clnn_conv_stage s;
  clnn_conv_mem dy32, db32;
  CLNN_TRY(clnn__conv_stage_begin(ctx, dt, all, 2, "conv2d_bwd_bias:half_stage", &s));
  CLNN_TRY(clnn__conv_stage_in(ctx, &s, dy, &dy32));
  if (accumulate)
    CLNN_TRY(clnn__conv_stage_in(ctx, &s, db, &db32));
  else
    db32 = clnn__conv_stage_out(&s, db);
  CLNN_TRY(clnn__conv2d_bwd_bias_run(ctx, d, dy32, db32, accumulate));
  return clnn__conv_stage_round(ctx, &s, db32, db);
}

/* The checks every backward call starts with: context, descriptor, accumulate. */
static clnn_status bwd_enter(clnn_context *ctx, const clnn_conv2d_desc *desc, int accumulate, int64_t *oh,
                             int64_t *ow) {
  CLNN_TRY(clnn__conv2d_desc_check(ctx, desc, oh, ow));
  if (accumulate != 0 && accumulate != 1)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "accumulate = %d must be 0 or 1", accumulate);
  return CLNN_SUCCESS;
}

clnn_status clnn_conv2d_bwd_data(clnn_context *ctx, const clnn_conv2d_desc *desc, const clnn_tensor *dy,
                                 const clnn_tensor *w, clnn_tensor *dx) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t oh, ow;
  CLNN_TRY(bwd_enter(ctx, desc, 0, &oh, &ow));
  const clnn_conv2d_desc *d = desc;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->k, d->c / d->groups, d->kh, d->kw};
  int64_t yd[4] = {d->n, d->k, oh, ow};
  clnn_dtype dt; /* dy's type; w and dx must have it */
  CLNN_TRY(clnn__check_float_type(ctx, dy, "dy", &dt));
  CLNN_TRY(clnn__check_tensor(ctx, dy, "dy", dt, 4, yd));
  CLNN_TRY(clnn__check_tensor(ctx, w, "w", dt, 4, wd));
  CLNN_TRY(clnn__check_tensor(ctx, dx, "dx", dt, 4, xd));
  CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", dy, "dy"));
  CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", w, "w"));
  if (d->n == 0) return CLNN_SUCCESS; /* no images: dx is empty */
  if (dt != CLNN_FLOAT32) return bwd_data_half(ctx, d, dt, dy, w, dx);
  clnn_conv_mem none = {NULL, 0};
  return clnn__conv2d_bwd_data_run(ctx, d, clnn__conv_mem(dy), clnn__conv_mem(w), none, CLNN_ACT_IDENTITY, 0.0f,
                                   clnn__conv_mem(dx));
}

clnn_status clnn_conv2d_bwd_weights(clnn_context *ctx, const clnn_conv2d_desc *desc, const clnn_tensor *x,
                                    const clnn_tensor *dy, clnn_tensor *dw, int accumulate) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t oh, ow;
  CLNN_TRY(bwd_enter(ctx, desc, accumulate, &oh, &ow));
  const clnn_conv2d_desc *d = desc;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->k, d->c / d->groups, d->kh, d->kw};
  int64_t yd[4] = {d->n, d->k, oh, ow};
  clnn_dtype dt; /* x's type; dy and dw must have it */
  CLNN_TRY(clnn__check_float_type(ctx, x, "x", &dt));
  CLNN_TRY(clnn__check_tensor(ctx, x, "x", dt, 4, xd));
  CLNN_TRY(clnn__check_tensor(ctx, dy, "dy", dt, 4, yd));
  CLNN_TRY(clnn__check_tensor(ctx, dw, "dw", dt, 4, wd));
  CLNN_TRY(clnn__check_no_overlap(ctx, dw, "dw", x, "x"));
  CLNN_TRY(clnn__check_no_overlap(ctx, dw, "dw", dy, "dy"));
  if (d->n == 0) return accumulate ? CLNN_SUCCESS : clnn__zero_tensor(ctx, dw); /* a sum over no image */
  if (dt != CLNN_FLOAT32) return bwd_weights_half(ctx, d, dt, x, dy, dw, accumulate == 1);
  return clnn__conv2d_bwd_weights_run(ctx, d, clnn__conv_mem(x), clnn__conv_mem(dy), clnn__conv_mem(dw),
                                      accumulate == 1);
}

clnn_status clnn_conv2d_bwd_bias(clnn_context *ctx, const clnn_conv2d_desc *desc, const clnn_tensor *dy,
                                 clnn_tensor *db, int accumulate) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t oh, ow;
  CLNN_TRY(bwd_enter(ctx, desc, accumulate, &oh, &ow));
  const clnn_conv2d_desc *d = desc;
  int64_t yd[4] = {d->n, d->k, oh, ow};
  clnn_dtype dt; /* dy's type; db must have it */
  CLNN_TRY(clnn__check_float_type(ctx, dy, "dy", &dt));
  CLNN_TRY(clnn__check_tensor(ctx, dy, "dy", dt, 4, yd));
  CLNN_TRY(clnn__check_tensor(ctx, db, "db", dt, 1, &d->k));
  CLNN_TRY(clnn__check_no_overlap(ctx, db, "db", dy, "dy"));
  if (d->n == 0) return accumulate ? CLNN_SUCCESS : clnn__zero_tensor(ctx, db); /* a sum over no image */
  if (dt != CLNN_FLOAT32) return bwd_bias_half(ctx, d, dt, dy, db, accumulate == 1);
  return clnn__conv2d_bwd_bias_run(ctx, d, clnn__conv_mem(dy), clnn__conv_mem(db), accumulate == 1);
}

clnn_status clnn_conv2d_bwd_data_algo(const clnn_context *ctx, const clnn_conv2d_desc *desc, clnn_conv_algo *algo) {
  CLNN_ENTER(NULL);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(NULL, algo);
  CLNN_TRY(clnn__conv2d_desc_check(NULL, desc, NULL, NULL));
  *algo = clnn__conv2d_bwd_data_algo(ctx, desc);
  return CLNN_SUCCESS;
}

clnn_status clnn_conv2d_bwd_weights_algo(const clnn_context *ctx, const clnn_conv2d_desc *desc,
                                         clnn_conv_algo *algo) {
  CLNN_ENTER(NULL);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(NULL, algo);
  CLNN_TRY(clnn__conv2d_desc_check(NULL, desc, NULL, NULL));
  *algo = clnn__conv2d_bwd_weights_algo(ctx, desc);
  return CLNN_SUCCESS;
}
