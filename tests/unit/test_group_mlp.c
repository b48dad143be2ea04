/* MLP groups (issue 14, fused arithmetic): a member of a group of m ends with exactly the bytes
 * it gets in a group of one, for m = 1, 2, 3, 7 and 16, members differing in hidden widths,
 * depth, activation, output (classification / regression), init, optimizer (sgd, momentum, adam),
 * learning rate, schedule and L2; with a member that diverges (and the others unaffected), partial
 * last batches, shapes small and large enough for the BLAS's blocked kernels; through the family's
 * group operations directly and through the CPU backend's driver (rt_cpu_integrate_group_visit),
 * including a stop mid-visit and its continuation, whole and in cache chunks. Also: the group of one equals batch_gradient +
 * rt_optimizer_step (the generic solo path) bit for bit. If the BLAS ever computes an output
 * column of sgemm differently depending on the other columns, these tests fail: never loosen them.
 *
 * With RT_BENCH_GROUP_MLP=1 in the environment, test_bench also times (no assertion) the fused
 * batch of 16 MLPs 784-128-10 (Adam, batch 128, varied learning rate and L2) against 16 groups
 * of one, and the two first-layer products alone (fused vs per member). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <cblas.h>

#include "backend.h"
#include "model.h"
#include "rng.h"
#include "test_util.h"

#define MAX_M 16

static const rt_family *mlp(void) {
  const rt_family *fam = rt_family_find("mlp");
  assert_non_null(fam);
  assert_non_null(fam->group_batch);
  return fam;
}

/* Member j of a varied pool (j = 0..): its own widths, depth, activation, output, optimizer,
 * learning rate, schedule, L2 and init; `big` scales the widths up (BLAS blocked kernels). The
 * member with j % 8 == 5 has a learning rate that makes it diverge. */
static rt_model_spec pool_spec(size_t j, size_t features, size_t classes, long batch, int big) {
  rt_model_spec s = tu_spec_sgd("mlp", features, classes, batch);
  s.id = j;
  s.seed = 1234;
  s.passes = 3;
  s.total_batches = 10;
  static const long widths[8][3] = {{4, 0, 0}, {3, 5, 0}, {7, 0, 0}, {2, 3, 4},
                                    {6, 2, 0}, {5, 0, 0}, {1, 0, 0}, {9, 4, 0}};
  static const int depth[8] = {1, 2, 1, 3, 2, 1, 1, 2};
  const size_t k = j % 8;
  s.hp.hidden_count = depth[k];
  for (int h = 0; h < depth[k]; ++h) s.hp.hidden[h] = widths[k][h] * (big ? 7 + (long)j : 1);
  s.hp.activation = (rt_activation)(j % 3); /* relu, tanh, gelu */
  s.hp.output = j % 4 == 3 ? RT_OUTPUT_REGRESSION : RT_OUTPUT_CLASSIFICATION;
  s.hp.init = j % 2 ? RT_INIT_XAVIER : RT_INIT_AUTO;
  s.hp.optimizer = j % 3 == 1 ? RT_OPT_SGD : RT_OPT_ADAM;
  s.hp.momentum = j % 3 == 1 && j % 2 ? 0.9 : 0.0;
  s.hp.learning_rate = 0.003 * (double)(1 + j % 5);
  if (s.hp.optimizer == RT_OPT_SGD) s.hp.learning_rate *= 10.0;
  s.hp.schedule = (rt_schedule)(j % 3); /* constant, inverse_time, cosine */
  s.hp.decay = 0.01;
  s.hp.l2 = j % 2 ? 0.0 : 1e-3 * (double)(1 + j % 4);
  if (k == 5) { /* diverges within a few batches (a regression's loss overflows) */
    s.hp.output = RT_OUTPUT_REGRESSION;
    s.hp.optimizer = RT_OPT_SGD;
    s.hp.momentum = 0.0;
    s.hp.learning_rate = 1e30;
  }
  return s;
}

/* Data: rows x features in [-1, 1), labels 0..classes-1 (class indices; the regression members
 * regress on the same column, as they would on one label column of a run). */
