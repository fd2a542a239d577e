/*
 * deconv.c - transposed 2-D convolution (conv_transpose2d), forward and
 * backward, run on the convolution family's passes (ops/conv_internal.h,
 * ops/conv_bwd.h) and the sub-pixel rewrite (ops/subpixel.h).
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
 * The rewrite, its regrouping kernels and the choice between the two
 * algorithms are ops/subpixel.c's, shared with the convolution's data
 * gradient; its forward runs there, and its backward is put together
 * below: per chunk of images, dy is regrouped into Q (deconv_s2d), dwq
 * (+)= E'.bwd_weights(Q, x), dx = E'.fwd(Q) with the regrouped weights, and
 * dw is dwq regrouped back (deconv_unpack_dw). Scratch that outlives the
 * inner convolutions (the conv algorithm's zero-extended planes too) is in
 * the outer workspace (clnn__subpixel_scratch).
 *
 * Half precision (float16, bfloat16) is staged as the convolution's passes
 * are (ops/conv_half.c): each input is widened once into a float32 copy,
 * the float32 pass below runs on the copies (either algorithm, either
 * device class, the same accumulation order), and each output is rounded
 * once (an accumulated gradient: old + new, rounded once). The copies sit
 * in the context's stage workspace, not the outer one, because both
 * algorithms keep their own scratch in the outer workspace; so no route is
 * closed to half tensors.
 */
#include "conv_bwd.h"
#include "subpixel.h"

#include <string.h>

/* ============================================================ algorithms */

static const char *const algo_names[CLNN_CONV_TRANSPOSE_ALGO_COUNT_] = {"subpixel", "conv"};

const char *clnn_conv_transpose_algo_name(clnn_conv_transpose_algo algo) {
  if ((int)algo < 0 || algo >= CLNN_CONV_TRANSPOSE_ALGO_COUNT_) return "unknown";
  return algo_names[algo];
}

/* ================================================================== plan */

/* A validated problem, the rewrite of it and the algorithm of each pass. */
typedef struct deconv_plan {
  const clnn_conv_transpose2d_desc *d;
  clnn_conv_transpose_algo fwd_algo, bwd_algo;
  int64_t oh, ow;
  clnn_subpixel_plan sp;  /* the subpixel algorithm */
  int64_t ext_h, ext_w;   /* conv algorithm: E's output minus the input (op / s) */
  clnn_conv2d_desc ec;    /* conv: the equivalent convolution (n, k, oh, ow) -> (n, c, h + ext_h, w + ext_w) */
  clnn_conv2d_desc bc;    /* the bias gradient: a 1x1 convolution whose output is y */
} deconv_plan;

