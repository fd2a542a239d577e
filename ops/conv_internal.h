/*
 * conv_internal.h - the convolution's forward and building blocks
 * (ops/conv.c) and its GPU-class kernels (ops/conv_gpu.c): what the
 * backward passes (ops/conv_bwd.c, whose entry points are in
 * ops/conv_bwd.h), the sub-pixel rewrite (ops/subpixel.h) and the
 * transposed convolution build on instead of copying the math.
 *
 * The *_run functions take a descriptor already validated with
 * clnn__conv2d_desc_check, and raw (cl_mem, element offset) operands whose sizes
 * the caller has checked. They only enqueue. They use the context's shared
 * workspace, so a caller must not hold workspace data across them.
 */
#ifndef CLNN_OPS_CONV_INTERNAL_H
#define CLNN_OPS_CONV_INTERNAL_H

#include "../desc/desc.h"

/* The source list (clnn__kernel) of a CPU-class convolution program: the
 * helpers of kernels/conv/common.h, then kernels/conv/<file>.cl. */
#define CLNN_CONV_SOURCES(file) "conv/common.h conv/" file

/* An operand: a buffer and an element offset into it; mem NULL = absent. */
typedef struct clnn_conv_mem {
  cl_mem mem;
  size_t off;
} clnn_conv_mem;

static inline clnn_conv_mem clnn__conv_mem(const clnn_tensor *t) {
  clnn_conv_mem m = {clnn__mem(t), (size_t)clnn__off(t)};
  return m;
}

/* The operand moved on by elems elements. */
static inline clnn_conv_mem clnn__conv_mem_at(clnn_conv_mem m, int64_t elems) {
  m.off += (size_t)elems;
  return m;
}

#define CLNN_ARG_CONV_MEM(m) CLNN_ARG_MEM((m).mem), CLNN_ARG_U64((m).off)

/* Shapes the variants test for (d validated). */
static inline bool clnn__conv_is_depthwise(const clnn_conv2d_desc *d) { return d->groups == d->c && d->k % d->c == 0; }
static inline bool clnn__conv_is_stride1(const clnn_conv2d_desc *d) { return d->stride_h == 1 && d->stride_w == 1; }
static inline bool clnn__conv_is_1x1_plain(const clnn_conv2d_desc *d) {
  return d->kh == 1 && d->kw == 1 && clnn__conv_is_stride1(d) && d->pad_h == 0 && d->pad_w == 0;
}

/* ------------------------------------------------------------ entry points */

/* y = act(conv(x, w) + b); b.mem may be NULL. */
clnn_status clnn__conv2d_fwd_run(clnn_context *ctx, const clnn_conv2d_desc *d, clnn_conv_mem x, clnn_conv_mem w,
                                 clnn_conv_mem b, clnn_conv_mem y);

/* The algorithm the forward picks for a validated descriptor. */
clnn_conv_algo clnn__conv2d_fwd_algo(const clnn_context *ctx, const clnn_conv2d_desc *d);

/* ----------------------------------------------- building blocks (ops only) */

/* Scratch of one chunk of images (patches, padded planes): small enough to
 * stay in the last-level cache between the kernel writing it and the next
 * reading it. */
#define CLNN_CONV_CHUNK_BYTES ((size_t)8 << 20)

/* Everything the launches need, derived once from a descriptor. */
typedef struct clnn_conv_geom {
  const clnn_conv2d_desc *d;
  int64_t oh, ow;
  int64_t cg, kg; /* channels per group, in and out */
  int64_t kd;     /* GEMM depth: cg * kh * kw */
  int64_t npix;   /* oh * ow */
  /* The tensors' storage type: CLNN_FLOAT32 (clnn__conv_geometry's), or
   * float16 / bfloat16 for the variants that take half tensors directly
   * (their variant-table rule, clnn_conv_half_rule). */
  clnn_dtype dt;
} clnn_conv_geom;

clnn_conv_geom clnn__conv_geometry(const clnn_conv2d_desc *d, int64_t oh, int64_t ow);

