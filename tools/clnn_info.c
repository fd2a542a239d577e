/*
 * clnn_info.c - clnn-info: the OpenCL platforms and devices on this machine,
 * the facts about each that matter to libclnn, and which one the library
 * picks by default (CLNN_PLATFORM / CLNN_DEVICE change that choice).
 *
 *   clnn-info
 *   clnn-info --rf "k7s2p3,k3s2p1,k3p1*4"   receptive field of a layer stack
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clnn.h"

static void str_info(cl_device_id d, cl_device_info what, char *buf, size_t n) {
  buf[0] = '\0';
  clGetDeviceInfo(d, what, n, buf, NULL);
}

static cl_ulong ulong_info(cl_device_id d, cl_device_info what) {
  cl_ulong v = 0;
  clGetDeviceInfo(d, what, sizeof v, &v, NULL);
  return v;
}

static cl_uint uint_info(cl_device_id d, cl_device_info what) {
  cl_uint v = 0;
  clGetDeviceInfo(d, what, sizeof v, &v, NULL);
  return v;
}

static const char *type_name(cl_device_type t) {
  if (t & CL_DEVICE_TYPE_GPU) return "GPU";
  if (t & CL_DEVICE_TYPE_CPU) return "CPU";
  if (t & CL_DEVICE_TYPE_ACCELERATOR) return "accelerator";
  return "other";
}

static void print_device(int index, cl_device_id d, cl_device_id chosen) {
  char name[256], vendor[256], version[256], driver[256], clc[256], ext[8192];
  str_info(d, CL_DEVICE_NAME, name, sizeof name);
  str_info(d, CL_DEVICE_VENDOR, vendor, sizeof vendor);
  str_info(d, CL_DEVICE_VERSION, version, sizeof version);
  str_info(d, CL_DRIVER_VERSION, driver, sizeof driver);
  str_info(d, CL_DEVICE_OPENCL_C_VERSION, clc, sizeof clc);
  str_info(d, CL_DEVICE_EXTENSIONS, ext, sizeof ext);
  cl_device_type type = 0;
  clGetDeviceInfo(d, CL_DEVICE_TYPE, sizeof type, &type, NULL);
  size_t wg = 0;
  clGetDeviceInfo(d, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
  printf("  device %d: %s%s\n", index, name, d == chosen ? "   <- libclnn default" : "");
  printf("    type %s, vendor %s\n", type_name(type), vendor);
  printf("    %s, driver %s, %s\n", version, driver, clc);
  printf("    compute units %u, max clock %u MHz, max work-group size %zu\n",
         uint_info(d, CL_DEVICE_MAX_COMPUTE_UNITS), uint_info(d, CL_DEVICE_MAX_CLOCK_FREQUENCY), wg);
  printf("    global memory %.1f GiB, max allocation %.1f GiB, local memory %.0f KiB\n",
         (double)ulong_info(d, CL_DEVICE_GLOBAL_MEM_SIZE) / (1 << 30),
         (double)ulong_info(d, CL_DEVICE_MAX_MEM_ALLOC_SIZE) / (1 << 30),
         (double)ulong_info(d, CL_DEVICE_LOCAL_MEM_SIZE) / 1024);
  printf("    fp64 %s, fp16 %s, preferred float vector width %u\n",
         strstr(ext, "cl_khr_fp64") ? "yes" : "no", strstr(ext, "cl_khr_fp16") ? "yes" : "no",
         uint_info(d, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT));
}

/* One layer "k3s2p1d1" (s, p, d optional) with an optional repeat "*4"; false if malformed. */
static bool parse_rf_layer(const char *tok, clnn_rf_layer *l, long *repeat) {
  *l = (clnn_rf_layer){0, 1, 0, 1};
  *repeat = 1;
  while (*tok && *tok != '*') {
    char key = *tok++;
    char *end;
    errno = 0;
    long v = strtol(tok, &end, 10);
    if (end == tok || errno) return false;
    tok = end;
    if (key == 'k') l->kernel = v;
    else if (key == 's') l->stride = v;
    else if (key == 'p') l->padding = v;
    else if (key == 'd') l->dilation = v;
    else return false;
  }
  if (*tok == '*') {
    char *end;
    errno = 0;
    *repeat = strtol(tok + 1, &end, 10);
    if (end == tok + 1 || *end || errno || *repeat < 1) return false;
  }
  return l->kernel > 0;
}

/* --rf SPEC: print the receptive field after every layer of the stack. */
static int print_receptive_field(const char *spec) {
  enum { MAX_LAYERS = 1024 };
  static clnn_rf_layer layers[MAX_LAYERS];
  static clnn_rf_info info[MAX_LAYERS];
  char buf[4096], *save = NULL;
  snprintf(buf, sizeof buf, "%s", spec);
  int n = 0;
  for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    clnn_rf_layer l;
    long repeat;
    if (!parse_rf_layer(tok, &l, &repeat) || repeat > MAX_LAYERS - n) {
      fprintf(stderr, "clnn-info: cannot read layer '%s' (expected e.g. k3s2p1d1, or k3p1*4; %d layers at most)\n",
              tok, MAX_LAYERS);
      return 2;
    }
    while (repeat--) layers[n++] = l;
  }
  clnn_rf_info last;
  if (clnn_receptive_field(layers, n, info, &last) != CLNN_SUCCESS) {
    fprintf(stderr, "clnn-info: %s\n", clnn_context_errmsg(NULL));
    return 2;
  }
  printf("%5s %6s %6s %7s %8s %10s %8s %10s\n", "layer", "kernel", "stride", "padding", "dilation", "rf", "jump",
         "start");
  for (int i = 0; i < n; i++)
    printf("%5d %6lld %6lld %7lld %8lld %10lld %8lld %10.1f\n", i + 1, (long long)layers[i].kernel,
           (long long)layers[i].stride, (long long)layers[i].padding, (long long)layers[i].dilation,
           (long long)info[i].size, (long long)info[i].jump, info[i].start);
  printf("receptive field %lld, jump %lld, first centre %.1f\n", (long long)last.size, (long long)last.jump,
         last.start);
  return 0;
}

