/*
 * conv.cl - 2-D convolution kernels (NCHW, float32).
 * Forward: im2col into GEMM panels, zero-padded copies, the direct depthwise
 * kernel and the packed implicit GEMM (the GEMM itself is kernels/gemm.cl).
 * Backward: flipped/transposed weight packing (bwd_data as the forward's
 * packed GEMM), col2im as a gather, the packed weight-gradient GEMM and its
 * fixed-order reduction, direct depthwise data and weight gradients, and
 * the bias gradient. No atomics anywhere: every sum has a fixed order.
 * Kernels with compile-time shapes sit behind their -D macro so a program
 * compiles only what it runs.
 */
/*
 * The kernels that take no -D options are compiled only in the program
 * built without options (CONV_BASE): PoCL compiles every kernel of a program
 * when its binary is saved, so each specialised program (conv_im2col with
 * PANELS, conv_packed_gemm with CP_KC, ...) holds just its own kernel.
 */
/* The packed paths hold the CPU register tile (kernels/shared.h) as eight
 * rows of two float16 and index 32-pixel tiles with shifts. */
#if CLNN_TILE_MR != 8 || CLNN_TILE_NR != 32
#error "kernels/conv.cl is written for the 8 x 32 register tile"
#endif

#if !defined(PANELS) && !defined(CP_KC) && !defined(COL2IM) && !defined(DWB_KH) && !defined(BW_PC) && \
    !defined(DWF_KH) && !defined(C1_GEMM) && !defined(C1W_TM) && !defined(CB_KH) && \
    !defined(GD_M)
#define CONV_BASE 1
#else
#define CONV_BASE 0
#endif

/*
 * conv_im2col: the input patches of a chunk of images, one work-item per
 * (row kd of the patch matrix, group, image of the chunk); it walks every
 * output pixel. Row kd = (c * KH + r) * KW + s holds x[c, oy*SH - PH + r*DH,
 * ox*SW - PW + s*DW] (zero outside the image) for pixel p = oy * Wo + ox.
 * The matrix of (image ii, group g) starts at (ii * G + g) * Kd * ncols.
 * -D: PANELS, the layout: 1 = [ceil(N/32)][Kd][32] panels, 0 = row-major
 *     Kd x N, 2 = transposed, row-major N x Kd (the B of dw = dy col^T on CLBlast).
 * NDRange (Kd, G, images in chunk), local (1, 1, 1).
 */
#ifdef PANELS
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_im2col(
    CTENSOR(x), TENSOR(col), const int C, const int H, const int W, const int Ho, const int Wo,
    const int KH, const int KW, const int SH, const int SW, const int PH, const int PW,
    const int DH, const int DW, const int G, const int img0) {
  const int kd = get_global_id(0), g = get_global_id(1), ii = get_global_id(2);
  const int Cg = C / G, Kd = Cg * KH * KW;
  if (kd >= Kd) return;
  const int c = kd / (KH * KW), r = (kd / KW) % KH, s = kd % KW;
  const int npix = Ho * Wo;
  __global const float *plane = AT(x) + ((size_t)(img0 + ii) * C + g * Cg + c) * H * W;
#if PANELS == 1
  const int ntiles = (npix + 31) / 32;
  __global float *out = AT(col) + (size_t)(ii * G + g) * Kd * ntiles * 32 + (size_t)kd * 32;
  const size_t tile_stride = (size_t)Kd * 32;
#define COL_AT(p) out[((p) >> 5) * tile_stride + ((p)&31)]
#elif PANELS == 2
  __global float *out = AT(col) + (size_t)(ii * G + g) * Kd * npix + kd;
#define COL_AT(p) out[(size_t)(p) * Kd]
#else
  __global float *out = AT(col) + ((size_t)(ii * G + g) * Kd + kd) * npix;
#define COL_AT(p) out[p]
#endif
  int p = 0;
  for (int oy = 0; oy < Ho; oy++) {
    const int iy = oy * SH - PH + r * DH;
    if (iy < 0 || iy >= H) {
      for (int ox = 0; ox < Wo; ox++, p++) COL_AT(p) = 0.0f;
      continue;
    }
    __global const float *row = plane + (size_t)iy * W;
    int ix = -PW + s * DW;
    for (int ox = 0; ox < Wo; ox++, p++, ix += SW) COL_AT(p) = (ix >= 0 && ix < W) ? row[ix] : 0.0f;
  }
#if PANELS == 1
  for (; p < ntiles * 32; p++) COL_AT(p) = 0.0f; /* pad the last panel with zeros */
#endif
#undef COL_AT
}
#endif

/*
 * conv_pad: copy planes of H x W into zero-filled planes of Hp x Wp with the
 * data at (PH, PW). One work-item per padded row.
 * NDRange (Hp, planes), local (1, 1).
 */
#if CONV_BASE
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
#endif

/*
 * conv_packed_gemm: a convolution as GEMM (M = output channels of a group,
 * N = output pixels, K = Cg*KH*KW), one work-item per 32-pixel tile of one
 * image and group. The work-item packs the tile's patch rows for a block of
 * KC GEMM rows into local memory (im2col of one tile, cache-resident), then
 * runs the 8 x 32 register-tile microkernel over that panel for every
 * 8-channel slice of M: the packing is paid once per pixel, not once per
 * output channel, and nothing is written to global memory but y.
 *
 * Two ways to pack, chosen with -DCP_PADDED:
 *  1: stride 1, src is zero-padded planes of width Wp (conv_pad). Pixels are
 *     numbered over the padded width (q = oy*Wp + ox) so that patch row
 *     (c, r, s) is the contiguous run src_c[q + r*DH*Wp + s*DW]: two vector
 *     loads per row. Columns ox >= Wo are computed and dropped.
 *  0: any stride; src is x, pixels q = oy*Wo + ox, and each element is
 *     gathered with its bounds check (zero outside the image).
 * When K exceeds KC the tile's partial sums go through y: block 0 writes,
 * later blocks add, the last applies bias and activation (fixed order).
 * -D: CP_KC, CP_PADDED, HAS_BIAS, ACT, ACT_ALPHA.
 * NDRange (ceil(Ho*Wgrid/32), images * G), local (1, 1).
 */
