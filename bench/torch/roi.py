"""PyTorch / torchvision equivalents of the clnn-bench RoI families
(roi_align, roi_pool, ps_roi_align, ps_roi_pool), passes fwd and bwd.

compare.py imports a module named after the descriptor's family; the thin
modules roi_align.py, roi_pool.py, ps_roi_align.py and ps_roi_pool.py
forward to make_op() here. RoIs come from the descriptor's rois=FILE (the
same file clnn-bench reads; paths relative to the working directory) or,
without one, are drawn like clnn-bench's random valid RoIs (other values,
same distribution). bwd times torchvision's backward alone: the gradient
w.r.t. the input given grad_output, with the forward graph built once.
"""
import math
import random

import torch
import torchvision.ops as tvo


def load_rois(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                rows.append([float(v) for v in line.split()])
    return torch.tensor(rows, dtype=torch.float32)


def random_rois(k, n, h, w, scale, seed=0):
    rng = random.Random(seed)
    img = (w / scale, h / scale)
    rows = []
    for _ in range(k):
        row = [float(int(rng.random() * n))]
        lo_hi = []
        for a in range(2):
            lo = min(1.0 / scale, img[a])
            side = math.exp(math.log(lo) + rng.random() * (math.log(img[a]) - math.log(lo)))
            x1 = rng.random() * (img[a] - side)
            lo_hi.append((x1, x1 + side))
        row += [lo_hi[0][0], lo_hi[1][0], lo_hi[0][1], lo_hi[1][1]]
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float32)


def make_op(op, keys, flags, bias, pass_):
    n, c, ih = keys["mb"], keys["ic"], keys["ih"]
    iw = keys.get("iw", ih)
    oh = keys["oh"]
    ow = keys.get("ow", oh)
    scale = float(keys.get("scale", 1.0))
    sr = int(keys.get("sr", -1))
    aligned = bool(keys.get("aligned", 0))
    if "rois" in keys:
        rois = load_rois(keys["rois"])
    else:
        rois = random_rois(keys["n"], n, ih, iw, scale)
    x = torch.randn(n, c, ih, iw)
    if op == "roi_align":
        f = lambda t: tvo.roi_align(t, rois, (oh, ow), scale, sr, aligned)
    elif op == "roi_pool":
        f = lambda t: tvo.roi_pool(t, rois, (oh, ow), scale)
    elif op == "ps_roi_align":
        f = lambda t: tvo.ps_roi_align(t, rois, (oh, ow), scale, sr)
    elif op == "ps_roi_pool":
        f = lambda t: tvo.ps_roi_pool(t, rois, (oh, ow), scale)
    else:
        raise ValueError(op)
    if pass_ == "fwd":
        def run():
            return f(x)
        return run
    if pass_ != "bwd":
        return None
    xg = x.clone().requires_grad_(True)
    y = f(xg)
    dy = torch.randn_like(y)

    def run_bwd():
        return torch.autograd.grad(y, [xg], dy, retain_graph=True)
    run_bwd.no_grad = False
    return run_bwd
