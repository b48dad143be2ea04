/* Config parsing, --set, validation, the YAML writer and the key table. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_internal.h"
#include "edit_distance.h"
#include "ringtrain/config.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

static rt_code parse_text(const char *text, const char *path, rt_config *cfg, rt_status *st) {
  rt_status_clear(st);
  return rt_config_parse(text, strlen(text), path, cfg, st);
}

/* Parses text that must be valid. */
static void parse_ok(const char *text, const char *path, rt_config *cfg) {
  rt_status st;
  rt_code rc = parse_text(text, path, cfg, &st);
  if (rc != RT_OK) fail_msg("unexpected parse failure: %s", st.message);
}

/* Parses text that must fail with RT_ERR_CONFIG and a one-line message containing `expected`. */
static void parse_fails(const char *text, const char *expected) {
  rt_config cfg;
  rt_status st;
  rt_code rc = parse_text(text, "t.yaml", &cfg, &st);
  if (rc != RT_ERR_CONFIG)
    fail_msg("expected a config error containing \"%s\", got %s: %s", expected, rt_code_name(rc),
             st.message);
  if (!strstr(st.message, expected)) fail_msg("message \"%s\" lacks \"%s\"", st.message, expected);
  assert_null(strchr(st.message, '\n'));
  assert_null(cfg.models);
  rt_config_free(&cfg);
}

static void set_ok(rt_config *cfg, const char *assignment) {
  rt_status st;
  rt_status_clear(&st);
  rt_code rc = rt_config_set(cfg, assignment, &st);
  if (rc != RT_OK) fail_msg("--set %s failed: %s", assignment, st.message);
}

static void set_fails(rt_config *cfg, const char *assignment, const char *expected) {
  rt_status st;
  rt_status_clear(&st);
  rt_code rc = rt_config_set(cfg, assignment, &st);
  if (rc != RT_ERR_CONFIG)
    fail_msg("--set %s: expected a config error, got %s", assignment, rt_code_name(rc));
  if (!strstr(st.message, expected)) fail_msg("message \"%s\" lacks \"%s\"", st.message, expected);
  assert_null(strchr(st.message, '\n'));
}

static void validate_fails(const rt_config *cfg, const char *expected) {
  rt_status st;
  rt_status_clear(&st);
  rt_code rc = rt_config_validate(cfg, &st);
  if (rc != RT_ERR_CONFIG)
    fail_msg("validate: expected a config error containing \"%s\", got %s", expected,
             rt_code_name(rc));
  if (!strstr(st.message, expected)) fail_msg("message \"%s\" lacks \"%s\"", st.message, expected);
}

static void validate_ok(const rt_config *cfg) {
  rt_status st;
  rt_status_clear(&st);
  if (rt_config_validate(cfg, &st) != RT_OK) fail_msg("validate failed: %s", st.message);
}

static void assert_model_equal(const rt_model_config *a, const rt_model_config *b) {
  assert_string_equal(a->kind, b->kind);
  assert_int_equal(a->optimizer, b->optimizer);
  assert_true(a->learning_rate == b->learning_rate);
  assert_true(a->momentum == b->momentum);
  assert_true(a->l2 == b->l2);
  assert_true(a->beta1 == b->beta1);
  assert_true(a->beta2 == b->beta2);
  assert_true(a->epsilon == b->epsilon);
  assert_int_equal(a->schedule, b->schedule);
  assert_true(a->decay == b->decay);
  assert_int_equal(a->batch_size, b->batch_size);
  assert_int_equal(a->k, b->k);
  assert_int_equal(a->init_sample, b->init_sample);
  assert_int_equal(a->solver, b->solver);
  assert_true(a->alpha == b->alpha);
  assert_int_equal(a->fit_intercept, b->fit_intercept);
  assert_int_equal(a->hidden_count, b->hidden_count);
  for (int i = 0; i < a->hidden_count && i < RT_HIDDEN_MAX; ++i)
    assert_int_equal(a->hidden[i], b->hidden[i]);
  assert_int_equal(a->activation, b->activation);
  assert_int_equal(a->output, b->output);
  assert_int_equal(a->init, b->init);
}

/* Every data and run field. */
static void assert_settings_equal(const rt_config *a, const rt_config *b) {
  assert_string_equal(a->data.train, b->data.train);
  assert_string_equal(a->data.validation, b->data.validation);
  assert_int_equal(a->data.format, b->data.format);
  assert_int_equal(a->data.label_column, b->data.label_column);
  assert_int_equal(a->data.header, b->data.header);
  assert_int_equal(a->data.delimiter, b->data.delimiter);
  assert_true(a->data.validation_fraction == b->data.validation_fraction);
  assert_int_equal(a->data.shards, b->data.shards);
  assert_int_equal(a->data.classes, b->data.classes);
  assert_int_equal(a->data.normalize, b->data.normalize);
  assert_true(a->data.seed == b->data.seed);
  assert_int_equal(a->data.seed_set, b->data.seed_set);
  assert_int_equal(a->run.passes, b->run.passes);
  assert_true(a->run.seed == b->run.seed);
  assert_string_equal(a->run.output, b->run.output);
  assert_int_equal(a->run.threads, b->run.threads);
  assert_string_equal(a->run.backend, b->run.backend);
  assert_int_equal(a->run.profile_first, b->run.profile_first);
  assert_int_equal(a->run.profile_last, b->run.profile_last);
  assert_int_equal(a->run.trace, b->run.trace);
  assert_int_equal(a->run.trace_events, b->run.trace_events);
  assert_int_equal(a->run.checkpoint_every, b->run.checkpoint_every);
  assert_int_equal(a->run.keep_checkpoints, b->run.keep_checkpoints);
  assert_int_equal(a->run.timeout, b->run.timeout);
}

/* Every parsed field (not path/dir, not model positions). */
static void assert_config_equal(const rt_config *a, const rt_config *b) {
  assert_settings_equal(a, b);
  assert_int_equal(a->model_count, b->model_count);
  for (size_t i = 0; i < a->model_count; ++i) assert_model_equal(&a->models[i], &b->models[i]);
}

static void assert_default_model(const rt_model_config *m) {
  assert_int_equal(m->optimizer, RT_OPT_ADAM);
  assert_true(m->learning_rate == 0.01);
  assert_true(m->momentum == 0.0);
  assert_true(m->l2 == 0.0);
  assert_true(m->beta1 == 0.9);
  assert_true(m->beta2 == 0.999);
  assert_true(m->epsilon == 1e-8);
  assert_int_equal(m->schedule, RT_SCHED_CONSTANT);
  assert_true(m->decay == 1e-3);
  assert_int_equal(m->batch_size, 32);
  assert_int_equal(m->k, 8);
  assert_int_equal(m->init_sample, 10000);
  assert_int_equal(m->solver, RT_SOLVER_EXACT);
  assert_true(m->alpha == 0.0);
  assert_int_equal(m->fit_intercept, 1);
  assert_int_equal(m->hidden_count, 1);
  assert_int_equal(m->hidden[0], 64);
  assert_int_equal(m->activation, RT_ACTIVATION_RELU);
  assert_int_equal(m->output, RT_OUTPUT_CLASSIFICATION);
  assert_int_equal(m->init, RT_INIT_AUTO);
}

/* Writes cfg as YAML into a malloc'd string. */
static char *write_yaml(const rt_config *cfg) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  rt_status st;
  rt_status_clear(&st);
  rt_code rc = rt_config_write_yaml(cfg, f, &st);
  assert_int_equal(fclose(f), 0);
  if (rc != RT_OK) fail_msg("write_yaml failed: %s", st.message);
  return buf;
}

/* A relative path as the writer writes it: joined to the working directory. */
static void absolute(char *path) {
  if (path[0] == '\0' || path[0] == '/') return;
  char cwd[RT_PATH_MAX], joined[2 * RT_PATH_MAX + 2];
  assert_non_null(getcwd(cwd, sizeof cwd));
  snprintf(joined, sizeof joined, "%s/%s", cwd, path);
  assert_true(strlen(joined) < RT_PATH_MAX);
  memcpy(path, joined, strlen(joined) + 1);
}

/* write -> parse (from another folder) -> identical struct (relative data paths made absolute). */
static void assert_round_trip(const rt_config *cfg) {
  char *yaml = write_yaml(cfg);
  rt_config back;
  rt_status st;
  rt_status_clear(&st);
  rt_code rc = rt_config_parse(yaml, strlen(yaml), "runs/elsewhere/config.yaml", &back, &st);
  if (rc != RT_OK) fail_msg("written YAML does not parse: %s\n%s", st.message, yaml);
  rt_config expected = *cfg; /* shallow: shares the models */
  absolute(expected.data.train);
  absolute(expected.data.validation);
  assert_config_equal(&expected, &back);
  /* And writing it again gives the same text. */
  char *again = write_yaml(&back);
  assert_string_equal(yaml, again);
  free(again);
  free(yaml);
  rt_config_free(&back);
}

static const char quickstart[] =
    "data:\n"
    "  train: data/digits.csv          # .csv or .npy\n"
    "  label_column: 0\n"
    "  validation_fraction: 0.2\n"
    "  shards: 4\n"
    "run:\n"
    "  passes: 10\n"
    "  seed: 1\n"
    "  output: runs/quickstart\n"
    "models:\n"
    "  - {kind: logistic, optimizer: adam, learning_rate: 0.01, batch_size: 64, l2: 0.0001}\n"
    "  - {kind: logistic, optimizer: sgd, momentum: 0.9, learning_rate: 0.1, batch_size: 64}\n";

/* ---------------------------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------------------------- */

static void test_defaults(void **state) {
  (void)state;
  rt_config cfg;
  memset(&cfg, 0x5a, sizeof cfg);
  rt_config_defaults(&cfg);
  assert_string_equal(cfg.path, "");
  assert_string_equal(cfg.dir, ".");
  assert_string_equal(cfg.data.train, "");
  assert_string_equal(cfg.data.validation, "");
  assert_int_equal(cfg.data.format, RT_FORMAT_AUTO);
  assert_int_equal(cfg.data.label_column, 0);
  assert_int_equal(cfg.data.header, -1);
  assert_int_equal(cfg.data.delimiter, 0);
  assert_true(cfg.data.validation_fraction == 0.0);
  assert_int_equal(cfg.data.shards, 0);
  assert_int_equal(cfg.data.classes, 0);
  assert_int_equal(cfg.data.normalize, RT_NORMALIZE_NONE);
  assert_int_equal(cfg.data.seed_set, 0);
  assert_true(cfg.data.seed == 1);
  assert_int_equal(cfg.run.passes, 1);
  assert_true(cfg.run.seed == 1);
  assert_string_equal(cfg.run.output, "runs/latest");
  assert_int_equal(cfg.run.threads, 1);
  assert_string_equal(cfg.run.backend, "auto");
  assert_int_equal(cfg.model_count, 0);
  assert_null(cfg.models);

  rt_model_config m;
  memset(&m, 0x5a, sizeof m);
  rt_model_config_defaults(&m);
  assert_string_equal(m.kind, "");
  assert_default_model(&m);
  assert_int_equal(m.line, 0);
  assert_int_equal(m.column, 0);
  rt_config_free(&cfg);
  rt_config_free(&cfg); /* idempotent */

  assert_string_equal(rt_optimizer_name(RT_OPT_SGD), "sgd");
  assert_string_equal(rt_optimizer_name(RT_OPT_ADAM), "adam");
  assert_string_equal(rt_schedule_name(RT_SCHED_CONSTANT), "constant");
  assert_string_equal(rt_schedule_name(RT_SCHED_INVERSE_TIME), "inverse_time");
  assert_string_equal(rt_schedule_name(RT_SCHED_COSINE), "cosine");
}

