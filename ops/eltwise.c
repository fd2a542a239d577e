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
 * Those are the CPU-class variants; the GPU-class ones (float4 grid-stride
 * kernels, work-group tree reductions) and the tables are at the end.
 *
 * The tensors of a call are float32, float16 or bfloat16, all of one type
 * (the first tensor's): every kernel is built with -DDT=<type> and loads
 * and stores through common.h's LOAD / STORE macros, with float32 math and
 * one rounding on store. The reductions' partial sums stay float32 in the
 * workspace; a gradient is rounded to the type once, when stored.
 */
#include "../runtime/internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define VEC 16
#define GROUP 8
#define CHUNK CLNN_ELTWISE_CHUNK /* elements per chunk of the CPU row reduction (kernels/shared.h) */

/* ---------------------------------------------------------------- checks */

/* A tensor of ctx of type dt with at most 2^31 - 1 elements. */
static clnn_status check_float(clnn_context *ctx, const clnn_tensor *t, const char *name, clnn_dtype dt) {
  if (!t) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", name);
  int64_t dims[CLNN_MAX_DIMS];
  memcpy(dims, t->dims, sizeof dims);
  CLNN_TRY(clnn__check_tensor(ctx, t, name, dt, t->ndim, dims)); /* context, dtype */
  if ((int64_t)t->numel > CLNN_INDEX_MAX)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "argument '%s' has %zu elements, over 2^31 - 1",
                      name, t->numel);
  return CLNN_SUCCESS;
}

/* The call's first tensor: of a float type, which *dt receives (the others must share it). */
static clnn_status check_first(clnn_context *ctx, const clnn_tensor *t, const char *name, clnn_dtype *dt) {
  CLNN_TRY(clnn__check_float_type(ctx, t, name, dt));
  return check_float(ctx, t, name, *dt);
}

/* t: of ref's type and shape. */
static clnn_status check_like(clnn_context *ctx, const clnn_tensor *t, const char *name,
                              const clnn_tensor *ref) {
  return clnn__check_tensor(ctx, t, name, ref->dtype, ref->ndim, ref->dims);
}

/* The op's name for profiles: "eltwise_add", "eltwise_add:float16". */
static const char *op_name(char *buf, size_t n, const char *op, clnn_dtype dt) {
  snprintf(buf, n, "%s%s%s", op, dt == CLNN_FLOAT32 ? "" : ":", dt == CLNN_FLOAT32 ? "" : clnn_dtype_name(dt));
  return buf;
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
  /* inner from x's trailing dims, not numel(x) / numel(s): s may be empty */
  int64_t n = 1;
  for (int i = lead; i < x->ndim; i++) n *= x->dims[i];
  *outer = (int64_t)s->numel;
  *inner = n;
  return CLNN_SUCCESS;
}

/* ---------------------------------------------------------------- launches */

/* The tensors and scalars of one kernel launch (see ELT_ARGS in eltwise.cl). */
typedef struct elt_args {
  const clnn_tensor *a, *b, *c;
  clnn_tensor *y, *z;
  float alpha, beta;
  int64_t inner;
  clnn_dtype dt; /* of every tensor (-DDT) */
} elt_args;

#define ELT_ARG_LIST(e)                                                                        \
  CLNN_ARG_TENSOR((e)->a), CLNN_ARG_TENSOR((e)->b), CLNN_ARG_TENSOR((e)->c),                   \
      CLNN_ARG_TENSOR((e)->y), CLNN_ARG_TENSOR((e)->z), CLNN_ARG_F32((e)->alpha),               \
      CLNN_ARG_F32((e)->beta), CLNN_ARG_I32((e)->inner)

/*
 * bfloat16 flat kernels move element pairs as uints (common.h's BF16_PAIRS:
 * PoCL widens and narrows ushort vectors element by element, which made a
 * bfloat16 add slower than a float32 one) when every pointer they form is
 * 4-byte aligned: each tensor at an even element offset (the vectors start
 * at multiples of 16 elements).
 */
