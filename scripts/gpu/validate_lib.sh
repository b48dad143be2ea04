# Helpers of scripts/gpu/validate.sh: the record of checks and measurements, the time budget, the
# comparisons, and report.md / summary.json. Sourced (bash); only awk, sed, grep and coreutils.
# tests/cli/test_validate_lib.sh exercises them without a GPU.
#
# State (set by the caller before vl_init): VL_DIR (report folder), VL_WORK (scratch folder).
# Records, one line each, tab-separated:
#   $VL_WORK/checks.tsv      group, name, status, seconds, detail
#   $VL_WORK/throughput.tsv  workload, rows, models, passes, train_s, samples_per_s,
#                            floor_fraction, launches_per_batch, note
# status: PASSED, FAILED, NOT RUN (the detail says why: 1 GPU, no tool), INCOMPLETE (stopped by
# the time budget, or not started for want of time).

vl_init() { # BUDGET_SECONDS
  VL_START=$(date +%s)
  VL_DEADLINE=$((VL_START + $1))
  VL_BUDGET=$1
  : >"$VL_WORK/checks.tsv"
  : >"$VL_WORK/throughput.tsv"
  : >"$VL_WORK/facts.tsv"
}

vl_now() { date +%s.%N; }
vl_elapsed() { awk -v a="$1" -v b="$(vl_now)" 'BEGIN { printf "%.1f", b - a }'; }

# Seconds a step may take: CAP, or less when the budget runs out (0: nothing left). RESERVE
# seconds are kept for what follows (the report).
vl_cap() { # CAP [RESERVE]
  local left=$((VL_DEADLINE - $(date +%s) - ${2:-5}))
  ((left < 0)) && left=0
  echo $(($1 < left ? $1 : left))
}

# One line of text for a TSV field or a table cell: tabs and newlines become spaces.
vl_oneline() { tr '\t\n\r' '   ' <<<"$1" | sed 's/  */ /g; s/^ //; s/ $//'; }

vl_record() { # GROUP NAME STATUS SECONDS DETAIL
  printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$(vl_oneline "$5")" >>"$VL_WORK/checks.tsv"
}
# A fact for the report header and the JSON (device name, versions, ...).
vl_fact() { # KEY VALUE
  printf '%s\t%s\n' "$1" "$(vl_oneline "$2")" >>"$VL_WORK/facts.tsv"
}
vl_get_fact() { awk -F'\t' -v k="$1" '$1 == k { v = $2 } END { print v }' "$VL_WORK/facts.tsv"; }
vl_throughput() { # WORKLOAD ROWS MODELS PASSES TRAIN_S SAMPLES_PER_S FLOOR_FRACTION LAUNCHES NOTE
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" \
    "$(vl_oneline "$9")" >>"$VL_WORK/throughput.tsv"
}

# Kernels per batch of a workload, measured after its throughput rows were recorded.
vl_set_launches() { # WORKLOAD VALUE
  awk -F'\t' -v OFS='\t' -v w="$1" -v v="$2" '$1 == w { $8 = v } { print }' \
    "$VL_WORK/throughput.tsv" >"$VL_WORK/throughput.tsv.tmp" && mv "$VL_WORK/throughput.tsv.tmp" "$VL_WORK/throughput.tsv"
}

# Tests that need two or more GPUs say so by name; on one GPU they are listed as not run.
vl_needs_multi_gpu() { # NAME
  case "$1" in
    *nccl_ring*|*2gpu*|*multigpu*|*multi_gpu*) return 0 ;;
  esac
  return 1
}

# Exit code of a finished run of a check: PASSED, FAILED or INCOMPLETE (timeout's 124/137).
vl_status_of() { # EXIT_CODE
  case "$1" in
    0) echo PASSED ;;
    124|137) echo INCOMPLETE ;;
    *) echo FAILED ;;
  esac
}

