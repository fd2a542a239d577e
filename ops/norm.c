/*
 * norm.c - batch normalisation (kernels/norm.cl): descriptor and argument
 * validation, the work split of the two-level reductions, and the launch
 * sequences of the four entry points:
 *
 *   training forward:   stats_partial -> stats_final -> apply
 *   inference forward:  coef (from running stats) -> apply
 *   backward:           coef (from save_mean/invstd or running stats)
 *                       -> bwd_partial -> bwd_final -> bwd_apply (if dx)
 *
 * Partials and per-channel coefficient records live in the context's
 * workspace; the queue is in order, so one op's launches see each other's
 * results and the next op may reuse the space.
 *
 * Those are the CPU-class variants (and the per-channel kernels that do a
 * whole pass per work-item); the GPU-class variants (work-group
 * reductions, float4 passes) and the variant tables are after them.
 *
 * x, y, dy and dx are float32, float16 or bfloat16, all of one type (x's);
 * gamma, beta, the running and saved statistics and dgamma / dbeta are
 * float32 in every type (torch's mixed precision keeps them so). The type
 * is a compile-time choice of every norm program (-DDT, kernels/common.h):
 * kernels load, compute and reduce in float32 and round once on store, so
 * the statistics and the workspace are the same in every type.
 */
#include "../desc/desc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Values per level-one work unit: big planes are cut into chunks of this
 * many, small planes grouped until a unit holds about this many. 16 KiB
 * stays in L1/L2 for the second pass of the statistics. */
#define BN_CHUNK 4096
/* Work-items per work-group of the element-wise kernels (16 floats each):
 * more than 1 (see ops/act.c), and small enough that rounding a plane's
 * HW / 16 + 1 work-items up to it leaves few idle. */
#define BN_LOCAL 16

/* The type of a call's activation tensors, as its programs are built for it. */
typedef struct bn_types {
  clnn_dtype dt; /* of x, y, dy, dx */
  bool pairs;    /* bfloat16 with every plane 4-byte aligned: -DBF16_PAIRS=1 */
} bn_types;

/* ------------------------------------------------------------ arguments */

/* An activation tensor of type dt: (n, c, h, w); (n, c, h) when w == 1; (n, c) when h == w == 1. */
static clnn_status check_nchw(clnn_context *ctx, const clnn_tensor *t, const char *name, clnn_dtype dt,
                              const clnn_batchnorm_desc *d) {
  int64_t dims[4] = {d->n, d->c, d->h, d->w};
  int ndim = 4;
  if (t && t->ndim == 3 && d->w == 1) ndim = 3;
  if (t && t->ndim == 2 && d->h == 1 && d->w == 1) ndim = 2;
  return clnn__check_tensor(ctx, t, name, dt, ndim, dims);
}

/* x's type, which every activation tensor of the call must have: float32,
 * float16 or bfloat16 (an int32 x is refused naming it). */
static clnn_status x_type(clnn_context *ctx, const clnn_tensor *x, clnn_dtype *dt) {
  return clnn__check_float_type(ctx, x, "x", dt);
}

/*
 * The program types of a call. bfloat16 kernels load and store pairs of
 * elements as uints (common.h's BF16_PAIRS; PoCL converts ushort vectors
 * element by element) when every 16-element vector they touch is 4-byte
 * aligned: each plane starts at an even element (even h * w, so the
 * chunks of a plane are too) of a tensor at an even element offset.
 */
static bn_types types_of(const clnn_batchnorm_desc *d, clnn_dtype dt, const clnn_tensor *const *ts, int n) {
  bn_types t = {dt, dt == CLNN_BFLOAT16 && (d->h * d->w) % 2 == 0};
  for (int i = 0; i < n; i++)
    if (ts[i] && clnn__off(ts[i]) % 2) t.pairs = false;
  return t;
}

/* The options every norm program gets: the activation and the types. */
static void program_options(const clnn_batchnorm_desc *d, const bn_types *ty, char *buf, size_t n) {
  char act[64];
  clnn__act_options(act, sizeof act, d->act, d->act_alpha);
  snprintf(buf, n, "-DDT=%d -DBF16_PAIRS=%d%s", (int)ty->dt, ty->pairs ? 1 : 0, act);
}

static clnn_status check_channel(clnn_context *ctx, const clnn_tensor *t, const char *name,
                                 const clnn_batchnorm_desc *d) {
  return clnn__check_tensor(ctx, t, name, CLNN_FLOAT32, 1, &d->c);
}

/* gamma and beta: both present when affine, both absent otherwise. */
static clnn_status check_affine(clnn_context *ctx, const clnn_batchnorm_desc *d, const clnn_tensor *gamma,
                                const clnn_tensor *beta) {
  if (!d->affine) {
    if (gamma || beta)
      return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->affine is 0 but '%s' is given", gamma ? "gamma" : "beta");
    return CLNN_SUCCESS;
  }
  CLNN_TRY(check_channel(ctx, gamma, "gamma", d));
  return check_channel(ctx, beta, "beta", d);
}

/* Two optional tensors that come as a pair. */
static clnn_status check_pair(clnn_context *ctx, const clnn_tensor *a, const char *an, const clnn_tensor *b,
                              const char *bn, const clnn_batchnorm_desc *d) {
  if (!a && !b) return CLNN_SUCCESS;
  if (!a || !b)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "'%s' and '%s' go together: one is NULL", an, bn);
  CLNN_TRY(check_channel(ctx, a, an, d));
  return check_channel(ctx, b, bn, d);
}

/* out must overlap none of the inputs (NULL entries skipped). */
static clnn_status check_out(clnn_context *ctx, const clnn_tensor *out, const char *name,
                             const clnn_tensor *const *ins, const char *const *in_names, int nin) {
  if (!out) return CLNN_SUCCESS;
  for (int i = 0; i < nin; i++) CLNN_TRY(clnn__check_no_overlap(ctx, out, name, ins[i], in_names[i]));
  return CLNN_SUCCESS;
}

/* ----------------------------------------------------------- work split */

typedef struct bn_split {
  int64_t hw, chunk, chunks, ipi, groups, p; /* see bn_unit in norm.cl */
  size_t part_floats;                        /* partials of every channel, 3 floats each */
  size_t coef_off, dcoef_off, ws_floats;
} bn_split;

static bn_split split_of(const clnn_batchnorm_desc *d) {
  bn_split s;
  s.hw = d->h * d->w;
  s.chunk = s.hw < BN_CHUNK ? s.hw : BN_CHUNK;
  s.chunks = (s.hw + s.chunk - 1) / s.chunk;
  s.ipi = s.hw >= BN_CHUNK ? 1 : BN_CHUNK / s.hw;
  if (s.ipi > d->n) s.ipi = d->n;
  s.groups = (d->n + s.ipi - 1) / s.ipi;
  s.p = s.groups * s.chunks;
  s.part_floats = (size_t)(d->c * s.p * 3);
  s.coef_off = s.part_floats;
  s.dcoef_off = s.coef_off + (size_t)(4 * d->c);
  s.ws_floats = s.dcoef_off + (size_t)(4 * d->c);
  return s;
}

