/* The feature rows of a streamed shard (data.residency: stream), read on demand from a .npy file
 * (the training file itself, or a CSV's parsed-shard cache entry) instead of held in memory.
 * Labels stay in memory (rt_shard.y); a source yields features only, converted by the one .npy
 * row conversion and scaled by the one scaling formula, so a row read here has the bits the
 * resident shard would hold. Reads are pread calls on one descriptor: several threads may read
 * at once. */
#ifndef RINGTRAIN_ROW_SOURCE_H
#define RINGTRAIN_ROW_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "normalize.h"
#include "ringtrain/data.h"

typedef struct rt_row_source rt_row_source;

/* Rows [row0, row0 + rows) of the .npy file at path (probed here), label_column as in
 * rt_data_options (-1: none). */
rt_code rt_row_source_open(const char *path, int label_column, uint64_t row0, size_t rows,
                           rt_row_source **out, rt_status *st);

/* A new source of the rows i of src (in order) whose flags[i] == want; `kept` of them. */
rt_code rt_row_source_subset(const rt_row_source *src, const unsigned char *flags,
                             unsigned char want, size_t kept, rt_row_source **out, rt_status *st);

/* Every row read from now on is scaled by sc (copied). */
rt_code rt_row_source_set_scaling(rt_row_source *src, const rt_scaling *sc, rt_status *st);

size_t rt_row_source_rows(const rt_row_source *src);
size_t rt_row_source_features(const rt_row_source *src);

/* Bytes of scratch rt_row_source_read needs for n rows. */
size_t rt_row_source_scratch_bytes(const rt_row_source *src, size_t n);

/* Rows [first, first + n) of the source into x (n * features floats), and their labels into y
 * when y is not NULL (the source's label column; unscaled). */
rt_code rt_row_source_read(const rt_row_source *src, size_t first, size_t n, float *x, float *y,
                           void *scratch, rt_status *st);

/* Rows index[0..n) of the source, in that order, into x. */
rt_code rt_row_source_gather(const rt_row_source *src, const uint64_t *index, size_t n, float *x,
                             rt_status *st);

void rt_row_source_free(rt_row_source *src);

/* Rows index[0..n) of any shard (dense, sparse or streamed), in that order, into x (dense). */
rt_code rt_shard_gather_rows(const rt_shard *sh, const uint64_t *index, size_t n, float *x,
                             rt_status *st);

/* Rows [first, first + n) of any shard, dense (copied), sparse (made dense) or streamed (read),
 * into x. */
rt_code rt_shard_copy_rows(const rt_shard *sh, size_t first, size_t n, float *x, void *scratch,
                           rt_status *st);

#endif
