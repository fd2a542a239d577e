/*
 * deconv.c - transposed 2-D convolution (conv_transpose2d), forward and
 * backward, run on the convolution family's passes (ops/conv_internal.h)
 * plus the regrouping kernels of kernels/deconv.cl.
 *
 * The transposed convolution T of x is the data gradient of the
 * "equivalent convolution" E from (n, k, out_h, out_w) to (n, c, h, w) with
 * the same weights, stride, padding, dilation and groups. Hence:
 *   forward y = E.bwd_data(x),  dx = E.fwd(dy),  dw = E.bwd_weights(dy, x),
 *   db = the sum of dy per channel.
 * That is the "conv" algorithm. With a stride above 1, though, E.bwd_data
 * goes through a column matrix and col2im, and E.fwd gathers strided
 * patches: both far slower than a stride-1 convolution. So the "subpixel"
 * algorithm rewrites the strided problem as stride-1 convolutions.
 *
 * Sub-pixel forward, one dimension (stride s, pad p, dilation 1, kernel k):
 * an output o receives x[i] w[r] for o = i*s - p + r. Write o + off = s*j + b
 * with off = p mod s and phase b in [0, s): the taps that reach o are
 * r = s*m + b, m in [0, A) with A = ceil(k/s), from i = j + p/s - m. So every
 * phase b is a stride-1 correlation of x with A taps (flipped), and all
 * phases share the same window: stacking the phases as output channels,
 *   Z[(b, co)][jz] = sum_{ci, t} x[ci][jz - zpad + t] wz[(b, co)][ci][t],
 *   wz[(b, co)][ci][t] = w[ci][co][s*(A-1-t) + b] (zero past the kernel),
 * is ONE stride-1 convolution (padding zpad) with s*k output channels, and
 *   y[co][o] = Z[(b, co)][j + shift],  shift = zpad - (A - 1 - p/s).
 * zpad is the smallest padding for which every y element lands inside Z
 * (Z may have a few rows more than y needs). With stride 1 the "phase" is
 * unique and the taps are the kernel's own, dilation included.
 * Sub-pixel backward: dx[i] = sum_r dy[i*s - p + r] w[r]. Regroup dy as
 *   Q[(b, co)][jq] = dy[co][s*jq + b - p]   (zero outside dy),
 * then dx[i] = sum_{b, t} Q[(b, co)][i + t] wq[ci][(b, co)][t] with
 * wq[ci][(b, co)][t] = w[ci][co][s*t + b]: a stride-1 convolution Q -> dx
 * without padding. Its weight gradient (x as that convolution's output
 * gradient) is dw regrouped: dw[ci][co][s*t + b] = dwq[ci][(b, co)][t].
 * In 2-D the phases are pairs (bh, bw). The regroupings are gathers
 * (deconv_s2d, deconv_d2s, deconv_pack_w, deconv_unpack_dw); the
 * convolutions are clnn__conv2d_fwd_run / clnn__conv2d_bwd_weights_run,
 * whatever algorithm those pick (implicit GEMM on CPU devices).
 *
 * The regrouped tensors must outlive the convolution calls, which use the
 * context's workspace, so they live in its second one, the outer workspace
 * (clnn__outer_workspace), filled chunk of images by chunk of images.
 */
#include "conv_internal.h"
#include "deconv_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Scratch of one chunk of images at most (and never over the workspace limit). */
#define DECONV_CHUNK_BYTES ((size_t)32 << 20)
/*
 * Sub-pixel is chosen (unless CLNN_CONV_TRANSPOSE_ALGO says otherwise)
 * while its waste, the multiply-adds it runs per useful one, stays under
 * these bounds: the zero taps of the regrouped kernels (ceil(k/s)*s of them
 * per k) times the spatial overhead of the stride-1 convolutions (rows and
 * columns of Z that y does not need, and the padded columns the implicit
 * GEMM computes and drops). Measured on the CPU device against the conv
 * algorithm (docs/BENCHMARKS.md): the forward gains about 1.4x at no waste
 * and breaks even near 1.4; the backward gains 5-10% at no waste and loses
 * from about 1.15 on.
 */
#define FWD_MAX_WASTE 1.35
#define BWD_MAX_WASTE 1.1

/* ============================================================ algorithms */

static const char *const algo_names[CLNN_CONV_TRANSPOSE_ALGO_COUNT_] = {"subpixel", "conv"};

const char *clnn_conv_transpose_algo_name(clnn_conv_transpose_algo algo) {
  if ((int)algo < 0 || algo >= CLNN_CONV_TRANSPOSE_ALGO_COUNT_) return "unknown";
  return algo_names[algo];
}

/* ================================================================== plan */

/* One spatial dimension of the problem and of its sub-pixel rewrite (see the banner). */
typedef struct deconv_axis {
  int64_t in, out, k, s, p, op, dil; /* input and output length, kernel, stride, pad, output pad, dilation */
  int64_t taps, tdil;                /* sub-pixel convolutions: kernel length and dilation */
  int64_t off;                       /* output o is phase (o + off) % s of phase row (o + off) / s */
  int64_t zpad, shift, zlen;         /* forward: Z's padding, Z row of phase row 0, Z's length */
  int64_t qlen;                      /* backward: length of the regrouped dy */
  int64_t ext;                       /* conv algorithm: E's output minus in (op / s) */
} deconv_axis;

