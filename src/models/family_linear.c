/* Linear least squares / ridge regression (task regression: y = the target column).
 *
 * Parameters (both solvers): w (features) followed, with fit_intercept, by the intercept b.
 * Prediction y^ = x.w + b, evaluated in double from the float parameters.
 *
 * alpha is the ridge penalty of both solvers, for the same objective
 *     1/2 sum_rows (y^ - y)^2 + alpha/2 |w|^2      (the intercept is never penalised),
 * so both solvers approach the same solution. l2 does not apply to linear (ignored).
 *
 * solver: exact. One pass (train.c forces passes = 1) accumulates sufficient statistics in
 * double; finish() solves the normal equations by Cholesky. The statistics are those of the
 * shifted rows x' = x - x0, y' = y - y0, where (x0, y0) is the first row the model integrates
 * (fixed by the model's batch order, hence by no rank layout). The shift keeps uncentred data
 * (large offsets against small spreads) from cancelling in the sums. The statistics always include
 * the column of ones (q = features + 1), whether or not the model fits an intercept, so they do not
 * depend on alpha or fit_intercept: one pass of statistics can be finished for any alpha and
 * either fit_intercept (finish reads only spec->hp.alpha, spec->hp.fit_intercept and aux).
 * The state's aux area, as doubles (aux_floats = 2 x count; aux is 64-byte aligned):
 *   [0, 8)            head: LIN_ROWS n, LIN_Y0 y0, LIN_SYY sum y'^2, and what finish() did:
 *                     LIN_SOLVED, LIN_JITTER, LIN_TRAIN_LOSS (see below); 2 reserved (0)
 *   [8, 8+D)          x0 (features), D = features rounded up to a multiple of 8 (zero padded)
 *   then q*q          G = sum x~ x~^T, row-major, upper triangle (lower stays 0), x~ = (x', 1):
 *                     G[j][q-1] = sum x'_j, G[q-1][q-1] = n
 *   then q            r = sum x~ y': r[q-1] = sum y'
 *   then q            the double solution finish() wrote: w, then b (0 without intercept)
 * integrate_batch converts the batch (shifted) to double in the workspace and adds it with
 * cblas_dsyrk / cblas_dgemv in double, so the sums are exact up to double rounding, in a fixed
 * order. Its loss is 0 (a statistics pass has no loss before the solve), or NaN once the
 * statistics are not finite (a NaN or infinite value in the data, or an overflow), so that the
 * engine marks the model diverged and finish() is skipped.
 * finish() forms the d x d system in double: with intercept, the centred statistics
 * (the intercept is eliminated, so it is not penalised: b = mean(y) - mean(x).w); without, the
 * raw sums X^T X and X^T y rebuilt from the shifted ones. It adds alpha to the diagonal, scales rows
 * and columns by powers of two (exact) to a unit diagonal and factors a copy with LAPACKE_dpotrf,
 * then solves with LAPACKE_dpotrs.
 * Singular systems (alpha = 0 with a constant or collinear column, fewer rows than features): the
 * run does not fail. The solve is retried, deterministically, with a ridge tau = 1e-8, 1e-6, ...,
 * 1 added to the scaled diagonal (i.e. tau times each feature's own sum of squares), the first
 * that factors wins: the near minimum-norm least-squares fit (in scaled coordinates); a constant
 * column gets weight 0. The smallest tau is about sqrt(DBL_EPSILON): the solution's rounding
 * error (about DBL_EPSILON / tau relative) and the ridge's bias (about tau) are then both near
 * 1e-8; with 1e-10 the rounding error alone was 1e-6 and depended on the BLAS (twin columns split
 * 0.74999269 / 0.74999529 with OpenBLAS's Haswell kernels, 0.74999367 / 0.74999431 with its
 * SkylakeX ones). The head records it: LIN_SOLVED = 1 solved as asked, 2 solved with the
 * jitter LIN_JITTER = tau, 3 no solution (no rows, or nothing factored: weights 0, b = mean y or 0);
 * LIN_TRAIN_LOSS = mean of 1/2 (y^ - y)^2 over the training rows at the double solution.
 *
 * solver: sgd. A gradient family: batch_gradient gives the gradient of
 * mean_batch 1/2 (y^ - y)^2 + (alpha / train_rows)/2 |w|^2, the per-row form of the objective
 * above (alpha itself when train_rows is unknown, 0); the shared optimizers update. aux is the
 * optimizer's. Training goes through the group operations (below); integrate_batch, for a
 * single model outside the engine, does what a group of one does: batch_gradient, then
 * rt_optimizer_step unless the loss is not finite. The workspace holds the gradient (param_count
 * floats) then batch_gradient's scratch.
 *
 * Evaluation: sums[0] sum (y^ - y)^2, [1] sum |y^ - y|, [2] sum y, [3] sum y^2; metrics rmse, mae,
 * r2 = 1 - sse / sst with sst = sum y^2 - (sum y)^2 / n. A constant target (sst <= 1e-12 sum y^2,
 * rounding level) has no variance to explain: r2 = 1 when sse == 0, else 0 (as scikit-learn). */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "family_rules.h"
