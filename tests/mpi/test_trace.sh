#!/usr/bin/env bash
# run.trace / train --trace on 2 ranks: trace.json is Chrome trace JSON with rank processes, model
# threads, integrate slices carrying model/pass/shard/members and exactly one flow per hand-off;
# a group visit is one integrate slice with args.members = the group's size (fuse auto), and with
# run.fuse off every visit has members 1; the
# utilisation report (summary and the run record of results.jsonl) agrees with it; tracing off
# writes no trace and the same model bytes; a tiny cap drops events, says so and still writes
# valid JSON; plot.py --timeline draws the trace when matplotlib is there.
source "$(dirname "$0")/../lib.sh" "$@"
cat >"$WORK/t.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 2, seed: 9}
models:
  - {kind: logistic, optimizer: sgd, momentum: 0.9, learning_rate: 0.05, batch_size: 32}
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 64}
  - {kind: mlp, hidden: [16], optimizer: adam, learning_rate: 0.01, batch_size: 32}
YAML
run() { # NAME ARGS...: a 2-rank training run into $WORK/NAME, its output in $WORK/NAME.out
  local name=$1
  shift
  "$MPIRUN" 2 "$RT" train "$WORK/t.yaml" --output "$WORK/$name" --progress-interval 0 "$@" \
    >"$WORK/$name.out" 2>&1 && pass || fail "$name: training failed: $(tail -5 "$WORK/$name.out")"
}
run on --trace
run off
run key --set run.trace=true --quiet
run tiny --trace --set run.trace_events=64 --set run.passes=8

# The trace and the report, checked against results.csv (hand-offs = the hops column).
hops=$(col "$WORK/on/results.csv" hops | awk "{ s += \$1 } END { print s }")
python3 - "$WORK/on" "$hops" <<'PY' && pass || fail "trace.json / report of the traced run (above)"
import json, sys
run, hops = sys.argv[1], int(sys.argv[2])
problems = []
def check(ok, what):
    if not ok: problems.append(what)
doc = json.load(open(f"{run}/trace.json"))
events = doc["traceEvents"]
meta = doc["otherData"]
names = {(e["pid"], e.get("tid"), e["name"]): e["args"] for e in events if e["ph"] == "M"}
for r in (0, 1):
    check(names.get((r, 0, "process_name")) == {"name": f"rank {r}"}, f"process_name of rank {r}")
threads = {a["name"] for (p, t, n), a in names.items() if n == "thread_name"}
for m in (0, 1, 2):
    check(f"model {m}" in threads, f"thread_name model {m}")
slices = [e for e in events if e["ph"] == "X"]
kinds = {e["name"] for e in slices}
for k in ("load", "integrate", "send", "receive", "evaluate", "write"):
    check(k in kinds, f"no {k} slice")
integ = [e for e in slices if e["name"] == "integrate"]
visits = sorted((e["args"]["model"], e["args"]["pass"], e["args"]["shard"]) for e in integ)
want = sorted((m, p, s) for m in range(3) for p in (1, 2) for s in range(4))
check(visits == want, f"integrate slices {visits} != every (model, pass 1-2, shard 0-3) once")
check(all(e["args"].get("members") == 1 for e in integ), "integrate slices of groups of one without members 1")
check(all(e["tid"] == e["args"]["model"] for e in integ), "integrate slices off their model's track")
check(all(e["dur"] >= 0 and e["ts"] >= 0 for e in slices), "negative ts or dur")
starts = {e["id"]: e for e in events if e["ph"] == "s"}
ends = {e["id"]: e for e in events if e["ph"] == "f"}
check(len(starts) == hops and len(ends) == hops and starts.keys() == ends.keys(),
      f"{len(starts)} flow starts, {len(ends)} ends for {hops} hand-offs")
def inside(ev, name):
    return any(x["name"] == name and x["pid"] == ev["pid"] and x["tid"] == ev["tid"]
               and x["ts"] <= ev["ts"] <= x["ts"] + x["dur"] for x in slices)