#ifdef CP_KC
#define CP_MR CLNN_TILE_MR
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_packed_gemm(
    CTENSOR(src), const int Hs, const int Ws, const ulong plane, CTENSOR(w), CTENSOR(bias),
    TENSOR(y), const int C, const int K, const int G, const int Ho, const int Wo, const int Wgrid,
    const int KH, const int KW, const int SH, const int SW, const int PH, const int PW,
    const int DH, const int DW) {
  __local float panel[CP_KC * 32];
  const int q0 = get_global_id(0) * 32, bi = get_global_id(1);
  if (q0 >= Ho * Wgrid) return;
  const int Cg = C / G, M = K / G, img = bi / G, g = bi % G;
  const int taps = KH * KW, kd = Cg * taps;
  __global const float *S = AT(src) + ((size_t)img * C + (size_t)g * Cg) * plane;
  const int oy0 = q0 / Wgrid, ox0 = q0 % Wgrid;
  const bool one_row = ox0 + 32 <= Wo && oy0 < Ho;
#if !CP_PADDED
  int iy0[32], ix0[32];
  for (int j = 0, oy = oy0, ox = ox0; j < 32; j++) {
    iy0[j] = oy < Ho ? oy * SH - PH : -(1 << 28); /* past the last pixel: reads zero */
    ix0[j] = ox * SW - PW;
    if (++ox == Wgrid) ox = 0, oy++;
  }
#endif
  for (int kb = 0; kb < kd; kb += CP_KC) {
    const int kn = min(CP_KC, kd - kb);
    /* Pack patch rows kb .. kb+kn-1 of this tile. */
    for (int k = 0; k < kn; k++) {
      const int row = kb + k, c = row / taps, r = (row / KW) % KH, s = row % KW;
#if CP_PADDED
      __global const float *p = S + (size_t)c * plane + q0 + r * DH * Ws + s * DW;
      vstore16(vload16(0, p), 0, panel + k * 32);
      vstore16(vload16(1, p), 0, panel + k * 32 + 16);
#else
      __global const float *p = S + (size_t)c * plane;
      for (int j = 0; j < 32; j++) {
        const int iy = iy0[j] + r * DH, ix = ix0[j] + s * DW;
        panel[k * 32 + j] = (iy >= 0 && iy < Hs && ix >= 0 && ix < Ws) ? p[iy * Ws + ix] : 0.0f;
      }
#endif
    }
    const bool first = kb == 0, last = kb + kn >= kd;
    for (int m0 = 0; m0 < M; m0 += CP_MR) {
      /* Packed weights: [G][ceil(M/8)][kd][8], see gemm_pack_a. */
      __global const float *ap = AT(w) + ((size_t)g * ((M + CP_MR - 1) / CP_MR) + m0 / CP_MR) * kd * CP_MR +
                                 (size_t)kb * CP_MR;
      float16 acc0[CP_MR], acc1[CP_MR];
      for (int i = 0; i < CP_MR; i++) acc0[i] = acc1[i] = (float16)(0.0f);
      /* Each weight is broadcast straight from memory (a load-port
       * broadcast): extracting lanes of a vector load would put shuffles on
       * the port the second FMA unit uses. */
#define CP_FMA_ROW(i)                                    \
  do {                                                   \
    const float16 a_ = (float16)(a[i]);                  \
    acc0[i] = fma(a_, b0, acc0[i]);                      \
    acc1[i] = fma(a_, b1, acc1[i]);                      \
  } while (0)
      for (int k = 0; k < kn; k++) {
        const float16 b0 = vload16(0, panel + k * 32), b1 = vload16(1, panel + k * 32);
        __global const float *a = ap + k * CP_MR;
        CP_FMA_ROW(0);
        CP_FMA_ROW(1);
        CP_FMA_ROW(2);
        CP_FMA_ROW(3);
        CP_FMA_ROW(4);
        CP_FMA_ROW(5);
        CP_FMA_ROW(6);
        CP_FMA_ROW(7);
      }
#undef CP_FMA_ROW
      for (int i = 0; i < CP_MR && m0 + i < M; i++) {
        const int ko = g * M + m0 + i;
        __global float *yp = AT(y) + ((size_t)img * K + ko) * Ho * Wo;
#if HAS_BIAS
        const float bv = last ? AT(bias)[ko] : 0.0f;
#else
        const float bv = 0.0f;
#endif
        float16 v0 = acc0[i], v1 = acc1[i];
        if (one_row) {
          __global float *o = yp + oy0 * Wo + ox0;
          if (!first) v0 += vload16(0, o), v1 += vload16(1, o);
          if (last) v0 = act_f16(v0 + bv), v1 = act_f16(v1 + bv);
          vstore16(v0, 0, o);
          vstore16(v1, 1, o);
        } else {
          float t[32];
          vstore16(v0, 0, t);
          vstore16(v1, 1, t);
          for (int j = 0, oy = oy0, ox = ox0; j < 32; j++) {
            if (oy < Ho && ox < Wo) {
              float v = t[j];
              if (!first) v += yp[oy * Wo + ox];
              yp[oy * Wo + ox] = last ? act_f1(v + bv) : v;
            }
            if (++ox == Wgrid) ox = 0, oy++;
          }
        }
      }
    }
  }
}
#endif

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
#ifdef CB_KH
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
#endif

/* =============================================================== backward */

/* Sum of the 16 lanes in a fixed tree order (deterministic). */
float conv_hsum16(float16 v) {
  const float8 a = v.lo + v.hi;
  const float4 b = a.lo + a.hi;
  const float2 c = b.lo + b.hi;
  return c.x + c.y;
}

/* 16 floats from p, of which only the first n (may be <= 0) exist: zeros after. */
float16 conv_load16_upto(__global const float *p, const int n) {
  if (n >= 16) return vload16(0, p);
  float t[16];
  for (int l = 0; l < 16; l++) t[l] = l < n ? p[l] : 0.0f;
  return vload16(0, t);
}

/* Zero a private buffer of n floats (n a multiple of 16). */
inline void conv_zero_private(float *p, const int n) {
  for (int j = 0; j < n; j += 16) vstore16((float16)(0.0f), 0, p + j);
}

/* Store the first n (may be <= 0) of 16 floats to p, in vector pieces
 * straight from registers (a round trip through a private array stalls on
 * store forwarding). */