#include "fused_block.h"
#include "fused_gemm.h"
#include "model.h"
#include "scalar_math.h"
#include "sparse_rows.h"

/* The exact solver's state holds (features+1)^2 doubles and is handed between ranks as one MPI
 * message (at most INT_MAX bytes): 16000 features make a 2.05e9-byte state. */
#define LIN_EXACT_MAX_FEATURES 16000

enum {
  LIN_ROWS = 0,   /* rows accumulated */
  LIN_Y0,         /* the target of the first row (shift) */
  LIN_SYY,        /* sum (y - y0)^2 */
  LIN_SOLVED,     /* finish: 0 not yet, 1 solved, 2 solved with jitter, 3 no solution */
  LIN_JITTER,     /* finish: the scaled ridge added to factor a singular system (0: none) */
  LIN_TRAIN_LOSS, /* finish: mean 1/2 (y^ - y)^2 over the training rows */
  LIN_HEAD = 8
};

/* Floats of 64-byte alignment slack at the start of a workspace holding doubles. */
#define LIN_ALIGN_SLACK 16

typedef struct lin_stats {
  double *head, *x0, *g, *r, *w;
} lin_stats;

static int exact(const rt_model_spec *spec) { return spec->hp.solver == RT_SOLVER_EXACT; }

static size_t pad8(size_t n) { return (n + 7) / 8 * 8; }

static size_t stats_doubles(size_t d) {
  const size_t q = d + 1;
  return LIN_HEAD + pad8(d) + q * q + 2 * q;
}

static lin_stats stats_of(const rt_model_spec *spec, float *aux) {
  const size_t d = spec->problem.features, q = d + 1;
  lin_stats s;
  s.head = (double *)(void *)aux;
  s.x0 = s.head + LIN_HEAD;
  s.g = s.x0 + pad8(d);
  s.r = s.g + q * q;
  s.w = s.r + q;
  return s;
}

/* The workspace (any float alignment) as 64-byte aligned doubles. */
static double *ws_doubles(float *ws) {
  const uintptr_t a = ((uintptr_t)ws + 63) & ~(uintptr_t)63;
  return (double *)(void *)a;
}

static rt_task linear_task(const rt_model_spec *spec) {
  (void)spec;
  return RT_TASK_REGRESSION;
}

static size_t linear_param_count(const rt_model_spec *spec) {
  return spec->problem.features + (spec->hp.fit_intercept ? 1 : 0);
}

static size_t linear_aux_floats(const rt_model_spec *spec) {
  if (exact(spec)) return 2 * stats_doubles(spec->problem.features);
  return rt_optimizer_aux_count(spec, linear_param_count(spec));
}

static rt_code linear_check(const rt_model_spec *spec, rt_status *st) {
  const size_t d = spec->problem.features;
  const rt_code rc = rt_rule_features(spec, st);
  if (rc != RT_OK) return rc;
  if (!(spec->hp.alpha >= 0.0) || !isfinite(spec->hp.alpha))
    return rt_model_refuse(st, RT_ERR_CONFIG, spec,
                           "alpha (the ridge penalty) must be a finite number >= 0, got %g",
                           spec->hp.alpha);
  if (spec->hp.solver != RT_SOLVER_EXACT && spec->hp.solver != RT_SOLVER_SGD)
    return rt_model_refuse(st, RT_ERR_CONFIG, spec, "unknown solver %d", (int)spec->hp.solver);
  if (exact(spec) && d > LIN_EXACT_MAX_FEATURES)
    return rt_model_refuse(
        st, RT_ERR_CONFIG, spec,
        "solver exact keeps a (features+1)^2 matrix of doubles; %zu "
        "features would need %.3g GB of state (at most %d features): use solver: sgd",
        d, 8.0 * (double)stats_doubles(d) / 1e9, LIN_EXACT_MAX_FEATURES);
  return RT_OK;
}

/* Zero weights and intercept: a convex problem needs no random start, and exact overwrites them. */
static void linear_init(const rt_model_spec *spec, uint64_t key, float *params) {
  (void)key;
  memset(params, 0, linear_param_count(spec) * sizeof *params);
}