/* The plan of a descriptor validated with output size oh x ow. */
static deconv_plan plan_make(const clnn_context *ctx, const clnn_conv_transpose2d_desc *d, int64_t oh, int64_t ow) {
  deconv_plan pl;
  memset(&pl, 0, sizeof pl);
  pl.d = d;
  pl.oh = oh;
  pl.ow = ow;
  pl.sp = clnn__subpixel_plan(d, oh, ow);
  pl.ext_h = d->output_pad_h / d->stride_h;
  pl.ext_w = d->output_pad_w / d->stride_w;

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

  pl.fwd_algo = clnn__subpixel_chosen(ctx, &pl.sp, false) ? CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL
                                                           : CLNN_CONV_TRANSPOSE_ALGO_CONV;
  pl.bwd_algo = clnn__subpixel_chosen(ctx, &pl.sp, true) ? CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL
                                                          : CLNN_CONV_TRANSPOSE_ALGO_CONV;
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

/* ================================================================ forward */

static clnn_conv_mem at(clnn_conv_mem m, int64_t elems) { return clnn__conv_mem_at(m, elems); }

/* E.bwd_data with the bias and activation fused; when output padding makes
 * E's output larger than x (ext > 0), x is zero-extended chunk by chunk. */
static clnn_status fwd_conv(clnn_context *ctx, const deconv_plan *pl, clnn_conv_mem x, clnn_conv_mem w,
                            clnn_conv_mem b, clnn_conv_mem y) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  const char *op = "conv_transpose2d_fwd:conv";
  if (pl->ext_h == 0 && pl->ext_w == 0)
    return clnn__conv2d_bwd_data_run_no_subpixel(ctx, &pl->ec, x, w, b, d->act, d->act_alpha, y);
  int64_t he = d->h + pl->ext_h, we = d->w + pl->ext_w;
  clnn_subpixel_scratch s;
  CLNN_TRY(clnn__subpixel_scratch(ctx, d->n, d->c * he * we, 0, "zero-extended input", &s));
  clnn_conv2d_desc ec = pl->ec;
  clnn_conv_mem xe = {s.mem, 0};
  for (int64_t img0 = 0; img0 < d->n; img0 += s.chunk) {
    ec.n = clnn__min64(s.chunk, d->n - img0);
    CLNN_TRY(clnn__subpixel_window(ctx, d->c, d->h, d->w, he, we, at(x, img0 * d->c * d->h * d->w), xe, ec.n, op));
    CLNN_TRY(clnn__conv2d_bwd_data_run_no_subpixel(ctx, &ec, xe, w, b, d->act, d->act_alpha,
                                                   at(y, img0 * d->k * pl->oh * pl->ow)));
  }
  return CLNN_SUCCESS;
}

/* The forward of the plan's algorithm on float32 memory. */
static clnn_status fwd_run(clnn_context *ctx, const deconv_plan *pl, clnn_conv_mem x, clnn_conv_mem w,
                           clnn_conv_mem b, clnn_conv_mem y) {
  if (pl->fwd_algo == CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL) return clnn__subpixel_fwd(ctx, &pl->sp, x, w, b, y);
  return fwd_conv(ctx, pl, x, w, b, y);
}

/* =============================================================== backward */

/* What a backward call computes: any of dx, dw, db (mem NULL = skip). */
typedef struct bwd_args {
  clnn_conv_mem x, w, dy, dx, dw, db;
  bool accumulate; /* dw and db */
} bwd_args;

/* Per chunk: dy -> Q (deconv_s2d); dwq (+)= E'.bwd_weights(Q, x); dx = E'.fwd(Q). */
static clnn_status bwd_subpixel_chunks(clnn_context *ctx, const clnn_subpixel_plan *sp,
                                       const clnn_subpixel_scratch *s, const bwd_args *a, int64_t wq_elems,
                                       const char *op) {
  const clnn_conv_transpose2d_desc *d = sp->d;
  clnn_conv_mem wq = {s->mem, 0}, dwq = {s->mem, (size_t)wq_elems}, q = {s->mem, (size_t)(2 * wq_elems)};
  if (a->dx.mem) CLNN_TRY(clnn__subpixel_pack_w(ctx, sp, a->w, wq, 1, op));
  clnn_conv2d_desc qc = sp->qc;
  clnn_conv_mem none = {NULL, 0};
  for (int64_t img0 = 0; img0 < d->n; img0 += s->chunk) {
    qc.n = clnn__min64(s->chunk, d->n - img0);
    clnn_conv_mem x = at(a->x, img0 * d->c * d->h * d->w), dx = at(a->dx, img0 * d->c * d->h * d->w);
    CLNN_TRY(clnn__subpixel_regroup_dy(ctx, sp, at(a->dy, img0 * d->k * sp->oh * sp->ow), q, qc.n, op));
    if (a->dw.mem) CLNN_TRY(clnn__conv2d_bwd_weights_run(ctx, &qc, q, x, dwq, img0 > 0));
    if (a->dx.mem) CLNN_TRY(clnn__conv2d_fwd_run(ctx, &qc, q, wq, none, dx));
  }
  if (a->dw.mem) CLNN_TRY(clnn__subpixel_unpack_dw(ctx, sp, dwq, a->dw, a->accumulate, op));
  return CLNN_SUCCESS;
}

