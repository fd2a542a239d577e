/*
 * peak.c - what this device can do at best, measured the same way as the
 * ops: an FMA-throughput kernel (GFLOP/s) and a STREAM-style triad (GB/s).
 * clnn-bench reports each op as a fraction of these.
 */
#include "peak.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "timing.h"

static const char *peak_src =
    "__kernel void peak_fma(__global float *out, const int iters) {\n"
    "  float16 a0 = (float16)(get_global_id(0)) * 1e-7f, a1 = a0 + 1e-7f, a2 = a0 + 2e-7f,\n"
    "          a3 = a0 + 3e-7f, a4 = a0 + 4e-7f, a5 = a0 + 5e-7f, a6 = a0 + 6e-7f, a7 = a0 + 7e-7f;\n"
    "  const float16 m = (float16)(0.999999f), c = (float16)(1e-7f);\n"
    "  for (int i = 0; i < iters; i++) {\n"
    "    a0 = fma(a0, m, c); a1 = fma(a1, m, c); a2 = fma(a2, m, c); a3 = fma(a3, m, c);\n"
    "    a4 = fma(a4, m, c); a5 = fma(a5, m, c); a6 = fma(a6, m, c); a7 = fma(a7, m, c);\n"
    "  }\n"
    "  float16 s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;\n"
    "  out[get_global_id(0)] = s.s0 + s.s1 + s.s2 + s.s3 + s.s4 + s.s5 + s.s6 + s.s7 + s.s8 + s.s9 +\n"
    "                          s.sa + s.sb + s.sc + s.sd + s.se + s.sf;\n"
    "}\n"
    "__kernel void peak_triad(__global float *a, __global const float *b,\n"
    "                         __global const float *c, const float q) {\n"
    "  const size_t i = get_global_id(0) * 16;\n"
    "  vstore16(vload16(0, b + i) + q * vload16(0, c + i), 0, a + i);\n"
    "}\n"
    "__kernel void peak_triad4(__global float4 *a, __global const float4 *b,\n"
    "                          __global const float4 *c, const float q) {\n"
    "  const size_t i = get_global_id(0);\n"
    "  a[i] = b[i] + q * c[i];\n"
    "}\n";


/* Median wall time of one launch of k over global items: each of reps samples
 * times `batch` back-to-back launches, so that on a GPU, where one triad
 * takes about 0.1 ms, the launch latency around clFinish stays out of it. */
static double time_kernel(cl_command_queue q, cl_kernel k, size_t global, size_t local, int reps,
                          int batch) {
  double t[16];
  clEnqueueNDRangeKernel(q, k, 1, NULL, &global, &local, 0, NULL, NULL); /* warm-up */
  clFinish(q);
  for (int r = 0; r < reps; r++) {
    double t0 = bench_now_s();
    for (int b = 0; b < batch; b++) clEnqueueNDRangeKernel(q, k, 1, NULL, &global, &local, 0, NULL, NULL);
    clFinish(q);
    t[r] = (bench_now_s() - t0) / batch;
  }
  qsort(t, (size_t)reps, sizeof t[0], bench_cmp_double);
  return t[reps / 2];
}

bool bench_measure_peak(clnn_context *ctx, bench_peak *out, char *err, size_t errlen) {
  cl_context c = clnn_context_cl_context(ctx);
  cl_command_queue q = clnn_context_cl_queue(ctx);
  cl_device_id d = clnn_context_cl_device(ctx);
  cl_int e;
  cl_program prog = clCreateProgramWithSource(c, 1, &peak_src, NULL, &e);
  if (e == CL_SUCCESS) e = clBuildProgram(prog, 1, &d, "-cl-std=CL1.2", NULL, NULL);
  if (e != CL_SUCCESS) {
    snprintf(err, errlen, "peak kernels failed to build (%d)", (int)e);
    if (prog) clReleaseProgram(prog);
    return false;
  }
  cl_uint cus = 1;
  clGetDeviceInfo(d, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cus, &cus, NULL);
  bool ok = false;
  cl_kernel kf = clCreateKernel(prog, "peak_fma", &e);
  /* A CPU runs one work-item per core at a time, so one float16 chain per
   * work-item and work-groups of one measure it; a GPU needs work-groups of
   * 256 and neighbouring work-items on neighbouring float4s (coalesced), or
   * these would measure 1/32 of it. */
  const bool gpu_shape = !clnn_context_is_cpu(ctx);
  cl_kernel kt = clCreateKernel(prog, gpu_shape ? "peak_triad4" : "peak_triad", NULL);
  /* FMA: enough work-items to fill every compute unit many times over. */
  size_t items = (size_t)cus * (gpu_shape ? 4096 : 256);
  size_t fma_local = gpu_shape ? 256 : 1;
  cl_int iters = gpu_shape ? 2000 : 20000;
  const size_t n = (size_t)32 << 20; /* triad over 3 x 128 MiB: far beyond any cache */
  cl_mem sink = clCreateBuffer(c, CL_MEM_READ_WRITE, items * sizeof(float), NULL, &e);
  cl_mem a = clCreateBuffer(c, CL_MEM_READ_WRITE, n * sizeof(float), NULL, NULL);
  cl_mem b = clCreateBuffer(c, CL_MEM_READ_WRITE, n * sizeof(float), NULL, NULL);
  cl_mem cc = clCreateBuffer(c, CL_MEM_READ_WRITE, n * sizeof(float), NULL, NULL);
  if (!kf || !kt || !sink || !a || !b || !cc) {
    snprintf(err, errlen, "cannot set up the peak measurement");
    goto done;
  }
  float zero = 0.0f, qv = 3.0f;
  clEnqueueFillBuffer(q, b, &zero, sizeof zero, 0, n * sizeof(float), 0, NULL, NULL);
  clEnqueueFillBuffer(q, cc, &zero, sizeof zero, 0, n * sizeof(float), 0, NULL, NULL);
  clSetKernelArg(kf, 0, sizeof sink, &sink);
  clSetKernelArg(kf, 1, sizeof iters, &iters);
  double tf = time_kernel(q, kf, items, fma_local, 5, 1);
  out->gflops = (double)items * iters * 8 * 16 * 2 / tf * 1e-9;
  clSetKernelArg(kt, 0, sizeof a, &a);
  clSetKernelArg(kt, 1, sizeof b, &b);
  clSetKernelArg(kt, 2, sizeof cc, &cc);
  clSetKernelArg(kt, 3, sizeof qv, &qv);
  double tt = gpu_shape ? time_kernel(q, kt, n / 4, 256, 7, 20) : time_kernel(q, kt, n / 16, 8, 7, 1);
  out->gbps = 3.0 * (double)n * sizeof(float) / tt * 1e-9;
  ok = true;
done:
  if (sink) clReleaseMemObject(sink);
  if (a) clReleaseMemObject(a);
  if (b) clReleaseMemObject(b);
  if (cc) clReleaseMemObject(cc);
  if (kf) clReleaseKernel(kf);
  if (kt) clReleaseKernel(kt);
  clReleaseProgram(prog);
  return ok;
}