static deconv_axis axis_make(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t op, int64_t dil) {
  deconv_axis a = {in, out, k, s, p, op, dil, 0, 0, 0, 0, 0, 0, 0, 0};
  a.taps = s == 1 ? k : clnn__ceil_div(k, s);
  a.tdil = s == 1 ? dil : 1;
  a.off = p % s;
  const int64_t span = (a.taps - 1) * a.tdil;    /* dilated extent of the taps, minus 1 */
  const int64_t dmax = span - p / s;             /* Z row jz reads x from jz - zpad on; phase row j from j - dmax */
  const int64_t jmax = (out - 1 + a.off) / s;    /* last phase row y needs */
  a.zpad = clnn__max64(0, clnn__max64(dmax, jmax - dmax - in + span + 1));
  a.shift = a.zpad - dmax;
  a.zlen = in + 2 * a.zpad - span;
  a.qlen = in + span;
  a.ext = op / s;
  return a;
}

typedef struct deconv_plan {
  const clnn_conv_transpose2d_desc *d;
  clnn_conv_transpose_algo fwd_algo, bwd_algo;
  int64_t oh, ow;
  int64_t cgi, cgo; /* channels per group: input (x), output (y) */
  int64_t phases;   /* stride_h * stride_w */
  deconv_axis ah, aw;
  clnn_conv2d_desc zc; /* subpixel forward: x -> Z (n, phases*k, zlen_h, zlen_w) */
  clnn_conv2d_desc qc; /* subpixel backward: Q (n, phases*k, qlen_h, qlen_w) -> dx */
  clnn_conv2d_desc ec; /* conv: the equivalent convolution (n, k, oh, ow) -> (n, c, h + ext_h, w + ext_w) */
  clnn_conv2d_desc bc; /* the bias gradient: a 1x1 convolution whose output is y */
} deconv_plan;

/* Whether the sub-pixel rewrite applies: dilation only where the stride is
 * 1, regrouped tensors within 32-bit indexing. */
static bool subpixel_applies(const deconv_plan *pl) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  if ((d->stride_h > 1 && d->dilation_h > 1) || (d->stride_w > 1 && d->dilation_w > 1)) return false;
  int64_t n;
  int64_t zd[4] = {d->n, pl->phases * d->k, pl->ah.zlen, pl->aw.zlen};
  int64_t qd[4] = {d->n, pl->phases * d->k, pl->ah.qlen, pl->aw.qlen};
  int64_t wd[4] = {pl->phases * d->k, pl->cgi, pl->ah.taps, pl->aw.taps};
  return clnn__numel_ok(4, zd, &n) && n <= CLNN_INDEX_MAX && clnn__numel_ok(4, qd, &n) && n <= CLNN_INDEX_MAX &&
         clnn__numel_ok(4, wd, &n) && n <= CLNN_INDEX_MAX && pl->phases * d->k <= CLNN_DIM_MAX;
}

/* Multiply-adds of the regrouped kernels per original one. */
static double tap_waste(const deconv_plan *pl) {
  return (double)(pl->phases * pl->ah.taps * pl->aw.taps) / (double)(pl->d->kh * pl->d->kw);
}

/* Forward: Z's rows times its padded width, per element of y's phases. */
static double fwd_waste(const deconv_plan *pl) {
  double grid = (double)pl->ah.zlen * (double)(pl->d->w + 2 * pl->aw.zpad);
  return tap_waste(pl) * grid * (double)pl->phases / ((double)pl->oh * (double)pl->ow);
}

/* Backward: dx's rows times Q's width, per element of dx. */
static double bwd_waste(const deconv_plan *pl) { return tap_waste(pl) * (double)pl->aw.qlen / (double)pl->d->w; }

/* The plan of a descriptor already validated (deconv_check gave oh, ow). */
/* Whether CLNN_CONV_TRANSPOSE_ALGO names this algorithm ("subpixel", "conv"). */
static bool algo_forced(const clnn_context *ctx, clnn_conv_transpose_algo algo) {
  return ctx->env.transpose_algo == (int)algo;
}

static deconv_plan plan_make(const clnn_context *ctx, const clnn_conv_transpose2d_desc *d, int64_t oh, int64_t ow) {
  deconv_plan pl;
  memset(&pl, 0, sizeof pl);
  pl.d = d;
  pl.oh = oh;
  pl.ow = ow;
  pl.cgi = d->c / d->groups;
  pl.cgo = d->k / d->groups;
  pl.phases = d->stride_h * d->stride_w;
  pl.ah = axis_make(d->h, oh, d->kh, d->stride_h, d->pad_h, d->output_pad_h, d->dilation_h);
  pl.aw = axis_make(d->w, ow, d->kw, d->stride_w, d->pad_w, d->output_pad_w, d->dilation_w);

  /* conv: E maps (n, k, oh, ow) to (n, c, h + ext_h, w + ext_w). */
  pl.ec = clnn_conv2d_desc_make(d->n, d->k, oh, ow, d->c, d->kh, d->kw);
  pl.ec.stride_h = d->stride_h;
  pl.ec.stride_w = d->stride_w;
  pl.ec.pad_h = d->pad_h;
  pl.ec.pad_w = d->pad_w;
  pl.ec.dilation_h = d->dilation_h;
  pl.ec.dilation_w = d->dilation_w;
  pl.ec.groups = d->groups;
  pl.bc = clnn_conv2d_desc_make(d->n, d->k, oh, ow, d->k, 1, 1);

  /* subpixel: x -> Z and Q -> dx. */
  pl.zc = clnn_conv2d_desc_make(d->n, d->c, d->h, d->w, pl.phases * d->k, pl.ah.taps, pl.aw.taps);
  pl.zc.pad_h = pl.ah.zpad;
  pl.zc.pad_w = pl.aw.zpad;
  pl.zc.dilation_h = pl.ah.tdil;
  pl.zc.dilation_w = pl.aw.tdil;
  pl.zc.groups = d->groups;
  pl.qc = clnn_conv2d_desc_make(d->n, pl.phases * d->k, pl.ah.qlen, pl.aw.qlen, d->c, pl.ah.taps, pl.aw.taps);
  pl.qc.dilation_h = pl.ah.tdil;
  pl.qc.dilation_w = pl.aw.tdil;
  pl.qc.groups = d->groups;

  /* Stride 1 without output padding: E's own passes are already stride-1
   * convolutions, with nothing to regroup. */
  bool plain = d->stride_h == 1 && d->stride_w == 1 && d->output_pad_h == 0 && d->output_pad_w == 0;
  bool sub = !plain && subpixel_applies(&pl);
  pl.fwd_algo = pl.bwd_algo = CLNN_CONV_TRANSPOSE_ALGO_CONV;
  if (sub && fwd_waste(&pl) <= FWD_MAX_WASTE) pl.fwd_algo = CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL;
  if (sub && bwd_waste(&pl) <= BWD_MAX_WASTE) pl.bwd_algo = CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL;
  /* CLNN_CONV_TRANSPOSE_ALGO=subpixel or conv overrides the choice (for
   * tests and experiments); subpixel still only where it applies. */
  if (algo_forced(ctx, CLNN_CONV_TRANSPOSE_ALGO_CONV)) pl.fwd_algo = pl.bwd_algo = CLNN_CONV_TRANSPOSE_ALGO_CONV;
  if (algo_forced(ctx, CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL) && subpixel_applies(&pl))
    pl.fwd_algo = pl.bwd_algo = CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL;
  return pl;
}

