/* CUDA backend, slots: one model-in-flight context per slot (struct rt_cuda_slot,
 * rt_cuda_internal.h) with its stream, device state buffer, family workspace and evaluation
 * columns, all allocated once at creation, and a cuBLAS handle made only when a model needs one
 * (linear exact; rt_cuda_slot_blas); moving states between host and device through the slot's pinned staging buffer
 * (upload, download, header refresh, adopting a state that arrived by NCCL) with the rules that
 * keep the staging buffer safe without waiting; and synchronising or polling a slot. What runs in
 * a slot is compute.cu. */
#include "rt_cuda.h"

#include <stdlib.h>
#include <string.h>

#include "rt_cuda_internal.h"

/* ---- Slots ----------------------------------------------------------------------------------- */

/* struct rt_cuda_slot: rt_cuda_internal.h (the family files carve its workspace). */

namespace {

constexpr size_t kPinnedBytes = 256; /* header mirror readback and evaluation sums */

} /* namespace */

extern "C" size_t rt_cuda_slot_bytes(size_t max_state_bytes, size_t max_batch_rows,
                                     size_t max_features, size_t max_classes, size_t work_floats) {
  (void)max_features, (void)max_classes; /* bounds only: the workspace holds the math */
  return rt_cuda_round_up(max_state_bytes) +
         rt_cuda_round_up((work_floats ? work_floats : 1) * sizeof(float)) +
         rt_cuda_round_up(RT_EVAL_SUMS * max_batch_rows * sizeof(double)) +
         rt_cuda_round_up(RT_EVAL_SUMS * sizeof(double));
}

extern "C" rt_code rt_cuda_slot_create(size_t max_state_bytes, size_t max_batch_rows,
                                       size_t max_features, size_t max_classes, size_t work_floats,
                                       rt_cuda_slot **out, rt_status *st) {
  *out = nullptr;
  if (max_state_bytes < sizeof(rt_state_header) || max_batch_rows == 0 || max_features == 0)
    return rt_fail(st, RT_ERR_INTERNAL,
                   "rt_cuda_slot_create: bad sizes (state %zu bytes, %zu rows, %zu features)",
                   max_state_bytes, max_batch_rows, max_features);
  rt_code rc = rt_cuda_check_fits(
      rt_cuda_slot_bytes(max_state_bytes, max_batch_rows, max_features, max_classes, work_floats),
      "a training slot", st);
  if (rc != RT_OK) return rc;
  rt_cuda_slot *s = (rt_cuda_slot *)calloc(1, sizeof *s);
  if (!s) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a slot descriptor");
  s->state_cap = max_state_bytes;
  s->max_rows = max_batch_rows;
  s->max_features = max_features;
  s->max_classes = max_classes;
  s->work_cap = work_floats;
  const size_t work_bytes = (work_floats ? work_floats : 1) * sizeof(float);
  if ((rc = RT_CUDA_CALL(st, cudaGetDevice(&s->device))) ||
      (rc = RT_CUDA_CALL(st, cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking))) ||
      (rc = RT_CUDA_CALL(st, cudaEventCreateWithFlags(&s->done, cudaEventDisableTiming))) ||
      (rc = RT_CUDA_CALL(st, cudaMalloc((void **)&s->state, max_state_bytes))) ||
      (rc = RT_CUDA_CALL(st, cudaMalloc((void **)&s->work, work_bytes))) ||
      (rc = RT_CUDA_CALL(st, cudaMalloc((void **)&s->row_vals,
                                        RT_EVAL_SUMS * max_batch_rows * sizeof(double)))) ||
      (rc = RT_CUDA_CALL(st, cudaMalloc((void **)&s->acc, RT_EVAL_SUMS * sizeof(double)))) ||
      (rc = RT_CUDA_CALL(st,
                         cudaHostAlloc((void **)&s->pinned, kPinnedBytes, cudaHostAllocDefault))) ||
      (rc = RT_CUDA_CALL(
           st, cudaHostAlloc((void **)&s->staging, max_state_bytes, cudaHostAllocDefault))) ||
      (rc = RT_CUDA_CALL(st, cudaEventCreateWithFlags(&s->staging_free, cudaEventDisableTiming))) ||
      (rc = RT_CUDA_CALL(st, cudaEventCreateWithFlags(&s->copy_done, cudaEventDisableTiming)))) {
    rt_cuda_slot_free(s);
    return rc;
  }
  *out = s;
  return RT_OK;
}

