/* The CUDA data paths of issue 15 at the level of one visit, where a difference points at one
 * piece (cuda/input.cu, cuda/feed.cu) rather than at a whole run:
 *  1. Views and scalings: a model that sees columns [5:15) and [30:38) of 40, each scaled by its
 *     own (offset, scale), gathered on the device batch by batch, gives exactly the bytes of the
 *     same model on a device shard made on the host from those columns with the CPU's formula
 *     (rt_view_input): logistic and MLP, one visit, and the evaluation sums of that state; and
 *     the bytes a kept slot's input buffer must still grow by (the respec's memory check).
 *  2. Sparse rows: the same rows as CSR (80% zeros) and dense give exactly the same state and
 *     evaluation sums (each batch made dense on the device by the slot's feed): logistic, MLP,
 *     k-means.
 *  3. One batch read for a group: two MLPs visiting the CSR shard together
 *     (rt_cuda_integrate_members: one feed, two consumers) give each one's bytes alone on the
 *     dense shard.
 *  4. Sparse products (cuda/sparse_products.cu): a fused logistic group of 3 and a fused MLP
 *     group of 2 on the CSR shard take each batch as CSR and multiply it with cuSPARSE; their
 *     states agree with the same groups on the dense shard to rounding (gt_compare_states), are
 *     the same bytes on a second run, and each member's bytes are those it has in a group of one
 *     on the CSR shard (one product per member: no dependence on the group's size); again with
 *     one batch more than half dense (made dense by the feed between CSR batches).
 * Exits 77 (ctest: skipped) when no CUDA device is usable. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "backend.h"
#include "gpu_test.h"
#include "model.h"
#include "normalize.h"
#include "rng.h"
#include "rt_cuda.h"
#include "view.h"

#define ROWS 300
#define DATA_FEATURES 40
#define CLASSES 3
#define BATCH 32

static rt_cuda_shard *upload(const rt_shard *host) {
  rt_status st;
  rt_status_clear(&st);
  rt_cuda_shard *dev = NULL;
  if (rt_cuda_shard_upload(host, NULL, &dev, &st) != RT_OK)
    fail_msg("rt_cuda_shard_upload: %s", st.message);
  return dev;
}

/* A spec of `kind` for model id on rows of `features` columns (data_features in the data). */
static rt_model_spec spec_of(const char *kind, uint64_t id, size_t features, size_t data_features) {
  const uint64_t nb = (ROWS + BATCH - 1) / BATCH;
  rt_model_spec s = gt_spec(kind, id, features, CLASSES, BATCH, 1, nb, 5, 1);
  gt_family_keys(&s, 4, 64, 16, RT_ACTIVATION_TANH);
  s.hp.optimizer = RT_OPT_ADAM;
  s.hp.learning_rate = 0.01;
  s.problem.data_features = data_features;
  return s;
}

/* One visit of `shard` by `spec` from `state0` on a fresh slot; the state after it (free) and
 * its evaluation sums over the same shard into sums. */
static void *visit(const rt_model_spec *spec, const void *state0, size_t bytes,
                   const rt_cuda_shard *shard, double *sums) {
  rt_status st;
  rt_status_clear(&st);
  rt_cuda_slot *slot = gt_slot_new(spec, bytes, BATCH, DATA_FEATURES, CLASSES);
  gt_upload(slot, state0, bytes);
  if (rt_cuda_integrate_shard(slot, spec, shard, 0, &st) != RT_OK ||
      rt_cuda_slot_sync(slot, &st) != RT_OK)
    fail_msg("rt_cuda_integrate_shard (%s): %s", spec->hp.kind, st.message);
  void *after = gt_download(slot, bytes);
  memset(sums, 0, RT_EVAL_SUMS * sizeof *sums);
  if (rt_cuda_evaluate_shard(slot, spec, shard, sums, &st) != RT_OK)
    fail_msg("rt_cuda_evaluate_shard (%s): %s", spec->hp.kind, st.message);
  rt_cuda_slot_free(slot);
  return after;
}

