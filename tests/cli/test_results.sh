#!/usr/bin/env bash
# ringtrain results RUN_DIR: the ranking of a finished run read back from its results.csv
# (default metric, --sort, --top, --json) and its errors (missing directory or file, malformed
# CSV with the line number, unknown sort column).
source "$(dirname "$0")/../lib.sh" "$@"
DIGITS="$SRC/configs/data/digits.csv"

cat >"$WORK/c.yaml" <<YAML
data: {train: $DIGITS, label_column: 64, validation_fraction: 0.2}
run: {passes: 2, seed: 5, output: $WORK/run}
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.001, batch_size: 32}
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 32}
  - {kind: logistic, optimizer: adam, learning_rate: 0.1, batch_size: 32}
  - {kind: logistic, optimizer: sgd, learning_rate: 0.5, batch_size: 64}
  - {kind: kmeans, k: 10, batch_size: 64}
YAML
"$RT" train "$WORK/c.yaml" --quiet && pass || fail "train exit code"
CSV="$WORK/run/results.csv"
grep -q "results RUN_DIR" <<<"$("$RT" --help)" && pass || fail "--help does not list results"
grep -q -- "--sort METRIC" <<<"$("$RT" results --help)" && pass || fail "results --help"

# The expected order, computed from results.csv independently: ids of the logistic models by
# val_logloss ascending (ties by id), then the kmeans model (no val_logloss) last.
expected_order() { # COLUMN asc|desc
  python3 - "$CSV" "$1" "$2" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
col, desc = sys.argv[2], sys.argv[3] == "desc"
have = [r for r in rows if r[col] != ""]
have.sort(key=lambda r: ((-1 if desc else 1) * float(r[col]), int(r["id"])))
print(" ".join(r["id"] for r in have + [r for r in rows if r[col] == ""]))
PY
}
# The ids of the table rows (lines that do not start with '#').
table_ids() { awk '!/^#/ { printf "%s%s", sep, $2; sep = " " } END { print "" }'; }

"$RT" results "$WORK/run" >"$WORK/default.out" && pass || fail "results exit code"
want=$(expected_order val_logloss asc)
got=$(table_ids <"$WORK/default.out")
[[ "$got" == "$want" ]] && pass || fail "default order '$got', expected by val_logloss '$want'"
[[ "${got##* }" == 4 ]] && pass || fail "the kmeans model (no val_logloss) is not last: '$got'"
grep -q "^#rank *id kind *status *val_logloss val_accuracy" "$WORK/default.out" && pass \
  || fail "table header: $(grep '^#rank' "$WORK/default.out")"
best=${want%% *}
best_value=$(awk -F, -v id="$best" 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "val_logloss") c = i; next }
                                      $1 == id { print $c }' "$CSV")
[[ "$(tail -n 1 "$WORK/default.out")" == "# best: model $best (val_logloss=$best_value)" ]] && pass \
  || fail "best line: '$(tail -n 1 "$WORK/default.out")', expected model $best ($best_value)"
grep -q "adam lr=0.01 batch=32" "$WORK/default.out" && pass || fail "no hyper-parameter text for logistic"
grep -q "k=10 batch=64" "$WORK/default.out" && pass || fail "no hyper-parameter text for kmeans"
# Every logistic model's metric as printed agrees with results.csv (6 significant digits).
python3 - "$CSV" "$WORK/default.out" <<'PY' && pass || fail "printed metrics differ from results.csv"
import csv, sys
rows = {r["id"]: r for r in csv.DictReader(open(sys.argv[1]))}
for line in open(sys.argv[2]):
    if line.startswith("#"):
        continue
    f = line.split()
    rank, mid, kind, status, logloss = f[:5]
    r = rows[mid]
    assert status == r["status"] and kind == r["kind"], line
    if r["val_logloss"]:
        assert abs(float(logloss) - float(r["val_logloss"])) <= 1e-5 * abs(float(r["val_logloss"])), line
    else:
        assert logloss == "-", line
PY

# --sort accuracy: descending (higher is better), with or without the val_ prefix.
want=$(expected_order val_accuracy desc)
got=$("$RT" results "$WORK/run" --sort accuracy | table_ids)
[[ "$got" == "$want" ]] && pass || fail "--sort accuracy order '$got', expected '$want'"
got=$("$RT" results "$WORK/run" --sort val_accuracy | table_ids)
[[ "$got" == "$want" ]] && pass || fail "--sort val_accuracy order '$got', expected '$want'"
grep -q "higher is better" <<<"$("$RT" results "$WORK/run" --sort accuracy)" && pass || fail "accuracy not higher-is-better"
want=$(expected_order train_loss asc)
got=$("$RT" results "$WORK/run" --sort train_loss | table_ids)
[[ "$got" == "$want" ]] && pass || fail "--sort train_loss order '$got', expected '$want'"
got=$("$RT" results "$WORK/run" --sort inertia | table_ids)
[[ "$got" == "4 0 1 2 3" ]] && pass || fail "--sort inertia: kmeans first, the rest by id; got '$got'"

