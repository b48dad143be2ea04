/* When a fused GEMM gives a member the bits of its own GEMM: the one rule for the families' group
 * operations (model.h). A group multiplies the batch once by all members' weights side by side
 * (the members' output columns next to each other); a member's columns of that product must be
 * exactly what its own product, the solo call, gives. BLAS libraries do not promise it: OpenBLAS
 * 0.3.21 on AVX-512 computes the solo call of a small product (M N K up to about 100^3) with its
 * small-matrix kernels and some others (e.g. N = 1 or 3 at 512 x 784) with its direct kernels,
 * which sum in another order than the blocked path the larger fused call takes (measured: about a
 * third of the small shapes differ; fused placements agree with each other). Which kernel a BLAS
 * picks depends on the call's shape, never on the numbers, so the rule is a probe per shape: the
 * first time a shape is asked, the fused and the solo call are run on fixed pseudo-random numbers
 * and compared (the member's block at the first and at the last place of the fused columns), and
 * the answer is remembered. A member whose shape is not fusable gets its own call, the solo call
 * exactly; the bits are the solo bits either way. tests/unit/test_fused_gemm.c checks the probe
 * against the real products and names the BLAS when a shape the benchmarks need is not fusable. */
#ifndef RINGTRAIN_FUSED_GEMM_H
#define RINGTRAIN_FUSED_GEMM_H

#include <stddef.h>

/* The product C = op(A) op(B), row-major, as the family calls it alone: C is rows x n, the inner
 * dimension k; trans_a: A is stored k x rows (X^T G), else rows x k; trans_b: B is stored n x k
 * (centres), else k x n. Whether member columns of the same product over n_fused columns (the
 * member's B side by side with others', leading dimension n_fused (trans_b: stacked rows)) equal
 * the member's own product bit for bit. Probed once per shape and thread, then remembered; a
 * probe that cannot allocate answers 0 (the solo call is always right). */
int rt_gemm_fusable(int trans_a, int trans_b, size_t rows, size_t n, size_t k, size_t n_fused);

/* The same product as the families call it: C (ldc) = op(A) op(B) with alpha 1, beta 0. */
void rt_gemm_rowmajor(int trans_a, int trans_b, size_t rows, size_t n, size_t k, const float *a,
                      size_t lda, const float *b, size_t ldb, float *c, size_t ldc);

#endif
