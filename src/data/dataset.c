/* The shards a rank owns (dataset.h): probing the data files, reading the owned train and
 * validation shards, the global row counts and label checks agreed across ranks, and the
 * file:line location of a bad row for error messages. */
#include "dataset.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agree.h"
#include "csv_cache.h"
#include "data_internal.h"
#include "row_source.h"
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

/* libsvm_features, libsvm_base: a validation file's (the training file's), else 0 (auto). */
static rt_code probe(const rt_config *cfg, const char *path, int label_column_cfg,
                     size_t libsvm_features, int libsvm_base, rt_data_options *opt,
                     rt_data_info *info, int *label_column, rt_status *st) {
  memset(opt, 0, sizeof *opt);
  opt->path = path;
  opt->format = cfg->data.format;
  opt->header = cfg->data.header;
  opt->delimiter = cfg->data.delimiter;
  opt->cache = cfg->data.cache;
  opt->libsvm_features = libsvm_features;
  opt->libsvm_base = libsvm_base;
  opt->label_column = -1;
  rt_code rc;
  RT_TRY(rc, rt_data_probe(opt, info, st));
  if (info->format == RT_FORMAT_LIBSVM) { /* the label is each line's first token */
    opt->label_column = 0;
    *label_column = 0;
    return RT_OK;
  }
  /* -1 in the config means the last column; the reader itself checks the range. */
  const int col = label_column_cfg < 0 ? (int)info->columns - 1 : label_column_cfg;
  opt->label_column = col;
  *label_column = col;
  return rt_data_probe(opt, info, st);
}

/* A streamed shard of rows [row0, row0 + rows) of the .npy file npy: its source, and its labels
 * read once into memory (a chunk of rows at a time). */
static rt_code open_streamed(const char *npy, int label_column, uint64_t row0, size_t rows,
                             size_t features, rt_shard *out, rt_status *st) {
  rt_code rc;
  RT_TRY(rc, rt_row_source_open(npy, label_column, row0, rows, &out->source, st));
  out->rows = rows;
  out->features = features;
  if (label_column < 0) return RT_OK;
  enum { CHUNK = 256 }; /* rows per read: the labels are all that stays */
  out->y = malloc((rows ? rows : 1) * sizeof *out->y);
  float *x = malloc(CHUNK * (features ? features : 1) * sizeof *x);
  void *scratch = malloc(rt_row_source_scratch_bytes(out->source, CHUNK));
  if (!out->y || !x || !scratch)
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the labels of a streamed shard of %zu rows",
                    rows);
  for (size_t first = 0; rc == RT_OK && first < rows; first += CHUNK) {
    const size_t n = rows - first < CHUNK ? rows - first : CHUNK;
    rc = rt_row_source_read(out->source, first, n, x, out->y + first, scratch, st);
  }
  free(x);
  free(scratch);
  return rc;
}

/* Whether shard rows of `bytes` stream under the residency rule: stream, always; auto, once the
 * rows already held and these would pass the budget; memory, never. Adds held rows to ds->held. */
static int decide_stream(rt_dataset *ds, uint64_t bytes) {
  const int stream = ds->residency == RT_RESIDENCY_STREAM ||
                     (ds->residency == RT_RESIDENCY_AUTO && ds->held + bytes > ds->budget);
  if (!stream) ds->held += bytes;
  return stream;
}

/* Whether shard s of a CSV has a usable cache entry: its path in entry[cap], its rows in *rows. */
static int cached_rows(const rt_data_options *opt, const rt_data_info *info, size_t s,
                       const rt_dataset *ds, char *entry, size_t cap, uint64_t *rows) {
  if (!opt->cache || !rt_csv_cache_entry(opt, info, s, ds->shards, entry, cap)) return 0;
  rt_data_options eo = {.path = entry, .format = RT_FORMAT_NPY, .label_column = opt->label_column};
  rt_data_info ei;
  if (rt_data_probe(&eo, &ei, NULL) != RT_OK || ei.npy_dtype != RT_NPY_F32 ||
      ei.columns != info->columns)
    return 0;
  *rows = ei.rows;
  return 1;
}

/* Reads this rank's shards of one file (in memory or streamed, data.residency) and checks labels
 * are non-negative integers. */
