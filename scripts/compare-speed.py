#!/usr/bin/env python3
"""Time two builds of clnn-bench against each other, in alternation.

    python3 scripts/compare-speed.py OLD_BENCH NEW_BENCH [BATCH...] [--rounds 5]
        [--control OLD_BENCH_COPY] [--bench-args "--time 0.2 --min-runs 5"]
        [--json out.jsonl] [--markdown]

For every problem of the batch files (default: all of bench/inputs/) and
every pass its family offers, the builds time it with clnn-bench --mode=P
(median of its runs), round after round, rotating which goes first; one
clnn-bench process per build, round and batch file. Prints each problem's
median time per build over the rounds and new/old, and the problems more
than --slower (default 5%) slower in the new build. Exits 1 if any are.

--control runs a third build, normally a copy of OLD_BENCH, in the same
rounds: control/old is then the machine's own noise on each problem (an A/A
comparison), and the summary says how many problems the control alone
finds more than 5% slower, so that new/old can be read against it.

On a shared VM one process's median moves by some 10% between rounds, so
a median ratio above 1.05 alone is mostly noise (the control shows how
much). A problem is reported SLOWER, and makes the exit status 1, only
when its ratio is above 1 + --slower and every round of the new build was
slower than every round of the old one: with 5 rounds each, chance alone
separates the two that way once in 252 problems (a one-sided rank test,
p = 1/252). The summary gives that count for the control too.
The environment (CLNN_DEVICE_CLASS, POCL_AFFINITY...) applies to all.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile


def time_batch(bench, batch, extra):
    """{(problem, pass): median_ms} of one clnn-bench process over a batch file."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as f:
        path = f.name
    try:
        cmd = [bench, "--mode=P", "--no-peak", "--quiet", "--pass=all", "--json", path, "--batch", batch] + extra
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = {}
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                if r.get("ok") and "median_ms" in r:
                    out[(r["problem"], r["pass"])] = r["median_ms"]
        return out
    finally:
        os.unlink(path)


def separated(slow, fast):
    """Every time in slow is above every time in fast."""
    return min(slow) > max(fast)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("batches", nargs="*")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--control")
    ap.add_argument("--slower", type=float, default=0.05)
    ap.add_argument("--bench-args", default="--time 0.2 --min-runs 5")
    ap.add_argument("--json")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = ap.parse_args()
    if args.rounds < 5:
        ap.error("--rounds must be at least 5: the every-round test needs them (1 in 252 by chance)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.chdir(root)  # RoI problems name their files relative to the checkout
    batches = args.batches or sorted(os.path.join("bench/inputs", f) for f in os.listdir("bench/inputs")
                                     if os.path.isfile(os.path.join("bench/inputs", f)))
    extra = args.bench_args.split()
    builds = [("old", args.old), ("new", args.new)] + ([("control", args.control)] if args.control else [])
    names = [b[0] for b in builds]
    times = {}  # (problem, pass) -> {build: [ms per round]}
    for r in range(args.rounds):
        order = builds[r % len(builds):] + builds[:r % len(builds)]
        for batch in batches:
            for name, bench in order:
                for key, ms in time_batch(bench, batch, extra).items():
                    times.setdefault(key, {n: [] for n in names})[name].append(ms)
        print("round %d/%d done" % (r + 1, args.rounds), file=sys.stderr)
    worse, noisy, ratios = [], [], []  # ratio above the bar; of those, rounds separated (worse, noisy)
    above, ctl_above, missing = 0, 0, []
    ctl = args.control is not None
    if args.markdown:
        print("| problem | pass | old ms | new ms | new / old |%s\n|---|---|---|---|---|%s" %
              (" control / old |" if ctl else "", "---|" if ctl else ""))
    for (problem, pass_), t in times.items():
        if any(not t[n] for n in names):
            print("MISSING %s %s (%s)" % (problem, pass_, ", ".join("%s %d runs" % (n, len(t[n])) for n in names)))
            missing.append((problem, pass_))
            continue
        med = {n: statistics.median(t[n]) for n in names}
        ratio = med["new"] / med["old"]
        ratios.append(ratio)
        if ratio > 1 + args.slower:
            above += 1
            if separated(t["new"], t["old"]):
                worse.append((problem, pass_, ratio))
        cratio = med["control"] / med["old"] if ctl else None
        if ctl and cratio > 1 + args.slower:
            ctl_above += 1
            if separated(t["control"], t["old"]):
                noisy.append((problem, pass_, cratio))
        if args.markdown:
            print("| `%s` | %s | %.3f | %.3f | %.3f |%s" % (problem, pass_, med["old"], med["new"], ratio,
                                                         " %.3f |" % cratio if ctl else ""))
        else:
            print("%-60s %-6s %9.3f %9.3f %6.3f%s" % (problem, pass_, med["old"], med["new"], ratio,
                                                      " %6.3f" % cratio if ctl else ""))
        if args.json:
            with open(args.json, "a") as f:
                rec = {"problem": problem, "pass": pass_, "old_ms": med["old"], "new_ms": med["new"]}
                rec.update({"%s_runs" % n: t[n] for n in names})
                if ctl:
                    rec["control_ms"] = med["control"]
                f.write(json.dumps(rec) + "\n")
    print("%d problem-passes, median new/old %.3f, %d with a median more than %.0f%% slower, "
          "%d of them slower in every round" % (len(ratios), statistics.median(ratios) if ratios else float("nan"),
                                                above, 100 * args.slower, len(worse)))
    if ctl:
        print("control (old against a copy of itself): %d with a median more than %.0f%% slower, "
              "%d of them slower in every round" % (ctl_above, 100 * args.slower, len(noisy)))
    for p, ps, r in worse:
        print("SLOWER %.3f %s %s" % (r, ps, p))
    if missing:
        print("%d problem-passes missing from a build's runs" % len(missing))
    return 1 if worse or missing else 0


if __name__ == "__main__":
    sys.exit(main())