/* The algorithm of the forward (bwd = false) or of the gradients of dx and dw. */
static clnn_status algo_query(const clnn_context *ctx, const clnn_conv_transpose2d_desc *desc, bool bwd,
                              clnn_conv_transpose_algo *algo) {
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(NULL, algo);
  int64_t oh, ow;
  CLNN_TRY(clnn__conv_transpose2d_desc_check(NULL, desc, &oh, &ow));
  deconv_plan pl = plan_make(ctx, desc, oh, ow);
  *algo = bwd ? pl.bwd_algo : pl.fwd_algo;
  return CLNN_SUCCESS;
}

clnn_status clnn_conv_transpose2d_fwd_algo(const clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                           clnn_conv_transpose_algo *algo) {
  CLNN_ENTER(NULL);
  return algo_query(ctx, desc, false, algo);
}

clnn_status clnn_conv_transpose2d_bwd_algo(const clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                           clnn_conv_transpose_algo *algo) {
  CLNN_ENTER(NULL);
  return algo_query(ctx, desc, true, algo);
}

/* ============================================================== launches */

static clnn_conv_mem at(clnn_conv_mem m, int64_t elems) { return clnn__conv_mem_at(m, elems); }

/* Rows per work-item of the regrouping kernels: about ITEM_ELEMS elements
 * each (a work-group of one item costs a few microseconds to schedule),
 * yet at least MIN_ITEMS work-items when there are rows enough. */
#define ITEM_ELEMS 8192
#define MIN_ITEMS 64
static int64_t rows_per_item(int64_t nrows, int64_t row_elems, int64_t planes) {
  int64_t rows = clnn__max64(1, ITEM_ELEMS / clnn__max64(1, row_elems));
  while (rows > 1 && clnn__ceil_div(nrows, rows) * planes < MIN_ITEMS) rows = clnn__ceil_div(rows, 2);
  return clnn__min64(rows, nrows);
}

/* deconv_pack_w: regrouped weights (backward = 0: wz, 1: wq) into out. */
static clnn_status launch_pack_w(clnn_context *ctx, const deconv_plan *pl, clnn_conv_mem w, clnn_conv_mem out,
                                 int backward, const char *op) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "deconv", "", "deconv_pack_w", &k));
  size_t global[2] = {(size_t)pl->phases, (size_t)(backward ? d->c : d->k)}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(w), CLNN_ARG_CONV_MEM(out), CLNN_ARG_I32(d->groups),
                                CLNN_ARG_I32(pl->cgi), CLNN_ARG_I32(pl->cgo), CLNN_ARG_I32(d->kh),
                                CLNN_ARG_I32(d->kw), CLNN_ARG_I32(d->stride_h), CLNN_ARG_I32(d->stride_w),
                                CLNN_ARG_I32(pl->ah.taps), CLNN_ARG_I32(pl->aw.taps), CLNN_ARG_I32(backward)),
                      2, global, local, op);
}

/* deconv_unpack_dw: dw (+)= the regrouped weight gradient dwq. */
static clnn_status launch_unpack_dw(clnn_context *ctx, const deconv_plan *pl, clnn_conv_mem dwq, clnn_conv_mem dw,
                                   bool accumulate, const char *op) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "deconv", "", "deconv_unpack_dw", &k));
  size_t global[1] = {(size_t)d->c}, local[1] = {1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(dwq), CLNN_ARG_CONV_MEM(dw), CLNN_ARG_I32(d->c),
                                CLNN_ARG_I32(pl->cgo), CLNN_ARG_I32(d->kh), CLNN_ARG_I32(d->kw),
                                CLNN_ARG_I32(d->stride_h), CLNN_ARG_I32(d->stride_w), CLNN_ARG_I32(pl->ah.taps),
                                CLNN_ARG_I32(pl->aw.taps), CLNN_ARG_I32(accumulate ? 1 : 0)),
                      1, global, local, op);
}

/* The geometry of one deconv_s2d launch: G groups of Cgo source channels,
 * strides (phases) sh x sw, source offset (ph, pw), plane sizes. */
typedef struct s2d_geom {
  int64_t groups, cgo, hs, ws, hd, wd, sh, sw, ph, pw;
} s2d_geom;

