/* The CUDA matrix product (cuda/gemm.cu) on the device, for the shapes the families issue
 * (rt_cuda_gemm_cases): the device's C, in both forms (registers, shared memory), equals the host
 * emulation bit for bit (so
 * tests/gpu/test_gemm_emulated.c's guarantees hold on the GPU: one fmaf chain per element), and
 * a product alone equals the same product inside its batch, which is what makes a model's bytes
 * the same in a fused group of any size and alone. Whether cuBLAS's strided-batched sgemm does
 * the same is printed, not asserted (on an H200 it did not). Speed is rt-gpu-query --gemm's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "gemm.h"
#include "gpu_test.h"

static void test_device_products(void **unused) {
  (void)unused;
  size_t n = 0;
  const char *const *names = NULL;
  const rt_cuda_gemm_case *cases = rt_cuda_gemm_cases(&n, &names);
  assert_true(n >= 6);
  int broken = 0;
  for (size_t i = 0; i < n; ++i) {
    rt_status st;
    rt_status_clear(&st);
    rt_cuda_gemm_result r;
    if (rt_cuda_gemm_check(&cases[i], 0, &r, &st) != RT_OK)
      fail_msg("%s: %s", names[i], st.message);
    print_message(
        "%s: device = emulation %s (shared-memory form %s), alone = in the batch %s (cuBLAS: %s)\n",
        names[i], r.same_as_emulation ? "yes" : "NO", r.tiled_same_as_emulation ? "yes" : "NO",
        r.batch_independent ? "yes" : "NO", r.cublas_independent ? "yes" : "no");
    if (!r.same_as_emulation || !r.tiled_same_as_emulation || !r.batch_independent) broken++;
  }
  assert_int_equal(broken, 0);
}

int main(void) {
  const int start = gpu_test_start();
  if (start != 0) return start;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_device_products)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
