/*
 * clnn.h - the public interface of libclnn.
 *
 * libclnn runs neural-network primitives (convolution, deformable convolution,
 * RoI pooling, upsampling, optimizers, layers and losses), forward and backward,
 * on any OpenCL 1.2 device, and ships a plain-C CPU reference for every op.
 *
 * Conventions that hold for every function below:
 *  - Every function that can fail returns a clnn_status; CLNN_SUCCESS is 0.
 *    On failure clnn_context_errmsg() gives a detailed message (which argument,
 *    the raw OpenCL or CLBlast code, the build log). The library never prints
 *    and never aborts.
 *  - Objects are opaque and created by clnn_<object>_create / _wrap and
 *    released by clnn_<object>_free; every _free accepts NULL.
 *  - Tensors hold float32 (or int32 where an op says so), dense, row-major
 *    ("NCHW contiguous" for 4-D activations).
 *  - Device ops enqueue their kernels on the context's in-order command queue
 *    and return without waiting; clnn_context_finish() waits. Reading a tensor
 *    back waits for the work that writes it.
 *  - A bad argument is detected before anything is enqueued: nothing is
 *    written when a call fails validation.
 *  - A context, and everything created from it, is used by one thread at a
 *    time. Distinct contexts are independent: threads may create, use and
 *    free their own contexts at once.
 *  - Host reference functions (clnn_ref_*) take the same descriptors and plain
 *    float pointers; they accumulate in double and are meant for validation.
 */
#ifndef CLNN_H
#define CLNN_H

#include <stddef.h>
#include <stdint.h>

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLNN_VERSION_MAJOR 0
#define CLNN_VERSION_MINOR 1
#define CLNN_VERSION_PATCH 0

/** The library's version as "major.minor.patch". */
const char *clnn_version(void);

/* ------------------------------------------------------------------ status */

/*
 * One list generates the enum and clnn_status_str(): X(name, text).
 * New codes go at the end so existing values never change.
 */
#define CLNN_STATUS_LIST(X)                                                        \
  X(CLNN_SUCCESS, "success")                                                       \
  X(CLNN_ERR_NULL_POINTER, "a required pointer argument is NULL")                  \
  X(CLNN_ERR_INVALID_VALUE, "an argument has an invalid value")                    \
  X(CLNN_ERR_SHAPE_MISMATCH, "tensor shapes do not match the operation")           \
  X(CLNN_ERR_SIZE_OVERFLOW, "a size computation overflows")                        \
  X(CLNN_ERR_BUFFER_TOO_SMALL, "a buffer is smaller than the data it must hold")   \
  X(CLNN_ERR_HOST_OUT_OF_MEMORY, "host memory allocation failed")                  \
  X(CLNN_ERR_DEVICE_OUT_OF_MEMORY, "device memory allocation failed")              \
  X(CLNN_ERR_NO_DEVICE, "no matching OpenCL platform or device")                  \
  X(CLNN_ERR_BUILD_FAILED, "OpenCL program build failed")                          \
  X(CLNN_ERR_OPENCL, "an OpenCL call failed")                                      \
  X(CLNN_ERR_BLAS, "a CLBlast call failed")                                        \
  X(CLNN_ERR_UNSUPPORTED, "not supported on this device or configuration")         \
  X(CLNN_ERR_NOT_FINITE, "a value is NaN or infinite")                             \
  X(CLNN_ERR_IO, "file input or output failed")                                    \
  X(CLNN_ERR_FORMAT, "malformed file contents")                                    \
  X(CLNN_ERR_CONTEXT_MISMATCH, "objects belong to different contexts")             \
  X(CLNN_ERR_ALIASING, "an output overlaps an input it must not overlap")

#define CLNN_STATUS_ENUM_ITEM_(name, text) name,
typedef enum clnn_status { CLNN_STATUS_LIST(CLNN_STATUS_ENUM_ITEM_) CLNN_STATUS_COUNT_ } clnn_status;
#undef CLNN_STATUS_ENUM_ITEM_

/** A static, human-readable text for a status ("unknown status" if out of range). */
const char *clnn_status_str(clnn_status status);

/** The enumerator's name, e.g. "CLNN_ERR_SHAPE_MISMATCH" (static string). */
const char *clnn_status_name(clnn_status status);

/* ----------------------------------------------------------------- context */

typedef struct clnn_context clnn_context;

/** Which GEMM engine the library uses inside ops (conv, linear, ...). */
typedef enum clnn_gemm_engine {
  CLNN_GEMM_AUTO = 0, /* libclnn's own register-tiled kernels on CPU devices, CLBlast elsewhere */
  CLNN_GEMM_OWN = 1,  /* always libclnn's own kernels */
  CLNN_GEMM_CLBLAST = 2 /* always CLBlast */
} clnn_gemm_engine;

/**
 * Options for clnn_context_create(). Start from clnn_context_options_default()
 * and change fields; passing NULL to clnn_context_create means the defaults.
 */
typedef struct clnn_context_options {
  /* Device choice. -1 = not set: then CLNN_PLATFORM / CLNN_DEVICE from the
   * environment apply, else the first GPU of any platform, else the first
   * device of any type. With platform_index >= 0, device_index counts within
   * that platform; otherwise it counts over all platforms in clnn-info order. */
  int platform_index;
  int device_index;
  /* 1 = record per-kernel times from OpenCL events, 0 = off,
   * -1 = as the CLNN_PROFILE environment variable says (on when "1"). */
  int profiling;
  /* Directory for the persistent program-binary cache. NULL = $CLNN_CACHE_DIR,
   * else $XDG_CACHE_HOME/clnn, else ~/.cache/clnn. "" disables the disk cache. */
  const char *cache_dir;
  /* Upper bound in bytes for library-managed scratch memory (im2col and the
   * like); ops split work into chunks to stay under it. 0 = 256 MiB. */
  size_t workspace_limit;
  /* GEMM engine; CLNN_GEMM environment variable ("own", "clblast") overrides AUTO. */
  clnn_gemm_engine gemm;
  /* 1 = allow faster non-deterministic algorithms (float atomics) where an op
   * offers them. Default 0: same inputs, same bits. */
  int allow_nondeterministic;
} clnn_context_options;

/** The default options (every field "not set" / automatic). */
clnn_context_options clnn_context_options_default(void);

/**
 * Create a context on a device (see clnn_context_options for the choice)
 * with its own in-order command queue.
 * *out receives the context, or NULL on failure; then clnn_context_errmsg(NULL)
 * tells why. Statuses: CLNN_ERR_NULL_POINTER, CLNN_ERR_NO_DEVICE,
 * CLNN_ERR_INVALID_VALUE (bad option or environment value), CLNN_ERR_OPENCL,
 * CLNN_ERR_HOST_OUT_OF_MEMORY.
 */
clnn_status clnn_context_create(const clnn_context_options *options, clnn_context **out);

/**
 * Create a context that uses the caller's OpenCL context, device and in-order
 * command queue. libclnn retains both and releases them in clnn_context_free.
 * Statuses: CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (queue not of that
 * context, or out-of-order), CLNN_ERR_OPENCL, CLNN_ERR_HOST_OUT_OF_MEMORY.
 * options may be NULL; its device-choice fields are ignored.
 */
clnn_status clnn_context_wrap(cl_context cl_ctx, cl_command_queue queue,
                              const clnn_context_options *options, clnn_context **out);

/**
 * Wait for the queue, save any program binaries not yet cached, release
 * everything. NULL is a no-op. Tensors and buffers still alive keep what
 * they need: they can still be read, written and freed (no op runs on them
 * any more), and the last one freed releases the rest.
 */
void clnn_context_free(clnn_context *ctx);

/**
 * The detail of the last failure in this context ("" if none), valid until the
 * next call on the context. With ctx == NULL: the last failure of this thread
 * that had no context to record it (clnn_context_create, NULL ctx arguments).
 */
const char *clnn_context_errmsg(const clnn_context *ctx);

/** Wait until all enqueued work has finished. */
clnn_status clnn_context_finish(clnn_context *ctx);

/** The OpenCL objects in use (borrowed: do not release them). */
cl_context clnn_context_cl_context(const clnn_context *ctx);
cl_command_queue clnn_context_cl_queue(const clnn_context *ctx);
cl_device_id clnn_context_cl_device(const clnn_context *ctx);

/** The device's name as OpenCL reports it (static until the context is freed). */
const char *clnn_context_device_name(const clnn_context *ctx);

/** 1 if libclnn plans CPU-shaped kernels for the device (a CPU, unless
 * CLNN_DEVICE_CLASS=gpu), else 0. */
int clnn_context_is_cpu(const clnn_context *ctx);

/* ------------------------------------------------------------ device model */

/** The kinds of kernels libclnn plans for (bits, so a variant can list several). */
typedef enum clnn_device_class {
  CLNN_DEVICE_CLASS_CPU = 1, /* CPU-shaped kernels: one work-item owns a large register tile */
  CLNN_DEVICE_CLASS_GPU = 2  /* GPU-shaped kernels: work-groups of 64-256, coalesced, local tiles */
} clnn_device_class;

/**
 * What libclnn knows of a context's device, read once when the context is
 * made. Sizes in bytes. simd_width is the warp (NVIDIA), wavefront (AMD) or
 * largest sub-group size (Intel) where the driver tells it, else 0.
 */
typedef struct clnn_device_caps {
  char name[256];
  char vendor[128];
  char driver_version[128];
  char device_version[128];   /* "OpenCL 3.0 CUDA" */
  char opencl_c_version[128]; /* "OpenCL C 1.2 " */
  char platform_version[256];
  int is_cpu, is_gpu, is_accelerator; /* CL_DEVICE_TYPE */
  /* The class libclnn plans for: GPU for GPUs and accelerators, CPU for CPUs,
   * unless CLNN_DEVICE_CLASS=cpu|gpu says otherwise. */
  clnn_device_class plan_class;
  unsigned compute_units;
  unsigned max_clock_mhz;
  size_t max_work_group_size;
  size_t max_work_item_sizes[3];
  uint64_t local_mem_size;
  int local_mem_dedicated; /* CL_LOCAL; 0 for CL_GLOBAL (emulated in global memory) or none */
  unsigned preferred_vector_width_float;
  unsigned native_vector_width_float;
  unsigned simd_width;
  int subgroups; /* cl_khr_subgroups or cl_intel_subgroups */
  int fp16, fp64;
  int correct_div_sqrt; /* CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT: libclnn's programs ask for it */
  uint64_t global_mem_size;
  uint64_t max_mem_alloc_size;
  uint64_t global_mem_cache_size;
  unsigned global_mem_cacheline;
} clnn_device_caps;

/** Copy the context's device caps into *out. */
clnn_status clnn_context_device_caps(const clnn_context *ctx, clnn_device_caps *out);

/**
 * Where the GPU-class kernels' parameters come from: the table and section
 * that matched the device ("built-in [device NVIDIA H200]", "FILE [vendor
 * AMD]", "built-in [default]"). Tables: CLNN_TUNE_FILE's, then the one built
 * in (kernels/tune.txt); tools/clnn-tune writes a device's section.
 */
const char *clnn_context_tuning(const clnn_context *ctx);

/* ---------------------------------------------------------------- variants */

/*
 * Every op family and pass chooses among named kernel variants, listed
 * best-first per device class ("conv.fwd.direct_band", "act.fwd.gpu_vec4").
 * The planner takes the first variant of the device's class that applies to
 * the problem. CLNN_VARIANT=name[,name...] forces variants wherever they
 * apply (of any class); where a forced variant does not apply, the op fails
 * with CLNN_ERR_UNSUPPORTED and a message naming it and saying why.
 */

/** Number of variants libclnn has, over all families and passes. */
size_t clnn_variant_count(void);

/** Variant i (< clnn_variant_count()): its family, pass and full name, and
 * the device classes (clnn_device_class bits) it is planned for. NULL names
 * when i is out of range. */
void clnn_variant_info(size_t i, const char **family, const char **pass, const char **name,
                       unsigned *classes);

/**
 * What the op calls on ctx since clnn_context_clear_variants (or since the
 * context was made) ran: the names of the variants they chose, each once, in
 * order, separated by commas (so that the string works as a CLNN_VARIANT
 * value), and in *wg (may be NULL) the work-group size, in work-items, of
 * their largest launch: the main kernel. The string stays valid until the
 * next call on ctx.
 */
const char *clnn_context_last_variant(const clnn_context *ctx, size_t *wg);

/** Forget the variants and work-group size recorded so far. */
void clnn_context_clear_variants(clnn_context *ctx);

/**
 * Save the binaries of programs built or extended (new work-group sizes
 * launched) since they were last saved to the disk cache. clnn_context_free
 * does this too; call it to persist earlier. No-op when the cache is disabled.
 */
clnn_status clnn_context_save_cache(clnn_context *ctx);

/**
 * Counters of the program cache: programs built from source, loaded from
 * the disk cache, found in the context's memory cache, and saved to disk.
 */
typedef struct clnn_cache_stats {
  int built_from_source;
  int loaded_from_disk;
  int memory_hits;
  int saved_to_disk;
  int rejected_disk_files; /* corrupt or foreign cache files ignored */
  /* Why the disk cache is off, once a program was looked for: "" when it is
   * on (or off by request); else its folder and what is wrong with it. A
   * folder is used only when it belongs to the user (or root) and neither
   * group nor others can write it: anything in it runs as code. */
  char disk_cache_off[256];
} clnn_cache_stats;
clnn_status clnn_context_cache_stats(const clnn_context *ctx, clnn_cache_stats *out);

/* ------------------------------------------------------------------ memory */

/** Device memory the context allocated: buffers made by clnn_buffer_create
 * and clnn_tensor_create, and the workspaces ops grow (not wrapped cl_mems,
 * not small per-launch tables). */
typedef struct clnn_memory_stats {
  size_t current_bytes; /* allocated now */
  size_t peak_bytes;    /* the most allocated at once since creation or clnn_context_reset_peak */
} clnn_memory_stats;
clnn_status clnn_context_memory(const clnn_context *ctx, clnn_memory_stats *out);
/** Start a new high-water mark from what is allocated now. */
void clnn_context_reset_peak(clnn_context *ctx);

/* --------------------------------------------------------------- profiling */

/** One kernel launch recorded when profiling is on. */
typedef struct clnn_profile_entry {
  char kernel[64]; /* kernel name, e.g. "gemm_tile8x32" */
  char op[48];     /* op and path, e.g. "conv2d_fwd:im2col_gemm" */
  double ms;       /* device time from the OpenCL profiling event */
} clnn_profile_entry;

/**
 * Wait for the queue, then copy out up to max recorded entries (oldest first)
 * and the total recorded into *count. entries may be NULL to ask the count.
 * Statuses: CLNN_ERR_UNSUPPORTED when profiling is off.
 */
clnn_status clnn_profile_get(clnn_context *ctx, clnn_profile_entry *entries, size_t max,
                             size_t *count);

/** Forget the recorded entries. */
clnn_status clnn_profile_reset(clnn_context *ctx);

/**
 * Wait for the queue, then give in *ms the device time from the start of the
 * first recorded launch to the end of the last (gaps between launches
 * included, as CUDA events around the same work would measure it); 0 when
 * nothing is recorded. Statuses: CLNN_ERR_UNSUPPORTED when profiling is off.
 */
clnn_status clnn_profile_span(clnn_context *ctx, double *ms);

/* ------------------------------------------------------------------ buffer */

typedef struct clnn_buffer clnn_buffer;

/**
 * Allocate a device buffer of bytes (> 0) bytes. Statuses: CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (0 bytes, over the device's max allocation),
 * CLNN_ERR_DEVICE_OUT_OF_MEMORY.
 */
clnn_status clnn_buffer_create(clnn_context *ctx, size_t bytes, clnn_buffer **out);

/** Wrap a caller's cl_mem (retained, released by clnn_buffer_free) without copying. */
clnn_status clnn_buffer_wrap(clnn_context *ctx, cl_mem mem, clnn_buffer **out);