static clnn_status bwd_subpixel(clnn_context *ctx, const clnn_subpixel_plan *sp, const bwd_args *a) {
  const clnn_conv_transpose2d_desc *d = sp->d;
  const char *op = "conv_transpose2d_bwd:subpixel";
  /* Room for both wq and dwq whatever is asked: the same chunks (and so
   * the same bits) in a combined call and in separate ones. */
  int64_t wq_elems = d->c * sp->phases * sp->cgo * sp->ah.taps * sp->aw.taps;
  int64_t per_image = sp->phases * d->k * sp->ah.qlen * sp->aw.qlen;
  clnn_subpixel_scratch s;
  CLNN_TRY(clnn__subpixel_scratch(ctx, d->n, per_image, 2 * wq_elems, "regrouped output gradient", &s));
  return bwd_subpixel_chunks(ctx, sp, &s, a, wq_elems, op);
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
static clnn_status bwd_conv_extended_chunks(clnn_context *ctx, const deconv_plan *pl, const clnn_subpixel_scratch *s,
                                            const bwd_args *a, int64_t he, int64_t we, const char *op) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  clnn_conv2d_desc ec = pl->ec;
  clnn_conv_mem xe = {s->mem, 0}, dxe = {s->mem, (size_t)(s->chunk * d->c * he * we)}, none = {NULL, 0};
  for (int64_t img0 = 0; img0 < d->n; img0 += s->chunk) {
    ec.n = clnn__min64(s->chunk, d->n - img0);
    clnn_conv_mem dy = at(a->dy, img0 * d->k * pl->oh * pl->ow);
    if (a->dw.mem) {
      CLNN_TRY(clnn__subpixel_window(ctx, d->c, d->h, d->w, he, we, at(a->x, img0 * d->c * d->h * d->w), xe, ec.n, op));
      CLNN_TRY(clnn__conv2d_bwd_weights_run(ctx, &ec, dy, xe, a->dw, a->accumulate || img0 > 0));
    }
    if (a->dx.mem) {
      CLNN_TRY(clnn__conv2d_fwd_run(ctx, &ec, dy, a->w, none, dxe));
      CLNN_TRY(clnn__subpixel_window(ctx, d->c, he, we, d->h, d->w, dxe, at(a->dx, img0 * d->c * d->h * d->w), ec.n, op));
    }
  }
  return CLNN_SUCCESS;
}

static clnn_status bwd_conv(clnn_context *ctx, const deconv_plan *pl, const bwd_args *a) {
  const clnn_conv_transpose2d_desc *d = pl->d;
  if (pl->ext_h == 0 && pl->ext_w == 0) return bwd_conv_direct(ctx, pl, a);
  int64_t he = d->h + pl->ext_h, we = d->w + pl->ext_w;
  clnn_subpixel_scratch s;
  CLNN_TRY(clnn__subpixel_scratch(ctx, d->n, 2 * d->c * he * we, 0, "zero-extended input and its gradient", &s));
  return bwd_conv_extended_chunks(ctx, pl, &s, a, he, we, "conv_transpose2d_bwd:conv");
}

static clnn_status bwd_run(clnn_context *ctx, const deconv_plan *pl, const bwd_args *a) {
  if (a->dx.mem || a->dw.mem) {
    if (pl->bwd_algo == CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL)
      CLNN_TRY(bwd_subpixel(ctx, &pl->sp, a));
    else
      CLNN_TRY(bwd_conv(ctx, pl, a));
  }
  if (a->db.mem) CLNN_TRY(clnn__conv2d_bwd_bias_run(ctx, &pl->bc, a->dy, a->db, a->accumulate));
  return CLNN_SUCCESS;
}

