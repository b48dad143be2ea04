/* The ring engine on GPUs. Shards live in device memory for the whole run; every model has a
 * slot (its own CUDA stream, cuBLAS handle, device state buffer) on every rank it visits; states
 * move between ranks with NCCL send/recv.
 *
 * Schedule: rounds. In round t every model makes its t-th shard visit (pass t / n, position
 * t % S); a rank integrates, on each model's own stream, the models whose round-t shard it owns,
 * so its models run concurrently on the GPU. Then come the hand-offs from round t to t+1.
 *
 * The NCCL ordering rule (it is what prevents the known deadlocks): all hand-offs go through ONE
 * communicator and ONE communication stream per rank, and every rank issues them in the same
 * global order: round by round, and within a round by model id; a rank's sends and receives of
 * one round sit in one ncclGroupStart/End. Proof that this cannot deadlock even if every hand-off
 * were its own blocking group: take the first hand-off (in that order) not yet complete; both its
 * sender and receiver have issued every earlier hand-off they take part in, and those are
 * complete, so both sit at this one and it completes. NCCL work on several streams of one communicator, whose relative order the device
 * does not guarantee, never happens. Ordering between a model's stream and the communication
 * stream uses events (rt_cuda_stream_order). The host never waits for the device on the way: it
 * needs an arriving model's header (pass, step) to issue its next visit, and derives it from the
 * schedule (a shadow header per model, advanced every round on every rank, and checked against
 * the slot's own header wherever the model actually ran).
 *
 * The host runs ahead of the device (it issues round t+1 while round t computes), with one
 * exception: before it issues work on a model that arrived by NCCL it waits, polling, for the
 * hand-offs that brought it (rt_nccl_wait_stream on the communication stream). So no kernel is
 * ever queued behind a transfer that has not landed, and no CUDA call of the host can block on a
 * peer: the host waits only in polling waits, which see the other ranks' failure notices.
 *
 * Errors: a rank that fails anywhere after the NCCL communicators exist goes straight to
 * rt_nccl_close, which aborts its communicators and tells the other ranks first, then agrees on the
 * outcome (cuda/rt_nccl.cu explains the order); the other ranks stop at their next wait and do the
 * same. The device is the one rt_backend_select made current (a GPU of its own per rank).
 *
 * The schedule, the batch order and the arithmetic are those of the CPU engine, so the final
 * state is the same whatever the number of ranks; CPU vs CUDA agree to rounding (tests/gpu). */
#include "engine.h"

#if RINGTRAIN_WITH_CUDA

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "fail_watch.h"
#include "handoff_plan.h"
#include "ringtrain/profile.h"
#include "ringtrain/stop.h"
#include "rt_cuda.h"
#include "route.h"
#include "schedule.h"

typedef struct cuda_engine {
  rt_progress_view *progress; /* rank 0's, or NULL */
  const rt_config *cfg;
  const rt_model_spec *specs;
  size_t count;
  const rt_dataset *ds;
  MPI_Comm comm;
  int rank, ranks;
  rt_cuda_shard **shards;  /* [S]; owned training shards only */
  rt_cuda_shard **val;     /* [S]; owned validation shards only */
  rt_state_header *shadow; /* [count]: every model's host-owned header fields, on every rank */
  rt_cuda_slot **slots;    /* [count] */
  void *comm_stream;
  rt_nccl *nccl; /* NULL with one rank */
  rt_model_stats *stats;
} cuda_engine;

/* The shard of a model's visit in round t, and its owner. */
static uint64_t round_shard(const rt_model_spec *spec, uint64_t round) {
  const uint64_t n = rt_route_length(spec);
  return rt_route_shard(spec, round / n, round % n);
}

static int owner(const cuda_engine *e, const rt_model_spec *spec, uint64_t round) {
  return rt_shard_owner(round_shard(spec, round), e->ds->shards, e->ranks);
}

static uint64_t rounds_of(const rt_model_spec *spec) {
  return spec->passes * rt_route_length(spec);
}

/* Device memory for the owned training shards and one slot per model, checked before allocating
 * any of it, so a job that does not fit stops with one clear message on every rank. */
