/* The trace recorder (trace.h): ring buffers of profiling events, gathered to rank 0 with the
 * clocks aligned, written as Chrome trace events. */
#include "trace.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agree.h"
#include "ringtrain/atomic_file.h"
#include "ringtrain/profile.h"

#ifndef RINGTRAIN_VERSION
#define RINGTRAIN_VERSION "unknown"
#endif

/* One event as recorded and as gathered (MPI: SIZE contiguous bytes; ranks share one ABI). */
typedef struct trace_rec {
  int64_t time_ns; /* CLOCK_MONOTONIC of the recording rank */
  int32_t model, pass, shard;
  uint8_t kind, phase;
  uint16_t members; /* a group visit: its members (UINT16_MAX: that many or more); 0: none */
} trace_rec;
_Static_assert(sizeof(trace_rec) == 24, "a trace event is 24 bytes");

/* A clock measurement of one rank against rank 0. */
typedef struct sync_point {
  int64_t local_ns;  /* the rank's clock at the sample kept */
  int64_t offset_ns; /* the rank's clock minus rank 0's */
  int64_t rtt_ns;    /* the round trip of that sample */
} sync_point;

enum {
  SYNC_ROUNDS = 10,    /* ping-pongs per rank and measurement; the shortest round trip is kept */
  SYNC_POINTS_MAX = 8, /* measurements kept per rank (the start and the collections); past it
                          the last one is replaced */
  SYNC_TAG = 7301,
  SYNC_SLACK_NS = 10000 /* measurements within 2 x the best round trip + 10 us are used */
};

/* Rank 0: what it has collected of one rank. */
typedef struct rank_store {
  trace_rec *ev; /* in the order recorded (time order) */
  size_t n, cap;
  sync_point sync[SYNC_POINTS_MAX];
  size_t nsync;
  uint64_t dropped;
} rank_store;

struct rt_trace {
  MPI_Comm comm;         /* a duplicate of the run's communicator; MPI_COMM_NULL until then */
  MPI_Datatype rec_type; /* one trace_rec; MPI_DATATYPE_NULL until committed */
  int rank, ranks;
  size_t model_count;
  trace_rec *ring;
  uint64_t cap;
  uint64_t count; /* events recorded since the last collection; atomic */
  int sink_installed;
  rank_store *store; /* rank 0: [ranks] */
};

/* ---- Recording --------------------------------------------------------------------------- */

static int32_t narrow(int64_t v) { return v >= 0 && v <= INT32_MAX ? (int32_t)v : -1; }
static uint16_t narrow_members(int64_t v) {
  return v < 1 ? 0 : v >= UINT16_MAX ? UINT16_MAX : (uint16_t)v;
}

static void record(const rt_prof_event *event, void *user) {
  rt_trace *t = user;
  const uint64_t n = __atomic_fetch_add(&t->count, 1, __ATOMIC_RELAXED);
  trace_rec *r = &t->ring[n % t->cap]; /* full: the oldest is overwritten */
  r->time_ns = event->time_ns;
  r->model = narrow(event->model);
  r->pass = narrow(event->pass);
  r->shard = narrow(event->shard);
  r->kind = (uint8_t)event->kind;
  r->phase = (uint8_t)event->phase;
  r->members = narrow_members(event->members);
}

/* ---- Clocks ------------------------------------------------------------------------------ */

/* 0, or -1 when the clock cannot be read (never on Linux; reported after the protocol). */
static int now_ns(int64_t *out) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
    *out = 0;
    return -1;
  }
  *out = (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
  return 0;
}

static void add_sync_point(rank_store *s, sync_point p) {
  if (s->nsync == SYNC_POINTS_MAX) s->nsync--; /* keep the first ones and the latest */
  s->sync[s->nsync++] = p;
}

/* Collective: rank 0 measures every rank's clock offset (SYNC_ROUNDS ping-pongs each, the sample
 * with the shortest round trip kept) and records it. */