static clnn_status get_workspace(clnn_context *ctx, const bn_split *s, cl_mem *ws) {
  size_t bytes = s->ws_floats * sizeof(float);
  if (bytes > ctx->workspace_limit)
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED, "batch norm needs %zu bytes of workspace, over the limit of %zu",
                      bytes, ctx->workspace_limit);
  return clnn__workspace(ctx, bytes, ws);
}

static clnn_status kernel_of(clnn_context *ctx, const clnn_batchnorm_desc *d, const bn_types *ty, const char *name,
                             clnn_kernel_ref *k) {
  char opts[128];
  program_options(d, ty, opts, sizeof opts);
  return clnn__kernel(ctx, "norm", opts, name, k);
}

/* Build (or find) every kernel an entry point launches before enqueueing
 * the first, so a build failure leaves the outputs and running stats alone. */
static clnn_status prepare(clnn_context *ctx, const clnn_batchnorm_desc *d, const bn_types *ty, const char *const *names, int n) {
  clnn_kernel_ref k;
  for (int i = 0; i < n; i++) CLNN_TRY(kernel_of(ctx, d, ty, names[i], &k));
  return CLNN_SUCCESS;
}

/* -------------------------------------------------------------- launches */

static clnn_status launch_stats(clnn_context *ctx, const clnn_batchnorm_desc *d, const bn_types *ty, const bn_split *s,
                                const clnn_tensor *x, cl_mem ws, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(kernel_of(ctx, d, ty, "bnorm_stats_partial", &k));
  size_t global[2] = {(size_t)s->chunks, (size_t)(s->groups * d->c)}, local[2] = {1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_I32(d->n),
                                CLNN_ARG_I32(d->c), CLNN_ARG_I32(s->hw), CLNN_ARG_I32(s->chunk),
                                CLNN_ARG_I32(s->chunks), CLNN_ARG_I32(s->ipi), CLNN_ARG_I32(s->p)),
                      2, global, local, op);
}

static clnn_status launch_stats_final(clnn_context *ctx, const clnn_batchnorm_desc *d, const bn_types *ty, const bn_split *s,
                                      cl_mem ws, const clnn_tensor *gamma, const clnn_tensor *beta,
                                      clnn_tensor *save_mean, clnn_tensor *save_invstd, clnn_tensor *rmean,
                                      clnn_tensor *rvar, float factor, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(kernel_of(ctx, d, ty, "bnorm_stats_final", &k));
  size_t global[1] = {(size_t)d->c}, local[1] = {1};
  return clnn__launch(
      ctx, &k,
      CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_U64(s->coef_off), CLNN_ARG_I32(d->n),
                CLNN_ARG_I32(d->c), CLNN_ARG_I32(s->hw), CLNN_ARG_I32(s->chunk), CLNN_ARG_I32(s->chunks),
                CLNN_ARG_I32(s->ipi), CLNN_ARG_I32(s->p), CLNN_ARG_F32(d->eps), CLNN_ARG_I32(d->affine ? 1 : 0),
                CLNN_ARG_TENSOR(gamma), CLNN_ARG_TENSOR(beta), CLNN_ARG_I32(save_mean ? 1 : 0),
                CLNN_ARG_TENSOR(save_mean), CLNN_ARG_TENSOR(save_invstd), CLNN_ARG_I32(rmean ? 1 : 0),
                CLNN_ARG_TENSOR(rmean), CLNN_ARG_TENSOR(rvar), CLNN_ARG_F32(factor)),
      1, global, local, op);
}

/* Coefficient record from (mean, invstd) or (mean, variance). */
static clnn_status launch_coef(clnn_context *ctx, const clnn_batchnorm_desc *d, const bn_types *ty, const bn_split *s,
                               const clnn_tensor *mean, const clnn_tensor *stat, bool is_var,
                               const clnn_tensor *gamma, const clnn_tensor *beta, cl_mem ws, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(kernel_of(ctx, d, ty, "bnorm_coef", &k));
  size_t global[1] = {(size_t)d->c}, local[1] = {1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_TENSOR(mean), CLNN_ARG_TENSOR(stat), CLNN_ARG_I32(is_var ? 1 : 0),
                                CLNN_ARG_F32(d->eps), CLNN_ARG_I32(d->c), CLNN_ARG_I32(d->affine ? 1 : 0),
                                CLNN_ARG_TENSOR(gamma), CLNN_ARG_TENSOR(beta), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                                CLNN_ARG_U64(s->coef_off)),
                      1, global, local, op);
}

/* Planes smaller than this take the flat element-wise kernels. */
#define BN_SMALL_PLANE 16

static const char *apply_kernel(const bn_split *s) {
  return s->hw < BN_SMALL_PLANE ? "bnorm_apply_flat" : "bnorm_apply";
}
static const char *bwd_apply_kernel(const bn_split *s) {
  return s->hw < BN_SMALL_PLANE ? "bnorm_bwd_apply_flat" : "bnorm_bwd_apply";
}

static clnn_status launch_apply(clnn_context *ctx, const clnn_batchnorm_desc *d, const bn_types *ty, const bn_split *s,
                                const clnn_tensor *x, clnn_tensor *y, cl_mem ws, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(kernel_of(ctx, d, ty, apply_kernel(s), &k));
  if (s->hw < BN_SMALL_PLANE) {
    const int64_t numel = d->n * d->c * s->hw;
    size_t global[1] = {(size_t)(numel / 16 + 1)}, local[1] = {BN_LOCAL};
    return clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(y), CLNN_ARG_MEM(ws), CLNN_ARG_U64(s->coef_off),
                                  CLNN_ARG_I32(d->c), CLNN_ARG_I32(s->hw), CLNN_ARG_I32(numel)),
                        1, global, local, op);
  }
  size_t global[2] = {(size_t)(s->hw / 16 + 1), (size_t)(d->n * d->c)}, local[2] = {BN_LOCAL, 1};
  if (s->hw < 16 * BN_LOCAL) local[0] = 1; /* small planes: no idle work-items */
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(y), CLNN_ARG_MEM(ws), CLNN_ARG_U64(s->coef_off),
                                CLNN_ARG_I32(d->c), CLNN_ARG_I32(s->hw)),
                      2, global, local, op);
}

