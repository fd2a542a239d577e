/*
 * dtype.c - element types: sizes, names, and the host conversions between
 * float32 and the half-precision storage formats (float16, bfloat16),
 * rounding as the kernels' STORE macros do (kernels/common.h), so that a
 * host reference fed with packed-then-unpacked inputs sees exactly what a
 * kernel loads.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

size_t clnn_dtype_size(clnn_dtype dtype) {
  switch (dtype) {
    case CLNN_FLOAT32:
    case CLNN_INT32:
      return 4;
    case CLNN_FLOAT16:
    case CLNN_BFLOAT16:
      return 2;
  }
  return 0;
}

const char *clnn_dtype_name(clnn_dtype dtype) {
  switch (dtype) {
    case CLNN_FLOAT32:
      return "float32";
    case CLNN_INT32:
      return "int32";
    case CLNN_FLOAT16:
      return "float16";
    case CLNN_BFLOAT16:
      return "bfloat16";
  }
  return NULL;
}

bool clnn__dtype_is_float(clnn_dtype dtype) {
  return dtype == CLNN_FLOAT32 || dtype == CLNN_FLOAT16 || dtype == CLNN_BFLOAT16;
}

/* -DDT passes a clnn_dtype's value: the kernels' codes must be the same. */
_Static_assert(CLNN_FLOAT32 == CLNN_DTYPE_CODE_FLOAT32 && CLNN_FLOAT16 == CLNN_DTYPE_CODE_FLOAT16 &&
                   CLNN_BFLOAT16 == CLNN_DTYPE_CODE_BFLOAT16,
               "kernels/shared.h's dtype codes differ from clnn_dtype");

static uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* Drop the low `shift` bits of m, rounding to nearest, ties to even. */
static uint32_t round_shift(uint32_t m, int shift) {
  const uint32_t kept = m >> shift, rest = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
  return kept + (rest > half || (rest == half && (kept & 1u)));
}

static uint16_t f32_to_f16(float f) {
  const uint32_t x = float_bits(f), sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu)); /* NaN, quiet */
  if (ax >= 0x47800000u) return (uint16_t)(sign | 0x7c00u); /* >= 65536 (inf included): inf */
  if (ax >= 0x38800000u) /* a float16 normal: rebias 127 -> 15; a carry may reach inf, as it should */
    return (uint16_t)(sign | round_shift(ax - 0x38000000u, 13));
  if (ax <= 0x33000000u) return (uint16_t)sign; /* <= 2^-25: to zero (2^-25 is a tie, to even 0) */
  /* a float16 subnormal: units of 2^-24 */
  const uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
  return (uint16_t)(sign | round_shift(mant, 126 - (int)(ax >> 23)));
}

static float f16_to_f32(uint16_t h) {
  const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu;
  uint32_t m = h & 0x3ffu;
  if (e == 0x1fu) return bits_float(sign | 0x7f800000u | (m << 13));
  if (e) return bits_float(sign | ((e + 112u) << 23) | (m << 13));
  if (!m) return bits_float(sign);
  uint32_t exp = 113u; /* a subnormal: normalize */
  while (!(m & 0x400u)) m <<= 1, exp--;
  return bits_float(sign | (exp << 23) | ((m & 0x3ffu) << 13));
}

