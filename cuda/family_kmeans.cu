/* CUDA kernels of the kmeans family, behind the shared per-batch driver of compute.cu (batch
 * order, loss reduction, divergence, header counters); mirrors src/models/family_kmeans.c step by step:
 * G = X C^T by cuBLAS sgemm; |c|^2 (one thread per centre) and |x|^2 (one thread per row) by
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
#include "rt_cuda_internal.h"
#include "scalar_math.h"

namespace {

/* family_kmeans.c: rows seen per centre before a centre that never won a row counts as dead. */
#define KMEANS_DEAD_ROWS_PER_CENTRE 10.0

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

/* |c|^2 by rt_sq_norm, as sq_norm of family_kmeans.c. */
__global__ void kmeans_cnorm_kernel(const float *centres, int k, int d, double *cnorm) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= k) return;
  const float *cc = centres + (size_t)c * (size_t)d;
  cnorm[c] = rt_sq_norm(cc, (size_t)d);
}

/* assign_rows() of family_kmeans.c, one row per thread: nearest centre (first minimum; NaN never
 * wins, a NaN at c = 0 stays) and its squared distance. Optional outputs may be NULL. */
__global__ void kmeans_assign_kernel(const float *x, const float *g, const double *cnorm, int rows,
                                     int k, int d, double *mind, int *near, double *loss,
                                     double *one) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  const float *xi = x + (size_t)i * (size_t)d;
  const double xn = rt_sq_norm(xi, (size_t)d);
  const float *gi = g + (size_t)i * (size_t)k;
  int best = 0;
  double best_d = 0.0;
  for (int c = 0; c < k; ++c) {
    double t = (xn - 2.0 * (double)gi[c]) + cnorm[c];
    if (t < 0.0) t = 0.0;
    if (c == 0 || t < best_d) {
      best = c;
      best_d = t;
    }
  }
  if (mind) mind[i] = best_d;
  if (near) near[i] = best;
  if (loss) loss[i] = best_d;
  if (one) one[i] = 1.0;
}

/* Steps 2 and 3 of kmeans_integrate() in ONE block: Sculley's update row by row in batch order
 * (thread 0 advances the count of the row's centre, every thread moves its features), seen +=
 * rows, then the dead-centre rule: centres with count 0 in centre order, each re-seeded to the
 * unused batch row with the largest nearest distance (lowest index on ties; used rows are -1, NaN
 * never taken) until no row is left. Skipped once the model has diverged (flag as it was before
 * this batch: the batch's loss kernel runs after this one). blockDim.x == kBlockThreads. */
__global__ void __launch_bounds__(kBlockThreads)
    kmeans_update_kernel(const rt_state_header *h, float *centres, double *counts, const float *x,
                         int rows, int k, int d, const int *near, double *mind) {
  __shared__ double s_eta[2];
  __shared__ int s_c[2];
  __shared__ double s_v[kBlockThreads];
  __shared__ int s_i[kBlockThreads];
  __shared__ int s_flag[kBlockThreads];
  if (h->diverged) return; /* uniform: every thread reads the same flag */
  const int t = threadIdx.x, nt = blockDim.x;
  double *seen = counts + k;
  /* Row i uses s_eta[i & 1]: thread 0 writes it for row i only after the barrier of row i - 1,
   * which every thread passes after it finished row i - 2; so one barrier per row suffices. */
  for (int i = 0; i < rows; ++i) {
    const int p = i & 1;
    if (t == 0) {
      const int c = near[i];
      counts[c] += 1.0;
      s_eta[p] = 1.0 / counts[c];
      s_c[p] = c;
    }
    __syncthreads();
    const double eta = s_eta[p], keep = 1.0 - eta;
    float *centre = centres + (size_t)s_c[p] * (size_t)d;
    const float *xi = x + (size_t)i * (size_t)d;
    for (int f = t; f < d; f += nt)
      centre[f] = (float)(keep * (double)centre[f] + eta * (double)xi[f]);
  }
  if (t == 0) *seen += (double)rows;
  __syncthreads();
  if (*seen < KMEANS_DEAD_ROWS_PER_CENTRE * (double)k) return; /* uniform */
  bool stop = false;
  for (int c0 = 0; c0 < k && !stop; c0 += nt) {
    const int flag = c0 + t < k && counts[c0 + t] == 0.0;
    s_flag[t] = flag;
    if (!__syncthreads_or(flag)) continue; /* no dead centre in this chunk (uniform) */
    for (int j = 0; j < nt && !stop; ++j) {
      if (!s_flag[j]) continue; /* uniform: shared, unchanged until the chunk's last barrier */
      double best_v = -1.0;
      int best_i = rows;
      for (int r = t; r < rows; r += nt)
        if (mind[r] > best_v) { /* strict: the lowest index of this thread's rows wins ties */
          best_v = mind[r];
          best_i = r;
        }
      s_v[t] = best_v;
      s_i[t] = best_i;
      __syncthreads();
      for (int s = nt / 2; s > 0; s >>= 1) {
        if (t < s) {
          const double v = s_v[t + s];
          const int vi = s_i[t + s];
          if (v > s_v[t] || (v == s_v[t] && vi < s_i[t])) {
            s_v[t] = v;
            s_i[t] = vi;
          }
        }
        __syncthreads();
      }
      const int pick = s_i[0];
      if (pick == rows) {
        stop = true; /* no unused row left in this batch: the rest waits (uniform) */
      } else {
        float *centre = centres + (size_t)(c0 + j) * (size_t)d;
        const float *xp = x + (size_t)pick * (size_t)d;
        for (int f = t; f < d; f += nt) centre[f] = xp[f];
        if (t == 0) {
          counts[c0 + j] = 1.0;
          mind[pick] = -1.0;
        }
      }
      __syncthreads(); /* s_i read by all, mind[pick] visible before the next search */
    }
    __syncthreads(); /* s_flag read by all before the next chunk writes it */
  }
}

