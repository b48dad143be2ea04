/* Data files and logical shards.
 *
 * A file's rows are cut into S logical shards by a rule that depends only on the file and S:
 *  - .npy: shard s holds rows [s*N/S, (s+1)*N/S) (integer division on 64-bit values).
 *  - CSV and LIBSVM: the data bytes (after a CSV's header line, if any) [B0, B1) are cut at
 *          B0 + s*(B1-B0)/S; each cut is snapped forward to the next line start (Hadoop input
 *          splits): a line belongs to the shard in whose byte range it starts.
 * A rank reads only the shards it owns; nobody holds the whole file. */
#ifndef RINGTRAIN_DATA_H
#define RINGTRAIN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "ringtrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rt_file_format {
  RT_FORMAT_AUTO = 0,
  RT_FORMAT_CSV,
  RT_FORMAT_NPY,
  RT_FORMAT_LIBSVM /* LIBSVM / SVMlight text: "label [qid:n] index:value ... [# comment]" */
} rt_file_format;

/* How to read one data file. */
typedef struct rt_data_options {
  const char *path;
  rt_file_format format; /* AUTO: by extension (.npy, otherwise CSV) */
  int label_column;      /* 0-based column of the label/target; -1 = no label column */
  int header;            /* CSV: -1 auto-detect (first line has a non-numeric field), 0 no, 1 yes */
  char delimiter;        /* CSV: 0 auto-detect from the first data line, ',' or ' ' (any run of
                            spaces/tabs) */
  int cache;             /* CSV: 1 = read shards from, and write them to, the cache beside the
                            file (see rt_csv_cache_dir); 0 = parse the text every time */
  /* LIBSVM: the feature count (0: the largest index of the file, from its first index) and the
   * first index plus one (0: auto, 0 when an index 0 appears in the file, else 1; 1: indices
   * from 0; 2: from 1). A validation or predict file takes the training file's. */
  size_t libsvm_features;
  int libsvm_base;
} rt_data_options;

/* What a cheap look at the file tells (header only for .npy, first lines for CSV). */
typedef struct rt_data_info {
  rt_file_format format;
  size_t columns;  /* columns in the file, label included */
  size_t features; /* columns minus the label column (if any) */
  int has_label;
  /* CSV */
  int has_header;
  char delimiter;      /* ',' or ' ' */
  uint64_t data_begin; /* byte offset of the first data line */
  uint64_t data_end;   /* file size */
  /* LIBSVM */
  int libsvm_base;   /* 0 or 1: the file's first column index */
  uint64_t nonzeros; /* index:value pairs in the file */
  /* NPY */
  uint64_t rows;        /* npy, LIBSVM: total rows; CSV: 0 (unknown until the shards are read) */
  int npy_dtype;        /* an rt_npy_dtype */
  uint64_t npy_payload; /* byte offset of the array payload */
} rt_data_info;

typedef enum rt_npy_dtype {
  RT_NPY_F32 = 1,
  RT_NPY_F64,
  RT_NPY_U8,
  RT_NPY_I32,
  RT_NPY_I64
} rt_npy_dtype;

/* One shard's rows in memory: features row-major float32, labels/targets float32. */
typedef struct rt_shard {
  size_t rows;
  size_t features;
  float *x; /* rows*features, 64-byte aligned (NULL when rows == 0) */
  float *y; /* rows values, NULL when the file has no label column */
  uint64_t
      first_row; /* npy: index of the first row in the file; CSV: byte offset of its first line */
  struct rt_row_source *source; /* a streamed shard (data.residency): x is NULL and the rows
                                   are read from here on demand; NULL: x holds them */
  /* Sparse rows (LIBSVM), x NULL: row i's non-zeros are columns indices[k] (0-based, ascending)
   * with values values[k] for k in [indptr[i], indptr[i + 1]); memory grows with them. */
  uint64_t *indptr; /* rows + 1 */
  uint32_t *indices;
  float *values;
} rt_shard;

/* Reads the header / first lines; errors name the file (and line/offset) and what was expected. */
rt_code rt_data_probe(const rt_data_options *opt, rt_data_info *info, rt_status *st);

/* Reads logical shard `shard` of `nshards`. Rejects wrong column counts, non-numeric fields,
 * NaN/Inf, truncated payloads; messages name the file and the row (CSV: line number) or byte
 * offset. An empty shard is returned as rows == 0 (callers decide whether that is an error). */