/** Drop this reference; the memory goes when the last tensor view on it is freed too. */
void clnn_buffer_free(clnn_buffer *buf);

size_t clnn_buffer_size(const clnn_buffer *buf);
cl_mem clnn_buffer_cl_mem(const clnn_buffer *buf);

/** Blocking copies between host memory and [offset, offset + bytes) of the buffer. */
clnn_status clnn_buffer_write(clnn_buffer *buf, size_t offset, const void *src, size_t bytes);
clnn_status clnn_buffer_read(const clnn_buffer *buf, size_t offset, void *dst, size_t bytes);

/** Enqueue a fill of [offset, offset + bytes) with a repeated pattern of 1, 2, 4, 8 or 16 bytes. */
clnn_status clnn_buffer_fill(clnn_buffer *buf, size_t offset, size_t bytes, const void *pattern,
                             size_t pattern_size);

/* ------------------------------------------------------------------ tensor */

#define CLNN_MAX_DIMS 8

/*
 * Element types. The half-precision types are storage formats: kernels load
 * them, compute in float32, and round once on store, to nearest even.
 *   CLNN_FLOAT16   IEEE 754 binary16 (torch.float16).
 *   CLNN_BFLOAT16  the high 16 bits of a float32 (torch.bfloat16).
 * Every op family takes half-precision tensors; each op's comment says
 * which of its tensors may be half and which stay float32 (batch-norm
 * parameters and statistics, losses, RoI boxes, optimizer master weights).
 * A type an op does not take returns CLNN_ERR_INVALID_VALUE naming the
 * argument and its type.
 */
typedef enum clnn_dtype { CLNN_FLOAT32 = 0, CLNN_INT32 = 1, CLNN_FLOAT16 = 2, CLNN_BFLOAT16 = 3 } clnn_dtype;

typedef struct clnn_tensor clnn_tensor;

/** Size in bytes of one element of the type: 4, or 2 for the half types (0 for an unknown value). */
size_t clnn_dtype_size(clnn_dtype dtype);
/** "float32", "int32", "float16" or "bfloat16" (NULL for an unknown value). */
const char *clnn_dtype_name(clnn_dtype dtype);

/**
 * Host conversions between float32 and a float type's storage (dst and src
 * hold n elements of that type: 4 or 2 bytes each; CLNN_FLOAT32 copies).
 * float32 to half rounds to nearest even, as the kernels do: values beyond
 * the type's range become +-inf, NaN stays NaN (quiet), float16 keeps
 * subnormals. Half to float32 is exact. dst may be src (in place); no other
 * overlap is allowed. Statuses: CLNN_ERR_NULL_POINTER
 * (n > 0 and a NULL array), CLNN_ERR_INVALID_VALUE (not a float type).
 */
clnn_status clnn_pack_f32(clnn_dtype dtype, const float *src, void *dst, size_t n);
clnn_status clnn_unpack_f32(clnn_dtype dtype, const void *src, float *dst, size_t n);

/**
 * Create a tensor with its own device memory. ndim in [1, CLNN_MAX_DIMS],
 * every dim >= 0. A tensor with a 0 among its dims is empty, as in PyTorch:
 * reading, writing or filling it moves nothing (src and dst may be NULL).
 * The other dims of an empty tensor must still multiply to at most
 * 2^31 - 1. The ops take empty tensors where torch does, and each
 * descriptor check says which sizes may be 0 (a batch of 0 in every
 * family but InfoNCE; no RoIs; channels or spatial sizes 0 for act,
 * eltwise, batch norm and pixel (un)shuffle). Contents are undefined until
 * written.
 * Statuses: CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE, CLNN_ERR_SIZE_OVERFLOW,
 * CLNN_ERR_DEVICE_OUT_OF_MEMORY.
 */
clnn_status clnn_tensor_create(clnn_context *ctx, clnn_dtype dtype, int ndim, const int64_t *dims,
                               clnn_tensor **out);

/**
 * A tensor viewing buffer memory from offset_bytes (a multiple of the element
 * size). The view keeps the buffer alive. CLNN_ERR_BUFFER_TOO_SMALL when the
 * view does not fit.
 */
clnn_status clnn_tensor_view(clnn_buffer *buf, size_t offset_bytes, clnn_dtype dtype, int ndim,
                             const int64_t *dims, clnn_tensor **out);

/**
 * A tensor on a caller's cl_mem (zero-copy, retained) from offset_bytes.
 * CLNN_ERR_BUFFER_TOO_SMALL when the cl_mem is smaller than offset + size.
 */
clnn_status clnn_tensor_wrap(clnn_context *ctx, cl_mem mem, size_t offset_bytes, clnn_dtype dtype,
                             int ndim, const int64_t *dims, clnn_tensor **out);

void clnn_tensor_free(clnn_tensor *t);

clnn_dtype clnn_tensor_dtype(const clnn_tensor *t);
int clnn_tensor_ndim(const clnn_tensor *t);
/** Extent of dimension i (0 when i is out of range). */
int64_t clnn_tensor_dim(const clnn_tensor *t, int i);
/** Number of elements / bytes. */
size_t clnn_tensor_numel(const clnn_tensor *t);
size_t clnn_tensor_bytes(const clnn_tensor *t);
cl_mem clnn_tensor_cl_mem(const clnn_tensor *t);
size_t clnn_tensor_offset_bytes(const clnn_tensor *t);
/** The buffer the tensor lives in (borrowed). */
clnn_buffer *clnn_tensor_buffer(const clnn_tensor *t);

/**
 * Blocking copies of the whole tensor; bytes must equal clnn_tensor_bytes(t)
 * (CLNN_ERR_BUFFER_TOO_SMALL / CLNN_ERR_INVALID_VALUE otherwise).
 */
clnn_status clnn_tensor_write(clnn_tensor *t, const void *src, size_t bytes);
clnn_status clnn_tensor_read(const clnn_tensor *t, void *dst, size_t bytes);

/**
 * Blocking copies of a float tensor of any float type from and to float32
 * host arrays of clnn_tensor_numel(t) elements (count must equal it),
 * converted with clnn_pack_f32 / clnn_unpack_f32.
 */
clnn_status clnn_tensor_write_f32(clnn_tensor *t, const float *src, size_t count);
clnn_status clnn_tensor_read_f32(const clnn_tensor *t, float *dst, size_t count);

/** Enqueue: set every element to value (converted to the tensor's type). */
clnn_status clnn_tensor_fill(clnn_tensor *t, float value);

/* ------------------------------------------------------------- activation */

/**
 * Element-wise activations. Used as fused epilogues (clnn_conv2d_desc.act) and
 * by the activation ops. alpha is the negative slope for LEAKY_RELU and the
 * alpha of ELU; the others ignore it.
 */
typedef enum clnn_activation {
  CLNN_ACT_IDENTITY = 0,
  CLNN_ACT_RELU = 1,
  CLNN_ACT_LEAKY_RELU = 2,
  CLNN_ACT_ELU = 3,
  CLNN_ACT_SIGMOID = 4,
  CLNN_ACT_TANH = 5,
  CLNN_ACT_GELU = 6,      /* x * Phi(x), erf form */
  CLNN_ACT_GELU_TANH = 7, /* tanh approximation */
  CLNN_ACT_SILU = 8,      /* x * sigmoid(x), a.k.a. swish */
  CLNN_ACT_HARDSWISH = 9,
  CLNN_ACT_RELU6 = 10,    /* min(max(x, 0), 6), PyTorch's ReLU6 (hardtanh 0..6) */
  CLNN_ACT_COUNT_
} clnn_activation;

/** Name of an activation ("relu", "silu", ...), or NULL if out of range. */
const char *clnn_activation_name(clnn_activation act);

/* -------------------------------------------------------------------- gemm */

typedef enum clnn_transpose { CLNN_NO_TRANS = 0, CLNN_TRANS = 1 } clnn_transpose;

/**
 * C = alpha * op(A) * op(B) + beta * C on row-major float32 matrices stored in
 * tensors (any shape; the matrices start at element offsets a_off, b_off,
 * c_off with leading dimensions lda, ldb, ldc). op(A) is M x K, op(B) K x N.
 * Uses the context's GEMM engine. Statuses: CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (non-positive sizes, lda too small),
 * CLNN_ERR_BUFFER_TOO_SMALL (a matrix runs past its tensor), CLNN_ERR_BLAS.
 */
clnn_status clnn_gemm(clnn_context *ctx, clnn_transpose trans_a, clnn_transpose trans_b,
                      int64_t m, int64_t n, int64_t k, float alpha, const clnn_tensor *a,
                      int64_t a_off, int64_t lda, const clnn_tensor *b, int64_t b_off, int64_t ldb,
                      float beta, clnn_tensor *c, int64_t c_off, int64_t ldc);

/** Host reference of clnn_gemm on plain arrays (double accumulation). */
clnn_status clnn_ref_gemm(clnn_transpose trans_a, clnn_transpose trans_b, int64_t m, int64_t n,
                          int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                          int64_t ldb, float beta, float *c, int64_t ldc);

/* -------------------------------------------------------------------- conv */

/**
 * 2-D convolution (cross-correlation, as in every DL framework), NCHW.
 *   x: (n, c, h, w)   w: (k, c/groups, kh, kw)   b: (k) or NULL
 *   y: (n, k, out_h, out_w), out = (in + 2*pad - dilation*(kernel-1) - 1)/stride + 1
 * Padding is symmetric (pad_h rows above and below, pad_w columns left and right).
 * groups divides both c and k; groups == c == k is a depthwise convolution.
 * act/act_alpha: activation applied to the forward output after the bias
 * (CLNN_ACT_IDENTITY for none); the backward functions ignore them.
 */
typedef struct clnn_conv2d_desc {
  int64_t n, c, h, w; /* input batch, channels, height, width */
  int64_t k;          /* output channels */
  int64_t kh, kw;     /* kernel size */
  int64_t stride_h, stride_w;
  int64_t pad_h, pad_w;
  int64_t dilation_h, dilation_w;
  int64_t groups;
  clnn_activation act;
  float act_alpha;
} clnn_conv2d_desc;

/**
 * A descriptor with the given sizes, stride 1, no padding, dilation 1, one
 * group and no activation.
 */
clnn_conv2d_desc clnn_conv2d_desc_make(int64_t n, int64_t c, int64_t h, int64_t w, int64_t k,
                                       int64_t kh, int64_t kw);

/**
 * Validate a descriptor and compute the output size. out_h / out_w may be
 * NULL. n may be 0 (a batch of 0, as torch: y and dx are empty, dw and db
 * are 0, or unchanged when accumulating). Statuses: CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (any other non-positive
 * size, stride or dilation, negative padding, groups not dividing c and k,
 * unknown activation), CLNN_ERR_SHAPE_MISMATCH (kernel larger than the padded
 * input), CLNN_ERR_SIZE_OVERFLOW (a tensor over 2^31 - 1 elements).
 */
clnn_status clnn_conv2d_desc_check(const clnn_conv2d_desc *desc, int64_t *out_h, int64_t *out_w);

/** Algorithms the forward convolution can run. */
typedef enum clnn_conv_algo {
  CLNN_CONV_ALGO_DEPTHWISE_DIRECT = 0, /* one channel per group: direct kernel on a padded copy */
  CLNN_CONV_ALGO_GEMM_1X1 = 1,         /* 1x1, stride 1, no padding: the input is the GEMM's B */
  CLNN_CONV_ALGO_IM2COL_GEMM = 2,      /* general: im2col into a workspace, then GEMM */
  CLNN_CONV_ALGO_IMPLICIT_GEMM = 3,    /* stride 1, own GEMM engine: GEMM over padded input planes */
  CLNN_CONV_ALGO_COUNT_
} clnn_conv_algo;

/** Name of an algorithm ("depthwise_direct", "gemm_1x1", "im2col_gemm", "implicit_gemm"). */
const char *clnn_conv_algo_name(clnn_conv_algo algo);

/** The algorithm clnn_conv2d_fwd would run for desc on this context. */
clnn_status clnn_conv2d_fwd_algo(const clnn_context *ctx, const clnn_conv2d_desc *desc,
                                 clnn_conv_algo *algo);

/**
 * y = act(conv(x, w) + b). b may be NULL. Tensors must have exactly the
 * shapes above, belong to ctx, and y must not overlap x, w or b.
 * x, w, b and y are float32, float16 or bfloat16, all of one type (the
 * backward passes below too). Half tensors are computed in float32
 * (float32 accumulation, the same order as for float32 tensors) and each
 * output is rounded once, to nearest even: the depthwise kernels (CPU
 * class) load the half tensors themselves; the other variants run on
 * float32 copies of them in a workspace. Either way the result is the
 * float32 variant's on the half inputs, rounded once.
 * Statuses: those of clnn_conv2d_desc_check, CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (a tensor not of a float type, or of another type
 * than x; the message names it), CLNN_ERR_SHAPE_MISMATCH,
 * CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_ALIASING,
 * CLNN_ERR_BUILD_FAILED, CLNN_ERR_DEVICE_OUT_OF_MEMORY, CLNN_ERR_OPENCL, CLNN_ERR_BLAS.
 */
clnn_status clnn_conv2d_fwd(clnn_context *ctx, const clnn_conv2d_desc *desc, const clnn_tensor *x,
                            const clnn_tensor *w, const clnn_tensor *b, clnn_tensor *y);

/** Host reference of clnn_conv2d_fwd (b may be NULL). */
clnn_status clnn_ref_conv2d_fwd(const clnn_conv2d_desc *desc, const float *x, const float *w,
                                const float *b, float *y);

/* ----------------------------------------------------------- conv backward */

/*
 * Gradients of clnn_conv2d_fwd, for every descriptor it accepts (stride,
 * padding, dilation, groups, depthwise with a channel multiplier, 1x1).
 * desc is the forward problem's descriptor; its act and act_alpha are
 * ignored: dy is the gradient with respect to the convolution's output
 * before any activation (run the activation's backward first).
 *   x: (n, c, h, w)   w: (k, c/groups, kh, kw)   dy: (n, k, out_h, out_w)
 *   dx: like x        dw: like w                 db: (k)
 * Deterministic: no atomics; every sum is taken in a fixed order, so the
 * same inputs give the same bits on every run (on the same device, engine
 * and workspace limit).
 * Tensors are float32, float16 or bfloat16, all of one type, as in the
 * forward: half gradients are computed in float32 and rounded once (with
 * accumulate = 1, the sum of the old gradient and the new one is).
 * Statuses of all three: those of clnn_conv2d_desc_check,
 * CLNN_ERR_NULL_POINTER, CLNN_ERR_SHAPE_MISMATCH (a tensor does not have the
 * shape above), CLNN_ERR_INVALID_VALUE (a tensor not of a float type or of
 * another type than the first input, x or dy; accumulate not 0 or 1),
 * CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_ALIASING (the output overlaps an
 * input), CLNN_ERR_UNSUPPORTED (one image's scratch data exceeds the
 * context's workspace limit), CLNN_ERR_BUILD_FAILED,
 * CLNN_ERR_DEVICE_OUT_OF_MEMORY, CLNN_ERR_OPENCL, CLNN_ERR_BLAS. A call that
 * fails validation enqueues nothing and writes nothing.
 */

/**
 * dx = d loss / d x given dy = d loss / d y: the transposed convolution of
 * dy with w. dx is overwritten; it must not overlap dy or w.
 */
clnn_status clnn_conv2d_bwd_data(clnn_context *ctx, const clnn_conv2d_desc *desc, const clnn_tensor *dy,
                                 const clnn_tensor *w, clnn_tensor *dx);

/**
 * dw = d loss / d w (accumulate = 0), or dw += d loss / d w (accumulate = 1,
 * e.g. over micro-batches): the correlation of x with dy, summed over the
 * batch and the output pixels. dw must not overlap x or dy.
 */
