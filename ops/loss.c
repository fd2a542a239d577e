/*
 * loss.c - losses with their gradients in one call (kernels/loss.cl):
 * softmax cross-entropy and soft accuracy over class logits with int32
 * labels, and InfoNCE / NT-Xent over two batches of embeddings.
 *
 * Classification: count the labels that are not ignored (the mean's
 * divisor, needed by every gradient row), then one work-item per position
 * writes its loss term and gradient row, then the terms are summed in a
 * fixed order (chunks of LCHUNK positions, then the chunk sums).
 *
 * InfoNCE: normalise the 2n rows into U (and U^T) in the workspace; per
 * block of rows, S = U U^T / t by GEMM (NT-Xent; the cross-view form needs
 * only S12 = U1 U2^T / t, whose rows serve view 1 and columns view 2), then
 * maxima, sums of exp and loss terms; then per block the gradient G of S
 * overwrites S, dU follows by GEMM, and dz through the normalisation. The
 * blocks are as tall as the workspace limit allows; with more than one,
 * the backward recomputes each block's S.
 *
 * Those are the CPU-class variants (one row or 16 pixels per work-item,
 * means as ordered chunk gathers). The GPU-class ones use work-groups: one
 * per row of classes, of S or per embedding with local-memory trees for
 * the maxima and sums, one pixel per work-item, and means as work-group
 * trees over slices plus one work-group over the partials. Tables per pass
 * (fwd: the loss alone; bwd: loss and gradients in one call).
 *
 * Half precision: logits (and dlogits), z1, z2 (and dz1, dz2) are float32,
 * float16 or bfloat16, one type per call (logits' or z1's). The kernels
 * that touch them are built with -DDT and load and store through
 * kernels/common.h's macros; everything in the workspace (loss terms,
 * maxima, sums, U, S) stays float32, the loss is always a float32 tensor,
 * and a gradient is rounded to the type once, when stored.
 */
#include "../desc/desc.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define LCHUNK CLNN_LOSS_CHUNK /* positions per chunk of a CPU mean (kernels/shared.h) */
#define MIN_BLOCK_ROWS 8

/* ---------------------------------------------------------- tensor checks */

/* A one-element float32 tensor for the loss. */
static clnn_status check_scalar(clnn_context *ctx, const clnn_tensor *t, const char *name) {
  if (!t) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", name);
  if (t->numel != 1) {
    char got[256];
    return clnn__fail(ctx, CLNN_ERR_SHAPE_MISMATCH, "argument '%s' has shape %s, expected one element",
                      name, clnn__dims_str(got, sizeof got, t->ndim, t->dims));
  }
  return clnn__check_tensor(ctx, t, name, CLNN_FLOAT32, t->ndim, t->dims);
}

/* logits (n, classes, d1, ...) of a float type with d1 * ... == inner; labels (n, d1, ...). */
static clnn_status check_class_tensors(clnn_context *ctx, const clnn_loss_class_desc *d,
                                       const clnn_tensor *logits, const clnn_tensor *labels) {
  CLNN_CHECK_NULL(ctx, logits);
  CLNN_CHECK_NULL(ctx, labels);
  int64_t rest = 1;
  for (int i = 2; i < logits->ndim; i++) rest *= logits->dims[i];
  if (logits->ndim < 2 || logits->dims[0] != d->n || logits->dims[1] != d->classes || rest != d->inner) {
    char got[256];
    return clnn__fail(ctx, CLNN_ERR_SHAPE_MISMATCH,
                      "argument 'logits' has shape %s, expected [%lld,%lld] followed by dimensions "
                      "multiplying to inner = %lld",
                      clnn__dims_str(got, sizeof got, logits->ndim, logits->dims), (long long)d->n,
                      (long long)d->classes, (long long)d->inner);
  }
  clnn_dtype dt;
  CLNN_TRY(clnn__check_float_type(ctx, logits, "logits", &dt));
  CLNN_TRY(clnn__check_tensor(ctx, logits, "logits", dt, logits->ndim, logits->dims));
  int64_t want[CLNN_MAX_DIMS];
  want[0] = d->n;
  for (int i = 2; i < logits->ndim; i++) want[i - 1] = logits->dims[i];
  return clnn__check_tensor(ctx, labels, "labels", CLNN_INT32, logits->ndim - 1, want);
}

/* The op's name for profiles: "loss_xent", "loss_xent:float16". */
static const char *op_name(char *buf, size_t n, const char *op, clnn_dtype dt) {
  snprintf(buf, n, "%s%s%s", op, dt == CLNN_FLOAT32 ? "" : ":", dt == CLNN_FLOAT32 ? "" : clnn_dtype_name(dt));
  return buf;
}

/* ------------------------------------------------------------ reductions */

/* A region of the workspace: (buffer, element offset). */
typedef struct ws_slot {
  cl_mem mem;
  cl_ulong off;
} ws_slot;

#define ARG_SLOT(s) CLNN_ARG_MEM((s).mem), CLNN_ARG_U64((s).off)

static ws_slot slot_at(cl_mem ws, int64_t off) { return (ws_slot){ws, (cl_ulong)off}; }

/*
 * out = (ONE_MINUS ? 1 - s / d : s / d) with s the ordered sum of v[0 .. n)
 * (chunk sums into parts first when n > LCHUNK), d = *count or divisor.
 */
