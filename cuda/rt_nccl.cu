/* NCCL transport for model hand-offs between ranks, and what happens when a rank fails.
 *
 * COMMUNICATORS. rt_nccl_init creates `comms` communicators, each spanning every rank of the MPI
 * communicator; a hand-off names the one it uses. Not yet a transport of the one engine
 * (src/engine/engine.c hands host states on with MPI): its event loop sends in arrival order, and
 * NCCL has no tags, so a transport must first tell the receiver (on MPI) which model comes next on
 * a pair's communicator before the NCCL transfer; issuing the operations of one communicator on
 * several streams in different orders is what deadlocks. tests/gpu/test_gpu_nccl.c uses two
 * communicators to check that the index is honoured. NCCL needs a different physical GPU for each rank of a
 * communicator: rt_cuda_choose_device (src/engine/backend_select.c) has made sure of it.
 *
 * NON-BLOCKING. The communicators are created with ncclConfig_t.blocking = 0: every NCCL call
 * returns at once, with ncclInProgress while NCCL still works in a thread of its own (creating the
 * communicator, connecting to a peer for the first time, launching a group), and settle() polls
 * ncclCommGetAsyncError until the communicators are ready again before this file returns. So the
 * host thread never sits inside NCCL, where nothing could wake it when a peer has failed. (The
 * environment variable NCCL_COMM_BLOCKING=1 makes them blocking again; everything still works,
 * only a rank blocked in NCCL then waits for the launcher to end the job.)
 *
 * FAILURES. A rank waits for something only its peers can complete in two places: settle() and
 * rt_nccl_wait_stream (a stream whose NCCL receive needs a peer's send; cudaStreamSynchronize
 * there could wait forever). Both poll, between checks of the thing waited for:
 *   - the communicators' asynchronous errors (a network failure, a peer's process gone);
 *   - the failure notices of the other ranks (src/engine/fail_watch.h: one small MPI message from a
 *     failing rank to every other, on a private communicator), giving RT_ERR_PEER;
 *   - the watchdog (run.timeout), giving RT_ERR_TIMEOUT with what was waited for.
 * A rank that fails, for any reason, calls rt_nccl_fail: it sends its notices, then aborts its
 * communicators (ncclCommAbort sets the flag NCCL's kernels poll, so they quit and this rank's
 * streams drain; ncclCommFinalize would instead wait for transfers that will never complete). A
 * rank that sees a notice aborts too. Only then comes the one collective of the error path, the
 * agreement in rt_nccl_close: ABORT FIRST, AGREE AFTER. When a rank reaches the agreement no rank
 * can be stuck where it would never see the notice: it is either in one of the polling waits
 * (sees it, aborts, comes) or done with its NCCL work (comes). The agreement gives every rank the
 * failing rank's own error (RT_ERR_PEER naming it on the others, src/engine/fail_watch.h); the
 * communicators of a successful run are finalized (polled) and destroyed, those of a failed one
 * aborted. The engine also never queues device work behind a transfer that has not landed (it
 * waits, polling, before issuing work on an arrived model), so no other CUDA call of the host can
 * block on a peer either: kernel launches only ever wait for compute. */
#include "rt_cuda.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rt_cuda_internal.h"

extern "C" {
#include "agree.h"      /* rt_agree, RT_MPI_CHECK (no C++ guards of its own) */
#include "fail_watch.h" /* failure notices and the origin-aware agreement */
}

struct rt_nccl {
  int rank, ranks, count;
  ncclComm_t *comms; /* [count]; NULL entries once aborted or destroyed */
  rt_fail_watch watch;
  bool aborted;
  double watchdog; /* seconds, 0 = none */
};