clnn_status clnn_conv2d_bwd_weights(clnn_context *ctx, const clnn_conv2d_desc *desc, const clnn_tensor *x,
                                    const clnn_tensor *dy, clnn_tensor *dw, int accumulate);

/**
 * db = d loss / d b = the sum of dy over the batch and the output pixels,
 * per output channel (accumulate = 1: db += that sum). db must not overlap dy.
 */
clnn_status clnn_conv2d_bwd_bias(clnn_context *ctx, const clnn_conv2d_desc *desc, const clnn_tensor *dy,
                                 clnn_tensor *db, int accumulate);

/**
 * The algorithm clnn_conv2d_bwd_data / clnn_conv2d_bwd_weights would run for
 * desc on this context (the same names as the forward's):
 *  bwd_data:    depthwise_direct (groups == c: direct kernel on zero-inserted
 *               rows of dy, any stride); implicit_gemm (stride 1, own engine:
 *               the forward's packed GEMM over padded planes of dy with the
 *               weights flipped and transposed); gemm_1x1 (1x1, stride 1, no
 *               padding: dx = w^T dy); im2col_gemm (otherwise: GEMM into
 *               columns, then col2im as a gather: each dx element sums its
 *               own contributions in a fixed order).
 *  bwd_weights: depthwise_direct (groups == c); implicit_gemm (stride 1, own
 *               engine: dy times patches of padded planes of x, packed per
 *               tile); im2col_gemm (otherwise: on the own engine patches are
 *               gathered per tile; on CLBlast im2col, then one GEMM per image).
 * The own engine reduces per-part partial sums in a fixed order; CLBlast
 * accumulates image after image.
 */
clnn_status clnn_conv2d_bwd_data_algo(const clnn_context *ctx, const clnn_conv2d_desc *desc,
                                      clnn_conv_algo *algo);
clnn_status clnn_conv2d_bwd_weights_algo(const clnn_context *ctx, const clnn_conv2d_desc *desc,
                                         clnn_conv_algo *algo);

/** Host reference of clnn_conv2d_bwd_data (double accumulation). */
clnn_status clnn_ref_conv2d_bwd_data(const clnn_conv2d_desc *desc, const float *dy, const float *w, float *dx);

/** Host reference of clnn_conv2d_bwd_weights (accumulate: 0 overwrite, 1 add). */
clnn_status clnn_ref_conv2d_bwd_weights(const clnn_conv2d_desc *desc, const float *x, const float *dy, float *dw,
                                        int accumulate);

/** Host reference of clnn_conv2d_bwd_bias (accumulate: 0 overwrite, 1 add). */
clnn_status clnn_ref_conv2d_bwd_bias(const clnn_conv2d_desc *desc, const float *dy, float *db, int accumulate);


/* ------------------------------------------------------------- deform_conv */

/**
 * Deformable 2-D convolution: v1 (Dai et al. 2017) and v2, modulated by a
 * mask (Zhu et al. 2019), with torchvision.ops.deform_conv2d's semantics, NCHW:
 *   x: (n, c, h, w)              offset: (n, 2*dg*kh*kw, out_h, out_w)
 *   w: (k, c/groups, kh, kw)     mask:   (n, dg*kh*kw, out_h, out_w)  (v2 only)
 *   b: (k) or NULL               y:      (n, k, out_h, out_w)
 * where dg = offset_groups and out_h, out_w are those of the plain
 * convolution conv (clnn_conv2d_desc). Input channel ci belongs to offset
 * group ci / (c / dg). For tap (i, j) (tap index t = i*kw + j) of offset
 * group g, offset channel 2*(g*kh*kw + t) holds the vertical shift dy and
 * channel 2*(g*kh*kw + t) + 1 the horizontal shift dx; mask channel
 * g*kh*kw + t holds the modulation m (m = 1 for v1).
 *
 * Output (oy, ox) reads tap (i, j) of channel ci at
 *   py = (oy*stride_h - pad_h + i*dilation_h) + dy,
 *   px = (ox*stride_w - pad_w + j*dilation_w) + dx
 * by bilinear interpolation between the four pixels around (py, px), a pixel
 * outside the image counting as zero; a point with py <= -1, py >= h,
 * px <= -1 or px >= w reads zero. Then
 *   y[k] = act(sum over ci, i, j of w[k][ci][i][j] * m * sample + b[k]).
 *
 * Non-finite offsets: a NaN or infinite shift makes its sample read zero (no
 * memory outside x is ever read); that sample adds nothing to y, dx or dmask,
 * and its doffset is zero. A NaN or infinite mask value propagates (NaN).
 *
 * Gradients are those of torchvision: bilinear interpolation has kinks where
 * py or px is an integer; there doffset is the one-sided derivative toward
 * larger coordinates (torchvision's get_coordinate_weight), including at
 * py = -1 or px = -1 exactly, where the forward value is still zero.
 *
 * conv.act / conv.act_alpha apply to the forward output after the bias, as for
 * clnn_conv2d_fwd; the backward function ignores them (dy is the gradient of
 * the output before the activation).
 */
typedef struct clnn_deform_conv2d_desc {
  clnn_conv2d_desc conv; /* sizes, stride, padding, dilation, groups, activation */
  int64_t offset_groups; /* dg >= 1, divides conv.c */
  int modulated;         /* 1: v2, a mask tensor is passed; 0: v1, mask must be NULL */
} clnn_deform_conv2d_desc;

/**
 * A descriptor with the given sizes, stride 1, no padding, dilation 1, one
 * group, one offset group, no mask (v1) and no activation.
 */
clnn_deform_conv2d_desc clnn_deform_conv2d_desc_make(int64_t n, int64_t c, int64_t h, int64_t w,
                                                     int64_t k, int64_t kh, int64_t kw);

/**
 * Validate a descriptor and compute the output size (out_h / out_w may be
 * NULL). Statuses: those of clnn_conv2d_desc_check, and CLNN_ERR_INVALID_VALUE
 * (offset_groups not in [1, c] or not dividing c, modulated not 0 or 1),
 * CLNN_ERR_SIZE_OVERFLOW (offset or mask over 2^31 - 1 elements).
 */
clnn_status clnn_deform_conv2d_desc_check(const clnn_deform_conv2d_desc *desc, int64_t *out_h,
                                          int64_t *out_w);

/** Algorithms of the forward deformable convolution. */
typedef enum clnn_deform_conv_algo {
  /* CPU devices (own GEMM engine): x is copied once into zero-bordered
   * channel-last planes; each work-item samples the patches of 8 output
   * pixels into local memory and multiplies them with every output channel
   * of its group (no patch matrix in global memory). */
  CLNN_DEFORM_CONV_ALGO_FUSED = 0,
  /* elsewhere: deformable im2col into the workspace, then a GEMM (CLBlast). */
  CLNN_DEFORM_CONV_ALGO_IM2COL_GEMM = 1,
  CLNN_DEFORM_CONV_ALGO_COUNT_
} clnn_deform_conv_algo;

/** Name of an algorithm ("fused", "im2col_gemm"; "unknown" out of range). */
const char *clnn_deform_conv_algo_name(clnn_deform_conv_algo algo);

/** The algorithm clnn_deform_conv2d_fwd would run for desc on this context. */
clnn_status clnn_deform_conv2d_fwd_algo(const clnn_context *ctx, const clnn_deform_conv2d_desc *desc,
                                        clnn_deform_conv_algo *algo);

/**
 * y = act(deform_conv(x, offset, mask, w) + b). mask must be given exactly
 * when desc->modulated is 1; b may be NULL. Tensors must have exactly the
 * shapes above and belong to ctx; y must not overlap any input. Scratch memory
 * comes from the context's workspace: images are processed in chunks under
 * workspace_limit (CLNN_ERR_UNSUPPORTED, with the size needed, when one image
 * does not fit). Types: x, offset, mask, w, b and y are float32, float16 or
 * bfloat16, all of x's type (as torchvision's deform_conv2d requires one
 * type); the math is float32 whatever the type (sampling positions from the
 * loaded offsets, bilinear sums, the GEMM), each output rounded once to
 * nearest even. A half-precision call also uses float32 copies of its
 * tensors in the context's outer workspace (4 bytes an element of every
 * tensor). Statuses: those of clnn_deform_conv2d_desc_check,
 * CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (mask given for v1 or missing
 * for v2, x not of a float type, another tensor not of x's type; the message
 * names the argument and its type), CLNN_ERR_SHAPE_MISMATCH,
 * CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_ALIASING, CLNN_ERR_UNSUPPORTED,
 * CLNN_ERR_SIZE_OVERFLOW (im2col_gemm only: one image's patch matrix,
 * out_h*out_w x c*kh*kw, over 2^31 - 1 elements), CLNN_ERR_BUILD_FAILED,
 * CLNN_ERR_DEVICE_OUT_OF_MEMORY, CLNN_ERR_OPENCL, CLNN_ERR_BLAS.
 */
clnn_status clnn_deform_conv2d_fwd(clnn_context *ctx, const clnn_deform_conv2d_desc *desc,
                                   const clnn_tensor *x, const clnn_tensor *offset,
                                   const clnn_tensor *mask, const clnn_tensor *w,
                                   const clnn_tensor *b, clnn_tensor *y);

/**
 * Backward pass: given dy (n, k, out_h, out_w), the gradient of the loss with
 * respect to y (before any activation), compute
 *   dx (shape of x), doffset (shape of offset), dmask (shape of mask, v2
 *   only), dw (shape of w) and db (k).
 * Every output may be NULL to skip it (dmask must be NULL for v1); work that
 * only a skipped output needs is not done. Each output is overwritten, not
 * accumulated into. Deterministic: no atomics; every element sums its
 * contributions in a fixed order, so repeated calls give the same bits (dx is
 * a gather over sampling points bucketed by the pixel cell they fall in).
 * Inputs as for clnn_deform_conv2d_fwd (no bias is needed); dy and every
 * gradient of x's type too (float32, float16 or bfloat16: float32 math, each
 * gradient rounded once; doffset in a half type keeps the type's precision
 * of a sum of corner differences). Outputs must not
 * overlap the inputs or each other. Statuses: as clnn_deform_conv2d_fwd, with
 * CLNN_ERR_SIZE_OVERFLOW whenever one image's patch matrix (out_h*out_w x
 * c*kh*kw) has over 2^31 - 1 elements, and CLNN_ERR_INVALID_VALUE for a
 * dmask with v1.
 */
clnn_status clnn_deform_conv2d_bwd(clnn_context *ctx, const clnn_deform_conv2d_desc *desc,
                                   const clnn_tensor *x, const clnn_tensor *offset,
                                   const clnn_tensor *mask, const clnn_tensor *w,
                                   const clnn_tensor *dy, clnn_tensor *dx, clnn_tensor *doffset,
                                   clnn_tensor *dmask, clnn_tensor *dw, clnn_tensor *db);

/** Host reference of clnn_deform_conv2d_fwd (mask NULL for v1, b may be NULL). */
clnn_status clnn_ref_deform_conv2d_fwd(const clnn_deform_conv2d_desc *desc, const float *x,
                                       const float *offset, const float *mask, const float *w,
                                       const float *b, float *y);

/** Host reference of clnn_deform_conv2d_bwd; NULL outputs are skipped. */
clnn_status clnn_ref_deform_conv2d_bwd(const clnn_deform_conv2d_desc *desc, const float *x,
                                       const float *offset, const float *mask, const float *w,
                                       const float *dy, float *dx, float *doffset, float *dmask,
                                       float *dw, float *db);


/* --------------------------------------------------------------------- roi */

/*
 * RoI pooling, the feature extraction of two-stage detectors, with the
 * semantics of torchvision.ops (roi_align, roi_pool, ps_roi_align,
 * ps_roi_pool), forward and backward (gradient w.r.t. the features).
 *
 *   x:      (n, c, h, w) features
 *   rois:   (num_rois, 5) float32 rows [batch_index, x1, y1, x2, y2] in image
 *           coordinates; spatial_scale maps them onto the feature map
 *   y:      (num_rois, out_c, pooled_h, pooled_w); out_c = c for ROI_ALIGN and
 *           ROI_POOL, c / (pooled_h * pooled_w) for the position-sensitive ops,
 *           where output channel k of bin (i, j) reads input channel
 *           (k * pooled_h + i) * pooled_w + j
 *   argmax: ROI_POOL only: (num_rois, c, pooled_h, pooled_w) int32, the index
 *           y * w + x within its feature plane of each bin's maximum, -1 for
 *           an empty bin
 *
 * ROI_ALIGN: bins of (x2 - x1) * scale / pooled_w feature pixels (at least 1
 *   pixel per RoI side unless aligned); each bin averages a grid of bilinear
 *   samples: sampling_ratio > 0 per side, or adaptive ceil(bin size) when
 *   <= 0. aligned = 1 shifts the box by -0.5 pixel (torchvision aligned=True).
 *   Samples outside [-1, h] x [-1, w] contribute 0.
 * ROI_POOL: the box is rounded to feature pixels (round half away from
 *   zero), bins are split with floor/ceil and clipped to the map; each bin
 *   takes its maximum (0 for an empty bin, first maximum in row-major order).
 * PS_ROI_ALIGN: as ROI_ALIGN with the half-pixel shift always on and no
 *   minimum size. A zero-size RoI with adaptive sampling averages zero
 *   samples: libclnn gives 0 where torchvision gives 0/0 = NaN.
 * PS_ROI_POOL: average over the bin. As in torchvision's forward, bins are
 *   clipped to [0, h-1) x [0, w-1) (the last row and column are never pooled).
 *   The backward is the exact gradient of that forward; torchvision's
 *   backward clips to [0, h) x [0, w) instead and so differs for bins that
 *   reach the last row or column.
 *
 * Bin geometry (box scaling, rounding, bin edges, sample positions and
 * counts) is computed in float32 in torchvision's operation order, so the
 * same cells and samples are chosen; sums are float32 on the device and
 * double in the host reference.
 *
 * RoIs partly or wholly outside the feature map are valid (outside parts
 * read as 0 / empty bins). Invalid RoIs are rejected before anything is
 * written (see clnn_roi_rois_check). The device ops read the RoIs back to
 * the host to validate them and to index them per image, so each call waits
 * for the work that produces rois.
 *
 * Backward passes are deterministic without atomics: each work-item owns
 * whole planes (or channel blocks) of dx (CPU-class kernels) or one pixel
 * of a few channels of dx (GPU-class kernels) and adds the contributions of
 * the RoIs of its image in RoI order, so the same inputs give the same bits.
 *
 * Types: x, y, dy and dx (forward and backward) are float32, float16 or
 * bfloat16, all of one type (CLNN_ERR_INVALID_VALUE names the one that
 * differs). rois stay float32 in every type: a float16 coordinate of a
 * 1333-pixel image is off by up to half a pixel, a bfloat16 one by up to 4,
 * which moves bins. (torchvision's roi_align kernels require rois of the
 * input's type; its autocast runs the op in float32 and casts y back;
 * libclnn takes half features with float32 boxes directly.) argmax is
 * int32 in every type. Bilinear weights, sums, maxima and gradients are
 * float32, and each y or dx element is rounded once on store (to nearest
 * even): a RoI pool maximum is stored exactly, its argmax is the one the
 * float32 values give. On CPU-class devices the position-sensitive ops in a
 * half type also use float32 copies of their input and output in the
 * context's outer workspace (4 bytes an element of each).
 */
typedef enum clnn_roi_op {
  CLNN_ROI_ALIGN = 0,    /* torchvision.ops.roi_align */
  CLNN_ROI_POOL = 1,     /* torchvision.ops.roi_pool (max) */
  CLNN_PS_ROI_ALIGN = 2, /* torchvision.ops.ps_roi_align */
  CLNN_PS_ROI_POOL = 3,  /* torchvision.ops.ps_roi_pool (average) */
  CLNN_ROI_OP_COUNT_
} clnn_roi_op;