static bool bf16_pairs_fit(const elt_args *e) {
  const clnn_tensor *t[5] = {e->a, e->b, e->c, e->y, e->z};
  if (e->dt != CLNN_BFLOAT16) return false;
  for (int i = 0; i < 5; i++)
    if (t[i] && clnn__off(t[i]) % 2) return false;
  return true;
}

static void elt_options(char *buf, size_t n, int op, const elt_args *e) {
  snprintf(buf, n, "-DOP=%d -DHAS_Y=%d -DHAS_Z=%d -DDT=%d -DBF16_PAIRS=%d", op, e->y ? 1 : 0, e->z ? 1 : 0,
           (int)e->dt, bf16_pairs_fit(e) ? 1 : 0);
}

/* The op on n elements: vectors in groups of 8 work-items, then the tail. */
static clnn_status launch_flat(clnn_context *ctx, int op, int64_t n, const elt_args *e,
                               const char *name) {
  char opts[80];
  elt_options(opts, sizeof opts, op, e);
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

/*
 * Row reductions: out[o] = sum_i dy[o][i] * x[o][i] over (outer, inner), and
 * optionally dx = dy * s (s[o], or alpha when s is NULL) in the same pass.
 * The chunk sums are float32 (the workspace); with one chunk per row the
 * first launch stores the result itself, in dy's type (-DZ_DT).
 */
static clnn_status launch_rowdot(clnn_context *ctx, const clnn_tensor *dy, const clnn_tensor *x,
                                 const clnn_tensor *s, float alpha, clnn_tensor *dx,
                                 clnn_tensor *out, int64_t outer, int64_t inner, const char *name) {
  const int64_t nchunks = (inner + CHUNK - 1) / CHUNK;
  const clnn_dtype dt = dy->dtype, zdt = nchunks > 1 ? CLNN_FLOAT32 : dt;
  char opts[96], sum_opts[16];
  snprintf(opts, sizeof opts, "-DHAS_Y=%d -DHAS_Z=1 -DSCALAR_S=%d -DDT=%d -DZ_DT=%d", dx ? 1 : 0, s ? 0 : 1, (int)dt,
           (int)zdt);
  snprintf(sum_opts, sizeof sum_opts, "-DDT=%d", (int)dt);
  clnn_kernel_ref k_dot, k_sum;
  cl_mem parts = NULL;
  CLNN_TRY(clnn__kernel(ctx, "eltwise", opts, "eltwise_rowdot", &k_dot));
  if (nchunks > 1) {
    CLNN_TRY(clnn__kernel(ctx, "eltwise", sum_opts, "eltwise_sum_chunks", &k_sum));
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


/* ------------------------------------------------------------- variants
 * One table per pass. Each pass's call is an elt_call: the kernel tensors
 * and scalars in the roles of ELT_ARGS (per pass below), the element count
 * and the broadcast's rows.
 *   add_fwd    a, b -> y           add_bwd    a = dy -> y = da, z = db
 *   scale_fwd  a = x -> y          scale_bwd  a = dy, b = x -> y = dx, z = dalpha
 *   mul_fwd    a = x, b = s -> y   mul_bwd    a = dy, b = x, c = s -> y = dx, z = ds
 *   mul_add_fwd  a = x, b = s, c = t -> y
 * CPU class: today's kernels, chosen by the same tests as before (float16
 * per work-item in groups of 8; rows of a broadcast one work-item each;
 * reductions in chunks of CHUNK). GPU class: eltwise_gpu (float4, grid
 * stride, work-groups of 256) and the tree reductions.
 * A backward with only dx (mul, scale) is the forward applied to dy: it is
 * planned as that forward (a nested plan, "...as_fwd,...fwd.<variant>").
 */

typedef struct elt_call {
  elt_args e;
  int64_t n;     /* elements (outer * inner for the broadcast ops) */
  int64_t outer; /* rows of the broadcast: elements of s */
  const char *op;
} elt_call;

typedef struct elt_variant {
  clnn_variant v;
  clnn_status (*run)(clnn_context *ctx, const elt_call *c);
} elt_variant;

static const elt_call *as_call(const void *problem) { return (const elt_call *)problem; }

static bool full_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  return as_call(problem)->e.inner == 1 || clnn__why(why, n, "s does not have x's shape");
}

static bool row16_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const int64_t inner = as_call(problem)->e.inner;
  return (inner > 1 && inner % VEC == 0) || clnn__why(why, n, "rows of %lld elements, not a multiple of %d",
                                                       (long long)inner, VEC);
}

/* The backward asks for the factor's gradient (ds, dalpha). */
static bool reduces_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  return as_call(problem)->e.z != NULL || clnn__why(why, n, "no gradient of the factor is asked for");
}

