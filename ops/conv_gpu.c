/*
 * conv_gpu.c - the GPU-class variants of convolution (docs/DESIGN.md,
 * "Kernels on GPU devices"): the three
 * passes as implicit GEMMs on kernels/gemm_gpu.h (patches gathered while a
 * tile is staged, nothing materialised but the transposed weights of
 * bwd_data and the split partial sums of bwd_weights), and the depthwise
 * passes and the bias gradient as direct kernels
 * (kernels/conv/depthwise_gpu.cl, kernels/conv/bwd_bias_gpu.cl).
 * ops/conv.c and ops/conv_bwd.c list them in their variant tables.
 */
#include "conv_internal.h"

#include <stdio.h>
#include <string.h>

/* Local memory of a gemm_gpu tile (both staged slices, rows padded by one). */
static uint64_t tile_local_bytes(const clnn_gpu_tile *t) {
  return (uint64_t)t->kwg * (uint64_t)(t->mwg + t->nwg + 2) * sizeof(float);
}

bool clnn__conv_gpu_gemm_fits(const clnn_context *ctx, char *why, size_t n) {
  clnn_gpu_tile t = clnn__gpu_tile_for(ctx, 1, 1, 1); /* the smallest tile */
  if (ctx->caps.max_work_group_size < (size_t)(t.mdim * t.ndim))
    return clnn__why(why, n, "needs work-groups of %d work-items", t.mdim * t.ndim);
  if (ctx->caps.local_mem_size < tile_local_bytes(&t))
    return clnn__why(why, n, "needs %llu bytes of local memory", (unsigned long long)tile_local_bytes(&t));
  return true;
}

/* -D options of gemm_gpu in mode for the geometry's kernel shape. */
static void conv_options(const clnn_conv_geom *g, const clnn_gpu_tile *t, int mode, bool bias, clnn_activation act,
                         float act_alpha, char *buf, size_t n) {
  const clnn_conv2d_desc *d = g->d;
  char tile[128], acts[64];
  clnn__gpu_tile_options(t, tile, sizeof tile);
  clnn__act_options(acts, sizeof acts, act, act_alpha);
  snprintf(buf, n, "%s -DGG_MODE=%d -DGG_KH=%lld -DGG_KW=%lld -DGG_SH=%lld -DGG_SW=%lld -DGG_DH=%lld -DGG_DW=%lld "
           "-DHAS_BIAS=%d%s", tile, mode, (long long)d->kh, (long long)d->kw, (long long)d->stride_h,
           (long long)d->stride_w, (long long)d->dilation_h, (long long)d->dilation_w, bias ? 1 : 0, acts);
}

/* The GEMM grid for an m x n output per group (third axis: z work-groups). */
static void gemm_grid(const clnn_gpu_tile *t, int64_t m, int64_t n, int64_t z, size_t global[3], size_t local[3]) {
  global[0] = (size_t)(clnn__ceil_div(n, t->nwg) * t->ndim);
  global[1] = (size_t)(clnn__ceil_div(m, t->mwg) * t->mdim);
  global[2] = (size_t)z;
  local[0] = (size_t)t->ndim;
  local[1] = (size_t)t->mdim;
  local[2] = 1;
}

/* ------------------------------------------------------------- forward */

clnn_status clnn__conv_gpu_fwd(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                               bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  (void)transposed_w; /* the table lets this variant take plain weights only */
  const clnn_conv2d_desc *d = g->d;
  const int64_t nn = d->n * g->npix;
  clnn_gpu_tile t = clnn__gpu_tile_for(ctx, g->kg, nn, d->groups);
  char opts[384];
  conv_options(g, &t, CLNN_GG_CONV_FWD, b.mem != NULL, d->act, d->act_alpha, opts, sizeof opts);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "gemm_gpu.h conv/implicit_gemm_gpu", opts, "conv_fwd_gpu", &k));
  size_t global[3], local[3];
  gemm_grid(&t, g->kg, nn, d->groups, global, local);
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_CONV_MEM(w), CLNN_ARG_CONV_MEM(b),
                                CLNN_ARG_CONV_MEM(y), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h),
                                CLNN_ARG_I32(d->w), CLNN_ARG_I32(d->k), CLNN_ARG_I32(d->groups), CLNN_ARG_I32(g->oh),
                                CLNN_ARG_I32(g->ow), CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w)),
                      3, global, local, op);
}