/* --variants: every kernel variant, one line each, best first within a
 * family and pass, with the device classes it is planned for. */
static int print_variants(void) {
  for (size_t i = 0; i < clnn_variant_count(); i++) {
    const char *family, *pass, *name;
    unsigned classes;
    clnn_variant_info(i, &family, &pass, &name, &classes);
    printf("%-14s %-6s %-40s %s\n", family, pass, name,
           classes == (CLNN_DEVICE_CLASS_CPU | CLNN_DEVICE_CLASS_GPU) ? "cpu,gpu"
           : classes == CLNN_DEVICE_CLASS_GPU                         ? "gpu"
                                                                      : "cpu");
  }
  return 0;
}

/* The device model libclnn planned with, for the default device. */
static void print_caps(const clnn_context *ctx) {
  clnn_device_caps c;
  if (clnn_context_device_caps(ctx, &c) != CLNN_SUCCESS) return;
  printf("libclnn plans for: %s (%s-class kernels%s)\n", c.name,
         c.plan_class == CLNN_DEVICE_CLASS_CPU ? "CPU" : "GPU",
         (c.plan_class == CLNN_DEVICE_CLASS_CPU) != (c.is_cpu && !c.is_gpu) ? ", set by CLNN_DEVICE_CLASS" : "");
  printf("  max work-group %zu (%zu x %zu x %zu), local memory %llu KiB%s, SIMD width %u%s\n",
         c.max_work_group_size, c.max_work_item_sizes[0], c.max_work_item_sizes[1], c.max_work_item_sizes[2],
         (unsigned long long)(c.local_mem_size >> 10), c.local_mem_dedicated ? "" : " (not dedicated)",
         c.simd_width, c.simd_width ? "" : " (not reported)");
  printf("  vector width float preferred %u native %u, sub-groups %s, fp16 %s, fp64 %s, "
         "correctly rounded divide/sqrt %s\n",
         c.preferred_vector_width_float, c.native_vector_width_float, c.subgroups ? "yes" : "no",
         c.fp16 ? "yes" : "no", c.fp64 ? "yes" : "no", c.correct_div_sqrt ? "yes" : "no");
  printf("  global memory cache %llu KiB, line %u B\n", (unsigned long long)(c.global_mem_cache_size >> 10),
         c.global_mem_cacheline);
  printf("  tuning: %s\n", clnn_context_tuning(ctx));
}

int main(int argc, char **argv) {
  if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    printf("usage: clnn-info\n  Lists OpenCL platforms and devices, marks the one libclnn uses by default and\n"
           "  prints the device model it plans with.\n"
           "usage: clnn-info --variants\n  Lists every kernel variant: family, pass, name (CLNN_VARIANT takes\n"
           "  these names) and the device classes it is planned for, best first.\n"
           "usage: clnn-info --rf SPEC\n  Receptive field of a stack of layers, e.g. \"k7s2p3,k3s2p1,k3p1*4\"\n"
           "  (k kernel, s stride, p padding, d dilation; s1 p0 d1 by default; *N repeats a layer).\n");
    return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "--rf")) return print_receptive_field(argv[2]);
  if (argc == 2 && !strcmp(argv[1], "--variants")) return print_variants();
  if (argc > 1) {
    fprintf(stderr,
            "clnn-info: unknown arguments (clnn-info, clnn-info --variants, clnn-info --rf SPEC, clnn-info --help)\n");
    return 2;
  }
  printf("libclnn %s\n", clnn_version());
  cl_platform_id plats[16];
  cl_uint np = 0;
  cl_int err = clGetPlatformIDs(16, plats, &np);
  if (err != CL_SUCCESS || np == 0) {
    printf("no OpenCL platform found (install an ICD, e.g. pocl-opencl-icd)\n");
    return 1;
  }
  clnn_context *ctx = NULL;
  cl_device_id chosen = NULL;
  if (clnn_context_create(NULL, &ctx) == CLNN_SUCCESS) chosen = clnn_context_cl_device(ctx);
  else printf("libclnn cannot create a context: %s\n", clnn_context_errmsg(NULL));
  int index = 0;
  for (cl_uint p = 0; p < np && p < 16; p++) {
    char pname[256] = "", pver[256] = "";
    clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname, pname, NULL);
    clGetPlatformInfo(plats[p], CL_PLATFORM_VERSION, sizeof pver, pver, NULL);
    printf("platform %u: %s (%s)\n", p, pname, pver);
    cl_device_id devs[32];
    cl_uint nd = 0;
    if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 32, devs, &nd) != CL_SUCCESS) nd = 0;
    for (cl_uint i = 0; i < nd && i < 32; i++) print_device(index++, devs[i], chosen);
  }
  printf("select with CLNN_DEVICE=<index or name part> (and CLNN_PLATFORM=<index or name part>)\n");
  if (ctx) print_caps(ctx);
  clnn_context_free(ctx);
  return 0;
}
