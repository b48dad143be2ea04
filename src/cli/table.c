/* The tables of check and train, nccl-tests style: '#'-prefixed headers, aligned columns. Only
 * public headers (include/ringtrain/). */
#include "cli/table.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "ringtrain/model_api.h"
#include "ringtrain/train.h"

void rt_print_run_header(FILE *out, const rt_config *cfg, int ranks) {
  fprintf(out, "# ringtrain %s: %zu model%s, %ld pass%s, %d rank%s, config %s\n", RINGTRAIN_VERSION,
          cfg->model_count, cfg->model_count == 1 ? "" : "s", cfg->run.passes,
          cfg->run.passes == 1 ? "" : "es", ranks, ranks == 1 ? "" : "s", cfg->path);
  fflush(out);
}

static void hp_columns(FILE *out, const rt_model_config *m) {
  char text[200];
  rt_model_config_summary(m, text, sizeof text);
  fprintf(out, "%-9s %-44s", m->kind, text);
}

static const char hp_header[] = "kind      hyper-parameters                            ";

/* "val_logloss,val_accuracy": the metrics the results will carry for this model's family. */
static void metric_list(const rt_model_config *m, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  const char *const *names = NULL;
  const size_t n = rt_model_config_metric_names(m, &names);
  for (size_t k = 0; k < n && used < cap; ++k) {
    int w = snprintf(buf + used, cap - used, "%sval_%s", k ? "," : "", names[k]);
    if (w < 0) break;
    used += (size_t)w;
  }
}

void rt_print_model_table(FILE *out, const rt_config *cfg) {
  /* A last column with the swept keys and their values when the sweep set any. */
  int swept = 0;
  size_t width = strlen("metrics");
  char metrics[160];
  for (size_t j = 0; j < cfg->model_count; ++j) {
    swept |= cfg->models[j].swept != 0;
    metric_list(&cfg->models[j], metrics, sizeof metrics);
    if (strlen(metrics) > width) width = strlen(metrics);
  }
  if (swept) fprintf(out, "#  id %s %-*s swept\n", hp_header, (int)width, "metrics");
  else fprintf(out, "#  id %s metrics\n", hp_header);
  for (size_t j = 0; j < cfg->model_count; ++j) {
    fprintf(out, "%5zu ", j);
    hp_columns(out, &cfg->models[j]);
    metric_list(&cfg->models[j], metrics, sizeof metrics);
    if (swept) {
      char text[1024];
      if (!rt_model_swept_text(&cfg->models[j], text, sizeof text))
        snprintf(text, sizeof text, "?");
      fprintf(out, " %-*s %s\n", (int)width, metrics, text[0] ? text : "-");
    } else {
      fprintf(out, "%s%s\n", metrics[0] ? " " : "", metrics);
    }
  }
}

/* "logloss 0.09693 accuracy 0.9750": the model's validation metrics. */
static void metrics_text(const rt_model_result *m, char *buf, size_t cap) {
  size_t used = 0;
  buf[0] = '\0';
  for (size_t k = 0; k < m->metric_count && used < cap; ++k) {
    int n = snprintf(buf + used, cap - used, "%s%s %.5g", k ? " " : "", m->metric_names[k],
                     m->metrics[k]);
    if (n < 0) break;
    used += (size_t)n;
  }
}

static void print_result_row(FILE *out, const rt_model_result *m, size_t rank) {
  char text[160];
  metrics_text(m, text, sizeof text);
  if (rank) fprintf(out, "%5zu ", rank);
  else fprintf(out, "%5s ", "-");
  fprintf(out, "%5" PRIu64 " ", m->id);
  hp_columns(out, &m->hp);
  fprintf(out, " %10.5f %5" PRIu64 " %9.3f %-13s %s\n", m->train_loss[m->passes - 1], m->hops,
          m->train_seconds, rt_model_status_name(m), m->has_validation ? text : "-");
}

/* "1.5 MB": a byte count for the summary. */
static void bytes_text(uint64_t bytes, char *buf, size_t cap) {
  if (bytes < 10000) snprintf(buf, cap, "%" PRIu64 " B", bytes);
  else if (bytes < 10000000) snprintf(buf, cap, "%.1f kB", (double)bytes / 1e3);
  else if (bytes < 10000000000ull) snprintf(buf, cap, "%.1f MB", (double)bytes / 1e6);
  else snprintf(buf, cap, "%.1f GB", (double)bytes / 1e9);
}

static double percent(double part, double whole) { return whole > 0 ? 100.0 * part / whole : 0.0; }

/* The utilisation report (also the run record of results.jsonl): per rank busy, idle and final
 * time, hand-offs and their latency; per model integrating, on the wire, waiting; the trace file. */
