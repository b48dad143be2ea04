/* RINGTRAIN_FAULT parsing and the faults themselves (see fault.h). */
#include "fault.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct {
  const char *name;
  rt_fault_action action;
} actions[] = {{"stall", RT_FAULT_STALL}, {"die", RT_FAULT_DIE},   {"term", RT_FAULT_TERM},
               {"int", RT_FAULT_INT},     {"usr1", RT_FAULT_USR1}, {"enospc", RT_FAULT_ENOSPC}};

rt_code rt_fault_parse(const char *text, rt_fault *fault, rt_status *st) {
  memset(fault, 0, sizeof *fault);
  if (!text || !*text) return RT_OK;
  const char *colon = strchr(text, ':');
  size_t len = colon ? (size_t)(colon - text) : strlen(text);
  for (size_t i = 0; i < sizeof actions / sizeof actions[0]; ++i)
    if (strlen(actions[i].name) == len && strncmp(text, actions[i].name, len) == 0)
      fault->action = actions[i].action;
  char *end = NULL;
  long rank = -1;
  unsigned long long at = 0;
  if (fault->action != RT_FAULT_NONE && colon) {
    errno = 0;
    rank = strtol(colon + 1, &end, 10);
    if (errno == 0 && end != colon + 1 && *end == ':') {
      const char *n = end + 1;
      at = strtoull(n, &end, 10);
      if (errno != 0 || end == n || *end != '\0' || *n == '-') at = 0;
    }
  }
  if (fault->action == RT_FAULT_NONE || rank < 0 || rank > 1000000 || at == 0) {
    fault->action = RT_FAULT_NONE;
    return rt_fail(
        st, RT_ERR_USAGE,
        "%s='%s': expected ACTION:RANK:N with ACTION stall, die, term, int, usr1 or enospc, "
        "RANK >= 0 and N >= 1",
        RT_FAULT_ENV, text);
  }
  fault->rank = (int)rank;
  fault->at = at;
  return RT_OK;
}

rt_code rt_fault_from_env(rt_fault *fault, rt_status *st) {
  return rt_fault_parse(getenv(RT_FAULT_ENV), fault, st);
}

int rt_fault_at_send(const rt_fault *fault, int rank, uint64_t count) {
  return fault->action != RT_FAULT_NONE && fault->action != RT_FAULT_ENOSPC &&
         fault->rank == rank && fault->at == count;
}

void rt_fault_trigger(const rt_fault *fault) {
  switch (fault->action) {
    case RT_FAULT_STALL:
      for (;;) { /* a hung peer: alive, silent, never sending */
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
      }
    case RT_FAULT_DIE: raise(SIGKILL); break;
    case RT_FAULT_TERM: raise(SIGTERM); break;
    case RT_FAULT_INT: raise(SIGINT); break;
    case RT_FAULT_USR1: raise(SIGUSR1); break;
    case RT_FAULT_NONE:
    case RT_FAULT_ENOSPC: break;
  }
}
