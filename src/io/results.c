/* The run directory's files (results.h): model files, best.rtm, config.yaml, history.csv,
 * results.jsonl and results.csv, written as one batch of atomic files. */
#include "results.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "ringtrain/atomic_file.h"
#include "numfmt.h"
#include "ringtrain/modelfile.h"

const char *rt_model_status_name(const rt_model_result *m) {
  return m->diverged ? "diverged" : m->stopped_early ? "stopped_early" : "ok";
}

/* What the table writers need: the run, and each model's 1-based rank by the sweep metric (0:
 * no value), computed once. */
typedef struct writing {
  const rt_config *cfg;
  const rt_run_result *res;
  const size_t *rank; /* [model_count] */
} writing;

typedef rt_code (*writer_fn)(FILE *f, const writing *w, rt_status *st);

/* batch NULL: committed with its own directory fsync. */
static rt_code write_atomically(rt_atomic_batch *batch, const char *path, writer_fn fn,
                                const writing *w, rt_status *st) {
  rt_atomic_file *af = NULL;
  rt_code rc;
  RT_TRY(rc, rt_atomic_open(path, &af, st));
  FILE *f = rt_atomic_stream(af);
  rc = fn(f, w, st);
  if (rc == RT_OK && ferror(f)) rc = rt_fail(st, RT_ERR_OUTPUT, "%s: cannot write", path);
  if (rc) {
    rt_atomic_abort(&af);
    return rc;
  }
  return rt_atomic_commit_in(batch, &af, st);
}

/* Numbers for CSV/JSON: shortest round-tripping form; non-finite as empty (CSV) / null (JSON). */
static void num(FILE *f, double v, int json) {
  char buf[RT_NUMFMT_MAX];
  if (isfinite(v)) fputs(rt_format_double(v, buf), f);
  else if (json) fputs("null", f);
}

static double last_loss(const rt_model_result *m) {
  return m->passes ? m->train_loss[m->passes - 1] : NAN;
}

static rt_code write_config(FILE *f, const writing *w, rt_status *st) {
  return rt_config_write_yaml(w->cfg, f, st);
}

/* The metric columns of a run: every metric some model reports, in first-seen order. */
typedef struct metric_columns {
  size_t count;
  const char *names[16];
} metric_columns;

static metric_columns run_metrics(const rt_run_result *res) {
  metric_columns mc = {0};
  for (size_t j = 0; j < res->model_count; ++j)
    for (size_t k = 0; k < res->models[j].metric_count; ++k) {
      const char *name = res->models[j].metric_names[k];
      size_t i = 0;
      while (i < mc.count && strcmp(mc.names[i], name) != 0) ++i;
      if (i == mc.count && mc.count < sizeof mc.names / sizeof mc.names[0])
        mc.names[mc.count++] = name;
    }
  return mc;
}

double rt_result_metric(const rt_model_result *m, const char *name) {
  if (strcmp(name, "train_loss") == 0) return last_loss(m);
  if (strncmp(name, "val_", 4) == 0) name += 4;
  for (size_t k = 0; k < m->metric_count; ++k)
    if (strcmp(m->metric_names[k], name) == 0) return m->metrics[k];
  return NAN;
}

static const rt_run_result *rank_res; /* qsort has no context argument */

static int rank_compare(const void *a, const void *b) {
  const size_t i = *(const size_t *)a, j = *(const size_t *)b;
  const double x = rt_result_metric(&rank_res->models[i], rank_res->sweep_metric);
  const double y = rt_result_metric(&rank_res->models[j], rank_res->sweep_metric);
  const int xn = !isfinite(x) || rank_res->models[i].diverged,
            yn = !isfinite(y) || rank_res->models[j].diverged;
  if (xn != yn) return xn - yn; /* models without a value last */
  const uint64_t pi = rank_res->models[i].passes, pj = rank_res->models[j].passes;
  if (rank_res->rank_by_passes && pi != pj) return pi > pj ? -1 : 1;
  if (!xn && x != y) return (rank_res->maximize ? x > y : x < y) ? -1 : 1;
  return i < j ? -1 : i > j; /* ties: lower id first */
}

void rt_sweep_metric_of(const rt_config *cfg, const char *first_metric, char *out, size_t cap) {
  if (cfg->sweep.metric[0]) snprintf(out, cap, "%s", cfg->sweep.metric);
  else if (first_metric) snprintf(out, cap, "val_%s", first_metric);
  else snprintf(out, cap, "train_loss");
}

