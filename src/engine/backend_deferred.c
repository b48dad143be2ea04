/* A test backend (backend.h, rt_backend_deferred_open): it makes any synchronous backend look
 * asynchronous, so that the engine's path for backends with start/poll (a GPU's visits finish
 * while the host goes on) runs and is tested on machines without a GPU. A visit is integrated at
 * once by the inner backend, whole (no stop between batches), and reported finished only after a
 * few polls, which differ from visit to visit so that visits finish out of order.
 *
 * It also holds the engine to what a device backend relies on: like the CUDA backend, it is told
 * the models and groups at open and at every respec (backend.h) and keeps what a device sizes its
 * buffers by (a model's kind, state bytes and batch size) and the group of each model (which
 * picks a fused context). A visit whose members differ from what it was told, or come from two
 * groups, fails with RT_ERR_INTERNAL: a respec the engine forgot (tpe's suggestions, pbt's steps)
 * shows on any machine, not only on a GPU. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "groups.h"

typedef struct pending {
  uint64_t ticket;
  unsigned polls_left;
} pending;

/* What a device backend sizes a model's buffers by. */
typedef struct model_shape {
  char kind[RT_NAME_MAX];
  size_t state_bytes;
  int64_t batch_size;
} model_shape;

typedef struct deferred_backend {
  rt_backend ops;
  rt_backend *inner;
  unsigned polls;
  unsigned batch_ms; /* each batch of a start waits this long first (a device's pace) */
  pending *queue;    /* visits started, not yet reported */
  size_t len, cap;
  uint64_t next_ticket;
  size_t count;        /* models told of */
  model_shape *shapes; /* [count] */
  size_t *group_of;    /* [count] */
} deferred_backend;

static model_shape shape_of(const rt_model_spec *spec) {
  model_shape s;
  memset(&s, 0, sizeof s);
  snprintf(s.kind, sizeof s.kind, "%s", spec->hp.kind);
  s.state_bytes = rt_state_layout_of(spec).total_bytes;
  s.batch_size = spec->hp.batch_size;
  return s;
}

/* Keeps the shapes and groups of specs[0..count). */
static rt_code tell(deferred_backend *d, const rt_model_spec *specs, size_t count,
                    const rt_groups *groups, rt_status *st) {
  if (d->len) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "respec with %zu visits in flight", d->len);
  if (groups->models != count)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "%zu models, groups of %zu", count, groups->models);
  model_shape *shapes = malloc((count ? count : 1) * sizeof *shapes);
  size_t *group_of = malloc((count ? count : 1) * sizeof *group_of);
  if (!shapes || !group_of) {
    free(shapes);
    free(group_of);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot record %zu models", count);
  }
  for (size_t j = 0; j < count; ++j) {
    shapes[j] = shape_of(&specs[j]);
    group_of[j] = groups->group_of[j];
    if (specs[j].id != j) {
      free(shapes);
      free(group_of);
      return RT_FAIL_AT(st, RT_ERR_INTERNAL, "model %zu carries id %llu", j,
                        (unsigned long long)specs[j].id);
    }
  }
  free(d->shapes);
  free(d->group_of);
  d->shapes = shapes;
  d->group_of = group_of;
  d->count = count;
  return RT_OK;
}

/* A visit's members as the backend was told of them, all of one group. */
static rt_code check_visit(const deferred_backend *d, const rt_group_visit *v, rt_status *st) {
  for (size_t i = 0; i < v->m; ++i) {
    const rt_model_spec *spec = v->specs[i];
    const model_shape now = shape_of(spec);
    if (spec->id >= d->count || memcmp(&now, &d->shapes[spec->id], sizeof now) != 0)
      return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                        "a visit of model %llu (%s, %zu state bytes, batch %lld) the backend was "
                        "not told of (the engine changed its spec without a respec)",
                        (unsigned long long)spec->id, now.kind, now.state_bytes,
                        (long long)now.batch_size);
    if (d->group_of[spec->id] != d->group_of[v->specs[0]->id])
      return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                        "a visit of models %llu and %llu, of groups %zu and %zu the backend was "
                        "told of",
                        (unsigned long long)v->specs[0]->id, (unsigned long long)spec->id,
                        d->group_of[v->specs[0]->id], d->group_of[spec->id]);
  }
  return RT_OK;
}