/** Name of an op ("roi_align", "roi_pool", "ps_roi_align", "ps_roi_pool"), or NULL if out of range. */
const char *clnn_roi_op_name(clnn_roi_op op);

typedef struct clnn_roi_desc {
  clnn_roi_op op;
  int64_t n, c, h, w;         /* features */
  int64_t num_rois;           /* rows of rois (>= 0: with none, y is empty and dx zero) */
  int64_t pooled_h, pooled_w; /* output bins per RoI */
  float spatial_scale;        /* feature pixels per image pixel, finite and > 0 (e.g. 1/16) */
  int64_t sampling_ratio;     /* align ops: samples per bin side, <= 0 = adaptive; pool ops ignore it */
  int aligned;                /* ROI_ALIGN: 0 or 1 (half-pixel shift); the other ops ignore it */
} clnn_roi_desc;

/**
 * A descriptor with the given sizes and torchvision's defaults:
 * sampling_ratio = -1 (adaptive), aligned = 0.
 */
clnn_roi_desc clnn_roi_desc_make(clnn_roi_op op, int64_t n, int64_t c, int64_t h, int64_t w,
                                 int64_t num_rois, int64_t pooled_h, int64_t pooled_w,
                                 float spatial_scale);

/**
 * Validate a descriptor and give the output channel count (out_c may be
 * NULL). num_rois may be 0 (y empty, dx zero). Statuses: CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (unknown op, other sizes outside [1, 2^30], spatial_scale not finite or <= 0, aligned not 0/1,
 * sampling_ratio above 2^15, c not divisible by pooled_h * pooled_w for the
 * position-sensitive ops), CLNN_ERR_SIZE_OVERFLOW (a tensor over 2^31 - 1
 * elements, or n + num_rois over 2^31 - 2).
 */
clnn_status clnn_roi_desc_check(const clnn_roi_desc *desc, int64_t *out_c);

/**
 * Validate RoI rows on the host (desc->num_rois rows of 5 floats). Statuses:
 * CLNN_ERR_NULL_POINTER, those of clnn_roi_desc_check, CLNN_ERR_NOT_FINITE
 * (a NaN or infinite value), CLNN_ERR_INVALID_VALUE (batch index not an
 * integer in [0, n), a coordinate whose scaled magnitude exceeds 2^24).
 * x2 < x1 or y2 < y1 is valid, as in torchvision. The message names the
 * first bad row.
 */
clnn_status clnn_roi_rois_check(const clnn_roi_desc *desc, const float *rois);

/**
 * y = roi_op(x, rois); for ROI_POOL also argmax (may be NULL when no backward
 * follows). argmax must be NULL for the other ops. Tensors must have exactly
 * the shapes above, belong to ctx, and y / argmax must not overlap the inputs
 * or each other. Blocks until rois can be read (see above).
 * Statuses: those of clnn_roi_desc_check and clnn_roi_rois_check,
 * CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (x not a float type, y of
 * another type than x, rois not float32, argmax not int32),
 * CLNN_ERR_SHAPE_MISMATCH, CLNN_ERR_CONTEXT_MISMATCH,
 * CLNN_ERR_ALIASING, CLNN_ERR_UNSUPPORTED (RoI align and RoI pool: the feature
 * planes one work-item reads do not fit the context's workspace limit), CLNN_ERR_BUILD_FAILED,
 * CLNN_ERR_HOST_OUT_OF_MEMORY, CLNN_ERR_DEVICE_OUT_OF_MEMORY, CLNN_ERR_OPENCL.
 */
clnn_status clnn_roi_fwd(clnn_context *ctx, const clnn_roi_desc *desc, const clnn_tensor *x,
                         const clnn_tensor *rois, clnn_tensor *y, clnn_tensor *argmax);

/**
 * dx = d(sum(y * dy)) / dx: the gradient w.r.t. the features, every element
 * of dx written (zero where no RoI reaches). ROI_POOL needs the argmax of its
 * forward (entries outside [-1, h*w) are ignored); the other ops need
 * argmax == NULL. dx must not overlap dy, rois or argmax. dy and dx: one
 * float type, as x and y above.
 * Statuses: as clnn_roi_fwd (dy for x, dx for y).
 */
clnn_status clnn_roi_bwd(clnn_context *ctx, const clnn_roi_desc *desc, const clnn_tensor *dy,
                         const clnn_tensor *rois, const clnn_tensor *argmax, clnn_tensor *dx);

/** Host reference of clnn_roi_fwd (argmax: int32, ROI_POOL only, may be NULL). */
clnn_status clnn_ref_roi_fwd(const clnn_roi_desc *desc, const float *x, const float *rois, float *y,
                             int32_t *argmax);

/** Host reference of clnn_roi_bwd (argmax: ROI_POOL only, required there). */
clnn_status clnn_ref_roi_bwd(const clnn_roi_desc *desc, const float *dy, const float *rois,
                             const int32_t *argmax, float *dx);


/* ---------------------------------------------------------------- resample */
/*
 * Raising (and lowering) resolution without learned weights, NCHW tensors,
 * with the semantics of torch.nn.functional: pixel_shuffle / pixel_unshuffle
 * and interpolate(mode='nearest' | 'bilinear'). Every op has a backward
 * that gathers (each input gradient sums the output gradients that read it,
 * in a fixed order): same inputs, same bits, no atomics. Transposed
 * convolution, the learned way up, has its own section below.
 * Tensors (x, y, dy, dx) are float32, float16 or bfloat16, all of one type
 * (CLNN_ERR_INVALID_VALUE names the one that differs, or an int32 one).
 * Pixel shuffle and the nearest forward move elements bit for bit (NaN
 * payloads and -0 kept); bilinear blends and backward sums are computed in
 * float32, in a fixed order, and rounded once on store (to nearest even).
 */

/**
 * Pixel shuffle and its inverse. The descriptor holds the shape of the op's
 * forward input x and the factor r:
 *   pixel_shuffle:   x (n, c, h, w) -> y (n, c/(r*r), h*r, w*r); r*r divides c.
 *                    y[n, k, h*r + i, w*r + j] = x[n, k*r*r + i*r + j, h, w]
 *   pixel_unshuffle: x (n, c, h, w) -> y (n, c*r*r, h/r, w/r); r divides h and w.
 *                    the inverse permutation.
 */
typedef struct clnn_pixel_shuffle_desc {
  int64_t n, c, h, w; /* the forward input's batch, channels, height, width */
  int64_t r;          /* upscale (shuffle) or downscale (unshuffle) factor, >= 1 */
} clnn_pixel_shuffle_desc;

/**
 * Validate a descriptor for pixel_shuffle (resp. pixel_unshuffle) and give
 * the forward output's shape in y_dims (may be NULL). Statuses:
 * CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (a negative size or one over
 * 2^30 (0 is an empty tensor), r below 1, r*r not dividing c, resp. r not
 * dividing h and w),
 * CLNN_ERR_SIZE_OVERFLOW (a tensor over 2^31 - 1 elements).
 */
clnn_status clnn_pixel_shuffle_desc_check(const clnn_pixel_shuffle_desc *desc, int64_t y_dims[4]);
clnn_status clnn_pixel_unshuffle_desc_check(const clnn_pixel_shuffle_desc *desc, int64_t y_dims[4]);

/**
 * Forward: y = pixel_shuffle(x) (resp. pixel_unshuffle(x)). Backward: dx from
 * dy, which is the inverse permutation (dx and dy have x's and y's shapes).
 * Tensors must have exactly the shapes above, belong to ctx, and the output
 * must not overlap the input; they stay the caller's (nothing is retained).
 * Enqueued on the context's queue. Statuses: those of the _desc_check,
 * CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (a dtype that is not a float
 * type or differs from the input's), CLNN_ERR_SHAPE_MISMATCH,
 * CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_ALIASING, CLNN_ERR_BUILD_FAILED,
 * CLNN_ERR_OPENCL.
 */
clnn_status clnn_pixel_shuffle_fwd(clnn_context *ctx, const clnn_pixel_shuffle_desc *desc,
                                   const clnn_tensor *x, clnn_tensor *y);
clnn_status clnn_pixel_shuffle_bwd(clnn_context *ctx, const clnn_pixel_shuffle_desc *desc,
                                   const clnn_tensor *dy, clnn_tensor *dx);
clnn_status clnn_pixel_unshuffle_fwd(clnn_context *ctx, const clnn_pixel_shuffle_desc *desc,
                                     const clnn_tensor *x, clnn_tensor *y);
clnn_status clnn_pixel_unshuffle_bwd(clnn_context *ctx, const clnn_pixel_shuffle_desc *desc,
                                     const clnn_tensor *dy, clnn_tensor *dx);

/** Host references of the four functions above (plain float arrays). */
clnn_status clnn_ref_pixel_shuffle_fwd(const clnn_pixel_shuffle_desc *desc, const float *x, float *y);
clnn_status clnn_ref_pixel_shuffle_bwd(const clnn_pixel_shuffle_desc *desc, const float *dy, float *dx);
clnn_status clnn_ref_pixel_unshuffle_fwd(const clnn_pixel_shuffle_desc *desc, const float *x, float *y);
clnn_status clnn_ref_pixel_unshuffle_bwd(const clnn_pixel_shuffle_desc *desc, const float *dy, float *dx);

/** Interpolation of clnn_resize (torch.nn.functional.interpolate's mode). */
typedef enum clnn_resize_mode {
  CLNN_RESIZE_NEAREST = 0, /* mode='nearest' (not 'nearest-exact') */
  CLNN_RESIZE_BILINEAR = 1 /* mode='bilinear' */
} clnn_resize_mode;

/**
 * Resize x (n, c, h, w) to y (n, c, out_h, out_w), any sizes up or down, with
 * PyTorch's index rules, computed as ATen 1.13 does on the CPU (float steps,
 * double positions for bilinear), so the sampled positions and weights match
 * torch bit for bit:
 *  - nearest: src = min(floor(dst * s), in - 1) with the float step s =
 *    in / out, or 1 / scale when a scale is given; out == in copies and
 *    out == 2 * in takes dst / 2 (whatever the scale, as torch does).
 *  - bilinear, align_corners = 1: src = dst * s with s = (in - 1) / (out - 1)
 *    (0 when out == 1); align_corners = 0: src = max(s * (dst + 0.5) - 0.5, 0)
 *    with s as for nearest. y blends the two neighbours in each dimension
 *    (weights l1 = src - floor(src), l0 = 1 - l1); out == in copies.
 * scale_h / scale_w are the scale_factor given to interpolate (0 = not
 * given: s comes from the sizes, as with size=...). With a scale, out_h and
 * out_w still give the output size (torch uses floor(in * scale)); align_corners
 * = 1 ignores the scale, as torch does. align_corners must be 0 for nearest.
 */
typedef struct clnn_resize_desc {
  int64_t n, c, h, w;    /* input batch, channels, height, width */
  int64_t out_h, out_w;  /* output height and width */
  clnn_resize_mode mode;
  int align_corners;     /* bilinear only: 0 or 1 */
  double scale_h, scale_w; /* 0, or the scale_factor of torch's interpolate (> 0) */
} clnn_resize_desc;

/** A descriptor with the given sizes and mode, align_corners 0, no scales. */
clnn_resize_desc clnn_resize_desc_make(int64_t n, int64_t c, int64_t h, int64_t w, int64_t out_h,
                                       int64_t out_w, clnn_resize_mode mode);

/**
 * Validate a descriptor. n may be 0 (an empty batch); c may not, as in
 * torch. Statuses: CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (another size below 1 or over 2^30, unknown mode,
 * align_corners not 0/1 or set with nearest, negative scale),
 * CLNN_ERR_NOT_FINITE (a NaN or infinite scale), CLNN_ERR_SIZE_OVERFLOW
 * (a tensor over 2^31 - 1 elements).
 */
clnn_status clnn_resize_desc_check(const clnn_resize_desc *desc);

/**
 * y = resize(x); dx = the gradient of resize for dy (y's shape), each dx
 * element gathering the dy elements that read it. Tensors must have exactly
 * the shapes above, belong to ctx, and the output must not overlap the
 * input. The sampling tables are computed on the host per call and travel
 * in a small buffer of their own, released once the kernels are done.
 * The tensors stay the caller's; nothing is retained after the call.
 * Statuses: those of clnn_resize_desc_check, CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (a dtype that is not a float type or differs from
 * the input's), CLNN_ERR_SHAPE_MISMATCH, CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_ALIASING,
 * CLNN_ERR_SIZE_OVERFLOW (tables too large for one buffer or 32-bit
 * indices), CLNN_ERR_HOST_OUT_OF_MEMORY, CLNN_ERR_DEVICE_OUT_OF_MEMORY,
 * CLNN_ERR_BUILD_FAILED, CLNN_ERR_OPENCL.
 */
clnn_status clnn_resize_fwd(clnn_context *ctx, const clnn_resize_desc *desc, const clnn_tensor *x,
                            clnn_tensor *y);
clnn_status clnn_resize_bwd(clnn_context *ctx, const clnn_resize_desc *desc, const clnn_tensor *dy,
                            clnn_tensor *dx);

/** Host references of clnn_resize_fwd / clnn_resize_bwd (double accumulation). */
clnn_status clnn_ref_resize_fwd(const clnn_resize_desc *desc, const float *x, float *y);
clnn_status clnn_ref_resize_bwd(const clnn_resize_desc *desc, const float *dy, float *dx);

/* ------------------------------------------------- transposed convolution */

/**
 * Transposed 2-D convolution (torch.nn.functional.conv_transpose2d), NCHW:
 *   x: (n, c, h, w)   w: (c, k/groups, kh, kw)   b: (k) or NULL
 *   y: (n, k, out_h, out_w),
 *   out_h = (h - 1)*stride_h - 2*pad_h + dilation_h*(kh - 1) + output_pad_h + 1
 *   (out_w likewise). Every input pixel scatters its weighted kernel:
 *   y[n, co, iy*stride_h - pad_h + r*dilation_h, ix*stride_w - pad_w + s*dilation_w]
 *     += x[n, ci, iy, ix] * w[ci, co - g*(k/groups), r, s]
 *   for input channels ci of co's group g (groups divide c and k), then
 *   y = act(y + b[co]). It is the gradient, with respect to its input, of the
 *   convolution from (n, k, out_h, out_w) to (n, c, h, w) with the same
 *   weights, stride, padding, dilation and groups (the "equivalent
 *   convolution"); output_pad adds rows and columns at the bottom and right
 *   that the convolution's size formula rounds away. As in PyTorch,
 *   output_pad must be smaller than the stride or the dilation of its
 *   dimension. act / act_alpha: the forward's fused activation
 *   (CLNN_ACT_IDENTITY for none); the backward functions ignore them.
 */
typedef struct clnn_conv_transpose2d_desc {
  int64_t n, c, h, w; /* input batch, channels, height, width */
  int64_t k;          /* output channels */
  int64_t kh, kw;     /* kernel size */
  int64_t stride_h, stride_w;
  int64_t pad_h, pad_w;               /* removed from both sides of the output */
  int64_t output_pad_h, output_pad_w; /* added at the bottom / right of the output */
  int64_t dilation_h, dilation_w;
  int64_t groups;
  clnn_activation act;
  float act_alpha;
} clnn_conv_transpose2d_desc;

/**
 * A descriptor with the given sizes, stride 1, no padding or output padding,
 * dilation 1, one group and no activation.
 */
clnn_conv_transpose2d_desc clnn_conv_transpose2d_desc_make(int64_t n, int64_t c, int64_t h, int64_t w,
                                                           int64_t k, int64_t kh, int64_t kw);

