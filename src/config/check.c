/* rt_check_run (include/ringtrain/check.h): runs every check of a resolved config against the
 * data and the chosen backend, in one order, and keeps every refusal. Used by `ringtrain check`
 * and by rt_train, so the two always refuse alike. The rules live in their own files (the key
 * table, rt_config_validate, the families' checks, the CUDA backend's limits); this file only
 * runs them. */
#include "ringtrain/check.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "asha.h"
#include "pbt.h"
#include "check_spec.h"
#include "fused_gemm.h"
#include "groups.h"
#include "model.h"
#include "route.h"
#include "view.h"
#if RINGTRAIN_WITH_CUDA
#include "rt_cuda.h"
#endif

rt_normalize rt_model_normalize(const rt_config *cfg, size_t j) {
  const rt_normalize own = cfg->models[j].normalize;
  return own == RT_NORMALIZE_AUTO ? cfg->data.normalize : own;
}

void rt_check_spec_base(const rt_config *cfg, size_t j, const rt_check_facts *data,
                        rt_model_spec *sp) {
  rt_check_spec_of(cfg, j, &cfg->models[j], data, sp);
}

void rt_check_spec_of(const rt_config *cfg, size_t j, const rt_model_config *model,
                      const rt_check_facts *data, rt_model_spec *sp) {
  memset(sp, 0, sizeof *sp);
  sp->id = j;
  sp->hp = *model;
  rt_model_config_resolve(&sp->hp, cfg->run.seed, j); /* also for configs made in code */
  if (sp->hp.normalize == RT_NORMALIZE_AUTO) sp->hp.normalize = cfg->data.normalize;
  sp->problem.data_features = data->features;
  sp->problem.features = rt_view_width(&sp->hp, data->features);
  /* Only a classifier has classes: a regression or a clustering model records 0 whatever else the
   * run trains, so that its model file is the same alone as in a sweep with classifiers. */
  sp->problem.classes = rt_model_config_task(&sp->hp) == RT_TASK_CLASSIFICATION ? data->classes : 0;
  sp->problem.train_rows = data->train_rows;
  sp->seed = cfg->run.seed;
  sp->passes = (uint64_t)cfg->run.passes;
  /* The route (src/engine/route.h); shards not known yet (data.shards auto): as one rank. */
  sp->shards = data->shards ? data->shards : 1;
  sp->shards_used =
      cfg->run.shards_in_use > 0 ? (uint64_t)cfg->run.shards_in_use : (uint64_t)sp->shards;
  sp->succession = cfg->run.succession;
  /* asha ranks by validation metrics at its rungs: they are measured every pass. */
  sp->eval_every_pass = cfg->run.eval_every_pass ||
                        (rt_sweep_decides(cfg) && strcmp(cfg->sweep.metric, "train_loss") != 0);
  /* The exact least-squares solver needs the data once: its statistics are sums. */
  if (strcmp(sp->hp.kind, "linear") == 0 && sp->hp.solver == RT_SOLVER_EXACT) sp->passes = 1;
}

rt_code rt_check_spec(const rt_config *cfg, const rt_model_spec *spec, const rt_check_facts *data,
                      int cuda, rt_status *st) {
  const rt_family *fam = rt_family_find(spec->hp.kind);
  char where[RT_PATH_MAX + 64];
  snprintf(where, sizeof where, "%s:%d:%d: models.%" PRIu64 " ", cfg->path, spec->hp.line,
           spec->hp.column, spec->id);
  rt_code rc = data->features ? rt_view_check(&spec->hp, data->features, where, st) : RT_OK;
  if (rc == RT_OK)
    rc = fam ? fam->check(spec, st)
             : rt_fail(st, RT_ERR_CONFIG, "%s:%d:%d: unknown model kind '%s'", cfg->path,
                       spec->hp.line, spec->hp.column, spec->hp.kind);
#if RINGTRAIN_WITH_CUDA
  /* What only the CUDA backend limits, once the family's own rules hold. */
  if (rc == RT_OK && cuda) rc = rt_cuda_check_spec(spec, st);
#else
  (void)cuda;
#endif
  return rc;
}

uint64_t rt_check_train_rows(const rt_config *cfg, const uint64_t *shard_rows, size_t shards) {
  const size_t used = cfg->run.shards_in_use > 0 && (size_t)cfg->run.shards_in_use < shards
                          ? (size_t)cfg->run.shards_in_use
                          : shards;
  uint64_t rows = 0;
  for (size_t s = 0; s < used; ++s) rows += shard_rows[s];
  return rows;
}

const char *rt_check_blas_core(void) { return rt_gemm_blas_core(); }

