/* Which rank owns which shard, and which shard a model visits when. Pure functions of
 * (S, ranks, model id, pass, position): every rank computes the same schedule without talking. */
#ifndef RINGTRAIN_SCHEDULE_H
#define RINGTRAIN_SCHEDULE_H

#include <stdint.h>

/* Shards are dealt to ranks in contiguous blocks, so a rotating model crosses as few rank
 * boundaries as possible: shard s belongs to rank floor(s*R/S). */
static inline int rt_shard_owner(uint64_t shard, uint64_t shards, int ranks) {
  return (int)((shard * (uint64_t)ranks) / shards);
}

/* Default succession (rotate): model j starts at shard j mod S and walks the ring. */
static inline uint64_t rt_succession_shard(uint64_t model_id, uint64_t pass, uint64_t position,
                                           uint64_t shards) {
  (void)pass;
  return (model_id + position) % shards;
}

#endif