/**
 * Validate a descriptor and compute the output size (out_h / out_w may be
 * NULL). n may be 0 (a batch of 0, as torch: y and dx are empty, dw and db
 * are 0, or unchanged when accumulating). Statuses: CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (another size,
 * stride or dilation below 1 or over 2^30, negative padding or output
 * padding, output padding not smaller than the stride or the dilation,
 * groups not dividing c and k, unknown activation),
 * CLNN_ERR_SHAPE_MISMATCH (an output size below 1: padding larger than the
 * dilated kernel covers), CLNN_ERR_SIZE_OVERFLOW (a tensor over 2^31 - 1
 * elements).
 */
clnn_status clnn_conv_transpose2d_desc_check(const clnn_conv_transpose2d_desc *desc, int64_t *out_h,
                                             int64_t *out_w);

/** How the transposed convolution runs (the forward and the backward choose apart). */
typedef enum clnn_conv_transpose_algo {
  /* Sub-pixel: the stride's phases become channels. Forward: one stride-1
   * convolution of x gives every phase of y (weights regrouped per phase),
   * then a gather interleaves the phases, adding bias and activation.
   * Backward: a gather regroups dy into phase channels; a stride-1
   * convolution of those gives dx, and that convolution's weight gradient,
   * regrouped, gives dw. For strides above 1 with dilation 1 (and dilation
   * wherever the stride is 1), while the zero taps of kernels that the
   * stride does not divide, and the borders of small images, add little
   * work (the bounds are tuned on CPU devices; see ops/deconv.c). */
  CLNN_CONV_TRANSPOSE_ALGO_SUBPIXEL = 0,
  /* The equivalent convolution's passes themselves: forward = its
   * clnn_conv2d_bwd_data (with bias and activation fused), dx = its forward,
   * dw = its weight gradient. Stride 1 without output padding, and the
   * cases the sub-pixel path does not take. */
  CLNN_CONV_TRANSPOSE_ALGO_CONV = 1,
  CLNN_CONV_TRANSPOSE_ALGO_COUNT_
} clnn_conv_transpose_algo;

/** Name of an algorithm ("subpixel", "conv"; "unknown" out of range). */
const char *clnn_conv_transpose_algo_name(clnn_conv_transpose_algo algo);

/**
 * The algorithm clnn_conv_transpose2d_fwd (resp. the gradients dx and dw of
 * the backward calls) runs for desc on this context. The environment
 * variable CLNN_CONV_TRANSPOSE_ALGO=subpixel or =conv overrides the choice
 * for every pass (subpixel only where it applies), e.g. to compare them.
 * Statuses: those of clnn_conv_transpose2d_desc_check, CLNN_ERR_NULL_POINTER.
 */
clnn_status clnn_conv_transpose2d_fwd_algo(const clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                           clnn_conv_transpose_algo *algo);
clnn_status clnn_conv_transpose2d_bwd_algo(const clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                           clnn_conv_transpose_algo *algo);

/*
 * All transposed-convolution calls: tensors must have exactly the shapes
 * above, be float32, float16 or bfloat16, all of one type (that of x in
 * the forward, of dy in the backward), and belong to ctx. Half tensors are
 * widened to float32 copies in a third scratch buffer of the context, the
 * float32 calls run on them (either algorithm, float32 accumulation in the
 * same order as for float32 tensors), and each output is rounded once, to
 * nearest even (with accumulate = 1, the old gradient plus the new one is).
 * Outputs must not overlap inputs (or
 * each other); everything is validated before anything is enqueued, so a
 * call that fails validation writes nothing. The calls enqueue and return.
 * They run the convolution family's kernels (the convolution's passes on
 * regrouped data, see clnn_conv_transpose_algo), deterministically: no
 * atomics, every sum in a fixed order, so the same inputs give the same
 * bits (on the same device, engine and workspace limit). The regrouped
 * tensors and weights live in a second scratch buffer of the context, kept
 * like the workspace (the convolutions inside use the workspace itself);
 * images are processed in chunks so that one chunk's scratch stays under
 * 32 MiB and the workspace limit (CLNN_ERR_UNSUPPORTED, with the size
 * needed, when one image does not fit; a backward call plans all its inner
 * convolutions before it enqueues any, so it fails before writing anything).
 * Statuses of all of them: those of clnn_conv_transpose2d_desc_check,
 * CLNN_ERR_NULL_POINTER, CLNN_ERR_SHAPE_MISMATCH, CLNN_ERR_INVALID_VALUE
 * (a tensor not of a float type, or of another type than x or dy: the
 * message names it and its type; accumulate not 0 or 1),
 * CLNN_ERR_CONTEXT_MISMATCH,
 * CLNN_ERR_ALIASING, CLNN_ERR_UNSUPPORTED, CLNN_ERR_BUILD_FAILED,
 * CLNN_ERR_DEVICE_OUT_OF_MEMORY, CLNN_ERR_OPENCL, CLNN_ERR_BLAS.
 */

/** y = act(conv_transpose(x, w) + b); b may be NULL. */
clnn_status clnn_conv_transpose2d_fwd(clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                      const clnn_tensor *x, const clnn_tensor *w, const clnn_tensor *b,
                                      clnn_tensor *y);

/**
 * dx = d loss / d x given dy = d loss / d y (y before the activation: run
 * the activation's backward first): the equivalent convolution of dy.
 */
clnn_status clnn_conv_transpose2d_bwd_data(clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                           const clnn_tensor *dy, const clnn_tensor *w, clnn_tensor *dx);

/** dw = d loss / d w (accumulate = 0), or dw += it (accumulate = 1). */
clnn_status clnn_conv_transpose2d_bwd_weights(clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                              const clnn_tensor *x, const clnn_tensor *dy, clnn_tensor *dw,
                                              int accumulate);

/** db = the sum of dy over the batch and pixels per channel (accumulate = 1: db += it). */
clnn_status clnn_conv_transpose2d_bwd_bias(clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                           const clnn_tensor *dy, clnn_tensor *db, int accumulate);

/**
 * All gradients in one call, sharing the regrouped dy between dx and dw:
 * dx, dw and db may each be NULL to skip it (not all three); x is needed
 * for dw and w for dx (either may be NULL when not needed). accumulate
 * applies to dw and db; dx is overwritten. The results equal those of the
 * three separate calls bit for bit.
 */
clnn_status clnn_conv_transpose2d_bwd(clnn_context *ctx, const clnn_conv_transpose2d_desc *desc,
                                      const clnn_tensor *x, const clnn_tensor *w, const clnn_tensor *dy,
                                      clnn_tensor *dx, clnn_tensor *dw, clnn_tensor *db, int accumulate);

/** Host reference of clnn_conv_transpose2d_fwd (b may be NULL; double accumulation). */
clnn_status clnn_ref_conv_transpose2d_fwd(const clnn_conv_transpose2d_desc *desc, const float *x,
                                          const float *w, const float *b, float *y);

/** Host references of the three gradients (accumulate: 0 overwrite, 1 add). */
clnn_status clnn_ref_conv_transpose2d_bwd_data(const clnn_conv_transpose2d_desc *desc, const float *dy,
                                               const float *w, float *dx);
clnn_status clnn_ref_conv_transpose2d_bwd_weights(const clnn_conv_transpose2d_desc *desc, const float *x,
                                                  const float *dy, float *dw, int accumulate);
clnn_status clnn_ref_conv_transpose2d_bwd_bias(const clnn_conv_transpose2d_desc *desc, const float *dy,
                                               float *db, int accumulate);


/* ------------------------------------------------------------------- optim */
/*
 * Optimizer steps, gradient clipping and the parameter EMA, each over a LIST
 * of tensors in one call. Entry i of every array describes parameter i:
 * params[i], grads[i] and its state tensors must all be tensors of ctx
 * with the same number of elements (their shapes may differ, e.g. a flat
 * state view for a 4-D weight), and no tensor that a call writes may
 * overlap any other tensor of the call (CLNN_ERR_ALIASING).
 *
 * Half precision (mixed-precision training). The tensors of one array
 * share one type, and:
 *  - params (the MASTER weights of a step) are float32;
 *  - grads are float32, float16 or bfloat16;
 *  - the state (exp_avgs, exp_avg_sqs, max_exp_avg_sqs; SGD's
 *    momentum_bufs) is float32 or bfloat16, all of one type. In bfloat16
 *    each stored value is rounded once to nearest even (relative error up
 *    to 2^-9); the step itself uses the unrounded float32 values, so the
 *    rounding enters through the next step's m and v: an error of about
 *    0.2-0.4% in the following update's size, unbiased, which Adam's
 *    normalisation does not accumulate (v's error cancels in sqrt(v) to
 *    half its size). float16 state is refused: v = g^2 of small gradients
 *    underflows float16's range;
 *  - the *_step_copy forms also write model_copies[i] (float16 or bfloat16,
 *    one type): the new master value rounded once, in the same pass; the
 *    copy is what a half-precision network reads. NULL: no copy (as the
 *    plain forms);
 *  - clnn_clip_grad_norm takes float32, float16 or bfloat16 gradients
 *    (squares summed in float32; a clipped half gradient is rounded once),
 *    clnn_ema_update an EMA and params of any of the three (each array one
 *    type; the EMA is rounded once on store).
 * The math is float32 in every case. A type outside these, or a list that
 * mixes types, fails with CLNN_ERR_INVALID_VALUE naming the tensor and its
 * type. With float16 gradients use loss scaling (clnn_grad_scaler below).
 *
 * Launches: the tensors whose roles each live in one buffer (views into an
 * arena buffer per role, made with clnn_tensor_view, or a single tensor)
 * are updated by ONE kernel launch whatever their number and sizes: a small
 * table of (offset, size) segments goes with the launch. A launch binds up
 * to 8 such combinations of buffers, so tensors in separate buffers take
 * one launch per 8 tensors (161 separate ResNet-50 tensors: 21 launches).
 * Keep parameters, gradients and state in arenas for the fastest steps.
 *
 * Every call validates everything before it enqueues anything (a failed
 * call writes nothing), then enqueues and returns without waiting, like
 * every op. count == 0 is a no-op (the arrays may then be NULL).
 *
 * The formulas are PyTorch's, as the code of torch.optim.Adam, AdamW and
 * SGD runs them (maximize negates the gradient before weight decay, as that
 * code does): scalars such as the bias corrections 1 - beta^t, the step
 * size and 1 - lr * wd are computed on the host in double and rounded to
 * float once; the elementwise arithmetic is float32 (fused multiply-adds).
 * The host references (clnn_ref_*) compute the same in double.
 *
 * Non-finite gradients: with found_inf (an int32 tensor of one element) a
 * step first checks every gradient of the list (the gradient as the step
 * uses it, i.e. divided by grad_scale) and writes 1 there if any element is
 * NaN or infinite, else 0. With desc->skip_nonfinite = 1 the step then
 * updates nothing at all when that happens (the check runs whether or not
 * found_inf is given). The check and the skip happen on the device: the
 * call stays asynchronous. found_inf is an ordinary device tensor: read it
 * with clnn_tensor_read, which waits for the step. A skipped step must not
 * advance desc->step for the next call (PyTorch's GradScaler skips
 * optimizer.step() the same way). The check costs one more read of the
 * gradients (28 -> 32 bytes per element for Adam).
 */

/** Hyperparameters of one Adam or AdamW step (torch.optim.Adam / AdamW). */
typedef struct clnn_adam_desc {
  double lr;           /* learning rate, >= 0 */
  double beta1, beta2; /* moment decay rates, each in [0, 1) */
  double eps;          /* >= 0, added after the square root of the bias-corrected v */
  double weight_decay; /* >= 0. Adam: g += wd * p (L2). AdamW: p *= 1 - lr * wd (decoupled) */
  int64_t step;        /* t of this step, >= 1 (1 on the first step); bias corrections 1 - beta^t */
  int amsgrad;         /* 1: keep the running maximum of v and divide by its root */
  int maximize;        /* 1: ascend (the gradient's sign is flipped) */
  double grad_scale;   /* > 0: gradients are divided by it (loss scaling), 1 = none; the
                        * kernels multiply by 1 / grad_scale, exact for powers of two */
  int skip_nonfinite;  /* 1: update nothing if any gradient element is NaN or infinite */
} clnn_adam_desc;

/**
 * PyTorch's defaults with the given learning rate and step: betas 0.9 and
 * 0.999, eps 1e-8, weight decay 0 (AdamW's PyTorch default is 0.01: set it),
 * no amsgrad, no maximize, grad_scale 1, no skip.
 */
clnn_adam_desc clnn_adam_desc_make(double lr, int64_t step);

/**
 * Validate a descriptor. Statuses: CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (negative or non-finite lr, eps or weight decay;
 * a beta outside [0, 1); step < 1; grad_scale not finite or not > 0; a flag
 * other than 0 or 1; a derived float32 scalar such as lr / (1 - beta1^t)
 * that is not finite).
 */
clnn_status clnn_adam_desc_check(const clnn_adam_desc *desc);

/**
 * One Adam step (L2 weight decay added to the gradient) on count tensors:
 *   g = grad / grad_scale (negated with maximize);  g += wd * p
 *   m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
 *   vmax = max(vmax, v) (amsgrad);  p -= lr / (1 - beta1^t) * m / (sqrt(v or vmax) / sqrt(1 - beta2^t) + eps)
 * params, exp_avgs (m), exp_avg_sqs (v) and, with amsgrad, max_exp_avg_sqs
 * (vmax) are updated in place; grads is read. max_exp_avg_sqs is ignored
 * (may be NULL) without amsgrad. found_inf may be NULL (see above).
 * Statuses: those of clnn_adam_desc_check, CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_SHAPE_MISMATCH (element counts differ), CLNN_ERR_INVALID_VALUE
 * (a type outside those above, a list of mixed types; found_inf not an
 * int32 tensor of one element),
 * CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_ALIASING, CLNN_ERR_SIZE_OVERFLOW,
 * CLNN_ERR_BUILD_FAILED, CLNN_ERR_DEVICE_OUT_OF_MEMORY, CLNN_ERR_HOST_OUT_OF_MEMORY,
 * CLNN_ERR_OPENCL.
 */
clnn_status clnn_adam_step(clnn_context *ctx, const clnn_adam_desc *desc, size_t count,
                           clnn_tensor *const *params, const clnn_tensor *const *grads,
                           clnn_tensor *const *exp_avgs, clnn_tensor *const *exp_avg_sqs,
                           clnn_tensor *const *max_exp_avg_sqs, clnn_tensor *found_inf);

/**
 * One AdamW step: as clnn_adam_step except that the weight decay is
 * decoupled (Loshchilov and Hutter): p *= 1 - lr * wd before the update, and
 * g is not changed. With weight_decay == 0 it gives the same bits as
 * clnn_adam_step. Same arguments and statuses.
 */
clnn_status clnn_adamw_step(clnn_context *ctx, const clnn_adam_desc *desc, size_t count,
                            clnn_tensor *const *params, const clnn_tensor *const *grads,
                            clnn_tensor *const *exp_avgs, clnn_tensor *const *exp_avg_sqs,
                            clnn_tensor *const *max_exp_avg_sqs, clnn_tensor *found_inf);

/**
 * clnn_adam_step / clnn_adamw_step that also write the half-precision model
 * copy: model_copies[i] (float16 or bfloat16, NULL: none) receives the new
 * params[i] rounded once, in the same pass (a skipped step leaves it as it
 * is). params[i] stays the float32 master. Same statuses.
 */
clnn_status clnn_adam_step_copy(clnn_context *ctx, const clnn_adam_desc *desc, size_t count,
                                clnn_tensor *const *params, const clnn_tensor *const *grads,
                                clnn_tensor *const *exp_avgs, clnn_tensor *const *exp_avg_sqs,
                                clnn_tensor *const *max_exp_avg_sqs, clnn_tensor *const *model_copies,
                                clnn_tensor *found_inf);
clnn_status clnn_adamw_step_copy(clnn_context *ctx, const clnn_adam_desc *desc, size_t count,
                                 clnn_tensor *const *params, const clnn_tensor *const *grads,
                                 clnn_tensor *const *exp_avgs, clnn_tensor *const *exp_avg_sqs,
                                 clnn_tensor *const *max_exp_avg_sqs, clnn_tensor *const *model_copies,
                                 clnn_tensor *found_inf);