namespace {

double now_seconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Between polls: spin at first (a hand-off usually lands within microseconds), then sleep 50 us,
 * after about 0.1 s 1 ms. */
void backoff(unsigned *spins) {
  ++*spins;
  if (*spins < 200) return;
  timespec ts = {0, *spins < 2200 ? 50000L : 1000000L};
  nanosleep(&ts, nullptr);
}

/* A non-blocking call: ncclInProgress is not an error (settle() waits for it). */
rt_code nb_result(rt_status *st, ncclResult_t r, const char *call, const char *file, int line) {
  return r == ncclInProgress ? RT_OK : rt_nccl_result(st, r, call, file, line);
}
#define RT_NCCL_NB_CALL(st, call) nb_result((st), (call), #call, __FILE__, __LINE__)

/* The other ranks' notices and the watchdog, between two polls of a wait that began at `start`. */
rt_code check_waiting(rt_nccl *n, double start, const char *what, rt_status *st) {
  rt_code rc;
  RT_TRY(rc, rt_fail_watch_poll(&n->watch, st));
  const double waited = now_seconds() - start;
  if (n->watchdog > 0 && waited > n->watchdog)
    return rt_fail(st, RT_ERR_TIMEOUT, "watchdog: rank %d waited %.0f s (run.timeout) for %s",
                   n->rank, waited, what);
  return RT_OK;
}

/* The communicators' state: an asynchronous error, or *busy = 1 while one is in progress. */
rt_code comm_state(rt_nccl *n, int *busy, rt_status *st) {
  *busy = 0;
  for (int c = 0; c < n->count; ++c) {
    if (!n->comms[c]) continue;
    ncclResult_t async = ncclSuccess;
    RT_NCCL_CHECK(st, ncclCommGetAsyncError(n->comms[c], &async));
    if (async == ncclInProgress) *busy = 1;
    else if (async != ncclSuccess)
      return RT_FAIL_AT(st, RT_ERR_MPI, "NCCL communicator %d of rank %d failed: %s (%s)", c,
                        n->rank, ncclGetErrorString(async), ncclGetLastError(n->comms[c]));
  }
  return RT_OK;
}

/* Polls until no communicator is in progress any more. */
rt_code settle(rt_nccl *n, const char *what, rt_status *st) {
  const double start = now_seconds();
  unsigned spins = 0;
  for (;;) {
    int busy = 0;
    rt_code rc = comm_state(n, &busy, st);
    if (rc != RT_OK || !busy) return rc;
    if ((rc = check_waiting(n, start, what, st)) != RT_OK) return rc;
    backoff(&spins);
  }
}

/* After an ncclGroupEnd: ncclInProgress (the outermost end of a non-blocking group that had work)
 * means NCCL's thread is still enqueueing, so wait for it; anything else is the result itself (a
 * nested end only counts down and gives ncclSuccess). */
rt_code finish_group(rt_nccl *n, ncclResult_t end, const char *call, const char *what,
                     rt_status *st) {
  if (end != ncclInProgress) return rt_nccl_result(st, end, call, __FILE__, __LINE__);
  if (!n)
    return rt_fail(st, RT_ERR_INTERNAL, "%s: in progress without communicators to poll", call);
  return settle(n, what, st);
}

/* Rank 0 makes one unique id per communicator; everybody gets them. */
rt_code share_ids(MPI_Comm comm, int rank, int count, ncclUniqueId *ids, rt_status *st) {
  rt_code rc = RT_OK;
  if (rank == 0)
    for (int c = 0; c < count && rc == RT_OK; ++c) rc = RT_NCCL_CALL(st, ncclGetUniqueId(&ids[c]));
  if ((rc = rt_agree(comm, rc, st)) != RT_OK) return rc;
  RT_MPI_CHECK(st, MPI_Bcast(ids, (int)(count * sizeof *ids), MPI_BYTE, 0, comm));
  return RT_OK;
}

/* All communicators created together, inside one group, non-blocking; then polled until ready. */
rt_code create_comms(rt_nccl *n, const ncclUniqueId *ids, rt_status *st) {
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  RT_NCCL_CHECK(st, ncclGroupStart());
  rt_code rc = RT_OK;
  for (int c = 0; c < n->count && rc == RT_OK; ++c)
    rc = RT_NCCL_NB_CALL(st,
                         ncclCommInitRankConfig(&n->comms[c], n->ranks, ids[c], n->rank, &config));
  const ncclResult_t end = ncclGroupEnd(); /* always closes the group, also after a failure */
  if (rc != RT_OK) return rc;
  return finish_group(n, end, "ncclGroupEnd() after ncclCommInitRankConfig",
                      "the NCCL communicators to be created", st);
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
  for (int c = 0; c < n->count && rc == RT_OK; ++c)
    rc = rt_nccl_handoff(n, c, buf, 1, next, buf + 1, 1, prev, stream, st);
  if (rc == RT_OK) rc = rt_nccl_wait_stream(n, stream, "the NCCL warm-up exchange", st);
  if (rc == RT_OK) {
    unsigned char got = 0;
    rc = RT_CUDA_CALL(st, cudaMemcpy(&got, buf + 1, 1, cudaMemcpyDeviceToHost));
    if (rc == RT_OK && got != (unsigned char)(prev & 0xff))
      rc = RT_FAIL_AT(st, RT_ERR_MPI, "NCCL warm-up: rank %d received %u from rank %d, expected %d",
                      n->rank, (unsigned)got, prev, prev & 0xff);
  }
  /* A transfer still in flight would keep the stream busy forever: abort before draining it. */
  if (rc != RT_OK) rt_nccl_fail(n, rc);
  if (stream) (void)cudaStreamSynchronize(stream);
  if (buf) (void)cudaFree(buf);
  if (stream) (void)cudaStreamDestroy(stream);
  return rc;
}

/* The communicators of a successful run: finalize (polled: it returns ncclInProgress) and
 * destroy. The training is complete by then, so a communicator that fails to finalize is aborted
 * instead and the run's result stands. */
void finalize_comms(rt_nccl *n) {
  for (int c = 0; c < n->count; ++c) {
    if (!n->comms[c]) continue;
    ncclResult_t r = ncclCommFinalize(n->comms[c]);
    const double start = now_seconds();
    unsigned spins = 0;
    while (r == ncclInProgress && ncclCommGetAsyncError(n->comms[c], &r) == ncclSuccess &&
           r == ncclInProgress && (n->watchdog <= 0 || now_seconds() - start < n->watchdog))
      backoff(&spins);
    if (r == ncclSuccess) (void)ncclCommDestroy(n->comms[c]);
    else (void)ncclCommAbort(n->comms[c]);
    n->comms[c] = nullptr;
  }
}

} /* namespace */

