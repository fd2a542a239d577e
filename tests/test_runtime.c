/*
 * test_runtime.c - the runtime: status texts, device choice, buffers and
 * tensors (round trips, views, wrapping caller objects, size checks), the
 * program caches (memory hit, disk hit, corrupt and foreign files rebuilt),
 * build failures with their log, and profiling.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/testutil.h"

/* ------------------------------------------------------------- helpers */

static char tmp_root[256];

static const char *tmp_dir(const char *name) {
  static char path[512];
  if (!tmp_root[0]) {
    snprintf(tmp_root, sizeof tmp_root, "/tmp/clnn-test-runtime-XXXXXX");
    ck_assert(mkdtemp(tmp_root) != NULL);
  }
  snprintf(path, sizeof path, "%s/%s", tmp_root, name);
  mkdir(path, 0755);
  return path;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[1024];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(p);
    else remove(p);
  }
  closedir(d);
  rmdir(dir);
}

/* Run a small conv on ctx and check it against the reference. */
static void conv_smoke(clnn_context *ctx) {
  clnn_conv2d_desc d = clnn_conv2d_desc_make(2, 3, 9, 7, 5, 3, 3);
  d.pad_h = d.pad_w = 1;
  float x[2 * 3 * 9 * 7], w[5 * 3 * 3 * 3], b[5], y[2 * 5 * 9 * 7], ref[2 * 5 * 9 * 7];
  tu_fill_ints(x, sizeof x / 4, 1, -3, 3);
  tu_fill_ints(w, sizeof w / 4, 2, -2, 2);
  tu_fill_ints(b, 5, 3, -2, 2);
  TU_OK(clnn_ref_conv2d_fwd(&d, x, w, b, ref));
  int64_t xd[4] = {2, 3, 9, 7}, wd[4] = {5, 3, 3, 3}, bd[1] = {5}, yd[4] = {2, 5, 9, 7};
  clnn_tensor *tx, *tw, *tb, *ty;
  ck_assert_int_eq(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, xd, &tx), CLNN_SUCCESS);
  ck_assert_int_eq(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, wd, &tw), CLNN_SUCCESS);
  ck_assert_int_eq(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, bd, &tb), CLNN_SUCCESS);
  ck_assert_int_eq(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, yd, &ty), CLNN_SUCCESS);
  ck_assert_int_eq(clnn_tensor_write(tx, x, sizeof x), CLNN_SUCCESS);
  ck_assert_int_eq(clnn_tensor_write(tw, w, sizeof w), CLNN_SUCCESS);
  ck_assert_int_eq(clnn_tensor_write(tb, b, sizeof b), CLNN_SUCCESS);
  clnn_status st = clnn_conv2d_fwd(ctx, &d, tx, tw, tb, ty);
  ck_assert_msg(st == CLNN_SUCCESS, "%s", clnn_context_errmsg(ctx));
  ck_assert_int_eq(clnn_tensor_read(ty, y, sizeof y), CLNN_SUCCESS);
  ck_assert(tu_compare("conv mb2ic3ih9iw7oc5kh3ph1", y, ref, sizeof y / 4, 0, 0, NULL));
  /* A second family, so that the context builds at least two programs
   * whatever variants the device class plans (the cache tests count them). */
  clnn_act_desc ad = clnn_act_desc_make(2, 5, 9, 7, CLNN_ACT_RELU);
  TU_OK(clnn_act_fwd(ctx, &ad, ty, ty));
  clnn_tensor_free(tx);
  clnn_tensor_free(tw);
  clnn_tensor_free(tb);
  clnn_tensor_free(ty);
}

static clnn_context *context_with_cache(const char *dir) {
  clnn_context_options o = clnn_context_options_default();
  o.cache_dir = dir;
  clnn_context *ctx;
  ck_assert_int_eq(clnn_context_create(&o, &ctx), CLNN_SUCCESS);
  return ctx;
}

/* ----------------------------------------------------------- status/ctx */

START_TEST(test_status_strings) {
  for (int s = 0; s < CLNN_STATUS_COUNT_; s++) {
    ck_assert(strlen(clnn_status_str((clnn_status)s)) > 0);
    ck_assert(!strncmp(clnn_status_name((clnn_status)s), "CLNN_", 5));
  }
  ck_assert_str_eq(clnn_status_str(CLNN_SUCCESS), "success");
  ck_assert_str_eq(clnn_status_name(CLNN_ERR_SHAPE_MISMATCH), "CLNN_ERR_SHAPE_MISMATCH");
  ck_assert_str_eq(clnn_status_str((clnn_status)-1), "unknown status");
  ck_assert_str_eq(clnn_status_str(CLNN_STATUS_COUNT_), "unknown status");
  ck_assert_str_eq(clnn_version(), "0.1.0");
  ck_assert_str_eq(clnn_activation_name(CLNN_ACT_SILU), "silu");
  ck_assert(clnn_activation_name(CLNN_ACT_COUNT_) == NULL);
}
END_TEST

