"""clnn.ops against torch.nn.functional and torchvision.ops on small odd shapes."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.ops as tvo

import clnn
from clnn import ops

TOL = dict(rtol=1e-4, atol=1e-4)


def dev(t):
    return clnn.Tensor.from_numpy(t.detach().numpy())


def close(a, ref, **tol):
    np.testing.assert_allclose(a.to_numpy(), ref.detach().numpy(), **(tol or TOL))


def grads(fn, inputs, out_shape):
    """torch's gradients of sum(fn(*inputs) * g) for a fixed random g."""
    inputs = [t.detach().clone().requires_grad_(True) if t is not None else None for t in inputs]
    y = fn(*inputs)
    g = torch.randn(y.shape)
    (y * g).sum().backward()
    return y, g, [t.grad if t is not None else None for t in inputs]


CONV_CASES = [  # n, c, h, w, k, kh, kw, stride, pad, dil, groups
    (2, 3, 7, 6, 5, 3, 3, 1, 1, 1, 1),
    (3, 4, 9, 8, 6, 3, 2, (2, 1), (1, 0), (1, 2), 2),
    (2, 6, 5, 7, 6, 3, 3, 2, 1, 1, 6),
    (0, 3, 5, 5, 4, 3, 3, 1, 1, 1, 1),
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d(case):
    n, c, h, w, k, kh, kw, s, p, d, g = case
    x, wt, b = torch.randn(n, c, h, w), torch.randn(k, c // g, kh, kw), torch.randn(k)
    y, gy, (dx, dw, db) = grads(lambda x, wt, b: F.conv2d(x, wt, b, s, p, d, g), [x, wt, b], None)
    close(ops.conv2d(dev(x), dev(wt), dev(b), s, p, d, g), y)
    r = ops.conv2d_backward(dev(gy), dev(x), dev(wt), s, p, d, g)
    for got, ref in zip(r, (dx, dw, db)):
        close(got, ref, rtol=1e-4, atol=1e-3)


DEFORM_CASES = [  # n, c, h, w, k, kh, kw, stride, pad, dil, groups, offset_groups, mask
    (2, 4, 7, 6, 3, 3, 3, 1, 1, 1, 1, 2, True),
    (2, 4, 8, 7, 4, 3, 2, (2, 1), (1, 0), (1, 2), 2, 1, False),
    (0, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, True),
]


@pytest.mark.parametrize("case", DEFORM_CASES)
def test_deform_conv2d(case):
    n, c, h, w, k, kh, kw, s, p, d, g, og, use_mask = case
    sh, sw = (s, s) if isinstance(s, int) else s
    ph, pw = (p, p) if isinstance(p, int) else p
    dh, dw_ = (d, d) if isinstance(d, int) else d
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (w + 2 * pw - dw_ * (kw - 1) - 1) // sw + 1
    x, wt, b = torch.randn(n, c, h, w), torch.randn(k, c // g, kh, kw), torch.randn(k)
    off = torch.randn(n, 2 * og * kh * kw, oh, ow) * 1.5
    m = torch.rand(n, og * kh * kw, oh, ow) if use_mask else None

    def fn(x, off, wt, b, m):
        return tvo.deform_conv2d(x, off, wt, b, stride=s, padding=p, dilation=d, mask=m)
    y, gy, ref = grads(fn, [x, off, wt, b, m], None)
    close(ops.deform_conv2d(dev(x), dev(off), dev(wt), dev(b), s, p, d, None if m is None else dev(m)), y)
    got = ops.deform_conv2d_backward(dev(gy), dev(x), dev(off), dev(wt), s, p, d, None if m is None else dev(m))
    # order: input, offset, mask, weight, bias
    for gt, rf in zip(got, (ref[0], ref[1], ref[4], ref[2], ref[3])):
        if rf is None:
            assert gt is None
        else:
            close(gt, rf, rtol=1e-3, atol=1e-3)


def boxes(n, k, size, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-2, size, (k, 2))
    wh = rng.uniform(0.5, size / 2, (k, 2))
    return np.concatenate([rng.integers(0, max(n, 1), (k, 1)), xy, xy + wh], 1).astype(np.float32)


ROI_CASES = [  # n, c, h, w, k, out, scale, ratio, aligned
    (2, 3, 9, 11, 5, (3, 2), 0.5, -1, False),
    (2, 3, 9, 11, 4, 2, 1.0, 2, True),
    (1, 2, 6, 5, 0, 2, 1.0, -1, False),
]


@pytest.mark.parametrize("case", ROI_CASES)
def test_roi_align(case):
    n, c, h, w, k, out, scale, ratio, aligned = case
    x = torch.randn(n, c, h, w)
    r = boxes(n, k, 2 * w)
    y, gy, (dx,) = grads(lambda x: tvo.roi_align(x, torch.from_numpy(r), out, scale, ratio, aligned), [x], None)
    close(ops.roi_align(dev(x), r, out, scale, ratio, aligned), y)
    close(ops.roi_align_backward(dev(gy), r, x.shape, scale, ratio, aligned), dx)


def test_roi_align_list_of_boxes():
    x = torch.randn(2, 3, 8, 8)
    per_image = [torch.tensor([[0.0, 1, 5, 6]]), torch.tensor([[1.0, 0, 7, 3], [2, 2, 4, 4]])]
    ref = tvo.roi_align(x, per_image, 2)
    close(ops.roi_align(dev(x), [b.numpy() for b in per_image], 2), ref)


def test_roi_pool_and_ps_ops():
    x = torch.randn(2, 8, 9, 10)
    r = boxes(2, 5, 18, seed=1)
    rt = torch.from_numpy(r)
    y, gy, (dx,) = grads(lambda x: tvo.roi_pool(x, rt, (2, 3), 0.5), [x], None)
    got, argmax = ops.roi_pool(dev(x), r, (2, 3), 0.5, return_argmax=True)
    close(got, y)
    close(ops.roi_pool_backward(dev(gy), r, argmax, x.shape, 0.5), dx)
    y, gy, (dx,) = grads(lambda x: tvo.ps_roi_align(x, rt, 2, 0.5, 2), [x], None)
    close(ops.ps_roi_align(dev(x), r, 2, 0.5, 2), y)
    close(ops.ps_roi_align_backward(dev(gy), r, x.shape, 0.5, 2), dx)
    close(ops.ps_roi_pool(dev(x), r, 2, 0.5), tvo.ps_roi_pool(x, rt, 2, 0.5))


def test_bad_rois_raise():
    x = dev(torch.randn(1, 2, 5, 5))
    with pytest.raises(clnn.Error) as e:
        ops.roi_align(x, np.array([[3, 0, 0, 2, 2]], np.float32), 2)  # batch index out of range
    assert e.value.name == "CLNN_ERR_INVALID_VALUE"
    with pytest.raises(clnn.Error) as e:
        ops.roi_align(x, np.array([[0, np.nan, 0, 2, 2]], np.float32), 2)
    assert e.value.name == "CLNN_ERR_NOT_FINITE"
    with pytest.raises(clnn.Error):
        ops.roi_align(x, np.zeros((2, 4), np.float32), 2)


def test_deform_bad_offset_raises():
    x, w = dev(torch.randn(1, 2, 5, 5)), dev(torch.randn(3, 2, 3, 3))
    with pytest.raises(clnn.Error) as e:
        ops.deform_conv2d(x, dev(torch.randn(1, 17, 3, 3)), w)
    assert e.value.name == "CLNN_ERR_SHAPE_MISMATCH"
    with pytest.raises(clnn.Error):
        ops.deform_conv2d(x, dev(torch.randn(1, 18, 4, 4)), w)  # wrong offset spatial size


def test_half_types():
    x, w = torch.randn(2, 3, 6, 6), torch.randn(4, 3, 3, 3)
    ref = F.conv2d(x.half().float(), w.half().float(), padding=1)
    y = ops.conv2d(clnn.Tensor.from_numpy(x.half().numpy()), clnn.Tensor.from_numpy(w.half().numpy()), padding=1)
    assert y.dtype == "float16"
    np.testing.assert_allclose(y.to_numpy().astype(np.float32), ref.numpy(), rtol=1e-2, atol=1e-2)
    yb = ops.conv2d(clnn.Tensor.from_numpy(x.numpy(), dtype="bfloat16"),
                    clnn.Tensor.from_numpy(w.numpy(), dtype="bfloat16"), padding=1)
    assert yb.dtype == "bfloat16"
    np.testing.assert_allclose(yb.to_numpy(), F.conv2d(x, w, padding=1).numpy(), rtol=0.05, atol=0.2)