# The first value of "KEY": in a flat JSON text (numbers and strings; as rt-gpu-query and
# results.jsonl write them).
vl_json_get() { # JSON KEY
  sed -n "s/.*\"$2\": *\\(\"[^\"]*\"\\|[^,}]*\\).*/\\1/p" <<<"$1" | head -1 | tr -d '"'
}

# JSON string literal of TEXT.
vl_json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\t'/ }
  s=${s//$'\n'/ }
  s=${s//$'\r'/ }
  printf '"%s"' "$s"
}

# Compares two results.csv files of the same config (CPU and CUDA): the same models, every status
# ok on both, every validation metric within REL relative (plus 1e-9 absolute) except
# val_accuracy, which may differ by ACC_ROWS validation rows. Prints one line per model with its
# largest relative difference, then a summary line; exit 0 when everything agrees.
vl_compare_results() { # CPU_CSV CUDA_CSV REL ACC_ROWS
  awk -F, -v rel="$3" -v accrows="$4" '
    function abs(x) { return x < 0 ? -x : x }
    FNR == 1 { for (i = 1; i <= NF; ++i) col[FILENAME, $i] = i; header[FILENAME] = $0; nf[FILENAME] = NF
               if (!first) first = FILENAME; else second = FILENAME; next }
    { rows[FILENAME] = FNR - 1; line[FILENAME, FNR - 1] = $0 }
    END {
      bad = 0
      if (rows[first] != rows[second] || rows[first] == 0) {
        printf "model count differs: %d on the CPU, %d on CUDA\n", rows[first], rows[second]; exit 1 }
      split(header[first], names, ",")
      worst_all = 0
      for (r = 1; r <= rows[first]; ++r) {
        na = split(line[first, r], a, ","); nb = split(line[second, r], b, ",")
        id = a[col[first, "id"]]; kind = a[col[first, "kind"]]
        sa = a[col[first, "status"]]; sb = b[col[second, "status"]]
        note = ""; worst = 0; worstkey = "-"
        if (b[col[second, "id"]] != id) { note = note " id differs (" b[col[second, "id"]] ")"; bad = 1 }
        if (sa != "ok" || sb != "ok") { note = note " status cpu " sa " cuda " sb; bad = 1 }
        vrows = a[col[first, "val_rows"]] + 0
        for (i = 1; i <= nf[first]; ++i) {
          key = names[i]
          if (key !~ /^val_/ || key == "val_rows" || a[i] == "") continue
          j = col[second, key]
          if (!j || b[j] == "") { note = note " " key " missing on CUDA"; bad = 1; continue }
          x = a[i] + 0; y = b[j] + 0; d = abs(x - y)
          if (key == "val_accuracy") {
            lim = (vrows > 0 ? accrows / vrows : 0); r_d = d
            if (d > lim + 1e-12) { note = note sprintf(" %s %.6g vs %.6g (> %d rows)", key, x, y, accrows); bad = 1 }
          } else {
            r_d = d / (abs(x) > 1e-300 ? abs(x) : 1)
            if (d > rel * abs(x) + 1e-9) { note = note sprintf(" %s %.8g vs %.8g (rel %.2g)", key, x, y, r_d); bad = 1 }
          }
          if (key != "val_accuracy" && r_d > worst) { worst = r_d; worstkey = key }
        }
        if (worst > worst_all) worst_all = worst
        printf "model %s %s: largest relative difference %.3g (%s)%s\n", id, kind, worst, worstkey,
               note == "" ? "" : ";" note
      }
      printf "%s: %d models, largest relative difference of a metric %.3g (limit %g; accuracy within %d rows)\n",
             bad ? "DISAGREE" : "agree", rows[first], worst_all, rel, accrows
      exit bad
    }' "$1" "$2"
}

# Sum of optimizer_steps (batches) over the model files of a run directory.
vl_run_batches() { # RINGTRAIN RUN_DIR
  local m total=0 s
  for m in "$2"/models/*.rtm; do
    s=$("$1" inspect "$m" | sed -n 's/^ *optimizer_steps=//p')
    [[ "$s" =~ ^[0-9]+$ ]] || return 1
    total=$((total + s))
  done
  echo "$total"
}

# Kernels per batch from two counted runs of one config with P and P+1 passes: what the extra
# pass launched over the batches it added (set-up and evaluation cancel out).
vl_per_batch() { # COUNT_SHORT COUNT_LONG BATCHES_SHORT BATCHES_LONG
  awk -v k1="$1" -v k2="$2" -v b1="$3" -v b2="$4" \
    'BEGIN { if (b2 <= b1 || k2 < k1) exit 1; printf "%.2f", (k2 - k1) / (b2 - b1) }'
}

# Exit status from the record: 1 when a check failed, 3 when none failed but one was stopped by
# the time budget, else 0.
vl_exit_code() {
  if awk -F'\t' '$3 == "FAILED" { f = 1 } END { exit !f }' "$VL_WORK/checks.tsv"; then echo 1
  elif awk -F'\t' '$3 == "INCOMPLETE" { f = 1 } END { exit !f }' "$VL_WORK/checks.tsv"; then echo 3
  else echo 0; fi
}

vl_verdict() {
  local failed incomplete passed total
  failed=$(awk -F'\t' '$3 == "FAILED"' "$VL_WORK/checks.tsv" | wc -l)
  incomplete=$(awk -F'\t' '$3 == "INCOMPLETE"' "$VL_WORK/checks.tsv" | wc -l)
  passed=$(awk -F'\t' '$3 == "PASSED"' "$VL_WORK/checks.tsv" | wc -l)
  total=$(wc -l <"$VL_WORK/checks.tsv")
  if ((failed > 0)); then echo "FAILED ($failed of $total checks failed, $passed passed)"
  elif ((incomplete > 0)); then echo "INCOMPLETE ($incomplete of $total checks stopped by the time budget, $passed passed)"
  elif ((passed == 0)); then echo "NOTHING PASSED ($total checks)"
  else echo "PASSED ($passed of $total checks passed, the others not run, see below)"; fi
}

# Markdown table cell.
vl_md() { sed 's/|/\\|/g' <<<"$1"; }

vl_write_report() { # [NOTE]: writes $VL_DIR/report.md (rewritten after every stage)
  local out="$VL_DIR/report.md.tmp" exit_code
  exit_code=$(vl_exit_code)
  {
    echo "# ringtrain GPU validation: $(vl_verdict)"
    echo
    echo "- date: $(date -u -d "@$VL_START" '+%Y-%m-%d %H:%M:%S UTC'); host: $(vl_get_fact host);" \
         "$(awk -v s="$VL_START" -v n="$(date +%s)" 'BEGIN { print n - s }') s of the ${VL_BUDGET} s budget"
    echo "- bundle: $(vl_get_fact bundle)"
    echo "- device: $(vl_get_fact device_line)"
    [[ -z "$(vl_get_fact host_cpu)" ]] || echo "- host CPU: $(vl_get_fact host_cpu)"
    echo "- exit status: $exit_code (0 every check that ran passed; 1 a check failed; 3 the time" \
         "budget stopped a check; 2 usage)"
    [[ -z "${1:-}" ]] || echo "- note: $1"
    echo
    echo "## Checks"
    echo
    echo "| group | check | result | seconds | detail |"
    echo "|---|---|---|---:|---|"
    while IFS=$'\t' read -r group name status seconds detail; do
      echo "| $group | $(vl_md "$name") | **$status** | $seconds | $(vl_md "$detail") |"
    done <"$VL_WORK/checks.tsv"
    if [[ -s "$VL_WORK/throughput.tsv" ]]; then
      echo
      echo "## Throughput (run.backend cuda, 1 rank, device 0)"
      echo
      echo "| workload | rows | models | passes | train s | model-samples/s | fraction of the memory floor | kernels per batch | note |"
      echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
      while IFS=$'\t' read -r w rows models passes secs sps floor launches note; do
        echo "| $w | $rows | $models | $passes | $secs | $sps | $floor | $launches | $(vl_md "$note") |"
      done <"$VL_WORK/throughput.tsv"
      echo
      echo "train s: train_wall_seconds of results.jsonl: data loading excluded, the device set-up"
      echo "(shard upload, a stream and slot per model) and the final evaluation included,"
      echo "which weighs on the short 60,000-row runs. model-samples/s:"
      echo "models x passes x rows / train s. Memory floor: every model reads every training row's"
      echo "784 float32 features once per pass at the device-to-device copy bandwidth measured in this"
      echo "run ($(vl_get_fact copy_gbs) GB/s, read + write bytes); the fraction is floor time / train s"
      echo "(1.0 = at the floor). Kernels per batch: CUPTI kernel records of a run with one pass more,"
      echo "minus one with one pass less, over the batches the extra pass added (60,000 rows)."
      if grep -q '^kernels_note' "$VL_WORK/facts.tsv"; then
        echo
        echo "Kernels per batch not measured:"
        awk -F'\t' '$1 == "kernels_note" { print "- " $2 }' "$VL_WORK/facts.tsv"
      fi
    fi
    echo
    echo "## Files"
    echo
    echo "report.md (this file), summary.json (the same, for machines), device.log (env.sh and the"
    echo "device query), tests.log (gpu test binaries and scripts), training.log (CPU vs CUDA,"
    echo "determinism, ranks), throughput.log (the products' check and the timed runs),"
    echo "sanitizer.log."
  } >"$out"
  mv "$out" "$VL_DIR/report.md"
  vl_write_json "$exit_code"
}

vl_write_json() { # EXIT_CODE
  local out="$VL_DIR/summary.json.tmp" first=1 device
  device=$(vl_get_fact device_json)
  [[ -n "$device" ]] || device=null
  {
    printf '{"verdict":%s,"exit_code":%s,"started_utc":%s,"seconds":%s,"budget_seconds":%s,' \
      "$(vl_json_string "$(vl_verdict)")" "$1" \
      "$(vl_json_string "$(date -u -d "@$VL_START" '+%Y-%m-%dT%H:%M:%SZ')")" \
      "$(($(date +%s) - VL_START))" "$VL_BUDGET"
    printf '"host":%s,"bundle":%s,"device":%s,"copy_gbs":%s,"checks":[' \
      "$(vl_json_string "$(vl_get_fact host)")" "$(vl_json_string "$(vl_get_fact bundle)")" \
      "$device" "$(vl_get_fact copy_gbs | sed 's/^$/null/')"
    while IFS=$'\t' read -r group name status seconds detail; do
      ((first)) || printf ','
      first=0
      printf '{"group":%s,"name":%s,"status":%s,"seconds":%s,"detail":%s}' \
        "$(vl_json_string "$group")" "$(vl_json_string "$name")" "$(vl_json_string "$status")" \
        "$(vl_json_number "$seconds")" "$(vl_json_string "$detail")"
    done <"$VL_WORK/checks.tsv"
    printf '],"throughput":['
    first=1
    while IFS=$'\t' read -r w rows models passes secs sps floor launches note; do
      ((first)) || printf ','
      first=0
      printf '{"workload":%s,"rows":%s,"models":%s,"passes":%s,"train_seconds":%s,' \
        "$(vl_json_string "$w")" "$(vl_json_number "$rows")" "$(vl_json_number "$models")" \
        "$(vl_json_number "$passes")" "$(vl_json_number "$secs")"
      printf '"model_samples_per_second":%s,"memory_floor_fraction":%s,"kernels_per_batch":%s,"note":%s}' \
        "$(vl_json_number "$sps")" "$(vl_json_number "$floor")" "$(vl_json_number "$launches")" \
        "$(vl_json_string "$note")"
    done <"$VL_WORK/throughput.tsv"
    printf ']}\n'
  } >"$out"
  mv "$out" "$VL_DIR/summary.json"
}

# A JSON number, or null for anything that is not one ("-", "not measured").
vl_json_number() {
  if [[ "$1" =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; then printf '%s' "$1"; else printf 'null'; fi
}
