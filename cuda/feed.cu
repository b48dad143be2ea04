/* CUDA backend, feeds: the rows of a streamed shard (data.residency; the device shard holds only
 * its labels, shards.cu) brought to a slot batch by batch while its kernels run. The host side is
 * the CPU's read-ahead (src/data/batch_stream.h: a thread reads the visit's batches in the visit's
 * order from the .npy file); each batch then goes into one of two pinned buffers and from there,
 * on the feed's own copy stream, into one of two device buffers, which each consumer's stream (a
 * slot's: a fused group's context, or each member of an unfused group, so that a batch is read and
 * copied once for the group) waits for before the batch's kernels. So the copy of batch k + 1
 * overlaps the kernels of batch k, and the host refills a pinned buffer only once its last copy is
 * done, a device buffer only once every kernel that read it is done (events, no device-wide
 * waits):
 *
 *   host:              read k -> pinned[b]   (waits: copied[b] of batch k - 2)      b = k % 2
 *   copy stream:       pinned -> device[b]   (waits: used[b][*] of batch k - 2), then copied[b]
 *   consumer i stream: kernels of batch k    (waits: copied[b]), then used[b][i]
 *
 * A sparse shard (LIBSVM, CSR on the device: shards.cu) is fed the same way, the host step left
 * out, in one of two forms:
 *  - dense (rt_cuda_feed_next): on the copy stream the device buffer is zeroed and one kernel
 *    scatters the batch's non-zeros into it (each element written once: no sums, the same bits on
 *    every run), so every family, view and scaling sees the dense rows it would see on the CPU;
 *  - CSR (rt_cuda_feed_next_csr, for the sparse products of the fused groups): one kernel writes
 *    the batch's row offsets from 0 (its column indices and values are the shard's own, in
 *    place), then cuSPARSE's csr2csc makes the transpose (a permutation of the entries: no sums),
 *    both on the copy stream, so the transpose of batch k + 1 overlaps the products of batch k.
 *    A batch more than half dense is made dense instead (the choice depends on the batch's
 *    non-zeros only, so it is the same on every run and rank count).
 *
 * A feed belongs to a slot (a model's or a fused group's), is made at the slot's first fed visit
 * and lives as long as the slot; memory: two device and two pinned buffers of the slot's batch
 * (rt_cuda_feed_bytes), whatever the shard's size, each allocated at its first use (a CSR feed
 * has no pinned buffers, and dense ones only once a batch is made dense); a CSR feed's two
 * transposes hold (features + 1) offsets and the visit's largest batch's non-zeros each. */
#include "rt_cuda.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rt_cuda_internal.h"

extern "C" {
#include "batch_stream.h" /* no C++ guards of its own */
}

struct rt_cuda_feed {
  size_t rows_cap, features;
  float *dx[2];          /* device: rows_cap x features each (allocated at the first dense batch) */
  float *hx[2];          /* pinned host: the same */
  cudaEvent_t copied[2]; /* the buffer's last copy done */
  /* [consumer_cap] each: consumer i's kernels of the buffer's last batch done */
  cudaEvent_t *used[2];
  size_t live[2]; /* consumers whose used event of the buffer was recorded */
  size_t consumer_cap, consumers;
  int copied_live[2]; /* the buffer's copied event was recorded */
  cudaStream_t copy;
  rt_batch_stream *bs; /* the streamed visit being fed (NULL between visits) */
  /* A sparse visit: its shard, batches order[k..nb) (order NULL: in turn) of batch_rows rows. */
  const rt_cuda_shard *sparse;
  uint64_t *order;
  size_t order_cap, nb, k, batch_rows;
  int order_given;
  uint64_t fed; /* batches done: the next one goes into buffer fed % 2 */
  int pending;  /* a batch was handed out and rt_cuda_feed_done not called yet */
  /* CSR batches (made at the first): per buffer the batch's offsets from 0 and its transpose. */
  int *coffs[2];               /* rows_cap + 1 */
  int *toffs[2];               /* features + 1 */
  int *trows[2];               /* nnz_cap */
  float *tvals[2];             /* nnz_cap */
  size_t nnz_cap;              /* non-zeros the transposes hold */
  size_t visit_nnz;            /* the open visit's largest CSR batch's non-zeros */
  cusparseHandle_t transposer; /* on the copy stream */
  void *t_ws;                  /* csr2csc's work buffer */
  size_t t_ws_bytes;
};

