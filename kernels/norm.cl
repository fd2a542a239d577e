/*
 * norm.cl - batch normalisation over NCHW float32: statistics, the
 * per-channel coefficients, the element-wise apply (with an optional fused
 * activation, common.h's act_f16), and the backward.
 *
 * Reductions are deterministic and free of atomics: level one gives each
 * work-item one unit of about 4096 values of one channel (a chunk of a big
 * plane, or the same small plane of several images; see bn_unit) and writes
 * a partial result; level two gives each channel one work-item that combines
 * its partials in a fixed order (image group, then chunk).
 *
 * Statistics are numerically sound for data with a large mean: a unit's
 * partial is (shift, dmean, m2) with shift = the unit's first value, dmean
 * the mean of (x - shift) and m2 the sum of squared deviations from
 * shift + dmean (two passes over the unit, the second from cache). Level two
 * expresses every unit's mean relative to the first unit's shift S (a
 * difference of nearby floats, exact) and merges them with Chan et al.'s
 * pairwise update. The mean is kept as S + rel, split into a float mean_hi
 * and the remainder mean_lo, and the apply computes
 * (x - mean_hi) * scale + (beta - mean_lo * scale): x - mean_hi is exact for
 * x near the mean, so 1e4 + N(0,1) data normalise to full float accuracy.
 *
 * Per-channel coefficient records (4 floats, in the workspace):
 *   forward:  {mean_hi, invstd, scale = gamma * invstd, shift = beta - mean_lo * scale}
 *   backward: {k1, k2, k3, 0}: dx = k1 * dz + k2 * (x - mean) + k3
 *
 * -D (every kernel): ACT, ACT_ALPHA (the fused activation); DT, the type of
 * x, y, dy and dx (float32, float16 or bfloat16; common.h's LOAD / STORE
 * macros convert, the math and everything in the workspace stays float32,
 * each output is rounded once on store); BF16_PAIRS (bfloat16, every plane
 * 4-byte aligned: the 16-element loops load pairs, common.h); BN_HW (the
 * per-channel kernels: the plane size, when small). gamma, beta and the
 * statistics are float32 in every type.
 */

/* A 16-element vector store of an output, streaming (past the caches) when
 * stream is set. Only float32 streams: clnn_store16_stream takes floats,
 * and a half output is half as large, so the host asks for it only there. */
inline void bn_store16(const float16 v, const size_t i, __global STORE_T *y, const int stream) {
#if DT == CLNN_DTYPE_CODE_FLOAT32
  if (stream) {
    clnn_store16_stream(v, y + 16 * i);
    return;
  }
#endif
  STOREP16(v, i, y);
}

/* Sum of the 16 lanes in a fixed pairwise order. */
float hsum16(float16 v) {
  float8 a = v.lo + v.hi;
  float4 b = a.lo + a.hi;
  float2 c = b.lo + b.hi;
  return c.x + c.y;
}

/*
 * A work unit of the level-one reductions: the images [img0, img1) of one
 * group and the part [start, start + len) of their planes of channel c. A
 * unit holds about `chunk` values (big planes are split in chunks, small
 * ones grouped by `ipi` images), so it stays in cache for a second pass and
 * the number of partials per channel, P = groups * chunks, stays small.
 * Partial q = group * chunks + k of channel c lives at ws[(c * P + q) * width].
 */
typedef struct bn_unit {
  int c, img0, img1, start, len, q;
} bn_unit;

bn_unit bn_unit_of(int k, int gc, int C, int N, int HW, int chunk, int chunks, int ipi) {
  bn_unit u;
  const int g = gc / C;
  u.c = gc % C;
  u.img0 = g * ipi;
  u.img1 = min(N, u.img0 + ipi);
  u.start = k * chunk;
  u.len = min(chunk, HW - u.start);
  u.q = g * chunks + k;
  return u;
}

/* The partial statistics (shift, dmean, m2) of one unit (see the top). */
inline float3 bn_unit_stats(__global const STORE_T *x, const bn_unit u, const int C, const int HW) {
  const int nvec = u.len >> 4;
  __global const STORE_T *first = x + ((size_t)u.img0 * C + u.c) * HW + u.start;
  const float shift = LOAD1(first, 0);
  float16 acc = (float16)(0.0f);
  float sum = 0.0f;
  for (int img = u.img0; img < u.img1; img++) {
    __global const STORE_T *v = x + ((size_t)img * C + u.c) * HW + u.start;
    for (int j = 0; j < nvec; j++) acc += LOADP16(j, v) - shift;
    for (int j = nvec << 4; j < u.len; j++) sum += LOAD1(v, j) - shift;
  }
  const float dmean = (hsum16(acc) + sum) / (float)((u.img1 - u.img0) * u.len);
  acc = (float16)(0.0f);
  float m2 = 0.0f;
  for (int img = u.img0; img < u.img1; img++) {
    __global const STORE_T *v = x + ((size_t)img * C + u.c) * HW + u.start;
    for (int j = 0; j < nvec; j++) {
      const float16 d = (LOADP16(j, v) - shift) - dmean;
      acc = fma(d, d, acc);
    }
    for (int j = nvec << 4; j < u.len; j++) {
      const float d = (LOAD1(v, j) - shift) - dmean;
      m2 = fma(d, d, m2);
    }
  }
  return (float3)(shift, dmean, hsum16(acc) + m2);
}

/*
 * bnorm_stats_partial: the partial statistics (shift, dmean, m2) of one unit.
 * NDRange (chunks, groups * C), local (1, 1).
 */
__kernel void bnorm_stats_partial(CTENSOR_DT(x), TENSOR(ws), const int N, const int C, const int HW,
                                  const int chunk, const int chunks, const int ipi, const int P) {
  const int k = get_global_id(0), gc = get_global_id(1);
  if (k >= chunks) return;
  const bn_unit u = bn_unit_of(k, gc, C, N, HW, chunk, chunks, ipi);
  const float3 st = bn_unit_stats(AT(x), u, C, HW);
  __global float *out = AT(ws) + ((size_t)u.c * P + u.q) * 3;
  out[0] = st.x;
  out[1] = st.y;
  out[2] = st.z;
}

/*
 * Merging the partials of a channel in order q = 0, 1, ...: every unit's
 * mean is expressed relative to the first unit's shift S (exact), then
 * Chan et al.'s pairwise update.
 */
typedef struct bn_merge {
  float S, n, mean, m2; /* mean relative to S */
} bn_merge;

inline bn_merge bn_merge_start(const float S) {
  bn_merge m = {S, 0.0f, 0.0f, 0.0f};
  return m;
}

