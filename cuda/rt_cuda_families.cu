/* CUDA kernels of the kmeans, linear and mlp families, behind the shared per-batch driver of
 * rt_cuda.cu (batch order, loss reduction, divergence, optimizer, header counters). Each mirrors
 * its src/family_<kind>.c step by step:
 *
 * kmeans   G = X C^T by cuBLAS sgemm; |c|^2 (one thread per centre) and |x|^2 (one thread per
 *          row) by rt_sq_norm of scalar_math.h as on the CPU, d2 = (|x|^2 - 2 G) + |c|^2 clamped at 0, first
 *          minimum, exactly the CPU's loop. Sculley's update and the dead-centre rule run in ONE
 *          block that walks the batch rows in order (threads over features), so the sequential
 *          dependency (counts, centres moving row by row) is kept and the result is bit-for-bit
 *          the CPU's for the same assignments; counts and seen are doubles in aux as on the CPU.
 *          Lloyd passes (the host knows which from the pass, rt_kmeans_lloyd_pass): after the
 *          same assignment, ONE block lists every centre's rows in row order (a stable counting
 *          sort: counts, offsets, placement) and picks the farthest row (value, then lowest
 *          index: a total order, so the tree gives the CPU's first maximum); then one thread
 *          per (centre, feature) sums its centre's rows in that order from 0 in double and adds
 *          the total into the state's sums: the CPU's per-batch sums, operation for operation.
 *          The pass end (family hook, after rt_cuda_finish_visit closes the pass) divides in
 *          double, moves the first empty centre to the farthest row, zeroes the accumulators.
 * linear   exact: the batch shifted by the first row and converted to double on the device, G by
 *          cublasDsyrk (lower column-major = the CPU's upper row-major), r by cublasDgemv, sum y'^2
 *          by a fixed-order block sum: the CPU's aux layout, sums equal to double rounding. The
 *          solve (family finish) stays on the host. sgd: sgemv for X w and X^T e, the residual
 *          kernel (the CPU's float expressions), the intercept gradient a row-order column sum,
 *          the ridge alpha/train_rows folded into the shared optimizer kernel.
 * mlp      per layer cuBLAS sgemm (fp32, no TF32), a bias + activation kernel (relu / tanh / gelu
 *          with the CPU's float expressions, NaN propagating), softmax cross-entropy (the logistic
 *          kernel) or squared error output, weight gradients by sgemm, L2 on weights only, bias
 *          gradients as row-order column sums, deltas by sgemm times act'(z).
 * Nothing adds floating-point values atomically; every reduction has a fixed order, so the results
 * are the same run to run (and agree with the CPU to rounding). */
#include "rt_cuda.h"

#include <math.h>
#include <string.h>

#include "family_kmeans.h"
#include "rt_cuda_internal.h"
#include "scalar_math.h"

