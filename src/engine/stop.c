/* The pending stop request: one sig_atomic_t written by signal handlers, read by the engine; and
 * the rule that tells a repeated stop signal (the same request) from an escalation (end now). */
#include "ringtrain/stop.h"

#include <signal.h>
#include <stdatomic.h>
#include <time.h>

/* Handlers may run on any thread, even two at once: the first signal's time is claimed with a
 * compare-and-swap, which is async-signal-safe only when the atomic is lock-free. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the stop signal clock needs lock-free 64-bit atomics");

static volatile sig_atomic_t pending = RT_STOP_NONE;
static atomic_llong first_signal_ns = -1;

void rt_stop_request(rt_stop_kind kind) {
  if ((sig_atomic_t)kind > pending) pending = (sig_atomic_t)kind;
}

rt_stop_kind rt_stop_pending(void) { return (rt_stop_kind)pending; }

void rt_stop_served_checkpoint(void) {
  if (pending == RT_STOP_CHECKPOINT) pending = RT_STOP_NONE;
}

rt_stop_verdict rt_stop_signal_verdict(int is_interrupt, int64_t first_ns, int64_t now_ns) {
  if (first_ns < 0) return RT_STOP_VERDICT_REQUEST;
  if (!is_interrupt && now_ns - first_ns <= RT_STOP_REPEAT_WINDOW_NS) return RT_STOP_VERDICT_REPEAT;
  return RT_STOP_VERDICT_END;
}

rt_stop_verdict rt_stop_signal(int is_interrupt) {
  /* clock_gettime is async-signal-safe (POSIX.1-2008). */
  struct timespec ts;
  const int timed = clock_gettime(CLOCK_MONOTONIC, &ts) == 0;
  const long long now = timed ? (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec : 0;
  long long first = -1;
  if (atomic_compare_exchange_strong(&first_signal_ns, &first, now)) {
    rt_stop_request(RT_STOP_EXIT);
    return RT_STOP_VERDICT_REQUEST;
  }
  /* Not the first: the failed compare-and-swap left the first one's time in `first`. Without a
   * clock (which cannot happen on Linux), the strict rule: every later signal ends the process. */
  if (!timed) return RT_STOP_VERDICT_END;
  return rt_stop_signal_verdict(is_interrupt, (int64_t)first, (int64_t)now);
}
