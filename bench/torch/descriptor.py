"""Parse clnn-bench descriptors in Python (same syntax as bench/args.c).

    parse("conv mb8ic64ih56oc64kh3ph1 --no-bias") ->
        ("conv", {"mb": 8, "ic": 64, ...}, {"words"...}, bias=False)
"""
import re

_PAIR = re.compile(r"([A-Za-z_]+)([+-]?[0-9.]+)")


def parse(text):
    words = text.split()
    family, rest = words[0], words[1:]
    keys, flags, bias = {}, set(), True
    for tok in rest:
        if tok == "--no-bias":
            bias = False
        elif "=" in tok:
            k, v = tok.split("=", 1)
            keys[k] = _number(v)
        elif not any(ch.isdigit() for ch in tok):
            flags.add(tok)
        else:
            pos = 0
            for m in _PAIR.finditer(tok):
                if m.start() != pos:
                    raise ValueError("cannot read %r" % tok)
                keys[m.group(1)] = _number(m.group(2))
                pos = m.end()
            if pos != len(tok):
                raise ValueError("cannot read %r" % tok)
    return family, keys, flags, bias


def _number(v):
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


def hw(keys, h, w, default=None):
    """Value of an h/w key pair where an omitted w copies h."""
    hv = keys.get(h, default)
    return hv, keys.get(w, hv)
