/*
 * eltwise.c - element-wise ops: add (residual), multiply with broadcast
 * (squeeze-excitation scaling), the fused multiply-add with broadcast
 * factors, scale, and their backward passes (kernels/eltwise.cl).
 *
 * Flat ops run eltwise_vec (16 floats per work-item, groups of 8) over the
 * largest multiple of 128 elements, then eltwise_tail over the rest. The
 * broadcast multiply views x as (outer, inner) rows and s as (outer):
 *  - inner == 1 (s has x's shape): flat, s read element-wise;
 *  - inner % 16 == 0 (e.g. 56 x 56 planes): flat, one s per vector;
 *  - otherwise (7 x 7, 14 x 14 planes): one work-item per row.
 * Its backward, and dalpha of scale, reduce each row in chunks of CHUNK
 * elements (eltwise_rowdot) and sum the chunks in order (eltwise_sum_chunks):
 * the chunking depends on the shape only, so the bits never change.
 */
#include "../runtime/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define VEC 16
#define GROUP 8
#define CHUNK 4096

enum { OP_ADD = 0, OP_SCALE = 1, OP_ADD_BWD = 2, OP_MUL_FULL = 3, OP_MUL_ROW = 4, OP_MUL_BWD_FULL = 5 };

/* ---------------------------------------------------------------- checks */

/* A float32 tensor of ctx with at most 2^31 - 1 elements. */
static clnn_status check_float(clnn_context *ctx, const clnn_tensor *t, const char *name) {
  if (!t) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", name);
  int64_t dims[CLNN_MAX_DIMS];
  memcpy(dims, t->dims, sizeof dims);
  CLNN_TRY(clnn__check_tensor(ctx, t, name, CLNN_FLOAT32, t->ndim, dims)); /* context, dtype */
  if ((int64_t)t->numel > CLNN_INDEX_MAX)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "argument '%s' has %zu elements, over 2^31 - 1",
                      name, t->numel);
  return CLNN_SUCCESS;
}

/* t: float32 of ref's shape. */
static clnn_status check_like(clnn_context *ctx, const clnn_tensor *t, const char *name,
                              const clnn_tensor *ref) {
  return clnn__check_tensor(ctx, t, name, CLNN_FLOAT32, ref->ndim, ref->dims);
}

/* out may be exactly in (same buffer and bytes: in place); any other overlap is aliasing. */
static clnn_status check_inplace(clnn_context *ctx, const clnn_tensor *out, const char *out_name,
                                 const clnn_tensor *in, const char *in_name) {
  if (out && in && out->buf->mem == in->buf->mem && out->offset == in->offset &&
      clnn_tensor_bytes(out) == clnn_tensor_bytes(in))
    return CLNN_SUCCESS;
  return clnn__check_no_overlap(ctx, out, out_name, in, in_name);
}

static clnn_status check_finite(clnn_context *ctx, const char *name, float v) {
  if (!isfinite(v)) return clnn__fail(ctx, CLNN_ERR_NOT_FINITE, "%s = %g is not finite", name, (double)v);
  return CLNN_SUCCESS;
}

/*
 * The broadcast of s over x: same rank, x's leading dimensions, then ones.
 * outer = elements of s, inner = numel(x) / outer.
 */
static clnn_status broadcast_split(clnn_context *ctx, const clnn_tensor *x, const clnn_tensor *s,
                                   int64_t *outer, int64_t *inner) {
  bool ok = s->ndim == x->ndim;
  int lead = 0;
  while (ok && lead < x->ndim && s->dims[lead] == x->dims[lead]) lead++;
  for (int i = lead; ok && i < x->ndim; i++) ok = s->dims[i] == 1;
  if (!ok) {
    char sd[256], xd[256];
    return clnn__fail(ctx, CLNN_ERR_SHAPE_MISMATCH,
                      "argument 's' has shape %s: for x of shape %s it must keep x's leading "
                      "dimensions and be 1 in the others (e.g. [N,C,1,1] for [N,C,H,W])",
                      clnn__dims_str(sd, sizeof sd, s->ndim, s->dims),
                      clnn__dims_str(xd, sizeof xd, x->ndim, x->dims));
  }
  *outer = (int64_t)s->numel;
  *inner = (int64_t)(x->numel / s->numel);
  return CLNN_SUCCESS;
}

/* ---------------------------------------------------------------- launches */

/* The tensors and scalars of one kernel launch (see ELT_ARGS in eltwise.cl). */
typedef struct elt_args {
  const clnn_tensor *a, *b, *c;
  clnn_tensor *y, *z;
  float alpha, beta;
  int64_t inner;
} elt_args;