/* ------------------------------------------------------------ bwd_data */

clnn_status clnn__conv_gpu_bwd_data(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem dy, clnn_conv_mem w,
                                    clnn_conv_mem bias, clnn_activation act, float act_alpha, clnn_conv_mem dx) {
  const clnn_conv2d_desc *d = g->d;
  const char *op = "conv2d_bwd_data:gpu_implicit_gemm";
  const int64_t taps = d->kh * d->kw, wt_elems = d->k * g->cg * taps, nn = d->n * d->h * d->w;
  if ((uint64_t)wt_elems * sizeof(float) > ctx->workspace_limit)
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED, "the transposed weights (%lld bytes) exceed the workspace limit of %zu bytes",
                      (long long)(wt_elems * (int64_t)sizeof(float)), ctx->workspace_limit);
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)wt_elems * sizeof(float), &ws));
  clnn_gpu_tile t = clnn__gpu_tile_for(ctx, g->cg, nn, d->groups);
  char opts[384];
  conv_options(g, &t, CLNN_GG_CONV_BWD_DATA, bias.mem != NULL, act, act_alpha, opts, sizeof opts);
  clnn_kernel_ref pack, k;
  CLNN_TRY(clnn__kernel(ctx, "gemm_gpu.h conv/implicit_gemm_gpu", opts, "conv_gpu_pack_wt", &pack));
  CLNN_TRY(clnn__kernel(ctx, "gemm_gpu.h conv/implicit_gemm_gpu", opts, "conv_bwd_data_gpu", &k));
  size_t pg[2] = {(size_t)(g->kg * g->cg * taps), (size_t)d->groups}, pl[2] = {64, 1};
  CLNN_TRY(clnn__launch(ctx, &pack,
                        CLNN_ARGS(CLNN_ARG_CONV_MEM(w), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_I32(g->kg),
                                  CLNN_ARG_I32(g->cg), CLNN_ARG_I32(d->groups)),
                        2, pg, pl, op));
  size_t global[3], local[3];
  gemm_grid(&t, g->cg, nn, d->groups, global, local);
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(dy), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_CONV_MEM(bias),
                                CLNN_ARG_CONV_MEM(dx), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h),
                                CLNN_ARG_I32(d->w), CLNN_ARG_I32(d->k), CLNN_ARG_I32(d->groups), CLNN_ARG_I32(g->oh),
                                CLNN_ARG_I32(g->ow), CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w)),
                      3, global, local, op);
}

/* --------------------------------------------------------- bwd_weights */

/* Splits of the pixel reduction: enough work-groups for every compute unit
 * to hold a few, each split at least MIN_SPLIT_PIXELS long (shorter ones
 * spend more on the partial tiles than they save), partial tiles within
 * the workspace limit. */
#define GPU_BWDW_GROUPS_PER_CU 4
#define MIN_SPLIT_PIXELS 512

