/* The order of the GPU path's hand-offs (handoff_plan.h): for every round and, within it, every
 * model by id, whether its state moves to another rank after that round and from where to where,
 * derived from the schedule and the succession alone. */
#include "handoff_plan.h"

#include "route.h"
#include "schedule.h"

static int round_owner(const rt_model_spec *spec, uint64_t round, uint64_t shards, int ranks) {
  const uint64_t n = rt_route_length(spec);
  return rt_shard_owner(rt_route_shard(spec, round / n, round % n), shards, ranks);
}

int rt_handoff_after(const rt_model_spec *spec, uint64_t round, uint64_t shards, int ranks,
                     int *from, int *to) {
  if (round + 1 >= spec->passes * rt_route_length(spec)) return 0;
  *from = round_owner(spec, round, shards, ranks);
  *to = round_owner(spec, round + 1, shards, ranks);
  return *from != *to;
}

size_t rt_handoff_plan(const rt_model_spec *specs, size_t count, uint64_t shards, int ranks,
                       rt_handoff *out) {
  uint64_t rounds = 0;
  for (size_t j = 0; j < count; ++j)
    if (specs[j].passes * rt_route_length(&specs[j]) > rounds)
      rounds = specs[j].passes * rt_route_length(&specs[j]);
  size_t n = 0;
  for (uint64_t t = 0; t < rounds; ++t)
    for (size_t j = 0; j < count; ++j) {
      int from, to;
      if (!rt_handoff_after(&specs[j], t, shards, ranks, &from, &to)) continue;
      if (out) out[n] = (rt_handoff){.round = t, .model = specs[j].id, .from = from, .to = to};
      ++n;
    }
  return n;
}
