/*
 * conv_winograd.c - conv.fwd.winograd and conv.bwd_w.winograd: the 3x3,
 * stride-1 convolution as Winograd's minimal filtering F(m x m, 3 x 3)
 * (kernels/conv/winograd.cl), for the CPU class. bwd_data at stride 1 is
 * planned as a forward of transposed weights (conv.bwd_d.as_fwd), so it
 * runs here too; the weight gradient is F(3 x 3, m x m) with the same
 * matrices (see the kernels' notes), at the end of this file.
 *
 * Three phases per chunk of images, after the weights' transform:
 * conv_wino_input writes the transformed input tiles as the own GEMM's B
 * panels, one batched gemm_tile8x32 multiplies them by the transformed
 * weights at each of the alpha^2 transform points, conv_wino_output folds
 * the products back into output tiles with the bias and activation fused.
 * The GEMM does 36 multiplies per 16 outputs and input channel where the
 * direct kernels do 144 (F(4x4, 3x3)).
 *
 * Tile, accuracy and speed: docs/BENCHMARKS.md, "conv3x3 by Winograd".
 */
#include "conv_internal.h"

#include <stdio.h>

/*
 * Output tile side m (alpha = m + 2 transform points a side; -DCLNN_WINO_M=2
 * builds F(2x2, 3x3) for comparison). F(4x4) took 0.43-0.80x the time of
 * F(2x2) on ResNet-18's 3x3 layers at batch 8 (clnn-bench, forward). Its
 * error against the float64 reference (clnn-bench --mode=C, relative L2
 * over the output) on those layers was 1.7e-6 (64 channels) to 3.5e-6
 * (512), F(2x2)'s 2.6e-7 to 6.8e-7 and direct_band's 4.3e-7 to 1.1e-6:
 * 30 times under the network parity bar of 1e-4. F(6x6, 3x3) would cut
 * the GEMM's multiplies by another 44% (64 per 36 outputs), with larger
 * transform coefficients and so more rounding error; not tried.
 */
#ifndef CLNN_WINO_M
#define CLNN_WINO_M 4
#endif
#define WINO_A (CLNN_WINO_M + 2)
#define WINO_T (WINO_A * WINO_A)
#define WINO_PANEL CLNN_TILE_NR /* the GEMM's B panels: 32 tiles */

/* Bytes of transformed tiles per chunk of images the chunking aims for
 * (input and output transforms together); the transformed weights come on
 * top, so that wide layers still get chunks of several images. */
#define WINO_CHUNK_BYTES ((size_t)16 << 20)

/* Row length of M for P tiles: conv_wino_output reads 16 tiles at a time. */
static int64_t wino_ldm(int64_t p) { return clnn__round_up(p, 16); }

typedef struct wino_geom {
  int64_t th, tw, tpi; /* output tiles a column, a row, per image */
  int64_t u;           /* floats of U: T * K * C */
} wino_geom;

static wino_geom wino_geometry(const clnn_conv_geom *g) {
  wino_geom w;
  w.th = clnn__ceil_div(g->oh, CLNN_WINO_M);
  w.tw = clnn__ceil_div(g->ow, CLNN_WINO_M);
  w.tpi = w.th * w.tw;
  w.u = (int64_t)WINO_T * g->d->k * g->d->c;
  return w;
}

/*
 * Where the forward wins (clnn-bench A/B against conv.fwd.direct_band,
 * batch 8 unless noted; docs/BENCHMARKS.md): ResNet-18's 3x3 layers, 64 to
 * 512 channels, 1.3-2.3x forward and bwd_data (7x7 planes of 512 channels
 * at batch 4: 1.2x), but not 32-channel layers (0.8x: the transforms, which
 * move every tile through memory twice, cost more than the GEMM saves), 3
 * input channels (0.3x), or 7x7 planes at batch 1 or 2 (0.45-0.6x: 4 or 8
 * tiles a call do not pay for transforming 512 x 512 filters). So the
 * planner takes it from 64 channels in and out and 16 tiles a call; the
 * weight gradient follows the same rule (1.6-3.3x against
 * conv.bwd_w.packed on those four layers; its small shapes not measured
 * apart). CLNN_VARIANT forces either on any shape it can run.
 */
#define WINO_MIN_CHANNELS 64
#define WINO_MIN_TILES 16

/* Floats of the whole workspace for chunks of nimg images: U, then V
 * (whole 32-tile panels), then M (rows of wino_ldm). */
