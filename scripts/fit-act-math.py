#!/usr/bin/env python3
"""fit-act-math.py - derive the polynomial and rational coefficients of the
activation math in kernels/common.h, and check them in float32 arithmetic.

    python3 scripts/fit-act-math.py        # needs numpy; a few seconds

Each approximation is fitted in double precision on a dense grid: weighted
linear least squares for a rational P(s)/Q(s) with Q(0) = 1, iterated
(Sanathanan-Koerner: divide by the previous Q) and then reweighted by the
error (Lawson) towards the minimax fit; the best iterate is kept. The fits:

  exp      e^r = 1 + r + r^2 E(r), r in [-ln2/2, ln2/2], E of degree 4,
           relative error.
  tanh     tanh(x) = x P(x^2) / Q(x^2) for 0 <= x <= 9.1 (degrees 4 / 4),
           relative error; the kernel returns exactly 1 from x = 9.02 on, where
           1 - tanh(x) is under half an ulp of 1.
  phi      the normal tail Phi(-x) = P(x) / Q(x) for 0 <= x <= 5.7 (5 / 9),
           absolute error; beyond 5.7 the tail is taken as 0. Fitting the
           tail itself, not Phi - 1/2, keeps the error of small values small.
  gelu'    Phi(v) + v pdf(v) - 1/2 = v P(v^2) / Q(v^2), 0 <= v <= 6 (6 / 7),
           absolute error.

Then each fitted polynomial or rational function is evaluated as the kernels
evaluate it (float32 coefficients, float32 Horner steps with a fused
multiply-add) over a dense float32 sweep and its worst error printed. The
complete helpers (range reduction, cut-offs, 1 - tail, ...) are checked on the
device by tests/test_act.c.
"""
import math

import numpy as np

erf = np.vectorize(math.erf)
erfc = np.vectorize(math.erfc)


def fit_rational(s, f, w, m, n, iters=20, lawson=200):
    """P(s)/Q(s) ~ f(s) (degrees m, n, Q(0) = 1) minimising max w |P/Q - f|."""
    scale = s.max()
    u = s / scale  # fit in u = s / max(s): far better conditioned
    a = np.hstack([np.vander(u, m + 1, increasing=True), -(f[:, None] * np.vander(u, n + 1, increasing=True)[:, 1:])])
    q = np.zeros(n + 1)
    q[0] = 1.0
    lw = np.ones_like(u) / len(u)
    best = None
    for it in range(iters + lawson):
        wt = np.sqrt(lw) * w / np.abs(np.polyval(q[::-1], u))
        coef, *_ = np.linalg.lstsq(a * wt[:, None], f * wt, rcond=None)
        p, q = coef[: m + 1], np.concatenate([[1.0], coef[m + 1 :]])
        err = w * (np.polyval(p[::-1], u) / np.polyval(q[::-1], u) - f)
        if best is None or np.abs(err).max() < best[0]:
            best = (np.abs(err).max(), p.copy(), q.copy())
        if it >= iters:
            lw = lw * (np.abs(err) + 1e-300)
            lw /= lw.sum()
    e, p, q = best
    return e, p / scale ** np.arange(m + 1), q / scale ** np.arange(n + 1)


def f32(c):
    """Coefficients as the kernels hold them: printed with 10 digits, read as float."""
    return [np.float32(float("%.9e" % v)) for v in c]


def horner(c, s):
    """Horner in float32 with fma(): r * s + a rounded once (the float64 product of two floats is exact)."""
    r = np.full_like(s, c[-1])
    for a in c[-2::-1]:
        r = (r.astype(np.float64) * s.astype(np.float64) + np.float64(a)).astype(np.float32)
    return r


def show(name, c):
    print("  %s: %s" % (name, ", ".join("%.9e" % v for v in c)))


def report(name, got, ref, absolute):
    err = np.abs(got.astype(np.float64) - ref)
    if not absolute:
        err = err / np.maximum(np.abs(ref), 1e-300)
    print("  float32 sweep: max %s error %.2e" % ("absolute" if absolute else "relative", err.max()))


def fit_exp():
    h = math.log(2) / 2
    r = np.linspace(-1.01 * h, 1.01 * h, 20000)
    r = r[r != 0]
    f, w = (np.expm1(r) - r) / r**2, r**2 / np.exp(r)
    # a polynomial is the rational fit with Q = 1: no SK steps, Lawson only
    e, c, _ = fit_rational(r, f, w, 4, 0, iters=0, lawson=300)
    print("exp: 1 + r + r^2 E(r), fit error %.2e" % e)
    show("E (r^0 first)", c)
    x = np.linspace(-h, h, 200001).astype(np.float32)
    em1 = (x * x * horner(f32(c), x) + x).astype(np.float32)
    report("exp", (em1 + np.float32(1)).astype(np.float32), np.exp(x.astype(np.float64)), False)


def fit_odd(name, func, c, m, n, absolute):
    """func(x) = x P(x^2) / Q(x^2) on [0, c]."""
    x = np.linspace(1e-6, c, 20000)
    f = func(x) / x
    w = x if absolute else 1.0 / f
    e, p, q = fit_rational(x * x, f, w, m, n)
    print("%s: x P(x^2) / Q(x^2) on [0, %g], fit error %.2e (%s)" % (name, c, e, "absolute" if absolute else "relative"))
    show("P (x^0 first)", p)
    show("Q (x^0 first)", q)
    xs = np.linspace(0, c, 400001).astype(np.float32)
    s = (xs * xs).astype(np.float32)
    got = ((xs * horner(f32(p), s)).astype(np.float32) / horner(f32(q), s)).astype(np.float32)
    report(name, got, func(xs.astype(np.float64)), absolute)


def fit_tail():
    c = 5.7
    x = np.linspace(0, c, 20000)
    tail = lambda t: 0.5 * erfc(t / math.sqrt(2))
    e, p, q = fit_rational(x, tail(x), np.ones_like(x), 5, 9)
    print("phi: Phi(-x) = P(x) / Q(x) on [0, %g], fit error %.2e (absolute)" % (c, e))
    show("P (x^0 first)", p)
    show("Q (x^0 first)", q)
    xs = np.linspace(0, c, 400001).astype(np.float32)
    got = (horner(f32(p), xs) / horner(f32(q), xs)).astype(np.float32)
    report("phi", got, tail(xs.astype(np.float64)), True)


def main():
    fit_exp()
    fit_odd("tanh", np.tanh, 9.1, 4, 4, absolute=False)
    fit_tail()
    pdf = lambda x: np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    fit_odd("gelu_grad", lambda x: 0.5 * erf(x / math.sqrt(2)) + x * pdf(x), 6.0, 6, 7, absolute=True)


if __name__ == "__main__":
    main()
