/* Node and device facts for rt-gpu-query: versions, device properties and the device-to-device
 * copy bandwidth (see rt_cuda_query.h). */
#include "rt_cuda_query.h"

#include <string.h>

#include "rt_cuda_internal.h"

extern "C" void rt_cuda_versions(int *driver, int *runtime) {
  *driver = 0;
  *runtime = 0;
  if (cudaDriverGetVersion(driver) != cudaSuccess) *driver = 0;
  if (cudaRuntimeGetVersion(runtime) != cudaSuccess) *runtime = 0;
  (void)cudaGetLastError(); /* neither is an error for the caller */
}

extern "C" rt_code rt_cuda_library_versions(int *cublas, int *nccl, rt_status *st) {
  int major = 0, minor = 0, patch = 0;
  RT_CUBLAS_CHECK(st, cublasGetProperty(MAJOR_VERSION, &major));
  RT_CUBLAS_CHECK(st, cublasGetProperty(MINOR_VERSION, &minor));
  RT_CUBLAS_CHECK(st, cublasGetProperty(PATCH_LEVEL, &patch));
  *cublas = major * 10000 + minor * 100 + patch;
  RT_NCCL_CHECK(st, ncclGetVersion(nccl));
  return RT_OK;
}

extern "C" rt_code rt_cuda_device_info_of(int device, rt_cuda_device_info *out, rt_status *st) {
  memset(out, 0, sizeof *out);
  RT_CUDA_CHECK(st,
                cudaDeviceGetAttribute(&out->cc_major, cudaDevAttrComputeCapabilityMajor, device));
  RT_CUDA_CHECK(st,
                cudaDeviceGetAttribute(&out->cc_minor, cudaDevAttrComputeCapabilityMinor, device));
  RT_CUDA_CHECK(
      st, cudaDeviceGetAttribute(&out->multiprocessors, cudaDevAttrMultiProcessorCount, device));
  RT_CUDA_CHECK(
      st, cudaDeviceGetAttribute(&out->memory_bus_bits, cudaDevAttrGlobalMemoryBusWidth, device));
  RT_CUDA_CHECK(st,
                cudaDeviceGetAttribute(&out->memory_clock_khz, cudaDevAttrMemoryClockRate, device));
  cudaDeviceProp prop;
  RT_CUDA_CHECK(st, cudaGetDeviceProperties(&prop, device));
  snprintf(out->name, sizeof out->name, "%s", prop.name);
  RT_CUDA_CHECK(st, cudaDeviceGetPCIBusId(out->pci_bus_id, (int)sizeof out->pci_bus_id, device));
  RT_CUDA_CHECK(st, cudaSetDevice(device));
  RT_CUDA_CHECK(st, cudaMemGetInfo(&out->free_bytes, &out->total_bytes));
  return RT_OK;
}

/* The timed copies, with everything they allocate freed by the caller. */
static rt_code time_copies(void *dst, void *src, size_t bytes, int repeats, cudaStream_t s,
                           cudaEvent_t t0, cudaEvent_t t1, float *best_ms, rt_status *st) {
  RT_CUDA_CHECK(st, cudaMemsetAsync(dst, 0, bytes, s));
  RT_CUDA_CHECK(st, cudaMemsetAsync(src, 1, bytes, s));
  RT_CUDA_CHECK(st, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s)); /* warm-up */
  *best_ms = 0.0f;
  for (int r = 0; r < repeats; ++r) {
    RT_CUDA_CHECK(st, cudaEventRecord(t0, s));
    RT_CUDA_CHECK(st, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s));
    RT_CUDA_CHECK(st, cudaEventRecord(t1, s));
    RT_CUDA_CHECK(st, cudaEventSynchronize(t1));
    float ms = 0.0f;
    RT_CUDA_CHECK(st, cudaEventElapsedTime(&ms, t0, t1));
    if (r == 0 || ms < *best_ms) *best_ms = ms;
  }
  return RT_OK;
}

extern "C" rt_code rt_cuda_copy_bandwidth(int device, size_t bytes, int repeats,
                                          double *bytes_per_second, rt_status *st) {
  *bytes_per_second = 0.0;
  if (bytes == 0 || repeats < 1)
    return rt_fail(st, RT_ERR_USAGE, "rt_cuda_copy_bandwidth: %zu bytes, %d repeats", bytes,
                   repeats);
  RT_CUDA_CHECK(st, cudaSetDevice(device));
  void *src = NULL, *dst = NULL;
  cudaStream_t s = NULL;
  cudaEvent_t t0 = NULL, t1 = NULL;
  rt_code rc = RT_CUDA_CALL(st, cudaMalloc(&src, bytes));
  if (rc == RT_OK) rc = RT_CUDA_CALL(st, cudaMalloc(&dst, bytes));
  if (rc == RT_OK) rc = RT_CUDA_CALL(st, cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  if (rc == RT_OK) rc = RT_CUDA_CALL(st, cudaEventCreate(&t0));
  if (rc == RT_OK) rc = RT_CUDA_CALL(st, cudaEventCreate(&t1));
  float best_ms = 0.0f;
  if (rc == RT_OK) rc = time_copies(dst, src, bytes, repeats, s, t0, t1, &best_ms, st);
  if (rc == RT_OK && best_ms <= 0.0f)
    rc = RT_FAIL_AT(st, RT_ERR_INTERNAL, "a %zu-byte device copy took no measurable time", bytes);
  if (rc == RT_OK) *bytes_per_second = 2.0 * (double)bytes / (1e-3 * (double)best_ms);
  if (t1) (void)cudaEventDestroy(t1);
  if (t0) (void)cudaEventDestroy(t0);
  if (s) (void)cudaStreamDestroy(s);
  if (dst) (void)cudaFree(dst);
  if (src) (void)cudaFree(src);
  return rc;
}
