/*
 * deform_conv.cl - deformable convolution v1/v2 (torchvision semantics, see
 * include/clnn.h), forward and backward, float32.
 *
 * Data layouts used between the kernels (ops/deform_conv.c owns the buffers):
 *  - xt: x copied channel-last into zero-bordered planes, per image
 *    [Hp = H + 3][Wp = W + 2][C], pixel (iy, ix) at row iy + 1, column ix + 1.
 *    Every corner of a point inside (-1, H) x (-1, W) (and of the closed box
 *    [-1, H) x [-1, W) the offset gradient uses) lies in the plane, so the
 *    sampling loops need no bounds checks. Padded rows H + 1 and H + 2 are
 *    zero: points that read nothing (outside, NaN, Inf) aim at their first
 *    2 x 2 block.
 *  - K' order of the patch matrix: k' = t * Cg + c (tap-major, channel
 *    fastest), so one sampling point gives a contiguous run of channels and
 *    the sampling loops work on channel vectors (VEC floats).
 *  - colT (the dW GEMM's B): per image [npix][C * taps], row p holding group
 *    g's K' block at g * Cg * taps.
 *  - dcolT (the gradient of every sample): per image [taps][pixels][C], so
 *    that one tap's consecutive pixels are consecutive memory for the
 *    backward kernels that walk them.
 *
 * Channel vectors: -DVEC=16, 4 or 1 divides both the channels of a group
 * and of an offset group, so a vector never crosses either.
 *
 * A program compiles one section of this file (every kernel of a program
 * is compiled with it, and PoCL compiles slowly): -DDC_FWD the fused
 * forward kernel, -DDC_BWD the backward kernels that work on channel
 * vectors, -DDC_GPU the GPU-class variants' kernels (layouts of their own,
 * described there), none the small layout kernels (the half types'
 * conversions are runtime/stage.c's). Switches that cost nothing at
 * run time (mask, bias, which gradients) are arguments, not -D options, so
 * few programs exist.
 */
#ifndef VEC
#define VEC 1
#endif

#if VEC == 16
#define VT float16
#define VLOAD(p) vload16(0, (p))
#define VSTORE(v, p) vstore16((v), 0, (p))
#define VSUM(v) dc_sum16(v)
#elif VEC == 4
#define VT float4
#define VLOAD(p) vload4(0, (p))
#define VSTORE(v, p) vstore4((v), 0, (p))
#define VSUM(v) dc_sum4(v)
#else
#define VT float
#define VLOAD(p) (*(p))
#define VSTORE(v, p) (*(p) = (v))
#define VSUM(v) (v)
#endif

/* Horizontal sums in a fixed pairwise order (deterministic). */
float dc_sum4(float4 v) { return (v.s0 + v.s1) + (v.s2 + v.s3); }
float dc_sum8(float8 v) { return dc_sum4(v.lo) + dc_sum4(v.hi); }
float dc_sum16(float16 v) { return dc_sum8(v.lo) + dc_sum8(v.hi); }

/* Where tap (ki, kj) of output pixel (oy, ox) samples: offset channels 2t, 2t+1
 * of the pixel's offset group, read at p with plane stride npix; mask m when
 * modulated, else 1. The offsets are of the program's type (-DDT: the fused
 * forward reads half offsets itself; every other program is float32). */
typedef struct dc_point {
  float y, x, m;
} dc_point;

dc_point dc_point_at(__global const STORE_T *off, __global const STORE_T *msk, const int modulated,
                     const int npix, const int p, const int oy, const int ox, const int ki,
                     const int kj, const int SH, const int SW, const int PH, const int PW,
                     const int DH, const int DW) {
  dc_point pt;
  /* As torchvision: integer base position plus the float shift, one rounding. */
  pt.y = (float)(oy * SH - PH + ki * DH) + LOAD1(off, p);
  pt.x = (float)(ox * SW - PW + kj * DW) + LOAD1(off, npix + p);
  pt.m = modulated ? LOAD1(msk, p) : 1.0f;
  return pt;
}

/* The point reads the image: inside the open box (-1, H) x (-1, W); false for NaN. */
bool dc_reads(const float y, const float x, const int H, const int W) {
  return y > -1.0f && y < (float)H && x > -1.0f && x < (float)W;
}

/* A sampling point on the xt planes: top-left corner (index of a pixel of the
 * padded plane) and the corner weights (tl, tr, bl, br) times the mask. Points
 * that read nothing aim at the zero block with weights 0 * m (a NaN mask still
 * propagates, as in torchvision). */
typedef struct dc_sample {
  int base;
  float4 w;
} dc_sample;

dc_sample dc_locate(const dc_point pt, const int H, const int W) {
  dc_sample s;
  const int Wp = W + 2;
  if (dc_reads(pt.y, pt.x, H, W)) {
    const float fy = floor(pt.y), fx = floor(pt.x);
    const float ly = pt.y - fy, lx = pt.x - fx, hy = 1.0f - ly, hx = 1.0f - lx;
    s.base = ((int)fy + 1) * Wp + (int)fx + 1;
    s.w = (float4)(hy * hx, hy * lx, ly * hx, ly * lx) * pt.m;
  } else {
    s.base = (H + 1) * Wp;
    s.w = (float4)(0.0f) * pt.m;
  }
  return s;
}

/* ============================================== forward (-DDC_FWD) */
#if defined(DC_FWD)

CLNN_DEFINE_SCALE2_BITS(float8, int8, dc_f8)
CLNN_DEFINE_ACT_MATH(float8, dc_f8)
CLNN_DEFINE_ACT(float8, dc_f8)

/*
 * deform_conv_fwd_fused: the forward pass as a GEMM (M = 8 output pixels,
 * N = output channels of a group, K = Cg * taps) whose A operand is sampled
 * on the fly. One work-item per 8-pixel tile of one image and group: it
 * samples the tile's patches for a block of FK rows of K' into local memory
 * (A[i][k'], channel vectors straight from xt), then runs the 8 x 32
 * register-tile microkernel over that block for every 32-channel slice of the
 * output channels, B being the packed weights (deform_conv_pack_w). The
 * sampling is paid once per pixel, not once per output channel.
 * When K' exceeds FK the partial sums go through y: block 0 writes, later
 * blocks add, the last adds the bias and applies the activation.
 * -D: DC_FWD, FK, VEC, ACT, ACT_ALPHA.
 * Args: xt (this chunk's planes), offset, mask, wp (packed weights), bias,
 * y (at the chunk's first image), has_bias, modulated, then sizes.
 * -DDT (half types): offset, mask, bias and y of that type, read and
 * rounded here (xt and wp are float32 copies), only with K' <= FK.
 * NDRange (ceil(Ho*Wo / 8), images * G), local (1, 1).
 */
