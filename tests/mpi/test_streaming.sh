#!/usr/bin/env bash
# Streamed shards (data.residency, data.memory_budget): the data read batch by batch from disk.
#  a. Four families (logistic, k-means++, MLP, linear sgd), a validation split, standard scaling
#     and per-pass evaluation: streamed on 1 rank, streamed on 2, and auto with a budget that holds
#     one shard of two, all give the model bytes (and metrics) of the run held in memory.
#  b. A CSV streams from its parsed-shard cache entries: cold (parsed, then streamed) and warm,
#     the bytes of the CSV held in memory; stream with data.cache: false is refused (exit 2).
#  c. A SIGTERM on 2 ranks while streaming, resumed streaming on 2 ranks and in memory on 1:
#     the uninterrupted run's bytes.
#  d. Peak (anonymous) resident memory with a budget 10x smaller than the data stays within the
#     budget and 8 MB (read-ahead, labels) above the same run on a 500-row file; held in memory
#     it is the data more (so the measurement does see the data). Not judged in sanitizer builds.
#  e. check says which shards stream and why.
source "$(dirname "$0")/../lib.sh" "$@"
GEN="$(dirname "$RT")/rt-gendata"
"$GEN" --rows 20000 --features 784 --classes 10 --seed 3 --out "$WORK/s.npy" >/dev/null
"$GEN" --rows 20000 --features 784 --classes 10 --seed 3 --csv --out "$WORK/s.csv" >/dev/null
"$GEN" --rows 500 --features 784 --classes 10 --seed 3 --out "$WORK/tiny.npy" >/dev/null
data_bytes=$((20000 * 784 * 4))
cat >"$WORK/a.yaml" <<'YAML'
data: {train: s.npy, label_column: 0, shards: 2, validation_fraction: 0.1, normalize: standard}
run: {passes: 2, seed: 5, threads: 1, eval_every_pass: true}
models:
  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 128}
  - {kind: kmeans, k: 10, batch_size: 256}
  - {kind: mlp, hidden: [16], optimizer: adam, learning_rate: 0.01, batch_size: 128}
  - {kind: linear, solver: sgd, learning_rate: 0.001, batch_size: 64}
YAML
same_results() { # REF DIR WHAT: results.csv and history.csv agree but for timings
  diff <(cut -d, -f1-9 "$1/results.csv") <(cut -d, -f1-9 "$2/results.csv") >/dev/null &&
    diff <(cut -d, -f1-6 "$1/history.csv") <(cut -d, -f1-6 "$2/history.csv") >/dev/null && pass ||
    fail "$3: results.csv or history.csv differ"
}
"$RT" train "$WORK/a.yaml" --quiet --set data.residency=memory --output "$WORK/mem" ||
  fail "a. the run held in memory failed"
"$RT" train "$WORK/a.yaml" --quiet --set data.residency=stream --output "$WORK/s1" ||
  fail "a. streamed on 1 rank failed"
same_models "$WORK/mem" "$WORK/s1" "a. streamed on 1 rank"
same_results "$WORK/mem" "$WORK/s1" "a. streamed on 1 rank"
"$MPIRUN" 2 "$RT" train "$WORK/a.yaml" --quiet --set data.residency=stream --output "$WORK/s2" ||
  fail "a. streamed on 2 ranks failed"
same_models "$WORK/mem" "$WORK/s2" "a. streamed on 2 ranks"
"$RT" train "$WORK/a.yaml" --quiet --set data.memory_budget=$((data_bytes / 2 + 1000)) \
  --output "$WORK/auto" || fail "a. auto with a one-shard budget failed"
same_models "$WORK/mem" "$WORK/auto" "a. auto, one shard of two in memory"
same_results "$WORK/mem" "$WORK/auto" "a. auto, one shard of two in memory"

csv=(--set "data.train=$WORK/s.csv")
"$RT" train "$WORK/a.yaml" --quiet "${csv[@]}" --set data.residency=memory --set data.cache=false \
  --output "$WORK/cmem" || fail "b. the CSV held in memory failed"
"$RT" train "$WORK/a.yaml" --quiet "${csv[@]}" --set data.residency=stream --output "$WORK/cold" ||
  fail "b. the CSV streamed with a cold cache failed"
same_models "$WORK/cmem" "$WORK/cold" "b. CSV streamed, cold cache"
"$RT" train "$WORK/a.yaml" --quiet "${csv[@]}" --set data.residency=stream --output "$WORK/warm" ||
  fail "b. the CSV streamed with a warm cache failed"
