/*
 * optim.cl - optimizer steps over lists of tensors: Adam / AdamW, SGD with
 * momentum, the parameter EMA, and the gradient utilities behind gradient
 * clipping and the non-finite check (ops/optim.c drives them).
 *
 * One launch covers every tensor of a list whose tensors of each role
 * (parameter, gradient, moments, ...) live in one buffer (views into an
 * arena, or a single tensor), and up to SETS such groups of buffers: each
 * role is passed as SETS buffer arguments (name0 .. name7, NULL when
 * unused), and each tensor says which set holds it. The host cuts every
 * tensor into blocks of BLOCK elements (a tensor's last block may be
 * shorter; a block never spans two tensors) and describes the tensors in a
 * segment table, one row of SEG_ROW ulongs per tensor:
 *   row[0]       the tensor's first block in this launch (rows ascend)
 *   row[1]       its length in elements
 *   row[2]       its first slot in the per-block outputs (flags, partial
 *                sums), numbered over the whole call in list order so that
 *                reductions do not depend on how tensors share buffers
 *   row[3]       its buffer set, 0 .. SETS-1
 *   row[4 + r]   element offset of role r's tensor in role r's buffer
 * Work-group b owns block b: it finds its row by binary search (a few
 * steps over a table that stays in cache) and updates the block.
 *
 * Build options (every kernel):
 *   OPT    which kernels to compile: CLNN_OPTIM_ADAM, _SGD, _EMA, _CLIP
 *          (gradient utilities; kernels/shared.h): one option set builds
 *          only what a call needs
 *   GPU_SHAPE  0 (default) = CPU shape, the optim.*.vec16 variants: WG is
 *          1, one work-item owns a block and walks it with float16
 *          (PoCL gives 512-bit registers only to float16; float4 is not
 *          widened); its tail goes element by element.
 *          1 = GPU shape, the optim.*.gpu_vec4 variants: the WG work-items
 *          of a group walk the block one float4 each per step, neighbours
 *          on neighbouring float4s (coalesced; docs/DESIGN.md,
 *          "Kernels on GPU devices"), then the block's n % 4 tail element by element. Where the
 *          row's offsets are all multiples of 4 (16-byte aligned: buffers
 *          start aligned) the float4s are loaded as such, else with vload4
 *          (4-byte alignment); which elements a work-item owns is the same
 *          either way, so reductions give the same bits for every layout.
 *   WG     work-group size (1 in the CPU shape; a power of two in the GPU
 *          shape: the tree reductions halve it)
 *   BLOCK  elements per block (a multiple of 16, and of 4 * WG)
 * The buffer sets per launch (SETS) and the table's row (SEG_ROW) are
 * kernels/shared.h's.
 * Kernel-specific options are listed above each kernel. The arithmetic is
 * PyTorch's formula with scalars the host computes in double (bias
 * corrections, step size, 1 - lr * wd) and rounds to float once.
 */
#ifndef OPT
#define OPT CLNN_OPTIM_ADAM
#endif
#ifndef GPU_SHAPE
#define GPU_SHAPE 0
#endif

#define SETS CLNN_OPTIM_SETS
#if SETS != 8
#error "the SET_ARGS / SET_PICK macros spell out 8 sets"
#endif
#define SEG_ROW CLNN_OPTIM_SEG_ROW
#if CLNN_OPTIM_ROLES != 6
#error "the GPU shape's row_aligned test spells out the 6 roles' offsets"
#endif

/* A role's SETS buffer arguments, and the one a row's set index picks. */
#define SET_ARGS(T, name) T name##0, T name##1, T name##2, T name##3, T name##4, T name##5, T name##6, T name##7
#define SET_PICK(name, s)                                                                          \
  ((s) == 0 ? name##0 : (s) == 1 ? name##1 : (s) == 2 ? name##2 : (s) == 3 ? name##3 : (s) == 4 ? name##4 \
   : (s) == 5 ? name##5 : (s) == 6 ? name##6 : name##7)

/* The table row of the tensor that holds block blk (rows ascend in row[0]). */
inline __global const ulong *segment_row(__global const ulong *seg, const int nseg, const ulong blk) {
  int lo = 0, hi = nseg - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (seg[(size_t)mid * SEG_ROW] <= blk) lo = mid;
    else hi = mid - 1;
  }
  return seg + (size_t)lo * SEG_ROW;
}

