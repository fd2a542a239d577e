/*
 * rmode.h - round trips through clnn-bench's R mode for the family suites:
 * write .npy inputs into a temporary directory, run the bench binary
 * ($CLNN_BENCH, which CTest sets) on one descriptor, read the outputs back.
 * Header-only (static functions) so a suite includes it without a build
 * change. When $CLNN_BENCH is unset (a suite run by hand), rm_open() says
 * so and returns false and the caller skips the check.
 */
#ifndef CLNN_TEST_RMODE_H
#define CLNN_TEST_RMODE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../bench/npy.h"
#include "common/testutil.h"

typedef struct rm_dir {
  char path[128];
  const char *bench;
} rm_dir;

static bool rm_open(rm_dir *d) {
  d->bench = getenv("CLNN_BENCH");
  if (!d->bench) {
    fprintf(stderr, "CLNN_BENCH is not set: R-mode round trip skipped\n");
    return false;
  }
  snprintf(d->path, sizeof d->path, "/tmp/clnn-test-rmode-XXXXXX");
  ck_assert(mkdtemp(d->path) != NULL);
  return true;
}

static void rm_close(rm_dir *d) {
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->path);
  ck_assert_int_eq(system(cmd), 0);
}

static void rm_write(const rm_dir *d, const char *name, clnn_dtype dtype, int ndim, const int64_t *dims,
                     const void *data) {
  char p[256], err[256];
  snprintf(p, sizeof p, "%s/%s.npy", d->path, name);
  ck_assert_msg(npy_write(p, dtype, ndim, dims, data, err, sizeof err), "%s", err);
}

/* The data of DIR/name.npy (malloc'd), which must hold numel values of dtype. */
static void *rm_read(const rm_dir *d, const char *name, clnn_dtype dtype, size_t numel) {
  char p[256], err[256];
  snprintf(p, sizeof p, "%s/%s.npy", d->path, name);
  npy_array a;
  ck_assert_msg(npy_read(p, &a, err, sizeof err), "%s", err);
  ck_assert_msg(a.dtype == dtype && a.numel == numel, "%s: %zu values of dtype %d, expected %zu of %d", p, a.numel,
                (int)a.dtype, numel, (int)dtype);
  return a.data;
}

/* clnn-bench --mode=R --dir DIR --pass=PASS "DESC"; must exit 0. */
static void rm_run(const rm_dir *d, const char *pass, const char *desc) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' --mode=R --dir '%s' --pass=%s \"%s\" > '%s/log.txt' 2>&1", d->bench, d->path, pass,
           desc, d->path);
  int rc = system(cmd);
  ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "clnn-bench R mode failed (%d): %s", rc, cmd);
}

#endif