namespace {

constexpr int kRowThreads = 128;   /* one thread per row */
constexpr int kBlockThreads = 256; /* single-block kernels; a power of two (tree reductions) */

int row_blocks(int rows) { return rows > 0 ? (rows + kRowThreads - 1) / kRowThreads : 1; }

rt_code needs_labels(const rt_model_spec *spec, int has_labels, rt_status *st) {
  if (has_labels) return RT_OK;
  return rt_model_refuse(st, RT_ERR_DATA, spec, "needs labels, the device shard has none");
}

/* ==== kmeans ================================================================================= */

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
    for (int j = offs[c]; j < offs[c + 1]; ++j) local += (double)x[(size_t)rowlist[j] * (size_t)d + f];
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
    aux[i == 0 ? al.far_dist : i <= k ? al.lloyd_counts + (size_t)(i - 1) : al.far_row + (size_t)(i - 1 - k)] = 0.0;
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
  kmeans_assign_kernel<<<row_blocks(r), kRowThreads, 0, slot->stream>>>(b->x, w.g, w.cnorm, r, k, d,
                                                                        mind, near, loss, one);
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

/* ==== linear ================================================================================= */

/* The exact solver's aux layout, as family_linear.c defines it (doubles): head [0, 8), x0
 * [8, 8 + pad8(d)), G (q x q, row-major upper), r (q), w (q); q = d + 1. */
enum { LIN_ROWS = 0, LIN_Y0 = 1, LIN_SYY = 2, LIN_HEAD = 8 };

size_t pad8(size_t n) { return (n + 7) / 8 * 8; }

bool linear_exact(const rt_model_spec *spec) { return spec->hp.solver == RT_SOLVER_EXACT; }

size_t linear_params(const rt_model_spec *spec) {
  return spec->problem.features + (spec->hp.fit_intercept ? 1 : 0);
}

struct linear_ws {
  float *grad; /* sgd: the gradient (w, then b) */
  float *e;    /* sgd: rows, X w, then the residuals / rows */
  double *xd;  /* exact: rows x q, the shifted batch with its column of ones */
  double *yd;  /* exact: rows, y - y0 */
  double *ysq; /* exact: rows, (y - y0)^2 */
};

linear_ws linear_carve(const rt_model_spec *spec, size_t rows, float *base, size_t *used) {
  rt_work_carver w = {base, 0};
  linear_ws o = {};
  if (linear_exact(spec)) {
    o.xd = w.doubles(rows * (spec->problem.features + 1));
    o.yd = w.doubles(rows);
    o.ysq = w.doubles(rows);
  } else {
    o.grad = w.floats(linear_params(spec));
    o.e = w.floats(rows);
  }
  if (used) *used = w.used;
  return o;
}

size_t linear_work(const rt_model_spec *spec, size_t rows) {
  size_t used = 0;
  (void)linear_carve(spec, rows, nullptr, &used);
  return used;
}

rt_code linear_check(const rt_model_spec *spec, size_t rows, int has_labels, rt_status *st) {
  rt_code rc = rt_cuda_check_dim(spec, "features + 1", spec->problem.features + 1, st);
  if (rc == RT_OK && linear_exact(spec))
    rc = rt_cuda_check_dim(spec, "rows x (features + 1)", rows * (spec->problem.features + 1), st);
  if (rc == RT_OK) rc = needs_labels(spec, has_labels, st);
  return rc;
}

/* The first row the model integrates fixes the shift (x0, y0). One block. */
__global__ void linear_shift_kernel(const rt_state_header *h, double *head, double *x0,
                                    const float *x, const float *y, int d) {
  if (h->diverged || head[LIN_ROWS] != 0.0) return;
  for (int j = threadIdx.x; j < d; j += blockDim.x) x0[j] = (double)x[j];
  if (threadIdx.x == 0) head[LIN_Y0] = (double)y[0];
}

/* x~ = (x - x0, 1), y' = y - y0 and y'^2 in double, exactly exact_accumulate()'s loop. Zeros once
 * the model has diverged, so the cuBLAS updates that follow add nothing (the CPU skips the
 * batch; +0 leaves every finite or non-finite sum as it is). */
__global__ void linear_convert_kernel(const rt_state_header *h, const double *head,
                                      const double *x0, const float *x, const float *y, int rows,
                                      int d, double *xd, double *yd, double *ysq) {
  const bool off = h->diverged != 0;
  const size_t q = (size_t)d + 1, n = (size_t)rows * q;
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  const size_t first = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  for (size_t idx = first; idx < n; idx += stride) {
    const size_t i = idx / q, j = idx % q;
    xd[idx] = off ? 0.0 : j < (size_t)d ? (double)x[i * (size_t)d + j] - x0[j] : 1.0;
  }
  const double y0 = head[LIN_Y0];
  for (size_t i = first; i < (size_t)rows; i += stride) {
    const double v = (double)y[i] - y0;
    yd[i] = off ? 0.0 : v;
    ysq[i] = off ? 0.0 : v * v;
  }
}

/* One block, after the cuBLAS updates: syy += sum y'^2 (fixed order), rows += rows, and the
 * batch's "loss": syy * 0 + sum_j (G_jj * 0 + r_j * 0), i.e. 0, or NaN once a sum is not finite
 * (exact_accumulate()). */
__global__ void linear_stats_end_kernel(const rt_state_header *h, double *head, const double *g,
                                        const double *r, const double *ysq, int rows, int q,
                                        double *loss) {
  __shared__ double sh[kBlockThreads];
  if (h->diverged) { /* uniform; the batch's loss becomes NaN through the flag anyway */
    if (threadIdx.x == 0) loss[0] = 0.0;
    return;
  }
  const double s = rt_fixed_sum(ysq, rows, sh);
  if (threadIdx.x != 0) return;
  const double syy = head[LIN_SYY] + s;
  head[LIN_SYY] = syy;
  head[LIN_ROWS] += (double)rows;
  double check = syy * 0.0;
  for (int j = 0; j < q; ++j) check += g[(size_t)j * (size_t)q + (size_t)j] * 0.0 + r[j] * 0.0;
  loss[0] = check;
}

/* linear_gradient() / the mlp's squared-error output: e = (e + b) - y in float, per-row loss
 * 0.5 e^2 in double, e / rows in place. b may be NULL (no intercept: + 0.0f, as the CPU). */
__global__ void residual_kernel(float *e, const float *b, const float *y, int rows,
                                float inv_rows, double *row_loss) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  const float bv = b ? b[0] : 0.0f;
  const float ei = e[i] + bv - y[i];
  row_loss[i] = 0.5 * (double)ei * (double)ei;
  e[i] = ei * inv_rows;
}