/*
 * Common prologue: this work-group's block -> its row, the block's first
 * element within the tensor (start), its length (n) and its output slot;
 * in the GPU shape also row_aligned: whether every role's tensor of the row
 * starts 16-byte aligned (unused roles have offset 0, start is a multiple
 * of BLOCK), uniform over the work-group so the float32 LOADV / STOREV never diverge.
 */
#define BLOCK_PROLOGUE_ROW                                               \
  const ulong blk = get_group_id(0);                                     \
  __global const ulong *row = segment_row(seg_base + seg_off, nseg, blk); \
  const ulong start = (blk - row[0]) * (ulong)BLOCK;                     \
  const int n = (int)min((ulong)BLOCK, row[1] - start);                  \
  const ulong slot = row[2] + (blk - row[0]);                            \
  (void)slot
#if GPU_SHAPE
#define BLOCK_PROLOGUE \
  BLOCK_PROLOGUE_ROW;  \
  const bool row_aligned = ((row[4] | row[5] | row[6] | row[7] | row[8] | row[9]) & 3) == 0
#define BLOCK_PROLOGUE_LANEWISE BLOCK_PROLOGUE
#else
/* bf16_pairs: every bfloat16 role of the row starts at an even element
 * (4-byte aligned: start is a multiple of BLOCK), see bf16_load16_pairs. */
#define BF16_ODD(r, dt) ((dt) == CLNN_DTYPE_CODE_BFLOAT16 ? row[4 + (r)] & 1 : 0)
#define BLOCK_PROLOGUE_PAIRS(lanewise)                                                                   \
  BLOCK_PROLOGUE_ROW;                                                                                    \
  const bool bf16_pairs = (BF16_ODD(CLNN_OPTIM_ROLE_P, PDT) | BF16_ODD(CLNN_OPTIM_ROLE_G, GDT) |         \
                           BF16_ODD(CLNN_OPTIM_ROLE_M, SDT) | BF16_ODD(CLNN_OPTIM_ROLE_V, SDT) |         \
                           BF16_ODD(CLNN_OPTIM_ROLE_X, SDT) | BF16_ODD(CLNN_OPTIM_ROLE_C, CDT)) == 0;    \
  const bool pair_order = (lanewise) && ANY_BF16 && bf16_pairs;                                          \
  (void)bf16_pairs;                                                                                      \
  (void)pair_order
/* The reductions keep element order in their lanes (the sum's order, hence
 * its bits, must not depend on the tensors' alignment); the lane-wise
 * updates may run in pair order (see bf16_load16_po). */
#define BLOCK_PROLOGUE BLOCK_PROLOGUE_PAIRS(false)
#define BLOCK_PROLOGUE_LANEWISE BLOCK_PROLOGUE_PAIRS(true)
#endif
#define ROLE_PTR(name, r) (SET_PICK(name, row[3]) + row[4 + (r)] + start)

/* The segment table argument: buffer, first row of this launch, row count. */
#define SEG_ARGS __global const ulong *restrict seg_base, const ulong seg_off, const int nseg

/*
 * Storage types. Each role's tensors have one type per launch, a build
 * option holding its clnn_dtype code (kernels/shared.h: 0 float32,
 * 2 float16, 3 bfloat16):
 *   PDT  role P (the master parameter of a step: float32; the EMA)
 *   GDT  role G (the gradient; the EMA's parameter)
 *   SDT  roles M, V, X (optimizer state: float32 or bfloat16)
 *   CDT  role C (the model copy a step writes; float16 or bfloat16)
 * Every value is converted to float on load and the math is float32; a
 * store rounds once, to nearest even (kernels/common.h's conversions).
 * ELEM(dt) is the element type in memory; LOADV / STOREV move one vector of
 * the shape (below) at an element pointer, LOADS / STORES element j.
 */
