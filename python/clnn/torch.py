"""torch.autograd.Function wrappers with torchvision's and torch's signatures:
`from clnn.torch import deform_conv2d, roi_align` is a drop-in for CPU tensors.

Tensors go to the device through numpy (Tensor.numpy() shares the torch
tensor's memory; the only host copy is a cast, float64 -> float32, where the
dtype asks for one) and come back with torch.from_numpy (shares the array the
device was read into). Results have the inputs' dtype: float64 inputs are
computed in float32 and cast back, which is what gradcheck sees.

Every backward is @once_differentiable (as torchvision's ops): the gradients it
returns are not themselves differentiable, so a double backward through one
(a gradient penalty, create_graph=True) raises instead of silently treating
the gradient as a constant.
"""
import torch
from torch.autograd.function import once_differentiable

from . import _lib, ops
from . import optim  # clnn.torch.optim.AdamW, Adam, SGD
from ._core import Tensor, default_context, invalid

__all__ = ["deform_conv2d", "roi_align", "conv2d", "roi_pool", "ps_roi_align", "ps_roi_pool", "conv_transpose2d",
           "linear", "avg_pool2d", "max_pool2d", "interpolate", "batch_norm",
           "cross_entropy", "pixel_shuffle", "pixel_unshuffle", "relu", "relu6", "leaky_relu", "elu", "sigmoid",
           "tanh", "gelu", "silu", "hardswish", "optim"]


def _to_clnn(t, ctx):
    if t is None:
        return None
    if t.device.type != "cpu":  # numpy() would raise a TypeError naming neither op nor argument
        raise invalid(f"clnn.torch takes CPU tensors, got one on {t.device}; move it with .cpu() first",
                      _lib.ERR_UNSUPPORTED)
    if not t.is_floating_point():
        # from_numpy's own refusal named from_numpy and its dtype= argument, neither of which the caller used
        raise invalid(f"clnn.torch takes floating-point tensors (float32, float64, float16, bfloat16), got a "
                      f"{t.dtype} tensor of shape {tuple(t.shape)}")
    t = t.detach()
    if t.dtype == torch.float64:
        t = t.float()
    if t.dtype == torch.bfloat16:
        return Tensor.from_numpy(t.float().contiguous().numpy(), ctx, dtype="bfloat16")
    return Tensor.from_numpy(t.contiguous().numpy(), ctx)


def _to_torch(t, like):
    if t is None:
        return None
    out = torch.from_numpy(t.to_numpy())
    return out if out.dtype == like.dtype else out.to(like.dtype)


def _boxes(op, boxes):
    """torchvision's boxes (a (K, 5) tensor or a list of (L, 4) tensors) as float32 arrays
    (ops._rois checks their shapes)."""
    parts = boxes if isinstance(boxes, (list, tuple)) else [boxes]
    if not all(isinstance(b, torch.Tensor) for b in parts):
        raise invalid(f"{op}: boxes must be a (K, 5) tensor or a list of (L, 4) tensors, got "
                      f"{type(boxes).__name__}" + ("" if parts is not boxes else " holding a non-tensor"))
    arrays = [b.detach().to(torch.float32).contiguous().numpy() for b in parts]
    return arrays if isinstance(boxes, (list, tuple)) else arrays[0]


class _DeformConv2d(torch.autograd.Function):
    @staticmethod
    def forward(fctx, input, offset, weight, bias, stride, padding, dilation, mask):
        ctx = default_context()
        args = [_to_clnn(t, ctx) for t in (input, offset, weight, bias, mask)]
        x, off, w, b, m = args
        y = ops.deform_conv2d(x, off, w, b, stride, padding, dilation, m)
        fctx.save_for_backward(input, offset, weight, bias, mask)
        fctx.conf = (stride, padding, dilation)
        fctx.dev = (x, off, w, m)
        return _to_torch(y, input)

    @staticmethod
    @once_differentiable
    def backward(fctx, grad):
        input, offset, weight, bias, mask = fctx.saved_tensors
        x, off, w, m = fctx.dev
        need = fctx.needs_input_grad
        mask_want = (need[0], need[1], need[7], need[2], need[3] and bias is not None)
        g = ops.deform_conv2d_backward(_to_clnn(grad, x.context), x, off, w, *fctx.conf, mask=m,
                                       output_mask=mask_want)
        dx, doff, dm, dw, db = (_to_torch(t, input) for t in g)
        return dx, doff, dw, db, None, None, None, dm


def deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                  mask=None):
    """torchvision.ops.deform_conv2d, computed by libclnn."""
    op = "deform_conv2d"
    return _DeformConv2d.apply(input, offset, weight, bias, ops._pair(op, "stride", stride),
                               ops._pair(op, "padding", padding), ops._pair(op, "dilation", dilation), mask)


def roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """torchvision.ops.roi_align, computed by libclnn (the gradient flows to input only)."""
    return _RoiOp.apply(input, boxes, "roi_align", _size("roi_align", output_size), float(spatial_scale),
                        ops._int("roi_align", "sampling_ratio", sampling_ratio), bool(aligned))


def _unbatched(fn, input, *args):
    """fn on a 3-D (C, H, W) input as torch does it: as a batch of one, squeezed back."""
    if input.dim() != 3:
        return fn(input, *args)
    out = fn(input.unsqueeze(0), *args)
    return tuple(t.squeeze(0) for t in out) if isinstance(out, tuple) else out.squeeze(0)


def _same_padding(input, weight, stride, padding, dilation):
    """torch's padding='same' when dilation*(kernel-1) is odd: the extra row and column
    go at the bottom and right, padded here with F.pad (the C API pads symmetrically)."""
    if padding != "same" or input.dim() != 4 or weight.dim() != 4:
        return input, padding
    dil = ops._pair("conv2d", "dilation", dilation)
    total = [d * (k - 1) for d, k in zip(dil, weight.shape[2:])]
    if not any(t % 2 for t in total) or ops._pair("conv2d", "stride", stride) != (1, 1):
        return input, padding  # symmetric (or refused for its stride by ops.conv2d)
    (th, tw) = total
    return torch.nn.functional.pad(input, (tw // 2, tw - tw // 2, th // 2, th - th // 2)), 0


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """torch.nn.functional.conv2d, computed by libclnn ((C, H, W) input too)."""
    def batched(x):
        x, pad = _same_padding(x, weight, stride, padding, dilation)
        return _LearnedOp.apply("conv2d", x, weight, bias, stride, pad, dilation, groups)
    return _unbatched(batched, input)


class _RoiOp(torch.autograd.Function):
    """The RoI ops by name, with the arguments after spatial_scale that the op
    takes (sampling_ratio, aligned); the gradient flows to input only."""

    @staticmethod
    def forward(fctx, input, boxes, name, output_size, spatial_scale, *extra):
        ctx = default_context()
        rois = ops._rois(name, _boxes(name, boxes), ctx)
        x = _to_clnn(input, ctx)
        argmax = ()
        if name == "roi_pool":  # its backward needs the forward's argmax
            y, argmax = ops.roi_pool(x, rois, output_size, spatial_scale, return_argmax=True)
            argmax = (argmax,)
        else:
            y = getattr(ops, name)(x, rois, output_size, spatial_scale, *extra)
        fctx.conf = (name, tuple(input.shape), spatial_scale, extra)
        fctx.rois, fctx.argmax = rois, argmax
        fctx.like = input.new_empty(0)
        return _to_torch(y, input)

    @staticmethod
    @once_differentiable
    def backward(fctx, grad):
        name, shape, scale, extra = fctx.conf
        dx = getattr(ops, name + "_backward")(_to_clnn(grad, fctx.rois.context), fctx.rois, *fctx.argmax,
                                              shape, scale, *extra)
        return (_to_torch(dx, fctx.like),) + (None,) * (4 + len(extra))


def _size(op, output_size):
    """An int or a pair of ints (numpy ints too) as a pair; anything else is a clnn.Error, not a TypeError."""
    return ops._pair(op, "output_size", tuple(output_size) if isinstance(output_size, torch.Size) else output_size)


def roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """torchvision.ops.roi_pool, computed by libclnn."""
    return _RoiOp.apply(input, boxes, "roi_pool", _size("roi_pool", output_size), float(spatial_scale))


def ps_roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1):
    """torchvision.ops.ps_roi_align, computed by libclnn."""
    return _RoiOp.apply(input, boxes, "ps_roi_align", _size("ps_roi_align", output_size), float(spatial_scale),
                        ops._int("ps_roi_align", "sampling_ratio", sampling_ratio))


def ps_roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """torchvision.ops.ps_roi_pool, computed by libclnn (its backward is the exact
    gradient of the forward; see include/clnn.h for where torchvision's differs)."""
    return _RoiOp.apply(input, boxes, "ps_roi_pool", _size("ps_roi_pool", output_size), float(spatial_scale))


class _LearnedOp(torch.autograd.Function):
    """conv2d, conv_transpose2d and linear: (input, weight, bias) and fixed arguments."""

    @staticmethod
    def forward(fctx, name, input, weight, bias, *conf):
        ctx = default_context()
        x, w, b = (_to_clnn(t, ctx) for t in (input, weight, bias))
        y = getattr(ops, name)(x, w, b, *conf)
        fctx.name, fctx.conf, fctx.dev, fctx.has_bias = name, conf, (x, w), bias is not None
        fctx.like = input.new_empty(0)
        return _to_torch(y, input)

    @staticmethod
    @once_differentiable
    def backward(fctx, grad):
        x, w = fctx.dev
        need = fctx.needs_input_grad
        g = getattr(ops, fctx.name + "_backward")(_to_clnn(grad, x.context), x, w, *fctx.conf,
                                                  output_mask=(need[1], need[2], need[3] and fctx.has_bias))
        return (None,) + tuple(_to_torch(t, fctx.like) for t in g) + (None,) * len(fctx.conf)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """torch.nn.functional.conv_transpose2d, computed by libclnn."""
    return _unbatched(lambda x: _LearnedOp.apply("conv_transpose2d", x, weight, bias, stride, padding,
                                                 output_padding, groups, dilation), input)


def linear(input, weight, bias=None):
    """torch.nn.functional.linear, computed by libclnn (input (*, in_features), any number of dims)."""
    if input.dim() <= 2:
        return _LearnedOp.apply("linear", input, weight, bias)
    # rows are rows: the leading dims folded into one (libclnn tensors have at most 8 dims)
    y = _LearnedOp.apply("linear", input.reshape(-1, input.shape[-1]), weight, bias)
    return y.reshape(tuple(input.shape[:-1]) + tuple(y.shape[1:]))


class _ShapeOp(torch.autograd.Function):
    """avg_pool2d and interpolate: y = f(input); the backward needs only input's shape."""

    @staticmethod
    def forward(fctx, name, input, *conf):
        y = getattr(ops, name)(_to_clnn(input, default_context()), *conf)
        fctx.name, fctx.conf, fctx.shape = name, conf, tuple(input.shape)
        fctx.like = input.new_empty(0)
        return _to_torch(y, input)

    @staticmethod
    @once_differentiable
    def backward(fctx, grad):
        dx = getattr(ops, fctx.name + "_backward")(_to_clnn(grad, default_context()), fctx.shape, *fctx.conf)
        return (None, _to_torch(dx, fctx.like)) + (None,) * len(fctx.conf)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """torch.nn.functional.avg_pool2d, computed by libclnn."""
    return _unbatched(lambda x: _ShapeOp.apply("avg_pool2d", x, kernel_size, stride, padding, ceil_mode,
                                               count_include_pad, divisor_override), input)


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None,
                antialias=False):
    """torch.nn.functional.interpolate (4-D input, 'nearest' or 'bilinear'), computed by libclnn."""
    if antialias:
        raise invalid("interpolate: antialias=True is not supported", _lib.ERR_UNSUPPORTED)
    if recompute_scale_factor and scale_factor is not None and size is None and input.dim() == 4:
        # torch: the size floor(in * scale) is kept and the scale forgotten, as if size had been given
        sh, sw = ops._scales("interpolate", scale_factor)
        size, scale_factor = (int(input.shape[2] * sh), int(input.shape[3] * sw)), None
    return _ShapeOp.apply("interpolate", input, size, scale_factor, mode, align_corners)


