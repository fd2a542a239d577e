#!/usr/bin/python3
"""Time clnn-bench problems against PyTorch CPU in the same run, as ratios.

    /usr/bin/python3 bench/torch/compare.py --bench build/bench/clnn-bench \
        --batch bench/inputs/conv [--pass fwd] [--threads 2] [--rounds 3]

For every descriptor, PyTorch and clnn-bench (--mode=P) are timed in
alternation, `--rounds` times each, and the medians compared: absolute times
on a shared machine drift by 10-30% between runs, ratios taken side by side
much less. PyTorch timing follows ../shared/anchors (warm-up 2, median of at
least 7 runs, up to 0.6 s). Needs Debian's python3-torch (and
python3-torchvision for the RoI and deformable families).
"""
import argparse
import functools
import importlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

from descriptor import parse  # noqa: E402


def time_torch(fn, warmup=2, min_runs=7, max_runs=30, target=0.6):
    with torch.no_grad() if getattr(fn, "no_grad", True) else _null():
        for _ in range(warmup):
            fn()
        times = []
        while len(times) < max_runs and (len(times) < min_runs or sum(times) < target):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def time_clnn(bench, desc, pass_, extra):
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as f:
        path = f.name
    try:
        cmd = [bench, "--mode=P", "--no-peak", "--quiet", "--pass=" + pass_, "--json", path] + extra + [desc]
        subprocess.run(cmd, check=True)
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        return rows[-1]["median_ms"], rows[-1].get("algo", "")
    finally:
        os.unlink(path)


def twin(family):
    """The function that builds PyTorch problems of a family: make() of
    bench/torch/<family>.py, or, for a module that serves several families
    (a line `FAMILIES = ("a", "b")` in it), its make_family bound to the
    family. None when no twin exists."""
    try:
        return importlib.import_module(family).make
    except ImportError:
        pass
    for name in sorted(os.listdir(HERE)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(HERE, name)) as f:
            m = re.search(r"^FAMILIES\s*=\s*\(([^)]*)\)", f.read(), re.M)
        if m and re.search(r"[\"']%s[\"']" % re.escape(family), m.group(1)):
            return functools.partial(importlib.import_module(name[:-3]).make_family, family)
    return None


def read_batch(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(line)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build/bench/clnn-bench")
    ap.add_argument("--batch", action="append", default=[])
    ap.add_argument("--pass", dest="pass_", default="fwd")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="append one JSON object per problem")
    ap.add_argument("descriptors", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    descs = list(args.descriptors)
    for b in args.batch:
        descs += read_batch(b)
    print("torch %s, %d thread(s); clnn-bench %s" % (torch.__version__, torch.get_num_threads(), args.bench))
    print("%-10s %-6s %10s %10s %8s  %-18s %s" % ("family", "pass", "torch_ms", "clnn_ms", "speedup", "algo", "problem"))
    for desc in descs:
        family, keys, flags, bias = parse(desc)
        make = twin(family)
        if make is None:
            print("%-10s %-6s %10s %10s %8s  %-18s %s" % (family, args.pass_, "-", "-", "-", "no torch twin", desc))
            continue
        fn = make(keys, flags, bias, args.pass_)
        if fn is None:
            continue
        t_torch, t_clnn, algo = [], [], ""
        for _ in range(args.rounds):
            t_torch.append(time_torch(fn))
            ms, algo = time_clnn(args.bench, desc, args.pass_, [])
            t_clnn.append(ms)
        a, b = statistics.median(t_torch), statistics.median(t_clnn)
        print("%-10s %-6s %10.3f %10.3f %7.2fx  %-18s %s" % (family, args.pass_, a, b, a / b, algo, desc))
        sys.stdout.flush()
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps({"problem": desc, "pass": args.pass_, "torch_ms": a, "clnn_ms": b,
                                    "speedup": a / b, "algo": algo, "torch_runs": t_torch,
                                    "clnn_runs": t_clnn}) + "\n")


if __name__ == "__main__":
    main()
