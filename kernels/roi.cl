/*
 * roi.cl - RoI pooling kernels (torchvision.ops semantics): RoI align, RoI
 * pool and the position-sensitive (PS) variants, forward and backward.
 *
 * Layouts: x, dx (N, C, H, W); rois (K, 5) rows [batch, x1, y1, x2, y2];
 * y, dy (K, OC, PH, PW); argmax (K, C, PH, PW) int, a pixel index h*W + w.
 * Panels (RoI align and RoI pool): per image and block of 16 channels, the
 * H*W pixels as float16 of 16 consecutive channels (lanes past C are 0), so
 * one bilinear sample or max step serves 16 channels with vector loads. A
 * chunk's panels are stored [image - n0][block - cb0][H*W][16].
 * RoI index idx: idx[0..N] offsets and idx[N+1 ..] RoI numbers sorted by
 * image, ascending within an image: image n owns order[idx[n] .. idx[n+1]).
 * Backward kernels walk that list, which fixes each dx element's summation
 * order: same inputs, same bits, no atomics.
 *
 * Geometry (box scaling, rounding, bin edges, sample positions and counts)
 * follows torchvision's CPU kernels in float32 operation by operation, with
 * contraction off so no FMA changes a rounding: the same cells and samples
 * are chosen. All kernels run work-groups of one work-item (docs/DESIGN.md, "Kernels on CPU devices").
 *
 * Types: x, y, dy and dx are in the storage type DT (float32, float16 or
 * bfloat16; -DDT, kernels/common.h), loaded with LOAD1 and stored with
 * STORE1/STORE16; rois and the panels are float32, argmax int. Every sum,
 * maximum and weight is float32 and an output is rounded once, on its
 * store. Four CPU kernels add into their output in place (roi_pool_bwd,
 * roi_ps_fwd, roi_ps_pool_bwd / roi_ps_align_bwd): a half type would round
 * at every add, so they keep float32 tensors and the host's variant table
 * (ops/roi.c) picks them for float32 only.
 */
#pragma OPENCL FP_CONTRACT OFF

#define ROI_FLT_MAX 3.402823466e+38f

/* --------------------------------------------------------------- geometry */

typedef struct roi_align_geom {
  float start_h, start_w; /* top-left corner in feature pixels */
  float bin_h, bin_w;     /* bin size */
  int grid_h, grid_w;     /* bilinear samples per bin side */
  float count;            /* samples per bin, at least 1 */
} roi_align_geom;

/* offset: 0.5 for the half-pixel shift; min1: box at least 1x1 (RoI align
 * without aligned); SR > 0 fixed samples per side, else ceil(bin size). */
roi_align_geom roi_align_geometry(__global const float *roi, float scale, float offset, int min1, int PH,
                                  int PW, int SR) {
  roi_align_geom g;
  g.start_w = roi[1] * scale - offset;
  g.start_h = roi[2] * scale - offset;
  const float end_w = roi[3] * scale - offset, end_h = roi[4] * scale - offset;
  float rw = end_w - g.start_w, rh = end_h - g.start_h;
  if (min1) {
    rw = fmax(rw, 1.0f);
    rh = fmax(rh, 1.0f);
  }
  g.bin_h = rh / (float)PH;
  g.bin_w = rw / (float)PW;
  g.grid_h = SR > 0 ? SR : (int)ceil(rh / (float)PH);
  g.grid_w = SR > 0 ? SR : (int)ceil(rw / (float)PW);
  g.count = fmax((float)g.grid_h * (float)g.grid_w, 1.0f);
  return g;
}

/* Sample (iy, ix) of bin (ph, pw), in torchvision's operation order. */
float roi_sample_y(const roi_align_geom *g, int ph, int iy) {
  return g->start_h + (float)ph * g->bin_h + ((float)iy + 0.5f) * g->bin_h / (float)g->grid_h;
}
float roi_sample_x(const roi_align_geom *g, int pw, int ix) {
  return g->start_w + (float)pw * g->bin_w + ((float)ix + 0.5f) * g->bin_w / (float)g->grid_w;
}

/* Bilinear corners (plane offsets) and weights of a sample at (y, x); false
 * when it lies outside [-1, H] x [-1, W] and contributes nothing. */
bool roi_bilinear(float y, float x, int H, int W, int4 *off, float4 *wt) {
  if (y < -1.0f || y > (float)H || x < -1.0f || x > (float)W) return false;
  if (y <= 0.0f) y = 0.0f;
  if (x <= 0.0f) x = 0.0f;
  int yl = (int)y, xl = (int)x, yh, xh;
  if (yl >= H - 1) {
    yh = yl = H - 1;
    y = (float)yl;
  } else {
    yh = yl + 1;
  }
  if (xl >= W - 1) {
    xh = xl = W - 1;
    x = (float)xl;
  } else {
    xh = xl + 1;
  }
  const float ly = y - (float)yl, lx = x - (float)xl, hy = 1.0f - ly, hx = 1.0f - lx;
  *off = (int4)(yl * W + xl, yl * W + xh, yh * W + xl, yh * W + xh);
  *wt = (float4)(hy * hx, hy * lx, ly * hx, ly * lx);
  return true;
}

typedef struct roi_pool_geom {
  int start_h, start_w; /* rounded box corner */
  float bin_h, bin_w;
} roi_pool_geom;

/* plus1: RoI pool counts both end pixels (width x2 - x1 + 1), PS pool not. */
roi_pool_geom roi_pool_geometry(__global const float *roi, float scale, int plus1, int PH, int PW) {
  roi_pool_geom g;
  g.start_w = (int)round(roi[1] * scale);
  g.start_h = (int)round(roi[2] * scale);
  const int end_w = (int)round(roi[3] * scale), end_h = (int)round(roi[4] * scale);
  const int rw = max(end_w - g.start_w + plus1, 1), rh = max(end_h - g.start_h + plus1, 1);
  g.bin_h = (float)rh / (float)PH;
  g.bin_w = (float)rw / (float)PW;
  return g;
}

/* Rows [s0, s1) and columns [s2, s3) of bin (ph, pw), clipped to [0, lim_h]
 * x [0, lim_w] (H, W for RoI pool; H - 1, W - 1 for PS pool, as torchvision). */
int4 roi_pool_bin(const roi_pool_geom *g, int ph, int pw, int lim_h, int lim_w) {
  int h0 = (int)floor((float)ph * g->bin_h), w0 = (int)floor((float)pw * g->bin_w);
  int h1 = (int)ceil((float)(ph + 1) * g->bin_h), w1 = (int)ceil((float)(pw + 1) * g->bin_w);
  h0 = min(max(h0 + g->start_h, 0), lim_h);
  h1 = min(max(h1 + g->start_h, 0), lim_h);
  w0 = min(max(w0 + g->start_w, 0), lim_w);
  w1 = min(max(w1 + g->start_w, 0), lim_w);
  return (int4)(h0, h1, w0, w1);
}

/* Gather 16 elements p[0], p[s], ..., p[15 s] of DT (16 channel planes) as floats. */
#define ROI_GATHER16(p, s)                                                                                 \
  (float16)(LOAD1(p, 0), LOAD1(p, (s)), LOAD1(p, 2 * (s)), LOAD1(p, 3 * (s)), LOAD1(p, 4 * (s)),          \
            LOAD1(p, 5 * (s)), LOAD1(p, 6 * (s)), LOAD1(p, 7 * (s)), LOAD1(p, 8 * (s)), LOAD1(p, 9 * (s)), \
            LOAD1(p, 10 * (s)), LOAD1(p, 11 * (s)), LOAD1(p, 12 * (s)), LOAD1(p, 13 * (s)),               \
            LOAD1(p, 14 * (s)), LOAD1(p, 15 * (s)))

/* Store the 16 lanes of v (T16, scalar type T) to p[0], p[s], ..., p[15 s]
 * when nc == 16, or the first nc of them. Lane by lane with constant
 * indices: a vector store followed by scalar reloads would stall on store
 * forwarding. */
#define ROI_SCATTER16(T, p, s, v, nc)                                                                 \
  do {                                                                                               \
    if ((nc) == 16) {                                                                                \
      (p)[0] = (v).s0, (p)[(s)] = (v).s1, (p)[2 * (s)] = (v).s2, (p)[3 * (s)] = (v).s3;               \
      (p)[4 * (s)] = (v).s4, (p)[5 * (s)] = (v).s5, (p)[6 * (s)] = (v).s6, (p)[7 * (s)] = (v).s7;     \
      (p)[8 * (s)] = (v).s8, (p)[9 * (s)] = (v).s9, (p)[10 * (s)] = (v).sa, (p)[11 * (s)] = (v).sb;   \
      (p)[12 * (s)] = (v).sc, (p)[13 * (s)] = (v).sd, (p)[14 * (s)] = (v).se, (p)[15 * (s)] = (v).sf; \
    } else {                                                                                         \
      T tail_[16];                                                                                   \
      vstore16((v), 0, tail_);                                                                       \
      for (int l_ = 0; l_ < (nc); l_++) (p)[l_ * (s)] = tail_[l_];                                   \
    }                                                                                                \
  } while (0)