static bool dx_only_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  return as_call(problem)->e.z == NULL || clnn__why(why, n, "the factor's gradient is asked for");
}

static bool full_reduces_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  return reduces_applies(ctx, problem, why, n) && full_applies(ctx, problem, why, n);
}

/* Plan call c on table t and run the variant. */
static clnn_status plan_run(clnn_context *ctx, const clnn_variant_table *t, const elt_call *c) {
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, t, c, &i));
  return ((const elt_variant *)CLNN_VARIANT_AT(t, i))->run(ctx, c);
}

/* ------------------------------------------------ CPU-class launches */

static clnn_status add_vec16(clnn_context *ctx, const elt_call *c) {
  return launch_flat(ctx, CLNN_ELTWISE_OP_ADD, c->n, &c->e, c->op);
}
static clnn_status add_bwd_vec16(clnn_context *ctx, const elt_call *c) {
  return launch_flat(ctx, CLNN_ELTWISE_OP_ADD_BWD, c->n, &c->e, c->op);
}
static clnn_status scale_vec16(clnn_context *ctx, const elt_call *c) {
  return launch_flat(ctx, CLNN_ELTWISE_OP_SCALE, c->n, &c->e, c->op);
}
static clnn_status scale_bwd_rowdot(clnn_context *ctx, const elt_call *c) {
  return launch_rowdot(ctx, c->e.a, c->e.b, NULL, c->e.alpha, c->e.y, c->e.z, 1, c->n, c->op);
}
static clnn_status mul_full_vec16(clnn_context *ctx, const elt_call *c) {
  return launch_flat(ctx, CLNN_ELTWISE_OP_MUL_FULL, c->outer, &c->e, c->op);
}
static clnn_status mul_row_vec16(clnn_context *ctx, const elt_call *c) {
  return launch_flat(ctx, CLNN_ELTWISE_OP_MUL_ROW, c->n, &c->e, c->op);
}

/* One work-item per row: kernel (eltwise_mul_rows, eltwise_mul_add_rows) over outer rows. */
static clnn_status launch_rows(clnn_context *ctx, const char *kernel, const elt_call *c) {
  char opts[16];
  snprintf(opts, sizeof opts, "-DDT=%d", (int)c->e.dt);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "eltwise", opts, kernel, &k));
  size_t global[3] = {(size_t)c->outer, 1, 1}, local[3] = {1, 1, 1};
  return clnn__launch(ctx, &k, CLNN_ARGS(ELT_ARG_LIST(&c->e)), 1, global, local, c->op);
}
static clnn_status mul_rows(clnn_context *ctx, const elt_call *c) { return launch_rows(ctx, "eltwise_mul_rows", c); }
static clnn_status mul_add_rows(clnn_context *ctx, const elt_call *c) {
  return launch_rows(ctx, "eltwise_mul_add_rows", c);
}
static clnn_status mul_bwd_full_vec16(clnn_context *ctx, const elt_call *c) {
  return launch_flat(ctx, CLNN_ELTWISE_OP_MUL_BWD_FULL, c->outer, &c->e, c->op);
}
static clnn_status mul_bwd_rowdot(clnn_context *ctx, const elt_call *c) {
  return launch_rowdot(ctx, c->e.a, c->e.b, c->e.c, 1.0f, c->e.y, c->e.z, c->outer, c->e.inner, c->op);
}

