"""Functional ops over clnn.Tensor, named and argumented as torch.nn.functional
and torchvision.ops. Each forward has a *_backward that returns the gradients.

Sizes come from the tensors; the library checks every shape, dtype and
context and the ops raise clnn.Error with its status and message.
"""
import ctypes

import numpy as np

from . import _lib
from ._core import Error, Tensor, invalid
from ._lib import lib


def _check(status):
    """Raise for a failed call that has no context (descriptor checks)."""
    if status != _lib.SUCCESS:
        raise Error(status, _lib.text(lib.clnn_context_errmsg(None)))


def _tensor(op, name, t, ndim=None):
    if not isinstance(t, Tensor):
        raise invalid(f"{op}: {name} must be a clnn.Tensor, got {type(t).__name__}")
    if ndim is not None and t.ndim != ndim:
        raise invalid(f"{op}: {name} must be {ndim}-D, got shape {t.shape}", _lib.ERR_SHAPE_MISMATCH)
    return t


def _opt(op, name, t, ndim=None):
    return None if t is None else _tensor(op, name, t, ndim)


def _h(t):
    """The C handle of an optional tensor (NULL for None)."""
    return None if t is None else t._handle


def _pair(op, name, v):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v), int(v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(e, (int, np.integer)) for e in v):
        return int(v[0]), int(v[1])
    raise invalid(f"{op}: {name} must be an int or a pair of ints, got {v!r}")


def _out_hw(check, desc):
    oh, ow = ctypes.c_int64(), ctypes.c_int64()
    _check(check(ctypes.byref(desc), ctypes.byref(oh), ctypes.byref(ow)))
    return oh.value, ow.value


# ------------------------------------------------------------------ conv2d

