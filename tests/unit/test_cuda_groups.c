/* The host-side rules of fused CUDA groups (cuda/group.cu), which need no device and so run on
 * every machine with a CUDA build (the CI's): which kinds fuse (logistic, linear with solver sgd),
 * which groups share one context (one kind, one parameter layout: linear members that differ in
 * fit_intercept do not), and the device bytes a context takes (the backend checks them against
 * free memory before anything is allocated). A build without the CUDA backend has nothing to test
 * and says so (exit 77, skipped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "test_util.h"

#if RINGTRAIN_WITH_CUDA
#include "rt_cuda.h"

static rt_model_spec member(const char *kind, rt_optimizer opt) {
  rt_model_spec s = tu_spec_sgd(kind, 784, strcmp(kind, "logistic") == 0 ? 10 : 0, 128);
  s.hp.optimizer = opt;
  s.hp.solver = RT_SOLVER_SGD;
  s.hp.fit_intercept = 1;
  s.passes = 3;
  return s;
}

static void which_kinds_fuse(void **state) {
  (void)state;
  rt_model_spec s = member("logistic", RT_OPT_ADAM);
  assert_true(rt_cuda_group_fusable(&s));
  s = member("linear", RT_OPT_SGD);
  assert_true(rt_cuda_group_fusable(&s));
  s.hp.solver = RT_SOLVER_EXACT;
  assert_false(rt_cuda_group_fusable(&s));
  s = member("mlp", RT_OPT_ADAM);
  assert_false(rt_cuda_group_fusable(&s));
  s = member("kmeans", RT_OPT_SGD);
  assert_false(rt_cuda_group_fusable(&s));
}

static void which_groups_share_a_context(void **state) {
  (void)state;
  /* Optimizers differ (so do the state sizes: Adam keeps two moments): one layout of the
   * parameters, one context. */
  rt_model_spec a = member("logistic", RT_OPT_SGD), b = member("logistic", RT_OPT_ADAM);
  const rt_model_spec *pair[2] = {&a, &b};
  assert_true(rt_cuda_group_uniform(pair, 2));
  assert_true(rt_cuda_group_uniform(pair, 1));
  assert_false(rt_cuda_group_uniform(pair, 0));
  /* Linear members with and without an intercept have different parameter counts. */
  a = member("linear", RT_OPT_SGD);
  b = member("linear", RT_OPT_ADAM);
  assert_true(rt_cuda_group_uniform(pair, 2));
  b.hp.fit_intercept = 0;
  assert_false(rt_cuda_group_uniform(pair, 2));
  /* Kinds never mix, nor does a kind without fused kernels join. */
  a = member("logistic", RT_OPT_SGD);
  b = member("linear", RT_OPT_SGD);
  assert_false(rt_cuda_group_uniform(pair, 2));
  a = member("mlp", RT_OPT_SGD);
  b = member("mlp", RT_OPT_SGD);
  assert_false(rt_cuda_group_uniform(pair, 2));
}

static void context_bytes(void **state) {
  (void)state;
  rt_model_spec s[8];
  const rt_model_spec *p[8];
  for (int i = 0; i < 8; ++i) {
    s[i] = member("logistic", i % 2 ? RT_OPT_ADAM : RT_OPT_SGD);
    p[i] = &s[i];
  }
  const size_t one = rt_cuda_group_bytes(p, 1, 100), eight = rt_cuda_group_bytes(p, 8, 100);
  assert_int_equal(rt_cuda_group_bytes(p, 0, 100), 0);
  /* 8 members hold at least 8 of the largest state (Adam's), their logits and gradients. */
  const rt_state_layout adam = rt_state_layout_of(&s[1]);
  assert_true(eight >= one + 7 * adam.total_bytes);
  assert_true(eight >= 8 * (adam.total_bytes + (785 * 10 + 128 * 10) * sizeof(float)));
  /* The optimizer arguments of every batch of a visit: more batches, more bytes. */
  assert_true(rt_cuda_group_bytes(p, 8, 1000) > eight);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(which_kinds_fuse),
      cmocka_unit_test(which_groups_share_a_context),
      cmocka_unit_test(context_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
#else
int main(void) {
  printf("SKIPPED: this ringtrain is built without the CUDA backend\n");
  return 77;
}
#endif
