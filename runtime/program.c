/*
 * program.c - kernel sources, program builds and their two caches, kernel
 * lookup and launch.
 *
 * A program is a list of sources (files under kernels/, after shared.h and
 * common.h: "act" or "conv/common.h conv/direct_band.cl") built with one
 * option string. Built programs live in the context for its
 * lifetime (memory cache) and, as device binaries, in a directory on disk
 * (disk cache) keyed by everything that could change the binary: library
 * version, platform and driver version, device name, options and a hash of
 * the sources. A cache file that is truncated, corrupt or made for another
 * key is ignored and rebuilt, never trusted. The checksum finds damage, not
 * tampering: what keeps others' binaries out is that the folder is used
 * only when no one but its owner (the user, or root) can write it, the rule
 * ssh applies to ~/.ssh; docs/DESIGN.md, "Threat model and guarantees".
 *
 * On PoCL a kernel is compiled again for each new work-group size it is
 * launched with, and the program binary carries those compilations. So a
 * program is marked dirty when a kernel first runs with a new local size, and
 * dirty programs are saved again (clnn_context_save_cache, clnn_context_free).
 */
#include "internal.h"
#include "cache_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* --------------------------------------------------------------- sources */

/* A program's sources, in order: shared.h (the constants the host shares),
 * common.h (helpers), then the files of its source list. */
#define MAX_SOURCES 8
#define SOURCE_NAME_MAX 64

typedef struct source_text {
  char *data;
  size_t size;
} source_text;

/*
 * Open path for reading if it is a regular file: never blocking on a FIFO
 * or a device, and, with no_symlink, not through a final symbolic link.
 * NULL with errno set otherwise (EINVAL: not a regular file).
 */
static FILE *open_regular(const char *path, bool no_symlink) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | (no_symlink ? O_NOFOLLOW : 0));
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    errno = EINVAL;
    return NULL;
  }
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  FILE *f = fdopen(fd, "rb");
  if (!f) close(fd);
  return f;
}

/*
 * Whether the files of dir may become code this process runs: a directory
 * owned by the effective user or by root that neither group nor others can
 * write. why (n bytes) says what is wrong when it is not.
 */
static bool folder_trusted(const char *dir, char *why, size_t n) {
  struct stat st;
  if (stat(dir, &st) != 0) {
    snprintf(why, n, "'%s': %s", dir, strerror(errno));
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    snprintf(why, n, "'%s' is not a folder", dir);
    return false;
  }
  if (st.st_uid != geteuid() && st.st_uid != 0) {
    snprintf(why, n, "'%s' belongs to another user (uid %ld)", dir, (long)st.st_uid);
    return false;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    snprintf(why, n, "'%s' is writable by %s (mode %03o)", dir, (st.st_mode & S_IWOTH) ? "others" : "its group",
             (unsigned)(st.st_mode & 0777));
    return false;
  }
  return true;
}

static clnn_status read_file(clnn_context *ctx, const char *path, source_text *out) {
  FILE *f = open_regular(path, false);
  if (!f && errno == EINVAL) return clnn__fail(ctx, CLNN_ERR_IO, "kernel source '%s' is not a regular file", path);
  if (!f) return clnn__fail(ctx, CLNN_ERR_IO, "cannot open kernel source '%s': %s", path, strerror(errno));
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n + 65536 + 1 > cap) {
      cap = (n + 65536 + 1) * 2;
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        return clnn__fail(ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
      }
      buf = nb;
    }
    size_t got = fread(buf + n, 1, 65536, f);
    n += got;
    if (got < 65536) break;
  }
  bool bad = ferror(f);
  fclose(f);
  if (bad) {
    free(buf);
    return clnn__fail(ctx, CLNN_ERR_IO, "cannot read kernel source '%s'", path);
  }
  buf[n] = '\0';
  out->data = buf;
  out->size = n;
  return CLNN_SUCCESS;
}

/* The text of kernels/<file>: from $CLNN_KERNEL_DIR when set, else embedded. */
static clnn_status load_source(clnn_context *ctx, const char *file, source_text *out) {
  const char *dir = ctx->env.kernel_dir;
  if (dir) {
    char path[4096], why[512];
    if (!folder_trusted(dir, why, sizeof why))
      return clnn__fail(ctx, CLNN_ERR_IO, "CLNN_KERNEL_DIR is not used: %s", why);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return read_file(ctx, path, out);
  }
  for (size_t i = 0; i < clnn_embedded_source_count; i++) {
    if (strcmp(clnn_embedded_sources[i].name, file)) continue;
    out->data = malloc(clnn_embedded_sources[i].size + 1);
    if (!out->data) return clnn__fail(ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
    memcpy(out->data, clnn_embedded_sources[i].data, clnn_embedded_sources[i].size);
    out->data[clnn_embedded_sources[i].size] = '\0';
    out->size = clnn_embedded_sources[i].size;
    return CLNN_SUCCESS;
  }
  return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "no kernel source named '%s' is built in", file);
}

