/* Softmax regression: analytic gradient against central finite differences (in double,
 * tu_check_gradient), probabilities, evaluation metrics by hand, NaN propagation, the
 * optimizers' update rules and the learning-rate schedules, the spec text round trip, and the
 * state layout and its deterministic initialisation. */
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

static rt_model_spec make_spec(size_t d, size_t c, double l2) {
  rt_model_spec s = tu_spec_sgd("logistic", d, c, 8);
  s.hp.l2 = l2;
  return s;
}

/* Loss of the batch (mean log-loss + l2/2 |W|^2) in double, the reference for the gradient. */
static double reference_loss(const rt_model_spec *s, const double *p, const float *x,
                             const float *y, size_t rows) {
  const size_t d = s->problem.features, c = s->problem.classes;
  double total = 0.0;
  for (size_t i = 0; i < rows; ++i) {
    double z[16], m = -INFINITY, sum = 0.0;
    for (size_t k = 0; k < c; ++k) {
      z[k] = p[d * c + k];
      for (size_t f = 0; f < d; ++f) z[k] += (double)x[i * d + f] * p[f * c + k];
      if (z[k] > m) m = z[k];
    }
    for (size_t k = 0; k < c; ++k) sum += exp(z[k] - m);
    total += log(sum) + m - z[(size_t)y[i]];
  }
  double reg = 0.0;
  for (size_t i = 0; i < d * c; ++i) reg += p[i] * p[i];
  return total / (double)rows + 0.5 * s->hp.l2 * reg;
}

/* Relative error of each component at most 2e-3; the reported loss (no L2 term) within 1e-5. */
static void check_gradient(size_t d, size_t c, size_t rows, double l2) {
  const rt_family *fam = rt_family_find("logistic");
  assert_non_null(fam);
  rt_model_spec s = make_spec(d, c, l2);
  const size_t n = fam->param_count(&s);
  assert_int_equal(n, (d + 1) * c);
  float *params = malloc(n * sizeof *params), *grad = malloc(n * sizeof *grad);
  float *x = malloc(rows * d * sizeof *x), *y = malloc(rows * sizeof *y);
  const uint64_t key = rt_key_push(42, d * 100 + c);
  for (size_t i = 0; i < n; ++i) params[i] = 0.5f * (rt_rng_uniform_f(key, i) - 0.5f);
  for (size_t i = 0; i < rows * d; ++i) x[i] = 2.0f * rt_rng_uniform_f(key, 1000 + i) - 1.0f;
  for (size_t i = 0; i < rows; ++i) y[i] = (float)rt_rng_below(key, 5000 + i, c);
  rt_model_spec s0 = s; /* the reported loss excludes the L2 term */
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
                                         .grad_tol = 2e-3},
                    grad, &loss_sum);
  free(params), free(grad), free(x), free(y);
}

static void gradient_multiclass(void **state) {
  (void)state;
  check_gradient(7, 4, 13, 0.0);
}

static void gradient_binary_with_l2(void **state) {
  (void)state;
  check_gradient(5, 2, 9, 0.01);
}

static void probabilities_sum_to_one(void **state) {
  (void)state;
  const rt_family *fam = rt_family_find("logistic");
  rt_model_spec s = make_spec(3, 5, 0.0);
  float params[20], x[6], out[12], ws[10];
  for (int i = 0; i < 20; ++i) params[i] = (float)(i % 7) - 3.0f;
  for (int i = 0; i < 6; ++i) x[i] = 40.0f * (float)(i - 3); /* large logits: needs max-shift */
  assert_int_equal(fam->output_width(&s), 6);
  fam->predict(&s, params, x, 2, out, ws);
  for (int r = 0; r < 2; ++r) {
    const float *o = out + r * 6; /* predicted class, then 5 probabilities */
    double sum = 0.0;
    size_t best = 0;
    for (int k = 0; k < 5; ++k) {
      assert_true(isfinite(o[1 + k]));
      sum += o[1 + k];
      if (o[1 + k] > o[1 + best]) best = (size_t)k;
    }
    assert_true(fabs(sum - 1.0) < 1e-5);
    assert_int_equal((size_t)o[0], best);
  }
  char name[16];
  fam->output_name(&s, 0, name, sizeof name);
  assert_string_equal(name, "predicted");
  fam->output_name(&s, 3, name, sizeof name);
  assert_string_equal(name, "p2");
}