void conv_store16_upto(const float16 v, __global float *p, int n) {
  if (n >= 16) {
    vstore16(v, 0, p);
    return;
  }
  float8 h = v.lo;
  if (n >= 8) vstore8(h, 0, p), p += 8, n -= 8, h = v.hi;
  float4 q = h.lo;
  if (n >= 4) vstore4(q, 0, p), p += 4, n -= 4, q = h.hi;
  float2 d = q.lo;
  if (n >= 2) vstore2(d, 0, p), p += 2, n -= 2, d = q.hi;
  if (n >= 1) p[0] = d.x;
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
#if CONV_BASE
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
#endif

/*
 * conv_pack_blocks: weights as [G][ceil(M/MB)][Kd][MB] (Kd = Cg*KH*KW, the
 * MB rows of a block contiguous per GEMM column, rows past M zero), the
 * layout conv_direct_oc reads. transposed = 0: the forward's own weights
 * (M = output channels per group). transposed = 1: bwd_data's flipped,
 * transposed weights as conv_pack_wt describes (M = the forward's input
 * channels per group, Kin = its output channels per group).
 * NDRange (Kd, ceil(M/MB), G), local (1, 1, 1).
 */
#if CONV_BASE
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
#endif

/*
 * conv_transpose_w: wt[g][j][i] = w[g][i][j] for G row-major rows x cols
 * matrices: the weights of bwd_data's GEMMs (dcol = w_g^T dy_g) stored so
 * the GEMM reads A untransposed, its fast path. One work-item per output
 * row (wt[g][j]), neighbours reading neighbouring columns of w.
 * NDRange (cols rounded up to 16, G), local (16, 1).
 */
#if CONV_BASE
__kernel void conv_transpose_w(CTENSOR(w), TENSOR(wt), const int rows, const int cols) {
  const int j = get_global_id(0), g = get_global_id(1);
  if (j >= cols) return;
  __global const float *src = AT(w) + (size_t)g * rows * cols + j;
  __global float *dst = AT(wt) + ((size_t)g * cols + j) * rows;
  for (int i = 0; i < rows; i++) dst[i] = src[(size_t)i * cols];
}
#endif

/*
 * conv_col2im: dx from the columns dcol = w^T dy of a chunk of images,
 * written as a gather: a work-item owns C2I_ROWS rows of one dx plane and
 * sums into a private row buffer, tap by tap in the fixed order (r, s), the
 * column entries of the output pixels that reach each of its elements:
 *   dx[c, iy, ix] = act(bias[c] + sum over (r, s) with iy = oy*SH - PH + r*DH,
 *                   ix = ox*SW - PW + s*DW of dcol[(cl*KH + r)*KW + s][oy*Wo + ox])
 * No two work-items write the same element; no atomics. A tap row r that
 * reaches no output row, and the columns a tap s cannot reach, cost nothing.
 * dcol of (image ii, group g) is row-major Kd x (Ho*Wo) at (ii*G + g)*Kd*Ho*Wo.
 * -D: COL2IM (selects this kernel), HAS_BIAS, ACT, ACT_ALPHA.
 * NDRange (ceil(H / C2I_ROWS), images in chunk * C), local (1, 1).
 */
#ifdef COL2IM
#define C2I_ROWS CLNN_CONV_C2I_ROWS
#define C2I_COLS 256
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_col2im(
    CTENSOR(col), CTENSOR(bias), TENSOR(dx), const int C, const int H, const int W, const int Ho,
    const int Wo, const int KH, const int KW, const int SH, const int SW, const int PH, const int PW,
    const int DH, const int DW, const int G) {
  const int iy_begin = get_global_id(0) * C2I_ROWS, plane = get_global_id(1);
  const int c = plane % C, ii = plane / C, Cg = C / G, g = c / Cg, cl = c % Cg;
  const int npix = Ho * Wo, Kd = Cg * KH * KW;
  __global const float *cb = AT(col) + ((size_t)(ii * G + g) * Kd + (size_t)cl * KH * KW) * npix;
#if HAS_BIAS
  const float bv = AT(bias)[c];
#else
  const float bv = 0.0f;
#endif
  float buf[C2I_COLS];
  for (int iy = iy_begin; iy < min(H, iy_begin + C2I_ROWS); iy++) {
    __global float *out = AT(dx) + ((size_t)plane * H + iy) * W;
    for (int ix0 = 0; ix0 < W; ix0 += C2I_COLS) {
      const int n = min(C2I_COLS, W - ix0);
      for (int j = 0; j < C2I_COLS; j++) buf[j] = 0.0f;
      for (int r = 0; r < KH; r++) {
        const int ty = iy + PH - r * DH, oy = ty / SH;
        if (ty < 0 || oy * SH != ty || oy >= Ho) continue;
        for (int s = 0; s < KW; s++) {
          /* output columns ox with ix = ox*SW - PW + s*DW inside [ix0, ix0 + n) */
          const int t0 = ix0 + PW - s * DW, t1 = t0 + n - 1;
          if (t1 < 0) continue;
          const int ox_lo = t0 <= 0 ? 0 : (t0 + SW - 1) / SW, ox_hi = min(Wo - 1, t1 / SW);
          __global const float *src = cb + (size_t)(r * KW + s) * npix + (size_t)oy * Wo;
          for (int ox = ox_lo; ox <= ox_hi; ox++) buf[ox * SW - t0] += src[ox];
        }
      }
      for (int j = 0; j < n; j++) out[ix0 + j] = act_f1(buf[j] + bv);
    }
  }
}
#endif

/*
 * The direct depthwise kernels (groups == C, K = C * mult): one program for
 * the forward and one for both backward kernels, per kernel size and stride:
 * -D: DWB_FWD (1: conv_dw_fwd, 0: conv_dw_bwd_data and conv_dw_bwd_weights),
 *     DWB_KH, DWB_KW, DWB_SH, DWB_SW (compile-time: the tap loops unroll, the
 *     column layout depends on SW, and row arithmetic divides by SH),
 *     DWB_ROWLEN (private row length, a multiple of 64 * SW), DWB_RING (rows
 *     of the private ring, a power of two), ACT, ACT_ALPHA (the epilogue of
 *     conv_dw_fwd and conv_dw_bwd_data).
 * The dilations and whether there is a bias are arguments, so problems that
 * differ only in those (or in sizes that round to the same buffers) share
 * the program.
 */
#ifdef DWB_KH
#define DWB_TAPS (DWB_KH * DWB_KW)
#define DWB_AHEAD CLNN_CONV_DWB_AHEAD /* rows prepared ahead of use (the host sizes the ring for it) */

/*
 * conv_dw_bwd_data: dx of a depthwise convolution, any stride and dilation,
 * written as a gather:
 *   dx[c, iy, ix] = act(bias[c] + sum over m < mult and taps (r, s) of
 *                   dy[c*mult + m, oy, ox] * w[c*mult + m, r, s])
 * where iy = oy*SH - PH + r*DH and ix = ox*SW - PW + s*DW.
 * One work-item per dx plane walks its rows. Each dy row it needs is spread
 * once into a private, zero-filled ring row at stride SW ("zero insertion":
 * dy[ox] lands at off + ox*SW, off = (KW-1)*DW). Then, for every stride, 16
 * columns of dx are one contiguous vector load per tap, no bounds checks:
 *   dx[ix0 .. ix0+15] += ring[row][ix0 + PW + off - s*DW ..] * w[r][s],
 * four such strips at a time (independent FMA chains). Stride 2 instead
 * splits dx columns by parity (see below): half the FMAs.
 * With mult > 1 the channels m > 0 add to what m - 1 stored (fixed order).
 * NDRange (N * C), local (1).
 */
#if !DWB_FWD
/* Spread dy row src (Wo values) into ring row dst at stride DWB_SW (1 for
 * SW <= 2) from off. Everything else in the ring stays zero from the start:
 * no row writes anywhere else. */
inline void conv_dwb_prepare_row(float *dst, __global const float *src, const int Wo, const int off) {
#if DWB_SW <= 2
  int j = 0;
  for (; j + 16 <= Wo; j += 16) vstore16(vload16(0, src + j), 0, dst + off + j);
  for (; j < Wo; j++) dst[off + j] = src[j];
#else
  for (int ox = 0; ox < Wo; ox++) dst[off + ox * DWB_SW] = src[ox];
#endif
}

/* Interleave the even (e) and odd (o) columns of 32 dx columns: lanes 0-15 / 16-31. */
#define DWB_EVEN_ODD_LO (uint16)(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define DWB_EVEN_ODD_HI (uint16)(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dw_bwd_data(
    CTENSOR(dy), CTENSOR(w), CTENSOR(bias), TENSOR(dx), const int C, const int K, const int H,
    const int W, const int Ho, const int Wo, const int PH, const int PW, const int DH, const int DW,
    const int has_bias) {
  const int plane = get_global_id(0);
  const int c = plane % C, img = plane / C, mult = K / C;
#if DWB_SW == 2
  /* Stride 2: even and odd dx columns are computed apart, each a stride-1
   * correlation of the plain (zero-padded) dy row: no FMA on inserted
   * zeros. Tap s feeds the columns of parity (PW - s*DW) & 1, at dy offset
   * (PW - s*DW + parity) / 2; off leaves room for the most negative one. */
  const int off = ((DWB_KW - 1) * DW + 1) / 2;
  int tap_odd[DWB_KW], tap_at[DWB_KW];
  for (int s = 0; s < DWB_KW; s++) {
    const int e = PW - s * DW;
    tap_odd[s] = e & 1;
    tap_at[s] = off + (e + tap_odd[s]) / 2;
  }
#else
  const int off = (DWB_KW - 1) * DW;
#endif
  __global float *out = AT(dx) + (size_t)plane * H * W;
  float ring[DWB_RING * DWB_ROWLEN];
  conv_zero_private(ring, DWB_RING * DWB_ROWLEN);
  const float bv = has_bias ? AT(bias)[c] : 0.0f;
  for (int m = 0; m < mult; m++) {
    const int ko = c * mult + m;
    __global const float *src = AT(dy) + ((size_t)img * K + ko) * Ho * Wo;
    float wv[DWB_TAPS];
    for (int i = 0; i < DWB_TAPS; i++) wv[i] = AT(w)[ko * DWB_TAPS + i];
    int next_oy = 0; /* the next dy row to bring into the ring */
    for (int iy = 0; iy < H; iy++) {
      /* Tap row r reaches dy row (iy + PH - r*DH) / SH when that divides.
       * Rows are prepared DWB_AHEAD rows before they are needed: vector
       * loads right after the scattered stores that wrote them would stall
       * on store forwarding. */
      const int newest = min(Ho - 1, (iy + PH) / DWB_SH + DWB_AHEAD);
      for (; next_oy <= newest; next_oy++)
        conv_dwb_prepare_row(ring + (next_oy & (DWB_RING - 1)) * DWB_ROWLEN, src + (size_t)next_oy * Wo, Wo, off);
      int row_at[DWB_KH];
      for (int r = 0; r < DWB_KH; r++) {
        const int t = iy + PH - r * DH, oy = t / DWB_SH;
        row_at[r] = (t >= 0 && oy * DWB_SH == t && oy < Ho) ? (oy & (DWB_RING - 1)) * DWB_ROWLEN : -1;
      }
      __global float *orow = out + (size_t)iy * W;
      /* 64 columns (four independent FMA chains) per block: one chain per
       * strip would wait on the FMA latency. */
      for (int ix0 = 0; ix0 < W; ix0 += 64) {
        float16 acc[4];
#if DWB_SW == 2
        float16 e0 = (float16)(0.0f), e1 = e0, o0 = e0, o1 = e0;
#pragma unroll
        for (int r = 0; r < DWB_KH; r++) {
          if (row_at[r] < 0) continue;
          const float *row = ring + row_at[r] + ix0 / 2;
#pragma unroll
          for (int s = 0; s < DWB_KW; s++) {
            const float16 wsv = (float16)(wv[r * DWB_KW + s]);
            const float *rs = row + tap_at[s];
            if (tap_odd[s]) {
              o0 = fma(vload16(0, rs), wsv, o0);
              o1 = fma(vload16(1, rs), wsv, o1);
            } else {
              e0 = fma(vload16(0, rs), wsv, e0);
              e1 = fma(vload16(1, rs), wsv, e1);
            }
          }
        }
        acc[0] = shuffle2(e0, o0, DWB_EVEN_ODD_LO);
        acc[1] = shuffle2(e0, o0, DWB_EVEN_ODD_HI);
        acc[2] = shuffle2(e1, o1, DWB_EVEN_ODD_LO);
        acc[3] = shuffle2(e1, o1, DWB_EVEN_ODD_HI);
#else
        for (int q = 0; q < 4; q++) acc[q] = (float16)(0.0f);
#pragma unroll
        for (int r = 0; r < DWB_KH; r++) {
          if (row_at[r] < 0) continue;
          const float *row = ring + row_at[r] + PW + off + ix0;
#pragma unroll
          for (int s = 0; s < DWB_KW; s++) {
            const float16 wsv = (float16)(wv[r * DWB_KW + s]);
            const float *rs = row - s * DW;
            acc[0] = fma(vload16(0, rs), wsv, acc[0]);
            acc[1] = fma(vload16(1, rs), wsv, acc[1]);
            acc[2] = fma(vload16(2, rs), wsv, acc[2]);
            acc[3] = fma(vload16(3, rs), wsv, acc[3]);
          }
        }
#endif
        for (int q = 0; q < 4; q++) {
          float16 v = acc[q];
          if (m > 0) v += conv_load16_upto(orow + ix0 + 16 * q, W - ix0 - 16 * q);
          if (m == mult - 1) v = act_f16(v + bv);
          conv_store16_upto(v, orow + ix0 + 16 * q, W - ix0 - 16 * q);
        }
      }
    }
  }
}

