#!/usr/bin/env bash
# The helpers of scripts/gpu/validate.sh (scripts/gpu/validate_lib.sh), without a GPU: the CPU vs
# CUDA comparison of results.csv files (here two CPU runs, then copies with a metric, an accuracy
# or a status changed), the batch count of a run from its model files, kernels per batch, the
# time cap, which tests need two GPUs, exit codes, and report.md / summary.json from a record.
source "$(dirname "$0")/../lib.sh" "$@"
source "$SRC/scripts/gpu/validate_lib.sh"
VL_DIR="$WORK/report" VL_WORK="$WORK/vl"
mkdir -p "$VL_DIR" "$VL_WORK"
vl_init 300

# Two runs of the same config agree; a copy with changes disagrees, naming what changed.
cat >"$WORK/c.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, validation_fraction: 0.2, shards: 4, normalize: standard}
run: {passes: 2, seed: 3}
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 64}
  - {kind: mlp, hidden: [16], activation: relu, optimizer: adam, learning_rate: 0.005, batch_size: 32}
  - {kind: kmeans, k: 10, batch_size: 128}
  - {kind: linear, solver: exact, alpha: 1.0}
YAML
"$RT" train "$WORK/c.yaml" --quiet --output "$WORK/a" || fail "training a failed"
"$RT" train "$WORK/c.yaml" --quiet --output "$WORK/b" || fail "training b failed"
out=$(vl_compare_results "$WORK/a/results.csv" "$WORK/b/results.csv" 1e-3 2) && pass || fail "identical runs disagree: $out"
[[ "$(tail -1 <<<"$out")" == "agree: 4 models, largest relative difference of a metric 0 (limit 0.001; accuracy within 2 rows)" ]] \
  && pass || fail "summary line: $(tail -1 <<<"$out")"
[[ $(grep -c '^model [0-9]' <<<"$out") -eq 4 ]] && pass || fail "expected one line per model: $out"

# edit_csv IN OUT ROW COLUMN EXPR: a copy with field COLUMN of data row ROW replaced by EXPR(x).
edit_csv() {
  awk -F, -v OFS=, -v row="$3" -v name="$4" -v mode="$5" '
    NR == 1 { for (i = 1; i <= NF; ++i) if ($i == name) c = i; print; next }
    NR == row + 1 { if (mode == "status") $c = "diverged"; else $c = sprintf("%.17g", $c * mode) }
    { print }' "$1" >"$2"
}
logloss_col=val_logloss
edit_csv "$WORK/a/results.csv" "$WORK/x1.csv" 1 "$logloss_col" 1.002
out=$(vl_compare_results "$WORK/a/results.csv" "$WORK/x1.csv" 1e-3 2) && fail "a 2e-3 change of val_logloss passed" || pass
grep -q "^model 0 logistic: .*val_logloss" <<<"$out" && grep -q '^DISAGREE' <<<"$out" && pass || fail "not named: $out"
edit_csv "$WORK/a/results.csv" "$WORK/x2.csv" 1 "$logloss_col" 1.0005
vl_compare_results "$WORK/a/results.csv" "$WORK/x2.csv" 1e-3 2 >/dev/null && pass || fail "a 5e-4 change failed"
rows=$(col "$WORK/a/results.csv" val_rows | head -1)
acc=$(col "$WORK/a/results.csv" val_accuracy | head -1)
edit_csv "$WORK/a/results.csv" "$WORK/x3.csv" 1 val_accuracy "$(awk -v a="$acc" -v r="$rows" 'BEGIN { printf "%.17g", (a - 1 / r) / a }')"
vl_compare_results "$WORK/a/results.csv" "$WORK/x3.csv" 1e-3 2 >/dev/null && pass || fail "1 row of accuracy failed"
edit_csv "$WORK/a/results.csv" "$WORK/x4.csv" 1 val_accuracy "$(awk -v a="$acc" -v r="$rows" 'BEGIN { printf "%.17g", (a - 3 / r) / a }')"
vl_compare_results "$WORK/a/results.csv" "$WORK/x4.csv" 1e-3 2 >/dev/null && fail "3 rows of accuracy passed" || pass
edit_csv "$WORK/a/results.csv" "$WORK/x5.csv" 3 status status
out=$(vl_compare_results "$WORK/a/results.csv" "$WORK/x5.csv" 1e-3 2) && fail "a diverged model passed" || pass
grep -q "status cpu ok cuda diverged" <<<"$out" && pass || fail "status not named: $out"
head -3 "$WORK/a/results.csv" >"$WORK/x6.csv"
vl_compare_results "$WORK/a/results.csv" "$WORK/x6.csv" 1e-3 2 >/dev/null && fail "a missing model passed" || pass

# Batches of a run: digits has 1797 rows; without a validation split 4 shards hold 449, 449, 449
# and 450 rows: 8 batches of 64 each, 32 per pass, for 2 passes and 2 models 128.
cat >"$WORK/n.yaml" <<YAML
data: {train: $SRC/configs/data/digits.csv, label_column: 64, shards: 4}
run: {passes: 2, seed: 3}
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 64}
  - {kind: kmeans, k: 5, batch_size: 64}
YAML
"$RT" train "$WORK/n.yaml" --quiet --output "$WORK/n" || fail "training n failed"
[[ "$(vl_run_batches "$RT" "$WORK/n")" == 128 ]] && pass || fail "batches: $(vl_run_batches "$RT" "$WORK/n")"
[[ "$(vl_per_batch 1000 1640 100 180)" == 8.00 ]] && pass || fail "per batch: $(vl_per_batch 1000 1640 100 180)"
vl_per_batch 1000 900 100 180 >/dev/null && fail "fewer kernels with more batches passed" || pass

