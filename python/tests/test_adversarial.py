"""Inputs a demanding user gives by mistake: each must raise clnn.Error with the
right status (not a bare Python exception, not a silently wrong result)."""
import pytest
import torch
import torch.nn.functional as F

import clnn
import clnn.torch as ct


def raises(name, fn):
    with pytest.raises(clnn.Error) as e:
        fn()
    assert e.value.name == name, e.value
    return e.value


def test_roi_boxes_none_or_not_tensors():
    feat = torch.randn(2, 3, 8, 8)
    e = raises("CLNN_ERR_INVALID_VALUE", lambda: ct.roi_align(feat, None, 2))
    assert "boxes" in e.message
    raises("CLNN_ERR_INVALID_VALUE", lambda: ct.roi_pool(feat, [None], 2))


def test_roi_box_list_of_wrong_width_is_not_regrouped():
    # 2 rows of 6 values hold 12 numbers: they must not be read as 3 boxes of 4
    feat = torch.randn(2, 3, 8, 8)
    e = raises("CLNN_ERR_SHAPE_MISMATCH", lambda: ct.roi_align(feat, [torch.zeros(2, 6)], 2))
    assert "boxes[0]" in e.message
    raises("CLNN_ERR_SHAPE_MISMATCH", lambda: ct.ps_roi_align(feat.repeat(1, 4, 1, 1), [torch.zeros(4)], 2))
    ok = ct.roi_align(feat, (torch.tensor([[0., 0, 4, 4]]), torch.zeros(0, 4)), 2)
    assert ok.shape == (1, 3, 2, 2)


def test_avg_pool_divisor_override_zero_refused():
    # the C API reads divisor 0 as "none": passing it through returned plain averages
    x = torch.randn(1, 2, 4, 4)
    with pytest.raises(RuntimeError):
        F.avg_pool2d(x, 2, divisor_override=0)
    raises("CLNN_ERR_INVALID_VALUE", lambda: ct.avg_pool2d(x, 2, divisor_override=0))
    raises("CLNN_ERR_INVALID_VALUE", lambda: ct.avg_pool2d(x, 2, divisor_override=-3))


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), -2.0, (2, 2, 2), "2"])
def test_interpolate_bad_scale_factor(scale):
    raises("CLNN_ERR_INVALID_VALUE", lambda: ct.interpolate(torch.randn(1, 1, 4, 4), scale_factor=scale))


def test_double_backward_raises_instead_of_dropping_the_penalty():
    # a gradient penalty through conv2d: without once_differentiable the
    # penalty's gradient with respect to the weight was silently left out
    x = torch.randn(1, 2, 5, 5, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, requires_grad=True)
    y = ct.conv2d(x, w)
    g, = torch.autograd.grad(y.pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):
        (y.sum() + g.pow(2).sum()).backward()


def test_torch_signatures_take_numpy_ints_and_refuse_floats_clearly():
    np = pytest.importorskip("numpy")
    x, off, w = torch.randn(1, 2, 5, 5), torch.zeros(1, 18, 3, 3), torch.randn(2, 2, 3, 3)
    torch.testing.assert_close(ct.deform_conv2d(x, off, w, stride=np.int64(1)), ct.deform_conv2d(x, off, w))
    boxes = torch.tensor([[0., 0, 0, 3, 3]])
    assert ct.roi_align(x, boxes, np.int64(2)).shape == (1, 2, 2, 2)
    assert ct.roi_pool(x, boxes, torch.Size([2, 3])).shape == (1, 2, 2, 3)
    raises("CLNN_ERR_INVALID_VALUE", lambda: ct.roi_align(x, boxes, 2.5))
    raises("CLNN_ERR_INVALID_VALUE", lambda: ct.roi_align(x, boxes, 2, sampling_ratio=1.5))


