/* Multilayer perceptron: features -> hidden[0] -> ... -> hidden[H-1] -> out, with out = classes
 * (output classification: softmax cross-entropy) or 1 (output regression: squared error
 * 0.5 (y_hat - y)^2). Hidden layers use relu, tanh or gelu; the output layer is linear (softmax on
 * top for classification).
 *
 * Parameters, layer after layer (l = 0..H, n_0 = features, n_1..n_H = hidden, n_{H+1} = out):
 *   W_l (n_l x n_{l+1}, row-major), then b_l (n_{l+1}).
 * Optimizer state: the shared optimizers' (no aux_floats of its own).
 *
 * GELU is the tanh approximation (as in BERT/GPT-2, PyTorch's approximate='tanh'):
 *   gelu(z) = 0.5 z (1 + tanh(u)),  u = sqrt(2/pi) (z + 0.044715 z^3),
 *   gelu'(z) = 0.5 (1 + t) + 0.5 z (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 z^2),  t = tanh(u).
 * relu'(0) is taken as 0, and relu keeps a NaN a NaN (z < 0 ? 0 : z) so divergence is noticed.
 *
 * Determinism: every loop runs in a fixed order on one thread (BLAS with the run's threads), bias
 * gradients are column sums in row order; the result depends only on the batch, never on the rank
 * that computes it. */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "classify.h"
#include "family_rules.h"
#include "model.h"
#include "rng.h"
#include "scalar_math.h"

/* At most 2^31 bytes of parameters. */
#define MLP_MAX_PARAMS ((uint64_t)1 << 29)

#define MLP_SQRT_2_OVER_PI 0.79788456080286535588f
#define MLP_GELU_C 0.044715f

static int mlp_regression(const rt_model_spec *spec) {
  return spec->hp.output == RT_OUTPUT_REGRESSION;
}

/* Number of weight layers (hidden layers + output layer). */
static size_t mlp_layers(const rt_model_spec *spec) { return (size_t)spec->hp.hidden_count + 1; }

/* Width of layer i: 0 = input (features), 1..H = hidden, H+1 = output. */
static size_t mlp_width(const rt_model_spec *spec, size_t i) {
  const size_t h = (size_t)spec->hp.hidden_count;
  if (i == 0) return spec->problem.features;
  if (i <= h) return (size_t)spec->hp.hidden[i - 1];
  return mlp_regression(spec) ? 1 : spec->problem.classes;
}

static rt_task mlp_task(const rt_model_spec *spec) {
  return mlp_regression(spec) ? RT_TASK_REGRESSION : RT_TASK_CLASSIFICATION;
}

static size_t mlp_param_count(const rt_model_spec *spec) {
  size_t n = 0;
  for (size_t l = 0; l < mlp_layers(spec); ++l) {
    const size_t in = mlp_width(spec, l), out = mlp_width(spec, l + 1);
    n += in * out + out;
  }
  return n;
}

static rt_code mlp_check(const rt_model_spec *spec, rt_status *st) {
  if (spec->hp.hidden_count < 1)
    return rt_model_refuse(st, RT_ERR_CONFIG, spec, "hidden needs at least one layer width");
  if (spec->hp.hidden_count > RT_HIDDEN_MAX)
    return rt_model_refuse(st, RT_ERR_CONFIG, spec, "hidden has %d layers; at most %d",
                           spec->hp.hidden_count, RT_HIDDEN_MAX);
  for (int i = 0; i < spec->hp.hidden_count; ++i)
    if (spec->hp.hidden[i] < 1)
      return rt_model_refuse(st, RT_ERR_CONFIG, spec, "hidden layer %d has width %ld; needs >= 1",
                             i + 1, spec->hp.hidden[i]);
  rt_code rc;
  if ((!mlp_regression(spec) && (rc = rt_rule_classes(spec, st)) != RT_OK) ||
      (rc = rt_rule_features(spec, st)) != RT_OK)
    return rc;
  /* Sum of n_l * n_{l+1} + n_{l+1} without overflow: stop as soon as it passes the limit. */
  uint64_t total = 0;
  for (size_t l = 0; l < mlp_layers(spec); ++l) {
    const uint64_t in = mlp_width(spec, l), out = mlp_width(spec, l + 1);
    if (in > MLP_MAX_PARAMS / out || (total += in * out + out) > MLP_MAX_PARAMS)
      return rt_model_refuse(st, RT_ERR_CONFIG, spec,
                             "too many parameters: more than %llu floats (2^31 bytes) "
                             "once layer %zu (%llu x %llu) is counted",
                             (unsigned long long)MLP_MAX_PARAMS, l + 1, (unsigned long long)in,
                             (unsigned long long)out);
  }
  return RT_OK;
}

