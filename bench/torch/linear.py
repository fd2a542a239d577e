"""PyTorch equivalents of clnn-bench "linear" problems (fwd, bwd_d, bwd_w).

Backward passes time torch.autograd.grad on a graph built once (retain_graph),
as the anchor suite's PyTorch script does: the backward alone.
"""
import torch
import torch.nn.functional as F

ACTS = {"relu": F.relu, "relu6": F.relu6, "silu": F.silu, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
        "gelu": F.gelu, "hardswish": F.hardswish}


def _grad_fn(y, inputs):
    go = torch.randn_like(y)

    def run():
        return torch.autograd.grad(y, inputs, go, retain_graph=True)
    run.no_grad = False
    return run


def make(keys, flags, bias, pass_):
    n, ci, co = keys["mb"], keys["ic"], keys["oc"]
    x = torch.randn(n, ci)
    w = torch.randn(co, ci) / ci ** 0.5
    b = torch.randn(co) if bias else None
    act = ACTS.get(keys.get("act"), lambda t: t)
    if pass_ == "fwd":
        return lambda: act(F.linear(x, w, b))
    if pass_ == "bwd_d":
        xg = x.clone().requires_grad_()
        return _grad_fn(F.linear(xg, w, b), [xg])
    if pass_ == "bwd_w":
        wg = w.clone().requires_grad_()
        bg = b.clone().requires_grad_() if b is not None else None
        return _grad_fn(F.linear(x, wg, bg), [wg] + ([bg] if bg is not None else []))
    return None