for i, s in starts.items():
    f = ends[i]
    check(s["pid"] != f["pid"] and s["tid"] == f["tid"], f"flow {i} is not a hand-off between ranks")
    check(f.get("bp") == "e" and s["cat"] == f["cat"] == "handoff", f"flow {i} binding / category")
    check(inside(s, "send") and inside(f, "receive"), f"flow {i} outside its send / receive slices")
check(meta["events_dropped"] == 0 and meta["handoffs"] == hops and meta["handoffs_unpaired"] == 0
      and meta["overflow_policy"] == "drop_oldest", f"otherData {meta}")
record = json.loads(open(f"{run}/results.jsonl").read().splitlines()[-1])["run"]
check(record["latency_source"] == "trace" and record["handoffs"] == hops, "run record: latency source, hand-offs")
check(record["trace"]["events_dropped"] == 0, "run record: dropped")
ranks = record["per_rank"]
check(sum(q["handoffs_sent"] for q in ranks) == hops == sum(q["handoffs_received"] for q in ranks),
      "per-rank hand-offs != hops")
for q in ranks:
    traced = sum(e["dur"] for e in integ if e["pid"] == q["rank"]) / 1e6
    check(abs(traced - q["busy_seconds"]) <= 1e-3 + 0.02 * q["busy_seconds"],
          f"rank {q['rank']}: busy {q['busy_seconds']} s, integrate slices {traced} s")
    check(0 <= q["busy_percent"] <= 100 and q["latency_max_seconds"] >= q["latency_mean_seconds"] >= 0,
          f"rank {q['rank']}: {q}")
for m in record["per_model"]:
    check(m["integrating_seconds"] >= 0 and m["on_wire_seconds"] >= 0 and m["waiting_seconds"] >= 0,
          f"model times {m}")
    total = m["integrating_seconds"] + m["on_wire_seconds"] + m["waiting_seconds"]
    check(total >= record["train_wall_seconds"] - 1e-9, f"model {m['id']}: times do not add up to the wall")
for p in problems:
    print("trace check:", p)
sys.exit(1 if problems else 0)
PY
grep -q "^# rank 1: busy .* hand-offs sent" "$WORK/on.out" && pass || fail "no per-rank utilisation: $(cat "$WORK/on.out")"
grep -q "^# model 2: integrating .* on the wire .* waiting" "$WORK/on.out" && pass || fail "no per-model times"
grep -q "^# trace: $WORK/on/trace.json, [0-9]* events, $hops hand-offs" "$WORK/on.out" && pass \
  || fail "summary does not name the trace: $(grep trace "$WORK/on.out")"
[[ -s "$WORK/key/trace.json" ]] && pass || fail "run.trace: true wrote no trace.json"
# `ringtrain results` reads results.csv, untouched by the run record.
"$RT" results "$WORK/on" >"$WORK/results.out" && grep -q "^# best: model" "$WORK/results.out" && pass \
  || fail "ringtrain results on a traced run: $(cat "$WORK/results.out")"

# Group visits: three logistic models that share every batch (start_shard 0) form one group; with
# fuse auto each visit is one integrate slice on model 0's track with members 3, with fuse off
# every model has its own slices with members 1. The hand-offs are still one per model and hop.
cat >"$WORK/g.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 2, seed: 9}
models:
  - {kind: logistic, optimizer: adam, learning_rate: [0.01, 0.02, 0.05], batch_size: 32, start_shard: 0}
YAML
for fuse in auto off; do
  "$MPIRUN" 2 "$RT" train "$WORK/g.yaml" --output "$WORK/g$fuse" --quiet --trace --set run.fuse=$fuse \
    >"$WORK/g$fuse.out" 2>&1 && pass || fail "group run, fuse $fuse: training failed: $(tail -5 "$WORK/g$fuse.out")"
  ghops=$(col "$WORK/g$fuse/results.csv" hops | awk "{ s += \$1 } END { print s }")
  python3 - "$WORK/g$fuse/trace.json" "$fuse" "$ghops" <<'PY' && pass || fail "group visits in the trace, fuse $fuse (above)"
