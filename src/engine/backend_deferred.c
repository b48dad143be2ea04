/* A test backend (backend.h, rt_backend_deferred_open): it makes any synchronous backend look
 * asynchronous, so that the engine's path for backends with start/poll (a GPU's visits finish
 * while the host goes on) runs and is tested on machines without a GPU. A visit is integrated at
 * once by the inner backend, whole (no stop between batches), and reported finished only after a
 * few polls, which differ from visit to visit so that visits finish out of order. */
#include <inttypes.h>
#include <stdlib.h>

#include "backend.h"

typedef struct pending {
  uint64_t ticket;
  unsigned polls_left;
} pending;

typedef struct deferred_backend {
  rt_backend ops;
  rt_backend *inner;
  unsigned polls;
  pending *queue; /* visits started, not yet reported */
  size_t len, cap;
  uint64_t next_ticket;
} deferred_backend;

static rt_code deferred_start(rt_backend *b, const rt_group_visit *v, uint64_t *ticket,
                              rt_status *st) {
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
  RT_TRY(rc, d->inner->integrate(d->inner, v, NULL, NULL, &complete, st));
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

static void deferred_close(rt_backend *b) {
  deferred_backend *d = (deferred_backend *)b;
  rt_backend_close(d->inner);
  free(d->queue);
  free(d);
}

rt_code rt_backend_deferred_open(rt_backend *inner, unsigned polls, rt_backend **out,
                                 rt_status *st) {
  deferred_backend *d = calloc(1, sizeof *d);
  if (!d) {
    rt_backend_close(inner);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the deferred backend");
  }
  d->ops = (rt_backend){.name = inner->name,
                        .start = deferred_start,
                        .poll = deferred_poll,
                        .evaluate = deferred_evaluate,
                        .close = deferred_close};
  d->inner = inner;
  d->polls = polls;
  *out = &d->ops;
  return RT_OK;
}
