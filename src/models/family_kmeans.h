/* The kmeans family's rules and aux layout, in one place for the CPU family (family_kmeans.c), the
 * CUDA kernels (cuda/family_kmeans.cu) and the tests: which passes are Lloyd steps, how many
 * k-means++ candidates each centre gets, and where each double of the aux area lives.
 *
 * aux, read as doubles (2 floats per double; the area is 64-byte aligned):
 *   [0, k)            counts      Sculley's per-centre counts (mini-batch passes)
 *   k                 seen        rows integrated by mini-batch passes
 * Models with Lloyd passes (rt_kmeans_lloyd_passes > 0) only, so that mini-batch models keep the
 * layout (and model files) they always had:
 *   k + 1             lloyd_now   1 while the current pass is a Lloyd step, else 0 (set at the
 *                                 start and by every pass end, from rt_kmeans_lloyd_pass)
 *   k + 2             far_dist    the largest nearest squared distance of a row seen in this
 *                                 Lloyd pass (0: none yet); that row is far_row
 *   [k + 3, 2k + 3)   lloyd_counts  rows assigned to each centre in this Lloyd pass
 *   [2k + 3, +k d)    sums        per-centre feature sums of those rows, centre-major
 *   [.., +d)          far_row     the row of far_dist, as doubles (exact copies of floats)
 * A Lloyd pass only accumulates; the pass end (the family's pass_end hook) moves every centre to
 * the mean of its rows and zeroes the accumulators. */
#ifndef RINGTRAIN_FAMILY_KMEANS_H
#define RINGTRAIN_FAMILY_KMEANS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* How many of the spec's passes are Lloyd steps (the last ones): all of them with algorithm
 * lloyd, else lloyd_passes (at most passes; the config check refuses more). */
static inline uint64_t rt_kmeans_lloyd_passes(const rt_model_spec *spec) {
  if (spec->hp.algorithm == RT_KMEANS_LLOYD) return spec->passes;
  const uint64_t n = spec->hp.lloyd_passes > 0 ? (uint64_t)spec->hp.lloyd_passes : 0;
  return n < spec->passes ? n : spec->passes;
}

/* Whether 0-based pass `pass` is a Lloyd step. */
static inline int rt_kmeans_lloyd_pass(const rt_model_spec *spec, uint64_t pass) {
  const uint64_t n = rt_kmeans_lloyd_passes(spec);
  return n > 0 && pass < spec->passes && pass >= spec->passes - n;
}

/* Rows seen per centre (on average) before a centre that never won a row counts as dead and is
 * re-seeded (the mini-batch update's dead-centre rule). */
#define RT_KMEANS_DEAD_ROWS_PER_CENTRE 10.0

/* Candidates drawn per k-means++ centre: init_trials, or 2 + floor(ln k) when it is 0 (auto). */
static inline size_t rt_kmeans_init_trials(const rt_model_spec *spec) {
  if (spec->hp.init_trials > 0) return (size_t)spec->hp.init_trials;
  const double k = spec->hp.k > 1 ? (double)spec->hp.k : 1.0;
  return 2 + (size_t)floor(log(k));
}

/* Offsets (in doubles) into the aux area of a model with k centres and d features. */
typedef struct rt_kmeans_aux_layout {
  size_t counts, seen;                                     /* every model */
  size_t lloyd_now, far_dist, lloyd_counts, sums, far_row; /* models with Lloyd passes */
  size_t doubles;                                          /* the whole area */
} rt_kmeans_aux_layout;

static inline rt_kmeans_aux_layout rt_kmeans_aux_of(const rt_model_spec *spec) {
  const size_t k = spec->hp.k > 0 ? (size_t)spec->hp.k : 0, d = spec->problem.features;
  rt_kmeans_aux_layout a;
  a.counts = 0;
  a.seen = k;
  a.lloyd_now = k + 1;
  a.far_dist = k + 2;
  a.lloyd_counts = k + 3;
  a.sums = 2 * k + 3;
  a.far_row = a.sums + k * d;
  a.doubles = rt_kmeans_lloyd_passes(spec) > 0 ? a.far_row + d : k + 1;
  return a;
}

#endif
