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
 * -D (every kernel): ACT, ACT_ALPHA (the fused activation); BN_HW (the
 * per-channel kernels: the plane size, when small).
 */

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
inline float3 bn_unit_stats(__global const float *x, const bn_unit u, const int C, const int HW) {
  const int nvec = u.len >> 4;
  __global const float *first = x + ((size_t)u.img0 * C + u.c) * HW + u.start;
  const float shift = first[0];
  float16 acc = (float16)(0.0f);
  float sum = 0.0f;
  for (int img = u.img0; img < u.img1; img++) {
    __global const float *v = x + ((size_t)img * C + u.c) * HW + u.start;
    for (int j = 0; j < nvec; j++) acc += vload16(j, v) - shift;
    for (int j = nvec << 4; j < u.len; j++) sum += v[j] - shift;
  }
  const float dmean = (hsum16(acc) + sum) / (float)((u.img1 - u.img0) * u.len);
  acc = (float16)(0.0f);
  float m2 = 0.0f;
  for (int img = u.img0; img < u.img1; img++) {
    __global const float *v = x + ((size_t)img * C + u.c) * HW + u.start;
    for (int j = 0; j < nvec; j++) {
      const float16 d = (vload16(j, v) - shift) - dmean;
      acc = fma(d, d, acc);
    }
    for (int j = nvec << 4; j < u.len; j++) {
      const float d = (v[j] - shift) - dmean;
      m2 = fma(d, d, m2);
    }
  }
  return (float3)(shift, dmean, hsum16(acc) + m2);
}

/*
 * bnorm_stats_partial: the partial statistics (shift, dmean, m2) of one unit.
 * NDRange (chunks, groups * C), local (1, 1).
 */