static rt_code sync_clocks(rt_trace *t, rt_status *st) {
  int clock_failed = 0;
  if (t->rank == 0) {
    sync_point self = {0, 0, 0};
    clock_failed |= now_ns(&self.local_ns);
    add_sync_point(&t->store[0], self);
    for (int r = 1; r < t->ranks; ++r) {
      sync_point best = {0, 0, INT64_MAX};
      for (int k = 0; k < SYNC_ROUNDS; ++k) {
        int64_t t0 = 0, t1 = 0, remote = 0;
        clock_failed |= now_ns(&t0);
        RT_MPI_CHECK(st, MPI_Send(&k, 1, MPI_INT, r, SYNC_TAG, t->comm));
        RT_MPI_CHECK(st,
                     MPI_Recv(&remote, 1, MPI_INT64_T, r, SYNC_TAG, t->comm, MPI_STATUS_IGNORE));
        clock_failed |= now_ns(&t1);
        const int64_t rtt = t1 - t0;
        if (rtt < best.rtt_ns) {
          best.rtt_ns = rtt;
          best.local_ns = remote;
          best.offset_ns = remote - (t0 + rtt / 2);
        }
      }
      add_sync_point(&t->store[r], best);
    }
  } else {
    for (int k = 0; k < SYNC_ROUNDS; ++k) {
      int token = 0;
      int64_t mine = 0;
      RT_MPI_CHECK(st, MPI_Recv(&token, 1, MPI_INT, 0, SYNC_TAG, t->comm, MPI_STATUS_IGNORE));
      clock_failed |= now_ns(&mine);
      RT_MPI_CHECK(st, MPI_Send(&mine, 1, MPI_INT64_T, 0, SYNC_TAG, t->comm));
    }
  }
  if (clock_failed) return RT_FAIL_AT(st, RT_ERR_IO, "clock_gettime(CLOCK_MONOTONIC) failed");
  return RT_OK;
}

/* A time of the rank whose measurements are s, on rank 0's clock: the offset interpolated
 * linearly between measurements, constant before the first and after the last. Measurements
 * whose round trip exceeds twice the best one plus SYNC_SLACK_NS are left out: a rank that was
 * descheduled mid ping-pong (a loaded node) gives an offset off by up to half its round trip. */
static int64_t aligned(const rank_store *s, int64_t local) {
  int64_t best = INT64_MAX;
  for (size_t i = 0; i < s->nsync; ++i)
    if (s->sync[i].rtt_ns < best) best = s->sync[i].rtt_ns;
  const int64_t limit = best < INT64_MAX / 4 ? 2 * best + SYNC_SLACK_NS : best;
  const sync_point *prev = NULL;
  for (size_t i = 0; i < s->nsync; ++i) {
    const sync_point *p = &s->sync[i];
    if (p->rtt_ns > limit) continue;
    if (local <= p->local_ns) {
      if (!prev || p->local_ns <= prev->local_ns) return local - p->offset_ns;
      const double f = (double)(local - prev->local_ns) / (double)(p->local_ns - prev->local_ns);
      return local - (prev->offset_ns + (int64_t)(f * (double)(p->offset_ns - prev->offset_ns)));
    }
    prev = p;
  }
  return prev ? local - prev->offset_ns : local;
}

/* ---- Start, collect, free ---------------------------------------------------------------- */

void rt_trace_free(rt_trace *t) {
  if (!t) return;
  if (t->sink_installed) rt_prof_set_sink(NULL, NULL);
  /* Teardown: nothing to report if these fail. */
  if (t->rec_type != MPI_DATATYPE_NULL) (void)MPI_Type_free(&t->rec_type);
  if (t->comm != MPI_COMM_NULL) (void)MPI_Comm_free(&t->comm);
  if (t->store)
    for (int r = 0; r < t->ranks; ++r) free(t->store[r].ev);
  free(t->store);
  free(t->ring);
  free(t);
}

size_t rt_trace_capacity(const rt_trace *t) { return t ? (size_t)t->cap : 0; }

rt_code rt_trace_start(MPI_Comm comm, size_t events_per_rank, size_t model_count, rt_trace **out,
                       rt_status *st) {
  *out = NULL;
  int rank = 0, ranks = 1;
  RT_MPI_CHECK(st, MPI_Comm_rank(comm, &rank));
  RT_MPI_CHECK(st, MPI_Comm_size(comm, &ranks));
  rt_code rc = RT_OK;
  rt_trace *t = calloc(1, sizeof *t);
  if (!t) {
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the trace recorder");
  } else {
    t->comm = MPI_COMM_NULL;
    t->rec_type = MPI_DATATYPE_NULL;
    t->rank = rank;
    t->ranks = ranks;
    t->model_count = model_count;
    t->cap = events_per_rank ? events_per_rank : 1;
    if (t->cap > SIZE_MAX / sizeof *t->ring) {
      rc = rt_fail(st, RT_ERR_CONFIG, "run.trace_events %zu is too large", events_per_rank);
    } else {
      t->ring = malloc((size_t)t->cap * sizeof *t->ring);
      if (!t->ring)
        rc = RT_FAIL_AT(st, RT_ERR_NOMEM,
                        "cannot allocate a trace buffer of %zu events (run.trace_events)",
                        (size_t)t->cap);
    }
    if (rc == RT_OK && rank == 0) {
      t->store = calloc((size_t)ranks, sizeof *t->store);
      if (!t->store)
        rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the trace tables of %d ranks", ranks);
    }
  }
  rc = rt_agree(comm, rc, st); /* every rank traces, or none */
  if (rc) {
    rt_trace_free(t);
    return rc;
  }
  int mrc = MPI_Comm_dup(comm, &t->comm);
  if (mrc == MPI_SUCCESS) mrc = MPI_Type_contiguous((int)sizeof(trace_rec), MPI_BYTE, &t->rec_type);
  if (mrc == MPI_SUCCESS) mrc = MPI_Type_commit(&t->rec_type);
  if (mrc != MPI_SUCCESS) {
    rc = rt_mpi_fail(st, mrc, __FILE__, __LINE__, "trace communicator and datatype");
    rt_trace_free(t);
    return rc;
  }
  if ((rc = sync_clocks(t, st))) {
    rt_trace_free(t);
    return rc;
  }
  rt_prof_set_sink(record, t);
  t->sink_installed = 1;
  *out = t;
  return RT_OK;
}

static void reverse(trace_rec *a, size_t lo, size_t hi) { /* [lo, hi) */
  while (hi > lo + 1) {
    const trace_rec x = a[lo];
    a[lo++] = a[--hi];
    a[hi] = x;
  }
}