static rt_code check_memory(const cuda_engine *e, rt_status *st) {
  size_t need = 0;
  for (size_t s = 0; s < e->ds->shards; ++s)
    if (rt_shard_owner(s, e->ds->shards, e->ranks) == e->rank)
      need += rt_cuda_shard_bytes(e->ds->train[s].rows, e->ds->features, 1) +
              rt_cuda_shard_bytes(e->ds->val[s].rows, e->ds->features, 1);
  for (size_t j = 0; j < e->count; ++j) {
    const rt_model_spec *spec = &e->specs[j];
    const size_t batch = (size_t)spec->hp.batch_size;
    need += rt_cuda_slot_bytes(rt_state_layout_of(spec).total_bytes, batch, e->ds->features,
                               e->ds->classes, rt_cuda_work_floats(spec, batch));
  }
  return rt_cuda_check_fits(need, "the training and validation shards and model slots", st);
}

static rt_code setup_device(cuda_engine *e, rt_status *st);

static rt_code setup(cuda_engine *e, rt_status *st) {
  rt_prof_begin(RT_PHASE_LOAD, -1, -1, -1);
  rt_code rc = setup_device(e, st);
  rt_prof_end(RT_PHASE_LOAD);
  return rc;
}

/* Shards and slots on this rank's device (the one rt_backend_select made current). */
static rt_code load_device(cuda_engine *e, rt_status *st) {
  rt_code rc = rt_cuda_stream_create(&e->comm_stream, st);
  for (size_t s = 0; rc == RT_OK && s < e->ds->shards; ++s) {
    if (rt_shard_owner(s, e->ds->shards, e->ranks) != e->rank) continue;
    rc = rt_cuda_shard_upload(&e->ds->train[s], e->comm_stream, &e->shards[s], st);
    if (rc == RT_OK) rc = rt_cuda_shard_upload(&e->ds->val[s], e->comm_stream, &e->val[s], st);
  }
  for (size_t j = 0; rc == RT_OK && j < e->count; ++j) {
    const rt_model_spec *spec = &e->specs[j];
    const size_t batch = (size_t)spec->hp.batch_size;
    rc = rt_cuda_slot_create(rt_state_layout_of(spec).total_bytes, batch, e->ds->features,
                             e->ds->classes, rt_cuda_work_floats(spec, batch), &e->slots[j], st);
  }
  return rc;
}

static rt_code setup_device(cuda_engine *e, rt_status *st) {
  /* Known on every rank alike, before any device work. */
  for (size_t j = 0; j < e->count; ++j)
    if (rt_cuda_work_floats(&e->specs[j], (size_t)e->specs[j].hp.batch_size) == 0)
      return rt_fail(st, RT_ERR_CONFIG,
                     "run.backend is cuda, but the CUDA backend has no kernels for "
                     "kind '%s' (model %zu); use run.backend: cpu",
                     e->specs[j].hp.kind, j);
  for (size_t j = 0; j < e->count; ++j) rt_state_header_init(&e->specs[j], &e->shadow[j]);
  rt_code rc = check_memory(e, st);
  RT_TRY(rc, rt_agree_origin(e->comm, rc, st));
  /* Every rank loads, then all agree before the collective NCCL set-up. */
  rc = rt_agree_origin(e->comm, load_device(e, st), st);
  if (rc == RT_OK && e->ranks > 1)
    rc = rt_nccl_init(e->comm, 1, (double)e->cfg->run.timeout, &e->nccl, st);
  return rc;
}

/* 1 when model `spec` came to this rank by NCCL after round t - 1. */
static int arrived(const cuda_engine *e, const rt_model_spec *spec, uint64_t t) {
  int from, to;
  return t > 0 && rt_handoff_after(spec, t - 1, e->ds->shards, e->ranks, &from, &to) &&
         to == e->rank;
}

/* A model's first state, uploaded through its slot's staging buffer (then freed at once). */
static rt_code upload_initial(cuda_engine *e, size_t j, rt_status *st) {
  void *state = NULL;
  rt_code rc = rt_engine_new_state(&e->specs[j], e->ds, &state, st);
  if (rc == RT_OK)
    rc = rt_cuda_state_upload(e->slots[j], state, rt_state_layout_of(&e->specs[j]).total_bytes, st);
  rt_state_free(state);
  return rc;
}

/* Model j's visit of round t, issued on its slot's stream. */
static rt_code visit(cuda_engine *e, size_t j, uint64_t t, rt_status *st) {
  const rt_model_spec *spec = &e->specs[j];
  const uint64_t shard = round_shard(spec, t);
  const uint64_t n = rt_route_length(spec);
  rt_prof_window_visit(e->cfg, (long)(t / n) + 1);
  rt_prof_begin(RT_PHASE_INTEGRATE, (int64_t)j, (int64_t)(t / n) + 1, (int64_t)shard);
  const double t0 = MPI_Wtime();
  rt_code rc = rt_cuda_integrate_shard(e->slots[j], spec, e->shards[shard], shard, st);
  int done = 0;
  if (rc == RT_OK) rc = rt_cuda_finish_visit(e->slots[j], spec, n, &done, st);
  e->stats[j].seconds += MPI_Wtime() - t0; /* host time issuing the visit; the GPU runs on */
  rt_prof_end(RT_PHASE_INTEGRATE);
  return rc;
}

