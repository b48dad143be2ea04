/* The CPU backend (backend.h), the reference the CUDA backend follows: one shard visit of a
 * model (its batches in a counter-based random order, each a family step or a gradient and an
 * optimizer step, stoppable between batches) and the evaluation of a state on a shard. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "batch_stream.h"
#include "normalize.h"
#include "view.h"
#include "rng.h"
#include "sparse_rows.h"

/* Batches of a cache chunk's segment (rt_cpu_integrate_group_visit). */
#define RT_CHUNK_SEGMENT 32

/* The (offset, scale) a model's batches must be scaled with here: its scaling (spec->scaling)
 * unless the shard's rows already hold it (`scaled`); offset NULL: none. */
static const float *batch_offset(const rt_model_spec *spec, const struct rt_scaling *scaled,
                                 const float **scale) {
  const rt_scaling *sc = spec->scaling;
  *scale = NULL;
  if (!sc || sc->kind == RT_NORMALIZE_NONE || sc == scaled) return NULL;
  *scale = sc->scale;
  return sc->offset;
}

/* Whether a model's input is the shard's rows as they are (no view, no scaling of its own). */
static int rows_as_they_are(const rt_model_spec *spec, const struct rt_scaling *scaled) {
  const float *scale;
  return rt_view_all(&spec->hp) && !batch_offset(spec, scaled, &scale);
}

uint64_t rt_batch_order_key(const rt_model_spec *spec, uint64_t pass, uint64_t shard) {
  return rt_key_push(rt_key_push(rt_key_push(spec->hp.data_order, RT_STREAM_BATCH_ORDER), pass),
                     shard);
}

void rt_cpu_scratch_free(rt_cpu_scratch *s) {
  free(s->f);
  free(s->order);
  free(s->steps);
  free(s->active);
  free(s->loss);
  free(s->view);
  free(s->member_specs);
  free(s->member_states);
  memset(s, 0, sizeof *s);
}

/* Grows a scratch array to hold n elements of `size` bytes. */
static int grow(void **p, size_t *cap, size_t n, size_t size) {
  if (n <= *cap) return 1;
  void *q = realloc(*p, n * size);
  if (!q) return 0;
  *p = q;
  *cap = n;
  return 1;
}

static rt_code scratch_reserve(rt_cpu_scratch *s, size_t members, size_t floats, size_t batches,
                               rt_status *st) {
  if (!grow((void **)&s->f, &s->f_cap, floats ? floats : 1, sizeof *s->f) ||
      !grow((void **)&s->order, &s->order_cap, batches ? batches : 1, sizeof *s->order) ||
      !grow((void **)&s->steps, &s->steps_cap, members, sizeof *s->steps) ||
      !grow((void **)&s->active, &s->active_cap, members, sizeof *s->active) ||
      !grow((void **)&s->loss, &s->loss_cap, members, sizeof *s->loss))
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu floats of scratch for %zu models",
                      floats, members);
  return RT_OK;
}

/* The families' fused path applies when it has all four group operations and takes the group's
 * models (group_capable; the members agree on it, so the first one decides). */
static int fused_family(const rt_family *fam, const rt_model_spec *first) {
  return fam->group_floats && fam->group_gather && fam->group_batch && fam->group_scatter &&
         (!fam->group_capable || fam->group_capable(first));
}

/* One batch of one member the unfused way: the family's own step; *loss gets the batch loss.
 * ws: workspace_floats(batch) floats. */
static void solo_batch(const rt_model_spec *spec, const rt_family *fam, void *state, const float *x,
                       const float *y, size_t rows, float *ws, double *loss) {
  const rt_state_layout l = rt_state_layout_of(spec);
  fam->integrate_batch(spec, rt_state_params(state, &l), rt_state_aux(state, &l), x, y, rows,
                       rt_state_head(state)->step, loss, ws);
}

/* Batches [the members' cursor, k_end) of a group visit (the batch order in scratch->order,
 * computed by the caller), asking should_stop before each (settled) batch when it is not NULL.
 * The cursor then says where it ended: 0 when the visit is complete (k_end = nb), else the batches
 * done; *stopped = 1 when should_stop ended it. On an error the states are as they were before
 * the failing batch and the cursor says so. */