static void same_state(const char *what, const void *a, const void *b, size_t bytes,
                       const double *sa, const double *sb) {
  if (memcmp(a, b, bytes) != 0) {
    size_t k = 0;
    while (((const unsigned char *)a)[k] == ((const unsigned char *)b)[k]) ++k;
    fail_msg("%s: the states differ from byte %zu of %zu", what, k, bytes);
  }
  for (int k = 0; k < RT_EVAL_SUMS; ++k)
    if (!gt_same_double(sa[k], sb[k]))
      fail_msg("%s: evaluation sum %d differs: %.17g vs %.17g", what, k, sa[k], sb[k]);
}

static rt_shard data; /* the dense rows */

static int setup(void **unused) {
  (void)unused;
  float teacher[DATA_FEATURES * CLASSES];
  gt_teacher(teacher, DATA_FEATURES, CLASSES, 41);
  gt_teacher_shard(&data, ROWS, DATA_FEATURES, CLASSES, 42, teacher, 0.1f);
  for (size_t i = 0; i < ROWS * DATA_FEATURES; ++i) /* 80% zeros, for the sparse tests */
    if (rt_rng_uniform_f(43, i) < 0.8f) data.x[i] = 0.0f;
  return 0;
}

static int teardown(void **unused) {
  (void)unused;
  free(data.x);
  free(data.y);
  return 0;
}

/* 1. A view and a scaling of the model's own, gathered on the device, against the same columns
 * made on the host. */
static void view_case(const char *kind) {
  static const long view[] = {5, 15, 30, 38};
  const size_t width = 18;
  float offset[DATA_FEATURES], scale[DATA_FEATURES];
  for (size_t c = 0; c < DATA_FEATURES; ++c) {
    offset[c] = 0.5f * rt_rng_uniform_f(44, c) - 0.25f;
    scale[c] = 0.5f + rt_rng_uniform_f(45, c);
  }
  rt_scaling sc = {RT_NORMALIZE_STANDARD, DATA_FEATURES, offset, scale};
  rt_model_spec seen = spec_of(kind, 0, width, DATA_FEATURES);
  memcpy(seen.hp.view, view, sizeof view);
  seen.hp.view_count = 4;
  seen.scaling = &sc;
  rt_model_spec cut = spec_of(kind, 0, width, width); /* the same model on the cut rows */
  rt_shard made;
  gt_shard_alloc(&made, ROWS, width);
  rt_view_input(&seen.hp, offset, scale, data.x, ROWS, DATA_FEATURES, made.x);
  memcpy(made.y, data.y, ROWS * sizeof *made.y);
  rt_cuda_shard *dev_data = upload(&data), *dev_made = upload(&made);
  size_t bytes = 0;
  void *state0 = gt_fresh_state(&cut, &made, &bytes);
  double s1[RT_EVAL_SUMS], s2[RT_EVAL_SUMS];
  void *a = visit(&seen, state0, bytes, dev_data, s1),
       *b = visit(&cut, state0, bytes, dev_made, s2);
  char what[64];
  snprintf(what, sizeof what, "%s through a view and its scaling", kind);
  same_state(what, a, b, bytes, s1, s2);
  free(a), free(b), free(state0);
  rt_cuda_shard_free(dev_data), rt_cuda_shard_free(dev_made);
  free(made.x), free(made.y);
}

static void test_views(void **unused) {
  (void)unused;
  view_case("logistic");
  view_case("mlp");
}

/* 1b. What a kept slot's input buffer still needs (rt_cuda_input_missing_bytes, the respec's memory
 * check): nothing for a model that reads the rows as they are; the whole buffer before the first
 * view; nothing once a visit through that view made it; the growth for a wider view. */
