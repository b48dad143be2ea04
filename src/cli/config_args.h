/* Options shared by `train` and `check`: CONFIG [--set key=value]... [--output DIR]. */
#ifndef RINGTRAIN_CLI_CONFIG_ARGS_H
#define RINGTRAIN_CLI_CONFIG_ARGS_H

#include "ringtrain/config.h"

typedef struct rt_config_args {
  const char *config_path;
  const char **sets;
  int set_count;
  const char *output;
  int quiet;
  int trace;          /* train --trace: run.trace = true */
  const char *resume; /* train --resume RUN_DIR (or RUN_DIR/checkpoints/ckpt-NNNNNN) */
  int help;
  double progress_interval; /* seconds between progress lines off a terminal; 0 = none */
} rt_config_args;

/* Parses argv; returns 0, or an exit code after printing a usage error. */
int rt_config_args_parse(const char *command, int argc, char **argv, rt_config_args *a);
void rt_config_args_free(rt_config_args *a);

/* Parses config text (already read) and applies --set and --output (--resume: run.output is the
 * run directory it names), then validates. */
rt_code rt_config_from_args(const rt_config_args *a, const char *text, size_t length,
                            rt_config *cfg, rt_status *st);

/* Reads a whole file into a NUL-terminated buffer; errors name the file. */
rt_code rt_read_text_file(const char *path, char **text, size_t *length, rt_status *st);

#endif