def _conv_desc(op, x, w, stride, padding, dilation, groups):
    _tensor(op, "input", x, 4)
    _tensor(op, "weight", w, 4)
    d = _lib.Conv2dDesc()
    d.n, d.c, d.h, d.w = x.shape
    d.k, _, d.kh, d.kw = w.shape
    d.stride_h, d.stride_w = _pair(op, "stride", stride)
    if padding == "valid":
        padding = 0
    elif padding == "same":
        # torch pads 'same' asymmetrically when the total is odd; the C API pads symmetrically.
        total = [dl * (k - 1) for dl, k in zip(_pair(op, "dilation", dilation), (d.kh, d.kw))]
        if any(t % 2 for t in total) or (d.stride_h, d.stride_w) != (1, 1):
            raise invalid(f"{op}: padding='same' needs stride 1 and an even dilation*(kernel-1)",
                          _lib.ERR_UNSUPPORTED)
        padding = (total[0] // 2, total[1] // 2)
    d.pad_h, d.pad_w = _pair(op, "padding", padding)
    d.dilation_h, d.dilation_w = _pair(op, "dilation", dilation)
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise invalid(f"{op}: groups must be an int, got {groups!r}")
    d.groups = int(groups)
    return d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv2d on clnn.Tensors (NCHW)."""
    d = _conv_desc("conv2d", input, weight, stride, padding, dilation, groups)
    _opt("conv2d", "bias", bias, 1)
    oh, ow = _out_hw(lib.clnn_conv2d_desc_check, d)
    y = Tensor.empty((d.n, d.k, oh, ow), input.dtype, input.context)
    input.context.call("clnn_conv2d_fwd", ctypes.byref(d), input._handle, weight._handle, _h(bias), y._handle)
    return y


def conv2d_backward(grad_output, input, weight, stride=1, padding=0, dilation=1, groups=1,
                    output_mask=(True, True, True)):
    """(grad_input, grad_weight, grad_bias) of conv2d; None where output_mask says False."""
    d = _conv_desc("conv2d_backward", input, weight, stride, padding, dilation, groups)
    _tensor("conv2d_backward", "grad_output", grad_output, 4)
    ctx, sd, dt = input.context, ctypes.byref(d), grad_output.dtype
    dx = dw = db = None
    if output_mask[0]:
        dx = Tensor.empty(input.shape, dt, ctx)
        ctx.call("clnn_conv2d_bwd_data", sd, grad_output._handle, weight._handle, dx._handle)
    if output_mask[1]:
        dw = Tensor.empty(weight.shape, dt, ctx)
        ctx.call("clnn_conv2d_bwd_weights", sd, input._handle, grad_output._handle, dw._handle, 0)
    if output_mask[2]:
        db = Tensor.empty((d.k,), dt, ctx)
        ctx.call("clnn_conv2d_bwd_bias", sd, grad_output._handle, db._handle, 0)
    return dx, dw, db


# ----------------------------------------------------------- deform_conv2d

def _deform_desc(op, x, offset, w, stride, padding, dilation, mask):
    conv = _conv_desc(op, x, w, stride, padding, dilation, 1)
    _tensor(op, "offset", offset, 4)
    _opt(op, "mask", mask, 4)
    cg = w.shape[1]
    if cg == 0 or conv.c % cg:
        raise invalid(f"{op}: input channels {conv.c} are not a multiple of weight.shape[1] = {cg}",
                      _lib.ERR_SHAPE_MISMATCH)
    conv.groups = conv.c // cg
    taps = conv.kh * conv.kw
    if offset.shape[1] == 0 or offset.shape[1] % (2 * taps):
        raise invalid(f"{op}: offset has {offset.shape[1]} channels, not a positive multiple of "
                      f"2*kh*kw = {2 * taps}", _lib.ERR_SHAPE_MISMATCH)
    d = _lib.DeformConv2dDesc()
    d.conv = conv
    d.offset_groups = offset.shape[1] // (2 * taps)
    d.modulated = 0 if mask is None else 1
    return d


def deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                  mask=None):
    """torchvision.ops.deform_conv2d on clnn.Tensors (v2 when mask is given)."""
    d = _deform_desc("deform_conv2d", input, offset, weight, stride, padding, dilation, mask)
    _opt("deform_conv2d", "bias", bias, 1)
    oh, ow = _out_hw(lib.clnn_deform_conv2d_desc_check, d)
    y = Tensor.empty((d.conv.n, d.conv.k, oh, ow), input.dtype, input.context)
    input.context.call("clnn_deform_conv2d_fwd", ctypes.byref(d), input._handle, offset._handle, _h(mask),
                       weight._handle, _h(bias), y._handle)
    return y


def deform_conv2d_backward(grad_output, input, offset, weight, stride=(1, 1), padding=(0, 0),
                           dilation=(1, 1), mask=None, output_mask=(True, True, True, True, True)):
    """(grad_input, grad_offset, grad_mask, grad_weight, grad_bias) of deform_conv2d.

    grad_mask is None without a mask; any gradient output_mask leaves out is None.
    """
    op = "deform_conv2d_backward"
    d = _deform_desc(op, input, offset, weight, stride, padding, dilation, mask)
    _tensor(op, "grad_output", grad_output, 4)
    ctx, dt = input.context, grad_output.dtype
    want = list(output_mask)
    want[2] = want[2] and mask is not None
    shapes = (input.shape, offset.shape, None if mask is None else mask.shape, weight.shape, (d.conv.k,))
    outs = [Tensor.empty(s, dt, ctx) if w else None for s, w in zip(shapes, want)]
    if any(want):
        ctx.call("clnn_deform_conv2d_bwd", ctypes.byref(d), input._handle, offset._handle, _h(mask),
                 weight._handle, grad_output._handle, *[_h(t) for t in outs])
    return tuple(outs)


# --------------------------------------------------------------------- roi

def _rois(op, boxes, context):
    """boxes as a (K, 5) float32 clnn.Tensor: a Tensor as given, a (K, 5) array,
    or a list of per-image (L, 4) arrays (torchvision's two forms)."""
    if isinstance(boxes, Tensor):
        return boxes
    if isinstance(boxes, (list, tuple)):
        rows = [np.concatenate([np.full((len(b), 1), i, np.float32), np.asarray(b, np.float32).reshape(-1, 4)], 1)
                for i, b in enumerate(boxes)]
        boxes = np.concatenate(rows, 0) if rows else np.zeros((0, 5), np.float32)
    boxes = np.asarray(boxes, dtype=np.float32)
    if boxes.ndim != 2 or boxes.shape[1] != 5:
        raise invalid(f"{op}: boxes must be (K, 5) rows [batch, x1, y1, x2, y2], got shape {boxes.shape}",
                      _lib.ERR_SHAPE_MISMATCH)
    return Tensor.from_numpy(boxes, context)


def _roi_desc(op, code, input_shape, rois, output_size, spatial_scale, sampling_ratio, aligned):
    if len(input_shape) != 4:
        raise invalid(f"{op}: input must be 4-D, got shape {tuple(input_shape)}", _lib.ERR_SHAPE_MISMATCH)
    if rois.ndim != 2:
        raise invalid(f"{op}: boxes must be (K, 5), got shape {rois.shape}", _lib.ERR_SHAPE_MISMATCH)
    d = _lib.RoiDesc()
    d.op = code
    d.n, d.c, d.h, d.w = input_shape
    d.num_rois = rois.shape[0]
    d.pooled_h, d.pooled_w = _pair(op, "output_size", output_size)
    d.spatial_scale = float(spatial_scale)
    d.sampling_ratio = int(sampling_ratio)
    d.aligned = 1 if aligned else 0
    out_c = ctypes.c_int64()
    _check(lib.clnn_roi_desc_check(ctypes.byref(d), ctypes.byref(out_c)))
    return d, out_c.value


def _roi_fwd(op, code, input, boxes, output_size, spatial_scale, sampling_ratio=-1, aligned=False):
    _tensor(op, "input", input)
    rois = _rois(op, boxes, input.context)
    d, out_c = _roi_desc(op, code, input.shape, rois, output_size, spatial_scale, sampling_ratio, aligned)
    y = Tensor.empty((d.num_rois, out_c, d.pooled_h, d.pooled_w), input.dtype, input.context)
    argmax = Tensor.empty(y.shape, "int32", input.context) if code == _lib.ROI_POOL else None
    input.context.call("clnn_roi_fwd", ctypes.byref(d), input._handle, rois._handle, y._handle, _h(argmax))
    return y, argmax


def _roi_bwd(op, code, grad_output, boxes, input_shape, argmax, spatial_scale, sampling_ratio=-1,
             aligned=False):
    _tensor(op, "grad_output", grad_output, 4)
    rois = _rois(op, boxes, grad_output.context)
    output_size = grad_output.shape[2:]
    d, _ = _roi_desc(op, code, tuple(input_shape), rois, output_size, spatial_scale, sampling_ratio, aligned)
    dx = Tensor.empty(tuple(input_shape), grad_output.dtype, grad_output.context)
    grad_output.context.call("clnn_roi_bwd", ctypes.byref(d), grad_output._handle, rois._handle, _h(argmax),
                             dx._handle)
    return dx


def roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """torchvision.ops.roi_align. boxes: a (K, 5) clnn.Tensor or array, or a list of (L, 4) arrays."""
    return _roi_fwd("roi_align", _lib.ROI_ALIGN, input, boxes, output_size, spatial_scale, sampling_ratio,
                    aligned)[0]


def roi_align_backward(grad_output, boxes, input_shape, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """The gradient of roi_align with respect to its input (of input_shape)."""
    return _roi_bwd("roi_align_backward", _lib.ROI_ALIGN, grad_output, boxes, input_shape, None, spatial_scale,
                    sampling_ratio, aligned)


def roi_pool(input, boxes, output_size, spatial_scale=1.0, return_argmax=False):
    """torchvision.ops.roi_pool; with return_argmax also the int32 argmax its backward needs."""
    y, argmax = _roi_fwd("roi_pool", _lib.ROI_POOL, input, boxes, output_size, spatial_scale)
    return (y, argmax) if return_argmax else y


def roi_pool_backward(grad_output, boxes, argmax, input_shape, spatial_scale=1.0):
    _tensor("roi_pool_backward", "argmax", argmax)
    return _roi_bwd("roi_pool_backward", _lib.ROI_POOL, grad_output, boxes, input_shape, argmax, spatial_scale)


def ps_roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1):
    """torchvision.ops.ps_roi_align."""
    return _roi_fwd("ps_roi_align", _lib.PS_ROI_ALIGN, input, boxes, output_size, spatial_scale,
                    sampling_ratio)[0]


def ps_roi_align_backward(grad_output, boxes, input_shape, spatial_scale=1.0, sampling_ratio=-1):
    return _roi_bwd("ps_roi_align_backward", _lib.PS_ROI_ALIGN, grad_output, boxes, input_shape, None,
                    spatial_scale, sampling_ratio)


def ps_roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """torchvision.ops.ps_roi_pool (see include/clnn.h for where its backward differs from torchvision's)."""
    return _roi_fwd("ps_roi_pool", _lib.PS_ROI_POOL, input, boxes, output_size, spatial_scale)[0]


def ps_roi_pool_backward(grad_output, boxes, input_shape, spatial_scale=1.0):
    return _roi_bwd("ps_roi_pool_backward", _lib.PS_ROI_POOL, grad_output, boxes, input_shape, None,
                    spatial_scale)
