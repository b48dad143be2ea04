/* The one engine of both backends. How a model moves: its state (header with the cursor, history,
 * parameters, optimizer state: one flat buffer) lives in host memory on the rank that holds it.
 * On arrival it waits in this rank's ready queue; when the members of its group that come to the
 * same visit are here too, the backend (backend.h: the CPU, or CUDA, which stages the members'
 * states to the device for the visit and back) integrates the group visit batch by batch (an
 * asynchronous backend, CUDA, keeps it while the loop goes on: the members wait in SLOT_BUSY
 * until poll_visits sees the visit finished, and several groups' visits run at once); the
 * engine closes the visit (validation along the ring, the pass's close), then the state goes on
 * to the owner of its next shard with MPI_Isend (tag = model id), or stays for its next visit
 * when that shard is local, or, after its last pass of the call, goes to every rank as a final
 * state. Everything below (schedule, stops, checkpoints' cut, watchdog, trace) is therefore the
 * same for both backends.
 *
 * Each rank runs an event loop over the models that visit its shards. A model whose next shard is
 * local is integrated at once; otherwise its state is sent with MPI_Isend to the owner of the
 * next shard. Receives are posted ahead for every model that will visit again, so a rank holding
 * several models never idles while one is on the wire. The schedule is a pure function of
 * (model, pass, position, S, ranks): every rank knows how many visits it will serve, so the loop
 * ends without a termination protocol for the models; one small vote at the end tells every rank
 * whether any rank was asked to stop (see "Stops" below). With one rank the same loop is the
 * sequential reference.
 *
 * Stops (SIGTERM/SIGINT/SIGUSR1, include/ringtrain/stop.h). A rank that sees a request (its own
 * signal, between batches, or a notice from another rank on the control communicator) stops
 * integrating after the current batch, tells every other rank, and lets its pending sends
 * complete. Every rank then votes (a non-blocking allreduce of the stop kinds, polled while
 * hand-offs still land); a non-zero vote makes a consistent cut: models still on the wire are
 * received, unmatched receives cancelled, and each model's state is broadcast from the rank that
 * holds it, cursor included (pass, position, batch_cursor), so a later call resumes it exactly
 * there. Waiting is a poll with a short sleep so that signals and the watchdog (run.timeout) are
 * seen while idle; of the ranks a stall starves, only one reports it (watchdog.h decides which).
 *
 * Final states (final_states.h). Every rank needs every model's final state (evaluation runs on
 * each rank's validation shards, early termination compares every model, rank 0 writes). When a
 * model finishes its last visit of the call, the rank where it finished sends its state to every
 * other rank at once; every rank receives them as it polls, while other models still train. A
 * rank whose own work is done waits only for the states still on the wire: its `final` time in
 * the utilisation report. After a stop, the states already sent are received (a vote says which)
 * before the cut. */
#include "engine.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agree.h"
#include "backend.h"
#include "fault.h"
#include "final_states.h"
#include "groups.h"
#include "normalize.h"
#include "ringtrain/profile.h"
#include "ringtrain/stop.h"
#include "route.h"
#include "row_source.h"
#include "schedule.h"
#include "view.h"
#include "watchdog.h"

/* SLOT_HELD: here and ready, waiting for the members of its group that come to the same visit
 * (it is served with them, not on its own). */
/* SLOT_BUSY: in a group visit an asynchronous backend is working on (backend.h start/poll). */
enum slot_phase {
  SLOT_ABSENT = 0,
  SLOT_RECEIVING,
  SLOT_READY,
  SLOT_HELD,
  SLOT_BUSY,
  SLOT_SENDING,
  SLOT_DONE
};

typedef struct slot {
  void *state;
  uint64_t start, end; /* passes done when this call starts; passes done when it ends */
  size_t bytes;
  enum slot_phase phase;
  int queued;                        /* its index is in the ready queue (at most once) */
  uint64_t visits_here;              /* shard visits still to serve on this rank */
  double sent_at;                    /* MPI_Wtime of its MPI_Isend while SLOT_SENDING */
  uint64_t ticket;                   /* its visit's ticket while SLOT_BUSY */
  uint64_t busy_shard;               /* that visit's shard */
  double busy_since;                 /* MPI_Wtime when that visit was started */
  uint64_t from_pass, from_position; /* where the model was when it last left this rank (or its
                                        start here): the watchdog's starting point */
} slot;

typedef struct engine {
  const rt_config *cfg;
  const rt_model_spec *specs;
  size_t count;
  const rt_dataset *ds;
  MPI_Comm comm;
  int rank, ranks;
  slot *slots;
  MPI_Request *requests;   /* one per model: its pending receive or send on this rank */
  size_t *queue;           /* ready models, FIFO ring (an entry whose model was served with its
                            group in the meantime is skipped) */
  const rt_groups *groups; /* NULL: every model alone */
  size_t *visit;           /* [models]: the members of the group visit being served */
  const rt_model_spec **visit_specs; /* [models]: their specs */
  void **visit_states;               /* [models]: their states */
  size_t queue_head, queue_len;
  uint64_t visits_left;
  size_t sends_pending;
  size_t inflight;     /* group visits started on an asynchronous backend, not yet finished */
  double busy_from;    /* MPI_Wtime when inflight last went from 0 to 1: the rank's busy time
                          is the union of the intervals with a visit in flight */
  rt_backend *backend; /* integrates and evaluates (backend.h: CPU or CUDA) */
  rt_model_stats *stats;
  rt_progress_view *progress; /* rank 0 only, or NULL */
  rt_rank_time *time;         /* accumulated, or NULL */
  /* Stops and faults */
  MPI_Comm ctl;           /* control communicator: stop notices */
  int stopping;           /* rt_stop_kind this rank acts on, 0 while running */
  int notice_in;          /* the posted notice receive's buffer */
  MPI_Request notice_req; /* posted while running */
  int notice_out;
  MPI_Request *notice_sends; /* [ranks] */
  uint64_t notices_received;
  rt_fault fault;
  uint64_t sends_done;    /* this rank's hand-off sends, for fault injection */
  double timeout;         /* run.timeout seconds, 0 = none */
  double last_activity;   /* MPI_Wtime of the last hand-off completed or visit done */
  rt_watchdog wd;         /* which starved rank reports a stuck hand-off (watchdog.h) */
  rt_final_states finals; /* final states arriving from the ranks where models finish */
} engine;

static int shard_owner(const engine *e, uint64_t shard) {
  return rt_shard_owner(shard, e->ds->shards, e->ranks);
}

static uint64_t current_shard(const rt_model_spec *spec, const rt_state_header *h) {
  return rt_route_shard(spec, h->pass, h->position);
}

static void push_ready(engine *e, size_t j) {
  e->slots[j].phase = SLOT_READY;
  if (e->slots[j].queued) return; /* its stale entry serves */
  e->slots[j].queued = 1;
  e->queue[(e->queue_head + e->queue_len) % e->count] = j;
  e->queue_len++;
}

static size_t pop_ready(engine *e) {
  size_t j = e->queue[e->queue_head];
  e->queue_head = (e->queue_head + 1) % e->count;
  e->queue_len--;
  e->slots[j].queued = 0;
  return j;
}