def test_interpolate_takes_torchs_keywords():
    x = torch.randn(1, 2, 5, 7)
    for mode, ac in (("nearest", None), ("bilinear", False), ("bilinear", True)):
        ref = F.interpolate(x, scale_factor=1.7, mode=mode, align_corners=ac, recompute_scale_factor=True)
        torch.testing.assert_close(ct.interpolate(x, scale_factor=1.7, mode=mode, align_corners=ac,
                                                  recompute_scale_factor=True), ref)
    raises("CLNN_ERR_UNSUPPORTED", lambda: ct.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True))


def test_optimizers_take_torchs_keywords():
    p = torch.zeros(2, requires_grad=True)
    ct.optim.AdamW([p], foreach=False)
    ct.optim.Adam([p], foreach=True, capturable=False, differentiable=False, fused=False)
    ct.optim.SGD([p], lr=0.1, foreach=None)
    raises("CLNN_ERR_UNSUPPORTED", lambda: ct.optim.AdamW([p], fused=True))
    raises("CLNN_ERR_UNSUPPORTED", lambda: ct.optim.SGD([p], lr=0.1, differentiable=True))
    raises("CLNN_ERR_INVALID_VALUE", lambda: ct.optim.AdamW([p], betas=(0.9, 0.9, 0.9)))


def test_core_arguments_of_the_wrong_kind_raise_clnn_error():
    np = pytest.importorskip("numpy")
    t = clnn.Tensor.zeros((2, 3))
    raises("CLNN_ERR_INVALID_VALUE", lambda: t.reshape(1.9, 3))  # was read as (1, 3) and refused for size
    raises("CLNN_ERR_INVALID_VALUE", lambda: clnn.Tensor.zeros((6,)).reshape(True, 6))
    raises("CLNN_ERR_INVALID_VALUE", lambda: t.fill("a"))
    raises("CLNN_ERR_INVALID_VALUE", lambda: t.fill(None))
    raises("CLNN_ERR_INVALID_VALUE", lambda: clnn.Tensor.empty((2,), dtype=True))  # was int32
    raises("CLNN_ERR_INVALID_VALUE", lambda: clnn.Tensor.empty(None))
    raises("CLNN_ERR_INVALID_VALUE", lambda: clnn.Tensor.from_numpy(np.ones(3), context="cpu"))
    assert clnn.Tensor.empty(5).shape == (5,)


@pytest.mark.parametrize("call", [
    lambda g, b, am: clnn.ops.roi_align_backward(g, b, (1, 2, 6.5, 6)),
    lambda g, b, am: clnn.ops.roi_pool_backward(g, b, am, None),
    lambda g, b, am: clnn.ops.avg_pool2d_backward(g, "abcd", 2),
    lambda g, b, am: clnn.ops.interpolate_backward(g, (1, 2, 1.5, 1.5), size=2),
    lambda g, b, am: clnn.ops.pixel_shuffle_backward(g, (1, 8.0, 1, 1), 2),
    lambda g, b, am: clnn.ops.conv2d_backward(g, g, g, output_mask=(True,)),
    lambda g, b, am: clnn.ops.linear_backward(g, g, clnn.Tensor.zeros((2, 2)), output_mask=(True, True)),
])
def test_backward_bad_input_shape_or_output_mask(call):
    np = pytest.importorskip("numpy")
    x = clnn.Tensor.from_numpy(np.random.rand(1, 2, 6, 6).astype(np.float32))
    boxes = np.array([[0, 0, 0, 4, 4]], np.float32)
    y, argmax = clnn.ops.roi_pool(x, boxes, 2, return_argmax=True)
    raises("CLNN_ERR_INVALID_VALUE", lambda: call(clnn.Tensor.zeros((1, 2, 2, 2)), boxes, argmax))


def test_activations_take_0d_and_9d_tensors():
    for shape in ((), (1,) * 9 + (3,)):
        x = torch.randn(shape, requires_grad=True)
        y = ct.silu(x)
        ref = F.silu(x)
        torch.testing.assert_close(y, ref)
        torch.testing.assert_close(torch.autograd.grad(y.sum(), x)[0], torch.autograd.grad(ref.sum(), x)[0])