/* p[0], p[s], ..., p[(nc-1) s] (DT) as a float16, zeros past nc (nc may be <= 0). */
float16 roi_gather16(__global const STORE_T *p, int s, int nc) {
  if (nc >= 16) return ROI_GATHER16(p, s);
  float part[16]; /* the partial last block only */
  for (int l = 0; l < 16; l++) part[l] = l < nc ? LOAD1(p, l * s) : 0.0f;
  return vload16(0, part);
}

/*
 * ROI_SCATTER_OUT(p, s, v, nc): the first nc lanes of float16 v into a DT
 * tensor at p[0], p[s], ..., each rounded once. float32 keeps
 * ROI_SCATTER16's lane-by-lane stores; a half type goes through a private
 * row and STORE1 (only the unstaged outputs of over ROI_TILE_BINS bins and
 * roi_unpack take this path).
 */
#if DT == CLNN_DTYPE_CODE_FLOAT32
#define ROI_SCATTER_OUT(p, s, v, nc) ROI_SCATTER16(float, p, s, v, nc)
#else
void roi_scatter16_dt(__global STORE_T *p, size_t s, float16 v, int nc) {
  float lanes[16];
  vstore16(v, 0, lanes);
  for (int l = 0; l < nc; l++) STORE1(lanes[l], p, l * s);
}
#define ROI_SCATTER_OUT(p, s, v, nc) roi_scatter16_dt((p), (s), (v), (nc))
#endif

/* Software prefetch (CPU devices compiled by Clang; a no-op elsewhere).
 * Backward kernels walk one RoI's block of dy after another at a large
 * stride, where the hardware prefetchers lose the stream; fetching the next
 * RoI's block while adding the current one hides that latency. PoCL's
 * prefetch() emits nothing. Only on CPUs: __builtin_prefetch takes a
 * private `const void *`, and a stricter front end such as NVIDIA's rejects
 * a __global pointer there (seen on an H200: CL_BUILD_PROGRAM_FAILURE);
 * tests/kernel_lint.sh keeps compiler built-ins out of the other devices'
 * code. */
#if CLNN_DEVICE_CPU && defined(__clang__) && defined(__has_builtin)
#if __has_builtin(__builtin_prefetch)
#define ROI_PREFETCH(p) __builtin_prefetch(p)
#endif
#endif
#ifndef ROI_PREFETCH
#define ROI_PREFETCH(p) ((void)0)
#endif

/* Prefetch n floats (ints) from p, one cache line at a time. */
#define ROI_PREFETCH_BLOCK(p, n)                              \
  do {                                                        \
    for (int q_ = 0; q_ < (n); q_ += 16) ROI_PREFETCH((p) + q_); \
  } while (0)

/* --------------------------------------------------------- staged output */

/* Bins of one RoI and channel block staged in private memory (16 * this many
 * floats per block) so they leave as whole cache lines: y[k, c0 .. c0+15, :]
 * is exactly PH*PW lines (when y is 64-byte aligned). Larger bin counts
 * store lane by lane instead. */
#define ROI_TILE_BINS 64

#if defined(__clang__) && defined(__has_builtin)
#if __has_builtin(__builtin_nontemporal_store)
#define ROI_NT_STORE 1
#endif
#endif
#ifndef ROI_NT_STORE
#define ROI_NT_STORE 0
#endif

/*
 * roi_stream_out(_int): copy n staged floats (ints) to dst. The cache lines
 * dst covers completely are written with non-temporal stores: reading them
 * first (read-for-ownership) would double the memory traffic of these
 * write-bound kernels. Lines shared with a neighbour's data at either end
 * get ordinary stores. (x86 makes non-temporal stores visible at the next
 * locked instruction, which the runtime executes when the work-group ends.)
 */
#if ROI_NT_STORE
#define ROI_NT_BODY(T16)                                                                        \
  const int head = (int)((64 - ((ulong)dst & 63)) & 63) / 4; /* elements up to a line boundary */ \
  if (((ulong)dst & 3) == 0 && head + 16 <= n) {                                                \
    for (; i < head; i++) dst[i] = src[i];                                                      \
    for (; i + 16 <= n; i += 16) __builtin_nontemporal_store(vload16(0, src + i), (__global T16 *)(dst + i)); \
  }
#else
#define ROI_NT_BODY(T16)
#endif
#define ROI_DEFINE_STREAM_OUT(name, T, T16)                   \
  void name(__global T *dst, const T *src, int n) {           \
    int i = 0;                                                \
    ROI_NT_BODY(T16)                                          \
    for (; i < n; i++) dst[i] = src[i];                       \
  }
ROI_DEFINE_STREAM_OUT(roi_stream_out, float, float16)
ROI_DEFINE_STREAM_OUT(roi_stream_out_int, int, int16)

/*
 * roi_stream_out_dt: n staged floats to a DT tensor, each rounded once.
 * float32: roi_stream_out. A half type: the whole 64-byte lines of dst (32
 * elements) leave as non-temporal stores of 16 uints, as float32's do (y
 * is write-bound: about 4x its input here); the rest 16 or 1 at a time
 * (vstore_half16 and the bfloat16 store need only 2-byte alignment).
 * roi_round32 rounds 32 floats into the uints of their bits, element 2k in
 * the low half of uint k: float16 through vstore_half16_rte into private
 * memory, bfloat16 as even and odd lanes (no ushort narrowing, which PoCL
 * runs element by element).
 */
#if DT == CLNN_DTYPE_CODE_FLOAT32
#define roi_stream_out_dt roi_stream_out
#else
uint16 roi_round32(const float *src) {
  const float16 a = vload16(0, src), b = vload16(1, src);
#if DT == CLNN_DTYPE_CODE_FLOAT16
  uint w[16];
  vstore_half16_rte(a, 0, (__private half *)w);
  vstore_half16_rte(b, 1, (__private half *)w);
  return vload16(0, w);
#else
  const float16 even = (float16)(a.even, b.even), odd = (float16)(a.odd, b.odd);
  return bf16_round16(even) | (bf16_round16(odd) << 16);
#endif
}

void roi_stream_out_dt(__global STORE_T *dst, const float *src, int n) {
  int i = 0;
#if ROI_NT_STORE
  const int head = (int)((64 - ((ulong)dst & 63)) & 63) / 2; /* elements up to a line boundary */
  if (head + 32 <= n) {
    for (; i < head; i++) STORE1(src[i], dst, i);
    for (; i + 32 <= n; i += 32) __builtin_nontemporal_store(roi_round32(src + i), (__global uint16 *)(dst + i));
  }
#endif
  for (; i + 16 <= n; i += 16) STORE16(vload16(0, src + i), 0, dst + i);
  for (; i < n; i++) STORE1(src[i], dst, i);
}
#endif

/* ------------------------------------------------------------ pack/unpack */

/*
 * roi_pack: x -> the chunk's panels (images n0.., channel blocks cb0..).
 * With PB > 1 (PS RoI align) the input channels are (c * PB + b) for output
 * channel c of bin b, and each block has PB panels, one per bin: block jb
 * of image i, bin b is panel (i * ncb + jb) * PB + b. PB = 1 is plain
 * channel order. One work-item per (row h, panel in chunk, image in chunk)
 * copies 16 channel rows into W float16 pixels.
 * Args: x (N, C, H, W); xp panels; C, H, W, n0, cb0, ncb (blocks in chunk),
 * PB (bins per channel group: 1, or PH*PW for PS).
 * NDRange (H, ncb * PB, images in chunk), local (1, 1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void roi_pack(
    CTENSOR_DT(x), TENSOR(xp), const int C, const int H, const int W, const int n0, const int cb0,
    const int ncb, const int PB) {
  const int h = get_global_id(0), j = get_global_id(1), i = get_global_id(2);
  const int jb = j / PB, b = j % PB;
  const int HW = H * W, c0 = (cb0 + jb) * 16, nc = min(16, C / PB - c0);
  const size_t lane = (size_t)PB * HW; /* between consecutive channels of a block */
  __global const STORE_T *src = AT(x) + ((size_t)(n0 + i) * C + (size_t)c0 * PB + b) * HW + (size_t)h * W;
  __global float *dst = AT(xp) + (((size_t)i * ncb * PB + j) * HW + (size_t)h * W) * 16;
  if (nc == 16) {
    for (int w = 0; w < W; w++) vstore16(ROI_GATHER16(src + w, lane), w, dst);
  } else {
    for (int w = 0; w < W; w++)
      for (int l = 0; l < 16; l++) dst[w * 16 + l] = l < nc ? LOAD1(src, l * lane + w) : 0.0f;
  }
}

