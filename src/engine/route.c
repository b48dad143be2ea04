/* A model's succession of shards (route.h): rotate, fixed or shuffle from the model key
 * start_shard, where shuffle draws a permutation per pass from the run seed and evaluates one entry of it without building it. */
#include "route.h"

#include "rng.h"

/* perm[index] of the permutation rt_rng_permutation(key, perm, n) builds, without building it:
 * that function swaps perm[i-1] and perm[j_i] for i = n down to 2, starting from the identity, so
 * the entry that ends at `index` is traced back through the swaps in reverse order (i = 2..n). */
static uint64_t permuted(uint64_t key, uint64_t n, uint64_t index) {
  uint64_t p = index;
  for (uint64_t i = 2; i <= n; ++i) {
    const uint64_t j = rt_rng_below(key, i, i);
    if (p == i - 1) p = j;
    else if (p == j) p = i - 1;
  }
  return p;
}

uint64_t rt_route_shard(const rt_model_spec *spec, uint64_t pass, uint64_t position) {
  const uint64_t n = rt_route_length(spec);
  switch (spec->succession) {
    case RT_SUCCESSION_FIXED: return position % n;
    case RT_SUCCESSION_SHUFFLE:
      return permuted(rt_key_push(rt_key_push(spec->seed, RT_STREAM_SUCCESSION), pass), n,
                      ((uint64_t)spec->hp.start_shard + position) % n);
    default: return ((uint64_t)spec->hp.start_shard + position) % n;
  }
}