static rt_code integrate_span(const rt_model_spec *const *specs, const rt_family *fam,
                              void *const *states, size_t m, const rt_shard *shard, size_t k_end,
                              rt_cpu_scratch *scratch, int (*should_stop)(void *), void *user,
                              int *stopped, rt_status *st) {
  rt_state_header *lead = rt_state_head(states[0]);
  const size_t batch = (size_t)specs[0]->hp.batch_size;
  const size_t nb = (shard->rows + batch - 1) / batch;
  const int fused = fused_family(fam, specs[0]);
  size_t floats = 0;
  if (fused) {
    floats = fam->group_floats(specs, m, batch);
  } else {
    for (size_t i = 0; i < m; ++i) {
      const size_t need = fam->workspace_floats(specs[i], batch);
      if (need > floats) floats = need;
    }
  }
  rt_code rc;
  RT_TRY(rc, scratch_reserve(scratch, m, floats, nb, st));
  /* A view, or a scaling of the group's own: each batch's input made once for the whole group
   * (the data is not copied). */
  const rt_model_config *hp = &specs[0]->hp;
  const size_t data_features = shard->features;
  const float *in_scale = NULL;
  const float *in_offset = batch_offset(specs[0], scratch->scaled, &in_scale);
  const int transform = !rows_as_they_are(specs[0], scratch->scaled);
  if (transform && !grow((void **)&scratch->view, &scratch->view_cap,
                         batch * specs[0]->problem.features + 1, sizeof *scratch->view))
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate an input batch of %zu rows", batch);
  const uint64_t k0 = lead->batch_cursor;
  for (size_t i = 0; i < m; ++i) {
    const rt_state_header *h = rt_state_head(states[i]);
    if (h->pass != lead->pass || h->position != lead->position || h->batch_cursor != k0)
      return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                        "model %" PRIu64 " is not where its group is (model %" PRIu64 ")",
                        specs[i]->id, specs[0]->id);
  }
  /* Sparse rows go to the family as they are when it takes them (and the members see them as
   * they are); the visit may then stop only at the settled batches (sparse_rows.h). */
  const int sparse =
      shard->indptr && !transform &&
      (fused ? fam->group_batch_sparse != NULL : fam->integrate_batch_sparse != NULL);
  const size_t settle =
      sparse && fam->sparse_settle_period ? fam->sparse_settle_period(specs, m, batch) : 1;
  /* A streamed shard's batches are read ahead (a sparse shard's made dense when the family or the
   * view needs them so), in this order, while the earlier ones integrate. */
  rt_batch_stream *stream = NULL;
  if (!shard->x && !sparse && shard->rows && k0 < k_end)
    RT_TRY(rc, rt_batch_stream_open(shard, scratch->order, k_end, (size_t)k0, batch, &stream, st));
  if (fused) fam->group_gather(specs, m, states, scratch->f);
  *stopped = 0;
  size_t k = (size_t)k0;
  for (; k < k_end; ++k) {
    if (should_stop && k % settle == 0 && should_stop(user)) {
      *stopped = 1;
      break;
    }
    const size_t b = (size_t)scratch->order[k];
    const size_t first = b * batch;
    const size_t rows = first + batch <= shard->rows ? batch : shard->rows - first;
    const float *x = shard->x ? shard->x + first * shard->features : NULL;
    const float *y = shard->y ? shard->y + first : NULL;
    if (stream) {
      size_t got = 0;
      rc = rt_batch_stream_next(stream, &x, &got, st);
      if (rc != RT_OK) { /* the states are as they were before this batch */
        if (fused) fam->group_scatter(specs, m, scratch->f, states);
        for (size_t i = 0; i < m; ++i) rt_state_head(states[i])->batch_cursor = k;
        rt_batch_stream_close(stream);
        return rc;
      }
    }
    if (transform) {
      rt_view_input(hp, in_offset, in_scale, x, rows, data_features, scratch->view);
      x = scratch->view;
    }
    for (size_t i = 0; i < m; ++i) {
      const rt_state_header *h = rt_state_head(states[i]);
      scratch->active[i] = !h->diverged;
      scratch->steps[i] = h->step;
      scratch->loss[i] = 0.0;
    }
    const rt_csr_rows xb = {rows, shard->indptr ? shard->indptr + first : NULL, shard->indices,
                            shard->values, (k + 1) % settle == 0 || k + 1 == nb};
    if (sparse && fused) {
      fam->group_batch_sparse(specs, m, scratch->f, &xb, y, scratch->steps, scratch->active,
                              scratch->loss);
    } else if (sparse) {
      for (size_t i = 0; i < m; ++i) {
        if (!scratch->active[i]) continue;
        const rt_state_layout l = rt_state_layout_of(specs[i]);
        fam->integrate_batch_sparse(specs[i], rt_state_params(states[i], &l),
                                    rt_state_aux(states[i], &l), &xb, y, scratch->steps[i],
                                    &scratch->loss[i], scratch->f);
      }
    } else if (fused) {
      fam->group_batch(specs, m, scratch->f, x, y, rows, scratch->steps, scratch->active,
                       scratch->loss);
    } else {
      for (size_t i = 0; i < m; ++i)
        if (scratch->active[i])
          solo_batch(specs[i], fam, states[i], x, y, rows, scratch->f, &scratch->loss[i]);
    }
    for (size_t i = 0; i < m; ++i) {
      rt_state_header *h = rt_state_head(states[i]);
      if (scratch->active[i] && !isfinite(scratch->loss[i])) h->diverged = 1;
      h->pass_loss_sum += h->diverged ? NAN : scratch->loss[i];
      h->pass_loss_rows += rows;
      h->samples += rows;
      h->step += 1;
    }
  }
  rt_batch_stream_close(stream);
  if (fused) fam->group_scatter(specs, m, scratch->f, states);
  for (size_t i = 0; i < m; ++i) rt_state_head(states[i])->batch_cursor = k < nb ? k : 0;
  return RT_OK;
}