/* linear_eval_rows(): y^ = b + sum_j p_j x_j in double (features in order); sums (y^ - y)^2,
 * |y^ - y|, y, y^2. */
__global__ void linear_eval_kernel(const float *p, const float *x, const float *y, int rows, int d,
                                   int fit_intercept, double *cols, size_t stride) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  const float *xi = x + (size_t)i * (size_t)d;
  double acc = fit_intercept ? (double)p[d] : 0.0;
  for (int j = 0; j < d; ++j) acc += (double)p[j] * (double)xi[j];
  const double t = (double)y[i], e = acc - t;
  cols[i] = e * e;
  cols[stride + i] = fabs(e);
  cols[2 * stride + i] = t;
  cols[3 * stride + i] = t * t;
}

rt_code linear_exact_batch(rt_cuda_slot *slot, const rt_cuda_batch *b, rt_cuda_batch_out *out,
                           rt_status *st) {
  const int d = (int)b->spec->problem.features, q = d + 1, r = b->rows;
  const linear_ws w = linear_carve(b->spec, (size_t)r, slot->work, nullptr);
  double *head = (double *)(void *)b->aux, *x0 = head + LIN_HEAD;
  double *g = x0 + pad8((size_t)d), *rv = g + (size_t)q * (size_t)q;
  linear_shift_kernel<<<1, kBlockThreads, 0, slot->stream>>>(b->dh, head, x0, b->x, b->y, d);
  RT_CUDA_CHECK_LAUNCH(st);
  const size_t n = (size_t)r * (size_t)q;
  linear_convert_kernel<<<rt_cuda_elem_blocks(n), kRtElemThreads, 0, slot->stream>>>(
      b->dh, head, x0, b->x, b->y, r, d, w.xd, w.yd, w.ysq);
  RT_CUDA_CHECK_LAUNCH(st);
  /* Column-major, xd is M (q x rows) with the shifted rows as columns: G += M M^T. The CPU's
   * row-major upper triangle is the column-major lower one; r += M y'. */
  const double one = 1.0;
  RT_CUBLAS_CHECK(st, cublasDsyrk(slot->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, q, r, &one,
                                  w.xd, q, &one, g, q));
  RT_CUBLAS_CHECK(st, cublasDgemv(slot->blas, CUBLAS_OP_N, q, r, &one, w.xd, q, w.yd, 1, &one,
                                  rv, 1));
  linear_stats_end_kernel<<<1, kBlockThreads, 0, slot->stream>>>(b->dh, head, g, rv, w.ysq, r, q,
                                                                 slot->row_vals);
  RT_CUDA_CHECK_LAUNCH(st);
  out->loss_n = 1;
  out->gradient = 0;
  return RT_OK;
}

/* The ridge coefficient of the per-row objective: alpha / train_rows (family_linear.c). */
float sgd_ridge(const rt_model_spec *spec) {
  const double n = (double)spec->problem.train_rows;
  return (float)(n > 0.0 ? spec->hp.alpha / n : spec->hp.alpha);
}

rt_code linear_sgd_batch(rt_cuda_slot *slot, const rt_cuda_batch *b, rt_cuda_batch_out *out,
                         rt_status *st) {
  const int d = (int)b->spec->problem.features, r = b->rows;
  const int fi = b->spec->hp.fit_intercept != 0;
  const linear_ws w = linear_carve(b->spec, (size_t)r, slot->work, nullptr);
  const float one = 1.0f, zero = 0.0f;
  /* Row-major X (rows x d) is column-major A (d x rows): X w = A^T w, X^T e = A e. */
  RT_CUBLAS_CHECK(st, cublasSgemv(slot->blas, CUBLAS_OP_T, d, r, &one, b->x, d, b->params, 1,
                                  &zero, w.e, 1));
  residual_kernel<<<row_blocks(r), kRowThreads, 0, slot->stream>>>(
      w.e, fi ? b->params + d : nullptr, b->y, r, 1.0f / (float)r, slot->row_vals);
  RT_CUDA_CHECK_LAUNCH(st);
  RT_CUBLAS_CHECK(st, cublasSgemv(slot->blas, CUBLAS_OP_N, d, r, &one, b->x, d, w.e, 1, &zero,
                                  w.grad, 1));
  if (fi) {
    const rt_code rc = rt_cuda_column_sums(slot, w.e, r, 1, w.grad + d, st);
    if (rc != RT_OK) return rc;
  }
  out->loss_n = r;
  out->gradient = 1;
  out->l2 = sgd_ridge(b->spec); /* on the weights, not the intercept */
  out->nw = (size_t)d;
  return RT_OK;
}