static int64_t wino_floats(const clnn_conv_geom *g, const wino_geom *wg, int64_t nimg) {
  const clnn_conv2d_desc *d = g->d;
  const int64_t p = nimg * wg->tpi;
  return wg->u + (int64_t)WINO_T * (clnn__round_up(p, WINO_PANEL) * d->c + d->k * wino_ldm(p));
}

/* Images per chunk: about WINO_CHUNK_BYTES of tiles, within the workspace limit. */
static int64_t wino_chunk(const clnn_context *ctx, const clnn_conv_geom *g, const wino_geom *wg) {
  const clnn_conv2d_desc *d = g->d;
  const int64_t per_image = (int64_t)WINO_T * (d->c + d->k) * wg->tpi;
  int64_t c = (int64_t)(WINO_CHUNK_BYTES / sizeof(float)) / per_image;
  c = c < 1 ? 1 : c > d->n ? d->n : c;
  while (c > 1 && (uint64_t)wino_floats(g, wg, c) * sizeof(float) > ctx->workspace_limit) c--;
  return c;
}

/* The shapes both passes take and the planner's rule; least: the
 * pass's workspace floats for one image; forced: the pass's variant name. */
static bool wino_applies(const clnn_context *ctx, const clnn_conv_geom *g, int64_t least, const char *forced,
                         char *why, size_t n) {
  const clnn_conv2d_desc *d = g->d;
  if (!clnn__own_engine_applies(ctx, why, n)) return false;
  if (d->kh != 3 || d->kw != 3 || !clnn__conv_is_stride1(d) || d->dilation_h != 1 || d->dilation_w != 1 ||
      d->groups != 1)
    return clnn__why(why, n, "needs a 3x3 kernel, stride 1, dilation 1 and one group");
  if (d->pad_h < 0 || d->pad_w < 0) return clnn__why(why, n, "needs no negative padding");
  if (g->dt != CLNN_FLOAT32) return clnn__why(why, n, "float32 only");
  if (least > CLNN_INDEX_MAX || (uint64_t)least * sizeof(float) > ctx->workspace_limit)
    return clnn__why(why, n, "its transformed tiles need %lld bytes of workspace for one image, over the limit of %zu",
                     (long long)least * (long long)sizeof(float), ctx->workspace_limit);
  if (clnn__name_in_list(ctx->env.variants, forced)) return true; /* forced: any shape it runs */
  if (d->c < WINO_MIN_CHANNELS || d->k < WINO_MIN_CHANNELS)
    return clnn__why(why, n, "under %d channels in or out, where direct_band is faster", WINO_MIN_CHANNELS);
  if (d->n * wino_geometry(g).tpi < WINO_MIN_TILES)
    return clnn__why(why, n, "under %d output tiles a call, too few to pay for the transforms", WINO_MIN_TILES);
  return true;
}

bool clnn__conv_winograd_applies(const clnn_context *ctx, const clnn_conv_geom *g, char *why, size_t n) {
  const wino_geom wg = wino_geometry(g);
  return wino_applies(ctx, g, wino_floats(g, &wg, 1), "conv.fwd.winograd", why, n);
}

static clnn_status wino_weights(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem w, bool transposed,
                                cl_mem ws, const char *op) {
  char opts[32];
  snprintf(opts, sizeof opts, "-DWG_M=%d", CLNN_WINO_M);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("winograd"), opts, "conv_wino_weights", &k));
  size_t global[2] = {(size_t)clnn__ceil_div(g->d->c, 16), (size_t)g->d->k}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(w), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_I32(g->d->c),
                                CLNN_ARG_I32(g->d->k), CLNN_ARG_I32(transposed ? 1 : 0)),
                      2, global, local, op);
}

static clnn_status wino_input(clnn_context *ctx, const clnn_conv_geom *g, const wino_geom *wg, clnn_conv_mem x,
                              cl_mem ws, int64_t v_off, int64_t p, int64_t vt_s, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  char opts[32];
  snprintf(opts, sizeof opts, "-DWG_M=%d", CLNN_WINO_M);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("winograd"), opts, "conv_wino_input", &k));
  size_t global[2] = {(size_t)(2 * clnn__ceil_div(p, WINO_PANEL)), (size_t)d->c}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_MEM(ws), CLNN_ARG_U64(v_off), CLNN_ARG_I32(d->c),
                                CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w), CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w),
                                CLNN_ARG_I32(wg->th), CLNN_ARG_I32(wg->tw), CLNN_ARG_I32(p), CLNN_ARG_U64(vt_s)),
                      2, global, local, op);
}

static clnn_status wino_output(clnn_context *ctx, const clnn_conv_geom *g, const wino_geom *wg, cl_mem ws,
                               int64_t m_off, int64_t p, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  char opts[128], act[64];
  clnn__act_options(act, sizeof act, d->act, d->act_alpha);
  snprintf(opts, sizeof opts, "-DWG_M=%d -DHAS_BIAS=%d%s", CLNN_WINO_M, b.mem ? 1 : 0, act);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("winograd"), opts, "conv_wino_output", &k));
  size_t global[2] = {(size_t)clnn__ceil_div(p, 16), (size_t)d->k}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(m_off), CLNN_ARG_CONV_MEM(b), CLNN_ARG_CONV_MEM(y),
                                CLNN_ARG_I32(d->k), CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow), CLNN_ARG_I32(wg->th),
                                CLNN_ARG_I32(wg->tw), CLNN_ARG_I32(p), CLNN_ARG_I32(wino_ldm(p)),
                                CLNN_ARG_U64((uint64_t)d->k * wino_ldm(p))),
                      2, global, local, op);
}

/* M[t] (K x P) = U[t] (K x C) V[t] (C x P, panels), for every point t. */
static clnn_status wino_gemm(clnn_context *ctx, const clnn_conv_geom *g, cl_mem ws, int64_t v_off, int64_t vt_s,
                             int64_t m_off, int64_t p, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  clnn_gemm_job j = clnn__gemm_job(d->k, p, d->c);
  j.nb1 = WINO_T;
  j.a = ws;
  j.a_off = 0;
  j.lda = d->c;
  j.a_s1 = d->k * d->c;
  j.b = ws;
  j.b_off = (size_t)v_off;
  j.ldb = WINO_PANEL;
  j.b_s1 = vt_s;
  j.b_layout = CLNN_B_PANELS;
  j.c = ws;
  j.c_off = (size_t)m_off;
  j.ldc = wino_ldm(p);
  j.c_s1 = d->k * wino_ldm(p);
  return clnn__gemm_run(ctx, &j, op);
}

clnn_status clnn__conv_winograd_fwd(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                    bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  const wino_geom wg = wino_geometry(g);
  const int64_t chunk = wino_chunk(ctx, g, &wg), pmax = chunk * wg.tpi;
  const int64_t v_off = wg.u, m_off = v_off + (int64_t)WINO_T * clnn__round_up(pmax, WINO_PANEL) * d->c;
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)wino_floats(g, &wg, chunk) * sizeof(float), &ws));
  CLNN_TRY(wino_weights(ctx, g, w, transposed_w, ws, op));
  for (int64_t img0 = 0; img0 < d->n; img0 += chunk) {
    const int64_t nimg = d->n - img0 < chunk ? d->n - img0 : chunk, p = nimg * wg.tpi;
    const int64_t vt_s = clnn__round_up(p, WINO_PANEL) * d->c;
    CLNN_TRY(wino_input(ctx, g, &wg, clnn__conv_mem_at(x, img0 * d->c * d->h * d->w), ws, v_off, p, vt_s, op));
    CLNN_TRY(wino_gemm(ctx, g, ws, v_off, vt_s, m_off, p, op));
    CLNN_TRY(wino_output(ctx, g, &wg, ws, m_off, p, b, clnn__conv_mem_at(y, img0 * d->k * g->npix), op));
  }
  return CLNN_SUCCESS;
}

/* --------------------------------------------------------- bwd_weights */

/* Row lengths of DYT (tiles) and S (input channels): the kernels read and
 * write 16 at a time. */
static int64_t wino_bw_floats(const clnn_conv_geom *g, const wino_geom *wg, int64_t nimg) {
  const clnn_conv2d_desc *d = g->d;
  const int64_t p = nimg * wg->tpi;
  return (int64_t)WINO_T * (d->k * clnn__round_up(d->c, 16) + d->k * wino_ldm(p) + clnn__round_up(d->c, WINO_PANEL) * p);
}

bool clnn__conv_winograd_bwd_weights_applies(const clnn_context *ctx, const clnn_conv_geom *g, char *why, size_t n) {
  const wino_geom wg = wino_geometry(g);
  return wino_applies(ctx, g, wino_bw_floats(g, &wg, 1), "conv.bwd_w.winograd", why, n);
}

static clnn_status wino_bw_dy(clnn_context *ctx, const clnn_conv_geom *g, const wino_geom *wg, clnn_conv_mem dy,
                              cl_mem ws, int64_t off, int64_t p, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  char opts[32];
  snprintf(opts, sizeof opts, "-DWG_M=%d", CLNN_WINO_M);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("winograd"), opts, "conv_wino_bw_dy", &k));
  size_t global[2] = {(size_t)clnn__ceil_div(p, 16), (size_t)d->k}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(dy), CLNN_ARG_MEM(ws), CLNN_ARG_U64(off), CLNN_ARG_I32(d->k),
                                CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow), CLNN_ARG_I32(wg->th), CLNN_ARG_I32(wg->tw),
                                CLNN_ARG_I32(p), CLNN_ARG_I32(wino_ldm(p)), CLNN_ARG_U64((uint64_t)d->k * wino_ldm(p))),
                      2, global, local, op);
}

static clnn_status wino_bw_x(clnn_context *ctx, const clnn_conv_geom *g, const wino_geom *wg, clnn_conv_mem x,
                             cl_mem ws, int64_t off, int64_t p, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  char opts[32];
  snprintf(opts, sizeof opts, "-DWG_M=%d", CLNN_WINO_M);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("winograd"), opts, "conv_wino_bw_x", &k));
  size_t global[2] = {(size_t)p, (size_t)(2 * clnn__ceil_div(d->c, WINO_PANEL))}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_MEM(ws), CLNN_ARG_U64(off), CLNN_ARG_I32(d->c),
                                CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w), CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w),
                                CLNN_ARG_I32(wg->th), CLNN_ARG_I32(wg->tw), CLNN_ARG_I32(p),
                                CLNN_ARG_U64((uint64_t)clnn__round_up(d->c, WINO_PANEL) * p)),
                      2, global, local, op);
}

clnn_status clnn__conv_winograd_bwd_weights(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem x,
                                            clnn_conv_mem dy, clnn_conv_mem dw, bool accumulate) {
  const clnn_conv2d_desc *d = g->d;
  const char *op = "conv2d_bwd_weights:winograd";
  const wino_geom wg = wino_geometry(g);
  const int64_t per_image = (int64_t)WINO_T * (d->c + d->k) * wg.tpi, lds = clnn__round_up(d->c, 16);
  int64_t chunk = (int64_t)(WINO_CHUNK_BYTES / sizeof(float)) / per_image;
  chunk = chunk < 1 ? 1 : chunk > d->n ? d->n : chunk;
  while (chunk > 1 && (uint64_t)wino_bw_floats(g, &wg, chunk) * sizeof(float) > ctx->workspace_limit) chunk--;
  const int64_t pmax = chunk * wg.tpi, s_floats = (int64_t)WINO_T * d->k * lds;
  const int64_t dy_off = s_floats, x_off = dy_off + (int64_t)WINO_T * d->k * wino_ldm(pmax);
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)wino_bw_floats(g, &wg, chunk) * sizeof(float), &ws));
  for (int64_t img0 = 0; img0 < d->n; img0 += chunk) {
    const int64_t nimg = d->n - img0 < chunk ? d->n - img0 : chunk, p = nimg * wg.tpi;
    CLNN_TRY(wino_bw_dy(ctx, g, &wg, clnn__conv_mem_at(dy, img0 * d->k * g->npix), ws, dy_off, p, op));
    CLNN_TRY(wino_bw_x(ctx, g, &wg, clnn__conv_mem_at(x, img0 * d->c * d->h * d->w), ws, x_off, p, op));
    /* S[t] (K x C) (+)= DYT[t] (K x P) XT[t] (P x C, panels), in chunk order */
    clnn_gemm_job j = clnn__gemm_job(d->k, d->c, p);
    j.nb1 = WINO_T;
    j.a = ws;
    j.a_off = (size_t)dy_off;
    j.lda = wino_ldm(p);
    j.a_s1 = d->k * wino_ldm(p);
    j.b = ws;
    j.b_off = (size_t)x_off;
    j.ldb = WINO_PANEL;
    j.b_s1 = clnn__round_up(d->c, WINO_PANEL) * p;
    j.b_layout = CLNN_B_PANELS;
    j.c = ws;
    j.c_off = 0;
    j.ldc = lds;
    j.c_s1 = d->k * lds;
    j.beta = img0 > 0 ? 1.0f : 0.0f;
    CLNN_TRY(clnn__gemm_run(ctx, &j, op));
  }
  char opts[32];
  snprintf(opts, sizeof opts, "-DWG_M=%d", CLNN_WINO_M);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("winograd"), opts, "conv_wino_bw_out", &k));
  size_t global[2] = {(size_t)clnn__ceil_div(d->c, 16), (size_t)d->k}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_CONV_MEM(dw), CLNN_ARG_I32(d->c),
                                CLNN_ARG_I32(lds), CLNN_ARG_U64((uint64_t)d->k * lds), CLNN_ARG_I32(accumulate ? 1 : 0)),
                      2, global, local, op);
}
