/* The families' one sgemm call (fused_gemm.h): row-major products stated column-major; whether
 * this process's BLAS may fuse. */
#include "fused_gemm.h"

#include <cblas.h>
#include <string.h>
#include <threads.h>

/* OpenBLAS cores established to compute a column the same wherever it lies (fused_gemm.h). */
static const char *const established_cores[] = {"SkylakeX", "Cooperlake"};

static int fusion_on;
static once_flag fusion_once = ONCE_FLAG_INIT;

static void decide_fusion(void) {
  const char *core = rt_gemm_blas_core();
  for (size_t i = 0; i < sizeof established_cores / sizeof *established_cores; ++i)
    if (strcmp(core, established_cores[i]) == 0) fusion_on = 1;
}

const char *rt_gemm_blas_core(void) {
  const char *core = openblas_get_corename();
  return core ? core : "unknown";
}

int rt_gemm_fusion_established(void) {
  call_once(&fusion_once, decide_fusion);
  return fusion_on;
}

void rt_gemm_rowmajor(int trans_a, int trans_b, size_t rows, size_t n, size_t k, const float *a,
                      size_t lda, const float *b, size_t ldb, float *c, size_t ldc) {
  /* Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T over the same memory. */
  cblas_sgemm(CblasColMajor, trans_b ? CblasTrans : CblasNoTrans,
              trans_a ? CblasTrans : CblasNoTrans, (int)n, (int)rows, (int)k, 1.0f, b, (int)ldb, a,
              (int)lda, 0.0f, c, (int)ldc);
}

void rt_gemm_members(int trans_a, size_t rows, size_t k, const float *a, size_t lda, const float *b,
                     size_t w, size_t m, float *c) {
  const size_t ld = m * w;
  if (m == 1 || rt_gemm_fusable(rows, w, k)) {
    rt_gemm_rowmajor(trans_a, 0, rows, ld, k, a, lda, b, ld, c, ld);
    return;
  }
  for (size_t i = 0; i < m; ++i)
    rt_gemm_rowmajor(trans_a, 0, rows, w, k, a, lda, b + i * w, ld, c + i * w, ld);
}
