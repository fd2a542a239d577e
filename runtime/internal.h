/*
 * internal.h - what the runtime, the ops and the host reference share and
 * users never see: the context/buffer/tensor structs, error recording,
 * program and kernel lookup, kernel launch, workspace and argument checks.
 */
#ifndef CLNN_INTERNAL_H
#define CLNN_INTERNAL_H

#include "clnn.h"
#include "../kernels/shared.h"
#include "fault.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ structs */

typedef struct clnn_kernel_entry {
  char *name;
  cl_kernel kernel;
  size_t (*local_seen)[3]; /* local sizes launched so far (on PoCL each new one costs a compile) */
  int n_local_seen, cap_local_seen;
} clnn_kernel_entry;

typedef struct clnn_program_entry {
  char *sources; /* the source list of clnn__kernel */
  char *options;
  cl_program program;
  char *disk_key;   /* full identity string written into the cache file */
  uint64_t key_hash; /* names the cache file */
  bool dirty;        /* built or extended since last saved */
  clnn_kernel_entry **kernels;
  int n_kernels, cap_kernels;
} clnn_program_entry;

typedef struct clnn_profile_record {
  cl_event event;
  char kernel[64];
  char op[48];
} clnn_profile_record;

/* The CLNN_* environment variables, read once per context (runtime/device.c).
 * CLNN_PLATFORM and CLNN_DEVICE are read where the device is chosen. */
typedef struct clnn_env {
  clnn_gemm_engine gemm; /* CLNN_GEMM; AUTO when unset */
  int device_class;      /* CLNN_DEVICE_CLASS: 0 (from the device) or a clnn_device_class */
  int transpose_algo;    /* CLNN_CONV_TRANSPOSE_ALGO: -1 or a clnn_conv_transpose_algo */
  int optim_wg;          /* CLNN_OPTIM_WG: 0 or the optimizer kernels' work-group size */
  bool profile;          /* CLNN_PROFILE */
  bool cache_dir_set;    /* CLNN_CACHE_DIR present (an empty value disables the cache) */
  char *cache_dir;
  char *kernel_dir; /* CLNN_KERNEL_DIR, or NULL */
  char *variants;   /* CLNN_VARIANT, a comma list, or NULL */
  char *tune_file;  /* CLNN_TUNE_FILE, or NULL */
} clnn_env;

/* Read the environment; CLNN_ERR_INVALID_VALUE for a malformed value. */
clnn_status clnn__env_read(clnn_env *e);
void clnn__env_free(clnn_env *e);
/* Fill the caps of device d; class_override 0 or a clnn_device_class. */
void clnn__device_caps_query(cl_platform_id platform, cl_device_id d, int class_override,
                             clnn_device_caps *c);

/* The per-device parameters of the GPU-class kernels (runtime/tune.c). */
typedef struct clnn_gpu_tile_ {
  int mwg, nwg, kwg, mdim, ndim;
} clnn_gpu_tile_;
typedef struct clnn_tune {
  clnn_gpu_tile_ tile_large, tile_small, tile_narrow; /* kernels/gemm_gpu.h's tiles */
  bool plain_clblast;                    /* plain GEMMs on CLBlast rather than gemm_gpu */
  char source[600];                      /* which table and section gave them */
} clnn_tune;
/* Read the tables for a device: CLNN_TUNE_FILE's (user_file, may be NULL)
 * first, then the built-in one. CLNN_ERR_IO / CLNN_ERR_INVALID_VALUE with
 * the line at fault for a bad user table. */
clnn_status clnn__tune_load(const clnn_device_caps *caps, const char *user_file, clnn_tune *tune);

/* The variant names of the last op call, comma-separated (clnn_context_last_variant). */
#define CLNN_LAST_VARIANT_MAX 4096

struct clnn_context {
  cl_platform_id platform;
  cl_device_id device;
  cl_context cl;
  cl_command_queue queue;

  clnn_device_caps caps;
  clnn_env env;
  clnn_tune tune;
  bool is_cpu; /* caps.plan_class == CPU: CPU-shaped kernels */
  cl_ulong max_alloc;
  cl_ulong global_mem;

