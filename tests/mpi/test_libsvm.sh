#!/usr/bin/env bash
# Sparse rows: data.format libsvm (LIBSVM / SVMlight; CSR shards).
#  a. Five models (logistic, MLP, linear sgd and exact, k-means++) with a validation split and
#     standard scaling on one shard (so every batch is made dense): a LIBSVM file (1-based, qid
#     tokens, comments) and the same floats as a dense CSV give the same model state bytes.
#  b. Sequential equivalence: 4 shards on 1, 2 and 4 ranks give the same model files.
#  c. 0-based indices are detected (an index 0 appears): the same models as the 1-based file.
#  d. predict and eval of a LIBSVM file (a test file with fewer columns than the training file)
#     give the dense CSV's output; check names the format and counts rows without comments;
#     `convert` makes it a dense .npy (label first) that trains like the CSV.
#  e. Malformed lines: one line naming file and line, exit 2; residency stream is refused.
#  f. Sparse arithmetic (no scaling): logistic (plain SGD with L2: lazy updates; Adam), linear sgd
#     and exact, and an MLP on the LIBSVM file against the dense CSV: predictions within 1e-5 (sums in
#     another order); 4 shards on 1, 2 and 4 ranks give the same model files; a SIGTERM and
#     resume gives the uninterrupted run's files; predict keeps the LIBSVM rows sparse and gives
#     what the same model gives on the dense CSV to rounding.
source "$(dirname "$0")/../lib.sh" "$@"
python3 - "$WORK" <<'PY'
import random, sys
random.seed(7)
rows, d, dens = 2000, 200, 0.05
teacher = [[random.gauss(0, 1) for _ in range(5)] for _ in range(d)]
w = sys.argv[1]
with open(w + '/s.libsvm', 'w') as fs, open(w + '/s.csv', 'w') as fc, open(w + '/s0.libsvm', 'w') as f0:
    fs.write('# a sparse problem\n')
    for r in range(rows):
        x = {}
        for j in range(d - 1 if r < rows - 1 else d):  # the last row reaches the last column
            if random.random() < dens or (r == rows - 1 and j == d - 1):
                x[j] = float('%.6g' % random.gauss(0, 1))
        z = [sum(x[j] * teacher[j][k] for j in x) for k in range(5)]
        y = max(range(5), key=lambda k: z[k])
        toks = ' '.join('%d:%.6g' % (j + 1, x[j]) for j in sorted(x))
        q = ' qid:%d' % (r % 3) if r % 7 == 0 else ''
        fs.write('%d%s %s%s\n' % (y, q, toks, '  # row %d' % r if r % 11 == 0 else ''))
        # 0-based: the same rows with the first column always present (so index 0 appears)
        f0.write('%d %s\n' % (y, ' '.join('%d:%.6g' % (j, x[j]) for j in sorted(x))))
        fc.write(str(y) + ',' + ','.join(('%.6g' % x[j]) if j in x else '0' for j in range(d)) + '\n')