rt_code rt_trace_collect(rt_trace *t, rt_status *st) {
  rt_code rc;
  RT_TRY(rc, sync_clocks(t, st));
  const uint64_t n = __atomic_load_n(&t->count, __ATOMIC_ACQUIRE);
  const uint64_t kept = n < t->cap ? n : t->cap;
  if (n > t->cap) { /* wrapped: rotate so that the oldest kept event comes first */
    const size_t k = (size_t)(n % t->cap);
    reverse(t->ring, 0, k);
    reverse(t->ring, k, (size_t)t->cap);
    reverse(t->ring, 0, (size_t)t->cap);
  }
  int64_t mine[2] = {(int64_t)kept, (int64_t)(n - kept)};
  int64_t *all = NULL, quota = INT64_MAX;
  int *counts = NULL, *displs = NULL;
  trace_rec *buf = NULL;
  const size_t R = (size_t)t->ranks;
  if (t->rank == 0) {
    all = malloc(2 * R * sizeof *all);
    counts = malloc(R * sizeof *counts);
    displs = malloc(R * sizeof *displs);
    if (!all || !counts || !displs)
      rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the trace counts");
  }
  int mrc = MPI_SUCCESS;
  if ((rc = rt_agree(t->comm, rc, st))) goto out;
  mrc = MPI_Gather(mine, 2, MPI_INT64_T, all, 2, MPI_INT64_T, 0, t->comm);
  if (mrc != MPI_SUCCESS) {
    rc = rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Gather(trace counts)");
    goto out;
  }
  if (t->rank == 0) {
    /* MPI counts are int: a total past INT_MAX events keeps each rank's newest INT_MAX / ranks. */
    uint64_t total = 0;
    for (size_t r = 0; r < R; ++r) total += (uint64_t)all[2 * r];
    if (total > (uint64_t)INT_MAX) quota = INT_MAX / t->ranks;
    total = 0;
    for (size_t r = 0; r < R && rc == RT_OK; ++r) {
      const int64_t c = all[2 * r] < quota ? all[2 * r] : quota;
      counts[r] = (int)c;
      displs[r] = (int)total;
      total += (uint64_t)c;
      rank_store *s = &t->store[r];
      if (s->n + (size_t)c > s->cap) {
        const size_t grown = s->n + (size_t)c;
        trace_rec *ev = realloc(s->ev, (grown ? grown : 1) * sizeof *ev);
        if (!ev)
          rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu trace events of rank %zu", grown,
                          r);
        else s->ev = ev, s->cap = grown;
      }
    }
    if (rc == RT_OK) {
      buf = malloc((total ? (size_t)total : 1) * sizeof *buf);
      if (!buf)
        rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %" PRIu64 " trace events", total);
    }
  }
  if ((rc = rt_agree(t->comm, rc, st))) goto out;
  mrc = MPI_Bcast(&quota, 1, MPI_INT64_T, 0, t->comm);
  if (mrc != MPI_SUCCESS) {
    rc = rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Bcast(trace quota)");
    goto out;
  }
  const int64_t send = (int64_t)kept < quota ? (int64_t)kept : quota; /* the newest */
  mrc = MPI_Gatherv(t->ring + (kept - (uint64_t)send), (int)send, t->rec_type, buf, counts, displs,
                    t->rec_type, 0, t->comm);
  if (mrc != MPI_SUCCESS) {
    rc = rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Gatherv(trace events)");
    goto out;
  }
  for (size_t r = 0; t->rank == 0 && r < R; ++r) {
    rank_store *s = &t->store[r];
    if (counts[r] > 0) memcpy(s->ev + s->n, buf + displs[r], (size_t)counts[r] * sizeof *buf);
    s->n += (size_t)counts[r];
    s->dropped += (uint64_t)all[2 * r + 1] + (uint64_t)(all[2 * r] - counts[r]);
  }
  __atomic_store_n(&t->count, 0, __ATOMIC_RELEASE);
out:
  free(all);
  free(counts);
  free(displs);
  free(buf);
  return rc;
}

/* ---- Hand-offs --------------------------------------------------------------------------- */

typedef struct mark {
  int32_t model, pass, shard;
  int rank;
  size_t idx;
  int64_t t; /* aligned */
} mark;

typedef struct pair {
  int32_t model;
  int from, to;
  size_t send_idx, recv_idx;
  int64_t send_t, recv_t; /* aligned */
  int64_t s_ts, f_ts;     /* where the flow's ends go (aligned) */
} pair;

static int key_compare(const mark *x, const mark *y) {
  if (x->model != y->model) return x->model < y->model ? -1 : 1;
  if (x->pass != y->pass) return x->pass < y->pass ? -1 : 1;
  if (x->shard != y->shard) return x->shard < y->shard ? -1 : 1;
  return 0;
}