static rt_code read_owned(rt_dataset *ds, const rt_data_options *opt, const rt_data_info *info,
                          int need_classes, rt_shard *out, rt_status *st) {
  for (size_t s = 0; s < ds->shards; ++s) {
    if (!owns(ds, s)) continue;
    rt_code rc = RT_OK;
    uint64_t rows = 0;
    if (info->format == RT_FORMAT_LIBSVM) {
      /* Sparse rows in memory (CSR: memory grows with the non-zeros); batches are made dense as
       * they are integrated. */
      if (ds->residency == RT_RESIDENCY_STREAM)
        return rt_fail(st, RT_ERR_CONFIG,
                       "%s: data.residency stream: LIBSVM shards are held in memory as sparse "
                       "rows (expected data.residency auto or memory)",
                       opt->path);
      RT_TRY(rc, rt_data_read_shard(opt, info, s, ds->shards, &out[s], st));
    } else if (info->format == RT_FORMAT_NPY) {
      const uint64_t r0 = rt_data_cut(0, info->rows, s, ds->shards),
                     r1 = rt_data_cut(0, info->rows, s + 1, ds->shards);
      if (ds->residency != RT_RESIDENCY_MEMORY &&
          decide_stream(ds, (r1 - r0) * info->features * sizeof(float))) {
        memset(&out[s], 0, sizeof out[s]);
        rc = open_streamed(opt->path, opt->label_column, r0, (size_t)(r1 - r0), info->features,
                           &out[s], st);
        out[s].first_row = r0;
        if (rc != RT_OK) return rc;
        ds->streamed++;
      } else {
        RT_TRY(rc, rt_data_read_shard(opt, info, s, ds->shards, &out[s], st));
      }
    } else {
      /* CSV: streamed from, or read from, its cache entry, which is built piece by piece (in
       * bounded memory) when missing; parsed whole when held in memory without one. */
      const int may_stream = ds->residency != RT_RESIDENCY_MEMORY;
      char entry[RT_PATH_MAX + 64];
      int cached = may_stream && cached_rows(opt, info, s, ds, entry, sizeof entry, &rows);
      if (may_stream && opt->cache && !cached) {
        int written = 0;
        RT_TRY(rc, rt_csv_cache_build(opt, info, s, ds->shards, &written, st));
        cached = written && cached_rows(opt, info, s, ds, entry, sizeof entry, &rows);
      }
      if (cached) {
        if (decide_stream(ds, rows * info->features * sizeof(float))) {
          memset(&out[s], 0, sizeof out[s]);
          rc =
              open_streamed(entry, opt->label_column, 0, (size_t)rows, info->features, &out[s], st);
          if (rc == RT_OK)
            rc = rt_csv_shard_first_row(opt, info, s, ds->shards, &out[s].first_row, st);
          if (rc != RT_OK) return rc;
          ds->streamed++;
        } else {
          RT_TRY(rc, rt_data_read_shard(opt, info, s, ds->shards, &out[s], st));
        }
      } else if (ds->residency == RT_RESIDENCY_STREAM) {
        return rt_fail(st, RT_ERR_DATA,
                       "%s: cannot stream shard %zu: a CSV shard streams from its parsed-shard "
                       "cache entry (data.cache: true), and none could be written in %s.rtcache/ "
                       "(expected data.cache: true and a writable folder beside the file, or a "
                       ".npy made by `ringtrain convert`)",
                       opt->path, s, opt->path);
      } else {
        RT_TRY(rc, rt_data_read_shard(opt, info, s, ds->shards, &out[s], st));
        if (may_stream) ds->held += (uint64_t)out[s].rows * info->features * sizeof(float);
      }
    }
    if (need_classes) RT_TRY(rc, rt_labels_check(opt, info, &out[s], 0, st));
  }
  return RT_OK;
}

uint64_t rt_memory_budget_of(long configured, int local_ranks) {
  if (configured > 0) return (uint64_t)configured;
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return UINT64_MAX;
  return (uint64_t)pages * (uint64_t)page / 2 / (uint64_t)(local_ranks > 0 ? local_ranks : 1);
}

/* data.memory_budget, or half of this host's memory over the ranks on it (collective). */
static rt_code memory_budget(const rt_config *cfg, MPI_Comm comm, uint64_t *budget, rt_status *st) {
  if (cfg->data.memory_budget > 0) {
    *budget = rt_memory_budget_of(cfg->data.memory_budget, 1);
    return RT_OK;
  }
  MPI_Comm node;
  RT_MPI_CHECK(st, MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  int local = 1;
  const int rc = MPI_Comm_size(node, &local);
  MPI_Comm_free(&node);
  if (rc != MPI_SUCCESS) return rt_mpi_fail(st, rc, __FILE__, __LINE__, "MPI_Comm_size(node)");
  *budget = rt_memory_budget_of(0, local);
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
  ds->residency = cfg->data.residency;
  if (ds->residency != RT_RESIDENCY_MEMORY) {
    rt_code brc;
    RT_TRY(brc, memory_budget(cfg, comm, &ds->budget, st));
  }
  ds->train_rows = calloc(ds->shards, sizeof *ds->train_rows);
  ds->val_rows = calloc(ds->shards, sizeof *ds->val_rows);
  ds->train = calloc(ds->shards, sizeof *ds->train);
  ds->val = calloc(ds->shards, sizeof *ds->val);
  if (!ds->train_rows || !ds->val_rows || !ds->train || !ds->val)
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "calloc for %zu shards", ds->shards);

  rt_code rc = probe(cfg, cfg->data.train, cfg->data.label_column, 0, 0, &ds->train_opt,
                     &ds->train_info, &ds->label_column, st);
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
    rc = probe(cfg, cfg->data.validation, ds->label_column, ds->features,
               ds->train_info.format == RT_FORMAT_LIBSVM ? ds->train_info.libsvm_base + 1 : 0,
               &ds->val_opt, &ds->val_info, &vcol, st);
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
