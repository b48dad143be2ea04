/* The compute side of the engine: integrate one shard visit into a model state, evaluate a state
 * on a shard. The CPU implementation is the reference; the CUDA backend implements the same
 * operations with kernels and cuBLAS. */
#ifndef RINGTRAIN_BACKEND_H
#define RINGTRAIN_BACKEND_H

#include "model.h"
#include "ringtrain/data.h"

/* Per-pass batch order inside a shard: a permutation of the shard's batches keyed by
 * (the model key data_order, pass, shard), so it is the same on any rank layout, and the same for
 * every model that shares data_order (what lets them form a group, src/engine/groups.h). */
uint64_t rt_batch_order_key(const rt_model_spec *spec, uint64_t pass, uint64_t shard);

/* Integrates every batch of `shard` (logical index shard_index) into the state. ws must hold
 * family->workspace_floats(spec, batch) + param_count floats. A family with integrate_batch
 * updates itself; gradient families go through the optimizer. */
void rt_cpu_integrate_shard(const rt_model_spec *spec, const rt_family *fam, void *state,
                            const rt_shard *shard, uint64_t shard_index, float *ws,
                            uint64_t *order_buf);

/* The same from the state's batch_cursor on, asking should_stop(user) (when not NULL) before each
 * batch: returns 1 when the visit is complete (batch_cursor back to 0), 0 when it stopped with
 * batch_cursor batches of this visit done, so that a later call continues exactly there. */
int rt_cpu_integrate_visit(const rt_model_spec *spec, const rt_family *fam, void *state,
                           const rt_shard *shard, uint64_t shard_index, float *ws,
                           uint64_t *order_buf, int (*should_stop)(void *), void *user);

/* Adds the family's evaluation sums over a shard into sums[RT_EVAL_SUMS] (fixed row order, in
 * chunks of ws_rows; ws holds family->workspace_floats(spec, ws_rows) floats). */
void rt_cpu_evaluate_shard(const rt_model_spec *spec, const rt_family *fam, const void *state,
                           const rt_shard *shard, float *ws, size_t ws_rows, double *sums);

#endif
