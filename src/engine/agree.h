/* Collective agreement on a status: after a phase that may fail on some ranks, every rank learns
 * the error of the lowest failing rank, so all ranks stop together and rank 0 can print it once. */
#ifndef RINGTRAIN_AGREE_H
#define RINGTRAIN_AGREE_H

#include <mpi.h>

#include "ringtrain/status.h"

/* `rc` is this rank's result of the phase; returns the agreed code and fills st everywhere. */
rt_code rt_agree(MPI_Comm comm, rt_code rc, rt_status *st);

/* Wraps an MPI call's return value into a status with file:line. */
#define RT_MPI_CHECK(st, call)                                         \
  do {                                                                 \
    int rt_mpi_rc_ = (call);                                           \
    if (rt_mpi_rc_ != MPI_SUCCESS)                                     \
      return rt_mpi_fail((st), rt_mpi_rc_, __FILE__, __LINE__, #call); \
  } while (0)

rt_code rt_mpi_fail(rt_status *st, int mpi_rc, const char *file, int line, const char *what);

#endif
