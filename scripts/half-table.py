#!/usr/bin/env python3
"""half-table.py - the same-run half-precision table of docs/BENCHMARKS.md.

Reads the --json output of one or more clnn-bench P-mode runs over a list
whose problems come in dt=f32 / dt=f16 / dt=bf16 triples (bench/half/*.txt),
takes for every (problem, pass, type) the median of the runs' medians, and
prints a markdown table: each type's time, its GB/s as a share of the triad
bandwidth clnn-bench measured at the start of that run (--share gbps) or its
GFLOP/s as a share of the measured FMA peak (--share gflops; the default,
auto, takes GFLOP/s where the family counts FLOPs, else GB/s), and each
half type's speed against float32 (> 1: faster).

    python3 scripts/half-table.py run1.jsonl run2.jsonl run3.jsonl [--share auto|gbps|gflops|none]
"""
import argparse
import json
import re
import statistics
import sys

TYPES = ("f32", "f16", "bf16")


def base_problem(problem):
    """The problem without its dt= key."""
    return re.sub(r"\s+dt=(f32|f16|bf16)\b", "", problem).strip()


def type_of(problem):
    m = re.search(r"\bdt=(f32|f16|bf16)\b", problem)
    return m.group(1) if m else "f32"


def share(rec, what):
    if what == "auto":
        what = "gflops" if rec.get("gflops") else "gbps"
    if what == "gbps" and rec.get("peak_gbps"):
        return 100.0 * rec["gbps"] / rec["peak_gbps"]
    if what == "gflops" and rec.get("peak_gflops") and rec.get("gflops"):
        return 100.0 * rec["gflops"] / rec["peak_gflops"]
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="clnn-bench --json files, one per run")
    ap.add_argument("--share", choices=("auto", "gbps", "gflops", "none"), default="auto")
    a = ap.parse_args()
    times, shares, order = {}, {}, []
    for path in a.runs:
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("mode") != "P" or not rec.get("ok"):
                    continue
                # the optimizer's half lines also carry state=: group them with float32 by their size
                key = (re.sub(r"\s+state=bf16\b", "", base_problem(rec["problem"])), rec["pass"])
                if key not in times:
                    times[key] = {t: [] for t in TYPES}
                    shares[key] = {t: [] for t in TYPES}
                    order.append(key)
                t = type_of(rec["problem"])
                times[key][t].append(rec["median_ms"])
                s = share(rec, a.share)
                if s is not None:
                    shares[key][t].append(s)
    if not order:
        sys.exit("half-table.py: no P-mode records")
    unit = {"auto": " (% peak)", "gbps": " (% triad)", "gflops": " (% FMA peak)", "none": ""}[a.share]
    print("| problem | pass | " + " | ".join(f"{t} ms{unit}" for t in TYPES) + " | f16 vs f32 | bf16 vs f32 |")
    print("|---|---|" + "---|" * (len(TYPES) + 2))
    for key in order:
        med = {t: statistics.median(v) if v else None for t, v in times[key].items()}
        cells = []
        for t in TYPES:
            if med[t] is None:
                cells.append("-")
                continue
            s = shares[key][t]
            cells.append(f"{med[t]:.2f}" + (f" ({statistics.median(s):.0f}%)" if s else ""))
        ratios = [f"{med['f32'] / med[t]:.2f}x" if med["f32"] and med[t] else "-" for t in ("f16", "bf16")]
        print(f"| `{key[0]}` | {key[1]} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