/* The backward after the coefficient record is in place. */
static clnn_status launch_bwd(clnn_context *ctx, const clnn_batchnorm_desc *d, const bn_types *ty, const bn_split *s, cl_mem ws,
                              const clnn_tensor *x, const clnn_tensor *dy, const clnn_tensor *gamma, bool frozen,
                              clnn_tensor *dx, clnn_tensor *dgamma, clnn_tensor *dbeta, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(kernel_of(ctx, d, ty, "bnorm_bwd_partial", &k));
  size_t gp[2] = {(size_t)s->chunks, (size_t)(s->groups * d->c)}, lp[2] = {1, 1};
  CLNN_TRY(clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(dy), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                                  CLNN_ARG_U64(s->coef_off), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c),
                                  CLNN_ARG_I32(s->hw), CLNN_ARG_I32(s->chunk), CLNN_ARG_I32(s->chunks),
                                  CLNN_ARG_I32(s->ipi), CLNN_ARG_I32(s->p)),
                        2, gp, lp, op));
  CLNN_TRY(kernel_of(ctx, d, ty, "bnorm_bwd_final", &k));
  size_t gf[1] = {(size_t)d->c}, lf[1] = {1};
  CLNN_TRY(clnn__launch(
      ctx, &k,
      CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_U64(s->coef_off), CLNN_ARG_U64(s->dcoef_off),
                CLNN_ARG_I32(d->c), CLNN_ARG_I32(s->p), CLNN_ARG_F32((float)(d->n * s->hw)),
                CLNN_ARG_I32(frozen ? 1 : 0), CLNN_ARG_I32(d->affine ? 1 : 0), CLNN_ARG_TENSOR(gamma),
                CLNN_ARG_I32(dgamma ? 1 : 0), CLNN_ARG_TENSOR(dgamma), CLNN_ARG_I32(dbeta ? 1 : 0),
                CLNN_ARG_TENSOR(dbeta)),
      1, gf, lf, op));
  if (!dx) return CLNN_SUCCESS;
  CLNN_TRY(kernel_of(ctx, d, ty, bwd_apply_kernel(s), &k));
  if (s->hw < BN_SMALL_PLANE) {
    const int64_t numel = d->n * d->c * s->hw;
    size_t gf1[1] = {(size_t)(numel / 16 + 1)}, lf1[1] = {BN_LOCAL};
    return clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(dy), CLNN_ARG_TENSOR(dx), CLNN_ARG_MEM(ws),
                                  CLNN_ARG_U64(s->coef_off), CLNN_ARG_U64(s->dcoef_off), CLNN_ARG_I32(d->c),
                                  CLNN_ARG_I32(s->hw), CLNN_ARG_I32(numel)),
                        1, gf1, lf1, op);
  }
  size_t ga[2] = {(size_t)(s->hw / 16 + 1), (size_t)(d->n * d->c)}, la[2] = {BN_LOCAL, 1};
  if (s->hw < 16 * BN_LOCAL) la[0] = 1;
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(dy), CLNN_ARG_TENSOR(dx), CLNN_ARG_MEM(ws),
                                CLNN_ARG_U64(s->coef_off), CLNN_ARG_U64(s->dcoef_off), CLNN_ARG_I32(d->c),
                                CLNN_ARG_I32(s->hw)),
                      2, ga, la, op);
}

/* ------------------------------------------------------ per-channel path */

/* A channel's values above which the one-work-item-per-channel kernels
 * would not find their second pass in the cache (256K floats: 1 MiB of x,
 * plus as much dy in the backward), and channel counts below which they
 * would leave cores idle. Planes under 16 values take the flat kernels. */
#define BN_CHANNEL_MAX_VALUES ((int64_t)1 << 18)
#define BN_CHANNEL_MIN_C 8

static bool use_channel_kernels(const clnn_batchnorm_desc *d, const bn_split *s) {
  return s->hw >= BN_SMALL_PLANE && d->c >= BN_CHANNEL_MIN_C && d->n * s->hw <= BN_CHANNEL_MAX_VALUES;
}

/* Planes up to this many values compile their size into the per-channel
 * kernels (-DBN_HW): their few vectors per plane then unroll. */
#define BN_CHANNEL_CONST_HW 256

static clnn_status channel_kernel(clnn_context *ctx, const clnn_batchnorm_desc *d, const bn_types *ty, const bn_split *s,
                                  const char *name, clnn_kernel_ref *k) {
  char opts[160];
  program_options(d, ty, opts, sizeof opts);
  if (s->hw <= BN_CHANNEL_CONST_HW) {
    size_t len = strlen(opts);
    snprintf(opts + len, sizeof opts - len, " -DBN_HW=%lld", (long long)s->hw);
  }
  return clnn__kernel(ctx, "norm", opts, name, k);
}

static clnn_status launch_fwd_channel(clnn_context *ctx, const clnn_batchnorm_desc *d, const bn_types *ty, const bn_split *s,
                                      const clnn_tensor *x, const clnn_tensor *gamma, const clnn_tensor *beta,
                                      clnn_tensor *y, clnn_tensor *save_mean, clnn_tensor *save_invstd,
                                      clnn_tensor *rmean, clnn_tensor *rvar, float factor, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(channel_kernel(ctx, d, ty, s, "bnorm_fwd_channel", &k));
  size_t global[1] = {(size_t)d->c}, local[1] = {1};
  return clnn__launch(
      ctx, &k,
      CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(y), CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->c), CLNN_ARG_I32(s->hw),
                CLNN_ARG_I32(s->chunk), CLNN_ARG_I32(s->chunks), CLNN_ARG_I32(s->ipi), CLNN_ARG_I32(s->p),
                CLNN_ARG_F32(d->eps), CLNN_ARG_I32(d->affine ? 1 : 0), CLNN_ARG_TENSOR(gamma), CLNN_ARG_TENSOR(beta),
                CLNN_ARG_I32(save_mean ? 1 : 0), CLNN_ARG_TENSOR(save_mean), CLNN_ARG_TENSOR(save_invstd),
                CLNN_ARG_I32(rmean ? 1 : 0), CLNN_ARG_TENSOR(rmean), CLNN_ARG_TENSOR(rvar), CLNN_ARG_F32(factor),
                CLNN_ARG_I32(clnn__stream_output(ctx, clnn_tensor_bytes(y)))),
      1, global, local, op);
}

/*
 * Whether the per-channel backward keeps dz (dy through the activation)
 * between its passes, and where: float32 keeps it in dx unless dx streams
 * to memory; a half type keeps it in a float32 scratch of numel floats in
 * the workspace (dx would round it), when the workspace allows (else dz is
 * recomputed: slower, same result).
 */
static bool bwd_keep_dz(clnn_context *ctx, const clnn_batchnorm_desc *d, const bn_types *ty, const clnn_tensor *dx,
                        bool stream, cl_mem *scratch) {
  *scratch = NULL;
  if (!dx || d->act == CLNN_ACT_IDENTITY) return false;
  if (ty->dt == CLNN_FLOAT32) return !stream;
  const size_t bytes = (size_t)dx->numel * sizeof(float);
  return bytes <= ctx->workspace_limit && clnn__workspace(ctx, bytes, scratch) == CLNN_SUCCESS;
}

