/* Counting without loading (include/ringtrain/data.h): the data rows of a file and of each of its
 * logical shards (CSV: counted in chunks, .npy: from the header), the range of the label column
 * (read shard by shard) and the number of classes it implies, which training also uses
 * (src/data/dataset.c); what `ringtrain check` learns from the data (src/config/check_probe.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "ringtrain/data.h"

rt_code rt_data_count_shard_rows(const rt_data_options *opt, const rt_data_info *info,
                                 size_t nshards, uint64_t *rows, rt_status *st) {
  if (nshards == 0)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "%s: counting rows of 0 shards", opt->path);
  memset(rows, 0, nshards * sizeof *rows);
  if (info->format == RT_FORMAT_NPY) {
    for (size_t s = 0; s < nshards; ++s)
      rows[s] = rt_data_cut(0, info->rows, s + 1, nshards) - rt_data_cut(0, info->rows, s, nshards);
    return RT_OK;
  }
  FILE *f = fopen(opt->path, "rb");
  if (!f) return rt_fail(st, RT_ERR_DATA, "%s: cannot open: %s", opt->path, strerror(errno));
  if (fseeko(f, (off_t)info->data_begin, SEEK_SET) != 0) {
    fclose(f);
    return RT_FAIL_AT(st, RT_ERR_IO, "seek %s: %s", opt->path, strerror(errno));
  }
  enum { CHUNK = 1 << 20 };
  char *buf = malloc(CHUNK);
  if (!buf) {
    fclose(f);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %d bytes", CHUNK);
  }
  /* A line starting at byte p belongs to shard s when cut(s) <= p < cut(s + 1) (csv_reader.c). */
  const uint64_t b0 = info->data_begin, span = info->data_end - info->data_begin;
  size_t shard = 0;
  uint64_t at = b0, line_start = b0, next_cut = rt_data_cut(b0, span, 1, nshards);
  int content = 0; /* the current line has a non-blank character */
  int started = 0; /* its first non-blank character was seen (LIBSVM: '#' makes it a comment) */
  const int comments = info->format == RT_FORMAT_LIBSVM;
  size_t n;
  while ((n = fread(buf, 1, CHUNK, f)) > 0)
    for (size_t i = 0; i < n; ++i, ++at) {
      const char c = buf[i];
      if (c == '\n') {
        if (content) {
          while (shard + 1 < nshards && line_start >= next_cut)
            next_cut = rt_data_cut(b0, span, ++shard + 1, nshards);
          ++rows[shard];
        }
        content = 0;
        started = 0;
        line_start = at + 1;
      } else if (c != ' ' && c != '\t' && c != '\r' && !started) {
        started = 1;
        content = !(comments && c == '#');
      }
    }
  if (content) { /* a last line without a newline */
    while (shard + 1 < nshards && line_start >= next_cut)
      next_cut = rt_data_cut(b0, span, ++shard + 1, nshards);
    ++rows[shard];
  }
  const int failed = ferror(f);
  free(buf);
  fclose(f);
  if (failed) return RT_FAIL_AT(st, RT_ERR_IO, "read %s: %s", opt->path, strerror(errno));
  return RT_OK;
}

rt_code rt_data_count_rows(const rt_data_options *opt, const rt_data_info *info, uint64_t *rows,
                           rt_status *st) {
  return rt_data_count_shard_rows(opt, info, 1, rows, st);
}

uint64_t rt_data_chunk_count(const rt_data_info *info) {
  const uint64_t bytes = info->format == RT_FORMAT_NPY ? info->rows * info->columns * 8
                                                       : info->data_end - info->data_begin;
  uint64_t chunks = bytes / (32u << 20) + 1;
  if (info->format == RT_FORMAT_NPY && chunks > info->rows) chunks = info->rows ? info->rows : 1;
  return chunks;
}

rt_code rt_data_label_range(const rt_data_options *opt, const rt_data_info *info, double *lo,
                            double *hi, rt_status *st) {
  *lo = INFINITY;
  *hi = -INFINITY;
  const uint64_t chunks = rt_data_chunk_count(info);
  for (uint64_t c = 0; c < chunks; ++c) {
    rt_shard sh;
    rt_code rc;
    RT_TRY(rc, rt_data_read_shard(opt, info, (size_t)c, (size_t)chunks, &sh, st));
    for (size_t i = 0; sh.y && i < sh.rows; ++i) {
      if (sh.y[i] < *lo) *lo = sh.y[i];
      if (sh.y[i] > *hi) *hi = sh.y[i];
    }
    rt_shard_free(&sh);
  }
  return RT_OK;
}

rt_code rt_data_classes(const char *path, int label_column, double lo, double hi, long configured,
                        size_t *classes, rt_status *st) {
  if (configured > 0) {
    *classes = (size_t)configured;
    return RT_OK;
  }
  if (!(hi >= lo)) return rt_fail(st, RT_ERR_DATA, "%s: no data rows", path);
  if (lo == hi)
    return rt_fail(st, RT_ERR_DATA,
                   "%s: the label column (label_column %d) holds a single class, %g; a classifier "
                   "needs two or more (set data.classes to train anyway)",
                   path, label_column, hi);
  *classes = (size_t)hi + 1;
  return RT_OK;
}