clnn_status clnn__conv_gpu_bwd_weights(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem x, clnn_conv_mem dy,
                                       clnn_conv_mem dw, bool accumulate) {
  const clnn_conv2d_desc *d = g->d;
  const char *op = "conv2d_bwd_weights:gpu_implicit_gemm";
  const int64_t nq = d->n * g->npix, out_elems = d->groups * g->kg * g->kd;
  clnn_gpu_tile t = clnn__gpu_tile_for(ctx, g->kg, g->kd, d->groups);
  int64_t tiles = clnn__ceil_div(g->kg, t.mwg) * clnn__ceil_div(g->kd, t.nwg) * d->groups;
  int64_t splits = clnn__ceil_div((int64_t)ctx->caps.compute_units * GPU_BWDW_GROUPS_PER_CU, tiles);
  int64_t most = clnn__ceil_div(nq, MIN_SPLIT_PIXELS);
  if (splits > most) splits = most;
  int64_t room = (int64_t)(ctx->workspace_limit / sizeof(float)) / out_elems;
  if (splits > room) splits = room;
  if (splits < 1)
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED, "the weight gradient's %lld floats exceed the workspace limit",
                      (long long)out_elems);
  /* Splits of whole K slices, so that every split but the last is full. */
  int64_t qper = clnn__ceil_div(clnn__ceil_div(nq, splits), t.kwg) * t.kwg;
  splits = clnn__ceil_div(nq, qper);
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(splits * out_elems) * sizeof(float), &ws));
  char opts[384];
  conv_options(g, &t, CLNN_GG_CONV_BWD_WEIGHTS, false, CLNN_ACT_IDENTITY, 0.0f, opts, sizeof opts);
  clnn_kernel_ref k, sum;
  CLNN_TRY(clnn__kernel(ctx, "gemm_gpu.h conv/implicit_gemm_gpu", opts, "conv_bwd_weights_gpu", &k));
  CLNN_TRY(clnn__kernel(ctx, "gemm_gpu.h conv/implicit_gemm_gpu", opts, "gemm_gpu_sum_splits", &sum));
  size_t global[3], local[3];
  gemm_grid(&t, g->kg, g->kd, splits * d->groups, global, local);
  CLNN_TRY(clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_CONV_MEM(dy), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                                  CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w),
                                  CLNN_ARG_I32(d->k), CLNN_ARG_I32(d->groups), CLNN_ARG_I32(g->oh),
                                  CLNN_ARG_I32(g->ow), CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w),
                                  CLNN_ARG_I32(qper)),
                        3, global, local, op));
  size_t sg[1] = {(size_t)out_elems}, sl[1] = {CLNN_GPU_WG};
  return clnn__launch(ctx, &sum,
                      CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_CONV_MEM(dw), CLNN_ARG_I32(out_elems),
                                CLNN_ARG_I32(splits), CLNN_ARG_I32(accumulate ? 1 : 0)),
                      1, sg, sl, op);
}

/* ------------------------------------------------------------ depthwise */

/* Work-items per group of the depthwise and bias kernels. */
#define DW_WG 128

static clnn_status dw_kernel(clnn_context *ctx, const clnn_conv2d_desc *d, bool bias, clnn_activation act,
                             float act_alpha, bool accumulate, const char *name, clnn_kernel_ref *k) {
  char opts[192], acts[64];
  clnn__act_options(acts, sizeof acts, act, act_alpha);
  snprintf(opts, sizeof opts, "-DKH=%lld -DKW=%lld -DMULT=%lld -DHAS_BIAS=%d -DACCUMULATE=%d -DWG=%d%s",
           (long long)d->kh, (long long)d->kw, (long long)(d->k / d->c), bias ? 1 : 0, accumulate ? 1 : 0,
           CLNN_GPU_WG, acts);
  return clnn__kernel(ctx, "conv/depthwise_gpu", opts, name, k);
}

#define DW_GEOMETRY_ARGS(d, g)                                                                                \
  CLNN_ARG_I32((d)->stride_h), CLNN_ARG_I32((d)->stride_w), CLNN_ARG_I32((d)->pad_h), CLNN_ARG_I32((d)->pad_w), \
      CLNN_ARG_I32((d)->dilation_h), CLNN_ARG_I32((d)->dilation_w)

