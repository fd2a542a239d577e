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
 * Taps past the kernel are zero. Work-item (ph, i) writes, for phase ph,
 * the rows of one output channel (backward = 0: i = g*Cgo + co) or of one
 * input channel (backward = 1: i = ci): plain nested loops, no division
 * per element.
 * NDRange (P, backward ? Cin : G*Cgo), local (1, 1).
 */
#if DECONV_BASE
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deconv_pack_w(
    CTENSOR(w), TENSOR(out), const int G, const int Cgi, const int Cgo, const int KH, const int KW, const int SH,
    const int SW, const int AH, const int AW, const int backward) {
  const int ph = get_global_id(0), i = get_global_id(1), P = SH * SW, bh = ph / SW, bw = ph % SW;
  const int taps = AH * AW;
  if (!backward) {
    const int g = i / Cgo, co = i % Cgo;
    __global float *o = AT(out) + (((size_t)g * P + ph) * Cgo + co) * Cgi * taps;
    for (int cil = 0; cil < Cgi; cil++) {
      __global const float *src = AT(w) + ((size_t)(g * Cgi + cil) * Cgo + co) * KH * KW;
      for (int th = 0; th < AH; th++) {
        const int rh = SH * (AH - 1 - th) + bh;
        for (int tw = 0; tw < AW; tw++) {
          const int rw = SW * (AW - 1 - tw) + bw;
          o[(cil * AH + th) * AW + tw] = (rh < KH && rw < KW) ? src[rh * KW + rw] : 0.0f;
        }
      }
    }
  } else {
    const int ci = i;
    __global float *o = AT(out) + ((size_t)ci * P + ph) * Cgo * taps;
    for (int co = 0; co < Cgo; co++) {
      __global const float *src = AT(w) + ((size_t)ci * Cgo + co) * KH * KW;
      for (int th = 0; th < AH; th++) {
        const int rh = SH * th + bh;
        for (int tw = 0; tw < AW; tw++) {
          const int rw = SW * tw + bw;
          o[(co * AH + th) * AW + tw] = (rh < KH && rw < KW) ? src[rh * KW + rw] : 0.0f;
        }
      }
    }
  }
}
#endif

/*
 * deconv_unpack_dw: dw (Cin, Cgo, KH, KW) (+)= the weight gradient of the
 * convolution Q -> dx, dwq (Cin, P*Cgo, AH, AW), taps regrouped back:
 *   dw[ci][co][r][s] = dwq[ci][ph*Cgo + co][r / SH][s / SW], ph = (r % SH)*SW + s % SW.
 * Work-item ci writes dw[ci].
 * NDRange (Cin), local (1).
 */
#if DECONV_BASE
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deconv_unpack_dw(
    CTENSOR(dwq), TENSOR(dw), const int Cin, const int Cgo, const int KH, const int KW, const int SH, const int SW,
    const int AH, const int AW, const int accumulate) {
  const int ci = get_global_id(0);
  if (ci >= Cin) return;
  __global const float *src = AT(dwq) + (size_t)ci * SH * SW * Cgo * AH * AW;
  __global float *o = AT(dw) + (size_t)ci * Cgo * KH * KW;
  for (int r = 0; r < KH; r++)
    for (int s = 0; s < KW; s++) {
      const int ph = (r % SH) * SW + s % SW;
      __global const float *sp = src + ((size_t)ph * Cgo * AH + r / SH) * AW + s / SW;
      for (int co = 0; co < Cgo; co++) {
        const float v = sp[(size_t)co * AH * AW];
        __global float *dst = &o[((size_t)co * KH + r) * KW + s];
        *dst = accumulate ? *dst + v : v;
      }
    }
}
#endif

/* Interleave a and b: (a0, b0, a1, b1, ...) as two float16 halves. */
#define DECONV_ZIP_LO (uint16)(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define DECONV_ZIP_HI (uint16)(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31)

/*
 * deconv_s2d: regroup planes into phase channels (space to depth with an
 * offset), zero where the source has no element:
 *   dst[img][(g*P + ph)*Cgo + co][jh][jw] = src[img][g*Cgo + co][SH*jh + bh - PH][SW*jw + bw - PW]
 * with ph = bh*SW + bw. dst planes are Hd x Wd, src planes Hs x Ws. With
 * strides 1 and no offset it copies a window: it zero-extends planes
 * (Hd >= Hs) or crops them (Hd <= Hs).
 * Work-item (t, plane) fills rows [t*rows, t*rows + rows) of the P dst
 * planes of src plane `plane`. The columns of a row that have a source
 * element form one range, found arithmetically, so the copy has no bounds
 * checks; with SW == 2 it takes 16 columns at a time from two vector loads
 * (even or odd lanes).
 * NDRange (ceil(Hd / rows), images * G * Cgo), local (1, 1).
 */