/* The whole backward per channel, from (mean, invstd) or (mean, variance). */
static clnn_status launch_bwd_channel(clnn_context *ctx, const clnn_batchnorm_desc *d, const bn_types *ty, const bn_split *s,
                                      const clnn_tensor *x, const clnn_tensor *dy, const clnn_tensor *mean,
                                      const clnn_tensor *stat, bool frozen, const clnn_tensor *gamma,
                                      const clnn_tensor *beta, clnn_tensor *dx, clnn_tensor *dgamma,
                                      clnn_tensor *dbeta, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(channel_kernel(ctx, d, ty, s, "bnorm_bwd_channel", &k));
  /* streaming stores are float32's (the kernels store half outputs plainly) */
  const bool stream = dx && ty->dt == CLNN_FLOAT32 && clnn__stream_output(ctx, clnn_tensor_bytes(dx));
  cl_mem scratch;
  const bool keep = bwd_keep_dz(ctx, d, ty, dx, stream, &scratch);
  size_t global[1] = {(size_t)d->c}, local[1] = {1};
  return clnn__launch(
      ctx, &k,
      CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(dy), CLNN_ARG_TENSOR(dx), CLNN_ARG_TENSOR(mean),
                CLNN_ARG_TENSOR(stat), CLNN_ARG_I32(frozen ? 1 : 0), CLNN_ARG_F32(d->eps), CLNN_ARG_I32(d->n),
                CLNN_ARG_I32(d->c), CLNN_ARG_I32(s->hw), CLNN_ARG_I32(s->chunk), CLNN_ARG_I32(s->chunks),
                CLNN_ARG_I32(s->ipi), CLNN_ARG_I32(s->p), CLNN_ARG_F32((float)(d->n * s->hw)),
                CLNN_ARG_I32(frozen ? 1 : 0), CLNN_ARG_I32(d->affine ? 1 : 0), CLNN_ARG_TENSOR(gamma),
                CLNN_ARG_TENSOR(beta), CLNN_ARG_I32(dgamma ? 1 : 0), CLNN_ARG_TENSOR(dgamma),
                CLNN_ARG_I32(dbeta ? 1 : 0), CLNN_ARG_TENSOR(dbeta), CLNN_ARG_I32(dx ? 1 : 0),
                CLNN_ARG_I32(stream ? 1 : 0), CLNN_ARG_I32(keep ? 1 : 0), CLNN_ARG_MEM(scratch), CLNN_ARG_U64(0)),
      1, global, local, op);
}

/* ------------------------------------------------------------- variants
 * Three tables, each best first per device class:
 *  - bnorm.fwd_train (training forward), bnorm.fwd_infer (inference
 *    forward), bnorm.bwd (backward with batch or frozen statistics);
 *  - CPU: the per-channel kernels (one work-item per channel, from the
 *    cache), else the units (stats_partial / bwd_partial, one work-item
 *    per unit) with the per-plane apply, or the flat apply for planes under
 *    16 values;
 *  - GPU: the two-level work-group reductions and float4 grid-stride
 *    passes at the end of kernels/norm.cl.
 * Every variant answers for a clnn_batchnorm_desc and runs a bn_call.
 */

/* One call's arguments, whichever the pass (unused members NULL). */
typedef struct bn_call {
  const clnn_batchnorm_desc *d;
  bn_types ty; /* of the activation tensors */
  const clnn_tensor *x, *dy, *gamma, *beta;
  /* inference: the running statistics; backward: save_mean / save_invstd,
   * or the running statistics when frozen */
  const clnn_tensor *mean, *stat;
  bool frozen;
  clnn_tensor *y, *save_mean, *save_invstd, *rmean, *rvar; /* training forward */
  float factor;                                             /* its running-stat factor */
  clnn_tensor *dx, *dgamma, *dbeta;
  const char *op;
} bn_call;

typedef struct bn_variant {
  clnn_variant v;
  clnn_status (*run)(clnn_context *ctx, const bn_call *call);
} bn_variant;

static bool channel_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const clnn_batchnorm_desc *d = problem;
  const bn_split s = split_of(d);
  return use_channel_kernels(d, &s) ||
         clnn__why(why, n, "needs planes of %d+ values, %d+ channels and at most %lld values per channel",
                   BN_SMALL_PLANE, BN_CHANNEL_MIN_C, (long long)BN_CHANNEL_MAX_VALUES);
}

static bool planes_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const clnn_batchnorm_desc *d = problem;
  return d->h * d->w >= BN_SMALL_PLANE || clnn__why(why, n, "planes under %d values take the flat apply", BN_SMALL_PLANE);
}

static bool flat_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const clnn_batchnorm_desc *d = problem;
  return d->h * d->w < BN_SMALL_PLANE || clnn__why(why, n, "planes of %d+ values take the per-plane apply", BN_SMALL_PLANE);
}

/* ------------------------------------------------------------ CPU runs */

static clnn_status train_channel(clnn_context *ctx, const bn_call *k) {
  const bn_split s = split_of(k->d);
  return launch_fwd_channel(ctx, k->d, &k->ty, &s, k->x, k->gamma, k->beta, k->y, k->save_mean, k->save_invstd, k->rmean,
                            k->rvar, k->factor, k->op);
}

static clnn_status train_units(clnn_context *ctx, const bn_call *k) {
  const clnn_batchnorm_desc *d = k->d;
  const bn_split s = split_of(d);
  cl_mem ws;
  CLNN_TRY(get_workspace(ctx, &s, &ws));
  const char *const kernels[] = {"bnorm_stats_partial", "bnorm_stats_final", apply_kernel(&s)};
  CLNN_TRY(prepare(ctx, d, &k->ty, kernels, 3));
  CLNN_TRY(launch_stats(ctx, d, &k->ty, &s, k->x, ws, k->op));
  CLNN_TRY(launch_stats_final(ctx, d, &k->ty, &s, ws, k->gamma, k->beta, k->save_mean, k->save_invstd, k->rmean, k->rvar,
                              k->factor, k->op));
  return launch_apply(ctx, d, &k->ty, &s, k->x, k->y, ws, k->op);
}

static clnn_status infer_coef_apply(clnn_context *ctx, const bn_call *k) {
  const clnn_batchnorm_desc *d = k->d;
  bn_split s = split_of(d);
  s.p = 0; /* no partials: only the coefficient records */
  s.coef_off = 0;
  s.dcoef_off = s.ws_floats = (size_t)(4 * d->c);
  cl_mem ws;
  CLNN_TRY(get_workspace(ctx, &s, &ws));
  const char *const kernels[] = {"bnorm_coef", apply_kernel(&s)};
  CLNN_TRY(prepare(ctx, d, &k->ty, kernels, 2));
  CLNN_TRY(launch_coef(ctx, d, &k->ty, &s, k->mean, k->stat, true, k->gamma, k->beta, ws, k->op));
  return launch_apply(ctx, d, &k->ty, &s, k->x, k->y, ws, k->op);
}