class _MaxPool2d(torch.autograd.Function):
    @staticmethod
    def forward(fctx, input, kernel_size, stride, padding, ceil_mode):
        y, idx = ops.max_pool2d(_to_clnn(input, default_context()), kernel_size, stride, padding, 1, ceil_mode,
                                return_indices=True)
        fctx.conf, fctx.idx, fctx.shape = (kernel_size, stride, padding, ceil_mode), idx, tuple(input.shape)
        fctx.like = input.new_empty(0)
        # torch's indices: int64 positions within each input plane (row * W + column)
        indices = torch.from_numpy(idx.to_numpy()).to(torch.int64)
        fctx.mark_non_differentiable(indices)
        return _to_torch(y, input), indices

    @staticmethod
    @once_differentiable
    def backward(fctx, grad, _grad_indices):
        dx = ops.max_pool2d_backward(_to_clnn(grad, fctx.idx.context), fctx.idx, fctx.shape, *fctx.conf)
        return _to_torch(dx, fctx.like), None, None, None, None


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """torch.nn.functional.max_pool2d (dilation 1), computed by libclnn; with
    return_indices also torch's int64 indices (positions within each input plane)."""
    if dilation not in (1, (1, 1), [1, 1]):
        raise invalid("max_pool2d: dilation other than 1 is not supported", _lib.ERR_UNSUPPORTED)
    y, indices = _unbatched(lambda x: _MaxPool2d.apply(x, kernel_size, stride, padding, ceil_mode), input)
    return (y, indices) if return_indices else y


