/* Which rank owns which shard: a pure function of (shard, S, ranks), so every rank computes the
 * same schedule without talking. Which shard a model visits when is route.h's. */
#ifndef RINGTRAIN_SCHEDULE_H
#define RINGTRAIN_SCHEDULE_H

#include <stdint.h>

/* Shards are dealt to ranks in contiguous blocks, so a rotating model crosses as few rank
 * boundaries as possible: shard s belongs to rank floor(s*R/S). */
static inline int rt_shard_owner(uint64_t shard, uint64_t shards, int ranks) {
  return (int)((shard * (uint64_t)ranks) / shards);
}

#endif
