/* CUDA backend, devices and memory: how many devices there are and, when none, why
 * (src/engine/cuda_health.h wording); a device's PCI bus id; selecting a device and checking that it can
 * run this library's kernels; the streams the engine creates (create, synchronise, order one after
 * another); free device memory and the "does it fit" check every allocation of the backend makes
 * first; and the launch counter behind rt_cuda_launch_count. Nothing here knows about models:
 * shards are shards.cu, slots slots.cu, the per-batch driver compute.cu. */
#include "rt_cuda.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rt_cuda_internal.h"

extern "C" {
#include "cuda_health.h" /* the wording of CUDA start-up failures */
}

std::atomic<unsigned long long> rt_cuda_launches{0};

namespace {

/* "1.2 GiB", "35.0 MiB", "12.0 KiB", "100 bytes". */
const char *format_bytes(size_t b, char *buf, size_t cap) {
  const double v = (double)b;
  if (v >= 1024.0 * 1024.0 * 1024.0) snprintf(buf, cap, "%.1f GiB", v / (1024.0 * 1024.0 * 1024.0));
  else if (v >= 1024.0 * 1024.0) snprintf(buf, cap, "%.1f MiB", v / (1024.0 * 1024.0));
  else if (v >= 1024.0) snprintf(buf, cap, "%.1f KiB", v / 1024.0);
  else snprintf(buf, cap, "%zu bytes", b);
  return buf;
}

} /* namespace */

/* ---- Devices and memory ---------------------------------------------------------------------- */

/* Why the last rt_cuda_device_count found no device (src/engine/cuda_health.h). */
static char no_device_reason[384] = "no CUDA device is visible";

extern "C" const char *rt_cuda_no_device_reason(void) { return no_device_reason; }

extern "C" rt_code rt_cuda_device_count(int *count, rt_status *st) {
  (void)st; /* every failure of CUDA's start-up is an answer here, not an error */
  *count = 0;
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaSuccess && n > 0) {
    *count = n;
    return RT_OK;
  }
  int driver = 0, runtime = 0;
  /* cudaDriverGetVersion gives 0 without a driver; neither call needs a device. */
  if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
  if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
  (void)cudaGetLastError(); /* clear what the calls above left */
  rt_cuda_health h = RT_CUDA_START_FAILED;
  if (e == cudaSuccess || e == cudaErrorNoDevice) h = RT_CUDA_NO_DEVICE;
  else if (e == cudaErrorInsufficientDriver && driver == 0) h = RT_CUDA_NO_DRIVER;
  else if (e == cudaErrorInsufficientDriver && driver < runtime) h = RT_CUDA_OLD_DRIVER;
  else if (e == cudaErrorStubLibrary) h = RT_CUDA_STUB_DRIVER;
  rt_cuda_health_text(h, driver, runtime, e == cudaSuccess ? nullptr : cudaGetErrorName(e),
                      cudaGetErrorString(e), getenv("CUDA_VISIBLE_DEVICES"), no_device_reason,
                      sizeof no_device_reason);
  return RT_OK;
}

extern "C" rt_code rt_cuda_device_bus_id(int device, char *buf, size_t cap, rt_status *st) {
  if (cap < 13 || cap > (size_t)INT_MAX)
    return rt_fail(st, RT_ERR_INTERNAL, "rt_cuda_device_bus_id: a buffer of %zu bytes", cap);
  RT_CUDA_CHECK(st, cudaDeviceGetPCIBusId(buf, (int)cap, device));
  return RT_OK;
}

extern "C" void rt_cuda_use_device(int device, char *problem, size_t cap) {
  problem[0] = '\0';
  cudaError_t e = cudaSetDevice(device);
  if (e != cudaSuccess) {
    snprintf(problem, cap, "device %d cannot be used: %s (%s)", device, cudaGetErrorString(e),
             cudaGetErrorName(e));
    (void)cudaGetLastError();
    return;
  }
  /* Loading one of our kernels fails when the fat binary has nothing this device can run. */
  cudaFuncAttributes attr;
  e = cudaFuncGetAttributes(&attr, rt_cuda_probe_kernel());
  if (e == cudaSuccess) return;
  (void)cudaGetLastError();
  cudaDeviceProp p;
  memset(&p, 0, sizeof p);
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
    (void)cudaGetLastError();
    snprintf(p.name, sizeof p.name, "unknown");
  }
  snprintf(problem, cap,
           "device %d (%s, compute capability %d.%d) cannot run this ringtrain's "
           "kernels: %s (%s)",
           device, p.name, p.major, p.minor, cudaGetErrorString(e), cudaGetErrorName(e));
}

extern "C" uint64_t rt_cuda_launch_count(void) {
  return (uint64_t)rt_cuda_launches.load(std::memory_order_relaxed);
}

extern "C" rt_code rt_cuda_stream_create(void **stream, rt_status *st) {
  cudaStream_t s = NULL;
  RT_CUDA_CHECK(st, cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  *stream = (void *)s;
  return RT_OK;
}

extern "C" rt_code rt_cuda_stream_sync(void *stream, rt_status *st) {
  RT_CUDA_CHECK(st, cudaStreamSynchronize((cudaStream_t)stream));
  return RT_OK;
}

extern "C" void rt_cuda_stream_destroy(void *stream) {
  if (stream) (void)cudaStreamDestroy((cudaStream_t)stream);
}

extern "C" rt_code rt_cuda_stream_order(void *from_stream, void *to_stream, rt_status *st) {
  cudaEvent_t ev;
  RT_CUDA_CHECK(st, cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  cudaError_t e = cudaEventRecord(ev, (cudaStream_t)from_stream);
  if (e == cudaSuccess) e = cudaStreamWaitEvent((cudaStream_t)to_stream, ev, 0);
  /* Destroying a recorded event is safe: its resources are released once it completes. */
  const cudaError_t d = cudaEventDestroy(ev);
  RT_CUDA_CHECK(st, e);
  RT_CUDA_CHECK(st, d);
  return RT_OK;
}

extern "C" rt_code rt_cuda_mem_info(size_t *free_b, size_t *total_b, rt_status *st) {
  RT_CUDA_CHECK(st, cudaMemGetInfo(free_b, total_b));
  return RT_OK;
}

extern "C" rt_code rt_cuda_check_fits(size_t need_bytes, const char *what, rt_status *st) {
  int device = 0;
  size_t free_b = 0, total_b = 0;
  RT_CUDA_CHECK(st, cudaGetDevice(&device));
  RT_CUDA_CHECK(st, cudaMemGetInfo(&free_b, &total_b));
  if (need_bytes <= free_b) return RT_OK;
  char have[32], need[32], miss[32];
  return rt_fail(st, RT_ERR_NOMEM, "device %d has %s free, %s needs %s: %s missing", device,
                 format_bytes(free_b, have, sizeof have), what,
                 format_bytes(need_bytes, need, sizeof need),
                 format_bytes(need_bytes - free_b, miss, sizeof miss));
}
