/*
 * resample.c - dispatch of the resample family: pixel shuffle / unshuffle
 * and nearest / bilinear resize, forward and backward (kernels/resample.cl).
 *
 *  - Pixel shuffle in either direction is one permutation between a "deep"
 *    (n, k*r*r, h, w) and a "wide" (n, k, h*r, w*r) tensor; two kernels
 *    (to_wide, to_deep) serve the four calls.
 *  - Resize: the host computes PyTorch's sampling positions once per call
 *    (clnn__resize_taps, desc/resample.c), lays them out as tables, and
 *    sends them in a read-only buffer created with the data (no queue
 *    stall; the buffer is released after the launch and lives until the
 *    kernel is done). Backward tables are the transposed lists: for every
 *    input row and column, the output rows and columns that read it, in
 *    ascending order, so each dx element is a fixed-order gather.
 *  - Exact 2x (nearest, and bilinear with align_corners = 0) gets float16
 *    kernels over the range of columns where the table matches the 2x
 *    pattern; the host finds that range by comparing the tables themselves,
 *    so the fast path can never disagree with the rule.
 * Those are the CPU-class variants. The GPU-class ones (one output element
 * per work-item, neighbours along the output width; the resize backward as
 * a gather per dx element over the same transposed lists) and the variant
 * tables follow each op's CPU code.
 *
 * Tensors are float32, float16 or bfloat16, all of one type, a compile-time
 * choice of every program (-DDT): moves (pixel shuffle, nearest forward)
 * copy the elements' bits, blends and sums run in float32 and round once
 * on store. Every variant takes every type.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../desc/desc.h"

/* Elements a work-item writes per launch, about: enough to amortise its
 * start, small enough to leave many work-groups for the compute units. */
#define ITEM_ELEMS 4096
/* Work-items to aim for at least (both compute units busy, balanced). */
#define MIN_ITEMS 64
/* A fast horizontal range shorter than this is not worth another program. */
#define FAST_MIN 16

/* The profiling name of a launch: base, then :float16 or :bfloat16 for the
 * half types (float32 keeps its name). */
static const char *op_name(char *buf, size_t n, const char *base, clnn_dtype dt) {
  snprintf(buf, n, "%s%s%s", base, dt == CLNN_FLOAT32 ? "" : ":", dt == CLNN_FLOAT32 ? "" : clnn_dtype_name(dt));
  return buf;
}

/* --------------------------------------------------------- pixel shuffle */

/* Rows per work-item: about ITEM_ELEMS float32 elements each (as many
 * bytes of a narrower type: the start of a work-item, not its bytes, is
 * what the count amortises), but at least MIN_ITEMS work-items when the
 * problem allows. */
static int rows_per_item(int64_t nrows, int64_t elems_per_row, int64_t planes, clnn_dtype dt) {
  const int64_t item_elems = ITEM_ELEMS * 4 / (int64_t)clnn_dtype_size(dt);
  int64_t rows = (item_elems + elems_per_row - 1) / elems_per_row;
  if (rows > nrows) rows = nrows;
  while (rows > 1 && planes * ((nrows + rows - 1) / rows) < MIN_ITEMS) rows = (rows + 1) / 2;
  return (int)(rows < 1 ? 1 : rows);
}

/* One pixel shuffle call: deep side (n, k*r*r, h, w), the direction of
 * the copy (to_wide: deep -> wide) and the tensors. */
typedef struct ps_call {
  int64_t n, k, h, w, r;
  bool to_wide;
  clnn_dtype dt; /* of src and dst: half types move 2-byte elements */
  const clnn_tensor *src;
  clnn_tensor *dst;
  const char *op;
} ps_call;

typedef struct ps_variant {
  clnn_variant v;
  clnn_status (*run)(clnn_context *ctx, const ps_call *c);
} ps_variant;

/* CPU: deep rows per work-item (about ITEM_ELEMS elements), float16 shuffles for r = 2. */
static clnn_status ps_rows(clnn_context *ctx, const ps_call *c) {
  char opts[48], op[48];
  snprintf(opts, sizeof opts, "-DPS_R=%d -DDT=%d", (int)c->r, (int)c->dt);
  clnn_kernel_ref kr;
  CLNN_TRY(clnn__kernel(ctx, "resample", opts, c->to_wide ? "resample_to_wide" : "resample_to_deep", &kr));
  const int rows = rows_per_item(c->h, c->r * c->r * c->w, c->n * c->k, c->dt);
  size_t global[2] = {(size_t)((c->h + rows - 1) / rows), (size_t)(c->n * c->k)}, local[2] = {1, 1};
  return clnn__launch(ctx, &kr,
                      CLNN_ARGS(CLNN_ARG_TENSOR(c->src), CLNN_ARG_TENSOR(c->dst), CLNN_ARG_I32(c->h),
                                CLNN_ARG_I32(c->w), CLNN_ARG_I32(rows)),
                      2, global, local, op_name(op, sizeof op, c->op, c->dt));
}