/* ------------------------------------------------ GPU-class launches */


/* eltwise_gpu with op gop over the call's n elements. */
static clnn_status launch_gpu(clnn_context *ctx, int gop, const elt_call *c) {
  char opts[64];
  snprintf(opts, sizeof opts, "-DGOP=%d -DHAS_Y=%d -DHAS_Z=%d -DDT=%d", gop, c->e.y ? 1 : 0, c->e.z ? 1 : 0,
           (int)c->e.dt);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "eltwise", opts, "eltwise_gpu", &k));
  size_t global, local;
  clnn__gpu_stride_grid(ctx, (size_t)(c->n / 4 + 1), &global, &local);
  return clnn__launch(ctx, &k, CLNN_ARGS(CLNN_ARG_I32(c->n), ELT_ARG_LIST(&c->e)), 1, &global, &local, c->op);
}

static clnn_status add_gpu(clnn_context *ctx, const elt_call *c) {
  return launch_gpu(ctx, CLNN_ELTWISE_GOP_ADD, c);
}
static clnn_status add_bwd_gpu(clnn_context *ctx, const elt_call *c) {
  return launch_gpu(ctx, CLNN_ELTWISE_GOP_ADD_BWD, c);
}
static clnn_status scale_gpu(clnn_context *ctx, const elt_call *c) {
  return launch_gpu(ctx, CLNN_ELTWISE_GOP_SCALE, c);
}
static clnn_status mul_full_gpu(clnn_context *ctx, const elt_call *c) {
  return launch_gpu(ctx, CLNN_ELTWISE_GOP_MUL_FULL, c);
}
static clnn_status mul_bcast_gpu(clnn_context *ctx, const elt_call *c) {
  return launch_gpu(ctx, CLNN_ELTWISE_GOP_MUL_BCAST, c);
}
static clnn_status mul_add_gpu(clnn_context *ctx, const elt_call *c) {
  return launch_gpu(ctx, CLNN_ELTWISE_GOP_MUL_ADD, c);
}
static clnn_status mul_bwd_full_gpu(clnn_context *ctx, const elt_call *c) {
  return launch_gpu(ctx, CLNN_ELTWISE_GOP_MUL_BWD_FULL, c);
}

/* Elements per work-item and slice of the GPU row reduction: 4 float4s (kernels/shared.h). */
#define GPU_SLICE_PER_ITEM CLNN_ELTWISE_GPU_SLICE_ITEMS

/* The tree reduction's work-group: one float4 per work-item of a row or
 * more (clnn__gpu_tree_wg). */
static size_t gpu_tree_wg(const clnn_context *ctx, int64_t inner) { return clnn__gpu_tree_wg(ctx, inner, 4); }

/*
 * out[o] = sum over row o of dy * x, and dx = dy * s[o] (alpha when s is
 * NULL) when dx is given: one work-group per slice of a row, float32
 * partials in the workspace and a second launch when a row has more than
 * one slice (with one, the first launch stores the result in dy's type).
 */