static clnn_status launch_s2d(clnn_context *ctx, const s2d_geom *s, clnn_conv_mem src, clnn_conv_mem dst,
                              int64_t nimg, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "deconv", "", "deconv_s2d", &k));
  int64_t planes = nimg * s->groups * s->cgo, rows = rows_per_item(s->hd, s->sh * s->sw * s->wd, planes);
  size_t global[2] = {(size_t)clnn__ceil_div(s->hd, rows), (size_t)planes}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(src), CLNN_ARG_CONV_MEM(dst), CLNN_ARG_I32(s->groups),
                                CLNN_ARG_I32(s->cgo), CLNN_ARG_I32(s->hs), CLNN_ARG_I32(s->ws), CLNN_ARG_I32(s->hd),
                                CLNN_ARG_I32(s->wd), CLNN_ARG_I32(s->sh), CLNN_ARG_I32(s->sw), CLNN_ARG_I32(s->ph),
                                CLNN_ARG_I32(s->pw), CLNN_ARG_I32(rows)),
                      2, global, local, op);
}

/* A window copy of nimg images of c planes: zero-extend or crop to hd x wd. */
static clnn_status launch_window(clnn_context *ctx, int64_t c, int64_t hs, int64_t ws, int64_t hd, int64_t wd,
                                 clnn_conv_mem src, clnn_conv_mem dst, int64_t nimg, const char *op) {
  s2d_geom s = {1, c, hs, ws, hd, wd, 1, 1, 0, 0};
  return launch_s2d(ctx, &s, src, dst, nimg, op);
}

/* deconv_d2s: y of nimg images from their phase planes Z, bias and activation. */
static clnn_status launch_d2s(clnn_context *ctx, const deconv_plan *pl, clnn_conv_mem z, clnn_conv_mem b,
                              clnn_conv_mem y, int64_t nimg, const char *op) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  char opts[96], acts[64];
  clnn__act_options(acts, sizeof acts, d->act, d->act_alpha);
  snprintf(opts, sizeof opts, "-DDECONV_D2S=1%s", acts);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "deconv", opts, "deconv_d2s", &k));
  int64_t rows = rows_per_item(pl->oh, pl->ow, nimg * d->k);
  size_t global[2] = {(size_t)clnn__ceil_div(pl->oh, rows), (size_t)(nimg * d->k)}, local[2] = {1, 1};
  return clnn__launch(
      ctx, &k,
      CLNN_ARGS(CLNN_ARG_CONV_MEM(z), CLNN_ARG_CONV_MEM(b), CLNN_ARG_CONV_MEM(y), CLNN_ARG_I32(d->groups),
                CLNN_ARG_I32(pl->cgo), CLNN_ARG_I32(pl->ah.zlen), CLNN_ARG_I32(pl->aw.zlen), CLNN_ARG_I32(pl->oh),
                CLNN_ARG_I32(pl->ow), CLNN_ARG_I32(d->stride_h), CLNN_ARG_I32(d->stride_w),
                CLNN_ARG_I32(pl->ah.off), CLNN_ARG_I32(pl->aw.off), CLNN_ARG_I32(pl->ah.shift),
                CLNN_ARG_I32(pl->aw.shift), CLNN_ARG_I32(b.mem ? 1 : 0), CLNN_ARG_I32(rows)),
      2, global, local, op);
}

/* ================================================================ scratch */

/*
 * Scratch for fixed elements plus per_image elements for each image of a
 * chunk, in the context's outer workspace (the convolutions inside use the
 * workspace itself). The chunk is sized by clnn__conv_chunk: the budget and
 * the workspace limit (UNSUPPORTED when one image does not fit).
 */
typedef struct scratch {
  cl_mem mem;
  int64_t chunk;
} scratch;

static clnn_status scratch_get(clnn_context *ctx, int64_t n, int64_t per_image, int64_t fixed, const char *what,
                               scratch *s) {
  CLNN_TRY(clnn__conv_chunk(ctx, n, per_image, fixed, DECONV_CHUNK_BYTES, what, &s->chunk));
  return clnn__outer_workspace(ctx, (size_t)(fixed + s->chunk * per_image) * sizeof(float), &s->mem);
}

/* ================================================================ forward */

/* x -> Z (one stride-1 convolution per chunk of images) -> y (deconv_d2s). */
static clnn_status fwd_subpixel_chunks(clnn_context *ctx, const deconv_plan *pl, const scratch *s, clnn_conv_mem x,
                                       clnn_conv_mem w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  clnn_conv_mem wz = {s->mem, 0};
  int64_t wz_elems = pl->phases * d->k * pl->cgi * pl->ah.taps * pl->aw.taps;
  clnn_conv_mem z = {s->mem, (size_t)wz_elems};
  CLNN_TRY(launch_pack_w(ctx, pl, w, wz, 0, op));
  clnn_conv2d_desc zc = pl->zc;
  clnn_conv_mem none = {NULL, 0};
  for (int64_t img0 = 0; img0 < d->n; img0 += s->chunk) {
    zc.n = clnn__min64(s->chunk, d->n - img0);
    CLNN_TRY(clnn__conv2d_fwd_run(ctx, &zc, at(x, img0 * d->c * d->h * d->w), wz, none, z));
    CLNN_TRY(launch_d2s(ctx, pl, z, b, at(y, img0 * d->k * pl->oh * pl->ow), zc.n, op));
  }
  return CLNN_SUCCESS;
}

