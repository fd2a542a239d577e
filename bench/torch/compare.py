#!/usr/bin/python3
"""Time clnn-bench problems against PyTorch in the same run, as ratios.

    /usr/bin/python3 bench/torch/compare.py --bench build/bench/clnn-bench \
        --batch bench/inputs/conv [--pass fwd] [--threads 2] [--rounds 3]
    python3 bench/torch/compare.py --device cuda --per-round \
        --batch bench/inputs/conv --pass fwd,bwd_d,bwd_w --json out.jsonl

For every descriptor, PyTorch and clnn-bench (--mode=P) are timed in
alternation, `--rounds` times each, and the medians compared: absolute times
on a shared machine drift by 10-30% between runs, ratios taken side by side
much less. PyTorch timing on the CPU: warm-up 2, median of at least 7 runs,
up to 0.6 s. Needs Debian's python3-torch (and python3-torchvision for the
RoI and deformable families).

--device cuda runs PyTorch's side on the GPU: every tensor the twins make is
created there (torch.set_default_device), TF32 is off for matmul and cuDNN so
that both sides compute in float32, and each run is timed with CUDA events
after a warm-up (median of at least 10 runs, up to 0.3 s). clnn-bench then
runs on the default OpenCL device, which is the same GPU when its OpenCL
driver is the only one installed (scripts/gpu-check.sh sets that up).

--per-round alternates at the granularity of a round: PyTorch times every
problem, then one clnn-bench process times every problem, and again for
the next round. That keeps the two sides' samples minutes apart at most
while paying for one OpenCL context and program load per round instead of
one per problem, which on a GPU driver costs seconds.
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


DEVICE = "cpu"


def time_torch(fn, warmup=2, min_runs=7, max_runs=30, target=0.6):
    if DEVICE == "cuda":
        return time_torch_cuda(fn)
    with torch.no_grad() if getattr(fn, "no_grad", True) else _null():
        for _ in range(warmup):
            fn()
        times = []
        while len(times) < max_runs and (len(times) < min_runs or sum(times) < target):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def time_torch_cuda(fn, warmup=3, min_runs=10, max_runs=50, target=0.3):
    """Median ms of fn on the GPU, each run between two CUDA events."""
    with torch.no_grad() if getattr(fn, "no_grad", True) else _null():
        for _ in range(warmup):
            fn()
        torch.cuda.synchronize()
        times = []
        while len(times) < max_runs and (len(times) < min_runs or sum(times) < target * 1e3):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    return statistics.median(times)


def set_device(device):
    """Make the twins build their tensors on device, with float32 math."""
    global DEVICE
    DEVICE = device
    if device == "cuda":
        if not torch.cuda.is_available():
            sys.exit("compare.py: --device cuda, but torch.cuda.is_available() is False")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        torch.set_default_device("cuda")


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


def time_clnn_batch(bench, descs, pass_, extra=()):
    """One clnn-bench process over every descriptor: {desc: (median_ms, algo)}.
    A problem clnn-bench could not run is missing from the result."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as f:
        path = f.name
    try:
        cmd = [bench, "--mode=P", "--no-peak", "--quiet", "--pass=" + pass_, "--json", path] + list(extra) + list(descs)
        subprocess.run(cmd)
        out = {}
        with open(path) as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    if row.get("ok", True) and "median_ms" in row:
                        out[row["problem"]] = (row["median_ms"], row.get("algo", ""))
        return out
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
    """The batch file's descriptors; a relative rois=FILE is taken relative to
    the batch file's folder where it is there, as clnn-bench --batch does."""
    def beside(name):
        p = os.path.join(os.path.dirname(path), name)
        return p if os.path.exists(p) else name

    out = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                out.append(re.sub(r" rois=(?!/)(\S+)", lambda m: " rois=" + beside(m.group(1)), line))
    return out


def report(args, desc, pass_, t_torch, t_clnn, algo):
    a = statistics.median(t_torch)
    b = statistics.median(t_clnn) if t_clnn else float("nan")
    ratio = a / b if t_clnn else float("nan")
    print("%-10s %-6s %10.3f %10.3f %7.2fx  %-18s %s" % (desc.split()[0], pass_, a, b, ratio, algo, desc))
    sys.stdout.flush()
    if args.json:
        with open(args.json, "a") as f:
            f.write(json.dumps({"problem": desc, "pass": pass_, "device": DEVICE, "torch_ms": a,
                                "clnn_ms": b if t_clnn else None, "speedup": ratio if t_clnn else None,
                                "algo": algo, "torch_runs": t_torch, "clnn_runs": t_clnn}) + "\n")


def torch_fns(descs, pass_):
    """[(desc, fn)] for the descriptors with a PyTorch twin for pass_."""
    out = []
    for desc in descs:
        family, keys, flags, bias = parse(desc)
        make = twin(family)
        if make is None:
            print("%-10s %-6s %10s %10s %8s  %-18s %s" % (family, pass_, "-", "-", "-", "no torch twin", desc))
            continue
        fn = make(keys, flags, bias, pass_)
        if fn is not None:
            out.append((desc, fn))
    return out


def compare_each(args, descs, pass_):
    """Alternate per problem: one clnn-bench process per problem and round."""
    for desc, fn in torch_fns(descs, pass_):
        t_torch, t_clnn, algo = [], [], ""
        for _ in range(args.rounds):
            t_torch.append(time_torch(fn))
            ms, algo = time_clnn(args.bench, desc, pass_, args.bench_args.split())
            t_clnn.append(ms)
        report(args, desc, pass_, t_torch, t_clnn, algo)


def compare_per_round(args, descs, pass_):
    """Alternate per round: PyTorch over every problem, then one clnn-bench
    process over every problem."""
    fns = torch_fns(descs, pass_)
    t_torch = {d: [] for d, _ in fns}
    t_clnn = {d: [] for d, _ in fns}
    algo = {}
    for _ in range(args.rounds):
        for d, fn in fns:
            t_torch[d].append(time_torch(fn))
        for d, (ms, a) in time_clnn_batch(args.bench, [d for d, _ in fns], pass_, args.bench_args.split()).items():
            if d in t_clnn:
                t_clnn[d].append(ms)
                algo[d] = a
    for d, _ in fns:
        report(args, d, pass_, t_torch[d], t_clnn[d], algo.get(d, "failed"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build/bench/clnn-bench")
    ap.add_argument("--batch", action="append", default=[])
    ap.add_argument("--pass", dest="pass_", default="fwd", help="a pass, or several separated by commas")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--per-round", action="store_true",
                    help="one clnn-bench process per round over every problem (see above)")
    ap.add_argument("--bench-args", default="", help="more clnn-bench options, e.g. '--time 0.3'")
    ap.add_argument("--json", help="append one JSON object per problem")
    ap.add_argument("descriptors", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    set_device(args.device)
    descs = list(args.descriptors)
    for b in args.batch:
        descs += read_batch(b)
    where = torch.cuda.get_device_name() if args.device == "cuda" else "%d thread(s)" % torch.get_num_threads()
    print("torch %s, %s; clnn-bench %s" % (torch.__version__, where, args.bench))
    print("%-10s %-6s %10s %10s %8s  %-18s %s" % ("family", "pass", "torch_ms", "clnn_ms", "speedup", "algo", "problem"))
    for pass_ in args.pass_.split(","):
        (compare_per_round if args.per_round else compare_each)(args, descs, pass_)


if __name__ == "__main__":
    main()