  char last_variant[CLNN_LAST_VARIANT_MAX];
  size_t last_wg, last_global; /* the largest launch of the last op call */

  clnn_gemm_engine gemm;
  bool allow_nondeterministic;
  size_t workspace_limit;
  cl_mem workspace;
  size_t workspace_size;
  cl_mem outer_workspace; /* clnn__outer_workspace: held across inner ops' calls */
  size_t outer_workspace_size;
  cl_mem stage_workspace; /* clnn__stage_workspace: held across an outer op's whole call */
  size_t stage_workspace_size;

  char *cache_dir; /* NULL: disk cache off */
  clnn_cache_stats stats;
  /* Buffers (and so tensors) alive; each keeps the context's OpenCL
   * objects, so one outliving clnn_context_free is still usable, and the
   * last one freed frees the context (clnn__context_drop_buffer). */
  int live_buffers;
  /* Device memory made by clnn__alloc and not yet released (buffers the
   * caller created, workspaces), and its high-water mark. */
  size_t mem_current, mem_peak;
  bool released; /* clnn_context_free was called */
  bool cache_checked, cache_trusted; /* the disk cache folder's check, done on first use */
  clnn_program_entry **programs;
  int n_programs, cap_programs;

  bool profiling;
  /* Set while an op rehearses inner ops (the transposed convolution's
   * backward runs its passes once this way before running them for real):
   * launches, fills and CLBlast calls return success without enqueueing,
   * while everything before them (checks, chunk sizes against the
   * workspace limit, workspace allocation, program builds) runs as usual. */
  bool plan_only;
  clnn_profile_record *prof;
  size_t n_prof, cap_prof;

  const char *api; /* public function being executed, prefixes messages */
  char *errmsg;    /* heap, CLNN_ERRMSG_MAX bytes */
};

struct clnn_buffer {
  clnn_context *ctx;
  cl_mem mem;
  size_t size;
  size_t counted; /* bytes counted in ctx->mem_current: size, or 0 when wrapped */
  int refs;       /* the handle plus every tensor view on it */
};

struct clnn_tensor {
  clnn_context *ctx;
  clnn_buffer *buf;
  size_t offset; /* bytes */
  clnn_dtype dtype;
  int ndim;
  int64_t dims[CLNN_MAX_DIMS];
  size_t numel;
};

#define CLNN_ERRMSG_MAX 65536

/* ---------------------------------------------------------- error recording */

/* Mark entry into public function fn: clears the message, sets its prefix. */
void clnn__enter(clnn_context *ctx, const char *fn);
#define CLNN_ENTER(ctx) clnn__enter((ctx), __func__)
/* Entry into a public op (one that plans and launches); as CLNN_ENTER today,
 * kept apart so that ops are easy to find. */
#define CLNN_OP_ENTER(ctx) CLNN_ENTER(ctx)