extern "C" int rt_cuda_batch_as_csr(size_t rows, size_t features, size_t nnz) {
  return 2 * nnz <= rows * features && nnz <= (size_t)INT_MAX && features < (size_t)INT_MAX;
}

extern "C" size_t rt_cuda_feed_bytes(size_t max_rows, size_t features, size_t batch_nnz) {
  const size_t dense = 2 * rt_cuda_round_up(max_rows * features * sizeof(float));
  if (batch_nnz == 0) return dense;
  /* A sparse feed may hold both forms (a visit that mixes CSR batches and denser ones): per
   * buffer the batch's offsets and its transpose's offsets and entries (an index and a value). */
  return dense + 2 * (rt_cuda_round_up((max_rows + 1) * sizeof(int)) +
                      rt_cuda_round_up((features + 1) * sizeof(int)) +
                      rt_cuda_round_up(batch_nnz * sizeof(int)) +
                      rt_cuda_round_up(batch_nnz * sizeof(float)));
}

namespace {

void free_used(rt_cuda_feed *f) {
  for (int b = 0; b < 2; ++b) {
    for (size_t i = 0; f->used[b] && i < f->consumer_cap; ++i)
      if (f->used[b][i]) (void)cudaEventDestroy(f->used[b][i]);
    free(f->used[b]);
    f->used[b] = nullptr;
  }
  f->consumer_cap = 0;
}

} /* namespace */

void rt_cuda_feed_free(rt_cuda_feed *f) {
  if (!f) return;
  rt_batch_stream_close(f->bs);
  if (f->copy) (void)cudaStreamSynchronize(f->copy);
  /* Consumers on other slots' streams may still read the buffers: their `used` events say when
   * they are done (cudaFree is not documented to wait for them). */
  for (int b = 0; b < 2; ++b)
    for (size_t i = 0; f->used[b] && i < f->live[b]; ++i) (void)cudaEventSynchronize(f->used[b][i]);
  for (int b = 0; b < 2; ++b) {
    if (f->dx[b]) (void)cudaFree(f->dx[b]);
    if (f->hx[b]) (void)cudaFreeHost(f->hx[b]);
    if (f->copied[b]) (void)cudaEventDestroy(f->copied[b]);
    if (f->coffs[b]) (void)cudaFree(f->coffs[b]);
    if (f->toffs[b]) (void)cudaFree(f->toffs[b]);
    if (f->trows[b]) (void)cudaFree(f->trows[b]);
    if (f->tvals[b]) (void)cudaFree(f->tvals[b]);
  }
  if (f->transposer) (void)cusparseDestroy(f->transposer);
  if (f->t_ws) (void)cudaFree(f->t_ws);
  free_used(f);
  if (f->copy) (void)cudaStreamDestroy(f->copy);
  free(f->order);
  free(f);
}

