/* pbt's explore rule (src/engine/pbt.h): a copying model takes the copied model's swept number
 * values, each times 1 - perturb or 1 + perturb by a seeded coin (the copied value where the key
 * refuses the product), and keeps the rest of its own config; and its exploit copy: weights and
 * optimizer state from the copied state, its own header identity and histories. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_internal.h"
#include "model.h"
#include "pbt.h"

static uint64_t bit_of(const char *name) {
  return UINT64_C(1) << rt_model_key_index(rt_config_key_find(RT_SECTION_MODEL, name));
}

static rt_pbt plan_with(double perturb) {
  rt_pbt plan;
  memset(&plan, 0, sizeof plan);
  plan.interval = 2;
  plan.q = 1;
  plan.perturb = perturb;
  plan.seed = 7;
  return plan;
}

/* Each swept number becomes the copied value times 0.8 or 1.2, both factors occur, the choice
 * depends on (step, model) only, and unswept keys stay the model's own. */
static void test_perturb_factors(void **state) {
  (void)state;
  const rt_pbt plan = plan_with(0.2);
  rt_model_config own, source, out, again;
  rt_model_config_defaults(&own);
  rt_model_config_defaults(&source);
  snprintf(own.kind, sizeof own.kind, "mlp");
  snprintf(source.kind, sizeof source.kind, "mlp");
  own.learning_rate = 0.5;
  own.l2 = 0.25;
  own.batch_size = 64;
  own.seed = 11;
  source.learning_rate = 0.01;
  source.l2 = 0.001;
  source.batch_size = 16; /* not swept: the model keeps its own */
  source.seed = 99;
  own.swept = source.swept = bit_of("learning_rate") | bit_of("l2");
  int up = 0, down = 0;
  for (uint64_t g = 1; g <= 40; ++g) {
    rt_pbt_perturb(&plan, g, 3, &own, &source, &out);
    const double f = out.learning_rate / source.learning_rate;
    assert_true(fabs(f - 0.8) < 1e-12 || fabs(f - 1.2) < 1e-12);
    up += f > 1.0, down += f < 1.0;
    const double h = out.l2 / source.l2;
    assert_true(fabs(h - 0.8) < 1e-12 || fabs(h - 1.2) < 1e-12);
    assert_int_equal(out.batch_size, 64);
    assert_int_equal(out.seed, 11);
    rt_pbt_perturb(&plan, g, 3, &own, &source, &again);
    assert_memory_equal(&out.learning_rate, &again.learning_rate, sizeof out.learning_rate);
  }
  assert_true(up > 5 && down > 5);
}

/* momentum 0.9 times 1.2 is outside [0, 1): the copied 0.9 itself. */
static void test_perturb_refused(void **state) {
  (void)state;
  const rt_pbt plan = plan_with(0.2);
  rt_model_config own, source, out;
  rt_model_config_defaults(&own);
  rt_model_config_defaults(&source);
  own.momentum = 0.1;
  source.momentum = 0.9;
  own.swept = source.swept = bit_of("momentum");
  int refused = 0, lowered = 0;
  for (uint64_t g = 1; g <= 40; ++g) {
    rt_pbt_perturb(&plan, g, 1, &own, &source, &out);
    if (out.momentum == 0.9) ++refused;
    else if (fabs(out.momentum - 0.72) < 1e-12) ++lowered;
    else fail_msg("momentum %g is neither 0.72 nor the copied 0.9", out.momentum);
  }
  assert_true(refused > 5 && lowered > 5);
}

/* The copy takes parameters, optimizer state and counters; the header identity, pass and the
 * histories stay. */
static void test_copy_state(void **state) {
  (void)state;
  rt_model_spec spec;
  memset(&spec, 0, sizeof spec);
  snprintf(spec.hp.kind, sizeof spec.hp.kind, "logistic");
  rt_model_config_defaults(&spec.hp);
  snprintf(spec.hp.kind, sizeof spec.hp.kind, "logistic");
  spec.problem.features = 3;
  spec.problem.data_features = 3;
  spec.problem.classes = 2;
  spec.passes = 4;
  spec.eval_every_pass = 1;
  const rt_state_layout l = rt_state_layout_of(&spec);
  assert_true(l.param_count > 0);
  unsigned char *a = calloc(1, l.total_bytes), *b = calloc(1, l.total_bytes);
  assert_non_null(a);
  assert_non_null(b);
  memset(a + l.history_offset, 0x11, l.params_offset - l.history_offset);
  memset(a + l.params_offset, 0x22, l.total_bytes - l.params_offset);
  memset(b + l.history_offset, 0x33, l.params_offset - l.history_offset);
  rt_state_header *ha = (rt_state_header *)a, *hb = (rt_state_header *)b;
  ha->model_id = 1, ha->rng_key = 5, ha->step = 40, ha->samples = 400, ha->pass = 2;
  hb->model_id = 2, hb->rng_key = 6, hb->step = 10, hb->samples = 100, hb->pass = 2;
  rt_pbt_copy_state(&spec, a, b);
  assert_int_equal(hb->model_id, 2);
  assert_int_equal(hb->rng_key, 6);
  assert_int_equal(hb->step, 40);
  assert_int_equal(hb->samples, 400);
  for (size_t i = l.history_offset; i < l.params_offset; ++i) assert_int_equal(b[i], 0x33);
  assert_memory_equal(a + l.params_offset, b + l.params_offset, l.total_bytes - l.params_offset);
  free(a);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_perturb_factors),
      cmocka_unit_test(test_perturb_refused),
      cmocka_unit_test(test_copy_state),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