static void make_data(size_t rows, size_t features, size_t classes, uint64_t key, float **x,
                      float **y) {
  *x = malloc(rows * features * sizeof **x);
  *y = malloc(rows * sizeof **y);
  assert_non_null(*x);
  assert_non_null(*y);
  for (size_t i = 0; i < rows * features; ++i)
    (*x)[i] = (float)(2.0 * rt_rng_uniform(key, i) - 1.0);
  for (size_t i = 0; i < rows; ++i) {
    const size_t c = (size_t)(rt_rng_uniform(key + 1, i) * (double)classes);
    (*y)[i] = (float)(c < classes ? c : classes - 1);
  }
}

static void *make_state(const rt_model_spec *s, size_t *bytes) {
  void *st = NULL;
  rt_status status;
  assert_int_equal(rt_state_create(s, &st, bytes, &status), RT_OK);
  return st;
}

static void *dup_state(const void *src, size_t bytes) {
  void *d =
      aligned_alloc(RT_STATE_ALIGN, (bytes + RT_STATE_ALIGN - 1) / RT_STATE_ALIGN * RT_STATE_ALIGN);
  assert_non_null(d);
  memcpy(d, src, bytes);
  return d;
}

/* Runs `batches` batches (batch rows each but a partial last one of the rows left) through the
 * group operations for specs[0..m) on states (as the driver does: gather, batch by batch with
 * steps, active flags and divergence marking, scatter); loss sums per batch and member into
 * losses[k * m + i]. */
static void run_group(const rt_model_spec *const *specs, size_t m, void *const *states,
                      const float *x, const float *y, size_t rows_total, double *losses) {
  const rt_family *fam = mlp();
  const size_t batch = (size_t)specs[0]->hp.batch_size, f = specs[0]->problem.features;
  float *g = malloc(fam->group_floats(specs, m, batch) * sizeof *g);
  assert_non_null(g);
  fam->group_gather(specs, m, states, g);
  uint64_t steps[MAX_M];
  unsigned char active[MAX_M];
  double loss[MAX_M];
  for (size_t first = 0, k = 0; first < rows_total; first += batch, ++k) {
    const size_t rows = first + batch <= rows_total ? batch : rows_total - first;
    for (size_t i = 0; i < m; ++i) {
      const rt_state_header *h = rt_state_head(states[i]);
      steps[i] = h->step;
      active[i] = !h->diverged;
      loss[i] = 0.0;
    }
    fam->group_batch(specs, m, g, x + first * f, y + first, rows, steps, active, loss);
    for (size_t i = 0; i < m; ++i) {
      rt_state_header *h = rt_state_head(states[i]);
      if (active[i] && !isfinite(loss[i])) h->diverged = 1;
      losses[k * m + i] = h->diverged ? NAN : loss[i];
      h->step += 1;
    }
  }
  fam->group_scatter(specs, m, g, states);
  free(g);
}

/* Group of m (pool members first .. first + m - 1) against each member alone: bytes of every
 * state (header, params, aux) and every batch loss equal. Returns how many members diverged. */
static size_t check_group(size_t m, size_t first_member, size_t features, size_t classes,
                          long batch, size_t rows_total, int big) {
  rt_model_spec spec[MAX_M];
  const rt_model_spec *specs[MAX_M];
  void *grouped[MAX_M], *alone[MAX_M];
  size_t bytes[MAX_M];
  for (size_t i = 0; i < m; ++i) {
    spec[i] = pool_spec(first_member + i, features, classes, batch, big);
    specs[i] = &spec[i];
    grouped[i] = make_state(&spec[i], &bytes[i]);
    alone[i] = dup_state(grouped[i], bytes[i]);
  }
  float *x, *y;
  make_data(rows_total, features, classes, 77 + m, &x, &y);
  const size_t nb = (rows_total + (size_t)batch - 1) / (size_t)batch;
  double *lg = malloc(nb * m * sizeof *lg), *la = malloc(nb * sizeof *la);
  assert_non_null(lg);
  assert_non_null(la);
  run_group(specs, m, grouped, x, y, rows_total, lg);
  size_t diverged = 0;
  for (size_t i = 0; i < m; ++i) {
    run_group(&specs[i], 1, &alone[i], x, y, rows_total, la);
    if (memcmp(grouped[i], alone[i], bytes[i]) != 0)
      fail_msg("m = %zu: member %zu (pool %zu) differs from its solo run", m, i, first_member + i);
    for (size_t k = 0; k < nb; ++k)
      if (memcmp(&lg[k * m + i], &la[k], sizeof la[k]) != 0)
        fail_msg("m = %zu: member %zu batch %zu loss %.17g, alone %.17g", m, i, k, lg[k * m + i],
                 la[k]);
    diverged += rt_state_head(grouped[i])->diverged != 0;
    /* Everyone but the diverging pool member learns something finite. */
    if ((first_member + i) % 8 != 5) assert_false(rt_state_head(grouped[i])->diverged);
    rt_state_free(grouped[i]);
    rt_state_free(alone[i]);
  }
  free(lg), free(la), free(x), free(y);
  return diverged;
}

