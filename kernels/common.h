/*
 * common.h - prepended to every kernels/<family>.cl when a program is built
 * (after shared.h, the constants the host shares with the kernels).
 * Holds the helpers several families share: tensor-argument macros and the
 * activation functions (selected at build time with -DACT=<clnn_activation>).
 *
 * Target: OpenCL C 1.2. The host defines CLNN_DEVICE_CPU (1 on CPU devices).
 */
#ifndef CLNN_DEVICE_CPU
#define CLNN_DEVICE_CPU 0
#endif

/* A tensor argument is a buffer plus an element offset (kernel args are
 * (buffer, offset) pairs so views and caller cl_mem offsets need no sub-buffers). */
#define TENSOR(name) __global float *restrict name##_base, ulong name##_off
#define CTENSOR(name) __global const float *restrict name##_base, ulong name##_off
#define ITENSOR(name) __global int *restrict name##_base, ulong name##_off
#define CITENSOR(name) __global const int *restrict name##_base, ulong name##_off
#define AT(name) (name##_base + name##_off)

/* ------------------------------------------------------- storage types
 * Kernels that accept half-precision tensors are built with -DDT=<clnn_dtype>
 * (0 float32, 2 float16, 3 bfloat16; kernels/shared.h) and read and write
 * their float tensors through these macros: STORE_T is the element type in
 * memory; LOADn / STOREn convert n elements at index i (in units of n) to
 * and from float, and LOAD1 / STORE1 one element at index j. The math is
 * float32 either way, rounded once on store, to nearest even:
 *  - float16 through OpenCL 1.2's core vload_half / vstore_half_rte (no
 *    cl_khr_fp16 needed: half is only a pointer type here);
 *  - bfloat16 is the high 16 bits of a float32: a load shifts, a store adds
 *    0x7fff plus the kept lowest bit before dropping 16 bits, and keeps a
 *    NaN a (quiet) NaN where the rounding would carry it into infinity.
 * LOADP16 / STOREP16 (below) are the element-wise kernels' faster form;
 * -DBF16_PAIRS=1 (bfloat16 only) says every tensor pointer of the kernel is
 * 4-byte aligned, which their bfloat16 form needs.
 */
#ifndef DT
#define DT CLNN_DTYPE_CODE_FLOAT32
#endif
#ifndef BF16_PAIRS
#define BF16_PAIRS 0
#endif
/* bfloat16 rounding (float -> the 16 kept bits, to nearest even), defined
 * whatever DT is: kernels with tensors of several types (the optimizers'
 * half gradients and bfloat16 state) use it beside their DT. */
/* NaN is found by v != v, a single unordered compare (PoCL calls a library
 * function for isnan on vectors, which made a bfloat16 store slower than a
 * float32 one; a test on the bits took three integer operations). NaN
 * keeps its sign and payload, quieted. */