rt_code rt_cuda_slot_blas(rt_cuda_slot *s, void *ws, rt_status *st) {
  if (!s->blas) {
    cublasHandle_t h = nullptr;
    rt_code rc;
    if ((rc = RT_CUBLAS_CALL(st, cublasCreate(&h))) ||
        (rc = RT_CUBLAS_CALL(st, cublasSetStream(h, s->stream))) ||
        (rc = RT_CUBLAS_CALL(st, cublasSetAtomicsMode(h, CUBLAS_ATOMICS_NOT_ALLOWED))) ||
        /* No TF32: that only comes with the TF32 math mode or a *_FAST_TF32 compute type. */
        (rc = RT_CUBLAS_CALL(st, cublasSetMathMode(h, CUBLAS_DEFAULT_MATH))) ||
        (rc = RT_CUBLAS_CALL(st, cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST)))) {
      if (h) (void)cublasDestroy(h);
      return rc;
    }
    s->blas = h;
  }
  /* After cublasSetStream (which resets it to the shared pool), and at every use: the slot's
   * workspace may have moved since (a respec). */
  return RT_CUBLAS_CALL(st, cublasSetWorkspace(s->blas, ws, kRtBlasWorkspaceBytes));
}

extern "C" void rt_cuda_slot_free(rt_cuda_slot *s) {
  if (!s) return;
  if (s->stream) (void)cudaStreamSynchronize(s->stream);
  if (s->blas) (void)cublasDestroy(s->blas);
  rt_cuda_sparse_free(s);
  if (s->state) (void)cudaFree(s->state);
  if (s->work) (void)cudaFree(s->work);
  if (s->row_vals) (void)cudaFree(s->row_vals);
  if (s->acc) (void)cudaFree(s->acc);
  if (s->pinned) (void)cudaFreeHost(s->pinned);
  if (s->staging) (void)cudaFreeHost(s->staging);
  if (s->staging_free) (void)cudaEventDestroy(s->staging_free);
  if (s->copy_done) (void)cudaEventDestroy(s->copy_done);
  if (s->done) (void)cudaEventDestroy(s->done);
  if (s->stream) (void)cudaStreamDestroy(s->stream);
  free(s->order);
  rt_cuda_input_free(&s->input);
  rt_cuda_feed_free(s->feed);
  free(s);
}

extern "C" void *rt_cuda_slot_stream(rt_cuda_slot *slot) { return (void *)slot->stream; }
extern "C" void *rt_cuda_slot_state(rt_cuda_slot *slot) { return slot->state; }
extern "C" size_t rt_cuda_slot_state_capacity(const rt_cuda_slot *slot) { return slot->state_cap; }
extern "C" int rt_cuda_slot_fits(const rt_cuda_slot *slot, size_t state_bytes, size_t batch_rows,
                                 size_t features, size_t classes, size_t work_floats) {
  return slot && state_bytes <= slot->state_cap && batch_rows <= slot->max_rows &&
         features <= slot->max_features && classes <= slot->max_classes &&
         work_floats <= slot->work_cap;
}
extern "C" size_t rt_cuda_slot_state_bytes(const rt_cuda_slot *slot) { return slot->state_bytes; }
extern "C" const rt_state_header *rt_cuda_slot_header(const rt_cuda_slot *slot) {
  return &slot->mirror;
}

rt_code rt_cuda_mark_done(rt_cuda_slot *slot, rt_status *st) {
  RT_CUDA_CHECK(st, cudaEventRecord(slot->done, slot->stream));
  return RT_OK;
}

namespace {

rt_code check_state_size(const rt_cuda_slot *slot, size_t bytes, rt_status *st) {
  if (bytes < sizeof(rt_state_header) || bytes > slot->state_cap)
    return rt_fail(st, RT_ERR_INTERNAL,
                   "a state of %zu bytes does not fit this slot (header %zu, capacity %zu bytes)",
                   bytes, sizeof(rt_state_header), slot->state_cap);
  return RT_OK;
}

/* `ev` marks the last use of something on the slot's stream; an event never recorded counts as
 * complete. Never waits: still in flight is the caller's mistake, reported. */
rt_code staging_ready(cudaEvent_t ev, const char *what, rt_status *st) {
  const cudaError_t e = cudaEventQuery(ev);
  if (e == cudaErrorNotReady) {
    (void)cudaGetLastError(); /* an answer, not a pending error */
    return rt_fail(st, RT_ERR_INTERNAL,
                   "%s was issued while the slot's previous state copy is "
                   "still in flight (synchronise the slot in between)",
                   what);
  }
  return rt_cuda_result(st, e, "cudaEventQuery", __FILE__, __LINE__);
}

/* Runs on a CUDA thread once the device-to-host copy into the staging buffer is done. */
void CUDART_CB copy_out_of_staging(void *user) {
  const rt_cuda_slot *slot = (const rt_cuda_slot *)user;
  memcpy(slot->copy_out.dst, slot->copy_out.src, slot->copy_out.bytes);
}

} /* namespace */