static size_t linear_workspace(const rt_model_spec *spec, size_t rows) {
  const size_t d = spec->problem.features;
  size_t need;
  if (exact(spec)) need = LIN_ALIGN_SLACK + 2 * (rows * (d + 1) + rows); /* batch and targets */
  else need = linear_param_count(spec) + rows; /* gradient, then residuals */
  return need > 0 ? need : 1;                  /* prediction and evaluation need none */
}

/* ---- solver sgd ---------------------------------------------------------------------------- */

/* The ridge coefficient of the per-row objective: alpha / train_rows. */
static float sgd_ridge(const rt_model_spec *spec) {
  const double n = (double)spec->problem.train_rows;
  return (float)(n > 0.0 ? spec->hp.alpha / n : spec->hp.alpha);
}

/* The batch arithmetic of solver sgd, shared by a solo model and a fused group: every function
 * works on matrices of row stride ld holding one or more models side by side (member i's column
 * at i), a solo model being ld = 1. The products X w and X^T e cover all members at once where
 * fused_gemm.h lets a member's shape (one column) fuse, else member by member with the solo call
 * (with one column per member that needs rows x features above 10^6); the rest runs per member in
 * loops whose arithmetic does not depend on ld. */

/* E = X W for ld members' weights side by side (features x 1 each, row stride ld); E is rows x ld. */
static void sgd_forward(const float *x, size_t rows, size_t d, const float *w, size_t ld,
                        float *e) {
  rt_gemm_members(0, rows, d, x, d, w, 1, ld, e);
}

/* GW = X^T E (features x ld) for ld columns of E. */
static void sgd_backward(const float *x, size_t rows, size_t d, const float *e, size_t ld,
                         float *gw) {
  rt_gemm_members(1, d, rows, x, d, e, 1, ld, gw);
}

/* One member's column of products e (stride ld) to residuals / rows in place; returns the sum of
 * 1/2 residual^2. w: its parameters (stride ld; the intercept at row features). */
static double sgd_member_residuals(const rt_model_spec *spec, const float *w, float *e,
                                   const float *y, size_t rows, size_t ld) {
  const size_t d = spec->problem.features;
  const float b = spec->hp.fit_intercept ? w[d * ld] : 0.0f;
  const float inv_rows = 1.0f / (float)rows;
  double loss = 0.0;
  for (size_t i = 0; i < rows; ++i) {
    const float ei = e[i * ld] + b - y[i];
    loss += 0.5 * (double)ei * (double)ei;
    e[i * ld] = ei * inv_rows;
  }
  return loss;
}

/* Completes one member's gradient gw (stride ld): the ridge term on the weights and the intercept
 * gradient (row features) as the sum of e in row order (deterministic). */
static void sgd_member_gradient_rest(const rt_model_spec *spec, const float *w, float *gw,
                                     const float *e, size_t rows, size_t ld, int with_ridge) {
  const size_t d = spec->problem.features;
  const float ridge = sgd_ridge(spec);
  if (with_ridge && ridge > 0.0f)
    for (size_t j = 0; j < d; ++j) gw[j * ld] += ridge * w[j * ld];
  if (spec->hp.fit_intercept) {
    float gb = 0.0f;
    for (size_t i = 0; i < rows; ++i) gb += e[i * ld];
    gw[d * ld] = gb;
  }
}

static void linear_gradient(const rt_model_spec *spec, const float *params, const float *x,
                            const float *y, size_t rows, float *grad, double *loss_sum, float *ws) {
  const size_t d = spec->problem.features;
  float *e = ws; /* rows: residuals, then residuals / rows */
  sgd_forward(x, rows, d, params, 1, e);
  *loss_sum = sgd_member_residuals(spec, params, e, y, rows, 1);
  sgd_backward(x, rows, d, e, 1, grad);
  sgd_member_gradient_rest(spec, params, grad, e, rows, 1, 1);
}

