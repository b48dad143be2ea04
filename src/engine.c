/* Each rank runs an event loop over the models that visit its shards. A model whose next shard is
 * local is integrated at once; otherwise its state is sent with MPI_Isend to the owner of the
 * next shard. Receives are posted ahead for every model that will visit again, so a rank holding
 * several models never idles while one is on the wire. The schedule is a pure function of
 * (model, pass, position, S, ranks): every rank knows how many visits it will serve, so the loop
 * ends without any termination protocol. With one rank the same loop is the sequential
 * reference. */
#include "engine.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "backend.h"
#include "ringtrain/profile.h"
#include "route.h"
#include "schedule.h"

enum slot_phase { SLOT_ABSENT = 0, SLOT_RECEIVING, SLOT_READY, SLOT_SENDING, SLOT_DONE };

typedef struct slot {
  void *state;
  uint64_t start, end;  /* passes done when this call starts; passes done when it ends */
  size_t bytes;
  enum slot_phase phase;
  uint64_t visits_here; /* shard visits still to serve on this rank */
  double sent_at;       /* MPI_Wtime of its MPI_Isend while SLOT_SENDING */
} slot;

typedef struct engine {
  const rt_config *cfg;
  const rt_model_spec *specs;
  size_t count;
  const rt_dataset *ds;
  MPI_Comm comm;
  int rank, ranks;
  slot *slots;
  MPI_Request *requests; /* one per model: its pending receive or send on this rank */
  size_t *queue;         /* ready models, FIFO ring */
  size_t queue_head, queue_len;
  uint64_t visits_left;
  size_t sends_pending;
  float *ws;
  uint64_t *order;
  rt_model_stats *stats;
  rt_progress_view *progress; /* rank 0 only, or NULL */
  rt_rank_time *time;         /* accumulated, or NULL */
} engine;

static int shard_owner(const engine *e, uint64_t shard) {
  return rt_shard_owner(shard, e->ds->shards, e->ranks);
}

static uint64_t current_shard(const rt_model_spec *spec, const rt_state_header *h) {
  return rt_route_shard(spec, h->pass, h->position);
}

static void push_ready(engine *e, size_t j) {
  e->queue[(e->queue_head + e->queue_len) % e->count] = j;
  e->queue_len++;
  e->slots[j].phase = SLOT_READY;
}

static size_t pop_ready(engine *e) {
  size_t j = e->queue[e->queue_head];
  e->queue_head = (e->queue_head + 1) % e->count;
  e->queue_len--;
  return j;
}

static rt_code post_receive(engine *e, size_t j, rt_status *st) {
  slot *s = &e->slots[j];
  if (!s->state) {
    s->state = aligned_alloc(RT_STATE_ALIGN, s->bytes);
    if (!s->state) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes for model %zu", s->bytes, j);
  }
  /* A model is in one place at a time, so (any source, tag = model id) is unambiguous. */
  RT_MPI_CHECK(st, MPI_Irecv(s->state, (int)s->bytes, MPI_BYTE, MPI_ANY_SOURCE, (int)j, e->comm,
                             &e->requests[j]));
  s->phase = SLOT_RECEIVING;
  return RT_OK;
}

