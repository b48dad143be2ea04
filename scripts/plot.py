#!/usr/bin/python3
"""Plots of a finished ringtrain run directory (PNG files, matplotlib's Agg backend).

usage: scripts/plot.py RUN_DIR [--out DIR] [--timeline]

  metric_vs_pass.png      training loss after every pass, one line per model (history.csv)
  metric_vs_<param>.png   for each hyper-parameter that varies across the run, the final
                          validation metric against it: the first val_ column of results.csv over
                          which the parameter varies among the models that report it (val_logloss
                          for a learning rate, val_inertia for a k-means k); a scatter for numbers
                          (log x over more than two decades), a strip plot for words; coloured by
                          model kind. Only models the parameter applies to are drawn (momentum for
                          sgd, beta1 for adam, k for kmeans, ...)
  rungs.png               asha, hyperband, tpe and pbt sweeps: the ranking metric per pass
                          (history.csv), a line per model, a cross where a model stopped at a
                          rung; pbt: a triangle and a dashed line where a model took another's
                          state (lineage.csv)
  timeline.png            with --timeline: ranks x time, one bar per trace event, coloured by
                          model id (needs RUN_DIR/trace.json, Chrome trace events)
  best_over_time.png      with --timeline: the best value of the ranking metric (sweep.metric)
                          the run held at each moment, against seconds of the trace: of the
                          models it delivers (a value counts once its model trained its last
                          pass) and of any pass; a dot where a model finished. A value is known
                          when the last "evaluate" slice of its (model, pass) ends; a run that
                          evaluates only at the end knows its values at the trace's end

Only the Python standard library and matplotlib (Debian: apt-get install python3-matplotlib).
Exit codes: 0 success; 2 usage error, missing or malformed input, matplotlib not installed;
1 any other failure.
"""

import argparse
import csv
import json
import math
import os
import re
import sys

PROG = "plot.py"

# The hyper-parameter columns of results.csv and the models they matter for: results.csv holds
# every column for every model (a kmeans row has an optimizer, a logistic row a k). Columns not
# named in relevant() count for every model.
KNOWN_KINDS = ("logistic", "mlp", "linear", "kmeans")
GRADIENT = {"optimizer", "learning_rate", "schedule", "batch_size"}


def relevant(param, row):
    """Whether the hyper-parameter column `param` means something for the model in `row`."""
    kind = row.get("kind", "")
    solver = row.get("solver", "")
    optimizer = row.get("optimizer", "")
    gradient = kind in ("logistic", "mlp") or (kind == "linear" and solver == "sgd")
    if param in GRADIENT:
        return gradient or (kind == "kmeans" and param == "batch_size") or kind not in KNOWN_KINDS
    if param == "momentum":
        return gradient and optimizer == "sgd"
    if param in ("beta1", "beta2", "epsilon"):
        return gradient and optimizer == "adam"
    if param == "decay":
        return gradient and row.get("schedule", "") == "inverse_time"
    if param == "l2":
        return kind in ("logistic", "mlp")
    if param == "k":
        return kind == "kmeans"
    if param in ("solver", "alpha"):
        return kind == "linear"
    if param in ("hidden", "activation", "output", "init"):
        return kind == "mlp"
    return True


class InputError(Exception):
    """Missing or malformed input: exit code 2."""


def fail(message, code=2):
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(code)


