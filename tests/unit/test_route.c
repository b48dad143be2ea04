/* Successions: rotate, fixed and shuffle visit every shard in use exactly once per pass; shuffle
 * is the permutation rt_rng_permutation draws for (seed, pass), staggered by model id. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rng.h"
#include "route.h"

static rt_model_spec spec_of(uint64_t id, int succession, uint64_t shards, uint64_t used) {
  rt_model_spec s;
  memset(&s, 0, sizeof s);
  s.id = id;
  s.hp.start_shard = (long)id; /* the auto value in a config of one cost class */
  s.succession = succession;
  s.shards = shards;
  s.shards_used = used;
  s.seed = 77;
  return s;
}

static void every_shard_once_per_pass(void **state) {
  (void)state;
  for (int kind = 0; kind < 3; ++kind)
    for (uint64_t S = 1; S <= 9; ++S)
      for (uint64_t used = 0; used <= S; ++used)
        for (uint64_t id = 0; id < 5; ++id)
          for (uint64_t pass = 0; pass < 3; ++pass) {
            const rt_model_spec s = spec_of(id, kind, S, used);
            const uint64_t n = rt_route_length(&s);
            assert_int_equal(n, used ? used : S);
            int seen[16] = {0};
            for (uint64_t k = 0; k < n; ++k) {
              const uint64_t shard = rt_route_shard(&s, pass, k);
              assert_true(shard < n);
              seen[shard]++;
            }
            for (uint64_t k = 0; k < n; ++k) assert_int_equal(seen[k], 1);
          }
}

static void rotate_and_fixed(void **state) {
  (void)state;
  const rt_model_spec r = spec_of(3, RT_SUCCESSION_ROTATE, 4, 0),
                      f = spec_of(3, RT_SUCCESSION_FIXED, 4, 0);
  for (uint64_t k = 0; k < 4; ++k) {
    assert_int_equal(rt_route_shard(&r, 1, k), (3 + k) % 4);
    assert_int_equal(rt_route_shard(&f, 1, k), k);
  }
}

static void shuffle_is_the_seeded_permutation(void **state) {
  (void)state;
  for (uint64_t n = 1; n <= 12; ++n)
    for (uint64_t pass = 0; pass < 4; ++pass) {
      uint64_t perm[12];
      rt_rng_permutation(rt_key_push(rt_key_push(77, RT_STREAM_SUCCESSION), pass), perm, n);
      for (uint64_t id = 0; id < 3; ++id) {
        const rt_model_spec s = spec_of(id, RT_SUCCESSION_SHUFFLE, n, 0);
        for (uint64_t k = 0; k < n; ++k)
          assert_int_equal(rt_route_shard(&s, pass, k), perm[(id + k) % n]);
      }
    }
  /* A new order each pass (for enough shards that a repeat would be a coincidence). */
  const rt_model_spec s = spec_of(0, RT_SUCCESSION_SHUFFLE, 12, 0);
  int differs = 0;
  for (uint64_t k = 0; k < 12; ++k) differs |= rt_route_shard(&s, 0, k) != rt_route_shard(&s, 1, k);
  assert_true(differs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_shard_once_per_pass),
      cmocka_unit_test(rotate_and_fixed),
      cmocka_unit_test(shuffle_is_the_seeded_permutation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