#define ELT_ARG_LIST(e)                                                                        \
  CLNN_ARG_TENSOR((e)->a), CLNN_ARG_TENSOR((e)->b), CLNN_ARG_TENSOR((e)->c),                   \
      CLNN_ARG_TENSOR((e)->y), CLNN_ARG_TENSOR((e)->z), CLNN_ARG_F32((e)->alpha),               \
      CLNN_ARG_F32((e)->beta), CLNN_ARG_I32((e)->inner)

static void elt_options(char *buf, size_t n, int op, bool has_y, bool has_z) {
  snprintf(buf, n, "-DOP=%d -DHAS_Y=%d -DHAS_Z=%d", op, has_y ? 1 : 0, has_z ? 1 : 0);
}

/* The op on n elements: vectors in groups of 8 work-items, then the tail. */
static clnn_status launch_flat(clnn_context *ctx, int op, int64_t n, const elt_args *e,
                               const char *name) {
  char opts[64];
  elt_options(opts, sizeof opts, op, e->y != NULL, e->z != NULL);
  const int64_t nvec = n / (VEC * GROUP) * GROUP, start = nvec * VEC;
  clnn_kernel_ref k;
  if (nvec > 0) {
    CLNN_TRY(clnn__kernel(ctx, "eltwise", opts, "eltwise_vec", &k));
    size_t global[3] = {(size_t)nvec, 1, 1}, local[3] = {GROUP, 1, 1};
    CLNN_TRY(clnn__launch(ctx, &k, CLNN_ARGS(ELT_ARG_LIST(e)), 1, global, local, name));
  }
  if (start < n) {
    CLNN_TRY(clnn__kernel(ctx, "eltwise", opts, "eltwise_tail", &k));
    size_t global[3] = {(size_t)(n - start), 1, 1}, local[3] = {1, 1, 1};
    CLNN_TRY(clnn__launch(ctx, &k, CLNN_ARGS(CLNN_ARG_I32(start), CLNN_ARG_I32(n), ELT_ARG_LIST(e)),
                          1, global, local, name));
  }
  return CLNN_SUCCESS;
}

/* y = x * s[row] over (outer, inner) rows, by the path that suits inner. */
static clnn_status launch_mul(clnn_context *ctx, const clnn_tensor *x, const clnn_tensor *s,
                              clnn_tensor *y, int64_t outer, int64_t inner, const char *name) {
  elt_args e = {x, s, NULL, y, NULL, 1.0f, 0.0f, inner};
  if (inner == 1) return launch_flat(ctx, OP_MUL_FULL, outer, &e, name);
  if (inner % VEC == 0) return launch_flat(ctx, OP_MUL_ROW, outer * inner, &e, name);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "eltwise", "", "eltwise_mul_rows", &k));
  size_t global[3] = {(size_t)outer, 1, 1}, local[3] = {1, 1, 1};
  return clnn__launch(ctx, &k, CLNN_ARGS(ELT_ARG_LIST(&e)), 1, global, local, name);
}

/*
 * Row reductions: out[o] = sum_i dy[o][i] * x[o][i] over (outer, inner), and
 * optionally dx = dy * s (s[o], or alpha when s is NULL) in the same pass.
 */
static clnn_status launch_rowdot(clnn_context *ctx, const clnn_tensor *dy, const clnn_tensor *x,
                                 const clnn_tensor *s, float alpha, clnn_tensor *dx,
                                 clnn_tensor *out, int64_t outer, int64_t inner, const char *name) {
  const int64_t nchunks = (inner + CHUNK - 1) / CHUNK;
  char opts[96];
  snprintf(opts, sizeof opts, "-DCHUNK=%d -DHAS_Y=%d -DHAS_Z=1 -DSCALAR_S=%d", CHUNK, dx ? 1 : 0,
           s ? 0 : 1);
  clnn_kernel_ref k_dot, k_sum;
  cl_mem parts = NULL;
  CLNN_TRY(clnn__kernel(ctx, "eltwise", opts, "eltwise_rowdot", &k_dot));
  if (nchunks > 1) {
    CLNN_TRY(clnn__kernel(ctx, "eltwise", "", "eltwise_sum_chunks", &k_sum));
    CLNN_TRY(clnn__workspace(ctx, (size_t)(outer * nchunks) * sizeof(float), &parts));
  }
  /* with one chunk per row, the partial sums are the result */
  const cl_mem zmem = parts ? parts : clnn__mem(out);
  const cl_ulong zoff = parts ? 0 : clnn__off(out);
  const size_t local[3] = {1, 1, 1};
  size_t global[3] = {(size_t)nchunks, (size_t)outer, 1};
  CLNN_TRY(clnn__launch(ctx, &k_dot,
                        CLNN_ARGS(CLNN_ARG_TENSOR(dy), CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(s),
                                  CLNN_ARG_TENSOR(dx), CLNN_ARG_MEM(zmem), CLNN_ARG_U64(zoff),
                                  CLNN_ARG_F32(alpha), CLNN_ARG_F32(0.0f), CLNN_ARG_I32(inner)),
                        2, global, local, name));
  if (!parts) return CLNN_SUCCESS;
  size_t global2[3] = {(size_t)outer, 1, 1};
  return clnn__launch(ctx, &k_sum,
                      CLNN_ARGS(CLNN_ARG_MEM(parts), CLNN_ARG_U64(0), CLNN_ARG_TENSOR(NULL),
                                CLNN_ARG_TENSOR(NULL), CLNN_ARG_TENSOR(out), CLNN_ARG_TENSOR(NULL),
                                CLNN_ARG_F32(0.0f), CLNN_ARG_F32(0.0f), CLNN_ARG_I32(nchunks)),
                      1, global2, local, name);
}