/* Serves visits of model j while its next shard is local, then hands it on. */
static rt_code serve(engine *e, size_t j, rt_status *st) {
  slot *s = &e->slots[j];
  const rt_model_spec *spec = &e->specs[j];
  const rt_family *fam = rt_family_find(spec->hp.kind);
  const rt_state_layout layout = rt_state_layout_of(spec);
  rt_state_header *h = rt_state_head(s->state);
  if (h->magic != RT_STATE_MAGIC || h->model_id != spec->id)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "model %zu arrived with a damaged state header", j);
  const int64_t id = (int64_t)spec->id; /* profiling names models by their id in the config */
  for (;;) {
    const uint64_t shard = current_shard(spec, h);
    rt_prof_window_visit(e->cfg, (long)h->pass + 1);
    rt_prof_begin(RT_PHASE_INTEGRATE, id, (int64_t)h->pass + 1, (int64_t)shard);
    const double t0 = MPI_Wtime();
    rt_cpu_integrate_shard(spec, fam, s->state, &e->ds->train[shard], shard, e->ws, e->order);
    const double busy = MPI_Wtime() - t0;
    e->stats[j].seconds += busy;
    if (e->time) e->time->busy += busy;
    rt_prof_end(RT_PHASE_INTEGRATE);
    if (spec->eval_every_pass && e->ds->val[shard].rows > 0) {
      /* Validation along the ring: this shard's validation rows, right after integrating it. */
      rt_prof_begin(RT_PHASE_EVALUATE, id, (int64_t)h->pass + 1, (int64_t)shard);
      double *sums = rt_state_val_history(s->state, &layout) + h->pass * (RT_EVAL_SUMS + 1);
      rt_cpu_evaluate_shard(spec, fam, s->state, &e->ds->val[shard], e->ws, (size_t)spec->hp.batch_size, sums);
      sums[RT_EVAL_SUMS] += (double)e->ds->val[shard].rows;
      rt_prof_end(RT_PHASE_EVALUATE);
    }
    s->visits_here--;
    e->visits_left--;
    int done = 0;
    if (++h->position == rt_route_length(spec)) {
      double *history = rt_state_history(s->state, &layout);
      history[h->pass] = h->pass_loss_rows ? h->pass_loss_sum / (double)h->pass_loss_rows : 0.0;
      /* Finite batch losses can still add up to an overflow: that is divergence too. */
      if (!isfinite(history[h->pass])) h->diverged = 1;
      h->pass_loss_sum = 0.0;
      h->pass_loss_rows = 0;
      h->position = 0;
      done = ++h->pass == s->end;
    }
    if (e->progress) rt_progress_view_update(e->progress, spec, h);
    if (done) {
      s->phase = SLOT_DONE;
      return RT_OK;
    }
    const int next = shard_owner(e, current_shard(spec, h));
    if (next == e->rank) continue;
    rt_prof_mark(RT_PHASE_SEND, id, (int64_t)h->pass + 1, (int64_t)current_shard(spec, h));
    s->sent_at = MPI_Wtime();
    RT_MPI_CHECK(st, MPI_Isend(s->state, (int)s->bytes, MPI_BYTE, next, (int)j, e->comm, &e->requests[j]));
    s->phase = SLOT_SENDING;
    e->sends_pending++;
    e->stats[j].hops += 1;
    e->stats[j].bytes += (double)s->bytes;
    if (e->time) {
      e->time->sent += 1;
      e->time->bytes_sent += (double)s->bytes;
    }
    return RT_OK;
  }
}

static rt_code completed(engine *e, size_t j, rt_status *st) {
  slot *s = &e->slots[j];
  if (s->phase == SLOT_RECEIVING) {
    const rt_state_header *h = rt_state_head(s->state);
    rt_prof_mark(RT_PHASE_RECEIVE, (int64_t)e->specs[j].id, (int64_t)h->pass + 1,
                 (int64_t)current_shard(&e->specs[j], h));
    if (e->time) {
      e->time->received += 1;
      e->time->bytes_received += (double)s->bytes;
    }
    push_ready(e, j);
    return RT_OK;
  }
  if (s->phase == SLOT_SENDING) {
    const double latency = MPI_Wtime() - s->sent_at;
    e->stats[j].wire += latency;
    if (e->time) {
      e->time->latency_sum += latency;
      if (latency > e->time->latency_max) e->time->latency_max = latency;
    }
    e->sends_pending--;
    if (s->visits_here > 0) return post_receive(e, j, st);
    free(s->state);
    s->state = NULL;
    s->phase = SLOT_ABSENT;
    return RT_OK;
  }
  return RT_FAIL_AT(st, RT_ERR_INTERNAL, "request of model %zu completed in phase %d", j, (int)s->phase);
}

/* Handles finished requests; blocks only when `wait` is set (nothing ready to integrate). */
static rt_code progress(engine *e, int *indices, int wait, rt_status *st) {
  int n = 0;
  if (wait) {
    /* Nothing to integrate: the rank idles until a model arrives (or a send completes). */
    rt_prof_begin(RT_PHASE_RECEIVE, -1, -1, -1);
    const double t0 = MPI_Wtime();
    const int mpi_rc = MPI_Waitsome((int)e->count, e->requests, &n, indices, MPI_STATUSES_IGNORE);
    if (e->time) e->time->idle += MPI_Wtime() - t0;
    rt_prof_end(RT_PHASE_RECEIVE);
    if (mpi_rc != MPI_SUCCESS) return rt_mpi_fail(st, mpi_rc, __FILE__, __LINE__, "MPI_Waitsome");
  } else
    RT_MPI_CHECK(st, MPI_Testsome((int)e->count, e->requests, &n, indices, MPI_STATUSES_IGNORE));
  if (n == MPI_UNDEFINED)
    return wait ? RT_FAIL_AT(st, RT_ERR_INTERNAL, "rank %d waits but no hand-off is pending", e->rank) : RT_OK;
  for (int i = 0; i < n; ++i) {
    rt_code rc = completed(e, (size_t)indices[i], st);
    if (rc) return rc;
  }
  return RT_OK;
}