static clnn_status launch_mean(clnn_context *ctx, int64_t n, ws_slot v, ws_slot parts,
                               const ws_slot *count, float divisor, bool one_minus, cl_mem out,
                               cl_ulong out_off, const char *op) {
  const size_t local[3] = {1, 1, 1};
  clnn_kernel_ref k;
  char opts[96];
  ws_slot src = v;
  int64_t np = n;
  if (n > LCHUNK) {
    np = clnn__ceil_div(n, LCHUNK);
    CLNN_TRY(clnn__kernel(ctx, "loss", "", "loss_sum_chunks", &k));
    size_t global[3] = {(size_t)np, 1, 1};
    CLNN_TRY(clnn__launch(ctx, &k, CLNN_ARGS(CLNN_ARG_I32(n), ARG_SLOT(v), ARG_SLOT(parts)), 1, global,
                          local, op));
    src = parts;
  }
  snprintf(opts, sizeof opts, "-DHAS_COUNT=%d -DONE_MINUS=%d", count ? 1 : 0, one_minus ? 1 : 0);
  CLNN_TRY(clnn__kernel(ctx, "loss", opts, "loss_finish", &k));
  ws_slot cnt = count ? *count : slot_at(NULL, 0);
  size_t global[3] = {1, 1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_I32(np), ARG_SLOT(src), ARG_SLOT(cnt), CLNN_ARG_F32(divisor),
                                CLNN_ARG_MEM(out), CLNN_ARG_U64(out_off)),
                      1, global, local, op);
}

/* ----------------------------------------------------- classification */

typedef enum { KIND_XENT = CLNN_LOSS_XENT, KIND_SOFTACC = CLNN_LOSS_SOFTACC } class_kind;

static clnn_status class_loss_check(clnn_context *ctx, class_kind kind, const clnn_loss_class_desc *d,
                                    const clnn_tensor *logits, const clnn_tensor *labels,
                                    const clnn_tensor *loss, const clnn_tensor *dlogits) {
  CLNN_TRY(clnn__loss_class_desc_check(ctx, d));
  if (kind == KIND_SOFTACC && d->label_smoothing != 0.0f)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "label_smoothing applies to cross-entropy only");
  CLNN_TRY(check_class_tensors(ctx, d, logits, labels));
  CLNN_TRY(check_scalar(ctx, loss, "loss"));
  CLNN_TRY(clnn__check_no_overlap(ctx, loss, "loss", logits, "logits"));
  CLNN_TRY(clnn__check_no_overlap(ctx, loss, "loss", labels, "labels"));
  if (!dlogits) return CLNN_SUCCESS;
  /* the gradient in the logits' type; the loss is float32 whatever they are */
  CLNN_TRY(clnn__check_tensor(ctx, dlogits, "dlogits", logits->dtype, logits->ndim, logits->dims));
  CLNN_TRY(clnn__check_no_overlap(ctx, dlogits, "dlogits", logits, "logits"));
  CLNN_TRY(clnn__check_no_overlap(ctx, dlogits, "dlogits", labels, "labels"));
  return clnn__check_no_overlap(ctx, loss, "loss", dlogits, "dlogits");
}

/* Workspace of a classification loss (element offsets). */
typedef struct class_plan {
  int64_t npos, nchunks;
  int64_t o_count_parts, o_count_parts2, o_count, o_rows, o_parts, total;
} class_plan;

static class_plan class_plan_make(const clnn_loss_class_desc *d) {
  class_plan p;
  p.npos = d->n * d->inner;
  p.nchunks = clnn__ceil_div(p.npos, LCHUNK);
  p.o_count_parts = 0;                                    /* per-chunk label counts */
  p.o_count_parts2 = p.nchunks;                           /* their chunk sums, when needed */
  p.o_count = p.o_count_parts2 + clnn__ceil_div(p.nchunks, LCHUNK); /* the mean's divisor */
  p.o_rows = p.o_count + 1;                               /* one loss term per position */
  p.o_parts = p.o_rows + p.npos;                          /* chunk sums of the terms */
  p.total = p.o_parts + p.nchunks;
  return p;
}

/* ws[o_count] = number of labels that are not ignore_index. */
static clnn_status launch_count_valid(clnn_context *ctx, const class_plan *p, cl_mem ws,
                                      const clnn_tensor *labels, int32_t ignore_index, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "loss", "", "loss_count_valid", &k));
  const size_t global[3] = {(size_t)p->nchunks, 1, 1}, local[3] = {1, 1, 1};
  /* one chunk: its count is the total */
  const ws_slot dst = slot_at(ws, p->nchunks > 1 ? p->o_count_parts : p->o_count);
  CLNN_TRY(clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_I32(p->npos), CLNN_ARG_TENSOR(labels), CLNN_ARG_I32(ignore_index),
                                  ARG_SLOT(dst)),
                        1, global, local, op));
  if (p->nchunks == 1) return CLNN_SUCCESS;
  return launch_mean(ctx, p->nchunks, slot_at(ws, p->o_count_parts), slot_at(ws, p->o_count_parts2), NULL, 1.0f,
                     false, ws, (cl_ulong)p->o_count, op);
}

/* One classification call: the kind, the descriptor and the tensors
 * (dlogits NULL: the loss alone, the "fwd" pass; else "bwd"). */
typedef struct class_call {
  class_kind kind;
  const clnn_loss_class_desc *d;
  const clnn_tensor *logits, *labels;
  clnn_tensor *loss, *dlogits;
  const char *op;
} class_call;

/* The class kernels' arguments (CLASS_ARGS in kernels/loss.cl). */
#define CLASS_ARG_LIST(c, rows, count)                                                                       \
  CLNN_ARG_I32((c)->d->n), CLNN_ARG_I32((c)->d->classes), CLNN_ARG_I32((c)->d->inner),                       \
      CLNN_ARG_TENSOR((c)->logits), CLNN_ARG_TENSOR((c)->labels), CLNN_ARG_TENSOR((c)->dlogits),             \
      ARG_SLOT(rows), ARG_SLOT(count), CLNN_ARG_F32((c)->d->label_smoothing),                                \
      CLNN_ARG_I32((c)->d->ignore_index), CLNN_ARG_F32((c)->d->grad_scale)

