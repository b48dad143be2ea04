/* The watchdog's decision across ranks: questions, answers, claims and the arbiter (see
 * watchdog.h for the protocol). */
#include "watchdog.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agree.h"

enum phase { PH_IDLE = 0, PH_ASKING, PH_DEFERRED, PH_CLAIMING, PH_REFUSED };

/* Message kinds; the tag is kind + M_KINDS * (round mod ROUNDS), below 16,384 (MPI promises
 * tags up to 32,767). */
enum message {
  M_QUERY = 0,
  M_HANDOFF,
  M_OTHERS,
  M_BUSY,
  M_CLAIM,
  M_GRANT,
  M_REFUSE,
  M_REPORTED,
  M_KINDS
};
enum { ROUNDS = 2048 };

static int tag_of(int kind, unsigned round) { return kind + M_KINDS * (int)(round % ROUNDS); }

/* A zero-byte message: nothing to keep alive, so the request is released at once (a message to
 * a stuck or unreachable rank may never complete). */
static rt_code post(rt_watchdog *w, int dest, int kind, unsigned round, rt_status *st) {
  static const char none = 0;
  MPI_Request req;
  RT_MPI_CHECK(st, MPI_Isend(&none, 0, MPI_BYTE, dest, tag_of(kind, round), w->comm, &req));
  RT_MPI_CHECK(st, MPI_Request_free(&req));
  return RT_OK;
}

rt_code rt_watchdog_init(rt_watchdog *w, MPI_Comm comm, double timeout, rt_status *st) {
  memset(w, 0, sizeof *w);
  w->comm = MPI_COMM_NULL;
  if (timeout <= 0) return RT_OK;
  w->timeout = timeout;
  w->window = timeout < 1.0 ? timeout : 1.0;
  RT_MPI_CHECK(st, MPI_Comm_rank(comm, &w->rank));
  RT_MPI_CHECK(st, MPI_Comm_size(comm, &w->ranks));
  w->asked = calloc((size_t)w->ranks * 3, 1);
  if (!w->asked)
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the watchdog's tables for %d ranks",
                      w->ranks);
  w->answer = w->asked + w->ranks;
  w->tried = w->answer + w->ranks;
  RT_MPI_CHECK(st, MPI_Comm_dup(comm, &w->comm));
  return RT_OK;
}

void rt_watchdog_free(rt_watchdog *w) {
  if (w->comm != MPI_COMM_NULL) (void)MPI_Comm_free(&w->comm);
  free(w->asked);
  w->asked = w->answer = w->tried = NULL;
}

int rt_watchdog_silent(const rt_watchdog *w, int r) {
  return w->asked && r >= 0 && r < w->ranks && w->asked[r] && !w->answer[r];
}

rt_code rt_watchdog_serve(rt_watchdog *w, rt_status *st) {
  if (w->comm == MPI_COMM_NULL) return RT_OK;
  for (;;) {
    int flag = 0;
    MPI_Status s;
    RT_MPI_CHECK(st, MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, w->comm, &flag, &s));
    if (!flag) return RT_OK;
    char none;
    RT_MPI_CHECK(st,
                 MPI_Recv(&none, 0, MPI_BYTE, s.MPI_SOURCE, s.MPI_TAG, w->comm, MPI_STATUS_IGNORE));
    const int from = s.MPI_SOURCE, kind = s.MPI_TAG % M_KINDS;
    const unsigned round = (unsigned)(s.MPI_TAG / M_KINDS);
    const int current = round == w->round % ROUNDS;
    rt_code rc = RT_OK;
    switch (kind) {
      case M_QUERY: {
        const int answer = w->doing == RT_WD_HANDOFF ? M_HANDOFF
                           : w->doing == RT_WD_BUSY  ? M_BUSY
                                                     : M_OTHERS;
        rc = post(w, from, answer, round, st);
        break;
      }
      case M_HANDOFF:
      case M_OTHERS:
      case M_BUSY:
        if (w->phase == PH_ASKING && current && w->asked[from])
          w->answer[from] = (unsigned char)kind;
        break;
      case M_CLAIM:
        rc = post(w, from, w->granted ? M_REFUSE : M_GRANT, round, st);
        w->granted = 1;
        break;
      case M_REPORTED: w->reported = 1; break;
      default: /* M_GRANT, M_REFUSE */
        if (w->phase == PH_CLAIMING && current && from == w->arbiter) w->verdict = kind;
        break;
    }
    if (rc) return rc;
  }
}

static void refuse(rt_watchdog *w, double now) {
  w->phase = PH_REFUSED;
  w->deadline = now + 2 * w->timeout;
}

/* Sends the claim to the lowest rank not yet tried that is not silent to this one (itself
 * included: then it decides at once). With nobody left to ask, this rank reports. */
