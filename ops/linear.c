/*
 * linear.c - the fully connected layer y = act(x W^T + b) and its
 * gradients, as GEMMs on the context's engine (runtime/gemm.c) plus the
 * small kernels of kernels/linear.cl.
 *
 *   forward      Y (n x out)  = X (n x in) . W^T            B = W^T
 *   bwd_data     dX (n x in)  = dY (n x out) . W            B = W, row-major
 *   bwd_weights  dW (out x in) = dY^T . X                   A = dY^T, B = X
 *                db = column sums of dY (fixed order)
 *
 * The own engine reads B either row-major or packed in 32-wide panels; W^T
 * is packed into panels in the workspace (linear_pack_panels), as is any
 * row-major B whose stride is a power of two of 4 KiB or more (rows collide
 * in the cache); dY^T is written out for dW when it fits. CLBlast takes B
 * row-major (W^T is transposed into the workspace) and A transposed as it
 * is. The GEMM's fused bias is per row of C; the linear bias is per column,
 * so the forward pass writes the bias into y first and runs the GEMM with
 * beta = 1 (the activation stays fused in its epilogue).
 *
 * Half precision: x, w, b, y (dy, dx, dw, db) are float32, float16 or
 * bfloat16, all of one type. The GEMMs stay float32 (runtime/gemm.c's
 * engines take float32 operands): a half call widens its operands into
 * float32 copies in the outer workspace, runs the float32 code on them and
 * rounds each result into the caller's tensor once (section "half
 * precision" at the end). An operand the own engine packs into panels
 * anyway (the forward's W^T) is not copied: the packing kernel reads it in
 * its own type.
 */
#include "../desc/desc.h"

#include <stdio.h>
#include <string.h>

#define PANEL_N CLNN_TILE_NR /* the own GEMM's B panels */

/* ---------------------------------------------------------- tensor checks */

/* A tensor of type dt and rows x cols: first dim rows, the others multiplying to cols. */
static clnn_status check_rows(clnn_context *ctx, const clnn_tensor *t, const char *name, int64_t rows,
                              int64_t cols, clnn_dtype dt) {
  if (!t) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", name);
  int64_t want[2] = {rows, cols};
  if (t->ndim < 2) return clnn__check_tensor(ctx, t, name, dt, 2, want);
  int64_t rest = 1;
  for (int i = 1; i < t->ndim; i++) rest *= t->dims[i];
  if (t->dims[0] == rows && rest == cols) {
    int64_t same[CLNN_MAX_DIMS];
    memcpy(same, t->dims, sizeof same);
    return clnn__check_tensor(ctx, t, name, dt, t->ndim, same); /* context and dtype */
  }
  char got[256];
  return clnn__fail(ctx, CLNN_ERR_SHAPE_MISMATCH,
                    "argument '%s' has shape %s, expected %lld rows of %lld features ([%lld,%lld] or [%lld,%lld,1,1])",
                    name, clnn__dims_str(got, sizeof got, t->ndim, t->dims), (long long)rows,
                    (long long)cols, (long long)rows, (long long)cols, (long long)rows, (long long)cols);
}

/* The call's first tensor: of a float type, which *dt receives (the others must share it). */
static clnn_status check_first_rows(clnn_context *ctx, const clnn_tensor *t, const char *name, int64_t rows,
                                    int64_t cols, clnn_dtype *dt) {
  CLNN_TRY(clnn__check_float_type(ctx, t, name, dt));
  return check_rows(ctx, t, name, rows, cols, *dt);
}

static clnn_status check_weight(clnn_context *ctx, const clnn_linear_desc *d, const clnn_tensor *w,
                                const char *name, clnn_dtype dt) {
  int64_t wd[2] = {d->out_features, d->in_features};
  return clnn__check_tensor(ctx, w, name, dt, 2, wd);
}

static clnn_status check_bias(clnn_context *ctx, const clnn_linear_desc *d, const clnn_tensor *b,
                              const char *name, clnn_dtype dt) {
  return clnn__check_tensor(ctx, b, name, dt, 1, &d->out_features);
}

