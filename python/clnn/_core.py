"""Context, Tensor and Error: the objects every op works on."""
import ctypes
import os
import threading

import numpy as np

from . import _lib
from ._lib import lib

_DTYPE_BY_NAME = {"float32": _lib.FLOAT32, "int32": _lib.INT32, "float16": _lib.FLOAT16,
                  "bfloat16": _lib.BFLOAT16}
_NAME_BY_DTYPE = {v: k for k, v in _DTYPE_BY_NAME.items()}
# The numpy type each dtype is stored or exported as (numpy has no bfloat16:
# bfloat16 tensors are read and written as float32 arrays, rounded by the library).
_NUMPY_TYPE = {_lib.FLOAT32: np.float32, _lib.INT32: np.int32, _lib.FLOAT16: np.float16,
               _lib.BFLOAT16: np.float32}

float32, int32, float16, bfloat16 = "float32", "int32", "float16", "bfloat16"

_DL_CPU = 1  # DLPack's kDLCPU device type


class Error(Exception):
    """A failed libclnn call, or an argument refused before it reaches C.

    status: the clnn_status code; name: its enumerator ("CLNN_ERR_SHAPE_MISMATCH");
    message: the library's detail (clnn_context_errmsg) or the package's own.
    """

    def __init__(self, status, message):
        self.status = int(status)
        self.name = _lib.text(lib.clnn_status_name(self.status))
        # a NULL-argument refusal may leave no detail where it is read: say at least what the status means
        self.message = message or _lib.text(lib.clnn_status_str(self.status))
        super().__init__(f"{self.name}: {message}")

    def __reduce__(self):
        # Exception's default pickles self.args (the one formatted string), which
        # __init__ cannot take back: an Error raised in a DataLoader worker or a
        # multiprocessing pool then failed to cross back with a TypeError.
        return type(self), (self.status, self.message)


# The process that set up OpenCL (made the first context). In a fork of it
# (multiprocessing's default start method on Linux, DataLoader workers) the
# OpenCL runtime's threads are gone and every call, even a new context, hangs.
_opencl_pid = None


def _same_process(what):
    """Raise rather than hang when called in a fork of the process that set up OpenCL."""
    if _opencl_pid is not None and os.getpid() != _opencl_pid:
        raise Error(_lib.ERR_UNSUPPORTED,
                    f"{what}: OpenCL was set up in process {_opencl_pid} and this process ({os.getpid()}) is a "
                    "fork of it, where OpenCL calls hang; start workers with the 'spawn' or 'forkserver' "
                    "method (DataLoader(multiprocessing_context='spawn')), or make clnn objects only after forking")


def invalid(message, status=_lib.ERR_INVALID_VALUE):
    """An Error for a bad argument found on the Python side."""
    return Error(status, message)


class Context:
    """An OpenCL device with its queue (clnn_context).

    device: None lets CLNN_PLATFORM / CLNN_DEVICE decide (an index or part of a
    name, as clnn-info lists them), else the first GPU, else the first device;
    an int picks that device in clnn-info's order over all platforms.
    One context is used by one thread at a time: calls on it take its lock.
    """

    def __init__(self, device=None):
        self._handle = None
        opts = lib.clnn_context_options_default()
        if device is not None:
            if isinstance(device, bool) or not isinstance(device, int) or device < 0:
                raise invalid(f"Context: device must be None or an index >= 0, got {device!r}")
            opts.device_index = device
        global _opencl_pid
        _same_process("Context")
        handle = ctypes.c_void_p()
        status = lib.clnn_context_create(ctypes.byref(opts), ctypes.byref(handle))
        if status != _lib.SUCCESS:
            raise Error(status, _lib.text(lib.clnn_context_errmsg(None)))
        self._handle = handle.value
        self._pid = _opencl_pid = os.getpid()
        self.lock = threading.RLock()

    def __del__(self):
        # Tensors still alive keep what they need (clnn_context_free's contract).
        if getattr(self, "_handle", None) and lib is not None:
            if os.getpid() == self._pid:  # a fork's copy is only dropped (freeing would hang)
                lib.clnn_context_free(self._handle)
            self._handle = None

    @property
    def device_name(self):
        return _lib.text(lib.clnn_context_device_name(self._handle))

    def finish(self):
        """Wait for every op enqueued on this context."""
        self.call("clnn_context_finish")

    def call(self, name, *args):
        """Run lib.<name>(ctx, *args) under the context's lock; raise Error on failure."""
        _same_process(name)
        with self.lock:
            status = getattr(lib, name)(self._handle, *args)
            if status != _lib.SUCCESS:
                raise Error(status, _lib.text(lib.clnn_context_errmsg(self._handle)))

    def __repr__(self):
        return f"clnn.Context({self.device_name!r})"