extern "C" rt_code rt_cuda_state_upload(rt_cuda_slot *slot, const void *host_state, size_t bytes,
                                        rt_status *st) {
  /* The host writes the staging buffer: every earlier use of it on the stream must be over. */
  rt_code rc = check_state_size(slot, bytes, st);
  if (rc == RT_OK) rc = staging_ready(slot->staging_free, "a state upload", st);
  if (rc != RT_OK) return rc;
  const rt_state_header *h = (const rt_state_header *)host_state;
  rt_nvtx_push("upload model %llu state", (unsigned long long)h->model_id);
  rt_nvtx_scope nvtx_range;
  memcpy(slot->staging, host_state, bytes); /* the caller's buffer is free from here on */
  RT_CUDA_CHECK(
      st, cudaMemcpyAsync(slot->state, slot->staging, bytes, cudaMemcpyHostToDevice, slot->stream));
  RT_CUDA_CHECK(st, cudaEventRecord(slot->staging_free, slot->stream));
  memcpy(&slot->mirror, host_state, sizeof slot->mirror);
  slot->state_bytes = bytes;
  slot->has_model = 1;
  return rt_cuda_mark_done(slot, st);
}

extern "C" rt_code rt_cuda_state_download(rt_cuda_slot *slot, void *host_state, size_t bytes,
                                          rt_status *st) {
  if (!slot->has_model)
    return rt_fail(st, RT_ERR_INTERNAL, "rt_cuda_state_download: the slot holds no model");
  if (bytes < slot->state_bytes)
    return rt_fail(st, RT_ERR_INTERNAL,
                   "rt_cuda_state_download: buffer of %zu bytes for a state of %zu bytes", bytes,
                   slot->state_bytes);
  /* The device side of the staging buffer is ordered by the stream (after an upload's copy from
   * it); only the host copy of an earlier download must be over, as copy_out is rewritten. */
  rt_code rc;
  RT_TRY(rc, staging_ready(slot->copy_done, "a state download", st));
  RT_CUDA_CHECK(st, cudaMemcpyAsync(slot->staging, slot->state, slot->state_bytes,
                                    cudaMemcpyDeviceToHost, slot->stream));
  slot->copy_out.dst = host_state;
  slot->copy_out.src = slot->staging;
  slot->copy_out.bytes = slot->state_bytes;
  RT_CUDA_CHECK(st, cudaLaunchHostFunc(slot->stream, copy_out_of_staging, slot));
  RT_CUDA_CHECK(st, cudaEventRecord(slot->copy_done, slot->stream));
  RT_CUDA_CHECK(st, cudaEventRecord(slot->staging_free, slot->stream));
  return rt_cuda_mark_done(slot, st);
}

extern "C" rt_code rt_cuda_header_refresh(rt_cuda_slot *slot, rt_status *st) {
  RT_CUDA_CHECK(st, cudaMemcpyAsync(slot->pinned, slot->state, sizeof(rt_state_header),
                                    cudaMemcpyDeviceToHost, slot->stream));
  RT_CUDA_CHECK(st, cudaStreamSynchronize(slot->stream));
  memcpy(&slot->mirror, slot->pinned, sizeof slot->mirror);
  slot->has_model = 1;
  return RT_OK;
}

extern "C" rt_code rt_cuda_state_adopt(rt_cuda_slot *slot, size_t bytes, rt_status *st) {
  rt_code rc;
  RT_TRY(rc, check_state_size(slot, bytes, st));
  slot->state_bytes = bytes;
  return rt_cuda_header_refresh(slot, st);
}

extern "C" rt_code rt_cuda_state_arrive(rt_cuda_slot *slot, size_t bytes,
                                        const rt_state_header *expected, rt_status *st) {
  rt_code rc;
  RT_TRY(rc, check_state_size(slot, bytes, st));
  slot->state_bytes = bytes;
  slot->mirror = *expected;
  slot->has_model = 1;
  return RT_OK;
}

extern "C" rt_code rt_cuda_slot_sync(rt_cuda_slot *slot, rt_status *st) {
  RT_CUDA_CHECK(st, cudaStreamSynchronize(slot->stream));
  return RT_OK;
}

extern "C" rt_code rt_cuda_slot_query(rt_cuda_slot *slot, int *done, rt_status *st) {
  const cudaError_t e = cudaEventQuery(slot->done);
  if (e == cudaErrorNotReady) {
    (void)cudaGetLastError(); /* "not ready" is an answer, not a pending error */
    *done = 0;
    return RT_OK;
  }
  *done = 1;
  return rt_cuda_result(st, e, "cudaEventQuery(slot->done)", __FILE__, __LINE__);
}