/* ---- solver sgd: groups ----------------------------------------------------------------------
 * Only solver sgd trains through the group operations (linear_group_capable); groups never mix
 * solvers (src/engine/groups.c), and the exact solver keeps integrate_batch. The group buffer
 * (rt_fused_buffer_of, fused_block.h: 64-byte aligned, each matrix on a 64-byte line), m columns,
 * member i's at column i:
 *   P   (features + 1) x m  parameters: the weights, then the intercept (row features; unused,
 *                           not copied, for a member without intercept)
 *   M1  (features + 1) x m  adam first moments / momentum velocity (if a member needs them)
 *   M2  (features + 1) x m  adam second moments (if a member is adam)
 *   GR  (features + 1) x m  gradient
 *   E   rows x m            products X w, then residuals / rows
 * A batch: E = X W (one sgemm where fused_gemm.h lets it fuse, else each member's solo call),
 * per member residuals and loss; GR = X^T E (the same way); per member ridge and intercept
 * gradient; the optimizer steps of the members' (features + fit_intercept) x 1 blocks (ld = m)
 * along rows across members of one optimizer (rt_optimizer_step_runs). Inactive members
 * get zero residuals and no update; a member whose loss is not finite gets no update (the backend
 * marks it diverged), as alone. */
typedef struct sgd_group {
  size_t d, m, floats;
  float *p, *m1, *m2, *gr, *e;
  double *scale; /* the lazy scales of sparse batches (sparse_rows.h) */
} sgd_group;

static sgd_group sgd_group_of(const rt_model_spec *const *specs, size_t m, size_t rows, float *g) {
  sgd_group L;
  memset(&L, 0, sizeof L);
  L.d = specs[0]->problem.features;
  L.m = m;
  const size_t sp = rt_lazy_scales_floats(m);
  const rt_fused_buffer b = rt_fused_buffer_of(specs, m, L.d + 1, m, sp + rows * m, g);
  L.floats = b.floats;
  L.p = b.p, L.m1 = b.m1, L.m2 = b.m2, L.gr = b.gr;
  L.scale = b.scratch ? (double *)(void *)b.scratch : NULL;
  L.e = b.scratch ? b.scratch + sp : NULL;
  return L;
}

static int linear_group_capable(const rt_model_spec *spec) { return !exact(spec); }

static size_t linear_group_floats(const rt_model_spec *const *specs, size_t m, size_t rows) {
  return sgd_group_of(specs, m, rows, NULL).floats;
}

static void sgd_group_copy(const rt_model_spec *const *specs, size_t m, float *g,
                           void *const *states, int to_state) {
  const sgd_group L = sgd_group_of(specs, m, 0, g);
  for (size_t i = 0; i < m; ++i) {
    if (to_state) rt_lazy_settle(L.p + i, L.d, 1, m, &L.scale[i]); /* settled at any stop */
    rt_fused_copy_member(specs[i], states[i], linear_param_count(specs[i]), 1, L.p + i,
                         L.m1 ? L.m1 + i : NULL, L.m2 ? L.m2 + i : NULL, m, to_state);
  }
  if (!to_state) rt_lazy_scales_reset(L.scale, m);
}

static void linear_group_gather(const rt_model_spec *const *specs, size_t m, void *const *states,
                                float *g) {
  sgd_group_copy(specs, m, g, states, 0);
}

static void linear_group_scatter(const rt_model_spec *const *specs, size_t m, const float *g,
                                 void *const *states) {
  sgd_group_copy(specs, m, (float *)g, states, 1);
}

/* A batch of dense rows x, or of sparse rows sx (x NULL): on sparse rows each member's gradient
 * is its own rt_csr_gradient, and a plain-SGD member updates only the weights of the batch's
 * non-zeros, straight from its residuals (rt_lazy_sgd_step), its ridge decay kept in its lazy
 * scale, which also scales its products. */
static void sgd_group_rows(const rt_model_spec *const *specs, size_t m, float *g, const float *x,
                           const rt_csr_rows *sx, const float *y, size_t rows,
                           const uint64_t *steps, const unsigned char *active, double *loss_sums) {
  const sgd_group L = sgd_group_of(specs, m, rows, g);
  const size_t d = L.d;
  if (sx) rt_csr_product(sx, L.p, m, m, L.e, m);
  else sgd_forward(x, rows, d, L.p, m, L.e);
  for (size_t i = 0; i < m; ++i) {
    if (active[i]) {
      if (sx) rt_lazy_scale_products(L.e + i, rows, 1, m, L.scale[i]);
      loss_sums[i] = sgd_member_residuals(specs[i], L.p + i, L.e + i, y, rows, m);
    } else {
      for (size_t r = 0; r < rows; ++r) L.e[r * m + i] = 0.0f;
    }
  }
  if (!sx) sgd_backward(x, rows, d, L.e, m, L.gr);
  for (size_t i = 0; i < m; ++i) {
    if (!active[i] || !isfinite(loss_sums[i])) continue;
    const int lazy = sx && rt_lazy_member(specs[i]);
    if (sx && !lazy) { /* this member's own gradient product */
      for (size_t r = 0; r < d; ++r) L.gr[r * m + i] = 0.0f;
      rt_csr_gradient(sx, L.e + i, m, 1, L.gr + i, m);
    }
    sgd_member_gradient_rest(specs[i], L.p + i, L.gr + i, L.e + i, rows, m, !lazy);
    if (!sx) continue; /* dense rows: the optimizer steps below, along rows across members */
    if (!lazy) {
      rt_optimizer_step_block(specs[i], steps[i], L.p + i, L.m1 ? L.m1 + i : NULL,
                              L.m2 ? L.m2 + i : NULL, L.gr + i, linear_param_count(specs[i]), 1, m);
      continue;
    }
    const float lr = (float)rt_learning_rate(specs[i], steps[i]);
    rt_lazy_sgd_step(L.p + i, d, 1, m, sx, L.e + i, m, lr, sgd_ridge(specs[i]), &L.scale[i]);
    if (specs[i]->hp.fit_intercept) rt_sgd_update(&L.p[d * m + i], L.gr[d * m + i], lr);
  }
  if (!sx)
    rt_optimizer_step_runs(specs, steps, active, loss_sums, m, linear_param_count, NULL, L.p, L.m1,
                           L.m2, L.gr, 1, m);
  if (sx && sx->settle) rt_lazy_settle_members(L.p, m, d, 1, m, L.scale);
}

static void linear_group_batch(const rt_model_spec *const *specs, size_t m, float *g,
                               const float *x, const float *y, size_t rows, const uint64_t *steps,
                               const unsigned char *active, double *loss_sums) {
  sgd_group_rows(specs, m, g, x, NULL, y, rows, steps, active, loss_sums);
}

static void linear_group_batch_sparse(const rt_model_spec *const *specs, size_t m, float *g,
                                      const rt_csr_rows *x, const float *y, const uint64_t *steps,
                                      const unsigned char *active, double *loss_sums) {
  sgd_group_rows(specs, m, g, NULL, x, y, x->rows, steps, active, loss_sums);
}

/* The ridge decay of a member that trains through the groups (solver sgd), 0 for exact. */
static float sgd_decay(const rt_model_spec *spec) { return exact(spec) ? 0.0f : sgd_ridge(spec); }

static size_t linear_settle_period(const rt_model_spec *const *specs, size_t m, size_t rows) {
  return rt_sparse_settle_period(specs, m, rows, sgd_decay);
}

/* ---- solver exact: statistics -------------------------------------------------------------- */

static void exact_accumulate(const rt_model_spec *spec, float *aux, const float *x, const float *y,
                             size_t rows, double *loss_sum, float *ws) {
  const size_t d = spec->problem.features, q = d + 1;
  lin_stats s = stats_of(spec, aux);
  *loss_sum = 0.0;
  if (rows == 0) return;
  if (s.head[LIN_ROWS] == 0.0) { /* the first row fixes the shift */
    for (size_t j = 0; j < d; ++j) s.x0[j] = (double)x[j];
    s.head[LIN_Y0] = (double)y[0];
  }
  double *xd = ws_doubles(ws), *yd = xd + rows * q;
  const double y0 = s.head[LIN_Y0];
  double syy = s.head[LIN_SYY];
  for (size_t i = 0; i < rows; ++i) {
    const float *xi = x + i * d;
    double *o = xd + i * q;
    for (size_t j = 0; j < d; ++j) o[j] = (double)xi[j] - s.x0[j];
    o[d] = 1.0;
    yd[i] = (double)y[i] - y0;
    syy += yd[i] * yd[i];
  }
  cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)q, (int)rows, 1.0, xd, (int)q, 1.0, s.g,
              (int)q);
  cblas_dgemv(CblasRowMajor, CblasTrans, (int)rows, (int)q, 1.0, xd, (int)q, yd, 1, 1.0, s.r, 1);
  s.head[LIN_SYY] = syy;
  s.head[LIN_ROWS] += (double)rows;
  /* Off-diagonal sums are bounded by the diagonal ones: these catch every non-finite value. */
  double check = syy * 0.0;
  for (size_t j = 0; j < q; ++j) check += s.g[j * q + j] * 0.0 + s.r[j] * 0.0;
  *loss_sum = check; /* 0, or NaN */
}

/* The statistics of sparse rows: no shift of x (x0 stays 0: a shift would make the rows dense),
 * y shifted by the first target as on dense rows; each row adds the products of its non-zeros
 * (upper triangle: its columns ascend), its non-zeros to the column of ones and its target's
 * products, in row order: O(non-zeros^2) a row instead of O(features^2). */
