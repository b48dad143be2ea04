/* ringtrain results RUN_DIR: the models of a finished run, ranked by a metric, from the run
 * directory's results.csv. Reads only that file; no MPI, no model files. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "ringtrain/config.h" /* RT_PATH_MAX */
#include "ringtrain/results.h"

static const char results_help[] =
    "usage: ringtrain results RUN_DIR [--top N] [--sort METRIC] [--json]\n"
    "\n"
    "Ranks the models of a finished run (RUN_DIR/results.csv, as written by 'ringtrain train').\n"
    "\n"
    "options:\n"
    "  --sort METRIC   the column to rank by: a validation metric, with or without the val_\n"
    "                  prefix (logloss, accuracy, rmse, mae, r2, inertia, ...), or train_loss,\n"
    "                  train_seconds, hops. Lower is better, except for accuracy and r2.\n"
    "                  Models without a value (diverged, or a family that does not report the\n"
    "                  metric) come last. Default: the run's own ranking (results.csv's rank:\n"
    "                  its sweep metric; under asha, hyperband and tpe with asha stopping, the\n"
    "                  models that trained further first), with the first val_ metric column\n"
    "                  (train_loss when there is none) shown first.\n"
    "  --top N         print the best N models (default 10; 0: all)\n"
    "  --json          print the ranked rows as one JSON array of objects (every results.csv\n"
    "                  column, plus rank) instead of the table\n"
    "  -h, --help      this text\n"
    "\n"
    "The table shows rank, id, kind, status (stopped@P: stopped early after P passes, at an\n"
    "asha rung or by the median rule), the sort metric, the other validation metrics,\n"
    "training seconds and the hyper-parameters that matter for the model's family; its last line\n"
    "is '# best: model ID (METRIC=VALUE)'.\n"
    "\n"
    "exit codes: 0 success; 2 usage error, missing or malformed results.csv (file:line named);\n"
    "1 I/O failure.\n";

typedef struct csv_row {
  char *line;    /* owned; fields point into it */
  char **fields; /* owned; `columns` entries */
  size_t lineno; /* 1-based line in the file */
  double key;    /* sort key: lower first; NaN = no value (last) */
  long long id;
} csv_row;

typedef struct csv_table {
  char path[RT_PATH_MAX];
  char *header_line;
  char **names;
  size_t columns;
  csv_row *rows;
  size_t row_count, row_cap;
} csv_table;

static void table_free(csv_table *t) {
  free(t->header_line);
  free(t->names);
  for (size_t i = 0; i < t->row_count; ++i) {
    free(t->rows[i].line);
    free(t->rows[i].fields);
  }
  free(t->rows);
  memset(t, 0, sizeof *t);
}

/* Splits line (in place) at commas; *out gets a malloc'd array of *count pointers. */
static rt_code split_fields(char *line, char ***out, size_t *count, rt_status *st) {
  size_t n = 1;
  for (const char *p = line; *p; ++p) n += *p == ',';
  char **fields = malloc(n * sizeof *fields);
  if (!fields) return RT_FAIL_AT(st, RT_ERR_NOMEM, "out of memory reading results.csv");
  size_t i = 0;
  fields[i++] = line;
  for (char *p = line; *p; ++p)
    if (*p == ',') {
      *p = '\0';
      fields[i++] = p + 1;
    }
  *out = fields;
  *count = n;
  return RT_OK;
}

static int column_index(const csv_table *t, const char *name) {
  for (size_t i = 0; i < t->columns; ++i)
    if (strcmp(t->names[i], name) == 0) return (int)i;
  return -1;
}

/* A metric column: val_* (but val_rows, a count) or one of the training measurements. */
static int is_metric_column(const char *name) {
  if (strncmp(name, "val_", 4) == 0) return strcmp(name, "val_rows") != 0;
  return strcmp(name, "train_loss") == 0 || strcmp(name, "train_seconds") == 0 ||
         strcmp(name, "hops") == 0;
}

static int is_val_metric(const char *name) {
  return strncmp(name, "val_", 4) == 0 && strcmp(name, "val_rows") != 0;
}

/* Whole-field number parse; empty fields are "no value". Returns 0 when text is a number. */
static int parse_number(const char *text, double *out) {
  char *end = NULL;
  errno = 0;
  double v = strtod(text, &end);
  if (end == text || *end || errno == EINVAL) return -1;
  *out = v;
  return 0;
}

