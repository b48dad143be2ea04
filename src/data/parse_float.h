/* rt_scan_float: decimal text to float32, exactly as strtof rounds it, without strtof's cost
 * (inline: it runs once per field of a data file).
 *
 * The value is first computed in double: the significant digits as an integer m < 2^53 (exact)
 * times or divided by 10^k with k <= 22 (10^k is exact in double), one IEEE operation, so the
 * double d is the exact value rounded once to nearest (Clinger's fast path). Rounding d to float
 * is a second rounding; it can differ from rounding the exact value directly only when d lands
 * exactly on a point halfway between two floats. Those points are doubles themselves, and
 * rounding to double is monotone, so if d is not such a point it lies strictly on the same side of
 * every halfway point as the exact value, and both round to the same float. When d is a halfway
 * point (its 29 bits below float precision are 1000...0) the function declines and the caller
 * uses strtof, as it does for everything else outside these bounds. */
#ifndef RINGTRAIN_PARSE_FLOAT_H
#define RINGTRAIN_PARSE_FLOAT_H

#include <float.h>
#include <stdint.h>
#include <string.h>

static const double rt_exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                          1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                          1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#define RT_SCAN_MAX_DIGITS 19       /* significant digits that fit a uint64_t */
#define RT_SCAN_MAX_EXPONENT 100000 /* larger exponents are left to strtof */
#define RT_SCAN_DROPPED_BITS 29     /* double fraction bits (52) minus float fraction bits (23) */

static inline int rt_scan_digit(char c) { return (unsigned)(c - '0') < 10u; }

/* Reads a number [+|-]digits[.digits][(e|E)[+|-]digits] (or [+|-].digits...) starting at p and
 * ending before q or at the first byte that cannot continue it. Returns 1 with *v the value
 * (bit for bit what strtof gives for the same text, -0 included) and *end just past the number;
 * returns 0 when the text is not of that form or the value is not certain to be exact here
 * (more than 19 significant digits, a result of 2^53 or more before scaling, a decimal exponent
 * beyond +-22, a subnormal, overflowing or halfway result). Nothing is read at or beyond q.
 * Callers must check that *end is where the field ends: where strtof would read on (the "x" of
 * "0x1p3", say) this reader stops, and the field is then strtof's to read. */
static inline int rt_scan_float(const char *p, const char *q, float *v, const char **end) {
  const char *s = p;
  int negative = 0;
  if (s < q && (*s == '-' || *s == '+')) {
    negative = *s == '-';
    ++s;
  }
  uint64_t m = 0;
  int digits = 0, any = 0, e10 = 0;
  while (s < q && *s == '0') {
    ++s;
    any = 1;
  }
  for (; s < q && rt_scan_digit(*s); ++s) {
    if (digits == RT_SCAN_MAX_DIGITS) return 0;
    m = m * 10 + (uint64_t)(*s - '0');
    ++digits;
    any = 1;
  }
  if (s < q && *s == '.') {
    ++s;
    if (digits == 0)
      for (; s < q && *s == '0'; ++s) {
        --e10;
        any = 1;
      }
    for (; s < q && rt_scan_digit(*s); ++s) {
      if (digits == RT_SCAN_MAX_DIGITS) return 0;
      m = m * 10 + (uint64_t)(*s - '0');
      ++digits;
      --e10;
      any = 1;
    }
  }
  if (!any) return 0;
  if (s < q && (*s == 'e' || *s == 'E')) {
    const char *t = s + 1;
    int exponent_negative = 0;
    if (t < q && (*t == '-' || *t == '+')) {
      exponent_negative = *t == '-';
      ++t;
    }
    if (t >= q || !rt_scan_digit(*t)) return 0;
    int exponent = 0;
    for (; t < q && rt_scan_digit(*t); ++t) {
      if (exponent > RT_SCAN_MAX_EXPONENT) return 0;
      exponent = exponent * 10 + (*t - '0');
    }
    e10 += exponent_negative ? -exponent : exponent;
    s = t;
  }
  if (m == 0) {
    *v = negative ? -0.0f : 0.0f;
    *end = s;
    return 1;
  }
  if (m > ((uint64_t)1 << 53) || e10 < -22 || e10 > 22) return 0;
  double d = (double)m;
  d = e10 < 0 ? d / rt_exact_pow10[-e10] : d * rt_exact_pow10[e10];
  if (!(d >= (double)FLT_MIN && d < (double)FLT_MAX)) return 0;
  uint64_t bits;
  memcpy(&bits, &d, sizeof bits);
  const uint64_t dropped = bits & (((uint64_t)1 << RT_SCAN_DROPPED_BITS) - 1);
  if (dropped == (uint64_t)1 << (RT_SCAN_DROPPED_BITS - 1)) return 0;
  const float f = (float)d;
  *v = negative ? -f : f;
  *end = s;
  return 1;
}

#endif