rt_code rt_data_read_shard(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                           size_t nshards, rt_shard *out, rt_status *st);

/* Reads every row of the file (single process tools: eval, predict). */
rt_code rt_data_read_all(const rt_data_options *opt, const rt_data_info *info, rt_shard *out,
                         rt_status *st);

/* Moves a deterministic `fraction` of a shard's rows into `validation`: the rows chosen are the
 * first round(rows*fraction) of a permutation keyed by (seed, shard index); both outputs keep the
 * original row order. `in` is consumed (freed). */
rt_code rt_shard_split_validation(rt_shard *in, double fraction, uint64_t seed, size_t shard_index,
                                  rt_shard *train, rt_shard *validation, rt_status *st);

/* Which of a shard's n rows the validation split holds out: (*flags)[i] = 1 for those, 0 for the
 * rest (malloc'ed, n bytes): the one rule of rt_shard_split_validation, for shards held in
 * memory and streamed ones alike. */
rt_code rt_validation_flags(size_t n, double fraction, uint64_t seed, size_t shard_index,
                            unsigned char **flags, rt_status *st);

/* The rows of a shard of `rows` rows that rt_shard_split_validation holds out: round(rows *
 * fraction) (halves away from zero, i.e. floor(rows * fraction + 0.5)), at most rows; 0 when
 * fraction is not above 0. The one split rule: training splits by it and `check` counts by it. */
uint64_t rt_validation_split_rows(uint64_t rows, double fraction);

/* The one rule on shard row counts, for training (src/data/dataset.c) and `check` alike: every
 * one of the `nshards` shards of `path` must hold rows. `rows` are the shards' data rows before
 * the validation split (split_fraction 0: no split), or after it (split_fraction > 0: the
 * message names the held-out fraction). Returns RT_ERR_DATA naming the first empty shard. */
rt_code rt_shard_rows_check(const char *path, const uint64_t *rows, size_t nshards,
                            double split_fraction, rt_status *st);

/* Data rows of each of the `nshards` logical shards into rows[nshards], exactly as
 * rt_data_read_shard would cut them, without parsing a field: .npy from the header, CSV by
 * counting the non-blank lines that start in each shard's byte range (reads the file once). */
rt_code rt_data_count_shard_rows(const rt_data_options *opt, const rt_data_info *info,
                                 size_t nshards, uint64_t *rows, rt_status *st);

/* Number of data rows: from the header for .npy, by counting non-blank lines after the header
 * for CSV (reads the file once; `check` uses it, training never needs it). */
rt_code rt_data_count_rows(const rt_data_options *opt, const rt_data_info *info, uint64_t *rows,
                           rt_status *st);

/* The smallest and largest label of the whole file, read shard by shard in bounded memory
 * (`check` uses it; training takes the range from the shards it holds). */
rt_code rt_data_label_range(const rt_data_options *opt, const rt_data_info *info, double *lo,
                            double *hi, rt_status *st);

/* The number of classes of a classification problem whose training labels span [lo, hi]:
 * `configured` (data.classes) when > 0, else hi + 1. A file whose labels hold one class only is
 * refused unless data.classes is given: "PATH: the label column (label_column N) holds a single
 * class, 3; a classifier needs two or more (set data.classes to train anyway)". */
rt_code rt_data_classes(const char *path, int label_column, double lo, double hi, long configured,
                        size_t *classes, rt_status *st);

/* What rt_data_convert wrote. */
typedef struct rt_convert_result {
  uint64_t rows;
  size_t columns;
  uint64_t bytes_read; /* CSV: the file's size; .npy: 0 */
  double read_seconds; /* time spent reading and parsing (the rest is writing) */
} rt_convert_result;

/* Writes every row of a data file, every column (the label too) in file order, to a C-order
 * float32 .npy file at out_path: text is parsed once, by the reader training uses (same values,
 * same errors with file and line). Bounded memory (about 32 MiB of input at a time); the output
 * appears complete or not at all. opt->label_column and opt->cache are ignored. */
rt_code rt_data_convert(const rt_data_options *opt, const char *out_path, rt_convert_result *result,
                        rt_status *st);

void rt_shard_free(rt_shard *shard);

#ifdef __cplusplus
}
#endif
#endif