/* --------------------------------------------------------- B operands */

static int64_t panel_elems(int64_t n, int64_t k) { return (n + PANEL_N - 1) / PANEL_N * PANEL_N * k; }

/*
 * A GEMM whose B is a K x N operand t: stored row-major with row stride ld,
 * or when trans, t holds its transpose (N x K, row stride ld). The CPU
 * engine reads neither a transposed B nor rows at a bad stride fast, so
 * there B is packed into panels in the workspace chunk of columns by chunk
 * of columns (the workspace limit bounds the scratch); the GPU engine and
 * CLBlast read t as it is. The packed copy
 * starts `reserve` floats into the workspace (the caller's own scratch
 * comes first). gemm_prepare checks and allocates everything before any
 * enqueue; gemm_run enqueues.
 */
typedef struct b_operand {
  const clnn_tensor *t;
  int64_t ld;
  bool trans;
  bool pack;       /* copied into the workspace */
  int64_t cols;    /* columns per chunk when packed */
  int64_t ws_off;  /* where the copy starts in the workspace (floats) */
  cl_mem ws;
  clnn_kernel_ref pack_kernel;
} b_operand;

static int64_t workspace_floats(const clnn_context *ctx) { return (int64_t)(ctx->workspace_limit / sizeof(float)); }

/* Columns of a K-deep packed operand that fit after reserve floats (a multiple of 32, 0 if none). */
static int64_t packable_cols(const clnn_context *ctx, int64_t k, int64_t reserve) {
  int64_t room = workspace_floats(ctx) - reserve;
  return room <= 0 ? 0 : room / k / PANEL_N * PANEL_N;
}

/* Whether B (row stride ld, transposed or not) is packed into panels: the
 * own engine reads neither a transposed B nor rows at a bad stride fast;
 * the other engines read B transposed as it is. */
static bool b_packed(const clnn_context *ctx, int64_t ld, bool trans) {
  return clnn__use_own_gemm(ctx) && (trans || clnn__bad_stride(ld));
}

static clnn_status gemm_prepare(clnn_context *ctx, const clnn_gemm_job *j, const clnn_tensor *t,
                                int64_t ld, bool trans, int64_t reserve, b_operand *b) {
  memset(b, 0, sizeof *b);
  b->t = t;
  b->ld = ld;
  b->trans = trans;
  b->pack = b_packed(ctx, ld, trans);
  b->ws_off = reserve;
  if (!b->pack) return reserve ? clnn__workspace(ctx, (size_t)reserve * sizeof(float), &b->ws) : CLNN_SUCCESS;
  b->cols = packable_cols(ctx, j->k, reserve);
  if (b->cols < PANEL_N)
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED,
                      "%lld x %d floats of packed GEMM operand exceed the workspace limit of %zu bytes",
                      (long long)j->k, PANEL_N, ctx->workspace_limit);
  if (b->cols > j->n) b->cols = j->n;
  char opts[32]; /* t may be a half tensor: packing widens it to float32 */
  snprintf(opts, sizeof opts, "-DTRANS=%d -DDT=%d", trans ? 1 : 0, (int)t->dtype);
  CLNN_TRY(clnn__kernel(ctx, "linear", opts, "linear_pack_panels", &b->pack_kernel));
  return clnn__workspace(ctx, (size_t)(reserve + panel_elems(b->cols, j->k)) * sizeof(float), &b->ws);
}