#define FM CLNN_TILE_MR
#if CLNN_TILE_MR != 8 || CLNN_TILE_NR != 32
#error "the fused forward and deform_conv_pack_w are written for the 8 x 32 register tile"
#endif
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_fwd_fused(
    CTENSOR(xt), CTENSOR_DT(offset), CTENSOR_DT(mask), CTENSOR(wp), CTENSOR_DT(bias), TENSOR_DT(y),
    const int has_bias, const int modulated, const int C, const int K, const int G, const int DG,
    const int H, const int W, const int Ho, const int Wo, const int KH, const int KW, const int SH,
    const int SW, const int PH, const int PW, const int DH, const int DW) {
  __local float A[FM * FK];
  const int npix = Ho * Wo;
  const int p0 = get_global_id(0) * FM, bi = get_global_id(1);
  if (p0 >= npix) return;
  const int img = bi / G, g = bi % G;
  const int Cg = C / G, Kg = K / G, Cog = C / DG, taps = KH * KW, Kd = taps * Cg;
  const int Wp = W + 2, ntiles = (Kg + 31) / 32;
  __global const float *X = AT(xt) + (size_t)img * (H + 3) * Wp * C + g * Cg;
  __global const STORE_T *OFF = AT(offset) + (size_t)img * DG * 2 * taps * npix;
  __global const STORE_T *MSK = AT(mask) + (size_t)img * DG * taps * npix;

  for (int kb = 0; kb < Kd; kb += FK) {
    const int kn = min(FK, Kd - kb);
    /* Sample rows kb .. kb+kn-1 of A (tap-major: a tap's channels are a run). */
    for (int t = kb / Cg; t < taps && t * Cg < kb + kn; t++) {
      const int c_lo = max(kb - t * Cg, 0), c_hi = min(kb + kn - t * Cg, Cg);
      const int ki = t / KW, kj = t % KW;
      for (int i = 0; i < FM; i++) {
        const int p = min(p0 + i, npix - 1); /* rows past the end: computed, not stored */
        __local float *arow = A + i * FK + t * Cg - kb;
        for (int c = c_lo; c < c_hi;) {
          const int og = (g * Cg + c) / Cog;
          const int c_end = min(c_hi, (og + 1) * Cog - g * Cg);
          const dc_point pt = dc_point_at(OFF + (size_t)(og * taps + t) * 2 * npix,
                                          MSK + (size_t)(og * taps + t) * npix, modulated, npix, p,
                                          p / Wo, p % Wo, ki, kj, SH, SW, PH, PW, DH, DW);
          const dc_sample s = dc_locate(pt, H, W);
          __global const float *q = X + (size_t)s.base * C;
          for (; c < c_end; c += VEC) {
            const VT v = s.w.s0 * VLOAD(q + c) + s.w.s1 * VLOAD(q + C + c) +
                         s.w.s2 * VLOAD(q + (size_t)Wp * C + c) +
                         s.w.s3 * VLOAD(q + (size_t)(Wp + 1) * C + c);
            VSTORE(v, arow + c);
          }
        }
      }
    }
    const bool first = kb == 0, last = kb + kn >= Kd;
    for (int nt = 0; nt < ntiles; nt++) {
      __global const float *B = AT(wp) + ((size_t)(g * ntiles + nt) * Kd + kb) * 32;
      float16 acc0[FM], acc1[FM];
      for (int i = 0; i < FM; i++) acc0[i] = acc1[i] = (float16)(0.0f);
      for (int k = 0; k < kn; k++) {
        const float16 b0 = vload16(0, B + k * 32), b1 = vload16(1, B + k * 32);
#pragma unroll
        for (int i = 0; i < FM; i++) {
          const float16 a = (float16)(A[i * FK + k]);
          acc0[i] = fma(a, b0, acc0[i]);
          acc1[i] = fma(a, b1, acc1[i]);
        }
      }
      /* The tile is [pixel][channel]; y wants channel rows of contiguous pixels. */
      float tile[FM][32];
      for (int i = 0; i < FM; i++) {
        vstore16(acc0[i], 0, tile[i]);
        vstore16(acc1[i], 1, tile[i]);
      }
      const int ncols = min(32, Kg - nt * 32);
      for (int j = 0; j < ncols; j++) {
        const int ko = g * Kg + nt * 32 + j;
        __global STORE_T *yp = AT(y) + ((size_t)img * K + ko) * npix + p0;
        const float bv = (has_bias && last) ? LOAD1(AT(bias), ko) : 0.0f;
#if DT != CLNN_DTYPE_CODE_FLOAT32
        /* A half y: the host runs this only when K' fits one block (first
         * and last), so the sums are final here and rounded once. */
        float out[FM];
        for (int i = 0; i < FM; i++) out[i] = tile[i][j];
        if (p0 + FM <= npix) {
          const float8 v = act_dc_f8(vload8(0, out) + bv);
#if DT == CLNN_DTYPE_CODE_FLOAT16
          vstore_half8_rte(v, 0, yp); /* one conversion of 8 (PoCL: F16C), not 8 scalar ones */
#else
          vstore8(v, 0, out);
          for (int i = 0; i < FM; i++) STORE1(out[i], yp, i);
#endif
        } else {
          for (int i = 0; i < npix - p0; i++) STORE1(act_f1(out[i] + bv), yp, i);
        }
#else
        if (p0 + FM <= npix) {
          float8 v = (float8)(tile[0][j], tile[1][j], tile[2][j], tile[3][j], tile[4][j], tile[5][j],
                              tile[6][j], tile[7][j]);
          if (!first) v += vload8(0, yp);
          if (last) v = act_dc_f8(v + bv);
          vstore8(v, 0, yp);
        } else {
          for (int i = 0; i < npix - p0; i++) {
            float v = tile[i][j];
            if (!first) v += yp[i];
            yp[i] = last ? act_f1(v + bv) : v;
          }
        }
#endif
      }
    }
  }
}

/* ============================================= backward (-DDC_BWD) */
#elif defined(DC_BWD)

/*
 * deform_conv_bwd_sample: everything of the backward pass that walks the
 * sampling points once, per (image, offset group, tap, output row):
 *  - want_col: colT = m * sample (the dW GEMM's operand);
 *  - want_doff: doffset = m * sum over the group's channels of
 *    dcol * d sample / d (y, x) (torchvision's coordinate weight: corner
 *    differences on the closed box [-1, H) x [-1, W), one-sided at integers);
 *  - want_dmask: dmask = sum over channels of dcol * sample.
 * Channel sums are a gather in a fixed order (vector lanes, then a pairwise
 * horizontal sum): no atomics.
 * Works on a band of output rows from oy0. dcolT holds dcol_pix pixels per
 * tap plane from pixel dcol_p0; colT col_img elements per image from pixel
 * col_p0.
 * -D: DC_BWD, VEC.
 * Args: xt, offset, mask, dcol, col, doffset, dmask at the chunk's first image.
 * NDRange (rows in the band, taps, images * DG), local (1, 1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_bwd_sample(
    CTENSOR(xt), CTENSOR(offset), CTENSOR(mask), CTENSOR(dcol), TENSOR(col), TENSOR(doffset),
    TENSOR(dmask), const int modulated, const int want_col, const int want_doff,
    const int want_dmask, const int oy0, const int dcol_pix, const int dcol_p0, const int col_img,
    const int col_p0, const int C, const int G, const int DG, const int H, const int W,
    const int Ho, const int Wo, const int KH, const int KW, const int SH, const int SW,
    const int PH, const int PW, const int DH, const int DW) {
  const int oy = oy0 + get_global_id(0), t = get_global_id(1), bi = get_global_id(2);
  if (oy >= Ho) return;
  const int img = bi / DG, og = bi % DG;
  const int npix = Ho * Wo, taps = KH * KW, Cg = C / G, Cog = C / DG, Kd = taps * Cg;
  const int Wp = W + 2, ldcol = C * taps;
  const bool want_dsample = want_doff || want_dmask;
  __global const float *X = AT(xt) + (size_t)img * (H + 3) * Wp * C;
  __global const float *OFF = AT(offset) + ((size_t)bi * taps + t) * 2 * npix;
  __global const float *MSK = AT(mask) + ((size_t)bi * taps + t) * npix;
  __global const float *DCOL = AT(dcol) + (size_t)img * taps * dcol_pix * C + (size_t)t * dcol_pix * C;
  __global float *COL = AT(col) + (size_t)img * col_img;
  for (int ox = 0; ox < Wo; ox++) {
    const int p = oy * Wo + ox;
    const dc_point pt =
        dc_point_at(OFF, MSK, modulated, npix, p, oy, ox, t / KW, t % KW, SH, SW, PH, PW, DH, DW);
    /* The coordinate gradient lives on the closed box, the sample on the open one. */
    const bool closed = pt.y >= -1.0f && pt.y < (float)H && pt.x >= -1.0f && pt.x < (float)W;
    const bool open = closed && pt.y > -1.0f && pt.x > -1.0f;
    int base = (H + 1) * Wp;
    float ly = 0.0f, lx = 0.0f;
    if (closed) {
      const float fy = floor(pt.y), fx = floor(pt.x);
      ly = pt.y - fy;
      lx = pt.x - fx;
      base = ((int)fy + 1) * Wp + (int)fx + 1;
    }
    const float hy = 1.0f - ly, hx = 1.0f - lx;
    const float4 bw = open ? (float4)(hy * hx, hy * lx, ly * hx, ly * lx) : (float4)(0.0f);
    VT gy = (VT)(0.0f), gx = (VT)(0.0f), gm = (VT)(0.0f);
    __global const float *q = X + (size_t)base * C;
    __global const float *dcol_row = DCOL + (size_t)(p - dcol_p0) * C;
    /* The offset group's channels, one conv group's run at a time: channel c of
     * group g sits at g * Kd + t * Cg + (c - g * Cg) in a colT row. */
    for (int c = og * Cog; c < (og + 1) * Cog;) {
      const int g = c / Cg, c_end = min((og + 1) * Cog, (g + 1) * Cg);
      __global float *col_row = COL + (size_t)(p - col_p0) * ldcol + g * Kd + t * Cg - g * Cg;
      for (; c < c_end; c += VEC) {
        const VT v00 = VLOAD(q + c), v01 = VLOAD(q + C + c);
        const VT v10 = VLOAD(q + (size_t)Wp * C + c), v11 = VLOAD(q + (size_t)(Wp + 1) * C + c);
        const VT bil = bw.s0 * v00 + bw.s1 * v01 + bw.s2 * v10 + bw.s3 * v11;
        if (want_col) VSTORE(pt.m * bil, col_row + c);
        if (want_dsample) {
          const VT d = VLOAD(dcol_row + c);
          gm += d * bil;
          gy += d * (lx * (v11 - v01) + (1.0f - lx) * (v10 - v00));
          gx += d * (ly * (v11 - v10) + (1.0f - ly) * (v01 - v00));
        }
      }
    }
    if (want_doff) {
      __global float *dof = AT(doffset) + ((size_t)bi * taps + t) * 2 * npix + p;
      dof[0] = pt.m * VSUM(gy);
      dof[npix] = pt.m * VSUM(gx);
    }
    if (want_dmask) AT(dmask)[((size_t)bi * taps + t) * npix + p] = VSUM(gm);
  }
}

