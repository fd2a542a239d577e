/*
 * gemm.c - matrix multiply for every op that needs one. The variants of
 * gemm.mm, best first:
 *  - gpu_tiled (GPU class): kernels/gemm_gpu.cl on gemm_gpu.h, local-memory tiles and a
 *    register block per work-item, bias and activation fused, one launch for
 *    every batch;
 *  - tile8x32 (CPU class): kernels/gemm.cl, one work-item per 8 x 32 register
 *    tile, for CPU devices, where CLBlast has no tuned parameters and ran at
 *    7-14% of peak on PoCL;
 *  - clblast (any): CLBlast, tuned for GPUs; also the cross-check of the own
 *    engines. CLNN_GEMM=clblast makes it the only one for row-major jobs,
 *    CLNN_GEMM=own keeps it out.
 */
#include "internal.h"

#include <clblast_c.h>
#include <stdio.h>
#include <string.h>

clnn_gemm_job clnn__gemm_job(int64_t m, int64_t n, int64_t k) {
  clnn_gemm_job j;
  memset(&j, 0, sizeof j);
  j.m = m;
  j.n = n;
  j.k = k;
  j.nb1 = j.nb2 = 1;
  j.alpha = 1.0f;
  j.act = CLNN_ACT_IDENTITY;
  return j;
}

bool clnn__use_own_gemm(const clnn_context *ctx) { return ctx->is_cpu && ctx->gemm != CLNN_GEMM_CLBLAST; }

/* ------------------------------------------------------------ GPU engine */

bool clnn__gpu_tile_valid(const clnn_gpu_tile *t) {
  if (t->mwg <= 0 || t->nwg <= 0 || t->kwg <= 0 || t->mdim <= 0 || t->ndim <= 0) return false;
  int wg = t->mdim * t->ndim;
  if (wg < 64 || wg > 1024 || t->mwg % t->mdim || t->nwg % t->ndim) return false;
  if (t->mwg / t->mdim > 8 || t->nwg / t->ndim > 8) return false;
  return wg % t->kwg == 0 && (t->mwg * t->kwg) % wg == 0 && (t->kwg * t->nwg) % wg == 0;
}

/* Whether the device takes a tile: work-group size and local memory (both
 * staged slices, rows padded by one float). */
static bool tile_fits(const clnn_context *ctx, const clnn_gpu_tile *t) {
  uint64_t local = (uint64_t)t->kwg * (uint64_t)(t->mwg + t->nwg + 2) * sizeof(float);
  return ctx->caps.max_work_group_size >= (size_t)(t->mdim * t->ndim) && ctx->caps.local_mem_size >= local;
}

/* The large tile (kernels/tune.txt: 128 x 128, 8 x 8 outputs per work-item
 * by default) where the output gives every compute unit two such tiles and
 * the device takes it; the narrow one (32 x 128) for outputs of no more rows
 * than it has, where the small one would compute mostly padding; else the
 * small one (64 x 64, 4 x 4). */
clnn_gpu_tile clnn__gpu_tile_for(const clnn_context *ctx, int64_t m, int64_t n, int64_t nb) {
  const clnn_gpu_tile *big = &ctx->tune.tile_large, *narrow = &ctx->tune.tile_narrow;
  if (m <= narrow->mwg && tile_fits(ctx, narrow)) return *narrow;
  int64_t big_tiles = clnn__ceil_div(m, big->mwg) * clnn__ceil_div(n, big->nwg) * nb;
  if (tile_fits(ctx, big) && m >= big->mwg * 3 / 4 && n >= big->nwg * 3 / 4 &&
      big_tiles >= 2 * (int64_t)ctx->caps.compute_units)
    return *big;
  return ctx->tune.tile_small;
}

void clnn__gpu_tile_options(const clnn_gpu_tile *t, char *buf, size_t n) {
  snprintf(buf, n, "-DGG_MWG=%d -DGG_NWG=%d -DGG_KWG=%d -DGG_MDIM=%d -DGG_NDIM=%d", t->mwg, t->nwg, t->kwg, t->mdim,
           t->ndim);
}

/* The tiled kernel (built on first use) and its tile, for job j. */
static clnn_status gemm_gpu_kernel(clnn_context *ctx, const clnn_gemm_job *j, clnn_gpu_tile *t, clnn_kernel_ref *k) {
  *t = clnn__gpu_tile_for(ctx, j->m, j->n, j->nb1 * j->nb2);
  char opts[256], tile[128], act[64];
  clnn__gpu_tile_options(t, tile, sizeof tile);
  clnn__act_options(act, sizeof act, j->act, j->act_alpha);
  snprintf(opts, sizeof opts, "%s -DGG_MODE=%d -DGG_A_TRANS=%d -DGG_B_TRANS=%d -DHAS_BIAS=%d%s", tile, CLNN_GG_GEMM,
           j->a_trans ? 1 : 0, j->b_trans ? 1 : 0, j->bias ? 1 : 0, act);
  return clnn__kernel(ctx, "gemm_gpu.h gemm_gpu", opts, "gemm_gpu", k);
}

static clnn_status gemm_gpu(clnn_context *ctx, const clnn_gemm_job *j, const char *op) {
  clnn_gpu_tile t;
  clnn_kernel_ref k;
  CLNN_TRY(gemm_gpu_kernel(ctx, j, &t, &k));
  size_t global[3] = {(size_t)(clnn__ceil_div(j->n, t.nwg) * t.ndim), (size_t)(clnn__ceil_div(j->m, t.mwg) * t.mdim),
                      (size_t)(j->nb1 * j->nb2)};
  size_t local[3] = {(size_t)t.ndim, (size_t)t.mdim, 1};
  return clnn__launch(
      ctx, &k,
      CLNN_ARGS(CLNN_ARG_I32(j->m), CLNN_ARG_I32(j->n), CLNN_ARG_I32(j->k), CLNN_ARG_I32(j->nb2),
                CLNN_ARG_MEM(j->a), CLNN_ARG_U64(j->a_off), CLNN_ARG_I32(j->lda), CLNN_ARG_U64(j->a_s1),
                CLNN_ARG_U64(j->a_s2), CLNN_ARG_MEM(j->b), CLNN_ARG_U64(j->b_off), CLNN_ARG_I32(j->ldb),
                CLNN_ARG_U64(j->b_s1), CLNN_ARG_U64(j->b_s2), CLNN_ARG_MEM(j->c), CLNN_ARG_U64(j->c_off),
                CLNN_ARG_I32(j->ldc), CLNN_ARG_U64(j->c_s1), CLNN_ARG_U64(j->c_s2), CLNN_ARG_MEM(j->bias),
                CLNN_ARG_U64(j->bias_off), CLNN_ARG_U64(j->bias_s2), CLNN_ARG_F32(j->alpha), CLNN_ARG_F32(j->beta)),
      3, global, local, op);
}

/* ------------------------------------------------------------ own engine */

/* The 8 x 32 tile kernel for job j (built on first use). */
static clnn_status gemm_own_kernel(clnn_context *ctx, const clnn_gemm_job *j, clnn_kernel_ref *k) {
  if (j->b_trans) /* clnn_gemm packs a transposed B into panels before it gets here */
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED, "the CPU GEMM engine reads B untransposed (internal error)");
  char opts[160], act[64];
  clnn__act_options(act, sizeof act, j->act, j->act_alpha);
  snprintf(opts, sizeof opts, "-DA_TRANS=%d -DB_PANELS=%d -DHAS_BIAS=%d%s", j->a_trans ? 1 : 0,
           j->b_layout == CLNN_B_PANELS ? 1 : 0, j->bias ? 1 : 0, act);
  return clnn__kernel(ctx, "gemm", opts, "gemm_tile8x32", k);
}

