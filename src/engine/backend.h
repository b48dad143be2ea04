/* The compute side of the engine: integrate one shard visit into a model state, evaluate a state
 * on a shard. The CPU implementation is the reference; the CUDA backend implements the same
 * operations with kernels and cuBLAS. */
#ifndef RINGTRAIN_BACKEND_H
#define RINGTRAIN_BACKEND_H

#include "model.h"
#include "ringtrain/data.h"
#include "ringtrain/status.h"

/* Per-pass batch order inside a shard: a permutation of the shard's batches keyed by
 * (the model key data_order, pass, shard), so it is the same on any rank layout, and the same for
 * every model that shares data_order (what lets them form a group, src/engine/groups.h). */
uint64_t rt_batch_order_key(const rt_model_spec *spec, uint64_t pass, uint64_t shard);

/* Scratch of the CPU backend, grown as needed and kept between visits (one per engine). */
typedef struct rt_cpu_scratch {
  float *f; /* the group buffer (fused families) or one member's gradient and workspace */
  uint64_t *order;
  uint64_t *steps;
  unsigned char *active;
  double *loss;
  size_t f_cap, order_cap, steps_cap, active_cap, loss_cap;
} rt_cpu_scratch;
void rt_cpu_scratch_free(rt_cpu_scratch *s);

/* Integrates one shard visit of a GROUP (src/engine/groups.h): m models of family fam that share
 * every batch and stand at the same cursor (pass, position, batch_cursor), from that cursor on,
 * asking should_stop(user) (when not NULL) before each batch. The batches come in the group's one
 * order; a family with group operations (model.h) integrates each batch for all members at once,
 * others member by member (integrate_batch, or batch_gradient and the optimizer). *complete = 1
 * when the visit is complete (batch_cursor back to 0), 0 when it stopped with batch_cursor batches
 * of this visit done (every member alike), so that a later call continues exactly there. Only
 * the headers' counters and the members' parameters and optimizer state change. */
rt_code rt_cpu_integrate_group_visit(const rt_model_spec *const *specs, const rt_family *fam,
                                     void *const *states, size_t m, const rt_shard *shard,
                                     uint64_t shard_index, rt_cpu_scratch *scratch,
                                     int (*should_stop)(void *), void *user, int *complete,
                                     rt_status *st);

/* The same for one model (a group of one). */
rt_code rt_cpu_integrate_visit(const rt_model_spec *spec, const rt_family *fam, void *state,
                               const rt_shard *shard, uint64_t shard_index, rt_cpu_scratch *scratch,
                               int (*should_stop)(void *), void *user, int *complete,
                               rt_status *st);

/* A whole shard visit of one model, not stoppable. */
rt_code rt_cpu_integrate_shard(const rt_model_spec *spec, const rt_family *fam, void *state,
                               const rt_shard *shard, uint64_t shard_index, rt_cpu_scratch *scratch,
                               rt_status *st);

/* Adds the family's evaluation sums over a shard into sums[RT_EVAL_SUMS] (fixed row order, in
 * chunks of ws_rows; ws holds family->workspace_floats(spec, ws_rows) floats). */
void rt_cpu_evaluate_shard(const rt_model_spec *spec, const rt_family *fam, const void *state,
                           const rt_shard *shard, float *ws, size_t ws_rows, double *sums);

#endif
