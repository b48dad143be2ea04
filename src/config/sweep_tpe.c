/* sweep.method: tpe — the tree-structured Parzen estimator's suggestion (rules in sweep_tpe.h).
 *
 * Working space: every continuous param is mapped onto u in [0, 1] (uniform: (x - min) / range;
 * log_uniform: the same in log space; int_uniform: on [imin - 1/2, imax + 1/2]), where the prior
 * is the truncated Gaussian (1/2, 1) and every width lies in [1 / min(100, 1 + count), 1]. Lists
 * and categoricals work on the value index.
 *
 * No allocation: candidates are scored in blocks of TPE_BLOCK on the stack, one param at a time
 * (the score is a sum over params and every draw is counter-based, so the winner's coordinates
 * are drawn again at the end instead of being kept), and a Gaussian's width is found by scanning
 * the observations for its neighbours (O(n^2) per param and block). */
#include "sweep_tpe.h"

#include <math.h>
#include <stdint.h>

#include "rng.h"

enum {
  TPE_BLOCK = 256,      /* candidates scored together */
  TPE_NORMAL_PAIRS = 16 /* Box-Muller pairs tried for one truncated Gaussian draw */
};

static const double tpe_pi = 3.14159265358979323846;
static const double tpe_sqrt_2pi = 2.50662827463100050242;
static const double tpe_sqrt1_2 = 0.70710678118654752440;

/* One param's search space. */
typedef struct tpe_space {
  int categorical; /* coordinate = index in [0, k) (lists and categoricals) */
  size_t k;
  double lo, range; /* continuous: the working interval [lo, lo + range] (log space for
                       log_uniform), mapped onto u in [0, 1] */
  int degenerate;   /* nothing to choose: the point is min (index 0) and the score ignores it */
} tpe_space;

static tpe_space space_of(const rt_sweep_param *param) {
  tpe_space sp = {0, 0, 0.0, 0.0, 0};
  switch (param->dist) {
    case RT_DIST_VALUES:
    case RT_DIST_CATEGORICAL:
      sp.categorical = 1;
      sp.k = param->value_count;
      sp.degenerate = sp.k == 0;
      return sp;
    case RT_DIST_UNIFORM:
      sp.lo = param->min;
      sp.range = param->max - param->min;
      break;
    case RT_DIST_LOG_UNIFORM:
      /* min <= 0 (invalid) makes the range NaN or infinite: degenerate below. */
      sp.lo = log(param->min);
      sp.range = log(param->max) - sp.lo;
      break;
    case RT_DIST_INT_UNIFORM:
      sp.lo = (double)param->imin - 0.5;
      sp.range = param->imax >= param->imin ? (double)param->imax - (double)param->imin + 1.0 : 0.0;
      break;
  }
  sp.degenerate = !(sp.range > 0.0) || !isfinite(sp.range) || !isfinite(sp.lo);
  return sp;
}

/* An observed coordinate in the working space: u clamped into [0, 1] (NaN gives 0), or the index
 * rounded and clamped into [0, k). Observations outside the range thus sit on its ends. */
static double observed(const tpe_space *sp, const rt_sweep_param *param, double value) {
  if (sp->categorical) {
    double last = (double)(sp->k - 1);
    if (!(value >= 0.0)) return 0.0;
    if (value >= last) return last;
    return floor(value + 0.5);
  }
  double x = param->dist == RT_DIST_LOG_UNIFORM ? log(value) : value;
  double u = (x - sp->lo) / sp->range;
  if (!(u >= 0.0)) return 0.0;
  if (!(u <= 1.0)) return 1.0;
  return u;
}

/* Gaussian i of the mixture over the observations first..first+count of param p (i == count: the
 * prior): its centre and width. The width is the larger distance to the neighbours among the
 * sorted centres and the ends 0 and 1; centres are sorted by (value, rank), as a stable sort
 * would, so that equal centres are each other's neighbours at distance 0. */
