#!/usr/bin/env python3
"""Time two builds of clnn-bench against each other, in alternation.

    python3 scripts/compare-speed.py OLD_BENCH NEW_BENCH [BATCH...] [--rounds 5]
        [--bench-args "--time 0.2 --min-runs 5"] [--json out.jsonl] [--markdown]

For every problem of the batch files (default: all of bench/inputs/) and
every pass its family offers, both builds time it with clnn-bench --mode=P
(median of its runs), round after round, alternating which goes first; one
clnn-bench process per build, round and batch file. Prints each problem's
median time per build over the rounds and new/old, and the problems more
than --slower (default 5%) slower in the new build. Exits 1 if any are.
The environment (CLNN_DEVICE_CLASS, POCL_AFFINITY...) applies to both.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def read_batch(path):
    with open(path) as f:
        return [l.split("#", 1)[0].strip() for l in f if l.split("#", 1)[0].strip()]


def passes_of(bench, family):
    out = subprocess.run([bench, "--passes", family], capture_output=True, text=True)
    return out.stdout.strip().split(",") if out.returncode == 0 else []


def time_batch(bench, batch, extra):
    """{(problem, pass): median_ms} of one clnn-bench process over a batch file."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as f:
        path = f.name
    try:
        cmd = [bench, "--mode=P", "--no-peak", "--quiet", "--pass=all", "--json", path, "--batch", batch] + extra
        subprocess.run(cmd, stdout=subprocess.DEVNULL)
        out = {}
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if r.get("ok") and "median_ms" in r:
                    out[(r["problem"], r["pass"])] = r["median_ms"]
        return out
    finally:
        os.unlink(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("batches", nargs="*")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--slower", type=float, default=0.05)
    ap.add_argument("--bench-args", default="--time 0.2 --min-runs 5")
    ap.add_argument("--json")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)  # RoI problems name their files relative to the checkout
    batches = args.batches or sorted(os.path.join("bench/inputs", f) for f in os.listdir("bench/inputs")
                                     if os.path.isfile(os.path.join("bench/inputs", f)))
    extra = args.bench_args.split()
    times = {}  # (problem, pass) -> {"old": [...], "new": [...]}
    for r in range(args.rounds):
        order = [("old", args.old), ("new", args.new)]
        if r % 2:
            order.reverse()
        for batch in batches:
            for name, bench in order:
                for key, ms in time_batch(bench, batch, extra).items():
                    times.setdefault(key, {"old": [], "new": []})[name].append(ms)
        print("round %d/%d done" % (r + 1, args.rounds), file=sys.stderr)
    worse = []
    if args.markdown:
        print("| problem | pass | old ms | new ms | new / old |\n|---|---|---|---|---|")
    for (problem, pass_), t in times.items():
        if not t["old"] or not t["new"]:
            print("MISSING %s %s (old %d, new %d runs)" % (problem, pass_, len(t["old"]), len(t["new"])))
            worse.append((problem, pass_, float("nan")))
            continue
        o, n = statistics.median(t["old"]), statistics.median(t["new"])
        ratio = n / o
        if ratio > 1 + args.slower:
            worse.append((problem, pass_, ratio))
        fmt = "| `%s` | %s | %.3f | %.3f | %.3f |" if args.markdown else "%-60s %-6s %9.3f %9.3f %6.3f"
        print(fmt % (problem, pass_, o, n, ratio))
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps({"problem": problem, "pass": pass_, "old_ms": o, "new_ms": n,
                                    "old_runs": t["old"], "new_runs": t["new"]}) + "\n")
    ratios = [n / o for t in times.values() if t["old"] and t["new"]
              for o, n in [(statistics.median(t["old"]), statistics.median(t["new"]))]]
    print("%d problem-passes, median new/old %.3f, %d more than %.0f%% slower" % (
        len(ratios), statistics.median(ratios) if ratios else float("nan"), len(worse), 100 * args.slower))
    for p, ps, r in worse:
        print("SLOWER %.3f %s %s" % (r, ps, p))
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