/* Members per cache chunk (rt_cpu_integrate_group_visit). The bytes a member's arithmetic streams every batch: its
 * parameters, optimizer state and gradient. */
static size_t member_bytes(const rt_model_spec *spec) {
  const rt_state_layout l = rt_state_layout_of(spec);
  return (2 * l.param_count + l.aux_count) * sizeof(float);
}

/* The end of the cache chunk that starts at member `first`: the members after it, in order, while
 * their bytes fit the budget (at least one). */
static size_t chunk_end(const rt_model_spec *const *specs, size_t m, size_t first, size_t budget) {
  size_t held = member_bytes(specs[first]), i = first + 1;
  for (; i < m; ++i) {
    const size_t b = member_bytes(specs[i]);
    if (held + b > budget) break;
    held += b;
  }
  return i;
}

/* Whether a group integrates in cache chunks of `budget` bytes: when it makes more than one, and
 * its chunks hold on average at least twice the bytes of the batch every chunk reads again.
 * Measured (scripts/bench_groups.sh, an AMD EPYC with 1 MiB of L2, budget 512 KiB, 401 KB
 * batches): 16 MLPs 784-128-10 (1.6 MB a member, a chunk each) 3.2-3.5 s a pass in chunks
 * against 4.4-4.6 s without; 64 softmax models (62-125 KB a member, chunks of about 500 KB) 2.1
 * s for 2 passes without chunks against 2.2-2.6 s in chunks: their products and the batch's
 * packing, repeated per chunk, cost more than streaming 6 MB of state from L3. */
static int worth_chunks(const rt_model_spec *const *specs, size_t m, size_t budget,
                        size_t batch_bytes) {
  size_t chunks = 0, bytes = 0;
  for (size_t first = 0; first < m; first = chunk_end(specs, m, first, budget)) ++chunks;
  for (size_t i = 0; i < m; ++i) bytes += member_bytes(specs[i]);
  return chunks > 1 && bytes / chunks >= 2 * batch_bytes;
}

