/*
 * context.c - device choice, context and queue, profiling records and the
 * shared workspace.
 */
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

clnn_context_options clnn_context_options_default(void) {
  clnn_context_options o;
  memset(&o, 0, sizeof o);
  o.platform_index = -1;
  o.device_index = -1;
  o.profiling = -1;
  o.cache_dir = NULL;
  o.workspace_limit = 0;
  o.gemm = CLNN_GEMM_AUTO;
  o.allow_nondeterministic = 0;
  return o;
}

/* ------------------------------------------------------------ device choice */

/*
 * Platform and device discovery, and the device queries of a new context,
 * run one thread at a time. Distinct contexts are independent, but PoCL 3.1
 * crashes when two threads create their first context at once (a race in
 * its own device discovery that a plain OpenCL program shows too), so the
 * library serialises the part of context creation that reaches it.
 */
static pthread_mutex_t discovery_lock = PTHREAD_MUTEX_INITIALIZER;

/* Parse a non-negative decimal index: -1 when s is not all digits (then it
 * is a name), INT_MAX when it is one too large to be any device's. */
static int parse_index(const char *s) {
  if (!s || !*s) return -1;
  for (const char *p = s; *p; p++)
    if (*p < '0' || *p > '9') return -1;
  errno = 0;
  long v = strtol(s, NULL, 10);
  if (errno || v > 1 << 20) return INT_MAX;
  return (int)v;
}

typedef struct device_list {
  cl_platform_id platforms[16];
  cl_uint n_platforms;
  cl_device_id devices[16][32];
  cl_uint n_devices[16];
} device_list;

static clnn_status list_devices(device_list *dl) {
  memset(dl, 0, sizeof *dl);
  cl_int err = clGetPlatformIDs(16, dl->platforms, &dl->n_platforms);
  if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && dl->n_platforms == 0))
    return clnn__fail(NULL, CLNN_ERR_NO_DEVICE,
                      "no OpenCL platform found (is an ICD such as pocl-opencl-icd installed?)");
  if (err != CL_SUCCESS) return clnn__cl_fail(NULL, err, "clGetPlatformIDs");
  if (dl->n_platforms > 16) dl->n_platforms = 16;
  for (cl_uint p = 0; p < dl->n_platforms; p++) {
    err = clGetDeviceIDs(dl->platforms[p], CL_DEVICE_TYPE_ALL, 32, dl->devices[p], &dl->n_devices[p]);
    if (err != CL_SUCCESS) dl->n_devices[p] = 0; /* CL_DEVICE_NOT_FOUND: a platform without devices */
    if (dl->n_devices[p] > 32) dl->n_devices[p] = 32;
  }
  return CLNN_SUCCESS;
}

static bool device_matches(cl_device_id d, const char *name_part) {
  char name[256] = "";
  clGetDeviceInfo(d, CL_DEVICE_NAME, sizeof name, name, NULL);
  return strstr(name, name_part) != NULL;
}

static bool platform_matches(cl_platform_id p, const char *name_part) {
  char name[256] = "";
  clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof name, name, NULL);
  return strstr(name, name_part) != NULL;
}

/*
 * Resolve the device: options first, then CLNN_PLATFORM / CLNN_DEVICE (an
 * index or a substring of the name), then the first GPU, then the first device.
 */
/* An index for a message: the environment's text when it came from there
 * (it may be too large for an int), else the number. */
static const char *index_text(int index, const char *env_text) {
  static _Thread_local char buf[16];
  if (env_text) return env_text;
  snprintf(buf, sizeof buf, "%d", index);
  return buf;
}