def test_cross_entropy_unbatched():
    x = torch.randn(5, requires_grad=True)
    for reduction in ("mean", "sum"):
        y = ct.cross_entropy(x, torch.tensor(3), reduction=reduction, label_smoothing=0.1)
        ref = F.cross_entropy(x, torch.tensor(3), reduction=reduction, label_smoothing=0.1)
        torch.testing.assert_close(y, ref)
        torch.testing.assert_close(torch.autograd.grad(y, x)[0], torch.autograd.grad(ref, x)[0])


def test_non_cpu_tensor_is_refused_by_name():
    e = raises("CLNN_ERR_UNSUPPORTED", lambda: ct.relu(torch.empty(3, device="meta")))
    assert "CPU" in e.message


def test_error_pickles_and_copies():
    import copy
    import pickle
    e = raises("CLNN_ERR_INVALID_VALUE", lambda: clnn.Tensor.zeros((2,)).fill("x"))
    for back in (pickle.loads(pickle.dumps(e)), copy.copy(e)):
        assert (back.status, back.name, back.message, str(back)) == (e.status, e.name, e.message, str(e))


def _relu_in_child(queue):
    try:
        queue.put(str(ct.relu(torch.tensor([-1.0, 3.0])).tolist()))
    except clnn.Error as e:
        queue.put(e.name)


def test_forked_child_raises_instead_of_hanging():
    # OpenCL does not survive fork (DataLoader workers, multiprocessing's default
    # on Linux): the child's first call used to hang for ever
    import multiprocessing
    ct.relu(torch.ones(2))  # OpenCL set up in this process
    mp = multiprocessing.get_context("fork")
    queue = mp.Queue()
    child = mp.Process(target=_relu_in_child, args=(queue,))
    child.start()
    child.join(20)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung")
    assert queue.get(timeout=5) == "CLNN_ERR_UNSUPPORTED"


def _same(fn, ref, *args):
    args_a = [a.clone().requires_grad_() for a in args]
    args_b = [a.clone().requires_grad_() for a in args]
    ya, yb = fn(*args_a), ref(*args_b)
    ya, yb = (ya[0], yb[0]) if isinstance(ya, tuple) else (ya, yb)
    torch.testing.assert_close(ya, yb, rtol=1e-4, atol=1e-4)
    g = torch.randn(yb.shape)
    for a, b in zip(torch.autograd.grad((ya * g).sum(), args_a), torch.autograd.grad((yb * g).sum(), args_b)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's own note on its reference
@pytest.mark.parametrize("kernel,dilation", [((2, 2), 1), ((2, 3), 1), ((3, 3), (1, 2)), ((4, 1), 1)])
def test_conv2d_padding_same_odd_total(kernel, dilation):
    # torch pads the odd extra row / column at the bottom / right; this used to raise UNSUPPORTED
    _same(lambda x, w: ct.conv2d(x, w, padding="same", dilation=dilation),
          lambda x, w: F.conv2d(x, w, padding="same", dilation=dilation),
          torch.randn(2, 3, 6, 7), torch.randn(4, 3, *kernel))


def test_unbatched_and_leading_dims_as_torch():
    x3 = torch.randn(4, 6, 6)
    _same(lambda x, w: ct.conv2d(x, w, padding=1), lambda x, w: F.conv2d(x, w, padding=1), x3, torch.randn(2, 4, 3, 3))
    _same(lambda x, w: ct.conv_transpose2d(x, w, stride=2), lambda x, w: F.conv_transpose2d(x, w, stride=2), x3,
          torch.randn(4, 2, 3, 3))
    _same(lambda x: ct.max_pool2d(x, 2, return_indices=True), lambda x: F.max_pool2d(x, 2, return_indices=True), x3)
    assert torch.equal(ct.max_pool2d(x3, 2, return_indices=True)[1], F.max_pool2d(x3, 2, return_indices=True)[1])
    _same(lambda x: ct.avg_pool2d(x, 3, 2, 1), lambda x: F.avg_pool2d(x, 3, 2, 1), x3)
    for shape in ((8, 2, 3), (2, 3, 8, 2, 3)):
        _same(lambda x: ct.pixel_shuffle(x, 2), lambda x: F.pixel_shuffle(x, 2), torch.randn(shape))
        _same(lambda x: ct.pixel_unshuffle(x, 2), lambda x: F.pixel_unshuffle(x, 2), torch.randn(shape[:-2] + (4, 6)))


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.uint8])
def test_integer_data_tensor_named_by_dtype_and_shape(dtype):
    e = raises("CLNN_ERR_INVALID_VALUE", lambda: ct.conv2d(torch.ones(1, 1, 3, 3, dtype=dtype), torch.ones(1, 1, 2, 2)))
    assert str(dtype) in e.message and "(1, 1, 3, 3)" in e.message and "from_numpy" not in e.message


