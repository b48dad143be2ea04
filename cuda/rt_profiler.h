/* Profiler capture control for src/io/profile.c (rt_prof_capture): the CUDA side, callable from C.
 * Only built with the CUDA backend; src/io/profile.c calls it when RINGTRAIN_NVTX is set. */
#ifndef RINGTRAIN_RT_PROFILER_H
#define RINGTRAIN_RT_PROFILER_H

#ifdef __cplusplus
extern "C" {
#endif

/* on != 0: cudaProfilerStart, else cudaProfilerStop: the bounds of what a profiler run with a
 * cudaProfilerApi capture range records. Best effort: a failure (no device, no driver) is
 * cleared from the runtime's last-error state, so that it does not surface at the next checked
 * kernel launch, and otherwise ignored. */
void rt_cuda_profiler_capture(int on);

#ifdef __cplusplus
}
#endif
#endif
