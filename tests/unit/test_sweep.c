/* The sweep language: grid and random expansion of the models entries, swept-key records, the
 * resolved config (write -> parse) and the order of --set overrides. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_internal.h"
#include "ringtrain/config.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

/* Parses and validates text that must be valid. */
static void load_ok(const char *text, rt_config *cfg) {
  rt_status st;
  rt_status_clear(&st);
  if (rt_config_parse(text, strlen(text), "s.yaml", cfg, &st) != RT_OK)
    fail_msg("unexpected parse failure: %s\n%s", st.message, text);
  if (rt_config_validate(cfg, &st) != RT_OK)
    fail_msg("unexpected validation failure: %s\n%s", st.message, text);
}

/* Parses text that must parse (it need not validate). */
static void parse_only(const char *text, rt_config *cfg) {
  rt_status st;
  rt_status_clear(&st);
  if (rt_config_parse(text, strlen(text), "s.yaml", cfg, &st) != RT_OK)
    fail_msg("unexpected parse failure: %s\n%s", st.message, text);
}

/* Parse, then validate, must fail with RT_ERR_CONFIG and one line containing `expected`. */
static void load_fails(const char *text, const char *expected) {
  rt_config cfg;
  rt_status st;
  rt_status_clear(&st);
  rt_code rc = rt_config_parse(text, strlen(text), "s.yaml", &cfg, &st);
  if (rc == RT_OK) rc = rt_config_validate(&cfg, &st);
  if (rc != RT_ERR_CONFIG)
    fail_msg("expected a config error containing \"%s\", got %s: %s", expected, rt_code_name(rc),
             st.message);
  if (!strstr(st.message, expected)) fail_msg("message \"%s\" lacks \"%s\"", st.message, expected);
  assert_null(strchr(st.message, '\n'));
  rt_config_free(&cfg);
}

static void set_ok(rt_config *cfg, const char *assignment) {
  rt_status st;
  rt_status_clear(&st);
  if (rt_config_set(cfg, assignment, &st) != RT_OK)
    fail_msg("--set %s: %s", assignment, st.message);
}

static void set_fails(rt_config *cfg, const char *assignment, const char *expected) {
  rt_status st;
  rt_status_clear(&st);
  rt_code rc = rt_config_set(cfg, assignment, &st);
  if (rc != RT_ERR_CONFIG)
    fail_msg("--set %s: expected a config error, got %s", assignment, rt_code_name(rc));
  if (!strstr(st.message, expected)) fail_msg("message \"%s\" lacks \"%s\"", st.message, expected);
}

static void validate_ok(const rt_config *cfg) {
  rt_status st;
  rt_status_clear(&st);
  if (rt_config_validate(cfg, &st) != RT_OK) fail_msg("validate: %s", st.message);
}

static void validate_fails(const rt_config *cfg, const char *expected) {
  rt_status st;
  rt_status_clear(&st);
  rt_code rc = rt_config_validate(cfg, &st);
  if (rc != RT_ERR_CONFIG)
    fail_msg("validate: expected a config error containing \"%s\"", expected);
  if (!strstr(st.message, expected)) fail_msg("message \"%s\" lacks \"%s\"", st.message, expected);
}

/* The swept keys of a model as "k=v k=v". */
static const char *swept(const rt_model_config *m) {
  static char buf[1024];
  assert_true(rt_model_swept_text(m, buf, sizeof buf));
  return buf;
}

static uint64_t bit(const char *key) {
  const rt_config_key *k = rt_config_key_find(RT_SECTION_MODEL, key);
  assert_non_null(k);
  return UINT64_C(1) << rt_model_key_index(k);
}

/* Every model key's value, as config text, is the same. */
static void assert_same_models(const rt_config *a, const rt_config *b) {
  assert_int_equal(a->model_count, b->model_count);
  for (size_t m = 0; m < a->model_count; ++m) {
    for (size_t i = 0; i < rt_model_key_count(); ++i) {
      char x[512], y[512];
      assert_true(rt_model_key_text(&a->models[m], i, x, sizeof x));
      assert_true(rt_model_key_text(&b->models[m], i, y, sizeof y));
      /* seed, data_order, start_shard: auto in one (resolved in the struct), the number in a
       * written config; the values must be the same. (Both auto: they follow each run.seed.) */
      if ((strcmp(x, "auto") == 0) != (strcmp(y, "auto") == 0)) {
        assert_true(rt_model_key_field(&a->models[m], i, x, sizeof x));
        assert_true(rt_model_key_field(&b->models[m], i, y, sizeof y));
      }
      if (strcmp(x, y) != 0) fail_msg("model %zu, %s: '%s' vs '%s'", m, rt_model_key_name(i), x, y);
    }
    assert_true(a->models[m].swept == b->models[m].swept);
  }
}

static char *write_yaml(const rt_config *cfg) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  rt_status st;
  rt_status_clear(&st);
  rt_code rc = rt_config_write_yaml(cfg, f, &st);
  assert_int_equal(fclose(f), 0);
  if (rc != RT_OK) fail_msg("write_yaml: %s", st.message);
  return buf;
}

/* ---------------------------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------------------------- */

