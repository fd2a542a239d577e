"""clnn.torch: drop-in results and gradients, and torch.autograd.gradcheck.

gradcheck runs on float64 inputs that the wrappers compute in float32, so it
uses eps=1e-3 and atol=rtol=1e-2 (docs/PYTHON.md): float32 rounding of a
central difference with eps=1e-3 is ~1e-4 relative, far inside that bound.
"""
import torch
import torchvision.ops as tvo
from torch.autograd import gradcheck

import clnn.torch as ct

GRADCHECK = dict(eps=1e-3, atol=1e-2, rtol=1e-2)


def test_deform_conv2d_drop_in():
    x = torch.randn(2, 4, 7, 6, requires_grad=True)
    off = (torch.randn(2, 2 * 2 * 9, 7, 6) * 1.5).requires_grad_(True)
    m = torch.rand(2, 2 * 9, 7, 6, requires_grad=True)
    w = torch.randn(6, 2, 3, 3, requires_grad=True)
    b = torch.randn(6, requires_grad=True)
    y = ct.deform_conv2d(x, off, w, b, padding=(1, 1), mask=m)
    g = torch.randn(y.shape)
    got = torch.autograd.grad((y * g).sum(), (x, off, m, w, b))
    ref_y = tvo.deform_conv2d(x, off, w, b, padding=(1, 1), mask=m)
    ref = torch.autograd.grad((ref_y * g).sum(), (x, off, m, w, b))
    torch.testing.assert_close(y, ref_y, rtol=1e-4, atol=1e-4)
    for a, r in zip(got, ref):
        torch.testing.assert_close(a, r, rtol=1e-3, atol=1e-3)


def test_roi_align_drop_in():
    x = torch.randn(2, 3, 9, 9, requires_grad=True)
    boxes = [torch.tensor([[0.0, 1, 7, 6]]), torch.tensor([[1.0, 0, 8, 3], [2, 2, 4, 4]])]
    y = ct.roi_align(x, boxes, (2, 3), 0.5, 2, True)
    ref = tvo.roi_align(x, boxes, (2, 3), 0.5, 2, True)
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-4)
    g = torch.randn(y.shape)
    torch.testing.assert_close(torch.autograd.grad((y * g).sum(), x)[0],
                               torch.autograd.grad((ref * g).sum(), x)[0], rtol=1e-4, atol=1e-4)


def test_gradcheck_deform_conv2d():
    x = torch.randn(2, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    # fractional parts in [0.35, 0.65]: bilinear sampling has kinks at integer positions
    off = (torch.rand(2, 2 * 4, 3, 4, dtype=torch.float64) * 0.3 + 0.35).requires_grad_(True)
    m = torch.rand(2, 4, 3, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 2, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda *a: ct.deform_conv2d(a[0], a[1], a[2], a[3], mask=a[4]), (x, off, w, b, m),
                     **GRADCHECK)


def test_gradcheck_roi_align():
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    boxes = torch.tensor([[0, 0.3, 0.6, 4.2, 3.7], [1, 1.1, 0.2, 5.3, 5.1]], dtype=torch.float64)
    assert gradcheck(lambda x: ct.roi_align(x, boxes, 2, 1.0, 2), (x,), **GRADCHECK)


def test_gradcheck_conv2d():
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, w, b: ct.conv2d(x, w, b, 2, 1, 1, 2), (x, w, b), **GRADCHECK)


def test_outputs_keep_dtype():
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    assert ct.conv2d(x, w).dtype == torch.float64
    assert ct.conv2d(x.half(), w.half()).dtype == torch.float16


def test_roi_pool_and_ps_wrappers():
    x = torch.randn(2, 8, 9, 9, requires_grad=True)
    boxes = torch.tensor([[0, 0.3, 0.6, 7.2, 6.7], [1, 1.1, 0.2, 8.3, 5.1]])
    for ours, ref, args in ((ct.roi_pool, tvo.roi_pool, ((2, 3), 1.0)),
                            (ct.ps_roi_align, tvo.ps_roi_align, (2, 1.0, 2)),
                            (ct.ps_roi_pool, tvo.ps_roi_pool, (2, 1.0))):
        y, r = ours(x, boxes, *args), ref(x, boxes, *args)
        torch.testing.assert_close(y, r, rtol=1e-4, atol=1e-4)
    # gradients against torchvision where they agree (roi_pool, ps_roi_align) ...
    for ours, ref, args in ((ct.roi_pool, tvo.roi_pool, ((2, 3), 1.0)),
                            (ct.ps_roi_align, tvo.ps_roi_align, (2, 1.0, 2))):
        g = torch.randn(ours(x, boxes, *args).shape)
        torch.testing.assert_close(torch.autograd.grad((ours(x, boxes, *args) * g).sum(), x)[0],
                                   torch.autograd.grad((ref(x, boxes, *args) * g).sum(), x)[0],
                                   rtol=1e-4, atol=1e-4)
    # ... and gradcheck for all three (ps_roi_pool's backward is the exact gradient of its forward)
    xd = torch.randn(1, 8, 6, 6, dtype=torch.float64, requires_grad=True)
    bd = torch.tensor([[0, 0.3, 0.6, 4.2, 3.7]], dtype=torch.float64)
    assert gradcheck(lambda x: ct.ps_roi_align(x, bd, 2, 1.0, 2), (xd,), **GRADCHECK)
    assert gradcheck(lambda x: ct.ps_roi_pool(x, bd, 2, 1.0), (xd,), **GRADCHECK)
    xp = (torch.randperm(1 * 8 * 36, dtype=torch.float64).reshape(1, 8, 6, 6) / 10).requires_grad_(True)
    assert gradcheck(lambda x: ct.roi_pool(x, bd, 2, 1.0), (xp,), **GRADCHECK)  # distinct values: no ties


def test_gradcheck_layers():
    x = torch.randn(2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda x, w, b: ct.conv_transpose2d(x, w, b, 2, 1, 1, 2), (x, w, b), **GRADCHECK)
    xl = torch.randn(2, 3, 7, dtype=torch.float64, requires_grad=True)
    wl = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    bl = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert gradcheck(ct.linear, (xl, wl, bl), **GRADCHECK)
    assert gradcheck(lambda x: ct.avg_pool2d(x, 3, 2, 1, count_include_pad=False), (x,), **GRADCHECK)
    assert gradcheck(lambda x: ct.interpolate(x, scale_factor=1.5, mode="bilinear", align_corners=False), (x,),
                     **GRADCHECK)
    xp = (torch.randperm(2 * 4 * 25, dtype=torch.float64).reshape(2, 4, 5, 5) / 10).requires_grad_(True)
    assert gradcheck(lambda x: ct.max_pool2d(x, 2, 2, 1), (xp,), **GRADCHECK)  # distinct values: no ties


def test_layers_drop_in():
    x = torch.randn(2, 4, 5, 5)
    w = torch.randn(4, 3, 3, 3)
    torch.testing.assert_close(ct.conv_transpose2d(x, w, None, 2, 1, 1, 2),
                               torch.nn.functional.conv_transpose2d(x, w, None, 2, 1, 1, 2), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ct.max_pool2d(x, 3, 2, 1, ceil_mode=True),
                               torch.nn.functional.max_pool2d(x, 3, 2, 1, ceil_mode=True))
    torch.testing.assert_close(ct.interpolate(x, size=(7, 3)), torch.nn.functional.interpolate(x, size=(7, 3)))