/* The key table: unique names, docs, defaults that apply cleanly, formats that parse back. */
static void test_key_table(void **state) {
  (void)state;
  assert_true(rt_config_key_count >= 25);
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    const rt_config_key *k = &rt_config_keys[i];
    assert_non_null(k->doc);
    assert_true(strlen(k->doc) > 5);
    assert_ptr_equal(rt_config_key_find(k->section, k->name), k);
    assert_true(k->required == (k->default_text == NULL));
    if (k->type == RT_KEY_ENUM) assert_non_null(k->choices);
    if (!k->default_text) continue;
    char why[512];
    if (k->section == RT_SECTION_MODEL) {
      rt_model_config m;
      rt_model_config_defaults(&m);
      assert_int_equal(rt_config_key_apply(k, &m, k->default_text, NULL, why, sizeof why),
                       RT_APPLY_OK);
      char text[256];
      assert_true(rt_config_key_format(k, &m, text, sizeof text));
      assert_string_equal(text, k->default_text[0] ? k->default_text : "");
    } else {
      rt_config c;
      rt_config_defaults(&c);
      assert_int_equal(rt_config_key_apply(k, &c, k->default_text, NULL, why, sizeof why),
                       RT_APPLY_OK);
      char text[256];
      assert_true(rt_config_key_format(k, &c, text, sizeof text));
      assert_string_equal(text, k->default_text);
    }
  }
  assert_null(rt_config_key_find(RT_SECTION_RUN, "train"));
  assert_true(rt_model_kind_known("logistic"));
  assert_false(rt_model_kind_known("softmax")); /* alias: never stored */
  assert_false(rt_model_kind_known("tree"));
  char list[512];
  rt_config_key_list(RT_SECTION_RUN, list, sizeof list);
  assert_string_equal(
      list,
      "passes, seed, output, threads, succession, shards_in_use, eval_every_pass, backend, profile_passes, trace, trace_events, checkpoint_every, keep_checkpoints, fuse, timeout");
  char expected[256];
  rt_config_key_expected(rt_config_key_find(RT_SECTION_MODEL, "optimizer"), expected,
                         sizeof expected);
  assert_string_equal(expected, "one of: sgd, adam");
}

static void test_full_parse(void **state) {
  (void)state;
  rt_config cfg;
  parse_ok(quickstart, "configs/quickstart.yaml", &cfg);
  assert_string_equal(cfg.path, "configs/quickstart.yaml");
  assert_string_equal(cfg.dir, "configs");
  assert_string_equal(cfg.data.train, "configs/data/digits.csv");
  assert_string_equal(cfg.data.validation, "");
  assert_int_equal(cfg.data.format, RT_FORMAT_AUTO);
  assert_int_equal(cfg.data.label_column, 0);
  assert_int_equal(cfg.data.header, -1);
  assert_int_equal(cfg.data.delimiter, 0);
  assert_true(cfg.data.validation_fraction == 0.2);
  assert_int_equal(cfg.data.shards, 4);
  assert_int_equal(cfg.data.classes, 0);
  assert_int_equal(cfg.data.seed_set, 0);
  assert_true(cfg.data.seed == 1);
  assert_int_equal(cfg.run.passes, 10);
  assert_true(cfg.run.seed == 1);
  assert_string_equal(cfg.run.output, "runs/quickstart"); /* not resolved */
  assert_int_equal(cfg.run.threads, 1);
  assert_string_equal(cfg.run.backend, "auto");
  assert_int_equal(cfg.model_count, 2);

  const rt_model_config *a = &cfg.models[0], *b = &cfg.models[1];
  assert_string_equal(a->kind, "logistic");
  assert_int_equal(a->optimizer, RT_OPT_ADAM);
  assert_true(a->learning_rate == 0.01);
  assert_int_equal(a->batch_size, 64);
  assert_true(a->l2 == 0.0001);
  assert_true(a->momentum == 0.0);
  assert_true(a->beta1 == 0.9 && a->beta2 == 0.999 && a->epsilon == 1e-8);
  assert_int_equal(a->schedule, RT_SCHED_CONSTANT);
  assert_true(a->decay == 1e-3);
  assert_int_equal(a->line, 11);
  assert_int_equal(a->column, 5);
  assert_string_equal(b->kind, "logistic");
  assert_int_equal(b->optimizer, RT_OPT_SGD);
  assert_true(b->momentum == 0.9);
  assert_true(b->learning_rate == 0.1);
  assert_int_equal(b->batch_size, 64);
  assert_true(b->l2 == 0.0);
  assert_int_equal(b->line, 12);
  validate_ok(&cfg);
  rt_config_free(&cfg);
  assert_null(cfg.models);
  assert_int_equal(cfg.model_count, 0);
}

static void test_every_key(void **state) {
  (void)state;
  static const char text[] =
      "data:\n"
      "  train: /abs/train.npy\n"
      "  validation: val.csv\n"
      "  format: csv\n"
      "  label_column: -1\n"
      "  header: false\n"
      "  delimiter: whitespace\n"
      "  validation_fraction: 0\n"
      "  shards: 1048576\n"
      "  classes: 10\n"
      "  seed: 18446744073709551615\n"
      "run:\n"
      "  passes: 3\n"
      "  seed: 0\n"
      "  output: /tmp/out dir\n"
      "  threads: 1024\n"
      "  backend: cuda\n"
      "models:\n"
      "  - kind: softmax\n"
      "    optimizer: sgd\n"
      "    learning_rate: 1e-3\n"
      "    momentum: 0.5\n"
      "    l2: 2.5E-4\n"
      "    beta1: 0\n"
      "    beta2: 0.5\n"
      "    epsilon: 1e-300\n"
      "    schedule: inverse_time\n"
      "    decay: 0.25\n"
      "    batch_size: 1073741824\n"
      "  - kind: logistic\n"
      "    schedule: cosine\n";
  rt_config cfg;
  parse_ok(text, "/etc/ringtrain/exp.yaml", &cfg);
  assert_string_equal(cfg.dir, "/etc/ringtrain");
  assert_string_equal(cfg.data.train, "/abs/train.npy");
  assert_string_equal(cfg.data.validation, "/etc/ringtrain/val.csv");
  assert_int_equal(cfg.data.format, RT_FORMAT_CSV);
  assert_int_equal(cfg.data.label_column, -1);
  assert_int_equal(cfg.data.header, 0);
  assert_int_equal(cfg.data.delimiter, ' ');
  assert_int_equal(cfg.data.shards, 1048576);
  assert_int_equal(cfg.data.classes, 10);
  assert_true(cfg.data.seed == UINT64_MAX);
  assert_int_equal(cfg.data.seed_set, 1);
  assert_int_equal(cfg.run.passes, 3);
  assert_true(cfg.run.seed == 0);
  assert_string_equal(cfg.run.output, "/tmp/out dir");
  assert_int_equal(cfg.run.threads, 1024);
  assert_string_equal(cfg.run.backend, "cuda");
  assert_int_equal(cfg.model_count, 2);
  const rt_model_config *m = &cfg.models[0];
  assert_string_equal(m->kind, "logistic"); /* alias stored canonically */
  assert_int_equal(m->optimizer, RT_OPT_SGD);
  assert_true(m->learning_rate == 1e-3);
  assert_true(m->momentum == 0.5);
  assert_true(m->l2 == 2.5e-4);
  assert_true(m->beta1 == 0.0);
  assert_true(m->beta2 == 0.5);
  assert_true(m->epsilon == 1e-300);
  assert_int_equal(m->schedule, RT_SCHED_INVERSE_TIME);
  assert_true(m->decay == 0.25);
  assert_int_equal(m->batch_size, 1L << 30);
  assert_int_equal(m->line, 19);
  assert_int_equal(m->column, 5);
  assert_int_equal(cfg.models[1].schedule, RT_SCHED_COSINE);
  assert_int_equal(cfg.models[1].line, 30);
  validate_ok(&cfg);
  assert_round_trip(&cfg);
  rt_config_free(&cfg);
}

static void test_named_values(void **state) {
  (void)state;
  rt_config cfg;
  parse_ok(
      "data: {train: x.csv, label_column: last, header: yes, delimiter: comma, shards: 0,"
      " classes: auto, seed: auto}\nrun: {seed: 77}\nmodels: [{kind: logistic}]\n",
      "x.yaml", &cfg);
  assert_int_equal(cfg.data.label_column, -1);
  assert_int_equal(cfg.data.header, 1);
  assert_int_equal(cfg.data.delimiter, ',');
  assert_int_equal(cfg.data.shards, 0);
  assert_int_equal(cfg.data.classes, 0);
  assert_int_equal(cfg.data.seed_set, 0);
  assert_true(cfg.data.seed == 77); /* follows run.seed */
  rt_config_free(&cfg);

  parse_ok(
      "data: {train: x.csv, header: no, delimiter: \",\", format: npy, shards: auto, seed: 5}\n"
      "models: [{kind: logistic}]\n",
      "x.yaml", &cfg);
  assert_int_equal(cfg.data.header, 0);
  assert_int_equal(cfg.data.delimiter, ',');
  assert_int_equal(cfg.data.format, RT_FORMAT_NPY);
  assert_int_equal(cfg.data.shards, 0);
  assert_int_equal(cfg.data.seed_set, 1);
  assert_true(cfg.data.seed == 5);
  rt_config_free(&cfg);
}

