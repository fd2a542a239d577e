#!/usr/bin/env python3
"""Whole networks: clnn-net against torchvision's same model on the CPU, in
the same run, alternating (clnn-net, then PyTorch, network by network, for
--rounds rounds), as compare.py does for single ops (torch.set_num_threads,
2 by default).

    python3 bench/torch/net.py build/examples/clnn-net [--models a,b] [--modes infer,train]
        [--batch 8] [--size 224] [--steps 3] [--rounds 1] [--markdown] [--json out.jsonl]

Each side: --warmup untimed steps (3: PyTorch's first steps in a fresh process
pay for oneDNN's kernel creation and for glibc's malloc growing its mmap
threshold), then --steps timed steps; the median ms per step.
Training steps are forward, cross-entropy, backward and SGD (momentum 0.9,
weight decay 1e-4) with dropout on, on one fixed batch. Each PyTorch run is a
fresh process (this script with --torch-one) with compare.py's settings:
OpenBLAS's OpenMP build and glibc keeping freed memory (TORCH_ENV below;
without them PyTorch's steps pay page faults for every large tensor); its peak memory is the growth of
that process's resident set (ru_maxrss) from before the model is built to the
end: PyTorch's CPU allocator keeps no statistics, so the two memory columns
measure different things (clnn-net's is the device memory it allocated).
--scale-batch N also times clnn-net alone at batch N, for the ratio of the
step time at N to the step time at --batch.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples"))
from parity_net import build  # noqa: E402  (the same models, resnet18_dcn included)


def torch_run(name, mode, batch, size, steps, threads):
    """One PyTorch run in a fresh process: (median ms, RSS growth in bytes)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-one", name, mode, str(batch), str(size), str(steps),
           str(threads), str(WARMUP)]
    env = dict(os.environ, **TORCH_ENV)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True, env=env)
    ms, grow = r.stdout.split()
    return float(ms), int(grow)


WARMUP = 3
# As bench/torch/compare.py is run (docs/BENCHMARKS.md): the anchors' settings.
TORCH_ENV = {"GLIBC_TUNABLES": "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184",
             "LD_LIBRARY_PATH": "/usr/lib/x86_64-linux-gnu/openblas-openmp"}


def torch_one(name, mode, batch, size, steps, threads, warmup):
    torch.set_num_threads(threads)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = build(name, seed=7)
    x = torch.randn(batch, 3, size, size)
    labels = torch.arange(batch) % 1000
    if mode == "infer":
        model.eval()
        step = lambda: model(x)  # noqa: E731
        ctx = torch.no_grad()
    else:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x), labels).backward()
            opt.step()
        ctx = torch.enable_grad()
    times = []
    with ctx:
        for i in range(warmup + steps):
            t0 = time.perf_counter()
            step()
            if i >= warmup:
                times.append((time.perf_counter() - t0) * 1e3)
    grow = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) * 1024
    return statistics.median(times), grow


def clnn_run(clnn_net, name, mode, batch, size, steps, tmp):
    out = os.path.join(tmp, "r.jsonl")
    if os.path.exists(out):
        os.remove(out)
    cmd = [clnn_net, "--model", name, "--mode", mode, "--batch", str(batch), "--size", str(size),
           "--steps", str(steps), "--warmup", str(WARMUP), "--json", out, "--quiet"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode:
        raise SystemExit(r.stdout)
    with open(out) as f:
        rec = json.loads(f.readline())
    # the profile goes to stderr with --quiet: keep the per-op lines for "where the time goes"
    rec["profile"] = [l for l in r.stdout.splitlines() if l.startswith("  ")]
    return rec


def main():
    global WARMUP
    if len(sys.argv) == 9 and sys.argv[1] == "--torch-one":
        name, mode = sys.argv[2], sys.argv[3]
        ms, grow = torch_one(name, mode, *map(int, sys.argv[4:]))
        print(ms, grow)
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clnn_net")
    ap.add_argument("--models", default="resnet18,mobilenet_v2,efficientnet_b0,resnet18_dcn")
    ap.add_argument("--modes", default="infer,train")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--scale-batch", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=3)

    a = ap.parse_args()
    WARMUP = a.warmup
    torch.set_num_threads(a.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="clnn-net-bench-") as tmp:
        for name in a.models.split(","):
            for mode in a.modes.split(","):
                c_ms, t_ms, rec, t_mem = [], [], None, 0
                for _ in range(a.rounds):
                    rec = clnn_run(a.clnn_net, name, mode, a.batch, a.size, a.steps, tmp)
                    c_ms.append(rec["ms_per_step"])
                    ms, t_mem = torch_run(name, mode, a.batch, a.size, a.steps, a.threads)
                    t_ms.append(ms)
                c, t = statistics.median(c_ms), statistics.median(t_ms)
                row = {"model": name, "mode": mode, "batch": a.batch, "size": a.size, "clnn_ms": c, "torch_ms": t,
                       "clnn_images_per_s": a.batch * 1e3 / c, "torch_images_per_s": a.batch * 1e3 / t,
                       "ratio": t / c, "launches_per_step": rec["launches_per_step"],
                       "clnn_peak_bytes": rec["peak_bytes"], "torch_rss_growth_bytes": t_mem,
                       "device": rec["device"], "torch": torch.__version__, "threads": a.threads,
                       "rounds": a.rounds, "steps": a.steps, "torch_env": TORCH_ENV, "profile": rec["profile"]}
                if a.scale_batch:
                    big = clnn_run(a.clnn_net, name, mode, a.scale_batch, a.size, a.steps, tmp)
                    row["scale_batch"] = a.scale_batch
                    row["scale_ratio"] = big["ms_per_step"] / c
                rows.append(row)
                print(f"{name:16s} {mode:5s} clnn {row['clnn_images_per_s']:7.2f} img/s  torch "
                      f"{row['torch_images_per_s']:7.2f} img/s  ratio {row['ratio']:.2f}x  "
                      f"launches {row['launches_per_step']}  peak {rec['peak_bytes'] / 1e6:.0f} MB "
                      f"(torch RSS +{t_mem / 1e6:.0f} MB)", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    if a.markdown:
        scale = f" batch {a.scale_batch} / batch {a.batch} |" if a.scale_batch else ""
        print("\n| network | mode | clnn-net images/s | PyTorch images/s | ratio | launches per step "
              "| clnn-net peak device MB | PyTorch RSS growth MB |" + scale)
        print("|---|---|---|---|---|---|---|---|" + ("---|" if scale else ""))
        for r in rows:
            print(f"| {r['model']} | {r['mode']} | {r['clnn_images_per_s']:.2f} | {r['torch_images_per_s']:.2f} "
                  f"| {r['ratio']:.2f}x | {r['launches_per_step']} | {r['clnn_peak_bytes'] / 1e6:.0f} "
                  f"| {r['torch_rss_growth_bytes'] / 1e6:.0f} |" + (f" {r['scale_ratio']:.2f}x |" if scale else ""))


if __name__ == "__main__":
    sys.exit(main())
