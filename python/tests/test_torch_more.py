"""clnn.torch's batch_norm, cross_entropy, pixel (un)shuffle, activations and
max_pool2d's indices: drop-in results and gradients, and gradcheck (at
test_torch.py's tolerance)."""
import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

import clnn
import clnn.torch as ct
from test_torch import GRADCHECK


def test_batch_norm_drop_in():
    x = torch.randn(3, 4, 5, 5, requires_grad=True)
    w = (torch.rand(4) + 0.5).requires_grad_(True)
    b = torch.randn(4, requires_grad=True)
    for training in (True, False):
        rm, rv = torch.randn(4), torch.rand(4) + 0.5
        rm_ref, rv_ref = rm.clone(), rv.clone()
        y = ct.batch_norm(x, rm, rv, w, b, training, 0.2, 1e-4)
        ref = F.batch_norm(x, rm_ref, rv_ref, w, b, training, 0.2, 1e-4)
        torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(rm, rm_ref)
        torch.testing.assert_close(rv, rv_ref)
        g = torch.randn(y.shape)
        for a, r in zip(torch.autograd.grad((y * g).sum(), (x, w, b)),
                        torch.autograd.grad((ref * g).sum(), (x, w, b))):
            torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-4)
    # a BatchNorm2d module's buffers, updated through the wrapper
    bn = torch.nn.BatchNorm2d(4)
    ct.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, True, bn.momentum, bn.eps)
    ref = torch.nn.BatchNorm2d(4)
    ref(x)
    torch.testing.assert_close(bn.running_var, ref.running_var)


def test_gradcheck_batch_norm():
    x = torch.randn(4, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    w = (torch.rand(3, dtype=torch.float64) + 0.5).requires_grad_(True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, w, b: ct.batch_norm(x, None, None, w, b, True), (x, w, b), **GRADCHECK)
    assert gradcheck(lambda x: ct.batch_norm(x, None, None, training=True), (x,), **GRADCHECK)
    rm, rv = torch.randn(3, dtype=torch.float64), torch.rand(3, dtype=torch.float64) + 0.5
    assert gradcheck(lambda x, w, b: ct.batch_norm(x, rm, rv, w, b), (x, w, b), **GRADCHECK)


def test_batch_norm_bad_input_raises():
    with pytest.raises(clnn.Error):
        ct.batch_norm(torch.randn(1, 3), torch.zeros(3), torch.ones(3), training=True)
    with pytest.raises(clnn.Error):
        ct.batch_norm(torch.randn(2, 3), torch.zeros(4), torch.ones(4))


def test_cross_entropy_drop_in():
    x = torch.randn(6, 5, 3, requires_grad=True)
    t = torch.randint(0, 5, (6, 3))
    t[2, 1] = 4
    for kw in (dict(), dict(reduction="sum"), dict(label_smoothing=0.15, ignore_index=4)):
        y, ref = ct.cross_entropy(x, t, **kw), F.cross_entropy(x, t, **kw)
        assert y.shape == () and y.dtype == torch.float32
        torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(torch.autograd.grad(y * 1.7, x)[0], torch.autograd.grad(ref * 1.7, x)[0],
                                   rtol=1e-5, atol=1e-6)
    all_ignored = torch.full((6, 3), -100)
    assert ct.cross_entropy(x, all_ignored, reduction="sum").item() == 0.0


def test_gradcheck_cross_entropy():
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0, 3, 1, 1, 2])
    assert gradcheck(lambda x: ct.cross_entropy(x, t), (x,), **GRADCHECK)
    assert gradcheck(lambda x: ct.cross_entropy(x, t, reduction="sum", label_smoothing=0.1), (x,), **GRADCHECK)


def test_cross_entropy_bad_input_raises():
    x = torch.randn(4, 3)
    for t, kw in ((torch.tensor([0, 1, 3, 1]), {}), (torch.rand(4, 3), {}), (torch.tensor([0, 1, 2, 1]),
                  dict(reduction="none")), (torch.tensor([0, 1, 2, 1]), dict(weight=torch.ones(3))),
                  (torch.tensor([0, 1, 2]), {})):
        with pytest.raises(clnn.Error):
            ct.cross_entropy(x, t, **kw)