__kernel void bnorm_stats_partial(CTENSOR(x), TENSOR(ws), const int N, const int C, const int HW,
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
__kernel void bnorm_apply(__global const float *x_base, const ulong x_off, __global float *y_base,
                          const ulong y_off, __global const float *ws_base, const ulong coef_off,
                          const int C, const int HW) {
  const int i = get_global_id(0), p = get_global_id(1), nvec = HW >> 4;
  __global const float *coef = ws_base + coef_off + 4 * (size_t)(p % C);
  const float mean = coef[0], scale = coef[2], shift = coef[3];
  __global const float *x = x_base + x_off + (size_t)p * HW;
  __global float *y = y_base + y_off + (size_t)p * HW;
  if (i < nvec) {
    vstore16(act_f16(fma(vload16(i, x) - mean, (float16)(scale), (float16)(shift))), i, y);
  } else if (i == nvec) {
    for (int j = nvec << 4; j < HW; j++) y[j] = act_f1(fma(x[j] - mean, scale, shift));
  }
}

/* One whole plane of bnorm_apply (streaming stores when stream). */
inline void bn_apply_plane(__global const float *restrict x, __global float *restrict y, const int HW,
                           const float mean, const float scale, const float shift, const int stream) {
  const int nvec = HW >> 4;
  for (int i = 0; i < nvec; i++) {
    const float16 v = act_f16(fma(vload16(i, x) - mean, (float16)(scale), (float16)(shift)));
    if (stream)
      clnn_store16_stream(v, y + 16 * i);
    else
      vstore16(v, i, y);
  }
  for (int j = nvec << 4; j < HW; j++) y[j] = act_f1(fma(x[j] - mean, scale, shift));
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
__kernel void bnorm_fwd_channel(CTENSOR(x), TENSOR(y), const int N, const int C, const int HW_arg,
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
__kernel void bnorm_apply_flat(__global const float *x_base, const ulong x_off, __global float *y_base,
                               const ulong y_off, __global const float *ws_base, const ulong coef_off,
                               const int C, const int HW, const int numel) {
  if (get_global_id(0) * 16 >= (size_t)numel) return;
  const int start = get_global_id(0) * 16, end = min(start, numel - 16) + 16;
  int c = (start / HW) % C, r = start % HW;
  __global const float *x = x_base + x_off;
  __global float *y = y_base + y_off;
  __global const float *coefs = ws_base + coef_off;
  for (int e = start; e < end; e++) {
    __global const float *coef = coefs + 4 * c;
    y[e] = act_f1(fma(x[e] - coef[0], coef[2], coef[3]));
    if (++r == HW) r = 0, c = c + 1 == C ? 0 : c + 1;
  }
}

/* dz: dy taken back through the fused activation, whose input is recomputed. */
#define BN_DZ(T, suffix, xv, dyv) \
  (ACT == ACT_IDENTITY ? (dyv) : act_grad_##suffix(fma((xv) - mean, (T)(scale), (T)(shift)), (dyv)))

/* Over one unit: sum(dz), sum(dz * (x - mean)), sum(x - mean), with the
 * coefficient record's mean, scale, shift (for the activation's input). */
inline float3 bn_unit_bwd_sums(__global const float *x, __global const float *dy, const bn_unit u, const int C,
                               const int HW, const float mean, const float scale, const float shift) {
  const int nvec = u.len >> 4;
  float16 s1 = (float16)(0.0f), s2 = (float16)(0.0f), s3 = (float16)(0.0f);
  float t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
  for (int img = u.img0; img < u.img1; img++) {
    const size_t off = ((size_t)img * C + u.c) * HW + u.start;
    __global const float *xv = x + off, *g = dy + off;
    for (int j = 0; j < nvec; j++) {
      const float16 xj = vload16(j, xv), dz = BN_DZ(float16, f16, xj, vload16(j, g)), dev = xj - mean;
      s1 += dz;
      s2 = fma(dz, dev, s2);
      s3 += dev;
    }
    for (int j = nvec << 4; j < u.len; j++) {
      const float dz = BN_DZ(float, f1, xv[j], g[j]), dev = xv[j] - mean;
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
__kernel void bnorm_bwd_partial(CTENSOR(x), CTENSOR(dy), TENSOR(ws), const ulong coef_off, const int N,
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
__kernel void bnorm_bwd_apply(CTENSOR(x), CTENSOR(dy), TENSOR(dx), __global const float *restrict ws_base,
                              const ulong coef_off, const ulong dcoef_off, const int C, const int HW) {
  const int i = get_global_id(0), p = get_global_id(1), nvec = HW >> 4;
  __global const float *coef = ws_base + coef_off + 4 * (size_t)(p % C);
  __global const float *rec = ws_base + dcoef_off + 4 * (size_t)(p % C);
  const float mean = coef[0], scale = coef[2], shift = coef[3];
  const float k1 = rec[0], k2 = rec[1], k3 = rec[2];
  __global const float *xv = AT(x) + (size_t)p * HW;
  __global const float *g = AT(dy) + (size_t)p * HW;
  __global float *out = AT(dx) + (size_t)p * HW;
  if (i < nvec) {
    const float16 xj = vload16(i, xv), dz = BN_DZ(float16, f16, xj, vload16(i, g));
    vstore16(fma((float16)(k1), dz, fma((float16)(k2), xj - mean, (float16)(k3))), i, out);
  } else if (i == nvec) {
    for (int j = nvec << 4; j < HW; j++) {
      const float dz = BN_DZ(float, f1, xv[j], g[j]);
      out[j] = fma(k1, dz, fma(k2, xv[j] - mean, k3));
    }
  }
}

/* One whole plane of bnorm_bwd_apply. */
inline void bn_bwd_apply_plane(__global const float *restrict xv, __global const float *restrict g,
                               __global float *restrict out, const int HW, const float mean, const float scale,
                               const float shift, const float4 rec, const int stream) {
  const int nvec = HW >> 4;
  const float k1 = rec.x, k2 = rec.y, k3 = rec.z;
  for (int i = 0; i < nvec; i++) {
    const float16 xj = vload16(i, xv), dz = BN_DZ(float16, f16, xj, vload16(i, g));
    const float16 v = fma((float16)(k1), dz, fma((float16)(k2), xj - mean, (float16)(k3)));
    if (stream)
      clnn_store16_stream(v, out + 16 * i);
    else
      vstore16(v, i, out);
  }
  for (int j = nvec << 4; j < HW; j++) {
    const float dz = BN_DZ(float, f1, xv[j], g[j]);
    out[j] = fma(k1, dz, fma(k2, xv[j] - mean, k3));
  }
}

/* Over one unit, as bn_unit_bwd_sums, also storing dz into dz_out (the
 * same positions as x): the second pass then reads dz instead of
 * recomputing the activation's gradient. */
inline float3 bn_unit_bwd_sums_keep(__global const float *x, __global const float *dy, __global float *dz_out,
                                    const bn_unit u, const int C, const int HW, const float mean,
                                    const float scale, const float shift) {
  const int nvec = u.len >> 4;
  float16 s1 = (float16)(0.0f), s2 = (float16)(0.0f), s3 = (float16)(0.0f);
  float t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
  for (int img = u.img0; img < u.img1; img++) {
    const size_t off = ((size_t)img * C + u.c) * HW + u.start;
    __global const float *xv = x + off, *g = dy + off;
    __global float *o = dz_out + off;
    for (int j = 0; j < nvec; j++) {
      const float16 xj = vload16(j, xv), dz = BN_DZ(float16, f16, xj, vload16(j, g)), dev = xj - mean;
      vstore16(dz, j, o);
      s1 += dz;
      s2 = fma(dz, dev, s2);
      s3 += dev;
    }
    for (int j = nvec << 4; j < u.len; j++) {
      const float dz = BN_DZ(float, f1, xv[j], g[j]), dev = xv[j] - mean;
      o[j] = dz;
      t1 += dz;
      t2 = fma(dz, dev, t2);
      t3 += dev;
    }
  }
  return (float3)(hsum16(s1) + t1, hsum16(s2) + t2, hsum16(s3) + t3);
}

/* dx = k1 * dz + k2 * (x - mean) + k3 over one plane, dz read from (and dx
 * written over) io. */
inline void bn_bwd_apply_plane_dz(__global const float *restrict xv, __global float *restrict io, const int HW,
                                  const float mean, const float4 rec) {
  const int nvec = HW >> 4;
  const float k1 = rec.x, k2 = rec.y, k3 = rec.z;
  for (int i = 0; i < nvec; i++)
    vstore16(fma((float16)(k1), vload16(i, io), fma((float16)(k2), vload16(i, xv) - mean, (float16)(k3))), i, io);
  for (int j = nvec << 4; j < HW; j++) io[j] = fma(k1, io[j], fma(k2, xv[j] - mean, k3));
}

/*
 * bnorm_bwd_channel: the whole backward of channel c in one work-item, for
 * channels small enough to stay in the cache: the coefficient record (as
 * bnorm_coef, from mean and invstd or variance), the unit sums (as
 * bnorm_bwd_partial) added in the same order, dgamma / dbeta and the dx
 * record (as bnorm_bwd_final), then dx over the channel's planes. x and dy
 * come from memory once instead of twice; with dx asked and an activation,
 * the first pass keeps dz (dy through the activation) in dx, so the second
 * reads x and dz from the cache and the activation's gradient is computed
 * once. stream: streaming stores for dx (too large for the cache); dz is
 * then recomputed rather than kept.
 * NDRange (C), local (1).
 */
__kernel void bnorm_bwd_channel(CTENSOR(x), CTENSOR(dy), TENSOR(dx), CTENSOR(mean), CTENSOR(stat),
                                const int is_var, const float eps, const int N, const int C, const int HW_arg,
                                const int chunk_arg, const int chunks_arg, const int ipi, const int P, const float M,
                                const int frozen, const int affine, CTENSOR(gamma), CTENSOR(beta),
                                const int want_dgamma, TENSOR(dgamma), const int want_dbeta, TENSOR(dbeta),
                                const int want_dx, const int stream) {
  const int c = get_global_id(0);
  if (c >= C) return;
  BN_CHANNEL_PLANE;
  const float s = AT(stat)[c];
  const float invstd = is_var ? 1.0f / sqrt(s + eps) : s;
  const float g = affine ? AT(gamma)[c] : 1.0f, shift = affine ? AT(beta)[c] : 0.0f;
  const float mu = AT(mean)[c], scale = g * invstd;
  /* without an activation dz is dy itself: nothing to keep; dx streamed
   * to memory: keeping dz there would read it back from memory */
#if ACT == ACT_IDENTITY
  const bool keep = false;
#else
  const bool keep = want_dx && !stream;
#endif
  float sdz = 0.0f, sdzx = 0.0f, sx = 0.0f;
  for (int q = 0; q < P; q++) {
    const bn_unit u = bn_unit_of(q % chunks, (q / chunks) * C + c, C, N, HW, chunk, chunks, ipi);
    const float3 t = keep ? bn_unit_bwd_sums_keep(AT(x), AT(dy), AT(dx), u, C, HW, mu, scale, shift)
                          : bn_unit_bwd_sums(AT(x), AT(dy), u, C, HW, mu, scale, shift);
    sdz += t.x;
    sdzx += t.y;
    sx += t.z;
  }
  const float4 rec = bn_bwd_finish(sdz, sdzx, sx, invstd, c, M, frozen, affine, AT(gamma), want_dgamma,
                                   AT(dgamma), want_dbeta, AT(dbeta));
  if (!want_dx) return;
  for (int img = 0; img < N; img++) {
    const size_t off = ((size_t)img * C + c) * HW;
    if (keep)
      bn_bwd_apply_plane_dz(AT(x) + off, AT(dx) + off, HW, mu, rec);
    else
      bn_bwd_apply_plane(AT(x) + off, AT(dy) + off, AT(dx) + off, HW, mu, scale, shift, rec, stream);
  }
}

/*
 * bnorm_bwd_apply_flat: bnorm_bwd_apply for small planes (see
 * bnorm_apply_flat): 16 consecutive elements per work-item.
 * NDRange (numel / 16 + 1), any local size.
 */
__kernel void bnorm_bwd_apply_flat(CTENSOR(x), CTENSOR(dy), TENSOR(dx), __global const float *restrict ws_base,
                                   const ulong coef_off, const ulong dcoef_off, const int C, const int HW,
                                   const int numel) {
  if (get_global_id(0) * 16 >= (size_t)numel) return;
  const int start = get_global_id(0) * 16, end = min(start, numel - 16) + 16;
  int c = (start / HW) % C, r = start % HW;
  for (int e = start; e < end; e++) {
    __global const float *coef = ws_base + coef_off + 4 * c, *rec = ws_base + dcoef_off + 4 * c;
    const float mean = coef[0], scale = coef[2], shift = coef[3];
    const float xv = AT(x)[e], dz = BN_DZ(float, f1, xv, AT(dy)[e]);
    AT(dx)[e] = fma(rec[0], dz, fma(rec[1], xv - mean, rec[2]));
    if (++r == HW) r = 0, c = c + 1 == C ? 0 : c + 1;
  }
}
