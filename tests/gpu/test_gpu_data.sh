#!/usr/bin/env bash
# Data beyond memory on the CUDA backend (issue 15; label gpu; exit 77 = skipped when no device is
# visible), each against the CPU or against the same data held as it is:
#  - dataset views and per-model scalings: one gather kernel per batch (cuda/input.cu);
#  - streamed shards: the rows through each slot's double-buffered feed (cuda/feed.cu);
#  - LIBSVM (sparse) shards: CSR on the device; fused groups multiply each batch as CSR with
#    cuSPARSE, the other models get it made dense by the feed.
source "$(dirname "$0")/../lib.sh" "$@"
source "$(dirname "$0")/gpu_lib.sh"
need_gpus 1
DIGITS="$SRC/configs/data/digits.csv"
# Dataset views and per-model scalings on CUDA (issue 15): each batch gathered (and scaled) into
# the model's or the group's input buffer by one kernel (cuda/input.cu). A sweep of views and
# normalize values over logistic (fused), linear sgd (fused), MLP and k-means: every validation
# metric agrees with the CPU to rounding; fuse auto == off byte for byte on CUDA; a member of a
# fused group trained alone (its resolved entry) has its group self's bytes.
cat >"$WORK/vw.yaml" <<YAML
data: {train: $DIGITS, label_column: 64, validation_fraction: 0.2, shards: 4}
run: {passes: 3, seed: 11}
models:
  - {kind: logistic, optimizer: [sgd, adam], learning_rate: 0.01, batch_size: 32, features: [all, [0:32], [40:64, 3, 7]], normalize: [none, standard], start_shard: 0}
  - {kind: linear, solver: sgd, learning_rate: 0.001, batch_size: 32, features: [8:40], normalize: minmax, start_shard: 1}
  - {kind: mlp, hidden: [16], optimizer: adam, learning_rate: 0.01, batch_size: 32, features: [[0:48], [16:64]], normalize: standard, start_shard: 2}
  - {kind: kmeans, k: 6, batch_size: 64, features: [0:20, 30:50], normalize: [none, minmax], start_shard: 3}
YAML
"$RT" train "$WORK/vw.yaml" --quiet --set run.backend=cuda --output "$WORK/vw-cuda" 2>"$WORK/vw-cuda.err" \
  && pass || fail "views and scalings on CUDA failed: $(cat "$WORK/vw-cuda.err")"
"$RT" train "$WORK/vw.yaml" --quiet --set run.backend=cpu --output "$WORK/vw-cpu" || fail "views on the CPU failed"
python3 - "$WORK/vw-cpu/results.csv" "$WORK/vw-cuda/results.csv" <<'PY' && pass || fail "views and scalings: CPU and CUDA disagree"
import csv, sys
cpu = list(csv.DictReader(open(sys.argv[1]))); gpu = list(csv.DictReader(open(sys.argv[2])))
assert len(cpu) == len(gpu) == 17, len(gpu)
for a, b in zip(cpu, gpu):
    assert a["status"] == b["status"] == "ok", (a["id"], a["status"], b["status"])
    assert a["features"] == b["features"] and a["group"] == b["group"], a["id"]
    for key in a:
        if not key.startswith("val_") or key == "val_rows" or a[key] == "":
            continue
        x, y = float(a[key]), float(b[key])
        tol = 2.0 / float(a["val_rows"]) if key == "val_accuracy" else 1e-3 * max(abs(x), 1e-12)
        assert abs(x - y) <= tol, (a["id"], a["kind"], a["features"], key, x, y)
PY
"$RT" train "$WORK/vw.yaml" --quiet --set run.backend=cuda --set run.fuse=off --output "$WORK/vw-off" \
  2>"$WORK/vw-off.err" && pass || fail "views on CUDA with fuse off failed: $(cat "$WORK/vw-off.err")"
same_models "$WORK/vw-off" "$WORK/vw-cuda" "views and scalings on CUDA: fuse auto vs off"
awk '!inmodels { print; if ($0 == "models:") inmodels = 1; next }
     /^  - / { n++ }
     n == 12 { print }' "$WORK/vw-cuda/config.yaml" >"$WORK/vw-alone.yaml" # model 11: a logistic with a view