START_TEST(test_device_choice) {
  clnn_context *ctx = NULL;
  clnn_context_options o = clnn_context_options_default();
  o.device_index = 999;
  TU_FAILS(CLNN_ERR_NO_DEVICE, clnn_context_create(&o, &ctx));
  ck_assert(ctx == NULL);
  ck_assert(strstr(clnn_context_errmsg(NULL), "999") != NULL);
  o = clnn_context_options_default();
  o.platform_index = 99;
  TU_FAILS(CLNN_ERR_NO_DEVICE, clnn_context_create(&o, &ctx));
  setenv("CLNN_DEVICE", "no-such-device-name", 1);
  TU_FAILS(CLNN_ERR_NO_DEVICE, clnn_context_create(NULL, &ctx));
  ck_assert(strstr(clnn_context_errmsg(NULL), "no-such-device-name") != NULL);
  /* An index too large for any device is an index, not a name that matched nothing. */
  setenv("CLNN_DEVICE", "99999999999", 1);
  TU_FAILS(CLNN_ERR_NO_DEVICE, clnn_context_create(NULL, &ctx));
  ck_assert_msg(strstr(clnn_context_errmsg(NULL), "index 99999999999 out of range"), "%s",
                clnn_context_errmsg(NULL));
  unsetenv("CLNN_DEVICE");
  setenv("CLNN_CONV_TRANSPOSE_ALGO", "bogus", 1);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_context_create(NULL, &ctx));
  unsetenv("CLNN_CONV_TRANSPOSE_ALGO");
  setenv("CLNN_OPTIM_WG", "abc", 1);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_context_create(NULL, &ctx));
  unsetenv("CLNN_OPTIM_WG");
  setenv("CLNN_DEVICE", "0", 1);
  TU_OK(clnn_context_create(NULL, &ctx));
  clnn_context_free(ctx);
  unsetenv("CLNN_DEVICE");
  setenv("CLNN_GEMM", "fastest", 1);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_context_create(NULL, &ctx));
  unsetenv("CLNN_GEMM");
  o = clnn_context_options_default();
  o.gemm = (clnn_gemm_engine)7;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_context_create(&o, &ctx));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_context_create(NULL, NULL));
  /* Frees of NULL are no-ops. */
  clnn_context_free(NULL);
  clnn_buffer_free(NULL);
  clnn_tensor_free(NULL);
  ck_assert(strlen(clnn_context_device_name(tu_ctx())) > 0);
  TU_OK(clnn_context_finish(tu_ctx()));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_context_finish(NULL));
}
END_TEST

/* ------------------------------------------------------ buffers/tensors */

START_TEST(test_buffer_round_trip) {
  clnn_context *ctx = tu_ctx();
  clnn_buffer *b;
  TU_OK(clnn_buffer_create(ctx, 1000, &b));
  ck_assert_uint_eq(clnn_buffer_size(b), 1000);
  unsigned char src[1000], dst[1000];
  for (int i = 0; i < 1000; i++) src[i] = (unsigned char)(i * 7);
  TU_OK(clnn_buffer_write(b, 0, src, 1000));
  TU_OK(clnn_buffer_read(b, 0, dst, 1000));
  ck_assert(!memcmp(src, dst, 1000));
  uint32_t pat = 0xdeadbeef;
  TU_OK(clnn_buffer_fill(b, 100, 40, &pat, 4));
  TU_OK(clnn_buffer_read(b, 96, dst, 48));
  ck_assert(!memcmp(dst, src + 96, 4));
  for (int i = 0; i < 10; i++) ck_assert(!memcmp(dst + 4 + 4 * i, &pat, 4));
  ck_assert(!memcmp(dst + 44, src + 140, 4));
  TU_FAILS(CLNN_ERR_BUFFER_TOO_SMALL, clnn_buffer_read(b, 990, dst, 20));
  TU_FAILS(CLNN_ERR_BUFFER_TOO_SMALL, clnn_buffer_write(b, (size_t)-8, src, 16));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_buffer_fill(b, 0, 12, &pat, 3));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_buffer_fill(b, 2, 12, &pat, 4));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_buffer_write(b, 0, NULL, 4));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_buffer_read(NULL, 0, dst, 4));
  /* A NULL checked before the call knows its context is still reported
   * under the call's own name, not the previous call's. */
  ck_assert_str_eq(clnn_context_errmsg(NULL), "clnn_buffer_read: argument 'buf' is NULL");
  clnn_tensor *view = NULL;
  const int64_t four = 4;
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_tensor_view(NULL, 0, CLNN_FLOAT32, 1, &four, &view));
  ck_assert_str_eq(clnn_context_errmsg(NULL), "clnn_tensor_view: argument 'buf' is NULL");
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_tensor_read(NULL, dst, 4));
  ck_assert_str_eq(clnn_context_errmsg(NULL), "clnn_tensor_read: argument 't' is NULL");
  clnn_buffer_free(b);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_buffer_create(ctx, 0, &b));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_buffer_create(ctx, 16, NULL));
}
END_TEST

/* The memory counts follow buffers, views and wrapped memory. */
START_TEST(test_memory_stats) {
  clnn_context *ctx = tu_ctx();
  clnn_memory_stats m0, m;
  TU_OK(clnn_context_memory(ctx, &m0));
  clnn_context_reset_peak(ctx);
  clnn_buffer *a, *b;
  TU_OK(clnn_buffer_create(ctx, 4000, &a));
  TU_OK(clnn_buffer_create(ctx, 1000, &b));
  clnn_tensor *view;
  int64_t d = 10;
  TU_OK(clnn_tensor_view(a, 0, CLNN_FLOAT32, 1, &d, &view));
  TU_OK(clnn_context_memory(ctx, &m));
  ck_assert_uint_eq(m.current_bytes, m0.current_bytes + 5000);
  ck_assert_uint_eq(m.peak_bytes, m0.current_bytes + 5000);
  clnn_buffer_free(a); /* the view keeps it */
  TU_OK(clnn_context_memory(ctx, &m));
  ck_assert_uint_eq(m.current_bytes, m0.current_bytes + 5000);
  clnn_tensor_free(view);
  clnn_buffer_free(b);
  TU_OK(clnn_context_memory(ctx, &m));
  ck_assert_uint_eq(m.current_bytes, m0.current_bytes);
  ck_assert_uint_eq(m.peak_bytes, m0.current_bytes + 5000);
  clnn_context_reset_peak(ctx);
  TU_OK(clnn_context_memory(ctx, &m));
  ck_assert_uint_eq(m.peak_bytes, m0.current_bytes);
  /* a wrapped cl_mem is the caller's: not counted */
  cl_int err;
  cl_mem mem = clCreateBuffer(clnn_context_cl_context(ctx), CL_MEM_READ_WRITE, 4096, NULL, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  TU_OK(clnn_buffer_wrap(ctx, mem, &a));
  TU_OK(clnn_context_memory(ctx, &m));
  ck_assert_uint_eq(m.current_bytes, m0.current_bytes);
  clnn_buffer_free(a);
  clReleaseMemObject(mem);
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_context_memory(ctx, NULL));
}
END_TEST