/* The model keys by position: the bits of rt_model_config.swept. */
static void test_model_keys(void **state) {
  (void)state;
  const size_t n = rt_model_key_count();
  assert_true(n >= 20 && n <= 64);
  for (size_t i = 0; i < n; ++i) {
    const rt_config_key *k = rt_config_key_find(RT_SECTION_MODEL, rt_model_key_name(i));
    assert_non_null(k);
    assert_int_equal(rt_model_key_index(k), i);
    assert_ptr_equal(rt_model_key_at(i), k);
  }
  assert_null(rt_model_key_name(n));
  assert_string_equal(rt_model_key_name(0), "kind");
  rt_model_config m;
  rt_model_config_defaults(&m);
  char text[64];
  assert_true(rt_model_key_text(
      &m, rt_model_key_index(rt_config_key_find(RT_SECTION_MODEL, "hidden")), text, sizeof text));
  assert_string_equal(text, "[64]");
  assert_int_equal(m.swept, 0);
  assert_string_equal(swept(&m), "");
  m.swept = bit("batch_size") | bit("learning_rate");
  m.learning_rate = 0.01;
  m.batch_size = 64;
  assert_string_equal(swept(&m), "learning_rate=0.01 batch_size=64"); /* table order */
  char small[8];
  assert_false(rt_model_swept_text(&m, small, sizeof small));
  /* The sweep section's keys and names. */
  char list[256];
  rt_config_key_list(RT_SECTION_SWEEP, list, sizeof list);
  assert_string_equal(
      list, "method, count, seed, metric, early_terminate, asha, parallel, tpe, pbt, expanded");
  assert_string_equal(rt_section_name(RT_SECTION_SWEEP), "sweep");
  assert_string_equal(rt_sweep_method_name(RT_SWEEP_GRID), "grid");
  assert_string_equal(rt_sweep_method_name(RT_SWEEP_RANDOM), "random");
  assert_string_equal(rt_sweep_method_name(RT_SWEEP_ASHA), "asha");
  assert_string_equal(rt_sweep_method_name(RT_SWEEP_HYPERBAND), "hyperband");
  assert_string_equal(rt_sweep_goal_name(RT_GOAL_MAXIMIZE), "maximize");
  assert_int_equal(rt_sweep_goal_resolve(RT_GOAL_AUTO, "val_accuracy"), RT_GOAL_MAXIMIZE);
  assert_int_equal(rt_sweep_goal_resolve(RT_GOAL_AUTO, "val_r2"), RT_GOAL_MAXIMIZE);
  assert_int_equal(rt_sweep_goal_resolve(RT_GOAL_AUTO, "val_logloss"), RT_GOAL_MINIMIZE);
  assert_int_equal(rt_sweep_goal_resolve(RT_GOAL_AUTO, "train_loss"), RT_GOAL_MINIMIZE);
  assert_int_equal(rt_sweep_goal_resolve(RT_GOAL_AUTO, ""), RT_GOAL_MINIMIZE);
  assert_int_equal(rt_sweep_goal_resolve(RT_GOAL_MINIMIZE, "val_accuracy"), RT_GOAL_MINIMIZE);
  assert_int_equal(rt_sweep_goal_resolve(RT_GOAL_MAXIMIZE, "val_rmse"), RT_GOAL_MAXIMIZE);
}

/* The defaults: grid, no count, seed follows run.seed, metric auto; no sweep section needed. */
static void test_sweep_section(void **state) {
  (void)state;
  rt_config cfg;
  load_ok("data: {train: t.csv}\nrun: {seed: 9}\nmodels: [{kind: logistic}]\n", &cfg);
  assert_int_equal(cfg.sweep.method, RT_SWEEP_GRID);
  assert_int_equal(cfg.sweep.count, 0);
  assert_true(cfg.sweep.seed == 9);
  assert_int_equal(cfg.sweep.seed_set, 0);
  assert_string_equal(cfg.sweep.metric, "");
  assert_int_equal(cfg.sweep.goal, RT_GOAL_AUTO);
  assert_int_equal(cfg.sweep.expanded, 0);
  assert_int_equal(cfg.model_count, 1);
  assert_int_equal(cfg.models[0].swept, 0);
  rt_config_free(&cfg);

  load_ok(
      "data: {train: t.csv}\n"
      "sweep:\n  method: random\n  count: 3\n  seed: 42\n  metric:\n    name: val_r2\n    goal: maximize\n"
      "models: [{kind: linear}]\n",
      &cfg);
  assert_int_equal(cfg.sweep.method, RT_SWEEP_RANDOM);
  assert_int_equal(cfg.sweep.count, 3);
  assert_true(cfg.sweep.seed == 42);
  assert_int_equal(cfg.sweep.seed_set, 1);
  assert_string_equal(cfg.sweep.metric, "val_r2");
  assert_int_equal(cfg.sweep.goal, RT_GOAL_MAXIMIZE);
  assert_int_equal(cfg.model_count, 3); /* one entry without swept keys: 3 copies */
  rt_config_free(&cfg);

  /* metric: a name alone; names without val_ and min/max are aliases. */
  load_ok("data: {train: t.csv}\nsweep: {metric: accuracy}\nmodels: [{kind: logistic}]\n", &cfg);
  assert_string_equal(cfg.sweep.metric, "val_accuracy");
  rt_config_free(&cfg);
  load_ok("data: {train: t.csv}\nsweep: {metric: {goal: min}}\nmodels: [{kind: logistic}]\n", &cfg);
  assert_string_equal(cfg.sweep.metric, "");
  assert_int_equal(cfg.sweep.goal, RT_GOAL_MINIMIZE);
  rt_config_free(&cfg);
  load_ok("data: {train: t.csv}\nsweep:\nmodels: [{kind: logistic}]\nrun: {seed: 3}\n", &cfg);
  assert_true(cfg.sweep.seed == 3); /* an empty section: defaults; seed follows run.seed */
  rt_config_free(&cfg);

  load_fails("data: {train: t.csv}\nsweep: {metric: {nme: val_r2}}\nmodels: [{kind: logistic}]\n",
             "s.yaml:2:18: unknown key 'nme' in sweep.metric; did you mean 'name'?");
  load_fails(
      "data: {train: t.csv}\nsweep: {metric: [val_r2]}\nmodels: [{kind: logistic}]\n",
      "s.yaml:2:17: sweep.metric: expected a mapping such as {name: val_accuracy, goal: maximize}, got a list");
  load_fails("data: {train: t.csv}\nsweep: {metric.name: val_r2}\nmodels: [{kind: logistic}]\n",
             "unknown key 'metric.name' in sweep");
  load_fails("data: {train: t.csv}\nsweep: {metric: {goal: up}}\nmodels: [{kind: logistic}]\n",
             "s.yaml:2:24: sweep.metric.goal: expected one of: auto, minimize, maximize; got 'up'");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: bayes}\nmodels: [{kind: logistic}]\n",
      "s.yaml:2:17: sweep.method: expected one of: grid, random, asha, hyperband, tpe, pbt; got 'bayes'");
  load_fails("data: {train: t.csv}\nsweep: {count: -1}\nmodels: [{kind: logistic}]\n",
             "s.yaml:2:16: sweep.count must be >= 1 (or none), got -1");
  load_fails("data: {train: t.csv}\nsweep: {n_trials: 5}\nmodels: [{kind: logistic}]\n",
             "unknown key 'n_trials' in sweep; did you mean 'count'?");
  load_fails(
      "data: {train: t.csv}\nsweep: {zzzzzz: 5}\nmodels: [{kind: logistic}]\n",
      "valid keys: method, count, seed, metric, early_terminate, asha, parallel, tpe, pbt, expanded");
  load_fails("data: {train: t.csv}\nrun: {count: 5}\nmodels: [{kind: logistic}]\n",
             "'count' belongs in the sweep section");
  load_fails("data: {train: t.csv}\nsweep: 5\nmodels: [{kind: logistic}]\n",
             "s.yaml:2:8: sweep: expected a mapping, got '5'");
}

