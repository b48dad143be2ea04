/* NCCL transport for model hand-offs between ranks, and the node-local rank for device choice.
 *
 * ONE COMMUNICATOR PER SLOT. Each slot issues its work (kernels, cuBLAS, hand-offs) on its own
 * stream, and slots run concurrently. NCCL requires that the operations of one communicator are
 * issued in the same order on every rank, and a NCCL send/receive occupies its stream until the
 * peer's matching operation arrives. If all slots shared one communicator, two ranks could enqueue
 * the hand-offs of different slots in different orders (each rank serves models as they become
 * ready), and each rank's first operation would wait for a peer that is blocked behind the other
 * one: a cross-stream deadlock. With communicator s used only by slot s (only from its stream),
 * the order within a communicator is the order of that slot's own hand-offs, which the schedule
 * fixes identically on every rank; operations on different communicators never wait for each
 * other. The engine must keep to it: a hand-off from slot s on one rank is received by slot s on
 * the peer, and a communicator is never used from a second stream. */
#include "rt_cuda.h"

#include <stdlib.h>
#include <string.h>

#include "rt_cuda_internal.h"

extern "C" {
#include "agree.h" /* rt_agree, RT_MPI_CHECK (no C++ guards of its own) */
}

struct rt_nccl {
  int rank, ranks, slots;
  ncclComm_t *comms;
};

