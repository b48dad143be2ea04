/* CUDA backend, the pieces several families share (declared in rt_cuda_internal.h), all issued on
 * the slot's stream: row-major products (gemm.cu: one fmaf chain per element,
 * the same bits alone and in a group of any size); the softmax cross-entropy kernels, one thread per row with classes in index
 * order exactly like the CPU loop (training: per-row loss -log(rt_loss_probability(p_y)) and
 * (P - Y) / rows; evaluation: log-loss and first arg-max), used by logistic and mlp; the squared-
 * error residual kernel of linear sgd and the mlp's regression output; the bias-gradient column
 * sums (rows in index order, like the CPU); the labels check; and the launch geometry helpers. */
#include "rt_cuda.h"

#include <math.h>

#include <math_constants.h>

#include "row_math.cuh"
#include "rt_cuda_internal.h"
#include "scalar_math.h"

namespace {

constexpr int kMaxElemBlocks = 4096; /* the optimizer kernel strides beyond this */

/* ---- Kernels --------------------------------------------------------------------------------- */

/* Training: one thread per row (rt_softmax_xent_row, shared with fused groups). */
__global__ void softmax_xent_kernel(float *z, const float *b, const float *y, int rows, int c,
                                    float inv_rows, double *row_loss) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  rt_softmax_xent_row(z + (size_t)i * (size_t)c, b, y, i, c, inv_rows, &row_loss[i]);
}

/* Evaluation: probabilities, arg-max (first maximum wins, as on the CPU) and
 * -log(rt_loss_probability(p_y)) as rt_cpu_evaluate_shard() computes them. */
__global__ void eval_rows_kernel(float *z, const float *b, const float *y, int rows, int c,
                                 double *row_loss, double *row_hit) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  float *zi = z + (size_t)i * (size_t)c;
  rt_softmax_row(zi, b, c);
  int label = 0;
  if (!rt_label_of(y, i, c, &label)) {
    row_loss[i] = CUDART_NAN;
    row_hit[i] = 0.0;
    return;
  }
  int best = 0;
  for (int k = 1; k < c; ++k)
    if (zi[k] > zi[best]) best = k;
  row_hit[i] = best == label ? 1.0 : 0.0;
  const float p = zi[label];
  row_loss[i] = -log((double)rt_loss_probability(p));
}

/* Bias gradient: column sums of G over the rows in index order (the CPU's loop order). */
__global__ void bias_grad_kernel(const float *g, int rows, int c, float *gb) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= c) return;
  gb[k] = rt_column_sum(g, rows, c, k);
}

/* linear_gradient() / the mlp's squared-error output: e = (e + b) - y in float, per-row loss
 * 0.5 e^2 in double, e / rows in place. b may be NULL (no intercept: + 0.0f, as the CPU). */
__global__ void residual_kernel(float *e, const float *b, const float *y, int rows, float inv_rows,
                                double *row_loss) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  rt_residual_row(e, b, y, i, inv_rows, &row_loss[i]);
}

/* ---- Host helpers ---------------------------------------------------------------------------- */

/* Blocks covering n threads; n <= INT_MAX is checked before any launch. */
int blocks_for(size_t n, int threads) {
  const size_t b = (n + (size_t)threads - 1) / (size_t)threads;
  return b == 0 ? 1 : (int)b;
}

/* For the grid-stride kernels. */
int capped_blocks_for(size_t n, int threads) {
  const int b = blocks_for(n, threads);
  return b > kMaxElemBlocks ? kMaxElemBlocks : b;
}

} /* namespace */

/* ---- Shared pieces of the families ------------------------------------------------------- */

int rt_cuda_elem_blocks(size_t n) { return capped_blocks_for(n, kRtElemThreads); }

int rt_cuda_row_blocks(int rows) { return rows > 0 ? (rows + kRowThreads - 1) / kRowThreads : 1; }

rt_code rt_cuda_needs_labels(const rt_model_spec *spec, int has_labels, rt_status *st) {
  if (has_labels) return RT_OK;
  return rt_model_refuse(st, RT_ERR_DATA, spec, "needs labels, the device shard has none");
}

rt_code rt_cuda_rm_sgemm(rt_cuda_slot *slot, int ta, int tb, int m, int n, int k, const float *a,
                         const float *b, float *c, rt_status *st) {
  return rt_cuda_rm_sgemm_batched(slot, ta, tb, m, n, k, a, 0, b, 0, c, 0, 1, st);
}

rt_code rt_cuda_rm_sgemm_batched(rt_cuda_slot *slot, int ta, int tb, int m, int n, int k,
                                 const float *a, long long sa, const float *b, long long sb,
                                 float *c, long long sc, int count, rt_status *st) {
  /* The product is column-major: a row-major matrix is its column-major transpose, so compute
   * C^T (n x m) = op(B)^T op(A)^T with the stored matrices as they are; batch i on a + i sa,
   * b + i sb, c + i sc (floats). */
  return rt_cuda_gemm_issue(slot->stream, tb, ta, n, m, k, b, tb ? k : n, sb, a, ta ? m : k, sa, c,
                            n, sc, count, st);
}

rt_code rt_cuda_softmax_xent(rt_cuda_slot *slot, float *z, const float *b, const float *y, int rows,
                             int c, double *row_loss, rt_status *st) {
  softmax_xent_kernel<<<blocks_for((size_t)rows, kRowThreads), kRowThreads, 0, slot->stream>>>(
      z, b, y, rows, c, 1.0f / (float)rows, row_loss);
  RT_CUDA_CHECK_LAUNCH(st);
  return RT_OK;
}

rt_code rt_cuda_softmax_eval(rt_cuda_slot *slot, float *z, const float *b, const float *y, int rows,
                             int c, double *loss, double *hit, rt_status *st) {
  eval_rows_kernel<<<blocks_for((size_t)rows, kRowThreads), kRowThreads, 0, slot->stream>>>(
      z, b, y, rows, c, loss, hit);
  RT_CUDA_CHECK_LAUNCH(st);
  return RT_OK;
}

rt_code rt_cuda_column_sums(rt_cuda_slot *slot, const float *g, int rows, int c, float *gb,
                            rt_status *st) {
  bias_grad_kernel<<<blocks_for((size_t)c, kRtElemThreads), kRtElemThreads, 0, slot->stream>>>(
      g, rows, c, gb);
  RT_CUDA_CHECK_LAUNCH(st);
  return RT_OK;
}

rt_code rt_cuda_residual(rt_cuda_slot *slot, float *e, const float *b, const float *y, int rows,
                         double *row_loss, rt_status *st) {
  residual_kernel<<<rt_cuda_row_blocks(rows), kRowThreads, 0, slot->stream>>>(
      e, b, y, rows, 1.0f / (float)rows, row_loss);
  RT_CUDA_CHECK_LAUNCH(st);
  return RT_OK;
}