/* ============================================================== variants
 * The forward and the backward each choose between the two algorithms
 * above. clnn__subpixel_chosen scores sub-pixel against conv with the
 * waste bounds measured on CPU devices (and CLNN_CONV_TRANSPOSE_ALGO);
 * sub-pixel's regrouping kernels are CPU-shaped, so on GPU-class devices
 * the conv algorithm runs, whose passes are the convolution's GPU variants. */

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
  if (!clnn__subpixel_fits(&p->pl->sp)) return clnn__why(why, n, "the regrouped kernels would not fit this problem");
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

/* ============================================================ half staging */

/* The forward on float16 or bfloat16 tensors: x, w and b widened to float32
 * copies, the float32 forward of the chosen algorithm, y rounded once. */
static clnn_status fwd_half(clnn_context *ctx, const deconv_plan *pl, clnn_dtype dt, const clnn_tensor *x,
                            const clnn_tensor *w, const clnn_tensor *b, clnn_tensor *y) {
  const clnn_tensor *all[4] = {x, w, b, y};
  clnn_conv_stage s;
  clnn_conv_mem x32, w32, b32;
  CLNN_TRY(clnn__conv_stage_begin_apart(ctx, dt, all, 4, "conv_transpose2d_fwd:half_stage", &s));
  CLNN_TRY(clnn__conv_stage_in(ctx, &s, x, &x32));
  CLNN_TRY(clnn__conv_stage_in(ctx, &s, w, &w32));
  CLNN_TRY(clnn__conv_stage_in(ctx, &s, b, &b32));
  clnn_conv_mem y32 = clnn__conv_stage_out(&s, y);
  CLNN_TRY(fwd_run(ctx, pl, x32, w32, b32, y32));
  return clnn__conv_stage_round(ctx, &s, y32, y);
}

/* The backward's tensors, for the staging of a half call (NULL: not used). */
typedef struct bwd_tensors {
  const clnn_tensor *x, *w, *dy;
  clnn_tensor *dx, *dw, *db;
} bwd_tensors;

/* A float32 gradient slot: the old values widened when accumulating (so
 * that old + new is rounded once), else a slot the pass overwrites. */
static clnn_status stage_grad(clnn_context *ctx, clnn_conv_stage *s, const clnn_tensor *g, bool accumulate,
                              clnn_conv_mem *out) {
  if (!g) {
    *out = (clnn_conv_mem){NULL, 0};
    return CLNN_SUCCESS;
  }
  if (accumulate) return clnn__conv_stage_in(ctx, s, g, out);
  *out = clnn__conv_stage_out(s, g);
  return CLNN_SUCCESS;
}

/* Widen the inputs of a half backward call into a (float32 mems) and give
 * its gradients float32 slots. */
static clnn_status bwd_stage_in(clnn_context *ctx, clnn_dtype dt, const bwd_tensors *t, bool accumulate,
                                clnn_conv_stage *s, bwd_args *a) {
  const clnn_tensor *all[6] = {t->x, t->w, t->dy, t->dx, t->dw, t->db};
  CLNN_TRY(clnn__conv_stage_begin_apart(ctx, dt, all, 6, "conv_transpose2d_bwd:half_stage", s));
  a->accumulate = accumulate;
  CLNN_TRY(clnn__conv_stage_in(ctx, s, t->x, &a->x));
  CLNN_TRY(clnn__conv_stage_in(ctx, s, t->w, &a->w));
  CLNN_TRY(clnn__conv_stage_in(ctx, s, t->dy, &a->dy));
  a->dx = t->dx ? clnn__conv_stage_out(s, t->dx) : (clnn_conv_mem){NULL, 0};
  CLNN_TRY(stage_grad(ctx, s, t->dw, accumulate, &a->dw));
  return stage_grad(ctx, s, t->db, accumulate, &a->db);
}

