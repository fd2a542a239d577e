/*
 * tensor.c - tensors: a shape and a type over a byte range of a buffer,
 * plus the argument checks every op runs on them.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static bool dtype_ok(clnn_dtype d) { return clnn_dtype_name(d) != NULL; }

/* Validate type and shape; bytes receives the tensor's size. */
static clnn_status check_shape(clnn_context *ctx, clnn_dtype dtype, int ndim, const int64_t *dims,
                               size_t *bytes) {
  if (!dtype_ok(dtype)) return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "dtype %d is not a clnn_dtype", (int)dtype);
  if (ndim < 1 || ndim > CLNN_MAX_DIMS)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "ndim %d is outside [1, %d]", ndim, CLNN_MAX_DIMS);
  CLNN_CHECK_NULL(ctx, dims);
  for (int i = 0; i < ndim; i++)
    if (dims[i] < 0)
      return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "dims[%d] = %lld is negative", i, (long long)dims[i]);
  int64_t n, b;
  if (!clnn__numel_ok(ndim, dims, &n) || !clnn__mul_ok(n, (int64_t)clnn_dtype_size(dtype), &b) ||
      (uint64_t)b > (uint64_t)SIZE_MAX) {
    char s[256];
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "the size of a tensor of shape %s overflows",
                      clnn__dims_str(s, sizeof s, ndim, dims));
  }
  *bytes = (size_t)b;
  return CLNN_SUCCESS;
}

static clnn_status tensor_new(clnn_context *ctx, clnn_buffer *buf, size_t offset, clnn_dtype dtype,
                              int ndim, const int64_t *dims, size_t bytes, clnn_tensor **out) {
  clnn_tensor *t = calloc(1, sizeof *t);
  if (!t) return clnn__fail(ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  t->ctx = ctx;
  t->buf = buf;
  t->offset = offset;
  t->dtype = dtype;
  t->ndim = ndim;
  memcpy(t->dims, dims, (size_t)ndim * sizeof *dims);
  t->numel = bytes / clnn_dtype_size(dtype);
  *out = t;
  return CLNN_SUCCESS;
}

clnn_status clnn_tensor_create(clnn_context *ctx, clnn_dtype dtype, int ndim, const int64_t *dims,
                               clnn_tensor **out) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(ctx, out);
  *out = NULL;
  size_t bytes;
  CLNN_TRY(check_shape(ctx, dtype, ndim, dims, &bytes));
  clnn_buffer *buf;
  /* An empty tensor (a 0 among the dims, as PyTorch allows) still gets a
   * buffer, of one element: OpenCL has no buffers of 0 bytes. */
  CLNN_TRY(clnn_buffer_create(ctx, bytes ? bytes : clnn_dtype_size(dtype), &buf));
  clnn__enter(ctx, "clnn_tensor_create");
  clnn_status st = tensor_new(ctx, buf, 0, dtype, ndim, dims, bytes, out);
  if (st != CLNN_SUCCESS) clnn_buffer_free(buf);
  return st;
}

/* A view of [offset, offset + bytes) of buf; takes a new reference on buf. */
static clnn_status view_of(clnn_context *ctx, clnn_buffer *buf, size_t offset, clnn_dtype dtype,
                           int ndim, const int64_t *dims, clnn_tensor **out) {
  size_t bytes;
  CLNN_TRY(check_shape(ctx, dtype, ndim, dims, &bytes));
  if (offset % clnn_dtype_size(dtype))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "offset_bytes %zu is not a multiple of the element size",
                      offset);
  if (offset > buf->size || bytes > buf->size - offset)
    return clnn__fail(ctx, CLNN_ERR_BUFFER_TOO_SMALL,
                      "a view of %zu bytes at offset %zu does not fit in %zu bytes", bytes, offset,
                      buf->size);
  CLNN_TRY(tensor_new(ctx, buf, offset, dtype, ndim, dims, bytes, out));
  clnn__buffer_retain(buf);
  return CLNN_SUCCESS;
}