#ifndef PDT
#define PDT 0
#endif
#ifndef GDT
#define GDT 0
#endif
#ifndef SDT
#define SDT 0
#endif
#ifndef CDT
#define CDT 0
#endif
/* Whether any role is bfloat16 (the CPU shape's pair order applies only then). */
#define ANY_BF16 (PDT == CLNN_DTYPE_CODE_BFLOAT16 || GDT == CLNN_DTYPE_CODE_BFLOAT16 || \
                  SDT == CLNN_DTYPE_CODE_BFLOAT16 || CDT == CLNN_DTYPE_CODE_BFLOAT16)
#define OPT_CAT_(a, b) a##b
#define OPT_CAT(a, b) OPT_CAT_(a, b)
#define ELEM_0 float
#define ELEM_2 half
#define ELEM_3 ushort
#define ELEM(dt) OPT_CAT(ELEM_, dt)
#define LOADS(dt, p, j) OPT_CAT(LOADS_, dt)((p), (j))
#define STORES(dt, v, p, j) OPT_CAT(STORES_, dt)((v), (p), (j))
#define LOADV(dt, p) OPT_CAT(LOADV_, dt)(p)
#define STOREV(dt, v, p) OPT_CAT(STOREV_, dt)((v), (p))
#define LOADS_0(p, j) ((p)[j])
#define STORES_0(v, p, j) ((p)[j] = (v))
#define LOADS_2(p, j) vload_half((j), (p))
#define STORES_2(v, p, j) vstore_half_rte((v), (j), (p))
#define LOADS_3(p, j) as_float((uint)(p)[j] << 16)
#define STORES_3(v, p, j) ((p)[j] = (ushort)bf16_round1(v))

/*
 * Element loops and their vectors. VEC_LOOP walks whole vectors of type VT
 * (LOADV / STOREV at an element pointer), TAIL_LOOP the rest one element at
 * a time. CPU shape: float16 from the block's start, then the tail. GPU
 * shape: work-item l takes float4 number l, l + WG, ... of the block (the
 * same elements whatever the alignment, see the header), then the n % 4
 * tail goes to the first work-items. Half types need only 2-byte alignment
 * (vload_half, ushort vectors); float32 takes the aligned float4 path when
 * the row allows it.
 */
#if !GPU_SHAPE
/*
 * bfloat16 in the CPU shape: PoCL widens and narrows a ushort16 element by
 * element, which made a bfloat16 Adam state slower than a float32 one. Where
 * the block's bfloat16 tensors start 4-byte aligned (bf16_pairs, from the
 * row's offsets) 16 values move as 8 uints instead: the low halves are the
 * even elements, the high halves the odd ones.
 *
 * Pair order (pair_order: the lane-wise updates, Adam, SGD, EMA and the
 * gradient scale, when a role is bfloat16 and bf16_pairs holds): lanes 0-7
 * hold the vector's even elements, lanes 8-15 its odd ones, for EVERY role.
 * A bfloat16 vector then loads and stores with a shift and a mask, and
 * only float32 and float16 roles are permuted (one shuffle each way); the
 * update is lane by lane, so every element gets the same bits as in element
 * order. The reductions (non-finite check, norm) use element order: their
 * bfloat16 pairs are interleaved back (bf16_load16_pairs).
 */
inline float16 bf16_load16_po(__global const ushort *p) {
  const uint8 u = vload8(0, (__global const uint *)p);
  return (float16)(as_float8(u << 16), as_float8(u & 0xffff0000u));
}
/* (common.h's bf16_storep16 at an element pointer) */
inline void bf16_store16_po(float16 v, __global ushort *p) {
  const uint16 r = bf16_round_hi16(v);
  vstore8((r.lo >> 16) | (r.hi & 0xffff0000u), 0, (__global uint *)p);
}
inline float16 to_pair_order(float16 v) { return (float16)(v.even, v.odd); }
/* a swizzle, not shuffle: PoCL's shuffle moves element by element */
inline float16 from_pair_order(float16 v) { return v.s08192a3b4c5d6e7f; }
inline float16 bf16_load16_pairs(__global const ushort *p) {
  return from_pair_order(bf16_load16_po(p));
}
#define VT float16
#define LOADV_0(p) (pair_order ? to_pair_order(vload16(0, (p))) : vload16(0, (p)))
#define STOREV_0(v, p) vstore16(pair_order ? from_pair_order(v) : (v), 0, (p))
#define LOADV_2(p) (pair_order ? to_pair_order(vload_half16(0, (p))) : vload_half16(0, (p)))
#define STOREV_2(v, p) vstore_half16_rte(pair_order ? from_pair_order(v) : (v), 0, (p))
#define LOADV_3(p)                                                   \
  (pair_order   ? bf16_load16_po(p)                                  \
   : bf16_pairs ? bf16_load16_pairs(p)                               \
                : as_float16(convert_uint16(vload16(0, (p))) << 16))
