/* Commands on one model file: eval, predict, inspect. Single process, no MPI. Only the public
 * model-file API (include/ringtrain/model_api.h): this file parses arguments and prints. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "ringtrain/atomic_file.h"
#include "ringtrain/data.h"
#include "ringtrain/hash.h"
#include "ringtrain/model_api.h"

typedef struct model_args {
  const char *model, *data, *output;
  long label_column; /* -2: as stored in the model */
  int json, help;
} model_args;

static int parse_model_args(const char *command, int argc, char **argv, int want_data,
                            model_args *a) {
  memset(a, 0, sizeof *a);
  a->label_column = -2;
  static const struct option options[] = {{"output", required_argument, NULL, 'o'},
                                          {"label-column", required_argument, NULL, 'l'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":o:l:jh", options, NULL)) != -1) {
    switch (c) {
      case 'o': a->output = optarg; break;
      case 'l':
        if (rt_cli_parse_long(optarg, -1, 1 << 30, &a->label_column))
          return rt_cli_usage_error(command, "--label-column expects an integer >= -1, got '%s'",
                                    optarg);
        break;
      case 'j': a->json = 1; break;
      case 'h': a->help = 1; return 0;
      case ':': return rt_cli_usage_error(command, "option '%s' needs a value", argv[optind - 1]);
      default: return rt_cli_usage_error(command, "unknown option '%s'", argv[optind - 1]);
    }
  }
  const int need = want_data ? 2 : 1;
  if (argc - optind < need)
    return rt_cli_usage_error(command, want_data ? "expected MODEL and DATA" : "expected FILE");
  if (argc - optind > need)
    return rt_cli_usage_error(command, "unexpected argument '%s'", argv[optind + need]);
  a->model = argv[optind];
  if (want_data) a->data = argv[optind + 1];
  return 0;
}

/* The shared opening of eval and predict: arguments, model file, data rows. Returns -1 when the
 * command should go on, else the exit code (help printed, or an error reported). */
static int open_model_and_data(const char *command, const char *help, int argc, char **argv,
                               int need_labels, model_args *a, rt_model **m, rt_shard *rows) {
  int code = parse_model_args(command, argc, argv, 1, a);
  if (code || a->help) {
    if (a->help) fputs(help, stdout);
    return code;
  }
  rt_status st;
  rt_status_clear(&st);
  if (rt_model_open(a->model, m, &st)) return rt_cli_report(&st);
  if (rt_model_read_data(*m, a->data, a->label_column, need_labels, rows, &st)) {
    rt_model_close(*m);
    return rt_cli_report(&st);
  }
  return -1;
}

int rt_cmd_eval(int argc, char **argv) {
  model_args a;
  rt_model *m = NULL;
  rt_shard rows;
  int code = open_model_and_data(
      "eval",
      "usage: ringtrain eval MODEL DATA [--label-column N] [--json]\n\n"
      "Prints log-loss and accuracy of MODEL on DATA (.csv or .npy with a label column;\n"
      "by default the label column the model was trained with).\n",
      argc, argv, 1, &a, &m, &rows);
  if (code >= 0) return code;
  code = 0;
  rt_status st;
  rt_status_clear(&st);
  rt_model_summary sum;
  rt_model_summarize(m, &sum);
  double values[RT_MODEL_METRICS_MAX] = {0};
  if (rt_model_evaluate(m, &rows, values, &st)) {
    code = rt_cli_report(&st);
  } else {
    const char *const *names = sum.metric_names;
    const size_t count = sum.metric_count;
    if (a.json) {
      printf("{\"model\":\"%s\",\"data\":\"%s\",\"rows\":%zu", a.model, a.data, rows.rows);
      for (size_t k = 0; k < count; ++k) printf(",\"%s\":%.17g", names[k], values[k]);
      printf("}\n");
    } else {
      printf("# model %s (%s, id %" PRIu64 ") on %s\n#      rows", a.model, sum.kind, sum.id,
             a.data);
      for (size_t k = 0; k < count; ++k) printf(" %11s", names[k]);
      printf("\n%11zu", rows.rows);
      for (size_t k = 0; k < count; ++k) printf(" %11.6f", values[k]);
      printf("\n");
    }
  }
  rt_shard_free(&rows);
  rt_model_close(m);
  return code;
}