/* grid: entry by entry, the Cartesian product; the first-listed key varies slowest. */
static void test_grid_order(void **state) {
  (void)state;
  rt_config cfg;
  load_ok(
      "data: {train: t.csv}\n"
      "models:\n"
      "  - kind: logistic\n"
      "    learning_rate: [0.1, 0.01, 0.001]\n"
      "    optimizer: sgd\n"
      "    batch_size: [32, 64]\n"
      "  - {kind: kmeans, k: [2, 3]}\n",
      &cfg);
  assert_int_equal(cfg.model_count, 8);
  const double lr[] = {0.1, 0.1, 0.01, 0.01, 0.001, 0.001};
  const long bs[] = {32, 64, 32, 64, 32, 64};
  for (size_t i = 0; i < 6; ++i) {
    assert_string_equal(cfg.models[i].kind, "logistic");
    assert_true(cfg.models[i].learning_rate == lr[i]);
    assert_int_equal(cfg.models[i].batch_size, bs[i]);
    assert_int_equal(cfg.models[i].optimizer, RT_OPT_SGD);
    assert_true(cfg.models[i].swept == (bit("learning_rate") | bit("batch_size")));
    assert_int_equal(cfg.models[i].line, 3);
    assert_int_equal(cfg.models[i].column, 5);
  }
  assert_string_equal(swept(&cfg.models[3]), "learning_rate=0.01 batch_size=64");
  assert_string_equal(cfg.models[6].kind, "kmeans");
  assert_int_equal(cfg.models[6].k, 2);
  assert_int_equal(cfg.models[7].k, 3);
  assert_true(cfg.models[7].swept == bit("k"));
  assert_string_equal(swept(&cfg.models[7]), "k=3");
  assert_int_equal(cfg.models[7].line, 7);
  rt_config_free(&cfg);

  /* Reversing the keys reverses which varies fastest. */
  load_ok(
      "data: {train: t.csv}\nmodels:\n  - {kind: logistic, batch_size: [32, 64], learning_rate: [0.1, 0.01, 0.001]}\n",
      &cfg);
  assert_int_equal(cfg.model_count, 6);
  assert_int_equal(cfg.models[0].batch_size, 32);
  assert_int_equal(cfg.models[2].batch_size, 32);
  assert_int_equal(cfg.models[3].batch_size, 64);
  assert_true(cfg.models[1].learning_rate == 0.01);
  rt_config_free(&cfg);

  /* Any key: kind too; the swept values go through the key table (aliases canonical). */
  load_ok(
      "data: {train: t.csv}\nmodels:\n  - {kind: [softmax, mlp], activation: [tanh, gelu], fit_intercept: [yes, false]}\n",
      &cfg);
  assert_int_equal(cfg.model_count, 8);
  assert_string_equal(cfg.models[0].kind, "logistic");
  assert_string_equal(cfg.models[4].kind, "mlp");
  assert_int_equal(cfg.models[0].fit_intercept, 1);
  assert_int_equal(cfg.models[1].fit_intercept, 0);
  assert_int_equal(cfg.models[2].activation, RT_ACTIVATION_GELU);
  assert_string_equal(swept(&cfg.models[1]), "kind=logistic fit_intercept=false activation=tanh");
  rt_config_free(&cfg);
}

/* A plain list and {values: [...]} are the same sweep; categorical is random-only. */
static void test_values_forms(void **state) {
  (void)state;
  rt_config a, b;
  load_ok(
      "data: {train: t.csv}\nmodels:\n  - {kind: logistic, learning_rate: [0.1, 0.01], l2: [0, 1e-4]}\n",
      &a);
  load_ok(
      "data: {train: t.csv}\nmodels:\n  - kind: logistic\n    learning_rate: {values: [0.1, 0.01]}\n"
      "    l2:\n      values:\n        - 0\n        - 1e-4\n",
      &b);
  assert_int_equal(a.model_count, 4);
  assert_same_models(&a, &b);
  rt_config_free(&a);
  rt_config_free(&b);
  /* One value in a list: one model, still recorded as swept. */
  load_ok("data: {train: t.csv}\nmodels: [{kind: logistic, learning_rate: [0.5]}]\n", &a);
  assert_int_equal(a.model_count, 1);
  assert_true(a.models[0].learning_rate == 0.5);
  assert_true(a.models[0].swept == bit("learning_rate"));
  rt_config_free(&a);
}

