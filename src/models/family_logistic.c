/* Softmax (multinomial logistic) regression; two classes is the binary case.
 * Parameters: W (features x classes, row-major) followed by b (classes).
 * Training goes through the group operations (model.h) for every model, a model alone being a
 * group of one; their fused layout is described at "groups" below. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "family_rules.h"
#include "fused_block.h"
#include "fused_gemm.h"
#include "model.h"
#include "rng.h"
#include "scalar_math.h"
#include "sparse_rows.h"

static size_t logistic_param_count(const rt_model_spec *spec) {
  return (spec->problem.features + 1) * spec->problem.classes;
}

static rt_code logistic_check(const rt_model_spec *spec, rt_status *st) {
  const rt_code rc = rt_rule_classes(spec, st);
  return rc != RT_OK ? rc : rt_rule_features(spec, st);
}

/* Small symmetric random weights break no symmetry that matters for a convex model, but keep
 * the start identical to what any layout computes: zero bias, U(-0.01, 0.01) weights. */
static void logistic_init(const rt_model_spec *spec, uint64_t key, float *params) {
  const size_t nw = spec->problem.features * spec->problem.classes;
  const uint64_t k = rt_key_push(key, RT_STREAM_INIT);
  for (size_t i = 0; i < nw; ++i) params[i] = 0.02f * (rt_rng_uniform_f(k, i) - 0.5f);
  memset(params + nw, 0, spec->problem.classes * sizeof(float));
}

static size_t logistic_workspace(const rt_model_spec *spec, size_t rows) {
  return rows * spec->problem.classes;
}

/* ---- the batch arithmetic, shared by the solo and the fused path ---------------------------
 * Every function works on a matrix of row stride ld holding one or more models side by side; a
 * solo model is the case ld = c (one member). The products cover all members at once where
 * fused_gemm.h lets a member's shape fuse (every member alike: they share the shape), else they
 * run member by member with the solo call; everything element-wise runs per member in loops
 * whose arithmetic does not depend on ld. */

/* Z = X W for m members' weights side by side (features x c each, row stride m c); Z rows x c
 * each at the same stride. */
static void forward_products(const float *x, size_t rows, size_t d, const float *w, size_t c,
                             size_t m, float *z) {
  rt_gemm_members(0, rows, d, x, d, w, c, m, z);
}

/* GW = X^T G (features x c each, row stride m c) for rows x c deltas G of each member. */
static void gradient_products(const float *x, size_t rows, size_t d, const float *g, size_t c,
                              size_t m, float *gw) {
  rt_gemm_members(1, d, rows, x, d, g, c, m, gw);
}

/* One member's c columns of logits z (row stride ld): + b, then row-wise softmax in place. */
static void member_probabilities(float *z, const float *b, size_t rows, size_t c, size_t ld) {
  for (size_t i = 0; i < rows; ++i)
    for (size_t k = 0; k < c; ++k) z[i * ld + k] += b[k];
  rt_softmax_rows_ld(z, rows, c, ld);
}

/* Probabilities to (P - Y) / rows in place; returns the sum of per-row log-losses. */
static double member_delta(float *z, const float *y, size_t rows, size_t c, size_t ld) {
  const float inv_rows = 1.0f / (float)rows;
  double loss = 0.0;
  for (size_t i = 0; i < rows; ++i) {
    float *gi = z + i * ld;
    const size_t label = (size_t)y[i];
    const float py = rt_loss_probability(gi[label]);
    loss -= log((double)py);
    gi[label] -= 1.0f;
    for (size_t k = 0; k < c; ++k) gi[k] = rt_flush_subnormal(gi[k] * inv_rows);
  }
  return loss;
}

/* The bias gradients of `cols` columns of deltas z (row stride ld): their column sums, in row
 * order, into gb. */
static void bias_gradients(const float *z, size_t rows, size_t cols, size_t ld, float *gb) {
  memset(gb, 0, cols * sizeof *gb);
  for (size_t i = 0; i < rows; ++i)
    for (size_t k = 0; k < cols; ++k) gb[k] += z[i * ld + k];
}

/* Completes one member's gradient: L2 on the weights (w and gw: d rows at stride ld) and the
 * bias gradient (row d of gw) as column sums of the deltas z in row order. */