static clnn_status choose_device_locked(const clnn_context_options *o, cl_platform_id *pp,
                                        cl_device_id *pd) {
  device_list dl;
  CLNN_TRY(list_devices(&dl));
  const char *env_p = getenv("CLNN_PLATFORM");
  const char *env_d = getenv("CLNN_DEVICE");
  int plat = o->platform_index, dev = o->device_index;
  const char *plat_name = NULL, *dev_name = NULL;
  if (plat < 0 && env_p && *env_p) {
    plat = parse_index(env_p);
    if (plat < 0) plat_name = env_p;
  }
  if (dev < 0 && env_d && *env_d) {
    dev = parse_index(env_d);
    if (dev < 0) dev_name = env_d;
  }
  if (plat_name) {
    for (cl_uint p = 0; p < dl.n_platforms && plat < 0; p++)
      if (platform_matches(dl.platforms[p], plat_name)) plat = (int)p;
    if (plat < 0)
      return clnn__fail(NULL, CLNN_ERR_NO_DEVICE, "no OpenCL platform name contains '%s' (CLNN_PLATFORM)",
                        plat_name);
  }
  if (plat >= (int)dl.n_platforms)
    return clnn__fail(NULL, CLNN_ERR_NO_DEVICE, "platform index %s out of range (%u platforms)",
                      index_text(plat, o->platform_index < 0 ? env_p : NULL), dl.n_platforms);
  /* Walk the devices in clnn-info order, restricted to one platform if chosen. */
  int counter = 0;
  cl_platform_id first_gpu_p = NULL, first_p = NULL;
  cl_device_id first_gpu = NULL, first = NULL;
  for (cl_uint p = 0; p < dl.n_platforms; p++) {
    if (plat >= 0 && (int)p != plat) continue;
    for (cl_uint d = 0; d < dl.n_devices[p]; d++, counter++) {
      cl_device_id id = dl.devices[p][d];
      if ((dev >= 0 && counter == dev) || (dev_name && device_matches(id, dev_name))) {
        *pp = dl.platforms[p];
        *pd = id;
        return CLNN_SUCCESS;
      }
      cl_device_type type = 0;
      clGetDeviceInfo(id, CL_DEVICE_TYPE, sizeof type, &type, NULL);
      if (!first) first = id, first_p = dl.platforms[p];
      if (!first_gpu && (type & CL_DEVICE_TYPE_GPU)) first_gpu = id, first_gpu_p = dl.platforms[p];
    }
  }
  if (dev >= 0)
    return clnn__fail(NULL, CLNN_ERR_NO_DEVICE, "device index %s out of range (%d devices)",
                      index_text(dev, o->device_index < 0 ? env_d : NULL), counter);
  if (dev_name)
    return clnn__fail(NULL, CLNN_ERR_NO_DEVICE, "no OpenCL device name contains '%s' (CLNN_DEVICE)", dev_name);
  if (first_gpu) {
    *pp = first_gpu_p;
    *pd = first_gpu;
  } else if (first) {
    *pp = first_p;
    *pd = first;
  } else {
    return clnn__fail(NULL, CLNN_ERR_NO_DEVICE, "no OpenCL device found on %u platform(s)", dl.n_platforms);
  }
  return CLNN_SUCCESS;
}

/* ----------------------------------------------------------- construction */

/* The disk cache's folder: options, else CLNN_CACHE_DIR ("" disables it),
 * else $XDG_CACHE_HOME/clnn, else ~/.cache/clnn. */
static char *default_cache_dir(const clnn_env *e) {
  char buf[4096];
  if (e->cache_dir_set) {
    if (!e->cache_dir || !*e->cache_dir) return NULL; /* explicitly disabled */
    snprintf(buf, sizeof buf, "%s", e->cache_dir);
  } else if (getenv("XDG_CACHE_HOME") && *getenv("XDG_CACHE_HOME")) {
    snprintf(buf, sizeof buf, "%s/clnn", getenv("XDG_CACHE_HOME"));
  } else if (getenv("HOME") && *getenv("HOME")) {
    snprintf(buf, sizeof buf, "%s/.cache/clnn", getenv("HOME"));
  } else {
    return NULL;
  }
  return strdup(buf);
}