#define STOREV_3(v, p)                                                       \
  do {                                                                       \
    if (pair_order) bf16_store16_po((v), (p));                               \
    else if (bf16_pairs) bf16_store16_po(to_pair_order(v), (p));             \
    else vstore16(convert_ushort16(bf16_round16(v)), 0, (p));                \
  } while (0)
#define VEC_LOOP(i) for (i = 0; i + 16 <= n; i += 16)
#define TAIL_LOOP(i) for (; i < n; i++)
#else
#define VT float4
#define LOADV_0(p) (row_aligned ? *(__global const float4 *)(p) : vload4(0, (p)))
#define STOREV_0(v, p)                              \
  do {                                              \
    if (row_aligned) *(__global float4 *)(p) = (v); \
    else vstore4((v), 0, (p));                      \
  } while (0)
#define LOADV_2(p) vload_half4(0, (p))
#define STOREV_2(v, p) vstore_half4_rte((v), 0, (p))
#define LOADV_3(p) as_float4(convert_uint4(vload4(0, (p))) << 16)
#define STOREV_3(v, p) vstore4(convert_ushort4(bf16_round4(v)), 0, (p))
#define VEC_LOOP(i) for (i = (int)get_local_id(0) * 4; i + 4 <= n; i += 4 * WG)
#define TAIL_LOOP(i) for (i = (n & ~3) + (int)get_local_id(0); i < n; i += WG)
#endif

/* torch.maximum: the larger of a and b, NaN when either is NaN. */
#define MAX_NAN(a, b) select((a), (b), isless((a), (b)) | isnan(b))

#if OPT == CLNN_OPTIM_ADAM
/* ------------------------------------------------------------ Adam, AdamW */
#ifndef DECAY
#define DECAY CLNN_OPTIM_DECAY_NONE /* or CLNN_OPTIM_DECAY_L2, CLNN_OPTIM_DECAY_DECOUPLED */
#endif
#ifndef AMSGRAD
#define AMSGRAD 0
#endif

/*
 * One Adam update on values of type T (float or float16), in place:
 *   g = grad * gmul                (gmul = +-1 / grad_scale: maximize, loss scaling)
 *   g += wd * p                    (DECAY_L2)     p *= decay (DECAY_DECOUPLED)
 *   m = beta1 * m + (1 - beta1) * g
 *   v = beta2 * v + (1 - beta2) * g * g
 *   x = max(x, v)                  (AMSGRAD; the denominator then uses x)
 *   p -= step_size * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 */
#define ADAM_UPDATE(T, p, g, m, v, x)                                    \
  do {                                                                   \
    g = g * (T)(gmul);                                                   \
    if (DECAY == CLNN_OPTIM_DECAY_L2) g = fma((T)(wd), p, g);            \
    if (DECAY == CLNN_OPTIM_DECAY_DECOUPLED) p = p * (T)(decay);         \
    m = fma((T)(beta1), m, (T)(omb1)*g);                                 \
    v = fma((T)(beta2), v, (T)(omb2)*g * g);                             \
    T den_src_ = v;                                                      \
    if (AMSGRAD) {                                                       \
      x = MAX_NAN(v, x);                                                 \
      den_src_ = x;                                                      \
    }                                                                    \
    const T den_ = fma(sqrt(den_src_), (T)(inv_sqrt_bc2), (T)(eps));     \
    p = fma((T)(-step_size), m / den_, p);                               \
  } while (0)

