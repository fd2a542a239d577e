/*
 * oclgrind_hoststore.c - an LD_PRELOAD shim, placed before Oclgrind's
 * runtime, that turns every host store into a buffer into a store of the
 * whole buffer at offset 0. Only tests/oclgrind.sh uses it.
 *
 * Why: Oclgrind's --uninitialized checker (21.10, and upstream since)
 * keeps a shadow copy of each buffer, and on every host store it
 * reallocates that shadow with the store's size and then writes it at the
 * store's offset. A store that is not the whole buffer at offset 0 (a
 * clEnqueueFillBuffer, which Oclgrind performs one pattern at a time; a
 * write or copy of part of a buffer; clCreateBuffer's COPY_HOST_PTR, which
 * it never records) leaves a shadow that is too short or never written: the
 * checker then reports reads of that buffer as uninitialised, and kernels'
 * stores past the short shadow are not recorded. Storing the
 * whole buffer keeps its shadow exact: after any host store the whole buffer
 * counts as initialised (so an uninitialised read of a part of a buffer that
 * the host wrote elsewhere is not caught), and buffers that only kernels
 * write are tracked exactly.
 *
 * Each replaced command reads the whole buffer back (blocking, after its
 * wait list), applies the store on the host and writes the whole buffer
 * (blocking, returning the caller's event). Oclgrind runs commands in order
 * and one at a time, so this keeps the program's semantics.
 */
#define _GNU_SOURCE
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef cl_int (*write_fn)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, const void *, cl_uint,
                           const cl_event *, cl_event *);
typedef cl_int (*read_fn)(cl_command_queue, cl_mem, cl_bool, size_t, size_t, void *, cl_uint, const cl_event *,
                          cl_event *);
typedef cl_int (*fill_fn)(cl_command_queue, cl_mem, const void *, size_t, size_t, size_t, cl_uint,
                          const cl_event *, cl_event *);
typedef cl_int (*copy_fn)(cl_command_queue, cl_mem, cl_mem, size_t, size_t, size_t, cl_uint, const cl_event *,
                          cl_event *);
typedef cl_mem (*create_fn)(cl_context, cl_mem_flags, size_t, void *, cl_int *);
typedef cl_int (*meminfo_fn)(cl_mem, cl_mem_info, size_t, void *, size_t *);

/* The next definition of NAME (Oclgrind's); the shim cannot run without it. */
static void *next(const char *name) {
  void *f = dlsym(RTLD_NEXT, name);
  if (!f) {
    fprintf(stderr, "oclgrind_hoststore: no %s after the shim (is Oclgrind's runtime preloaded?)\n", name);
    abort();
  }
  return f;
}

static size_t buffer_size(cl_mem buf) {
  static meminfo_fn info;
  if (!info) info = (meminfo_fn)next("clGetMemObjectInfo");
  size_t size = 0;
  if (info(buf, CL_MEM_SIZE, sizeof size, &size, NULL) != CL_SUCCESS) return 0;
  return size;
}

/* The whole of BUF after its wait list, or NULL (*err set). */
static unsigned char *read_whole(cl_command_queue q, cl_mem buf, size_t size, cl_uint nwait,
                                 const cl_event *wait, cl_int *err) {
  static read_fn rd;
  if (!rd) rd = (read_fn)next("clEnqueueReadBuffer");
  unsigned char *host = malloc(size ? size : 1);
  if (!host) {
    *err = CL_OUT_OF_HOST_MEMORY;
    return NULL;
  }
  *err = rd(q, buf, CL_TRUE, 0, size, host, nwait, wait, NULL);
  if (*err != CL_SUCCESS) {
    free(host);
    return NULL;
  }
  return host;
}

static cl_int write_whole(cl_command_queue q, cl_mem buf, size_t size, const void *host, cl_event *ev) {
  static write_fn wr;
  if (!wr) wr = (write_fn)next("clEnqueueWriteBuffer");
  return wr(q, buf, CL_TRUE, 0, size, host, 0, NULL, ev);
}