/* Add partial q (statistics st) of a channel. */
inline void bn_merge_add(bn_merge *m, const float3 st, const int q, const int N, const int HW, const int chunk,
                         const int chunks, const int ipi) {
  const int k = q % chunks, img0 = q / chunks * ipi;
  const float nk = (float)(min(chunk, HW - k * chunk) * (min(N, img0 + ipi) - img0));
  const float mk = (st.x - m->S) + st.y;
  const float tot = m->n + nk, delta = mk - m->mean;
  m->mean += delta * (nk / tot);
  m->m2 += st.z + delta * delta * (m->n / tot) * nk;
  m->n = tot;
}

/*
 * The end of the statistics of channel c: save_mean / save_invstd, the
 * running-stat step with factor momentum (as the flags ask), and the
 * forward coefficient record {mean_hi, invstd, scale, shift}, returned.
 */
inline float4 bn_stats_finish(const bn_merge m, const int c, const float eps, const int affine,
                              __global const float *gamma, __global const float *beta, const int save,
                              __global float *save_mean, __global float *save_invstd, const int running,
                              __global float *running_mean, __global float *running_var, const float momentum) {
  const float var = m.m2 / m.n;
  const float invstd = 1.0f / sqrt(var + eps);
  const float mean_hi = m.S + m.mean, mean_lo = m.mean - (mean_hi - m.S);
  const float g = affine ? gamma[c] : 1.0f, b = affine ? beta[c] : 0.0f;
  if (save) {
    save_mean[c] = mean_hi + mean_lo;
    save_invstd[c] = invstd;
  }
  if (running) {
    const float unbiased = m.m2 / (m.n - 1.0f);
    running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * (mean_hi + mean_lo);
    running_var[c] = (1.0f - momentum) * running_var[c] + momentum * unbiased;
  }
  return (float4)(mean_hi, invstd, g * invstd, b - mean_lo * (g * invstd));
}

/*
 * bnorm_stats_final: one channel's statistics from its P partials, then the
 * outputs the flags ask for: save_mean / save_invstd, the running-stat step
 * with factor momentum, and the forward coefficient record at
 * ws[coef_off + 4c]. gamma / beta are read when affine.
 * NDRange (C), local (1).
 */
__kernel void bnorm_stats_final(TENSOR(ws), const ulong coef_off, const int N, const int C, const int HW,
                                const int chunk, const int chunks, const int ipi, const int P, const float eps,
                                const int affine, CTENSOR(gamma), CTENSOR(beta), const int save,
                                TENSOR(save_mean), TENSOR(save_invstd), const int running,
                                TENSOR(running_mean), TENSOR(running_var), const float momentum) {
  const int c = get_global_id(0);
  if (c >= C) return;
  __global const float *part = AT(ws) + (size_t)c * P * 3;
  bn_merge m = bn_merge_start(part[0]);
  for (int q = 0; q < P; q++)
    bn_merge_add(&m, (float3)(part[3 * q], part[3 * q + 1], part[3 * q + 2]), q, N, HW, chunk, chunks, ipi);
  const float4 coef = bn_stats_finish(m, c, eps, affine, AT(gamma), AT(beta), save, AT(save_mean),
                                      AT(save_invstd), running, AT(running_mean), AT(running_var), momentum);
  vstore4(coef, 0, AT(ws) + coef_off + 4 * (size_t)c);
}

/*
 * bnorm_coef: the coefficient record of channel c from given statistics:
 * mean, and either invstd itself (is_var = 0: a forward's save_invstd) or a
 * variance (is_var = 1: running_var, invstd = 1 / sqrt(var + eps)).
 * NDRange (C), local (1).
 */
__kernel void bnorm_coef(CTENSOR(mean), CTENSOR(stat), const int is_var, const float eps, const int C,
                         const int affine, CTENSOR(gamma), CTENSOR(beta), TENSOR(ws), const ulong coef_off) {
  const int c = get_global_id(0);
  if (c >= C) return;
  const float s = AT(stat)[c];
  const float invstd = is_var ? 1.0f / sqrt(s + eps) : s;
  const float g = affine ? AT(gamma)[c] : 1.0f, b = affine ? AT(beta)[c] : 0.0f;
  __global float *coef = AT(ws) + coef_off + 4 * (size_t)c;
  coef[0] = AT(mean)[c];
  coef[1] = invstd;
  coef[2] = g * invstd;
  coef[3] = b;
}

/*
 * bnorm_apply: y = ACT((x - mean_hi) * scale + shift) over plane p, 16
 * elements per work-item; the work-item past the last full vector does the
 * plane's tail. y may be x (inference in place): no restrict.
 * NDRange (HW / 16 + 1, N * C), any local size.
 */
__kernel void bnorm_apply(__global const STORE_T *x_base, const ulong x_off, __global STORE_T *y_base,
                          const ulong y_off, __global const float *ws_base, const ulong coef_off,
                          const int C, const int HW) {
  const int i = get_global_id(0), p = get_global_id(1), nvec = HW >> 4;
  __global const float *coef = ws_base + coef_off + 4 * (size_t)(p % C);
  const float mean = coef[0], scale = coef[2], shift = coef[3];
  __global const STORE_T *x = x_base + x_off + (size_t)p * HW;
  __global STORE_T *y = y_base + y_off + (size_t)p * HW;
  if (i < nvec) {
    STOREP16(act_f16(fma(LOADP16(i, x) - mean, (float16)(scale), (float16)(shift))), i, y);
  } else if (i == nvec) {
    for (int j = nvec << 4; j < HW; j++) STORE1(act_f1(fma(LOAD1(x, j) - mean, scale, shift)), y, j);
  }
}

/* One whole plane of bnorm_apply (streaming stores when stream). */
inline void bn_apply_plane(__global const STORE_T *restrict x, __global STORE_T *restrict y, const int HW,
                           const float mean, const float scale, const float shift, const int stream) {
  const int nvec = HW >> 4;
  for (int i = 0; i < nvec; i++)
    bn_store16(act_f16(fma(LOADP16(i, x) - mean, (float16)(scale), (float16)(shift))), i, y, stream);
  for (int j = nvec << 4; j < HW; j++) STORE1(act_f1(fma(LOAD1(x, j) - mean, scale, shift)), y, j);
}

/*
 * The plane size of the per-channel kernels: -DBN_HW=<h*w> makes it a
 * compile-time constant for small planes (whole plane one unit chunk), so
 * the loops over a plane's 1-4 vectors unroll: on 4x4 and 7x7 planes the
 * per-image loop overhead cost as much as the arithmetic.
 */
#ifdef BN_HW
#define BN_CHANNEL_PLANE const int HW = BN_HW, chunk = BN_HW, chunks = 1
#else
#define BN_CHANNEL_PLANE const int HW = HW_arg, chunk = chunk_arg, chunks = chunks_arg
#endif

/*
 * bnorm_fwd_channel: the whole training forward of channel c in one
 * work-item, for channels small enough to stay in the cache: the unit
 * statistics (as bnorm_stats_partial), merged in the same order (as
 * bnorm_stats_final), the outputs the flags ask for, then the apply over
 * the channel's planes, read again from the cache. x comes from memory
 * once instead of twice, and nothing goes through the workspace. stream:
 * streaming stores for y (an output too large for the cache).
 * NDRange (C), local (1).
 */