/*
 * roi_unpack: the chunk's panels -> x (here dx): the inverse of roi_pack
 * (with PB = 1) for the channels that exist. Same arguments and NDRange as
 * roi_pack less PB, with the roles of the two tensors swapped: x is
 * written, xp read.
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void roi_unpack(
    TENSOR_DT(x), CTENSOR(xp), const int C, const int H, const int W, const int n0, const int cb0,
    const int ncb) {
  const int h = get_global_id(0), j = get_global_id(1), i = get_global_id(2);
  const int HW = H * W, c0 = (cb0 + j) * 16, nc = min(16, C - c0);
  __global STORE_T *dst = AT(x) + ((size_t)(n0 + i) * C + c0) * HW + (size_t)h * W;
  __global const float *src = AT(xp) + (((size_t)i * ncb + j) * HW + (size_t)h * W) * 16;
  for (int w = 0; w < W; w++) {
    const float16 v = vload16(w, src);
    ROI_SCATTER_OUT(dst + w, HW, v, nc);
  }
}

/* ---------------------------------------------------------- RoI align */

/* Channel blocks per work-item of the panel kernels (-D ROI_V, chosen by the
 * host per problem): geometry computed once serves 16 * ROI_V channels.
 * Chunks hold a multiple of ROI_V blocks; blocks past C are zero panels that
 * are read but never stored. */
#ifndef ROI_V
#define ROI_V 1
#endif

/*
 * roi_align_fwd: RoI align (PB = 1) or PS RoI align (PB = PH*PW) on panels.
 * One work-item per (RoI of the chunk's images, group of ROI_V channel
 * blocks): for each bin, sums its bilinear samples for 16 * ROI_V output
 * channels at once (PS: from the bin's own panels), divides by the count,
 * and writes y[k, c0 .., bin].
 * -D ROI_V (blocks per work-item).
 * Args: xp panels, rois, idx (RoI index), y; N, OC (output channels), H, W,
 * PH, PW, scale, offset (0.5 aligned, else 0), min1 (1x1 minimum box), SR
 * (<= 0 adaptive), n0, cb0, ncb (the chunk), slot0 = idx[n0], nslots (RoIs
 * of the chunk), PB (panels per block, see roi_pack).
 * NDRange (nslots, ncb / ROI_V), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void roi_align_fwd(
    CTENSOR(xp), CTENSOR(rois), CITENSOR(idx), TENSOR_DT(y), const int N, const int OC, const int H,
    const int W, const int PH, const int PW, const float scale, const float offset, const int min1,
    const int SR, const int n0, const int cb0, const int ncb, const int slot0, const int nslots,
    const int PB) {
  const int s = get_global_id(0), jb = get_global_id(1) * ROI_V;
  if (s >= nslots) return;
  const int k = AT(idx)[N + 1 + slot0 + s];
  __global const float *roi = AT(rois) + (size_t)k * 5;
  const int n = (int)roi[0], HW = H * W, PHW = PH * PW, c0 = (cb0 + jb) * 16, C = OC;
  __global const float *panels = AT(xp) + ((size_t)(n - n0) * ncb + jb) * PB * HW * 16;
  const size_t pstride = (size_t)PB * HW * 16; /* to the next block's panels */
  __global STORE_T *out = AT(y) + ((size_t)k * C + c0) * PHW;
  const roi_align_geom g = roi_align_geometry(roi, scale, offset, min1, PH, PW, SR);
  const bool staged = PHW <= ROI_TILE_BINS;
  float tile[ROI_V * 16 * ROI_TILE_BINS];
  for (int ph = 0; ph < PH; ph++) {
    for (int pw = 0; pw < PW; pw++) {
      __global const float *panel = panels + (PB > 1 ? (size_t)(ph * PW + pw) * HW * 16 : 0);
      float16 acc[ROI_V];
#pragma unroll
      for (int v = 0; v < ROI_V; v++) acc[v] = (float16)(0.0f);
      for (int iy = 0; iy < g.grid_h; iy++) {
        const float yy = roi_sample_y(&g, ph, iy);
        for (int ix = 0; ix < g.grid_w; ix++) {
          int4 o;
          float4 wt;
          if (!roi_bilinear(yy, roi_sample_x(&g, pw, ix), H, W, &o, &wt)) continue;
#pragma unroll
          for (int v = 0; v < ROI_V; v++) {
            __global const float *pv = panel + v * pstride;
            acc[v] = fma((float16)(wt.s0), vload16(o.s0, pv), acc[v]);
            acc[v] = fma((float16)(wt.s1), vload16(o.s1, pv), acc[v]);
            acc[v] = fma((float16)(wt.s2), vload16(o.s2, pv), acc[v]);
            acc[v] = fma((float16)(wt.s3), vload16(o.s3, pv), acc[v]);
          }
        }
      }
#pragma unroll
      for (int v = 0; v < ROI_V; v++) {
        const int nc = min(16, C - c0 - 16 * v), b = ph * PW + pw;
        const float16 r = acc[v] / g.count;
        if (staged) ROI_SCATTER16(float, tile + v * 16 * PHW + b, PHW, r, 16);
        else if (nc > 0) ROI_SCATTER_OUT(out + (size_t)v * 16 * PHW + b, PHW, r, nc);
      }
    }
  }
  for (int v = 0; staged && v < ROI_V; v++) {
    const int nc = min(16, C - c0 - 16 * v);
    if (nc > 0) roi_stream_out_dt(out + (size_t)v * 16 * PHW, tile + v * 16 * PHW, nc * PHW);
  }
}

/*
 * roi_align_bwd: RoI align backward into panels. One work-item owns the
 * panels of (image, group of ROI_V channel blocks): it zeroes them,
 * then for each RoI of the image in RoI order, each bin and each sample adds
 * dy / count times the four bilinear weights (16 channels per vector op).
 * roi_unpack then writes dx.
 * -D ROI_V (blocks per work-item).
 * Args: xp panels (written), rois, idx, dy; N, C, H, W, PH, PW, scale,
 * offset, min1, SR, n0, cb0, ncb as roi_align_fwd.
 * NDRange (ncb / ROI_V, images in chunk), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void roi_align_bwd(
    TENSOR(xp), CTENSOR(rois), CITENSOR(idx), CTENSOR_DT(dy), const int N, const int C, const int H,
    const int W, const int PH, const int PW, const float scale, const float offset, const int min1,
    const int SR, const int n0, const int cb0, const int ncb) {
  const int jb = get_global_id(0) * ROI_V, i = get_global_id(1);
  const int n = n0 + i, HW = H * W, PHW = PH * PW, c0 = (cb0 + jb) * 16;
  __global float *panel = AT(xp) + ((size_t)i * ncb + jb) * HW * 16;
  const size_t pstride = (size_t)HW * 16;
  for (int p = 0; p < ROI_V * HW; p++) vstore16((float16)(0.0f), p, panel);
  __global const int *order = AT(idx) + N + 1;
  const int s1 = AT(idx)[n + 1];
  for (int s = AT(idx)[n]; s < s1; s++) {
    const int k = order[s];
    __global const float *roi = AT(rois) + (size_t)k * 5;
    __global const STORE_T *dyk = AT(dy) + ((size_t)k * C + c0) * PHW;
    const roi_align_geom g = roi_align_geometry(roi, scale, offset, min1, PH, PW, SR);
    for (int ph = 0; ph < PH; ph++) {
      for (int pw = 0; pw < PW; pw++) {
        float16 gv[ROI_V];
#pragma unroll
        for (int v = 0; v < ROI_V; v++)
          gv[v] = roi_gather16(dyk + (size_t)v * 16 * PHW + ph * PW + pw, PHW, C - c0 - 16 * v) / g.count;
        for (int iy = 0; iy < g.grid_h; iy++) {
          const float yy = roi_sample_y(&g, ph, iy);
          for (int ix = 0; ix < g.grid_w; ix++) {
            int4 o;
            float4 wt;
            if (!roi_bilinear(yy, roi_sample_x(&g, pw, ix), H, W, &o, &wt)) continue;
#pragma unroll
            for (int v = 0; v < ROI_V; v++) {
              /* one after the other: corners coincide at the map's edge */
              __global float *pv = panel + v * pstride;
              vstore16(fma((float16)(wt.s0), gv[v], vload16(o.s0, pv)), o.s0, pv);
              vstore16(fma((float16)(wt.s1), gv[v], vload16(o.s1, pv)), o.s1, pv);
              vstore16(fma((float16)(wt.s2), gv[v], vload16(o.s2, pv)), o.s2, pv);
              vstore16(fma((float16)(wt.s3), gv[v], vload16(o.s3, pv)), o.s3, pv);
            }
          }
        }
      }
    }
  }
}

/* ----------------------------------------------------------- RoI pool */

