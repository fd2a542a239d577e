/*
 * ref.c - conversions between the public float arrays and the double
 * arrays the reference ops compute on (see ref.h).
 */
#include "ref.h"

#include <stdlib.h>

double *clnn__ref_f64_copy(const float *src, size_t n, bool *ok) {
  if (!src) return NULL;
  double *d = malloc((n ? n : 1) * sizeof *d);
  if (!d) {
    *ok = false;
    return NULL;
  }
  for (size_t i = 0; i < n; i++) d[i] = src[i];
  return d;
}

double *clnn__ref_f64_zeros(size_t n, bool *ok) {
  double *d = calloc(n ? n : 1, sizeof *d);
  if (!d) *ok = false;
  return d;
}

void clnn__ref_to_f32(float *dst, const double *src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

void clnn__ref_store_f32(float *dst, const double *src, size_t n, int accumulate) {
  for (size_t i = 0; i < n; i++) dst[i] = (float)((accumulate ? (double)dst[i] : 0.0) + src[i]);
}

double clnn__ref_dtype_rel_l2(clnn_dtype dt) {
  switch (dt) {
    case CLNN_FLOAT16:
      return 2e-3;
    case CLNN_BFLOAT16:
      return 1e-2;
    default:
      return 0.0;
  }
}