namespace {

rt_code feed_create(size_t rows_cap, size_t features, rt_cuda_feed **out, rt_status *st) {
  rt_cuda_feed *f = (rt_cuda_feed *)calloc(1, sizeof *f);
  if (!f) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a feed");
  f->rows_cap = rows_cap;
  f->features = features;
  rt_code rc = RT_CUDA_CALL(st, cudaStreamCreateWithFlags(&f->copy, cudaStreamNonBlocking));
  for (int b = 0; b < 2 && rc == RT_OK; ++b)
    rc = RT_CUDA_CALL(st, cudaEventCreateWithFlags(&f->copied[b], cudaEventDisableTiming));
  if (rc != RT_OK) {
    rt_cuda_feed_free(f);
    return rc;
  }
  *out = f;
  return RT_OK;
}

/* Room for n consumers' events. The old events are only dropped between visits, once the copy
 * stream has waited for them (the caller synchronises it first). */
rt_code reserve_consumers(rt_cuda_feed *f, size_t n, rt_status *st) {
  if (n <= f->consumer_cap) return RT_OK;
  RT_CUDA_CHECK(st, cudaStreamSynchronize(f->copy));
  for (int b = 0; b < 2; ++b) { /* a buffer's pending reuse waits on nothing older than this */
    for (size_t i = 0; i < f->live[b]; ++i) RT_CUDA_CHECK(st, cudaEventSynchronize(f->used[b][i]));
    f->live[b] = 0;
  }
  free_used(f);
  /* On any failure nothing is kept (free_used): a capacity published with events missing would
   * let the next visit record into null events. */
  for (int b = 0; b < 2; ++b) {
    f->used[b] = (cudaEvent_t *)calloc(n, sizeof(cudaEvent_t));
    if (!f->used[b]) {
      free_used(f);
      return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu feed events", n);
    }
  }
  f->consumer_cap = n; /* so that free_used destroys the events made so far */
  for (int b = 0; b < 2; ++b)
    for (size_t i = 0; i < n; ++i) {
      const cudaError_t e = cudaEventCreateWithFlags(&f->used[b][i], cudaEventDisableTiming);
      if (e != cudaSuccess) {
        free_used(f);
        RT_CUDA_CHECK(st, e);
      }
    }
  return RT_OK;
}

/* The dense device buffers, at the first dense batch. */
rt_code dense_buffers(rt_cuda_feed *f, rt_status *st) {
  const size_t bytes = f->rows_cap * f->features * sizeof(float);
  for (int b = 0; b < 2; ++b)
    if (!f->dx[b]) RT_CUDA_CHECK(st, cudaMalloc((void **)&f->dx[b], bytes ? bytes : 1));
  return RT_OK;
}

/* Batch k of the open sparse visit: its first row; a batch's rows; its non-zeros (from the host's
 * copy of the row offsets). */
size_t batch_first(const rt_cuda_feed *f, size_t k) {
  const size_t index = f->order_given ? (size_t)f->order[k] : k;
  return index * f->batch_rows;
}
size_t batch_rows_at(const rt_cuda_feed *f, size_t first) {
  const size_t rows = f->sparse->rows;
  return first >= rows ? 0 : (first + f->batch_rows <= rows ? f->batch_rows : rows - first);
}
size_t batch_nnz(const rt_cuda_feed *f, size_t first, size_t n) {
  const uint64_t *p = f->sparse->host_indptr;
  return (size_t)(p[first + n] - p[first]);
}

} /* namespace */