inline uint bf16_round1(float v) {
  const uint u = as_uint(v);
  return v != v ? (u >> 16) | 0x40u : (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}
/* The rounded value left in the high 16 bits (the low ones are garbage):
 * what a pair store puts in an odd element's half, and >> 16 of it is
 * bf16_round##n. */
#define CLNN_DEFINE_BF16_ROUND(n)                                                                  \
  inline uint##n bf16_round_hi##n(float##n v) {                                                    \
    const uint##n u = as_uint##n(v);                                                               \
    return select(u + 0x7fffu + ((u >> 16) & 1u), u | 0x00400000u, as_uint##n(v != v));          \
  }                                                                                                \
  inline uint##n bf16_round##n(float##n v) { return bf16_round_hi##n(v) >> 16; }
CLNN_DEFINE_BF16_ROUND(4)
CLNN_DEFINE_BF16_ROUND(16)
#if DT == CLNN_DTYPE_CODE_FLOAT16
#define STORE_T half
#define LOAD1(p, j) vload_half((j), (p))
#define STORE1(v, p, j) vstore_half_rte((v), (j), (p))
#define LOAD4(i, p) vload_half4((i), (p))
#define STORE4(v, i, p) vstore_half4_rte((v), (i), (p))
#define LOAD16(i, p) vload_half16((i), (p))
#define STORE16(v, i, p) vstore_half16_rte((v), (i), (p))
#elif DT == CLNN_DTYPE_CODE_BFLOAT16
#define STORE_T ushort
#define LOAD1(p, j) as_float((uint)(p)[j] << 16)
#define STORE1(v, p, j) ((p)[j] = (ushort)bf16_round1(v))
#define LOAD4(i, p) as_float4(convert_uint4(vload4((i), (p))) << 16)
#define STORE4(v, i, p) vstore4(convert_ushort4(bf16_round4(v)), (i), (p))
#define LOAD16(i, p) as_float16(convert_uint16(vload16((i), (p))) << 16)
#define STORE16(v, i, p) vstore16(convert_ushort16(bf16_round16(v)), (i), (p))
#if BF16_PAIRS
/* 16 bfloat16 as 8 uints, lanes (even elements, odd elements): no widening or
 * narrowing conversion, which PoCL runs element by element (a bfloat16 ReLU
 * on 3.6 M elements took 1.4x its float32 time that way, half of it this
 * way). The host sets BF16_PAIRS only when every pointer is 4-byte aligned. */
inline float16 bf16_loadp16(size_t i, __global const ushort *p) {
  const uint8 u = vload8(i, (__global const uint *)p);
  return (float16)(as_float8(u << 16), as_float8(u & 0xffff0000u));
}
inline void bf16_storep16(float16 v, size_t i, __global ushort *p) {
  const uint16 r = bf16_round_hi16(v);
  vstore8((r.lo >> 16) | (r.hi & 0xffff0000u), i, (__global uint *)p);
}
#define LOADP16(i, p) bf16_loadp16((i), (p))
#define STOREP16(v, i, p) bf16_storep16((v), (i), (p))
#endif
#else
#define STORE_T float
#define LOAD1(p, j) ((p)[j])
#define STORE1(v, p, j) ((p)[j] = (v))
#define LOAD4(i, p) vload4((i), (p))
#define STORE4(v, i, p) vstore4((v), (i), (p))
#define LOAD16(i, p) vload16((i), (p))
#define STORE16(v, i, p) vstore16((v), (i), (p))
#endif
/* LOADP16 / STOREP16: as LOAD16 / STORE16, but the lanes may come in another
 * order (bfloat16 pairs above), the same for every load and store of the
 * kernel: only for code that treats all 16 lanes alike (element-wise, with
 * every operand loaded this way). */
#ifndef LOADP16
#define LOADP16(i, p) LOAD16((i), (p))
#define STOREP16(v, i, p) STORE16((v), (i), (p))
#endif
/* Tensor arguments in the storage type (as TENSOR / CTENSOR for float). */
#define TENSOR_DT(name) __global STORE_T *restrict name##_base, ulong name##_off
#define CTENSOR_DT(name) __global const STORE_T *restrict name##_base, ulong name##_off

/*
 * LOADU16(p) / STOREU16(v, p): 16 consecutive elements at p (STORE_T *) as
 * a float16, for pointers with no alignment beyond the element's (views at
 * any element offset, rows of any length).
 * float32: vload16 / vstore16 as before. Half types: PoCL's 16-wide half
 * and ushort loads assume the vector's natural alignment (32 bytes; a view
 * at an odd element offset faulted on an aligned vector move), so the
 * vector form runs on p itself only where p is 32-byte aligned.
 */
#if DT == CLNN_DTYPE_CODE_FLOAT32
#define LOADU16(p) vload16(0, (p))
#define STOREU16(v, p) vstore16((v), 0, (p))
#else
typedef union {
  ushort16 v;
  ushort s[16];
} bits16;
/* Unaligned: the 16 raw 2-byte values go through an aligned private vector
 * and are converted there as a vector (a float16 cross-entropy over 256 x
 * 1000 logits, every other row unaligned: 0.94 ms converting element by
 * element, 0.71 ms this way, float32 0.38 ms; two 8-wide accesses on
 * 16-byte-aligned rows gained nothing for float16 and slowed bfloat16). */
inline float16 loadu16(__global const STORE_T *p) {
  if (((ulong)p & 31) == 0) return LOAD16(0, p);
  bits16 u;
  __global const ushort *q = (__global const ushort *)p;
  for (int i = 0; i < 16; i++) u.s[i] = q[i];
#if DT == CLNN_DTYPE_CODE_FLOAT16
  return vload_half16(0, (const __private half *)&u.v);
#else
  return as_float16(convert_uint16(u.v) << 16);
#endif
}
inline void storeu16(const float16 v, __global STORE_T *p) {
  if (((ulong)p & 31) == 0) {
    STORE16(v, 0, p);
    return;
  }
  bits16 u; /* rounded as a vector in private memory, then copied as raw 2-byte values */
#if DT == CLNN_DTYPE_CODE_FLOAT16
  vstore_half16_rte(v, 0, (__private half *)&u.v);
#else
  u.v = convert_ushort16(bf16_round16(v));
#endif
  __global ushort *q = (__global ushort *)p;
  for (int i = 0; i < 16; i++) q[i] = u.s[i];
}
#define LOADU16(p) loadu16(p)
#define STOREU16(v, p) storeu16((v), (p))
#endif

/*
 * LOADV16(p) / STOREV16(v, p): 16 consecutive elements at p (STORE_T *) as
 * a float16, p aligned to its element only (views at odd element offsets,
 * rows of any length), each moved as ONE unaligned vector access.
 * PoCL 3.1 on x86 runs vload16 / vstore16 of ushort16 element by element
 * (a stored ushort16 became 16 two-byte stores, objdump of the cached
 * kernel); a dereference of a 2-byte-aligned vector type is one vmovdqu.
 * float16 converts in private memory, where vload_half16 / vstore_half16_rte
 * are one vcvtph2ps / vcvtps2ph: on global memory PoCL's forms tell the
 * compiler the pointer is 32-byte aligned, and a store of a value it could
 * convert once (a broadcast in a loop) became an aligned vmovaps that
 * faulted at an odd element offset. float32 is vload16 / vstore16.
 * VLOAD16_US / VSTORE16_US are the raw 2-byte moves, for kernels that copy
 * half elements without converting them.
 */
typedef ushort16 __attribute__((aligned(2))) clnn_ushort16_a2;
#define VLOAD16_US(p) (*(__global const clnn_ushort16_a2 *)(p))
#define VSTORE16_US(v, p) (*(__global clnn_ushort16_a2 *)(p) = (v))
#if DT == CLNN_DTYPE_CODE_BFLOAT16
#define LOADV16(p) as_float16(convert_uint16(VLOAD16_US(p)) << 16)
#define STOREV16(v, p) VSTORE16_US(convert_ushort16(bf16_round16(v)), (p))
#elif DT == CLNN_DTYPE_CODE_FLOAT16
typedef union {
  ushort16 v;
  half h[16];
} clnn_half16_bits;
inline float16 clnn_loadv16_f16(__global const half *p) {
  clnn_half16_bits u;
  u.v = VLOAD16_US(p);
  return vload_half16(0, u.h);
}
inline void clnn_storev16_f16(const float16 v, __global half *p) {
  clnn_half16_bits u;
  vstore_half16_rte(v, 0, u.h);
  VSTORE16_US(u.v, p);
}
#define LOADV16(p) clnn_loadv16_f16(p)
#define STOREV16(v, p) clnn_storev16_f16((v), (p))
#else
#define LOADV16(p) vload16(0, (p))
#define STOREV16(v, p) vstore16((v), 0, (p))
#endif

/* ------------------------------------------------------------ activations */

#ifndef ACT
#define ACT 0
#endif
#ifndef ACT_ALPHA
#define ACT_ALPHA 0.0f
#endif

/* clnn_activation values (kernels/shared.h). */
#define ACT_IDENTITY CLNN_ACT_CODE_IDENTITY
#define ACT_RELU CLNN_ACT_CODE_RELU
#define ACT_LEAKY_RELU CLNN_ACT_CODE_LEAKY_RELU
#define ACT_ELU CLNN_ACT_CODE_ELU
#define ACT_SIGMOID CLNN_ACT_CODE_SIGMOID
#define ACT_TANH CLNN_ACT_CODE_TANH
#define ACT_GELU CLNN_ACT_CODE_GELU
#define ACT_GELU_TANH CLNN_ACT_CODE_GELU_TANH
#define ACT_SILU CLNN_ACT_CODE_SILU
#define ACT_HARDSWISH CLNN_ACT_CODE_HARDSWISH
#define ACT_RELU6 CLNN_ACT_CODE_RELU6

/*
 * Math helpers of the activations: polynomials, rational functions and one
 * exponential, no built-in exp/expm1/tanh/erf. On PoCL 3.1 the built-ins
 * made ELU, tanh and GELU 2-7x slower than ReLU on 8x144x56x56, and the
 * exp()-based forms that first replaced them still left tanh and GELU
 * compute-bound at 2x ReLU's time (tanh: about 55 vector instructions per
 * 16 values in objdump of PoCL's cached kernel binary). With these helpers
 * every activation runs within about 1.5x of ReLU (clnn-bench,
 * docs/BENCHMARKS.md).
 * Coefficients come from scripts/fit-act-math.py, which fits them and checks
 * the polynomial and rational parts in float32 with fused multiply-adds;
 * tests/test_act.c checks the complete helpers on the device: it sweeps every
 * activation over [-30, 30] against the double-precision reference.
 *
 * clnn_exp_<T>(v): e^v, relative error about 1 ulp. v = n ln2 + r with
 *   |r| <= ln2/2 (n rounded with the 1.5 * 2^23 trick: PoCL's rint() is a
 *   long software routine), e^r = 1 + r + r^2 E(r), then clnn_scale2_<suffix>.
 *   v is first clamped to [-104, 89] so that r stays finite for +-inf; the
 *   scaling then saturates to 0 or inf as exp does. NaN propagates.
 * clnn_expm1_<T>(v): e^v - 1 without cancellation near 0, from the same
 *   reduction: 2^n (e^r - 1) + (2^n - 1). Valid for v < 88.37 (2^128
 *   overflows above); ELU uses it for v < 0 only.
 * clnn_tanh_<T>(v): x P(x^2) / Q(x^2) for x = |v| <= 9.02, exactly 1 beyond
 *   (where 1 - tanh is under half an ulp of 1), sign of v restored;
 *   relative error under 4e-7.
 * clnn_one_minus_sigmoid_<T>(v, s, e): 1 - s for s = 1 / (1 + e), e = exp(-v),
 *   as e * s where s is near 1 (v >= 0: no cancellation), 1 - s elsewhere
 *   (e may be inf there).
 * clnn_phi_<T>(v): the standard normal CDF. The tail Phi(-x) = P(x) / Q(x)
 *   for x = |v| <= 5.7 (0 beyond, where it is under 6e-9, and where the fit
 *   dips under 0 just below 5.7), Phi(v) = 1 - tail for v > 0. Absolute error under 1e-7: like PyTorch's
 *   0.5 (1 + erf(v / sqrt2)), not relative in the far negative tail.
 * clnn_gelu_grad_<T>(v): Phi(v) + v pdf(v), the GELU derivative, as
 *   1/2 + x P(x^2) / Q(x^2) with the sign of v (x = |v| capped at 6, where
 *   the function is 1 or 0 to 4e-8); exactly 0 for v <= -5.65, where the
 *   true value is under 2.6e-7 and the rational's error could flip its
 *   sign. Absolute error under 3e-7. At +-inf it gives the limits 1 and 0,
 *   as host/act.c does (Phi + v pdf would be NaN).
 */

/*
 * clnn_scale2_<suffix>(p, n): p * 2^n for an integral-valued float n in
 * [-150, 128] (what clnn_exp_reduced gives), saturating to 0 and inf like
 * ldexp. With AVX-512 (PoCL on such a CPU) the float16 form is one
 * vscalefps instruction. Elsewhere 2^n is built from exponent bits in two halves
 * (each of 2^(n/2) and 2^(n - n/2) is a normal float). On 8x144x56x56
 * here SiLU forward took 0.66-0.75 ms with vscalefps, 0.83-0.86 ms with the
 * bits and 1.19-1.25 ms with PoCL's vector ldexp. -DCLNN_NO_X86_BUILTINS
 * forces the bits (tests/portable_math.sh tests that path on AVX-512 too).
 */
#define CLNN_DEFINE_SCALE2_BITS(T, IT, suffix)                      \
  static inline T clnn_scale2_##suffix(T p, T n) {                  \
    const IT k = convert_##IT(n), k1 = k >> 1, k2 = k - k1;         \
    return p * as_##T((k1 + 127) << 23) * as_##T((k2 + 127) << 23); \
  }