/* hidden is a list: a plain list of integers is ONE value, a list of lists is a sweep. */
static void test_hidden_lists(void **state) {
  (void)state;
  rt_config cfg;
  load_ok("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [128, 64]}]\n", &cfg);
  assert_int_equal(cfg.model_count, 1);
  assert_int_equal(cfg.models[0].hidden_count, 2);
  assert_int_equal(cfg.models[0].hidden[1], 64);
  assert_int_equal(cfg.models[0].swept, 0);
  rt_config_free(&cfg);

  load_ok("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [[64], [128, 64]]}]\n", &cfg);
  assert_int_equal(cfg.model_count, 2);
  assert_int_equal(cfg.models[0].hidden_count, 1);
  assert_int_equal(cfg.models[0].hidden[0], 64);
  assert_int_equal(cfg.models[1].hidden_count, 2);
  assert_int_equal(cfg.models[1].hidden[0], 128);
  assert_string_equal(swept(&cfg.models[1]), "hidden=[128, 64]");
  rt_config_free(&cfg);

  rt_config b;
  load_ok(
      "data: {train: t.csv}\nmodels:\n  - kind: mlp\n    hidden:\n      values:\n        - [64]\n        - [128, 64]\n",
      &b);
  load_ok("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [[64], [128, 64]]}]\n", &cfg);
  assert_same_models(&cfg, &b);
  rt_config_free(&b);
  rt_config_free(&cfg);

  /* values: items may be single widths; block-style lists of lists work too. */
  load_ok(
      "data: {train: t.csv}\nmodels:\n  - kind: mlp\n    hidden: {values: [32, \"16,8\"]}\n"
      "  - kind: mlp\n    hidden:\n      - [4]\n      - [4, 4]\n      - [4, 4, 4]\n",
      &cfg);
  assert_int_equal(cfg.model_count, 5);
  assert_int_equal(cfg.models[0].hidden_count, 1);
  assert_int_equal(cfg.models[0].hidden[0], 32);
  assert_int_equal(cfg.models[1].hidden_count, 2);
  assert_int_equal(cfg.models[4].hidden_count, 3);
  rt_config_free(&cfg);

  load_fails("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [[64], [128, 0]]}]\n",
             "s.yaml:2:37: models[0].hidden must have every hidden width >= 1, got 0 in [128, 0]");
  load_fails(
      "data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [[4], 2]}]\n",
      "s.yaml:2:31: models[0].hidden: expected a list of 1 to 8 integers (each a hidden width), got a list in the list");
  load_fails("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [[]]}]\n",
             "models[0].hidden: expected at least one hidden width, got an empty list");
  load_fails("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [[[4]]]}]\n",
             "expected a list of 1 to 8 integers (each a hidden width), got a list in the list");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 2}\nmodels: [{kind: mlp, hidden: {distribution: uniform, min: 1, max: 9}}]\n",
      "models[0].hidden: distribution uniform needs a numeric key");
  /* categorical over structures is fine */
  load_ok(
      "data: {train: t.csv}\nsweep: {method: random, count: 20}\n"
      "models: [{kind: mlp, hidden: {distribution: categorical, values: [[8], [8, 8]]}}]\n",
      &cfg);
  int seen[3] = {0};
  for (size_t i = 0; i < cfg.model_count; ++i) {
    assert_true(cfg.models[i].hidden_count == 1 || cfg.models[i].hidden_count == 2);
    seen[cfg.models[i].hidden_count] = 1;
  }
  assert_true(seen[1] && seen[2]);
  rt_config_free(&cfg);
}

static const char random_text[] =
    "data: {train: t.csv}\n"
    "run: {seed: 5}\n"
    "sweep: {method: random, count: 600}\n"
    "models:\n"
    "  - kind: logistic\n"
    "    learning_rate: {distribution: log_uniform, min: 1e-4, max: 0.1}\n"
    "    batch_size: {distribution: int_uniform, min: 16, max: 20}\n"
    "    momentum: {distribution: uniform, min: 0, max: 0.9}\n"
    "    optimizer: {distribution: categorical, values: [sgd, adam]}\n"
    "    l2: [0, 0.001, 0.01]\n"
    "  - kind: kmeans\n"
    "    k: {distribution: uniform, min: 2, max: 10}\n"
    "    init_sample: {distribution: log_uniform, min: 10, max: 100000}\n"
    "  - kind: mlp\n"
    "    hidden: [[16], [32, 16]]\n"
    "    activation: {values: [relu, tanh, gelu]}\n";

