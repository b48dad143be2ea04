/* ringtrain check CONFIG: validates the config and the data headers, prints the model table. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/config_args.h"
#include "cli/table.h"
#include "ringtrain/check.h"

static const char check_usage[] =
    "usage: ringtrain check CONFIG [--set key=value]...\n"
    "\n"
    "Validates CONFIG and the headers of its data files, says which backend train would use on\n"
    "this machine (run.backend and what the run needs), and prints the model table; trains\n"
    "nothing. Exit code 0 when the run would start, 2 with one line naming the problem otherwise.\n";

/* "# residency auto (memory_budget ... per rank): N training shards in memory (X MB of rows),
 * M streamed (Y MB, read batch by batch from ...) because ..." */
static void print_residency(const rt_config *cfg, const rt_check_facts *f,
                            const rt_check_file *train) {
  static const char *names[] = {"auto", "memory", "stream"};
  const size_t shards = cfg->data.shards > 0 ? (size_t)cfg->data.shards : 1;
  printf("# residency %s", names[cfg->data.residency]);
  if (cfg->data.residency == RT_RESIDENCY_AUTO)
    printf(" (memory_budget %.1f MB per rank%s)", (double)f->budget / 1e6,
           cfg->data.memory_budget > 0 ? "" : ": half this host's memory, as one rank");
  printf(
      ": %zu training shard%s in memory (%.1f MB of %s)", shards - f->streamed,
      shards - f->streamed == 1 ? "" : "s", (double)f->held_bytes / 1e6,
      train->info.format == RT_FORMAT_LIBSVM ? "sparse rows, as LIBSVM rows always are" : "rows");
  if (f->streamed)
    printf(", %zu streamed (%.1f MB, read batch by batch from %s)", f->streamed,
           (double)f->streamed_bytes / 1e6,
           train->info.format == RT_FORMAT_NPY
               ? "the .npy file"
               : "their CSV cache entries in FILE.rtcache/, written when first parsed");
  if (cfg->data.residency == RT_RESIDENCY_STREAM) printf(" because data.residency is stream");
  else if (f->streamed) printf(" because the rest would pass the budget");
  printf("%s\n", cfg->data.shards > 0 ? "" : " (data.shards auto: as one rank)");
}

/* "# train      PATH: csv, 1797 rows, 65 columns (label column 64, 64 features, 10 classes)" */
static void print_file(const char *what, const rt_check_file *f, const size_t *classes) {
  printf("# %-10s %s: %s, %" PRIu64 " rows, %zu columns (label column %d, %zu features", what,
         f->path,
         f->info.format == RT_FORMAT_NPY      ? "npy"
         : f->info.format == RT_FORMAT_LIBSVM ? "libsvm"
                                              : "csv",
         f->rows, f->info.columns, f->label_column, f->info.features);
  if (classes) printf(", %zu classes", *classes);
  printf(")\n");
}

/* Every refusal, one line each: the first as the error (what train says), the rest after it. */
static int report_refusals(const rt_check_report *report, const rt_status *first) {
  const int code = rt_cli_report(first);
  for (size_t i = 1; i < report->count; ++i)
    fprintf(stderr, "ringtrain: also: %s\n", report->refusals[i].message);
  if (report->dropped)
    fprintf(stderr, "ringtrain: also: %zu more refusal%s\n", report->dropped,
            report->dropped == 1 ? "" : "s");
  return code;
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
  if (cfg->sweep.expanded) snprintf(method, sizeof method, "already expanded");
  else if (cfg->sweep.method == RT_SWEEP_RANDOM)
    snprintf(method, sizeof method, "random (seed %" PRIu64 ")", cfg->sweep.seed);
  else snprintf(method, sizeof method, "%s", rt_sweep_method_name(cfg->sweep.method));
  printf(
      "# sweep: %s, %zu model%s (%zu kind%s); total work %zu model%s x %ld pass%s = %ld "
      "model-passes",
      method, cfg->model_count, cfg->model_count == 1 ? "" : "s", kinds, kinds == 1 ? "" : "s",
      cfg->model_count, cfg->model_count == 1 ? "" : "s", cfg->run.passes,
      cfg->run.passes == 1 ? "" : "es", (long)cfg->model_count * cfg->run.passes);
  if (rt_sweep_decides(cfg)) { /* the plan: suggestions, rungs, places, the most work */
    rt_check_halving h;
    rt_check_halving_plan(cfg, &h);
    printf("\n# %s: ", rt_sweep_method_name(cfg->sweep.method));
    if (cfg->sweep.method == RT_SWEEP_TPE && !cfg->sweep.expanded)
      printf(
          "the first %zu model%s drawn at random, then %zu round%s of up to %zu suggested from "
          "the results so far (gamma %g, %ld candidates); ",
          h.tpe_random, h.tpe_random == 1 ? "" : "s", h.tpe_rounds, h.tpe_rounds == 1 ? "" : "s",
          h.places, cfg->sweep.tpe_gamma, cfg->sweep.tpe_candidates);
    if (cfg->sweep.method == RT_SWEEP_PBT) {
      printf("every model trains all %ld passes together; after pass", cfg->run.passes);
      for (uint64_t g = 1; g <= h.pbt_steps; ++g)
        printf("%s %" PRIu64, g > 1 ? "," : (h.pbt_steps > 1 ? "es" : ""),
               g * (uint64_t)cfg->sweep.pbt_interval);
      printf(
          " the bottom %zu copy the state of one of the top %zu and multiply each swept number "
          "by %g or %g; ",
          h.pbt_copies, h.pbt_copies, 1.0 - cfg->sweep.pbt_perturb, 1.0 + cfg->sweep.pbt_perturb);
    } else if (rt_sweep_halves(cfg)) {
      for (size_t b = 0; b < h.brackets; ++b) {
        if (h.brackets > 1)
          printf("%sbracket %zu (ids %zu mod %zu) ", b ? "; " : "", b, b, h.brackets);
        printf(b >= h.rung_count ? "no rungs" : "rungs at pass");
        for (size_t i = b; i < h.rung_count; ++i)
          printf("%s %" PRIu64, i > b ? "," : (h.rung_count - b > 1 ? "es" : ""), h.rungs[i]);
      }
      printf(" (then %ld); the top 1/%ld of a rung goes on; ", cfg->run.passes,
             cfg->sweep.asha_eta);
    } else {
      printf("every model trains all %ld passes; ", cfg->run.passes);
    }
    if (cfg->sweep.method == RT_SWEEP_PBT) printf("%zu models", cfg->model_count);
    else if (h.places < cfg->model_count) printf("%zu models at once", h.places);
    else printf("every model starts at once");
    printf("; at most %" PRIu64 " model-passes", h.max_work);
  }
  if (cfg->sweep.metric[0])
    printf("; ranked by %s (%s)", cfg->sweep.metric,
           rt_sweep_goal_name(rt_sweep_goal_resolve(cfg->sweep.goal, cfg->sweep.metric)));
  else if (cfg->sweep.goal != RT_GOAL_AUTO)
    printf("; ranked by each family's first metric (%s)", rt_sweep_goal_name(cfg->sweep.goal));
  putchar('\n');
}