/* The bytes of parameters, optimizer state and gradient a chunk of a group may hold: half of a
 * core's L2 cache (the rest for the batch and the activations), 1 MiB where the C library does not
 * say. RINGTRAIN_FUSE_CHUNK_BYTES overrides it (benchmarks and tests; *forced = 1: chunks whenever
 * the budget splits a group, worth_chunks or not; 0: no chunks). */
static size_t chunk_budget(int *forced) {
  const char *env = getenv("RINGTRAIN_FUSE_CHUNK_BYTES");
  *forced = env && *env;
  if (*forced) return (size_t)strtoull(env, NULL, 10);
#ifdef _SC_LEVEL2_CACHE_SIZE
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  if (l2 > 0) return (size_t)l2 / 2;
#endif
  return (size_t)1 << 20;
}

/* A fused visit's members in the order of their optimizer classes, each class in the visit's
 * order, in scratch->member_specs and member_states: the families update runs of consecutive
 * members of one optimizer in one loop along rows (rt_optimizer_step_runs), and a member's
 * numbers do not depend on its place among the group's columns (fused_gemm.h), so the order
 * changes no bits (tests/mpi/test_group_invariants.sh mixes optimizers in a group). */
static rt_code optimizer_order(const rt_model_spec *const *specs, void *const *states, size_t m,
                               rt_cpu_scratch *scratch, rt_status *st) {
  if (!grow((void **)&scratch->member_specs, &scratch->specs_cap, m,
            sizeof *scratch->member_specs) ||
      !grow((void **)&scratch->member_states, &scratch->states_cap, m,
            sizeof *scratch->member_states))
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the member order of %zu models", m);
  size_t n = 0;
  const rt_optimizer_class classes[] = {RT_OPTIMIZER_ADAM, RT_OPTIMIZER_MOMENTUM, RT_OPTIMIZER_SGD};
  for (size_t c = 0; c < sizeof classes / sizeof *classes; ++c)
    for (size_t i = 0; i < m; ++i)
      if (rt_optimizer_class_of(specs[i]) == classes[c]) {
        scratch->member_specs[n] = specs[i];
        scratch->member_states[n++] = states[i];
      }
  return RT_OK;
}

rt_code rt_cpu_integrate_group_visit(const rt_model_spec *const *specs, const rt_family *fam,
                                     void *const *states, size_t m, const rt_shard *shard,
                                     uint64_t shard_index, rt_cpu_scratch *scratch,
                                     int (*should_stop)(void *), void *user, int *complete,
                                     rt_status *st) {
  if (m > 1 && fused_family(fam, specs[0])) {
    rt_code rc;
    RT_TRY(rc, optimizer_order(specs, states, m, scratch, st));
    specs = scratch->member_specs;
    states = scratch->member_states;
  }
  rt_state_header *lead = rt_state_head(states[0]);
  const size_t batch = (size_t)specs[0]->hp.batch_size;
  const size_t nb = (shard->rows + batch - 1) / batch;
  if (!grow((void **)&scratch->order, &scratch->order_cap, nb ? nb : 1, sizeof *scratch->order))
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the batch order of %zu batches", nb);
  rt_rng_permutation(rt_batch_order_key(specs[0], lead->pass, shard_index), scratch->order, nb);
  /* Cache chunks. A fused group whose parameters, optimizer state and gradients outgrow a core's
   * cache streams them from memory every batch (16 MLPs 784-128-10 with Adam: 25 MB a batch),
   * while a model alone keeps them in cache for the whole visit. Such a group integrates in
   * chunks of consecutive members that fit the budget, chunk after chunk over segments of
   * RT_CHUNK_SEGMENT batches, so that each chunk's state stays in cache for a segment. A member's
   * numbers do not depend on which members share its products (fused_gemm.h), so chunks change
   * no bits. A stop comes after any batch, as without chunks: the chunks after the first are
   * taken to the batch where the first one stopped, so every member stands at the same one. Every
   * chunk reads the batch again, so chunks are made only when they hold on average at least
   * twice a batch's bytes (worth_chunks; k-means' batches of 1024 rows are 3.2 MB at 784
   * features), and only for shards in memory (a streamed shard would be read once per chunk). */
  const int fused = fused_family(fam, specs[0]);
  int forced = 0;
  const size_t budget = chunk_budget(&forced);
  const int chunked =
      fused && m > 1 && shard->x && budget > 0 &&
      (forced ? chunk_end(specs, m, 0, budget) < m
              : worth_chunks(specs, m, budget, batch * shard->features * sizeof(float)));
  int stopped = 0;
  if (!chunked) {
    rt_code rc =
        integrate_span(specs, fam, states, m, shard, nb, scratch, should_stop, user, &stopped, st);
    *complete = rc == RT_OK && !stopped;
    return rc;
  }
  /* Segment after segment: the first chunk as far as should_stop lets it, then every other chunk
   * to the same batch. */
  for (size_t k = (size_t)lead->batch_cursor; k < nb;) {
    const size_t end = k + RT_CHUNK_SEGMENT < nb ? k + RT_CHUNK_SEGMENT : nb;
    size_t reached = end;
    for (size_t first = 0, last; first < m; first = last) {
      last = chunk_end(specs, m, first, budget);
      rt_code rc = RT_OK;
      if (first == 0) {
        rc = integrate_span(specs, fam, states, last, shard, end, scratch, should_stop, user,
                            &stopped, st);
        if (stopped) reached = (size_t)rt_state_head(states[0])->batch_cursor;
      } else if (reached > k) {
        rc = integrate_span(specs + first, fam, states + first, last - first, shard, reached,
                            scratch, NULL, NULL, &stopped, st);
      }
      if (rc != RT_OK) {
        *complete = 0;
        return rc;
      }
    }
    if (reached < end) {
      *complete = 0;
      return RT_OK; /* stopped: every member's cursor at `reached` */
    }
    k = end;
  }
  *complete = 1;
  return RT_OK;
}

