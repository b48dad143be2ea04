/* sweep.method: tpe — rt_tpe_suggest (sweep_tpe.h): determinism, points inside their ranges, and
 * that the suggestions move towards the good observations (uniform, log_uniform, categorical). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rng.h"
#include "sweep.h"
#include "sweep_tpe.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------------------------- */

#define OBS_MAX 64
#define PARAM_MAX 4

static char *category_texts[] = {"a", "b", "c", "d"};

static rt_sweep_param uniform_param(double min, double max) {
  rt_sweep_param param;
  memset(&param, 0, sizeof param);
  param.dist = RT_DIST_UNIFORM;
  param.min = min;
  param.max = max;
  return param;
}

static rt_sweep_param log_uniform_param(double min, double max) {
  rt_sweep_param param = uniform_param(min, max);
  param.dist = RT_DIST_LOG_UNIFORM;
  return param;
}

static rt_sweep_param int_uniform_param(long long imin, long long imax) {
  rt_sweep_param param;
  memset(&param, 0, sizeof param);
  param.dist = RT_DIST_INT_UNIFORM;
  param.imin = imin;
  param.imax = imax;
  return param;
}

static rt_sweep_param categorical_param(rt_sweep_dist dist, size_t count) {
  rt_sweep_param param;
  memset(&param, 0, sizeof param);
  param.dist = dist;
  param.values = category_texts;
  param.value_count = count;
  return param;
}

static rt_sweep_entry entry_of(rt_sweep_param *params, size_t count) {
  rt_sweep_entry entry;
  memset(&entry, 0, sizeof entry);
  entry.params = params;
  entry.param_count = count;
  return entry;
}

/* Observations: n points of the entry's params, ranked by loss (ascending, stable). */
typedef struct observations {
  double points[OBS_MAX][PARAM_MAX];
  double loss[OBS_MAX];
  const double *ranked[OBS_MAX];
  size_t n;
} observations;

static void rank(observations *obs) {
  size_t order[OBS_MAX];
  for (size_t i = 0; i < obs->n; ++i) {
    size_t j = i;
    while (j > 0 && obs->loss[order[j - 1]] > obs->loss[i]) {
      order[j] = order[j - 1];
      --j;
    }
    order[j] = i;
  }
  for (size_t i = 0; i < obs->n; ++i) obs->ranked[i] = obs->points[order[i]];
}

/* n random points of the entry (from the stream `seed`, as the random sweep would draw them). */
static void random_points(const rt_sweep_entry *entry, uint64_t seed, size_t n, observations *obs) {
  assert_true(n <= OBS_MAX && entry->param_count <= PARAM_MAX);
  obs->n = n;
  for (size_t i = 0; i < n; ++i) {
    for (size_t p = 0; p < entry->param_count; ++p) {
      const rt_sweep_param *param = &entry->params[p];
      uint64_t k = rt_key_push(seed, i * PARAM_MAX + p);
      double u = rt_rng_uniform(k, 0);
      double v = 0.0;
      switch (param->dist) {
        case RT_DIST_UNIFORM: v = param->min + u * (param->max - param->min); break;
        case RT_DIST_LOG_UNIFORM:
          v = exp(log(param->min) + u * (log(param->max) - log(param->min)));
          break;
        case RT_DIST_INT_UNIFORM:
          v = (double)(param->imin +
                       (long long)rt_rng_below(k, 1, (uint64_t)(param->imax - param->imin + 1)));
          break;
        case RT_DIST_VALUES:
        case RT_DIST_CATEGORICAL: v = (double)rt_rng_below(k, 1, param->value_count); break;
      }
      obs->points[i][p] = v;
    }
    obs->loss[i] = 0.0;
  }
}

/* Asserts that every coordinate of point lies in its param's range. */
static void assert_point_in_range(const rt_sweep_entry *entry, const double *point) {
  for (size_t p = 0; p < entry->param_count; ++p) {
    const rt_sweep_param *param = &entry->params[p];
    double v = point[p];
    assert_true(isfinite(v));
    switch (param->dist) {
      case RT_DIST_UNIFORM:
      case RT_DIST_LOG_UNIFORM:
        if (v < param->min || v > param->max)
          fail_msg("param %zu: %.17g outside [%.17g, %.17g]", p, v, param->min, param->max);
        break;
      case RT_DIST_INT_UNIFORM:
        assert_true(v == floor(v));
        if (v < (double)param->imin || v > (double)param->imax)
          fail_msg("param %zu: %.17g outside [%lld, %lld]", p, v, param->imin, param->imax);
        break;
      case RT_DIST_VALUES:
      case RT_DIST_CATEGORICAL:
        assert_true(v == floor(v));
        assert_true(v >= 0.0 && v < (double)param->value_count);
        break;
    }
  }
}

/* A mixed entry: uniform [-3, 5], log_uniform [1e-5, 10], int_uniform [2, 9], categorical of 4. */
static rt_sweep_param mixed_params[PARAM_MAX];

