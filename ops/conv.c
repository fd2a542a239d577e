/*
 * conv.c - 2-D convolution forward: its variant table (at the end, best
 * first) and the launches of each variant (kernels/conv/, runtime/gemm.c),
 * plus the building blocks the backward passes share (ops/conv_internal.h).
 * The descriptor is desc/conv.c, the GPU-class kernels ops/conv_gpu.c
 * (conv.fwd.gpu_depthwise, conv.fwd.gpu_implicit_gemm).
 *
 * The CPU-class variants (the own engine's kernels unless noted):
 *  - depthwise_flat, depthwise_strips (any class and engine): groups == c
 *    and k a multiple of c. Small planes run the flat kernels, where every
 *    tap is one shift of the flat output position over zero-padded planes
 *    of several images. The strip kernels give each work-item one output
 *    plane, keeping the input rows it needs in a private ring, zero-padded
 *    (no bounds checks in the tap loops: branches stop PoCL vectorizing)
 *    and split by column phase for strides; four 16-wide strips at a time
 *    (independent FMA chains). The backward's depthwise kernels share the
 *    programs (kernels/conv/depthwise_flat.cl, depthwise_strips.cl).
 *  - gemm_1x1_packed, and gemm_1x1 (any class and engine): 1x1 kernel,
 *    stride 1, no padding: x itself is the GEMM's B (conv_1x1_gemm over
 *    16-pixel chunks of the planes, or the engine's batched GEMM).
 *  - strided_1x1: a strided 1x1 of one group (ResNet's downsampling
 *    shortcut): the subsampled input, then conv_1x1_gemm.
 *  - grouped_direct: few output channels per group (ResNeXt / RegNet), all
 *    of a group's per work-item, pixels along the vectors.
 *  - winograd (ops/conv_winograd.c): 3x3, stride 1, dilation 1, one group,
 *    64+ channels in and out: Winograd's F(4x4, 3x3), transforms around a
 *    batched own GEMM over the 36 transform points.
 *  - direct_band: stride 1: bands of output rows, the padded input rows in
 *    a local-memory ring, 8-pixel x 32-channel micro-tiles.
 *  - implicit_gemm: stride 1: the input copied once into zero-padded planes,
 *    conv_packed_gemm reading its patch rows as shifted views of them.
 *  - gather_gemm: any stride: conv_packed_gemm gathering each 32-pixel
 *    tile's patches straight from x.
 *  - im2col_gemm (any class and engine, the last resort): im2col writes the
 *    patches of a chunk of images into the workspace (32-wide panels for
 *    the own GEMM, row-major for CLBlast), then one batched GEMM with the
 *    bias and activation fused; the chunk stays cache-sized and under the
 *    workspace limit.
 * Each entry also names the clnn_conv_algo that clnn_conv2d_fwd_algo
 * reports for it, and its rule for float16 / bfloat16 tensors
 * (clnn_conv_half_rule): the depthwise variants take them directly, the
 * others run on staged float32 copies (ops/conv_half.c). The packed variants (grouped_direct .. gather_gemm) also
 * take transposed weights: bwd_data's stride-1 route and the transposed
 * convolution plan their work as such forwards.
 */
#include "conv_internal.h"

#include <stdio.h>
#include <string.h>

#define PANEL_N CLNN_TILE_NR /* the own GEMM's B panels: 32-pixel tiles */
#define IM2COL_CHUNK_BYTES CLNN_CONV_CHUNK_BYTES

static const char *const algo_names[CLNN_CONV_ALGO_COUNT_] = {
    "depthwise_direct", "gemm_1x1", "im2col_gemm", "implicit_gemm"};

const char *clnn_conv_algo_name(clnn_conv_algo algo) {
  if ((int)algo < 0 || algo >= CLNN_CONV_ALGO_COUNT_) return "unknown";
  return algo_names[algo];
}

clnn_status clnn_conv2d_fwd_algo(const clnn_context *ctx, const clnn_conv2d_desc *desc,
                                 clnn_conv_algo *algo) {
  CLNN_ENTER(NULL);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(NULL, algo);
  CLNN_TRY(clnn__conv2d_desc_check(NULL, desc, NULL, NULL));
  *algo = clnn__conv2d_fwd_algo(ctx, desc);
  return CLNN_SUCCESS;
}

/* -------------------------------------------------------------- geometry */

clnn_conv_geom clnn__conv_geometry(const clnn_conv2d_desc *d, int64_t oh, int64_t ow) {
  clnn_conv_geom g;
  g.d = d;
  g.oh = oh;
  g.ow = ow;
  g.cg = d->c / d->groups;
  g.kg = d->k / d->groups;
  g.kd = g.cg * d->kh * d->kw;
  g.npix = oh * ow;
  g.dt = CLNN_FLOAT32;
  return g;
}

bool clnn__conv_half_direct(const clnn_conv_geom *g) {
  (void)g;
  return true;
}

#define CONV_STR_(x) #x
#define CONV_STR(x) CONV_STR_(x)

const char *clnn__conv_dt_option(clnn_dtype dt) {
  switch (dt) {
  case CLNN_FLOAT16: return " -DDT=" CONV_STR(CLNN_DTYPE_CODE_FLOAT16);
  case CLNN_BFLOAT16: return " -DDT=" CONV_STR(CLNN_DTYPE_CODE_BFLOAT16);
  default: return "";
  }
}

typedef clnn_conv_geom conv_geom;

clnn_status clnn__conv_chunk(clnn_context *ctx, int64_t n, int64_t per_image, int64_t fixed, size_t budget,
                             const char *what, int64_t *chunk) {
  if ((uint64_t)(per_image + fixed) * sizeof(float) > ctx->workspace_limit)
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED, "one image's %s need %lld bytes, over the workspace limit of %zu bytes",
                      what, (long long)((per_image + fixed) * (int64_t)sizeof(float)), ctx->workspace_limit);
  if (budget > ctx->workspace_limit) budget = ctx->workspace_limit;
  int64_t c = ((int64_t)(budget / sizeof(float)) - fixed) / per_image;
  if (c < 1) c = 1;
  if (c > n) c = n;
  if (c * per_image > CLNN_INDEX_MAX)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "the %s of one image are over 2^31 elements", what);
  *chunk = c;
  return CLNN_SUCCESS;
}

/* The GEMM job of one chunk of images: weights x patches (or x) -> y. */
static clnn_gemm_job gemm_job_for(const conv_geom *g, clnn_conv_mem w, clnn_conv_mem b, clnn_conv_mem y,
                                  int64_t img0, int64_t nimg) {
  const clnn_conv2d_desc *d = g->d;
  clnn_gemm_job j = clnn__gemm_job(g->kg, g->npix, g->kd);
  j.nb1 = nimg;
  j.nb2 = d->groups;
  j.a = w.mem;
  j.a_off = w.off;
  j.lda = g->kd;
  j.a_s1 = 0;
  j.a_s2 = g->kg * g->kd;
  j.c = y.mem;
  j.c_off = y.off + (size_t)(img0 * d->k * g->npix);
  j.ldc = g->npix;
  j.c_s1 = d->k * g->npix;
  j.c_s2 = g->kg * g->npix;
  if (b.mem) {
    j.bias = b.mem;
    j.bias_off = b.off;
    j.bias_s2 = g->kg;
  }
  j.act = d->act;
  j.act_alpha = d->act_alpha;
  return j;
}

