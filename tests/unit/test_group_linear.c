/* Fused groups of linear models with solver sgd (family_linear.c, group operations): every
 * member of a group of 1, 2, 3, 7 and 16 ends with exactly the bytes it gets alone (a group of
 * one: an sgemm with one column), through the group operations and through the CPU backend's
 * driver (also stopped and resumed mid-visit), with members that differ in learning rate,
 * schedule, alpha, fit_intercept and optimizer (sgd, momentum, adam), one that diverges, one that
 * is diverged from the start (untouched) and partial batches. Rests on OpenBLAS computing each
 * sgemm column independently of the others, n = 1 included: if a BLAS breaks that, this test
 * fails. Also: the exact solver does not take the group path (group_capable), and its driver
 * visit equals integrate_batch batch by batch. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "test_group_util.h"

enum { DIVERGING = 1 };

/* The shape of the current check: features, batch size. */
static size_t D = 11, BATCH = 8;

static rt_model_spec member_spec(size_t j, size_t m) {
  rt_model_spec s = tu_spec_sgd("linear", D, 0, (long)BATCH);
  s.hp.solver = RT_SOLVER_SGD;
  s.problem.train_rows = 200;
  s.total_batches = 7;
  s.passes = 2;
  switch (j % 3) {
    case 0: s.hp.learning_rate = 0.02 * (double)(1 + j % 5); break;
    case 1:
      s.hp.learning_rate = 0.01 * (double)(1 + j % 4);
      s.hp.momentum = j % 2 ? 0.9 : 0.5;
      break;
    default:
      s.hp.optimizer = RT_OPT_ADAM;
      s.hp.learning_rate = 0.003 * (double)(1 + j % 7);
      s.hp.beta2 = j % 2 ? 0.999 : 0.99;
      break;
  }
  s.hp.alpha = j % 4 == 0 ? 0.0 : 0.5 * (double)(j % 4);
  s.hp.fit_intercept = j % 5 != 2;
  s.hp.schedule = j % 5 == 3 ? RT_SCHED_COSINE : j % 2 ? RT_SCHED_INVERSE_TIME : RT_SCHED_CONSTANT;
  s.hp.decay = 0.1;
  if (m > 1 && j == DIVERGING) s.hp.learning_rate = 1e38;
  return s;
}

static void check_sizes(size_t m, size_t rows, size_t inactive, size_t cut) {
  const rt_family *fam = rt_family_find("linear");
  assert_non_null(fam);
  assert_non_null(fam->group_batch);
  tg_data t = tg_data_make(rows, D, 91 + m, 0);
  size_t diverged = 0;
  tg_check_group(fam, member_spec, m, &t, inactive, cut, &diverged);
  assert_int_equal(diverged, m > 1 ? 1 : 0);
  tg_data_free(&t);
}

static void group_of_one(void **unused) {
  (void)unused;
  check_sizes(1, 50, 1, 0);
  check_sizes(1, 50, 1, 3);
}

static void group_of_two(void **unused) {
  (void)unused;
  check_sizes(2, 50, 2, 2);
}

static void group_of_three(void **unused) {
  (void)unused;
  check_sizes(3, 45, 3, 4);
}

static void group_of_seven(void **unused) {
  (void)unused;
  check_sizes(7, 53, 4, 1);
}

static void group_of_sixteen(void **unused) {
  (void)unused;
  check_sizes(16, 61, 10, 5);
}

/* The shape (784 features, batch 128, partial batches) and batches longer than
 * RT_FUSED_K_CHUNK rows: OpenBLAS picks its kernel by shape, which the small shapes above do not
 * reach. */
static void large_shapes(void **unused) {
  (void)unused;
  D = 784, BATCH = 128;
  check_sizes(16, 300, 16, 1);
  check_sizes(64, 300, 2, 0);
  D = 784, BATCH = 900;
  check_sizes(8, 2000, 8, 1);
  D = 11, BATCH = 8;
}

/* The exact solver is not group-capable: the driver integrates it with integrate_batch, batch by
 * batch in the visit's order. */
static void exact_keeps_integrate_batch(void **unused) {
  (void)unused;
  const rt_family *fam = rt_family_find("linear");
  rt_model_spec s = tu_spec("linear", D, 0);
  s.hp.solver = RT_SOLVER_EXACT;
  s.hp.batch_size = BATCH;
  assert_non_null(fam->group_capable);
  assert_false(fam->group_capable(&s));
  rt_model_spec g = member_spec(0, 1);
  assert_true(fam->group_capable(&g));
  tg_data t = tg_data_make(5 * BATCH, D, 3, 0); /* whole batches: the order does not matter */
  void *a = NULL;
  size_t bytes = 0;
  rt_status st;
  assert_int_equal(rt_state_create(&s, &a, &bytes, &st), RT_OK);
  void *b = tg_copy(a, bytes);
  const rt_model_spec *sp = &s;
  tg_run_driver(fam, &sp, 1, &a, &t, 0);
  const rt_state_layout l = rt_state_layout_of(&s);
  float *ws = malloc(fam->workspace_floats(&s, BATCH) * sizeof *ws);
  uint64_t *order = malloc(5 * sizeof *order);
  rt_rng_permutation(rt_batch_order_key(&s, 0, 0), order, 5);
  for (size_t k = 0; k < 5; ++k) {
    double loss = 0.0;
    fam->integrate_batch(&s, rt_state_params(b, &l), rt_state_aux(b, &l),
                         t.x + order[k] * BATCH * D, t.y + order[k] * BATCH, BATCH, k, &loss, ws);
  }
  assert_memory_equal((char *)a + l.params_offset, (char *)b + l.params_offset,
                      l.total_bytes - l.params_offset);
  free(ws), free(order), rt_state_free(a), rt_state_free(b);
  tg_data_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(group_of_one),
      cmocka_unit_test(group_of_two),
      cmocka_unit_test(group_of_three),
      cmocka_unit_test(group_of_seven),
      cmocka_unit_test(group_of_sixteen),
      cmocka_unit_test(large_shapes),
      cmocka_unit_test(exact_keeps_integrate_batch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
