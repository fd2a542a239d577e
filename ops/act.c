/*
 * act.c - activation layers (kernels/act.cl): the tensor checks and the
 * launches of the plain and gated kernels (the descriptor: desc/act.c).
 *
 * The activation is a compile-time choice (-DACT, -DACT_ALPHA, -DGATE), and
 * so is the tensors' type (-DDT: float32, float16 or bfloat16, all tensors
 * of a call alike), so each (activation, alpha, gate, type) is one small
 * program, built once per context and then cached on disk like every other.
 */
#include "../desc/desc.h"

#include <stdio.h>
#include <string.h>

/* Work-items per work-group of the element-wise kernels (each does 16
 * floats). On PoCL (8x144x56x56, relu and silu) 16 and 64 measured alike
 * and 1 was 30-50% slower: each work-group costs a scheduling step. */
#ifndef ACT_LOCAL
#define ACT_LOCAL 64
#endif

/*
 * t must be an (n, c, h, w) tensor of ctx of type dt; (n, c, h) when w == 1
 * and (n, c) when h == w == 1 are accepted too (outputs of linear layers).
 */
static clnn_status check_nchw(clnn_context *ctx, const clnn_tensor *t, const char *name, clnn_dtype dt,
                              int64_t n, int64_t c, int64_t h, int64_t w) {
  int64_t dims[4] = {n, c, h, w};
  int ndim = 4;
  if (t && t->ndim == 3 && w == 1) ndim = 3;
  if (t && t->ndim == 2 && h == 1 && w == 1) ndim = 2;
  return clnn__check_tensor(ctx, t, name, dt, ndim, dims);
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

/* Elements the kernels walk: all of them, or one image's half when gated. */
static int64_t kernel_count(const clnn_act_desc *d) {
  return d->gate == CLNN_GATE_NONE ? d->n * d->c * d->h * d->w : d->c / 2 * d->h * d->w;
}

/*
 * bfloat16 kernels load and store pairs of elements as uints (common.h's
 * BF16_PAIRS) when every pointer they form is 4-byte aligned: each tensor at
 * an even element offset and, gated, an even half length (the second half
 * and each image's rows start hlen elements further).
 */
static bool bf16_pairs_fit(const clnn_act_desc *d, clnn_dtype dt, const clnn_tensor *a, const clnn_tensor *b,
                           const clnn_tensor *c) {
  if (dt != CLNN_BFLOAT16 || (d->gate != CLNN_GATE_NONE && kernel_count(d) % 2)) return false;
  return clnn__off(a) % 2 == 0 && clnn__off(b) % 2 == 0 && (!c || clnn__off(c) % 2 == 0);
}

static void program_options(const clnn_act_desc *d, clnn_dtype dt, bool pairs, char *buf, size_t n) {
  char act[64];
  clnn__act_options(act, sizeof act, d->act, d->alpha);
  snprintf(buf, n, "-DGATE=%d -DDT=%d -DBF16_PAIRS=%d%s",
           d->gate == CLNN_GATE_SECOND ? CLNN_ACT_GATE_SECOND : CLNN_ACT_GATE_FIRST, (int)dt, pairs ? 1 : 0, act);
}


/* ------------------------------------------------------------- variants
 * Two shapes, each with a plain and a gated kernel:
 *  - vec16 (CPU): 16 consecutive elements per work-item as one float16,
 *    work-groups of ACT_LOCAL, the scalar tail on one work-item;
 *  - gpu (GPU): one float4 per work-item and step of a grid-stride loop,
 *    work-groups of 256 (coalesced; docs/DESIGN.md, "Kernels on GPU devices").
 */

typedef struct act_variant {
  clnn_variant v;
  const char *fwd_kernel, *bwd_kernel;
  bool gpu_grid; /* grid-stride launch (clnn__gpu_stride_grid) */
} act_variant;

static bool plain_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  return ((const clnn_act_desc *)problem)->gate == CLNN_GATE_NONE || clnn__why(why, n, "a gated activation");
}

static bool gated_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  return ((const clnn_act_desc *)problem)->gate != CLNN_GATE_NONE || clnn__why(why, n, "not a gated activation");
}

