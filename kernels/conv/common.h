/*
 * conv/common.h - what several of the convolution's CPU-class kernels use:
 * the register-tile shape they are written for, and small vector helpers.
 * Every conv/ program is shared.h, common.h, this file, then its own .cl.
 */

/* The packed paths hold the CPU register tile (kernels/shared.h) as eight
 * rows of two float16 and index 32-pixel tiles with shifts. */
#if CLNN_TILE_MR != 8 || CLNN_TILE_NR != 32
#error "kernels/conv/ is written for the 8 x 32 register tile"
#endif

/* Sum of the 16 lanes in a fixed tree order (deterministic). */
float conv_hsum16(float16 v) {
  const float8 a = v.lo + v.hi;
  const float4 b = a.lo + a.hi;
  const float2 c = b.lo + b.hi;
  return c.x + c.y;
}

/*
 * The depthwise kernels read and write their tensors in the storage type DT
 * (kernels/common.h: float32, float16 or bfloat16) and compute in float32:
 * the helpers below widen on load and round once on store. A float32
 * build expands them to the plain float code. Half tensors may be views at
 * any element offset, so their 16-wide accesses go through LOADU16 /
 * STOREU16 (no alignment beyond the element's).
 */

#if DT != CLNN_DTYPE_CODE_FLOAT32
/* 16 raw 2-byte values, as ushorts or as 8 pairs in uints (little-endian:
 * element 2i in the low half of uint i, as in memory). */
typedef union {
  uint8 v;
  uint u[8];
  ushort s[16];
} conv_pairs16;

/* 16 floats rounded to DT as one vector: float16 through vstore_half16_rte
 * in private memory; bfloat16 packed in pairs with shifts, no narrowing
 * conversion (which PoCL runs element by element). */
inline conv_pairs16 conv_half_round16(const float16 v) {
  conv_pairs16 b;
#if DT == CLNN_DTYPE_CODE_FLOAT16
  vstore_half16_rte(v, 0, (__private half *)b.s);
#else
  const uint16 r = bf16_round16(v);
  b.v = r.even | (r.odd << 16);
#endif
  return b;
}

/* The first n (<= 16) of b's values to p, which has only the element's
 * alignment: one 32-byte vector where p has that alignment and all 16 go,
 * else uints where p is 4-byte aligned (rows of even length), else ushorts. */
inline void conv_half_store_upto(const conv_pairs16 b, __global STORE_T *p, const int n) {
  if (n >= 16 && ((ulong)p & 31) == 0) {
    vstore8(b.v, 0, (__global uint *)p);
    return;
  }
  int j = 0;
  if (((ulong)p & 3) == 0)
    for (__global uint *q = (__global uint *)p; 2 * j + 1 < n; j++) q[j] = b.u[j];
  __global ushort *q = (__global ushort *)p;
  for (j *= 2; j < n; j++) q[j] = b.s[j];
}
#endif

/* 16 elements from p as floats, of which only the first n (may be <= 0) exist: zeros after. */
float16 conv_load16_upto(__global const STORE_T *p, const int n) {
  if (n >= 16) return LOADU16(p);
  float t[16];
  for (int l = 0; l < 16; l++) t[l] = l < n ? LOAD1(p, l) : 0.0f;
  return vload16(0, t);
}

/* Zero a private buffer of n floats (n a multiple of 16). */
inline void conv_zero_private(float *p, const int n) {
  for (int j = 0; j < n; j += 16) vstore16((float16)(0.0f), 0, p + j);
}

/* Store the first n (may be <= 0) of 16 floats to p, rounded to DT once;
 * float32 in vector pieces straight from registers (a round trip through a
 * private array stalls on store forwarding). */
void conv_store16_upto(const float16 v, __global STORE_T *p, int n) {
#if DT != CLNN_DTYPE_CODE_FLOAT32
  if (n > 0) conv_half_store_upto(conv_half_round16(v), p, n);
#else
  if (n >= 16) {
    vstore16(v, 0, p);
    return;
  }
  float8 h = v.lo;
  if (n >= 8) vstore8(h, 0, p), p += 8, n -= 8, h = v.hi;
  float4 q = h.lo;
  if (n >= 4) vstore4(q, 0, p), p += 4, n -= 4, q = h.hi;
  float2 d = q.lo;
  if (n >= 2) vstore2(d, 0, p), p += 2, n -= 2, d = q.hi;
  if (n >= 1) p[0] = d.x;
#endif
}
