/* Private helpers shared by the data readers (data_probe.c, csv_reader.c, npy_reader.c,
 * shard_split.c). Not part of the public interface. */
#ifndef RINGTRAIN_DATA_INTERNAL_H
#define RINGTRAIN_DATA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ringtrain/data.h"
#include "ringtrain/status.h"

/* Chunk size for buffered reads of a shard's byte range. */
#define RT_DATA_CHUNK ((size_t)4 << 20)

/* Where logical shard `shard` of `nshards` starts in [begin, begin + span): begin +
 * shard * span / nshards (128-bit product). CSV: byte offsets of the data, .npy: row indices. The
 * one cut rule of the readers and of rt_data_count_shard_rows. */
static inline uint64_t rt_data_cut(uint64_t begin, uint64_t span, size_t shard, size_t nshards) {
  return begin + (uint64_t)((unsigned __int128)shard * span / nshards);
}

/* The cut range [*c0, *c1) of a text file's logical shard `shard` of `nshards` (CSV, LIBSVM). */
static inline void rt_data_shard_range(const rt_data_info *info, size_t shard, size_t nshards,
                                       uint64_t *c0, uint64_t *c1) {
  const uint64_t b0 = info->data_begin, span = info->data_end - b0;
  *c0 = rt_data_cut(b0, span, shard, nshards);
  *c1 = rt_data_cut(b0, span, shard + 1, nshards);
}

/* How many logical shards a whole-file pass reads the file in (label range, convert): pieces of
 * about 32 MiB of file, at most one per row of a .npy. */
uint64_t rt_data_chunk_count(const rt_data_info *info);

/* Opens `path` read-only and checks it is a regular file; *size gets its size in bytes.
 * A missing / unreadable / non-regular file is RT_ERR_DATA ("PATH: cannot open: ..."). */
rt_code rt_data_open(const char *path, int *fd, uint64_t *size, rt_status *st);

/* Closes fd; a failed close() is reported only when st is non-NULL and no error is pending. */
rt_code rt_data_close(int fd, const char *path, rt_status *st);

/* Reads exactly n bytes at `offset` unless end of file comes first; *got gets the count read.
 * Retries on EINTR and short reads. */
rt_code rt_data_pread(int fd, const char *path, void *buf, size_t n, uint64_t offset, size_t *got,
                      rt_status *st);

/* Allocates n floats, 64-byte aligned, size rounded up to a multiple of 64 bytes.
 * n == 0 gives NULL and RT_OK. */
rt_code rt_data_alloc_floats(size_t n, float **out, const char *path, rt_status *st);

/* Checks the options every entry point shares and resolves RT_FORMAT_AUTO. */
rt_code rt_data_check_options(const rt_data_options *opt, rt_file_format *format, rt_status *st);

/* Format specific parts (csv_reader.c, npy_reader.c). `info` is zeroed by the caller. */
rt_code rt_csv_probe(const rt_data_options *opt, rt_data_info *info, rt_status *st);
rt_code rt_csv_read_shard(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                          size_t nshards, rt_shard *out, rt_status *st);
/* How a .npy payload's rows are laid out, for converting them (npy_reader.c). */
typedef struct rt_npy_layout {
  const char *path;
  int dtype; /* an rt_npy_dtype */
  size_t cols, itemsize;
  size_t label; /* SIZE_MAX = none */
  uint64_t payload;
} rt_npy_layout;

/* Bytes per element of an rt_npy_dtype (0: unknown). */
size_t rt_npy_itemsize(int dtype);

/* Converts n raw rows (src, file rows row0..row0+n-1) into float features x (the label column
 * left out) and labels y (when the layout has one): the one conversion of every .npy read, with
 * its checks (finite, in float32 range) and messages naming the element and its byte offset. */
rt_code rt_npy_convert_rows(const rt_npy_layout *c, const unsigned char *src, size_t n,
                            uint64_t row0, float *x, float *y, rt_status *st);

/* Piece `piece` of `npieces` of logical shard `shard`: the rows whose lines start in the piece's
 * cut of the shard's byte range (the cut rule again, inside the shard), so the pieces of a shard
 * hold exactly its rows, in order. Lets a shard be parsed in bounded memory. */
rt_code rt_csv_read_piece(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                          size_t nshards, size_t piece, size_t npieces, rt_shard *out,
                          rt_status *st);

/* Where rt_csv_read_shard's shard would start (its first_row), reading no row. */
rt_code rt_csv_shard_first_row(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                               size_t nshards, uint64_t *first_row, rt_status *st);
rt_code rt_libsvm_probe(const rt_data_options *opt, rt_data_info *info, rt_status *st);
/* The rows of a LIBSVM file whose lines start in the cut range [c0, c1), as CSR. */
rt_code rt_libsvm_read_range(const rt_data_options *opt, const rt_data_info *info, uint64_t c0,
                             uint64_t c1, rt_shard *out, rt_status *st);
rt_code rt_npy_probe(const rt_data_options *opt, rt_data_info *info, rt_status *st);
rt_code rt_npy_read_shard(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                          size_t nshards, rt_shard *out, rt_status *st);

#endif
