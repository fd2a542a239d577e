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
 *    time. Distinct contexts are independent.
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

/** Wait for the queue, save any program binaries not yet cached, release everything. NULL is a no-op. */
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

/** 1 if the device is a CPU (libclnn then picks CPU-shaped kernels), else 0. */
int clnn_context_is_cpu(const clnn_context *ctx);

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
} clnn_cache_stats;
clnn_status clnn_context_cache_stats(const clnn_context *ctx, clnn_cache_stats *out);

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

typedef enum clnn_dtype { CLNN_FLOAT32 = 0, CLNN_INT32 = 1 } clnn_dtype;

typedef struct clnn_tensor clnn_tensor;

/** Size in bytes of one element of the type (4 for both types today). */
size_t clnn_dtype_size(clnn_dtype dtype);

/**
 * Create a tensor with its own device memory. ndim in [1, CLNN_MAX_DIMS],
 * every dim > 0. Contents are undefined until written.
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
 * NULL. Statuses: CLNN_ERR_NULL_POINTER, CLNN_ERR_INVALID_VALUE (non-positive
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
 * Statuses: those of clnn_conv2d_desc_check, CLNN_ERR_NULL_POINTER,
 * CLNN_ERR_SHAPE_MISMATCH, CLNN_ERR_CONTEXT_MISMATCH, CLNN_ERR_ALIASING,
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
 * Statuses of all three: those of clnn_conv2d_desc_check,
 * CLNN_ERR_NULL_POINTER, CLNN_ERR_SHAPE_MISMATCH (a tensor does not have the
 * shape above), CLNN_ERR_INVALID_VALUE (not float32, accumulate not 0 or 1),
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
/* (issue 4: deformable convolution v1/v2, forward and backward) */


/* --------------------------------------------------------------------- roi */
/* (issue 5: RoI pool, RoI align, position-sensitive pool and align) */


/* ---------------------------------------------------------------- resample */
/* (issue 6: transposed convolution, pixel shuffle/unshuffle, nearest and bilinear resize) */


/* ------------------------------------------------------------------- optim */
/* (issue 7: Adam, AdamW, SGD, multi-tensor steps, gradient clipping, EMA) */


/* --------------------------------------------------------------------- act */
/* (issue 8: activation ops, forward and backward) */


/* -------------------------------------------------------------------- norm */
/* (issue 8: batch norm) */


/* -------------------------------------------------------------------- pool */
/* (issue 8: max / average / global average pooling) */


/* ------------------------------------------------------------------ linear */
/* (issue 8: fully connected layer) */


/* ----------------------------------------------------------------- eltwise */
/* (issue 8: add, broadcast multiply, scale) */


/* -------------------------------------------------------------------- loss */
/* (issue 8: softmax cross-entropy, InfoNCE / NT-Xent, soft accuracy) */


/* ---------------------------------------------------------- receptive field */
/* (issue 8: clnn_receptive_field) */


#ifdef __cplusplus
}
#endif

#endif /* CLNN_H */