/* Allocate the struct and apply the options that do not depend on the device. */
static clnn_status context_alloc(const clnn_context_options *o, clnn_context **out) {
  if (o->gemm < CLNN_GEMM_AUTO || o->gemm > CLNN_GEMM_CLBLAST)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "options->gemm = %d is not a clnn_gemm_engine",
                      (int)o->gemm);
  clnn_env env;
  CLNN_TRY(clnn__env_read(&env));
  clnn_context *ctx = calloc(1, sizeof *ctx);
  char *msg = malloc(CLNN_ERRMSG_MAX);
  if (!ctx || !msg) {
    free(ctx);
    free(msg);
    clnn__env_free(&env);
    return clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  }
  ctx->errmsg = msg;
  msg[0] = '\0';
  ctx->env = env;
  ctx->gemm = o->gemm != CLNN_GEMM_AUTO ? o->gemm : env.gemm;
  ctx->allow_nondeterministic = o->allow_nondeterministic != 0;
  ctx->workspace_limit = o->workspace_limit ? o->workspace_limit : (size_t)256 << 20;
  ctx->profiling = o->profiling > 0 || (o->profiling < 0 && env.profile);
  if (o->cache_dir) ctx->cache_dir = *o->cache_dir ? strdup(o->cache_dir) : NULL;
  else ctx->cache_dir = default_cache_dir(&env);
  *out = ctx;
  return CLNN_SUCCESS;
}

/* Read the device facts the library decides on, and its tuning, once. */
static clnn_status query_device(clnn_context *ctx) {
  clnn__device_caps_query(ctx->platform, ctx->device, ctx->env.device_class, &ctx->caps);
  ctx->is_cpu = ctx->caps.plan_class == CLNN_DEVICE_CLASS_CPU;
  ctx->max_alloc = ctx->caps.max_mem_alloc_size;
  ctx->global_mem = ctx->caps.global_mem_size;
  return clnn__tune_load(&ctx->caps, ctx->env.tune_file, &ctx->tune);
}

/* clnn_context_create with discovery_lock held. */
static clnn_status create_locked(const clnn_context_options *o, clnn_context **out) {
  cl_platform_id platform;
  cl_device_id device;
  CLNN_TRY(choose_device_locked(o, &platform, &device));
  clnn_context *ctx = NULL;
  CLNN_TRY(context_alloc(o, &ctx));
  ctx->platform = platform;
  ctx->device = device;
  cl_int err;
  cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)platform, 0};
  ctx->cl = clCreateContext(props, 1, &device, NULL, NULL, &err);
  if (err != CL_SUCCESS) {
    clnn_context_free(ctx);
    return clnn__cl_fail(NULL, err, "clCreateContext");
  }
  cl_command_queue_properties qp = ctx->profiling ? CL_QUEUE_PROFILING_ENABLE : 0;
  ctx->queue = clCreateCommandQueue(ctx->cl, device, qp, &err);
  if (err != CL_SUCCESS) {
    clnn_context_free(ctx);
    return clnn__cl_fail(NULL, err, "clCreateCommandQueue");
  }
  clnn_status st = query_device(ctx);
  if (st != CLNN_SUCCESS) {
    clnn_context_free(ctx);
    return st;
  }
  *out = ctx;
  return CLNN_SUCCESS;
}

clnn_status clnn_context_create(const clnn_context_options *options, clnn_context **out) {
  CLNN_ENTER(NULL);
  CLNN_CHECK_NULL(NULL, out);
  *out = NULL;
  clnn_context_options o = options ? *options : clnn_context_options_default();
  pthread_mutex_lock(&discovery_lock);
  clnn_status st = create_locked(&o, out);
  pthread_mutex_unlock(&discovery_lock);
  return st;
}

clnn_status clnn_context_wrap(cl_context cl_ctx, cl_command_queue queue,
                              const clnn_context_options *options, clnn_context **out) {
  CLNN_ENTER(NULL);
  CLNN_CHECK_NULL(NULL, out);
  *out = NULL;
  CLNN_CHECK_NULL(NULL, cl_ctx);
  CLNN_CHECK_NULL(NULL, queue);
  cl_context qctx = NULL;
  cl_device_id dev = NULL;
  cl_command_queue_properties qp = 0;
  CLNN_TRY_CL(NULL, clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof qctx, &qctx, NULL));
  CLNN_TRY_CL(NULL, clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL));
  CLNN_TRY_CL(NULL, clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof qp, &qp, NULL));
  if (qctx != cl_ctx)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "the queue does not belong to the given cl_context");
  if (qp & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE,
                      "the queue is out-of-order; libclnn needs an in-order queue");
  clnn_context_options o = options ? *options : clnn_context_options_default();
  /* Profiling needs the queue's own property: follow what the caller made. */
  o.profiling = (qp & CL_QUEUE_PROFILING_ENABLE) ? 1 : 0;
  clnn_context *ctx = NULL;
  CLNN_TRY(context_alloc(&o, &ctx));
  ctx->device = dev;
  clGetDeviceInfo(dev, CL_DEVICE_PLATFORM, sizeof ctx->platform, &ctx->platform, NULL);
  clRetainContext(cl_ctx);
  clRetainCommandQueue(queue);
  ctx->cl = cl_ctx;
  ctx->queue = queue;
  pthread_mutex_lock(&discovery_lock);
  clnn_status st = query_device(ctx);
  pthread_mutex_unlock(&discovery_lock);
  if (st != CLNN_SUCCESS) {
    clnn_context_free(ctx);
    return st;
  }
  *out = ctx;
  return CLNN_SUCCESS;
}

