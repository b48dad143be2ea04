/* When a fused GEMM gives a member the bits of its own GEMM: the one rule for the families' group
 * operations (model.h), and the one way the families call sgemm. A group multiplies the batch once
 * by all members' weights side by side; a member's columns of that product must be exactly what
 * its own product, the solo call, gives. OpenBLAS computes an output element the same way
 * wherever its column lies only on its regular (packed, blocked) path. Version 0.3.21 on AVX-512
 * has two others, which sum in other orders:
 *  - the "direct" kernel, for row-major, untransposed, alpha 1, beta 0 calls with M N K below
 *    28 * 512^2 when one thread runs (e.g. a softmax model's 128 x 784 x 10 forward product, but
 *    not the fused 128 x 784 x 640): rt_gemm_rowmajor never takes it, because it states every
 *    row-major product as the column-major product of the transposes (what OpenBLAS's row-major
 *    interface does itself on the regular path), which the direct kernel does not serve;
 *  - the small-matrix kernels, for M N K <= 100^3 in any layout (measured: 2940 of 8448 small
 *    shapes differ from the fused product, some in 2 elements of 72, so no probe on sample numbers
 *    can tell; none of 1632 shapes above the bound): a member whose own product is that small is
 *    not fused; it gets its own call, the solo call exactly.
 * So a member's bits are its solo bits either way. That holds for OpenBLAS's SkylakeX kernels,
 * which its cores SkylakeX and Cooperlake run (0.3.21 picks them on AVX-512 CPUs: measured on an
 * Intel Xeon, SkylakeX, and on an AMD EPYC of Zen 4, Cooperlake). Its Haswell and Zen kernels
 * (AVX2 CPUs, or OPENBLAS_CORETYPE=Haswell on any) do not: measured on that AMD EPYC, every member
 * of every shape tried differed from its own product, down to 128 rows x 8 inner x 16 columns. So products are
 * fused only where the BLAS in use is established (rt_gemm_fusion_established, decided once per
 * process); elsewhere every member gets its solo call, the groups still sharing every batch.
 * tests/unit/test_fused_gemm.c checks the rule on this build's BLAS and names the BLAS as the
 * cause when it breaks. */
#ifndef RINGTRAIN_FUSED_GEMM_H
#define RINGTRAIN_FUSED_GEMM_H

#include <stddef.h>

/* OpenBLAS's small-matrix bound on M N K (interface/gemm.c, SMALL_MATRIX_OPT). */
#define RT_FUSED_GEMM_MIN_MNK 1000000.0

/* The BLAS core this process runs (OpenBLAS's openblas_get_corename: "SkylakeX", "Haswell", ...). */
const char *rt_gemm_blas_core(void);

/* Whether the BLAS in use is one on which a column of a product is computed the same wherever it
 * lies (on the regular path): OpenBLAS's cores SkylakeX and Cooperlake (fused_gemm.c holds the
 * list, the one place it lives). */
int rt_gemm_fusion_established(void);

/* Whether a product rows x n with inner dimension k is above OpenBLAS's small-matrix bound. */
static inline int rt_gemm_above_small_bound(size_t rows, size_t n, size_t k) {
  return (double)rows * (double)n * (double)k > RT_FUSED_GEMM_MIN_MNK;
}

/* Whether a member whose own product is rows x n with inner dimension k may take its columns from
 * a fused product (one with more columns, the member's among them). */
static inline int rt_gemm_fusable(size_t rows, size_t n, size_t k) {
  return rt_gemm_fusion_established() && rt_gemm_above_small_bound(rows, n, k);
}

/* Every family product: C (rows x n, row stride ldc) = op(A) op(B), alpha 1, beta 0, row-major
 * operands (trans_a: A stored k x rows with stride lda, else rows x k; trans_b: B stored n x k,
 * else k x n), computed as the column-major C^T = op(B)^T op(A)^T. */
void rt_gemm_rowmajor(int trans_a, int trans_b, size_t rows, size_t n, size_t k, const float *a,
                      size_t lda, const float *b, size_t ldb, float *c, size_t ldc);

/* The product of m members of equal width w side by side, the one rule of the fused gradient
 * families: C (rows x m w, row stride m w) = op(A) B with A shared (trans_a: stored k x rows, else
 * rows x k, stride lda) and B (k x m w, stride m w) the members' columns. ONE product when a
 * member's own shape fuses (rt_gemm_fusable) or m is 1, else each member's solo product into its
 * own columns: a member's bits are those it has alone either way. */
void rt_gemm_members(int trans_a, size_t rows, size_t k, const float *a, size_t lda, const float *b,
                     size_t w, size_t m, float *c);

#endif
