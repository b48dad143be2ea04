/* CUDA backend, fused MLP groups (group_families.h): the MLP half of a fused group visit (group.cu
 * drives it and adds the loss commit and the optimizer). The members share their network (layer
 * count, widths, output), so every product of a batch is ONE product launch (gemm.h) for all
 * members, the batch's rows shared by the first layer (stride 0); activations, L2, learning
 * rates and optimizers are the members' own (rt_mlp_member, and group.cu's optimizer arguments).
 * Every element-wise step runs the device functions of a member's own slot (mlp_math.cuh,
 * row_math.cuh), whose products are the same batched products with one member
 * (family_mlp.cu); their bits do not depend on the batch count (gemm.h), so a model's bytes are
 * the same alone, in a fused group and on its slot (tests/gpu/test_gpu_groups.c). */
#include "group_families.h"
#include "mlp_math.cuh"
#include "row_math.cuh"

namespace {

__device__ __forceinline__ float *mlp_params_of(const rt_group_members &g, int i) {
  return (float *)(g.base + (size_t)i * g.stride + g.params_offset);
}

/* grid (element blocks, members): z = act(z + bias) of layer l's block, act'(z) into der. */
__global__ void mlp_group_bias_act_kernel(rt_group_members g, const rt_mlp_member *members,
                                          float *z, float *der, size_t stride, size_t n, int width,
                                          size_t bias_offset) {
  const int member = blockIdx.y;
  const float *bias = mlp_params_of(g, member) + bias_offset;
  float *zm = z + (size_t)member * stride, *dm = der + (size_t)member * stride;
  const int act = members[member].activation;
  const size_t step = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step)
    rt_mlp_bias_act(&zm[i], bias[i % (size_t)width], act, &dm[i]);
}

/* grid (row blocks, members): the output row, softmax cross-entropy or squared error. */
__global__ void mlp_group_output_kernel(rt_group_members g, float *out, size_t stride,
                                        size_t bias_offset, const float *y, int rows, int c,
                                        int regression, float inv_rows, double *row_loss,
                                        size_t loss_stride) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x, member = blockIdx.y;
  if (i >= rows) return;
  const float *bias = mlp_params_of(g, member) + bias_offset;
  float *om = out + (size_t)member * stride;
  double *loss = &row_loss[(size_t)member * loss_stride + (size_t)i];
  if (regression) rt_residual_row(om, bias, y, i, inv_rows, loss);
  else rt_softmax_xent_row(om + (size_t)i * (size_t)c, bias, y, i, c, inv_rows, loss);
}

/* grid (element blocks, members): gw += l2 * w over layer l's weights, for members with l2 > 0. */
__global__ void mlp_group_l2_kernel(rt_group_members g, const rt_mlp_member *members, float *grad,
                                    size_t grad_stride, size_t w_offset, size_t n) {
  const int member = blockIdx.y;
  const float l2 = members[member].l2;
  if (!(l2 > 0.0f)) return; /* as a member's own slot: no L2 kernel at all */
  const float *w = mlp_params_of(g, member) + w_offset;
  float *gw = grad + (size_t)member * grad_stride + w_offset;
  const size_t step = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step)
    gw[i] = rt_l2_decayed(gw[i], w[i], l2);
}

/* grid (column blocks, members), a thread per column in a grid-stride loop: the bias gradient,
 * column sums of the member's delta (members x width may exceed an int). */
__global__ void mlp_group_bias_grad_kernel(const float *delta, size_t delta_stride, int rows,
                                           int width, float *grad, size_t grad_stride,
                                           size_t gb_offset) {
  const size_t member = blockIdx.y, stride = (size_t)gridDim.x * blockDim.x;
  for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < (size_t)width; k += stride)
    grad[member * grad_stride + gb_offset + k] =
        rt_column_sum(delta + member * delta_stride, rows, width, (int)k);
}

/* grid (element blocks, members): delta *= act'(z). */
__global__ void mlp_group_mul_kernel(float *v, const float *der, size_t stride, size_t n) {
  const int member = blockIdx.y;
  float *vm = v + (size_t)member * stride;
  const float *dm = der + (size_t)member * stride;
  const size_t step = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) vm[i] *= dm[i];
}

} /* namespace */

rt_mlp_group_ws rt_mlp_group_carve(rt_work_carver &w, size_t capacity, size_t rows,
                                   const rt_model_spec *lead) {
  rt_mlp_group_ws o = {};
  const size_t layers = rt_mlp_layers(lead);
  o.grad_stride = rt_work_carver::padded(rt_mlp_params(lead));
  o.grad = w.floats(capacity * o.grad_stride);
  for (size_t h = 1; h < layers && h <= RT_HIDDEN_MAX; ++h) {
    o.act_stride[h] = rt_work_carver::padded(rows * rt_mlp_width(lead, h));
    o.act[h] = w.floats(capacity * o.act_stride[h]);
    o.der[h] = w.floats(capacity * o.act_stride[h]);
  }
  o.out_stride = rt_work_carver::padded(rows * rt_mlp_width(lead, layers));
  o.out = w.floats(capacity * o.out_stride);
  o.members = (rt_mlp_member *)(void *)w.floats(
      (capacity * sizeof(rt_mlp_member) + sizeof(float) - 1) / sizeof(float));
  return o;
}