/* Evaluation sums and metrics: log-loss and accuracy against a hand computation. */
static void evaluation_metrics(void **state) {
  (void)state;
  const rt_family *fam = rt_family_find("logistic");
  rt_model_spec s = make_spec(1, 2, 0.0);
  /* W = [1, -1], b = 0: p(class 1 | x) = 1 / (1 + e^{2x}). */
  const float params[4] = {1.0f, -1.0f, 0.0f, 0.0f};
  const float x[3] = {1.0f, -1.0f, 0.0f}, y[3] = {0.0f, 0.0f, 1.0f};
  float ws[6];
  double sums[RT_EVAL_SUMS] = {0}, values[RT_MAX_METRICS] = {0};
  fam->eval_rows(&s, params, x, y, 3, ws, sums);
  fam->metrics(&s, sums, 3, values);
  const double p0 = 1.0 / (1.0 + exp(-2.0)); /* row 1: class 0 with logit gap 2 */
  const double expected_loss = (-log(p0) - log(1.0 - p0) - log(0.5)) / 3.0;
  assert_true(fabs(values[0] - expected_loss) < 1e-6);
  /* Row 1 right, row 2 wrong, row 3 a tie: the first maximum (class 0) wins, wrong. */
  assert_true(fabs(values[1] - 1.0 / 3.0) < 1e-12);
  assert_string_equal(fam->metric_names[0], "logloss");
  assert_string_equal(fam->metric_names[1], "accuracy");
}

/* A NaN anywhere makes the loss NaN (never clamped to a finite value), so divergence is seen. */
static void nan_input_gives_nan_loss(void **state) {
  (void)state;
  const rt_family *fam = rt_family_find("logistic");
  rt_model_spec s = make_spec(3, 4, 0.0);
  float params[16] = {0}, grad[16], ws[8], x[6] = {1, 2, 3, 4, 5, 6}, y[2] = {1, 3};
  double loss = 0.0;
  fam->batch_gradient(&s, params, x, y, 2, grad, &loss, ws);
  assert_true(isfinite(loss));
  x[4] = NAN;
  fam->batch_gradient(&s, params, x, y, 2, grad, &loss, ws);
  assert_true(isnan(loss));
}

static void sgd_and_momentum_updates(void **state) {
  (void)state;
  rt_model_spec s = make_spec(1, 2, 0.0);
  float p[2] = {1.0f, -1.0f}, g[2] = {0.5f, -0.25f}, v[2] = {0.0f, 0.0f};
  rt_optimizer_step(&s, p, NULL, g, 2, 0);
  assert_float_equal(p[0], 0.95f, 1e-7);
  assert_float_equal(p[1], -0.975f, 1e-7);
  s.hp.momentum = 0.9;
  assert_int_equal(rt_optimizer_aux_count(&s, 2), 2);
  float q[1] = {0.0f}, gg[1] = {1.0f};
  rt_optimizer_step(&s, q, v, gg, 1, 0); /* v = 1,   q = -0.1 */
  rt_optimizer_step(&s, q, v, gg, 1, 1); /* v = 1.9, q = -0.29 */
  assert_float_equal(v[0], 1.9f, 1e-6);
  assert_float_equal(q[0], -0.29f, 1e-6);
}

static void adam_first_step_is_learning_rate(void **state) {
  (void)state;
  rt_model_spec s = make_spec(1, 2, 0.0);
  s.hp.optimizer = RT_OPT_ADAM;
  s.hp.learning_rate = 0.01;
  assert_int_equal(rt_optimizer_aux_count(&s, 3), 6);
  float p[3] = {0.0f, 0.0f, 0.0f}, g[3] = {3.0f, -0.2f, 0.0f}, aux[6] = {0};
  rt_optimizer_step(&s, p, aux, g, 3, 0);
  /* Bias-corrected first Adam step moves each parameter by lr * sign(g). */
  assert_float_equal(p[0], -0.01f, 1e-6);
  assert_float_equal(p[1], 0.01f, 1e-6);
  assert_float_equal(p[2], 0.0f, 1e-12);
}