/* The stop request this rank should act on now: its own signal or a notice from another rank.
 * The first time, it tells every other rank (so a rank waiting for hand-offs wakes up). */
static rt_code begin_stop(engine *e, int kind, rt_status *st) {
  if (e->stopping) {
    if (kind > e->stopping) e->stopping = kind;
    return RT_OK;
  }
  e->stopping = kind;
  e->notice_out = kind;
  for (int r = 0; r < e->ranks; ++r)
    if (r != e->rank)
      RT_MPI_CHECK(st, MPI_Isend(&e->notice_out, 1, MPI_INT, r, 0, e->ctl, &e->notice_sends[r]));
  return RT_OK;
}

static rt_code poll_notices(engine *e, rt_status *st) {
  rt_code rc = rt_watchdog_serve(&e->wd, st); /* answered between batches too */
  if (rc) return rc;
  if (e->notice_req == MPI_REQUEST_NULL) return RT_OK;
  int done = 0;
  RT_MPI_CHECK(st, MPI_Test(&e->notice_req, &done, MPI_STATUS_IGNORE));
  if (!done) return RT_OK;
  e->notices_received++;
  const int kind = e->notice_in;
  RT_MPI_CHECK(st, MPI_Irecv(&e->notice_in, 1, MPI_INT, MPI_ANY_SOURCE, 0, e->ctl, &e->notice_req));
  return begin_stop(e, kind, st);
}

/* Polls the local request and the notices; returns whether this rank is stopping. A failed MPI
 * call leaves its error in st (callers that can report it check st->code). */
static int poll_stop(engine *e, rt_status *st) {
  const rt_stop_kind local = rt_stop_pending();
  rt_code rc = RT_OK;
  if (local != RT_STOP_NONE) rc = begin_stop(e, (int)local, st);
  if (rc == RT_OK) (void)poll_notices(e, st);
  return e->stopping != 0;
}

static int should_stop_cb(void *user) {
  engine *e = user;
  rt_status ignored; /* a failed poll shows up again in the main loop's own poll */
  return poll_stop(e, &ignored);
}

/* Where slot j (receiving) next visits this rank in this call, and the rank it comes from. */
static int awaited_edge(const engine *e, size_t j, uint64_t *pass, uint64_t *pos, int *from) {
  const slot *s = &e->slots[j];
  const rt_model_spec *spec = &e->specs[j];
  const uint64_t L = rt_route_length(spec);
  uint64_t p = s->from_pass, k = s->from_position;
  while (p < s->end && shard_owner(e, rt_route_shard(spec, p, k)) != e->rank)
    if (++k == L) k = 0, ++p;
  if (p >= s->end) return 0;
  *pass = p, *pos = k;
  if (p == 0 && k == 0) return 0; /* its start: it comes from nowhere */
  *from =
      shard_owner(e, k > 0 ? rt_route_shard(spec, p, k - 1) : rt_route_shard(spec, p - 1, L - 1));
  return 1;
}

/* The ranks this one waits on (watchdog.h): in the final vote every other rank; otherwise the
 * receivers of its pending sends and, while waiting for hand-offs, the senders of the models it
 * awaits. */
static void watchdog_depends(void *user, unsigned char *flags) {
  engine *e = user;
  for (int r = 0; r < e->ranks; ++r) flags[r] = e->wd.doing == RT_WD_VOTE;
  if (e->wd.doing == RT_WD_VOTE) return;
  for (size_t j = 0; j < e->count; ++j) {
    const slot *s = &e->slots[j];
    uint64_t p, k;
    int from;
    if (s->phase == SLOT_SENDING)
      flags[shard_owner(e, current_shard(&e->specs[j], rt_state_head(s->state)))] = 1;
    else if (s->phase == SLOT_RECEIVING && e->wd.doing == RT_WD_HANDOFF &&
             awaited_edge(e, j, &p, &k, &from))
      flags[from] = 1;
  }
}

/* What the reporting rank knows of the rank it names (watchdog.h). */
static void watchdog_cause(const engine *e, rt_wd_reason why, int r, char *out, size_t size) {
  out[0] = '\0';
  if (why == RT_WD_SILENT && rt_watchdog_silent(&e->wd, r))
    snprintf(out, size, "; rank %d does not answer", r);
  if (why == RT_WD_UNRESOLVED) snprintf(out, size, "; rank %d answers but has not sent it", r);
}

/* The error of the rank that reports a hang. Waiting for hand-offs it names the model, pass and
 * edge: of the models it awaits (from a rank that did not answer, when one did not), the one
 * whose next visit here comes first in its own succession; with none, a send of its own that a
 * rank that does not answer has not taken. */
static rt_code watchdog_fail(engine *e, double waited, const char *what, rt_wd_reason why,
                             rt_status *st) {
  size_t best = e->count, waiting = 0;
  uint64_t best_pass = 0, best_pos = 0;
  int best_from = -1;
  char cause[64];
  const int name_edge = e->wd.doing == RT_WD_HANDOFF || e->wd.doing == RT_WD_BUSY;
  for (size_t j = 0; name_edge && j < e->count; ++j) {
    uint64_t p, k;
    int from;
    if (e->slots[j].phase != SLOT_RECEIVING || !awaited_edge(e, j, &p, &k, &from)) continue;
    waiting++;
    if (why == RT_WD_SILENT && !rt_watchdog_silent(&e->wd, from)) continue;
    if (best == e->count || p < best_pass || (p == best_pass && k < best_pos))
      best = j, best_pass = p, best_pos = k, best_from = from;
  }
  if (best < e->count) {
    const rt_model_spec *spec = &e->specs[best];
    watchdog_cause(e, why, best_from, cause, sizeof cause);
    return rt_fail(
        st, RT_ERR_TIMEOUT,
        "watchdog: rank %d waited %.0f s (run.timeout) with no hand-off arriving: model %" PRIu64
        " (pass %" PRIu64 " of %" PRIu64 ", shard %" PRIu64
        ") is stuck on the hand-off from rank %d "
        "to rank %d%s%s",
        e->rank, waited, spec->id, best_pass + 1, spec->passes,
        rt_route_shard(spec, best_pass, best_pos), best_from, e->rank,
        waiting > 1 ? " (other models are awaited too)" : "", cause);
  }
  for (size_t j = 0; name_edge && why == RT_WD_SILENT && j < e->count; ++j) {
    const slot *s = &e->slots[j];
    if (s->phase != SLOT_SENDING) continue;
    const rt_model_spec *spec = &e->specs[j];
    const rt_state_header *h = rt_state_head(s->state);
    const int to = shard_owner(e, current_shard(spec, h));
    if (!rt_watchdog_silent(&e->wd, to)) continue;
    watchdog_cause(e, why, to, cause, sizeof cause);
    return rt_fail(
        st, RT_ERR_TIMEOUT,
        "watchdog: rank %d waited %.0f s (run.timeout) with its hand-off not received: model %" PRIu64
        " (pass %" PRIu64 " of %" PRIu64 ", shard %" PRIu64
        ") is stuck on the hand-off from rank %d "
        "to rank %d%s",
        e->rank, waited, spec->id, h->pass + 1, spec->passes, current_shard(spec, h), e->rank, to,
        cause);
  }
  int silent = -1;
  for (int r = 0; r < e->ranks && silent < 0; ++r)
    if (rt_watchdog_silent(&e->wd, r)) silent = r;
  watchdog_cause(e, why == RT_WD_SILENT ? why : RT_WD_NONE, silent, cause, sizeof cause);
  return rt_fail(st, RT_ERR_TIMEOUT,
                 "watchdog: rank %d waited %.0f s (run.timeout) with no progress while %s%s",
                 e->rank, waited, what, cause);
}