/* A tensor that outlives its context (clnn_tensor_read after
 * clnn_context_free was a use-after-free): still readable, then freed. */
START_TEST(test_tensor_outlives_context) {
  clnn_context *ctx = context_with_cache("");
  int64_t dims[1] = {5};
  float src[5] = {1, 2, 3, 4, 5}, dst[5] = {0};
  clnn_tensor *t, *view;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 1, dims, &t));
  TU_OK(clnn_tensor_write(t, src, sizeof src));
  int64_t two[1] = {2};
  TU_OK(clnn_tensor_view(clnn_tensor_buffer(t), 8, CLNN_FLOAT32, 1, two, &view));
  clnn_context_free(ctx);
  TU_OK(clnn_tensor_read(t, dst, sizeof dst));
  ck_assert(!memcmp(src, dst, sizeof src));
  clnn_tensor_free(t);
  TU_OK(clnn_tensor_read(view, dst, 2 * sizeof(float)));
  ck_assert(dst[0] == 3 && dst[1] == 4);
  clnn_tensor_free(view); /* the last one: the context goes with it (LeakSanitizer checks) */
}
END_TEST

START_TEST(test_device_out_of_memory) {
  clnn_context *ctx = tu_ctx();
  clnn_buffer *b = NULL;
  clnn_status st = clnn_buffer_create(ctx, (size_t)1 << 50, &b);
  ck_assert_msg(st == CLNN_ERR_DEVICE_OUT_OF_MEMORY, "got %s", clnn_status_name(st));
  ck_assert(b == NULL);
  ck_assert(strstr(clnn_context_errmsg(ctx), "bytes") != NULL);
  int64_t dims[2] = {(int64_t)1 << 24, (int64_t)1 << 24}; /* 2^48 floats */
  clnn_tensor *t = NULL;
  TU_FAILS(CLNN_ERR_DEVICE_OUT_OF_MEMORY, clnn_tensor_create(ctx, CLNN_FLOAT32, 2, dims, &t));
}
END_TEST

START_TEST(test_tensor_shapes_and_views) {
  clnn_context *ctx = tu_ctx();
  int64_t dims[3] = {2, 3, 5};
  clnn_tensor *t;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 3, dims, &t));
  ck_assert_int_eq(clnn_tensor_ndim(t), 3);
  ck_assert_int_eq(clnn_tensor_dim(t, 2), 5);
  ck_assert_int_eq(clnn_tensor_dim(t, 3), 0);
  ck_assert_uint_eq(clnn_tensor_numel(t), 30);
  ck_assert_uint_eq(clnn_tensor_bytes(t), 120);
  float v[30], r[30];
  for (int i = 0; i < 30; i++) v[i] = (float)i - 7.5f;
  TU_OK(clnn_tensor_write(t, v, sizeof v));
  TU_OK(clnn_tensor_read(t, r, sizeof r));
  ck_assert(!memcmp(v, r, sizeof v));
  TU_FAILS(CLNN_ERR_BUFFER_TOO_SMALL, clnn_tensor_read(t, r, 100));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_tensor_write(t, v, 124));
  TU_OK(clnn_tensor_fill(t, 2.5f));
  TU_OK(clnn_tensor_read(t, r, sizeof r));
  for (int i = 0; i < 30; i++) ck_assert(r[i] == 2.5f);
  /* A view into the middle of the tensor's buffer sees the same memory. */
  int64_t vd[1] = {4};
  clnn_tensor *view;
  TU_OK(clnn_tensor_view(clnn_tensor_buffer(t), 8 * sizeof(float), CLNN_FLOAT32, 1, vd, &view));
  float four[4] = {1, 2, 3, 4};
  TU_OK(clnn_tensor_write(view, four, sizeof four));
  clnn_tensor_free(t); /* the view keeps the buffer alive */
  TU_OK(clnn_tensor_read(view, r, sizeof four));
  ck_assert(!memcmp(r, four, sizeof four));
  ck_assert_uint_eq(clnn_tensor_offset_bytes(view), 32);
  int64_t big[1] = {40};
  clnn_tensor *bad = NULL;
  TU_FAILS(CLNN_ERR_BUFFER_TOO_SMALL, clnn_tensor_view(clnn_tensor_buffer(view), 0, CLNN_FLOAT32, 1, big, &bad));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_tensor_view(clnn_tensor_buffer(view), 2, CLNN_FLOAT32, 1, vd, &bad));
  clnn_tensor_free(view);
  /* Bad shapes. */
  int64_t neg[2] = {3, -1}, zero[2] = {3, 0}, huge[3] = {(int64_t)1 << 40, (int64_t)1 << 40, 16};
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_tensor_create(ctx, CLNN_FLOAT32, 2, neg, &bad));
  /* An empty tensor, as PyTorch allows: created, read, written and filled
   * without touching the device. */
  clnn_tensor *empty;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 2, zero, &empty));
  ck_assert_uint_eq(clnn_tensor_numel(empty), 0);
  ck_assert_uint_eq(clnn_tensor_bytes(empty), 0);
  TU_OK(clnn_tensor_write(empty, NULL, 0));
  TU_OK(clnn_tensor_read(empty, NULL, 0));
  TU_OK(clnn_tensor_fill(empty, 1.0f));
  float one = 1.0f;
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_tensor_read(empty, &one, sizeof one));
  clnn_tensor_free(empty);
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_tensor_create(ctx, CLNN_FLOAT32, 0, dims, &bad));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_tensor_create(ctx, CLNN_FLOAT32, 9, dims, &bad));
  TU_FAILS(CLNN_ERR_INVALID_VALUE, clnn_tensor_create(ctx, (clnn_dtype)5, 1, dims, &bad));
  TU_FAILS(CLNN_ERR_SIZE_OVERFLOW, clnn_tensor_create(ctx, CLNN_FLOAT32, 3, huge, &bad));
  TU_FAILS(CLNN_ERR_NULL_POINTER, clnn_tensor_create(ctx, CLNN_FLOAT32, 1, NULL, &bad));
  ck_assert(bad == NULL);
  /* int32 tensors fill with integers. */
  clnn_tensor *ti;
  TU_OK(clnn_tensor_create(ctx, CLNN_INT32, 1, vd, &ti));
  TU_OK(clnn_tensor_fill(ti, -3.0f));
  int32_t iv[4];
  TU_OK(clnn_tensor_read(ti, iv, sizeof iv));
  for (int i = 0; i < 4; i++) ck_assert_int_eq(iv[i], -3);
  ck_assert_int_eq(clnn_tensor_dtype(ti), CLNN_INT32);
  clnn_tensor_free(ti);
}
END_TEST