static int mark_compare(const void *a, const void *b) {
  const mark *x = a, *y = b;
  const int c = key_compare(x, y);
  if (c) return c;
  if (x->t != y->t) return x->t < y->t ? -1 : 1;
  if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int is_mark(const trace_rec *e, rt_phase phase) {
  return e->kind == RT_PROF_MARK && e->phase == (uint8_t)phase;
}

/* Pairs the send and receive marks of everything collected (see trace.h). */
static rt_code pair_handoffs(const rt_trace *t, pair **out, size_t *npairs, uint64_t *unpaired,
                             rt_status *st) {
  *out = NULL;
  *npairs = 0;
  *unpaired = 0;
  size_t ns = 0, nr = 0;
  for (int r = 0; r < t->ranks; ++r)
    for (size_t i = 0; i < t->store[r].n; ++i) {
      ns += is_mark(&t->store[r].ev[i], RT_PHASE_SEND);
      nr += is_mark(&t->store[r].ev[i], RT_PHASE_RECEIVE);
    }
  mark *sends = malloc((ns ? ns : 1) * sizeof *sends),
       *recvs = malloc((nr ? nr : 1) * sizeof *recvs);
  pair *pairs = malloc(((ns < nr ? ns : nr) + 1) * sizeof *pairs);
  if (!sends || !recvs || !pairs) {
    free(sends), free(recvs), free(pairs);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu hand-off marks", ns + nr);
  }
  size_t is = 0, ir = 0;
  for (int r = 0; r < t->ranks; ++r) {
    const rank_store *s = &t->store[r];
    for (size_t i = 0; i < s->n; ++i) {
      const trace_rec *e = &s->ev[i];
      const int send = is_mark(e, RT_PHASE_SEND), recv = is_mark(e, RT_PHASE_RECEIVE);
      if (!send && !recv) continue;
      const mark m = {e->model, e->pass, e->shard, r, i, aligned(s, e->time_ns)};
      if (send) sends[is++] = m;
      else recvs[ir++] = m;
    }
  }
  qsort(sends, ns, sizeof *sends, mark_compare);
  qsort(recvs, nr, sizeof *recvs, mark_compare);
  size_t n = 0;
  is = ir = 0;
  while (is < ns && ir < nr) {
    const int c = key_compare(&sends[is], &recvs[ir]);
    if (c < 0) {
      ++is, ++*unpaired;
    } else if (c > 0) {
      ++ir, ++*unpaired;
    } else {
      const mark *a = &sends[is++], *b = &recvs[ir++];
      pairs[n++] = (pair){a->model, a->rank, b->rank, a->idx, b->idx, a->t, b->t, a->t, b->t};
    }
  }
  *unpaired += (uint64_t)(ns - is) + (uint64_t)(nr - ir);
  free(sends);
  free(recvs);
  *out = pairs;
  *npairs = n;
  return RT_OK;
}

static int64_t latency_ns(const pair *p) {
  return p->recv_t > p->send_t ? p->recv_t - p->send_t : 0;
}

static void fill_totals(const rt_trace *t, size_t npairs, uint64_t unpaired,
                        rt_trace_totals *totals) {
  if (!totals) return;
  memset(totals, 0, sizeof *totals);
  for (int r = 0; r < t->ranks; ++r) {
    totals->events += t->store[r].n;
    totals->dropped += t->store[r].dropped;
  }
  totals->handoffs = npairs;
  totals->unpaired = unpaired;
}

rt_code rt_trace_latencies(const rt_trace *t, double *model_wire, uint64_t *rank_count,
                           double *rank_sum, double *rank_max, rt_trace_totals *totals,
                           rt_status *st) {
  if (t->rank != 0)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "trace latencies are known on rank 0 only");
  pair *pairs = NULL;
  size_t n = 0;
  uint64_t unpaired = 0;
  rt_code rc;
  RT_TRY(rc, pair_handoffs(t, &pairs, &n, &unpaired, st));
  for (size_t i = 0; i < n; ++i) {
    const pair *p = &pairs[i];
    const double s = (double)latency_ns(p) * 1e-9;
    if (model_wire && p->model >= 0 && (size_t)p->model < t->model_count) model_wire[p->model] += s;
    if (rank_count) rank_count[p->from] += 1;
    if (rank_sum) rank_sum[p->from] += s;
    if (rank_max && s > rank_max[p->from]) rank_max[p->from] = s;
  }
  fill_totals(t, n, unpaired, totals);
  free(pairs);
  return RT_OK;
}

/* ---- trace.json -------------------------------------------------------------------------- */

typedef struct writer {
  FILE *f;
  int first; /* no event written yet */
  int64_t base;
} writer;

/* Microseconds with 3 decimals from nanoseconds >= 0. */
static void put_us(FILE *f, int64_t ns) {
  if (ns < 0) ns = 0;
  fprintf(f, "%" PRId64 ".%03d", ns / 1000, (int)(ns % 1000));
}

static void next_event(writer *w) {
  fputs(w->first ? "\n" : ",\n", w->f);
  w->first = 0;
}