/* One watchdog poll of a rank that waits (doing: for what): reports only when this rank is the
 * one to (watchdog.h). */
static rt_code watchdog_check(engine *e, rt_wd_doing doing, const char *what, rt_status *st) {
  if (e->timeout <= 0) return RT_OK;
  const double idle = MPI_Wtime() - e->last_activity;
  rt_wd_reason why = RT_WD_NONE;
  rt_code rc = rt_watchdog_step(&e->wd, doing, idle, watchdog_depends, e, &why, st);
  if (rc || why == RT_WD_NONE) return rc;
  return watchdog_fail(e, idle, what, why, st);
}

/* A short sleep between polls, growing from 1 us to 100 us while nothing happens. */
static void backoff(unsigned *spins) {
  if (++*spins < 64) return;
  long ns = 1000L << (*spins - 64 < 7 ? *spins - 64 : 7);
  if (ns > 100000) ns = 100000;
  struct timespec ts = {0, ns};
  nanosleep(&ts, NULL);
}

static rt_code post_receive(engine *e, size_t j, rt_status *st) {
  slot *s = &e->slots[j];
  if (!s->state) {
    s->state = aligned_alloc(RT_STATE_ALIGN, s->bytes);
    if (!s->state)
      return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes for model %zu", s->bytes, j);
  }
  /* A model is in one place at a time, so (any source, tag = model id) is unambiguous. */
  RT_MPI_CHECK(st, MPI_Irecv(s->state, (int)s->bytes, MPI_BYTE, MPI_ANY_SOURCE, (int)j, e->comm,
                             &e->requests[j]));
  s->phase = SLOT_RECEIVING;
  return RT_OK;
}

/* Whether models a and b stand at the same cursor (pass, position, batch). */
static int same_cursor(const engine *e, size_t a, size_t b) {
  const rt_state_header *x = rt_state_head(e->slots[a].state),
                        *y = rt_state_head(e->slots[b].state);
  return x->pass == y->pass && x->position == y->position && x->batch_cursor == y->batch_cursor;
}

/* The group visit model j (ready here) belongs to: the members of its group that are here and
 * ready at its cursor, into e->visit (j's group order); returns how many. *missing is set when a
 * member will come to this same visit but is still on its way: j then waits for it. */
static size_t group_visit(engine *e, size_t j, int *missing) {
  *missing = 0;
  if (!e->groups) {
    e->visit[0] = j;
    return 1;
  }
  const size_t g = e->groups->group_of[j];
  const size_t *members = rt_group_members(e->groups, g);
  const rt_state_header *h = rt_state_head(e->slots[j].state);
  size_t m = 0;
  for (size_t k = 0; k < rt_group_size(e->groups, g); ++k) {
    const size_t i = members[k];
    const slot *s = &e->slots[i];
    uint64_t p, pos;
    int from;
    if (i == j || ((s->phase == SLOT_READY || s->phase == SLOT_HELD) && same_cursor(e, i, j)))
      e->visit[m++] = i;
    else if (s->phase == SLOT_RECEIVING && awaited_edge(e, i, &p, &pos, &from) && p == h->pass &&
             pos == h->position)
      *missing = 1;
  }
  return m;
}