/*
 * How a variant takes float16 and bfloat16 tensors, one rule per entry of
 * the variant tables: NULL, or false for g, means staged (ops/conv_half.c:
 * float32 copies around the float32 variant); true means the variant runs
 * on the half tensors themselves (g->dt set to their type): its kernels
 * load the storage type, compute as in float32 and round once on store, so
 * the result is the staged one without the copies. The depthwise variants
 * do: they are memory-bound, and the copies cost more than the kernels.
 */
typedef bool (*clnn_conv_half_rule)(const clnn_conv_geom *g);
/* The rule of a variant that takes every half problem it applies to. */
bool clnn__conv_half_direct(const clnn_conv_geom *g);

/* " -DDT=<code>" for a half type, "" for float32 (whose programs stay the
 * ones built without it). */
const char *clnn__conv_dt_option(clnn_dtype dt);

/* Zero-padded planes for stride-1 shifted reads: width w + 2*pad_w and
 * enough rows that reads of the last 32-pixel tile stay inside. */
typedef struct clnn_conv_planes {
  int64_t wp, hp, plane;
} clnn_conv_planes;
clnn_conv_planes clnn__conv_planes(const clnn_conv_geom *g);

/* conv_pad: copy nplanes planes of h x w from src into ws at element ws_off
 * as hp x wp planes, data at (pad_h, pad_w), zeros around (pads >= 0). */
clnn_status clnn__conv_pad(clnn_context *ctx, clnn_conv_mem src, int64_t nplanes, int64_t h, int64_t w,
                           cl_mem ws, int64_t ws_off, const clnn_conv_planes *pp, int64_t pad_h, int64_t pad_w,
                           const char *op);

/* conv_im2col of images img0 .. img0+nimg-1 of x into col (from its element offset),
 * one matrix per (image, group), in one of three layouts. */
enum { CLNN_COL_ROWMAJOR = 0, CLNN_COL_PANELS = 1, CLNN_COL_TRANSPOSED = 2 };
clnn_status clnn__conv_im2col(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem x, clnn_conv_mem col, int layout,
                             int64_t img0, int64_t nimg, const char *op);

/* The direct depthwise kernels (conv_dw_fwd, conv_dw_bwd_data,
 * conv_dw_bwd_weights) share one program per kernel size and stride; their
 * private buffers are sized from the descriptor and rounded up so that
 * similar problems share the program too. */
typedef struct clnn_conv_dw_geom {
  int64_t rowlen; /* DWB_ROWLEN: private row length, a multiple of 64 * stride_w */
  int64_t ring;   /* DWB_RING: rows of the private ring, a power of two */
  int64_t nstrip; /* 16-wide strips of an output row */
} clnn_conv_dw_geom;
clnn_conv_dw_geom clnn__conv_dw_geometry(const clnn_conv2d_desc *d, int64_t ow);
/* Whether the private buffers fit (else the GEMM paths run depthwise problems too). */
bool clnn__conv_dw_fits(const clnn_conv2d_desc *d, int64_t ow);
/* Kernel name of the depthwise program for d with activation act (the
 * epilogue), for tensors of type dt. */
clnn_status clnn__conv_dw_kernel(clnn_context *ctx, const clnn_conv2d_desc *d, const clnn_conv_dw_geom *b,
                                 clnn_dtype dt, clnn_activation act, float act_alpha, const char *name,
                                 clnn_kernel_ref *k);

/* The flat depthwise kernels (conv_dwf_fwd, conv_dwf_bwd_data,
 * conv_dwf_bwd_weights in kernels/conv/depthwise_flat.cl) for small planes: each buffer
 * fill holds the zero-padded (phase-split) planes of g images as one flat
 * array, and every tap is one shift of the flat output position. */
typedef struct clnn_conv_dwf_geom {
  int64_t g;      /* images per buffer fill */
  int64_t hs, ws; /* rows and row stride of one image's plane (per phase) */
  int64_t phs;    /* floats per phase in the buffer (bwd_data: floats to clear) */
  int64_t nq;     /* flat positions computed per fill: a multiple of 64, >= g * hs * ws */
  int64_t buf;    /* DWF_BUF: floats of each private buffer, a size class */
  int64_t pt, pl; /* bwd_data: row and column of dy's first element in its plane */
} clnn_conv_dwf_geom;
/* Whether the depthwise pass runs the flat kernels (small planes) rather
 * than the strip kernels; fills *f when it does. */