#endif

/*
 * Input rows of conv_dw_fwd and conv_dw_bwd_weights are kept zero-padded
 * and split by column phase modulo SW, so that tap s of a 16-wide strip of
 * output columns reads one contiguous vector:
 *   x[.., ox*SW + s*DW - PW] = phase[(s*DW) % SW][ox + (s*DW) / SW]
 * (for stride 1 the single phase is the padded row itself).
 */
#define DWB_PLEN (DWB_ROWLEN / DWB_SW)
/* Load input row src (W values) zero-padded by PW on the left, split by
 * phase: the first nj (a multiple of 16, <= DWB_PLEN) elements of each
 * phase, all the tap loops read; lanes past them only feed discarded
 * output lanes. Only the data columns are written: the padding of ph (one
 * phase) or of lin (the row before the split, kept by the caller) is zero
 * from the start and stays so. */
inline void conv_dww_prepare_row(float *ph, float *lin, __global const float *src, const int W, const int PW,
                                 const int nj) {
#if DWB_SW == 1
  float *dst = ph;
#else
  float *dst = lin;
#endif
  const int n = min(W, nj * DWB_SW - PW);
  int j = 0;
  for (; j + 16 <= n; j += 16) vstore16(vload16(0, src + j), 0, dst + PW + j);
  for (; j < n; j++) dst[PW + j] = src[j];
#if DWB_SW == 2
  for (j = 0; j < nj; j += 16) {
    const float16 a = vload16(0, lin + 2 * j), b = vload16(1, lin + 2 * j);
    vstore16((float16)(a.even, b.even), 0, ph + j);
    vstore16((float16)(a.odd, b.odd), 0, ph + DWB_PLEN + j);
  }
#elif DWB_SW > 2
  for (j = 0; j < nj; j++)
    for (int f = 0; f < DWB_SW; f++) ph[f * DWB_PLEN + j] = lin[j * DWB_SW + f];
#endif
}

#if DWB_FWD
/*
 * conv_dw_fwd: the forward depthwise convolution, one work-item per output
 * plane (image, ko):
 *   y[ko, oy, ox] = act(b[ko] + sum over (r, s) of
 *                   w[ko, r, s] * x[ko/mult, oy*SH - PH + r*DH, ox*SW - PW + s*DW])
 * Input rows go once into the private ring (conv_dww_prepare_row:
 * zero-padded, split by column phase), prepared ahead of use. Four 16-wide
 * strips are computed at a time, four independent FMA chains: 64 columns of
 * one output row, or for rows of at most 32 columns, 32 columns of two rows.
 * Tap rows outside the image read a row of zeros: no branches per strip.
 * NDRange (N * K), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dw_fwd(
    CTENSOR(x), CTENSOR(w), CTENSOR(bias), TENSOR(y), const int C, const int K, const int H, const int W,
    const int Ho, const int Wo, const int PH, const int PW, const int DH, const int DW, const int has_bias) {
  const int plane = get_global_id(0);
  const int ko = plane % K, img = plane / K, ci = ko / (K / C);
  __global const float *xp = AT(x) + ((size_t)img * C + ci) * H * W;
  __global float *out = AT(y) + (size_t)plane * Ho * Wo;
  float wv[DWB_TAPS];
  for (int i = 0; i < DWB_TAPS; i++) wv[i] = AT(w)[ko * DWB_TAPS + i];
  const float bv = has_bias ? AT(bias)[ko] : 0.0f;
  float ring[(DWB_RING + 1) * DWB_ROWLEN], lin[DWB_ROWLEN]; /* the last ring row stays zero */
  float *const zero_row = ring + DWB_RING * DWB_ROWLEN;
  conv_zero_private(ring, (DWB_RING + 1) * DWB_ROWLEN);
  conv_zero_private(lin, DWB_ROWLEN);
  int tap_at[DWB_KW]; /* where tap s starts in a phase-split row */
  for (int s = 0; s < DWB_KW; s++) tap_at[s] = ((s * DW) % DWB_SW) * DWB_PLEN + (s * DW) / DWB_SW;
  const bool two_rows = Wo <= 32;
  const int rows_per_pass = two_rows ? 2 : 1, cols_per_pass = two_rows ? 32 : 64;
  /* phase elements the tap loops read */
  const int nj = min(DWB_PLEN, (((Wo + cols_per_pass - 1) / cols_per_pass * cols_per_pass +
                                  ((DWB_KW - 1) * DW) / DWB_SW) + 15) & ~15);
  int next_iy = 0; /* the next input row to bring into the ring */
  for (int oy = 0; oy < Ho; oy += rows_per_pass) {
    const int iy_first = oy * DWB_SH - PH;
    const int iy_last = iy_first + (rows_per_pass - 1) * DWB_SH + (DWB_KH - 1) * DH;
    next_iy = max(next_iy, iy_first);
    for (; next_iy <= min(H - 1, iy_last + DWB_AHEAD); next_iy++)
      conv_dww_prepare_row(ring + (next_iy & (DWB_RING - 1)) * DWB_ROWLEN, lin, xp + (size_t)next_iy * W, W, PW, nj);
    /* Strip q: output row oy + q_row, columns from q_col; its tap rows. */
    int q_row[4], q_col[4];
    const float *tap_row[4][DWB_KH];
    for (int q = 0; q < 4; q++) {
      q_row[q] = two_rows ? q >> 1 : 0;
      q_col[q] = two_rows ? (q & 1) * 16 : q * 16;
      for (int r = 0; r < DWB_KH; r++) {
        const int iy = iy_first + q_row[q] * DWB_SH + r * DH;
        const bool in = iy >= 0 && iy < H && oy + q_row[q] < Ho;
        tap_row[q][r] = (in ? ring + (iy & (DWB_RING - 1)) * DWB_ROWLEN : zero_row) + q_col[q];
      }
    }
    for (int ox0 = 0; ox0 < Wo; ox0 += cols_per_pass) {
      float16 acc0 = (float16)(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
#pragma unroll
      for (int r = 0; r < DWB_KH; r++) {
        const float *r0 = tap_row[0][r] + ox0, *r1 = tap_row[1][r] + ox0;
        const float *r2 = tap_row[2][r] + ox0, *r3 = tap_row[3][r] + ox0;
#pragma unroll
        for (int s = 0; s < DWB_KW; s++) {
          const float16 wsv = (float16)(wv[r * DWB_KW + s]);
          const int t = tap_at[s];
          acc0 = fma(vload16(0, r0 + t), wsv, acc0);
          acc1 = fma(vload16(0, r1 + t), wsv, acc1);
          acc2 = fma(vload16(0, r2 + t), wsv, acc2);
          acc3 = fma(vload16(0, r3 + t), wsv, acc3);
        }
      }
      const float16 acc[4] = {acc0, acc1, acc2, acc3};
      for (int q = 0; q < 4; q++)
        if (oy + q_row[q] < Ho)
          conv_store16_upto(act_f16(acc[q] + bv), out + (size_t)(oy + q_row[q]) * Wo + ox0 + q_col[q],
                            Wo - ox0 - q_col[q]);
    }
  }
}

