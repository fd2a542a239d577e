/*
 * fuzz_file.h - the readers that take a path get the fuzz input through one
 * temporary file per process, rewritten for every input.
 */
#ifndef CLNN_FUZZ_FILE_H
#define CLNN_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Write data to this process's temporary file (suffix names its kind, e.g.
 * ".npy") and return its path; NULL when that fails. */
static inline const char *fuzz_file(const uint8_t *data, size_t size, const char *suffix) {
  static char path[256];
  snprintf(path, sizeof path, "%s/clnn-fuzz-%ld%s", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid(),
           suffix);
  FILE *f = fopen(path, "wb");
  if (!f) return NULL;
  int ok = fwrite(data, 1, size, f) == size;
  ok = fclose(f) == 0 && ok;
  return ok ? path : NULL;
}

#endif