static clnn_status launch_rowdot_gpu(clnn_context *ctx, const clnn_tensor *dy, const clnn_tensor *x,
                                     const clnn_tensor *s, float alpha, clnn_tensor *dx, clnn_tensor *out,
                                     int64_t outer, int64_t inner, const char *name) {
  const size_t wg = gpu_tree_wg(ctx, inner);
  const int64_t slice = (int64_t)wg * GPU_SLICE_PER_ITEM, slices = (inner + slice - 1) / slice;
  const clnn_dtype dt = dy->dtype, zdt = slices > 1 ? CLNN_FLOAT32 : dt;
  char opts[128];
  snprintf(opts, sizeof opts, "-DWG=%zu -DHAS_Y=%d -DSCALAR_S=%d -DDT=%d -DZ_DT=%d", wg, dx ? 1 : 0, s ? 0 : 1,
           (int)dt, (int)zdt);
  clnn_kernel_ref k_dot, k_sum;
  cl_mem parts = NULL;
  CLNN_TRY(clnn__kernel(ctx, "eltwise", opts, "eltwise_rowdot_gpu", &k_dot));
  if (slices > 1) {
    CLNN_TRY(clnn__kernel(ctx, "eltwise", opts, "eltwise_sum_parts_gpu", &k_sum));
    CLNN_TRY(clnn__workspace(ctx, (size_t)(outer * slices) * sizeof(float), &parts));
  }
  const cl_mem zmem = parts ? parts : clnn__mem(out);
  const cl_ulong zoff = parts ? 0 : clnn__off(out);
  const size_t local[2] = {wg, 1}, global[2] = {(size_t)slices * wg, (size_t)outer};
  CLNN_TRY(clnn__launch(ctx, &k_dot,
                        CLNN_ARGS(CLNN_ARG_TENSOR(dy), CLNN_ARG_TENSOR(x), CLNN_ARG_TENSOR(s), CLNN_ARG_TENSOR(dx),
                                  CLNN_ARG_MEM(zmem), CLNN_ARG_U64(zoff), CLNN_ARG_F32(alpha), CLNN_ARG_F32(0.0f),
                                  CLNN_ARG_I32(inner)),
                        2, global, local, name));
  if (!parts) return CLNN_SUCCESS;
  const size_t global2[2] = {wg, (size_t)outer};
  return clnn__launch(ctx, &k_sum,
                      CLNN_ARGS(CLNN_ARG_MEM(parts), CLNN_ARG_U64(0), CLNN_ARG_TENSOR(NULL), CLNN_ARG_TENSOR(NULL),
                                CLNN_ARG_TENSOR(out), CLNN_ARG_TENSOR(NULL), CLNN_ARG_F32(0.0f), CLNN_ARG_F32(0.0f),
                                CLNN_ARG_I32(slices)),
                      2, global2, local, name);
}

static clnn_status scale_bwd_gpu_tree(clnn_context *ctx, const elt_call *c) {
  return launch_rowdot_gpu(ctx, c->e.a, c->e.b, NULL, c->e.alpha, c->e.y, c->e.z, 1, c->n, c->op);
}
static clnn_status mul_bwd_gpu_tree(clnn_context *ctx, const elt_call *c) {
  return launch_rowdot_gpu(ctx, c->e.a, c->e.b, c->e.c, 1.0f, c->e.y, c->e.z, c->outer, c->e.inner, c->op);
}

/* ------------------------------------------------------------- tables */

static clnn_status mul_bwd_as_fwd(clnn_context *ctx, const elt_call *c);
static clnn_status scale_bwd_as_fwd(clnn_context *ctx, const elt_call *c);

#define GPU CLNN_DEVICE_CLASS_GPU
#define CPU CLNN_DEVICE_CLASS_CPU
#define ELT_TABLE(pass, ...)                                                                                  \
  static const elt_variant elt_##pass##_table[] = {__VA_ARGS__};                                             \
  const clnn_variant_table clnn__eltwise_##pass##_variants = {                                              \
      "eltwise", #pass, &elt_##pass##_table[0].v, sizeof elt_##pass##_table / sizeof elt_##pass##_table[0], \
      sizeof elt_##pass##_table[0]}

ELT_TABLE(add_fwd, {{"eltwise.add_fwd.gpu_vec4", GPU, NULL}, add_gpu},
          {{"eltwise.add_fwd.vec16", CPU, NULL}, add_vec16});
