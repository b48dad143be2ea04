/* rt_data_convert: a data file (CSV, or .npy of any supported dtype) to a float32 .npy with the
 * same rows and columns, read in bounded memory by the one shard reader and written atomically. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "data_internal.h"
#include "npy_writer.h"
#include "row_source.h"
#include "ringtrain/atomic_file.h"

static double seconds_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Sparse rows as dense rows of the label and the features. */
static rt_code write_sparse(rt_atomic_file *f, const rt_shard *sh, rt_status *st) {
  const size_t cols = sh->features + 1;
  float *row = malloc(cols * sizeof *row);
  if (!row) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a row of %zu columns", cols);
  rt_code rc = RT_OK;
  for (size_t i = 0; rc == RT_OK && i < sh->rows; ++i) {
    row[0] = sh->y ? sh->y[i] : 0.0f;
    rc = rt_shard_copy_rows(sh, i, 1, row + 1, NULL, st);
    if (rc == RT_OK) rc = rt_atomic_write(f, row, cols * sizeof *row, st);
  }
  free(row);
  return rc;
}

/* 1 when both paths name one existing file. */
static int same_file(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

rt_code rt_data_convert(const rt_data_options *opt, const char *out_path, rt_convert_result *result,
                        rt_status *st) {
  memset(result, 0, sizeof *result);
  rt_data_options in = *opt;
  in.label_column = -1; /* every column is written, the label too, in file order */
  in.cache = 0;
  rt_data_info info;
  rt_code rc;
  RT_TRY(rc, rt_data_probe(&in, &info, st));
  if (info.format == RT_FORMAT_LIBSVM) { /* the label first, then the features made dense */
    in.label_column = 0;
    RT_TRY(rc, rt_data_probe(&in, &info, st));
  }
  if (same_file(in.path, out_path))
    return rt_fail(st, RT_ERR_USAGE, "%s: the output is the input file (expected another path)",
                   out_path);
  rt_atomic_file *f = NULL;
  RT_TRY(rc, rt_atomic_open(out_path, &f, st));
  unsigned char header[RT_NPY_HEADER_BYTES];
  rt_npy_f32_header(0, info.columns, header); /* the row count is known at the end */
  rc = rt_atomic_write(f, header, sizeof header, st);
  const uint64_t chunks = rt_data_chunk_count(&info);
  for (uint64_t c = 0; rc == RT_OK && c < chunks; ++c) {
    rt_shard sh;
    const double t0 = seconds_now();
    rc = rt_data_read_shard(&in, &info, (size_t)c, (size_t)chunks, &sh, st);
    result->read_seconds += seconds_now() - t0;
    if (rc != RT_OK) break;
    if (sh.rows && sh.indptr) rc = write_sparse(f, &sh, st);
    else if (sh.rows) rc = rt_atomic_write(f, sh.x, sh.rows * info.columns * sizeof(float), st);
    result->rows += sh.rows;
    rt_shard_free(&sh);
  }
  if (rc == RT_OK) {
    rt_npy_f32_header(result->rows, info.columns, header);
    FILE *stream = rt_atomic_stream(f);
    if (fseek(stream, 0, SEEK_SET) != 0)
      rc = rt_fail(st, RT_ERR_OUTPUT, "%s: cannot write: cannot seek to the header", out_path);
    else rc = rt_atomic_write(f, header, sizeof header, st);
  }
  if (rc != RT_OK) {
    rt_atomic_abort(&f);
    return rc;
  }
  RT_TRY(rc, rt_atomic_commit(&f, st));
  result->columns = info.columns;
  result->bytes_read = info.format == RT_FORMAT_CSV ? info.data_end : 0;
  return RT_OK;
}
