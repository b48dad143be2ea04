/* The CUDA backend behind rt_backend (backend.h): what the one engine (engine.c) calls to integrate
 * a group visit and to evaluate a state on a GPU. This rank's training and validation shards live
 * in device memory for the whole run (uploaded once, here), or, streamed ones (data.residency),
 * only their labels: their rows come batch by batch from the host's read-ahead through each slot's
 * double-buffered feed (cuda/feed.cu), the copies overlapping the kernels, and such a visit is
 * issued batch by batch as the rows arrive; every model has a slot (its own CUDA
 * stream, device state buffer and pinned staging buffer; a cuBLAS handle only for linear exact,
 * made at its first batch; cuda/rt_cuda.h).
 *
 * A group's members are split into parts (src/engine/cuda_parts.h): the members of one fused
 * layout (rt_cuda_group_uniform: one kind, one k of k-means, one MLP network...) of a kind with
 * fused group kernels (logistic, linear sgd, k-means, MLP) share a fused context (cuda/group.cu:
 * one copy of all members' states in, a constant number of launches per batch for the whole part,
 * one copy out); a model alone is a part of one, so that its bytes are the same alone or in a
 * group. A group visit starts one fused visit per part it touches, each on its context's stream.
 * The members of kinds without fused kernels (linear exact): each
 * member's host state goes to its slot (through the pinned staging buffer), its batches are
 * issued on its slot's stream from the member's batch cursor on (the members of a group run side
 * by side on their streams), and the states come back through the staging buffers. So the engine
 * keeps every model's state, header and cursor on the host between visits, exactly as on the CPU:
 * hand-offs, stops, checkpoints, resume, early termination, validation along the ring and the
 * final evaluation are the engine's and work the same on both backends.
 *
 * Specs that change while the run goes on (tpe admits its suggestions, pbt's steps change
 * hyper-parameters and groups; rt_backend.respec): every call of start reads the members'
 * hyper-parameters from the specs it is given, so only capacities can be outgrown. cuda_respec
 * keeps each slot that still holds its model and each fused context that still serves a group,
 * makes the others anew (their memory checked first, every rank agreeing) and frees what no group
 * uses any more.
 *
 * Asynchronous (start/poll, backend.h): the engine starts a visit and goes on (other groups'
 * visits on their own streams, hand-offs, final states) until poll reports it finished, so groups
 * overlap each other and the hand-offs on the GPU. A visit is issued as a whole: a stop request
 * lets the visits in flight finish; it never cuts one between batches. Two exceptions to "returns
 * at once": a visit whose fused context is still busy with the group's earlier visit waits for it
 * (drain_context, polling and calling the engine's hook meanwhile); and a visit over a streamed
 * or LIBSVM shard goes through the slot's feed (cuda/feed.cu),
 * whose two buffers let the host run only about two batches ahead of the device, so its start
 * returns near the visit's end. Meanwhile the feed calls the engine's between-batches hook (the
 * `between` of start) before each batch, so the rank still answers the watchdog's questions
 * (watchdog.h) and reads stop requests; it makes no hand-off until start returns. Making the
 * feed resumable from poll would lift that; resident dense shards, the usual case on a GPU, are
 * not affected.
 *
 * Errors: any failing call ends the visit with its status, which rt_train returns (the CLI then
 * aborts the job, as for any runtime failure on one rank). Device memory is checked for the whole
 * run, and agreed across ranks, before anything is allocated. */
#include "backend.h"

#if RINGTRAIN_WITH_CUDA

#include <stdlib.h>
#include <string.h>

#include "fail_watch.h"
#include "cuda_parts.h"
#include "groups.h"
#include "ringtrain/profile.h"
#include "rt_cuda.h"
#include "schedule.h"