same_models "$WORK/cmem" "$WORK/warm" "b. CSV streamed, warm cache"
cp "$WORK/s.csv" "$WORK/nocache.csv"
expect_run nocache 2 "cannot stream shard 0: a CSV shard streams from its parsed-shard cache entry" -- \
  "$RT" train "$WORK/a.yaml" --quiet --set "data.train=$WORK/nocache.csv" --set data.cache=false \
  --set data.residency=stream --output "$WORK/nocache"

code=0
RINGTRAIN_FAULT=term:1:6 "$MPIRUN" 2 "$RT" train "$WORK/a.yaml" --quiet --set data.residency=stream \
  --output "$WORK/t" 2>"$WORK/t.err" || code=$?
[[ $code -eq 75 ]] && pass || fail "c. SIGTERM while streaming: exit $code, expected 75: $(head -c 400 "$WORK/t.err")"
cp -r "$WORK/t" "$WORK/t1"
"$MPIRUN" 2 "$RT" train "$WORK/a.yaml" --quiet --set data.residency=stream --resume "$WORK/t" \
  2>"$WORK/t.res" || fail "c. resumed streaming on 2 ranks failed: $(head -c 400 "$WORK/t.res")"
same_models "$WORK/mem" "$WORK/t" "c. stopped and resumed streaming on 2 ranks"
"$RT" train "$WORK/a.yaml" --quiet --set data.residency=memory --resume "$WORK/t1" \
  2>"$WORK/t1.res" || fail "c. resumed in memory on 1 rank failed: $(head -c 400 "$WORK/t1.res")"
same_models "$WORK/mem" "$WORK/t1" "c. stopped streaming, resumed in memory on 1 rank"

# d. Peak anonymous resident memory (KB) of one rank: RssAnon of /proc/PID/status sampled every
# 2 ms while it runs. Anonymous memory only: a CUDA build maps and touches some 200 MB of CUDA
# libraries at start, which would hide the data in the total RSS (ru_maxrss). The data held and
# the read-ahead buffers live for the whole run, so sampling sees them. No k-means here: its
# k-means++ sample (init_sample rows) is model memory of its own, held in both modes.
peak() {
  python3 -c 'import subprocess, sys, time
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
best = 0
while p.poll() is None:
    try:
        with open("/proc/%d/status" % p.pid) as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    best = max(best, int(line.split()[1]))
    except OSError:
        pass
    time.sleep(0.002)
print(best if p.returncode == 0 else -1)' "$@"
}
sed '/kmeans/d' "$WORK/a.yaml" >"$WORK/d.yaml"
budget=$((data_bytes / 10))
base=$(peak "$RT" train "$WORK/d.yaml" --quiet --set "data.train=$WORK/tiny.npy" --output "$WORK/d0")
held=$(peak "$RT" train "$WORK/d.yaml" --quiet --set data.residency=memory --output "$WORK/d1")
streamed=$(peak "$RT" train "$WORK/d.yaml" --quiet --set data.memory_budget=$budget --output "$WORK/d2")
echo "peak anonymous RSS: 500 rows ${base} KB, in memory ${held} KB, budget $((budget / 1024)) KB: ${streamed} KB"
[[ $base -gt 0 && $held -gt 0 && $streamed -gt 0 ]] && pass || fail "d. a measured run failed"
deps=$(ldd "$RT")
if [[ "$deps" == *libasan* ]]; then
  echo "d. peak memory not judged: AddressSanitizer's shadow memory and quarantine dwarf the data"
else
  ((held - base >= data_bytes * 9 / 10 / 1024)) && pass ||
    fail "d. held in memory, the peak (${held} KB) is not the data (${data_bytes} B) above ${base} KB"
  ((streamed <= base + budget / 1024 + 8192)) && pass ||
    fail "d. streamed with a budget of ${budget} B, the peak ${streamed} KB passes ${base} KB + budget + 8 MB"
fi
same_models "$WORK/d1" "$WORK/d2" "d. budget 10x smaller than the data"

out=$("$RT" check "$WORK/a.yaml" --set data.memory_budget=$((data_bytes / 2 + 1000)))
grep -q "^# residency auto (memory_budget .* per rank): 1 training shard in memory (.* MB of rows), 1 streamed (.* read batch by batch from the .npy file) because the rest would pass the budget" <<<"$out" &&
  pass || fail "e. check: $(grep residency <<<"$out")"
out=$("$RT" check "$WORK/a.yaml" --set data.residency=stream "${csv[@]}")
grep -q "^# residency stream: 0 training shards in memory (0.0 MB of rows), 2 streamed (.*their CSV cache entries.*) because data.residency is stream" <<<"$out" &&
  pass || fail "e. check: $(grep residency <<<"$out")"
finish