int rt_check_blas_fuses(void) { return rt_gemm_fusion_established(); }

int rt_config_needs_classes(const rt_config *cfg) {
  for (size_t j = 0; j < cfg->model_count; ++j)
    if (rt_model_config_task(&cfg->models[j]) == RT_TASK_CLASSIFICATION) return 1;
  return 0;
}

/* Keeps one refusal (the first in st too); returns rc. */
static rt_code keep(rt_check_report *report, rt_code first, const rt_status *one, rt_status *st) {
  if (first == RT_OK && st) *st = *one;
  if (!report) return first == RT_OK ? one->code : first;
  if (report->count < RT_CHECK_MAX) report->refusals[report->count++] = *one;
  else ++report->dropped;
  return first == RT_OK ? one->code : first;
}

rt_code rt_check_run(const rt_config *cfg, const rt_check_facts *data, const char *backend,
                     rt_check_report *report, rt_status *st) {
  if (report) memset(report, 0, sizeof *report);
  rt_status one;
  rt_status_clear(&one);
  rt_code first = RT_OK;
  /* The config alone: the rest reads fields this vouches for. */
  if (rt_config_validate(cfg, &one) != RT_OK) return keep(report, first, &one, st);
  if (data->shards > 0 && cfg->run.shards_in_use > 0 &&
      (uint64_t)cfg->run.shards_in_use > data->shards &&
      rt_fail(&one, RT_ERR_CONFIG, "%s: run.shards_in_use is %ld but the data has %zu shards",
              cfg->path, cfg->run.shards_in_use, data->shards))
    first = keep(report, first, &one, st);
  const int cuda = backend && strcmp(backend, "cuda") == 0;
  for (size_t j = 0; j < cfg->model_count; ++j) {
    rt_model_spec spec;
    rt_check_spec_base(cfg, j, data, &spec);
    if (rt_check_spec(cfg, &spec, data, cuda, &one) != RT_OK) first = keep(report, first, &one, st);
  }
  return first;
}

rt_code rt_check_groups_form(const rt_config *cfg, const rt_check_facts *data, rt_check_groups *g,
                             rt_status *st) {
  memset(g, 0, sizeof *g);
  const size_t n = cfg->model_count;
  rt_model_spec *specs = malloc((n ? n : 1) * sizeof *specs);
  if (!specs) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the specs of %zu models", n);
  for (size_t j = 0; j < n; ++j) rt_check_spec_base(cfg, j, data, &specs[j]);
  rt_groups groups;
  rt_code rc = rt_groups_form(specs, n, cfg->run.fuse, &groups, st);
  if (rc == RT_OK) {
    g->count = groups.count;
    g->first = groups.first;
    g->members = groups.members;
    g->group_of = groups.group_of;
    g->first_shard = malloc((groups.count ? groups.count : 1) * sizeof *g->first_shard);
    if (!g->first_shard) {
      rt_check_groups_free(g);
      rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the start shards of %zu groups",
                      groups.count);
    }
  }
  /* A group's members share their route (src/engine/groups.c), so its first visit's shard. */
  for (size_t k = 0; rc == RT_OK && k < g->count; ++k) {
    const rt_model_spec *lead = &specs[g->members[g->first[k]]];
    g->first_shard[k] = rt_route_length(lead) ? rt_route_shard(lead, 0, 0) : 0;
  }
  free(specs);
  return rc;
}

void rt_check_groups_free(rt_check_groups *g) {
  rt_groups groups = {.first = g->first, .members = g->members, .group_of = g->group_of};
  rt_groups_free(&groups);
  free(g->first_shard);
  memset(g, 0, sizeof *g);
}

void rt_check_halving_plan(const rt_config *cfg, rt_check_halving *out) {
  memset(out, 0, sizeof *out);
  rt_asha plan;
  out->brackets = rt_asha_plan_of(cfg, cfg->model_count, &plan);
  out->rung_count = rt_asha_rungs(&plan, (uint64_t)cfg->run.passes, out->rungs, 64);
  out->max_work = rt_asha_max_work(&plan, cfg->model_count, (uint64_t)cfg->run.passes);
  out->places = plan.parallel;
  out->tpe_rounds = rt_tpe_rounds(&plan, cfg->model_count);
  if (plan.tpe) out->tpe_random = plan.startup < cfg->model_count ? plan.startup : cfg->model_count;
  if (cfg->sweep.method == RT_SWEEP_PBT) {
    rt_pbt pbt;
    rt_pbt_plan_of(cfg, cfg->model_count, &pbt);
    out->pbt_steps = rt_pbt_steps(&pbt, (uint64_t)cfg->run.passes);
    out->pbt_copies = pbt.q;
  }
}
