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
