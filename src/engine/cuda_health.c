/* Wording of CUDA start-up failures (cuda_health.h). */
#include "cuda_health.h"

#include <stdio.h>

const char *rt_cuda_version_text(int version, char *buf, size_t cap) {
  if (version <= 0) snprintf(buf, cap, "none");
  else snprintf(buf, cap, "%d.%d", version / 1000, (version % 1000) / 10);
  return buf;
}

void rt_cuda_health_text(rt_cuda_health health, int driver_version, int runtime_version,
                         const char *error_name, const char *error_text, const char *visible,
                         char *buf, size_t cap) {
  char drv[16], rtv[16], err[160] = "";
  rt_cuda_version_text(driver_version, drv, sizeof drv);
  rt_cuda_version_text(runtime_version, rtv, sizeof rtv);
  if (error_name) snprintf(err, sizeof err, " (%s)", error_name);
  switch (health) {
    case RT_CUDA_USABLE:
      snprintf(buf, cap, "CUDA is usable (driver supports CUDA %s, runtime %s)", drv, rtv);
      break;
    case RT_CUDA_NO_DRIVER:
      snprintf(buf, cap,
               "no NVIDIA driver is installed (libcuda.so.1 not found; this ringtrain needs "
               "one that supports CUDA %s)%s",
               rtv, err);
      break;
    case RT_CUDA_OLD_DRIVER:
      snprintf(buf, cap,
               "the NVIDIA driver supports CUDA %s, this ringtrain needs CUDA %s: update the "
               "driver%s",
               drv, rtv, err);
      break;
    case RT_CUDA_STUB_DRIVER:
      snprintf(buf, cap,
               "the libcuda.so found is the CUDA toolkit's stub, not an NVIDIA driver (a "
               "stubs folder on LD_LIBRARY_PATH?)%s",
               err);
      break;
    case RT_CUDA_NO_DEVICE:
      if (visible)
        snprintf(buf, cap,
                 "the NVIDIA driver (CUDA %s) sees no device with CUDA_VISIBLE_DEVICES=\"%s\"%s",
                 drv, visible, err);
      else snprintf(buf, cap, "the NVIDIA driver (CUDA %s) sees no device%s", drv, err);
      break;
    case RT_CUDA_START_FAILED:
    default:
      snprintf(buf, cap, "CUDA could not start: %s%s (driver supports CUDA %s, runtime %s)",
               error_text ? error_text : "unknown error", err, drv, rtv);
      break;
  }
}