/* Round t on this rank: every model whose round-t shard is local integrates it on its stream.
 * Models that stayed here go first; those that arrived by NCCL after round t - 1 only once those
 * hand-offs have landed (see the top of this file). */
static rt_code integrate_round(cuda_engine *e, uint64_t t, rt_status *st) {
  char what[96];
  snprintf(what, sizeof what, "the NCCL hand-offs before round %" PRIu64, t + 1);
  for (int late = 0; late < 2; ++late)
    for (size_t j = 0; j < e->count; ++j) {
      const rt_model_spec *spec = &e->specs[j];
      if (t >= rounds_of(spec) || owner(e, spec, t) != e->rank || arrived(e, spec, t) != late)
        continue;
      rt_code rc = RT_OK;
      if (late && what[0]) { /* once per round */
        RT_TRY(rc, rt_nccl_wait_stream(e->nccl, e->comm_stream, what, st));
        what[0] = '\0';
      }
      if (t == 0) RT_TRY(rc, upload_initial(e, j, st));
      RT_TRY(rc, visit(e, j, t, st));
    }
  return RT_OK;
}

/* Every rank advances every model's shadow header by its round-t visit, and checks it against the
 * slot's header where the model ran: the two must agree field by field. */
static rt_code advance_shadows(cuda_engine *e, uint64_t t, rt_status *st) {
  for (size_t j = 0; j < e->count; ++j) {
    const rt_model_spec *spec = &e->specs[j];
    if (t >= rounds_of(spec)) continue;
    const uint64_t shard = round_shard(spec, t);
    rt_state_header *h = &e->shadow[j];
    rt_state_header_advance(h, e->ds->train_rows[shard], (uint64_t)spec->hp.batch_size,
                            rt_route_length(spec));
    /* The schedule tells rank 0 exactly where every model is. */
    if (e->progress) rt_progress_view_update(e->progress, spec, h);
    if (owner(e, spec, t) != e->rank) continue;
    const rt_state_header *m = rt_cuda_slot_header(e->slots[j]);
    if (m->pass != h->pass || m->position != h->position || m->step != h->step ||
        m->samples != h->samples || m->pass_loss_rows != h->pass_loss_rows)
      return RT_FAIL_AT(
          st, RT_ERR_INTERNAL,
          "model %zu after round %llu: slot header (pass %llu, step %llu) and schedule "
          "(pass %llu, step %llu) disagree",
          j, (unsigned long long)t, (unsigned long long)m->pass, (unsigned long long)m->step,
          (unsigned long long)h->pass, (unsigned long long)h->step);
  }
  return RT_OK;
}

/* Hand-offs from round t to t+1, in model order on the one communication stream (the order of
 * rt_handoff_plan, src/engine/handoff_plan.h, checked by tests/unit/test_handoff_plan.c), all of
 * this rank's sends and receives of the round inside one NCCL group. */
