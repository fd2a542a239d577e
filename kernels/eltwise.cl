/*
 * eltwise.cl - element-wise ops (add, broadcast multiply, scale) and their
 * backward passes. Shaped for PoCL on CPUs (docs/DESIGN.md, "Kernels on CPU devices"):
 * each work-item of the main kernels handles 16 consecutive floats as one
 * float16, with no bounds checks; the few elements past the last full
 * group of 8 work-items go to a scalar tail kernel. Reductions (gradients
 * of broadcast factors) are gathers in a fixed order: a work-item sums one
 * chunk of a row, then one work-item per row sums the chunks in order.
 *
 * Every kernel takes the same tensors (unused ones may be NULL):
 *   a, b, c  inputs        y, z  outputs        alpha, beta  scalars
 *   inner    elements per row of x for the broadcast multiply (s[i / inner])
 *
 * Tensors are float32, float16 or bfloat16 (-DDT, all tensors of a call
 * alike; common.h's LOAD / STORE macros): the math is float32 either way,
 * rounded once on store. The partial sums of the reductions (the chunk and
 * slice sums in the workspace) are float32 whatever DT is; a gradient is
 * rounded to DT once, when its row's total is stored.
 */
/* -DOP: CLNN_ELTWISE_OP_* (kernels/shared.h). */
#ifndef OP
#define OP CLNN_ELTWISE_OP_ADD
#endif
#ifndef HAS_Y
#define HAS_Y 1
#endif
#ifndef HAS_Z
#define HAS_Z 0
#endif

/* The argument list, with a's and z's element types: STORE_T for tensors,
 * float for the reductions' partial sums (a of the sums, z of rowdot). */
#define ELT_ARGS_OF(A_T, Z_T)                                                                            \
  __global const A_T *restrict a_base, ulong a_off, CTENSOR_DT(b), CTENSOR_DT(c), TENSOR_DT(y),         \
      __global Z_T *restrict z_base, ulong z_off, const float alpha, const float beta, const int inner
#define ELT_ARGS ELT_ARGS_OF(STORE_T, STORE_T)

/* Load / store one element (S_) or 16 (V_) at element index i, as float. */
#define S_LD(t, i) LOAD1(AT(t), (i))
#define S_ST(v, t, i) STORE1((v), AT(t), (i))
#define V_LD(t, i) LOAD16(0, AT(t) + (i))
#define V_ST(v, t, i) STORE16((v), 0, AT(t) + (i))
/* The same for eltwise_vec, whose i is a multiple of 16 and whose ops treat
 * the 16 lanes alike: bfloat16 may move them as uint pairs (LOADP16,
 * -DBF16_PAIRS, set by the host when every tensor is 4-byte aligned). */
#define VP_LD(t, i) LOADP16((i) / 16, AT(t))
#define VP_ST(v, t, i) STOREP16((v), (i) / 16, AT(t))

/* The op on element(s) from index i; S is the factor of CLNN_ELTWISE_OP_MUL_ROW. */
#if OP == CLNN_ELTWISE_OP_ADD
#define ELT_BODY(LD, ST, i) ST(alpha * LD(a, i) + beta * LD(b, i), y, i)
#elif OP == CLNN_ELTWISE_OP_SCALE
#define ELT_BODY(LD, ST, i) ST(alpha * LD(a, i), y, i)
#elif OP == CLNN_ELTWISE_OP_ADD_BWD
#define ELT_BODY(LD, ST, i)              \
  do {                                   \
    if (HAS_Y) ST(alpha * LD(a, i), y, i); \
    if (HAS_Z) ST(beta * LD(a, i), z, i);  \
  } while (0)
#elif OP == CLNN_ELTWISE_OP_MUL_FULL
#define ELT_BODY(LD, ST, i) ST(LD(a, i) * LD(b, i), y, i)
#elif OP == CLNN_ELTWISE_OP_MUL_ROW
#define ELT_BODY(LD, ST, i) ST(LD(a, i) * S_LD(b, (i) / inner), y, i)
#elif OP == CLNN_ELTWISE_OP_MUL_BWD_FULL
#define ELT_BODY(LD, ST, i)                 \
  do {                                      \
    if (HAS_Y) ST(LD(a, i) * LD(c, i), y, i); \
    if (HAS_Z) ST(LD(a, i) * LD(b, i), z, i); \
  } while (0)
#endif

/*
 * eltwise_vec: the op on 16 elements per work-item, from element 0.
 * -D: OP, HAS_Y, HAS_Z, DT, BF16_PAIRS. NDRange (a multiple of 8 vectors), local (8).
 */