extern "C" rt_code rt_nccl_init(MPI_Comm comm, int comms, double watchdog_s, rt_nccl **out,
                                rt_status *st) {
  *out = nullptr;
  rt_status local;
  rt_status_clear(&local);
  if (!st) st = &local; /* the agreements need somewhere to put the agreed message */
  rt_nvtx_push("NCCL init (%d communicators)", comms);
  rt_nvtx_scope nvtx_range;
  rt_nccl *n = (rt_nccl *)calloc(1, sizeof *n);
  ncclUniqueId *ids = comms > 0 ? (ncclUniqueId *)calloc((size_t)comms, sizeof *ids) : nullptr;
  rt_code rc = RT_OK;
  if (comms < 1) rc = rt_fail(st, RT_ERR_INTERNAL, "rt_nccl_init: %d communicators", comms);
  else if (!n || !ids)
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate NCCL tables for %d communicators", comms);
  else if (!(n->comms = (ncclComm_t *)calloc((size_t)comms, sizeof *n->comms)))
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %d NCCL communicators", comms);
  if (rc == RT_OK) {
    n->count = comms;
    n->watchdog = watchdog_s;
    const int r1 = MPI_Comm_rank(comm, &n->rank), r2 = MPI_Comm_size(comm, &n->ranks);
    if (r1 != MPI_SUCCESS) rc = rt_mpi_fail(st, r1, __FILE__, __LINE__, "MPI_Comm_rank(comm)");
    else if (r2 != MPI_SUCCESS) rc = rt_mpi_fail(st, r2, __FILE__, __LINE__, "MPI_Comm_size(comm)");
  }
  /* Local checks agree first, so that no rank enters a collective the others skip. */
  rc = rt_agree(comm, rc, st);
  if (rc == RT_OK) rc = rt_fail_watch_open(&n->watch, comm, st);
  if (rc != RT_OK) {
    free(ids);
    if (n) free(n->comms);
    free(n);
    return rc;
  }
  /* From here on every rank reaches the agreement below: a failure on one rank reaches the others'
   * polling waits as a notice. */
  rc = share_ids(comm, n->rank, comms, ids, st);
  if (rc == RT_OK) rc = create_comms(n, ids, st);
  if (rc == RT_OK) rc = warm_up(n, st);
  free(ids);
  if (rc != RT_OK) rt_nccl_fail(n, rc);
  rc = rt_fail_watch_agree(&n->watch, rc, st);
  if (rc != RT_OK) {
    rt_nccl_fail(n, RT_ERR_PEER); /* a rank that succeeded aborts too */
    rt_status ignored;
    (void)rt_fail_watch_close(&n->watch, &ignored);
    free(n->comms);
    free(n);
    return rc;
  }
  *out = n;
  return RT_OK;
}