/* The same config in block style, flow style and a mix parses to the same struct. */
static void test_flow_and_block_style(void **state) {
  (void)state;
  static const char block[] =
      "# comment\n"
      "data:\n"
      "  train: \"data/digits.csv\"\n"
      "  shards: 4\n"
      "run:\n"
      "  passes: 2\n"
      "models:\n"
      "  - kind: logistic\n"
      "    optimizer: sgd\n"
      "    momentum: 0.9\n"
      "  - kind: logistic\n"
      "    learning_rate: 0.5\n";
  static const char flow[] =
      "{data: {train: 'data/digits.csv', shards: 4}, run: {passes: 2},\n"
      " models: [{kind: logistic, optimizer: sgd, momentum: 0.9},\n"
      "          {kind: logistic, learning_rate: 0.5}]}\n";
  static const char mixed[] =
      "---\n"
      "models:\n"
      "- {kind: logistic, optimizer: sgd, momentum: 0.9}\n"
      "- kind: logistic\n"
      "  learning_rate: 5e-1\n"
      "run: {passes: 2}\n"
      "data:\n"
      "  shards: +4\n"
      "  train: data/digits.csv\n"
      "...\n";
  rt_config a, b, c;
  parse_ok(block, "exp/a.yaml", &a);
  parse_ok(flow, "exp/b.yaml", &b);
  parse_ok(mixed, "exp/c.yaml", &c);
  assert_string_equal(a.data.train, "exp/data/digits.csv");
  assert_config_equal(&a, &b);
  assert_config_equal(&a, &c);
  assert_int_equal(b.models[1].line, 3);
  assert_int_equal(b.models[1].column, 11);
  rt_config_free(&a);
  rt_config_free(&b);
  rt_config_free(&c);

  /* An empty run section is allowed (all defaults); an empty data section is not (no train). */
  parse_ok("data:\n  train: t.csv\nrun:\nmodels:\n  - kind: logistic\n", "t.yaml", &a);
  assert_int_equal(a.run.passes, 1);
  rt_config_free(&a);
}

/* YAML merge keys share settings between model entries; the entry's own keys win. */
static void test_merge_keys(void **state) {
  (void)state;
  static const char text[] =
      "data: {train: t.csv}\n"
      "models:\n"
      "  - &base {kind: logistic, optimizer: sgd, batch_size: 64, learning_rate: 0.2}\n"
      "  - {<<: *base, learning_rate: 0.5}\n"
      "  - learning_rate: 0.7\n"
      "    <<: [{momentum: 0.5, l2: 0.25}, *base, {momentum: 0.9, decay: 0.5}]\n";
  rt_config cfg;
  parse_ok(text, "t.yaml", &cfg);
  assert_int_equal(cfg.model_count, 3);
  assert_true(cfg.models[0].learning_rate == 0.2);
  assert_string_equal(cfg.models[1].kind, "logistic");
  assert_int_equal(cfg.models[1].optimizer, RT_OPT_SGD);
  assert_int_equal(cfg.models[1].batch_size, 64);
  assert_true(cfg.models[1].learning_rate == 0.5);
  assert_int_equal(cfg.models[2].batch_size, 64);
  assert_true(cfg.models[2].learning_rate == 0.7); /* own key wins */
  assert_true(cfg.models[2].momentum == 0.5);      /* earlier merge wins */
  assert_true(cfg.models[2].l2 == 0.25);
  assert_true(cfg.models[2].decay == 0.5);
  rt_config_free(&cfg);
  parse_fails("data: {train: t.csv}\nmodels:\n  - &a {kind: logistic, <<: *a}\n",
              "merges ('<<') nested too deeply");
  parse_fails("data: {train: t.csv}\nmodels:\n  - {kind: logistic, <<: 3}\n",
              "t.yaml:3:26: models[0]: '<<' expects a mapping or a list of mappings to merge");
  parse_fails("data: {train: t.csv}\nmodels:\n  - {<<: {kind: logistic, lr: 1}}\n",
              "t.yaml:3:27: unknown key 'lr' in models[0]");
}

static void test_path_resolution(void **state) {
  (void)state;
  static const char text[] =
      "data: {train: d/t.csv, validation: ../v.npy}\nmodels: [{kind: logistic}]\n";
  rt_config cfg;
  parse_ok(text, "plain.yaml", &cfg);
  assert_string_equal(cfg.dir, ".");
  assert_string_equal(cfg.data.train, "d/t.csv");
  assert_string_equal(cfg.data.validation, "../v.npy");
  rt_config_free(&cfg);
  parse_ok(text, "/cfg.yaml", &cfg);
  assert_string_equal(cfg.dir, "/");
  assert_string_equal(cfg.data.train, "/d/t.csv");
  rt_config_free(&cfg);
  parse_ok(text, "a/b//c.yaml", &cfg);
  assert_string_equal(cfg.dir, "a/b");
  assert_string_equal(cfg.data.train, "a/b/d/t.csv");
  assert_string_equal(cfg.data.validation, "a/b/../v.npy");
  rt_config_free(&cfg);
  parse_ok(text, "./c.yaml", &cfg);
  assert_string_equal(cfg.dir, ".");
  assert_string_equal(cfg.data.train, "d/t.csv");
  rt_config_free(&cfg);
  parse_ok("data: {train: /x/t.csv}\nmodels: [{kind: logistic}]\n", "cfgs/c.yaml", &cfg);
  assert_string_equal(cfg.data.train, "/x/t.csv");
  rt_config_free(&cfg);
  parse_ok(text, NULL, &cfg); /* no path: names the file <config> */
  assert_string_equal(cfg.dir, ".");
  rt_config_free(&cfg);
}

