/* The command-line layer: the only place that prints for the user and picks exit codes. */
#ifndef RINGTRAIN_CLI_H
#define RINGTRAIN_CLI_H

#include "ringtrain/status.h"

int rt_cmd_train(int argc, char **argv);
int rt_cmd_check(int argc, char **argv);
int rt_cmd_eval(int argc, char **argv);
int rt_cmd_predict(int argc, char **argv);
int rt_cmd_inspect(int argc, char **argv);
int rt_cmd_results(int argc, char **argv);
int rt_cmd_convert(int argc, char **argv);

/* Prints "ringtrain: error: MESSAGE" to stderr and returns the exit code for st. */
int rt_cli_report(const rt_status *st);
/* Usage error: prints the message and a pointer to --help; returns 2. */
int rt_cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Whole-string integer parse with range check; 0 on success. */
int rt_cli_parse_long(const char *text, long min, long max, long *out);

#endif