__kernel void bnorm_fwd_channel(CTENSOR_DT(x), TENSOR_DT(y), const int N, const int C, const int HW_arg,
                                const int chunk_arg, const int chunks_arg, const int ipi, const int P,
                                const float eps, const int affine, CTENSOR(gamma), CTENSOR(beta), const int save,
                                TENSOR(save_mean), TENSOR(save_invstd), const int running,
                                TENSOR(running_mean), TENSOR(running_var), const float momentum,
                                const int stream) {
  const int c = get_global_id(0);
  if (c >= C) return;
  BN_CHANNEL_PLANE;
  bn_merge m = bn_merge_start(0.0f);
  for (int q = 0; q < P; q++) {
    const bn_unit u = bn_unit_of(q % chunks, (q / chunks) * C + c, C, N, HW, chunk, chunks, ipi);
    const float3 st = bn_unit_stats(AT(x), u, C, HW);
    if (q == 0) m = bn_merge_start(st.x);
    bn_merge_add(&m, st, q, N, HW, chunk, chunks, ipi);
  }
  const float4 coef = bn_stats_finish(m, c, eps, affine, AT(gamma), AT(beta), save, AT(save_mean),
                                      AT(save_invstd), running, AT(running_mean), AT(running_var), momentum);
  for (int img = 0; img < N; img++) {
    const size_t off = ((size_t)img * C + c) * HW;
    bn_apply_plane(AT(x) + off, AT(y) + off, HW, coef.x, coef.z, coef.w, stream);
  }
}

/*
 * bnorm_apply_flat: the same for small planes (h * w < 16, BatchNorm1d's
 * h * w = 1), where per-plane work-items would idle: 16 consecutive elements
 * of the whole tensor per work-item, each with its own channel (the
 * channel and the position in the plane advance without divisions).
 * NDRange (numel / 16 + 1), any local size.
 */
__kernel void bnorm_apply_flat(__global const STORE_T *x_base, const ulong x_off, __global STORE_T *y_base,
                               const ulong y_off, __global const float *ws_base, const ulong coef_off,
                               const int C, const int HW, const int numel) {
  if (get_global_id(0) * 16 >= (size_t)numel) return;
  const int start = get_global_id(0) * 16, end = min(start, numel - 16) + 16;
  int c = (start / HW) % C, r = start % HW;
  __global const STORE_T *x = x_base + x_off;
  __global STORE_T *y = y_base + y_off;
  __global const float *coefs = ws_base + coef_off;
  for (int e = start; e < end; e++) {
    __global const float *coef = coefs + 4 * c;
    STORE1(act_f1(fma(LOAD1(x, e) - coef[0], coef[2], coef[3])), y, e);
    if (++r == HW) r = 0, c = c + 1 == C ? 0 : c + 1;
  }
}

