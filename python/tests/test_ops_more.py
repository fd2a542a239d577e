"""conv_transpose2d, pooling, interpolate, linear and the activations against torch."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import clnn
from clnn import ops
from test_ops import close, dev, grads


@pytest.mark.parametrize("case", [  # n, c, h, w, k, kh, kw, stride, pad, out_pad, groups, dil
    (2, 4, 5, 6, 6, 3, 3, 2, 1, 1, 2, 1),
    (3, 3, 4, 5, 2, 2, 3, (1, 2), (0, 1), 0, 1, (2, 1)),
    (0, 2, 4, 4, 3, 3, 3, 1, 0, 0, 1, 1),
])
def test_conv_transpose2d(case):
    n, c, h, w, k, kh, kw, s, p, op_, g, d = case
    x, wt, b = torch.randn(n, c, h, w), torch.randn(c, k // g, kh, kw), torch.randn(k)
    y, gy, ref = grads(lambda x, wt, b: F.conv_transpose2d(x, wt, b, s, p, op_, g, d), [x, wt, b], None)
    close(ops.conv_transpose2d(dev(x), dev(wt), dev(b), s, p, op_, g, d), y)
    for got, r in zip(ops.conv_transpose2d_backward(dev(gy), dev(x), dev(wt), s, p, op_, g, d), ref):
        close(got, r, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("args", [(3, 2, 1, False), ((2, 3), (1, 2), (1, 0), True), (2, None, 0, False)])
def test_pools(args):
    k, s, p, ceil = args
    x = torch.randn(2, 3, 9, 8)
    xg = x.clone().requires_grad_(True)
    y, idx = F.max_pool2d(xg, k, s, p, 1, ceil, True)
    gy = torch.randn(y.shape)
    (y * gy).sum().backward()
    got, gidx = ops.max_pool2d(dev(x), k, s, p, ceil_mode=ceil, return_indices=True)
    close(got, y)
    assert np.array_equal(gidx.to_numpy(), idx.numpy())
    close(ops.max_pool2d_backward(dev(gy), gidx, x.shape, k, s, p, ceil), xg.grad)
    for include in (True, False):
        y, gy, (dx,) = grads(lambda x: F.avg_pool2d(x, k, s, p, ceil, include), [x], None)
        close(ops.avg_pool2d(dev(x), k, s, p, ceil, include), y)
        close(ops.avg_pool2d_backward(dev(gy), x.shape, k, s, p, ceil, include), dx)


@pytest.mark.parametrize("kw", [dict(size=(7, 5), mode="nearest"), dict(scale_factor=1.7, mode="nearest"),
                                dict(size=(9, 4), mode="bilinear", align_corners=False),
                                dict(scale_factor=2, mode="bilinear", align_corners=True)])
def test_interpolate(kw):
    x = torch.randn(2, 3, 5, 6)
    y, gy, (dx,) = grads(lambda x: F.interpolate(x, **kw), [x], None)
    close(ops.interpolate(dev(x), **kw), y)
    close(ops.interpolate_backward(dev(gy), x.shape, **kw), dx)


@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7), (0, 7)])
def test_linear(shape):
    x, w, b = torch.randn(*shape), torch.randn(4, 7), torch.randn(4)
    y, gy, ref = grads(F.linear, [x, w, b], None)
    close(ops.linear(dev(x), dev(w), dev(b)), y)
    for got, r in zip(ops.linear_backward(dev(gy), dev(x), dev(w)), ref):
        close(got, r, rtol=1e-4, atol=1e-4)


ACTS = [("relu", F.relu, {}), ("relu6", F.relu6, {}), ("leaky_relu", F.leaky_relu, {"negative_slope": 0.2}),
        ("elu", F.elu, {"alpha": 0.7}), ("sigmoid", torch.sigmoid, {}), ("tanh", torch.tanh, {}),
        ("gelu", F.gelu, {}), ("gelu", F.gelu, {"approximate": "tanh"}), ("silu", F.silu, {}),
        ("hardswish", F.hardswish, {})]


@pytest.mark.parametrize("name,fn,kw", ACTS)
def test_activations(name, fn, kw):
    x = torch.randn(3, 5, 7) * 4
    y, gy, (dx,) = grads(lambda x: fn(x, **kw), [x], None)
    close(getattr(ops, name)(dev(x), **kw), y, rtol=1e-5, atol=1e-5)
    cname = "gelu_tanh" if kw.get("approximate") == "tanh" else name
    alpha = kw.get("negative_slope", kw.get("alpha", 0.0))
    close(ops.activation_backward(dev(gy), dev(x), cname, alpha), dx, rtol=1e-5, atol=1e-5)
    assert getattr(ops, name)(dev(torch.zeros(0, 3)), **kw).shape == (0, 3)


def test_more_bad_input_raises():
    x = dev(torch.randn(1, 2, 5, 5))
    with pytest.raises(clnn.Error):
        ops.max_pool2d(x, 7)  # larger than the input
    with pytest.raises(clnn.Error):
        ops.interpolate(x, size=(3, 3), mode="bicubic")
    with pytest.raises(clnn.Error):
        ops.linear(x, dev(torch.randn(3, 4)))
    with pytest.raises(clnn.Error):
        ops.conv_transpose2d(x, dev(torch.randn(3, 2, 3, 3)))
    with pytest.raises(clnn.Error):
        ops.activation_backward(x, x, "swish")


def test_pixel_shuffle():
    x = torch.randn(2, 12, 3, 5)
    y, gy, (dx,) = grads(lambda x: F.pixel_shuffle(x, 2), [x], None)
    close(ops.pixel_shuffle(dev(x), 2), y, rtol=0, atol=0)
    close(ops.pixel_shuffle_backward(dev(gy), x.shape, 2), dx, rtol=0, atol=0)
    x = torch.randn(2, 3, 6, 4)
    y, gy, (dx,) = grads(lambda x: F.pixel_unshuffle(x, 2), [x], None)
    close(ops.pixel_unshuffle(dev(x), 2), y, rtol=0, atol=0)
    close(ops.pixel_unshuffle_backward(dev(gy), x.shape, 2), dx, rtol=0, atol=0)
    assert ops.pixel_shuffle(dev(torch.zeros(0, 4, 2, 2)), 2).shape == (0, 1, 4, 4)
    with pytest.raises(clnn.Error):
        ops.pixel_shuffle(dev(x), 2)  # 3 channels: not a multiple of 4