clnn_status clnn_tensor_view(clnn_buffer *buf, size_t offset_bytes, clnn_dtype dtype, int ndim,
                             const int64_t *dims, clnn_tensor **out) {
  CLNN_CHECK_NULL(NULL, buf);
  clnn_context *ctx = buf->ctx;
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(ctx, out);
  *out = NULL;
  return view_of(ctx, buf, offset_bytes, dtype, ndim, dims, out);
}

clnn_status clnn_tensor_wrap(clnn_context *ctx, cl_mem mem, size_t offset_bytes, clnn_dtype dtype,
                             int ndim, const int64_t *dims, clnn_tensor **out) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(ctx, mem);
  CLNN_CHECK_NULL(ctx, out);
  *out = NULL;
  size_t size;
  CLNN_TRY(clnn__foreign_mem_size(ctx, mem, &size));
  clnn_buffer *buf;
  CLNN_TRY(clnn_buffer_wrap(ctx, mem, &buf));
  clnn__enter(ctx, "clnn_tensor_wrap");
  clnn_status st = view_of(ctx, buf, offset_bytes, dtype, ndim, dims, out);
  clnn_buffer_free(buf); /* the view holds its own reference */
  return st;
}

void clnn_tensor_free(clnn_tensor *t) {
  if (!t) return;
  clnn_buffer_free(t->buf);
  free(t);
}

clnn_dtype clnn_tensor_dtype(const clnn_tensor *t) { return t ? t->dtype : CLNN_FLOAT32; }
int clnn_tensor_ndim(const clnn_tensor *t) { return t ? t->ndim : 0; }
int64_t clnn_tensor_dim(const clnn_tensor *t, int i) {
  return (t && i >= 0 && i < t->ndim) ? t->dims[i] : 0;
}
size_t clnn_tensor_numel(const clnn_tensor *t) { return t ? t->numel : 0; }
size_t clnn_tensor_bytes(const clnn_tensor *t) { return t ? t->numel * clnn_dtype_size(t->dtype) : 0; }
cl_mem clnn_tensor_cl_mem(const clnn_tensor *t) { return t ? t->buf->mem : NULL; }
size_t clnn_tensor_offset_bytes(const clnn_tensor *t) { return t ? t->offset : 0; }
clnn_buffer *clnn_tensor_buffer(const clnn_tensor *t) { return t ? t->buf : NULL; }

static clnn_status check_bytes(clnn_context *ctx, const clnn_tensor *t, size_t bytes) {
  size_t want = clnn_tensor_bytes(t);
  if (bytes < want)
    return clnn__fail(ctx, CLNN_ERR_BUFFER_TOO_SMALL, "host buffer of %zu bytes, the tensor has %zu",
                      bytes, want);
  if (bytes != want)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "host buffer of %zu bytes, the tensor has %zu", bytes,
                      want);
  return CLNN_SUCCESS;
}

clnn_status clnn_tensor_write(clnn_tensor *t, const void *src, size_t bytes) {
  CLNN_CHECK_NULL(NULL, t);
  clnn_context *ctx = t->ctx;
  CLNN_ENTER(ctx);
  CLNN_TRY(check_bytes(ctx, t, bytes));
  if (bytes == 0) return CLNN_SUCCESS; /* an empty tensor */
  CLNN_CHECK_NULL(ctx, src);
  CLNN_TRY_CL(ctx, clEnqueueWriteBuffer(ctx->queue, t->buf->mem, CL_TRUE, t->offset, bytes, src, 0,
                                        NULL, NULL));
  return CLNN_SUCCESS;
}