ELT_TABLE(add_bwd, {{"eltwise.add_bwd.gpu_vec4", GPU, NULL}, add_bwd_gpu},
          {{"eltwise.add_bwd.vec16", CPU, NULL}, add_bwd_vec16});
ELT_TABLE(scale_fwd, {{"eltwise.scale_fwd.gpu_vec4", GPU, NULL}, scale_gpu},
          {{"eltwise.scale_fwd.vec16", CPU, NULL}, scale_vec16});
ELT_TABLE(scale_bwd, {{"eltwise.scale_bwd.as_fwd", CLNN_CLASS_ANY, dx_only_applies}, scale_bwd_as_fwd},
          {{"eltwise.scale_bwd.gpu_tree", GPU, reduces_applies}, scale_bwd_gpu_tree},
          {{"eltwise.scale_bwd.rowdot", CPU, reduces_applies}, scale_bwd_rowdot});
ELT_TABLE(mul_fwd, {{"eltwise.mul_fwd.gpu_full_vec4", GPU, full_applies}, mul_full_gpu},
          {{"eltwise.mul_fwd.gpu_bcast_vec4", GPU, NULL}, mul_bcast_gpu},
          {{"eltwise.mul_fwd.full_vec16", CPU, full_applies}, mul_full_vec16},
          {{"eltwise.mul_fwd.row_vec16", CPU, row16_applies}, mul_row_vec16},
          {{"eltwise.mul_fwd.rows", CPU, NULL}, mul_rows});
ELT_TABLE(mul_bwd, {{"eltwise.mul_bwd.as_fwd", CLNN_CLASS_ANY, dx_only_applies}, mul_bwd_as_fwd},
          {{"eltwise.mul_bwd.gpu_full_vec4", GPU, full_reduces_applies}, mul_bwd_full_gpu},
          {{"eltwise.mul_bwd.gpu_tree", GPU, reduces_applies}, mul_bwd_gpu_tree},
          {{"eltwise.mul_bwd.full_vec16", CPU, full_reduces_applies}, mul_bwd_full_vec16},
          {{"eltwise.mul_bwd.rowdot", CPU, reduces_applies}, mul_bwd_rowdot});
ELT_TABLE(mul_add_fwd, {{"eltwise.mul_add_fwd.gpu_bcast_vec4", GPU, NULL}, mul_add_gpu},
          {{"eltwise.mul_add_fwd.rows", CPU, NULL}, mul_add_rows});
#undef ELT_TABLE
#undef GPU
#undef CPU

/* dx = dy * s: the forward of dy. */
static clnn_status mul_bwd_as_fwd(clnn_context *ctx, const elt_call *c) {
  elt_call f = {{c->e.a, c->e.c, NULL, c->e.y, NULL, 1.0f, 0.0f, c->e.inner, c->e.dt}, c->n, c->outer, c->op};
  return plan_run(ctx, &clnn__eltwise_mul_fwd_variants, &f);
}

/* dx = alpha dy: the forward of dy. */
static clnn_status scale_bwd_as_fwd(clnn_context *ctx, const elt_call *c) {
  elt_call f = {{c->e.a, NULL, NULL, c->e.y, NULL, c->e.alpha, 0.0f, 1, c->e.dt}, c->n, c->n, c->op};
  return plan_run(ctx, &clnn__eltwise_scale_fwd_variants, &f);
}

/* ------------------------------------------------------------------- ops */