static clnn_status fwd_subpixel(clnn_context *ctx, const deconv_plan *pl, clnn_conv_mem x, clnn_conv_mem w,
                                clnn_conv_mem b, clnn_conv_mem y) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  const char *op = "conv_transpose2d_fwd:subpixel";
  int64_t per_image = pl->phases * d->k * pl->ah.zlen * pl->aw.zlen;
  int64_t fixed = pl->phases * d->k * pl->cgi * pl->ah.taps * pl->aw.taps;
  scratch s;
  CLNN_TRY(scratch_get(ctx, d->n, per_image, fixed, "sub-pixel planes", &s));
  return fwd_subpixel_chunks(ctx, pl, &s, x, w, b, y, op);
}

/* ============================================ conv bwd_data (deconv_internal.h) */

/*
 * Conv bwd_data takes the sub-pixel route where the planner picks it for
 * the transposed convolution, and also up to a larger waste than the
 * planner's: there the alternative is conv bwd_data's own column matrix +
 * col2im, which grouped problems (many small GEMMs) run far slower than
 * the stride-1 grouped kernels. Measured (clnn-bench --pass=bwd_d, CPU
 * device, waste in parentheses): 3x3 stride 2 g32 with 4 and 8 channels
 * per group 2.9x and 2.3x faster (1.97); 5x5 stride 2 groups 1 1.3x
 * faster (1.54); 3x3 stride 2 groups 1 1.2x slower (1.97); 1x1 stride 2
 * 3x slower (4.3).
 */
#define CONV_BWD_DATA_MAX_WASTE 1.6
#define CONV_BWD_DATA_MAX_WASTE_GROUPED 2.0

bool clnn__deconv_subpixel_bwd_data_applies(const clnn_context *ctx, const clnn_conv2d_desc *d) {
  if (d->stride_h == 1 && d->stride_w == 1) return false;
  clnn_conv_transpose2d_desc t = clnn__conv_transpose2d_of_bwd_data(d);
  int64_t oh, ow;
  if (clnn__conv_transpose2d_desc_check(NULL, &t, &oh, &ow) != CLNN_SUCCESS) return false;
  deconv_plan pl = plan_make(ctx, &t, oh, ow);
  if (pl.fwd_algo == CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL) return true;
  if (algo_forced(ctx, CLNN_CONV_TRANSPOSE_ALGO_CONV) || !subpixel_applies(&pl)) return false;
  double bound = d->groups > 1 ? CONV_BWD_DATA_MAX_WASTE_GROUPED : CONV_BWD_DATA_MAX_WASTE;
  return fwd_waste(&pl) <= bound;
}

clnn_status clnn__deconv_subpixel_bwd_data(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem dy,
                                           clnn_conv_mem w, clnn_conv_mem dx) {
  clnn_conv_transpose2d_desc t = clnn__conv_transpose2d_of_bwd_data(d);
  int64_t oh, ow;
  CLNN_TRY(clnn__conv_transpose2d_desc_check(ctx, &t, &oh, &ow));
  deconv_plan pl = plan_make(ctx, &t, oh, ow);
  CLNN_TRY(clnn__conv2d_desc_check(ctx, &pl.zc, NULL, NULL));
  clnn_conv_mem none = {NULL, 0};
  return fwd_subpixel(ctx, &pl, dy, w, none, dx);
}

/* E.bwd_data with the bias and activation fused; when output padding makes
 * E's output larger than x (ext > 0), x is zero-extended chunk by chunk. */
static clnn_status fwd_conv(clnn_context *ctx, const deconv_plan *pl, clnn_conv_mem x, clnn_conv_mem w,
                            clnn_conv_mem b, clnn_conv_mem y) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  const char *op = "conv_transpose2d_fwd:conv";
  if (pl->ah.ext == 0 && pl->aw.ext == 0)
    return clnn__conv2d_bwd_data_run_no_subpixel(ctx, &pl->ec, x, w, b, d->act, d->act_alpha, y);
  int64_t he = d->h + pl->ah.ext, we = d->w + pl->aw.ext;
  scratch s;
  CLNN_TRY(scratch_get(ctx, d->n, d->c * he * we, 0, "zero-extended input", &s));
  clnn_conv2d_desc ec = pl->ec;
  clnn_conv_mem xe = {s.mem, 0};
  for (int64_t img0 = 0; img0 < d->n; img0 += s.chunk) {
    ec.n = clnn__min64(s.chunk, d->n - img0);
    CLNN_TRY(launch_window(ctx, d->c, d->h, d->w, he, we, at(x, img0 * d->c * d->h * d->w), xe, ec.n, op));
    CLNN_TRY(clnn__conv2d_bwd_data_run_no_subpixel(ctx, &ec, xe, w, b, d->act, d->act_alpha,
                                                   at(y, img0 * d->k * pl->oh * pl->ow)));
  }
  return CLNN_SUCCESS;
}

/* =============================================================== backward */

/* What a backward call computes: any of dx, dw, db (mem NULL = skip). */
typedef struct bwd_args {
  clnn_conv_mem x, w, dy, dx, dw, db;
  bool accumulate; /* dw and db */
} bwd_args;

