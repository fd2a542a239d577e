#!/usr/bin/env python3
"""Write the seed corpora of tests/fuzz/corpus/: small valid inputs of each
reader (and a few near misses), so the fuzzers start from the formats'
shapes. Run from anywhere; rewrites the seed_* files only."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def put(harness, name, data):
    d = os.path.join(HERE, "corpus", harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def fnv1a(data, h=0xCBF29CE484222325):
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def cache_file(key, binary):
    k = key.encode()
    return (b"CLNNBIN1" + struct.pack("<II", 1, len(k)) + k + struct.pack("<Q", len(binary)) + binary
            + struct.pack("<Q", fnv1a(binary, fnv1a(k))))


def npy(descr, shape, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def safetensors(header, payload):
    h = header.encode()
    return struct.pack("<Q", len(h)) + h + payload


def idx_pair(images, labels):
    split = len(images)
    return struct.pack(">H", split) + images + labels


put("cache", "valid", cache_file("libclnn fuzz key", b"\x7fELF binary bytes"))
put("cache", "other_key", cache_file("another key", b"abc"))
put("npy", "f4_2x3", npy("<f4", "(2, 3)", struct.pack("<6f", *range(6))))
put("npy", "i4_4", npy("<i4", "(4,)", struct.pack("<4i", 1, -2, 3, -4)))
put("npy", "empty", npy("<f4", "(0, 5)", b""))
put("safetensors", "two", safetensors(
    '{"__metadata__":{"epoch":"3"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
    '"b":{"dtype":"F32","shape":[1,1],"data_offsets":[8,12]}}', struct.pack("<3f", 1, 2, 3)))
put("safetensors", "empty", safetensors("{}", b""))
images = struct.pack(">IIII", 0x803, 2, 2, 2) + bytes(range(8))
labels = struct.pack(">II", 0x801, 2) + bytes([3, 7])
put("idx", "two_images", idx_pair(images, labels))
for i, line in enumerate([
        "conv mb2ic3ih9iw7oc5kh3ph1", "conv mb1ic4ih8oc4kh3sh2ph1g2 act=relu",
        "deconv mb2ic6ih7iw9oc8kh3sh2ph1oph1g2 act=relu", "deform_conv mb1ic4ih9oc4kh3ph1 dg2",
        "linear mb5ic70oc33", "act mb3ic5ih7iw9 silu", "bnorm mb4ic3ih5", "pool mb2ic4ih12iw9 max kh2kw3sh1sw2ph1pw1",
        "adamw n1000 lr=0.001", "sgd n77777 tensors=13 momentum=0.5", "ema n100 decay=0.9", "add n1155 alpha=0.5",
        "xent mb8nc10 smooth=0.1", "resize mb1ic2ih5iw5 oh7ow3 bilinear", "pixel_shuffle mb1ic8ih3 r2"]):
    put("descriptor", "%02d" % i, line)