/**
 * Host references of the two steps on one flat array of n elements (a list
 * step is the same step on the concatenation). Computes in double and
 * rounds the updated p, m, v, vmax to float. vmax may be NULL without
 * amsgrad; found_inf may be NULL (receives 0 or 1 as the device writes it).
 * Statuses: those of clnn_adam_desc_check, CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_HOST_OUT_OF_MEMORY.
 */
clnn_status clnn_ref_adam_step(const clnn_adam_desc *desc, size_t n, float *param, const float *grad,
                               float *exp_avg, float *exp_avg_sq, float *max_exp_avg_sq,
                               int *found_inf);
clnn_status clnn_ref_adamw_step(const clnn_adam_desc *desc, size_t n, float *param, const float *grad,
                                float *exp_avg, float *exp_avg_sq, float *max_exp_avg_sq,
                                int *found_inf);

/** Hyperparameters of one SGD step (torch.optim.SGD). */
typedef struct clnn_sgd_desc {
  double lr;           /* >= 0 */
  double momentum;     /* >= 0; 0 = plain SGD (no buffer) */
  double dampening;    /* finite; the buffer adds (1 - dampening) * g */
  double weight_decay; /* >= 0: g += wd * p */
  int nesterov;        /* 1: Nesterov momentum (needs momentum > 0 and dampening == 0) */
  int maximize;
  int64_t step;        /* >= 1; on step 1 the momentum buffer is set to g (PyTorch creates it then) */
  double grad_scale;   /* > 0: gradients are divided by it, 1 = none */
  int skip_nonfinite;
} clnn_sgd_desc;

/** lr and step, everything else PyTorch's default (0), grad_scale 1. */
clnn_sgd_desc clnn_sgd_desc_make(double lr, int64_t step);

/**
 * Validate. Statuses: CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (lr,
 * momentum or weight decay negative or not finite, dampening not finite,
 * nesterov without momentum or with dampening, step < 1, bad grad_scale or flag).
 */
clnn_status clnn_sgd_desc_check(const clnn_sgd_desc *desc);

/**
 * One SGD step on count tensors:
 *   g = grad / grad_scale (negated with maximize);  g += wd * p
 *   buf = step == 1 ? g : momentum * buf + (1 - dampening) * g   (momentum > 0)
 *   g = nesterov ? g + momentum * buf : buf                       (momentum > 0)
 *   p -= lr * g
 * momentum_bufs is required with momentum > 0 (its contents are not read
 * on step 1) and ignored (may be NULL) otherwise. found_inf as for Adam.
 * Statuses: as clnn_adam_step, with clnn_sgd_desc_check's.
 */
clnn_status clnn_sgd_step(clnn_context *ctx, const clnn_sgd_desc *desc, size_t count,
                          clnn_tensor *const *params, const clnn_tensor *const *grads,
                          clnn_tensor *const *momentum_bufs, clnn_tensor *found_inf);

/** clnn_sgd_step that also writes the model copies, as clnn_adam_step_copy. */
clnn_status clnn_sgd_step_copy(clnn_context *ctx, const clnn_sgd_desc *desc, size_t count,
                               clnn_tensor *const *params, const clnn_tensor *const *grads,
                               clnn_tensor *const *momentum_bufs, clnn_tensor *const *model_copies,
                               clnn_tensor *found_inf);

/** Host reference of clnn_sgd_step on one flat array (momentum_buf may be NULL without momentum). */
clnn_status clnn_ref_sgd_step(const clnn_sgd_desc *desc, size_t n, float *param, const float *grad,
                              float *momentum_buf, int *found_inf);

/**
 * Gradient clipping by the global L2 norm over count tensors, as
 * torch.nn.utils.clip_grad_norm_: norm = sqrt(sum over every element of
 * every gradient of g^2), then every gradient is multiplied by
 * min(max_norm / (norm + 1e-6), 1). A non-finite gradient makes the norm
 * and then every gradient NaN, as in PyTorch; pair it with a step's
 * skip_nonfinite. max_norm >= 0; max_norm = INFINITY only computes the norm.
 * The sum is deterministic: each tensor is summed in fixed blocks with
 * Kahan compensation and the blocks are added in list order, so the same
 * list gives the same bits however its tensors share buffers.
 * total_norm: NULL, or a float32 tensor of one element that receives the
 * norm before clipping (on the device; read it to wait).
 * Statuses: CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (max_norm negative
 * or NaN, total_norm not a float32 tensor of one element),
 * CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_ALIASING (gradients overlapping each
 * other or total_norm), CLNN_ERR_SIZE_OVERFLOW, CLNN_ERR_BUILD_FAILED,
 * CLNN_ERR_DEVICE_OUT_OF_MEMORY, CLNN_ERR_HOST_OUT_OF_MEMORY, CLNN_ERR_OPENCL.
 */
clnn_status clnn_clip_grad_norm(clnn_context *ctx, size_t count, clnn_tensor *const *grads,
                                double max_norm, clnn_tensor *total_norm);

/** Host reference of clnn_clip_grad_norm on one flat array; total_norm may be NULL. */
clnn_status clnn_ref_clip_grad_norm(size_t n, float *grad, double max_norm, float *total_norm);

/**
 * Exponential moving average of parameters, a step of its own:
 *   ema = decay * ema + (1 - decay) * p
 * computed as torch.lerp(ema, p, 1 - decay) (exact when ema == p, and at
 * decay 0 and 1). decay in [0, 1]. ema[i] is updated, params[i] read.
 * Statuses: CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (decay),
 * CLNN_ERR_SHAPE_MISMATCH, CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_ALIASING,
 * CLNN_ERR_SIZE_OVERFLOW, CLNN_ERR_BUILD_FAILED, CLNN_ERR_DEVICE_OUT_OF_MEMORY,
 * CLNN_ERR_HOST_OUT_OF_MEMORY, CLNN_ERR_OPENCL.
 */
clnn_status clnn_ema_update(clnn_context *ctx, double decay, size_t count, clnn_tensor *const *ema,
                            const clnn_tensor *const *params);

/** Host reference of clnn_ema_update on one flat array. */
clnn_status clnn_ref_ema_update(double decay, size_t n, float *ema, const float *param);

/*
 * Dynamic loss scaling, torch.cuda.amp.GradScaler's rule, with the scale on
 * the host. Each training step:
 *   1. multiply the loss (or the loss gradient) by scaler.scale;
 *   2. step with desc.grad_scale = scaler.scale, desc.skip_nonfinite = 1 and
 *      a found_inf tensor: on overflow nothing is updated (params, state,
 *      model copies untouched);
 *   3. clnn_grad_scaler_update_from(&scaler, found_inf, &found) (it waits
 *      for the step); advance desc.step only when found == 0.
 * The update: on overflow scale *= backoff_factor and the count of good
 * steps restarts; after growth_interval good steps in a row scale *=
 * growth_factor (not past float32's range) and the count restarts. The
 * scale is a float32 value (as torch's tensor), so powers of two stay exact
 * and 1 / scale is exact in the kernels. Deterministic: the same sequence
 * of found_inf gives the same scales.
 */
typedef struct clnn_grad_scaler {
  double scale;            /* the current loss scale, a finite float32 > 0 */
  double growth_factor;    /* > 1 (torch: 2) */
  double backoff_factor;   /* in (0, 1) (torch: 0.5) */
  int64_t growth_interval; /* >= 1 good steps before growing (torch: 2000) */
  int64_t growth_tracker;  /* good steps since the last change, in [0, growth_interval) */
} clnn_grad_scaler;

/** torch's defaults with the given initial scale (torch's is 65536 = 2^16). */
clnn_grad_scaler clnn_grad_scaler_make(double init_scale);

/** Validate. Statuses: CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (a field outside its range). */
clnn_status clnn_grad_scaler_check(const clnn_grad_scaler *scaler);

/**
 * One update with the step's outcome (found_inf non-zero: the gradients
 * overflowed). Statuses: those of clnn_grad_scaler_check, and
 * CLNN_ERR_INVALID_VALUE when a back-off would underflow the scale to 0.
 */
clnn_status clnn_grad_scaler_update(clnn_grad_scaler *scaler, int found_inf);

/**
 * Read a step's found_inf (an int32 tensor of one element; waits for the
 * step), store it in *found (may be NULL) and update the scaler with it.
 * Statuses: those of clnn_grad_scaler_update, CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (found_inf not an int32 tensor of one element),
 * CLNN_ERR_OPENCL.
 */
clnn_status clnn_grad_scaler_update_from(clnn_grad_scaler *scaler, const clnn_tensor *found_inf, int *found);



/* --------------------------------------------------------------------- act */

/*
 * Activation layers, forward and backward, on NCHW float32 tensors.
 *
 * Plain form (gate = CLNN_GATE_NONE): y = f(x) element by element, with f one
 * of clnn_activation (alpha: LeakyReLU's negative slope, ELU's alpha).
 *
 * Gated forms split x along the channel axis into a = x[:, :c/2] and
 * b = x[:, c/2:] and give y of c/2 channels:
 *   CLNN_GATE_FIRST:  y = f(a) * b   SwiGLU with CLNN_ACT_SILU, GeGLU with
 *                                    CLNN_ACT_GELU (or GELU_TANH), as in
 *                                    `a, b = x.chunk(2, 1); F.silu(a) * b`
 *   CLNN_GATE_SECOND: y = a * f(b)   PyTorch's F.glu(x, 1) with CLNN_ACT_SIGMOID
 *
 * Shapes: x is (n, c, h, w); y and dy are (n, c, h, w), or (n, c/2, h, w)
 * when gated; dx has x's shape. For outputs of fully connected layers a
 * tensor may also be (n, c) when h == w == 1, or (n, c, h) when w == 1.
 *
 * NaN propagates as in PyTorch: f(NaN) is NaN for every f; the backward of
 * the piecewise functions at NaN takes PyTorch's branch (see kernels/common.h).
 */
typedef enum clnn_act_gate {
  CLNN_GATE_NONE = 0,
  CLNN_GATE_FIRST = 1,
  CLNN_GATE_SECOND = 2,
  CLNN_GATE_COUNT_
} clnn_act_gate;

typedef struct clnn_act_desc {
  int64_t n, c, h, w; /* input batch, channels (even when gated), height, width */
  clnn_activation act;
  float alpha;        /* LEAKY_RELU slope, ELU alpha; must be finite */
  clnn_act_gate gate;
} clnn_act_desc;

/** A plain (ungated) descriptor; alpha is 0.01 for LEAKY_RELU, 1 for ELU, else 0. */
clnn_act_desc clnn_act_desc_make(int64_t n, int64_t c, int64_t h, int64_t w, clnn_activation act);

/** SwiGLU: gate CLNN_GATE_FIRST with SiLU. c is the input's channel count (even). */
clnn_act_desc clnn_act_desc_swiglu(int64_t n, int64_t c, int64_t h, int64_t w);

/** GeGLU: gate CLNN_GATE_FIRST with the erf form of GELU. */
clnn_act_desc clnn_act_desc_geglu(int64_t n, int64_t c, int64_t h, int64_t w);

/**
 * Validate a descriptor; *out_c (may be NULL) receives y's channel count.
 * Any size may be 0 (an empty tensor: nothing is written).
 * Statuses: CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (negative or
 * over 2^30 sizes, unknown act or gate, odd c when gated),
 * CLNN_ERR_NOT_FINITE (alpha NaN or infinite), CLNN_ERR_SIZE_OVERFLOW (a
 * tensor over 2^31 - 1 elements).
 */
clnn_status clnn_act_desc_check(const clnn_act_desc *desc, int64_t *out_c);

/**
 * y = f(x) (or the gated form). Ungated, y may be x itself (same buffer and
 * offset: in place); any other overlap is CLNN_ERR_ALIASING.
 * The tensors (here and in clnn_act_bwd) are float32, float16 or bfloat16,
 * all of one type (CLNN_ERR_INVALID_VALUE names the one that differs); the
 * math is float32, rounded once on store.
 * Statuses: those of clnn_act_desc_check, CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE,
 * CLNN_ERR_SHAPE_MISMATCH, CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_ALIASING,
 * CLNN_ERR_BUILD_FAILED, CLNN_ERR_OPENCL.
 */
clnn_status clnn_act_fwd(clnn_context *ctx, const clnn_act_desc *desc, const clnn_tensor *x,
                         clnn_tensor *y);

/**
 * dx = dL/dx given x (the forward's input) and dy = dL/dy. Ungated,
 * dx = dy * f'(x) and dx may be dy itself (in place); gated,
 * dx = [dy * f'(a) * b, dy * f(a)] (GATE_FIRST). Statuses: as clnn_act_fwd.
 */
clnn_status clnn_act_bwd(clnn_context *ctx, const clnn_act_desc *desc, const clnn_tensor *x,
                         const clnn_tensor *dy, clnn_tensor *dx);

/** Host references of clnn_act_fwd / clnn_act_bwd on plain arrays (computed in double). */
clnn_status clnn_ref_act_fwd(const clnn_act_desc *desc, const float *x, float *y);
clnn_status clnn_ref_act_bwd(const clnn_act_desc *desc, const float *x, const float *dy, float *dx);


/* -------------------------------------------------------------------- norm */

/*
 * Batch normalisation over (n, c, h, w): per channel, the statistics run over
 * the n * h * w values of that channel (PyTorch's BatchNorm1d/2d).
 *
 *   training:   y = act(gamma * (x - mean_B) / sqrt(var_B + eps) + beta) with
 *               the batch mean and biased variance; the running statistics
 *               (optional) take one step:
 *                 r <- (1 - m) r + m * stat   (stat: mean_B, and the unbiased
 *                                              variance var_B * M / (M - 1))
 *               with m = momentum, or m = 1 / num_batches_tracked after its
 *               increment when cumulative (PyTorch's momentum=None: the
 *               running stats are the plain average over all batches seen).
 *   inference:  y = act(gamma * (x - running_mean) / sqrt(running_var + eps) + beta)
 *
 * M = n * h * w. affine = 0 means gamma = 1 and beta = 0 (pass NULL). act is
 * an optional fused activation (CLNN_ACT_IDENTITY for none; BN + SiLU is
 * EfficientNet's pattern); the backward recomputes the pre-activation.
 * Statistics are reduced in two levels with a fixed order (per chunk of a
 * plane with a shifted two-pass sum, then Chan's pairwise combination per
 * channel): the variance is right for inputs with a large mean (1e4 + N(0,1)),
 * and results are bit-identical from run to run. No float atomics.
 *
 * Shapes: x, y, dy, dx (n, c, h, w), or (n, c, h) when w == 1, or (n, c)
 * when h == w == 1; every per-channel tensor (gamma, beta, running_mean,
 * running_var, save_mean, save_invstd, dgamma, dbeta) is (c).
 *
 * Types: x, y, dy and dx are float32, float16 or bfloat16, all of x's type
 * (CLNN_ERR_INVALID_VALUE names the one that differs, or an int32 x); the
 * per-channel tensors are float32 with every type (as torch's mixed
 * precision keeps BN parameters and statistics). The math is float32 (the
 * statistics and sums in the same fixed order as for float32 data), each
 * y or dx element rounded once on store, to nearest even.
 */
typedef struct clnn_batchnorm_desc {
  int64_t n, c, h, w;
  float eps;           /* added to the variance; finite, >= 0 */
  float momentum;      /* running-stat factor in [0, 1] (ignored when cumulative) */
  int cumulative;      /* 1: momentum = None, factor 1 / num_batches_tracked */
  int affine;          /* 1: gamma and beta are used (and their gradients exist) */
  clnn_activation act; /* fused activation after the affine transform */
  float act_alpha;
} clnn_batchnorm_desc;