def test_tensor_from_a_raw_handle_is_refused():
    # clnn.Tensor(12345, ctx, (3,), 0).to_numpy() handed C a garbage pointer: a segfault
    raises("CLNN_ERR_INVALID_VALUE", lambda: clnn.Tensor(12345, clnn.default_context(), (3,), 0))


def test_freed_tensor_says_so():
    # after an explicit __del__ the status came with an empty message, or reshape's
    # with a stale C function name (clnn_act_desc_check: argument 'buf' is NULL)
    np = pytest.importorskip("numpy")
    x = clnn.Tensor.from_numpy(np.arange(6, dtype=np.float32))
    view = x.reshape(2, 3)
    clnn.ops.relu(view)
    x.__del__()
    assert view.to_numpy().sum() == 15  # a view keeps the memory
    for call in (lambda: x.to_numpy(), lambda: x.fill(0), lambda: x.reshape(3, 2), lambda: clnn.ops.relu(x)):
        e = raises("CLNN_ERR_NULL_POINTER", call)
        assert "freed" in e.message


def test_error_message_is_never_empty():
    assert clnn.Error(1, "").message


@pytest.mark.parametrize("name,channels", [("roi_align", 4), ("roi_pool", 4), ("ps_roi_align", 8),
                                           ("ps_roi_pool", 8)])
def test_roi_ops_on_an_empty_batch(name, channels):
    # torchvision returns (0, C', ph, pw); the C API's n >= 1 check refused it
    torchvision = pytest.importorskip("torchvision")
    x = torch.randn(0, channels, 6, 6, requires_grad=True)
    y = getattr(ct, name)(x, torch.zeros(0, 5), 2)
    ref = getattr(torchvision.ops, name)(x, torch.zeros(0, 5), 2)
    assert y.shape == ref.shape
    y.sum().backward()
    assert x.grad.shape == x.shape
    raises("CLNN_ERR_INVALID_VALUE", lambda: getattr(ct, name)(x, torch.zeros(1, 5), 2))


def test_linear_on_more_than_8_dims():
    _same(lambda x, w, b: ct.linear(x, w, b), F.linear, torch.randn((1,) * 8 + (2, 3)), torch.randn(4, 3),
          torch.randn(4))


def test_batch_norm_and_cross_entropy_on_more_than_8_dims():
    shape = (3, 2) + (1,) * 6 + (2, 2)
    rm, rv = torch.zeros(2), torch.ones(2)
    rm_ref, rv_ref = rm.clone(), rv.clone()
    _same(lambda x, w: ct.batch_norm(x, rm, rv, w, None, True),
          lambda x, w: F.batch_norm(x, rm_ref, rv_ref, w, None, True), torch.randn(shape), torch.rand(2) + 0.5)
    torch.testing.assert_close(rv, rv_ref)
    target = torch.randint(0, 2, (3,) + shape[2:])
    _same(lambda x: ct.cross_entropy(x, target).reshape(1), lambda x: F.cross_entropy(x, target).reshape(1),
          torch.randn(shape))