/*
 * optim_adam: one Adam or AdamW step (DECAY, AMSGRAD as above).
 * NDRange (blocks * WG), local (WG). Arguments: the buffer sets of the six
 * roles (x_ all NULL without AMSGRAD, c_ all NULL without a model copy),
 * the segment table, skip (NULL, or an int that makes every work-item
 * return when non-zero: the non-finite check ran before), then the scalars
 * of ADAM_UPDATE. The update runs on the loaded float values; m, v and x
 * are rounded once to SDT as they are stored (the step itself used the
 * float values), and the model copy is the new master value rounded once
 * to CDT.
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void optim_adam(
    SET_ARGS(__global float *restrict, p_), SET_ARGS(__global const ELEM(GDT) *restrict, g_),
    SET_ARGS(__global ELEM(SDT) *restrict, m_), SET_ARGS(__global ELEM(SDT) *restrict, v_),
    SET_ARGS(__global ELEM(SDT) *restrict, x_), SET_ARGS(__global ELEM(CDT) *restrict, c_), SEG_ARGS,
    __global const int *restrict skip_base, const ulong skip_off, const float gmul, const float wd,
    const float decay, const float beta1, const float omb1, const float beta2, const float omb2,
    const float step_size, const float inv_sqrt_bc2, const float eps) {
  if (skip_base && skip_base[skip_off]) return;
  BLOCK_PROLOGUE_LANEWISE;
  __global float *p = ROLE_PTR(p_, CLNN_OPTIM_ROLE_P);
  __global const ELEM(GDT) *g = ROLE_PTR(g_, CLNN_OPTIM_ROLE_G);
  __global ELEM(SDT) *m = ROLE_PTR(m_, CLNN_OPTIM_ROLE_M);
  __global ELEM(SDT) *v = ROLE_PTR(v_, CLNN_OPTIM_ROLE_V);
  __global ELEM(SDT) *x = AMSGRAD ? ROLE_PTR(x_, CLNN_OPTIM_ROLE_X) : m;
  __global ELEM(CDT) *c = CDT ? ROLE_PTR(c_, CLNN_OPTIM_ROLE_C) : 0;
  int i;
  VEC_LOOP(i) {
    VT pv = LOADV(0, p + i), gv = LOADV(GDT, g + i), mv = LOADV(SDT, m + i);
    VT vv = LOADV(SDT, v + i), xv = AMSGRAD ? LOADV(SDT, x + i) : pv;
    ADAM_UPDATE(VT, pv, gv, mv, vv, xv);
    STOREV(0, pv, p + i);
    STOREV(SDT, mv, m + i);
    STOREV(SDT, vv, v + i);
    if (AMSGRAD) STOREV(SDT, xv, x + i);
    if (CDT) STOREV(CDT, pv, c + i);
  }
  TAIL_LOOP(i) {
    float pv = p[i], gv = LOADS(GDT, g, i), mv = LOADS(SDT, m, i), vv = LOADS(SDT, v, i);
    float xv = AMSGRAD ? LOADS(SDT, x, i) : pv;
    ADAM_UPDATE(float, pv, gv, mv, vv, xv);
    p[i] = pv;
    STORES(SDT, mv, m, i);
    STORES(SDT, vv, v, i);
    if (AMSGRAD) STORES(SDT, xv, x, i);
    if (CDT) STORES(CDT, pv, c, i);
  }
}
#endif /* OPT == CLNN_OPTIM_ADAM */

#if OPT == CLNN_OPTIM_SGD
/* -------------------------------------------------------------------- SGD */
#ifndef SGD_DECAY
#define SGD_DECAY 0 /* 1: d += wd * p */
#endif
#ifndef MOMENTUM
#define MOMENTUM 0 /* 1: momentum buffer in role 2 */
#endif
#ifndef NESTEROV
#define NESTEROV 0
#endif

/*
 * One SGD update (PyTorch's torch.optim.SGD) on values of type T:
 *   d = grad * gmul;  d += wd * p               (SGD_DECAY)
 *   b = first ? d : momentum * b + (1 - dampening) * d      (MOMENTUM)
 *   d = NESTEROV ? d + momentum * b : b                      (MOMENTUM)
 *   p -= lr * d
 */
