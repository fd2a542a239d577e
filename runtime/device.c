/*
 * device.c - the device model and the environment, both read once when a
 * context is made: every kernel choice afterwards reads ctx->caps and
 * ctx->env, never clGetDeviceInfo or getenv.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Vendor queries for the SIMD width (values from the vendors' extension headers). */
#define CLNN_DEVICE_WARP_SIZE_NV 0x4003        /* cl_nv_device_attribute_query */
#define CLNN_DEVICE_WAVEFRONT_WIDTH_AMD 0x4043 /* cl_amd_device_attribute_query */
#define CLNN_DEVICE_SUB_GROUP_SIZES_INTEL 0x4108 /* cl_intel_required_subgroup_size */

static void info_str(cl_device_id d, cl_device_info what, char *buf, size_t n) {
  buf[0] = '\0';
  if (clGetDeviceInfo(d, what, n, buf, NULL) != CL_SUCCESS) buf[0] = '\0';
  buf[n - 1] = '\0';
}

static cl_uint info_uint(cl_device_id d, cl_device_info what) {
  cl_uint v = 0;
  return clGetDeviceInfo(d, what, sizeof v, &v, NULL) == CL_SUCCESS ? v : 0;
}

static cl_ulong info_ulong(cl_device_id d, cl_device_info what) {
  cl_ulong v = 0;
  return clGetDeviceInfo(d, what, sizeof v, &v, NULL) == CL_SUCCESS ? v : 0;
}

static bool has_extension(const char *list, const char *ext) {
  size_t n = strlen(ext);
  for (const char *p = list; (p = strstr(p, ext)) != NULL; p += n)
    if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0')) return true;
  return false;
}

/* The warp, wavefront or largest sub-group width, where the driver tells it. */
static unsigned simd_width(cl_device_id d, const char *ext) {
  cl_uint v = 0;
  if (has_extension(ext, "cl_nv_device_attribute_query") &&
      clGetDeviceInfo(d, CLNN_DEVICE_WARP_SIZE_NV, sizeof v, &v, NULL) == CL_SUCCESS && v)
    return v;
  if (has_extension(ext, "cl_amd_device_attribute_query") &&
      clGetDeviceInfo(d, CLNN_DEVICE_WAVEFRONT_WIDTH_AMD, sizeof v, &v, NULL) == CL_SUCCESS && v)
    return v;
  if (has_extension(ext, "cl_intel_required_subgroup_size")) {
    size_t sizes[8] = {0}, bytes = 0;
    if (clGetDeviceInfo(d, CLNN_DEVICE_SUB_GROUP_SIZES_INTEL, sizeof sizes, sizes, &bytes) == CL_SUCCESS) {
      size_t best = 0;
      for (size_t i = 0; i < bytes / sizeof sizes[0] && i < 8; i++)
        if (sizes[i] > best) best = sizes[i];
      return (unsigned)best;
    }
  }
  return 0;
}

void clnn__device_caps_query(cl_platform_id platform, cl_device_id d, int class_override,
                             clnn_device_caps *c) {
  memset(c, 0, sizeof *c);
  info_str(d, CL_DEVICE_NAME, c->name, sizeof c->name);
  info_str(d, CL_DEVICE_VENDOR, c->vendor, sizeof c->vendor);
  info_str(d, CL_DRIVER_VERSION, c->driver_version, sizeof c->driver_version);
  info_str(d, CL_DEVICE_VERSION, c->device_version, sizeof c->device_version);
  info_str(d, CL_DEVICE_OPENCL_C_VERSION, c->opencl_c_version, sizeof c->opencl_c_version);
  if (clGetPlatformInfo(platform, CL_PLATFORM_VERSION, sizeof c->platform_version, c->platform_version, NULL) !=
      CL_SUCCESS)
    c->platform_version[0] = '\0';
  c->platform_version[sizeof c->platform_version - 1] = '\0';
  cl_device_type type = 0;
  clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
  c->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
  c->is_gpu = (type & CL_DEVICE_TYPE_GPU) != 0;
  c->is_accelerator = (type & CL_DEVICE_TYPE_ACCELERATOR) != 0;
  c->plan_class = c->is_cpu && !c->is_gpu && !c->is_accelerator ? CLNN_DEVICE_CLASS_CPU : CLNN_DEVICE_CLASS_GPU;
  if (class_override) c->plan_class = (clnn_device_class)class_override;
  c->compute_units = info_uint(d, CL_DEVICE_MAX_COMPUTE_UNITS);
  c->max_clock_mhz = info_uint(d, CL_DEVICE_MAX_CLOCK_FREQUENCY);
  clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof c->max_work_group_size, &c->max_work_group_size, NULL);
  clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_ITEM_SIZES, sizeof c->max_work_item_sizes, c->max_work_item_sizes, NULL);
  c->local_mem_size = info_ulong(d, CL_DEVICE_LOCAL_MEM_SIZE);
  cl_device_local_mem_type lt = CL_NONE;
  clGetDeviceInfo(d, CL_DEVICE_LOCAL_MEM_TYPE, sizeof lt, &lt, NULL);
  c->local_mem_dedicated = lt == CL_LOCAL;
  c->preferred_vector_width_float = info_uint(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT);
  c->native_vector_width_float = info_uint(d, CL_DEVICE_NATIVE_VECTOR_WIDTH_FLOAT);
  size_t ext_len = 0;
  char *ext = NULL;
  if (clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_len) == CL_SUCCESS && (ext = calloc(1, ext_len + 1)) &&
      clGetDeviceInfo(d, CL_DEVICE_EXTENSIONS, ext_len, ext, NULL) != CL_SUCCESS)
    ext[0] = '\0';
  const char *extensions = ext ? ext : "";
  c->simd_width = simd_width(d, extensions);
  c->subgroups = has_extension(extensions, "cl_khr_subgroups") || has_extension(extensions, "cl_intel_subgroups");
  c->fp16 = has_extension(extensions, "cl_khr_fp16");
  c->fp64 = has_extension(extensions, "cl_khr_fp64") || info_uint(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_DOUBLE) > 0;
  free(ext);
  cl_device_fp_config fp = 0;
  clGetDeviceInfo(d, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
  c->correct_div_sqrt = (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
  c->global_mem_size = info_ulong(d, CL_DEVICE_GLOBAL_MEM_SIZE);
  c->max_mem_alloc_size = info_ulong(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE);
  c->global_mem_cache_size = info_ulong(d, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE);
  c->global_mem_cacheline = info_uint(d, CL_DEVICE_GLOBAL_MEM_CACHELINE_SIZE);
}

clnn_status clnn_context_device_caps(const clnn_context *ctx, clnn_device_caps *out) {
  CLNN_CHECK_NULL(NULL, ctx);
  CLNN_CHECK_NULL(NULL, out);
  *out = ctx->caps;
  return CLNN_SUCCESS;
}

/* --------------------------------------------------------------- environment */

/* *out = a copy of v, or NULL when v is unset (or empty, unless keep_empty);
 * false when out of memory. */
static bool copy_var(const char *v, bool keep_empty, char **out) {
  *out = NULL;
  if (!v || (!*v && !keep_empty)) return true;
  return (*out = strdup(v)) != NULL;
}

static clnn_status parse_choice(const char *var, const char *v, const char *const *names, int n, int *out) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v, names[i])) {
      *out = i;
      return CLNN_SUCCESS;
    }
  char list[256] = "";
  for (int i = 0; i < n; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", names[i]);
  return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "%s='%s': expected one of %s", var, v, list);
}