"$RT" train "$WORK/vw-alone.yaml" --quiet --set run.backend=cuda --output "$WORK/vw-alone" 2>"$WORK/vw-alone.err" \
  && pass || fail "CUDA: model 11 alone failed: $(cat "$WORK/vw-alone.err")"
same_params "$WORK/vw-cuda/models/11.rtm" "$WORK/vw-alone/models/0.rtm" && pass \
  || fail "CUDA: model 11 (a view, a scaling) trained alone differs from its fused-group self"
# Streamed shards on CUDA (issue 15): the device holds their labels only; the rows come batch by
# batch from the host's read-ahead through a double-buffered feed (cuda/feed.cu), read and copied
# once for a group (the fused context's, or shared by an unfused group's members). Logistic and
# linear sgd (fused groups of 2), an MLP group of 2 and k-means (a fused group of one), standard
# scaling, a validation split, per-pass evaluation: streamed == held on the device, byte for byte
# (the same kernels on the same rows), and auto with a budget of about one shard of two as well.
cp "$DIGITS" "$WORK/dg.csv"
cat >"$WORK/st.yaml" <<YAML
data: {train: $WORK/dg.csv, label_column: 64, validation_fraction: 0.2, shards: 2, normalize: standard}
run: {passes: 2, seed: 5, eval_every_pass: true}
models:
  - {kind: logistic, optimizer: [sgd, adam], learning_rate: 0.01, batch_size: 32}
  - {kind: linear, solver: sgd, learning_rate: [0.001, 0.002], batch_size: 40}
  - {kind: mlp, hidden: [16], optimizer: adam, learning_rate: [0.01, 0.003], batch_size: 32}
  - {kind: kmeans, k: 8, batch_size: 64}
YAML
"$RT" train "$WORK/st.yaml" --quiet --set run.backend=cuda --set data.residency=memory \
  --output "$WORK/st-mem" 2>"$WORK/st-mem.err" && pass || fail "CUDA, held on the device: $(cat "$WORK/st-mem.err")"
"$RT" train "$WORK/st.yaml" --quiet --set run.backend=cuda --set data.residency=stream \
  --output "$WORK/st-str" 2>"$WORK/st-str.err" && pass || fail "CUDA, streamed: $(cat "$WORK/st-str.err")"
same_models "$WORK/st-mem" "$WORK/st-str" "CUDA: streamed vs held on the device"
diff <(cut -d, -f1-9 "$WORK/st-mem/results.csv") <(cut -d, -f1-9 "$WORK/st-str/results.csv") >/dev/null \
  && pass || fail "CUDA: results.csv differs streamed"
"$RT" train "$WORK/st.yaml" --quiet --set run.backend=cuda --set data.memory_budget=350000 \
  --output "$WORK/st-auto" 2>"$WORK/st-auto.err" && pass || fail "CUDA, auto with a small budget: $(cat "$WORK/st-auto.err")"
same_models "$WORK/st-mem" "$WORK/st-auto" "CUDA: auto with one shard streamed"
# Sparse rows on CUDA (issue 15): a LIBSVM shard lives on the device as CSR. The fused groups
# (logistic, MLP, linear sgd) multiply each batch as CSR with cuSPARSE (cuda/sparse_products.cu);
# the other models, and members that gather their own scaled input, get each batch made dense (the
# feed zeroes a buffer and scatters the batch's non-zeros, cuda/feed.cu). Five families, with
# per-batch standard scaling and without: the LIBSVM file and the same floats as a dense CSV give
# the same model states on CUDA (to rounding where sparse products ran, else the same bytes);
# fuse off gives fuse auto's bytes; against the CPU on the LIBSVM file, every validation metric
# within 1e-3 relative (accuracy within 2 rows).
python3 - "$WORK" <<'PY'
import random, sys
random.seed(11)
rows, d, dens = 1500, 120, 0.06
teacher = [[random.gauss(0, 1) for _ in range(4)] for _ in range(d)]
with open(sys.argv[1] + '/sp.libsvm', 'w') as fs, open(sys.argv[1] + '/sp.csv', 'w') as fc:
    for r in range(rows):
        x = {j: float('%.6g' % random.gauss(0, 1)) for j in range(d) if random.random() < dens or (r == 0 and j == d - 1)}
        y = max(range(4), key=lambda k: sum(x[j] * teacher[j][k] for j in x))
        fs.write('%d %s\n' % (y, ' '.join('%d:%.6g' % (j + 1, x[j]) for j in sorted(x))))
        fc.write(str(y) + ',' + ','.join(('%.6g' % x[j]) if j in x else '0' for j in range(d)) + '\n')
