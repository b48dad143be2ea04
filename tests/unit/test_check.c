/* rt_check_run (include/ringtrain/check.h): every refusal of a run, not just the first, in check
 * order and with the families' wording; the first one also in st; a config that fails
 * rt_config_validate stops there; a run that passes has none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ringtrain/check.h"

static void parse(const char *yaml, rt_config *cfg) {
  rt_status st;
  rt_status_clear(&st);
  rt_config_defaults(cfg);
  if (rt_config_parse(yaml, strlen(yaml), "run.yaml", cfg, &st) != RT_OK)
    fail_msg("parse: %s", st.message);
}

static const char several[] =
    "data: {train: d.csv, shards: 2}\n"
    "run: {passes: 2, shards_in_use: 2}\n"
    "models:\n"
    "  - {kind: logistic}\n"
    "  - {kind: kmeans, k: 50}\n"
    "  - {kind: linear}\n"
    "  - {kind: mlp, hidden: [8]}\n";

static void every_refusal_is_returned(void **unused) {
  (void)unused;
  rt_config cfg;
  parse(several, &cfg);
  cfg.run.shards_in_use = 3; /* past the data's 2 shards (the config alone cannot know) */
  /* One class, 40 rows: logistic and mlp lack classes, kmeans has more centres than rows;
   * the linear model is fine. */
  const rt_check_facts facts = {.features = 4, .classes = 1, .train_rows = 40, .shards = 2};
  rt_check_report report;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_check_run(&cfg, &facts, "cpu", &report, &st), RT_ERR_CONFIG);
  assert_int_equal(report.count, 4);
  assert_int_equal(report.dropped, 0);
  assert_string_equal(report.refusals[0].message,
                      "run.yaml: run.shards_in_use is 3 but the data has 2 shards");
  assert_string_equal(report.refusals[1].message,
                      "model 0 (logistic): needs at least 2 classes, data has 1");
  assert_string_equal(report.refusals[2].message,
                      "model 1 (kmeans): k = 50 is more than the 40 training rows");
  assert_string_equal(report.refusals[3].message,
                      "model 3 (mlp): needs at least 2 classes, data has 1");
  for (size_t i = 0; i < report.count; ++i)
    assert_int_equal(report.refusals[i].code, RT_ERR_CONFIG);
  assert_string_equal(st.message, report.refusals[0].message); /* the first, as train reports it */
  /* Without a report: the same first refusal. */
  rt_status_clear(&st);
  assert_int_equal(rt_check_run(&cfg, &facts, "cpu", NULL, &st), RT_ERR_CONFIG);
  assert_string_equal(st.message, report.refusals[0].message);
  rt_config_free(&cfg);
}

static void a_fitting_run_has_none(void **unused) {
  (void)unused;
  rt_config cfg;
  parse(several, &cfg);
  const rt_check_facts facts = {.features = 4, .classes = 3, .train_rows = 400, .shards = 2};
  rt_check_report report;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_check_run(&cfg, &facts, "cpu", &report, &st), RT_OK);
  assert_int_equal(report.count, 0);
  assert_int_equal(st.code, RT_OK);
  /* Shards not known yet (data.shards auto): shards_in_use is left to train. */
  cfg.run.shards_in_use = 3;
  const rt_check_facts unknown = {.features = 4, .classes = 3, .train_rows = 400, .shards = 0};
  assert_int_equal(rt_check_run(&cfg, &unknown, "cpu", &report, &st), RT_OK);
  rt_config_free(&cfg);
}

static void an_invalid_config_stops_the_check(void **unused) {
  (void)unused;
  rt_config cfg;
  parse(several, &cfg);
  cfg.models[1].k = 0; /* set in the struct: rt_config_validate's table ranges catch it */
  const rt_check_facts facts = {.features = 4, .classes = 1, .train_rows = 40, .shards = 2};
  rt_check_report report;
  rt_status st;
  rt_status_clear(&st);
  assert_int_not_equal(rt_check_run(&cfg, &facts, "cpu", &report, &st), RT_OK);
  assert_int_equal(report.count, 1); /* nothing else is checked on an invalid config */
  assert_non_null(strstr(report.refusals[0].message, "k"));
  rt_config_free(&cfg);
}

static void past_the_cap_refusals_are_counted(void **unused) {
  (void)unused;
  char yaml[4096];
  int n = snprintf(yaml, sizeof yaml, "data: {train: d.csv}\nmodels:\n");
  for (int i = 0; i < RT_CHECK_MAX + 3; ++i)
    n += snprintf(yaml + n, sizeof yaml - (size_t)n, "  - {kind: logistic}\n");
  rt_config cfg;
  parse(yaml, &cfg);
  const rt_check_facts facts = {.features = 4, .classes = 0, .train_rows = 40};
  rt_check_report report;
  rt_status st;
  assert_int_equal(rt_check_run(&cfg, &facts, "cpu", &report, &st), RT_ERR_CONFIG);
  assert_int_equal(report.count, RT_CHECK_MAX);
  assert_int_equal(report.dropped, 3);
  assert_string_equal(report.refusals[RT_CHECK_MAX - 1].message,
                      "model 15 (logistic): needs at least 2 classes, data has 0");
  rt_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_refusal_is_returned),
      cmocka_unit_test(a_fitting_run_has_none),
      cmocka_unit_test(an_invalid_config_stops_the_check),
      cmocka_unit_test(past_the_cap_refusals_are_counted),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