typedef struct cuda_backend {
  rt_backend ops;
  const rt_dataset *ds;
  MPI_Comm comm;                /* respec's agreement */
  size_t count;                 /* models: slots[spec->id] */
  rt_cuda_shard **train, **val; /* [S]; owned shards only */
  rt_cuda_slot **slots;         /* [count]: evaluation, and integration of unfused families */
  size_t *group_of; /* [count]: model id -> its part (cuda_parts.h, of open's or respec's groups) */
  rt_cuda_group **fused; /* [fused_count]: a part's fused context (a fusable family), or NULL */
  size_t fused_count;    /* the parts */
  void *stream;          /* the shard uploads */
  struct cuda_visit *inflight; /* visits started, not yet reported (cuda_start, cuda_poll) */
  size_t inflight_len, inflight_cap;
  uint64_t next_ticket;
  int (*between)(void *); /* the engine's between-batches hook, during cuda_start only */
  void *between_user;
} cuda_backend;

static rt_cuda_slot *slot_of(cuda_backend *c, const rt_model_spec *spec, rt_status *st) {
  if (spec->id >= c->count || !c->slots[spec->id]) {
    RT_FAIL_AT(st, RT_ERR_INTERNAL, "model %llu has no CUDA slot", (unsigned long long)spec->id);
    return NULL;
  }
  return c->slots[spec->id];
}

static const rt_cuda_shard *train_shard(cuda_backend *c, uint64_t shard, rt_status *st) {
  const rt_cuda_shard *s = shard < c->ds->shards ? c->train[shard] : NULL;
  if (!s)
    RT_FAIL_AT(st, RT_ERR_INTERNAL, "training shard %llu is not on this rank's device",
               (unsigned long long)shard);
  return s;
}

/* An unfused visit issued on the members' slots: every member's upload, batches (a streamed shard
 * read once for all of them) and download, asynchronously; the streams overlap. */
static rt_code issue_members(cuda_backend *c, const rt_group_visit *v, const rt_cuda_shard *shard,
                             rt_status *st) {
  rt_code rc = RT_OK;
  rt_cuda_slot **slots = malloc(v->m * sizeof *slots);
  if (!slots) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot track a visit of %zu models", v->m);
  for (size_t i = 0; rc == RT_OK && i < v->m; ++i) {
    if (!(slots[i] = slot_of(c, v->specs[i], st))) rc = st->code;
    if (rc == RT_OK)
      rc = rt_cuda_state_upload(slots[i], v->states[i], rt_state_layout_of(v->specs[i]).total_bytes,
                                st);
  }
  if (rc == RT_OK) {
    rt_cuda_slot_between(slots[0], c->between, c->between_user); /* the lead feeds them all */
    rc = rt_cuda_integrate_members(slots, v->specs, v->m, shard, v->shard, st);
    rt_cuda_slot_between(slots[0], NULL, NULL);
  }
  for (size_t i = 0; rc == RT_OK && i < v->m; ++i)
    rc = rt_cuda_state_download(slots[i], v->states[i], rt_state_layout_of(v->specs[i]).total_bytes,
                                st);
  free(slots);
  if (rc == RT_OK) return RT_OK;
  /* An error: every slot issued to is waited for, so that no copy lands in a state later. */
  for (size_t i = 0; i < v->m; ++i) {
    rt_status ignored;
    if (v->specs[i]->id < c->count && c->slots[v->specs[i]->id])
      (void)rt_cuda_slot_sync(c->slots[v->specs[i]->id], &ignored);
  }
  return rc;
}

/* A visit in flight (cuda_start until cuda_poll reports it): the fused contexts of the parts it
 * touches, and the members on their own slots (a part without fused kernels). */
typedef struct cuda_visit {
  uint64_t ticket;
  size_t ng;
  rt_cuda_group **gs;   /* [ng] */
  unsigned char *gdone; /* [ng]: its states are back (rt_cuda_group_query said done) */
  size_t m;
  size_t *members; /* [m] model ids on their slots */
} cuda_visit;

static void visit_free(cuda_visit *w) {
  free(w->gs);
  free(w->gdone);
  free(w->members);
}