__kernel __attribute__((reqd_work_group_size(8, 1, 1))) void eltwise_vec(ELT_ARGS) {
  const int i = get_global_id(0) * 16;
  ELT_BODY(VP_LD, VP_ST, i);
}

/*
 * eltwise_tail: the op on one element per work-item, elements [start, n).
 * -D: as eltwise_vec. NDRange (n - start), any local size.
 */
__kernel void eltwise_tail(const int start, const int n, ELT_ARGS) {
  const int i = start + get_global_id(0);
  if (i >= n) return;
  ELT_BODY(S_LD, S_ST, i);
}

/* Sum of the 16 lanes in a fixed order (pairwise). */
inline float hsum16(const float16 v) {
  const float8 s8 = v.lo + v.hi;
  const float4 s4 = s8.lo + s8.hi;
  const float2 s2 = s4.lo + s4.hi;
  return s2.x + s2.y;
}

/*
 * eltwise_mul_rows: y[o][i] = x[o][i] * s[o] for rows whose length (inner)
 * is not a multiple of 16: one work-item per row, float16 then scalar tail.
 * -D: DT. NDRange (outer), local (1). a = x, b = s.
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void eltwise_mul_rows(ELT_ARGS) {
  const int o = get_global_id(0);
  const size_t base = (size_t)o * inner;
  const float s = S_LD(b, o);
  int i = 0;
  for (; i <= inner - 16; i += 16) V_ST(V_LD(a, base + i) * s, y, base + i); /* not i + 16: it wraps near 2^31 */
  for (; i < inner; i++) S_ST(S_LD(a, base + i) * s, y, base + i);
}

/*
 * eltwise_mul_add_rows: y[o][i] = x[o][i] * s[o] + beta * t[o], one
 * work-item per row of any length: float16, then the scalar tail.
 * -D: DT. NDRange (outer), local (1). a = x, b = s, c = t.
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void eltwise_mul_add_rows(ELT_ARGS) {
  const int o = get_global_id(0);
  const size_t base = (size_t)o * inner;
  const float s = S_LD(b, o), bt = beta * S_LD(c, o);
  int i = 0;
  for (; i <= inner - 16; i += 16) V_ST(fma(V_LD(a, base + i), (float16)(s), (float16)(bt)), y, base + i);
  for (; i < inner; i++) S_ST(fma(S_LD(a, base + i), s, bt), y, base + i);
}

/*
 * eltwise_rowdot: the reduction of the broadcast backward. Row o of length
 * inner is split in chunks of CHUNK elements; work-item (ch, o) writes
 *   dx[o][i] = dy[o][i] * s[o]            (HAS_Y, for i in the chunk)
 *   part[o * nchunks + ch] = sum dy * x   (HAS_Z; lanes then tail, in order)
 * s[o] is alpha instead when SCALAR_S (the scale op, one row).
 * z is float32 partials (Z_DT = CLNN_DTYPE_CODE_FLOAT32), or, with one chunk
 * per row, the result itself in the tensors' type (Z_DT = DT).
 * -D: HAS_Y, HAS_Z, SCALAR_S, DT, Z_DT. NDRange (nchunks, outer), local (1, 1).
 * a = dy, b = x, c = s, y = dx, z = part.
 */
#define CHUNK CLNN_ELTWISE_CHUNK
#ifndef SCALAR_S
#define SCALAR_S 0
#endif
#ifndef Z_DT
#define Z_DT CLNN_DTYPE_CODE_FLOAT32
#endif
#if Z_DT == CLNN_DTYPE_CODE_FLOAT32
#define Z_T float
#define Z_ST(v, j) (AT(z)[j] = (v))
#else
#define Z_T STORE_T
#define Z_ST(v, j) STORE1((v), AT(z), (j))
#endif
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void eltwise_rowdot(ELT_ARGS_OF(STORE_T, Z_T)) {
  const int ch = get_global_id(0), o = get_global_id(1);
  const int nchunks = get_global_size(0);
  const size_t base = (size_t)o * inner;
  const int i0 = ch * CHUNK, i1 = min(inner, i0 + CHUNK);
#if SCALAR_S
  const float s = alpha;
#else
  const float s = S_LD(c, o);
#endif
  float16 acc = (float16)(0.0f);
  int i = i0;
  for (; i <= i1 - 16; i += 16) { /* not i + 16: it wraps near 2^31 */
    const float16 g = V_LD(a, base + i);
    if (HAS_Y) V_ST(g * s, y, base + i);
    if (HAS_Z) acc = fma(g, V_LD(b, base + i), acc);
  }
  float sum = hsum16(acc);
  for (; i < i1; i++) {
    const float g = S_LD(a, base + i);
    if (HAS_Y) S_ST(g * s, y, base + i);
    if (HAS_Z) sum = fma(g, S_LD(b, base + i), sum);
  }
  if (HAS_Z) Z_ST(sum, (size_t)o * nchunks + ch);
}

