/*
 * buffer.c - device buffers: allocation, wrapping a caller's cl_mem,
 * blocking reads and writes, fills. Buffers are reference counted so that
 * tensor views keep their memory alive.
 */
#include "internal.h"

#include <stdlib.h>

static clnn_status buffer_new(clnn_context *ctx, cl_mem mem, size_t size, clnn_buffer **out) {
  clnn_buffer *b = calloc(1, sizeof *b);
  if (!b) return clnn__fail(ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  b->ctx = ctx;
  b->mem = mem;
  b->size = size;
  b->refs = 1;
  ctx->live_buffers++;
  *out = b;
  return CLNN_SUCCESS;
}

clnn_status clnn_buffer_create(clnn_context *ctx, size_t bytes, clnn_buffer **out) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(ctx, out);
  *out = NULL;
  cl_mem mem;
  CLNN_TRY(clnn__alloc(ctx, bytes, &mem));
  clnn_status st = buffer_new(ctx, mem, bytes, out);
  if (st != CLNN_SUCCESS) {
    clnn__release(ctx, mem, bytes);
    return st;
  }
  (*out)->counted = bytes;
  return st;
}

/* Size and context of a caller's cl_mem, checked against ctx. */
static clnn_status foreign_mem_size(clnn_context *ctx, cl_mem mem, size_t *size) {
  cl_context mctx = NULL;
  CLNN_TRY_CL(ctx, clGetMemObjectInfo(mem, CL_MEM_CONTEXT, sizeof mctx, &mctx, NULL));
  if (mctx != ctx->cl)
    return clnn__fail(ctx, CLNN_ERR_CONTEXT_MISMATCH,
                      "the cl_mem belongs to another OpenCL context than the clnn context's");
  CLNN_TRY_CL(ctx, clGetMemObjectInfo(mem, CL_MEM_SIZE, sizeof *size, size, NULL));
  return CLNN_SUCCESS;
}

clnn_status clnn_buffer_wrap(clnn_context *ctx, cl_mem mem, clnn_buffer **out) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(ctx, mem);
  CLNN_CHECK_NULL(ctx, out);
  *out = NULL;
  size_t size;
  CLNN_TRY(foreign_mem_size(ctx, mem, &size));
  CLNN_TRY(buffer_new(ctx, mem, size, out));
  clRetainMemObject(mem);
  return CLNN_SUCCESS;
}

void clnn__buffer_retain(clnn_buffer *b) { b->refs++; }

void clnn_buffer_free(clnn_buffer *buf) {
  if (!buf) return;
  if (--buf->refs > 0) return;
  clnn_context *ctx = buf->ctx;
  clnn__release(ctx, buf->mem, buf->counted);
  free(buf);
  clnn__context_drop_buffer(ctx);
}

size_t clnn_buffer_size(const clnn_buffer *buf) { return buf ? buf->size : 0; }
cl_mem clnn_buffer_cl_mem(const clnn_buffer *buf) { return buf ? buf->mem : NULL; }

static clnn_status check_range(clnn_context *ctx, const clnn_buffer *buf, size_t offset, size_t bytes) {
  if (offset > buf->size || bytes > buf->size - offset)
    return clnn__fail(ctx, CLNN_ERR_BUFFER_TOO_SMALL,
                      "range [%zu, %zu + %zu) does not fit the buffer of %zu bytes", offset, offset,
                      bytes, buf->size);
  return CLNN_SUCCESS;
}

clnn_status clnn_buffer_write(clnn_buffer *buf, size_t offset, const void *src, size_t bytes) {
  CLNN_CHECK_NULL(NULL, buf);
  clnn_context *ctx = buf->ctx;
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(ctx, src);
  CLNN_TRY(check_range(ctx, buf, offset, bytes));
  if (bytes == 0) return CLNN_SUCCESS;
  CLNN_TRY_CL(ctx, clEnqueueWriteBuffer(ctx->queue, buf->mem, CL_TRUE, offset, bytes, src, 0, NULL, NULL));
  return CLNN_SUCCESS;
}

clnn_status clnn_buffer_read(const clnn_buffer *buf, size_t offset, void *dst, size_t bytes) {
  CLNN_CHECK_NULL(NULL, buf);
  clnn_context *ctx = buf->ctx;
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(ctx, dst);
  CLNN_TRY(check_range(ctx, buf, offset, bytes));
  if (bytes == 0) return CLNN_SUCCESS;
  CLNN_TRY_CL(ctx, clEnqueueReadBuffer(ctx->queue, buf->mem, CL_TRUE, offset, bytes, dst, 0, NULL, NULL));
  return CLNN_SUCCESS;
}

clnn_status clnn_buffer_fill(clnn_buffer *buf, size_t offset, size_t bytes, const void *pattern,
                             size_t pattern_size) {
  CLNN_CHECK_NULL(NULL, buf);
  clnn_context *ctx = buf->ctx;
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(ctx, pattern);
  if (pattern_size != 1 && pattern_size != 2 && pattern_size != 4 && pattern_size != 8 &&
      pattern_size != 16)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "pattern_size %zu is not 1, 2, 4, 8 or 16",
                      pattern_size);
  if (offset % pattern_size || bytes % pattern_size)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE,
                      "offset %zu and bytes %zu must be multiples of pattern_size %zu", offset, bytes,
                      pattern_size);
  CLNN_TRY(check_range(ctx, buf, offset, bytes));
  if (bytes == 0) return CLNN_SUCCESS;
  CLNN_TRY_CL(ctx, clEnqueueFillBuffer(ctx->queue, buf->mem, pattern, pattern_size, offset, bytes, 0,
                                       NULL, NULL));
  return CLNN_SUCCESS;
}

clnn_status clnn__foreign_mem_size(clnn_context *ctx, cl_mem mem, size_t *size) {
  return foreign_mem_size(ctx, mem, size);
}
