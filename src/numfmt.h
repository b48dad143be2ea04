/* Shortest decimal text that reads back to the same double ("0.05", not "0.050000000000000003"). */
#ifndef RINGTRAIN_NUMFMT_H
#define RINGTRAIN_NUMFMT_H

#include <stddef.h>

#define RT_NUMFMT_MAX 32

/* Writes v into buf (RT_NUMFMT_MAX bytes); non-finite values as "nan", "inf", "-inf". */
const char *rt_format_double(double v, char buf[RT_NUMFMT_MAX]);

#endif