/* ------------------------------------------------------------- gemm_1x1 */

bool clnn__conv_1x1_chunked(const clnn_context *ctx, const clnn_conv2d_desc *d) {
  return clnn__use_own_gemm(ctx) && d->groups == 1 && d->kh == 1 && d->kw == 1 && d->stride_h == 1 &&
         d->stride_w == 1 && d->pad_h == 0 && d->pad_w == 0 && d->h * d->w >= 16;
}

/* Floats of conv_1x1_gemm's packed weights (rows of 8 output channels), at
 * the start of the workspace. */
static int64_t conv_1x1_packed_floats(int64_t m, int64_t kd) { return clnn__round_up(m, CLNN_TILE_MR) * kd; }

clnn_status clnn__conv_1x1_gemm(clnn_context *ctx, int64_t n, int64_t m, int64_t kd, int64_t hw, clnn_conv_mem w,
                                bool trans, clnn_conv_mem bias, clnn_activation act, float act_alpha,
                                clnn_conv_mem x, clnn_conv_mem y, const char *op) {
  int64_t mtiles = clnn__ceil_div(m, CLNN_TILE_MR), nch = clnn__ceil_div(hw, 16);
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)conv_1x1_packed_floats(m, kd) * sizeof(float), &ws));
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("support"), "", "conv_1x1_pack_a", &k));
  size_t gp[2] = {(size_t)kd, (size_t)mtiles}, lp[2] = {1, 1};
  CLNN_TRY(clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_CONV_MEM(w), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_I32(m),
                                  CLNN_ARG_I32(kd), CLNN_ARG_I32(trans ? 1 : 0)),
                        2, gp, lp, op));
  char opts[128], acts[64];
  clnn__act_options(acts, sizeof acts, act, act_alpha);
  snprintf(opts, sizeof opts, "-DC1_GEMM=1 -DHAS_BIAS=%d%s", bias.mem ? 1 : 0, acts);
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("gemm_1x1"), opts, "conv_1x1_gemm", &k));
  size_t global[2] = {(size_t)mtiles, (size_t)clnn__ceil_div(n * nch, 2)}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_CONV_MEM(bias),
                                CLNN_ARG_CONV_MEM(y), CLNN_ARG_I32(n), CLNN_ARG_I32(m), CLNN_ARG_I32(kd),
                                CLNN_ARG_I32(hw), CLNN_ARG_I32(nch),
                                CLNN_ARG_I32(clnn__stream_output(ctx, (size_t)(n * m * hw) * sizeof(float)))),
                      2, global, local, op);
}

static clnn_status fwd_gemm_1x1(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                clnn_conv_mem b, clnn_conv_mem y) {
  const clnn_conv2d_desc *d = g->d;
  if (clnn__conv_1x1_chunked(ctx, d))
    return clnn__conv_1x1_gemm(ctx, d->n, d->k, d->c, g->npix, w, false, b, d->act, d->act_alpha, x, y,
                               "conv2d_fwd:gemm_1x1");
  clnn_gemm_job j = gemm_job_for(g, w, b, y, 0, d->n);
  j.b = x.mem;
  j.b_off = x.off;
  j.ldb = g->npix;
  j.b_s1 = d->c * g->npix;
  j.b_s2 = g->cg * g->npix;
  j.b_layout = CLNN_B_ROWMAJOR;
  return clnn__gemm_run(ctx, &j, "conv2d_fwd:gemm_1x1");
}

/* ---------------------------------------------------------- im2col_gemm */

clnn_status clnn__conv_im2col(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem col, int layout,
                             int64_t img0, int64_t nimg, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  char opts[32];
  snprintf(opts, sizeof opts, "-DPANELS=%d", layout);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("im2col"), opts, "conv_im2col", &k));
  size_t global[3] = {(size_t)g->kd, (size_t)d->groups, (size_t)nimg};
  size_t local[3] = {1, 1, 1};
  return clnn__launch(
      ctx, &k,
      CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_CONV_MEM(col), CLNN_ARG_I32(d->c),
                CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w), CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow),
                CLNN_ARG_I32(d->kh), CLNN_ARG_I32(d->kw), CLNN_ARG_I32(d->stride_h),
                CLNN_ARG_I32(d->stride_w), CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w),
                CLNN_ARG_I32(d->dilation_h), CLNN_ARG_I32(d->dilation_w), CLNN_ARG_I32(d->groups),
                CLNN_ARG_I32(img0)),
      3, global, local, op);
}

/*
 * A strided (or padded) 1x1 convolution, e.g. ResNet's downsampling
 * shortcut: its im2col is the subsampled input, already in the layout
 * conv_1x1_gemm reads (channels x pixels per image), so the chunked 1x1
 * GEMM runs on it instead of the generic panel GEMM (170 -> 250+ GFLOP/s on
 * the 256 -> 512 stride-2 shortcut). One workspace holds both: the 1x1
 * GEMM's packed weights at its start (clnn__conv_1x1_gemm asks for that
 * much of the same buffer), the subsampled images after them.
 */
static bool strided_1x1(const clnn_context *ctx, const conv_geom *g) {
  const clnn_conv2d_desc *d = g->d;
  return clnn__use_own_gemm(ctx) && d->groups == 1 && d->kh == 1 && d->kw == 1 && g->npix >= 16;
}

static clnn_status fwd_strided_1x1(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                   clnn_conv_mem b, clnn_conv_mem y) {
  const clnn_conv2d_desc *d = g->d;
  const int64_t packed_w = conv_1x1_packed_floats(d->k, d->c), per_image = d->c * g->npix;
  int64_t chunk;
  CLNN_TRY(clnn__conv_chunk(ctx, d->n, per_image, packed_w, IM2COL_CHUNK_BYTES, "subsampled input", &chunk));
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(packed_w + chunk * per_image) * sizeof(float), &ws));
  clnn_conv_mem col = {ws, (size_t)packed_w};
  for (int64_t img0 = 0; img0 < d->n; img0 += chunk) {
    int64_t nimg = d->n - img0 < chunk ? d->n - img0 : chunk;
    CLNN_TRY(clnn__conv_im2col(ctx, g, x, col, CLNN_COL_ROWMAJOR, img0, nimg, "conv2d_fwd:im2col_gemm"));
    CLNN_TRY(clnn__conv_1x1_gemm(ctx, nimg, d->k, d->c, g->npix, w, false, b, d->act, d->act_alpha, col,
                                 clnn__conv_mem_at(y, img0 * d->k * g->npix), "conv2d_fwd:im2col_gemm"));
  }
  return CLNN_SUCCESS;
}