/* random: deterministic by seed, in range, count spread over the entries round-robin. */
static void test_random(void **state) {
  (void)state;
  rt_config a, b;
  load_ok(random_text, &a);
  load_ok(random_text, &b);
  assert_int_equal(a.model_count, 600);
  assert_same_models(&a, &b);
  rt_config_free(&b);
  int batch_seen[21] = {0}, opt_seen[2] = {0}, l2_seen[3] = {0}, act_seen[3] = {0},
      k_seen[11] = {0};
  int lr_low = 0, lr_high = 0, deep = 0;
  for (size_t i = 0; i < a.model_count; ++i) {
    const rt_model_config *m = &a.models[i];
    switch (i % 3) {
      case 0:
        assert_string_equal(m->kind, "logistic");
        assert_int_equal(m->line, 5);
        assert_true(m->learning_rate >= 1e-4 && m->learning_rate <= 0.1);
        lr_low += m->learning_rate < 1e-3;
        lr_high += m->learning_rate > 1e-2;
        assert_true(m->batch_size >= 16 && m->batch_size <= 20);
        batch_seen[m->batch_size] = 1;
        assert_true(m->momentum >= 0.0 && m->momentum <= 0.9);
        opt_seen[m->optimizer] = 1;
        assert_true(m->l2 == 0.0 || m->l2 == 0.001 || m->l2 == 0.01);
        l2_seen[m->l2 == 0.0 ? 0 : m->l2 == 0.001 ? 1 : 2] = 1;
        assert_true(m->swept == (bit("learning_rate") | bit("batch_size") | bit("momentum") |
                                 bit("optimizer") | bit("l2")));
        break;
      case 1:
        assert_string_equal(m->kind, "kmeans");
        assert_int_equal(m->line, 11);
        assert_true(m->k >= 2 && m->k <= 10); /* uniform on an integer key: rounded */
        k_seen[m->k] = 1;
        assert_true(m->init_sample >= 10 && m->init_sample <= 100000);
        assert_true(m->swept == (bit("k") | bit("init_sample")));
        break;
      default:
        assert_string_equal(m->kind, "mlp");
        assert_true(m->hidden_count == 1 || m->hidden_count == 2);
        deep += m->hidden_count == 2;
        act_seen[m->activation] = 1;
        break;
    }
  }
  for (int v = 16; v <= 20; ++v) assert_true(batch_seen[v]); /* int_uniform: inclusive */
  for (int v = 2; v <= 10; ++v) assert_true(k_seen[v]);
  assert_true(opt_seen[0] && opt_seen[1]);
  assert_true(l2_seen[0] && l2_seen[1] && l2_seen[2]);
  assert_true(act_seen[0] && act_seen[1] && act_seen[2]);
  /* log-uniform over 3 decades: about a third below 1e-3 and a third above 1e-2 */
  assert_true(lr_low > 40 && lr_low < 100);
  assert_true(lr_high > 40 && lr_high < 100);
  assert_true(deep > 60 && deep < 140);

  /* The seed: auto follows run.seed; another seed draws other values. */
  rt_config c;
  load_ok(random_text, &c);
  set_ok(&c, "sweep.seed=5");
  assert_int_equal(c.sweep.seed_set, 1);
  assert_same_models(&a, &c);
  set_ok(&c, "sweep.seed=6");
  int differ = 0;
  for (size_t i = 0; i < c.model_count; ++i)
    differ += a.models[i].learning_rate != c.models[i].learning_rate;
  assert_true(differ > 150);
  set_ok(&c, "run.seed=77"); /* sweep.seed is set: no new draws */
  rt_config d;
  load_ok(random_text, &d);
  set_ok(&d, "sweep.seed=6");
  assert_same_models(&c, &d);
  rt_config_free(&d);
  rt_config_free(&c);
  load_ok(random_text, &c);
  set_ok(&c, "run.seed=6"); /* sweep.seed follows run.seed: new draws, as with seed 6 */
  assert_true(c.sweep.seed == 6);
  load_ok(random_text, &d);
  set_ok(&d, "sweep.seed=6");
  assert_same_models(&c, &d);
  rt_config_free(&d);
  rt_config_free(&c);

  /* A model's draws depend on (seed, id, key) only: adding a key or an entry's other keys does
   * not change the others' values; a larger count keeps the first models. */
  load_ok(
      "data: {train: t.csv}\nrun: {seed: 5}\nsweep: {method: random, count: 30}\n"
      "models:\n  - kind: logistic\n    learning_rate: {distribution: log_uniform, min: 1e-4, max: 0.1}\n",
      &c);
  load_ok(
      "data: {train: t.csv}\nrun: {seed: 5}\nsweep: {method: random, count: 10}\n"
      "models:\n  - kind: logistic\n    l2: [0, 1]\n    learning_rate: {distribution: log_uniform, min: 1e-4, max: 0.1}\n",
      &d);
  for (size_t i = 0; i < d.model_count; ++i)
    assert_true(c.models[i].learning_rate == d.models[i].learning_rate);
  rt_config_free(&d);
  rt_config_free(&c);
  rt_config_free(&a);

  /* Fewer models than entries: the first entries only. */
  load_ok(
      "data: {train: t.csv}\nsweep: {method: random, count: 2}\n"
      "models: [{kind: logistic}, {kind: kmeans}, {kind: mlp}]\n",
      &a);
  assert_int_equal(a.model_count, 2);
  assert_string_equal(a.models[1].kind, "kmeans");
  rt_config_free(&a);
  /* int_uniform on a number key; min == max */
  load_ok(
      "data: {train: t.csv}\nsweep: {method: random, count: 50}\n"
      "models: [{kind: linear, alpha: {distribution: int_uniform, min: 0, max: 3}, l2: {distribution: uniform, min: 0.5, max: 0.5}}]\n",
      &a);
  for (size_t i = 0; i < a.model_count; ++i) {
    assert_true(a.models[i].alpha == floor(a.models[i].alpha));
    assert_true(a.models[i].alpha >= 0 && a.models[i].alpha <= 3);
    assert_true(a.models[i].l2 == 0.5);
  }
  rt_config_free(&a);
}