/* Reads getline's lines: strips "\n" / "\r\n". Returns 1 with a line, 0 at the end, -1 on error. */
static int next_line(FILE *f, char **line) {
  size_t cap = 0;
  *line = NULL;
  errno = 0;
  ssize_t len = getline(line, &cap, f);
  if (len < 0) {
    free(*line);
    *line = NULL;
    return ferror(f) ? -1 : 0;
  }
  if (len > 0 && (*line)[len - 1] == '\n') (*line)[--len] = '\0';
  if (len > 0 && (*line)[len - 1] == '\r') (*line)[--len] = '\0';
  return 1;
}

/* One line's checks shared by the header and the rows. */
static rt_code check_line(const csv_table *t, const char *line, size_t lineno, rt_status *st) {
  if (!*line) return rt_fail(st, RT_ERR_DATA, "%s:%zu: empty line", t->path, lineno);
  if (strchr(line, '"'))
    return rt_fail(st, RT_ERR_DATA,
                   "%s:%zu: quoted fields are not supported (results.csv fields hold no quotes)",
                   t->path, lineno);
  return RT_OK;
}

static rt_code check_header(const csv_table *t, rt_status *st) {
  for (size_t i = 0; i < t->columns; ++i) {
    if (!t->names[i][0])
      return rt_fail(st, RT_ERR_DATA, "%s:1: column %zu has no name", t->path, i + 1);
    for (size_t j = 0; j < i; ++j)
      if (strcmp(t->names[i], t->names[j]) == 0)
        return rt_fail(st, RT_ERR_DATA, "%s:1: column '%s' appears twice", t->path, t->names[i]);
  }
  static const char *const required[] = {"id", "kind", "status"};
  for (size_t i = 0; i < sizeof required / sizeof required[0]; ++i)
    if (column_index(t, required[i]) < 0)
      return rt_fail(st, RT_ERR_DATA, "%s:1: no '%s' column (is this a ringtrain results.csv?)",
                     t->path, required[i]);
  return RT_OK;
}

/* The id must be a non-negative integer and every metric column a number or empty. */
static rt_code check_row(const csv_table *t, csv_row *r, rt_status *st) {
  const char *id = r->fields[column_index(t, "id")];
  char *end = NULL;
  errno = 0;
  long long v = strtoll(id, &end, 10);
  if (!*id || *end || errno || v < 0)
    return rt_fail(st, RT_ERR_DATA, "%s:%zu: column id: '%s' is not a model id", t->path, r->lineno,
                   id);
  r->id = v;
  for (size_t i = 0; i < t->columns; ++i) {
    double x;
    if (is_metric_column(t->names[i]) && r->fields[i][0] && parse_number(r->fields[i], &x))
      return rt_fail(st, RT_ERR_DATA, "%s:%zu: column %s: '%s' is not a number", t->path, r->lineno,
                     t->names[i], r->fields[i]);
  }
  return RT_OK;
}

static rt_code read_rows(FILE *f, csv_table *t, rt_status *st) {
  char *line = NULL;
  int got = next_line(f, &line);
  if (got < 0) return rt_fail(st, RT_ERR_IO, "%s: cannot read: %s", t->path, strerror(errno));
  if (got == 0) return rt_fail(st, RT_ERR_DATA, "%s: empty file (expected a header line)", t->path);
  t->header_line = line;
  rt_code rc;
  if ((rc = check_line(t, line, 1, st)) || (rc = split_fields(line, &t->names, &t->columns, st)) ||
      (rc = check_header(t, st)))
    return rc;
  for (size_t lineno = 2;; ++lineno) {
    got = next_line(f, &line);
    if (got < 0) return rt_fail(st, RT_ERR_IO, "%s: cannot read: %s", t->path, strerror(errno));
    if (got == 0) return RT_OK;
    if (t->row_count == t->row_cap) {
      const size_t cap = t->row_cap ? 2 * t->row_cap : 64;
      csv_row *rows = realloc(t->rows, cap * sizeof *rows);
      if (!rows) {
        free(line);
        return RT_FAIL_AT(st, RT_ERR_NOMEM, "out of memory reading %s", t->path);
      }
      t->rows = rows;
      t->row_cap = cap;
    }
    csv_row *r = &t->rows[t->row_count++];
    memset(r, 0, sizeof *r);
    r->line = line;
    r->lineno = lineno;
    size_t n = 0;
    if ((rc = check_line(t, line, lineno, st)) || (rc = split_fields(line, &r->fields, &n, st)))
      return rc;
    if (n != t->columns)
      return rt_fail(st, RT_ERR_DATA, "%s:%zu: expected %zu fields, found %zu", t->path, lineno,
                     t->columns, n);
    RT_TRY(rc, check_row(t, r, st));
  }
}