rt_code linear_batch(rt_cuda_slot *slot, const rt_cuda_batch *b, rt_cuda_batch_out *out,
                     rt_status *st) {
  return linear_exact(b->spec) ? linear_exact_batch(slot, b, out, st)
                               : linear_sgd_batch(slot, b, out, st);
}

rt_code linear_eval(rt_cuda_slot *slot, const rt_cuda_batch *b, int *sums_n, rt_status *st) {
  const int d = (int)b->spec->problem.features, r = b->rows;
  linear_eval_kernel<<<row_blocks(r), kRowThreads, 0, slot->stream>>>(
      b->params, b->x, b->y, r, d, b->spec->hp.fit_intercept != 0, slot->row_vals, slot->max_rows);
  RT_CUDA_CHECK_LAUNCH(st);
  *sums_n = 4;
  return RT_OK;
}

/* ==== mlp ==================================================================================== */

#define MLP_SQRT_2_OVER_PI 0.79788456080286535588f
#define MLP_GELU_C 0.044715f

bool mlp_regression(const rt_model_spec *spec) { return spec->hp.output == RT_OUTPUT_REGRESSION; }

size_t mlp_layers(const rt_model_spec *spec) { return (size_t)spec->hp.hidden_count + 1; }

/* Width of layer i: 0 = input (features), 1..H = hidden, H+1 = output. */
size_t mlp_width(const rt_model_spec *spec, size_t i) {
  const size_t h = (size_t)spec->hp.hidden_count;
  if (i == 0) return spec->problem.features;
  if (i <= h) return (size_t)spec->hp.hidden[i - 1];
  return mlp_regression(spec) ? 1 : spec->problem.classes;
}

size_t mlp_params(const rt_model_spec *spec) {
  size_t n = 0;
  for (size_t l = 0; l < mlp_layers(spec); ++l) {
    const size_t in = mlp_width(spec, l), out = mlp_width(spec, l + 1);
    n += in * out + out;
  }
  return n;
}

/* The gradient, then the CPU's blocks: A_h and D_h per hidden layer, the output block. */
struct mlp_ws {
  float *grad;
  float *act[RT_HIDDEN_MAX + 1], *der[RT_HIDDEN_MAX + 1];
  float *out;
};

mlp_ws mlp_carve(const rt_model_spec *spec, size_t rows, float *base, size_t *used) {
  rt_work_carver w = {base, 0};
  mlp_ws o = {};
  o.grad = w.floats(mlp_params(spec));
  const size_t hidden = spec->hp.hidden_count > 0 && spec->hp.hidden_count <= RT_HIDDEN_MAX
                            ? (size_t)spec->hp.hidden_count
                            : 0;
  for (size_t h = 1; h <= hidden; ++h) {
    o.act[h] = w.floats(rows * mlp_width(spec, h));
    o.der[h] = w.floats(rows * mlp_width(spec, h));
  }
  o.out = w.floats(rows * mlp_width(spec, mlp_layers(spec)));
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
  for (size_t l = 0; l <= mlp_layers(spec); ++l) {
    const rt_code rc = rt_cuda_check_dim(spec, "a layer width", mlp_width(spec, l), st);
    if (rc != RT_OK) return rc;
  }
  return needs_labels(spec, has_labels, st);
}

/* z += bias (per column), then the activation in place with, when der is set, act'(z) into der:
 * mlp_forward()'s bias loop and mlp_activate() element by element. */
__global__ void bias_act_kernel(float *z, const float *bias, size_t n, int width, int act,
                                float *der) {
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = z[i] + bias[i % (size_t)width];
    switch (act) {
      case RT_ACTIVATION_RELU:
        if (der) der[i] = v > 0.0f ? 1.0f : 0.0f;
        z[i] = v < 0.0f ? 0.0f : v; /* NaN stays NaN */
        break;
      case RT_ACTIVATION_TANH: {
        const float t = tanhf(v);
        if (der) der[i] = 1.0f - t * t;
        z[i] = t;
        break;
      }
      default: { /* RT_ACTIVATION_GELU */
        const float v2 = v * v;
        const float t = tanhf(MLP_SQRT_2_OVER_PI * (v + MLP_GELU_C * v2 * v));
        if (der)
          der[i] = 0.5f * (1.0f + t) +
                   0.5f * v * (1.0f - t * t) * MLP_SQRT_2_OVER_PI * (1.0f + 3.0f * MLP_GELU_C * v2);
        z[i] = 0.5f * v * (1.0f + t);
        break;
      }
    }
  }
}

