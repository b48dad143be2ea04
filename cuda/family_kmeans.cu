/* CUDA kernels of the kmeans family, behind the shared per-batch driver of compute.cu (batch
 * order, loss reduction, divergence, header counters): a model integrated on its own slot (a
 * member of a group whose members differ in k or in Lloyd passes; tests), evaluation chunks, and
 * the device pass end. A k-means group of one layout, a model alone included, trains through its
 * fused context instead (group.cu, group_kmeans.cu). Every step is the device arithmetic of
 * kmeans_math.cuh, which the fused kernels share, and mirrors src/models/family_kmeans.c step by
 * step: G = X C^T by the product of gemm.h (the fused groups' batched call with one member,
 * rt_km_distance_products); |c|^2 (one thread per centre) and |x|^2 (one thread per row) by
 * rt_sq_norm of scalar_math.h as on the CPU, d2 = (|x|^2 - 2 G) + |c|^2 clamped at 0, first
 * minimum, exactly the CPU's loop. Sculley's update and the dead-centre rule run in ONE block that
 * walks the batch rows in order (threads over features), so the sequential dependency (counts,
 * centres moving row by row) is kept and the result is bit-for-bit the CPU's for the same
 * assignments; counts and seen are doubles in aux as on the CPU. Lloyd passes (the host knows
 * which from the pass, rt_kmeans_lloyd_pass): after the same assignment, ONE block lists every
 * centre's rows in row order (a stable counting sort: counts, offsets, placement) and picks the
 * farthest row (value, then lowest index: a total order, so the tree gives the CPU's first
 * maximum); then one thread per (centre, feature) sums its centre's rows in that order from 0 in
 * double and adds the total into the state's sums: the CPU's per-batch sums, operation for
 * operation. The pass end (family hook, after rt_cuda_finish_visit closes the pass) divides in
 * double, moves the first empty centre to the farthest row, zeroes the accumulators. Nothing adds
 * floating-point values atomically; every reduction has a fixed order. */
#include "rt_cuda.h"

#include <math.h>
#include <string.h>

#include "family_kmeans.h"
#include "group_families.h"
#include "kmeans_math.cuh"
#include "rt_cuda_internal.h"
#include "scalar_math.h"

namespace {

struct kmeans_ws {
  float *g;      /* rows x k */
  double *cnorm; /* k */
  double *mind;  /* rows: nearest squared distance (the dead-centre rule marks used rows -1) */
  int *near;     /* rows: nearest centre */
  int *offs;     /* Lloyd: k + 1, where each centre's rows start in rowlist */
  int *rowlist;  /* Lloyd: rows, the batch rows grouped by centre, in row order inside a centre */
};

kmeans_ws kmeans_carve(const rt_model_spec *spec, size_t rows, float *base, size_t *used) {
  const size_t k = (size_t)spec->hp.k;
  rt_work_carver w = {base, 0};
  kmeans_ws o = {};
  o.g = w.floats(rows * k);
  o.cnorm = w.doubles(k);
  o.mind = w.doubles(rows);
  o.near = w.ints(rows);
  if (rt_kmeans_lloyd_passes(spec) > 0) {
    o.offs = w.ints(k + 1);
    o.rowlist = w.ints(rows);
  }
  if (used) *used = w.used;
  return o;
}

size_t kmeans_work(const rt_model_spec *spec, size_t rows) {
  size_t used = 0;
  (void)kmeans_carve(spec, rows, nullptr, &used);
  return used;
}

rt_code kmeans_check(const rt_model_spec *spec, size_t rows, int has_labels, rt_status *st) {
  (void)rows, (void)has_labels; /* labels are ignored; k >= 1 is the family's rule */
  return rt_cuda_check_dim(spec, "k", (size_t)spec->hp.k, st);
}

/* |c|^2, one thread per centre (kmeans_math.cuh). */
__global__ void kmeans_cnorm_kernel(const float *centres, int k, int d, double *cnorm) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= k) return;
  cnorm[c] = rt_km_cnorm(centres, c, d);
}

/* The assignment, one row per thread (kmeans_math.cuh). Optional outputs may be NULL. */
__global__ void kmeans_assign_kernel(const float *x, const float *g, const double *cnorm, int rows,
                                     int k, int d, double *mind, int *near, double *loss,
                                     double *one) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  int best = 0;
  double best_d = 0.0;
  rt_km_assign_row(x, g, cnorm, i, k, d, &best, &best_d);
  if (mind) mind[i] = best_d;
  if (near) near[i] = best;
  if (loss) loss[i] = best_d;
  if (one) one[i] = 1.0;
}