static void component(const tpe_space *sp, const rt_sweep_param *param, const double *const *ranked,
                      size_t p, size_t first, size_t count, size_t i, double *mu, double *sigma) {
  if (i == count) {
    *mu = 0.5;
    *sigma = 1.0;
    return;
  }
  double c = observed(sp, param, ranked[first + i][p]);
  double left = 0.0, right = 1.0;
  for (size_t j = 0; j < count; ++j) {
    if (j == i) continue;
    double o = observed(sp, param, ranked[first + j][p]);
    if (o < c || (o == c && j < i)) {
      if (o > left) left = o;
    } else if (o < right) {
      right = o;
    }
  }
  double width = c - left > right - c ? c - left : right - c;
  double floor_width = 1.0 / (count + 1 < 100 ? (double)(count + 1) : 100.0);
  if (width < floor_width) width = floor_width;
  if (width > 1.0) width = 1.0;
  *mu = c;
  *sigma = width;
}

/* The standard normal distribution function. */
static double normal_cdf(double z) { return 0.5 * erfc(-z * tpe_sqrt1_2); }

/* The Parzen density of the observations first..first+count of param p (with the prior, equal
 * weights, Gaussians truncated to [0, 1]) at u[0..m) into dens[0..m). The prior keeps every
 * density above 0.35 / (count + 1): no underflow, so plain sums will do. */
static void parzen(const tpe_space *sp, const rt_sweep_param *param, const double *const *ranked,
                   size_t p, size_t first, size_t count, const double *u, size_t m, double *dens) {
  for (size_t j = 0; j < m; ++j) dens[j] = 0.0;
  for (size_t i = 0; i <= count; ++i) {
    double mu, sigma;
    component(sp, param, ranked, p, first, count, i, &mu, &sigma);
    double mass = normal_cdf((1.0 - mu) / sigma) - normal_cdf(-mu / sigma);
    double scale = 1.0 / (sigma * tpe_sqrt_2pi * mass);
    for (size_t j = 0; j < m; ++j) {
      double z = (u[j] - mu) / sigma;
      dens[j] += scale * exp(-0.5 * z * z);
    }
  }
  for (size_t j = 0; j < m; ++j) dens[j] /= (double)(count + 1);
}

/* Candidate c's working coordinate for param p, drawn from l (the good observations ranked[0..
 * n_good), n_good = 0 before any observation) with the stream key(c, p): draw 0 picks the
 * component (a good observation, or the prior), draws 1, 2, ... feed Box-Muller pairs until a
 * normal falls inside [0, 1]; after TPE_NORMAL_PAIRS pairs (each normal is accepted with
 * probability at least 0.34, so about one draw in 10^6 gets there) the last one is clamped
 * into [0, 1]. int_uniform returns the u of the rounded integer; a categorical, the index. */
static double draw(const tpe_space *sp, const rt_sweep_param *param, const double *const *ranked,
                   size_t n_good, uint64_t key, size_t c, size_t p) {
  uint64_t stream = rt_key_push(rt_key_push(key, (uint64_t)c), (uint64_t)p);
  if (sp->categorical) {
    /* r < n_good: the category of good observation r; else category r - n_good. Category c
     * thus comes with probability (good with c + 1) / (n_good + K), which is l(c). */
    uint64_t r = rt_rng_below(stream, 0, (uint64_t)(n_good + sp->k));
    if (r < n_good) return observed(sp, param, ranked[r][p]);
    return (double)(r - n_good);
  }
  double mu, sigma;
  component(sp, param, ranked, p, 0, n_good,
            (size_t)rt_rng_below(stream, 0, (uint64_t)(n_good + 1)), &mu, &sigma);
  double u = mu;
  for (uint64_t t = 0; t < TPE_NORMAL_PAIRS; ++t) {
    double u1 = rt_rng_uniform(stream, 1 + 2 * t), u2 = rt_rng_uniform(stream, 2 + 2 * t);
    double radius = sqrt(-2.0 * log(1.0 - u1)); /* 1 - u1 in (0, 1]: finite */
    u = mu + sigma * radius * cos(2.0 * tpe_pi * u2);
    if (u >= 0.0 && u <= 1.0) break;
    u = mu + sigma * radius * sin(2.0 * tpe_pi * u2);
    if (u >= 0.0 && u <= 1.0) break;
  }
  if (!(u >= 0.0)) u = 0.0;
  if (!(u <= 1.0)) u = 1.0;
  if (param->dist == RT_DIST_INT_UNIFORM) {
    double v = floor(sp->lo + u * sp->range + 0.5);
    if (v < (double)param->imin) v = (double)param->imin;
    if (v > (double)param->imax) v = (double)param->imax;
    u = (v - sp->lo) / sp->range;
  }
  return u;
}