static clnn_status fwd_im2col_gemm(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                   clnn_conv_mem b, clnn_conv_mem y) {
  const clnn_conv2d_desc *d = g->d;
  bool panels = clnn__use_own_gemm(ctx);
  int64_t ncols = panels ? clnn__ceil_div(g->npix, PANEL_N) * PANEL_N : g->npix;
  int64_t per_group = g->kd * ncols; /* elements of one image and group */
  int64_t per_image = per_group * d->groups, chunk;
  CLNN_TRY(clnn__conv_chunk(ctx, d->n, per_image, 0, IM2COL_CHUNK_BYTES, "patches", &chunk));
  cl_mem col;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(chunk * per_image) * sizeof(float), &col));
  for (int64_t img0 = 0; img0 < d->n; img0 += chunk) {
    int64_t nimg = d->n - img0 < chunk ? d->n - img0 : chunk;
    CLNN_TRY(clnn__conv_im2col(ctx, g, x, (clnn_conv_mem){col, 0}, panels ? CLNN_COL_PANELS : CLNN_COL_ROWMAJOR, img0, nimg,
                               "conv2d_fwd:im2col_gemm"));
    clnn_gemm_job j = gemm_job_for(g, w, b, y, img0, nimg);
    j.b = col;
    j.b_off = 0;
    j.ldb = panels ? PANEL_N : g->npix;
    j.b_s1 = per_image;
    j.b_s2 = per_group;
    j.b_layout = panels ? CLNN_B_PANELS : CLNN_B_ROWMAJOR;
    CLNN_TRY(clnn__gemm_run(ctx, &j, "conv2d_fwd:im2col_gemm"));
  }
  return CLNN_SUCCESS;
}

/* ----------------------------------------------------- depthwise_direct */

/* Largest private buffer of the direct depthwise kernels, in floats. */
#define DW_PRIV_MAX 16384

clnn_conv_dw_geom clnn__conv_dw_geometry(const clnn_conv2d_desc *d, int64_t ow) {
  clnn_conv_dw_geom b;
  int64_t off = (d->kw - 1) * d->dilation_w, sw = d->stride_w, data_len;
  if (sw == 2) {
    /* bwd_data, even/odd columns apart: dy at off2 + ox; reads reach off2 + round64(w)/2 + (pad_w+1)/2 + 15 */
    int64_t off2 = (off + 1) / 2;
    data_len = clnn__max64(off2 + clnn__ceil_div(d->w, 64) * 32 + (d->pad_w + 1) / 2 + 1, off2 + ow);
  } else {
    /* bwd_data, zero insertion: reads reach round64(w) - 1 + pad_w + off, writes off + (ow-1)*stride_w */
    data_len = clnn__max64(clnn__ceil_div(d->w, 64) * 64 + d->pad_w + off, off + (ow - 1) * sw + 1);
  }
  /* forward and bwd_weights: per phase, 64-column blocks plus the largest tap offset */
  b.nstrip = clnn__ceil_div(ow, 16);
  int64_t phase_len = (clnn__ceil_div(ow, 64) * 64 + off / sw) * sw;
  b.rowlen = clnn__ceil_div(clnn__max64(data_len, phase_len), 64 * sw) * 64 * sw;
  /* bwd_data: dy rows one dx row reads; forward: x rows of two output rows;
   * bwd_weights: x rows of one output row; each plus the rows prepared ahead */
  int64_t ring_data = (d->kh - 1) * d->dilation_h / d->stride_h + 2 + CLNN_CONV_DWB_AHEAD;
  int64_t ring_x = (d->kh - 1) * d->dilation_h + 1 + d->stride_h + CLNN_CONV_DWB_AHEAD;
  for (b.ring = 4; b.ring < clnn__max64(ring_data, ring_x);) b.ring *= 2;
  return b;
}

bool clnn__conv_dw_fits(const clnn_conv2d_desc *d, int64_t ow) {
  clnn_conv_dw_geom b = clnn__conv_dw_geometry(d, ow);
  return (b.ring + 2) * b.rowlen <= DW_PRIV_MAX;
}

clnn_status clnn__conv_dw_kernel(clnn_context *ctx, const clnn_conv2d_desc *d, const clnn_conv_dw_geom *b,
                                 clnn_dtype dt, clnn_activation act, float act_alpha, const char *name,
                                 clnn_kernel_ref *k) {
  char opts[256], acts[64];
  clnn__act_options(acts, sizeof acts, act, act_alpha);
  snprintf(opts, sizeof opts,
           "-DDWB_FWD=%d -DDWB_KH=%lld -DDWB_KW=%lld -DDWB_SH=%lld -DDWB_SW=%lld -DDWB_ROWLEN=%lld -DDWB_RING=%lld%s%s",
           strcmp(name, "conv_dw_fwd") == 0, (long long)d->kh, (long long)d->kw, (long long)d->stride_h,
           (long long)d->stride_w, (long long)b->rowlen, (long long)b->ring, acts, clnn__conv_dt_option(dt));
  return clnn__kernel(ctx, CLNN_CONV_SOURCES("depthwise_strips"), opts, name, k);
}

/* ------------------------------------------------------ depthwise flat */

/* Floats of one buffer fill the flat kernels aim for (images are added
 * until a fill holds about this many): long enough that the last 64-wide
 * block's waste and the per-fill costs stay small. */
#define DWF_TARGET 512
/* Largest input plane (h * w) the flat kernels take: on 56 x 56 planes the
 * strip kernels were as fast or faster (stride-2 bwd_data twice as fast),
 * on 40 x 40 and below the flat ones faster (clnn-bench, CPU time). */
#define DWF_MAX_PLANE 2047
/* Private buffer size classes of the flat kernels, in floats. */
static const int64_t dwf_buf_classes[] = {1024, 2048, 4096};
#define DWF_BUF_MAX 4096

/* The flat kernels' geometry for d (bwd_data: that pass, else the forward
 * and bwd_weights); false when they do not apply (mult > 1 in bwd_data is
 * fine; padding beyond the kernel's extent in bwd_data is not). */
static bool dwf_geometry(const clnn_conv2d_desc *d, int64_t oh, int64_t ow, bool bwd_data, clnn_conv_dwf_geom *f) {
  memset(f, 0, sizeof *f);
  (void)ow;
  int64_t ext_h = (d->kh - 1) * d->dilation_h, ext_w = (d->kw - 1) * d->dilation_w;
  int64_t nph = 1, max_off;
  if (bwd_data) {
    /* dy zero-inserted into planes of (h + ext_h) x (w + ext_w) */
    f->pt = ext_h - d->pad_h;
    f->pl = ext_w - d->pad_w;
    if (f->pt < 0 || f->pl < 0) return false;
    f->hs = d->h + ext_h;
    f->ws = d->w + ext_w;
    max_off = ext_h * f->ws + ext_w;
    (void)oh;
  } else {
    nph = d->stride_h * d->stride_w;
    f->hs = clnn__ceil_div(d->h + 2 * d->pad_h, d->stride_h);
    f->ws = clnn__ceil_div(d->w + 2 * d->pad_w, d->stride_w);
    max_off = ext_h / d->stride_h * f->ws + ext_w / d->stride_w;
  }
  int64_t plane = f->hs * f->ws;
  for (f->g = DWF_TARGET / plane < 1 ? 1 : DWF_TARGET / plane; f->g >= 1; f->g--) {
    if (f->g > d->n) f->g = d->n;
    f->nq = clnn__round_up(f->g * plane, 64);
    f->phs = clnn__round_up(f->nq + max_off, 16);
    int64_t need = nph * f->phs > f->nq ? nph * f->phs : f->nq;
    if (need > DWF_BUF_MAX) continue;
    for (size_t i = 0; i < sizeof dwf_buf_classes / sizeof dwf_buf_classes[0]; i++)
      if (need <= dwf_buf_classes[i]) {
        f->buf = dwf_buf_classes[i];
        break;
      }
    return true;
  }
  return false;
}