/* gw += l2 * w (cblas_saxpy of the CPU). */
__global__ void l2_kernel(float *gw, const float *w, float l2, size_t n) {
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    gw[i] = l2 * w[i] + gw[i];
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

/* Offsets of each layer's W in params / grad (its bias follows W). */
void mlp_offsets(const rt_model_spec *spec, size_t *offset) {
  offset[0] = 0;
  for (size_t l = 0; l < mlp_layers(spec); ++l)
    offset[l + 1] = offset[l] + mlp_width(spec, l) * mlp_width(spec, l + 1) + mlp_width(spec, l + 1);
}

/* mlp_forward() up to the output layer's product: hidden blocks activated (with act'(z) when
 * derivatives), the output block holds X_L W_L without its bias (the output kernels add it). */
rt_code mlp_forward(rt_cuda_slot *slot, const rt_cuda_batch *b, const mlp_ws &w, int derivatives,
                    rt_status *st) {
  const rt_model_spec *spec = b->spec;
  const size_t layers = mlp_layers(spec);
  const float *in = b->x, *p = b->params;
  for (size_t l = 0; l < layers; ++l) {
    const size_t n_in = mlp_width(spec, l), n_out = mlp_width(spec, l + 1);
    float *z = l + 1 < layers ? w.act[l + 1] : w.out;
    rt_code rc;
    RT_TRY(rc, rt_cuda_rm_sgemm(slot, 0, 0, b->rows, (int)n_out, (int)n_in, in, p, z, st));
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
  const size_t layers = mlp_layers(spec), n_last = mlp_width(spec, layers);
  const mlp_ws w = mlp_carve(spec, (size_t)r, slot->work, nullptr);
  size_t offset[RT_HIDDEN_MAX + 2];
  mlp_offsets(spec, offset);
  rt_code rc;
  RT_TRY(rc, mlp_forward(slot, b, w, 1, st));
  const float *out_bias = b->params + offset[layers - 1] + mlp_width(spec, layers - 1) * n_last;
  /* Output delta (mean over the batch) in place of the output block, per-row losses. */
  if (mlp_regression(spec)) {
    residual_kernel<<<row_blocks(r), kRowThreads, 0, slot->stream>>>(
        w.out, out_bias, b->y, r, 1.0f / (float)r, slot->row_vals);
    RT_CUDA_CHECK_LAUNCH(st);
  } else if ((rc = rt_cuda_softmax_xent(slot, w.out, out_bias, b->y, r, (int)n_last,
                                        slot->row_vals, st)) != RT_OK) {
    return rc;
  }
  const float l2 = (float)spec->hp.l2;
  float *delta = w.out;
  for (size_t l = layers; l-- > 0;) {
    const size_t n_in = mlp_width(spec, l), n_out = mlp_width(spec, l + 1);
    const float *in = l == 0 ? b->x : w.act[l];
    const float *wt = b->params + offset[l];
    float *gw = w.grad + offset[l], *gb = gw + n_in * n_out;
    if ((rc = rt_cuda_rm_sgemm(slot, 1, 0, (int)n_in, (int)n_out, r, in, delta, gw, st)) != RT_OK)
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
    if ((rc = rt_cuda_rm_sgemm(slot, 0, 1, r, (int)n_in, (int)n_out, delta, wt, next, st)) != RT_OK)
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
  const size_t layers = mlp_layers(spec), n_last = mlp_width(spec, layers);
  const mlp_ws w = mlp_carve(spec, (size_t)r, slot->work, nullptr);
  size_t offset[RT_HIDDEN_MAX + 2];
  mlp_offsets(spec, offset);
  rt_code rc;
  RT_TRY(rc, mlp_forward(slot, b, w, 0, st));
  const float *out_bias = b->params + offset[layers - 1] + mlp_width(spec, layers - 1) * n_last;
  if (mlp_regression(spec)) {
    mlp_regression_eval_kernel<<<row_blocks(r), kRowThreads, 0, slot->stream>>>(
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

const rt_cuda_family rt_cuda_family_kmeans = {kmeans_work, kmeans_check, kmeans_batch,
                                              kmeans_eval, kmeans_pass_end};
const rt_cuda_family rt_cuda_family_linear = {linear_work, linear_check, linear_batch,
                                              linear_eval, nullptr};
const rt_cuda_family rt_cuda_family_mlp = {mlp_work, mlp_check, mlp_batch, mlp_eval,
                                           nullptr};