/* Round each float32 gradient of a once into its half tensor. */
static clnn_status bwd_stage_out(clnn_context *ctx, const clnn_conv_stage *s, const bwd_tensors *t,
                                 const bwd_args *a) {
  if (t->dx) CLNN_TRY(clnn__conv_stage_round(ctx, s, a->dx, t->dx));
  if (t->dw) CLNN_TRY(clnn__conv_stage_round(ctx, s, a->dw, t->dw));
  if (t->db) CLNN_TRY(clnn__conv_stage_round(ctx, s, a->db, t->db));
  return CLNN_SUCCESS;
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
  if (pl->fwd_algo == CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL) CLNN_TRY(clnn__conv2d_desc_check(ctx, &pl->sp.zc, NULL, NULL));
  if (pl->bwd_algo == CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL) CLNN_TRY(clnn__conv2d_desc_check(ctx, &pl->sp.qc, NULL, NULL));
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
  clnn_dtype dt; /* x's type; every other tensor must have it */
  CLNN_TRY(clnn__check_float_type(ctx, x, "x", &dt));
  CLNN_TRY(clnn__check_tensor(ctx, x, "x", dt, 4, xd));
  CLNN_TRY(clnn__check_tensor(ctx, w, "w", dt, 4, wd));
  if (b) CLNN_TRY(clnn__check_tensor(ctx, b, "b", dt, 1, &desc->k));
  CLNN_TRY(clnn__check_tensor(ctx, y, "y", dt, 4, yd));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", x, "x"));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", w, "w"));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", b, "b"));
  if (desc->n == 0) return CLNN_SUCCESS; /* no images: y is empty */
  CLNN_TRY(note_algo(ctx, &pl, false));
  if (dt != CLNN_FLOAT32) return fwd_half(ctx, &pl, dt, x, w, b, y);
  return fwd_run(ctx, &pl, clnn__conv_mem(x), clnn__conv_mem(w), clnn__conv_mem(b), clnn__conv_mem(y));
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
  clnn_dtype dt; /* dy's type; every other tensor must have it */
  CLNN_TRY(clnn__check_float_type(ctx, dy, "dy", &dt));
  CLNN_TRY(clnn__check_tensor(ctx, dy, "dy", dt, 4, yd));
  if (dx) {
    CLNN_TRY(clnn__check_tensor(ctx, w, "w", dt, 4, wd));
    CLNN_TRY(clnn__check_tensor(ctx, dx, "dx", dt, 4, xd));
  }
  if (dw) {
    CLNN_TRY(clnn__check_tensor(ctx, x, "x", dt, 4, xd));
    CLNN_TRY(clnn__check_tensor(ctx, dw, "dw", dt, 4, wd));
  }
  if (db) CLNN_TRY(clnn__check_tensor(ctx, db, "db", dt, 1, &desc->k));
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
  if (desc->n == 0) { /* no images: dx is empty; dw and db are sums over nothing */
    if (!accumulate) CLNN_TRY(clnn__zero_tensor(ctx, dw));
    return accumulate ? CLNN_SUCCESS : clnn__zero_tensor(ctx, db);
  }
  bwd_tensors t = {dw ? x : NULL, dx ? w : NULL, dy, dx, dw, db};
  bwd_args a = {clnn__conv_mem(t.x), clnn__conv_mem(t.w), clnn__conv_mem(dy),
                clnn__conv_mem(dx), clnn__conv_mem(dw), clnn__conv_mem(db), accumulate == 1};
  clnn_conv_stage s;
  if (dt != CLNN_FLOAT32) CLNN_TRY(bwd_stage_in(ctx, dt, &t, accumulate == 1, &s, &a));
  /* The inner convolutions size their chunks (and refuse one image over the
   * workspace limit) as they go: a first pass that enqueues nothing finds
   * any such failure before the second writes a gradient (a half call's
   * copies are written by then, its tensors not). */
  if (dx || dw) CLNN_TRY(note_algo(ctx, &pl, true));
  ctx->plan_only = true;
  clnn_status planned = bwd_run(ctx, &pl, &a);
  ctx->plan_only = false;
  CLNN_TRY(planned);
  CLNN_TRY(bwd_run(ctx, &pl, &a));
  return dt != CLNN_FLOAT32 ? bwd_stage_out(ctx, &s, &t, &a) : CLNN_SUCCESS;
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