bool clnn__conv_dw_flat(const clnn_conv2d_desc *d, int64_t oh, int64_t ow, bool bwd_data, clnn_conv_dwf_geom *f) {
  if (!clnn__conv_is_depthwise(d)) return false;
  if (!dwf_geometry(d, oh, ow, bwd_data, f)) return false;
  return d->h * d->w <= DWF_MAX_PLANE;
}

clnn_status clnn__conv_dwf_kernel(clnn_context *ctx, const clnn_conv2d_desc *d, const clnn_conv_dwf_geom *f,
                                  clnn_dtype dt, clnn_activation act, float act_alpha, const char *name,
                                  clnn_kernel_ref *k) {
  char opts[224], acts[64];
  clnn__act_options(acts, sizeof acts, act, act_alpha);
  snprintf(opts, sizeof opts,
           "-DDWF_KH=%lld -DDWF_KW=%lld -DDWF_SH=%lld -DDWF_SW=%lld -DDWF_DH=%lld -DDWF_DW=%lld -DDWF_BUF=%lld%s%s",
           (long long)d->kh, (long long)d->kw, (long long)d->stride_h, (long long)d->stride_w,
           (long long)d->dilation_h, (long long)d->dilation_w, (long long)f->buf, acts, clnn__conv_dt_option(dt));
  return clnn__kernel(ctx, CLNN_CONV_SOURCES("depthwise_flat"), opts, name, k);
}

static clnn_status fwd_depthwise_flat(clnn_context *ctx, const conv_geom *g, const clnn_conv_dwf_geom *f,
                                      clnn_conv_mem x, clnn_conv_mem w, clnn_conv_mem b, clnn_conv_mem y) {
  const clnn_conv2d_desc *d = g->d;
  clnn_kernel_ref k;
  CLNN_TRY(clnn__conv_dwf_kernel(ctx, d, f, g->dt, d->act, d->act_alpha, "conv_dwf_fwd", &k));
  size_t global[2] = {(size_t)d->k, (size_t)clnn__ceil_div(d->n, f->g)}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_CONV_MEM(w), CLNN_ARG_CONV_MEM(b),
                                CLNN_ARG_CONV_MEM(y), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->k),
                                CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w), CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow),
                                CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w), CLNN_ARG_I32(f->g), CLNN_ARG_I32(f->hs),
                                CLNN_ARG_I32(f->ws), CLNN_ARG_I32(f->phs), CLNN_ARG_I32(f->nq),
                                CLNN_ARG_I32(b.mem ? 1 : 0)),
                      2, global, local, "conv2d_fwd:depthwise_flat");
}

static clnn_status fwd_depthwise(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                 clnn_conv_mem b, clnn_conv_mem y) {
  const clnn_conv2d_desc *d = g->d;
  clnn_conv_dwf_geom f;
  if (clnn__conv_dw_flat(d, g->oh, g->ow, false, &f)) return fwd_depthwise_flat(ctx, g, &f, x, w, b, y);
  clnn_conv_dw_geom dg = clnn__conv_dw_geometry(d, g->ow);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__conv_dw_kernel(ctx, d, &dg, g->dt, d->act, d->act_alpha, "conv_dw_fwd", &k));
  size_t global[1] = {(size_t)(d->n * d->k)}, local[1] = {1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_CONV_MEM(w), CLNN_ARG_CONV_MEM(b),
                                CLNN_ARG_CONV_MEM(y), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->k), CLNN_ARG_I32(d->h),
                                CLNN_ARG_I32(d->w), CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow), CLNN_ARG_I32(d->pad_h),
                                CLNN_ARG_I32(d->pad_w), CLNN_ARG_I32(d->dilation_h), CLNN_ARG_I32(d->dilation_w),
                                CLNN_ARG_I32(b.mem ? 1 : 0)),
                      1, global, local, "conv2d_fwd:depthwise_direct");
}

/* -------------------------------------------------------- implicit_gemm */

clnn_conv_planes clnn__conv_planes(const conv_geom *g) {
  const clnn_conv2d_desc *d = g->d;
  clnn_conv_planes pp;
  pp.wp = d->w + 2 * d->pad_w;
  int64_t tiles = clnn__ceil_div(g->oh * pp.wp, PANEL_N);
  int64_t need = tiles * PANEL_N + (d->kh - 1) * d->dilation_h * pp.wp + (d->kw - 1) * d->dilation_w;
  pp.hp = clnn__ceil_div(need, pp.wp);
  pp.plane = pp.hp * pp.wp;
  return pp;
}

clnn_status clnn__conv_pad(clnn_context *ctx, clnn_conv_mem src, int64_t nplanes, int64_t h, int64_t w,
                           cl_mem ws, int64_t ws_off, const clnn_conv_planes *pp, int64_t pad_h, int64_t pad_w,
                           const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("support"), "", "conv_pad", &k));
  size_t global[2] = {(size_t)pp->hp, (size_t)nplanes}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(src), CLNN_ARG_MEM(ws), CLNN_ARG_U64(ws_off), CLNN_ARG_I32(h),
                                CLNN_ARG_I32(w), CLNN_ARG_I32(pp->hp), CLNN_ARG_I32(pp->wp), CLNN_ARG_I32(pad_h),
                                CLNN_ARG_I32(pad_w)),
                      2, global, local, op);
}

#ifndef CLNN_CONV_KC
#define CLNN_CONV_KC 1024
#endif

/* Elements of the weights packed as [G][ceil(Kg/8)][kd][8]. */
static int64_t packed_weight_elems(const conv_geom *g) {
  return g->d->groups * clnn__round_up(g->kg, CLNN_TILE_MR) * g->kd;
}

/* Pack the weights into ws at element 0: gemm_pack_a, or conv_pack_wt for
 * the flipped, transposed weights of the convolution g is the transpose of. */
static clnn_status pack_weights(clnn_context *ctx, const conv_geom *g, clnn_conv_mem w, bool transposed,
                                cl_mem ws, const char *op) {
  clnn_kernel_ref k;
  size_t global[3] = {(size_t)g->kd, (size_t)clnn__ceil_div(g->kg, CLNN_TILE_MR), (size_t)g->d->groups};
  size_t local[3] = {1, 1, 1};
  if (transposed) {
    CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("support"), "", "conv_pack_wt", &k));
    return clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_I32(g->kg), CLNN_ARG_I32(g->cg), CLNN_ARG_I32(g->d->kh * g->d->kw),
                                  CLNN_ARG_CONV_MEM(w), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0)),
                        3, global, local, op);
  }
  CLNN_TRY(clnn__kernel(ctx, "gemm", "", "gemm_pack_a", &k));
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_I32(g->kg), CLNN_ARG_I32(g->kd), CLNN_ARG_CONV_MEM(w),
                                CLNN_ARG_I32(g->kd), CLNN_ARG_U64(g->kg * g->kd), CLNN_ARG_MEM(ws),
                                CLNN_ARG_U64(0)),
                      3, global, local, op);
}

/* conv_packed_gemm over src (x itself, or padded planes of a chunk of images);
 * the packed weights are at the start of the workspace ws. */
