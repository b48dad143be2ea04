/* The watchdog (run.timeout) across ranks: which of the ranks starved by a stuck hand-off
 * reports it, so that a stall ends the job with one error line naming the stuck edge, not one
 * line per rank that ran dry behind it.
 *
 * A rank that has waited longer than run.timeout with nothing arriving asks every rank it waits
 * on what it is doing (the senders of the models it awaits and the receivers of its pending
 * sends; in the final vote: every other rank). A rank answers whenever it polls, between batches
 * and while it waits: "waiting for a hand-off", "waiting for the others" or "busy". A stalled,
 * hung or unreachable rank does not answer. When every asked rank has answered, or after the
 * answer window (1 s, at most run.timeout):
 *   - an asked rank did not answer: this rank waits directly on a stuck rank and claims the
 *     report;
 *   - everyone answered: this rank is starved by a knock-on (the rank it waits on is waiting
 *     itself, or still working); it defers and asks again after run.timeout. Once it has been
 *     idle for 3 x run.timeout it claims anyway, so that a cycle of waiting ranks with no silent
 *     one still ends the job. A rank in the final vote defers without that limit while any rank
 *     is working or waiting for a hand-off (their own watchdogs end a stuck job), and claims
 *     only when a rank is silent and none of the others is working or waiting for a hand-off.
 * A claim goes to an arbiter: the lowest rank that is not silent to the claimant (every rank
 * starved by the same stuck rank picks the same one). The arbiter grants the first claim it gets
 * and refuses the others; only a granted rank reports (and the CLI's MPI_Abort ends the job).
 * The reporting rank tells every other rank, and a rank so told never reports: should the abort
 * hang (Open MPI's mpirun does after a network partition), the job waits for its outer time
 * limit, with one line printed. A refused rank that is not told keeps waiting and reports after
 * another 2 x run.timeout; an arbiter that does not answer a claim within run.timeout is passed
 * over for the next.
 *
 * Messages are zero-byte sends on a communicator of their own, kind and round in the tag, so no
 * buffer outlives its send (a send to a stuck rank may never complete) and an answer to an older
 * round is never taken for a newer one. */
#ifndef RINGTRAIN_WATCHDOG_H
#define RINGTRAIN_WATCHDOG_H

#include <mpi.h>

#include "ringtrain/status.h"

/* What this rank is doing, which is what it answers (and how it decides when it waits). */
typedef enum rt_wd_doing {
  RT_WD_BUSY = 0, /* integrating (or anywhere outside a wait) */
  RT_WD_HANDOFF,  /* waiting for a hand-off to arrive or a send to complete */
  RT_WD_DRAIN,    /* stopping: waiting for its sends to be received */
  RT_WD_VOTE      /* done: waiting for every other rank in the final vote */
} rt_wd_doing;

/* Why a rank reports (rt_watchdog_step's *report). */
typedef enum rt_wd_reason {
  RT_WD_NONE = 0,
  RT_WD_SILENT,     /* a rank it waits on did not answer (rt_watchdog_silent says which) */
  RT_WD_UNRESOLVED, /* every rank it waits on answered, yet nothing arrived for 3 x run.timeout */
  RT_WD_REFUSED     /* another rank was granted the report, but the job did not end */
} rt_wd_reason;

typedef struct rt_watchdog {
  MPI_Comm comm; /* MPI_COMM_NULL while off (run.timeout 0) */
  int rank, ranks;
  double timeout, window;
  rt_wd_doing doing;
  int phase;
  unsigned round;
  double deadline;
  unsigned char *asked, *answer, *tried; /* per rank */
  int arbiter;
  int verdict;  /* the arbiter's answer to this rank's claim */
  int reason;   /* the rt_wd_reason of this rank's claim */
  int granted;  /* as arbiter: the one report of this engine call is granted */
  int reported; /* another rank has reported: this one never does */
} rt_watchdog;

/* Sets it up for one engine call (collective over comm: duplicates it). timeout <= 0: off. */
rt_code rt_watchdog_init(rt_watchdog *w, MPI_Comm comm, double timeout, rt_status *st);
void rt_watchdog_free(rt_watchdog *w);

/* Answers the other ranks' questions and claims and takes their answers; call it wherever the
 * rank polls (between batches, in every wait loop). */
rt_code rt_watchdog_serve(rt_watchdog *w, rt_status *st);

/* One poll of a waiting rank that has been idle for `idle` seconds (doing: what it waits for).
 * At the start of a round, depends(user, flags) sets flags[r] = 1 for every rank r it waits on
 * (flags arrive zeroed). Sets *report to a reason when this rank must report now, else to
 * RT_WD_NONE. */
rt_code rt_watchdog_step(rt_watchdog *w, rt_wd_doing doing, double idle,
                         void (*depends)(void *user, unsigned char *flags), void *user,
                         rt_wd_reason *report, rt_status *st);

/* After a report: whether rank r was asked in the last round and did not answer. */
int rt_watchdog_silent(const rt_watchdog *w, int r);

#endif
