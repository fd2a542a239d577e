/*
 * pool.c - 2-D pooling (kernels/pool.cl): argument checks (the descriptor
 * and its output-size rules are desc/pool.c) and the launches: the row
 * kernels (one output row or input row per work-item, private padded rows,
 * 16 outputs per vector), the generic windowed kernels when a row does not
 * fit the private buffers, or the plane reductions when the pooling is
 * global (kernel = input, no padding). Those are the CPU-class variants;
 * the GPU-class ones (one output or one dx element per work-item, the
 * global average as a work-group reduction) and the variant tables follow.
 *
 * x, y, dy and dx are float32, float16 or bfloat16, all of one type (the
 * indices are int32 whatever it is): the type is a compile-time choice of
 * every pool program (-DDT, kernels/common.h), which computes in float32
 * and rounds once on store.
 */
#include "../desc/desc.h"

#include <stdio.h>
#include <string.h>

/* Work-items per work-group of the element-wise global backward. */
#define POOL_LOCAL 16
/* The rows kernels' private buffers (kernels/shared.h). */
#define POOL_ROWBUF CLNN_POOL_ROWBUF
#define POOL_OUTBUF CLNN_POOL_OUTBUF

/* Global average pooling: one window per plane, exactly the plane. */
static bool is_global_avg(const clnn_pool2d_desc *d) {
  return d->mode != CLNN_POOL_MAX && d->kh == d->h && d->kw == d->w && d->pad_h == 0 && d->pad_w == 0;
}

/* An output-shaped tensor: (n, c, oh, ow), or (n, c) when oh == ow == 1. */
static clnn_status check_out_shape(clnn_context *ctx, const clnn_tensor *t, const char *name, clnn_dtype dtype,
                                   const clnn_pool2d_desc *d, int64_t oh, int64_t ow) {
  int64_t dims[4] = {d->n, d->c, oh, ow};
  int ndim = t && t->ndim == 2 && oh == 1 && ow == 1 ? 2 : 4;
  return clnn__check_tensor(ctx, t, name, dtype, ndim, dims);
}

/* A half max pool of 2x2 windows, stride 2, no padding: pool_fwd_rows
 * reads its rows straight from memory (POOL_2X2; float32 keeps the private
 * rows, whose speed and bits it was measured with). */
static bool half_max_2x2(const clnn_pool2d_desc *d, clnn_dtype dt) {
  return dt != CLNN_FLOAT32 && d->mode == CLNN_POOL_MAX && d->kh == 2 && d->kw == 2 && d->stride_h == 2 &&
         d->stride_w == 2 && d->pad_h == 0 && d->pad_w == 0;
}

/* A half average pool of 3-column windows, column stride 1, column padding
 * 1 (any rows): pool_fwd_rows sums rows of 16 outputs or more in registers
 * straight from memory (POOL_K3S1; float32 keeps the private rows). */
static bool half_avg_k3s1(const clnn_pool2d_desc *d, clnn_dtype dt) {
  return dt != CLNN_FLOAT32 && d->mode != CLNN_POOL_MAX && d->kw == 3 && d->stride_w == 1 && d->pad_w == 1;
}

static void program_options(const clnn_pool2d_desc *d, clnn_dtype dt, bool write_idx, char *buf, size_t n) {
  const int sw = d->stride_w == 1 || d->stride_w == 2 ? (int)d->stride_w : 0;
  snprintf(buf, n, "-DPOOL_MAX=%d -DCOUNT_PAD=%d -DWRITE_IDX=%d -DPOOL_SW=%d -DDT=%d -DPOOL_2X2=%d -DPOOL_K3S1=%d",
           d->mode == CLNN_POOL_MAX ? 1 : 0, d->mode == CLNN_POOL_AVG ? 1 : 0, write_idx ? 1 : 0, sw, (int)dt,
           half_max_2x2(d, dt) ? 1 : 0, half_avg_k3s1(d, dt) ? 1 : 0);
}

/* The global kernels' options: average, the type, and a GPU work-group (0: none). */
static void global_options(clnn_dtype dt, size_t wg, char *buf, size_t n) {
  int len = snprintf(buf, n, "-DPOOL_MAX=0 -DDT=%d", (int)dt);
  if (wg && len > 0 && (size_t)len < n) snprintf(buf + len, n - (size_t)len, " -DPOOL_GPU_WG=%zu", wg);
}