static clnn_status launch_packed(clnn_context *ctx, const conv_geom *g, cl_mem ws, clnn_conv_mem b,
                                 clnn_conv_mem src, int64_t hs, int64_t src_w, int64_t plane, bool padded,
                                 int64_t wgrid, clnn_conv_mem y, int64_t nimg, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  char opts[160], act[64];
  clnn__act_options(act, sizeof act, d->act, d->act_alpha);
  snprintf(opts, sizeof opts, "-DCP_KC=%d -DCP_PADDED=%d -DHAS_BIAS=%d%s", CLNN_CONV_KC, padded ? 1 : 0,
           b.mem ? 1 : 0, act);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("packed_gemm"), opts, "conv_packed_gemm", &k));
  size_t global[2] = {(size_t)clnn__ceil_div(g->oh * wgrid, PANEL_N), (size_t)(nimg * d->groups)};
  size_t local[2] = {1, 1};
  return clnn__launch(
      ctx, &k,
      CLNN_ARGS(CLNN_ARG_CONV_MEM(src), CLNN_ARG_I32(hs), CLNN_ARG_I32(src_w), CLNN_ARG_U64(plane),
                CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_CONV_MEM(b), CLNN_ARG_CONV_MEM(y), CLNN_ARG_I32(d->c),
                CLNN_ARG_I32(d->k), CLNN_ARG_I32(d->groups), CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow),
                CLNN_ARG_I32(wgrid), CLNN_ARG_I32(d->kh), CLNN_ARG_I32(d->kw), CLNN_ARG_I32(d->stride_h),
                CLNN_ARG_I32(d->stride_w), CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w),
                CLNN_ARG_I32(d->dilation_h), CLNN_ARG_I32(d->dilation_w)),
      2, global, local, op);
}

/* ------------------------------------------------- direct_band (stride 1)
 * conv_direct_band: output channels along the vectors, micro-tiles of
 * BAND_NP pixels x BAND_MB output channels, the padded input rows in a
 * local-memory ring (no padded copy of x). Anchor conv3x3 (8x64x56x56, 64
 * 3x3 filters), same-minute A/B on the dev VM: 6.2 ms against 9.5 ms for
 * conv_packed_gemm (docs/BENCHMARKS.md). The 8 x 32 micro-tile won over
 * 4x64, 6x64, 7x32, 10x32, 12x32 and 16x16; blocking the input channels for
 * L1 lost (partial sums cost more than the weights streaming from L2 saved);
 * a padded copy of x in [img][Hp][C][Wp] in global memory cost 8-15%. */
#define BAND_NV 2              /* float16 vectors of output channels */
#define BAND_MB (16 * BAND_NV) /* output channels per micro-tile */
#define BAND_NP 8              /* pixels per micro-tile */

/* Whether direct_band suits g: stride 1, no negative padding, and blocks of
 * BAND_MB output channels wasting at most 1/8 of the work. */
static bool use_direct_band(const conv_geom *g) {
  const clnn_conv2d_desc *d = g->d;
  return d->stride_h == 1 && d->stride_w == 1 && d->pad_h >= 0 && d->pad_w >= 0 &&
         clnn__ceil_div(g->kg, BAND_MB) * BAND_MB * 8 <= g->kg * 9;
}

/* Pack w as [G][ceil(Kg/mb)][kd][mb] at element 0 of ws. */
static clnn_status pack_weight_blocks(clnn_context *ctx, const conv_geom *g, clnn_conv_mem w, bool transposed,
                                      int64_t mb, cl_mem ws, const char *op) {
  clnn_kernel_ref k;
  size_t global[3] = {(size_t)g->kd, (size_t)clnn__ceil_div(g->kg, mb), (size_t)g->d->groups};
  size_t local[3] = {1, 1, 1};
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("support"), "", "conv_pack_blocks", &k));
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_I32(g->kg), CLNN_ARG_I32(g->cg), CLNN_ARG_I32(g->d->kh * g->d->kw),
                                CLNN_ARG_I32(transposed ? 1 : 0), CLNN_ARG_I32(mb), CLNN_ARG_CONV_MEM(w),
                                CLNN_ARG_MEM(ws), CLNN_ARG_U64(0)),
                      3, global, local, op);
}

/* conv_direct_band's ring: padded input rows for all taps of one output
 * row, rounded up to a power-of-two size class (one program per class). */
static int64_t band_ring_class(const conv_geom *g) {
  const clnn_conv2d_desc *d = g->d;
  int64_t ring = ((d->kh - 1) * d->dilation_h + 1) * g->cg * (d->w + 2 * d->pad_w) + BAND_NP, cls = 4096;
  while (cls < ring) cls *= 2;
  return cls;
}

/* Whether the ring fits in half of the device's local memory. */
static bool band_fits(const clnn_context *ctx, const conv_geom *g) {
  return (uint64_t)band_ring_class(g) * sizeof(float) <= ctx->caps.local_mem_size / 2;
}

/* conv_direct_band over x itself: pack the weights, one launch. Bands of
 * up to 8 rows, fewer where that leaves under 64 work-items (anchor
 * conv3x3: bands of 7 rows, 64 work-items). */
static clnn_status direct_band(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                               bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  int64_t wpk = d->groups * clnn__ceil_div(g->kg, BAND_MB) * BAND_MB * g->kd;
  int64_t rows = g->oh * d->n * d->groups / 64;
  rows = rows < 1 ? 1 : rows > 8 ? 8 : rows;
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)wpk * sizeof(float), &ws));
  CLNN_TRY(pack_weight_blocks(ctx, g, w, transposed_w, BAND_MB, ws, op));
  char opts[160], act[64];
  clnn__act_options(act, sizeof act, d->act, d->act_alpha);
  snprintf(opts, sizeof opts, "-DCB_KH=%lld -DCB_KW=%lld -DCB_NV=%d -DCB_NP=%d -DCB_RING=%lld -DHAS_BIAS=%d%s",
           (long long)d->kh, (long long)d->kw, BAND_NV, BAND_NP, (long long)band_ring_class(g), b.mem ? 1 : 0, act);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("direct_band"), opts, "conv_direct_band", &k));
  size_t global[2] = {(size_t)clnn__ceil_div(g->oh, rows), (size_t)(d->n * d->groups)}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_CONV_MEM(b),
                                CLNN_ARG_CONV_MEM(y), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w),
                                CLNN_ARG_I32(d->k), CLNN_ARG_I32(d->groups), CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow),
                                CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w), CLNN_ARG_I32(d->dilation_h),
                                CLNN_ARG_I32(d->dilation_w), CLNN_ARG_I32(rows)),
                      2, global, local, op);
}

/* ------------------------------------------------------ grouped_direct
 * conv_grouped_direct: few channels per group (ResNeXt / RegNet). Pixels
 * along the vectors as in the depthwise kernels, all output channels of a
 * group per work-item; see kernels/conv/grouped_direct.cl. */
#define GROUPED_MAX_M 16 /* output channels per group it takes */
#define GROUPED_MAX_ACC 24 /* float16 accumulators per block (about 24 fit before PoCL spills registers) */

/* Block and window of conv_grouped_direct for g. */
typedef struct grouped_plan {
  int64_t ns, r;       /* GD_NS 16-wide strips x GD_R output rows */
  int64_t rowlen, win; /* window row length (floats) and rows per channel */
  int64_t local;       /* GD_LOCAL: size class of the window */
} grouped_plan;

