/*
 * idx.h - reading the gzip-compressed IDX files of MNIST-style datasets
 * (Fashion-MNIST ships them as Debian's dataset-fashion-mnist).
 */
#ifndef CLNN_TRAIN_IDX_H
#define CLNN_TRAIN_IDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct idx_dataset {
  int count;       /* images */
  int rows, cols;  /* image size */
  uint8_t *images; /* count * rows * cols, row-major */
  uint8_t *labels; /* count */
} idx_dataset;

/*
 * Load "<dir>/<prefix>-images-idx3-ubyte.gz" and "...-labels-idx1-ubyte.gz"
 * (prefix "train" or "t10k"). False with a message naming the file and the
 * problem (missing, bad magic, truncated, counts that disagree, labels > 9).
 */
bool idx_load(const char *dir, const char *prefix, idx_dataset *out, char *err, size_t errlen);
void idx_free(idx_dataset *d);

#endif
