/* Failure notices between ranks, for a phase in which a rank may wait for something only its peers
 * can complete (an NCCL transfer, cuda/rt_nccl.cu): a collective agreement would come too late
 * there, because a peer blocked in such a wait never reaches it. Instead:
 *   1. a rank that fails tells every other rank at once (rt_fail_watch_raise: one small message
 *      each, on a private duplicate of the phase's communicator, never waited for);
 *   2. every wait of the phase polls for such a notice (rt_fail_watch_poll) and gives up with
 *      RT_ERR_PEER when one arrives, after releasing what it was waiting for (the NCCL layer
 *      aborts its communicators);
 *   3. the phase ends with one agreement every rank reaches (rt_fail_watch_agree), in which the
 *      failing rank's own error wins over the "another rank failed" of the others
 *      (rt_agree_origin), then rt_fail_watch_close collects the notices still on the wire.
 * With one rank all of it is free: nothing is sent and the agreement is the rank's own result.
 * tests/mpi/test_fail_watch.sh checks it on 1 to 4 ranks. */
#ifndef RINGTRAIN_FAIL_WATCH_H
#define RINGTRAIN_FAIL_WATCH_H

#include <mpi.h>

#include "ringtrain/status.h"

typedef struct rt_fail_watch {
  MPI_Comm ctl; /* private duplicate of the phase's communicator; MPI_COMM_NULL with one rank */
  int rank, ranks;
  int notice_in;      /* the posted receive's buffer: the rank that failed */
  MPI_Request recv;   /* the posted notice receive, MPI_REQUEST_NULL when none */
  int notice_out;     /* this rank's notices carry its rank */
  MPI_Request *sends; /* [ranks]: this rank's notices, MPI_REQUEST_NULL where none */
  int raised;         /* this rank has sent its notices */
  int received;       /* notices received so far */
  int failed_rank;    /* the sender of the first notice received, -1 while none */
} rt_fail_watch;

/* Collective over comm. On failure nothing needs closing. */
rt_code rt_fail_watch_open(rt_fail_watch *w, MPI_Comm comm, rt_status *st);

/* Non-blocking: RT_OK while no other rank has reported a failure, RT_ERR_PEER ("rank R failed")
 * once one has; MPI failures as RT_ERR_MPI. */
rt_code rt_fail_watch_poll(rt_fail_watch *w, rt_status *st);

/* This rank failed: tells every other rank, once (later calls do nothing). Never blocks. */
void rt_fail_watch_raise(rt_fail_watch *w);

/* Collective: the phase's outcome, the same on every rank. A rank whose own rc is an error other
 * than RT_ERR_PEER raises first (so that ranks still waiting learn of it), then rt_agree_origin. */
rt_code rt_fail_watch_agree(rt_fail_watch *w, rt_code rc, rt_status *st);

/* Collective, after rt_fail_watch_agree: receives the notices still on the wire, completes this
 * rank's own and frees the watch. Returns RT_OK or an MPI failure. */
rt_code rt_fail_watch_close(rt_fail_watch *w, rt_status *st);

/* Collective agreement on rc over comm where errors have an origin. The ranks whose rc is an error
 * other than RT_ERR_PEER are origins; the lowest one's status is the agreed one. An origin keeps its
 * own status. Every other rank (RT_OK, or RT_ERR_PEER after a notice) gets the agreed status when
 * it is an input error (exit code 2) or a stop (75), so that every rank exits alike and rank 0 can
 * print it once; for a runtime failure (exit code 1) it gets RT_ERR_PEER "rank R failed: MESSAGE",
 * so that the line the origin prints names the right rank. Without an origin, RT_ERR_PEER statuses
 * agree like rt_agree. Returns RT_OK only when every rank's rc was RT_OK. */
rt_code rt_agree_origin(MPI_Comm comm, rt_code rc, rt_status *st);

#endif