static grouped_plan grouped_make_plan(const conv_geom *g) {
  const clnn_conv2d_desc *d = g->d;
  grouped_plan p;
  int64_t nstrip = clnn__ceil_div(g->ow, 16), most = GROUPED_MAX_M / g->kg;
  p.ns = nstrip < most ? nstrip : most;
  if (p.ns < 1) p.ns = 1;
  if (p.ns > 4) p.ns = 4;
  p.r = GROUPED_MAX_ACC / (p.ns * g->kg);
  if (p.r > 4) p.r = 4;
  if (p.r < 1) p.r = 1;
  int64_t sw = d->stride_w, cols = clnn__ceil_div(g->ow, p.ns * 16) * p.ns * 16;
  int64_t plen = cols + (d->kw - 1) * d->dilation_w / sw, need = clnn__ceil_div(d->w + 2 * d->pad_w, sw);
  if (plen < need) plen = need;
  p.rowlen = sw * clnn__ceil_div(plen, 16) * 16;
  int64_t span = (p.r - 1) * d->stride_h + (d->kh - 1) * d->dilation_h + 1;
  for (p.win = 1; p.win < span;) p.win *= 2;
  int64_t floats = g->cg * p.win * p.rowlen + p.rowlen;
  for (p.local = 4096; p.local < floats;) p.local *= 2;
  return p;
}

/* Whether conv_grouped_direct suits g: real groups of 2+ input and at most
 * GROUPED_MAX_M output channels (depthwise has its own kernels, dense the
 * GEMMs), no negative padding, and a window in half the local memory. */
static bool use_grouped_direct(const clnn_context *ctx, const conv_geom *g) {
  const clnn_conv2d_desc *d = g->d;
  if (d->groups < 2 || g->cg < 2 || g->kg > GROUPED_MAX_M || d->pad_h < 0 || d->pad_w < 0 || d->stride_w > 4)
    return false;
  return (uint64_t)grouped_make_plan(g).local * sizeof(float) <= ctx->caps.local_mem_size / 2;
}

/* conv_grouped_direct over x itself: pack the weights as [G][kd][Kg], one
 * launch. Bands of rows only where images x groups alone give under 64
 * work-items (each band reloads the rows its taps share with the last). */
static clnn_status grouped_direct(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                  bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  grouped_plan p = grouped_make_plan(g);
  int64_t items = d->n * d->groups, bands = clnn__ceil_div(64, items);
  if (bands > g->oh) bands = g->oh;
  int64_t rows = clnn__ceil_div(clnn__ceil_div(g->oh, bands), p.r) * p.r;
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(d->groups * g->kd * g->kg) * sizeof(float), &ws));
  CLNN_TRY(pack_weight_blocks(ctx, g, w, transposed_w, g->kg, ws, op));
  char opts[200], act[64];
  clnn__act_options(act, sizeof act, d->act, d->act_alpha);
  snprintf(opts, sizeof opts, "-DGD_M=%lld -DGD_KH=%lld -DGD_KW=%lld -DGD_SW=%lld -DGD_NS=%lld -DGD_R=%lld "
           "-DGD_LOCAL=%lld -DHAS_BIAS=%d%s", (long long)g->kg, (long long)d->kh, (long long)d->kw,
           (long long)d->stride_w, (long long)p.ns, (long long)p.r, (long long)p.local, b.mem ? 1 : 0, act);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, CLNN_CONV_SOURCES("grouped_direct"), opts, "conv_grouped_direct", &k));
  size_t global[2] = {(size_t)clnn__ceil_div(g->oh, rows), (size_t)items}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(x), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_CONV_MEM(b),
                                CLNN_ARG_CONV_MEM(y), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w),
                                CLNN_ARG_I32(d->k), CLNN_ARG_I32(d->groups), CLNN_ARG_I32(g->oh), CLNN_ARG_I32(g->ow),
                                CLNN_ARG_I32(d->stride_h), CLNN_ARG_I32(d->pad_h), CLNN_ARG_I32(d->pad_w),
                                CLNN_ARG_I32(d->dilation_h), CLNN_ARG_I32(d->dilation_w), CLNN_ARG_I32(p.rowlen),
                                CLNN_ARG_I32(p.win), CLNN_ARG_I32(rows)),
                      2, global, local, op);
}

/* Stride 1: pad a chunk of images into planes, then GEMM over shifted views. */
static clnn_status implicit_gemm_padded(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                        bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  clnn_conv_planes pp = clnn__conv_planes(g);
  int64_t per_image = d->c * pp.plane, wpk = packed_weight_elems(g), chunk;
  CLNN_TRY(clnn__conv_chunk(ctx, d->n, per_image, wpk, IM2COL_CHUNK_BYTES, "padded planes", &chunk));
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(wpk + chunk * per_image) * sizeof(float), &ws));
  CLNN_TRY(pack_weights(ctx, g, w, transposed_w, ws, op));
  clnn_conv_mem planes = {ws, (size_t)wpk};
  for (int64_t img0 = 0; img0 < d->n; img0 += chunk) {
    int64_t nimg = d->n - img0 < chunk ? d->n - img0 : chunk;
    CLNN_TRY(clnn__conv_pad(ctx, clnn__conv_mem_at(x, img0 * d->c * d->h * d->w), nimg * d->c, d->h, d->w, ws,
                            wpk, &pp, d->pad_h, d->pad_w, op));
    CLNN_TRY(launch_packed(ctx, g, ws, b, planes, pp.hp, pp.wp, pp.plane, true, pp.wp,
                           clnn__conv_mem_at(y, img0 * d->k * g->npix), nimg, op));
  }
  return CLNN_SUCCESS;
}

/* Any stride (or negative padding): patches gathered per tile, straight from x. */
static clnn_status implicit_gemm_gather(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                        bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)packed_weight_elems(g) * sizeof(float), &ws));
  CLNN_TRY(pack_weights(ctx, g, w, transposed_w, ws, op));
  return launch_packed(ctx, g, ws, b, x, d->h, d->w, d->h * d->w, false, g->ow, y, d->n, op);
}

/* ------------------------------------------------------------- variants
 * The forward's variants, best first. The CPU ones are the own engine's
 * kernels (so CLNN_GEMM=clblast sends a CPU to im2col_gemm, the GPU route);
 * the ANY ones run everywhere. The packed variants (grouped_direct ..
 * gather_gemm) also run transposed weights: bwd_data and the transposed
 * convolution plan their stride-1 work as such forwards. */

typedef clnn_status (*conv_fwd_fn)(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                   bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op);

typedef struct conv_fwd_variant {
  clnn_variant v;
  clnn_conv_algo algo; /* what clnn_conv2d_fwd_algo reports for it */
  conv_fwd_fn run;
  clnn_conv_half_rule half_direct; /* NULL: half tensors are staged */
} conv_fwd_variant;

#define FWD_PROBLEM(p) ((const clnn_conv_fwd_problem *)(p))

/* The checks most variants start with; false with a reason when one fails. */
static bool plain_weights(const clnn_conv_fwd_problem *p, char *why, size_t n) {
  return !p->transposed_w || clnn__why(why, n, "runs plain convolutions, not transposed weights");
}

static bool depthwise_flat_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const clnn_conv_fwd_problem *p = FWD_PROBLEM(problem);
  const conv_geom *g = p->g;
  clnn_conv_dwf_geom f;
  if (!plain_weights(p, why, n)) return false;
  if (!clnn__conv_is_depthwise(g->d)) return clnn__why(why, n, "not depthwise (groups == c, k a multiple of c)");
  return clnn__conv_dw_flat(g->d, g->oh, g->ow, false, &f) ||
         clnn__why(why, n, "planes too large for its private buffers");
}

