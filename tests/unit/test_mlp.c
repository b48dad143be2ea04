/* Multilayer perceptron: analytic gradient against central finite differences of a reference
 * forward pass in double (relu, tanh, gelu; classification and regression; with L2), the
 * parameter layout, initialisation statistics and determinism, learning XOR with Adam, prediction
 * columns, evaluation metrics, NaN propagation and the hyper-parameter checks. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"
#include "rng.h"
#include "test_util.h"

/* The metric names of an mlp spec through the family interface (rt_family.metric_names_of). */
static size_t metric_names(const rt_model_spec *spec, const char *const **names) {
  return rt_family_metric_names(rt_family_find("mlp"), spec, names);
}

static rt_model_spec make_spec(size_t d, size_t c, const long *hidden, int hidden_count,
                               rt_activation act, rt_mlp_output output, double l2) {
  rt_model_spec s = tu_spec_sgd("mlp", d, c, 8);
  s.hp.l2 = l2;
  for (int i = 0; i < hidden_count; ++i) s.hp.hidden[i] = hidden[i];
  s.hp.hidden_count = hidden_count;
  s.hp.activation = act;
  s.hp.output = output;
  s.hp.init = RT_INIT_AUTO;
  return s;
}

static const rt_family *mlp(void) {
  const rt_family *fam = rt_family_find("mlp");
  assert_non_null(fam);
  return fam;
}

/* ---- reference forward pass in double ---- */

#define REF_MAX 64 /* widths in the reference tests stay below this */

static size_t ref_width(const rt_model_spec *s, size_t i) {
  if (i == 0) return s->problem.features;
  if (i <= (size_t)s->hp.hidden_count) return (size_t)s->hp.hidden[i - 1];
  return s->hp.output == RT_OUTPUT_REGRESSION ? 1 : s->problem.classes;
}

static double ref_act(rt_activation a, double z) {
  switch (a) {
    case RT_ACTIVATION_RELU: return z > 0.0 ? z : 0.0;
    case RT_ACTIVATION_TANH: return tanh(z);
    case RT_ACTIVATION_GELU:
      return 0.5 * z * (1.0 + tanh(0.79788456080286535588 * (z + 0.044715 * z * z * z)));
  }
  return NAN;
}

/* Output layer values (logits or prediction) of one row; *min_hidden_abs gets the smallest |z| of
 * any hidden pre-activation (how far the row is from a relu kink). */
static void ref_row(const rt_model_spec *s, const double *p, const float *x, double *out,
                    double *min_hidden_abs) {
  double a[REF_MAX], z[REF_MAX];
  const size_t layers = (size_t)s->hp.hidden_count + 1;
  for (size_t f = 0; f < s->problem.features; ++f) a[f] = x[f];
  for (size_t l = 0; l < layers; ++l) {
    const size_t in = ref_width(s, l), n = ref_width(s, l + 1);
    for (size_t k = 0; k < n; ++k) {
      z[k] = p[in * n + k];
      for (size_t f = 0; f < in; ++f) z[k] += a[f] * p[f * n + k];
    }
    if (l + 1 < layers) {
      for (size_t k = 0; k < n; ++k) {
        if (min_hidden_abs && fabs(z[k]) < *min_hidden_abs) *min_hidden_abs = fabs(z[k]);
        a[k] = ref_act(s->hp.activation, z[k]);
      }
    } else {
      for (size_t k = 0; k < n; ++k) out[k] = z[k];
    }
    p += in * n + n;
  }
}