clnn_status clnn__conv_gpu_dw_fwd(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                  bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  (void)transposed_w;
  const clnn_conv2d_desc *d = g->d;
  clnn_kernel_ref k;
  CLNN_TRY(dw_kernel(ctx, d, b.mem != NULL, d->act, d->act_alpha, false, "conv_dw_fwd_gpu", &k));
  size_t global[2] = {(size_t)g->npix, (size_t)(d->n * d->k)}, local[2] = {DW_WG, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_CONV_MEM(w), CLNN_ARG_CONV_MEM(b),
                                CLNN_ARG_CONV_MEM(y), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w),
                                CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow), DW_GEOMETRY_ARGS(d, g)),
                      2, global, local, op);
}

clnn_status clnn__conv_gpu_dw_bwd_data(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem dy,
                                       clnn_conv_mem w, clnn_conv_mem bias, clnn_activation act, float act_alpha,
                                       clnn_conv_mem dx) {
  const clnn_conv2d_desc *d = g->d;
  clnn_kernel_ref k;
  CLNN_TRY(dw_kernel(ctx, d, bias.mem != NULL, act, act_alpha, false, "conv_dw_bwd_data_gpu", &k));
  size_t global[2] = {(size_t)(d->h * d->w), (size_t)(d->n * d->c)}, local[2] = {DW_WG, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(dy), CLNN_ARG_CONV_MEM(w), CLNN_ARG_CONV_MEM(bias),
                                CLNN_ARG_CONV_MEM(dx), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w),
                                CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow), DW_GEOMETRY_ARGS(d, g)),
                      2, global, local, "conv2d_bwd_data:gpu_depthwise");
}

clnn_status clnn__conv_gpu_dw_bwd_weights(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem x,
                                          clnn_conv_mem dy, clnn_conv_mem dw, bool accumulate) {
  const clnn_conv2d_desc *d = g->d;
  clnn_kernel_ref k;
  CLNN_TRY(dw_kernel(ctx, d, false, CLNN_ACT_IDENTITY, 0.0f, accumulate, "conv_dw_bwd_weights_gpu", &k));
  size_t global[2] = {CLNN_GPU_WG, (size_t)d->k}, local[2] = {CLNN_GPU_WG, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_CONV_MEM(dy), CLNN_ARG_CONV_MEM(dw),
                                CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w),
                                CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow), DW_GEOMETRY_ARGS(d, g)),
                      2, global, local, "conv2d_bwd_weights:gpu_depthwise");
}

/* Taps the depthwise weight gradient keeps in registers at most (7 x 7). */
#define DW_MAX_TAPS 49

bool clnn__conv_gpu_dw_applies(const clnn_context *ctx, const clnn_conv2d_desc *d, char *why, size_t n) {
  if (!clnn__conv_is_depthwise(d)) return clnn__why(why, n, "not depthwise (groups == c, k a multiple of c)");
  if (d->kh * d->kw > DW_MAX_TAPS) return clnn__why(why, n, "over %d taps", DW_MAX_TAPS);
  return ctx->caps.max_work_group_size >= CLNN_GPU_WG || clnn__why(why, n, "needs work-groups of %d", CLNN_GPU_WG);
}

/* ----------------------------------------------------------------- bias */

clnn_status clnn__conv_gpu_bwd_bias(clnn_context *ctx, const clnn_conv2d_desc *d, int64_t npix, clnn_conv_mem dy,
                                    clnn_conv_mem db, bool accumulate) {
  char opts[64];
  snprintf(opts, sizeof opts, "-DACCUMULATE=%d -DWG=%d", accumulate ? 1 : 0, CLNN_GPU_WG);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "conv/bwd_bias_gpu", opts, "conv_bwd_bias_gpu", &k));
  size_t global[2] = {CLNN_GPU_WG, (size_t)d->k}, local[2] = {CLNN_GPU_WG, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(dy), CLNN_ARG_CONV_MEM(db), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->k),
                                CLNN_ARG_I32(npix)),
                      2, global, local, "conv2d_bwd_bias:gpu_reduce");
}
