/* Profiling hooks (include/ringtrain/profile.h): phase names, labels, the sink, the capture
 * window helper. NVTX itself is exercised only as far as calling it without a tool attached
 * (CUDA builds), which must be harmless. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "ringtrain/config.h"
#include "ringtrain/profile.h"

#define MAX_EVENTS 64

typedef struct recorder {
  rt_prof_event events[MAX_EVENTS];
  size_t count;
} recorder;

static void record(const rt_prof_event *event, void *user) {
  recorder *r = user;
  assert_true(r->count < MAX_EVENTS);
  r->events[r->count++] = *event;
}

static void assert_event(const rt_prof_event *e, rt_prof_event_kind kind, rt_phase phase,
                         int64_t model, int64_t pass, int64_t shard) {
  assert_int_equal(e->kind, kind);
  assert_int_equal(e->phase, phase);
  assert_int_equal(e->model, model);
  assert_int_equal(e->pass, pass);
  assert_int_equal(e->shard, shard);
}

/* The same for the range of a group visit, with its size. */
static void assert_group_event(const rt_prof_event *e, rt_phase phase, int64_t model, int64_t pass,
                               int64_t shard, int64_t members) {
  assert_event(e, RT_PROF_BEGIN, phase, model, pass, shard);
  assert_int_equal(e->members, members);
}