static rt_code handoffs(cuda_engine *e, uint64_t t, rt_status *st) {
  rt_code rc = RT_OK;
  int grouped = 0;
  for (size_t j = 0; rc == RT_OK && j < e->count; ++j) {
    int from, to;
    if (!rt_handoff_after(&e->specs[j], t, e->ds->shards, e->ranks, &from, &to)) continue;
    if (e->rank != from && e->rank != to) continue;
    if (!grouped) RT_TRY(rc, rt_nccl_group_start(st));
    grouped = 1;
    rt_cuda_slot *slot = e->slots[j];
    const size_t bytes = rt_state_layout_of(&e->specs[j]).total_bytes;
    rt_prof_mark(e->rank == from ? RT_PHASE_SEND : RT_PHASE_RECEIVE, (int64_t)j,
                 (int64_t)((t + 1) / rt_route_length(&e->specs[j])) + 1, -1);
    if (e->rank == from) {
      /* The send starts once the model's stream has finished its visit. */
      rc = rt_cuda_stream_order(rt_cuda_slot_stream(slot), e->comm_stream, st);
      if (rc == RT_OK)
        rc = rt_nccl_handoff(e->nccl, 0, rt_cuda_slot_state(slot), bytes, to, NULL, 0, -1,
                             e->comm_stream, st);
      e->stats[j].hops += 1;
      e->stats[j].bytes += (double)bytes;
    } else {
      rc = rt_nccl_handoff(e->nccl, 0, NULL, 0, -1, rt_cuda_slot_state(slot), bytes, from,
                           e->comm_stream, st);
    }
  }
  if (grouped) {
    const rt_code end = rt_nccl_group_end(e->nccl, st); /* closed whatever happened inside */
    if (rc == RT_OK) rc = end;
  }
  /* Arrivals, after the group has launched: the model's stream waits for the receive, and the
   * header the next visit needs comes from the schedule, not from the device. */
  for (size_t j = 0; rc == RT_OK && j < e->count; ++j) {
    int from, to;
    if (!rt_handoff_after(&e->specs[j], t, e->ds->shards, e->ranks, &from, &to) || e->rank != to)
      continue;
    rc = rt_cuda_stream_order(e->comm_stream, rt_cuda_slot_stream(e->slots[j]), st);
    if (rc == RT_OK)
      rc = rt_cuda_state_arrive(e->slots[j], rt_state_layout_of(&e->specs[j]).total_bytes,
                                &e->shadow[j], st);
  }
  if (rc == RT_OK && e->nccl) rc = rt_nccl_poll(e->nccl, st);
  return rc;
}

/* Finished models come back to host memory on the rank where they finished: every download is
 * issued first (through the slots' pinned staging buffers), then each slot is waited for. */
static rt_code download_final(cuda_engine *e, void **finished, rt_status *st) {
  rt_code rc = RT_OK;
  for (size_t j = 0; rc == RT_OK && j < e->count; ++j) {
    if (rt_final_owner(&e->specs[j], e->ds->shards, e->ranks) != e->rank) continue;
    const size_t bytes = rt_state_layout_of(&e->specs[j]).total_bytes;
    finished[j] = aligned_alloc(RT_STATE_ALIGN, bytes);
    if (!finished[j]) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes", bytes);
    rc = rt_cuda_state_download(e->slots[j], finished[j], bytes, st);
  }
  return rc;
}

/* Everything issued on this rank has finished (polling: a stream may wait for a peer). */
static rt_code drain(cuda_engine *e, rt_status *st) {
  rt_code rc = rt_nccl_wait_stream(e->nccl, e->comm_stream, "the last NCCL hand-offs", st);
  for (size_t j = 0; rc == RT_OK && j < e->count; ++j)
    rc =
        rt_nccl_wait_stream(e->nccl, rt_cuda_slot_stream(e->slots[j]), "the last shard visits", st);
  return rc;
}

/* Validation sums of every model on this rank's device-resident validation shards: the final
 * states (on every rank after rt_engine_share_final) go back into their slots. */
static rt_code evaluate(cuda_engine *e, void **states, double *val_sums, rt_status *st) {
  const size_t S = e->ds->shards;
  size_t rows = 0;
  for (size_t s = 0; s < S; ++s) rows += e->val[s] ? rt_cuda_shard_rows(e->val[s]) : 0;
  if (rows == 0) return RT_OK; /* no validation rows on this rank */
  rt_code rc;
  for (size_t j = 0; j < e->count; ++j) {
    const size_t bytes = rt_state_layout_of(&e->specs[j]).total_bytes;
    RT_TRY(rc, rt_cuda_state_upload(e->slots[j], states[j], bytes, st));
    for (size_t s = 0; s < S; ++s) {
      if (!e->val[s] || rt_cuda_shard_rows(e->val[s]) == 0) continue;
      double *out = val_sums + (j * S + s) * RT_EVAL_SUMS; /* the family's sums, added */
      RT_TRY(rc, rt_cuda_evaluate_shard(e->slots[j], &e->specs[j], e->val[s], out, st));
    }
    RT_TRY(rc, rt_cuda_slot_sync(e->slots[j], st)); /* nothing left in flight */
  }
  return RT_OK;
}

/* Families that finish after the last pass (linear exact: the solve) do it here, on the host, on
 * every rank alike (each holds every final state after rt_engine_share_final), so the device
 * evaluation sees the finished models; rt_train does not finish them again on the CUDA path. A
 * diverged model is left as it is (as train.c's finish_models does). */