rt_code rt_cuda_feed_open(rt_cuda_slot *slot, const rt_cuda_shard *shard, const uint64_t *order,
                          size_t nb, size_t k0, size_t batch_rows, size_t consumers,
                          rt_status *st) {
  if (!rt_cuda_shard_fed(shard) || batch_rows > slot->max_rows || consumers == 0)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                      "a feed of batches of %zu rows for %zu consumers of a %s shard (slot: %zu "
                      "rows)",
                      batch_rows, consumers, rt_cuda_shard_fed(shard) ? "fed" : "resident",
                      slot->max_rows);
  rt_code rc;
  rt_cuda_feed *f = slot->feed;
  if (f && f->features != shard->features) { /* another data width: made anew */
    RT_TRY(rc, RT_CUDA_CALL(st, cudaStreamSynchronize(slot->stream)));
    rt_cuda_feed_free(f);
    slot->feed = f = nullptr;
  }
  if (!f) {
    RT_TRY(rc, feed_create(slot->max_rows, shard->features, &slot->feed, st));
    f = slot->feed;
  }
  rt_batch_stream_close(f->bs); /* a visit an error cut short */
  f->bs = nullptr;
  f->sparse = nullptr;
  f->pending = 0;
  RT_TRY(rc, reserve_consumers(f, consumers, st));
  f->consumers = consumers;
  if (shard->host) { /* the pinned buffers, at the first streamed visit (a sparse one has none) */
    const size_t bytes = f->rows_cap * f->features * sizeof(float);
    for (int b = 0; b < 2; ++b)
      if (!f->hx[b])
        RT_TRY(rc, RT_CUDA_CALL(st, cudaHostAlloc((void **)&f->hx[b], bytes ? bytes : 1,
                                                  cudaHostAllocDefault)));
    RT_TRY(rc, dense_buffers(f, st));
    return rt_batch_stream_open(shard->host, order, nb, k0, batch_rows, &f->bs, st);
  }
  if (order && nb > f->order_cap) {
    uint64_t *grown = (uint64_t *)realloc(f->order, nb * sizeof *grown);
    if (!grown) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot copy a batch order of %zu", nb);
    f->order = grown;
    f->order_cap = nb;
  }
  if (order) memcpy(f->order, order, nb * sizeof *order);
  f->sparse = shard;
  f->nb = nb;
  f->k = k0;
  f->batch_rows = batch_rows;
  f->order_given = order != nullptr;
  f->visit_nnz = 0; /* what a CSR batch of this visit may need (rt_cuda_feed_next_csr) */
  for (size_t k = k0; k < nb; ++k) {
    const size_t first = batch_first(f, k), rows = batch_rows_at(f, first);
    const size_t nnz = batch_nnz(f, first, rows);
    if (rt_cuda_batch_as_csr(rows, f->features, nnz) && nnz > f->visit_nnz) f->visit_nnz = nnz;
  }
  return RT_OK;
}

namespace {

/* Rows [first, first + rows) of the CSR arrays into a dense rows x d block (zeroed before): one
 * block of threads per row, a thread per non-zero in turn. */
__global__ void densify_kernel(const uint64_t *indptr, const uint32_t *indices, const float *values,
                               size_t first, int rows, size_t d, float *out) {
  const int r = blockIdx.x;
  if (r >= rows) return;
  const uint64_t begin = indptr[first + (size_t)r], end = indptr[first + (size_t)r + 1];
  for (uint64_t p = begin + threadIdx.x; p < end; p += blockDim.x)
    out[(size_t)r * d + indices[p]] = values[p];
}

/* offs[i] = indptr[first + i] - indptr[first], i in [0, rows]: a batch's row offsets from 0. */
__global__ void rebase_kernel(const uint64_t *indptr, size_t first, int rows, int *offs) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= rows) offs[i] = (int)(indptr[first + (size_t)i] - indptr[first]);
}

/* The next sparse batch: its first row and rows, checked. */
rt_code next_sparse_batch(const rt_cuda_feed *f, size_t *first, size_t *rows, rt_status *st) {
  if (f->k >= f->nb)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "a sparse feed past its %zu batches", f->nb);
  *first = batch_first(f, f->k);
  if (*first >= f->sparse->rows)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "sparse batch %zu starts past the shard's %zu rows",
                      *first / f->batch_rows, f->sparse->rows);
  *rows = batch_rows_at(f, *first);
  if (*rows > f->rows_cap)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "a sparse batch of %zu rows in a feed of %zu", *rows,
                      f->rows_cap);
  return RT_OK;
}

