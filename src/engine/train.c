/* rt_train: the whole run on one rank — load shards, build specs, run the ring, evaluate,
 * write the run directory (rank 0). */
#include "ringtrain/train.h"

#include <cblas.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "asha.h"
#include "backend.h"
#include "backend_select.h"
#include "blas_cores.h"
#include "check_spec.h"
#include "checkpoint.h"
#include "dataset.h"
#include "engine.h"
#include "groups.h"
#include "normalize.h"
#include "pbt.h"
#include "results.h"
#include "shared_pass.h"
#include "ringtrain/atomic_file.h"
#include "ringtrain/hash.h"
#include "ringtrain/profile.h"
#include "ringtrain/stop.h"
#include "trace.h"

/* OpenBLAS reads this at run time; declared here because not every cblas.h exposes it. */
void openblas_set_num_threads(int num_threads);

/* Batches in one pass over the shards in use (the first `used` shards). */
static uint64_t batches_per_pass(const rt_dataset *ds, uint64_t used, long batch) {
  uint64_t total = 0;
  for (size_t s = 0; s < used; ++s)
    total += (ds->train_rows[s] + (uint64_t)batch - 1) / (uint64_t)batch;
  return total;
}

/* What a model's spec needs besides its config: the run, the loaded data's facts and the
 * scalings. tpe builds the specs of the models it suggests with it while training. */
typedef struct spec_maker {
  const rt_config *cfg;
  const rt_dataset *ds;
  rt_check_facts facts;
  rt_scaling *scalings; /* [3], by rt_normalize */
  int use_cuda;
  rt_model_config *models; /* [model_count]: each model's config as trained (tpe: suggested) */
} spec_maker;

/* Model j's spec from its config. */
static void spec_fill(const spec_maker *m, size_t j, const rt_model_config *model,
                      rt_model_spec *sp) {
  rt_check_spec_of(m->cfg, j, model, &m->facts, sp);
  sp->total_batches = batches_per_pass(m->ds, sp->shards_used, sp->hp.batch_size);
  sp->label_column = m->ds->label_column;
  if (m->ds->train_info.format == RT_FORMAT_LIBSVM)
    sp->problem.libsvm_base = m->ds->train_info.libsvm_base + 1;
  sp->scaling = &m->scalings[sp->hp.normalize];
}

/* rt_asha_spec_fn: a suggested model's spec, checked as rt_check_run checks every model. */
static rt_code make_spec(void *user, size_t j, const rt_model_config *model, rt_model_spec *spec,
                         rt_status *st) {
  spec_maker *m = user;
  spec_fill(m, j, model, spec);
  rt_code rc;
  RT_TRY(rc, rt_check_spec(m->cfg, spec, &m->facts, m->use_cuda, st));
  m->models[j] = *model;
  return RT_OK;
}

/* The checks of the run against the loaded data (rt_check_run: the same as `ringtrain check`),
 * then the specs. Every rank holds the same global facts, so every rank refuses alike. */
static rt_code build_specs(spec_maker *m, rt_model_spec *specs, rt_status *st) {
  const rt_config *cfg = m->cfg;
  const rt_dataset *ds = m->ds;
  m->facts = (rt_check_facts){.features = ds->features,
                              .classes = ds->classes,
                              .shards = ds->shards,
                              .train_rows = rt_check_train_rows(cfg, ds->train_rows, ds->shards)};
  rt_code rc;
  RT_TRY(rc, rt_check_run(cfg, &m->facts, m->use_cuda ? "cuda" : "cpu", NULL, st));
  for (size_t j = 0; j < cfg->model_count; ++j) {
    m->models[j] = cfg->models[j];
    spec_fill(m, j, &cfg->models[j], &specs[j]);
  }
  return RT_OK;
}

/* Validation metrics: per (model, shard) partial sums (RT_EVAL_SUMS each), computed by the
 * backend on this rank's validation shards, reduced to rank 0 and added up in shard order there,
 * so the result does not depend on which rank held which shard. */
static rt_code evaluate(const rt_model_spec *specs, size_t count, const rt_dataset *ds,
                        void **states, rt_backend *backend, MPI_Comm comm, rt_run_result *res,
                        rt_status *st) {
  const size_t S = ds->shards, per = RT_EVAL_SUMS;
  const size_t n = count * S * per;
  double *local = calloc(n, sizeof *local), *sum = calloc(n, sizeof *sum);
  if (!local || !sum) {
    free(local), free(sum);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate evaluation buffers");
  }
  rt_code rc = RT_OK;
  for (size_t j = 0; rc == RT_OK && j < count; ++j)
    for (size_t s = 0; rc == RT_OK && s < S; ++s)
      if (ds->val[s].rows > 0)
        rc =
            backend->evaluate(backend, &specs[j], states[j], s, 256, local + (j * S + s) * per, st);
  rc = rt_agree(comm, rc, st);
  if (rc) {
    free(local), free(sum);
    return rc;
  }
  /* Each element has one contributing rank (the shard owner); adding zeros is exact. */
  const int mrc = MPI_Reduce(local, sum, (int)n, MPI_DOUBLE, MPI_SUM, 0, comm);
  free(local);
  if (mrc != MPI_SUCCESS) {
    free(sum);
    return rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Reduce(validation)");
  }
  for (size_t j = 0; j < count && ds->rank == 0; ++j) {
    const rt_family *fam = rt_family_find(specs[j].hp.kind);
    double total[RT_EVAL_SUMS] = {0};
    for (size_t s = 0; s < S; ++s)
      for (size_t k = 0; k < per; ++k) total[k] += sum[(j * S + s) * per + k];
    rt_model_result *m = &res->models[j];
    m->has_validation = ds->has_validation;
    m->val_rows = res->val_rows;
    const char *const *names = NULL;
    const size_t metric_count = rt_family_metric_names(fam, &specs[j], &names);
    m->metric_count = metric_count < RT_RESULT_METRICS ? metric_count : RT_RESULT_METRICS;
    double values[RT_MAX_METRICS] = {0};
    if (res->val_rows) fam->metrics(&specs[j], total, res->val_rows, values);
    for (size_t k = 0; k < m->metric_count; ++k) {
      m->metric_names[k] = names[k];
      m->metrics[k] = res->val_rows ? values[k] : NAN;
    }
  }
  free(sum);
  return RT_OK;
}

static int compare_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The median of the pass-p losses of the models of `kind` that finished pass p (non-finite as
 * worst). */