/* A part's context holds one visit at a time (rt_cuda_group_start), but the engine may start a
 * second visit of the same group while the first is in flight: members of one group at different
 * cursors on this rank (a model admitted later by asha, tpe or pbt). The new visit then waits for
 * the old one's device work (compute only, no peer): its states are written back now and its
 * part marked done, so cuda_poll still reports that visit finished in its turn. The wait polls
 * and calls the engine's between-batches hook meanwhile, so a rank waiting here for a long visit
 * still answers the watchdog's questions. */
static rt_code drain_context(cuda_backend *c, rt_cuda_group *g, rt_status *st) {
  int waited = 0;
  rt_code rc;
  rt_cuda_group_between(g, c->between, c->between_user); /* answer the watchdog while waiting */
  rc = rt_cuda_group_wait(g, &waited, st);
  rt_cuda_group_between(g, NULL, NULL);
  if (rc != RT_OK) return rc;
  for (size_t k = 0; waited && k < c->inflight_len; ++k)
    for (size_t i = 0; i < c->inflight[k].ng; ++i)
      if (c->inflight[k].gs[i] == g && !c->inflight[k].gdone[i]) {
        c->inflight[k].gdone[i] = 1;
        return RT_OK;
      }
  return waited
             ? RT_FAIL_AT(st, RT_ERR_INTERNAL, "a busy CUDA group context had no visit in flight")
             : RT_OK;
}

/* Starts the members of v that belong to part p (in v's order): its fused context, or their
 * slots. sub_specs and sub_states hold v->m entries. */
static rt_code start_part(cuda_backend *c, const rt_group_visit *v, size_t p,
                          const rt_cuda_shard *shard, const rt_model_spec **sub_specs,
                          void **sub_states, cuda_visit *w, rt_status *st) {
  size_t k = 0;
  for (size_t i = 0; i < v->m; ++i)
    if (c->group_of[v->specs[i]->id] == p) {
      sub_specs[k] = v->specs[i];
      sub_states[k++] = v->states[i];
    }
  if (c->fused[p]) {
    rt_code rc;
    RT_TRY(rc, drain_context(c, c->fused[p], st));
    rt_cuda_group_between(c->fused[p], c->between, c->between_user);
    rc = rt_cuda_group_start(c->fused[p], sub_specs, sub_states, k, shard, v->shard, st);
    rt_cuda_group_between(c->fused[p], NULL, NULL);
    if (rc != RT_OK) return rc;
    w->gs[w->ng++] = c->fused[p];
    return RT_OK;
  }
  const rt_group_visit sub = {sub_specs, v->fam, sub_states, k, v->shard};
  for (size_t i = 0; i < k; ++i) w->members[w->m++] = sub_specs[i]->id;
  return issue_members(c, &sub, shard, st);
}

