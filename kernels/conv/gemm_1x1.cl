/*
 * conv/gemm_1x1.cl - conv.*.gemm_1x1_packed: 1x1 convolution on planes cut
 * into 16-pixel chunks, the forward and data gradient (conv_1x1_gemm, -D
 * C1_GEMM) and the weight gradient (conv_1x1_bwdw, -D C1W_TM). The A
 * operand is packed by conv/support.cl's conv_1x1_pack_a.
 */

/*
 * The 1x1 kernels for planes of 16 pixels or more (stride 1, no padding,
 * groups 1), where a 32-column GEMM tile of one image would be half empty
 * (4x4 planes) or take the masked path (the tail of 7x7 and 14x14 planes).
 * Each image's plane is cut into 16-pixel chunks; the last one ends at HW
 * and overlaps its predecessor (HW >= 16), so every chunk is one vector
 * load per row, whatever HW is.
 */

/* Chunk ci of a batch of planes (nch chunks each): its image, first pixel,
 * and how many leading lanes repeat the previous chunk. */
typedef struct c1_chunk {
  int img, p0, skip;
} c1_chunk;

c1_chunk c1_chunk_of(const int ci, const int nch, const int HW) {
  c1_chunk c;
  const int k = ci % nch;
  c.img = ci / nch;
  c.p0 = min(16 * k, HW - 16);
  c.skip = 16 * k - c.p0;
  return c;
}

#ifdef C1_GEMM
/* Store lanes skip..15 of v to p[skip..15] (a streaming store when
 * stream and the whole vector goes out). */
void c1_store_from(const float16 v, __global float *p, const int skip, const int stream) {
  if (skip == 0) {
    if (stream)
      clnn_store16_stream(v, p);
    else
      vstore16(v, 0, p);
    return;
  }
  float t[16];
  vstore16(v, 0, t);
  for (int l = skip; l < 16; l++) p[l] = t[l];
}

