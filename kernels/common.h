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
    if (ACT == ACT_ELU) return select(v, ACT_ALPHA * expm1(v), v < zero);             \
    if (ACT == ACT_SIGMOID) return (T)(1.0f) / ((T)(1.0f) + exp(-v));                 \
    if (ACT == ACT_TANH) return tanh(v);                                              \
    if (ACT == ACT_GELU) return 0.5f * v * ((T)(1.0f) + erf(v * 0.70710678118654752f)); \
    if (ACT == ACT_GELU_TANH)                                                         \
      return 0.5f * v *                                                               \
             ((T)(1.0f) + tanh(0.79788456080286536f * (v + 0.044715f * v * v * v)));  \
    if (ACT == ACT_SILU) return v / ((T)(1.0f) + exp(-v));                            \
    if (ACT == ACT_HARDSWISH) return v * clamp(v + 3.0f, 0.0f, 6.0f) * (1.0f / 6.0f); \
    return v;                                                                         \
  }

CLNN_DEFINE_ACT(float, f1)
CLNN_DEFINE_ACT(float16, f16)
