/* k-means: online mini-batch passes (Sculley 2010, "Web-scale k-means clustering") and exact
 * full-batch Lloyd passes, in any mix where the Lloyd passes come last (algorithm, lloyd_passes;
 * src/models/family_kmeans.h has the rule and the aux layout).
 *
 * State layout
 *   params: C, k centres x features, row-major floats (centre c is params[c*d .. c*d+d)).
 *   aux: doubles, see family_kmeans.h: Sculley's counts[k] and seen; with Lloyd passes also the
 *   pass's accumulators (lloyd_now, far_dist, lloyd_counts[k], sums[k][d], far_row[d]).
 *
 * Initialisation (init_from_data): greedy k-means++ on a sample of the first shard of the model's
 * succession: the first m = min(init_sample, rows) indices of rt_rng_permutation keyed by
 * rt_key_push(key, RT_STREAM_SAMPLE). Centre 0 is the sample row floor(u*m), u =
 * rt_rng_uniform(draws, 0) with draws = rt_key_push(key, RT_STREAM_INIT). Every further centre
 * c draws T = rt_kmeans_init_trials candidates, candidate t from u = rt_rng_uniform(draws,
 * c*T + t) by D^2 sampling: distances to the nearest centre so far in double, cumulative sums in
 * sample order, the first sample whose running sum exceeds u * total (ties go to the lowest
 * index). The candidate whose choice lowers the potential (the sum of those distances) most is
 * kept, the first on ties; T = 1 is plain k-means++. Distances are summed like rt_sq_norm's (8
 * lanes). When every sample row already coincides with a centre (total = 0: fewer distinct rows
 * than k) the candidate is the sample row floor(u*m), a duplicate. Centres are exact copies of
 * sample rows; counts, seen and the Lloyd accumulators start at 0, lloyd_now as the first pass
 * says. Without init_from_data (init_params) all centres are 0; the dead-centre rule below then
 * spreads them over the data.
 *
 * One batch (integrate_batch), all in fixed order:
 *  1. G = X C^T by one cblas_sgemm; d2(i, c) = (|x_i|^2 - 2 G(i, c)) + |c|^2 in double (norms
 *     summed in double by rt_sq_norm of scalar_math.h), clamped at 0. Nearest centre: the first minimum.
 *     *loss_sum = sum over rows (in order) of the nearest squared distance, before any update.
 *  Mini-batch pass:
 *  2. Sculley's update, row by row in batch order with the assignments of step 1:
 *     counts[c] += 1; eta = 1 / counts[c]; c <- (1 - eta) c + eta x (in double, stored as float).
 *     seen += rows.
 *  3. Dead centres: once seen >= 10 k (the model has had on average ten rows per centre), every
 *     centre whose count is still 0, in centre order, is re-seeded to a copy of the batch row with
 *     the largest nearest squared distance of step 1 (lowest row index on ties) not already
 *     used by an earlier re-seed of this batch, and its count set to 1. When the batch has no
 *     unused row left the centre waits for the next batch. A re-seeded centre has a count of 1, so
 *     each centre is re-seeded at most once.
 *  Lloyd pass (the centres do not move during the pass):
 *  2. The batch's per-centre sums, each started at 0 and added in row order (double), then added
 *     into the state's sums; the batch's row counts into lloyd_counts.
 *  3. The batch row with the largest nearest distance (lowest index on ties) replaces far_row
 *     when its distance is larger than far_dist (so far_row is the first such row of the pass).
 * Pass end (pass_end) of a Lloyd pass: centre c <- (float)(sums[c] / lloyd_counts[c]) for every
 * centre with rows; the first centre (lowest index) without rows moves to far_row when one was
 * recorded (far_dist > 0), any other keeps its place; the accumulators go back to 0. Every pass
 * end sets lloyd_now for the next pass. The CUDA kernels do the same per-row and per-centre
 * operations in the same order, except for the products (cuda/gemm.cu: one fmaf chain per element, not OpenBLAS's order) and the batch loss (a fixed-order
 * tree over the rows on the device, rt_batch_loss_commit in cuda/row_math.cuh): CPU and CUDA agree
 * to rounding there, not bit for bit.
 *
 * Training goes through the group operations (below, "Fused groups"): every model, alone a group
 * of one, runs steps 1-3 by the same static functions as integrate_batch (kept for the tests),
 * with step 1's product for a whole group from one sgemm.
 *
 * Workspace for `rows` rows: G (rows x k floats), then, aligned to 8 bytes inside the workspace,
 * doubles: |c|^2 [k], nearest squared distance [rows], nearest centre [rows] (exact: k <= 2^24),
 * and with Lloyd passes the batch's sums [k d] and counts [k].
 * Prediction and evaluation use the same layout. */