#define SGD_UPDATE(T, p, g, b)                                 \
  do {                                                         \
    T d_ = g * (T)(gmul);                                      \
    if (SGD_DECAY) d_ = fma((T)(wd), p, d_);                   \
    if (MOMENTUM) {                                            \
      b = first ? d_ : fma((T)(momentum), b, (T)(omd)*d_);     \
      d_ = NESTEROV ? fma((T)(momentum), b, d_) : b;           \
    }                                                          \
    p = fma((T)(-lr), d_, p);                                  \
  } while (0)

/*
 * optim_sgd: one SGD step (SGD_DECAY, MOMENTUM, NESTEROV as above).
 * NDRange (blocks * WG), local (WG). Arguments: the buffer sets of parameter,
 * gradient and momentum buffer (b_ all NULL without MOMENTUM), the segment table, skip
 * (as optim_adam), gmul, wd, momentum, omd = 1 - dampening, lr, and first
 * (1 on the first step: the buffer is set to d, as PyTorch creates it).
 * Types as optim_adam: the momentum buffer is SDT (rounded once on store,
 * the step uses the float value), the model copy c_ (NULL: none) CDT.
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void optim_sgd(
    SET_ARGS(__global float *restrict, p_), SET_ARGS(__global const ELEM(GDT) *restrict, g_),
    SET_ARGS(__global ELEM(SDT) *restrict, b_), SET_ARGS(__global ELEM(CDT) *restrict, c_), SEG_ARGS,
    __global const int *restrict skip_base, const ulong skip_off, const float gmul, const float wd,
    const float momentum, const float omd, const float lr, const int first) {
  if (skip_base && skip_base[skip_off]) return;
  BLOCK_PROLOGUE_LANEWISE;
  __global float *p = ROLE_PTR(p_, CLNN_OPTIM_ROLE_P);
  __global const ELEM(GDT) *g = ROLE_PTR(g_, CLNN_OPTIM_ROLE_G);
  __global ELEM(SDT) *b = MOMENTUM ? ROLE_PTR(b_, CLNN_OPTIM_ROLE_M) : 0;
  __global ELEM(CDT) *c = CDT ? ROLE_PTR(c_, CLNN_OPTIM_ROLE_C) : 0;
  int i;
  VEC_LOOP(i) {
    VT pv = LOADV(0, p + i), gv = LOADV(GDT, g + i);
    VT bv = MOMENTUM && !first ? LOADV(SDT, b + i) : (VT)(0.0f);
    SGD_UPDATE(VT, pv, gv, bv);
    STOREV(0, pv, p + i);
    if (MOMENTUM) STOREV(SDT, bv, b + i);
    if (CDT) STOREV(CDT, pv, c + i);
  }
  TAIL_LOOP(i) {
    float pv = p[i], gv = LOADS(GDT, g, i), bv = MOMENTUM && !first ? LOADS(SDT, b, i) : 0.0f;
    SGD_UPDATE(float, pv, gv, bv);
    p[i] = pv;
    if (MOMENTUM) STORES(SDT, bv, b, i);
    if (CDT) STORES(CDT, pv, c, i);
  }
}
#endif /* OPT == CLNN_OPTIM_SGD */

#if OPT == CLNN_OPTIM_EMA
/* -------------------------------------------------------------------- EMA */

/*
 * optim_ema: ema = lerp(ema, p, w), w = 1 - decay, with torch.lerp's two
 * forms (exact at both ends): ema + w * (p - ema) when w < 0.5, else
 * p - (1 - w) * (p - ema). The host passes coef = w or -(1 - w) and
 * from_param = 0 or 1 accordingly.
 * NDRange (blocks * WG), local (WG). Roles: 0 the EMA (updated, type PDT),
 * 1 the parameter (GDT); float math, the EMA rounded once on store.
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void optim_ema(
    SET_ARGS(__global ELEM(PDT) *restrict, e_), SET_ARGS(__global const ELEM(GDT) *restrict, p_), SEG_ARGS,
    const float coef, const int from_param) {
  BLOCK_PROLOGUE_LANEWISE;
  __global ELEM(PDT) *e = ROLE_PTR(e_, CLNN_OPTIM_ROLE_P);
  __global const ELEM(GDT) *p = ROLE_PTR(p_, CLNN_OPTIM_ROLE_G);
  int i;
  VEC_LOOP(i) {
    const VT ev = LOADV(PDT, e + i), pv = LOADV(GDT, p + i);
    STOREV(PDT, fma((VT)(coef), pv - ev, from_param ? pv : ev), e + i);
  }
  TAIL_LOOP(i) {
    const float ev = LOADS(PDT, e, i), pv = LOADS(GDT, p, i);
    STORES(PDT, fma(coef, pv - ev, from_param ? pv : ev), e, i);
  }
}
#endif /* OPT == CLNN_OPTIM_EMA */

