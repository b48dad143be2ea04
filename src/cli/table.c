/* nccl-tests style output: '#'-prefixed headers, aligned columns. */
#include "cli/table.h"

#include <inttypes.h>
#include <math.h>

void rt_print_run_header(FILE *out, const rt_config *cfg, int ranks) {
  fprintf(out, "# ringtrain %s: %zu model%s, %ld pass%s, %d rank%s, config %s\n", RINGTRAIN_VERSION,
          cfg->model_count, cfg->model_count == 1 ? "" : "s", cfg->run.passes,
          cfg->run.passes == 1 ? "" : "es", ranks, ranks == 1 ? "" : "s", cfg->path);
  fflush(out);
}

static void hp_columns(FILE *out, const rt_model_config *m) {
  fprintf(out, "%-9s %-5s %9.3g %6ld %9.3g %8.3g %-12s", m->kind, rt_optimizer_name(m->optimizer),
          m->learning_rate, m->batch_size, m->l2,
          m->optimizer == RT_OPT_SGD ? m->momentum : m->beta1, rt_schedule_name(m->schedule));
}

static const char hp_header[] = "kind      opt          lr  batch        l2 mom/beta1 schedule    ";

void rt_print_model_table(FILE *out, const rt_config *cfg) {
  fprintf(out, "#  id %s\n", hp_header);
  for (size_t j = 0; j < cfg->model_count; ++j) {
    fprintf(out, "%5zu ", j);
    hp_columns(out, &cfg->models[j]);
    fputc('\n', out);
  }
}

void rt_print_results_table(FILE *out, const rt_run_result *res) {
  if (res->note[0]) fprintf(out, "# note: %s\n", res->note);
  fprintf(out, "# backend %s; %zu shards over %d rank%s; %" PRIu64 " training rows, %" PRIu64
               " validation rows, %zu features, %zu classes\n",
          res->backend, res->shards, res->ranks, res->ranks == 1 ? "" : "s", res->train_rows, res->val_rows,
          res->features, res->classes);
  fprintf(out, "#  id %s train_loss val_logloss  val_acc  hops   seconds status\n", hp_header);
  size_t best = res->model_count;
  for (size_t j = 0; j < res->model_count; ++j) {
    const rt_model_result *m = &res->models[j];
    fprintf(out, "%5" PRIu64 " ", m->id);
    hp_columns(out, &m->hp);
    fprintf(out, " %10.5f %11.5f %8.4f %5" PRIu64 " %9.3f %s\n", m->train_loss[m->passes - 1],
            m->val_logloss, m->val_accuracy, m->hops, m->train_seconds, m->diverged ? "diverged" : "ok");
    if (m->has_validation && !m->diverged && isfinite(m->val_logloss) &&
        (best == res->model_count || m->val_logloss < res->models[best].val_logloss))
      best = j;
  }
  if (best < res->model_count)
    fprintf(out, "# best by val_logloss: model %zu (val_logloss %.5f, val_acc %.4f)\n", best,
            res->models[best].val_logloss, res->models[best].val_accuracy);
  fprintf(out, "# run directory: %s (results.csv, results.jsonl, history.csv, config.yaml, models/)\n",
          res->output_dir);
  fprintf(out, "# wall time %.3f s\n", res->wall_seconds);
}