static double kind_median(const rt_model_spec *specs, size_t n, void **states, uint64_t p,
                          const char *kind, double *scratch) {
  size_t m = 0;
  for (size_t i = 0; i < n; ++i) {
    if (strcmp(specs[i].hp.kind, kind) != 0 || rt_state_head(states[i])->pass < p) continue;
    const rt_state_layout l = rt_state_layout_of(&specs[i]);
    const double loss = rt_state_history(states[i], &l)[p - 1];
    scratch[m++] = isfinite(loss) ? loss : INFINITY;
  }
  qsort(scratch, m, sizeof *scratch, compare_double);
  return m % 2 ? scratch[m / 2] : 0.5 * (scratch[m / 2 - 1] + scratch[m / 2]);
}

/* sweep.early_terminate median, after pass p (1-based) on every rank alike (every rank holds every
 * state): a model still training whose pass-p loss is worse than the median of the models of its
 * kind that finished pass p stops; its limit becomes p. A non-finite loss counts as worst. Stopping
 * a model does not change the medians (they count every model that finished pass p), so each
 * kind's is computed once: O(models) per pass, not O(models^2). */
static void stop_below_median(const rt_model_spec *specs, size_t n, void **states, uint64_t p,
                              uint64_t *limits, double *scratch) {
  enum { KINDS = 16 }; /* more kinds than families are possible only in theory: then recomputed */
  const char *kinds[KINDS];
  double medians[KINDS];
  size_t known = 0;
  for (size_t j = 0; j < n; ++j) {
    /* Only a model still training can stop: not one already stopped or done with all passes. */
    if (limits[j] != specs[j].passes || rt_state_head(states[j])->pass != p || p >= specs[j].passes)
      continue;
    size_t k = 0;
    while (k < known && strcmp(kinds[k], specs[j].hp.kind) != 0) ++k;
    const double median =
        k < known ? medians[k] : kind_median(specs, n, states, p, specs[j].hp.kind, scratch);
    if (k == known && known < KINDS) kinds[known] = specs[j].hp.kind, medians[known++] = median;
    const rt_state_layout l = rt_state_layout_of(&specs[j]);
    const double loss = rt_state_history(states[j], &l)[p - 1];
    if (!isfinite(loss) || loss > median) {
      limits[j] = p;
      rt_state_head(states[j])->stopped_early = p;
    }
  }
}

/* Checkpointing for one training run (CPU engine). */
typedef struct ckpt_ctx {
  const rt_config *cfg;
  rt_checkpointer *writer; /* rank 0; NULL elsewhere */
  const char *resume_dir;  /* the checkpoint to resume from, or NULL */
  int rank;
  char written[RT_PATH_MAX + 64]; /* the last checkpoint written ("" when none) */
} ckpt_ctx;

/* Rank 0's states for a checkpoint: a model not started yet (asha: NULL) is written as a fresh
 * state (pass 0, no visit: it starts afresh on resume). *made: the array, NULL when none is
 * missing (then states itself). */
static rt_code states_to_write(const rt_model_spec *run, size_t n, void **states, void ***made,
                               rt_status *st) {
  *made = NULL;
  size_t missing = 0;
  for (size_t j = 0; j < n; ++j) missing += states[j] == NULL;
  if (!missing) return RT_OK;
  void **all = calloc(n, sizeof *all);
  if (!all) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu state pointers", n);
  rt_code rc = RT_OK;
  for (size_t j = 0; j < n && rc == RT_OK; ++j) {
    size_t bytes;
    if (states[j]) all[j] = states[j];
    else rc = rt_state_create(&run[j], &all[j], &bytes, st);
  }
  if (rc != RT_OK) {
    for (size_t j = 0; j < n; ++j)
      if (!states[j]) rt_state_free(all[j]);
    free(all);
    return rc;
  }
  *made = all;
  return RT_OK;
}

/* Collective: rank 0 writes a checkpoint of every travelling model; every rank gets its verdict. */
static rt_code save(ckpt_ctx *c, const rt_model_spec *run, size_t n, void **states, MPI_Comm comm,
                    const char *reason, rt_status *st) {
  rt_prof_begin(RT_PHASE_CHECKPOINT, -1, -1, -1);
  rt_code rc = RT_OK;
  if (c->rank == 0) {
    void **made = NULL;
    rc = states_to_write(run, n, states, &made, st);
    if (rc == RT_OK)
      rc = rt_checkpoint_write(c->writer, c->cfg, run, n, made ? made : states, reason, st);
    for (size_t j = 0; made && j < n; ++j)
      if (!states[j]) rt_state_free(made[j]);
    free(made);
    if (rc == RT_OK)
      snprintf(c->written, sizeof c->written, "%s/%s/%s", c->writer->run_dir, RT_CHECKPOINT_DIR,
               c->writer->last);
  }
  rt_prof_end(RT_PHASE_CHECKPOINT);
  rc = rt_agree(comm, rc, st);
  if (rc == RT_OK) {
    int len = (int)strlen(c->written);
    RT_MPI_CHECK(st, MPI_Bcast(&len, 1, MPI_INT, 0, comm));
    RT_MPI_CHECK(st, MPI_Bcast(c->written, len + 1, MPI_CHAR, 0, comm));
  }
  return rc;
}

/* The MANIFEST's reason for a checkpoint written on a stop request, or on schedule. */
static const char *save_reason(int kind) {
  return kind == RT_STOP_EXIT ? "signal" : kind == RT_STOP_CHECKPOINT ? "request" : "every";
}

/* A request that arrived after the engine's last vote: agreed at the boundary. */
static rt_code pending_stop(MPI_Comm comm, int *kind, rt_status *st) {
  int mine = (int)rt_stop_pending();
  RT_MPI_CHECK(st, MPI_Allreduce(&mine, kind, 1, MPI_INT, MPI_MAX, comm));
  return RT_OK;
}

static rt_code stopped_status(const ckpt_ctx *c, rt_status *st) {
  return rt_fail(st, RT_STOPPED,
                 "stopped by a signal after the current batch; checkpoint %s written; "
                 "continue with: ringtrain train CONFIG --resume %s",
                 c->written, c->cfg->run.output);
}

/* A stop the engine call ended on (`stopped`, a stop kind): its checkpoint, then RT_STOPPED for
 * SIGTERM/SIGINT (the caller ends), RT_OK for SIGUSR1 (the caller goes on). */
static rt_code serve_stop(ckpt_ctx *c, const rt_model_spec *run, size_t n, void **states,
                          MPI_Comm comm, int stopped, rt_status *st) {
  rt_code rc;
  RT_TRY(rc, save(c, run, n, states, comm, save_reason(stopped), st));
  if (stopped == RT_STOP_EXIT) return stopped_status(c, st);
  rt_stop_served_checkpoint();
  return RT_OK;
}

/* Between two engine calls: a checkpoint when one is `due` (run.checkpoint_every) or a stop
 * request arrived since the engine's last vote; RT_STOPPED for SIGTERM/SIGINT. */