static int64_t now_ns(void) {
  struct timespec ts;
  assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
  return (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
}

static void test_phase_names(void **state) {
  (void)state;
  static const char *const expected[RT_PHASE_COUNT] = {
      "load", "integrate", "send", "receive", "evaluate", "checkpoint", "write", "final",
  };
  assert_int_equal(RT_PHASE_LOAD, 0);
  assert_int_equal(RT_PHASE_COUNT, 8);
  for (int p = 0; p < RT_PHASE_COUNT; ++p)
    assert_string_equal(rt_phase_name((rt_phase)p), expected[p]);
  assert_string_equal(rt_phase_name(RT_PHASE_INTEGRATE), "integrate");
  assert_string_equal(rt_phase_name(RT_PHASE_WRITE), "write");
  assert_string_equal(rt_phase_name(RT_PHASE_COUNT), "unknown");
  assert_string_equal(rt_phase_name((rt_phase)-1), "unknown");
  assert_string_equal(rt_phase_name((rt_phase)1000), "unknown");
}

static void test_format(void **state) {
  (void)state;
  char buf[128];
  rt_prof_format(buf, sizeof buf, RT_PHASE_INTEGRATE, 3, 1, 2, -1);
  assert_string_equal(buf, "integrate model 3 pass 1 shard 2");
  rt_prof_format(buf, sizeof buf, RT_PHASE_SEND, 3, 1, -1, -1);
  assert_string_equal(buf, "send model 3 pass 1");
  rt_prof_format(buf, sizeof buf, RT_PHASE_LOAD, -1, -1, 7, -1);
  assert_string_equal(buf, "load shard 7");
  rt_prof_format(buf, sizeof buf, RT_PHASE_WRITE, -1, -1, -1, -1);
  assert_string_equal(buf, "write");
  rt_prof_format(buf, sizeof buf, RT_PHASE_EVALUATE, 0, 0, 0, -1);
  assert_string_equal(buf, "evaluate model 0 pass 0 shard 0");
  rt_prof_format(buf, sizeof buf, RT_PHASE_CHECKPOINT, INT64_MAX, 1000000000, 1048575, -1);
  assert_string_equal(buf, "checkpoint model 9223372036854775807 pass 1000000000 shard 1048575");
  /* A group visit: its size last; a group of one says so; members < 1 is no group. */
  rt_prof_format(buf, sizeof buf, RT_PHASE_INTEGRATE, 3, 1, 2, 4);
  assert_string_equal(buf, "integrate model 3 pass 1 shard 2 group of 4");
  rt_prof_format(buf, sizeof buf, RT_PHASE_INTEGRATE, 7, 2, 0, 1);
  assert_string_equal(buf, "integrate model 7 pass 2 shard 0 group of 1");
  rt_prof_format(buf, sizeof buf, RT_PHASE_INTEGRATE, 7, 2, 0, 0);
  assert_string_equal(buf, "integrate model 7 pass 2 shard 0");
  char mid[40]; /* truncated inside the group part, still terminated */
  rt_prof_format(mid, sizeof mid, RT_PHASE_INTEGRATE, 3, 1, 2, 64);
  assert_string_equal(mid, "integrate model 3 pass 1 shard 2 group ");
  /* Truncated, always terminated; size 0 writes nothing. */
  char small[12];
  memset(small, 'x', sizeof small);
  rt_prof_format(small, sizeof small, RT_PHASE_RECEIVE, 12, 34, 56, -1);
  assert_string_equal(small, "receive mod");
  rt_prof_format(small, 8, RT_PHASE_RECEIVE, 12, 34, 56, -1);
  assert_string_equal(small, "receive");
  small[0] = 'q';
  rt_prof_format(small, 0, RT_PHASE_RECEIVE, 12, 34, 56, -1);
  assert_int_equal(small[0], 'q');
}

/* The sink gets every begin, end and mark, in order, with the fields given and timestamps that
 * never go back. */
static void test_sink_events(void **state) {
  (void)state;
  recorder r;
  memset(&r, 0, sizeof r);
  int64_t before = now_ns();
  rt_prof_set_sink(record, &r);
  assert_true(rt_prof_enabled());
  rt_prof_begin(RT_PHASE_LOAD, -1, -1, 0);
  rt_prof_end(RT_PHASE_LOAD);
  rt_prof_begin(RT_PHASE_INTEGRATE, 3, 1, 2);
  rt_prof_begin(RT_PHASE_EVALUATE, 3, 1, -1); /* nested */
  rt_prof_mark(RT_PHASE_CHECKPOINT, 3, 1, -1);
  rt_prof_end(RT_PHASE_EVALUATE);
  rt_prof_end(RT_PHASE_INTEGRATE);
  struct timespec pause = {0, 2000000}; /* 2 ms: the next stamp is strictly later */
  nanosleep(&pause, NULL);
  rt_prof_mark(RT_PHASE_SEND, 3, 1, -1);
  rt_prof_begin(RT_PHASE_WRITE, -1, -1, -1);
  rt_prof_end(RT_PHASE_WRITE);
  rt_prof_begin_group(RT_PHASE_INTEGRATE, 5, 2, 3, 6);
  rt_prof_end(RT_PHASE_INTEGRATE);
  rt_prof_set_sink(NULL, NULL);
  int64_t after = now_ns();

  assert_int_equal(r.count, 12);
  assert_event(&r.events[0], RT_PROF_BEGIN, RT_PHASE_LOAD, -1, -1, 0);
  assert_event(&r.events[1], RT_PROF_END, RT_PHASE_LOAD, -1, -1, -1);
  assert_event(&r.events[2], RT_PROF_BEGIN, RT_PHASE_INTEGRATE, 3, 1, 2);
  assert_event(&r.events[3], RT_PROF_BEGIN, RT_PHASE_EVALUATE, 3, 1, -1);
  assert_event(&r.events[4], RT_PROF_MARK, RT_PHASE_CHECKPOINT, 3, 1, -1);
  assert_event(&r.events[5], RT_PROF_END, RT_PHASE_EVALUATE, -1, -1, -1);
  assert_event(&r.events[6], RT_PROF_END, RT_PHASE_INTEGRATE, -1, -1, -1);
  assert_event(&r.events[7], RT_PROF_MARK, RT_PHASE_SEND, 3, 1, -1);
  assert_event(&r.events[8], RT_PROF_BEGIN, RT_PHASE_WRITE, -1, -1, -1);
  assert_event(&r.events[9], RT_PROF_END, RT_PHASE_WRITE, -1, -1, -1);
  assert_group_event(&r.events[10], RT_PHASE_INTEGRATE, 5, 2, 3, 6);
  assert_event(&r.events[11], RT_PROF_END, RT_PHASE_INTEGRATE, -1, -1, -1);
  for (size_t i = 0; i < 10; ++i) assert_int_equal(r.events[i].members, -1); /* no group */
  assert_int_equal(r.events[11].members, -1);
  assert_true(r.events[0].time_ns >= before);
  for (size_t i = 1; i < r.count; ++i) assert_true(r.events[i].time_ns >= r.events[i - 1].time_ns);
  assert_true(r.events[7].time_ns - r.events[6].time_ns >= 2000000);
  assert_true(r.events[11].time_ns <= after);

  /* Large ids pass through unchanged. */
  memset(&r, 0, sizeof r);
  rt_prof_set_sink(record, &r);
  rt_prof_mark(RT_PHASE_RECEIVE, INT64_MAX, 1000000000, 1048575);
  rt_prof_set_sink(NULL, NULL);
  assert_int_equal(r.count, 1);
  assert_event(&r.events[0], RT_PROF_MARK, RT_PHASE_RECEIVE, INT64_MAX, 1000000000, 1048575);
}

/* Without a sink nothing is called; replacing the sink redirects the events. */
static void test_no_sink(void **state) {
  (void)state;
  recorder a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  rt_prof_begin(RT_PHASE_LOAD, 1, 1, 1); /* no sink yet: harmless, goes nowhere (or to NVTX) */
  rt_prof_end(RT_PHASE_LOAD);
  rt_prof_mark(RT_PHASE_LOAD, 1, 1, 1);
#if !defined(RINGTRAIN_WITH_CUDA)
  /* CPU-only build: no NVTX, so with no sink the hooks are off entirely. */
  assert_false(rt_prof_enabled());
#endif
  rt_prof_set_sink(record, &a);
  rt_prof_mark(RT_PHASE_SEND, 0, 1, -1);
  rt_prof_set_sink(record, &b);
  rt_prof_mark(RT_PHASE_RECEIVE, 0, 1, -1);
  rt_prof_set_sink(NULL, &a);
  rt_prof_begin(RT_PHASE_INTEGRATE, 0, 1, 0);
  rt_prof_end(RT_PHASE_INTEGRATE);
  rt_prof_mark(RT_PHASE_WRITE, -1, -1, -1);
  assert_int_equal(a.count, 1);
  assert_event(&a.events[0], RT_PROF_MARK, RT_PHASE_SEND, 0, 1, -1);
  assert_int_equal(b.count, 1);
  assert_event(&b.events[0], RT_PROF_MARK, RT_PHASE_RECEIVE, 0, 1, -1);
#if !defined(RINGTRAIN_WITH_CUDA)
  assert_false(rt_prof_enabled());
#endif
}

static void test_window(void **state) {
  (void)state;
  rt_config cfg;
  rt_config_defaults(&cfg);
  /* Not set: no pass is in a window (the profiler captures the whole run by itself). */
  for (long pass = -1; pass <= 5; ++pass) assert_false(rt_prof_in_window(&cfg, pass));
  assert_false(rt_prof_in_window(NULL, 1));
  cfg.run.passes = 10;
  cfg.run.profile_first = 2;
  cfg.run.profile_last = 3;
  assert_false(rt_prof_in_window(&cfg, 0));
  assert_false(rt_prof_in_window(&cfg, 1));
  assert_true(rt_prof_in_window(&cfg, 2));
  assert_true(rt_prof_in_window(&cfg, 3));
  assert_false(rt_prof_in_window(&cfg, 4));
  assert_false(rt_prof_in_window(&cfg, 10));
  cfg.run.profile_first = cfg.run.profile_last = 1;
  assert_true(rt_prof_in_window(&cfg, 1));
  assert_false(rt_prof_in_window(&cfg, 2));
  /* As parsed from --set. */
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_config_set(&cfg, "run.profile_passes=[4,10]", &st), RT_OK);
  assert_false(rt_prof_in_window(&cfg, 3));
  assert_true(rt_prof_in_window(&cfg, 4));
  assert_true(rt_prof_in_window(&cfg, 10));
  assert_false(rt_prof_in_window(&cfg, 11));
  rt_config_free(&cfg);
}

/* Starting and stopping the capture never fails a run: a no-op in CPU-only builds; in CUDA
 * builds without a device or a profiler the error is swallowed. Repeats are harmless. */
static void test_capture(void **state) {
  (void)state;
  rt_prof_capture(0); /* stop before any start */
  rt_prof_capture(1);
  rt_prof_capture(1);
  rt_prof_begin(RT_PHASE_INTEGRATE, 0, 2, 0);
  rt_prof_end(RT_PHASE_INTEGRATE);
  rt_prof_capture(0);
  rt_prof_capture(0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_phase_names), cmocka_unit_test(test_format),
      cmocka_unit_test(test_sink_events), cmocka_unit_test(test_no_sink),
      cmocka_unit_test(test_window),      cmocka_unit_test(test_capture),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