rt_code rt_results_rank(const rt_config *cfg, rt_run_result *res, rt_status *st) {
  free(res->rank_order);
  res->rank_order = malloc((res->model_count ? res->model_count : 1) * sizeof *res->rank_order);
  if (!res->rank_order) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the ranking");
  rt_sweep_metric_of(
      cfg, res->model_count && res->models[0].metric_count ? res->models[0].metric_names[0] : NULL,
      res->sweep_metric, sizeof res->sweep_metric);
  res->maximize = rt_sweep_goal_resolve(cfg->sweep.goal, res->sweep_metric) == RT_GOAL_MAXIMIZE;
  res->rank_by_passes = rt_sweep_halves(cfg);
  for (size_t j = 0; j < res->model_count; ++j) res->rank_order[j] = j;
  rank_res = res;
  qsort(res->rank_order, res->model_count, sizeof *res->rank_order, rank_compare);
  rank_res = NULL;
  res->best = res->model_count;
  if (res->model_count) {
    const rt_model_result *top = &res->models[res->rank_order[0]];
    const double v = rt_result_metric(top, res->sweep_metric);
    if (isfinite(v) && !top->diverged) res->best = res->rank_order[0];
  }
  return RT_OK;
}

static double metric_of(const rt_model_result *m, const char *name) {
  return rt_result_metric(m, name);
}

/* Bit mask of the model keys some model of the run got from the sweep. */
static uint64_t swept_keys(const rt_run_result *res) {
  uint64_t mask = 0;
  for (size_t j = 0; j < res->model_count; ++j) mask |= res->models[j].hp.swept;
  return mask;
}

/* rank[j]: 1-based rank of model j by the sweep metric, 0 when it has no value (or the run is
 * not ranked). */
static void rank_models(const rt_run_result *res, size_t *rank) {
  for (size_t j = 0; j < res->model_count; ++j) rank[j] = 0;
  for (size_t r = 0; res->rank_order && r < res->model_count; ++r) {
    const size_t j = res->rank_order[r];
    const double v = rt_result_metric(&res->models[j], res->sweep_metric);
    rank[j] = isfinite(v) && !res->models[j].diverged ? r + 1 : 0;
  }
}

/* One hyper-parameter column of a model's row (with its leading comma): a model key in the
 * plain form of model files (lists space-separated), or the run key passes from the result. */
static void hp_field(FILE *f, const rt_config_key *key, const rt_model_result *m) {
  fputc(',', f);
  if (key->section != RT_SECTION_MODEL) {
    fprintf(f, "%" PRIu64, m->passes); /* the only run key among the columns (unit-tested) */
    return;
  }
  if (key->type == RT_KEY_NUMBER) {
    num(f, *(const double *)((const char *)&m->hp + key->offset), 0);
    return;
  }
  char text[512];
  if (rt_config_key_plain(key, &m->hp, ' ', text, sizeof text)) fputs(text, f);
}

static rt_code write_csv(FILE *f, const writing *w, rt_status *st) {
  (void)st;
  const rt_run_result *res = w->res;
  const metric_columns mc = run_metrics(res);
  const uint64_t swept = swept_keys(res);
  fputs("id,kind,status,rank,sweep_metric,train_loss", f);
  for (size_t i = 0; i < mc.count; ++i) fprintf(f, ",val_%s", mc.names[i]);
  fputs(",val_rows,train_seconds,hops,bytes_handed,pass_shared_with,state_sha256,model_file", f);
  for (size_t c = 1; rt_config_key_column(c); ++c) fprintf(f, ",%s", rt_config_key_column(c)->name);
  fputs(",group", f);
  for (size_t k = 0; k < 64; ++k)
    if (swept >> k & 1) fprintf(f, ",param_%s", rt_model_key_name(k));
  fputc('\n', f);
  for (size_t j = 0; j < res->model_count; ++j) {
    const rt_model_result *m = &res->models[j];
    const rt_model_config *hp = &m->hp;
    fprintf(f, "%" PRIu64 ",%s,%s,", m->id, hp->kind, rt_model_status_name(m));
    const size_t rank = w->rank[j];
    if (rank) fprintf(f, "%zu", rank);
    fputc(',', f);
    num(f, rt_result_metric(m, res->sweep_metric), 0);
    fputc(',', f);
    num(f, last_loss(m), 0);
    for (size_t i = 0; i < mc.count; ++i) fputc(',', f), num(f, metric_of(m, mc.names[i]), 0);
    fprintf(f, ",%" PRIu64 ",%.6f,%" PRIu64 ",%" PRIu64 ",", m->val_rows, m->train_seconds, m->hops,
            m->bytes_handed);
    if (m->pass_source != m->id) fprintf(f, "%" PRIu64, m->pass_source);
    fprintf(f, ",%s,models/%" PRIu64 ".rtm", m->state_sha256, m->id);
    for (size_t c = 1; rt_config_key_column(c); ++c) hp_field(f, rt_config_key_column(c), m);
    fprintf(f, ",%" PRIu64, m->group);
    for (size_t k = 0; k < 64; ++k) {
      if (!(swept >> k & 1)) continue;
      char text[256] = "";
      if (hp->swept >> k & 1) rt_model_key_text(hp, k, text, sizeof text);
      for (char *c = text; *c; ++c)
        if (*c == ',') *c = ' '; /* list values ([64, 32]) stay one field */
      fprintf(f, ",%s", text);
    }
    fputc('\n', f);
  }
  return RT_OK;
}

