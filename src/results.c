#include "results.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtrain/atomic_file.h"
#include "numfmt.h"
#include "ringtrain/modelfile.h"

const char *rt_model_status_name(const rt_model_result *m) { return m->diverged ? "diverged" : "ok"; }

typedef rt_code (*writer_fn)(FILE *f, const rt_config *cfg, const rt_run_result *res, rt_status *st);

static rt_code write_atomically(const char *path, writer_fn fn, const rt_config *cfg,
                                const rt_run_result *res, rt_status *st) {
  rt_atomic_file *af = NULL;
  rt_code rc = rt_atomic_open(path, &af, st);
  if (rc) return rc;
  FILE *f = rt_atomic_stream(af);
  rc = fn(f, cfg, res, st);
  if (rc == RT_OK && ferror(f)) rc = rt_fail(st, RT_ERR_OUTPUT, "%s: cannot write", path);
  if (rc) {
    rt_atomic_abort(&af);
    return rc;
  }
  return rt_atomic_commit(&af, st);
}

/* Numbers for CSV/JSON: shortest round-tripping form; non-finite as empty (CSV) / null (JSON). */
static void num(FILE *f, double v, int json) {
  char buf[RT_NUMFMT_MAX];
  if (isfinite(v)) fputs(rt_format_double(v, buf), f);
  else if (json) fputs("null", f);
}

static double last_loss(const rt_model_result *m) { return m->passes ? m->train_loss[m->passes - 1] : NAN; }

static rt_code write_config(FILE *f, const rt_config *cfg, const rt_run_result *res, rt_status *st) {
  (void)res;
  return rt_config_write_yaml(cfg, f, st);
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
      if (i == mc.count && mc.count < sizeof mc.names / sizeof mc.names[0]) mc.names[mc.count++] = name;
    }
  return mc;
}

/* The model's value of a metric, NaN when its family does not report it. */
static double metric_of(const rt_model_result *m, const char *name) {
  for (size_t k = 0; k < m->metric_count; ++k)
    if (strcmp(m->metric_names[k], name) == 0) return m->metrics[k];
  return NAN;
}

static rt_code write_csv(FILE *f, const rt_config *cfg, const rt_run_result *res, rt_status *st) {
  (void)cfg, (void)st;
  const metric_columns mc = run_metrics(res);
  fputs("id,kind,status,train_loss", f);
  for (size_t i = 0; i < mc.count; ++i) fprintf(f, ",val_%s", mc.names[i]);
  fputs(",val_rows,train_seconds,hops,bytes_handed,pass_shared_with,state_sha256,model_file,optimizer,"
        "learning_rate,momentum,l2,beta1,beta2,epsilon,schedule,decay,batch_size,passes,k,solver,alpha,"
        "hidden,activation,output\n", f);
  for (size_t j = 0; j < res->model_count; ++j) {
    const rt_model_result *m = &res->models[j];
    const rt_model_config *hp = &m->hp;
    fprintf(f, "%" PRIu64 ",%s,%s,", m->id, hp->kind, rt_model_status_name(m));
    num(f, last_loss(m), 0);
    for (size_t i = 0; i < mc.count; ++i) fputc(',', f), num(f, metric_of(m, mc.names[i]), 0);
    fprintf(f, ",%" PRIu64 ",%.6f,%" PRIu64 ",%" PRIu64 ",", m->val_rows, m->train_seconds, m->hops,
            m->bytes_handed);
    if (m->pass_source != m->id) fprintf(f, "%" PRIu64, m->pass_source);
    fprintf(f, ",%s,models/%" PRIu64 ".rtm,%s,", m->state_sha256, m->id, rt_optimizer_name(hp->optimizer));
    const double hps[] = {hp->learning_rate, hp->momentum, hp->l2, hp->beta1, hp->beta2, hp->epsilon};
    for (size_t i = 0; i < sizeof hps / sizeof hps[0]; ++i) num(f, hps[i], 0), fputc(',', f);
    fprintf(f, "%s,", rt_schedule_name(hp->schedule));
    num(f, hp->decay, 0);
    fprintf(f, ",%ld,%" PRIu64 ",%ld,%s,", hp->batch_size, m->passes, hp->k, rt_solver_name(hp->solver));
    num(f, hp->alpha, 0);
    fputc(',', f);
    for (int i = 0; i < hp->hidden_count; ++i) fprintf(f, "%s%ld", i ? " " : "", hp->hidden[i]);
    fprintf(f, ",%s,%s\n", rt_activation_name(hp->activation), rt_mlp_output_name(hp->output));
  }
  return RT_OK;
}

