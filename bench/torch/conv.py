"""PyTorch equivalents of clnn-bench "conv" problems.

Passes as in clnn-bench: fwd (no autograd), and for the backward passes the
gradients PyTorch's autograd computes given grad_output, the way
the anchor suite's PyTorch script measures them (forward not timed):
  bwd_d  the input only             torch.autograd.grad(y, [x], dy)
  bwd_w  the weight (and the bias)  torch.autograd.grad(y, [w, b], dy)
  bwd    all of them                torch.autograd.grad(y, [x, w, b], dy)
The backward passes leave out the activation, as clnn's do (dy is the
gradient of the convolution's output).
"""
import torch
import torch.nn.functional as F

from descriptor import hw

ACTS = {"relu": F.relu, "relu6": F.relu6, "silu": F.silu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
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
    conv = lambda xx, ww, bb: F.conv2d(xx, ww, bb, (sh, sw), (ph, pw), (dh, dw), g)
    return make_passes(conv, x, w, b, act, pass_)


def make_passes(op, x, w, b, act, pass_):
    """The callable of pass_ for a conv-like op(x, w, b) (b may be None)
    followed by act: fwd, or the autograd gradients bwd_d / bwd_w / bwd
    listed above; None for another pass. Also used by deconv.py."""
    if pass_ == "fwd":
        def run():
            return act(op(x, w, b))
        return run
    if pass_ not in ("bwd_d", "bwd_w", "bwd"):
        return None
    want_x = pass_ in ("bwd_d", "bwd")
    want_w = pass_ in ("bwd_w", "bwd")
    xg = x.clone().requires_grad_(want_x)
    wg = w.clone().requires_grad_(want_w)
    bg = b.clone().requires_grad_(want_w) if b is not None else None
    inputs = ([xg] if want_x else []) + ([wg] if want_w else []) + ([bg] if want_w and bg is not None else [])
    y = op(xg, wg, bg)
    dy = torch.randn_like(y)

    def run():
        return torch.autograd.grad(y, inputs, dy, retain_graph=True)
    run.no_grad = False
    return run