/* Weights N(0, std^2) by Box-Muller on the stream (key, INIT, layer): weight j of a layer uses
 * the pair of uniforms (2 floor(j/2), 2 floor(j/2) + 1), the cosine branch for even j and the
 * sine branch for odd j; so each weight is a pure function of (key, layer, j). std = sqrt(2/in)
 * (he) or sqrt(2/(in+out)) (xavier), on every layer including the output layer; biases 0. */
static void mlp_init(const rt_model_spec *spec, uint64_t key, float *params) {
  const rt_init_scheme scheme = rt_init_scheme_resolve(spec->hp.init, spec->hp.activation);
  const uint64_t init_key = rt_key_push(key, RT_STREAM_INIT);
  float *p = params;
  for (size_t l = 0; l < mlp_layers(spec); ++l) {
    const size_t in = mlp_width(spec, l), out = mlp_width(spec, l + 1), nw = in * out;
    const double std =
        scheme == RT_INIT_HE ? sqrt(2.0 / (double)in) : sqrt(2.0 / (double)(in + out));
    const uint64_t k = rt_key_push(init_key, l);
    for (size_t j = 0; j < nw; j += 2) {
      const double u1 = 1.0 - rt_rng_uniform(k, j), u2 = rt_rng_uniform(k, j + 1); /* u1 in (0,1] */
      const double r = sqrt(-2.0 * log(u1)), theta = 2.0 * RT_PI * u2;
      p[j] = (float)(std * r * cos(theta));
      if (j + 1 < nw) p[j + 1] = (float)(std * r * sin(theta));
    }
    memset(p + nw, 0, out * sizeof *p);
    p += nw + out;
  }
}

/* Workspace for `rows` rows: per hidden layer h an activation block A_h and a derivative block
 * D_h (rows x n_h each), then the output block (rows x out: logits -> probabilities, or
 * predictions). In the backward pass A_h is reused for the delta of layer h. */
static size_t mlp_workspace(const rt_model_spec *spec, size_t rows) {
  size_t per_row = mlp_width(spec, mlp_layers(spec));
  for (int h = 0; h < spec->hp.hidden_count; ++h) per_row += 2 * (size_t)spec->hp.hidden[h];
  return rows * per_row;
}

/* Pointers into the workspace: act[h], der[h] for hidden layer h = 1..H; out. */
typedef struct mlp_blocks {
  float *act[RT_HIDDEN_MAX + 1], *der[RT_HIDDEN_MAX + 1];
  float *out;
} mlp_blocks;

static mlp_blocks mlp_split(const rt_model_spec *spec, size_t rows, float *ws) {
  mlp_blocks b;
  memset(&b, 0, sizeof b);
  float *p = ws;
  for (size_t h = 1; h <= (size_t)spec->hp.hidden_count; ++h) {
    const size_t n = rows * mlp_width(spec, h);
    b.act[h] = p;
    b.der[h] = p + n;
    p += 2 * n;
  }
  b.out = p;
  return b;
}

/* Applies the activation to z[0..n) in place; with der, also stores the derivative at z. */
static void mlp_activate(rt_activation act, float *z, float *der, size_t n) {
  switch (act) {
    case RT_ACTIVATION_RELU:
      for (size_t i = 0; i < n; ++i) {
        const float v = z[i];
        if (der) der[i] = v > 0.0f ? 1.0f : 0.0f;
        z[i] = v < 0.0f ? 0.0f : v; /* NaN stays NaN */
      }
      return;
    case RT_ACTIVATION_TANH:
      for (size_t i = 0; i < n; ++i) {
        const float t = tanhf(z[i]);
        if (der) der[i] = 1.0f - t * t;
        z[i] = t;
      }
      return;
    case RT_ACTIVATION_GELU:
      for (size_t i = 0; i < n; ++i) {
        const float v = z[i], v2 = v * v;
        const float t = tanhf(MLP_SQRT_2_OVER_PI * (v + MLP_GELU_C * v2 * v));
        if (der)
          der[i] = 0.5f * (1.0f + t) +
                   0.5f * v * (1.0f - t * t) * MLP_SQRT_2_OVER_PI * (1.0f + 3.0f * MLP_GELU_C * v2);
        z[i] = 0.5f * v * (1.0f + t);
      }
      return;
  }
}

