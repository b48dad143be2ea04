/* What one MLP's batch is made of on the device, shared by the solo kernels (family_mlp.cu) and
 * the fused group kernels (group_mlp.cu): the shape of the network (layer widths, where each
 * layer's weights and bias sit in the parameters) and the element-wise arithmetic (bias plus
 * activation with its derivative, L2 on a weight, a delta times act'(z)), one definition each, so
 * a member of a fused group computes every element with exactly the instructions it would use
 * alone. Each step mirrors src/models/family_mlp.c. */
#ifndef RINGTRAIN_MLP_MATH_CUH
#define RINGTRAIN_MLP_MATH_CUH

#include "rt_cuda_internal.h"

#define RT_MLP_SQRT_2_OVER_PI 0.79788456080286535588f
#define RT_MLP_GELU_C 0.044715f

/* ---- Shape (host) -------------------------------------------------------------------------- */

static inline bool rt_mlp_regression(const rt_model_spec *spec) {
  return spec->hp.output == RT_OUTPUT_REGRESSION;
}

/* Weight layers: the hidden ones and the output. */
static inline size_t rt_mlp_layers(const rt_model_spec *spec) {
  return (size_t)spec->hp.hidden_count + 1;
}

/* Width of layer i: 0 = input (features), 1..H = hidden, H+1 = output. */
static inline size_t rt_mlp_width(const rt_model_spec *spec, size_t i) {
  const size_t h = (size_t)spec->hp.hidden_count;
  if (i == 0) return spec->problem.features;
  if (i <= h) return (size_t)spec->hp.hidden[i - 1];
  return rt_mlp_regression(spec) ? 1 : spec->problem.classes;
}

/* Offsets (floats) of each layer's W in the parameters and in a gradient; its bias follows W;
 * offset[layers] is the parameter count. offset holds RT_HIDDEN_MAX + 2 entries. */
static inline void rt_mlp_offsets(const rt_model_spec *spec, size_t *offset) {
  offset[0] = 0;
  for (size_t l = 0; l < rt_mlp_layers(spec); ++l)
    offset[l + 1] =
        offset[l] + rt_mlp_width(spec, l) * rt_mlp_width(spec, l + 1) + rt_mlp_width(spec, l + 1);
}

static inline size_t rt_mlp_params(const rt_model_spec *spec) {
  size_t offset[RT_HIDDEN_MAX + 2];
  rt_mlp_offsets(spec, offset);
  return offset[rt_mlp_layers(spec)];
}

/* Whether a and b have the same network: layer count, widths and output (what a fused context's
 * members share; activations, L2 and optimizers may differ). */
static inline bool rt_mlp_same_shape(const rt_model_spec *a, const rt_model_spec *b) {
  if (rt_mlp_layers(a) != rt_mlp_layers(b) || rt_mlp_regression(a) != rt_mlp_regression(b))
    return false;
  for (size_t l = 0; l <= rt_mlp_layers(a); ++l)
    if (rt_mlp_width(a, l) != rt_mlp_width(b, l)) return false;
  return true;
}

/* ---- Element-wise arithmetic (device) ------------------------------------------------------- */

/* z = act(z + bias) in place with, when der is set, act'(z + bias) into *der: mlp_forward()'s bias
 * loop and mlp_activate() for one element (relu / tanh / gelu with the CPU's float expressions,
 * NaN propagating). */
static __device__ __forceinline__ void rt_mlp_bias_act(float *z, float bias, int act, float *der) {
  const float v = *z + bias;
  switch (act) {
    case RT_ACTIVATION_RELU:
      if (der) *der = v > 0.0f ? 1.0f : 0.0f;
      *z = v < 0.0f ? 0.0f : v; /* NaN stays NaN */
      break;
    case RT_ACTIVATION_TANH: {
      const float t = tanhf(v);
      if (der) *der = 1.0f - t * t;
      *z = t;
      break;
    }
    default: { /* RT_ACTIVATION_GELU */
      const float v2 = v * v;
      const float t = tanhf(RT_MLP_SQRT_2_OVER_PI * (v + RT_MLP_GELU_C * v2 * v));
      if (der)
        *der = 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * RT_MLP_SQRT_2_OVER_PI *
                                       (1.0f + 3.0f * RT_MLP_GELU_C * v2);
      *z = 0.5f * v * (1.0f + t);
      break;
    }
  }
}

#endif
