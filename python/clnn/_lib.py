"""ctypes bindings of the parts of include/clnn.h the package uses.

Every function gets its argtypes and restype here, so that ctypes refuses a
wrong Python argument with an exception instead of passing garbage to C.
The structs mirror the header's field for field; ctypes lays them out with
the C compiler's alignment rules.
"""
import ctypes
import os

c_int64 = ctypes.c_int64
c_int = ctypes.c_int
c_float = ctypes.c_float
c_double = ctypes.c_double
c_size_t = ctypes.c_size_t
c_void_p = ctypes.c_void_p
c_char_p = ctypes.c_char_p

# Status codes, in include/clnn.h's CLNN_STATUS_LIST order.
SUCCESS = 0
ERR_NULL_POINTER = 1
ERR_INVALID_VALUE = 2
ERR_SHAPE_MISMATCH = 3
ERR_UNSUPPORTED = 12
ERR_CONTEXT_MISMATCH = 16

# clnn_dtype
FLOAT32, INT32, FLOAT16, BFLOAT16 = 0, 1, 2, 3

# clnn_activation
ACT = {"identity": 0, "relu": 1, "leaky_relu": 2, "elu": 3, "sigmoid": 4, "tanh": 5,
       "gelu": 6, "gelu_tanh": 7, "silu": 8, "hardswish": 9, "relu6": 10}

# clnn_roi_op
ROI_ALIGN, ROI_POOL, PS_ROI_ALIGN, PS_ROI_POOL = 0, 1, 2, 3

# clnn_pool_mode
POOL_MAX, POOL_AVG, POOL_AVG_EXCLUDE_PAD = 0, 1, 2

# clnn_resize_mode
RESIZE_NEAREST, RESIZE_BILINEAR = 0, 1


class ContextOptions(ctypes.Structure):
    _fields_ = [("platform_index", c_int), ("device_index", c_int), ("profiling", c_int),
                ("cache_dir", c_char_p), ("workspace_limit", c_size_t), ("gemm", c_int),
                ("allow_nondeterministic", c_int)]


class Conv2dDesc(ctypes.Structure):
    _fields_ = [(f, c_int64) for f in ("n", "c", "h", "w", "k", "kh", "kw", "stride_h", "stride_w",
                                       "pad_h", "pad_w", "dilation_h", "dilation_w", "groups")] + \
               [("act", c_int), ("act_alpha", c_float)]


class DeformConv2dDesc(ctypes.Structure):
    _fields_ = [("conv", Conv2dDesc), ("offset_groups", c_int64), ("modulated", c_int)]


class ConvTranspose2dDesc(ctypes.Structure):
    _fields_ = [(f, c_int64) for f in ("n", "c", "h", "w", "k", "kh", "kw", "stride_h", "stride_w",
                                       "pad_h", "pad_w", "output_pad_h", "output_pad_w",
                                       "dilation_h", "dilation_w", "groups")] + \
               [("act", c_int), ("act_alpha", c_float)]


class RoiDesc(ctypes.Structure):
    _fields_ = [("op", c_int), ("n", c_int64), ("c", c_int64), ("h", c_int64), ("w", c_int64),
                ("num_rois", c_int64), ("pooled_h", c_int64), ("pooled_w", c_int64),
                ("spatial_scale", c_float), ("sampling_ratio", c_int64), ("aligned", c_int)]


class Pool2dDesc(ctypes.Structure):
    _fields_ = [(f, c_int64) for f in ("n", "c", "h", "w", "kh", "kw", "stride_h", "stride_w",
                                       "pad_h", "pad_w")] + \
               [("mode", c_int), ("ceil_mode", c_int), ("divisor", c_int64)]


class ResizeDesc(ctypes.Structure):
    _fields_ = [(f, c_int64) for f in ("n", "c", "h", "w", "out_h", "out_w")] + \
               [("mode", c_int), ("align_corners", c_int), ("scale_h", c_double), ("scale_w", c_double)]


class LinearDesc(ctypes.Structure):
    _fields_ = [("n", c_int64), ("in_features", c_int64), ("out_features", c_int64),
                ("act", c_int), ("act_alpha", c_float)]


class PixelShuffleDesc(ctypes.Structure):
    _fields_ = [(f, c_int64) for f in ("n", "c", "h", "w", "r")]


class BatchnormDesc(ctypes.Structure):
    _fields_ = [(f, c_int64) for f in ("n", "c", "h", "w")] + \
               [("eps", c_float), ("momentum", c_float), ("cumulative", c_int), ("affine", c_int),
                ("act", c_int), ("act_alpha", c_float)]


class LossClassDesc(ctypes.Structure):
    _fields_ = [("n", c_int64), ("classes", c_int64), ("inner", c_int64), ("label_smoothing", c_float),
                ("ignore_index", ctypes.c_int32), ("grad_scale", c_float)]


