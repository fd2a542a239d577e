"""PyTorch equivalents of the clnn-bench element-wise families "add", "mul"
and "scale" (passes fwd and bwd); compare.py finds them through FAMILIES.

Backward passes time torch.autograd.grad on a graph built once, computing
exactly the gradients clnn-bench's bwd pass writes: add (da, db), mul (dx,
ds), scale (dx, dalpha). Note that for y = a + b PyTorch's autograd hands
dy itself on as both gradients (no copy), while clnn_eltwise_add_bwd writes
two new tensors.
"""
import torch

FAMILIES = ("add", "mul", "scale")


def _grad_fn(y, inputs):
    go = torch.randn_like(y)

    def run():
        return torch.autograd.grad(y, inputs, go, retain_graph=True)
    run.no_grad = False
    return run


def make_add(keys, flags, bias, pass_):
    n = keys["n"]
    alpha, beta = float(keys.get("alpha", 1.0)), float(keys.get("beta", 1.0))
    a, b = torch.randn(n), torch.randn(n)

    def f(a, b):
        return torch.add(a, b, alpha=beta) if alpha == 1.0 else torch.add(a * alpha, b, alpha=beta)
    if pass_ == "fwd":
        return lambda: f(a, b)
    if pass_ == "bwd":
        ag, bg = a.clone().requires_grad_(), b.clone().requires_grad_()
        return _grad_fn(f(ag, bg), [ag, bg])
    return None


def make_mul(keys, flags, bias, pass_):
    n, c, h = keys["mb"], keys["ic"], keys["ih"]
    w = keys.get("iw", h)
    x = torch.randn(n, c, h, w)
    s = torch.randn(n, c, h, w) if "full" in flags else torch.randn(n, c, 1, 1)
    if pass_ == "fwd":
        return lambda: x * s
    if pass_ == "bwd":
        xg, sg = x.clone().requires_grad_(), s.clone().requires_grad_()
        return _grad_fn(xg * sg, [xg, sg])
    return None


def make_scale(keys, flags, bias, pass_):
    n = keys["n"]
    alpha = float(keys.get("alpha", 0.5))
    x = torch.randn(n)
    if pass_ == "fwd":
        return lambda: x * alpha
    if pass_ == "bwd":
        xg, ag = x.clone().requires_grad_(), torch.tensor(alpha, requires_grad=True)
        return _grad_fn(xg * ag, [xg, ag])
    return None


def make_family(family, keys, flags, bias, pass_):
    return {"add": make_add, "mul": make_mul, "scale": make_scale}[family](keys, flags, bias, pass_)