/* The profiling name of a launch: pool2d_<pass>:<kind>, then :float16 or
 * :bfloat16 for the half types. */
static const char *op_name(char *buf, size_t n, const char *base, clnn_dtype dt) {
  snprintf(buf, n, "%s%s%s", base, dt == CLNN_FLOAT32 ? "" : ":", dt == CLNN_FLOAT32 ? "" : clnn_dtype_name(dt));
  return buf;
}

/* Length of pool_fwd_rows' padded row: the input with its left padding,
 * and whatever the last 16-output strip reads (see pool_gather). */
static int64_t fwd_row_len(const clnn_pool2d_desc *d, int64_t ow) {
  const int64_t strips = (ow + 15) / 16;
  int64_t need;
  if (d->stride_w == 1) need = 16 * strips + d->kw - 1;
  else if (d->stride_w == 2) need = 32 * strips + d->kw - 1;
  else need = (16 * strips - 1) * d->stride_w + d->kw;
  const int64_t data = d->pad_w + d->w;
  return need > data ? need : data;
}

static bool fwd_rows_fit(const clnn_pool2d_desc *d, int64_t ow) {
  return fwd_row_len(d, ow) <= POOL_ROWBUF && (ow + 15) / 16 * 16 <= POOL_OUTBUF;
}

/* pool_bwd_rows' private rows: the input row (max), or the padded span of
 * one output row's windows and its shares (average). */
static bool bwd_rows_fit(const clnn_pool2d_desc *d, int64_t ow) {
  if (d->mode == CLNN_POOL_MAX) return d->w <= POOL_ROWBUF && ow <= POOL_ROWBUF + 1; /* the half dy row */
  const int64_t cols16 = (ow + d->kw - 1 + 15) / 16 * 16; /* see pool_bwd_rows */
  return (ow - 1) * d->stride_w + d->kw <= POOL_ROWBUF && cols16 <= POOL_ROWBUF &&
         cols16 + d->kw - 1 <= POOL_OUTBUF && d->pad_w + d->w <= POOL_ROWBUF;
}

/* Arguments shared by the windowed kernels, after their three tensors. */
#define POOL_GEOMETRY_ARGS(d, oh, ow)                                                                  \
  CLNN_ARG_I32((d)->h), CLNN_ARG_I32((d)->w), CLNN_ARG_I32(oh), CLNN_ARG_I32(ow), CLNN_ARG_I32((d)->kh), \
      CLNN_ARG_I32((d)->kw), CLNN_ARG_I32((d)->stride_h), CLNN_ARG_I32((d)->stride_w),                   \
      CLNN_ARG_I32((d)->pad_h), CLNN_ARG_I32((d)->pad_w), CLNN_ARG_I32((d)->divisor)

/* The divisor of the global average: the plane's size unless overridden. */
static float global_divisor(const clnn_pool2d_desc *d) {
  return (float)(d->divisor > 0 ? d->divisor : d->h * d->w);
}

/* ------------------------------------------------------------- variants
 * Two tables, fwd and bwd, best first per device class:
 *  - CPU: the global average's plane reduction; the rows kernels (private
 *    padded rows, 16 outputs per vector) where a row fits their buffers;
 *    the generic windowed kernels otherwise;
 *  - GPU: the global average as a work-group reduction per plane (forward)
 *    and a float4 broadcast (backward); any other pooling one output per
 *    work-item (forward) and one dx element per work-item gathering the
 *    windows over it (backward).
 */

/* What the variants answer for: the descriptor and its output size. */
typedef struct pool_problem {
  const clnn_pool2d_desc *d;
  int64_t oh, ow;
} pool_problem;

/* One call: fwd reads x and writes y (and indices); bwd reads dy (and
 * indices) and writes dx. */
typedef struct pool_call {
  pool_problem pb;
  clnn_dtype dt; /* of x, y, dy and dx */
  const clnn_tensor *x, *dy;
  clnn_tensor *y, *dx;
  const clnn_tensor *indices; /* written by the forward, read by the backward */
} pool_call;

typedef struct pool_variant {
  clnn_variant v;
  clnn_status (*run)(clnn_context *ctx, const pool_call *call);
} pool_variant;

