/* Read-ahead of a streamed shard's batches: a thread reads the batches of a visit in the visit's
 * order into a few buffers while the caller integrates the current one, so the next batches are
 * in memory before they are needed. Memory: RT_BATCH_STREAM_DEPTH batches of features plus their
 * raw rows, whatever the shard's size. */
#ifndef RINGTRAIN_BATCH_STREAM_H
#define RINGTRAIN_BATCH_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "ringtrain/data.h"

#define RT_BATCH_STREAM_DEPTH 3

typedef struct rt_batch_stream rt_batch_stream;

/* Batch k (k = k0 .. nb-1) is rows [order[k] * batch, min(that + batch, rows)) of the streamed
 * shard sh (order NULL: batch k is the k-th). order is copied. */
rt_code rt_batch_stream_open(const rt_shard *sh, const uint64_t *order, size_t nb, size_t k0,
                             size_t batch, rt_batch_stream **out, rt_status *st);

/* The next batch's features (valid until the next call or close), and its row count; errors of
 * the read (the file's own messages). */
rt_code rt_batch_stream_next(rt_batch_stream *bs, const float **x, size_t *rows, rt_status *st);

/* Stops the thread (a visit cut short need not read its remaining batches) and frees. NULL: no-op. */
void rt_batch_stream_close(rt_batch_stream *bs);

#endif
