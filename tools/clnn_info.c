/*
 * clnn_info.c - clnn-info: the OpenCL platforms and devices on this machine,
 * the facts about each that matter to libclnn, and which one the library
 * picks by default (CLNN_PLATFORM / CLNN_DEVICE change that choice).
 *
 *   clnn-info
 */
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

int main(int argc, char **argv) {
  if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
    printf("usage: clnn-info\n  Lists OpenCL platforms and devices and marks the one libclnn uses by default.\n");
    return 0;
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
  clnn_context_free(ctx);
  return 0;
}