import json, sys
doc = json.load(open(sys.argv[1]))
fuse, hops = sys.argv[2], int(sys.argv[3])
integ = [e for e in doc["traceEvents"] if e["ph"] == "X" and e["name"] == "integrate"]
got = sorted((e["args"]["model"], e["args"]["pass"], e["args"]["shard"], e["args"].get("members")) for e in integ)
if fuse == "auto":
    want = sorted((0, p, s, 3) for p in (1, 2) for s in range(4))
else:
    want = sorted((m, p, s, 1) for m in range(3) for p in (1, 2) for s in range(4))
problems = []
if got != want:
    problems.append(f"integrate slices (model, pass, shard, members) {got} != {want}")
flows = sum(1 for e in doc["traceEvents"] if e["ph"] == "s")
if flows != hops or doc["otherData"]["handoffs"] != hops:
    problems.append(f"{flows} flows for {hops} hand-offs")
for p in problems:
    print(f"trace check (fuse {fuse}):", p)
sys.exit(1 if problems else 0)
PY
done
same_models "$WORK/gauto" "$WORK/goff" "traced group run, fuse auto vs off"

# Tracing off: no trace, no trace line, the engine's latencies, the same models.
[[ ! -e "$WORK/off/trace.json" ]] && pass || fail "a run without --trace wrote trace.json"
! grep -q "^# trace:" "$WORK/off.out" && pass || fail "untraced run mentions a trace"
python3 -c "
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])['run']
sys.exit(0 if r['trace'] is None and r['latency_source'] == 'engine' and len(r['per_rank']) == 2 else 1)" \
  "$WORK/off/results.jsonl" && pass || fail "run record without trace: $(tail -1 "$WORK/off/results.jsonl")"
for m in "$WORK/off"/models/*.rtm; do
  cmp -s "$m" "$WORK/on/models/$(basename "$m")" && pass || fail "$(basename "$m") differs with --trace"
done

# A cap of 64 events per rank overflows (8 passes: about 200 events a rank): the oldest go, the
# count is reported, the JSON is valid.
python3 - "$WORK/tiny" <<'PY' && pass || fail "overflowing trace (above)"
import json, sys
run = sys.argv[1]
doc = json.load(open(f"{run}/trace.json"))
meta = doc["otherData"]
record = json.loads(open(f"{run}/results.jsonl").read().splitlines()[-1])["run"]
ok = (meta["events_dropped"] > 0 and meta["events_dropped"] == sum(meta["events_dropped_per_rank"])
      and meta["events_per_rank_cap"] == 64 and meta["events"] <= 2 * 2 * 64
      and record["trace"]["events_dropped"] == meta["events_dropped"]
      and record["latency_source"] == "engine"
      and any(e["ph"] == "X" for e in doc["traceEvents"]))
if not ok:
    print("overflow:", meta, record["trace"], record["latency_source"])
sys.exit(0 if ok else 1)
PY
grep -q "^# trace: [0-9]* events dropped (the oldest" "$WORK/tiny.out" && pass \
  || fail "summary does not report the dropped events: $(grep trace "$WORK/tiny.out")"

# The Gantt chart of the trace.
if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  /usr/bin/python3 "$SRC/scripts/plot.py" "$WORK/on" --timeline --out "$WORK/plots" >"$WORK/plot.out" 2>&1 \
    && [[ -s "$WORK/plots/timeline.png" ]] && pass || fail "plot.py --timeline: $(cat "$WORK/plot.out")"
else
  echo "note: /usr/bin/python3 has no matplotlib; plot.py --timeline not checked"
fi
finish
