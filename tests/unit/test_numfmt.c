/* rt_format_double: the shortest "%.*g" text that reads back as the same double, the same text as
 * trying 1, 2, ... 17 digits in turn would give (model files and results hold these texts, so a
 * faster search must not change one byte). */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "numfmt.h"

/* The definition, digit count by digit count. */
static const char *reference(double v, char buf[RT_NUMFMT_MAX]) {
  for (int digits = 1; digits <= 17; ++digits) {
    snprintf(buf, RT_NUMFMT_MAX, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) return buf;
  }
  return buf;
}

static void assert_same(double v) {
  char want[RT_NUMFMT_MAX], got[RT_NUMFMT_MAX];
  reference(v, want);
  rt_format_double(v, got);
  if (strcmp(want, got) != 0) fail_msg("%a: \"%s\", expected \"%s\"", v, got, want);
}

static void test_examples(void **state) {
  (void)state;
  char buf[RT_NUMFMT_MAX];
  assert_string_equal(rt_format_double(0.05, buf), "0.05");
  assert_string_equal(rt_format_double(0.1 + 0.2, buf), "0.30000000000000004");
  assert_string_equal(rt_format_double(1e10, buf), "1e+10");
  assert_string_equal(rt_format_double(123456, buf), "123456");
  assert_string_equal(rt_format_double(0.0, buf), "0");
  assert_string_equal(rt_format_double(-0.0, buf), "-0");
  assert_string_equal(rt_format_double(5e-324, buf), "5e-324");
  assert_string_equal(rt_format_double(1e-310, buf), "1e-310");
  assert_string_equal(rt_format_double(DBL_MAX, buf), "1.7976931348623157e+308");
  assert_string_equal(rt_format_double(INFINITY, buf), "inf");
  assert_string_equal(rt_format_double(-INFINITY, buf), "-inf");
  assert_string_equal(rt_format_double(NAN, buf), "nan");
  assert_string_equal(rt_format_double((double)0.1f, buf), "0.10000000149011612");
}

static uint64_t next(uint64_t *x) {
  *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
  return *x;
}

/* Every kind of double the runs print: any bit pattern, uniform and log-uniform draws, floats
 * widened to double, short decimals, integers at every scale, subnormals, neighbours of powers
 * of ten. */
static void test_same_as_digit_by_digit(void **state) {
  (void)state;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < 150000; ++i) {
    const uint64_t r = next(&x);
    const double u = (double)(r >> 11) / 9007199254740992.0;
    double v;
    switch (i % 8) {
      case 0: memcpy(&v, &r, sizeof v); break;
      case 1: v = u; break;
      case 2: v = exp((u - 0.5) * 60); break;
      case 3: v = (double)(float)u; break;
      case 4: v = round(u * 100000) / pow(10, (double)(r % 9)); break;
      case 5: v = (double)(r % 1000) * pow(10, (double)((int)(r >> 40) % 60 - 30)); break;
      case 6: v = u * DBL_MIN; break; /* subnormal */
      default: {
        const double p = pow(10, (double)((int)(r >> 40) % 600 - 300));
        v = r & 1 ? nextafter(p, 0) : r & 2 ? nextafter(p, INFINITY) : p;
      }
    }
    if (isnan(v)) continue; /* "nan" or "-nan" by sign; both ways agree (test_examples) */
    assert_same(v);
    assert_same(-v);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_examples),
                                     cmocka_unit_test(test_same_as_digit_by_digit)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