/** Defaults as PyTorch's: eps 1e-5, momentum 0.1, not cumulative, affine, no activation. */
clnn_batchnorm_desc clnn_batchnorm_desc_make(int64_t n, int64_t c, int64_t h, int64_t w);

/**
 * Validate a descriptor. Any size may be 0, as torch takes empty tensors:
 * with no value per channel (n, h or w 0) the training forward leaves the
 * running statistics, writes NaN save_mean / save_invstd (a mean over
 * nothing) and still increments num_batches_tracked, and the backward
 * passes give dgamma = dbeta = 0. Statuses: CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (sizes outside [0, 2^30], eps < 0, momentum outside
 * [0, 1], unknown act), CLNN_ERR_NOT_FINITE (eps, momentum or act_alpha NaN or
 * infinite), CLNN_ERR_SIZE_OVERFLOW (over 2^31 - 1 elements).
 */
clnn_status clnn_batchnorm_desc_check(const clnn_batchnorm_desc *desc);

/**
 * Training-mode forward. gamma, beta: (c), required when desc->affine, else
 * NULL. save_mean / save_invstd (both or neither): receive the batch mean and
 * 1 / sqrt(var_B + eps), which clnn_batchnorm_bwd needs. running_mean /
 * running_var (both or neither) are read and updated in place.
 * num_batches_tracked: a host counter, incremented by one when the call
 * succeeds (may be NULL unless desc->cumulative and running stats are given).
 * Refuses M = n*h*w = 1 (CLNN_ERR_INVALID_VALUE, as PyTorch; M = 0 is the
 * empty batch of clnn_batchnorm_desc_check). y must not
 * overlap any input. Statuses: those of clnn_batchnorm_desc_check,
 * CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (a tensor given that the
 * descriptor excludes, one of a pair missing), CLNN_ERR_SHAPE_MISMATCH,
 * CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_ALIASING, CLNN_ERR_BUILD_FAILED,
 * CLNN_ERR_DEVICE_OUT_OF_MEMORY, CLNN_ERR_OPENCL.
 */
clnn_status clnn_batchnorm_fwd_training(clnn_context *ctx, const clnn_batchnorm_desc *desc,
                                        const clnn_tensor *x, const clnn_tensor *gamma,
                                        const clnn_tensor *beta, clnn_tensor *y,
                                        clnn_tensor *save_mean, clnn_tensor *save_invstd,
                                        clnn_tensor *running_mean, clnn_tensor *running_var,
                                        int64_t *num_batches_tracked);

/**
 * Inference-mode forward with the running statistics (required). y may be x
 * itself (in place). Statuses: as clnn_batchnorm_fwd_training.
 */
clnn_status clnn_batchnorm_fwd_inference(clnn_context *ctx, const clnn_batchnorm_desc *desc,
                                         const clnn_tensor *x, const clnn_tensor *gamma,
                                         const clnn_tensor *beta, const clnn_tensor *running_mean,
                                         const clnn_tensor *running_var, clnn_tensor *y);

/**
 * Training-mode backward: from x, dy and the forward's save_mean and
 * save_invstd, dx (may be NULL), and when desc->affine dgamma and dbeta
 * (either may be NULL; both NULL when not affine). beta is needed only with
 * a fused activation (to recompute its input); pass it whenever affine.
 * At least one output. save_mean must be what the training forward saved
 * for this x: the backward re-centres its sums on x's own batch mean (one
 * more sum in the same pass), so the gradients stay accurate when
 * |mean| >> std. With a fused activation, the activation's input is
 * recomputed from the saved float mean: relative error about
 * ulp(mean) / std (5e-4 for 1e4 + N(0,1) inputs, 1e-7 for centred ones).
 * Statuses: as clnn_batchnorm_fwd_training.
 */
clnn_status clnn_batchnorm_bwd(clnn_context *ctx, const clnn_batchnorm_desc *desc,
                               const clnn_tensor *x, const clnn_tensor *dy, const clnn_tensor *gamma,
                               const clnn_tensor *beta, const clnn_tensor *save_mean,
                               const clnn_tensor *save_invstd, clnn_tensor *dx, clnn_tensor *dgamma,
                               clnn_tensor *dbeta);

/**
 * Backward of the inference-mode forward (frozen statistics, e.g. fine-tuning
 * with BN in eval mode): dx = dy' * gamma / sqrt(running_var + eps),
 * dgamma = sum dy' * xhat, dbeta = sum dy' (dy' = dy through the activation).
 * Outputs as clnn_batchnorm_bwd. Statuses: as clnn_batchnorm_fwd_training.
 */
clnn_status clnn_batchnorm_bwd_inference(clnn_context *ctx, const clnn_batchnorm_desc *desc,
                                         const clnn_tensor *x, const clnn_tensor *dy,
                                         const clnn_tensor *gamma, const clnn_tensor *beta,
                                         const clnn_tensor *running_mean,
                                         const clnn_tensor *running_var, clnn_tensor *dx,
                                         clnn_tensor *dgamma, clnn_tensor *dbeta);

/**
 * Host references (double accumulation, the exact two-pass statistics), same
 * arguments as plain arrays; NULL where the device op takes NULL.
 */
clnn_status clnn_ref_batchnorm_fwd_training(const clnn_batchnorm_desc *desc, const float *x,
                                            const float *gamma, const float *beta, float *y,
                                            float *save_mean, float *save_invstd,
                                            float *running_mean, float *running_var,
                                            int64_t *num_batches_tracked);
clnn_status clnn_ref_batchnorm_fwd_inference(const clnn_batchnorm_desc *desc, const float *x,
                                             const float *gamma, const float *beta,
                                             const float *running_mean, const float *running_var,
                                             float *y);
clnn_status clnn_ref_batchnorm_bwd(const clnn_batchnorm_desc *desc, const float *x, const float *dy,
                                   const float *gamma, const float *beta, const float *save_mean,
                                   const float *save_invstd, float *dx, float *dgamma, float *dbeta);
clnn_status clnn_ref_batchnorm_bwd_inference(const clnn_batchnorm_desc *desc, const float *x,
                                             const float *dy, const float *gamma, const float *beta,
                                             const float *running_mean, const float *running_var,
                                             float *dx, float *dgamma, float *dbeta);


/* -------------------------------------------------------------------- pool */

/*
 * 2-D pooling over NCHW tensors, with PyTorch's semantics (max_pool2d with
 * return_indices, avg_pool2d):
 *   x: (n, c, h, w)   y: (n, c, out_h, out_w)   indices: int32, like y
 *   out = floor((in + 2*pad - kernel) / stride) + 1, or with ceil_mode the
 *   ceiling, less one when the last window would start in the right or
 *   bottom padding. pad <= kernel / 2.
 * MAX: y is the window's maximum over the input positions it covers
 *   (padding never wins); a NaN in the window wins (the last one); ties keep
 *   the first position in row-major order. indices[o] = iy * w + ix, the
 *   position within the plane (as PyTorch's return_indices).
 * AVG: the sum of the covered inputs divided by the window's area including
 *   the padding (count_include_pad, PyTorch's default; with ceil_mode the
 *   area stops at the padded edge), AVG_EXCLUDE_PAD by the number of
 *   covered inputs; divisor > 0 replaces either (divisor_override).
 * Global average pooling is the AVG case with kernel = (h, w) and no padding
 * (clnn_pool2d_desc_global); it runs as a plane reduction. When out_h ==
 * out_w == 1, y, indices and dy may also be (n, c).
 * The backward gathers: each dx element sums, in a fixed order, the dy of
 * the outputs that chose it (MAX: indices[o] equals its position) or cover
 * it (AVG: dy / divisor). Same inputs, same bits; no atomics.
 * x, y, dy and dx (forward and backward) are float32, float16 or bfloat16,
 * all of one type (CLNN_ERR_INVALID_VALUE names the one that differs);
 * indices are int32 with every type. The math is float32 (a maximum, a sum
 * and its quotient), rounded once on store: a maximum is stored exactly.
 */
typedef enum clnn_pool_mode {
  CLNN_POOL_MAX = 0,
  CLNN_POOL_AVG = 1,             /* count_include_pad = True */
  CLNN_POOL_AVG_EXCLUDE_PAD = 2, /* count_include_pad = False */
  CLNN_POOL_MODE_COUNT_
} clnn_pool_mode;

typedef struct clnn_pool2d_desc {
  int64_t n, c, h, w;
  int64_t kh, kw;
  int64_t stride_h, stride_w;
  int64_t pad_h, pad_w;
  clnn_pool_mode mode;
  int ceil_mode;   /* 1: ceiling in the output size */
  int64_t divisor; /* AVG only: > 0 overrides the divisor; 0: none */
} clnn_pool2d_desc;

/** A descriptor with the given kernel, stride = kernel (PyTorch's default), no padding. */
clnn_pool2d_desc clnn_pool2d_desc_make(int64_t n, int64_t c, int64_t h, int64_t w, clnn_pool_mode mode,
                                       int64_t kh, int64_t kw);

/** Global average pooling of (n, c, h, w) to (n, c, 1, 1). */
clnn_pool2d_desc clnn_pool2d_desc_global(int64_t n, int64_t c, int64_t h, int64_t w);

/**
 * Validate a descriptor and compute the output size (out_h / out_w may be
 * NULL). n may be 0 (a batch of 0: nothing is written); c may not, as in
 * torch. Statuses: CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (other sizes outside
 * [1, 2^30], negative padding, pad > kernel / 2, unknown mode,
 * negative divisor or a divisor with MAX), CLNN_ERR_SHAPE_MISMATCH (no output
 * position: the kernel is larger than the padded input),
 * CLNN_ERR_SIZE_OVERFLOW (a tensor over 2^31 - 1 elements).
 */
clnn_status clnn_pool2d_desc_check(const clnn_pool2d_desc *desc, int64_t *out_h, int64_t *out_w);

/**
 * Forward pooling. indices (int32) is optional with MAX (NULL when no
 * backward follows) and must be NULL with AVG. y and indices must not
 * overlap x or each other. Statuses: those of clnn_pool2d_desc_check,
 * CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (indices with AVG, a
 * dtype that is not a float type or differs from x's, indices not int32),
 * CLNN_ERR_SHAPE_MISMATCH, CLNN_ERR_CONTEXT_MISMATCH,
 * CLNN_ERR_ALIASING, CLNN_ERR_BUILD_FAILED, CLNN_ERR_OPENCL.
 */
clnn_status clnn_pool2d_fwd(clnn_context *ctx, const clnn_pool2d_desc *desc, const clnn_tensor *x,
                            clnn_tensor *y, clnn_tensor *indices);

/**
 * dx from dy (and, for MAX, the indices the forward wrote; required). Every
 * element of dx is written (zero where no output depends on it). An index
 * that does not name a position of its own window adds nothing. Statuses:
 * as clnn_pool2d_fwd.
 */
clnn_status clnn_pool2d_bwd(clnn_context *ctx, const clnn_pool2d_desc *desc, const clnn_tensor *dy,
                            const clnn_tensor *indices, clnn_tensor *dx);

/** Host references (indices as int32_t; NULL where the device op allows NULL). */
clnn_status clnn_ref_pool2d_fwd(const clnn_pool2d_desc *desc, const float *x, float *y, int32_t *indices);
clnn_status clnn_ref_pool2d_bwd(const clnn_pool2d_desc *desc, const float *dy, const int32_t *indices,
                                float *dx);


/* ------------------------------------------------------------------ linear */

/**
 * Fully connected layer: y = act(x W^T + b), the GEMM running on the
 * context's engine (own register-tiled kernels on CPU devices, CLBlast
 * elsewhere; see clnn_gemm_engine).
 *   x: n rows of in_features     w: (out_features, in_features)
 *   b: (out_features) or NULL    y: n rows of out_features
 * x, dx, y and dy are tensors whose first dimension is n and whose remaining
 * dimensions multiply to the feature count, so (n, c) and (n, c, 1, 1)
 * (a global-average-pooled activation) are both accepted.
 * act/act_alpha: activation fused after the bias in the forward pass; the
 * backward functions ignore them (apply the activation's backward first).
 */
typedef struct clnn_linear_desc {
  int64_t n;            /* rows (batch) */
  int64_t in_features;  /* columns of x and w */
  int64_t out_features; /* rows of w, columns of y */
  clnn_activation act;
  float act_alpha;
} clnn_linear_desc;

/** A descriptor with the given sizes and no activation. */
clnn_linear_desc clnn_linear_desc_make(int64_t n, int64_t in_features, int64_t out_features);

/**
 * Validate a descriptor. n may be 0 (no rows: y and dx are empty, dw and
 * db are 0, or unchanged when accumulating). Statuses: CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (a size outside [1, 2^30], unknown activation),
 * CLNN_ERR_SIZE_OVERFLOW (a tensor over 2^31 - 1 elements).
 */
clnn_status clnn_linear_desc_check(const clnn_linear_desc *desc);

/**
 * y = act(x W^T + b). b may be NULL. y must not overlap x, w or b.
 * Types: x, w, b and y (and in the backward passes dy, dx, dw, db) are
 * float32, float16 or bfloat16, all of one type (x's, or dy's). Half
 * tensors are widened to float32 for the GEMMs (float32 products and sums,
 * bias and activation), and each output element is rounded to the type
 * once, to nearest even; an accumulated gradient rounds old value plus sum
 * once. Half calls use the context's outer workspace for the float32
 * copies (about 4 bytes per element of the tensors involved).
 * Statuses: those of clnn_linear_desc_check, CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_SHAPE_MISMATCH, CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_ALIASING,
 * CLNN_ERR_INVALID_VALUE (a tensor of another type, named with its type),
 * CLNN_ERR_UNSUPPORTED (the workspace limit cannot hold 32 columns of a
 * packed GEMM operand; wider operands are packed in chunks of columns),
 * CLNN_ERR_BUILD_FAILED, CLNN_ERR_DEVICE_OUT_OF_MEMORY, CLNN_ERR_OPENCL, CLNN_ERR_BLAS.
 */
clnn_status clnn_linear_fwd(clnn_context *ctx, const clnn_linear_desc *desc, const clnn_tensor *x,
                            const clnn_tensor *w, const clnn_tensor *b, clnn_tensor *y);

/**
 * dx = dy W (the gradient with respect to the input; overwritten).
 * dx must not overlap dy or w. Statuses: as clnn_linear_fwd.
 */
clnn_status clnn_linear_bwd_data(clnn_context *ctx, const clnn_linear_desc *desc,
                                 const clnn_tensor *dy, const clnn_tensor *w, clnn_tensor *dx);

/**
 * Weight and bias gradients: dw = dy^T x and db = sum over rows of dy.
 * accumulate = 0 overwrites dw and db; 1 adds to what they hold (gradient
 * accumulation over micro-batches). Either dw or db may be NULL (not both).
 * The sums run in a fixed order: same inputs, same bits.
 * Statuses: as clnn_linear_fwd, CLNN_ERR_INVALID_VALUE (accumulate not 0/1).
 */
clnn_status clnn_linear_bwd_weights(clnn_context *ctx, const clnn_linear_desc *desc,
                                    const clnn_tensor *x, const clnn_tensor *dy, clnn_tensor *dw,
                                    clnn_tensor *db, int accumulate);

/** Host references of the three linear passes (b, dw or db may be NULL as above). */
clnn_status clnn_ref_linear_fwd(const clnn_linear_desc *desc, const float *x, const float *w,
                                const float *b, float *y);
clnn_status clnn_ref_linear_bwd_data(const clnn_linear_desc *desc, const float *dy, const float *w,
                                     float *dx);
clnn_status clnn_ref_linear_bwd_weights(const clnn_linear_desc *desc, const float *x,
                                        const float *dy, float *dw, float *db, int accumulate);

/* ----------------------------------------------------------------- eltwise */