static clnn_status gemm_own(clnn_context *ctx, const clnn_gemm_job *j, const char *op) {
  clnn_kernel_ref k;
  CLNN_TRY(gemm_own_kernel(ctx, j, &k));
  size_t global[3] = {(size_t)clnn__ceil_div(j->m, CLNN_TILE_MR), (size_t)clnn__ceil_div(j->n, CLNN_TILE_NR),
                      (size_t)(j->nb1 * j->nb2)};
  size_t local[3] = {1, 1, 1};
  return clnn__launch(
      ctx, &k,
      CLNN_ARGS(CLNN_ARG_I32(j->m), CLNN_ARG_I32(j->n), CLNN_ARG_I32(j->k), CLNN_ARG_I32(j->nb2),
                CLNN_ARG_MEM(j->a), CLNN_ARG_U64(j->a_off), CLNN_ARG_I32(j->lda),
                CLNN_ARG_U64(j->a_s1), CLNN_ARG_U64(j->a_s2), CLNN_ARG_MEM(j->b),
                CLNN_ARG_U64(j->b_off), CLNN_ARG_I32(j->ldb), CLNN_ARG_U64(j->b_s1),
                CLNN_ARG_U64(j->b_s2), CLNN_ARG_MEM(j->c), CLNN_ARG_U64(j->c_off),
                CLNN_ARG_I32(j->ldc), CLNN_ARG_U64(j->c_s1), CLNN_ARG_U64(j->c_s2),
                CLNN_ARG_MEM(j->bias), CLNN_ARG_U64(j->bias_off), CLNN_ARG_U64(j->bias_s2),
                CLNN_ARG_F32(j->alpha), CLNN_ARG_F32(j->beta)),
      3, global, local, op);
}

/* -------------------------------------------------------- CLBlast engine */

static clnn_status clblast_fail(clnn_context *ctx, CLBlastStatusCode code, const char *what) {
  clnn_status st = CLNN_ERR_BLAS;
  if (code == CLBlastTempBufferAllocFailure || code == CLBlastOpenCLOutOfResources)
    st = CLNN_ERR_DEVICE_OUT_OF_MEMORY;
  else if (code == CLBlastOpenCLOutOfHostMemory)
    st = CLNN_ERR_HOST_OUT_OF_MEMORY;
  else if (code == CLBlastOpenCLBuildProgramFailure)
    st = CLNN_ERR_BUILD_FAILED;
  const char *cl_name = (code > -1000) ? clnn__cl_error_name((cl_int)code) : "CLBlast error";
  return clnn__fail(ctx, st, "%s failed: CLBlast status %d (%s)", what, (int)code, cl_name);
}

static clnn_status clblast_record(clnn_context *ctx, CLBlastStatusCode code, cl_event ev,
                                  const char *op) {
  if (code != CLBlastSuccess) return clblast_fail(ctx, code, "CLBlastSgemm");
  if (ev) clnn__profile_record(ctx, ev, "clblast_sgemm", op);
  return CLNN_SUCCESS;
}

/* The fused epilogue the own kernel has, as a separate pass. */
static clnn_status bias_act_pass(clnn_context *ctx, const clnn_gemm_job *j, const char *op) {
  char opts[128], act[64];
  clnn__act_options(act, sizeof act, j->act, j->act_alpha);
  snprintf(opts, sizeof opts, "-DHAS_BIAS=%d%s", j->bias ? 1 : 0, act);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "gemm", opts, "gemm_bias_act", &k));
  size_t global[3] = {(size_t)j->n, (size_t)j->m, (size_t)(j->nb1 * j->nb2)};
  /* One element per work-item: work-groups of one suit PoCL (each is a
   * scheduling step), a GPU needs a row segment per group. */
  size_t local[3] = {ctx->is_cpu ? 1 : 64, 1, 1};
  return clnn__launch(ctx, &k,
                      CLNN_ARGS(CLNN_ARG_I32(j->m), CLNN_ARG_I32(j->n), CLNN_ARG_I32(j->nb2),
                                CLNN_ARG_MEM(j->c), CLNN_ARG_U64(j->c_off), CLNN_ARG_I32(j->ldc),
                                CLNN_ARG_U64(j->c_s1), CLNN_ARG_U64(j->c_s2),
                                CLNN_ARG_MEM(j->bias), CLNN_ARG_U64(j->bias_off),
                                CLNN_ARG_U64(j->bias_s2)),
                      3, global, local, op);
}

