"""clnn: libclnn's neural-network ops on OpenCL devices, from Python.

Context, Tensor and Error are the core (clnn._core); clnn.ops holds the
functional ops; clnn.torch the torch.autograd wrappers (imports torch).
"""
from ._core import Context, Error, Tensor, bfloat16, default_context, float16, float32, int32
from . import ops
from ._lib import lib as _lib_handle, text as _text

__version__ = _text(_lib_handle.clnn_version())
__all__ = ["Context", "Error", "Tensor", "default_context", "ops", "float32", "float16", "bfloat16", "int32"]