/* Numbers: strict forms, overflow, non-finite values. */
static void test_numbers(void **state) {
  (void)state;
  static const struct {
    const char *key, *value, *expected;
  } bad[] = {
      {"passes", "abc", "run.passes: expected an integer, got 'abc'"},
      {"passes", "1.5", "expected an integer, got '1.5'"},
      {"passes", "1e3", "expected an integer"},
      {"passes", "0x10", "expected an integer"},
      {"passes", "'3 '", "expected an integer, got '3 '"},
      {"passes", "''", "expected an integer, got ''"},
      {"passes", "0", "run.passes must be >= 1, got 0"},
      {"passes", "-5", "run.passes must be >= 1, got -5"},
      {"passes", "99999999999999999999",
       "run.passes must be <= 1000000000, got 99999999999999999999"},
      {"passes", "-99999999999999999999", "run.passes must be >= 1"},
      {"threads", "0", "run.threads must be >= 1"},
      {"threads", "1025", "run.threads must be <= 1024, got 1025"},
      {"seed", "-1", "run.seed must be >= 0, got -1"},
      {"seed", "18446744073709551616", "run.seed must be <= 18446744073709551615"},
      {"seed", "1.0", "run.seed: expected an integer"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    char text[512];
    snprintf(text, sizeof text,
             "data: {train: t.csv}\nrun:\n  %s: %s\nmodels: [{kind: logistic}]\n", bad[i].key,
             bad[i].value);
    parse_fails(text, bad[i].expected);
  }
  static const struct {
    const char *value, *expected;
  } bad_lr[] = {
      {"fast", "models[0].learning_rate: expected a number, got 'fast'"},
      {".nan", "expected a finite number, got '.nan'"},
      {"nan", "expected a finite number"},
      {"-.inf", "expected a finite number"},
      {"inf", "expected a finite number"},
      {"1e999", "expected a finite number, got '1e999'"},
      {"0x1p3", "expected a number"},
      {"1,5", "expected a number"},
      {"0", "models[0].learning_rate must be > 0, got 0"},
      {"-0.1", "models[0].learning_rate must be > 0, got -0.1"},
      {"1.5.2", "expected a number"},
  };
  for (size_t i = 0; i < sizeof bad_lr / sizeof bad_lr[0]; ++i) {
    char text[512];
    snprintf(text, sizeof text,
             "data: {train: t.csv}\nmodels:\n  - kind: logistic\n    learning_rate: %s\n",
             bad_lr[i].value);
    parse_fails(text, bad_lr[i].expected);
  }
  /* Accepted spellings. */
  rt_config cfg;
  parse_ok(
      "data: {train: t.csv}\nrun: {passes: +7, seed: 007}\n"
      "models: [{kind: logistic, learning_rate: .5, l2: 1e-400, momentum: -0.0}]\n",
      "t.yaml", &cfg);
  assert_int_equal(cfg.run.passes, 7);
  assert_true(cfg.run.seed == 7);
  assert_true(cfg.models[0].learning_rate == 0.5);
  assert_true(cfg.models[0].l2 == 0.0); /* underflow: the nearest double */
  rt_config_free(&cfg);
}

static void test_set(void **state) {
  (void)state;
  rt_config cfg;
  parse_ok(quickstart, "configs/quickstart.yaml", &cfg);
  /* data */
  set_ok(&cfg, "data.train=other/t.npy");
  assert_string_equal(cfg.data.train, "other/t.npy"); /* --set paths: relative to the cwd */
  set_ok(&cfg, "data.validation_fraction=0");
  set_ok(&cfg, "data.validation=v.csv");
  assert_string_equal(cfg.data.validation, "v.csv");
  set_ok(&cfg, "data.shards=8");
  assert_int_equal(cfg.data.shards, 8);
  set_ok(&cfg, "data.shards=auto");
  assert_int_equal(cfg.data.shards, 0);
  set_ok(&cfg, "data.format=npy");
  assert_int_equal(cfg.data.format, RT_FORMAT_NPY);
  set_ok(&cfg, "data.header=true");
  assert_int_equal(cfg.data.header, 1);
  set_ok(&cfg, "data.delimiter=comma");
  assert_int_equal(cfg.data.delimiter, ',');
  set_ok(&cfg, "data.label_column=-1");
  assert_int_equal(cfg.data.label_column, -1);
  set_ok(&cfg, "data.classes=3");
  assert_int_equal(cfg.data.classes, 3);
  /* run, and data.seed following run.seed until set */
  set_ok(&cfg, "run.seed=42");
  assert_true(cfg.run.seed == 42);
  assert_true(cfg.data.seed == 42);
  set_ok(&cfg, "data.seed=9");
  set_ok(&cfg, "run.seed=43");
  assert_true(cfg.data.seed == 9);
  assert_int_equal(cfg.data.seed_set, 1);
  set_ok(&cfg, "data.seed=auto");
  assert_true(cfg.data.seed == 43);
  assert_int_equal(cfg.data.seed_set, 0);
  set_ok(&cfg, "run.passes=3");
  assert_int_equal(cfg.run.passes, 3);
  set_ok(&cfg, "run.output=runs/a=b");
  assert_string_equal(cfg.run.output, "runs/a=b");
  set_ok(&cfg, "run.threads=4");
  assert_int_equal(cfg.run.threads, 4);
  set_ok(&cfg, "run.backend=cpu");
  assert_string_equal(cfg.run.backend, "cpu");
  /* models */
  set_ok(&cfg, "models.1.learning_rate=0.05");
  assert_true(cfg.models[1].learning_rate == 0.05);
  assert_true(cfg.models[0].learning_rate == 0.01);
  set_ok(&cfg, "models.*.batch_size=128");
  assert_int_equal(cfg.models[0].batch_size, 128);
  assert_int_equal(cfg.models[1].batch_size, 128);
  set_ok(&cfg, "models.0.optimizer=sgd");
  assert_int_equal(cfg.models[0].optimizer, RT_OPT_SGD);
  set_ok(&cfg, "models.*.schedule=cosine");
  assert_int_equal(cfg.models[1].schedule, RT_SCHED_COSINE);
  set_ok(&cfg, "models.0.kind=softmax");
  assert_string_equal(cfg.models[0].kind, "logistic");
  validate_ok(&cfg);

  /* errors */
  set_fails(&cfg, "run.passes=abc", "--set run.passes=abc: expected an integer, got 'abc'");
  set_fails(&cfg, "run.passes=0", "--set run.passes=0: run.passes must be >= 1, got 0");
  set_fails(&cfg, "run.passes", "--set run.passes: expected section.key=value");
  set_fails(&cfg, "passes=3", "did you mean 'run.passes'?");
  set_fails(&cfg, "seed=3",
            "did you mean 'data.seed', 'run.seed', 'sweep.seed' or 'models.*.seed'?");
  set_fails(&cfg, "learning_rate=3", "did you mean 'models.*.learning_rate'?");
  set_fails(&cfg, "models.*.lr=0.1", "unknown key 'lr' in models; did you mean 'learning_rate'?");
  set_fails(&cfg, "run.epochs=3", "did you mean 'passes'?");
  set_fails(&cfg, "run.pases=3", "unknown key 'pases' in run; did you mean 'passes'?");
  set_fails(&cfg, "runn.passes=3", "unknown section 'runn'; did you mean 'run'?");
  set_fails(&cfg, "model.0.l2=1", "did you mean 'models'?");
  set_fails(&cfg, "data.passes=3", "'passes' belongs in the run section");
  set_fails(&cfg, "data.zzzzzzzz=1", "valid keys: train, validation, format");
  set_fails(&cfg, "models.2.l2=0.1", "there is no model 2; the config has 2 models (0..1)");
  set_fails(&cfg, "models.x.l2=0.1", "expected a model index or '*'");
  set_fails(&cfg, "models..l2=0.1", "expected a model index or '*'");
  set_fails(&cfg, "models.0=1", "expected models.N.key=value");
  set_fails(&cfg, "models.0.lerning_rate=1", "did you mean 'learning_rate'?");
  set_fails(&cfg, "models.*.optimizer=adamw",
            "expected one of: sgd, adam; got 'adamw'; did you mean 'adam'?");
  set_fails(&cfg, "models.*.momentum=1", "models[0].momentum must be in [0, 1), got 1");
  set_fails(&cfg, "models.0.kind=tree",
            "expected one of: logistic, kmeans, linear, mlp; got 'tree'");
  set_fails(&cfg, "data.validation_fraction=nan", "expected a finite number");
  set_fails(&cfg, "data.train=", "expected a path");
  set_fails(&cfg, "run.output=", "expected a non-empty string");
  set_fails(&cfg, "run.backend=gpu", "expected one of: auto, cpu, cuda");
  set_fails(&cfg, "data.header=maybe", "expected one of: auto, true, false");
  set_fails(&cfg, "data.classes=1", "data.classes must be >= 2 (or auto), got 1");
  /* failed sets change nothing */
  assert_int_equal(cfg.run.passes, 3);
  assert_true(cfg.models[0].momentum == 0.0);
  rt_config_free(&cfg);

  rt_config empty;
  rt_config_defaults(&empty);
  set_fails(&empty, "models.*.l2=0.1", "the config has no models");
  set_fails(&empty, "models.0.l2=0.1", "the config has no models");
  rt_config_free(&empty);
}

static void test_validate(void **state) {
  (void)state;
  rt_config cfg;
  rt_config_defaults(&cfg);
  validate_fails(&cfg, "data.train is required");
  assert_int_equal(rt_config_set(&cfg, "data.train=t.csv", NULL), RT_OK);
  validate_fails(&cfg, "models: at least one model is required");
  rt_config_free(&cfg);

  parse_ok(quickstart, "q.yaml", &cfg);
  set_ok(&cfg, "data.validation=v.csv");
  validate_fails(&cfg, "q.yaml: data.validation and data.validation_fraction exclude each other");
  set_ok(&cfg, "data.validation=");
  validate_ok(&cfg);
  /* Values set directly in the struct are checked like parsed ones. */
  cfg.models[1].learning_rate = -1.0;
  validate_fails(&cfg, "q.yaml:12:5: models[1].learning_rate must be > 0, got -1");
  cfg.models[1].learning_rate = NAN;
  validate_fails(&cfg, "models[1].learning_rate has an invalid value");
  cfg.models[1].learning_rate = 0.1;
  strcpy(cfg.models[0].kind, "tree");
  validate_fails(&cfg,
                 "models[0].kind: expected one of: logistic, kmeans, linear, mlp; got 'tree'");
  strcpy(cfg.models[0].kind, "softmax");
  validate_fails(&cfg,
                 "models[0].kind: expected one of: logistic, kmeans, linear, mlp; got 'softmax'");
  strcpy(cfg.models[0].kind, "logistic");
  cfg.models[0].batch_size = 0;
  validate_fails(&cfg, "models[0].batch_size must be >= 1, got 0");
  cfg.models[0].batch_size = 1;
  cfg.data.delimiter = ';';
  validate_fails(&cfg, "data.delimiter has an invalid value");
  cfg.data.delimiter = 0;
  cfg.run.threads = 0;
  validate_fails(&cfg, "run.threads must be >= 1");
  cfg.run.threads = 1;
  cfg.data.validation_fraction = 1.0;
  validate_fails(&cfg, "data.validation_fraction must be in [0, 1), got 1");
  cfg.data.validation_fraction = 0.0;
  cfg.data.shards = -2;
  validate_fails(&cfg, "data.shards must be >= 1 (or auto), got -2");
  cfg.data.shards = 0;
  strcpy(cfg.run.backend, "tpu");
  validate_fails(&cfg, "run.backend: expected one of: auto, cpu, cuda");
  strcpy(cfg.run.backend, "cpu");
  validate_ok(&cfg);
  rt_config_free(&cfg);
}

static void test_round_trip(void **state) {
  (void)state;
  rt_config cfg;
  parse_ok(quickstart, "q.yaml", &cfg);
  assert_round_trip(&cfg);
  /* Values that need care in YAML: quotes, colons, '#', leading spaces, unicode, escapes. */
  set_ok(&cfg, "data.train=/data/my \"digits\": #1 \\ 'x'.csv");
  set_ok(&cfg, "data.validation_fraction=0");
  set_ok(&cfg, "data.validation= leading space/ünïcode ✓.npy");
  set_ok(&cfg, "run.output=- [not, a list]\ttab");
  set_ok(&cfg, "run.seed=18446744073709551615");
  set_ok(&cfg, "data.seed=0");
  set_ok(&cfg, "data.label_column=-1");
  set_ok(&cfg, "data.header=false");
  set_ok(&cfg, "data.delimiter=whitespace");
  set_ok(&cfg, "data.classes=16777216");
  set_ok(&cfg, "models.0.learning_rate=0.1");
  set_ok(&cfg, "models.1.l2=1e-300");
  set_ok(&cfg, "models.1.epsilon=4.9406564584124654e-324");
  set_ok(&cfg, "models.0.decay=0.30000000000000004");
  set_ok(&cfg, "models.0.beta2=0.99999999999999989");
  set_ok(&cfg, "models.*.schedule=inverse_time");
  set_ok(&cfg, "run.checkpoint_every=3");
  set_ok(&cfg, "run.keep_checkpoints=5");
  set_ok(&cfg, "run.timeout=600");
  assert_int_equal(cfg.run.checkpoint_every, 3);
  assert_int_equal(cfg.run.keep_checkpoints, 5);
  assert_int_equal(cfg.run.timeout, 600);
  assert_round_trip(&cfg);

  char *yaml = write_yaml(&cfg);
  /* Every key is written, defaults included (nested sweep keys by their own name). */
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    char needle[64];
    const char *dot = strchr(rt_config_keys[i].name, '.');
    snprintf(needle, sizeof needle, " %s: ", dot ? dot + 1 : rt_config_keys[i].name);
    if (!strstr(yaml, needle)) fail_msg("written YAML lacks %s:\n%s", rt_config_keys[i].name, yaml);
  }
  assert_non_null(strstr(yaml, "  learning_rate: 0.1\n")); /* shortest exact form */
  assert_non_null(strstr(yaml, "  decay: 0.30000000000000004\n"));
  assert_non_null(strstr(yaml, "  seed: 0\n"));
  free(yaml);
  rt_config_free(&cfg);

  /* Defaults (no models) write and data.seed stays "auto". */
  rt_config_defaults(&cfg);
  yaml = write_yaml(&cfg);
  assert_non_null(strstr(yaml, "models: []\n"));
  assert_non_null(strstr(yaml, "  seed: auto\n"));
  free(yaml);

  /* Not representable: an enum value outside the table, a non-UTF-8 path. */
  rt_status st;
  FILE *devnull = fopen("/dev/null", "w");
  assert_non_null(devnull);
  cfg.data.delimiter = ';';
  assert_int_equal(rt_config_write_yaml(&cfg, devnull, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "data.delimiter"));
  cfg.data.delimiter = 0;
  strcpy(cfg.data.train, "bad\xff.csv");
  assert_int_equal(rt_config_write_yaml(&cfg, devnull, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "not valid UTF-8"));
  assert_int_equal(fclose(devnull), 0);
}