static void put_meta(writer *w, const char *name, int pid, int64_t tid, const char *key,
                     const char *text, int64_t number) {
  next_event(w);
  fprintf(w->f,
          "{\"name\":\"%s\",\"ph\":\"M\",\"pid\":%d,\"tid\":%" PRId64 ",\"args\":{\"%s\":", name,
          pid, tid, key);
  if (text) fprintf(w->f, "\"%s\"}}", text);
  else fprintf(w->f, "%" PRId64 "}}", number);
}

/* A complete event. peer_key ("to", "from") and peer: the other rank of a hand-off (peer < 0:
 * none). */
static void put_slice(writer *w, const char *name, int pid, int64_t tid, int64_t start, int64_t dur,
                      const trace_rec *e, const char *peer_key, int peer) {
  next_event(w);
  fprintf(w->f,
          "{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%" PRId64 ",\"ts\":",
          name, name, pid, tid);
  put_us(w->f, start - w->base);
  fputs(",\"dur\":", w->f);
  put_us(w->f, dur);
  fputs(",\"args\":{", w->f);
  const char *sep = "";
  const struct {
    const char *key;
    int32_t value;
  } parts[] = {{"model", e->model}, {"pass", e->pass}, {"shard", e->shard}};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; ++i)
    if (parts[i].value >= 0) {
      fprintf(w->f, "%s\"%s\":%" PRId32, sep, parts[i].key, parts[i].value);
      sep = ",";
    }
  if (e->members > 0) {
    fprintf(w->f, "%s\"members\":%u", sep, (unsigned)e->members);
    sep = ",";
  }
  if (peer >= 0) fprintf(w->f, "%s\"%s\":%d", sep, peer_key, peer);
  fputs("}}", w->f);
}

static const char *slice_name(const trace_rec *e) {
  if (e->phase == RT_PHASE_RECEIVE && e->kind != RT_PROF_MARK && e->model < 0)
    return "receive-wait";
  return rt_phase_name((rt_phase)e->phase);
}

static int64_t track_of(const rt_trace *t, const trace_rec *e) {
  return e->model >= 0 && (size_t)e->model < t->model_count ? e->model : (int64_t)t->model_count;
}

/* One rank's metadata and slices. link[i]: the pair of mark i (or -1); `after` is scratch of
 * model_count + 1 entries. */