def read_csv(path, required):
    """Rows of a comma-separated file with a header line, as dicts; checks every row's width."""
    try:
        with open(path, newline="") as f:
            lines = list(csv.reader(f))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot open: {e.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a CSV file: {e}") from None
    if not lines:
        raise InputError(f"{path}: empty file (expected a header line)")
    header = lines[0]
    for name in required:
        if name not in header:
            raise InputError(f"{path}:1: no '{name}' column")
    rows = []
    for number, fields in enumerate(lines[1:], start=2):
        if len(fields) != len(header):
            raise InputError(f"{path}:{number}: expected {len(header)} fields, found {len(fields)}")
        row = dict(zip(header, fields))
        row["_line"] = number
        rows.append(row)
    return header, rows


def number(text, path=None, line=None, column=None):
    """A finite float, or None for an empty or non-finite field; malformed text is an error."""
    if text == "":
        return None
    try:
        v = float(text)
    except ValueError:
        if path is None:
            return None
        raise InputError(f"{path}:{line}: column {column}: '{text}' is not a number") from None
    return v if math.isfinite(v) else None


def spans_decades(values, decades=2.0):
    """True when every value is positive and max/min exceeds 10**decades."""
    values = [v for v in values if v is not None]
    if not values or min(values) <= 0:
        return False
    return max(values) / min(values) > 10.0 ** decades


def kind_colors(kinds, plt):
    cmap = plt.get_cmap("tab10")
    order = []
    for k in kinds:
        if k not in order:
            order.append(k)
    return {k: cmap(i % 10) for i, k in enumerate(order)}


def plot_history(run_dir, out_dir, results, plt):
    path = os.path.join(run_dir, "history.csv")
    _, rows = read_csv(path, ["model_id", "pass", "train_loss"])
    kind_of = {r["id"]: r.get("kind", "") for r in results}
    status_of = {r["id"]: r.get("status", "") for r in results}
    series = {}
    for r in rows:
        p = number(r["pass"], path, r["_line"], "pass")
        if p is None:
            raise InputError(f"{path}:{r['_line']}: column pass: '{r['pass']}' is not a pass number")
        loss = number(r["train_loss"], path, r["_line"], "train_loss")
        series.setdefault(r["model_id"], []).append((p, loss))
    if not series:
        raise InputError(f"{path}: no rows")
    all_losses = [v for pts in series.values() for _, v in pts if v is not None]
    # Log axis when the positive losses span > 2 decades; a loss <= 0 (e.g. the statistics pass of
    # an exact linear solve reports 0) cannot be drawn there, which the legend says.
    log = spans_decades([v for v in all_losses if v > 0])
    fig, ax = plt.subplots(figsize=(8, 5))
    cmap = plt.get_cmap("tab20" if len(series) > 10 else "tab10")
    for i, (model, points) in enumerate(sorted(series.items(), key=lambda kv: int(kv[0]))):
        points.sort()
        xs = [p for p, _ in points]
        ys = [math.nan if v is None or (log and v <= 0) else v for _, v in points]
        label = f"{model} {kind_of.get(model, '')}".strip()
        if all(v is None for _, v in points):
            label += " (diverged)" if status_of.get(model) == "diverged" else " (no finite loss)"
        elif log and any(v is not None and v <= 0 for _, v in points):
            label += " (loss <= 0 not drawn)"
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.2, color=cmap(i % cmap.N), label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("pass")
    ax.set_ylabel("training loss")
    ax.set_title(f"training loss per pass: {os.path.basename(os.path.normpath(run_dir))}")
    passes = sorted({p for pts in series.values() for p, _ in pts})
    if len(passes) <= 20:
        ax.set_xticks(passes)
    ax.grid(True, alpha=0.3)
    ncol = max(1, math.ceil(len(series) / 16))
    ax.legend(title="model", fontsize="small", ncol=ncol, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save(fig, out_dir, "metric_vs_pass.png", plt)


def sweep_settings(run_dir):
    """(method, metric name, metric goal) from RUN_DIR/config.yaml's sweep section, without a YAML
    parser: the resolved config writes them as plain 'method: X' and, under 'metric:', 'name: Y'
    and 'goal: Z'."""
    method, metric, goal, in_sweep, in_metric = "grid", "auto", "auto", False, False
    try:
        lines = open(os.path.join(run_dir, "config.yaml")).read().splitlines()
    except OSError:
        return method, metric, goal
    for line in lines:
        if re.match(r"^\S", line):
            in_sweep, in_metric = line.startswith("sweep:"), False
            continue
        if not in_sweep:
            continue
        m = re.match(r"^  (\w+):\s*(\S*)", line)
        if m:
            in_metric = m.group(1) == "metric"
            if m.group(1) == "method":
                method = m.group(2)
            continue
        m = re.match(r"^    (name|goal):\s*(\S+)", line)
        if m and in_metric:
            if m.group(1) == "name":
                metric = m.group(2)
            else:
                goal = m.group(2)
    return method, metric, goal


def plot_rungs(run_dir, out_dir, results, plt):
    """rungs.png for an asha / hyperband / tpe / pbt run: the ranking metric per pass, a line per
    model; a model that stopped at a rung ends in a cross; dotted lines at the rungs; pbt: a
    dashed line from the copied model at the step's pass to the copying model's next pass."""
    method, metric, _ = sweep_settings(run_dir)
    if method not in ("asha", "hyperband", "tpe", "pbt"):
        return []
    path = os.path.join(run_dir, "history.csv")
    header, rows = read_csv(path, ["model_id", "pass"])
    vals = [c for c in header if c.startswith("val_")]
    if metric == "auto" or metric not in header:
        metric = vals[0] if vals else "train_loss"
    status_of = {r["id"]: r.get("status", "") for r in results}
    series = {}
    for r in rows:
        series.setdefault(r["model_id"], []).append(
            (number(r["pass"], path, r["_line"], "pass"), number(r.get(metric, ""), path, r["_line"], metric)))
    fig, ax = plt.subplots(figsize=(8, 5))
    cmap = plt.get_cmap("tab20" if len(series) > 10 else "tab10")
    rungs = set()
    for i, (model, points) in enumerate(sorted(series.items(), key=lambda kv: int(kv[0]))):
        points.sort()
        xs = [p for p, _ in points]
        ys = [math.nan if v is None else v for _, v in points]
        color = cmap(i % cmap.N)
        ax.plot(xs, ys, linewidth=1.0, color=color, alpha=0.8)
        if status_of.get(model) == "stopped_early" and xs:
            rungs.add(xs[-1])
            ax.plot([xs[-1]], [ys[-1]], marker="x", color=color, markersize=6)
        elif xs:
            ax.plot([xs[-1]], [ys[-1]], marker="o", color=color, markersize=5, label=f"{model} (finished)")
    for r in sorted(rungs):
        ax.axvline(r, color="grey", linestyle=":", linewidth=1)
    lineage = os.path.join(run_dir, "lineage.csv")
    copies = 0
    if method == "pbt" and os.path.exists(lineage):
        order = sorted(series, key=int)
        _, lines = read_csv(lineage, ["step", "pass", "model_id", "copied_from"])
        for r in lines:
            p = number(r["pass"], lineage, r["_line"], "pass")
            model, source = r["model_id"], r["copied_from"]
            at = dict(series.get(source, []))
            nxt = dict(series.get(model, []))
            if p in at and p + 1 in nxt and at[p] is not None and nxt[p + 1] is not None:
                color = cmap(order.index(model) % cmap.N) if model in order else "black"
                ax.plot([p, p + 1], [at[p], nxt[p + 1]], linestyle="--", color=color, linewidth=1)
                ax.plot([p], [at[p]], marker="^", color=color, markersize=5)
                copies += 1
    if spans_decades([v for pts in series.values() for _, v in pts if v is not None and v > 0]):
        ax.set_yscale("log")
    ax.set_xlabel("pass")
    ax.set_ylabel(metric)
    what = (f"^ = {copies} copies of another's state" if method == "pbt"
            else "x = stopped at a rung")
    ax.set_title(f"{method}: {metric} per pass, {what} "
                 f"({os.path.basename(os.path.normpath(run_dir))})")
    ax.grid(True, alpha=0.3)
    if any(status_of.get(m) != "stopped_early" for m in series):
        ax.legend(fontsize="small", loc="best")
    return [save(fig, out_dir, "rungs.png", plt)]


def hyper_parameter_columns(header):
    """The columns after model_file: the hyper-parameters of results.csv. Not passes: it is
    run.passes for every model (an exact linear solve records its single statistics pass)."""
    if "model_file" in header:
        return [c for c in header[header.index("model_file") + 1:] if c != "passes"]
    return []


def category(param, text):
    if param == "hidden" and text:
        return "[" + ",".join(text.split()) + "]"
    return text if text else "-"


def plot_parameters(out_dir, header, results, plt):
    metrics = [c for c in header if c.startswith("val_") and c != "val_rows"]
    written = []
    for param in hyper_parameter_columns(header):
        models = [r for r in results if relevant(param, r)]
        if len({r[param] for r in models}) < 2:
            continue
        # The first validation metric over which the parameter varies among the models that
        # report it (a k-means k goes with val_inertia, a learning rate with val_logloss).
        metric, points = None, []
        for m in metrics:
            points = [r for r in models if number(r[m]) is not None]
            if len({r[param] for r in points}) >= 2:
                metric = m
                break
        if metric is None:
            continue
        missing = len(models) - len(points)
        numeric = all(number(r[param]) is not None for r in points)
        written.append(draw_parameter(out_dir, param, metric, points, missing, numeric, results, plt))
    return written


def draw_parameter(out_dir, param, metric, points, missing, numeric, results, plt):
    colors = kind_colors([r["kind"] for r in results], plt)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ys_all = [number(r[metric]) for r in points]
    if numeric:
        xs_all = [number(r[param]) for r in points]
        for kind in colors:
            sel = [(x, y) for r, x, y in zip(points, xs_all, ys_all) if r["kind"] == kind]
            if sel:
                ax.scatter([x for x, _ in sel], [y for _, y in sel], color=colors[kind], label=kind,
                           s=36, alpha=0.85, edgecolors="black", linewidths=0.4)
        if spans_decades(xs_all, 1.5):  # hyper-parameters: log from a 30x span (0.001..0.1)
            ax.set_xscale("log")
    else:
        cats = []
        for r in points:
            c = category(param, r[param])
            if c not in cats:
                cats.append(c)
        cats.sort()
        # Strip plot: each category's points spread evenly across a narrow band.
        by_cat = {}
        for r, y in zip(points, ys_all):
            by_cat.setdefault(category(param, r[param]), []).append((r, y))
        plotted = set()
        for ci, c in enumerate(cats):
            members = by_cat[c]
            n = len(members)
            for j, (r, y) in enumerate(members):
                x = ci + (0.0 if n == 1 else (j / (n - 1) - 0.5) * 0.3)
                kind = r["kind"]
                ax.scatter([x], [y], color=colors[kind], s=36, alpha=0.85, edgecolors="black",
                           linewidths=0.4, label=None if kind in plotted else kind)
                plotted.add(kind)
        ax.set_xticks(range(len(cats)))
        ax.set_xticklabels(cats)
        ax.set_xlim(-0.6, len(cats) - 0.4)
    if spans_decades(ys_all):
        ax.set_yscale("log")
    ax.set_xlabel(param)
    ax.set_ylabel(metric)
    note = f" ({missing} model{'s' if missing != 1 else ''} without {metric} not shown)" if missing else ""
    ax.set_title(f"{metric} vs {param}{note}", fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(title="kind", fontsize="small")
    name = "metric_vs_" + re.sub(r"[^A-Za-z0-9_.-]", "_", param) + ".png"
    return save(fig, out_dir, name, plt)


def load_json(path):
    """The JSON document in `path`; InputError when it cannot be read or is not JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise InputError(f"{path}: cannot open: {e.strerror}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not JSON: {e}") from None


def read_trace(path):
    """Chrome trace events: a JSON array, or an object with "traceEvents". Returns bars
    (rank, start_s, duration_s, model) from complete ("X") events and B/E pairs."""
    data = load_json(path)
    events = data.get("traceEvents") if isinstance(data, dict) else data
    if not isinstance(events, list):
        raise InputError(f"{path}: expected a JSON array of trace events or an object with traceEvents")

    def model_of(ev):
        args = ev.get("args") if isinstance(ev.get("args"), dict) else {}
        for key in ("model", "model_id", "id"):
            if key in args:
                return str(args[key])
        m = re.search(r"model\s*#?\s*(\d+)", str(ev.get("name", "")))
        return m.group(1) if m else None

    bars, open_events = [], {}
    for i, ev in enumerate(events):
        if not isinstance(ev, dict) or "ph" not in ev:
            continue
        ph = ev["ph"]
        rank = ev.get("pid", ev.get("tid", 0))
        try:
            ts = float(ev.get("ts", 0)) / 1e6
            if ph == "X":
                bars.append((rank, ts, float(ev.get("dur", 0)) / 1e6, model_of(ev)))
            elif ph == "B":
                open_events.setdefault((rank, ev.get("tid")), []).append((ts, model_of(ev)))
            elif ph == "E":
                stack = open_events.get((rank, ev.get("tid")))
                if stack:
                    start, model = stack.pop()
                    bars.append((rank, start, ts - start, model or model_of(ev)))
        except (TypeError, ValueError):
            raise InputError(f"{path}: event {i}: ts/dur are not numbers") from None
    if not bars:
        raise InputError(f"{path}: no complete (ph X) or begin/end (ph B/E) events")
    return bars


def metric_goal(metric, goal="auto"):
    """+1 when larger values of `metric` are better, -1 when smaller: sweep.metric.goal, or for
    auto, as ringtrain decides (accuracy and r2 up, everything else down)."""
    if goal in ("maximize", "max"):
        return 1
    if goal in ("minimize", "min"):
        return -1
    return 1 if ("accuracy" in metric or metric.endswith("r2")) else -1


def metric_timeline(run_dir, metric):
    """When each value of `metric` became known in a traced run: [(seconds, model, pass, value,
    final)] in time order, where final says the value is the model's last (its pass count in
    results.csv); and the trace's span in seconds. A (model, pass) value is known when its last
    "evaluate" slice ends (the validation rows are evaluated along the ring, shard by shard);
    without per-pass values in history.csv, results.csv's values are known at the trace's end.
    Raises InputError when trace.json dropped events (the times would be wrong)."""
    trace_path = os.path.join(run_dir, "trace.json")
    trace = load_json(trace_path)
    if not isinstance(trace, dict) or not isinstance(trace.get("traceEvents"), list):
        raise InputError(f"{trace_path}: expected an object with traceEvents (ringtrain train --trace)")
    dropped = (trace.get("otherData") or {}).get("events_dropped", 0)
    if dropped:
        raise InputError(f"{trace_path}: {dropped} events were dropped (run.trace events_per_rank): "
                         "the times of the values would be wrong")
    known, end = {}, 0.0
    for e in trace["traceEvents"]:
        if not isinstance(e, dict) or e.get("ph") != "X":
            continue
        stop = float(e.get("ts", 0)) + float(e.get("dur", 0))
        end = max(end, stop)
        args = e.get("args") if isinstance(e.get("args"), dict) else {}
        if e.get("name") == "evaluate" and "model" in args and "pass" in args:
            key = (str(args["model"]), int(args["pass"]))
            known[key] = max(known.get(key, 0.0), stop)
    results_path = os.path.join(run_dir, "results.csv")
    _, results = read_csv(results_path, ["id", "passes"])
    final = {r["id"]: int(number(r["passes"], results_path, r["_line"], "passes")) for r in results}
    points = []
    history_path = os.path.join(run_dir, "history.csv")
    header, history = read_csv(history_path, ["model_id", "pass"])
    if metric in header:
        for r in history:
            v = number(r[metric], history_path, r["_line"], metric)
            p = int(number(r["pass"], history_path, r["_line"], "pass"))
            if v is not None:
                t = known.get((r["model_id"], p), end) / 1e6
                points.append((t, r["model_id"], p, v, final.get(r["model_id"]) == p))
    else:
        for r in results:
            v = number(r.get(metric, ""), results_path, r["_line"], metric)
            if v is not None:
                points.append((end / 1e6, r["id"], final[r["id"]], v, True))
    points.sort(key=lambda q: (q[0], int(q[1]) if q[1].isdigit() else 0, q[2]))
    return points, end / 1e6


def ranking_metric(run_dir, results):
    """(metric, sign) the run's models are ranked by: sweep.metric when results.csv has it, else
    its first val_ column, else train_loss; sign +1 when larger is better."""
    _, metric, goal = sweep_settings(run_dir)
    header = set(results[0]) if results else set()
    if metric == "auto" or metric not in header:
        vals = sorted(c for c in header if c.startswith("val_"))
        metric = vals[0] if vals else "train_loss"
    return metric, metric_goal(metric, goal)


def plot_best_over_time(run_dir, out_dir, results, plt):
    """best_over_time.png: the best ranking-metric value held so far against trace seconds."""
    metric, sign = ranking_metric(run_dir, results)
    points, span = metric_timeline(run_dir, metric)
    if not points:
        return []
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, keep, style in (("models delivered", lambda q: q[4], "-"),
                               ("any pass", lambda q: True, "--")):
        xs, ys, best = [0.0], [math.nan], None
        for t, _, _, v, _ in (q for q in points if keep(q)):
            if best is None or sign * v > sign * best:
                best = v
                xs.append(t)
                ys.append(best)
        xs.append(span)
        ys.append(best if best is not None else math.nan)
        ax.step(xs, ys, where="post", linestyle=style, linewidth=1.5, label=label)
    done = [(t, v) for t, _, _, v, f in points if f]
    ax.plot([t for t, _ in done], [v for _, v in done], linestyle="none", marker=".", markersize=4,
            color="grey", alpha=0.6, label="a model's last value")
    ax.set_xlabel("seconds since the first trace event")
    ax.set_ylabel(f"best {metric} so far")
    ax.set_title(f"best {metric} over time ({os.path.basename(os.path.normpath(run_dir))})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    return [save(fig, out_dir, "best_over_time.png", plt)]


def plot_timeline(trace_path, out_dir, plt):
    bars = read_trace(trace_path)
    t0 = min(start for _, start, _, _ in bars)
    ranks = sorted({r for r, _, _, _ in bars}, key=lambda r: (str(type(r)), r))
    row_of = {r: i for i, r in enumerate(ranks)}
    models = sorted({m for _, _, _, m in bars if m is not None}, key=lambda m: (len(m), m))
    cmap = plt.get_cmap("tab20" if len(models) > 10 else "tab10")
    color_of = {m: cmap(i % cmap.N) for i, m in enumerate(models)}
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.5 * len(ranks)))
    for rank, start, dur, model in bars:
        ax.broken_barh([(start - t0, max(dur, 0.0))], (row_of[rank] - 0.4, 0.8),
                       facecolors=color_of.get(model, (0.7, 0.7, 0.7, 1.0)), edgecolor="none")
    ax.set_yticks(range(len(ranks)))
    ax.set_yticklabels([f"rank {r}" for r in ranks])
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first event")
    ax.set_title("timeline (trace.json)")
    ax.grid(True, axis="x", alpha=0.3)
    if models and len(models) <= 40:
        from matplotlib.patches import Patch
        handles = [Patch(color=color_of[m], label=m) for m in models]
        if any(m is None for _, _, _, m in bars):
            handles.append(Patch(color=(0.7, 0.7, 0.7, 1.0), label="no model"))
        ax.legend(handles=handles, title="model", fontsize="small", ncol=max(1, math.ceil(len(models) / 16)),
                  loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save(fig, out_dir, "timeline.png", plt)


def save(fig, out_dir, name, plt):
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def install_matplotlib():
    """Installs Debian's python3-matplotlib on demand: only for Debian's own interpreter, as root,
    with apt-get present (otherwise the caller reports how to install it)."""
    import shutil
    import subprocess
    if sys.executable != "/usr/bin/python3" or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    print("plot.py: installing Debian's python3-matplotlib (on demand) ...", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for attempt in range(2):
        if attempt:
            subprocess.run(["apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL, check=False)
        done = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "python3-matplotlib"],
                              env=env, stdout=subprocess.DEVNULL, check=False)
        if done.returncode == 0:
            return


def main(argv):
    parser = argparse.ArgumentParser(
        prog=PROG, description="Plots of a ringtrain run directory (PNG).",
        epilog="Writes metric_vs_pass.png and metric_vs_<param>.png for each hyper-parameter that "
               "varies across the run; --timeline also timeline.png and best_over_time.png from "
               "RUN_DIR/trace.json.")
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'ringtrain train'")
    parser.add_argument("--out", metavar="DIR", help="where the PNG files go (default RUN_DIR/plots)")
    parser.add_argument("--timeline", action="store_true",
                        help="also draw timeline.png (ranks x time) and best_over_time.png from "
                             "RUN_DIR/trace.json")
    args = parser.parse_args(argv)  # exits 2 on usage errors

    run_dir = args.run_dir
    if not os.path.isdir(run_dir):
        fail(f"{run_dir}: no such run directory")
    trace_path = os.path.join(run_dir, "trace.json")
    if args.timeline and not os.path.isfile(trace_path):
        fail(f"{trace_path}: no such file: this run recorded no trace, so there is no timeline to draw")
    try:
        import matplotlib
    except ImportError:
        install_matplotlib()
        try:
            import matplotlib
        except ImportError:
            fail(f"matplotlib is not installed for {sys.executable}; install it with "
                 "'apt-get install python3-matplotlib' (Debian/Ubuntu, as root) or 'pip install matplotlib'")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results_path = os.path.join(run_dir, "results.csv")
    out_dir = args.out or os.path.join(run_dir, "plots")
    try:
        header, results = read_csv(results_path, ["id", "kind"])
        for r in results:
            for c in header:
                if c.startswith("val_") or c == "train_loss":
                    number(r[c], results_path, r["_line"], c)
        os.makedirs(out_dir, exist_ok=True)
        written = [plot_history(run_dir, out_dir, results, plt)]
        written += plot_parameters(out_dir, header, results, plt)
        written += plot_rungs(run_dir, out_dir, results, plt)
        if args.timeline:
            written.append(plot_timeline(trace_path, out_dir, plt))
            written += plot_best_over_time(run_dir, out_dir, results, plt)
    except InputError as e:
        fail(str(e))
    except OSError as e:
        fail(f"{e.filename or out_dir}: {e.strerror}", 1)
    for path in written:
        print(f"{PROG}: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
