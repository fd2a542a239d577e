/*
 * conv/direct_band.cl - conv.fwd.direct_band: stride-1 convolution from a
 * local-memory ring of input rows, output channels along the vectors.
 */

/*
 * conv_direct_band: stride-1 convolution straight from x, with the output
 * channels along the vectors and the zero padding folded in. A work-item
 * owns a band of `rows` output rows of one image and group and all the
 * group's output channels. It keeps the padded input rows its taps need,
 * all Cg channels, in a ring of span = (KH-1)*DH+1 rows in local memory
 * ([slot][Cg][Wp], padded row q in slot q % span) and copies in one new
 * input row per output row: x is read (rows + span - 1) / rows times, and
 * nothing padded goes through global memory. Micro-tiles of CB_NP pixels x
 * 16*CB_NV output channels stay in registers over the whole K = Cg*KH*KW;
 * per tap, CB_NV aligned vector loads of packed weights and one 4-byte
 * broadcast per pixel from the ring (never split across cache lines, unlike
 * unaligned vector loads of shifted pixel runs). Sum order c, r, s for
 * every output (deterministic). Pixels of the last micro-tile past Wo are
 * computed and dropped (they read at most CB_NP-1 floats past a ring row:
 * the ring has that slack).
 * Weights: [G][ceil(M/(16*CB_NV))][Cg*KH*KW][16*CB_NV], rows past M zero
 * (conv_pack_blocks).
 * -D: CB_KH, CB_KW (taps, unrolled), CB_NV, CB_NP, CB_RING (floats of the
 *     ring, a size class >= span*Cg*Wp + CB_NP), HAS_BIAS, ACT, ACT_ALPHA.
 * NDRange (ceil(Ho/rows), images * G), local (1, 1).
 */
#define CB_MB (16 * CB_NV)
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_direct_band(
    CTENSOR(x), CTENSOR(w), CTENSOR(bias), TENSOR(y), const int C, const int H, const int W, const int K,
    const int G, const int Ho, const int Wo, const int PH, const int PW, const int DH, const int DW,
    const int rows) {
  __local float ring[CB_RING];
  const int oy0 = get_global_id(0) * rows, bi = get_global_id(1);
  if (oy0 >= Ho) return;
  const int Cg = C / G, M = K / G, nmb = (M + CB_MB - 1) / CB_MB, img = bi / G, g = bi % G;
  const int Wp = W + 2 * PW, span = (CB_KH - 1) * DH + 1, kd = Cg * CB_KH * CB_KW, plane = Cg * Wp;
  __global const float *X = AT(x) + ((size_t)img * C + (size_t)g * Cg) * H * W;
  const int oy1 = min(oy0 + rows, Ho);
  for (int oy = oy0; oy < oy1; oy++) {
    /* Padded rows oy .. oy+span-1 must be in the ring: all of them for the
     * band's first row, then the one new row. */
    for (int q = (oy == oy0 ? oy : oy + span - 1); q < oy + span; q++) {
      __local float *dst = ring + (q % span) * plane;
      const int iy = q - PH;
      if (iy < 0 || iy >= H) {
        for (int j = 0; j < plane; j++) dst[j] = 0.0f;
        continue;
      }
      __global const float *src = X + (size_t)iy * W;
      for (int c = 0; c < Cg; c++, dst += Wp, src += (size_t)H * W) {
        for (int j = 0; j < PW; j++) dst[j] = 0.0f;
        int j = 0;
        for (; j + 16 <= W; j += 16) vstore16(vload16(0, src + j), 0, dst + PW + j);
        for (; j < W; j++) dst[PW + j] = src[j];
        for (j = PW + W; j < Wp; j++) dst[j] = 0.0f;
      }
    }
    int slot[CB_KH];
    for (int r = 0; r < CB_KH; r++) slot[r] = ((oy + r * DH) % span) * plane;
    for (int mb = 0; mb < nmb; mb++) {
      const int mn = min(CB_MB, M - mb * CB_MB);
      __global const float *Wt = AT(w) + ((size_t)g * nmb + mb) * kd * CB_MB;
      __global float *Y = AT(y) + ((size_t)img * K + g * M + mb * CB_MB) * Ho * Wo + oy * Wo;
      float16 bv[CB_NV];
      for (int v = 0; v < CB_NV; v++) {
        bv[v] = (float16)(0.0f);
#if HAS_BIAS
        for (int l = 0; l < 16 && v * 16 + l < mn; l++) ((float *)&bv[v])[l] = AT(bias)[g * M + mb * CB_MB + v * 16 + l];
#endif
      }
      for (int ox = 0; ox < Wo; ox += CB_NP) {
        float16 acc[CB_NP][CB_NV];
#pragma unroll
        for (int j = 0; j < CB_NP; j++)
#pragma unroll
          for (int v = 0; v < CB_NV; v++) acc[j][v] = (float16)(0.0f);
        __global const float *a = Wt;
        for (int c = 0; c < Cg; c++) {
#pragma unroll
          for (int r = 0; r < CB_KH; r++) {
            __local const float *row = ring + slot[r] + c * Wp + ox;
#pragma unroll
            for (int s = 0; s < CB_KW; s++, a += CB_MB) {
              __local const float *p = row + s * DW;
              float16 wv[CB_NV];
#pragma unroll
              for (int v = 0; v < CB_NV; v++) wv[v] = vload16(v, a);
#pragma unroll
              for (int j = 0; j < CB_NP; j++) {
                const float16 xj = (float16)(p[j]);
#pragma unroll
                for (int v = 0; v < CB_NV; v++) acc[j][v] = fma(xj, wv[v], acc[j][v]);
              }
            }
          }
        }
        float out[CB_MB][CB_NP];
#pragma unroll
        for (int v = 0; v < CB_NV; v++) {
#pragma unroll
          for (int j = 0; j < CB_NP; j++) {
            float o[16];
            vstore16(act_f16(acc[j][v] + bv[v]), 0, o);
#pragma unroll
            for (int l = 0; l < 16; l++) out[v * 16 + l][j] = o[l];
          }
        }
        const int pn = min(CB_NP, Wo - ox);
        __global float *yq = Y + ox;
        if (pn == CB_NP) {
          for (int m = 0; m < mn; m++) {
#pragma unroll
            for (int j = 0; j < CB_NP; j++) yq[(size_t)m * Ho * Wo + j] = out[m][j];
          }
        } else {
          for (int m = 0; m < mn; m++)
            for (int j = 0; j < pn; j++) yq[(size_t)m * Ho * Wo + j] = out[m][j];
        }
      }
    }
  }
}