/*
 * roi_pool_fwd: RoI pool (max) on panels. One work-item per (RoI of the
 * chunk's images, group of ROI_V channel blocks): for each bin, the
 * running maximum of 16 * ROI_V channels and where it was (first
 * maximum in row-major order; NaN never wins; an empty bin gives 0 and
 * argmax -1).
 * -D ROI_V.
 * Args: xp, rois, idx, y, argmax (written when has_argmax), has_argmax;
 * N, C, H, W, PH, PW, scale, n0, cb0, ncb, slot0, nslots as roi_align_fwd.
 * NDRange (nslots, ncb / ROI_V), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void roi_pool_fwd(
    CTENSOR(xp), CTENSOR(rois), CITENSOR(idx), TENSOR_DT(y), ITENSOR(argmax), const int has_argmax,
    const int N, const int C, const int H, const int W, const int PH, const int PW, const float scale,
    const int n0, const int cb0, const int ncb, const int slot0, const int nslots) {
  const int s = get_global_id(0), jb = get_global_id(1) * ROI_V;
  if (s >= nslots) return;
  const int k = AT(idx)[N + 1 + slot0 + s];
  __global const float *roi = AT(rois) + (size_t)k * 5;
  const int n = (int)roi[0], HW = H * W, PHW = PH * PW, c0 = (cb0 + jb) * 16;
  __global const float *panel = AT(xp) + ((size_t)(n - n0) * ncb + jb) * HW * 16;
  const size_t pstride = (size_t)HW * 16;
  const size_t out0 = ((size_t)k * C + c0) * PHW;
  const roi_pool_geom g = roi_pool_geometry(roi, scale, 1, PH, PW);
  const bool staged = PHW <= ROI_TILE_BINS;
  float tile[ROI_V * 16 * ROI_TILE_BINS];
  int itile[ROI_V * 16 * ROI_TILE_BINS];
  for (int ph = 0; ph < PH; ph++) {
    for (int pw = 0; pw < PW; pw++) {
      const int4 r = roi_pool_bin(&g, ph, pw, H, W);
      const bool empty = r.s1 <= r.s0 || r.s3 <= r.s2;
      float16 m[ROI_V];
      int16 am[ROI_V];
#pragma unroll
      for (int v = 0; v < ROI_V; v++) {
        m[v] = (float16)(empty ? 0.0f : -ROI_FLT_MAX);
        am[v] = (int16)(-1);
      }
      for (int h = r.s0; h < r.s1; h++) {
        for (int w = r.s2; w < r.s3; w++) {
          const int p = h * W + w;
#pragma unroll
          for (int v = 0; v < ROI_V; v++) {
            const float16 x = vload16(p, panel + v * pstride);
            const int16 gt = x > m[v];
            m[v] = select(m[v], x, gt);
            am[v] = select(am[v], (int16)(p), gt);
          }
        }
      }
#pragma unroll
      for (int v = 0; v < ROI_V; v++) {
        const int nc = min(16, C - c0 - 16 * v), b = ph * PW + pw;
        const size_t o = out0 + (size_t)v * 16 * PHW + b;
        if (staged) {
          ROI_SCATTER16(float, tile + v * 16 * PHW + b, PHW, m[v], 16);
          ROI_SCATTER16(int, itile + v * 16 * PHW + b, PHW, am[v], 16);
        } else if (nc > 0) {
          ROI_SCATTER_OUT(AT(y) + o, PHW, m[v], nc);
          if (has_argmax) ROI_SCATTER16(int, AT(argmax) + o, PHW, am[v], nc);
        }
      }
    }
  }
  for (int v = 0; staged && v < ROI_V; v++) {
    const int nc = min(16, C - c0 - 16 * v);
    if (nc <= 0) continue;
    roi_stream_out_dt(AT(y) + out0 + (size_t)v * 16 * PHW, tile + v * 16 * PHW, nc * PHW);
    if (has_argmax) roi_stream_out_int(AT(argmax) + out0 + (size_t)v * 16 * PHW, itile + v * 16 * PHW, nc * PHW);
  }
}

/*
 * roi_pool_bwd: RoI pool backward. One work-item owns the dx planes of
 * (image n, channels c0 .. c0+15): zeroes them, then for each RoI of the
 * image in RoI order adds dy of every bin at that bin's argmax. Reading the
 * 16 channels' bins of a RoI together streams one contiguous block of dy and
 * argmax (the next RoI's blocks are prefetched); argmax entries outside
 * [0, HW) add nothing. float32 only (it adds into dx in place); the half
 * types take roi_pool_bwd_panels.
 * Args: dy, argmax, idx, dx; N, C, HW, PHW.
 * NDRange (ceil(C / 16), N), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void roi_pool_bwd(
    CTENSOR(dy), CITENSOR(argmax), CITENSOR(idx), TENSOR(dx), const int N, const int C, const int HW,
    const int PHW) {
  const int c0 = get_global_id(0) * 16, n = get_global_id(1), nc = min(16, C - c0);
  __global float *planes = AT(dx) + ((size_t)n * C + c0) * HW;
  for (int p = 0; p < nc * HW; p++) planes[p] = 0.0f;
  __global const int *order = AT(idx) + N + 1;
  const int s1 = AT(idx)[n + 1];
  for (int s = AT(idx)[n]; s < s1; s++) {
    const size_t base = ((size_t)order[s] * C + c0) * PHW;
    __global const float *g = AT(dy) + base;
    __global const int *a = AT(argmax) + base;
    if (s + 1 < s1) {
      const size_t next = ((size_t)order[s + 1] * C + c0) * PHW;
      ROI_PREFETCH_BLOCK(AT(dy) + next, nc * PHW);
      ROI_PREFETCH_BLOCK(AT(argmax) + next, nc * PHW);
    }
    for (int l = 0; l < nc; l++) {
      __global float *plane = planes + (size_t)l * HW;
      for (int b = l * PHW; b < (l + 1) * PHW; b++) {
        const int p = a[b];
        if ((uint)p < (uint)HW) plane[p] += g[b];
      }
    }
  }
}

/*
 * roi_pool_bwd_panels: RoI pool backward into float32 panels (then
 * roi_unpack rounds each dx element once): as roi_pool_bwd, in the same
 * order (RoI order, then bin order), but one work-item owns the panel of
 * (channel block jb of the chunk, image i of the chunk), pixel-major with
 * the 16 channels interleaved. The half types' path: dx in place would
 * round at every add.
 * Args: xp panels (written), dy, argmax, idx; N, C, HW, PHW, n0, cb0, ncb.
 * NDRange (ncb, images in chunk), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void roi_pool_bwd_panels(
    TENSOR(xp), CTENSOR_DT(dy), CITENSOR(argmax), CITENSOR(idx), const int N, const int C, const int HW,
    const int PHW, const int n0, const int cb0, const int ncb) {
  const int jb = get_global_id(0), i = get_global_id(1), n = n0 + i;
  const int c0 = (cb0 + jb) * 16, nc = min(16, C - c0);
  __global float *panel = AT(xp) + ((size_t)i * ncb + jb) * HW * 16;
  for (int p = 0; p < HW; p++) vstore16((float16)(0.0f), p, panel);
  __global const int *order = AT(idx) + N + 1;
  const int s1 = AT(idx)[n + 1];
  for (int s = AT(idx)[n]; s < s1; s++) {
    const size_t base = ((size_t)order[s] * C + c0) * PHW;
    __global const STORE_T *g = AT(dy) + base;
    __global const int *a = AT(argmax) + base;
    for (int l = 0; l < nc; l++) {
      for (int b = l * PHW; b < (l + 1) * PHW; b++) {
        const int p = a[b];
        if ((uint)p < (uint)HW) panel[(size_t)p * 16 + l] += LOAD1(g, b);
      }
    }
  }
}

/* ------------------------------------------------- position-sensitive */