/* A caller's cl_context, queue and cl_mem, used without copies. */
START_TEST(test_wrap_caller_objects) {
  cl_device_id dev = clnn_context_cl_device(tu_ctx());
  cl_int err;
  cl_context cl = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  cl_command_queue q = clCreateCommandQueue(cl, dev, 0, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  clnn_context *ctx;
  TU_OK(clnn_context_wrap(cl, q, NULL, &ctx));
  ck_assert(clnn_context_cl_context(ctx) == cl);
  ck_assert(clnn_context_cl_queue(ctx) == q);
  conv_smoke(ctx);
  /* A caller's cl_mem with an offset: write through OpenCL, read through clnn. */
  float host[64];
  for (int i = 0; i < 64; i++) host[i] = (float)i;
  cl_mem mem = clCreateBuffer(cl, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, sizeof host, host, &err);
  ck_assert_int_eq(err, CL_SUCCESS);
  int64_t dims[2] = {4, 8};
  clnn_tensor *t;
  ck_assert_int_eq(clnn_tensor_wrap(ctx, mem, 16 * sizeof(float), CLNN_FLOAT32, 2, dims, &t), CLNN_SUCCESS);
  float got[32];
  ck_assert_int_eq(clnn_tensor_read(t, got, sizeof got), CLNN_SUCCESS);
  for (int i = 0; i < 32; i++) ck_assert(got[i] == (float)(16 + i));
  clnn_tensor_free(t);
  clnn_tensor *bad = NULL;
  ck_assert_int_eq(clnn_tensor_wrap(ctx, mem, 40 * sizeof(float), CLNN_FLOAT32, 2, dims, &bad),
                   CLNN_ERR_BUFFER_TOO_SMALL);
  /* A cl_mem of another OpenCL context is refused. */
  ck_assert_int_eq(clnn_tensor_wrap(tu_ctx(), mem, 0, CLNN_FLOAT32, 2, dims, &bad), CLNN_ERR_CONTEXT_MISMATCH);
  clReleaseMemObject(mem); /* the library holds no reference after the tensor is gone */
  clnn_context_free(ctx);
  /* The caller's objects are still theirs and alive. */
  ck_assert_int_eq(clFinish(q), CL_SUCCESS);
  /* An out-of-order queue is refused. */
  cl_command_queue ooo = clCreateCommandQueue(cl, dev, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
  if (err == CL_SUCCESS) {
    ck_assert_int_eq(clnn_context_wrap(cl, ooo, NULL, &ctx), CLNN_ERR_INVALID_VALUE);
    clReleaseCommandQueue(ooo);
  }
  ck_assert_int_eq(clnn_context_wrap(NULL, q, NULL, &ctx), CLNN_ERR_NULL_POINTER);
  clReleaseCommandQueue(q);
  clReleaseContext(cl);
}
END_TEST

/* --------------------------------------------------------------- caches */

START_TEST(test_program_caches) {
  const char *dir = tmp_dir("cache");
  clnn_cache_stats s;
  clnn_context *a = context_with_cache(dir);
  conv_smoke(a);
  TU_OK(clnn_context_cache_stats(a, &s));
  ck_assert_int_ge(s.built_from_source, 1);
  int built = s.built_from_source;
  conv_smoke(a); /* same programs: memory cache */
  TU_OK(clnn_context_cache_stats(a, &s));
  ck_assert_int_eq(s.built_from_source, built);
  ck_assert_int_ge(s.memory_hits, 1);
  clnn_context_free(a); /* saves the binaries */
  clnn_context *b = context_with_cache(dir);
  conv_smoke(b);
  TU_OK(clnn_context_cache_stats(b, &s));
  ck_assert_int_eq(s.built_from_source, 0);
  ck_assert_int_eq(s.loaded_from_disk, built);
  clnn_context_free(b);
}
END_TEST

/* Apply f to every cache file in dir. */
static int for_each_file(const char *dir, void (*f)(const char *path, int index)) {
  DIR *d = opendir(dir);
  ck_assert(d != NULL);
  struct dirent *e;
  char p[1024];
  int n = 0;
  while ((e = readdir(d))) {
    if (!strstr(e->d_name, ".clbin")) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    f(p, n++);
  }
  closedir(d);
  return n;
}

static bool correct_div_wanted;
static void check_div_option(const char *path, int index) {
  (void)index;
  FILE *f = fopen(path, "rb");
  ck_assert(f != NULL);
  char head[4096];
  size_t n = fread(head, 1, sizeof head, f);
  fclose(f);
  const char *opt = "-cl-fp32-correctly-rounded-divide-sqrt";
  bool has = false; /* the key sits in a binary header: search past NUL bytes */
  for (size_t i = 0; !has && i + strlen(opt) <= n; i++) has = !memcmp(head + i, opt, strlen(opt));
  ck_assert_msg(has == correct_div_wanted, "%s: correctly rounded division %s in the build options", path,
                has ? "asked for, but the device does not offer it" : "missing, though the device offers it");
}

/* Programs ask for correctly rounded division and sqrt wherever the device
 * offers them (found on an H200, whose default division is 1 ulp off C's). */
START_TEST(test_correct_division_asked) {
  const char *dir = tmp_dir("div");
  clnn_context *a = context_with_cache(dir);
  cl_device_fp_config fp = 0;
  clGetDeviceInfo(clnn_context_cl_device(a), CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
  correct_div_wanted = (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;
  conv_smoke(a);
  clnn_context_free(a); /* saves the binaries with their build options */
  ck_assert_int_ge(for_each_file(dir, check_div_option), 1);
}
END_TEST

static void corrupt(const char *path, int index) {
  FILE *f = fopen(path, "r+b");
  ck_assert(f != NULL);
  if (index % 2 == 0) {
    fseek(f, 200, SEEK_SET); /* flip bytes in the middle of the binary */
    fputc(0x5a, f);
    fputc(0xa5, f);
    fclose(f);
  } else {
    fclose(f);
    ck_assert_int_eq(truncate(path, 40), 0); /* cut short */
  }
}

START_TEST(test_corrupt_cache_rebuilt) {
  const char *dir = tmp_dir("corrupt");
  clnn_context *a = context_with_cache(dir);
  conv_smoke(a);
  clnn_context_free(a);
  int files = for_each_file(dir, corrupt);
  ck_assert_int_ge(files, 1);
  clnn_cache_stats s;
  clnn_context *b = context_with_cache(dir);
  conv_smoke(b); /* still right */
  TU_OK(clnn_context_cache_stats(b, &s));
  ck_assert_int_eq(s.rejected_disk_files, files);
  ck_assert_int_eq(s.loaded_from_disk, 0);
  ck_assert_int_eq(s.built_from_source, files);
  clnn_context_free(b); /* rewrites them */
  clnn_context *c = context_with_cache(dir);
  conv_smoke(c);
  TU_OK(clnn_context_cache_stats(c, &s));
  ck_assert_int_eq(s.loaded_from_disk, files);
  clnn_context_free(c);
}
END_TEST

static char first_file[1024];
static void remember_first(const char *path, int index) {
  if (index == 0) snprintf(first_file, sizeof first_file, "%s", path);
}
static void overwrite_with_first(const char *path, int index) {
  if (index == 0) return;
  FILE *in = fopen(first_file, "rb"), *out = fopen(path, "wb");
  ck_assert(in && out);
  int ch;
  while ((ch = fgetc(in)) != EOF) fputc(ch, out);
  fclose(in);
  fclose(out);
}

/* A whole, valid file made for another key must not be used. */
START_TEST(test_foreign_cache_file_rebuilt) {
  const char *dir = tmp_dir("foreign");
  clnn_context *a = context_with_cache(dir);
  conv_smoke(a);
  clnn_context_free(a);
  int files = for_each_file(dir, remember_first);
  ck_assert_int_ge(files, 2);
  for_each_file(dir, overwrite_with_first);
  clnn_cache_stats s;
  clnn_context *b = context_with_cache(dir);
  conv_smoke(b);
  TU_OK(clnn_context_cache_stats(b, &s));
  ck_assert_int_eq(s.rejected_disk_files, files - 1);
  ck_assert_int_eq(s.loaded_from_disk, 1);
  clnn_context_free(b);
}
END_TEST

START_TEST(test_disabled_cache) {
  clnn_context *a = context_with_cache("");
  conv_smoke(a);
  clnn_cache_stats s;
  TU_OK(clnn_context_save_cache(a));
  TU_OK(clnn_context_cache_stats(a, &s));
  ck_assert_int_eq(s.saved_to_disk, 0);
  clnn_context_free(a);
}
END_TEST

/* ------------------------------------------------ what the cache trusts */

/* Anyone who could write the cache folder could make the library run their
 * binaries (one compiled with ACT=1 under the ACT=0 key made conv apply a
 * ReLU): a folder that group or others can write is not used at all. */
START_TEST(test_cache_folder_writable_by_others_unused) {
  const char *dir = tmp_dir("shared-cache");
  ck_assert(chmod(dir, 0777) == 0);
  clnn_context *a = context_with_cache(dir);
  conv_smoke(a);
  TU_OK(clnn_context_save_cache(a));
  clnn_cache_stats s;
  TU_OK(clnn_context_cache_stats(a, &s));
  ck_assert_int_eq(s.saved_to_disk, 0);
  ck_assert_int_eq(s.loaded_from_disk, 0);
  ck_assert_msg(strstr(s.disk_cache_off, dir) && strstr(s.disk_cache_off, "writable by others"), "reason: '%s'",
                s.disk_cache_off);
  clnn_context_free(a);
  ck_assert_int_eq(for_each_file(dir, remember_first), 0);
  /* Group-writable: the same. */
  ck_assert(chmod(dir, 0770) == 0);
  clnn_context *b = context_with_cache(dir);
  conv_smoke(b);
  TU_OK(clnn_context_cache_stats(b, &s));
  ck_assert_msg(strstr(s.disk_cache_off, "writable by its group"), "reason: '%s'", s.disk_cache_off);
  clnn_context_free(b);
  ck_assert_int_eq(for_each_file(dir, remember_first), 0);
  /* A private folder is used, and says nothing. */
  ck_assert(chmod(dir, 0700) == 0);
  clnn_context *c = context_with_cache(dir);
  conv_smoke(c);
  TU_OK(clnn_context_save_cache(c));
  TU_OK(clnn_context_cache_stats(c, &s));
  ck_assert_str_eq(s.disk_cache_off, "");
  ck_assert_int_ge(s.saved_to_disk, 1);
  clnn_context_free(c);
}
END_TEST

/* A new cache folder is made private to the user. */
START_TEST(test_cache_folder_made_private) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s/new/cache", tmp_dir("made"));
  clnn_context *a = context_with_cache(dir);
  conv_smoke(a);
  clnn_context_free(a);
  struct stat st;
  ck_assert(stat(dir, &st) == 0);
  ck_assert_int_eq(st.st_mode & 0777, 0700);
}
END_TEST

static char plant_dir[600];
static int planted;
/* In plant_dir, put a symbolic link (index even) or a FIFO (odd) under the
 * name of a real cache file, and a link under the temporary name an earlier
 * version wrote through (<file>.tmp.<pid>); the links point to a victim. */
static void plant(const char *path, int index) {
  const char *name = strrchr(path, '/') + 1;
  char p[1200], victim[700], tmpname[1300];
  snprintf(victim, sizeof victim, "%s/victim", plant_dir);
  snprintf(p, sizeof p, "%s/%s", plant_dir, name);
  if (index % 2 == 0) ck_assert(symlink(victim, p) == 0);
  else ck_assert(mkfifo(p, 0600) == 0);
  snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", p, (long)getpid());
  ck_assert(symlink(victim, tmpname) == 0);
  planted++;
}

/* Cache files that are links or FIFOs are not followed, not opened (a FIFO
 * hung the process) and not written through. */
START_TEST(test_cache_links_and_fifos_refused) {
  char src[600]; /* tmp_dir's buffer is reused below */
  snprintf(src, sizeof src, "%s", tmp_dir("plant-src"));
  clnn_context *a = context_with_cache(src);
  conv_smoke(a);
  clnn_context_free(a);
  snprintf(plant_dir, sizeof plant_dir, "%s", tmp_dir("plant"));
  char victim[700];
  snprintf(victim, sizeof victim, "%s/victim", plant_dir);
  FILE *v = fopen(victim, "w");
  ck_assert(v != NULL);
  fputs("do not touch", v);
  fclose(v);
  planted = 0;
  for_each_file(src, plant);
  ck_assert_int_ge(planted, 2);
  clnn_context *b = context_with_cache(plant_dir);
  conv_smoke(b);
  clnn_cache_stats s;
  TU_OK(clnn_context_cache_stats(b, &s));
  ck_assert_int_eq(s.loaded_from_disk, 0);
  ck_assert_int_eq(s.rejected_disk_files, planted);
  clnn_context_free(b); /* tries to save: must not write through a link */
  char text[64] = "";
  v = fopen(victim, "r");
  ck_assert(v != NULL && fgets(text, sizeof text, v));
  fclose(v);
  ck_assert_str_eq(text, "do not touch");
}
END_TEST

/* CLNN_KERNEL_DIR: a FIFO in place of a source is an error, not a hang, and
 * a folder others can write is not read. */
START_TEST(test_kernel_dir_checks) {
  const char *kdir = tmp_dir("kernels-fifo");
  char path[1024];
  snprintf(path, sizeof path, "%s/shared.h", kdir);
  ck_assert(mkfifo(path, 0600) == 0);
  setenv("CLNN_KERNEL_DIR", kdir, 1);
  clnn_context *ctx = context_with_cache("");
  clnn_act_desc ad = clnn_act_desc_make(1, 1, 2, 2, CLNN_ACT_RELU);
  int64_t dims[4] = {1, 1, 2, 2};
  clnn_tensor *t;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, dims, &t));
  ck_assert_int_eq(clnn_act_fwd(ctx, &ad, t, t), CLNN_ERR_IO);
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "not a regular file"), "%s", clnn_context_errmsg(ctx));
  clnn_tensor_free(t);
  clnn_context_free(ctx);
  ck_assert(chmod(kdir, 0777) == 0);
  ctx = context_with_cache("");
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, dims, &t));
  ck_assert_int_eq(clnn_act_fwd(ctx, &ad, t, t), CLNN_ERR_IO);
  ck_assert_msg(strstr(clnn_context_errmsg(ctx), "writable by others"), "%s", clnn_context_errmsg(ctx));
  unsetenv("CLNN_KERNEL_DIR");
  clnn_tensor_free(t);
  clnn_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------- threads */