static rt_code write_rank(writer *w, const rt_trace *t, int r, const int64_t *link, pair *pairs,
                          int64_t *after, unsigned char *seen, uint64_t *ranges_unpaired,
                          rt_status *st) {
  const rank_store *s = &t->store[r];
  const size_t M = t->model_count;
  char text[64];
  snprintf(text, sizeof text, "rank %d", r);
  put_meta(w, "process_name", r, 0, "name", text, 0);
  put_meta(w, "process_sort_index", r, 0, "sort_index", NULL, r);
  put_meta(w, "thread_name", r, (int64_t)M, "name", text, 0);
  put_meta(w, "thread_sort_index", r, (int64_t)M, "sort_index", NULL, -1);
  memset(seen, 0, M + 1);
  for (size_t i = 0; i < s->n; ++i) seen[track_of(t, &s->ev[i])] = 1;
  for (size_t m = 0; m < M; ++m)
    if (seen[m]) {
      snprintf(text, sizeof text, "model %zu", m);
      put_meta(w, "thread_name", r, (int64_t)m, "name", text, 0);
      put_meta(w, "thread_sort_index", r, (int64_t)m, "sort_index", NULL, (int64_t)m);
    }
  /* A receive lasts until the model's next range on this rank (its integration). */
  int64_t *recv_end = malloc((s->n ? s->n : 1) * sizeof *recv_end);
  size_t *stack = malloc((s->n ? s->n : 1) * sizeof *stack);
  if (!recv_end || !stack) {
    free(recv_end), free(stack);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the trace of rank %d", r);
  }
  for (size_t m = 0; m <= M; ++m) after[m] = -1;
  for (size_t i = s->n; i-- > 0;) {
    const trace_rec *e = &s->ev[i];
    const int64_t tid = track_of(t, e);
    if (e->kind == RT_PROF_BEGIN && tid < (int64_t)M) after[tid] = aligned(s, e->time_ns);
    recv_end[i] = is_mark(e, RT_PHASE_RECEIVE) && tid < (int64_t)M ? after[tid] : -1;
  }
  size_t depth = 0;
  for (size_t i = 0; i < s->n; ++i) {
    const trace_rec *e = &s->ev[i];
    const int64_t at = aligned(s, e->time_ns);
    if (e->kind == RT_PROF_BEGIN) {
      stack[depth++] = i;
    } else if (e->kind == RT_PROF_END) {
      if (depth == 0) { /* its begin was dropped */
        ++*ranges_unpaired;
        continue;
      }
      const trace_rec *b = &s->ev[stack[--depth]];
      const int64_t start = aligned(s, b->time_ns);
      put_slice(w, slice_name(b), r, track_of(t, b), start, at > start ? at - start : 0, b, "", -1);
    } else if (is_mark(e, RT_PHASE_SEND)) {
      pair *p = link[i] >= 0 ? &pairs[link[i]] : NULL;
      const int64_t dur = p ? latency_ns(p) : 0;
      if (p) p->s_ts = at + dur / 2;
      put_slice(w, "send", r, track_of(t, e), at, dur, e, "to", p ? p->to : -1);
    } else if (is_mark(e, RT_PHASE_RECEIVE)) {
      pair *p = link[i] >= 0 ? &pairs[link[i]] : NULL;
      const int64_t dur = recv_end[i] > at ? recv_end[i] - at : 0;
      if (p) p->f_ts = at + dur / 2;
      put_slice(w, "receive", r, track_of(t, e), at, dur, e, "from", p ? p->from : -1);
    } else { /* another mark: an instant on its track */
      next_event(w);
      fprintf(w->f,
              "{\"name\":\"%s\",\"cat\":\"%s\",\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,\"tid\":%" PRId64
              ",\"ts\":",
              rt_phase_name((rt_phase)e->phase), rt_phase_name((rt_phase)e->phase), r,
              track_of(t, e));
      put_us(w->f, at - w->base);
      fputs("}", w->f);
    }
  }
  *ranges_unpaired += depth; /* begins whose end was not recorded */
  free(recv_end);
  free(stack);
  return RT_OK;
}

