/* Shortest round-tripping decimal text of a double (numfmt.h). */
#include "numfmt.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int reads_back(double v, int digits, char buf[RT_NUMFMT_MAX]) {
  snprintf(buf, RT_NUMFMT_MAX, "%.*g", digits, v);
  return strtod(buf, NULL) == v;
}

/* Significant digits of a "%g" text: from the first non-zero digit to the last one, before any
 * exponent ("0.0012" and "1200" have 2; "0" has 0). */
static int significant_digits(const char *text) {
  int first = -1, last = -1, i = 0;
  for (const char *c = text; *c && *c != 'e' && *c != 'E'; ++c) {
    if (*c < '0' || *c > '9') continue;
    if (*c != '0') {
      if (first < 0) first = i;
      last = i;
    }
    ++i;
  }
  return first < 0 ? 0 : last - first + 1;
}

/* The fewest significant digits (1..17) whose "%.*g" reads back as v, as trying 1, 2, ... in turn
 * would find, in three formatting steps instead of up to seventeen. If a text of d <= 15 digits
 * (DBL_DIG) reads back as v, then v printed with 15 digits is that same number (a decimal of up
 * to 15 digits survives the trip through a double), so: when "%.15g" reads back, its significant
 * digits k are the answer (no shorter text reads back, or "%.15g" would have fewer digits, and
 * "%.*g" with k digits prints the same number); when it does not, nothing up to 15 digits does,
 * and 16 or 17 digits are tried. Subnormal numbers carry fewer than 15 digits' worth of bits, so
 * for them the digits are tried in turn. */
const char *rt_format_double(double v, char buf[RT_NUMFMT_MAX]) {
  if (v != 0 && fabs(v) < DBL_MIN) {
    for (int digits = 1; digits < 17; ++digits)
      if (reads_back(v, digits, buf)) return buf;
    reads_back(v, 17, buf);
    return buf;
  }
  if (reads_back(v, 15, buf)) {
    const int k = significant_digits(buf);
    if (k < 15)
      snprintf(buf, RT_NUMFMT_MAX, "%.*g", k > 0 ? k : 1,
               v); /* the same number, in k-digit style */
    return buf;
  }
  if (reads_back(v, 16, buf)) return buf;
  reads_back(v, 17, buf);
  return buf; /* NaN never compares equal: "%.17g" of it is "nan" / "-nan" */
}