/* GPU: one output element per work-item (a gather). */
static clnn_status ps_gpu_gather(clnn_context *ctx, const ps_call *c) {
  char opts[48], op[48];
  snprintf(opts, sizeof opts, "-DPS_R=%d -DDT=%d", (int)c->r, (int)c->dt);
  clnn_kernel_ref kr;
  CLNN_TRY(clnn__kernel(ctx, "resample", opts, c->to_wide ? "resample_to_wide_gpu" : "resample_to_deep_gpu", &kr));
  const int64_t total = c->n * c->k * c->r * c->r * c->h * c->w;
  const size_t global = (size_t)total, local = clnn__gpu_flat_wg(ctx);
  return clnn__launch(ctx, &kr,
                      CLNN_ARGS(CLNN_ARG_TENSOR(c->src), CLNN_ARG_TENSOR(c->dst), CLNN_ARG_I32(c->h),
                                CLNN_ARG_I32(c->w), CLNN_ARG_I32(total)),
                      1, &global, &local, op_name(op, sizeof op, c->op, c->dt));
}

/* One table per call: shuffle and unshuffle, forward and backward. */
#define PS_TABLE(op, pass)                                                                                      \
  static const ps_variant op##_##pass##_table[] = {                                                             \
      {{"resample." #op "_" #pass ".gpu_gather", CLNN_DEVICE_CLASS_GPU, NULL}, ps_gpu_gather},                  \
      {{"resample." #op "_" #pass ".rows", CLNN_DEVICE_CLASS_CPU, NULL}, ps_rows},                              \
  };                                                                                                            \
  const clnn_variant_table clnn__resample_##op##_##pass##_variants = {                                         \
      "resample", #op "_" #pass, &op##_##pass##_table[0].v,                                                     \
      sizeof op##_##pass##_table / sizeof op##_##pass##_table[0], sizeof op##_##pass##_table[0]}
PS_TABLE(shuffle, fwd);
PS_TABLE(shuffle, bwd);
PS_TABLE(unshuffle, fwd);
PS_TABLE(unshuffle, bwd);

/* Validate, then plan and run to_wide (deep -> wide) or to_deep on src -> dst. */
static clnn_status ps_run(clnn_context *ctx, const clnn_pixel_shuffle_desc *d, bool unshuffle, bool backward,
                          const clnn_tensor *src, clnn_tensor *dst) {
  CLNN_CHECK_NULL(NULL, ctx);
  int64_t yd[4];
  CLNN_TRY(clnn__pixel_shuffle_desc_check(ctx, d, unshuffle, yd));
  const int64_t xd[4] = {d->n, d->c, d->h, d->w};
  const char *sname = backward ? "dy" : "x", *dname = backward ? "dx" : "y";
  clnn_dtype dt;
  CLNN_TRY(clnn__check_float_type(ctx, src, sname, &dt));
  CLNN_TRY(clnn__check_tensor(ctx, src, sname, dt, 4, backward ? yd : xd));
  CLNN_TRY(clnn__check_tensor(ctx, dst, dname, dt, 4, backward ? xd : yd));
  CLNN_TRY(clnn__check_no_overlap(ctx, dst, dname, src, sname));
  if (clnn_tensor_numel(src) == 0) return CLNN_SUCCESS; /* empty in, empty out */
  /* The deep side's geometry: x for shuffle, y for unshuffle. */
  const int64_t *deep = unshuffle ? yd : xd;
  const int64_t r = d->r;
  const ps_call c = {d->n, deep[1] / (r * r), deep[2], deep[3], r, unshuffle == backward, dt, src, dst,
                     unshuffle ? (backward ? "pixel_unshuffle_bwd" : "pixel_unshuffle_fwd")
                               : (backward ? "pixel_shuffle_bwd" : "pixel_shuffle_fwd")};
  const clnn_variant_table *t = unshuffle ? (backward ? &clnn__resample_unshuffle_bwd_variants
                                                      : &clnn__resample_unshuffle_fwd_variants)
                                          : (backward ? &clnn__resample_shuffle_bwd_variants
                                                      : &clnn__resample_shuffle_fwd_variants);
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, t, &c, &i));
  return ((const ps_variant *)CLNN_VARIANT_AT(t, i))->run(ctx, &c);
}

clnn_status clnn_pixel_shuffle_fwd(clnn_context *ctx, const clnn_pixel_shuffle_desc *desc,
                                   const clnn_tensor *x, clnn_tensor *y) {
  CLNN_OP_ENTER(ctx);
  return ps_run(ctx, desc, false, false, x, y);
}

clnn_status clnn_pixel_shuffle_bwd(clnn_context *ctx, const clnn_pixel_shuffle_desc *desc,
                                   const clnn_tensor *dy, clnn_tensor *dx) {
  CLNN_OP_ENTER(ctx);
  return ps_run(ctx, desc, false, true, dy, dx);
}

clnn_status clnn_pixel_unshuffle_fwd(clnn_context *ctx, const clnn_pixel_shuffle_desc *desc,
                                     const clnn_tensor *x, clnn_tensor *y) {
  CLNN_OP_ENTER(ctx);
  return ps_run(ctx, desc, true, false, x, y);
}

clnn_status clnn_pixel_unshuffle_bwd(clnn_context *ctx, const clnn_pixel_shuffle_desc *desc,
                                     const clnn_tensor *dy, clnn_tensor *dx) {
  CLNN_OP_ENTER(ctx);
  return ps_run(ctx, desc, true, true, dy, dx);
}

/* ---------------------------------------------------------------- resize */

/* The taps of one dimension (see clnn__resize_taps). */
typedef struct taps {
  int64_t n;
  int32_t *i0, *i1;
  float *l0, *l1;
} taps;

static void taps_free(taps *t) {
  free(t->i0);
  free(t->i1);
  free(t->l0);
  free(t->l1);
}

static bool taps_make(taps *t, int64_t in, int64_t out, const clnn_resize_desc *d, double scale) {
  t->n = out;
  t->i0 = malloc((size_t)out * sizeof(int32_t));
  t->i1 = malloc((size_t)out * sizeof(int32_t));
  t->l0 = malloc((size_t)out * sizeof(float));
  t->l1 = malloc((size_t)out * sizeof(float));
  if (!t->i0 || !t->i1 || !t->l0 || !t->l1) return false;
  clnn__resize_taps(in, out, d->mode, d->align_corners, scale, t->i0, t->i1, t->l0, t->l1);
  return true;
}

static int32_t f32_bits(float f) {
  int32_t i;
  memcpy(&i, &f, sizeof i);
  return i;
}

/* Whether output o has taps (a, b, la, lb) exactly. */
static bool tap_is(const taps *t, int64_t o, int32_t a, int32_t b, float la, float lb) {
  return t->i0[o] == a && t->i1[o] == b && t->l0[o] == la && t->l1[o] == lb;
}

/*
 * The longest run [*lo, *hi) of m where the forward 2x pattern holds:
 * nearest: outputs 2m and 2m+1 read input m; bilinear: outputs 2m+1 and 2m+2
 * read inputs (m, m+1) with weights (0.75, 0.25) and (0.25, 0.75).
 */
static void fwd_fast_range(const taps *t, int64_t in, bool bilinear, int *lo, int *hi) {
  int64_t best_lo = 0, best_hi = 0, run_lo = 0;
  const int64_t count = bilinear ? in - 1 : in;
  for (int64_t m = 0; m <= count; m++) {
    bool ok = m < count;
    if (ok && bilinear)
      ok = tap_is(t, 2 * m + 1, (int32_t)m, (int32_t)m + 1, 0.75f, 0.25f) &&
           tap_is(t, 2 * m + 2, (int32_t)m, (int32_t)m + 1, 0.25f, 0.75f);
    else if (ok)
      ok = t->i0[2 * m] == m && t->i0[2 * m + 1] == m;
    if (!ok) {
      if (m - run_lo > best_hi - best_lo) best_lo = run_lo, best_hi = m;
      run_lo = m + 1;
    }
  }
  *lo = (int)best_lo;
  *hi = (int)best_hi;
}

/* -------------------------------------------------- transposed tables */

/* For every input index, the (output index, weight) entries that read it,
 * outputs ascending, tap 0 before tap 1. start has in + 1 entries. */
typedef struct gather_list {
  int32_t *start, *out;
  float *wt;
  int64_t count;
  int max_per_input;
} gather_list;

static void gather_free(gather_list *g) {
  free(g->start);
  free(g->out);
  free(g->wt);
}

static bool gather_make(gather_list *g, const taps *t, int64_t in, bool bilinear) {
  const int per = bilinear ? 2 : 1;
  g->count = t->n * per;
  g->start = calloc((size_t)in + 1, sizeof(int32_t));
  g->out = malloc((size_t)g->count * sizeof(int32_t));
  g->wt = malloc((size_t)g->count * sizeof(float));
  int32_t *fill = calloc((size_t)in + 1, sizeof(int32_t));
  if (!g->start || !g->out || !g->wt || !fill) {
    free(fill);
    return false;
  }
  for (int64_t o = 0; o < t->n; o++) {
    g->start[t->i0[o] + 1]++;
    if (bilinear) g->start[t->i1[o] + 1]++;
  }
  g->max_per_input = 0;
  for (int64_t i = 0; i < in; i++) {
    if (g->start[i + 1] > g->max_per_input) g->max_per_input = g->start[i + 1];
    g->start[i + 1] += g->start[i];
  }
  for (int64_t o = 0; o < t->n; o++) {
    for (int tap = 0; tap < per; tap++) {
      const int32_t i = tap ? t->i1[o] : t->i0[o];
      const int32_t at = g->start[i] + fill[i]++;
      g->out[at] = (int32_t)o;
      g->wt[at] = tap ? t->l1[o] : t->l0[o];
    }
  }
  free(fill);
  return true;
}

/* Whether input column i's entries are exactly the 2x backward pattern:
 * nearest (2i, 1), (2i+1, 1); bilinear (2i-1, .25), (2i, .75), (2i+1, .75), (2i+2, .25). */
static bool bwd_pattern(const gather_list *g, int64_t i, bool bilinear) {
  static const float wb[4] = {0.25f, 0.75f, 0.75f, 0.25f};
  const int n = bilinear ? 4 : 2;
  if (g->start[i + 1] - g->start[i] != n) return false;
  for (int k = 0; k < n; k++) {
    const int32_t at = g->start[i] + k;
    const int64_t want = bilinear ? 2 * i - 1 + k : 2 * i + k;
    if (g->out[at] != want || g->wt[at] != (bilinear ? wb[k] : 1.0f)) return false;
  }
  return true;
}

static void bwd_fast_range(const gather_list *g, int64_t in, bool bilinear, int *lo, int *hi) {
  int64_t best_lo = 0, best_hi = 0, run_lo = 0;
  for (int64_t i = 0; i <= in; i++) {
    if (i < in && bwd_pattern(g, i, bilinear)) continue;
    if (i - run_lo > best_hi - best_lo) best_lo = run_lo, best_hi = i;
    run_lo = i + 1;
  }
  *lo = (int)best_lo;
  *hi = (int)best_hi;
}

/* ---------------------------------------------------------- launches */

/* A read-only buffer holding words, created with the data (no enqueue, so
 * no wait on the queue); the caller releases it after the launch. */
static clnn_status table_buffer(clnn_context *ctx, const int32_t *words, size_t count, cl_mem *out) {
  cl_int err;
  *out = clCreateBuffer(ctx->cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, count * sizeof(int32_t),
                        (void *)words, &err);
  if (err != CL_SUCCESS) return clnn__cl_fail(ctx, err, "clCreateBuffer(resize table)");
  return CLNN_SUCCESS;
}

/* Launch with the table in its own buffer, released once enqueued. */
static clnn_status launch_with_table(clnn_context *ctx, const char *opts, const char *name, const int32_t *tab,
                                     size_t tab_words, const clnn_tensor *src, clnn_tensor *dst,
                                     const int *ints, int nints, size_t nrows_items, size_t planes,
                                     const char *base_op) {
  char op[48];
  op_name(op, sizeof op, base_op, src->dtype);
  clnn_kernel_ref kr;
  CLNN_TRY(clnn__kernel(ctx, "resample", opts, name, &kr));
  cl_mem buf;
  CLNN_TRY(table_buffer(ctx, tab, tab_words, &buf));
  clnn_arg args[16];
  int na = 0;
  args[na++] = CLNN_ARG_MEM(clnn__mem(src));
  args[na++] = CLNN_ARG_U64(clnn__off(src));
  args[na++] = CLNN_ARG_MEM(clnn__mem(dst));
  args[na++] = CLNN_ARG_U64(clnn__off(dst));
  args[na++] = CLNN_ARG_MEM(buf);
  /* Point at the caller's ints: a compound literal made inside this loop
   * would not outlive its iteration. */
  for (int i = 0; i < nints; i++) args[na++] = (clnn_arg){sizeof(cl_int), &ints[i]};
  size_t global[2] = {nrows_items, planes}, local[2] = {1, 1};
  clnn_status st = clnn__launch(ctx, &kr, args, na, 2, global, local, op);
  clReleaseMemObject(buf);
  return st;
}

/* The tensors' shapes, their one float type (src's), no overlap. */
static clnn_status resize_validate(clnn_context *ctx, const clnn_resize_desc *d, bool backward,
                                   const clnn_tensor *src, const clnn_tensor *dst) {
  CLNN_TRY(clnn__resize_desc_check(ctx, d));
  const int64_t xd[4] = {d->n, d->c, d->h, d->w}, yd[4] = {d->n, d->c, d->out_h, d->out_w};
  const char *sname = backward ? "dy" : "x", *dname = backward ? "dx" : "y";
  clnn_dtype dt;
  CLNN_TRY(clnn__check_float_type(ctx, src, sname, &dt));
  CLNN_TRY(clnn__check_tensor(ctx, src, sname, dt, 4, backward ? yd : xd));
  CLNN_TRY(clnn__check_tensor(ctx, dst, dname, dt, 4, backward ? xd : yd));
  return clnn__check_no_overlap(ctx, dst, dname, src, sname);
}

/* Kernels index the tables with 32-bit ints, and one buffer holds them. */
static clnn_status table_fits(clnn_context *ctx, int64_t words) {
  if (words > CLNN_INDEX_MAX || (cl_ulong)words * sizeof(int32_t) > ctx->max_alloc)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "the sampling tables need %lld words, over what one buffer holds",
                      (long long)words);
  return CLNN_SUCCESS;
}

