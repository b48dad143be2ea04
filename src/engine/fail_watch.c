/* Failure notices and the origin-aware agreement (fail_watch.h). */
#include "fail_watch.h"

#include <stdlib.h>
#include <string.h>

#include "agree.h"

enum { NOTICE_TAG = 4242 };

static int is_origin(rt_code rc) { return rc != RT_OK && rc != RT_ERR_PEER; }

rt_code rt_fail_watch_open(rt_fail_watch *w, MPI_Comm comm, rt_status *st) {
  memset(w, 0, sizeof *w);
  w->ctl = MPI_COMM_NULL;
  w->recv = MPI_REQUEST_NULL;
  w->failed_rank = -1;
  RT_MPI_CHECK(st, MPI_Comm_rank(comm, &w->rank));
  RT_MPI_CHECK(st, MPI_Comm_size(comm, &w->ranks));
  w->notice_out = w->rank;
  if (w->ranks == 1) return RT_OK;
  w->sends = malloc((size_t)w->ranks * sizeof *w->sends);
  rt_code rc =
      w->sends ? RT_OK : RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %d requests", w->ranks);
  if ((rc = rt_agree(comm, rc, st)) != RT_OK) {
    free(w->sends);
    w->sends = NULL;
    return rc;
  }
  for (int r = 0; r < w->ranks; ++r) w->sends[r] = MPI_REQUEST_NULL;
  int mrc = MPI_Comm_dup(comm, &w->ctl);
  if (mrc == MPI_SUCCESS)
    mrc = MPI_Irecv(&w->notice_in, 1, MPI_INT, MPI_ANY_SOURCE, NOTICE_TAG, w->ctl, &w->recv);
  if (mrc != MPI_SUCCESS) {
    if (w->ctl != MPI_COMM_NULL) (void)MPI_Comm_free(&w->ctl);
    free(w->sends);
    w->sends = NULL;
    return rt_mpi_fail(st, mrc, __FILE__, __LINE__,
                       "opening the failure notices (MPI_Comm_dup, MPI_Irecv)");
  }
  return RT_OK;
}

/* One notice arrived in notice_in: count it and post the receive for the next. */
static rt_code take_notice(rt_fail_watch *w, rt_status *st) {
  w->received++;
  if (w->failed_rank < 0) w->failed_rank = w->notice_in;
  RT_MPI_CHECK(st,
               MPI_Irecv(&w->notice_in, 1, MPI_INT, MPI_ANY_SOURCE, NOTICE_TAG, w->ctl, &w->recv));
  return RT_OK;
}

rt_code rt_fail_watch_poll(rt_fail_watch *w, rt_status *st) {
  while (w->recv != MPI_REQUEST_NULL) {
    int done = 0;
    RT_MPI_CHECK(st, MPI_Test(&w->recv, &done, MPI_STATUS_IGNORE));
    if (!done) break;
    rt_code rc;
    RT_TRY(rc, take_notice(w, st));
  }
  if (w->failed_rank >= 0) return rt_fail(st, RT_ERR_PEER, "rank %d failed", w->failed_rank);
  return RT_OK;
}

void rt_fail_watch_raise(rt_fail_watch *w) {
  if (w->ctl == MPI_COMM_NULL || w->raised) return;
  w->raised = 1;
  for (int r = 0; r < w->ranks; ++r)
    if (r != w->rank &&
        MPI_Isend(&w->notice_out, 1, MPI_INT, r, NOTICE_TAG, w->ctl, &w->sends[r]) != MPI_SUCCESS)
      w->sends[r] = MPI_REQUEST_NULL; /* best effort: the agreement still tells that rank */
}

rt_code rt_fail_watch_agree(rt_fail_watch *w, rt_code rc, rt_status *st) {
  if (w->ctl == MPI_COMM_NULL) return rc;
  if (is_origin(rc)) rt_fail_watch_raise(w);
  return rt_agree_origin(w->ctl, rc, st);
}

rt_code rt_fail_watch_close(rt_fail_watch *w, rt_status *st) {
  if (w->ctl == MPI_COMM_NULL) {
    free(w->sends);
    w->sends = NULL;
    return RT_OK;
  }
  rt_code rc = RT_OK;
  int mine = w->raised, expected = 0;
  int *raised = malloc((size_t)w->ranks * sizeof *raised);
  int mrc = raised ? MPI_Allgather(&mine, 1, MPI_INT, raised, 1, MPI_INT, w->ctl) : MPI_ERR_NO_MEM;
  if (mrc != MPI_SUCCESS)
    rc = rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Allgather(failure notices)");
  for (int r = 0; rc == RT_OK && r < w->ranks; ++r) expected += r != w->rank && raised[r];
  free(raised);
  /* Every rank receives exactly the notices sent to it, so every send completes. */
  while (rc == RT_OK && w->received < expected) {
    mrc = MPI_Wait(&w->recv, MPI_STATUS_IGNORE);
    rc = mrc == MPI_SUCCESS ? take_notice(w, st)
                            : rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Wait(failure notice)");
  }
  if (w->recv != MPI_REQUEST_NULL && MPI_Cancel(&w->recv) == MPI_SUCCESS)
    (void)MPI_Wait(&w->recv, MPI_STATUS_IGNORE);
  if (rc == RT_OK) {
    mrc = MPI_Waitall(w->ranks, w->sends, MPI_STATUSES_IGNORE);
    if (mrc != MPI_SUCCESS)
      rc = rt_mpi_fail(st, mrc, __FILE__, __LINE__, "MPI_Waitall(failure notices)");
  }
  (void)MPI_Comm_free(&w->ctl);
  free(w->sends);
  w->sends = NULL;
  return rc;
}

rt_code rt_agree_origin(MPI_Comm comm, rt_code rc, rt_status *st) {
  int rank = 0, size = 1;
  RT_MPI_CHECK(st, MPI_Comm_rank(comm, &rank));
  RT_MPI_CHECK(st, MPI_Comm_size(comm, &size));
  int mine[2] = {is_origin(rc) ? rank : size, rc != RT_OK ? rank : size}, first[2] = {size, size};
  RT_MPI_CHECK(st, MPI_Allreduce(mine, first, 2, MPI_INT, MPI_MIN, comm));
  if (first[1] == size) return RT_OK;
  const int root = first[0] < size ? first[0] : first[1];
  int code = (int)rc;
  char message[RT_MESSAGE_MAX] = "";
  if (rank == root && st) memcpy(message, st->message, sizeof message);
  RT_MPI_CHECK(st, MPI_Bcast(&code, 1, MPI_INT, root, comm));
  RT_MPI_CHECK(st, MPI_Bcast(message, (int)sizeof message, MPI_CHAR, root, comm));
  message[RT_MESSAGE_MAX - 1] = '\0';
  if (rank == root || is_origin(rc)) return rc; /* an origin keeps its own error */
  if (first[0] < size && rt_exit_code((rt_code)code) == 1)
    return rt_fail(st, RT_ERR_PEER, "rank %d failed: %s", root, message);
  if (st) {
    st->code = (rt_code)code;
    memcpy(st->message, message, sizeof message);
  }
  return (rt_code)code;
}
