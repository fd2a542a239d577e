#!/usr/bin/python3
"""PyTorch twins of the clnn-bench families "pixel_shuffle", "pixel_unshuffle"
and "resize" (passes fwd and bwd), used by compare.py.

Run directly, it checks libclnn against PyTorch on .npy files (clnn-bench
--mode=R): for every descriptor it writes random x.npy and dy.npy, runs
clnn-bench --pass=bwd, and compares y.npy and dx.npy with torch's forward
and autograd backward. Nearest and pixel shuffle forward must match bit for
bit (that checks PyTorch's index rule); blends and sums to a tolerance.

    /usr/bin/python3 bench/torch/resample.py --check [--bench build/bench/clnn-bench]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

FAMILIES = ("pixel_shuffle", "pixel_unshuffle", "resize")


def _op(family, keys, flags):
    """The forward op of a descriptor as a function of x, and x's shape."""
    h = keys["ih"]
    shape = (keys["mb"], keys["ic"], h, keys.get("iw", h))
    if family == "pixel_shuffle":
        return (lambda t: F.pixel_shuffle(t, keys["r"])), shape
    if family == "pixel_unshuffle":
        return (lambda t: F.pixel_unshuffle(t, keys["r"])), shape
    oh = keys["oh"]
    size = (oh, keys.get("ow", oh))
    sh, sw = keys.get("scale_h"), keys.get("scale_w")
    if "nearest" in flags:
        if sh or sw:  # what interpolate(scale_factor=..) calls: sizes and scales both
            return (lambda t: torch._C._nn.upsample_nearest2d(t, size, sh or None, sw or None)), shape
        return (lambda t: F.interpolate(t, size=size, mode="nearest")), shape
    ac = bool(keys.get("ac", 0))
    if sh or sw:
        return (lambda t: torch._C._nn.upsample_bilinear2d(t, size, ac, sh or None, sw or None)), shape
    return (lambda t: F.interpolate(t, size=size, mode="bilinear", align_corners=ac)), shape


def make_family(family, keys, flags, bias, pass_):
    op, shape = _op(family, keys, flags)
    x = torch.randn(*shape)
    if pass_ == "fwd":
        def run():
            return op(x)
        return run
    if pass_ != "bwd":
        return None
    xg = x.clone().requires_grad_()
    y = op(xg)
    dy = torch.randn_like(y)

    def run_bwd():  # only the backward op runs: the graph is kept
        return torch.autograd.grad(y, xg, dy, retain_graph=True)
    run_bwd.no_grad = False
    return run_bwd


# --------------------------------------------------------------- R-mode check

CHECKS = [
    "pixel_shuffle mb2ic12ih5iw7 r2",
    "pixel_shuffle mb3ic27ih4iw6 r3",
    "pixel_unshuffle mb2ic3ih10iw14 r2",
    "pixel_unshuffle mb1ic2ih12iw8 r4",
    "resize mb2ic3ih56iw56 oh112ow112 nearest",
    "resize mb2ic3ih5iw7 oh3ow10 nearest",
    "resize mb1ic2ih56iw56 oh100ow90 nearest",
    "resize mb1ic2ih13iw29 oh29ow13 nearest",
    "resize mb1ic2ih17iw31 oh100ow77 nearest",
    "resize mb1ic1ih100iw100 oh200ow201 nearest scale_h=2.004 scale_w=2.013",
    "resize mb1ic1ih33iw17 oh49ow40 nearest scale_h=1.5 scale_w=2.4",
    "resize mb2ic3ih56iw56 oh112ow112 bilinear ac0",
    "resize mb2ic3ih56iw56 oh112ow112 bilinear ac1",
    "resize mb1ic2ih56iw56 oh100ow90 bilinear ac0",
    "resize mb1ic2ih56iw56 oh100ow90 bilinear ac1",
    "resize mb1ic2ih5iw7 oh1ow1 bilinear ac1",
    "resize mb1ic2ih5iw7 oh1ow1 bilinear ac0",
    "resize mb1ic2ih13iw29 oh29ow13 bilinear ac0",
    "resize mb1ic2ih7iw7 oh7ow30 bilinear ac1",
    "resize mb1ic1ih33iw17 oh49ow40 bilinear ac0 scale_h=1.5 scale_w=2.4",
]


def _check_one(bench, desc, tmp):
    from descriptor import parse
    family, keys, flags, _ = parse(desc)
    op, shape = _op(family, keys, flags)
    gen = torch.Generator().manual_seed(len(desc))
    x = torch.randn(*shape, generator=gen)
    xg = x.clone().requires_grad_()
    y = op(xg)
    dy = torch.randn(*y.shape, generator=gen)
    dx, = torch.autograd.grad(y, xg, dy)
    np.save(os.path.join(tmp, "x.npy"), x.numpy())
    np.save(os.path.join(tmp, "dy.npy"), dy.numpy())
    subprocess.run([bench, "--mode=R", "--quiet", "--pass=bwd", "--dir", tmp, desc], check=True)
    got_y = np.load(os.path.join(tmp, "y.npy"))
    got_dx = np.load(os.path.join(tmp, "dx.npy"))
    exact = family != "resize" or "nearest" in flags
    ey = np.abs(got_y - y.detach().numpy()).max()
    edx = np.abs(got_dx - dx.numpy()).max()
    ok = (ey == 0 if exact else ey < 1e-6) and edx < 1e-5 and got_y.shape == tuple(y.shape)
    print("%-4s y max|diff| %-10.3g dx max|diff| %-10.3g %s" % ("ok" if ok else "FAIL", ey, edx, desc))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare clnn-bench --mode=R with torch")
    ap.add_argument("--bench", default="build/bench/clnn-bench")
    args = ap.parse_args()
    if not args.check:
        ap.print_help()
        return 0
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for desc in CHECKS:
            bad += not _check_one(args.bench, desc, tmp)
    print("%d problem(s), %d failed" % (len(CHECKS), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
