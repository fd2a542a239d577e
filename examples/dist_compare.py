#!/usr/bin/env python3
"""dist_compare.py A.safetensors B.safetensors [--tol 1e-5] [--free REGEX ...]

Compares two clnn-train checkpoints (the data-parallel parity check of
tests/dist_check.sh): the model weights, and separately the batch-norm
running statistics, must agree within a relative L2 of --tol, each group
taken as one vector. Optimizer moments are reported but not judged.
Exits 1 when a group is off or a tensor is missing, NaN or mis-shaped.

--free names tensors that no loss gradient reaches in exact arithmetic,
which are reported but not judged. In clnn-train's network, the bias of
every projection batch norm (blocks.N.proj.bn.bias) feeds only 1x1
convolutions that a batch norm follows, which subtracts it again: its true
gradient is zero, so AdamW moves it by about +-lr per step in the direction
of float32 rounding noise (m / sqrt(v) is +-1 for any nonzero gradient),
and the running means of those following batch norms carry the same noise.
Any two orders of summation, one process or two, disagree there by O(1)
relative; elsewhere they agree to about 3e-7 after 20 steps
(docs/DISTRIBUTED.md).
"""
import re
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_f32  # noqa: E402


def group_of(name):
    if name.startswith("optimizer."):
        return "optimizer moments"
    if name.endswith("running_mean") or name.endswith("running_var"):
        return "BN running statistics"
    if name.endswith("num_batches_tracked"):
        return "BN batch counts"
    return "weights"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--free", action="append", default=[], help="regex of tensors no gradient reaches")
    args = ap.parse_args()
    a, b = safetensors_f32.read(args.a), safetensors_f32.read(args.b)
    if set(a) != set(b):
        print("the checkpoints hold different tensors:", sorted(set(a) ^ set(b))[:5])
        return 1
    diff, norm = {}, {}
    for name in sorted(a):
        x, y = a[name].astype(np.float64), b[name].astype(np.float64)
        if x.shape != y.shape or not (np.isfinite(x).all() and np.isfinite(y).all()):
            print(f"{name}: shapes {x.shape} / {y.shape} or a non-finite value")
            return 1
        g = group_of(name)
        if any(re.search(r, name) for r in args.free):
            g = "gradient-free " + g
        diff[g] = diff.get(g, 0.0) + float(((x - y) ** 2).sum())
        norm[g] = norm.get(g, 0.0) + float((x ** 2).sum())
    bad = False
    for g in sorted(diff):
        rel = (diff[g] ** 0.5) / max(norm[g] ** 0.5, 1e-30)
        judged = g in ("weights", "BN running statistics", "BN batch counts")
        ok = rel <= args.tol or not judged
        bad |= not ok
        print(f"{g:24s} relative L2 {rel:.3e}  {'(not judged)' if not judged else 'ok' if ok else 'OVER ' + str(args.tol)}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