/*
 * eltwise_sum_chunks: out[o] = sum over ch of part[o * nchunks + ch], in
 * order (float32 partials, the sum rounded once to DT). -D: DT.
 * NDRange (outer), local (1). a = part, y = out, inner = nchunks.
 */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void eltwise_sum_chunks(ELT_ARGS_OF(float, STORE_T)) {
  const int o = get_global_id(0);
  __global const float *p = AT(a) + (size_t)o * inner;
  float sum = 0.0f;
  for (int ch = 0; ch < inner; ch++) sum += p[ch];
  S_ST(sum, y, o);
}

/* ------------------------------------------------------------ GPU variants
 * Shaped for GPUs (docs/DESIGN.md, "Kernels on GPU devices":
 * element-wise passes and reductions); the host plans them for GPU-class devices.
 *
 * eltwise_gpu: one float4 per work-item per step of a grid-stride loop
 * (neighbouring work-items on neighbouring float4s: coalesced), the n % 4
 * tail on the first work-items after the loop. The op is -DGOP (the CPU
 * kernels' -DOP stays at its default in these programs). A broadcast factor
 * s[e / inner] is one value for the whole float4 unless the float4 crosses
 * a row boundary (rows of any length, e.g. 7 x 7 planes).
 *
 * eltwise_rowdot_gpu / eltwise_sum_parts_gpu: the gradient of a broadcast
 * factor, sum over a row of dy * x, as a work-group tree reduction in local
 * memory: the row is cut in slices of SLICE elements (the cut depends on the
 * shape and WG only), each work-group sums one slice (each work-item its
 * float4s strided by the work-group, then the tree) and writes a partial;
 * with more than one slice a second launch sums each row's partials the
 * same way. Same inputs, same bits; no atomics.
 */
/* -DGOP: CLNN_ELTWISE_GOP_* (kernels/shared.h). */
#ifndef GOP
#define GOP CLNN_ELTWISE_GOP_ADD
#endif

/* The factors t[e / inner] of elements e .. e + 3 (all inside the tensor). */
inline float4 bcast4(__global const STORE_T *t, const int e, const int inner) {
  const int o = e / inner;
  if (e - o * inner + 4 <= inner) return (float4)(LOAD1(t, o));
  return (float4)(LOAD1(t, o), LOAD1(t, (e + 1) / inner), LOAD1(t, (e + 2) / inner), LOAD1(t, (e + 3) / inner));
}

#define G4_LD(t, i) LOAD4(0, AT(t) + (i))
#define G4_ST(v, t, i) STORE4((v), 0, AT(t) + (i))
#define G4_FAC(t, i) bcast4(AT(t), (i), inner)
#define G1_FAC(t, i) S_LD(t, (i) / inner)

/* The op on the element(s) at index i; FAC reads a broadcast factor. */
#if GOP == CLNN_ELTWISE_GOP_ADD
#define GPU_BODY(LD, ST, FAC, i) ST(alpha * LD(a, i) + beta * LD(b, i), y, i)
#elif GOP == CLNN_ELTWISE_GOP_SCALE
#define GPU_BODY(LD, ST, FAC, i) ST(alpha * LD(a, i), y, i)
#elif GOP == CLNN_ELTWISE_GOP_ADD_BWD
#define GPU_BODY(LD, ST, FAC, i)             \
  do {                                       \
    if (HAS_Y) ST(alpha * LD(a, i), y, i); \
    if (HAS_Z) ST(beta * LD(a, i), z, i);  \
  } while (0)
#elif GOP == CLNN_ELTWISE_GOP_MUL_FULL
#define GPU_BODY(LD, ST, FAC, i) ST(LD(a, i) * LD(b, i), y, i)
#elif GOP == CLNN_ELTWISE_GOP_MUL_BCAST
#define GPU_BODY(LD, ST, FAC, i) ST(LD(a, i) * FAC(b, i), y, i)
#elif GOP == CLNN_ELTWISE_GOP_MUL_BWD_FULL
#define GPU_BODY(LD, ST, FAC, i)                \
  do {                                          \
    if (HAS_Y) ST(LD(a, i) * LD(c, i), y, i); \
    if (HAS_Z) ST(LD(a, i) * LD(b, i), z, i); \
  } while (0)