static rt_code cuda_start(rt_backend *b, const rt_group_visit *v, int (*between)(void *),
                          void *user, uint64_t *ticket, rt_status *st) {
  cuda_backend *c = (cuda_backend *)b;
  const rt_cuda_shard *shard = train_shard(c, v->shard, st);
  if (!shard) return st->code;
  for (size_t i = 0; i < v->m; ++i)
    if (v->specs[i]->id >= c->count)
      return RT_FAIL_AT(st, RT_ERR_INTERNAL, "model %llu has no CUDA part",
                        (unsigned long long)v->specs[i]->id);
  if (c->inflight_len == c->inflight_cap) {
    const size_t cap = c->inflight_cap ? 2 * c->inflight_cap : 16;
    cuda_visit *grown = realloc(c->inflight, cap * sizeof *grown);
    if (!grown) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot track %zu CUDA visits", cap);
    c->inflight = grown;
    c->inflight_cap = cap;
  }
  const size_t n = v->m ? v->m : 1;
  cuda_visit w = {.ticket = c->next_ticket};
  w.gs = malloc(n * sizeof *w.gs);
  w.gdone = calloc(n, 1);
  w.members = malloc(n * sizeof *w.members);
  const rt_model_spec **sub_specs = malloc(n * sizeof *sub_specs);
  void **sub_states = malloc(n * sizeof *sub_states);
  size_t *parts = malloc(n * sizeof *parts), nparts = 0;
  rt_code rc = RT_OK;
  if (!w.gs || !w.gdone || !w.members || !sub_specs || !sub_states || !parts)
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot track a visit of %zu models", v->m);
  /* The parts the visit touches, in the order of their first member here. */
  for (size_t i = 0; rc == RT_OK && i < v->m; ++i) {
    const size_t p = c->group_of[v->specs[i]->id];
    size_t q = 0;
    while (q < nparts && parts[q] != p) ++q;
    if (q == nparts) parts[nparts++] = p;
  }
  c->between = between, c->between_user = user;
  for (size_t q = 0; rc == RT_OK && q < nparts; ++q)
    rc = start_part(c, v, parts[q], shard, sub_specs, sub_states, &w, st);
  c->between = NULL, c->between_user = NULL;
  free(sub_specs);
  free(sub_states);
  free(parts);
  if (rc != RT_OK) { /* what started stays with its context or slots: close waits for them */
    visit_free(&w);
    return rc;
  }
  c->inflight[c->inflight_len++] = w;
  *ticket = c->next_ticket++;
  return RT_OK;
}

/* One finished visit, oldest first among those done; a fused part's states are written back by
 * rt_cuda_group_query (once: it is then marked), the downloads of members on their slots have
 * landed once their slots are done. */
static rt_code cuda_poll(rt_backend *b, uint64_t *ticket, int *done, rt_status *st) {
  cuda_backend *c = (cuda_backend *)b;
  *done = 0;
  for (size_t k = 0; k < c->inflight_len; ++k) {
    cuda_visit *w = &c->inflight[k];
    int finished = 1;
    rt_code rc;
    for (size_t i = 0; i < w->ng; ++i) {
      if (w->gdone[i]) continue;
      int part_done = 0;
      RT_TRY(rc, rt_cuda_group_query(w->gs[i], &part_done, st));
      if (part_done) w->gdone[i] = 1;
      else finished = 0;
    }
    for (size_t i = 0; finished && i < w->m; ++i)
      RT_TRY(rc, rt_cuda_slot_query(c->slots[w->members[i]], &finished, st));
    if (!finished) continue;
    *ticket = w->ticket;
    *done = 1;
    visit_free(w);
    memmove(w, w + 1, (c->inflight_len - k - 1) * sizeof *w);
    c->inflight_len--;
    return RT_OK;
  }
  return RT_OK;
}

static rt_code cuda_evaluate(rt_backend *b, const rt_model_spec *spec, const void *state,
                             uint64_t shard, size_t chunk_rows, double *sums, rt_status *st) {
  cuda_backend *c = (cuda_backend *)b;
  (void)chunk_rows; /* the model's batch size: rt_cuda_evaluate_shard takes it from the spec */
  rt_cuda_slot *slot = slot_of(c, spec, st);
  if (!slot) return st->code;
  const rt_cuda_shard *val = shard < c->ds->shards ? c->val[shard] : NULL;
  if (!val)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "validation shard %llu is not on this rank's device",
                      (unsigned long long)shard);
  rt_code rc;
  RT_TRY(rc, rt_cuda_state_upload(slot, state, rt_state_layout_of(spec).total_bytes, st));
  rc = rt_cuda_evaluate_shard(slot, spec, val, sums, st); /* synchronous */
  rt_status ignored;
  const rt_code synced = rt_cuda_slot_sync(slot, rc == RT_OK ? st : &ignored);
  return rc == RT_OK ? synced : rc;
}

/* Every slot's stream synchronised (its downloads into host states land now or never) and every
 * busy fused context waited for (its states written back), errors ignored. */
