/* Scalar formulas shared by the CPU backend and the CUDA kernels, so that both compute the same
 * learning rate, the same bias corrections and the same per-element updates (same operations in
 * the same order). Everything is static inline and compiles for host and device under nvcc. */
#ifndef RINGTRAIN_SCALAR_MATH_H
#define RINGTRAIN_SCALAR_MATH_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "ringtrain/config.h"
#include "rng.h" /* RT_HOST_DEVICE */

#define RT_PI 3.14159265358979323846

/* Squared Euclidean norm of a float vector, in double, as 8 interleaved partial sums (lane j adds
 * features j, j+8, j+16, ... in order) combined pairwise at the end. A single running sum is a
 * chain of dependent additions the compiler may not reorder; 8 independent lanes let it use SIMD
 * and keep the result a fixed function of the input on every backend. */
#define RT_SQ_NORM_LANES 8
static inline RT_HOST_DEVICE double rt_sq_norm(const float *a, size_t d) {
  double s[RT_SQ_NORM_LANES] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  size_t f = 0;
  for (; f + RT_SQ_NORM_LANES <= d; f += RT_SQ_NORM_LANES)
    for (size_t j = 0; j < RT_SQ_NORM_LANES; ++j) s[j] += (double)a[f + j] * (double)a[f + j];
  for (size_t j = 0; f + j < d; ++j) s[j] += (double)a[f + j] * (double)a[f + j];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* Learning rate at optimizer step `step` (0-based). total_steps = total_batches * passes (used by
 * cosine only; a total of 0 or 1 keeps the rate constant). */
static inline RT_HOST_DEVICE double rt_lr_at(double lr, rt_schedule schedule, double decay,
                                             uint64_t step, uint64_t total_steps) {
  switch (schedule) {
    case RT_SCHED_CONSTANT: return lr;
    case RT_SCHED_INVERSE_TIME: return lr / (1.0 + decay * (double)step);
    case RT_SCHED_COSINE: {
      const double total = (double)total_steps;
      if (total <= 1.0) return lr;
      double t = (double)step / total;
      if (t > 1.0) t = 1.0;
      return 0.5 * lr * (1.0 + cos(RT_PI * t));
    }
  }
  return lr;
}

/* Adam bias correction 1 / (1 - beta^(step+1)) for the update with 0-based index `step`, in
 * double; callers round it to float once per step. */
static inline RT_HOST_DEVICE double rt_adam_bias_correction(double beta, uint64_t step) {
  const double t = (double)step + 1.0;
  return 1.0 / (1.0 - pow(beta, t));
}

/* x, or 0 when x is subnormal (|x| < FLT_MIN). Deltas that small change no weight, but a product
 * over them runs through the CPU's slow subnormal path (measured: a saturated softmax's deltas made
 * the gradient sgemm several times slower); flushing them keeps every product on the fast path.
 * NaN and infinities pass. */
static inline RT_HOST_DEVICE float rt_flush_subnormal(float x) {
  return (x < 1.17549435e-38f && x > -1.17549435e-38f) ? 0.0f : x;
}

/* A weight's gradient with its L2 decay added, g + l2 * w: the one formula every CPU loop
 * (rt_add_l2, the optimizer's member rows) and CUDA kernel that applies L2 uses. */
static inline RT_HOST_DEVICE float rt_l2_decayed(float g, float w, float l2) { return g + l2 * w; }

/* 2^-56: (1 - b2) g^2 stays normal above it for b2 up to 1 - 2^-14. */
#define RT_ADAM_GRAD_FLOOR 1.387778780781445675529539585113525390625e-17f

/* One parameter's Adam update; c1, c2 are the float-rounded bias corrections. */
static inline RT_HOST_DEVICE void rt_adam_update(float *p, float *m, float *v, float g, float lr,
                                                 float b1, float b2, float c1, float c2,
                                                 float eps) {
  /* Nothing subnormal on the way: a weight whose gradient stays 0 (a dead relu unit) decays its
   * first moment geometrically through the subnormal range, and a gradient below 2^-56 makes
   * (1 - b2) g^2 subnormal; both ran every update on the CPU's slow path (measured: a relu MLP
   * at Adam's higher learning rates 2.1x slower, scripts/bench_sweeps.sh). So a gradient below
   * RT_ADAM_GRAD_FLOOR counts as 0 and moments below FLT_MIN are flushed; what that changes of a
   * weight is below lr * 2^-56 / eps. */
  const float gs = (g < RT_ADAM_GRAD_FLOOR && g > -RT_ADAM_GRAD_FLOOR) ? 0.0f : g;
  *m = rt_flush_subnormal(b1 * *m + (1.0f - b1) * gs);
  *v = rt_flush_subnormal(b2 * *v + (1.0f - b2) * gs * gs);
  *p -= lr * (*m * c1) / (sqrtf(*v * c2) + eps);
}

/* One parameter's SGD-with-momentum update (velocity in *u). */
static inline RT_HOST_DEVICE void rt_momentum_update(float *p, float *u, float g, float lr,
                                                     float mu) {
  *u = rt_flush_subnormal(mu * *u + g); /* as Adam's moments */
  *p -= lr * *u;
}

/* The probability of the true class as the log-loss uses it: tiny values are clamped to 1e-30 so
 * the loss stays finite, but a NaN stays NaN so that a diverged model is noticed. */
static inline RT_HOST_DEVICE float rt_loss_probability(float p) {
  return p >= 1e-30f ? p : (p != p ? p : 1e-30f);
}

/* One parameter's plain SGD update. */
static inline RT_HOST_DEVICE void rt_sgd_update(float *p, float g, float lr) { *p -= lr * g; }

#endif