/* resume[j]: the state model j continues from (on every rank), or NULL for a fresh start. */
static rt_code setup(engine *e, void **resume, const uint64_t *pass_limits, rt_status *st) {
  const uint64_t S = e->ds->shards;
  size_t ws_floats = 0, max_batches = 1;
  for (size_t j = 0; j < e->count; ++j) {
    const rt_model_spec *spec = &e->specs[j];
    const rt_family *fam = rt_family_find(spec->hp.kind);
    const rt_state_layout l = rt_state_layout_of(spec);
    slot *s = &e->slots[j];
    s->bytes = l.total_bytes;
    if (l.total_bytes > (size_t)INT_MAX) /* MPI counts are int */
      return rt_fail(st, RT_ERR_CONFIG, "model %zu: its state is %zu bytes; hand-offs support at most %d",
                     j, l.total_bytes, INT_MAX);
    s->start = resume[j] ? rt_state_head(resume[j])->pass : 0;
    s->end = pass_limits && pass_limits[j] < spec->passes ? pass_limits[j] : spec->passes;
    for (uint64_t p = s->start; p < s->end; ++p)
      for (uint64_t k = 0; k < rt_route_length(spec); ++k)
        if (shard_owner(e, rt_route_shard(spec, p, k)) == e->rank) s->visits_here++;
    e->visits_left += s->visits_here;
    const size_t batch = (size_t)spec->hp.batch_size;
    const size_t need = l.param_count + fam->workspace_floats(spec, batch);
    if (need > ws_floats) ws_floats = need;
    for (uint64_t sh = 0; sh < S; ++sh) {
      const size_t nb = (size_t)((e->ds->train_rows[sh] + batch - 1) / batch);
      if (nb > max_batches) max_batches = nb;
    }
  }
  e->ws = aligned_alloc(RT_STATE_ALIGN, (ws_floats * sizeof(float) + 63) / 64 * 64);
  e->order = malloc(max_batches * sizeof *e->order);
  if (!e->ws || !e->order) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate engine workspace");
  for (size_t j = 0; j < e->count; ++j) {
    const rt_model_spec *spec = &e->specs[j];
    slot *s = &e->slots[j];
    if (s->start >= s->end) continue; /* nothing to do in this call */
    if (shard_owner(e, rt_route_shard(spec, s->start, 0)) == e->rank) {
      if (resume[j]) {
        s->state = aligned_alloc(RT_STATE_ALIGN, s->bytes);
        if (!s->state) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes", s->bytes);
        memcpy(s->state, resume[j], s->bytes);
      } else {
        rt_code rc = rt_engine_new_state(spec, e->ds, &s->state, st);
        if (rc) return rc;
      }
      push_ready(e, j);
    } else if (s->visits_here > 0) {
      rt_code rc = post_receive(e, j, st);
      if (rc) return rc;
    }
  }
  return RT_OK;
}

/* The rank that holds model j's state after its last visit. */
rt_code rt_engine_new_state(const rt_model_spec *spec, const rt_dataset *ds, void **state,
                            rt_status *st) {
  size_t bytes = 0;
  rt_code rc = rt_state_create(spec, state, &bytes, st);
  if (rc) return rc;
  const rt_family *fam = rt_family_find(spec->hp.kind);
  if (fam->init_from_data) {
    const rt_state_layout l = rt_state_layout_of(spec);
    const uint64_t first = rt_route_shard(spec, 0, 0);
    fam->init_from_data(spec, rt_state_head(*state)->rng_key, rt_state_params(*state, &l),
                        rt_state_aux(*state, &l), &ds->train[first]);
  }
  return RT_OK;
}

int rt_final_owner_at(const rt_model_spec *spec, uint64_t end_pass, uint64_t shards, int ranks) {
  return rt_shard_owner(rt_route_shard(spec, end_pass - 1, rt_route_length(spec) - 1), shards, ranks);
}