static void test_group_equals_solo(void **state) {
  (void)state;
  static const size_t ms[] = {1, 2, 3, 7, 16};
  for (size_t a = 0; a < sizeof ms / sizeof ms[0]; ++a)
    for (size_t first = 0; first < 8; first += 3) {
      /* 29 rows in batches of 8: a partial last batch of 5. */
      const size_t diverged = check_group(ms[a], first, 5, 3, 8, 29, 0);
      size_t expect = 0;
      for (size_t i = first; i < first + ms[a]; ++i) expect += i % 8 == 5;
      assert_int_equal(diverged, expect);
    }
}

/* Widths 7..150, 100 features, batches of 48 with a partial one: the BLAS's blocked kernels and
 * their edge cases, not only small-matrix paths. */
static void test_group_equals_solo_large(void **state) {
  (void)state;
  assert_int_equal(check_group(7, 0, 100, 10, 48, 130, 1), 1);
  assert_int_equal(check_group(3, 9, 100, 10, 48, 130, 1), 0);
}

/* A group of one is the generic solo path: batch_gradient then rt_optimizer_step (skipped when
 * the loss is not finite), bit for bit, for each pool member. */
static void test_group_of_one_is_gradient_and_step(void **state) {
  (void)state;
  const rt_family *fam = mlp();
  float *x, *y;
  make_data(29, 5, 3, 5, &x, &y);
  for (size_t j = 0; j < 8; ++j) {
    rt_model_spec s = pool_spec(j, 5, 3, 8, 0);
    const rt_model_spec *sp = &s;
    size_t bytes;
    void *a = make_state(&s, &bytes), *b = dup_state(a, bytes);
    double la[4];
    run_group(&sp, 1, &a, x, y, 29, la);
    const rt_state_layout l = rt_state_layout_of(&s);
    float *grad = malloc((l.param_count + fam->workspace_floats(&s, 8)) * sizeof *grad);
    assert_non_null(grad);
    rt_state_header *h = rt_state_head(b);
    for (size_t first = 0, k = 0; first < 29; first += 8, ++k) {
      const size_t rows = first + 8 <= 29 ? 8 : 29 - first;
      double loss = 0.0;
      if (!h->diverged) {
        fam->batch_gradient(&s, rt_state_params(b, &l), x + first * 5, y + first, rows, grad, &loss,
                            grad + l.param_count);
        if (isfinite(loss))
          rt_optimizer_step(&s, rt_state_params(b, &l), rt_state_aux(b, &l), grad, l.param_count,
                            h->step);
        else h->diverged = 1;
      }
      h->step += 1;
      if (!h->diverged) assert_memory_equal(&loss, &la[k], sizeof loss);
    }
    assert_memory_equal(a, b, bytes);
    free(grad);
    rt_state_free(a);
    rt_state_free(b);
  }
  free(x), free(y);
}

/* Stops the driver after `left` more batches. */
static int stop_after(void *user) {
  int *left = user;
  return (*left)-- <= 0;
}

/* The CPU backend's driver over two shard visits (shard 0 of `rows` rows, shard 1 of rows -
 * shrink, batch 8): a group of 7, the first visit stopped after `stop_at` batches (every member's cursor
 * there) and continued, against each member alone; whole state buffers equal. With `chunked`, a
 * chunk budget of two of the largest members (RINGTRAIN_FUSE_CHUNK_BYTES) makes the group integrate
 * in cache chunks. `diverges`: the member that diverges on this data (m for none checked). */