CLNN_DEFINE_SCALE2_BITS(float, int, f1)
CLNN_DEFINE_SCALE2_BITS(float4, int4, f4) /* GPU kernels: one float4 per work-item */
#if CLNN_DEVICE_CPU && defined(__AVX512F__) && defined(__clang__) && !defined(CLNN_NO_X86_BUILTINS)
static inline float16 clnn_scale2_f16(float16 p, float16 n) {
  return __builtin_ia32_scalefps512_mask(p, n, p, (ushort)0xffff, 4 /* current rounding mode */);
}
#else
CLNN_DEFINE_SCALE2_BITS(float16, int16, f16)
#endif

/* CLNN_DEFINE_ACT_MATH(T, suffix) defines the helpers for type T; it needs
 * clnn_scale2_<suffix> (CLNN_DEFINE_SCALE2_BITS makes one for other widths). */
#define CLNN_DEFINE_ACT_MATH(T, suffix)                                                    \
  /* e^r - 1 of v = n ln2 + r; n returned */                                               \
  T clnn_exp_reduced_##suffix(T v, T *n) {                                                 \
    T x = select(v, (T)(-104.0f), v < (T)(-104.0f));                                       \
    x = select(x, (T)(89.0f), x > (T)(89.0f));                                             \
    *n = fma(x, (T)(1.44269504088896341f), (T)(12582912.0f)) - 12582912.0f;                \
    T r = fma(*n, (T)(-0.693145751953125f), x); /* ln2 = hi + lo, n * hi exact */          \
    r = fma(*n, (T)(-1.428606765330187e-06f), r);                                          \
    T e = 1.381313162e-03f;                                                                \
    e = fma(e, r, (T)(8.369418679e-03f));                                                  \
    e = fma(e, r, (T)(4.166845695e-02f));                                                  \
    e = fma(e, r, (T)(1.666651479e-01f));                                                  \
    e = fma(e, r, (T)(4.999999305e-01f));                                                  \
    return fma(r * r, e, r);                                                               \
  }                                                                                        \
  T clnn_exp_##suffix(T v) {                                                               \
    T n;                                                                                   \
    const T em1 = clnn_exp_reduced_##suffix(v, &n);                                        \
    return clnn_scale2_##suffix(1.0f + em1, n);                                            \
  }                                                                                        \
  T clnn_expm1_##suffix(T v) {                                                             \
    T n;                                                                                   \
    const T em1 = clnn_exp_reduced_##suffix(v, &n);                                        \
    return clnn_scale2_##suffix(em1, n) + (clnn_scale2_##suffix((T)(1.0f), n) - 1.0f);     \
  }                                                                                        \
  T clnn_tanh_##suffix(T v) {                                                              \
    T x = fabs(v);                                                                         \
    x = select(x, (T)(9.1f), x > (T)(9.1f));                                               \
    const T s = x * x;                                                                     \
    T p = 1.317754461e-08f, q = 7.704054754e-07f;                                          \
    p = fma(p, s, (T)(2.048120102e-05f));                                                  \
    q = fma(q, s, (T)(3.272921519e-04f));                                                  \
    p = fma(p, s, (T)(3.487811813e-03f));                                                  \
    q = fma(q, s, (T)(2.584739135e-02f));                                                  \
    p = fma(p, s, (T)(1.337447578e-01f));                                                  \
    q = fma(q, s, (T)(4.670778956e-01f));                                                  \
    p = fma(p, s, (T)(9.999999772e-01f));                                                  \
    q = fma(q, s, (T)(1.0f));                                                              \
    const T t = x * p / q; /* P/Q stays just under 1 at the clamp: 1 from 9.02 on */       \
    return copysign(select(t, (T)(1.0f), (t > (T)(1.0f)) | (x > (T)(9.02f))), v);          \
  }                                                                                        \
  T clnn_one_minus_sigmoid_##suffix(T v, T s, T e) {                                       \
    return select(e * s, 1.0f - s, v < (T)(0.0f));                                         \
  }                                                                                        \
  T clnn_phi_##suffix(T v) {                                                               \
    const T x = fabs(v);                                                                   \
    T p = -1.177584625e-04f, q = 6.717083068e-05f;                                         \
    p = fma(p, x, (T)(3.092861090e-03f));                                                  \
    q = fma(q, x, (T)(-2.620441700e-04f));                                                 \
    p = fma(p, x, (T)(-3.266816051e-02f));                                                 \
    q = fma(q, x, (T)(1.167841209e-03f));                                                  \
    p = fma(p, x, (T)(1.735646876e-01f));                                                  \
    q = fma(q, x, (T)(-5.707361717e-04f));                                                 \
    p = fma(p, x, (T)(-4.641199928e-01f));                                                 \
    q = fma(q, x, (T)(4.540000039e-03f));                                                  \
    p = fma(p, x, (T)(5.000000078e-01f));                                                  \
    q = fma(q, x, (T)(1.943142012e-02f));                                                  \
    q = fma(q, x, (T)(-4.141243785e-03f));                                                 \
    q = fma(q, x, (T)(2.430913759e-01f));                                                  \
    q = fma(q, x, (T)(-1.303537197e-01f));                                                 \
    q = fma(q, x, (T)(1.0f));                                                              \
    const T pq = p / q; /* Phi(-x); dips to -4e-9 just below 5.7: 0 there, and for inf */  \
    const T tail = select(pq, (T)(0.0f), (x > (T)(5.7f)) | (pq < (T)(0.0f)));              \
    return select(tail, 1.0f - tail, v > (T)(0.0f));                                       \
  }                                                                                        \
  T clnn_gelu_grad_##suffix(T v) {                                                         \
    T x = fabs(v);                                                                         \
    x = select(x, (T)(6.0f), x > (T)(6.0f));                                               \
    const T s = x * x;                                                                     \
    T p = 1.704658746e-08f, q = 1.314776980e-09f;                                          \
    q = fma(q, s, (T)(3.389866087e-07f));                                                  \
    p = fma(p, s, (T)(9.225581900e-07f));                                                  \
    q = fma(q, s, (T)(1.030786972e-05f));                                                  \
    p = fma(p, s, (T)(3.409190797e-05f));                                                  \
    q = fma(q, s, (T)(2.453268075e-04f));                                                  \
    p = fma(p, s, (T)(2.027418004e-04f));                                                  \
    q = fma(q, s, (T)(3.971538149e-03f));                                                  \
    p = fma(p, s, (T)(1.385731745e-02f));                                                  \
    q = fma(q, s, (T)(4.413380695e-02f));                                                  \
    p = fma(p, s, (T)(-2.237067354e-02f));                                                 \
    q = fma(q, s, (T)(3.052954802e-01f));                                                  \
    p = fma(p, s, (T)(7.978845312e-01f));                                                  \
    q = fma(q, s, (T)(1.0f));                                                              \
    const T g = 0.5f + copysign(x * p / q, v);                                             \
    return select(g, (T)(0.0f), v <= (T)(-5.65f)); /* |g| < 2.6e-7 there: no sign flips */ \
  }