static rt_code read_results(const char *run_dir, csv_table *t, rt_status *st) {
  memset(t, 0, sizeof *t);
  const size_t len = strlen(run_dir);
  const int slash = len > 0 && run_dir[len - 1] == '/';
  int n = snprintf(t->path, sizeof t->path, "%s%sresults.csv", run_dir, slash ? "" : "/");
  if (n < 0 || (size_t)n >= sizeof t->path)
    return rt_fail(st, RT_ERR_USAGE, "%s: path too long", run_dir);
  struct stat sb;
  if (stat(run_dir, &sb) != 0)
    return rt_fail(st, RT_ERR_DATA, "%s: cannot open: run directory %s: %s", t->path, run_dir,
                   strerror(errno));
  if (!S_ISDIR(sb.st_mode))
    return rt_fail(st, RT_ERR_DATA,
                   "%s: not a directory (expected a run directory holding results.csv)", run_dir);
  FILE *f = fopen(t->path, "r");
  if (!f)
    return rt_fail(st,
                   errno == ENOENT || errno == EACCES || errno == EISDIR ? RT_ERR_DATA : RT_ERR_IO,
                   "%s: cannot open: %s", t->path, strerror(errno));
  rt_code rc = read_rows(f, t, st);
  fclose(f);
  return rc;
}

/* The column to rank by: NAME as given or with "val_" in front; -1 when there is none. */
static int resolve_sort(const csv_table *t, const char *name) {
  int c = column_index(t, name);
  if (c >= 0 && is_metric_column(name)) return c;
  char prefixed[256];
  snprintf(prefixed, sizeof prefixed, "val_%s", name);
  c = column_index(t, prefixed);
  return c >= 0 && is_metric_column(prefixed) ? c : -1;
}

static int default_sort(const csv_table *t) {
  for (size_t i = 0; i < t->columns; ++i)
    if (is_val_metric(t->names[i])) return (int)i;
  return column_index(t, "train_loss");
}

static int higher_is_better(const char *column) {
  return strncmp(column, "val_", 4) == 0 && rt_metric_higher_is_better(column + 4);
}

static int compare_rows(const void *a, const void *b) {
  const csv_row *x = a, *y = b;
  const int xn = isnan(x->key), yn = isnan(y->key);
  if (xn != yn) return xn - yn;
  if (!xn && x->key != y->key) return x->key < y->key ? -1 : 1;
  if (x->id != y->id) return x->id < y->id ? -1 : 1;
  return x->lineno < y->lineno ? -1 : x->lineno > y->lineno;
}

/* Without --sort: the run's own ranking (its rank column: the sweep metric; under asha,
 * hyperband and tpe with asha stopping the models that trained further first). Returns 0 when
 * the file has no usable rank column (then the metric ranks). */
static int rank_as_run(csv_table *t) {
  const int c = column_index(t, "rank");
  if (c < 0) return 0;
  for (size_t i = 0; i < t->row_count; ++i) {
    double v;
    if (parse_number(t->rows[i].fields[c], &v) || !isfinite(v)) return 0;
    t->rows[i].key = v;
  }
  qsort(t->rows, t->row_count, sizeof *t->rows, compare_rows);
  return 1;
}

static void rank_rows(csv_table *t, int sort_col) {
  const int higher = higher_is_better(t->names[sort_col]);
  for (size_t i = 0; i < t->row_count; ++i) {
    double v = NAN;
    if (parse_number(t->rows[i].fields[sort_col], &v) || !isfinite(v)) v = NAN;
    t->rows[i].key = isnan(v) ? NAN : higher ? -v : v;
  }
  qsort(t->rows, t->row_count, sizeof *t->rows, compare_rows);
}

/* A field by column name; "-" when the column is absent or the field empty. */
static const char *field(const csv_table *t, const csv_row *r, const char *name) {
  const int c = column_index(t, name);
  return c < 0 || !r->fields[c][0] ? "-" : r->fields[c];
}