static clnn_status gemm_clblast(clnn_context *ctx, const clnn_gemm_job *j, const char *op) {
  if (j->b_layout != CLNN_B_ROWMAJOR)
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED, "CLBlast needs B row-major (internal error)");
  if (ctx->plan_only) return CLNN_SUCCESS;
  CLBlastTranspose ta = j->a_trans ? CLBlastTransposeYes : CLBlastTransposeNo;
  CLBlastTranspose tb = j->b_trans ? CLBlastTransposeYes : CLBlastTransposeNo;
  for (int64_t i2 = 0; i2 < j->nb2; i2++) {
    cl_event ev = NULL;
    cl_event *evp = ctx->profiling ? &ev : NULL;
    CLBlastStatusCode code;
    if (j->nb1 == 1) {
      /* CLBlast's batched call rejects zero strides (status -1017) even for one batch. */
      code = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, (size_t)j->m, (size_t)j->n,
                          (size_t)j->k, j->alpha, j->a, j->a_off + (size_t)(i2 * j->a_s2), (size_t)j->lda, j->b,
                          j->b_off + (size_t)(i2 * j->b_s2), (size_t)j->ldb, j->beta, j->c,
                          j->c_off + (size_t)(i2 * j->c_s2), (size_t)j->ldc, &ctx->queue, evp);
      CLNN_TRY(clblast_record(ctx, code, ev, op));
      continue;
    }
    code = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, ta, tb, (size_t)j->m, (size_t)j->n, (size_t)j->k,
        j->alpha, j->a, j->a_off + (size_t)(i2 * j->a_s2), (size_t)j->lda, (size_t)j->a_s1, j->b,
        j->b_off + (size_t)(i2 * j->b_s2), (size_t)j->ldb, (size_t)j->b_s1, j->beta, j->c,
        j->c_off + (size_t)(i2 * j->c_s2), (size_t)j->ldc, (size_t)j->c_s1, (size_t)j->nb1,
        &ctx->queue, evp);
    CLNN_TRY(clblast_record(ctx, code, ev, op));
  }
  if (j->bias || j->act != CLNN_ACT_IDENTITY) CLNN_TRY(bias_act_pass(ctx, j, op));
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------------- variants */

typedef struct gemm_variant {
  clnn_variant v;
  clnn_status (*run)(clnn_context *ctx, const clnn_gemm_job *j, const char *op);
} gemm_variant;

static const gemm_variant gemm_variants[3]; /* below: applies() names its own entry */

#define JOB(p) ((const clnn_gemm_job *)(p))

static bool gpu_tiled_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  if (ctx->gemm == CLNN_GEMM_CLBLAST) return clnn__why(why, n, "CLNN_GEMM=clblast");
  if (JOB(problem)->b_layout != CLNN_B_ROWMAJOR) return clnn__why(why, n, "B is in the CPU engine's panels");
  if (!tile_fits(ctx, &ctx->tune.tile_small))
    return clnn__why(why, n, "the device takes no tile of the tuning table (%s)", ctx->tune.source);
  if (ctx->tune.plain_clblast && ctx->gemm != CLNN_GEMM_OWN && !clnn__variant_forced(ctx, &gemm_variants[0].v))
    return clnn__why(why, n, "the tuning table (%s) gives plain GEMMs to CLBlast", ctx->tune.source);
  return true;
}

static bool tile8x32_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  if (JOB(problem)->b_layout == CLNN_B_PANELS) return true; /* only this engine reads panels */
  return ctx->gemm != CLNN_GEMM_CLBLAST || clnn__why(why, n, "CLNN_GEMM=clblast");
}

static bool clblast_applies(const clnn_context *ctx, const void *problem, char *why, size_t n) {
  if (ctx->gemm == CLNN_GEMM_OWN) return clnn__why(why, n, "CLNN_GEMM=own");
  return JOB(problem)->b_layout == CLNN_B_ROWMAJOR || clnn__why(why, n, "B is in the CPU engine's panels");
}