rt_code rt_cpu_integrate_visit(const rt_model_spec *spec, const rt_family *fam, void *state,
                               const rt_shard *shard, uint64_t shard_index, rt_cpu_scratch *scratch,
                               int (*should_stop)(void *), void *user, int *complete,
                               rt_status *st) {
  return rt_cpu_integrate_group_visit(&spec, fam, &state, 1, shard, shard_index, scratch,
                                      should_stop, user, complete, st);
}

rt_code rt_cpu_integrate_shard(const rt_model_spec *spec, const rt_family *fam, void *state,
                               const rt_shard *shard, uint64_t shard_index, rt_cpu_scratch *scratch,
                               rt_status *st) {
  int complete = 0;
  return rt_cpu_integrate_visit(spec, fam, state, shard, shard_index, scratch, NULL, NULL,
                                &complete, st);
}

void rt_cpu_evaluate_shard(const rt_model_spec *spec, const rt_family *fam, const void *state,
                           const rt_shard *shard, float *ws, size_t ws_rows, double *sums) {
  const rt_state_layout l = rt_state_layout_of(spec);
  const float *params = (const float *)((const char *)state + l.params_offset);
  for (size_t first = 0; first < shard->rows; first += ws_rows) {
    const size_t rows = first + ws_rows <= shard->rows ? ws_rows : shard->rows - first;
    const float *y = shard->y ? shard->y + first : NULL;
    if (shard->x) {
      fam->eval_rows(spec, params, shard->x + first * shard->features, y, rows, ws, sums);
    } else {
      const rt_csr_rows xs = {rows, shard->indptr + first, shard->indices, shard->values, 0};
      fam->eval_rows_sparse(spec, params, &xs, y, ws, sums);
    }
  }
}

/* ---- The CPU backend behind rt_backend (what the engine calls) -------------------------------- */

typedef struct cpu_backend {
  rt_backend ops;
  const rt_dataset *ds;
  rt_cpu_scratch scratch; /* integration */
  float *ws;              /* evaluation, grown as needed */
  size_t ws_cap;
  float *view; /* a chunk of a model's view of the validation rows */
  size_t view_cap;
} cpu_backend;

static rt_code cpu_integrate(rt_backend *b, const rt_group_visit *v, int (*should_stop)(void *),
                             void *user, int *complete, rt_status *st) {
  cpu_backend *c = (cpu_backend *)b;
  c->scratch.scaled = c->ds->scaled;
  return rt_cpu_integrate_group_visit(v->specs, v->fam, v->states, v->m, &c->ds->train[v->shard],
                                      v->shard, &c->scratch, should_stop, user, complete, st);
}