static void cuda_quiesce(rt_backend *b) {
  cuda_backend *c = (cuda_backend *)b;
  rt_status ignored;
  int waited = 0;
  for (size_t j = 0; c->slots && j < c->count; ++j)
    if (c->slots[j]) (void)rt_cuda_slot_sync(c->slots[j], &ignored);
  for (size_t g = 0; c->fused && g < c->fused_count; ++g)
    if (c->fused[g]) (void)rt_cuda_group_wait(c->fused[g], &waited, &ignored);
}

/* The slots' streams are synchronised before their memory goes (rt_cuda_slot_free). */
static void cuda_close(rt_backend *b) {
  cuda_backend *c = (cuda_backend *)b;
  for (size_t j = 0; c->slots && j < c->count; ++j) rt_cuda_slot_free(c->slots[j]);
  for (size_t g = 0; c->fused && g < c->fused_count; ++g) rt_cuda_group_free(c->fused[g]);
  free(c->fused);
  free(c->group_of);
  for (size_t k = 0; c->inflight && k < c->inflight_len; ++k) visit_free(&c->inflight[k]);
  free(c->inflight);
  for (size_t s = 0; c->train && s < c->ds->shards; ++s) rt_cuda_shard_free(c->train[s]);
  for (size_t s = 0; c->val && s < c->ds->shards; ++s) rt_cuda_shard_free(c->val[s]);
  rt_cuda_stream_destroy(c->stream);
  free(c->slots);
  free(c->train);
  free(c->val);
  free(c);
}

static int owned(const cuda_backend *c, size_t s) {
  return rt_shard_owner(s, c->ds->shards, c->ds->ranks) == c->ds->rank;
}

/* Whether some shard of this rank is sparse (LIBSVM: CSR on the device, made dense by feeds). */
static int sparse_data(const rt_dataset *ds) {
  for (size_t s = 0; s < ds->shards; ++s)
    if (ds->train[s].indptr || ds->val[s].indptr) return 1;
  return 0;
}

/* The most non-zeros a training batch of `batch` rows that goes as CSR (rt_cuda_batch_as_csr)
 * holds in this rank's sparse shards (batches are the shard's rows in windows of `batch`, whatever
 * their order): what a feed's CSR transposes hold. */
static size_t max_batch_nnz(const rt_dataset *ds, size_t batch) {
  size_t most = 0;
  for (size_t s = 0; s < ds->shards && batch > 0; ++s) {
    const rt_shard *t = &ds->train[s];
    if (!t->indptr) continue;
    for (size_t first = 0; first < t->rows; first += batch) {
      const size_t end = first + batch < t->rows ? first + batch : t->rows;
      const size_t nnz = (size_t)(t->indptr[end] - t->indptr[first]);
      if (rt_cuda_batch_as_csr(end - first, ds->features, nnz) && nnz > most) most = nnz;
    }
  }
  return most;
}

/* A slot's extras for batches of `batch` rows: the input buffer when the model gathers its batches
 * (a view, a scaling of its own: rt_cuda_own_input), the feed when some shard of this rank
 * streams or is sparse (rt_cuda_feed_bytes). */
static size_t extra_bytes(const rt_model_spec *spec, const rt_dataset *ds, size_t batch) {
  return rt_cuda_input_bytes(spec, ds->scaled, batch) +
         (ds->streamed || sparse_data(ds)
              ? rt_cuda_feed_bytes(batch, ds->features, max_batch_nnz(ds, batch))
              : 0);
}

/* Device bytes of a host shard once uploaded: its rows and labels, a streamed one's labels, a
 * sparse one's CSR and labels. */
static size_t device_shard_bytes(const rt_shard *s, size_t features) {
  if (s->indptr)
    return rt_cuda_sparse_shard_bytes(s->rows, (size_t)s->indptr[s->rows], s->y != NULL);
  return rt_cuda_shard_bytes(s->rows, s->source ? 0 : features, s->y != NULL);
}

/* A model's slot, with its extras. */
static size_t slot_bytes(const rt_model_spec *spec, const rt_dataset *ds) {
  const size_t batch = (size_t)spec->hp.batch_size;
  return rt_cuda_slot_bytes(rt_state_layout_of(spec).total_bytes, batch, ds->features, ds->classes,
                            rt_cuda_work_floats(spec, batch)) +
         extra_bytes(spec, ds, batch);
}