/*
 * dx as a gather. The sampling points of one (image, offset group) that read
 * the image are bucketed by the cell they fall in: cell (floor(y) + 1,
 * floor(x) + 1) of a (H + 1) x (W + 1) grid. Input pixel (iy, ix) is a corner
 * of exactly the points in the four cells around it, so it sums those, in a
 * fixed order (cells, then taps, then pixels): same bits on every run.
 * Three steps build the buckets (a counting sort, parallel over taps):
 *  count: cnt[bi][t][cell] = points of tap t in cell;
 *  scan:  cnt becomes each (cell, tap) run's start, cell-major; cell_start[bi][cell];
 *  fill:  each tap walks its points in pixel order and appends them to its
 *         runs: sidx = where the point's channels start in dcolT ((t * npix + p) * C),
 *         sw = its four corner weights times the mask.
 */
int dc_cell(const dc_point pt, const int H, const int W) {
  if (!dc_reads(pt.y, pt.x, H, W)) return -1;
  return ((int)floor(pt.y) + 1) * (W + 1) + (int)floor(pt.x) + 1;
}

/*
 * deform_conv_bucket_count: NDRange (taps, images * DG), local (1, 1).
 * Args: offset at the chunk's first image, cnt [bi][taps][ncells].
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_bucket_count(
    CTENSOR(offset), ITENSOR(cnt), const int DG, const int H, const int W, const int Ho,
    const int Wo, const int KH, const int KW, const int SH, const int SW, const int PH,
    const int PW, const int DH, const int DW) {
  const int t = get_global_id(0), bi = get_global_id(1), taps = KH * KW;
  if (t >= taps) return;
  const int npix = Ho * Wo, ncells = (H + 1) * (W + 1);
  __global int *cn = AT(cnt) + ((size_t)bi * taps + t) * ncells;
  for (int cell = 0; cell < ncells; cell++) cn[cell] = 0;
  __global const float *OFF = AT(offset) + ((size_t)bi * taps + t) * 2 * npix;
  const int ki = t / KW, kj = t % KW;
  for (int oy = 0, p = 0; oy < Ho; oy++)
    for (int ox = 0; ox < Wo; ox++, p++) {
      const dc_point pt = dc_point_at(OFF, OFF, 0, npix, p, oy, ox, ki, kj, SH, SW, PH, PW, DH, DW);
      const int cell = dc_cell(pt, H, W);
      if (cell >= 0) cn[cell]++;
    }
}

/*
 * deform_conv_bucket_fill: NDRange (taps, images * DG), local (1, 1).
 * Args: offset, mask at the chunk's first image; cnt (run
 * starts, used as cursors), sidx [bi][taps * npix], sw [bi][taps * npix][4].
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_bucket_fill(
    CTENSOR(offset), CTENSOR(mask), ITENSOR(cnt), ITENSOR(sidx), TENSOR(sw), const int modulated,
    const int C, const int DG, const int H, const int W, const int Ho, const int Wo,
    const int KH, const int KW, const int SH, const int SW, const int PH, const int PW,
    const int DH, const int DW) {
  const int t = get_global_id(0), bi = get_global_id(1), taps = KH * KW;
  if (t >= taps) return;
  const int npix = Ho * Wo, ncells = (H + 1) * (W + 1);
  __global int *cursor = AT(cnt) + ((size_t)bi * taps + t) * ncells;
  __global int *idx = AT(sidx) + (size_t)bi * taps * npix;
  __global float *wts = AT(sw) + (size_t)bi * taps * npix * 4;
  __global const float *OFF = AT(offset) + ((size_t)bi * taps + t) * 2 * npix;
  __global const float *MSK = AT(mask) + ((size_t)bi * taps + t) * npix;
  const int ki = t / KW, kj = t % KW;
  for (int oy = 0, p = 0; oy < Ho; oy++)
    for (int ox = 0; ox < Wo; ox++, p++) {
      const dc_point pt = dc_point_at(OFF, MSK, modulated, npix, p, oy, ox, ki, kj, SH, SW, PH, PW, DH, DW);
      const int cell = dc_cell(pt, H, W);
      if (cell < 0) continue;
      const int pos = cursor[cell]++;
      const float fy = floor(pt.y), fx = floor(pt.x);
      const float ly = pt.y - fy, lx = pt.x - fx, hy = 1.0f - ly, hx = 1.0f - lx;
      idx[pos] = (t * npix + p) * C;
      vstore4((float4)(hy * hx, hy * lx, ly * hx, ly * lx) * pt.m, pos, wts);
    }
}

/*
 * deform_conv_dx_gather: dx[img][c0 .. c0 + DXV*VEC - 1][iy][ix] for one input
 * row and DXV channel vectors (one index and weight load serves them all),
 * from the buckets of the four cells around each pixel: cell (iy-1, ix-1)
 * holds points whose bottom-right corner is the pixel, (iy-1, ix)
 * bottom-left, (iy, ix-1) top-right, (iy, ix) top-left.
 * Three kernels, deform_conv_dx_gather1, 2 and 4, by DXV.
 * -D: DC_BWD, VEC. Args: cell_start, sidx, sw (buckets), dcol, dx at the
 * chunk's first image. NDRange (H, C / (DXV * VEC), images), local (1, 1, 1).
 */
#define DX_GATHER(first, end, corner)                                                 \
  for (int k = (first); k < (end); k++) {                                             \
    const float wk = wts[4 * k + (corner)];                                           \
    __global const float *src = D + idx[k];                                           \
    _Pragma("unroll") for (int v = 0; v < 4; v++) if (v < nv) acc[v] += wk * VLOAD(src + v * VEC); \
  }

/* The body; nv is a constant after inlining into the three kernels below, so
 * the constant-trip loops over v unroll and the tests on nv disappear. */