/*
 * roi_ps_fwd: PS RoI align (pool = 0) or PS RoI pool (pool = 1). One
 * work-item per (bin row ph, RoI k) takes the row's bins one by one: the
 * bin's geometry once, then every output channel c, which reads input
 * channel c * PH*PW + b. Align accumulates sample by sample straight into y
 * (this work-item owns y[k, :, b]); pool averages the bin's cells (bins
 * clipped to H-1, W-1 as torchvision; empty bin 0). A row per work-item
 * rather than a bin keeps the work-group count (each costs the runtime
 * some scheduling) well below the bin count. float32 only (align adds
 * into y in place); half tensors run it on float32 copies (ops/roi.c).
 * Args: x, rois, y; C, H, W, PH, PW, OC (= C / (PH*PW)), scale, SR, pool.
 * NDRange (PH, K), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void roi_ps_fwd(
    CTENSOR(x), CTENSOR(rois), TENSOR(y), const int C, const int H, const int W, const int PH,
    const int PW, const int OC, const float scale, const int SR, const int pool) {
  const int ph = get_global_id(0), k = get_global_id(1);
  const int HW = H * W, PHW = PH * PW;
  const size_t cstride = (size_t)PHW * HW;
  __global const float *roi = AT(rois) + (size_t)k * 5;
  const int n = (int)roi[0];
  const roi_pool_geom gp = roi_pool_geometry(roi, scale, 0, PH, PW);
  const roi_align_geom ga = roi_align_geometry(roi, scale, 0.5f, 0, PH, PW, SR);
  for (int pw = 0; pw < PW; pw++) {
    const int b = ph * PW + pw;
    __global const float *in = AT(x) + ((size_t)n * C + b) * HW; /* channel c: + c * cstride */
    __global float *out = AT(y) + (size_t)k * OC * PHW + b;     /* channel c: + c * PHW */
    if (pool) {
      const int4 r = roi_pool_bin(&gp, ph, pw, H - 1, W - 1);
      const bool empty = r.s1 <= r.s0 || r.s3 <= r.s2;
      const float area = (float)((r.s1 - r.s0) * (r.s3 - r.s2));
      for (int c = 0; c < OC; c++) {
        __global const float *plane = in + c * cstride;
        float sum = 0.0f;
        for (int h = r.s0; h < r.s1; h++)
          for (int w = r.s2; w < r.s3; w++) sum += plane[h * W + w];
        out[(size_t)c * PHW] = empty ? 0.0f : sum / area;
      }
      continue;
    }
    for (int c = 0; c < OC; c++) out[(size_t)c * PHW] = 0.0f;
    for (int iy = 0; iy < ga.grid_h; iy++) {
      const float yy = roi_sample_y(&ga, ph, iy);
      for (int ix = 0; ix < ga.grid_w; ix++) {
        int4 o;
        float4 wt;
        if (!roi_bilinear(yy, roi_sample_x(&ga, pw, ix), H, W, &o, &wt)) continue;
        for (int c = 0; c < OC; c++) {
          __global const float *plane = in + c * cstride;
          out[(size_t)c * PHW] += wt.s0 * plane[o.s0] + wt.s1 * plane[o.s1] + wt.s2 * plane[o.s2] +
                                  wt.s3 * plane[o.s3];
        }
      }
    }
    for (int c = 0; c < OC; c++) out[(size_t)c * PHW] /= ga.count;
  }
}

/*
 * roi_ps_pool_bwd: PS RoI pool backward. One work-item per (bin b, image
 * n) owns the dx planes that bin reads (channels c * PH*PW + b for every c):
 * it zeroes them, then for each RoI of the image in RoI order computes the
 * bin's cells once (clipped to H-1, W-1 as the forward) and adds
 * dy[k, c, b] / area to each of them in every plane. float32 only (it adds
 * into dx in place); half tensors run it on float32 copies (ops/roi.c).
 * Args: dy, rois, idx, dx; N, C, H, W, PH, PW, OC, scale.
 * NDRange (PH*PW, N), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void roi_ps_pool_bwd(
    CTENSOR(dy), CTENSOR(rois), CITENSOR(idx), TENSOR(dx), const int N, const int C, const int H,
    const int W, const int PH, const int PW, const int OC, const float scale) {
  const int b = get_global_id(0), n = get_global_id(1);
  const int ph = b / PW, pw = b % PW, HW = H * W, PHW = PH * PW;
  const size_t cstride = (size_t)PHW * HW;
  __global float *base = AT(dx) + ((size_t)n * C + b) * HW; /* channel c: + c * cstride */
  for (int c = 0; c < OC; c++)
    for (int p = 0; p < HW; p++) base[c * cstride + p] = 0.0f;
  __global const int *order = AT(idx) + N + 1;
  const int s1 = AT(idx)[n + 1];
  for (int s = AT(idx)[n]; s < s1; s++) {
    const int k = order[s];
    const roi_pool_geom g = roi_pool_geometry(AT(rois) + (size_t)k * 5, scale, 0, PH, PW);
    const int4 r = roi_pool_bin(&g, ph, pw, H - 1, W - 1);
    if (r.s1 <= r.s0 || r.s3 <= r.s2) continue;
    const float area = (float)((r.s1 - r.s0) * (r.s3 - r.s2));
    __global const float *g_k = AT(dy) + (size_t)k * OC * PHW + b; /* channel c: + c * PHW */
    for (int c = 0; c < OC; c++) {
      __global float *plane = base + c * cstride;
      const float gv = g_k[(size_t)c * PHW] / area;
      for (int h = r.s0; h < r.s1; h++)
        for (int w = r.s2; w < r.s3; w++) plane[h * W + w] += gv;
    }
  }
}

/*
 * roi_ps_align_bwd: PS RoI align backward. One work-item per (bin b, image
 * n) owns the dx planes that bin reads (channels c * PH*PW + b for every
 * c): it zeroes them, then for each RoI of the image in RoI order computes
 * the bin's samples once and adds dy[k, c, b] / count times the bilinear
 * weights to every plane. float32 only (it adds into dx in place); half
 * tensors run it on float32 copies (ops/roi.c).
 * Args: dy, rois, idx, dx; N, C, H, W, PH, PW, OC, scale, SR.
 * NDRange (PH*PW, N), local (1, 1).
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void roi_ps_align_bwd(
    CTENSOR(dy), CTENSOR(rois), CITENSOR(idx), TENSOR(dx), const int N, const int C, const int H,
    const int W, const int PH, const int PW, const int OC, const float scale, const int SR) {
  const int b = get_global_id(0), n = get_global_id(1);
  const int ph = b / PW, pw = b % PW, HW = H * W, PHW = PH * PW;
  const size_t cstride = (size_t)PHW * HW;
  __global float *base = AT(dx) + ((size_t)n * C + b) * HW; /* channel c: + c * cstride */
  for (int c = 0; c < OC; c++)
    for (int p = 0; p < HW; p++) base[c * cstride + p] = 0.0f;
  __global const int *order = AT(idx) + N + 1;
  const int s1 = AT(idx)[n + 1];
  for (int s = AT(idx)[n]; s < s1; s++) {
    const int k = order[s];
    __global const float *roi = AT(rois) + (size_t)k * 5;
    __global const float *g_k = AT(dy) + (size_t)k * OC * PHW + b; /* channel c: + c * PHW */
    const roi_align_geom g = roi_align_geometry(roi, scale, 0.5f, 0, PH, PW, SR);
    for (int iy = 0; iy < g.grid_h; iy++) {
      const float yy = roi_sample_y(&g, ph, iy);
      for (int ix = 0; ix < g.grid_w; ix++) {
        int4 o;
        float4 wt;
        if (!roi_bilinear(yy, roi_sample_x(&g, pw, ix), H, W, &o, &wt)) continue;
        for (int c = 0; c < OC; c++) {
          __global float *plane = base + c * cstride;
          const float gv = g_k[(size_t)c * PHW] / g.count;
          plane[o.s0] += gv * wt.s0;
          plane[o.s1] += gv * wt.s1;
          plane[o.s2] += gv * wt.s2;
          plane[o.s3] += gv * wt.s3;
        }
      }
    }
  }
}

/* ===================================================== GPU-class kernels
 * Built only with -DROI_WG (the work-group size, a power of two the host
 * sizes from the device's limits), so the CPU programs above stay as they
 * were. No private arrays, no atomics; every barrier is reached by every
 * work-item of the group.
 *
 * Forward: one output element (k, c, ph, pw) per work-item, in y's order.
 * Neighbouring work-items take neighbouring bins pw (then ph, then
 * channels): they share the RoI, so the geometry and loop trip counts are
 * uniform across a SIMD group, their samples fall in the same rows of one
 * feature plane (reads a bin width apart, in the same cache lines for the
 * small bins of detection heads), and their stores are contiguous.
 * Neighbouring channels instead would read H*W floats apart, one cache line
 * per work-item per corner.
 *
 * Backward, as gathers: one work-item per pixel of four dx channels of
 * image n (roi_lanes; a group's work-items take consecutive pixels: any
 * plane size, several channel blocks per group when planes are small,
 * coalesced stores per channel). The
 * group stages the geometry of the image's RoIs in local memory, ROI_WG
 * RoIs at a time, in RoI order (the per-image index idx), with the box of
 * pixels each can reach; each work-item then walks them in that order,
 * skips those whose box misses its pixel (most, and whole SIMD groups
 * together: neighbours share rows), and adds what the others' bins give
 * its element. Same inputs, same order, same bits.
 */
#ifdef ROI_WG

/* ---------------------------------------------------- separable bilinear */

/*
 * Bilinear sampling is separable: sample (y, x) gives pixel (h, w) the
 * weight wy(h) * wx(w), valid when y and x both are. For one axis (start,
 * bin size, grid of samples of bin pb; torchvision's positions as
 * roi_sample_y / roi_sample_x, clamps as roi_bilinear), the summed weight
 * of pixel row h over the bin's valid samples; false when no valid sample
 * touches h (a corner of weight 0 touches it, as in the scatter).
 */
bool roi_axis_weight(float start, float bin, int grid, int pb, int h, int H, float *wsum) {
  float s = 0.0f;
  bool hit = false;
  for (int i = 0; i < grid; i++) {
    float y = start + (float)pb * bin + ((float)i + 0.5f) * bin / (float)grid;
    if (y < -1.0f || y > (float)H) continue;
    if (y <= 0.0f) y = 0.0f;
    int lo = (int)y, hi;
    if (lo >= H - 1) {
      hi = lo = H - 1;
      y = (float)lo;
    } else {
      hi = lo + 1;
    }
    const float l = y - (float)lo;
    if (lo == h) s += 1.0f - l, hit = true;
    if (hi == h) s += l, hit = true;
  }
  *wsum = s;
  return hit;
}

