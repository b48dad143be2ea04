/* Whether every rank runs the same BLAS kernels: the CPU backend's bits depend on them
 * (src/models/fused_gemm.h: OpenBLAS's cores compute products in different orders), so a run
 * whose ranks run different cores (a mixed cluster, or OPENBLAS_CORETYPE set on some nodes only)
 * gives model bytes that depend on which rank integrated which shard. Such a run still trains;
 * rt_train says so in the run's note. */
#ifndef RINGTRAIN_BLAS_CORES_H
#define RINGTRAIN_BLAS_CORES_H

#include <mpi.h>
#include <stddef.h>

#include "ringtrain/status.h"

/* Collective over comm: when some rank's OpenBLAS core differs from rank 0's, appends to note
 * (cap bytes, NUL-terminated; "; " after what it holds) one sentence naming both cores and the
 * first such rank; otherwise leaves note as it is. Every rank gets the same note. */
rt_code rt_blas_cores_note(MPI_Comm comm, char *note, size_t cap, rt_status *st);

#endif
