/*
 * conv/bwdw_packed.cl - conv.bwd_w.packed: the weight gradient as a GEMM
 * per group over the pixels, per-slot partial sums that
 * conv/support.cl's conv_bwdw_reduce adds in slot order.
 */

/*
 * conv_bwdw_packed: the weight gradient of a convolution on CPU devices, as
 * a GEMM per group with the pixels as the reduction axis:
 *   dW_g (Kg x Kd) = sum over images and pixels of dY_g (Kg x P) Patches_g^T (P x Kd).
 * One work-item per (slot, block of BW_NB output channels, group). A slot
 * is one part of one image's pixels; it keeps its own partial sums
 * part[slot][g][Kdp][Kgp] (row = patch row, column = output channel), which
 * conv_bwdw_reduce adds up in slot order: no atomics, fixed order.
 * The work-item walks its pixels in sub-chunks of BW_PC. Per sub-chunk it
 * packs dy transposed into local memory (dyt[p][j] = dy[nb0 + j][pixel p],
 * zero for columns past the image and channels past Kg) and, per block of
 * BW_KC patch rows, the patch rows (panel[row][p]); then for every 8 x 32
 * tile of (patch rows x output channels) it adds the sub-chunk's products
 * to the tile in sixteen float16 registers: per pixel, two vector loads of
 * dy and eight broadcasts of patch values, sixteen FMAs.
 * Pixels are q = oy*Wgrid + ox. As in conv_packed_gemm, -DBW_PADDED picks:
 *  1: stride 1, src is padded planes (or x itself when there is no
 *     padding), Wgrid = the plane width: a patch row is the contiguous run
 *     src_c[q + r*DH*Ws + s*DW]; columns ox >= Wo read junk that dy's zeros
 *     cancel.
 *  0: any stride, src is x, Wgrid = Wo, each element gathered with its
 *     bounds check.
 * -DBW_ROWS_IN_PLACE=1 (src is padded planes, whose size leaves room for
 * every tap of the last tile): no panel; the tile broadcasts straight from
 * the eight patch rows in src. On conv3x3 64 -> 64 at 56x56, batch 8,
 * that took the weight gradient from 8.4-8.6 to 7.7-7.8 ms.
 * first_launch: 1 when the slot starts from zero (first chunk of images),
 * 0 when it adds to what an earlier launch left.
 * -D: BW_PC, BW_KC, BW_NB, BW_PADDED, BW_ROWS_IN_PLACE.
 * NDRange (slots, ceil(Kgp / BW_NB), G), local (1, 1, 1).
 */
