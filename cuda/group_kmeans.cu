/* CUDA backend, fused k-means groups (group_families.h): the k-means half of a fused group visit
 * (group.cu drives it). One batch for all m members, on the context's stream:
 *   1. |c|^2        centres x members    one kernel: rt_km_cnorm
 *   2. products     G_i = X C_i^T        one product launch (gemm.h; X shared: stride 0)
 *   3. assignment   rows x members       one kernel: rt_km_assign_row, each row's loss kept
 *   4. mini-batch   one block a member   rt_km_update_block (members in a mini-batch pass)
 *   5. Lloyd        one block a member   rt_km_lloyd_lists_block, then one kernel over
 *                                        (centre, feature) x members: rt_km_lloyd_sum
 * then group.cu's loss commit (one block a member). Which of 4 and 5 a member takes is its own
 * state's lloyd_now (family_kmeans.h), read on the device, as the CPU reads it; the host reads
 * the same flag from the states it uploads to skip a launch no member needs. Every step runs the
 * device functions of the solo kernels (kmeans_math.cuh), and the solo product is the same
 * strided-batched call with one member, so a model's bytes are the same alone, in a fused group
 * and member by member. */
#include "group_families.h"
#include "kmeans_math.cuh"

namespace {

__device__ __forceinline__ const rt_state_header *km_header(const rt_group_members &g, int i) {
  return (const rt_state_header *)(g.base + (size_t)i * g.stride);
}
__device__ __forceinline__ float *km_centres(const rt_group_members &g, int i) {
  return (float *)(g.base + (size_t)i * g.stride + g.params_offset);
}
__device__ __forceinline__ double *km_aux(const rt_group_members &g, int i) {
  return (double *)(void *)(g.base + (size_t)i * g.stride + g.aux_offset);
}

/* Whether member i's state says this pass is a Lloyd step. */
__device__ __forceinline__ bool km_in_lloyd(const rt_km_group_batch &b, int i) {
  return b.lloyd_layout && km_aux(b.members, i)[b.al.lloyd_now] != 0.0;
}

/* grid (centre blocks, members) */
__global__ void km_group_cnorm_kernel(rt_km_group_batch b, double *cnorm, size_t cnorm_stride) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x, member = blockIdx.y;
  if (c >= b.k) return;
  cnorm[(size_t)member * cnorm_stride + (size_t)c] =
      rt_km_cnorm(km_centres(b.members, member), c, b.d);
}

/* grid (row blocks, members) */
__global__ void km_group_assign_kernel(rt_km_group_batch b, rt_km_group_ws w, const float *x,
                                       int rows, double *row_loss, size_t loss_stride) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x, member = blockIdx.y;
  if (i >= rows) return;
  int best = 0;
  double best_d = 0.0;
  rt_km_assign_row(x, w.g + (size_t)member * w.g_stride, w.cnorm + (size_t)member * w.cnorm_stride,
                   i, b.k, b.d, &best, &best_d);
  w.mind[(size_t)member * w.rows_stride + (size_t)i] = best_d;
  w.near[(size_t)member * w.near_stride + (size_t)i] = best;
  row_loss[(size_t)member * loss_stride + (size_t)i] = best_d;
}

/* One block a member (blockDim.x == kBlockThreads): members in a mini-batch pass. */
__global__ void __launch_bounds__(kBlockThreads)
    km_group_update_kernel(rt_km_group_batch b, rt_km_group_ws w, const float *x, int rows) {
  const int member = blockIdx.x;
  if (km_in_lloyd(b, member)) return; /* uniform over the block */
  rt_km_update_block(km_header(b.members, member), km_centres(b.members, member),
                     km_aux(b.members, member) + b.al.counts, x, rows, b.k, b.d,
                     w.near + (size_t)member * w.near_stride,
                     w.mind + (size_t)member * w.rows_stride);
}

/* One block a member: members in a Lloyd pass, part 1. */
__global__ void __launch_bounds__(kBlockThreads)
    km_group_lists_kernel(rt_km_group_batch b, rt_km_group_ws w, const float *x, int rows) {
  const int member = blockIdx.x;
  if (!km_in_lloyd(b, member)) return; /* uniform over the block */
  rt_km_lloyd_lists_block(
      km_header(b.members, member), km_aux(b.members, member), b.al, x, rows, b.k, b.d,
      w.near + (size_t)member * w.near_stride, w.mind + (size_t)member * w.rows_stride,
      w.offs + (size_t)member * w.offs_stride, w.rowlist + (size_t)member * w.list_stride);
}