def test_pixel_shuffle_drop_in_and_gradcheck():
    x = torch.randn(2, 8, 4, 6, requires_grad=True)
    for ours, ref in ((ct.pixel_shuffle, F.pixel_shuffle), (ct.pixel_unshuffle, F.pixel_unshuffle)):
        y, r = ours(x, 2), ref(x, 2)
        assert torch.equal(y, r)
        g = torch.randn(y.shape)
        assert torch.equal(torch.autograd.grad((y * g).sum(), x)[0], torch.autograd.grad((r * g).sum(), x)[0])
    xd = torch.randn(1, 4, 2, 4, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x: ct.pixel_shuffle(x, 2), (xd,), **GRADCHECK)
    assert gradcheck(lambda x: ct.pixel_unshuffle(x, 2), (xd,), **GRADCHECK)
    with pytest.raises(clnn.Error):
        ct.pixel_shuffle(torch.randn(1, 3, 2, 2), 2)


ACTS = [(ct.relu, F.relu, {}), (ct.relu6, F.relu6, {}), (ct.leaky_relu, F.leaky_relu, {"negative_slope": 0.2}),
        (ct.elu, F.elu, {"alpha": 0.7}), (ct.sigmoid, torch.sigmoid, {}), (ct.tanh, torch.tanh, {}),
        (ct.gelu, F.gelu, {}), (ct.gelu, F.gelu, {"approximate": "tanh"}), (ct.silu, F.silu, {}),
        (ct.hardswish, F.hardswish, {})]


@pytest.mark.parametrize("ours,ref,kw", ACTS)
def test_activation_drop_in_and_gradcheck(ours, ref, kw):
    x = (torch.randn(2, 3, 4) * 4).requires_grad_(True)
    y, r = ours(x, **kw), ref(x, **kw)
    torch.testing.assert_close(y, r, rtol=1e-5, atol=1e-5)
    g = torch.randn(y.shape)
    torch.testing.assert_close(torch.autograd.grad((y * g).sum(), x)[0], torch.autograd.grad((r * g).sum(), x)[0],
                               rtol=1e-5, atol=1e-5)
    # kinks (0 for the ReLUs, +-3 for hardswish, 6 for relu6) kept out of the finite differences' reach
    xd = torch.tensor([-5.1, -2.4, -0.7, -0.2, 0.3, 0.9, 1.6, 2.5, 4.2, 7.0], dtype=torch.float64)
    assert gradcheck(lambda x: ours(x, **kw), (xd.reshape(2, 5).requires_grad_(True),), **GRADCHECK)


def test_activation_bad_input_raises():
    with pytest.raises(clnn.Error) as e:
        ct.relu(torch.randn(3), inplace=True)
    assert e.value.name == "CLNN_ERR_UNSUPPORTED"
    with pytest.raises(clnn.Error):
        ct.gelu(torch.randn(3), approximate="erf")


def test_max_pool2d_return_indices():
    x = torch.randn(2, 3, 9, 8, requires_grad=True)
    for args in ((3, 2, 1, 1, False), ((2, 3), (1, 2), (1, 0), 1, True)):
        y, idx = ct.max_pool2d(x, *args, return_indices=True)
        ry, ridx = F.max_pool2d(x, *args, return_indices=True)
        assert idx.dtype == torch.int64 and torch.equal(idx, ridx) and not idx.requires_grad
        torch.testing.assert_close(y, ry)
        g = torch.randn(y.shape)
        torch.testing.assert_close(torch.autograd.grad((y * g).sum(), x)[0],
                                   torch.autograd.grad((ry * g).sum(), x)[0])
    # the indices drive max_unpool2d as torch's do
    y, idx = ct.max_pool2d(x, 2, return_indices=True)
    torch.testing.assert_close(F.max_unpool2d(y, idx, 2, output_size=x.shape[2:]),
                               F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2, output_size=x.shape[2:]))
    xp = (torch.randperm(1 * 2 * 25, dtype=torch.float64).reshape(1, 2, 5, 5) / 10).requires_grad_(True)
    assert gradcheck(lambda x: ct.max_pool2d(x, 2, 2, 1, return_indices=True)[0], (xp,), **GRADCHECK)