#define ACT_TABLE(pass)                                                                                         \
  static const act_variant act_##pass##_table[] = {                                                           \
      {{"act." #pass ".gpu_vec4", CLNN_DEVICE_CLASS_GPU, plain_applies}, "act_fwd_gpu", "act_bwd_gpu", true},   \
      {{"act." #pass ".gpu_glu_vec4", CLNN_DEVICE_CLASS_GPU, gated_applies}, "act_glu_fwd_gpu", "act_glu_bwd_gpu", \
       true},                                                                                                   \
      {{"act." #pass ".vec16", CLNN_DEVICE_CLASS_CPU, plain_applies}, "act_fwd", "act_bwd", false},             \
      {{"act." #pass ".glu_vec16", CLNN_DEVICE_CLASS_CPU, gated_applies}, "act_glu_fwd", "act_glu_bwd", false}, \
  };                                                                                                            \
  const clnn_variant_table clnn__act_##pass##_variants = {                                                     \
      "act", #pass, &act_##pass##_table[0].v, sizeof act_##pass##_table / sizeof act_##pass##_table[0],         \
      sizeof act_##pass##_table[0]}
ACT_TABLE(fwd);
ACT_TABLE(bwd);

/* Plan the pass and launch its kernel: plain over numel elements, gated over images. */
static clnn_status launch(clnn_context *ctx, const clnn_act_desc *d, clnn_dtype dt, bool pairs, bool bwd,
                          const clnn_arg *args, int nargs) {
  const clnn_variant_table *t = bwd ? &clnn__act_bwd_variants : &clnn__act_fwd_variants;
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, t, d, &i));
  const act_variant *v = (const act_variant *)CLNN_VARIANT_AT(t, i);
  char opts[128], op[64];
  program_options(d, dt, pairs, opts, sizeof opts);
  snprintf(op, sizeof op, "act_%s:%s%s%s", bwd ? "bwd" : "fwd", v->v.name + strlen("act.fwd."),
           dt == CLNN_FLOAT32 ? "" : ":", dt == CLNN_FLOAT32 ? "" : clnn_dtype_name(dt));
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "act", opts, bwd ? v->bwd_kernel : v->fwd_kernel, &k));
  const bool gated = d->gate != CLNN_GATE_NONE;
  size_t global[2], local[2] = {ACT_LOCAL, 1};
  if (v->gpu_grid) {
    size_t items = (size_t)(kernel_count(d) / 4 + 1) * (gated ? (size_t)d->n : 1);
    clnn__gpu_stride_grid(ctx, items, &global[0], &local[0]);
    if (gated) { /* the images are the second axis: split the groups over them */
      size_t per_image = global[0] / (size_t)d->n;
      global[0] = per_image > local[0] ? per_image / local[0] * local[0] : local[0];
    }
  } else {
    global[0] = (size_t)(kernel_count(d) / 16 + 1);
  }
  global[1] = gated ? (size_t)d->n : 1;
  return clnn__launch(ctx, &k, args, nargs, gated ? 2 : 1, global, local, op);
}

clnn_status clnn_act_fwd(clnn_context *ctx, const clnn_act_desc *desc, const clnn_tensor *x,
                         clnn_tensor *y) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t yc = 0;
  CLNN_TRY(clnn__act_desc_check(ctx, desc, &yc));
  const clnn_act_desc *d = desc;
  clnn_dtype dt;
  CLNN_TRY(clnn__check_float_type(ctx, x, "x", &dt));
  CLNN_TRY(check_nchw(ctx, x, "x", dt, d->n, d->c, d->h, d->w));
  CLNN_TRY(check_nchw(ctx, y, "y", dt, d->n, yc, d->h, d->w));
  CLNN_TRY(check_out(ctx, d, y, "y", x, "x"));
  if (x->numel == 0) return CLNN_SUCCESS; /* an empty tensor: nothing to write */
  return launch(ctx, d, dt, bf16_pairs_fit(d, dt, x, y, NULL), false, CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(y), CLNN_ARG_I32(kernel_count(d))));
}

clnn_status clnn_act_bwd(clnn_context *ctx, const clnn_act_desc *desc, const clnn_tensor *x,
                         const clnn_tensor *dy, clnn_tensor *dx) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t yc = 0;
  CLNN_TRY(clnn__act_desc_check(ctx, desc, &yc));
  const clnn_act_desc *d = desc;
  clnn_dtype dt;
  CLNN_TRY(clnn__check_float_type(ctx, x, "x", &dt));
  CLNN_TRY(check_nchw(ctx, x, "x", dt, d->n, d->c, d->h, d->w));
  CLNN_TRY(check_nchw(ctx, dy, "dy", dt, d->n, yc, d->h, d->w));
  CLNN_TRY(check_nchw(ctx, dx, "dx", dt, d->n, d->c, d->h, d->w));
  CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", x, "x"));
  CLNN_TRY(check_out(ctx, d, dx, "dx", dy, "dy"));
  if (x->numel == 0) return CLNN_SUCCESS; /* an empty tensor: nothing to write */
  return launch(ctx, d, dt, bf16_pairs_fit(d, dt, x, dy, dx), true,
                CLNN_ARGS(CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(dy), CLNN_ARG_TENSOR(dx), CLNN_ARG_I32(kernel_count(d))));
}