_default = None
_default_lock = threading.Lock()


def default_context():
    """The context tensors are made on when none is given (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Context()
        return _default


def _context(context):
    """context, or the default one for None; anything else is refused before C sees it."""
    if context is None:
        return default_context()
    if not isinstance(context, Context):
        raise invalid(f"context must be a clnn.Context or None, got {type(context).__name__}")
    return context


def dtype_code(dtype):
    """The clnn_dtype of a dtype name or numpy dtype."""
    if isinstance(dtype, str) and dtype in _DTYPE_BY_NAME:
        return _DTYPE_BY_NAME[dtype]
    if isinstance(dtype, int) and not isinstance(dtype, bool) and dtype in _NAME_BY_DTYPE:
        return dtype
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name in _DTYPE_BY_NAME:
        return _DTYPE_BY_NAME[name]
    raise invalid(f"dtype must be one of float32, float16, bfloat16, int32; got {dtype!r}")


_MADE_HERE = object()  # the token Tensor() takes from the package's own constructors


class Tensor:
    """A dense row-major tensor in device memory (clnn_tensor).

    Make one with Tensor.empty / Tensor.from_numpy; read it with to_numpy.
    Ops enqueue on the context's queue; to_numpy waits for them.
    """

    def __init__(self, handle, context, shape, dtype, base=None, _made=None):
        # Use Tensor.empty / from_numpy; this wraps a handle the package made. A
        # handle from anywhere else would be dereferenced by C and crash the interpreter.
        if _made is not _MADE_HERE:
            self._handle = None
            raise invalid("clnn.Tensor is made with Tensor.empty, zeros, from_numpy or from_dlpack, "
                          "not from a handle")
        self._handle = handle
        self.context = context
        self.shape = tuple(int(d) for d in shape)
        self._dtype = dtype
        self._base = base  # a view keeps the tensor it views alive (and its buffer)

    @classmethod
    def empty(cls, shape, dtype=float32, context=None):
        """An uninitialised tensor of the given shape (1 to 8 dims, each >= 0)."""
        context = _context(context)
        code = dtype_code(dtype)
        if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
            shape = (shape,)  # as torch.empty(5)
        if not isinstance(shape, (tuple, list)):
            raise invalid(f"Tensor.empty: shape must be a tuple of ints, got {shape!r}")
        shape = tuple(shape)
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and -2 ** 62 < d < 2 ** 62
                   for d in shape):
            raise invalid(f"Tensor.empty: shape must hold ints, got {shape!r}")
        handle = ctypes.c_void_p()
        context.call("clnn_tensor_create", code, len(shape), _lib.dims(shape), ctypes.byref(handle))
        return cls(handle.value, context, shape, code, _made=_MADE_HERE)

    @classmethod
    def zeros(cls, shape, dtype=float32, context=None):
        t = cls.empty(shape, dtype, context)
        if t.numel:
            t.fill(0.0)
        return t

    @classmethod
    def from_numpy(cls, array, context=None, dtype=None):
        """A device copy of a numpy array (or anything np.asarray takes).

        dtype: None keeps float32, float16 or int32 arrays as they are and
        converts float64 to float32; "bfloat16" rounds to bfloat16 (nearest even).
        """
        array = np.asarray(array)
        if dtype is None:
            if array.dtype == np.float64:
                dtype = float32
            elif array.dtype.name in ("float32", "float16", "int32"):
                dtype = array.dtype.name
            else:
                raise invalid(f"from_numpy: cannot store a {array.dtype} array; "
                              "give float32, float16, float64 or int32 or pass dtype=")
        code = dtype_code(dtype)
        t = cls.empty(array.shape, code, context)
        t.copy_from_numpy(array)
        return t

    def copy_from_numpy(self, array):
        """Overwrite the tensor with a numpy array of its shape (converted as needed)."""
        array = np.asarray(array)
        if array.shape != self.shape:
            raise invalid(f"copy_from_numpy: array shape {array.shape} != tensor shape {self.shape}",
                          _lib.ERR_SHAPE_MISMATCH)
        # Converts (and copies) only when the array is not already the stored layout.
        host = np.ascontiguousarray(array, dtype=_NUMPY_TYPE[self._dtype])
        ptr = host.ctypes.data_as(ctypes.c_void_p)
        if self._dtype == _lib.BFLOAT16:
            self._call("clnn_tensor_write_f32", ptr, host.size)
        else:
            self._call("clnn_tensor_write", ptr, host.nbytes)

    def to_numpy(self):
        """A host copy (waits for the ops that write the tensor). bfloat16 comes back as float32."""
        return self.read_into(np.empty(self.shape, dtype=_NUMPY_TYPE[self._dtype]))

    def read_into(self, array):
        """Read the tensor into an existing C-contiguous, writeable numpy array of its
        shape and stored type (float32 for bfloat16): no host copy besides the read."""
        want = np.dtype(_NUMPY_TYPE[self._dtype])
        if (not isinstance(array, np.ndarray) or array.shape != self.shape or array.dtype != want
                or not array.flags.c_contiguous or not array.flags.writeable):
            raise invalid(f"read_into: needs a writeable C-contiguous {want} array of shape {self.shape}")
        ptr = array.ctypes.data_as(ctypes.c_void_p)
        if self._dtype == _lib.BFLOAT16:
            self._call("clnn_tensor_read_f32", ptr, array.size)
        else:
            self._call("clnn_tensor_read", ptr, array.nbytes)
        return array

    @classmethod
    def from_dlpack(cls, obj, context=None, dtype=None):
        """A device copy of any host (CPU) object with __dlpack__: a torch CPU tensor,
        a NumPy array, ... np.from_dlpack reads it without a host copy, then it is
        written to the device as from_numpy writes (same dtypes, same dtype= argument).
        Not zero-copy: device memory is not host memory. Raises Error for an object
        that is not on the CPU (CLNN_ERR_UNSUPPORTED) or one NumPy cannot take or
        from_numpy cannot store (CLNN_ERR_INVALID_VALUE: int64, bool, bfloat16, ...)."""
        if not hasattr(obj, "__dlpack__") or not hasattr(obj, "__dlpack_device__"):
            raise invalid(f"from_dlpack: {type(obj).__name__} has no __dlpack__ / __dlpack_device__")
        try:
            device_type, device_id = obj.__dlpack_device__()
        except Exception as e:  # a foreign object's failure, reported as ours
            raise invalid(f"from_dlpack: __dlpack_device__ failed: {e}") from e
        if device_type != _DL_CPU:
            raise invalid(f"from_dlpack: only host (CPU) memory is taken, got DLPack device type {device_type} "
                          f"(id {device_id}); copy it to the CPU first", _lib.ERR_UNSUPPORTED)
        try:
            array = np.from_dlpack(obj)
        except (BufferError, TypeError, ValueError, RuntimeError) as e:
            raise invalid(f"from_dlpack: NumPy cannot take this {type(obj).__name__}: {e}") from e
        return cls.from_numpy(array, context, dtype)

    def __dlpack__(self, stream=None, max_version=None, dl_device=None, copy=None):
        """DLPack export of a host copy (np.from_dlpack, torch.from_dlpack): the
        device memory is read into a fresh numpy array, which the capsule owns.
        bfloat16 is exported as float32 (NumPy has no bfloat16)."""
        if stream is not None:
            raise BufferError("clnn.Tensor exports host memory: stream must be None")
        if dl_device is not None and tuple(dl_device) != (_DL_CPU, 0):
            raise BufferError(f"clnn.Tensor exports host (CPU) memory only, not DLPack device {dl_device}")
        if copy is False:
            raise BufferError("clnn.Tensor lives in device memory: exporting it always copies to the host")
        return self.to_numpy().__dlpack__()

    def __dlpack_device__(self):
        return (_DL_CPU, 0)  # what is exported is the host copy

    def fill(self, value):
        """Enqueue: set every element to value."""
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise invalid(f"fill: value must be a number, got {value!r}")
        self._call("clnn_tensor_fill", float(value))
        return self

    def reshape(self, *shape):
        """A view of the same memory with another shape of as many elements."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = list(shape)
        if not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) for d in shape):
            # int() would have read reshape(1.9, 50) as (1, 50)
            raise invalid(f"reshape: shape must hold ints, got {tuple(shape)!r}")
        if shape.count(-1) == 1:
            known = int(np.prod([d for d in shape if d != -1]))
            if known == 0:
                raise invalid(f"reshape: cannot infer -1 in {tuple(shape)} with zero elements")
            shape[shape.index(-1)] = self.numel // known
        shape = tuple(int(d) for d in shape)
        if int(np.prod(shape)) != self.numel or any(d < 0 for d in shape):
            raise invalid(f"reshape: shape {shape} does not hold {self.numel} elements", _lib.ERR_SHAPE_MISMATCH)
        if shape == self.shape:
            return self
        _same_process("reshape")
        self._live("reshape")
        with self.context.lock:
            buf = lib.clnn_tensor_buffer(self._handle)
            off = lib.clnn_tensor_offset_bytes(self._handle)
            handle = ctypes.c_void_p()
            status = lib.clnn_tensor_view(buf, off, self._dtype, len(shape), _lib.dims(shape),
                                          ctypes.byref(handle))
        if status != _lib.SUCCESS:
            raise Error(status, _lib.text(lib.clnn_context_errmsg(None)))
        return Tensor(handle.value, self.context, shape, self._dtype, base=self, _made=_MADE_HERE)

    def _live(self, name):
        """Refuse a tensor whose handle was freed (an explicit __del__): C would answer
        CLNN_ERR_NULL_POINTER with its message in a place this call does not read."""
        if self._handle is None:
            raise Error(_lib.ERR_NULL_POINTER, f"{name}: this clnn.Tensor has been freed")

    def _call(self, name, *args):
        _same_process(name)
        self._live(name)
        with self.context.lock:
            status = getattr(lib, name)(self._handle, *args)
            if status != _lib.SUCCESS:
                raise Error(status, _lib.text(lib.clnn_context_errmsg(self.context._handle)))

    @property
    def dtype(self):
        return _NAME_BY_DTYPE[self._dtype]

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def numel(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def __del__(self):
        if getattr(self, "_handle", None) and lib is not None:
            if os.getpid() == self.context._pid:  # as Context.__del__: a fork's copy is only dropped
                with self.context.lock:
                    lib.clnn_tensor_free(self._handle)
            self._handle = None

    def __repr__(self):
        return f"clnn.Tensor(shape={self.shape}, dtype={self.dtype}, device={self.context.device_name!r})"
