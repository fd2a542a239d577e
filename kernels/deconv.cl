/*
 * deconv.cl - the transposed convolution's own kernels: the data and weight
 * regrouping around the convolution family's kernels (ops/deconv.c runs
 * the convolutions themselves through ops/conv_internal.h). No arithmetic
 * beyond the bias, the activation and the accumulate flag: every kernel
 * here is a gather, one writer per element, so nothing depends on order.
 *
 * The sub-pixel regrouping (see ops/deconv.c for the derivation): with
 * strides SH x SW there are P = SH*SW phases ph = bh*SW + bw; a regrouped
 * tensor has G*P*Cgo channels ordered (group, phase, channel of the
 * group's Cgo output channels), so each group's channels stay contiguous
 * for the grouped convolutions. A kernel tap r of the original weights is
 * tap t = r / S of phase b = r % S in the regrouped ones (TAPS = ceil(K/S)
 * taps per phase, zero where S*t + b >= K); with stride 1 in a dimension
 * the phase is 0 and the taps are the original ones.
 */
#if !defined(DECONV_D2S)
#define DECONV_BASE 1
#else
#define DECONV_BASE 0
#endif

/* floor(a / b) for b > 0 and any a (C division truncates toward zero). */
inline int deconv_floor_div(const int a, const int b) { return a >= 0 ? a / b : -((b - 1 - a) / b); }

/*
 * deconv_pack_w: the regrouped weights of the sub-pixel convolutions, from
 * w (Cin, Cgo, KH, KW) of the transposed convolution (Cin = G*Cgi).
 *  backward = 0: the forward's convolution x -> Z, layout (G*P*Cgo, Cgi,
 *    AH, AW), taps flipped: wz[(g*P + ph)*Cgo + co][ci][th][tw] =
 *    w[g*Cgi + ci][co][SH*(AH-1-th) + bh][SW*(AW-1-tw) + bw].
 *  backward = 1: the convolution Q -> dx, layout (Cin, P*Cgo, AH, AW):
 *    wq[ci][ph*Cgo + co][th][tw] = w[ci][co][SH*th + bh][SW*tw + bw].
 * Taps past the kernel are zero. One work-item per element of the result.
 * NDRange (G*P*Cgo*Cgi*AH*AW rounded up to 16), local (16).
 */
#if DECONV_BASE
__kernel void deconv_pack_w(CTENSOR(w), TENSOR(out), const int G, const int Cgi, const int Cgo, const int KH,
                            const int KW, const int SH, const int SW, const int AH, const int AW,
                            const int backward) {
  const int e = get_global_id(0), P = SH * SW, taps = AH * AW;
  if (e >= G * P * Cgo * Cgi * taps) return;
  const int tw = e % AW, th = (e / AW) % AH;
  int ci, co, ph, rh, rw;
  if (backward) {
    co = (e / taps) % Cgo;
    ph = (e / (taps * Cgo)) % P;
    ci = e / (taps * Cgo * P);
  } else {
    const int cil = (e / taps) % Cgi, kz = e / (taps * Cgi);
    co = kz % Cgo;
    ph = (kz / Cgo) % P;
    ci = (kz / (Cgo * P)) * Cgi + cil;
  }
  const int bh = ph / SW, bw = ph % SW;
  if (backward) {
    rh = SH * th + bh;
    rw = SW * tw + bw;
  } else {
    rh = SH * (AH - 1 - th) + bh;
    rw = SW * (AW - 1 - tw) + bw;
  }
  AT(out)[e] = (rh < KH && rw < KW) ? AT(w)[(((size_t)ci * Cgo + co) * KH + rh) * KW + rw] : 0.0f;
}
#endif

/*
 * deconv_unpack_dw: dw (Cin, Cgo, KH, KW) (+)= the weight gradient of the
 * convolution Q -> dx, dwq (Cin, P*Cgo, AH, AW), taps regrouped back:
 *   dw[ci][co][r][s] = dwq[ci][ph*Cgo + co][r / SH][s / SW], ph = (r % SH)*SW + s % SW.
 * NDRange (Cin*Cgo*KH*KW rounded up to 16), local (16).
 */
#if DECONV_BASE
__kernel void deconv_unpack_dw(CTENSOR(dwq), TENSOR(dw), const int Cin, const int Cgo, const int KH,
                               const int KW, const int SH, const int SW, const int AH, const int AW,
                               const int accumulate) {
  const int e = get_global_id(0);
  if (e >= Cin * Cgo * KH * KW) return;
  const int s = e % KW, r = (e / KW) % KH, co = (e / (KW * KH)) % Cgo, ci = e / (KW * KH * Cgo);
  const int ph = (r % SH) * SW + s % SW;
  const float v = AT(dwq)[((((size_t)ci * SH * SW + ph) * Cgo + co) * AH + r / SH) * AW + s / SW];
  AT(dw)[e] = accumulate ? AT(dw)[e] + v : v;
}
#endif

