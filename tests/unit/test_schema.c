/* The key table is the schema: walks the model keys and fails when one is missing from the
 * model-file spec text, the results.csv columns, configs/reference.yaml or the one-line summary,
 * or when changing its value does not show there. Also: the enum names come from the table's
 * choices, the family registry and the table's kinds agree, and the spec text of the model files
 * in the fuzz corpus (written before the walk existed) reads back and is written again byte for
 * byte. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "config_internal.h"
#include "model.h"
#include "view.h"
#include "ringtrain/modelfile.h"

static const char *const kinds[] = {"logistic", "kmeans", "linear", "mlp"};
#define KIND_COUNT (sizeof kinds / sizeof kinds[0])

/* The model keys that are no hyper-parameter of their own: the kind (first line of the spec
 * text, a fixed column of results.csv) and the sweep record (param_* columns). */
static int bookkeeping(const rt_config_key *key) {
  return strcmp(key->name, "kind") == 0 || key->type == RT_KEY_NAME_LIST;
}

static rt_model_spec spec_of(const char *kind) {
  rt_model_spec s;
  memset(&s, 0, sizeof s);
  rt_model_config_defaults(&s.hp);
  snprintf(s.hp.kind, sizeof s.hp.kind, "%s", kind);
  s.problem.features = 5;
  s.problem.classes = 3;
  s.passes = 4;
  s.shards = 2;
  s.total_batches = 9;
  s.label_column = 5;
  return s;
}

/* Sets `model` so that it reads `key` for its kind: the kind's condition ("linear:solver=sgd")
 * and the key's `when`. */
static void meet_conditions(const rt_config_key *key, rt_model_config *model) {
  char why[256], cond[128];
  const char *conds[2] = {NULL, key->when};
  if (key->kinds) {
    const char *p = strstr(key->kinds, model->kind);
    size_t n = p ? strcspn(p, " ") : 0;
    const char *colon = p ? memchr(p, ':', n) : NULL;
    if (colon) {
      snprintf(cond, sizeof cond, "%.*s", (int)(n - (size_t)(colon + 1 - p)), colon + 1);
      conds[0] = cond;
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (!conds[i]) continue;
    char name[64];
    const char *eq = strchr(conds[i], '=');
    assert_non_null(eq);
    snprintf(name, sizeof name, "%.*s", (int)(eq - conds[i]), conds[i]);
    const rt_config_key *other = rt_config_key_find(RT_SECTION_MODEL, name);
    assert_non_null(other);
    assert_int_equal(rt_config_key_apply(other, model, eq + 1, NULL, why, sizeof why), RT_APPLY_OK);
  }
  assert_true(rt_config_key_read_by(key, model));
}

/* Gives `key` a valid value other than the one `model` has; fails the test when none is found. */
static void probe(const rt_config_key *key, rt_model_config *model) {
  static const char *const candidates[] = {"0.5",   "0.25",   "2", "3", "7",
                                           "1e-06", "[3, 5]", "1", "0"};
  char was[512], now[512], why[256], text[64];
  assert_true(rt_config_key_format(key, model, was, sizeof was));
  for (const rt_key_choice *c = key->choices; c && c->name; ++c) {
    rt_model_config m = *model;
    if (!c->alias && rt_config_key_apply(key, &m, c->name, NULL, why, sizeof why) == RT_APPLY_OK &&
        rt_config_key_format(key, &m, now, sizeof now) && strcmp(was, now) != 0)
      return (void)(*model = m);
  }
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0] + 1; ++i) {
    if (i < sizeof candidates / sizeof candidates[0])
      snprintf(text, sizeof text, "%s", candidates[i]);
    else snprintf(text, sizeof text, "%lld", key->imax);
    rt_model_config m = *model;
    if (rt_config_key_apply(key, &m, text, NULL, why, sizeof why) == RT_APPLY_OK &&
        rt_config_key_format(key, &m, now, sizeof now) && strcmp(was, now) != 0)
      return (void)(*model = m);
  }
  fail_msg("no second valid value found for model key '%s'", key->name);
}