static void class_options(const class_call *c, char *buf, size_t n) {
  snprintf(buf, n, "-DKIND=%d -DHAS_GRAD=%d -DDT=%d", (int)c->kind, c->dlogits ? 1 : 0, (int)c->logits->dtype);
}

/* The kernel(s) writing every position's loss term and gradient row. */
typedef clnn_status (*rows_launch)(clnn_context *ctx, const class_call *c, ws_slot rows, ws_slot count);

/* ----------------------------------------------- CPU-class launches */

/* Plain logits: one row per work-item, classes in float16 strides. */
static clnn_status launch_rows_contig(clnn_context *ctx, const class_call *c, ws_slot rows, ws_slot count) {
  char opts[64];
  class_options(c, opts, sizeof opts);
  const size_t local[3] = {1, 1, 1}, global[3] = {(size_t)c->d->n, 1, 1};
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "loss", opts, "loss_class_contig", &k));
  return clnn__launch(ctx, &k, CLNN_ARGS(CLASS_ARG_LIST(c, rows, count)), 1, global, local, c->op);
}

/* Per-pixel logits: 16 positions per work-item, and the last inner % 16
 * positions one each. */
static clnn_status launch_rows_pix(clnn_context *ctx, const class_call *c, ws_slot rows, ws_slot count) {
  const clnn_loss_class_desc *d = c->d;
  char opts[64];
  class_options(c, opts, sizeof opts);
  const size_t local[3] = {1, 1, 1};
  clnn_kernel_ref k;
  const int64_t vec = d->inner / 16 * 16;
  if (vec > 0) {
    CLNN_TRY(clnn__kernel(ctx, "loss", opts, "loss_class_pix", &k));
    const size_t global[3] = {(size_t)(vec / 16), (size_t)d->n, 1};
    CLNN_TRY(clnn__launch(ctx, &k, CLNN_ARGS(CLASS_ARG_LIST(c, rows, count)), 2, global, local, c->op));
  }
  if (vec == d->inner) return CLNN_SUCCESS;
  CLNN_TRY(clnn__kernel(ctx, "loss", opts, "loss_class_rows", &k));
  const size_t global[3] = {(size_t)(d->inner - vec), (size_t)d->n, 1};
  return clnn__launch(ctx, &k, CLNN_ARGS(CLASS_ARG_LIST(c, rows, count), CLNN_ARG_I32(vec)), 2, global, local,
                      c->op);
}

/* Count the labels, the rows kernel, then the ordered mean of the terms
 * (chunks of LCHUNK, one work-item each). */
static clnn_status class_run_cpu(clnn_context *ctx, const class_call *c, rows_launch rows_kernel) {
  const class_plan p = class_plan_make(c->d);
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)p.total * sizeof(float), &ws));
  const ws_slot count = slot_at(ws, p.o_count), rows = slot_at(ws, p.o_rows);
  CLNN_TRY(launch_count_valid(ctx, &p, ws, c->labels, c->d->ignore_index, c->op));
  CLNN_TRY(rows_kernel(ctx, c, rows, count));
  return launch_mean(ctx, p.npos, rows, slot_at(ws, p.o_parts), &count, 1.0f, c->kind == KIND_SOFTACC,
                     clnn__mem(c->loss), clnn__off(c->loss), c->op);
}

static clnn_status class_contig16(clnn_context *ctx, const class_call *c) {
  return class_run_cpu(ctx, c, launch_rows_contig);
}
static clnn_status class_pix16(clnn_context *ctx, const class_call *c) { return class_run_cpu(ctx, c, launch_rows_pix); }

/* ----------------------------------------------- GPU-class launches */

/* Values per work-item of one slice of the GPU means (kernels/shared.h). */
#define GPU_SLICE_PER_ITEM CLNN_LOSS_GPU_SLICE_ITEMS

/* The work-group of a GPU reduction over rows of `len` values: one value
 * per work-item or more (clnn__gpu_tree_wg). */
static size_t gpu_tree_wg(const clnn_context *ctx, int64_t len) { return clnn__gpu_tree_wg(ctx, len, 1); }

/* Slices of a GPU mean over n values with work-groups of wg. */
static int64_t gpu_slices(int64_t n, size_t wg) { return clnn__ceil_div(n, (int64_t)wg * GPU_SLICE_PER_ITEM); }

/*
 * A GPU mean: out = (one_minus ? 1 - s / d : s / d), s the sum of v[0 ..
 * n) (or, with labels, how many of labels[0 .. n) are not ignore_index),
 * d = *count or divisor. Work-group trees over slices into parts when
 * there is more than one slice, then one work-group.
 */
typedef struct gpu_mean {
  int64_t n;
  ws_slot v;                 /* the values, or unused */
  const clnn_tensor *labels; /* the labels to count, or NULL */
  int32_t ignore_index;
  ws_slot parts;             /* room for gpu_slices(n, 1) partials */
  const ws_slot *count;      /* where the divisor is, or NULL: divisor */
  float divisor;
  bool one_minus;
  cl_mem out;
  cl_ulong out_off;
} gpu_mean;

