/* sweep.method: tpe — the tree-structured Parzen estimator (Bergstra et al., "Algorithms for
 * Hyper-Parameter Optimization", 2011) over one models entry's search space (sweep.h), as a pure
 * function of the observations and a counter-based key: the same suggestion on every rank and
 * after a resume.
 *
 * A point is one coordinate per swept param of the entry, in the entry's order:
 *  - uniform, log_uniform: the value itself (not rounded, also for integer keys: applying the
 *    point rounds);
 *  - int_uniform: the integer, as a double;
 *  - a list of values or categorical: the index of the value.
 *
 * The suggestion (univariate, as hyperopt and Optuna's default):
 *  - the observations come ranked, best first; the first n_good = max(1, ceil(gamma n)) are the
 *    good ones, the rest the bad ones (none when n_good = n: then the bad density is the prior);
 *  - per param, l(x) is the Parzen density of the good coordinates and g(x) that of the bad, each
 *    a mixture with equal weights of the prior (centre of the range, width the range) and one
 *    truncated Gaussian per coordinate, on [min, max] (log_uniform: in log space; int_uniform:
 *    [min - 1/2, max + 1/2]); a coordinate's width is the larger distance to its neighbours
 *    among the sorted centres and the ends, clipped to [range / min(100, 1 + count), range];
 *    categorical: l(c) = (good with c + 1) / (n_good + K), g likewise;
 *  - `candidates` points are drawn from l (a component uniformly, then inside the range) and the
 *    one with the largest sum over params of log l - log g is suggested (ties: the first drawn).
 * Every draw comes from the stream `key` with a fixed counter per candidate, param and try, so a
 * suggestion depends on (key, the ranked points, gamma, candidates) only. */
#ifndef RINGTRAIN_SWEEP_TPE_H
#define RINGTRAIN_SWEEP_TPE_H

#include <stddef.h>
#include <stdint.h>

#include "sweep.h"

/* Suggests a point for `entry` from the n observed points ranked[0..n) (best first; n may be 0:
 * then the candidates come from the prior and the first is taken) into point[0..param_count). */
void rt_tpe_suggest(const rt_sweep_entry *entry, const double *const *ranked, size_t n,
                    double gamma, size_t candidates, uint64_t key, double *point);

#endif