static clnn_status bwd_channel(clnn_context *ctx, const bn_call *k) {
  const bn_split s = split_of(k->d);
  return launch_bwd_channel(ctx, k->d, &k->ty, &s, k->x, k->dy, k->mean, k->stat, k->frozen, k->gamma, k->beta, k->dx,
                            k->dgamma, k->dbeta, k->op);
}

static clnn_status bwd_units(clnn_context *ctx, const bn_call *k) {
  const clnn_batchnorm_desc *d = k->d;
  const bn_split s = split_of(d);
  cl_mem ws;
  CLNN_TRY(get_workspace(ctx, &s, &ws));
  const char *const kernels[] = {"bnorm_coef", "bnorm_bwd_partial", "bnorm_bwd_final", bwd_apply_kernel(&s)};
  CLNN_TRY(prepare(ctx, d, &k->ty, kernels, 4));
  CLNN_TRY(launch_coef(ctx, d, &k->ty, &s, k->mean, k->stat, k->frozen, k->gamma, k->beta, ws, k->op));
  return launch_bwd(ctx, d, &k->ty, &s, ws, k->x, k->dy, k->gamma, k->frozen, k->dx, k->dgamma, k->dbeta, k->op);
}

/* ------------------------------------------------------------ GPU runs */

/* The GPU reductions' work-group: CLNN_GPU_WG, halved while over the
 * device's limit (the trees need a power of two). */
static int gpu_wg(const clnn_context *ctx) {
  size_t wg = CLNN_GPU_WG, max = ctx->caps.max_work_group_size ? ctx->caps.max_work_group_size : CLNN_GPU_WG;
  while (wg > max && wg > 1) wg >>= 1;
  return (int)wg;
}

static bool gpu_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)problem;
  const uint64_t need = (uint64_t)gpu_wg(ctx) * 4 * sizeof(float); /* the trees' float4 per work-item */
  return !ctx->caps.local_mem_size || need <= ctx->caps.local_mem_size ||
         clnn__why(why, n, "needs %llu bytes of local memory, the device has %llu", (unsigned long long)need,
                   (unsigned long long)ctx->caps.local_mem_size);
}

/* The GPU passes' work split and workspace: per channel G slice partials
 * (3 floats each), then the forward and dx records (4 floats per channel). */
typedef struct bn_gpu_split {
  int wg;
  int64_t m, groups;
  size_t coef_off, dcoef_off, ws_floats;
} bn_gpu_split;

static bn_gpu_split gpu_split_of(const clnn_context *ctx, const clnn_batchnorm_desc *d) {
  bn_gpu_split s;
  s.wg = gpu_wg(ctx);
  s.m = d->n * d->h * d->w;
  const int64_t slice = (int64_t)s.wg * CLNN_BN_GPU_ITEMS;
  s.groups = (s.m + slice - 1) / slice;
  s.coef_off = (size_t)(d->c * s.groups * 3);
  s.dcoef_off = s.coef_off + (size_t)(4 * d->c);
  s.ws_floats = s.dcoef_off + (size_t)(4 * d->c);
  return s;
}

static clnn_status gpu_workspace(clnn_context *ctx, const bn_gpu_split *s, cl_mem *ws) {
  size_t bytes = s->ws_floats * sizeof(float);
  if (bytes > ctx->workspace_limit)
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED, "batch norm needs %zu bytes of workspace, over the limit of %zu",
                      bytes, ctx->workspace_limit);
  return clnn__workspace(ctx, bytes, ws);
}

static clnn_status gpu_kernel(clnn_context *ctx, const clnn_batchnorm_desc *d, const bn_types *ty, int wg, const char *name,
                              clnn_kernel_ref *k) {
  char opts[160];
  program_options(d, ty, opts, sizeof opts);
  size_t len = strlen(opts);
  snprintf(opts + len, sizeof opts - len, " -DBN_WG=%d", wg);
  return clnn__kernel(ctx, "norm", opts, name, k);
}

/* Build every kernel of a GPU run before the first launch (see prepare). */
static clnn_status gpu_prepare(clnn_context *ctx, const clnn_batchnorm_desc *d, const bn_types *ty, int wg, const char *const *names,
                               int n) {
  clnn_kernel_ref k;
  for (int i = 0; i < n; i++) CLNN_TRY(gpu_kernel(ctx, d, ty, wg, names[i], &k));
  return CLNN_SUCCESS;
}

/* The launch shapes: level one a work-group per (slice, channel), level
 * two a work-group per channel, the element-wise pass a grid-stride grid. */
static void gpu_slices_grid(const bn_gpu_split *s, const clnn_batchnorm_desc *d, size_t *global, size_t *local) {
  global[0] = (size_t)s->groups * (size_t)s->wg;
  global[1] = (size_t)d->c;
  local[0] = (size_t)s->wg;
  local[1] = 1;
}

static clnn_status gpu_launch_elementwise(clnn_context *ctx, const clnn_batchnorm_desc *d, const clnn_kernel_ref *k,
                                          const clnn_arg *args, int nargs, const char *op) {
  size_t global, local;
  clnn__gpu_stride_grid(ctx, (size_t)(d->n * d->c * d->h * d->w / 4 + 1), &global, &local);
  return clnn__launch(ctx, k, args, nargs, 1, &global, &local, op);
}

static clnn_status train_gpu(clnn_context *ctx, const bn_call *k) {
  const clnn_batchnorm_desc *d = k->d;
  const bn_gpu_split s = gpu_split_of(ctx, d);
  cl_mem ws;
  CLNN_TRY(gpu_workspace(ctx, &s, &ws));
  const char *const kernels[] = {"bnorm_stats_gpu", "bnorm_stats_gpu_final", "bnorm_apply_gpu"};
  CLNN_TRY(gpu_prepare(ctx, d, &k->ty, s.wg, kernels, 3));
  const int hw = (int)(d->h * d->w);
  clnn_kernel_ref kr;
  size_t global[2], local[2];
  CLNN_TRY(gpu_kernel(ctx, d, &k->ty, s.wg, "bnorm_stats_gpu", &kr));
  gpu_slices_grid(&s, d, global, local);
  CLNN_TRY(clnn__launch(ctx, &kr,
                        CLNN_ARGS(CLNN_ARG_TENSOR(k->x), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_I32(d->c),
                                  CLNN_ARG_I32(hw), CLNN_ARG_I32(s.m), CLNN_ARG_I32(s.groups)),
                        2, global, local, k->op));
  CLNN_TRY(gpu_kernel(ctx, d, &k->ty, s.wg, "bnorm_stats_gpu_final", &kr));
  global[0] = (size_t)d->c * (size_t)s.wg;
  CLNN_TRY(clnn__launch(
      ctx, &kr,
      CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_U64(s.coef_off), CLNN_ARG_I32(d->c), CLNN_ARG_I32(s.m),
                CLNN_ARG_I32(s.groups), CLNN_ARG_F32(d->eps), CLNN_ARG_I32(d->affine ? 1 : 0),
                CLNN_ARG_TENSOR(k->gamma), CLNN_ARG_TENSOR(k->beta), CLNN_ARG_I32(k->save_mean ? 1 : 0),
                CLNN_ARG_TENSOR(k->save_mean), CLNN_ARG_TENSOR(k->save_invstd), CLNN_ARG_I32(k->rmean ? 1 : 0),
                CLNN_ARG_TENSOR(k->rmean), CLNN_ARG_TENSOR(k->rvar), CLNN_ARG_F32(k->factor)),
      1, global, local, k->op));
  CLNN_TRY(gpu_kernel(ctx, d, &k->ty, s.wg, "bnorm_apply_gpu", &kr));
  return gpu_launch_elementwise(ctx, d, &kr,
                                CLNN_ARGS(CLNN_ARG_TENSOR(k->x), CLNN_ARG_TENSOR(k->y), CLNN_ARG_MEM(ws),
                                          CLNN_ARG_U64(s.coef_off), CLNN_ARG_I32(d->c), CLNN_ARG_I32(hw),
                                          CLNN_ARG_I32(d->n * d->c * hw)),
                                k->op);
}