def _channel32(t, ctx):
    """A per-channel torch tensor as the float32 clnn.Tensor the C API takes for any input type."""
    return None if t is None else Tensor.from_numpy(t.detach().to(torch.float32).contiguous().numpy(), ctx)


class _BatchNorm(torch.autograd.Function):
    @staticmethod
    def forward(fctx, input, weight, bias, running, training, momentum, eps):
        ctx = default_context()
        x = _to_clnn(input, ctx)
        w, b = _channel32(weight, ctx), _channel32(bias, ctx)
        rm, rv = (_channel32(t, ctx) for t in running)
        y, save_mean, save_invstd = ops.batch_norm(x, rm, rv, w, b, training, momentum, eps, return_saved=True)
        if training and rm is not None:
            for t, d in zip(running, (rm, rv)):
                optim._write_back(t, d)
        fctx.dev = (x, w, rm, rv, save_mean, save_invstd)
        fctx.conf = (training, eps)
        fctx.like = (input.new_empty(0), None if weight is None else weight.new_empty(0),
                     None if bias is None else bias.new_empty(0))
        return _to_torch(y, input)

    @staticmethod
    @once_differentiable
    def backward(fctx, grad):
        x, w, rm, rv, save_mean, save_invstd = fctx.dev
        training, eps = fctx.conf
        need = fctx.needs_input_grad
        g = ops.batch_norm_backward(_to_clnn(grad, x.context), x, w, rm, rv, save_mean, save_invstd, training, eps,
                                    output_mask=need[:3])
        return tuple(_to_torch(t, like) for t, like in zip(g, fctx.like)) + (None,) * 4


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """torch.nn.functional.batch_norm, computed by libclnn. In training, running_mean
    and running_var (both or neither) are updated in place, as torch's."""
    if input.dim() > 3:  # the spatial dims folded into one: statistics are per channel whatever they are
        y = _BatchNorm.apply(input.reshape(input.shape[0], input.shape[1], -1) if input.numel() else
                             input.reshape(input.shape[0], input.shape[1], 0), weight, bias,
                             (running_mean, running_var), bool(training), momentum, eps)
        return y.reshape(input.shape)
    return _BatchNorm.apply(input, weight, bias, (running_mean, running_var), bool(training), momentum, eps)


