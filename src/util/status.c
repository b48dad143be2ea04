/* rt_status (include/ringtrain/status.h): the table of codes (name, text, exit code) and
 * rt_fail / rt_fail_at, which record a failure as one line of text (with file:line for
 * RT_FAIL_AT). */
#include "ringtrain/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  const char *text;
  int exit_code;
} code_table[] = {
#define RT_X_ROW(name, text, exit_code) {#name, text, exit_code},
    RT_STATUS_CODES(RT_X_ROW)
#undef RT_X_ROW
};

static int code_valid(rt_code code) { return (int)code >= 0 && code < RT_CODE_COUNT; }

const char *rt_strerror(rt_code code) {
  return code_valid(code) ? code_table[code].text : "unknown error";
}

const char *rt_code_name(rt_code code) {
  return code_valid(code) ? code_table[code].name : "RT_ERR_UNKNOWN";
}

int rt_exit_code(rt_code code) { return code_valid(code) ? code_table[code].exit_code : 1; }

void rt_status_clear(rt_status *st) {
  if (!st) return;
  st->code = RT_OK;
  st->message[0] = '\0';
}

/* Newlines would break the one-line-per-error rule; replace them. */
static void flatten_message(char *msg) {
  for (char *p = msg; *p; ++p)
    if (*p == '\n' || *p == '\r') *p = ' ';
}

rt_code rt_fail(rt_status *st, rt_code code, const char *fmt, ...) {
  if (!st) return code;
  st->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(st->message, sizeof st->message, fmt, ap);
  va_end(ap);
  flatten_message(st->message);
  return code;
}

rt_code rt_fail_at(rt_status *st, rt_code code, const char *file, int line, const char *fmt, ...) {
  if (!st) return code;
  st->code = code;
  int n = snprintf(st->message, sizeof st->message, "%s:%d: ", file, line);
  if (n < 0) n = 0;
  if ((size_t)n < sizeof st->message) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->message + n, sizeof st->message - (size_t)n, fmt, ap);
    va_end(ap);
  }
  flatten_message(st->message);
  return code;
}
