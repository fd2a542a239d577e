"""PyTorch equivalents of clnn-bench "pool" problems (fwd, bwd).

max fwd asks for the indices, as clnn-bench's max pool writes them.
global is adaptive_avg_pool2d(x, 1) (adaptive_max_pool2d with max). bwd times torch.autograd.grad with
respect to x, given grad_output.
"""
import torch
import torch.nn.functional as F

from descriptor import hw


def function(keys, flags):
    if "global" in flags and "max" in flags:
        return lambda x: F.adaptive_max_pool2d(x, 1, return_indices=True)[0]
    if "global" in flags:
        return lambda x: F.adaptive_avg_pool2d(x, 1)
    kh, kw = hw(keys, "kh", "kw")
    sh, sw = hw(keys, "sh", "sw")
    if sh is None:
        sh, sw = kh, kw
    ph, pw = hw(keys, "ph", "pw", 0)
    ceil = "ceil" in flags
    if "max" in flags:
        return lambda x: F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil_mode=ceil, return_indices=True)[0]
    return lambda x: F.avg_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil_mode=ceil,
                                  count_include_pad="avg_exclude" not in flags,
                                  divisor_override=keys.get("div"))


def make(keys, flags, bias, pass_):
    n, c = keys["mb"], keys["ic"]
    ih, iw = hw(keys, "ih", "iw")
    x = torch.randn(n, c, ih, iw)
    f = function(keys, flags)
    if pass_ == "fwd":
        return lambda: f(x)
    if pass_ != "bwd":
        return None
    xr = x.clone().requires_grad_()
    y = f(xr)
    g = torch.randn_like(y)

    def run():
        return torch.autograd.grad(y, xr, g, retain_graph=True)
    run.no_grad = False
    return run
