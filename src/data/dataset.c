/* The shards a rank owns (dataset.h): probing the data files, reading the owned train and
 * validation shards, the global row counts and label checks agreed across ranks, and the
 * file:line location of a bad row for error messages. */
#include "dataset.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "schedule.h"

static int blank_line(const char *s) {
  for (; *s; ++s)
    if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return 0;
  return 1;
}

void rt_shard_row_location(const rt_data_options *opt, const rt_data_info *info, const rt_shard *sh,
                           size_t row, char *buf, size_t cap) {
  if (info->format == RT_FORMAT_NPY) {
    snprintf(buf, cap, "row %" PRIu64 " (0-based)", sh->first_row + row);
    return;
  }
  /* CSV, error path only: count lines from the start of the file to the shard, then rows. */
  snprintf(buf, cap, "data row %zu of the shard starting at byte %" PRIu64, row + 1, sh->first_row);
  FILE *f = fopen(opt->path, "rb");
  if (!f) return;
  uint64_t line = 1, offset = 0;
  int c;
  while (offset < sh->first_row && (c = fgetc(f)) != EOF) {
    ++offset;
    if (c == '\n') ++line;
  }
  char text[1 << 16];
  size_t seen = 0;
  while (fgets(text, sizeof text, f)) {
    size_t len = strlen(text);
    int complete = len > 0 && text[len - 1] == '\n';
    if (!blank_line(text)) {
      if (seen == row) {
        snprintf(buf, cap, "line %" PRIu64, line);
        break;
      }
      ++seen;
    }
    if (complete) ++line;
  }
  fclose(f);
}

rt_code rt_labels_check(const rt_data_options *opt, const rt_data_info *info, const rt_shard *sh,
                        size_t classes, rt_status *st) {
  if (!sh->y) return RT_OK;
  for (size_t i = 0; i < sh->rows; ++i) {
    const float v = sh->y[i];
    const int integral = v >= 0.0f && floorf(v) == v && v < 16777216.0f;
    if (integral && (classes == 0 || (size_t)v < classes)) continue;
    char where[128];
    rt_shard_row_location(opt, info, sh, i, where, sizeof where);
    if (!integral)
      return rt_fail(st, RT_ERR_DATA, "%s: %s: class label %g is not a non-negative integer",
                     opt->path, where, (double)v);
    return rt_fail(st, RT_ERR_DATA, "%s: %s: class label %g out of range (expected 0..%zu)",
                   opt->path, where, (double)v, classes - 1);
  }
  return RT_OK;
}

static int owns(const rt_dataset *ds, size_t s) {
  return rt_shard_owner(s, ds->shards, ds->ranks) == ds->rank;
}

static rt_code probe(const rt_config *cfg, const char *path, int label_column_cfg,
                     rt_data_options *opt, rt_data_info *info, int *label_column, rt_status *st) {
  memset(opt, 0, sizeof *opt);
  opt->path = path;
  opt->format = cfg->data.format;
  opt->header = cfg->data.header;
  opt->delimiter = cfg->data.delimiter;
  opt->cache = cfg->data.cache;
  opt->label_column = -1;
  rt_code rc;
  RT_TRY(rc, rt_data_probe(opt, info, st));
  /* -1 in the config means the last column; the reader itself checks the range. */
  const int col = label_column_cfg < 0 ? (int)info->columns - 1 : label_column_cfg;
  opt->label_column = col;
  *label_column = col;
  return rt_data_probe(opt, info, st);
}

/* Reads this rank's shards of one file and checks labels are non-negative integers. */
static rt_code read_owned(rt_dataset *ds, const rt_data_options *opt, const rt_data_info *info,
                          int need_classes, rt_shard *out, rt_status *st) {
  for (size_t s = 0; s < ds->shards; ++s) {
    if (!owns(ds, s)) continue;
    rt_code rc;
    RT_TRY(rc, rt_data_read_shard(opt, info, s, ds->shards, &out[s], st));
    if (need_classes) RT_TRY(rc, rt_labels_check(opt, info, &out[s], 0, st));
  }
  return RT_OK;
}

/* The smallest and largest label over every rank's shards. */
static rt_code label_range(const rt_dataset *ds, const rt_shard *sh, MPI_Comm comm, double *lo,
                           double *hi, rt_status *st) {
  double local[2] = {-INFINITY, -INFINITY}, all[2]; /* {-min, max}: one MPI_MAX */
  for (size_t s = 0; s < ds->shards; ++s)
    for (size_t i = 0; i < sh[s].rows; ++i) {
      if (-sh[s].y[i] > local[0]) local[0] = -sh[s].y[i];
      if (sh[s].y[i] > local[1]) local[1] = sh[s].y[i];
    }
  RT_MPI_CHECK(st, MPI_Allreduce(local, all, 2, MPI_DOUBLE, MPI_MAX, comm));
  *lo = -all[0];
  *hi = all[1];
  return RT_OK;
}

static rt_code global_rows(const rt_dataset *ds, const rt_shard *sh, uint64_t *rows, MPI_Comm comm,
                           rt_status *st) {
  uint64_t *local = calloc(ds->shards, sizeof *local);
  if (!local) return RT_FAIL_AT(st, RT_ERR_NOMEM, "calloc %zu row counts", ds->shards);
  for (size_t s = 0; s < ds->shards; ++s) local[s] = sh[s].rows;
  int rc = MPI_Allreduce(local, rows, (int)ds->shards, MPI_UINT64_T, MPI_SUM, comm);
  free(local);
  if (rc != MPI_SUCCESS) return rt_mpi_fail(st, rc, __FILE__, __LINE__, "MPI_Allreduce(rows)");
  return RT_OK;
}

