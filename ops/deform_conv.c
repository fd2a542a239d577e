/*
 * deform_conv.c - deformable convolution v1/v2 dispatch: tensor validation
 * (the descriptor is desc/deform_conv.c), workspace planning, the variant tables (fwd, bwd, bwd_b;
 * at the end) and the launches of kernels/deform_conv.cl and runtime/gemm.c.
 *
 * CPU-class variants. Forward:
 *  - fused (own GEMM engine): x is copied once per chunk of images into
 *    zero-bordered channel-last planes (deform_conv_to_nhwc), the weights
 *    into K'-ordered panels (deform_conv_pack_w); then each work-item
 *    samples the patches of 8 output pixels into local memory and multiplies
 *    them with all output channels of its group (deform_conv_fwd_fused).
 *  - im2col_gemm (other engines): deform_conv_im2col writes the patch matrix
 *    of a chunk of images, one batched GEMM with the bias and activation fused.
 * Backward (bands_own with the own engine, bands_gemm otherwise), per chunk
 * of images (every step deterministic, no atomics), and within a chunk per
 * band of about 512 output pixels, so that what one step writes the next
 * reads from cache:
 *  1. dcolT = dy^T W' (W' = weights in K' order; deform_conv_dcol or one
 *     GEMM per tap): the gradient of every sample, stored [tap][pixel][channel];
 *  2. deform_conv_bwd_sample walks the band's sampling points once: colT (for
 *     dw), doffset and dmask (sums over the offset group's channels);
 *  3. dW' += dy colT over the band's pixels, image by image (beta = 1 after
 *     the very first), a fixed order;
 * then per chunk:
 *  4. dx: bucket the sampling points by cell (count, scan, fill), then every
 *     input pixel gathers from the four cells around it.
 * Then dw = dW' back in (c, kh, kw) order; db = sum of dy (bwd_b.lanes16).
 *
 * GPU-class variants: see "GPU variants" below. float16 and bfloat16 calls
 * run the same variants on float32 copies: see "half types" at the end.
 */
#include "../desc/desc.h"

#include <stdio.h>
#include <string.h>

/* K' rows of A kept in local memory by the fused forward kernel. */
#define FUSED_FK 2048
/* Scratch per chunk of images. The forward's planes stay cache-sized. The
 * backward's budget holds one 64-channel 56 x 56 image with its whole dcolT:
 * measured on the anchor problem, one image per chunk beat four (the band
 * matrices of four images no longer fit the caches). */
#define FWD_CHUNK_BYTES ((size_t)16 << 20)
#define BWD_CHUNK_BYTES ((size_t)16 << 20)
/* Output pixels per band of the backward pass (see bwd_plan). */
#define BWD_BAND_PIXELS 512

static const char *const algo_names[CLNN_DEFORM_CONV_ALGO_COUNT_] = {"fused", "im2col_gemm"};

const char *clnn_deform_conv_algo_name(clnn_deform_conv_algo algo) {
  if ((int)algo < 0 || algo >= CLNN_DEFORM_CONV_ALGO_COUNT_) return "unknown";
  return algo_names[algo];
}

/* -------------------------------------------------------------- geometry */

/* Everything the launches need, derived once from the descriptor. */
typedef struct dc_geom {
  const clnn_deform_conv2d_desc *desc;
  const clnn_conv2d_desc *d;
  int64_t oh, ow, npix;
  int64_t cg, kg, cog, dg, taps;
  int64_t kd;     /* GEMM depth of a group: cg * taps */
  int64_t ldcol;  /* row of colT / dcolT: c * taps */
  int64_t hp, wp; /* padded planes of xt */
  int64_t ncells; /* (h + 1) * (w + 1) bucket cells */
  int vec;        /* channel vector width */
  int dxv;        /* channel vectors per work-item of the dx gather */
} dc_geom;

static int64_t gcd64(int64_t a, int64_t b) {
  while (b) {
    int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

static dc_geom geometry(const clnn_deform_conv2d_desc *desc, int64_t oh, int64_t ow) {
  const clnn_conv2d_desc *d = &desc->conv;
  dc_geom g;
  g.desc = desc;
  g.d = d;
  g.oh = oh;
  g.ow = ow;
  g.npix = oh * ow;
  g.cg = d->c / d->groups;
  g.kg = d->k / d->groups;
  g.dg = desc->offset_groups;
  g.cog = d->c / g.dg;
  g.taps = d->kh * d->kw;
  g.kd = g.cg * g.taps;
  g.ldcol = d->c * g.taps;
  g.hp = d->h + 3;
  g.wp = d->w + 2;
  g.ncells = (d->h + 1) * (d->w + 1);
  /* Three widths only: each is a separate program build. */
  int64_t common = gcd64(g.cg, g.cog);
  g.vec = common % 16 == 0 ? 16 : common % 4 == 0 ? 4 : 1;
  g.dxv = 1;
  while (g.dxv < 4 && (common / g.vec) % (g.dxv * 2) == 0) g.dxv *= 2;
  return g;
}

/* The sizes every sampling kernel takes, after its tensors: H W Ho Wo KH KW SH SW PH PW DH DW. */
#define DC_GEOM_ARGS(g)                                                                           \
  CLNN_ARG_I32((g)->d->h), CLNN_ARG_I32((g)->d->w), CLNN_ARG_I32((g)->oh), CLNN_ARG_I32((g)->ow), \
      CLNN_ARG_I32((g)->d->kh), CLNN_ARG_I32((g)->d->kw), CLNN_ARG_I32((g)->d->stride_h),         \
      CLNN_ARG_I32((g)->d->stride_w), CLNN_ARG_I32((g)->d->pad_h), CLNN_ARG_I32((g)->d->pad_w),   \
      CLNN_ARG_I32((g)->d->dilation_h), CLNN_ARG_I32((g)->d->dilation_w)

/* A (buffer, element offset) pair for kernel arguments: a tensor at an image, or workspace. */
typedef struct dc_mem {
  cl_mem mem;
  cl_ulong off;
} dc_mem;
#define DC_ARG(m) CLNN_ARG_MEM((m).mem), CLNN_ARG_U64((m).off)

static dc_mem at_image(const clnn_tensor *t, int64_t img, int64_t per_image) {
  dc_mem m = {clnn__mem(t), clnn__off(t) + (cl_ulong)(img * per_image)};
  return m;
}

static dc_mem ws_at(cl_mem ws, int64_t off) {
  dc_mem m = {ws, (cl_ulong)off};
  return m;
}

static const size_t LOCAL1[3] = {1, 1, 1};

/* Options of the program holding a section of kernels/deform_conv.cl
 * ("DC_FWD" or "DC_BWD"; the small kernels are in the program without options). */
static void section_options(char *buf, size_t n, const char *section, const dc_geom *g,
                            const char *extra) {
  snprintf(buf, n, "-D%s -DVEC=%d%s", section, g->vec, extra);
}

/* " -DDT=<type>" for a program that reads tensors of a half type, "" for
 * float32 (so float32 programs keep their options). */
static const char *dt_option(char *buf, size_t n, clnn_dtype dt) {
  if (dt == CLNN_FLOAT32) return "";
  snprintf(buf, n, " -DDT=%d", (int)dt);
  return buf;
}

/* ------------------------------------------------------------ validation */

/* x decides the call's type (*dt); every other float tensor must share it. */
static clnn_status check_inputs(clnn_context *ctx, const dc_geom *g, const clnn_tensor *x,
                                const clnn_tensor *offset, const clnn_tensor *mask,
                                const clnn_tensor *w, clnn_dtype *dt) {
  const clnn_conv2d_desc *d = g->d;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->k, g->cg, d->kh, d->kw};
  int64_t od[4] = {d->n, 2 * g->dg * g->taps, g->oh, g->ow},
          md[4] = {d->n, g->dg * g->taps, g->oh, g->ow};
  CLNN_TRY(clnn__check_float_type(ctx, x, "x", dt));
  CLNN_TRY(clnn__check_tensor(ctx, x, "x", *dt, 4, xd));
  CLNN_TRY(clnn__check_tensor(ctx, offset, "offset", *dt, 4, od));
  if (g->desc->modulated && !mask)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->modulated is 1 but 'mask' is NULL");
  if (!g->desc->modulated && mask)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->modulated is 0 but a 'mask' is given");
  if (mask) CLNN_TRY(clnn__check_tensor(ctx, mask, "mask", *dt, 4, md));
  CLNN_TRY(clnn__check_tensor(ctx, w, "w", *dt, 4, wd));
  return CLNN_SUCCESS;
}

/* An output must overlap no input and no other output. */
typedef struct dc_named {
  const clnn_tensor *t;
  const char *name;
} dc_named;

static clnn_status check_overlaps(clnn_context *ctx, const dc_named *outs, int nout, const dc_named *ins,
                                  int nin) {
  for (int i = 0; i < nout; i++) {
    for (int j = 0; j < nin; j++)
      CLNN_TRY(clnn__check_no_overlap(ctx, outs[i].t, outs[i].name, ins[j].t, ins[j].name));
    for (int j = 0; j < i; j++)
      CLNN_TRY(clnn__check_no_overlap(ctx, outs[i].t, outs[i].name, outs[j].t, outs[j].name));
  }
  return CLNN_SUCCESS;
}

/* Images per chunk so that fixed + chunk * per_image floats fit the budget. */
static clnn_status plan_chunk(clnn_context *ctx, const dc_geom *g, int64_t fixed, int64_t per_image,
                              size_t budget_bytes, int64_t *chunk) {
  size_t limit = ctx->workspace_limit;
  if ((uint64_t)(fixed + per_image) * sizeof(float) > limit)
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED,
                      "one image needs %lld bytes of scratch, over the workspace limit of %zu bytes",
                      (long long)((fixed + per_image) * (int64_t)sizeof(float)), limit);
  size_t budget = budget_bytes < limit ? budget_bytes : limit;
  int64_t n = ((int64_t)(budget / sizeof(float)) - fixed) / per_image;
  if (n < 1) n = 1;
  if (n > g->d->n) n = g->d->n;
  if (fixed + n * per_image > CLNN_INDEX_MAX) n = (CLNN_INDEX_MAX - fixed) / per_image;
  if (n < 1 || g->npix * g->ldcol > CLNN_INDEX_MAX)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW,
                      "the scratch matrices of one image exceed 2^31 elements");
  *chunk = n;
  return CLNN_SUCCESS;
}

