"""batch_norm and cross_entropy against torch.nn.functional."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import clnn
from clnn import ops
from test_ops import close, dev


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5), (2, 2, 3, 2, 4)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training(shape, affine):
    c = shape[1]
    x = torch.randn(*shape) * 2 + 0.5
    w, b = (torch.rand(c) + 0.5, torch.randn(c)) if affine else (None, None)
    rm, rv = torch.randn(c), torch.rand(c) + 0.5
    drm, drv = dev(rm), dev(rv)
    xg = x.clone().requires_grad_(True)
    wg = None if w is None else w.clone().requires_grad_(True)
    bg = None if b is None else b.clone().requires_grad_(True)
    y = F.batch_norm(xg, rm, rv, wg, bg, True, 0.3, 1e-4)
    gy = torch.randn(y.shape)
    (y * gy).sum().backward()
    got, sm, si = ops.batch_norm(dev(x), drm, drv, w if w is None else dev(w), b if b is None else dev(b), True,
                                 0.3, 1e-4, return_saved=True)
    close(got, y)
    close(drm, rm, rtol=1e-5, atol=1e-5)  # running statistics updated in place, as torch's
    close(drv, rv, rtol=1e-5, atol=1e-5)
    dims = [0] + list(range(2, x.ndim))
    close(sm, x.mean(dims), rtol=1e-5, atol=1e-5)
    close(si, 1 / torch.sqrt(x.var(dims, unbiased=False) + 1e-4), rtol=1e-5, atol=1e-5)
    dx, dw, db = ops.batch_norm_backward(dev(gy), dev(x), None if w is None else dev(w), None, None, sm, si, True,
                                         1e-4, (True, affine, affine))
    close(dx, xg.grad, rtol=1e-4, atol=1e-4)
    if affine:
        close(dw, wg.grad, rtol=1e-4, atol=1e-4)
        close(db, bg.grad, rtol=1e-4, atol=1e-4)
    else:
        assert dw is None and db is None


def test_batch_norm_inference_and_partial_affine():
    x = torch.randn(3, 4, 5, 2)
    rm, rv, w, b = torch.randn(4), torch.rand(4) + 0.5, torch.randn(4), torch.randn(4)
    for wt, bt in ((w, b), (w, None), (None, b), (None, None)):
        args = [None if t is None else t.clone().requires_grad_(True) for t in (x, wt, bt)]
        y = F.batch_norm(args[0], rm, rv, args[1], args[2], False, 0.1, 1e-3)
        gy = torch.randn(y.shape)
        (y * gy).sum().backward()
        close(ops.batch_norm(dev(x), dev(rm), dev(rv), wt if wt is None else dev(wt), bt if bt is None else dev(bt),
                             eps=1e-3), y)
        dx, dw, db = ops.batch_norm_backward(dev(gy), dev(x), None if wt is None else dev(wt), dev(rm), dev(rv),
                                             eps=1e-3, output_mask=(True, wt is not None, bt is not None))
        close(dx, args[0].grad)
        if wt is not None:
            close(dw, args[1].grad)
        if bt is not None:
            close(db, args[2].grad)
    # training without running statistics leaves nothing to update
    y = ops.batch_norm(dev(x), None, None, training=True)
    close(y, F.batch_norm(x, None, None, training=True))


def test_batch_norm_half_input():
    x = torch.randn(4, 3, 3, 3)
    rm, rv = torch.zeros(3), torch.ones(3)
    got = ops.batch_norm(clnn.Tensor.from_numpy(x.numpy().astype(np.float16)), dev(rm), dev(rv), training=True)
    assert got.dtype == "float16"
    np.testing.assert_allclose(got.to_numpy().astype(np.float32),
                               F.batch_norm(x.half().float(), rm.clone(), rv.clone(), training=True).numpy(),
                               rtol=1e-2, atol=1e-2)


def test_batch_norm_bad_input_raises():
    x = dev(torch.randn(2, 3, 4))
    c3 = dev(torch.ones(3))
    with pytest.raises(clnn.Error) as e:
        ops.batch_norm(dev(torch.randn(1, 3)), c3, c3, training=True)  # one value per channel, as torch refuses
    assert e.value.name == "CLNN_ERR_INVALID_VALUE"
    with pytest.raises(clnn.Error):
        ops.batch_norm(x, None, None)  # inference without running statistics
    with pytest.raises(clnn.Error):
        ops.batch_norm(x, c3, None, training=True)
    with pytest.raises(clnn.Error) as e:
        ops.batch_norm(x, c3, c3, dev(torch.ones(4)))
    assert e.value.name == "CLNN_ERR_SHAPE_MISMATCH"
    with pytest.raises(clnn.Error):
        ops.batch_norm(x, c3, c3, training=True, momentum=1.5)
    with pytest.raises(clnn.Error):
        ops.batch_norm(x, c3, c3, eps=-1.0)
    with pytest.raises(clnn.Error):
        ops.batch_norm(dev(torch.randn(3)), c3, c3)
    with pytest.raises(clnn.Error):
        ops.batch_norm(x, clnn.Tensor.zeros((3,), "float16"), c3)
    with pytest.raises(clnn.Error):
        ops.batch_norm_backward(x, x, training=True)  # no saved statistics


@pytest.mark.parametrize("shape,smoothing", [((5, 7), 0.0), ((4, 3), 0.2), ((2, 4, 3, 5), 0.1), ((3, 6, 4), 0.0),
                                             ((0, 4), 0.0)])
def test_cross_entropy(shape, smoothing):
    x = torch.randn(*shape) * 3
    t = torch.randint(0, shape[1], (shape[0],) + shape[2:])
    if t.numel() > 2:
        t.view(-1)[1] = -100  # ignored
    xg = x.clone().requires_grad_(True)
    loss = F.cross_entropy(xg, t, label_smoothing=smoothing)
    loss.backward()
    target = clnn.Tensor.from_numpy(t.numpy().astype(np.int32))
    got = ops.cross_entropy(dev(x), target, label_smoothing=smoothing)
    assert got.shape == (1,)
    np.testing.assert_allclose(got.to_numpy()[0], loss.item(), rtol=1e-5, atol=1e-6)
    close(ops.cross_entropy_backward(1.0, dev(x), target, label_smoothing=smoothing), xg.grad, rtol=1e-5,
          atol=1e-6)
    # an integer array target (range-checked on the host), and grad_output scales the gradient
    g = ops.cross_entropy_backward(dev(torch.tensor([2.5])), dev(x), t.numpy(), label_smoothing=smoothing)
    close(g, xg.grad * 2.5, rtol=1e-5, atol=1e-6)


def test_cross_entropy_ignore_index_and_half():
    x = torch.randn(6, 5)
    t = torch.tensor([0, 3, 7, 7, 4, 1])
    ref = F.cross_entropy(x, t, ignore_index=7)
    np.testing.assert_allclose(ops.cross_entropy(dev(x), t.numpy(), ignore_index=7).to_numpy()[0], ref.item(),
                               rtol=1e-5)
    xh = clnn.Tensor.from_numpy(x.numpy().astype(np.float16))
    got = ops.cross_entropy(xh, t.numpy(), ignore_index=7)
    assert got.dtype == "float32"
    np.testing.assert_allclose(got.to_numpy()[0], F.cross_entropy(x.half().float(), t, ignore_index=7).item(),
                               rtol=1e-4)
    assert ops.cross_entropy_backward(1.0, xh, t.numpy(), ignore_index=7).dtype == "float16"


def test_cross_entropy_bad_input_raises():
    x = dev(torch.randn(4, 3))
    t = np.array([0, 1, 2, 1])
    for kw in (dict(reduction="sum"), dict(weight=dev(torch.ones(3))), dict(label_smoothing=1.5),
               dict(ignore_index=2 ** 40)):
        with pytest.raises(clnn.Error):
            ops.cross_entropy(x, t, **kw)
    with pytest.raises(clnn.Error) as e:
        ops.cross_entropy(x, np.array([0, 1, 3, 1]))  # label 3 of 3 classes
    assert e.value.name == "CLNN_ERR_INVALID_VALUE"
    with pytest.raises(clnn.Error) as e:
        ops.cross_entropy(x, np.zeros((4, 3), np.float32))  # class probabilities
    assert e.value.name == "CLNN_ERR_UNSUPPORTED"
    with pytest.raises(clnn.Error) as e:
        ops.cross_entropy(x, np.array([0, 1, 2]))
    assert e.value.name == "CLNN_ERR_SHAPE_MISMATCH"
    with pytest.raises(clnn.Error):
        ops.cross_entropy(x, clnn.Tensor.from_numpy(np.zeros(4, np.float32)))  # float labels
    with pytest.raises(clnn.Error):
        ops.cross_entropy(dev(torch.randn(4)), np.array([0]))
    with pytest.raises(clnn.Error):
        ops.cross_entropy_backward(float("nan"), x, t)
