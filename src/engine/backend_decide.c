/* The backend decision table (backend_decide.h). */
#include "backend_decide.h"

#include <stdio.h>
#include <string.h>

rt_code rt_backend_decide(const rt_backend_facts *f, int *use_cuda, char *note, size_t note_cap,
                          rt_status *st) {
  *use_cuda = 0;
  if (note_cap) note[0] = '\0';
  const int want_cuda = strcmp(f->want, "cuda") == 0;
  if (strcmp(f->want, "cpu") == 0) return RT_OK;
  if (!f->built) {
    if (!want_cuda) return RT_OK; /* a CPU-only build: auto simply means the CPU */
    return rt_fail(
        st, RT_ERR_CONFIG,
        "%s: run.backend is cuda, but this ringtrain was built without "
        "the CUDA backend (configure with -DRINGTRAIN_CUDA=ON where nvcc and NCCL exist)",
        f->config_path);
  }
  if (want_cuda) {
    if (f->device_problem)
      return rt_fail(st, RT_ERR_CONFIG, "%s: run.backend is cuda, but %s", f->config_path,
                     f->device_problem);
    *use_cuda = 1;
    return RT_OK;
  }
  if (f->device_problem)
    snprintf(note, note_cap, "backend auto: %s; training on the CPU", f->device_problem);
  else *use_cuda = 1;
  return RT_OK;
}