/* The most batches a visit of this batch size has on this rank. */
static size_t max_batches(const cuda_backend *c, size_t batch) {
  size_t most = 1;
  for (size_t s = 0; s < c->ds->shards; ++s)
    if (owned(c, s) && (c->ds->train[s].rows + batch - 1) / batch > most)
      most = (c->ds->train[s].rows + batch - 1) / batch;
  return most;
}

/* A fused context of the group specs[0..m), with its input buffer likewise. */
static size_t group_bytes(const cuda_backend *c, const rt_model_spec **specs, size_t m) {
  const size_t batch = (size_t)specs[0]->hp.batch_size;
  return rt_cuda_group_bytes(specs, m, max_batches(c, batch)) + extra_bytes(specs[0], c->ds, batch);
}

/* 1 when `slot` holds the model of `spec` (as large as slot_bytes would make it, or larger). */
static int slot_holds(const rt_cuda_slot *slot, const rt_model_spec *spec, const rt_dataset *ds) {
  const size_t batch = (size_t)spec->hp.batch_size;
  return rt_cuda_slot_fits(slot, rt_state_layout_of(spec).total_bytes, batch, ds->features,
                           ds->classes, rt_cuda_work_floats(spec, batch));
}

/* Part g's member specs into out[] when its members can be fused on CUDA (one fusable kind and
 * layout: rt_cuda_group_uniform, what every part of a fusable kind is); returns how many (0:
 * member by member). `groups` here and below: the parts (cuda_parts.h). */
static size_t fused_members(const rt_model_spec *specs, const rt_groups *groups, size_t g,
                            const rt_model_spec **out) {
  const size_t m = rt_group_size(groups, g);
  const size_t *members = rt_group_members(groups, g);
  for (size_t k = 0; k < m; ++k) out[k] = &specs[members[k]];
  return rt_cuda_group_uniform(out, m) ? m : 0;
}

/* What the backend requires of every model, at open and at every respec: its id is its index, the
 * CUDA limits hold (a tpe suggestion is checked here), and it trains on the rows as the device
 * shards hold them. */
static rt_code check_specs(const cuda_backend *c, const rt_model_spec *specs, rt_status *st) {
  for (size_t j = 0; j < c->count; ++j) {
    const rt_model_spec *spec = &specs[j];
    rt_code rc;
    if (spec->id != j)
      return RT_FAIL_AT(st, RT_ERR_INTERNAL, "model %zu carries id %llu", j,
                        (unsigned long long)spec->id);
    RT_TRY(rc, rt_cuda_check_spec(spec, st));
  }
  return RT_OK;
}

/* The first half of placing specs[0..count) with their groups: the slots that still hold their
 * model and the fused contexts that serve a group of the new ones stay (a context goes to the first
 * group it fits), the rest is freed. Afterwards a NULL slot or a NULL context of a fusable group is
 * what make_missing creates. */
static rt_code keep_fitting(cuda_backend *c, const rt_model_spec *specs, const rt_groups *groups,
                            const rt_model_spec **scratch, rt_status *st) {
  rt_cuda_group **next = calloc(groups->count ? groups->count : 1, sizeof *next);
  size_t *group_of = malloc((c->count ? c->count : 1) * sizeof *group_of);
  if (!next || !group_of) {
    free(next);
    free(group_of);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the CUDA contexts of %zu groups",
                      groups->count);
  }
  memcpy(group_of, groups->group_of, c->count * sizeof *group_of);
  for (size_t g = 0; g < groups->count; ++g) {
    const size_t m = fused_members(specs, groups, g, scratch);
    const size_t nb = m ? max_batches(c, (size_t)scratch[0]->hp.batch_size) : 0;
    for (size_t k = 0; m && !next[g] && k < c->fused_count; ++k)
      if (rt_cuda_group_fits(c->fused[k], scratch, m, nb)) {
        next[g] = c->fused[k];
        c->fused[k] = NULL;
      }
  }
  for (size_t k = 0; k < c->fused_count; ++k) rt_cuda_group_free(c->fused[k]);
  free(c->fused);
  c->fused = next;
  c->fused_count = groups->count;
  free(c->group_of);
  c->group_of = group_of;
  for (size_t j = 0; j < c->count; ++j)
    if (c->slots[j] && !slot_holds(c->slots[j], &specs[j], c->ds)) {
      rt_cuda_slot_free(c->slots[j]); /* synchronises its stream first */
      c->slots[j] = NULL;
    }
  return RT_OK;
}

