/* What `ringtrain check` learns before training would start, without loading the data: the data
 * headers (rt_check_probe) and the backend train would choose here (rt_check_backend_preview).
 * Both feed rt_check_run (src/config/check.c); see include/ringtrain/check.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_select.h"
#include "dataset.h"
#include "ringtrain/check.h"

/* Probes a data file and counts the rows of each of its `shards` shards into per[shards] (once,
 * as the readers cut them; out->rows is their sum); with `classes` (the training file of a run
 * that has classifiers) also scans its labels for the number of classes, as training does. */
static rt_code probe_file(const rt_config *cfg, const char *path, rt_check_file *out,
                          size_t *classes, size_t shards, uint64_t *per, rt_status *st) {
  memset(out, 0, sizeof *out);
  out->path = path;
  rt_data_options opt = {.path = path,
                         .format = cfg->data.format,
                         .label_column = -1,
                         .header = cfg->data.header,
                         .delimiter = cfg->data.delimiter};
  rt_code rc;
  RT_TRY(rc, rt_data_probe(&opt, &out->info, st));
  const int col = cfg->data.label_column < 0 ? (int)out->info.columns - 1 : cfg->data.label_column;
  opt.label_column = col;
  out->label_column = col;
  RT_TRY(rc, rt_data_probe(&opt, &out->info, st));
  RT_TRY(rc, rt_data_count_shard_rows(&opt, &out->info, shards, per, st));
  for (size_t s = 0; s < shards; ++s) out->rows += per[s];
  double lo = 0.0, hi = 0.0;
  if (classes && cfg->data.classes == 0)
    RT_TRY(rc, rt_data_label_range(&opt, &out->info, &lo, &hi, st));
  if (classes) RT_TRY(rc, rt_data_classes(path, col, lo, hi, cfg->data.classes, classes, st));
  return RT_OK;
}

/* The rows train would train on, from the training file's per-shard counts (data.shards, or one
 * per rank: one here): every shard must hold rows, less what the validation split holds out of
 * each, over the shards in use; the same rules as training's (rt_shard_rows_check,
 * rt_validation_split_rows, rt_check_train_rows). Consumes per[] (the split is subtracted). */
static rt_code count_train_rows(const rt_config *cfg, uint64_t *per, size_t shards, uint64_t *rows,
                                rt_status *st) {
  rt_code rc;
  RT_TRY(rc, rt_shard_rows_check(cfg->data.train, per, shards, 0.0, st));
  if (!cfg->data.validation[0] && cfg->data.validation_fraction > 0.0) {
    for (size_t s = 0; s < shards; ++s)
      per[s] -= rt_validation_split_rows(per[s], cfg->data.validation_fraction);
    RT_TRY(rc,
           rt_shard_rows_check(cfg->data.train, per, shards, cfg->data.validation_fraction, st));
  }
  *rows = rt_check_train_rows(cfg, per, shards);
  return RT_OK;
}

/* rt_check_probe once the training file's per-shard row counts have a buffer. */
static rt_code probe_with(const rt_config *cfg, rt_check_file *train, rt_check_file *validation,
                          rt_check_facts *facts, size_t shards, uint64_t *per, rt_status *st) {
  rt_code rc;
  RT_TRY(rc, probe_file(cfg, cfg->data.train, train,
                        rt_config_needs_classes(cfg) ? &facts->classes : NULL, shards, per, st));
  if (cfg->data.validation[0]) {
    uint64_t rows = 0;
    RT_TRY(rc, probe_file(cfg, cfg->data.validation, validation, NULL, 1, &rows, st));
    if (validation->info.features != train->info.features)
      return rt_fail(st, RT_ERR_DATA, "%s: has %zu feature columns, the training data has %zu",
                     cfg->data.validation, validation->info.features, train->info.features);
  }
  /* As training refuses it (src/data/dataset.c): a .npy by its header, a CSV by its shards. */
  if (train->info.format == RT_FORMAT_NPY && cfg->data.shards > 0 &&
      train->rows < (uint64_t)cfg->data.shards)
    return rt_fail(st, RT_ERR_DATA, "%s: fewer rows (%" PRIu64 ") than shards (%ld)",
                   cfg->data.train, train->rows, cfg->data.shards);
  facts->features = train->info.features;
  facts->shards = cfg->data.shards > 0 ? (size_t)cfg->data.shards : 0;
  /* data.residency, shard by shard as rt_dataset_load decides it on one rank. */
  facts->budget = rt_memory_budget_of(cfg->data.memory_budget, 1);
  if (train->info.format == RT_FORMAT_LIBSVM) { /* sparse rows, always in memory (CSR) */
    facts->held_bytes = train->info.nonzeros * (sizeof(uint32_t) + sizeof(float)) +
                        train->rows * (sizeof(uint64_t) + sizeof(float)) + sizeof(uint64_t);
  }
  for (size_t s = 0; train->info.format != RT_FORMAT_LIBSVM && s < shards; ++s) {
    const uint64_t bytes = per[s] * train->info.features * sizeof(float);
    if (cfg->data.residency != RT_RESIDENCY_MEMORY &&
        rt_residency_streams(cfg->data.residency, facts->budget, &facts->held_bytes, bytes)) {
      facts->streamed++;
      facts->streamed_bytes += bytes;
    } else if (cfg->data.residency == RT_RESIDENCY_MEMORY) {
      facts->held_bytes += bytes;
    }
  }
  RT_TRY(rc, count_train_rows(cfg, per, shards, &facts->train_rows, st));
  if (facts->train_rows == 0) facts->train_rows = 1;
  return RT_OK;
}

rt_code rt_check_probe(const rt_config *cfg, rt_check_file *train, rt_check_file *validation,
                       rt_check_facts *facts, rt_status *st) {
  memset(facts, 0, sizeof *facts);
  memset(validation, 0, sizeof *validation);
  validation->path = "";
  const size_t shards = cfg->data.shards > 0 ? (size_t)cfg->data.shards : 1;
  uint64_t *per = calloc(shards, sizeof *per);
  if (!per) return RT_FAIL_AT(st, RT_ERR_NOMEM, "calloc %zu row counts", shards);
  const rt_code rc = probe_with(cfg, train, validation, facts, shards, per, st);
  free(per);
  return rc;
}

rt_code rt_check_backend_preview(const rt_config *cfg, rt_check_backend *out, rt_status *st) {
  memset(out, 0, sizeof *out);
  rt_backend_choice choice;
  rt_code rc;
  RT_TRY(rc, rt_backend_preview(cfg, &choice, st));
  snprintf(out->backend, sizeof out->backend, "%s", choice.use_cuda ? "cuda" : "cpu");
  out->device = choice.device;
  snprintf(out->note, sizeof out->note, "%s", choice.note);
  return RT_OK;
}
