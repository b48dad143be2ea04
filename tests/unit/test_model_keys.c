/* The model keys seed, data_order and start_shard: auto resolves per model (seed from run.seed and
 * the model id, data_order = run.seed, start_shard = the id) and follows --set run.seed; given
 * values survive; the resolved config carries numbers that read back to the same models; and the
 * default seed is the RNG key models always had, so default initial weights did not change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "check_spec.h"
#include "model.h"
#include "rng.h"

static const char text[] =
    "data: {train: t.csv}\n"
    "run: {seed: 7}\n"
    "models:\n"
    "  - {kind: logistic, learning_rate: [0.1, 0.2, 0.3]}\n"
    "  - {kind: mlp, seed: 42, data_order: 9, start_shard: 5}\n";

static void load(rt_config *cfg) {
  rt_status st;
  if (rt_config_parse(text, strlen(text), "t.yaml", cfg, &st) != RT_OK) fail_msg("%s", st.message);
}

static void set(rt_config *cfg, const char *assignment) {
  rt_status st;
  if (rt_config_set(cfg, assignment, &st) != RT_OK) fail_msg("%s", st.message);
}

/* The formula models used before the key existed (registry.c's RNG key). */
static uint64_t old_key(uint64_t run_seed, uint64_t id) {
  return rt_key_push(rt_key_push(run_seed, 0x6d6f64656cULL), id);
}

static size_t seed_index(void) {
  for (size_t i = 0; i < rt_model_key_count(); ++i)
    if (strcmp(rt_model_key_name(i), "seed") == 0) return i;
  fail_msg("no model key seed");
  return 0;
}

static void auto_follows_run_seed(void **state) {
  (void)state;
  rt_config cfg;
  load(&cfg);
  assert_int_equal(cfg.model_count, 4);
  for (uint64_t j = 0; j < 3; ++j) {
    assert_true(cfg.models[j].seed == old_key(7, j));
    assert_true(cfg.models[j].data_order == 7);
    assert_int_equal(cfg.models[j].start_shard, j);
    char buf[64];
    assert_true(rt_model_key_text(&cfg.models[j], seed_index(), buf, sizeof buf));
    assert_string_equal(buf, "auto");
  }
  /* given: kept */
  assert_true(cfg.models[3].seed == 42 && cfg.models[3].data_order == 9);
  assert_int_equal(cfg.models[3].start_shard, 5);
  set(&cfg, "run.seed=11");
  for (uint64_t j = 0; j < 3; ++j) {
    assert_true(cfg.models[j].seed == old_key(11, j));
    assert_true(cfg.models[j].data_order == 11);
  }
  assert_true(cfg.models[3].seed == 42 && cfg.models[3].data_order == 9);
  /* a given value, then auto again */
  set(&cfg, "models.1.data_order=3");
  set(&cfg, "run.seed=12");
  assert_true(cfg.models[1].data_order == 3 && cfg.models[0].data_order == 12);
  set(&cfg, "models.1.data_order=auto");
  assert_true(cfg.models[1].data_order == 12);
  set(&cfg, "models.*.start_shard=2");
  for (size_t j = 0; j < 4; ++j) assert_int_equal(cfg.models[j].start_shard, 2);
  rt_config_free(&cfg);
}

static void resolved_round_trip(void **state) {
  (void)state;
  rt_config cfg, back;
  load(&cfg);
  set(&cfg, "run.seed=13");
  char *yaml = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&yaml, &len);
  rt_status st;
  assert_int_equal(rt_config_write_yaml(&cfg, f, &st), RT_OK);
  fclose(f);
  assert_non_null(strstr(yaml, "    data_order: 13\n"));
  assert_non_null(strstr(yaml, "    start_shard: 2\n"));
  assert_null(strstr(yaml, "\n    seed: auto"));
  if (rt_config_parse(yaml, len, "w.yaml", &back, &st) != RT_OK) fail_msg("%s", st.message);
  assert_int_equal(back.model_count, cfg.model_count);
  for (size_t j = 0; j < cfg.model_count; ++j) {
    assert_true(back.models[j].seed == cfg.models[j].seed);
    assert_true(back.models[j].data_order == cfg.models[j].data_order);
    assert_int_equal(back.models[j].start_shard, cfg.models[j].start_shard);
  }
  /* read back, they are given: another run.seed no longer moves them */
  set(&back, "run.seed=99");
  assert_true(back.models[1].seed == old_key(13, 1) && back.models[1].data_order == 13);
  /* nor does the diff of a resume see a change between auto and its number */
  char diff[512];
  assert_int_equal(rt_config_diff(&back, &back, diff, sizeof diff), 0);
  set(&back, "run.seed=13");
  assert_int_equal(rt_config_diff(&back, &cfg, diff, sizeof diff), 0);
  free(yaml);
  rt_config_free(&back);
  rt_config_free(&cfg);
}

/* Default initial weights are those of the formula models always used; a config made in code
 * (no parse) resolves alike through the spec builder; an explicit seed changes them. */
static void default_init_unchanged(void **state) {
  (void)state;
  rt_config cfg;
  load(&cfg);
  rt_check_facts facts = {.features = 8, .classes = 3, .train_rows = 100, .shards = 2};
  for (size_t j = 0; j < cfg.model_count; ++j) {
    rt_model_spec spec;
    rt_check_spec_base(&cfg, j, &facts, &spec);
    if (j == 3) { /* an mlp with seed 42 */
      assert_true(spec.hp.seed == 42);
      continue;
    }
    assert_true(spec.hp.seed == old_key(7, j));
    void *s = NULL;
    size_t bytes = 0;
    rt_status st;
    assert_int_equal(rt_state_create(&spec, &s, &bytes, &st), RT_OK);
    assert_true(rt_state_head(s)->rng_key == old_key(7, j));
    const rt_state_layout l = rt_state_layout_of(&spec);
    float *want = malloc(l.param_count * sizeof *want);
    rt_family_find(spec.hp.kind)->init_params(&spec, old_key(7, j), want);
    assert_memory_equal(rt_state_params(s, &l), want, l.param_count * sizeof *want);
    free(want);
    rt_state_free(s);
  }
  /* built in code: nothing resolved in the config, the spec is */
  rt_model_config m = cfg.models[0];
  m.given = 0, m.seed = 0, m.data_order = 0, m.start_shard = 0;
  cfg.models[0] = m;
  rt_model_spec spec;
  rt_check_spec_base(&cfg, 0, &facts, &spec);
  assert_true(spec.hp.seed == old_key(7, 0) && spec.hp.data_order == 7);
  assert_int_equal(spec.hp.start_shard, 0);
  rt_config_free(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(auto_follows_run_seed),
      cmocka_unit_test(resolved_round_trip),
      cmocka_unit_test(default_init_unchanged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
