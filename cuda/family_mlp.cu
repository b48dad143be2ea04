/* CUDA kernels of the mlp family, behind the shared per-batch driver of compute.cu: a model on its
 * own slot (a member of a group whose members differ in their network; evaluation; tests). A
 * group of one network, a model alone included, trains through its fused context instead
 * (group.cu, group_mlp.cu); both use the shape and element-wise arithmetic of mlp_math.cuh and
 * the same strided-batched products (here with one member). Mirrors src/models/family_mlp.c step
 * by step: per layer a product of gemm.h (fp32, one fmaf chain per element), a bias + activation
 * kernel (relu / tanh / gelu with the CPU's float expressions, NaN propagating), softmax
 * cross-entropy (the logistic kernel, family_shared.cu) or squared-error output (the shared
 * residual kernel), weight gradients by products, L2 on weights only, bias gradients as row-order
 * column sums, deltas by products times act'(z). Evaluation: log-loss and correct predictions, or for
 * regression squared and absolute errors, y and y^2 per row. Nothing adds floating-point values
 * atomically; every reduction has a fixed order. */
#include "rt_cuda.h"

#include <math.h>

#include "mlp_math.cuh"
#include "rt_cuda_internal.h"
#include "scalar_math.h"

namespace {

/* The gradient, then the CPU's blocks: A_h and D_h per hidden layer, the output block. */
struct mlp_ws {
  float *grad;
  float *act[RT_HIDDEN_MAX + 1], *der[RT_HIDDEN_MAX + 1];
  float *out;
};

mlp_ws mlp_carve(const rt_model_spec *spec, size_t rows, float *base, size_t *used) {
  rt_work_carver w = {base, 0};
  mlp_ws o = {};
  o.grad = w.floats(rt_mlp_params(spec));
  const size_t hidden = spec->hp.hidden_count > 0 && spec->hp.hidden_count <= RT_HIDDEN_MAX
                            ? (size_t)spec->hp.hidden_count
                            : 0;
  for (size_t h = 1; h <= hidden; ++h) {
    o.act[h] = w.floats(rows * rt_mlp_width(spec, h));
    o.der[h] = w.floats(rows * rt_mlp_width(spec, h));
  }
  o.out = w.floats(rows * rt_mlp_width(spec, rt_mlp_layers(spec)));
  if (used) *used = w.used;
  return o;
}

size_t mlp_work(const rt_model_spec *spec, size_t rows) {
  size_t used = 0;
  (void)mlp_carve(spec, rows, nullptr, &used);
  return used;
}

rt_code mlp_check(const rt_model_spec *spec, size_t rows, int has_labels, rt_status *st) {
  (void)rows; /* the layer count, widths and classes are the family's rules (family_mlp.c) */
  for (size_t l = 0; l <= rt_mlp_layers(spec); ++l) {
    const rt_code rc = rt_cuda_check_dim(spec, "a layer width", rt_mlp_width(spec, l), st);
    if (rc != RT_OK) return rc;
  }
  return rt_cuda_needs_labels(spec, has_labels, st);
}

/* z += bias (per column), then the activation in place with, when der is set, act'(z) into der
 * (rt_mlp_bias_act, element by element). */
__global__ void bias_act_kernel(float *z, const float *bias, size_t n, int width, int act,
                                float *der) {
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    rt_mlp_bias_act(&z[i], bias[i % (size_t)width], act, der ? &der[i] : nullptr);
}

/* gw += l2 * w (rt_add_l2 of the CPU). */
__global__ void l2_kernel(float *gw, const float *w, float l2, size_t n) {
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    gw[i] = rt_l2_decayed(gw[i], w[i], l2);
}

/* delta *= act'(z). */
__global__ void mul_kernel(float *v, const float *der, size_t n) {
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) v[i] *= der[i];
}

/* mlp_eval_rows(), regression: y^ = z + b (float), then in double (y^ - y)^2, |y^ - y|, y, y^2. */
__global__ void mlp_regression_eval_kernel(const float *z, const float *b, const float *y, int rows,
                                           double *cols, size_t stride) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  const float o = z[i] + b[0];
  const double t = (double)y[i], e = (double)o - t;
  cols[i] = e * e;
  cols[stride + i] = fabs(e);
  cols[2 * stride + i] = t;
  cols[3 * stride + i] = t * t;
}

/* mlp_forward() up to the output layer's product: hidden blocks activated (with act'(z) when
 * derivatives), the output block holds X_L W_L without its bias (the output kernels add it). */
rt_code mlp_forward(rt_cuda_slot *slot, const rt_cuda_batch *b, const mlp_ws &w, int derivatives,
                    rt_status *st) {
  const rt_model_spec *spec = b->spec;
  const size_t layers = rt_mlp_layers(spec);
  const float *in = b->x, *p = b->params;
  for (size_t l = 0; l < layers; ++l) {
    const size_t n_in = rt_mlp_width(spec, l), n_out = rt_mlp_width(spec, l + 1);
    float *z = l + 1 < layers ? w.act[l + 1] : w.out;
    rt_code rc;
    RT_TRY(rc, rt_cuda_rm_sgemm_batched(slot, 0, 0, b->rows, (int)n_out, (int)n_in, in, 0, p, 0, z,
                                        0, 1, st));
    if (l + 1 < layers) {
      const size_t n = (size_t)b->rows * n_out;
      bias_act_kernel<<<rt_cuda_elem_blocks(n), kRtElemThreads, 0, slot->stream>>>(
          z, p + n_in * n_out, n, (int)n_out, (int)spec->hp.activation,
          derivatives ? w.der[l + 1] : nullptr);
      RT_CUDA_CHECK_LAUNCH(st);
    }
    in = z;
    p += n_in * n_out + n_out;
  }
  return RT_OK;
}