static void member_gradient_rest(const rt_model_spec *spec, const float *w, float *gw,
                                 const float *z, size_t rows, size_t d, size_t c, size_t ld,
                                 int with_l2) {
  const float l2 = (float)spec->hp.l2;
  if (with_l2 && l2 > 0.0f) rt_add_l2(gw, w, l2, d, c, ld);
  bias_gradients(z, rows, c, ld, gw + d * ld);
}

/* Probabilities of a solo model (prediction, evaluation). */
static void logistic_probabilities(const rt_model_spec *spec, const float *params, const float *x,
                                   size_t rows, float *p) {
  const size_t d = spec->problem.features, c = spec->problem.classes;
  forward_products(x, rows, d, params, c, 1, p);
  member_probabilities(p, params + d * c, rows, c, c);
}

/* The solo gradient (the gradient checks of tests/unit use it): the group arithmetic for one. */
static void logistic_gradient(const rt_model_spec *spec, const float *params, const float *x,
                              const float *y, size_t rows, float *grad, double *loss_sum,
                              float *ws) {
  const size_t d = spec->problem.features, c = spec->problem.classes;
  float *z = ws; /* rows x classes: probabilities, then (P - Y) / rows */
  logistic_probabilities(spec, params, x, rows, z);
  *loss_sum = member_delta(z, y, rows, c, c);
  gradient_products(x, rows, d, z, c, 1, grad);
  member_gradient_rest(spec, params, grad, z, rows, d, c, c, 1);
}

/* ---- groups ----------------------------------------------------------------------------------
 * The group buffer (rt_fused_buffer_of, fused_block.h: 64-byte aligned, each matrix starting on a
 * 64-byte line), n = m * classes columns, member i's block at column i * classes:
 *   P   (features + 1) x n  parameters: rows 0..features-1 the weights W_cat, row features the
 *                           biases (a solo state's [W | b] is the same block with ld = classes)
 *   M1  (features + 1) x n  adam first moments / momentum velocity (only if a member needs them)
 *   M2  (features + 1) x n  adam second moments (only if a member is adam)
 *   GR  (features + 1) x n  gradient (weights, then the bias row)
 *   S   m doubles           the lazy scales of sparse batches (sparse_rows.h)
 *   Z   rows x n            logits, probabilities, then (P - Y) / rows
 * A batch: Z = X W_cat (ONE sgemm for the group where fused_gemm.h lets it fuse, else each
 * member's solo call into its columns; sparse rows: ONE rt_csr_product); per member bias,
 * softmax, loss and deltas; GR = X^T Z (the same way); the bias gradients as the column sums
 * of Z; L2 and the optimizer steps of the members' (features + 1) x classes blocks (ld = n) along
 * rows across members of one optimizer (rt_optimizer_step_runs). On sparse rows each
 * member's gradient is its own rt_csr_gradient into its columns, and a plain-SGD member updates
 * only the weight rows of the batch's non-zeros, straight from its deltas (rt_lazy_sgd_step), its
 * L2 decay kept in its lazy scale, which also scales its logits. Members that are not active get zero
 * deltas and no update; a member whose loss is not finite gets no update (the backend marks it
 * diverged), as a solo model. */
typedef struct group_layout {
  size_t d, c, n, prows;
  size_t floats; /* of the buffer, alignment slack included */
  float *p, *m1, *m2, *gr, *z;
  double *scale;
} group_layout;

/* The layout of a group buffer g (NULL: only the sizes). */
static group_layout group_layout_of(const rt_model_spec *const *specs, size_t m, size_t rows,
                                    float *g) {
  group_layout L;
  memset(&L, 0, sizeof L);
  L.d = specs[0]->problem.features;
  L.c = specs[0]->problem.classes;
  L.n = m * L.c;
  L.prows = L.d + 1;
  const size_t sp = rt_lazy_scales_floats(m);
  const rt_fused_buffer b = rt_fused_buffer_of(specs, m, L.prows, L.n, sp + rows * L.n, g);
  L.floats = b.floats;
  L.p = b.p, L.m1 = b.m1, L.m2 = b.m2, L.gr = b.gr;
  L.scale = b.scratch ? (double *)(void *)b.scratch : NULL;
  L.z = b.scratch ? b.scratch + sp : NULL;
  return L;
}

static size_t logistic_group_floats(const rt_model_spec *const *specs, size_t m, size_t rows) {
  return group_layout_of(specs, m, rows, NULL).floats;
}

