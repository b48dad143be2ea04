/* Streamed shards' rows (row_source.h): file rows found through an optional row map (a subset
 * after the validation split), read in runs of consecutive file rows, converted, scaled. */
#include "row_source.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data_internal.h"

struct rt_row_source {
  char *path;
  int fd;
  rt_npy_layout layout;
  size_t features, rows;
  uint64_t row0; /* file row of row 0 when there is no map */
  uint64_t *map; /* [rows] file rows, or NULL */
  rt_scaling scaling;
};

static rt_code source_alloc(const char *path, rt_row_source **out, rt_status *st) {
  rt_row_source *s = calloc(1, sizeof *s);
  if (s) s->path = strdup(path);
  if (!s || !s->path) {
    free(s);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a row source for %s", path);
  }
  s->fd = -1;
  *out = s;
  return RT_OK;
}

rt_code rt_row_source_open(const char *path, int label_column, uint64_t row0, size_t rows,
                           rt_row_source **out, rt_status *st) {
  *out = NULL;
  rt_data_options opt = {.path = path, .format = RT_FORMAT_NPY, .label_column = label_column};
  rt_data_info info;
  rt_code rc;
  RT_TRY(rc, rt_data_probe(&opt, &info, st));
  if (row0 + rows > info.rows)
    return rt_fail(st, RT_ERR_INTERNAL, "%s: rows %llu..%llu are past its %llu rows", path,
                   (unsigned long long)row0, (unsigned long long)(row0 + rows),
                   (unsigned long long)info.rows);
  rt_row_source *s = NULL;
  RT_TRY(rc, source_alloc(path, &s, st));
  uint64_t size = 0;
  rc = rt_data_open(s->path, &s->fd, &size, st);
  if (rc != RT_OK) {
    rt_row_source_free(s);
    return rc;
  }
  s->layout = (rt_npy_layout){s->path,
                              info.npy_dtype,
                              info.columns,
                              rt_npy_itemsize(info.npy_dtype),
                              label_column >= 0 ? (size_t)label_column : SIZE_MAX,
                              info.npy_payload};
  s->features = info.features;
  s->rows = rows;
  s->row0 = row0;
  *out = s;
  return RT_OK;
}

static uint64_t file_row(const rt_row_source *s, size_t i) {
  return s->map ? s->map[i] : s->row0 + i;
}

rt_code rt_row_source_subset(const rt_row_source *src, const unsigned char *flags,
                             unsigned char want, size_t kept, rt_row_source **out, rt_status *st) {
  *out = NULL;
  rt_row_source *s = NULL;
  rt_code rc;
  RT_TRY(rc, source_alloc(src->path, &s, st));
  s->fd = dup(src->fd);
  s->map = malloc((kept ? kept : 1) * sizeof *s->map);
  if (s->fd < 0 || !s->map) {
    rt_row_source_free(s);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot make the row map of %zu rows of %s", kept,
                      src->path);
  }
  s->layout = src->layout;
  s->layout.path = s->path;
  s->features = src->features;
  size_t k = 0;
  for (size_t i = 0; i < src->rows && k < kept; ++i)
    if (flags[i] == want) s->map[k++] = file_row(src, i);
  s->rows = k;
  if (src->scaling.kind != RT_NORMALIZE_NONE) {
    rc = rt_row_source_set_scaling(s, &src->scaling, st);
    if (rc != RT_OK) {
      rt_row_source_free(s);
      return rc;
    }
  }
  *out = s;
  return RT_OK;
}

rt_code rt_row_source_set_scaling(rt_row_source *src, const rt_scaling *sc, rt_status *st) {
  rt_scaling_free(&src->scaling);
  if (!sc || sc->kind == RT_NORMALIZE_NONE) return RT_OK;
  const size_t d = sc->features;
  src->scaling.offset = malloc(d * sizeof(float));
  src->scaling.scale = malloc(d * sizeof(float));
  if (!src->scaling.offset || !src->scaling.scale) {
    rt_scaling_free(&src->scaling);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot copy the scaling of %zu features", d);
  }
  memcpy(src->scaling.offset, sc->offset, d * sizeof(float));
  memcpy(src->scaling.scale, sc->scale, d * sizeof(float));
  src->scaling.features = d;
  src->scaling.kind = sc->kind;
  return RT_OK;
}

size_t rt_row_source_rows(const rt_row_source *src) { return src->rows; }
size_t rt_row_source_features(const rt_row_source *src) { return src->features; }