/* Every model key has its schema: a spec line, a results column, a summary label, known kinds. */
static void table_schema(void **state) {
  (void)state;
  size_t model_keys = 0;
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    const rt_config_key *key = &rt_config_keys[i];
    if (key->section != RT_SECTION_MODEL) {
      assert_int_equal(key->spec, RT_SPEC_NONE);
      assert_true(key->show == RT_SHOW_NEVER && !key->kinds && !key->when && !key->label);
      continue;
    }
    ++model_keys;
    if (bookkeeping(key)) continue;
    if (key->spec == RT_SPEC_NONE) fail_msg("model key '%s' has no spec line", key->name);
    if (key->column <= 0) fail_msg("model key '%s' is no results.csv column", key->name);
    if (key->show == RT_SHOW_NEVER || !key->label)
      fail_msg("model key '%s' is never in the summary", key->name);
    if (key->spec == RT_SPEC_KINDS) assert_non_null(key->kinds);
    for (const char *p = key->kinds; p && *p;) {
      char kind[32];
      const size_t n = strcspn(p, ": ");
      snprintf(kind, sizeof kind, "%.*s", (int)n, p);
      if (!rt_family_find(kind))
        fail_msg("model key '%s' names unknown kind '%s'", key->name, kind);
      p += strcspn(p, " ");
      while (*p == ' ') ++p;
    }
  }
  assert_int_equal(model_keys, rt_model_key_count());
}

/* The results.csv columns: 1..N without gaps or repeats, every model key (but the bookkeeping
 * ones) among them, and no run key but passes. */
static void results_columns(void **state) {
  (void)state;
  size_t n = 0;
  while (rt_config_key_column(n + 1)) ++n;
  size_t listed = 0;
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    const rt_config_key *key = &rt_config_keys[i];
    if (key->column > 0) {
      ++listed;
      assert_true((size_t)key->column <= n);
      assert_ptr_equal(rt_config_key_column((size_t)key->column), key);
      if (key->section != RT_SECTION_MODEL)
        assert_true(key->section == RT_SECTION_RUN && strcmp(key->name, "passes") == 0);
    }
    if (key->section == RT_SECTION_MODEL && !bookkeeping(key) && key->column <= 0)
      fail_msg("model key '%s' is missing from the results.csv columns", key->name);
  }
  assert_int_equal(listed, n);
  /* Today's header, in its order, before the keys added since. */
  static const char *const first[] = {
      "optimizer", "learning_rate", "momentum", "l2",         "beta1",  "beta2",
      "epsilon",   "schedule",      "decay",    "batch_size", "passes", "k",
      "solver",    "alpha",         "hidden",   "activation", "output"};
  for (size_t c = 0; c < sizeof first / sizeof first[0]; ++c)
    assert_string_equal(rt_config_key_column(c + 1)->name, first[c]);
}

/* Every model key is a line of the spec text (RT_SPEC_KINDS keys: of the kinds named), its
 * value reads back, and a changed value shows in the text and reads back too. */
static void spec_text(void **state) {
  (void)state;
  for (size_t f = 0; f < KIND_COUNT; ++f) {
    for (size_t i = 0; i < rt_config_key_count; ++i) {
      const rt_config_key *key = &rt_config_keys[i];
      if (key->section != RT_SECTION_MODEL || bookkeeping(key)) continue;
      rt_model_spec s = spec_of(kinds[f]);
      char *before = rt_spec_to_text(&s);
      assert_non_null(before);
      assert_int_equal(strncmp(before, "kind=", 5), 0);
      char line[128];
      snprintf(line, sizeof line, "\n%s=", key->name);
      const int expected = key->spec == RT_SPEC_ALL || rt_config_key_names_kind(key, kinds[f]);
      if (expected && !strstr(before, line))
        fail_msg("model key '%s' is missing from the spec text of a %s model", key->name, kinds[f]);
      if (!expected) {
        assert_null(strstr(before, line)); /* keeps the other families' files as they were */
        free(before);
        continue;
      }
      probe(key, &s.hp);
      /* A spec as specs are made (rt_check_spec_base): the input width is the view's. */
      s.problem.data_features = 5;
      s.problem.features = rt_view_width(&s.hp, 5);
      char *after = rt_spec_to_text(&s);
      assert_non_null(after);
      if (strcmp(before, after) == 0)
        fail_msg("changing model key '%s' does not change a %s spec text", key->name, kinds[f]);
      rt_model_spec back;
      rt_status st;
      if (rt_spec_from_text(after, "m.rtm", &back, &st) != RT_OK) fail_msg("%s", st.message);
      char a[512], b[512];
      assert_true(rt_config_key_format(key, &s.hp, a, sizeof a));
      assert_true(rt_config_key_format(key, &back.hp, b, sizeof b));
      assert_string_equal(a, b);
      char *again = rt_spec_to_text(&back);
      assert_string_equal(after, again);
      free(again);
      free(after);
      free(before);
    }
  }
}