cl_int clEnqueueWriteBuffer(cl_command_queue q, cl_mem buf, cl_bool blocking, size_t off, size_t cb,
                            const void *src, cl_uint nwait, const cl_event *wait, cl_event *ev) {
  static write_fn wr;
  if (!wr) wr = (write_fn)next("clEnqueueWriteBuffer");
  size_t size = buffer_size(buf);
  if ((off == 0 && cb == size) || !src || off > size || cb > size - off)
    return wr(q, buf, blocking, off, cb, src, nwait, wait, ev); /* whole, or Oclgrind reports the error */
  cl_int err;
  unsigned char *host = read_whole(q, buf, size, nwait, wait, &err);
  if (!host) return err;
  memcpy(host + off, src, cb);
  err = write_whole(q, buf, size, host, ev);
  free(host);
  return err;
}

cl_int clEnqueueFillBuffer(cl_command_queue q, cl_mem buf, const void *pattern, size_t psize, size_t off,
                           size_t cb, cl_uint nwait, const cl_event *wait, cl_event *ev) {
  static fill_fn fill;
  if (!fill) fill = (fill_fn)next("clEnqueueFillBuffer");
  size_t size = buffer_size(buf);
  if (!pattern || psize == 0 || off % psize || cb % psize || off > size || cb > size - off)
    return fill(q, buf, pattern, psize, off, cb, nwait, wait, ev); /* Oclgrind reports the error */
  cl_int err;
  unsigned char *host = read_whole(q, buf, size, nwait, wait, &err);
  if (!host) return err;
  for (size_t at = off; at < off + cb; at += psize) memcpy(host + at, pattern, psize);
  err = write_whole(q, buf, size, host, ev);
  free(host);
  return err;
}

cl_int clEnqueueCopyBuffer(cl_command_queue q, cl_mem src, cl_mem dst, size_t soff, size_t doff, size_t cb,
                           cl_uint nwait, const cl_event *wait, cl_event *ev) {
  static copy_fn copy;
  if (!copy) copy = (copy_fn)next("clEnqueueCopyBuffer");
  size_t ssize = buffer_size(src), dsize = buffer_size(dst);
  if (soff > ssize || cb > ssize - soff || doff > dsize || cb > dsize - doff)
    return copy(q, src, dst, soff, doff, cb, nwait, wait, ev); /* Oclgrind reports the error */
  cl_int err;
  unsigned char *from = read_whole(q, src, ssize, nwait, wait, &err);
  if (!from) return err;
  unsigned char *to = src == dst ? from : read_whole(q, dst, dsize, 0, NULL, &err);
  if (!to) {
    free(from);
    return err;
  }
  memmove(to + doff, from + soff, cb);
  err = write_whole(q, dst, dsize, to, ev);
  if (to != from) free(to);
  free(from);
  return err;
}

/* COPY_HOST_PTR: the same data, written once more through a queue of its
 * own so that Oclgrind records it. */
cl_mem clCreateBuffer(cl_context cx, cl_mem_flags flags, size_t size, void *host, cl_int *errp) {
  static create_fn create;
  if (!create) create = (create_fn)next("clCreateBuffer");
  cl_int err;
  cl_mem buf = create(cx, flags, size, host, &err);
  if (buf && err == CL_SUCCESS && (flags & CL_MEM_COPY_HOST_PTR) && host) {
    cl_device_id devs[16];
    size_t bytes = 0;
    cl_int e = clGetContextInfo(cx, CL_CONTEXT_DEVICES, sizeof devs, devs, &bytes);
    if (e == CL_SUCCESS && bytes < sizeof devs[0]) e = CL_INVALID_CONTEXT;
    cl_command_queue q = e == CL_SUCCESS ? clCreateCommandQueue(cx, devs[0], 0, &e) : NULL;
    if (q && e == CL_SUCCESS) {
      e = write_whole(q, buf, size, host, NULL);
      clReleaseCommandQueue(q);
    }
    if (e != CL_SUCCESS) {
      clReleaseMemObject(buf);
      buf = NULL;
      err = e;
    }
  }
  if (errp) *errp = err;
  return buf;
}