static clnn_status infer_gpu(clnn_context *ctx, const bn_call *k) {
  const clnn_batchnorm_desc *d = k->d;
  clnn_kernel_ref kr;
  CLNN_TRY(gpu_kernel(ctx, d, &k->ty, gpu_wg(ctx), "bnorm_infer_gpu", &kr));
  const int hw = (int)(d->h * d->w);
  return gpu_launch_elementwise(
      ctx, d, &kr,
      CLNN_ARGS(CLNN_ARG_TENSOR(k->x), CLNN_ARG_TENSOR(k->y), CLNN_ARG_TENSOR(k->mean), CLNN_ARG_TENSOR(k->stat),
                CLNN_ARG_F32(d->eps), CLNN_ARG_I32(d->affine ? 1 : 0), CLNN_ARG_TENSOR(k->gamma),
                CLNN_ARG_TENSOR(k->beta), CLNN_ARG_I32(d->c), CLNN_ARG_I32(hw), CLNN_ARG_I32(d->n * d->c * hw)),
      k->op);
}

static clnn_status bwd_gpu(clnn_context *ctx, const bn_call *k) {
  const clnn_batchnorm_desc *d = k->d;
  const bn_gpu_split s = gpu_split_of(ctx, d);
  cl_mem ws;
  CLNN_TRY(gpu_workspace(ctx, &s, &ws));
  const char *const kernels[] = {"bnorm_bwd_gpu_partial", "bnorm_bwd_gpu_final", "bnorm_bwd_apply_gpu"};
  CLNN_TRY(gpu_prepare(ctx, d, &k->ty, s.wg, kernels, k->dx ? 3 : 2));
  const int hw = (int)(d->h * d->w), is_var = k->frozen ? 1 : 0;
  clnn_kernel_ref kr;
  size_t global[2], local[2];
  CLNN_TRY(gpu_kernel(ctx, d, &k->ty, s.wg, "bnorm_bwd_gpu_partial", &kr));
  gpu_slices_grid(&s, d, global, local);
  CLNN_TRY(clnn__launch(ctx, &kr,
                        CLNN_ARGS(CLNN_ARG_TENSOR(k->x), CLNN_ARG_TENSOR(k->dy), CLNN_ARG_MEM(ws), CLNN_ARG_U64(0),
                                  CLNN_ARG_TENSOR(k->mean), CLNN_ARG_TENSOR(k->stat), CLNN_ARG_I32(is_var),
                                  CLNN_ARG_F32(d->eps), CLNN_ARG_I32(d->affine ? 1 : 0), CLNN_ARG_TENSOR(k->gamma),
                                  CLNN_ARG_TENSOR(k->beta), CLNN_ARG_I32(d->c), CLNN_ARG_I32(hw), CLNN_ARG_I32(s.m),
                                  CLNN_ARG_I32(s.groups)),
                        2, global, local, k->op));
  CLNN_TRY(gpu_kernel(ctx, d, &k->ty, s.wg, "bnorm_bwd_gpu_final", &kr));
  global[0] = (size_t)d->c * (size_t)s.wg;
  CLNN_TRY(clnn__launch(
      ctx, &kr,
      CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_U64(s.coef_off), CLNN_ARG_U64(s.dcoef_off),
                CLNN_ARG_TENSOR(k->mean), CLNN_ARG_TENSOR(k->stat), CLNN_ARG_I32(is_var), CLNN_ARG_F32(d->eps),
                CLNN_ARG_I32(d->affine ? 1 : 0), CLNN_ARG_TENSOR(k->gamma), CLNN_ARG_TENSOR(k->beta),
                CLNN_ARG_I32(d->c), CLNN_ARG_I32(s.groups), CLNN_ARG_F32((float)s.m), CLNN_ARG_I32(k->frozen ? 1 : 0),
                CLNN_ARG_I32(k->dgamma ? 1 : 0), CLNN_ARG_TENSOR(k->dgamma), CLNN_ARG_I32(k->dbeta ? 1 : 0),
                CLNN_ARG_TENSOR(k->dbeta)),
      1, global, local, k->op));
  if (!k->dx) return CLNN_SUCCESS;
  CLNN_TRY(gpu_kernel(ctx, d, &k->ty, s.wg, "bnorm_bwd_apply_gpu", &kr));
  return gpu_launch_elementwise(ctx, d, &kr,
                                CLNN_ARGS(CLNN_ARG_TENSOR(k->x), CLNN_ARG_TENSOR(k->dy), CLNN_ARG_TENSOR(k->dx),
                                          CLNN_ARG_MEM(ws), CLNN_ARG_U64(s.coef_off), CLNN_ARG_U64(s.dcoef_off),
                                          CLNN_ARG_I32(d->c), CLNN_ARG_I32(hw), CLNN_ARG_I32(d->n * d->c * hw)),
                                k->op);
}

/* ---------------------------------------------------------------- tables */

#define BN_CPU CLNN_DEVICE_CLASS_CPU
#define BN_GPU CLNN_DEVICE_CLASS_GPU

static const bn_variant fwd_train_table[] = {
    {{"bnorm.fwd_train.gpu_slices", BN_GPU, gpu_applies}, train_gpu},
    {{"bnorm.fwd_train.channel", BN_CPU, channel_applies}, train_channel},
    {{"bnorm.fwd_train.units", BN_CPU, planes_applies}, train_units},
    {{"bnorm.fwd_train.units_flat", BN_CPU, flat_applies}, train_units},
};
static const bn_variant fwd_infer_table[] = {
    {{"bnorm.fwd_infer.gpu_vec4", BN_GPU, NULL}, infer_gpu},
    {{"bnorm.fwd_infer.planes", BN_CPU, planes_applies}, infer_coef_apply},
    {{"bnorm.fwd_infer.flat", BN_CPU, flat_applies}, infer_coef_apply},
};
static const bn_variant bwd_table[] = {
    {{"bnorm.bwd.gpu_slices", BN_GPU, gpu_applies}, bwd_gpu},
    {{"bnorm.bwd.channel", BN_CPU, channel_applies}, bwd_channel},
    {{"bnorm.bwd.units", BN_CPU, planes_applies}, bwd_units},
    {{"bnorm.bwd.units_flat", BN_CPU, flat_applies}, bwd_units},
};