void clnn__env_free(clnn_env *e) {
  free(e->cache_dir);
  free(e->kernel_dir);
  free(e->variants);
  free(e->tune_file);
  memset(e, 0, sizeof *e);
}

clnn_status clnn__env_read(clnn_env *e) {
  memset(e, 0, sizeof *e);
  e->transpose_algo = -1;
  const char *v;
  if ((v = getenv("CLNN_GEMM")) && *v) {
    static const char *const names[] = {"auto", "own", "clblast"};
    int i;
    CLNN_TRY(parse_choice("CLNN_GEMM", v, names, 3, &i));
    e->gemm = (clnn_gemm_engine)i; /* the enum's order */
  }
  if ((v = getenv("CLNN_DEVICE_CLASS")) && *v) {
    static const char *const names[] = {"auto", "cpu", "gpu"};
    int i;
    CLNN_TRY(parse_choice("CLNN_DEVICE_CLASS", v, names, 3, &i));
    e->device_class = i == 1 ? CLNN_DEVICE_CLASS_CPU : i == 2 ? CLNN_DEVICE_CLASS_GPU : 0;
  }
  if ((v = getenv("CLNN_CONV_TRANSPOSE_ALGO")) && *v) {
    static const char *const names[] = {"subpixel", "conv"};
    CLNN_TRY(parse_choice("CLNN_CONV_TRANSPOSE_ALGO", v, names, 2, &e->transpose_algo));
  }
  if ((v = getenv("CLNN_OPTIM_WG")) && *v) {
    char *end;
    errno = 0;
    long wg = strtol(v, &end, 10);
    if (errno || *end || wg < 1 || wg > 256 || (wg & (wg - 1)))
      return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "CLNN_OPTIM_WG='%s': expected a power of two up to 256", v);
    e->optim_wg = (int)wg;
  }
  e->profile = clnn__env_flag("CLNN_PROFILE");
  v = getenv("CLNN_CACHE_DIR");
  e->cache_dir_set = v != NULL;
  bool ok = copy_var(v, true, &e->cache_dir) && copy_var(getenv("CLNN_KERNEL_DIR"), false, &e->kernel_dir) &&
            copy_var(getenv("CLNN_VARIANT"), false, &e->variants) &&
            copy_var(getenv("CLNN_TUNE_FILE"), false, &e->tune_file);
  if (!ok) {
    clnn__env_free(e);
    return clnn__fail(NULL, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  }
  clnn_status st = clnn__check_forced_variants(e->variants);
  if (st != CLNN_SUCCESS) clnn__env_free(e);
  return st;
}

/* ------------------------------------------------------------ launch shapes */

size_t clnn__gpu_flat_wg(const clnn_context *ctx) {
  const size_t max = ctx->caps.max_work_group_size;
  return max && max < CLNN_GPU_WG ? max : CLNN_GPU_WG;
}

size_t clnn__gpu_tree_wg(const clnn_context *ctx, int64_t values, int64_t per_item) {
  size_t wg = 64;
  while (wg < CLNN_GPU_WG && (int64_t)wg * per_item < values) wg <<= 1;
  while (wg > 1 && ((ctx->caps.max_work_group_size && wg > ctx->caps.max_work_group_size) ||
                    (ctx->caps.local_mem_size && wg * sizeof(float) > ctx->caps.local_mem_size)))
    wg >>= 1;
  return wg;
}

void clnn__gpu_stride_grid(const clnn_context *ctx, size_t items, size_t *global, size_t *local) {
  const size_t wg = clnn__gpu_flat_wg(ctx);
  size_t groups = (items + wg - 1) / wg;
  size_t cap = (size_t)(ctx->caps.compute_units ? ctx->caps.compute_units : 1) * CLNN_GPU_GROUPS_PER_CU;
  if (groups > cap) groups = cap;
  if (groups < 1) groups = 1;
  *global = groups * wg;
  *local = wg;
}
