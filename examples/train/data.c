/*
 * data.c - see data.h.
 */
#include "data.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Uniform integer in [0, n). */
static int below(uint64_t *s, int n) { return (int)(next(s) % (uint64_t)n); }

bool loader_init(data_loader *l, const idx_dataset *set, int limit, uint64_t seed, int crop_pad, bool flip,
                 int out_size) {
  memset(l, 0, sizeof *l);
  l->set = set;
  l->limit = (limit <= 0 || limit > set->count) ? set->count : limit;
  l->order = malloc((size_t)l->limit * sizeof *l->order);
  if (!l->order) return false;
  for (int i = 0; i < l->limit; i++) l->order[i] = i;
  l->rng = seed * 0x9E3779B97F4A7C15ULL + 12345;
  l->crop_pad = crop_pad;
  l->flip = flip;
  l->out_size = out_size > 0 ? out_size : set->rows;
  return true;
}

void loader_free(data_loader *l) {
  free(l->order);
  l->order = NULL;
}

void loader_shuffle(data_loader *l) {
  for (int i = l->limit - 1; i > 0; i--) {
    int j = below(&l->rng, i + 1), t = l->order[i];
    l->order[i] = l->order[j];
    l->order[j] = t;
  }
}

/* Normalised pixel (r, c) of an image, zero (the normalised background) outside it. */
static float pixel(const idx_dataset *s, const uint8_t *img, int r, int c) {
  if (r < 0 || c < 0 || r >= s->rows || c >= s->cols) return (0.0f - FMNIST_MEAN) / FMNIST_STD;
  return ((float)img[r * s->cols + c] / 255.0f - FMNIST_MEAN) / FMNIST_STD;
}

/* Bilinear sample at (y, x) in image coordinates (align_corners = false). */
static float sample(const idx_dataset *s, const uint8_t *img, float y, float x) {
  int y0 = (int)floorf(y), x0 = (int)floorf(x);
  float fy = y - (float)y0, fx = x - (float)x0;
  return (1 - fy) * ((1 - fx) * pixel(s, img, y0, x0) + fx * pixel(s, img, y0, x0 + 1)) +
         fy * ((1 - fx) * pixel(s, img, y0 + 1, x0) + fx * pixel(s, img, y0 + 1, x0 + 1));
}

void loader_batch(data_loader *l, int first, int n, bool train, float *x, int32_t *labels) {
  const idx_dataset *s = l->set;
  const int out = l->out_size;
  const float scale_y = (float)s->rows / (float)out, scale_x = (float)s->cols / (float)out;
  for (int b = 0; b < n; b++) {
    int item = l->order[(first + b) % l->limit];
    const uint8_t *img = s->images + (size_t)item * s->rows * s->cols;
    int dy = 0, dx = 0;
    bool flip = false;
    if (train && l->crop_pad > 0) {
      dy = below(&l->rng, 2 * l->crop_pad + 1) - l->crop_pad;
      dx = below(&l->rng, 2 * l->crop_pad + 1) - l->crop_pad;
    }
    if (train && l->flip) flip = below(&l->rng, 2) == 1;
    float *dst = x + (size_t)b * out * out;
    for (int r = 0; r < out; r++) {
      for (int c = 0; c < out; c++) {
        int cc = flip ? out - 1 - c : c;
        float v;
        if (out == s->rows && out == s->cols) {
          v = pixel(s, img, r + dy, cc + dx);
        } else {
          v = sample(s, img, ((float)r + 0.5f) * scale_y - 0.5f + (float)dy,
                     ((float)cc + 0.5f) * scale_x - 0.5f + (float)dx);
        }
        dst[r * out + c] = v;
      }
    }
    labels[b] = s->labels[item];
  }
}