static void test_input_growth(void **unused) {
  (void)unused;
  static const long narrow[] = {5, 15, 30, 38}, wide[] = {0, 30};
  rt_model_spec plain = spec_of("logistic", 0, DATA_FEATURES, DATA_FEATURES);
  rt_model_spec seen = spec_of("logistic", 0, 18, DATA_FEATURES);
  memcpy(seen.hp.view, narrow, sizeof narrow);
  seen.hp.view_count = 4;
  rt_model_spec wider = spec_of("logistic", 0, 30, DATA_FEATURES);
  memcpy(wider.hp.view, wide, sizeof wide);
  wider.hp.view_count = 2;
  rt_cuda_shard *dev = upload(&data);
  size_t bytes = 0;
  void *state0 = gt_fresh_state(&seen, NULL, &bytes);
  rt_cuda_slot *slot = gt_slot_new(&seen, bytes, BATCH, DATA_FEATURES, CLASSES);
  assert_int_equal(rt_cuda_input_missing_bytes(slot, &plain, NULL), 0);
  const size_t first = rt_cuda_input_bytes(&seen, NULL, BATCH);
  assert_true(first > 0);
  assert_int_equal(rt_cuda_input_missing_bytes(slot, &seen, NULL), first);
  gt_upload(slot, state0, bytes);
  rt_status st;
  rt_status_clear(&st);
  if (rt_cuda_integrate_shard(slot, &seen, dev, 0, &st) != RT_OK ||
      rt_cuda_slot_sync(slot, &st) != RT_OK)
    fail_msg("rt_cuda_integrate_shard through a view: %s", st.message);
  assert_int_equal(rt_cuda_input_missing_bytes(slot, &seen, NULL), 0);
  assert_int_equal(rt_cuda_input_missing_bytes(slot, &plain, NULL), 0);
  const size_t grown = rt_cuda_input_bytes(&wider, NULL, BATCH);
  assert_true(grown > first);
  assert_int_equal(rt_cuda_input_missing_bytes(slot, &wider, NULL), grown - first);
  rt_cuda_slot_free(slot);
  rt_cuda_shard_free(dev);
  free(state0);
}

/* The dense rows as CSR (ascending columns, zeros left out). */
static void csr_of(const rt_shard *dense, rt_shard *out) {
  memset(out, 0, sizeof *out);
  out->rows = dense->rows;
  out->features = dense->features;
  out->y = malloc(dense->rows * sizeof *out->y);
  out->indptr = malloc((dense->rows + 1) * sizeof *out->indptr);
  out->indices = malloc(dense->rows * dense->features * sizeof *out->indices);
  out->values = malloc(dense->rows * dense->features * sizeof *out->values);
  assert_true(out->y && out->indptr && out->indices && out->values);
  memcpy(out->y, dense->y, dense->rows * sizeof *out->y);
  uint64_t nnz = 0;
  for (size_t r = 0; r < dense->rows; ++r) {
    out->indptr[r] = nnz;
    for (size_t c = 0; c < dense->features; ++c) {
      const float v = dense->x[r * dense->features + c];
      if (v == 0.0f) continue;
      out->indices[nnz] = (uint32_t)c;
      out->values[nnz++] = v;
    }
  }
  out->indptr[dense->rows] = nnz;
}

static void csr_free(rt_shard *s) {
  free(s->y), free(s->indptr), free(s->indices), free(s->values);
}

/* 2. Sparse against dense, one model. */
static void test_sparse(void **unused) {
  (void)unused;
  rt_shard csr;
  csr_of(&data, &csr);
  rt_cuda_shard *dev_dense = upload(&data), *dev_sparse = upload(&csr);
  static const char *const kinds[] = {"logistic", "mlp", "kmeans"};
  for (size_t k = 0; k < 3; ++k) {
    const rt_model_spec spec = spec_of(kinds[k], 0, DATA_FEATURES, DATA_FEATURES);
    size_t bytes = 0;
    void *state0 = gt_fresh_state(&spec, &data, &bytes);
    double s1[RT_EVAL_SUMS], s2[RT_EVAL_SUMS];
    void *a = visit(&spec, state0, bytes, dev_sparse, s1);
    void *b = visit(&spec, state0, bytes, dev_dense, s2);
    char what[64];
    snprintf(what, sizeof what, "%s on CSR rows against dense", kinds[k]);
    same_state(what, a, b, bytes, s1, s2);
    free(a), free(b), free(state0);
  }
  rt_cuda_shard_free(dev_dense), rt_cuda_shard_free(dev_sparse);
  csr_free(&csr);
}