/* grid (element blocks, members), grid-stride over (centre, feature): part 2. */
__global__ void km_group_sums_kernel(rt_km_group_batch b, rt_km_group_ws w, const float *x) {
  const int member = blockIdx.y;
  if (!km_in_lloyd(b, member) || km_header(b.members, member)->diverged) return;
  double *sums = km_aux(b.members, member) + b.al.sums;
  const int *offs = w.offs + (size_t)member * w.offs_stride;
  const int *rowlist = w.rowlist + (size_t)member * w.list_stride;
  const size_t n = (size_t)b.k * (size_t)b.d;
  const size_t step = (size_t)gridDim.x * blockDim.x;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < n; idx += step)
    rt_km_lloyd_sum(sums, x, b.d, offs, rowlist, idx / (size_t)b.d, idx % (size_t)b.d);
}

} /* namespace */

rt_km_group_ws rt_km_group_carve(rt_work_carver &w, size_t capacity, size_t rows, size_t k,
                                 int lloyd) {
  rt_km_group_ws o = {};
  o.g_stride = rt_work_carver::padded(rows * k);
  o.cnorm_stride = rt_work_carver::padded(2 * k) / 2;
  o.rows_stride = rt_work_carver::padded(2 * rows) / 2;
  o.near_stride = rt_work_carver::padded(rows);
  o.g = w.floats(capacity * o.g_stride);
  o.cnorm = w.doubles(capacity * o.cnorm_stride);
  o.mind = w.doubles(capacity * o.rows_stride);
  o.near = w.ints(capacity * o.near_stride);
  if (lloyd) {
    o.offs_stride = rt_work_carver::padded(k + 1);
    o.list_stride = rt_work_carver::padded(rows);
    o.offs = w.ints(capacity * o.offs_stride);
    o.rowlist = w.ints(capacity * o.list_stride);
  }
  return o;
}

rt_code rt_km_distance_products(cudaStream_t stream, const float *x, const float *centres,
                                long long c_stride, int rows, int k, int d, float *g,
                                long long g_stride, int m, rt_status *st) {
  /* Row-major G_i (rows x k) = X C_i^T: column-major G_i^T (k x rows) = C_i (k x d, stored as the
   * column-major d x k, so transposed) times X^T (d x rows, the row-major X as it is). */
  return rt_cuda_gemm_issue(stream, 1, 0, k, rows, d, centres, d, c_stride, x, d, 0, g, k, g_stride,
                            m, st);
}

rt_code rt_km_group_issue(cudaStream_t stream, const rt_km_group_batch &b, const rt_km_group_ws &w,
                          const float *x, int rows, double *row_loss, size_t loss_stride,
                          rt_status *st) {
  rt_code rc;
  const unsigned members = (unsigned)b.m;
  km_group_cnorm_kernel<<<dim3((unsigned)((b.k + kRowThreads - 1) / kRowThreads), members),
                          kRowThreads, 0, stream>>>(b, w.cnorm, w.cnorm_stride);
  RT_CUDA_CHECK_LAUNCH(st);
  const float *c0 = (const float *)(b.members.base + b.members.params_offset);
  RT_TRY(rc, rt_km_distance_products(stream, x, c0, (long long)(b.members.stride / sizeof(float)),
                                     rows, b.k, b.d, w.g, (long long)w.g_stride, b.m, st));
  km_group_assign_kernel<<<dim3((unsigned)rt_cuda_row_blocks(rows), members), kRowThreads, 0,
                           stream>>>(b, w, x, rows, row_loss, loss_stride);
  RT_CUDA_CHECK_LAUNCH(st);
  if (b.any_minibatch) {
    km_group_update_kernel<<<members, kBlockThreads, 0, stream>>>(b, w, x, rows);
    RT_CUDA_CHECK_LAUNCH(st);
  }
  if (b.any_lloyd) {
    km_group_lists_kernel<<<members, kBlockThreads, 0, stream>>>(b, w, x, rows);
    RT_CUDA_CHECK_LAUNCH(st);
    const size_t n = (size_t)b.k * (size_t)b.d;
    km_group_sums_kernel<<<dim3((unsigned)rt_cuda_elem_blocks(n), members), kRtElemThreads, 0,
                           stream>>>(b, w, x);
    RT_CUDA_CHECK_LAUNCH(st);
  }
  return RT_OK;
}
