/*
 * act.c - activation layers (kernels/act.cl): descriptor validation, the
 * tensor checks, and the launches of the plain and gated kernels.
 *
 * The activation is a compile-time choice (-DACT, -DACT_ALPHA, -DGATE), so
 * each (activation, alpha, gate) is one small program, built once per
 * context and then cached on disk like every other.
 */
#include "../runtime/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Work-items per work-group of the element-wise kernels (each does 16
 * floats). On PoCL (8x144x56x56, relu and silu) 16 and 64 measured alike
 * and 1 was 30-50% slower: each work-group costs a scheduling step. */
#ifndef ACT_LOCAL
#define ACT_LOCAL 64
#endif

clnn_act_desc clnn_act_desc_make(int64_t n, int64_t c, int64_t h, int64_t w, clnn_activation act) {
  clnn_act_desc d;
  memset(&d, 0, sizeof d);
  d.n = n;
  d.c = c;
  d.h = h;
  d.w = w;
  d.act = act;
  d.alpha = act == CLNN_ACT_LEAKY_RELU ? 0.01f : act == CLNN_ACT_ELU ? 1.0f : 0.0f;
  d.gate = CLNN_GATE_NONE;
  return d;
}

clnn_act_desc clnn_act_desc_swiglu(int64_t n, int64_t c, int64_t h, int64_t w) {
  clnn_act_desc d = clnn_act_desc_make(n, c, h, w, CLNN_ACT_SILU);
  d.gate = CLNN_GATE_FIRST;
  return d;
}

clnn_act_desc clnn_act_desc_geglu(int64_t n, int64_t c, int64_t h, int64_t w) {
  clnn_act_desc d = clnn_act_desc_make(n, c, h, w, CLNN_ACT_GELU);
  d.gate = CLNN_GATE_FIRST;
  return d;
}

/* Validation shared by clnn_act_desc_check and the ops (messages go to ctx). */
static clnn_status desc_check(clnn_context *ctx, const clnn_act_desc *d, int64_t *out_c) {
  if (!d) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'desc' is NULL");
  CLNN_TRY(clnn__check_dim(ctx, "n", d->n, 1));
  CLNN_TRY(clnn__check_dim(ctx, "c", d->c, 1));
  CLNN_TRY(clnn__check_dim(ctx, "h", d->h, 1));
  CLNN_TRY(clnn__check_dim(ctx, "w", d->w, 1));
  if ((int)d->act < 0 || d->act >= CLNN_ACT_COUNT_)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->act = %d is not a clnn_activation", (int)d->act);
  if ((int)d->gate < 0 || d->gate >= CLNN_GATE_COUNT_)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->gate = %d is not a clnn_act_gate", (int)d->gate);
  if (!isfinite(d->alpha))
    return clnn__fail(ctx, CLNN_ERR_NOT_FINITE, "desc->alpha is %g", (double)d->alpha);
  if (d->gate != CLNN_GATE_NONE && d->c % 2)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "a gated activation needs an even channel count, desc->c = %lld",
                      (long long)d->c);
  int64_t dims[4] = {d->n, d->c, d->h, d->w}, numel;
  if (!clnn__numel_ok(4, dims, &numel) || numel > CLNN_INDEX_MAX)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "the input has over 2^31 - 1 elements");
  if (out_c) *out_c = d->gate == CLNN_GATE_NONE ? d->c : d->c / 2;
  return CLNN_SUCCESS;
}

clnn_status clnn_act_desc_check(const clnn_act_desc *desc, int64_t *out_c) {
  CLNN_ENTER(NULL);
  return desc_check(NULL, desc, out_c);
}

/*
 * t must be an (n, c, h, w) float tensor of ctx; (n, c, h) when w == 1 and
 * (n, c) when h == w == 1 are accepted too (outputs of linear layers).
 */
static clnn_status check_nchw(clnn_context *ctx, const clnn_tensor *t, const char *name, int64_t n,
                              int64_t c, int64_t h, int64_t w) {
  int64_t dims[4] = {n, c, h, w};
  int ndim = 4;
  if (t && t->ndim == 3 && w == 1) ndim = 3;
  if (t && t->ndim == 2 && h == 1 && w == 1) ndim = 2;
  return clnn__check_tensor(ctx, t, name, CLNN_FLOAT32, ndim, dims);
}

