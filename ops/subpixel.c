/*
 * subpixel.c - the sub-pixel rewrite of a strided transposed convolution as
 * stride-1 convolutions (ops/subpixel.h), and its regrouping kernels
 * (kernels/deconv.cl). A strided transposed convolution run as it is
 * (conv bwd_data: a column matrix and col2im) is far slower on CPU devices
 * than a stride-1 convolution.
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
 * whatever algorithm those pick (implicit GEMM on CPU devices). This file
 * runs the forward; ops/deconv.c puts the backward together from the
 * regrouping steps (see ops/subpixel.h).
 *
 * The regrouped tensors must outlive the convolution calls, which use the
 * context's workspace, so they live in its second one, the outer workspace
 * (clnn__outer_workspace), filled chunk of images by chunk of images.
 */
#include "subpixel.h"

#include <stdio.h>
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

/* ================================================================== plan */

static clnn_subpixel_axis axis_make(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, int64_t op,
                                    int64_t dil) {
  clnn_subpixel_axis a = {in, out, k, s, p, op, dil, 0, 0, 0, 0, 0, 0, 0};
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
  return a;
}

clnn_subpixel_plan clnn__subpixel_plan(const clnn_conv_transpose2d_desc *d, int64_t oh, int64_t ow) {
  clnn_subpixel_plan sp;
  memset(&sp, 0, sizeof sp);
  sp.d = d;
  sp.oh = oh;
  sp.ow = ow;
  sp.cgi = d->c / d->groups;
  sp.cgo = d->k / d->groups;
  sp.phases = d->stride_h * d->stride_w;
  sp.ah = axis_make(d->h, oh, d->kh, d->stride_h, d->pad_h, d->output_pad_h, d->dilation_h);
  sp.aw = axis_make(d->w, ow, d->kw, d->stride_w, d->pad_w, d->output_pad_w, d->dilation_w);
  /* x -> Z and Q -> dx. */
  sp.zc = clnn_conv2d_desc_make(d->n, d->c, d->h, d->w, sp.phases * d->k, sp.ah.taps, sp.aw.taps);
  sp.zc.pad_h = sp.ah.zpad;
  sp.zc.pad_w = sp.aw.zpad;
  sp.zc.dilation_h = sp.ah.tdil;
  sp.zc.dilation_w = sp.aw.tdil;
  sp.zc.groups = d->groups;
  sp.qc = clnn_conv2d_desc_make(d->n, sp.phases * d->k, sp.ah.qlen, sp.aw.qlen, d->c, sp.ah.taps, sp.aw.taps);
  sp.qc.dilation_h = sp.ah.tdil;
  sp.qc.dilation_w = sp.aw.tdil;
  sp.qc.groups = d->groups;
  return sp;
}

bool clnn__subpixel_fits(const clnn_subpixel_plan *sp) {
  const clnn_conv_transpose2d_desc *d = sp->d;
  if ((d->stride_h > 1 && d->dilation_h > 1) || (d->stride_w > 1 && d->dilation_w > 1)) return false;
  int64_t n;
  int64_t zd[4] = {d->n, sp->phases * d->k, sp->ah.zlen, sp->aw.zlen};
  int64_t qd[4] = {d->n, sp->phases * d->k, sp->ah.qlen, sp->aw.qlen};
  int64_t wd[4] = {sp->phases * d->k, sp->cgi, sp->ah.taps, sp->aw.taps};
  return clnn__numel_ok(4, zd, &n) && n <= CLNN_INDEX_MAX && clnn__numel_ok(4, qd, &n) && n <= CLNN_INDEX_MAX &&
         clnn__numel_ok(4, wd, &n) && n <= CLNN_INDEX_MAX && sp->phases * d->k <= CLNN_DIM_MAX;
}

/* Multiply-adds of the regrouped kernels per original one. */
static double tap_waste(const clnn_subpixel_plan *sp) {
  return (double)(sp->phases * sp->ah.taps * sp->aw.taps) / (double)(sp->d->kh * sp->d->kw);
}