extern "C" rt_code rt_cuda_local_rank(MPI_Comm comm, int *local_rank, rt_status *st) {
  MPI_Comm node = MPI_COMM_NULL;
  RT_MPI_CHECK(st, MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  const int rc = MPI_Comm_rank(node, local_rank);
  MPI_Comm_free(&node);
  RT_MPI_CHECK(st, rc);
  return RT_OK;
}

namespace {

void destroy_comms(rt_nccl *n, bool abort) {
  if (!n->comms) return;
  for (int s = 0; s < n->slots; ++s) {
    if (!n->comms[s]) continue;
    if (abort || ncclCommFinalize(n->comms[s]) != ncclSuccess) (void)ncclCommAbort(n->comms[s]);
    else (void)ncclCommDestroy(n->comms[s]);
    n->comms[s] = nullptr;
  }
}

/* Rank 0 makes one unique id per communicator; everybody gets them. */
rt_code share_ids(MPI_Comm comm, int rank, int slots, ncclUniqueId *ids, rt_status *st) {
  rt_code rc = RT_OK;
  if (rank == 0)
    for (int s = 0; s < slots && rc == RT_OK; ++s) rc = RT_NCCL_CALL(st, ncclGetUniqueId(&ids[s]));
  if ((rc = rt_agree(comm, rc, st)) != RT_OK) return rc;
  RT_MPI_CHECK(st, MPI_Bcast(ids, (int)(slots * sizeof *ids), MPI_BYTE, 0, comm));
  return RT_OK;
}

/* All communicators created together: inside one group, so that a single thread can create
 * several communicators without any of the blocking inits waiting for the others. */
rt_code create_comms(rt_nccl *n, const ncclUniqueId *ids, rt_status *st) {
  RT_NCCL_CHECK(st, ncclGroupStart());
  rt_code rc = RT_OK;
  for (int s = 0; s < n->slots && rc == RT_OK; ++s)
    rc = RT_NCCL_CALL(st, ncclCommInitRank(&n->comms[s], n->ranks, ids[s], n->rank));
  const ncclResult_t end = ncclGroupEnd();
  if (rc != RT_OK) return rc;
  return rt_nccl_result(st, end, "ncclGroupEnd() after ncclCommInitRank", __FILE__, __LINE__);
}

/* One byte to the next rank and one from the previous on every communicator, so the lazy
 * connection setup of the ring paths happens now and not inside the first timed hand-off. */
rt_code warm_up(rt_nccl *n, rt_status *st) {
  cudaStream_t stream = nullptr;
  unsigned char *buf = nullptr;
  rt_code rc = RT_CUDA_CALL(st, cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  if (rc == RT_OK) rc = RT_CUDA_CALL(st, cudaMalloc((void **)&buf, 2));
  if (rc == RT_OK) rc = RT_CUDA_CALL(st, cudaMemsetAsync(buf, n->rank & 0xff, 2, stream));
  const int next = (n->rank + 1) % n->ranks, prev = (n->rank + n->ranks - 1) % n->ranks;
  for (int s = 0; s < n->slots && rc == RT_OK; ++s)
    rc = rt_nccl_handoff(n, s, buf, 1, next, buf + 1, 1, prev, stream, st);
  if (rc == RT_OK) rc = RT_CUDA_CALL(st, cudaStreamSynchronize(stream));
  if (rc == RT_OK) {
    unsigned char got = 0;
    rc = RT_CUDA_CALL(st, cudaMemcpy(&got, buf + 1, 1, cudaMemcpyDeviceToHost));
    if (rc == RT_OK && got != (unsigned char)(prev & 0xff))
      rc = RT_FAIL_AT(st, RT_ERR_MPI, "NCCL warm-up: rank %d received %u from rank %d, expected %d",
                      n->rank, (unsigned)got, prev, prev & 0xff);
  }
  if (stream) (void)cudaStreamSynchronize(stream);
  if (buf) (void)cudaFree(buf);
  if (stream) (void)cudaStreamDestroy(stream);
  return rc;
}

} /* namespace */

extern "C" rt_code rt_nccl_init(MPI_Comm comm, int slots, rt_nccl **out, rt_status *st) {
  *out = nullptr;
  rt_status local;
  rt_status_clear(&local);
  if (!st) st = &local; /* rt_agree needs somewhere to put the agreed message */
  rt_nvtx_push("NCCL init (%d communicators)", slots);
  rt_nvtx_scope nvtx_range;
  rt_nccl *n = (rt_nccl *)calloc(1, sizeof *n);
  ncclUniqueId *ids = slots > 0 ? (ncclUniqueId *)calloc((size_t)slots, sizeof *ids) : nullptr;
  rt_code rc = RT_OK;
  if (slots < 1) rc = rt_fail(st, RT_ERR_INTERNAL, "rt_nccl_init: %d slots", slots);
  else if (!n || !ids) rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate NCCL tables for %d slots", slots);
  else if (!(n->comms = (ncclComm_t *)calloc((size_t)slots, sizeof *n->comms)))
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %d NCCL communicators", slots);
  if (rc == RT_OK) {
    n->slots = slots;
    const int r1 = MPI_Comm_rank(comm, &n->rank), r2 = MPI_Comm_size(comm, &n->ranks);
    if (r1 != MPI_SUCCESS) rc = rt_mpi_fail(st, r1, __FILE__, __LINE__, "MPI_Comm_rank(comm)");
    else if (r2 != MPI_SUCCESS) rc = rt_mpi_fail(st, r2, __FILE__, __LINE__, "MPI_Comm_size(comm)");
  }
  /* Local checks agree first, so that no rank enters a collective the others skip. */
  rc = rt_agree(comm, rc, st);
  if (rc == RT_OK) rc = share_ids(comm, n->rank, slots, ids, st);
  if (rc == RT_OK) {
    rc = rt_agree(comm, create_comms(n, ids, st), st);
    if (rc == RT_OK) rc = rt_agree(comm, warm_up(n, st), st);
    if (rc != RT_OK) destroy_comms(n, true);
  }
  free(ids);
  if (rc != RT_OK) {
    if (n) free(n->comms);
    free(n);
    return rc;
  }
  *out = n;
  return RT_OK;
}

extern "C" rt_code rt_nccl_handoff(rt_nccl *nccl, int slot, void *send_buf, size_t send_bytes,
                                   int to, void *recv_buf, size_t recv_bytes, int from,
                                   void *stream, rt_status *st) {
  if (slot < 0 || slot >= nccl->slots || to < -1 || to >= nccl->ranks || from < -1 ||
      from >= nccl->ranks || (to >= 0 && send_bytes && !send_buf) ||
      (from >= 0 && recv_bytes && !recv_buf))
    return rt_fail(st, RT_ERR_INTERNAL,
                   "rt_nccl_handoff: bad arguments (slot %d of %d, to %d, from %d, %d ranks)", slot,
                   nccl->slots, to, from, nccl->ranks);
  rt_nvtx_push("handoff slot %d: %zu bytes to %d, %zu bytes from %d", slot,
               to >= 0 ? send_bytes : (size_t)0, to, from >= 0 ? recv_bytes : (size_t)0, from);
  rt_nvtx_scope nvtx_range;
  ncclComm_t comm = nccl->comms[slot];
  cudaStream_t s = (cudaStream_t)stream;
  RT_NCCL_CHECK(st, ncclGroupStart());
  rt_code rc = RT_OK;
  /* Both sides compute the same sizes from the same spec, so skipping empty transfers on one side
   * matches the other. */
  if (to >= 0 && send_bytes > 0)
    rc = RT_NCCL_CALL(st, ncclSend(send_buf, send_bytes, ncclUint8, to, comm, s));
  if (rc == RT_OK && from >= 0 && recv_bytes > 0)
    rc = RT_NCCL_CALL(st, ncclRecv(recv_buf, recv_bytes, ncclUint8, from, comm, s));
  const ncclResult_t end = ncclGroupEnd(); /* always closes the group, also after a failure */
  if (rc != RT_OK) return rc;
  return rt_nccl_result(st, end, "ncclGroupEnd() after ncclSend/ncclRecv", __FILE__, __LINE__);
}

extern "C" rt_code rt_nccl_group_start(rt_status *st) {
  RT_NCCL_CHECK(st, ncclGroupStart());
  return RT_OK;
}

extern "C" rt_code rt_nccl_group_end(rt_status *st) {
  RT_NCCL_CHECK(st, ncclGroupEnd());
  return RT_OK;
}

extern "C" rt_code rt_nccl_poll(rt_nccl *nccl, rt_status *st) {
  for (int s = 0; s < nccl->slots; ++s) {
    ncclResult_t async = ncclSuccess;
    RT_NCCL_CHECK(st, ncclCommGetAsyncError(nccl->comms[s], &async));
    if (async != ncclSuccess && async != ncclInProgress)
      return RT_FAIL_AT(st, RT_ERR_MPI, "NCCL communicator of slot %d failed: %s (%s)", s,
                        ncclGetErrorString(async), ncclGetLastError(nccl->comms[s]));
  }
  return RT_OK;
}

extern "C" int rt_nccl_slots(const rt_nccl *nccl) { return nccl->slots; }

extern "C" void rt_nccl_free(rt_nccl *nccl) {
  if (!nccl) return;
  destroy_comms(nccl, false);
  free(nccl->comms);
  free(nccl);
}
