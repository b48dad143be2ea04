/* Why CUDA cannot be used on this rank, in words: a missing driver, a driver too old for this
 * ringtrain's CUDA runtime, the toolkit's stub driver, no visible device, or another start-up
 * failure, with the versions that explain it ("the NVIDIA driver supports CUDA 12.4, this
 * ringtrain needs CUDA 13.0"). cuda/device.cu classifies what cudaGetDeviceCount returned and
 * formats the reason here, so the wording is tested on any machine (tests/unit/test_cuda_health.c). */
#ifndef RINGTRAIN_CUDA_HEALTH_H
#define RINGTRAIN_CUDA_HEALTH_H

#include <stddef.h>

typedef enum rt_cuda_health {
  RT_CUDA_USABLE = 0,  /* at least one device */
  RT_CUDA_NO_DRIVER,   /* no NVIDIA driver (libcuda) at all */
  RT_CUDA_OLD_DRIVER,  /* the driver supports an older CUDA than the runtime needs */
  RT_CUDA_STUB_DRIVER, /* the toolkit's stub libcuda was loaded instead of a driver */
  RT_CUDA_NO_DEVICE,   /* a driver, but no device visible */
  RT_CUDA_START_FAILED /* any other failure of the driver's start-up */
} rt_cuda_health;

/* "12.4" from a CUDA version number (12040); "none" for 0. */
const char *rt_cuda_version_text(int version, char *buf, size_t cap);

/* The reason as one line without a trailing period. driver_version / runtime_version as
 * cudaDriverGetVersion / cudaRuntimeGetVersion give them (0: unknown or no driver); error_name and
 * error_text: the CUDA error (may be NULL for RT_CUDA_NO_DEVICE without an error); visible: the
 * value of CUDA_VISIBLE_DEVICES, or NULL when it is not set. */
void rt_cuda_health_text(rt_cuda_health health, int driver_version, int runtime_version,
                         const char *error_name, const char *error_text, const char *visible,
                         char *buf, size_t cap);

#endif
