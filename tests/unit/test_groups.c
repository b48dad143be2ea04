/* Model groups (src/engine/groups.h): which models share every batch (same kind and input, batch
 * size, data_order, succession and shards in use, start_shard modulo the shards in use), fuse
 * off, and the numbering (groups by their first member, members ascending). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "groups.h"
#include "route.h"

#define N 6

static rt_model_spec spec_of(uint64_t id) {
  rt_model_spec s;
  memset(&s, 0, sizeof s);
  rt_model_config_defaults(&s.hp);
  strcpy(s.hp.kind, "logistic");
  s.id = id;
  s.hp.batch_size = 32;
  s.hp.data_order = 1;
  s.hp.start_shard = (long)id;
  s.hp.seed = 100 + id; /* every model's own randomness differs: no bar to grouping */
  s.hp.learning_rate = 0.01 * (double)(id + 1);
  s.problem.features = 5;
  s.problem.classes = 3;
  s.seed = 1;
  s.passes = 2;
  s.shards = 2;
  s.succession = RT_SUCCESSION_ROTATE;
  return s;
}

/* Forms the groups and checks group_of against `want` (and that members/first agree). */
static void expect(const rt_model_spec *specs, size_t n, int fuse, const size_t *want,
                   size_t groups) {
  rt_groups g;
  rt_status st;
  assert_int_equal(rt_groups_form(specs, n, fuse, &g, &st), RT_OK);
  assert_int_equal(g.models, n);
  assert_int_equal(g.count, groups);
  for (size_t j = 0; j < n; ++j) assert_int_equal(g.group_of[j], want[j]);
  size_t seen = 0;
  for (size_t k = 0; k < g.count; ++k) {
    const size_t *m = rt_group_members(&g, k);
    assert_true(rt_group_size(&g, k) >= 1);
    /* Numbered by the first member: group k's first member comes after group k-1's. */
    if (k) assert_true(m[0] > rt_group_members(&g, k - 1)[0]);
    for (size_t i = 0; i < rt_group_size(&g, k); ++i) {
      assert_int_equal(g.group_of[m[i]], k);
      if (i) assert_true(m[i] > m[i - 1]);
      ++seen;
    }
  }
  assert_int_equal(seen, n);
  rt_groups_free(&g);
}

static void start_shard_modulo_shards(void **state) {
  (void)state;
  rt_model_spec s[N];
  for (size_t j = 0; j < N; ++j) s[j] = spec_of(j);
  /* rotate over 2 shards: even ids start at shard 0, odd ones at shard 1 */
  expect(s, N, 1, (const size_t[]){0, 1, 0, 1, 0, 1}, 2);
  /* 3 shards in use: start_shard mod 3 */
  for (size_t j = 0; j < N; ++j) s[j].shards = 4, s[j].shards_used = 3;
  expect(s, N, 1, (const size_t[]){0, 1, 2, 0, 1, 2}, 3);
  /* shuffle staggers by start_shard too */
  for (size_t j = 0; j < N; ++j) s[j].succession = RT_SUCCESSION_SHUFFLE;
  expect(s, N, 1, (const size_t[]){0, 1, 2, 0, 1, 2}, 3);
  /* fixed: every model walks 0..n-1 whatever its start_shard: one group */
  for (size_t j = 0; j < N; ++j) s[j].succession = RT_SUCCESSION_FIXED;
  expect(s, N, 1, (const size_t[]){0, 0, 0, 0, 0, 0}, 1);
  /* an explicit start_shard of the same residue joins */
  for (size_t j = 0; j < N; ++j) s[j] = spec_of(j);
  s[1].hp.start_shard = 4;
  expect(s, N, 1, (const size_t[]){0, 0, 0, 1, 0, 1}, 2);
}

static void data_order_batch_size_and_kind(void **state) {
  (void)state;
  rt_model_spec s[N];
  for (size_t j = 0; j < N; ++j) s[j] = spec_of(j), s[j].succession = RT_SUCCESSION_FIXED;
  s[2].hp.data_order = 2; /* another batch order: a group of its own */
  expect(s, N, 1, (const size_t[]){0, 0, 1, 0, 0, 0}, 2);
  s[4].hp.data_order = 2; /* the same other order: joins model 2 */
  expect(s, N, 1, (const size_t[]){0, 0, 1, 0, 1, 0}, 2);
  s[3].hp.batch_size = 64; /* another batch size */
  expect(s, N, 1, (const size_t[]){0, 0, 1, 2, 1, 0}, 3);
  strcpy(s[0].hp.kind, "kmeans"); /* another kind; numbering stays by first member */
  expect(s, N, 1, (const size_t[]){0, 1, 2, 3, 2, 1}, 4);
  /* other input dimensions, shards or passes never group */
  for (size_t j = 0; j < N; ++j) s[j] = spec_of(j), s[j].succession = RT_SUCCESSION_FIXED;
  s[1].problem.features = 6;
  s[2].problem.classes = 4;
  s[3].shards = 3;
  s[4].passes = 3;
  expect(s, N, 1, (const size_t[]){0, 1, 2, 3, 4, 0}, 5);
  /* the rule is symmetric */
  for (size_t a = 0; a < N; ++a)
    for (size_t b = 0; b < N; ++b)
      assert_int_equal(rt_models_can_group(&s[a], &s[b]), rt_models_can_group(&s[b], &s[a]));
  /* hyper-parameters that do not change the batches (learning rate, seed) do not split */
  assert_true(rt_models_can_group(&s[0], &s[5]));
}

static void fuse_off_every_model_alone(void **state) {
  (void)state;
  rt_model_spec s[N];
  for (size_t j = 0; j < N; ++j) s[j] = spec_of(j), s[j].succession = RT_SUCCESSION_FIXED;
  expect(s, N, 1, (const size_t[]){0, 0, 0, 0, 0, 0}, 1);
  expect(s, N, 0, (const size_t[]){0, 1, 2, 3, 4, 5}, N);
  expect(s, 1, 1, (const size_t[]){0}, 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(start_shard_modulo_shards),
      cmocka_unit_test(data_order_batch_size_and_kind),
      cmocka_unit_test(fuse_off_every_model_alone),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
