#!/usr/bin/python3
"""torchvision twin of clnn-bench "deform_conv" problems (passes fwd and bwd).

As a module, make() builds what bench/torch/compare.py times. Run directly, it
checks libclnn against torchvision.ops.deform_conv2d itself, through
clnn-bench --mode=R (.npy files), forward and backward:

    /usr/bin/python3 bench/torch/deform_conv.py --check [--bench build/bench/clnn-bench]

The check cases cover v1/v2, groups, offset groups, stride, dilation, bias,
random offsets, zero and integer offsets (samples exactly on pixels and on the
border at -1, where torchvision's offset gradient is one-sided), offsets
that push every sample outside, and the activation-free anchor shape.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision.ops as tvo

from conv import ACTS
from descriptor import hw


def shapes(keys):
    n, c, k = keys["mb"], keys["ic"], keys["oc"]
    g, dg, m = keys.get("g", 1), keys.get("dg", 1), keys.get("m", 0)
    ih, iw = hw(keys, "ih", "iw")
    kh, kw = hw(keys, "kh", "kw")
    sh, sw = hw(keys, "sh", "sw", 1)
    ph, pw = hw(keys, "ph", "pw", 0)
    dh, dw = hw(keys, "dh", "dw", 1)
    oh = (ih + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (iw + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    return dict(n=n, c=c, k=k, g=g, dg=dg, m=m, ih=ih, iw=iw, kh=kh, kw=kw, stride=(sh, sw),
                padding=(ph, pw), dilation=(dh, dw), oh=oh, ow=ow)


def inputs(s, bias, gen=None):
    """Random inputs as the anchors make them: offsets N(0,1), mask U(0,1)."""
    x = torch.randn(s["n"], s["c"], s["ih"], s["iw"], generator=gen)
    w = torch.randn(s["k"], s["c"] // s["g"], s["kh"], s["kw"], generator=gen) / (
        s["c"] // s["g"] * s["kh"] * s["kw"]) ** 0.5
    off = torch.randn(s["n"], 2 * s["dg"] * s["kh"] * s["kw"], s["oh"], s["ow"], generator=gen)
    mask = torch.rand(s["n"], s["dg"] * s["kh"] * s["kw"], s["oh"], s["ow"], generator=gen) if s["m"] else None
    b = torch.randn(s["k"], generator=gen) if bias else None
    return x, off, mask, w, b


def deform(s, x, off, mask, w, b):
    # torchvision infers groups from w and offset groups from offset's channels.
    return tvo.deform_conv2d(x, off, w, b, s["stride"], s["padding"], s["dilation"], mask)


def make(keys, flags, bias, pass_):
    s = shapes(keys)
    x, off, mask, w, b = inputs(s, bias)
    act = ACTS.get(keys.get("act"), lambda t: t)
    if pass_ == "fwd":
        def run():
            return act(deform(s, x, off, mask, w, b))
        return run
    if pass_ != "bwd":
        return None
    # The gradients clnn-bench --pass=bwd computes: x, offset, mask (m1), w, b (with bias).
    leaves = [t.clone().requires_grad_(True) for t in (x, off, mask, w, b) if t is not None]
    it = iter(leaves)
    xg, og_ = next(it), next(it)
    mg = next(it) if mask is not None else None
    wg = next(it)
    bg = next(it) if b is not None else None
    y = deform(s, xg, og_, mg, wg, bg)
    dy = torch.randn_like(y)

    def run():
        return torch.autograd.grad(y, leaves, dy, retain_graph=True)
    run.no_grad = False
    return run


# ------------------------------------------------------------------ check

CHECK_CASES = [
    # descriptor, offset kind
    ("deform_conv mb2ic8ih13iw11oc16kh3kw3sh1sw1ph1pw1dh1dw1g1dg2m1", "random"),
    ("deform_conv mb2ic8ih13iw11oc16kh3kw3sh1sw1ph1pw1dh1dw1g1dg1m0", "random"),
    ("deform_conv mb3ic12ih9iw10oc6kh3kw2sh2sw1ph1pw0dh2dw1g3dg2m1", "random"),
    ("deform_conv mb1ic6ih7oc4kh3ph1g2dg3m1", "random"),
    ("deform_conv mb2ic4ih11iw9oc8kh3ph2dh2g2dg4m1", "random"),
    ("deform_conv mb1ic32ih10oc16kh3ph1dg2m1", "random"),
    ("deform_conv mb2ic8ih9oc8kh3ph1m1 --no-bias", "zero"),
    ("deform_conv mb2ic8ih9oc8kh3ph1m0", "integer"),
    ("deform_conv mb1ic4ih8oc4kh3ph1dg2m1", "halves"),
    ("deform_conv mb2ic8ih9oc8kh3ph1m1", "outside"),
    ("deform_conv mb4ic64ih20oc64kh3ph1m1 --no-bias", "random"),
    ("deform_conv mb2ic16ih24iw70oc8kh3ph1dg2m1", "random"),  # several row bands in the backward
]


def offsets_of(kind, shape, gen):
    if kind == "zero":
        return torch.zeros(shape)
    if kind == "integer":  # every sample exactly on a pixel, many on the -1 border
        return torch.randint(-2, 3, shape, generator=gen).float()
    if kind == "halves":
        return torch.randint(-4, 5, shape, generator=gen).float() * 0.5
    if kind == "outside":
        return torch.full(shape, 1e4)
    return torch.randn(shape, generator=gen) * 2.0


def rel_l2(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    den = np.sqrt((b * b).sum())
    err = np.sqrt(((a - b) ** 2).sum())
    return err / den if den > 0 else err


def run_clnn(bench, desc, pass_, files, outs):
    with tempfile.TemporaryDirectory() as d:
        for name, t in files.items():
            np.save(os.path.join(d, name + ".npy"), t.detach().numpy().astype(np.float32))
        subprocess.run([bench, "--mode=R", "--dir", d, "--pass=" + pass_, desc.replace("--no-bias", "")],
                       check=True, stdout=subprocess.DEVNULL)
        return {o: np.load(os.path.join(d, o + ".npy")) for o in outs}


def check_case(bench, desc, kind, seed):
    from descriptor import parse
    _, keys, _, bias = parse(desc)
    s = shapes(keys)
    gen = torch.Generator().manual_seed(seed)
    x, _, mask, w, b = inputs(s, bias, gen)
    off = offsets_of(kind, (s["n"], 2 * s["dg"] * s["kh"] * s["kw"], s["oh"], s["ow"]), gen)
    files = {"x": x, "offset": off, "w": w}
    if mask is not None:
        files["mask"] = mask
    if b is not None:
        files["b"] = b
    worst = 0.0
    # forward
    y_ref = deform(s, x, off, mask, w, b)
    got = run_clnn(bench, desc, "fwd", files, ["y"])
    errs = {"y": rel_l2(got["y"], y_ref)}
    # backward
    leaves = {k: v.clone().requires_grad_(True) for k, v in files.items()}
    y = deform(s, leaves["x"], leaves["offset"], leaves.get("mask"), leaves["w"], leaves.get("b"))
    dy = torch.randn(y.shape, generator=gen)
    grads = torch.autograd.grad(y, list(leaves.values()), dy)
    ref = {"d" + k: g for k, g in zip(leaves.keys(), grads)}
    files["dy"] = dy
    got = run_clnn(bench, desc, "bwd", files, list(ref.keys()))
    for k in ref:
        errs[k] = rel_l2(got[k], ref[k].numpy())
    worst = max(errs.values())
    ok = worst < 2e-5
    print("%-4s %-8s %s  %s" % ("ok" if ok else "FAIL", kind, desc,
                                " ".join("%s=%.1e" % kv for kv in errs.items())))
    return ok


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="compare clnn-bench --mode=R with torchvision")
    ap.add_argument("--bench", default="build/bench/clnn-bench")
    args = ap.parse_args()
    if not args.check:
        ap.print_help()
        return 0
    torch.set_num_threads(2)
    print("torchvision deform_conv2d vs clnn-bench --mode=R (relative L2 errors; pass below 2e-5)")
    ok = all([check_case(args.bench, d, kind, 100 + i) for i, (d, kind) in enumerate(CHECK_CASES)])
    print("all ok" if ok else "SOME CASES FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