/* Each thread creates its own context, runs a convolution and frees it,
 * ROUNDS times; PoCL 3.1 crashed when two threads created their first
 * contexts at once. Every result must be the same bits. */
#define THREADS 4
#define ROUNDS 50
typedef struct thread_job {
  float y[2 * 5 * 9 * 7];
  int failures;
  char msg[256];
} thread_job;

static void *thread_rounds(void *arg) {
  thread_job *job = arg;
  clnn_conv2d_desc d = clnn_conv2d_desc_make(2, 3, 9, 7, 5, 3, 3);
  d.pad_h = d.pad_w = 1;
  float x[2 * 3 * 9 * 7], w[5 * 3 * 3 * 3];
  tu_fill_uniform(x, sizeof x / 4, 11, -1, 1);
  tu_fill_uniform(w, sizeof w / 4, 12, -1, 1);
  int64_t xd[4] = {2, 3, 9, 7}, wd[4] = {5, 3, 3, 3}, yd[4] = {2, 5, 9, 7};
  for (int r = 0; r < ROUNDS; r++) {
    clnn_context_options o = clnn_context_options_default();
    o.cache_dir = "";
    clnn_context *ctx = NULL;
    clnn_tensor *tx = NULL, *tw = NULL, *ty = NULL;
    float y[2 * 5 * 9 * 7];
    clnn_status st = clnn_context_create(&o, &ctx);
    if (st == CLNN_SUCCESS) st = clnn_tensor_create(ctx, CLNN_FLOAT32, 4, xd, &tx);
    if (st == CLNN_SUCCESS) st = clnn_tensor_create(ctx, CLNN_FLOAT32, 4, wd, &tw);
    if (st == CLNN_SUCCESS) st = clnn_tensor_create(ctx, CLNN_FLOAT32, 4, yd, &ty);
    if (st == CLNN_SUCCESS) st = clnn_tensor_write(tx, x, sizeof x);
    if (st == CLNN_SUCCESS) st = clnn_tensor_write(tw, w, sizeof w);
    if (st == CLNN_SUCCESS) st = clnn_conv2d_fwd(ctx, &d, tx, tw, NULL, ty);
    if (st == CLNN_SUCCESS) st = clnn_tensor_read(ty, y, sizeof y);
    if (st != CLNN_SUCCESS) {
      job->failures++;
      snprintf(job->msg, sizeof job->msg, "%s", clnn_context_errmsg(ctx));
    } else if (r == 0) {
      memcpy(job->y, y, sizeof y);
    } else if (memcmp(job->y, y, sizeof y)) {
      job->failures++;
      snprintf(job->msg, sizeof job->msg, "round %d gave other bits", r);
    }
    clnn_tensor_free(tx);
    clnn_tensor_free(tw);
    clnn_tensor_free(ty);
    clnn_context_free(ctx);
  }
  return NULL;
}