/* Mean loss of the batch plus l2/2 |W|^2 over the weights (not the biases). */
static double reference_loss(const rt_model_spec *s, const double *p, const float *x,
                             const float *y, size_t rows) {
  const size_t d = s->problem.features, layers = (size_t)s->hp.hidden_count + 1;
  const size_t out_n = ref_width(s, layers);
  double total = 0.0;
  for (size_t i = 0; i < rows; ++i) {
    double o[REF_MAX];
    ref_row(s, p, x + i * d, o, NULL);
    if (s->hp.output == RT_OUTPUT_REGRESSION) {
      total += 0.5 * (o[0] - y[i]) * (o[0] - y[i]);
    } else {
      double m = -INFINITY, sum = 0.0;
      for (size_t k = 0; k < out_n; ++k) m = o[k] > m ? o[k] : m;
      for (size_t k = 0; k < out_n; ++k) sum += exp(o[k] - m);
      total += log(sum) + m - o[(size_t)y[i]];
    }
  }
  double reg = 0.0;
  const double *q = p;
  for (size_t l = 0; l < layers; ++l) {
    const size_t in = ref_width(s, l), n = ref_width(s, l + 1);
    for (size_t k = 0; k < in * n; ++k) reg += q[k] * q[k];
    q += in * n + n;
  }
  return total / (double)rows + 0.5 * s->hp.l2 * reg;
}

/* Fills params, x, y from the stream `key`. */
static void fill(const rt_model_spec *s, uint64_t key, size_t n, float *params, float *x, float *y,
                 size_t rows) {
  for (size_t i = 0; i < n; ++i) params[i] = 1.2f * (rt_rng_uniform_f(key, i) - 0.5f);
  for (size_t i = 0; i < rows * s->problem.features; ++i)
    x[i] = 2.0f * rt_rng_uniform_f(key, 100000 + i) - 1.0f;
  for (size_t i = 0; i < rows; ++i)
    y[i] = s->hp.output == RT_OUTPUT_REGRESSION
               ? 2.0f * rt_rng_uniform_f(key, 200000 + i) - 1.0f
               : (float)rt_rng_below(key, 200000 + i, s->problem.classes);
}

/* Central differences (h = 1e-4) of the double reference against the float analytic gradient:
 * relative error at most 1e-4, with a floor of 1e-3 on the scale (so 1e-7 absolute for small
 * components). Observed: at most ~7e-6 (float32 rounding of the forward and backward passes; the
 * h^2 truncation error is far below). relu: the data are drawn from the
 * first key whose hidden pre-activations all stay >= 5e-3 away from the kink, so no perturbation
 * of size h (which moves any pre-activation by well under 1e-3 here) crosses it. */
static void check_gradient(rt_activation act, rt_mlp_output output, double l2) {
  const rt_family *fam = mlp();
  const long hidden[2] = {6, 5};
  const size_t d = 4, c = 3, rows = 9;
  rt_model_spec s = make_spec(d, c, hidden, 2, act, output, l2);
  assert_int_equal(fam->check(&s, &(rt_status){0}), RT_OK);
  const size_t out_n = output == RT_OUTPUT_REGRESSION ? 1 : c;
  const size_t n = fam->param_count(&s);
  assert_int_equal(n, (d * 6 + 6) + (6 * 5 + 5) + (5 * out_n + out_n));
  float *params = malloc(n * sizeof *params), *grad = malloc(n * sizeof *grad);
  float *x = malloc(rows * d * sizeof *x), *y = malloc(rows * sizeof *y);
  double *pd = calloc(n, sizeof *pd);
  int found = 0;
  for (uint64_t attempt = 0; attempt < 1000 && !found; ++attempt) {
    const uint64_t key =
        rt_key_push(rt_key_push(77, (uint64_t)act * 10 + (uint64_t)output), attempt);
    fill(&s, key, n, params, x, y, rows);
    for (size_t i = 0; i < n; ++i) pd[i] = params[i];
    double margin = INFINITY, o[REF_MAX];
    for (size_t i = 0; i < rows; ++i) ref_row(&s, pd, x + i * d, o, &margin);
    found = act != RT_ACTIVATION_RELU || margin >= 5e-3;
  }
  assert_true(found);
  /* The reported loss is the sum of per-row losses without the L2 term. */
  rt_model_spec s0 = s;
  s0.hp.l2 = 0.0;
  double loss_sum = 0.0;
  tu_check_gradient(&(tu_gradient_check){.fam = fam,
                                         .spec = &s,
                                         .reported = &s0,
                                         .loss = reference_loss,
                                         .params = params,
                                         .x = x,
                                         .y = y,
                                         .rows = rows,
                                         .loss_tol = 1e-5,
                                         .loss_scaled = 1,
                                         .grad_tol = 1e-4},
                    grad, &loss_sum);
  /* Same inputs, same bits. */
  float *again = malloc(n * sizeof *again);
  float *ws = malloc(fam->workspace_floats(&s, rows) * sizeof *ws);
  double loss_again = 0.0;
  fam->batch_gradient(&s, params, x, y, rows, again, &loss_again, ws);
  assert_memory_equal(grad, again, n * sizeof *grad);
  assert_true(loss_again == loss_sum);
  free(again);
  free(params), free(grad), free(ws), free(x), free(y), free(pd);
}