with open(w + '/test.libsvm', 'w') as ft, open(w + '/test.csv', 'w') as fc:
    for r in range(300):
        x = {j: float('%.6g' % random.gauss(0, 1)) for j in range(d // 2) if random.random() < dens}
        ft.write('%d %s\n' % (r % 5, ' '.join('%d:%.6g' % (j + 1, x[j]) for j in sorted(x))))
        fc.write(str(r % 5) + ',' + ','.join(('%.6g' % x[j]) if j in x else '0' for j in range(d)) + '\n')
PY
cat >"$WORK/a.yaml" <<'YAML'
data: {train: s.libsvm, shards: 1, validation_fraction: 0.1, normalize: standard}
run: {passes: 2, seed: 5, threads: 1}
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 64}
  - {kind: mlp, hidden: [16], optimizer: adam, learning_rate: 0.01, batch_size: 64}
  - {kind: linear, solver: sgd, learning_rate: 0.001, batch_size: 64}
  - {kind: linear, solver: exact}
  - {kind: kmeans, k: 5, batch_size: 128}
YAML
"$RT" train "$WORK/a.yaml" --quiet --output "$WORK/sparse" || fail "a. training on the LIBSVM file failed"
"$RT" train "$WORK/a.yaml" --quiet --set "data.train=$WORK/s.csv" --set data.label_column=0 \
  --output "$WORK/dense" || fail "a. training on the dense CSV failed"
for m in 0 1 2 3 4; do
  why=$(same_params "$WORK/sparse/models/$m.rtm" "$WORK/dense/models/$m.rtm" libsvm_base 2>&1) &&
    pass || fail "a. model $m, LIBSVM vs dense: $why"
done

for np in 1 2 4; do
  "$MPIRUN" "$np" "$RT" train "$WORK/a.yaml" --quiet --set data.shards=4 --output "$WORK/r$np" \
    2>"$WORK/r$np.err" || fail "b. 4 shards on $np ranks failed: $(head -c 300 "$WORK/r$np.err")"
done
same_models "$WORK/r1" "$WORK/r2" "b. LIBSVM, 2 ranks vs 1"
same_models "$WORK/r1" "$WORK/r4" "b. LIBSVM, 4 ranks vs 1"

"$RT" train "$WORK/a.yaml" --quiet --set "data.train=$WORK/s0.libsvm" --output "$WORK/zero" ||
  fail "c. the 0-based file failed"
for m in 0 1 2 3 4; do
  why=$(same_params "$WORK/zero/models/$m.rtm" "$WORK/sparse/models/$m.rtm" libsvm_base 2>&1) &&
    pass || fail "c. model $m, 0-based vs 1-based: $why"
done
grep -q "^  libsvm_base=0$" <<<"$("$RT" inspect "$WORK/zero/models/0.rtm")" && pass ||
  fail "c. the 0-based model does not record its first index"

for m in 0 1 4; do
  "$RT" predict "$WORK/sparse/models/$m.rtm" "$WORK/test.libsvm" --output "$WORK/p1.csv" &&
    "$RT" predict "$WORK/dense/models/$m.rtm" "$WORK/test.csv" --output "$WORK/p2.csv" &&
    cmp -s "$WORK/p1.csv" "$WORK/p2.csv" && pass || fail "d. predict of model $m on a LIBSVM file"
  diff <("$RT" eval "$WORK/sparse/models/$m.rtm" "$WORK/test.libsvm" | tail -1) \
    <("$RT" eval "$WORK/dense/models/$m.rtm" "$WORK/test.csv" | tail -1) >/dev/null && pass ||
    fail "d. eval of model $m on a LIBSVM file"
done
out=$("$RT" check "$WORK/a.yaml" --set data.shards=4)
grep -q "^# train .*s.libsvm: libsvm, 2000 rows, 201 columns (label column 0, 200 features, 5 classes)" <<<"$out" &&
  pass || fail "d. check: $(head -1 <<<"$out")"

"$RT" convert "$WORK/s.libsvm" "$WORK/s.npy" >/dev/null || fail "d. convert of the LIBSVM file failed"
"$RT" train "$WORK/a.yaml" --quiet --set "data.train=$WORK/s.npy" --set data.label_column=0 \
  --output "$WORK/conv" || fail "d. training on the converted .npy failed"
for m in 0 4; do
  why=$(same_params "$WORK/conv/models/$m.rtm" "$WORK/dense/models/$m.rtm" 2>&1) && pass ||
    fail "d. model $m, converted LIBSVM vs dense CSV: $why"
done

cat >"$WORK/f.yaml" <<'YAML'
data: {train: s.libsvm, shards: 1, validation_fraction: 0.1}
run: {passes: 3, seed: 5, threads: 1}
models:
  - {kind: logistic, optimizer: sgd, learning_rate: 0.2, l2: 0.01, batch_size: 16}
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 16}
  - {kind: linear, solver: sgd, learning_rate: 0.01, alpha: 5, batch_size: 16}
  - {kind: mlp, hidden: [8], optimizer: sgd, learning_rate: 0.1, l2: 0.001, batch_size: 16}
  - {kind: linear, solver: exact, alpha: 1}
YAML
"$RT" train "$WORK/f.yaml" --quiet --output "$WORK/fs" || fail "f. sparse arithmetic failed"
"$RT" train "$WORK/f.yaml" --quiet --set "data.train=$WORK/s.csv" --set data.label_column=0 \
  --output "$WORK/fd" || fail "f. the dense CSV failed"
