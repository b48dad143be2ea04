/* Graceful stops. A signal handler (the CLI's) records a request; the training engine polls it
 * between batches, brings every rank to a consistent cut, writes a checkpoint and either goes on
 * (RT_STOP_CHECKPOINT: SIGUSR1, a checkpoint on demand) or returns RT_STOPPED (RT_STOP_EXIT:
 * SIGTERM/SIGINT, preemption). The rule for repeated stop signals lives here too. */
#ifndef RINGTRAIN_STOP_H
#define RINGTRAIN_STOP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum rt_stop_kind {
  RT_STOP_NONE = 0,
  RT_STOP_CHECKPOINT = 1, /* write a checkpoint, then go on training */
  RT_STOP_EXIT = 2        /* write a checkpoint, then return RT_STOPPED */
} rt_stop_kind;

/* Async-signal-safe: records a request (the stronger of the pending one and `kind`). */
void rt_stop_request(rt_stop_kind kind);
/* The pending request. */
rt_stop_kind rt_stop_pending(void);
/* Forgets a RT_STOP_CHECKPOINT request once it is served (an exit request stays). */
void rt_stop_served_checkpoint(void);

/* Repeated stop signals. The first SIGTERM or SIGINT asks for a checkpoint and a stop
 * (RT_STOP_EXIT). A SIGTERM that arrives within RT_STOP_REPEAT_WINDOW_NS of the first stop
 * signal is the same request again, not an escalation: Slurm delivers SIGTERM, SIGCONT, SIGTERM
 * within milliseconds when it preempts a job with GraceTime=0, requeues or cancels it, and a
 * launcher may forward a signal the ranks already got. Any other later one (a SIGINT, or a SIGTERM
 * after the window) means "stop now": the process should end at once. */
#define RT_STOP_REPEAT_WINDOW_SECONDS 5
#define RT_STOP_REPEAT_WINDOW_NS ((int64_t)RT_STOP_REPEAT_WINDOW_SECONDS * INT64_C(1000000000))

typedef enum rt_stop_verdict {
  RT_STOP_VERDICT_REQUEST = 0, /* the first one: request a checkpoint and a stop */
  RT_STOP_VERDICT_REPEAT = 1,  /* the same request again: nothing to do */
  RT_STOP_VERDICT_END = 2      /* end the process at once */
} rt_stop_verdict;

/* The rule alone (no state, no clock): `first_ns` is the time of the first stop signal (negative:
 * none yet), `now_ns` the time of this one, on the same monotonic clock; `is_interrupt` is nonzero
 * for SIGINT, zero for SIGTERM. */
rt_stop_verdict rt_stop_signal_verdict(int is_interrupt, int64_t first_ns, int64_t now_ns);

/* Async-signal-safe (and safe when several threads take signals at once): applies the rule to a
 * SIGTERM or SIGINT that has just arrived, timed with CLOCK_MONOTONIC. Records the stop request of
 * the first signal and returns the verdict; the caller (a signal handler) ends the process on
 * RT_STOP_VERDICT_END. */
rt_stop_verdict rt_stop_signal(int is_interrupt);

#ifdef __cplusplus
}
#endif
#endif