#define BN_TABLE(sym, pass, table) \
  const clnn_variant_table sym = {"bnorm", pass, &table[0].v, sizeof table / sizeof table[0], sizeof table[0]}
BN_TABLE(clnn__bnorm_fwd_train_variants, "fwd_train", fwd_train_table);
BN_TABLE(clnn__bnorm_fwd_infer_variants, "fwd_infer", fwd_infer_table);
BN_TABLE(clnn__bnorm_bwd_variants, "bwd", bwd_table);

/* Plan the pass of table t for the call and run the chosen variant. */
static clnn_status plan_and_run(clnn_context *ctx, const clnn_variant_table *t, const bn_call *call) {
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, t, call->d, &i));
  return ((const bn_variant *)CLNN_VARIANT_AT(t, i))->run(ctx, call);
}

/* ---------------------------------------------------------------- public */

/* A batch with no value per channel (n, h or w 0): the statistics are a
 * mean over nothing, NaN, as torch.mean of an empty tensor. */
static clnn_status fill_empty_batch_stats(clnn_context *ctx, clnn_tensor *save_mean, clnn_tensor *save_invstd) {
  if (!save_mean) return CLNN_SUCCESS;
  CLNN_TRY(clnn__fill_f32(ctx, save_mean->buf->mem, save_mean->offset / 4, save_mean->numel, NAN));
  return clnn__fill_f32(ctx, save_invstd->buf->mem, save_invstd->offset / 4, save_invstd->numel, NAN);
}

/* The parameter gradients of an empty batch: sums over nothing. */
static clnn_status zero_param_grads(clnn_context *ctx, clnn_tensor *dgamma, clnn_tensor *dbeta) {
  CLNN_TRY(clnn__zero_tensor(ctx, dgamma));
  return clnn__zero_tensor(ctx, dbeta);
}

/* Every check of the training forward's arguments (nothing is enqueued yet). */
static clnn_status check_training(clnn_context *ctx, const clnn_batchnorm_desc *d, const clnn_tensor *x,
                                  const clnn_tensor *gamma, const clnn_tensor *beta, const clnn_tensor *y,
                                  const clnn_tensor *save_mean, const clnn_tensor *save_invstd,
                                  const clnn_tensor *running_mean, const clnn_tensor *running_var,
                                  const int64_t *num_batches_tracked) {
  if (d->n * d->h * d->w == 1) /* 0 values is an empty batch, 1 has no variance */
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE,
                      "training needs more than one value per channel (n * h * w = %lld)",
                      (long long)(d->n * d->h * d->w));
  clnn_dtype dt;
  CLNN_TRY(x_type(ctx, x, &dt));
  CLNN_TRY(check_nchw(ctx, x, "x", dt, d));
  CLNN_TRY(check_affine(ctx, d, gamma, beta));
  CLNN_TRY(check_nchw(ctx, y, "y", dt, d));
  CLNN_TRY(check_pair(ctx, save_mean, "save_mean", save_invstd, "save_invstd", d));
  CLNN_TRY(check_pair(ctx, running_mean, "running_mean", running_var, "running_var", d));
  if (d->cumulative && running_mean && !num_batches_tracked)
    return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'num_batches_tracked' is NULL (desc->cumulative)");
  if (num_batches_tracked && (*num_batches_tracked < 0 || *num_batches_tracked == INT64_MAX))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "*num_batches_tracked = %lld is out of range",
                      (long long)*num_batches_tracked);
  /* outputs overlap no input and no other output; the running stats (read
   * and written) overlap none of x, gamma, beta */
  const clnn_tensor *ins[5] = {x, gamma, beta, running_mean, running_var};
  const char *names[5] = {"x", "gamma", "beta", "running_mean", "running_var"};
  const clnn_tensor *outs[3] = {y, save_mean, save_invstd};
  const char *out_names[3] = {"y", "save_mean", "save_invstd"};
  for (int i = 0; i < 3; i++) CLNN_TRY(check_out(ctx, outs[i], out_names[i], ins, names, 5));
  for (int i = 0; i < 3; i++)
    for (int j = i + 1; j < 3; j++) CLNN_TRY(clnn__check_no_overlap(ctx, outs[i], out_names[i], outs[j], out_names[j]));
  CLNN_TRY(clnn__check_no_overlap(ctx, running_mean, "running_mean", running_var, "running_var"));
  CLNN_TRY(check_out(ctx, running_mean, "running_mean", ins, names, 3));
  return check_out(ctx, running_var, "running_var", ins, names, 3);
}

clnn_status clnn_batchnorm_fwd_training(clnn_context *ctx, const clnn_batchnorm_desc *desc,
                                        const clnn_tensor *x, const clnn_tensor *gamma,
                                        const clnn_tensor *beta, clnn_tensor *y,
                                        clnn_tensor *save_mean, clnn_tensor *save_invstd,
                                        clnn_tensor *running_mean, clnn_tensor *running_var,
                                        int64_t *num_batches_tracked) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(clnn__batchnorm_desc_check(ctx, desc));
  const clnn_batchnorm_desc *d = desc;
  CLNN_TRY(check_training(ctx, d, x, gamma, beta, y, save_mean, save_invstd, running_mean, running_var,
                          num_batches_tracked));
  const int64_t tracked = num_batches_tracked ? *num_batches_tracked + 1 : 1;
  if (d->n * d->h * d->w == 0) { /* torch's empty batch: running stats kept, the counter still counts */
    CLNN_TRY(fill_empty_batch_stats(ctx, save_mean, save_invstd));
    if (num_batches_tracked) *num_batches_tracked = tracked;
    return CLNN_SUCCESS;
  }
  const clnn_tensor *acts[2] = {x, y};
  const bn_call call = {.d = d,
                        .ty = types_of(d, x->dtype, acts, 2),
                        .x = x,
                        .gamma = gamma,
                        .beta = beta,
                        .y = y,
                        .save_mean = save_mean,
                        .save_invstd = save_invstd,
                        .rmean = running_mean,
                        .rvar = running_var,
                        .factor = d->cumulative ? (float)(1.0 / (double)tracked) : d->momentum,
                        .op = "batchnorm_fwd_training"};
  CLNN_TRY(plan_and_run(ctx, &clnn__bnorm_fwd_train_variants, &call));
  if (num_batches_tracked) *num_batches_tracked = tracked;
  return CLNN_SUCCESS;
}