inline void dc_dx_gather(const int nv, __global const int *cell_start, __global const int *sidx,
                         __global const float *sw, __global const float *dcol,
                         __global float *dx, const int C, const int DG,
                         const int H, const int W, const int npix, const int taps) {
  const int iy = get_global_id(0), c0 = get_global_id(1) * VEC * nv, img = get_global_id(2);
  if (iy >= H) return;
  const int Cog = C / DG, og = c0 / Cog, bi = img * DG + og;
  const int ncells = (H + 1) * (W + 1);
  __global const int *cs = cell_start + (size_t)bi * (ncells + 1);
  __global const int *idx = sidx + (size_t)bi * taps * npix;
  __global const float *wts = sw + (size_t)bi * taps * npix * 4;
  __global const float *D = dcol + (size_t)img * taps * npix * C + c0;
  __global float *out = dx + ((size_t)img * C + c0) * H * W + (size_t)iy * W;
  for (int ix = 0; ix < W; ix++) {
    VT acc[4];
#pragma unroll
    for (int v = 0; v < 4; v++) acc[v] = (VT)(0.0f);
    const int above = iy * (W + 1) + ix, here = (iy + 1) * (W + 1) + ix;
    DX_GATHER(cs[above], cs[above + 1], 3);
    DX_GATHER(cs[above + 1], cs[above + 2], 2);
    DX_GATHER(cs[here], cs[here + 1], 1);
    DX_GATHER(cs[here + 1], cs[here + 2], 0);
    float lanes[4 * VEC];
    for (int v = 0; v < nv; v++) VSTORE(acc[v], lanes + v * VEC);
    for (int v = 0; v < nv * VEC; v++) out[(size_t)v * H * W + ix] = lanes[v];
  }
}

#define DX_GATHER_ARGS                                                                    \
  CITENSOR(cell_start), CITENSOR(sidx), CTENSOR(sw), CTENSOR(dcol), TENSOR(dx), const int C, \
      const int DG, const int H, const int W, const int npix, const int taps
#define DX_GATHER_PASS AT(cell_start), AT(sidx), AT(sw), AT(dcol), AT(dx), C, DG, H, W, npix, taps
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_dx_gather1(DX_GATHER_ARGS) {
  dc_dx_gather(1, DX_GATHER_PASS);
}
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_dx_gather2(DX_GATHER_ARGS) {
  dc_dx_gather(2, DX_GATHER_PASS);
}
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_dx_gather4(DX_GATHER_ARGS) {
  dc_dx_gather(4, DX_GATHER_PASS);
}

/* ============================================ GPU class (-DDC_GPU) */
#elif defined(DC_GPU)

/*
 * The GPU-class variants (ops/deform_conv.c, "GPU variants"): work-groups of
 * DC_WG work-items (a power of two, 64 to 256), neighbouring work-items on
 * neighbouring addresses, no atomics. Their scratch layouts:
 *  - col / dcol of a chunk of images: [C * taps][NQ], row ci * taps + t
 *    (torchvision's order: the weights are GEMM operands as they are),
 *    column q = image * npix + p. The chunk's images lie side by side along
 *    a row, so consecutive work-items (consecutive q) touch consecutive
 *    addresses, across image boundaries too, and no work-group idles on a
 *    short image's tail.
 *  - sampling points of a chunk: s = (bi * taps + t) * npix + p with
 *    bi = image * DG + og, the order of the offset tensor.
 * -D: DC_GPU, DC_WG.
 */
#ifndef DC_WG
#define DC_WG CLNN_GPU_WG
#endif
#define DC_RADIX CLNN_DC_RADIX      /* digits of one radix-sort pass (4 bits) */
#define DC_ITEMS CLNN_DC_RADIX_ITEMS /* keys per work-item of the radix kernels */
#define DC_TILE CLNN_DC_TILE         /* side of a transpose tile */

/* Pixel (iy, ix) of a plane; zero outside the image, which is never read. */
float dc_gpu_pixel(__global const float *plane, const int iy, const int ix, const int H, const int W) {
  return (iy >= 0 && iy < H && ix >= 0 && ix < W) ? plane[iy * W + ix] : 0.0f;
}

/* Where sampling point (bi, t, p) of a chunk reads (dc_point_at on its planes). */
dc_point dc_gpu_point(__global const float *offset, __global const float *mask, const int modulated,
                      const int bi, const int t, const int p, const int taps, const int Wo, const int npix,
                      const int KW, const int SH, const int SW, const int PH, const int PW, const int DH,
                      const int DW) {
  const size_t plane = (size_t)bi * taps + t;
  return dc_point_at(offset + plane * 2 * npix, mask + plane * npix, modulated, npix, p, p / Wo, p % Wo, t / KW,
                     t % KW, SH, SW, PH, PW, DH, DW);
}

/*
 * deform_conv_gpu_im2col: the forward's patch matrix, one element per
 * work-item: col[ci * taps + t][q] = m * bilinear sample of channel ci
 * (torchvision's bilinear_interpolate: zero outside the open box
 * (-1, H) x (-1, W), corners outside the image zero).
 * Args: x, offset, mask at the chunk's first image; col; nq = images * npix.
 * NDRange (nq rounded up to the work-group, C * taps), local (DC_WG, 1).
 */
__kernel void deform_conv_gpu_im2col(CTENSOR(x), CTENSOR(offset), CTENSOR(mask), TENSOR(col),
                                     const int modulated, const int nq, const int C, const int DG,
                                     const int H, const int W, const int Ho, const int Wo, const int KH,
                                     const int KW, const int SH, const int SW, const int PH, const int PW,
                                     const int DH, const int DW) {
  const int q = get_global_id(0), row = get_global_id(1);
  if (q >= nq) return;
  const int npix = Ho * Wo, taps = KH * KW;
  const int img = q / npix, p = q - img * npix;
  const int ci = row / taps, t = row - ci * taps, og = ci / (C / DG);
  const dc_point pt = dc_gpu_point(AT(offset), AT(mask), modulated, img * DG + og, t, p, taps, Wo, npix, KW, SH,
                                   SW, PH, PW, DH, DW);
  float v = 0.0f;
  if (dc_reads(pt.y, pt.x, H, W)) {
    __global const float *plane = AT(x) + ((size_t)img * C + ci) * H * W;
    const float fy = floor(pt.y), fx = floor(pt.x);
    const int y0 = (int)fy, x0 = (int)fx;
    const float ly = pt.y - fy, lx = pt.x - fx, hy = 1.0f - ly, hx = 1.0f - lx;
    v = hy * hx * dc_gpu_pixel(plane, y0, x0, H, W) + hy * lx * dc_gpu_pixel(plane, y0, x0 + 1, H, W) +
        ly * hx * dc_gpu_pixel(plane, y0 + 1, x0, H, W) + ly * lx * dc_gpu_pixel(plane, y0 + 1, x0 + 1, H, W);
  }
  AT(col)[(size_t)row * nq + q] = pt.m * v; /* m * 0 keeps a NaN mask, as torchvision */
}

/*
 * deform_conv_gpu_sample: the backward's work per sampling point, one
 * (offset group, tap, column q) per work-item, over the offset group's
 * channels in order (a fixed summation order):
 *  - want_doff: doffset = m * sum of dcol * d sample / d (y, x), torchvision's
 *    coordinate weight (corner differences on the closed box
 *    [-1, H) x [-1, W), one-sided at integers);
 *  - want_dmask: dmask = sum of dcol * sample;
 *  - want_col: col = m * sample, written over dcol in place (each element
 *    is read and then written by the same work-item only), for the dw GEMM.
 * Args: x, offset, mask, doffset, dmask at the chunk's first image; dcol.
 * NDRange (nq rounded up, taps, DG), local (DC_WG, 1, 1).
 */