#endif

#if !DWB_FWD
/*
 * conv_dw_bwd_weights: dw of a depthwise convolution, one work-item per
 * (output channel ko, part of the batch):
 *   out[ko, r, s] (+)= sum over the part's images and the output pixels of
 *                     dy[img, ko, oy, ox] * x[img, ko/mult, oy*SH - PH + r*DH, ox*SW - PW + s*DW]
 * Each input row is loaded once per image into a private ring (zero-padded,
 * split by phase, prepared ahead of use: no bounds checks in the tap loops).
 * Every tap keeps 16 lane sums over rows, strips and images in order; the
 * lanes are added in a fixed tree at the end. Deterministic.
 * Args: nstrip = ceil(Wo / 16); img_per_part images per part; out is dw
 * itself (accumulate 0 or 1) or, with several parts, partial sums
 * [part][K][KH*KW] (accumulate 0).
 * NDRange (K, parts), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dw_bwd_weights(
    CTENSOR(x), CTENSOR(dy), TENSOR(out), const int N, const int C, const int K, const int H,
    const int W, const int Ho, const int Wo, const int PH, const int PW, const int DH, const int DW,
    const int nstrip, const int img_per_part, const int accumulate) {
  const int ko = get_global_id(0), part = get_global_id(1);
  if (ko >= K) return;
  const int ci = ko / (K / C);
  float16 acc[DWB_TAPS];
  for (int t = 0; t < DWB_TAPS; t++) acc[t] = (float16)(0.0f);
  float ring[DWB_RING * DWB_ROWLEN], lin[DWB_ROWLEN];
  conv_zero_private(ring, DWB_RING * DWB_ROWLEN);
  conv_zero_private(lin, DWB_ROWLEN);
  float dyrow[DWB_PLEN];
  const int nj = min(DWB_PLEN, (nstrip * 16 + ((DWB_KW - 1) * DW) / DWB_SW + 15) & ~15);
  int tap_at[DWB_KW]; /* where tap s starts in a phase-split row */
  for (int s = 0; s < DWB_KW; s++) tap_at[s] = ((s * DW) % DWB_SW) * DWB_PLEN + (s * DW) / DWB_SW;
  const int img_end = min(N, (part + 1) * img_per_part);
  for (int img = part * img_per_part; img < img_end; img++) {
    __global const float *xp = AT(x) + ((size_t)img * C + ci) * H * W;
    __global const float *dp = AT(dy) + ((size_t)img * K + ko) * Ho * Wo;
    int next_iy = 0; /* the next input row to bring into the ring */
    for (int oy = 0; oy < Ho; oy++) {
      const int iy0 = oy * DWB_SH - PH;
      next_iy = max(next_iy, iy0);
      for (; next_iy <= min(H - 1, iy0 + (DWB_KH - 1) * DH + DWB_AHEAD); next_iy++)
        conv_dww_prepare_row(ring + (next_iy & (DWB_RING - 1)) * DWB_ROWLEN, lin, xp + (size_t)next_iy * W, W, PW, nj);
      __global const float *drow = dp + (size_t)oy * Wo;
      int j = 0;
      for (; j + 16 <= Wo; j += 16) vstore16(vload16(0, drow + j), 0, dyrow + j);
      for (; j < Wo; j++) dyrow[j] = drow[j];
      for (; j < nstrip * 16; j++) dyrow[j] = 0.0f;
#pragma unroll
      for (int r = 0; r < DWB_KH; r++) {
        const int iy = iy0 + r * DH;
        if (iy < 0 || iy >= H) continue;
        const float *row = ring + (iy & (DWB_RING - 1)) * DWB_ROWLEN;
        for (int st = 0; st < nstrip; st++) {
          const float16 d = vload16(st, dyrow);
#pragma unroll
          for (int s = 0; s < DWB_KW; s++)
            acc[r * DWB_KW + s] = fma(d, vload16(0, row + tap_at[s] + st * 16), acc[r * DWB_KW + s]);
        }
      }
    }
  }
  __global float *o = AT(out) + ((size_t)part * K + ko) * DWB_TAPS;
  for (int t = 0; t < DWB_TAPS; t++) o[t] = (accumulate ? o[t] : 0.0f) + conv_hsum16(acc[t]);
}
#endif
#endif

/*
 * The flat depthwise kernels, for small planes (groups == C, K = C * mult):
 * -D: DWF_KH, DWF_KW (the tap loops unroll), DWF_SH, DWF_SW (the phase
 *     layout of conv_dwf_fwd and conv_dwf_bwd_weights, the zero insertion
 *     of conv_dwf_bwd_data), DWF_BUF (floats of each private buffer, a size
 *     class), DWF_DH, DWF_DW (dilation), ACT, ACT_ALPHA (the epilogue of
 *     conv_dwf_fwd and conv_dwf_bwd_data). Sizes are arguments.
 *
 * A zero-padded plane of row stride Ws is one flat array: output pixel
 * (oy, ox) is flat position q = oy*Ws + ox, and tap (r, s) of every pixel is
 * the same shift of q, so 16 consecutive positions take one vector load per
 * tap whatever the plane's width (the strip kernels above compute 64-column
 * rows, 16x the work on a 4x4 plane). Columns ox >= Wo of the flat grid are
 * computed and dropped. The planes of G images follow each other in the
 * buffer (image i at i * plane), so tiny planes still fill the vectors; the
 * padding rows keep every tap of a valid position inside its own image.
 * Stride SH x SW splits the padded input into SH*SW phase planes: phase
 * (py % SH, px % SW) holds x_pad[py][px] at (py / SH, px / SW), at
 * buf[phase * PHS + i * plane ...], and tap (r, s) of output (oy, ox) is
 * phase ((r*DH) % SH, (s*DW) % SW) at (oy + r*DH / SH, ox + s*DW / SW):
 * again one shift of q = oy*Ws + ox. Only data positions are ever written,
 * so the padding stays zero from the one clearing at the start.
 * The host (clnn__conv_dwf_geometry) sizes everything: plane = Hs * Ws, nq
 * (the positions computed, a multiple of 64) >= G * plane, PHS >= nq plus
 * the largest tap shift.
 */
#ifdef DWF_KH
#define DWF_TAPS (DWF_KH * DWF_KW)
#define DWF_NPH (DWF_SH * DWF_SW)

/* Copy n floats in vector pieces (16, 8, 4, 2, 1): the planes' rows are
 * short (4 to 28 floats), where an element loop costs a load and a store
 * per float. */