/* Per chunk: dy -> Q (deconv_s2d); dwq (+)= E'.bwd_weights(Q, x); dx = E'.fwd(Q). */
static clnn_status bwd_subpixel_chunks(clnn_context *ctx, const deconv_plan *pl, const scratch *s,
                                       const bwd_args *a, int64_t wq_elems, const char *op) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  clnn_conv_mem wq = {s->mem, 0}, dwq = {s->mem, (size_t)wq_elems}, q = {s->mem, (size_t)(2 * wq_elems)};
  if (a->dx.mem) CLNN_TRY(launch_pack_w(ctx, pl, a->w, wq, 1, op));
  s2d_geom g = {d->groups, pl->cgo, pl->oh, pl->ow, pl->ah.qlen, pl->aw.qlen,
                d->stride_h, d->stride_w, d->pad_h, d->pad_w};
  clnn_conv2d_desc qc = pl->qc;
  clnn_conv_mem none = {NULL, 0};
  for (int64_t img0 = 0; img0 < d->n; img0 += s->chunk) {
    qc.n = clnn__min64(s->chunk, d->n - img0);
    clnn_conv_mem x = at(a->x, img0 * d->c * d->h * d->w), dx = at(a->dx, img0 * d->c * d->h * d->w);
    CLNN_TRY(launch_s2d(ctx, &g, at(a->dy, img0 * d->k * pl->oh * pl->ow), q, qc.n, op));
    if (a->dw.mem) CLNN_TRY(clnn__conv2d_bwd_weights_run(ctx, &qc, q, x, dwq, img0 > 0));
    if (a->dx.mem) CLNN_TRY(clnn__conv2d_fwd_run(ctx, &qc, q, wq, none, dx));
  }
  if (a->dw.mem) CLNN_TRY(launch_unpack_dw(ctx, pl, dwq, a->dw, a->accumulate, op));
  return CLNN_SUCCESS;
}

static clnn_status bwd_subpixel(clnn_context *ctx, const deconv_plan *pl, const bwd_args *a) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  const char *op = "conv_transpose2d_bwd:subpixel";
  /* Room for both wq and dwq whatever is asked: the same chunks (and so
   * the same bits) in a combined call and in separate ones. */
  int64_t wq_elems = d->c * pl->phases * pl->cgo * pl->ah.taps * pl->aw.taps;
  int64_t per_image = pl->phases * d->k * pl->ah.qlen * pl->aw.qlen;
  scratch s;
  CLNN_TRY(scratch_get(ctx, d->n, per_image, 2 * wq_elems, "regrouped output gradient", &s));
  return bwd_subpixel_chunks(ctx, pl, &s, a, wq_elems, op);
}

/* dx = E.fwd(dy), dw (+)= E.bwd_weights(dy, x), straight on the tensors. */
static clnn_status bwd_conv_direct(clnn_context *ctx, const deconv_plan *pl, const bwd_args *a) {
  clnn_conv_mem none = {NULL, 0};
  if (a->dw.mem) CLNN_TRY(clnn__conv2d_bwd_weights_run(ctx, &pl->ec, a->dy, a->x, a->dw, a->accumulate));
  if (a->dx.mem) CLNN_TRY(clnn__conv2d_fwd_run(ctx, &pl->ec, a->dy, a->w, none, a->dx));
  return CLNN_SUCCESS;
}

/* Output padding of a stride or more (dilated kernels only): E's output is
 * (h + ext_h) x (w + ext_w). Per chunk, x is zero-extended for dw and E's
 * output cropped into dx. */
static clnn_status bwd_conv_extended_chunks(clnn_context *ctx, const deconv_plan *pl, const scratch *s,
                                            const bwd_args *a, int64_t he, int64_t we, const char *op) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  clnn_conv2d_desc ec = pl->ec;
  clnn_conv_mem xe = {s->mem, 0}, dxe = {s->mem, (size_t)(s->chunk * d->c * he * we)}, none = {NULL, 0};
  for (int64_t img0 = 0; img0 < d->n; img0 += s->chunk) {
    ec.n = clnn__min64(s->chunk, d->n - img0);
    clnn_conv_mem dy = at(a->dy, img0 * d->k * pl->oh * pl->ow);
    if (a->dw.mem) {
      CLNN_TRY(launch_window(ctx, d->c, d->h, d->w, he, we, at(a->x, img0 * d->c * d->h * d->w), xe, ec.n, op));
      CLNN_TRY(clnn__conv2d_bwd_weights_run(ctx, &ec, dy, xe, a->dw, a->accumulate || img0 > 0));
    }
    if (a->dx.mem) {
      CLNN_TRY(clnn__conv2d_fwd_run(ctx, &ec, dy, a->w, none, dxe));
      CLNN_TRY(launch_window(ctx, d->c, he, we, d->h, d->w, dxe, at(a->dx, img0 * d->c * d->h * d->w), ec.n, op));
    }
  }
  return CLNN_SUCCESS;
}

static clnn_status bwd_conv(clnn_context *ctx, const deconv_plan *pl, const bwd_args *a) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  if (pl->ah.ext == 0 && pl->aw.ext == 0) return bwd_conv_direct(ctx, pl, a);
  int64_t he = d->h + pl->ah.ext, we = d->w + pl->aw.ext;
  scratch s;
  CLNN_TRY(scratch_get(ctx, d->n, 2 * d->c * he * we, 0, "zero-extended input and its gradient", &s));
  return bwd_conv_extended_chunks(ctx, pl, &s, a, he, we, "conv_transpose2d_bwd:conv");
}

static clnn_status bwd_run(clnn_context *ctx, const deconv_plan *pl, const bwd_args *a) {
  if (a->dx.mem || a->dw.mem) {
    if (pl->bwd_algo == CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL)
      CLNN_TRY(bwd_subpixel(ctx, pl, a));
    else
      CLNN_TRY(bwd_conv(ctx, pl, a));
  }
  if (a->db.mem) CLNN_TRY(clnn__conv2d_bwd_bias_run(ctx, &pl->bc, a->dy, a->db, a->accumulate));
  return CLNN_SUCCESS;
}

/* ============================================================== variants
 * The forward and the backward each choose between the two algorithms
 * above. plan_make scores sub-pixel against conv with the waste bounds
 * measured on CPU devices (and CLNN_CONV_TRANSPOSE_ALGO); sub-pixel's
 * regrouping kernels are CPU-shaped, so on GPU-class devices the conv
 * algorithm runs, whose passes are the convolution's GPU variants. */