static rt_code cpu_evaluate(rt_backend *b, const rt_model_spec *spec, const void *state,
                            uint64_t shard, size_t chunk_rows, double *sums, rt_status *st) {
  cpu_backend *c = (cpu_backend *)b;
  const rt_family *fam = rt_family_find(spec->hp.kind);
  const size_t need = fam->workspace_floats(spec, chunk_rows) + 1;
  if (need > c->ws_cap) { /* aligned like a state, as the families' loops expect */
    free(c->ws);
    c->ws = aligned_alloc(RT_STATE_ALIGN, (need * sizeof(float) + 63) / 64 * 64);
    c->ws_cap = c->ws ? need : 0;
    if (!c->ws)
      return RT_FAIL_AT(st, RT_ERR_NOMEM,
                        "cannot allocate the evaluation workspace of model %" PRIu64, spec->id);
  }
  const rt_shard *val = &c->ds->val[shard];
  const int transform = !rows_as_they_are(spec, c->ds->scaled);
  if ((val->x || (val->indptr && fam->eval_rows_sparse)) && !transform) {
    rt_cpu_evaluate_shard(spec, fam, state, val, c->ws, chunk_rows, sums);
    return RT_OK;
  }
  /* Streamed, or seen through a view or a scaling of the model's own: the same chunks in the same
   * order (read ahead, made into the model's input). */
  const size_t width = spec->problem.features;
  const float *in_scale = NULL;
  const float *in_offset = batch_offset(spec, c->ds->scaled, &in_scale);
  if (transform && !grow((void **)&c->view, &c->view_cap, chunk_rows * width + 1, sizeof *c->view))
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate an input chunk of %zu rows", chunk_rows);
  const rt_state_layout l = rt_state_layout_of(spec);
  const float *params = (const float *)((const char *)state + l.params_offset);
  const size_t chunks = (val->rows + chunk_rows - 1) / chunk_rows;
  rt_batch_stream *stream = NULL;
  rt_code rc = RT_OK;
  if (!val->x && val->rows)
    RT_TRY(rc, rt_batch_stream_open(val, NULL, chunks, 0, chunk_rows, &stream, st));
  for (size_t k = 0; k < chunks && rc == RT_OK; ++k) {
    const float *x = NULL;
    size_t rows = val->rows - k * chunk_rows < chunk_rows ? val->rows - k * chunk_rows : chunk_rows;
    if (stream) rc = rt_batch_stream_next(stream, &x, &rows, st);
    else x = val->x + k * chunk_rows * val->features;
    if (rc != RT_OK) break;
    if (transform) {
      rt_view_input(&spec->hp, in_offset, in_scale, x, rows, val->features, c->view);
      x = c->view;
    }
    fam->eval_rows(spec, params, x, val->y ? val->y + k * chunk_rows : NULL, rows, c->ws, sums);
  }
  rt_batch_stream_close(stream);
  return rc;
}

static void cpu_close(rt_backend *b) {
  cpu_backend *c = (cpu_backend *)b;
  rt_cpu_scratch_free(&c->scratch);
  free(c->ws);
  free(c->view);
  free(c);
}

rt_code rt_backend_cpu_open(const rt_dataset *ds, rt_backend **out, rt_status *st) {
  cpu_backend *c = calloc(1, sizeof *c);
  if (!c) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the CPU backend");
  c->ops = (rt_backend){
      .name = "cpu", .integrate = cpu_integrate, .evaluate = cpu_evaluate, .close = cpu_close};
  c->ds = ds;
  *out = &c->ops;
  return RT_OK;
}

void rt_backend_close(rt_backend *b) {
  if (b) b->close(b);
}

rt_code rt_backend_respec(rt_backend *b, const rt_model_spec *specs, size_t count,
                          const struct rt_groups *groups, rt_status *st) {
  return b->respec ? b->respec(b, specs, count, groups, st) : RT_OK;
}