CLNN_DEFINE_ACT_MATH(float, f1)
CLNN_DEFINE_ACT_MATH(float16, f16)
CLNN_DEFINE_ACT_MATH(float4, f4)

/*
 * act_<T>(v): the activation ACT on a float or float vector. Written with
 * type-generic built-ins and select() so one body serves every width; NaN
 * propagates (relu(NaN) is NaN, as in PyTorch).
 */
#define CLNN_DEFINE_ACT(T, suffix)                                                                    \
  T act_##suffix(T v) {                                                                               \
    const T zero = (T)(0.0f);                                                                         \
    if (ACT == ACT_IDENTITY) return v;                                                                \
    if (ACT == ACT_RELU) return select(v, zero, v < zero);                                            \
    if (ACT == ACT_LEAKY_RELU) return select(v, v * ACT_ALPHA, v < zero);                             \
    if (ACT == ACT_ELU) return select(v, ACT_ALPHA * clnn_expm1_##suffix(v), v < zero);               \
    if (ACT == ACT_SIGMOID) return (T)(1.0f) / ((T)(1.0f) + clnn_exp_##suffix(-v));                   \
    if (ACT == ACT_TANH) return clnn_tanh_##suffix(v);                                                \
    if (ACT == ACT_GELU) return v * clnn_phi_##suffix(v);                                             \
    if (ACT == ACT_GELU_TANH) /* v (1 + tanh(u)) / 2 = v sigmoid(2u): no cancellation */              \
      return v / ((T)(1.0f) + clnn_exp_##suffix(-1.5957691216057307f * (v + 0.044715f * v * v * v))); \
    if (ACT == ACT_SILU) return v / ((T)(1.0f) + clnn_exp_##suffix(-v));                              \
    if (ACT == ACT_HARDSWISH) return v * (clamp(v + 3.0f, 0.0f, 6.0f) * (1.0f / 6.0f));               \
    if (ACT == ACT_RELU6) /* selects, not clamp(): NaN stays NaN */                                   \
      return select(select(v, (T)(6.0f), v > (T)(6.0f)), zero, v < zero);                           \
    return v;                                                                                         \
  }

CLNN_DEFINE_ACT(float, f1)
CLNN_DEFINE_ACT(float16, f16)
CLNN_DEFINE_ACT(float4, f4)

/*
 * act_grad_<T>(v, dy): dy * ACT'(v), the backward of act_<T> given its input
 * v. At the kinks the one-sided choice is PyTorch's: relu'(0) = 0,
 * leaky_relu'(0) = alpha, elu'(0) = alpha, hardswish'(-3) = -0.5 and
 * hardswish'(3) = 1.5, relu6'(0) = relu6'(6) = 0; a NaN input gives what PyTorch gives (dy for relu,
 * elu and hardswish, alpha * dy for leaky_relu, 0 for relu6, NaN for the smooth ones).
 * host/act.c (clnn__ref_act_deriv) computes the same functions in double (with
 * libm's tanh and erf where the device has its own approximations); other
 * families (fused epilogues, batch norm with an activation) call these to
 * turn dy into the gradient before the activation.
 */
#define CLNN_DEFINE_ACT_GRAD(T, suffix)                                                        \
  T act_grad_##suffix(T v, T dy) {                                                             \
    const T zero = (T)(0.0f), one = (T)(1.0f);                                                 \
    if (ACT == ACT_IDENTITY) return dy;                                                        \
    if (ACT == ACT_RELU) return select(dy, zero, v <= zero);                                   \
    if (ACT == ACT_LEAKY_RELU) return select(dy * ACT_ALPHA, dy, v > zero);                    \
    if (ACT == ACT_ELU) return select(dy, dy * (ACT_ALPHA * clnn_exp_##suffix(v)), v <= zero); \
    if (ACT == ACT_SIGMOID) {                                                                  \
      const T e = clnn_exp_##suffix(-v), s = one / (one + e);                                  \
      return dy * (s * clnn_one_minus_sigmoid_##suffix(v, s, e));                              \
    }                                                                                          \
    if (ACT == ACT_TANH) { /* 1 - tanh^2 = 4e / (1 + e)^2 with e = exp(-2|v|) */               \
      const T e = clnn_exp_##suffix(-2.0f * fabs(v)), r = one / (one + e);                     \
      return dy * (4.0f * e * r * r);                                                          \
    }                                                                                          \
    if (ACT == ACT_GELU) return dy * clnn_gelu_grad_##suffix(v);                               \
    if (ACT == ACT_GELU_TANH) { /* d/dv v s(2u) = s + v s (1 - s) 2u'; sign(u) = sign(v) */    \
      /* beyond |v| = 20 the derivative is 1 or 0 in float: clamped, v^3 cannot overflow */    \
      T c = select(v, (T)(-20.0f), v < (T)(-20.0f));                                           \
      c = select(c, (T)(20.0f), c > (T)(20.0f));                                               \
      const T e = clnn_exp_##suffix(-1.5957691216057307f * (c + 0.044715f * c * c * c));       \
      const T s = one / (one + e);                                                             \
      const T du2 = 1.5957691216057307f * (one + 0.134145f * c * c);                           \
      return dy * (s + c * s * clnn_one_minus_sigmoid_##suffix(c, s, e) * du2);                \
    }                                                                                          \
    if (ACT == ACT_SILU) { /* s (1 + v (1 - s)) */                                             \
      const T e = clnn_exp_##suffix(-v), s = one / (one + e);                                  \
      return dy * (s + v * s * clnn_one_minus_sigmoid_##suffix(v, s, e));                      \
    }                                                                                          \
    if (ACT == ACT_HARDSWISH) {                                                                \
      const T mid = dy * (v * (1.0f / 3.0f) + 0.5f);                                           \
      return select(select(dy, mid, v <= (T)(3.0f)), zero, v < (T)(-3.0f));                    \
    }                                                                                          \
    if (ACT == ACT_RELU6) /* PyTorch's hardtanh: 0 at both kinks and for NaN */                \
      return select(zero, dy, v > zero && v < (T)(6.0f));                                     \
    return dy;                                                                                 \
  }

CLNN_DEFINE_ACT_GRAD(float, f1)
CLNN_DEFINE_ACT_GRAD(float16, f16)
CLNN_DEFINE_ACT_GRAD(float4, f4)

/* ------------------------------------------------- work-group reductions */

/*
 * clnn_group_sum(v, red, n), clnn_group_sum4 and clnn_group_max: v reduced
 * over a work-group of n work-items (n, a power of two, is the group's
 * size) as a tree in red[0 .. n), always in the same order, so a GPU-class
 * reduction gives the same bits on every run without atomics. Every
 * work-item gets the result and must make the call (it holds barriers);
 * red is free again when it returns. The maximum passes over a NaN (fmax),
 * as the CPU kernels do.
 */
#define CLNN_DEFINE_GROUP_REDUCE(T, name, COMBINE)                   \
  inline T name(const T v, __local T *red, const int n) {            \
    const int lid = get_local_id(0);                                 \
    red[lid] = v;                                                    \
    barrier(CLK_LOCAL_MEM_FENCE);                                    \
    for (int span = n / 2; span > 0; span >>= 1) {                   \
      if (lid < span) red[lid] = COMBINE(red[lid], red[lid + span]); \
      barrier(CLK_LOCAL_MEM_FENCE);                                  \
    }                                                                \
    const T r = red[0];                                              \
    barrier(CLK_LOCAL_MEM_FENCE);                                    \
    return r;                                                        \
  }
#define CLNN_REDUCE_ADD(a, b) ((a) + (b))
CLNN_DEFINE_GROUP_REDUCE(float, clnn_group_sum, CLNN_REDUCE_ADD)
CLNN_DEFINE_GROUP_REDUCE(float4, clnn_group_sum4, CLNN_REDUCE_ADD)
CLNN_DEFINE_GROUP_REDUCE(float, clnn_group_max, fmax)

/* ------------------------------------------------------- streaming stores */

/*
 * clnn_store16_stream(v, p): vstore16(v, 0, p) that bypasses the caches (a
 * non-temporal store) where p is 64-byte aligned, on a CPU device with a
 * clang-based compiler (PoCL); elsewhere a plain vstore16. For outputs too
 * large to stay in the last-level cache until they are read: a plain store
 * first reads every line it writes (measured on PoCL: a 64 MB copy 1.55x
 * faster). Kernels take a runtime flag and call it only for such outputs.
 */
inline void clnn_store16_stream(const float16 v, __global float *p) {
#if CLNN_DEVICE_CPU && defined(__clang__)
  if (((ulong)p & 63) == 0) {
    __builtin_nontemporal_store(v, (__global float16 *)p);
    return;
  }
#endif
  vstore16(v, 0, p);
}
