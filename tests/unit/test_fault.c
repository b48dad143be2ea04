/* RINGTRAIN_FAULT parsing (src/engine/fault.h) and rt_config_diff, the two pieces of fault handling
 * that need no MPI: every accepted form, every rejected one with its message, and which config
 * keys a resume may change. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fault.h"
#include "ringtrain/config.h"

static void test_fault_accepts(void **state) {
  (void)state;
  rt_fault f;
  rt_status st;
  assert_int_equal(rt_fault_parse(NULL, &f, &st), RT_OK);
  assert_int_equal(f.action, RT_FAULT_NONE);
  assert_int_equal(rt_fault_parse("", &f, &st), RT_OK);
  assert_int_equal(f.action, RT_FAULT_NONE);
  static const struct {
    const char *text;
    rt_fault_action action;
    int rank;
    uint64_t at;
  } ok[] = {{"stall:1:3", RT_FAULT_STALL, 1, 3},   {"die:0:1", RT_FAULT_DIE, 0, 1},
            {"term:12:40", RT_FAULT_TERM, 12, 40}, {"usr1:2:7", RT_FAULT_USR1, 2, 7},
            {"int:3:1", RT_FAULT_INT, 3, 1},       {"enospc:0:2", RT_FAULT_ENOSPC, 0, 2}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; ++i) {
    assert_int_equal(rt_fault_parse(ok[i].text, &f, &st), RT_OK);
    assert_int_equal(f.action, ok[i].action);
    assert_int_equal(f.rank, ok[i].rank);
    assert_int_equal(f.at, ok[i].at);
  }
  /* Fires on its rank's N-th send only; enospc never fires on sends. */
  assert_int_equal(rt_fault_parse("die:1:3", &f, &st), RT_OK);
  assert_true(rt_fault_at_send(&f, 1, 3));
  assert_false(rt_fault_at_send(&f, 1, 2));
  assert_false(rt_fault_at_send(&f, 0, 3));
  assert_int_equal(rt_fault_parse("enospc:0:1", &f, &st), RT_OK);
  assert_false(rt_fault_at_send(&f, 0, 1));
}

static void test_fault_rejects(void **state) {
  (void)state;
  static const char *const bad[] = {
      "crash:1:2", "die",     "die:1",    "die:1:",    "die:-1:2", "die:1:0",
      "die:1:-2",  "die:x:2", "die:1:2x", "die:1:2:3", "stall::2", "Die:1:2"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    rt_fault f;
    rt_status st;
    if (rt_fault_parse(bad[i], &f, &st) != RT_ERR_USAGE) fail_msg("'%s' was accepted", bad[i]);
    assert_int_equal(f.action, RT_FAULT_NONE);
    assert_non_null(strstr(st.message, "RINGTRAIN_FAULT='"));
    assert_non_null(strstr(
        st.message, "expected ACTION:RANK:N with ACTION stall, die, term, int, usr1 or enospc"));
  }
}

static void parse(const char *text, rt_config *cfg) {
  rt_status st;
  rt_config_defaults(cfg);
  if (rt_config_parse(text, strlen(text), "t.yaml", cfg, &st) != RT_OK)
    fail_msg("parse: %s", st.message);
}

static const char base[] =
    "data: {train: /data/t.csv}\n"
    "run: {passes: 4, seed: 3}\n"
    "models:\n"
    "  - {kind: logistic, learning_rate: [0.1, 0.01]}\n";

static void test_config_diff(void **state) {
  (void)state;
  rt_config a, b;
  char buf[512];
  parse(base, &a);
  parse(base, &b);
  assert_int_equal(rt_config_diff(&a, &b, buf, sizeof buf), 0);
  assert_string_equal(buf, "");
  /* Keys that do not change what is trained may differ. */
  rt_status st;
  assert_int_equal(rt_config_set(&b, "run.output=elsewhere", &st), RT_OK);
  assert_int_equal(rt_config_set(&b, "run.timeout=60", &st), RT_OK);
  assert_int_equal(rt_config_set(&b, "run.checkpoint_every=2", &st), RT_OK);
  assert_int_equal(rt_config_set(&b, "run.keep_checkpoints=9", &st), RT_OK);
  assert_int_equal(rt_config_set(&b, "run.trace=true", &st), RT_OK);
  assert_int_equal(rt_config_set(&b, "run.backend=cuda", &st), RT_OK); /* a job moved to GPUs */
  assert_int_equal(rt_config_diff(&a, &b, buf, sizeof buf), 0);
  /* Others are listed, models by position. */
  assert_int_equal(rt_config_set(&b, "run.passes=5", &st), RT_OK);
  assert_int_equal(rt_config_set(&b, "models.1.learning_rate=0.5", &st), RT_OK);
  assert_int_equal(rt_config_diff(&a, &b, buf, sizeof buf), 2);
  assert_string_equal(
      buf,
      "run.passes (checkpoint: 4, now: 5); models.1.learning_rate (checkpoint: 0.01, now: 0.5)");
  /* A different model count is one difference; a short buffer truncates, still counted. */
  rt_config c;
  parse("data: {train: /data/t.csv}\nrun: {passes: 4, seed: 3}\nmodels:\n  - {kind: logistic}\n",
        &c);
  assert_int_equal(rt_config_diff(&a, &c, buf, sizeof buf), 1);
  assert_string_equal(buf, "models (count) (checkpoint: 2, now: 1)");
  char small[12];
  assert_int_equal(rt_config_diff(&a, &b, small, sizeof small), 2);
  assert_int_equal(strlen(small), sizeof small - 1);
  rt_config_free(&a);
  rt_config_free(&b);
  rt_config_free(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fault_accepts),
      cmocka_unit_test(test_fault_rejects),
      cmocka_unit_test(test_config_diff),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