static void test_reference_yaml(void **state) {
  (void)state;
  const char *path = RT_TEST_SOURCE_DIR "/configs/reference.yaml";
  rt_config cfg;
  rt_status st;
  rt_status_clear(&st);
  if (rt_config_load(path, &cfg, &st) != RT_OK) fail_msg("reference.yaml: %s", st.message);
  validate_ok(&cfg);
  /* It sets every key to its default but the label column of its data. */
  rt_config defaults;
  rt_config_defaults(&defaults);
  strcpy(defaults.data.train, cfg.dir);
  strcat(defaults.data.train, "/data/digits.csv");
  defaults.data.label_column = 64; /* the digits' label column; the only key not at its default */
  assert_settings_equal(&cfg, &defaults);
  assert_int_equal(cfg.model_count, 1);
  assert_string_equal(cfg.models[0].kind, "logistic");
  assert_default_model(&cfg.models[0]);
  rt_config_free(&cfg);
  /* Every key of the table is written out (not commented) in the reference. */
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  char line[512];
  int seen[128] = {0};
  assert_true(rt_config_key_count <= 128);
  rt_section section = RT_SECTION_COUNT;
  char parent[64] = ""; /* "metric." while inside sweep.metric */
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "data:", 5) == 0) section = RT_SECTION_DATA;
    if (strncmp(line, "run:", 4) == 0) section = RT_SECTION_RUN;
    if (strncmp(line, "sweep:", 6) == 0) section = RT_SECTION_SWEEP;
    if (strncmp(line, "models:", 7) == 0) section = RT_SECTION_MODEL;
    const char *p = line;
    while (*p == ' ' || *p == '-') ++p;
    if (*p == '#' || *p == '\n' || *p == '\0') continue;
    const size_t indent = (size_t)(p - line);
    if (section == RT_SECTION_SWEEP && indent == 2) parent[0] = '\0';
    if (section == RT_SECTION_SWEEP && indent == 2 && strncmp(p, "metric:", 7) == 0)
      strcpy(parent, "metric.");
    if (section == RT_SECTION_SWEEP && indent == 2 && strncmp(p, "early_terminate:", 16) == 0)
      strcpy(parent, "early_terminate.");
    if (section == RT_SECTION_SWEEP && indent == 2 && strncmp(p, "asha:", 5) == 0)
      strcpy(parent, "asha.");
    if (section == RT_SECTION_SWEEP && indent == 2 && strncmp(p, "tpe:", 4) == 0)
      strcpy(parent, "tpe.");
    if (section == RT_SECTION_SWEEP && indent == 2 && strncmp(p, "pbt:", 4) == 0)
      strcpy(parent, "pbt.");
    char name[640];
    snprintf(name, sizeof name, "%s%s", section == RT_SECTION_SWEEP && indent == 4 ? parent : "",
             p);
    for (size_t i = 0; i < rt_config_key_count; ++i) {
      size_t n = strlen(rt_config_keys[i].name);
      if (rt_config_keys[i].section == section && strncmp(name, rt_config_keys[i].name, n) == 0 &&
          name[n] == ':')
        seen[i] = 1;
    }
  }
  assert_int_equal(fclose(f), 0);
  for (size_t i = 0; i < rt_config_key_count; ++i)
    if (!seen[i])
      fail_msg("reference.yaml lacks %s.%s", rt_section_name(rt_config_keys[i].section),
               rt_config_keys[i].name);
}

static void test_load_errors(void **state) {
  (void)state;
  rt_config cfg;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_config_load("/nonexistent/dir/x.yaml", &cfg, &st), RT_ERR_CONFIG);
  assert_string_equal(st.message,
                      "/nonexistent/dir/x.yaml: cannot open: No such file or directory");
  assert_null(cfg.models);
  rt_config_free(&cfg);
  assert_int_equal(rt_config_load(RT_TEST_SOURCE_DIR "/configs", &cfg, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "configs: cannot read: Is a directory"));
  rt_config_free(&cfg);
}

static void test_messages(void **state) {
  (void)state;
  /* Position and wording of the main classes (the corpus test covers more). */
  parse_fails("data: {train: t.csv}\nmodels:\n  - kind: logistic\n    learnin_rate: 0.1\n",
              "t.yaml:4:5: unknown key 'learnin_rate' in models[0]; did you mean 'learning_rate'?");
  parse_fails(
      "data:\n  train:t.csv\n",
      "t.yaml:2:3: data: expected a mapping, got 'train:t.csv'; a space is missing after ':' "
      "(write 'train: t.csv')");
  parse_fails(
      "data: {train: t.csv}\nmodels:\n  - {kind: logistic, optimizer:adam}\n",
      "t.yaml:3:22: unknown key 'optimizer:adam' in models[0]; a space is missing after ':' "
      "(write 'optimizer: adam')");
  parse_fails("dat: {train: t.csv}\n",
              "t.yaml:1:1: unknown section 'dat' at top level; did you mean 'data'?");
  parse_fails("passes: 3\n",
              "unknown section 'passes' at top level; 'passes' belongs in the run section");
  parse_fails("zzzzzz: 3\n", "valid sections: data, run, models");
  parse_fails("data: {train: t.csv}\nrun:\n  passes: 1\n  passes: 2\n",
              "t.yaml:4:3: duplicate key 'passes' (first given at line 3)");
  parse_fails("data: {train: t.csv}\nrun: {seed: 1}\nmodels:\n  - {kind: logistic, threads: 1}\n",
              "unknown key 'threads' in models[0]; 'threads' belongs in the run section");
  parse_fails("data:\n  validation_fraction: 0.1\nmodels: [{kind: logistic}]\n",
              "t.yaml:1:1: data.train is required");
  parse_fails("models: [{kind: logistic}]\n", "t.yaml:1:1: data.train is required");
  parse_fails("data: {train: t.csv}\n", "t.yaml:1:1: models is required");
  parse_fails("data: {train: t.csv}\nmodels: []\n",
              "t.yaml:2:9: models: expected a list of models with at least one entry");
  parse_fails("data: {train: t.csv}\nmodels: {kind: logistic}\n",
              "models: expected a list of models, got a mapping");
  parse_fails("data: {train: t.csv}\nmodels:\n", "models: expected a list of models, got nothing");
  parse_fails("data: {train: t.csv}\nmodels: [logistic]\n",
              "t.yaml:2:10: models[0]: expected a mapping");
  parse_fails("data: {train: t.csv}\nmodels: [{optimizer: sgd}]\n",
              "t.yaml:2:10: models[0].kind is required (one of: logistic, kmeans, linear, mlp)");
  parse_fails("data: [t.csv]\n", "t.yaml:1:7: data: expected a mapping, got a list");
  parse_fails("data: {train: [a, b]}\n", "data.train: expected a path, got a list");
  parse_fails("data: {train: }\nmodels: [{kind: logistic}]\n",
              "data.train is required, got nothing");
  parse_fails("data: {train: t.csv}\nrun: {passes: {x: 1}}\n",
              "run.passes: expected an integer, got a mapping");
  parse_fails("", "t.yaml:1:1: empty config");
  parse_fails("# only a comment\n", "t.yaml:1:1: empty config");
  parse_fails("- a\n- b\n",
              "t.yaml:1:1: expected a mapping with sections data, run, models, got a list");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: logistic}]\n---\nrun: {}\n",
              "t.yaml:4:1: expected a single YAML document");
  parse_fails("data:\n  train: t.csv\n   shards: 2\n",
              "t.yaml:3:10: invalid YAML: mapping values are not allowed");
  parse_fails("data:\n\ttrain: t.csv\n",
              "t.yaml:2:1: invalid YAML: found character that cannot start any token");
  parse_fails("data: {train: \"t.csv}\n", "invalid YAML: found unexpected end of stream");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: logistic, \"bad\\0key\": 1}]\n",
              "key names cannot contain NUL");
  parse_fails("data: {train: \"t\\0.csv\"}\n", "data.train: values cannot contain NUL characters");
  parse_fails("data: {train: t.csv}\n[a]: 1\n", "expected a key name, got a list");
  parse_fails(
      "data: {train: t.csv}\nmodels: [{kind: logistic, optimizer: adma}]\n",
      "t.yaml:2:38: models[0].optimizer: expected one of: sgd, adam; got 'adma'; did you mean 'adam'?");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: logistic, schedule: linear}]\n",
              "expected one of: constant, inverse_time, cosine; got 'linear'");
  parse_fails("data: {train: t.csv, header: maybe}\n",
              "data.header: expected one of: auto, true, false; got 'maybe'");
  parse_fails("data: {train: t.csv, delimiter: tab}\n",
              "data.delimiter: expected one of: auto, comma, whitespace");
  parse_fails("data: {train: t.csv, label_column: -2}\n",
              "data.label_column must be >= -1, got -2");
  parse_fails("data: {train: t.csv, shards: 0x4}\n", "data.shards: expected an integer, got '0x4'");
  parse_fails("data: {train: t.csv, validation_fraction: 1}\n",
              "data.validation_fraction must be in [0, 1), got 1");
  parse_fails("data: {train: t.csv, validation_fraction: -0.5}\n", "must be in [0, 1), got -0.5");
  parse_fails("data: {train: t.csv, seed: -3}\n", "data.seed must be >= 0 (or auto), got -3");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: logistic, beta1: 1.0}]\n",
              "models[0].beta1 must be in [0, 1), got 1.0");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: logistic, epsilon: 0}]\n",
              "models[0].epsilon must be > 0, got 0");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: logistic, l2: -1e-9}]\n",
              "models[0].l2 must be >= 0, got -1e-9");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: logistic, decay: -1}]\n",
              "models[0].decay must be >= 0, got -1");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: logistic, batch_size: 1073741825}]\n",
              "models[0].batch_size must be <= 1073741824, got 1073741825");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: logistic}, {kind: logistic, batch_size: 0}]\n",
              "models[1].batch_size must be >= 1, got 0");
  /* A long value is shortened in the message; the message stays one line. */
  char text[8192];
  snprintf(text, sizeof text, "data: {train: t.csv}\nrun: {passes: \"%0500d\\nx\"}\n", 1);
  parse_fails(text, "...");
  /* A path that no longer fits once joined to the config's folder. */
  char longpath[5000];
  memset(longpath, 'a', 4093);
  longpath[4093] = '\0';
  snprintf(text, sizeof text, "data: {train: %s}\n", longpath);
  rt_config cfg;
  rt_status st;
  assert_int_equal(parse_text(text, "dir/x.yaml", &cfg, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "path too long"));
  rt_config_free(&cfg);
}

static void test_edit_distance(void **state) {
  (void)state;
  assert_int_equal(rt_edit_distance("", ""), 0);
  assert_int_equal(rt_edit_distance("abc", ""), 3);
  assert_int_equal(rt_edit_distance("", "abc"), 3);
  assert_int_equal(rt_edit_distance("kitten", "sitting"), 3);
  assert_int_equal(rt_edit_distance("learnin_rate", "learning_rate"), 1);
  assert_int_equal(rt_edit_distance("flaw", "lawn"), 2);
  assert_int_equal(rt_edit_distance("same", "same"), 0);
  static const char *const words[] = {"passes", "seed", "output", "threads", "backend"};
  assert_string_equal(rt_suggest("pases", words, 5), "passes");
  assert_string_equal(rt_suggest("thread", words, 5), "threads");
  assert_string_equal(rt_suggest("sed", words, 5), "seed");
  assert_string_equal(rt_suggest("seed", words, 5), "seed");
  assert_null(rt_suggest("zzzzzzzz", words, 5));
  assert_null(rt_suggest("x", words, 5));
  assert_null(rt_suggest("anything", words, 0));
  char big[400];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(rt_edit_distance(big, "a"), sizeof big - 1);
}