/* The patch matrix of one image (npix x c*taps) must be indexable with 32-bit ints. */
static clnn_status check_patch_size(clnn_context *ctx, const dc_geom *g) {
  int64_t n;
  if (!clnn__mul_ok(g->npix, g->ldcol, &n) || n > CLNN_INDEX_MAX)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW,
                      "the patch matrix of one image (%lld pixels x %lld) has over 2^31 - 1 elements",
                      (long long)g->npix, (long long)g->ldcol);
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------- shared launches */

/* xt planes of images [img0, img0 + nimg) at ws element offset xt_off. */
static clnn_status launch_to_nhwc(clnn_context *ctx, const dc_geom *g, const clnn_tensor *x,
                                  int64_t img0, int64_t nimg, dc_mem xt, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  clnn_kernel_ref k;
  char dt[16];
  CLNN_TRY(clnn__kernel(ctx, "deform_conv", dt_option(dt, sizeof dt, x->dtype), "deform_conv_to_nhwc", &k));
  size_t global[3] = {(size_t)g->hp, (size_t)clnn__ceil_div(d->c, 16), (size_t)nimg};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(DC_ARG(at_image(x, img0, d->c * d->h * d->w)), DC_ARG(xt),
                                CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w)),
                      3, global, LOCAL1, op);
}

/* w (K, Cg, KH, KW) <-> K'-ordered rows; inverse: dW' back to w's order. */
static clnn_status launch_permute(clnn_context *ctx, const dc_geom *g, const char *name, dc_mem src,
                                  dc_mem dst, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "deform_conv", "", name, &k));
  size_t global[3] = {(size_t)g->kd, (size_t)g->d->k, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(DC_ARG(src), DC_ARG(dst), CLNN_ARG_I32(g->cg), CLNN_ARG_I32(g->taps)), 2,
                      global, LOCAL1, op);
}

/* ---------------------------------------------------------------- fused */

static clnn_status fwd_fused(clnn_context *ctx, const dc_geom *g, const clnn_tensor *x,
                             const clnn_tensor *offset, const clnn_tensor *mask, const clnn_tensor *w,
                             const clnn_tensor *b, clnn_tensor *y) {
  const clnn_conv2d_desc *d = g->d;
  const char *op = "deform_conv2d_fwd:fused";
  const int64_t ntiles = clnn__ceil_div(g->kg, CLNN_TILE_NR);
  const int64_t wp_elems = d->groups * ntiles * g->kd * CLNN_TILE_NR, xt_image = g->hp * g->wp * d->c;
  int64_t chunk = 1;
  CLNN_TRY(plan_chunk(ctx, g, wp_elems, xt_image, FWD_CHUNK_BYTES, &chunk));
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(wp_elems + chunk * xt_image) * sizeof(float), &ws));

  char opts[192], act[64], extra[128], dtbuf[16];
  clnn_kernel_ref kpack, kfused;
  /* x, w, offset, mask, b and y of one type: float32, or a half type when
   * fwd_half lets this variant read it itself (K' in one block). */
  const char *dt = dt_option(dtbuf, sizeof dtbuf, y->dtype);
  CLNN_TRY(clnn__kernel(ctx, "deform_conv", dt, "deform_conv_pack_w", &kpack));
  clnn__act_options(act, sizeof act, d->act, d->act_alpha);
  snprintf(extra, sizeof extra, " -DFK=%d%s%s", FUSED_FK, act, dt);
  section_options(opts, sizeof opts, "DC_FWD", g, extra);
  CLNN_TRY(clnn__kernel(ctx, "deform_conv", opts, "deform_conv_fwd_fused", &kfused));

  size_t gpack[3] = {(size_t)g->kd, (size_t)ntiles, (size_t)d->groups};
  CLNN_TRY(
      clnn__launch(ctx, &kpack,
                   CLNN_ARGS(CLNN_ARG_TENSOR(w), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_I32(d->k),
                             CLNN_ARG_I32(d->groups), CLNN_ARG_I32(g->cg), CLNN_ARG_I32(g->taps)),
                   3, gpack, LOCAL1, op));
  const int64_t off_image = 2 * g->dg * g->taps * g->npix, mask_image = g->dg * g->taps * g->npix;
  for (int64_t img0 = 0; img0 < d->n; img0 += chunk) {
    const int64_t nimg = d->n - img0 < chunk ? d->n - img0 : chunk;
    CLNN_TRY(launch_to_nhwc(ctx, g, x, img0, nimg, ws_at(ws, wp_elems), op));
    size_t global[3] = {(size_t)clnn__ceil_div(g->npix, CLNN_TILE_MR), (size_t)(nimg * d->groups), 1};
    CLNN_TRY(clnn__launch(
        ctx, &kfused,
        CLNN_ARGS(DC_ARG(ws_at(ws, wp_elems)), DC_ARG(at_image(offset, img0, off_image)),
                  DC_ARG(at_image(mask, img0, mask_image)), DC_ARG(ws_at(ws, 0)), CLNN_ARG_TENSOR(b),
                  DC_ARG(at_image(y, img0, d->k * g->npix)), CLNN_ARG_I32(b != NULL),
                  CLNN_ARG_I32(g->desc->modulated), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->k),
                  CLNN_ARG_I32(d->groups), CLNN_ARG_I32(g->dg), DC_GEOM_ARGS(g)),
        2, global, LOCAL1, op));
  }
  return CLNN_SUCCESS;
}

/* ---------------------------------------------------------- im2col_gemm */

static clnn_status fwd_im2col_gemm(clnn_context *ctx, const dc_geom *g, const clnn_tensor *x,
                                   const clnn_tensor *offset, const clnn_tensor *mask,
                                   const clnn_tensor *w, const clnn_tensor *b, clnn_tensor *y) {
  const clnn_conv2d_desc *d = g->d;
  const char *op = "deform_conv2d_fwd:im2col_gemm";
  CLNN_TRY(check_patch_size(ctx, g));
  const int64_t per_image = g->ldcol * g->npix;
  int64_t chunk = 1;
  CLNN_TRY(plan_chunk(ctx, g, 0, per_image, FWD_CHUNK_BYTES, &chunk));
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(chunk * per_image) * sizeof(float), &ws));
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "deform_conv", "", "deform_conv_im2col", &k));
  const int64_t off_image = 2 * g->dg * g->taps * g->npix, mask_image = g->dg * g->taps * g->npix;
  for (int64_t img0 = 0; img0 < d->n; img0 += chunk) {
    const int64_t nimg = d->n - img0 < chunk ? d->n - img0 : chunk;
    size_t global[3] = {(size_t)clnn__ceil_div(g->npix, 64) * 64, (size_t)g->ldcol, (size_t)nimg};
    size_t local[3] = {64, 1, 1};
    CLNN_TRY(clnn__launch(
        ctx, &k,
        CLNN_ARGS(DC_ARG(at_image(x, img0, d->c * d->h * d->w)),
                  DC_ARG(at_image(offset, img0, off_image)), DC_ARG(at_image(mask, img0, mask_image)),
                  CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_I32(g->desc->modulated),
                  CLNN_ARG_I32(d->c), CLNN_ARG_I32(g->dg), DC_GEOM_ARGS(g)),
        3, global, local, op));
    /* y_g = W_g col_g for every image of the chunk and group, bias and activation fused. */
    clnn_gemm_job j = clnn__gemm_job(g->kg, g->npix, g->kd);
    j.nb1 = nimg;
    j.nb2 = d->groups;
    j.a = clnn__mem(w);
    j.a_off = (size_t)clnn__off(w);
    j.lda = g->kd;
    j.a_s2 = g->kg * g->kd;
    j.b = ws;
    j.ldb = g->npix;
    j.b_s1 = per_image;
    j.b_s2 = g->kd * g->npix;
    j.c = clnn__mem(y);
    j.c_off = (size_t)(clnn__off(y) + (cl_ulong)(img0 * d->k * g->npix));
    j.ldc = g->npix;
    j.c_s1 = d->k * g->npix;
    j.c_s2 = g->kg * g->npix;
    if (b) {
      j.bias = clnn__mem(b);
      j.bias_off = (size_t)clnn__off(b);
      j.bias_s2 = g->kg;
    }
    j.act = d->act;
    j.act_alpha = d->act_alpha;
    CLNN_TRY(clnn__gemm_run(ctx, &j, op));
  }
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------------- backward */

/*
 * What the requested outputs need, and where it lives in the workspace
 * (floats). Within a chunk of images the work goes in bands of output rows
 * (about BWD_BAND_PIXELS pixels): the band's dcolT and colT are written and
 * read again right away, while they are still in cache. dcolT holds whole
 * images only when dx is wanted (its gather reads any pixel's samples).
 */
typedef struct bwd_plan {
  bool dx, doff, dmask, dw, db;
  bool dsample; /* dcolT is needed: dx, doffset or dmask */
  bool sample;  /* deform_conv_bwd_sample runs: doffset, dmask or dw */
  int64_t band_rows, band_pix;
  int64_t dcol_pix; /* pixels per tap plane of dcolT: the image (dx wanted) or a band */
  int64_t wperm, dwperm;                        /* fixed: K x Kd each */
  int64_t fixed;                                /* their total */
  int64_t xt, dcol, col, cnt, cstart, sidx, sw; /* per-image sizes; 0 when unused */
  int64_t per_image;
  int64_t chunk;
} bwd_plan;