/*
 * Element-wise ops: add (residual connections), multiply with broadcast
 * (squeeze-excitation scaling), scale; each with its backward. Sizes come
 * from the tensors. The tensors (of every function below) are float32,
 * float16 or bfloat16, all those of a call of one type
 * (CLNN_ERR_INVALID_VALUE names the one that differs from the first); the
 * math is float32, rounded once on store; the scalars (alpha, beta) are
 * float32. Outputs may be the very same memory as an input of the same
 * shape (in place: same buffer, same offset); any other overlap is
 * CLNN_ERR_ALIASING. Scale factors must be finite (CLNN_ERR_NOT_FINITE).
 * Reductions (the gradients of broadcast factors) accumulate in float32,
 * rounded once to the tensors' type, in a fixed order, without atomics:
 * same inputs, same bits.
 * Common statuses: CLNN_ERR_NULL_POINTER, CLNN_ERR_SHAPE_MISMATCH,
 * CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_INVALID_VALUE (not a float type, or
 * not the first tensor's type), CLNN_ERR_SIZE_OVERFLOW (over 2^31 - 1
 * elements), CLNN_ERR_ALIASING, CLNN_ERR_NOT_FINITE,
 * CLNN_ERR_DEVICE_OUT_OF_MEMORY (the reductions' float32 chunk sums live in
 * the workspace), CLNN_ERR_BUILD_FAILED, CLNN_ERR_OPENCL.
 */

/** y = alpha * a + beta * b; a, b and y of one shape. */
clnn_status clnn_eltwise_add(clnn_context *ctx, float alpha, const clnn_tensor *a, float beta,
                             const clnn_tensor *b, clnn_tensor *y);

/** Backward of clnn_eltwise_add: da = alpha * dy, db = beta * dy; da or db may be NULL (not both). */
clnn_status clnn_eltwise_add_bwd(clnn_context *ctx, float alpha, float beta, const clnn_tensor *dy,
                                 clnn_tensor *da, clnn_tensor *db);

/**
 * y = x * s with s broadcast: s has the rank of x, its leading dimensions
 * equal x's and its trailing ones are 1. s (N, C, 1, 1) scales each channel
 * of each image of x (N, C, H, W) (squeeze-excitation); s of x's shape is a
 * plain element-wise product; s (N, 1, 1, 1) scales whole images.
 */
clnn_status clnn_eltwise_mul(clnn_context *ctx, const clnn_tensor *x, const clnn_tensor *s,
                             clnn_tensor *y);

/**
 * Backward of clnn_eltwise_mul: dx = dy * s and ds = dy * x summed over the
 * broadcast (trailing) dimensions, in a fixed order. dx or ds may be NULL
 * (not both); x is only read when ds is wanted (it may then be NULL otherwise).
 */
clnn_status clnn_eltwise_mul_bwd(clnn_context *ctx, const clnn_tensor *x, const clnn_tensor *s,
                                 const clnn_tensor *dy, clnn_tensor *dx, clnn_tensor *ds);

/**
 * y = x * s + beta * t with s and t broadcast over x as clnn_eltwise_mul's s
 * (t of s's shape), in one pass. For instance the gradient of a
 * squeeze-excitation input, which feeds both the scaling and the pooling:
 * dy * s plus beta = 1 / (H*W) times the pooled gradient. y may be x itself
 * (in place); s and t must not overlap y. beta must be finite.
 */
clnn_status clnn_eltwise_mul_add(clnn_context *ctx, const clnn_tensor *x, const clnn_tensor *s, float beta,
                                 const clnn_tensor *t, clnn_tensor *y);

/** y = alpha * x. */
clnn_status clnn_eltwise_scale(clnn_context *ctx, float alpha, const clnn_tensor *x, clnn_tensor *y);

/**
 * Backward of clnn_eltwise_scale: dx = alpha * dy, and when dalpha (a
 * one-element tensor) is given, dalpha = sum(dy * x) in a fixed order (for a
 * learned scale such as LayerScale). dx or dalpha may be NULL (not both); x
 * is only read for dalpha.
 */
clnn_status clnn_eltwise_scale_bwd(clnn_context *ctx, float alpha, const clnn_tensor *x,
                                   const clnn_tensor *dy, clnn_tensor *dx, clnn_tensor *dalpha);

/*
 * Host references, on float32 arrays in double precision (for a half type,
 * give them inputs rounded to it with clnn_pack_f32 then clnn_unpack_f32,
 * and round their results the same way). n: elements; for mul, x is viewed
 * as (outer, inner) and s as (outer): outer = the number of elements of s,
 * inner = numel(x) / outer.
 * Optional outputs may be NULL as in the device functions. Statuses:
 * CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (a size outside
 * [1, 2^31 - 1]), CLNN_ERR_SIZE_OVERFLOW, CLNN_ERR_NOT_FINITE,
 * CLNN_ERR_HOST_OUT_OF_MEMORY.
 */
clnn_status clnn_ref_eltwise_add(int64_t n, float alpha, const float *a, float beta, const float *b,
                                 float *y);
clnn_status clnn_ref_eltwise_add_bwd(int64_t n, float alpha, float beta, const float *dy, float *da,
                                     float *db);
clnn_status clnn_ref_eltwise_mul(int64_t outer, int64_t inner, const float *x, const float *s,
                                 float *y);
clnn_status clnn_ref_eltwise_mul_bwd(int64_t outer, int64_t inner, const float *x, const float *s,
                                     const float *dy, float *dx, float *ds);
clnn_status clnn_ref_eltwise_mul_add(int64_t outer, int64_t inner, const float *x, const float *s, float beta,
                                     const float *t, float *y);
clnn_status clnn_ref_eltwise_scale(int64_t n, float alpha, const float *x, float *y);
clnn_status clnn_ref_eltwise_scale_bwd(int64_t n, float alpha, const float *x, const float *dy,
                                       float *dx, float *dalpha);

/* -------------------------------------------------------------------- loss */

/*
 * Losses compute the scalar loss and its gradient in one call; the loss goes
 * to a one-element float32 tensor on the device. Every reduction (the mean
 * over rows, softmax sums) runs in a fixed order without atomics: same
 * inputs, same bits. Softmaxes subtract the row maximum (log-sum-exp), so
 * logits of magnitude 1e4 give finite losses and gradients.
 */

/**
 * Classification losses over class logits with int32 labels.
 *   logits: (n, classes) or (n, classes, d1, d2, ...) with inner = d1*d2*...
 *           (per-pixel classification, as PyTorch's cross_entropy)
 *   labels: (n) or (n, d1, d2, ...), int32 in [0, classes) or ignore_index
 * A position whose label is ignore_index adds no loss and gets a zero
 * gradient, and the mean is over the other positions (all ignored: the loss
 * is NaN, as in PyTorch). A label outside [0, classes) that is not
 * ignore_index cannot be detected before the device runs: it makes that
 * position's gradient row and the loss NaN (the host reference returns
 * CLNN_ERR_INVALID_VALUE instead).
 */
typedef struct clnn_loss_class_desc {
  int64_t n;             /* batch */
  int64_t classes;       /* number of classes (>= 1) */
  int64_t inner;         /* positions per sample: 1 for plain classification */
  float label_smoothing; /* cross-entropy only, in [0, 1]: target (1 - e) one-hot + e / classes */
  int32_t ignore_index;  /* label value to skip (default -100, as PyTorch) */
  float grad_scale;      /* the gradient is multiplied by this (upstream gradient; default 1) */
} clnn_loss_class_desc;

/** Defaults: inner 1, no smoothing, ignore_index -100, grad_scale 1. */
clnn_loss_class_desc clnn_loss_class_desc_make(int64_t n, int64_t classes);

/**
 * Validate a descriptor. Statuses: CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (classes or inner outside [1, 2^30], n outside
 * [0, 2^30] (a batch of 0: the loss is NaN, torch's mean over nothing,
 * and dlogits is empty), label_smoothing outside
 * [0, 1]), CLNN_ERR_NOT_FINITE (NaN or infinite smoothing or grad_scale),
 * CLNN_ERR_SIZE_OVERFLOW.
 */
clnn_status clnn_loss_class_desc_check(const clnn_loss_class_desc *desc);

/**
 * Softmax cross-entropy with mean reduction, as PyTorch's
 * cross_entropy(logits, labels, label_smoothing=e, ignore_index=..):
 *   loss = mean_i [ logsumexp(z_i) - sum_k q_ik z_ik ],
 *   q_ik = (1 - e) [k == y_i] + e / classes
 *   dlogits_ik = grad_scale * (softmax(z_i)_k - q_ik) / count
 * with i over the positions whose label is not ignored (count of them).
 * loss: one-element tensor. dlogits: logits' shape, or NULL for the loss
 * alone. Outputs must not overlap the inputs. A NaN logit makes its
 * position's gradient row and the loss NaN.
 * Types: logits float32, float16 or bfloat16, dlogits of the logits' type,
 * labels int32, loss float32 in every case. Half logits are read as
 * float32 (maximum, log-sum-exp and mean in float32) and each gradient is
 * rounded to the type once, when stored (to nearest even); a float16 logit
 * that overflowed to +inf makes its row NaN, as in float32.
 * Statuses: those of clnn_loss_class_desc_check, CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_SHAPE_MISMATCH, CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_ALIASING,
 * CLNN_ERR_INVALID_VALUE (a type other than the above: the message names
 * the argument and its type), CLNN_ERR_DEVICE_OUT_OF_MEMORY,
 * CLNN_ERR_BUILD_FAILED, CLNN_ERR_OPENCL.
 */
clnn_status clnn_loss_xent(clnn_context *ctx, const clnn_loss_class_desc *desc,
                           const clnn_tensor *logits, const clnn_tensor *labels, clnn_tensor *loss,
                           clnn_tensor *dlogits);

/**
 * Soft accuracy, the smooth surrogate of accuracy:
 *   loss = 1 - mean_i softmax(z_i)[y_i]
 *   dlogits_ik = -grad_scale * p_iy ([k == y_i] - p_ik) / count
 * Arguments and statuses as clnn_loss_xent; label_smoothing must be 0.
 */
clnn_status clnn_loss_soft_accuracy(clnn_context *ctx, const clnn_loss_class_desc *desc,
                                    const clnn_tensor *logits, const clnn_tensor *labels,
                                    clnn_tensor *loss, clnn_tensor *dlogits);

/** Which contrastive loss clnn_loss_infonce computes. */
typedef enum clnn_infonce_variant {
  /* SimCLR's NT-Xent (Chen et al. 2020): the 2n embeddings of both views
   * together; anchor i's positive is its other view, its negatives the
   * other 2n - 2 embeddings of both views; mean over all 2n anchors. */
  CLNN_INFONCE_NT_XENT = 0,
  /* Symmetric cross-view InfoNCE (CLIP): logits u1 u2^T / t, cross-entropy
   * with the diagonal as target over rows and over columns, averaged:
   * negatives come from the other view only. */
  CLNN_INFONCE_CROSS_VIEW = 1
} clnn_infonce_variant;

/**
 * Contrastive loss of two views z1, z2 (n, dim), row i of z1 and of z2 being
 * a positive pair (the diagonal of the cross-similarity matrix). Rows are
 * L2-normalised as u = z / max(|z|, eps) (PyTorch's F.normalize), the
 * similarities are u_i . u_j / temperature. For CLNN_INFONCE_NT_XENT:
 *   l_i = -log( exp(s(i, p(i))) / sum_{k != i} exp(s(i, k)) ), i < 2n
 *   loss = mean_i l_i
 * which equals PyTorch's
 *   u = F.normalize(cat([z1, z2]), dim=1); s = u @ u.T / t
 *   s.fill_diagonal_(-inf); labels = cat([arange(n) + n, arange(n)])
 *   loss = F.cross_entropy(s, labels)
 */
typedef struct clnn_loss_infonce_desc {
  int64_t n;          /* pairs (>= 1; NT-Xent needs n >= 1, cross-view n >= 1) */
  int64_t dim;        /* embedding size */
  float temperature;  /* > 0, e.g. 0.1 or 0.5 */
  float eps;          /* normalisation floor, default 1e-12 */
  clnn_infonce_variant variant;
  float grad_scale;   /* the gradients are multiplied by this (default 1) */
} clnn_loss_infonce_desc;

/** Defaults: NT-Xent, eps 1e-12, grad_scale 1. */
clnn_loss_infonce_desc clnn_loss_infonce_desc_make(int64_t n, int64_t dim, float temperature);

/**
 * Validate a descriptor. Statuses: CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_INVALID_VALUE (size outside [1, 2^30], temperature or eps not
 * positive, unknown variant), CLNN_ERR_NOT_FINITE, CLNN_ERR_SIZE_OVERFLOW.
 */
clnn_status clnn_loss_infonce_desc_check(const clnn_loss_infonce_desc *desc);

/**
 * The loss into a one-element tensor and, unless both are NULL, the
 * gradients dz1, dz2 (n, dim) (one of them may be NULL). The similarity
 * matrix, 2n x 2n for NT-Xent and n x n for the cross-view form, lives in
 * the workspace, in blocks of rows when it does not fit the context's
 * workspace limit (recomputed for the backward; the results stay
 * deterministic for a given limit, and for NT-Xent independent of it).
 * Types: z1 float32, float16 or bfloat16; z2, dz1 and dz2 of z1's type;
 * loss float32. The normalised embeddings, similarities and their GEMMs are
 * float32 in the workspace whatever the type; dz is rounded once on store.
 * Statuses: as clnn_loss_xent, CLNN_ERR_UNSUPPORTED (the workspace limit is
 * too small for the normalised embeddings plus 8 rows of similarities).
 */
clnn_status clnn_loss_infonce(clnn_context *ctx, const clnn_loss_infonce_desc *desc,
                              const clnn_tensor *z1, const clnn_tensor *z2, clnn_tensor *loss,
                              clnn_tensor *dz1, clnn_tensor *dz2);

/** Host references: *loss gets the loss; gradient outputs may be NULL. */
clnn_status clnn_ref_loss_xent(const clnn_loss_class_desc *desc, const float *logits,
                               const int32_t *labels, float *loss, float *dlogits);
clnn_status clnn_ref_loss_soft_accuracy(const clnn_loss_class_desc *desc, const float *logits,
                                        const int32_t *labels, float *loss, float *dlogits);
clnn_status clnn_ref_loss_infonce(const clnn_loss_infonce_desc *desc, const float *z1,
                                  const float *z2, float *loss, float *dz1, float *dz2);

/* ---------------------------------------------------------- receptive field */

/** One layer of a stack: a convolution or pooling window (square or along one axis). */
typedef struct clnn_rf_layer {
  int64_t kernel;   /* >= 1 */
  int64_t stride;   /* >= 1 */
  int64_t padding;  /* >= 0 */
  int64_t dilation; /* >= 1; the effective kernel is dilation * (kernel - 1) + 1 */
} clnn_rf_layer;

/** The receptive field after a layer, in input pixels. */
typedef struct clnn_rf_info {
  int64_t size;  /* receptive field size r: input pixels one output sees */
  int64_t jump;  /* distance in input pixels between neighbouring outputs */
  double start;  /* centre of the first output's field, in input pixel indices
                    (pixel i spans [i - 0.5, i + 0.5]); negative when it
                    hangs over the padding */
} clnn_rf_info;

/**
 * Walk a stack of count layers from the input: r_0 = 1, j_0 = 1, start_0 = 0,
 *   k_eff = dilation (kernel - 1) + 1
 *   r_out = r_in + (k_eff - 1) j_in,   j_out = j_in stride,
 *   start_out = start_in + ((k_eff - 1) / 2 - padding) j_in.
 * *out gets the last layer's field; per_layer (count entries) may be NULL,
 * else it gets the field after every layer. Pure host arithmetic.
 * Statuses: CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (count < 1, a
 * field out of range), CLNN_ERR_SIZE_OVERFLOW (r or j past 2^62).
 */
clnn_status clnn_receptive_field(const clnn_rf_layer *layers, int count, clnn_rf_info *per_layer,
                                 clnn_rf_info *out);


#ifdef __cplusplus
}
#endif

#endif /* CLNN_H */
