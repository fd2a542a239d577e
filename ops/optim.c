/*
 * optim.c - optimizer steps over lists of tensors (Adam, AdamW, SGD), the
 * parameter EMA and gradient clipping: descriptor checks, list validation,
 * the launch plan (segment tables) and the launches of kernels/optim.cl.
 *
 * Launch plan. Every tensor of the list is cut into blocks of BLOCK elements
 * (the last block of a tensor may be short; blocks never span tensors) and
 * given a row of the segment table (see kernels/optim.cl). Tensors whose
 * roles live in the same buffers form a group; a launch binds up to SETS
 * groups (one set of buffer arguments each) and runs one work-group per
 * block. Views into arena buffers are one group, so a whole ResNet-50 (161
 * tensors) steps in one launch; 161 separate tensors take 21. Groups follow
 * the order of their first tensor in the list, and per-block outputs
 * (non-finite flags, partial sums of squares) are numbered over the list, not
 * over the groups: reductions give the same bits however buffers are shared.
 *
 * Scalars (bias corrections, step size, 1 - lr * wd, 1 / grad_scale) are
 * computed in double here and rounded to float once.
 *
 * Types. Each role's tensors share one type per call, and the kernels are
 * built for it (-DPDT/-DGDT/-DSDT/-DCDT, kernels/optim.cl): the steps'
 * master parameters are float32, gradients float32, float16 or bfloat16,
 * the state (m, v, vmax; SGD's momentum) float32 or bfloat16, and the model
 * copy (optional) float16 or bfloat16. The math is float32 throughout; a
 * half tensor is rounded once when stored. Every variant takes every type.
 */
#include "../desc/desc.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Roles of a list call, the segment table's row and the buffer sets per
 * launch (tensors in up to SETS different combinations of buffers share a
 * launch; separate tensors: one launch per SETS tensors) are the kernels'
 * (kernels/shared.h). */
#define ROLES CLNN_OPTIM_ROLES
#define ROLE_P CLNN_OPTIM_ROLE_P
#define ROLE_G CLNN_OPTIM_ROLE_G
#define ROLE_M CLNN_OPTIM_ROLE_M
#define ROLE_V CLNN_OPTIM_ROLE_V
#define ROLE_X CLNN_OPTIM_ROLE_X
#define ROLE_C CLNN_OPTIM_ROLE_C
#define SEG_ROW CLNN_OPTIM_SEG_ROW
#define SETS CLNN_OPTIM_SETS

/* CPU shape: elements per work-item and block; 16 KiB per stream keeps the
 * seven streams of an Adam block in L2 while the next block is fetched. */
#define BLOCK_CPU 4096
/* GPU shape: each work-item of a group handles 16 elements (four float4s)
 * of a block: 4096 elements per block at 256 work-items, enough work per
 * group to hide the segment-table lookup. */
#define GPU_ELEMS_PER_ITEM 16

/* ------------------------------------------------------------ list checks */

/* Type masks: the clnn_dtypes a role accepts. */
#define T_F32 (1u << CLNN_FLOAT32)
#define T_F16 (1u << CLNN_FLOAT16)
#define T_BF16 (1u << CLNN_BFLOAT16)
#define T_HALF (T_F16 | T_BF16)
#define T_FLOAT (T_F32 | T_HALF)
#define T_STATE (T_F32 | T_BF16) /* float16 cannot hold v = g^2 of small gradients */

/* The tensors of one call: for each role its array (NULL when unused). */
typedef struct optim_call {
  clnn_context *ctx;
  size_t count;
  const clnn_tensor *const *role[ROLES];
  const char *role_name[ROLES];
  bool role_written[ROLES];
  unsigned role_types[ROLES]; /* accepted types (T_* mask) */
  clnn_dtype dtype[ROLES];    /* the role's type, found by check_lists (float32 when unused) */
  const clnn_tensor *scalar_out; /* found_inf / total_norm, or NULL */
  const char *scalar_name;
  clnn_dtype scalar_dtype;
} optim_call;

static void call_init(optim_call *c, clnn_context *ctx, size_t count) {
  memset(c, 0, sizeof *c);
  c->ctx = ctx;
  c->count = count;
}

static void call_role(optim_call *c, int r, const char *name, const clnn_tensor *const *arr, bool written,
                      unsigned types) {
  c->role[r] = arr;
  c->role_name[r] = name;
  c->role_written[r] = written;
  c->role_types[r] = types;
}

/* "float32, float16 or bfloat16": the names of a type mask, for messages. */
static const char *types_str(unsigned types, char *buf, size_t n) {
  static const clnn_dtype order[] = {CLNN_FLOAT32, CLNN_FLOAT16, CLNN_BFLOAT16};
  int total = 0, k = 0;
  for (int i = 0; i < 3; i++) total += (types >> order[i]) & 1u;
  buf[0] = '\0';
  for (int i = 0; i < 3; i++) {
    if (!((types >> order[i]) & 1u)) continue;
    size_t len = strlen(buf);
    snprintf(buf + len, n - len, "%s%s", k == 0 ? "" : k == total - 1 ? " or " : ", ", clnn_dtype_name(order[i]));
    k++;
  }
  return buf;
}