static bwd_plan plan_bwd(const dc_geom *g, bool dx, bool doff, bool dmask, bool dw, bool db) {
  bwd_plan p;
  memset(&p, 0, sizeof p);
  p.dx = dx, p.doff = doff, p.dmask = dmask, p.dw = dw, p.db = db;
  p.dsample = dx || doff || dmask;
  p.sample = doff || dmask || dw;
  p.band_rows = BWD_BAND_PIXELS / g->ow;
  if (p.band_rows < 1) p.band_rows = 1;
  if (p.band_rows > g->oh) p.band_rows = g->oh;
  p.band_pix = p.band_rows * g->ow;
  const int64_t kkd = g->d->k * g->kd, pts = g->dg * g->taps * g->npix;
  p.wperm = p.dsample ? kkd : 0;
  p.dwperm = dw ? kkd : 0;
  p.fixed = p.wperm + p.dwperm;
  p.xt = p.sample ? g->hp * g->wp * g->d->c : 0;
  p.dcol_pix = dx ? g->npix : p.band_pix;
  p.dcol = p.dsample ? p.dcol_pix * g->ldcol : 0;
  p.col = dw ? p.band_pix * g->ldcol : 0;
  p.cnt = dx ? g->dg * g->taps * g->ncells : 0;
  p.cstart = dx ? g->dg * (g->ncells + 1) : 0;
  p.sidx = dx ? pts : 0;
  p.sw = dx ? 4 * pts : 0;
  p.per_image = p.xt + p.dcol + p.col + p.cnt + p.cstart + p.sidx + p.sw;
  return p;
}

/* Workspace offsets of a chunk: fixed part, then each array for all its images. */
typedef struct bwd_layout {
  int64_t wperm, dwperm, xt, dcol, col, cnt, cstart, sidx, sw;
} bwd_layout;

static bwd_layout layout_bwd(const bwd_plan *p) {
  bwd_layout l;
  int64_t at = 0, n = p->chunk;
  l.wperm = at, at += p->wperm;
  l.dwperm = at, at += p->dwperm;
  l.xt = at, at += n * p->xt;
  l.dcol = at, at += n * p->dcol;
  l.col = at, at += n * p->col;
  l.cnt = at, at += n * p->cnt;
  l.cstart = at, at += n * p->cstart;
  l.sidx = at, at += n * p->sidx;
  l.sw = at;
  return l;
}

/* One band: output rows [r0, r1) of every image of the chunk [img0, img0 + nimg). */
typedef struct bwd_band {
  int64_t img0, nimg, r0, r1;
  int64_t p0, npix; /* its first pixel and pixel count per image */
  int64_t dcol_p0;  /* pixel of dcolT's first row: 0 (whole images) or p0 */
} bwd_band;

/* Step 1: dcolT[img][t][p][g*Cg + c] = sum over the group's output channels of
 * dy * W'. With the own engine (bands_own): deform_conv_dcol (the depth Kg is
 * too small for gemm_tile8x32's one tile per work-group: measured on the
 * anchor problem, interleaved, 10.9 against 15 ms); else (bands_gemm) one
 * GEMM per tap. */
static clnn_status bwd_dcol(clnn_context *ctx, const dc_geom *g, const bwd_plan *p, const bwd_layout *l,
                            const clnn_tensor *dy, cl_mem ws, const bwd_band *b, bool own_kernel,
                            const char *op) {
  const clnn_conv2d_desc *d = g->d;
  if (own_kernel) {
    clnn_kernel_ref k;
    CLNN_TRY(clnn__kernel(ctx, "deform_conv", "", "deform_conv_dcol", &k));
    size_t global[3] = {(size_t)clnn__ceil_div(b->npix, 8), (size_t)d->groups, (size_t)b->nimg};
    return clnn__launch(ctx, &k,
                        CLNN_ARGS(DC_ARG(at_image(dy, b->img0, d->k * g->npix)), DC_ARG(ws_at(ws, l->wperm)),
                                  DC_ARG(ws_at(ws, l->dcol)), CLNN_ARG_I32(d->k), CLNN_ARG_I32(d->groups),
                                  CLNN_ARG_I32(d->c), CLNN_ARG_I32(g->taps), CLNN_ARG_I32(g->npix),
                                  CLNN_ARG_I32(b->p0), CLNN_ARG_I32(b->npix), CLNN_ARG_I32(p->dcol_pix),
                                  CLNN_ARG_I32(b->dcol_p0)),
                        3, global, LOCAL1, op);
  }
  for (int64_t t = 0; t < g->taps; t++) {
    clnn_gemm_job j = clnn__gemm_job(b->npix, g->cg, g->kg);
    j.nb1 = b->nimg;
    j.nb2 = d->groups;
    j.a = clnn__mem(dy); /* dy_g is Kg x npix: A = (the band's columns of dy_g)^T */
    j.a_off = (size_t)(clnn__off(dy) + (cl_ulong)(b->img0 * d->k * g->npix + b->p0));
    j.a_trans = true;
    j.lda = g->npix;
    j.a_s1 = d->k * g->npix;
    j.a_s2 = g->kg * g->npix;
    j.b = ws; /* the tap's Cg columns of W'_g */
    j.b_off = (size_t)(l->wperm + t * g->cg);
    j.ldb = g->kd;
    j.b_s2 = g->kg * g->kd;
    j.c = ws;
    j.c_off = (size_t)(l->dcol + (t * p->dcol_pix + b->p0 - b->dcol_p0) * d->c);
    j.ldc = d->c;
    j.c_s1 = p->dcol;
    j.c_s2 = g->cg;
    CLNN_TRY(clnn__gemm_run(ctx, &j, op));
  }
  return CLNN_SUCCESS;
}

/* Step 2: the band's colT, doffset and dmask. */
static clnn_status bwd_sample(clnn_context *ctx, const dc_geom *g, const bwd_plan *p,
                              const bwd_layout *l, cl_mem ws, const clnn_tensor *offset,
                              const clnn_tensor *mask, clnn_tensor *doffset, clnn_tensor *dmask,
                              const bwd_band *b, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  char opts[64];
  section_options(opts, sizeof opts, "DC_BWD", g, "");
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "deform_conv", opts, "deform_conv_bwd_sample", &k));
  const int64_t off_image = 2 * g->dg * g->taps * g->npix, mask_image = g->dg * g->taps * g->npix;
  size_t global[3] = {(size_t)(b->r1 - b->r0), (size_t)g->taps, (size_t)(b->nimg * g->dg)};
  return clnn__launch(
      ctx, &k,
      CLNN_ARGS(DC_ARG(ws_at(ws, l->xt)), DC_ARG(at_image(offset, b->img0, off_image)),
                DC_ARG(at_image(mask, b->img0, mask_image)), DC_ARG(ws_at(ws, l->dcol)),
                DC_ARG(ws_at(ws, l->col)), DC_ARG(at_image(doffset, b->img0, off_image)),
                DC_ARG(at_image(dmask, b->img0, mask_image)), CLNN_ARG_I32(g->desc->modulated),
                CLNN_ARG_I32(p->dw), CLNN_ARG_I32(p->doff), CLNN_ARG_I32(p->dmask), CLNN_ARG_I32(b->r0),
                CLNN_ARG_I32(p->dcol_pix), CLNN_ARG_I32(b->dcol_p0), CLNN_ARG_I32(p->col),
                CLNN_ARG_I32(b->p0), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->groups), CLNN_ARG_I32(g->dg),
                DC_GEOM_ARGS(g)),
      3, global, LOCAL1, op);
}

/* Step 3: dW' (+)= dy colT per group, over the band's pixels, image by image
 * (bands in order, images in order within a band: a fixed summation order). */
static clnn_status bwd_dw_gemms(clnn_context *ctx, const dc_geom *g, const bwd_plan *p,
                                const bwd_layout *l, const clnn_tensor *dy, cl_mem ws, const bwd_band *b,
                                const char *op) {
  const clnn_conv2d_desc *d = g->d;
  for (int64_t i = 0; i < b->nimg; i++) {
    clnn_gemm_job j = clnn__gemm_job(g->kg, g->kd, b->npix);
    j.nb2 = d->groups;
    j.a = clnn__mem(dy);
    j.a_off = (size_t)(clnn__off(dy) + (cl_ulong)((b->img0 + i) * d->k * g->npix + b->p0));
    j.lda = g->npix;
    j.a_s2 = g->kg * g->npix;
    j.b = ws;
    j.b_off = (size_t)(l->col + i * p->col);
    j.ldb = g->ldcol;
    j.b_s2 = g->kd;
    j.c = ws;
    j.c_off = (size_t)l->dwperm;
    j.ldc = g->kd;
    j.c_s2 = g->kg * g->kd;
    j.c_s1 = d->k * g->kd; /* one batch: unused, but CLBlast rejects a zero C stride */
    j.beta = (b->img0 + i == 0 && b->r0 == 0) ? 0.0f : 1.0f;
    CLNN_TRY(clnn__gemm_run(ctx, &j, op));
  }
  return CLNN_SUCCESS;
}

