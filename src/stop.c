/* The pending stop request: one sig_atomic_t written by signal handlers, read by the engine. */
#include "ringtrain/stop.h"

#include <signal.h>

static volatile sig_atomic_t pending = RT_STOP_NONE;

void rt_stop_request(rt_stop_kind kind) {
  if ((sig_atomic_t)kind > pending) pending = (sig_atomic_t)kind;
}

rt_stop_kind rt_stop_pending(void) { return (rt_stop_kind)pending; }

void rt_stop_served_checkpoint(void) {
  if (pending == RT_STOP_CHECKPOINT) pending = RT_STOP_NONE;
}