PY
for norm in none standard; do
  cat >"$WORK/sp-$norm.yaml" <<YAML
data: {train: $WORK/sp.libsvm, shards: 1, validation_fraction: 0.2, normalize: $norm}
run: {passes: 2, seed: 5}
models:
  - {kind: logistic, optimizer: [sgd, adam], learning_rate: 0.01, batch_size: 64}
  - {kind: mlp, hidden: [16], optimizer: adam, learning_rate: 0.01, batch_size: 64}
  - {kind: linear, solver: sgd, learning_rate: 0.001, batch_size: 64}
  - {kind: linear, solver: exact}
  - {kind: kmeans, k: 4, batch_size: 128}
YAML
  "$RT" train "$WORK/sp-$norm.yaml" --quiet --set run.backend=cuda --output "$WORK/sp-$norm-cuda" \
    2>"$WORK/sp-$norm-cuda.err" && pass || fail "LIBSVM on CUDA ($norm) failed: $(cat "$WORK/sp-$norm-cuda.err")"
  "$RT" train "$WORK/sp-$norm.yaml" --quiet --set run.backend=cuda --set "data.train=$WORK/sp.csv" \
    --set data.label_column=0 --output "$WORK/sp-$norm-dense" 2>"$WORK/sp-$norm-dense.err" \
    && pass || fail "the dense CSV on CUDA ($norm) failed: $(cat "$WORK/sp-$norm-dense.err")"
  # Models 0-3 (logistic, MLP, linear sgd: fused groups) multiply CSR batches with cuSPARSE
  # (cuda/sparse_products.cu), summing in another order than the dense products: to rounding.
  # Linear exact and k-means make each batch dense: the same bytes.
  for m in 0 1 2 3; do
    why=$(close_params "$WORK/sp-$norm-cuda/models/$m.rtm" "$WORK/sp-$norm-dense/models/$m.rtm" 2>&1) \
      && pass || fail "CUDA ($norm): model $m, LIBSVM (sparse products) vs dense CSV: $why"
  done
  for m in 4 5; do
    why=$(same_params "$WORK/sp-$norm-cuda/models/$m.rtm" "$WORK/sp-$norm-dense/models/$m.rtm" libsvm_base 2>&1) \
      && pass || fail "CUDA ($norm): model $m, LIBSVM vs dense CSV: $why"
  done
  "$RT" train "$WORK/sp-$norm.yaml" --quiet --set run.backend=cuda --set run.fuse=off \
    --output "$WORK/sp-$norm-off" 2>"$WORK/sp-$norm-off.err" \
    && pass || fail "LIBSVM on CUDA ($norm, fuse off) failed: $(cat "$WORK/sp-$norm-off.err")"
  same_models "$WORK/sp-$norm-off" "$WORK/sp-$norm-cuda" "LIBSVM on CUDA ($norm): fuse auto vs off"
  "$RT" train "$WORK/sp-$norm.yaml" --quiet --set run.backend=cpu --output "$WORK/sp-$norm-cpu" \
    || fail "LIBSVM on the CPU ($norm) failed"
  python3 - "$WORK/sp-$norm-cpu/results.csv" "$WORK/sp-$norm-cuda/results.csv" <<'PY' && pass || fail "LIBSVM ($norm): CPU and CUDA disagree"
import csv, sys
cpu = list(csv.DictReader(open(sys.argv[1]))); gpu = list(csv.DictReader(open(sys.argv[2])))
assert len(cpu) == len(gpu) == 6
for a, b in zip(cpu, gpu):
    assert a["status"] == b["status"] == "ok", (a["id"], a["status"], b["status"])
    for key in a:
        if not key.startswith("val_") or key == "val_rows" or a[key] == "":
            continue
        x, y = float(a[key]), float(b[key])
        tol = 2.0 / float(a["val_rows"]) if key == "val_accuracy" else 1e-3 * max(abs(x), 1e-12)
        assert abs(x - y) <= tol, (a["id"], a["kind"], key, x, y)
PY
done
finish
