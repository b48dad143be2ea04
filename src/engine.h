/* The ring engine: moves model states between ranks and integrates shard visits. */
#ifndef RINGTRAIN_ENGINE_H
#define RINGTRAIN_ENGINE_H

#include <mpi.h>

#include "dataset.h"
#include "model.h"

/* Per-model bookkeeping each rank keeps; summed over ranks at the end. */
typedef struct rt_model_stats {
  double seconds;  /* integrating */
  double hops;     /* hand-offs sent */
  double bytes;    /* state bytes sent */
} rt_model_stats;

/* Runs every model through cfg->run.passes passes of its succession. On return (RT_OK) this rank
 * holds the final state of every model in states[j] (broadcast from the rank where it finished)
 * and stats[j] holds this rank's share of the bookkeeping. */
rt_code rt_engine_run(const rt_model_spec *specs, size_t model_count, const rt_dataset *ds,
                      MPI_Comm comm, void **states, rt_model_stats *stats, rt_status *st);

#endif