/* ------------------------------------------------------------ disk cache */

static char *make_disk_key(clnn_context *ctx, const char *options, const source_text *src, int nsrc) {
  uint64_t h = CLNN_FNV_INIT;
  for (int i = 0; i < nsrc; i++) h = clnn__fnv1a(h, src[i].data, src[i].size);
  size_t n = strlen(options) + 2048;
  char *key = malloc(n);
  if (!key) return NULL;
  snprintf(key, n,
           "libclnn %s\nplatform %s\ndevice %s\nvendor %s\ndriver %s\noptions %s\nsources %016llx\n",
           clnn_version(), ctx->caps.platform_version, ctx->caps.name, ctx->caps.vendor,
           ctx->caps.driver_version, options, (unsigned long long)h);
  return key;
}

static void cache_path(const clnn_context *ctx, uint64_t key_hash, char *buf, size_t n) {
  snprintf(buf, n, "%s/%016llx.clbin", ctx->cache_dir, (unsigned long long)key_hash);
}

/* mkdir -p, the last folder private to the user; what fails shows in the
 * trust check that follows. */
static void make_dirs(const char *dir) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    mkdir(tmp, 0755);
    *p = '/';
  }
  mkdir(tmp, 0700);
}

/* Whether the disk cache is used: settled on first use, when its folder is
 * created if missing and checked (folder_trusted). An untrusted folder turns
 * the disk cache off for the context, and clnn_context_cache_stats says why. */
static bool disk_cache_on(clnn_context *ctx) {
  if (!ctx->cache_dir) return false;
  if (ctx->cache_checked) return ctx->cache_trusted;
  ctx->cache_checked = true;
  make_dirs(ctx->cache_dir);
  char why[sizeof ctx->stats.disk_cache_off];
  ctx->cache_trusted = folder_trusted(ctx->cache_dir, why, sizeof why);
  if (!ctx->cache_trusted) snprintf(ctx->stats.disk_cache_off, sizeof ctx->stats.disk_cache_off, "%s", why);
  return ctx->cache_trusted;
}

/* Read a cache file; true and a malloc'd binary if it is whole and made for key. */
static bool cache_file_load(const char *path, const char *key, unsigned char **bin, size_t *bin_size) {
  FILE *f = open_regular(path, true);
  if (!f) return false;
  bool ok = clnn__cache_file_read(f, key, bin, bin_size);
  fclose(f);
  return ok;
}

static clnn_status cache_file_save(clnn_context *ctx, clnn_program_entry *pe) {
  size_t bin_size = 0;
  CLNN_TRY_CL(ctx, clGetProgramInfo(pe->program, CL_PROGRAM_BINARY_SIZES, sizeof bin_size, &bin_size, NULL));
  if (bin_size == 0) return CLNN_SUCCESS; /* the device offers no binaries */
  unsigned char *bin = malloc(bin_size);
  if (!bin) return clnn__fail(ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  cl_int err = clGetProgramInfo(pe->program, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL);
  if (err != CL_SUCCESS) {
    free(bin);
    return clnn__cl_fail(ctx, err, "clGetProgramInfo(CL_PROGRAM_BINARIES)");
  }
  char path[4200], tmp[4300];
  cache_path(ctx, pe->key_hash, path, sizeof path);
  /* A fresh file of its own (O_EXCL: never one planted there, nor a link). */
  snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
  if (fd >= 0 && !f) close(fd);
  bool ok = f != NULL;
  if (ok) {
    ok = clnn__cache_file_write(f, pe->disk_key, bin, bin_size);
    ok = (fclose(f) == 0) && ok;
  }
  free(bin);
  /* rename() is atomic: a reader sees the old file or the new one, never half. */
  if (ok && rename(tmp, path) == 0) {
    pe->dirty = false;
    ctx->stats.saved_to_disk++;
    return CLNN_SUCCESS;
  }
  if (fd >= 0) remove(tmp);
  /* A read-only cache directory is not an error for the op that built the program. */
  return CLNN_SUCCESS;
}

clnn_status clnn__cache_save_all(clnn_context *ctx) {
  if (!disk_cache_on(ctx)) return CLNN_SUCCESS;
  for (int i = 0; i < ctx->n_programs; i++)
    if (ctx->programs[i]->dirty) CLNN_TRY(cache_file_save(ctx, ctx->programs[i]));
  return CLNN_SUCCESS;
}

/* ---------------------------------------------------------------- builds */

static clnn_status build_failed(clnn_context *ctx, cl_program prog, cl_int err, const char *sources,
                                const char *options) {
  size_t log_size = 0;
  clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size);
  char *log = malloc(log_size + 1);
  if (log) {
    log[0] = '\0';
    clGetProgramBuildInfo(prog, ctx->device, CL_PROGRAM_BUILD_LOG, log_size, log, NULL);
    log[log_size] = '\0';
  }
  clnn_status st = clnn__fail(ctx, CLNN_ERR_BUILD_FAILED,
                              "building the program of kernels/ '%s' with options '%s' failed: %s (%d)\n"
                              "build log:\n%s",
                              sources, options, clnn__cl_error_name(err), (int)err, log ? log : "");
  free(log);
  return st;
}

