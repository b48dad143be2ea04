/* Test helpers for the fused group operations of a family (model.h: group_floats, group_gather,
 * group_batch, group_scatter): train members in one group and each member alone (a group of one)
 * on the same batches, through the group operations directly (as the CPU backend drives them) and
 * through the backend's driver rt_cpu_integrate_group_visit, and require every member's state to
 * be the same bytes both ways (parameters, optimizer state, header and loss sums).
 * Header-only, static inline, as test_util.h. */
#ifndef RINGTRAIN_TEST_GROUP_UTIL_H
#define RINGTRAIN_TEST_GROUP_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "model.h"
#include "rng.h"
#include "test_util.h"

/* Member j's spec in a group of m (members differ in every hyper-parameter a group allows). */
typedef rt_model_spec (*tg_spec_fn)(size_t j, size_t m);

typedef struct tg_data {
  size_t rows, features;
  float *x, *y; /* x 64-byte aligned */
} tg_data;

/* rows x features inputs in [-1, 1) and targets from label(key, row). */
static inline tg_data tg_data_make(size_t rows, size_t features, uint64_t key, size_t classes) {
  tg_data t = {rows, features, NULL, NULL};
  t.x = aligned_alloc(64, 64 * ((rows * features * sizeof(float) + 63) / 64));
  t.y = malloc((rows ? rows : 1) * sizeof(float));
  assert_non_null(t.x);
  assert_non_null(t.y);
  for (size_t i = 0; i < rows * features; ++i) t.x[i] = 2.0f * rt_rng_uniform_f(key, i) - 1.0f;
  for (size_t i = 0; i < rows; ++i)
    t.y[i] = classes ? (float)rt_rng_below(key + 1, i, classes)
                     : 3.0f * rt_rng_uniform_f(key + 2, i) - 1.0f;
  return t;
}

static inline void tg_data_free(tg_data *t) { free(t->x), free(t->y); }

/* The fresh states of m members (specs from f), ids 0..m-1 so that their initial weights differ,
 * all with the same rng_key (the batch order of the driver, which a group shares). */
static inline void tg_states(tg_spec_fn f, size_t m, rt_model_spec *specs, void **states,
                             size_t *bytes) {
  for (size_t j = 0; j < m; ++j) {
    specs[j] = f(j, m);
    specs[j].id = j;
    rt_status st;
    assert_int_equal(rt_state_create(&specs[j], &states[j], &bytes[j], &st), RT_OK);
    rt_state_head(states[j])->rng_key = 0x5eedULL;
  }
}

static inline void *tg_copy(const void *state, size_t bytes) {
  void *c = aligned_alloc(RT_STATE_ALIGN, bytes);
  assert_non_null(c);
  memcpy(c, state, bytes);
  return c;
}

/* The group operations over the data in consecutive batches of batch_size rows (the last one
 * partial), as the backend drives them: gather once, a batch for every member with the steps and
 * active flags of their headers (a non-finite loss marks a member diverged), scatter once. The
 * loss of member i at batch k goes to losses[k * m + i] (0 where not active). */
static inline void tg_run_ops(const rt_family *fam, const rt_model_spec *const *specs, size_t m,
                              void *const *states, const tg_data *t, double *losses) {
  const size_t batch = (size_t)specs[0]->hp.batch_size;
  const size_t nb = (t->rows + batch - 1) / batch;
  float *g = malloc(fam->group_floats(specs, m, batch) * sizeof(float));
  uint64_t *steps = malloc(m * sizeof *steps);
  unsigned char *active = malloc(m);
  double *loss = malloc(m * sizeof *loss);
  assert_true(g && steps && active && loss);
  fam->group_gather(specs, m, states, g);
  for (size_t k = 0; k < nb; ++k) {
    const size_t first = k * batch, rows = first + batch <= t->rows ? batch : t->rows - first;
    for (size_t i = 0; i < m; ++i) {
      const rt_state_header *h = rt_state_head(states[i]);
      active[i] = !h->diverged;
      steps[i] = h->step;
      loss[i] = 0.0;
    }
    fam->group_batch(specs, m, g, t->x + first * t->features, t->y + first, rows, steps, active,
                     loss);
    for (size_t i = 0; i < m; ++i) {
      rt_state_header *h = rt_state_head(states[i]);
      if (active[i] && !isfinite(loss[i])) h->diverged = 1;
      losses[k * m + i] = active[i] ? loss[i] : 0.0;
      h->step++;
    }
  }
  fam->group_scatter(specs, m, g, states);
  free(g), free(steps), free(active), free(loss);
}

/* Stops the driver after *left more batches (then says stop until reset). */
static inline int tg_stop_after(void *user) {
  size_t *left = user;
  if (*left == 0) return 1;
  --*left;
  return 0;
}

/* One shard visit through rt_cpu_integrate_group_visit; with cut > 0 it is stopped after cut
 * batches and continued by a second call (a stop and resume that cut the group mid-visit). */