static void logistic_group_gather(const rt_model_spec *const *specs, size_t m, void *const *states,
                                  float *g) {
  const group_layout L = group_layout_of(specs, m, 0, g);
  for (size_t i = 0; i < m; ++i) {
    const size_t o = i * L.c;
    rt_fused_copy_member(specs[i], states[i], L.prows, L.c, L.p + o, L.m1 ? L.m1 + o : NULL,
                         L.m2 ? L.m2 + o : NULL, L.n, 0);
  }
  rt_lazy_scales_reset(L.scale, m);
}

static void logistic_group_scatter(const rt_model_spec *const *specs, size_t m, const float *g,
                                   void *const *states) {
  const group_layout L = group_layout_of(specs, m, 0, (float *)g);
  for (size_t i = 0; i < m; ++i) {
    const size_t o = i * L.c;
    rt_lazy_settle(L.p + o, L.d, L.c, L.n, &L.scale[i]); /* settled already at any stop */
    rt_fused_copy_member(specs[i], states[i], L.prows, L.c, L.p + o, L.m1 ? L.m1 + o : NULL,
                         L.m2 ? L.m2 + o : NULL, L.n, 1);
  }
}

/* The L2 coefficient on a member's weights. */
static float l2_of(const rt_model_spec *spec) { return (float)spec->hp.l2; }

/* The rows of a member's block: its weights and the bias row. */
static size_t param_rows(const rt_model_spec *spec) { return spec->problem.features + 1; }

/* A batch of dense rows x, or of sparse rows sx (x NULL). */
static void group_batch_rows(const rt_model_spec *const *specs, size_t m, float *g, const float *x,
                             const rt_csr_rows *sx, const float *y, size_t rows,
                             const uint64_t *steps, const unsigned char *active,
                             double *loss_sums) {
  const group_layout L = group_layout_of(specs, m, rows, g);
  const size_t d = L.d, c = L.c, n = L.n;
  if (sx) rt_csr_product(sx, L.p, n, n, L.z, n);
  else forward_products(x, rows, d, L.p, c, m, L.z);
  for (size_t i = 0; i < m; ++i) {
    float *zi = L.z + i * c;
    if (active[i]) {
      if (sx) rt_lazy_scale_products(zi, rows, c, n, L.scale[i]);
      member_probabilities(zi, L.p + d * n + i * c, rows, c, n);
      loss_sums[i] = member_delta(zi, y, rows, c, n);
    } else { /* a diverged member's deltas: zeros, so the shared product reads no NaN */
      for (size_t r = 0; r < rows; ++r) memset(zi + r * n, 0, c * sizeof *zi);
    }
  }
  if (!sx) {
    /* Dense rows: the weights' gradients in one product, the biases' as the deltas' column sums in
     * row order, then L2 and the optimizer along rows across the members of one optimizer (the
     * arithmetic member_gradient_rest and rt_optimizer_step_block give each member alone). */
    const rt_decay decay = {l2_of, d};
    gradient_products(x, rows, d, L.z, c, m, L.gr);
    bias_gradients(L.z, rows, n, n, L.gr + d * n);
    rt_optimizer_step_runs(specs, steps, active, loss_sums, m, param_rows, &decay, L.p, L.m1, L.m2,
                           L.gr, c, n);
    return;
  }
  for (size_t i = 0; i < m; ++i) {
    if (!active[i] || !isfinite(loss_sums[i])) continue;
    const size_t o = i * c;
    const int lazy = rt_lazy_member(specs[i]);
    if (!lazy) { /* this member's own gradient product (any other member's columns alike) */
      for (size_t r = 0; r < d; ++r) memset(L.gr + r * n + o, 0, c * sizeof *L.gr);
      rt_csr_gradient(sx, L.z + o, n, c, L.gr + o, n);
    }
    member_gradient_rest(specs[i], L.p + o, L.gr + o, L.z + o, rows, d, c, n, !lazy);
    if (!lazy) {
      rt_optimizer_step_block(specs[i], steps[i], L.p + o, L.m1 ? L.m1 + o : NULL,
                              L.m2 ? L.m2 + o : NULL, L.gr + o, L.prows, c, n);
      continue;
    }
    const float lr = (float)rt_learning_rate(specs[i], steps[i]);
    rt_lazy_sgd_step(L.p + o, d, c, n, sx, L.z + o, n, lr, l2_of(specs[i]), &L.scale[i]);
    for (size_t k = 0; k < c; ++k) rt_sgd_update(&L.p[d * n + o + k], L.gr[d * n + o + k], lr);
  }
  if (sx->settle) rt_lazy_settle_members(L.p, m, d, c, n, L.scale);
}