#if OPT == CLNN_OPTIM_CLIP
/* ----------------------------------------------------- gradient utilities */

#if GPU_SHAPE
/* Tree reduction of one value per work-item in local memory, fixed order
 * (WG a power of two): every work-item reaches every barrier. */
#define LOCAL_REDUCE(T, scratch, value, OPX)                      \
  do {                                                            \
    const int lid_ = (int)get_local_id(0);                        \
    scratch[lid_] = (value);                                      \
    barrier(CLK_LOCAL_MEM_FENCE);                                 \
    for (int w_ = WG / 2; w_ > 0; w_ >>= 1) {                     \
      if (lid_ < w_) scratch[lid_] = OPX(scratch[lid_], scratch[lid_ + w_]); \
      barrier(CLK_LOCAL_MEM_FENCE);                               \
    }                                                             \
  } while (0)
#define OP_ADD(a, b) ((a) + (b))
#define OP_OR(a, b) ((a) | (b))
#endif

/* Kahan summation: add y to the running (sum, compensation). */
#define KAHAN_ADD(T, sum, comp, y)     \
  do {                                 \
    const T y_ = (y) - (comp);         \
    const T t_ = (sum) + y_;           \
    comp = (t_ - (sum)) - y_;          \
    sum = t_;                          \
  } while (0)

/*
 * optim_check_finite: flags[slot] = 1 if an element of the block's
 * gradient (role 1), times gmul, is NaN or infinite, else 0. x * 0 is NaN
 * exactly when x is not finite, so the loop carries no branch.
 * NDRange (blocks * WG), local (WG).
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void optim_check_finite(
    SET_ARGS(__global const ELEM(GDT) *restrict, g_), SEG_ARGS, ITENSOR(flags), const float gmul) {
  BLOCK_PROLOGUE;
  __global const ELEM(GDT) *g = ROLE_PTR(g_, CLNN_OPTIM_ROLE_G);
  VT accv = (VT)(0.0f);
  float acc = 0.0f;
  int i;
  VEC_LOOP(i) accv += LOADV(GDT, g + i) * gmul * 0.0f;
  TAIL_LOOP(i) acc += LOADS(GDT, g, i) * gmul * 0.0f;
  int bad = any(isnan(accv)) | isnan(acc);
#if GPU_SHAPE
  __local int scratch[WG];
  LOCAL_REDUCE(int, scratch, bad, OP_OR);
  if (get_local_id(0) == 0) AT(flags)[slot] = scratch[0] ? 1 : 0;
#else
  AT(flags)[slot] = bad ? 1 : 0;
#endif
}

/*
 * optim_flags_reduce: out = 1 if any of flags[0 .. nflags) is set, else 0;
 * the same into found (an int32 tensor) unless found_base is NULL.
 * NDRange (WG), local (WG): one work-group.
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void optim_flags_reduce(
    CITENSOR(flags), const int nflags, ITENSOR(out), __global int *restrict found_base,
    const ulong found_off) {
  int any_set = 0;
  for (int i = (int)get_local_id(0); i < nflags; i += WG) any_set |= AT(flags)[i];
#if GPU_SHAPE
  __local int scratch[WG];
  LOCAL_REDUCE(int, scratch, any_set, OP_OR);
  any_set = scratch[0];
  if (get_local_id(0) != 0) return;
#endif
  AT(out)[0] = any_set ? 1 : 0;
  if (found_base) found_base[found_off] = any_set ? 1 : 0;
}

/*
 * optim_norm_partial: partial[slot] = sum of squares of the block's
 * gradient (role 1, GDT, squared in float). CPU shape: 16 Kahan lanes, then the lanes and the
 * tail in order; GPU shape: 4 Kahan lanes per work-item, its lanes and tail
 * element in order, then a tree over the work-items (the first level of
 * the global norm's two-level reduction; optim_norm_finalize is the
 * second).
 * NDRange (blocks * WG), local (WG).
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void optim_norm_partial(
    SET_ARGS(__global const ELEM(GDT) *restrict, g_), SEG_ARGS, TENSOR(partial)) {
  BLOCK_PROLOGUE;
  __global const ELEM(GDT) *g = ROLE_PTR(g_, CLNN_OPTIM_ROLE_G);
  VT sv = (VT)(0.0f), cv = (VT)(0.0f);
  float s = 0.0f, c = 0.0f;
  int i;
  VEC_LOOP(i) {
    const VT x = LOADV(GDT, g + i);
    KAHAN_ADD(VT, sv, cv, x * x);
  }
#if !GPU_SHAPE
  float lanes[16];
  vstore16(sv - cv, 0, lanes);
  for (int l = 0; l < 16; l++) KAHAN_ADD(float, s, c, lanes[l]);
#else
  const float4 lanes = sv - cv; /* the four lanes in order */
  KAHAN_ADD(float, s, c, lanes.x);
  KAHAN_ADD(float, s, c, lanes.y);
  KAHAN_ADD(float, s, c, lanes.z);
  KAHAN_ADD(float, s, c, lanes.w);