bool clnn__conv_dw_flat(const clnn_conv2d_desc *d, int64_t oh, int64_t ow, bool bwd_data, clnn_conv_dwf_geom *f);
/* Kernel name of the flat depthwise program for d with activation act, for
 * tensors of type dt. */
clnn_status clnn__conv_dwf_kernel(clnn_context *ctx, const clnn_conv2d_desc *d, const clnn_conv_dwf_geom *f,
                                  clnn_dtype dt, clnn_activation act, float act_alpha, const char *name,
                                  clnn_kernel_ref *k);

/* The chunked 1x1 kernels (kernels/conv/gemm_1x1.cl conv_1x1_gemm, conv_1x1_bwdw):
 * planes cut into 16-pixel chunks, so planes of any size >= 16 fill the
 * vectors. Whether they run for d (own engine, groups 1, 1x1, stride 1, no
 * padding, 16 <= h*w). */
bool clnn__conv_1x1_chunked(const clnn_context *ctx, const clnn_conv2d_desc *d);
/* y[img] (m x hw) = act(A x[img] + bias) for n images, A = w (k x c
 * weights: trans 0, m = k, kd = c) or w^T (trans 1, m = c, kd = k). */
clnn_status clnn__conv_1x1_gemm(clnn_context *ctx, int64_t n, int64_t m, int64_t kd, int64_t hw, clnn_conv_mem w,
                                bool trans, clnn_conv_mem bias, clnn_activation act, float act_alpha,
                                clnn_conv_mem x, clnn_conv_mem y, const char *op);

/* Pick images per chunk so that per_image elements (plus fixed) fit both
 * budget bytes and the workspace limit; UNSUPPORTED if one image does not. */
clnn_status clnn__conv_chunk(clnn_context *ctx, int64_t n, int64_t per_image, int64_t fixed, size_t budget,
                             const char *what, int64_t *chunk);

/*
 * A forward convolution as the planner sees it: the geometry, and whether
 * w holds the weights of the convolution g is the transpose of (shape (c,
 * k/groups, kh, kw) in g's terms, flipped in space). bwd_data's stride-1
 * route and the transposed convolution plan their work as such forwards.
 */
typedef struct clnn_conv_fwd_problem {
  const clnn_conv_geom *g;
  bool transposed_w;
} clnn_conv_fwd_problem;

/* Whether the variant planned for p runs its half tensors directly (its
 * rule); true for float32 problems. */
bool clnn__conv_fwd_half_direct(const clnn_context *ctx, const clnn_conv_fwd_problem *p);

/* Plan (ops/conv.c's variant table) and run the forward problem p; a half
 * p (p->g->dt) only where clnn__conv_fwd_half_direct says so. */
clnn_status clnn__conv_fwd_problem_run(clnn_context *ctx, const clnn_conv_fwd_problem *p, clnn_conv_mem x,
                                       clnn_conv_mem w, clnn_conv_mem b, clnn_conv_mem y, const char *op);

/* ---------------------------------------------- Winograd (conv_winograd.c) */

/* Whether conv.fwd.winograd takes g (3x3, stride 1, dilation 1, one group,
 * float32, the own engine, workspace for one image's tiles); false with a
 * reason. Whether it wins is the variant table's rule (ops/conv.c). */
bool clnn__conv_winograd_applies(const clnn_context *ctx, const clnn_conv_geom *g, char *why, size_t n);
/* The same for conv.bwd_w.winograd. */
bool clnn__conv_winograd_bwd_weights_applies(const clnn_context *ctx, const clnn_conv_geom *g, char *why, size_t n);
/* dw (+)= the weight gradient by Winograd's F(3 x 3, m x m) (kernels/conv/winograd.cl). */
clnn_status clnn__conv_winograd_bwd_weights(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem x,
                                            clnn_conv_mem dy, clnn_conv_mem dw, bool accumulate);
