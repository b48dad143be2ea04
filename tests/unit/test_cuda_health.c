/* Why CUDA cannot be used, in words (src/engine/cuda_health.h): a missing driver, a driver too old
 * for the runtime (both versions named), the stub driver, no device (with CUDA_VISIBLE_DEVICES when
 * it is set), any other start-up failure; never "no device" for a driver problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cuda_health.h"

static void versions(void **state) {
  (void)state;
  char b[16];
  assert_string_equal(rt_cuda_version_text(12040, b, sizeof b), "12.4");
  assert_string_equal(rt_cuda_version_text(13000, b, sizeof b), "13.0");
  assert_string_equal(rt_cuda_version_text(11080, b, sizeof b), "11.8");
  assert_string_equal(rt_cuda_version_text(0, b, sizeof b), "none");
}

static void the_reasons(void **state) {
  (void)state;
  char t[400];
  rt_cuda_health_text(RT_CUDA_OLD_DRIVER, 12040, 13000, "cudaErrorInsufficientDriver",
                      "CUDA driver version is insufficient for CUDA runtime version", NULL, t,
                      sizeof t);
  assert_string_equal(
      t,
      "the NVIDIA driver supports CUDA 12.4, this ringtrain needs CUDA 13.0: update the driver "
      "(cudaErrorInsufficientDriver)");
  rt_cuda_health_text(RT_CUDA_NO_DRIVER, 0, 13000, "cudaErrorInsufficientDriver", "x", NULL, t,
                      sizeof t);
  assert_string_equal(
      t,
      "no NVIDIA driver is installed (libcuda.so.1 not found; this ringtrain needs one that "
      "supports CUDA 13.0) (cudaErrorInsufficientDriver)");
  rt_cuda_health_text(RT_CUDA_STUB_DRIVER, 0, 13000, "cudaErrorStubLibrary", "x", NULL, t,
                      sizeof t);
  assert_non_null(strstr(t, "stub"));
  assert_null(strstr(t, "no device"));
  rt_cuda_health_text(RT_CUDA_NO_DEVICE, 13000, 13000, "cudaErrorNoDevice",
                      "no CUDA-capable device is detected", NULL, t, sizeof t);
  assert_string_equal(t, "the NVIDIA driver (CUDA 13.0) sees no device (cudaErrorNoDevice)");
  rt_cuda_health_text(RT_CUDA_NO_DEVICE, 13000, 13000, NULL, NULL, "", t, sizeof t);
  assert_string_equal(
      t, "the NVIDIA driver (CUDA 13.0) sees no device with CUDA_VISIBLE_DEVICES=\"\"");
  rt_cuda_health_text(RT_CUDA_START_FAILED, 13000, 13000, "cudaErrorSystemNotReady",
                      "system not yet initialized", NULL, t, sizeof t);
  assert_string_equal(
      t,
      "CUDA could not start: system not yet initialized (cudaErrorSystemNotReady) (driver "
      "supports CUDA 13.0, runtime 13.0)");
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(versions), cmocka_unit_test(the_reasons)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