/* Pack columns [c0, c0 + nc) of B into the workspace and point j at them. */
static clnn_status pack_chunk(clnn_context *ctx, const b_operand *b, clnn_gemm_job *j, int64_t c0,
                              int64_t nc, const char *op) {
  /* first element of the chunk in t: row c0 of the transpose, or column c0 */
  const cl_ulong t_off = clnn__off(b->t) + (cl_ulong)(b->trans ? c0 * b->ld : c0);
  const size_t global[3] = {(size_t)clnn__ceil_div(j->k, CLNN_LINEAR_PACK_KB), (size_t)clnn__ceil_div(nc, PANEL_N), 1};
  const size_t local[3] = {1, 1, 1};
  CLNN_TRY(clnn__launch(ctx, &b->pack_kernel,
                        CLNN_ARGS(CLNN_ARG_I32(j->k), CLNN_ARG_I32(nc), CLNN_ARG_MEM(clnn__mem(b->t)),
                                  CLNN_ARG_U64(t_off), CLNN_ARG_I32(b->ld), CLNN_ARG_MEM(b->ws),
                                  CLNN_ARG_U64(b->ws_off)),
                        2, global, local, op));
  j->ldb = PANEL_N;
  j->b_layout = CLNN_B_PANELS;
  j->b = b->ws;
  j->b_off = (size_t)b->ws_off;
  return CLNN_SUCCESS;
}

static clnn_status gemm_run(clnn_context *ctx, clnn_gemm_job j, const b_operand *b, const char *op) {
  if (!b->pack) {
    j.b = clnn__mem(b->t);
    j.b_off = (size_t)clnn__off(b->t);
    j.ldb = b->ld;
    j.b_layout = CLNN_B_ROWMAJOR;
    j.b_trans = b->trans;
    return clnn__gemm_run(ctx, &j, op);
  }
  const int64_t n_total = j.n;
  const size_t c_off0 = j.c_off;
  for (int64_t c0 = 0; c0 < n_total; c0 += b->cols) {
    const int64_t nc = n_total - c0 < b->cols ? n_total - c0 : b->cols;
    CLNN_TRY(pack_chunk(ctx, b, &j, c0, nc, op));
    j.n = nc;
    j.c_off = c_off0 + (size_t)c0;
    CLNN_TRY(clnn__gemm_run(ctx, &j, op));
  }
  return CLNN_SUCCESS;
}

/* Build the GEMM kernels gemm_run(j, b) launches (a chunk width's each: the
 * full chunk and the last), launching nothing: a build that fails then
 * fails before anything is written. */
static clnn_status gemm_build(clnn_context *ctx, clnn_gemm_job j, const b_operand *b) {
  if (!b->pack) {
    j.b_layout = CLNN_B_ROWMAJOR;
    j.b_trans = b->trans;
    return clnn__gemm_prepare(ctx, &j);
  }
  j.b_layout = CLNN_B_PANELS;
  const int64_t n_total = j.n, last = n_total % b->cols;
  j.n = b->cols < n_total ? b->cols : n_total;
  CLNN_TRY(clnn__gemm_prepare(ctx, &j));
  j.n = last;
  return n_total > b->cols && last ? clnn__gemm_prepare(ctx, &j) : CLNN_SUCCESS;
}

/* ------------------------------------------------------------- variants
 * The GEMMs plan themselves (gemm.mm); what the linear variants choose is
 * the shape of the bias kernels around them: one row per work-item (CPU)
 * or one element per work-item, coalesced (GPU). */

typedef struct linear_variant {
  clnn_variant v;
  const char *bias_kernel; /* fwd: fills y with the bias; bwd_w: the bias gradient */
  bool gpu;
} linear_variant;

static const linear_variant fwd_variants[] = {
    {{"linear.fwd.gpu_gemm", CLNN_DEVICE_CLASS_GPU, NULL}, "linear_fill_bias_gpu", true},
    {{"linear.fwd.gemm", CLNN_DEVICE_CLASS_CPU, NULL}, "linear_fill_bias", false},
};
static const linear_variant bwd_data_variants[] = {
    {{"linear.bwd_d.gemm", CLNN_CLASS_ANY, NULL}, NULL, false},
};
static const linear_variant bwd_weights_variants[] = {
    {{"linear.bwd_w.gpu_gemm", CLNN_DEVICE_CLASS_GPU, NULL}, "linear_bias_grad_gpu", true},
    {{"linear.bwd_w.gemm", CLNN_DEVICE_CLASS_CPU, NULL}, "linear_bias_grad", false},
};
#define LINEAR_TABLE(sym, pass, arr) \
  const clnn_variant_table sym = {"linear", pass, &arr[0].v, sizeof arr / sizeof arr[0], sizeof arr[0]}