static rt_sweep_entry mixed_entry(void) {
  mixed_params[0] = uniform_param(-3.0, 5.0);
  mixed_params[1] = log_uniform_param(1e-5, 10.0);
  mixed_params[2] = int_uniform_param(2, 9);
  mixed_params[3] = categorical_param(RT_DIST_CATEGORICAL, 4);
  return entry_of(mixed_params, PARAM_MAX);
}

/* Mixed observations ranked by a loss of all four coordinates. */
static void mixed_observations(const rt_sweep_entry *entry, size_t n, observations *obs) {
  random_points(entry, 77, n, obs);
  for (size_t i = 0; i < n; ++i) {
    const double *x = obs->points[i];
    obs->loss[i] =
        fabs(x[0] - 1.0) + fabs(log10(x[1]) + 3.0) + fabs(x[2] - 4.0) + (x[3] == 1.0 ? 0.0 : 1.0);
  }
  rank(obs);
}

/* ---------------------------------------------------------------------------------------------
 * Determinism and ranges
 * ------------------------------------------------------------------------------------------- */

static void test_deterministic(void **state) {
  (void)state;
  rt_sweep_entry entry = mixed_entry();
  observations obs;
  mixed_observations(&entry, 30, &obs);
  double a[PARAM_MAX], b[PARAM_MAX];
  memset(a, 0xa5, sizeof a);
  memset(b, 0x5a, sizeof b);
  rt_tpe_suggest(&entry, obs.ranked, obs.n, 0.25, 24, 1234, a);
  rt_tpe_suggest(&entry, obs.ranked, obs.n, 0.25, 24, 1234, b);
  assert_memory_equal(a, b, sizeof a);

  /* The same observations at other addresses: the same point. */
  observations copy = obs;
  for (size_t i = 0; i < obs.n; ++i)
    copy.ranked[i] = copy.points[(size_t)(obs.ranked[i] - obs.points[0]) / PARAM_MAX];
  rt_tpe_suggest(&entry, copy.ranked, copy.n, 0.25, 24, 1234, b);
  assert_memory_equal(a, b, sizeof a);

  /* Another key: another point (the uniform and log_uniform coordinates are continuous). */
  rt_tpe_suggest(&entry, obs.ranked, obs.n, 0.25, 24, 1235, b);
  assert_true(a[0] != b[0] || a[1] != b[1]);

  /* Without observations, too. */
  rt_tpe_suggest(&entry, NULL, 0, 0.25, 24, 99, a);
  rt_tpe_suggest(&entry, NULL, 0, 0.25, 24, 99, b);
  assert_memory_equal(a, b, sizeof a);
  rt_tpe_suggest(&entry, NULL, 0, 0.25, 24, 100, b);
  assert_true(a[0] != b[0] || a[1] != b[1]);
}

static void test_in_range(void **state) {
  (void)state;
  rt_sweep_entry entry = mixed_entry();
  observations obs;
  const size_t counts[] = {1, 2, 5, 30, 64};
  for (size_t ci = 0; ci < sizeof counts / sizeof counts[0]; ++ci) {
    mixed_observations(&entry, counts[ci], &obs);
    for (uint64_t key = 0; key < 300; ++key) {
      double point[PARAM_MAX];
      double gamma = key % 3 == 0 ? 1.0 : 0.25; /* gamma 1: no bad observations */
      rt_tpe_suggest(&entry, obs.ranked, obs.n, gamma, 1 + key % 40, key, point);
      assert_point_in_range(&entry, point);
    }
  }
}

/* Observations on the ends of the ranges (and past them: they are clamped) stay in range. */
static void test_in_range_edges(void **state) {
  (void)state;
  rt_sweep_param params[PARAM_MAX] = {uniform_param(0.0, 1.0), log_uniform_param(1e-3, 1e3),
                                      int_uniform_param(-2, 2),
                                      categorical_param(RT_DIST_VALUES, 3)};
  rt_sweep_entry entry = entry_of(params, PARAM_MAX);
  observations obs;
  obs.n = 20;
  for (size_t i = 0; i < obs.n; ++i) {
    int high = i % 2 == 1;
    obs.points[i][0] = high ? 1.0 : 0.0;
    obs.points[i][1] = high ? 1e3 : 1e-3;
    obs.points[i][2] = high ? 2.0 : -2.0;
    obs.points[i][3] = high ? 2.0 : 0.0;
    obs.loss[i] = high ? 0.0 : 1.0;
  }
  obs.points[19][0] = 1.5;
  obs.points[19][2] = 7.0;
  rank(&obs);
  size_t ends = 0;
  for (uint64_t key = 0; key < 200; ++key) {
    double point[PARAM_MAX];
    rt_tpe_suggest(&entry, obs.ranked, obs.n, 0.5, 24, key, point);
    assert_point_in_range(&entry, point);
    if (point[2] == 2.0) ++ends;
  }
  /* The good observations all sit at int 2. */
  assert_true(ends > 150);
}

