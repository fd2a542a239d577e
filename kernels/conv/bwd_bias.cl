/*
 * conv/bwd_bias.cl - conv.bwd_b.per_channel: the bias gradient, one
 * work-item per channel.
 */

/*
 * conv_bwd_bias: db[k] (+)= sum over images and pixels of dy[img, k, :],
 * one work-item per channel: 16-lane sums in order, then a fixed tree.
 * NDRange (K), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_bwd_bias(
    CTENSOR(dy), TENSOR(db), const int N, const int K, const int P, const int accumulate) {
  const int k = get_global_id(0);
  if (k >= K) return;
  float16 acc = (float16)(0.0f);
  float tail = 0.0f;
  for (int img = 0; img < N; img++) {
    __global const float *p = AT(dy) + ((size_t)img * K + k) * P;
    int j = 0;
    for (; j + 16 <= P; j += 16) acc += vload16(0, p + j);
    for (; j < P; j++) tail += p[j];
  }
  AT(db)[k] = (accumulate ? AT(db)[k] : 0.0f) + (conv_hsum16(acc) + tail);
}