inline void conv_dwf_copy_in(float *dst, __global const float *src, const int n) {
  int j = 0;
  for (; j + 16 <= n; j += 16) vstore16(vload16(0, src + j), 0, dst + j);
  if (n - j >= 8) vstore8(vload8(0, src + j), 0, dst + j), j += 8;
  if (n - j >= 4) vstore4(vload4(0, src + j), 0, dst + j), j += 4;
  if (n - j >= 2) vstore2(vload2(0, src + j), 0, dst + j), j += 2;
  if (n - j >= 1) dst[j] = src[j];
}
inline void conv_dwf_copy_out(__global float *dst, const float *src, const int n) {
  int j = 0;
  for (; j + 16 <= n; j += 16) vstore16(vload16(0, src + j), 0, dst + j);
  if (n - j >= 8) vstore8(vload8(0, src + j), 0, dst + j), j += 8;
  if (n - j >= 4) vstore4(vload4(0, src + j), 0, dst + j), j += 4;
  if (n - j >= 2) vstore2(vload2(0, src + j), 0, dst + j), j += 2;
  if (n - j >= 1) dst[j] = src[j];
}
inline void conv_dwf_copy(float *dst, const float *src, const int n) {
  int j = 0;
  for (; j + 16 <= n; j += 16) vstore16(vload16(0, src + j), 0, dst + j);
  if (n - j >= 8) vstore8(vload8(0, src + j), 0, dst + j), j += 8;
  if (n - j >= 4) vstore4(vload4(0, src + j), 0, dst + j), j += 4;
  if (n - j >= 2) vstore2(vload2(0, src + j), 0, dst + j), j += 2;
  if (n - j >= 1) dst[j] = src[j];
}

/* Lanes of shuffle2(a, b, .) that interleave a and b: a0 b0 a1 b1 ... */
#define DWF_ZIP_LO (uint16)(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define DWF_ZIP_HI (uint16)(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

/* Longest padded row the stride-2 fill splits with vector shuffles. */
#define DWF_LIN 64

/*
 * Copy nimg images' planes (H x W, img_stride apart from src) into buf,
 * zero-padded by (PH, PW) and split by phase. Stride 1: row copies.
 * Stride 2 in x, padded rows of at most DWF_LIN: the row goes into lin
 * (zero-padded, kept by the caller, zero from the start) and is split into
 * even and odd columns with shuffles. Otherwise element by element.
 */
inline void conv_dwf_fill(float *buf, float *lin, __global const float *src, const ulong img_stride, const int nimg,
                          const int H, const int W, const int PH, const int PW, const int Ws, const int plane,
                          const int PHS) {
  for (int i = 0; i < nimg; i++) {
    __global const float *xp = src + i * img_stride;
    for (int iy = 0; iy < H; iy++) {
      __global const float *row = xp + iy * W;
      const int py = iy + PH;
      float *dst = buf + (py % DWF_SH) * DWF_SW * PHS + i * plane + (py / DWF_SH) * Ws;
#if DWF_SW == 1
      conv_dwf_copy_in(dst + PW, row, W);
#else
#if DWF_SW == 2
      if (W + PW <= DWF_LIN) {
        conv_dwf_copy_in(lin + PW, row, W);
        for (int j = 0; 2 * j < W + PW; j += 16) {
          const float16 a = vload16(0, lin + 2 * j), b = vload16(1, lin + 2 * j);
          const float16 ev = (float16)(a.even, b.even), od = (float16)(a.odd, b.odd);
          float t[32];
          vstore16(ev, 0, t);
          vstore16(od, 0, t + 16);
          const int n = min(16, Ws - j);
          conv_dwf_copy(dst + j, t, n);
          conv_dwf_copy(dst + PHS + j, t + 16, n);
        }
        continue;
      }
#endif
      for (int ix = 0; ix < W; ix++) {
        const int px = ix + PW;
        dst[(px % DWF_SW) * PHS + px / DWF_SW] = row[ix];
      }
#endif
    }
  }
}

/*
 * The tap loops address the buffer with one pointer per tap row r (and,
 * for stride 2 in x, a second one a phase further); the column shifts are
 * then compile-time constants folded into the loads: runtime offsets per
 * tap (25 for 5x5) would not fit in registers and be reloaded per FMA.
 * Tap (r, s): phase row (r*DH) % SH at row (r*DH) / SH, phase column
 * (s*DW) % SW at column (s*DW) / SW.
 */
#define DWF_COL_PHASE(s) (((s)*DWF_DW) % DWF_SW)
#define DWF_COL(s) (((s)*DWF_DW) / DWF_SW)

/* Where tap row r (phase column 0) starts in the phase-split buffer. */
inline int conv_dwf_row(const int r, const int Ws, const int PHS) {
  return ((r * DWF_DH) % DWF_SH) * DWF_SW * PHS + ((r * DWF_DH) / DWF_SH) * Ws;
}

/* a0..a3 (64 positions) = sum over taps of wv[t] * the tap's 64 values from
 * position q: four independent FMA chains. rows[r]: conv_dwf_row of row r
 * (or, in bwd_data, r*DH*Wb with SW = 1). */
#define DWF_BLOCK64(buf, q, rows, PHS, wv, a0, a1, a2, a3)                   \
  do {                                                                       \
    a0 = a1 = a2 = a3 = (float16)(0.0f);                                     \
    _Pragma("unroll") for (int r = 0; r < DWF_KH; r++) {                     \
      const float *row_ = (buf) + (rows)[r] + (q);                           \
      _Pragma("unroll") for (int s = 0; s < DWF_KW; s++) {                   \
        const float16 wt_ = (float16)((wv)[r * DWF_KW + s]);                 \
        const float *pt_ = row_ + DWF_COL_PHASE(s) * (PHS) + DWF_COL(s);     \
        a0 = fma(vload16(0, pt_), wt_, a0);                                  \
        a1 = fma(vload16(1, pt_), wt_, a1);                                  \
        a2 = fma(vload16(2, pt_), wt_, a2);                                  \
        a3 = fma(vload16(3, pt_), wt_, a3);                                  \
      }                                                                      \
    }                                                                        \
  } while (0)

/*
 * conv_dwf_fwd: y[img, ko] = act(b[ko] + depthwise conv of x[img, ko/mult]),
 * for the G images from get_global_id(1) * G.
 * Args: G, Hs, Ws (one image's phase plane), PHS, nq (see above).
 * NDRange (K, ceil(N / G)), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dwf_fwd(
    CTENSOR(x), CTENSOR(w), CTENSOR(bias), TENSOR(y), const int N, const int C, const int K, const int H,
    const int W, const int Ho, const int Wo, const int PH, const int PW, const int G, const int Hs, const int Ws,
    const int PHS, const int nq, const int has_bias) {
  const int ko = get_global_id(0), img0 = get_global_id(1) * G;
  if (ko >= K || img0 >= N) return;
  const int ci = ko / (K / C), nimg = min(G, N - img0), plane = Hs * Ws;
  float buf[DWF_BUF], out[DWF_BUF], lin[DWF_LIN];
  conv_zero_private(buf, DWF_NPH * PHS);
  conv_zero_private(lin, DWF_LIN);
  conv_dwf_fill(buf, lin, AT(x) + ((size_t)img0 * C + ci) * H * W, (ulong)C * H * W, nimg, H, W, PH, PW, Ws,
                plane, PHS);
  float wv[DWF_TAPS];
  for (int t = 0; t < DWF_TAPS; t++) wv[t] = AT(w)[ko * DWF_TAPS + t];
  int rows[DWF_KH];
  for (int r = 0; r < DWF_KH; r++) rows[r] = conv_dwf_row(r, Ws, PHS);
  const float bv = has_bias ? AT(bias)[ko] : 0.0f;
  for (int q = 0; q < nq; q += 64) {
    float16 a0, a1, a2, a3;
    DWF_BLOCK64(buf, q, rows, PHS, wv, a0, a1, a2, a3);
    vstore16(act_f16(a0 + bv), 0, out + q);
    vstore16(act_f16(a1 + bv), 0, out + q + 16);
    vstore16(act_f16(a2 + bv), 0, out + q + 32);
    vstore16(act_f16(a3 + bv), 0, out + q + 48);
  }
  for (int i = 0; i < nimg; i++)
    for (int oy = 0; oy < Ho; oy++)
      conv_dwf_copy_out(AT(y) + (((size_t)(img0 + i) * K + ko) * Ho + oy) * Wo, out + i * plane + oy * Ws, Wo);
}

/*
 * conv_dwf_bwd_data: dx[img, c] = act(bias[c] + sum over m < mult of the
 * transposed depthwise conv of dy[img, c*mult + m]), for G images.
 * dy is zero-inserted (stride SH x SW) into planes of Hb x Wb, Hb = H +
 * (KH-1)*DH, Wb = W + (KW-1)*DW, at (PT + oy*SH, PL + ox*SW) with
 * PT = (KH-1)*DH - PH >= 0, PL = (KW-1)*DW - PW >= 0; then
 *   dx[iy][ix] = sum over (r, s) of w[KH-1-r][KW-1-s] * buf[iy + r*DH][ix + s*DW]
 * is a stride-1 correlation over flat positions q = iy*Wb + ix.
 * Args: G, Hb, Wb, ext (floats of buf to clear), nq.
 * NDRange (C, ceil(N / G)), local (1, 1).
 */
