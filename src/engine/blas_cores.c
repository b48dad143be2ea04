/* rt_blas_cores_note (blas_cores.h): every rank's OpenBLAS core gathered and compared. */
#include "blas_cores.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "fused_gemm.h"

enum { CORE_NAME = 32 };

rt_code rt_blas_cores_note(MPI_Comm comm, char *note, size_t cap, rt_status *st) {
  int ranks = 1;
  RT_MPI_CHECK(st, MPI_Comm_size(comm, &ranks));
  char mine[CORE_NAME] = {0};
  snprintf(mine, sizeof mine, "%s", rt_gemm_blas_core());
  char *all = calloc((size_t)ranks, CORE_NAME);
  if (!all) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot gather the BLAS cores of %d ranks", ranks);
  const int err = MPI_Allgather(mine, CORE_NAME, MPI_CHAR, all, CORE_NAME, MPI_CHAR, comm);
  if (err != MPI_SUCCESS) {
    free(all);
    return rt_mpi_fail(st, err, __FILE__, __LINE__, "MPI_Allgather(BLAS cores)");
  }
  for (int r = 1; r < ranks; ++r) {
    const char *other = all + (size_t)r * CORE_NAME;
    if (strncmp(other, all, CORE_NAME) == 0) continue;
    const size_t used = strlen(note);
    if (used < cap)
      snprintf(note + used, cap - used,
               "%sranks run different OpenBLAS cores (rank 0 %.*s, rank %d %.*s): model bytes "
               "depend on the rank layout; set OPENBLAS_CORETYPE alike on every node",
               used ? "; " : "", CORE_NAME, all, r, CORE_NAME, other);
    break;
  }
  free(all);
  return RT_OK;
}