static void print_utilisation(FILE *out, const rt_run_result *res) {
  if (res->rank_report) {
    fprintf(out, "# utilisation over %.3f s of training; hand-off latency %s\n",
            res->train_wall_seconds,
            strcmp(res->latency_source, "trace") == 0
                ? "from the trace (send to matching receive, clocks aligned)"
                : "as the sender sees it (MPI_Isend until it sees it complete)");
    for (int r = 0; r < res->ranks; ++r) {
      const rt_rank_report *q = &res->rank_report[r];
      char sent[32], received[32];
      bytes_text(q->bytes_sent, sent, sizeof sent);
      bytes_text(q->bytes_received, received, sizeof received);
      /* The words before the idle figure are as they were (scripts/bench_ring.sh reads fields 5 and
       * 11). */
      fprintf(
          out,
          "# rank %d: busy %.3f s, idle waiting for models %.3f s, final states %.3f s (%.0f%% busy, "
          "%.0f%% idle, %.0f%% final); hand-offs sent %" PRIu64 " (%s), received %" PRIu64
          " (%s); "
          "latency mean %.3f ms, max %.3f ms\n",
          r, q->busy_seconds, q->idle_seconds, q->final_seconds,
          percent(q->busy_seconds, q->wall_seconds), percent(q->idle_seconds, q->wall_seconds),
          percent(q->final_seconds, q->wall_seconds), q->sent, sent, q->received, received,
          1e3 * q->latency_mean, 1e3 * q->latency_max);
    }
    const size_t shown = res->model_count < 10 ? res->model_count : 10;
    for (size_t r = 0; r < shown; ++r) {
      const size_t j = res->rank_order ? res->rank_order[r] : r;
      const rt_model_result *m = &res->models[j];
      fprintf(out, "# model %zu: integrating %.3f s (%.0f%%), on the wire %.3f s, waiting %.3f s\n",
              j, m->train_seconds, percent(m->train_seconds, res->train_wall_seconds),
              m->wire_seconds, m->wait_seconds);
    }
    if (res->model_count > shown)
      fprintf(out, "# ... every model's times in the last line of results.jsonl\n");
  }
  if (res->traced) {
    fprintf(out,
            "# trace: %s/trace.json, %" PRIu64 " events, %" PRIu64
            " hand-offs (Perfetto: "
            "https://ui.perfetto.dev, or chrome://tracing)\n",
            res->output_dir, res->trace_events, res->trace_handoffs);
    if (res->trace_dropped)
      fprintf(out,
              "# trace: %" PRIu64
              " events dropped (the oldest; raise run.trace_events to keep them)\n",
              res->trace_dropped);
  }
}

void rt_print_results_table(FILE *out, const rt_run_result *res) {
  if (res->note[0]) fprintf(out, "# note: %s\n", res->note);
  fprintf(out,
          "# backend %s; %zu shards over %d rank%s; %" PRIu64 " training rows, %" PRIu64
          " validation rows, %zu features",
          res->backend, res->shards, res->ranks, res->ranks == 1 ? "" : "s", res->train_rows,
          res->val_rows, res->features);
  if (res->classes) fprintf(out, ", %zu classes", res->classes);
  fputc('\n', out);
  const size_t shown = res->model_count < 10 ? res->model_count : 10;
  fprintf(out, "# %s %zu of %zu models by %s (%s)\n", res->model_count > shown ? "top" : "all",
          shown, res->model_count, res->sweep_metric,
          res->maximize ? "higher is better" : "lower is better");
  fprintf(out, "# rank    id %s train_loss  hops   seconds status        validation\n", hp_header);
  size_t ranked = 0;
  for (size_t r = 0; r < res->model_count && r < shown; ++r) {
    const size_t j = res->rank_order ? res->rank_order[r] : r;
    const rt_model_result *m = &res->models[j];
    const int has = !m->diverged && isfinite(rt_result_metric(m, res->sweep_metric));
    print_result_row(out, m, has ? ++ranked : 0);
  }
  if (res->model_count > shown)
    fprintf(out, "# ... %zu more in results.csv (ringtrain results %s --top N)\n",
            res->model_count - shown, res->output_dir);
  if (res->best < res->model_count) {
    char text[160];
    metrics_text(&res->models[res->best], text, sizeof text);
    fprintf(out, "# best by %s: model %zu (%s), also written as %s/best.rtm\n", res->sweep_metric,
            res->best, text, res->output_dir);
  } else {
    fprintf(out, "# no model has a value of %s\n", res->sweep_metric);
  }
  for (size_t j = 0; j < res->model_count; ++j)
    if (res->models[j].pass_source != res->models[j].id)
      fprintf(out,
              "# model %zu shares the statistics pass of model %" PRIu64
              " (linear, exact solver: one pass serves every alpha)\n",
              j, res->models[j].pass_source);
  fprintf(
      out,
      "# run directory: %s (results.csv, results.jsonl, history.csv, config.yaml, models/, best.rtm)\n",
      res->output_dir);
  fprintf(out, "# wall time %.3f s\n", res->wall_seconds);
  print_utilisation(out, res);
}