__kernel void deform_conv_gpu_sample(CTENSOR(x), CTENSOR(offset), CTENSOR(mask), TENSOR(dcol),
                                     TENSOR(doffset), TENSOR(dmask), const int modulated, const int want_col,
                                     const int want_doff, const int want_dmask, const int nq, const int C,
                                     const int DG, const int H, const int W, const int Ho, const int Wo,
                                     const int KH, const int KW, const int SH, const int SW, const int PH,
                                     const int PW, const int DH, const int DW) {
  const int q = get_global_id(0), t = get_global_id(1), og = get_global_id(2);
  if (q >= nq) return;
  const int npix = Ho * Wo, taps = KH * KW, Cog = C / DG;
  const int img = q / npix, p = q - img * npix, bi = img * DG + og;
  const dc_point pt =
      dc_gpu_point(AT(offset), AT(mask), modulated, bi, t, p, taps, Wo, npix, KW, SH, SW, PH, PW, DH, DW);
  /* The coordinate gradient lives on the closed box, the sample on the open one. */
  const bool closed = pt.y >= -1.0f && pt.y < (float)H && pt.x >= -1.0f && pt.x < (float)W;
  const bool open = closed && pt.y > -1.0f && pt.x > -1.0f;
  int y0 = 0, x0 = 0;
  float ly = 0.0f, lx = 0.0f;
  if (closed) {
    const float fy = floor(pt.y), fx = floor(pt.x);
    y0 = (int)fy;
    x0 = (int)fx;
    ly = pt.y - fy;
    lx = pt.x - fx;
  }
  const float hy = 1.0f - ly, hx = 1.0f - lx;
  const float4 bw = open ? (float4)(hy * hx, hy * lx, ly * hx, ly * lx) : (float4)(0.0f);
  /* Which corners lie in the image (none for a point outside the closed box). */
  const bool top = closed && y0 >= 0, bottom = closed && y0 + 1 < H;
  const bool left = x0 >= 0, right = x0 + 1 < W;
  const bool in00 = top && left, in01 = top && right, in10 = bottom && left, in11 = bottom && right;
  const int at00 = y0 * W + x0;
  const bool want_dsample = want_doff || want_dmask;
  float gy = 0.0f, gx = 0.0f, gm = 0.0f;
  __global const float *X = AT(x) + (size_t)img * C * H * W;
  __global float *D = AT(dcol) + q;
  for (int c = og * Cog; c < (og + 1) * Cog; c++) {
    __global const float *plane = X + (size_t)c * H * W;
    const float v00 = in00 ? plane[at00] : 0.0f, v01 = in01 ? plane[at00 + 1] : 0.0f;
    const float v10 = in10 ? plane[at00 + W] : 0.0f, v11 = in11 ? plane[at00 + W + 1] : 0.0f;
    const float bil = bw.s0 * v00 + bw.s1 * v01 + bw.s2 * v10 + bw.s3 * v11;
    __global float *elem = D + ((size_t)c * taps + t) * nq;
    if (want_dsample) {
      const float d = *elem;
      gm += d * bil;
      gy += d * (lx * (v11 - v01) + hx * (v10 - v00));
      gx += d * (ly * (v11 - v10) + hy * (v01 - v00));
    }
    if (want_col) *elem = pt.m * bil;
  }
  const size_t plane = (size_t)bi * taps + t;
  if (want_doff) {
    __global float *dof = AT(doffset) + plane * 2 * npix + p;
    dof[0] = pt.m * gy;
    dof[npix] = pt.m * gx;
  }
  if (want_dmask) AT(dmask)[plane * npix + p] = gm;
}

/*
 * dx as a gather, GPU-shaped. The sampling points of a chunk that read the
 * image are sorted by key bi * ncells + cell (cell = (floor(y) + 1) *
 * (W + 1) + floor(x) + 1 of a (H + 1) x (W + 1) grid, as the CPU path's
 * buckets) with a stable LSD radix sort (4 bits a pass: histogram per
 * block, one scan, scatter by local ranks; no atomics), points that read
 * nothing keyed nkeys, after every cell. Stability keeps the points of a
 * cell in (tap, pixel) order, the CPU path's order. Then every input pixel
 * sums the points of the four cells around it, in a fixed order.
 */

/* The bucket key of sampling point s (or nkeys when it reads nothing); vals = s.
 * NDRange (npts rounded up), local (DC_WG). */
__kernel void deform_conv_gpu_keys(CTENSOR(offset), ITENSOR(keys), ITENSOR(vals), const int npts, const int nkeys,
                                   const int DG, const int H, const int W, const int Ho, const int Wo, const int KH,
                                   const int KW, const int SH, const int SW, const int PH, const int PW, const int DH,
                                   const int DW) {
  const int s = get_global_id(0);
  if (s >= npts) return;
  const int npix = Ho * Wo, taps = KH * KW;
  const int r = s / npix, p = s - r * npix, bi = r / taps, t = r - bi * taps;
  const dc_point pt = dc_gpu_point(AT(offset), AT(offset), 0, bi, t, p, taps, Wo, npix, KW, SH, SW, PH, PW, DH, DW);
  int key = nkeys;
  if (dc_reads(pt.y, pt.x, H, W))
    key = bi * (H + 1) * (W + 1) + ((int)floor(pt.y) + 1) * (W + 1) + (int)floor(pt.x) + 1;
  AT(keys)[s] = key;
  AT(vals)[s] = s;
}

/* The radix digit of a key, or DC_RADIX for an index past the end. */
int dc_gpu_digit(__global const int *keys, const int i, const int n, const int shift) {
  return i < n ? (keys[i] >> shift) & (DC_RADIX - 1) : DC_RADIX;
}

/*
 * deform_conv_gpu_radix_hist: hist[d * nblocks + block] = keys of the block
 * (DC_WG * DC_ITEMS consecutive keys) with digit d. Counts per work-item in
 * a local column each, then a tree sum per digit.
 * NDRange (nblocks * DC_WG), local (DC_WG).
 */
__kernel __attribute__((reqd_work_group_size(DC_WG, 1, 1))) void deform_conv_gpu_radix_hist(
    CITENSOR(keys), ITENSOR(hist), const int n, const int shift, const int nblocks) {
  __local int counts[DC_RADIX * DC_WG];
  const int lid = get_local_id(0), block = get_group_id(0);
  const int first = (block * DC_WG + lid) * DC_ITEMS;
  for (int d = 0; d < DC_RADIX; d++) counts[d * DC_WG + lid] = 0;
  for (int j = 0; j < DC_ITEMS; j++) {
    const int d = dc_gpu_digit(AT(keys), first + j, n, shift);
    if (d < DC_RADIX) counts[d * DC_WG + lid]++;
  }
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int span = DC_WG / 2; span > 0; span >>= 1) {
    if (lid < span)
      for (int d = 0; d < DC_RADIX; d++) counts[d * DC_WG + lid] += counts[d * DC_WG + lid + span];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid < DC_RADIX) AT(hist)[lid * nblocks + block] = counts[lid * DC_WG];
}

/*
 * deform_conv_gpu_radix_scan: exclusive scan of hist[0 .. m) in place, by one
 * work-group (m = DC_RADIX * blocks is small): each work-item sums a run,
 * the run sums are scanned in local memory, each run is rewritten.
 * NDRange (DC_WG), local (DC_WG).
 */
__kernel __attribute__((reqd_work_group_size(DC_WG, 1, 1))) void deform_conv_gpu_radix_scan(ITENSOR(hist),
                                                                                            const int m) {
  __local int runs[DC_WG];
  const int lid = get_local_id(0), per = (m + DC_WG - 1) / DC_WG;
  const int lo = min(lid * per, m), hi = min(lo + per, m);
  __global int *h = AT(hist);
  int sum = 0;
  for (int i = lo; i < hi; i++) sum += h[i];
  runs[lid] = sum;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int step = 1; step < DC_WG; step <<= 1) { /* inclusive scan (Hillis-Steele) */
    const int add = lid >= step ? runs[lid - step] : 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    runs[lid] += add;
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  int at = runs[lid] - sum;
  for (int i = lo; i < hi; i++) {
    const int c = h[i];
    h[i] = at;
    at += c;
  }
}