/* Hands model j on to the rank of its next shard. */
static rt_code hand_off(engine *e, size_t j, int next, rt_status *st) {
  slot *s = &e->slots[j];
  const rt_model_spec *spec = &e->specs[j];
  const rt_state_header *h = rt_state_head(s->state);
  /* Fault injection counts this rank's hand-offs over the whole run (rank_time when kept). */
  const uint64_t nth = (e->time ? (uint64_t)e->time->sent : e->sends_done++) + 1;
  if (rt_fault_at_send(&e->fault, e->rank, nth)) rt_fault_trigger(&e->fault);
  s->from_pass = h->pass;
  s->from_position = h->position;
  rt_prof_mark(RT_PHASE_SEND, (int64_t)spec->id, (int64_t)h->pass + 1,
               (int64_t)current_shard(spec, h));
  s->sent_at = MPI_Wtime();
  RT_MPI_CHECK(
      st, MPI_Isend(s->state, (int)s->bytes, MPI_BYTE, next, (int)j, e->comm, &e->requests[j]));
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

/* After a complete visit of `shard` by model j: validation along the ring, the pass's close when
 * it was the pass's last shard. Returns 1 when j has done its last pass of this call, -1 when the
 * backend's evaluation failed (st says why). */
static int close_visit(engine *e, size_t j, uint64_t shard, rt_status *st) {
  slot *s = &e->slots[j];
  const rt_model_spec *spec = &e->specs[j];
  const rt_family *fam = rt_family_find(spec->hp.kind);
  const rt_state_layout layout = rt_state_layout_of(spec);
  rt_state_header *h = rt_state_head(s->state);
  if (spec->eval_every_pass && e->ds->val[shard].rows > 0) {
    /* Validation along the ring: this shard's validation rows, right after integrating it. */
    rt_prof_begin(RT_PHASE_EVALUATE, (int64_t)spec->id, (int64_t)h->pass + 1, (int64_t)shard);
    double *sums = rt_state_val_history(s->state, &layout) + h->pass * (RT_EVAL_SUMS + 1);
    const rt_code rc = e->backend->evaluate(e->backend, spec, s->state, shard,
                                            (size_t)spec->hp.batch_size, sums, st);
    sums[RT_EVAL_SUMS] += (double)e->ds->val[shard].rows;
    rt_prof_end(RT_PHASE_EVALUATE);
    if (rc) return -1;
  }
  s->visits_here--;
  e->visits_left--;
  int done = 0;
  if (++h->position == rt_route_length(spec)) {
    double *history = rt_state_history(s->state, &layout);
    history[h->pass] = h->pass_loss_rows ? h->pass_loss_sum / (double)h->pass_loss_rows : 0.0;
    /* Finite batch losses can still add up to an overflow: that is divergence too. */
    if (!isfinite(history[h->pass])) h->diverged = 1;
    if (fam->pass_end && !h->diverged)
      fam->pass_end(spec, h->pass, rt_state_params(s->state, &layout),
                    rt_state_aux(s->state, &layout));
    h->pass_loss_sum = 0.0;
    h->pass_loss_rows = 0;
    h->position = 0;
    done = ++h->pass == s->end;
  }
  if (e->progress) rt_progress_view_update(e->progress, spec, h);
  return done;
}

/* After the integration of the group visit v[0..*m) of `shard` (busy: its seconds): the time,
 * then, when complete, each member's close; a member that has done its passes of this call leaves
 * (its final state goes to every rank) and *m counts those that stay. *local = 1 when they visit
 * this rank next (the caller serves that visit), otherwise they are handed on. Not complete
 * (stopped after a batch): the members stay here, cursor in their headers. */
static rt_code after_visit(engine *e, size_t *v, size_t *m, uint64_t shard, double busy,
                           int complete, int *local, rt_status *st) {
  *local = 0;
  /* Each member is charged an equal share of the group's time; the rank's busy time is counted
   * here for synchronous visits, by poll_visits for asynchronous ones (they overlap). */
  for (size_t k = 0; k < *m; ++k) e->stats[v[k]].seconds += busy / (double)*m;
  if (e->time && !e->backend->start) e->time->busy += busy;
  e->last_activity = MPI_Wtime();
  if (!complete) {
    for (size_t k = 0; k < *m; ++k) e->slots[v[k]].phase = SLOT_READY;
    return RT_OK;
  }
  size_t going = 0;
  rt_code rc;
  for (size_t k = 0; k < *m; ++k) {
    const size_t i = v[k];
    slot *s = &e->slots[i];
    const int closed = close_visit(e, i, shard, st);
    if (closed < 0) return st->code;
    if (!closed) {
      v[going++] = i;
      continue;
    }
    /* its final state leaves for every other rank now */
    s->phase = SLOT_DONE;
    rt_prof_mark(RT_PHASE_FINAL, (int64_t)e->specs[i].id, (int64_t)rt_state_head(s->state)->pass,
                 -1);
    RT_TRY(rc, rt_final_states_send(&e->finals, i, s->state, s->bytes, st));
  }
  *m = going;
  if (going == 0) return RT_OK;
  const int next =
      shard_owner(e, current_shard(&e->specs[v[0]], rt_state_head(e->slots[v[0]].state)));
  if (next == e->rank) {
    *local = 1;
    return RT_OK;
  }
  for (size_t k = 0; k < going; ++k) RT_TRY(rc, hand_off(e, v[k], next, st));
  return RT_OK;
}

/* Serves the group visit of model j (ready here) and, with a synchronous backend, the visits that
 * follow on this rank, then hands every member on. The members (group_visit) integrate each batch
 * together. When a member of the visit is still on its way, j waits (SLOT_HELD) and is served
 * with it. An asynchronous backend (start/poll) gets the visit and the members wait in SLOT_BUSY
 * until poll_visits sees it finished. */
static rt_code serve(engine *e, size_t j, rt_status *st) {
  int missing = 0;
  size_t m = group_visit(e, j, &missing);
  if (missing) {
    e->slots[j].phase = SLOT_HELD;
    return RT_OK;
  }
  size_t *v = e->visit;
  for (size_t k = 0; k < m; ++k) {
    const slot *s = &e->slots[v[k]];
    const rt_state_header *h = rt_state_head(s->state);
    if (h->magic != RT_STATE_MAGIC || h->model_id != e->specs[v[k]].id)
      return RT_FAIL_AT(st, RT_ERR_INTERNAL, "model %zu arrived with a damaged state header", v[k]);
  }
  const rt_family *fam = rt_family_find(e->specs[v[0]].hp.kind);
  /* profiling names a visit by its first member's id in the config, with the visit's size */
  for (;;) {
    const rt_model_spec *lead = &e->specs[v[0]];
    const rt_state_header *h = rt_state_head(e->slots[v[0]].state);
    const uint64_t shard = current_shard(lead, h);
    for (size_t k = 0; k < m; ++k) {
      e->visit_specs[k] = &e->specs[v[k]];
      e->visit_states[k] = e->slots[v[k]].state;
    }
    rt_prof_window_visit(e->cfg, (long)h->pass + 1);
    rt_prof_begin_group(RT_PHASE_INTEGRATE, (int64_t)lead->id, (int64_t)h->pass + 1, (int64_t)shard,
                        (int64_t)m);
    const double t0 = MPI_Wtime();
    const rt_group_visit visit = {
        .specs = e->visit_specs, .fam = fam, .states = e->visit_states, .m = m, .shard = shard};
    rt_code rc;
    if (e->backend->start) { /* asynchronous: the members wait for poll_visits */
      uint64_t ticket = 0;
      rc = e->backend->start(e->backend, &visit, should_stop_cb, e, &ticket, st);
      rt_prof_end(RT_PHASE_INTEGRATE);
      if (rc) return rc;
      for (size_t k = 0; k < m; ++k) {
        slot *s = &e->slots[v[k]];
        s->phase = SLOT_BUSY;
        s->ticket = ticket;
        s->busy_shard = shard;
        s->busy_since = t0;
      }
      if (e->inflight++ == 0) e->busy_from = t0;
      return RT_OK;
    }
    int complete = 0;
    rc = e->backend->integrate(e->backend, &visit, should_stop_cb, e, &complete, st);
    const double busy = MPI_Wtime() - t0;
    rt_prof_end(RT_PHASE_INTEGRATE);
    if (rc) return rc;
    int local = 0;
    RT_TRY(rc, after_visit(e, v, &m, shard, busy, complete, &local, st));
    if (!local) return RT_OK;
    /* a stop is seen before the next visit's first batch */
  }
}

/* The group visits an asynchronous backend has finished: each one's members (SLOT_BUSY with its
 * ticket, in id order: the group's order) are closed as serve() closes a synchronous visit; those
 * that visit this rank next go back to the ready queue. *finished counts them. */
static rt_code poll_visits(engine *e, size_t *finished, rt_status *st) {
  *finished = 0;
  while (e->inflight > 0) {
    uint64_t ticket = 0;
    int done = 0;
    rt_code rc;
    RT_TRY(rc, e->backend->poll(e->backend, &ticket, &done, st));
    if (!done) return RT_OK;
    size_t m = 0;
    for (size_t j = 0; j < e->count; ++j)
      if (e->slots[j].phase == SLOT_BUSY && e->slots[j].ticket == ticket) e->visit[m++] = j;
    if (m == 0)
      return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                        "the backend finished visit %" PRIu64 " that no model waits for", ticket);
    if (--e->inflight == 0 && e->time) e->time->busy += MPI_Wtime() - e->busy_from;
    ++*finished;
    const slot *lead = &e->slots[e->visit[0]];
    int local = 0;
    RT_TRY(rc, after_visit(e, e->visit, &m, lead->busy_shard, MPI_Wtime() - lead->busy_since, 1,
                           &local, st));
    for (size_t k = 0; local && k < m; ++k) push_ready(e, e->visit[k]);
  }
  return RT_OK;
}

/* After an error: waits until the backend has finished every visit still in flight, without
 * closing them, so that no copy into a host state is pending when the engine frees the states.
 * A backend that fails to answer is not asked again. */