/* Several kinds in one grid; fixed entries stay one model each. */
static void test_mixed_kinds(void **state) {
  (void)state;
  rt_config cfg;
  load_ok(
      "data: {train: t.csv}\n"
      "models:\n"
      "  - {kind: logistic, learning_rate: 0.05}\n"
      "  - {kind: linear, alpha: [0, 0.1, 1]}\n"
      "  - {kind: kmeans, k: [4, 8], batch_size: [64, 256]}\n"
      "  - {kind: mlp, hidden: [[16], [16, 16]], output: regression}\n",
      &cfg);
  assert_int_equal(cfg.model_count, 1 + 3 + 4 + 2);
  const char *kinds[] = {"logistic", "linear", "linear", "linear", "kmeans",
                         "kmeans",   "kmeans", "kmeans", "mlp",    "mlp"};
  for (size_t i = 0; i < cfg.model_count; ++i) assert_string_equal(cfg.models[i].kind, kinds[i]);
  assert_int_equal(cfg.models[0].swept, 0);
  assert_true(cfg.models[3].alpha == 1.0);
  assert_int_equal(cfg.models[5].k, 4);
  assert_int_equal(cfg.models[5].batch_size, 256);
  assert_int_equal(cfg.models[9].output, RT_OUTPUT_REGRESSION);
  rt_config_free(&cfg);
}

/* Merge keys: an entry's own value wins over a merged sweep, and the other way round. */
static void test_merges(void **state) {
  (void)state;
  rt_config cfg;
  load_ok(
      "data: {train: t.csv}\n"
      "models:\n"
      "  - &base {kind: logistic, learning_rate: [0.1, 0.01], batch_size: 32}\n"
      "  - {<<: *base, learning_rate: 0.5}\n"
      "  - {<<: *base, batch_size: [8, 16]}\n",
      &cfg);
  assert_int_equal(cfg.model_count, 2 + 1 + 4);
  assert_true(cfg.models[2].learning_rate == 0.5);
  assert_true(cfg.models[2].swept == 0);
  /* merged keys count as listed first: learning_rate varies slowest */
  assert_true(cfg.models[3].learning_rate == 0.1 && cfg.models[3].batch_size == 8);
  assert_true(cfg.models[4].learning_rate == 0.1 && cfg.models[4].batch_size == 16);
  assert_true(cfg.models[5].learning_rate == 0.01 && cfg.models[5].batch_size == 8);
  rt_config_free(&cfg);
}

/* Errors name the file, line and column of the list, value or distribution. */
static void test_errors(void **state) {
  (void)state;
  load_fails(
      "data: {train: t.csv}\nmodels:\n  - {kind: logistic, learning_rate: {distribution: uniform, min: 0.1, max: 1}}\n",
      "s.yaml:3:37: models[0].learning_rate: a distribution needs sweep.method: random");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 3}\nmodels:\n  - {kind: logistic, learning_rate: {distribution: uniform, min: 1, max: 0.1}}\n",
      "s.yaml:4:37: models[0].learning_rate: distribution uniform needs min <= max, got min 1 > max 0.1");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 3}\nmodels:\n  - {kind: logistic, batch_size: {distribution: int_uniform, min: 64, max: 8}}\n",
      "models[0].batch_size: distribution int_uniform needs min <= max, got min 64 > max 8");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 3}\nmodels:\n  - {kind: logistic, learning_rate: {distribution: normal, min: 1, max: 2}}\n",
      "s.yaml:4:52: models[0].learning_rate.distribution: expected one of: uniform, log_uniform, int_uniform, categorical; got 'normal'");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 3}\nmodels:\n  - {kind: logistic, optimizer: {distribution: categorical}}\n",
      "s.yaml:4:33: models[0].optimizer: distribution categorical needs values: [...]");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 3}\nmodels:\n  - {kind: logistic, optimizer: {distribution: categorical, values: adam}}\n",
      "models[0].optimizer.values: expected a list of values, got 'adam'");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 3}\nmodels:\n  - {kind: logistic, optimizer: {distribution: categorical, values: [sgd, adma]}}\n",
      "s.yaml:4:75: models[0].optimizer: expected one of: sgd, adam; got 'adma'; did you mean 'adam'?");
  load_fails("data: {train: t.csv}\nmodels:\n  - {kind: logistic, learning_rate: [0.1, -1]}\n",
             "s.yaml:3:43: models[0].learning_rate must be > 0, got -1");
  load_fails("data: {train: t.csv}\nmodels:\n  - {kind: logistic, learning_rate: [0.1, fast]}\n",
             "s.yaml:3:43: models[0].learning_rate: expected a number, got 'fast'");
  load_fails("data: {train: t.csv}\nmodels:\n  - {kind: logistic, learning_rate: [0.1, [1]]}\n",
             "models[0].learning_rate: expected a number, got a list in the list");
  load_fails("data: {train: t.csv}\nmodels:\n  - {kind: logistic, learning_rate: [0.1, ~]}\n",
             "got nothing in the list");
  load_fails(
      "data: {train: t.csv}\nmodels:\n  - {kind: logistic, learning_rate: []}\n",
      "s.yaml:3:37: models[0].learning_rate: expected at least one value to sweep, got an empty list");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 3}\nmodels:\n  - {kind: logistic, learning_rate: {distribution: uniform, min: -1, max: 1}}\n",
      "s.yaml:4:66: models[0].learning_rate.min must be > 0, got -1");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 3}\nmodels:\n  - {kind: logistic, learning_rate: {distribution: uniform, min: 0.1}}\n",
      "models[0].learning_rate: distribution uniform needs min and max");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 3}\nmodels:\n  - {kind: logistic, learning_rate: {distribution: uniform, min: 0.1, max: 1, values: [1]}}\n",
      "models[0].learning_rate: values goes with distribution categorical; uniform takes min and max");
  load_fails(
      "data: {train: t.csv}\nmodels:\n  - {kind: logistic, learning_rate: {values: [0.1], min: 0.1}}\n",
      "models[0].learning_rate: min and max go with distribution uniform, log_uniform or int_uniform");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 3}\nmodels:\n  - {kind: logistic, optimizer: {distribution: uniform, min: 0, max: 1}}\n",
      "models[0].optimizer: distribution uniform needs a numeric key");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 3}\nmodels:\n  - {kind: logistic, batch_size: {distribution: uniform, min: 1.5, max: 9}}\n",
      "models[0].batch_size.min: expected an integer, got '1.5'");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 3}\nmodels:\n  - {kind: logistic, l2: {distribution: log_uniform, min: 0, max: 1}}\n",
      "models[0].l2.min: log_uniform needs min > 0, got 0");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 3}\nmodels:\n  - {kind: logistic, l2: {distribution: uniform, min: [0], max: 1}}\n",
      "models[0].l2.min: expected a number, got a list");
  load_fails("data: {train: t.csv}\nmodels:\n  - {kind: logistic, l2: {valeus: [0, 1]}}\n",
             "models[0].l2: expected a number, got a mapping (a swept key takes a list of values");
  load_fails("data: {train: t.csv}\nmodels:\n  - {kind: logistic, l2: {values: [0, 1], step: 1}}\n",
             "unknown key 'step' in models[0].l2; valid keys: distribution, min, max, values");
  load_fails("data: {train: t.csv}\nmodels:\n  - {kind: logistic, swept: [[l2], [k]]}\n",
             "models[0].swept cannot be swept");
  load_fails("data: {train: t.csv}\nmodels:\n  - {kind: logistic, swept: {values: [l2]}}\n",
             "models[0].swept cannot be swept");
  load_fails(
      "data: {train: t.csv}\nmodels:\n  - {kind: logistic, swept: [lr]}\n",
      "models[0].swept: expected a list of model key names, got 'lr'; did you mean 'learning_rate'?");
  load_fails("data: {train: t.csv}\nmodels:\n  - {learning_rate: [0.1, 0.2]}\n",
             "s.yaml:3:5: models[0].kind is required");
  load_fails("data: {train: t.csv}\nmodels:\n  - {kind: [logistic, tree]}\n",
             "models[0].kind: expected one of: logistic, kmeans, linear, mlp; got 'tree'");
  /* random needs a count; a count over the limit; a grid over the limit */
  load_fails("data: {train: t.csv}\nsweep: {method: random}\nmodels:\n  - {kind: logistic}\n",
             "s.yaml:2:1: sweep.count is required with sweep.method: random");
  load_fails(
      "data: {train: t.csv}\nsweep: {method: random, count: 1000001}\nmodels:\n  - {kind: logistic}\n",
      "s.yaml:2:32: sweep.count must be <= 1000000, got 1000001");
  char *big = malloc(64 * 1024);
  assert_non_null(big);
  size_t used =
      (size_t)sprintf(big, "data: {train: t.csv}\nmodels:\n  - kind: logistic\n    batch_size: [");
  for (int i = 1; i <= 1001; ++i) used += (size_t)sprintf(big + used, "%s%d", i > 1 ? ", " : "", i);
  used += (size_t)sprintf(big + used, "]\n    init_sample: [");
  for (int i = 1; i <= 1000; ++i) used += (size_t)sprintf(big + used, "%s%d", i > 1 ? ", " : "", i);
  sprintf(big + used, "]\n");
  load_fails(big, "s.yaml:3:3: models: the grid expands to more than 1000000 models");
  free(big);
}