static rt_code at_boundary(ckpt_ctx *c, const rt_model_spec *run, size_t n, void **states,
                           MPI_Comm comm, int due, rt_status *st) {
  int kind = 0;
  rt_code rc;
  RT_TRY(rc, pending_stop(comm, &kind, st));
  if (due || kind != RT_STOP_NONE) rc = save(c, run, n, states, comm, save_reason(kind), st);
  if (rc == RT_OK && kind == RT_STOP_EXIT) rc = stopped_status(c, st);
  if (kind == RT_STOP_CHECKPOINT) rt_stop_served_checkpoint();
  return rc;
}

/* The engine over every pass, in segments that end where a checkpoint is due (run.checkpoint_every)
 * or where early termination decides (every pass). A stop request ends a segment early at a
 * consistent cut: SIGUSR1 saves a checkpoint and goes on, SIGTERM/SIGINT save one and return
 * RT_STOPPED. states[] come in NULL (a fresh start) or from a checkpoint (every rank alike). */
static rt_code run_segments(const rt_config *cfg, rt_model_spec *run, size_t n,
                            const rt_dataset *ds, MPI_Comm comm, rt_backend *backend, void **states,
                            rt_model_stats *stats, rt_progress_view *view, rt_rank_time *time,
                            ckpt_ctx *ckpt, spec_maker *maker, rt_status *st) {
  const int early = cfg->sweep.early_terminate == RT_EARLY_MEDIAN;
  const int pbt = cfg->sweep.method == RT_SWEEP_PBT;
  rt_pbt plan;
  if (pbt) rt_pbt_plan(cfg, run, n, &plan);
  const uint64_t every = (uint64_t)cfg->run.checkpoint_every;
  uint64_t *limits = malloc((n ? n : 1) * sizeof *limits),
           *upto = malloc((n ? n : 1) * sizeof *upto);
  double *scratch = malloc((n ? n : 1) * sizeof *scratch);
  rt_code rc = limits && upto && scratch
                   ? RT_OK
                   : RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu limits", n);
  rt_groups groups = {0};
  if (rc == RT_OK) rc = rt_groups_form(run, n, cfg->run.fuse, &groups, st);
  uint64_t longest = 0;
  for (size_t j = 0; rc == RT_OK && j < n; ++j) {
    const rt_state_header *h = states[j] ? rt_state_head(states[j]) : NULL;
    limits[j] = h && h->stopped_early ? h->stopped_early : run[j].passes;
    if (run[j].passes > longest) longest = run[j].passes;
  }
  while (rc == RT_OK) {
    if (pbt) { /* the step due (after a stop at its pass, on resume too), then the groups */
      rc = rt_pbt_catch_up(&plan, run, maker->models, n, states, make_spec, maker, st);
      rt_groups_free(&groups);
      if (rc == RT_OK) rc = rt_groups_form(run, n, cfg->run.fuse, &groups, st);
      if (rc == RT_OK) rc = rt_backend_respec(backend, run, n, &groups, st);
      if (rc) break;
    }
    /* The slowest model still training decides where this segment ends. */
    uint64_t cur = UINT64_MAX;
    for (size_t j = 0; j < n; ++j) {
      const uint64_t pass = states[j] ? rt_state_head(states[j])->pass : 0;
      if (pass < limits[j] && pass < cur) cur = pass;
    }
    if (cur == UINT64_MAX) break; /* every model is done */
    uint64_t target = longest;
    if (early && cur + 1 < target) target = cur + 1;
    if (every && (cur / every + 1) * every < target) target = (cur / every + 1) * every;
    if (pbt && (cur / plan.interval + 1) * plan.interval < target)
      target = (cur / plan.interval + 1) * plan.interval; /* pbt's next step */
    for (size_t j = 0; j < n; ++j) upto[j] = target < limits[j] ? target : limits[j];
    int stopped = 0;
    rc = rt_engine_run(cfg, run, n, ds, comm, states, stats, upto, &groups, backend, view, time,
                       &stopped, st);
    if (rc) break;
    if (stopped) {
      if ((rc = serve_stop(ckpt, run, n, states, comm, stopped, st))) break;
      continue;
    }
    if (early && target >= (uint64_t)cfg->sweep.early_min_passes)
      stop_below_median(run, n, states, target, limits, scratch);
    int more = 0; /* a model still has passes to go */
    for (size_t j = 0; j < n; ++j) more |= rt_state_head(states[j])->pass < limits[j];
    if (!more) break;
    rc = at_boundary(ckpt, run, n, states, comm, every && target % every == 0, st);
  }
  free(limits);
  free(upto);
  free(scratch);
  rt_groups_free(&groups);
  return rc;
}

/* The plan of a sweep that places its models (asha.h); tpe's suggested specs come from
 * make_spec. */
static void placing_plan(const rt_config *cfg, const rt_model_spec *run, size_t n,
                         spec_maker *maker, rt_asha *plan) {
  rt_asha_plan(cfg, run, n, plan);
  plan->spec_of = make_spec;
  plan->spec_user = maker;
}

/* sweep.method asha, hyperband, tpe (asha.h): the engine runs one tick at a time, each model in
 * a place to the next decision; the schedule (tpe: with the suggestions, which set run[j]) is
 * replayed from the states before each tick. Stops, checkpoints (run.checkpoint_every counts
 * ticks) and resume as run_segments. */
static rt_code run_asha(const rt_config *cfg, rt_model_spec *run, size_t n, const rt_dataset *ds,
                        MPI_Comm comm, rt_backend *backend, void **states, rt_model_stats *stats,
                        rt_progress_view *view, rt_rank_time *time, ckpt_ctx *ckpt,
                        spec_maker *maker, rt_status *st) {
  const uint64_t every = (uint64_t)cfg->run.checkpoint_every;
  rt_asha plan;
  placing_plan(cfg, run, n, maker, &plan);
  uint64_t *upto = malloc((n ? n : 1) * sizeof *upto);
  rt_code rc = upto ? RT_OK : RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu limits", n);
  rt_asha_replay *kept = NULL; /* each tick continues the replay (asha.h) */
  plan.keep = &kept;
  rt_groups groups = {0};
  if (rc == RT_OK && !plan.tpe) rc = rt_groups_form(run, n, cfg->run.fuse, &groups, st);
  for (uint64_t ticks = 0; rc == RT_OK;) {
    int done = 0;
    if ((rc = rt_asha_next(&plan, run, n, states, upto, &done, st)) || done) break;
    if (plan.tpe) { /* the specs of the models that start now are the suggestions */
      rt_groups_free(&groups);
      if ((rc = rt_groups_form(run, n, cfg->run.fuse, &groups, st))) break;
      if ((rc = rt_backend_respec(backend, run, n, &groups, st))) break;
    }
    int stopped = 0;
    rc = rt_engine_run(cfg, run, n, ds, comm, states, stats, upto, &groups, backend, view, time,
                       &stopped, st);
    if (rc) break;
    if (stopped) {
      if ((rc = serve_stop(ckpt, run, n, states, comm, stopped, st))) break;
      continue;
    }
    ++ticks;
    rc = at_boundary(ckpt, run, n, states, comm, every && ticks % every == 0, st);
  }
  for (size_t j = 0; rc == RT_OK && j < n; ++j)
    if (!states[j]) rc = RT_FAIL_AT(st, RT_ERR_INTERNAL, "asha: model %zu never started", j);
  rt_asha_replay_free(kept);
  free(upto);
  rt_groups_free(&groups);
  return rc;
}