/* Step 4: buckets of the chunk's sampling points, then the dx gather. */
static clnn_status bwd_dx(clnn_context *ctx, const dc_geom *g, const bwd_layout *l, cl_mem ws,
                          const clnn_tensor *offset, const clnn_tensor *mask, clnn_tensor *dx,
                          int64_t img0, int64_t nimg, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  char opts[64], gather[32];
  section_options(opts, sizeof opts, "DC_BWD", g, "");
  snprintf(gather, sizeof gather, "deform_conv_dx_gather%d", g->dxv);
  clnn_kernel_ref kcount, kscan, kfill, kgather;
  CLNN_TRY(clnn__kernel(ctx, "deform_conv", opts, "deform_conv_bucket_count", &kcount));
  CLNN_TRY(clnn__kernel(ctx, "deform_conv", "", "deform_conv_bucket_scan", &kscan));
  CLNN_TRY(clnn__kernel(ctx, "deform_conv", opts, "deform_conv_bucket_fill", &kfill));
  CLNN_TRY(clnn__kernel(ctx, "deform_conv", opts, gather, &kgather));
  const int64_t off_image = 2 * g->dg * g->taps * g->npix, mask_image = g->dg * g->taps * g->npix;
  const dc_mem off = at_image(offset, img0, off_image);
  size_t gtaps[3] = {(size_t)g->taps, (size_t)(nimg * g->dg), 1};
  CLNN_TRY(clnn__launch(
      ctx, &kcount,
      CLNN_ARGS(DC_ARG(off), DC_ARG(ws_at(ws, l->cnt)), CLNN_ARG_I32(g->dg), DC_GEOM_ARGS(g)), 2, gtaps,
      LOCAL1, op));
  size_t gscan[3] = {(size_t)(nimg * g->dg), 1, 1};
  CLNN_TRY(clnn__launch(ctx, &kscan,
                        CLNN_ARGS(DC_ARG(ws_at(ws, l->cnt)), DC_ARG(ws_at(ws, l->cstart)),
                                  CLNN_ARG_I32(g->taps), CLNN_ARG_I32(g->ncells)),
                        1, gscan, LOCAL1, op));
  CLNN_TRY(clnn__launch(
      ctx, &kfill,
      CLNN_ARGS(DC_ARG(off), DC_ARG(at_image(mask, img0, mask_image)), DC_ARG(ws_at(ws, l->cnt)),
                DC_ARG(ws_at(ws, l->sidx)), DC_ARG(ws_at(ws, l->sw)), CLNN_ARG_I32(g->desc->modulated),
                CLNN_ARG_I32(d->c), CLNN_ARG_I32(g->dg), DC_GEOM_ARGS(g)),
      2, gtaps, LOCAL1, op));
  size_t ggather[3] = {(size_t)d->h, (size_t)(d->c / (g->vec * g->dxv)), (size_t)nimg};
  return clnn__launch(
      ctx, &kgather,
      CLNN_ARGS(DC_ARG(ws_at(ws, l->cstart)), DC_ARG(ws_at(ws, l->sidx)), DC_ARG(ws_at(ws, l->sw)),
                DC_ARG(ws_at(ws, l->dcol)), DC_ARG(at_image(dx, img0, d->c * d->h * d->w)),
                CLNN_ARG_I32(d->c), CLNN_ARG_I32(g->dg), CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w),
                CLNN_ARG_I32(g->npix), CLNN_ARG_I32(g->taps)),
      3, ggather, LOCAL1, op);
}

static clnn_status launch_db(clnn_context *ctx, const dc_geom *g, const clnn_tensor *dy, clnn_tensor *db,
                             const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "deform_conv", "", "deform_conv_db", &k));
  size_t global[3] = {(size_t)g->d->k, 1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_TENSOR(dy), CLNN_ARG_TENSOR(db), CLNN_ARG_I32(g->d->n),
                                CLNN_ARG_I32(g->d->k), CLNN_ARG_I32(g->npix)),
                      1, global, LOCAL1, op);
}

static clnn_status check_bwd_outputs(clnn_context *ctx, const dc_geom *g, clnn_dtype dt, const clnn_tensor *dx,
                                     const clnn_tensor *doffset, const clnn_tensor *dmask,
                                     const clnn_tensor *dw, const clnn_tensor *db) {
  const clnn_conv2d_desc *d = g->d;
  int64_t xd[4] = {d->n, d->c, d->h, d->w}, wd[4] = {d->k, g->cg, d->kh, d->kw};
  int64_t od[4] = {d->n, 2 * g->dg * g->taps, g->oh, g->ow},
          md[4] = {d->n, g->dg * g->taps, g->oh, g->ow};
  if (dx) CLNN_TRY(clnn__check_tensor(ctx, dx, "dx", dt, 4, xd));
  if (doffset) CLNN_TRY(clnn__check_tensor(ctx, doffset, "doffset", dt, 4, od));
  if (dmask && !g->desc->modulated)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->modulated is 0 but a 'dmask' is given");
  if (dmask) CLNN_TRY(clnn__check_tensor(ctx, dmask, "dmask", dt, 4, md));
  if (dw) CLNN_TRY(clnn__check_tensor(ctx, dw, "dw", dt, 4, wd));
  if (db) CLNN_TRY(clnn__check_tensor(ctx, db, "db", dt, 1, &d->k));
  return CLNN_SUCCESS;
}

/* The backward of the CPU-class variants (the steps at the top of this file),
 * dcol by deform_conv_dcol (own_dcol) or by GEMMs. */
static clnn_status bwd_bands(clnn_context *ctx, const dc_geom *g, bwd_plan *p, const clnn_tensor *x,
                             const clnn_tensor *offset, const clnn_tensor *mask, const clnn_tensor *w,
                             const clnn_tensor *dy, clnn_tensor *dx, clnn_tensor *doffset, clnn_tensor *dmask,
                             clnn_tensor *dw, bool own_dcol) {
  const clnn_conv2d_desc *d = g->d;
  const int64_t oh = g->oh, ow = g->ow;
  const char *op = "deform_conv2d_bwd";
  CLNN_TRY(plan_chunk(ctx, g, p->fixed, p->per_image, BWD_CHUNK_BYTES, &p->chunk));
  const bwd_layout l = layout_bwd(p);
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(p->fixed + p->chunk * p->per_image) * sizeof(float), &ws));
  if (p->dsample)
    CLNN_TRY(launch_permute(ctx, g, "deform_conv_permute_w", at_image(w, 0, 0), ws_at(ws, l.wperm), op));
  for (int64_t img0 = 0; img0 < d->n; img0 += p->chunk) {
    const int64_t nimg = d->n - img0 < p->chunk ? d->n - img0 : p->chunk;
    if (p->sample) CLNN_TRY(launch_to_nhwc(ctx, g, x, img0, nimg, ws_at(ws, l.xt), op));
    for (int64_t r0 = 0; r0 < oh; r0 += p->band_rows) {
      bwd_band b = {img0, nimg, r0, r0 + p->band_rows < oh ? r0 + p->band_rows : oh, 0, 0, 0};
      b.p0 = r0 * ow;
      b.npix = (b.r1 - b.r0) * ow;
      b.dcol_p0 = p->dx ? 0 : b.p0;
      if (p->dsample) CLNN_TRY(bwd_dcol(ctx, g, p, &l, dy, ws, &b, own_dcol, op));
      if (p->sample) CLNN_TRY(bwd_sample(ctx, g, p, &l, ws, offset, mask, doffset, dmask, &b, op));
      if (p->dw) CLNN_TRY(bwd_dw_gemms(ctx, g, p, &l, dy, ws, &b, op));
    }
    if (p->dx) CLNN_TRY(bwd_dx(ctx, g, &l, ws, offset, mask, dx, img0, nimg, op));
  }
  if (p->dw)
    CLNN_TRY(launch_permute(ctx, g, "deform_conv_unpermute_dw", ws_at(ws, l.dwperm), at_image(dw, 0, 0), op));
  return CLNN_SUCCESS;
}

/* ========================================================= GPU variants
 * Shaped for GPUs (kernels/deform_conv.cl, section DC_GPU): work-groups of
 * dc_gpu_wg work-items, one sampling point or element per work-item with
 * neighbouring work-items on neighbouring output pixels, the GEMMs through
 * clnn__gemm_run (CLBlast on GPU-class contexts), no atomics anywhere.
 * Chunks of images share one column axis q = image * npix + p in the
 * scratch matrices (kernels/deform_conv.cl, DC_GPU), sized by
 * GPU_CHUNK_BYTES: large GEMMs, few launches.
 *
 * Forward (gpu_im2col_gemm): deform_conv_gpu_im2col writes the chunk's
 * patch matrix col [C*taps][q], one element per work-item; then one batched
 * GEMM y_g = W_g col_g per image and group, bias and activation fused as the
 * GEMM engine does. A fused implicit GEMM (sampling while staging B tiles)
 * would save the patch matrix's round trip through memory, but would be a
 * GEMM of our own against CLBlast's tuned ones; the round trip costs 8 bytes
 * per patch element (one write, one read) against Kg FMAs on it.
 *
 * Backward (gpu_gather), per chunk:
 *  1. dcol = W_g^T dy_g (one batched GEMM): [C*taps][q];
 *  2. dx (wanted): the chunk's sampling points sorted by (image, offset
 *     group, cell) with a stable radix sort, cell starts by binary search,
 *     corner weights per sorted point, then every input pixel gathers the
 *     points of the four cells around it (the CPU path's buckets, built
 *     in parallel);
 *  3. deform_conv_gpu_sample, one (offset group, tap, q) per work-item:
 *     doffset, dmask, and col over dcol in place (dw wanted);
 *  4. dw^T += col_g dyT_g (dyT: dy transposed through local tiles), chunks
 *     in order (beta = 1 after the first): a fixed summation order;
 * then dw = (dw^T)^T; db by a two-level tree reduction (bwd_b.gpu_tree).
 */

/* Scratch per chunk for the GPU variants: larger than the CPU path's
 * cache-sized chunks, GEMMs on GPUs want many columns. */
#define GPU_CHUNK_BYTES ((size_t)64 << 20)
/* Keys per work-item of the radix kernels and digits per pass (kernels/shared.h). */
#define GPU_RADIX_ITEMS CLNN_DC_RADIX_ITEMS
#define GPU_RADIX CLNN_DC_RADIX
/* Slices of the db reduction: enough work-groups to fill a GPU when K is small. */
#define GPU_DB_MAX_SLICES 64

/* Work-group size of the GPU kernels: CLNN_GPU_WG or the largest power of two
 * the device allows, and so that the radix kernels' counters (DC_RADIX ints a
 * work-item) take at most half the local memory; 0 when under 64. */
