/*
 * conv/support.cl - the small layout and reduction kernels the
 * convolution's CPU-class variants run around their main kernel: zero
 * padding, weight packing and transposition, and fixed-order sums of
 * partial results. None takes a -D option, so they share one program.
 */

/*
 * conv_pad: copy planes of H x W into zero-filled planes of Hp x Wp with the
 * data at (PH, PW). One work-item per padded row.
 * NDRange (Hp, planes), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_pad(
    CTENSOR(x), TENSOR(xp), const int H, const int W, const int Hp, const int Wp, const int PH,
    const int PW) {
  const int row = get_global_id(0), plane = get_global_id(1);
  if (row >= Hp) return;
  __global float *out = AT(xp) + ((size_t)plane * Hp + row) * Wp;
  const int iy = row - PH;
  if (iy < 0 || iy >= H) {
    for (int j = 0; j < Wp; j++) out[j] = 0.0f;
    return;
  }
  __global const float *in = AT(x) + ((size_t)plane * H + iy) * W;
  for (int j = 0; j < PW; j++) out[j] = 0.0f;
  for (int j = 0; j < W; j++) out[PW + j] = in[j];
  for (int j = PW + W; j < Wp; j++) out[j] = 0.0f;
}

/*
 * conv_pack_wt: the weights of bwd_data's packed GEMM. bwd_data with stride
 * 1 is a forward convolution of dy whose weights are w with input and
 * output channels swapped and the taps flipped in both directions:
 *   wt[g][ci][kl][taps-1-t] = w[g*Kin + kl][ci][t]   (t = r*KW + s).
 * They are packed as conv_packed_gemm reads them, [G][ceil(M/8)][Kd][8]
 * with Kd = Kin * taps and rows past M zero (as gemm_pack_a does).
 * Args: M = input channels per group of the forward (the GEMM's rows),
 * Kin = output channels per group of the forward, taps = KH * KW.
 * NDRange (Kd, ceil(M/8), G), local (1, 1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_pack_wt(
    const int M, const int Kin, const int taps, CTENSOR(w), TENSOR(p)) {
  const int row = get_global_id(0), mt = get_global_id(1), g = get_global_id(2);
  const int Kd = Kin * taps;
  if (row >= Kd) return;
  const int kl = row / taps, t = row % taps, mtiles = (M + 7) / 8;
  __global const float *src = AT(w) + (size_t)(g * Kin + kl) * M * taps + (taps - 1 - t);
  __global float *dst = AT(p) + (((size_t)g * mtiles + mt) * Kd + row) * 8;
  for (int i = 0; i < 8; i++) {
    const int m = mt * 8 + i;
    dst[i] = m < M ? src[(size_t)m * taps] : 0.0f;
  }
}

/*
 * conv_pack_blocks: weights as [G][ceil(M/MB)][Kd][MB] (Kd = Cg*KH*KW, the
 * MB rows of a block contiguous per GEMM column, rows past M zero), the
 * layout conv_direct_oc reads. transposed = 0: the forward's own weights
 * (M = output channels per group). transposed = 1: bwd_data's flipped,
 * transposed weights as conv_pack_wt describes (M = the forward's input
 * channels per group, Kin = its output channels per group).
 * NDRange (Kd, ceil(M/MB), G), local (1, 1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_pack_blocks(
    const int M, const int Kin, const int taps, const int transposed, const int MB, CTENSOR(w), TENSOR(p)) {
  const int row = get_global_id(0), mt = get_global_id(1), g = get_global_id(2);
  const int Kd = Kin * taps;
  if (row >= Kd) return;
  const int mtiles = (M + MB - 1) / MB;
  __global float *dst = AT(p) + (((size_t)g * mtiles + mt) * Kd + row) * MB;
  for (int i = 0; i < MB; i++) {
    const int m = mt * MB + i;
    float v = 0.0f;
    if (m < M && transposed) {
      const int kl = row / taps, t = row % taps;
      v = AT(w)[((size_t)(g * Kin + kl) * M + m) * taps + (taps - 1 - t)];
    } else if (m < M) {
      v = AT(w)[((size_t)g * M + m) * Kd + row];
    }
    dst[i] = v;
  }
}

/*
 * conv_transpose_w: wt[g][j][i] = w[g][i][j] for G row-major rows x cols
 * matrices: the weights of bwd_data's GEMMs (dcol = w_g^T dy_g) stored so
 * the GEMM reads A untransposed, its fast path. One work-item per output
 * row (wt[g][j]), neighbours reading neighbouring columns of w.
 * NDRange (cols rounded up to 16, G), local (16, 1).
 */