class _CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(fctx, input, target, ignore_index, label_smoothing, count):
        ctx = default_context()
        x = _to_clnn(input, ctx)
        # the labels are checked on the host (in [0, C) or ignore_index) as they go to the device
        _, labels = ops._xent_desc("cross_entropy", x, target.detach().numpy(), None, ignore_index, "mean",
                                   label_smoothing)
        loss = ops.cross_entropy(x, labels, None, ignore_index, "mean", label_smoothing)
        fctx.dev, fctx.conf, fctx.count = (x, labels), (ignore_index, label_smoothing), count
        fctx.like = input.new_empty(0)
        out = _to_torch(loss, input).reshape(())
        return out if count is None else out * count

    @staticmethod
    @once_differentiable
    def backward(fctx, grad):
        x, labels = fctx.dev
        scale = float(grad) if fctx.count is None else float(grad) * fctx.count
        ignore_index, label_smoothing = fctx.conf
        dx = ops.cross_entropy_backward(scale, x, labels, None, ignore_index, "mean", label_smoothing)
        return _to_torch(dx, fctx.like), None, None, None, None


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """torch.nn.functional.cross_entropy with class-index targets, computed by libclnn:
    reduction 'mean' or 'sum', no class weights."""
    if weight is not None or size_average is not None or reduce is not None:
        raise invalid("cross_entropy: weight, size_average and reduce are not supported", _lib.ERR_UNSUPPORTED)
    if not isinstance(target, torch.Tensor) or target.is_floating_point() or target.is_complex():
        raise invalid("cross_entropy: target must be a tensor of class indices (class probabilities are not "
                      "supported)", _lib.ERR_UNSUPPORTED)
    if reduction not in ("mean", "sum"):
        raise invalid(f"cross_entropy: reduction must be 'mean' or 'sum', got {reduction!r}", _lib.ERR_UNSUPPORTED)
    if input.dim() == 1 and target.dim() == 0:  # torch's unbatched form: (C) logits, a 0-d label
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    count = None
    if reduction == "sum":
        # sum = mean * (positions not ignored); with none, the sum over nothing is 0
        count = int((target != ignore_index).sum())
        if count == 0:
            return input[:0].sum()  # 0, with a zero gradient
    if input.dim() > 3 and target.dim() == input.dim() - 1:  # positions folded into one dim (at most 8 on the device)
        input = input.reshape(input.shape[0], input.shape[1], -1)
        target = target.reshape(target.shape[0], -1)
    return _CrossEntropy.apply(input, target, ignore_index, label_smoothing, count)


def _leading_batch(name, input, factor):
    """pixel (un)shuffle of a (*, C, H, W) input, as torch takes it: the leading dims as one batch."""
    if input.dim() < 3:
        raise invalid(f"{name}: input must be (*, C, H, W), got shape {tuple(input.shape)}", _lib.ERR_SHAPE_MISMATCH)
    lead = tuple(input.shape[:-3])
    y = _ShapeOp.apply(name, input.reshape((-1,) + tuple(input.shape[-3:])), factor)
    return y.reshape(lead + tuple(y.shape[1:]))


def pixel_shuffle(input, upscale_factor):
    """torch.nn.functional.pixel_shuffle ((*, C, H, W) input), computed by libclnn."""
    return _leading_batch("pixel_shuffle", input, upscale_factor)


def pixel_unshuffle(input, downscale_factor):
    """torch.nn.functional.pixel_unshuffle ((*, C, H, W) input), computed by libclnn."""
    return _leading_batch("pixel_unshuffle", input, downscale_factor)


class _Activation(torch.autograd.Function):
    """y = act(input) element-wise; the backward is activation_backward at the saved input."""

    @staticmethod
    def forward(fctx, input, name, alpha):
        x = _to_clnn(input, default_context())
        y = ops._act(name, x, alpha)
        fctx.dev, fctx.conf = x, (name, alpha)
        fctx.like = input.new_empty(0)
        return _to_torch(y, input)

    @staticmethod
    @once_differentiable
    def backward(fctx, grad):
        dx = ops.activation_backward(_to_clnn(grad, fctx.dev.context), fctx.dev, *fctx.conf)
        return _to_torch(dx, fctx.like), None, None


def _activation(name, input, alpha=0.0, inplace=False):
    if inplace:
        raise invalid(f"{name}: inplace=True is not supported (the result is a new tensor)", _lib.ERR_UNSUPPORTED)
    # element-wise: computed flat, so that 0-d and more than 8-D tensors work as in torch
    return _Activation.apply(input.reshape(-1), name, float(alpha)).reshape(input.shape)


def relu(input, inplace=False):
    """torch.nn.functional.relu, computed by libclnn (as are the activations below)."""
    return _activation("relu", input, inplace=inplace)


def relu6(input, inplace=False):
    return _activation("relu6", input, inplace=inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _activation("leaky_relu", input, negative_slope, inplace)


def elu(input, alpha=1.0, inplace=False):
    return _activation("elu", input, alpha, inplace)


def sigmoid(input):
    return _activation("sigmoid", input)


def tanh(input):
    return _activation("tanh", input)


def gelu(input, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise invalid(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _activation("gelu" if approximate == "none" else "gelu_tanh", input)


def silu(input, inplace=False):
    return _activation("silu", input, inplace=inplace)


def hardswish(input, inplace=False):
    return _activation("hardswish", input, inplace=inplace)
