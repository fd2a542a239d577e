/*
 * fault.h - fault injection, in test builds only (cmake -DCLNN_FAULT_INJECTION=ON).
 *
 * With CLNN_FAULT=<class>:<n> in the environment, the n-th call (from 1,
 * counted over the process) of one class of OpenCL entry points fails as a
 * driver would fail it, and every later call of the class succeeds again:
 *   buffer  clCreateBuffer                      CL_MEM_OBJECT_ALLOCATION_FAILURE
 *   build   clBuildProgram                      CL_BUILD_PROGRAM_FAILURE
 *   enqueue clEnqueueNDRangeKernel              CL_OUT_OF_RESOURCES
 *   read    clEnqueueReadBuffer                 CL_OUT_OF_RESOURCES
 *   write   clEnqueueWriteBuffer, FillBuffer    CL_OUT_OF_RESOURCES
 *   finish  clFinish                            CL_OUT_OF_RESOURCES
 * tests/fault_sweep.sh raises n until the class is never reached, over an
 * op of every family, and requires a clear status, no leak and untouched
 * outputs each time. In other builds this header defines nothing.
 */
#ifndef CLNN_FAULT_H
#define CLNN_FAULT_H

#ifdef CLNN_FAULT_INJECTION
#include <CL/cl.h>

cl_mem clnn__fault_clCreateBuffer(cl_context c, cl_mem_flags f, size_t n, void *host, cl_int *err);
cl_int clnn__fault_clBuildProgram(cl_program p, cl_uint nd, const cl_device_id *d, const char *opts,
                                  void(CL_CALLBACK *notify)(cl_program, void *), void *user);
cl_int clnn__fault_clEnqueueNDRangeKernel(cl_command_queue q, cl_kernel k, cl_uint dims, const size_t *off,
                                          const size_t *global, const size_t *local, cl_uint nw,
                                          const cl_event *wait, cl_event *ev);
cl_int clnn__fault_clEnqueueReadBuffer(cl_command_queue q, cl_mem m, cl_bool block, size_t off, size_t n, void *p,
                                       cl_uint nw, const cl_event *wait, cl_event *ev);
cl_int clnn__fault_clEnqueueWriteBuffer(cl_command_queue q, cl_mem m, cl_bool block, size_t off, size_t n,
                                        const void *p, cl_uint nw, const cl_event *wait, cl_event *ev);
cl_int clnn__fault_clEnqueueFillBuffer(cl_command_queue q, cl_mem m, const void *pat, size_t pat_n, size_t off,
                                       size_t n, cl_uint nw, const cl_event *wait, cl_event *ev);
cl_int clnn__fault_clFinish(cl_command_queue q);
/* clnn_context_free brackets its work with these: a fault injected there is
 * reported as such (a void function has no status to return). */
void clnn__fault_teardown(int inside);

#ifndef CLNN_FAULT_IMPLEMENTATION
#define clCreateBuffer clnn__fault_clCreateBuffer
#define clBuildProgram clnn__fault_clBuildProgram
#define clEnqueueNDRangeKernel clnn__fault_clEnqueueNDRangeKernel
#define clEnqueueReadBuffer clnn__fault_clEnqueueReadBuffer
#define clEnqueueWriteBuffer clnn__fault_clEnqueueWriteBuffer
#define clEnqueueFillBuffer clnn__fault_clEnqueueFillBuffer
#define clFinish clnn__fault_clFinish
#endif
#endif /* CLNN_FAULT_INJECTION */

#endif /* CLNN_FAULT_H */