size_t rt_row_source_scratch_bytes(const rt_row_source *src, size_t n) {
  return n * (src->layout.cols * src->layout.itemsize + sizeof(float));
}

/* Reads `n` file rows starting at file row fr into x (converted, scaled). */
static rt_code read_run(const rt_row_source *s, uint64_t fr, size_t n, float *x, unsigned char *raw,
                        float *labels, rt_status *st) {
  const size_t row_bytes = s->layout.cols * s->layout.itemsize;
  const uint64_t at = s->layout.payload + fr * row_bytes;
  size_t got = 0;
  rt_code rc;
  RT_TRY(rc, rt_data_pread(s->fd, s->path, raw, n * row_bytes, at, &got, st));
  if (got != n * row_bytes)
    return rt_fail(st, RT_ERR_DATA,
                   "%s: payload truncated at byte %llu: expected %zu bytes at byte %llu (did the "
                   "file change while it was streamed?)",
                   s->path, (unsigned long long)(at + got), n * row_bytes, (unsigned long long)at);
  RT_TRY(rc, rt_npy_convert_rows(&s->layout, raw, n, fr, x, labels, st));
  rt_scaling_apply_rows(&s->scaling, x, n);
  return RT_OK;
}

rt_code rt_row_source_read(const rt_row_source *src, size_t first, size_t n, float *x, float *y,
                           void *scratch, rt_status *st) {
  if (first + n > src->rows)
    return rt_fail(st, RT_ERR_INTERNAL, "%s: rows %zu..%zu of a streamed shard of %zu rows",
                   src->path, first, first + n, src->rows);
  float *labels = scratch; /* n floats (aligned as malloc'ed), then the raw rows */
  unsigned char *raw = (unsigned char *)(labels + n);
  const size_t row_bytes = src->layout.cols * src->layout.itemsize;
  for (size_t i = 0; i < n;) {
    size_t run = 1;
    const uint64_t fr = file_row(src, first + i);
    while (i + run < n && file_row(src, first + i + run) == fr + run) ++run;
    rt_code rc;
    RT_TRY(rc, read_run(src, fr, run, x + i * src->features, raw + i * row_bytes, labels + i, st));
    i += run;
  }
  if (y && src->layout.label != SIZE_MAX) memcpy(y, labels, n * sizeof *y);
  return RT_OK;
}

rt_code rt_row_source_gather(const rt_row_source *src, const uint64_t *index, size_t n, float *x,
                             rt_status *st) {
  void *scratch = malloc(rt_row_source_scratch_bytes(src, 1));
  if (!scratch) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a row buffer");
  rt_code rc = RT_OK;
  for (size_t i = 0; i < n && rc == RT_OK; ++i)
    rc = rt_row_source_read(src, (size_t)index[i], 1, x + i * src->features, NULL, scratch, st);
  free(scratch);
  return rc;
}

void rt_row_source_free(rt_row_source *src) {
  if (!src) return;
  if (src->fd >= 0) close(src->fd);
  free(src->path);
  free(src->map);
  rt_scaling_free(&src->scaling);
  free(src);
}

/* Sparse rows [first, first + n) made dense (zeros, then each row's non-zeros in place). */
static void densify(const rt_shard *sh, size_t first, size_t n, float *x) {
  const size_t d = sh->features;
  memset(x, 0, n * d * sizeof *x);
  for (size_t i = 0; i < n; ++i)
    for (uint64_t k = sh->indptr[first + i]; k < sh->indptr[first + i + 1]; ++k)
      x[i * d + sh->indices[k]] = sh->values[k];
}

rt_code rt_shard_gather_rows(const rt_shard *sh, const uint64_t *index, size_t n, float *x,
                             rt_status *st) {
  if (sh->source) return rt_row_source_gather(sh->source, index, n, x, st);
  for (size_t i = 0; i < n; ++i) {
    if (sh->indptr) densify(sh, (size_t)index[i], 1, x + i * sh->features);
    else memcpy(x + i * sh->features, sh->x + index[i] * sh->features, sh->features * sizeof *x);
  }
  return RT_OK;
}

rt_code rt_shard_copy_rows(const rt_shard *sh, size_t first, size_t n, float *x, void *scratch,
                           rt_status *st) {
  if (sh->source) return rt_row_source_read(sh->source, first, n, x, NULL, scratch, st);
  if (sh->indptr) {
    densify(sh, first, n, x);
    return RT_OK;
  }
  memcpy(x, sh->x + first * sh->features, n * sh->features * sizeof(float));
  return RT_OK;
}
