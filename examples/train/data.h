/*
 * data.h - turning an IDX dataset into training batches: normalisation,
 * seeded shuffling, and optional augmentation (random crop with zero padding,
 * horizontal flip), all deterministic for a given seed.
 */
#ifndef CLNN_TRAIN_DATA_H
#define CLNN_TRAIN_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "idx.h"

/* Fashion-MNIST training-set pixel statistics (of pixel / 255). */
#define FMNIST_MEAN 0.2860f
#define FMNIST_STD 0.3530f

typedef struct data_loader {
  const idx_dataset *set;
  int limit;        /* use the first limit items (<= set->count) */
  int *order;       /* a permutation of [0, limit) */
  uint64_t rng;     /* splitmix64 state for shuffling and augmentation */
  int crop_pad;     /* random-crop padding in pixels, 0 = off */
  bool flip;        /* random horizontal flips */
  int out_size;     /* output side (the image is resized when it differs) */
} data_loader;

/* limit <= 0 means all items. */
bool loader_init(data_loader *l, const idx_dataset *set, int limit, uint64_t seed, int crop_pad, bool flip,
                 int out_size);
void loader_free(data_loader *l);
/* A new random order for the next epoch. */
void loader_shuffle(data_loader *l);
/*
 * Fill x (n * out_size * out_size floats, NCHW with C = 1) and labels (n
 * int32) with items order[first .. first+n) (augmented when train is true).
 */
void loader_batch(data_loader *l, int first, int n, bool train, float *x, int32_t *labels);

#endif