static rt_code finish_final(const cuda_engine *e, void **states, rt_status *st) {
  for (size_t j = 0; j < e->count; ++j) {
    const rt_family *fam = rt_family_find(e->specs[j].hp.kind);
    if (!fam || !fam->finish || rt_state_head(states[j])->diverged) continue;
    const rt_state_layout l = rt_state_layout_of(&e->specs[j]);
    const rt_code rc =
        fam->finish(&e->specs[j], rt_state_params(states[j], &l), rt_state_aux(states[j], &l), st);
    if (rc) return rc;
  }
  return RT_OK;
}

/* After rt_nccl_close (the communicators are gone, so no stream waits for a peer any more). The
 * slots' streams are synchronised before their memory goes, so pending host copies of downloads
 * land before the caller frees their destinations. */
static void engine_free(cuda_engine *e) {
  for (size_t j = 0; e->slots && j < e->count; ++j) rt_cuda_slot_free(e->slots[j]);
  for (size_t s = 0; e->shards && s < e->ds->shards; ++s) rt_cuda_shard_free(e->shards[s]);
  for (size_t s = 0; e->val && s < e->ds->shards; ++s) rt_cuda_shard_free(e->val[s]);
  rt_cuda_stream_destroy(e->comm_stream);
  free(e->slots);
  free(e->shards);
  free(e->val);
  free(e->shadow);
}

/* val_sums has RT_EVAL_SUMS doubles per (model, shard). */
rt_code rt_engine_run_cuda(const rt_config *cfg, const rt_model_spec *specs, size_t count,
                           const rt_dataset *ds, MPI_Comm comm, void **states,
                           rt_model_stats *stats, double *val_sums, rt_progress_view *progress,
                           rt_status *st) {
  cuda_engine e = {.progress = progress && progress->fn ? progress : NULL,
                   .cfg = cfg,
                   .specs = specs,
                   .count = count,
                   .ds = ds,
                   .comm = comm,
                   .stats = stats,
                   .rank = ds->rank,
                   .ranks = ds->ranks};
  e.slots = calloc(count, sizeof *e.slots);
  e.shards = calloc(ds->shards, sizeof *e.shards);
  e.val = calloc(ds->shards, sizeof *e.val);
  e.shadow = calloc(count, sizeof *e.shadow);
  void **finished = calloc(count, sizeof *finished);
  rt_code rc = RT_OK;
  if (!e.slots || !e.shards || !e.val || !e.shadow || !finished)
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate CUDA engine tables for %zu models", count);
  rc = rt_agree_origin(comm, rc, st);
  if (rc == RT_OK) rc = setup(&e, st); /* agreed on every rank */
  uint64_t rounds = 0;
  for (size_t j = 0; j < count; ++j)
    if (rounds_of(&specs[j]) > rounds) rounds = rounds_of(&specs[j]);
  for (uint64_t t = 0; rc == RT_OK && t < rounds; ++t) {
    rc = integrate_round(&e, t, st);
    if (rc == RT_OK) rc = advance_shadows(&e, t, st);
    if (rc == RT_OK) rc = handoffs(&e, t, st);
    /* No checkpoints on this engine yet: a stop request ends the job (MPI_Abort by the CLI). */
    if (rc == RT_OK && rt_stop_pending() == RT_STOP_EXIT)
      rc = rt_fail(st, RT_ERR_IO,
                   "stopped by a signal in round %" PRIu64 " of %" PRIu64
                   ": the CUDA engine cannot write checkpoints yet, nothing was saved",
                   t + 1, rounds);
  }
  if (cfg->run.profile_first > 0) rt_prof_capture(0);
  if (rc == RT_OK) rc = download_final(&e, finished, st);
  if (rc == RT_OK) rc = drain(&e, st);
  /* The one collective of the NCCL phase, also after an error (which aborts first). */
  rc = rt_nccl_close(e.nccl, rc, st);
  e.nccl = NULL;
  if (rc == RT_OK) rc = rt_engine_share_final(specs, count, ds, comm, finished, states, st);
  if (rc == RT_OK) rc = finish_final(&e, states, st);
  if (rc == RT_OK) {
    rt_prof_begin(RT_PHASE_EVALUATE, -1, -1, -1);
    rc = evaluate(&e, states, val_sums, st);
    rt_prof_end(RT_PHASE_EVALUATE);
  }
  rc = rt_agree_origin(comm, rc, st);
  engine_free(&e); /* before `finished` goes: see engine_free */
  for (size_t j = 0; finished && j < count; ++j) free(finished[j]);
  free(finished);
  return rc;
}

#endif /* RINGTRAIN_WITH_CUDA */