static size_t dc_gpu_wg(const clnn_context *ctx) {
  size_t wg = CLNN_GPU_WG;
  while (wg > 64 && ctx->caps.max_work_group_size && wg > ctx->caps.max_work_group_size) wg /= 2;
  while (wg > 64 && ctx->caps.local_mem_size && (uint64_t)wg * GPU_RADIX * sizeof(int) > ctx->caps.local_mem_size / 2)
    wg /= 2;
  if (ctx->caps.max_work_group_size && wg > ctx->caps.max_work_group_size) return 0;
  if (ctx->caps.local_mem_size && (uint64_t)wg * GPU_RADIX * sizeof(int) > ctx->caps.local_mem_size / 2) return 0;
  return wg;
}

static clnn_status gpu_kernel(clnn_context *ctx, size_t wg, const char *name, clnn_kernel_ref *k) {
  char opts[48];
  snprintf(opts, sizeof opts, "-DDC_GPU -DDC_WG=%zu", wg);
  return clnn__kernel(ctx, "deform_conv", opts, name, k);
}

static clnn_status fwd_gpu_im2col_gemm(clnn_context *ctx, const dc_geom *g, const clnn_tensor *x,
                                       const clnn_tensor *offset, const clnn_tensor *mask, const clnn_tensor *w,
                                       const clnn_tensor *b, clnn_tensor *y) {
  const clnn_conv2d_desc *d = g->d;
  const char *op = "deform_conv2d_fwd:gpu_im2col_gemm";
  const size_t wg = dc_gpu_wg(ctx);
  CLNN_TRY(check_patch_size(ctx, g));
  const int64_t per_image = g->ldcol * g->npix;
  int64_t chunk = 1;
  CLNN_TRY(plan_chunk(ctx, g, 0, per_image, GPU_CHUNK_BYTES, &chunk));
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(chunk * per_image) * sizeof(float), &ws));
  clnn_kernel_ref k;
  CLNN_TRY(gpu_kernel(ctx, wg, "deform_conv_gpu_im2col", &k));
  const int64_t off_image = 2 * g->dg * g->taps * g->npix, mask_image = g->dg * g->taps * g->npix;
  for (int64_t img0 = 0; img0 < d->n; img0 += chunk) {
    const int64_t nimg = d->n - img0 < chunk ? d->n - img0 : chunk, nq = nimg * g->npix;
    size_t global[2] = {(size_t)nq, (size_t)g->ldcol}, local[2] = {wg, 1};
    CLNN_TRY(clnn__launch(
        ctx, &k,
        CLNN_ARGS(DC_ARG(at_image(x, img0, d->c * d->h * d->w)), DC_ARG(at_image(offset, img0, off_image)),
                  DC_ARG(at_image(mask, img0, mask_image)), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                  CLNN_ARG_I32(g->desc->modulated), CLNN_ARG_I32(nq), CLNN_ARG_I32(d->c), CLNN_ARG_I32(g->dg),
                  DC_GEOM_ARGS(g)),
        2, global, local, op));
    /* y_g = W_g col_g for every image of the chunk and group (image i's
     * columns start at i * npix of the rows of nq), bias and activation fused. */
    clnn_gemm_job j = clnn__gemm_job(g->kg, g->npix, g->kd);
    j.nb1 = nimg;
    j.nb2 = d->groups;
    j.a = clnn__mem(w);
    j.a_off = (size_t)clnn__off(w);
    j.lda = g->kd;
    j.a_s2 = g->kg * g->kd;
    j.b = ws;
    j.ldb = nq;
    j.b_s1 = g->npix;
    j.b_s2 = g->kd * nq;
    j.c = clnn__mem(y);
    j.c_off = (size_t)(clnn__off(y) + (cl_ulong)(img0 * d->k * g->npix));
    j.ldc = g->npix;
    j.c_s1 = d->k * g->npix;
    j.c_s2 = g->kg * g->npix;
    if (b) {
      j.bias = clnn__mem(b);
      j.bias_off = (size_t)clnn__off(b);
      j.bias_s2 = g->kg;
    }
    j.act = d->act;
    j.act_alpha = d->act_alpha;
    CLNN_TRY(clnn__gemm_run(ctx, &j, op));
  }
  return CLNN_SUCCESS;
}

/* The GPU backward's scratch (floats or ints), per image of a chunk and fixed. */
typedef struct gpu_bwd_plan {
  bool dx, doff, dmask, dw;
  bool dsample; /* dcol is needed: dx, doffset or dmask */
  bool sample;  /* deform_conv_gpu_sample runs: doffset, dmask or dw */
  size_t wg;
  int64_t pts;    /* sampling points per image: DG * taps * npix */
  int64_t blocks; /* radix blocks per image (rounded up) */
  int64_t fixed, per_image, chunk;
} gpu_bwd_plan;

/* Offsets in the workspace for a chunk of n images. */
typedef struct gpu_bwd_layout {
  int64_t dwt, col, dyt, keys[2], vals[2], stq, sw, start, hist;
} gpu_bwd_layout;

static gpu_bwd_plan plan_gpu_bwd(const clnn_context *ctx, const dc_geom *g, bool dx, bool doff, bool dmask,
                                 bool dw) {
  gpu_bwd_plan p;
  memset(&p, 0, sizeof p);
  p.dx = dx, p.doff = doff, p.dmask = dmask, p.dw = dw;
  p.dsample = dx || doff || dmask;
  p.sample = doff || dmask || dw;
  p.wg = dc_gpu_wg(ctx);
  p.pts = g->dg * g->taps * g->npix;
  p.blocks = clnn__ceil_div(p.pts, (int64_t)p.wg * GPU_RADIX_ITEMS);
  const int64_t col = (p.dsample || dw) ? g->ldcol * g->npix : 0, dyt = dw ? g->d->k * g->npix : 0;
  /* dx: keys and values twice (the sort's ping-pong), stq, sw (4 a point), cell starts, histograms */
  const int64_t sort = dx ? 9 * p.pts + g->dg * g->ncells + GPU_RADIX * p.blocks : 0;
  p.fixed = (dw ? g->d->k * g->kd : 0) + (dx ? 1 : 0);
  p.per_image = col + dyt + sort;
  return p;
}

static gpu_bwd_layout layout_gpu_bwd(const dc_geom *g, const gpu_bwd_plan *p, int64_t n) {
  gpu_bwd_layout l;
  memset(&l, 0, sizeof l);
  int64_t at = 0;
  const int64_t npts = n * p->pts;
  l.dwt = at, at += p->dw ? g->d->k * g->kd : 0;
  l.col = at, at += (p->dsample || p->dw) ? n * g->ldcol * g->npix : 0;
  l.dyt = at, at += p->dw ? n * g->d->k * g->npix : 0;
  if (p->dx) {
    for (int i = 0; i < 2; i++) {
      l.keys[i] = at, at += npts;
      l.vals[i] = at, at += npts;
    }
    l.stq = at, at += npts;
    l.sw = at, at += 4 * npts;
    l.start = at, at += n * g->dg * g->ncells + 1;
    l.hist = at;
  }
  return l;
}

/* Step 1: dcol[ci*taps + t][q] = sum over the group's output channels of w * dy. */
static clnn_status gpu_bwd_dcol(clnn_context *ctx, const dc_geom *g, const clnn_tensor *w, const clnn_tensor *dy,
                                cl_mem ws, const gpu_bwd_layout *l, int64_t img0, int64_t nimg, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  const int64_t nq = nimg * g->npix;
  clnn_gemm_job j = clnn__gemm_job(g->kd, g->npix, g->kg);
  j.nb1 = nimg;
  j.nb2 = d->groups;
  j.a = clnn__mem(w); /* W_g is Kg x Kd: A = W_g^T */
  j.a_off = (size_t)clnn__off(w);
  j.a_trans = true;
  j.lda = g->kd;
  j.a_s2 = g->kg * g->kd;
  j.b = clnn__mem(dy);
  j.b_off = (size_t)(clnn__off(dy) + (cl_ulong)(img0 * d->k * g->npix));
  j.ldb = g->npix;
  j.b_s1 = d->k * g->npix;
  j.b_s2 = g->kg * g->npix;
  j.c = ws;
  j.c_off = (size_t)l->col;
  j.ldc = nq;
  j.c_s1 = g->npix;
  j.c_s2 = g->kd * nq;
  return clnn__gemm_run(ctx, &j, op);
}

/* Bits of the largest key: the radix passes needed (4 bits each). */
static int radix_passes(int64_t max_key) {
  int bits = 0;
  while (bits < 31 && (max_key >> bits) != 0) bits++;
  return (bits + 3) / 4;
}

