#include "backend_select.h"

#include <stdio.h>
#include <string.h>

#include "agree.h"
#if RINGTRAIN_WITH_CUDA
#include "rt_cuda.h"
#endif

rt_code rt_backend_select(const rt_config *cfg, MPI_Comm comm, int *use_cuda, char *note,
                          size_t note_cap, rt_status *st) {
  *use_cuda = 0;
  note[0] = '\0';
  const char *want = cfg->run.backend;
  if (strcmp(want, "cpu") == 0) return RT_OK;
#if RINGTRAIN_WITH_CUDA
  int rank = 0, count = 0;
  RT_MPI_CHECK(st, MPI_Comm_rank(comm, &rank));
  rt_code rc = rt_cuda_device_count(&count, st);
  if (rc == RT_OK && count == 0 && strcmp(want, "cuda") == 0)
    rc = rt_fail(st, RT_ERR_CONFIG, "%s: run.backend is cuda, but rank %d sees no CUDA device: %s",
                 cfg->path, rank, rt_cuda_no_device_reason());
  if ((rc = rt_agree(comm, rc, st))) return rc;
  int mine = count > 0, all = 0;
  RT_MPI_CHECK(st, MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm));
  if (all) {
    *use_cuda = 1;
    return RT_OK;
  }
  snprintf(note, note_cap, "backend auto: not every rank sees a CUDA device (%s); training on the CPU",
           count == 0 ? rt_cuda_no_device_reason() : "another rank has none");
  return RT_OK;
#else
  (void)comm;
  if (strcmp(want, "cuda") == 0)
    return rt_fail(st, RT_ERR_CONFIG, "%s: run.backend is cuda, but this ringtrain was built without "
                   "the CUDA backend (configure with -DRINGTRAIN_CUDA=ON where nvcc and NCCL exist)",
                   cfg->path);
  (void)note_cap; /* a CPU-only build: auto simply means the CPU */
  return RT_OK;
#endif
}
