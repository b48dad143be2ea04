/* Fused groups of softmax models (family_logistic.c, group operations): every member of a group
 * of 1, 2, 3, 7 and 64 ends with exactly the bytes it gets alone (a group of one), through the
 * group operations and through the CPU backend's driver (also stopped and resumed mid-visit),
 * with members that differ in learning rate, schedule, L2 and optimizer (sgd, momentum, adam),
 * one that diverges, one that is diverged from the start (untouched) and partial batches. This
 * rests on OpenBLAS computing each column of an sgemm independently of the others: if a BLAS
 * breaks that, this test fails and says which member differs. Also: the solo gradient
 * (batch_gradient) is the group path's arithmetic for one member. */
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

/* The shape of the current check: features, classes, batch size. */
static size_t D = 13, C = 4, BATCH = 8;

/* Member j of m: optimizer sgd / momentum / adam by j % 3, learning rates, L2 and schedules
 * varying with j; member DIVERGING (when m > 1) with a learning rate that overflows. */
static rt_model_spec member_spec(size_t j, size_t m) {
  rt_model_spec s = tu_spec_sgd("logistic", D, C, (long)BATCH);
  s.total_batches = 7;
  s.passes = 2;
  switch (j % 3) {
    case 0: s.hp.learning_rate = 0.05 * (double)(1 + j % 5); break;
    case 1:
      s.hp.learning_rate = 0.02 * (double)(1 + j % 4);
      s.hp.momentum = j % 2 ? 0.9 : 0.5;
      break;
    default:
      s.hp.optimizer = RT_OPT_ADAM;
      s.hp.learning_rate = 0.003 * (double)(1 + j % 7);
      s.hp.beta1 = j % 2 ? 0.9 : 0.8;
      break;
  }
  s.hp.l2 = j % 4 == 0 ? 0.0 : 1e-3 * (double)(j % 4);
  s.hp.schedule = j % 5 == 3 ? RT_SCHED_COSINE : j % 2 ? RT_SCHED_INVERSE_TIME : RT_SCHED_CONSTANT;
  s.hp.decay = 0.1;
  if (m > 1 && j == DIVERGING) s.hp.learning_rate = 1e38;
  return s;
}

static void check_sizes(size_t m, size_t rows, size_t inactive, size_t cut) {
  const rt_family *fam = rt_family_find("logistic");
  assert_non_null(fam);
  assert_non_null(fam->group_batch);
  tg_data t = tg_data_make(rows, D, 77 + m, C);
  size_t diverged = 0;
  tg_check_group(fam, member_spec, m, &t, inactive, cut, &diverged);
  /* The diverging member did diverge (so the others were checked next to a NaN member), and
   * no other did. */
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

static void group_of_sixty_four(void **unused) {
  (void)unused;
  check_sizes(64, 61, 10, 5);
}

/* The shape (784 features, 10 classes, batch 128): OpenBLAS picks its kernel by shape
 * (on SkylakeX a "direct" sgemm for small products, such as one model's logits of a batch, the
 * packed one for large ones, such as a group's), so the small shapes above do not cover the
 * switch; this does, for groups whose logits product is direct and packed. */
static void benchmark_shape(void **unused) {
  (void)unused;
  D = 784, C = 10, BATCH = 128;
  check_sizes(2, 300, 2, 1);
  check_sizes(3, 300, 3, 0);
  check_sizes(64, 300, 5, 1);
  D = 13, C = 4, BATCH = 8;
}

/* Batches longer than RT_FUSED_K_CHUNK rows (the gradient product sums over chunks of rows), on a
 * shape where a member alone takes OpenBLAS's small kernels and a group its packed ones. */
static void long_batches(void **unused) {
  (void)unused;
  D = 64, C = 10, BATCH = 1000;
  check_sizes(4, 2300, 4, 1);
  check_sizes(16, 2100, 3, 0);
  D = 13, C = 4, BATCH = 8;
}

/* Classes 8: a solo product has 8 columns, a group's 8 m. */
static void eight_classes(void **unused) {
  (void)unused;
  D = 40, C = 8, BATCH = 32;
  check_sizes(5, 100, 5, 0);
  D = 13, C = 4, BATCH = 8;
}

/* batch_gradient is the group path for one member: its gradient, applied by the solo optimizer,
 * gives the bytes of a group of one (so the gradient checks of test_logistic.c check it). */
static void solo_gradient_is_group_path(void **unused) {
  (void)unused;
  const rt_family *fam = rt_family_find("logistic");
  tg_data t = tg_data_make(BATCH, D, 5, C);
  for (size_t j = 0; j < 3; ++j) {
    rt_model_spec s = member_spec(j, 1);
    const rt_model_spec *sp = &s;
    void *a = NULL, *b = NULL;
    size_t bytes = 0;
    rt_status st;
    assert_int_equal(rt_state_create(&s, &a, &bytes, &st), RT_OK);
    b = tg_copy(a, bytes);
    double loss = 0.0;
    tg_run_ops(fam, &sp, 1, &a, &t, &loss);
    const rt_state_layout l = rt_state_layout_of(&s);
    float *grad = malloc(l.param_count * sizeof *grad);
    float *ws = malloc(fam->workspace_floats(&s, BATCH) * sizeof *ws);
    double loss_b = 0.0;
    fam->batch_gradient(&s, rt_state_params(b, &l), t.x, t.y, BATCH, grad, &loss_b, ws);
    rt_optimizer_step(&s, rt_state_params(b, &l), l.aux_count ? rt_state_aux(b, &l) : NULL, grad,
                      l.param_count, 0);
    rt_state_head(b)->step = 1;
    assert_memory_equal(&loss, &loss_b, sizeof loss);
    assert_memory_equal(a, b, bytes);
    free(grad), free(ws), rt_state_free(a), rt_state_free(b);
  }
  tg_data_free(&t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(group_of_one),
      cmocka_unit_test(group_of_two),
      cmocka_unit_test(group_of_three),
      cmocka_unit_test(group_of_seven),
      cmocka_unit_test(group_of_sixty_four),
      cmocka_unit_test(benchmark_shape),
      cmocka_unit_test(eight_classes),
      cmocka_unit_test(long_batches),
      cmocka_unit_test(solo_gradient_is_group_path),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
