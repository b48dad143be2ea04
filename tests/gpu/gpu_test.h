/* The start every GPU test program shares: exit 77 (ctest: skipped) with the reason when this
 * machine has no usable CUDA device, otherwise device 0 made current. scripts/gpu/validate.sh runs
 * these programs directly and counts 77 as a failure there. */
#ifndef RINGTRAIN_TESTS_GPU_TEST_H
#define RINGTRAIN_TESTS_GPU_TEST_H

#include <stdio.h>

#include "rt_cuda.h"

/* 0: go on; 77: skip (said why); 1: failure (said why). */
static inline int gpu_test_start(void) {
  rt_status st;
  rt_status_clear(&st);
  int count = 0;
  if (rt_cuda_device_count(&count, &st) != RT_OK) {
    fprintf(stderr, "rt_cuda_device_count: %s\n", st.message);
    return 1;
  }
  if (count == 0) {
    printf("SKIPPED: no usable CUDA device: %s\n", rt_cuda_no_device_reason());
    return 77;
  }
  char problem[512];
  rt_cuda_use_device(0, problem, sizeof problem);
  if (problem[0]) {
    fprintf(stderr, "%s\n", problem);
    return 1;
  }
  return 0;
}

#endif
