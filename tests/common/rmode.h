/*
 * rmode.h - round trips through clnn-bench's R mode for the family suites:
 * write .npy inputs into a temporary directory, run the bench binary
 * ($CLNN_BENCH, which CTest sets) on one descriptor, read the outputs back.
 * Header-only (static inline functions, so a suite that uses only some of
 * them gets no -Wunused-function) and so included without a build change.
 * When $CLNN_BENCH is unset (a suite run by hand), rm_open() says so and
 * returns false and the caller skips the check.
 *
 * File names are given without ".npy". rm_run() and rm_read() assert
 * success; rm_run_status(), rm_bench() and rm_read_opt() hand the outcome
 * back for tests that expect a usage error or a file that is not written.
 */
#ifndef CLNN_TEST_RMODE_H
#define CLNN_TEST_RMODE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../bench/npy.h"
#include "common/testutil.h"

typedef struct rm_dir {
  char path[128];
  const char *bench;
} rm_dir;

static inline bool rm_open(rm_dir *d) {
  d->bench = getenv("CLNN_BENCH");
  if (!d->bench) {
    fprintf(stderr, "CLNN_BENCH is not set: R-mode round trip skipped\n");
    return false;
  }
  snprintf(d->path, sizeof d->path, "/tmp/clnn-test-rmode-XXXXXX");
  ck_assert(mkdtemp(d->path) != NULL);
  return true;
}

static inline void rm_close(rm_dir *d) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->path);
  ck_assert_int_eq(system(cmd), 0);
}

/* Where DIR/name.npy lies (buf holds n bytes). */
static inline void rm_path(const rm_dir *d, const char *name, char *buf, size_t n) {
  snprintf(buf, n, "%s/%s.npy", d->path, name);
}

/* Writes DIR/name.npy. */
static inline void rm_write(const rm_dir *d, const char *name, clnn_dtype dtype, int ndim, const int64_t *dims,
                            const void *data) {
  char p[256], err[256];
  rm_path(d, name, p, sizeof p);
  ck_assert_msg(npy_write(p, dtype, ndim, dims, data, err, sizeof err), "%s", err);
}

/* The data of DIR/name.npy (malloc'd), which must hold numel values of dtype,
 * or NULL when the bench wrote no such file. */
static inline void *rm_read_opt(const rm_dir *d, const char *name, clnn_dtype dtype, size_t numel) {
  char p[256], err[256];
  rm_path(d, name, p, sizeof p);
  if (access(p, F_OK) != 0) return NULL;
  npy_array a;
  ck_assert_msg(npy_read(p, &a, err, sizeof err), "%s", err);
  ck_assert_msg(a.dtype == dtype && a.numel == numel, "%s: %zu values of dtype %d, expected %zu of %d", p, a.numel,
                (int)a.dtype, numel, (int)dtype);
  return a.data;
}

/* Like rm_read_opt(), but the file must exist. */
static inline void *rm_read(const rm_dir *d, const char *name, clnn_dtype dtype, size_t numel) {
  void *data = rm_read_opt(d, name, dtype, numel);
  ck_assert_msg(data != NULL, "%s/%s.npy was not written", d->path, name);
  return data;
}

/* Deletes DIR/name.npy if it is there, so the next run starts without it. */
static inline void rm_remove(const rm_dir *d, const char *name) {
  char p[256];
  rm_path(d, name, p, sizeof p);
  unlink(p);
}

/* clnn-bench ARGS (any mode), its output going to DIR/log.txt; returns the
 * exit status, or -1 when it did not exit normally. */
static inline int rm_bench(const rm_dir *d, const char *args) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' %s > '%s/log.txt' 2>&1", d->bench, args, d->path);
  int rc = system(cmd);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* clnn-bench --mode=R --dir DIR --pass=PASS "DESC" (pass NULL: no --pass, so
 * the family's default); returns its exit status as rm_bench() does. */
static inline int rm_run_status(const rm_dir *d, const char *pass, const char *desc) {
  char args[768];
  snprintf(args, sizeof args, "--mode=R --dir '%s'%s%s \"%s\"", d->path, pass ? " --pass=" : "", pass ? pass : "",
           desc);
  return rm_bench(d, args);
}

/* rm_run_status(), which must exit 0. */
static inline void rm_run(const rm_dir *d, const char *pass, const char *desc) {
  int rc = rm_run_status(d, pass, desc);
  ck_assert_msg(rc == 0, "clnn-bench R mode failed (exit %d): --pass=%s \"%s\", log in %s/log.txt", rc,
                pass ? pass : "(default)", desc, d->path);
}

#endif