static void exact_accumulate_sparse(const rt_model_spec *spec, float *aux, const rt_csr_rows *x,
                                    const float *y, double *loss_sum) {
  const size_t d = spec->problem.features, q = d + 1;
  lin_stats s = stats_of(spec, aux);
  *loss_sum = 0.0;
  if (x->rows == 0) return;
  if (s.head[LIN_ROWS] == 0.0) s.head[LIN_Y0] = (double)y[0];
  const double y0 = s.head[LIN_Y0];
  double syy = s.head[LIN_SYY];
  for (size_t i = 0; i < x->rows; ++i) {
    const double yi = (double)y[i] - y0;
    syy += yi * yi;
    for (uint64_t a = x->indptr[i]; a < x->indptr[i + 1]; ++a) {
      const size_t ja = x->indices[a];
      const double va = (double)x->values[a];
      double *row = s.g + ja * q;
      for (uint64_t b = a; b < x->indptr[i + 1]; ++b)
        row[x->indices[b]] += va * (double)x->values[b];
      row[d] += va;
      s.r[ja] += va * yi;
    }
    s.g[d * q + d] += 1.0;
    s.r[d] += yi;
  }
  s.head[LIN_SYY] = syy;
  s.head[LIN_ROWS] += (double)x->rows;
  double check = syy * 0.0;
  for (size_t j = 0; j < q; ++j) check += s.g[j * q + j] * 0.0 + s.r[j] * 0.0;
  *loss_sum = check; /* 0, or NaN */
}

/* rt_family.integrate_batch_sparse: solver exact (solver sgd trains through the groups). */
static void linear_integrate_sparse(const rt_model_spec *spec, float *params, float *aux,
                                    const rt_csr_rows *x, const float *y, uint64_t step,
                                    double *loss_sum, float *ws) {
  (void)params, (void)step, (void)ws;
  exact_accumulate_sparse(spec, aux, x, y, loss_sum);
}

static void linear_integrate(const rt_model_spec *spec, float *params, float *aux, const float *x,
                             const float *y, size_t rows, uint64_t step, double *loss_sum,
                             float *ws) {
  if (exact(spec)) {
    exact_accumulate(spec, aux, x, y, rows, loss_sum, ws);
    return;
  }
  /* solver sgd: the backend trains it through the group operations; this is a group of one's
   * arithmetic step for step (the same functions), for callers that take one model. */
  const size_t n = linear_param_count(spec);
  float *grad = ws;
  linear_gradient(spec, params, x, y, rows, grad, loss_sum, ws + n);
  if (isfinite(*loss_sum)) rt_optimizer_step(spec, params, aux, grad, n, step);
}

/* ---- solver exact: the solve --------------------------------------------------------------- */

/* The d x d system (upper triangle, row-major) and right-hand side, alpha on the diagonal. */
static void exact_system(const rt_model_spec *spec, const lin_stats *s, double *a, double *z) {
  const size_t d = spec->problem.features, q = d + 1;
  const double n = s->head[LIN_ROWS], y0 = s->head[LIN_Y0], sy = s->r[d];
  const double *x0 = s->x0;
  for (size_t i = 0; i < d; ++i) {
    const double si = s->g[i * q + d];
    for (size_t j = i; j < d; ++j) {
      const double sj = s->g[j * q + d];
      a[i * d + j] = spec->hp.fit_intercept
                         ? s->g[i * q + j] - si * sj / n
                         : s->g[i * q + j] + x0[i] * sj + si * x0[j] + n * x0[i] * x0[j];
    }
    z[i] = spec->hp.fit_intercept ? s->r[i] - si * sy / n
                                  : s->r[i] + y0 * si + x0[i] * sy + n * x0[i] * y0;
    a[i * d + i] += spec->hp.alpha;
  }
}

/* Powers of two that bring the diagonal into [0.5, 2): exact scaling. 1 for a diagonal <= 0. */
static void exact_scales(const double *a, size_t d, double *scale) {
  for (size_t j = 0; j < d; ++j) {
    const double v = a[j * d + j];
    int e = 0;
    if (v > 0.0 && isfinite(v)) {
      (void)frexp(v, &e);
      e = e >= 0 ? e / 2 : -((1 - e) / 2);
    }
    scale[j] = ldexp(1.0, -e);
  }
}

/* Mean of 1/2 (y^ - y)^2 over the training rows for the solution (w, beta) of the shifted
 * problem y' ~ x'.w + beta, from the statistics. */