typedef struct deconv_variant {
  clnn_variant v;
  clnn_conv_transpose_algo algo;
} deconv_variant;

/* What the planner asks about: the plan, and which pass. */
typedef struct deconv_problem {
  const deconv_plan *pl;
  bool bwd;
} deconv_problem;

static const deconv_variant fwd_variants[2], bwd_variants[2]; /* below: applies() names its own entry */

static bool subpixel_variant_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  const deconv_problem *p = problem;
  if (!subpixel_applies(p->pl)) return clnn__why(why, n, "the regrouped kernels would not fit this problem");
  const deconv_variant *self = p->bwd ? &bwd_variants[0] : &fwd_variants[0];
  if (clnn__variant_forced(ctx, &self->v)) return true; /* forced: the waste bound is only the default */
  clnn_conv_transpose_algo chosen = p->bwd ? p->pl->bwd_algo : p->pl->fwd_algo;
  return chosen == CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL ||
         clnn__why(why, n, "wastes more multiply-adds than the conv algorithm pays for, or "
                           "CLNN_CONV_TRANSPOSE_ALGO=conv");
}

static const deconv_variant fwd_variants[] = {
    {{"deconv.fwd.subpixel", CLNN_DEVICE_CLASS_CPU, subpixel_variant_applies}, CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL},
    {{"deconv.fwd.conv", CLNN_CLASS_ANY, NULL}, CLNN_CONV_TRANSPOSE_ALGO_CONV},
};
static const deconv_variant bwd_variants[] = {
    {{"deconv.bwd.subpixel", CLNN_DEVICE_CLASS_CPU, subpixel_variant_applies}, CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL},
    {{"deconv.bwd.conv", CLNN_CLASS_ANY, NULL}, CLNN_CONV_TRANSPOSE_ALGO_CONV},
};
const clnn_variant_table clnn__deconv_fwd_variants = {"deconv", "fwd", &fwd_variants[0].v,
                                                      sizeof fwd_variants / sizeof fwd_variants[0],
                                                      sizeof fwd_variants[0]};
const clnn_variant_table clnn__deconv_bwd_variants = {"deconv", "bwd", &bwd_variants[0].v,
                                                      sizeof bwd_variants / sizeof bwd_variants[0],
                                                      sizeof bwd_variants[0]};

/* Settle the plan's two algorithms through the variant tables. */
static clnn_status pick_algos(clnn_context *ctx, deconv_plan *pl) {
  deconv_problem fp = {pl, false}, bp = {pl, true};
  size_t fi, bi;
  CLNN_TRY(clnn__plan_check(ctx, &clnn__deconv_fwd_variants, &fp, &fi));
  CLNN_TRY(clnn__plan_check(ctx, &clnn__deconv_bwd_variants, &bp, &bi));
  pl->fwd_algo = fwd_variants[fi].algo;
  pl->bwd_algo = bwd_variants[bi].algo;
  return CLNN_SUCCESS;
}

/* Record the variant of the pass about to run (clnn_context_last_variant). */
static clnn_status note_algo(clnn_context *ctx, deconv_plan *pl, bool bwd) {
  deconv_problem p = {pl, bwd};
  size_t i;
  return clnn__plan_pick(ctx, bwd ? &clnn__deconv_bwd_variants : &clnn__deconv_fwd_variants, &p, &i);
}

/* ================================================================= public */

/* Context, descriptor and accumulate checks every call starts with; the
 * inner convolution descriptors are checked too (they cannot fail once the
 * transposed one passed, but the conv entry points require it). */
static clnn_status enter(clnn_context *ctx, const clnn_conv_transpose2d_desc *desc, int accumulate,
                         deconv_plan *pl) {
  int64_t oh, ow;
  CLNN_TRY(clnn__conv_transpose2d_desc_check(ctx, desc, &oh, &ow));
  if (accumulate != 0 && accumulate != 1)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "accumulate = %d must be 0 or 1", accumulate);
  *pl = plan_make(ctx, desc, oh, ow);
  CLNN_TRY(pick_algos(ctx, pl));
  if (pl->fwd_algo == CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL) CLNN_TRY(clnn__conv2d_desc_check(ctx, &pl->zc, NULL, NULL));
  if (pl->bwd_algo == CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL) CLNN_TRY(clnn__conv2d_desc_check(ctx, &pl->qc, NULL, NULL));
  if (pl->fwd_algo == CLNN_CONV_TRANSPOSE_ALGO_CONV || pl->bwd_algo == CLNN_CONV_TRANSPOSE_ALGO_CONV)
    CLNN_TRY(clnn__conv2d_desc_check(ctx, &pl->ec, NULL, NULL));
  return clnn__conv2d_desc_check(ctx, &pl->bc, NULL, NULL);
}

static void dims_x(const clnn_conv_transpose2d_desc *d, int64_t out[4]) {
  out[0] = d->n, out[1] = d->c, out[2] = d->h, out[3] = d->w;
}
static void dims_w(const clnn_conv_transpose2d_desc *d, int64_t out[4]) {
  out[0] = d->c, out[1] = d->k / d->groups, out[2] = d->kh, out[3] = d->kw;
}
static void dims_y(const deconv_plan *pl, int64_t out[4]) {
  out[0] = pl->d->n, out[1] = pl->d->k, out[2] = pl->oh, out[3] = pl->ow;
}