/* The CPU backend; wrapped in the deferred test backend (backend.h) when RINGTRAIN_DEFER_VISITS
 * asks for it, so that the engine's asynchronous path runs without a GPU (told of the models and
 * groups as the CUDA backend is); RINGTRAIN_DEFER_BATCH_MS then slows each batch of a start, as a
 * fed CUDA visit's host waits for the device. */
static rt_code open_cpu_backend(const rt_dataset *ds, const rt_model_spec *specs, size_t count,
                                const rt_groups *groups, rt_backend **out, rt_status *st) {
  *out = NULL;
  const char *defer = getenv("RINGTRAIN_DEFER_VISITS");
  unsigned long polls = 0;
  if (defer && defer[0]) {
    char *end = NULL;
    errno = 0;
    polls = strtoul(defer, &end, 10);
    if (errno || *end || polls == 0 || polls > 1000)
      return rt_fail(st, RT_ERR_USAGE,
                     "RINGTRAIN_DEFER_VISITS must be a whole number from 1 to 1000, not '%s'",
                     defer);
  }
  const char *wait = getenv("RINGTRAIN_DEFER_BATCH_MS");
  unsigned long batch_ms = 0;
  if (polls && wait && wait[0]) {
    char *end = NULL;
    errno = 0;
    batch_ms = strtoul(wait, &end, 10);
    if (errno || *end || batch_ms > 10000)
      return rt_fail(st, RT_ERR_USAGE,
                     "RINGTRAIN_DEFER_BATCH_MS must be a whole number from 0 to 10000, not '%s'",
                     wait);
  }
  rt_backend *cpu = NULL;
  rt_code rc;
  RT_TRY(rc, rt_backend_cpu_open(ds, &cpu, st));
  if (!polls) {
    *out = cpu;
    return RT_OK;
  }
  return rt_backend_deferred_open(cpu, (unsigned)polls, (unsigned)batch_ms, specs, count, groups,
                                  out, st);
}

/* Rank 0's states[0..n) (as read from a checkpoint; NULL: not started) to every rank. */
static rt_code share_states(const ckpt_ctx *c, const rt_model_spec *run, size_t n, void **states,
                            MPI_Comm comm, rt_status *st) {
  for (size_t j = 0; j < n; ++j) {
    int present = states[j] != NULL;
    RT_MPI_CHECK(st, MPI_Bcast(&present, 1, MPI_INT, 0, comm));
    if (!present) continue;
    const size_t bytes = rt_state_layout_of(&run[j]).total_bytes;
    if (c->rank != 0 && !(states[j] = aligned_alloc(RT_STATE_ALIGN, bytes)))
      return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes", bytes);
    RT_MPI_CHECK(st, MPI_Bcast(states[j], (int)bytes, MPI_BYTE, 0, comm));
  }
  return RT_OK;
}

/* Rank 0 reads the travelling models' states run[0..n) from the checkpoint; every rank gets
 * them. started_only (asha, hyperband, tpe): a model not started there stays NULL. */
static rt_code load_checkpoint(const ckpt_ctx *c, const rt_model_spec *run, size_t n, size_t count,
                               int started_only, void **states, MPI_Comm comm, rt_status *st) {
  rt_code rc = RT_OK;
  if (c->rank == 0)
    rc = started_only ? rt_checkpoint_read_started(c->resume_dir, run, n, count, states, st)
                      : rt_checkpoint_read(c->resume_dir, run, n, count, states, st);
  RT_TRY(rc, rt_agree(comm, rc, st));
  return share_states(c, run, n, states, comm, st);
}

/* tpe: a model's spec depends on the states of the models before it (asha.h), so the checkpoint
 * is read in id order, the schedule replayed before each model to give it its spec. */
static rt_code load_tpe_checkpoint(const ckpt_ctx *c, const rt_config *cfg, rt_model_spec *run,
                                   size_t n, void **states, spec_maker *maker, MPI_Comm comm,
                                   rt_status *st) {
  rt_asha plan;
  placing_plan(cfg, run, n, maker, &plan);
  uint64_t *upto = malloc((n ? n : 1) * sizeof *upto);
  rt_code rc = upto ? RT_OK : RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu limits", n);
  rt_asha_replay *kept = NULL; /* each model's replay continues the one before (asha.h) */
  plan.keep = &kept;
  for (size_t j = 0; rc == RT_OK && j < n; ++j) {
    int done = 0;
    rc = rt_asha_next(&plan, run, n, states, upto, &done, st);
    if (rc == RT_OK) rc = load_checkpoint(c, run + j, 1, n, 1, states + j, comm, st);
  }
  rt_asha_replay_free(kept);
  free(upto);
  return rc;
}

/* pbt: the specs follow from the states (pbt.h), so the checkpoint is read without comparing
 * them, the steps the states record are replayed, then each file's spec is compared. */
static rt_code load_pbt_checkpoint(const ckpt_ctx *c, const rt_config *cfg, rt_model_spec *run,
                                   size_t n, void **states, spec_maker *maker, MPI_Comm comm,
                                   rt_status *st) {
  char **texts = calloc(n ? n : 1, sizeof *texts);
  if (!texts) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu spec texts", n);
  rt_code rc =
      c->rank == 0 ? rt_checkpoint_read_texts(c->resume_dir, run, n, n, texts, states, st) : RT_OK;
  rc = rt_agree(comm, rc, st);
  if (rc == RT_OK) rc = share_states(c, run, n, states, comm, st);
  rt_pbt plan;
  rt_pbt_plan(cfg, run, n, &plan);
  const uint64_t steps = rc == RT_OK && n ? rt_state_head(states[0])->pbt_steps : 0;
  if (rc == RT_OK)
    rc = rt_pbt_replay(&plan, run, maker->models, n, states, steps, make_spec, maker, NULL, st);
  for (size_t j = 0; rc == RT_OK && c->rank == 0 && j < n; ++j) {
    char *want = rt_spec_to_text(&run[j]);
    if (!want) rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot format a spec");
    else if (strcmp(want, texts[j]) != 0)
      rc = rt_fail(st, RT_ERR_MODEL_FILE,
                   "%s/model-%zu.rtm: written for other hyper-parameters or data than its pbt "
                   "steps give",
                   c->resume_dir, j);
    free(want);
  }
  for (size_t j = 0; j < n; ++j) free(texts[j]);
  free(texts);
  return rt_agree(comm, rc, st);
}