#if DECONV_BASE
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deconv_s2d(
    CTENSOR(src), TENSOR(dst), const int G, const int Cgo, const int Hs, const int Ws, const int Hd, const int Wd,
    const int SH, const int SW, const int PH, const int PW, const int rows) {
  const int j0 = get_global_id(0) * rows, plane = get_global_id(1);
  if (j0 >= Hd) return;
  const int j1 = min(j0 + rows, Hd), P = SH * SW;
  const int co = plane % Cgo, g = (plane / Cgo) % G, img = plane / (Cgo * G);
  __global const float *sp = AT(src) + (size_t)plane * Hs * Ws;
  for (int ph = 0; ph < P; ph++) {
    const int bh = ph / SW, bw = ph % SW, base = bw - PW;
    __global float *dp = AT(dst) + ((((size_t)img * G + g) * P + ph) * Cgo + co) * Hd * Wd;
    /* Columns j with 0 <= SW*j + base < Ws: j in [lo, hi). */
    const int lo = min(Wd, max(0, -deconv_floor_div(base, SW)));
    const int hi = max(lo, min(Wd, deconv_floor_div(Ws - 1 - base, SW) + 1));
    for (int jh = j0; jh < j1; jh++) {
      __global float *out = dp + (size_t)jh * Wd;
      const int iy = SH * jh + bh - PH;
      if (iy < 0 || iy >= Hs) {
        for (int j = 0; j < Wd; j++) out[j] = 0.0f;
        continue;
      }
      __global const float *in = sp + (size_t)iy * Ws + base;
      for (int j = 0; j < lo; j++) out[j] = 0.0f;
      int j = lo;
      if (SW == 2)
        /* 32 source columns 2j + base .. 2j + base + 31, all inside the row. */
        for (; j + 16 <= hi && 2 * j + base + 31 < Ws; j += 16) {
          const float16 a = vload16(0, in + 2 * j), b = vload16(0, in + 2 * j + 16);
          vstore16((float16)(a.even, b.even), 0, out + j);
        }
      for (; j < hi; j++) out[j] = in[SW * j];
      for (j = hi; j < Wd; j++) out[j] = 0.0f;
    }
  }
}
#endif

/*
 * deconv_d2s: y from the phase planes Z of the sub-pixel forward (depth to
 * space with an offset), plus bias, then the activation:
 *   y[img][g*Cgo + co][oy][ox] = act(b[g*Cgo + co] +
 *       Z[img][(g*P + ph)*Cgo + co][(oy + OFFH)/SH + SHIFTH][(ox + OFFW)/SW + SHIFTW])
 * with ph = ((oy + OFFH) % SH)*SW + (ox + OFFW) % SW. The host sized Z so
 * that every index lands inside it. Work-item (t, plane) writes rows
 * [t*rows, t*rows + rows) of y plane `plane`. Per column phase bw a row is
 * a strided copy without bounds checks; with SW == 2 the two phase rows are
 * interleaved 32 columns at a time (two vector loads, two shuffles).
 * -D: DECONV_D2S, ACT, ACT_ALPHA.
 * NDRange (ceil(Ho / rows), images * G * Cgo), local (1, 1).
 */
#ifdef DECONV_D2S
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void deconv_d2s(
    CTENSOR(z), CTENSOR(bias), TENSOR(y), const int G, const int Cgo, const int Zh, const int Zw, const int Ho,
    const int Wo, const int SH, const int SW, const int OFFH, const int OFFW, const int SHIFTH, const int SHIFTW,
    const int has_bias, const int rows) {
  const int oy0 = get_global_id(0) * rows, plane = get_global_id(1);
  if (oy0 >= Ho) return;
  const int oy1 = min(oy0 + rows, Ho), K = G * Cgo, P = SH * SW;
  const int k = plane % K, img = plane / K, g = k / Cgo, co = k % Cgo;
  const float bv = has_bias ? AT(bias)[k] : 0.0f;
  /* Z plane of phase 0 of this channel; phase ph is ph * Cgo planes on. */
  __global const float *zp = AT(z) + (((size_t)img * G + g) * P * Cgo + co) * Zh * Zw + SHIFTW;
  const size_t phase_stride = (size_t)Cgo * Zh * Zw;
  for (int oy = oy0; oy < oy1; oy++) {
    const int bh = (oy + OFFH) % SH, jz = (oy + OFFH) / SH + SHIFTH;
    __global const float *zr = zp + (size_t)bh * SW * phase_stride + (size_t)jz * Zw;
    __global float *out = AT(y) + ((size_t)plane * Ho + oy) * Wo;
    int done = 0; /* columns below this are written */
    if (SW == 2) {
      /* ox = 2m + e reads phase (e + OFFW) % 2 at column m + (e + OFFW) / 2. */
      __global const float *ze = zr + OFFW * phase_stride;
      __global const float *zo = zr + ((1 + OFFW) % 2) * phase_stride + (1 + OFFW) / 2;
      for (; done + 32 <= Wo; done += 32) {
        const float16 a = vload16(0, ze + done / 2), b = vload16(0, zo + done / 2);
        vstore16(act_f16(shuffle2(a, b, DECONV_ZIP_LO) + bv), 0, out + done);
        vstore16(act_f16(shuffle2(a, b, DECONV_ZIP_HI) + bv), 0, out + done + 16);
      }
    }
    for (int bw = 0; bw < SW; bw++) {
      __global const float *zb = zr + (size_t)bw * phase_stride;
      /* Columns ox = SW*j + bw - OFFW >= done; OFFW < SW. */
      int j = (done + OFFW - bw + SW - 1) / SW;
      for (int ox = SW * j + bw - OFFW; ox < Wo; j++, ox += SW) out[ox] = act_f1(zb[j] + bv);
    }
  }
}
#endif
