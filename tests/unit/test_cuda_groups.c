/* The host-side rules of fused CUDA groups (cuda/group.cu), which need no device and so run on
 * every machine with a CUDA build (the CI's): which kinds fuse (logistic, linear with solver sgd,
 * k-means, MLP), which groups share one context (one kind, one parameter layout: linear members
 * that differ in fit_intercept do not, nor k-means members that differ in k or in having Lloyd
 * passes, nor MLPs of different networks), and the device bytes a context takes (the backend checks them against free memory
 * before anything is allocated). A build without the CUDA backend has nothing to test
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
  assert_true(rt_cuda_group_fusable(&s));
  s = member("kmeans", RT_OPT_SGD);
  assert_true(rt_cuda_group_fusable(&s));
}

/* An MLP member with `layers` hidden layers of widths h1, h2. */
static rt_model_spec mlp_member(int layers, long h1, long h2) {
  rt_model_spec s = member("mlp", RT_OPT_ADAM);
  s.hp.hidden_count = layers;
  s.hp.hidden[0] = h1;
  s.hp.hidden[1] = h2;
  s.hp.activation = RT_ACTIVATION_RELU;
  s.hp.output = RT_OUTPUT_CLASSIFICATION;
  return s;
}

/* A k-means member with k centres; lloyd: its last pass is a Lloyd step. */
static rt_model_spec kmeans_member(long k, int lloyd) {
  rt_model_spec s = member("kmeans", RT_OPT_SGD);
  s.hp.k = k;
  s.hp.init_sample = 100;
  s.hp.lloyd_passes = lloyd ? 1 : 0;
  return s;
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
  /* MLP: one network (layers, widths, output), whatever the activations, L2 and optimizers. */
  a = mlp_member(2, 64, 32);
  b = mlp_member(2, 64, 32);
  b.hp.activation = RT_ACTIVATION_GELU;
  b.hp.l2 = 1e-3;
  b.hp.optimizer = RT_OPT_SGD;
  assert_true(rt_cuda_group_uniform(pair, 2));
  b = mlp_member(2, 64, 16); /* another network */
  assert_false(rt_cuda_group_uniform(pair, 2));
  b = mlp_member(1, 64, 0);
  assert_false(rt_cuda_group_uniform(pair, 2));
  b = mlp_member(2, 64, 32);
  b.hp.output = RT_OUTPUT_REGRESSION;
  assert_false(rt_cuda_group_uniform(pair, 2));
  /* k-means: one k and one aux layout (Lloyd accumulators or none), whatever else differs. */
  a = kmeans_member(10, 0);
  b = kmeans_member(10, 0);
  b.hp.init_trials = 5;
  b.hp.data_order = a.hp.data_order + 1; /* the engine's groups decide that, not the layout */
  assert_true(rt_cuda_group_uniform(pair, 2));
  b = kmeans_member(12, 0);
  assert_false(rt_cuda_group_uniform(pair, 2));
  b = kmeans_member(10, 1);
  assert_false(rt_cuda_group_uniform(pair, 2));
  a = kmeans_member(10, 1);
  b.hp.algorithm = RT_KMEANS_LLOYD; /* every pass Lloyd: the same accumulators */
  assert_true(rt_cuda_group_uniform(pair, 2));
  b = member("logistic", RT_OPT_SGD);
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

  /* k-means: each member's state and its batch's products (128 rows x k); no optimizer
   * arguments, so the visit's length does not count. */
  for (int i = 0; i < 8; ++i) s[i] = kmeans_member(10, 0);
  const size_t km_one = rt_cuda_group_bytes(p, 1, 100), km_eight = rt_cuda_group_bytes(p, 8, 100);
  const rt_state_layout km = rt_state_layout_of(&s[0]);
  assert_true(km_eight >= km_one + 7 * km.total_bytes);
  assert_true(km_eight >= 8 * (km.total_bytes + 128 * 10 * sizeof(float)));
  assert_int_equal(rt_cuda_group_bytes(p, 8, 1000), km_eight);
  /* Lloyd passes add their accumulators (state) and scratch (row lists). */
  for (int i = 0; i < 8; ++i) s[i] = kmeans_member(10, 1);
  assert_true(rt_cuda_group_bytes(p, 8, 100) > km_eight);

  /* MLP 784-64-32-10: each member's state, its gradient and its batch's activations and act'(z)
   * (128 rows x (64 + 32) twice) and outputs. */
  for (int i = 0; i < 8; ++i) s[i] = mlp_member(2, 64, 32);
  const rt_state_layout mlp = rt_state_layout_of(&s[0]);
  const size_t mlp_eight = rt_cuda_group_bytes(p, 8, 100);
  assert_true(mlp_eight >= 8 * (mlp.total_bytes +
                                (mlp.param_count + 128 * (2 * (64 + 32) + 10)) * sizeof(float)));
  assert_true(rt_cuda_group_bytes(p, 8, 1000) > mlp_eight); /* optimizer arguments */
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