/* write_yaml -> parse: the same models, marked as expanded, with their swept keys. */
static void test_round_trip(void **state) {
  (void)state;
  static const char *const texts[] = {
      random_text,
      "data: {train: t.csv}\nsweep: {metric: {name: val_accuracy}}\nmodels:\n"
      "  - {kind: logistic, learning_rate: [0.1, 0.01], batch_size: [32, 64]}\n"
      "  - {kind: mlp, hidden: [[64], [128, 64]], activation: tanh}\n",
  };
  for (size_t t = 0; t < sizeof texts / sizeof texts[0]; ++t) {
    rt_config cfg, back;
    load_ok(texts[t], &cfg);
    set_ok(&cfg, "models.1.l2=0.25");
    char *yaml = write_yaml(&cfg);
    assert_non_null(strstr(yaml, "  expanded: true\n"));
    assert_non_null(strstr(yaml, "    swept: ["));
    load_ok(yaml, &back);
    assert_int_equal(back.sweep.expanded, 1);
    assert_int_equal(back.sweep.method, cfg.sweep.method);
    assert_int_equal(back.sweep.count, cfg.sweep.count);
    assert_true(back.sweep.seed == cfg.sweep.seed);
    assert_string_equal(back.sweep.metric, cfg.sweep.metric);
    assert_int_equal(back.sweep.goal, cfg.sweep.goal);
    assert_same_models(&cfg, &back);
    assert_true(back.models[1].l2 == 0.25);
    char *again = write_yaml(&back);
    assert_string_equal(yaml, again);
    free(again);
    /* Nothing of the written config is swept again; sweep overrides would change nothing. */
    set_fails(&back, "sweep.count=3", "already expanded");
    set_fails(&back, "sweep.method=grid", "already expanded");
    set_ok(&back, "sweep.metric.goal=maximize");
    set_ok(&back, "models.0.learning_rate=0.2");
    free(yaml);
    rt_config_free(&back);
    rt_config_free(&cfg);
  }
  /* A written config read back with a list is an error naming it. */
  load_fails(
      "data: {train: t.csv}\nsweep: {expanded: true}\nmodels: [{kind: logistic, l2: [0, 1]}]\n",
      "s.yaml:3:31: models[0].l2: sweep.expanded is true");
  /* swept given by hand adds to what the entry sweeps */
  rt_config cfg;
  load_ok("data: {train: t.csv}\nmodels: [{kind: logistic, swept: [momentum], l2: [0, 1]}]\n",
          &cfg);
  assert_true(cfg.models[0].swept == (bit("momentum") | bit("l2")));
  rt_config_free(&cfg);
}