# --top N
[[ $("$RT" results "$WORK/run" --top 2 | grep -vc '^#') -eq 2 ]] && pass || fail "--top 2 does not print 2 rows"
[[ $("$RT" results "$WORK/run" --top 0 | grep -vc '^#') -eq 5 ]] && pass || fail "--top 0 does not print all rows"
[[ $("$RT" results "$WORK/run" --top 1 --sort accuracy | table_ids) == "$(expected_order val_accuracy desc | cut -d' ' -f1)" ]] \
  && pass || fail "--top 1 --sort accuracy"

# --json: one JSON array, ranked, --top applied, typed values.
"$RT" results "$WORK/run" --json >"$WORK/all.json" && pass || fail "--json exit code"
"$RT" results "$WORK/run" --json --top 3 --sort accuracy >"$WORK/top3.json" && pass || fail "--json --top exit code"
python3 - "$WORK/all.json" "$WORK/top3.json" "$(expected_order val_logloss asc)" \
  "$(expected_order val_accuracy desc)" <<'PY' && pass || fail "--json output"
import json, sys
rows = json.load(open(sys.argv[1]))
top3 = json.load(open(sys.argv[2]))
assert isinstance(rows, list) and len(rows) == 5, len(rows)
assert [str(r["id"]) for r in rows] == sys.argv[3].split(), rows
assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
assert len(top3) == 3 and [str(r["id"]) for r in top3] == sys.argv[4].split()[:3], top3
r = rows[0]
assert r["kind"] == "logistic" and r["status"] == "ok" and isinstance(r["val_logloss"], float)
assert r["val_inertia"] is None and r["hidden"] == [64] and r["model_file"].startswith("models/")
assert rows[-1]["kind"] == "kmeans" and rows[-1]["val_logloss"] is None and rows[-1]["k"] == 10
PY
grep -q '^#' <<<"$("$RT" results "$WORK/run" --json)" && fail "--json output has comment lines" || pass

# A diverged model (empty metrics) ranks last under any metric.
sed -e "s#output: $WORK/run#output: $WORK/div#" \
  -e '0,/optimizer: adam, learning_rate: 0.001/s//optimizer: sgd, learning_rate: 1e38/' "$WORK/c.yaml" >"$WORK/div.yaml"
"$RT" train "$WORK/div.yaml" --quiet && pass || fail "diverging run"
got=$("$RT" results "$WORK/div" --sort accuracy --top 4 | awk '!/^#/ { print $2, $4 }' | tail -n 1)
[[ "$got" == "0 diverged" ]] && pass || fail "diverged model not last among the logistic models: '$got'"

# Errors: exit 2, one error line naming the file (and the line for malformed rows).
expect_run missing-dir 2 "$WORK/nope/results.csv" -- "$RT" results "$WORK/nope"
mkdir "$WORK/empty"
expect_run missing-file 2 "$WORK/empty/results.csv: cannot open" -- "$RT" results "$WORK/empty"
mkdir "$WORK/bad"
awk -F, -v OFS=, 'NR == 4 { NF = NF - 1 } { print }' "$CSV" >"$WORK/bad/results.csv"
fields=$(head -n 1 "$CSV" | awk -F, '{ print NF }')
expect_run short-row 2 "$WORK/bad/results.csv:4: expected $fields fields, found $((fields - 1))" -- \
  "$RT" results "$WORK/bad"
awk 'NR == 3 { $0 = $0 ",x" } { print }' "$CSV" >"$WORK/bad/results.csv"
expect_run long-row 2 "$WORK/bad/results.csv:3: expected $fields fields, found $((fields + 1))" -- \
  "$RT" results "$WORK/bad"
awk -F, -v OFS=, 'NR == 1 { for (i = 1; i <= NF; ++i) if ($i == "train_loss") c = i } NR == 5 { $c = "oops" } { print }' \
  "$CSV" >"$WORK/bad/results.csv"
expect_run not-a-number 2 "$WORK/bad/results.csv:5: column train_loss: 'oops' is not a number" -- \
  "$RT" results "$WORK/bad"
sed '2s/logistic/"logistic"/' "$CSV" >"$WORK/bad/results.csv"
expect_run quoted 2 "$WORK/bad/results.csv:2: quoted" -- "$RT" results "$WORK/bad"
: >"$WORK/bad/results.csv"
expect_run empty-file 2 "$WORK/bad/results.csv: empty file" -- "$RT" results "$WORK/bad"
expect_run unknown-sort 2 "no column 'bogus' to sort by (available: train_loss, val_logloss, val_accuracy" -- \
  "$RT" results "$WORK/run" --sort bogus
expect_run sort-not-metric 2 "no column 'kind' to sort by" -- "$RT" results "$WORK/run" --sort kind
expect_run bad-top 2 "--top expects an integer" -- "$RT" results "$WORK/run" --top -1
expect_run no-dir-arg 2 "expected RUN_DIR" -- "$RT" results
expect_run extra-arg 2 "unexpected argument" -- "$RT" results "$WORK/run" "$WORK/run"
finish
