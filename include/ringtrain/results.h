/* Reading and writing results: numbers as results.csv and the tables write them, and which way a
 * metric ranks. Public for the CLI (src/cli), which uses only include/ringtrain/. */
#ifndef RINGTRAIN_PUBLIC_RESULTS_H
#define RINGTRAIN_PUBLIC_RESULTS_H

#ifdef __cplusplus
extern "C" {
#endif

#define RT_NUMFMT_MAX 32

/* Shortest decimal text that reads back to the same double ("0.05", not "0.050000000000000003"),
 * written into buf (RT_NUMFMT_MAX bytes); non-finite values as "nan", "inf", "-inf". */
const char *rt_format_double(double v, char buf[RT_NUMFMT_MAX]);

/* Whether a metric is better when higher (accuracy, r2). */
int rt_metric_higher_is_better(const char *name);

#ifdef __cplusplus
}
#endif
#endif
