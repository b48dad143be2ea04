/* What every command of the CLI shares: printing a library status as the one error line and
 * its exit code (rt_cli_report), a usage error with the hint to --help, and strict number
 * parsing of option values. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"

int rt_cli_report(const rt_status *st) {
  fprintf(stderr, "ringtrain: error: %s\n", st->message[0] ? st->message : rt_strerror(st->code));
  return rt_exit_code(st->code);
}

int rt_cli_usage_error(const char *command, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("ringtrain: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (try 'ringtrain %s --help')\n", command);
  return 2;
}

int rt_cli_parse_long(const char *text, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno || end == text || *end || v < min || v > max) return -1;
  *out = v;
  return 0;
}