/* ------------------------------------------------------------------- ops */

clnn_status clnn_eltwise_add(clnn_context *ctx, float alpha, const clnn_tensor *a, float beta,
                             const clnn_tensor *b, clnn_tensor *y) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(check_finite(ctx, "alpha", alpha));
  CLNN_TRY(check_finite(ctx, "beta", beta));
  CLNN_TRY(check_float(ctx, a, "a"));
  CLNN_TRY(check_like(ctx, b, "b", a));
  CLNN_TRY(check_like(ctx, y, "y", a));
  CLNN_TRY(check_inplace(ctx, y, "y", a, "a"));
  CLNN_TRY(check_inplace(ctx, y, "y", b, "b"));
  elt_args e = {a, b, NULL, y, NULL, alpha, beta, 1};
  return launch_flat(ctx, OP_ADD, (int64_t)a->numel, &e, "eltwise_add");
}

clnn_status clnn_eltwise_add_bwd(clnn_context *ctx, float alpha, float beta, const clnn_tensor *dy,
                                 clnn_tensor *da, clnn_tensor *db) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(check_finite(ctx, "alpha", alpha));
  CLNN_TRY(check_finite(ctx, "beta", beta));
  CLNN_TRY(check_float(ctx, dy, "dy"));
  if (!da && !db) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "da and db are both NULL");
  if (da) CLNN_TRY(check_like(ctx, da, "da", dy));
  if (db) CLNN_TRY(check_like(ctx, db, "db", dy));
  CLNN_TRY(check_inplace(ctx, da, "da", dy, "dy"));
  CLNN_TRY(check_inplace(ctx, db, "db", dy, "dy"));
  CLNN_TRY(clnn__check_no_overlap(ctx, da, "da", db, "db"));
  elt_args e = {dy, NULL, NULL, da, db, alpha, beta, 1};
  return launch_flat(ctx, OP_ADD_BWD, (int64_t)dy->numel, &e, "eltwise_add_bwd");
}

clnn_status clnn_eltwise_mul(clnn_context *ctx, const clnn_tensor *x, const clnn_tensor *s,
                             clnn_tensor *y) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(check_float(ctx, x, "x"));
  CLNN_TRY(check_float(ctx, s, "s"));
  int64_t outer, inner;
  CLNN_TRY(broadcast_split(ctx, x, s, &outer, &inner));
  CLNN_TRY(check_like(ctx, y, "y", x));
  CLNN_TRY(check_inplace(ctx, y, "y", x, "x"));
  CLNN_TRY(inner == 1 ? check_inplace(ctx, y, "y", s, "s") : clnn__check_no_overlap(ctx, y, "y", s, "s"));
  return launch_mul(ctx, x, s, y, outer, inner, "eltwise_mul");
}

