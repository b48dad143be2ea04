/* CUDA backend, device shards: a host shard (rows x features, labels when it has them) copied once
 * into device memory, through two pinned staging buffers used in turn, after checking that it
 * fits (rt_cuda_check_fits, device.cu). A streamed host shard (data.residency) puts only its
 * labels there; its rows come batch by batch through the slots' feeds (feed.cu). A sparse one
 * (LIBSVM) goes as it is, CSR (memory grows with the non-zeros), its row offsets also kept on the
 * host (so that the host knows each batch's non-zeros when it issues it); the feeds hand its
 * batches to the sparse products as CSR or make them dense on the device. The families
 * read a shard's rows through the batches the driver of compute.cu hands them; nothing here
 * computes. */
#include "rt_cuda.h"

#include <stdlib.h>
#include <string.h>

#include "rt_cuda_internal.h"

/* ---- Device shards --------------------------------------------------------------------------- */

/* struct rt_cuda_shard: rt_cuda_internal.h (the driver in compute.cu reads its rows). */

extern "C" size_t rt_cuda_shard_bytes(size_t rows, size_t features, int has_labels) {
  return rt_cuda_round_up(rows * features * sizeof(float)) +
         (has_labels ? rt_cuda_round_up(rows * sizeof(float)) : 0);
}

extern "C" size_t rt_cuda_sparse_shard_bytes(size_t rows, size_t nnz, int has_labels) {
  return rt_cuda_round_up((rows + 1) * sizeof(uint64_t)) +
         rt_cuda_round_up(nnz * sizeof(uint32_t)) + rt_cuda_round_up(nnz * sizeof(float)) +
         (has_labels ? rt_cuda_round_up(rows * sizeof(float)) : 0);
}

namespace {

/* Two pinned staging buffers of this size feed shard uploads. */
constexpr size_t kStagingBytes = size_t(64) << 20;

struct copy_part {
  char *dst;
  const char *src;
  size_t bytes;
};

/* Host -> device through two pinned staging buffers used in turn: while one is being copied to
 * the device the other is filled. Returns after the stream has drained. */
rt_code staged_upload(const copy_part *parts, int nparts, cudaStream_t stream, rt_status *st) {
  size_t total = 0;
  for (int i = 0; i < nparts; ++i) total += parts[i].bytes;
  if (total == 0) return RT_OK;
  const size_t chunk = total < kStagingBytes ? total : kStagingBytes;
  char *stage[2] = {nullptr, nullptr};
  cudaEvent_t ready[2] = {nullptr, nullptr};
  bool used[2] = {false, false};
  rt_code rc = RT_OK;
  for (int b = 0; b < 2 && rc == RT_OK; ++b) {
    rc = RT_CUDA_CALL(st, cudaHostAlloc((void **)&stage[b], chunk, cudaHostAllocDefault));
    if (rc == RT_OK)
      rc = RT_CUDA_CALL(st, cudaEventCreateWithFlags(&ready[b], cudaEventDisableTiming));
  }
  int which = 0;
  for (int i = 0; i < nparts && rc == RT_OK; ++i) {
    for (size_t off = 0; off < parts[i].bytes && rc == RT_OK; off += chunk) {
      const size_t n = parts[i].bytes - off < chunk ? parts[i].bytes - off : chunk;
      if (used[which]) rc = RT_CUDA_CALL(st, cudaEventSynchronize(ready[which]));
      if (rc != RT_OK) break;
      memcpy(stage[which], parts[i].src + off, n);
      rc = RT_CUDA_CALL(
          st, cudaMemcpyAsync(parts[i].dst + off, stage[which], n, cudaMemcpyHostToDevice, stream));
      if (rc == RT_OK) rc = RT_CUDA_CALL(st, cudaEventRecord(ready[which], stream));
      used[which] = true;
      which ^= 1;
    }
  }
  /* Drain before the staging memory goes, also on failure (copies may still read it). */
  const rt_code sync_rc = RT_CUDA_CALL(rc == RT_OK ? st : nullptr, cudaStreamSynchronize(stream));
  if (rc == RT_OK) rc = sync_rc;
  for (int b = 0; b < 2; ++b) {
    if (ready[b]) (void)cudaEventDestroy(ready[b]);
    if (stage[b]) (void)cudaFreeHost(stage[b]);
  }
  return rc;
}

} /* namespace */

