/*
 * gemm_gpu.h - the GPU-class GEMM engine: one tiled kernel body that serves a
 * plain (batched) GEMM (gemm_gpu.cl) and the implicit GEMMs of convolution
 * (conv/implicit_gemm_gpu.cl; each program is this header, then its file),
 * whose operands are gathered from the tensors while a tile is staged, never materialised.
 *
 * C (M x N) = epilogue(A (M x K) * B (K x N)). Tiling (docs/DESIGN.md, "Kernels on GPU
 * devices", "Tiled GEMM"): a work-group of GG_NDIM x GG_MDIM work-items owns a GG_MWG x GG_NWG
 * tile of C and walks K in slices of GG_KWG. Each slice of A and B is read
 * from global memory into registers (the next slice while the current one is
 * multiplied, hiding the latency), stored to local memory, and each
 * work-item accumulates GG_MWI x GG_NWI outputs from it: rows ty + GG_MDIM*i
 * and columns tx + GG_NDIM*j, so that neighbouring work-items hold
 * neighbouring columns (coalesced stores, conflict-free local reads). Local
 * rows are padded by one float: the loads that run along K store down a
 * column.
 *
 * How a work-item loads its share of a slice: element e = t + WG*l (l <
 * LOADS) of the slice, t the flat local id. An operand loaded "along K"
 * (GG_A_ALONG_K / GG_B_ALONG_K) has consecutive work-items on consecutive k
 * (row-major A, K-contiguous operands: coalesced), otherwise on consecutive m
 * or n. Either way the m (or n) of load slot l never changes while K is
 * walked, so each slot decodes its row or column once (the conv loaders
 * turn n into an image and a pixel there), and only the k part is decoded
 * per slice.
 *
 * Modes (GG_MODE, the CLNN_GG_* codes of kernels/shared.h):
 *  GEMM: A (trans or not), B (trans or not), batched over the NDRange's
 *    third axis with two strides, C = act(alpha AB + beta C + bias[row]).
 *  CONV_FWD: A = weights [G][Kg][Cg*KH*KW], B = patches of x (im2col on
 *    the fly), columns = (image, output pixel), one group per third-axis
 *    index; y = act(AB + bias).
 *  CONV_BWD_DATA: A = the weights transposed per group, [G][Cg][Kg*KH*KW]
 *    (conv_gpu_pack_wt), B = dy gathered at the output pixels each input
 *    pixel feeds (stride divisibility checked), columns = (image, input
 *    pixel); dx = act(AB + bias) (bias and act: the transposed convolution).
 *  CONV_BWD_WEIGHTS: rows = output channels, columns = (c, kh, kw), K =
 *    (image, output pixel), split into GG_SPLIT-free slices: each work-group
 *    of the third axis (split s, group g) sums its range of K into its own
 *    partial tile; gemm_gpu_sum_splits adds the partials in split order.
 *
 * Parameters (-D): GG_MWG GG_NWG GG_KWG GG_MDIM GG_NDIM (tile and work-group;
 * the host checks the divisibility below), GG_MODE, and per mode GG_A_TRANS
 * GG_B_TRANS (0), GG_KH GG_KW GG_SH GG_SW GG_DH GG_DW (1-3), HAS_BIAS, ACT.
 */
#ifndef GG_MWG
#define GG_MWG 64
#endif
#ifndef GG_NWG
#define GG_NWG 64
#endif
#ifndef GG_KWG
#define GG_KWG 16
#endif
#ifndef GG_MDIM
#define GG_MDIM 16
#endif
#ifndef GG_NDIM
#define GG_NDIM 16
#endif
#ifndef GG_MODE
#define GG_MODE CLNN_GG_GEMM
#endif
#ifndef HAS_BIAS
#define HAS_BIAS 0
#endif

#define GG_WG (GG_MDIM * GG_NDIM)
#define GG_MWI (GG_MWG / GG_MDIM)
#define GG_NWI (GG_NWG / GG_NDIM)
#define GG_LOADS_A (GG_MWG * GG_KWG / GG_WG)
#define GG_LOADS_B (GG_KWG * GG_NWG / GG_WG)