static clnn_status depthwise_flat_run(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                      bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  (void)transposed_w;
  (void)op;
  clnn_conv_dwf_geom f;
  clnn__conv_dw_flat(g->d, g->oh, g->ow, false, &f);
  return fwd_depthwise_flat(ctx, g, &f, x, w, b, y);
}

static bool depthwise_strips_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const clnn_conv_fwd_problem *p = FWD_PROBLEM(problem);
  if (!plain_weights(p, why, n)) return false;
  if (!clnn__conv_is_depthwise(p->g->d)) return clnn__why(why, n, "not depthwise (groups == c, k a multiple of c)");
  return clnn__conv_dw_fits(p->g->d, p->g->ow) || clnn__why(why, n, "rows too long for its private ring");
}

static clnn_status depthwise_strips_run(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                        bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  (void)transposed_w;
  (void)op;
  return fwd_depthwise(ctx, g, x, w, b, y);
}

static bool gemm_1x1_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const clnn_conv_fwd_problem *p = FWD_PROBLEM(problem);
  const clnn_conv2d_desc *d = p->g->d;
  if (!plain_weights(p, why, n)) return false;
  if (!clnn__conv_is_1x1_plain(d)) return clnn__why(why, n, "not a 1x1 kernel with stride 1 and no padding");
  return !clnn__bad_stride(d->h * d->w) ||
         clnn__why(why, n, "h * w is a power of two of 1024 or more (cache conflicts)");
}

static bool gemm_1x1_packed_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  if (!gemm_1x1_applies(ctx, problem, why, n) || !clnn__own_engine_applies(ctx, why, n)) return false;
  return clnn__conv_1x1_chunked(ctx, FWD_PROBLEM(problem)->g->d) ||
         clnn__why(why, n, "needs groups == 1 and planes of 16 pixels or more");
}

static clnn_status gemm_1x1_run(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  (void)transposed_w;
  (void)op;
  return fwd_gemm_1x1(ctx, g, x, w, b, y);
}

static bool strided_1x1_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  const clnn_conv_fwd_problem *p = FWD_PROBLEM(problem);
  if (!plain_weights(p, why, n) || !clnn__own_engine_applies(ctx, why, n)) return false;
  if (clnn__conv_is_stride1(p->g->d)) return clnn__why(why, n, "stride 1 (the 1x1 and implicit GEMMs take those)");
  return strided_1x1(ctx, p->g) || clnn__why(why, n, "not a 1x1 kernel with groups == 1 and 16+ output pixels");
}

static clnn_status strided_1x1_run(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                   bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  (void)transposed_w;
  (void)op;
  return fwd_strided_1x1(ctx, g, x, w, b, y);
}

static bool grouped_direct_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  const clnn_conv_fwd_problem *p = FWD_PROBLEM(problem);
  if (!clnn__own_engine_applies(ctx, why, n)) return false;
  return use_grouped_direct(ctx, p->g) ||
         clnn__why(why, n, "needs 2+ input and at most %d output channels per group, stride_w <= 4, "
                           "no negative padding and its window in half the local memory", GROUPED_MAX_M);
}

static bool winograd_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  return clnn__conv_winograd_applies(ctx, FWD_PROBLEM(problem)->g, why, n);
}

static bool direct_band_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  const clnn_conv_fwd_problem *p = FWD_PROBLEM(problem);
  if (!clnn__own_engine_applies(ctx, why, n)) return false;
  if (!use_direct_band(p->g))
    return clnn__why(why, n, "needs stride 1, no negative padding and output channels in blocks of %d", BAND_MB);
  return band_fits(ctx, p->g) || clnn__why(why, n, "its row ring is over half the local memory");
}

/* conv_packed_gemm keeps a CLNN_CONV_KC x PANEL_N panel in local memory,
 * sized for a CPU's; a device with less (Intel's CPU runtime and Oclgrind
 * have 32 KiB) would fail the launch with CL_OUT_OF_RESOURCES, so its
 * variants step aside there. */
static bool packed_panel_fits(const clnn_context *ctx, char *why, size_t n) {
  const uint64_t need = (uint64_t)CLNN_CONV_KC * PANEL_N * sizeof(float);
  return need <= ctx->caps.local_mem_size ||
         clnn__why(why, n, "needs %llu KiB of local memory", (unsigned long long)(need >> 10));
}

static bool implicit_gemm_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  const clnn_conv2d_desc *d = FWD_PROBLEM(problem)->g->d;
  if (!clnn__own_engine_applies(ctx, why, n)) return false;
  if (!clnn__conv_is_stride1(d) || d->pad_h < 0 || d->pad_w < 0)
    return clnn__why(why, n, "needs stride 1 and no negative padding");
  return packed_panel_fits(ctx, why, n);
}

static bool gather_gemm_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)problem;
  return clnn__own_engine_applies(ctx, why, n) && packed_panel_fits(ctx, why, n);
}

static bool plain_weights_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  return plain_weights(FWD_PROBLEM(problem), why, n);
}

static clnn_status im2col_gemm_run(clnn_context *ctx, const conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                   bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  (void)transposed_w;
  (void)op;
  return fwd_im2col_gemm(ctx, g, x, w, b, y);
}

static bool gpu_depthwise_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  const clnn_conv_fwd_problem *p = FWD_PROBLEM(problem);
  return plain_weights(p, why, n) && clnn__conv_gpu_dw_applies(ctx, p->g->d, why, n);
}

static bool gpu_implicit_gemm_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  return plain_weights(FWD_PROBLEM(problem), why, n) && clnn__conv_gpu_gemm_fits(ctx, why, n);
}

static const conv_fwd_variant fwd_variants[] = {
    {{"conv.fwd.gpu_depthwise", CLNN_DEVICE_CLASS_GPU, gpu_depthwise_applies}, CLNN_CONV_ALGO_DEPTHWISE_DIRECT,
     clnn__conv_gpu_dw_fwd, NULL},
    {{"conv.fwd.gpu_implicit_gemm", CLNN_DEVICE_CLASS_GPU, gpu_implicit_gemm_applies},
     CLNN_CONV_ALGO_IMPLICIT_GEMM, clnn__conv_gpu_fwd, NULL},
    {{"conv.fwd.depthwise_flat", CLNN_CLASS_ANY, depthwise_flat_applies}, CLNN_CONV_ALGO_DEPTHWISE_DIRECT,
     depthwise_flat_run, clnn__conv_half_direct},
    {{"conv.fwd.depthwise_strips", CLNN_CLASS_ANY, depthwise_strips_applies}, CLNN_CONV_ALGO_DEPTHWISE_DIRECT,
     depthwise_strips_run, clnn__conv_half_direct},
    {{"conv.fwd.gemm_1x1_packed", CLNN_DEVICE_CLASS_CPU, gemm_1x1_packed_applies}, CLNN_CONV_ALGO_GEMM_1X1,
     gemm_1x1_run, NULL},
    {{"conv.fwd.gemm_1x1", CLNN_CLASS_ANY, gemm_1x1_applies}, CLNN_CONV_ALGO_GEMM_1X1, gemm_1x1_run, NULL},
    {{"conv.fwd.strided_1x1", CLNN_DEVICE_CLASS_CPU, strided_1x1_applies}, CLNN_CONV_ALGO_IM2COL_GEMM,
     strided_1x1_run, NULL},
    {{"conv.fwd.grouped_direct", CLNN_DEVICE_CLASS_CPU, grouped_direct_applies}, CLNN_CONV_ALGO_IMPLICIT_GEMM,
     grouped_direct, NULL},
    {{"conv.fwd.winograd", CLNN_DEVICE_CLASS_CPU, winograd_applies}, CLNN_CONV_ALGO_IMPLICIT_GEMM,
     clnn__conv_winograd_fwd, NULL},
    {{"conv.fwd.direct_band", CLNN_DEVICE_CLASS_CPU, direct_band_applies}, CLNN_CONV_ALGO_IMPLICIT_GEMM,
     direct_band, NULL},
    {{"conv.fwd.implicit_gemm", CLNN_DEVICE_CLASS_CPU, implicit_gemm_applies}, CLNN_CONV_ALGO_IMPLICIT_GEMM,
     implicit_gemm_padded, NULL},
    {{"conv.fwd.gather_gemm", CLNN_DEVICE_CLASS_CPU, gather_gemm_applies}, CLNN_CONV_ALGO_IM2COL_GEMM,
     implicit_gemm_gather, NULL},
    {{"conv.fwd.im2col_gemm", CLNN_CLASS_ANY, plain_weights_applies}, CLNN_CONV_ALGO_IM2COL_GEMM, im2col_gemm_run,
     NULL},
};

