/* The backend's one matrix product (cuda/gemm.cu), in plain C so that a host test can drive its
 * host emulation: column-major C_i (m x n) = op(A_i) op(B_i) for i < count, cuBLAS's
 * sgemmStridedBatched with alpha 1 and beta 0. Every element of C is ONE chain of fmaf over
 * p = 0 .. k-1 in order, starting from +0, whatever the launch shape, the tile a thread computes,
 * the batch count or the operands' strides: a model's products are the same bits in a fused group
 * of any size, in a group of one and on its own slot. cuBLAS chooses kernels (split-K among them)
 * by shape and batch count, and on an H200 its batched and single products differed in the last
 * bits (docs/gpu-validation.md, 2026-12-04). */
#ifndef RINGTRAIN_CUDA_GEMM_H
#define RINGTRAIN_CUDA_GEMM_H

#include "ringtrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rt_cuda_gemm {
  int ta, tb;  /* op(A) = A^T when ta (A stored k x m), op(B) = B^T when tb (B stored n x k) */
  int m, n, k; /* C is m x n; the inner dimension k */
  const float *a;
  int lda;
  long long sa; /* floats from A_i to A_i+1; 0 shares A */
  const float *b;
  int ldb;
  long long sb;
  float *c;
  int ldc;
  long long sc;
  int count; /* products */
} rt_cuda_gemm;

/* A launch shape: each thread of a 16 x 16 block computes tm x tn elements of C (tm, tn in
 * {1, 2, 4}); gx x gy x gz blocks (gy and gz capped at 65,535; the kernel strides beyond).
 * tiled: the shared-memory form (gemm_tiled.cu: 64 x 64 blocks, tm = tn = 4); else registers
 * only (gemm.cu). Every shape gives the same bits. */
typedef struct rt_cuda_gemm_shape {
  int tm, tn;
  unsigned gx, gy, gz;
  int tiled;
} rt_cuda_gemm_shape;

/* The shape rt_cuda_gemm_launch uses for g: the largest tiles that still give the device enough
 * blocks. Any shape gives the same bits. */
rt_cuda_gemm_shape rt_cuda_gemm_shape_of(const rt_cuda_gemm *g);
/* The same shape with the given tiles (tm, tn in {1, 2, 4}; others are taken as 1). */
rt_cuda_gemm_shape rt_cuda_gemm_shape_with(const rt_cuda_gemm *g, int tm, int tn);
/* The shared-memory form's shape for g. rt_cuda_gemm_launch uses it when the environment says
 * RINGTRAIN_CUDA_GEMM=tiled and C has at least 32 rows and 32 columns; the register form
 * otherwise (the default until a GPU run has measured which is faster, rt-gpu-query --gemm). */
rt_cuda_gemm_shape rt_cuda_gemm_shape_tiled(const rt_cuda_gemm *g);
/* Runs the kernel's own per-thread code on the host, block by block and thread by thread over the
 * whole launch of `shape`, on host pointers: the arithmetic and the indexing of the device
 * product, checked on machines without a GPU (tests/gpu/test_gemm_emulated.c). */
void rt_cuda_gemm_emulate(const rt_cuda_gemm *g, rt_cuda_gemm_shape shape);

/* One product case on the current device (cuda/gemm_check.cu): A, B random, full matrices
 * (lda = ta ? k : m, ldb = tb ? n : k, ldc = m), B shared by all products when share_b (the
 * batch's rows in a fused group). */
typedef struct rt_cuda_gemm_case {
  int ta, tb, m, n, k, count, share_b;
} rt_cuda_gemm_case;
typedef struct rt_cuda_gemm_result {
  int same_as_emulation;  /* the device's C equals the host emulation's, bit for bit */
  int batch_independent;  /* the device's last product alone (count 1) equals it in the batch */
  int cublas_independent; /* the same for cublasSgemmStridedBatched (a fact, not a requirement) */
  int tiled_same_as_emulation; /* the same for the shared-memory form */
  double ours_seconds;         /* the register form: best of `repeats` (0 when repeats is 0) */
  double tiled_seconds;        /* the shared-memory form */
  double cublas_seconds;       /* the same product by cublasSgemmStridedBatched, fp32 */
} rt_cuda_gemm_result;
/* Runs the case on the device, checks it against the emulation and alone, and with repeats > 0
 * times it against cuBLAS (events around 10 launches back to back, best of `repeats`, after a
 * warm-up). RT_ERR_USAGE for a bad case, RT_ERR_NOMEM, RT_ERR_INTERNAL on a CUDA or cuBLAS
 * failure; a mismatch is not an error (the result says so). */
rt_code rt_cuda_gemm_check(const rt_cuda_gemm_case *c, int repeats, rt_cuda_gemm_result *out,
                           rt_status *st);
/* The products the families issue for the benchmark sweeps (softmax 784 -> 10 at batch 256 over
 * 64 members, forward and gradient, and a model alone; MLP 784-128-10 at batch 128 over 16, both
 * layers' forward and weight gradient and the delta back; k-means k = 10 at batch 1024 over 16;
 * a tall gradient): *count cases, each with a name. */
const rt_cuda_gemm_case *rt_cuda_gemm_cases(size_t *count, const char *const **names);

#ifdef __cplusplus
}
#endif

#endif