# close A.csv B.csv TOL: every value within TOL, and the same shape
close() {
  python3 - "$@" <<'PY'
import sys
a = [l.strip().split(',') for l in open(sys.argv[1])]
b = [l.strip().split(',') for l in open(sys.argv[2])]
tol = float(sys.argv[3])
if len(a) != len(b) or a[0] != b[0]:
    sys.exit(f"{sys.argv[1]} and {sys.argv[2]} differ in shape or header")
worst = max(abs(float(x) - float(y)) for ra, rb in zip(a[1:], b[1:]) for x, y in zip(ra, rb)
            if x != y) if any(ra != rb for ra, rb in zip(a[1:], b[1:])) else 0.0
if worst > tol:
    sys.exit(f"values differ by up to {worst:g} (tolerance {tol:g})")
PY
}
for m in 0 1 2 3 4; do
  "$RT" predict "$WORK/fs/models/$m.rtm" "$WORK/test.csv" --output "$WORK/fs$m.csv" &&
    "$RT" predict "$WORK/fd/models/$m.rtm" "$WORK/test.csv" --output "$WORK/fd$m.csv" ||
    fail "f. predict of model $m failed"
  cut -d, -f2- "$WORK/fs$m.csv" >"$WORK/fsp$m.csv"
  cut -d, -f2- "$WORK/fd$m.csv" >"$WORK/fdp$m.csv"
  [[ $m -eq 2 || $m -eq 4 ]] && cp "$WORK/fs$m.csv" "$WORK/fsp$m.csv" && cp "$WORK/fd$m.csv" "$WORK/fdp$m.csv"
  why=$(close "$WORK/fsp$m.csv" "$WORK/fdp$m.csv" 1e-5 2>&1) && pass ||
    fail "f. model $m trained on sparse rows vs dense: $why"
  cmp -s "$WORK/fs$m.csv" "$WORK/fd$m.csv" && [[ $m -ne 2 && $m -ne 4 ]] &&
    fail "f. model $m: sparse and dense predictions are the same bits (did the sparse path run?)"
  "$RT" predict "$WORK/fs/models/$m.rtm" "$WORK/test.libsvm" --output "$WORK/fl$m.csv" ||
    fail "f. predict of model $m on the LIBSVM file failed"
  why=$(close "$WORK/fl$m.csv" "$WORK/fs$m.csv" 1e-5 2>&1) && pass ||
    fail "f. predict of model $m, LIBSVM vs dense rows: $why"
done
for np in 1 2 4; do
  "$MPIRUN" "$np" "$RT" train "$WORK/f.yaml" --quiet --set data.shards=4 --output "$WORK/f$np" \
    2>"$WORK/f$np.err" || fail "f. 4 shards on $np ranks failed: $(head -c 300 "$WORK/f$np.err")"
done
same_models "$WORK/f1" "$WORK/f2" "f. sparse arithmetic, 2 ranks vs 1"
same_models "$WORK/f1" "$WORK/f4" "f. sparse arithmetic, 4 ranks vs 1"
code=0
RINGTRAIN_FAULT=term:1:5 "$MPIRUN" 2 "$RT" train "$WORK/f.yaml" --quiet --set data.shards=4 \
  --output "$WORK/ft" 2>"$WORK/ft.err" || code=$?
[[ $code -eq 75 ]] && pass || fail "f. SIGTERM: exit $code, expected 75: $(head -c 300 "$WORK/ft.err")"
"$MPIRUN" 2 "$RT" train "$WORK/f.yaml" --quiet --set data.shards=4 --resume "$WORK/ft" \
  2>"$WORK/ft.res" || fail "f. resume failed: $(head -c 300 "$WORK/ft.res")"
same_models "$WORK/f1" "$WORK/ft" "f. sparse arithmetic, stopped and resumed"

printf '1 1:0.5 3:2\n0 2:1 2:3\n' >"$WORK/bad.libsvm"
expect_run repeat 2 "bad.libsvm:2: indices must increase along a line" -- \
  "$RT" train "$WORK/a.yaml" --quiet --set "data.train=$WORK/bad.libsvm" --output "$WORK/bad"
expect_run stream 2 "LIBSVM shards are held in memory as sparse rows" -- \
  "$RT" train "$WORK/a.yaml" --quiet --set data.residency=stream --output "$WORK/st"
finish