/* The next sparse batch made dense into device[b] on the copy stream. */
rt_code densify_next(rt_cuda_feed *f, int b, size_t *rows, rt_status *st) {
  const rt_cuda_shard *s = f->sparse;
  size_t first = 0, n = 0;
  rt_code rc;
  RT_TRY(rc, next_sparse_batch(f, &first, &n, st));
  RT_TRY(rc, dense_buffers(f, st));
  RT_CUDA_CHECK(st, cudaMemsetAsync(f->dx[b], 0, n * f->features * sizeof(float), f->copy));
  densify_kernel<<<(unsigned)n, 128, 0, f->copy>>>(s->indptr, s->indices, s->values, first, (int)n,
                                                   f->features, f->dx[b]);
  RT_CUDA_CHECK_LAUNCH(st);
  f->k++;
  *rows = n;
  return RT_OK;
}

/* Room for CSR batches of up to nnz non-zeros in both buffers. Growing waits until neither
 * buffer is in use (its copy done, its consumers' kernels done). */
rt_code csr_buffers(rt_cuda_feed *f, size_t nnz, rt_status *st) {
  for (int b = 0; b < 2; ++b) {
    if (!f->coffs[b])
      RT_CUDA_CHECK(st, cudaMalloc((void **)&f->coffs[b], (f->rows_cap + 1) * sizeof(int)));
    if (!f->toffs[b])
      RT_CUDA_CHECK(st, cudaMalloc((void **)&f->toffs[b], (f->features + 1) * sizeof(int)));
  }
  if (!f->transposer) {
    rt_code rc;
    RT_TRY(rc, rt_cuda_sparse_handle_on(f->copy, &f->transposer, st));
  }
  if (nnz <= f->nnz_cap && f->trows[0]) return RT_OK;
  RT_CUDA_CHECK(st, cudaStreamSynchronize(f->copy));
  for (int b = 0; b < 2; ++b)
    for (size_t i = 0; i < f->live[b]; ++i) RT_CUDA_CHECK(st, cudaEventSynchronize(f->used[b][i]));
  for (int b = 0; b < 2; ++b) {
    if (f->trows[b]) (void)cudaFree(f->trows[b]);
    if (f->tvals[b]) (void)cudaFree(f->tvals[b]);
    f->trows[b] = nullptr;
    f->tvals[b] = nullptr;
  }
  f->nnz_cap = 0;
  const size_t cap = nnz ? nnz : 1;
  for (int b = 0; b < 2; ++b) {
    RT_CUDA_CHECK(st, cudaMalloc((void **)&f->trows[b], cap * sizeof(int)));
    RT_CUDA_CHECK(st, cudaMalloc((void **)&f->tvals[b], cap * sizeof(float)));
  }
  f->nnz_cap = cap;
  return RT_OK;
}

/* The next sparse batch (rows [first, first + n), nnz non-zeros) as CSR and its transpose in
 * buffer b, on the copy stream. */