static clnn_status launch_mean_gpu(clnn_context *ctx, const gpu_mean *m, const char *op) {
  const size_t wg = gpu_tree_wg(ctx, m->n);
  const int64_t slices = gpu_slices(m->n, wg);
  char opts[128];
  clnn_kernel_ref k;
  ws_slot src = m->v;
  int mode = m->labels ? CLNN_LOSS_MEAN_COUNT : CLNN_LOSS_MEAN_SUM;
  int64_t np = m->n;
  if (slices > 1) {
    snprintf(opts, sizeof opts, "-DWG=%zu -DMODE=%d", wg, mode);
    CLNN_TRY(clnn__kernel(ctx, "loss", opts, "loss_reduce_gpu", &k));
    const size_t global = (size_t)slices * wg;
    CLNN_TRY(clnn__launch(ctx, &k,
                          CLNN_ARGS(CLNN_ARG_I32(m->n), ARG_SLOT(m->v), CLNN_ARG_TENSOR(m->labels),
                                    CLNN_ARG_I32(m->ignore_index), ARG_SLOT(m->parts)),
                          1, &global, &wg, op));
    src = m->parts;
    mode = CLNN_LOSS_MEAN_SUM; /* the partials are sums (of counts) */
    np = slices;
  }
  snprintf(opts, sizeof opts, "-DWG=%zu -DMODE=%d -DHAS_COUNT=%d -DONE_MINUS=%d", wg, mode, m->count ? 1 : 0,
           m->one_minus ? 1 : 0);
  CLNN_TRY(clnn__kernel(ctx, "loss", opts, "loss_finish_gpu", &k));
  const ws_slot cnt = m->count ? *m->count : slot_at(NULL, 0);
  const clnn_tensor *labels = mode ? m->labels : NULL;
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_I32(np), ARG_SLOT(src), CLNN_ARG_TENSOR(labels),
                                CLNN_ARG_I32(m->ignore_index), ARG_SLOT(cnt), CLNN_ARG_F32(m->divisor),
                                CLNN_ARG_MEM(m->out), CLNN_ARG_U64(m->out_off)),
                      1, &wg, &wg, op);
}

/* Plain logits: one work-group per row, sized to the classes. */
static clnn_status launch_rows_gpu(clnn_context *ctx, const class_call *c, ws_slot rows, ws_slot count) {
  const size_t wg = gpu_tree_wg(ctx, c->d->classes);
  char opts[96];
  snprintf(opts, sizeof opts, "-DWG=%zu -DKIND=%d -DHAS_GRAD=%d -DDT=%d", wg, (int)c->kind, c->dlogits ? 1 : 0,
           (int)c->logits->dtype);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "loss", opts, "loss_class_row_gpu", &k));
  const size_t global = (size_t)c->d->n * wg;
  return clnn__launch(ctx, &k, CLNN_ARGS(CLASS_ARG_LIST(c, rows, count)), 1, &global, &wg, c->op);
}

/* Per-pixel logits: one position per work-item. */
static clnn_status launch_pixels_gpu(clnn_context *ctx, const class_call *c, ws_slot rows, ws_slot count) {
  const size_t wg = clnn__gpu_flat_wg(ctx), global = (size_t)(c->d->n * c->d->inner);
  char opts[64];
  class_options(c, opts, sizeof opts);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "loss", opts, "loss_class_pix_gpu", &k));
  return clnn__launch(ctx, &k, CLNN_ARGS(CLASS_ARG_LIST(c, rows, count)), 1, &global, &wg, c->op);
}

/* The GPU classification losses: count, rows, mean. Workspace: the count,
 * one term per position, then the partials of either mean (one after the
 * other on the in-order queue). */
static clnn_status class_run_gpu(clnn_context *ctx, const class_call *c, rows_launch rows_kernel) {
  const int64_t npos = c->d->n * c->d->inner;
  const int64_t o_count = 0, o_rows = 1, o_parts = o_rows + npos, total = o_parts + gpu_slices(npos, 1);
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)total * sizeof(float), &ws));
  const ws_slot count = slot_at(ws, o_count), rows = slot_at(ws, o_rows), parts = slot_at(ws, o_parts);
  const gpu_mean counting = {npos, slot_at(NULL, 0), c->labels, c->d->ignore_index, parts, NULL, 1.0f, false,
                             ws, (cl_ulong)o_count};
  CLNN_TRY(launch_mean_gpu(ctx, &counting, c->op));
  CLNN_TRY(rows_kernel(ctx, c, rows, count));
  const gpu_mean mean = {npos, rows, NULL, c->d->ignore_index, parts, &count, 1.0f, c->kind == KIND_SOFTACC,
                         clnn__mem(c->loss), clnn__off(c->loss)};
  return launch_mean_gpu(ctx, &mean, c->op);
}

static clnn_status class_gpu_rows(clnn_context *ctx, const class_call *c) {
  return class_run_gpu(ctx, c, launch_rows_gpu);
}
static clnn_status class_gpu_pixels(clnn_context *ctx, const class_call *c) {
  return class_run_gpu(ctx, c, launch_pixels_gpu);
}

/* ------------------------------------------------------------- tables
 * Per pass (fwd: the loss alone; bwd: loss and dlogits in one call), for
 * cross-entropy and soft accuracy alike:
 *  - contig16 / pix16 (CPU): one row per work-item in float16 strides;
 *    16 pixels per work-item as float16 lanes (and a scalar tail);
 *  - gpu_rows / gpu_pixels (GPU): one work-group per row with tree
 *    reductions; one pixel per work-item.
 * The CPU means are ordered chunk gathers, the GPU means work-group trees.
 */

typedef struct class_variant {
  clnn_variant v;
  clnn_status (*run)(clnn_context *ctx, const class_call *c);
} class_variant;

static bool plain_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const class_call *c = problem;
  return c->d->inner == 1 || clnn__why(why, n, "per-pixel logits (inner = %lld)", (long long)c->d->inner);
}

static bool pixel_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const class_call *c = problem;
  return c->d->inner > 1 || clnn__why(why, n, "plain logits (inner = 1)");
}