static uint16_t f32_to_bf16(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* NaN, quiet */
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static float bf16_to_f32(uint16_t b) { return bits_float((uint32_t)b << 16); }

static clnn_status check_conversion(clnn_dtype dtype, const void *src, const void *dst, size_t n) {
  if (n > 0 && (!src || !dst))
    return clnn__fail(NULL, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL (n = %zu)", src ? "dst" : "src", n);
  if (!clnn__dtype_is_float(dtype))
    return clnn__fail(NULL, CLNN_ERR_INVALID_VALUE, "dtype %d is not a float type", (int)dtype);
  return CLNN_SUCCESS;
}

clnn_status clnn_pack_f32(clnn_dtype dtype, const float *src, void *dst, size_t n) {
  CLNN_ENTER(NULL);
  CLNN_TRY(check_conversion(dtype, src, dst, n));
  uint16_t *h = dst;
  if (dtype == CLNN_FLOAT32 && n) memmove(dst, src, n * sizeof *src);
  if (dtype == CLNN_FLOAT16)
    for (size_t i = 0; i < n; i++) h[i] = f32_to_f16(src[i]);
  if (dtype == CLNN_BFLOAT16)
    for (size_t i = 0; i < n; i++) h[i] = f32_to_bf16(src[i]);
  return CLNN_SUCCESS;
}

clnn_status clnn_unpack_f32(clnn_dtype dtype, const void *src, float *dst, size_t n) {
  CLNN_ENTER(NULL);
  CLNN_TRY(check_conversion(dtype, src, dst, n));
  const uint16_t *h = src;
  if (dtype == CLNN_FLOAT32 && n) memmove(dst, src, n * sizeof *dst);
  /* from the last element down, so that dst == src (in place) works: dst[i]
   * overwrites h[2i] and h[2i + 1], which are not before h[i] */
  if (dtype == CLNN_FLOAT16)
    for (size_t i = n; i-- > 0;) dst[i] = f16_to_f32(h[i]);
  if (dtype == CLNN_BFLOAT16)
    for (size_t i = n; i-- > 0;) dst[i] = bf16_to_f32(h[i]);
  return CLNN_SUCCESS;
}

/* A float tensor and a count that matches it. */
static clnn_status check_f32_copy(const clnn_tensor *t, const void *host, const char *name, size_t count) {
  clnn_context *ctx = t->ctx;
  if (!clnn__dtype_is_float(t->dtype))
    return clnn__fail(ctx, CLNN_ERR_INVALID_VALUE, "the tensor has dtype %s, not a float type",
                      clnn_dtype_name(t->dtype));
  if (count != t->numel)
    return clnn__fail(ctx, count < t->numel ? CLNN_ERR_BUFFER_TOO_SMALL : CLNN_ERR_INVALID_VALUE,
                      "%zu host elements, the tensor has %zu", count, t->numel);
  if (count && !host) return clnn__fail(ctx, CLNN_ERR_NULL_POINTER, "argument '%s' is NULL", name);
  return CLNN_SUCCESS;
}

clnn_status clnn_tensor_write_f32(clnn_tensor *t, const float *src, size_t count) {
  CLNN_ENTER(NULL); /* a NULL t's message names this function */
  CLNN_CHECK_NULL(NULL, t);
  CLNN_ENTER(t->ctx);
  CLNN_TRY(check_f32_copy(t, src, "src", count));
  if (t->dtype == CLNN_FLOAT32) return clnn_tensor_write(t, src, count * sizeof *src);
  uint16_t *packed = malloc(count ? count * sizeof *packed : 1);
  if (!packed) return clnn__fail(t->ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  clnn_status st = clnn_pack_f32(t->dtype, src, packed, count);
  if (st == CLNN_SUCCESS) st = clnn_tensor_write(t, packed, count * sizeof *packed);
  free(packed);
  return st;
}

clnn_status clnn_tensor_read_f32(const clnn_tensor *t, float *dst, size_t count) {
  CLNN_ENTER(NULL); /* a NULL t's message names this function */
  CLNN_CHECK_NULL(NULL, t);
  CLNN_ENTER(t->ctx);
  CLNN_TRY(check_f32_copy(t, dst, "dst", count));
  if (t->dtype == CLNN_FLOAT32) return clnn_tensor_read(t, dst, count * sizeof *dst);
  uint16_t *packed = malloc(count ? count * sizeof *packed : 1);
  if (!packed) return clnn__fail(t->ctx, CLNN_ERR_HOST_OUT_OF_MEMORY, "out of host memory");
  clnn_status st = clnn_tensor_read(t, packed, count * sizeof *packed);
  if (st == CLNN_SUCCESS) st = clnn_unpack_f32(t->dtype, packed, dst, count);
  free(packed);
  return st;
}