static void gradient_relu_classification(void **state) {
  (void)state;
  check_gradient(RT_ACTIVATION_RELU, RT_OUTPUT_CLASSIFICATION, 0.0);
}
static void gradient_tanh_classification_l2(void **state) {
  (void)state;
  check_gradient(RT_ACTIVATION_TANH, RT_OUTPUT_CLASSIFICATION, 0.05);
}
static void gradient_gelu_classification(void **state) {
  (void)state;
  check_gradient(RT_ACTIVATION_GELU, RT_OUTPUT_CLASSIFICATION, 0.0);
}
static void gradient_relu_regression_l2(void **state) {
  (void)state;
  check_gradient(RT_ACTIVATION_RELU, RT_OUTPUT_REGRESSION, 0.03);
}
static void gradient_tanh_regression(void **state) {
  (void)state;
  check_gradient(RT_ACTIVATION_TANH, RT_OUTPUT_REGRESSION, 0.0);
}
static void gradient_gelu_regression_l2(void **state) {
  (void)state;
  check_gradient(RT_ACTIVATION_GELU, RT_OUTPUT_REGRESSION, 0.01);
}

/* W (in x out, row-major) then b, layer after layer: a hand-set 2 -> 2 -> 1 relu network. */
static void parameter_layout(void **state) {
  (void)state;
  const rt_family *fam = mlp();
  const long hidden[1] = {2};
  rt_model_spec s = make_spec(2, 0, hidden, 1, RT_ACTIVATION_RELU, RT_OUTPUT_REGRESSION, 0.0);
  assert_int_equal(fam->param_count(&s), 2 * 2 + 2 + 2 * 1 + 1);
  /* W0 = [[1, 2], [3, 4]], b0 = [0, -1], W1 = [1, 10]^T, b1 = 0.5. */
  const float params[9] = {1, 2, 3, 4, 0, -1, 1, 10, 0.5f};
  const float x[6] = {1, 1, 1, 0, -1, -1};
  float out[3], ws[64];
  assert_true(fam->workspace_floats(&s, 3) <= 64);
  fam->predict(&s, params, x, 3, out, ws);
  /* (1,1): h = (4, 5) -> 54.5; (1,0): h = (1, 1) -> 11.5; (-1,-1): h = relu(-4, -7) -> 0.5. */
  assert_float_equal(out[0], 54.5f, 1e-5);
  assert_float_equal(out[1], 11.5f, 1e-5);
  assert_float_equal(out[2], 0.5f, 1e-6);
}

static double sample_std(const float *w, size_t n, double *mean_out) {
  double mean = 0.0, var = 0.0;
  for (size_t i = 0; i < n; ++i) mean += w[i];
  mean /= (double)n;
  for (size_t i = 0; i < n; ++i) var += (w[i] - mean) * (w[i] - mean);
  *mean_out = mean;
  return sqrt(var / (double)(n - 1));
}

/* A 256 x 256 first layer: sample std within 10% of sqrt(2/in) (he) or sqrt(2/(in+out)) (xavier),
 * mean near 0, about 68% within one std (normal), biases 0; identical for the same key. */