#elif GOP == CLNN_ELTWISE_GOP_MUL_ADD
#define GPU_BODY(LD, ST, FAC, i) ST(fma(LD(a, i), FAC(b, i), beta * FAC(c, i)), y, i)
#endif

/*
 * eltwise_gpu: the op GOP on elements [0, n).
 * -D: GOP, HAS_Y, HAS_Z, DT. NDRange: any multiple of the work-group (the host
 * sizes it to fill the device), local: any.
 */
__kernel void eltwise_gpu(const int n, ELT_ARGS) {
  const int nvec = n >> 2, step = get_global_size(0);
  for (int v = get_global_id(0); v < nvec; v += step) GPU_BODY(G4_LD, G4_ST, G4_FAC, v << 2);
  const long j = ((long)nvec << 2) + (long)get_global_id(0); /* long: near 2^31 elements an int wraps */
  if (j < n) GPU_BODY(S_LD, S_ST, G1_FAC, j);
}

#ifndef WG
#define WG CLNN_GPU_WG
#endif
#define SLICE (CLNN_ELTWISE_GPU_SLICE_ITEMS * WG)

/*
 * eltwise_rowdot_gpu: work-group (sl, o) takes elements [sl * SLICE,
 * min(inner, (sl + 1) * SLICE)) of row o (rows of inner elements):
 *   dx = dy * s[o]                (HAS_Y; s[o] is alpha when SCALAR_S)
 *   part[o * slices + sl] = sum dy * x   (each work-item in order over its
 *   float4s, lanes in order, then the slice's n % 4 tail, then the tree).
 * z is float32 partials or the result in DT, as eltwise_rowdot's (Z_DT).
 * -D: WG, SLICE (a multiple of 4), HAS_Y, SCALAR_S, DT, Z_DT.
 * NDRange (slices * WG, outer), local (WG, 1). a = dy, b = x, c = s,
 * y = dx, z = part.
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void eltwise_rowdot_gpu(ELT_ARGS_OF(STORE_T, Z_T)) {
  __local float red[WG];
  const int lid = get_local_id(0), sl = get_group_id(0), o = get_global_id(1);
  const int slices = get_num_groups(0);
  const size_t base = (size_t)o * inner;
  const int i0 = sl * SLICE, len = min(inner - i0, SLICE), nvec = len >> 2;
#if SCALAR_S
  const float s = alpha;
#else
  const float s = S_LD(c, o);
#endif
  __global const STORE_T *dy = AT(a) + base + i0;
  __global const STORE_T *x = AT(b) + base + i0;
  __global STORE_T *dx = AT(y) + base + i0;
  float acc = 0.0f;
  for (int v = lid; v < nvec; v += WG) {
    const float4 g = LOAD4(v, dy), xv = LOAD4(v, x);
    if (HAS_Y) STORE4(g * s, v, dx);
    acc = fma(g.x, xv.x, acc);
    acc = fma(g.y, xv.y, acc);
    acc = fma(g.z, xv.z, acc);
    acc = fma(g.w, xv.w, acc);
  }
  const int t = (nvec << 2) + lid;
  if (t < len) {
    const float g = LOAD1(dy, t);
    if (HAS_Y) STORE1(g * s, dx, t);
    acc = fma(g, LOAD1(x, t), acc);
  }
  const float sum = clnn_group_sum(acc, red, WG);
  if (lid == 0) Z_ST(sum, (size_t)o * slices + sl);
}

/*
 * eltwise_sum_parts_gpu: out[o] = the sum of part[o * inner ...] over one
 * row of inner float32 partials (each work-item its strided partials in
 * order, then the tree; the sum rounded once to DT). -D: WG, DT.
 * NDRange (WG, outer), local (WG, 1). a = part, y = out.
 */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void eltwise_sum_parts_gpu(ELT_ARGS_OF(float, STORE_T)) {
  __local float red[WG];
  const int lid = get_local_id(0), o = get_global_id(1);
  __global const float *p = AT(a) + (size_t)o * inner;
  float acc = 0.0f;
  for (int i = lid; i < inner; i += WG) acc += p[i];
  const float sum = clnn_group_sum(acc, red, WG);
  if (lid == 0) S_ST(sum, y, o);
}