/* Forward: Z's rows times its padded width, per element of y's phases. */
static double fwd_waste(const clnn_subpixel_plan *sp) {
  double grid = (double)sp->ah.zlen * (double)(sp->d->w + 2 * sp->aw.zpad);
  return tap_waste(sp) * grid * (double)sp->phases / ((double)sp->oh * (double)sp->ow);
}

/* Backward: dx's rows times Q's width, per element of dx. */
static double bwd_waste(const clnn_subpixel_plan *sp) {
  return tap_waste(sp) * (double)sp->aw.qlen / (double)sp->d->w;
}

/* Whether CLNN_CONV_TRANSPOSE_ALGO names this algorithm ("subpixel", "conv"). */
static bool algo_forced(const clnn_context *ctx, clnn_conv_transpose_algo algo) {
  return ctx->env.transpose_algo == (int)algo;
}

bool clnn__subpixel_chosen(const clnn_context *ctx, const clnn_subpixel_plan *sp, bool bwd) {
  const clnn_conv_transpose2d_desc *d = sp->d;
  /* CLNN_CONV_TRANSPOSE_ALGO=subpixel or conv overrides the choice (for
   * tests and experiments); subpixel still only where it applies. */
  if (algo_forced(ctx, CLNN_CONV_TRANSPOSE_ALGO_CONV)) return false;
  if (algo_forced(ctx, CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL)) return clnn__subpixel_fits(sp);
  /* Stride 1 without output padding: the transposed convolution's passes
   * are already stride-1 convolutions, with nothing to regroup. */
  bool plain = d->stride_h == 1 && d->stride_w == 1 && d->output_pad_h == 0 && d->output_pad_w == 0;
  if (plain || !clnn__subpixel_fits(sp)) return false;
  return bwd ? bwd_waste(sp) <= BWD_MAX_WASTE : fwd_waste(sp) <= FWD_MAX_WASTE;
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

clnn_status clnn__subpixel_pack_w(clnn_context *ctx, const clnn_subpixel_plan *sp, clnn_conv_mem w,
                                  clnn_conv_mem out, int backward, const char *op) {
  const clnn_conv_transpose2d_desc *d = sp->d;
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "deconv", "", "deconv_pack_w", &k));
  size_t global[2] = {(size_t)sp->phases, (size_t)(backward ? d->c : d->k)}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(w), CLNN_ARG_CONV_MEM(out), CLNN_ARG_I32(d->groups),
                                CLNN_ARG_I32(sp->cgi), CLNN_ARG_I32(sp->cgo), CLNN_ARG_I32(d->kh),
                                CLNN_ARG_I32(d->kw), CLNN_ARG_I32(d->stride_h), CLNN_ARG_I32(d->stride_w),
                                CLNN_ARG_I32(sp->ah.taps), CLNN_ARG_I32(sp->aw.taps), CLNN_ARG_I32(backward)),
                      2, global, local, op);
}

clnn_status clnn__subpixel_unpack_dw(clnn_context *ctx, const clnn_subpixel_plan *sp, clnn_conv_mem dwq,
                                     clnn_conv_mem dw, bool accumulate, const char *op) {
  const clnn_conv_transpose2d_desc *d = sp->d;
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "deconv", "", "deconv_unpack_dw", &k));
  size_t global[1] = {(size_t)d->c}, local[1] = {1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_CONV_MEM(dwq), CLNN_ARG_CONV_MEM(dw), CLNN_ARG_I32(d->c),
                                CLNN_ARG_I32(sp->cgo), CLNN_ARG_I32(d->kh), CLNN_ARG_I32(d->kw),
                                CLNN_ARG_I32(d->stride_h), CLNN_ARG_I32(d->stride_w), CLNN_ARG_I32(sp->ah.taps),
                                CLNN_ARG_I32(sp->aw.taps), CLNN_ARG_I32(accumulate ? 1 : 0)),
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