static void schedules(void **state) {
  (void)state;
  rt_model_spec s = make_spec(1, 2, 0.0);
  s.hp.learning_rate = 0.2;
  s.hp.schedule = RT_SCHED_CONSTANT;
  assert_float_equal(rt_learning_rate(&s, 1000), 0.2, 1e-15);
  s.hp.schedule = RT_SCHED_INVERSE_TIME;
  s.hp.decay = 0.5;
  assert_float_equal(rt_learning_rate(&s, 2), 0.1, 1e-15);
  s.hp.schedule = RT_SCHED_COSINE;
  s.total_batches = 10;
  s.passes = 2; /* 20 steps in all */
  assert_float_equal(rt_learning_rate(&s, 0), 0.2, 1e-15);
  assert_float_equal(rt_learning_rate(&s, 10), 0.1, 1e-12);
  assert_float_equal(rt_learning_rate(&s, 20), 0.0, 1e-12);
}

static void spec_text_round_trip(void **state) {
  (void)state;
  rt_model_spec s = make_spec(64, 10, 1e-4);
  /* Spec text is read back with the key table's ranges (as every config is checked): the keys
   * this family does not read get valid values, as a config gives them. */
  s.hp.k = 8, s.hp.init_sample = 10000, s.hp.hidden[0] = 64, s.hp.hidden_count = 1;
  s.id = 7;
  s.seed = 123456789012345ULL;
  s.passes = 3;
  s.shards = 4;
  s.total_batches = 29;
  s.label_column = 64;
  s.hp.optimizer = RT_OPT_ADAM;
  s.hp.schedule = RT_SCHED_COSINE;
  s.hp.learning_rate = 0.1 / 3.0;
  char *text = rt_spec_to_text(&s);
  assert_non_null(text);
  rt_model_spec back;
  rt_status st;
  assert_int_equal(rt_spec_from_text(text, "m.rtm", &back, &st), RT_OK);
  assert_int_equal(back.id, 7);
  assert_true(back.seed == s.seed);
  assert_int_equal(back.problem.features, 64);
  assert_int_equal(back.problem.classes, 10);
  assert_int_equal(back.label_column, 64);
  assert_true(back.hp.learning_rate == s.hp.learning_rate); /* %.17g round-trips exactly */
  assert_int_equal(back.hp.optimizer, RT_OPT_ADAM);
  assert_int_equal(back.hp.schedule, RT_SCHED_COSINE);
  char *again = rt_spec_to_text(&back);
  assert_string_equal(text, again);
  free(again);
  /* A spec without its kind is rejected with the file named. */
  assert_int_equal(rt_spec_from_text(text + strlen("kind=logistic\n"), "m.rtm", &back, &st),
                   RT_ERR_MODEL_FILE);
  assert_non_null(strstr(st.message, "m.rtm"));
  free(text);
}

static void state_layout_is_aligned_and_deterministic(void **state) {
  (void)state;
  rt_model_spec s = make_spec(64, 10, 0.0);
  s.hp.optimizer = RT_OPT_ADAM;
  s.passes = 5;
  s.id = 3;
  s.seed = 9;
  s.hp.seed = rt_model_seed_auto(9, 3);
  rt_state_layout l = rt_state_layout_of(&s);
  assert_int_equal(l.params_offset % 64, 0);
  assert_int_equal(l.aux_offset % 64, 0);
  assert_int_equal(l.aux_count, 2 * l.param_count);
  size_t na = 0, nb = 0;
  void *a = tu_state_create_twice(&s, &na);
  assert_int_equal(na, l.total_bytes);
  s.id = 4; /* another model starts elsewhere */
  s.hp.seed = rt_model_seed_auto(9, 4);
  void *c = NULL;
  rt_status st;
  assert_int_equal(rt_state_create(&s, &c, &nb, &st), RT_OK);
  assert_memory_not_equal(rt_state_params(a, &l), rt_state_params(c, &l),
                          l.param_count * sizeof(float));
  rt_state_free(a), rt_state_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(gradient_multiclass),
      cmocka_unit_test(gradient_binary_with_l2),
      cmocka_unit_test(probabilities_sum_to_one),
      cmocka_unit_test(evaluation_metrics),
      cmocka_unit_test(nan_input_gives_nan_loss),
      cmocka_unit_test(sgd_and_momentum_updates),
      cmocka_unit_test(adam_first_step_is_learning_rate),
      cmocka_unit_test(schedules),
      cmocka_unit_test(spec_text_round_trip),
      cmocka_unit_test(state_layout_is_aligned_and_deterministic),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
