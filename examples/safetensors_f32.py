"""Read and write safetensors files of float32 tensors: the only type
libclnn's tools read and write (examples/common/safetensors.c). The Python
scripts beside it use this instead of the `safetensors` package, which
Debian 12 does not ship, so they need nothing beyond python3-torch and
python3-numpy.

    write(path, {"name": tensor_or_array, ...})
    read(path)          -> {"name": numpy float32 array}
    read(path, "torch") -> {"name": torch.Tensor}
"""
import json
import struct

import numpy as np


def write(path, tensors):
    """tensors: name -> torch tensor or array, stored as float32, C order."""
    header, blobs, offset = {}, [], 0
    for name, value in tensors.items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        a = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read(path, kind="numpy"):
    """The file's tensors as float32 arrays (kind "numpy") or torch tensors
    (kind "torch"); ValueError names what is wrong with a malformed file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: shorter than a safetensors header")
    n = struct.unpack("<Q", data[:8])[0]
    if n > len(data) - 8:
        raise ValueError(f"{path}: header of {n} bytes runs past the end of the file")
    header = json.loads(data[8:8 + n])
    body = memoryview(data)[8 + n:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry.get("dtype") != "F32":
            raise ValueError(f"{path}: tensor '{name}' has dtype {entry.get('dtype')}; only F32 is read")
        begin, end = entry["data_offsets"]
        shape = [int(d) for d in entry["shape"]]
        if not 0 <= begin <= end <= len(body) or end - begin != 4 * int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{path}: tensor '{name}' has data_offsets {begin}, {end} that do not fit its "
                             f"shape {shape} or the file")
        out[name] = np.frombuffer(body[begin:end], dtype="<f4").reshape(shape).copy()
    if kind == "torch":
        import torch
        return {k: torch.from_numpy(v) for k, v in out.items()}
    return out
