/*
 * fault.c - see fault.h. Empty unless built with CLNN_FAULT_INJECTION.
 */
#ifdef CLNN_FAULT_INJECTION
#define CLNN_FAULT_IMPLEMENTATION
#include "fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { F_BUFFER, F_BUILD, F_ENQUEUE, F_READ, F_WRITE, F_FINISH, F_CLASSES };
static const char *const class_names[F_CLASSES] = {"buffer", "build", "enqueue", "read", "write", "finish"};

static int in_teardown;

/* Whether this call of class c is the one to fail (CLNN_FAULT, read once). */
static int hit(int c) {
  static int armed_class = -2;
  static long armed_n, calls[F_CLASSES];
  if (armed_class == -2) {
    armed_class = -1;
    const char *v = getenv("CLNN_FAULT");
    const char *colon = v ? strchr(v, ':') : NULL;
    for (int i = 0; colon && i < F_CLASSES; i++)
      if ((size_t)(colon - v) == strlen(class_names[i]) && !strncmp(v, class_names[i], (size_t)(colon - v)))
        armed_class = i, armed_n = strtol(colon + 1, NULL, 10);
    if (v && armed_class < 0) fprintf(stderr, "libclnn: CLNN_FAULT='%s' names no fault class\n", v);
  }
  if (c != armed_class || ++calls[c] != armed_n) return 0;
  fprintf(stderr, "libclnn: injected fault %s:%ld%s\n", class_names[c], armed_n,
          in_teardown ? " (in clnn_context_free, which has no status to return)" : "");
  return 1;
}

void clnn__fault_teardown(int inside) { in_teardown = inside; }

cl_mem clnn__fault_clCreateBuffer(cl_context c, cl_mem_flags f, size_t n, void *host, cl_int *err) {
  if (hit(F_BUFFER)) {
    if (err) *err = CL_MEM_OBJECT_ALLOCATION_FAILURE;
    return NULL;
  }
  return clCreateBuffer(c, f, n, host, err);
}

cl_int clnn__fault_clBuildProgram(cl_program p, cl_uint nd, const cl_device_id *d, const char *opts,
                                  void(CL_CALLBACK *notify)(cl_program, void *), void *user) {
  return hit(F_BUILD) ? CL_BUILD_PROGRAM_FAILURE : clBuildProgram(p, nd, d, opts, notify, user);
}

cl_int clnn__fault_clEnqueueNDRangeKernel(cl_command_queue q, cl_kernel k, cl_uint dims, const size_t *off,
                                          const size_t *global, const size_t *local, cl_uint nw,
                                          const cl_event *wait, cl_event *ev) {
  return hit(F_ENQUEUE) ? CL_OUT_OF_RESOURCES : clEnqueueNDRangeKernel(q, k, dims, off, global, local, nw, wait, ev);
}

cl_int clnn__fault_clEnqueueReadBuffer(cl_command_queue q, cl_mem m, cl_bool block, size_t off, size_t n, void *p,
                                       cl_uint nw, const cl_event *wait, cl_event *ev) {
  return hit(F_READ) ? CL_OUT_OF_RESOURCES : clEnqueueReadBuffer(q, m, block, off, n, p, nw, wait, ev);
}

cl_int clnn__fault_clEnqueueWriteBuffer(cl_command_queue q, cl_mem m, cl_bool block, size_t off, size_t n,
                                        const void *p, cl_uint nw, const cl_event *wait, cl_event *ev) {
  return hit(F_WRITE) ? CL_OUT_OF_RESOURCES : clEnqueueWriteBuffer(q, m, block, off, n, p, nw, wait, ev);
}

cl_int clnn__fault_clEnqueueFillBuffer(cl_command_queue q, cl_mem m, const void *pat, size_t pat_n, size_t off,
                                       size_t n, cl_uint nw, const cl_event *wait, cl_event *ev) {
  return hit(F_WRITE) ? CL_OUT_OF_RESOURCES : clEnqueueFillBuffer(q, m, pat, pat_n, off, n, nw, wait, ev);
}

cl_int clnn__fault_clFinish(cl_command_queue q) { return hit(F_FINISH) ? CL_OUT_OF_RESOURCES : clFinish(q); }
#else
typedef int clnn_fault_injection_is_off; /* ISO C wants a declaration in every file */
#endif