rt_code rt_mlp_group_issue(rt_cuda_slot *slot, const rt_mlp_group_batch &b,
                           const rt_mlp_group_ws &w, const float *x, const rt_cuda_csr_batch *csr,
                           const float *y, int rows, double *row_loss, size_t loss_stride,
                           rt_status *st) {
  rt_code rc;
  const rt_model_spec *spec = b.lead;
  const size_t layers = rt_mlp_layers(spec), n_last = rt_mlp_width(spec, layers);
  const int m = b.m, r = rows;
  const unsigned members = (unsigned)m;
  size_t offset[RT_HIDDEN_MAX + 2];
  rt_mlp_offsets(spec, offset);
  const float *p0 = (const float *)(b.members.base + b.members.params_offset);
  const long long sw = (long long)(b.members.stride / sizeof(float)); /* between members' params */
  /* Forward: the hidden blocks activated with act'(z); the output block holds X_L W_L. */
  const float *in = x;
  long long s_in = 0; /* the batch's rows, shared */
  for (size_t l = 0; l < layers; ++l) {
    const size_t n_in = rt_mlp_width(spec, l), n_out = rt_mlp_width(spec, l + 1);
    const bool hidden = l + 1 < layers;
    float *z = hidden ? w.act[l + 1] : w.out;
    const long long sz = (long long)(hidden ? w.act_stride[l + 1] : w.out_stride);
    if (l == 0 && csr) /* sparse rows: one SpMM per member */
      RT_TRY(rc, rt_cuda_csr_products(slot, *csr, p0 + offset[l], sw, (int)n_out, z, sz, m, st));
    else
      RT_TRY(rc, rt_cuda_rm_sgemm_batched(slot, 0, 0, r, (int)n_out, (int)n_in, in, s_in,
                                          p0 + offset[l], sw, z, sz, m, st));
    if (hidden) {
      const size_t n = (size_t)r * n_out;
      mlp_group_bias_act_kernel<<<dim3((unsigned)rt_cuda_elem_blocks(n), members), kRtElemThreads,
                                  0, slot->stream>>>(b.members, w.members, z, w.der[l + 1],
                                                     (size_t)sz, n, (int)n_out,
                                                     offset[l] + n_in * n_out);
      RT_CUDA_CHECK_LAUNCH(st);
    }
    in = z;
    s_in = sz;
  }
  /* The output rows: deltas (mean over the batch) in place, each row's loss. */
  const size_t out_bias = offset[layers - 1] + rt_mlp_width(spec, layers - 1) * n_last;
  mlp_group_output_kernel<<<dim3((unsigned)rt_cuda_row_blocks(r), members), kRowThreads, 0,
                            slot->stream>>>(b.members, w.out, w.out_stride, out_bias, y, r,
                                            (int)n_last, rt_mlp_regression(spec) ? 1 : 0,
                                            1.0f / (float)r, row_loss, loss_stride);
  RT_CUDA_CHECK_LAUNCH(st);
  /* Backward, top layer first. */
  const float *delta = w.out;
  long long s_delta = (long long)w.out_stride;
  const long long sg = (long long)w.grad_stride;
  for (size_t l = layers; l-- > 0;) {
    const size_t n_in = rt_mlp_width(spec, l), n_out = rt_mlp_width(spec, l + 1);
    const float *below = l == 0 ? x : w.act[l];
    const long long s_below = l == 0 ? 0 : (long long)w.act_stride[l];
    if (l == 0 && csr) /* sparse rows: X^T D, one SpMM per member */
      RT_TRY(rc, rt_cuda_csr_gradients(slot, *csr, delta, s_delta, (int)n_out, w.grad + offset[l],
                                       sg, m, st));
    else
      RT_TRY(rc, rt_cuda_rm_sgemm_batched(slot, 1, 0, (int)n_in, (int)n_out, r, below, s_below,
                                          delta, s_delta, w.grad + offset[l], sg, m, st));
    if (b.any_l2) {
      const size_t n = n_in * n_out;
      mlp_group_l2_kernel<<<dim3((unsigned)rt_cuda_elem_blocks(n), members), kRtElemThreads, 0,
                            slot->stream>>>(b.members, w.members, w.grad, w.grad_stride, offset[l],
                                            n);
      RT_CUDA_CHECK_LAUNCH(st);
    }
    mlp_group_bias_grad_kernel<<<dim3((unsigned)rt_cuda_elem_blocks(n_out), (unsigned)m),
                                 kRtElemThreads, 0, slot->stream>>>(
        delta, (size_t)s_delta, r, (int)n_out, w.grad, w.grad_stride, offset[l] + n_in * n_out);
    RT_CUDA_CHECK_LAUNCH(st);
    if (l == 0) break;
    /* delta_l = (delta_{l+1} W_l^T) * act'(z_l), into the activations block (no longer needed). */
    float *next = w.act[l];
    const long long s_next = (long long)w.act_stride[l];
    RT_TRY(rc, rt_cuda_rm_sgemm_batched(slot, 0, 1, r, (int)n_in, (int)n_out, delta, s_delta,
                                        p0 + offset[l], sw, next, s_next, m, st));
    const size_t n = (size_t)r * n_in;
    mlp_group_mul_kernel<<<dim3((unsigned)rt_cuda_elem_blocks(n), members), kRtElemThreads, 0,
                           slot->stream>>>(next, w.der[l], (size_t)s_next, n);
    RT_CUDA_CHECK_LAUNCH(st);
    delta = next;
    s_delta = s_next;
  }
  return RT_OK;
}