static void check_init(rt_activation act, rt_init_scheme init, double target) {
  const rt_family *fam = mlp();
  const long hidden[1] = {256};
  rt_model_spec s = make_spec(256, 10, hidden, 1, act, RT_OUTPUT_CLASSIFICATION, 0.0);
  s.hp.init = init;
  const size_t n = fam->param_count(&s), nw = 256 * 256;
  float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
  fam->init_params(&s, 12345, a);
  fam->init_params(&s, 12345, b);
  fam->init_params(&s, 12346, c);
  assert_memory_equal(a, b, n * sizeof *a);
  assert_memory_not_equal(a, c, n * sizeof *a);
  double mean = 0.0;
  const double std = sample_std(a, nw, &mean);
  if (fabs(std - target) > 0.1 * target) fail_msg("std %.6g, target %.6g", std, target);
  assert_true(fabs(mean) < 0.02 * target);
  size_t inside = 0;
  for (size_t i = 0; i < nw; ++i) inside += fabs(a[i]) < target;
  assert_true(fabs((double)inside / (double)nw - 0.6827) < 0.01);
  for (size_t i = nw; i < nw + 256; ++i) assert_true(a[i] == 0.0f); /* b_0 */
  /* The output layer (256 x 10) draws from its own stream with its own scale. */
  const float *w1 = a + nw + 256;
  const double target1 = init == RT_INIT_HE || (init == RT_INIT_AUTO && act == RT_ACTIVATION_RELU)
                             ? sqrt(2.0 / 256.0)
                             : sqrt(2.0 / 266.0);
  const double std1 = sample_std(w1, 2560, &mean);
  assert_true(fabs(std1 - target1) < 0.1 * target1);
  for (size_t i = nw + 256 + 2560; i < n; ++i) assert_true(a[i] == 0.0f); /* b_1 */
  free(a), free(b), free(c);
}

static void init_he(void **state) {
  (void)state;
  check_init(RT_ACTIVATION_TANH, RT_INIT_HE, sqrt(2.0 / 256.0));
  check_init(RT_ACTIVATION_RELU, RT_INIT_AUTO, sqrt(2.0 / 256.0)); /* auto: he for relu */
}

static void init_xavier(void **state) {
  (void)state;
  check_init(RT_ACTIVATION_RELU, RT_INIT_XAVIER, sqrt(2.0 / 512.0));
  check_init(RT_ACTIVATION_GELU, RT_INIT_AUTO, sqrt(2.0 / 512.0)); /* auto: xavier otherwise */
}

/* XOR of the signs of two coordinates (points at least 0.1 from the axes): not linearly
 * separable; an mlp with Adam reaches > 95% accuracy on held-out points within 300 steps (observed:
 * 100% for relu, tanh and gelu). */
static void make_xor(uint64_t key, float *x, float *y, size_t rows) {
  for (size_t i = 0; i < rows; ++i) {
    for (int f = 0; f < 2; ++f) {
      const float u = rt_rng_uniform_f(key, 2 * i + (size_t)f);
      x[2 * i + f] = u < 0.5f ? -0.1f - 1.8f * u : 0.1f + 1.8f * (u - 0.5f);
    }
    y[i] = (x[2 * i] > 0.0f) != (x[2 * i + 1] > 0.0f) ? 1.0f : 0.0f;
  }
}