static void profile_release(clnn_context *ctx) {
  for (size_t i = 0; i < ctx->n_prof; i++) clReleaseEvent(ctx->prof[i].event);
  ctx->n_prof = 0;
}

/* Everything but what a live buffer needs (the queue, the OpenCL context,
 * the message buffer); may run twice. */
static void release_resources(clnn_context *ctx) {
  if (ctx->queue) clFinish(ctx->queue);
  if (ctx->queue) clnn__cache_save_all(ctx);
  clnn__programs_release(ctx);
  profile_release(ctx);
  free(ctx->prof);
  ctx->prof = NULL;
  ctx->cap_prof = 0;
  clnn__release(ctx, ctx->workspace, ctx->workspace_size);
  clnn__release(ctx, ctx->outer_workspace, ctx->outer_workspace_size);
  clnn__release(ctx, ctx->stage_workspace, ctx->stage_workspace_size);
  ctx->workspace = ctx->outer_workspace = ctx->stage_workspace = NULL;
  ctx->workspace_size = ctx->outer_workspace_size = ctx->stage_workspace_size = 0;
}

static void destroy(clnn_context *ctx) {
  release_resources(ctx);
  if (ctx->queue) clReleaseCommandQueue(ctx->queue);
  if (ctx->cl) clReleaseContext(ctx->cl);
  free(ctx->cache_dir);
  clnn__env_free(&ctx->env);
  free(ctx->errmsg);
  free(ctx);
}

/* Tensors and buffers may outlive the call: their reads, writes and frees
 * still work (they keep the queue and the OpenCL context), and the last one
 * freed frees the context. */
void clnn_context_free(clnn_context *ctx) {
  if (!ctx) return;
#ifdef CLNN_FAULT_INJECTION
  clnn__fault_teardown(1);
#endif
  if (ctx->live_buffers > 0) {
    release_resources(ctx);
    ctx->released = true;
  } else {
    destroy(ctx);
  }
#ifdef CLNN_FAULT_INJECTION
  clnn__fault_teardown(0);
#endif
}

void clnn__context_drop_buffer(clnn_context *ctx) {
  if (--ctx->live_buffers == 0 && ctx->released) destroy(ctx);
}

clnn_status clnn_context_finish(clnn_context *ctx) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY_CL(ctx, clFinish(ctx->queue));
  return CLNN_SUCCESS;
}

cl_context clnn_context_cl_context(const clnn_context *ctx) { return ctx ? ctx->cl : NULL; }
cl_command_queue clnn_context_cl_queue(const clnn_context *ctx) { return ctx ? ctx->queue : NULL; }
cl_device_id clnn_context_cl_device(const clnn_context *ctx) { return ctx ? ctx->device : NULL; }
const char *clnn_context_device_name(const clnn_context *ctx) { return ctx ? ctx->caps.name : ""; }

const char *clnn_context_last_variant(const clnn_context *ctx, size_t *wg) {
  if (wg) *wg = ctx ? ctx->last_wg : 0;
  return ctx ? ctx->last_variant : "";
}
int clnn_context_is_cpu(const clnn_context *ctx) { return ctx && ctx->is_cpu; }

clnn_status clnn_context_save_cache(clnn_context *ctx) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_TRY_CL(ctx, clFinish(ctx->queue));
  return clnn__cache_save_all(ctx);
}