clnn_status clnn__subpixel_regroup_dy(clnn_context *ctx, const clnn_subpixel_plan *sp, clnn_conv_mem dy,
                                      clnn_conv_mem q, int64_t nimg, const char *op) {
  const clnn_conv_transpose2d_desc *d = sp->d;
  s2d_geom g = {d->groups, sp->cgo, sp->oh, sp->ow, sp->ah.qlen, sp->aw.qlen,
                d->stride_h, d->stride_w, d->pad_h, d->pad_w};
  return launch_s2d(ctx, &g, dy, q, nimg, op);
}

clnn_status clnn__subpixel_window(clnn_context *ctx, int64_t c, int64_t hs, int64_t ws, int64_t hd, int64_t wd,
                                  clnn_conv_mem src, clnn_conv_mem dst, int64_t nimg, const char *op) {
  s2d_geom s = {1, c, hs, ws, hd, wd, 1, 1, 0, 0};
  return launch_s2d(ctx, &s, src, dst, nimg, op);
}

/* deconv_d2s: y of nimg images from their phase planes Z, bias and activation. */
static clnn_status launch_d2s(clnn_context *ctx, const clnn_subpixel_plan *sp, clnn_conv_mem z, clnn_conv_mem b,
                              clnn_conv_mem y, int64_t nimg, const char *op) {
  const clnn_conv_transpose2d_desc *d = sp->d;
  char opts[96], acts[64];
  clnn__act_options(acts, sizeof acts, d->act, d->act_alpha);
  snprintf(opts, sizeof opts, "-DDECONV_D2S=1%s", acts);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "deconv", opts, "deconv_d2s", &k));
  int64_t rows = rows_per_item(sp->oh, sp->ow, nimg * d->k);
  size_t global[2] = {(size_t)clnn__ceil_div(sp->oh, rows), (size_t)(nimg * d->k)}, local[2] = {1, 1};
  return clnn__launch(
      ctx, &k,
      CLNN_ARGS(CLNN_ARG_CONV_MEM(z), CLNN_ARG_CONV_MEM(b), CLNN_ARG_CONV_MEM(y), CLNN_ARG_I32(d->groups),
                CLNN_ARG_I32(sp->cgo), CLNN_ARG_I32(sp->ah.zlen), CLNN_ARG_I32(sp->aw.zlen), CLNN_ARG_I32(sp->oh),
                CLNN_ARG_I32(sp->ow), CLNN_ARG_I32(d->stride_h), CLNN_ARG_I32(d->stride_w),
                CLNN_ARG_I32(sp->ah.off), CLNN_ARG_I32(sp->aw.off), CLNN_ARG_I32(sp->ah.shift),
                CLNN_ARG_I32(sp->aw.shift), CLNN_ARG_I32(b.mem ? 1 : 0), CLNN_ARG_I32(rows)),
      2, global, local, op);
}

/* ================================================================ scratch */

clnn_status clnn__subpixel_scratch(clnn_context *ctx, int64_t n, int64_t per_image, int64_t fixed, const char *what,
                                   clnn_subpixel_scratch *s) {
  CLNN_TRY(clnn__conv_chunk(ctx, n, per_image, fixed, DECONV_CHUNK_BYTES, what, &s->chunk));
  return clnn__outer_workspace(ctx, (size_t)(fixed + s->chunk * per_image) * sizeof(float), &s->mem);
}

/* ================================================================ forward */

/* x -> Z (one stride-1 convolution per chunk of images) -> y (deconv_d2s). */
static clnn_status fwd_chunks(clnn_context *ctx, const clnn_subpixel_plan *sp, const clnn_subpixel_scratch *s,
                              clnn_conv_mem x, clnn_conv_mem w, clnn_conv_mem b, clnn_conv_mem y, const char *op) {
  const clnn_conv_transpose2d_desc *d = sp->d;
  clnn_conv_mem wz = {s->mem, 0};
  int64_t wz_elems = sp->phases * d->k * sp->cgi * sp->ah.taps * sp->aw.taps;
  clnn_conv_mem z = {s->mem, (size_t)wz_elems};
  CLNN_TRY(clnn__subpixel_pack_w(ctx, sp, w, wz, 0, op));
  clnn_conv2d_desc zc = sp->zc;
  clnn_conv_mem none = {NULL, 0};
  for (int64_t img0 = 0; img0 < d->n; img0 += s->chunk) {
    zc.n = clnn__min64(s->chunk, d->n - img0);
    CLNN_TRY(clnn__conv2d_fwd_run(ctx, &zc, at(x, img0 * d->c * d->h * d->w), wz, none, z));
    CLNN_TRY(launch_d2s(ctx, sp, z, b, at(y, img0 * d->k * sp->oh * sp->ow), zc.n, op));
  }
  return CLNN_SUCCESS;
}