static void check_driver(size_t rows, size_t shrink, uint64_t seed, int stop_at, int chunked,
                         size_t diverges) {
  const rt_family *fam = mlp();
  const size_t m = 7, features = 6, classes = 4;
  rt_model_spec spec[MAX_M];
  const rt_model_spec *specs[MAX_M];
  void *grouped[MAX_M], *alone[MAX_M];
  size_t bytes[MAX_M], largest = 0;
  for (size_t i = 0; i < m; ++i) {
    spec[i] = pool_spec(i, features, classes, 8, 0);
    spec[i].shards = 2;
    specs[i] = &spec[i];
    grouped[i] = make_state(&spec[i], &bytes[i]);
    const rt_state_layout l = rt_state_layout_of(&spec[i]);
    const size_t b = (2 * l.param_count + l.aux_count) * sizeof(float);
    if (b > largest) largest = b;
  }
  if (chunked) {
    char budget[32];
    snprintf(budget, sizeof budget, "%zu", 2 * largest); /* 2 or more members a chunk */
    assert_int_equal(setenv("RINGTRAIN_FUSE_CHUNK_BYTES", budget, 1), 0);
  }
  /* One batch order for all (the data-order key): the lead's. */
  for (size_t i = 1; i < m; ++i)
    rt_state_head(grouped[i])->rng_key = rt_state_head(grouped[0])->rng_key;
  for (size_t i = 0; i < m; ++i) alone[i] = dup_state(grouped[i], bytes[i]);
  rt_shard shard[2];
  memset(shard, 0, sizeof shard);
  for (size_t s = 0; s < 2; ++s) {
    shard[s].rows = rows - shrink * s;
    shard[s].features = features;
    make_data(shard[s].rows, features, classes, seed + s, &shard[s].x, &shard[s].y);
  }
  rt_cpu_scratch scratch;
  memset(&scratch, 0, sizeof scratch);
  rt_status st;
  int complete = 0;
  for (size_t s = 0; s < 2; ++s) {
    if (s == 0) { /* stopped after stop_at batches, then continued */
      int left = stop_at;
      assert_int_equal(rt_cpu_integrate_group_visit(specs, fam, grouped, m, &shard[s], s, &scratch,
                                                    stop_after, &left, &complete, &st),
                       RT_OK);
      assert_int_equal(complete, 0);
      for (size_t i = 0; i < m; ++i)
        assert_int_equal(rt_state_head(grouped[i])->batch_cursor, stop_at);
    }
    assert_int_equal(rt_cpu_integrate_group_visit(specs, fam, grouped, m, &shard[s], s, &scratch,
                                                  NULL, NULL, &complete, &st),
                     RT_OK);
    assert_int_equal(complete, 1);
    for (size_t i = 0; i < m; ++i) {
      assert_int_equal(rt_state_head(grouped[i])->batch_cursor, 0);
      assert_int_equal(rt_cpu_integrate_visit(specs[i], fam, alone[i], &shard[s], s, &scratch, NULL,
                                              NULL, &complete, &st),
                       RT_OK);
      assert_int_equal(complete, 1);
    }
  }
  if (chunked) assert_int_equal(unsetenv("RINGTRAIN_FUSE_CHUNK_BYTES"), 0);
  for (size_t i = 0; i < m; ++i) {
    if (memcmp(grouped[i], alone[i], bytes[i]) != 0)
      fail_msg("driver%s: member %zu differs from its solo visits", chunked ? " in chunks" : "", i);
    if (diverges < m) assert_int_equal(rt_state_head(grouped[i])->diverged, i == diverges);
    rt_state_free(grouped[i]);
    rt_state_free(alone[i]);
  }
  rt_cpu_scratch_free(&scratch);
  for (size_t s = 0; s < 2; ++s) free(shard[s].x), free(shard[s].y);
}

/* The driver over a small shard (5 batches), stopped after 2: member 5 diverges, the others not. */
static void test_driver_group_equals_solo(void **state) {
  (void)state;
  check_driver(37, 4, 300, 2, 0, 5);
}

/* Cache chunks (rt_cpu_integrate_group_visit): a group of 7 integrates chunk after chunk over
 * segments of 32 batches (38 batches a visit), stopped after 37 (inside the second segment). */
