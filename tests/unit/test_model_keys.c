/* The model keys seed, data_order and start_shard: auto resolves per model (seed from run.seed and
 * the model id, data_order = run.seed, start_shard spread by cost class, the id within one class)
 * and follows --set run.seed; given
 * values survive; the resolved config carries numbers that read back to the same models; and the
 * default seed is the RNG key models always had, so default initial weights did not change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#include "check_spec.h"
#include "config_internal.h"
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

/* The config as its run writes it (config.yaml), in a malloc'ed string. */
static char *written(const rt_config *cfg, size_t *len) {
  char *yaml = NULL;
  FILE *f = open_memstream(&yaml, len);
  assert_non_null(f);
  rt_status st;
  assert_int_equal(rt_config_write_yaml(cfg, f, &st), RT_OK);
  fclose(f);
  return yaml;
}

static void resolved_round_trip(void **state) {
  (void)state;
  rt_config cfg, back;
  load(&cfg);
  set(&cfg, "run.seed=13");
  size_t len = 0;
  char *yaml = written(&cfg, &len);
  rt_status st;
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

/* start_shard auto spreads models that cost the same over the shards: a grid whose fastest key
 * changes the cost (activation) no longer puts one cost at even starts and the other at odd ones.
 * Each class (in the order of its first model) counts on from its number; numbers (learning rate,
 * l2) make no class; appending models moves none; a given value stays; --set follows. */
#define GRID_CONFIG        \
  "data: {train: t.csv}\n" \
  "models:\n"              \
  "  - {kind: mlp, learning_rate: [0.1, 0.2, 0.3, 0.4], l2: [0, 0.01], activation: [relu, tanh]}\n"
static const char grid_text[] = GRID_CONFIG;

static void parse_text(const char *yaml, rt_config *cfg) {
  rt_status st;
  if (rt_config_parse(yaml, strlen(yaml), "g.yaml", cfg, &st) != RT_OK) fail_msg("%s", st.message);
}

static void start_shard_spread_by_cost(void **state) {
  (void)state;
  for (size_t i = 0; i < rt_start_shard_cost_key_count(); ++i)
    if (!rt_config_key_find(RT_SECTION_MODEL, rt_start_shard_cost_key(i)))
      fail_msg("cost key '%s' is not a model key", rt_start_shard_cost_key(i));
  assert_null(rt_start_shard_cost_key(rt_start_shard_cost_key_count()));
  rt_config cfg;
  parse_text(grid_text, &cfg);
  assert_int_equal(cfg.model_count, 16);
  /* the grid alternates activation (its last key): models 0, 2, ... relu, 1, 3, ... tanh */
  long want[2] = {0, 1}; /* relu's class is number 0, tanh's number 1 */
  size_t at_even[2] = {0, 0};
  for (size_t j = 0; j < cfg.model_count; ++j) {
    const int tanh = cfg.models[j].activation == RT_ACTIVATION_TANH;
    assert_int_equal(tanh, (int)(j % 2));
    assert_int_equal(cfg.models[j].start_shard, want[tanh]++);
    at_even[tanh] += cfg.models[j].start_shard % 2 == 0;
  }
  /* on 2 shards each start shard gets 4 of each (by id: all 8 relu at shard 0) */
  assert_int_equal(at_even[0], 4);
  assert_int_equal(at_even[1], 4);

  /* appending an entry moves none of the earlier models; the new class is number 2 */
  static const char appended[] = GRID_CONFIG
      "  - {kind: logistic, batch_size: [32, 64]}\n"
      "  - {kind: mlp, activation: tanh, start_shard: 40}\n"
      "  - {kind: mlp, activation: tanh}\n";
  rt_config more;
  parse_text(appended, &more);
  assert_int_equal(more.model_count, 20);
  for (size_t j = 0; j < cfg.model_count; ++j)
    assert_int_equal(more.models[j].start_shard, cfg.models[j].start_shard);
  assert_int_equal(more.models[16].start_shard, 2);     /* logistic batch 32: class 2, first */
  assert_int_equal(more.models[17].start_shard, 3);     /* batch 64: another class, number 3 */
  assert_int_equal(more.models[18].start_shard, 40);    /* given */
  assert_int_equal(more.models[19].start_shard, 1 + 9); /* tanh's tenth, the given one counted */

  /* --set a cost key: the classes follow (model 0 joins tanh, whose number is now 0) */
  set(&cfg, "models.0.activation=tanh");
  assert_int_equal(cfg.models[0].start_shard, 0);
  assert_int_equal(cfg.models[1].start_shard, 1);
  assert_int_equal(cfg.models[2].start_shard, 1); /* relu's class begins at model 2: number 1 */

  /* sgd's momentum on or off is a class, its value is not: [0, 0.5, 0.9] listed last gives
   * models 0 (off), 1, 2 (on, one class), 3 (off), ... */
  static const char momentum[] =
      "data: {train: t.csv}\n"
      "models:\n"
      "  - {kind: logistic, optimizer: sgd, learning_rate: [0.1, 0.2], momentum: [0, 0.5, 0.9]}\n";
  rt_config mom;
  parse_text(momentum, &mom);
  assert_int_equal(mom.model_count, 6);
  static const long mom_want[6] = {0, 1, 2, 1, 3, 4}; /* off: 0, 1; on (class 1): 1, 2, 3, 4 */
  for (size_t j = 0; j < 6; ++j) assert_int_equal(mom.models[j].start_shard, mom_want[j]);
  rt_config_free(&mom);

  /* the written config carries the numbers, and reads back to the same */
  size_t len = 0;
  char *yaml = written(&more, &len);
  rt_config back;
  parse_text(yaml, &back);
  assert_int_equal(back.model_count, more.model_count);
  for (size_t j = 0; j < more.model_count; ++j)
    assert_int_equal(back.models[j].start_shard, more.models[j].start_shard);
  char diff[512];
  assert_int_equal(rt_config_diff(&more, &back, diff, sizeof diff), 0);
  free(yaml);
  rt_config_free(&back);
  rt_config_free(&more);
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
      cmocka_unit_test(start_shard_spread_by_cost),
      cmocka_unit_test(default_init_unchanged),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
