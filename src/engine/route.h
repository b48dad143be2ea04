/* A model's succession: which shard it visits at each position of each pass, with s the model
 * key start_shard (auto: each cost class dealt over the shards, src/config/start_shard.c; the
 * model id where all models cost alike, so models are staggered):
 *   rotate  (default) shard (s + position) mod n: model j starts at shard s mod n (staggered)
 *   fixed   shard position: every model walks 0, 1, ..., n-1
 *   shuffle shard perm_p[(s + position) mod n], perm_p a permutation of 0..n-1 drawn anew for
 *           every pass p from (run seed, p): still staggered, the same on every rank layout
 * with n = run.shards_in_use (default: all S shards; the first n shards are used). */
#ifndef RINGTRAIN_ROUTE_H
#define RINGTRAIN_ROUTE_H

#include <stdint.h>

#include "model.h"

enum { RT_SUCCESSION_ROTATE = 0, RT_SUCCESSION_FIXED = 1, RT_SUCCESSION_SHUFFLE = 2 };

/* Shard visits in one pass. */
static inline uint64_t rt_route_length(const rt_model_spec *spec) {
  return spec->shards_used && spec->shards_used < spec->shards ? spec->shards_used : spec->shards;
}

uint64_t rt_route_shard(const rt_model_spec *spec, uint64_t pass, uint64_t position);

#endif
