/* sweep.method: pbt, population-based training (Jaderberg et al., "Population Based Training of
 * Neural Networks", 2017), decided at pass boundaries from values every rank holds, so that the
 * same models copy the same states on any rank count and across a kill and resume.
 *
 * The population is sweep.count models drawn as random, trained together. Step g (g = 1, 2, ...)
 * falls after pass p = g * sweep.pbt.interval, for p below run.passes, once every model has
 * trained pass p: the models are ranked by sweep.metric at pass p (as asha ranks: rt_rank_entry),
 * q = floor(fraction n) (at least 1), and the k-th worst (k = 0..q-1) copies the top member
 * chosen by rt_rng_below(q) of the stream rt_key_push(rt_key_push(rt_key_push(sweep.seed,
 * RT_PBT_STREAM), g), model): exploit. It takes the copied model's state (weights, optimizer
 * moments, step and row counters) and the values of its swept number keys (the `swept` bits),
 * each times (1 - perturb) or (1 + perturb) by draw 0 of the stream
 * rt_key_push(that stream, key index) (the copied value itself where the key refuses the product):
 * explore. What it keeps of its own: its id and RNG key, its pass and cursor, and its histories
 * (training loss and validation sums by pass), which are what later steps rank by. So every step
 * is replayed from the current states and the drawn configs alone: a state records the steps
 * applied to it (rt_state_header.pbt_steps), and the configs after step g follow from the
 * configs before it and the ranking at its pass. */
#ifndef RINGTRAIN_PBT_H
#define RINGTRAIN_PBT_H

#include <stddef.h>
#include <stdint.h>

#include "asha.h"
#include "model.h"
#include "ringtrain/config.h"
#include "ringtrain/status.h"

#define RT_PBT_STREAM 0x706274ULL /* "pbt": purpose tag of its choices */

typedef struct rt_pbt {
  uint64_t interval;
  size_t q;       /* models copied per step (and the top they copy from) */
  double perturb; /* factors 1 - perturb, 1 + perturb */
  uint64_t seed;
  char metric[40]; /* as results rank: "train_loss" or "val_<name>" */
  int maximize;
} rt_pbt;

/* The plan of a config's pbt sweep over n models. */
void rt_pbt_plan(const rt_config *cfg, const rt_model_spec *specs, size_t n, rt_pbt *plan);

/* The same without the metric (what check prints). */
void rt_pbt_plan_of(const rt_config *cfg, size_t n, rt_pbt *plan);

/* The steps a run of `passes` passes takes. */
uint64_t rt_pbt_steps(const rt_pbt *plan, uint64_t passes);

/* One exploit of step g: `model` takes `source`'s state and perturbed config. */
typedef struct rt_pbt_copy {
  size_t model, source;
  double metric, source_metric; /* at the step's pass (NAN: none) */
} rt_pbt_copy;

/* Step g's copies[0..q) (worst first) from the states' own histories at pass g * interval. */
rt_code rt_pbt_decide(const rt_pbt *plan, const rt_model_spec *specs, void *const *states, size_t n,
                      uint64_t g, rt_pbt_copy *copies, rt_status *st);

/* *out = `own` (model's config) with each swept number key set to `source`'s value perturbed for
 * `model` at step g (the rest, its seed among them, stays its own). */
void rt_pbt_perturb(const rt_pbt *plan, uint64_t g, size_t model, const rt_model_config *own,
                    const rt_model_config *source, rt_model_config *out);

/* Copies what a model learns (parameters, optimizer state, step and row counters, the diverged
 * flag) from the state `from` into `to` (the same layout: `spec`'s); the rest of `to` stays. */
void rt_pbt_copy_state(const rt_model_spec *spec, const void *from, void *to);

/* Applies the steps due: step g once every model has trained pass g * interval exactly (none
 * further: a stop inside the next engine call may cut before some start it) and the states
 * record fewer steps; each copying model's config (models[], as trained) and spec (made by
 * spec_of) become the perturbed ones. RT_ERR_CONFIG when a copy would join states of different
 * layouts. */
rt_code rt_pbt_catch_up(const rt_pbt *plan, rt_model_spec *specs, rt_model_config *models, size_t n,
                        void **states, rt_asha_spec_fn spec_of, void *user, rt_status *st);

/* Replays steps 1..steps on the states (their histories): models[] come in as drawn and leave as
 * after the last step, specs[] with them. lineage: when not NULL, *lineage = lineage.csv's text
 * (malloc'd): a line per copy: step, pass, model_id, its metric, copied_from, the copied model's
 * metric, then per swept number key its new value and the value it had (<key>_was). */
rt_code rt_pbt_replay(const rt_pbt *plan, rt_model_spec *specs, rt_model_config *models, size_t n,
                      void *const *states, uint64_t steps, rt_asha_spec_fn spec_of, void *user,
                      char **lineage, rt_status *st);

#endif
