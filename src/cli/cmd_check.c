/* ringtrain check CONFIG: validates the config and the data headers, prints the model table. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend_select.h"
#include "cli/cli.h"
#include "cli/config_args.h"
#include "cli/table.h"
#include "model.h"
#include "ringtrain/data.h"

static const char check_usage[] =
    "usage: ringtrain check CONFIG [--set key=value]...\n"
    "\n"
    "Validates CONFIG and the headers of its data files, says which backend train would use on\n"
    "this machine (run.backend and what the run needs), and prints the model table; trains\n"
    "nothing. Exit code 0 when the run would start, 2 with one line naming the problem otherwise.\n";

/* Probes a data file and counts its rows; with `classes` (the training file of a run that has
 * classifiers) also scans its labels for the number of classes, as training does. */
static rt_code probe_file(const rt_config *cfg, const char *path, const char *what, rt_data_info *info,
                          uint64_t *rows, size_t *classes, rt_status *st) {
  rt_data_options opt = {.path = path, .format = cfg->data.format, .label_column = -1,
                         .header = cfg->data.header, .delimiter = cfg->data.delimiter};
  rt_code rc = rt_data_probe(&opt, info, st);
  if (rc) return rc;
  const int col = cfg->data.label_column < 0 ? (int)info->columns - 1 : cfg->data.label_column;
  opt.label_column = col;
  if ((rc = rt_data_probe(&opt, info, st))) return rc;
  if ((rc = rt_data_count_rows(&opt, info, rows, st))) return rc;
  double lo = 0.0, hi = 0.0;
  if (classes && cfg->data.classes == 0 && (rc = rt_data_label_range(&opt, info, &lo, &hi, st))) return rc;
  if (classes && (rc = rt_data_classes(path, col, lo, hi, cfg->data.classes, classes, st))) return rc;
  printf("# %-10s %s: %s, %" PRIu64 " rows, %zu columns (label column %d, %zu features", what, path,
         info->format == RT_FORMAT_NPY ? "npy" : "csv", *rows, info->columns, col, info->features);
  if (classes) printf(", %zu classes", *classes);
  printf(")\n");
  return RT_OK;
}

/* "# sweep: grid, 12 models (2 kinds); total work 12 models x 10 passes = 120 model-passes" */
static void print_sweep_line(const rt_config *cfg) {
  /* Distinct kinds (a handful: linear in the model count). */
  const char *seen[32];
  size_t kinds = 0;
  for (size_t j = 0; j < cfg->model_count; ++j) {
    size_t i = 0;
    while (i < kinds && strcmp(seen[i], cfg->models[j].kind) != 0) ++i;
    if (i == kinds && kinds < sizeof seen / sizeof seen[0]) seen[kinds++] = cfg->models[j].kind;
  }
  char method[64];
  if (cfg->sweep.expanded)
    snprintf(method, sizeof method, "already expanded");
  else if (cfg->sweep.method == RT_SWEEP_RANDOM)
    snprintf(method, sizeof method, "random (seed %" PRIu64 ")", cfg->sweep.seed);
  else
    snprintf(method, sizeof method, "%s", rt_sweep_method_name(cfg->sweep.method));
  printf("# sweep: %s, %zu model%s (%zu kind%s); total work %zu model%s x %ld pass%s = %ld "
         "model-passes",
         method, cfg->model_count, cfg->model_count == 1 ? "" : "s", kinds, kinds == 1 ? "" : "s",
         cfg->model_count, cfg->model_count == 1 ? "" : "s", cfg->run.passes,
         cfg->run.passes == 1 ? "" : "es", (long)cfg->model_count * cfg->run.passes);
  if (cfg->sweep.metric[0])
    printf("; ranked by %s (%s)", cfg->sweep.metric,
           rt_sweep_goal_name(rt_sweep_goal_resolve(cfg->sweep.goal, cfg->sweep.metric)));
  else if (cfg->sweep.goal != RT_GOAL_AUTO)
    printf("; ranked by each family's first metric (%s)", rt_sweep_goal_name(cfg->sweep.goal));
  putchar('\n');
}

