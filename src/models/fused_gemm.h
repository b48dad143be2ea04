/* When a fused GEMM gives every member the bits of its own GEMM: the one rule for the families'
 * group operations (model.h). A member's columns (output columns of the product, one block per
 * member) of ONE sgemm over the members' concatenated weights equal those of the member's own
 * sgemm only when both calls take OpenBLAS's regular packed path, which computes each output
 * element by the same micro-kernel arithmetic wherever its column lies. OpenBLAS 0.3.21 on
 * SkylakeX (AVX-512) sends a product with M N K <= 100^3 to its small-matrix kernels instead, whose
 * per-element results depend on the shape and the position (measured here: 2940 of 8448 small
 * shapes differ from the fused product, up to M N K = 960000; none of 1632 above the bound; newer
 * OpenBLAS also forwards M = 1 or N = 1 to gemv, which this bound excludes only when small). So a
 * member is fused only when its OWN product is above the bound (the fused one, larger, is then
 * too); a member below it gets its own sgemm, exactly the solo call. tests/unit/test_group_*.c
 * check the rule against this build's BLAS and name it as the cause when it breaks. */
#ifndef RINGTRAIN_FUSED_GEMM_H
#define RINGTRAIN_FUSED_GEMM_H

#include <stddef.h>

/* OpenBLAS's small-matrix bound on M N K (interface/gemm.c, SMALL_MATRIX_OPT). */
#define RT_FUSED_GEMM_MIN_MNK 1000000.0

/* Whether a member's product of m x n x k (its own shape) may come from a fused sgemm. */
static inline int rt_gemm_fusable(size_t m, size_t n, size_t k) {
  return (double)m * (double)n * (double)k > RT_FUSED_GEMM_MIN_MNK;
}

#endif