#undef DWF_COL_PHASE
#undef DWF_COL
#define DWF_COL_PHASE(s) 0
#define DWF_COL(s) ((s)*DWF_DW)
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dwf_bwd_data(
    CTENSOR(dy), CTENSOR(w), CTENSOR(bias), TENSOR(dx), const int N, const int C, const int K, const int H,
    const int W, const int Ho, const int Wo, const int PT, const int PL, const int G, const int Hb, const int Wb,
    const int ext, const int nq, const int has_bias) {
  const int c = get_global_id(0), img0 = get_global_id(1) * G;
  if (c >= C || img0 >= N) return;
  const int mult = K / C, nimg = min(G, N - img0), plane = Hb * Wb;
  float buf[DWF_BUF], out[DWF_BUF];
  conv_zero_private(buf, ext);
  int rows[DWF_KH];
  for (int r = 0; r < DWF_KH; r++) rows[r] = r * DWF_DH * Wb;
  const float bv = has_bias ? AT(bias)[c] : 0.0f;
  for (int m = 0; m < mult; m++) {
    const int ko = c * mult + m;
    for (int i = 0; i < nimg; i++)
      for (int oy = 0; oy < Ho; oy++) {
        __global const float *src = AT(dy) + (((size_t)(img0 + i) * K + ko) * Ho + oy) * Wo;
        float *dst = buf + i * plane + (PT + oy * DWF_SH) * Wb + PL;
#if DWF_SW == 1
        conv_dwf_copy_in(dst, src, Wo);
#elif DWF_SW == 2
        /* 16 dy values interleaved with zeros: 31 positions (the zeros
         * between data columns are rewritten as zeros) */
        for (int ox = 0; ox < Wo; ox += 16) {
          float t[32];
          const int n = min(16, Wo - ox);
          conv_zero_private(t, 32);
          conv_dwf_copy_in(t, src + ox, n);
          const float16 v = vload16(0, t), z = (float16)(0.0f);
          vstore16(shuffle2(v, z, DWF_ZIP_LO), 0, t);
          vstore16(shuffle2(v, z, DWF_ZIP_HI), 0, t + 16);
          conv_dwf_copy(dst + 2 * ox, t, 2 * n - 1);
        }
#else
        for (int ox = 0; ox < Wo; ox++) dst[ox * DWF_SW] = src[ox];
#endif
      }
    float wv[DWF_TAPS]; /* flipped in both directions */
    for (int t = 0; t < DWF_TAPS; t++) wv[t] = AT(w)[ko * DWF_TAPS + DWF_TAPS - 1 - t];
    for (int q = 0; q < nq; q += 64) {
      float16 a[4];
      DWF_BLOCK64(buf, q, rows, 0, wv, a[0], a[1], a[2], a[3]);
      for (int j = 0; j < 4; j++) {
        float16 v = a[j];
        if (m > 0) v += vload16(0, out + q + 16 * j);
        if (m == mult - 1) v = act_f16(v + bv);
        vstore16(v, 0, out + q + 16 * j);
      }
    }
  }
  for (int i = 0; i < nimg; i++)
    for (int iy = 0; iy < H; iy++)
      conv_dwf_copy_out(AT(dx) + (((size_t)(img0 + i) * C + c) * H + iy) * W, out + i * plane + iy * Wb, W);
}
#undef DWF_COL_PHASE
#undef DWF_COL
#define DWF_COL_PHASE(s) (((s)*DWF_DW) % DWF_SW)
#define DWF_COL(s) (((s)*DWF_DW) / DWF_SW)

/*
 * conv_dwf_bwd_weights: dw of a depthwise convolution, one work-item per
 * (output channel ko, part of the batch):
 *   out[ko, r, s] (+)= sum over the part's images and output pixels of
 *                     dy[img, ko, oy, ox] * x_pad[img, ko/mult, oy*SH + r*DH, ox*SW + s*DW]
 * The part's images go through the buffers G at a time: x phase-split as
 * in conv_dwf_fwd, dy at the flat positions q = i * plane + oy*Ws + ox of
 * its outputs (zero elsewhere, so dropped columns add nothing). Every tap
 * keeps 16 lane sums over positions and images in order; the lanes are
 * added in a fixed tree at the end. Deterministic.
 * Args: G, Hs, Ws, PHS, nq as conv_dwf_fwd; img_per_part (a multiple of G);
 * out is dw itself (accumulate 0 or 1) or, with several parts, partial sums
 * [part][K][KH*KW] (accumulate 0).
 * NDRange (K, parts), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_dwf_bwd_weights(
    CTENSOR(x), CTENSOR(dy), TENSOR(out), const int N, const int C, const int K, const int H, const int W,
    const int Ho, const int Wo, const int PH, const int PW, const int G, const int Hs, const int Ws, const int PHS,
    const int nq, const int img_per_part, const int accumulate) {
  const int ko = get_global_id(0), part = get_global_id(1);
  if (ko >= K) return;
  const int ci = ko / (K / C), plane = Hs * Ws;
  float buf[DWF_BUF], d[DWF_BUF], lin[DWF_LIN];
  conv_zero_private(buf, DWF_NPH * PHS);
  conv_zero_private(lin, DWF_LIN);
  conv_zero_private(d, nq);
  int rows[DWF_KH];
  for (int r = 0; r < DWF_KH; r++) rows[r] = conv_dwf_row(r, Ws, PHS);
  float16 acc[DWF_TAPS];
  for (int t = 0; t < DWF_TAPS; t++) acc[t] = (float16)(0.0f);
  const int img_end = min(N, (part + 1) * img_per_part);
  for (int img0 = part * img_per_part; img0 < img_end; img0 += G) {
    const int nimg = min(G, img_end - img0);
    conv_dwf_fill(buf, lin, AT(x) + ((size_t)img0 * C + ci) * H * W, (ulong)C * H * W, nimg, H, W, PH, PW, Ws,
                  plane, PHS);
    for (int i = 0; i < nimg; i++)
      for (int oy = 0; oy < Ho; oy++)
        conv_dwf_copy_in(d + i * plane + oy * Ws, AT(dy) + (((size_t)(img0 + i) * K + ko) * Ho + oy) * Wo, Wo);
    if (nimg < G) /* the last group of the part: no stale dy */
      for (int j = nimg * plane; j < nq; j++) d[j] = 0.0f;
    for (int q = 0; q < nq; q += 16) {
      const float16 dv = vload16(0, d + q);
#pragma unroll
      for (int r = 0; r < DWF_KH; r++) {
        const float *row = buf + rows[r] + q;
#pragma unroll
        for (int s = 0; s < DWF_KW; s++)
          acc[r * DWF_KW + s] =
              fma(dv, vload16(0, row + DWF_COL_PHASE(s) * PHS + DWF_COL(s)), acc[r * DWF_KW + s]);
      }
    }
  }
  __global float *o = AT(out) + ((size_t)part * K + ko) * DWF_TAPS;
  for (int t = 0; t < DWF_TAPS; t++) o[t] = (accumulate ? o[t] : 0.0f) + conv_hsum16(acc[t]);
}
#endif

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

#if CONV_BASE
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

/*
 * conv_sum_parts: out[i] = (accumulate ? out[i] : 0) + sum over p < nparts
 * of parts[p * n + i], p in order. NDRange (n), local (any).
 */
#if CONV_BASE
__kernel void conv_sum_parts(CTENSOR(parts), TENSOR(out), const int n, const int nparts, const int accumulate) {
  const int i = get_global_id(0);
  if (i >= n) return;
  float v = 0.0f;
  for (int p = 0; p < nparts; p++) v += AT(parts)[(size_t)p * n + i];
  AT(out)[i] = (accumulate ? AT(out)[i] : 0.0f) + v;
}
#endif

