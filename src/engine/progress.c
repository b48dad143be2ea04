/* Rank 0's running estimate of a sweep's progress (see rt_progress in include/ringtrain/train.h). */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "route.h"

rt_code rt_progress_view_init(rt_progress_view *v, const rt_model_spec *specs, size_t count,
                              rt_progress_fn fn, void *user, rt_status *st) {
  memset(v, 0, sizeof *v);
  if (!fn) return RT_OK;
  v->seen_visits = calloc(count ? count : 1, sizeof *v->seen_visits);
  v->seen_samples = calloc(count ? count : 1, sizeof *v->seen_samples);
  if (!v->seen_visits || !v->seen_samples) {
    rt_progress_view_free(v);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate progress counters");
  }
  v->fn = fn;
  v->user = user;
  v->specs = specs;
  v->p.models = count;
  for (size_t j = 0; j < count; ++j)
    v->p.visits_total += specs[j].passes * rt_route_length(&specs[j]);
  v->start = MPI_Wtime();
  return RT_OK;
}

void rt_progress_view_update(rt_progress_view *v, const rt_model_spec *spec,
                             const rt_state_header *h) {
  if (!v->fn) return;
  const size_t j = (size_t)(spec - v->specs); /* its slot: ids of the run may have gaps */
  const uint64_t visits = h->pass * rt_route_length(spec) + h->position;
  if (visits <= v->seen_visits[j]) return;
  if (v->seen_visits[j] == 0) v->p.models_in_flight++;
  v->p.visits_done += visits - v->seen_visits[j];
  v->p.samples += h->samples - v->seen_samples[j];
  v->seen_visits[j] = visits;
  v->seen_samples[j] = h->samples;
  if (h->pass == spec->passes) {
    v->p.models_done++;
    v->p.models_in_flight--;
  }
  v->p.elapsed = MPI_Wtime() - v->start;
  v->fn(&v->p, v->user);
}

void rt_progress_view_finish(rt_progress_view *v) {
  if (!v->fn) return;
  v->p.models_done = v->p.models;
  v->p.models_in_flight = 0;
  v->p.visits_done = v->p.visits_total;
  v->p.elapsed = MPI_Wtime() - v->start;
  v->p.final = 1;
  v->fn(&v->p, v->user);
}

void rt_progress_view_free(rt_progress_view *v) {
  free(v->seen_visits);
  free(v->seen_samples);
  memset(v, 0, sizeof *v);
}