static clnn_status build_from_source(clnn_context *ctx, const char *sources, const char *options,
                                     const source_text *src, int nsrc, cl_program *out) {
  const char *strings[MAX_SOURCES];
  size_t lengths[MAX_SOURCES];
  for (int i = 0; i < nsrc; i++) strings[i] = src[i].data, lengths[i] = src[i].size;
  cl_int err;
  cl_program prog = clCreateProgramWithSource(ctx->cl, (cl_uint)nsrc, strings, lengths, &err);
  if (err != CL_SUCCESS) return clnn__cl_fail(ctx, err, "clCreateProgramWithSource");
  err = clBuildProgram(prog, 1, &ctx->device, options, NULL, NULL);
  if (err != CL_SUCCESS) {
    clnn_status st = build_failed(ctx, prog, err, sources, options);
    clReleaseProgram(prog);
    return st;
  }
  *out = prog;
  ctx->stats.built_from_source++;
  return CLNN_SUCCESS;
}

/* Try the disk cache; false (and nothing to clean up) when it does not serve. */
static bool build_from_cache(clnn_context *ctx, const char *options, const char *key,
                             uint64_t key_hash, cl_program *out) {
  if (!disk_cache_on(ctx)) return false;
  char path[4200];
  cache_path(ctx, key_hash, path, sizeof path);
  unsigned char *bin = NULL;
  size_t size = 0;
  struct stat st;
  if (lstat(path, &st) != 0) return false;
  if (!cache_file_load(path, key, &bin, &size)) {
    ctx->stats.rejected_disk_files++;
    return false;
  }
  cl_int err, bin_status;
  const unsigned char *bins[1] = {bin};
  cl_program prog = clCreateProgramWithBinary(ctx->cl, 1, &ctx->device, &size, bins, &bin_status, &err);
  free(bin);
  if (err == CL_SUCCESS && bin_status == CL_SUCCESS)
    err = clBuildProgram(prog, 1, &ctx->device, options, NULL, NULL);
  else if (err == CL_SUCCESS)
    err = bin_status;
  if (err != CL_SUCCESS) {
    if (prog) clReleaseProgram(prog);
    ctx->stats.rejected_disk_files++;
    return false;
  }
  *out = prog;
  ctx->stats.loaded_from_disk++;
  return true;
}

