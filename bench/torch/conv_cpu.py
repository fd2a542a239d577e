#!/usr/bin/python3
"""CPU time per call of clnn-bench problems and of their PyTorch twins.

A load-robust cross-check of compare.py. On a machine shared with other
jobs, wall-clock ratios swing with the load: PyTorch's OpenMP threads
spin-wait at barriers and lose far more to time slicing than PoCL's
workers, which flatters libclnn. This script measures the CPU time each side
spends per call instead (all threads, user + system):

  PyTorch  time.process_time() around the timed calls; run it with
           OMP_WAIT_POLICY=PASSIVE so that idle OpenMP threads sleep instead
           of spinning (spinning would count as work);
  clnn     the CPU time of clnn-bench child processes: (N + 1 runs minus
           1 run) / N, so start-up, input filling and kernel builds cancel.

On an idle machine where both sides keep all cores busy, CPU-time ratios and
wall-time ratios agree. Usage (same environment as compare.py):

    OMP_WAIT_POLICY=PASSIVE \\
    GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184 \\
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \\
      /usr/bin/python3 bench/torch/conv_cpu.py --batch bench/inputs/conv --pass bwd_d
"""
import argparse
import importlib
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

from compare import read_batch  # noqa: E402
from descriptor import parse  # noqa: E402


def torch_cpu_ms(fn, runs):
    ctx = torch.no_grad() if getattr(fn, "no_grad", True) else torch.enable_grad()
    with ctx:
        for _ in range(2):
            fn()
        c0 = time.process_time()
        for _ in range(runs):
            fn()
        return (time.process_time() - c0) / runs * 1e3


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def clnn_cpu_ms(bench, desc, pass_, runs):
    def child(n):
        t0 = children_cpu_s()
        subprocess.run([bench, "--mode=P", "--no-peak", "--quiet", "--warmup", "1", "--min-runs", str(n),
                        "--max-runs", str(n), "--time", "1e-6", "--pass=" + pass_, desc],
                       check=True, stdout=subprocess.DEVNULL)
        return children_cpu_s() - t0
    return (child(runs + 1) - child(1)) / runs * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default="build/bench/clnn-bench")
    ap.add_argument("--batch", action="append", default=[])
    ap.add_argument("--pass", dest="pass_", default="fwd")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="alternations of the two sides (medians reported)")
    ap.add_argument("--runs", type=int, default=20, help="calls per measurement")
    ap.add_argument("descriptors", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    descs = list(args.descriptors)
    for b in args.batch:
        descs += read_batch(b)
    print("torch %s, %d thread(s), OMP_WAIT_POLICY=%s; clnn-bench %s" % (
        torch.__version__, torch.get_num_threads(), os.environ.get("OMP_WAIT_POLICY", "(unset)"), args.bench))
    print("%-6s %14s %14s %9s  %s" % ("pass", "torch_cpu_ms", "clnn_cpu_ms", "speedup", "problem"))
    for desc in descs:
        family, keys, flags, bias = parse(desc)
        try:
            mod = importlib.import_module(family)
        except ImportError:
            continue
        fn = mod.make(keys, flags, bias, args.pass_)
        if fn is None:
            continue
        subprocess.run([args.bench, "--mode=P", "--no-peak", "--quiet", "--min-runs", "1", "--max-runs", "1",
                        "--pass=" + args.pass_, desc], check=True, stdout=subprocess.DEVNULL)  # build once
        t, c = [], []
        for _ in range(args.rounds):
            t.append(torch_cpu_ms(fn, args.runs))
            c.append(clnn_cpu_ms(args.bench, desc, args.pass_, args.runs))
        a, b = statistics.median(t), statistics.median(c)
        print("%-6s %14.3f %14.3f %8.2fx  %s" % (args.pass_, a, b, a / b, desc))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
