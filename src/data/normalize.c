/* Feature scaling (normalize.h): the per-feature offset and scale computed by one statistics pass
 * over every shard (standard or minmax, reduced across ranks), applied to rows, and written to /
 * parsed from the spec text of a model file so that eval and predict scale exactly alike. */
#include "normalize.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "batch_stream.h"
#include "row_source.h"

void rt_scaling_free(rt_scaling *sc) {
  free(sc->offset);
  free(sc->scale);
  memset(sc, 0, sizeof *sc);
}

static rt_code alloc_scaling(rt_normalize kind, size_t d, rt_scaling *out, rt_status *st) {
  memset(out, 0, sizeof *out);
  out->kind = kind;
  out->features = d;
  out->offset = malloc(d * sizeof *out->offset);
  out->scale = malloc(d * sizeof *out->scale);
  if (!out->offset || !out->scale) {
    rt_scaling_free(out);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate scaling for %zu features", d);
  }
  return RT_OK;
}

#define STREAM_CHUNK_ROWS 256 /* rows per read of a streamed shard's statistics pass */

/* Adds rows to one shard's statistics a, b (row order, feature order). */
static void add_rows(rt_normalize kind, const float *x0, size_t rows, size_t d, double *a,
                     double *b) {
  for (size_t i = 0; i < rows; ++i) {
    const float *x = x0 + i * d;
    for (size_t f = 0; f < d; ++f) {
      const double v = x[f];
      if (kind == RT_NORMALIZE_STANDARD) a[f] += v, b[f] += v * v;
      else a[f] = v < a[f] ? v : a[f], b[f] = v > b[f] ? v : b[f];
    }
  }
}

/* Per shard: standard -> [sum, sum of squares] per feature; minmax -> [min, max]. */
rt_code rt_scaling_compute(rt_normalize kind, const rt_dataset *ds, MPI_Comm comm, rt_scaling *out,
                           rt_status *st) {
  memset(out, 0, sizeof *out);
  if (kind == RT_NORMALIZE_NONE) return RT_OK;
  const size_t d = ds->features, S = ds->shards, n = S * d * 2;
  double *local = calloc(n, sizeof *local), *all = malloc(n * sizeof *all);
  if (!local || !all) {
    free(local), free(all);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate normalisation statistics");
  }
  rt_code rc = RT_OK;
  for (size_t s = 0; s < S && rc == RT_OK; ++s) {
    const rt_shard *sh = &ds->train[s];
    double *a = local + s * d * 2, *b = a + d;
    if (kind == RT_NORMALIZE_MINMAX)
      for (size_t f = 0; f < d; ++f) a[f] = INFINITY, b[f] = -INFINITY;
    if (sh->x || sh->rows == 0) {
      add_rows(kind, sh->x, sh->rows, d, a, b);
      continue;
    }
    /* Streamed or sparse: the same rows in the same order, a chunk at a time (made dense). */
    const size_t chunk = STREAM_CHUNK_ROWS, chunks = (sh->rows + chunk - 1) / chunk;
    rt_batch_stream *stream = NULL;
    rc = rt_batch_stream_open(sh, NULL, chunks, 0, chunk, &stream, st);
    for (size_t k = 0; k < chunks && rc == RT_OK; ++k) {
      const float *x = NULL;
      size_t rows = 0;
      rc = rt_batch_stream_next(stream, &x, &rows, st);
      if (rc == RT_OK) add_rows(kind, x, rows, d, a, b);
    }
    rt_batch_stream_close(stream);
  }
  rc = rt_agree(comm, rc, st); /* a rank whose read failed must not leave the others waiting */
  if (rc != RT_OK) {
    free(local);
    free(all);
    return rc;
  }
  /* Shards this rank does not own hold no rows, so they contribute neutral elements (0, +inf,
   * -inf): each shard's numbers come from its owner alone and the reductions are exact. */
  int mrc;
  if (kind == RT_NORMALIZE_STANDARD) {
    mrc = MPI_Allreduce(local, all, (int)n, MPI_DOUBLE, MPI_SUM, comm);
  } else {
    /* mins in the first half of each shard block, maxes in the second: negate maxes for MIN. */
    for (size_t s = 0; s < S; ++s)
      for (size_t f = 0; f < d; ++f) local[s * d * 2 + d + f] = -local[s * d * 2 + d + f];
    mrc = MPI_Allreduce(local, all, (int)n, MPI_DOUBLE, MPI_MIN, comm);
    for (size_t s = 0; s < S; ++s)
      for (size_t f = 0; f < d; ++f) all[s * d * 2 + d + f] = -all[s * d * 2 + d + f];
  }
  free(local);
  if (mrc != MPI_SUCCESS) {
    free(all);
    return rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Allreduce(normalisation statistics)");
  }
  rt_code code = alloc_scaling(kind, d, out, st);
  if (code) {
    free(all);
    return code;
  }
  uint64_t rows = 0;
  for (size_t s = 0; s < S; ++s) rows += ds->train_rows[s];
  for (size_t f = 0; f < d; ++f) {
    double a = kind == RT_NORMALIZE_STANDARD ? 0.0 : INFINITY;
    double b = kind == RT_NORMALIZE_STANDARD ? 0.0 : -INFINITY;
    for (size_t s = 0; s < S; ++s) { /* shard order */
      const double *sa = all + s * d * 2, *sb = sa + d;
      if (kind == RT_NORMALIZE_STANDARD) a += sa[f], b += sb[f];
      else a = sa[f] < a ? sa[f] : a, b = sb[f] > b ? sb[f] : b;
    }
    double offset, spread;
    if (kind == RT_NORMALIZE_STANDARD) {
      offset = a / (double)rows;
      const double var = b / (double)rows - offset * offset;
      spread = var > 0.0 ? sqrt(var) : 0.0;
    } else {
      offset = a;
      spread = b - a;
    }
    out->offset[f] = (float)offset;
    /* A constant feature keeps scale 1 (it becomes 0 after the offset). */
    out->scale[f] = spread > 1e-12 * (fabs(offset) + 1.0) ? (float)(1.0 / spread) : 1.0f;
  }
  free(all);
  return RT_OK;
}