/* The last line of results.jsonl: {"run": {...}}, the run as a whole and its utilisation report
 * (README, Outputs). Every other line is a model. */
static void write_run_record(FILE *f, const rt_config *cfg, const rt_run_result *res) {
  uint64_t hops = 0, bytes = 0;
  for (size_t j = 0; j < res->model_count; ++j) {
    hops += res->models[j].hops;
    bytes += res->models[j].bytes_handed;
  }
  fprintf(
      f,
      "{\"run\":{\"backend\":\"%s\",\"ranks\":%d,\"shards\":%zu,\"models\":%zu,\"wall_seconds\":",
      res->backend, res->ranks, res->shards, res->model_count);
  num(f, res->wall_seconds, 1);
  fputs(",\"train_wall_seconds\":", f);
  num(f, res->train_wall_seconds, 1);
  fprintf(f, ",\"handoffs\":%" PRIu64 ",\"bytes_handed\":%" PRIu64 ",\"latency_source\":", hops,
          bytes);
  if (res->latency_source[0]) fprintf(f, "\"%s\"", res->latency_source);
  else fputs("null", f);
  fputs(",\"trace\":", f);
  if (res->traced)
    fprintf(f,
            "{\"file\":\"trace.json\",\"events_per_rank_cap\":%ld,\"events_dropped\":%" PRIu64 "}",
            cfg->run.trace_events, res->trace_dropped);
  else fputs("null", f);
  fputs(",\"per_rank\":", f);
  if (!res->rank_report) fputs("null", f);
  for (int r = 0; res->rank_report && r < res->ranks; ++r) {
    const rt_rank_report *q = &res->rank_report[r];
    const double wall = q->wall_seconds > 0 ? q->wall_seconds : NAN;
    fprintf(f, "%s{\"rank\":%d,\"wall_seconds\":", r ? "," : "[", r);
    num(f, q->wall_seconds, 1);
    fputs(",\"busy_seconds\":", f), num(f, q->busy_seconds, 1);
    fputs(",\"busy_percent\":", f), num(f, 100.0 * q->busy_seconds / wall, 1);
    fputs(",\"idle_seconds\":", f), num(f, q->idle_seconds, 1);
    fputs(",\"idle_percent\":", f), num(f, 100.0 * q->idle_seconds / wall, 1);
    fputs(",\"final_seconds\":", f), num(f, q->final_seconds, 1);
    fputs(",\"final_percent\":", f), num(f, 100.0 * q->final_seconds / wall, 1);
    fprintf(f,
            ",\"handoffs_sent\":%" PRIu64 ",\"handoffs_received\":%" PRIu64
            ",\"bytes_sent\":%" PRIu64 ",\"bytes_received\":%" PRIu64 ",\"latency_mean_seconds\":",
            q->sent, q->received, q->bytes_sent, q->bytes_received);
    num(f, q->latency_mean, 1);
    fputs(",\"latency_max_seconds\":", f), num(f, q->latency_max, 1);
    fputs(r + 1 == res->ranks ? "}]" : "}", f);
  }
  fputs(",\"per_model\":[", f);
  for (size_t j = 0; j < res->model_count; ++j) {
    const rt_model_result *m = &res->models[j];
    fprintf(f, "%s{\"id\":%" PRIu64 ",\"hops\":%" PRIu64 ",\"integrating_seconds\":", j ? "," : "",
            m->id, m->hops);
    num(f, m->train_seconds, 1);
    fputs(",\"on_wire_seconds\":", f), num(f, m->wire_seconds, 1);
    fputs(",\"waiting_seconds\":", f), num(f, m->wait_seconds, 1);
    fputc('}', f);
  }
  fputs("]}}\n", f);
}