/* The forward by Winograd's F(m x m, 3 x 3), plain or transposed weights. */
clnn_status clnn__conv_winograd_fwd(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                    bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op);

/* ------------------------------------------- GPU-class variants (conv_gpu.c) */

/* Whether the device takes kernels/gemm_gpu.h's smallest tile (work-group
 * size and local memory); false with a reason. */
bool clnn__conv_gpu_gemm_fits(const clnn_context *ctx, char *why, size_t n);
/* Whether the depthwise GPU kernels take d; false with a reason. */
bool clnn__conv_gpu_dw_applies(const clnn_context *ctx, const clnn_conv2d_desc *d, char *why, size_t n);
/* The passes as implicit GEMMs (plain weights only for the forward). */
clnn_status clnn__conv_gpu_fwd(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                               bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op);
clnn_status clnn__conv_gpu_bwd_data(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem dy, clnn_conv_mem w,
                                    clnn_conv_mem bias, clnn_activation act, float act_alpha, clnn_conv_mem dx);
clnn_status clnn__conv_gpu_bwd_weights(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem x, clnn_conv_mem dy,
                                       clnn_conv_mem dw, bool accumulate);
/* The depthwise passes, one output element per work-item (weights: a
 * work-group tree per output channel). */
clnn_status clnn__conv_gpu_dw_fwd(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem x, clnn_conv_mem w,
                                  bool transposed_w, clnn_conv_mem b, clnn_conv_mem y, const char *op);
clnn_status clnn__conv_gpu_dw_bwd_data(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem dy,
                                       clnn_conv_mem w, clnn_conv_mem bias, clnn_activation act, float act_alpha,
                                       clnn_conv_mem dx);
clnn_status clnn__conv_gpu_dw_bwd_weights(clnn_context *ctx, const clnn_conv_geom *g, clnn_conv_mem x,
                                          clnn_conv_mem dy, clnn_conv_mem dw, bool accumulate);
/* The bias gradient, a work-group tree per output channel. */
clnn_status clnn__conv_gpu_bwd_bias(clnn_context *ctx, const clnn_conv2d_desc *d, int64_t npix, clnn_conv_mem dy,
                                    clnn_conv_mem db, bool accumulate);

/* ------------------------------------- half-precision staging (conv_half.c) */

/* The float32 copies of one half-precision pass's tensors, in the outer
 * workspace (or the stage workspace): inputs widened before the pass,
 * outputs rounded after it. */
typedef struct clnn_conv_stage {
  clnn_dtype dt;  /* the tensors' type: CLNN_FLOAT16 or CLNN_BFLOAT16 */
  cl_mem ws;      /* the outer (or the stage) workspace */
  int64_t used;   /* floats handed out so far */
  const char *op; /* the profile's name of the staging launches */
} clnn_conv_stage;

/* Reserve room for float32 copies of the count tensors (NULL ones take none);
 * every later stage call takes one of them, in any order. */
clnn_status clnn__conv_stage_begin(clnn_context *ctx, clnn_dtype dt, const clnn_tensor *const *tensors, int count,
                                   const char *op, clnn_conv_stage *s);
/* The same in the context's stage workspace (clnn__stage_workspace), for a
 * caller whose float32 pass uses the outer workspace itself (deconv). */
clnn_status clnn__conv_stage_begin_apart(clnn_context *ctx, clnn_dtype dt, const clnn_tensor *const *tensors,
                                         int count, const char *op, clnn_conv_stage *s);
/* A float32 copy of t (t NULL: an absent operand, {NULL, 0}). */
clnn_status clnn__conv_stage_in(clnn_context *ctx, clnn_conv_stage *s, const clnn_tensor *t, clnn_conv_mem *out);
/* A float32 slot the size of t, for the pass to write. */
clnn_conv_mem clnn__conv_stage_out(clnn_conv_stage *s, const clnn_tensor *t);
/* t = f32 rounded to t's type, once. */
clnn_status clnn__conv_stage_round(clnn_context *ctx, const clnn_conv_stage *s, clnn_conv_mem f32, clnn_tensor *t);

#endif /* CLNN_OPS_CONV_INTERNAL_H */