clnn_status clnn_tensor_read(const clnn_tensor *t, void *dst, size_t bytes) {
  CLNN_CHECK_NULL(NULL, t);
  clnn_context *ctx = t->ctx;
  CLNN_ENTER(ctx);
  CLNN_TRY(check_bytes(ctx, t, bytes));
  if (bytes == 0) return CLNN_SUCCESS; /* an empty tensor */
  CLNN_CHECK_NULL(ctx, dst);
  CLNN_TRY_CL(ctx, clEnqueueReadBuffer(ctx->queue, t->buf->mem, CL_TRUE, t->offset, bytes, dst, 0,
                                       NULL, NULL));
  return CLNN_SUCCESS;
}

clnn_status clnn_tensor_fill(clnn_tensor *t, float value) {
  CLNN_CHECK_NULL(NULL, t);
  clnn_context *ctx = t->ctx;
  CLNN_ENTER(ctx);
  if (t->numel == 0) return CLNN_SUCCESS; /* an empty tensor */
  if (t->dtype == CLNN_INT32) {
    cl_int v = (cl_int)value;
    CLNN_TRY_CL(ctx, clEnqueueFillBuffer(ctx->queue, t->buf->mem, &v, sizeof v, t->offset,
                                         clnn_tensor_bytes(t), 0, NULL, NULL));
    return CLNN_SUCCESS;
  }
  if (t->dtype != CLNN_FLOAT32) { /* a half type: its 2-byte pattern */
    uint16_t h;
    CLNN_TRY(clnn_pack_f32(t->dtype, &value, &h, 1));
    CLNN_TRY_CL(ctx, clEnqueueFillBuffer(ctx->queue, t->buf->mem, &h, sizeof h, t->offset,
                                         clnn_tensor_bytes(t), 0, NULL, NULL));
    return CLNN_SUCCESS;
  }
  CLNN_TRY_CL(ctx, clEnqueueFillBuffer(ctx->queue, t->buf->mem, &value, sizeof value, t->offset,
                                       clnn_tensor_bytes(t), 0, NULL, NULL));
  return CLNN_SUCCESS;
}

/* ------------------------------------------------------------ op checks */

clnn_status clnn__check_float_type(clnn_context *ctx, const clnn_tensor *t, const char *name, clnn_dtype *dtype) {
  if (!t) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", name);
  if (!clnn__dtype_is_float(t->dtype))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "argument '%s' has dtype %s, expected a float type", name,
                      clnn_dtype_name(t->dtype));
  *dtype = t->dtype;
  return CLNN_SUCCESS;
}

clnn_status clnn__check_tensor(clnn_context *ctx, const clnn_tensor *t, const char *name,
                               clnn_dtype dtype, int ndim, const int64_t *dims) {
  if (!t) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", name);
  if (t->ctx != ctx)
    return clnn__fail(ctx, CLNN_ERR_CONTEXT_MISMATCH, "argument '%s' belongs to another context", name);
  if (t->dtype != dtype)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "argument '%s' has dtype %s, expected %s", name,
                      clnn_dtype_name(t->dtype), clnn_dtype_name(dtype));
  bool same = t->ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = t->dims[i] == dims[i];
  if (!same) {
    char want[256], got[256];
    return clnn__fail(ctx, CLNN_ERR_SHAPE_MISMATCH, "argument '%s' has shape %s, expected %s", name,
                      clnn__dims_str(got, sizeof got, t->ndim, t->dims),
                      clnn__dims_str(want, sizeof want, ndim, dims));
  }
  return CLNN_SUCCESS;
}

clnn_status clnn__check_no_overlap(clnn_context *ctx, const clnn_tensor *out, const char *out_name,
                                   const clnn_tensor *in, const char *in_name) {
  if (!out || !in || out->buf->mem != in->buf->mem) return CLNN_SUCCESS;
  size_t a0 = out->offset, a1 = out->offset + clnn_tensor_bytes(out);
  size_t b0 = in->offset, b1 = in->offset + clnn_tensor_bytes(in);
  if (a0 < b1 && b0 < a1)
    return clnn__fail(ctx, CLNN_ERR_ALIASING, "output '%s' overlaps input '%s'", out_name, in_name);
  return CLNN_SUCCESS;
}