START_TEST(test_threads_own_contexts) {
  static thread_job jobs[THREADS];
  pthread_t th[THREADS];
  memset(jobs, 0, sizeof jobs);
  for (int i = 0; i < THREADS; i++) ck_assert_int_eq(pthread_create(&th[i], NULL, thread_rounds, &jobs[i]), 0);
  for (int i = 0; i < THREADS; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
  for (int i = 0; i < THREADS; i++) {
    ck_assert_msg(jobs[i].failures == 0, "thread %d: %d failures, %s", i, jobs[i].failures, jobs[i].msg);
    ck_assert_msg(!memcmp(jobs[i].y, jobs[0].y, sizeof jobs[0].y), "thread %d gave other bits", i);
  }
}
END_TEST

/* A kernel that does not compile: BUILD_FAILED with the compiler's log. */
START_TEST(test_build_failure_has_log) {
  const char *kdir = tmp_dir("kernels");
  char path[1024];
  FILE *f;
  /* A broken common.h breaks every family's program (shared.h, read first, is empty). */
  static const char *const files[] = {"common.h",
                                      "shared.h",
                                      "gemm.cl",
                                      "gemm_gpu.h",
                                      "gemm_gpu.cl",
                                      "conv/common.h",
                                      "conv/support.cl",
                                      "conv/im2col.cl",
                                      "conv/packed_gemm.cl",
                                      "conv/direct_band.cl",
                                      "conv/grouped_direct.cl",
                                      "conv/gemm_1x1.cl",
                                      "conv/depthwise_flat.cl",
                                      "conv/depthwise_strips.cl",
                                      "conv/depthwise_gpu.cl",
                                      "conv/implicit_gemm_gpu.cl"};
  snprintf(path, sizeof path, "%s/conv", kdir);
  ck_assert(mkdir(path, 0700) == 0 || errno == EEXIST);
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", kdir, files[i]);
    f = fopen(path, "w");
    ck_assert(f != NULL);
    if (i == 0) fputs("__kernel void broken(__global float *x) { x[0] = undefined_thing_42; }\n", f);
    fclose(f);
  }
  setenv("CLNN_KERNEL_DIR", kdir, 1);
  clnn_context *ctx = context_with_cache("");
  clnn_conv2d_desc d = clnn_conv2d_desc_make(1, 2, 5, 5, 2, 3, 3);
  int64_t xd[4] = {1, 2, 5, 5}, wd[4] = {2, 2, 3, 3}, yd[4] = {1, 2, 3, 3};
  clnn_tensor *x, *w, *y;
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, xd, &x));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, wd, &w));
  TU_OK(clnn_tensor_create(ctx, CLNN_FLOAT32, 4, yd, &y));
  clnn_status st = clnn_conv2d_fwd(ctx, &d, x, w, NULL, y);
  unsetenv("CLNN_KERNEL_DIR");
  ck_assert_int_eq(st, CLNN_ERR_BUILD_FAILED);
  const char *msg = clnn_context_errmsg(ctx);
  ck_assert_msg(strstr(msg, "build log") && strstr(msg, "undefined_thing_42"), "message: %s", msg);
  ck_assert(strstr(msg, "clnn_conv2d_fwd") == msg);
  /* A missing CLNN_KERNEL_DIR is an IO error naming it. */
  setenv("CLNN_KERNEL_DIR", "/nonexistent-clnn-dir", 1);
  clnn_context *ctx2 = context_with_cache("");
  clnn_tensor *x2, *w2, *y2;
  TU_OK(clnn_tensor_create(ctx2, CLNN_FLOAT32, 4, xd, &x2));
  TU_OK(clnn_tensor_create(ctx2, CLNN_FLOAT32, 4, wd, &w2));
  TU_OK(clnn_tensor_create(ctx2, CLNN_FLOAT32, 4, yd, &y2));
  ck_assert_int_eq(clnn_conv2d_fwd(ctx2, &d, x2, w2, NULL, y2), CLNN_ERR_IO);
  ck_assert_msg(strstr(clnn_context_errmsg(ctx2), "/nonexistent-clnn-dir") != NULL, "%s", clnn_context_errmsg(ctx2));
  unsetenv("CLNN_KERNEL_DIR");
  clnn_tensor_free(x);
  clnn_tensor_free(w);
  clnn_tensor_free(y);
  clnn_tensor_free(x2);
  clnn_tensor_free(w2);
  clnn_tensor_free(y2);
  clnn_context_free(ctx);
  clnn_context_free(ctx2);
}
END_TEST

