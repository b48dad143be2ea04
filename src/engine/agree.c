/* Status agreement across ranks (agree.h): an MPI failure turned into a status (rt_mpi_fail), and
 * rt_agree, which gives every rank the error of the lowest failing rank so that all stop together
 * and rank 0 prints it once. */
#include "agree.h"

#include <string.h>

rt_code rt_mpi_fail(rt_status *st, int mpi_rc, const char *file, int line, const char *what) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(mpi_rc, text, &len) != MPI_SUCCESS) strcpy(text, "unknown MPI error");
  return rt_fail_at(st, RT_ERR_MPI, file, line, "%s failed: %s", what, text);
}

rt_code rt_agree(MPI_Comm comm, rt_code rc, rt_status *st) {
  int rank = 0, size = 1;
  RT_MPI_CHECK(st, MPI_Comm_rank(comm, &rank));
  RT_MPI_CHECK(st, MPI_Comm_size(comm, &size));
  int mine = rc == RT_OK ? size : rank, first = size;
  RT_MPI_CHECK(st, MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm));
  if (first == size) return RT_OK;
  int code = (int)rc;
  char message[RT_MESSAGE_MAX];
  if (rank == first) memcpy(message, st->message, sizeof message);
  RT_MPI_CHECK(st, MPI_Bcast(&code, 1, MPI_INT, first, comm));
  RT_MPI_CHECK(st, MPI_Bcast(message, (int)sizeof message, MPI_CHAR, first, comm));
  st->code = (rt_code)code;
  memcpy(st->message, message, sizeof message);
  st->message[RT_MESSAGE_MAX - 1] = '\0';
  return st->code;
}
