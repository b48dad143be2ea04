/* The softmax's exponentials (src/models/exp_floats.c, rt_exp_floats) and the softmax of rows
 * (src/models/classify.c, rt_softmax_rows_ld): an element's exponential depends on its value alone,
 * not on the length of the array or its place in it (the vector function takes every element,
 * the tail padded); it is within a few ulp of expf; and a row's probabilities are the same bits
 * whatever the row stride, the number of rows around it (rows are exponentiated in chunks of
 * many rows) and the row's own length (rows longer than a chunk go piece by piece). */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "classify.h"
#include "exp_floats.h"
#include "rng.h"

/* A logit-like value: mostly in [-40, 10], sometimes far below (e^x underflows) or exactly 0. */
static float draw(uint64_t key, uint64_t i) {
  const double u = rt_rng_uniform(key, 2 * i), w = rt_rng_uniform(key, 2 * i + 1);
  if (u < 0.05) return 0.0f;
  if (u < 0.10) return (float)(-90.0 - 20.0 * w);
  return (float)(50.0 * w - 40.0);
}

static int32_t ulps_apart(float a, float b) {
  int32_t ia, ib;
  memcpy(&ia, &a, sizeof ia);
  memcpy(&ib, &b, sizeof ib);
  return ia > ib ? ia - ib : ib - ia;
}

static void test_exp_alone_equals_in_arrays(void **state) {
  (void)state;
  enum { N = 203 };
  float all[N], one[1];
  for (size_t n = 1; n <= N; n += (n < 20 ? 1 : 17)) {
    for (size_t i = 0; i < n; ++i) all[i] = draw(7, i);
    rt_exp_floats(all, n);
    for (size_t i = 0; i < n; ++i) {
      one[0] = draw(7, i);
      rt_exp_floats(one, 1);
      if (memcmp(&one[0], &all[i], sizeof one[0]) != 0)
        fail_msg("element %zu of %zu: %a alone, %a in the array", i, n, (double)one[0],
                 (double)all[i]);
    }
  }
}

static void test_exp_close_to_expf(void **state) {
  (void)state;
  enum { N = 4096 };
  static float x[N];
  for (size_t i = 0; i < N; ++i) x[i] = draw(11, i);
  rt_exp_floats(x, N);
  for (size_t i = 0; i < N; ++i) {
    const float want = expf(draw(11, i));
    if (ulps_apart(x[i], want) > 4)
      fail_msg("e^%a: %a, expf %a", (double)draw(11, i), (double)x[i], (double)want);
  }
  float edge[4] = {0.0f, -INFINITY, -200.0f, 1.0f};
  rt_exp_floats(edge, 4);
  assert_true(edge[0] == 1.0f);
  assert_true(edge[1] == 0.0f);
  assert_true(edge[2] == 0.0f);
  assert_true(ulps_apart(edge[3], expf(1.0f)) <= 4);
}

/* rows x c logits at stride ld; returns them softmaxed. */
static float *softmax_of(size_t rows, size_t c, size_t ld, size_t first_row) {
  float *z = malloc(rows * ld * sizeof *z);
  assert_non_null(z);
  for (size_t i = 0; i < rows; ++i)
    for (size_t k = 0; k < ld; ++k) z[i * ld + k] = k < c ? draw(3, (first_row + i) * c + k) : NAN;
  rt_softmax_rows_ld(z, rows, c, ld);
  return z;
}

static void test_softmax_rows_independent(void **state) {
  (void)state;
  const size_t widths[] = {1, 2, 7, 10, 33, 1024, 1500};
  for (size_t w = 0; w < sizeof widths / sizeof *widths; ++w) {
    const size_t c = widths[w], rows = 300;
    float *many = softmax_of(rows, c, c, 0), *strided = softmax_of(rows, c, c + 5, 0);
    for (size_t i = 0; i < rows; i += 37) {
      float *alone = softmax_of(1, c, c, i);
      double sum = 0.0;
      for (size_t k = 0; k < c; ++k) {
        if (memcmp(&alone[k], &many[i * c + k], sizeof(float)) != 0 ||
            memcmp(&alone[k], &strided[i * (c + 5) + k], sizeof(float)) != 0)
          fail_msg("c %zu row %zu column %zu: alone %a, among %zu rows %a, strided %a", c, i, k,
                   (double)alone[k], rows, (double)many[i * c + k],
                   (double)strided[i * (c + 5) + k]);
        assert_true(alone[k] >= 0.0f && alone[k] <= 1.0f);
        sum += alone[k];
      }
      assert_true(fabs(sum - 1.0) < 1e-4 * (double)(c > 10 ? c : 10));
      /* the columns past c are never touched */
      if (c + 5 > c) assert_true(isnan(strided[i * (c + 5) + c]));
      free(alone);
    }
    free(many);
    free(strided);
  }
}

/* The probabilities follow e^(z - max) / sum with the sum in column order, each exponential as
 * rt_exp_floats gives it. */
static void test_softmax_formula(void **state) {
  (void)state;
  const size_t c = 10;
  float z[10], e[10];
  for (size_t k = 0; k < c; ++k) z[k] = draw(5, k);
  float m = -INFINITY;
  for (size_t k = 0; k < c; ++k) m = z[k] > m ? z[k] : m;
  float s = 0.0f;
  for (size_t k = 0; k < c; ++k) {
    e[k] = z[k] - m;
    rt_exp_floats(&e[k], 1);
    s += e[k];
  }
  rt_softmax_rows(z, 1, c);
  const float inv = 1.0f / s;
  for (size_t k = 0; k < c; ++k)
    assert_true(memcmp(&z[k], &(float){e[k] * inv}, sizeof(float)) == 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exp_alone_equals_in_arrays),
      cmocka_unit_test(test_exp_close_to_expf),
      cmocka_unit_test(test_softmax_rows_independent),
      cmocka_unit_test(test_softmax_formula),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