extern "C" rt_code rt_cuda_shard_upload(const rt_shard *host, void *stream, rt_cuda_shard **out,
                                        rt_status *st) {
  *out = nullptr;
  rt_nvtx_push("upload shard (%zu rows x %zu features)", host->rows, host->features);
  rt_nvtx_scope nvtx_range;
  rt_cuda_shard *d = (rt_cuda_shard *)calloc(1, sizeof *d);
  if (!d) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a device shard descriptor");
  d->rows = host->rows;
  d->features = host->features;
  d->host = host->source ? host : nullptr;    /* streamed: the rows stay on disk */
  const int sparse = host->indptr != nullptr; /* CSR, made dense batch by batch (feed.cu) */
  d->nnz = sparse ? (size_t)host->indptr[host->rows] : 0;
  const size_t xb = d->host || sparse ? 0 : host->rows * host->features * sizeof(float);
  const size_t yb = host->y ? host->rows * sizeof(float) : 0;
  const size_t pb = sparse ? (host->rows + 1) * sizeof(uint64_t) : 0,
               ib = d->nnz * sizeof(uint32_t), vb = d->nnz * sizeof(float);
  rt_code rc = rt_cuda_check_fits(
      sparse ? rt_cuda_sparse_shard_bytes(host->rows, d->nnz, host->y != nullptr)
             : rt_cuda_shard_bytes(host->rows, d->host ? 0 : host->features, host->y != nullptr),
      "loading a shard", st);
  if (rc == RT_OK && xb) rc = RT_CUDA_CALL(st, cudaMalloc((void **)&d->x, xb));
  if (rc == RT_OK && yb) rc = RT_CUDA_CALL(st, cudaMalloc((void **)&d->y, yb));
  if (rc == RT_OK && pb) rc = RT_CUDA_CALL(st, cudaMalloc((void **)&d->indptr, pb));
  if (rc == RT_OK && ib) rc = RT_CUDA_CALL(st, cudaMalloc((void **)&d->indices, ib));
  if (rc == RT_OK && vb) rc = RT_CUDA_CALL(st, cudaMalloc((void **)&d->values, vb));
  if (rc == RT_OK && pb) {
    d->host_indptr = (uint64_t *)malloc(pb);
    if (d->host_indptr) memcpy(d->host_indptr, host->indptr, pb);
    else
      rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot copy a sparse shard's %zu row offsets",
                      host->rows + 1);
  }
  if (rc == RT_OK) {
    const copy_part parts[5] = {{(char *)d->x, (const char *)host->x, xb},
                                {(char *)d->y, (const char *)host->y, yb},
                                {(char *)d->indptr, (const char *)host->indptr, pb},
                                {(char *)d->indices, (const char *)host->indices, ib},
                                {(char *)d->values, (const char *)host->values, vb}};
    rc = staged_upload(parts, 5, (cudaStream_t)stream, st);
  }
  if (rc != RT_OK) {
    rt_cuda_shard_free(d);
    return rc;
  }
  *out = d;
  return RT_OK;
}

extern "C" void rt_cuda_shard_free(rt_cuda_shard *shard) {
  if (!shard) return;
  if (shard->x) (void)cudaFree(shard->x);
  if (shard->y) (void)cudaFree(shard->y);
  if (shard->indptr) (void)cudaFree(shard->indptr);
  if (shard->indices) (void)cudaFree(shard->indices);
  if (shard->values) (void)cudaFree(shard->values);
  free(shard->host_indptr);
  free(shard);
}

extern "C" size_t rt_cuda_shard_rows(const rt_cuda_shard *shard) { return shard->rows; }
extern "C" void rt_cuda_shard_set_scaled(rt_cuda_shard *shard, const struct rt_scaling *scaled) {
  shard->scaled = scaled;
}
extern "C" size_t rt_cuda_shard_features(const rt_cuda_shard *shard) { return shard->features; }
