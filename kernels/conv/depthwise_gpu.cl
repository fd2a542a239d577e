/*
 * conv/depthwise_gpu.cl - conv.*.gpu_depthwise: depthwise convolution in all
 * three passes, one output element per work-item, neighbouring work-items
 * on neighbouring pixels of a plane (coalesced), the plane index on the
 * second NDRange axis; the weight gradient is a work-group tree per tap in
 * local memory, in a fixed order: deterministic, no atomics.
 *
 * -D: KH KW (kernel size: the tap loops unroll), MULT (output channels per
 * input channel, k = c * MULT), HAS_BIAS, ACT, ACCUMULATE (weight gradient),
 * WG (work-items per group of the weight gradient, a power of two).
 */
#ifndef KH
#define KH 3
#endif
#ifndef KW
#define KW 3
#endif
#ifndef MULT
#define MULT 1
#endif
#ifndef HAS_BIAS
#define HAS_BIAS 0
#endif
#ifndef ACCUMULATE
#define ACCUMULATE 0
#endif
#ifndef WG
#define WG CLNN_GPU_WG
#endif

/*
 * conv_dw_fwd_gpu: y[img][o][p] = act(sum_{r,s} w[o][r][s] x[img][o / MULT]
 * at (oh*sh - ph + r*dh, ow*sw - pw + s*dw) + b[o]), zeros outside x.
 * NDRange (OH*OW rounded up, N*K), any local size.
 */
__kernel void conv_dw_fwd_gpu(CTENSOR(x), CTENSOR(w), CTENSOR(b), TENSOR(y), const int C, const int H,
                              const int W, const int OH, const int OW, const int SH, const int SW, const int PH,
                              const int PW, const int DH, const int DW) {
  const int p = get_global_id(0), plane = get_global_id(1), K = C * MULT;
  if (p >= OH * OW) return;
  const int img = plane / K, o = plane - img * K, oh = p / OW, ow = p - oh * OW;
  __global const float *xp = AT(x) + (size_t)(img * C + o / MULT) * H * W;
  __global const float *wp = AT(w) + o * KH * KW;
  const int ih0 = oh * SH - PH, iw0 = ow * SW - PW;
  float acc = 0.0f;
#pragma unroll
  for (int r = 0; r < KH; r++) {
    const int ih = ih0 + r * DH;
    if (ih < 0 || ih >= H) continue;
#pragma unroll
    for (int s = 0; s < KW; s++) {
      const int iw = iw0 + s * DW;
      if (iw >= 0 && iw < W) acc = fma(wp[r * KW + s], xp[ih * W + iw], acc);
    }
  }
  AT(y)[(size_t)plane * OH * OW + p] = act_f1(acc + (HAS_BIAS ? AT(b)[o] : 0.0f));
}

/*
 * conv_dw_bwd_data_gpu: dx[img][c][q] = act(sum over the MULT output channels
 * o of c and the taps (r, s) of w[o][r][s] dy[img][o] at the output pixel
 * that input pixel q feeds through the tap, if any, + bias[c]): a gather.
 * NDRange (H*W rounded up, N*C), any local size.
 */
__kernel void conv_dw_bwd_data_gpu(CTENSOR(dy), CTENSOR(w), CTENSOR(b), TENSOR(dx), const int C, const int H,
                                   const int W, const int OH, const int OW, const int SH, const int SW, const int PH,
                                   const int PW, const int DH, const int DW) {
  const int q = get_global_id(0), plane = get_global_id(1);
  if (q >= H * W) return;
  const int img = plane / C, c = plane - img * C, h = q / W, wq = q - h * W;
  float acc = 0.0f;
  for (int j = 0; j < MULT; j++) {
    const int o = c * MULT + j;
    __global const float *dyp = AT(dy) + (size_t)(img * C * MULT + o) * OH * OW;
    __global const float *wp = AT(w) + o * KH * KW;
#pragma unroll
    for (int r = 0; r < KH; r++) {
      const int th = h + PH - r * DH, oh = th / SH;
      if (th < 0 || oh * SH != th || oh >= OH) continue;
#pragma unroll
      for (int s = 0; s < KW; s++) {
        const int tw = wq + PW - s * DW, ow = tw / SW;
        if (tw >= 0 && ow * SW == tw && ow < OW) acc = fma(wp[r * KW + s], dyp[oh * OW + ow], acc);
      }
    }
  }
  AT(dx)[(size_t)plane * H * W + q] = act_f1(acc + (HAS_BIAS ? AT(b)[c] : 0.0f));
}

/*
 * conv_dw_bwd_weights_gpu: dw[o][r][s] (+)= sum over images and output
 * pixels of dy[img][o][p] x[img][o / MULT] at the tap's input pixel. One
 * work-group per output channel o: its work-items stride over (img, p),
 * each keeping KH*KW partial sums, then each tap is tree-summed.
 * NDRange (WG, K), local (WG, 1).
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void conv_dw_bwd_weights_gpu(
    CTENSOR(x), CTENSOR(dy), TENSOR(dw), const int N, const int C, const int H, const int W, const int OH,
    const int OW, const int SH, const int SW, const int PH, const int PW, const int DH, const int DW) {
  __local float scratch[WG];
  const int o = get_group_id(1), K = C * MULT, OHW = OH * OW;
  float acc[KH * KW];
#pragma unroll
  for (int t = 0; t < KH * KW; t++) acc[t] = 0.0f;
  for (int i = get_local_id(0); i < N * OHW; i += WG) {
    const int img = i / OHW, p = i - img * OHW, oh = p / OW, ow = p - oh * OW;
    const float g = AT(dy)[(size_t)(img * K + o) * OHW + p];
    __global const float *xp = AT(x) + (size_t)(img * C + o / MULT) * H * W;
    const int ih0 = oh * SH - PH, iw0 = ow * SW - PW;
#pragma unroll
    for (int r = 0; r < KH; r++) {
      const int ih = ih0 + r * DH;
#pragma unroll
      for (int s = 0; s < KW; s++) {
        const int iw = iw0 + s * DW;
        const bool in = ih >= 0 && ih < H && iw >= 0 && iw < W;
        acc[r * KW + s] = fma(g, in ? xp[ih * W + iw] : 0.0f, acc[r * KW + s]);
      }
    }
  }
#pragma unroll
  for (int t = 0; t < KH * KW; t++) {
    const float total = clnn_group_sum(acc[t], scratch, WG);
    if (get_local_id(0) == 0) AT(dw)[o * KH * KW + t] = ACCUMULATE ? AT(dw)[o * KH * KW + t] + total : total;
  }
}
