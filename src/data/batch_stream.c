/* rt_batch_stream (batch_stream.h): one reader thread, RT_BATCH_STREAM_DEPTH slots used in turn.
 * Slot k % DEPTH holds batch k; the reader fills it once batch k - DEPTH is released (the caller
 * releases batch k - 1 when it asks for batch k), so at most DEPTH batches are in memory and the
 * reader runs up to DEPTH - 1 batches ahead of the one being integrated. */
#include "batch_stream.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "row_source.h"

typedef struct slot {
  float *x;
  void *scratch;
  size_t rows;
  int ready; /* filled with batch `batch_k` */
  size_t batch_k;
  rt_code rc;
  rt_status st;
} slot;

struct rt_batch_stream {
  const rt_shard *sh;
  uint64_t *order;
  size_t nb, batch, next_read, next_give;
  size_t released; /* batches below this one are done with: their slots may be refilled */
  int stop, started;
  slot slots[RT_BATCH_STREAM_DEPTH];
  pthread_mutex_t lock;
  pthread_cond_t changed;
  pthread_t thread;
};

static size_t batch_rows(const rt_batch_stream *bs, size_t k, size_t *first) {
  const size_t b = bs->order ? (size_t)bs->order[k] : k;
  *first = b * bs->batch;
  const size_t rows = bs->sh->rows;
  return *first + bs->batch <= rows ? bs->batch : rows - *first;
}

static void *reader(void *arg) {
  rt_batch_stream *bs = arg;
  pthread_mutex_lock(&bs->lock);
  while (!bs->stop && bs->next_read < bs->nb) {
    const size_t k = bs->next_read;
    slot *s = &bs->slots[k % RT_BATCH_STREAM_DEPTH];
    /* The slot is free once the caller has moved past the batch it held. */
    while (!bs->stop && k >= bs->released + RT_BATCH_STREAM_DEPTH)
      pthread_cond_wait(&bs->changed, &bs->lock);
    if (bs->stop) break;
    pthread_mutex_unlock(&bs->lock);
    size_t first = 0;
    const size_t rows = batch_rows(bs, k, &first);
    rt_status st;
    rt_status_clear(&st);
    rt_code rc = rt_shard_copy_rows(bs->sh, first, rows, s->x, s->scratch, &st);
    pthread_mutex_lock(&bs->lock);
    s->rows = rows;
    s->rc = rc;
    s->st = st;
    s->batch_k = k;
    s->ready = 1;
    bs->next_read = k + 1;
    pthread_cond_broadcast(&bs->changed);
    if (rc != RT_OK) break;
  }
  pthread_mutex_unlock(&bs->lock);
  return NULL;
}

void rt_batch_stream_close(rt_batch_stream *bs) {
  if (!bs) return;
  if (bs->started) {
    pthread_mutex_lock(&bs->lock);
    bs->stop = 1;
    pthread_cond_broadcast(&bs->changed);
    pthread_mutex_unlock(&bs->lock);
    pthread_join(bs->thread, NULL);
  }
  pthread_mutex_destroy(&bs->lock);
  pthread_cond_destroy(&bs->changed);
  for (size_t i = 0; i < RT_BATCH_STREAM_DEPTH; ++i) {
    free(bs->slots[i].x);
    free(bs->slots[i].scratch);
  }
  free(bs->order);
  free(bs);
}

rt_code rt_batch_stream_open(const rt_shard *sh, const uint64_t *order, size_t nb, size_t k0,
                             size_t batch, rt_batch_stream **out, rt_status *st) {
  *out = NULL;
  rt_batch_stream *bs = calloc(1, sizeof *bs);
  if (!bs) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a batch stream");
  pthread_mutex_init(&bs->lock, NULL);
  pthread_cond_init(&bs->changed, NULL);
  bs->sh = sh;
  bs->nb = nb;
  bs->batch = batch;
  bs->next_read = k0;
  bs->next_give = k0;
  bs->released = k0;
  int ok = 1;
  if (order) {
    bs->order = malloc((nb ? nb : 1) * sizeof *bs->order);
    if (bs->order) memcpy(bs->order, order, nb * sizeof *order);
    else ok = 0;
  }
  const size_t scratch = sh->source ? rt_row_source_scratch_bytes(sh->source, batch) : 0;
  for (size_t i = 0; ok && i < RT_BATCH_STREAM_DEPTH; ++i) {
    const size_t floats = batch * sh->features;
    bs->slots[i].x = malloc((floats > 0 ? floats : 1) * sizeof(float));
    bs->slots[i].scratch = malloc(scratch ? scratch : 1);
    ok = bs->slots[i].x && bs->slots[i].scratch;
  }
  if (!ok) {
    rt_batch_stream_close(bs);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu read-ahead buffers of %zu rows",
                      (size_t)RT_BATCH_STREAM_DEPTH, batch);
  }
  int e = pthread_create(&bs->thread, NULL, reader, bs);
  if (e != 0) {
    rt_batch_stream_close(bs);
    return rt_fail(st, RT_ERR_IO, "%s:%d: pthread_create: %s", __FILE__, __LINE__, strerror(e));
  }
  bs->started = 1;
  *out = bs;
  return RT_OK;
}

rt_code rt_batch_stream_next(rt_batch_stream *bs, const float **x, size_t *rows, rt_status *st) {
  pthread_mutex_lock(&bs->lock);
  const size_t k = bs->next_give;
  slot *s = &bs->slots[k % RT_BATCH_STREAM_DEPTH];
  if (k >= bs->nb) {
    pthread_mutex_unlock(&bs->lock);
    return rt_fail(st, RT_ERR_INTERNAL, "batch stream: batch %zu of %zu asked for", k, bs->nb);
  }
  /* Batch k - 1 (the one handed out last) is released: its slot may be refilled. */
  bs->released = k;
  pthread_cond_broadcast(&bs->changed);
  while (!(s->ready && s->batch_k == k)) pthread_cond_wait(&bs->changed, &bs->lock);
  const rt_code rc = s->rc;
  if (rc != RT_OK) *st = s->st;
  bs->next_give = k + 1;
  pthread_mutex_unlock(&bs->lock);
  *x = s->x;
  *rows = s->rows;
  return rc;
}
