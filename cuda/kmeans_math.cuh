/* The device arithmetic of one k-means model's batch, shared by the solo kernels
 * (family_kmeans.cu) and the fused group kernels (group_kmeans.cu): one definition of each step,
 * so a member of a fused group runs every norm, assignment, Sculley update, dead-centre re-seed
 * and Lloyd accumulation with exactly the instructions it would use alone. The distance product
 * is the same launch of cuda/gemm.cu (rt_km_distance_products) with one member alone and m fused;
 * its bits do not depend on the count (gemm.h; tests/gpu/test_gpu_groups.c checks the bytes).
 * Each step mirrors src/models/family_kmeans.c; the comments there say what the steps are. */
#ifndef RINGTRAIN_KMEANS_MATH_CUH
#define RINGTRAIN_KMEANS_MATH_CUH

#include "family_kmeans.h"
#include "rt_cuda_internal.h"
#include "scalar_math.h"

/* |c|^2 of centre c by rt_sq_norm, as sq_norm of family_kmeans.c. */
static __device__ __forceinline__ double rt_km_cnorm(const float *centres, int c, int d) {
  return rt_sq_norm(centres + (size_t)c * (size_t)d, (size_t)d);
}

/* assign_rows() of family_kmeans.c for row i: nearest centre (first minimum; NaN never wins, a
 * NaN at c = 0 stays) and its squared distance, from the row's products g (k values). */
static __device__ __forceinline__ void rt_km_assign_row(const float *x, const float *g,
                                                        const double *cnorm, int i, int k, int d,
                                                        int *near, double *dist) {
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
  *near = best;
  *dist = best_d;
}

/* The largest of the block's (v, i) pairs, lowest index among equals (a total order, so the tree
 * gives the CPU's first maximum); every thread gets it. s_v, s_i: blockDim.x each. */
static __device__ __forceinline__ void rt_km_block_argmax(double v, int i, double *s_v, int *s_i,
                                                          double *out_v, int *out_i) {
  const int t = threadIdx.x;
  s_v[t] = v;
  s_i[t] = i;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) {
      const double o = s_v[t + s];
      const int oi = s_i[t + s];
      if (o > s_v[t] || (o == s_v[t] && oi < s_i[t])) {
        s_v[t] = o;
        s_i[t] = oi;
      }
    }
    __syncthreads();
  }
  *out_v = s_v[0];
  *out_i = s_i[0];
}

/* Steps 2 and 3 of kmeans_integrate() for one model, by the whole block (blockDim.x ==
 * kBlockThreads): Sculley's update row by row in batch order (thread 0 advances the count of the
 * row's centre, every thread moves its features), seen += rows, then the dead-centre rule:
 * centres with count 0 in centre order, each re-seeded to the unused batch row with the largest
 * nearest distance (lowest index on ties; used rows are -1, NaN never taken) until no row is
 * left. Skipped once the model has diverged (the flag as it was before this batch: the batch's
 * loss kernel runs after this one). Called once per block (its shared arrays are the block's). */
static __device__ __forceinline__ void rt_km_update_block(const rt_state_header *h, float *centres,
                                                          double *counts, const float *x, int rows,
                                                          int k, int d, const int *near,
                                                          double *mind) {
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
  if (*seen < RT_KMEANS_DEAD_ROWS_PER_CENTRE * (double)k) return; /* uniform */
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
      double far = 0.0;
      int pick = rows;
      rt_km_block_argmax(best_v, best_i, s_v, s_i, &far, &pick);
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

/* A Lloyd pass's batch, part 1, by the whole block: the stable counting sort of the rows by
 * centre (offs, rowlist), lloyd_counts += the batch's counts, and the farthest row (far_dist,
 * far_row) when it beats the pass's so far (lloyd_accumulate() of family_kmeans.c). Thread t owns
 * the centres [t * chunk, (t + 1) * chunk). Skipped once the model has diverged. Called once per
 * block. */
static __device__ __forceinline__ void rt_km_lloyd_lists_block(
    const rt_state_header *h, double *aux, rt_kmeans_aux_layout al, const float *x, int rows, int k,
    int d, const int *near, const double *mind, int *offs, int *rowlist) {
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
  double far = 0.0;
  int pick = rows;
  rt_km_block_argmax(best_v, best_i, s_v, s_i, &far, &pick);
  const double so_far = aux[al.far_dist];
  __syncthreads(); /* every thread has read far_dist before thread 0 may change it */
  if (pick < rows && far > so_far) { /* uniform */
    const float *xp = x + (size_t)pick * (size_t)d;
    for (int f = t; f < d; f += nt) aux[al.far_row + f] = (double)xp[f];
    if (t == 0) aux[al.far_dist] = far;
  }
}

/* Part 2 for one (centre c, feature f): the batch's sum of that feature over the centre's rows,
 * from 0 in row order, added into the state's sums. */
static __device__ __forceinline__ void rt_km_lloyd_sum(double *sums, const float *x, int d,
                                                       const int *offs, const int *rowlist,
                                                       size_t c, size_t f) {
  double local = 0.0;
  for (int j = offs[c]; j < offs[c + 1]; ++j)
    local += (double)x[(size_t)rowlist[j] * (size_t)d + f];
  sums[c * (size_t)d + f] += local;
}

#endif