/* The hyper-parameters that matter for the model's family (rt_model_config_summary, as train
 * and check print them), from the row's hyper-parameter columns; keys without a column (an older
 * results.csv) at their defaults. */
static void hp_text(const csv_table *t, const csv_row *r, char *buf, size_t cap) {
  rt_model_config m;
  rt_model_config_defaults(&m);
  for (size_t k = 0; k < rt_model_key_count(); ++k) {
    const int c = column_index(t, rt_model_key_name(k));
    if (c >= 0 && r->fields[c][0]) rt_model_key_set_field(&m, k, r->fields[c]);
  }
  if (!m.kind[0] || !rt_model_config_summary(&m, buf, cap) || !buf[0]) snprintf(buf, cap, "-");
}

static void value_text(const char *text, char *buf, size_t cap) {
  double v;
  if (!text[0] || parse_number(text, &v) || !isfinite(v)) snprintf(buf, cap, "-");
  else snprintf(buf, cap, "%.6g", v);
}

static void print_table(const csv_table *t, int sort_col, int by_run, size_t shown) {
  /* Columns after status: the sort metric, the other val_ metrics, train_seconds. */
  int cols[64];
  size_t ncols = 0;
  cols[ncols++] = sort_col;
  for (size_t i = 0; i < t->columns && ncols < sizeof cols / sizeof cols[0] - 1; ++i)
    if ((int)i != sort_col && is_val_metric(t->names[i])) cols[ncols++] = (int)i;
  const int secs = column_index(t, "train_seconds");
  if (secs >= 0 && secs != sort_col) cols[ncols++] = secs;
  int width[64];
  for (size_t k = 0; k < ncols; ++k) {
    const size_t w = strlen(t->names[cols[k]]);
    width[k] = w > 11 ? (int)w : 11;
  }
  const char *sort_name = t->names[sort_col];
  if (by_run)
    printf(
        "# %s: %zu model%s in the run's ranking (its sweep metric; a model stopped early after "
        "one that trained further under asha, hyperband and tpe with asha); showing %zu\n",
        t->path, t->row_count, t->row_count == 1 ? "" : "s", shown);
  else
    printf("# %s: %zu model%s ranked by %s (%s is better); showing %zu\n", t->path, t->row_count,
           t->row_count == 1 ? "" : "s", sort_name,
           higher_is_better(sort_name) ? "higher" : "lower", shown);
  printf("#rank    id kind      status       ");
  for (size_t k = 0; k < ncols; ++k) printf(" %*s", width[k], t->names[cols[k]]);
  printf(" hyper-parameters\n");
  for (size_t i = 0; i < shown; ++i) {
    const csv_row *r = &t->rows[i];
    char status[48];
    const char *stopped = field(t, r, "status");
    if (strcmp(stopped, "stopped_early") == 0) /* where it stopped: its passes (asha: its rung) */
      snprintf(status, sizeof status, "stopped@%s", field(t, r, "passes"));
    else snprintf(status, sizeof status, "%s", stopped);
    printf("%5zu %5s %-9s %-13s", i + 1, field(t, r, "id"), field(t, r, "kind"), status);
    for (size_t k = 0; k < ncols; ++k) {
      char v[64];
      value_text(r->fields[cols[k]], v, sizeof v);
      printf(" %*s", width[k], v);
    }
    char hp[400];
    hp_text(t, r, hp, sizeof hp);
    printf(" %s\n", hp);
  }
  if (t->row_count && !isnan(t->rows[0].key))
    printf("# best: model %s (%s=%s)\n", field(t, &t->rows[0], "id"), sort_name,
           t->rows[0].fields[sort_col]);
  else printf("# best: none (no model has a %s value)\n", sort_name);
}

static void json_string(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; ++p) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if (*p < 0x20) printf("\\u%04x", *p);
    else putchar(*p);
  }
  putchar('"');
}

/* Columns whose values are words, never numbers, whatever they look like. */
static int is_text_column(const char *name) {
  static const char *const text[] = {"kind",      "status",   "state_sha256", "model_file",
                                     "optimizer", "schedule", "solver",       "activation",
                                     "output",    "init"};
  for (size_t i = 0; i < sizeof text / sizeof text[0]; ++i)
    if (strcmp(name, text[i]) == 0) return 1;
  return 0;
}