static bool global_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  return is_global_avg(((const pool_problem *)problem)->d) ||
         clnn__why(why, n, "not a global average (window = plane, no padding)");
}

static bool fwd_rows_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const pool_problem *pb = problem;
  return fwd_rows_fit(pb->d, pb->ow) || clnn__why(why, n, "a row is too long for the private buffers");
}

static bool bwd_rows_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const pool_problem *pb = problem;
  return bwd_rows_fit(pb->d, pb->ow) || clnn__why(why, n, "a row is too long for the private buffers");
}

/* ------------------------------------------------------------ CPU runs */

static clnn_status fwd_global_cpu(clnn_context *ctx, const pool_call *k) {
  const clnn_pool2d_desc *d = k->pb.d;
  clnn_kernel_ref kr;
  char opts[64], op[48];
  global_options(k->dt, 0, opts, sizeof opts);
  CLNN_TRY(clnn__kernel(ctx, "pool", opts, "pool_global_avg_fwd", &kr));
  size_t global[1] = {(size_t)(d->n * d->c)}, local[1] = {1};
  return clnn__launch(ctx, &kr,
                      CLNN_ARGS(CLNN_ARG_TENSOR(k->x), CLNN_ARG_TENSOR(k->y), CLNN_ARG_I32(d->h * d->w),
                                CLNN_ARG_F32(global_divisor(d)), CLNN_ARG_I32(d->n * d->c)),
                      1, global, local, op_name(op, sizeof op, "pool2d_fwd:global_avg", k->dt));
}

/* The windowed forward on one output row per work-item (kernel: pool_fwd_rows or pool_fwd). */
static clnn_status fwd_rows_kernel(clnn_context *ctx, const pool_call *k, bool rows) {
  const clnn_pool2d_desc *d = k->pb.d;
  const int64_t oh = k->pb.oh, ow = k->pb.ow;
  char opts[128], name[48];
  program_options(d, k->dt, k->indices != NULL, opts, sizeof opts);
  const char *op = op_name(name, sizeof name, d->mode == CLNN_POOL_MAX ? "pool2d_fwd:max" : "pool2d_fwd:avg", k->dt);
  size_t global[2] = {(size_t)oh, (size_t)(d->n * d->c)}, local[2] = {1, 1};
  clnn_kernel_ref kr;
  if (rows) {
    CLNN_TRY(clnn__kernel(ctx, "pool", opts, "pool_fwd_rows", &kr));
    return clnn__launch(ctx, &kr,
                        CLNN_ARGS(CLNN_ARG_TENSOR(k->x), CLNN_ARG_TENSOR(k->y), CLNN_ARG_TENSOR(k->indices),
                                  POOL_GEOMETRY_ARGS(d, oh, ow), CLNN_ARG_I32(fwd_row_len(d, ow))),
                        2, global, local, op);
  }
  CLNN_TRY(clnn__kernel(ctx, "pool", opts, "pool_fwd", &kr));
  return clnn__launch(ctx, &kr,
                      CLNN_ARGS(CLNN_ARG_TENSOR(k->x), CLNN_ARG_TENSOR(k->y), CLNN_ARG_TENSOR(k->indices),
                                POOL_GEOMETRY_ARGS(d, oh, ow)),
                      2, global, local, op);
}

static clnn_status fwd_rows_cpu(clnn_context *ctx, const pool_call *k) { return fwd_rows_kernel(ctx, k, true); }
static clnn_status fwd_generic_cpu(clnn_context *ctx, const pool_call *k) { return fwd_rows_kernel(ctx, k, false); }

static clnn_status bwd_global_cpu(clnn_context *ctx, const pool_call *k) {
  const clnn_pool2d_desc *d = k->pb.d;
  clnn_kernel_ref kr;
  char opts[64], op[48];
  global_options(k->dt, 0, opts, sizeof opts);
  CLNN_TRY(clnn__kernel(ctx, "pool", opts, "pool_global_avg_bwd", &kr));
  /* float32: a vector of 16 per work-item; half types several (kernels/pool.cl) */
  const int64_t per = k->dt == CLNN_FLOAT32 ? 1 : CLNN_POOL_GLOBAL_HALF_VECS, nvec = d->h * d->w / 16;
  size_t global[2] = {(size_t)(nvec / per + 1), (size_t)(d->n * d->c)};
  size_t local[2] = {nvec / per >= POOL_LOCAL ? POOL_LOCAL : 1, 1};
  return clnn__launch(ctx, &kr,
                      CLNN_ARGS(CLNN_ARG_TENSOR(k->dy), CLNN_ARG_TENSOR(k->dx), CLNN_ARG_I32(d->h * d->w),
                                CLNN_ARG_F32(global_divisor(d))),
                      2, global, local, op_name(op, sizeof op, "pool2d_bwd:global_avg", k->dt));
}

/* The windowed backward on one input row per work-item (pool_bwd_rows or pool_bwd). */
static clnn_status bwd_rows_kernel(clnn_context *ctx, const pool_call *k, bool rows) {
  const clnn_pool2d_desc *d = k->pb.d;
  const int64_t oh = k->pb.oh, ow = k->pb.ow;
  char opts[128], op[48];
  program_options(d, k->dt, false, opts, sizeof opts);
  clnn_kernel_ref kr;
  CLNN_TRY(clnn__kernel(ctx, "pool", opts, rows ? "pool_bwd_rows" : "pool_bwd", &kr));
  size_t global[2] = {(size_t)d->h, (size_t)(d->n * d->c)}, local[2] = {1, 1};
  return clnn__launch(ctx, &kr,
                      CLNN_ARGS(CLNN_ARG_TENSOR(k->dy), CLNN_ARG_TENSOR(k->indices), CLNN_ARG_TENSOR(k->dx),
                                POOL_GEOMETRY_ARGS(d, oh, ow)),
                      2, global, local,
                      op_name(op, sizeof op, d->mode == CLNN_POOL_MAX ? "pool2d_bwd:max" : "pool2d_bwd:avg", k->dt));
}

static clnn_status bwd_rows_cpu(clnn_context *ctx, const pool_call *k) { return bwd_rows_kernel(ctx, k, true); }
static clnn_status bwd_generic_cpu(clnn_context *ctx, const pool_call *k) { return bwd_rows_kernel(ctx, k, false); }

/* ------------------------------------------------------------ GPU runs */

/* The flat output (forward) or input (backward) is indexed with 32-bit ints. */
static bool gpu_per_output_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  (void)ctx;
  const pool_problem *pb = problem;
  const clnn_pool2d_desc *d = pb->d;
  return d->n * d->c * pb->oh * pb->ow <= CLNN_INDEX_MAX || clnn__why(why, n, "the output has over 2^31 - 1 elements");
}

static void gpu_options(const clnn_pool2d_desc *d, clnn_dtype dt, bool write_idx, size_t wg, char *buf, size_t n) {
  program_options(d, dt, write_idx, buf, n);
  size_t len = strlen(buf);
  snprintf(buf + len, n - len, " -DPOOL_GPU_WG=%zu", wg);
}

static clnn_status fwd_global_gpu(clnn_context *ctx, const pool_call *k) {
  const clnn_pool2d_desc *d = k->pb.d;
  const size_t wg = clnn__gpu_tree_wg(ctx, d->h * d->w, 8); /* about 8 values of the plane a work-item */
  char opts[64], op[48];
  global_options(k->dt, wg, opts, sizeof opts);
  clnn_kernel_ref kr;
  CLNN_TRY(clnn__kernel(ctx, "pool", opts, "pool_global_avg_fwd_gpu", &kr));
  size_t global[1] = {(size_t)(d->n * d->c) * wg}, local[1] = {wg};
  return clnn__launch(ctx, &kr,
                      CLNN_ARGS(CLNN_ARG_TENSOR(k->x), CLNN_ARG_TENSOR(k->y), CLNN_ARG_I32(d->h * d->w),
                                CLNN_ARG_F32(global_divisor(d))),
                      1, global, local, op_name(op, sizeof op, "pool2d_fwd:global_avg", k->dt));
}

static clnn_status fwd_per_output_gpu(clnn_context *ctx, const pool_call *k) {
  const clnn_pool2d_desc *d = k->pb.d;
  const int64_t oh = k->pb.oh, ow = k->pb.ow, total = d->n * d->c * oh * ow;
  const size_t wg = clnn__gpu_flat_wg(ctx);
  char opts[160], op[48];
  gpu_options(d, k->dt, k->indices != NULL, wg, opts, sizeof opts);
  clnn_kernel_ref kr;
  CLNN_TRY(clnn__kernel(ctx, "pool", opts, "pool_fwd_gpu", &kr));
  size_t global[1] = {(size_t)total}, local[1] = {wg};
  return clnn__launch(ctx, &kr,
                      CLNN_ARGS(CLNN_ARG_TENSOR(k->x), CLNN_ARG_TENSOR(k->y), CLNN_ARG_TENSOR(k->indices),
                                POOL_GEOMETRY_ARGS(d, oh, ow), CLNN_ARG_I32(total)),
                      1, global, local,
                      op_name(op, sizeof op, d->mode == CLNN_POOL_MAX ? "pool2d_fwd:max" : "pool2d_fwd:avg", k->dt));
}

static clnn_status bwd_global_gpu(clnn_context *ctx, const pool_call *k) {
  const clnn_pool2d_desc *d = k->pb.d;
  const int64_t numel = d->n * d->c * d->h * d->w;
  char opts[64], op[48];
  global_options(k->dt, clnn__gpu_flat_wg(ctx), opts, sizeof opts);
  clnn_kernel_ref kr;
  CLNN_TRY(clnn__kernel(ctx, "pool", opts, "pool_global_avg_bwd_gpu", &kr));
  size_t global, local;
  clnn__gpu_stride_grid(ctx, (size_t)(numel / 4 + 1), &global, &local);
  return clnn__launch(ctx, &kr,
                      CLNN_ARGS(CLNN_ARG_TENSOR(k->dy), CLNN_ARG_TENSOR(k->dx), CLNN_ARG_I32(d->h * d->w),
                                CLNN_ARG_F32(global_divisor(d)), CLNN_ARG_I32(numel)),
                      1, &global, &local, op_name(op, sizeof op, "pool2d_bwd:global_avg", k->dt));
}

static clnn_status bwd_gather_gpu(clnn_context *ctx, const pool_call *k) {
  const clnn_pool2d_desc *d = k->pb.d;
  const int64_t oh = k->pb.oh, ow = k->pb.ow, total = d->n * d->c * d->h * d->w;
  const size_t wg = clnn__gpu_flat_wg(ctx);
  char opts[160], op[48];
  gpu_options(d, k->dt, false, wg, opts, sizeof opts);
  clnn_kernel_ref kr;
  CLNN_TRY(clnn__kernel(ctx, "pool", opts, "pool_bwd_gpu", &kr));
  size_t global[1] = {(size_t)total}, local[1] = {wg};
  return clnn__launch(ctx, &kr,
                      CLNN_ARGS(CLNN_ARG_TENSOR(k->dy), CLNN_ARG_TENSOR(k->indices), CLNN_ARG_TENSOR(k->dx),
                                POOL_GEOMETRY_ARGS(d, oh, ow), CLNN_ARG_I32(total)),
                      1, global, local,
                      op_name(op, sizeof op, d->mode == CLNN_POOL_MAX ? "pool2d_bwd:max" : "pool2d_bwd:avg", k->dt));
}

/* ---------------------------------------------------------------- tables */

static const pool_variant fwd_table[] = {
    {{"pool.fwd.gpu_global_avg", CLNN_DEVICE_CLASS_GPU, global_applies}, fwd_global_gpu},
    {{"pool.fwd.gpu_per_output", CLNN_DEVICE_CLASS_GPU, gpu_per_output_applies}, fwd_per_output_gpu},
    {{"pool.fwd.global_avg", CLNN_DEVICE_CLASS_CPU, global_applies}, fwd_global_cpu},
    {{"pool.fwd.rows", CLNN_DEVICE_CLASS_CPU, fwd_rows_applies}, fwd_rows_cpu},
    {{"pool.fwd.generic", CLNN_DEVICE_CLASS_CPU, NULL}, fwd_generic_cpu},
};
static const pool_variant bwd_table[] = {
    {{"pool.bwd.gpu_global_avg", CLNN_DEVICE_CLASS_GPU, global_applies}, bwd_global_gpu},
    {{"pool.bwd.gpu_gather", CLNN_DEVICE_CLASS_GPU, NULL}, bwd_gather_gpu},
    {{"pool.bwd.global_avg", CLNN_DEVICE_CLASS_CPU, global_applies}, bwd_global_cpu},
    {{"pool.bwd.rows", CLNN_DEVICE_CLASS_CPU, bwd_rows_applies}, bwd_rows_cpu},
    {{"pool.bwd.generic", CLNN_DEVICE_CLASS_CPU, NULL}, bwd_generic_cpu},
};
const clnn_variant_table clnn__pool_fwd_variants = {"pool", "fwd", &fwd_table[0].v,
                                                    sizeof fwd_table / sizeof fwd_table[0], sizeof fwd_table[0]};
const clnn_variant_table clnn__pool_bwd_variants = {"pool", "bwd", &bwd_table[0].v,
                                                    sizeof bwd_table / sizeof bwd_table[0], sizeof bwd_table[0]};

static clnn_status plan_and_run(clnn_context *ctx, const clnn_variant_table *t, const pool_call *call) {
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, t, &call->pb, &i));
  return ((const pool_variant *)CLNN_VARIANT_AT(t, i))->run(ctx, call);
}

/* ---------------------------------------------------------------- public */

clnn_status clnn_pool2d_fwd(clnn_context *ctx, const clnn_pool2d_desc *desc, const clnn_tensor *x,
                            clnn_tensor *y, clnn_tensor *indices) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t oh, ow;
  CLNN_TRY(clnn__pool2d_desc_check(ctx, desc, &oh, &ow));
  const clnn_pool2d_desc *d = desc;
  int64_t xd[4] = {d->n, d->c, d->h, d->w};
  clnn_dtype dt;
  CLNN_TRY(clnn__check_float_type(ctx, x, "x", &dt));
  CLNN_TRY(clnn__check_tensor(ctx, x, "x", dt, 4, xd));
  CLNN_TRY(check_out_shape(ctx, y, "y", dt, d, oh, ow));
  if (indices && d->mode != CLNN_POOL_MAX)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "average pooling writes no 'indices'");
  if (indices) CLNN_TRY(check_out_shape(ctx, indices, "indices", CLNN_INT32, d, oh, ow));
  CLNN_TRY(clnn__check_no_overlap(ctx, y, "y", x, "x"));
  CLNN_TRY(clnn__check_no_overlap(ctx, indices, "indices", x, "x"));
  CLNN_TRY(clnn__check_no_overlap(ctx, indices, "indices", y, "y"));
  if (x->numel == 0) return CLNN_SUCCESS; /* 0 images or channels: nothing to write */
  const pool_call call = {.pb = {d, oh, ow}, .dt = dt, .x = x, .y = y, .indices = indices};
  return plan_and_run(ctx, &clnn__pool_fwd_variants, &call);
}

clnn_status clnn_pool2d_bwd(clnn_context *ctx, const clnn_pool2d_desc *desc, const clnn_tensor *dy,
                            const clnn_tensor *indices, clnn_tensor *dx) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t oh, ow;
  CLNN_TRY(clnn__pool2d_desc_check(ctx, desc, &oh, &ow));
  const clnn_pool2d_desc *d = desc;
  int64_t xd[4] = {d->n, d->c, d->h, d->w};
  clnn_dtype dt;
  CLNN_TRY(clnn__check_float_type(ctx, dy, "dy", &dt));
  CLNN_TRY(check_out_shape(ctx, dy, "dy", dt, d, oh, ow));
  if (d->mode == CLNN_POOL_MAX) {
    if (!indices)
      return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument 'indices' is NULL (max pooling needs them)");
    CLNN_TRY(check_out_shape(ctx, indices, "indices", CLNN_INT32, d, oh, ow));
  } else if (indices) {
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "average pooling takes no 'indices'");
  }
  CLNN_TRY(clnn__check_tensor(ctx, dx, "dx", dt, 4, xd));
  CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", dy, "dy"));
  CLNN_TRY(clnn__check_no_overlap(ctx, dx, "dx", indices, "indices"));
  if (dx->numel == 0) return CLNN_SUCCESS; /* 0 images or channels: nothing to write */
  const pool_call call = {.pb = {d, oh, ow}, .dt = dt, .dy = dy, .dx = dx, .indices = indices};
  return plan_and_run(ctx, &clnn__pool_bwd_variants, &call);
}
