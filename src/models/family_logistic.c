/* Softmax (multinomial logistic) regression; two classes is the binary case.
 * Parameters: W (features x classes, row-major) followed by b (classes). */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "family_rules.h"
#include "model.h"
#include "rng.h"
#include "scalar_math.h"

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

/* logits = X W + b, then row-wise softmax in place. */
static void logistic_probabilities(const rt_model_spec *spec, const float *params, const float *x,
                                   size_t rows, float *p) {
  const size_t d = spec->problem.features, c = spec->problem.classes;
  const float *w = params, *b = params + d * c;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)c, (int)d, 1.0f, x, (int)d,
              w, (int)c, 0.0f, p, (int)c);
  for (size_t i = 0; i < rows; ++i)
    for (size_t k = 0; k < c; ++k) p[i * c + k] += b[k];
  rt_softmax_rows(p, rows, c);
}

static void logistic_gradient(const rt_model_spec *spec, const float *params, const float *x,
                              const float *y, size_t rows, float *grad, double *loss_sum,
                              float *ws) {
  const size_t d = spec->problem.features, c = spec->problem.classes;
  float *g = ws; /* rows x classes: probabilities, then (P - Y) / rows */
  logistic_probabilities(spec, params, x, rows, g);
  const float inv_rows = 1.0f / (float)rows;
  double loss = 0.0;
  for (size_t i = 0; i < rows; ++i) {
    float *gi = g + i * c;
    const size_t label = (size_t)y[i];
    const float py = rt_loss_probability(gi[label]);
    loss -= log((double)py);
    gi[label] -= 1.0f;
    for (size_t k = 0; k < c; ++k) gi[k] *= inv_rows;
  }
  *loss_sum = loss;
  float *gw = grad, *gb = grad + d * c;
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)c, (int)rows, 1.0f, x, (int)d,
              g, (int)c, 0.0f, gw, (int)c);
  const float l2 = (float)spec->hp.l2;
  if (l2 > 0.0f) cblas_saxpy((int)(d * c), l2, params, 1, gw, 1);
  /* Bias gradient: column sums in row order (fixed order, deterministic). */
  memset(gb, 0, c * sizeof(float));
  for (size_t i = 0; i < rows; ++i)
    for (size_t k = 0; k < c; ++k) gb[k] += g[i * c + k];
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
    .output_width = logistic_output_width,
    .output_name = logistic_output_name,
    .predict = logistic_predict,
    .eval_rows = logistic_eval_rows,
    .metric_count = 2,
    .metric_names = logistic_metric_names,
    .metrics = logistic_metrics,
};