#include <cblas.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "family_kmeans.h"
#include "family_rules.h"
#include "fused_gemm.h"
#include "row_source.h"
#include "model.h"
#include "rng.h"
#include "scalar_math.h"

static size_t kmeans_k(const rt_model_spec *spec) { return (size_t)spec->hp.k; }

static size_t kmeans_param_count(const rt_model_spec *spec) {
  return kmeans_k(spec) * spec->problem.features;
}

static size_t kmeans_aux_floats(const rt_model_spec *spec) {
  return 2 * rt_kmeans_aux_of(spec).doubles;
}

static rt_code kmeans_check(const rt_model_spec *spec, rt_status *st) {
  if (spec->hp.k < 1)
    return rt_model_refuse(st, RT_ERR_CONFIG, spec, "k = %ld; it must be at least 1", spec->hp.k);
  const rt_code rc = rt_rule_features(spec, st);
  if (rc != RT_OK) return rc;
  if (spec->problem.train_rows != 0 && (uint64_t)spec->hp.k > spec->problem.train_rows)
    return rt_model_refuse(st, RT_ERR_CONFIG, spec, "k = %ld is more than the %llu training rows",
                           spec->hp.k, (unsigned long long)spec->problem.train_rows);
  if (spec->hp.lloyd_passes < 0 || (uint64_t)spec->hp.lloyd_passes > spec->passes)
    return rt_model_refuse(st, RT_ERR_CONFIG, spec,
                           "lloyd_passes = %ld; it must be 0..%llu (the passes)",
                           spec->hp.lloyd_passes, (unsigned long long)spec->passes);
  return RT_OK;
}

static rt_task kmeans_task(const rt_model_spec *spec) {
  (void)spec;
  return RT_TASK_CLUSTERING;
}

/* Real initialisation needs data (init_from_data); zeros until then. */
static void kmeans_init(const rt_model_spec *spec, uint64_t key, float *params) {
  (void)key;
  memset(params, 0, kmeans_param_count(spec) * sizeof *params);
}

/* Squared Euclidean distance in double, as rt_sq_norm sums: 8 interleaved lanes (lane j adds
 * features j, j+8, ... in order) combined pairwise, a fixed order the compiler can vectorize. */