/* A param with a single value (min == max) gives that value. */
static void test_degenerate(void **state) {
  (void)state;
  rt_sweep_param params[3] = {uniform_param(2.5, 2.5), int_uniform_param(7, 7),
                              categorical_param(RT_DIST_CATEGORICAL, 1)};
  rt_sweep_entry entry = entry_of(params, 3);
  double obs_point[3] = {2.5, 7.0, 0.0};
  const double *ranked[2] = {obs_point, obs_point};
  double point[3];
  rt_tpe_suggest(&entry, ranked, 2, 0.25, 10, 5, point);
  assert_true(point[0] == 2.5 && point[1] == 7.0 && point[2] == 0.0);
  rt_tpe_suggest(&entry, NULL, 0, 0.25, 10, 5, point);
  assert_true(point[0] == 2.5 && point[1] == 7.0 && point[2] == 0.0);
}

/* Without observations: points in range, spread over the ranges, and the first candidate is
 * taken whatever the number of candidates. */
static void test_no_observations(void **state) {
  (void)state;
  rt_sweep_entry entry = mixed_entry();
  size_t low = 0, categories[4] = {0, 0, 0, 0};
  for (uint64_t key = 0; key < 400; ++key) {
    double a[PARAM_MAX], b[PARAM_MAX];
    rt_tpe_suggest(&entry, NULL, 0, 0.25, 1, key, a);
    rt_tpe_suggest(&entry, NULL, 0, 0.25, 50, key, b);
    assert_memory_equal(a, b, sizeof a);
    assert_point_in_range(&entry, a);
    if (a[0] < 1.0) ++low;
    ++categories[(size_t)a[3]];
  }
  /* Half of [-3, 5] lies below 1 (the prior is symmetric about the centre). */
  assert_true(low > 150 && low < 250);
  for (size_t c = 0; c < 4; ++c) assert_true(categories[c] > 60);
}

/* ---------------------------------------------------------------------------------------------
 * Learning: the suggestions move towards the good observations
 * ------------------------------------------------------------------------------------------- */

#define SUGGESTIONS 200

/* uniform [0, 1], optimum 0.2: random points are at mean distance 0.34 from it. */
static void test_learns_uniform(void **state) {
  (void)state;
  rt_sweep_param params[1] = {uniform_param(0.0, 1.0)};
  rt_sweep_entry entry = entry_of(params, 1);
  observations obs;
  random_points(&entry, 11, 40, &obs);
  for (size_t i = 0; i < obs.n; ++i) obs.loss[i] = fabs(obs.points[i][0] - 0.2);
  rank(&obs);
  double total = 0.0;
  for (uint64_t key = 0; key < SUGGESTIONS; ++key) {
    double point[1];
    rt_tpe_suggest(&entry, obs.ranked, obs.n, 0.25, 24, key, point);
    total += fabs(point[0] - 0.2);
  }
  double mean = total / SUGGESTIONS;
  print_message("uniform: mean |x - 0.2| = %.4f\n", mean);
  assert_true(mean < 0.06);
}

/* log_uniform [1e-4, 1], optimum 1e-2: random points are at mean log10 distance 1 from it. */
static void test_learns_log_uniform(void **state) {
  (void)state;
  rt_sweep_param params[1] = {log_uniform_param(1e-4, 1.0)};
  rt_sweep_entry entry = entry_of(params, 1);
  observations obs;
  random_points(&entry, 12, 40, &obs);
  for (size_t i = 0; i < obs.n; ++i) obs.loss[i] = fabs(log10(obs.points[i][0]) + 2.0);
  rank(&obs);
  double total = 0.0;
  for (uint64_t key = 0; key < SUGGESTIONS; ++key) {
    double point[1];
    rt_tpe_suggest(&entry, obs.ranked, obs.n, 0.25, 24, key, point);
    total += fabs(log10(point[0]) + 2.0);
  }
  double mean = total / SUGGESTIONS;
  print_message("log_uniform: mean |log10 x + 2| = %.4f\n", mean);
  assert_true(mean < 0.25);
}

/* categorical of 4, the good observations mostly category 2 (a noisy loss): random points are
 * category 2 one time in four. */
static void test_learns_categorical(void **state) {
  (void)state;
  rt_sweep_param params[1] = {categorical_param(RT_DIST_CATEGORICAL, 4)};
  rt_sweep_entry entry = entry_of(params, 1);
  observations obs;
  random_points(&entry, 13, 40, &obs);
  for (size_t i = 0; i < obs.n; ++i)
    obs.loss[i] = (obs.points[i][0] == 2.0 ? 0.0 : 1.0) + 1.5 * rt_rng_uniform(99, i);
  rank(&obs);
  size_t twos = 0;
  for (uint64_t key = 0; key < SUGGESTIONS; ++key) {
    double point[1];
    rt_tpe_suggest(&entry, obs.ranked, obs.n, 0.25, 24, key, point);
    if (point[0] == 2.0) ++twos;
  }
  print_message("categorical: %zu of %d suggestions are category 2\n", twos, SUGGESTIONS);
  assert_true(twos > 150);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_deterministic),      cmocka_unit_test(test_in_range),
      cmocka_unit_test(test_in_range_edges),     cmocka_unit_test(test_degenerate),
      cmocka_unit_test(test_no_observations),    cmocka_unit_test(test_learns_uniform),
      cmocka_unit_test(test_learns_log_uniform), cmocka_unit_test(test_learns_categorical),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