/* ---------------------------------------------------------------------------------------------
 * run.profile_passes: a list of two integers [first, last]
 * ------------------------------------------------------------------------------------------- */

static void test_profile_passes_parse(void **state) {
  (void)state;
  rt_config cfg;
  /* Default: not set. */
  rt_config_defaults(&cfg);
  assert_int_equal(cfg.run.profile_first, 0);
  assert_int_equal(cfg.run.profile_last, 0);
  rt_config_free(&cfg);
  /* Flow and block sequences, and a window of one pass. */
  parse_ok(
      "data: {train: t.csv}\nrun: {passes: 5, profile_passes: [2, 3]}\n"
      "models: [{kind: logistic}]\n",
      "t.yaml", &cfg);
  assert_int_equal(cfg.run.profile_first, 2);
  assert_int_equal(cfg.run.profile_last, 3);
  validate_ok(&cfg);
  rt_config_free(&cfg);
  parse_ok(
      "data: {train: t.csv}\nrun:\n  passes: 4\n  profile_passes:\n    - 4\n    - +4\n"
      "models: [{kind: logistic}]\n",
      "t.yaml", &cfg);
  assert_int_equal(cfg.run.profile_first, 4);
  assert_int_equal(cfg.run.profile_last, 4);
  validate_ok(&cfg);
  rt_config_free(&cfg);
  /* [] and nothing: not set. A scalar in the --set form is accepted too. */
  parse_ok("data: {train: t.csv}\nrun: {profile_passes: []}\nmodels: [{kind: logistic}]\n",
           "t.yaml", &cfg);
  assert_int_equal(cfg.run.profile_first, 0);
  assert_int_equal(cfg.run.profile_last, 0);
  rt_config_free(&cfg);
  parse_ok("data: {train: t.csv}\nrun:\n  profile_passes:\nmodels: [{kind: logistic}]\n", "t.yaml",
           &cfg);
  assert_int_equal(cfg.run.profile_first, 0);
  rt_config_free(&cfg);
  parse_ok(
      "data: {train: t.csv}\nrun: {passes: 3, profile_passes: \"1,2\"}\n"
      "models: [{kind: logistic}]\n",
      "t.yaml", &cfg);
  assert_int_equal(cfg.run.profile_first, 1);
  assert_int_equal(cfg.run.profile_last, 2);
  rt_config_free(&cfg);

  /* Errors, with the position of the value (or of the bad item). */
  parse_fails(
      "data: {train: t.csv}\nrun: {profile_passes: [3, 2]}\n",
      "t.yaml:2:23: run.profile_passes must be [first, last] with first <= last, got [3, 2]");
  parse_fails("data: {train: t.csv}\nrun: {profile_passes: [0, 2]}\n",
              "t.yaml:2:23: run.profile_passes must start at a pass >= 1, got [0, 2]");
  parse_fails("data: {train: t.csv}\nrun: {profile_passes: [-1, 2]}\n",
              "run.profile_passes must start at a pass >= 1, got [-1, 2]");
  parse_fails("data: {train: t.csv}\nrun: {profile_passes: [1, 1000000001]}\n",
              "run.profile_passes must end at a pass <= 1000000000, got [1, 1000000001]");
  parse_fails("data: {train: t.csv}\nrun: {profile_passes: [1, 99999999999999999999]}\n",
              "run.profile_passes must end at a pass <= 1000000000");
  parse_fails(
      "data: {train: t.csv}\nrun: {profile_passes: [2]}\n",
      "t.yaml:2:23: run.profile_passes: expected a list of two integers [first, last], got '[2]'");
  parse_fails("data: {train: t.csv}\nrun: {profile_passes: [1, 2, 3]}\n",
              "expected a list of two integers [first, last], got '[1, 2, 3]'");
  parse_fails("data: {train: t.csv}\nrun: {profile_passes: [a, 2]}\n",
              "expected a list of two integers [first, last], got '[a, 2]'");
  parse_fails("data: {train: t.csv}\nrun: {profile_passes: [1.5, 2]}\n",
              "expected a list of two integers [first, last]");
  parse_fails("data: {train: t.csv}\nrun: {profile_passes: 2}\n",
              "run.profile_passes: expected a list of two integers [first, last], got '2'");
  parse_fails("data: {train: t.csv}\nrun: {profile_passes: {first: 1, last: 2}}\n",
              "run.profile_passes: expected a list of two integers [first, last], got a mapping");
  parse_fails(
      "data: {train: t.csv}\nrun: {profile_passes: [[1], 2]}\n",
      "t.yaml:2:24: run.profile_passes: expected a list of two integers [first, last], got a "
      "list in the list");
  parse_fails("data: {train: t.csv}\nrun: {profile_passes: [\"1, 2\"]}\n",
              "t.yaml:2:24: run.profile_passes: expected a list of two integers [first, last], got "
              "'1, 2' in the list");
  parse_fails("data: {train: t.csv}\nrun: {profile_passes: [~, 2]}\n", "got nothing in the list");
  parse_fails("data: {train: t.csv}\nrun: {profile_passes: \"[1, 2\"}\n",
              "expected a list of two integers [first, last], got '[1, 2'");
  /* profile_passes belongs in run; the suggestion finds it. */
  parse_fails("data: {train: t.csv, profile_passes: [1, 1]}\n",
              "'profile_passes' belongs in the run section");
  parse_fails("data: {train: t.csv}\nrun: {profile_pases: [1, 1]}\n",
              "did you mean 'profile_passes'?");
}

static void test_profile_passes_set_validate_write(void **state) {
  (void)state;
  rt_config cfg;
  parse_ok(quickstart, "q.yaml", &cfg); /* passes: 10 */
  set_ok(&cfg, "run.profile_passes=[2,3]");
  assert_int_equal(cfg.run.profile_first, 2);
  assert_int_equal(cfg.run.profile_last, 3);
  set_ok(&cfg, "run.profile_passes= [ 4 , 10 ] ");
  assert_int_equal(cfg.run.profile_first, 4);
  assert_int_equal(cfg.run.profile_last, 10);
  set_ok(&cfg, "run.profile_passes=5,6");
  assert_int_equal(cfg.run.profile_first, 5);
  assert_int_equal(cfg.run.profile_last, 6);
  validate_ok(&cfg);
  assert_round_trip(&cfg);
  char *yaml = write_yaml(&cfg);
  assert_non_null(strstr(yaml, "\n  profile_passes: [5, 6]\n"));
  free(yaml);

  set_fails(&cfg, "run.profile_passes=[3,2]",
            "--set run.profile_passes=[3,2]: run.profile_passes must be [first, last] with first "
            "<= last, got [3,2]");
  set_fails(&cfg, "run.profile_passes=[0,2]", "run.profile_passes must start at a pass >= 1");
  set_fails(&cfg, "run.profile_passes=3", "expected a list of two integers [first, last], got '3'");
  set_fails(&cfg, "run.profile_passes=[3,", "expected a list of two integers");
  set_fails(&cfg, "run.profile_passes=3,4]", "expected a list of two integers");
  set_fails(&cfg, "run.profile_passes=[,4]", "expected a list of two integers");
  set_fails(&cfg, "run.profile_passes=[3 4]", "expected a list of two integers");
  set_fails(&cfg, "profile_passes=[1,2]", "did you mean 'run.profile_passes'?");
  /* failed sets change nothing */
  assert_int_equal(cfg.run.profile_first, 5);
  assert_int_equal(cfg.run.profile_last, 6);

  /* The window must end within the run. */
  set_ok(&cfg, "run.profile_passes=[9,11]");
  validate_fails(&cfg,
                 "q.yaml: run.profile_passes [9, 11] ends after the last pass (run.passes is 10)");
  set_ok(&cfg, "run.passes=11");
  validate_ok(&cfg);
  /* Values set directly in the struct are checked like parsed ones. */
  cfg.run.profile_first = 0;
  cfg.run.profile_last = 3;
  validate_fails(&cfg, "run.profile_passes must start at a pass >= 1, got [0, 3]");
  cfg.run.profile_first = 4;
  validate_fails(&cfg, "run.profile_passes must be [first, last] with first <= last, got [4, 3]");
  cfg.run.profile_first = 3;
  validate_ok(&cfg);

  /* Unset again: written as [] and read back as unset. */
  set_ok(&cfg, "run.profile_passes=[]");
  assert_int_equal(cfg.run.profile_first, 0);
  assert_int_equal(cfg.run.profile_last, 0);
  set_ok(&cfg, "run.profile_passes=[2,2]");
  set_ok(&cfg, "run.profile_passes=");
  assert_int_equal(cfg.run.profile_first, 0);
  assert_int_equal(cfg.run.profile_last, 0);
  validate_ok(&cfg);
  yaml = write_yaml(&cfg);
  assert_non_null(strstr(yaml, "\n  profile_passes: []\n"));
  free(yaml);
  assert_round_trip(&cfg);
  rt_config_free(&cfg);
}

/* ---------------------------------------------------------------------------------------------
 * Families kmeans, linear, mlp; data.normalize
 * ------------------------------------------------------------------------------------------- */

static const char families[] =
    "data:\n"
    "  train: t.csv\n"
    "  normalize: standard\n"
    "models:\n"
    "  - kind: kmeans\n"
    "    k: 16777216\n"
    "    init_sample: 1\n"
    "  - kind: linear\n"
    "    solver: sgd\n"
    "    alpha: 0.5\n"
    "    fit_intercept: false\n"
    "  - kind: mlp\n"
    "    hidden:\n"
    "      - 128\n"
    "      - 64\n"
    "      - 1048576\n"
    "    activation: gelu\n"
    "    output: regression\n"
    "    init: xavier\n"
    "  - {kind: mlp, hidden: [1, 2, 3, 4, 5, 6, 7, 8], activation: tanh, init: he}\n"
    "  - {kind: mlp, hidden: 32, fit_intercept: no}\n";