static double sq_distance(const float *a, const float *b, size_t d) {
  double s[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  size_t f = 0;
  for (; f + 8 <= d; f += 8)
    for (size_t j = 0; j < 8; ++j) {
      const double t = (double)a[f + j] - (double)b[f + j];
      s[j] += t * t;
    }
  for (size_t j = 0; f + j < d; ++j) {
    const double t = (double)a[f + j] - (double)b[f + j];
    s[j] += t * t;
  }
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

static double sq_norm(const float *a, size_t d) { return rt_sq_norm(a, d); }

/* Index in [0, n) from a uniform draw in [0, 1). */
static size_t uniform_index(double u, size_t n) {
  size_t i = (size_t)(u * (double)n);
  return i < n ? i : n - 1;
}

/* D^2 sampling: the first index whose running sum of dist exceeds u * total (zeros skipped);
 * when total is 0 (every row is a centre already) the row floor(u * m), a duplicate. */
static size_t d2_pick(double u, const double *dist, size_t m, double total) {
  if (!(total > 0.0)) return uniform_index(u, m);
  const double target = u * total;
  double run = 0.0;
  size_t last_positive = 0;
  for (size_t i = 0; i < m; ++i) {
    if (dist[i] <= 0.0) continue;
    last_positive = i;
    run += dist[i];
    if (run > target) return i;
  }
  return last_positive; /* rounding: u * total reached the full sum */
}

static rt_code kmeans_init_from_data(const rt_model_spec *spec, uint64_t key, float *params,
                                     float *aux, const rt_shard *first_shard, rt_status *st) {
  const size_t k = kmeans_k(spec), d = spec->problem.features;
  const rt_kmeans_aux_layout al = rt_kmeans_aux_of(spec);
  memset(params, 0, k * d * sizeof *params);
  memset(aux, 0, kmeans_aux_floats(spec) * sizeof *aux);
  if (rt_kmeans_lloyd_passes(spec) > 0)
    ((double *)(void *)aux)[al.lloyd_now] = rt_kmeans_lloyd_pass(spec, 0) ? 1.0 : 0.0;
  if (!first_shard || first_shard->rows == 0 ||
      (!first_shard->x && !first_shard->source && !first_shard->indptr))
    return RT_OK;
  const size_t rows = first_shard->rows;
  const size_t want = spec->hp.init_sample > 0 ? (size_t)spec->hp.init_sample : 1;
  const size_t m = want < rows ? want : rows;
  const size_t trials = rt_kmeans_init_trials(spec);
  uint64_t *perm = malloc(rows * sizeof *perm);
  double *dist = malloc(m * sizeof *dist);
  /* The distances with candidate t, and those with the best candidate so far. */
  double *cand = malloc(m * sizeof *cand), *best = malloc(m * sizeof *best);
  if (!perm || !dist || !cand || !best) {
    free(perm), free(dist), free(cand), free(best);
    return RT_FAIL_AT(st, RT_ERR_NOMEM,
                      "k-means++ of model %" PRIu64 ": cannot allocate for %zu rows", spec->id,
                      rows);
  }
  rt_rng_permutation(rt_key_push(key, RT_STREAM_SAMPLE), perm, rows);
  /* A streamed or sparse shard: the sample rows are read (made dense), in sample order, into
   * memory of their own. */
  float *sample = NULL;
  if (!first_shard->x) {
    sample = malloc((m * d > 0 ? m * d : 1) * sizeof *sample);
    rt_code rc =
        sample ? rt_shard_gather_rows(first_shard, perm, m, sample, st)
               : RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a k-means++ sample of %zu rows", m);
    if (rc != RT_OK) {
      free(sample), free(perm), free(dist), free(cand), free(best);
      return rc;
    }
  }
  const float *x = first_shard->x;
  const uint64_t draws = rt_key_push(key, RT_STREAM_INIT);
#define SAMPLE_ROW(i) (sample ? sample + (size_t)(i)*d : x + (size_t)perm[i] * d)
  /* Centre 0: a uniformly chosen sample row. */
  memcpy(params, SAMPLE_ROW(uniform_index(rt_rng_uniform(draws, 0), m)), d * sizeof *params);
  for (size_t i = 0; i < m; ++i) dist[i] = sq_distance(SAMPLE_ROW(i), params, d);
  for (size_t c = 1; c < k; ++c) {
    double total = 0.0;
    for (size_t i = 0; i < m; ++i) total += dist[i];
    double best_potential = 0.0;
    size_t best_pick = 0;
    for (size_t t = 0; t < trials; ++t) {
      const size_t pick = d2_pick(rt_rng_uniform(draws, c * trials + t), dist, m, total);
      const float *row = SAMPLE_ROW(pick);
      double potential = 0.0;
      for (size_t i = 0; i < m; ++i) {
        const double v = sq_distance(SAMPLE_ROW(i), row, d);
        cand[i] = v < dist[i] ? v : dist[i];
        potential += cand[i];
      }
      if (t == 0 || potential < best_potential) {
        double *swap = best;
        best = cand, cand = swap;
        best_potential = potential;
        best_pick = pick;
      }
    }
    memcpy(params + c * d, SAMPLE_ROW(best_pick), d * sizeof *params);
    double *swap = dist;
    dist = best, best = swap;
  }
#undef SAMPLE_ROW
  free(sample), free(perm), free(dist), free(cand), free(best);
  return RT_OK;
}

/* G, one float of padding (the double area is aligned to 8 bytes wherever the workspace starts:
 * float alignment is all that callers promise), then the doubles. */
static size_t kmeans_workspace(const rt_model_spec *spec, size_t rows) {
  const size_t k = kmeans_k(spec);
  const size_t lloyd = rt_kmeans_lloyd_passes(spec) > 0 ? k * spec->problem.features + k : 0;
  return rows * k + 1 + 2 * (k + 2 * rows + lloyd);
}

typedef struct kmeans_ws {
  float *g;       /* rows x k */
  double *cnorm;  /* k */
  double *mind;   /* rows: nearest squared distance */
  double *near;   /* rows: nearest centre */
  double *bsums;  /* Lloyd: k x d, the batch's per-centre sums */
  double *bcount; /* Lloyd: k, the batch's rows per centre */
} kmeans_ws;

static kmeans_ws split_workspace(float *ws, size_t rows, size_t k, size_t d) {
  kmeans_ws w;
  w.g = ws;
  uintptr_t p = (uintptr_t)(ws + rows * k);
  p = (p + (sizeof(double) - 1)) & ~(uintptr_t)(sizeof(double) - 1);
  w.cnorm = (double *)p;
  w.mind = w.cnorm + k;
  w.near = w.mind + rows;
  w.bsums = w.near + rows;
  w.bcount = w.bsums + k * d;
  return w;
}

/* Nearest centre of every row (first minimum) and its squared distance, from the products
 * G(i, c) = x_i . centre c at g[i * ldg + c] (ldg = k alone, the group's sum of k fused) and the
 * rows' squared norms xn[i] (xn may be w->mind: row i's norm is read before its distance is
 * written). The centres' norms go to w->cnorm. */
static void assign_from_products(size_t k, size_t d, const float *params, size_t rows,
                                 const float *g, size_t ldg, const double *xn, kmeans_ws *w) {
  for (size_t c = 0; c < k; ++c) w->cnorm[c] = sq_norm(params + c * d, d);
  for (size_t i = 0; i < rows; ++i) {
    const double xni = xn[i];
    const float *gi = g + i * ldg;
    size_t best = 0;
    double best_d = 0.0;
    for (size_t c = 0; c < k; ++c) {
      double t = (xni - 2.0 * (double)gi[c]) + w->cnorm[c];
      if (t < 0.0) t = 0.0;
      if (c == 0 || t < best_d) { /* NaN never wins; a NaN at c = 0 stays and is reported */
        best = c;
        best_d = t;
      }
    }
    w->mind[i] = best_d;
    w->near[i] = (double)best;
  }
}

/* G = X C^T for `kc` centres stacked row-major (kc x d) into g (rows x kc): the one distance
 * product, of one model (kc = k) or of a whole group (kc = the members' k summed). */
static void centre_products(const float *x, size_t rows, size_t d, const float *centres, size_t kc,
                            float *g) {
  rt_gemm_rowmajor(0, 1, rows, kc, d, x, d, centres, d, g, kc);
}

/* Nearest centre of every row of one model (prediction, evaluation, integrate_batch). */
static kmeans_ws assign_rows(const rt_model_spec *spec, const float *params, const float *x,
                             size_t rows, float *ws) {
  const size_t k = kmeans_k(spec), d = spec->problem.features;
  kmeans_ws w = split_workspace(ws, rows, k, d);
  centre_products(x, rows, d, params, k, w.g);
  for (size_t i = 0; i < rows; ++i) w.mind[i] = sq_norm(x + i * d, d);
  assign_from_products(k, d, params, rows, w.g, k, w.mind, &w);
  return w;
}

/* Sculley's update and the dead-centre rule (steps 2 and 3 of a mini-batch pass). */
static void minibatch_update(const rt_model_spec *spec, float *params, double *a, const float *x,
                             size_t rows, const kmeans_ws *w) {
  const size_t k = kmeans_k(spec), d = spec->problem.features;
  const rt_kmeans_aux_layout al = rt_kmeans_aux_of(spec);
  double *counts = a + al.counts, *seen = a + al.seen;
  for (size_t i = 0; i < rows; ++i) {
    const size_t c = (size_t)w->near[i];
    float *centre = params + c * d;
    const float *xi = x + i * d;
    counts[c] += 1.0;
    const double eta = 1.0 / counts[c], keep = 1.0 - eta;
    for (size_t f = 0; f < d; ++f)
      centre[f] = (float)(keep * (double)centre[f] + eta * (double)xi[f]);
  }
  *seen += (double)rows;
  if (*seen < RT_KMEANS_DEAD_ROWS_PER_CENTRE * (double)k) return;
  for (size_t c = 0; c < k; ++c) {
    if (counts[c] != 0.0) continue;
    size_t pick = rows;
    double far = -1.0;
    for (size_t i = 0; i < rows; ++i)
      if (w->mind[i] > far) { /* used rows are marked -1; NaN rows are never taken */
        far = w->mind[i];
        pick = i;
      }
    if (pick == rows) break; /* no unused row left in this batch */
    memcpy(params + c * d, x + pick * d, d * sizeof *params);
    counts[c] = 1.0;
    w->mind[pick] = -1.0;
  }
}

/* A Lloyd pass's batch: the per-centre sums and counts, and the farthest row (steps 2 and 3). */
static void lloyd_accumulate(const rt_model_spec *spec, double *a, const float *x, size_t rows,
                             const kmeans_ws *w) {
  const size_t k = kmeans_k(spec), d = spec->problem.features;
  const rt_kmeans_aux_layout al = rt_kmeans_aux_of(spec);
  memset(w->bsums, 0, k * d * sizeof *w->bsums);
  memset(w->bcount, 0, k * sizeof *w->bcount);
  for (size_t i = 0; i < rows; ++i) {
    const size_t c = (size_t)w->near[i];
    double *s = w->bsums + c * d;
    const float *xi = x + i * d;
    w->bcount[c] += 1.0;
    for (size_t f = 0; f < d; ++f) s[f] += (double)xi[f];
  }
  double *sums = a + al.sums, *counts = a + al.lloyd_counts;
  for (size_t j = 0; j < k * d; ++j) sums[j] += w->bsums[j];
  for (size_t c = 0; c < k; ++c) counts[c] += w->bcount[c];
  size_t pick = rows;
  double far = -1.0;
  for (size_t i = 0; i < rows; ++i)
    if (w->mind[i] > far) { /* NaN rows are never taken */
      far = w->mind[i];
      pick = i;
    }
  if (pick < rows && far > a[al.far_dist]) {
    a[al.far_dist] = far;
    for (size_t f = 0; f < d; ++f) a[al.far_row + f] = (double)x[pick * d + f];
  }
}

/* Steps 2 and 3 of a batch whose assignments w holds (step 1 done): *loss_sum, then the
 * mini-batch update or the Lloyd accumulation. Applied even when the loss is not finite (the
 * backend then marks the model diverged). */
static void update_assigned(const rt_model_spec *spec, float *params, double *a, const float *x,
                            size_t rows, kmeans_ws *w, double *loss_sum) {
  double loss = 0.0;
  for (size_t i = 0; i < rows; ++i) loss += w->mind[i];
  *loss_sum = loss;
  if (rt_kmeans_lloyd_passes(spec) > 0 && a[rt_kmeans_aux_of(spec).lloyd_now] != 0.0)
    lloyd_accumulate(spec, a, x, rows, w);
  else minibatch_update(spec, params, a, x, rows, w);
}

static void kmeans_integrate(const rt_model_spec *spec, float *params, float *aux, const float *x,
                             const float *y, size_t rows, uint64_t step, double *loss_sum,
                             float *ws) {
  (void)y;
  (void)step;
  kmeans_ws w = assign_rows(spec, params, x, rows, ws);
  update_assigned(spec, params, (double *)(void *)aux, x, rows, &w, loss_sum);
}

/* ---- Fused groups (model.h: group_floats, group_gather, group_batch, group_scatter) ----------
 * The group buffer g of m members (K = the members' k summed, koff_i = the k of members before i):
 *   [0, K d)        C_cat: every member's centres, member i's at g + koff_i d, in its own
 *                   params layout (k_i x d row-major), so C_cat is (K x d) row-major
 *   pad             0 or 1 float, so that the doubles below start 8-byte aligned
 *   aux areas       member after member, each its solo aux (family_kmeans.h), 2 * doubles_i floats
 *                   (even, so every member's area stays aligned)
 *   G               rows x K floats: the batch's products with every centre, member i's in
 *                   columns koff_i .. koff_i + k_i (row stride K)
 *   own             rows x kmax floats: the product of a member that is not fused (below)
 *   pad             0 or 1 float
 *   doubles         |x_i|^2 [rows] (once per batch, for all members), then one member's step-1
 *                   and Lloyd scratch reused member after member: |c|^2 [kmax], nearest distance
 *                   [rows], nearest centre [rows], and when some member has Lloyd passes the
 *                   batch's sums [kmax d] and counts [kmax]
 * One batch: ONE sgemm G = X C_cat^T (for m = 1 the solo call itself), then member by member the
 * solo arithmetic: assignment with its own norms, loss, update. A member's columns of G are its
 * solo products only where its own product (rows x k_i x d) is large enough for OpenBLAS's
 * regular path (fused_gemm.h, the one rule; tests/unit/test_group_kmeans.c checks it bit for
 * bit): a member below that bound (a small k, a short partial batch) gets its own sgemm into
 * `own`, the solo call exactly, and the fused sgemm is skipped when no member needs it. */

typedef struct kmeans_group {
  size_t K, kmax, lloyd_kmax; /* lloyd_kmax: the largest k of a member with Lloyd passes (or 0) */
  size_t aux_floats;          /* all members' aux areas */
} kmeans_group;

static kmeans_group group_shape(const rt_model_spec *const *specs, size_t m) {
  kmeans_group s = {0, 0, 0, 0};
  for (size_t i = 0; i < m; ++i) {
    const size_t k = kmeans_k(specs[i]);
    s.K += k;
    if (k > s.kmax) s.kmax = k;
    if (rt_kmeans_lloyd_passes(specs[i]) > 0 && k > s.lloyd_kmax) s.lloyd_kmax = k;
    s.aux_floats += kmeans_aux_floats(specs[i]);
  }
  return s;
}

/* The first 8-byte aligned address at or after p. */
static double *align_double(float *p) {
  uintptr_t a = (uintptr_t)p;
  a = (a + (sizeof(double) - 1)) & ~(uintptr_t)(sizeof(double) - 1);
  return (double *)a;
}

static size_t kmeans_group_floats(const rt_model_spec *const *specs, size_t m, size_t rows) {
  const kmeans_group s = group_shape(specs, m);
  const size_t d = m ? specs[0]->problem.features : 0;
  const size_t doubles =
      rows + s.kmax + 2 * rows + (s.lloyd_kmax ? s.lloyd_kmax * d + s.lloyd_kmax : 0);
  return s.K * d + 1 + s.aux_floats + rows * s.K + rows * s.kmax + 1 + 2 * doubles;
}

/* Member i's aux area in g (doubles). */
static double *group_aux_base(const kmeans_group *s, size_t d, float *g) {
  return align_double(g + s->K * d);
}

static void kmeans_group_gather(const rt_model_spec *const *specs, size_t m, void *const *states,
                                float *g) {
  const kmeans_group s = group_shape(specs, m);
  const size_t d = specs[0]->problem.features;
  float *aux = (float *)(void *)group_aux_base(&s, d, g);
  for (size_t i = 0, koff = 0; i < m; ++i) {
    const rt_state_layout l = rt_state_layout_of(specs[i]);
    const size_t k = kmeans_k(specs[i]), na = kmeans_aux_floats(specs[i]);
    memcpy(g + koff * d, rt_state_params(states[i], &l), k * d * sizeof *g);
    memcpy(aux, rt_state_aux(states[i], &l), na * sizeof *aux);
    koff += k;
    aux += na;
  }
}

static void kmeans_group_scatter(const rt_model_spec *const *specs, size_t m, const float *g,
                                 void *const *states) {
  const kmeans_group s = group_shape(specs, m);
  const size_t d = specs[0]->problem.features;
  const float *aux = (const float *)(void *)group_aux_base(&s, d, (float *)(uintptr_t)g);
  for (size_t i = 0, koff = 0; i < m; ++i) {
    const rt_state_layout l = rt_state_layout_of(specs[i]);
    const size_t k = kmeans_k(specs[i]), na = kmeans_aux_floats(specs[i]);
    memcpy(rt_state_params(states[i], &l), g + koff * d, k * d * sizeof *g);
    memcpy(rt_state_aux(states[i], &l), aux, na * sizeof *aux);
    koff += k;
    aux += na;
  }
}

static void kmeans_group_batch(const rt_model_spec *const *specs, size_t m, float *g,
                               const float *x, const float *y, size_t rows, const uint64_t *steps,
                               const unsigned char *active, double *loss_sums) {
  (void)y;
  (void)steps;
  const kmeans_group s = group_shape(specs, m);
  const size_t d = specs[0]->problem.features;
  float *aux = (float *)(void *)group_aux_base(&s, d, g);
  float *prod = aux + s.aux_floats, *own = prod + rows * s.K;
  double *xn = align_double(own + rows * s.kmax);
  kmeans_ws w;
  w.g = NULL; /* the products are passed on their own */
  w.cnorm = xn + rows;
  w.mind = w.cnorm + s.kmax;
  w.near = w.mind + rows;
  w.bsums = w.near + rows;
  w.bcount = w.bsums + s.lloyd_kmax * d;
  int fused = 0;
  for (size_t i = 0; i < m; ++i)
    if (active[i] && rt_gemm_fusable(rows, kmeans_k(specs[i]), d)) fused = 1;
  if (fused) centre_products(x, rows, d, g, s.K, prod);
  for (size_t i = 0; i < rows; ++i) xn[i] = sq_norm(x + i * d, d);
  for (size_t i = 0, koff = 0; i < m; ++i) {
    const size_t k = kmeans_k(specs[i]), na = kmeans_aux_floats(specs[i]);
    if (active[i]) {
      float *params = g + koff * d;
      if (rt_gemm_fusable(rows, k, d)) {
        assign_from_products(k, d, params, rows, prod + koff, s.K, xn, &w);
      } else {
        centre_products(x, rows, d, params, k, own);
        assign_from_products(k, d, params, rows, own, k, xn, &w);
      }
      update_assigned(specs[i], params, (double *)(void *)aux, x, rows, &w, &loss_sums[i]);
    }
    koff += k;
    aux += na;
  }
}

/* The end of pass `pass` (0-based): a Lloyd pass moves the centres to their means and starts the
 * next pass's accumulators at 0; every pass end says whether the next pass is a Lloyd step. */
static void kmeans_pass_end(const rt_model_spec *spec, uint64_t pass, float *params, float *aux) {
  if (rt_kmeans_lloyd_passes(spec) == 0) return;
  const size_t k = kmeans_k(spec), d = spec->problem.features;
  const rt_kmeans_aux_layout al = rt_kmeans_aux_of(spec);
  double *a = (double *)(void *)aux;
  if (a[al.lloyd_now] != 0.0) {
    const double *sums = a + al.sums, *counts = a + al.lloyd_counts;
    size_t empty = k;
    for (size_t c = 0; c < k; ++c) {
      float *centre = params + c * d;
      if (counts[c] > 0.0) {
        for (size_t f = 0; f < d; ++f) centre[f] = (float)(sums[c * d + f] / counts[c]);
      } else if (empty == k) {
        empty = c;
      }
    }
    if (empty < k && a[al.far_dist] > 0.0)
      for (size_t f = 0; f < d; ++f) params[empty * d + f] = (float)a[al.far_row + f];
    memset(a + al.far_dist, 0, (al.doubles - al.far_dist) * sizeof *a);
  }
  a[al.lloyd_now] = rt_kmeans_lloyd_pass(spec, pass + 1) ? 1.0 : 0.0;
}

/* Prediction columns: the nearest centre, then the Euclidean distance to it. */
static size_t kmeans_output_width(const rt_model_spec *spec) {
  (void)spec;
  return 2;
}

static void kmeans_output_name(const rt_model_spec *spec, size_t column, char *buf, size_t cap) {
  (void)spec;
  snprintf(buf, cap, "%s", column == 0 ? "cluster" : "distance");
}

static void kmeans_predict(const rt_model_spec *spec, const float *params, const float *x,
                           size_t rows, float *out, float *ws) {
  const kmeans_ws w = assign_rows(spec, params, x, rows, ws);
  for (size_t i = 0; i < rows; ++i) {
    out[2 * i] = (float)w.near[i];
    out[2 * i + 1] = (float)sqrt(w.mind[i]);
  }
}

/* sums: [0] squared distances to the nearest centre (inertia), [1] rows. */
static void kmeans_eval_rows(const rt_model_spec *spec, const float *params, const float *x,
                             const float *y, size_t rows, float *ws, double *sums) {
  (void)y;
  const kmeans_ws w = assign_rows(spec, params, x, rows, ws);
  for (size_t i = 0; i < rows; ++i) sums[0] += w.mind[i];
  sums[1] += (double)rows;
}

static const char *const kmeans_metric_names[] = {"inertia", "mean_sq_distance"};

/* inertia: the total over the evaluated rows (scikit-learn's inertia_); mean_sq_distance: per row. */
static void kmeans_metrics(const rt_model_spec *spec, const double *sums, uint64_t rows,
                           double *values) {
  (void)spec;
  values[0] = sums[0];
  values[1] = sums[0] / (double)rows;
}

const rt_family rt_family_kmeans = {
    .kind = "kmeans",
    .id = RT_FAMILY_KMEANS,
    .task = kmeans_task,
    .check = kmeans_check,
    .param_count = kmeans_param_count,
    .aux_floats = kmeans_aux_floats,
    .init_params = kmeans_init,
    .init_from_data = kmeans_init_from_data,
    .workspace_floats = kmeans_workspace,
    .integrate_batch = kmeans_integrate,
    .group_floats = kmeans_group_floats,
    .group_gather = kmeans_group_gather,
    .group_batch = kmeans_group_batch,
    .group_scatter = kmeans_group_scatter,
    .pass_end = kmeans_pass_end,
    .output_width = kmeans_output_width,
    .output_name = kmeans_output_name,
    .predict = kmeans_predict,
    .eval_rows = kmeans_eval_rows,
    .metric_count = 2,
    .metric_names = kmeans_metric_names,
    .metrics = kmeans_metrics,
};