LINEAR_TABLE(clnn__linear_fwd_variants, "fwd", fwd_variants);
LINEAR_TABLE(clnn__linear_bwd_data_variants, "bwd_d", bwd_data_variants);
LINEAR_TABLE(clnn__linear_bwd_weights_variants, "bwd_w", bwd_weights_variants);

static clnn_status pick(clnn_context *ctx, const clnn_variant_table *t, const clnn_linear_desc *d,
                        const linear_variant **out) {
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, t, d, &i));
  *out = (const linear_variant *)CLNN_VARIANT_AT(t, i);
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------- float32 passes */

/* The forward on float32 x, b, y (w float32, or of a half type when the own engine packs it). */
static clnn_status fwd_run(clnn_context *ctx, const clnn_linear_desc *d, const clnn_tensor *x, const clnn_tensor *w,
                           const clnn_tensor *b, clnn_tensor *y) {
  clnn_gemm_job j = clnn__gemm_job(d->n, d->out_features, d->in_features);
  j.a = clnn__mem(x);
  j.a_off = (size_t)clnn__off(x);
  j.lda = d->in_features;
  j.c = clnn__mem(y);
  j.c_off = (size_t)clnn__off(y);
  j.ldc = d->out_features;
  j.act = d->act;
  j.act_alpha = d->act_alpha;
  const linear_variant *v;
  CLNN_TRY(pick(ctx, &clnn__linear_fwd_variants, d, &v));
  b_operand bw;
  CLNN_TRY(gemm_prepare(ctx, &j, w, d->in_features, true, 0, &bw));
  if (b) {
    clnn_kernel_ref k;
    CLNN_TRY(clnn__kernel(ctx, "linear", "", v->bias_kernel, &k));
    CLNN_TRY(gemm_build(ctx, j, &bw)); /* the bias goes into y first */
    if (v->gpu) {
      size_t global[2] = {(size_t)d->out_features, (size_t)d->n}, local[2] = {64, 1};
      CLNN_TRY(clnn__launch(ctx, &k,
                            CLNN_ARGS(CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->out_features), CLNN_ARG_TENSOR(b),
                                      CLNN_ARG_TENSOR(y)),
                            2, global, local, "linear_fwd:bias"));
    } else {
      size_t global[3] = {(size_t)d->n, 1, 1}, local[3] = {1, 1, 1};
      CLNN_TRY(clnn__launch(ctx, &k,
                            CLNN_ARGS(CLNN_ARG_I32(d->out_features), CLNN_ARG_TENSOR(b), CLNN_ARG_TENSOR(y)),
                            1, global, local, "linear_fwd:bias"));
    }
    j.beta = 1.0f;
  }
  return gemm_run(ctx, j, &bw, "linear_fwd");
}

/* dX = dY W on float32 dy, dx (w float32, or of a half type when the own engine packs it). */
static clnn_status bwd_data_run(clnn_context *ctx, const clnn_linear_desc *d, const clnn_tensor *dy,
                                const clnn_tensor *w, clnn_tensor *dx) {
  clnn_gemm_job j = clnn__gemm_job(d->n, d->in_features, d->out_features);
  j.a = clnn__mem(dy);
  j.a_off = (size_t)clnn__off(dy);
  j.lda = d->out_features;
  j.c = clnn__mem(dx);
  j.c_off = (size_t)clnn__off(dx);
  j.ldc = d->in_features;
  const linear_variant *v;
  CLNN_TRY(pick(ctx, &clnn__linear_bwd_data_variants, d, &v));
  b_operand bw;
  CLNN_TRY(gemm_prepare(ctx, &j, w, d->in_features, false, 0, &bw));
  return gemm_run(ctx, j, &bw, "linear_bwd_data");
}