/* ---------------------------------------------------------------- tuning */

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ck_assert(f != NULL);
  fputs(text, f);
  fclose(f);
}

/* CLNN_TUNE_FILE: the device's section is used (device name before vendor
 * before default), a bad table fails context creation naming the line. */
START_TEST(test_tune_file) {
  const char *dir = tmp_dir("tune");
  char path[1024];
  snprintf(path, sizeof path, "%s/table.txt", dir);
  clnn_context *ctx = NULL;
  char table[2048];
  snprintf(table, sizeof table,
           "# test table\n[vendor no-such-vendor]\ngemm.plain = clblast\n[default]\ngemm.tile_small = 32 32 8 8 8\n"
           "[device %s]\ngemm.tile_small = 64 32 16 16 8  # a comment\n",
           clnn_context_device_name(tu_ctx()));
  write_text(path, table);
  setenv("CLNN_TUNE_FILE", path, 1);
  TU_OK(clnn_context_create(NULL, &ctx));
  ck_assert_msg(strstr(clnn_context_tuning(ctx), "[device ") != NULL, "%s", clnn_context_tuning(ctx));
  conv_smoke(ctx); /* the tile must work wherever the GPU engine runs */
  clnn_context_free(ctx);
  static const char *const bad[] = {"[default]\ngemm.tile_small = 64 64 16 16\n",
                                    "[default]\ngemm.tile_small = 64 64 16 16 24\n",
                                    "[default]\ngemm.plain = fastest\n", "[default]\nno equals sign\n",
                                    "[default]\ngemm.bogus = 1\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    write_text(path, bad[i]);
    ck_assert_int_eq(clnn_context_create(NULL, &ctx), CLNN_ERR_INVALID_VALUE);
    ck_assert(ctx == NULL);
    ck_assert_msg(strstr(clnn_context_errmsg(NULL), "line 2") != NULL, "%s", clnn_context_errmsg(NULL));
  }
  snprintf(path, sizeof path, "%s/missing.txt", dir);
  setenv("CLNN_TUNE_FILE", path, 1);
  ck_assert_int_eq(clnn_context_create(NULL, &ctx), CLNN_ERR_IO);
  unsetenv("CLNN_TUNE_FILE");
  TU_OK(clnn_context_create(NULL, &ctx));
  ck_assert_str_eq(clnn_context_tuning(ctx), "built-in [default]");
  clnn_context_free(ctx);
}
END_TEST

