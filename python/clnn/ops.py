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
    if t._handle is None:
        raise invalid(f"{op}: {name} has been freed", _lib.ERR_NULL_POINTER)
    if ndim is not None and t.ndim != ndim:
        raise invalid(f"{op}: {name} must be {ndim}-D, got shape {t.shape}", _lib.ERR_SHAPE_MISMATCH)
    return t


def _opt(op, name, t, ndim=None):
    return None if t is None else _tensor(op, name, t, ndim)


def _h(t):
    """The C handle of an optional tensor (NULL for None)."""
    return None if t is None else t._handle


_I64_LIMIT = 2 ** 62  # ctypes would wrap larger ints silently into the descriptors' int64 fields


def _int(op, name, v):
    """An int argument, refused (not wrapped) when bool, not an int or out of int64 range."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not -_I64_LIMIT < int(v) < _I64_LIMIT:
        raise invalid(f"{op}: {name} must be an int, got {v!r}")
    return int(v)


def _pair(op, name, v):
    if isinstance(v, (tuple, list)) and len(v) == 2:
        return _int(op, name, v[0]), _int(op, name, v[1])
    if isinstance(v, (tuple, list)):
        raise invalid(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    v = _int(op, name, v)
    return v, v


def _shape(op, input_shape):
    """A backward's input_shape as a tuple of ints (a float, None or a str raised TypeError in ctypes)."""
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
        raise invalid(f"{op}: input_shape must be a sequence of ints, got {input_shape!r}")
    return tuple(_int(op, "input_shape", d) for d in input_shape)


def _mask(op, output_mask, n):
    """output_mask as n bools (a short one raised IndexError)."""
    want = tuple(bool(m) for m in output_mask)
    if len(want) != n:
        raise invalid(f"{op}: output_mask must have {n} entries, got {output_mask!r}")
    return want


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
    d.groups = _int(op, "groups", groups)
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
    output_mask = _mask("conv2d_backward", output_mask, 3)
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
    want = list(_mask(op, output_mask, 5))
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
    if boxes is None:
        raise invalid(f"{op}: boxes must be a (K, 5) tensor or a list of (L, 4) tensors, got None")
    if isinstance(boxes, (list, tuple)):
        per_image = [np.asarray(b, np.float32) for b in boxes]
        for i, b in enumerate(per_image):
            # no reshape: a (L, 5) or (L, 6) entry would otherwise be regrouped into wrong (., 4) boxes
            if b.ndim != 2 or b.shape[1] != 4:
                raise invalid(f"{op}: boxes[{i}] must be (L, 4) rows [x1, y1, x2, y2], got shape {b.shape}",
                              _lib.ERR_SHAPE_MISMATCH)
        rows = [np.concatenate([np.full((len(b), 1), i, np.float32), b], 1) for i, b in enumerate(per_image)]
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
    d.sampling_ratio = _int(op, "sampling_ratio", sampling_ratio)
    d.aligned = 1 if aligned else 0
    out_c = ctypes.c_int64()
    empty_batch = d.n == 0
    if empty_batch:
        # torchvision returns an empty result for an empty batch; the C API wants n >= 1,
        # so the rest is checked as for one image and the callers skip the C call
        if d.num_rois:
            raise invalid(f"{op}: {d.num_rois} boxes refer to images of an empty batch (input has 0 images)")
        d.n = 1
    _check(lib.clnn_roi_desc_check(ctypes.byref(d), ctypes.byref(out_c)))
    if empty_batch:
        d.n = 0
    return d, out_c.value


def _roi_fwd(op, code, input, boxes, output_size, spatial_scale, sampling_ratio=-1, aligned=False):
    _tensor(op, "input", input)
    rois = _rois(op, boxes, input.context)
    d, out_c = _roi_desc(op, code, input.shape, rois, output_size, spatial_scale, sampling_ratio, aligned)
    y = Tensor.empty((d.num_rois, out_c, d.pooled_h, d.pooled_w), input.dtype, input.context)
    argmax = Tensor.empty(y.shape, "int32", input.context) if code == _lib.ROI_POOL else None
    if d.n:  # an empty batch has no boxes: nothing to compute
        input.context.call("clnn_roi_fwd", ctypes.byref(d), input._handle, rois._handle, y._handle, _h(argmax))
    return y, argmax


