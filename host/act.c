/*
 * act.c - host reference of the activation functions, in double.
 * Same formulas as kernels/common.h (act_f1 / act_f16).
 */
#include "../runtime/internal.h"

#include <math.h>

double clnn__ref_act(double v, clnn_activation act, double alpha) {
  switch (act) {
    case CLNN_ACT_IDENTITY:
      return v;
    case CLNN_ACT_RELU:
      return v < 0 ? 0.0 : v;
    case CLNN_ACT_LEAKY_RELU:
      return v < 0 ? v * alpha : v;
    case CLNN_ACT_ELU:
      return v < 0 ? alpha * expm1(v) : v;
    case CLNN_ACT_SIGMOID:
      return 1.0 / (1.0 + exp(-v));
    case CLNN_ACT_TANH:
      return tanh(v);
    case CLNN_ACT_GELU:
      return 0.5 * v * (1.0 + erf(v * 0.70710678118654752));
    case CLNN_ACT_GELU_TANH:
      return 0.5 * v * (1.0 + tanh(0.79788456080286536 * (v + 0.044715 * v * v * v)));
    case CLNN_ACT_SILU:
      return v / (1.0 + exp(-v));
    case CLNN_ACT_HARDSWISH: {
      double r6 = v + 3.0 < 0 ? 0.0 : (v + 3.0 > 6.0 ? 6.0 : v + 3.0);
      return v * r6 / 6.0;
    }
    default:
      return v;
  }
}