#define CLASS_TABLE(pass)                                                                                       \
  static const class_variant class_##pass##_table[] = {                                                         \
      {{"loss.class_" #pass ".gpu_rows", CLNN_DEVICE_CLASS_GPU, plain_applies}, class_gpu_rows},                \
      {{"loss.class_" #pass ".gpu_pixels", CLNN_DEVICE_CLASS_GPU, pixel_applies}, class_gpu_pixels},            \
      {{"loss.class_" #pass ".contig16", CLNN_DEVICE_CLASS_CPU, plain_applies}, class_contig16},                \
      {{"loss.class_" #pass ".pix16", CLNN_DEVICE_CLASS_CPU, pixel_applies}, class_pix16},                      \
  };                                                                                                            \
  const clnn_variant_table clnn__loss_class_##pass##_variants = {                                              \
      "loss", "class_" #pass, &class_##pass##_table[0].v,                                                       \
      sizeof class_##pass##_table / sizeof class_##pass##_table[0], sizeof class_##pass##_table[0]}
CLASS_TABLE(fwd);
CLASS_TABLE(bwd);

static clnn_status class_loss(clnn_context *ctx, class_kind kind, const clnn_loss_class_desc *d,
                              const clnn_tensor *logits, const clnn_tensor *labels, clnn_tensor *loss,
                              clnn_tensor *dlogits, const char *op) {
  CLNN_TRY(class_loss_check(ctx, kind, d, logits, labels, loss, dlogits));
  /* No position: the mean over nothing is NaN, as torch's, and dlogits is empty. */
  if (d->n == 0) return clnn__fill_f32(ctx, clnn__mem(loss), (size_t)clnn__off(loss), 1, NAN);
  char name[40];
  const class_call c = {kind, d, logits, labels, loss, dlogits, op_name(name, sizeof name, op, logits->dtype)};
  const clnn_variant_table *t = dlogits ? &clnn__loss_class_bwd_variants : &clnn__loss_class_fwd_variants;
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, t, &c, &i));
  return ((const class_variant *)CLNN_VARIANT_AT(t, i))->run(ctx, &c);
}

clnn_status clnn_loss_xent(clnn_context *ctx, const clnn_loss_class_desc *desc,
                           const clnn_tensor *logits, const clnn_tensor *labels, clnn_tensor *loss,
                           clnn_tensor *dlogits) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  return class_loss(ctx, KIND_XENT, desc, logits, labels, loss, dlogits, "loss_xent");
}

clnn_status clnn_loss_soft_accuracy(clnn_context *ctx, const clnn_loss_class_desc *desc,
                                    const clnn_tensor *logits, const clnn_tensor *labels,
                                    clnn_tensor *loss, clnn_tensor *dlogits) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  return class_loss(ctx, KIND_SOFTACC, desc, logits, labels, loss, dlogits, "loss_soft_accuracy");
}

/* ------------------------------------------------------------- InfoNCE */

/* A power-of-two row stride of 4 KiB or more makes GEMM rows collide in the cache. */
static int64_t padded_ld(int64_t cols) { return cols >= 1024 && (cols & (cols - 1)) == 0 ? cols + 16 : cols; }

/*
 * Where everything lives in the workspace (element offsets) and the block
 * height. The similarity matrix is S = U U^T / t (2n x 2n) for NT-Xent and
 * S12 = U1 U2^T / t (n x n) for the cross-view form; s_rows x s_cols.
 */
typedef struct infonce_plan {
  bool cross;
  int64_t n, m, dim; /* m = 2n anchors */
  int64_t s_rows, s_cols;
  int64_t ldu, ldt, lds;
  int64_t o_u, o_ut, o_du, o_norm, o_mx, o_se, o_rows, o_diag, o_parts, o_s;
  int64_t block; /* rows of S per block */
  size_t bytes;
} infonce_plan;

static clnn_status infonce_plan_make(clnn_context *ctx, const clnn_loss_infonce_desc *d, bool grads,
                                     infonce_plan *p) {
  memset(p, 0, sizeof *p);
  p->cross = d->variant == CLNN_INFONCE_CROSS_VIEW;
  p->n = d->n;
  p->m = 2 * d->n;
  p->dim = d->dim;
  p->s_rows = p->s_cols = p->cross ? p->n : p->m;
  p->ldu = padded_ld(d->dim);
  p->ldt = padded_ld(p->m);
  p->lds = padded_ld(p->s_cols);
  p->o_u = 0;
  p->o_ut = p->o_u + p->m * p->ldu;
  p->o_du = p->o_ut + p->dim * p->ldt;
  p->o_norm = p->o_du + (grads ? p->m * p->ldu : 0);
  p->o_mx = p->o_norm + p->m;
  p->o_se = p->o_mx + p->m;
  p->o_rows = p->o_se + p->m;
  p->o_diag = p->o_rows + p->m;
  p->o_parts = p->o_diag + p->n;
  p->o_s = p->o_parts + clnn__ceil_div(p->m, LCHUNK);
  const int64_t limit = (int64_t)(ctx->workspace_limit / sizeof(float));
  int64_t rows = (limit - p->o_s) / p->lds;
  if (rows >= p->s_rows) rows = p->s_rows;
  else rows = rows / MIN_BLOCK_ROWS * MIN_BLOCK_ROWS;
  if (rows < 1 || (rows < MIN_BLOCK_ROWS && rows < p->s_rows))
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED,
                      "InfoNCE over %lld x %lld embeddings needs at least %lld bytes of workspace, over "
                      "the limit of %zu bytes",
                      (long long)p->m, (long long)p->dim,
                      (long long)((p->o_s + MIN_BLOCK_ROWS * p->lds) * (int64_t)sizeof(float)),
                      ctx->workspace_limit);
  p->block = rows;
  p->bytes = (size_t)(p->o_s + rows * p->lds) * sizeof(float);
  return CLNN_SUCCESS;
}

/* Rows [i0, i0 + rows) of S into the block buffer: U[i0 ..] times U^T (all
 * 2n columns, NT-Xent) or its view-2 columns (cross-view), over t. */
static clnn_status infonce_sim_block(clnn_context *ctx, const infonce_plan *p, cl_mem ws, int64_t i0,
                                     int64_t rows, float temperature) {
  clnn_gemm_job j = clnn__gemm_job(rows, p->s_cols, p->dim);
  j.alpha = 1.0f / temperature;
  j.a = ws;
  j.a_off = (size_t)(p->o_u + i0 * p->ldu);
  j.lda = p->ldu;
  j.b = ws;
  j.b_off = (size_t)(p->o_ut + (p->cross ? p->n : 0));
  j.ldb = p->ldt;
  j.c = ws;
  j.c_off = (size_t)p->o_s;
  j.ldc = p->lds;
  return clnn__gemm_run(ctx, &j, "loss_infonce:similarity");
}

/* C = alpha op(A) B on workspace regions (the gradient GEMMs). */
static clnn_status ws_gemm(clnn_context *ctx, cl_mem ws, int64_t m, int64_t n, int64_t k, float alpha, float beta,
                           int64_t a_off, int64_t lda, bool a_trans, int64_t b_off, int64_t ldb, int64_t c_off,
                           int64_t ldc) {
  clnn_gemm_job j = clnn__gemm_job(m, n, k);
  j.alpha = alpha;
  j.beta = beta;
  j.a = j.b = j.c = ws;
  j.a_off = (size_t)a_off;
  j.lda = lda;
  j.a_trans = a_trans;
  j.b_off = (size_t)b_off;
  j.ldb = ldb;
  j.c_off = (size_t)c_off;
  j.ldc = ldc;
  return clnn__gemm_run(ctx, &j, "loss_infonce:gradient");
}

static clnn_status check_embeddings(clnn_context *ctx, const clnn_loss_infonce_desc *d,
                                    const clnn_tensor *z1, const clnn_tensor *z2, const clnn_tensor *loss,
                                    const clnn_tensor *dz1, const clnn_tensor *dz2) {
  int64_t zd[2] = {d->n, d->dim};
  clnn_dtype dt; /* z1's: z2, dz1 and dz2 share it; the loss is float32 */
  CLNN_TRY(clnn__check_float_type(ctx, z1, "z1", &dt));
  CLNN_TRY(clnn__check_tensor(ctx, z1, "z1", dt, 2, zd));
  CLNN_TRY(clnn__check_tensor(ctx, z2, "z2", dt, 2, zd));
  CLNN_TRY(check_scalar(ctx, loss, "loss"));
  if (dz1) CLNN_TRY(clnn__check_tensor(ctx, dz1, "dz1", dt, 2, zd));
  if (dz2) CLNN_TRY(clnn__check_tensor(ctx, dz2, "dz2", dt, 2, zd));
  const clnn_tensor *outs[3] = {loss, dz1, dz2}, *ins[2] = {z1, z2};
  const char *out_names[3] = {"loss", "dz1", "dz2"}, *in_names[2] = {"z1", "z2"};
  for (int o = 0; o < 3; o++) {
    for (int i = 0; i < 2; i++) CLNN_TRY(clnn__check_no_overlap(ctx, outs[o], out_names[o], ins[i], in_names[i]));
    for (int q = o + 1; q < 3; q++) CLNN_TRY(clnn__check_no_overlap(ctx, outs[o], out_names[o], outs[q], out_names[q]));
  }
  return CLNN_SUCCESS;
}

/*
 * The kernels of an InfoNCE variant: the CPU ones (rows16: one row per
 * work-item in float16 strides, 16 columns per work-item for the column
 * statistics) or the GPU ones (gpu_rows: one work-group per row with tree
 * reductions, one column per work-item); both take the same arguments.
 */
typedef struct infonce_kernels {
  const char *norm, *stats, *cv_stats, *cv_cols, *grad, *cv_grad, *back;
  bool gpu; /* launch shapes: work-groups per row, and a GPU mean */
} infonce_kernels;

/* Everything the InfoNCE launches share, set up (kernels built) before any enqueue. */
typedef struct infonce_run {
  clnn_context *ctx;
  const clnn_loss_infonce_desc *d;
  const infonce_kernels *kn;
  infonce_plan p;
  cl_mem ws;
  size_t wg_rows, wg_embed; /* GPU: work-groups over S's rows and over embeddings */
  clnn_kernel_ref k_norm, k_stats, k_cols, k_grad, k_back;
} infonce_run;

#define WS(off) CLNN_ARG_MEM(r->ws), CLNN_ARG_U64((cl_ulong)(off))

static clnn_status infonce_setup(infonce_run *r, clnn_context *ctx, const clnn_loss_infonce_desc *d,
                                 const infonce_kernels *kn, clnn_dtype dt, bool has_dz1, bool has_dz2) {
  r->ctx = ctx;
  r->d = d;
  r->kn = kn;
  CLNN_TRY(infonce_plan_make(ctx, d, has_dz1 || has_dz2, &r->p));
  CLNN_TRY(clnn__workspace(ctx, r->p.bytes, &r->ws));
  const bool cross = r->p.cross;
  /* GPU: one program per work-group size (-DWG), sized to S's rows and to
   * the embeddings; the CPU kernels' programs keep their options. */
  char rows_opts[32] = "", embed_opts[48] = "";
  r->wg_rows = r->wg_embed = 1;
  if (kn->gpu) {
    r->wg_rows = gpu_tree_wg(ctx, r->p.s_cols);
    r->wg_embed = gpu_tree_wg(ctx, d->dim);
    snprintf(rows_opts, sizeof rows_opts, "-DWG=%zu", r->wg_rows);
  }
  /* only the kernels over the embeddings read z or write dz: -DDT for those */
  if (kn->gpu) snprintf(embed_opts, sizeof embed_opts, "-DWG=%zu -DDT=%d", r->wg_embed, (int)dt);
  else snprintf(embed_opts, sizeof embed_opts, "-DDT=%d", (int)dt);
  CLNN_TRY(clnn__kernel(ctx, "loss", embed_opts, kn->norm, &r->k_norm));
  CLNN_TRY(clnn__kernel(ctx, "loss", rows_opts, cross ? kn->cv_stats : kn->stats, &r->k_stats));
  if (cross) CLNN_TRY(clnn__kernel(ctx, "loss", rows_opts, kn->cv_cols, &r->k_cols));
  if (!has_dz1 && !has_dz2) return CLNN_SUCCESS;
  CLNN_TRY(clnn__kernel(ctx, "loss", rows_opts, cross ? kn->cv_grad : kn->grad, &r->k_grad));
  char opts[64];
  snprintf(opts, sizeof opts, "%s -DHAS_DZ1=%d -DHAS_DZ2=%d", embed_opts, has_dz1 ? 1 : 0, has_dz2 ? 1 : 0);
  return clnn__kernel(ctx, "loss", opts, kn->back, &r->k_back);
}

static const size_t infonce_local[3] = {1, 1, 1};

/* A launch over `items` rows: one work-item each (CPU) or one work-group
 * of wg each (GPU). */
static clnn_status launch_per_row(const infonce_run *r, const clnn_kernel_ref *k, const clnn_arg *args, int nargs,
                                  int64_t items, size_t wg) {
  if (!r->kn->gpu) {
    const size_t global[3] = {(size_t)items, 1, 1};
    return clnn__launch(r->ctx, k, args, nargs, 1, global, infonce_local, "loss_infonce");
  }
  const size_t global = (size_t)items * wg;
  return clnn__launch(r->ctx, k, args, nargs, 1, &global, &wg, "loss_infonce");
}

/* The loss statistics of one block of rows of S (rows of S12, and its columns folded in, when cross). */
static clnn_status infonce_block_stats(const infonce_run *r, int64_t i0, int64_t rows) {
  const infonce_plan *p = &r->p;
  if (!p->cross)
    return launch_per_row(r, &r->k_stats,
                          CLNN_ARGS(CLNN_ARG_I32(p->n), CLNN_ARG_I32(i0), WS(p->o_s), CLNN_ARG_I32(p->lds),
                                    WS(p->o_mx), WS(p->o_se), WS(p->o_rows)),
                          rows, r->wg_rows);
  CLNN_TRY(launch_per_row(r, &r->k_stats,
                          CLNN_ARGS(CLNN_ARG_I32(p->n), CLNN_ARG_I32(i0), WS(p->o_s), CLNN_ARG_I32(p->lds),
                                    WS(p->o_mx), WS(p->o_se), WS(p->o_rows), WS(p->o_diag)),
                          rows, r->wg_rows));
  /* the columns: 16 per work-item (CPU) or one (GPU, work-groups of up to CLNN_GPU_WG) */
  const size_t g_cols[3] = {(size_t)(r->kn->gpu ? p->n : clnn__ceil_div(p->n, 16)), 1, 1};
  const size_t l_cols[3] = {r->kn->gpu ? clnn__gpu_flat_wg(r->ctx) : 1, 1, 1};
  return clnn__launch(r->ctx, &r->k_cols,
                      CLNN_ARGS(CLNN_ARG_I32(p->n), CLNN_ARG_I32(rows), WS(p->o_s), CLNN_ARG_I32(p->lds),
                                WS(p->o_mx), WS(p->o_se), WS(p->o_rows), WS(p->o_diag),
                                CLNN_ARG_I32(i0 == 0), CLNN_ARG_I32(i0 + rows == p->s_rows)),
                      1, g_cols, l_cols, "loss_infonce");
}

/* U, U^T and the norms; then per block S and its statistics; then the mean of the 2n terms. */
static clnn_status infonce_forward(const infonce_run *r, const clnn_tensor *z1, const clnn_tensor *z2,
                                   clnn_tensor *loss) {
  const infonce_plan *p = &r->p;
  CLNN_TRY(launch_per_row(r, &r->k_norm,
                          CLNN_ARGS(CLNN_ARG_I32(p->n), CLNN_ARG_I32(p->dim), CLNN_ARG_TENSOR(z1),
                                    CLNN_ARG_TENSOR(z2), CLNN_ARG_F32(r->d->eps), WS(p->o_u), CLNN_ARG_I32(p->ldu),
                                    WS(p->o_ut), CLNN_ARG_I32(p->ldt), WS(p->o_norm)),
                          p->m, r->wg_embed));
  for (int64_t i0 = 0; i0 < p->s_rows; i0 += p->block) {
    const int64_t rows = p->s_rows - i0 < p->block ? p->s_rows - i0 : p->block;
    CLNN_TRY(infonce_sim_block(r->ctx, p, r->ws, i0, rows, r->d->temperature));
    CLNN_TRY(infonce_block_stats(r, i0, rows));
  }
  if (r->kn->gpu) {
    const gpu_mean mean = {p->m, slot_at(r->ws, p->o_rows), NULL, 0, slot_at(r->ws, p->o_parts), NULL,
                           (float)p->m, false, clnn__mem(loss), clnn__off(loss)};
    return launch_mean_gpu(r->ctx, &mean, "loss_infonce");
  }
  return launch_mean(r->ctx, p->m, slot_at(r->ws, p->o_rows), slot_at(r->ws, p->o_parts), NULL, (float)p->m,
                     false, clnn__mem(loss), clnn__off(loss), "loss_infonce");
}

/*
 * dU from one block of the gradient G of S. NT-Xent: G is symmetric, so
 * dU[i0 ..] = G_block U / t. Cross-view: dU1[i0 ..] = G_block U2 / t and
 * dU2 += G_block^T U1[i0 ..] / t (blocks in order).
 */
static clnn_status infonce_block_du(const infonce_run *r, int64_t i0, int64_t rows) {
  const infonce_plan *p = &r->p;
  const float inv_t = 1.0f / r->d->temperature;
  if (!p->cross)
    return ws_gemm(r->ctx, r->ws, rows, p->dim, p->m, inv_t, 0.0f, p->o_s, p->lds, false, p->o_u, p->ldu,
                   p->o_du + i0 * p->ldu, p->ldu);
  CLNN_TRY(ws_gemm(r->ctx, r->ws, rows, p->dim, p->n, inv_t, 0.0f, p->o_s, p->lds, false, p->o_u + p->n * p->ldu,
                   p->ldu, p->o_du + i0 * p->ldu, p->ldu));
  return ws_gemm(r->ctx, r->ws, p->n, p->dim, rows, inv_t, i0 == 0 ? 0.0f : 1.0f, p->o_s, p->lds, true,
                 p->o_u + i0 * p->ldu, p->ldu, p->o_du + p->n * p->ldu, p->ldu);
}

/* Per block: (S again when blocked,) its gradient G in place, dU by GEMM; then dz. */
static clnn_status infonce_backward(const infonce_run *r, clnn_tensor *dz1, clnn_tensor *dz2) {
  const infonce_plan *p = &r->p;
  const float c = r->d->grad_scale / (float)p->m;
  for (int64_t i0 = 0; i0 < p->s_rows; i0 += p->block) {
    const int64_t rows = p->s_rows - i0 < p->block ? p->s_rows - i0 : p->block;
    if (p->block < p->s_rows) CLNN_TRY(infonce_sim_block(r->ctx, p, r->ws, i0, rows, r->d->temperature));
    CLNN_TRY(launch_per_row(r, &r->k_grad,
                            CLNN_ARGS(CLNN_ARG_I32(p->n), CLNN_ARG_I32(i0), WS(p->o_s), CLNN_ARG_I32(p->lds),
                                      WS(p->o_mx), WS(p->o_se), CLNN_ARG_F32(c)),
                            rows, r->wg_rows));
    CLNN_TRY(infonce_block_du(r, i0, rows));
  }
  return launch_per_row(r, &r->k_back,
                        CLNN_ARGS(CLNN_ARG_I32(p->n), CLNN_ARG_I32(p->dim), WS(p->o_u), WS(p->o_du),
                                  CLNN_ARG_I32(p->ldu), WS(p->o_norm), CLNN_ARG_F32(r->d->eps), CLNN_ARG_TENSOR(dz1),
                                  CLNN_ARG_TENSOR(dz2)),
                        p->m, r->wg_embed);
}

#undef WS

/* ------------------------------------------------------------- tables
 * Per pass (fwd: the loss alone; bwd: loss, dz1 and/or dz2 in one call),
 * NT-Xent and the cross-view form alike; the GEMMs are runtime/gemm.c's.
 */
typedef struct infonce_variant {
  clnn_variant v;
  infonce_kernels kernels;
} infonce_variant;

#define INFONCE_CPU_KERNELS                                                                                \
  {"infonce_normalize", "infonce_row_stats", "infonce_cv_row_stats", "infonce_cv_col_stats", "infonce_grad_sym", \
   "infonce_cv_grad", "infonce_normalize_bwd", false}
#define INFONCE_GPU_KERNELS                                                                                  \
  {"infonce_normalize_gpu", "infonce_row_stats_gpu", "infonce_cv_row_stats_gpu", "infonce_cv_col_stats_gpu",     \
   "infonce_grad_sym_gpu", "infonce_cv_grad_gpu", "infonce_normalize_bwd_gpu", true}
#define INFONCE_TABLE(pass)                                                                                     \
  static const infonce_variant infonce_##pass##_table[] = {                                                     \
      {{"loss.infonce_" #pass ".gpu_rows", CLNN_DEVICE_CLASS_GPU, NULL}, INFONCE_GPU_KERNELS},                  \
      {{"loss.infonce_" #pass ".rows16", CLNN_DEVICE_CLASS_CPU, NULL}, INFONCE_CPU_KERNELS},                    \
  };                                                                                                            \
  const clnn_variant_table clnn__loss_infonce_##pass##_variants = {                                            \
      "loss", "infonce_" #pass, &infonce_##pass##_table[0].v,                                                   \
      sizeof infonce_##pass##_table / sizeof infonce_##pass##_table[0], sizeof infonce_##pass##_table[0]}
INFONCE_TABLE(fwd);
INFONCE_TABLE(bwd);

clnn_status clnn_loss_infonce(clnn_context *ctx, const clnn_loss_infonce_desc *desc,
                              const clnn_tensor *z1, const clnn_tensor *z2, clnn_tensor *loss,
                              clnn_tensor *dz1, clnn_tensor *dz2) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(clnn__loss_infonce_desc_check(ctx, desc));
  CLNN_TRY(check_embeddings(ctx, desc, z1, z2, loss, dz1, dz2));
  const bool grads = dz1 || dz2;
  const clnn_variant_table *t = grads ? &clnn__loss_infonce_bwd_variants : &clnn__loss_infonce_fwd_variants;
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, t, desc, &i));
  infonce_run r;
  CLNN_TRY(infonce_setup(&r, ctx, desc, &((const infonce_variant *)CLNN_VARIANT_AT(t, i))->kernels, z1->dtype,
                         dz1 != NULL, dz2 != NULL));
  CLNN_TRY(infonce_forward(&r, z1, z2, loss));
  if (!dz1 && !dz2) return CLNN_SUCCESS;
  return infonce_backward(&r, dz1, dz2);
}
