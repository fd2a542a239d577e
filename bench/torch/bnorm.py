"""PyTorch equivalents of clnn-bench "bnorm" problems (fwd, bwd).

Training mode unless the descriptor says "infer" (then module.eval()). bwd
times torch.autograd.grad of act(bn(x)) with respect to x, weight and bias
(x only without affine), given grad_output.
"""
import torch
import torch.nn as nn

from act import ACTS
from descriptor import hw


def make(keys, flags, bias, pass_):
    n, c = keys["mb"], keys["ic"]
    ih, iw = hw(keys, "ih", "iw")
    affine = "noaffine" not in flags
    momentum = None if keys.get("momentum") == "none" else keys.get("momentum", 0.1)
    one_d = ih == 1 and iw == 1
    bn = (nn.BatchNorm1d if one_d else nn.BatchNorm2d)(c, eps=keys.get("eps", 1e-5), momentum=momentum,
                                                       affine=affine)
    bn.num_batches_tracked.fill_(keys.get("nbt", 0))
    if "infer" in flags:
        bn.eval()
    shape = (n, c) if one_d else (n, c, ih, iw)
    x = torch.randn(*shape) * keys.get("std", 1.0) + keys.get("mean", 0.0)
    act = ACTS[keys.get("act", "identity")]
    alpha = 0.01 if keys.get("act") == "leaky_relu" else 1.0

    def f(t):
        return act(bn(t), alpha)
    if pass_ == "fwd":
        return lambda: f(x)
    if pass_ != "bwd":
        return None
    xr = x.clone().requires_grad_()
    y = f(xr)
    g = torch.randn_like(y)
    wrt = [xr] + ([bn.weight, bn.bias] if affine else [])

    def run():
        return torch.autograd.grad(y, wrt, g, retain_graph=True)
    run.no_grad = False
    return run
