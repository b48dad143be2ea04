/* Graceful stops. A signal handler (the CLI's) records a request; the training engine polls it
 * between batches, brings every rank to a consistent cut, writes a checkpoint and either goes on
 * (RT_STOP_CHECKPOINT: SIGUSR1, a checkpoint on demand) or returns RT_STOPPED (RT_STOP_EXIT:
 * SIGTERM/SIGINT, preemption). */
#ifndef RINGTRAIN_STOP_H
#define RINGTRAIN_STOP_H

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

#ifdef __cplusplus
}
#endif
#endif
