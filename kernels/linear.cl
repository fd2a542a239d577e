/*
 * linear.cl - the small kernels around the fully connected layer's GEMMs
 * (the GEMMs themselves run on runtime/gemm.c): packing B operands into the
 * own GEMM's 32-wide panels, transposes, the bias broadcast the forward GEMM
 * accumulates onto, and the bias gradient. The CPU kernels move 16 floats
 * per access (docs/DESIGN.md, "Kernels on CPU devices"); the per-element transpose is the
 * one for GPUs (CLBlast engine).
 */
#define NR CLNN_TILE_NR      /* panel width of kernels/gemm.cl */
#define KB CLNN_LINEAR_PACK_KB /* k values per work-item when packing */

#ifndef TRANS
#define TRANS 0
#endif

/*
 * linear_pack_panels: copy a K x N operand into zero-padded panels
 * P[nt][k][j] = B(k, nt * 32 + j) (kernels/gemm.cl's B_PANELS layout).
 * TRANS = 0: B(k, n) = t[k * ld + n] (row-major K x N);
 * TRANS = 1: B(k, n) = t[n * ld + k] (t holds B^T, e.g. the weight W for W^T).
 * t is in the storage type (-DDT: a half weight is read and widened here,
 * so the GEMM's microkernel stays float32); the panels are float32.
 * -D: TRANS, DT. NDRange (ceil(K / 16), ceil(N / 32)), local (1, 1): each
 * work-item a 16 x 32 block, through a private tile when transposing.
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void linear_pack_panels(
    const int K, const int N, CTENSOR_DT(t), const int ld, TENSOR(p)) {
  const int k0 = get_global_id(0) * KB, nt = get_global_id(1), n0 = nt * NR;
  const int kn = min(KB, K - k0), nn = min(NR, N - n0);
  __global const STORE_T *src = AT(t);
  __global float *dst = AT(p) + ((size_t)nt * K + k0) * NR;
  float tile[KB][NR];
#if TRANS
  if (kn == KB) {
    for (int j = 0; j < nn; j++) {
      float col[KB];
      vstore16(LOADU16(src + (size_t)(n0 + j) * ld + k0), 0, col);
      for (int kk = 0; kk < KB; kk++) tile[kk][j] = col[kk];
    }
  } else {
    for (int j = 0; j < nn; j++)
      for (int kk = 0; kk < kn; kk++) tile[kk][j] = LOAD1(src, (size_t)(n0 + j) * ld + k0 + kk);
  }
#else
  for (int kk = 0; kk < kn; kk++) {
    __global const STORE_T *row = src + (size_t)(k0 + kk) * ld + n0;
    if (nn == NR) {
      vstore16(LOADU16(row), 0, tile[kk]);
      vstore16(LOADU16(row + 16), 0, tile[kk] + 16);
    } else {
      for (int j = 0; j < nn; j++) tile[kk][j] = LOAD1(row, j);
    }
  }
#endif
  for (int kk = 0; kk < kn; kk++) {
    for (int j = nn; j < NR; j++) tile[kk][j] = 0.0f; /* columns past N */
    vstore16(vload16(0, tile[kk]), 0, dst + (size_t)kk * NR);
    vstore16(vload16(0, tile[kk] + 16), 0, dst + (size_t)kk * NR + 16);
  }
}

/*
 * linear_transpose_blocks: dst[c][r] = src[r][c] for a rows x cols source
 * (stride lds) into dst (stride ldd), 16 x 16 blocks per work-item.
 * -D: none. NDRange (ceil(cols / 16), ceil(rows / 16)), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void linear_transpose_blocks(
    const int rows, const int cols, CTENSOR(src), const int lds, TENSOR(dst), const int ldd) {
  const int c0 = get_global_id(0) * 16, r0 = get_global_id(1) * 16;
  const int cn = min(16, cols - c0), rn = min(16, rows - r0);
  float tile[16][16];
  for (int r = 0; r < rn; r++) {
    __global const float *row = AT(src) + (size_t)(r0 + r) * lds + c0;
    if (cn == 16) {
      float v[16];
      vstore16(vload16(0, row), 0, v);
      for (int c = 0; c < 16; c++) tile[c][r] = v[c];
    } else {
      for (int c = 0; c < cn; c++) tile[c][r] = row[c];
    }
  }
  for (int c = 0; c < cn; c++) {
    __global float *out = AT(dst) + (size_t)(c0 + c) * ldd + r0;
    if (rn == 16) vstore16(vload16(0, tile[c]), 0, out);
    else
      for (int r = 0; r < rn; r++) out[r] = tile[c][r];
  }
}

/*
 * linear_fill_bias: y[i][o] = b[o], so the forward GEMM with beta = 1 adds
 * the bias per column (the GEMM's own fused bias is per row). One row per
 * work-item, 16 floats per store. -D: none. NDRange (n), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void linear_fill_bias(const int out, CTENSOR(b),
                                                                              TENSOR(y)) {
  __global float *row = AT(y) + (size_t)get_global_id(0) * out;
  __global const float *bias = AT(b);
  int o = 0;
  for (; o + 16 <= out; o += 16) vstore16(vload16(0, bias + o), 0, row + o);
  for (; o < out; o++) row[o] = bias[o];
}

/*
 * linear_bias_grad: db[o] = (ACCUMULATE ? db[o] : 0) + sum over rows i of
 * dy[i][o], rows summed in order 0, 1, ... (deterministic); 16 columns per
 * work-item. -D: ACCUMULATE (0/1). NDRange (ceil(out / 16)), local (1).
 */
#ifndef ACCUMULATE
#define ACCUMULATE 0
#endif
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void linear_bias_grad(const int n, const int out,
                                                                              CTENSOR(dy), TENSOR(db)) {
  const int o0 = get_global_id(0) * 16;
  __global const float *col = AT(dy) + o0;
  if (o0 + 16 <= out) {
    float16 acc = (float16)(0.0f);
    for (int i = 0; i < n; i++) acc += vload16(0, col + (size_t)i * out);
#if ACCUMULATE
    acc = vload16(0, AT(db) + o0) + acc;
#endif
    vstore16(acc, 0, AT(db) + o0);
    return;
  }
  for (int o = 0; o < out - o0; o++) {
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += col[(size_t)i * out + o];
#if ACCUMULATE
    acc = AT(db)[o0 + o] + acc;
#endif
    AT(db)[o0 + o] = acc;
  }
}

/* ------------------------------------------------------------ GPU variants */

/* linear_fill_bias_gpu: y[i][o] = b[o], one element per work-item, along the
 * rows (coalesced). NDRange (out, n), any local size. */
__kernel void linear_fill_bias_gpu(const int n, const int out, CTENSOR(b), TENSOR(y)) {
  const int o = get_global_id(0), i = get_global_id(1);
  if (o < out && i < n) AT(y)[(size_t)i * out + o] = AT(b)[o];
}

/* linear_bias_grad_gpu: db[o] (+)= sum over rows i of dy[i][o], rows in order,
 * one column per work-item: neighbouring work-items read neighbouring
 * columns of each row (coalesced). -D: ACCUMULATE. NDRange (out), any local. */
__kernel void linear_bias_grad_gpu(const int n, const int out, CTENSOR(dy), TENSOR(db)) {
  const int o = get_global_id(0);
  if (o >= out) return;
  float acc = 0.0f;
  for (int i = 0; i < n; i++) acc += AT(dy)[(size_t)i * out + o];
#if ACCUMULATE
  acc = AT(db)[o] + acc;
#endif
  AT(db)[o] = acc;
}
