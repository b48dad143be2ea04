/* The trace recorder (src/io/trace.h) on one rank: a full ring keeps the newest events and counts
 * the rest, collections add up, hand-offs pair by (model, pass, shard), trace.json is written,
 * group visits carry their size (args.members), and freeing the recorder removes its sink. The
 * 2-rank behaviour: tests/mpi/test_trace.sh. */
#include <mpi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ringtrain/profile.h"
#include "trace.h"

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  static char buf[1 << 16];
  const size_t n = fread(buf, 1, sizeof buf - 1, f);
  assert_true(n < sizeof buf - 1);
  buf[n] = '\0';
  assert_int_equal(fclose(f), 0);
  return buf;
}

static size_t occurrences(const char *text, const char *what) {
  size_t n = 0;
  for (const char *p = strstr(text, what); p; p = strstr(p + 1, what)) ++n;
  return n;
}

static void overflow_pairing_and_output(void **state) {
  (void)state;
  rt_status st;
  rt_status_clear(&st);
  rt_trace *t = NULL;
  assert_int_equal(rt_trace_start(MPI_COMM_WORLD, 64, 4, &t, &st), RT_OK);
  assert_non_null(t);
  assert_int_equal(rt_trace_capacity(t), 64);
  assert_true(rt_prof_enabled());
  /* 100 integrate ranges = 200 events into a ring of 64: passes 69..100 stay. */
  for (int64_t p = 1; p <= 100; ++p) {
    rt_prof_begin(RT_PHASE_INTEGRATE, 1, p, 0);
    rt_prof_end(RT_PHASE_INTEGRATE);
  }
  assert_int_equal(rt_trace_collect(t, &st), RT_OK);
  rt_trace_totals totals;
  assert_int_equal(rt_trace_latencies(t, NULL, NULL, NULL, NULL, &totals, &st), RT_OK);
  assert_int_equal(totals.events, 64);
  assert_int_equal(totals.dropped, 136);
  assert_int_equal(totals.handoffs, 0);

  /* A second collection adds to the first: a hand-off (send, then its receive) and a send whose
   * receive never came. */
  rt_prof_mark(RT_PHASE_SEND, 2, 3, 1);
  rt_prof_mark(RT_PHASE_RECEIVE, 2, 3, 1);
  rt_prof_begin_group(RT_PHASE_INTEGRATE, 2, 3, 1, 3); /* a group visit of 3, led by model 2 */
  rt_prof_end(RT_PHASE_INTEGRATE);
  rt_prof_begin_group(RT_PHASE_INTEGRATE, 3, 3, 2, 70000); /* saturates at 65535 */
  rt_prof_end(RT_PHASE_INTEGRATE);
  rt_prof_mark(RT_PHASE_SEND, 3, 1, 0);
  rt_prof_begin(RT_PHASE_RECEIVE, -1, -1, -1); /* an idle rank */
  rt_prof_end(RT_PHASE_RECEIVE);
  assert_int_equal(rt_trace_collect(t, &st), RT_OK);
  double wire[4] = {0};
  uint64_t count = 0;
  double sum = 0, max = 0;
  assert_int_equal(rt_trace_latencies(t, wire, &count, &sum, &max, &totals, &st), RT_OK);
  assert_int_equal(totals.events, 64 + 9);
  assert_int_equal(totals.dropped, 136);
  assert_int_equal(totals.handoffs, 1);
  assert_int_equal(totals.unpaired, 1);
  assert_int_equal(count, 1);
  assert_true(wire[2] >= 0 && wire[2] < 1.0 && wire[2] == sum && sum == max);
  assert_true(wire[0] == 0 && wire[1] == 0 && wire[3] == 0);

  const char *path = RT_TEST_BINARY_DIR "/test_trace.json";
  rt_trace_totals written;
  assert_int_equal(rt_trace_write(t, path, &written, &st), RT_OK);
  assert_int_equal(written.events, totals.events);
  const char *json = slurp(path);
  assert_non_null(strstr(json, "{\"traceEvents\":["));
  assert_non_null(strstr(json, "\"args\":{\"name\":\"rank 0\"}"));
  assert_non_null(strstr(json, "\"args\":{\"name\":\"model 1\"}"));
  assert_non_null(strstr(json, "\"args\":{\"name\":\"model 2\"}"));
  assert_null(strstr(json, "\"args\":{\"name\":\"model 0\"}")); /* no events: no track */
  /* The newest 32 integrate ranges of model 1 (no group: no members), then the group visits. */
  assert_int_equal(occurrences(json, "\"name\":\"integrate\""), 34);
  assert_int_equal(occurrences(json, "\"members\":"), 2);
  assert_non_null(strstr(json, "\"args\":{\"model\":2,\"pass\":3,\"shard\":1,\"members\":3}"));
  assert_non_null(strstr(json, "\"args\":{\"model\":3,\"pass\":3,\"shard\":2,\"members\":65535}"));
  assert_non_null(strstr(json, "\"args\":{\"model\":1,\"pass\":69,\"shard\":0}"));
  assert_non_null(strstr(json, "\"args\":{\"model\":1,\"pass\":100,\"shard\":0}"));
  assert_null(strstr(json, "\"pass\":68,"));
  assert_non_null(strstr(json, "\"args\":{\"model\":2,\"pass\":3,\"shard\":1,\"to\":0}"));
  assert_non_null(strstr(json, "\"args\":{\"model\":2,\"pass\":3,\"shard\":1,\"from\":0}"));
  assert_non_null(
      strstr(json, "\"args\":{\"model\":3,\"pass\":1,\"shard\":0}}")); /* unpaired send */
  assert_int_equal(occurrences(json, "\"name\":\"receive-wait\""), 1);
  assert_int_equal(occurrences(json, "\"ph\":\"s\""), 1);
  assert_int_equal(occurrences(json, "\"ph\":\"f\",\"bp\":\"e\""), 1);
  assert_non_null(
      strstr(json,
             "\"events\":73,\"events_dropped\":136,\"events_per_rank_cap\":64,"
             "\"overflow_policy\":\"drop_oldest\",\"handoffs\":1,\"handoffs_unpaired\":1"));
  assert_int_equal(remove(path), 0);

  rt_trace_free(t);
  /* The sink is gone: events after free go nowhere (AddressSanitizer would see a stale sink). */
  rt_prof_mark(RT_PHASE_SEND, 0, 1, 0);
  rt_trace_free(NULL);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const struct CMUnitTest tests[] = {cmocka_unit_test(overflow_pairing_and_output)};
  const int failed = cmocka_run_group_tests(tests, NULL, NULL);
  MPI_Finalize();
  return failed;
}