clnn_status clnn_context_cache_stats(const clnn_context *ctx, clnn_cache_stats *out) {
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(NULL, out);
  *out = ctx->stats;
  return CLNN_SUCCESS;
}

/* -------------------------------------------------------------- profiling */

/* Cap on kept records, so a long run with profiling on cannot grow without end. */
#define CLNN_PROFILE_MAX ((size_t)1 << 20)

clnn_status clnn_profile_get(clnn_context *ctx, clnn_profile_entry *entries, size_t max,
                             size_t *count) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(ctx, count);
  if (!ctx->profiling)
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED,
                      "profiling is off (set CLNN_PROFILE=1 or options.profiling = 1)");
  CLNN_TRY_CL(ctx, clFinish(ctx->queue));
  *count = ctx->n_prof;
  for (size_t i = 0; entries && i < ctx->n_prof && i < max; i++) {
    cl_ulong t0 = 0, t1 = 0;
    CLNN_TRY_CL(ctx, clGetEventProfilingInfo(ctx->prof[i].event, CL_PROFILING_COMMAND_START,
                                             sizeof t0, &t0, NULL));
    CLNN_TRY_CL(ctx, clGetEventProfilingInfo(ctx->prof[i].event, CL_PROFILING_COMMAND_END,
                                             sizeof t1, &t1, NULL));
    memcpy(entries[i].kernel, ctx->prof[i].kernel, sizeof entries[i].kernel);
    memcpy(entries[i].op, ctx->prof[i].op, sizeof entries[i].op);
    entries[i].ms = (double)(t1 - t0) * 1e-6;
  }
  return CLNN_SUCCESS;
}

clnn_status clnn_profile_span(clnn_context *ctx, double *ms) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(ctx, ms);
  if (!ctx->profiling)
    return clnn__fail(ctx, CLNN_ERR_UNSUPPORTED, "profiling is off (set CLNN_PROFILE=1 or options.profiling = 1)");
  CLNN_TRY_CL(ctx, clFinish(ctx->queue));
  cl_ulong first = 0, last = 0;
  for (size_t i = 0; i < ctx->n_prof; i++) {
    cl_ulong t0 = 0, t1 = 0;
    CLNN_TRY_CL(ctx, clGetEventProfilingInfo(ctx->prof[i].event, CL_PROFILING_COMMAND_START, sizeof t0, &t0, NULL));
    CLNN_TRY_CL(ctx, clGetEventProfilingInfo(ctx->prof[i].event, CL_PROFILING_COMMAND_END, sizeof t1, &t1, NULL));
    if (i == 0 || t0 < first) first = t0;
    if (i == 0 || t1 > last) last = t1;
  }
  *ms = ctx->n_prof ? (double)(last - first) * 1e-6 : 0.0;
  return CLNN_SUCCESS;
}

clnn_status clnn_profile_reset(clnn_context *ctx) {
  CLNN_ENTER(ctx);
  CLNN_CHECK_NULL(NULL, ctx);
  profile_release(ctx);
  return CLNN_SUCCESS;
}

void clnn__profile_record(clnn_context *ctx, cl_event ev, const char *kernel, const char *op) {
  if (ctx->n_prof >= CLNN_PROFILE_MAX) {
    clReleaseEvent(ev);
    return;
  }
  if (ctx->n_prof == ctx->cap_prof) {
    size_t cap = ctx->cap_prof ? ctx->cap_prof * 2 : 256;
    clnn_profile_record *p = realloc(ctx->prof, cap * sizeof *p);
    if (!p) {
      clReleaseEvent(ev);
      return; /* profiling is best effort; the launch itself succeeded */
    }
    ctx->prof = p;
    ctx->cap_prof = cap;
  }
  clnn_profile_record *r = &ctx->prof[ctx->n_prof++];
  r->event = ev;
  snprintf(r->kernel, sizeof r->kernel, "%s", kernel);
  snprintf(r->op, sizeof r->op, "%s", op ? op : "");
}

/* ---------------------------------------------------------------- memory */