def _roi_bwd(op, code, grad_output, boxes, input_shape, argmax, spatial_scale, sampling_ratio=-1,
             aligned=False):
    _tensor(op, "grad_output", grad_output, 4)
    rois = _rois(op, boxes, grad_output.context)
    output_size = grad_output.shape[2:]
    input_shape = _shape(op, input_shape)
    d, _ = _roi_desc(op, code, tuple(input_shape), rois, output_size, spatial_scale, sampling_ratio, aligned)
    dx = Tensor.empty(tuple(input_shape), grad_output.dtype, grad_output.context)
    if d.n:
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


# -------------------------------------------------------- conv_transpose2d

def _deconv_desc(op, x, w, stride, padding, output_padding, groups, dilation):
    _tensor(op, "input", x, 4)
    _tensor(op, "weight", w, 4)
    groups = _int(op, "groups", groups)
    if groups < 1:
        raise invalid(f"{op}: groups must be >= 1, got {groups}")
    d = _lib.ConvTranspose2dDesc()
    d.n, d.c, d.h, d.w = x.shape
    d.kh, d.kw = w.shape[2:]
    d.k = w.shape[1] * int(groups)
    d.stride_h, d.stride_w = _pair(op, "stride", stride)
    d.pad_h, d.pad_w = _pair(op, "padding", padding)
    d.output_pad_h, d.output_pad_w = _pair(op, "output_padding", output_padding)
    d.dilation_h, d.dilation_w = _pair(op, "dilation", dilation)
    d.groups = int(groups)
    return d


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch.nn.functional.conv_transpose2d (weight: (c, k/groups, kh, kw))."""
    d = _deconv_desc("conv_transpose2d", input, weight, stride, padding, output_padding, groups, dilation)
    _opt("conv_transpose2d", "bias", bias, 1)
    oh, ow = _out_hw(lib.clnn_conv_transpose2d_desc_check, d)
    y = Tensor.empty((d.n, d.k, oh, ow), input.dtype, input.context)
    input.context.call("clnn_conv_transpose2d_fwd", ctypes.byref(d), input._handle, weight._handle, _h(bias),
                       y._handle)
    return y


def conv_transpose2d_backward(grad_output, input, weight, stride=1, padding=0, output_padding=0, groups=1,
                              dilation=1, output_mask=(True, True, True)):
    """(grad_input, grad_weight, grad_bias) of conv_transpose2d; None where output_mask says False."""
    op = "conv_transpose2d_backward"
    d = _deconv_desc(op, input, weight, stride, padding, output_padding, groups, dilation)
    _tensor(op, "grad_output", grad_output, 4)
    output_mask = _mask(op, output_mask, 3)
    ctx, dt = input.context, grad_output.dtype
    outs = [Tensor.empty(s, dt, ctx) if want else None
            for s, want in zip((input.shape, weight.shape, (d.k,)), output_mask)]
    if any(output_mask):
        ctx.call("clnn_conv_transpose2d_bwd", ctypes.byref(d), input._handle, weight._handle, grad_output._handle,
                 *[_h(t) for t in outs], 0)
    return tuple(outs)


# ---------------------------------------------------------------- pooling

def _pool_desc(op, input_shape, mode, kernel_size, stride, padding, ceil_mode, divisor=None):
    if len(input_shape) != 4:
        raise invalid(f"{op}: input must be 4-D, got shape {tuple(input_shape)}", _lib.ERR_SHAPE_MISMATCH)
    d = _lib.Pool2dDesc()
    d.n, d.c, d.h, d.w = input_shape
    d.kh, d.kw = _pair(op, "kernel_size", kernel_size)
    d.stride_h, d.stride_w = _pair(op, "stride", kernel_size if stride is None or stride == [] else stride)
    d.pad_h, d.pad_w = _pair(op, "padding", padding)
    d.mode = mode
    d.ceil_mode = 1 if ceil_mode else 0
    # The C API reads divisor 0 as "no override"; torch refuses divisor_override=0.
    d.divisor = 0 if divisor is None else _int(op, "divisor_override", divisor)
    if divisor is not None and d.divisor <= 0:
        raise invalid(f"{op}: divisor_override must be a positive int, got {divisor!r}")
    oh, ow = _out_hw(lib.clnn_pool2d_desc_check, d)
    return d, (d.n, d.c, oh, ow)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """torch.nn.functional.max_pool2d (dilation 1 only); indices are int32 positions within each plane."""
    _tensor("max_pool2d", "input", input)
    if _pair("max_pool2d", "dilation", dilation) != (1, 1):
        raise invalid("max_pool2d: dilation other than 1 is not supported", _lib.ERR_UNSUPPORTED)
    d, shape = _pool_desc("max_pool2d", input.shape, _lib.POOL_MAX, kernel_size, stride, padding, ceil_mode)
    y = Tensor.empty(shape, input.dtype, input.context)
    idx = Tensor.empty(shape, "int32", input.context)
    input.context.call("clnn_pool2d_fwd", ctypes.byref(d), input._handle, y._handle, idx._handle)
    return (y, idx) if return_indices else y


def max_pool2d_backward(grad_output, indices, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False):
    _tensor("max_pool2d_backward", "grad_output", grad_output)
    _tensor("max_pool2d_backward", "indices", indices)
    input_shape = _shape("max_pool2d_backward", input_shape)
    d, _ = _pool_desc("max_pool2d_backward", input_shape, _lib.POOL_MAX, kernel_size, stride, padding,
                      ceil_mode)
    dx = Tensor.empty(tuple(input_shape), grad_output.dtype, grad_output.context)
    grad_output.context.call("clnn_pool2d_bwd", ctypes.byref(d), grad_output._handle, indices._handle, dx._handle)
    return dx


def _avg_mode(count_include_pad):
    return _lib.POOL_AVG if count_include_pad else _lib.POOL_AVG_EXCLUDE_PAD


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """torch.nn.functional.avg_pool2d."""
    _tensor("avg_pool2d", "input", input)
    d, shape = _pool_desc("avg_pool2d", input.shape, _avg_mode(count_include_pad), kernel_size, stride, padding,
                          ceil_mode, divisor_override)
    y = Tensor.empty(shape, input.dtype, input.context)
    input.context.call("clnn_pool2d_fwd", ctypes.byref(d), input._handle, y._handle, None)
    return y


def avg_pool2d_backward(grad_output, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    _tensor("avg_pool2d_backward", "grad_output", grad_output)
    input_shape = _shape("avg_pool2d_backward", input_shape)
    d, _ = _pool_desc("avg_pool2d_backward", input_shape, _avg_mode(count_include_pad), kernel_size,
                      stride, padding, ceil_mode, divisor_override)
    dx = Tensor.empty(tuple(input_shape), grad_output.dtype, grad_output.context)
    grad_output.context.call("clnn_pool2d_bwd", ctypes.byref(d), grad_output._handle, None, dx._handle)
    return dx


# ------------------------------------------------------------ interpolate

def _resize_desc(op, input_shape, size, scale_factor, mode, align_corners):
    if len(input_shape) != 4:
        raise invalid(f"{op}: input must be 4-D, got shape {tuple(input_shape)}", _lib.ERR_SHAPE_MISMATCH)
    modes = {"nearest": _lib.RESIZE_NEAREST, "bilinear": _lib.RESIZE_BILINEAR}
    if mode not in modes:
        raise invalid(f"{op}: mode must be 'nearest' or 'bilinear', got {mode!r}", _lib.ERR_UNSUPPORTED)
    if (size is None) == (scale_factor is None):
        raise invalid(f"{op}: give exactly one of size and scale_factor")
    if mode == "nearest" and align_corners is not None:
        raise invalid(f"{op}: align_corners only goes with mode='bilinear'")
    d = _lib.ResizeDesc()
    d.n, d.c, d.h, d.w = input_shape
    d.mode = modes[mode]
    d.align_corners = 1 if align_corners else 0
    if size is not None:
        d.out_h, d.out_w = _pair(op, "size", size)
    else:
        scales = _scales(op, scale_factor)
        # torch 1.13 without recompute_scale_factor: floor(in * scale), and the kernel uses the scale.
        d.scale_h, d.scale_w = scales
        d.out_h, d.out_w = int(np.floor(d.h * d.scale_h)), int(np.floor(d.w * d.scale_w))
    _check(lib.clnn_resize_desc_check(ctypes.byref(d)))
    return d


def _scales(op, scale_factor):
    """scale_factor as (h, w) floats, each finite and > 0 (NaN would not even floor to a size)."""
    pair = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor, scale_factor)
    if len(pair) != 2 or not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                                 for v in pair):
        raise invalid(f"{op}: scale_factor must be a number or a pair of numbers, got {scale_factor!r}")
    scales = tuple(float(v) for v in pair)
    if not all(np.isfinite(v) and v > 0 for v in scales):
        raise invalid(f"{op}: scale_factor must be finite and > 0, got {scale_factor!r}")
    return scales


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """torch.nn.functional.interpolate for 4-D input, mode 'nearest' or 'bilinear'."""
    _tensor("interpolate", "input", input)
    d = _resize_desc("interpolate", input.shape, size, scale_factor, mode, align_corners)
    y = Tensor.empty((d.n, d.c, d.out_h, d.out_w), input.dtype, input.context)
    input.context.call("clnn_resize_fwd", ctypes.byref(d), input._handle, y._handle)
    return y


def interpolate_backward(grad_output, input_shape, size=None, scale_factor=None, mode="nearest",
                         align_corners=None):
    _tensor("interpolate_backward", "grad_output", grad_output)
    input_shape = _shape("interpolate_backward", input_shape)
    d = _resize_desc("interpolate_backward", input_shape, size, scale_factor, mode, align_corners)
    dx = Tensor.empty(tuple(input_shape), grad_output.dtype, grad_output.context)
    grad_output.context.call("clnn_resize_bwd", ctypes.byref(d), grad_output._handle, dx._handle)
    return dx


# ----------------------------------------------------------------- linear

def _linear_rows(op, x, w):
    _tensor(op, "input", x)
    _tensor(op, "weight", w, 2)
    if x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise invalid(f"{op}: input's last dim must be weight.shape[1] = {w.shape[1]}, got shape {x.shape}",
                      _lib.ERR_SHAPE_MISMATCH)
    d = _lib.LinearDesc()
    d.in_features, d.out_features = w.shape[1], w.shape[0]
    d.n = x.numel // d.in_features if d.in_features else 0
    _check(lib.clnn_linear_desc_check(ctypes.byref(d)))
    return d


def linear(input, weight, bias=None):
    """torch.nn.functional.linear: input (*, in_features) -> (*, out_features)."""
    d = _linear_rows("linear", input, weight)
    _opt("linear", "bias", bias, 1)
    y = Tensor.empty((d.n, d.out_features), input.dtype, input.context)
    rows = input.reshape(d.n, d.in_features)
    input.context.call("clnn_linear_fwd", ctypes.byref(d), rows._handle, weight._handle, _h(bias), y._handle)
    return y.reshape(input.shape[:-1] + (d.out_features,))


def linear_backward(grad_output, input, weight, output_mask=(True, True, True)):
    """(grad_input, grad_weight, grad_bias) of linear; None where output_mask says False."""
    d = _linear_rows("linear_backward", input, weight)
    _tensor("linear_backward", "grad_output", grad_output)
    output_mask = _mask("linear_backward", output_mask, 3)
    ctx, dt = input.context, grad_output.dtype
    dy = grad_output.reshape(d.n, d.out_features) if grad_output.numel == d.n * d.out_features else grad_output
    dx = dw = db = None
    if output_mask[0]:
        dx = Tensor.empty((d.n, d.in_features), dt, ctx)
        ctx.call("clnn_linear_bwd_data", ctypes.byref(d), dy._handle, weight._handle, dx._handle)
        dx = dx.reshape(input.shape)
    if output_mask[1]:
        dw = Tensor.empty(weight.shape, dt, ctx)
    if output_mask[2]:
        db = Tensor.empty((d.out_features,), dt, ctx)
    if dw is not None or db is not None:
        rows = input.reshape(d.n, d.in_features)
        ctx.call("clnn_linear_bwd_weights", ctypes.byref(d), rows._handle, dy._handle, _h(dw), _h(db), 0)
    return dx, dw, db


# ------------------------------------------------------------ activations

def _act_desc(op, x, name, alpha):
    _tensor(op, "input", x)
    d = _lib.ActDesc()
    d.n, d.c, d.h, d.w = 1, x.numel, 1, 1  # element-wise: any shape as one row
    d.act = _lib.ACT[name]
    d.alpha = float(alpha)
    _check(lib.clnn_act_desc_check(ctypes.byref(d), None))
    return d


def _act(name, x, alpha=0.0):
    d = _act_desc(name, x, name, alpha)
    y = Tensor.empty(x.shape, x.dtype, x.context)
    # The views must outlive the call: their handles are what C reads.
    xv, yv = x.reshape(1, x.numel), y.reshape(1, x.numel)
    x.context.call("clnn_act_fwd", ctypes.byref(d), xv._handle, yv._handle)
    return y


def activation_backward(grad_output, input, name, alpha=0.0):
    """The gradient of activation `name` ("relu", "gelu_tanh", ...; alpha as the forward's) at input."""
    if name not in _lib.ACT:
        raise invalid(f"activation_backward: unknown activation {name!r}; one of {sorted(_lib.ACT)}")
    d = _act_desc("activation_backward", input, name, alpha)
    _tensor("activation_backward", "grad_output", grad_output)
    if grad_output.shape != input.shape:
        raise invalid(f"activation_backward: grad_output shape {grad_output.shape} != input shape {input.shape}",
                      _lib.ERR_SHAPE_MISMATCH)
    dx = Tensor.empty(input.shape, grad_output.dtype, input.context)
    flat = (1, input.numel)
    xv, dyv, dxv = input.reshape(flat), grad_output.reshape(flat), dx.reshape(flat)
    input.context.call("clnn_act_bwd", ctypes.byref(d), xv._handle, dyv._handle, dxv._handle)
    return dx


def relu(input):
    return _act("relu", input)


def relu6(input):
    return _act("relu6", input)


def leaky_relu(input, negative_slope=0.01):
    return _act("leaky_relu", input, negative_slope)


def elu(input, alpha=1.0):
    return _act("elu", input, alpha)


def sigmoid(input):
    return _act("sigmoid", input)


def tanh(input):
    return _act("tanh", input)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise invalid(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _act("gelu" if approximate == "none" else "gelu_tanh", input)


def silu(input):
    return _act("silu", input)


def hardswish(input):
    return _act("hardswish", input)


# ---------------------------------------------------------- pixel shuffle

def _shuffle(op, kind, shape, factor):
    """The descriptor (of the forward input's shape) and the forward output's shape."""
    if len(shape) != 4:
        raise invalid(f"{op}: input must be 4-D, got shape {tuple(shape)}", _lib.ERR_SHAPE_MISMATCH)
    d = _lib.PixelShuffleDesc(*shape, _int(op, "the factor", factor))
    y = (ctypes.c_int64 * 4)()
    _check(getattr(lib, f"clnn_{kind}_desc_check")(ctypes.byref(d), y))
    return d, tuple(y)


def _shuffle_fwd(kind, input, factor):
    _tensor(kind, "input", input)
    d, shape = _shuffle(kind, kind, input.shape, factor)
    y = Tensor.empty(shape, input.dtype, input.context)
    input.context.call(f"clnn_{kind}_fwd", ctypes.byref(d), input._handle, y._handle)
    return y


def _shuffle_bwd(kind, grad_output, input_shape, factor):
    _tensor(kind + "_backward", "grad_output", grad_output)
    input_shape = _shape(kind + "_backward", input_shape)
    d, _ = _shuffle(kind + "_backward", kind, input_shape, factor)
    dx = Tensor.empty(tuple(input_shape), grad_output.dtype, grad_output.context)
    grad_output.context.call(f"clnn_{kind}_bwd", ctypes.byref(d), grad_output._handle, dx._handle)
    return dx


def pixel_shuffle(input, upscale_factor):
    """torch.nn.functional.pixel_shuffle for 4-D input."""
    return _shuffle_fwd("pixel_shuffle", input, upscale_factor)


def pixel_shuffle_backward(grad_output, input_shape, upscale_factor):
    return _shuffle_bwd("pixel_shuffle", grad_output, input_shape, upscale_factor)


def pixel_unshuffle(input, downscale_factor):
    """torch.nn.functional.pixel_unshuffle for 4-D input."""
    return _shuffle_fwd("pixel_unshuffle", input, downscale_factor)


def pixel_unshuffle_backward(grad_output, input_shape, downscale_factor):
    return _shuffle_bwd("pixel_unshuffle", grad_output, input_shape, downscale_factor)


# ------------------------------------------------------------- batch norm

def _number(op, name, v, allow_none=False):
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise invalid(f"{op}: {name} must be a number, got {v!r}")
    return float(v)


def _bn_desc(op, input, momentum, eps, affine):
    """The descriptor of an (N, C, *) input, its spatial dims folded into h and w."""
    _tensor(op, "input", input)
    if input.ndim < 2:
        raise invalid(f"{op}: input must be (N, C, *), got shape {input.shape}", _lib.ERR_SHAPE_MISMATCH)
    n, c, *spatial = input.shape
    h = int(np.prod(spatial[:-1], dtype=np.int64)) if spatial else 1
    w = spatial[-1] if spatial else 1
    d = lib.clnn_batchnorm_desc_make(n, c, h, w)
    d.eps = _number(op, "eps", eps)
    d.momentum = _number(op, "momentum", momentum)
    d.affine = 1 if affine else 0
    _check(lib.clnn_batchnorm_desc_check(ctypes.byref(d)))
    return d


def _channel(op, name, t, c, ctx, fill=None):
    """A per-channel float32 (C) tensor: t as given, or one filled with `fill` when t is None."""
    if t is None:
        return None if fill is None else Tensor.empty((c,), "float32", ctx).fill(fill)
    return _tensor(op, name, t, 1)


def _nchw(t, d):
    """A 4-D view (n, c, h, w) of an (N, C, *) tensor, as the C API takes it."""
    return t.reshape(d.n, d.c, d.h, d.w)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5,
               return_saved=False):
    """torch.nn.functional.batch_norm on an (N, C, *) clnn.Tensor.

    The per-channel tensors (running_mean, running_var, weight, bias) are float32
    (C) tensors whatever input's type. In training, running_mean and running_var
    (both or neither) are updated in place with momentum (the running variance
    with the unbiased batch variance, as torch). return_saved: also return the
    batch mean and 1/sqrt(var + eps) that batch_norm_backward needs in training
    (None, None in inference).
    """
    op = "batch_norm"
    d = _bn_desc(op, input, momentum, eps, weight is not None or bias is not None)
    ctx = input.context
    gamma = _channel(op, "weight", weight, d.c, ctx, 1.0 if d.affine else None)
    beta = _channel(op, "bias", bias, d.c, ctx, 0.0 if d.affine else None)
    rm = _opt(op, "running_mean", running_mean, 1)
    rv = _opt(op, "running_var", running_var, 1)
    y = Tensor.empty(input.shape, input.dtype, ctx)
    x4, y4 = _nchw(input, d), _nchw(y, d)
    save_mean = save_invstd = None
    if training:
        if (rm is None) != (rv is None):
            raise invalid(f"{op}: give both running_mean and running_var, or neither")
        save_mean, save_invstd = Tensor.empty((d.c,), "float32", ctx), Tensor.empty((d.c,), "float32", ctx)
        ctx.call("clnn_batchnorm_fwd_training", ctypes.byref(d), x4._handle, _h(gamma), _h(beta), y4._handle,
                 save_mean._handle, save_invstd._handle, _h(rm), _h(rv), None)
    else:
        if rm is None or rv is None:
            raise invalid(f"{op}: inference (training=False) needs running_mean and running_var")
        ctx.call("clnn_batchnorm_fwd_inference", ctypes.byref(d), x4._handle, _h(gamma), _h(beta), rm._handle,
                 rv._handle, y4._handle)
    return (y, save_mean, save_invstd) if return_saved else y


def batch_norm_backward(grad_output, input, weight=None, running_mean=None, running_var=None, save_mean=None,
                        save_invstd=None, training=False, eps=1e-5, output_mask=(True, True, True)):
    """(grad_input, grad_weight, grad_bias) of batch_norm, in torch's
    native_batch_norm_backward order of arguments; None where output_mask says False.

    Training needs the forward's save_mean and save_invstd (batch_norm(...,
    return_saved=True)); inference the running statistics it used. weight None
    means a scale of 1 (the bias does not enter the gradients).
    """
    op = "batch_norm_backward"
    want = _mask(op, output_mask, 3)
    d = _bn_desc(op, input, 0.1, eps, weight is not None or want[1] or want[2])
    _tensor(op, "grad_output", grad_output)
    if grad_output.shape != input.shape:
        raise invalid(f"{op}: grad_output shape {grad_output.shape} != input shape {input.shape}",
                      _lib.ERR_SHAPE_MISMATCH)
    if not any(want):
        return None, None, None
    ctx, dt = input.context, grad_output.dtype
    gamma = _channel(op, "weight", weight, d.c, ctx, 1.0 if d.affine else None)
    beta = Tensor.zeros((d.c,), "float32", ctx) if d.affine else None  # only a fused activation reads it
    dx = Tensor.empty(input.shape, dt, ctx) if want[0] else None
    dw = Tensor.empty((d.c,), "float32", ctx) if want[1] else None
    db = Tensor.empty((d.c,), "float32", ctx) if want[2] else None
    x4, dy4, dx4 = _nchw(input, d), _nchw(grad_output, d), None if dx is None else _nchw(dx, d)
    if training:
        if save_mean is None or save_invstd is None:
            raise invalid(f"{op}: training needs the forward's save_mean and save_invstd")
        mean, stat, name = _tensor(op, "save_mean", save_mean, 1), _tensor(op, "save_invstd", save_invstd, 1), \
            "clnn_batchnorm_bwd"
    else:
        if running_mean is None or running_var is None:
            raise invalid(f"{op}: inference (training=False) needs running_mean and running_var")
        mean, stat, name = _tensor(op, "running_mean", running_mean, 1), \
            _tensor(op, "running_var", running_var, 1), "clnn_batchnorm_bwd_inference"
    ctx.call(name, ctypes.byref(d), x4._handle, dy4._handle, _h(gamma), _h(beta), mean._handle, stat._handle,
             _h(dx4), _h(dw), _h(db))
    return dx, dw, db


# ---------------------------------------------------------- cross entropy

def _xent_desc(op, input, target, weight, ignore_index, reduction, label_smoothing):
    _tensor(op, "input", input)
    if weight is not None:
        raise invalid(f"{op}: class weights are not supported", _lib.ERR_UNSUPPORTED)
    if reduction != "mean":
        raise invalid(f"{op}: only reduction='mean' is supported, got {reduction!r}", _lib.ERR_UNSUPPORTED)
    if input.ndim < 2:
        raise invalid(f"{op}: input must be (N, C) or (N, C, d1, ...), got shape {input.shape}",
                      _lib.ERR_SHAPE_MISMATCH)
    d = lib.clnn_loss_class_desc_make(input.shape[0], input.shape[1])
    d.inner = int(np.prod(input.shape[2:], dtype=np.int64))
    ignore = _int(op, "ignore_index", ignore_index)
    if not -2 ** 31 <= ignore < 2 ** 31:
        raise invalid(f"{op}: ignore_index must fit in int32, got {ignore}")
    d.ignore_index = ignore
    d.label_smoothing = _number(op, "label_smoothing", label_smoothing)
    _check(lib.clnn_loss_class_desc_check(ctypes.byref(d)))
    return d, _labels(op, target, d, input.context)


def _labels(op, target, d, context):
    """target as an int32 clnn.Tensor: a Tensor as given (a label out of range makes
    the loss NaN, as the C API cannot see it before the device runs), or an integer
    array, checked here: each label in [0, C) or ignore_index."""
    if isinstance(target, Tensor):
        return target
    labels = np.asarray(target)
    if labels.dtype.kind not in "iu":
        raise invalid(f"{op}: target must hold class indices (an integer array or int32 clnn.Tensor), "
                      f"got {labels.dtype}", _lib.ERR_UNSUPPORTED if labels.dtype.kind == "f" else
                      _lib.ERR_INVALID_VALUE)
    bad = (labels != d.ignore_index) & ((labels < 0) | (labels >= d.classes))
    if bad.any():
        raise invalid(f"{op}: target holds {labels[bad].flat[0]}, outside [0, {d.classes}) and not "
                      f"ignore_index {d.ignore_index}")
    return Tensor.from_numpy(labels.astype(np.int32), context)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """torch.nn.functional.cross_entropy with class-index targets and reduction='mean':
    input (N, C) or (N, C, d1, ...) logits, target (N) or (N, d1, ...) int32 labels
    (a clnn.Tensor or an integer array). Returns a one-element float32 tensor of shape (1,)."""
    d, labels = _xent_desc("cross_entropy", input, target, weight, ignore_index, reduction, label_smoothing)
    loss = Tensor.empty((1,), "float32", input.context)
    input.context.call("clnn_loss_xent", ctypes.byref(d), input._handle, labels._handle, loss._handle, None)
    return loss


def cross_entropy_backward(grad_output, input, target, weight=None, ignore_index=-100, reduction="mean",
                           label_smoothing=0.0):
    """The gradient of cross_entropy with respect to input, times grad_output (a number,
    or a one-element clnn.Tensor, read to the host)."""
    op = "cross_entropy_backward"
    if isinstance(grad_output, Tensor):
        if grad_output.numel != 1:
            raise invalid(f"{op}: grad_output must have one element, got shape {grad_output.shape}",
                          _lib.ERR_SHAPE_MISMATCH)
        grad_output = float(grad_output.to_numpy().astype(np.float64).reshape(()))
    d, labels = _xent_desc(op, input, target, weight, ignore_index, reduction, label_smoothing)
    d.grad_scale = _number(op, "grad_output", grad_output)
    _check(lib.clnn_loss_class_desc_check(ctypes.byref(d)))
    loss = Tensor.empty((1,), "float32", input.context)
    dx = Tensor.empty(input.shape, input.dtype, input.context)
    input.context.call("clnn_loss_xent", ctypes.byref(d), input._handle, labels._handle, loss._handle, dx._handle)
    return dx