/* The same memory at the same offset: an in-place call. */
static bool same_place(const clnn_tensor *a, const clnn_tensor *b) {
  return a->buf->mem == b->buf->mem && a->offset == b->offset;
}

static clnn_status check_out(clnn_context *ctx, const clnn_act_desc *d, const clnn_tensor *out,
                             const char *out_name, const clnn_tensor *in, const char *in_name) {
  if (d->gate == CLNN_GATE_NONE && same_place(out, in)) return CLNN_SUCCESS;
  return clnn__check_no_overlap(ctx, out, out_name, in, in_name);
}

static void program_options(const clnn_act_desc *d, char *buf, size_t n) {
  char act[64];
  clnn__act_options(act, sizeof act, d->act, d->alpha);
  snprintf(buf, n, "-DGATE=%d%s", d->gate == CLNN_GATE_SECOND ? 2 : 1, act);
}

/* Launch a plain kernel over numel elements, or a gated one over images. */
static clnn_status launch(clnn_context *ctx, const clnn_act_desc *d, const char *name,
                          const clnn_arg *args, int nargs, const char *op) {
  char opts[128];
  program_options(d, opts, sizeof opts);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "act", opts, name, &k));
  size_t local[2] = {ACT_LOCAL, 1};
  if (d->gate == CLNN_GATE_NONE) {
    size_t global[1] = {(size_t)(d->n * d->c * d->h * d->w / 16 + 1)};
    return clnn__launch(ctx, &k, args, nargs, 1, global, local, op);
  }
  size_t global[2] = {(size_t)(d->c / 2 * d->h * d->w / 16 + 1), (size_t)d->n};
  return clnn__launch(ctx, &k, args, nargs, 2, global, local, op);
}

/* Elements the kernels walk: all of them, or one image's half when gated. */
static int64_t kernel_count(const clnn_act_desc *d) {
  return d->gate == CLNN_GATE_NONE ? d->n * d->c * d->h * d->w : d->c / 2 * d->h * d->w;
}

clnn_status clnn_act_fwd(clnn_context *ctx, const clnn_act_desc *desc, const clnn_tensor *x,
                         clnn_tensor *y) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t yc = 0;
  CLNN_TRY(desc_check(ctx, desc, &yc));
  const clnn_act_desc *d = desc;
  CLNN_TRY(check_nchw(ctx, x, "x", d->n, d->c, d->h, d->w));
  CLNN_TRY(check_nchw(ctx, y, "y", d->n, yc, d->h, d->w));
  CLNN_TRY(check_out(ctx, d, y, "y", x, "x"));
  bool gated = d->gate != CLNN_GATE_NONE;
  return launch(ctx, d, gated ? "act_glu_fwd" : "act_fwd",
                CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(y), CLNN_ARG_I32(kernel_count(d))),
                gated ? "act_fwd:gated" : "act_fwd");
}

clnn_status clnn_act_bwd(clnn_context *ctx, const clnn_act_desc *desc, const clnn_tensor *x,
                         const clnn_tensor *dy, clnn_tensor *dx) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t yc = 0;
  CLNN_TRY(desc_check(ctx, desc, &yc));
  const clnn_act_desc *d = desc;
  CLNN_TRY(check_nchw(ctx, x, "x", d->n, d->c, d->h, d->w));
  CLNN_TRY(check_nchw(ctx, dy, "dy", d->n, yc, d->h, d->w));
  CLNN_TRY(check_nchw(ctx, dx, "dx", d->n, d->c, d->h, d->w));
  CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", x, "x"));
  CLNN_TRY(check_out(ctx, d, dx, "dx", dy, "dy"));
  bool gated = d->gate != CLNN_GATE_NONE;
  return launch(ctx, d, gated ? "act_glu_bwd" : "act_bwd",
                CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(dy), CLNN_ARG_TENSOR(dx),
                          CLNN_ARG_I32(kernel_count(d))),
                gated ? "act_bwd:gated" : "act_bwd");
}