static void check_learns_xor(rt_activation act) {
  const rt_family *fam = mlp();
  const long hidden[2] = {16, 16};
  rt_model_spec s = make_spec(2, 2, hidden, 2, act, RT_OUTPUT_CLASSIFICATION, 1e-4);
  s.hp.optimizer = RT_OPT_ADAM;
  s.hp.learning_rate = 0.01;
  s.hp.batch_size = 32;
  const size_t rows = 512, test_rows = 1000, batch = 32, steps = 300;
  const size_t n = fam->param_count(&s);
  float *params = malloc(n * sizeof *params), *grad = malloc(n * sizeof *grad);
  float *aux = calloc(rt_optimizer_aux_count(&s, n), sizeof *aux);
  float *ws = malloc(fam->workspace_floats(&s, test_rows) * sizeof *ws);
  float *x = malloc(rows * 2 * sizeof *x), *y = malloc(rows * sizeof *y);
  float *tx = malloc(test_rows * 2 * sizeof *tx), *ty = malloc(test_rows * sizeof *ty);
  make_xor(rt_key_push(5, 1), x, y, rows);
  make_xor(rt_key_push(5, 2), tx, ty, test_rows);
  fam->init_params(&s, rt_key_push(5, 3), params);
  double first_loss = 0.0, last_loss = 0.0;
  for (size_t step = 0; step < steps; ++step) {
    const size_t first = (step % (rows / batch)) * batch;
    double loss = 0.0;
    fam->batch_gradient(&s, params, x + first * 2, y + first, batch, grad, &loss, ws);
    assert_true(isfinite(loss));
    if (step < rows / batch) first_loss += loss;
    if (step >= steps - rows / batch) last_loss += loss;
    rt_optimizer_step(&s, params, aux, grad, n, step);
  }
  double sums[RT_EVAL_SUMS] = {0}, values[RT_MAX_METRICS] = {0};
  fam->eval_rows(&s, params, tx, ty, test_rows, ws, sums);
  fam->metrics(&s, sums, test_rows, values);
  if (!(values[1] > 0.95))
    fail_msg("activation %d: accuracy %.4f, logloss %.4f (first pass loss %.4f, last %.4f)",
             (int)act, values[1], values[0], first_loss / rows, last_loss / rows);
  assert_true(last_loss < 0.5 * first_loss);
  free(params), free(grad), free(aux), free(ws), free(x), free(y), free(tx), free(ty);
}

static void learns_xor_relu(void **state) {
  (void)state;
  check_learns_xor(RT_ACTIVATION_RELU);
}
static void learns_xor_tanh(void **state) {
  (void)state;
  check_learns_xor(RT_ACTIVATION_TANH);
}
static void learns_xor_gelu(void **state) {
  (void)state;
  check_learns_xor(RT_ACTIVATION_GELU);
}

/* Regression of y = x0 * x1 + sin(2 x2): r2 > 0.9 on held-out points. */
static void learns_regression(void **state) {
  (void)state;
  const rt_family *fam = mlp();
  const long hidden[1] = {32};
  rt_model_spec s = make_spec(3, 0, hidden, 1, RT_ACTIVATION_TANH, RT_OUTPUT_REGRESSION, 0.0);
  s.hp.optimizer = RT_OPT_ADAM;
  s.hp.learning_rate = 0.01;
  const size_t rows = 1024, test_rows = 500, batch = 32, steps = 1500;
  const size_t n = fam->param_count(&s);
  float *params = malloc(n * sizeof *params), *grad = malloc(n * sizeof *grad);
  float *aux = calloc(rt_optimizer_aux_count(&s, n), sizeof *aux);
  float *ws = malloc(fam->workspace_floats(&s, test_rows) * sizeof *ws);
  float *x = malloc((rows + test_rows) * 3 * sizeof *x),
        *y = malloc((rows + test_rows) * sizeof *y);
  const uint64_t key = rt_key_push(6, 1);
  for (size_t i = 0; i < rows + test_rows; ++i) {
    for (size_t f = 0; f < 3; ++f) x[3 * i + f] = 2.0f * rt_rng_uniform_f(key, 3 * i + f) - 1.0f;
    y[i] = x[3 * i] * x[3 * i + 1] + sinf(2.0f * x[3 * i + 2]);
  }
  fam->init_params(&s, rt_key_push(6, 2), params);
  for (size_t step = 0; step < steps; ++step) {
    const size_t first = (step % (rows / batch)) * batch;
    double loss = 0.0;
    fam->batch_gradient(&s, params, x + first * 3, y + first, batch, grad, &loss, ws);
    rt_optimizer_step(&s, params, aux, grad, n, step);
  }
  double sums[RT_EVAL_SUMS] = {0}, values[RT_MAX_METRICS] = {0};
  fam->eval_rows(&s, params, x + rows * 3, y + rows, test_rows, ws, sums);
  fam->metrics(&s, sums, test_rows, values);
  if (!(values[2] > 0.9)) fail_msg("rmse %.4f mae %.4f r2 %.4f", values[0], values[1], values[2]);
  free(params), free(grad), free(aux), free(ws), free(x), free(y);
}

