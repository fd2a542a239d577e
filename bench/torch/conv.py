"""PyTorch equivalents of clnn-bench "conv" problems (fwd)."""
import torch
import torch.nn.functional as F

from descriptor import hw

ACTS = {"relu": F.relu, "silu": F.silu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
        "gelu": F.gelu, "hardswish": F.hardswish}


def make(keys, flags, bias, pass_):
    n, c, k, g = keys["mb"], keys["ic"], keys["oc"], keys.get("g", 1)
    ih, iw = hw(keys, "ih", "iw")
    kh, kw = hw(keys, "kh", "kw")
    sh, sw = hw(keys, "sh", "sw", 1)
    ph, pw = hw(keys, "ph", "pw", 0)
    dh, dw = hw(keys, "dh", "dw", 1)
    x = torch.randn(n, c, ih, iw)
    w = torch.randn(k, c // g, kh, kw) / (c // g * kh * kw) ** 0.5
    b = torch.randn(k) if bias else None
    act = ACTS.get(keys.get("act"), lambda t: t)
    if pass_ != "fwd":
        return None

    def run():
        return act(F.conv2d(x, w, b, (sh, sw), (ph, pw), (dh, dw), g))
    return run