/* The point's coordinate for a working coordinate w. */
static double coordinate(const tpe_space *sp, const rt_sweep_param *param, double w) {
  if (sp->categorical) return w;
  double x;
  switch (param->dist) {
    case RT_DIST_LOG_UNIFORM: x = exp(sp->lo + w * sp->range); break;
    case RT_DIST_INT_UNIFORM:
      x = floor(sp->lo + w * sp->range + 0.5);
      if (x < (double)param->imin) x = (double)param->imin;
      if (x > (double)param->imax) x = (double)param->imax;
      return x;
    default: x = sp->lo + w * sp->range; break;
  }
  /* Rounding (and exp) may step just outside the range. */
  if (x < param->min) x = param->min;
  if (x > param->max) x = param->max;
  return x;
}

void rt_tpe_suggest(const rt_sweep_entry *entry, const double *const *ranked, size_t n,
                    double gamma, size_t candidates, uint64_t key, double *point) {
  size_t n_good = 0;
  if (n > 0) {
    /* max(1, ceil(gamma n)), at most n; a NaN gamma gives 1. */
    double want = ceil(gamma * (double)n);
    n_good = 1;
    if (want > 1.0) n_good = want >= (double)n ? n : (size_t)want;
  }
  size_t n_bad = n - n_good;
  /* Without observations the first candidate is taken: no need to draw the others. */
  if (candidates == 0 || n == 0) candidates = 1;

  size_t best = 0;
  double best_score = 0.0;
  for (size_t c0 = 0; c0 < candidates && n > 0; c0 += TPE_BLOCK) {
    size_t m = candidates - c0 < TPE_BLOCK ? candidates - c0 : TPE_BLOCK;
    double score[TPE_BLOCK], w[TPE_BLOCK], l[TPE_BLOCK], g[TPE_BLOCK];
    for (size_t j = 0; j < m; ++j) score[j] = 0.0;
    for (size_t p = 0; p < entry->param_count; ++p) {
      const rt_sweep_param *param = &entry->params[p];
      tpe_space sp = space_of(param);
      if (sp.degenerate) continue;
      /* Scored where they are suggested: int_uniform at the rounded integer (its u). */
      for (size_t j = 0; j < m; ++j) w[j] = draw(&sp, param, ranked, n_good, key, c0 + j, p);
      if (sp.categorical) {
        for (size_t j = 0; j < m; ++j) {
          size_t good = 0, bad = 0;
          for (size_t i = 0; i < n; ++i) {
            if (observed(&sp, param, ranked[i][p]) != w[j]) continue;
            if (i < n_good) {
              ++good;
            } else {
              ++bad;
            }
          }
          score[j] += log((double)(good + 1) / (double)(n_good + sp.k)) -
                      log((double)(bad + 1) / (double)(n_bad + sp.k));
        }
      } else {
        /* With n_bad = 0, g is the mixture of the prior alone. */
        parzen(&sp, param, ranked, p, 0, n_good, w, m, l);
        parzen(&sp, param, ranked, p, n_good, n_bad, w, m, g);
        for (size_t j = 0; j < m; ++j) score[j] += log(l[j]) - log(g[j]);
      }
    }
    /* Strictly larger wins: ties go to the first drawn. */
    for (size_t j = 0; j < m; ++j) {
      if ((c0 == 0 && j == 0) || score[j] > best_score) {
        best = c0 + j;
        best_score = score[j];
      }
    }
  }

  for (size_t p = 0; p < entry->param_count; ++p) {
    const rt_sweep_param *param = &entry->params[p];
    tpe_space sp = space_of(param);
    if (sp.degenerate) {
      point[p] = sp.categorical                       ? 0.0
                 : param->dist == RT_DIST_INT_UNIFORM ? (double)param->imin
                                                      : param->min;
      continue;
    }
    point[p] = coordinate(&sp, param, draw(&sp, param, ranked, n_good, key, best, p));
  }
}