/* Classification: "predicted" then "p0".."p{C-1}", probabilities summing to 1 even for large
 * logits; regression: one column "prediction" equal to the reference forward pass. */
static void predict_columns(void **state) {
  (void)state;
  const rt_family *fam = mlp();
  const long hidden[2] = {7, 3};
  rt_model_spec s = make_spec(4, 5, hidden, 2, RT_ACTIVATION_GELU, RT_OUTPUT_CLASSIFICATION, 0.0);
  const size_t rows = 6, n = fam->param_count(&s);
  float *params = malloc(n * sizeof *params), x[24], y[6];
  float *ws = malloc(fam->workspace_floats(&s, rows) * sizeof *ws);
  fill(&s, 99, n, params, x, y, rows);
  for (size_t i = 0; i < n; ++i) params[i] *= 40.0f; /* large logits: needs the max-shift */
  assert_int_equal(fam->task(&s), RT_TASK_CLASSIFICATION);
  assert_int_equal(fam->output_width(&s), 6);
  float out[36];
  fam->predict(&s, params, x, rows, out, ws);
  for (size_t r = 0; r < rows; ++r) {
    const float *o = out + r * 6;
    double sum = 0.0;
    size_t best = 0;
    for (size_t k = 0; k < 5; ++k) {
      assert_true(isfinite(o[1 + k]) && o[1 + k] >= 0.0f);
      sum += o[1 + k];
      if (o[1 + k] > o[1 + best]) best = k;
    }
    assert_true(fabs(sum - 1.0) < 1e-5);
    assert_int_equal((size_t)o[0], best);
  }
  char name[16];
  fam->output_name(&s, 0, name, sizeof name);
  assert_string_equal(name, "predicted");
  fam->output_name(&s, 5, name, sizeof name);
  assert_string_equal(name, "p4");
  free(params), free(ws);

  rt_model_spec r = make_spec(4, 0, hidden, 2, RT_ACTIVATION_TANH, RT_OUTPUT_REGRESSION, 0.0);
  assert_int_equal(fam->task(&r), RT_TASK_REGRESSION);
  assert_int_equal(fam->output_width(&r), 1);
  fam->output_name(&r, 0, name, sizeof name);
  assert_string_equal(name, "prediction");
  const size_t nr = fam->param_count(&r);
  assert_int_equal(nr, (4 * 7 + 7) + (7 * 3 + 3) + (3 + 1));
  params = malloc(nr * sizeof *params);
  ws = malloc(fam->workspace_floats(&r, rows) * sizeof *ws);
  fill(&r, 98, nr, params, x, y, rows);
  double *pd = malloc(nr * sizeof *pd);
  for (size_t i = 0; i < nr; ++i) pd[i] = params[i];
  fam->predict(&r, params, x, rows, out, ws);
  for (size_t i = 0; i < rows; ++i) {
    double o[REF_MAX];
    ref_row(&r, pd, x + i * 4, o, NULL);
    assert_true(fabs(out[i] - o[0]) < 1e-5);
  }
  free(params), free(ws), free(pd);
}

/* Regression metrics against a hand computation: all weights 0 and output bias 1 predict 1 for
 * every row (act(0) = 0 for relu, tanh and gelu). */