static rt_code claim(rt_watchdog *w, double now, rt_wd_reason *report, rt_status *st) {
  int arbiter = -1;
  for (int r = 0; r < w->ranks && arbiter < 0; ++r)
    if (!w->tried[r] && !rt_watchdog_silent(w, r)) arbiter = r;
  if (arbiter < 0) {
    *report = (rt_wd_reason)w->reason;
    return RT_OK;
  }
  if (arbiter == w->rank) {
    if (w->granted) {
      refuse(w, now);
    } else {
      w->granted = 1;
      *report = (rt_wd_reason)w->reason;
    }
    return RT_OK;
  }
  w->arbiter = arbiter;
  w->verdict = 0;
  w->phase = PH_CLAIMING;
  w->deadline = now + w->timeout;
  return post(w, arbiter, M_CLAIM, w->round, st);
}

static rt_code ask(rt_watchdog *w, double now, void (*depends)(void *, unsigned char *), void *user,
                   rt_status *st) {
  w->round++;
  memset(w->asked, 0, (size_t)w->ranks * 2); /* asked and answer */
  depends(user, w->asked);
  w->asked[w->rank] = 0;
  for (int r = 0; r < w->ranks; ++r)
    if (w->asked[r]) {
      rt_code rc;
      RT_TRY(rc, post(w, r, M_QUERY, w->round, st));
    }
  w->phase = PH_ASKING;
  w->deadline = now + w->window;
  return RT_OK;
}

/* The round is over: claim, or defer to the ranks that answered. */
static rt_code decide(rt_watchdog *w, double now, double idle, rt_wd_reason *report,
                      rt_status *st) {
  int silent = 0, working = 0;
  for (int r = 0; r < w->ranks; ++r) {
    silent |= rt_watchdog_silent(w, r);
    working |= w->answer[r] == M_HANDOFF || w->answer[r] == M_BUSY;
  }
  const int overdue = idle >= 3 * w->timeout;
  const int now_claim =
      w->doing == RT_WD_VOTE ? !working && (silent || overdue) : silent || overdue;
  if (!now_claim) {
    w->phase = PH_DEFERRED;
    w->deadline = now + w->timeout;
    return RT_OK;
  }
  w->reason = silent ? RT_WD_SILENT : RT_WD_UNRESOLVED;
  memset(w->tried, 0, (size_t)w->ranks);
  return claim(w, now, report, st);
}

/* This rank reports: it tells every other rank, so that none reports too should the CLI's abort
 * be slow to end the job or never end it (after a network partition it waits for the outer time
 * limit). The notices get the answer window to leave; one that cannot (to an unreachable rank)
 * is abandoned. */
static void announce(rt_watchdog *w) {
  static const char none = 0;
  MPI_Request *sends = malloc((size_t)w->ranks * sizeof *sends);
  if (!sends) return; /* the others' refusal or deferral still holds for a while */
  for (int r = 0; r < w->ranks; ++r)
    if (r == w->rank ||
        MPI_Isend(&none, 0, MPI_BYTE, r, tag_of(M_REPORTED, 0), w->comm, &sends[r]) != MPI_SUCCESS)
      sends[r] = MPI_REQUEST_NULL;
  const double until = MPI_Wtime() + w->window;
  int done = 0;
  while (MPI_Testall(w->ranks, sends, &done, MPI_STATUSES_IGNORE) == MPI_SUCCESS && !done &&
         MPI_Wtime() < until) {
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
  for (int r = 0; r < w->ranks; ++r)
    if (sends[r] != MPI_REQUEST_NULL) (void)MPI_Request_free(&sends[r]);
  free(sends);
}

static rt_code step(rt_watchdog *w, double idle, void (*depends)(void *, unsigned char *),
                    void *user, rt_wd_reason *report, rt_status *st) {
  if (idle <= w->timeout) { /* something arrived since: start afresh */
    w->phase = PH_IDLE;
    return RT_OK;
  }
  const double now = MPI_Wtime();
  switch (w->phase) {
    case PH_IDLE: return ask(w, now, depends, user, st);
    case PH_ASKING: {
      int all = 1;
      for (int r = 0; r < w->ranks; ++r) all &= !rt_watchdog_silent(w, r);
      return all || now >= w->deadline ? decide(w, now, idle, report, st) : RT_OK;
    }
    case PH_DEFERRED: return now >= w->deadline ? ask(w, now, depends, user, st) : RT_OK;
    case PH_CLAIMING:
      if (w->verdict == M_GRANT) {
        *report = (rt_wd_reason)w->reason;
      } else if (w->verdict == M_REFUSE) {
        refuse(w, now);
      } else if (now >= w->deadline) { /* the arbiter does not answer: the next one */
        w->tried[w->arbiter] = 1;
        return claim(w, now, report, st);
      }
      return RT_OK;
    default: /* PH_REFUSED */
      if (now >= w->deadline) *report = RT_WD_REFUSED;
      return RT_OK;
  }
}

rt_code rt_watchdog_step(rt_watchdog *w, rt_wd_doing doing, double idle,
                         void (*depends)(void *user, unsigned char *flags), void *user,
                         rt_wd_reason *report, rt_status *st) {
  *report = RT_WD_NONE;
  w->doing = doing;
  if (w->comm == MPI_COMM_NULL || w->reported) return RT_OK; /* another rank reports */
  rt_code rc = step(w, idle, depends, user, report, st);
  if (rc == RT_OK && *report != RT_WD_NONE) announce(w);
  return rc;
}