/* The spec text is checked against the table's ranges when read. */
static void spec_text_ranges(void **state) {
  (void)state;
  rt_model_spec s = spec_of("mlp");
  char *text = rt_spec_to_text(&s);
  assert_non_null(text);
  const char *const bad[][2] = {{"\nlearning_rate=0.01\n", "\nlearning_rate=0\n"},
                                {"\nbatch_size=32\n", "\nbatch_size=0\n"},
                                {"\nhidden=64\n", "\nhidden=64,0\n"},
                                {"\nactivation=relu\n", "\nactivation=sigmoid\n"},
                                {"\nfit_intercept=1\n", "\nfit_intercept=2\n"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    char edited[4096];
    const char *at = strstr(text, bad[i][0]);
    assert_non_null(at);
    snprintf(edited, sizeof edited, "%.*s%s%s", (int)(at - text), text, bad[i][1],
             at + strlen(bad[i][0]));
    rt_model_spec back;
    rt_status st;
    assert_int_equal(rt_spec_from_text(edited, "m.rtm", &back, &st), RT_ERR_MODEL_FILE);
    assert_non_null(strstr(st.message, "m.rtm: spec '"));
  }
  free(text);
}

/* Every model key is in the summary of each kind that reads it, once its value changes; keys
 * shown always are there at their default too. */
static void summary(void **state) {
  (void)state;
  for (size_t f = 0; f < KIND_COUNT; ++f) {
    for (size_t i = 0; i < rt_config_key_count; ++i) {
      const rt_config_key *key = &rt_config_keys[i];
      if (key->section != RT_SECTION_MODEL || bookkeeping(key) ||
          !rt_config_key_names_kind(key, kinds[f]))
        continue;
      rt_model_config m;
      rt_model_config_defaults(&m);
      snprintf(m.kind, sizeof m.kind, "%s", kinds[f]);
      meet_conditions(key, &m);
      char before[256], after[256];
      assert_true(rt_model_config_summary(&m, before, sizeof before));
      if (key->label && key->label[0] && key->show == RT_SHOW_ALWAYS) {
        char word[64];
        snprintf(word, sizeof word, "%s=", key->label);
        assert_non_null(strstr(before, word));
      }
      probe(key, &m);
      assert_true(rt_model_config_summary(&m, after, sizeof after));
      if (strcmp(before, after) == 0)
        fail_msg("model key '%s' is missing from the summary of a %s model ('%s')", key->name,
                 kinds[f], after);
    }
  }
  /* The texts the CLI tests look for. */
  rt_model_config m;
  char text[256];
  rt_model_config_defaults(&m);
  strcpy(m.kind, "logistic");
  assert_true(rt_model_config_summary(&m, text, sizeof text));
  assert_string_equal(text, "adam lr=0.01 batch=32");
  strcpy(m.kind, "kmeans");
  m.k = 10, m.batch_size = 64;
  assert_true(rt_model_config_summary(&m, text, sizeof text));
  assert_string_equal(text, "k=10 batch=64");
  rt_model_config_defaults(&m);
  strcpy(m.kind, "linear");
  assert_true(rt_model_config_summary(&m, text, sizeof text));
  assert_string_equal(text, "exact alpha=0");
  m.alpha = 100; /* whole numbers in plain digits, not the shortest "1e+02" */
  assert_true(rt_model_config_summary(&m, text, sizeof text));
  assert_string_equal(text, "exact alpha=100");
  rt_model_config_defaults(&m);
  strcpy(m.kind, "mlp");
  m.hidden[1] = 32, m.hidden_count = 2, m.optimizer = RT_OPT_SGD, m.momentum = 0.9;
  assert_true(rt_model_config_summary(&m, text, sizeof text));
  assert_string_equal(text, "[64,32] relu sgd lr=0.01 mom=0.9 batch=32");
  assert_false(rt_model_config_summary(&m, text, 8));
}

/* A results.csv field reads back into the same value (what `results` summarises from). */
static void results_fields(void **state) {
  (void)state;
  for (size_t k = 0; k < rt_model_key_count(); ++k) {
    const rt_config_key *key = rt_model_key_at(k);
    if (bookkeeping(key)) continue;
    rt_model_config m, back;
    rt_model_config_defaults(&m);
    strcpy(m.kind, "mlp");
    probe(key, &m);
    char field[512], a[512], b[512];
    assert_true(rt_model_key_field(&m, k, field, sizeof field));
    assert_null(strchr(field, ',')); /* one CSV field */
    rt_model_config_defaults(&back);
    if (!rt_model_key_set_field(&back, k, field))
      fail_msg("%s: '%s' does not read back", key->name, field);
    assert_true(rt_config_key_format(key, &m, a, sizeof a));
    assert_true(rt_config_key_format(key, &back, b, sizeof b));
    assert_string_equal(a, b);
  }
}

/* configs/reference.yaml documents every model key in its models entry, and parses. */
static void reference_yaml(void **state) {
  (void)state;
  const char *path = RT_TEST_SOURCE_DIR "/configs/reference.yaml";
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  static char text[1 << 16];
  const size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  const char *models = strstr(text, "\nmodels:\n");
  assert_non_null(models);
  for (size_t k = 0; k < rt_model_key_count(); ++k) {
    char a[96], b[96];
    snprintf(a, sizeof a, "\n    %s:", rt_model_key_name(k));
    snprintf(b, sizeof b, "\n  - %s:", rt_model_key_name(k));
    if (!strstr(models, a) && !strstr(models, b))
      fail_msg("model key '%s' is missing from configs/reference.yaml", rt_model_key_name(k));
  }
  rt_config cfg;
  rt_status st;
  if (rt_config_load(path, &cfg, &st) != RT_OK) fail_msg("%s", st.message);
  rt_config_free(&cfg);
}

/* The rt_*_name functions return the table's canonical choice names. */
static void enum_names(void **state) {
  (void)state;
  assert_string_equal(rt_optimizer_name(RT_OPT_ADAM), "adam");
  assert_string_equal(rt_schedule_name(RT_SCHED_INVERSE_TIME), "inverse_time");
  assert_string_equal(rt_solver_name(RT_SOLVER_SGD), "sgd");
  assert_string_equal(rt_kmeans_algorithm_name(RT_KMEANS_LLOYD), "lloyd");
  assert_string_equal(rt_activation_name(RT_ACTIVATION_GELU), "gelu");
  assert_string_equal(rt_mlp_output_name(RT_OUTPUT_REGRESSION), "regression");
  assert_string_equal(rt_init_scheme_name(RT_INIT_XAVIER), "xavier");
  assert_string_equal(rt_normalize_name(RT_NORMALIZE_MINMAX), "minmax");
  assert_string_equal(rt_sweep_method_name(RT_SWEEP_RANDOM), "random");
  assert_string_equal(rt_sweep_goal_name(RT_GOAL_MAXIMIZE), "maximize");
  assert_string_equal(rt_solver_name((rt_solver)7), "unknown");
}

/* One registry: family i has id i, and the kinds of the table are the registry's. */
static void family_registry(void **state) {
  (void)state;
  size_t count = 0;
  for (size_t i = 0; i < RT_FAMILY_COUNT; ++i) {
    const rt_family *fam = rt_family_at(i);
    assert_non_null(fam);
    assert_int_equal(fam->id, i);
    assert_ptr_equal(rt_family_find(fam->kind), fam);
    assert_true(rt_model_kind_known(fam->kind));
    ++count;
  }
  assert_null(rt_family_at(RT_FAMILY_COUNT));
  assert_int_equal(count, KIND_COUNT);
  for (size_t f = 0; f < KIND_COUNT; ++f) assert_non_null(rt_family_find(kinds[f]));
}

/* The model files of the fuzz corpus (written by the code before the table walk) read back and
 * write the same spec text, up to the scaling lines (not part of the spec struct). */
static void corpus_spec_text(void **state) {
  (void)state;
  const char *dir = RT_TEST_SOURCE_DIR "/tests/fuzz/corpus/modelfile";
  DIR *d = opendir(dir);
  assert_non_null(d);
  size_t checked = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (!strstr(e->d_name, ".rtm")) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    rt_model_file mf;
    rt_status st;
    assert_int_equal(rt_model_file_read(path, &mf, &st), RT_OK);
    if (strncmp(mf.spec_text, "kind=", 5) != 0) { /* a file of the format tests, no model */
      rt_model_file_free(&mf);
      continue;
    }
    rt_model_spec spec;
    if (rt_spec_from_text(mf.spec_text, path, &spec, &st) != RT_OK) fail_msg("%s", st.message);
    char *text = rt_spec_to_text(&spec);
    assert_non_null(text);
    /* Files older than the model keys seed, data_order and start_shard carry the run seed as
     * "seed" and train with those keys' auto values: the model's RNG key as it always was. */
    const int old = !strstr(mf.spec_text, "\nrun_seed=");
    if (old) {
      assert_true(spec.hp.seed == rt_model_seed_auto(spec.seed, spec.id));
      assert_true(spec.hp.data_order == spec.seed);
      assert_int_equal(spec.hp.start_shard, spec.id);
    }
    /* Files older than an RT_SPEC_KINDS key (or those three) lack its line: so does the text to
     * compare. */
    for (size_t i = 0; i < rt_config_key_count; ++i) {
      const rt_config_key *key = &rt_config_keys[i];
      char line[96];
      snprintf(line, sizeof line, "\n%s=", key->name);
      char *at = strstr(text, line);
      const int auto_key = key->store == RT_STORE_U64_AUTO || key->store == RT_STORE_LONG_AUTO;
      if (!at || (auto_key ? !old : key->spec != RT_SPEC_KINDS || strstr(mf.spec_text, line)))
        continue;
      const char *next = strchr(at + 1, '\n');
      memmove(at, next, strlen(next) + 1);
    }
    char *run_seed = strstr(text, "\nrun_seed=");
    if (old && run_seed) memmove(run_seed + 1, run_seed + 5, strlen(run_seed + 5) + 1);
    const char *end = strstr(mf.spec_text, "\nsuccession=");
    assert_non_null(end);
    end = strchr(end + 1, '\n') + 1;
    const size_t len = (size_t)(end - mf.spec_text);
    const char *mine = strstr(text, "\nsuccession=");
    assert_non_null(mine);
    mine = strchr(mine + 1, '\n') + 1;
    if ((size_t)(mine - text) != len || memcmp(text, mf.spec_text, len) != 0)
      fail_msg("%s: spec text written again differs:\n%s\n---\n%.*s", path, text, (int)len,
               mf.spec_text);
    free(text);
    rt_model_file_free(&mf);
    ++checked;
  }
  closedir(d);
  assert_true(checked >= 8);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(table_schema),    cmocka_unit_test(results_columns),
      cmocka_unit_test(spec_text),       cmocka_unit_test(spec_text_ranges),
      cmocka_unit_test(summary),         cmocka_unit_test(results_fields),
      cmocka_unit_test(reference_yaml),  cmocka_unit_test(enum_names),
      cmocka_unit_test(family_registry), cmocka_unit_test(corpus_spec_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