/* Which operand is loaded along K (see above). */
#if GG_MODE == CLNN_GG_GEMM
#define GG_A_ALONG_K (!GG_A_TRANS)
#define GG_B_ALONG_K (GG_B_TRANS)
#elif GG_MODE == CLNN_GG_CONV_BWD_WEIGHTS
#define GG_A_ALONG_K 1
#define GG_B_ALONG_K 1
#else
#define GG_A_ALONG_K 1
#define GG_B_ALONG_K 0
#endif

/* Slot l's element of the slice: (row or column, k) within the tile. */
#define GG_A_ROW(t, l) (GG_A_ALONG_K ? ((t) + GG_WG * (l)) / GG_KWG : ((t) + GG_WG * (l)) % GG_MWG)
#define GG_A_K(t, l) (GG_A_ALONG_K ? ((t) + GG_WG * (l)) % GG_KWG : ((t) + GG_WG * (l)) / GG_MWG)
#define GG_B_COL(t, l) (GG_B_ALONG_K ? ((t) + GG_WG * (l)) / GG_KWG : ((t) + GG_WG * (l)) % GG_NWG)
#define GG_B_K(t, l) (GG_B_ALONG_K ? ((t) + GG_WG * (l)) % GG_KWG : ((t) + GG_WG * (l)) / GG_NWG)

/* The multiply of one staged slice into the register block. */
#define GG_MULTIPLY_SLICE(As, Bs, acc, tx, ty)                                  \
  do {                                                                          \
    _Pragma("unroll") for (int k_ = 0; k_ < GG_KWG; k_++) {                     \
      float a_[GG_MWI], b_[GG_NWI];                                             \
      _Pragma("unroll") for (int i_ = 0; i_ < GG_MWI; i_++) a_[i_] = As[k_][(ty) + GG_MDIM * i_]; \
      _Pragma("unroll") for (int j_ = 0; j_ < GG_NWI; j_++) b_[j_] = Bs[k_][(tx) + GG_NDIM * j_]; \
      _Pragma("unroll") for (int i_ = 0; i_ < GG_MWI; i_++)                     \
        _Pragma("unroll") for (int j_ = 0; j_ < GG_NWI; j_++)                   \
          acc[i_][j_] = fma(a_[i_], b_[j_], acc[i_][j_]);                       \
    }                                                                           \
  } while (0)

/* Store the registers of one slice into the local tiles. */
#define GG_STAGE(As, Bs, ra, rb, t)                                                              \
  do {                                                                                           \
    _Pragma("unroll") for (int l_ = 0; l_ < GG_LOADS_A; l_++) As[GG_A_K(t, l_)][GG_A_ROW(t, l_)] = ra[l_]; \
    _Pragma("unroll") for (int l_ = 0; l_ < GG_LOADS_B; l_++) Bs[GG_B_K(t, l_)][GG_B_COL(t, l_)] = rb[l_]; \
  } while (0)

/*
 * The tile loop every mode shares: LOAD_SLICE(k0) fills ra[] and rb[] with
 * the slice starting at k0 (zeros outside the matrices), the loop runs over
 * [k_begin, k_end) and leaves the products in acc.
 */
#define GG_TILE_LOOP(k_begin, k_end, LOAD_SLICE)                                 \
  __local float As[GG_KWG][GG_MWG + 1];                                          \
  __local float Bs[GG_KWG][GG_NWG + 1];                                          \
  float acc[GG_MWI][GG_NWI];                                                     \
  _Pragma("unroll") for (int i_ = 0; i_ < GG_MWI; i_++)                          \
    _Pragma("unroll") for (int j_ = 0; j_ < GG_NWI; j_++) acc[i_][j_] = 0.0f;    \
  float ra[GG_LOADS_A], rb[GG_LOADS_B];                                          \
  if ((k_begin) < (k_end)) LOAD_SLICE(k_begin);                                  \
  for (int k0_ = (k_begin); k0_ < (k_end); k0_ += GG_KWG) {                      \
    barrier(CLK_LOCAL_MEM_FENCE);                                                \
    GG_STAGE(As, Bs, ra, rb, t);                                                 \
    barrier(CLK_LOCAL_MEM_FENCE);                                                \
    if (k0_ + GG_KWG < (k_end)) LOAD_SLICE(k0_ + GG_KWG);                        \
    GG_MULTIPLY_SLICE(As, Bs, acc, tx, ty);                                      \
  }