clnn_status clnn_eltwise_mul_bwd(clnn_context *ctx, const clnn_tensor *x, const clnn_tensor *s,
                                 const clnn_tensor *dy, clnn_tensor *dx, clnn_tensor *ds) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  if (!dx && !ds) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "dx and ds are both NULL");
  CLNN_TRY(check_float(ctx, dy, "dy"));
  CLNN_TRY(check_float(ctx, s, "s"));
  int64_t outer, inner;
  CLNN_TRY(broadcast_split(ctx, dy, s, &outer, &inner));
  if (ds) {
    CLNN_TRY(check_like(ctx, x, "x", dy));
    CLNN_TRY(check_like(ctx, ds, "ds", s));
    CLNN_TRY(inner == 1 ? check_inplace(ctx, ds, "ds", dy, "dy") : clnn__check_no_overlap(ctx, ds, "ds", dy, "dy"));
    CLNN_TRY(inner == 1 ? check_inplace(ctx, ds, "ds", x, "x") : clnn__check_no_overlap(ctx, ds, "ds", x, "x"));
    CLNN_TRY(clnn__check_no_overlap(ctx, ds, "ds", s, "s"));
  }
  if (dx) {
    CLNN_TRY(check_like(ctx, dx, "dx", dy));
    CLNN_TRY(check_inplace(ctx, dx, "dx", dy, "dy"));
    CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", ds, "ds"));
    if (ds) CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", x, "x"));
    CLNN_TRY(inner == 1 ? check_inplace(ctx, dx, "dx", s, "s") : clnn__check_no_overlap(ctx, dx, "dx", s, "s"));
  }
  if (!ds) return launch_mul(ctx, dy, s, dx, outer, inner, "eltwise_mul_bwd");
  if (inner == 1) {
    elt_args e = {dy, x, s, dx, ds, 1.0f, 0.0f, 1};
    return launch_flat(ctx, OP_MUL_BWD_FULL, outer, &e, "eltwise_mul_bwd");
  }
  return launch_rowdot(ctx, dy, x, s, 1.0f, dx, ds, outer, inner, "eltwise_mul_bwd");
}

clnn_status clnn_eltwise_mul_add(clnn_context *ctx, const clnn_tensor *x, const clnn_tensor *s, float beta,
                                 const clnn_tensor *t, clnn_tensor *y) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(check_finite(ctx, "beta", beta));
  CLNN_TRY(check_float(ctx, x, "x"));
  CLNN_TRY(check_float(ctx, s, "s"));
  int64_t outer, inner;
  CLNN_TRY(broadcast_split(ctx, x, s, &outer, &inner));
  CLNN_TRY(check_like(ctx, t, "t", s));
  CLNN_TRY(check_like(ctx, y, "y", x));
  CLNN_TRY(check_inplace(ctx, y, "y", x, "x"));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", s, "s"));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", t, "t"));
  elt_args e = {x, s, t, y, NULL, 1.0f, beta, inner};
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "eltwise", "", "eltwise_mul_add_rows", &k));
  size_t global[3] = {(size_t)outer, 1, 1}, local[3] = {1, 1, 1};
  return clnn__launch(ctx, &k, CLNN_ARGS(ELT_ARG_LIST(&e)), 1, global, local, "eltwise_mul_add");
}

clnn_status clnn_eltwise_scale(clnn_context *ctx, float alpha, const clnn_tensor *x, clnn_tensor *y) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(check_finite(ctx, "alpha", alpha));
  CLNN_TRY(check_float(ctx, x, "x"));
  CLNN_TRY(check_like(ctx, y, "y", x));
  CLNN_TRY(check_inplace(ctx, y, "y", x, "x"));
  elt_args e = {x, NULL, NULL, y, NULL, alpha, 0.0f, 1};
  return launch_flat(ctx, OP_SCALE, (int64_t)x->numel, &e, "eltwise_scale");
}

clnn_status clnn_eltwise_scale_bwd(clnn_context *ctx, float alpha, const clnn_tensor *x,
                                   const clnn_tensor *dy, clnn_tensor *dx, clnn_tensor *dalpha) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(check_finite(ctx, "alpha", alpha));
  if (!dx && !dalpha) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "dx and dalpha are both NULL");
  CLNN_TRY(check_float(ctx, dy, "dy"));
  if (dx) {
    CLNN_TRY(check_like(ctx, dx, "dx", dy));
    CLNN_TRY(check_inplace(ctx, dx, "dx", dy, "dy"));
  }
  if (!dalpha) {
    elt_args e = {dy, NULL, NULL, dx, NULL, alpha, 0.0f, 1};
    return launch_flat(ctx, OP_SCALE, (int64_t)dy->numel, &e, "eltwise_scale_bwd");
  }
  CLNN_TRY(check_like(ctx, x, "x", dy));
  CLNN_TRY(check_float(ctx, dalpha, "dalpha"));
  if (dalpha->numel != 1) {
    char got[256];
    return clnn__fail(ctx, CLNN_ERR_SHAPE_MISMATCH, "argument 'dalpha' has shape %s, expected one element",
                      clnn__dims_str(got, sizeof got, dalpha->ndim, dalpha->dims));
  }
  CLNN_TRY(clnn__check_no_overlap(ctx, dalpha, "dalpha", dy, "dy"));
  CLNN_TRY(clnn__check_no_overlap(ctx, dalpha, "dalpha", x, "x"));
  CLNN_TRY(clnn__check_no_overlap(ctx, dalpha, "dalpha", dx, "dx"));
  CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", x, "x"));
  return launch_rowdot(ctx, dy, x, NULL, alpha, dx, dalpha, 1, (int64_t)dy->numel, "eltwise_scale_bwd");
}