static rt_code write_jsonl(FILE *f, const writing *w, rt_status *st) {
  (void)st;
  const rt_run_result *res = w->res;
  for (size_t j = 0; j < res->model_count; ++j) {
    const rt_model_result *m = &res->models[j];
    const rt_model_config *hp = &m->hp;
    const size_t rank = w->rank[j];
    fprintf(f, "{\"id\":%" PRIu64 ",\"kind\":\"%s\",\"group\":%" PRIu64 ",\"rank\":", m->id,
            hp->kind, m->group);
    if (rank) fprintf(f, "%zu", rank);
    else fputs("null", f);
    fprintf(f, ",\"sweep_metric\":{\"name\":\"%s\",\"value\":", res->sweep_metric);
    num(f, rt_result_metric(m, res->sweep_metric), 1);
    fputs("},\"swept\":{", f);
    for (size_t k = 0, first = 1; k < 64; ++k) {
      if (!(hp->swept >> k & 1)) continue;
      char text[256] = "";
      rt_model_key_text(hp, k, text, sizeof text);
      fprintf(f, "%s\"%s\":\"%s\"", first ? "" : ",", rt_model_key_name(k), text);
      first = 0;
    }
    fprintf(f, "},\"hyperparameters\":{\"optimizer\":\"%s\",\"learning_rate\":",
            rt_optimizer_name(hp->optimizer));
    num(f, hp->learning_rate, 1);
    fputs(",\"momentum\":", f), num(f, hp->momentum, 1);
    fputs(",\"l2\":", f), num(f, hp->l2, 1);
    fputs(",\"beta1\":", f), num(f, hp->beta1, 1);
    fputs(",\"beta2\":", f), num(f, hp->beta2, 1);
    fputs(",\"epsilon\":", f), num(f, hp->epsilon, 1);
    fprintf(f, ",\"schedule\":\"%s\",\"decay\":", rt_schedule_name(hp->schedule));
    num(f, hp->decay, 1);
    fprintf(f, ",\"batch_size\":%ld,\"passes\":%" PRIu64 ",\"k\":%ld,\"solver\":\"%s\",\"alpha\":",
            hp->batch_size, m->passes, hp->k, rt_solver_name(hp->solver));
    num(f, hp->alpha, 1);
    fputs(",\"hidden\":[", f);
    for (int i = 0; i < hp->hidden_count; ++i) fprintf(f, "%s%ld", i ? "," : "", hp->hidden[i]);
    fprintf(f, "],\"activation\":\"%s\",\"output\":\"%s\"},\"metrics\":{\"train_loss\":",
            rt_activation_name(hp->activation), rt_mlp_output_name(hp->output));
    num(f, last_loss(m), 1);
    for (size_t k = 0; k < m->metric_count; ++k) {
      fprintf(f, ",\"val_%s\":", m->metric_names[k]);
      num(f, m->metrics[k], 1);
    }
    fprintf(f, ",\"val_rows\":%" PRIu64 "},\"train_loss_per_pass\":[", m->val_rows);
    for (uint64_t p = 0; p < m->passes; ++p) {
      if (p) fputc(',', f);
      num(f, m->train_loss[p], 1);
    }
    fprintf(f, "],\"pass_shared_with\":");
    if (m->pass_source != m->id) fprintf(f, "%" PRIu64, m->pass_source);
    else fputs("null", f);
    fprintf(f,
            ",\"train_seconds\":%.6f,\"hops\":%" PRIu64 ",\"bytes_handed\":%" PRIu64
            ",\"status\":\"%s\",\"state_sha256\":\"%s\",\"model_file\":\"models/%" PRIu64
            ".rtm\"}\n",
            m->train_seconds, m->hops, m->bytes_handed, rt_model_status_name(m), m->state_sha256,
            m->id);
  }
  write_run_record(f, w->cfg, res);
  return RT_OK;
}

static rt_code write_history(FILE *f, const writing *w, rt_status *st) {
  (void)st;
  const rt_run_result *res = w->res;
  /* Validation columns when run.eval_every_pass kept per-pass metrics. */
  int with_val = 0;
  for (size_t j = 0; j < res->model_count; ++j) with_val |= res->models[j].val_history != NULL;
  const metric_columns mc = with_val ? run_metrics(res) : (metric_columns){0};
  fputs("model_id,pass,train_loss", f);
  for (size_t i = 0; i < mc.count; ++i) fprintf(f, ",val_%s", mc.names[i]);
  fputc('\n', f);
  for (size_t j = 0; j < res->model_count; ++j) {
    const rt_model_result *m = &res->models[j];
    for (uint64_t p = 0; p < m->passes; ++p) {
      fprintf(f, "%" PRIu64 ",%" PRIu64 ",", m->id, p + 1);
      num(f, m->train_loss[p], 0);
      for (size_t i = 0; i < mc.count; ++i) {
        fputc(',', f);
        for (size_t k = 0; m->val_history && k < m->metric_count; ++k)
          if (strcmp(m->metric_names[k], mc.names[i]) == 0)
            num(f, m->val_history[p * RT_RESULT_METRICS + k], 0);
      }
      fputc('\n', f);
    }
  }
  return RT_OK;
}