/* --set: sweep overrides act before the expansion, models overrides after it, in any order. */
static void test_set_order(void **state) {
  (void)state;
  static const char text[] =
      "data: {train: t.csv}\n"
      "sweep: {method: random, count: 4}\n"
      "models:\n"
      "  - kind: logistic\n"
      "    learning_rate: {distribution: log_uniform, min: 1e-4, max: 0.1}\n"
      "  - kind: mlp\n"
      "    hidden: [[8], [16]]\n";
  rt_config a, b;
  load_ok(text, &a);
  assert_int_equal(a.model_count, 4);
  set_ok(&a, "sweep.count=20");
  assert_int_equal(a.model_count, 20);
  set_ok(&a, "models.13.learning_rate=0.5");
  set_ok(&a, "models.*.batch_size=7");
  validate_ok(&a);
  load_ok(text, &b);
  set_ok(&b, "models.*.batch_size=7");
  set_fails(&b, "models.13.learning_rate=0.5",
            "there is no model 13; the config has 4 models (0..3)");
  set_ok(&b, "models.3.l2=0.125");
  set_ok(&b, "sweep.count=20");
  set_ok(&b, "models.13.learning_rate=0.5");
  assert_int_equal(b.model_count, 20);
  assert_true(b.models[3].l2 == 0.125); /* applied again after the new expansion */
  a.models[3].l2 = 0.125;
  assert_same_models(&a, &b);
  assert_int_equal(b.models[19].batch_size, 7);
  assert_true(b.models[13].learning_rate == 0.5);
  rt_config_free(&b);

  /* A model override that no longer fits: pending until a later sweep override makes room. */
  set_ok(&a, "sweep.count=5");
  validate_fails(
      &a,
      "--set sweep.count=5: applying again (after the new expansion) --set models.13.learning_rate=0.5: there is no model 13");
  set_ok(&a, "sweep.count=14");
  validate_ok(&a);
  assert_true(a.models[13].learning_rate == 0.5);
  rt_config_free(&a);

  /* Switching to random before giving the count: fine once the count comes. */
  load_ok(
      "data: {train: t.csv}\nmodels: [{kind: logistic, learning_rate: {values: [0.1, 0.2, 0.3]}}]\n",
      &a);
  assert_int_equal(a.model_count, 3);
  set_ok(&a, "sweep.method=random");
  validate_fails(
      &a,
      "--set sweep.method=random: s.yaml:2:9: sweep.count is required with sweep.method: random");
  set_ok(&a, "models.7.l2=0.5"); /* checked now, applied after the expansion */
  set_fails(&a, "models.7.l2=-1", "models[7].l2 must be >= 0, got -1");
  set_fails(&a, "models.x.l2=1", "expected a model index or '*' after 'models.', got 'x'");
  set_ok(&a, "sweep.count=10");
  validate_ok(&a);
  assert_int_equal(a.model_count, 10);
  assert_true(a.models[7].l2 == 0.5);
  for (size_t i = 0; i < 10; ++i) {
    const double lr = a.models[i].learning_rate;
    assert_true(lr == 0.1 || lr == 0.2 || lr == 0.3);
  }
  set_ok(&a, "sweep.method=grid"); /* 3 models: model 7 is gone */
  validate_fails(
      &a, "applying again (after the new expansion) --set models.7.l2=0.5: there is no model 7");
  rt_config_free(&a);

  /* A file that needs a count given on the command line. */
  parse_only(
      "data: {train: t.csv}\nsweep: {method: random}\nmodels: [{kind: logistic, l2: [0, 1]}]\n",
      &a);
  validate_fails(&a, "s.yaml:2:1: sweep.count is required");
  set_ok(&a, "sweep.count=4");
  validate_ok(&a);
  assert_int_equal(a.model_count, 4);
  /* Back to grid with a distribution: an error naming the distribution. */
  rt_config_free(&a);
  load_ok(text, &a);
  set_ok(&a, "sweep.method=grid");
  validate_fails(
      &a,
      "--set sweep.method=grid: s.yaml:5:20: models[0].learning_rate: a distribution needs sweep.method: random");
  set_ok(&a, "sweep.method=random");
  validate_ok(&a);
  set_fails(&a, "sweep.count=2000000",
            "--set sweep.count=2000000: sweep.count must be <= 1000000, got 2000000");
  set_fails(&a, "sweep.cnt=3", "unknown key 'cnt' in sweep; did you mean 'count'?");
  set_ok(&a, "sweep.metric=val_accuracy");
  assert_string_equal(a.sweep.metric, "val_accuracy");
  set_ok(&a, "sweep.metric.name=auto");
  assert_string_equal(a.sweep.metric, "");
  set_ok(&a, "sweep.metric.goal=max");
  assert_int_equal(a.sweep.goal, RT_GOAL_MAXIMIZE);
  set_ok(&a, "sweep.seed=auto");
  assert_int_equal(a.sweep.seed_set, 0);
  rt_config_free(&a);

  /* A config built in code (no plan): sweep keys are plain settings. */
  rt_config_defaults(&a);
  set_ok(&a, "sweep.method=random");
  set_ok(&a, "sweep.count=3");
  assert_int_equal(a.model_count, 0);
  a.sweep.count = 0;
  set_ok(&a, "data.train=t.csv");
  validate_fails(&a, "sweep.count is required with sweep.method: random");
  rt_config_free(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_model_keys),   cmocka_unit_test(test_sweep_section),
      cmocka_unit_test(test_grid_order),   cmocka_unit_test(test_values_forms),
      cmocka_unit_test(test_hidden_lists), cmocka_unit_test(test_random),
      cmocka_unit_test(test_mixed_kinds),  cmocka_unit_test(test_merges),
      cmocka_unit_test(test_errors),       cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_set_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