static void abandon_visits(engine *e) {
  rt_status ignored;
  for (unsigned spins = 0; e->inflight > 0;) {
    uint64_t ticket = 0;
    int done = 0;
    if (e->backend->poll(e->backend, &ticket, &done, &ignored) != RT_OK) {
      /* poll cannot tell the rest: the backend waits for all of it before the states go */
      if (e->backend->quiesce) e->backend->quiesce(e->backend);
      break;
    }
    if (done) e->inflight--, spins = 0;
    else backoff(&spins);
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
  return RT_FAIL_AT(st, RT_ERR_INTERNAL, "request of model %zu completed in phase %d", j,
                    (int)s->phase);
}

static rt_code handle(engine *e, int n, const int *indices, rt_status *st) {
  if (n == MPI_UNDEFINED || n == 0) return RT_OK;
  e->last_activity = MPI_Wtime();
  for (int i = 0; i < n; ++i) {
    rt_code rc;
    RT_TRY(rc, completed(e, (size_t)indices[i], st));
  }
  return RT_OK;
}

/* Final states that have come are received, sent ones completed (a cheap probe otherwise). */
static rt_code poll_finals(engine *e, rt_status *st) {
  int progressed = 0;
  rt_code rc = rt_final_states_poll(&e->finals, &progressed, st);
  if (progressed) e->last_activity = MPI_Wtime();
  return rc;
}

/* Handles finished requests; when `wait` is set (nothing ready to integrate) polls until one
 * finishes, a visit of an asynchronous backend finishes, a stop is requested or the watchdog
 * fires. While visits are in flight the rank counts as active (busy, not stuck). */
static rt_code progress(engine *e, int *indices, int wait, rt_status *st) {
  int n = 0;
  if (!wait) {
    RT_MPI_CHECK(st, MPI_Testsome((int)e->count, e->requests, &n, indices, MPI_STATUSES_IGNORE));
    return handle(e, n, indices, st);
  }
  /* Nothing to integrate: the rank idles until a model arrives (or a send completes). */
  rt_prof_begin(RT_PHASE_RECEIVE, -1, -1, -1);
  const double t0 = MPI_Wtime();
  double idle_from = e->inflight ? -1.0 : t0; /* waiting with a visit in flight is busy time */
  unsigned spins = 0;
  rt_code rc = RT_OK;
  e->wd.doing = RT_WD_HANDOFF;
  for (;;) {
    const int mpi_rc = MPI_Testsome((int)e->count, e->requests, &n, indices, MPI_STATUSES_IGNORE);
    if (mpi_rc != MPI_SUCCESS) {
      rc = rt_mpi_fail(st, mpi_rc, __FILE__, __LINE__, "MPI_Testsome");
      break;
    }
    if (n == MPI_UNDEFINED && e->inflight == 0) {
      rc = RT_FAIL_AT(st, RT_ERR_INTERNAL, "rank %d waits but no hand-off is pending", e->rank);
      break;
    }
    if (n != MPI_UNDEFINED && n > 0) break;
    if (e->inflight > 0) {
      size_t finished = 0;
      if ((rc = poll_visits(e, &finished, st))) break;
      e->last_activity = MPI_Wtime();
      if (e->inflight == 0 && idle_from < 0) idle_from = e->last_activity;
      if (finished > 0) break;
    }
    if ((rc = poll_finals(e, st))) break; /* final states land while this rank idles */
    rt_status_clear(st);
    if (poll_stop(e, st)) {
      rc = st->code;
      break;
    }
    if ((rc = watchdog_check(e, RT_WD_HANDOFF, "waiting for hand-offs", st))) break;
    backoff(&spins);
  }
  e->wd.doing = RT_WD_BUSY;
  if (e->time && idle_from >= 0) e->time->idle += MPI_Wtime() - idle_from;
  rt_prof_end(RT_PHASE_RECEIVE);
  if (rc) return rc;
  return handle(e, n, indices, st);
}

/* resume[j]: the state model j continues from (on every rank), or NULL for a fresh start. */
static rt_code setup(engine *e, void **resume, const uint64_t *pass_limits, rt_status *st) {
  const uint64_t S = e->ds->shards;
  for (size_t j = 0; j < e->count; ++j) {
    const rt_model_spec *spec = &e->specs[j];
    const rt_state_layout l = rt_state_layout_of(spec);
    slot *s = &e->slots[j];
    s->bytes = l.total_bytes;
    if (l.total_bytes > (size_t)INT_MAX) /* MPI counts are int */
      return rt_fail(st, RT_ERR_CONFIG,
                     "model %zu: its state is %zu bytes; hand-offs support at most %d", j,
                     l.total_bytes, INT_MAX);
    /* A resumed state continues at its cursor: (pass, position), inside a visit when it was
     * stopped by a signal (batch_cursor). */
    const uint64_t start_pos = resume[j] ? rt_state_head(resume[j])->position : 0;
    s->start = resume[j] ? rt_state_head(resume[j])->pass : 0;
    s->end = pass_limits && pass_limits[j] < spec->passes ? pass_limits[j] : spec->passes;
    if (start_pos > 0 && s->end <= s->start) s->end = s->start + 1; /* finish the pass it is in */
    s->from_pass = s->start;
    s->from_position = start_pos;
    for (uint64_t p = s->start; p < s->end; ++p)
      for (uint64_t k = p == s->start ? start_pos : 0; k < rt_route_length(spec); ++k)
        if (shard_owner(e, rt_route_shard(spec, p, k)) == e->rank) s->visits_here++;
    e->visits_left += s->visits_here;
  }
  for (size_t j = 0; j < e->count; ++j) {
    const rt_model_spec *spec = &e->specs[j];
    slot *s = &e->slots[j];
    if (s->start >= s->end) continue; /* nothing to do in this call */
    const int finisher = rt_final_owner_at(spec, s->end, S, e->ranks);
    if (finisher != e->rank) rt_final_states_expect(&e->finals, j, finisher, s->bytes);
    if (shard_owner(e, rt_route_shard(spec, s->start, s->from_position)) == e->rank) {
      if (resume[j]) {
        s->state = aligned_alloc(RT_STATE_ALIGN, s->bytes);
        if (!s->state) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes", s->bytes);
        memcpy(s->state, resume[j], s->bytes);
      } else {
        rt_code rc;
        RT_TRY(rc, rt_engine_new_state(spec, e->ds, &s->state, st));
      }
      push_ready(e, j);
    } else if (s->visits_here > 0) {
      rt_code rc;
      RT_TRY(rc, post_receive(e, j, st));
    }
  }
  return RT_OK;
}

/* The rows of shard sh as a model sees them through its view or its own scaling (offset not
 * NULL), rows x its width, in memory, read a chunk at a time: what init_from_data reads for it. */
static rt_code viewed_rows(const rt_model_spec *spec, const rt_shard *sh, const float *offset,
                           const float *scale, rt_shard *out, rt_status *st) {
  enum { CHUNK = 256 };
  const size_t d = sh->features, w = spec->problem.features;
  memset(out, 0, sizeof *out);
  out->rows = sh->rows;
  out->features = w;
  out->first_row = sh->first_row;
  out->x = malloc((sh->rows * w > 0 ? sh->rows * w : 1) * sizeof(float));
  float *buf = malloc(CHUNK * (d ? d : 1) * sizeof(float));
  void *scratch = sh->source ? malloc(rt_row_source_scratch_bytes(sh->source, CHUNK)) : NULL;
  rt_code rc = RT_OK;
  if (!out->x || !buf || (sh->source && !scratch))
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the view of %zu rows of model %" PRIu64,
                    sh->rows, spec->id);
  for (size_t first = 0; rc == RT_OK && first < sh->rows; first += CHUNK) {
    const size_t n = sh->rows - first < CHUNK ? sh->rows - first : CHUNK;
    rc = rt_shard_copy_rows(sh, first, n, buf, scratch, st);
    if (rc == RT_OK) rt_view_input(&spec->hp, offset, scale, buf, n, d, out->x + first * w);
  }
  free(buf);
  free(scratch);
  if (rc != RT_OK) rt_shard_free(out);
  return rc;
}