/* Forward pass of `rows` rows: hidden activations (and, with derivatives, act'(z)) into the
 * workspace, the output block as probabilities (classification) or predictions (regression). */
static mlp_blocks mlp_forward(const rt_model_spec *spec, const float *params, const float *x,
                              size_t rows, float *ws, int derivatives) {
  const mlp_blocks b = mlp_split(spec, rows, ws);
  const size_t layers = mlp_layers(spec);
  const float *in = x, *p = params;
  for (size_t l = 0; l < layers; ++l) {
    const size_t n_in = mlp_width(spec, l), n_out = mlp_width(spec, l + 1);
    const float *w = p, *bias = p + n_in * n_out;
    float *z = l + 1 < layers ? b.act[l + 1] : b.out;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)n_out, (int)n_in, 1.0f,
                in, (int)n_in, w, (int)n_out, 0.0f, z, (int)n_out);
    for (size_t i = 0; i < rows; ++i)
      for (size_t k = 0; k < n_out; ++k) z[i * n_out + k] += bias[k];
    if (l + 1 < layers)
      mlp_activate(spec->hp.activation, z, derivatives ? b.der[l + 1] : NULL, rows * n_out);
    in = z;
    p += n_in * n_out + n_out;
  }
  if (!mlp_regression(spec)) rt_softmax_rows(b.out, rows, spec->problem.classes);
  return b;
}

static void mlp_gradient(const rt_model_spec *spec, const float *params, const float *x,
                         const float *y, size_t rows, float *grad, double *loss_sum, float *ws) {
  const mlp_blocks b = mlp_forward(spec, params, x, rows, ws, 1);
  const size_t layers = mlp_layers(spec), out = mlp_width(spec, layers);
  const float inv_rows = 1.0f / (float)rows;
  /* Output delta (mean over the batch) in place of the output block. */
  double loss = 0.0;
  if (mlp_regression(spec)) {
    for (size_t i = 0; i < rows; ++i) {
      const float diff = b.out[i] - y[i];
      loss += 0.5 * (double)diff * (double)diff;
      b.out[i] = diff * inv_rows;
    }
  } else {
    for (size_t i = 0; i < rows; ++i) {
      float *gi = b.out + i * out;
      const size_t label = (size_t)y[i];
      loss -= log((double)rt_loss_probability(gi[label]));
      gi[label] -= 1.0f;
      for (size_t k = 0; k < out; ++k) gi[k] *= inv_rows;
    }
  }
  *loss_sum = loss;
  /* Offsets of each layer's W in params / grad. */
  size_t offset[RT_HIDDEN_MAX + 2];
  offset[0] = 0;
  for (size_t l = 0; l < layers; ++l)
    offset[l + 1] =
        offset[l] + mlp_width(spec, l) * mlp_width(spec, l + 1) + mlp_width(spec, l + 1);
  const float l2 = (float)spec->hp.l2;
  float *delta = b.out;
  for (size_t l = layers; l-- > 0;) {
    const size_t n_in = mlp_width(spec, l), n_out = mlp_width(spec, l + 1);
    const float *in = l == 0 ? x : b.act[l];
    const float *w = params + offset[l];
    float *gw = grad + offset[l], *gb = gw + n_in * n_out;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n_in, (int)n_out, (int)rows, 1.0f, in,
                (int)n_in, delta, (int)n_out, 0.0f, gw, (int)n_out);
    if (l2 > 0.0f) cblas_saxpy((int)(n_in * n_out), l2, w, 1, gw, 1);
    /* Bias gradient: column sums in row order (fixed order, deterministic). */
    memset(gb, 0, n_out * sizeof *gb);
    for (size_t i = 0; i < rows; ++i)
      for (size_t k = 0; k < n_out; ++k) gb[k] += delta[i * n_out + k];
    if (l == 0) break;
    /* delta_l = (delta_{l+1} W_l^T) * act'(z_l), into the activation block (no longer needed). */
    float *next = b.act[l];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n_in, (int)n_out, 1.0f,
                delta, (int)n_out, w, (int)n_out, 0.0f, next, (int)n_in);
    const float *der = b.der[l];
    for (size_t i = 0; i < rows * n_in; ++i) next[i] *= der[i];
    delta = next;
  }
}