const clnn_variant_table clnn__conv_fwd_variants = {"conv", "fwd", &fwd_variants[0].v,
                                                    sizeof fwd_variants / sizeof fwd_variants[0],
                                                    sizeof fwd_variants[0]};

/* Whether variant i runs p's tensors as they are: float32 ones, or half
 * ones by its rule. */
static bool fwd_takes(size_t i, const clnn_conv_fwd_problem *p) {
  const clnn_conv_half_rule rule = fwd_variants[i].half_direct;
  return p->g->dt == CLNN_FLOAT32 || (rule && rule(p->g));
}

clnn_status clnn__conv_fwd_problem_run(clnn_context *ctx, const clnn_conv_fwd_problem *p, clnn_conv_mem x,
                                       clnn_conv_mem w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, &clnn__conv_fwd_variants, p, &i));
  if (!fwd_takes(i, p)) /* callers ask clnn__conv_fwd_half_direct first */
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED, "%s does not take %s tensors directly", fwd_variants[i].v.name,
                      clnn_dtype_name(p->g->dt));
  char own_op[64];
  if (!op) { /* the profile's name: the op and the variant */
    snprintf(own_op, sizeof own_op, "conv2d_fwd:%s", fwd_variants[i].v.name + strlen("conv.fwd."));
    op = own_op;
  }
  return fwd_variants[i].run(ctx, p->g, x, w, p->transposed_w, b, y, op);
}

clnn_conv_algo clnn__conv2d_fwd_algo(const clnn_context *ctx, const clnn_conv2d_desc *d) {
  int64_t oh, ow;
  clnn__conv2d_out_size(d, &oh, &ow);
  conv_geom g = clnn__conv_geometry(d, oh, ow);
  clnn_conv_fwd_problem p = {&g, false};
  size_t i;
  if (clnn__plan_query(ctx, &clnn__conv_fwd_variants, &p, &i) != CLNN_SUCCESS) return CLNN_CONV_ALGO_IM2COL_GEMM;
  return fwd_variants[i].algo;
}

/* ---------------------------------------------------------------- public */

clnn_status clnn__conv2d_fwd_run(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem x, clnn_conv_mem w,
                                 clnn_conv_mem b, clnn_conv_mem y) {
  int64_t oh, ow;
  CLNN_TRY(clnn__conv2d_desc_check(ctx, d, &oh, &ow));
  conv_geom g = clnn__conv_geometry(d, oh, ow);
  clnn_conv_fwd_problem p = {&g, false};
  return clnn__conv_fwd_problem_run(ctx, &p, x, w, b, y, NULL);
}

bool clnn__conv_fwd_half_direct(const clnn_context *ctx, const clnn_conv_fwd_problem *p) {
  size_t i;
  return clnn__plan_query(ctx, &clnn__conv_fwd_variants, p, &i) == CLNN_SUCCESS && fwd_takes(i, p);
}

/* The forward on float16 or bfloat16 tensors: on them directly where the
 * planned variant's rule says so; otherwise x, w and b widened to float32
 * copies, the float32 forward, y rounded once (ops/conv_half.c). */
static clnn_status fwd_half(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_dtype dt, const clnn_tensor *x,
                            const clnn_tensor *w, const clnn_tensor *b, clnn_tensor *y) {
  int64_t oh, ow;
  clnn__conv2d_out_size(d, &oh, &ow);
  conv_geom g = clnn__conv_geometry(d, oh, ow);
  g.dt = dt;
  clnn_conv_fwd_problem p = {&g, false};
  if (clnn__conv_fwd_half_direct(ctx, &p))
    return clnn__conv_fwd_problem_run(ctx, &p, clnn__conv_mem(x), clnn__conv_mem(w), clnn__conv_mem(b),
                                      clnn__conv_mem(y), NULL);
  const clnn_tensor *all[4] = {x, w, b, y};
  clnn_conv_stage s;
  clnn_conv_mem x32, w32, b32;
  CLNN_TRY(clnn__conv_stage_begin(ctx, dt, all, 4, "conv2d_fwd:half_stage", &s));
  CLNN_TRY(clnn__conv_stage_in(ctx, &s, x, &x32));
  CLNN_TRY(clnn__conv_stage_in(ctx, &s, w, &w32));
  CLNN_TRY(clnn__conv_stage_in(ctx, &s, b, &b32));
  clnn_conv_mem y32 = clnn__conv_stage_out(&s, y);
  CLNN_TRY(clnn__conv2d_fwd_run(ctx, d, x32, w32, b32, y32));
  return clnn__conv_stage_round(ctx, &s, y32, y);
}

clnn_status clnn_conv2d_fwd(clnn_context *ctx, const clnn_conv2d_desc *desc, const clnn_tensor *x,
                            const clnn_tensor *w, const clnn_tensor *b, clnn_tensor *y) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t oh, ow;
  CLNN_TRY(clnn__conv2d_desc_check(ctx, desc, &oh, &ow));
  const clnn_conv2d_desc *d = desc;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->k, d->c / d->groups, d->kh, d->kw};
  int64_t yd[4] = {d->n, d->k, oh, ow};
  clnn_dtype dt; /* x's type; every other tensor must have it */
  CLNN_TRY(clnn__check_float_type(ctx, x, "x", &dt));
  CLNN_TRY(clnn__check_tensor(ctx, x, "x", dt, 4, xd));
  CLNN_TRY(clnn__check_tensor(ctx, w, "w", dt, 4, wd));
  if (b) CLNN_TRY(clnn__check_tensor(ctx, b, "b", dt, 1, &d->k));
  CLNN_TRY(clnn__check_tensor(ctx, y, "y", dt, 4, yd));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", x, "x"));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", w, "w"));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", b, "b"));
  if (d->n == 0) return CLNN_SUCCESS; /* no images: y is empty */
  if (dt != CLNN_FLOAT32) return fwd_half(ctx, d, dt, x, w, b, y);
  return clnn__conv2d_fwd_run(ctx, d, clnn__conv_mem(x), clnn__conv_mem(w), clnn__conv_mem(b), clnn__conv_mem(y));
}
