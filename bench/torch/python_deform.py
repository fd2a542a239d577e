#!/usr/bin/python3
"""clnn.torch.deform_conv2d against torchvision.ops.deform_conv2d, same run.

Times one forward and backward (autograd, CPU torch tensors in and out, so
clnn.torch's transfers to and from the device count) of the deformable
convolution anchors of bench/inputs/deform_conv (v1 and v2: batch 4, 64
channels, 56x56, 3x3, offsets N(0,1), mask U(0,1)). The two ops alternate,
after a warm-up of each, and each reports the median of its rounds; the
ratio is torchvision's median over clnn's. PyTorch runs on 2 threads, as
bench/torch/compare.py does.

    CLNN_LIBRARY=build/libclnn.so PYTHONPATH=python \\
      /usr/bin/python3 bench/torch/python_deform.py [--rounds 7] [--json FILE]
"""
import argparse
import json
import statistics
import time

import torch
import torchvision.ops as tvo

import clnn
import clnn.torch as ct

ANCHORS = [  # (name, mask): mb4ic64ih56oc64kh3ph1, no bias
    ("deform_conv_v1", False),
    ("deform_conv_v2", True),
]


def problem(masked, seed=0):
    g = torch.Generator().manual_seed(seed)
    n, c, k, hw = 4, 64, 64, 56
    x = torch.randn(n, c, hw, hw, generator=g)
    w = torch.randn(k, c, 3, 3, generator=g) / (c * 9) ** 0.5
    off = torch.randn(n, 18, hw, hw, generator=g)
    mask = torch.rand(n, 9, hw, hw, generator=g) if masked else None
    dy = torch.randn(n, k, hw, hw, generator=g)
    return x, off, w, mask, dy


def step(op, x, off, w, mask, dy):
    """One forward and backward through op; the seconds it took."""
    leaves = [t.detach().clone().requires_grad_(True) for t in (x, off, w)]
    m = mask.detach().clone().requires_grad_(True) if mask is not None else None
    t0 = time.perf_counter()
    y = op(leaves[0], leaves[1], leaves[2], None, stride=(1, 1), padding=(1, 1), dilation=(1, 1), mask=m)
    y.backward(dy)
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(2)
    ctx = clnn.default_context()
    print(f"clnn device: {ctx.device_name}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    records = []
    for name, masked in ANCHORS:
        args = problem(masked)
        for op in (tvo.deform_conv2d, ct.deform_conv2d):  # warm-up: kernel builds, first allocations
            step(op, *args)
        times = {"torchvision": [], "clnn": []}
        for _ in range(a.rounds):
            times["torchvision"].append(step(tvo.deform_conv2d, *args))
            times["clnn"].append(step(ct.deform_conv2d, *args))
        tv, cl = (statistics.median(times[k]) for k in ("torchvision", "clnn"))
        print(f"{name}: fwd+bwd median of {a.rounds}: torchvision {tv * 1e3:.1f} ms, "
              f"clnn.torch {cl * 1e3:.1f} ms, ratio {tv / cl:.2f}x")
        records.append({"problem": name, "rounds": a.rounds, "torchvision_ms": tv * 1e3,
                        "clnn_ms": cl * 1e3, "ratio": tv / cl})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