/* Prediction columns: classification "predicted", "p0".."p{C-1}"; regression "prediction". */
static size_t mlp_output_width(const rt_model_spec *spec) {
  return mlp_regression(spec) ? 1 : spec->problem.classes + 1;
}

static void mlp_output_name(const rt_model_spec *spec, size_t column, char *buf, size_t cap) {
  if (mlp_regression(spec)) snprintf(buf, cap, "prediction");
  else rt_class_output_name(column, buf, cap);
}

static void mlp_predict(const rt_model_spec *spec, const float *params, const float *x, size_t rows,
                        float *out, float *ws) {
  const mlp_blocks b = mlp_forward(spec, params, x, rows, ws, 0);
  if (mlp_regression(spec)) {
    memcpy(out, b.out, rows * sizeof *out);
    return;
  }
  rt_class_predict_rows(b.out, rows, spec->problem.classes, out);
}

/* Evaluation sums. Classification: [0] log-loss, [1] correct predictions. Regression: [0] sum of
 * squared errors, [1] sum of absolute errors, [2] sum of y, [3] sum of y^2. */
static void mlp_eval_rows(const rt_model_spec *spec, const float *params, const float *x,
                          const float *y, size_t rows, float *ws, double *sums) {
  const mlp_blocks b = mlp_forward(spec, params, x, rows, ws, 0);
  if (mlp_regression(spec)) {
    for (size_t i = 0; i < rows; ++i) {
      const double t = (double)y[i], d = (double)b.out[i] - t;
      sums[0] += d * d;
      sums[1] += fabs(d);
      sums[2] += t;
      sums[3] += t * t;
    }
    return;
  }
  rt_class_eval_sums(b.out, y, rows, spec->problem.classes, sums);
}

/* Metrics depend on the output: logloss and accuracy for classification, rmse, mae and r2 for
 * regression. The family table's static metric_count / metric_names are the classification ones;
 * metric_names_of (below, through rt_family_metric_names) gives each spec its own. */
static const char *const mlp_classification_metric_names[] = {"logloss", "accuracy"};
static const char *const mlp_regression_metric_names[] = {"rmse", "mae", "r2"};

static size_t mlp_metric_count(const rt_model_spec *spec) { return mlp_regression(spec) ? 3 : 2; }

static const char *const *mlp_metric_names(const rt_model_spec *spec) {
  return mlp_regression(spec) ? mlp_regression_metric_names : mlp_classification_metric_names;
}

/* Regression r2 = 1 - sse / (sum y^2 - (sum y)^2 / n); NaN when the targets do not vary. */
static void mlp_metrics(const rt_model_spec *spec, const double *sums, uint64_t rows,
                        double *values) {
  const double n = (double)rows;
  if (mlp_regression(spec)) {
    const double total = sums[3] - sums[2] * sums[2] / n;
    values[0] = sqrt(sums[0] / n);
    values[1] = sums[1] / n;
    values[2] = total > 0.0 ? 1.0 - sums[0] / total : NAN;
    return;
  }
  values[0] = sums[0] / n;
  values[1] = sums[1] / n;
}

/* rt_family.metric_names_of: the metric names of this model, classification or regression (the
 * names and count mlp_metrics fills in). */
static size_t mlp_metric_names_of(const rt_model_spec *spec, const char *const **names) {
  *names = mlp_metric_names(spec);
  return mlp_metric_count(spec);
}

const rt_family rt_family_mlp = {
    .kind = "mlp",
    .id = RT_FAMILY_MLP,
    .task = mlp_task,
    .check = mlp_check,
    .param_count = mlp_param_count,
    .init_params = mlp_init,
    .workspace_floats = mlp_workspace,
    .batch_gradient = mlp_gradient,
    .output_width = mlp_output_width,
    .output_name = mlp_output_name,
    .predict = mlp_predict,
    .eval_rows = mlp_eval_rows,
    .metric_count = 2, /* classification; metric_names_of gives the spec's own */
    .metric_names = mlp_classification_metric_names,
    .metric_names_of = mlp_metric_names_of,
    .metrics = mlp_metrics,
};