/* hidden "64 32" as [64,32]; 0 when the text is not a list of integers. */
static int json_int_list(const char *text) {
  for (const char *p = text; *p; ++p)
    if (!(*p == ' ' || (*p >= '0' && *p <= '9'))) return 0;
  putchar('[');
  int first = 1;
  for (const char *p = text; *p;) {
    while (*p == ' ') ++p;
    if (!*p) break;
    size_t n = strspn(p, "0123456789");
    printf("%s%.*s", first ? "" : ",", (int)n, p);
    first = 0;
    p += n;
  }
  putchar(']');
  return 1;
}

static void json_value(const char *name, const char *text) {
  double v;
  if (is_text_column(name)) json_string(text);
  else if (strcmp(name, "hidden") == 0 && json_int_list(text)) return;
  else if (!text[0]) fputs("null", stdout);
  else if (parse_number(text, &v) == 0) {
    char buf[RT_NUMFMT_MAX];
    fputs(isfinite(v) ? rt_format_double(v, buf) : "null", stdout);
  } else json_string(text);
}

static void print_json(const csv_table *t, size_t shown) {
  putchar('[');
  for (size_t i = 0; i < shown; ++i) {
    const csv_row *r = &t->rows[i];
    printf("%s\n{\"rank\":%zu", i ? "," : "", i + 1);
    for (size_t c = 0; c < t->columns; ++c) {
      /* "rank" is this listing's own order; the file's rank (by the sweep metric) is left out. */
      if (strcmp(t->names[c], "rank") == 0) continue;
      putchar(',');
      json_string(t->names[c]);
      putchar(':');
      json_value(t->names[c], r->fields[c]);
    }
    putchar('}');
  }
  printf("%s]\n", shown ? "\n" : "");
}

int rt_cmd_results(int argc, char **argv) {
  static const struct option options[] = {{"top", required_argument, NULL, 't'},
                                          {"sort", required_argument, NULL, 's'},
                                          {"json", no_argument, NULL, 'j'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
  long top = 10;
  const char *sort = NULL;
  int json = 0;
  optind = 1;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":t:s:jh", options, NULL)) != -1) {
    switch (c) {
      case 't':
        if (rt_cli_parse_long(optarg, 0, 1L << 30, &top))
          return rt_cli_usage_error("results", "--top expects an integer >= 0, got '%s'", optarg);
        break;
      case 's': sort = optarg; break;
      case 'j': json = 1; break;
      case 'h': fputs(results_help, stdout); return 0;
      case ':': return rt_cli_usage_error("results", "option '%s' needs a value", argv[optind - 1]);
      default: return rt_cli_usage_error("results", "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (argc - optind < 1) return rt_cli_usage_error("results", "expected RUN_DIR");
  if (argc - optind > 1)
    return rt_cli_usage_error("results", "unexpected argument '%s'", argv[optind + 1]);
  const char *run_dir = argv[optind];

  rt_status st;
  rt_status_clear(&st);
  csv_table t;
  if (read_results(run_dir, &t, &st)) {
    table_free(&t);
    return rt_cli_report(&st);
  }
  int sort_col = sort ? resolve_sort(&t, sort) : default_sort(&t);
  if (sort_col < 0) {
    char list[2048] = "";
    size_t used = 0;
    for (size_t i = 0; i < t.columns && used < sizeof list; ++i)
      if (is_metric_column(t.names[i])) {
        int n = snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", t.names[i]);
        if (n > 0) used += (size_t)n;
      }
    int code;
    if (sort) {
      code =
          rt_cli_usage_error("results",
                             "%s: no column '%s' to sort by (available: %s; the val_ prefix may be "
                             "left out)",
                             t.path, sort, list);
    } else {
      rt_fail(&st, RT_ERR_DATA,
              "%s:1: no metric column to sort by (val_*, train_loss, train_seconds, hops)", t.path);
      code = rt_cli_report(&st);
    }
    table_free(&t);
    return code;
  }
  const int by_run = !sort && rank_as_run(&t);
  if (!by_run) rank_rows(&t, sort_col);
  const size_t shown = top == 0 || (size_t)top > t.row_count ? t.row_count : (size_t)top;
  if (json) print_json(&t, shown);
  else print_table(&t, sort_col, by_run, shown);
  table_free(&t);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    rt_fail(&st, RT_ERR_IO, "cannot write to standard output");
    return rt_cli_report(&st);
  }
  return 0;
}