/* A role's tensor i against the role's accepted types and its first
 * tensor's type (the kernels are built for one type per role). */
static clnn_status check_type(const optim_call *c, int r, size_t i) {
  const clnn_tensor *t = c->role[r][i];
  const char *nm = c->role_name[r];
  if (!((c->role_types[r] >> t->dtype) & 1u)) {
    char want[64];
    return clnn__fail(c->ctx, CLNN_ERR_INVALID_VALUE, "%s[%zu] is %s, expected %s", nm, i,
                      clnn_dtype_name(t->dtype), types_str(c->role_types[r], want, sizeof want));
  }
  const clnn_dtype first = c->role[r][0]->dtype;
  if (t->dtype != first)
    return clnn__fail(c->ctx, CLNN_ERR_INVALID_VALUE, "%s[%zu] is %s but %s[0] is %s: a list has one type",
                      nm, i, clnn_dtype_name(t->dtype), nm, clnn_dtype_name(first));
  return CLNN_SUCCESS;
}

/* The optimizer state (m, v, vmax) is one type: the kernel has one SDT. */
static clnn_status check_state_types(optim_call *c) {
  int first = -1;
  for (int r = ROLE_M; r <= ROLE_X; r++) {
    if (!c->role[r]) continue;
    if (first < 0) first = r;
    else if (c->dtype[r] != c->dtype[first])
      return clnn__fail(c->ctx, CLNN_ERR_INVALID_VALUE, "%s[0] is %s but %s[0] is %s: the state tensors share one type",
                        c->role_name[r], clnn_dtype_name(c->dtype[r]), c->role_name[first],
                        clnn_dtype_name(c->dtype[first]));
  }
  return CLNN_SUCCESS;
}

static clnn_status check_lists(optim_call *c) {
  clnn_context *ctx = c->ctx;
  int first = -1;
  for (int r = 0; r < ROLES; r++) {
    if (!c->role_name[r]) continue;
    if (!c->role[r] && c->count > 0)
      return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", c->role_name[r]);
    if (first < 0) first = r;
  }
  for (size_t i = 0; i < c->count; i++) {
    for (int r = 0; r < ROLES; r++) {
      if (!c->role[r]) continue;
      const clnn_tensor *t = c->role[r][i];
      const char *nm = c->role_name[r];
      if (!t) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "%s[%zu] is NULL", nm, i);
      if (t->ctx != ctx)
        return clnn__fail(ctx, CLNN_ERR_CONTEXT_MISMATCH, "%s[%zu] belongs to another context", nm, i);
      CLNN_TRY(check_type(c, r, i));
      const clnn_tensor *ref = c->role[first][i];
      if (t->numel != ref->numel)
        return clnn__fail(ctx, CLNN_ERR_SHAPE_MISMATCH, "%s[%zu] has %zu elements, %s[%zu] has %zu", nm, i,
                          t->numel, c->role_name[first], i, ref->numel);
    }
  }
  for (int r = 0; r < ROLES; r++) c->dtype[r] = c->role[r] && c->count > 0 ? c->role[r][0]->dtype : CLNN_FLOAT32;
  CLNN_TRY(check_state_types(c));
  const clnn_tensor *s = c->scalar_out;
  if (s) {
    if (s->ctx != ctx)
      return clnn__fail(ctx, CLNN_ERR_CONTEXT_MISMATCH, "%s belongs to another context", c->scalar_name);
    if (s->dtype != c->scalar_dtype || s->numel != 1)
      return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "%s must be a %s tensor of one element (it has %zu %s)",
                        c->scalar_name, clnn_dtype_name(c->scalar_dtype), s->numel, clnn_dtype_name(s->dtype));
  }
  return CLNN_SUCCESS;
}

/* One tensor's bytes for the overlap sweep. */
typedef struct span {
  uintptr_t mem;
  size_t lo, hi;
  bool written;
  int role; /* -1: the scalar output */
  size_t index;
} span;

static int span_cmp(const void *a, const void *b) {
  const span *x = a, *y = b;
  if (x->mem != y->mem) return x->mem < y->mem ? -1 : 1;
  if (x->lo != y->lo) return x->lo < y->lo ? -1 : 1;
  return (x->hi > y->hi) - (x->hi < y->hi);
}

static const char *span_name(const optim_call *c, const span *s, char *buf, size_t n) {
  if (s->role < 0) snprintf(buf, n, "%s", c->scalar_name);
  else snprintf(buf, n, "%s[%zu]", c->role_name[s->role], s->index);
  return buf;
}

/*
 * No written tensor may share a byte with any other tensor of the call
 * (read-only tensors may overlap each other). Sorting by (buffer, start)
 * and sweeping finds every such pair in O(n log n): a span overlaps an
 * earlier one exactly when it starts before the furthest end seen so far.
 */