extern "C" rt_code rt_nccl_handoff(rt_nccl *nccl, int comm_index, void *send_buf, size_t send_bytes,
                                   int to, void *recv_buf, size_t recv_bytes, int from,
                                   void *stream, rt_status *st) {
  if (comm_index < 0 || comm_index >= nccl->count || to < -1 || to >= nccl->ranks || from < -1 ||
      from >= nccl->ranks || (to >= 0 && send_bytes && !send_buf) ||
      (from >= 0 && recv_bytes && !recv_buf))
    return rt_fail(
        st, RT_ERR_INTERNAL,
        "rt_nccl_handoff: bad arguments (communicator %d of %d, to %d, from %d, %d ranks)",
        comm_index, nccl->count, to, from, nccl->ranks);
  if (nccl->aborted)
    return rt_fail(st, RT_ERR_INTERNAL, "rt_nccl_handoff after the communicators were aborted");
  rt_nvtx_push("handoff on communicator %d: %zu bytes to %d, %zu bytes from %d", comm_index,
               to >= 0 ? send_bytes : (size_t)0, to, from >= 0 ? recv_bytes : (size_t)0, from);
  rt_nvtx_scope nvtx_range;
  ncclComm_t comm = nccl->comms[comm_index];
  cudaStream_t s = (cudaStream_t)stream;
  RT_NCCL_CHECK(st, ncclGroupStart());
  rt_code rc = RT_OK;
  /* Both sides compute the same sizes from the same spec, so skipping empty transfers on one side
   * matches the other. */
  if (to >= 0 && send_bytes > 0)
    rc = RT_NCCL_NB_CALL(st, ncclSend(send_buf, send_bytes, ncclUint8, to, comm, s));
  if (rc == RT_OK && from >= 0 && recv_bytes > 0)
    rc = RT_NCCL_NB_CALL(st, ncclRecv(recv_buf, recv_bytes, ncclUint8, from, comm, s));
  const ncclResult_t end = ncclGroupEnd(); /* always closes the group, also after a failure */
  if (rc != RT_OK) return rc;
  /* Nested in an outer group, this end only counts down and returns ncclSuccess. */
  return finish_group(nccl, end, "ncclGroupEnd() after ncclSend/ncclRecv",
                      "NCCL to enqueue a hand-off", st);
}

extern "C" rt_code rt_nccl_group_start(rt_status *st) {
  RT_NCCL_CHECK(st, ncclGroupStart());
  return RT_OK;
}

extern "C" rt_code rt_nccl_group_end(rt_nccl *nccl, rt_status *st) {
  return finish_group(nccl, ncclGroupEnd(), "ncclGroupEnd()", "NCCL to enqueue the hand-offs", st);
}

extern "C" rt_code rt_nccl_poll(rt_nccl *nccl, rt_status *st) {
  int busy = 0;
  const rt_code rc = comm_state(nccl, &busy, st);
  if (rc != RT_OK) return rc;
  return rt_fail_watch_poll(&nccl->watch, st);
}

extern "C" rt_code rt_nccl_wait_stream(rt_nccl *nccl, void *stream, const char *what,
                                       rt_status *st) {
  cudaStream_t s = (cudaStream_t)stream;
  if (!nccl) {
    RT_CUDA_CHECK(st, cudaStreamSynchronize(s));
    return RT_OK;
  }
  const double start = now_seconds();
  unsigned spins = 0;
  for (;;) {
    const cudaError_t e = cudaStreamQuery(s);
    if (e == cudaSuccess) return RT_OK;
    if (e != cudaErrorNotReady) return rt_cuda_result(st, e, "cudaStreamQuery", __FILE__, __LINE__);
    (void)cudaGetLastError(); /* "not ready" is an answer, not an error for the next launch */
    int busy = 0;
    rt_code rc = comm_state(nccl, &busy, st);
    if (rc == RT_OK) rc = check_waiting(nccl, start, what, st);
    if (rc != RT_OK) return rc;
    backoff(&spins);
  }
}

extern "C" int rt_nccl_comms(const rt_nccl *nccl) { return nccl->count; }

extern "C" void rt_nccl_fail(rt_nccl *nccl, rt_code rc) {
  if (!nccl || nccl->aborted) return;
  if (rc != RT_OK && rc != RT_ERR_PEER) rt_fail_watch_raise(&nccl->watch);
  for (int c = 0; c < nccl->count; ++c)
    if (nccl->comms[c]) {
      (void)ncclCommAbort(nccl->comms[c]); /* local; it makes NCCL's kernels on this rank quit */
      nccl->comms[c] = nullptr;
    }
  nccl->aborted = true;
}

extern "C" rt_code rt_nccl_close(rt_nccl *nccl, rt_code rc, rt_status *st) {
  if (!nccl) return rc;
  rt_status local;
  rt_status_clear(&local);
  if (!st) st = &local;
  if (rc != RT_OK) rt_nccl_fail(nccl, rc); /* abort first: then nobody waits on this rank */
  rc = rt_fail_watch_agree(&nccl->watch, rc, st);
  if (rc == RT_OK) finalize_comms(nccl);
  else rt_nccl_fail(nccl, RT_ERR_PEER);
  rt_status ignored;
  const rt_code closed = rt_fail_watch_close(&nccl->watch, rc == RT_OK ? st : &ignored);
  if (rc == RT_OK) rc = closed;
  free(nccl->comms);
  free(nccl);
  return rc;
}