static rt_code write_json(FILE *f, const rt_trace *t, rt_trace_totals *totals, rt_status *st) {
  pair *pairs = NULL;
  size_t npairs = 0;
  uint64_t unpaired = 0, ranges_unpaired = 0;
  rt_code rc;
  RT_TRY(rc, pair_handoffs(t, &pairs, &npairs, &unpaired, st));
  const size_t R = (size_t)t->ranks, M = t->model_count;
  int64_t **links = calloc(R, sizeof *links);
  int64_t *after = malloc((M + 1) * sizeof *after);
  unsigned char *seen = malloc(M + 1);
  if (!links || !after || !seen)
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the trace tables");
  for (size_t r = 0; rc == RT_OK && r < R; ++r) {
    const size_t n = t->store[r].n;
    links[r] = malloc((n ? n : 1) * sizeof *links[r]);
    if (!links[r])
      rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the trace links of rank %zu", r);
    for (size_t i = 0; rc == RT_OK && i < n; ++i) links[r][i] = -1;
  }
  for (size_t p = 0; rc == RT_OK && p < npairs; ++p) {
    links[pairs[p].from][pairs[p].send_idx] = (int64_t)p;
    links[pairs[p].to][pairs[p].recv_idx] = (int64_t)p;
  }
  writer w = {f, 1, INT64_MAX};
  for (size_t r = 0; rc == RT_OK && r < R; ++r)
    for (size_t i = 0; i < t->store[r].n; ++i) {
      const int64_t at = aligned(&t->store[r], t->store[r].ev[i].time_ns);
      if (at < w.base) w.base = at;
    }
  if (w.base == INT64_MAX) w.base = 0;
  if (rc == RT_OK) fputs("{\"traceEvents\":[", f);
  for (size_t r = 0; rc == RT_OK && r < R; ++r)
    rc = write_rank(&w, t, (int)r, links[r], pairs, after, seen, &ranges_unpaired, st);
  for (size_t p = 0; rc == RT_OK && p < npairs; ++p) {
    const pair *q = &pairs[p];
    next_event(&w);
    fprintf(f,
            "{\"name\":\"model %" PRId32
            "\",\"cat\":\"handoff\",\"ph\":\"s\",\"id\":%zu,\"pid\":%d,\"tid\":%" PRId32 ",\"ts\":",
            q->model, p + 1, q->from, q->model);
    put_us(f, q->s_ts - w.base);
    fputs("}", f);
    next_event(&w);
    fprintf(f,
            "{\"name\":\"model %" PRId32
            "\",\"cat\":\"handoff\",\"ph\":\"f\",\"bp\":\"e\",\"id\":%zu,\"pid\":%d,"
            "\"tid\":%" PRId32 ",\"ts\":",
            q->model, p + 1, q->to, q->model);
    put_us(f, q->f_ts - w.base);
    fputs("}", f);
  }
  if (rc == RT_OK) {
    rt_trace_totals tot;
    fill_totals(t, npairs, unpaired, &tot);
    fprintf(
        f,
        "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"generator\":\"ringtrain " RINGTRAIN_VERSION
        "\","
        "\"clock\":\"CLOCK_MONOTONIC of each rank on rank 0's clock: offsets from %d MPI ping-pongs per "
        "rank (shortest round trip kept) at the start and at each collection, interpolated linearly; "
        "ts 0 = the earliest event\",",
        (int)SYNC_ROUNDS);
    fprintf(f,
            "\"ranks\":%d,\"models\":%zu,\"events\":%" PRIu64 ",\"events_dropped\":%" PRIu64
            ",\"events_per_rank_cap\":%" PRIu64
            ",\"overflow_policy\":\"drop_oldest\",\"handoffs\":%" PRIu64
            ",\"handoffs_unpaired\":%" PRIu64 ",\"ranges_unpaired\":%" PRIu64
            ",\"events_dropped_per_rank\":[",
            t->ranks, M, tot.events, tot.dropped, t->cap, tot.handoffs, tot.unpaired,
            ranges_unpaired);
    for (size_t r = 0; r < R; ++r) fprintf(f, "%s%" PRIu64, r ? "," : "", t->store[r].dropped);
    fputs("],\"clock_offsets_ns\":[", f);
    for (size_t r = 0; r < R; ++r) {
      const rank_store *s = &t->store[r];
      fprintf(f, "%s[%" PRId64 ",%" PRId64 "]", r ? "," : "", s->nsync ? s->sync[0].offset_ns : 0,
              s->nsync ? s->sync[s->nsync - 1].offset_ns : 0);
    }
    fputs("],\"clock_rtt_ns\":[", f);
    for (size_t r = 0; r < R; ++r) {
      const rank_store *s = &t->store[r];
      fprintf(f, "%s[%" PRId64 ",%" PRId64 "]", r ? "," : "", s->nsync ? s->sync[0].rtt_ns : 0,
              s->nsync ? s->sync[s->nsync - 1].rtt_ns : 0);
    }
    fputs("]}}\n", f);
    if (totals) *totals = tot;
  }
  for (size_t r = 0; links && r < R; ++r) free(links[r]);
  free(links);
  free(after);
  free(seen);
  free(pairs);
  return rc;
}

rt_code rt_trace_write(const rt_trace *t, const char *path, rt_trace_totals *totals,
                       rt_status *st) {
  if (t->rank != 0) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "the trace is written by rank 0 only");
  rt_atomic_file *af = NULL;
  rt_code rc;
  RT_TRY(rc, rt_atomic_open(path, &af, st));
  FILE *f = rt_atomic_stream(af);
  rc = write_json(f, t, totals, st);
  if (rc == RT_OK && ferror(f)) rc = rt_fail(st, RT_ERR_OUTPUT, "%s: cannot write", path);
  if (rc) {
    rt_atomic_abort(&af);
    return rc;
  }
  return rt_atomic_commit(&af, st);
}