clnn_status clnn__subpixel_fwd(clnn_context *ctx, const clnn_subpixel_plan *sp, clnn_conv_mem x, clnn_conv_mem w,
                               clnn_conv_mem b, clnn_conv_mem y) {
  const clnn_conv_transpose2d_desc *d = sp->d;
  const char *op = "conv_transpose2d_fwd:subpixel";
  int64_t per_image = sp->phases * d->k * sp->ah.zlen * sp->aw.zlen;
  int64_t fixed = sp->phases * d->k * sp->cgi * sp->ah.taps * sp->aw.taps;
  clnn_subpixel_scratch s;
  CLNN_TRY(clnn__subpixel_scratch(ctx, d->n, per_image, fixed, "sub-pixel planes", &s));
  return fwd_chunks(ctx, sp, &s, x, w, b, y, op);
}

/* ========================================================= conv bwd_data */

/*
 * Conv bwd_data takes the sub-pixel route where the transposed
 * convolution's planner picks it for the forward, and also up to a larger
 * waste than the planner's: there the alternative is conv bwd_data's own
 * column matrix + col2im, which grouped problems (many small GEMMs) run far
 * slower than the stride-1 grouped kernels. Measured (clnn-bench
 * --pass=bwd_d, CPU device, waste in parentheses): 3x3 stride 2 g32 with 4
 * and 8 channels per group 2.9x and 2.3x faster (1.97); 5x5 stride 2
 * groups 1 1.3x faster (1.54); 3x3 stride 2 groups 1 1.2x slower (1.97);
 * 1x1 stride 2 3x slower (4.3).
 */
#define CONV_BWD_DATA_MAX_WASTE 1.6
#define CONV_BWD_DATA_MAX_WASTE_GROUPED 2.0

bool clnn__subpixel_bwd_data_applies(const clnn_context *ctx, const clnn_conv2d_desc *d) {
  if (d->stride_h == 1 && d->stride_w == 1) return false;
  clnn_conv_transpose2d_desc t = clnn__conv_transpose2d_of_bwd_data(d);
  int64_t oh, ow;
  if (clnn__conv_transpose2d_desc_check(NULL, &t, &oh, &ow) != CLNN_SUCCESS) return false;
  clnn_subpixel_plan sp = clnn__subpixel_plan(&t, oh, ow);
  if (clnn__subpixel_chosen(ctx, &sp, false)) return true;
  if (algo_forced(ctx, CLNN_CONV_TRANSPOSE_ALGO_CONV) || !clnn__subpixel_fits(&sp)) return false;
  double bound = d->groups > 1 ? CONV_BWD_DATA_MAX_WASTE_GROUPED : CONV_BWD_DATA_MAX_WASTE;
  return fwd_waste(&sp) <= bound;
}

clnn_status clnn__subpixel_bwd_data(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem dy, clnn_conv_mem w,
                                    clnn_conv_mem dx) {
  clnn_conv_transpose2d_desc t = clnn__conv_transpose2d_of_bwd_data(d);
  int64_t oh, ow;
  CLNN_TRY(clnn__conv_transpose2d_desc_check(ctx, &t, &oh, &ow));
  clnn_subpixel_plan sp = clnn__subpixel_plan(&t, oh, ow);
  CLNN_TRY(clnn__conv2d_desc_check(ctx, &sp.zc, NULL, NULL));
  clnn_conv_mem none = {NULL, 0};
  return clnn__subpixel_fwd(ctx, &sp, dy, w, none, dx);
}