/* dz: dy taken back through the fused activation, whose input is recomputed. */
#define BN_DZ(T, suffix, xv, dyv) \
  (ACT == ACT_IDENTITY ? (dyv) : act_grad_##suffix(fma((xv) - mean, (T)(scale), (T)(shift)), (dyv)))

/* Over one unit: sum(dz), sum(dz * (x - mean)), sum(x - mean), with the
 * coefficient record's mean, scale, shift (for the activation's input). */
inline float3 bn_unit_bwd_sums(__global const STORE_T *x, __global const STORE_T *dy, const bn_unit u, const int C,
                               const int HW, const float mean, const float scale, const float shift) {
  const int nvec = u.len >> 4;
  float16 s1 = (float16)(0.0f), s2 = (float16)(0.0f), s3 = (float16)(0.0f);
  float t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
  for (int img = u.img0; img < u.img1; img++) {
    const size_t off = ((size_t)img * C + u.c) * HW + u.start;
    __global const STORE_T *xv = x + off, *g = dy + off;
    for (int j = 0; j < nvec; j++) {
      const float16 xj = LOADP16(j, xv), dz = BN_DZ(float16, f16, xj, LOADP16(j, g)), dev = xj - mean;
      s1 += dz;
      s2 = fma(dz, dev, s2);
      s3 += dev;
    }
    for (int j = nvec << 4; j < u.len; j++) {
      const float xs = LOAD1(xv, j), dz = BN_DZ(float, f1, xs, LOAD1(g, j)), dev = xs - mean;
      t1 += dz;
      t2 = fma(dz, dev, t2);
      t3 += dev;
    }
  }
  return (float3)(hsum16(s1) + t1, hsum16(s2) + t2, hsum16(s3) + t3);
}

/*
 * bnorm_bwd_partial: over one unit, sum(dz), sum(dz * (x - mean)) and
 * sum(x - mean) with the coefficient record of the channel at
 * ws[coef_off + 4c] (mean: the forward's saved float mean); partial (c, q)
 * goes to ws[(c * P + q) * 3 ...].
 * NDRange (chunks, groups * C), local (1, 1).
 */
__kernel void bnorm_bwd_partial(CTENSOR_DT(x), CTENSOR_DT(dy), TENSOR(ws), const ulong coef_off, const int N,
                                const int C, const int HW, const int chunk, const int chunks, const int ipi,
                                const int P) {
  const int k = get_global_id(0), gc = get_global_id(1);
  if (k >= chunks) return;
  const bn_unit u = bn_unit_of(k, gc, C, N, HW, chunk, chunks, ipi);
  __global const float *coef = AT(ws) + coef_off + 4 * (size_t)u.c;
  const float3 t = bn_unit_bwd_sums(AT(x), AT(dy), u, C, HW, coef[0], coef[2], coef[3]);
  __global float *out = AT(ws) + ((size_t)u.c * P + u.q) * 3;
  out[0] = t.x;
  out[1] = t.y;
  out[2] = t.z;
}

/*
 * The dx record {k1, k2, k3, 0} of channel c from its sums (see
 * bnorm_bwd_final), writing dgamma / dbeta when asked.
 */
inline float4 bn_bwd_finish(const float sdz, const float sdzx, const float sx, const float invstd, const int c,
                            const float M, const int frozen, const int affine, __global const float *gamma,
                            const int want_dgamma, __global float *dgamma, const int want_dbeta,
                            __global float *dbeta) {
  const float delta = frozen ? 0.0f : sx / M;
  const float db = sdz, dg = invstd * (sdzx - delta * sdz);
  if (want_dgamma) dgamma[c] = dg;
  if (want_dbeta) dbeta[c] = db;
  const float g = affine ? gamma[c] : 1.0f;
  const float k2 = frozen ? 0.0f : -g * invstd * invstd * dg / M;
  return (float4)(g * invstd, k2, frozen ? 0.0f : -g * invstd * db / M - k2 * delta, 0.0f);
}

/*
 * bnorm_bwd_final: channel c's sums from its P partials (fixed order). With
 * batch statistics the saved mean m is a float rounding of the true mean
 * m + delta, delta = sum(x - m) / M: the sums are re-centred on it, so the
 * gradients stay accurate when |mean| >> std (1e4 + N(0,1): |delta| ~ 5e-4).
 * dbeta = sum dz, dgamma = invstd * sum dz (x - mean), written when asked;
 * then the dx record {k1, k2, k3} at ws[dcoef_off + 4c] for
 * dx = k1 dz + k2 (x - m) + k3: training (frozen = 0) k1 = gamma invstd,
 * k2 = -gamma invstd^2 dgamma / M, k3 = -gamma invstd dbeta / M - k2 delta;
 * frozen statistics (1): k2 = k3 = 0 and no re-centring.
 * NDRange (C), local (1).
 */
__kernel void bnorm_bwd_final(TENSOR(ws), const ulong coef_off, const ulong dcoef_off, const int C,
                              const int P, const float M, const int frozen, const int affine,
                              CTENSOR(gamma), const int want_dgamma, TENSOR(dgamma),
                              const int want_dbeta, TENSOR(dbeta)) {
  const int c = get_global_id(0);
  if (c >= C) return;
  __global const float *part = AT(ws) + (size_t)c * P * 3;
  float sdz = 0.0f, sdzx = 0.0f, sx = 0.0f;
  for (int q = 0; q < P; q++) {
    sdz += part[3 * q];
    sdzx += part[3 * q + 1];
    sx += part[3 * q + 2];
  }
  const float invstd = AT(ws)[coef_off + 4 * (size_t)c + 1];
  const float4 rec = bn_bwd_finish(sdz, sdzx, sx, invstd, c, M, frozen, affine, AT(gamma), want_dgamma,
                                   AT(dgamma), want_dbeta, AT(dbeta));
  vstore4(rec, 0, AT(ws) + dcoef_off + 4 * (size_t)c);
}

/*
 * bnorm_bwd_apply: dx = k1 * dz + k2 * (x - mean) + k3 over plane p.
 * NDRange (HW / 16 + 1, N * C), any local size.
 */
__kernel void bnorm_bwd_apply(CTENSOR_DT(x), CTENSOR_DT(dy), TENSOR_DT(dx), __global const float *restrict ws_base,
                              const ulong coef_off, const ulong dcoef_off, const int C, const int HW) {
  const int i = get_global_id(0), p = get_global_id(1), nvec = HW >> 4;
  __global const float *coef = ws_base + coef_off + 4 * (size_t)(p % C);
  __global const float *rec = ws_base + dcoef_off + 4 * (size_t)(p % C);
  const float mean = coef[0], scale = coef[2], shift = coef[3];
  const float k1 = rec[0], k2 = rec[1], k3 = rec[2];
  __global const STORE_T *xv = AT(x) + (size_t)p * HW;
  __global const STORE_T *g = AT(dy) + (size_t)p * HW;
  __global STORE_T *out = AT(dx) + (size_t)p * HW;
  if (i < nvec) {
    const float16 xj = LOADP16(i, xv), dz = BN_DZ(float16, f16, xj, LOADP16(i, g));
    STOREP16(fma((float16)(k1), dz, fma((float16)(k2), xj - mean, (float16)(k3))), i, out);
  } else if (i == nvec) {
    for (int j = nvec << 4; j < HW; j++) {
      const float xs = LOAD1(xv, j), dz = BN_DZ(float, f1, xs, LOAD1(g, j));
      STORE1(fma(k1, dz, fma(k2, xs - mean, k3)), out, j);
    }
  }
}

/* One whole plane of bnorm_bwd_apply. */
inline void bn_bwd_apply_plane(__global const STORE_T *restrict xv, __global const STORE_T *restrict g,
                               __global STORE_T *restrict out, const int HW, const float mean, const float scale,
                               const float shift, const float4 rec, const int stream) {
  const int nvec = HW >> 4;
  const float k1 = rec.x, k2 = rec.y, k3 = rec.z;
  for (int i = 0; i < nvec; i++) {
    const float16 xj = LOADP16(i, xv), dz = BN_DZ(float16, f16, xj, LOADP16(i, g));
    bn_store16(fma((float16)(k1), dz, fma((float16)(k2), xj - mean, (float16)(k3))), i, out, stream);
  }
  for (int j = nvec << 4; j < HW; j++) {
    const float xs = LOAD1(xv, j), dz = BN_DZ(float, f1, xs, LOAD1(g, j));
    STORE1(fma(k1, dz, fma(k2, xs - mean, k3)), out, j);
  }
}

/*
 * BN_KEEP_DZ: bnorm_bwd_channel may keep dz between its passes (see
 * there), with an activation: in dx itself in float32; in a float32
 * scratch the host gives (dzs, the workspace) in the half types, where dx
 * would round dz before the second pass uses it (a second rounding of the
 * gradient). Recomputing dz instead made a float16 backward with SiLU
 * about 2x slower than float32's.
 */
#if ACT != ACT_IDENTITY
#define BN_KEEP_DZ 1
#else
#define BN_KEEP_DZ 0
#endif
#if DT == CLNN_DTYPE_CODE_FLOAT32
#define BN_DZ_KEEP_AT(dx, dzs) (dx)
#else
#define BN_DZ_KEEP_AT(dx, dzs) (dzs)
#endif

#if BN_KEEP_DZ
/* Over one unit, as bn_unit_bwd_sums, also storing dz into dz_out (float32,
 * the same positions as x, in the lane order of LOADP16): the second pass
 * then reads dz instead of recomputing the activation's gradient. */
inline float3 bn_unit_bwd_sums_keep(__global const STORE_T *x, __global const STORE_T *dy, __global float *dz_out,
                                    const bn_unit u, const int C, const int HW, const float mean,
                                    const float scale, const float shift) {
  const int nvec = u.len >> 4;
  float16 s1 = (float16)(0.0f), s2 = (float16)(0.0f), s3 = (float16)(0.0f);
  float t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
  for (int img = u.img0; img < u.img1; img++) {
    const size_t off = ((size_t)img * C + u.c) * HW + u.start;
    __global const STORE_T *xv = x + off, *g = dy + off;
    __global float *o = dz_out + off;
    for (int j = 0; j < nvec; j++) {
      const float16 xj = LOADP16(j, xv), dz = BN_DZ(float16, f16, xj, LOADP16(j, g)), dev = xj - mean;
      vstore16(dz, j, o);
      s1 += dz;
      s2 = fma(dz, dev, s2);
      s3 += dev;
    }
    for (int j = nvec << 4; j < u.len; j++) {
      const float xs = LOAD1(xv, j), dz = BN_DZ(float, f1, xs, LOAD1(g, j)), dev = xs - mean;
      o[j] = dz;
      t1 += dz;
      t2 = fma(dz, dev, t2);
      t3 += dev;
    }
  }
  return (float3)(hsum16(s1) + t1, hsum16(s2) + t2, hsum16(s3) + t3);
}

/* dx = k1 * dz + k2 * (x - mean) + k3 over one plane, dz read from dz (in
 * float32 the same memory as out: written over). */
inline void bn_bwd_apply_plane_dz(__global const STORE_T *restrict xv, __global const float *dz,
                                  __global STORE_T *out, const int HW, const float mean, const float4 rec) {
  const int nvec = HW >> 4;
  const float k1 = rec.x, k2 = rec.y, k3 = rec.z;
  for (int i = 0; i < nvec; i++)
    STOREP16(fma((float16)(k1), vload16(i, dz), fma((float16)(k2), LOADP16(i, xv) - mean, (float16)(k3))), i, out);
  for (int j = nvec << 4; j < HW; j++) STORE1(fma(k1, dz[j], fma(k2, LOAD1(xv, j) - mean, k3)), out, j);
}
#endif /* BN_KEEP_DZ */

/*
 * bnorm_bwd_channel: the whole backward of channel c in one work-item, for
 * channels small enough to stay in the cache: the coefficient record (as
 * bnorm_coef, from mean and invstd or variance), the unit sums (as
 * bnorm_bwd_partial) added in the same order, dgamma / dbeta and the dx
 * record (as bnorm_bwd_final), then dx over the channel's planes. x and dy
 * come from memory once instead of twice; with dx asked and an activation,
 * the first pass keeps dz (dy through the activation) in dx, so the second
 * reads x and dz from the cache and the activation's gradient is computed
 * once (half types: dz kept in dzs, BN_KEEP_DZ). stream: streaming
 * stores for dx (too large for the cache, float32 only). keep_dz: the host
 * says dz may be kept (float32: not streaming, as dz would come back from
 * memory; half types: dzs holds a float per element).
 * NDRange (C), local (1).
 */
__kernel void bnorm_bwd_channel(CTENSOR_DT(x), CTENSOR_DT(dy), TENSOR_DT(dx), CTENSOR(mean), CTENSOR(stat),
                                const int is_var, const float eps, const int N, const int C, const int HW_arg,
                                const int chunk_arg, const int chunks_arg, const int ipi, const int P, const float M,
                                const int frozen, const int affine, CTENSOR(gamma), CTENSOR(beta),
                                const int want_dgamma, TENSOR(dgamma), const int want_dbeta, TENSOR(dbeta),
                                const int want_dx, const int stream, const int keep_dz, TENSOR(dzs)) {
  const int c = get_global_id(0);
  if (c >= C) return;
  BN_CHANNEL_PLANE;
  const float s = AT(stat)[c];
  const float invstd = is_var ? 1.0f / sqrt(s + eps) : s;
  const float g = affine ? AT(gamma)[c] : 1.0f, shift = affine ? AT(beta)[c] : 0.0f;
  const float mu = AT(mean)[c], scale = g * invstd;
  /* without an activation dz is dy itself: nothing to keep */
  const bool keep = BN_KEEP_DZ && want_dx && keep_dz;
  float sdz = 0.0f, sdzx = 0.0f, sx = 0.0f;
  for (int q = 0; q < P; q++) {
    const bn_unit u = bn_unit_of(q % chunks, (q / chunks) * C + c, C, N, HW, chunk, chunks, ipi);
#if BN_KEEP_DZ
    const float3 t = keep ? bn_unit_bwd_sums_keep(AT(x), AT(dy), BN_DZ_KEEP_AT(AT(dx), AT(dzs)), u, C, HW, mu, scale, shift)
                          : bn_unit_bwd_sums(AT(x), AT(dy), u, C, HW, mu, scale, shift);
#else
    const float3 t = bn_unit_bwd_sums(AT(x), AT(dy), u, C, HW, mu, scale, shift);
#endif
    sdz += t.x;
    sdzx += t.y;
    sx += t.z;
  }
  const float4 rec = bn_bwd_finish(sdz, sdzx, sx, invstd, c, M, frozen, affine, AT(gamma), want_dgamma,
                                   AT(dgamma), want_dbeta, AT(dbeta));
  if (!want_dx) return;
  for (int img = 0; img < N; img++) {
    const size_t off = ((size_t)img * C + c) * HW;
#if BN_KEEP_DZ
    if (keep) {
      bn_bwd_apply_plane_dz(AT(x) + off, BN_DZ_KEEP_AT(AT(dx), AT(dzs)) + off, AT(dx) + off, HW, mu, rec);
      continue;
    }
#endif
    bn_bwd_apply_plane(AT(x) + off, AT(dy) + off, AT(dx) + off, HW, mu, scale, shift, rec, stream);
  }
}

/*
 * bnorm_bwd_apply_flat: bnorm_bwd_apply for small planes (see
 * bnorm_apply_flat): 16 consecutive elements per work-item.
 * NDRange (numel / 16 + 1), any local size.
 */
__kernel void bnorm_bwd_apply_flat(CTENSOR_DT(x), CTENSOR_DT(dy), TENSOR_DT(dx), __global const float *restrict ws_base,
                                   const ulong coef_off, const ulong dcoef_off, const int C, const int HW,
                                   const int numel) {
  if (get_global_id(0) * 16 >= (size_t)numel) return;
  const int start = get_global_id(0) * 16, end = min(start, numel - 16) + 16;
  int c = (start / HW) % C, r = start % HW;
  for (int e = start; e < end; e++) {
    __global const float *coef = ws_base + coef_off + 4 * c, *rec = ws_base + dcoef_off + 4 * c;
    const float mean = coef[0], scale = coef[2], shift = coef[3];
    const float xv = LOAD1(AT(x), e), dz = BN_DZ(float, f1, xv, LOAD1(AT(dy), e));
    STORE1(fma(rec[0], dz, fma(rec[1], xv - mean, rec[2])), AT(dx), e);
    if (++r == HW) r = 0, c = c + 1 == C ? 0 : c + 1;
  }
}

/* ------------------------------------------------------------ GPU variants
 * Compiled into GPU-class programs, and into any program of a GPU variant
 * (those pass -DBN_WG): CPU-class programs stay as they were.
 *
 * Statistics and backward sums are two-level, deterministic and free of
 * atomics. Level one: work-group g of channel c (NDRange (G * BN_WG, C),
 * local (BN_WG, 1)) takes the slice [g * S, min((g + 1) * S, M)) of the
 * channel's M = N * HW values in their order j = img * HW + r, S = BN_WG *
 * BN_ITEMS; work-item l holds j = g * S + l + k * BN_WG, k < BN_ITEMS, so
 * neighbouring work-items read neighbouring addresses (a plane's values are
 * contiguous), and the group reduces as a tree in local memory in a fixed
 * order, writing one partial. Level two: one work-group per channel merges
 * its G partials (work-item l takes partials l, l + BN_WG, ... in order,
 * then the same tree) and finishes the channel as the CPU kernels do
 * (bn_stats_finish, bn_bwd_finish). Element-wise passes: one float4 per
 * work-item per step of a grid-stride loop, coalesced, any work-group size.
 *
 * The statistics keep the CPU kernels' numerics: a slice's partial is
 * (shift, dmean, m2) around its first value, two passes over the values
 * held in registers, and level two merges with Chan et al.'s update
 * relative to the first slice's shift, so data with mean 1e4 normalise to
 * float accuracy.
 */
#if !CLNN_DEVICE_CPU || defined(BN_WG)
#ifndef BN_WG
#define BN_WG CLNN_GPU_WG
#endif
/* Values per work-item of a level-one slice (kept in registers: the loops
 * over them unroll, so the array needs no memory). */
#define BN_ITEMS CLNN_BN_GPU_ITEMS
#define BN_SLICE (BN_WG * BN_ITEMS)

/* A position in a channel's values: image and place in the plane, advanced
 * BN_WG values at a time without divisions (q = BN_WG / HW, rem = BN_WG % HW). */
typedef struct bn_walk {
  int img, r;
} bn_walk;

inline bn_walk bn_walk_at(const int j, const int HW) {
  const int img = j / HW;
  bn_walk w = {img, j - img * HW}; /* not j % HW: see pool_fwd_gpu */
  return w;
}

inline void bn_walk_step(bn_walk *w, const int q, const int rem, const int HW) {
  w->img += q;
  w->r += rem;
  if (w->r >= HW) {
    w->r -= HW;
    w->img++;
  }
}

/* Chan et al.'s merge of two (count, mean, m2) triples; either may be empty. */
inline float4 bn_chan_merge(const float4 a, const float4 b) {
  if (b.x == 0.0f) return a;
  if (a.x == 0.0f) return b;
  const float n = a.x + b.x, delta = b.y - a.y;
  return (float4)(n, a.y + delta * (b.x / n), a.z + b.z + delta * delta * (a.x / n) * b.x, 0.0f);
}

/* The same merge over the work-group (tree in red, fixed order); the
 * result is valid in work-item 0. All work-items must call it. */
inline float4 bn_group_merge(const float4 v, __local float4 *red) {
  const int lid = get_local_id(0);
  red[lid] = v;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int s = BN_WG / 2; s > 0; s >>= 1) {
    if (lid < s) red[lid] = bn_chan_merge(red[lid], red[lid + s]);
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  return red[0];
}

/*
 * bnorm_stats_gpu: level one of the statistics: slice g of channel c gives
 * (shift, dmean, m2) as bn_unit_stats does for a unit, at
 * ws[(c * G + g) * 3 ...]. M = N * HW.
 * NDRange (G * BN_WG, C), local (BN_WG, 1).
 */
__kernel __attribute__((reqd_work_group_size(BN_WG, 1, 1))) void bnorm_stats_gpu(CTENSOR_DT(x), TENSOR(ws),
                                                                                 const int C, const int HW,
                                                                                 const int M, const int G) {
  __local float4 red[BN_WG];
  const int lid = get_local_id(0), g = get_group_id(0), c = get_global_id(1);
  const int start = g * BN_SLICE, n = min(BN_SLICE, M - start);
  const size_t img_stride = (size_t)C * HW;
  __global const STORE_T *xc = AT(x) + (size_t)c * HW;
  const bn_walk first = bn_walk_at(start, HW);
  const float shift = LOAD1(xc, first.img * img_stride + first.r);
  const int q = BN_WG / HW, rem = BN_WG % HW;
  bn_walk w = bn_walk_at(start + lid, HW);
  float v[BN_ITEMS], sum = 0.0f;
#pragma unroll
  for (int k = 0; k < BN_ITEMS; k++) {
    v[k] = 0.0f;
    if (lid + k * BN_WG < n) v[k] = LOAD1(xc, w.img * img_stride + w.r) - shift;
    sum += v[k];
    bn_walk_step(&w, q, rem, HW);
  }
  const float dmean = clnn_group_sum4((float4)(sum, 0.0f, 0.0f, 0.0f), red, BN_WG).x / (float)n;
  float m2 = 0.0f;
#pragma unroll
  for (int k = 0; k < BN_ITEMS; k++) {
    const float d = v[k] - dmean;
    if (lid + k * BN_WG < n) m2 = fma(d, d, m2);
  }
  m2 = clnn_group_sum4((float4)(m2, 0.0f, 0.0f, 0.0f), red, BN_WG).x;
  if (lid == 0) {
    __global float *out = AT(ws) + ((size_t)c * G + g) * 3;
    out[0] = shift;
    out[1] = dmean;
    out[2] = m2;
  }
}

/*
 * bnorm_stats_gpu_final: level two of the statistics: channel c's G
 * partials merged relative to the first one's shift, then what
 * bnorm_stats_final writes: save_mean / save_invstd, the running-stat
 * step, and the forward record at ws[coef_off + 4c].
 * NDRange (C * BN_WG), local (BN_WG).
 */
__kernel __attribute__((reqd_work_group_size(BN_WG, 1, 1))) void bnorm_stats_gpu_final(
    TENSOR(ws), const ulong coef_off, const int C, const int M, const int G, const float eps, const int affine,
    CTENSOR(gamma), CTENSOR(beta), const int save, TENSOR(save_mean), TENSOR(save_invstd), const int running,
    TENSOR(running_mean), TENSOR(running_var), const float momentum) {
  __local float4 red[BN_WG];
  const int lid = get_local_id(0), c = get_group_id(0);
  __global const float *part = AT(ws) + (size_t)c * G * 3;
  const float S = part[0];
  float4 acc = (float4)(0.0f);
  for (int g = lid; g < G; g += BN_WG) {
    const float ng = (float)min(BN_SLICE, M - g * BN_SLICE);
    acc = bn_chan_merge(acc, (float4)(ng, (part[3 * g] - S) + part[3 * g + 1], part[3 * g + 2], 0.0f));
  }
  acc = bn_group_merge(acc, red);
  if (lid == 0) {
    bn_merge m = {S, acc.x, acc.y, acc.z};
    const float4 coef = bn_stats_finish(m, c, eps, affine, AT(gamma), AT(beta), save, AT(save_mean),
                                        AT(save_invstd), running, AT(running_mean), AT(running_var), momentum);
    vstore4(coef, c, AT(ws) + coef_off);
  }
}

/*
 * The element-wise passes' position: the channel c and place r in its
 * plane of the float4 a work-item is at, moved on by the grid's stride
 * without divisions (integer division is a long sequence on GPUs and a
 * scalar instruction on CPUs): dc, dr are the stride's planes (mod C) and
 * remainder, computed once per work-item.
 */
typedef struct bn_pos {
  int c, r, dc, dr;
} bn_pos;

inline bn_pos bn_pos_start(const int e, const int stride, const int C, const int HW) {
  const int p = e / HW, dp = stride / HW;
  bn_pos s = {p - p / C * C, e - p * HW, dp - dp / C * C, stride - dp * HW};
  return s;
}

inline void bn_pos_next(bn_pos *s, const int C, const int HW) {
  s->r += s->dr;
  s->c += s->dc;
  if (s->r >= HW) {
    s->r -= HW;
    s->c++;
  }
  if (s->c >= C) s->c -= C;
}

/* The channel after c (one place further, r = HW wraps to the next plane). */
inline int bn_next_channel(const int c, const int C) { return c + 1 == C ? 0 : c + 1; }

/* The channels of the four elements at s (the float4 may cross planes, and
 * cross several when HW < 4); same: all four in c's plane. */
inline int4 bn_channels4(const bn_pos s, const int C, const int HW, bool *same) {
  *same = s.r + 3 < HW;
  if (*same) return (int4)(s.c);
  int4 ch;
  int r = s.r, c = s.c;
  ch.x = c;
  if (++r == HW) r = 0, c = bn_next_channel(c, C);
  ch.y = c;
  if (++r == HW) r = 0, c = bn_next_channel(c, C);
  ch.z = c;
  if (++r == HW) r = 0, c = bn_next_channel(c, C);
  ch.w = c;
  return ch;
}

/* The records recs[4c .. 4c + 4) of the channels ch, as four vectors:
 * out[i] = (rec_i of lane 0, ..., rec_i of lane 3). */
inline void bn_records4(__global const float *recs, const int4 ch, const bool same, float4 *r0, float4 *r1,
                        float4 *r2, float4 *r3) {
  const float4 a = vload4(ch.x, recs);
  if (same) {
    *r0 = (float4)(a.x);
    *r1 = (float4)(a.y);
    *r2 = (float4)(a.z);
    *r3 = (float4)(a.w);
    return;
  }
  const float4 b = vload4(ch.y, recs), cc = vload4(ch.z, recs), d = vload4(ch.w, recs);
  *r0 = (float4)(a.x, b.x, cc.x, d.x);
  *r1 = (float4)(a.y, b.y, cc.y, d.y);
  *r2 = (float4)(a.z, b.z, cc.z, d.z);
  *r3 = (float4)(a.w, b.w, cc.w, d.w);
}

/*
 * bnorm_apply_gpu: y = ACT((x - mean_hi) * scale + shift) over the whole
 * tensor (n elements), with channel records {mean_hi, invstd, scale, shift}
 * at ws[coef_off + 4c]; one float4 per work-item per step, the n % 4 tail
 * to the first work-items after the loop.
 * NDRange: a grid-stride grid, any local size.
 */
__kernel void bnorm_apply_gpu(CTENSOR_DT(x), TENSOR_DT(y), __global const float *restrict ws_base, const ulong coef_off,
                              const int C, const int HW, const int n) {
  __global const STORE_T *xv = AT(x);
  __global const float *recs = ws_base + coef_off;
  __global STORE_T *yv = AT(y);
  const int nvec = n >> 2, step = get_global_size(0);
  bn_pos at = bn_pos_start(get_global_id(0) << 2, step << 2, C, HW);
  for (int i = get_global_id(0); i < nvec; i += step, bn_pos_next(&at, C, HW)) {
    bool same;
    const int4 ch = bn_channels4(at, C, HW, &same);
    float4 mean, invstd, scale, shift;
    bn_records4(recs, ch, same, &mean, &invstd, &scale, &shift);
    STORE4(act_f4(fma(LOAD4(i, xv) - mean, scale, shift)), i, yv);
  }
  const long j = ((long)nvec << 2) + (long)get_global_id(0); /* long: near 2^31 elements an int wraps */
  if (j < n) {
    const float4 rec = vload4(j / HW % C, recs);
    STORE1(act_f1(fma(LOAD1(xv, j) - rec.x, rec.z, rec.w)), yv, j);
  }
}

/* Channel c's record {mean, invstd, gamma * invstd, beta} from given
 * statistics, as bnorm_coef computes it: invstd itself (is_var = 0) or a
 * variance (is_var = 1). */
inline float4 bn_record_of(__global const float *mean, __global const float *stat, const int is_var,
                           const float eps, const int affine, __global const float *gamma,
                           __global const float *beta, const int c) {
  const float s = stat[c];
  const float invstd = is_var ? 1.0f / sqrt(s + eps) : s;
  const float g = affine ? gamma[c] : 1.0f, b = affine ? beta[c] : 0.0f;
  return (float4)(mean[c], invstd, g * invstd, b);
}

/*
 * bnorm_infer_gpu: the inference forward in one pass: y = ACT((x - mean) *
 * scale + beta) with each channel's record computed on the fly from the
 * running statistics (bn_record_of), one float4 per work-item per step. y
 * may be x (in place): no restrict.
 * NDRange: a grid-stride grid, any local size.
 */
__kernel void bnorm_infer_gpu(__global const STORE_T *x_base, const ulong x_off, __global STORE_T *y_base,
                              const ulong y_off, CTENSOR(running_mean), CTENSOR(running_var), const float eps,
                              const int affine, CTENSOR(gamma), CTENSOR(beta), const int C, const int HW,
                              const int n) {
  __global const STORE_T *xv = x_base + x_off;
  __global STORE_T *yv = y_base + y_off;
  __global const float *rm = AT(running_mean), *rv = AT(running_var), *gm = AT(gamma), *bt = AT(beta);
  const int nvec = n >> 2, step = get_global_size(0);
  bn_pos at = bn_pos_start(get_global_id(0) << 2, step << 2, C, HW);
  for (int i = get_global_id(0); i < nvec; i += step, bn_pos_next(&at, C, HW)) {
    bool same;
    const int4 ch = bn_channels4(at, C, HW, &same);
    const float4 a = bn_record_of(rm, rv, 1, eps, affine, gm, bt, ch.x);
    float4 mean = (float4)(a.x), scale = (float4)(a.z), shift = (float4)(a.w);
    if (!same) {
      const float4 b = bn_record_of(rm, rv, 1, eps, affine, gm, bt, ch.y);
      const float4 cc = bn_record_of(rm, rv, 1, eps, affine, gm, bt, ch.z);
      const float4 d = bn_record_of(rm, rv, 1, eps, affine, gm, bt, ch.w);
      mean = (float4)(a.x, b.x, cc.x, d.x);
      scale = (float4)(a.z, b.z, cc.z, d.z);
      shift = (float4)(a.w, b.w, cc.w, d.w);
    }
    STORE4(act_f4(fma(LOAD4(i, xv) - mean, scale, shift)), i, yv);
  }
  const long j = ((long)nvec << 2) + (long)get_global_id(0); /* long: near 2^31 elements an int wraps */
  if (j < n) {
    const float4 rec = bn_record_of(rm, rv, 1, eps, affine, gm, bt, j / HW % C);
    STORE1(act_f1(fma(LOAD1(xv, j) - rec.x, rec.z, rec.w)), yv, j);
  }
}

/*
 * bnorm_bwd_gpu_partial: level one of the backward: over slice g of channel
 * c, sum(dz), sum(dz * (x - mean)) and sum(x - mean) (as bn_unit_bwd_sums),
 * with the channel's record from mean and stat (bn_record_of), at
 * ws[(c * G + g) * 3 ...].
 * NDRange (G * BN_WG, C), local (BN_WG, 1).
 */
__kernel __attribute__((reqd_work_group_size(BN_WG, 1, 1))) void bnorm_bwd_gpu_partial(
    CTENSOR_DT(x), CTENSOR_DT(dy), TENSOR(ws), CTENSOR(mean_in), CTENSOR(stat), const int is_var, const float eps,
    const int affine, CTENSOR(gamma), CTENSOR(beta), const int C, const int HW, const int M, const int G) {
  __local float4 red[BN_WG];
  const int lid = get_local_id(0), g = get_group_id(0), c = get_global_id(1);
  const float4 rec = bn_record_of(AT(mean_in), AT(stat), is_var, eps, affine, AT(gamma), AT(beta), c);
  const float mean = rec.x, scale = rec.z, shift = rec.w; /* BN_DZ's names */
  const int start = g * BN_SLICE, n = min(BN_SLICE, M - start);
  const size_t img_stride = (size_t)C * HW;
  __global const STORE_T *xc = AT(x) + (size_t)c * HW, *gc = AT(dy) + (size_t)c * HW;
  const int q = BN_WG / HW, rem = BN_WG % HW;
  bn_walk w = bn_walk_at(start + lid, HW);
  float4 acc = (float4)(0.0f);
#pragma unroll
  for (int k = 0; k < BN_ITEMS; k++) {
    if (lid + k * BN_WG < n) {
      const size_t at = w.img * img_stride + w.r;
      const float xv = LOAD1(xc, at), dz = BN_DZ(float, f1, xv, LOAD1(gc, at)), dev = xv - mean;
      acc.x += dz;
      acc.y = fma(dz, dev, acc.y);
      acc.z += dev;
    }
    bn_walk_step(&w, q, rem, HW);
  }
  acc = clnn_group_sum4(acc, red, BN_WG);
  if (lid == 0) {
    __global float *out = AT(ws) + ((size_t)c * G + g) * 3;
    out[0] = acc.x;
    out[1] = acc.y;
    out[2] = acc.z;
  }
}

/*
 * bnorm_bwd_gpu_final: level two of the backward: channel c's G partials
 * summed (fixed order), then what bnorm_bwd_final writes (dgamma, dbeta as
 * asked, the dx record at ws[dcoef_off + 4c]) and the channel's forward
 * record at ws[coef_off + 4c] for bnorm_bwd_apply_gpu.
 * NDRange (C * BN_WG), local (BN_WG).
 */
__kernel __attribute__((reqd_work_group_size(BN_WG, 1, 1))) void bnorm_bwd_gpu_final(
    TENSOR(ws), const ulong coef_off, const ulong dcoef_off, CTENSOR(mean_in), CTENSOR(stat), const int is_var,
    const float eps, const int affine, CTENSOR(gamma), CTENSOR(beta), const int C, const int G, const float M,
    const int frozen, const int want_dgamma, TENSOR(dgamma), const int want_dbeta, TENSOR(dbeta)) {
  __local float4 red[BN_WG];
  const int lid = get_local_id(0), c = get_group_id(0);
  __global const float *part = AT(ws) + (size_t)c * G * 3;
  float4 acc = (float4)(0.0f);
  for (int g = lid; g < G; g += BN_WG) acc += (float4)(part[3 * g], part[3 * g + 1], part[3 * g + 2], 0.0f);
  acc = clnn_group_sum4(acc, red, BN_WG);
  if (lid == 0) {
    const float4 rec = bn_record_of(AT(mean_in), AT(stat), is_var, eps, affine, AT(gamma), AT(beta), c);
    vstore4(rec, c, AT(ws) + coef_off);
    const float4 drec = bn_bwd_finish(acc.x, acc.y, acc.z, rec.y, c, M, frozen, affine, AT(gamma), want_dgamma,
                                      AT(dgamma), want_dbeta, AT(dbeta));
    vstore4(drec, c, AT(ws) + dcoef_off);
  }
}

/*
 * bnorm_bwd_apply_gpu: dx = k1 * dz + k2 * (x - mean) + k3 over the whole
 * tensor, with the records bnorm_bwd_gpu_final wrote; one float4 per
 * work-item per step, the tail after the loop.
 * NDRange: a grid-stride grid, any local size.
 */
__kernel void bnorm_bwd_apply_gpu(CTENSOR_DT(x), CTENSOR_DT(dy), TENSOR_DT(dx), __global const float *restrict ws_base,
                                  const ulong coef_off, const ulong dcoef_off, const int C, const int HW,
                                  const int n) {
  __global const STORE_T *xv = AT(x), *gv = AT(dy);
  __global const float *recs = ws_base + coef_off, *drecs = ws_base + dcoef_off;
  __global STORE_T *out = AT(dx);
  const int nvec = n >> 2, step = get_global_size(0);
  bn_pos at = bn_pos_start(get_global_id(0) << 2, step << 2, C, HW);
  for (int i = get_global_id(0); i < nvec; i += step, bn_pos_next(&at, C, HW)) {
    bool same;
    const int4 ch = bn_channels4(at, C, HW, &same);
    float4 mean, invstd, scale, shift, k1, k2, k3, unused;
    bn_records4(recs, ch, same, &mean, &invstd, &scale, &shift);
    bn_records4(drecs, ch, same, &k1, &k2, &k3, &unused);
    const float4 xj = LOAD4(i, xv), dz = BN_DZ(float4, f4, xj, LOAD4(i, gv));
    STORE4(fma(k1, dz, fma(k2, xj - mean, k3)), i, out);
  }
  const long j = ((long)nvec << 2) + (long)get_global_id(0); /* long: near 2^31 elements an int wraps */
  if (j < n) {
    const int c = j / HW % C;
    const float4 rec = vload4(c, recs), drec = vload4(c, drecs);
    const float mean = rec.x, scale = rec.z, shift = rec.w;
    const float xs = LOAD1(xv, j), dz = BN_DZ(float, f1, xs, LOAD1(gv, j));
    STORE1(fma(drec.x, dz, fma(drec.y, xs - mean, drec.z)), out, j);
  }
}
#endif /* GPU variants */