/* Device bytes of what keep_fitting left missing: the slots and contexts it freed, and the input
 * buffers that the ones it kept must grow for their new models (a view or a scaling that a tpe or
 * pbt spec brings: rt_cuda_input_prepare allocates them at the first such visit). */
static size_t missing_bytes(const cuda_backend *c, const rt_model_spec *specs,
                            const rt_groups *groups, const rt_model_spec **scratch) {
  size_t need = 0;
  for (size_t j = 0; j < c->count; ++j)
    need += c->slots[j] ? rt_cuda_input_missing_bytes(c->slots[j], &specs[j], c->ds->scaled)
                        : slot_bytes(&specs[j], c->ds);
  for (size_t g = 0; g < groups->count; ++g) {
    const size_t m = fused_members(specs, groups, g, scratch);
    if (!m) continue;
    need += c->fused[g] ? rt_cuda_group_input_missing_bytes(c->fused[g], scratch[0], c->ds->scaled)
                        : group_bytes(c, scratch, m);
  }
  return need;
}

/* The second half: the missing slots and fused contexts (their memory checked by the caller). */
static rt_code make_missing(cuda_backend *c, const rt_model_spec *specs, const rt_groups *groups,
                            const rt_model_spec **scratch, rt_status *st) {
  rt_code rc;
  for (size_t j = 0; j < c->count; ++j) {
    if (c->slots[j]) continue;
    const rt_model_spec *spec = &specs[j];
    const size_t batch = (size_t)spec->hp.batch_size;
    RT_TRY(rc,
           rt_cuda_slot_create(rt_state_layout_of(spec).total_bytes, batch, c->ds->features,
                               c->ds->classes, rt_cuda_work_floats(spec, batch), &c->slots[j], st));
  }
  for (size_t g = 0; g < groups->count; ++g) {
    const size_t m = c->fused[g] ? 0 : fused_members(specs, groups, g, scratch);
    if (m)
      RT_TRY(rc, rt_cuda_group_create(scratch, m, max_batches(c, (size_t)scratch[0]->hp.batch_size),
                                      &c->fused[g], st));
  }
  return RT_OK;
}

/* Device memory for the owned shards, one slot per model and the fused parts' contexts (parts:
 * cuda_parts.h, of the run's groups), checked before allocating any; then the uploads and the
 * allocations. */
static rt_code load(cuda_backend *c, const rt_model_spec *specs, const rt_groups *groups,
                    const rt_model_spec **scratch, rt_status *st) {
  rt_code rc;
  RT_TRY(rc, keep_fitting(c, specs, groups, scratch, st));
  size_t need = missing_bytes(c, specs, groups, scratch);
  for (size_t s = 0; s < c->ds->shards; ++s)
    if (owned(c, s))
      need += device_shard_bytes(&c->ds->train[s], c->ds->features) +
              device_shard_bytes(&c->ds->val[s], c->ds->features);
  RT_TRY(rc, rt_cuda_check_fits(need, "the training and validation shards and model slots", st));
  RT_TRY(rc, rt_cuda_stream_create(&c->stream, st));
  for (size_t s = 0; s < c->ds->shards; ++s) {
    if (!owned(c, s)) continue;
    RT_TRY(rc, rt_cuda_shard_upload(&c->ds->train[s], c->stream, &c->train[s], st));
    RT_TRY(rc, rt_cuda_shard_upload(&c->ds->val[s], c->stream, &c->val[s], st));
    rt_cuda_shard_set_scaled(c->train[s], c->ds->scaled);
    rt_cuda_shard_set_scaled(c->val[s], c->ds->scaled);
  }
  return make_missing(c, specs, groups, scratch, st);
}

