#!/usr/bin/env python3
"""The report of scripts/bench_sweeps.sh: per sweep method, over the seeds, the best validation
metric the sweep reached, the model-passes it spent, its wall time, and when it first reached the
grid's best result of the same seed, and how much of the time its ranks waited for models (the
run record's idle_percent, the last line of results.jsonl, averaged over the ranks).

When a value was known comes from the run's trace.json (`ringtrain train --trace`), read by
scripts/plot.py's metric_timeline (best_over_time.png draws the same): a model's metric at pass
p is known when the last "evaluate" slice of (model, pass p) ends (the validation rows are
evaluated along the ring, shard by shard); a run whose history.csv has no per-pass validation
metric (grid and random: no pass-boundary decisions) knows its models' final metrics at the end
of the trace. Times are seconds on the trace's clock (0 = the run's first traced event, the data
load), so the process start-up, the same for every method, is left out of both sides of a ratio.

Usage: bench_sweeps_report.py DIR METHOD...   (DIR holds times.txt and METHOD-SEED run dirs;
the first method is the reference, the grid)
"""
import csv
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot import InputError, metric_timeline  # noqa: E402  (one reading of the trace: plot.py's)


def idle_percent(run):
    """The ranks' mean share of the training wall time spent waiting for models; NaN when the run
    record has no per-rank figures (printed as nan)."""
    with open(f"{run}/results.jsonl") as f:
        record = json.loads(f.read().strip().splitlines()[-1]).get("run") or {}
    values = [r.get("idle_percent") for r in record.get("per_rank") or []]
    if not values or any(v is None for v in values):
        return float("nan")
    return sum(values) / len(values)


def main():
    d, methods = sys.argv[1], sys.argv[2:]
    metric = "val_accuracy"
    times = {}
    for line in open(f"{d}/times.txt"):
        m, s, ms = line.split()
        times[(m, int(s))] = float(ms) / 1000.0
    seeds = sorted({s for _, s in times})
    rows = {}  # method -> seed -> dict
    for m in methods:
        for s in seeds:
            run = f"{d}/{m}-{s}"
            res = list(csv.DictReader(open(f"{run}/results.csv")))
            best = max(float(r[metric]) for r in res if r[metric] not in ("", "nan"))
            work = sum(int(r["passes"]) for r in res)
            points, span = metric_timeline(run, metric)
            rows.setdefault(m, {})[s] = dict(best=best, work=work, wall=times[(m, s)], span=span,
                                             points=points, models=len(res), idle=idle_percent(run))
    ref = methods[0]
    for m in methods:
        for s in seeds:
            r, goal = rows[m][s], rows[ref][s]["best"]
            # Strict: a value counts once the model whose value it is has trained its last pass
            # (the model file the run delivers); loose: any pass's value counts.
            r["reach"] = next((t for t, _, _, v, last in r["points"] if v >= goal and last), None)
            r["reach_any"] = next((t for t, _, _, v, _ in r["points"] if v >= goal), None)
            span = rows[ref][s]["span"]
            r["ratio"] = None if r["reach"] is None else r["reach"] / span
            r["ratio_any"] = None if r["reach_any"] is None else r["reach_any"] / span
    print(f"| method | models | median best {metric} | median model-passes | median wall s | "
          f"median traced s | median idle % | reached the {ref}'s best | time to reach it / the "
          f"{ref}'s traced time, per seed | per seed: best / model-passes / traced s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for m in methods:
        r = rows[m]
        med = lambda k: statistics.median(r[s][k] for s in seeds)
        hits = [s for s in seeds if r[s]["reach"] is not None]
        ratios = "; ".join("-" if r[s]["ratio"] is None else f"{r[s]['ratio']:.2f}" for s in seeds)
        per = "; ".join(f"{r[s]['best']:.4f}/{r[s]['work']}/{r[s]['span']:.0f}" for s in seeds)
        print(f"| {m} | {statistics.median(r[s]['models'] for s in seeds):.0f} | {med('best'):.4f} "
              f"| {med('work'):.0f} | {med('wall'):.1f} | {med('span'):.1f} | {med('idle'):.1f} "
              f"| {len(hits)} of "
              f"{len(seeds)} | {ratios} | {per} |")
    print()
    for m in methods[1:]:
        r = rows[m]
        words = []
        for key, what in (("ratio", "a model it delivers"), ("ratio_any", "any pass's value")):
            ratios = [r[s][key] for s in seeds]
            within = sum(1 for x in ratios if x is not None and x <= 1 / 3)
            # A seed that never reached counts as infinitely late: the median is over all seeds.
            med = statistics.median(x if x is not None else float("inf") for x in ratios)
            words.append(f"by {what}: within a third of the {ref}'s time in {within} of "
                         f"{len(seeds)} seeds, median time to reach / the {ref}'s "
                         f"{'never' if med == float('inf') else f'{med:.2f}'} (per seed: "
                         + ", ".join("-" if x is None else f"{x:.2f}" for x in ratios) + ")")
        print(f"- {m} reached the {ref}'s best " + "; ".join(words))


if __name__ == "__main__":
    try:
        main()
    except InputError as e:
        sys.exit(f"bench_sweeps_report.py: {e}")