/*
 * deform_conv_gpu_radix_scatter: one stable pass. A key goes to
 * hist[digit][block] (the scanned start of its digit's run from this block)
 * + the block's keys of that digit before it: those of earlier work-items
 * (an inclusive scan along the work-items, per digit, in local memory)
 * and this work-item's earlier ones.
 * NDRange (nblocks * DC_WG), local (DC_WG).
 */
__kernel __attribute__((reqd_work_group_size(DC_WG, 1, 1))) void deform_conv_gpu_radix_scatter(
    CITENSOR(keys_in), CITENSOR(vals_in), ITENSOR(keys_out), ITENSOR(vals_out), CITENSOR(hist), const int n,
    const int shift, const int nblocks) {
  __local int counts[DC_RADIX * DC_WG];
  const int lid = get_local_id(0), block = get_group_id(0);
  const int first = (block * DC_WG + lid) * DC_ITEMS;
  int digit[DC_ITEMS];
#pragma unroll
  for (int j = 0; j < DC_ITEMS; j++) digit[j] = dc_gpu_digit(AT(keys_in), first + j, n, shift);
  for (int d = 0; d < DC_RADIX; d++) counts[d * DC_WG + lid] = 0;
#pragma unroll
  for (int j = 0; j < DC_ITEMS; j++)
    if (digit[j] < DC_RADIX) counts[digit[j] * DC_WG + lid]++;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int step = 1; step < DC_WG; step <<= 1) {
    int add[DC_RADIX];
#pragma unroll
    for (int d = 0; d < DC_RADIX; d++) add[d] = lid >= step ? counts[d * DC_WG + lid - step] : 0;
    barrier(CLK_LOCAL_MEM_FENCE);
#pragma unroll
    for (int d = 0; d < DC_RADIX; d++) counts[d * DC_WG + lid] += add[d];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
#pragma unroll
  for (int j = 0; j < DC_ITEMS; j++) {
    if (digit[j] == DC_RADIX) continue;
    int mine = 0, before = 0; /* this work-item's keys of the digit: all, and before key j */
#pragma unroll
    for (int i = 0; i < DC_ITEMS; i++) {
      const bool same = digit[i] == digit[j];
      mine += same;
      before += same && i < j;
    }
    const int pos = AT(hist)[digit[j] * nblocks + block] + counts[digit[j] * DC_WG + lid] - mine + before;
    AT(keys_out)[pos] = AT(keys_in)[first + j];
    AT(vals_out)[pos] = AT(vals_in)[first + j];
  }
}

/* start[k] = the first sorted position whose key is >= k, for k <= nkeys (a
 * binary search). NDRange (nkeys + 1 rounded up), local (DC_WG). */
__kernel void deform_conv_gpu_cell_start(CITENSOR(keys), ITENSOR(start), const int n, const int nkeys) {
  const int k = get_global_id(0);
  if (k > nkeys) return;
  __global const int *keys = AT(keys);
  int lo = 0, hi = n;
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (keys[mid] < k)
      lo = mid + 1;
    else
      hi = mid;
  }
  AT(start)[k] = lo;
}

/* For every sorted point that reads the image: where its samples start in
 * dcol (stq = t * nq + q; channel ci adds ci * taps * nq) and its corner
 * weights times the mask (sw, as the CPU path's buckets).
 * NDRange (npts rounded up), local (DC_WG). */
__kernel void deform_conv_gpu_bucket_weights(CITENSOR(keys), CITENSOR(vals), CTENSOR(offset), CTENSOR(mask),
                                             ITENSOR(stq), TENSOR(sw), const int modulated, const int npts,
                                             const int nkeys, const int nq, const int DG, const int H,
                                             const int W, const int Ho, const int Wo, const int KH, const int KW,
                                             const int SH, const int SW, const int PH, const int PW, const int DH,
                                             const int DW) {
  const int i = get_global_id(0);
  if (i >= npts || AT(keys)[i] == nkeys) return;
  const int npix = Ho * Wo, taps = KH * KW, s = AT(vals)[i];
  const int r = s / npix, p = s - r * npix, bi = r / taps, t = r - bi * taps;
  const dc_point pt =
      dc_gpu_point(AT(offset), AT(mask), modulated, bi, t, p, taps, Wo, npix, KW, SH, SW, PH, PW, DH, DW);
  const float fy = floor(pt.y), fx = floor(pt.x);
  const float ly = pt.y - fy, lx = pt.x - fx, hy = 1.0f - ly, hx = 1.0f - lx;
  AT(stq)[i] = t * nq + (bi / DG) * npix + p;
  vstore4((float4)(hy * hx, hy * lx, ly * hx, ly * lx) * pt.m, i, AT(sw));
}

/* The points of cell range [start[a], start[a + 1]) seen from the pixel that is their corner `corner`. */
#define DC_GPU_GATHER(a, corner)                                     \
  {                                                                 \
    const int end = cs[(a) + 1];                                    \
    for (int k = cs[(a)]; k < end; k++) {                           \
      const float wk = AT(sw)[4 * k + (corner)];                    \
      __global const float *src = D + AT(stq)[k];                   \
      acc0 += wk * src[0];                                          \
      if (nc > 1) acc1 += wk * src[cstride];                        \
      if (nc > 2) acc2 += wk * src[2 * cstride];                    \
      if (nc > 3) acc3 += wk * src[3 * cstride];                    \
    }                                                               \
  }

/*
 * deform_conv_gpu_dx_gather: dx[img][c0 .. c0 + nc)[iy][ix], one input pixel
 * and nc (1, 2 or 4, within one offset group) channels per work-item,
 * neighbouring work-items on neighbouring pixels (coalesced writes; their
 * cells, hence their points, are neighbours in the sorted lists). Cell
 * (iy, ix) holds points whose bottom-right corner is the pixel, (iy, ix + 1)
 * bottom-left, (iy + 1, ix) top-right, (iy + 1, ix + 1) top-left; summed in
 * that order, each in sorted order.
 * NDRange (H * W rounded up, C / nc, images), local (DC_WG, 1, 1).
 */
__kernel void deform_conv_gpu_dx_gather(CITENSOR(start), CITENSOR(stq), CTENSOR(sw), CTENSOR(dcol), TENSOR(dx),
                                        const int nc, const int nq, const int C, const int DG, const int H,
                                        const int W, const int taps) {
  const int pix = get_global_id(0), c0 = get_global_id(1) * nc, img = get_global_id(2);
  if (pix >= H * W) return;
  const int iy = pix / W, ix = pix - iy * W;
  const int bi = img * DG + c0 / (C / DG);
  const size_t cstride = (size_t)taps * nq;
  __global const int *cs = AT(start) + (size_t)bi * (H + 1) * (W + 1);
  __global const float *D = AT(dcol) + (size_t)c0 * cstride;
  float acc0 = 0.0f, acc1 = 0.0f, acc2 = 0.0f, acc3 = 0.0f;
  const int above = iy * (W + 1) + ix, here = above + W + 1;
  DC_GPU_GATHER(above, 3);
  DC_GPU_GATHER(above + 1, 2);
  DC_GPU_GATHER(here, 1);
  DC_GPU_GATHER(here + 1, 0);
  __global float *out = AT(dx) + ((size_t)img * C + c0) * H * W + pix;
  const size_t plane = (size_t)H * W;
  out[0] = acc0;
  if (nc > 1) out[plane] = acc1;
  if (nc > 2) out[2 * plane] = acc2;
  if (nc > 3) out[3 * plane] = acc3;
}

/*
 * deform_conv_gpu_transpose_dy: dyt[q][k] = dy[img][k][p] for the chunk
 * (q = img * npix + p), the dw GEMM's B operand, through a local tile
 * (reads along p, writes along k; the row padding avoids bank conflicts).
 * NDRange (npix rounded up to 32, ceil(K / 32) * rows, images), local (32, rows, 1) with
 * rows = DC_WG / 32.
 */