static rt_code write_jsonl(FILE *f, const rt_config *cfg, const rt_run_result *res, rt_status *st) {
  (void)cfg, (void)st;
  for (size_t j = 0; j < res->model_count; ++j) {
    const rt_model_result *m = &res->models[j];
    const rt_model_config *hp = &m->hp;
    fprintf(f, "{\"id\":%" PRIu64 ",\"kind\":\"%s\",\"hyperparameters\":{\"optimizer\":\"%s\",\"learning_rate\":",
            m->id, hp->kind, rt_optimizer_name(hp->optimizer));
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
    fprintf(f, ",\"train_seconds\":%.6f,\"hops\":%" PRIu64 ",\"bytes_handed\":%" PRIu64
               ",\"status\":\"%s\",\"state_sha256\":\"%s\",\"model_file\":\"models/%" PRIu64 ".rtm\"}\n",
            m->train_seconds, m->hops, m->bytes_handed, rt_model_status_name(m), m->state_sha256, m->id);
  }
  return RT_OK;
}

static rt_code write_history(FILE *f, const rt_config *cfg, const rt_run_result *res, rt_status *st) {
  (void)cfg, (void)st;
  fputs("model_id,pass,train_loss\n", f);
  for (size_t j = 0; j < res->model_count; ++j)
    for (uint64_t p = 0; p < res->models[j].passes; ++p) {
      fprintf(f, "%" PRIu64 ",%" PRIu64 ",", res->models[j].id, p + 1);
      num(f, res->models[j].train_loss[p], 0);
      fputc('\n', f);
    }
  return RT_OK;
}

static rt_code join(char *out, size_t cap, const char *dir, const char *name, rt_status *st) {
  int n = snprintf(out, cap, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= cap) return rt_fail(st, RT_ERR_OUTPUT, "%s/%s: path too long", dir, name);
  return RT_OK;
}

rt_code rt_results_write(const rt_config *cfg, const rt_run_result *res, const rt_model_spec *specs,
                         const void *const *states, rt_status *st) {
  const char *dir = cfg->run.output;
  char path[RT_PATH_MAX];
  rt_code rc;
  if ((rc = join(path, sizeof path, dir, "models", st)) || (rc = rt_mkdir_p(path, st))) return rc;
  for (size_t j = 0; j < res->model_count; ++j) {
    char name[64];
    snprintf(name, sizeof name, "models/%zu.rtm", j);
    if ((rc = join(path, sizeof path, dir, name, st))) return rc;
    char *spec_text = rt_spec_to_text(&specs[j]);
    if (!spec_text) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot format the spec of model %zu", j);
    const rt_state_layout l = rt_state_layout_of(&specs[j]);
    rc = rt_model_file_write(path, spec_text, states[j], l.total_bytes, st);
    free(spec_text);
    if (rc) return rc;
  }
  static const struct {
    const char *name;
    writer_fn fn;
  } files[] = {{"config.yaml", write_config},
               {"history.csv", write_history},
               {"results.jsonl", write_jsonl},
               {"results.csv", write_csv}};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; ++i) {
    if ((rc = join(path, sizeof path, dir, files[i].name, st))) return rc;
    if ((rc = write_atomically(path, files[i].fn, cfg, res, st))) return rc;
  }
  return RT_OK;
}