/* pbt: lineage.csv, as train replayed it. */
static rt_code write_lineage(FILE *f, const writing *w, rt_status *st) {
  (void)st;
  fputs(w->res->lineage, f);
  return RT_OK;
}

/* Model files, best.rtm, config.yaml, history.csv, results.jsonl (and pbt's lineage.csv) form
 * one batch: each is fsync'ed and renamed at once, and models/ and the run directory are fsync'ed
 * once each after the last of them. results.csv goes last, committed on its own, so that its
 * presence means the rest is complete and durable. */
static rt_code write_files(const rt_config *cfg, const writing *w, const rt_model_spec *specs,
                           const void *const *states, rt_atomic_batch *batch, rt_status *st) {
  const rt_run_result *res = w->res;
  const char *dir = cfg->run.output;
  char path[RT_PATH_MAX];
  rt_code rc;
  if ((rc = rt_path_join(path, sizeof path, dir, "models", st)) || (rc = rt_mkdir_p(path, st)))
    return rc;
  for (size_t j = 0; j < res->model_count; ++j) {
    char name[64];
    snprintf(name, sizeof name, "models/%zu.rtm", j);
    RT_TRY(rc, rt_path_join(path, sizeof path, dir, name, st));
    char *spec_text = rt_spec_to_text(&specs[j]);
    if (!spec_text) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot format the spec of model %zu", j);
    const rt_state_layout l = rt_state_layout_of(&specs[j]);
    rc = rt_model_file_write_in(batch, path, spec_text, states[j], l.total_bytes, st);
    free(spec_text);
    if (rc) return rc;
  }
  if (res->best < res->model_count) { /* the best model by the sweep metric, again as best.rtm */
    const size_t b = res->best;
    RT_TRY(rc, rt_path_join(path, sizeof path, dir, "best.rtm", st));
    char *spec_text = rt_spec_to_text(&specs[b]);
    if (!spec_text) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot format the spec of model %zu", b);
    rc = rt_model_file_write_in(batch, path, spec_text, states[b],
                                rt_state_layout_of(&specs[b]).total_bytes, st);
    free(spec_text);
    if (rc) return rc;
  }
  static const struct {
    const char *name;
    writer_fn fn;
  } files[] = {{"config.yaml", write_config},
               {"history.csv", write_history},
               {"results.jsonl", write_jsonl}};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; ++i) {
    RT_TRY(rc, rt_path_join(path, sizeof path, dir, files[i].name, st));
    RT_TRY(rc, write_atomically(batch, path, files[i].fn, w, st));
  }
  if (res->lineage) {
    RT_TRY(rc, rt_path_join(path, sizeof path, dir, "lineage.csv", st));
    RT_TRY(rc, write_atomically(batch, path, write_lineage, w, st));
  }
  return RT_OK;
}

rt_code rt_results_write(const rt_config *cfg, const rt_run_result *res, const rt_model_spec *specs,
                         const void *const *states, rt_status *st) {
  size_t *rank = malloc((res->model_count ? res->model_count : 1) * sizeof *rank);
  if (!rank)
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the ranks of %zu models",
                      res->model_count);
  rank_models(res, rank);
  const writing w = {.cfg = cfg, .res = res, .rank = rank};
  rt_atomic_batch *batch = NULL;
  rt_code rc = rt_atomic_batch_begin(&batch, st);
  if (rc == RT_OK) rc = write_files(cfg, &w, specs, states, batch, st);
  if (rc == RT_OK) rc = rt_atomic_batch_finish(&batch, st);
  rt_atomic_batch_free(&batch); /* after an error: what was renamed stays, unsynced */
  char path[RT_PATH_MAX];
  if (rc == RT_OK) rc = rt_path_join(path, sizeof path, cfg->run.output, "results.csv", st);
  if (rc == RT_OK) rc = write_atomically(NULL, path, write_csv, &w, st);
  free(rank);
  return rc;
}
