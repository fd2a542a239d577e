"""PyTorch equivalents of clnn-bench "act" problems (fwd, bwd).

bwd times torch.autograd.grad of the activation's output with respect to
its input, given grad_output (the graph is built once, outside the timing).
"""
import torch
import torch.nn.functional as F

from descriptor import hw

ACTS = {
    "identity": lambda t, a: t,
    "relu": lambda t, a: F.relu(t),
    "relu6": lambda t, a: F.relu6(t),
    "leaky_relu": lambda t, a: F.leaky_relu(t, a),
    "elu": lambda t, a: F.elu(t, a),
    "sigmoid": lambda t, a: torch.sigmoid(t),
    "tanh": lambda t, a: torch.tanh(t),
    "gelu": lambda t, a: F.gelu(t),
    "gelu_tanh": lambda t, a: F.gelu(t, approximate="tanh"),
    "silu": lambda t, a: F.silu(t),
    "hardswish": lambda t, a: F.hardswish(t),
}
GATED = {"swiglu": ("silu", "first"), "geglu": ("gelu", "first"), "glu": ("sigmoid", "second")}
DEFAULT_ALPHA = {"leaky_relu": 0.01, "elu": 1.0}


def function(keys, flags):
    """The op as a function of x, from the descriptor's words and keys."""
    gate = keys.get("gate", "none")
    word = next(f for f in flags if f in ACTS or f in GATED)
    if word in GATED:
        word, gate = GATED[word]
    alpha = keys.get("alpha", DEFAULT_ALPHA.get(word, 0.0))
    act = ACTS[word]
    if gate == "none":
        return lambda x: act(x, alpha)
    if gate == "first":
        return lambda x: act(x.chunk(2, 1)[0], alpha) * x.chunk(2, 1)[1]
    return lambda x: x.chunk(2, 1)[0] * act(x.chunk(2, 1)[1], alpha)


def make(keys, flags, bias, pass_):
    n, c = keys["mb"], keys["ic"]
    ih, iw = hw(keys, "ih", "iw")
    x = torch.rand(n, c, ih, iw) * 8 - 4
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