static inline void tg_run_driver(const rt_family *fam, const rt_model_spec *const *specs, size_t m,
                                 void *const *states, const tg_data *t, size_t cut) {
  rt_shard shard = {.rows = t->rows, .features = t->features, .x = t->x, .y = t->y};
  rt_cpu_scratch scratch;
  memset(&scratch, 0, sizeof scratch);
  rt_status st;
  int complete = 0;
  size_t left = cut;
  assert_int_equal(rt_cpu_integrate_group_visit(specs, fam, states, m, &shard, 0, &scratch,
                                                cut ? tg_stop_after : NULL, &left, &complete, &st),
                   RT_OK);
  if (cut) {
    assert_int_equal(complete, 0);
    assert_int_equal(rt_state_head(states[0])->batch_cursor, cut);
    assert_int_equal(rt_cpu_integrate_group_visit(specs, fam, states, m, &shard, 0, &scratch, NULL,
                                                  NULL, &complete, &st),
                     RT_OK);
  }
  assert_int_equal(complete, 1);
  rt_cpu_scratch_free(&scratch);
}

/* Member i's state in the group against its state alone; names the member and what differs. */
static inline void tg_assert_same(const rt_model_spec *spec, const void *group, const void *solo,
                                  size_t bytes, size_t i, size_t m) {
  const rt_state_layout l = rt_state_layout_of(spec);
  const char *a = group, *b = solo;
  if (memcmp(a + l.params_offset, b + l.params_offset, l.param_count * sizeof(float)) != 0)
    fail_msg("member %zu of %zu: parameters differ from its solo run", i, m);
  if (memcmp(a + l.aux_offset, b + l.aux_offset, l.aux_count * sizeof(float)) != 0)
    fail_msg("member %zu of %zu: optimizer state differs from its solo run", i, m);
  if (memcmp(a, b, bytes) != 0) fail_msg("member %zu of %zu: state bytes differ", i, m);
}

/* The whole check for a group of m: members start from distinct initial weights; member
 * `inactive` (m when none) is diverged before the start and must not change at all; the group
 * through the operations and through the driver (cut: see tg_run_driver) against each member
 * alone. *diverged gets how many members diverged during the run. */
static inline void tg_check_group(const rt_family *fam, tg_spec_fn f, size_t m, const tg_data *t,
                                  size_t inactive, size_t cut, size_t *diverged) {
  rt_model_spec *specs = calloc(m, sizeof *specs);
  const rt_model_spec **sp = calloc(m, sizeof *sp);
  void **group = calloc(m, sizeof *group), **drv = calloc(m, sizeof *drv);
  size_t *bytes = calloc(m, sizeof *bytes);
  const size_t batch = (size_t)f(0, m).hp.batch_size, nb = (t->rows + batch - 1) / batch;
  double *gl = calloc(nb * m, sizeof *gl), *sl = calloc(nb, sizeof *sl);
  assert_true(specs && sp && group && drv && bytes && gl && sl);
  tg_states(f, m, specs, group, bytes);
  for (size_t i = 0; i < m; ++i) sp[i] = &specs[i];
  if (inactive < m) rt_state_head(group[inactive])->diverged = 1;
  for (size_t i = 0; i < m; ++i) drv[i] = tg_copy(group[i], bytes[i]);
  void *untouched = inactive < m ? tg_copy(group[inactive], bytes[inactive]) : NULL;
  tg_run_ops(fam, sp, m, group, t, gl);
  tg_run_driver(fam, sp, m, drv, t, cut);
  *diverged = 0;
  for (size_t i = 0; i < m; ++i) {
    void *solo = NULL, *solo_drv = NULL;
    size_t b = 0;
    rt_status st;
    assert_int_equal(rt_state_create(&specs[i], &solo, &b, &st), RT_OK);
    rt_state_head(solo)->rng_key = 0x5eedULL;
    if (i == inactive) rt_state_head(solo)->diverged = 1;
    solo_drv = tg_copy(solo, b);
    tg_run_ops(fam, &sp[i], 1, &solo, t, sl);
    for (size_t k = 0; k < nb; ++k)
      if (memcmp(&gl[k * m + i], &sl[k], sizeof sl[k]) != 0)
        fail_msg("member %zu of %zu: loss of batch %zu is %.17g, alone %.17g", i, m, k,
                 gl[k * m + i], sl[k]);
    tg_assert_same(&specs[i], group[i], solo, b, i, m);
    tg_run_driver(fam, &sp[i], 1, &solo_drv, t, 0); /* alone, not stopped */
    tg_assert_same(&specs[i], drv[i], solo_drv, b, i, m);
    if (i != inactive) *diverged += rt_state_head(group[i])->diverged != 0;
    rt_state_free(solo), rt_state_free(solo_drv);
  }
  if (untouched) { /* headers advance their counters; parameters and optimizer state stay */
    const rt_state_layout l = rt_state_layout_of(&specs[inactive]);
    const size_t o = l.params_offset, n = l.total_bytes - l.params_offset;
    assert_memory_equal((char *)group[inactive] + o, (char *)untouched + o, n);
    assert_memory_equal((char *)drv[inactive] + o, (char *)untouched + o, n);
  }
  for (size_t i = 0; i < m; ++i) rt_state_free(group[i]), rt_state_free(drv[i]);
  free(untouched), free(specs), free(sp), free(group), free(drv), free(bytes), free(gl), free(sl);
}

#endif /* RINGTRAIN_TEST_GROUP_UTIL_H */