#ifndef BW_ROWS_IN_PLACE
#define BW_ROWS_IN_PLACE 0
#endif
#if BW_ROWS_IN_PLACE
#define BW_A(i) ar[i][p]
#else
#define BW_A(i) a[(i)*BW_PC + p]
#endif
#define BW_FMA_ROW(i)                                             \
  do {                                                            \
    const float16 a_ = (float16)(BW_A(i));                        \
    acc0[i] = fma(a_, b0, acc0[i]);                               \
    acc1[i] = fma(a_, b1, acc1[i]);                               \
  } while (0)

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_bwdw_packed(
    CTENSOR(src), const int Hs, const int Ws, const ulong plane, const int src_img0, CTENSOR(dy),
    TENSOR(part), const int C, const int K, const int G, const int Ho, const int Wo, const int Wgrid,
    const int KH, const int KW, const int SH, const int SW, const int PH, const int PW, const int DH,
    const int DW, const int img0, const int nimg, const int ppi, const int q_per_part, const int Kgp,
    const int Kdp, const int first_launch) {
#if !BW_ROWS_IN_PLACE
  __local float panel[BW_KC * BW_PC];
#endif
  __local float dyt[BW_PC * BW_NB];
  const int slot = get_global_id(0), nbi = get_global_id(1), g = get_global_id(2);
  const int il = slot / ppi, pi = slot % ppi;
  if (il >= nimg) return;
  const int img = img0 + il;
  const int Cg = C / G, M = K / G, taps = KH * KW, Kd = Cg * taps;
  const int Q = Ho * Wgrid, qa = pi * q_per_part, qb = min(Q, qa + q_per_part);
  const int nb0 = nbi * BW_NB, nbn = min(BW_NB, Kgp - nb0);
  __global const float *S = AT(src) + ((size_t)(img - src_img0) * C + (size_t)g * Cg) * plane;
  __global const float *D = AT(dy) + ((size_t)img * K + (size_t)g * M) * Ho * Wo;
  __global float *P = AT(part) + ((size_t)slot * G + g) * Kdp * Kgp + nb0;
  if (qa >= qb && first_launch) { /* an empty part still starts its slot at zero */
    for (int row = 0; row < Kdp; row++)
      for (int j = 0; j < nbn; j++) P[(size_t)row * Kgp + j] = 0.0f;
    return;
  }
  /* Sub-chunks of equal length (a multiple of 16, at most BW_PC): no short
   * last one paying a whole sub-chunk's packing and tile updates. */
  const int nsub = (qb - qa + BW_PC - 1) / BW_PC, sub = ((qb - qa + nsub - 1) / nsub + 15) & ~15;
  for (int q0 = qa; q0 < qb; q0 += sub) {
    const int qn = min(sub, qb - q0), qn16 = (qn + 15) & ~15;
    const bool first = first_launch && q0 == qa;
    /* dy transposed: dyt[p][j] = dy[nb0 + j][pixel q0 + p], zero past Kg
     * and for pixels outside the image; 16 channels per vector store. */
    {
      const int jn = min(nbn, M - nb0), HoWo = Ho * Wo;
      __global const float *Db = D + (size_t)nb0 * HoWo;
      int oy = q0 / Wgrid, ox = q0 - oy * Wgrid;
      for (int p = 0; p < qn16; p++) {
        __local float *dst = dyt + p * BW_NB;
        int j = 0;
        if (p < qn && ox < Wo) {
          __global const float *src = Db + oy * Wo + ox;
          for (; j + 16 <= jn; j += 16) {
            __global const float *c = src + (size_t)j * HoWo;
            vstore16((float16)(c[0], c[HoWo], c[2 * HoWo], c[3 * HoWo], c[4 * HoWo], c[5 * HoWo], c[6 * HoWo],
                               c[7 * HoWo], c[8 * HoWo], c[9 * HoWo], c[10 * HoWo], c[11 * HoWo], c[12 * HoWo],
                               c[13 * HoWo], c[14 * HoWo], c[15 * HoWo]),
                     0, dst + j);
          }
          for (; j < jn; j++) dst[j] = src[(size_t)j * HoWo];
        }
        for (; j < nbn; j++) dst[j] = 0.0f;
        if (++ox == Wgrid) ox = 0, oy++;
      }
    }
#if !BW_PADDED
    int iy0[BW_PC], ix0[BW_PC];
    for (int p = 0, oy = q0 / Wo, ox = q0 % Wo; p < qn16; p++) {
      iy0[p] = p < qn ? oy * SH - PH : -(1 << 28); /* past the part: reads zero */
      ix0[p] = ox * SW - PW;
      if (++ox == Wo) ox = 0, oy++;
    }
#endif
    for (int kb = 0; kb < Kd; kb += BW_KC) {
      const int kn = min(BW_KC, Kd - kb);
#if !BW_ROWS_IN_PLACE
      const int kn8 = (kn + 7) & ~7;
      for (int k = 0; k < kn8; k++) {
        __local float *dst = panel + k * BW_PC;
        if (k >= kn) {
          for (int p = 0; p < qn16; p += 16) vstore16((float16)(0.0f), 0, dst + p);
          continue;
        }
        const int row = kb + k, c = row / taps, r = (row / KW) % KH, s = row % KW;
#if BW_PADDED
        const ulong at = (ulong)q0 + (ulong)(r * DH * Ws + s * DW);
        __global const float *sp = S + (size_t)c * plane + at;
        if (at + qn16 <= plane) {
          /* a plain loop: LLVM copies in whole vectors, where vload16 of
           * unaligned global memory comes out in 16-byte pieces */
          for (int p = 0; p < qn16; p++) dst[p] = sp[p];
        } else {
          for (int p = 0; p < qn16; p++) dst[p] = at + p < plane ? sp[p] : 0.0f;
        }
#else
        __global const float *sp = S + (size_t)c * plane;
        for (int p = 0; p < qn16; p++) {
          const int iy = iy0[p] + r * DH, ix = ix0[p] + s * DW;
          dst[p] = (iy >= 0 && iy < Hs && ix >= 0 && ix < Ws) ? sp[iy * Ws + ix] : 0.0f;
        }
#endif
      }
#endif
      for (int n0 = 0; n0 < nbn; n0 += 32) {
        for (int m0 = 0; m0 < kn; m0 += 8) {
          __global float *o = P + (size_t)(kb + m0) * Kgp + n0;
          float16 acc0[8], acc1[8];
          for (int i = 0; i < 8; i++) {
            acc0[i] = first ? (float16)(0.0f) : vload16(0, o + (size_t)i * Kgp);
            acc1[i] = first ? (float16)(0.0f) : vload16(1, o + (size_t)i * Kgp);
          }
#if BW_ROWS_IN_PLACE
          /* the tile's patch rows where they lie in the padded planes;
           * rows past Kd read a real row, their sums are never reduced */
          __global const float *ar[8];
          for (int i = 0; i < 8; i++) {
            const int row = min(kb + m0 + i, Kd - 1), c = row / taps, r = (row / KW) % KH, s = row % KW;
            ar[i] = S + (size_t)c * plane + q0 + r * DH * Ws + s * DW;
          }
#else
          __local const float *a = panel + m0 * BW_PC;
#endif
          __local const float *b = dyt + n0;
          for (int p = 0; p < qn; p++) {
            const float16 b0 = vload16(0, b + p * BW_NB), b1 = vload16(1, b + p * BW_NB);
            BW_FMA_ROW(0);
            BW_FMA_ROW(1);
            BW_FMA_ROW(2);
            BW_FMA_ROW(3);
            BW_FMA_ROW(4);
            BW_FMA_ROW(5);
            BW_FMA_ROW(6);
            BW_FMA_ROW(7);
          }
          for (int i = 0; i < 8; i++) {
            vstore16(acc0[i], 0, o + (size_t)i * Kgp);
            vstore16(acc1[i], 1, o + (size_t)i * Kgp);
          }
        }
      }
    }
  }
}
