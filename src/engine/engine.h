/* The ring engine: moves model states between ranks and has a backend (CPU or CUDA) integrate
 * their shard visits. */
#ifndef RINGTRAIN_ENGINE_H
#define RINGTRAIN_ENGINE_H

#include <mpi.h>

#include "backend.h"
#include "dataset.h"
#include "groups.h"
#include "model.h"
#include "ringtrain/train.h"

/* Per-model bookkeeping each rank keeps; summed over ranks at the end. */
typedef struct rt_model_stats {
  double seconds; /* integrating */
  double hops;    /* hand-offs sent */
  double bytes;   /* state bytes sent */
  double wire;    /* hand-off latency as the sender sees it: MPI_Isend until this rank sees the
                      request complete (polled between shard visits: an upper bound, coarse by
                      about one visit), summed */
} rt_model_stats;
#define RT_MODEL_STATS_DOUBLES (sizeof(rt_model_stats) / sizeof(double))

/* Runs every model through cfg->run.passes passes of its succession. On return (RT_OK) this rank
 * holds the final state of every model in states[j] (sent by the rank where it finished as soon
 * as it finished) and stats[j] holds this rank's share of the bookkeeping. */
typedef struct rt_progress_view rt_progress_view;

/* This rank's time and hand-offs, accumulated over engine calls. All doubles, so
 * that it travels as RT_RANK_TIME_DOUBLES MPI_DOUBLEs. */
typedef struct rt_rank_time {
  double busy;           /* integrating */
  double idle;           /* waiting in MPI_Waitsome for a model to arrive */
  double final;          /* after its last visit of an engine call: waiting for the final states
                            still on the wire (engine.c, final_states.h) */
  double sent, received; /* hand-offs */
  double bytes_sent, bytes_received;
  double latency_sum, latency_max; /* of the hand-offs sent: MPI_Isend until completion seen */
} rt_rank_time;
#define RT_RANK_TIME_DOUBLES (sizeof(rt_rank_time) / sizeof(double))

/* The one engine of both backends (engine.c). groups: the run's model groups (groups.h; NULL:
 * every model alone): the members of a group that stand at the same visit on a rank integrate it
 * together (backend->integrate); each member's bytes are what it would be alone. backend: the
 * backend this rank integrates and evaluates with (backend.h), opened by the caller for the whole
 * run; specs[j].id indexes the model table it was opened with.
 * pass_limits[j]: train model j until it has done that many passes (NULL: all its passes). states[j] may
 * come in non-NULL on every rank alike: model j then resumes from that state at its cursor (pass,
 * position and batch_cursor of its header; a model stopped inside a pass finishes that pass even
 * when its limit is lower) and the engine frees it. A model already at its limit keeps its state
 * untouched. progress: rank 0's view (NULL elsewhere or for none).
 * *stopped: 0 when every model reached its limit; else the rt_stop_kind every rank agreed on after
 * a stop request (include/ringtrain/stop.h), and states[] hold every model where it stopped (the
 * consistent cut: on every rank alike, cursor included). cfg->run.timeout arms the watchdog:
 * RT_ERR_TIMEOUT names the stuck model, pass and ranks. RINGTRAIN_FAULT (src/engine/fault.h)
 * injects faults at hand-offs. */
rt_code rt_engine_run(const rt_config *cfg, const rt_model_spec *specs, size_t model_count,
                      const rt_dataset *ds, MPI_Comm comm, void **states, rt_model_stats *stats,
                      const uint64_t *pass_limits, const rt_groups *groups, rt_backend *backend,
                      rt_progress_view *progress, rt_rank_time *rank_time, int *stopped,
                      rt_status *st);

/* Rank 0's view of the run for rt_progress_fn (see include/ringtrain/train.h). */
struct rt_progress_view {
  rt_progress_fn fn;
  void *user;
  rt_progress p;
  const rt_model_spec *specs; /* the run's specs: updates pass pointers into this array */
  uint64_t *seen_visits;      /* [models]: pass * S + position as last seen */
  uint64_t *seen_samples;     /* [models] */
  double start;
};

rt_code rt_progress_view_init(rt_progress_view *v, const rt_model_spec *specs, size_t count,
                              rt_progress_fn fn, void *user, rt_status *st);
/* Records what a visit on rank 0 showed of a model, and reports (rate-limiting is the caller's). */
void rt_progress_view_update(rt_progress_view *v, const rt_model_spec *spec,
                             const rt_state_header *h);
void rt_progress_view_finish(rt_progress_view *v);
void rt_progress_view_free(rt_progress_view *v);

/* A fresh state for a model, on the rank that owns the first shard of its succession: initialised
 * from the RNG, then from that shard when the family needs data (k-means++). */
rt_code rt_engine_new_state(const rt_model_spec *spec, const rt_dataset *ds, void **state,
                            rt_status *st);

/* The rank that holds a model's state after its last visit (of all passes, or of pass end-1). */
int rt_final_owner(const rt_model_spec *spec, uint64_t shards, int ranks);
int rt_final_owner_at(const rt_model_spec *spec, uint64_t end_pass, uint64_t shards, int ranks);

/* Every model's final state to every rank, from the rank where it finished: finished[j] is the
 * state there (NULL elsewhere) and is moved into states[j]; other ranks get a copy in states[j].
 * All models at once (non-blocking sends and probed receives, final_states.h), not one broadcast
 * after another. */
rt_code rt_engine_share_final(const rt_model_spec *specs, size_t model_count, const rt_dataset *ds,
                              MPI_Comm comm, void **finished, void **states, rt_status *st);

#endif