static rt_code check_labels_against(rt_dataset *ds, const rt_data_options *opt,
                                    const rt_data_info *info, const rt_shard *sh, rt_status *st) {
  for (size_t s = 0; s < ds->shards; ++s) {
    rt_code rc;
    RT_TRY(rc, rt_labels_check(opt, info, &sh[s], ds->classes, st));
  }
  return RT_OK;
}

/* Steps that may fail on one rank only end in rt_agree so every rank leaves together. */
rt_code rt_dataset_load(const rt_config *cfg, int need_classes, MPI_Comm comm, rt_dataset *ds,
                        rt_status *st) {
  memset(ds, 0, sizeof *ds);
  RT_MPI_CHECK(st, MPI_Comm_rank(comm, &ds->rank));
  RT_MPI_CHECK(st, MPI_Comm_size(comm, &ds->ranks));
  ds->shards = cfg->data.shards > 0 ? (size_t)cfg->data.shards : (size_t)ds->ranks;
  if (ds->shards < (size_t)ds->ranks)
    return rt_fail(
        st, RT_ERR_CONFIG,
        "%s: data.shards is %zu but the job has %d ranks (each rank needs at least one shard)",
        cfg->path, ds->shards, ds->ranks);
  ds->train_rows = calloc(ds->shards, sizeof *ds->train_rows);
  ds->val_rows = calloc(ds->shards, sizeof *ds->val_rows);
  ds->train = calloc(ds->shards, sizeof *ds->train);
  ds->val = calloc(ds->shards, sizeof *ds->val);
  if (!ds->train_rows || !ds->val_rows || !ds->train || !ds->val)
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "calloc for %zu shards", ds->shards);

  rt_code rc = probe(cfg, cfg->data.train, cfg->data.label_column, &ds->train_opt, &ds->train_info,
                     &ds->label_column, st);
  RT_TRY(rc, rt_agree(comm, rc, st));
  ds->features = ds->train_info.features;
  if (ds->train_info.format == RT_FORMAT_NPY && ds->train_info.rows < ds->shards)
    return rt_fail(st, RT_ERR_DATA, "%s: fewer rows (%" PRIu64 ") than shards (%zu)",
                   cfg->data.train, ds->train_info.rows, ds->shards);

  rc = read_owned(ds, &ds->train_opt, &ds->train_info, need_classes, ds->train, st);
  RT_TRY(rc, rt_agree(comm, rc, st));

  if (need_classes) {
    double lo = 0.0, hi = 0.0;
    RT_TRY(rc, label_range(ds, ds->train, comm, &lo, &hi, st));
    rc = rt_data_classes(cfg->data.train, ds->label_column, lo, hi, cfg->data.classes, &ds->classes,
                         st);
    if (rc == RT_OK) rc = check_labels_against(ds, &ds->train_opt, &ds->train_info, ds->train, st);
    RT_TRY(rc, rt_agree(comm, rc, st));
  }

  RT_TRY(rc, global_rows(ds, ds->train, ds->train_rows, comm, st));
  RT_TRY(rc, rt_shard_rows_check(cfg->data.train, ds->train_rows, ds->shards, 0.0, st));

  if (cfg->data.validation[0]) {
    int vcol = 0;
    rc = probe(cfg, cfg->data.validation, ds->label_column, &ds->val_opt, &ds->val_info, &vcol, st);
    if (rc == RT_OK && ds->val_info.features != ds->features)
      rc = rt_fail(st, RT_ERR_DATA, "%s: has %zu feature columns, the training data has %zu",
                   cfg->data.validation, ds->val_info.features, ds->features);
    if (rc == RT_OK && ds->val_info.format == RT_FORMAT_NPY && ds->val_info.rows < ds->shards)
      rc = rt_fail(st, RT_ERR_DATA, "%s: fewer rows (%" PRIu64 ") than shards (%zu)",
                   cfg->data.validation, ds->val_info.rows, ds->shards);
    if (rc == RT_OK) rc = read_owned(ds, &ds->val_opt, &ds->val_info, need_classes, ds->val, st);
    if (rc == RT_OK && need_classes)
      rc = check_labels_against(ds, &ds->val_opt, &ds->val_info, ds->val, st);
    RT_TRY(rc, rt_agree(comm, rc, st));
    ds->has_validation = 1;
  } else if (cfg->data.validation_fraction > 0.0) {
    const uint64_t seed = cfg->data.seed_set ? cfg->data.seed : cfg->run.seed;
    for (size_t s = 0; s < ds->shards && rc == RT_OK; ++s) {
      if (!owns(ds, s)) continue;
      rt_shard whole = ds->train[s];
      memset(&ds->train[s], 0, sizeof ds->train[s]);
      rc = rt_shard_split_validation(&whole, cfg->data.validation_fraction, seed, s, &ds->train[s],
                                     &ds->val[s], st);
    }
    RT_TRY(rc, rt_agree(comm, rc, st));
    RT_TRY(rc, global_rows(ds, ds->train, ds->train_rows, comm, st));
    RT_TRY(rc, rt_shard_rows_check(cfg->data.train, ds->train_rows, ds->shards,
                                   cfg->data.validation_fraction, st));
    ds->has_validation = 1;
  }
  if (ds->has_validation) RT_TRY(rc, global_rows(ds, ds->val, ds->val_rows, comm, st));
  return RT_OK;
}

void rt_dataset_free(rt_dataset *ds) {
  if (ds->train)
    for (size_t s = 0; s < ds->shards; ++s) rt_shard_free(&ds->train[s]);
  if (ds->val)
    for (size_t s = 0; s < ds->shards; ++s) rt_shard_free(&ds->val[s]);
  free(ds->train);
  free(ds->val);
  free(ds->train_rows);
  free(ds->val_rows);
  memset(ds, 0, sizeof *ds);
}