rt_code csr_next(rt_cuda_feed *f, int b, size_t first, size_t n, size_t nnz, rt_cuda_csr_batch *x,
                 rt_status *st) {
  const rt_cuda_shard *s = f->sparse;
  rt_code rc;
  RT_TRY(rc, csr_buffers(f, nnz > f->visit_nnz ? nnz : f->visit_nnz, st));
  const uint64_t base = s->host_indptr[first];
  const int rows = (int)n, d = (int)f->features, count = (int)nnz;
  rebase_kernel<<<(unsigned)((n + 1 + 255) / 256), 256, 0, f->copy>>>(s->indptr, first, rows,
                                                                      f->coffs[b]);
  RT_CUDA_CHECK_LAUNCH(st);
  /* The shard's column indices are uint32 below 2^31 (features fit an int): cuSPARSE's 32-bit
   * indices. */
  const int *cols = (const int *)(const void *)(s->indices + base);
  const float *vals = s->values + base;
  if (count == 0) {
    RT_CUDA_CHECK(st, cudaMemsetAsync(f->toffs[b], 0, ((size_t)d + 1) * sizeof(int), f->copy));
  } else {
    size_t need = 0;
    RT_TRY(rc, RT_CUSPARSE_CALL(
                   st, cusparseCsr2cscEx2_bufferSize(
                           f->transposer, rows, d, count, vals, f->coffs[b], cols, f->tvals[b],
                           f->toffs[b], f->trows[b], CUDA_R_32F, CUSPARSE_ACTION_NUMERIC,
                           CUSPARSE_INDEX_BASE_ZERO, CUSPARSE_CSR2CSC_ALG1, &need)));
    if (need > f->t_ws_bytes) { /* the last transpose may still use the old buffer */
      RT_CUDA_CHECK(st, cudaStreamSynchronize(f->copy));
      if (f->t_ws) (void)cudaFree(f->t_ws);
      f->t_ws = nullptr;
      f->t_ws_bytes = 0;
      RT_CUDA_CHECK(st, cudaMalloc(&f->t_ws, need));
      f->t_ws_bytes = need;
    }
    if (!f->t_ws) { /* cuSPARSE asked for none: still hand it a valid buffer */
      RT_CUDA_CHECK(st, cudaMalloc(&f->t_ws, 1));
      f->t_ws_bytes = 1;
    }
    RT_CUSPARSE_CHECK(
        st, cusparseCsr2cscEx2(f->transposer, rows, d, count, vals, f->coffs[b], cols, f->tvals[b],
                               f->toffs[b], f->trows[b], CUDA_R_32F, CUSPARSE_ACTION_NUMERIC,
                               CUSPARSE_INDEX_BASE_ZERO, CUSPARSE_CSR2CSC_ALG1, f->t_ws));
  }
  x->rows = rows;
  x->d = d;
  x->nnz = count;
  x->offs = f->coffs[b];
  x->cols = cols;
  x->vals = vals;
  x->t_offs = f->toffs[b];
  x->t_rows = f->trows[b];
  x->t_vals = f->tvals[b];
  f->k++;
  return RT_OK;
}

/* The buffer the next batch goes into, once it is free: pinned[b] once its last copy is done,
 * device[b] once its last readers are (the copy stream waits). */
rt_code claim_buffer(rt_cuda_feed *f, int *buffer, rt_status *st) {
  const int b = (int)(f->fed % 2);
  if (f->copied_live[b]) RT_CUDA_CHECK(st, cudaEventSynchronize(f->copied[b]));
  for (size_t i = 0; i < f->live[b]; ++i)
    RT_CUDA_CHECK(st, cudaStreamWaitEvent(f->copy, f->used[b][i], 0));
  f->live[b] = 0;
  *buffer = b;
  return RT_OK;
}

/* Buffer b's batch handed out: its copy (or making) recorded. */
rt_code hand_out(rt_cuda_feed *f, int b, rt_status *st) {
  RT_CUDA_CHECK(st, cudaEventRecord(f->copied[b], f->copy));
  f->copied_live[b] = 1;
  f->pending = 1;
  return RT_OK;
}

} /* namespace */

void rt_cuda_slot_between(rt_cuda_slot *slot, int (*between)(void *), void *user) {
  slot->between = between;
  slot->between_user = user;
}

/* The slot's hook, before a batch whose buffer may make the host wait for the device. */
static void call_between(const rt_cuda_slot *slot) {
  if (slot->between) (void)slot->between(slot->between_user);
}