rt_code rt_scaling_apply(const rt_scaling *sc, rt_shard *shard, rt_status *st) {
  if (!sc || sc->kind == RT_NORMALIZE_NONE) return RT_OK;
  if (shard->source) return rt_row_source_set_scaling(shard->source, sc, st);
  if (shard->indptr)
    return rt_fail(st, RT_ERR_INTERNAL, "sparse rows cannot be scaled in place (scaled by batch)");
  if (shard->x) rt_scaling_apply_rows(sc, shard->x, shard->rows);
  return RT_OK;
}

static void write_list(FILE *f, const char *key, const float *v, size_t n) {
  fprintf(f, "%s=", key);
  for (size_t i = 0; i < n; ++i) fprintf(f, "%s%.9g", i ? "," : "", (double)v[i]);
  fputc('\n', f);
}

void rt_scaling_write(const rt_scaling *sc, rt_normalize kind, FILE *f) {
  if (sc && sc->kind != RT_NORMALIZE_NONE) kind = sc->kind;
  /* auto only in a spec never resolved against a run (tests): it scales nothing */
  fprintf(f, "normalize=%s\n", kind == RT_NORMALIZE_AUTO ? "auto" : rt_normalize_name(kind));
  if (!sc || sc->kind == RT_NORMALIZE_NONE) return;
  write_list(f, "norm_offset", sc->offset, sc->features);
  write_list(f, "norm_scale", sc->scale, sc->features);
}

/* The value of `key=` at a line start, as a pointer into text and its length. */
static const char *find_value(const char *text, const char *key, size_t *len) {
  const size_t klen = strlen(key);
  for (const char *line = text; line && *line;) {
    const char *nl = strchr(line, '\n');
    if (strncmp(line, key, klen) == 0 && line[klen] == '=') {
      *len = nl ? (size_t)(nl - line - klen - 1) : strlen(line + klen + 1);
      return line + klen + 1;
    }
    line = nl ? nl + 1 : NULL;
  }
  return NULL;
}

static rt_code parse_list(const char *text, const char *key, size_t n, float *out, const char *file,
                          rt_status *st) {
  size_t len = 0;
  const char *v = find_value(text, key, &len);
  if (!v) return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec lacks '%s'", file, key);
  const char *end_all = v + len;
  for (size_t i = 0; i < n; ++i) {
    char *end;
    errno = 0;
    const float x = strtof(v, &end);
    if (errno || end == v || end > end_all || !isfinite(x) ||
        (i + 1 < n ? *end != ',' : end != end_all))
      return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec '%s' is not a list of %zu numbers", file, key,
                     n);
    out[i] = x;
    v = end + 1;
  }
  return RT_OK;
}

rt_code rt_scaling_parse(const char *spec_text, size_t features, const char *file, rt_scaling *out,
                         rt_status *st) {
  memset(out, 0, sizeof *out);
  size_t len = 0;
  const char *v = find_value(spec_text, "normalize", &len);
  if (!v || (len == 4 && (strncmp(v, "none", 4) == 0 || strncmp(v, "auto", 4) == 0))) return RT_OK;
  rt_normalize kind;
  if (len == 8 && strncmp(v, "standard", 8) == 0) kind = RT_NORMALIZE_STANDARD;
  else if (len == 6 && strncmp(v, "minmax", 6) == 0) kind = RT_NORMALIZE_MINMAX;
  else return rt_fail(st, RT_ERR_MODEL_FILE, "%s: spec 'normalize' has an unknown value", file);
  rt_code rc = alloc_scaling(kind, features, out, st);
  if (rc == RT_OK) rc = parse_list(spec_text, "norm_offset", features, out->offset, file, st);
  if (rc == RT_OK) rc = parse_list(spec_text, "norm_scale", features, out->scale, file, st);
  if (rc) rt_scaling_free(out);
  return rc;
}