/* 3. A group's members read each sparse batch once: an unfused pair, and a fused trio. */
static void test_group_feed(void **unused) {
  (void)unused;
  rt_status st;
  rt_status_clear(&st);
  rt_shard csr;
  csr_of(&data, &csr);
  rt_cuda_shard *dev_dense = upload(&data), *dev_sparse = upload(&csr);
  /* Two MLPs of one group (the same batch order: data_order of model 0), different rates. */
  rt_model_spec mlp[2] = {spec_of("mlp", 0, DATA_FEATURES, DATA_FEATURES),
                          spec_of("mlp", 1, DATA_FEATURES, DATA_FEATURES)};
  mlp[1].hp.data_order = mlp[0].hp.data_order;
  mlp[1].hp.learning_rate = 0.003;
  size_t bytes = 0;
  void *init[2] = {gt_fresh_state(&mlp[0], &data, &bytes), gt_fresh_state(&mlp[1], &data, &bytes)};
  rt_cuda_slot *slots[2];
  const rt_model_spec *specs[2] = {&mlp[0], &mlp[1]};
  for (int i = 0; i < 2; ++i) {
    slots[i] = gt_slot_new(&mlp[i], bytes, BATCH, DATA_FEATURES, CLASSES);
    gt_upload(slots[i], init[i], bytes);
  }
  if (rt_cuda_integrate_members(slots, specs, 2, dev_sparse, 0, &st) != RT_OK)
    fail_msg("rt_cuda_integrate_members: %s", st.message);
  for (int i = 0; i < 2; ++i) {
    void *together = gt_download(slots[i], bytes);
    double sums[RT_EVAL_SUMS];
    void *alone = visit(&mlp[i], init[i], bytes, dev_dense, sums);
    if (memcmp(together, alone, bytes) != 0)
      fail_msg("MLP %d: one feed for two members differs from it alone on dense rows", i);
    free(together), free(alone), free(init[i]);
    rt_cuda_slot_free(slots[i]);
  }
  rt_cuda_shard_free(dev_dense), rt_cuda_shard_free(dev_sparse);
  csr_free(&csr);
}

/* Members of `kind` (m of them, learning rates 0.01 (i + 1), one batch order) for test 4. */
static void sparse_members(const char *kind, size_t m, rt_model_spec *specs,
                           const rt_model_spec **sp) {
  for (size_t i = 0; i < m; ++i) {
    specs[i] = spec_of(kind, (uint64_t)i, DATA_FEATURES, DATA_FEATURES);
    specs[i].hp.data_order = spec_of(kind, 0, DATA_FEATURES, DATA_FEATURES).hp.data_order;
    specs[i].hp.learning_rate = 0.01 * (double)(i + 1);
    sp[i] = &specs[i];
  }
}

/* One visit of a fused group of m members (states copied from init) on shard; the states after
 * it (each to free). */
static void group_visit(const rt_model_spec *const *sp, size_t m, void *const *init, size_t bytes,
                        const rt_cuda_shard *shard, void **out) {
  rt_status st;
  rt_status_clear(&st);
  for (size_t i = 0; i < m; ++i) {
    out[i] = aligned_alloc(RT_STATE_ALIGN, bytes);
    assert_non_null(out[i]);
    memcpy(out[i], init[i], bytes);
  }
  const size_t nb = (ROWS + BATCH - 1) / BATCH;
  rt_cuda_group *g = NULL;
  if (rt_cuda_group_create(sp, m, nb, &g, &st) != RT_OK)
    fail_msg("rt_cuda_group_create: %s", st.message);
  if (rt_cuda_group_integrate(g, sp, out, m, shard, 0, &st) != RT_OK)
    fail_msg("rt_cuda_group_integrate (%s, %zu members): %s", sp[0]->hp.kind, m, st.message);
  rt_cuda_group_free(g);
}

