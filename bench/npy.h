/*
 * npy.h - reading and writing NumPy .npy files (format 1.0-3.0): float32 or
 * int32, little-endian, C order. Anything else is refused with a message.
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
/* Write data of dtype and shape to path (version 1.0). */
bool npy_write(const char *path, clnn_dtype dtype, int ndim, const int64_t *dims, const void *data,
               char *err, size_t errlen);

#endif