/* Record "api: message" in ctx (or thread-locally when ctx is NULL); returns st. */
clnn_status clnn__fail(clnn_context *ctx, clnn_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Map an OpenCL error to a status and record what failed with the raw code. */
clnn_status clnn__cl_fail(clnn_context *ctx, cl_int err, const char *what);
const char *clnn__cl_error_name(cl_int err);

/* The status a public function returns for a NULL pointer argument. */
/* A NULL argument; checked with a NULL ctx (before the function knows its
 * context, so before CLNN_ENTER) the message still names this function. */
#define CLNN_CHECK_NULL(ctx, p)                                            \
  do {                                                                     \
    if ((p) == NULL) return clnn__fail_null((ctx), __func__, #p);          \
  } while (0)
clnn_status clnn__fail_null(clnn_context *ctx, const char *fn, const char *arg);

#define CLNN_TRY(expr)                            \
  do {                                            \
    clnn_status try_status_ = (expr);             \
    if (try_status_ != CLNN_SUCCESS) return try_status_; \
  } while (0)

#define CLNN_TRY_CL(ctx, expr)                                      \
  do {                                                              \
    cl_int try_cl_err_ = (expr);                                    \
    if (try_cl_err_ != CL_SUCCESS) return clnn__cl_fail((ctx), try_cl_err_, #expr); \
  } while (0)

/* ------------------------------------------------------------ size helpers */

/* a * b into *out; false on overflow of int64 or negative operands. */
bool clnn__mul_ok(int64_t a, int64_t b, int64_t *out);
/* Product of dims; false on overflow or a negative dim. 0 is an empty tensor,
 * whose other dims must still multiply to at most CLNN_INDEX_MAX. */
bool clnn__numel_ok(int ndim, const int64_t *dims, int64_t *out);
/* Largest element count a kernel indexes with 32-bit ints. */
#define CLNN_INDEX_MAX ((int64_t)INT32_MAX)
/* Largest size a descriptor field (batch, channels, extent, kernel size,
 * stride...) may take: 2^30, so that sums and products of a few of them stay
 * far inside int64 while validating. */
#define CLNN_DIM_MAX ((int64_t)1 << 30)
/* The descriptor checks every op family shares. clnn__check_dim:
 * CLNN_ERR_INVALID_VALUE "desc->NAME = V is outside [LO, 2^30]" unless
 * lo <= v <= CLNN_DIM_MAX. clnn__check_numel: CLNN_ERR_SIZE_OVERFLOW "WHAT
 * has over 2^31 - 1 elements" unless the product of dims fits a 32-bit
 * kernel index (and every dim is positive). */
clnn_status clnn__check_dim(clnn_context *ctx, const char *name, int64_t v, int64_t lo);
clnn_status clnn__check_numel(clnn_context *ctx, const char *what, int ndim, const int64_t *dims);
/* Outputs of at least this many bytes are written with streaming stores on
 * CPU devices (clnn_store16_stream in kernels/common.h): larger than what
 * stays in this kind of machine's last-level cache until the next op reads
 * it (reads slowed down past 32-64 MB working sets, measured), so reading
 * each line before writing it is pure cost. */
#define CLNN_STREAM_MIN_BYTES ((size_t)24 << 20)
static inline int clnn__stream_output(const clnn_context *ctx, size_t bytes) {
  return ctx->is_cpu && bytes >= CLNN_STREAM_MIN_BYTES;
}

/* Small integer helpers of sizes and launch shapes (b > 0). */
static inline int64_t clnn__ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t clnn__round_up(int64_t a, int64_t b) { return clnn__ceil_div(a, b) * b; }
static inline int64_t clnn__min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t clnn__max64(int64_t a, int64_t b) { return a > b ? a : b; }
/* Whether a GEMM row stride of ld floats is a power of two of 4 KiB or
 * more: such rows collide in the cache (the ops pack or pick another path). */
static inline bool clnn__bad_stride(int64_t ld) { return ld >= 1024 && (ld & (ld - 1)) == 0; }

/* ---------------------------------------------------------- tensor checks */

/* t must be non-NULL, of ctx, of dtype, and have exactly ndim dims equal to dims. */
/* float32, float16 or bfloat16 (runtime/dtype.c). */
bool clnn__dtype_is_float(clnn_dtype dtype);
/* t is a tensor of ctx of a float type: *dtype receives the type (the
 * other tensors of the op then go through clnn__check_tensor with it). */
clnn_status clnn__check_float_type(clnn_context *ctx, const clnn_tensor *t, const char *name, clnn_dtype *dtype);
clnn_status clnn__check_tensor(clnn_context *ctx, const clnn_tensor *t, const char *name,
                               clnn_dtype dtype, int ndim, const int64_t *dims);
/* out must not share bytes with in (either may be NULL: then nothing to check). */
clnn_status clnn__check_no_overlap(clnn_context *ctx, const clnn_tensor *out, const char *out_name,
                                   const clnn_tensor *in, const char *in_name);
/* Format dims as "[2,8,13,11]" into buf. */
const char *clnn__dims_str(char *buf, size_t n, int ndim, const int64_t *dims);

/* Kernel-argument view of a tensor: its cl_mem and its offset in elements. */
static inline cl_mem clnn__mem(const clnn_tensor *t) { return t ? t->buf->mem : NULL; }
static inline cl_ulong clnn__off(const clnn_tensor *t) {
  return t ? (cl_ulong)(t->offset / clnn_dtype_size(t->dtype)) : 0;
}

/* --------------------------------------------------------- programs/kernels */

/* Embedded kernel sources (generated at build time from kernels/). */
typedef struct clnn_embedded_source {
  const char *name; /* "common.h", "conv/im2col.cl", ... */
  const unsigned char *data;
  size_t size;
} clnn_embedded_source;
extern const clnn_embedded_source clnn_embedded_sources[];
extern const size_t clnn_embedded_source_count;

/* A kernel ready to launch: the program entry it came from, and its entry. */
typedef struct clnn_kernel_ref {
  clnn_program_entry *program;
  clnn_kernel_entry *entry;
} clnn_kernel_ref;

/*
 * Find or build the program of a source list with options (the -D list),
 * and the kernel named name inside it. The list names files under kernels/,
 * separated by spaces (".cl" is added to a name without a dot): "act" is
 * kernels/act.cl, "conv/common.h conv/direct_band" two files of conv/. Every
 * program starts with shared.h and common.h.
 */
clnn_status clnn__kernel(clnn_context *ctx, const char *sources, const char *options,
                         const char *name, clnn_kernel_ref *out);

/* One kernel argument: its size and where its value is. */
typedef struct clnn_arg {
  size_t size;
  const void *value;
} clnn_arg;
#define CLNN_ARG_MEM(m) ((clnn_arg){sizeof(cl_mem), &(cl_mem){(m)}})
#define CLNN_ARG_I32(v) ((clnn_arg){sizeof(cl_int), &(cl_int){(cl_int)(v)}})
#define CLNN_ARG_U64(v) ((clnn_arg){sizeof(cl_ulong), &(cl_ulong){(cl_ulong)(v)}})
#define CLNN_ARG_F32(v) ((clnn_arg){sizeof(cl_float), &(cl_float){(cl_float)(v)}})
/* A tensor as two arguments: cl_mem then element offset (ulong). */
#define CLNN_ARG_TENSOR(t) CLNN_ARG_MEM(clnn__mem(t)), CLNN_ARG_U64(clnn__off(t))
#define CLNN_ARGS(...) \
  (const clnn_arg[]){__VA_ARGS__}, (int)(sizeof((clnn_arg[]){__VA_ARGS__}) / sizeof(clnn_arg))

/*
 * Set the arguments and enqueue kernel k over global (rounded up to a
 * multiple of local; kernels bounds-check). op names the op and path for
 * the profile ("conv2d_fwd:im2col_gemm").
 */
clnn_status clnn__launch(clnn_context *ctx, const clnn_kernel_ref *k, const clnn_arg *args,
                         int nargs, cl_uint dims, const size_t *global, const size_t *local,
                         const char *op);

/* Save dirty programs to the disk cache (no-op when disabled). */
clnn_status clnn__cache_save_all(clnn_context *ctx);
/* Release every program and kernel. */
void clnn__programs_release(clnn_context *ctx);

/* ----------------------------------------------------------------- memory */

/* A device scratch buffer of at least bytes, shared by all ops of ctx (the
 * queue is in order, so consecutive ops may reuse it). */
clnn_status clnn__workspace(clnn_context *ctx, size_t bytes, cl_mem *out);
/* Release memory made by clnn__alloc (bytes as allocated), for the counts. */
void clnn__release(clnn_context *ctx, cl_mem mem, size_t bytes);

/* A second scratch buffer of at least bytes, for an op that runs other
 * ops' internal entry points (which use clnn__workspace) and keeps data in
 * it across those calls (ops/deconv.c around the convolution's passes).
 * Grown like the workspace, released with the context. */
clnn_status clnn__outer_workspace(clnn_context *ctx, size_t bytes, cl_mem *out);
/* A third scratch buffer, for data held across an op that itself uses the
 * outer workspace: the float32 copies of a half-precision transposed
 * convolution's tensors (ops/deconv.c) around its sub-pixel passes. */
clnn_status clnn__stage_workspace(clnn_context *ctx, size_t bytes, cl_mem *out);
/* A buffer of ctx was freed: when it was the last and the context was
 * released, the context goes too. */
void clnn__context_drop_buffer(clnn_context *ctx);

/* ------------------------------------------------- half-precision staging
 * An op whose float32 code runs unchanged on float32 copies of a
 * half-precision call's tensors (linear, deform_conv, the RoI planes
 * kernels; runtime/stage.c, kernels/stage.cl): the copies are tensor views
 * of the originals' shapes, laid out in the outer workspace (the float32
 * code uses the inner one) at 64-byte boundaries; inputs are widened into
 * them before the pass and outputs rounded once (nearest even) after it.
 * The convolution lays out buffer operands of its own (ops/conv_half.c)
 * and converts with the same kernels. */
#define CLNN_STAGE_MAX 12
typedef struct clnn_stage {
  clnn_context *ctx;
  clnn_dtype dt;                    /* the call's half type */
  const char *op;                   /* the profile's name of the conversions */
  clnn_buffer buf;                  /* stands for the outer workspace */
  size_t floats;                    /* laid out so far */
  clnn_tensor copy[CLNN_STAGE_MAX]; /* the views; the stage must not move */
  int ncopies;
} clnn_stage;

void clnn__stage_init(clnn_stage *s, clnn_context *ctx, clnn_dtype dt, const char *op);
/* A float32 view of t's shape in the stage (NULL for NULL t); it has
 * memory once clnn__stage_alloc has run. */
clnn_tensor *clnn__stage_copy(clnn_stage *s, const clnn_tensor *t);
/* Back every view laid out so far by the outer workspace. */
clnn_status clnn__stage_alloc(clnn_stage *s);
/* copy = t widened to float32 (t NULL or empty: nothing to do). */
clnn_status clnn__stage_widen(clnn_stage *s, const clnn_tensor *t, const clnn_tensor *copy);
/* t = copy rounded once to t's type (t NULL or empty: nothing to do). */
clnn_status clnn__stage_round(clnn_stage *s, const clnn_tensor *copy, clnn_tensor *t);

/* clCreateBuffer with status mapping (device OOM, too large). */
clnn_status clnn__alloc(clnn_context *ctx, size_t bytes, cl_mem *out);

/* One more reference to a buffer (tensor views hold one each). */
void clnn__buffer_retain(clnn_buffer *b);
/* Size of a caller's cl_mem, after checking that it belongs to ctx. */
clnn_status clnn__foreign_mem_size(clnn_context *ctx, cl_mem mem, size_t *size);
/* Keep the event of a launch for clnn_profile_get (takes ownership of ev). */
void clnn__profile_record(clnn_context *ctx, cl_event ev, const char *kernel, const char *op);

/* Enqueue a fill of count floats at element offset off of mem with value. */
clnn_status clnn__fill_f32(clnn_context *ctx, cl_mem mem, size_t off, size_t count, float value);
/* Zero a float tensor (float32, or a 2-byte half type): the gradient of a
 * sum over nothing (a batch of 0, no RoI), as torch returns it. t may be
 * NULL (an output not asked for). */
clnn_status clnn__zero_tensor(clnn_context *ctx, clnn_tensor *t);

/* --------------------------------------------------------------- variants */

/*
 * A kernel variant of one op family and pass. Families keep tables of
 * structs whose first member is a clnn_variant (so the planner can walk them
 * with a stride) followed by their typed launch function; the tables are
 * ordered best-first and listed in runtime/variant.c.
 */
typedef struct clnn_variant {
  const char *name; /* "<family>.<pass>.<variant>" */
  unsigned classes; /* clnn_device_class bits it is planned for */
  /* Whether the variant can run the problem (family-specific) on ctx; NULL
   * means always. On false it writes why into why[0 .. n). */
  bool (*applies)(const clnn_context *ctx, const void *problem, char *why, size_t n);
} clnn_variant;

/* One family and pass: its variants, best first. */
typedef struct clnn_variant_table {
  const char *family, *pass;
  const clnn_variant *first; /* &table[0].v */
  size_t count, stride;      /* entries, sizeof table[0] */
} clnn_variant_table;

#define CLNN_VARIANT_AT(t, i) ((const clnn_variant *)((const char *)(t)->first + (i) * (t)->stride))
#define CLNN_CLASS_ANY (CLNN_DEVICE_CLASS_CPU | CLNN_DEVICE_CLASS_GPU)

/*
 * Plan: the index of the variant of table t that runs problem on ctx. The
 * first variant forced by CLNN_VARIANT in t, if any, when it applies (else
 * CLNN_ERR_UNSUPPORTED naming it and why); otherwise the first variant of
 * the context's device class that applies (CLNN_ERR_UNSUPPORTED listing
 * each one's reason when none does). Adds the name to the op's record
 * (clnn_context_last_variant).
 */
clnn_status clnn__plan_pick(clnn_context *ctx, const clnn_variant_table *t, const void *problem, size_t *index);
/* The same choice without recording it (algorithm queries); a failure's
 * message goes to the thread (clnn_context_errmsg(NULL)). */
clnn_status clnn__plan_query(const clnn_context *ctx, const clnn_variant_table *t, const void *problem,
                             size_t *index);
/* The same choice without recording it, a failure's message in ctx. */
clnn_status clnn__plan_check(clnn_context *ctx, const clnn_variant_table *t, const void *problem, size_t *index);
/* Whether CLNN_VARIANT names this variant (a forced variant may skip a
 * default policy, such as a waste bound, that applies() enforces). */
bool clnn__variant_forced(const clnn_context *ctx, const clnn_variant *v);
/* Write a reason into why[0 .. n) and return false: the tail of an applies(). */
bool clnn__why(char *why, size_t n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* CLNN_ERR_INVALID_VALUE unless every name of the comma list is a variant. */
clnn_status clnn__check_forced_variants(const char *list);
/* Whether name appears in the comma list (NULL: no). */
bool clnn__name_in_list(const char *list, const char *name);

/* ------------------------------------------------------ GPU launch shapes */

/* CLNN_GPU_WG, the GPU-class kernels' work-group size, is in kernels/shared.h. */
/* Work-groups per compute unit a grid-stride kernel launches at most: enough
 * resident groups to hide memory latency, few enough that each work-item
 * loops a while (launch and scheduling costs amortised). */
#define CLNN_GPU_GROUPS_PER_CU 16

/* The grid of a 1-D grid-stride GPU kernel over `items` work-items' worth of
 * work: local = CLNN_GPU_WG (or the device's maximum, if smaller), global a
 * multiple of it, no more than the work needs nor than fills the device. */
void clnn__gpu_stride_grid(const clnn_context *ctx, size_t items, size_t *global, size_t *local);
/* The work-group of a flat GPU kernel: CLNN_GPU_WG, or the device's maximum if smaller. */
size_t clnn__gpu_flat_wg(const clnn_context *ctx);
/* The work-group of a GPU tree reduction over `values` values, per_item of
 * them a work-item: a power of two from 64 (two warps, a wavefront) up to
 * CLNN_GPU_WG while the values need more, then halved while above the
 * device's work-group limit or its local memory (one float a work-item). */
size_t clnn__gpu_tree_wg(const clnn_context *ctx, int64_t values, int64_t per_item);

/* ----------------------------------------------------------- misc helpers */

/* clnn__fnv1a and CLNN_FNV_INIT are in cache_file.h. */
/* Whether the environment variable name is set to a true-ish value ("1", "yes", "on"). */
bool clnn__env_flag(const char *name);

/* -D option text for an activation: " -DACT=<n> -DACT_ALPHA=<a>f". */
void clnn__act_options(char *buf, size_t n, clnn_activation act, float alpha);

/* --------------------------------------------------------------- gemm */

/* How B is stored for the own engine. */
typedef enum clnn_b_layout {
  CLNN_B_ROWMAJOR = 0, /* K x N, row stride ldb */
  CLNN_B_PANELS = 1    /* [ceil(N/NR)][K][NR] (CLNN_TILE_NR), zero padded (see kernels/gemm.cl) */
} clnn_b_layout;

/*
 * A batched GEMM with a fused epilogue, the building block of conv-like ops:
 * for i1 < nb1, i2 < nb2, each matrix X starts at x_off + i1*x_s1 + i2*x_s2
 * (elements), and C = act(alpha * op(A) B + beta * C + bias[i2*bias_s2 + m]).
 */
typedef struct clnn_gemm_job {
  int64_t m, n, k;
  int64_t nb1, nb2;
  cl_mem a;
  size_t a_off;
  int64_t lda, a_s1, a_s2;
  bool a_trans;
  cl_mem b;
  size_t b_off;
  int64_t ldb, b_s1, b_s2;
  clnn_b_layout b_layout;
  bool b_trans; /* B stored N x K (row-major layout only; not on the CPU tile engine) */
  cl_mem c;
  size_t c_off;
  int64_t ldc, c_s1, c_s2;
  cl_mem bias; /* NULL: none */
  size_t bias_off;
  int64_t bias_s2;
  float alpha, beta;
  clnn_activation act;
  float act_alpha;
} clnn_gemm_job;

/* A job with the given sizes, alpha 1, beta 0, one batch, no bias or activation. */
clnn_gemm_job clnn__gemm_job(int64_t m, int64_t n, int64_t k);

/* Whether ops on ctx use libclnn's own GEMM-shaped kernels (CLNN_GEMM own, or
 * auto on a CPU-class context) rather than routing GEMMs through CLBlast. */
bool clnn__use_own_gemm(const clnn_context *ctx);
/* The applies() test of a variant that runs libclnn's own GEMM-shaped
 * kernels: false with the reason when the context routes GEMMs to CLBlast. */
static inline bool clnn__own_engine_applies(const clnn_context *ctx, char *why, size_t n) {
  return clnn__use_own_gemm(ctx) || clnn__why(why, n, "an own-engine kernel, and the GEMM engine is CLBlast");
}

/* Plan (gemm.mm's variant table) and run a job. */
clnn_status clnn__gemm_run(clnn_context *ctx, const clnn_gemm_job *job, const char *op);
/* Plan a job and build its kernel without launching: an op that launches
 * something before its GEMM calls it first, so that a failed build cannot
 * leave an output half-written. */
clnn_status clnn__gemm_prepare(clnn_context *ctx, const clnn_gemm_job *job);

/* The GPU engine's tile shape (kernels/gemm_gpu.h): work-group tile
 * mwg x nwg of C, K slices of kwg, mdim x ndim work-items. */
typedef clnn_gpu_tile_ clnn_gpu_tile;
/* Whether a tile satisfies the kernel's shape rules: MDIM | MWG, NDIM | NWG,
 * KWG | WG, WG | MWG*KWG and WG | KWG*NWG (WG = MDIM*NDIM), at most 8 x 8
 * outputs per work-item, a work-group of 64 to 1024. */
bool clnn__gpu_tile_valid(const clnn_gpu_tile *t);
/* The tile the GPU engine uses for an m x n output (batch of nb matrices). */
clnn_gpu_tile clnn__gpu_tile_for(const clnn_context *ctx, int64_t m, int64_t n, int64_t nb);
/* "-DGG_MWG=.. -DGG_NWG=.. -DGG_KWG=.. -DGG_MDIM=.. -DGG_NDIM=.." into buf. */
void clnn__gpu_tile_options(const clnn_gpu_tile *t, char *buf, size_t n);

#endif /* CLNN_INTERNAL_H */