static void logistic_group_batch(const rt_model_spec *const *specs, size_t m, float *g,
                                 const float *x, const float *y, size_t rows, const uint64_t *steps,
                                 const unsigned char *active, double *loss_sums) {
  group_batch_rows(specs, m, g, x, NULL, y, rows, steps, active, loss_sums);
}

static void logistic_group_batch_sparse(const rt_model_spec *const *specs, size_t m, float *g,
                                        const rt_csr_rows *x, const float *y, const uint64_t *steps,
                                        const unsigned char *active, double *loss_sums) {
  group_batch_rows(specs, m, g, NULL, x, y, x->rows, steps, active, loss_sums);
}

static size_t logistic_settle_period(const rt_model_spec *const *specs, size_t m, size_t rows) {
  return rt_sparse_settle_period(specs, m, rows, l2_of);
}

static rt_task logistic_task(const rt_model_spec *spec) {
  (void)spec;
  return RT_TASK_CLASSIFICATION;
}

/* Prediction columns: the predicted class, then one probability per class. */
static size_t logistic_output_width(const rt_model_spec *spec) { return spec->problem.classes + 1; }

static void logistic_output_name(const rt_model_spec *spec, size_t column, char *buf, size_t cap) {
  (void)spec;
  rt_class_output_name(column, buf, cap);
}

static void logistic_predict(const rt_model_spec *spec, const float *params, const float *x,
                             size_t rows, float *out, float *ws) {
  logistic_probabilities(spec, params, x, rows, ws);
  rt_class_predict_rows(ws, rows, spec->problem.classes, out);
}

/* Probabilities of a solo model on sparse rows. */
static void sparse_probabilities(const rt_model_spec *spec, const float *params,
                                 const rt_csr_rows *x, float *p) {
  const size_t d = spec->problem.features, c = spec->problem.classes;
  rt_csr_product(x, params, c, c, p, c);
  member_probabilities(p, params + d * c, x->rows, c, c);
}

static void logistic_predict_sparse(const rt_model_spec *spec, const float *params,
                                    const rt_csr_rows *x, float *out, float *ws) {
  sparse_probabilities(spec, params, x, ws);
  rt_class_predict_rows(ws, x->rows, spec->problem.classes, out);
}

static void logistic_eval_rows_sparse(const rt_model_spec *spec, const float *params,
                                      const rt_csr_rows *x, const float *y, float *ws,
                                      double *sums) {
  sparse_probabilities(spec, params, x, ws);
  rt_class_eval_sums(ws, y, x->rows, spec->problem.classes, sums);
}

/* sums: [0] log-loss, [1] correct predictions. */
static void logistic_eval_rows(const rt_model_spec *spec, const float *params, const float *x,
                               const float *y, size_t rows, float *ws, double *sums) {
  logistic_probabilities(spec, params, x, rows, ws);
  rt_class_eval_sums(ws, y, rows, spec->problem.classes, sums);
}

static const char *const logistic_metric_names[] = {"logloss", "accuracy"};

static void logistic_metrics(const rt_model_spec *spec, const double *sums, uint64_t rows,
                             double *values) {
  (void)spec;
  values[0] = sums[0] / (double)rows;
  values[1] = sums[1] / (double)rows;
}

const rt_family rt_family_logistic = {
    .kind = "logistic",
    .id = RT_FAMILY_LOGISTIC,
    .task = logistic_task,
    .check = logistic_check,
    .param_count = logistic_param_count,
    .init_params = logistic_init,
    .workspace_floats = logistic_workspace,
    .batch_gradient = logistic_gradient,
    .group_floats = logistic_group_floats,
    .group_gather = logistic_group_gather,
    .group_batch = logistic_group_batch,
    .group_scatter = logistic_group_scatter,
    .group_batch_sparse = logistic_group_batch_sparse,
    .sparse_settle_period = logistic_settle_period,
    .eval_rows_sparse = logistic_eval_rows_sparse,
    .predict_sparse = logistic_predict_sparse,
    .output_width = logistic_output_width,
    .output_name = logistic_output_name,
    .predict = logistic_predict,
    .eval_rows = logistic_eval_rows,
    .metric_count = 2,
    .metric_names = logistic_metric_names,
    .metrics = logistic_metrics,
};