/*
 * conv_bwd_bias: db[k] (+)= sum over images and pixels of dy[img, k, :],
 * one work-item per channel: 16-lane sums in order, then a fixed tree.
 * NDRange (K), local (1).
 */
#if CONV_BASE
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
#endif

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
#ifdef BW_PC
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
#endif

/*
 * conv_bwdw_reduce: dw[g*M + kl][row] (+)= sum over slots s in order of
 * part[s][g][row][kl] (see conv_bwdw_packed).
 * NDRange (K rounded up to 16, Kd), local (16, 1): neighbours read neighbouring columns.
 */
#if CONV_BASE
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
#endif

/* ========================================================= grouped direct */

/*
 * conv_grouped_direct: grouped convolution with few channels per group
 * (ResNeXt / RegNet: 4 to 16), between depthwise and dense:
 *   y[img, g*M + m, oy, ox] = act(b[g*M + m] + sum over c < Cg and taps (r, s) of
 *       w[g*M + m, c, r, s] * x[img, g*Cg + c, oy*SH - PH + r*DH, ox*SW - PW + s*DW])
 * The GEMM tiles (8 or 32 output channels) waste most of their rows when a
 * group has 4; here the pixels run along the vectors instead, as in
 * conv_dw_fwd, and all GD_M output channels of the group are computed at
 * once: a block of GD_R output rows x GD_NS 16-wide strips keeps
 * GD_R * GD_NS * GD_M float16 accumulators (24 at most), so every input
 * vector load feeds GD_M FMAs and every weight (a scalar broadcast)
 * GD_R * GD_NS of them.
 * One work-item per (band of output rows, image * group). The input rows of
 * the group's Cg channels go once into a local-memory window (win rows per
 * channel, a power of two): zero-padded by PW and split by column phase
 * modulo GD_SW as in conv_dww_prepare_row, so tap s of a strip is one
 * contiguous vector load, no bounds checks in the tap loops; tap rows
 * outside the image read a row of zeros. Only the data columns of a window
 * row are ever written: its padding stays zero from the start. Fixed
 * summation order (c, r, s): deterministic.
 * Weights: [G][Cg*KH*KW][GD_M] (conv_pack_blocks with MB = M).
 * -D: GD_M (output channels per group), GD_KH, GD_KW (taps, unrolled),
 *     GD_SW (stride_w), GD_NS, GD_R (the block), GD_LOCAL (floats of the
 *     window, a size class >= Cg*win*rowlen + rowlen), HAS_BIAS, ACT, ACT_ALPHA.
 * Args: rowlen = GD_SW * plen floats per window row (plen a multiple of 16
 *     covering every strip's reads), win, rows (output rows per band, a
 *     multiple of GD_R).
 * NDRange (ceil(Ho/rows), N*G), local (1, 1).
 */
#ifdef GD_M
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void conv_grouped_direct(
    CTENSOR(x), CTENSOR(w), CTENSOR(bias), TENSOR(y), const int C, const int H, const int W, const int K,
    const int G, const int Ho, const int Wo, const int SH, const int PH, const int PW, const int DH,
    const int DW, const int rowlen, const int win, const int rows) {
  __local float buf[GD_LOCAL];
  const int oy_begin = get_global_id(0) * rows, bi = get_global_id(1);
  if (oy_begin >= Ho) return;
  const int oy_end = min(oy_begin + rows, Ho);
  const int Cg = C / G, img = bi / G, g = bi % G, plen = rowlen / GD_SW, chan_len = win * rowlen;
  __global const float *X = AT(x) + ((size_t)img * C + (size_t)g * Cg) * H * W;
  __global float *Y = AT(y) + ((size_t)img * K + (size_t)g * GD_M) * Ho * Wo;
  __global const float *Wg = AT(w) + (size_t)g * Cg * GD_KH * GD_KW * GD_M;
  __local float *const zero_row = buf + Cg * chan_len;
  for (int j = 0; j < Cg * chan_len + rowlen; j += 16) vstore16((float16)(0.0f), 0, buf + j);
  int tap_at[GD_KW]; /* where tap s starts in a phase-split row */
  for (int s = 0; s < GD_KW; s++) tap_at[s] = ((s * DW) % GD_SW) * plen + (s * DW) / GD_SW;
  float bv[GD_M];
  for (int m = 0; m < GD_M; m++) bv[m] = HAS_BIAS ? AT(bias)[g * GD_M + m] : 0.0f;
  int next_iy = 0; /* the next input row to bring into the window */
  for (int oy = oy_begin; oy < oy_end; oy += GD_R) {
    const int iy_first = oy * SH - PH, iy_last = iy_first + (GD_R - 1) * SH + (GD_KH - 1) * DH;
    next_iy = max(next_iy, iy_first);
    for (; next_iy <= min(H - 1, iy_last); next_iy++) {
      __local float *dst = buf + (next_iy & (win - 1)) * rowlen;
      __global const float *src = X + (size_t)next_iy * W;
      for (int c = 0; c < Cg; c++, dst += chan_len, src += (size_t)H * W) {
#if GD_SW == 1
        int j = 0;
        for (; j + 16 <= W; j += 16) vstore16(vload16(0, src + j), 0, dst + PW + j);
        for (; j < W; j++) dst[PW + j] = src[j];
#else
        for (int j = 0; j < W; j++) {
          const int p = PW + j;
          dst[(p % GD_SW) * plen + p / GD_SW] = src[j];
        }
#endif
      }
    }
    /* Window offset of tap row r of block row q, or -1: outside the image. */
    int row_at[GD_R][GD_KH];
    for (int q = 0; q < GD_R; q++)
      for (int r = 0; r < GD_KH; r++) {
        const int iy = iy_first + q * SH + r * DH;
        row_at[q][r] = iy >= 0 && iy < H ? (iy & (win - 1)) * rowlen : -1;
      }
    for (int ox0 = 0; ox0 < Wo; ox0 += GD_NS * 16) {
      float16 acc[GD_R][GD_NS][GD_M];
#pragma unroll
      for (int q = 0; q < GD_R; q++)
#pragma unroll
        for (int j = 0; j < GD_NS; j++)
#pragma unroll
          for (int m = 0; m < GD_M; m++) acc[q][j][m] = (float16)(0.0f);
      __global const float *wp = Wg;
      for (int c = 0; c < Cg; c++) {
        __local const float *chan = buf + c * chan_len + ox0;
#pragma unroll
        for (int r = 0; r < GD_KH; r++) {
          __local const float *rp[GD_R];
#pragma unroll
          for (int q = 0; q < GD_R; q++) rp[q] = row_at[q][r] >= 0 ? chan + row_at[q][r] : zero_row;
#pragma unroll
          for (int s = 0; s < GD_KW; s++, wp += GD_M) {
            float16 xv[GD_R][GD_NS];
#pragma unroll
            for (int q = 0; q < GD_R; q++)
#pragma unroll
              for (int j = 0; j < GD_NS; j++) xv[q][j] = vload16(j, rp[q] + tap_at[s]);
#pragma unroll
            for (int m = 0; m < GD_M; m++) {
              const float16 wv = (float16)(wp[m]);
#pragma unroll
              for (int q = 0; q < GD_R; q++)
#pragma unroll
                for (int j = 0; j < GD_NS; j++) acc[q][j][m] = fma(xv[q][j], wv, acc[q][j][m]);
            }
          }
        }
      }
      for (int q = 0; q < GD_R; q++) {
        if (oy + q >= oy_end) break;
        __global float *yrow = Y + (size_t)(oy + q) * Wo + ox0;
#pragma unroll
        for (int m = 0; m < GD_M; m++)
#pragma unroll
          for (int j = 0; j < GD_NS; j++)
            conv_store16_upto(act_f16(acc[q][j][m] + bv[m]), yrow + (size_t)m * Ho * Wo + 16 * j,
                              Wo - ox0 - 16 * j);
      }
    }
  }
}
#endif
