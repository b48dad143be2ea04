/* The order in which ranks issue hand-offs on the GPU path (see src/engine/engine_cuda.c): round by
 * round, and within a round by model id, on one communicator and one stream per rank. Every rank
 * derives it from the schedule alone. tests/unit/test_handoff_plan.c checks by simulation that
 * blocking rendezvous hand-offs issued in this order always complete. */
#ifndef RINGTRAIN_HANDOFF_PLAN_H
#define RINGTRAIN_HANDOFF_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

typedef struct rt_handoff {
  uint64_t round; /* the model moves after its visit of this round */
  uint64_t model;
  int from, to;
} rt_handoff;

/* 1 and the ranks when model `spec` changes rank between round t and t+1, else 0. */
int rt_handoff_after(const rt_model_spec *spec, uint64_t round, uint64_t shards, int ranks,
                     int *from, int *to);

/* Every hand-off of the run in issue order; returns how many (out may be NULL to count). */
size_t rt_handoff_plan(const rt_model_spec *specs, size_t count, uint64_t shards, int ranks,
                       rt_handoff *out);

#endif
