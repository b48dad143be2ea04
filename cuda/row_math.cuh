/* The per-row and per-element device arithmetic that a model's solo kernels (compute.cu,
 * family_shared.cu) and a fused group's kernels (group.cu) share: one definition each, so a member
 * of a fused group computes every softmax row, bias-gradient column, batch loss and optimizer
 * element with exactly the instructions it would use alone. Only the matrix products differ in
 * how they are launched: one batched launch of cuda/gemm.cu for the group, a count of 1 alone,
 * the same bits (gemm.h; tests/gpu/test_gpu_groups.c checks the bytes). */
#ifndef RINGTRAIN_ROW_MATH_CUH
#define RINGTRAIN_ROW_MATH_CUH

#include <math_constants.h>

#include "rt_cuda_internal.h"
#include "scalar_math.h"

/* z += b, then softmax in place: the loop of logistic_probabilities() for one row. */
static __device__ __forceinline__ void rt_softmax_row(float *z, const float *b, int c) {
  float m = -CUDART_INF_F;
  for (int k = 0; k < c; ++k) {
    z[k] += b[k];
    if (z[k] > m) m = z[k];
  }
  float s = 0.0f;
  for (int k = 0; k < c; ++k) {
    z[k] = expf(z[k] - m);
    s += z[k];
  }
  const float inv = 1.0f / s;
  for (int k = 0; k < c; ++k) z[k] *= inv;
}

/* Labels come validated from the loaders; an out-of-range one still must not write out of
 * bounds here: it makes the row's loss NaN (the model diverges instead of corrupting memory). */
static __device__ __forceinline__ bool rt_label_of(const float *y, int i, int c, int *label) {
  const float v = y[i];
  if (!(v >= 0.0f && v < (float)c)) return false;
  *label = (int)v;
  return true;
}

/* Training row i: logits zi (c values) -> probabilities -> (P - Y) / rows in place (subnormal
 * deltas flushed to zero, rt_flush_subnormal); the row's loss -log(rt_loss_probability(p_y)) as
 * the CPU families compute it. */
static __device__ __forceinline__ void rt_softmax_xent_row(float *zi, const float *b,
                                                           const float *y, int i, int c,
                                                           float inv_rows, double *loss) {
  rt_softmax_row(zi, b, c);
  int label = 0;
  if (!rt_label_of(y, i, c, &label)) {
    *loss = CUDART_NAN;
    for (int k = 0; k < c; ++k) zi[k] *= inv_rows;
    return;
  }
  const float py = rt_loss_probability(zi[label]);
  *loss = -log((double)py);
  zi[label] -= 1.0f;
  for (int k = 0; k < c; ++k) zi[k] = rt_flush_subnormal(zi[k] * inv_rows);
}

/* Squared-error row i (linear sgd, the mlp's regression output): e_i = (e_i + b) - y_i in float,
 * the row's loss 0.5 e^2 in double, e_i / rows in place. b may be NULL (no intercept: + 0.0f, as
 * the CPU). */
static __device__ __forceinline__ void rt_residual_row(float *e, const float *b, const float *y,
                                                       int i, float inv_rows, double *loss) {
  const float bv = b ? b[0] : 0.0f;
  const float ei = e[i] + bv - y[i];
  *loss = 0.5 * (double)ei * (double)ei;
  e[i] = ei * inv_rows;
}

/* Column k of g (rows x c) summed over the rows in index order, in float (the CPU's bias-gradient
 * loop). */
static __device__ __forceinline__ float rt_column_sum(const float *g, int rows, int c, int k) {
  float s = 0.0f;
  for (int i = 0; i < rows; ++i) s += g[(size_t)i * (size_t)c + (size_t)k];
  return s;
}

/* One block (blockDim.x = sh's size, a power of two): the batch loss of `rows` per-row losses in
 * a fixed order, and divergence exactly like rt_cpu_integrate_shard():
 * diverged |= !isfinite(loss); pass_loss_sum += diverged ? NaN : loss. */
static __device__ __forceinline__ void rt_batch_loss_commit(const double *row_loss, int rows,
                                                            rt_state_header *h, double *sh) {
  const double loss = rt_fixed_sum(row_loss, rows, sh);
  if (threadIdx.x == 0) {
    if (!isfinite(loss)) h->diverged = 1;
    h->pass_loss_sum += h->diverged ? CUDART_NAN : loss;
  }
}

enum rt_opt_kind { RT_CUDA_OPT_SGD = 0, RT_CUDA_OPT_MOMENTUM = 1, RT_CUDA_OPT_ADAM = 2 };

/* What the optimizer of one model needs for one batch; the learning rate and the Adam bias
 * corrections are computed on the host in double exactly as src/models/optimizer.c does. */
struct rt_opt_args {
  int kind;
  float lr, b1, b2, c1, c2, eps, mu, l2;
  unsigned long long n;  /* parameters */
  unsigned long long nw; /* leading parameters that get L2 (the weights, not the bias) */
};

/* Linear sgd's L2 on the weights: alpha / train_rows (family_linear.cu). */
float rt_cuda_linear_ridge(const rt_model_spec *spec);

/* The optimizer arguments of one batch of `spec` at optimizer step `step` (compute.cu). */
rt_opt_args rt_cuda_opt_args(const rt_model_spec *spec, uint64_t step, float l2, size_t nw);

/* Parameter i of n: L2 folded in as g + l2 * w before the update, then the optimizer's step
 * (aux: the velocity, or Adam's m then v, each n floats). */
static __device__ __forceinline__ void rt_optimizer_element(const rt_opt_args &a, float *p,
                                                            float *aux, const float *g, size_t i) {
  float gi = g[i];
  if (a.l2 > 0.0f && i < a.nw) gi = rt_l2_decayed(gi, p[i], a.l2);
  switch (a.kind) {
    case RT_CUDA_OPT_ADAM:
      rt_adam_update(&p[i], &aux[i], &aux[a.n + i], gi, a.lr, a.b1, a.b2, a.c1, a.c2, a.eps);
      break;
    case RT_CUDA_OPT_MOMENTUM: rt_momentum_update(&p[i], &aux[i], gi, a.lr, a.mu); break;
    default: rt_sgd_update(&p[i], gi, a.lr); break;
  }
}

#endif