/* The engine's between-batches hook, called between the inner backend's batches as CUDA's fed
 * visits call it (after the batch's wait, if any); never a stop (a started visit is not cut). */
typedef struct between_hook {
  int (*between)(void *);
  void *user;
  unsigned wait_ms;
} between_hook;

static int between_never_stop(void *p) {
  const between_hook *h = p;
  if (h->wait_ms) {
    struct timespec t = {(time_t)(h->wait_ms / 1000), (long)(h->wait_ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) { /* the rest of it after a signal */
    }
  }
  if (h->between) (void)h->between(h->user);
  return 0;
}

static rt_code deferred_start(rt_backend *b, const rt_group_visit *v, int (*between)(void *),
                              void *user, uint64_t *ticket, rt_status *st) {
  deferred_backend *d = (deferred_backend *)b;
  if (d->len == d->cap) {
    const size_t cap = d->cap ? 2 * d->cap : 16;
    pending *q = realloc(d->queue, cap * sizeof *q);
    if (!q) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot queue %zu visits", cap);
    d->queue = q;
    d->cap = cap;
  }
  int complete = 0;
  rt_code rc;
  RT_TRY(rc, check_visit(d, v, st));
  between_hook hook = {between, user, d->batch_ms};
  RT_TRY(rc, d->inner->integrate(d->inner, v, between_never_stop, &hook, &complete, st));
  if (!complete) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "a deferred visit did not complete");
  *ticket = d->next_ticket++;
  /* 0, 1 or 2 polls more than asked, by ticket: later visits may finish first. */
  d->queue[d->len++] = (pending){*ticket, d->polls + (unsigned)((*ticket * 7) % 3)};
  return RT_OK;
}

static rt_code deferred_poll(rt_backend *b, uint64_t *ticket, int *done, rt_status *st) {
  deferred_backend *d = (deferred_backend *)b;
  (void)st;
  *done = 0;
  for (size_t i = 0; i < d->len; ++i)
    if (d->queue[i].polls_left > 0) d->queue[i].polls_left--;
  for (size_t i = 0; i < d->len; ++i) {
    if (d->queue[i].polls_left > 0) continue;
    *ticket = d->queue[i].ticket;
    *done = 1;
    d->queue[i] = d->queue[--d->len];
    return RT_OK;
  }
  return RT_OK;
}

static rt_code deferred_evaluate(rt_backend *b, const rt_model_spec *spec, const void *state,
                                 uint64_t shard, size_t chunk_rows, double *sums, rt_status *st) {
  deferred_backend *d = (deferred_backend *)b;
  return d->inner->evaluate(d->inner, spec, state, shard, chunk_rows, sums, st);
}

static rt_code deferred_respec(rt_backend *b, const rt_model_spec *specs, size_t count,
                               const rt_groups *groups, rt_status *st) {
  deferred_backend *d = (deferred_backend *)b;
  rt_code rc;
  RT_TRY(rc, tell(d, specs, count, groups, st));
  return rt_backend_respec(d->inner, specs, count, groups, st);
}

static void deferred_close(rt_backend *b) {
  deferred_backend *d = (deferred_backend *)b;
  rt_backend_close(d->inner);
  free(d->queue);
  free(d->shapes);
  free(d->group_of);
  free(d);
}

rt_code rt_backend_deferred_open(rt_backend *inner, unsigned polls, unsigned batch_ms,
                                 const rt_model_spec *specs, size_t count, const rt_groups *groups,
                                 rt_backend **out, rt_status *st) {
  deferred_backend *d = calloc(1, sizeof *d);
  if (!d) {
    rt_backend_close(inner);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the deferred backend");
  }
  d->ops = (rt_backend){.name = inner->name,
                        .start = deferred_start,
                        .poll = deferred_poll,
                        .evaluate = deferred_evaluate,
                        .respec = deferred_respec,
                        .close = deferred_close};
  d->inner = inner;
  d->polls = polls;
  d->batch_ms = batch_ms;
  rt_code rc = tell(d, specs, count, groups, st);
  if (rc != RT_OK) {
    deferred_close(&d->ops);
    return rc;
  }
  *out = &d->ops;
  return RT_OK;
}