static double exact_train_loss(const rt_model_spec *spec, const lin_stats *s, const double *w,
                               double beta) {
  const size_t d = spec->problem.features, q = d + 1;
  const double n = s->head[LIN_ROWS];
  double wr = 0.0, ws = 0.0, quad = 0.0;
  for (size_t i = 0; i < d; ++i) {
    wr += w[i] * s->r[i];
    ws += w[i] * s->g[i * q + d];
    double row = 0.5 * s->g[i * q + i] * w[i];
    for (size_t j = i + 1; j < d; ++j) row += s->g[i * q + j] * w[j];
    quad += 2.0 * w[i] * row;
  }
  double sse =
      s->head[LIN_SYY] - 2.0 * wr - 2.0 * beta * s->r[d] + quad + 2.0 * beta * ws + n * beta * beta;
  if (sse < 0.0) sse = 0.0; /* rounding of a near-perfect fit */
  return 0.5 * sse / n;
}

/* The exact solver's training loss (mean 1/2 residual^2 at the solution), recorded by finish. */
static double linear_finished_train_loss(const rt_model_spec *spec, const float *params,
                                         const float *aux) {
  (void)params;
  if (!exact(spec)) return NAN;
  const lin_stats s = stats_of(spec, (float *)aux);
  return s.head[LIN_TRAIN_LOSS];
}

static rt_code linear_finish(const rt_model_spec *spec, float *params, float *aux, rt_status *st) {
  if (!exact(spec)) return RT_OK;
  const size_t d = spec->problem.features, q = d + 1;
  const int fi = spec->hp.fit_intercept;
  lin_stats s = stats_of(spec, aux);
  const double n = s.head[LIN_ROWS];
  double *w = s.w;
  memset(w, 0, q * sizeof *w);
  s.head[LIN_SOLVED] = 3.0;
  s.head[LIN_JITTER] = 0.0;
  s.head[LIN_TRAIN_LOSS] = 0.0;
  memset(params, 0, linear_param_count(spec) * sizeof *params);
  if (!(n > 0.0)) return RT_OK; /* nothing to fit */
  double *a = malloc(d * d * sizeof *a), *scale = malloc(d * sizeof *scale);
  if (!a || !scale) {
    free(a), free(scale);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "model %llu (linear): cannot allocate the %zux%zu system",
                      (unsigned long long)spec->id, d, d);
  }
  /* As asked first; then ridge jitter on the unit-scaled diagonal. */
  static const double jitter[] = {0.0, 1e-8, 1e-6, 1e-4, 1e-2, 1.0};
  double tau = 0.0;
  int solved = 0;
  for (size_t attempt = 0; attempt < sizeof jitter / sizeof jitter[0] && !solved; ++attempt) {
    tau = jitter[attempt];
    exact_system(spec, &s, a, w);
    if (attempt == 0) exact_scales(a, d, scale);
    for (size_t i = 0; i < d; ++i) {
      for (size_t j = i; j < d; ++j) a[i * d + j] *= scale[i] * scale[j];
      a[i * d + i] += tau;
      w[i] *= scale[i];
    }
    /* Row-major upper = column-major lower: no transposition. */
    solved = LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', (lapack_int)d, a, (lapack_int)d) == 0;
  }
  if (solved)
    solved = LAPACKE_dpotrs(LAPACK_COL_MAJOR, 'L', (lapack_int)d, 1, a, (lapack_int)d, w,
                            (lapack_int)d) == 0;
  free(a);
  if (solved)
    for (size_t j = 0; j < d; ++j) {
      w[j] *= scale[j];
      solved = solved && isfinite(w[j]);
    }
  free(scale);
  if (!solved) memset(w, 0, d * sizeof *w);
  /* Shifted intercept beta (y' ~ x'.w + beta), then the model's own. */
  double wx0 = 0.0, ws = 0.0;
  for (size_t j = 0; j < d; ++j) {
    wx0 += w[j] * s.x0[j];
    ws += w[j] * s.g[j * q + d];
  }
  const double y0 = s.head[LIN_Y0];
  const double beta = fi ? (s.r[d] - ws) / n : wx0 - y0;
  w[d] = fi ? beta + y0 - wx0 : 0.0;
  s.head[LIN_SOLVED] = !solved ? 3.0 : tau > 0.0 ? 2.0 : 1.0;
  s.head[LIN_JITTER] = solved ? tau : 0.0;
  s.head[LIN_TRAIN_LOSS] = exact_train_loss(spec, &s, w, beta);
  for (size_t j = 0; j < d; ++j) params[j] = (float)w[j];
  if (fi) params[d] = (float)w[d];
  return RT_OK;
}

/* ---- prediction and evaluation ------------------------------------------------------------- */