rt_code rt_cuda_feed_next(rt_cuda_slot *slot, size_t rows, const float **x, rt_status *st) {
  rt_cuda_feed *f = slot->feed;
  call_between(slot);
  if (!f || (!f->bs && !f->sparse) || f->pending)
    return RT_FAIL_AT(
        st, RT_ERR_INTERNAL, "a feed's next batch %s",
        !f || (!f->bs && !f->sparse) ? "without an open visit" : "before the last one was done");
  const float *src = nullptr;
  size_t got = 0;
  rt_code rc;
  if (f->bs) {
    RT_TRY(rc, rt_batch_stream_next(f->bs, &src, &got, st));
    if (got != rows)
      return RT_FAIL_AT(st, RT_ERR_INTERNAL, "a streamed batch of %zu rows, expected %zu", got,
                        rows);
  }
  int b = 0;
  RT_TRY(rc, claim_buffer(f, &b, st));
  if (f->sparse) {
    RT_TRY(rc, densify_next(f, b, &got, st));
    if (got != rows)
      return RT_FAIL_AT(st, RT_ERR_INTERNAL, "a sparse batch of %zu rows, expected %zu", got, rows);
  } else if (got) {
    const size_t bytes = got * f->features * sizeof(float);
    memcpy(f->hx[b], src, bytes);
    RT_CUDA_CHECK(st, cudaMemcpyAsync(f->dx[b], f->hx[b], bytes, cudaMemcpyHostToDevice, f->copy));
  }
  RT_TRY(rc, hand_out(f, b, st));
  *x = f->dx[b];
  return RT_OK;
}

rt_code rt_cuda_feed_next_csr(rt_cuda_slot *slot, size_t rows, rt_cuda_csr_batch *csr, int *sparse,
                              const float **x, rt_status *st) {
  rt_cuda_feed *f = slot->feed;
  *sparse = 0;
  *x = nullptr;
  if (!f || !f->sparse || f->pending)
    return RT_FAIL_AT(
        st, RT_ERR_INTERNAL, "a feed's next CSR batch %s",
        !f || !f->sparse ? "without an open sparse visit" : "before the last one was done");
  rt_code rc;
  size_t first = 0, n = 0;
  RT_TRY(rc, next_sparse_batch(f, &first, &n, st));
  if (n != rows)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "a sparse batch of %zu rows, expected %zu", n, rows);
  const size_t nnz = batch_nnz(f, first, n);
  if (!rt_cuda_batch_as_csr(n, f->features, nnz)) return rt_cuda_feed_next(slot, rows, x, st);
  call_between(slot);
  int b = 0;
  RT_TRY(rc, claim_buffer(f, &b, st));
  RT_TRY(rc, csr_next(f, b, first, n, nnz, csr, st));
  RT_TRY(rc, hand_out(f, b, st));
  *sparse = 1;
  return RT_OK;
}

rt_code rt_cuda_feed_take(rt_cuda_slot *slot, cudaStream_t stream, rt_status *st) {
  rt_cuda_feed *f = slot->feed;
  if (!f || !f->pending)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "a feed's batch taken that was not handed out");
  RT_CUDA_CHECK(st, cudaStreamWaitEvent(stream, f->copied[f->fed % 2], 0));
  return RT_OK;
}

rt_code rt_cuda_feed_used(rt_cuda_slot *slot, size_t consumer, cudaStream_t stream, rt_status *st) {
  rt_cuda_feed *f = slot->feed;
  const int b = f ? (int)(f->fed % 2) : 0;
  if (!f || !f->pending || consumer >= f->consumers || consumer != f->live[b])
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "a feed's batch used by consumer %zu out of turn",
                      consumer);
  RT_CUDA_CHECK(st, cudaEventRecord(f->used[b][consumer], stream));
  f->live[b] = consumer + 1;
  return RT_OK;
}

rt_code rt_cuda_feed_done(rt_cuda_slot *slot, rt_status *st) {
  rt_cuda_feed *f = slot->feed;
  if (!f || !f->pending || f->live[f->fed % 2] != f->consumers)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "a feed's batch done before every consumer used it");
  f->pending = 0;
  f->fed++;
  return RT_OK;
}

void rt_cuda_feed_close(rt_cuda_slot *slot) {
  if (!slot->feed) return;
  rt_batch_stream_close(slot->feed->bs);
  slot->feed->bs = nullptr;
  slot->feed->sparse = nullptr;
  slot->feed->pending = 0;
}
