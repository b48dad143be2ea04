/* The options that `ringtrain train` and `ringtrain check` share (CONFIG, --set, --output,
 * --quiet, --progress-interval, and train's --trace and --resume), parsed with getopt_long into
 * rt_config_args (cli/config_args.h); bad options are usage errors (exit 2). */
#include "cli/config_args.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"

int rt_config_args_parse(const char *command, int argc, char **argv, rt_config_args *a) {
  memset(a, 0, sizeof *a);
  a->sets = calloc((size_t)argc + 1, sizeof *a->sets);
  if (!a->sets) {
    fprintf(stderr, "ringtrain: error: out of memory\n");
    return 1;
  }
  static const struct option options[] = {
      {"set", required_argument, NULL, 's'}, {"output", required_argument, NULL, 'o'},
      {"quiet", no_argument, NULL, 'q'},     {"progress-interval", required_argument, NULL, 'p'},
      {"trace", no_argument, NULL, 't'},     {"resume", required_argument, NULL, 'r'},
      {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0}};
  optind = 1;
  opterr = 0;
  int c;
  a->progress_interval = 10.0;
  while ((c = getopt_long(argc, argv, ":s:o:qp:tr:h", options, NULL)) != -1) {
    switch (c) {
      case 'p': {
        char *end = NULL;
        errno = 0;
        const double v = strtod(optarg, &end);
        if (errno || end == optarg || *end || !(v >= 0.0) || v > 1e6)
          return rt_cli_usage_error(command, "--progress-interval expects seconds >= 0, got '%s'",
                                    optarg);
        a->progress_interval = v;
        break;
      }
      case 's': a->sets[a->set_count++] = optarg; break;
      case 'o': a->output = optarg; break;
      case 'q': a->quiet = 1; break;
      case 't':
        if (strcmp(command, "train") != 0)
          return rt_cli_usage_error(command, "unknown option '--trace'");
        a->trace = 1;
        break;
      case 'r':
        if (strcmp(command, "train") != 0)
          return rt_cli_usage_error(command, "unknown option '--resume'");
        a->resume = optarg;
        break;
      case 'h': a->help = 1; return 0;
      case ':': return rt_cli_usage_error(command, "option '%s' needs a value", argv[optind - 1]);
      default: return rt_cli_usage_error(command, "unknown option '%s'", argv[optind - 1]);
    }
  }
  if (a->resume && a->output)
    return rt_cli_usage_error(
        command, "--resume RUN_DIR writes to RUN_DIR; --output cannot be given with it");
  if (optind >= argc) return rt_cli_usage_error(command, "missing CONFIG");
  if (optind + 1 < argc)
    return rt_cli_usage_error(command, "unexpected argument '%s'", argv[optind + 1]);
  a->config_path = argv[optind];
  return 0;
}

void rt_config_args_free(rt_config_args *a) {
  free(a->sets);
  a->sets = NULL;
}

rt_code rt_read_text_file(const char *path, char **text, size_t *length, rt_status *st) {
  FILE *f = fopen(path, "rb");
  if (!f) return rt_fail(st, RT_ERR_CONFIG, "%s: cannot open: %s", path, strerror(errno));
  struct stat info;
  if (fstat(fileno(f), &info) == 0 && S_ISDIR(info.st_mode)) { /* fopen opens folders for reading */
    fclose(f);
    return rt_fail(st, RT_ERR_CONFIG, "%s: is a directory; expected a config file (YAML)", path);
  }
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes", cap);
  }
  size_t n;
  while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
    len += n;
    if (cap - len - 1 == 0) {
      char *grown = realloc(buf, cap * 2);
      if (!grown) {
        free(buf);
        fclose(f);
        return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu bytes", cap * 2);
      }
      buf = grown;
      cap *= 2;
    }
  }
  int failed = ferror(f);
  if (fclose(f) != 0 || failed) {
    free(buf);
    return RT_FAIL_AT(st, RT_ERR_IO, "read %s: %s", path, strerror(errno));
  }
  buf[len] = '\0';
  *text = buf;
  *length = len;
  return RT_OK;
}

rt_code rt_config_from_args(const rt_config_args *a, const char *text, size_t length,
                            rt_config *cfg, rt_status *st) {
  rt_code rc = rt_config_parse(text, length, a->config_path, cfg, st);
  for (int i = 0; rc == RT_OK && i < a->set_count; ++i) rc = rt_config_set(cfg, a->sets[i], st);
  if (rc == RT_OK && a->output) {
    if (strlen(a->output) >= sizeof cfg->run.output)
      return rt_fail(st, RT_ERR_USAGE, "--output: path too long");
    strcpy(cfg->run.output, a->output);
  }
  if (rc == RT_OK && a->resume) { /* the run directory: RUN_DIR, or the one a checkpoint sits in */
    size_t len = strlen(a->resume);
    while (len > 1 && a->resume[len - 1] == '/') --len;
    const char *base = a->resume + len;
    while (base > a->resume && base[-1] != '/') --base;
    static const char parent[] = "/checkpoints/";
    const size_t pl = sizeof parent - 1;
    if (strncmp(base, "ckpt-", 5) == 0 && (size_t)(base - a->resume) >= pl &&
        strncmp(base - pl, parent, pl) == 0)
      len = (size_t)(base - a->resume) - pl;
    if (len == 0) len = 1; /* "/checkpoints/ckpt-1": the root */
    if (len >= sizeof cfg->run.output) return rt_fail(st, RT_ERR_USAGE, "--resume: path too long");
    memcpy(cfg->run.output, a->resume, len);
    cfg->run.output[len] = '\0';
  }
  if (rc == RT_OK && a->trace) cfg->run.trace = 1;
  if (rc == RT_OK) rc = rt_config_validate(cfg, st);
  return rc;
}