static clnn_status oom(clnn_context *ctx) {
  return clnn__fail(ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory for the sampling tables");
}

/* Forward table: y0, y1, ly0, ly1 per output row, then x0, x1, lx0, lx1 per output column. */
static int32_t *fwd_table(const taps *ty, const taps *tx, size_t *words) {
  const int64_t oh = ty->n, ow = tx->n;
  *words = (size_t)(4 * oh + 4 * ow);
  int32_t *tab = malloc(*words * sizeof(int32_t));
  if (!tab) return NULL;
  for (int64_t o = 0; o < oh; o++) {
    tab[o] = ty->i0[o];
    tab[oh + o] = ty->i1[o];
    tab[2 * oh + o] = f32_bits(ty->l0[o]);
    tab[3 * oh + o] = f32_bits(ty->l1[o]);
  }
  int32_t *c = tab + 4 * oh;
  for (int64_t o = 0; o < ow; o++) {
    c[o] = tx->i0[o];
    c[ow + o] = tx->i1[o];
    c[2 * ow + o] = f32_bits(tx->l0[o]);
    c[3 * ow + o] = f32_bits(tx->l1[o]);
  }
  return tab;
}

static clnn_status resize_fwd_run(clnn_context *ctx, const clnn_resize_desc *d, const taps *ty, const taps *tx,
                                  const clnn_tensor *x, clnn_tensor *y) {
  const bool bilinear = d->mode == CLNN_RESIZE_BILINEAR;
  int xfast = 0, flo = 0, fhi = 0;
  if (d->out_w == 2 * d->w) {
    fwd_fast_range(tx, d->w, bilinear, &flo, &fhi);
    if (fhi - flo >= FAST_MIN) xfast = bilinear ? 2 : 1;
  }
  CLNN_TRY(table_fits(ctx, 4 * (d->out_h + d->out_w)));
  size_t words;
  int32_t *tab = fwd_table(ty, tx, &words);
  if (!tab) return oom(ctx);
  char opts[64];
  snprintf(opts, sizeof opts, "-DBILINEAR=%d -DXFAST=%d -DDT=%d", bilinear ? 1 : 0, xfast, (int)x->dtype);
  const int64_t planes = d->n * d->c;
  const int rows = rows_per_item(d->out_h, d->out_w, planes, x->dtype);
  const int ints[7] = {(int)d->h, (int)d->w, (int)d->out_h, (int)d->out_w, rows, flo, fhi};
  clnn_status st = launch_with_table(ctx, opts, "resample_resize_fwd", tab, words, x, y, ints, 7,
                                     (size_t)((d->out_h + rows - 1) / rows), (size_t)planes, "resize_fwd");
  free(tab);
  return st;
}

/* dx columns per chunk of the backward kernel (kernels/shared.h). */
#define BWD_CHUNK CLNN_RESIZE_BWD_CHUNK

/*
 * Backward table: row starts (h + 1), row entries (dy row, weight bits),
 * then at *cols_at the column table: kx dy columns per dx column (k-major,
 * -1 = none) and kx weights; then at *chunks_at the chunk list, 5 words per
 * chunk of at most BWD_CHUNK dx columns: first column, count, the first dy
 * column any of them reads, the span of dy columns they read, and whether it
 * is a fast chunk (inside [flo, fhi), which starts the fast chunks so that
 * they align with the pattern's range).
 */
static void chunk_add(int32_t *ch, int *nch, const gather_list *gx, int64_t ix0, int64_t n, bool fast) {
  int32_t lo = INT32_MAX, hi = 0;
  for (int64_t i = ix0; i < ix0 + n; i++) {
    if (gx->start[i + 1] == gx->start[i]) continue;
    /* A dx column's entries are sorted by dy column: the first and the last
     * bound what it reads. */
    if (gx->out[gx->start[i]] < lo) lo = gx->out[gx->start[i]];
    if (gx->out[gx->start[i + 1] - 1] + 1 > hi) hi = gx->out[gx->start[i + 1] - 1] + 1;
  }
  if (lo > hi) lo = hi = 0; /* no dy column reads these dx columns */
  int32_t *c = ch + 5 * (*nch)++;
  c[0] = (int32_t)ix0;
  c[1] = (int32_t)n;
  c[2] = lo;
  c[3] = hi - lo;
  c[4] = fast;
}

/* Generic chunks over [a, b). */
static void chunks_generic(int32_t *ch, int *nch, const gather_list *gx, int64_t a, int64_t b) {
  for (int64_t i = a; i < b; i += BWD_CHUNK) chunk_add(ch, nch, gx, i, b - i < BWD_CHUNK ? b - i : BWD_CHUNK, false);
}

static int32_t *bwd_table(const gather_list *gy, const gather_list *gx, int64_t h, int64_t w, int kx, int flo,
                          int fhi, bool overlap, size_t *words, int *cols_at, int *chunks_at, int *nch) {
  const int64_t max_chunks = w / BWD_CHUNK + 3;
  *cols_at = (int)(h + 1 + 2 * gy->count);
  *chunks_at = (int)(*cols_at + 2 * kx * w);
  *words = (size_t)*chunks_at + (size_t)(5 * max_chunks);
  int32_t *tab = malloc(*words * sizeof(int32_t));
  if (!tab) return NULL;
  memcpy(tab, gy->start, (size_t)(h + 1) * sizeof(int32_t));
  for (int64_t e = 0; e < gy->count; e++) {
    tab[h + 1 + 2 * e] = gy->out[e];
    tab[h + 2 + 2 * e] = f32_bits(gy->wt[e]);
  }
  int32_t *c = tab + *cols_at;
  for (int64_t i = 0; i < w; i++) {
    const int32_t n = gx->start[i + 1] - gx->start[i];
    for (int k = 0; k < kx; k++) {
      c[k * w + i] = k < n ? gx->out[gx->start[i] + k] : -1;
      c[(kx + k) * w + i] = f32_bits(k < n ? gx->wt[gx->start[i] + k] : 0.0f);
    }
  }
  int32_t *ch = tab + *chunks_at;
  *nch = 0;
  int64_t at = 0;
  if (fhi - flo >= BWD_CHUNK) {
    chunks_generic(ch, nch, gx, 0, flo);
    for (at = flo; at + BWD_CHUNK <= fhi; at += BWD_CHUNK) chunk_add(ch, nch, gx, at, BWD_CHUNK, true);
    /* The rest of the range: its own short chunk, or with overlap (half
     * types, where a column on its own pays a conversion call in PoCL) a
     * full one ending at fhi that rewrites a few columns with the same values. */
    if (at < fhi) {
      if (overlap) chunk_add(ch, nch, gx, fhi - BWD_CHUNK, BWD_CHUNK, true);
      else chunk_add(ch, nch, gx, at, fhi - at, true);
    }
    at = fhi;
  }
  chunks_generic(ch, nch, gx, at, w);
  return tab;
}

static clnn_status resize_bwd_run(clnn_context *ctx, const clnn_resize_desc *d, const taps *ty, const taps *tx,
                                  const clnn_tensor *dy, clnn_tensor *dx) {
  const bool bilinear = d->mode == CLNN_RESIZE_BILINEAR;
  gather_list gy = {0}, gx = {0};
  if (!gather_make(&gy, ty, d->h, bilinear) || !gather_make(&gx, tx, d->w, bilinear)) {
    gather_free(&gy);
    gather_free(&gx);
    return oom(ctx);
  }
  int xfast = 0, flo = 0, fhi = 0;
  if (d->out_w == 2 * d->w) {
    bwd_fast_range(&gx, d->w, bilinear, &flo, &fhi);
    if (fhi - flo >= FAST_MIN) xfast = bilinear ? 2 : 1;
    else flo = fhi = 0;
  }
  /* The column table's width, rounded up past 8 so that few programs serve
   * the rare large ones (each -DKX is a compile); extra entries are empty. */
  int kx = gx.max_per_input > 0 ? gx.max_per_input : 1;
  if (kx > 8) kx = (kx + 7) / 8 * 8;
  const clnn_status fits = table_fits(ctx, d->h + 1 + 2 * gy.count + 2 * (int64_t)kx * d->w + 5 * (d->w / BWD_CHUNK + 3));
  if (fits != CLNN_SUCCESS) {
    gather_free(&gy);
    gather_free(&gx);
    return fits;
  }
  size_t words;
  int cols_at, chunks_at, nch;
  int32_t *tab =
      bwd_table(&gy, &gx, d->h, d->w, kx, flo, fhi, dy->dtype != CLNN_FLOAT32, &words, &cols_at, &chunks_at, &nch);
  gather_free(&gy);
  gather_free(&gx);
  if (!tab) return oom(ctx);
  char opts[80];
  snprintf(opts, sizeof opts, "-DBILINEAR=%d -DXFAST=%d -DKX=%d -DDT=%d", bilinear ? 1 : 0, xfast, kx,
           (int)dy->dtype);
  const int64_t planes = d->n * d->c;
  const int rows = rows_per_item(d->h, d->w, planes, dy->dtype);
  const int ints[8] = {(int)d->h, (int)d->w, (int)d->out_h, (int)d->out_w, rows, cols_at, chunks_at, nch};
  clnn_status st = launch_with_table(ctx, opts, "resample_resize_bwd", tab, words, dy, dx, ints, 8,
                                     (size_t)((d->h + rows - 1) / rows), (size_t)planes, "resize_bwd");
  free(tab);
  return st;
}

/* ------------------------------------------------------ GPU launches */

/* A 1-D launch over total elements (work-groups of gpu_wg) with the table
 * in its own buffer, released once enqueued; ints follow src, dst, table. */
static clnn_status launch_gpu_with_table(clnn_context *ctx, const char *opts, const char *name, const int32_t *tab,
                                         size_t tab_words, const clnn_tensor *src, clnn_tensor *dst,
                                         const int *ints, int nints, int64_t total, const char *base_op) {
  char op[48];
  op_name(op, sizeof op, base_op, src->dtype);
  clnn_kernel_ref kr;
  CLNN_TRY(clnn__kernel(ctx, "resample", opts, name, &kr));
  cl_mem buf;
  CLNN_TRY(table_buffer(ctx, tab, tab_words, &buf));
  clnn_arg args[16];
  int na = 0;
  args[na++] = CLNN_ARG_MEM(clnn__mem(src));
  args[na++] = CLNN_ARG_U64(clnn__off(src));
  args[na++] = CLNN_ARG_MEM(clnn__mem(dst));
  args[na++] = CLNN_ARG_U64(clnn__off(dst));
  args[na++] = CLNN_ARG_MEM(buf);
  for (int i = 0; i < nints; i++) args[na++] = (clnn_arg){sizeof(cl_int), &ints[i]};
  const size_t global = (size_t)total, local = clnn__gpu_flat_wg(ctx);
  clnn_status st = clnn__launch(ctx, &kr, args, na, 1, &global, &local, op);
  clReleaseMemObject(buf);
  return st;
}

/* GPU forward: one output element per work-item, the CPU kernel's table. */
static clnn_status resize_fwd_gpu(clnn_context *ctx, const clnn_resize_desc *d, const taps *ty, const taps *tx,
                                  const clnn_tensor *x, clnn_tensor *y) {
  CLNN_TRY(table_fits(ctx, 4 * (d->out_h + d->out_w)));
  size_t words;
  int32_t *tab = fwd_table(ty, tx, &words);
  if (!tab) return oom(ctx);
  char opts[32];
  snprintf(opts, sizeof opts, "-DBILINEAR=%d -DDT=%d", d->mode == CLNN_RESIZE_BILINEAR ? 1 : 0, (int)x->dtype);
  const int64_t total = d->n * d->c * d->out_h * d->out_w;
  const int ints[5] = {(int)d->h, (int)d->w, (int)d->out_h, (int)d->out_w, (int)total};
  clnn_status st =
      launch_gpu_with_table(ctx, opts, "resample_resize_fwd_gpu", tab, words, x, y, ints, 5, total, "resize_fwd");
  free(tab);
  return st;
}

/* The GPU backward's table: row starts (h + 1) and row entries (dy row,
 * weight bits), then at *cols_at column starts (w + 1) and column entries
 * (dy column, weight bits); entries in ascending dy order (gather_make). */
static int32_t *bwd_gpu_table(const gather_list *gy, const gather_list *gx, int64_t h, int64_t w, size_t *words,
                              int *cols_at) {
  *cols_at = (int)(h + 1 + 2 * gy->count);
  *words = (size_t)(*cols_at + w + 1 + 2 * gx->count);
  int32_t *tab = malloc(*words * sizeof(int32_t));
  if (!tab) return NULL;
  memcpy(tab, gy->start, (size_t)(h + 1) * sizeof(int32_t));
  for (int64_t e = 0; e < gy->count; e++) {
    tab[h + 1 + 2 * e] = gy->out[e];
    tab[h + 2 + 2 * e] = f32_bits(gy->wt[e]);
  }
  int32_t *c = tab + *cols_at;
  memcpy(c, gx->start, (size_t)(w + 1) * sizeof(int32_t));
  for (int64_t e = 0; e < gx->count; e++) {
    c[w + 1 + 2 * e] = gx->out[e];
    c[w + 2 + 2 * e] = f32_bits(gx->wt[e]);
  }
  return tab;
}

/* GPU backward: one dx element per work-item, gathering its taps' dy in
 * the tables' order (no atomics). */
static clnn_status resize_bwd_gpu(clnn_context *ctx, const clnn_resize_desc *d, const taps *ty, const taps *tx,
                                  const clnn_tensor *dy, clnn_tensor *dx) {
  const bool bilinear = d->mode == CLNN_RESIZE_BILINEAR;
  gather_list gy = {0}, gx = {0};
  int32_t *tab = NULL;
  size_t words = 0;
  int cols_at = 0;
  clnn_status st = CLNN_SUCCESS;
  if (!gather_make(&gy, ty, d->h, bilinear) || !gather_make(&gx, tx, d->w, bilinear))
    st = oom(ctx);
  else
    st = table_fits(ctx, d->h + 1 + 2 * gy.count + d->w + 1 + 2 * gx.count);
  if (st == CLNN_SUCCESS && !(tab = bwd_gpu_table(&gy, &gx, d->h, d->w, &words, &cols_at))) st = oom(ctx);
  gather_free(&gy);
  gather_free(&gx);
  if (st != CLNN_SUCCESS) return st;
  char opts[32];
  snprintf(opts, sizeof opts, "-DBILINEAR=%d -DDT=%d", bilinear ? 1 : 0, (int)dy->dtype);
  const int64_t total = d->n * d->c * d->h * d->w;
  const int ints[6] = {(int)d->h, (int)d->w, (int)d->out_h, (int)d->out_w, cols_at, (int)total};
  st = launch_gpu_with_table(ctx, opts, "resample_resize_bwd_gpu", tab, words, dy, dx, ints, 6, total,
                             "resize_bwd");
  free(tab);
  return st;
}

/* ------------------------------------------------------------- tables
 * resize_fwd / resize_bwd: rows16 (CPU: rows of outputs per work-item,
 * float16 2x fast paths, backward in column chunks) and gpu_gather (GPU:
 * one output per work-item; backward one dx element per work-item). Both
 * sample with clnn__resize_taps (PyTorch 1.13's rules, both align_corners).
 */
typedef struct resize_variant {
  clnn_variant v;
  clnn_status (*run)(clnn_context *ctx, const clnn_resize_desc *d, const taps *ty, const taps *tx,
                     const clnn_tensor *src, clnn_tensor *dst);
} resize_variant;

static const resize_variant resize_fwd_table[] = {
    {{"resample.resize_fwd.gpu_gather", CLNN_DEVICE_CLASS_GPU, NULL}, resize_fwd_gpu},
    {{"resample.resize_fwd.rows16", CLNN_DEVICE_CLASS_CPU, NULL}, resize_fwd_run},
};
const clnn_variant_table clnn__resample_resize_fwd_variants = {
    "resample", "resize_fwd", &resize_fwd_table[0].v, sizeof resize_fwd_table / sizeof resize_fwd_table[0],
    sizeof resize_fwd_table[0]};

static const resize_variant resize_bwd_table[] = {
    {{"resample.resize_bwd.gpu_gather", CLNN_DEVICE_CLASS_GPU, NULL}, resize_bwd_gpu},
    {{"resample.resize_bwd.rows16", CLNN_DEVICE_CLASS_CPU, NULL}, resize_bwd_run},
};
const clnn_variant_table clnn__resample_resize_bwd_variants = {
    "resample", "resize_bwd", &resize_bwd_table[0].v, sizeof resize_bwd_table / sizeof resize_bwd_table[0],
    sizeof resize_bwd_table[0]};

static clnn_status resize_run(clnn_context *ctx, const clnn_resize_desc *d, bool backward, const clnn_tensor *src,
                              clnn_tensor *dst) {
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY(resize_validate(ctx, d, backward, src, dst));
  if (d->n == 0 || d->c == 0) return CLNN_SUCCESS; /* empty in, empty out */
  const clnn_variant_table *t = backward ? &clnn__resample_resize_bwd_variants : &clnn__resample_resize_fwd_variants;
  size_t i;
  CLNN_TRY(clnn__plan_pick(ctx, t, d, &i));
  const resize_variant *v = (const resize_variant *)CLNN_VARIANT_AT(t, i);
  taps ty = {0}, tx = {0};
  clnn_status st;
  if (!taps_make(&ty, d->h, d->out_h, d, d->scale_h) || !taps_make(&tx, d->w, d->out_w, d, d->scale_w))
    st = oom(ctx);
  else
    st = v->run(ctx, d, &ty, &tx, src, dst);
  taps_free(&ty);
  taps_free(&tx);
  return st;
}

clnn_status clnn_resize_fwd(clnn_context *ctx, const clnn_resize_desc *desc, const clnn_tensor *x,
                            clnn_tensor *y) {
  CLNN_OP_ENTER(ctx);
  return resize_run(ctx, desc, false, x, y);
}

clnn_status clnn_resize_bwd(clnn_context *ctx, const clnn_resize_desc *desc, const clnn_tensor *dy,
                            clnn_tensor *dx) {
  CLNN_OP_ENTER(ctx);
  return resize_run(ctx, desc, true, dy, dx);
}