__kernel void conv_transpose_w(CTENSOR(w), TENSOR(wt), const int rows, const int cols) {
  const int j = get_global_id(0), g = get_global_id(1);
  if (j >= cols) return;
  __global const float *src = AT(w) + (size_t)g * rows * cols + j;
  __global float *dst = AT(wt) + ((size_t)g * cols + j) * rows;
  for (int i = 0; i < rows; i++) dst[i] = src[(size_t)i * cols];
}

/*
 * conv_1x1_pack_a: the A of conv_1x1_gemm, [ceil(M/8)][Kd][8], rows past M
 * zero, from w (K x C row-major): A = w (trans 0: M = K, Kd = C) or A = w^T
 * (trans 1: M = C, Kd = K).
 * NDRange (Kd, ceil(M/8)), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_1x1_pack_a(
    CTENSOR(w), TENSOR(p), const int M, const int Kd, const int trans) {
  const int k = get_global_id(0), mt = get_global_id(1);
  if (k >= Kd) return;
  __global float *dst = AT(p) + ((size_t)mt * Kd + k) * 8;
  for (int i = 0; i < 8; i++) {
    const int m = mt * 8 + i;
    dst[i] = m < M ? AT(w)[trans ? (size_t)k * M + m : (size_t)m * Kd + k] : 0.0f;
  }
}

/*
 * conv_sum_parts: out[i] = (accumulate ? out[i] : 0) + sum over p < nparts
 * of parts[p * n + i], p in order. out has the storage type DT
 * (kernels/common.h): a half dw is widened, summed in float32 and rounded
 * once. NDRange (n), local (any).
 */
__kernel void conv_sum_parts(CTENSOR(parts), TENSOR_DT(out), const int n, const int nparts, const int accumulate) {
  const int i = get_global_id(0);
  if (i >= n) return;
  float v = 0.0f;
  for (int p = 0; p < nparts; p++) v += AT(parts)[(size_t)p * n + i];
  STORE1((accumulate ? LOAD1(AT(out), i) : 0.0f) + v, AT(out), i);
}

/*
 * conv_bwdw_reduce: dw[g*M + kl][row] (+)= sum over slots s in order of
 * part[s][g][row][kl] (see conv_bwdw_packed).
 * NDRange (K rounded up to 16, Kd), local (16, 1): neighbours read neighbouring columns.
 */
__kernel void conv_bwdw_reduce(CTENSOR(part), TENSOR(dw), const int slots, const int G, const int M,
                               const int Kd, const int Kdp, const int Kgp, const int accumulate) {
  const int kk = get_global_id(0), row = get_global_id(1);
  if (kk >= G * M || row >= Kd) return;
  const int g = kk / M, kl = kk % M;
  __global const float *p = AT(part) + ((size_t)g * Kdp + row) * Kgp + kl;
  const size_t slot_stride = (size_t)G * Kdp * Kgp;
  float v = 0.0f;
  for (int s = 0; s < slots; s++) v += p[(size_t)s * slot_stride];
  __global float *o = AT(dw) + (size_t)kk * Kd + row;
  *o = (accumulate ? *o : 0.0f) + v;
}