/*
 * dW = dY^T X (M = out, N = in, K = n), overwriting or accumulating. The own
 * engine's tile kernel reads a row-major A about twice as fast as a
 * transposed one, so dY^T is first written to the workspace (before the
 * packed X, if X needs packing) when both fit; otherwise the GEMM reads dY
 * transposed in place. CLBlast takes the transposed A as it is.
 */
static clnn_status weight_grad(clnn_context *ctx, const clnn_linear_desc *d, const clnn_tensor *x,
                               const clnn_tensor *dy, clnn_tensor *dw, int accumulate) {
  const char *op = "linear_bwd_weights";
  clnn_gemm_job j = clnn__gemm_job(d->out_features, d->in_features, d->n);
  j.c = clnn__mem(dw);
  j.c_off = (size_t)clnn__off(dw);
  j.ldc = d->in_features;
  j.beta = accumulate ? 1.0f : 0.0f;
  const int64_t ldt = clnn__bad_stride(d->n) ? d->n + 16 : d->n, at_elems = d->out_features * ldt;
  const bool x_packed = clnn__bad_stride(d->in_features);
  const bool transpose_a = clnn__use_own_gemm(ctx) &&
                           (x_packed ? packable_cols(ctx, d->n, at_elems) >= PANEL_N
                                     : at_elems <= workspace_floats(ctx));
  b_operand bx;
  CLNN_TRY(gemm_prepare(ctx, &j, x, d->in_features, false, transpose_a ? at_elems : 0, &bx));
  if (!transpose_a) {
    j.a = clnn__mem(dy);
    j.a_off = (size_t)clnn__off(dy);
    j.lda = d->out_features;
    j.a_trans = true;
    return gemm_run(ctx, j, &bx, op);
  }
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "linear", "", "linear_transpose_blocks", &k));
  const size_t global[3] = {(size_t)((d->out_features + 15) / 16), (size_t)((d->n + 15) / 16), 1};
  const size_t local[3] = {1, 1, 1};
  CLNN_TRY(clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->out_features), CLNN_ARG_TENSOR(dy),
                                  CLNN_ARG_I32(d->out_features), CLNN_ARG_MEM(bx.ws), CLNN_ARG_U64(0),
                                  CLNN_ARG_I32(ldt)),
                        2, global, local, "linear_bwd_weights:transpose"));
  j.a = bx.ws;
  j.a_off = 0;
  j.lda = ldt;
  return gemm_run(ctx, j, &bx, op);
}