/*
 * conv_1x1_gemm: Y[img] (M x HW) = act(A (M x Kd) X[img] (Kd x HW) + bias)
 * for every image: the forward of a 1x1 convolution (A = w, X = x) or its
 * bwd_data (A = w^T, X = dy). A work-item computes an 8 x 32 tile, 8 rows
 * of M times two chunks (see above), possibly of two images, in sixteen
 * float16 accumulators: per k two vector loads of X and eight broadcasts of
 * A. A is packed [ceil(M/8)][Kd][8] (conv_1x1_pack_a), rows past M zero.
 * A chunk's repeated lanes are computed again but not stored (each output
 * is written once); with an odd chunk count the last work-item's second
 * chunk repeats its first and is not stored.
 * -D: C1_GEMM, HAS_BIAS, ACT, ACT_ALPHA.
 * NDRange (ceil(M/8), ceil(N * nch / 2)), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_1x1_gemm(
    CTENSOR(x), CTENSOR(a), CTENSOR(bias), TENSOR(y), const int N, const int M, const int Kd, const int HW,
    const int nch, const int stream) {
  const int mt = get_global_id(0), ci0 = 2 * get_global_id(1);
  const int nchunks = N * nch;
  if (mt * 8 >= M || ci0 >= nchunks) return;
  const bool second = ci0 + 1 < nchunks;
  const c1_chunk c0 = c1_chunk_of(ci0, nch, HW), c1 = c1_chunk_of(second ? ci0 + 1 : ci0, nch, HW);
  __global const float *b0 = AT(x) + (size_t)c0.img * Kd * HW + c0.p0;
  __global const float *b1 = AT(x) + (size_t)c1.img * Kd * HW + c1.p0;
  __global const float *ap = AT(a) + (size_t)mt * Kd * 8;
  float16 acc0[8], acc1[8];
  for (int i = 0; i < 8; i++) acc0[i] = acc1[i] = (float16)(0.0f);
#define C1_FMA_ROW(i)                                    \
  do {                                                   \
    const float16 a_ = (float16)(a[i]);                  \
    acc0[i] = fma(a_, v0, acc0[i]);                      \
    acc1[i] = fma(a_, v1, acc1[i]);                      \
  } while (0)
  for (int k = 0; k < Kd; k++) {
    const float16 v0 = vload16(0, b0 + (size_t)k * HW), v1 = vload16(0, b1 + (size_t)k * HW);
    __global const float *a = ap + k * 8;
    C1_FMA_ROW(0);
    C1_FMA_ROW(1);
    C1_FMA_ROW(2);
    C1_FMA_ROW(3);
    C1_FMA_ROW(4);
    C1_FMA_ROW(5);
    C1_FMA_ROW(6);
    C1_FMA_ROW(7);
  }
#undef C1_FMA_ROW
  for (int i = 0; i < 8 && mt * 8 + i < M; i++) {
    const int m = mt * 8 + i;
#if HAS_BIAS
    const float bv = AT(bias)[m];
#else
    const float bv = 0.0f;
#endif
    c1_store_from(act_f16(acc0[i] + bv), AT(y) + ((size_t)c0.img * M + m) * HW + c0.p0, c0.skip, stream);
    if (second)
      c1_store_from(act_f16(acc1[i] + bv), AT(y) + ((size_t)c1.img * M + m) * HW + c1.p0, c1.skip, stream);
  }
}
#endif

#ifdef C1W_TM
/*
 * conv_1x1_bwdw: partial sums of the weight gradient of a 1x1 convolution,
 *   out[part][m][k] = sum over the part's images and pixels p of
 *                     dy[img][m][p] * x[img][k][p]
 * (m < M output channels, k < Kd input channels), one work-item per part
 * of the batch (a few images, sized by the host to stay in the L2 cache):
 * for every C1W_TM x C1W_TN tile of (m, k), dot products along the planes,
 * 16 pixels per vector (chunks as above; the repeated lanes of an
 * overlapping last chunk are zeroed in dy), one float16 of lane sums per
 * output, added in a fixed tree at the end. Both operands are read along
 * their rows: no transposition. Rows past M or Kd repeat the last one and
 * are not stored. Deterministic.
 * -D: C1W_TM, C1W_TN.
 * NDRange (parts), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_1x1_bwdw(
    CTENSOR(x), CTENSOR(dy), TENSOR(out), const int N, const int M, const int Kd, const int HW,
    const int img_per_part) {
  const int part = get_global_id(0);
  const int img_begin = part * img_per_part, img_end = min(N, img_begin + img_per_part);
  if (img_begin >= N) return;
  const int nch = (HW + 15) / 16, tail = nch * 16 - HW;
  /* lanes of the last chunk that the previous one already covered */
  const float16 lane = (float16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const float16 tail_mask = select((float16)(0.0f), (float16)(1.0f), isgreaterequal(lane, (float16)(tail)));
  const int full = tail ? nch - 1 : nch; /* chunks without repeated lanes */
  for (int m0 = 0; m0 < M; m0 += C1W_TM)
    for (int k0 = 0; k0 < Kd; k0 += C1W_TN) {
      int mrow[C1W_TM], krow[C1W_TN];
      for (int i = 0; i < C1W_TM; i++) mrow[i] = min(m0 + i, M - 1) * HW;
      for (int j = 0; j < C1W_TN; j++) krow[j] = min(k0 + j, Kd - 1) * HW;
      float16 acc[C1W_TM][C1W_TN];
      for (int i = 0; i < C1W_TM; i++)
        for (int j = 0; j < C1W_TN; j++) acc[i][j] = (float16)(0.0f);
      for (int img = img_begin; img < img_end; img++) {
        __global const float *D = AT(dy) + (size_t)img * M * HW;
        __global const float *X = AT(x) + (size_t)img * Kd * HW;
        for (int c = 0; c < nch; c++) {
          const int p0 = min(16 * c, HW - 16);
          float16 dv[C1W_TM];
#pragma unroll
          for (int i = 0; i < C1W_TM; i++) dv[i] = vload16(0, D + mrow[i] + p0);
          if (c >= full)
#pragma unroll
            for (int i = 0; i < C1W_TM; i++) dv[i] *= tail_mask;
#pragma unroll
          for (int j = 0; j < C1W_TN; j++) {
            const float16 xv = vload16(0, X + krow[j] + p0);
#pragma unroll
            for (int i = 0; i < C1W_TM; i++) acc[i][j] = fma(dv[i], xv, acc[i][j]);
          }
        }
      }
      for (int i = 0; i < C1W_TM && m0 + i < M; i++)
        for (int j = 0; j < C1W_TN && k0 + j < Kd; j++)
          AT(out)[((size_t)part * M + m0 + i) * Kd + k0 + j] = conv_hsum16(acc[i][j]);
    }
}
#endif
