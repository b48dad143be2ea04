/* rt_scan_float against strtof: the same bits for every text it accepts (random numbers printed
 * every usual way, integers, halfway cases, signed zeros, float range edges), the right end, and
 * a refusal (0) wherever its exactness argument does not hold or the text is not a plain
 * decimal number; and the CSV reader's values against strtof field by field. */
#define _GNU_SOURCE /* mkstemps */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "parse_float.h"
#include "ringtrain/data.h"

static uint32_t bits_of(float f) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

/* Returns 1 when the fast reader accepted text; fails the test if it disagrees with strtof. */
static int check_text(const char *text) {
  const char *q = text + strlen(text);
  float v = 12345.0f;
  const char *end = NULL;
  if (!rt_scan_float(text, q, &v, &end)) return 0;
  char *want_end = NULL;
  float want = strtof(text, &want_end);
  if (end != want_end)
    fail_msg("'%s': read %td bytes, strtof %td", text, end - text, want_end - text);
  if (bits_of(v) != bits_of(want))
    fail_msg("'%s': %a (0x%08x), strtof %a (0x%08x)", text, (double)v, bits_of(v), (double)want,
             bits_of(want));
  return 1;
}

static uint64_t next_random(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void test_examples(void **state) {
  (void)state;
  const char *accepted[] = {"0",
                            "-0",
                            "+0",
                            "0.0",
                            "-0.000",
                            "1",
                            "255",
                            "-17",
                            "+3.25",
                            ".5",
                            "5.",
                            "-.75",
                            "1e5",
                            "1E+05",
                            "2.5e-3",
                            "0.1",
                            "0.3",
                            "3.14159274",
                            "123456789",
                            "1e-20",
                            "7e22",
                            "9.87654321e-12",
                            "0000012.5000",
                            "0.000001",
                            "1e+22"};
  for (size_t i = 0; i < sizeof accepted / sizeof *accepted; ++i)
    if (!check_text(accepted[i])) fail_msg("'%s' was declined", accepted[i]);
  float v;
  const char *end;
  const char *declined[] = {"",
                            "-",
                            "+",
                            ".",
                            "e5",
                            "abc",
                            "nan",
                            "inf",
                            "1e",
                            "1e+",
                            " 1",
                            "\v1",
                            "-e1",
                            ".e1",
                            /* more than 19 significant digits */ "0.12345678901234567890",
                            /* beyond 10^22 or below 10^-22 */ "1e23",
                            "1e-23",
                            "3.4e38",
                            /* subnormal */ "1e-40"};
  for (size_t i = 0; i < sizeof declined / sizeof *declined; ++i) {
    const char *t = declined[i];
    if (rt_scan_float(t, t + strlen(t), &v, &end)) fail_msg("'%s' was accepted", t);
  }
  /* The end is before the first byte that cannot continue the number. */
  const char *t = "12.5,3";
  assert_int_equal(rt_scan_float(t, t + strlen(t), &v, &end), 1);
  assert_ptr_equal(end, t + 4);
  assert_true(v == 12.5f);
  /* Nothing at or past q is read: "12" of "123". */
  t = "123";
  assert_int_equal(rt_scan_float(t, t + 2, &v, &end), 1);
  assert_true(v == 12.0f);
  assert_ptr_equal(end, t + 2);
  /* Hexadecimal: strtof would read all of "0x10"; this reader stops at the 'x', which is not a
   * field boundary, so a caller falls back to strtof. */
  t = "0x10";
  assert_int_equal(rt_scan_float(t, t + 4, &v, &end), 1);
  assert_ptr_equal(end, t + 1);
  /* Signed zero. */
  assert_int_equal(rt_scan_float("-0.0", NULL, &v, &end) || 1, 1);
  t = "-0.0";
  assert_int_equal(rt_scan_float(t, t + 4, &v, &end), 1);
  assert_true(signbit(v));
}

/* Halfway between two floats: 2^24 + 1 and friends are exact doubles on a halfway point, so the
 * fast reader must leave them to strtof (ties to even); just off halfway it must round right. */
static void test_halfway(void **state) {
  (void)state;
  float v;
  const char *end;
  const char *halfway[] = {"16777217", "16777219", "33554434", "-16777217",
                           "1.00000005960464477539"};
  for (size_t i = 0; i < sizeof halfway / sizeof *halfway; ++i) {
    const char *t = halfway[i];
    if (rt_scan_float(t, t + strlen(t), &v, &end)) fail_msg("halfway '%s' was accepted", t);
  }
  const char *near[] = {"16777217.000001", "16777216.999999", "16777219.0000001",
                        "1.0000000596046"};
  for (size_t i = 0; i < sizeof near / sizeof *near; ++i)
    if (!check_text(near[i])) fail_msg("'%s' was declined", near[i]);
}

/* Random floats and doubles printed as %.Ng for N in 1..17, %f, %e, integers; the fast reader must
 * accept most of them (the texts a data file holds) and agree with strtof on every one. */
static void test_random_texts(void **state) {
  (void)state;
  uint64_t seed = 20261202;
  long accepted = 0, total = 0;
  char buf[64];
  for (int i = 0; i < 400000; ++i) {
    uint64_t r = next_random(&seed);
    double x;
    switch (i % 4) {
      case 0: { /* a float of any exponent in range */
        uint32_t b = (uint32_t)r & 0x7fffffffu;
        float f;
        memcpy(&f, &b, sizeof f);
        if (!isfinite(f)) continue;
        x = f;
        break;
      }
      case 1: /* uniform in [-1, 1) */
        x = ((double)(r >> 11) / 9007199254740992.0) * 2.0 - 1.0;
        break;
      case 2: /* a pixel-like integer */ x = (double)(r % 256); break;
      default: /* a Gaussian-ish value of moderate size, scaled by a random power of ten */
        x = ((double)(r >> 11) / 9007199254740992.0 - 0.5) * pow(10.0, (int)(r % 13) - 6);
        break;
    }
    const int digits = 1 + (int)((r >> 3) % 17);
    switch ((r >> 8) % 4) {
      case 0: snprintf(buf, sizeof buf, "%.*g", digits, x); break;
      case 1: snprintf(buf, sizeof buf, "%.*e", digits, x); break;
      case 2: snprintf(buf, sizeof buf, "%.*f", digits % 10, x); break;
      default: snprintf(buf, sizeof buf, "%.9g", x); break;
    }
    accepted += check_text(buf);
    ++total;
  }
  /* Most texts are short enough for the fast path (the rest fall back to strtof). */
  if (accepted * 2 < total) fail_msg("only %ld of %ld texts were accepted", accepted, total);
}

/* Texts next to halfway points of floats in [1, 2): each halfway point and the doubles just
 * above and below it, printed to 17 and 15 digits; whatever the fast reader accepts must agree
 * with strtof. */
static void test_halfway_neighbours(void **state) {
  (void)state;
  uint64_t seed = 7;
  char buf[64];
  for (int i = 0; i < 20000; ++i) {
    uint32_t b = 0x3f800000u + (uint32_t)(next_random(&seed) % 0x800000u);
    float f;
    memcpy(&f, &b, sizeof f);
    double mid = ((double)f + (double)nextafterf(f, 2.0f)) / 2.0;
    for (int k = -1; k <= 1; ++k) {
      double x = k == 0 ? mid : nextafter(mid, k < 0 ? 0.0 : 4.0);
      snprintf(buf, sizeof buf, "%.17g", x);
      check_text(buf);
      snprintf(buf, sizeof buf, "%.15g", x);
      check_text(buf);
    }
  }
}

/* The CSV reader (its integer and general fast paths, and strtof where they decline) against
 * strtof on every field of a file of mixed texts: integers of 1 to 9 digits with and without
 * leading zeros and signs, decimals, exponents, long digit strings. */
static void test_csv_fields(void **state) {
  (void)state;
  char path[] = "/tmp/rt_test_parse_float_XXXXXX.csv";
  int fd = mkstemps(path, 4);
  assert_true(fd >= 0);
  FILE *f = fdopen(fd, "w");
  assert_non_null(f);
  enum { ROWS = 3000, COLS = 12 };
  static char texts[ROWS][COLS][40];
  uint64_t seed = 99;
  for (int r = 0; r < ROWS; ++r) {
    for (int c = 0; c < COLS; ++c) {
      uint64_t u = next_random(&seed);
      char *t = texts[r][c];
      switch (c % 6) {
        case 0: snprintf(t, 40, "%llu", (unsigned long long)(u % 1000000000ull)); break;
        case 1:
          snprintf(t, 40, "%0*llu", 1 + (int)(u % 9), (unsigned long long)((u >> 8) % 10000ull));
          break;
        case 2: snprintf(t, 40, "%+lld", (long long)(u % 200001) - 100000); break;
        case 3:
          snprintf(t, 40, "%.*g", 1 + (int)(u % 12),
                   ((double)(u >> 11) / 9007199254740992.0 - 0.5) * 1e3);
          break;
        case 4: snprintf(t, 40, "%.3e", ((double)(u >> 11) / 9007199254740992.0) * 1e-12); break;
        default:
          snprintf(t, 40, "%llu.%llu", (unsigned long long)(u % 100000000000ull),
                   (unsigned long long)((u >> 40) % 1000));
          break;
      }
      fprintf(f, "%s%s", c ? (r % 2 ? ", " : ",") : "", t);
    }
    fputc('\n', f);
  }
  fclose(f);
  rt_data_options opt = {.path = path, .header = 0, .label_column = -1};
  rt_data_info info;
  rt_shard sh;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_probe(&opt, &info, &st), RT_OK);
  assert_int_equal(rt_data_read_all(&opt, &info, &sh, &st), RT_OK);
  unlink(path);
  assert_int_equal(sh.rows, ROWS);
  for (int r = 0; r < ROWS; ++r)
    for (int c = 0; c < COLS; ++c) {
      const float want = strtof(texts[r][c], NULL), got = sh.x[(size_t)r * COLS + (size_t)c];
      if (bits_of(want) != bits_of(got))
        fail_msg("row %d column %d '%s': %a, strtof %a", r, c, texts[r][c], (double)got,
                 (double)want);
    }
  rt_shard_free(&sh);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_examples),     cmocka_unit_test(test_halfway),
      cmocka_unit_test(test_random_texts), cmocka_unit_test(test_halfway_neighbours),
      cmocka_unit_test(test_csv_fields),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