/* The prediction of a dense row xi, or (xi NULL) of row r of sparse rows sx: the same sum in the
 * same order, the zero terms left out (they add nothing). */
static double predict_row(const rt_model_spec *spec, const float *params, const float *xi,
                          const rt_csr_rows *sx, size_t r) {
  const size_t d = spec->problem.features;
  double acc = spec->hp.fit_intercept ? (double)params[d] : 0.0;
  if (xi)
    for (size_t j = 0; j < d; ++j) acc += (double)params[j] * (double)xi[j];
  else
    for (uint64_t k = sx->indptr[r]; k < sx->indptr[r + 1]; ++k)
      acc += (double)params[sx->indices[k]] * (double)sx->values[k];
  return acc;
}

/* Evaluation sums of rows of dense x or sparse sx (x NULL). */
static void eval_sums(const rt_model_spec *spec, const float *params, const float *x,
                      const rt_csr_rows *sx, const float *y, size_t rows, double *sums) {
  const size_t d = spec->problem.features;
  for (size_t i = 0; i < rows; ++i) {
    const double t = (double)y[i];
    const double e = predict_row(spec, params, x ? x + i * d : NULL, sx, i) - t;
    sums[0] += e * e;
    sums[1] += fabs(e);
    sums[2] += t;
    sums[3] += t * t;
  }
}

static size_t linear_output_width(const rt_model_spec *spec) {
  (void)spec;
  return 1;
}

static void linear_output_name(const rt_model_spec *spec, size_t column, char *buf, size_t cap) {
  (void)spec, (void)column;
  snprintf(buf, cap, "prediction");
}

static void linear_predict(const rt_model_spec *spec, const float *params, const float *x,
                           size_t rows, float *out, float *ws) {
  (void)ws;
  const size_t d = spec->problem.features;
  for (size_t i = 0; i < rows; ++i) out[i] = (float)predict_row(spec, params, x + i * d, NULL, 0);
}

static void linear_predict_sparse(const rt_model_spec *spec, const float *params,
                                  const rt_csr_rows *x, float *out, float *ws) {
  (void)ws;
  for (size_t i = 0; i < x->rows; ++i) out[i] = (float)predict_row(spec, params, NULL, x, i);
}

static void linear_eval_rows(const rt_model_spec *spec, const float *params, const float *x,
                             const float *y, size_t rows, float *ws, double *sums) {
  (void)ws;
  eval_sums(spec, params, x, NULL, y, rows, sums);
}

static void linear_eval_rows_sparse(const rt_model_spec *spec, const float *params,
                                    const rt_csr_rows *x, const float *y, float *ws, double *sums) {
  (void)ws;
  eval_sums(spec, params, NULL, x, y, x->rows, sums);
}

static const char *const linear_metric_names[] = {"rmse", "mae", "r2"};

static void linear_metrics(const rt_model_spec *spec, const double *sums, uint64_t rows,
                           double *values) {
  (void)spec;
  const double n = (double)rows, sse = sums[0];
  const double sst = sums[3] - sums[2] * sums[2] / n;
  values[0] = sqrt(sse / n);
  values[1] = sums[1] / n;
  if (isnan(sst) || isnan(sse)) values[2] = NAN;
  else if (sst <= 1e-12 * sums[3]) values[2] = sse == 0.0 ? 1.0 : 0.0; /* constant target */
  else values[2] = 1.0 - sse / sst;
}

const rt_family rt_family_linear = {
    .kind = "linear",
    .id = RT_FAMILY_LINEAR,
    .task = linear_task,
    .check = linear_check,
    .param_count = linear_param_count,
    .aux_floats = linear_aux_floats,
    .init_params = linear_init,
    .workspace_floats = linear_workspace,
    .batch_gradient = linear_gradient,
    .integrate_batch = linear_integrate,
    .integrate_batch_sparse = linear_integrate_sparse,
    .group_capable = linear_group_capable,
    .group_floats = linear_group_floats,
    .group_gather = linear_group_gather,
    .group_batch = linear_group_batch,
    .group_scatter = linear_group_scatter,
    .group_batch_sparse = linear_group_batch_sparse,
    .sparse_settle_period = linear_settle_period,
    .eval_rows_sparse = linear_eval_rows_sparse,
    .predict_sparse = linear_predict_sparse,
    .finish = linear_finish,
    .finished_train_loss = linear_finished_train_loss,
    .output_width = linear_output_width,
    .output_name = linear_output_name,
    .predict = linear_predict,
    .eval_rows = linear_eval_rows,
    .metric_count = 3,
    .metric_names = linear_metric_names,
    .metrics = linear_metrics,
};