/* Ids as ranges: "0-3,6,8-9". */
static void print_ids(const size_t *ids, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t k = i;
    while (k + 1 < n && ids[k + 1] == ids[k] + 1) ++k;
    printf("%s%zu", i ? "," : "", ids[i]);
    if (k > i) printf("-%zu", ids[k]);
    i = k + 1;
  }
}

/* One line per group: index, members, kind, batch size, size (what train forms, run.fuse) and
 * the shard of its first visit (start_shard auto deals cost classes over the shards). */
static rt_code print_groups(const rt_config *cfg, const rt_check_facts *facts, rt_status *st) {
  rt_check_groups g;
  rt_code rc;
  RT_TRY(rc, rt_check_groups_form(cfg, facts, &g, st));
  printf("# groups (run.fuse %s): %zu group%s%s\n", cfg->run.fuse ? "auto" : "off", g.count,
         g.count == 1 ? "" : "s", facts->shards ? "" : ", as one rank (data.shards auto)");
  printf("# blas: OpenBLAS core %s, products %sfused (CPU backend)\n", rt_check_blas_core(),
         rt_check_blas_fuses() ? "" : "not ");
  for (size_t k = 0; k < g.count; ++k) {
    const size_t *members = g.members + g.first[k], size = g.first[k + 1] - g.first[k];
    const rt_model_config *m = &cfg->models[members[0]];
    printf("# group %zu: models ", k);
    print_ids(members, size);
    printf(" %s batch=%ld size=%zu first_shard=%" PRIu64 "\n", m->kind, m->batch_size, size,
           g.first_shard[k]);
  }
  rt_check_groups_free(&g);
  return RT_OK;
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
  /* As train: the backend first, then the data, then every check of the run on both. */
  rt_check_backend backend;
  if (rc == RT_OK) rc = rt_check_backend_preview(&cfg, &backend, &st);
  rt_check_file train, val;
  rt_check_facts facts;
  if (rc == RT_OK) rc = rt_check_probe(&cfg, &train, &val, &facts, &st);
  if (rc == RT_OK) {
    print_file("train", &train, rt_config_needs_classes(&cfg) ? &facts.classes : NULL);
    if (val.path[0]) print_file("validation", &val, NULL);
  }
  rt_check_report report;
  report.count = 0;
  if (rc == RT_OK) rc = rt_check_run(&cfg, &facts, backend.backend, &report, &st);
  if (rc != RT_OK && report.count > 0) {
    code = report_refusals(&report, &st);
  } else if (rc != RT_OK) {
    code = rt_cli_report(&st);
  } else {
    if (backend.note[0]) printf("# note: %s\n", backend.note);
    if (strcmp(backend.backend, "cuda") == 0)
      printf("# backend cuda (device %d; as train on this machine as one rank would choose)\n",
             backend.device);
    else printf("# backend cpu (as train on this machine as one rank would choose)\n");
    printf("# shards %s, passes %ld, seed %" PRIu64 ", threads per rank %ld, output %s\n",
           cfg.data.shards > 0 ? "as configured" : "= number of ranks", cfg.run.passes,
           cfg.run.seed, cfg.run.threads, cfg.run.output);
    print_residency(&cfg, &facts, &train);
    print_sweep_line(&cfg);
    rt_print_model_table(stdout, &cfg);
    if (print_groups(&cfg, &facts, &st) != RT_OK) code = rt_cli_report(&st);
    printf("# ok: %zu model%s x %ld pass%s = %ld model-passes over the training data\n",
           cfg.model_count, cfg.model_count == 1 ? "" : "s", cfg.run.passes,
           cfg.run.passes == 1 ? "" : "es", (long)cfg.model_count * cfg.run.passes);
  }
  rt_config_free(&cfg);
  rt_config_args_free(&args);
  return code;
}
