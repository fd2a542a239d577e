/*
 * npy.h - reading and writing NumPy .npy files (format 1.0-3.0): float32,
 * int32, float16 ('<f2') or bfloat16 (its bit patterns as '<u2': NumPy has
 * no bfloat16), little-endian, C order. Anything else is refused with a
 * message that names what the file holds.
 */
#ifndef CLNN_NPY_H
#define CLNN_NPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clnn.h"

typedef struct npy_array {
  clnn_dtype dtype;
  int ndim;
  int64_t dims[CLNN_MAX_DIMS];
  size_t numel;
  void *data; /* malloc'd; free() it */
} npy_array;

/* Read path; false with a message in err (bad magic, header, dtype, order, size). */
bool npy_read(const char *path, npy_array *out, char *err, size_t errlen);
/* Write data of dtype and shape to path (version 1.0), whole or not at all:
 * into a temporary file beside it, synced, then renamed over path. */
bool npy_write(const char *path, clnn_dtype dtype, int ndim, const int64_t *dims, const void *data,
               char *err, size_t errlen);
/* The two halves, for writing several files all or none: npy_write_temp
 * writes and syncs a temporary file beside path (its name into tmp) and
 * removes it on failure; npy_commit renames it over path. Errors carry
 * strerror(errno). */
bool npy_write_temp(const char *path, clnn_dtype dtype, int ndim, const int64_t *dims, const void *data,
                    char *tmp, size_t tmp_len, char *err, size_t errlen);
bool npy_commit(const char *tmp, const char *path, char *err, size_t errlen);

#endif