/* Steps 2 and 3 of kmeans_integrate() in ONE block (rt_km_update_block). blockDim.x ==
 * kBlockThreads. */
__global__ void __launch_bounds__(kBlockThreads)
    kmeans_update_kernel(const rt_state_header *h, float *centres, double *counts, const float *x,
                         int rows, int k, int d, const int *near, double *mind) {
  rt_km_update_block(h, centres, counts, x, rows, k, d, near, mind);
}

/* A Lloyd pass's batch, part 1, ONE block (rt_km_lloyd_lists_block). */
__global__ void __launch_bounds__(kBlockThreads)
    kmeans_lloyd_lists_kernel(const rt_state_header *h, double *aux, rt_kmeans_aux_layout al,
                              const float *x, int rows, int k, int d, const int *near,
                              const double *mind, int *offs, int *rowlist) {
  rt_km_lloyd_lists_block(h, aux, al, x, rows, k, d, near, mind, offs, rowlist);
}

/* Part 2, one thread per (centre, feature) (rt_km_lloyd_sum). */
__global__ void kmeans_lloyd_sums_kernel(const rt_state_header *h, double *sums, const float *x,
                                         int k, int d, const int *offs, const int *rowlist) {
  if (h->diverged) return;
  const size_t n = (size_t)k * (size_t)d;
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < n; idx += stride)
    rt_km_lloyd_sum(sums, x, d, offs, rowlist, idx / (size_t)d, idx % (size_t)d);
}

/* The pass end of a Lloyd pass (kmeans_pass_end() of family_kmeans.c), part 1, one thread per
 * (centre, feature): the mean where the centre has rows, else, for the first centre without
 * rows (every lower centre has rows), the farthest row when one was recorded; sums back to 0. */
__global__ void kmeans_lloyd_means_kernel(const rt_state_header *h, float *centres, double *aux,
                                          rt_kmeans_aux_layout al, int k, int d) {
  if (h->diverged) return;
  const double *counts = aux + al.lloyd_counts;
  double *sums = aux + al.sums;
  const size_t n = (size_t)k * (size_t)d;
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < n; idx += stride) {
    const size_t c = idx / (size_t)d, f = idx % (size_t)d;
    if (counts[c] > 0.0) {
      centres[idx] = (float)(sums[idx] / counts[c]);
    } else if (aux[al.far_dist] > 0.0) {
      bool first = true;
      for (size_t j = 0; j < c && first; ++j) first = counts[j] > 0.0;
      if (first) centres[idx] = (float)aux[al.far_row + f];
    }
    sums[idx] = 0.0;
  }
}

/* Part 2: the other accumulators back to 0 and lloyd_now for the next pass. Also runs after a
 * mini-batch pass (only the flag changes then). */
__global__ void kmeans_pass_reset_kernel(const rt_state_header *h, double *aux,
                                         rt_kmeans_aux_layout al, int k, int d, int applied,
                                         double next) {
  if (h->diverged) return;
  const int n = applied ? k + d + 1 : 0; /* far_dist, lloyd_counts[k], far_row[d] */
  const int stride = gridDim.x * blockDim.x;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    aux[i == 0   ? al.far_dist
        : i <= k ? al.lloyd_counts + (size_t)(i - 1)
                 : al.far_row + (size_t)(i - 1 - k)] = 0.0;
  if (blockIdx.x == 0 && threadIdx.x == 0) aux[al.lloyd_now] = next;
}

rt_code kmeans_assign(rt_cuda_slot *slot, const rt_cuda_batch *b, const kmeans_ws &w, double *mind,
                      int *near, double *loss, double *one, rt_status *st) {
  const int k = (int)b->spec->hp.k, d = (int)b->spec->problem.features, r = b->rows;
  kmeans_cnorm_kernel<<<(k + kRowThreads - 1) / kRowThreads, kRowThreads, 0, slot->stream>>>(
      b->params, k, d, w.cnorm);
  RT_CUDA_CHECK_LAUNCH(st);
  /* X C^T: the fused groups' call with one member (group_families.h) */
  rt_code rc = rt_km_distance_products(slot->stream, b->x, b->params, 0, r, k, d, w.g, 0, 1, st);
  if (rc != RT_OK) return rc;
  kmeans_assign_kernel<<<rt_cuda_row_blocks(r), kRowThreads, 0, slot->stream>>>(
      b->x, w.g, w.cnorm, r, k, d, mind, near, loss, one);
  RT_CUDA_CHECK_LAUNCH(st);
  return RT_OK;
}