__kernel __attribute__((reqd_work_group_size(DC_TILE, DC_WG / DC_TILE, 1))) void deform_conv_gpu_transpose_dy(
    CTENSOR(dy), TENSOR(dyt), const int K, const int npix) {
  __local float tile[DC_TILE][DC_TILE + 1];
  const int lx = get_local_id(0), ly = get_local_id(1), rows = DC_WG / DC_TILE;
  const int p0 = get_group_id(0) * DC_TILE, k0 = get_group_id(1) * DC_TILE, img = get_global_id(2);
  __global const float *src = AT(dy) + (size_t)img * K * npix;
  for (int i = ly; i < DC_TILE; i += rows) {
    const int k = k0 + i, p = p0 + lx;
    tile[i][lx] = (k < K && p < npix) ? src[(size_t)k * npix + p] : 0.0f;
  }
  barrier(CLK_LOCAL_MEM_FENCE);
  __global float *dst = AT(dyt) + (size_t)img * npix * K;
  for (int i = ly; i < DC_TILE; i += rows) {
    const int p = p0 + i, k = k0 + lx;
    if (p < npix && k < K) dst[(size_t)p * K + k] = tile[lx][i];
  }
}

/* dw[g * Kg + k][r] = dwt[g][r][k] (the dw GEMM computes dw transposed).
 * NDRange (K * Kd rounded up), local (DC_WG). */
__kernel void deform_conv_gpu_untranspose_dw(CTENSOR(dwt), TENSOR(dw), const int K, const int G, const int Kd) {
  const int i = get_global_id(0);
  if (i >= K * Kd) return;
  const int Kg = K / G, ko = i / Kd, r = i - ko * Kd, g = ko / Kg, k = ko - g * Kg;
  AT(dw)[i] = AT(dwt)[((size_t)g * Kd + r) * Kg + k];
}

/*
 * deform_conv_gpu_db_partial: part[k * slices + s] = sum of dy[.][k][.] over
 * slice s of the n * npix elements of channel k: strided sums per
 * work-item, then a tree in local memory (a fixed order). With one slice
 * part is db itself.
 * NDRange (slices * DC_WG, K), local (DC_WG, 1).
 */
__kernel __attribute__((reqd_work_group_size(DC_WG, 1, 1))) void deform_conv_gpu_db_partial(
    CTENSOR(dy), TENSOR(part), const int N, const int K, const int npix, const int slices, const int slice_len) {
  __local float sums[DC_WG];
  const int lid = get_local_id(0), s = get_group_id(0), k = get_group_id(1);
  const int total = N * npix, lo = min(s * slice_len, total), hi = min(lo + slice_len, total);
  float acc = 0.0f;
  for (int e = lo + lid; e < hi; e += DC_WG) {
    const int img = e / npix, p = e - img * npix;
    acc += AT(dy)[((size_t)img * K + k) * npix + p];
  }
  sums[lid] = acc;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int span = DC_WG / 2; span > 0; span >>= 1) {
    if (lid < span) sums[lid] += sums[lid + span];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (lid == 0) AT(part)[(size_t)k * slices + s] = sums[0];
}

/* db[k] = the slices' partial sums in order. NDRange (K rounded up), local (DC_WG). */
__kernel void deform_conv_gpu_db_final(CTENSOR(part), TENSOR(db), const int K, const int slices) {
  const int k = get_global_id(0);
  if (k >= K) return;
  float total = 0.0f;
  for (int s = 0; s < slices; s++) total += AT(part)[(size_t)k * slices + s];
  AT(db)[k] = total;
}

/* ======================= layouts, small GEMMs, the CLBlast path on CPUs */
#else

/*
 * deform_conv_to_nhwc: copy images of x (NCHW) into the zero-bordered
 * channel-last planes xt described at the top of this file.
 * NDRange (Hp, ceil(C / 16), images), local (1, 1, 1). Each work-item writes
 * a padded row for 16 channels (16 read streams, contiguous writes).
 * x is of the program's type (-DDT; the fused forward's half x is widened here).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_to_nhwc(
    CTENSOR_DT(x), TENSOR(xt), const int C, const int H, const int W) {
  const int r = get_global_id(0), c0 = get_global_id(1) * 16, img = get_global_id(2);
  const int Hp = H + 3, Wp = W + 2, iy = r - 1;
  if (r >= Hp || c0 >= C) return;
  const int nc = min(16, C - c0);
  __global float *out = AT(xt) + ((size_t)img * Hp + r) * Wp * C + c0;
  __global const STORE_T *in = AT(x) + ((size_t)img * C + c0) * H * W + (size_t)iy * W;
  const bool row_in = iy >= 0 && iy < H;
  for (int col = 0; col < Wp; col++) {
    const int ix = col - 1;
    const bool in_img = row_in && ix >= 0 && ix < W;
    for (int c = 0; c < nc; c++) out[(size_t)col * C + c] = in_img ? LOAD1(in, (size_t)c * H * W + ix) : 0.0f;
  }
}

/*
 * deform_conv_pack_w: weights (K, Cg, KH, KW) into the forward kernel's
 * B panels [G][ceil(Kg/32)][Kd][32], row k' = t * Cg + c, column n = output
 * channel g * Kg + nt * 32 + n (zero past Kg). w of the program's type (-DDT).
 * NDRange (Kd, ceil(Kg/32), G), local (1, 1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_pack_w(
    CTENSOR_DT(w), TENSOR(wp), const int K, const int G, const int Cg, const int taps) {
  const int kp = get_global_id(0), nt = get_global_id(1), g = get_global_id(2);
  const int Kd = Cg * taps, Kg = K / G, ntiles = (Kg + 31) / 32;
  if (kp >= Kd) return;
  const int t = kp / Cg, c = kp % Cg;
  __global float *out = AT(wp) + (((size_t)g * ntiles + nt) * Kd + kp) * 32;
  for (int j = 0; j < 32; j++) {
    const int n = nt * 32 + j;
    out[j] = n < Kg ? LOAD1(AT(w), ((size_t)(g * Kg + n) * Cg + c) * taps + t) : 0.0f;
  }
}

/*
 * deform_conv_permute_w: W'[ko][t * Cg + c] = w[ko][c][t] (row-major K x Kd),
 * the backward GEMMs' weight matrix in K' order. NDRange (Kd, K), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_permute_w(
    CTENSOR(w), TENSOR(wperm), const int Cg, const int taps) {
  const int kp = get_global_id(0), ko = get_global_id(1), Kd = Cg * taps;
  if (kp >= Kd) return;
  const int t = kp / Cg, c = kp % Cg;
  AT(wperm)[(size_t)ko * Kd + kp] = AT(w)[((size_t)ko * Cg + c) * taps + t];
}

/*
 * deform_conv_unpermute_dw: dw[ko][c][t] = dW'[ko][t * Cg + c], the inverse
 * of deform_conv_permute_w. NDRange (Kd, K), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_unpermute_dw(
    CTENSOR(dwperm), TENSOR(dw), const int Cg, const int taps) {
  const int r = get_global_id(0), ko = get_global_id(1), Kd = Cg * taps;
  if (r >= Kd) return;
  const int c = r / taps, t = r % taps;
  AT(dw)[(size_t)ko * Kd + r] = AT(dwperm)[(size_t)ko * Kd + t * Cg + c];
}

/*
 * deform_conv_im2col: the deformable patch matrix of a chunk of images for
 * the GEMM path (GPUs): col[img][ci * taps + t][p] = m * sample, read from x
 * (NCHW) with per-corner bounds checks, torchvision's row order (the weights
 * are used as they are). One element per work-item.
 * NDRange (npix, C * taps, images), any local size.
 */
