/* Private to the config code: the `models:` entries as written (fixed keys applied to a base
 * model, swept keys kept as value lists or distributions) and their expansion into the list of
 * models trained. The plan lives in rt_config.sweep_plan so that --set sweep.* can expand again.
 *
 * Expansion (deterministic: a function of the entries, sweep.method/count/seed only):
 *  - sweep.expanded: true: every entry is one model, as written (swept keys are errors).
 *  - grid: entry by entry, in order, the Cartesian product of the entry's value lists; the
 *    first-listed key varies slowest (the last-listed fastest), keys merged in with '<<' count
 *    as listed before the entry's own keys. An entry without lists is one model. Distributions
 *    are errors. At most RT_SWEEP_MODELS_MAX models in all.
 *  - random: sweep.count models in all, dealt to the entries round-robin: model id m comes from
 *    entry m mod E (E entries; entries past the count get none). Every swept key of the entry
 *    draws independently from the counter-based stream
 *      rt_key_push(rt_key_push(rt_key_push(sweep.seed, RT_SWEEP_STREAM), m), key index)
 *    (key index = the key's bit in rt_model_config.swept), draw 0: a list or categorical takes
 *    value rt_rng_below(n); uniform = min + u (max - min); log_uniform = exp(log min +
 *    u (log max - log min)); int_uniform = min + rt_rng_below(max - min + 1), inclusive; with
 *    u = rt_rng_uniform. Integer keys round uniform and log_uniform draws to the nearest integer.
 *    Every drawn value goes through the key table like a written one.
 * Every model records the keys its entry swept in rt_model_config.swept. */
#ifndef RINGTRAIN_SWEEP_H
#define RINGTRAIN_SWEEP_H

#include <stddef.h>
#include <stdint.h>

#include "config_internal.h"
#include "ringtrain/config.h"
#include "ringtrain/status.h"

#define RT_SWEEP_STREAM 0x7377656570ULL /* "sweep": purpose tag of the draws */

typedef enum rt_sweep_dist {
  RT_DIST_VALUES = 0,  /* a list of values (a plain YAML list or {values: [...]}) */
  RT_DIST_UNIFORM,     /* {distribution: uniform, min, max} */
  RT_DIST_LOG_UNIFORM, /* {distribution: log_uniform, min, max}, 0 < min */
  RT_DIST_INT_UNIFORM, /* {distribution: int_uniform, min, max}, integers, inclusive */
  RT_DIST_CATEGORICAL  /* {distribution: categorical, values: [...]} */
} rt_sweep_dist;

/* "values", "uniform", "log_uniform", "int_uniform", "categorical". */
const char *rt_sweep_dist_name(rt_sweep_dist dist);

typedef struct rt_sweep_param {
  const rt_config_key *key; /* a model key */
  rt_sweep_dist dist;
  char **values; /* RT_DIST_VALUES, RT_DIST_CATEGORICAL: value texts (checked) */
  size_t value_count;
  double min, max;      /* uniform, log_uniform (valid values of the key, min <= max) */
  long long imin, imax; /* int_uniform */
  int line, column;     /* the list or the distribution mapping, 1-based */
} rt_sweep_param;

typedef struct rt_sweep_entry {
  rt_model_config base;   /* defaults and the fixed keys; line/column = the entry */
  rt_sweep_param *params; /* the swept keys, in the order given */
  size_t param_count;
} rt_sweep_entry;

struct rt_sweep_plan {
  rt_sweep_entry *entries;
  size_t entry_count;
  int models_line, models_column; /* the models: list */
  int sweep_line, sweep_column;   /* the sweep: section; 0 when there is none */
  char **overrides;               /* models.* --set assignments, applied again after each
                                     re-expansion, in order */
  size_t override_count, override_cap;
  char pending[RT_MESSAGE_MAX]; /* "" or why the entries cannot be expanded with the sweep
                                     settings given so far (random without a count, ...):
                                     cfg->models is then empty or stale, a later sweep override
                                     tries again, and rt_config_validate reports it */
};
typedef struct rt_sweep_plan rt_sweep_plan;

/* A plan with `entries` entries, each with default base models (NULL: out of memory). */
rt_sweep_plan *rt_sweep_plan_new(size_t entries);
void rt_sweep_plan_free(rt_sweep_plan *plan);

/* Frees what a param owns. */
void rt_sweep_param_clear(rt_sweep_param *param);
/* Adds `param` to the entry (taking what it owns, also on failure), replacing an earlier param
 * of the same key (a merged '<<' value overridden by the entry's own). */
rt_code rt_sweep_entry_add(rt_sweep_entry *entry, rt_sweep_param *param, rt_status *st);
/* Drops the param of `key`, if any: the key was then given one value. */
void rt_sweep_entry_forget(rt_sweep_entry *entry, const rt_config_key *key);
/* The param of `key`, or NULL. */
const rt_sweep_param *rt_sweep_entry_find(const rt_sweep_entry *entry, const rt_config_key *key);

/* Records a models.* --set assignment to apply again after a re-expansion. */
rt_code rt_sweep_plan_record(rt_sweep_plan *plan, const char *assignment, rt_status *st);

/* The entry of model `id` of a drawing sweep (random, asha, hyperband, tpe): id mod entries. */
size_t rt_sweep_entry_of(const rt_sweep_plan *plan, size_t id);
/* Model id's random draw as a point (sweep_tpe.h: one coordinate per param of its entry). */
void rt_sweep_random_point(const rt_sweep_plan *plan, uint64_t seed, size_t id, double *point);
/* *model = cfg->models[id] with its entry's swept keys set from `point` (each value through the
 * key table, integer keys rounded), then the models.* --set assignments that name it applied
 * again (cfg->sweep_plan must exist). */
rt_code rt_sweep_point_apply(const rt_config *cfg, size_t id, const double *point,
                             rt_model_config *model, rt_status *st);

/* Expands the plan as cfg->sweep says into a new malloc'd array (*models, *count); messages
 * start with "where:line:column: ". cfg->models is not touched. */
rt_code rt_sweep_expand(const rt_config *cfg, const rt_sweep_plan *plan, const char *where,
                        rt_model_config **models, size_t *count, rt_status *st);

#endif
