/*
 * status.c - status texts, error recording (per context, or per thread when
 * there is no context), OpenCL error names, and small shared helpers.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLNN_STR_(x) #x
#define CLNN_XSTR_(x) CLNN_STR_(x)

const char *clnn_version(void) {
  return CLNN_XSTR_(CLNN_VERSION_MAJOR) "." CLNN_XSTR_(CLNN_VERSION_MINOR) "." CLNN_XSTR_(
      CLNN_VERSION_PATCH);
}

#define CLNN_STATUS_TEXT_(name, text) text,
static const char *const status_texts[] = {CLNN_STATUS_LIST(CLNN_STATUS_TEXT_)};
#define CLNN_STATUS_NAME_(name, text) #name,
static const char *const status_names[] = {CLNN_STATUS_LIST(CLNN_STATUS_NAME_)};

const char *clnn_status_str(clnn_status status) {
  if ((int)status < 0 || status >= CLNN_STATUS_COUNT_) return "unknown status";
  return status_texts[status];
}

const char *clnn_status_name(clnn_status status) {
  if ((int)status < 0 || status >= CLNN_STATUS_COUNT_) return "CLNN_STATUS_UNKNOWN";
  return status_names[status];
}

/* Failures with no context to hold them (context creation, NULL ctx). */
static _Thread_local char thread_errmsg[4096];
static _Thread_local const char *thread_api;

void clnn__enter(clnn_context *ctx, const char *fn) {
  if (ctx) {
    ctx->api = fn;
    ctx->errmsg[0] = '\0';
  } else {
    thread_api = fn;
    thread_errmsg[0] = '\0';
  }
}

static void record(clnn_context *ctx, const char *fmt, va_list ap) {
  char *buf = ctx ? ctx->errmsg : thread_errmsg;
  size_t cap = ctx ? CLNN_ERRMSG_MAX : sizeof thread_errmsg;
  const char *api = ctx ? ctx->api : thread_api;
  int n = snprintf(buf, cap, "%s: ", api ? api : "clnn");
  if (n < 0 || (size_t)n >= cap) n = 0;
  vsnprintf(buf + n, cap - (size_t)n, fmt, ap);
}

clnn_status clnn__fail(clnn_context *ctx, clnn_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  record(ctx, fmt, ap);
  va_end(ap);
  return st;
}

clnn_status clnn__fail_null(clnn_context *ctx, const char *fn, const char *arg) {
  if (!ctx) clnn__enter(NULL, fn); /* else the message would carry the last call's name */
  return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", arg);
}

const char *clnn_context_errmsg(const clnn_context *ctx) {
  return ctx ? ctx->errmsg : thread_errmsg;
}

const char *clnn__cl_error_name(cl_int err) {
  switch (err) {
#define E(x) \
  case x:    \
    return #x;
    E(CL_SUCCESS) E(CL_DEVICE_NOT_FOUND) E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE)
    E(CL_MEM_OBJECT_ALLOCATION_FAILURE) E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY)
    E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(CL_IMAGE_FORMAT_MISMATCH)
    E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
    E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE)
    E(CL_DEVICE_PARTITION_FAILED) E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) E(CL_INVALID_VALUE)
    E(CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
    E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
    E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) E(CL_INVALID_IMAGE_SIZE)
    E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS) E(CL_INVALID_PROGRAM)
    E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME) E(CL_INVALID_KERNEL_DEFINITION)
    E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX) E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE)
    E(CL_INVALID_KERNEL_ARGS) E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE)
    E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET) E(CL_INVALID_EVENT_WAIT_LIST)
    E(CL_INVALID_EVENT) E(CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT) E(CL_INVALID_BUFFER_SIZE)
    E(CL_INVALID_MIP_LEVEL) E(CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
    E(CL_INVALID_IMAGE_DESCRIPTOR) E(CL_INVALID_COMPILER_OPTIONS) E(CL_INVALID_LINKER_OPTIONS)
    E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
    case -1001:
      return "CL_PLATFORM_NOT_FOUND_KHR";
    default:
      return "unknown OpenCL error";
  }
}

clnn_status clnn__cl_fail(clnn_context *ctx, cl_int err, const char *what) {
  clnn_status st = CLNN_ERR_OPENCL;
  if (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_RESOURCES) {
    st = CLNN_ERR_DEVICE_OUT_OF_MEMORY;
  } else if (err == CL_OUT_OF_HOST_MEMORY) {
    st = CLNN_ERR_HOST_OUT_OF_MEMORY;
  } else if (err == CL_INVALID_BUFFER_SIZE) {
    st = CLNN_ERR_INVALID_VALUE;
  }
  return clnn__fail(ctx, st, "%s failed: %s (%d)", what, clnn__cl_error_name(err), (int)err);
}

