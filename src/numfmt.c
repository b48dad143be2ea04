#include "numfmt.h"

#include <stdio.h>
#include <stdlib.h>

const char *rt_format_double(double v, char buf[RT_NUMFMT_MAX]) {
  for (int digits = 1; digits <= 17; ++digits) {
    snprintf(buf, RT_NUMFMT_MAX, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) return buf;
  }
  return buf; /* NaN never compares equal: "%.17g" of it is "nan" / "-nan" */
}