static clnn_status check_overlaps(const optim_call *c) {
  size_t n = c->scalar_out ? 1 : 0;
  for (int r = 0; r < ROLES; r++)
    if (c->role[r]) n += c->count;
  if (n < 2) return CLNN_SUCCESS;
  span *s = malloc(n * sizeof *s);
  if (!s) return clnn__fail(c->ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  size_t k = 0;
  for (int r = 0; r < ROLES; r++) {
    if (!c->role[r]) continue;
    for (size_t i = 0; i < c->count; i++) {
      const clnn_tensor *t = c->role[r][i];
      s[k++] = (span){(uintptr_t)t->buf->mem, t->offset, t->offset + clnn_tensor_bytes(t), c->role_written[r], r, i};
    }
  }
  if (c->scalar_out) {
    const clnn_tensor *t = c->scalar_out;
    s[k++] = (span){(uintptr_t)t->buf->mem, t->offset, t->offset + clnn_tensor_bytes(t), true, -1, 0};
  }
  qsort(s, n, sizeof *s, span_cmp);
  clnn_status st = CLNN_SUCCESS;
  size_t end_any = 0, end_written = 0, at_any = 0, at_written = 0;
  for (size_t i = 0; i < n && st == CLNN_SUCCESS; i++) {
    if (i == 0 || s[i].mem != s[i - 1].mem) end_any = end_written = 0;
    size_t other = SIZE_MAX;
    if (s[i].written && s[i].lo < end_any) other = at_any;
    else if (s[i].lo < end_written) other = at_written;
    if (other != SIZE_MAX) {
      char a[64], b[64];
      const span *w = s[i].written ? &s[i] : &s[other], *o = s[i].written ? &s[other] : &s[i];
      st = clnn__fail(c->ctx, CLNN_ERR_ALIASING, "%s (written) overlaps %s", span_name(c, w, a, sizeof a),
                      span_name(c, o, b, sizeof b));
    }
    if (s[i].hi > end_any) end_any = s[i].hi, at_any = i;
    if (s[i].written && s[i].hi > end_written) end_written = s[i].hi, at_written = i;
  }
  free(s);
  return st;
}

/* ------------------------------------------------------------ launch plan */

/* Tensors whose roles share the same buffers. */
typedef struct seg_group {
  cl_mem mem[ROLES];
  size_t first_entry, n_entries; /* in the sorted entries */
  size_t first_index;            /* list index of its first tensor: groups go in this order */
} seg_group;

/* One launch: up to SETS groups, each bound to one set of buffer arguments. */
typedef struct launch_batch {
  cl_mem mem[SETS][ROLES]; /* NULL where a set or role is unused */
  size_t first_row, nrows; /* its rows in the table */
  uint64_t nblocks;
} launch_batch;

typedef struct plan {
  int wg;          /* work-group size (1: CPU shape) */
  uint64_t block;  /* elements per block */
  uint64_t nslots; /* blocks of the whole list */
  size_t nbatches;
  launch_batch *batches;
  cl_mem table;    /* count rows of SEG_ROW cl_ulongs */
  char opts[160];  /* "-DWG=.. -DBLOCK=.. -DPDT=.. -DGDT=.. -DSDT=.. -DCDT=.." */
} plan;

typedef struct entry {
  cl_mem mem[ROLES];
  size_t index;
} entry;

static int entry_cmp(const void *a, const void *b) {
  const entry *x = a, *y = b;
  for (int r = 0; r < ROLES; r++)
    if (x->mem[r] != y->mem[r]) return (uintptr_t)x->mem[r] < (uintptr_t)y->mem[r] ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

static int group_cmp(const void *a, const void *b) {
  const seg_group *x = a, *y = b;
  return (x->first_index > y->first_index) - (x->first_index < y->first_index);
}

/* ------------------------------------------------------------- variants
 * Each pass (adam: Adam and AdamW; sgd; ema; clip: the global norm and the
 * scaling) has two shapes of the same kernels (kernels/optim.cl):
 *  - vec16 (CPU): work-groups of one work-item, each owning a block of
 *    BLOCK_CPU elements walked with float16;
 *  - gpu_vec4 (GPU): work-groups of 256 work-items (CLNN_GPU_WG, or the
 *    device's maximum; CLNN_OPTIM_WG sets another power of two), blocks of
 *    16 elements per work-item walked one float4 per work-item and step,
 *    neighbours on neighbouring float4s; reductions as trees in local
 *    memory. The non-finite check runs in the shape of its step.
 * Both bind up to SETS buffer groups per launch (one launch for an arena).
 */
typedef struct optim_variant {
  clnn_variant v;
  bool gpu_shape;
} optim_variant;

#define OPTIM_TABLE(pass)                                                                                    \
  static const optim_variant optim_##pass##_table[] = {                                                    \
      {{"optim." #pass ".gpu_vec4", CLNN_DEVICE_CLASS_GPU, NULL}, true},                                     \
      {{"optim." #pass ".vec16", CLNN_DEVICE_CLASS_CPU, NULL}, false},                                       \
  };                                                                                                         \
  const clnn_variant_table clnn__optim_##pass##_variants = {                                                \
      "optim", #pass, &optim_##pass##_table[0].v, sizeof optim_##pass##_table / sizeof optim_##pass##_table[0], \
      sizeof optim_##pass##_table[0]}
OPTIM_TABLE(adam);
OPTIM_TABLE(sgd);
OPTIM_TABLE(ema);
OPTIM_TABLE(clip);

/* The GPU shape's work-group size: CLNN_OPTIM_WG when set, else
 * CLNN_GPU_WG; halved while above the device's maximum (a power of two: the
 * tree reductions halve it). */
static int gpu_work_group_size(const clnn_context *ctx) {
  size_t wg = ctx->env.optim_wg > 0 ? (size_t)ctx->env.optim_wg : CLNN_GPU_WG;
  while (ctx->caps.max_work_group_size && wg > ctx->caps.max_work_group_size) wg /= 2;
  return (int)wg;
}

static void plan_free(plan *p) {
  free(p->batches);
  if (p->table) clReleaseMemObject(p->table);
  memset(p, 0, sizeof *p);
}

/* Group the entries (sorted by buffers) into runs of equal buffers, in list order. */
static size_t make_groups(const entry *e, size_t count, seg_group *groups) {
  size_t n = 0;
  for (size_t i = 0; i < count; i++) {
    if (i > 0 && !memcmp(e[i].mem, e[i - 1].mem, sizeof e[i].mem)) {
      groups[n - 1].n_entries++;
      continue;
    }
    seg_group *g = &groups[n++];
    memcpy(g->mem, e[i].mem, sizeof g->mem);
    g->first_entry = i;
    g->n_entries = 1;
    g->first_index = e[i].index;
  }
  qsort(groups, n, sizeof *groups, group_cmp);
  return n;
}

/*
 * Table rows, batch after batch: each batch takes the next SETS groups, each
 * group's tensors in list order, blocks numbered from 0 within the batch.
 */
static void fill_rows(const optim_call *c, plan *p, const entry *e, const seg_group *groups, size_t ngroups,
                      const uint64_t *slot0, int first, cl_ulong *rows) {
  size_t nrow = 0;
  for (size_t gi = 0; gi < ngroups; gi++) {
    const int set = (int)(gi % SETS);
    if (set == 0) {
      launch_batch *b = &p->batches[p->nbatches++];
      memset(b, 0, sizeof *b);
      b->first_row = nrow;
    }
    launch_batch *b = &p->batches[p->nbatches - 1];
    memcpy(b->mem[set], groups[gi].mem, sizeof b->mem[set]);
    for (size_t k = 0; k < groups[gi].n_entries; k++) {
      const size_t i = e[groups[gi].first_entry + k].index;
      const size_t numel = c->role[first][i]->numel;
      cl_ulong *row = rows + nrow++ * SEG_ROW;
      row[0] = b->nblocks;
      row[1] = numel;
      row[2] = slot0[i];
      row[3] = (cl_ulong)set;
      for (int r = 0; r < ROLES; r++) row[4 + r] = c->role[r] ? clnn__off(c->role[r][i]) : 0;
      b->nblocks += (numel + p->block - 1) / p->block;
      b->nrows++;
    }
  }
}

static clnn_status plan_make(const optim_call *c, bool gpu_shape, plan *p) {
  clnn_context *ctx = c->ctx;
  memset(p, 0, sizeof *p);
  p->wg = gpu_shape ? gpu_work_group_size(ctx) : 1;
  p->block = gpu_shape ? (uint64_t)p->wg * GPU_ELEMS_PER_ITEM : BLOCK_CPU;
  /* Role types; SDT is the state's (M's, else V's...), CDT 0 without a copy. */
  int sdt = CLNN_FLOAT32;
  for (int r = ROLE_X; r >= ROLE_M; r--)
    if (c->role[r]) sdt = c->dtype[r];
  snprintf(p->opts, sizeof p->opts, "%s-DWG=%d -DBLOCK=%llu -DPDT=%d -DGDT=%d -DSDT=%d -DCDT=%d",
           gpu_shape ? "-DGPU_SHAPE=1 " : "", p->wg, (unsigned long long)p->block, (int)c->dtype[ROLE_P],
           (int)c->dtype[ROLE_G], sdt, c->role[ROLE_C] ? (int)c->dtype[ROLE_C] : 0);
  int first = 0;
  while (!c->role[first]) first++;
  entry *e = malloc(c->count * sizeof *e);
  uint64_t *slot0 = malloc(c->count * sizeof *slot0);
  cl_ulong *rows = malloc(c->count * SEG_ROW * sizeof *rows);
  seg_group *groups = malloc(c->count * sizeof *groups);
  p->batches = malloc((c->count + SETS - 1) / SETS * sizeof *p->batches);
  clnn_status st = CLNN_SUCCESS;
  if (!e || !slot0 || !rows || !groups || !p->batches) {
    st = clnn__fail(ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
    goto done;
  }
  /* Output slots in list order, then entries sorted by their buffers. */
  for (size_t i = 0; i < c->count; i++) {
    slot0[i] = p->nslots;
    p->nslots += (c->role[first][i]->numel + p->block - 1) / p->block;
    for (int r = 0; r < ROLES; r++) e[i].mem[r] = c->role[r] ? c->role[r][i]->buf->mem : NULL;
    e[i].index = i;
  }
  if (p->nslots > (uint64_t)INT32_MAX) {
    st = clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "the list has %llu blocks of %llu elements, over 2^31 - 1",
                    (unsigned long long)p->nslots, (unsigned long long)p->block);
    goto done;
  }
  qsort(e, c->count, sizeof *e, entry_cmp);
  size_t ngroups = make_groups(e, c->count, groups);
  fill_rows(c, p, e, groups, ngroups, slot0, first, rows);
  /* A buffer initialised from host memory at creation: no enqueued write
   * to order, and releasing it after the launches is safe (OpenCL frees it
   * when the kernels that use it are done). */
  cl_int err;
  p->table = clCreateBuffer(ctx->cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                            c->count * SEG_ROW * sizeof *rows, rows, &err);
  if (err != CL_SUCCESS) {
    p->table = NULL;
    st = clnn__cl_fail(ctx, err, "clCreateBuffer(segment table)");
  }
done:
  free(e);
  free(slot0);
  free(rows);
  free(groups);
  if (st != CLNN_SUCCESS) plan_free(p);
  return st;
}

/* ----------------------------------------------------------------- launch */

#define MAX_ARGS (SETS * ROLES + 24)

/*
 * Launch kernel k once per batch: arguments are, for each listed role, the
 * batch's SETS buffers of that role, then the segment table (buffer, first
 * row, rows), then tail.
 */
static clnn_status launch_batches(clnn_context *ctx, const plan *p, const clnn_kernel_ref *k, const int *roles,
                                  int nroles, const clnn_arg *tail, int ntail, const char *op) {
  for (size_t bi = 0; bi < p->nbatches; bi++) {
    const launch_batch *b = &p->batches[bi];
    cl_ulong row_off = (cl_ulong)b->first_row * SEG_ROW;
    cl_int nseg = (cl_int)b->nrows;
    clnn_arg args[MAX_ARGS];
    int na = 0;
    for (int i = 0; i < nroles; i++)
      for (int set = 0; set < SETS; set++) args[na++] = (clnn_arg){sizeof(cl_mem), &b->mem[set][roles[i]]};
    args[na++] = (clnn_arg){sizeof(cl_mem), &p->table};
    args[na++] = (clnn_arg){sizeof row_off, &row_off};
    args[na++] = (clnn_arg){sizeof nseg, &nseg};
    for (int i = 0; i < ntail; i++) args[na++] = tail[i];
    size_t global = (size_t)b->nblocks * (size_t)p->wg, local = (size_t)p->wg;
    CLNN_TRY(clnn__launch(ctx, k, args, na, 1, &global, &local, op));
  }
  return CLNN_SUCCESS;
}

/* Kernels of the non-finite check, built before anything is enqueued. */
typedef struct check_kernels {
  clnn_kernel_ref check, reduce;
} check_kernels;

static clnn_status get_check_kernels(clnn_context *ctx, const plan *p, check_kernels *k) {
  char opts[192];
  snprintf(opts, sizeof opts, "-DOPT=%d %s", CLNN_OPTIM_CLIP, p->opts);
  CLNN_TRY(clnn__kernel(ctx, "optim", opts, "optim_check_finite", &k->check));
  return clnn__kernel(ctx, "optim", opts, "optim_flags_reduce", &k->reduce);
}

/*
 * Enqueue the non-finite check of the gradients (role 1, times gmul): one
 * flag per block into the workspace, then one int at ws[nslots] (and
 * found_inf) = any flag set.
 */
static clnn_status enqueue_check(clnn_context *ctx, const plan *p, const check_kernels *k, cl_mem ws,
                                 float gmul, const clnn_tensor *found_inf, const char *op) {
  static const int roles[] = {ROLE_G};
  CLNN_TRY(launch_batches(ctx, p, &k->check, roles, 1,
                         CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_F32(gmul)), op));
  size_t one = (size_t)p->wg;
  return clnn__launch(ctx, &k->reduce,
                      CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_I32(p->nslots), CLNN_ARG_MEM(ws),
                                CLNN_ARG_U64(p->nslots), CLNN_ARG_MEM(clnn__mem(found_inf)),
                                CLNN_ARG_U64(clnn__off(found_inf))),
                      1, &one, &one, op);
}

/* The common part of every list call: validate, pick the pass's variant
 * (table), then plan. */
static clnn_status prepare(optim_call *c, const clnn_variant_table *table, plan *p) {
  CLNN_TRY(check_lists(c));
  CLNN_TRY(check_overlaps(c));
  if (c->count == 0) return CLNN_SUCCESS;
  size_t i;
  CLNN_TRY(clnn__plan_pick(c->ctx, table, c, &i));
  return plan_make(c, ((const optim_variant *)CLNN_VARIANT_AT(table, i))->gpu_shape, p);
}

/* count == 0 with a found_inf: nothing is non-finite. */
static clnn_status write_no_inf(clnn_context *ctx, const clnn_tensor *found_inf) {
  if (!found_inf) return CLNN_SUCCESS;
  return clnn__fill_f32(ctx, clnn__mem(found_inf), (size_t)clnn__off(found_inf), 1, 0.0f); /* 0.0f is int 0 */
}

/* ------------------------------------------------------------------- Adam */

static clnn_status adam_step(clnn_context *ctx, const clnn_adam_desc *d, bool decoupled, size_t count,
                             clnn_tensor *const *params, const clnn_tensor *const *grads,
                             clnn_tensor *const *m, clnn_tensor *const *v, clnn_tensor *const *vmax,
                             clnn_tensor *const *copies, clnn_tensor *found_inf) {
  const char *op = decoupled ? "adamw_step" : "adam_step";
  CLNN_CHECK_NULL(ctx, ctx);
  clnn_adam_scalars s = {0};
  CLNN_TRY(clnn__adam_desc_check(ctx, d, &s));
  optim_call c;
  call_init(&c, ctx, count);
  call_role(&c, ROLE_P, "params", (const clnn_tensor *const *)params, true, T_F32);
  call_role(&c, ROLE_G, "grads", grads, false, T_FLOAT);
  call_role(&c, ROLE_M, "exp_avgs", (const clnn_tensor *const *)m, true, T_STATE);
  call_role(&c, ROLE_V, "exp_avg_sqs", (const clnn_tensor *const *)v, true, T_STATE);
  if (d->amsgrad) call_role(&c, ROLE_X, "max_exp_avg_sqs", (const clnn_tensor *const *)vmax, true, T_STATE);
  if (copies) call_role(&c, ROLE_C, "model_copies", (const clnn_tensor *const *)copies, true, T_HALF);
  c.scalar_out = found_inf;
  c.scalar_name = "found_inf";
  c.scalar_dtype = CLNN_INT32;
  plan p;
  memset(&p, 0, sizeof p);
  CLNN_TRY(prepare(&c, &clnn__optim_adam_variants, &p));
  if (count == 0) return write_no_inf(ctx, found_inf);

  /* Weight decay 0 builds the same program for Adam and AdamW: same bits. */
  int decay = d->weight_decay == 0.0 ? CLNN_OPTIM_DECAY_NONE
              : decoupled             ? CLNN_OPTIM_DECAY_DECOUPLED
                                      : CLNN_OPTIM_DECAY_L2;
  char opts[256];
  snprintf(opts, sizeof opts, "-DOPT=%d %s -DDECAY=%d -DAMSGRAD=%d", CLNN_OPTIM_ADAM, p.opts, decay, d->amsgrad);
  bool check = d->skip_nonfinite || found_inf;
  clnn_kernel_ref k;
  check_kernels ck;
  cl_mem ws = NULL;
  clnn_status st = clnn__kernel(ctx, "optim", opts, "optim_adam", &k);
  if (st == CLNN_SUCCESS && check) st = get_check_kernels(ctx, &p, &ck);
  if (st == CLNN_SUCCESS && check) st = clnn__workspace(ctx, (size_t)(p.nslots + 1) * sizeof(cl_int), &ws);
  if (st == CLNN_SUCCESS && check) st = enqueue_check(ctx, &p, &ck, ws, s.gmul, found_inf, op);
  if (st == CLNN_SUCCESS) {
    static const int roles[] = {ROLE_P, ROLE_G, ROLE_M, ROLE_V, ROLE_X, ROLE_C};
    cl_mem skip = d->skip_nonfinite ? ws : NULL;
    st = launch_batches(ctx, &p, &k, roles, 6,
                       CLNN_ARGS(CLNN_ARG_MEM(skip), CLNN_ARG_U64(p.nslots), CLNN_ARG_F32(s.gmul),
                                 CLNN_ARG_F32(s.wd), CLNN_ARG_F32(s.decay), CLNN_ARG_F32(s.beta1),
                                 CLNN_ARG_F32(s.omb1), CLNN_ARG_F32(s.beta2), CLNN_ARG_F32(s.omb2),
                                 CLNN_ARG_F32(s.step_size), CLNN_ARG_F32(s.inv_sqrt_bc2), CLNN_ARG_F32(s.eps)),
                       op);
  }
  plan_free(&p);
  return st;
}

clnn_status clnn_adam_step(clnn_context *ctx, const clnn_adam_desc *desc, size_t count,
                           clnn_tensor *const *params, const clnn_tensor *const *grads,
                           clnn_tensor *const *exp_avgs, clnn_tensor *const *exp_avg_sqs,
                           clnn_tensor *const *max_exp_avg_sqs, clnn_tensor *found_inf) {
  CLNN_OP_ENTER(ctx);
  return adam_step(ctx, desc, false, count, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, NULL,
                   found_inf);
}

clnn_status clnn_adamw_step(clnn_context *ctx, const clnn_adam_desc *desc, size_t count,
                            clnn_tensor *const *params, const clnn_tensor *const *grads,
                            clnn_tensor *const *exp_avgs, clnn_tensor *const *exp_avg_sqs,
                            clnn_tensor *const *max_exp_avg_sqs, clnn_tensor *found_inf) {
  CLNN_OP_ENTER(ctx);
  return adam_step(ctx, desc, true, count, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, NULL,
                   found_inf);
}

clnn_status clnn_adam_step_copy(clnn_context *ctx, const clnn_adam_desc *desc, size_t count,
                                clnn_tensor *const *params, const clnn_tensor *const *grads,
                                clnn_tensor *const *exp_avgs, clnn_tensor *const *exp_avg_sqs,
                                clnn_tensor *const *max_exp_avg_sqs, clnn_tensor *const *model_copies,
                                clnn_tensor *found_inf) {
  CLNN_OP_ENTER(ctx);
  return adam_step(ctx, desc, false, count, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, model_copies,
                   found_inf);
}

clnn_status clnn_adamw_step_copy(clnn_context *ctx, const clnn_adam_desc *desc, size_t count,
                                 clnn_tensor *const *params, const clnn_tensor *const *grads,
                                 clnn_tensor *const *exp_avgs, clnn_tensor *const *exp_avg_sqs,
                                 clnn_tensor *const *max_exp_avg_sqs, clnn_tensor *const *model_copies,
                                 clnn_tensor *found_inf) {
  CLNN_OP_ENTER(ctx);
  return adam_step(ctx, desc, true, count, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, model_copies,
                   found_inf);
}

/* -------------------------------------------------------------------- SGD */

static clnn_status sgd_step(clnn_context *ctx, const clnn_sgd_desc *desc, size_t count, clnn_tensor *const *params,
                            const clnn_tensor *const *grads, clnn_tensor *const *momentum_bufs,
                            clnn_tensor *const *copies, clnn_tensor *found_inf) {
  CLNN_CHECK_NULL(ctx, ctx);
  const char *op = "sgd_step";
  clnn_sgd_scalars s = {0};
  CLNN_TRY(clnn__sgd_desc_check(ctx, desc, &s));
  const bool momentum = desc->momentum != 0.0;
  optim_call c;
  call_init(&c, ctx, count);
  call_role(&c, ROLE_P, "params", (const clnn_tensor *const *)params, true, T_F32);
  call_role(&c, ROLE_G, "grads", grads, false, T_FLOAT);
  if (momentum)
    call_role(&c, ROLE_M, "momentum_bufs", (const clnn_tensor *const *)momentum_bufs, true, T_STATE);
  if (copies) call_role(&c, ROLE_C, "model_copies", (const clnn_tensor *const *)copies, true, T_HALF);
  c.scalar_out = found_inf;
  c.scalar_name = "found_inf";
  c.scalar_dtype = CLNN_INT32;
  plan p;
  memset(&p, 0, sizeof p);
  CLNN_TRY(prepare(&c, &clnn__optim_sgd_variants, &p));
  if (count == 0) return write_no_inf(ctx, found_inf);

  char opts[256];
  snprintf(opts, sizeof opts, "-DOPT=%d %s -DSGD_DECAY=%d -DMOMENTUM=%d -DNESTEROV=%d", CLNN_OPTIM_SGD, p.opts,
           desc->weight_decay != 0.0, momentum, desc->nesterov);
  bool check = desc->skip_nonfinite || found_inf;
  clnn_kernel_ref k;
  check_kernels ck;
  cl_mem ws = NULL;
  clnn_status st = clnn__kernel(ctx, "optim", opts, "optim_sgd", &k);
  if (st == CLNN_SUCCESS && check) st = get_check_kernels(ctx, &p, &ck);
  if (st == CLNN_SUCCESS && check) st = clnn__workspace(ctx, (size_t)(p.nslots + 1) * sizeof(cl_int), &ws);
  if (st == CLNN_SUCCESS && check) st = enqueue_check(ctx, &p, &ck, ws, s.gmul, found_inf, op);
  if (st == CLNN_SUCCESS) {
    static const int roles[] = {ROLE_P, ROLE_G, ROLE_M, ROLE_C};
    cl_mem skip = desc->skip_nonfinite ? ws : NULL;
    st = launch_batches(ctx, &p, &k, roles, 4,
                       CLNN_ARGS(CLNN_ARG_MEM(skip), CLNN_ARG_U64(p.nslots), CLNN_ARG_F32(s.gmul),
                                 CLNN_ARG_F32(s.wd), CLNN_ARG_F32(s.momentum), CLNN_ARG_F32(s.omd),
                                 CLNN_ARG_F32(s.lr), CLNN_ARG_I32(desc->step == 1)),
                       op);
  }
  plan_free(&p);
  return st;
}

clnn_status clnn_sgd_step(clnn_context *ctx, const clnn_sgd_desc *desc, size_t count,
                          clnn_tensor *const *params, const clnn_tensor *const *grads,
                          clnn_tensor *const *momentum_bufs, clnn_tensor *found_inf) {
  CLNN_OP_ENTER(ctx);
  return sgd_step(ctx, desc, count, params, grads, momentum_bufs, NULL, found_inf);
}

clnn_status clnn_sgd_step_copy(clnn_context *ctx, const clnn_sgd_desc *desc, size_t count,
                               clnn_tensor *const *params, const clnn_tensor *const *grads,
                               clnn_tensor *const *momentum_bufs, clnn_tensor *const *model_copies,
                               clnn_tensor *found_inf) {
  CLNN_OP_ENTER(ctx);
  return sgd_step(ctx, desc, count, params, grads, momentum_bufs, model_copies, found_inf);
}

/* -------------------------------------------------------------------- EMA */

clnn_status clnn_ema_update(clnn_context *ctx, double decay, size_t count, clnn_tensor *const *ema,
                            const clnn_tensor *const *params) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(ctx, ctx);
  if (!(decay >= 0.0 && decay <= 1.0))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "decay = %g is outside [0, 1]", decay);
  optim_call c;
  call_init(&c, ctx, count);
  call_role(&c, ROLE_P, "ema", (const clnn_tensor *const *)ema, true, T_FLOAT);
  call_role(&c, ROLE_G, "params", params, false, T_FLOAT);
  plan p;
  memset(&p, 0, sizeof p);
  CLNN_TRY(prepare(&c, &clnn__optim_ema_variants, &p));
  if (count == 0) return CLNN_SUCCESS;
  /* torch.lerp(ema, p, w): ema + w (p - ema) for w < 0.5, else p - (1 - w)(p - ema). */
  const double w = 1.0 - decay;
  const float coef = (float)(w < 0.5 ? w : -(1.0 - w));
  const int from_param = w < 0.5 ? 0 : 1;
  char opts[192];
  snprintf(opts, sizeof opts, "-DOPT=%d %s", CLNN_OPTIM_EMA, p.opts);
  clnn_kernel_ref k;
  clnn_status st = clnn__kernel(ctx, "optim", opts, "optim_ema", &k);
  if (st == CLNN_SUCCESS) {
    static const int roles[] = {ROLE_P, ROLE_G};
    st = launch_batches(ctx, &p, &k, roles, 2, CLNN_ARGS(CLNN_ARG_F32(coef), CLNN_ARG_I32(from_param)),
                       "ema_update");
  }
  plan_free(&p);
  return st;
}

/* --------------------------------------------------------------- clipping */

clnn_status clnn_clip_grad_norm(clnn_context *ctx, size_t count, clnn_tensor *const *grads, double max_norm,
                                clnn_tensor *total_norm) {
  CLNN_OP_ENTER(ctx);
  CLNN_CHECK_NULL(ctx, ctx);
  if (!(max_norm >= 0.0))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "max_norm = %g must be >= 0 (INFINITY: no clipping)",
                      max_norm);
  optim_call c;
  call_init(&c, ctx, count);
  call_role(&c, ROLE_G, "grads", (const clnn_tensor *const *)grads, true, T_FLOAT);
  c.scalar_out = total_norm;
  c.scalar_name = "total_norm";
  c.scalar_dtype = CLNN_FLOAT32;
  plan p;
  memset(&p, 0, sizeof p);
  CLNN_TRY(prepare(&c, &clnn__optim_clip_variants, &p));
  if (count == 0) {
    if (!total_norm) return CLNN_SUCCESS;
    return clnn__fill_f32(ctx, clnn__mem(total_norm), (size_t)clnn__off(total_norm), 1, 0.0f);
  }
  char opts[192];
  snprintf(opts, sizeof opts, "-DOPT=%d %s", CLNN_OPTIM_CLIP, p.opts);
  clnn_kernel_ref kp, kf, ks;
  cl_mem ws = NULL;
  const float mn = max_norm > FLT_MAX ? INFINITY : (float)max_norm;
  clnn_status st = clnn__kernel(ctx, "optim", opts, "optim_norm_partial", &kp);
  if (st == CLNN_SUCCESS) st = clnn__kernel(ctx, "optim", opts, "optim_norm_finalize", &kf);
  if (st == CLNN_SUCCESS) st = clnn__kernel(ctx, "optim", opts, "optim_scale", &ks);
  if (st == CLNN_SUCCESS) st = clnn__workspace(ctx, (size_t)(p.nslots + 2) * sizeof(float), &ws);
  static const int roles[] = {ROLE_G};
  if (st == CLNN_SUCCESS)
    st = launch_batches(ctx, &p, &kp, roles, 1, CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(0)), "clip_grad_norm");
  if (st == CLNN_SUCCESS) {
    size_t one = (size_t)p.wg;
    st = clnn__launch(ctx, &kf,
                      CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(0), CLNN_ARG_I32(p.nslots), CLNN_ARG_MEM(ws),
                                CLNN_ARG_U64(p.nslots), CLNN_ARG_MEM(clnn__mem(total_norm)),
                                CLNN_ARG_U64(clnn__off(total_norm)), CLNN_ARG_F32(mn)),
                      1, &one, &one, "clip_grad_norm");
  }
  if (st == CLNN_SUCCESS && max_norm <= FLT_MAX)
    st = launch_batches(ctx, &p, &ks, roles, 1, CLNN_ARGS(CLNN_ARG_MEM(ws), CLNN_ARG_U64(p.nslots + 1)),
                       "clip_grad_norm");
  plan_free(&p);
  return st;
}

/* ------------------------------------------------- dynamic loss scaling */

clnn_status clnn_grad_scaler_update_from(clnn_grad_scaler *scaler, const clnn_tensor *found_inf, int *found) {
  CLNN_ENTER(NULL);
  CLNN_CHECK_NULL(NULL, found_inf);
  clnn_context *ctx = found_inf->ctx;
  if (found_inf->dtype != CLNN_INT32 || found_inf->numel != 1)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "found_inf must be an int32 tensor of one element (it has %zu %s)",
                      found_inf->numel, clnn_dtype_name(found_inf->dtype));
  CLNN_TRY(clnn_grad_scaler_check(scaler));
  int32_t v = 0;
  CLNN_TRY(clnn_tensor_read(found_inf, &v, sizeof v)); /* waits for the step that wrote it */
  if (found) *found = v != 0;
  return clnn_grad_scaler_update(scaler, v != 0);
}
