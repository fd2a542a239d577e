/*
 * linear.cl - the small kernels around the fully connected layer's GEMMs
 * (the GEMMs themselves run on runtime/gemm.c): the bias broadcast the
 * forward GEMM accumulates onto, the transpose of W for engines that need
 * B row-major (CLBlast), and the bias gradient.
 */

/*
 * linear_fill_bias: y[i][o] = b[o], so the forward GEMM with beta = 1 adds
 * the bias per column (the GEMM's own fused bias is per row).
 * -D: none. NDRange (out, n), any local size. Arguments: sizes, b, y.
 */
__kernel void linear_fill_bias(const int n, const int out, CTENSOR(b), TENSOR(y)) {
  const int o = get_global_id(0), i = get_global_id(1);
  if (o >= out || i >= n) return;
  AT(y)[(size_t)i * out + o] = AT(b)[o];
}

/*
 * linear_transpose: wt[k][o] = w[o][k], W^T row-major (in x ldt) for engines
 * whose GEMM wants B row-major. -D: none. NDRange (in, out), any local size.
 */
__kernel void linear_transpose(const int out, const int in, CTENSOR(w), TENSOR(wt), const int ldt) {
  const int k = get_global_id(0), o = get_global_id(1);
  if (k >= in || o >= out) return;
  AT(wt)[(size_t)k * ldt + o] = AT(w)[(size_t)o * in + k];
}

/*
 * linear_bias_grad: db[o] = (ACCUMULATE ? db[o] : 0) + sum over rows i of
 * dy[i][o], rows summed in order 0, 1, ... (deterministic).
 * -D: ACCUMULATE (0/1). NDRange (out), local size 1.
 */
#ifndef ACCUMULATE
#define ACCUMULATE 0
#endif
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void linear_bias_grad(const int n,
                                                                              const int out,
                                                                              CTENSOR(dy),
                                                                              TENSOR(db)) {
  const int o = get_global_id(0);
  if (o >= out) return;
  __global const float *col = AT(dy) + o;
  float acc = 0.0f;
  for (int i = 0; i < n; i++) acc += col[(size_t)i * out];
#if ACCUMULATE
  acc = AT(db)[o] + acc;
#endif
  AT(db)[o] = acc;
}