static void test_driver_chunks_equal_solo(void **state) {
  (void)state;
  check_driver(300, 5, 500, 37, 1, 7);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Timing only (RT_BENCH_GROUP_MLP=1): 16 MLPs 784-128-10, Adam, batch 128, varied lr and L2. */
static void test_bench(void **state) {
  (void)state;
  if (!getenv("RT_BENCH_GROUP_MLP")) skip();
  const rt_family *fam = mlp();
  enum { M = 16, F = 784, W = 128, C = 10, B = 128, BATCHES = 40 };
  rt_model_spec spec[M];
  const rt_model_spec *specs[M];
  void *states[M];
  size_t bytes;
  for (size_t i = 0; i < M; ++i) {
    spec[i] = tu_spec_sgd("mlp", F, C, B);
    spec[i].id = i;
    spec[i].hp.optimizer = RT_OPT_ADAM;
    spec[i].hp.learning_rate = 1e-3 * (double)(1 + i % 4);
    spec[i].hp.l2 = i % 2 ? 0.0 : 1e-4 * (double)(1 + i % 3);
    spec[i].hp.hidden_count = 1;
    spec[i].hp.hidden[0] = W;
    spec[i].hp.activation = RT_ACTIVATION_RELU;
    specs[i] = &spec[i];
    states[i] = make_state(&spec[i], &bytes);
  }
  float *x, *y;
  make_data((size_t)B * BATCHES, F, C, 9, &x, &y);
  float *g = malloc(fam->group_floats(specs, M, B) * sizeof *g);
  float *gs[M];
  for (size_t i = 0; i < M; ++i) gs[i] = malloc(fam->group_floats(&specs[i], 1, B) * sizeof *g);
  uint64_t steps[M] = {0};
  unsigned char active[M];
  memset(active, 1, sizeof active);
  double loss[M];
  fam->group_gather(specs, M, states, g);
  for (size_t i = 0; i < M; ++i) fam->group_gather(&specs[i], 1, &states[i], gs[i]);
  double t0 = now_s();
  for (size_t k = 0; k < BATCHES; ++k)
    fam->group_batch(specs, M, g, x + k * B * F, y + k * B, B, steps, active, loss);
  const double fused = now_s() - t0;
  t0 = now_s();
  for (size_t k = 0; k < BATCHES; ++k)
    for (size_t i = 0; i < M; ++i)
      fam->group_batch(&specs[i], 1, gs[i], x + k * B * F, y + k * B, B, steps, active, loss);
  const double solo = now_s() - t0;
  /* The two first-layer products alone. */
  float *w = calloc((size_t)F * W * M, sizeof *w), *z = malloc((size_t)B * W * M * sizeof *z);
  float *gw = malloc((size_t)F * W * M * sizeof *gw);
  t0 = now_s();
  for (size_t k = 0; k < BATCHES; ++k) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, W * M, F, 1.0f, x + k * B * F, F, w,
                W * M, 0.0f, z, W * M);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, F, W * M, B, 1.0f, x + k * B * F, F, z,
                W * M, 0.0f, gw, W * M);
  }
  const double prod_fused = now_s() - t0;
  t0 = now_s();
  for (size_t k = 0; k < BATCHES; ++k)
    for (size_t i = 0; i < M; ++i) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, W, F, 1.0f, x + k * B * F, F,
                  w + i * F * W, W, 0.0f, z + i * B * W, W);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, F, W, B, 1.0f, x + k * B * F, F,
                  z + i * B * W, W, 0.0f, gw + i * F * W, W);
    }
  const double prod_solo = now_s() - t0;
  printf(
      "bench 16 x mlp 784-128-10 adam batch 128, %d batches: fused %.3f ms/batch, 16 solo "
      "%.3f ms/batch, ratio %.2fx\n",
      BATCHES, 1e3 * fused / BATCHES, 1e3 * solo / BATCHES, solo / fused);
  printf(
      "  first-layer products: fused %.3f ms/batch, per member %.3f ms/batch (%.2fx); the "
      "rest: fused %.3f, solo %.3f ms/batch\n",
      1e3 * prod_fused / BATCHES, 1e3 * prod_solo / BATCHES, prod_solo / prod_fused,
      1e3 * (fused - prod_fused) / BATCHES, 1e3 * (solo - prod_solo) / BATCHES);
  free(w), free(z), free(gw), free(g), free(x), free(y);
  for (size_t i = 0; i < M; ++i) free(gs[i]), rt_state_free(states[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_group_equals_solo),
      cmocka_unit_test(test_group_equals_solo_large),
      cmocka_unit_test(test_group_of_one_is_gradient_and_step),
      cmocka_unit_test(test_driver_group_equals_solo),
      cmocka_unit_test(test_driver_chunks_equal_solo),
      cmocka_unit_test(test_bench),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