/* dW and db on float32 dy, dw, db (x float32, or of a half type when the own engine packs it). */
static clnn_status bwd_weights_run(clnn_context *ctx, const clnn_linear_desc *d, const clnn_tensor *x,
                                   const clnn_tensor *dy, clnn_tensor *dw, clnn_tensor *db, int accumulate) {
  const linear_variant *v;
  CLNN_TRY(pick(ctx, &clnn__linear_bwd_weights_variants, d, &v));
  /* The bias gradient's kernel is built before dw is written. */
  char opts[32];
  snprintf(opts, sizeof opts, "-DACCUMULATE=%d", accumulate);
  clnn_kernel_ref k = {NULL, NULL};
  if (db) CLNN_TRY(clnn__kernel(ctx, "linear", opts, v->bias_kernel, &k));
  if (dw) CLNN_TRY(weight_grad(ctx, d, x, dy, dw, accumulate));
  if (db) {
    size_t global[3] = {(size_t)(v->gpu ? d->out_features : (d->out_features + 15) / 16), 1, 1};
    size_t local[3] = {v->gpu ? 64 : 1, 1, 1};
    CLNN_TRY(clnn__launch(ctx, &k,
                          CLNN_ARGS(CLNN_ARG_I32(d->n), CLNN_ARG_I32(d->out_features),
                                    CLNN_ARG_TENSOR(dy), CLNN_ARG_TENSOR(db)),
                          1, global, local, "linear_bwd_weights:bias"));
  }
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------ half precision
 * A float16 / bfloat16 call runs the float32 code above unchanged on
 * float32 copies of its tensors (clnn__stage_*, in the outer workspace; the
 * GEMMs and the packing use the inner one): inputs are widened, results
 * rounded into the caller's tensors once. Outputs are written only by that
 * last step. A gradient accumulated onto (accumulate = 1) is widened first,
 * so old value plus sum is rounded once. An operand the GEMM packs is read
 * as it is: the packing widens it.
 */

/* An operand the GEMM reads as it is (packed), else a copy. */
static const clnn_tensor *stage_operand(clnn_stage *s, const clnn_tensor *t, bool packed) {
  return packed ? t : clnn__stage_copy(s, t);
}

/* copy = t widened, unless the operand is t itself (packed). */
static clnn_status widen(clnn_stage *s, const clnn_tensor *t, const clnn_tensor *copy) {
  return copy == t ? CLNN_SUCCESS : clnn__stage_widen(s, t, copy);
}

static clnn_status fwd_half(clnn_context *ctx, const clnn_linear_desc *d, const clnn_tensor *x, const clnn_tensor *w,
                            const clnn_tensor *b, clnn_tensor *y) {
  clnn_stage s;
  clnn__stage_init(&s, ctx, y->dtype, "linear_fwd:convert");
  const clnn_tensor *x32 = clnn__stage_copy(&s, x), *b32 = clnn__stage_copy(&s, b);
  const clnn_tensor *w32 = stage_operand(&s, w, b_packed(ctx, d->in_features, true));
  clnn_tensor *y32 = clnn__stage_copy(&s, y);
  CLNN_TRY(clnn__stage_alloc(&s));
  CLNN_TRY(widen(&s, x, x32));
  CLNN_TRY(widen(&s, w, w32));
  CLNN_TRY(widen(&s, b, b32));
  CLNN_TRY(fwd_run(ctx, d, x32, w32, b32, y32));
  return clnn__stage_round(&s, y32, y);
}

static clnn_status bwd_data_half(clnn_context *ctx, const clnn_linear_desc *d, const clnn_tensor *dy,
                                 const clnn_tensor *w, clnn_tensor *dx) {
  clnn_stage s;
  clnn__stage_init(&s, ctx, dx->dtype, "linear_bwd_data:convert");
  const clnn_tensor *dy32 = clnn__stage_copy(&s, dy);
  const clnn_tensor *w32 = stage_operand(&s, w, b_packed(ctx, d->in_features, false));
  clnn_tensor *dx32 = clnn__stage_copy(&s, dx);
  CLNN_TRY(clnn__stage_alloc(&s));
  CLNN_TRY(widen(&s, dy, dy32));
  CLNN_TRY(widen(&s, w, w32));
  CLNN_TRY(bwd_data_run(ctx, d, dy32, w32, dx32));
  return clnn__stage_round(&s, dx32, dx);
}

static clnn_status bwd_weights_half(clnn_context *ctx, const clnn_linear_desc *d, const clnn_tensor *x,
                                    const clnn_tensor *dy, clnn_tensor *dw, clnn_tensor *db, int accumulate) {
  clnn_stage s;
  clnn__stage_init(&s, ctx, dy->dtype, "linear_bwd_weights:convert");
  const clnn_tensor *dy32 = clnn__stage_copy(&s, dy);
  const clnn_tensor *x32 = dw ? stage_operand(&s, x, b_packed(ctx, d->in_features, false)) : NULL;
  clnn_tensor *dw32 = clnn__stage_copy(&s, dw), *db32 = clnn__stage_copy(&s, db);
  CLNN_TRY(clnn__stage_alloc(&s));
  CLNN_TRY(widen(&s, dy, dy32));
  if (dw) CLNN_TRY(widen(&s, x, x32));
  if (accumulate) {
    CLNN_TRY(widen(&s, dw, dw32));
    CLNN_TRY(widen(&s, db, db32));
  }
  CLNN_TRY(bwd_weights_run(ctx, d, x32, dy32, dw32, db32, accumulate));
  CLNN_TRY(clnn__stage_round(&s, dw32, dw));
  return clnn__stage_round(&s, db32, db);
}

/* ---------------------------------------------------------------- ops */

clnn_status clnn_linear_fwd(clnn_context *ctx, const clnn_linear_desc *desc, const clnn_tensor *x,
                            const clnn_tensor *w, const clnn_tensor *b, clnn_tensor *y) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(clnn__linear_desc_check(ctx, desc));
  const clnn_linear_desc *d = desc;
  clnn_dtype dt;
  CLNN_TRY(check_first_rows(ctx, x, "x", d->n, d->in_features, &dt));
  CLNN_TRY(check_weight(ctx, d, w, "w", dt));
  if (b) CLNN_TRY(check_bias(ctx, d, b, "b", dt));
  CLNN_TRY(check_rows(ctx, y, "y", d->n, d->out_features, dt));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", x, "x"));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", w, "w"));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", b, "b"));
  if (d->n == 0) return CLNN_SUCCESS; /* no rows: y is empty */
  return dt == CLNN_FLOAT32 ? fwd_run(ctx, d, x, w, b, y) : fwd_half(ctx, d, x, w, b, y);
}