/* pbt: lineage.csv's text, replayed from the drawn configs on the final states; the replay must
 * give the specs trained (a check of the replay itself). */
static rt_code pbt_lineage(const rt_config *cfg, const spec_maker *maker,
                           const rt_model_spec *specs, size_t count, void *const *states,
                           char **lineage, rt_status *st) {
  rt_model_spec *replayed = malloc((count ? count : 1) * sizeof *replayed);
  rt_model_config *models = malloc((count ? count : 1) * sizeof *models);
  rt_code rc =
      replayed && models ? RT_OK : RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu specs", count);
  spec_maker own = *maker;
  own.models = models;
  for (size_t j = 0; rc == RT_OK && j < count; ++j) {
    models[j] = cfg->models[j];
    spec_fill(&own, j, &models[j], &replayed[j]);
  }
  rt_pbt plan;
  rt_pbt_plan(cfg, specs, count, &plan);
  if (rc == RT_OK)
    rc = rt_pbt_replay(&plan, replayed, models, count, states,
                       count ? rt_state_head(states[0])->pbt_steps : 0, make_spec, &own, lineage,
                       st);
  for (size_t j = 0; rc == RT_OK && j < count; ++j) {
    char *a = rt_spec_to_text(&replayed[j]), *b = rt_spec_to_text(&specs[j]);
    if (!a || !b) rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot format a spec");
    else if (strcmp(a, b) != 0)
      rc = RT_FAIL_AT(st, RT_ERR_INTERNAL, "pbt: the replayed steps give model %zu other specs", j);
    free(a), free(b);
  }
  free(replayed);
  free(models);
  return rc;
}

/* Runs the engine on the models that travel, then gives every sharing model a copy of its
 * source's final state (with its own id and key in the header). */
static rt_code run_models(const rt_config *cfg, rt_model_spec *specs, size_t count,
                          const rt_dataset *ds, MPI_Comm comm, rt_backend *backend,
                          const size_t *source, void **states, rt_model_stats *stats,
                          rt_progress_fn progress, void *progress_user, rt_rank_time *time,
                          ckpt_ctx *ckpt, spec_maker *maker, rt_status *st) {
  size_t n = 0;
  for (size_t j = 0; j < count; ++j) n += source[j] == j;
  rt_model_spec *run = malloc(n * sizeof *run);
  void **run_states = calloc(n, sizeof *run_states);
  rt_model_stats *run_stats = calloc(n, sizeof *run_stats);
  size_t *slot_of = malloc(count * sizeof *slot_of);
  rt_code rc = RT_OK;
  if (!run || !run_states || !run_stats || !slot_of)
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the run tables");
  for (size_t j = 0, k = 0; rc == RT_OK && j < count; ++j)
    if (source[j] == j) slot_of[j] = k, run[k++] = specs[j];
  const int places = rt_sweep_places(cfg), tpe = cfg->sweep.method == RT_SWEEP_TPE,
            pbt = cfg->sweep.method == RT_SWEEP_PBT;
  if (rc == RT_OK && (tpe || pbt) && n != count) /* their models never share (train sees to it) */
    rc = RT_FAIL_AT(st, RT_ERR_INTERNAL, "%zu of %zu models travel", n, count);
  if (rc == RT_OK && ckpt->resume_dir)
    rc = tpe   ? load_tpe_checkpoint(ckpt, cfg, run, n, run_states, maker, comm, st)
         : pbt ? load_pbt_checkpoint(ckpt, cfg, run, n, run_states, maker, comm, st)
               : load_checkpoint(ckpt, run, n, count, places, run_states, comm, st);
  rt_progress_view view;
  memset(&view, 0, sizeof view); /* freed even when nothing above succeeded */
  if (rc == RT_OK)
    rc = rt_progress_view_init(&view, run, n, ds->rank == 0 ? progress : NULL, progress_user, st);
  if (rc == RT_OK && places)
    rc = run_asha(cfg, run, n, ds, comm, backend, run_states, run_stats, &view, time, ckpt, maker,
                  st);
  else if (rc == RT_OK)
    rc = run_segments(cfg, run, n, ds, comm, backend, run_states, run_stats, &view, time, ckpt,
                      maker, st);
  if (rc == RT_OK) rt_progress_view_finish(&view);
  rt_progress_view_free(&view);
  for (size_t j = 0; rc == RT_OK && j < count; ++j) {
    if (source[j] == j) {
      specs[j] = run[slot_of[j]]; /* tpe: the suggestion it trained with */
      states[j] = run_states[slot_of[j]];
      run_states[slot_of[j]] = NULL;
      stats[j] = run_stats[slot_of[j]];
      continue;
    }
    const size_t bytes = rt_state_layout_of(&specs[j]).total_bytes;
    states[j] = aligned_alloc(RT_STATE_ALIGN, bytes);
    if (!states[j]) {
      rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes", bytes);
      break;
    }
    memcpy(states[j], states[source[j]], bytes); /* source[j] < j: already in place */
    rt_state_header fresh;
    rt_state_header_init(&specs[j], &fresh);
    rt_state_head(states[j])->model_id = fresh.model_id;
    rt_state_head(states[j])->rng_key = fresh.rng_key;
  }
  for (size_t k = 0; k < n && run_states; ++k) rt_state_free(run_states[k]);
  free(run);
  free(run_states);
  free(run_stats);
  free(slot_of);
  return rc;
}

/* Families that finish after the last pass (linear: solve) do it on every rank alike, so every
 * rank holds the same final state for evaluation. */
static rt_code finish_models(const rt_model_spec *specs, size_t count, void **states,
                             rt_status *st) {
  for (size_t j = 0; j < count; ++j) {
    const rt_family *fam = rt_family_find(specs[j].hp.kind);
    if (!fam->finish || rt_state_head(states[j])->diverged) continue;
    const rt_state_layout l = rt_state_layout_of(&specs[j]);
    float *params = rt_state_params(states[j], &l), *aux = rt_state_aux(states[j], &l);
    rt_code rc;
    RT_TRY(rc, fam->finish(&specs[j], params, aux, st));
    if (fam->finished_train_loss) /* the last pass's loss, known only now */
      rt_state_history(states[j], &l)[specs[j].passes - 1] =
          fam->finished_train_loss(&specs[j], params, aux);
  }
  return RT_OK;
}