rt_code mlp_batch(rt_cuda_slot *slot, const rt_cuda_batch *b, rt_cuda_batch_out *out,
                  rt_status *st) {
  const rt_model_spec *spec = b->spec;
  const int r = b->rows;
  const size_t layers = rt_mlp_layers(spec), n_last = rt_mlp_width(spec, layers);
  const mlp_ws w = mlp_carve(spec, (size_t)r, slot->work, nullptr);
  size_t offset[RT_HIDDEN_MAX + 2];
  rt_mlp_offsets(spec, offset);
  rt_code rc;
  RT_TRY(rc, mlp_forward(slot, b, w, 1, st));
  const float *out_bias = b->params + offset[layers - 1] + rt_mlp_width(spec, layers - 1) * n_last;
  /* Output delta (mean over the batch) in place of the output block, per-row losses. */
  if (rt_mlp_regression(spec)) {
    RT_TRY(rc, rt_cuda_residual(slot, w.out, out_bias, b->y, r, slot->row_vals, st));
  } else if ((rc = rt_cuda_softmax_xent(slot, w.out, out_bias, b->y, r, (int)n_last, slot->row_vals,
                                        st)) != RT_OK) {
    return rc;
  }
  const float l2 = (float)spec->hp.l2;
  float *delta = w.out;
  for (size_t l = layers; l-- > 0;) {
    const size_t n_in = rt_mlp_width(spec, l), n_out = rt_mlp_width(spec, l + 1);
    const float *in = l == 0 ? b->x : w.act[l];
    const float *wt = b->params + offset[l];
    float *gw = w.grad + offset[l], *gb = gw + n_in * n_out;
    if ((rc = rt_cuda_rm_sgemm_batched(slot, 1, 0, (int)n_in, (int)n_out, r, in, 0, delta, 0, gw, 0,
                                       1, st)) != RT_OK)
      return rc;
    if (l2 > 0.0f) {
      l2_kernel<<<rt_cuda_elem_blocks(n_in * n_out), kRtElemThreads, 0, slot->stream>>>(
          gw, wt, l2, n_in * n_out);
      RT_CUDA_CHECK_LAUNCH(st);
    }
    if ((rc = rt_cuda_column_sums(slot, delta, r, (int)n_out, gb, st)) != RT_OK) return rc;
    if (l == 0) break;
    /* delta_l = (delta_{l+1} W_l^T) * act'(z_l), into the activation block (no longer needed). */
    float *next = w.act[l];
    if ((rc = rt_cuda_rm_sgemm_batched(slot, 0, 1, r, (int)n_in, (int)n_out, delta, 0, wt, 0, next,
                                       0, 1, st)) != RT_OK)
      return rc;
    const size_t n = (size_t)r * n_in;
    mul_kernel<<<rt_cuda_elem_blocks(n), kRtElemThreads, 0, slot->stream>>>(next, w.der[l], n);
    RT_CUDA_CHECK_LAUNCH(st);
    delta = next;
  }
  out->loss_n = r;
  out->gradient = 1;
  out->l2 = 0.0f; /* applied per layer above, weights only */
  out->nw = 0;
  return RT_OK;
}

/* Classification: [0] log-loss, [1] correct predictions; regression: [0] sum of squared errors,
 * [1] of absolute errors, [2] sum of y, [3] sum of y^2. */
rt_code mlp_eval(rt_cuda_slot *slot, const rt_cuda_batch *b, int *sums_n, rt_status *st) {
  const rt_model_spec *spec = b->spec;
  const int r = b->rows;
  const size_t layers = rt_mlp_layers(spec), n_last = rt_mlp_width(spec, layers);
  const mlp_ws w = mlp_carve(spec, (size_t)r, slot->work, nullptr);
  size_t offset[RT_HIDDEN_MAX + 2];
  rt_mlp_offsets(spec, offset);
  rt_code rc;
  RT_TRY(rc, mlp_forward(slot, b, w, 0, st));
  const float *out_bias = b->params + offset[layers - 1] + rt_mlp_width(spec, layers - 1) * n_last;
  if (rt_mlp_regression(spec)) {
    mlp_regression_eval_kernel<<<rt_cuda_row_blocks(r), kRowThreads, 0, slot->stream>>>(
        w.out, out_bias, b->y, r, slot->row_vals, slot->max_rows);
    RT_CUDA_CHECK_LAUNCH(st);
    *sums_n = 4;
    return RT_OK;
  }
  if ((rc = rt_cuda_softmax_eval(slot, w.out, out_bias, b->y, r, (int)n_last, slot->row_vals,
                                 slot->row_vals + slot->max_rows, st)) != RT_OK)
    return rc;
  *sums_n = 2;
  return RT_OK;
}

} /* namespace */

const rt_cuda_family rt_cuda_family_mlp = {mlp_work, mlp_check, mlp_batch, mlp_eval, nullptr};