/* Step 2: the dx gather (sort the chunk's points into cells, then gather). */
static clnn_status gpu_bwd_dx(clnn_context *ctx, const dc_geom *g, const gpu_bwd_plan *p, const gpu_bwd_layout *l,
                              cl_mem ws, const clnn_tensor *offset, const clnn_tensor *mask, clnn_tensor *dx,
                              int64_t img0, int64_t nimg, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  const size_t wg = p->wg;
  const int64_t npts = nimg * p->pts, nkeys = nimg * g->dg * g->ncells, nq = nimg * g->npix;
  const int64_t nblocks = clnn__ceil_div(npts, (int64_t)wg * GPU_RADIX_ITEMS);
  const int64_t off_image = 2 * g->dg * g->taps * g->npix, mask_image = g->dg * g->taps * g->npix;
  const dc_mem off = at_image(offset, img0, off_image), msk = at_image(mask, img0, mask_image);
  clnn_kernel_ref kkeys, khist, kscan, kscatter, kstart, kweights, kgather;
  CLNN_TRY(gpu_kernel(ctx, wg, "deform_conv_gpu_keys", &kkeys));
  CLNN_TRY(gpu_kernel(ctx, wg, "deform_conv_gpu_radix_hist", &khist));
  CLNN_TRY(gpu_kernel(ctx, wg, "deform_conv_gpu_radix_scan", &kscan));
  CLNN_TRY(gpu_kernel(ctx, wg, "deform_conv_gpu_radix_scatter", &kscatter));
  CLNN_TRY(gpu_kernel(ctx, wg, "deform_conv_gpu_cell_start", &kstart));
  CLNN_TRY(gpu_kernel(ctx, wg, "deform_conv_gpu_bucket_weights", &kweights));
  CLNN_TRY(gpu_kernel(ctx, wg, "deform_conv_gpu_dx_gather", &kgather));
  size_t local[3] = {wg, 1, 1}, gpts[3] = {(size_t)npts, 1, 1};
  CLNN_TRY(clnn__launch(ctx, &kkeys,
                        CLNN_ARGS(DC_ARG(off), DC_ARG(ws_at(ws, l->keys[0])), DC_ARG(ws_at(ws, l->vals[0])),
                                  CLNN_ARG_I32(npts), CLNN_ARG_I32(nkeys), CLNN_ARG_I32(g->dg), DC_GEOM_ARGS(g)),
                        1, gpts, local, op));
  /* Least significant digit first; each pass stable: ties keep point order. */
  const int passes = radix_passes(nkeys);
  int cur = 0;
  size_t gblocks[3] = {(size_t)nblocks * wg, 1, 1}, gone[3] = {wg, 1, 1};
  for (int pass = 0; pass < passes; pass++, cur ^= 1) {
    const int shift = 4 * pass;
    CLNN_TRY(clnn__launch(ctx, &khist,
                          CLNN_ARGS(DC_ARG(ws_at(ws, l->keys[cur])), DC_ARG(ws_at(ws, l->hist)), CLNN_ARG_I32(npts),
                                    CLNN_ARG_I32(shift), CLNN_ARG_I32(nblocks)),
                          1, gblocks, local, op));
    CLNN_TRY(clnn__launch(ctx, &kscan,
                          CLNN_ARGS(DC_ARG(ws_at(ws, l->hist)), CLNN_ARG_I32(GPU_RADIX * nblocks)), 1, gone, local,
                          op));
    CLNN_TRY(clnn__launch(ctx, &kscatter,
                          CLNN_ARGS(DC_ARG(ws_at(ws, l->keys[cur])), DC_ARG(ws_at(ws, l->vals[cur])),
                                    DC_ARG(ws_at(ws, l->keys[cur ^ 1])), DC_ARG(ws_at(ws, l->vals[cur ^ 1])),
                                    DC_ARG(ws_at(ws, l->hist)), CLNN_ARG_I32(npts), CLNN_ARG_I32(shift),
                                    CLNN_ARG_I32(nblocks)),
                          1, gblocks, local, op));
  }
  const dc_mem keys = ws_at(ws, l->keys[cur]), vals = ws_at(ws, l->vals[cur]);
  size_t gkeys[3] = {(size_t)nkeys + 1, 1, 1};
  CLNN_TRY(clnn__launch(ctx, &kstart,
                        CLNN_ARGS(DC_ARG(keys), DC_ARG(ws_at(ws, l->start)), CLNN_ARG_I32(npts), CLNN_ARG_I32(nkeys)),
                        1, gkeys, local, op));
  CLNN_TRY(clnn__launch(ctx, &kweights,
                        CLNN_ARGS(DC_ARG(keys), DC_ARG(vals), DC_ARG(off), DC_ARG(msk), DC_ARG(ws_at(ws, l->stq)),
                                  DC_ARG(ws_at(ws, l->sw)), CLNN_ARG_I32(g->desc->modulated), CLNN_ARG_I32(npts),
                                  CLNN_ARG_I32(nkeys), CLNN_ARG_I32(nq), CLNN_ARG_I32(g->dg), DC_GEOM_ARGS(g)),
                        1, gpts, local, op));
  /* Channels per work-item: one index and weight load serves nc channels of the offset group. */
  const int nc = g->cog % 4 == 0 ? 4 : g->cog % 2 == 0 ? 2 : 1;
  size_t ggather[3] = {(size_t)(d->h * d->w), (size_t)(d->c / nc), (size_t)nimg};
  return clnn__launch(ctx, &kgather,
                      CLNN_ARGS(DC_ARG(ws_at(ws, l->start)), DC_ARG(ws_at(ws, l->stq)), DC_ARG(ws_at(ws, l->sw)),
                                DC_ARG(ws_at(ws, l->col)), DC_ARG(at_image(dx, img0, d->c * d->h * d->w)),
                                CLNN_ARG_I32(nc), CLNN_ARG_I32(nq), CLNN_ARG_I32(d->c), CLNN_ARG_I32(g->dg),
                                CLNN_ARG_I32(d->h), CLNN_ARG_I32(d->w), CLNN_ARG_I32(g->taps)),
                      3, ggather, local, op);
}

/* Step 3: doffset, dmask and col (over dcol) per sampling point. */
static clnn_status gpu_bwd_sample(clnn_context *ctx, const dc_geom *g, const gpu_bwd_plan *p,
                                  const gpu_bwd_layout *l, cl_mem ws, const clnn_tensor *x, const clnn_tensor *offset,
                                  const clnn_tensor *mask, clnn_tensor *doffset, clnn_tensor *dmask, int64_t img0,
                                  int64_t nimg, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  clnn_kernel_ref k;
  CLNN_TRY(gpu_kernel(ctx, p->wg, "deform_conv_gpu_sample", &k));
  const int64_t off_image = 2 * g->dg * g->taps * g->npix, mask_image = g->dg * g->taps * g->npix;
  const int64_t nq = nimg * g->npix;
  size_t global[3] = {(size_t)nq, (size_t)g->taps, (size_t)g->dg}, local[3] = {p->wg, 1, 1};
  return clnn__launch(
      ctx, &k,
      CLNN_ARGS(DC_ARG(at_image(x, img0, d->c * d->h * d->w)), DC_ARG(at_image(offset, img0, off_image)),
                DC_ARG(at_image(mask, img0, mask_image)), DC_ARG(ws_at(ws, l->col)),
                DC_ARG(at_image(doffset, img0, off_image)), DC_ARG(at_image(dmask, img0, mask_image)),
                CLNN_ARG_I32(g->desc->modulated), CLNN_ARG_I32(p->dw), CLNN_ARG_I32(p->doff), CLNN_ARG_I32(p->dmask),
                CLNN_ARG_I32(nq), CLNN_ARG_I32(d->c), CLNN_ARG_I32(g->dg), DC_GEOM_ARGS(g)),
      3, global, local, op);
}

/* Step 4: dyT, then dw_g^T (+)= col_g dyT_g (Kd x Kg per group). */
static clnn_status gpu_bwd_dw(clnn_context *ctx, const dc_geom *g, const gpu_bwd_plan *p, const gpu_bwd_layout *l,
                              cl_mem ws, const clnn_tensor *dy, int64_t img0, int64_t nimg, const char *op) {
  const clnn_conv2d_desc *d = g->d;
  const int64_t nq = nimg * g->npix;
  clnn_kernel_ref k;
  CLNN_TRY(gpu_kernel(ctx, p->wg, "deform_conv_gpu_transpose_dy", &k));
  const size_t rows = p->wg / CLNN_DC_TILE;
  size_t global[3] = {(size_t)clnn__round_up(g->npix, CLNN_DC_TILE), (size_t)clnn__ceil_div(d->k, CLNN_DC_TILE) * rows,
                      (size_t)nimg};
  size_t local[3] = {CLNN_DC_TILE, rows, 1};
  CLNN_TRY(clnn__launch(ctx, &k,
                        CLNN_ARGS(DC_ARG(at_image(dy, img0, d->k * g->npix)), DC_ARG(ws_at(ws, l->dyt)),
                                  CLNN_ARG_I32(d->k), CLNN_ARG_I32(g->npix)),
                        3, global, local, op));
  clnn_gemm_job j = clnn__gemm_job(g->kd, g->kg, nq);
  j.nb2 = d->groups;
  j.a = ws;
  j.a_off = (size_t)l->col;
  j.lda = nq;
  j.a_s2 = g->kd * nq;
  j.b = ws;
  j.b_off = (size_t)l->dyt;
  j.ldb = d->k;
  j.b_s2 = g->kg;
  j.c = ws;
  j.c_off = (size_t)l->dwt;
  j.ldc = g->kg;
  j.c_s2 = g->kd * g->kg;
  j.c_s1 = d->k * g->kd; /* one batch: unused, but CLBlast rejects a zero C stride */
  j.beta = img0 == 0 ? 0.0f : 1.0f;
  return clnn__gemm_run(ctx, &j, op);
}

