/* What a node has: driver, runtime and library versions, each device's name, memory and memory
 * system, and the device-to-device copy bandwidth measured on it (the memory-bandwidth floor the
 * throughput figures of scripts/gpu/validate.sh are compared with). Used by rt-gpu-query
 * (src/tools/gpu_query.c). Plain C interface; whether any device is visible at all, and why not,
 * is rt_cuda_device_count / rt_cuda_no_device_reason (rt_cuda.h). */
#ifndef RINGTRAIN_RT_CUDA_QUERY_H
#define RINGTRAIN_RT_CUDA_QUERY_H

#include <stddef.h>

#include "ringtrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Versions as CUDA encodes them: 1000 * major + 10 * minor (13000 = 13.0). driver is the newest
 * CUDA version the installed driver supports, 0 when no driver could be loaded; runtime is the
 * libcudart that was loaded. Never fails. */
void rt_cuda_versions(int *driver, int *runtime);

/* The versions of the loaded cuBLAS (major * 10000 + minor * 100 + patch) and NCCL (as
 * ncclGetVersion gives it, e.g. 22809 for 2.28.9). */
rt_code rt_cuda_library_versions(int *cublas, int *nccl, rt_status *st);

typedef struct rt_cuda_device_info {
  char name[256];
  char pci_bus_id[32];
  int cc_major, cc_minor;
  int multiprocessors;
  int memory_bus_bits;  /* global memory bus width */
  int memory_clock_khz; /* peak memory clock */
  size_t total_bytes;   /* device memory */
  size_t free_bytes;    /* free now (creates the device's primary context) */
} rt_cuda_device_info;

/* Both functions make `device` the calling thread's current device and leave it so (they serve
 * rt-gpu-query; a training process chooses its device with rt_cuda_choose_device and must not call
 * them after it). */
rt_code rt_cuda_device_info_of(int device, rt_cuda_device_info *out, rt_status *st);

/* Device-to-device copy bandwidth of `device`: one cudaMemcpyAsync of `bytes` between two device
 * buffers, timed with events, the best of `repeats` after one warm-up copy. Bytes per second
 * count every byte read and every byte written (2 * bytes per copy), as STREAM's copy does. */
rt_code rt_cuda_copy_bandwidth(int device, size_t bytes, int repeats, double *bytes_per_second,
                               rt_status *st);

#ifdef __cplusplus
}
#endif
#endif