/* A fresh state: rt_state_create (the RNG initialisation), then, for a family that starts from
 * data (kmeans), init_from_data on the first shard of the model's route (rt_route_shard(spec, 0,
 * 0)), which must be one of this rank's shards. */
rt_code rt_engine_new_state(const rt_model_spec *spec, const rt_dataset *ds, void **state,
                            rt_status *st) {
  size_t bytes = 0;
  rt_code rc;
  RT_TRY(rc, rt_state_create(spec, state, &bytes, st));
  const rt_family *fam = rt_family_find(spec->hp.kind);
  if (fam->init_from_data) {
    const rt_state_layout l = rt_state_layout_of(spec);
    const uint64_t first = rt_route_shard(spec, 0, 0);
    rt_shard viewed;
    const rt_shard *sh = &ds->train[first];
    const rt_scaling *own = spec->scaling;
    const int scale_own = own && own->kind != RT_NORMALIZE_NONE && own != ds->scaled;
    if (!rt_view_all(&spec->hp) || scale_own) {
      rc = viewed_rows(spec, sh, scale_own ? own->offset : NULL, scale_own ? own->scale : NULL,
                       &viewed, st);
      if (rc != RT_OK) {
        rt_state_free(*state);
        *state = NULL;
        return rc;
      }
      sh = &viewed;
    }
    rc = fam->init_from_data(spec, rt_state_head(*state)->rng_key, rt_state_params(*state, &l),
                             rt_state_aux(*state, &l), sh, st);
    if (sh == &viewed) rt_shard_free(&viewed);
    if (rc != RT_OK) {
      rt_state_free(*state);
      *state = NULL;
      return rc;
    }
  }
  return RT_OK;
}

/* The rank that holds a model's state after its last visit of pass end_pass - 1. */
int rt_final_owner_at(const rt_model_spec *spec, uint64_t end_pass, uint64_t shards, int ranks) {
  return rt_shard_owner(rt_route_shard(spec, end_pass - 1, rt_route_length(spec) - 1), shards,
                        ranks);
}

int rt_final_owner(const rt_model_spec *spec, uint64_t shards, int ranks) {
  return rt_final_owner_at(spec, spec->passes, shards, ranks);
}

rt_code rt_engine_share_final(const rt_model_spec *specs, size_t count, const rt_dataset *ds,
                              MPI_Comm comm, void **finished, void **states, rt_status *st) {
  rt_final_states f;
  rt_code rc = rt_final_states_open(&f, comm, count, st);
  for (size_t j = 0; rc == RT_OK && j < count; ++j) {
    const size_t bytes = rt_state_layout_of(&specs[j]).total_bytes;
    const int root = rt_final_owner(&specs[j], ds->shards, ds->ranks);
    if (root != ds->rank) {
      rt_final_states_expect(&f, j, root, bytes);
    } else if (!finished[j]) {
      rc = RT_FAIL_AT(st, RT_ERR_INTERNAL, "model %zu did not finish on rank %d", j, root);
    } else {
      states[j] = finished[j];
      finished[j] = NULL;
      rc = rt_final_states_send(&f, j, states[j], bytes, st);
    }
  }
  unsigned spins = 0;
  while (rc == RT_OK && !rt_final_states_complete(&f)) {
    int progressed = 0;
    rc = rt_final_states_poll(&f, &progressed, st);
    if (progressed) spins = 0;
    else backoff(&spins);
  }
  for (size_t j = 0; rc == RT_OK && j < count; ++j)
    if (rt_final_owner(&specs[j], ds->shards, ds->ranks) != ds->rank &&
        !(states[j] = rt_final_states_take(&f, j)))
      rc = RT_FAIL_AT(st, RT_ERR_INTERNAL, "the final state of model %zu has not come", j);
  rt_final_states_close(&f);
  return rc;
}

/* After the last visit of this rank: waits until every final state of the call is here and this
 * rank's own have left (final_states.h), or (`stoppable`) a stop is requested. The time is the
 * rank's `final` time. */
static rt_code await_finals(engine *e, int stoppable, rt_status *st) {
  if (rt_final_states_complete(&e->finals)) return RT_OK;
  rt_prof_begin(RT_PHASE_FINAL, -1, -1, -1);
  const double t0 = MPI_Wtime();
  unsigned spins = 0;
  rt_code rc = RT_OK;
  e->wd.doing = RT_WD_VOTE; /* done with its own work, as in the final vote (watchdog.h) */
  for (;;) {
    const double seen = e->last_activity;
    if ((rc = poll_finals(e, st)) || rt_final_states_complete(&e->finals)) break;
    if (e->last_activity != seen) spins = 0;
    if (!stoppable) { /* a stop is being served: notices are only counted */
      if ((rc = poll_notices(e, st))) break;
    } else {
      rt_status_clear(st);
      if (poll_stop(e, st)) {
        rc = st->code;
        break;
      }
    }
    char what[128] = "waiting for its final states to be received";
    if (e->timeout > 0 &&
        MPI_Wtime() - e->last_activity > e->timeout) { /* only then can it report */
      int from = -1;
      const size_t j = rt_final_states_awaited(&e->finals, &from);
      if (j < e->count)
        snprintf(what, sizeof what, "waiting for the final state of model %" PRIu64 " from rank %d",
                 e->specs[j].id, from);
    }
    if ((rc = watchdog_check(e, RT_WD_VOTE, what, st))) break;
    backoff(&spins);
  }
  e->wd.doing = RT_WD_BUSY;
  if (e->time) e->time->final += MPI_Wtime() - t0;
  rt_prof_end(RT_PHASE_FINAL);
  return rc;
}

/* After a stop: the final states already sent (of the models that finished before it, which a
 * vote tells every rank) are received, so that nothing is left on the wire; the cut then
 * broadcasts every state as it does for the others. */