static rt_code collect(const rt_model_spec *specs, size_t count, void **states,
                       const rt_model_stats *stats, MPI_Comm comm, int rank, rt_run_result *res,
                       rt_status *st) {
  rt_model_stats *total = calloc(count ? count : 1, sizeof *total);
  if (!total) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate statistics");
  int rc =
      MPI_Reduce(stats, total, (int)(count * RT_MODEL_STATS_DOUBLES), MPI_DOUBLE, MPI_SUM, 0, comm);
  if (rc != MPI_SUCCESS) {
    free(total);
    return rt_mpi_fail(st, rc, __FILE__, __LINE__, "MPI_Reduce(statistics)");
  }
  for (size_t j = 0; j < count && rank == 0; ++j) {
    rt_model_result *m = &res->models[j];
    const rt_state_layout l = rt_state_layout_of(&specs[j]);
    const rt_state_header *h = rt_state_head(states[j]);
    m->id = j;
    m->hp = specs[j].hp;
    m->passes = h->pass; /* fewer than configured when early termination stopped it */
    m->stopped_early = h->stopped_early != 0;
    m->train_loss = malloc((m->passes ? m->passes : 1) * sizeof *m->train_loss);
    if (!m->train_loss) {
      free(total);
      return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate loss history");
    }
    memcpy(m->train_loss, rt_state_history(states[j], &l), m->passes * sizeof *m->train_loss);
    if (specs[j].eval_every_pass) { /* per-pass validation metrics from the sums in the state */
      const rt_family *fam = rt_family_find(specs[j].hp.kind);
      m->val_history =
          calloc((m->passes ? m->passes : 1) * RT_RESULT_METRICS, sizeof *m->val_history);
      if (!m->val_history) {
        free(total);
        return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate validation history");
      }
      const double *vh = rt_state_val_history(states[j], &l);
      for (uint64_t p = 0; p < m->passes; ++p) {
        const double *sums = vh + p * (RT_EVAL_SUMS + 1);
        double values[RT_MAX_METRICS] = {0};
        if (sums[RT_EVAL_SUMS] > 0)
          fam->metrics(&specs[j], sums, (uint64_t)sums[RT_EVAL_SUMS], values);
        for (size_t k = 0; k < RT_RESULT_METRICS; ++k)
          m->val_history[p * RT_RESULT_METRICS + k] = sums[RT_EVAL_SUMS] > 0 ? values[k] : NAN;
      }
    }
    m->diverged = h->diverged != 0;
    if (m->diverged) /* metrics of NaN weights mean nothing */
      for (size_t k = 0; k < m->metric_count; ++k) m->metrics[k] = NAN;
    m->train_seconds = total[j].seconds;
    m->wire_seconds = total[j].wire; /* the engine's measure; the trace's may replace it */
    m->hops = (uint64_t)total[j].hops;
    m->bytes_handed = (uint64_t)total[j].bytes;
    uint8_t digest[32];
    rt_code hrc = rt_sha256(states[j], l.total_bytes, digest, st);
    if (hrc) {
      free(total);
      return hrc;
    }
    rt_hex(digest, sizeof digest, m->state_sha256);
  }
  free(total);
  return RT_OK;
}

/* The utilisation report, part 1: every rank's training wall time to rank 0 (the run's is the
 * longest), its busy and idle time and hand-offs as rank_report. The latencies are the engine's until finish_report. */
static rt_code gather_rank_report(const rt_rank_time *time, double wall, MPI_Comm comm, int rank,
                                  int ranks, rt_run_result *res, rt_status *st) {
  enum { N = 1 + RT_RANK_TIME_DOUBLES };
  double mine[N];
  mine[0] = wall;
  memcpy(mine + 1, time, sizeof *time);
  double *all = rank == 0 ? malloc((size_t)ranks * N * sizeof *all) : NULL;
  if (rank == 0 && !all) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate rank times");
  const int mrc = MPI_Gather(mine, N, MPI_DOUBLE, all, N, MPI_DOUBLE, 0, comm);
  if (mrc != MPI_SUCCESS) {
    free(all);
    return rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Gather(rank times)");
  }
  if (rank != 0) return RT_OK;
  res->train_wall_seconds = 0;
  for (int r = 0; r < ranks; ++r)
    if (all[(size_t)r * N] > res->train_wall_seconds) res->train_wall_seconds = all[(size_t)r * N];
  res->rank_report = calloc((size_t)ranks, sizeof *res->rank_report);
  if (!res->rank_report) {
    free(all);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the rank report");
  }
  for (int r = 0; r < ranks; ++r) {
    rt_rank_time t;
    memcpy(&t, all + (size_t)r * N + 1, sizeof t);
    rt_rank_report *q = &res->rank_report[r];
    q->wall_seconds = all[(size_t)r * N];
    q->busy_seconds = t.busy;
    q->idle_seconds = t.idle;
    q->final_seconds = t.final;
    q->sent = (uint64_t)t.sent;
    q->received = (uint64_t)t.received;
    q->bytes_sent = (uint64_t)t.bytes_sent;
    q->bytes_received = (uint64_t)t.bytes_received;
    q->latency_mean = t.sent > 0 ? t.latency_sum / t.sent : 0.0;
    q->latency_max = t.latency_max;
  }
  snprintf(res->latency_source, sizeof res->latency_source, "engine");
  free(all);
  return RT_OK;
}

/* The utilisation report, part 2 (rank 0, after collect): the hand-off latencies from the trace
 * when it holds every hand-off (nothing dropped), and each model's waiting time. */
static rt_code finish_report(const rt_trace *trace, rt_run_result *res, rt_status *st) {
  const size_t count = res->model_count;
  const int ranks = res->ranks;
  res->traced = trace != NULL;
  if (trace && res->rank_report) {
    double *wire = calloc(count ? count : 1, sizeof *wire);
    double *sum = calloc((size_t)ranks, sizeof *sum), *max = calloc((size_t)ranks, sizeof *max);
    uint64_t *n = calloc((size_t)ranks, sizeof *n);
    rt_trace_totals totals;
    rt_code rc =
        wire && sum && max && n ? RT_OK : RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate latencies");
    if (rc == RT_OK) rc = rt_trace_latencies(trace, wire, n, sum, max, &totals, st);
    if (rc == RT_OK) {
      res->trace_dropped = totals.dropped;
      res->trace_handoffs = totals.handoffs;
    }
    if (rc == RT_OK && totals.dropped == 0 && totals.unpaired == 0) {
      for (size_t j = 0; j < count; ++j) res->models[j].wire_seconds = wire[j];
      for (int r = 0; r < ranks; ++r) {
        res->rank_report[r].latency_mean = n[r] ? sum[r] / (double)n[r] : 0.0;
        res->rank_report[r].latency_max = max[r];
      }
      snprintf(res->latency_source, sizeof res->latency_source, "trace");
    }
    free(wire), free(sum), free(max), free(n);
    if (rc) return rc;
  }
  for (size_t j = 0; j < count; ++j) {
    rt_model_result *m = &res->models[j];
    if (!res->rank_report) {
      m->wire_seconds = m->wait_seconds = NAN;
      continue;
    }
    const double wait = res->train_wall_seconds - m->train_seconds - m->wire_seconds;
    m->wait_seconds = wait > 0 ? wait : 0.0;
  }
  return RT_OK;
}

