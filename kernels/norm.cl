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
 * -D (every kernel): ACT, ACT_ALPHA (the fused activation).
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

/*
 * bnorm_stats_partial: the partial statistics (shift, dmean, m2) of one unit.
 * NDRange (chunks, groups * C), local (1, 1).
 */
__kernel void bnorm_stats_partial(CTENSOR(x), TENSOR(ws), const int N, const int C, const int HW,
                                  const int chunk, const int chunks, const int ipi, const int P) {
  const int k = get_global_id(0), gc = get_global_id(1);
  if (k >= chunks) return;
  const bn_unit u = bn_unit_of(k, gc, C, N, HW, chunk, chunks, ipi);
  const int nvec = u.len >> 4;
  __global const float *first = AT(x) + ((size_t)u.img0 * C + u.c) * HW + u.start;
  const float shift = first[0];
  float16 acc = (float16)(0.0f);
  float sum = 0.0f;
  for (int img = u.img0; img < u.img1; img++) {
    __global const float *v = AT(x) + ((size_t)img * C + u.c) * HW + u.start;
    for (int j = 0; j < nvec; j++) acc += vload16(j, v) - shift;
    for (int j = nvec << 4; j < u.len; j++) sum += v[j] - shift;
  }
  const float dmean = (hsum16(acc) + sum) / (float)((u.img1 - u.img0) * u.len);
  acc = (float16)(0.0f);
  float m2 = 0.0f;
  for (int img = u.img0; img < u.img1; img++) {
    __global const float *v = AT(x) + ((size_t)img * C + u.c) * HW + u.start;
    for (int j = 0; j < nvec; j++) {
      const float16 d = (vload16(j, v) - shift) - dmean;
      acc = fma(d, d, acc);
    }
    for (int j = nvec << 4; j < u.len; j++) {
      const float d = (v[j] - shift) - dmean;
      m2 = fma(d, d, m2);
    }
  }
  __global float *out = AT(ws) + ((size_t)u.c * P + u.q) * 3;
  out[0] = shift;
  out[1] = dmean;
  out[2] = hsum16(acc) + m2;
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
  const float S = part[0];
  float n = 0.0f, mean = 0.0f, m2 = 0.0f; /* mean relative to S */
  for (int q = 0; q < P; q++) {
    const int k = q % chunks, img0 = q / chunks * ipi;
    const float nk = (float)(min(chunk, HW - k * chunk) * (min(N, img0 + ipi) - img0));
    const float mk = (part[3 * q] - S) + part[3 * q + 1];
    const float tot = n + nk, delta = mk - mean;
    mean += delta * (nk / tot);
    m2 += part[3 * q + 2] + delta * delta * (n / tot) * nk;
    n = tot;
  }
  const float var = m2 / n;
  const float invstd = 1.0f / sqrt(var + eps);
  const float mean_hi = S + mean, mean_lo = mean - (mean_hi - S);
  const float g = affine ? AT(gamma)[c] : 1.0f, b = affine ? AT(beta)[c] : 0.0f;
  __global float *coef = AT(ws) + coef_off + 4 * (size_t)c;
  coef[0] = mean_hi;
  coef[1] = invstd;
  coef[2] = g * invstd;
  coef[3] = b - mean_lo * (g * invstd);
  if (save) {
    AT(save_mean)[c] = mean_hi + mean_lo;
    AT(save_invstd)[c] = invstd;
  }
  if (running) {
    const float unbiased = m2 / (n - 1.0f);
    AT(running_mean)[c] = (1.0f - momentum) * AT(running_mean)[c] + momentum * (mean_hi + mean_lo);
    AT(running_var)[c] = (1.0f - momentum) * AT(running_var)[c] + momentum * unbiased;
  }
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
  const int nvec = u.len >> 4;
  __global const float *coef = AT(ws) + coef_off + 4 * (size_t)u.c;
  const float mean = coef[0], scale = coef[2], shift = coef[3];
  float16 s1 = (float16)(0.0f), s2 = (float16)(0.0f), s3 = (float16)(0.0f);
  float t1 = 0.0f, t2 = 0.0f, t3 = 0.0f;
  for (int img = u.img0; img < u.img1; img++) {
    const size_t off = ((size_t)img * C + u.c) * HW + u.start;
    __global const float *xv = AT(x) + off, *g = AT(dy) + off;
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
  __global float *out = AT(ws) + ((size_t)u.c * P + u.q) * 3;
  out[0] = hsum16(s1) + t1;
  out[1] = hsum16(s2) + t2;
  out[2] = hsum16(s3) + t3;
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
  const float delta = frozen ? 0.0f : sx / M;
  const float invstd = AT(ws)[coef_off + 4 * (size_t)c + 1];
  const float db = sdz, dg = invstd * (sdzx - delta * sdz);
  if (want_dgamma) AT(dgamma)[c] = dg;
  if (want_dbeta) AT(dbeta)[c] = db;
  const float g = affine ? AT(gamma)[c] : 1.0f;
  const float k2 = frozen ? 0.0f : -g * invstd * invstd * dg / M;
  __global float *rec = AT(ws) + dcoef_off + 4 * (size_t)c;
  rec[0] = g * invstd;
  rec[1] = k2;
  rec[2] = frozen ? 0.0f : -g * invstd * db / M - k2 * delta;
  rec[3] = 0.0f;
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