class AdamDesc(ctypes.Structure):
    _fields_ = [("lr", c_double), ("beta1", c_double), ("beta2", c_double), ("eps", c_double),
                ("weight_decay", c_double), ("step", c_int64), ("amsgrad", c_int), ("maximize", c_int),
                ("grad_scale", c_double), ("skip_nonfinite", c_int)]


class SgdDesc(ctypes.Structure):
    _fields_ = [("lr", c_double), ("momentum", c_double), ("dampening", c_double), ("weight_decay", c_double),
                ("nesterov", c_int), ("maximize", c_int), ("step", c_int64), ("grad_scale", c_double),
                ("skip_nonfinite", c_int)]


class ActDesc(ctypes.Structure):
    _fields_ = [("n", c_int64), ("c", c_int64), ("h", c_int64), ("w", c_int64),
                ("act", c_int), ("alpha", c_float), ("gate", c_int)]


P = ctypes.POINTER
ctx_p = c_void_p  # clnn_context *
ten_p = c_void_p  # clnn_tensor *
i64p = P(c_int64)

# name: (restype, argtypes)
_PROTOTYPES = {
    "clnn_version": (c_char_p, []),
    "clnn_status_name": (c_char_p, [c_int]),
    "clnn_status_str": (c_char_p, [c_int]),
    "clnn_context_options_default": (ContextOptions, []),
    "clnn_context_create": (c_int, [P(ContextOptions), P(ctx_p)]),
    "clnn_context_free": (None, [ctx_p]),
    "clnn_context_errmsg": (c_char_p, [ctx_p]),
    "clnn_context_finish": (c_int, [ctx_p]),
    "clnn_context_device_name": (c_char_p, [ctx_p]),
    "clnn_context_is_cpu": (c_int, [ctx_p]),
    "clnn_tensor_create": (c_int, [ctx_p, c_int, c_int, i64p, P(ten_p)]),
    "clnn_tensor_view": (c_int, [c_void_p, c_size_t, c_int, c_int, i64p, P(ten_p)]),
    "clnn_tensor_free": (None, [ten_p]),
    "clnn_tensor_buffer": (c_void_p, [ten_p]),
    "clnn_tensor_offset_bytes": (c_size_t, [ten_p]),
    "clnn_tensor_bytes": (c_size_t, [ten_p]),
    "clnn_tensor_write": (c_int, [ten_p, c_void_p, c_size_t]),
    "clnn_tensor_read": (c_int, [ten_p, c_void_p, c_size_t]),
    "clnn_tensor_write_f32": (c_int, [ten_p, c_void_p, c_size_t]),
    "clnn_tensor_read_f32": (c_int, [ten_p, c_void_p, c_size_t]),
    "clnn_tensor_fill": (c_int, [ten_p, c_float]),
    "clnn_conv2d_desc_check": (c_int, [P(Conv2dDesc), i64p, i64p]),
    "clnn_conv2d_fwd": (c_int, [ctx_p, P(Conv2dDesc), ten_p, ten_p, ten_p, ten_p]),
    "clnn_conv2d_bwd_data": (c_int, [ctx_p, P(Conv2dDesc), ten_p, ten_p, ten_p]),
    "clnn_conv2d_bwd_weights": (c_int, [ctx_p, P(Conv2dDesc), ten_p, ten_p, ten_p, c_int]),
    "clnn_conv2d_bwd_bias": (c_int, [ctx_p, P(Conv2dDesc), ten_p, ten_p, c_int]),
    "clnn_deform_conv2d_desc_check": (c_int, [P(DeformConv2dDesc), i64p, i64p]),
    "clnn_deform_conv2d_fwd": (c_int, [ctx_p, P(DeformConv2dDesc)] + [ten_p] * 6),
    "clnn_deform_conv2d_bwd": (c_int, [ctx_p, P(DeformConv2dDesc)] + [ten_p] * 10),
    "clnn_conv_transpose2d_desc_check": (c_int, [P(ConvTranspose2dDesc), i64p, i64p]),
    "clnn_conv_transpose2d_fwd": (c_int, [ctx_p, P(ConvTranspose2dDesc)] + [ten_p] * 4),
    "clnn_conv_transpose2d_bwd": (c_int, [ctx_p, P(ConvTranspose2dDesc)] + [ten_p] * 6 + [c_int]),
    "clnn_roi_desc_check": (c_int, [P(RoiDesc), i64p]),
    "clnn_roi_fwd": (c_int, [ctx_p, P(RoiDesc), ten_p, ten_p, ten_p, ten_p]),
    "clnn_roi_bwd": (c_int, [ctx_p, P(RoiDesc), ten_p, ten_p, ten_p, ten_p]),
    "clnn_pool2d_desc_check": (c_int, [P(Pool2dDesc), i64p, i64p]),
    "clnn_pool2d_fwd": (c_int, [ctx_p, P(Pool2dDesc), ten_p, ten_p, ten_p]),
    "clnn_pool2d_bwd": (c_int, [ctx_p, P(Pool2dDesc), ten_p, ten_p, ten_p]),
    "clnn_resize_desc_check": (c_int, [P(ResizeDesc)]),
    "clnn_resize_fwd": (c_int, [ctx_p, P(ResizeDesc), ten_p, ten_p]),
    "clnn_resize_bwd": (c_int, [ctx_p, P(ResizeDesc), ten_p, ten_p]),
    "clnn_linear_desc_check": (c_int, [P(LinearDesc)]),
    "clnn_linear_fwd": (c_int, [ctx_p, P(LinearDesc), ten_p, ten_p, ten_p, ten_p]),
    "clnn_linear_bwd_data": (c_int, [ctx_p, P(LinearDesc), ten_p, ten_p, ten_p]),
    "clnn_linear_bwd_weights": (c_int, [ctx_p, P(LinearDesc), ten_p, ten_p, ten_p, ten_p, c_int]),
    "clnn_pixel_shuffle_desc_check": (c_int, [P(PixelShuffleDesc), i64p]),
    "clnn_pixel_unshuffle_desc_check": (c_int, [P(PixelShuffleDesc), i64p]),
    "clnn_pixel_shuffle_fwd": (c_int, [ctx_p, P(PixelShuffleDesc), ten_p, ten_p]),
    "clnn_pixel_shuffle_bwd": (c_int, [ctx_p, P(PixelShuffleDesc), ten_p, ten_p]),
    "clnn_pixel_unshuffle_fwd": (c_int, [ctx_p, P(PixelShuffleDesc), ten_p, ten_p]),
    "clnn_pixel_unshuffle_bwd": (c_int, [ctx_p, P(PixelShuffleDesc), ten_p, ten_p]),
    "clnn_batchnorm_desc_make": (BatchnormDesc, [c_int64] * 4),
    "clnn_batchnorm_desc_check": (c_int, [P(BatchnormDesc)]),
    "clnn_batchnorm_fwd_training": (c_int, [ctx_p, P(BatchnormDesc)] + [ten_p] * 8 + [i64p]),
    "clnn_batchnorm_fwd_inference": (c_int, [ctx_p, P(BatchnormDesc)] + [ten_p] * 6),
    "clnn_batchnorm_bwd": (c_int, [ctx_p, P(BatchnormDesc)] + [ten_p] * 9),
    "clnn_batchnorm_bwd_inference": (c_int, [ctx_p, P(BatchnormDesc)] + [ten_p] * 9),
    "clnn_loss_class_desc_make": (LossClassDesc, [c_int64, c_int64]),
    "clnn_loss_class_desc_check": (c_int, [P(LossClassDesc)]),
    "clnn_loss_xent": (c_int, [ctx_p, P(LossClassDesc)] + [ten_p] * 4),
    "clnn_adam_desc_make": (AdamDesc, [c_double, c_int64]),
    "clnn_sgd_desc_make": (SgdDesc, [c_double, c_int64]),
    "clnn_adam_desc_check": (c_int, [P(AdamDesc)]),
    "clnn_sgd_desc_check": (c_int, [P(SgdDesc)]),
    "clnn_adam_step": (c_int, [ctx_p, P(AdamDesc), c_size_t] + [P(c_void_p)] * 5 + [ten_p]),
    "clnn_adamw_step": (c_int, [ctx_p, P(AdamDesc), c_size_t] + [P(c_void_p)] * 5 + [ten_p]),
    "clnn_sgd_step": (c_int, [ctx_p, P(SgdDesc), c_size_t] + [P(c_void_p)] * 3 + [ten_p]),
    "clnn_act_desc_check": (c_int, [P(ActDesc), i64p]),
    "clnn_act_fwd": (c_int, [ctx_p, P(ActDesc), ten_p, ten_p]),
    "clnn_act_bwd": (c_int, [ctx_p, P(ActDesc), ten_p, ten_p, ten_p]),
}


def _candidates():
    """Where the shared library is looked for, in order (docs/PYTHON.md)."""
    env = os.environ.get("CLNN_LIBRARY")
    if env:
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    return [os.path.join(here, "libclnn.so"), "libclnn.so.0"], False


def _load():
    paths, from_env = _candidates()
    errors = []
    for path in paths:
        if path.startswith("/") and not os.path.exists(path) and not from_env:
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
            continue
        for name, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        return lib
    hint = "CLNN_LIBRARY" if from_env else "set CLNN_LIBRARY to the path of libclnn.so"
    raise ImportError("clnn: cannot load libclnn (" + "; ".join(errors or ["not found"]) + "); " + hint)


lib = _load()


def text(b):
    """A C string from the library as str ("" for NULL)."""
    return b.decode("utf-8", "replace") if b else ""


def dims(shape):
    """A C array of int64 dims."""
    return (c_int64 * len(shape))(*shape)