static void regression_metrics(void **state) {
  (void)state;
  const rt_family *fam = mlp();
  const long hidden[1] = {3};
  rt_model_spec s = make_spec(2, 0, hidden, 1, RT_ACTIVATION_GELU, RT_OUTPUT_REGRESSION, 0.0);
  const size_t n = fam->param_count(&s);
  float params[16] = {0};
  assert_true(n <= 16);
  params[n - 1] = 1.0f;
  const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[4] = {0, 1, 2, 5};
  float ws[64];
  assert_true(fam->workspace_floats(&s, 4) <= 64);
  double sums[RT_EVAL_SUMS] = {0}, values[RT_MAX_METRICS] = {0};
  /* Two chunks add up to the same sums as one. */
  fam->eval_rows(&s, params, x, y, 1, ws, sums);
  fam->eval_rows(&s, params, x + 2, y + 1, 3, ws, sums);
  fam->metrics(&s, sums, 4, values);
  /* errors 1, 0, 1, 4: sse 18, sae 6; mean y 2, total sum of squares 14. */
  assert_float_equal(values[0], sqrt(18.0 / 4.0), 1e-12);
  assert_float_equal(values[1], 6.0 / 4.0, 1e-12);
  assert_float_equal(values[2], 1.0 - 18.0 / 14.0, 1e-12);
  const char *const *names = NULL;
  assert_int_equal(metric_names(&s, &names), 3);
  assert_string_equal(names[0], "rmse");
  assert_string_equal(names[1], "mae");
  assert_string_equal(names[2], "r2");
  s.hp.output = RT_OUTPUT_CLASSIFICATION;
  assert_int_equal(metric_names(&s, &names), 2);
  assert_string_equal(names[0], "logloss");
  assert_string_equal(names[1], "accuracy");
  /* The static table is the classification one (see family_mlp.c). */
  assert_int_equal(fam->metric_count, 2);
  assert_string_equal(fam->metric_names[0], "logloss");
  assert_string_equal(fam->metric_names[1], "accuracy");
}

/* Classification metrics: uniform probabilities (all weights 0) give log-loss log C, and the first
 * class wins ties. */
static void classification_metrics(void **state) {
  (void)state;
  const rt_family *fam = mlp();
  const long hidden[1] = {2};
  rt_model_spec s = make_spec(2, 3, hidden, 1, RT_ACTIVATION_RELU, RT_OUTPUT_CLASSIFICATION, 0.0);
  float params[32] = {0};
  assert_true(fam->param_count(&s) <= 32);
  const float x[6] = {1, 2, 3, 4, 5, 6}, y[3] = {0, 1, 2};
  float ws[64];
  assert_true(fam->workspace_floats(&s, 3) <= 64);
  double sums[RT_EVAL_SUMS] = {0}, values[RT_MAX_METRICS] = {0};
  fam->eval_rows(&s, params, x, y, 3, ws, sums);
  fam->metrics(&s, sums, 3, values);
  assert_true(fabs(values[0] - log(3.0)) < 1e-6);
  assert_true(fabs(values[1] - 1.0 / 3.0) < 1e-12);
}

/* A NaN input makes the loss NaN (relu must not turn it into 0), so divergence is seen. */
static void nan_input_gives_nan_loss(void **state) {
  (void)state;
  const rt_family *fam = mlp();
  const long hidden[2] = {4, 3};
  for (int out = 0; out < 2; ++out)
    for (int act = 0; act < 3; ++act) {
      rt_model_spec s = make_spec(3, 4, hidden, 2, (rt_activation)act, (rt_mlp_output)out, 0.0);
      const size_t n = fam->param_count(&s);
      float *params = malloc(n * sizeof *params), *grad = malloc(n * sizeof *grad);
      float *ws = malloc(fam->workspace_floats(&s, 2) * sizeof *ws), x[6], y[2];
      fill(&s, 7, n, params, x, y, 2);
      double loss = 0.0;
      fam->batch_gradient(&s, params, x, y, 2, grad, &loss, ws);
      assert_true(isfinite(loss));
      x[4] = NAN;
      fam->batch_gradient(&s, params, x, y, 2, grad, &loss, ws);
      if (!isnan(loss)) fail_msg("output %d activation %d: loss %g", out, act, loss);
      free(params), free(grad), free(ws);
    }
}