/* rt_backend.respec: the specs or groups changed between two engine runs, no visit in flight.
 * Collective over the backend's communicator: every rank gets the same outcome. */
static rt_code cuda_respec(rt_backend *b, const rt_model_spec *specs, size_t count,
                           const rt_groups *groups, rt_status *st) {
  cuda_backend *c = (cuda_backend *)b;
  const rt_model_spec **scratch = calloc(count ? count : 1, sizeof *scratch);
  rt_groups parts = {0};
  rt_code rc = RT_OK;
  if (!scratch) rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu model pointers", count);
  else if (count != c->count || c->inflight_len)
    rc = RT_FAIL_AT(st, RT_ERR_INTERNAL,
                    "CUDA respec of %zu models (the backend has %zu) with %zu visits in flight",
                    count, c->count, c->inflight_len);
  if (rc == RT_OK) rc = check_specs(c, specs, st);
  if (rc == RT_OK) rc = rt_cuda_parts_form(specs, groups, &parts, st);
  if (rc == RT_OK) rc = keep_fitting(c, specs, &parts, scratch, st);
  if (rc == RT_OK)
    rc = rt_cuda_check_fits(missing_bytes(c, specs, &parts, scratch),
                            "the slots and fused groups of the changed models", st);
  if (rc == RT_OK) rc = make_missing(c, specs, &parts, scratch, st);
  rt_groups_free(&parts);
  free(scratch);
  return rt_agree_origin(c->comm, rc, st);
}

rt_code rt_backend_cuda_open(const rt_dataset *ds, const rt_model_spec *specs, size_t count,
                             const rt_groups *groups, MPI_Comm comm, rt_backend **out,
                             rt_status *st) {
  *out = NULL;
  cuda_backend *c = calloc(1, sizeof *c);
  rt_code rc = RT_OK;
  if (c) {
    c->ops = (rt_backend){.name = "cuda",
                          .start = cuda_start,
                          .poll = cuda_poll,
                          .quiesce = cuda_quiesce,
                          .evaluate = cuda_evaluate,
                          .respec = cuda_respec,
                          .close = cuda_close};
    c->ds = ds;
    c->comm = comm;
    c->count = count;
    c->train = calloc(ds->shards ? ds->shards : 1, sizeof *c->train);
    c->val = calloc(ds->shards ? ds->shards : 1, sizeof *c->val);
    c->slots = calloc(count ? count : 1, sizeof *c->slots);
  }
  const rt_model_spec **scratch = calloc(count ? count : 1, sizeof *scratch);
  if (!c || !c->train || !c->val || !c->slots || !scratch)
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the CUDA backend for %zu models", count);
  if (rc == RT_OK) rc = check_specs(c, specs, st);
  rt_groups parts = {0};
  if (rc == RT_OK) rc = rt_cuda_parts_form(specs, groups, &parts, st);
  if (rc == RT_OK) {
    rt_prof_begin(RT_PHASE_LOAD, -1, -1, -1);
    rc = load(c, specs, &parts, scratch, st);
    rt_prof_end(RT_PHASE_LOAD);
  }
  rt_groups_free(&parts);
  free(scratch);
  rc = rt_agree_origin(comm, rc, st); /* the same outcome on every rank */
  if (rc == RT_OK) {
    *out = &c->ops;
    return RT_OK;
  }
  if (c) cuda_close(&c->ops);
  return rc;
}

#else
typedef int rt_backend_cuda_absent; /* a CPU-only build has no CUDA backend */
#endif /* RINGTRAIN_WITH_CUDA */