/* The bins [*lo, *hi] (clamped to [0, P - 1]) whose index lies in
 * [q0 - eps, q1 + eps]; clamping first keeps the conversions in int range. */
void roi_bin_span(float q0, float q1, float eps, int P, int *lo, int *hi) {
  *lo = max((int)ceil(fmin(fmax(q0 - eps, -1.0f), (float)P)), 0);
  *hi = min((int)floor(fmin(fmax(q1 + eps, -1.0f), (float)P)), P - 1);
}

/* Relative rounding error allowed for in the bin ranges below (a few ulp
 * of float, whose epsilon is 1.2e-7), and an absolute floor in bins. */
#define ROI_REL_SLACK 4.0e-7f
#define ROI_BIN_SLACK 1.0e-3f

/*
 * The bins [*lo, *hi] of one align axis (P bins of size bin from start)
 * whose samples may touch pixel h. Bin pb's samples lie in (start + pb*bin,
 * start + (pb+1)*bin) and touch h only from y in [h - 1, h + 1] (y in
 * [-1, 0] reaches rows 0 and 1 after the clamp, y in [H - 1, H] row H - 1);
 * the range allows for the rounding of the sample positions, and
 * roi_axis_weight decides exactly. A box of size 0 puts every bin's
 * samples at start: all bins.
 */
void roi_align_bin_range(float start, float bin, int h, int P, int *lo, int *hi) {
  if (!(bin > 0.0f)) {
    *lo = 0, *hi = P - 1;
    return;
  }
  const float y0 = h <= 1 ? -1.0f : (float)h - 1.0f, y1 = (float)h + 1.0f;
  const float q0 = (y0 - start) / bin - 1.0f, q1 = (y1 - start) / bin;
  const float err = ROI_REL_SLACK * (fabs(start) + y1 + 2.0f + bin * (float)P) / bin;
  roi_bin_span(q0, q1, err + ROI_REL_SLACK * (fabs(q0) + fabs(q1)) + ROI_BIN_SLACK, P, lo, hi);
}

/*
 * The bins [*lo, *hi] of one pooling axis whose cells may hold pixel h:
 * bin pb covers [floor(pb*bin), ceil((pb+1)*bin)) from the box start, so
 * pb is in (h'/bin - 1, (h' + 1)/bin), h' = h - start, allowing for the
 * rounding of the products; roi_pool_bin decides exactly (bin >= 1/P: a
 * pooled box is at least one pixel).
 */
void roi_pool_bin_range(int start, float bin, int h, int P, int *lo, int *hi) {
  const float d = (float)(h - start), q0 = d / bin - 1.0f, q1 = (d + 1.0f) / bin;
  roi_bin_span(q0, q1, ROI_REL_SLACK * (fabs(q0) + fabs(q1) + (float)P) + ROI_BIN_SLACK, P, lo, hi);
}

/* lo, hi of v clamped to [0, n - 1] as ints (v may be far outside int's range). */
int roi_clamp_index(float v, int n) { return (int)fmin(fmax(v, 0.0f), (float)(n - 1)); }

/*
 * The pixels a RoI's bilinear samples can touch, as (row lo, row hi, column
 * lo, column hi), inclusive, conservative (a cheap test before the exact
 * work; an empty box has lo > hi): samples lie within [start, start +
 * bins * bin] per axis, and touch the rows of floor(y) and floor(y) + 1
 * after the clamps.
 */
int4 roi_align_box(const roi_align_geom *g, int PH, int PW, int H, int W) {
  /* A box of negative size (aligned, x2 < x1) samples from its start backwards. */
  const float ya = g->start_h, yb = g->start_h + (float)PH * g->bin_h;
  const float xa = g->start_w, xb = g->start_w + (float)PW * g->bin_w;
  const float y0 = fmin(ya, yb), y1 = fmax(ya, yb), x0 = fmin(xa, xb), x1 = fmax(xa, xb);
  const float sy = ROI_BIN_SLACK + ROI_REL_SLACK * (fabs(y0) + fabs(y1)), sx = ROI_BIN_SLACK + ROI_REL_SLACK * (fabs(x0) + fabs(x1));
  if (y1 + sy < -1.0f || y0 - sy > (float)H || x1 + sx < -1.0f || x0 - sx > (float)W) return (int4)(1, 0, 1, 0);
  return (int4)(roi_clamp_index(floor(y0 - sy) - 1.0f, H), roi_clamp_index(floor(y1 + sy) + 1.0f, H),
                roi_clamp_index(floor(x0 - sx) - 1.0f, W), roi_clamp_index(floor(x1 + sx) + 1.0f, W));
}

/* The cells a pooled RoI's bins can cover (as roi_align_box): from the box
 * start to start + ceil(bins * bin), a pixel of slack each side. */
int4 roi_pool_box(const roi_pool_geom *g, int PH, int PW, int H, int W) {
  const float y0 = (float)g->start_h, y1 = y0 + ceil((float)PH * g->bin_h);
  const float x0 = (float)g->start_w, x1 = x0 + ceil((float)PW * g->bin_w);
  if (y1 + 1.0f < 0.0f || y0 - 1.0f > (float)H || x1 + 1.0f < 0.0f || x0 - 1.0f > (float)W) return (int4)(1, 0, 1, 0);
  return (int4)(roi_clamp_index(y0 - 1.0f, H), roi_clamp_index(y1 + 1.0f, H), roi_clamp_index(x0 - 1.0f, W),
                roi_clamp_index(x1 + 1.0f, W));
}

bool roi_box_has(int4 box, int h, int w) { return h >= box.s0 && h <= box.s1 && w >= box.s2 && w <= box.s3; }

bool roi_cell_in(int4 r, int h, int w) { return h >= r.s0 && h < r.s1 && w >= r.s2 && w < r.s3; }

/* ------------------------------------------------------------- forward */

/*
 * roi_align_fwd_gpu: RoI align (ps = 0) or PS RoI align (ps = 1), one
 * output element i = ((k * OC + c) * PH + ph) * PW + pw per work-item: the
 * bin's bilinear samples in torchvision's order, summed with fma, divided
 * by the sample count (at least 1).
 * Args: x, rois, y; C (input channels), H, W, PH, PW, OC, scale, offset,
 * min1, SR as roi_align_fwd, ps, total = K * OC * PH * PW.
 * NDRange (total rounded up to ROI_WG), local (ROI_WG).
 */
__kernel __attribute__((reqd_work_group_size(ROI_WG, 1, 1))) void roi_align_fwd_gpu(
    CTENSOR_DT(x), CTENSOR(rois), TENSOR_DT(y), const int C, const int H, const int W, const int PH, const int PW,
    const int OC, const float scale, const float offset, const int min1, const int SR, const int ps,
    const int total) {
  const size_t gid = get_global_id(0);
  if (gid >= (size_t)total) return;
  const int i = (int)gid, PHW = PH * PW, b = i % PHW, kc = i / PHW, c = kc % OC, k = kc / OC;
  const int ph = b / PW, pw = b % PW;
  __global const float *roi = AT(rois) + (size_t)k * 5;
  const int n = (int)roi[0], cin = ps ? c * PHW + b : c;
  __global const STORE_T *plane = AT(x) + ((size_t)n * C + cin) * H * W;
  const roi_align_geom g = roi_align_geometry(roi, scale, offset, min1, PH, PW, SR);
  float acc = 0.0f;
  for (int iy = 0; iy < g.grid_h; iy++) {
    const float yy = roi_sample_y(&g, ph, iy);
    for (int ix = 0; ix < g.grid_w; ix++) {
      int4 o;
      float4 wt;
      if (!roi_bilinear(yy, roi_sample_x(&g, pw, ix), H, W, &o, &wt)) continue;
      acc = fma(wt.s0, LOAD1(plane, o.s0), acc);
      acc = fma(wt.s1, LOAD1(plane, o.s1), acc);
      acc = fma(wt.s2, LOAD1(plane, o.s2), acc);
      acc = fma(wt.s3, LOAD1(plane, o.s3), acc);
    }
  }
  STORE1(acc / g.count, AT(y), i);
}

/*
 * roi_pool_fwd_gpu: RoI pool (ps = 0: the bin's maximum, first in
 * row-major order, NaN never wins, empty bin 0 and argmax -1; argmax
 * written when has_argmax) or PS RoI pool (ps = 1: the bin's average,
 * bins clipped to H-1, W-1, empty bin 0), one output element per
 * work-item as roi_align_fwd_gpu.
 * Args: x, rois, y, argmax, has_argmax; C, H, W, PH, PW, OC, scale, ps,
 * total. NDRange (total rounded up to ROI_WG), local (ROI_WG).
 */
