/* The host-side rules of fused CUDA groups (cuda/group.cu), which need no device and so run on
 * every machine with a CUDA build (the CI's): which kinds fuse (logistic, linear with solver sgd,
 * k-means, MLP), which groups share one context (one kind, one parameter layout: linear members
 * that differ in fit_intercept do not, nor k-means members that differ in k or in having Lloyd
 * passes, nor MLPs of different networks), how the backend splits a group into parts of one
 * layout each and of at most RT_CUDA_GROUP_MAX_MEMBERS members (src/engine/cuda_parts.h), and
 * the device bytes a context takes (the backend checks them against free memory before anything
 * is allocated). A build without the CUDA backend has nothing to test and says so (exit 77,
 * skipped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "test_util.h"

#if RINGTRAIN_WITH_CUDA
#include "cuda_parts.h"
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

/* Parts: each group split by layout, in order of first members; kinds without fused kernels
 * (linear exact) one part per group. Three hand-made groups over 13 models. */
static void parts_of_groups(void **state) {
  (void)state;
  rt_model_spec s[13];
  /* group 0: k-means k 4, 8, 4, 8 with Lloyd passes, 4 */
  s[0] = kmeans_member(4, 0), s[1] = kmeans_member(8, 0), s[2] = kmeans_member(4, 0);
  s[3] = kmeans_member(8, 1), s[4] = kmeans_member(4, 0);
  /* group 1: linear sgd, exact, sgd without an intercept, exact */
  s[5] = member("linear", RT_OPT_SGD), s[6] = member("linear", RT_OPT_SGD);
  s[7] = member("linear", RT_OPT_ADAM), s[8] = member("linear", RT_OPT_SGD);
  s[6].hp.solver = RT_SOLVER_EXACT, s[8].hp.solver = RT_SOLVER_EXACT;
  s[7].hp.fit_intercept = 0;
  /* group 2: MLPs 784-16-10 relu, 784-32-10, 784-16-10 gelu with L2; group 3: logistic alone */
  s[9] = mlp_member(1, 16, 0), s[10] = mlp_member(1, 32, 0), s[11] = mlp_member(1, 16, 0);
  s[11].hp.activation = RT_ACTIVATION_GELU, s[11].hp.l2 = 0.01;
  s[12] = member("logistic", RT_OPT_ADAM);
  for (size_t j = 0; j < 13; ++j) s[j].id = j;
  size_t group_of[13], first[5] = {0, 5, 9, 12, 13}, members[13];
  for (size_t j = 0; j < 13; ++j) {
    members[j] = j;
    group_of[j] = j < 5 ? 0 : j < 9 ? 1 : j < 12 ? 2 : 3;
  }
  const rt_groups groups = {4, 13, group_of, first, members};
  rt_groups parts;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_cuda_parts_form(s, &groups, &parts, &st), RT_OK);
  /* {0,2,4} {1} {3} | {5} {6,8} {7} | {9,11} {10} | {12} */
  const size_t want_of[13] = {0, 1, 0, 2, 0, 3, 4, 5, 4, 6, 7, 6, 8};
  const size_t want_first[10] = {0, 3, 4, 5, 6, 8, 9, 11, 12, 13};
  const size_t want_members[13] = {0, 2, 4, 1, 3, 5, 6, 8, 7, 9, 11, 10, 12};
  assert_int_equal(parts.count, 9);
  assert_int_equal(parts.models, 13);
  for (size_t j = 0; j < 13; ++j) {
    assert_int_equal(parts.group_of[j], want_of[j]);
    assert_int_equal(parts.members[j], want_members[j]);
  }
  for (size_t p = 0; p <= 9; ++p) assert_int_equal(parts.first[p], want_first[p]);
  /* every part of a fusable kind can share one context */
  for (size_t p = 0; p < parts.count; ++p) {
    const rt_model_spec *ps[13];
    for (size_t k = 0; k < rt_group_size(&parts, p); ++k)
      ps[k] = &s[rt_group_members(&parts, p)[k]];
    if (rt_cuda_group_fusable(ps[0]))
      assert_true(rt_cuda_group_uniform(ps, rt_group_size(&parts, p)));
  }
  rt_groups_free(&parts);
}

/* A group larger than a context holds is split into full parts in member order. */
static void parts_of_a_huge_group(void **state) {
  (void)state;
  const size_t n = RT_CUDA_GROUP_MAX_MEMBERS + 2;
  rt_model_spec *s = test_malloc(n * sizeof *s);
  size_t *group_of = test_malloc(n * sizeof *group_of), *members = test_malloc(n * sizeof *members);
  size_t first[2] = {0, n};
  const rt_model_spec one = member("logistic", RT_OPT_ADAM);
  for (size_t j = 0; j < n; ++j) {
    s[j] = one;
    s[j].id = j;
    group_of[j] = 0;
    members[j] = j;
  }
  const rt_groups groups = {1, n, group_of, first, members};
  rt_groups parts;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_cuda_parts_form(s, &groups, &parts, &st), RT_OK);
  assert_int_equal(parts.count, 2);
  assert_int_equal(rt_group_size(&parts, 0), RT_CUDA_GROUP_MAX_MEMBERS);
  assert_int_equal(rt_group_size(&parts, 1), 2);
  for (size_t j = 0; j < n; ++j) {
    assert_int_equal(parts.members[j], j);
    assert_int_equal(parts.group_of[j], j < RT_CUDA_GROUP_MAX_MEMBERS ? 0 : 1);
  }
  rt_groups_free(&parts);
  test_free(s), test_free(group_of), test_free(members);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parts_of_groups),  cmocka_unit_test(parts_of_a_huge_group),
      cmocka_unit_test(which_kinds_fuse), cmocka_unit_test(which_groups_share_a_context),
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
