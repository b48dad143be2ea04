/* Status codes and messages. Library functions return an rt_code and fill an rt_status; only the
 * CLI turns them into printed lines and exit codes. */
#ifndef RINGTRAIN_STATUS_H
#define RINGTRAIN_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* X(enum name, short description, process exit code): 2 = bad input, 1 = runtime failure, 75 =
 * stopped by SIGTERM/SIGINT after writing a checkpoint (EX_TEMPFAIL: requeue and resume). */
#define RT_STATUS_CODES(X)                                     \
  X(RT_OK, "ok", 0)                                            \
  X(RT_ERR_USAGE, "usage error", 2)                            \
  X(RT_ERR_CONFIG, "config error", 2)                          \
  X(RT_ERR_DATA, "data error", 2)                              \
  X(RT_ERR_MODEL_FILE, "model file error", 2)                  \
  X(RT_ERR_OUTPUT, "output error", 2)                          \
  X(RT_ERR_IO, "I/O failure", 1)                               \
  X(RT_ERR_NOMEM, "out of memory", 1)                          \
  X(RT_ERR_MPI, "MPI failure", 1)                              \
  X(RT_ERR_NUMERIC, "numerical failure", 1)                    \
  X(RT_ERR_PEER, "another rank failed", 1)                     \
  X(RT_ERR_TIMEOUT, "watchdog timeout", 1)                     \
  X(RT_STOPPED, "stopped by a signal, checkpoint written", 75) \
  X(RT_ERR_INTERNAL, "internal error", 1)

typedef enum rt_code {
#define RT_X_ENUM(name, text, exit_code) name,
  RT_STATUS_CODES(RT_X_ENUM)
#undef RT_X_ENUM
      RT_CODE_COUNT
} rt_code;

#define RT_MESSAGE_MAX 1024

typedef struct rt_status {
  rt_code code;
  char message[RT_MESSAGE_MAX]; /* one line, no trailing newline */
} rt_status;

/* Short description of a code ("data error"). */
const char *rt_strerror(rt_code code);
/* Enum name of a code ("RT_ERR_DATA"). */
const char *rt_code_name(rt_code code);
/* Exit code the CLI uses for a code: 0, 1 (runtime), 2 (bad input / usage) or 75 (stopped,
 * resumable). */
int rt_exit_code(rt_code code);

/* Resets a status to RT_OK with an empty message. */
void rt_status_clear(rt_status *st);
/* Sets code and printf-style message; returns code so callers can `return rt_fail(...)`.
 * st may be NULL. */
rt_code rt_fail(rt_status *st, rt_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* For failures of a libc/MPI/BLAS call: prefixes the message with the source file:line. */
#define RT_FAIL_AT(st, code, ...) rt_fail_at((st), (code), __FILE__, __LINE__, __VA_ARGS__)
rt_code rt_fail_at(rt_status *st, rt_code code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The one relay of a failure: stores EXPR's rt_code in RC and returns it from the calling
 * function unless it is RT_OK (st already holds the message). Where cleanup must run after a
 * failure, a function instead chains its steps with `if (rc == RT_OK) rc = step(...);` and
 * cleans up once at the end. */
#define RT_TRY(rc, expr)                       \
  do {                                         \
    if (((rc) = (expr)) != RT_OK) return (rc); \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif
