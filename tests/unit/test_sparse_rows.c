/* Sparse rows (src/models/sparse_rows.c and the families' group_batch_sparse):
 *  - the CSR products against a double reference, and each output column computed as it is alone
 *    (a member's bits do not depend on its group);
 *  - logistic, linear (solver sgd) and MLP groups on sparse rows, through the CPU backend's
 *    driver: every member equals itself trained alone bit for bit, and the same members trained on
 *    the same rows made dense agree to rounding (the tolerance is stated below);
 *  - linear's solver exact accumulates its statistics over the non-zeros: the dense solution;
 *  - plain SGD updates lazily: a column no row uses keeps its weights exactly without L2 and
 *    decays by the product of (1 - lr l2) with it;
 *  - a visit stopped between batches stops only at a settled batch, and the resumed visit gives
 *    the bits of an uninterrupted one. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "backend.h"
#include "model.h"
#include "rng.h"
#include "sparse_rows.h"
#include "test_util.h"

/* Sparse-vs-dense agreement: |w_sparse - w_dense| <= TOL * (1 + max |w_dense|) for every
 * parameter after two visits of 25 batches (sums in another order: float rounding). Measured
 * here: at most 1.5e-7 (an Adam MLP); ignoring the lazy scale in the logits gives 5e-5. */
#define TOL 2e-6

/* A data set both ways: rows x features with about `density` non-zeros (column `unused` never
 * has one), dense (x) and CSR. */
typedef struct sp_data {
  size_t rows, features;
  float *x, *y;
  uint64_t *indptr;
  uint32_t *indices;
  float *values;
} sp_data;

static sp_data sp_make(size_t rows, size_t features, double density, size_t classes, size_t unused,
                       uint64_t key) {
  sp_data d = {rows, features, NULL, NULL, NULL, NULL, NULL};
  d.x = aligned_alloc(64, (rows * features * sizeof(float) + 63) / 64 * 64);
  d.y = malloc(rows * sizeof *d.y);
  d.indptr = malloc((rows + 1) * sizeof *d.indptr);
  d.indices = malloc(rows * features * sizeof *d.indices);
  d.values = malloc(rows * features * sizeof *d.values);
  assert_true(d.x && d.y && d.indptr && d.indices && d.values);
  uint64_t nnz = 0;
  d.indptr[0] = 0;
  for (size_t r = 0; r < rows; ++r) {
    for (size_t j = 0; j < features; ++j) {
      const size_t i = r * features + j;
      const int on = j != unused && rt_rng_uniform_f(key, i) < density && r % 17 != 5;
      d.x[i] = on ? 4.0f * rt_rng_uniform_f(key + 1, i) - 2.0f : 0.0f;
      if (on) d.indices[nnz] = (uint32_t)j, d.values[nnz++] = d.x[i];
    }
    d.indptr[r + 1] = nnz;
    d.y[r] = classes ? (float)rt_rng_below(key + 2, r, classes)
                     : 2.0f * rt_rng_uniform_f(key + 3, r) - 1.0f;
  }
  return d;
}

static void sp_free(sp_data *d) {
  free(d->x), free(d->y), free(d->indptr), free(d->indices), free(d->values);
}

static rt_shard sp_shard(const sp_data *d, int sparse) {
  rt_shard s = {.rows = d->rows, .features = d->features, .y = d->y};
  if (sparse) s.indptr = d->indptr, s.indices = d->indices, s.values = d->values;
  else s.x = d->x;
  return s;
}

static rt_csr_rows sp_rows(const sp_data *d) {
  return (rt_csr_rows){d->rows, d->indptr, d->indices, d->values, 0};
}

static void products_match(void **unused) {
  (void)unused;
  const size_t rows = 37, f = 50, n = 12;
  sp_data d = sp_make(rows, f, 0.1, 3, 7, 11);
  const rt_csr_rows x = sp_rows(&d);
  float *w = malloc(f * n * sizeof *w), *z = malloc(rows * n * sizeof *z);
  float *g = calloc(f * n, sizeof *g), *w1 = malloc(f * sizeof *w1), *z1 = malloc(rows * 4);
  float *g1 = calloc(f, sizeof *g1), *dl = malloc(rows * n * sizeof *dl), *d1 = malloc(rows * 4);
  assert_true(w && z && g && w1 && z1 && g1 && dl && d1);
  for (size_t i = 0; i < f * n; ++i) w[i] = rt_rng_uniform_f(5, i) - 0.5f;
  for (size_t i = 0; i < rows * n; ++i) dl[i] = rt_rng_uniform_f(6, i) - 0.5f;
  rt_csr_product(&x, w, n, n, z, n);
  rt_csr_gradient(&x, dl, n, n, g, n);
  for (size_t t = 0; t < n; ++t) {
    for (size_t r = 0; r < rows; ++r) { /* against a double reference of the dense rows */
      double ref = 0.0;
      for (size_t j = 0; j < f; ++j) ref += (double)d.x[r * f + j] * (double)w[j * n + t];
      assert_true(fabs((double)z[r * n + t] - ref) <= 1e-5 * (1.0 + fabs(ref)));
    }
    for (size_t j = 0; j < f; ++j) {
      double ref = 0.0;
      for (size_t r = 0; r < rows; ++r) ref += (double)d.x[r * f + j] * (double)dl[r * n + t];
      assert_true(fabs((double)g[j * n + t] - ref) <= 1e-5 * (1.0 + fabs(ref)));
    }
    /* column t alone: the same bits */
    for (size_t j = 0; j < f; ++j) w1[j] = w[j * n + t], g1[j] = 0.0f;
    for (size_t r = 0; r < rows; ++r) d1[r] = dl[r * n + t];
    rt_csr_product(&x, w1, 1, 1, z1, 1);
    rt_csr_gradient(&x, d1, 1, 1, g1, 1);
    for (size_t r = 0; r < rows; ++r) assert_memory_equal(&z1[r], &z[r * n + t], sizeof *z1);
    for (size_t j = 0; j < f; ++j) assert_memory_equal(&g1[j], &g[j * n + t], sizeof *g1);
  }
  assert_true(g[7 * n] == 0.0f); /* the unused column's gradient row stays as it was */
  free(w), free(z), free(g), free(w1), free(z1), free(g1), free(dl), free(d1);
  sp_free(&d);
}

/* Member j: plain sgd with and without L2, momentum, adam (logistic and linear); the MLP's
 * varied widths and optimizers. */
static rt_model_spec member(const char *kind, size_t j, size_t f, size_t classes) {
  rt_model_spec s = tu_spec_sgd(kind, f, classes, 8);
  s.id = j;
  s.seed = 99;
  s.passes = 2;
  s.total_batches = 25;
  s.problem.train_rows = 200;
  s.hp.data_order = 4242;
  if (strcmp(kind, "mlp") == 0) {
    s.hp.hidden_count = 1;
    s.hp.hidden[0] = 3 + (long)j;
    s.hp.output = RT_OUTPUT_CLASSIFICATION;
  }
  if (strcmp(kind, "linear") == 0) {
    s.hp.solver = RT_SOLVER_SGD;
    s.hp.fit_intercept = j % 2 == 0;
    s.hp.alpha = j == 1 ? 0.0 : 2.0;
    s.hp.learning_rate = 0.02;
  }
  switch (j % 4) {
    case 0: s.hp.l2 = 0.01; break;                                 /* lazy, decaying */
    case 1: s.hp.l2 = 0.0; break;                                  /* lazy, no decay */
    case 2: s.hp.momentum = 0.9, s.hp.learning_rate *= 0.3; break; /* dense update */
    default: s.hp.optimizer = RT_OPT_ADAM, s.hp.learning_rate = 0.01; break;
  }
  if (j % 4 != 0) s.hp.l2 = j % 2 ? 0.0 : 1e-3;
  s.hp.schedule = j % 3 == 2 ? RT_SCHED_INVERSE_TIME : RT_SCHED_CONSTANT;
  s.hp.decay = 0.1;
  return s;
}

/* Stops at the `at`-th question (0-based) and after. */
typedef struct stopper {
  size_t asked, at;
} stopper;

static int stop_at(void *user) {
  stopper *s = user;
  return s->asked++ >= s->at;
}

/* `visits` visits (passes) of members specs[0..m) over one shard; stop_question > 0: the first
 * visit stops at that question and is resumed (the cursor must be a settled batch). */
static void train_visits(const rt_family *fam, const rt_model_spec *const *specs, size_t m,
                         void **states, const rt_shard *shard, size_t stop_question, int visits) {
  rt_cpu_scratch scratch;
  memset(&scratch, 0, sizeof scratch);
  rt_status st;
  for (int visit = 0; visit < visits; ++visit) {
    int complete = 0;
    stopper s = {0, stop_question};
    const int cut = visit == 0 && stop_question > 0;
    assert_int_equal(
        rt_cpu_integrate_group_visit(specs, fam, (void *const *)states, m, shard, 0, &scratch,
                                     cut ? stop_at : NULL, &s, &complete, &st),
        RT_OK);
    if (cut) {
      assert_int_equal(complete, 0);
      const uint64_t at = rt_state_head(states[0])->batch_cursor;
      const size_t period =
          fam->sparse_settle_period
              ? fam->sparse_settle_period(specs, m, (size_t)specs[0]->hp.batch_size)
              : 1;
      assert_true(at > 0);
      assert_int_equal(at % period, 0);
      assert_int_equal(at, stop_question * period);
      assert_int_equal(rt_cpu_integrate_group_visit(specs, fam, (void *const *)states, m, shard, 0,
                                                    &scratch, NULL, NULL, &complete, &st),
                       RT_OK);
    }
    assert_int_equal(complete, 1);
    for (size_t i = 0; i < m; ++i) { /* the next visit is the next pass */
      rt_state_header *h = rt_state_head(states[i]);
      h->position = 0;
      h->pass += 1;
    }
  }
  rt_cpu_scratch_free(&scratch);
}

static void train(const rt_family *fam, const rt_model_spec *const *specs, size_t m, void **states,
                  const rt_shard *shard, size_t stop_question) {
  train_visits(fam, specs, m, states, shard, stop_question, 2);
}

static void **fresh(const rt_model_spec *specs, size_t m, size_t *bytes) {
  void **states = calloc(m, sizeof *states);
  assert_non_null(states);
  for (size_t i = 0; i < m; ++i) {
    rt_status st;
    assert_int_equal(rt_state_create(&specs[i], &states[i], &bytes[i], &st), RT_OK);
  }
  return states;
}

static void free_states(void **states, size_t m) {
  for (size_t i = 0; i < m; ++i) rt_state_free(states[i]);
  free(states);
}

/* The whole check for `kind` with m members on a 200 x 60 shard. */
static void check_family(const char *kind, size_t classes) {
  enum { M = 4, ROWS = 200, F = 60, UNUSED = 13 };
  const rt_family *fam = rt_family_find(kind);
  assert_non_null(fam);
  assert_non_null(fam->group_batch_sparse);
  sp_data d = sp_make(ROWS, F, 0.08, classes, UNUSED, 21);
  const rt_shard sparse = sp_shard(&d, 1), dense = sp_shard(&d, 0);
  rt_model_spec specs[M];
  const rt_model_spec *sp[M];
  size_t bytes[M];
  for (size_t i = 0; i < M; ++i) specs[i] = member(kind, i, F, classes), sp[i] = &specs[i];
  void **group = fresh(specs, M, bytes), **init = fresh(specs, M, bytes);
  void **on_dense = fresh(specs, M, bytes), **cut = fresh(specs, M, bytes);
  train(fam, sp, M, group, &sparse, 0);
  train(fam, sp, M, on_dense, &dense, 0);
  train(fam, sp, M, cut, &sparse, 2);
  for (size_t i = 0; i < M; ++i) {
    const rt_state_layout l = rt_state_layout_of(&specs[i]);
    void **alone = fresh(&specs[i], 1, &bytes[i]);
    train(fam, &sp[i], 1, alone, &sparse, 0);
    if (memcmp(group[i], alone[0], bytes[i]) != 0)
      fail_msg("%s member %zu: in its group on sparse rows it differs from alone", kind, i);
    if (memcmp(group[i], cut[i], bytes[i]) != 0)
      fail_msg("%s member %zu: stopped and resumed it differs from uninterrupted", kind, i);
    free_states(alone, 1);
    const float *ws = rt_state_params(group[i], &l), *wd = rt_state_params(on_dense[i], &l);
    const float *w0 = rt_state_params(init[i], &l);
    double top = 0.0, worst = 0.0, moved = 0.0;
    for (size_t k = 0; k < l.param_count; ++k) {
      top = fmax(top, fabs((double)wd[k]));
      worst = fmax(worst, fabs((double)ws[k] - (double)wd[k]));
      moved = fmax(moved, fabs((double)wd[k] - (double)w0[k]));
    }
    if (!(worst <= TOL * (1.0 + top)))
      fail_msg("%s member %zu: sparse vs dense differ by %g (max |w| %g)", kind, i, worst, top);
    assert_true(moved > 1e-3); /* it trained */
    const rt_state_header *hs = rt_state_head(group[i]), *hd = rt_state_head(on_dense[i]);
    assert_true(fabs(hs->pass_loss_sum - hd->pass_loss_sum) <=
                TOL * (1.0 + fabs(hd->pass_loss_sum)));
    /* The unused column's first-layer weights: plain sgd without L2 leaves them exactly; with L2
     * they decay (the dense run computes the same decay step by step). */
    const size_t n = strcmp(kind, "mlp") == 0 ? (size_t)specs[i].hp.hidden[0]
                     : classes                ? classes
                                              : 1; /* first-layer weights per input column */
    for (size_t t = 0; t < n; ++t) {
      const size_t k = UNUSED * n + t;
      if (rt_lazy_member(&specs[i]) && strcmp(kind, "mlp") != 0 &&
          (strcmp(kind, "linear") == 0 ? specs[i].hp.alpha == 0.0 : specs[i].hp.l2 == 0.0))
        assert_memory_equal(&ws[k], &w0[k], sizeof *ws);
      assert_true(fabs((double)ws[k] - (double)wd[k]) <= TOL * (1.0 + fabs((double)wd[k])));
    }
  }
  free_states(group, M), free_states(init, M), free_states(on_dense, M), free_states(cut, M);
  sp_free(&d);
}

/* Solver exact on sparse rows: statistics over the non-zeros (no shift of x), the solution the
 * dense rows' statistics give to rounding. */
static void exact_on_sparse(void **unused) {
  (void)unused;
  const rt_family *fam = rt_family_find("linear");
  assert_non_null(fam->integrate_batch_sparse);
  sp_data d = sp_make(300, 40, 0.15, 0, 9, 31);
  for (size_t r = 0; r < d.rows; ++r) d.y[r] += 3.0f; /* an offset for the intercept */
  const rt_shard sparse = sp_shard(&d, 1), dense = sp_shard(&d, 0);
  for (int fi = 0; fi <= 1; ++fi) {
    rt_model_spec spec = tu_spec("linear", 40, 0);
    spec.hp.solver = RT_SOLVER_EXACT;
    spec.hp.batch_size = 32;
    spec.hp.alpha = 0.5;
    spec.hp.fit_intercept = fi;
    spec.problem.train_rows = 300;
    const rt_model_spec *sp = &spec;
    size_t bytes;
    void **a = fresh(&spec, 1, &bytes), **b = fresh(&spec, 1, &bytes);
    train_visits(fam, &sp, 1, a, &sparse, 0, 1);
    train_visits(fam, &sp, 1, b, &dense, 0, 1);
    const rt_state_layout l = rt_state_layout_of(&spec);
    rt_status st;
    assert_int_equal(fam->finish(&spec, rt_state_params(a[0], &l), rt_state_aux(a[0], &l), &st),
                     RT_OK);
    assert_int_equal(fam->finish(&spec, rt_state_params(b[0], &l), rt_state_aux(b[0], &l), &st),
                     RT_OK);
    const float *wa = rt_state_params(a[0], &l), *wb = rt_state_params(b[0], &l);
    double top = 0.0;
    for (size_t k = 0; k < l.param_count; ++k) top = fmax(top, fabs((double)wb[k]));
    assert_true(top > 0.01); /* it fitted something */
    for (size_t k = 0; k < l.param_count; ++k)
      if (!(fabs((double)wa[k] - (double)wb[k]) <= 1e-5 * (1.0 + top)))
        fail_msg("exact, fit_intercept %d: parameter %zu is %.9g on sparse rows, %.9g dense", fi, k,
                 (double)wa[k], (double)wb[k]);
    assert_true(fabs(fam->finished_train_loss(&spec, wa, rt_state_aux(a[0], &l)) -
                     fam->finished_train_loss(&spec, wb, rt_state_aux(b[0], &l))) <= 1e-6);
    free_states(a, 1), free_states(b, 1);
  }
  sp_free(&d);
}

static void logistic_groups(void **unused) {
  (void)unused;
  check_family("logistic", 3);
}

static void linear_groups(void **unused) {
  (void)unused;
  check_family("linear", 0);
}

static void mlp_groups(void **unused) {
  (void)unused;
  check_family("mlp", 3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(products_match),  cmocka_unit_test(logistic_groups),
      cmocka_unit_test(linear_groups),   cmocka_unit_test(mlp_groups),
      cmocka_unit_test(exact_on_sparse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
