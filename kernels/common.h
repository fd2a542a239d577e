/*
 * common.h - prepended to every kernels/<family>.cl when a program is built.
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

/* ------------------------------------------------------------ activations */

#ifndef ACT
#define ACT 0
#endif
#ifndef ACT_ALPHA
#define ACT_ALPHA 0.0f
#endif

/* clnn_activation values (include/clnn.h). */
#define ACT_IDENTITY 0
#define ACT_RELU 1
#define ACT_LEAKY_RELU 2
#define ACT_ELU 3
#define ACT_SIGMOID 4
#define ACT_TANH 5
#define ACT_GELU 6
#define ACT_GELU_TANH 7
#define ACT_SILU 8
#define ACT_HARDSWISH 9

/*
 * Math helpers of the activations, built from exp() and polynomials only:
 * on PoCL 3.1, float16 expm1(), tanh() and erf() made ELU, tanh and GELU
 * 2-7x slower than ReLU on 8x144x56x56 (measured with clnn-bench), while
 * exp() kept SiLU near memory speed. Each helper is accurate to a few float
 * ulps (tests/test_act.c compares with the double-precision reference).
 *
 * clnn_expm1_<T>(v): e^v - 1 without cancellation near 0 (Taylor series to
 *   v^8 for |v| < 0.5, truncation under 2e-8 relative; exp(v) - 1 beyond).
 * clnn_tanh_<T>(v): -m / (2 + m) with m = expm1(-2|v|), sign of v restored.
 * clnn_one_minus_sigmoid_<T>(v, s, e): 1 - s for s = 1 / (1 + e), e = exp(-v),
 *   as e * s where s is near 1 (v >= 0: no cancellation), 1 - s elsewhere
 *   (e may be inf there).
 * clnn_phi_<T>(v, &pdf): the standard normal CDF Phi(v) and density pdf(v).
 *   Phi(v) = erfc(-v/sqrt2) / 2, with erfc(z) = t e^{-z^2} Q(t) for z >= 0,
 *   t = 1 / (1 + z/2), and Q a degree-9 polynomial in t - 1/2 fitted for
 *   libclnn (weighted least squares on relative error, z in [0, 10]; max
 *   relative error of erfc 2e-8 in exact arithmetic). e^{-v^2/2} is taken
 *   with v*v split into a rounded part and its fma() remainder, so GELU keeps
 *   its relative accuracy in the far negative tail.
 */
#define CLNN_DEFINE_ACT_MATH(T, suffix)                                                      \
  T clnn_expm1_##suffix(T v) {                                                               \
    T s = 1.0f / 40320.0f;                                                                   \
    s = fma(s, v, (T)(1.0f / 5040.0f));                                                      \
    s = fma(s, v, (T)(1.0f / 720.0f));                                                       \
    s = fma(s, v, (T)(1.0f / 120.0f));                                                       \
    s = fma(s, v, (T)(1.0f / 24.0f));                                                        \
    s = fma(s, v, (T)(1.0f / 6.0f));                                                         \
    s = fma(s, v, (T)(0.5f));                                                                \
    s = fma(s, v, (T)(1.0f));                                                                \
    return select(exp(v) - 1.0f, s * v, fabs(v) < (T)(0.5f));                                \
  }                                                                                          \
  T clnn_tanh_##suffix(T v) {                                                                \
    const T m = clnn_expm1_##suffix(-2.0f * fabs(v));                                        \
    return copysign(-m / (2.0f + m), v);                                                     \
  }                                                                                          \
  T clnn_one_minus_sigmoid_##suffix(T v, T s, T e) {                                         \
    return select(e * s, 1.0f - s, v < (T)(0.0f));                                           \
  }                                                                                          \
  T clnn_phi_##suffix(T v, T *pdf) {                                                         \
    const T t = 1.0f / (1.0f + 0.35355339059327376f * fabs(v));                              \
    const T u = t - 0.5f;                                                                    \
    T q = 1.235754602e-02f;                                                                  \
    q = fma(q, u, (T)(-6.801407039e-02f));                                                   \
    q = fma(q, u, (T)(4.644428566e-02f));                                                    \
    q = fma(q, u, (T)(9.743420035e-02f));                                                    \
    q = fma(q, u, (T)(-1.029642522e-01f));                                                   \
    q = fma(q, u, (T)(-1.720266938e-01f));                                                   \
    q = fma(q, u, (T)(1.457437575e-01f));                                                    \
    q = fma(q, u, (T)(5.589431524e-01f));                                                    \
    q = fma(q, u, (T)(6.871609092e-01f));                                                    \
    q = fma(q, u, (T)(5.107913613e-01f));                                                    \
    const T sq = v * v;                                                                      \
    T sq_lo = fma(v, v, -sq);                                                                \
    sq_lo = select((T)(0.0f), sq_lo, fabs(sq_lo) < (T)(1.0f)); /* inf, NaN: no correction */ \
    const T e = exp(-0.5f * sq) * (1.0f - 0.5f * sq_lo);                                     \
    *pdf = e * 0.39894228040143268f;                                                         \
    const T half_tail = 0.5f * t * e * q; /* Phi(-|v|) */                                    \
    return select(half_tail, 1.0f - half_tail, v > (T)(0.0f));                               \
  }