#endif
  TAIL_LOOP(i) {
    const float x = LOADS(GDT, g, i);
    KAHAN_ADD(float, s, c, x * x);
  }
#if GPU_SHAPE
  __local float scratch[WG];
  LOCAL_REDUCE(float, scratch, s - c, OP_ADD);
  if (get_local_id(0) == 0) AT(partial)[slot] = scratch[0];
#else
  AT(partial)[slot] = s - c;
#endif
}

/*
 * optim_norm_finalize: the global L2 norm from npart partial sums (CPU
 * shape: Kahan in slot order; GPU shape: a Kahan sum per work-item over
 * slots lid, lid + WG, ..., then a tree: a fixed order either way, so the
 * same list gives the same bits), and the clipping
 * coefficient min(max_norm / (norm + 1e-6), 1) as torch.nn.utils.
 * clip_grad_norm_ (NaN stays NaN). Writes res[0] = norm, res[1] = coef,
 * and the norm into total (a float tensor) unless total_base is NULL.
 * NDRange (WG), local (WG): one work-group.
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void optim_norm_finalize(
    CTENSOR(partial), const int npart, TENSOR(res), __global float *restrict total_base,
    const ulong total_off, const float max_norm) {
  float s = 0.0f, c = 0.0f;
  for (int i = (int)get_local_id(0); i < npart; i += WG) KAHAN_ADD(float, s, c, AT(partial)[i]);
#if GPU_SHAPE
  __local float scratch[WG];
  LOCAL_REDUCE(float, scratch, s - c, OP_ADD);
  if (get_local_id(0) != 0) return;
  s = scratch[0];
  c = 0.0f;
#endif
  const float norm = sqrt(s - c);
  float coef = max_norm / (norm + 1e-6f);
  if (coef > 1.0f) coef = 1.0f;
  AT(res)[0] = norm;
  AT(res)[1] = coef;
  if (total_base) total_base[total_off] = norm;
}

/*
 * optim_scale: multiply the gradient (role 1, GDT: the product rounded once
 * on store) by coef = coef_base[coef_off]
 * unless coef >= 1 (x * 1 == x, so the write is skipped; NaN multiplies).
 * NDRange (blocks * WG), local (WG).
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void optim_scale(
    SET_ARGS(__global ELEM(GDT) *restrict, g_), SEG_ARGS, CTENSOR(coef)) {
  const float k = AT(coef)[0];
  if (k >= 1.0f) return;
  BLOCK_PROLOGUE_LANEWISE;
  __global ELEM(GDT) *g = ROLE_PTR(g_, CLNN_OPTIM_ROLE_G);
  int i;
  VEC_LOOP(i) STOREV(GDT, LOADV(GDT, g + i) * k, g + i);
  TAIL_LOOP(i) STORES(GDT, LOADS(GDT, g, i) * k, g, i);
}
#endif /* OPT == CLNN_OPTIM_CLIP */