static void test_family_names(void **state) {
  (void)state;
  assert_string_equal(rt_solver_name(RT_SOLVER_EXACT), "exact");
  assert_string_equal(rt_solver_name(RT_SOLVER_SGD), "sgd");
  assert_string_equal(rt_activation_name(RT_ACTIVATION_RELU), "relu");
  assert_string_equal(rt_activation_name(RT_ACTIVATION_TANH), "tanh");
  assert_string_equal(rt_activation_name(RT_ACTIVATION_GELU), "gelu");
  assert_string_equal(rt_mlp_output_name(RT_OUTPUT_CLASSIFICATION), "classification");
  assert_string_equal(rt_mlp_output_name(RT_OUTPUT_REGRESSION), "regression");
  assert_string_equal(rt_init_scheme_name(RT_INIT_AUTO), "auto");
  assert_string_equal(rt_init_scheme_name(RT_INIT_HE), "he");
  assert_string_equal(rt_init_scheme_name(RT_INIT_XAVIER), "xavier");
  assert_string_equal(rt_normalize_name(RT_NORMALIZE_NONE), "none");
  assert_string_equal(rt_normalize_name(RT_NORMALIZE_STANDARD), "standard");
  assert_string_equal(rt_normalize_name(RT_NORMALIZE_MINMAX), "minmax");
  assert_int_equal(rt_init_scheme_resolve(RT_INIT_AUTO, RT_ACTIVATION_RELU), RT_INIT_HE);
  assert_int_equal(rt_init_scheme_resolve(RT_INIT_AUTO, RT_ACTIVATION_TANH), RT_INIT_XAVIER);
  assert_int_equal(rt_init_scheme_resolve(RT_INIT_AUTO, RT_ACTIVATION_GELU), RT_INIT_XAVIER);
  assert_int_equal(rt_init_scheme_resolve(RT_INIT_HE, RT_ACTIVATION_TANH), RT_INIT_HE);
  assert_int_equal(rt_init_scheme_resolve(RT_INIT_XAVIER, RT_ACTIVATION_RELU), RT_INIT_XAVIER);
  /* The kinds, and the table's list keys name their items. */
  assert_true(rt_model_kind_known("kmeans"));
  assert_true(rt_model_kind_known("linear"));
  assert_true(rt_model_kind_known("mlp"));
  char expected[256];
  rt_config_key_expected(rt_config_key_find(RT_SECTION_MODEL, "kind"), expected, sizeof expected);
  assert_string_equal(expected, "one of: logistic, kmeans, linear, mlp");
  rt_config_key_expected(rt_config_key_find(RT_SECTION_MODEL, "hidden"), expected, sizeof expected);
  assert_string_equal(expected, "a list of 1 to 8 integers (each a hidden width)");
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    const rt_config_key *k = &rt_config_keys[i];
    if (k->type == RT_KEY_INT_LIST) {
      assert_non_null(k->item);
      assert_int_equal(k->store, RT_STORE_LONG_LIST);
      assert_true(k->size >= 1 && k->size <= 64);
    } else {
      assert_null(k->item);
    }
  }
  const rt_config_key *kind = rt_config_key_find(RT_SECTION_MODEL, "kind");
  assert_non_null(strstr(kind->doc, "logistic"));
  assert_non_null(strstr(kind->doc, "kmeans"));
  assert_non_null(strstr(kind->doc, "linear"));
  assert_non_null(strstr(kind->doc, "mlp"));
  assert_non_null(strstr(rt_config_key_find(RT_SECTION_DATA, "normalize")->doc,
                         "feature scaling computed by a statistics pass over the ring before "
                         "training, stored in every model file and applied by predict/eval"));
  assert_non_null(strstr(rt_config_key_find(RT_SECTION_DATA, "label_column")->doc,
                         "label (classes) or regression target"));
  assert_non_null(strstr(rt_config_key_find(RT_SECTION_MODEL, "output")->doc,
                         "softmax cross-entropy over classes, or one linear output with squared "
                         "error"));
}

static void test_family_keys_parse(void **state) {
  (void)state;
  rt_config cfg;
  parse_ok(families, "t.yaml", &cfg);
  assert_int_equal(cfg.data.normalize, RT_NORMALIZE_STANDARD);
  assert_int_equal(cfg.model_count, 5);
  const rt_model_config *km = &cfg.models[0], *lin = &cfg.models[1], *mlp = &cfg.models[2];
  assert_string_equal(km->kind, "kmeans");
  assert_int_equal(km->k, 1L << 24);
  assert_int_equal(km->init_sample, 1);
  assert_string_equal(lin->kind, "linear");
  assert_int_equal(lin->solver, RT_SOLVER_SGD);
  assert_true(lin->alpha == 0.5);
  assert_int_equal(lin->fit_intercept, 0);
  assert_int_equal(lin->k, 8); /* keys of other families keep their defaults */
  assert_int_equal(lin->hidden_count, 1);
  assert_int_equal(lin->hidden[0], 64);
  assert_string_equal(mlp->kind, "mlp");
  assert_int_equal(mlp->hidden_count, 3);
  assert_int_equal(mlp->hidden[0], 128);
  assert_int_equal(mlp->hidden[1], 64);
  assert_int_equal(mlp->hidden[2], 1L << 20);
  assert_int_equal(mlp->hidden[3], 0);
  assert_int_equal(mlp->activation, RT_ACTIVATION_GELU);
  assert_int_equal(mlp->output, RT_OUTPUT_REGRESSION);
  assert_int_equal(mlp->init, RT_INIT_XAVIER);
  assert_int_equal(mlp->solver, RT_SOLVER_EXACT);
  assert_int_equal(mlp->fit_intercept, 1);
  assert_int_equal(cfg.models[3].hidden_count, 8);
  for (int i = 0; i < 8; ++i) assert_int_equal(cfg.models[3].hidden[i], i + 1);
  assert_int_equal(cfg.models[3].activation, RT_ACTIVATION_TANH);
  assert_int_equal(cfg.models[3].init, RT_INIT_HE);
  assert_int_equal(cfg.models[3].output, RT_OUTPUT_CLASSIFICATION);
  assert_int_equal(cfg.models[4].hidden_count, 1); /* a scalar is a list of one */
  assert_int_equal(cfg.models[4].hidden[0], 32);
  assert_int_equal(cfg.models[4].fit_intercept, 0);
  validate_ok(&cfg);
  assert_round_trip(&cfg);
  char *yaml = write_yaml(&cfg);
  assert_non_null(strstr(yaml, "\n  normalize: standard\n"));
  assert_non_null(strstr(yaml, "\n    k: 16777216\n"));
  assert_non_null(strstr(yaml, "\n    init_sample: 1\n"));
  assert_non_null(strstr(yaml, "\n    solver: sgd\n"));
  assert_non_null(strstr(yaml, "\n    alpha: 0.5\n"));
  assert_non_null(strstr(yaml, "\n    fit_intercept: false\n"));
  assert_non_null(strstr(yaml, "\n    hidden: [128, 64, 1048576]\n"));
  assert_non_null(strstr(yaml, "\n    hidden: [1, 2, 3, 4, 5, 6, 7, 8]\n"));
  assert_non_null(strstr(yaml, "\n    hidden: [64]\n"));
  assert_non_null(strstr(yaml, "\n    activation: gelu\n"));
  assert_non_null(strstr(yaml, "\n    output: regression\n"));
  assert_non_null(strstr(yaml, "\n    init: xavier\n"));
  free(yaml);
  rt_config_free(&cfg);

  /* Merge keys carry list values too; the entry's own list wins. */
  parse_ok(
      "data: {train: t.csv}\nmodels:\n  - &net {kind: mlp, hidden: [32, 16]}\n"
      "  - {<<: *net, activation: tanh}\n  - {<<: *net, hidden: [8]}\n",
      "t.yaml", &cfg);
  assert_int_equal(cfg.models[1].hidden_count, 2);
  assert_int_equal(cfg.models[1].hidden[1], 16);
  assert_int_equal(cfg.models[2].hidden_count, 1);
  assert_int_equal(cfg.models[2].hidden[0], 8);
  assert_int_equal(cfg.models[2].hidden[1], 0);
  rt_config_free(&cfg);
  parse_ok("data: {train: t.csv, normalize: minmax}\nmodels: [{kind: mlp, hidden: \"4,2\"}]\n",
           "t.yaml", &cfg);
  assert_int_equal(cfg.data.normalize, RT_NORMALIZE_MINMAX);
  assert_int_equal(cfg.models[0].hidden_count, 2);
  assert_int_equal(cfg.models[0].hidden[0], 4);
  assert_int_equal(cfg.models[0].hidden[1], 2);
  rt_config_free(&cfg);
}

static void test_family_keys_errors(void **state) {
  (void)state;
  parse_fails(
      "data: {train: t.csv}\nmodels: [{kind: mlp, hidden: []}]\n",
      "t.yaml:2:30: models[0].hidden: expected at least one hidden width, got an empty list");
  parse_fails("data: {train: t.csv}\nmodels:\n  - kind: mlp\n    hidden:\n",
              "models[0].hidden: expected at least one hidden width");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [64, 0]}]\n",
              "t.yaml:2:30: models[0].hidden must have every hidden width >= 1, got 0 in [64, 0]");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [-3]}]\n",
              "models[0].hidden must have every hidden width >= 1, got -3 in [-3]");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [1048577]}]\n",
              "models[0].hidden must have every hidden width <= 1048576, got 1048577 in [1048577]");
  parse_fails(
      "data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [99999999999999999999999]}]\n",
      "models[0].hidden must have every hidden width <= 1048576, got 99999999999999999999999");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [1, 2, 3, 4, 5, 6, 7, 8, 9]}]\n",
              "t.yaml:2:30: models[0].hidden must list at most 8 hidden widths, got 9");
  parse_fails(
      "data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [a, 2]}]\n",
      "models[0].hidden: expected a list of 1 to 8 integers (each a hidden width), got '[a, 2]'");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [1.5]}]\n",
              "expected a list of 1 to 8 integers (each a hidden width), got '[1.5]'");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [[4], 2]}]\n",
              "t.yaml:2:31: models[0].hidden: expected a list of 1 to 8 integers (each a hidden "
              "width), got a list in the list");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: [~]}]\n",
              "got nothing in the list");
  parse_fails(
      "data: {train: t.csv}\nmodels: [{kind: mlp, hidden: {a: 1}}]\n",
      "models[0].hidden: expected a list of 1 to 8 integers (each a hidden width), got a mapping");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: \"[4, 2\"}]\n",
              "expected a list of 1 to 8 integers (each a hidden width), got '[4, 2'");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, hidden: \"4,,2\"}]\n",
              "expected a list of 1 to 8 integers");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: kmeans, k: 0}]\n",
              "t.yaml:2:28: models[0].k must be >= 1, got 0");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: kmeans, k: 16777217}]\n",
              "models[0].k must be <= 16777216, got 16777217");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: kmeans, init_sample: 0}]\n",
              "models[0].init_sample must be >= 1, got 0");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: kmeans, init_sample: 1073741825}]\n",
              "models[0].init_sample must be <= 1073741824, got 1073741825");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: linear, alpha: -0.5}]\n",
              "models[0].alpha must be >= 0, got -0.5");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: linear, alpha: .inf}]\n",
              "models[0].alpha: expected a finite number");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: linear, solver: exakt}]\n",
              "models[0].solver: expected one of: exact, sgd; got 'exakt'; did you mean 'exact'?");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: linear, fit_intercept: 1}]\n",
              "models[0].fit_intercept: expected one of: true, false; got '1'");
  parse_fails(
      "data: {train: t.csv}\nmodels: [{kind: mlp, activation: rleu}]\n",
      "models[0].activation: expected one of: relu, tanh, gelu; got 'rleu'; did you mean 'relu'?");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, activation: sigmoid}]\n",
              "models[0].activation: expected one of: relu, tanh, gelu; got 'sigmoid'");
  parse_fails(
      "data: {train: t.csv}\nmodels: [{kind: mlp, output: regresion}]\n",
      "expected one of: classification, regression; got 'regresion'; did you mean 'regression'?");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, init: glorot}]\n",
              "models[0].init: expected one of: auto, he, xavier; got 'glorot'");
  parse_fails("data: {train: t.csv, normalize: zscore}\n",
              "data.normalize: expected one of: none, standard, minmax; got 'zscore'");
  parse_fails(
      "data: {train: t.csv}\nmodels: [{kind: kmeens}]\n",
      "models[0].kind: expected one of: logistic, kmeans, linear, mlp; got 'kmeens'; did you "
      "mean 'kmeans'?");
  /* Names from other tools, and keys in the wrong place. */
  parse_fails("data: {train: t.csv}\nmodels: [{kind: kmeans, n_clusters: 3}]\n",
              "did you mean 'k'?");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, hidden_layer_sizes: [3]}]\n",
              "did you mean 'hidden'?");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, task: regression}]\n",
              "did you mean 'output'?");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: mlp, activaton: relu}]\n",
              "did you mean 'activation'?");
  parse_fails("data: {train: t.csv, normalise: standard}\n", "did you mean 'normalize'?");
  parse_fails("data: {train: t.csv}\nmodels: [{kind: logistic, shards: 3}]\n",
              "'shards' belongs in the data section");
  parse_fails("data: {train: t.csv, hidden: [3]}\n", "'hidden' belongs in a models entry");
}

static void test_family_keys_set_validate(void **state) {
  (void)state;
  rt_config cfg;
  parse_ok(families, "f.yaml", &cfg);
  set_ok(&cfg, "models.2.hidden=[256,128]");
  assert_int_equal(cfg.models[2].hidden_count, 2);
  assert_int_equal(cfg.models[2].hidden[0], 256);
  assert_int_equal(cfg.models[2].hidden[1], 128);
  assert_int_equal(cfg.models[2].hidden[2], 0); /* the unused tail is cleared */
  set_ok(&cfg, "models.*.hidden= 16 , 8 ");
  for (size_t i = 0; i < cfg.model_count; ++i) {
    assert_int_equal(cfg.models[i].hidden_count, 2);
    assert_int_equal(cfg.models[i].hidden[0], 16);
    assert_int_equal(cfg.models[i].hidden[1], 8);
  }
  set_ok(&cfg, "models.3.hidden=5");
  assert_int_equal(cfg.models[3].hidden_count, 1);
  set_ok(&cfg, "models.0.k=3");
  assert_int_equal(cfg.models[0].k, 3);
  set_ok(&cfg, "models.0.init_sample=500");
  assert_int_equal(cfg.models[0].init_sample, 500);
  set_ok(&cfg, "models.1.solver=exact");
  assert_int_equal(cfg.models[1].solver, RT_SOLVER_EXACT);
  set_ok(&cfg, "models.1.alpha=1e-3");
  assert_true(cfg.models[1].alpha == 1e-3);
  set_ok(&cfg, "models.1.fit_intercept=true");
  assert_int_equal(cfg.models[1].fit_intercept, 1);
  set_ok(&cfg, "models.2.activation=tanh");
  assert_int_equal(cfg.models[2].activation, RT_ACTIVATION_TANH);
  set_ok(&cfg, "models.2.output=classification");
  assert_int_equal(cfg.models[2].output, RT_OUTPUT_CLASSIFICATION);
  set_ok(&cfg, "models.2.init=auto");
  assert_int_equal(cfg.models[2].init, RT_INIT_AUTO);
  set_ok(&cfg, "data.normalize=minmax");
  assert_int_equal(cfg.data.normalize, RT_NORMALIZE_MINMAX);
  set_ok(&cfg, "models.4.kind=linear");
  assert_string_equal(cfg.models[4].kind, "linear");
  validate_ok(&cfg);
  assert_round_trip(&cfg);

  set_fails(&cfg, "models.2.hidden=[]",
            "--set models.2.hidden=[]: expected at least one hidden width, got an empty list");
  set_fails(&cfg, "models.2.hidden=", "expected at least one hidden width");
  set_fails(
      &cfg, "models.2.hidden=[4,0]",
      "--set models.2.hidden=[4,0]: models[2].hidden must have every hidden width >= 1, got 0 "
      "in [4,0]");
  set_fails(&cfg, "models.*.hidden=1,2,3,4,5,6,7,8,9",
            "models[0].hidden must list at most 8 hidden widths, got 9");
  set_fails(&cfg, "models.2.hidden=[4,", "expected a list of 1 to 8 integers");
  set_fails(&cfg, "models.2.hidden=4]", "expected a list of 1 to 8 integers");
  set_fails(&cfg, "models.2.hidden=[4 2]", "expected a list of 1 to 8 integers");
  set_fails(&cfg, "models.0.k=0", "models[0].k must be >= 1, got 0");
  set_fails(&cfg, "models.1.alpha=-1", "models[1].alpha must be >= 0, got -1");
  set_fails(&cfg, "models.2.activation=relu6",
            "expected one of: relu, tanh, gelu; got 'relu6'; did you mean 'relu'?");
  set_fails(&cfg, "data.normalize=yes", "expected one of: none, standard, minmax");
  set_fails(&cfg, "hidden=[3]", "did you mean 'models.*.hidden'?");
  set_fails(&cfg, "output=x", "did you mean 'run.output' or 'models.*.output'?");
  /* failed sets change nothing */
  assert_int_equal(cfg.models[2].hidden_count, 2);
  assert_int_equal(cfg.models[2].hidden[0], 16);
  assert_int_equal(cfg.models[2].hidden[1], 8);
  assert_int_equal(cfg.models[0].k, 3);

  /* Values set directly in the struct are checked like parsed ones, at the entry's position. */
  cfg.models[2].hidden_count = 0;
  validate_fails(&cfg, "f.yaml:12:5: models[2].hidden: expected at least one hidden width");
  cfg.models[2].hidden_count = RT_HIDDEN_MAX + 1;
  validate_fails(&cfg, "f.yaml:12:5: models[2].hidden has an invalid value");
  cfg.models[2].hidden_count = -1;
  validate_fails(&cfg, "models[2].hidden has an invalid value");
  cfg.models[2].hidden_count = 2;
  cfg.models[2].hidden[1] = 0;
  validate_fails(&cfg, "models[2].hidden must have every hidden width >= 1, got 0 in [16, 0]");
  cfg.models[2].hidden[1] = (1L << 20) + 1;
  validate_fails(&cfg, "models[2].hidden must have every hidden width <= 1048576");
  cfg.models[2].hidden[1] = 8;
  cfg.models[0].k = 0;
  validate_fails(&cfg, "f.yaml:5:5: models[0].k must be >= 1, got 0");
  cfg.models[0].k = 3;
  cfg.models[0].init_sample = 0;
  validate_fails(&cfg, "models[0].init_sample must be >= 1, got 0");
  cfg.models[0].init_sample = 10;
  cfg.models[1].alpha = -0.25;
  validate_fails(&cfg, "f.yaml:8:5: models[1].alpha must be >= 0, got -0.25");
  cfg.models[1].alpha = NAN;
  validate_fails(&cfg, "models[1].alpha has an invalid value");
  cfg.models[1].alpha = 0.0;
  cfg.models[1].fit_intercept = 2;
  validate_fails(&cfg, "models[1].fit_intercept has an invalid value");
  cfg.models[1].fit_intercept = 0;
  cfg.models[1].solver = (rt_solver)7;
  validate_fails(&cfg, "models[1].solver has an invalid value");
  cfg.models[1].solver = RT_SOLVER_SGD;
  cfg.models[2].activation = (rt_activation)7;
  validate_fails(&cfg, "models[2].activation has an invalid value");
  cfg.models[2].activation = RT_ACTIVATION_GELU;
  cfg.models[2].output = (rt_mlp_output)7;
  validate_fails(&cfg, "models[2].output has an invalid value");
  cfg.models[2].output = RT_OUTPUT_REGRESSION;
  cfg.models[2].init = (rt_init_scheme)7;
  validate_fails(&cfg, "models[2].init has an invalid value");
  cfg.models[2].init = RT_INIT_HE;
  cfg.data.normalize = (rt_normalize)7;
  validate_fails(&cfg, "data.normalize has an invalid value");
  cfg.data.normalize = RT_NORMALIZE_NONE;
  /* momentum with adam is accepted (and ignored). */
  set_ok(&cfg, "models.*.optimizer=adam");
  set_ok(&cfg, "models.*.momentum=0.9");
  validate_ok(&cfg);
  assert_round_trip(&cfg);

  /* The writer refuses what it cannot represent. */
  rt_status st;
  FILE *devnull = fopen("/dev/null", "w");
  assert_non_null(devnull);
  cfg.models[2].hidden_count = RT_HIDDEN_MAX + 1;
  assert_int_equal(rt_config_write_yaml(&cfg, devnull, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "models[2].hidden"));
  assert_int_equal(fclose(devnull), 0);
  rt_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_key_table),
      cmocka_unit_test(test_full_parse),
      cmocka_unit_test(test_every_key),
      cmocka_unit_test(test_named_values),
      cmocka_unit_test(test_flow_and_block_style),
      cmocka_unit_test(test_merge_keys),
      cmocka_unit_test(test_path_resolution),
      cmocka_unit_test(test_numbers),
      cmocka_unit_test(test_set),
      cmocka_unit_test(test_validate),
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_reference_yaml),
      cmocka_unit_test(test_load_errors),
      cmocka_unit_test(test_messages),
      cmocka_unit_test(test_edit_distance),
      cmocka_unit_test(test_profile_passes_parse),
      cmocka_unit_test(test_profile_passes_set_validate_write),
      cmocka_unit_test(test_family_names),
      cmocka_unit_test(test_family_keys_parse),
      cmocka_unit_test(test_family_keys_errors),
      cmocka_unit_test(test_family_keys_set_validate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