clnn_status clnn_batchnorm_fwd_inference(clnn_context *ctx, const clnn_batchnorm_desc *desc,
                                         const clnn_tensor *x, const clnn_tensor *gamma,
                                         const clnn_tensor *beta, const clnn_tensor *running_mean,
                                         const clnn_tensor *running_var, clnn_tensor *y) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(clnn__batchnorm_desc_check(ctx, desc));
  const clnn_batchnorm_desc *d = desc;
  clnn_dtype dt;
  CLNN_TRY(x_type(ctx, x, &dt));
  CLNN_TRY(check_nchw(ctx, x, "x", dt, d));
  CLNN_TRY(check_affine(ctx, d, gamma, beta));
  CLNN_TRY(check_channel(ctx, running_mean, "running_mean", d));
  CLNN_TRY(check_channel(ctx, running_var, "running_var", d));
  CLNN_TRY(check_nchw(ctx, y, "y", dt, d));
  bool in_place = y->buf->mem == x->buf->mem && y->offset == x->offset;
  const clnn_tensor *ins[5] = {in_place ? NULL : x, gamma, beta, running_mean, running_var};
  const char *names[5] = {"x", "gamma", "beta", "running_mean", "running_var"};
  CLNN_TRY(check_out(ctx, y, "y", ins, names, 5));
  if (x->numel == 0) return CLNN_SUCCESS; /* an empty tensor: nothing to write */
  const clnn_tensor *acts[2] = {x, y};
  const bn_call call = {.d = d,
                        .ty = types_of(d, dt, acts, 2),
                        .x = x,
                        .gamma = gamma,
                        .beta = beta,
                        .mean = running_mean,
                        .stat = running_var,
                        .y = y,
                        .op = "batchnorm_fwd_inference"};
  return plan_and_run(ctx, &clnn__bnorm_fwd_infer_variants, &call);
}

/* Checks shared by both backward entry points. */
static clnn_status check_bwd(clnn_context *ctx, const clnn_batchnorm_desc *d, const clnn_tensor *x,
                             const clnn_tensor *dy, const clnn_tensor *gamma, const clnn_tensor *beta,
                             const clnn_tensor *mean, const char *mean_name, const clnn_tensor *stat,
                             const char *stat_name, clnn_tensor *dx, clnn_tensor *dgamma, clnn_tensor *dbeta) {
  clnn_dtype dt;
  CLNN_TRY(x_type(ctx, x, &dt));
  CLNN_TRY(check_nchw(ctx, x, "x", dt, d));
  CLNN_TRY(check_nchw(ctx, dy, "dy", dt, d));
  CLNN_TRY(check_affine(ctx, d, gamma, beta));
  CLNN_TRY(check_channel(ctx, mean, mean_name, d));
  CLNN_TRY(check_channel(ctx, stat, stat_name, d));
  if (!dx && !dgamma && !dbeta)
    return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "'dx', 'dgamma' and 'dbeta' are all NULL");
  if (dx) CLNN_TRY(check_nchw(ctx, dx, "dx", dt, d));
  if (!d->affine && (dgamma || dbeta))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->affine is 0 but '%s' is given", dgamma ? "dgamma" : "dbeta");
  if (dgamma) CLNN_TRY(check_channel(ctx, dgamma, "dgamma", d));
  if (dbeta) CLNN_TRY(check_channel(ctx, dbeta, "dbeta", d));
  const clnn_tensor *ins[6] = {x, dy, gamma, beta, mean, stat};
  const char *names[6] = {"x", "dy", "gamma", "beta", mean_name, stat_name};
  clnn_tensor *outs[3] = {dx, dgamma, dbeta};
  const char *out_names[3] = {"dx", "dgamma", "dbeta"};
  for (int i = 0; i < 3; i++) CLNN_TRY(check_out(ctx, outs[i], out_names[i], ins, names, 6));
  for (int i = 0; i < 3; i++)
    for (int j = i + 1; j < 3; j++) CLNN_TRY(clnn__check_no_overlap(ctx, outs[i], out_names[i], outs[j], out_names[j]));
  return CLNN_SUCCESS;
}


clnn_status clnn_batchnorm_bwd(clnn_context *ctx, const clnn_batchnorm_desc *desc, const clnn_tensor *x,
                               const clnn_tensor *dy, const clnn_tensor *gamma, const clnn_tensor *beta,
                               const clnn_tensor *save_mean, const clnn_tensor *save_invstd, clnn_tensor *dx,
                               clnn_tensor *dgamma, clnn_tensor *dbeta) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(clnn__batchnorm_desc_check(ctx, desc));
  const clnn_batchnorm_desc *d = desc;
  CLNN_TRY(check_bwd(ctx, d, x, dy, gamma, beta, save_mean, "save_mean", save_invstd, "save_invstd", dx, dgamma,
                     dbeta));
  if (d->n * d->h * d->w == 0) return zero_param_grads(ctx, dgamma, dbeta);
  const clnn_tensor *acts[3] = {x, dy, dx};
  const bn_call call = {.d = d,
                        .ty = types_of(d, x->dtype, acts, 3),
                        .x = x,
                        .dy = dy,
                        .gamma = gamma,
                        .beta = beta,
                        .mean = save_mean,
                        .stat = save_invstd,
                        .frozen = false,
                        .dx = dx,
                        .dgamma = dgamma,
                        .dbeta = dbeta,
                        .op = "batchnorm_bwd"};
  return plan_and_run(ctx, &clnn__bnorm_bwd_variants, &call);
}

clnn_status clnn_batchnorm_bwd_inference(clnn_context *ctx, const clnn_batchnorm_desc *desc,
                                         const clnn_tensor *x, const clnn_tensor *dy, const clnn_tensor *gamma,
                                         const clnn_tensor *beta, const clnn_tensor *running_mean,
                                         const clnn_tensor *running_var, clnn_tensor *dx, clnn_tensor *dgamma,
                                         clnn_tensor *dbeta) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(clnn__batchnorm_desc_check(ctx, desc));
  const clnn_batchnorm_desc *d = desc;
  CLNN_TRY(check_bwd(ctx, d, x, dy, gamma, beta, running_mean, "running_mean", running_var, "running_var", dx,
                     dgamma, dbeta));
  if (d->n * d->h * d->w == 0) return zero_param_grads(ctx, dgamma, dbeta);
  const clnn_tensor *acts[3] = {x, dy, dx};
  const bn_call call = {.d = d,
                        .ty = types_of(d, x->dtype, acts, 3),
                        .x = x,
                        .dy = dy,
                        .gamma = gamma,
                        .beta = beta,
                        .mean = running_mean,
                        .stat = running_var,
                        .frozen = true,
                        .dx = dx,
                        .dgamma = dgamma,
                        .dbeta = dbeta,
                        .op = "batchnorm_bwd_inference"};
  return plan_and_run(ctx, &clnn__bnorm_bwd_variants, &call);
}
