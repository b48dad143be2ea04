/* cudaProfilerStart / cudaProfilerStop for rt_prof_capture (src/io/profile.c). */
#include "rt_profiler.h"

#include <cuda_profiler_api.h>
#include <cuda_runtime.h>

extern "C" void rt_cuda_profiler_capture(int on) {
  const cudaError_t e = on ? cudaProfilerStart() : cudaProfilerStop();
  if (e != cudaSuccess) (void)cudaGetLastError(); /* not sticky: clear it, profiling is optional */
}