int rt_final_owner(const rt_model_spec *spec, uint64_t shards, int ranks) {
  return rt_final_owner_at(spec, spec->passes, shards, ranks);
}

rt_code rt_engine_share_final(const rt_model_spec *specs, size_t count, const rt_dataset *ds,
                              MPI_Comm comm, void **finished, void **states, rt_status *st) {
  for (size_t j = 0; j < count; ++j) {
    const size_t bytes = rt_state_layout_of(&specs[j]).total_bytes;
    const int root = rt_final_owner(&specs[j], ds->shards, ds->ranks);
    if (root == ds->rank) {
      if (!finished[j]) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "model %zu did not finish on rank %d", j, root);
      states[j] = finished[j];
      finished[j] = NULL;
    } else {
      states[j] = aligned_alloc(RT_STATE_ALIGN, bytes);
      if (!states[j]) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes", bytes);
    }
    RT_MPI_CHECK(st, MPI_Bcast(states[j], (int)bytes, MPI_BYTE, root, comm));
  }
  return RT_OK;
}

/* Every rank gets every final state (evaluation runs where the validation shards live); models
 * with nothing to do in this call keep the state they came with. */
static rt_code gather_final(engine *e, void **states, rt_status *st) {
  for (size_t j = 0; j < e->count; ++j) {
    slot *s = &e->slots[j];
    if (s->start >= s->end) continue;
    const int root = rt_final_owner_at(&e->specs[j], s->end, e->ds->shards, e->ranks);
    if (root == e->rank) {
      if (s->phase != SLOT_DONE)
        return RT_FAIL_AT(st, RT_ERR_INTERNAL, "model %zu did not finish on rank %d", j, root);
      states[j] = s->state;
      s->state = NULL;
    } else {
      states[j] = aligned_alloc(RT_STATE_ALIGN, s->bytes);
      if (!states[j]) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes", s->bytes);
    }
    RT_MPI_CHECK(st, MPI_Bcast(states[j], (int)s->bytes, MPI_BYTE, root, e->comm));
  }
  return RT_OK;
}

static void engine_free(engine *e) {
  if (e->slots)
    for (size_t j = 0; j < e->count; ++j) free(e->slots[j].state);
  free(e->slots);
  free(e->requests);
  free(e->queue);
  free(e->ws);
  free(e->order);
}

rt_code rt_engine_run(const rt_config *cfg, const rt_model_spec *specs, size_t model_count,
                      const rt_dataset *ds, MPI_Comm comm, void **states, rt_model_stats *stats,
                      const uint64_t *pass_limits, rt_progress_view *view,
                      rt_rank_time *rank_time, rt_status *st) {
  engine e = {.progress = view && view->fn ? view : NULL, .time = rank_time, .cfg = cfg, .specs = specs,
              .count = model_count, .ds = ds, .comm = comm, .stats = stats};
  e.rank = ds->rank;
  e.ranks = ds->ranks;
  e.slots = calloc(model_count, sizeof *e.slots);
  e.requests = malloc(model_count * sizeof *e.requests);
  e.queue = malloc(model_count * sizeof *e.queue);
  int *indices = malloc(model_count * sizeof *indices);
  rt_code rc = RT_OK;
  if (!e.slots || !e.requests || !e.queue || !indices)
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate engine tables for %zu models", model_count);
  for (size_t j = 0; rc == RT_OK && j < model_count; ++j) e.requests[j] = MPI_REQUEST_NULL;
  if (rc == RT_OK) rc = setup(&e, states, pass_limits, st);
  /* The resumed states were copied where they continue; models that move on are replaced. */
  for (size_t j = 0; rc == RT_OK && j < model_count; ++j)
    if (states[j] && e.slots[j].start < e.slots[j].end) {
      rt_state_free(states[j]);
      states[j] = NULL;
    }
  while (rc == RT_OK && (e.visits_left > 0 || e.sends_pending > 0)) {
    if (e.queue_len > 0) {
      rc = serve(&e, pop_ready(&e), st);
      if (rc == RT_OK) rc = progress(&e, indices, 0, st);
    } else {
      rc = progress(&e, indices, 1, st);
    }
  }
  if (cfg->run.profile_first > 0) rt_prof_capture(0);
  if (rc == RT_OK) rc = gather_final(&e, states, st);
  free(indices);
  engine_free(&e);
  return rc;
}