static rt_code settle_finals(engine *e, rt_status *st) {
  const size_t n = e->count;
  int *mine = calloc(n ? n : 1, sizeof *mine), *done_on = calloc(n ? n : 1, sizeof *done_on);
  rt_code rc =
      mine && done_on ? RT_OK : RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu flags", n);
  for (size_t j = 0; rc == RT_OK && j < n; ++j)
    mine[j] = e->slots[j].phase == SLOT_DONE ? e->rank + 1 : 0;
  if (rc == RT_OK) {
    const int mrc = MPI_Allreduce(mine, done_on, (int)n, MPI_INT, MPI_MAX, e->ctl);
    if (mrc != MPI_SUCCESS)
      rc = rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Allreduce(finished models)");
  }
  for (size_t j = 0; rc == RT_OK && j < n; ++j)
    if (done_on[j] == 0) rc = rt_final_states_forget(&e->finals, j, st);
  free(mine), free(done_on);
  return rc == RT_OK ? await_finals(e, 0, st) : rc;
}

/* Every rank holds every final state: its own models' states, and the others' as received;
 * models with nothing to do in this call keep the state they came with. */
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
    } else if (!(states[j] = rt_final_states_take(&e->finals, j))) {
      return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                        "the final state of model %zu has not come from rank %d", j, root);
    }
  }
  return RT_OK;
}

/* The end of an engine call, part 1: sends still on the wire complete (their receivers poll too)
 * and receives that land are kept. Only a stopping rank can have any. */
static rt_code drain_sends(engine *e, int *indices, rt_status *st) {
  unsigned spins = 0;
  rt_code rc = RT_OK;
  e->wd.doing = RT_WD_DRAIN;
  while (rc == RT_OK && e->sends_pending > 0) {
    int n = 0;
    const int mpi_rc = MPI_Testsome((int)e->count, e->requests, &n, indices, MPI_STATUSES_IGNORE);
    if (mpi_rc != MPI_SUCCESS) {
      rc = rt_mpi_fail(st, mpi_rc, __FILE__, __LINE__, "MPI_Testsome");
    } else if (n > 0 && n != MPI_UNDEFINED) {
      rc = handle(e, n, indices, st);
      spins = 0;
    } else if ((rc = poll_notices(e, st)) == RT_OK &&
               (rc = watchdog_check(e, RT_WD_DRAIN, "finishing its hand-offs for a stop", st)) ==
                   RT_OK) {
      backoff(&spins);
    }
  }
  e->wd.doing = RT_WD_BUSY;
  return rc;
}

/* Part 2: every rank votes the stop kind it acts on (0: none), while hand-offs still land. */
static rt_code vote(engine *e, int *indices, int *kind, rt_status *st) {
  int mine = e->stopping;
  MPI_Request req;
  RT_MPI_CHECK(st, MPI_Iallreduce(&mine, kind, 1, MPI_INT, MPI_MAX, e->ctl, &req));
  unsigned spins = 0;
  rt_code rc = RT_OK;
  e->wd.doing = RT_WD_VOTE;
  for (;;) {
    int done = 0, n = 0;
    int mpi_rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (mpi_rc == MPI_SUCCESS && done) break;
    if (mpi_rc == MPI_SUCCESS)
      mpi_rc = MPI_Testsome((int)e->count, e->requests, &n, indices, MPI_STATUSES_IGNORE);
    if (mpi_rc != MPI_SUCCESS) {
      rc = rt_mpi_fail(st, mpi_rc, __FILE__, __LINE__, "MPI_Test(vote)");
      break;
    }
    if ((rc = handle(e, n, indices, st)) || (rc = poll_notices(e, st)) ||
        (rc = watchdog_check(e, RT_WD_VOTE, "waiting for the other ranks to finish", st)))
      break;
    backoff(&spins);
  }
  e->wd.doing = RT_WD_BUSY;
  return rc;
}

/* Part 3 after a stop: the consistent cut. Every model of this call is held by exactly one rank
 * once the hand-offs on the wire have landed; its state (cursor included) goes to every rank. */
static rt_code cut(engine *e, int *indices, void **states, rt_status *st) {
  const size_t n = e->count;
  int *held = calloc(n ? n : 1, sizeof *held), *where = calloc(n ? n : 1, sizeof *where);
  int *sent = calloc((size_t)e->ranks, sizeof *sent);
  rt_code rc =
      held && where && sent ? RT_OK : RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu flags", n);
  unsigned spins = 0;
  while (rc == RT_OK) {
    int k = 0;
    const int mpi_rc = MPI_Testsome((int)n, e->requests, &k, indices, MPI_STATUSES_IGNORE);
    if (mpi_rc != MPI_SUCCESS) {
      rc = rt_mpi_fail(st, mpi_rc, __FILE__, __LINE__, "MPI_Testsome");
      break;
    }
    if ((rc = handle(e, k, indices, st))) break;
    for (size_t j = 0; j < n; ++j) {
      const slot *s = &e->slots[j];
      held[j] = s->start < s->end &&
                        (s->phase == SLOT_READY || s->phase == SLOT_HELD || s->phase == SLOT_DONE)
                    ? e->rank + 1
                    : 0;
    }
    const int mrc = MPI_Allreduce(held, where, (int)n, MPI_INT, MPI_SUM, e->ctl);
    if (mrc != MPI_SUCCESS) {
      rc = rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Allreduce(held models)");
      break;
    }
    int all = 1;
    for (size_t j = 0; j < n; ++j) all &= e->slots[j].start >= e->slots[j].end || where[j] > 0;
    if (all) break;
    const double now = MPI_Wtime();
    if (e->timeout > 0 && now - e->last_activity > e->timeout) {
      rc = watchdog_fail(e, now - e->last_activity, "collecting the models for a checkpoint",
                         RT_WD_NONE, st);
      break;
    }
    backoff(&spins);
  }
  /* Receives for visits that will not happen in this call. */
  for (size_t j = 0; rc == RT_OK && j < n; ++j)
    if (e->slots[j].phase == SLOT_RECEIVING) {
      if (MPI_Cancel(&e->requests[j]) != MPI_SUCCESS ||
          MPI_Wait(&e->requests[j], MPI_STATUS_IGNORE) != MPI_SUCCESS)
        rc = RT_FAIL_AT(st, RT_ERR_MPI, "cannot cancel the receive of model %zu", j);
      e->slots[j].phase = SLOT_ABSENT;
    }
  /* The notices: each rank receives exactly those sent to it, then cancels its spare receive. */
  int sent_mine = e->notice_out != 0;
  if (rc == RT_OK && MPI_Allgather(&sent_mine, 1, MPI_INT, sent, 1, MPI_INT, e->ctl) != MPI_SUCCESS)
    rc = RT_FAIL_AT(st, RT_ERR_MPI, "MPI_Allgather(stop notices) failed");
  uint64_t expected = 0;
  for (int r = 0; rc == RT_OK && r < e->ranks; ++r) expected += r != e->rank && sent[r];
  while (rc == RT_OK && e->notices_received < expected) {
    if (MPI_Wait(&e->notice_req, MPI_STATUS_IGNORE) != MPI_SUCCESS ||
        MPI_Irecv(&e->notice_in, 1, MPI_INT, MPI_ANY_SOURCE, 0, e->ctl, &e->notice_req) !=
            MPI_SUCCESS)
      rc = RT_FAIL_AT(st, RT_ERR_MPI, "cannot receive a stop notice");
    e->notices_received++;
  }
  if (rc == RT_OK && MPI_Waitall(e->ranks, e->notice_sends, MPI_STATUSES_IGNORE) != MPI_SUCCESS)
    rc = RT_FAIL_AT(st, RT_ERR_MPI, "cannot complete the stop notices");
  for (size_t j = 0; rc == RT_OK && j < n; ++j) {
    slot *s = &e->slots[j];
    if (s->start >= s->end) continue;
    const int root = where[j] - 1;
    if (root == e->rank) {
      states[j] = s->state;
      s->state = NULL;
    } else if (!(states[j] = aligned_alloc(RT_STATE_ALIGN, s->bytes))) {
      rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes", s->bytes);
      break;
    }
    const int mrc = MPI_Bcast(states[j], (int)s->bytes, MPI_BYTE, root, e->comm);
    if (mrc != MPI_SUCCESS)
      rc = rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Bcast(checkpoint state)");
  }
  free(held), free(where), free(sent);
  return rc;
}