static const gemm_variant gemm_variants[] = {
    {{"gemm.mm.gpu_tiled", CLNN_DEVICE_CLASS_GPU, gpu_tiled_applies}, gemm_gpu},
    {{"gemm.mm.tile8x32", CLNN_DEVICE_CLASS_CPU, tile8x32_applies}, gemm_own},
    {{"gemm.mm.clblast", CLNN_CLASS_ANY, clblast_applies}, gemm_clblast},
};

const clnn_variant_table clnn__gemm_variants = {"gemm", "mm", &gemm_variants[0].v,
                                                sizeof gemm_variants / sizeof gemm_variants[0],
                                                sizeof gemm_variants[0]};

clnn_status clnn__gemm_prepare(clnn_context *ctx, const clnn_gemm_job *job) {
  if (job->m <= 0 || job->n <= 0 || job->k <= 0 || job->nb1 <= 0 || job->nb2 <= 0) return CLNN_SUCCESS;
  size_t i;
  CLNN_TRY(clnn__plan_check(ctx, &clnn__gemm_variants, job, &i));
  clnn_kernel_ref k;
  clnn_gpu_tile t;
  if (gemm_variants[i].run == gemm_gpu) return gemm_gpu_kernel(ctx, job, &t, &k);
  if (gemm_variants[i].run == gemm_own) return gemm_own_kernel(ctx, job, &k);
  return CLNN_SUCCESS; /* CLBlast builds its own kernels */
}

clnn_status clnn__gemm_run(clnn_context *ctx, const clnn_gemm_job *job, const char *op) {
  if (job->m <= 0 || job->n <= 0 || job->k <= 0 || job->nb1 <= 0 || job->nb2 <= 0)
    return CLNN_SUCCESS;
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, &clnn__gemm_variants, job, &i));
  return gemm_variants[i].run(ctx, job, op);
}

/* ---------------------------------------------------------- public gemm */

/* Does a rows x cols matrix with leading dimension ld from off fit in t? */
static clnn_status check_matrix(clnn_context *ctx, const clnn_tensor *t, const char *name,
                                int64_t off, int64_t rows, int64_t cols, int64_t ld) {
  if (!t) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", name);
  if (t->ctx != ctx)
    return clnn__fail(ctx, CLNN_ERR_CONTEXT_MISMATCH, "argument '%s' belongs to another context", name);
  if (t->dtype != CLNN_FLOAT32)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "argument '%s' is not float32", name);
  if (off < 0) return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "offset of '%s' is negative", name);
  if (ld < cols)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE,
                      "leading dimension of '%s' is %lld, smaller than its %lld columns", name,
                      (long long)ld, (long long)cols);
  int64_t last;
  if (!clnn__mul_ok(rows - 1, ld, &last) || last > INT64_MAX - off - cols)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "the extent of matrix '%s' overflows", name);
  last += off + cols; /* one past the last element */
  if ((uint64_t)last > (uint64_t)t->numel)
    return clnn__fail(ctx, CLNN_ERR_BUFFER_TOO_SMALL,
                      "matrix '%s' needs %lld elements from its tensor, which has %zu", name,
                      (long long)last, t->numel);
  if (last > CLNN_INDEX_MAX)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "matrix '%s' spans over 2^31 elements", name);
  return CLNN_SUCCESS;
}

/* A power-of-two row stride of 4 KiB or more makes rows collide in the cache. */