/* ------------------------------------------------------------ profiling */

START_TEST(test_profiling) {
  size_t n = 0;
  TU_FAILS(CLNN_ERR_UNSUPPORTED, clnn_profile_get(tu_ctx(), NULL, 0, &n));
  clnn_context_options o = clnn_context_options_default();
  o.profiling = 1;
  clnn_context *ctx;
  TU_OK(clnn_context_create(&o, &ctx));
  conv_smoke(ctx);
  ck_assert_int_eq(clnn_profile_get(ctx, NULL, 0, &n), CLNN_SUCCESS);
  ck_assert_uint_ge(n, 1);
  clnn_profile_entry e[16];
  ck_assert_int_eq(clnn_profile_get(ctx, e, 16, &n), CLNN_SUCCESS);
  bool saw_conv = false;
  for (size_t i = 0; i < n && i < 16; i++) {
    ck_assert(e[i].ms >= 0.0);
    ck_assert(strlen(e[i].kernel) > 0);
    saw_conv |= strncmp(e[i].op, "conv2d_fwd:", 11) == 0;
  }
  ck_assert(saw_conv);
  ck_assert_int_eq(clnn_profile_reset(ctx), CLNN_SUCCESS);
  ck_assert_int_eq(clnn_profile_get(ctx, NULL, 0, &n), CLNN_SUCCESS);
  ck_assert_uint_eq(n, 0);
  clnn_context_free(ctx);
}
END_TEST

static Suite *runtime_suite(void) {
  Suite *s = suite_create("runtime");
  TCase *tc = tcase_create("runtime");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_status_strings);
  tcase_add_test(tc, test_device_choice);
  tcase_add_test(tc, test_buffer_round_trip);
  tcase_add_test(tc, test_memory_stats);
  tcase_add_test(tc, test_device_out_of_memory);
  tcase_add_test(tc, test_tensor_outlives_context);
  tcase_add_test(tc, test_tensor_shapes_and_views);
  tcase_add_test(tc, test_wrap_caller_objects);
  tcase_add_test(tc, test_program_caches);
  tcase_add_test(tc, test_correct_division_asked);
  tcase_add_test(tc, test_tune_file);
  tcase_add_test(tc, test_corrupt_cache_rebuilt);
  tcase_add_test(tc, test_foreign_cache_file_rebuilt);
  tcase_add_test(tc, test_disabled_cache);
  tcase_add_test(tc, test_build_failure_has_log);
  tcase_add_test(tc, test_cache_folder_writable_by_others_unused);
  tcase_add_test(tc, test_cache_folder_made_private);
  tcase_add_test(tc, test_cache_links_and_fifos_refused);
  tcase_add_test(tc, test_kernel_dir_checks);
  tcase_add_test(tc, test_threads_own_contexts);
  tcase_add_test(tc, test_profiling);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  int rc = tu_run(runtime_suite());
  if (tmp_root[0]) remove_tree(tmp_root);
  return rc;
}