bool clnn__mul_ok(int64_t a, int64_t b, int64_t *out) {
  if (a < 0 || b < 0) return false;
  if (a != 0 && b > INT64_MAX / a) return false;
  *out = a * b;
  return true;
}

bool clnn__numel_ok(int ndim, const int64_t *dims, int64_t *out) {
  /* The product of the nonzero dims must fit too, so that an empty tensor's
   * other sizes stay bounded (code multiplies them without the 0). */
  int64_t n = 1;
  bool empty = false;
  for (int i = 0; i < ndim; i++) {
    if (dims[i] < 0) return false;
    if (dims[i] == 0) empty = true;
    else if (!clnn__mul_ok(n, dims[i], &n)) return false;
  }
  if (empty && n > CLNN_INDEX_MAX) return false;
  *out = empty ? 0 : n;
  return true;
}

clnn_status clnn__check_dim(clnn_context *ctx, const char *name, int64_t v, int64_t lo) {
  if (v < lo || v > CLNN_DIM_MAX)
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "desc->%s = %lld is outside [%lld, 2^30]", name, (long long)v,
                      (long long)lo);
  return CLNN_SUCCESS;
}

clnn_status clnn__check_numel(clnn_context *ctx, const char *what, int ndim, const int64_t *dims) {
  int64_t n;
  if (!clnn__numel_ok(ndim, dims, &n) || n > CLNN_INDEX_MAX)
    return clnn__fail(ctx, CLNN_ERR_SIZE_OVERFLOW, "%s has over 2^31 - 1 elements", what);
  return CLNN_SUCCESS;
}

const char *clnn__dims_str(char *buf, size_t n, int ndim, const int64_t *dims) {
  size_t used = 0;
  buf[0] = '\0';
  used += (size_t)snprintf(buf + used, n - used, "[");
  for (int i = 0; i < ndim && used < n; i++) {
    used += (size_t)snprintf(buf + used, n - used, i ? ",%lld" : "%lld", (long long)dims[i]);
  }
  if (used < n) snprintf(buf + used, n - used, "]");
  return buf;
}

bool clnn__env_flag(const char *name) {
  const char *v = getenv(name);
  if (!v) return false;
  return !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "true");
}

static const char *const act_names[CLNN_ACT_COUNT_] = {
    "identity", "relu", "leaky_relu", "elu", "sigmoid", "tanh", "gelu", "gelu_tanh", "silu",
    "hardswish", "relu6"};

const char *clnn_activation_name(clnn_activation act) {
  if ((int)act < 0 || act >= CLNN_ACT_COUNT_) return NULL;
  return act_names[act];
}

/* -DACT passes a clnn_activation's value: the kernels' codes must be the same. */
_Static_assert(CLNN_ACT_IDENTITY == CLNN_ACT_CODE_IDENTITY && CLNN_ACT_RELU == CLNN_ACT_CODE_RELU &&
                   CLNN_ACT_LEAKY_RELU == CLNN_ACT_CODE_LEAKY_RELU && CLNN_ACT_ELU == CLNN_ACT_CODE_ELU &&
                   CLNN_ACT_SIGMOID == CLNN_ACT_CODE_SIGMOID && CLNN_ACT_TANH == CLNN_ACT_CODE_TANH &&
                   CLNN_ACT_GELU == CLNN_ACT_CODE_GELU && CLNN_ACT_GELU_TANH == CLNN_ACT_CODE_GELU_TANH &&
                   CLNN_ACT_SILU == CLNN_ACT_CODE_SILU && CLNN_ACT_HARDSWISH == CLNN_ACT_CODE_HARDSWISH &&
                   CLNN_ACT_RELU6 == CLNN_ACT_CODE_RELU6 && CLNN_ACT_COUNT_ == 11,
               "kernels/shared.h's activation codes differ from clnn_activation");

void clnn__act_options(char *buf, size_t n, clnn_activation act, float alpha) {
  /* %a keeps alpha exact; OpenCL C accepts hexadecimal float literals. */
  snprintf(buf, n, " -DACT=%d -DACT_ALPHA=%af", (int)act, (double)alpha);
}