__kernel void deform_conv_im2col(CTENSOR(x), CTENSOR(offset), CTENSOR(mask), TENSOR(col),
                                 const int modulated, const int C, const int DG, const int H,
                                 const int W, const int Ho, const int Wo, const int KH,
                                 const int KW, const int SH, const int SW, const int PH,
                                 const int PW, const int DH, const int DW) {
  const int npix = Ho * Wo, taps = KH * KW;
  const int p = get_global_id(0), row = get_global_id(1), img = get_global_id(2);
  if (p >= npix || row >= C * taps) return;
  const int ci = row / taps, t = row % taps, og = ci / (C / DG);
  const dc_point pt =
      dc_point_at(AT(offset) + ((size_t)(img * DG + og) * taps + t) * 2 * npix,
                  AT(mask) + ((size_t)(img * DG + og) * taps + t) * npix, modulated, npix, p,
                  p / Wo, p % Wo, t / KW, t % KW, SH, SW, PH, PW, DH, DW);
  float v = 0.0f;
  if (dc_reads(pt.y, pt.x, H, W)) {
    __global const float *plane = AT(x) + ((size_t)img * C + ci) * H * W;
    const float fy = floor(pt.y), fx = floor(pt.x);
    const int y0 = (int)fy, x0 = (int)fx;
    const float ly = pt.y - fy, lx = pt.x - fx;
    const float v00 = (y0 >= 0 && x0 >= 0) ? plane[y0 * W + x0] : 0.0f;
    const float v01 = (y0 >= 0 && x0 + 1 < W) ? plane[y0 * W + x0 + 1] : 0.0f;
    const float v10 = (y0 + 1 < H && x0 >= 0) ? plane[(y0 + 1) * W + x0] : 0.0f;
    const float v11 = (y0 + 1 < H && x0 + 1 < W) ? plane[(y0 + 1) * W + x0 + 1] : 0.0f;
    v = (1.0f - ly) * (1.0f - lx) * v00 + (1.0f - ly) * lx * v01 + ly * (1.0f - lx) * v10 + ly * lx * v11;
  }
  AT(col)[((size_t)img * C * taps + row) * npix + p] = pt.m * v;
}

/*
 * deform_conv_dcol: the backward's first GEMM on CPU devices, for one band of
 * output pixels: dcolT[img][t][p][g*Cg + c] = sum over k < Kg of
 * dy[img][g*Kg + k][p] * W'[g*Kg + k][t*Cg + c]. The depth Kg is small (often
 * 64), so one 8 x 32 tile is too little work for a work-group of its own
 * (PoCL's per-work-group cost dominated: 68 GFLOP/s through gemm_tile8x32);
 * here one work-item takes 8 pixels and every 32-channel tile of every tap,
 * the 8 x Kg slice of dy staying in L1 across the tiles.
 * Args: dy (at the chunk's first image), W' (K x Kd), dcol; npix (pixels per
 * image), p0 / nband (the band's first pixel and pixel count), dcol_pix /
 * dcol_p0 (pixels per tap plane of dcolT, pixel of its first row).
 * NDRange (ceil(nband / 8), G, images), local (1, 1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_dcol(
    CTENSOR(dy), CTENSOR(wperm), TENSOR(dcol), const int K, const int G, const int C, const int taps,
    const int npix, const int p0, const int nband, const int dcol_pix, const int dcol_p0) {
  const int m0 = get_global_id(0) * 8, g = get_global_id(1), img = get_global_id(2);
  if (m0 >= nband) return;
  const int Kg = K / G, Cg = C / G, Kd = taps * Cg;
  __global const float *A = AT(dy) + ((size_t)img * K + (size_t)g * Kg) * npix + p0 + m0;
  __global const float *B = AT(wperm) + (size_t)g * Kg * Kd;
  __global float *out = AT(dcol) + (size_t)img * taps * dcol_pix * C + (size_t)(p0 + m0 - dcol_p0) * C + g * Cg;
  const int mvalid = min(8, nband - m0);
  for (int t = 0; t < taps; t++) {
    for (int n0 = 0; n0 < Cg; n0 += 32) {
      const int nvalid = min(32, Cg - n0);
      __global const float *Bt = B + t * Cg + n0;
      float16 acc0[8], acc1[8];
      for (int i = 0; i < 8; i++) acc0[i] = acc1[i] = (float16)(0.0f);
      for (int k = 0; k < Kg; k++) {
        float8 a8;
        if (mvalid == 8) {
          a8 = vload8(0, A + (size_t)k * npix);
        } else {
          float t8[8];
          for (int i = 0; i < 8; i++) t8[i] = A[(size_t)k * npix + min(i, mvalid - 1)];
          a8 = vload8(0, t8);
        }
        float16 b0, b1;
        if (nvalid == 32) {
          b0 = vload16(0, Bt + (size_t)k * Kd);
          b1 = vload16(1, Bt + (size_t)k * Kd);
        } else {
          float row[32];
          for (int j = 0; j < 32; j++) row[j] = j < nvalid ? Bt[(size_t)k * Kd + j] : 0.0f;
          b0 = vload16(0, row);
          b1 = vload16(1, row);
        }
        acc0[0] = fma((float16)(a8.s0), b0, acc0[0]); acc1[0] = fma((float16)(a8.s0), b1, acc1[0]);
        acc0[1] = fma((float16)(a8.s1), b0, acc0[1]); acc1[1] = fma((float16)(a8.s1), b1, acc1[1]);
        acc0[2] = fma((float16)(a8.s2), b0, acc0[2]); acc1[2] = fma((float16)(a8.s2), b1, acc1[2]);
        acc0[3] = fma((float16)(a8.s3), b0, acc0[3]); acc1[3] = fma((float16)(a8.s3), b1, acc1[3]);
        acc0[4] = fma((float16)(a8.s4), b0, acc0[4]); acc1[4] = fma((float16)(a8.s4), b1, acc1[4]);
        acc0[5] = fma((float16)(a8.s5), b0, acc0[5]); acc1[5] = fma((float16)(a8.s5), b1, acc1[5]);
        acc0[6] = fma((float16)(a8.s6), b0, acc0[6]); acc1[6] = fma((float16)(a8.s6), b1, acc1[6]);
        acc0[7] = fma((float16)(a8.s7), b0, acc0[7]); acc1[7] = fma((float16)(a8.s7), b1, acc1[7]);
      }
      __global float *tap_out = out + (size_t)t * dcol_pix * C + n0;
      for (int i = 0; i < mvalid; i++) {
        __global float *crow = tap_out + (size_t)i * C;
        if (nvalid == 32) {
          vstore16(acc0[i], 0, crow);
          vstore16(acc1[i], 1, crow);
        } else {
          float row[32];
          vstore16(acc0[i], 0, row);
          vstore16(acc1[i], 1, row);
          for (int j = 0; j < nvalid; j++) crow[j] = row[j];
        }
      }
    }
  }
}

/*
 * deform_conv_bucket_scan: exclusive scan of cnt over (cell, tap), in place,
 * and cell_start[bi][0 .. ncells] (the last entry: the point count).
 * NDRange (images * DG), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_bucket_scan(
    ITENSOR(cnt), ITENSOR(cell_start), const int taps, const int ncells) {
  const int bi = get_global_id(0);
  __global int *cn = AT(cnt) + (size_t)bi * taps * ncells;
  __global int *cs = AT(cell_start) + (size_t)bi * (ncells + 1);
  int run = 0;
  for (int cell = 0; cell < ncells; cell++) {
    cs[cell] = run;
    for (int t = 0; t < taps; t++) {
      const int n = cn[(size_t)t * ncells + cell];
      cn[(size_t)t * ncells + cell] = run;
      run += n;
    }
  }
  cs[ncells] = run;
}

/*
 * deform_conv_db: db[k] = sum over images and pixels of dy[n][k][p], in a
 * fixed order (16 lanes along the pixels, then a pairwise lane sum per image).
 * NDRange (K), local (1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deform_conv_db(
    CTENSOR(dy), TENSOR(db), const int N, const int K, const int npix) {
  const int k = get_global_id(0);
  if (k >= K) return;
  float total = 0.0f;
  for (int n = 0; n < N; n++) {
    __global const float *row = AT(dy) + ((size_t)n * K + k) * npix;
    float16 acc = (float16)(0.0f);
    int p = 0;
    for (; p + 16 <= npix; p += 16) acc += vload16(0, row + p);
    float tail = 0.0f;
    for (; p < npix; p++) tail += row[p];
    total += dc_sum16(acc) + tail;
  }
  AT(db)[k] = total;
}

#endif