static clnn_status bwd_gpu_gather(clnn_context *ctx, const dc_geom *g, const clnn_tensor *x,
                                  const clnn_tensor *offset, const clnn_tensor *mask, const clnn_tensor *w,
                                  const clnn_tensor *dy, clnn_tensor *dx, clnn_tensor *doffset, clnn_tensor *dmask,
                                  clnn_tensor *dw) {
  const clnn_conv2d_desc *d = g->d;
  const char *op = "deform_conv2d_bwd:gpu_gather";
  gpu_bwd_plan p = plan_gpu_bwd(ctx, g, dx != NULL, doffset != NULL, dmask != NULL, dw != NULL);
  /* The chunk's scratch stays under 2^31 elements, so do its sort keys
   * (image * DG + og) * ncells + cell: per_image counts DG * ncells starts. */
  CLNN_TRY(plan_chunk(ctx, g, p.fixed, p.per_image, GPU_CHUNK_BYTES, &p.chunk));
  const gpu_bwd_layout l = layout_gpu_bwd(g, &p, p.chunk);
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)(p.fixed + p.chunk * p.per_image) * sizeof(float), &ws));
  for (int64_t img0 = 0; img0 < d->n; img0 += p.chunk) {
    /* A last, smaller chunk uses the start of each array of the layout. */
    const int64_t nimg = d->n - img0 < p.chunk ? d->n - img0 : p.chunk;
    if (p.dsample) CLNN_TRY(gpu_bwd_dcol(ctx, g, w, dy, ws, &l, img0, nimg, op));
    if (p.dx) CLNN_TRY(gpu_bwd_dx(ctx, g, &p, &l, ws, offset, mask, dx, img0, nimg, op));
    if (p.sample) CLNN_TRY(gpu_bwd_sample(ctx, g, &p, &l, ws, x, offset, mask, doffset, dmask, img0, nimg, op));
    if (p.dw) CLNN_TRY(gpu_bwd_dw(ctx, g, &p, &l, ws, dy, img0, nimg, op));
  }
  if (p.dw) {
    clnn_kernel_ref k;
    CLNN_TRY(gpu_kernel(ctx, p.wg, "deform_conv_gpu_untranspose_dw", &k));
    size_t global[3] = {(size_t)(d->k * g->kd), 1, 1}, local[3] = {p.wg, 1, 1};
    CLNN_TRY(clnn__launch(ctx, &k,
                          CLNN_ARGS(DC_ARG(ws_at(ws, l.dwt)), CLNN_ARG_TENSOR(dw), CLNN_ARG_I32(d->k),
                                    CLNN_ARG_I32(d->groups), CLNN_ARG_I32(g->kd)),
                          1, global, local, op));
  }
  return CLNN_SUCCESS;
}

/* db as a two-level tree: slices of each channel's n * npix values reduce to
 * partials in local memory, then each channel sums its partials in order
 * (one slice: the first level writes db). */
static clnn_status db_gpu_tree(clnn_context *ctx, const dc_geom *g, const clnn_tensor *dy, clnn_tensor *db) {
  const clnn_conv2d_desc *d = g->d;
  const char *op = "deform_conv2d_bwd:gpu_tree";
  const size_t wg = dc_gpu_wg(ctx);
  const int64_t total = d->n * g->npix;
  int64_t slices = clnn__ceil_div(total, (int64_t)wg * 16);
  if (slices > GPU_DB_MAX_SLICES) slices = GPU_DB_MAX_SLICES;
  if ((uint64_t)(d->k * slices) * sizeof(float) > ctx->workspace_limit) slices = 1;
  const int64_t slice_len = clnn__ceil_div(total, slices);
  clnn_kernel_ref kpart, kfinal;
  CLNN_TRY(gpu_kernel(ctx, wg, "deform_conv_gpu_db_partial", &kpart));
  cl_mem part = clnn__mem(db);
  cl_ulong part_off = clnn__off(db);
  if (slices > 1) {
    CLNN_TRY(gpu_kernel(ctx, wg, "deform_conv_gpu_db_final", &kfinal));
    CLNN_TRY(clnn__workspace(ctx, (size_t)(d->k * slices) * sizeof(float), &part));
    part_off = 0;
  }
  size_t global[3] = {(size_t)slices * wg, (size_t)d->k, 1}, local[3] = {wg, 1, 1};
  CLNN_TRY(clnn__launch(ctx, &kpart,
                        CLNN_ARGS(CLNN_ARG_TENSOR(dy), CLNN_ARG_MEM(part), CLNN_ARG_U64(part_off), CLNN_ARG_I32(d->n),
                                  CLNN_ARG_I32(d->k), CLNN_ARG_I32(g->npix), CLNN_ARG_I32(slices),
                                  CLNN_ARG_I32(slice_len)),
                        2, global, local, op));
  if (slices == 1) return CLNN_SUCCESS;
  size_t gfinal[3] = {(size_t)d->k, 1, 1};
  return clnn__launch(ctx, &kfinal,
                      CLNN_ARGS(CLNN_ARG_MEM(part), CLNN_ARG_U64(0), CLNN_ARG_TENSOR(db), CLNN_ARG_I32(d->k),
                                CLNN_ARG_I32(slices)),
                      1, gfinal, local, op);
}

/* ============================================================= variants
 * Per pass, best first. The CPU class keeps the kernels chosen before the
 * tables existed, picked by the same rule (the own engine or not); the GPU
 * class runs the variants above. */

/* What every variant's applies() sees: the geometry of the call. */
typedef struct dc_problem {
  const dc_geom *g;
} dc_problem;

static bool own_engine_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)problem;
  return clnn__own_engine_applies(ctx, why, n);
}

/* The fused kernel keeps CLNN_TILE_MR x FUSED_FK floats of A in local
 * memory; a device with less (Intel's CPU runtime and Oclgrind have 32 KiB)
 * would fail its launch with CL_OUT_OF_RESOURCES. */
static bool fused_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  if (!own_engine_applies(ctx, problem, why, n)) return false;
  const uint64_t bytes = (uint64_t)CLNN_TILE_MR * FUSED_FK * sizeof(float);
  return bytes <= ctx->caps.local_mem_size || clnn__why(why, n, "needs %d KiB of local memory", (int)(bytes / 1024));
}

static bool gpu_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)problem;
  return dc_gpu_wg(ctx) >= 64 ||
         clnn__why(why, n, "needs work-groups of 64 work-items and 8 KiB of local memory");
}

typedef clnn_status (*dc_fwd_fn)(clnn_context *ctx, const dc_geom *g, const clnn_tensor *x,
                                 const clnn_tensor *offset, const clnn_tensor *mask, const clnn_tensor *w,
                                 const clnn_tensor *b, clnn_tensor *y);

typedef struct dc_fwd_variant {
  clnn_variant v;
  clnn_deform_conv_algo algo; /* what clnn_deform_conv2d_fwd_algo reports for it */
  dc_fwd_fn run;
} dc_fwd_variant;

static const dc_fwd_variant fwd_variants[] = {
    {{"deform_conv.fwd.gpu_im2col_gemm", CLNN_DEVICE_CLASS_GPU, gpu_applies}, CLNN_DEFORM_CONV_ALGO_IM2COL_GEMM,
     fwd_gpu_im2col_gemm},
    {{"deform_conv.fwd.fused", CLNN_DEVICE_CLASS_CPU, fused_applies}, CLNN_DEFORM_CONV_ALGO_FUSED, fwd_fused},
    {{"deform_conv.fwd.im2col_gemm", CLNN_DEVICE_CLASS_CPU, NULL}, CLNN_DEFORM_CONV_ALGO_IM2COL_GEMM,
     fwd_im2col_gemm},
};
const clnn_variant_table clnn__deform_conv_fwd_variants = {"deform_conv", "fwd", &fwd_variants[0].v,
                                                           sizeof fwd_variants / sizeof fwd_variants[0],
                                                           sizeof fwd_variants[0]};

/* The backward's gradients but db. */
typedef struct dc_bwd_args {
  const clnn_tensor *x, *offset, *mask, *w, *dy;
  clnn_tensor *dx, *doffset, *dmask, *dw;
} dc_bwd_args;

typedef clnn_status (*dc_bwd_fn)(clnn_context *ctx, const dc_geom *g, const dc_bwd_args *a);

typedef struct dc_bwd_variant {
  clnn_variant v;
  dc_bwd_fn run;
} dc_bwd_variant;

static clnn_status run_bands(clnn_context *ctx, const dc_geom *g, const dc_bwd_args *a, bool own_dcol) {
  bwd_plan p = plan_bwd(g, a->dx != NULL, a->doffset != NULL, a->dmask != NULL, a->dw != NULL, false);
  return bwd_bands(ctx, g, &p, a->x, a->offset, a->mask, a->w, a->dy, a->dx, a->doffset, a->dmask, a->dw, own_dcol);
}
static clnn_status run_bands_own(clnn_context *ctx, const dc_geom *g, const dc_bwd_args *a) {
  return run_bands(ctx, g, a, true);
}
static clnn_status run_bands_gemm(clnn_context *ctx, const dc_geom *g, const dc_bwd_args *a) {
  return run_bands(ctx, g, a, false);
}
static clnn_status run_gpu_gather(clnn_context *ctx, const dc_geom *g, const dc_bwd_args *a) {
  return bwd_gpu_gather(ctx, g, a->x, a->offset, a->mask, a->w, a->dy, a->dx, a->doffset, a->dmask, a->dw);
}

static const dc_bwd_variant bwd_variants[] = {
    {{"deform_conv.bwd.gpu_gather", CLNN_DEVICE_CLASS_GPU, gpu_applies}, run_gpu_gather},
    {{"deform_conv.bwd.bands_own", CLNN_DEVICE_CLASS_CPU, own_engine_applies}, run_bands_own},
    {{"deform_conv.bwd.bands_gemm", CLNN_DEVICE_CLASS_CPU, NULL}, run_bands_gemm},
};
const clnn_variant_table clnn__deform_conv_bwd_variants = {"deform_conv", "bwd", &bwd_variants[0].v,
                                                           sizeof bwd_variants / sizeof bwd_variants[0],
                                                           sizeof bwd_variants[0]};

typedef clnn_status (*dc_db_fn)(clnn_context *ctx, const dc_geom *g, const clnn_tensor *dy, clnn_tensor *db);

typedef struct dc_db_variant {
  clnn_variant v;
  dc_db_fn run;
} dc_db_variant;

static clnn_status db_lanes16(clnn_context *ctx, const dc_geom *g, const clnn_tensor *dy, clnn_tensor *db) {
  return launch_db(ctx, g, dy, db, "deform_conv2d_bwd");
}

