/* The backend decision table and the list of features the CUDA engine lacks (backend_decide.h). */
#include "backend_decide.h"

#include <stdio.h>
#include <string.h>

#include "shared_pass.h"

const char *rt_cuda_missing_feature(const rt_config *cfg, int resuming, char *buf, size_t cap) {
  if (resuming) return "--resume";
  if (cfg->run.checkpoint_every > 0) return "run.checkpoint_every";
  if (cfg->run.eval_every_pass) return "run.eval_every_pass";
  if (cfg->sweep.early_terminate) return "sweep.early_terminate";
  for (size_t j = 1; j < cfg->model_count; ++j)
    for (size_t i = 0; i < j; ++i)
      if (rt_shares_statistics(&cfg->models[i], &cfg->models[j])) {
        snprintf(buf, cap,
                 "a shared statistics pass (exact linear models %zu and %zu differ only in alpha)",
                 i, j);
        return buf;
      }
  return NULL;
}

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
    if (f->missing)
      return rt_fail(st, RT_ERR_CONFIG,
                     "%s: run.backend is cuda, but %s is not supported on CUDA yet; "
                     "use run.backend: cpu (or auto)",
                     f->config_path, f->missing);
    if (f->device_problem)
      return rt_fail(st, RT_ERR_CONFIG, "%s: run.backend is cuda, but %s", f->config_path,
                     f->device_problem);
    *use_cuda = 1;
    return RT_OK;
  }
  if (f->device_problem)
    snprintf(note, note_cap, "backend auto: %s; training on the CPU", f->device_problem);
  else if (f->missing)
    snprintf(note, note_cap, "backend auto: %s is not supported on CUDA yet; training on the CPU",
             f->missing);
  else *use_cuda = 1;
  return RT_OK;
}