/* A Lloyd pass's batch, part 1, ONE block: the stable counting sort of the rows by centre
 * (offs, rowlist), lloyd_counts += the batch's counts, and the farthest row (far_dist, far_row)
 * when it beats the pass's so far (lloyd_accumulate() of family_kmeans.c). Thread t owns the
 * centres [t * chunk, (t + 1) * chunk). Skipped once the model has diverged. */
__global__ void __launch_bounds__(kBlockThreads)
    kmeans_lloyd_lists_kernel(const rt_state_header *h, double *aux, rt_kmeans_aux_layout al,
                              const float *x, int rows, int k, int d, const int *near,
                              const double *mind, int *offs, int *rowlist) {
  __shared__ int s_base[kBlockThreads];
  __shared__ double s_v[kBlockThreads];
  __shared__ int s_i[kBlockThreads];
  if (h->diverged) return; /* uniform */
  const int t = threadIdx.x, nt = blockDim.x;
  const int chunk = (k + nt - 1) / nt;
  const int c0 = t * chunk < k ? t * chunk : k, c1 = c0 + chunk < k ? c0 + chunk : k;
  int mine = 0;
  for (int c = c0; c < c1; ++c) {
    int n = 0;
    for (int i = 0; i < rows; ++i) n += near[i] == c;
    offs[c] = n;
    mine += n;
  }
  s_base[t] = mine;
  __syncthreads();
  if (t == 0) { /* exclusive scan of the per-thread totals (integers: any order is exact) */
    int run = 0;
    for (int j = 0; j < nt; ++j) {
      const int v = s_base[j];
      s_base[j] = run;
      run += v;
    }
    offs[k] = run;
  }
  __syncthreads();
  double *lcount = aux + al.lloyd_counts;
  int pos = s_base[t];
  for (int c = c0; c < c1; ++c) {
    const int n = offs[c];
    offs[c] = pos;
    lcount[c] += (double)n;
    for (int i = 0; i < rows; ++i)
      if (near[i] == c) rowlist[pos++] = i;
  }
  /* The farthest row: the largest distance, the lowest index among equals (NaN never wins). */
  double best_v = -1.0;
  int best_i = rows;
  for (int r = t; r < rows; r += nt)
    if (mind[r] > best_v) {
      best_v = mind[r];
      best_i = r;
    }
  s_v[t] = best_v;
  s_i[t] = best_i;
  __syncthreads();
  for (int s = nt / 2; s > 0; s >>= 1) {
    if (t < s) {
      const double v = s_v[t + s];
      const int vi = s_i[t + s];
      if (v > s_v[t] || (v == s_v[t] && vi < s_i[t])) {
        s_v[t] = v;
        s_i[t] = vi;
      }
    }
    __syncthreads();
  }
  const int pick = s_i[0];
  const double far = s_v[0], so_far = aux[al.far_dist];
  __syncthreads(); /* every thread has read far_dist before thread 0 may change it */
  if (pick < rows && far > so_far) { /* uniform */
    const float *xp = x + (size_t)pick * (size_t)d;
    for (int f = t; f < d; f += nt) aux[al.far_row + f] = (double)xp[f];
    if (t == 0) aux[al.far_dist] = far;
  }
}

/* Part 2, one thread per (centre, feature): the batch's sum of that feature over the centre's
 * rows, from 0 in row order, added into the state's sums. */
__global__ void kmeans_lloyd_sums_kernel(const rt_state_header *h, double *sums, const float *x,
                                         int k, int d, const int *offs, const int *rowlist) {
  if (h->diverged) return;
  const size_t n = (size_t)k * (size_t)d;
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x; idx < n; idx += stride) {
    const size_t c = idx / (size_t)d, f = idx % (size_t)d;
    double local = 0.0;
    for (int j = offs[c]; j < offs[c + 1]; ++j)
      local += (double)x[(size_t)rowlist[j] * (size_t)d + f];
    sums[idx] += local;
  }
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
  rt_code rc = rt_cuda_rm_sgemm(slot, 0, 1, r, k, d, b->x, b->params, w.g, st); /* X C^T */
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