CLNN_DEFINE_ACT_MATH(float, f1)
CLNN_DEFINE_ACT_MATH(float16, f16)

/*
 * act_<T>(v): the activation ACT on a float or float vector. Written with
 * type-generic built-ins and select() so one body serves every width; NaN
 * propagates (relu(NaN) is NaN, as in PyTorch).
 */
#define CLNN_DEFINE_ACT(T, suffix)                                                    \
  T act_##suffix(T v) {                                                               \
    const T zero = (T)(0.0f);                                                         \
    if (ACT == ACT_IDENTITY) return v;                                                \
    if (ACT == ACT_RELU) return select(v, zero, v < zero);                            \
    if (ACT == ACT_LEAKY_RELU) return select(v, v * ACT_ALPHA, v < zero);             \
    if (ACT == ACT_ELU) return select(v, ACT_ALPHA * clnn_expm1_##suffix(v), v < zero); \
    if (ACT == ACT_SIGMOID) return (T)(1.0f) / ((T)(1.0f) + exp(-v));                 \
    if (ACT == ACT_TANH) return clnn_tanh_##suffix(v);                                \
    if (ACT == ACT_GELU) {                                                            \
      T pdf;                                                                          \
      return v * clnn_phi_##suffix(v, &pdf);                                          \
    }                                                                                 \
    if (ACT == ACT_GELU_TANH) /* v (1 + tanh(u)) / 2 = v sigmoid(2u): no cancellation */ \
      return v / ((T)(1.0f) + exp(-1.5957691216057307f * (v + 0.044715f * v * v * v))); \
    if (ACT == ACT_SILU) return v / ((T)(1.0f) + exp(-v));                            \
    if (ACT == ACT_HARDSWISH) return v * clamp(v + 3.0f, 0.0f, 6.0f) * (1.0f / 6.0f); \
    return v;                                                                         \
  }

CLNN_DEFINE_ACT(float, f1)
CLNN_DEFINE_ACT(float16, f16)

/*
 * act_grad_<T>(v, dy): dy * ACT'(v), the backward of act_<T> given its input
 * v. At the kinks the one-sided choice is PyTorch's: relu'(0) = 0,
 * leaky_relu'(0) = alpha, elu'(0) = alpha, hardswish'(-3) = -0.5 and
 * hardswish'(3) = 1.5; a NaN input gives what PyTorch gives (dy for relu,
 * elu and hardswish, alpha * dy for leaky_relu, NaN for the smooth ones).
 * host/act.c (clnn__ref_act_deriv) uses the same formulas in double; other
 * families (fused epilogues, batch norm with an activation) call these to
 * turn dy into the gradient before the activation.
 */
#define CLNN_DEFINE_ACT_GRAD(T, suffix)                                                    \
  T act_grad_##suffix(T v, T dy) {                                                         \
    const T zero = (T)(0.0f), one = (T)(1.0f);                                             \
    if (ACT == ACT_IDENTITY) return dy;                                                    \
    if (ACT == ACT_RELU) return select(dy, zero, v <= zero);                               \
    if (ACT == ACT_LEAKY_RELU) return select(dy * ACT_ALPHA, dy, v > zero);                \
    if (ACT == ACT_ELU) return select(dy, dy * (ACT_ALPHA * exp(v)), v <= zero);           \
    if (ACT == ACT_SIGMOID) {                                                              \
      const T e = exp(-v), s = one / (one + e);                                            \
      return dy * (s * clnn_one_minus_sigmoid_##suffix(v, s, e));                          \
    }                                                                                      \
    if (ACT == ACT_TANH) { /* 1 - tanh^2 = 4e / (1 + e)^2 with e = exp(-2|v|) */           \
      const T e = exp(-2.0f * fabs(v)), r = one / (one + e);                               \
      return dy * (4.0f * e * r * r);                                                      \
    }                                                                                      \
    if (ACT == ACT_GELU) {                                                                 \
      T pdf;                                                                               \
      const T cdf = clnn_phi_##suffix(v, &pdf);                                            \
      return dy * (cdf + v * pdf);                                                         \
    }                                                                                      \
    if (ACT == ACT_GELU_TANH) { /* d/dv v s(2u) = s + v s (1 - s) 2u'; sign(u) = sign(v) */ \
      const T e = exp(-1.5957691216057307f * (v + 0.044715f * v * v * v));               \
      const T s = one / (one + e);                                                         \
      const T du2 = 1.5957691216057307f * (one + 0.134145f * v * v);                       \
      return dy * (s + v * s * clnn_one_minus_sigmoid_##suffix(v, s, e) * du2);            \
    }                                                                                      \
    if (ACT == ACT_SILU) { /* s (1 + v (1 - s)) */                                         \
      const T e = exp(-v), s = one / (one + e);                                            \
      return dy * (s + v * s * clnn_one_minus_sigmoid_##suffix(v, s, e));                  \
    }                                                                                      \
    if (ACT == ACT_HARDSWISH) {                                                            \
      const T mid = dy * (v * (1.0f / 3.0f) + 0.5f);                                       \
      return select(select(dy, mid, v <= (T)(3.0f)), zero, v < (T)(-3.0f));                \
    }                                                                                      \
    return dy;                                                                             \
  }

CLNN_DEFINE_ACT_GRAD(float, f1)
CLNN_DEFINE_ACT_GRAD(float16, f16)

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
