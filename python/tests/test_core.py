import numpy as np
import pytest

import clnn


def test_roundtrip_dtypes():
    a = np.random.default_rng(0).standard_normal((2, 3, 5)).astype(np.float32)
    assert np.array_equal(clnn.Tensor.from_numpy(a).to_numpy(), a)
    t = clnn.Tensor.from_numpy(a.astype(np.float16))
    assert t.dtype == "float16" and np.array_equal(t.to_numpy(), a.astype(np.float16))
    b = clnn.Tensor.from_numpy(a, dtype="bfloat16")
    assert b.dtype == "bfloat16" and b.shape == (2, 3, 5)
    assert np.allclose(b.to_numpy(), a, rtol=2 ** -8)
    i = clnn.Tensor.from_numpy(np.arange(6, dtype=np.int32))
    assert i.dtype == "int32" and list(i.to_numpy()) == list(range(6))
    assert clnn.Tensor.from_numpy(a.astype(np.float64)).dtype == "float32"


def test_empty_and_reshape():
    e = clnn.Tensor.from_numpy(np.zeros((0, 3), np.float32))
    assert e.to_numpy().shape == (0, 3)
    t = clnn.Tensor.from_numpy(np.arange(12, dtype=np.float32))
    assert np.array_equal(t.reshape(3, -1).to_numpy(), np.arange(12).reshape(3, 4))
    with pytest.raises(clnn.Error) as e:
        t.reshape(5, 3)
    assert e.value.name == "CLNN_ERR_SHAPE_MISMATCH"


def test_bad_input_raises():
    with pytest.raises(clnn.Error):
        clnn.Tensor.from_numpy(np.zeros(3, np.int64))
    with pytest.raises(clnn.Error):
        clnn.Tensor.from_numpy(np.zeros(3, np.float32), dtype="float8")
    with pytest.raises(clnn.Error):
        clnn.Tensor.empty((-1, 2))
    with pytest.raises(clnn.Error):
        clnn.Tensor.empty((1,) * 9)
    with pytest.raises(clnn.Error):
        clnn.Context(device=10 ** 6)
    t = clnn.Tensor.empty((2, 2))
    with pytest.raises(clnn.Error) as e:
        t.copy_from_numpy(np.zeros((3, 2)))
    assert e.value.name == "CLNN_ERR_SHAPE_MISMATCH"


def test_error_carries_library_message():
    x = clnn.Tensor.empty((1, 3, 5, 5))
    w = clnn.Tensor.empty((2, 4, 3, 3))
    with pytest.raises(clnn.Error) as e:
        clnn.ops.conv2d(x, w)
    assert e.value.status == 3 and "clnn_conv2d_fwd" in e.value.message


def test_context_mismatch():
    other = clnn.Context()
    x = clnn.Tensor.zeros((1, 3, 5, 5))
    w = clnn.Tensor.zeros((2, 3, 3, 3), context=other)
    with pytest.raises(clnn.Error) as e:
        clnn.ops.conv2d(x, w)
    assert e.value.name == "CLNN_ERR_CONTEXT_MISMATCH"


def test_dtype_mismatch():
    x = clnn.Tensor.zeros((1, 3, 5, 5))
    w = clnn.Tensor.zeros((2, 3, 3, 3), dtype="float16")
    with pytest.raises(clnn.Error) as e:
        clnn.ops.conv2d(x, w)
    assert e.value.name == "CLNN_ERR_INVALID_VALUE"


def test_non_tensor_arguments_raise():
    with pytest.raises(clnn.Error):
        clnn.ops.conv2d(np.zeros((1, 3, 5, 5), np.float32), clnn.Tensor.zeros((2, 3, 3, 3)))
    with pytest.raises(clnn.Error):
        clnn.ops.conv2d(clnn.Tensor.zeros((3, 5, 5)), clnn.Tensor.zeros((2, 3, 3, 3)))
    with pytest.raises(clnn.Error):
        clnn.ops.conv2d(clnn.Tensor.zeros((1, 3, 5, 5)), clnn.Tensor.zeros((2, 3, 3, 3)), stride="x")


def test_dlpack_host_export():
    import torch
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = clnn.Tensor.from_numpy(a)
    assert np.array_equal(np.from_dlpack(t), a)
    assert torch.equal(torch.from_dlpack(t), torch.from_numpy(a))
    h = clnn.Tensor.from_numpy(a.astype(np.float16))
    assert torch.from_dlpack(h).dtype == torch.float16


def test_huge_ints_are_refused_not_wrapped():
    x, w = clnn.Tensor.zeros((1, 1, 5, 5)), clnn.Tensor.zeros((1, 1, 3, 3))
    with pytest.raises(clnn.Error):
        clnn.ops.conv2d(x, w, stride=2 ** 64 + 1)  # would wrap to 1 in an int64 field
    with pytest.raises(clnn.Error):
        clnn.ops.conv2d(x, w, padding=(1, 2, 3))
    with pytest.raises(clnn.Error):
        clnn.Tensor.empty((2 ** 64, 1))
    with pytest.raises(clnn.Error):
        clnn.ops.roi_align(x, np.zeros((1, 5), np.float32), 2, sampling_ratio=True)


def test_dlpack_both_directions():
    import torch
    for t in (torch.randn(3, 4), torch.arange(-5, 7, dtype=torch.int32).reshape(2, 6)):
        d = clnn.Tensor.from_dlpack(t)  # torch CPU tensor in
        assert d.dtype == str(t.dtype).split(".")[1] and d.shape == tuple(t.shape)
        back = torch.from_dlpack(d)  # and out, through a host copy
        assert back.dtype == t.dtype and torch.equal(back, t)
        a = t.numpy()
        n = clnn.Tensor.from_dlpack(a)  # NumPy array in
        assert np.array_equal(np.from_dlpack(n), a) and np.from_dlpack(n).dtype == a.dtype
    # strided input is read through its strides; the export owns its memory
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()
    d = clnn.Tensor.from_dlpack(t)
    assert torch.equal(torch.from_dlpack(d), t)
    exported = torch.from_dlpack(d)  # (NumPy marks what it imports read-only)
    exported[0, 0] = 99
    assert d.to_numpy()[0, 0] == 0
    assert clnn.Tensor.from_dlpack(torch.randn(2, dtype=torch.float64), dtype="float32").dtype == "float32"


def test_dlpack_refuses_what_it_cannot_take():
    import torch

    class OnDevice:
        def __dlpack__(self, stream=None):
            raise AssertionError("never read")

        def __dlpack_device__(self):
            return (2, 0)  # kDLCUDA

    with pytest.raises(clnn.Error) as e:
        clnn.Tensor.from_dlpack(OnDevice())
    assert e.value.name == "CLNN_ERR_UNSUPPORTED"
    for bad in (torch.arange(3), torch.ones(2, dtype=torch.bfloat16), torch.ones(2, dtype=torch.bool),
                np.arange(3, dtype=np.int64), torch.ones(2, requires_grad=True), [1.0, 2.0]):
        with pytest.raises(clnn.Error) as e:
            clnn.Tensor.from_dlpack(bad)
        assert e.value.name == "CLNN_ERR_INVALID_VALUE"
    t = clnn.Tensor.from_numpy(np.ones(3, np.float32))
    with pytest.raises(BufferError):
        t.__dlpack__(stream=1)
    with pytest.raises(BufferError):
        t.__dlpack__(copy=False)
