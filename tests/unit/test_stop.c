/* The rule for repeated stop signals (include/ringtrain/stop.h): the first SIGTERM/SIGINT requests
 * a checkpoint and a stop; a SIGTERM within the window of the first repeats it (Slurm's SIGTERM,
 * SIGCONT, SIGTERM); a SIGINT after it, or a SIGTERM after the window, ends the process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ringtrain/stop.h"

static const int64_t ms = INT64_C(1000000);

static void test_verdict_rule(void **state) {
  (void)state;
  const int64_t t0 = INT64_C(123456789012);
  /* No earlier signal: either kind is a request. */
  assert_int_equal(rt_stop_signal_verdict(0, -1, t0), RT_STOP_VERDICT_REQUEST);
  assert_int_equal(rt_stop_signal_verdict(1, -1, t0), RT_STOP_VERDICT_REQUEST);
  /* SIGTERM again: the same request up to the end of the window, inclusive. */
  assert_int_equal(rt_stop_signal_verdict(0, t0, t0), RT_STOP_VERDICT_REPEAT);
  assert_int_equal(rt_stop_signal_verdict(0, t0, t0 + 4 * ms), RT_STOP_VERDICT_REPEAT);
  assert_int_equal(rt_stop_signal_verdict(0, t0, t0 + RT_STOP_REPEAT_WINDOW_NS),
                   RT_STOP_VERDICT_REPEAT);
  /* After the window: end now. */
  assert_int_equal(rt_stop_signal_verdict(0, t0, t0 + RT_STOP_REPEAT_WINDOW_NS + 1),
                   RT_STOP_VERDICT_END);
  assert_int_equal(rt_stop_signal_verdict(0, t0, t0 + 3600 * 1000 * ms), RT_STOP_VERDICT_END);
  /* SIGINT after any first signal: end now, even a microsecond later. */
  assert_int_equal(rt_stop_signal_verdict(1, t0, t0 + ms / 1000), RT_STOP_VERDICT_END);
  assert_int_equal(rt_stop_signal_verdict(1, t0, t0), RT_STOP_VERDICT_END);
  /* The window is a few seconds: long enough for a launcher's burst, short against a person's
   * second try. */
  assert_true(RT_STOP_REPEAT_WINDOW_NS >= 1000 * ms);
  assert_true(RT_STOP_REPEAT_WINDOW_NS <= 10000 * ms);
}

/* The stateful form, as the CLI's handler calls it (the clock is the real one: the two calls are
 * microseconds apart, well inside the window). */
static void test_signal_sequence(void **state) {
  (void)state;
  assert_int_equal(rt_stop_pending(), RT_STOP_NONE);
  assert_int_equal(rt_stop_signal(0), RT_STOP_VERDICT_REQUEST);
  assert_int_equal(rt_stop_pending(), RT_STOP_EXIT);
  assert_int_equal(rt_stop_signal(0), RT_STOP_VERDICT_REPEAT);
  assert_int_equal(rt_stop_signal(0), RT_STOP_VERDICT_REPEAT);
  assert_int_equal(rt_stop_pending(), RT_STOP_EXIT);
  assert_int_equal(rt_stop_signal(1), RT_STOP_VERDICT_END);
  /* A served checkpoint request does not clear the exit request. */
  rt_stop_served_checkpoint();
  assert_int_equal(rt_stop_pending(), RT_STOP_EXIT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_verdict_rule),
      cmocka_unit_test(test_signal_sequence),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