rt_code kmeans_batch(rt_cuda_slot *slot, const rt_cuda_batch *b, rt_cuda_batch_out *out,
                     rt_status *st) {
  const int k = (int)b->spec->hp.k, d = (int)b->spec->problem.features, r = b->rows;
  const kmeans_ws w = kmeans_carve(b->spec, (size_t)r, slot->work, nullptr);
  /* The loss (sum of nearest distances before any update) from its own column: the dead-centre
   * rule marks used rows in w.mind. */
  rt_code rc;
  RT_TRY(rc, kmeans_assign(slot, b, w, w.mind, w.near, slot->row_vals, nullptr, st));
  if (rt_kmeans_lloyd_pass(b->spec, slot->mirror.pass)) { /* the host's pass: the header's */
    const rt_kmeans_aux_layout al = rt_kmeans_aux_of(b->spec);
    double *aux = (double *)(void *)b->aux;
    kmeans_lloyd_lists_kernel<<<1, kBlockThreads, 0, slot->stream>>>(
        b->dh, aux, al, b->x, r, k, d, w.near, w.mind, w.offs, w.rowlist);
    RT_CUDA_CHECK_LAUNCH(st);
    const size_t n = (size_t)k * (size_t)d;
    kmeans_lloyd_sums_kernel<<<rt_cuda_elem_blocks(n), kRtElemThreads, 0, slot->stream>>>(
        b->dh, aux + al.sums, b->x, k, d, w.offs, w.rowlist);
    RT_CUDA_CHECK_LAUNCH(st);
  } else {
    kmeans_update_kernel<<<1, kBlockThreads, 0, slot->stream>>>(b->dh, b->params, (double *)b->aux,
                                                                b->x, r, k, d, w.near, w.mind);
    RT_CUDA_CHECK_LAUNCH(st);
  }
  out->loss_n = r;
  out->gradient = 0;
  return RT_OK;
}

/* The family's pass end on the device: after a Lloyd pass the centres move to the means and the
 * accumulators go back to 0; after every pass lloyd_now is set for the next one. */
rt_code kmeans_pass_end(rt_cuda_slot *slot, const rt_model_spec *spec, uint64_t pass,
                        rt_status *st) {
  if (rt_kmeans_lloyd_passes(spec) == 0) return RT_OK;
  const int k = (int)spec->hp.k, d = (int)spec->problem.features;
  const rt_kmeans_aux_layout al = rt_kmeans_aux_of(spec);
  const rt_state_layout l = rt_state_layout_of(spec);
  const rt_state_header *dh = (const rt_state_header *)(void *)slot->state;
  float *centres = (float *)(void *)(slot->state + l.params_offset);
  double *aux = (double *)(void *)(slot->state + l.aux_offset);
  const int applied = rt_kmeans_lloyd_pass(spec, pass);
  if (applied) {
    const size_t n = (size_t)k * (size_t)d;
    kmeans_lloyd_means_kernel<<<rt_cuda_elem_blocks(n), kRtElemThreads, 0, slot->stream>>>(
        dh, centres, aux, al, k, d);
    RT_CUDA_CHECK_LAUNCH(st);
  }
  kmeans_pass_reset_kernel<<<rt_cuda_elem_blocks((size_t)k + (size_t)d + 1), kRtElemThreads, 0,
                             slot->stream>>>(dh, aux, al, k, d, applied,
                                             rt_kmeans_lloyd_pass(spec, pass + 1) ? 1.0 : 0.0);
  RT_CUDA_CHECK_LAUNCH(st);
  return RT_OK;
}

/* sums: [0] squared distances to the nearest centre, [1] rows. */
rt_code kmeans_eval(rt_cuda_slot *slot, const rt_cuda_batch *b, int *sums_n, rt_status *st) {
  const kmeans_ws w = kmeans_carve(b->spec, (size_t)b->rows, slot->work, nullptr);
  rt_code rc = kmeans_assign(slot, b, w, nullptr, nullptr, slot->row_vals,
                             slot->row_vals + slot->max_rows, st);
  if (rc != RT_OK) return rc;
  *sums_n = 2;
  return RT_OK;
}

} /* namespace */

const rt_cuda_family rt_cuda_family_kmeans = {kmeans_work, kmeans_check, kmeans_batch, kmeans_eval,
                                              kmeans_pass_end};
