/*
 * conv/bwd_bias_gpu.cl - conv.bwd_b.gpu_reduce: the bias gradient, a
 * work-group tree per output channel in a fixed order (no atomics).
 * -D: ACCUMULATE, WG (work-items per group, a power of two).
 */
#ifndef ACCUMULATE
#define ACCUMULATE 0
#endif
#ifndef WG
#define WG CLNN_GPU_WG
#endif

/*
 * conv_bwd_bias_gpu: db[k] (+)= sum over images and pixels of dy[img][k].
 * One work-group per channel, work-items striding over the pixels of each
 * image in turn, then a tree sum. NDRange (WG, K), local (WG, 1).
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void conv_bwd_bias_gpu(CTENSOR(dy), TENSOR(db),
                                                                                const int N, const int K,
                                                                                const int HW) {
  __local float scratch[WG];
  const int k = get_group_id(1);
  float acc = 0.0f;
  for (int img = 0; img < N; img++) {
    __global const float *plane = AT(dy) + (size_t)(img * K + k) * HW;
    for (int p = get_local_id(0); p < HW; p += WG) acc += plane[p];
  }
  const float total = clnn_group_sum(acc, scratch, WG);
  if (get_local_id(0) == 0) AT(db)[k] = ACCUMULATE ? AT(db)[k] + total : total;
}