static rt_code write_predictions(FILE *f, const rt_model *m, const rt_shard *rows, rt_status *st) {
  rt_model_summary sum;
  rt_model_summarize(m, &sum);
  const size_t width = sum.output_width, chunk = 256;
  float *out = malloc(chunk * width * sizeof *out);
  if (!out) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate prediction buffers");
  for (size_t k = 0; k < width; ++k) {
    char name[64];
    rt_model_output_name(m, k, name, sizeof name);
    fprintf(f, "%s%s", k ? "," : "", name);
  }
  fputc('\n', f);
  rt_code rc = RT_OK;
  for (size_t first = 0; first < rows->rows && rc == RT_OK; first += chunk) {
    const size_t n = first + chunk <= rows->rows ? chunk : rows->rows - first;
    rc = rt_model_predict_rows(m, rows, first, n, out, st);
    for (size_t i = 0; i < n && rc == RT_OK; ++i) {
      for (size_t k = 0; k < width; ++k)
        fprintf(f, "%s%.9g", k ? "," : "", (double)out[i * width + k]);
      fputc('\n', f);
    }
  }
  free(out);
  return rc;
}

int rt_cmd_predict(int argc, char **argv) {
  model_args a;
  rt_model *m = NULL;
  rt_shard rows;
  int code = open_model_and_data(
      "predict",
      "usage: ringtrain predict MODEL DATA [--output FILE] [--label-column N]\n\n"
      "Writes one CSV row per input row with a header line: for classifiers the predicted class\n"
      "and the class probabilities (predicted,p0,p1,...), for regression the prediction, for\n"
      "k-means the nearest centre and its distance. DATA may hold only the feature columns, or\n"
      "the features and a label column (ignored). Without --output the rows go to standard output.\n",
      argc, argv, 0, &a, &m, &rows);
  if (code >= 0) return code;
  code = 0;
  rt_status st;
  rt_status_clear(&st);
  rt_code rc;
  if (a.output) {
    rt_atomic_file *af = NULL;
    rc = rt_atomic_open(a.output, &af, &st);
    if (rc == RT_OK) {
      rc = write_predictions(rt_atomic_stream(af), m, &rows, &st);
      if (rc == RT_OK) rc = rt_atomic_commit(&af, &st);
      else rt_atomic_abort(&af);
    }
  } else {
    rc = write_predictions(stdout, m, &rows, &st);
    if (rc == RT_OK && (fflush(stdout) != 0 || ferror(stdout)))
      rc = rt_fail(&st, RT_ERR_IO, "cannot write predictions to standard output");
  }
  if (rc) code = rt_cli_report(&st);
  rt_shard_free(&rows);
  rt_model_close(m);
  return code;
}

int rt_cmd_inspect(int argc, char **argv) {
  model_args a;
  int code = parse_model_args("inspect", argc, argv, 0, &a);
  if (code || a.help) {
    if (a.help)
      fputs(
          "usage: ringtrain inspect FILE\n\nPrints the spec, training cursor and loss history of a model file\n"
          "after verifying its magic, version, sizes and checksum.\n",
          stdout);
    return code;
  }
  rt_status st;
  rt_status_clear(&st);
  rt_model *m = NULL;
  if (rt_model_open(a.model, &m, &st)) return rt_cli_report(&st);
  rt_model_summary sum;
  rt_model_summarize(m, &sum);
  char hex[65];
  rt_hex(sum.sha256, 32, hex);
  printf("# %s: ringtrain model file, format version %u, checksum ok (sha256 %s)\n", a.model,
         sum.format_version, hex);
  printf("# spec\n");
  for (const char *line = sum.spec_text; *line;) {
    const char *nl = strchr(line, '\n');
    int len = nl ? (int)(nl - line) : (int)strlen(line);
    printf("  %.*s\n", len, line);
    line = nl ? nl + 1 : line + len;
  }
  printf("# state: %zu bytes, %zu parameters, %zu optimizer floats\n", sum.state_bytes,
         sum.param_count, sum.aux_count);
  printf("  passes_done=%" PRIu64 "\n  position=%" PRIu64 "\n  optimizer_steps=%" PRIu64
         "\n  samples=%" PRIu64 "\n  diverged=%s\n",
         sum.passes_done, sum.position, sum.optimizer_steps, sum.samples,
         sum.diverged ? "yes" : "no");
  printf("# training loss per pass\n");
  for (uint64_t p = 0; p < sum.passes_done && p < sum.passes; ++p)
    printf("  %" PRIu64 " %.6f\n", p + 1, sum.loss_history[p]);
  rt_model_close(m);
  return 0;
}