clnn_status clnn_eltwise_add(clnn_context *ctx, float alpha, const clnn_tensor *a, float beta,
                             const clnn_tensor *b, clnn_tensor *y) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(check_finite(ctx, "alpha", alpha));
  CLNN_TRY(check_finite(ctx, "beta", beta));
  clnn_dtype dt;
  CLNN_TRY(check_first(ctx, a, "a", &dt));
  CLNN_TRY(check_like(ctx, b, "b", a));
  CLNN_TRY(check_like(ctx, y, "y", a));
  CLNN_TRY(check_inplace(ctx, y, "y", a, "a"));
  CLNN_TRY(check_inplace(ctx, y, "y", b, "b"));
  const int64_t n = (int64_t)a->numel;
  char name[32];
  elt_call c = {{a, b, NULL, y, NULL, alpha, beta, 1, dt}, n, n, op_name(name, sizeof name, "eltwise_add", dt)};
  return plan_run(ctx, &clnn__eltwise_add_fwd_variants, &c);
}

clnn_status clnn_eltwise_add_bwd(clnn_context *ctx, float alpha, float beta, const clnn_tensor *dy,
                                 clnn_tensor *da, clnn_tensor *db) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(check_finite(ctx, "alpha", alpha));
  CLNN_TRY(check_finite(ctx, "beta", beta));
  clnn_dtype dt;
  CLNN_TRY(check_first(ctx, dy, "dy", &dt));
  if (!da && !db) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "da and db are both NULL");
  if (da) CLNN_TRY(check_like(ctx, da, "da", dy));
  if (db) CLNN_TRY(check_like(ctx, db, "db", dy));
  CLNN_TRY(check_inplace(ctx, da, "da", dy, "dy"));
  CLNN_TRY(check_inplace(ctx, db, "db", dy, "dy"));
  CLNN_TRY(clnn__check_no_overlap(ctx, da, "da", db, "db"));
  const int64_t n = (int64_t)dy->numel;
  char name[32];
  elt_call c = {{dy, NULL, NULL, da, db, alpha, beta, 1, dt}, n, n, op_name(name, sizeof name, "eltwise_add_bwd", dt)};
  return plan_run(ctx, &clnn__eltwise_add_bwd_variants, &c);
}

clnn_status clnn_eltwise_mul(clnn_context *ctx, const clnn_tensor *x, const clnn_tensor *s,
                             clnn_tensor *y) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  clnn_dtype dt;
  CLNN_TRY(check_first(ctx, x, "x", &dt));
  CLNN_TRY(check_float(ctx, s, "s", dt));
  int64_t outer, inner;
  CLNN_TRY(broadcast_split(ctx, x, s, &outer, &inner));
  CLNN_TRY(check_like(ctx, y, "y", x));
  CLNN_TRY(check_inplace(ctx, y, "y", x, "x"));
  CLNN_TRY(inner == 1 ? check_inplace(ctx, y, "y", s, "s") : clnn__check_no_overlap(ctx, y, "y", s, "s"));
  char name[32];
  elt_call c = {{x, s, NULL, y, NULL, 1.0f, 0.0f, inner, dt}, outer * inner, outer,
                op_name(name, sizeof name, "eltwise_mul", dt)};
  return plan_run(ctx, &clnn__eltwise_mul_fwd_variants, &c);
}

clnn_status clnn_eltwise_mul_bwd(clnn_context *ctx, const clnn_tensor *x, const clnn_tensor *s,
                                 const clnn_tensor *dy, clnn_tensor *dx, clnn_tensor *ds) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  if (!dx && !ds) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "dx and ds are both NULL");
  clnn_dtype dt;
  CLNN_TRY(check_first(ctx, dy, "dy", &dt));
  CLNN_TRY(check_float(ctx, s, "s", dt));
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
  /* No element to sum over (x has a 0 past s's leading dims): ds = 0, as torch's empty sums. */
  if (inner == 0) return clnn__zero_tensor(ctx, ds);
  char name[32];
  elt_call c = {{dy, ds ? x : NULL, s, dx, ds, 1.0f, 0.0f, inner, dt}, outer * inner, outer,
                op_name(name, sizeof name, "eltwise_mul_bwd", dt)};
  return plan_run(ctx, &clnn__eltwise_mul_bwd_variants, &c);
}

clnn_status clnn_eltwise_mul_add(clnn_context *ctx, const clnn_tensor *x, const clnn_tensor *s, float beta,
                                 const clnn_tensor *t, clnn_tensor *y) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(check_finite(ctx, "beta", beta));
  clnn_dtype dt;
  CLNN_TRY(check_first(ctx, x, "x", &dt));
  CLNN_TRY(check_float(ctx, s, "s", dt));
  int64_t outer, inner;
  CLNN_TRY(broadcast_split(ctx, x, s, &outer, &inner));
  CLNN_TRY(check_like(ctx, t, "t", s));
  CLNN_TRY(check_like(ctx, y, "y", x));
  CLNN_TRY(check_inplace(ctx, y, "y", x, "x"));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", s, "s"));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", t, "t"));
  char name[32];
  elt_call c = {{x, s, t, y, NULL, 1.0f, beta, inner, dt}, outer * inner, outer,
                op_name(name, sizeof name, "eltwise_mul_add", dt)};
  return plan_run(ctx, &clnn__eltwise_mul_add_fwd_variants, &c);
}

clnn_status clnn_eltwise_scale(clnn_context *ctx, float alpha, const clnn_tensor *x, clnn_tensor *y) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(check_finite(ctx, "alpha", alpha));
  clnn_dtype dt;
  CLNN_TRY(check_first(ctx, x, "x", &dt));
  CLNN_TRY(check_like(ctx, y, "y", x));
  CLNN_TRY(check_inplace(ctx, y, "y", x, "x"));
  const int64_t n = (int64_t)x->numel;
  char name[32];
  elt_call c = {{x, NULL, NULL, y, NULL, alpha, 0.0f, 1, dt}, n, n, op_name(name, sizeof name, "eltwise_scale", dt)};
  return plan_run(ctx, &clnn__eltwise_scale_fwd_variants, &c);
}

clnn_status clnn_eltwise_scale_bwd(clnn_context *ctx, float alpha, const clnn_tensor *x,
                                   const clnn_tensor *dy, clnn_tensor *dx, clnn_tensor *dalpha) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(check_finite(ctx, "alpha", alpha));
  if (!dx && !dalpha) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "dx and dalpha are both NULL");
  clnn_dtype dt;
  CLNN_TRY(check_first(ctx, dy, "dy", &dt));
  if (dx) {
    CLNN_TRY(check_like(ctx, dx, "dx", dy));
    CLNN_TRY(check_inplace(ctx, dx, "dx", dy, "dy"));
  }
  const int64_t n = (int64_t)dy->numel;
  if (dalpha) {
    CLNN_TRY(check_like(ctx, x, "x", dy));
    CLNN_TRY(check_float(ctx, dalpha, "dalpha", dt));
    if (dalpha->numel != 1) {
      char got[256];
      return clnn__fail(ctx, CLNN_ERR_SHAPE_MISMATCH, "argument 'dalpha' has shape %s, expected one element",
                        clnn__dims_str(got, sizeof got, dalpha->ndim, dalpha->dims));
    }
    CLNN_TRY(clnn__check_no_overlap(ctx, dalpha, "dalpha", dy, "dy"));
    CLNN_TRY(clnn__check_no_overlap(ctx, dalpha, "dalpha", x, "x"));
    CLNN_TRY(clnn__check_no_overlap(ctx, dalpha, "dalpha", dx, "dx"));
    CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", x, "x"));
  }
  if (n == 0) return clnn__zero_tensor(ctx, dalpha); /* an empty sum is 0 */
  char name[32];
  elt_call c = {{dy, dalpha ? x : NULL, NULL, dx, dalpha, alpha, 0.0f, 1, dt}, n, n,
                op_name(name, sizeof name, "eltwise_scale_bwd", dt)};
  return plan_run(ctx, &clnn__eltwise_scale_bwd_variants, &c);
}