__kernel __attribute__((reqd_work_group_size(ROI_WG, 1, 1))) void roi_pool_fwd_gpu(
    CTENSOR_DT(x), CTENSOR(rois), TENSOR_DT(y), ITENSOR(argmax), const int has_argmax, const int C, const int H,
    const int W, const int PH, const int PW, const int OC, const float scale, const int ps, const int total) {
  const size_t gid = get_global_id(0);
  if (gid >= (size_t)total) return;
  const int i = (int)gid, PHW = PH * PW, b = i % PHW, kc = i / PHW, c = kc % OC, k = kc / OC;
  const int ph = b / PW, pw = b % PW;
  __global const float *roi = AT(rois) + (size_t)k * 5;
  const int n = (int)roi[0], cin = ps ? c * PHW + b : c;
  __global const STORE_T *plane = AT(x) + ((size_t)n * C + cin) * H * W;
  const roi_pool_geom g = roi_pool_geometry(roi, scale, ps ? 0 : 1, PH, PW);
  const int4 r = roi_pool_bin(&g, ph, pw, ps ? H - 1 : H, ps ? W - 1 : W);
  const bool empty = r.s1 <= r.s0 || r.s3 <= r.s2;
  if (ps) {
    float sum = 0.0f;
    for (int h = r.s0; h < r.s1; h++)
      for (int w = r.s2; w < r.s3; w++) sum += LOAD1(plane, h * W + w);
    STORE1(empty ? 0.0f : sum / (float)((r.s1 - r.s0) * (r.s3 - r.s2)), AT(y), i);
    return;
  }
  float m = empty ? 0.0f : -ROI_FLT_MAX;
  int am = -1;
  for (int h = r.s0; h < r.s1; h++)
    for (int w = r.s2; w < r.s3; w++) {
      const float v = LOAD1(plane, h * W + w);
      if (v > m) m = v, am = h * W + w;
    }
  STORE1(m, AT(y), i);
  if (has_argmax) AT(argmax)[i] = am;
}

/* ------------------------------------------------------------ backward */

/*
 * Work-item lanes. A backward work-item owns one pixel of ROI_LANES input
 * channels whose gradients share every weight: consecutive channels for
 * RoI align and pool (all bins of a RoI read each), and channels c * PH*PW
 * + b of consecutive output channels c for the PS ops (bin b reads them).
 * The bin and sample geometry is then worked out once for four channels.
 * Lane j's dy is PH*PW floats after lane j-1's in both cases; its dx plane
 * is cstride planes after it (1, or PH*PW for PS).
 */
#define ROI_LANES CLNN_ROI_GPU_LANES

/* The lanes of a work-item: e = group * H*W + pixel within image n, group
 * = block of ROI_LANES channels (PS: (output channel block, bin)). */
typedef struct roi_lanes {
  int h, w, p; /* pixel */
  int oc0;     /* output channel of lane 0 (dy's channel) */
  int cin0;    /* input channel of lane 0 (dx's channel) */
  int cstride; /* input channels between lanes */
  int nl;      /* lanes that exist, 0 .. ROI_LANES (0: work-item past the end) */
  int b;       /* PS: the bin every lane feeds; -1: all bins */
} roi_lanes;

roi_lanes roi_lanes_of(size_t e, int C, int OC, int H, int W, int PHW, int ps) {
  roi_lanes l;
  const int HW = H * W;
  const int groups = ps ? (OC + ROI_LANES - 1) / ROI_LANES * PHW : (C + ROI_LANES - 1) / ROI_LANES;
  const bool live = e < (size_t)groups * HW;
  const int g = live ? (int)(e / HW) : 0;
  l.p = live ? (int)(e % HW) : 0;
  l.h = l.p / W;
  l.w = l.p % W;
  l.b = ps ? g % PHW : -1;
  l.oc0 = (ps ? g / PHW : g) * ROI_LANES;
  l.cin0 = ps ? l.oc0 * PHW + l.b : l.oc0;
  l.cstride = ps ? PHW : 1;
  l.nl = live ? min(ROI_LANES, (ps ? OC : C) - l.oc0) : 0;
  return l;
}

/* p[0], p[s], p[2s], p[3s] (DT) as floats, zeros past nl lanes (nothing read there). */
float4 roi_load_lanes(__global const STORE_T *p, size_t s, int nl) {
  return (float4)(LOAD1(p, 0), nl > 1 ? LOAD1(p, s) : 0.0f, nl > 2 ? LOAD1(p, 2 * s) : 0.0f,
                  nl > 3 ? LOAD1(p, 3 * s) : 0.0f);
}
int4 roi_load_lanes_int(__global const int *p, size_t s, int nl) {
  return (int4)(p[0], nl > 1 ? p[s] : -1, nl > 2 ? p[2 * s] : -1, nl > 3 ? p[3 * s] : -1);
}

/*
 * What one RoI of align geometry g gives the lanes' pixel (h, w): over the
 * bins (all of them, or bin b for PS), dy[bin] * wy * wx / count with wy,
 * wx the axes' summed sample weights. dyk: lane 0's dy bins of the RoI.
 */
float4 roi_align_pixel_grad(const roi_align_geom *g, __global const STORE_T *dyk, const roi_lanes *l, int H, int W,
                            int PH, int PW) {
  int ph0, ph1, pw0, pw1;
  if (l->b >= 0) {
    ph0 = ph1 = l->b / PW;
    pw0 = pw1 = l->b % PW;
  } else {
    roi_align_bin_range(g->start_h, g->bin_h, l->h, PH, &ph0, &ph1);
    roi_align_bin_range(g->start_w, g->bin_w, l->w, PW, &pw0, &pw1);
  }
  const size_t lane = (size_t)PH * PW;
  float4 sum = (float4)(0.0f);
  for (int ph = ph0; ph <= ph1; ph++) {
    float wy;
    if (!roi_axis_weight(g->start_h, g->bin_h, g->grid_h, ph, l->h, H, &wy)) continue;
    float4 row = (float4)(0.0f);
    bool hit = false;
    for (int pw = pw0; pw <= pw1; pw++) {
      float wx;
      if (!roi_axis_weight(g->start_w, g->bin_w, g->grid_w, pw, l->w, W, &wx)) continue;
      row = fma(roi_load_lanes(dyk + ph * PW + pw, lane, l->nl), (float4)(wx), row);
      hit = true;
    }
    if (hit) sum = fma((float4)(wy), row, sum);
  }
  return sum / g->count;
}

/* Write the lanes' gradients into dx (DT) of image n, each rounded once. */
void roi_store_lanes(__global STORE_T *dxn, const roi_lanes *l, int HW, float4 v) {
  __global STORE_T *at = dxn + (size_t)l->cin0 * HW + l->p;
  const size_t s = (size_t)l->cstride * HW;
  STORE1(v.x, at, 0);
  if (l->nl > 1) STORE1(v.y, at, s);
  if (l->nl > 2) STORE1(v.z, at, 2 * s);
  if (l->nl > 3) STORE1(v.w, at, 3 * s);
}

/*
 * roi_align_bwd_gpu: RoI align (ps = 0) or PS RoI align (ps = 1) backward.
 * Work-group: ROI_WG consecutive work-items of image n (see roi_lanes);
 * each adds, RoI by RoI in RoI order, what each RoI of image n gives its
 * lanes (roi_align_pixel_grad), and writes dx once. The RoIs' geometry and
 * pixel boxes are staged in local memory ROI_WG at a time.
 * Args: dy, rois, idx, dx; N, C, H, W, PH, PW, OC, scale, offset, min1,
 * SR, ps, groups (work-groups per image).
 * NDRange (groups * N * ROI_WG), local (ROI_WG).
 */