int rt_cmd_check(int argc, char **argv) {
  rt_config_args args;
  int code = rt_config_args_parse("check", argc, argv, &args);
  if (code || args.help) {
    if (args.help) fputs(check_usage, stdout);
    rt_config_args_free(&args);
    return code;
  }
  rt_status st;
  rt_status_clear(&st);
  rt_config cfg;
  rt_config_defaults(&cfg);
  char *text = NULL;
  size_t len = 0;
  rt_code rc = rt_read_text_file(args.config_path, &text, &len, &st);
  if (rc == RT_OK) rc = rt_config_from_args(&args, text, len, &cfg, &st);
  free(text);
  rt_data_info train, val;
  uint64_t train_rows = 0, val_rows = 0;
  size_t classes = 0; /* stays 0 without classifiers */
  int need_classes = 0;
  for (size_t j = 0; rc == RT_OK && j < cfg.model_count; ++j)
    need_classes |= rt_model_config_task(&cfg.models[j]) == RT_TASK_CLASSIFICATION;
  if (rc == RT_OK)
    rc = probe_file(&cfg, cfg.data.train, "train", &train, &train_rows, need_classes ? &classes : NULL, &st);
  if (rc == RT_OK && cfg.data.validation[0]) {
    rc = probe_file(&cfg, cfg.data.validation, "validation", &val, &val_rows, NULL, &st);
    if (rc == RT_OK && val.features != train.features)
      rc = rt_fail(&st, RT_ERR_DATA, "%s: has %zu feature columns, the training data has %zu",
                   cfg.data.validation, val.features, train.features);
  }
  if (rc == RT_OK && cfg.data.shards > 0 && train_rows < (uint64_t)cfg.data.shards)
    rc = rt_fail(&st, RT_ERR_DATA, "%s: fewer rows (%" PRIu64 ") than shards (%ld)", cfg.data.train,
                 train_rows, cfg.data.shards);
  /* Family checks with the data's shape, as training makes them. */
  for (size_t j = 0; rc == RT_OK && j < cfg.model_count; ++j) {
    rt_model_spec spec;
    memset(&spec, 0, sizeof spec);
    spec.id = j;
    spec.hp = cfg.models[j];
    spec.problem.features = train.features;
    spec.problem.classes = classes;
    /* Before the validation split: a family's row limits apply to what will remain. */
    spec.problem.train_rows = (uint64_t)((double)train_rows * (1.0 - cfg.data.validation_fraction));
    if (spec.problem.train_rows == 0) spec.problem.train_rows = 1;
    spec.passes = (uint64_t)cfg.run.passes;
    const rt_family *fam = rt_family_find(spec.hp.kind);
    if (!fam)
      rc = rt_fail(&st, RT_ERR_CONFIG, "%s:%d:%d: unknown model kind '%s'", cfg.path, spec.hp.line,
                   spec.hp.column, spec.hp.kind);
    else
      rc = fam->check(&spec, &st);
  }
  /* The backend train would take here as one rank (features the CUDA engine lacks included). */
  rt_backend_choice backend;
  if (rc == RT_OK) rc = rt_backend_preview(&cfg, &backend, &st);
  if (rc != RT_OK) {
    code = rt_cli_report(&st);
  } else {
    if (backend.note[0]) printf("# note: %s\n", backend.note);
    if (backend.use_cuda)
      printf("# backend cuda (device %d; as train on this machine as one rank would choose)\n", backend.device);
    else
      printf("# backend cpu (as train on this machine as one rank would choose)\n");
    printf("# shards %s, passes %ld, seed %" PRIu64 ", threads per rank %ld, output %s\n",
           cfg.data.shards > 0 ? "as configured" : "= number of ranks", cfg.run.passes, cfg.run.seed,
           cfg.run.threads, cfg.run.output);
    print_sweep_line(&cfg);
    rt_print_model_table(stdout, &cfg);
    printf("# ok: %zu model%s x %ld pass%s = %ld model-passes over the training data\n",
           cfg.model_count, cfg.model_count == 1 ? "" : "s", cfg.run.passes,
           cfg.run.passes == 1 ? "" : "es", (long)cfg.model_count * cfg.run.passes);
  }
  rt_config_free(&cfg);
  rt_config_args_free(&args);
  return code;
}