clnn_status clnn_linear_bwd_data(clnn_context *ctx, const clnn_linear_desc *desc,
                                 const clnn_tensor *dy, const clnn_tensor *w, clnn_tensor *dx) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(clnn__linear_desc_check(ctx, desc));
  const clnn_linear_desc *d = desc;
  clnn_dtype dt;
  CLNN_TRY(check_first_rows(ctx, dy, "dy", d->n, d->out_features, &dt));
  CLNN_TRY(check_weight(ctx, d, w, "w", dt));
  CLNN_TRY(check_rows(ctx, dx, "dx", d->n, d->in_features, dt));
  CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", dy, "dy"));
  CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", w, "w"));
  if (d->n == 0) return CLNN_SUCCESS; /* no rows: dx is empty */
  return dt == CLNN_FLOAT32 ? bwd_data_run(ctx, d, dy, w, dx) : bwd_data_half(ctx, d, dy, w, dx);
}

clnn_status clnn_linear_bwd_weights(clnn_context *ctx, const clnn_linear_desc *desc,
                                    const clnn_tensor *x, const clnn_tensor *dy, clnn_tensor *dw,
                                    clnn_tensor *db, int accumulate) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(clnn__linear_desc_check(ctx, desc));
  const clnn_linear_desc *d = desc;
  if (!dw && !db) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "dw and db are both NULL");
  if (accumulate != 0 && accumulate != 1)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "accumulate = %d is not 0 or 1", accumulate);
  clnn_dtype dt;
  CLNN_TRY(check_first_rows(ctx, dy, "dy", d->n, d->out_features, &dt));
  if (dw) {
    CLNN_TRY(check_rows(ctx, x, "x", d->n, d->in_features, dt));
    CLNN_TRY(check_weight(ctx, d, dw, "dw", dt));
    CLNN_TRY(clnn__check_no_overlap(ctx, dw, "dw", x, "x"));
    CLNN_TRY(clnn__check_no_overlap(ctx, dw, "dw", dy, "dy"));
    CLNN_TRY(clnn__check_no_overlap(ctx, dw, "dw", db, "db"));
  }
  if (db) {
    CLNN_TRY(check_bias(ctx, d, db, "db", dt));
    CLNN_TRY(clnn__check_no_overlap(ctx, db, "db", dy, "dy"));
    CLNN_TRY(clnn__check_no_overlap(ctx, db, "db", x, "x"));
  }
  if (d->n == 0) { /* no rows: the gradients are sums over nothing, 0 (or unchanged when accumulating) */
    if (dw && !accumulate) CLNN_TRY(clnn__zero_tensor(ctx, dw));
    if (db && !accumulate) CLNN_TRY(clnn__zero_tensor(ctx, db));
    return CLNN_SUCCESS;
  }
  return dt == CLNN_FLOAT32 ? bwd_weights_run(ctx, d, x, dy, dw, db, accumulate)
                            : bwd_weights_half(ctx, d, x, dy, dw, db, accumulate);
}