__kernel __attribute__((reqd_work_group_size(ROI_WG, 1, 1))) void roi_align_bwd_gpu(
    CTENSOR_DT(dy), CTENSOR(rois), CITENSOR(idx), TENSOR_DT(dx), const int N, const int C, const int H, const int W,
    const int PH, const int PW, const int OC, const float scale, const float offset, const int min1, const int SR,
    const int ps, const int groups) {
  __local roi_align_geom geo[ROI_WG];
  __local int4 box[ROI_WG];
  __local int roi_of[ROI_WG];
  const int lid = get_local_id(0), n = get_group_id(0) / groups, HW = H * W, PHW = PH * PW;
  const roi_lanes l = roi_lanes_of((size_t)(get_group_id(0) % groups) * ROI_WG + lid, C, OC, H, W, PHW, ps);
  __global const int *order = AT(idx) + N + 1;
  const int s_end = AT(idx)[n + 1];
  float4 acc = (float4)(0.0f);
  for (int s0 = AT(idx)[n]; s0 < s_end; s0 += ROI_WG) {
    const int cnt = min(ROI_WG, s_end - s0);
    if (lid < cnt) {
      const int k = order[s0 + lid];
      const roi_align_geom g = roi_align_geometry(AT(rois) + (size_t)k * 5, scale, offset, min1, PH, PW, SR);
      roi_of[lid] = k;
      geo[lid] = g;
      box[lid] = roi_align_box(&g, PH, PW, H, W);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int j = 0; l.nl > 0 && j < cnt; j++) {
      if (!roi_box_has(box[j], l.h, l.w)) continue;
      const roi_align_geom g = geo[j];
      acc += roi_align_pixel_grad(&g, AT(dy) + ((size_t)roi_of[j] * OC + l.oc0) * PHW, &l, H, W, PH, PW);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (l.nl > 0) roi_store_lanes(AT(dx) + (size_t)n * C * HW, &l, HW, acc);
}

/*
 * roi_pool_bwd_gpu: RoI pool (ps = 0) or PS RoI pool (ps = 1) backward,
 * shaped as roi_align_bwd_gpu. RoI pool: for each RoI of the image, the
 * bins whose cells hold the pixel add each lane's dy where that lane's
 * argmax is the pixel (an argmax outside its bin is no forward's;
 * roi_pool_bwd_strays adds those). PS RoI pool: bin b adds dy / area when
 * its cells (clipped to H-1, W-1) hold the pixel.
 * Args: dy, argmax (RoI pool), rois, idx, dx; N, C, H, W, PH, PW, OC,
 * scale, ps, groups. NDRange (groups * N * ROI_WG), local (ROI_WG).
 */
__kernel __attribute__((reqd_work_group_size(ROI_WG, 1, 1))) void roi_pool_bwd_gpu(
    CTENSOR_DT(dy), CITENSOR(argmax), CTENSOR(rois), CITENSOR(idx), TENSOR_DT(dx), const int N, const int C,
    const int H, const int W, const int PH, const int PW, const int OC, const float scale, const int ps,
    const int groups) {
  __local roi_pool_geom geo[ROI_WG];
  __local int4 box[ROI_WG];
  __local int roi_of[ROI_WG];
  const int lid = get_local_id(0), n = get_group_id(0) / groups, HW = H * W, PHW = PH * PW;
  const roi_lanes l = roi_lanes_of((size_t)(get_group_id(0) % groups) * ROI_WG + lid, C, OC, H, W, PHW, ps);
  __global const int *order = AT(idx) + N + 1;
  const int s_end = AT(idx)[n + 1];
  float4 acc = (float4)(0.0f);
  for (int s0 = AT(idx)[n]; s0 < s_end; s0 += ROI_WG) {
    const int cnt = min(ROI_WG, s_end - s0);
    if (lid < cnt) {
      const int k = order[s0 + lid];
      const roi_pool_geom g = roi_pool_geometry(AT(rois) + (size_t)k * 5, scale, ps ? 0 : 1, PH, PW);
      roi_of[lid] = k;
      geo[lid] = g;
      box[lid] = roi_pool_box(&g, PH, PW, H, W);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int j = 0; l.nl > 0 && j < cnt; j++) {
      if (!roi_box_has(box[j], l.h, l.w)) continue;
      const roi_pool_geom g = geo[j];
      const size_t base = ((size_t)roi_of[j] * OC + l.oc0) * PHW; /* lane 0's bins of dy (and argmax) */
      if (ps) {
        const int4 r = roi_pool_bin(&g, l.b / PW, l.b % PW, H - 1, W - 1);
        if (!roi_cell_in(r, l.h, l.w)) continue;
        const float area = (float)((r.s1 - r.s0) * (r.s3 - r.s2));
        acc += roi_load_lanes(AT(dy) + base + l.b, PHW, l.nl) / area;
        continue;
      }
      int ph0, ph1, pw0, pw1;
      roi_pool_bin_range(g.start_h, g.bin_h, l.h, PH, &ph0, &ph1);
      roi_pool_bin_range(g.start_w, g.bin_w, l.w, PW, &pw0, &pw1);
      for (int ph = ph0; ph <= ph1; ph++)
        for (int pw = pw0; pw <= pw1; pw++) {
          if (!roi_cell_in(roi_pool_bin(&g, ph, pw, H, W), l.h, l.w)) continue;
          const size_t at = base + ph * PW + pw;
          const int4 hit = roi_load_lanes_int(AT(argmax) + at, PHW, l.nl) == (int4)(l.p);
          acc += select((float4)(0.0f), roi_load_lanes(AT(dy) + at, PHW, l.nl), hit);
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (l.nl > 0) roi_store_lanes(AT(dx) + (size_t)n * C * HW, &l, HW, acc);
}

/*
 * roi_pool_bwd_strays: after roi_pool_bwd_gpu, the argmax entries that lie
 * in [0, H*W) but outside their bin (no forward writes them; the CPU
 * kernels and the reference add dy there all the same). Work-group (c, n)
 * checks the image's entries of channel c together (a tree OR in local
 * memory); only when one is found does work-item 0 add them, RoI by RoI
 * and bin by bin, to dx[n, c]: a fixed order, so the same bits every run.
 * Args: dy, argmax, rois, idx, dx; N, C, H, W, PH, PW, scale.
 * NDRange (C * N * ROI_WG), local (ROI_WG).
 */
/* The argmax of entry j (RoI order[s_begin + j / PHW], bin j % PHW) of channel c. */
int roi_pool_entry(__global const int *argmax, __global const int *order, int s_begin, int C, int c, int PHW, int j) {
  return argmax[((size_t)order[s_begin + j / PHW] * C + c) * PHW + j % PHW];
}

bool roi_pool_stray(__global const float *roi, float scale, int PH, int PW, int H, int W, int bin, int a) {
  if (a < 0 || a >= H * W) return false;
  const roi_pool_geom g = roi_pool_geometry(roi, scale, 1, PH, PW);
  return !roi_cell_in(roi_pool_bin(&g, bin / PW, bin % PW, H, W), a / W, a % W);
}

__kernel __attribute__((reqd_work_group_size(ROI_WG, 1, 1))) void roi_pool_bwd_strays(
    CTENSOR_DT(dy), CITENSOR(argmax), CTENSOR(rois), CITENSOR(idx), TENSOR_DT(dx), const int N, const int C,
    const int H, const int W, const int PH, const int PW, const float scale) {
  __local int found[ROI_WG];
  const int lid = get_local_id(0), c = get_group_id(0) % C, n = get_group_id(0) / C, PHW = PH * PW;
  __global const int *order = AT(idx) + N + 1;
  const int s_begin = AT(idx)[n], entries = (AT(idx)[n + 1] - s_begin) * PHW;
  int any = 0;
  for (int j = lid; j < entries; j += ROI_WG) {
    const int k = order[s_begin + j / PHW], bin = j % PHW;
    any |= roi_pool_stray(AT(rois) + (size_t)k * 5, scale, PH, PW, H, W, bin,
                          AT(argmax)[((size_t)k * C + c) * PHW + bin]);
  }
  found[lid] = any;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int width = ROI_WG / 2; width > 0; width >>= 1) {
    if (lid < width) found[lid] |= found[lid + width];
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (!found[0] || lid != 0) return;
  __global STORE_T *plane = AT(dx) + ((size_t)n * C + c) * H * W;
#if DT == CLNN_DTYPE_CODE_FLOAT32
  for (int j = 0; j < entries; j++) {
    const int k = order[s_begin + j / PHW], bin = j % PHW;
    const size_t at = ((size_t)k * C + c) * PHW + bin;
    const int a = AT(argmax)[at];
    if (roi_pool_stray(AT(rois) + (size_t)k * 5, scale, PH, PW, H, W, bin, a)) plane[a] += AT(dy)[at];
  }
#else
  /* A half dx holds the gather's sum already rounded: adding to it would
   * round twice. Each pixel a stray entry names is instead stored once
   * more from the float32 sum of every entry of the image and channel that
   * names it (in-bin and stray: what the gather added plus the strays), in
   * entry order; its first stray entry does it. Slow only when many
   * entries stray, which no forward produces. */
  for (int j = 0; j < entries; j++) {
    const int a = roi_pool_entry(AT(argmax), order, s_begin, C, c, PHW, j);
    if (!roi_pool_stray(AT(rois) + (size_t)order[s_begin + j / PHW] * 5, scale, PH, PW, H, W, j % PHW, a)) continue;
    bool first = true;
    for (int e = 0; first && e < j; e++)
      first = roi_pool_entry(AT(argmax), order, s_begin, C, c, PHW, e) != a ||
              !roi_pool_stray(AT(rois) + (size_t)order[s_begin + e / PHW] * 5, scale, PH, PW, H, W, e % PHW, a);
    if (!first) continue;
    float sum = 0.0f;
    for (int e = 0; e < entries; e++) {
      const size_t at = ((size_t)order[s_begin + e / PHW] * C + c) * PHW + e % PHW;
      if (AT(argmax)[at] == a) sum += LOAD1(AT(dy), at);
    }
    STORE1(sum, plane, a);
  }
#endif
}

#endif /* ROI_WG */