/* Rank 0: the checkpoint to resume from (resume names a run directory or a checkpoint folder),
 * checked against this run's config; every rank learns the folder or the error. */
static rt_code find_resume(const rt_config *cfg, const char *resume, int rank, MPI_Comm comm,
                           char *dir, size_t size, rt_status *st) {
  rt_code rc = RT_OK;
  if (rank == 0) {
    rc = rt_checkpoint_find(resume, dir, size, st);
    rt_config was;
    rt_config_defaults(&was);
    if (rc == RT_OK) rc = rt_checkpoint_load_config(dir, &was, st);
    if (rc == RT_OK) {
      char diff[RT_MESSAGE_MAX - 400]; /* room for the paths around it */
      const size_t n = rt_config_diff(&was, cfg, diff, sizeof diff);
      /* The checkpoint's own config resumes it as it was started, whatever changed since (the
       * config file, or a rule of auto values such as start_shard's); not tpe's, which holds the
       * models drawn, not those suggested (expanded, it no longer suggests). */
      char hint[RT_PATH_MAX + 40] = "";
      if (was.sweep.method != RT_SWEEP_TPE)
        snprintf(hint, sizeof hint, "; its own config is %s/config.yaml", dir);
      if (n)
        rc = rt_fail(st, RT_ERR_CONFIG,
                     "%s: cannot resume from %s: %zu setting%s differ%s from the checkpoint: %s%s",
                     cfg->path, dir, n, n == 1 ? "" : "s", n == 1 ? "s" : "", diff, hint);
    }
    rt_config_free(&was);
  }
  RT_TRY(rc, rt_agree(comm, rc, st));
  RT_MPI_CHECK(st, MPI_Bcast(dir, (int)size, MPI_CHAR, 0, comm));
  return RT_OK;
}

rt_code rt_train(const rt_config *cfg, MPI_Comm comm, rt_progress_fn progress, void *progress_user,
                 rt_run_result *res, rt_status *st) {
  return rt_train_resume(cfg, NULL, comm, progress, progress_user, res, st);
}