/* Own engine: pack B into panels when it is transposed or has a bad stride. */
static clnn_status gemm_own_public(clnn_context *ctx, clnn_gemm_job *j, bool b_trans) {
  if (!b_trans && !clnn__bad_stride(j->ldb)) return gemm_own(ctx, j, "gemm");
  int64_t panel_elems = clnn__ceil_div(j->n, CLNN_TILE_NR) * CLNN_TILE_NR * j->k;
  cl_mem ws;
  CLNN_TRY(clnn__workspace(ctx, (size_t)panel_elems * sizeof(float), &ws));
  char opts[64];
  snprintf(opts, sizeof opts, "-DB_TRANS=%d", b_trans ? 1 : 0);
  clnn_kernel_ref k;
  CLNN_TRY(clnn__kernel(ctx, "gemm", opts, "gemm_pack_b", &k));
  size_t global[3] = {(size_t)j->k, (size_t)clnn__ceil_div(j->n, CLNN_TILE_NR), 1};
  size_t local[3] = {1, 1, 1};
  CLNN_TRY(clnn__launch(ctx, &k,
                        CLNN_ARGS(CLNN_ARG_I32(j->n), CLNN_ARG_I32(j->k), CLNN_ARG_I32(1),
                                  CLNN_ARG_MEM(j->b), CLNN_ARG_U64(j->b_off), CLNN_ARG_I32(j->ldb),
                                  CLNN_ARG_U64(0), CLNN_ARG_U64(0), CLNN_ARG_MEM(ws),
                                  CLNN_ARG_U64(0), CLNN_ARG_U64(0)),
                        3, global, local, "gemm:pack_b"));
  j->b = ws;
  j->b_off = 0;
  j->ldb = CLNN_TILE_NR;
  j->b_layout = CLNN_B_PANELS;
  return gemm_own(ctx, j, "gemm");
}

clnn_status clnn_gemm(clnn_context *ctx, clnn_transpose trans_a, clnn_transpose trans_b,
                      int64_t m, int64_t n, int64_t k, float alpha, const clnn_tensor *a,
                      int64_t a_off, int64_t lda, const clnn_tensor *b, int64_t b_off, int64_t ldb,
                      float beta, clnn_tensor *c, int64_t c_off, int64_t ldc) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  if ((trans_a != CLNN_NO_TRANS && trans_a != CLNN_TRANS) ||
      (trans_b != CLNN_NO_TRANS && trans_b != CLNN_TRANS))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "trans_a / trans_b must be CLNN_NO_TRANS or CLNN_TRANS");
  if (m <= 0 || n <= 0 || k <= 0)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "m, n, k = %lld, %lld, %lld must be positive",
                      (long long)m, (long long)n, (long long)k);
  bool ta = trans_a == CLNN_TRANS, tb = trans_b == CLNN_TRANS;
  CLNN_TRY(check_matrix(ctx, a, "a", a_off, ta ? k : m, ta ? m : k, lda));
  CLNN_TRY(check_matrix(ctx, b, "b", b_off, tb ? n : k, tb ? k : n, ldb));
  CLNN_TRY(check_matrix(ctx, c, "c", c_off, m, n, ldc));
  CLNN_TRY(clnn__check_no_overlap(ctx, c, "c", a, "a"));
  CLNN_TRY(clnn__check_no_overlap(ctx, c, "c", b, "b"));
  clnn_gemm_job j = clnn__gemm_job(m, n, k);
  j.alpha = alpha;
  j.beta = beta;
  j.a = clnn__mem(a);
  j.a_off = (size_t)(clnn__off(a) + (cl_ulong)a_off);
  j.lda = lda;
  j.a_trans = ta;
  j.b = clnn__mem(b);
  j.b_off = (size_t)(clnn__off(b) + (cl_ulong)b_off);
  j.ldb = ldb;
  j.c = clnn__mem(c);
  j.c_off = (size_t)(clnn__off(c) + (cl_ulong)c_off);
  j.ldc = ldc;
  j.b_trans = tb;
  size_t vi;
  CLNN_TRY(clnn__plan_pick(ctx, &clnn__gemm_variants, &j, &vi));
  if (gemm_variants[vi].run == gemm_own) {
    j.b_trans = false;
    return gemm_own_public(ctx, &j, tb);
  }
  if (gemm_variants[vi].run == gemm_gpu) return gemm_gpu(ctx, &j, "gemm");
  cl_event ev = NULL;
  CLBlastStatusCode code = CLBlastSgemm(
      CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
      tb ? CLBlastTransposeYes : CLBlastTransposeNo, (size_t)m, (size_t)n, (size_t)k, alpha, j.a,
      j.a_off, (size_t)lda, j.b, j.b_off, (size_t)ldb, beta, j.c, j.c_off, (size_t)ldc, &ctx->queue,
      ctx->profiling ? &ev : NULL);
  return clblast_record(ctx, code, ev, "gemm");
}