static void check_rejects(void **state) {
  (void)state;
  const rt_family *fam = mlp();
  const long hidden[2] = {8, 4};
  rt_status st;
  rt_model_spec s = make_spec(5, 3, hidden, 2, RT_ACTIVATION_RELU, RT_OUTPUT_CLASSIFICATION, 0.0);
  s.id = 2;
  assert_int_equal(fam->check(&s, &st), RT_OK);

  rt_model_spec e = s;
  e.hp.hidden_count = 0;
  assert_int_equal(fam->check(&e, &st), RT_ERR_CONFIG);
  assert_string_equal(st.message, "model 2 (mlp): hidden needs at least one layer width");

  e = s;
  e.problem.classes = 1;
  assert_int_equal(fam->check(&e, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "model 2 (mlp): needs at least 2 classes"));
  /* Regression has one output whatever the classes. */
  e.hp.output = RT_OUTPUT_REGRESSION;
  e.problem.classes = 0;
  assert_int_equal(fam->check(&e, &st), RT_OK);

  e = s;
  e.problem.features = 0;
  assert_int_equal(fam->check(&e, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "no feature columns"));

  e = s;
  e.hp.hidden[1] = 0;
  assert_int_equal(fam->check(&e, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "hidden layer 2 has width 0"));

  /* 2^29 floats is the most: 1 -> 2^20 -> 2^20 is far above; 2^14 x 2^14 + ... is just below. */
  e = s;
  e.problem.features = 1;
  e.hp.hidden[0] = 1L << 20;
  e.hp.hidden[1] = 1L << 20;
  assert_int_equal(fam->check(&e, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "too many parameters"));
  e.problem.features = 1UL << 40; /* products that would overflow 32 bits are caught too */
  e.hp.hidden_count = 1;
  assert_int_equal(fam->check(&e, &st), RT_ERR_CONFIG);
  e = s;
  e.problem.features = 1UL << 14;
  e.hp.hidden_count = 1;
  e.hp.hidden[0] = (1L << 15) - 8;
  e.problem.classes = 2;
  assert_int_equal(fam->check(&e, &st), RT_OK);
  assert_true(fam->param_count(&e) <= (1UL << 29));
}

/* A fresh state of an mlp is laid out and initialised the same for the same (seed, id). */
static void state_create_is_deterministic(void **state) {
  (void)state;
  const long hidden[2] = {16, 8};
  rt_model_spec s = make_spec(10, 4, hidden, 2, RT_ACTIVATION_RELU, RT_OUTPUT_CLASSIFICATION, 0.0);
  s.hp.optimizer = RT_OPT_ADAM;
  s.id = 1;
  s.seed = 3;
  rt_state_layout l = rt_state_layout_of(&s);
  assert_int_equal(l.param_count, (10 * 16 + 16) + (16 * 8 + 8) + (8 * 4 + 4));
  assert_int_equal(l.aux_count, 2 * l.param_count);
  size_t bytes = 0;
  rt_state_free(tu_state_create_twice(&s, &bytes));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(gradient_relu_classification),
      cmocka_unit_test(gradient_tanh_classification_l2),
      cmocka_unit_test(gradient_gelu_classification),
      cmocka_unit_test(gradient_relu_regression_l2),
      cmocka_unit_test(gradient_tanh_regression),
      cmocka_unit_test(gradient_gelu_regression_l2),
      cmocka_unit_test(parameter_layout),
      cmocka_unit_test(init_he),
      cmocka_unit_test(init_xavier),
      cmocka_unit_test(learns_xor_relu),
      cmocka_unit_test(learns_xor_tanh),
      cmocka_unit_test(learns_xor_gelu),
      cmocka_unit_test(learns_regression),
      cmocka_unit_test(predict_columns),
      cmocka_unit_test(regression_metrics),
      cmocka_unit_test(classification_metrics),
      cmocka_unit_test(nan_input_gives_nan_loss),
      cmocka_unit_test(check_rejects),
      cmocka_unit_test(state_create_is_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