rt_code rt_train_resume(const rt_config *cfg, const char *resume, MPI_Comm comm,
                        rt_progress_fn progress, void *progress_user, rt_run_result *res,
                        rt_status *st) {
  memset(res, 0, sizeof *res);
  rt_status_clear(st);
  const double t0 = MPI_Wtime();
  int rank = 0, ranks = 1;
  RT_MPI_CHECK(st, MPI_Comm_rank(comm, &rank));
  RT_MPI_CHECK(st, MPI_Comm_size(comm, &ranks));
  /* Pinned thread counts: sgemm bits depend on them. */
  openblas_set_num_threads((int)cfg->run.threads);
  omp_set_num_threads((int)cfg->run.threads);

  /* CPU or CUDA (src/engine/backend_decide.h); the one engine drives either. */
  rt_backend_choice backend;
  rt_code rc;
  RT_TRY(rc, rt_backend_select(cfg, comm, &backend, st));
  const int use_cuda = backend.use_cuda;
  snprintf(res->backend, sizeof res->backend, "%s", use_cuda ? "cuda" : "cpu");
  snprintf(res->note, sizeof res->note, "%s", backend.note);
  if (!use_cuda) RT_TRY(rc, rt_blas_cores_note(comm, res->note, sizeof res->note, st));
  rc = rank == 0 ? rt_check_writable_dir(cfg->run.output, st) : RT_OK;
  RT_TRY(rc, rt_agree(comm, rc, st));
  char resume_dir[RT_PATH_MAX + 64] = "";
  if (resume) RT_TRY(rc, find_resume(cfg, resume, rank, comm, resume_dir, sizeof resume_dir, st));
  rt_checkpointer writer;
  rc = rank == 0 ? rt_checkpointer_init(&writer, cfg->run.output, cfg->run.keep_checkpoints, ranks,
                                        resume == NULL, st)
                 : RT_OK;
  RT_TRY(rc, rt_agree(comm, rc, st));
  ckpt_ctx ckpt = {.cfg = cfg,
                   .writer = rank == 0 ? &writer : NULL,
                   .resume_dir = resume ? resume_dir : NULL,
                   .rank = rank};
  rt_trace *trace = NULL; /* run.trace: the recorder, from here to the end (collective) */
  if (cfg->run.trace &&
      (rc = rt_trace_start(comm, (size_t)cfg->run.trace_events, cfg->model_count, &trace, st)))
    return rc;

  rt_dataset ds;
  rt_model_spec *specs = NULL;
  rt_model_config *models = NULL; /* as trained: cfg->models, tpe's suggested ones replaced */
  void **states = NULL;
  rt_model_stats *stats = NULL;
  rt_backend *engine_backend = NULL; /* opened once the specs exist */
  rt_groups groups = {0};            /* of every model */
  rt_scaling scalings[3] = {{0}};    /* by rt_normalize: none, standard, minmax */
  size_t *source = NULL;             /* shared statistics passes */
  const size_t count = cfg->model_count;
  const int need_classes = rt_config_needs_classes(cfg);
  rt_prof_begin(RT_PHASE_LOAD, -1, -1, -1);
  rc = rt_dataset_load(cfg, need_classes, comm, &ds, st);
  /* The scalings the models use (the normalize model key; data.normalize by default): each
   * computed once; when every model uses the same one it is applied to the shards' rows, else
   * every model scales its own batches (the data is never copied per model). */
  int used[3] = {0, 0, 0}, kinds = 0;
  for (size_t j = 0; j < count; ++j) used[rt_model_normalize(cfg, j)] = 1;
  for (int k = 0; k < 3; ++k) kinds += used[k];
  for (int k = 1; rc == RT_OK && k < 3; ++k)
    if (used[k]) rc = rt_scaling_compute((rt_normalize)k, &ds, comm, &scalings[k], st);
  /* Sparse rows are never scaled in place (they would not stay sparse): their batches are. */
  const int sparse =
      ds.train_info.format == RT_FORMAT_LIBSVM ||
      (ds.has_validation && cfg->data.validation[0] && ds.val_info.format == RT_FORMAT_LIBSVM);
  for (int k = 1; rc == RT_OK && kinds == 1 && !sparse && k < 3; ++k) {
    if (!used[k]) continue;
    for (size_t s = 0; rc == RT_OK && s < ds.shards; ++s) {
      rc = rt_scaling_apply(&scalings[k], &ds.train[s], st);
      if (rc == RT_OK) rc = rt_scaling_apply(&scalings[k], &ds.val[s], st);
    }
    rc = rt_agree(comm, rc, st);
    ds.scaled = &scalings[k];
  }
  rt_prof_end(RT_PHASE_LOAD);
  if (rc) goto done;
  specs = calloc(count, sizeof *specs);
  states = calloc(count, sizeof *states);
  stats = calloc(count, sizeof *stats);
  res->models = calloc(count, sizeof *res->models);
  if (!specs || !states || !stats || !res->models) {
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate tables for %zu models", count);
    goto done;
  }
  res->model_count = count;
  res->ranks = ranks;
  res->shards = ds.shards;
  res->features = ds.features;
  res->classes = ds.classes;
  for (size_t s = 0; s < ds.shards; ++s) {
    res->train_rows += ds.train_rows[s];
    res->val_rows += ds.val_rows[s];
  }
  snprintf(res->output_dir, sizeof res->output_dir, "%s", cfg->run.output);
  models = malloc(count * sizeof *models);
  if (!models) {
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu model configs", count);
    goto done;
  }
  spec_maker maker = {
      .cfg = cfg, .ds = &ds, .scalings = scalings, .use_cuda = use_cuda, .models = models};
  if ((rc = build_specs(&maker, specs, st))) goto done;
  /* The groups, for results.csv and the CUDA backend's fused contexts (the engine forms its own
   * from the travelling models' specs with the same rule). */
  if ((rc = rt_groups_form(specs, count, cfg->run.fuse, &groups, st))) goto done;
  for (size_t j = 0; j < count; ++j) res->models[j].group = groups.group_of[j];

  source = malloc(count * sizeof *source);
  if (!source) {
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu indices", count);
    goto done;
  }
  (void)rt_plan_shared_passes(specs, count, source);
  if (cfg->sweep.method == RT_SWEEP_TPE || cfg->sweep.method == RT_SWEEP_PBT)
    /* suggested or perturbed models differ from what they share */
    for (size_t j = 0; j < count; ++j) source[j] = j;
#if RINGTRAIN_WITH_CUDA
  if (use_cuda) rc = rt_backend_cuda_open(&ds, specs, count, &groups, comm, &engine_backend, st);
  else
#endif
    rc = rt_agree(comm, open_cpu_backend(&ds, specs, count, &groups, &engine_backend, st), st);
  if (rc) goto done;
  rt_rank_time time;
  memset(&time, 0, sizeof time);
  const double train_t0 = MPI_Wtime();
  rc = run_models(cfg, specs, count, &ds, comm, engine_backend, source, states, stats, progress,
                  progress_user, &time, &ckpt, &maker, st);
  const double train_wall = MPI_Wtime() - train_t0;
  if (rc) goto done;
  rc = cfg->sweep.method == RT_SWEEP_PBT && rank == 0
           ? pbt_lineage(cfg, &maker, specs, count, states, &res->lineage, st)
           : RT_OK;
  if ((rc = rt_agree(comm, rc, st))) goto done;
  if (cfg->sweep.method == RT_SWEEP_TPE || cfg->sweep.method == RT_SWEEP_PBT) {
    /* the groups of the models as trained */
    rt_groups_free(&groups);
    if ((rc = rt_groups_form(specs, count, cfg->run.fuse, &groups, st))) goto done;
    for (size_t j = 0; j < count; ++j) res->models[j].group = groups.group_of[j];
  }
  if ((rc = gather_rank_report(&time, train_wall, comm, rank, ranks, res, st))) goto done;
  /* The training's events to rank 0 now, for the hand-off latencies of the report. */
  if (trace && (rc = rt_trace_collect(trace, st))) goto done;
  for (size_t j = 0; j < count && rank == 0; ++j) res->models[j].pass_source = source[j];
  if ((rc = finish_models(specs, count, states, st))) goto done;
  rt_prof_begin(RT_PHASE_EVALUATE, -1, -1, -1);
  rc = evaluate(specs, count, &ds, states, engine_backend, comm, res, st);
  rt_prof_end(RT_PHASE_EVALUATE);
  if (rc) goto done;
  if ((rc = collect(specs, count, states, stats, comm, rank, res, st))) goto done;
  if (rank == 0 && (rc = finish_report(trace, res, st))) goto done;
  res->wall_seconds = MPI_Wtime() - t0;
  rt_prof_begin(RT_PHASE_WRITE, -1, -1, -1);
  rc = rank == 0 ? rt_results_rank(cfg, res, st) : RT_OK;
  /* config.yaml: the models as trained (tpe: the suggestions; pbt: the population as drawn, which
   * its steps replay from) */
  rt_config trained = *cfg;
  if (cfg->sweep.method != RT_SWEEP_PBT) trained.models = models;
  if (rc == RT_OK && rank == 0)
    rc = rt_results_write(&trained, res, specs, (const void *const *)states, st);
  rt_prof_end(RT_PHASE_WRITE);
  rc = rt_agree(comm, rc, st);
  if (rc == RT_OK && trace) { /* the rest of the events, then trace.json (rank 0) */
    rc = rt_trace_collect(trace, st);
    if (rc == RT_OK && rank == 0) {
      char path[RT_PATH_MAX + 16];
      snprintf(path, sizeof path, "%s/trace.json", cfg->run.output);
      rt_trace_totals totals;
      rc = rt_trace_write(trace, path, &totals, st);
      res->trace_events = totals.events;
      res->trace_dropped = totals.dropped;
      res->trace_handoffs = totals.handoffs;
    }
    rc = rt_agree(comm, rc, st);
  }
done:
  rt_trace_free(trace);
  if (states)
    for (size_t j = 0; j < count; ++j) rt_state_free(states[j]);
  free(states);
  free(specs);
  free(models);
  free(stats);
  rt_backend_close(engine_backend);
  rt_groups_free(&groups);
  free(source);
  for (int k = 0; k < 3; ++k) rt_scaling_free(&scalings[k]);
  rt_dataset_free(&ds);
  return rc;
}

void rt_run_result_free(rt_run_result *res) {
  free(res->rank_order);
  free(res->rank_report);
  if (res->models)
    for (size_t j = 0; j < res->model_count; ++j) {
      free(res->models[j].train_loss);
      free(res->models[j].val_history);
    }
  free(res->lineage);
  free(res->models);
  memset(res, 0, sizeof *res);
}