static void engine_free(engine *e) {
  if (e->slots)
    for (size_t j = 0; j < e->count; ++j) free(e->slots[j].state);
  free(e->slots);
  free(e->requests);
  free(e->queue);
  free(e->visit);
  free(e->visit_specs);
  free(e->visit_states);
  free(e->notice_sends);
  rt_watchdog_free(&e->wd);
  rt_final_states_close(&e->finals);
  if (e->notice_req != MPI_REQUEST_NULL && MPI_Cancel(&e->notice_req) == MPI_SUCCESS)
    (void)MPI_Wait(&e->notice_req, MPI_STATUS_IGNORE);
  if (e->ctl != MPI_COMM_NULL) (void)MPI_Comm_free(&e->ctl);
}

rt_code rt_engine_run(const rt_config *cfg, const rt_model_spec *specs, size_t model_count,
                      const rt_dataset *ds, MPI_Comm comm, void **states, rt_model_stats *stats,
                      const uint64_t *pass_limits, const rt_groups *groups, rt_backend *backend,
                      rt_progress_view *view, rt_rank_time *rank_time, int *stopped,
                      rt_status *st) {
  engine e = {.backend = backend,
              .progress = view && view->fn ? view : NULL,
              .time = rank_time,
              .cfg = cfg,
              .specs = specs,
              .count = model_count,
              .ds = ds,
              .comm = comm,
              .stats = stats,
              .groups = groups,
              .ctl = MPI_COMM_NULL,
              .notice_req = MPI_REQUEST_NULL,
              .timeout = (double)cfg->run.timeout,
              .wd = {.comm = MPI_COMM_NULL},
              .finals = {.comm = MPI_COMM_NULL}};
  *stopped = 0;
  e.rank = ds->rank;
  e.ranks = ds->ranks;
  e.slots = calloc(model_count, sizeof *e.slots);
  e.requests = malloc(model_count * sizeof *e.requests);
  e.queue = malloc(model_count * sizeof *e.queue);
  e.visit = malloc((model_count ? model_count : 1) * sizeof *e.visit);
  e.visit_specs = malloc((model_count ? model_count : 1) * sizeof *e.visit_specs);
  e.visit_states = malloc((model_count ? model_count : 1) * sizeof *e.visit_states);
  e.notice_sends = malloc((size_t)e.ranks * sizeof *e.notice_sends);
  int *indices = malloc((model_count ? model_count : 1) * sizeof *indices);
  rt_code rc = rt_fault_from_env(&e.fault, st);
  if (rc == RT_OK && (!e.slots || !e.requests || !e.queue || !e.visit || !e.visit_specs ||
                      !e.visit_states || !indices || !e.notice_sends))
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate engine tables for %zu models", model_count);
  for (size_t j = 0; rc == RT_OK && j < model_count; ++j) e.requests[j] = MPI_REQUEST_NULL;
  for (int r = 0; rc == RT_OK && r < e.ranks; ++r) e.notice_sends[r] = MPI_REQUEST_NULL;
  if (rc == RT_OK && MPI_Comm_dup(comm, &e.ctl) != MPI_SUCCESS)
    rc = RT_FAIL_AT(st, RT_ERR_MPI, "MPI_Comm_dup(control) failed");
  if (rc == RT_OK) rc = rt_watchdog_init(&e.wd, comm, e.timeout, st);
  if (rc == RT_OK) rc = rt_final_states_open(&e.finals, comm, model_count, st);
  if (rc == RT_OK && e.ranks > 1 &&
      MPI_Irecv(&e.notice_in, 1, MPI_INT, MPI_ANY_SOURCE, 0, e.ctl, &e.notice_req) != MPI_SUCCESS)
    rc = RT_FAIL_AT(st, RT_ERR_MPI, "MPI_Irecv(stop notice) failed");
  if (rc == RT_OK) rc = setup(&e, states, pass_limits, st);
  /* The resumed states were copied where they continue; models that move on are replaced. */
  for (size_t j = 0; rc == RT_OK && j < model_count; ++j)
    if (states[j] && e.slots[j].start < e.slots[j].end) {
      rt_state_free(states[j]);
      states[j] = NULL;
    }
  e.last_activity = MPI_Wtime();
  while (rc == RT_OK && !poll_stop(&e, st) && (e.visits_left > 0 || e.sends_pending > 0)) {
    size_t finished = 0;
    if (e.inflight > 0 && (rc = poll_visits(&e, &finished, st))) break;
    if (finished > 0) continue; /* the loop's condition again: that may have been the last */
    if (e.queue_len > 0) {
      const size_t j = pop_ready(&e);
      if (e.slots[j].phase == SLOT_READY) rc = serve(&e, j, st); /* else served with its group */
      if (rc == RT_OK) rc = progress(&e, indices, 0, st);
    } else {
      rc = progress(&e, indices, 1, st);
    }
    if (rc == RT_OK) rc = poll_finals(&e, st);
  }
  if (rc == RT_OK) rc = st->code; /* a failed poll */
  /* Visits still in flight (a stop came) finish first: they are whole visits, as a synchronous
   * backend's visit would have been. */
  for (unsigned spins = 0; rc == RT_OK && e.inflight > 0;) {
    size_t finished = 0;
    rc = poll_visits(&e, &finished, st);
    if (finished) spins = 0;
    else backoff(&spins);
  }
  if (rc == RT_OK && !e.stopping) rc = await_finals(&e, 1, st);
  if (rc == RT_OK) rc = drain_sends(&e, indices, st);
  int kind = 0;
  if (rc == RT_OK) rc = vote(&e, indices, &kind, st);
  if (cfg->run.profile_first > 0 && kind == 0) rt_prof_capture(0);
  if (rc == RT_OK && kind == 0) rc = gather_final(&e, states, st);
  if (rc == RT_OK && kind != 0) rc = settle_finals(&e, st);
  if (rc == RT_OK && kind != 0) rc = cut(&e, indices, states, st);
  if (rc == RT_OK) *stopped = kind;
  if (e.inflight > 0) abandon_visits(&e); /* an error left visits in flight */
  free(indices);
  engine_free(&e);
  return rc;
}
