/* Fault injection for tests: RINGTRAIN_FAULT=ACTION:RANK:N makes rank RANK misbehave at its N-th
 * event (1-based) of the action's kind:
 *   stall:R:N    before its N-th hand-off send, rank R stops sending and sleeps (a hung peer)
 *   die:R:N      before its N-th hand-off send, rank R kills itself with SIGKILL (a dead node)
 *   term:R:N     before its N-th hand-off send, rank R raises SIGTERM (preemption)
 *   int:R:N      before its N-th hand-off send, rank R raises SIGINT (Ctrl-C)
 *   usr1:R:N     before its N-th hand-off send, rank R raises SIGUSR1 (a checkpoint on demand)
 *   enospc:R:N   rank R's N-th checkpoint fails as if the disk were full (only rank 0 writes)
 * Unset or empty: no fault. Read once per training run. */
#ifndef RINGTRAIN_FAULT_H
#define RINGTRAIN_FAULT_H

#include <stdint.h>

#include "ringtrain/status.h"

typedef enum rt_fault_action {
  RT_FAULT_NONE = 0,
  RT_FAULT_STALL,
  RT_FAULT_DIE,
  RT_FAULT_TERM,
  RT_FAULT_INT,
  RT_FAULT_USR1,
  RT_FAULT_ENOSPC
} rt_fault_action;

typedef struct rt_fault {
  rt_fault_action action;
  int rank;
  uint64_t at; /* the 1-based event number */
} rt_fault;

#define RT_FAULT_ENV "RINGTRAIN_FAULT"

/* Parses the variable's text; an error names the variable and what was expected (RT_ERR_USAGE). */
rt_code rt_fault_parse(const char *text, rt_fault *fault, rt_status *st);
/* RT_FAULT_ENV from the environment. */
rt_code rt_fault_from_env(rt_fault *fault, rt_status *st);
/* Whether `fault` fires for this rank's `count`-th event of a hand-off send. */
int rt_fault_at_send(const rt_fault *fault, int rank, uint64_t count);
/* Carries out a send fault (stall never returns; die does not return; term/int/usr1 raise the
 * signal and return). */
void rt_fault_trigger(const rt_fault *fault);

#endif