static void sparse_products_case(const char *kind, size_t m, const rt_shard *host,
                                 const rt_cuda_shard *dev_dense, const rt_cuda_shard *dev_sparse) {
  rt_model_spec specs[3];
  const rt_model_spec *sp[3];
  void *init[3], *csr_a[3], *csr_b[3], *dense[3];
  size_t bytes = 0;
  sparse_members(kind, m, specs, sp);
  for (size_t i = 0; i < m; ++i) init[i] = gt_fresh_state(&specs[i], host, &bytes);
  group_visit(sp, m, init, bytes, dev_sparse, csr_a);
  group_visit(sp, m, init, bytes, dev_sparse, csr_b);
  group_visit(sp, m, init, bytes, dev_dense, dense);
  for (size_t i = 0; i < m; ++i) {
    char what[96];
    snprintf(what, sizeof what, "fused %s member %zu, CSR rows (cuSPARSE) vs dense rows", kind, i);
    if (gt_compare_states(&specs[i], dense[i], csr_a[i], what) != 0)
      fail_msg("%s: beyond rounding", what);
    if (memcmp(csr_a[i], csr_b[i], bytes) != 0)
      fail_msg(
          "fused %s member %zu: two runs of the sparse products differ (cuSPARSE's SpMM "
          "CSR_ALG3 is not deterministic here)",
          kind, i);
    void *alone = NULL;
    group_visit(&sp[i], 1, &init[i], bytes, dev_sparse, &alone);
    if (memcmp(alone, csr_a[i], bytes) != 0)
      fail_msg("%s member %zu: in a group of %zu on CSR rows it differs from a group of one", kind,
               i, m);
    free(alone);
    free(init[i]), free(csr_a[i]), free(csr_b[i]), free(dense[i]);
  }
}

static void sparse_products_on(const rt_shard *host) {
  rt_shard csr;
  csr_of(host, &csr);
  rt_cuda_shard *dev_dense = upload(host), *dev_sparse = upload(&csr);
  sparse_products_case("logistic", 3, host, dev_dense, dev_sparse);
  sparse_products_case("mlp", 2, host, dev_dense, dev_sparse);
  rt_cuda_shard_free(dev_dense), rt_cuda_shard_free(dev_sparse);
  csr_free(&csr);
}

/* 4. Sparse products in fused groups: on the 80%-zero rows (every batch as CSR), and on the same
 * rows with the second batch's zeros filled in (that batch more than half dense, so the feed makes
 * it dense in the middle of a visit of CSR batches: both forms in one visit). */
static void test_sparse_products(void **unused) {
  (void)unused;
  sparse_products_on(&data);
  rt_shard mixed;
  gt_shard_alloc(&mixed, ROWS, DATA_FEATURES);
  memcpy(mixed.x, data.x, ROWS * DATA_FEATURES * sizeof *mixed.x);
  memcpy(mixed.y, data.y, ROWS * sizeof *mixed.y);
  for (size_t i = BATCH * DATA_FEATURES; i < 2 * BATCH * DATA_FEATURES; ++i)
    if (mixed.x[i] == 0.0f) mixed.x[i] = 0.25f * rt_rng_uniform_f(46, i) - 0.125f;
  sparse_products_on(&mixed);
  free(mixed.x), free(mixed.y);
}

int main(void) {
  const int start = gpu_test_start();
  if (start != 0) return start;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_views),      cmocka_unit_test(test_input_growth),
      cmocka_unit_test(test_sparse),     cmocka_unit_test(test_sparse_products),
      cmocka_unit_test(test_group_feed),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