/*
 * deconv_s2d: regroup planes into phase channels (space to depth with an
 * offset), zero where the source has no element:
 *   dst[img][(g*P + ph)*Cgo + co][jh][jw] = src[img][g*Cgo + co][SH*jh + bh - PH][SW*jw + bw - PW]
 * with ph = bh*SW + bw. dst planes are Hd x Wd, src planes Hs x Ws. With
 * strides 1 and no offset it copies a window: it zero-extends planes
 * (Hd >= Hs) or crops them (Hd <= Hs). One work-item per dst row: the
 * columns that have a source element form one range, found arithmetically,
 * so the copy loop has no bounds checks.
 * NDRange (Hd, images * G * P * Cgo), local (1, 1).
 */
#if DECONV_BASE
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deconv_s2d(
    CTENSOR(src), TENSOR(dst), const int G, const int Cgo, const int Hs, const int Ws, const int Hd, const int Wd,
    const int SH, const int SW, const int PH, const int PW) {
  const int jh = get_global_id(0), plane = get_global_id(1);
  if (jh >= Hd) return;
  const int P = SH * SW, cq = plane % (G * P * Cgo), img = plane / (G * P * Cgo);
  const int co = cq % Cgo, ph = (cq / Cgo) % P, g = cq / (Cgo * P);
  const int bh = ph / SW, bw = ph % SW, iy = SH * jh + bh - PH;
  __global float *out = AT(dst) + ((size_t)plane * Hd + jh) * Wd;
  if (iy < 0 || iy >= Hs) {
    for (int j = 0; j < Wd; j++) out[j] = 0.0f;
    return;
  }
  __global const float *in = AT(src) + (((size_t)img * G * Cgo + g * Cgo + co) * Hs + iy) * Ws + bw - PW;
  /* Columns j with 0 <= SW*j + bw - PW < Ws: j in [lo, hi). */
  const int lo = min(Wd, max(0, -deconv_floor_div(bw - PW, SW)));
  const int hi = max(lo, min(Wd, deconv_floor_div(Ws - 1 - bw + PW, SW) + 1));
  for (int j = 0; j < lo; j++) out[j] = 0.0f;
  if (SW == 1)
    for (int j = lo; j < hi; j++) out[j] = in[j];
  else
    for (int j = lo; j < hi; j++) out[j] = in[SW * j];
  for (int j = hi; j < Wd; j++) out[j] = 0.0f;
}
#endif

/*
 * deconv_d2s: y from the phase planes Z of the sub-pixel forward (depth to
 * space with an offset), plus bias, then the activation:
 *   y[img][g*Cgo + co][oy][ox] = act(b[g*Cgo + co] +
 *       Z[img][(g*P + ph)*Cgo + co][(oy + OFFH)/SH + SHIFTH][(ox + OFFW)/SW + SHIFTW])
 * with ph = ((oy + OFFH) % SH)*SW + (ox + OFFW) % SW. The host sized Z so
 * that every index lands inside it. One work-item per y row; per column
 * phase bw it walks the row's columns ox = SW*j + bw - OFFW, a strided
 * copy without bounds checks.
 * -D: DECONV_D2S, ACT, ACT_ALPHA.
 * NDRange (Ho, images * G * Cgo), local (1, 1).
 */
#ifdef DECONV_D2S
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deconv_d2s(
    CTENSOR(z), CTENSOR(bias), TENSOR(y), const int G, const int Cgo, const int Zh, const int Zw, const int Ho,
    const int Wo, const int SH, const int SW, const int OFFH, const int OFFW, const int SHIFTH, const int SHIFTW,
    const int has_bias) {
  const int oy = get_global_id(0), plane = get_global_id(1);
  if (oy >= Ho) return;
  const int K = G * Cgo, P = SH * SW, k = plane % K, img = plane / K, g = k / Cgo, co = k % Cgo;
  const int bh = (oy + OFFH) % SH, jz = (oy + OFFH) / SH + SHIFTH;
  const float bv = has_bias ? AT(bias)[k] : 0.0f;
  __global float *out = AT(y) + ((size_t)plane * Ho + oy) * Wo;
  for (int bw = 0; bw < SW; bw++) {
    const int ph = bh * SW + bw;
    __global const float *zr =
        AT(z) + ((((size_t)img * G + g) * P + ph) * Cgo + co) * Zh * Zw + (size_t)jz * Zw + SHIFTW;
    /* Columns ox = SW*j + bw - OFFW >= 0; OFFW < SW, so j starts at 0 or 1. */
    const int j0 = bw < OFFW ? 1 : 0;
    for (int j = j0, ox = SW * j0 + bw - OFFW; ox < Wo; j++, ox += SW) out[ox] = act_f1(zr[j] + bv);
  }
}
#endif
