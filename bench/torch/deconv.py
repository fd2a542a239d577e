#!/usr/bin/python3
"""PyTorch twin of the clnn-bench family "deconv" (transposed convolution),
used by compare.py and conv_cpu.py.

Passes as in clnn-bench: fwd (no autograd), and for the backward passes the
gradients autograd computes given grad_output, the way
the anchor suite's PyTorch script measures them (forward not timed):
  bwd_d  the input only             torch.autograd.grad(y, [x], dy)
  bwd_w  the weight (and the bias)  torch.autograd.grad(y, [w, b], dy)
  bwd    all of them                torch.autograd.grad(y, [x, w, b], dy)
The backward passes leave out the activation, as clnn's do.

Run directly with --check, it compares clnn-bench --mode=R with PyTorch on
odd shapes (strides, output padding, dilation, groups, bias, activation):
for every descriptor it writes random x.npy, w.npy, b.npy and dy.npy, runs
clnn-bench --pass=bwd (which writes y.npy, dx.npy, dw.npy and db.npy), and
compares them with F.conv_transpose2d and its autograd gradients.

    /usr/bin/python3 bench/torch/deconv.py --check [--bench build/bench/clnn-bench]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv import ACTS, make_passes  # noqa: E402
from descriptor import hw, parse  # noqa: E402


def _problem(keys, gen=None):
    """Shapes, the op (x, w, b) -> pre-activation y, and the activation."""
    n, c, k, g = keys["mb"], keys["ic"], keys["oc"], keys.get("g", 1)
    ih, iw = hw(keys, "ih", "iw")
    kh, kw = hw(keys, "kh", "kw")
    sh, sw = hw(keys, "sh", "sw", 1)
    ph, pw = hw(keys, "ph", "pw", 0)
    oph, opw = hw(keys, "oph", "opw", 0)
    dh, dw = hw(keys, "dh", "dw", 1)
    x = torch.randn(n, c, ih, iw, generator=gen)
    w = torch.randn(c, k // g, kh, kw, generator=gen) / (c // g * kh * kw) ** 0.5
    b = torch.randn(k, generator=gen)

    def op(xx, ww, bb):
        return F.conv_transpose2d(xx, ww, bb, (sh, sw), (ph, pw), (oph, opw), g, (dh, dw))
    return x, w, b, op, ACTS.get(keys.get("act"), lambda t: t)


def make(keys, flags, bias, pass_):
    x, w, b, op, act = _problem(keys)
    return make_passes(op, x, w, b if bias else None, act, pass_)


# --------------------------------------------------------------- R-mode check

CHECKS = [
    "deconv mb2ic8ih7iw9oc6kh4sh2ph1",
    "deconv mb2ic6ih5iw6oc4kh3sh2ph1oph1",
    "deconv mb1ic4ih5iw4oc6kh3kw2sh3sw2ph1pw0oph2opw1g2",
    "deconv mb2ic4ih6oc6kh2sh2g2",
    "deconv mb1ic3ih5oc4kh3dh2ph1oph1",
    "deconv mb2ic4ih5oc4kh3sh2dh3ph2oph2",
    "deconv mb1ic6ih4oc6kh4sh2ph3oph1g6",
    "deconv mb1ic4ih7oc5kh5sh1ph2 act=relu",
    "deconv mb1ic4ih3iw5oc3kh1sh2ph0",
    "deconv mb3ic5ih6iw7oc7kh4kw3sh2sw3ph2pw1oph1opw2 act=silu",
]


def _check_one(bench, desc, tmp):
    _, keys, _, _ = parse(desc)
    gen = torch.Generator().manual_seed(len(desc))
    x, w, b, op, act = _problem(keys, gen)
    xg, wg, bg = x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()
    y0 = op(xg, wg, bg)
    dy = torch.randn(*y0.shape, generator=gen)
    dx, dw, db = torch.autograd.grad(y0, [xg, wg, bg], dy)
    y = act(y0).detach()
    for name, t in (("x", x), ("w", w), ("b", b), ("dy", dy)):
        np.save(os.path.join(tmp, name + ".npy"), t.numpy())
    subprocess.run([bench, "--mode=R", "--quiet", "--pass=bwd", "--dir", tmp, desc], check=True)
    ok, errs = True, []
    for name, want in (("y", y), ("dx", dx), ("dw", dw), ("db", db)):
        got = np.load(os.path.join(tmp, name + ".npy"))
        want = want.numpy()
        rel = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30)
        ok = ok and got.shape == want.shape and rel < 1e-5
        errs.append("%s %.2g" % (name, rel))
    print("%-4s rel L2: %-40s %s" % ("ok" if ok else "FAIL", ", ".join(errs), desc))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare clnn-bench --mode=R with torch")
    ap.add_argument("--bench", default="build/bench/clnn-bench")
    args = ap.parse_args()
    if not args.check:
        ap.print_help()
        return 0
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for desc in CHECKS:
            bad += not _check_one(args.bench, desc, tmp)
    print("%d problem(s), %d failed" % (len(CHECKS), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