# Which tests need 2 GPUs; exit codes; the cap.
for t in test_gpu_nccl_ring.sh test_gpu_nccl_2gpu test_gpu_multigpu_x; do
  vl_needs_multi_gpu "$t" && pass || fail "$t should need 2 GPUs"
done
for t in test_gpu_parity test_gpu_nccl test_gpu_streams test_gpu_train.sh; do
  vl_needs_multi_gpu "$t" && fail "$t should run on 1 GPU" || pass
done
[[ "$(vl_status_of 0) $(vl_status_of 77) $(vl_status_of 1) $(vl_status_of 124) $(vl_status_of 137)" == \
   "PASSED FAILED FAILED INCOMPLETE INCOMPLETE" ]] && pass || fail "vl_status_of"
c=$(vl_cap 60)
[[ $c -eq 60 ]] && pass || fail "cap with the budget ahead: $c"
VL_DEADLINE=$(($(date +%s) + 20))
[[ "$(vl_cap 60)" -le 15 ]] && pass || fail "cap near the deadline: $(vl_cap 60)"
VL_DEADLINE=$(($(date +%s) - 5))
[[ "$(vl_cap 60)" -eq 0 ]] && pass || fail "cap past the deadline: $(vl_cap 60)"
VL_DEADLINE=$((VL_START + 300))

json='{"driver_cuda":"13.0","device_count":2,"devices":[{"index":0,"name":"NVIDIA H200","memory_total_mib":143771}],"copy":{"gbs":4012.5}}'
[[ "$(vl_json_get "$json" name)|$(vl_json_get "$json" device_count)|$(vl_json_get "$json" driver_cuda)" == \
   "NVIDIA H200|2|13.0" ]] && pass || fail "vl_json_get"
[[ "$(vl_json_get "$(tail -1 "$WORK/n/results.jsonl")" backend)" == cpu ]] && pass || fail "results.jsonl backend"

# The report and the JSON from a record.
vl_fact host testhost
vl_fact bundle "abc123 (today)"
vl_fact device_line "NVIDIA H200 x 1"
vl_fact device_json "$json"
vl_fact copy_gbs 4012.5
vl_record device "device query" PASSED 1.5 "NVIDIA H200"
vl_record tests "test_gpu_nccl_ring.sh" "NOT RUN" 0 "needs 2 or more GPUs: 1 visible"
[[ $(vl_exit_code) -eq 0 ]] && pass || fail "exit code with passes only: $(vl_exit_code)"
vl_record sanitizer "racecheck test_gpu_parity" INCOMPLETE 70 "not finished"
[[ $(vl_exit_code) -eq 3 ]] && pass || fail "exit code with an incomplete check: $(vl_exit_code)"
vl_record tests "test_gpu_parity" FAILED 2.5 $'a "quoted" | piped\tline\nand more'
[[ $(vl_exit_code) -eq 1 ]] && pass || fail "exit code with a failure: $(vl_exit_code)"
vl_throughput softmax16 60000 16 3 0.812 3.546e+06 0.42 - ""
vl_throughput kmeans 60000 8 3 0.5 2.9e+06 0.1 - "1 models not ok (diverged)"
vl_set_launches softmax16 9.00
vl_fact kernels_note "kmeans: not measured: libcupti not found (env.sh)"
vl_write_report
r="$VL_DIR/report.md"
head -1 "$r" | grep -q '^# ringtrain GPU validation: FAILED (1 of 4 checks failed, 1 passed)$' && pass \
  || fail "verdict line: $(head -1 "$r")"
grep -qF '| tests | test_gpu_parity | **FAILED** | 2.5 | a "quoted" \| piped line and more |' "$r" && pass \
  || fail "escaped row missing: $(grep test_gpu_parity "$r")"
grep -qF '| softmax16 | 60000 | 16 | 3 | 0.812 | 3.546e+06 | 0.42 | 9.00 |  |' "$r" && pass || fail "throughput row"
grep -qF -- '- kmeans: not measured: libcupti not found (env.sh)' "$r" && pass || fail "kernels note"
grep -q 'exit status: 1' "$r" && pass || fail "exit status line"
if command -v python3 >/dev/null 2>&1; then
  python3 - "$VL_DIR/summary.json" <<'PY' && pass || fail "summary.json: $(cat "$VL_DIR/summary.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["exit_code"] == 1 and s["verdict"].startswith("FAILED")
assert s["device"]["devices"][0]["name"] == "NVIDIA H200" and s["copy_gbs"] == 4012.5
assert [c["status"] for c in s["checks"]] == ["PASSED", "NOT RUN", "INCOMPLETE", "FAILED"]
assert s["checks"][3]["detail"] == 'a "quoted" | piped line and more'
assert s["throughput"][0]["kernels_per_batch"] == 9.0 and s["throughput"][1]["kernels_per_batch"] is None
PY
fi
[[ $(find "$VL_DIR" -type f | wc -l) -eq 2 ]] && pass || fail "report folder: $(ls "$VL_DIR")"
budget_line=$(VL_WORK="$WORK/vl2" bash -c 'source "$1"; mkdir -p "$VL_WORK"; vl_init 10; vl_record t x PASSED 1 ok;
  vl_record t y INCOMPLETE 0 "not started"; vl_exit_code; vl_verdict' _ "$SRC/scripts/gpu/validate_lib.sh")
[[ "$budget_line" == $'3\nINCOMPLETE (1 of 2 checks stopped by the time budget, 1 passed)' ]] && pass \
  || fail "a check the budget stopped: $budget_line"
finish