static const dc_db_variant db_variants[] = {
    {{"deform_conv.bwd_b.gpu_tree", CLNN_DEVICE_CLASS_GPU, gpu_applies}, db_gpu_tree},
    {{"deform_conv.bwd_b.lanes16", CLNN_DEVICE_CLASS_CPU, NULL}, db_lanes16},
};
const clnn_variant_table clnn__deform_conv_bwd_bias_variants = {"deform_conv", "bwd_b", &db_variants[0].v,
                                                                sizeof db_variants / sizeof db_variants[0],
                                                                sizeof db_variants[0]};

/* ============================================================ half types
 * x, offset, mask, w, b, y and the gradients are float32, float16 or
 * bfloat16, all of one type. A half-precision call runs the float32
 * variant the tables pick, on float32 copies of its tensors in the
 * context's outer workspace (clnn__stage_*; the variants use the inner
 * one): every input is widened once, the variant computes as it does in
 * float32 (sampling positions from the loaded offsets, bilinear sums, the
 * GEMMs and every reduction in the same order), and each output is rounded
 * once, to nearest even, into its tensor. So every
 * variant, CPU and GPU class, takes the half types, the GEMM engines stay
 * float32, and float32 calls do not pass here. The price is a pass over
 * each tensor, small next to the sampling and the GEMMs. One exception,
 * the common forward on CPUs: the fused variant reads the half tensors
 * itself when K' fits its block (fused_reads_half). */

/* The float32 copies of the n tensors ts (NULL ones stay NULL) into
 * copies[], the first nin of them inputs, widened now. */
static clnn_status stage_half(clnn_stage *s, const clnn_tensor *const *ts, int n, int nin, clnn_tensor **copies) {
  for (int i = 0; i < n; i++) copies[i] = clnn__stage_copy(s, ts[i]);
  CLNN_TRY(clnn__stage_alloc(s));
  for (int i = 0; i < nin; i++) CLNN_TRY(clnn__stage_widen(s, ts[i], copies[i]));
  return CLNN_SUCCESS;
}

/* Round the float32 results of outputs [first, n) into their tensors. */
static clnn_status unstage_half(clnn_stage *s, clnn_tensor *const *copies, clnn_tensor *const *ts, int first, int n) {
  for (int i = first; i < n; i++) CLNN_TRY(clnn__stage_round(s, copies[i], ts[i]));
  return CLNN_SUCCESS;
}

/* The fused forward reads half tensors itself (its copies of x and w are
 * float32 already, it widens the offsets, mask and bias as it loads them and
 * rounds y once in its epilogue) when its partial sums never pass through
 * y: K' within one block of FUSED_FK rows. */
static bool fused_reads_half(const dc_geom *g) { return g->kd <= FUSED_FK; }

static clnn_status fwd_half(clnn_context *ctx, const dc_geom *g, clnn_dtype dt, dc_fwd_fn run,
                            const clnn_tensor *x, const clnn_tensor *offset, const clnn_tensor *mask,
                            const clnn_tensor *w, const clnn_tensor *b, clnn_tensor *y) {
  if (run == fwd_fused && fused_reads_half(g)) return fwd_fused(ctx, g, x, offset, mask, w, b, y);
  const clnn_tensor *ins[6] = {x, offset, mask, w, b, y};
  clnn_tensor *outs[6] = {NULL, NULL, NULL, NULL, NULL, y}, *v[6];
  clnn_stage s;
  clnn__stage_init(&s, ctx, dt, dt == CLNN_FLOAT16 ? "deform_conv2d_fwd:float16" : "deform_conv2d_fwd:bfloat16");
  CLNN_TRY(stage_half(&s, ins, 6, 5, v));
  CLNN_TRY(run(ctx, g, v[0], v[1], v[2], v[3], v[4], v[5]));
  return unstage_half(&s, v, outs, 5, 6);
}

static clnn_status bwd_half(clnn_context *ctx, const dc_geom *g, clnn_dtype dt, const dc_bwd_args *a,
                            clnn_tensor *db, dc_bwd_fn run, dc_db_fn run_db) {
  const clnn_tensor *ins[10] = {a->x, a->offset, a->mask, a->w, a->dy, a->dx, a->doffset, a->dmask, a->dw, db};
  clnn_tensor *outs[10] = {NULL, NULL, NULL, NULL, NULL, a->dx, a->doffset, a->dmask, a->dw, db}, *v[10];
  clnn_stage s;
  clnn__stage_init(&s, ctx, dt, dt == CLNN_FLOAT16 ? "deform_conv2d_bwd:float16" : "deform_conv2d_bwd:bfloat16");
  CLNN_TRY(stage_half(&s, ins, 10, 5, v));
  if (run) {
    const dc_bwd_args f = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]};
    CLNN_TRY(run(ctx, g, &f));
  }
  if (run_db) CLNN_TRY(run_db(ctx, g, v[4], v[9]));
  return unstage_half(&s, v, outs, 5, 10);
}

/* --------------------------------------------------------------- public */

clnn_status clnn_deform_conv2d_fwd_algo(const clnn_context *ctx, const clnn_deform_conv2d_desc *desc,
                                        clnn_deform_conv_algo *algo) {
  CLNN_ENTER(NULL);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(NULL, algo);
  int64_t oh = 0, ow = 0;
  CLNN_TRY(clnn__deform_conv2d_desc_check(NULL, desc, &oh, &ow));
  const dc_geom g = geometry(desc, oh, ow);
  const dc_problem prob = {&g};
  size_t i;
  CLNN_TRY(clnn__plan_query(ctx, &clnn__deform_conv_fwd_variants, &prob, &i));
  *algo = fwd_variants[i].algo;
  return CLNN_SUCCESS;
}

clnn_status clnn_deform_conv2d_fwd(clnn_context *ctx, const clnn_deform_conv2d_desc *desc,
                                   const clnn_tensor *x, const clnn_tensor *offset,
                                   const clnn_tensor *mask, const clnn_tensor *w, const clnn_tensor *b,
                                   clnn_tensor *y) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t oh, ow;
  CLNN_TRY(clnn__deform_conv2d_desc_check(ctx, desc, &oh, &ow));
  const dc_geom g = geometry(desc, oh, ow);
  const clnn_conv2d_desc *d = &desc->conv;
  clnn_dtype dt;
  CLNN_TRY(check_inputs(ctx, &g, x, offset, mask, w, &dt));
  if (b) CLNN_TRY(clnn__check_tensor(ctx, b, "b", dt, 1, &d->k));
  int64_t yd[4] = {d->n, d->k, oh, ow};
  CLNN_TRY(clnn__check_tensor(ctx, y, "y", dt, 4, yd));
  const dc_named outs[] = {{y, "y"}};
  const dc_named ins[] = {{x, "x"}, {offset, "offset"}, {mask, "mask"}, {w, "w"}, {b, "b"}};
  CLNN_TRY(check_overlaps(ctx, outs, 1, ins, 5));
  if (d->n == 0) return CLNN_SUCCESS; /* no images: y is empty */
  const dc_problem prob = {&g};
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, &clnn__deform_conv_fwd_variants, &prob, &i));
  if (dt != CLNN_FLOAT32) return fwd_half(ctx, &g, dt, fwd_variants[i].run, x, offset, mask, w, b, y);
  return fwd_variants[i].run(ctx, &g, x, offset, mask, w, b, y);
}

clnn_status clnn_deform_conv2d_bwd(clnn_context *ctx, const clnn_deform_conv2d_desc *desc,
                                   const clnn_tensor *x, const clnn_tensor *offset,
                                   const clnn_tensor *mask, const clnn_tensor *w, const clnn_tensor *dy,
                                   clnn_tensor *dx, clnn_tensor *doffset, clnn_tensor *dmask,
                                   clnn_tensor *dw, clnn_tensor *db) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t oh, ow;
  CLNN_TRY(clnn__deform_conv2d_desc_check(ctx, desc, &oh, &ow));
  const dc_geom g = geometry(desc, oh, ow);
  const clnn_conv2d_desc *d = &desc->conv;
  CLNN_TRY(check_patch_size(ctx, &g));
  clnn_dtype dt;
  CLNN_TRY(check_inputs(ctx, &g, x, offset, mask, w, &dt));
  int64_t yd[4] = {d->n, d->k, oh, ow};
  CLNN_TRY(clnn__check_tensor(ctx, dy, "dy", dt, 4, yd));
  CLNN_TRY(check_bwd_outputs(ctx, &g, dt, dx, doffset, dmask, dw, db));
  const dc_named outs[] = {{dx, "dx"}, {doffset, "doffset"}, {dmask, "dmask"}, {dw, "dw"}, {db, "db"}};
  const dc_named ins[] = {{x, "x"}, {offset, "offset"}, {mask, "mask"}, {w, "w"}, {dy, "dy"}};
  CLNN_TRY(check_overlaps(ctx, outs, 5, ins, 5));
  if (d->n == 0) { /* no images: dx, doffset and dmask are empty, dw and db zero */
    if (dw) CLNN_TRY(clnn__zero_tensor(ctx, dw));
    if (db) CLNN_TRY(clnn__zero_tensor(ctx, db));
    return CLNN_SUCCESS;
  }

  const dc_problem prob = {&g};
  size_t i;
  dc_bwd_fn run = NULL;
  dc_db_fn run_db = NULL;
  if (dx || doffset || dmask || dw) {
    CLNN_TRY(clnn__plan_pick(ctx, &clnn__deform_conv_bwd_variants, &prob, &i));
    run = bwd_variants[i].run;
  }
  if (db) {
    CLNN_TRY(clnn__plan_pick(ctx, &clnn__deform_conv_bwd_bias_variants, &prob, &i));
    run_db = db_variants[i].run;
  }
  const dc_bwd_args a = {x, offset, mask, w, dy, dx, doffset, dmask, dw};
  if (dt != CLNN_FLOAT32) return bwd_half(ctx, &g, dt, &a, db, run, run_db);
  if (run) CLNN_TRY(run(ctx, &g, &a));
  if (run_db) CLNN_TRY(run_db(ctx, &g, dy, db));
  return CLNN_SUCCESS;
}