clnn_status clnn_conv_transpose2d_fwd(clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                      const clnn_tensor *x, const clnn_tensor *w, const clnn_tensor *b,
                                      clnn_tensor *y) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  deconv_plan pl;
  CLNN_TRY(enter(ctx, desc, 0, &pl));
  int64_t xd[4], wd[4], yd[4];
  dims_x(desc, xd);
  dims_w(desc, wd);
  dims_y(&pl, yd);
  CLNN_TRY(clnn__check_tensor(ctx, x, "x", CLNN_FLOAT32, 4, xd));
  CLNN_TRY(clnn__check_tensor(ctx, w, "w", CLNN_FLOAT32, 4, wd));
  if (b) CLNN_TRY(clnn__check_tensor(ctx, b, "b", CLNN_FLOAT32, 1, &desc->k));
  CLNN_TRY(clnn__check_tensor(ctx, y, "y", CLNN_FLOAT32, 4, yd));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", x, "x"));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", w, "w"));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", b, "b"));
  CLNN_TRY(note_algo(ctx, &pl, false));
  if (pl.fwd_algo == CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL)
    return fwd_subpixel(ctx, &pl, clnn__conv_mem(x), clnn__conv_mem(w), clnn__conv_mem(b), clnn__conv_mem(y));
  return fwd_conv(ctx, &pl, clnn__conv_mem(x), clnn__conv_mem(w), clnn__conv_mem(b), clnn__conv_mem(y));
}

/* The backward calls after CLNN_ENTER: validate everything, then run. */
static clnn_status bwd_checked(clnn_context *ctx, const clnn_conv_transpose2d_desc *desc, const clnn_tensor *x,
                               const clnn_tensor *w, const clnn_tensor *dy, clnn_tensor *dx, clnn_tensor *dw,
                               clnn_tensor *db, int accumulate) {
  CLNN_CHECK_NULL(NULL, ctx);
  deconv_plan pl;
  CLNN_TRY(enter(ctx, desc, accumulate, &pl));
  if (!dx && !dw && !db) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "dx, dw and db are all NULL: nothing to compute");
  int64_t xd[4], wd[4], yd[4];
  dims_x(desc, xd);
  dims_w(desc, wd);
  dims_y(&pl, yd);
  CLNN_TRY(clnn__check_tensor(ctx, dy, "dy", CLNN_FLOAT32, 4, yd));
  if (dx) {
    CLNN_TRY(clnn__check_tensor(ctx, w, "w", CLNN_FLOAT32, 4, wd));
    CLNN_TRY(clnn__check_tensor(ctx, dx, "dx", CLNN_FLOAT32, 4, xd));
  }
  if (dw) {
    CLNN_TRY(clnn__check_tensor(ctx, x, "x", CLNN_FLOAT32, 4, xd));
    CLNN_TRY(clnn__check_tensor(ctx, dw, "dw", CLNN_FLOAT32, 4, wd));
  }
  if (db) CLNN_TRY(clnn__check_tensor(ctx, db, "db", CLNN_FLOAT32, 1, &desc->k));
  /* Outputs against every input they are computed from, and against each other. */
  const clnn_tensor *ins[3] = {dy, dx ? w : NULL, dw ? x : NULL};
  const char *in_names[3] = {"dy", "w", "x"};
  clnn_tensor *outs[3] = {dx, dw, db};
  const char *out_names[3] = {"dx", "dw", "db"};
  for (int o = 0; o < 3; o++) {
    for (int i = 0; i < 3; i++) CLNN_TRY(clnn__check_no_overlap(ctx, outs[o], out_names[o], ins[i], in_names[i]));
    for (int p = o + 1; p < 3; p++)
      CLNN_TRY(clnn__check_no_overlap(ctx, outs[o], out_names[o], outs[p], out_names[p]));
  }
  bwd_args a = {clnn__conv_mem(dw ? x : NULL), clnn__conv_mem(dx ? w : NULL), clnn__conv_mem(dy),
                clnn__conv_mem(dx), clnn__conv_mem(dw), clnn__conv_mem(db), accumulate == 1};
  /* The inner convolutions size their chunks (and refuse one image over the
   * workspace limit) as they go: a first pass that enqueues nothing finds
   * any such failure before the second writes a gradient. */
  if (dx || dw) CLNN_TRY(note_algo(ctx, &pl, true));
  ctx->plan_only = true;
  clnn_status planned = bwd_run(ctx, &pl, &a);
  ctx->plan_only = false;
  CLNN_TRY(planned);
  return bwd_run(ctx, &pl, &a);
}

clnn_status clnn_conv_transpose2d_bwd(clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                      const clnn_tensor *x, const clnn_tensor *w, const clnn_tensor *dy,
                                      clnn_tensor *dx, clnn_tensor *dw, clnn_tensor *db, int accumulate) {
  CLNN_OP_ENTER(ctx);
  return bwd_checked(ctx, desc, x, w, dy, dx, dw, db, accumulate);
}

/* The single-gradient calls: every argument required. */
clnn_status clnn_conv_transpose2d_bwd_data(clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                           const clnn_tensor *dy, const clnn_tensor *w, clnn_tensor *dx) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(ctx, dx);
  return bwd_checked(ctx, desc, NULL, w, dy, dx, NULL, NULL, 0);
}

clnn_status clnn_conv_transpose2d_bwd_weights(clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                              const clnn_tensor *x, const clnn_tensor *dy, clnn_tensor *dw,
                                              int accumulate) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(ctx, dw);
  return bwd_checked(ctx, desc, x, NULL, dy, NULL, dw, NULL, accumulate);
}

clnn_status clnn_conv_transpose2d_bwd_bias(clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                           const clnn_tensor *dy, clnn_tensor *db, int accumulate) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(ctx, db);
  return bwd_checked(ctx, desc, NULL, NULL, dy, NULL, NULL, db, accumulate);
}
