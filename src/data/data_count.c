/* What `ringtrain check` learns from a data file without loading it for training
 * (include/ringtrain/data.h): the number of data rows (CSV: counted in chunks, .npy: from the
 * header), the range of the label column (read shard by shard) and the number of classes it
 * implies, which training also uses (src/data/dataset.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtrain/data.h"

rt_code rt_data_count_rows(const rt_data_options *opt, const rt_data_info *info, uint64_t *rows,
                           rt_status *st) {
  if (info->format == RT_FORMAT_NPY) {
    *rows = info->rows;
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
  uint64_t count = 0;
  int content = 0; /* the current line has a non-blank character */
  size_t n;
  while ((n = fread(buf, 1, CHUNK, f)) > 0)
    for (size_t i = 0; i < n; ++i) {
      const char c = buf[i];
      if (c == '\n') count += content, content = 0;
      else if (c != ' ' && c != '\t' && c != '\r') content = 1;
    }
  count += content; /* a last line without a newline */
  const int failed = ferror(f);
  free(buf);
  fclose(f);
  if (failed) return RT_FAIL_AT(st, RT_ERR_IO, "read %s: %s", opt->path, strerror(errno));
  *rows = count;
  return RT_OK;
}

rt_code rt_data_label_range(const rt_data_options *opt, const rt_data_info *info, double *lo, double *hi,
                            rt_status *st) {
  *lo = INFINITY;
  *hi = -INFINITY;
  /* Chunks of about 32 MiB of file, read as logical shards by the one reader. */
  const uint64_t bytes = info->format == RT_FORMAT_NPY ? info->rows * info->columns * 8 : info->data_end - info->data_begin;
  uint64_t chunks = bytes / (32u << 20) + 1;
  if (info->format == RT_FORMAT_NPY && chunks > info->rows) chunks = info->rows ? info->rows : 1;
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
    return rt_fail(st, RT_ERR_DATA, "%s: the label column (label_column %d) holds a single class, %g; a classifier "
                   "needs two or more (set data.classes to train anyway)", path, label_column, hi);
  *classes = (size_t)hi + 1;
  return RT_OK;
}