clnn_status clnn__alloc(clnn_context *ctx, size_t bytes, cl_mem *out) {
  if (bytes == 0) return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "cannot allocate 0 bytes");
  if ((cl_ulong)bytes > ctx->max_alloc)
    return clnn__fail(ctx, CLNN_ERR_DEVICE_OUT_OF_MEMORY,
                      "allocation of %zu bytes exceeds the device's maximum allocation (%llu bytes)",
                      bytes, (unsigned long long)ctx->max_alloc);
  cl_int err;
  cl_mem m = clCreateBuffer(ctx->cl, CL_MEM_READ_WRITE, bytes, NULL, &err);
  if (err != CL_SUCCESS) return clnn__cl_fail(ctx, err, "clCreateBuffer");
  *out = m;
  ctx->mem_current += bytes;
  if (ctx->mem_current > ctx->mem_peak) ctx->mem_peak = ctx->mem_current;
  return CLNN_SUCCESS;
}

void clnn__release(clnn_context *ctx, cl_mem mem, size_t bytes) {
  if (!mem) return;
  clReleaseMemObject(mem);
  ctx->mem_current -= bytes <= ctx->mem_current ? bytes : ctx->mem_current;
}

clnn_status clnn_context_memory(const clnn_context *ctx, clnn_memory_stats *out) {
  if (!ctx || !out) return CLNN_ERR_NULL_POINTER;
  out->current_bytes = ctx->mem_current;
  out->peak_bytes = ctx->mem_peak;
  return CLNN_SUCCESS;
}

void clnn_context_reset_peak(clnn_context *ctx) {
  if (ctx) ctx->mem_peak = ctx->mem_current;
}

/* Grow one of the context's scratch buffers to at least bytes, in 1 MiB
 * steps; releasing the old buffer is safe while queued commands still use
 * it: OpenCL frees it once they complete. */
static clnn_status grow_scratch(clnn_context *ctx, cl_mem *mem, size_t *size, size_t bytes, cl_mem *out) {
  if (bytes == 0) bytes = 1;
  if (*mem && *size >= bytes) {
    *out = *mem;
    return CLNN_SUCCESS;
  }
  size_t want = (bytes + ((size_t)1 << 20) - 1) & ~(((size_t)1 << 20) - 1);
  cl_mem m;
  CLNN_TRY(clnn__alloc(ctx, want, &m));
  clnn__release(ctx, *mem, *size);
  *mem = m;
  *size = want;
  *out = m;
  return CLNN_SUCCESS;
}

clnn_status clnn__workspace(clnn_context *ctx, size_t bytes, cl_mem *out) {
  return grow_scratch(ctx, &ctx->workspace, &ctx->workspace_size, bytes, out);
}

clnn_status clnn__outer_workspace(clnn_context *ctx, size_t bytes, cl_mem *out) {
  return grow_scratch(ctx, &ctx->outer_workspace, &ctx->outer_workspace_size, bytes, out);
}

clnn_status clnn__stage_workspace(clnn_context *ctx, size_t bytes, cl_mem *out) {
  return grow_scratch(ctx, &ctx->stage_workspace, &ctx->stage_workspace_size, bytes, out);
}

clnn_status clnn__fill_f32(clnn_context *ctx, cl_mem mem, size_t off, size_t count, float value) {
  if (count == 0 || ctx->plan_only) return CLNN_SUCCESS;
  CLNN_TRY_CL(ctx, clEnqueueFillBuffer(ctx->queue, mem, &value, sizeof value, off * sizeof(float),
                                       count * sizeof(float), 0, NULL, NULL));
  return CLNN_SUCCESS;
}

clnn_status clnn__zero_tensor(clnn_context *ctx, clnn_tensor *t) {
  if (!t) return CLNN_SUCCESS;
  if (clnn_dtype_size(t->dtype) == sizeof(float))
    return clnn__fill_f32(ctx, t->buf->mem, t->offset / sizeof(float), t->numel, 0.0f);
  /* a half type: +0 is the all-zero 2-byte pattern in both */
  if (t->numel == 0 || ctx->plan_only) return CLNN_SUCCESS;
  const uint16_t zero = 0;
  CLNN_TRY_CL(ctx, clEnqueueFillBuffer(ctx->queue, t->buf->mem, &zero, sizeof zero, t->offset, clnn_tensor_bytes(t), 0,
                                       NULL, NULL));
  return CLNN_SUCCESS;
}