static clnn_status full_options(clnn_context *ctx, const char *options, char **out) {
  size_t n = strlen(options) + 128;
  char *s = malloc(n);
  if (!s) return clnn__fail(ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  /* Correctly rounded x / y and sqrt where the device offers them, as C and
   * CUDA compute them: OpenCL's default allows 2.5 ulp, and NVIDIA's driver
   * takes it (an average pool of integers came out 1 ulp from the reference
   * on an H200). */
  snprintf(s, n, "-cl-std=CL1.2 -DCLNN_DEVICE_CPU=%d%s %s", ctx->is_cpu ? 1 : 0,
           ctx->caps.correct_div_sqrt ? " -cl-fp32-correctly-rounded-divide-sqrt" : "", options);
  *out = s;
  return CLNN_SUCCESS;
}

static clnn_status grow(clnn_context *ctx, void **arr, int *cap, int need, size_t elem) {
  if (need <= *cap) return CLNN_SUCCESS;
  int nc = *cap ? *cap * 2 : 8;
  while (nc < need) nc *= 2;
  void *p = realloc(*arr, (size_t)nc * elem);
  if (!p) return clnn__fail(ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  memset((char *)p + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
  *arr = p;
  *cap = nc;
  return CLNN_SUCCESS;
}

/* The file names of a source list: shared.h, common.h, then each
 * space-separated name of the list, ".cl" added to a name without a dot. */
static clnn_status source_names(clnn_context *ctx, const char *list, char names[MAX_SOURCES][SOURCE_NAME_MAX],
                                int *count) {
  int n = 0;
  snprintf(names[n++], SOURCE_NAME_MAX, "shared.h");
  snprintf(names[n++], SOURCE_NAME_MAX, "common.h");
  for (const char *p = list; *p;) {
    while (*p == ' ') p++;
    size_t len = strcspn(p, " ");
    if (len == 0) break;
    if (n == MAX_SOURCES || len + 4 > SOURCE_NAME_MAX)
      return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "kernel source list '%s' is too long", list);
    bool has_dot = memchr(p, '.', len) != NULL;
    snprintf(names[n++], SOURCE_NAME_MAX, "%.*s%s", (int)len, p, has_dot ? "" : ".cl");
    p += len;
  }
  *count = n;
  return CLNN_SUCCESS;
}

/* Build (or load) the program and append its entry to ctx->programs. */
static clnn_status program_create(clnn_context *ctx, const char *sources, const char *options,
                                  clnn_program_entry **out) {
  char names[MAX_SOURCES][SOURCE_NAME_MAX];
  int nsrc = 0;
  source_text src[MAX_SOURCES] = {{0}};
  clnn_status st = source_names(ctx, sources, names, &nsrc);
  for (int i = 0; st == CLNN_SUCCESS && i < nsrc; i++) st = load_source(ctx, names[i], &src[i]);
  char *opts = NULL, *key = NULL;
  cl_program prog = NULL;
  if (st == CLNN_SUCCESS) st = full_options(ctx, options, &opts);
  if (st == CLNN_SUCCESS && !(key = make_disk_key(ctx, opts, src, nsrc)))
    st = clnn__fail(ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  uint64_t key_hash = key ? clnn__fnv1a(CLNN_FNV_INIT, key, strlen(key)) : 0;
  bool from_source = false;
  if (st == CLNN_SUCCESS && !build_from_cache(ctx, opts, key, key_hash, &prog)) {
    st = build_from_source(ctx, sources, opts, src, nsrc, &prog);
    from_source = true;
  }
  for (int i = 0; i < MAX_SOURCES; i++) free(src[i].data);
  free(opts);
  if (st == CLNN_SUCCESS)
    st = grow(ctx, (void **)&ctx->programs, &ctx->cap_programs, ctx->n_programs + 1,
              sizeof *ctx->programs);
  char *fam = NULL, *opt_copy = NULL;
  clnn_program_entry *pe = NULL;
  if (st == CLNN_SUCCESS && (!(fam = strdup(sources)) || !(opt_copy = strdup(options)) ||
                             !(pe = calloc(1, sizeof *pe))))
    st = clnn__fail(ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  if (st != CLNN_SUCCESS) {
    free(fam);
    free(opt_copy);
    free(key);
    free(pe);
    if (prog) clReleaseProgram(prog);
    return st;
  }
  ctx->programs[ctx->n_programs++] = pe;
  pe->sources = fam;
  pe->options = opt_copy;
  pe->program = prog;
  pe->disk_key = key;
  pe->key_hash = key_hash;
  pe->dirty = from_source;
  *out = pe;
  return CLNN_SUCCESS;
}

static clnn_status program_get(clnn_context *ctx, const char *sources, const char *options,
                               clnn_program_entry **out) {
  for (int i = 0; i < ctx->n_programs; i++) {
    clnn_program_entry *pe = ctx->programs[i];
    if (!strcmp(pe->sources, sources) && !strcmp(pe->options, options)) {
      ctx->stats.memory_hits++;
      *out = pe;
      return CLNN_SUCCESS;
    }
  }
  return program_create(ctx, sources, options, out);
}

/* Entries are allocated one by one, so refs stay valid for the context's life. */
clnn_status clnn__kernel(clnn_context *ctx, const char *sources, const char *options,
                         const char *name, clnn_kernel_ref *out) {
  clnn_program_entry *pe;
  CLNN_TRY(program_get(ctx, sources, options ? options : "", &pe));
  for (int i = 0; i < pe->n_kernels; i++) {
    if (!strcmp(pe->kernels[i]->name, name)) {
      out->program = pe;
      out->entry = pe->kernels[i];
      return CLNN_SUCCESS;
    }
  }
  CLNN_TRY(grow(ctx, (void **)&pe->kernels, &pe->cap_kernels, pe->n_kernels + 1, sizeof *pe->kernels));
  cl_int err;
  cl_kernel k = clCreateKernel(pe->program, name, &err);
  if (err != CL_SUCCESS) {
    return clnn__fail(ctx, err == CL_INVALID_KERNEL_NAME ? CLNN_ERR_BUILD_FAILED : CLNN_ERR_OPENCL,
                      "clCreateKernel('%s') in the program of kernels/ '%s' failed: %s (%d)", name, sources,
                      clnn__cl_error_name(err), (int)err);
  }
  clnn_kernel_entry *ke = calloc(1, sizeof *ke);
  if (!ke || !(ke->name = strdup(name))) {
    free(ke);
    clReleaseKernel(k);
    return clnn__fail(ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  }
  ke->kernel = k;
  pe->kernels[pe->n_kernels++] = ke;
  out->program = pe;
  out->entry = ke;
  return CLNN_SUCCESS;
}

void clnn__programs_release(clnn_context *ctx) {
  for (int i = 0; i < ctx->n_programs; i++) {
    clnn_program_entry *pe = ctx->programs[i];
    for (int j = 0; j < pe->n_kernels; j++) {
      clReleaseKernel(pe->kernels[j]->kernel);
      free(pe->kernels[j]->name);
      free(pe->kernels[j]->local_seen);
      free(pe->kernels[j]);
    }
    free(pe->kernels);
    clReleaseProgram(pe->program);
    free(pe->sources);
    free(pe->options);
    free(pe->disk_key);
    free(pe);
  }
  free(ctx->programs);
  ctx->programs = NULL;
  ctx->n_programs = ctx->cap_programs = 0;
}

/* ---------------------------------------------------------------- launch */

/* Remember a local size; a new one marks the program for saving again. */
static void note_local_size(clnn_context *ctx, const clnn_kernel_ref *k, cl_uint dims, const size_t *local) {
  size_t key[3] = {1, 1, 1};
  for (cl_uint d = 0; d < dims && d < 3; d++) key[d] = local ? local[d] : 0;
  clnn_kernel_entry *ke = k->entry;
  for (int i = 0; i < ke->n_local_seen; i++)
    if (!memcmp(ke->local_seen[i], key, sizeof key)) return;
  if (grow(ctx, (void **)&ke->local_seen, &ke->cap_local_seen, ke->n_local_seen + 1,
           sizeof *ke->local_seen) != CLNN_SUCCESS)
    return; /* only costs a re-save */
  memcpy(ke->local_seen[ke->n_local_seen++], key, sizeof key);
  k->program->dirty = true;
}

/* Keep the work-group size of the op's largest launch so far (its main
 * kernel) for clnn_context_last_variant. */
static void note_main_launch(clnn_context *ctx, cl_uint dims, const size_t *global, const size_t *local) {
  size_t items = 1, wg = 1;
  for (cl_uint d = 0; d < dims; d++) {
    items *= global[d];
    wg *= local ? local[d] : 1;
  }
  if (items >= ctx->last_global) {
    ctx->last_global = items;
    ctx->last_wg = wg;
  }
}

clnn_status clnn__launch(clnn_context *ctx, const clnn_kernel_ref *k, const clnn_arg *args,
                         int nargs, cl_uint dims, const size_t *global, const size_t *local,
                         const char *op) {
  if (ctx->plan_only) return CLNN_SUCCESS;
  cl_kernel kernel = k->entry->kernel;
  for (int i = 0; i < nargs; i++) {
    cl_int err = clSetKernelArg(kernel, (cl_uint)i, args[i].size, args[i].value);
    if (err != CL_SUCCESS) {
      return clnn__fail(ctx, CLNN_ERR_OPENCL, "clSetKernelArg(%s, %d) failed: %s (%d)", k->entry->name,
                        i, clnn__cl_error_name(err), (int)err);
    }
  }
  size_t g[3];
  for (cl_uint d = 0; d < dims; d++) {
    if (global[d] == 0) return CLNN_SUCCESS; /* nothing to do */
    size_t l = local ? local[d] : 1;
    g[d] = (global[d] + l - 1) / l * l;
  }
  cl_event ev = NULL;
  cl_int err = clEnqueueNDRangeKernel(ctx->queue, kernel, dims, NULL, g, local, 0, NULL,
                                      ctx->profiling ? &ev : NULL);
  if (err != CL_SUCCESS) {
    char what[160];
    snprintf(what, sizeof what, "clEnqueueNDRangeKernel(%s)", k->entry->name);
    return clnn__cl_fail(ctx, err, what);
  }
  note_local_size(ctx, k, dims, local);
  note_main_launch(ctx, dims, g, local);
  if (ev) clnn__profile_record(ctx, ev, k->entry->name, op);
  return CLNN_SUCCESS;
}
