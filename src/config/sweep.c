/* The sweep plan and its expansion (rules in sweep.h). */
#include "sweep.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

const char *rt_sweep_dist_name(rt_sweep_dist dist) {
  switch (dist) {
    case RT_DIST_VALUES: return "values";
    case RT_DIST_UNIFORM: return "uniform";
    case RT_DIST_LOG_UNIFORM: return "log_uniform";
    case RT_DIST_INT_UNIFORM: return "int_uniform";
    case RT_DIST_CATEGORICAL: return "categorical";
  }
  return "unknown";
}

rt_sweep_plan *rt_sweep_plan_new(size_t entries) {
  rt_sweep_plan *plan = calloc(1, sizeof *plan);
  if (!plan) return NULL;
  if (entries) {
    plan->entries = calloc(entries, sizeof *plan->entries);
    if (!plan->entries) {
      free(plan);
      return NULL;
    }
  }
  plan->entry_count = entries;
  for (size_t i = 0; i < entries; ++i) rt_model_config_defaults(&plan->entries[i].base);
  return plan;
}

void rt_sweep_param_clear(rt_sweep_param *param) {
  for (size_t i = 0; i < param->value_count; ++i) free(param->values[i]);
  free(param->values);
  param->values = NULL;
  param->value_count = 0;
}

void rt_sweep_plan_free(rt_sweep_plan *plan) {
  if (!plan) return;
  for (size_t e = 0; e < plan->entry_count; ++e) {
    rt_sweep_entry *entry = &plan->entries[e];
    for (size_t p = 0; p < entry->param_count; ++p) rt_sweep_param_clear(&entry->params[p]);
    free(entry->params);
  }
  free(plan->entries);
  for (size_t i = 0; i < plan->override_count; ++i) free(plan->overrides[i]);
  free(plan->overrides);
  free(plan);
}

void rt_sweep_entry_forget(rt_sweep_entry *entry, const rt_config_key *key) {
  for (size_t p = 0; p < entry->param_count; ++p) {
    if (entry->params[p].key != key) continue;
    rt_sweep_param_clear(&entry->params[p]);
    memmove(&entry->params[p], &entry->params[p + 1],
            (entry->param_count - p - 1) * sizeof entry->params[0]);
    --entry->param_count;
    return;
  }
}

const rt_sweep_param *rt_sweep_entry_find(const rt_sweep_entry *entry, const rt_config_key *key) {
  for (size_t p = 0; p < entry->param_count; ++p)
    if (entry->params[p].key == key) return &entry->params[p];
  return NULL;
}

rt_code rt_sweep_entry_add(rt_sweep_entry *entry, rt_sweep_param *param, rt_status *st) {
  rt_sweep_entry_forget(entry, param->key);
  rt_sweep_param *grown = realloc(entry->params, (entry->param_count + 1) * sizeof *grown);
  if (!grown) {
    rt_sweep_param_clear(param);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "realloc(%zu sweep params) failed", entry->param_count + 1);
  }
  entry->params = grown;
  entry->params[entry->param_count++] = *param;
  param->values = NULL;
  param->value_count = 0;
  return RT_OK;
}

rt_code rt_sweep_plan_record(rt_sweep_plan *plan, const char *assignment, rt_status *st) {
  if (plan->override_count == plan->override_cap) {
    size_t cap = plan->override_cap ? 2 * plan->override_cap : 8;
    char **grown = realloc(plan->overrides, cap * sizeof *grown);
    if (!grown) return RT_FAIL_AT(st, RT_ERR_NOMEM, "realloc(%zu overrides) failed", cap);
    plan->overrides = grown;
    plan->override_cap = cap;
  }
  char *copy = strdup(assignment);
  if (!copy) return RT_FAIL_AT(st, RT_ERR_NOMEM, "strdup failed");
  plan->overrides[plan->override_count++] = copy;
  return RT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Expansion
 * ------------------------------------------------------------------------------------------- */

/* Applies a checked value text; a failure here is a drawn value the key rejects. */
static rt_code apply_value(const rt_sweep_param *param, rt_model_config *model, size_t entry,
                           const char *text, const char *where, rt_status *st) {
  char why[512];
  rt_apply_result r = rt_config_key_apply(param->key, model, text, NULL, why, sizeof why);
  if (r == RT_APPLY_OK) return RT_OK;
  return rt_fail(st, RT_ERR_CONFIG, "%s:%d:%d: models[%zu].%s%s%s (drawn by the sweep)", where,
                 param->line, param->column, entry, param->key->name,
                 r == RT_APPLY_TYPE ? ": " : " ", why);
}

/* The value text of coordinate `coord` of `param` (a point's coordinate: sweep_tpe.h); 0 when
 * it cannot be formatted. */
static int coordinate_text(const rt_sweep_param *param, double coord, char *text, size_t size) {
  switch (param->dist) {
    case RT_DIST_VALUES:
    case RT_DIST_CATEGORICAL: {
      size_t i = coord > 0 ? (size_t)llround(coord) : 0;
      if (i >= param->value_count) i = param->value_count - 1;
      return snprintf(text, size, "%s", param->values[i]) < (int)size;
    }
    case RT_DIST_UNIFORM:
    case RT_DIST_LOG_UNIFORM:
      if (coord < param->min) coord = param->min; /* rounding at the ends */
      if (coord > param->max) coord = param->max;
      if (param->key->type == RT_KEY_INT)
        return snprintf(text, size, "%lld", llround(coord)) < (int)size;
      return rt_config_format_double(coord, text, size);
    case RT_DIST_INT_UNIFORM: {
      long long v = llround(coord);
      if (v < param->imin) v = param->imin;
      if (v > param->imax) v = param->imax;
      return snprintf(text, size, "%lld", v) < (int)size;
    }
  }
  return 0;
}

/* The random draw of `param` for model id: its coordinate and its value text (exact for every
 * int_uniform range, whose coordinate is only the nearest double). */
static int draw_coordinate(const rt_sweep_param *param, uint64_t seed, size_t id, double *coord,
                           char *text, size_t size) {
  const uint64_t key = rt_key_push(rt_key_push(rt_key_push(seed, RT_SWEEP_STREAM), (uint64_t)id),
                                   (uint64_t)rt_model_key_index(param->key));
  *coord = 0.0;
  switch (param->dist) {
    case RT_DIST_VALUES:
    case RT_DIST_CATEGORICAL:
      *coord = (double)rt_rng_below(key, 0, (uint64_t)param->value_count);
      break;
    case RT_DIST_UNIFORM:
    case RT_DIST_LOG_UNIFORM: {
      const double u = rt_rng_uniform(key, 0);
      if (param->dist == RT_DIST_UNIFORM) {
        *coord = param->min + u * (param->max - param->min);
      } else {
        const double lo = log(param->min), hi = log(param->max);
        *coord = exp(lo + u * (hi - lo));
      }
      break;
    }
    case RT_DIST_INT_UNIFORM: {
      const uint64_t span = (uint64_t)param->imax - (uint64_t)param->imin + 1u; /* 0: all 2^64 */
      const uint64_t offset = span ? rt_rng_below(key, 0, span) : rt_rng_u64(key, 0);
      const long long v = (long long)((uint64_t)param->imin + offset);
      *coord = (double)v;
      return snprintf(text, size, "%lld", v) < (int)size;
    }
  }
  return coordinate_text(param, *coord, text, size);
}

/* One random value of `param` for model `id`. */
static rt_code draw_value(const rt_sweep_param *param, uint64_t seed, size_t id, size_t entry,
                          rt_model_config *model, const char *where, rt_status *st) {
  char text[64];
  double coord = 0.0;
  if (!draw_coordinate(param, seed, id, &coord, text, sizeof text))
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "cannot format a drawn value");
  return apply_value(param, model, entry, text, where, st);
}

size_t rt_sweep_entry_of(const rt_sweep_plan *plan, size_t id) {
  return plan->entry_count ? id % plan->entry_count : 0;
}

void rt_sweep_random_point(const rt_sweep_plan *plan, uint64_t seed, size_t id, double *point) {
  const rt_sweep_entry *entry = &plan->entries[rt_sweep_entry_of(plan, id)];
  char text[64];
  for (size_t p = 0; p < entry->param_count; ++p)
    (void)draw_coordinate(&entry->params[p], seed, id, &point[p], text, sizeof text);
}

rt_code rt_sweep_point_apply(const rt_config *cfg, size_t id, const double *point,
                             rt_model_config *model, rt_status *st) {
  const rt_sweep_plan *plan = cfg->sweep_plan;
  const size_t e = rt_sweep_entry_of(plan, id);
  const rt_sweep_entry *entry = &plan->entries[e];
  const char *where = cfg->path[0] ? cfg->path : "<config>";
  *model = cfg->models[id];
  for (size_t p = 0; p < entry->param_count; ++p) {
    char text[64];
    if (!coordinate_text(&entry->params[p], point[p], text, sizeof text))
      return RT_FAIL_AT(st, RT_ERR_INTERNAL, "cannot format a suggested value");
    rt_code rc;
    RT_TRY(rc, apply_value(&entry->params[p], model, e, text, where, st));
  }
  return rt_config_reapply_model_overrides(cfg, id, model, st);
}

static uint64_t swept_bits(const rt_sweep_entry *entry) {
  uint64_t bits = entry->base.swept;
  for (size_t p = 0; p < entry->param_count; ++p)
    bits |= UINT64_C(1) << rt_model_key_index(entry->params[p].key);
  return bits;
}

/* The models of a grid entry (saturating at RT_SWEEP_MODELS_MAX + 1). */
static uint64_t grid_size(const rt_sweep_entry *entry) {
  uint64_t n = 1;
  for (size_t p = 0; p < entry->param_count; ++p) {
    n *= entry->params[p].value_count;
    if (n > RT_SWEEP_MODELS_MAX) return RT_SWEEP_MODELS_MAX + 1;
  }
  return n;
}

rt_code rt_sweep_expand(const rt_config *cfg, const rt_sweep_plan *plan, const char *where,
                        rt_model_config **models_out, size_t *count_out, rt_status *st) {
  *models_out = NULL;
  *count_out = 0;
  const int expanded = cfg->sweep.expanded != 0;
  const int random = !expanded && rt_sweep_method_draws(cfg->sweep.method);
  if (!expanded && cfg->sweep.method == RT_SWEEP_PBT && plan->entry_count > 1)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%s:%d:%d: models: sweep.method: pbt takes one models entry (its population "
                   "shares one kind of state)",
                   where, plan->models_line, plan->models_column);
  /* Method-dependent checks, in the order of the file. */
  for (size_t e = 0; e < plan->entry_count; ++e) {
    const rt_sweep_entry *entry = &plan->entries[e];
    for (size_t p = 0; p < entry->param_count; ++p) {
      const rt_sweep_param *param = &entry->params[p];
      if (expanded)
        return rt_fail(st, RT_ERR_CONFIG,
                       "%s:%d:%d: models[%zu].%s: sweep.expanded is true (the models are already "
                       "expanded), so each key takes one value",
                       where, param->line, param->column, e, param->key->name);
      if (cfg->sweep.method == RT_SWEEP_PBT && param->key->type != RT_KEY_NUMBER)
        return rt_fail(st, RT_ERR_CONFIG,
                       "%s:%d:%d: models[%zu].%s: sweep.method: pbt copies states between its "
                       "models and perturbs numbers, so it sweeps number keys only (learning_rate, "
                       "l2, momentum, ...); give %s one value",
                       where, param->line, param->column, e, param->key->name, param->key->name);
      if (cfg->sweep.method == RT_SWEEP_TPE && strcmp(param->key->name, "normalize") == 0)
        return rt_fail(st, RT_ERR_CONFIG,
                       "%s:%d:%d: models[%zu].normalize: sweep.method: tpe cannot sweep the "
                       "scaling (computed before training starts); give it one value per entry",
                       where, param->line, param->column, e);
      if (!random && param->dist != RT_DIST_VALUES)
        return rt_fail(st, RT_ERR_CONFIG,
                       "%s:%d:%d: models[%zu].%s: a distribution needs sweep.method: random (a "
                       "grid takes lists of values)",
                       where, param->line, param->column, e, param->key->name);
    }
  }
  size_t total = 0;
  if (random) {
    if (cfg->sweep.count <= 0) {
      const int line = plan->sweep_line ? plan->sweep_line : plan->models_line;
      const int column = plan->sweep_line ? plan->sweep_column : plan->models_column;
      return rt_fail(st, RT_ERR_CONFIG,
                     "%s:%d:%d: sweep.count is required with sweep.method: %s (the number of "
                     "models to draw, 1..%d)",
                     where, line, column, rt_sweep_method_name(cfg->sweep.method),
                     RT_SWEEP_MODELS_MAX);
    }
    if (cfg->sweep.count > RT_SWEEP_MODELS_MAX)
      return rt_fail(st, RT_ERR_CONFIG, "%s:%d:%d: sweep.count must be <= %d, got %ld", where,
                     plan->sweep_line, plan->sweep_column, RT_SWEEP_MODELS_MAX, cfg->sweep.count);
    total = (size_t)cfg->sweep.count;
  } else {
    uint64_t sum = 0;
    for (size_t e = 0; e < plan->entry_count && sum <= RT_SWEEP_MODELS_MAX; ++e)
      sum += expanded ? 1 : grid_size(&plan->entries[e]);
    if (sum > RT_SWEEP_MODELS_MAX)
      return rt_fail(st, RT_ERR_CONFIG,
                     "%s:%d:%d: models: the grid expands to more than %d models; sample it with "
                     "sweep.method: random and a sweep.count",
                     where, plan->models_line, plan->models_column, RT_SWEEP_MODELS_MAX);
    total = (size_t)sum;
  }
  if (total == 0)
    return rt_fail(st, RT_ERR_CONFIG, "%s: models: the sweep expands to no models", where);
  rt_model_config *models = calloc(total, sizeof *models);
  if (!models) return RT_FAIL_AT(st, RT_ERR_NOMEM, "calloc(%zu model configs) failed", total);
  rt_code rc = RT_OK;
  if (random) {
    const size_t entries = plan->entry_count;
    for (size_t id = 0; id < total && rc == RT_OK; ++id) {
      const rt_sweep_entry *entry = &plan->entries[id % entries];
      rt_model_config *m = &models[id];
      *m = entry->base;
      m->swept = swept_bits(entry);
      for (size_t p = 0; p < entry->param_count && rc == RT_OK; ++p)
        rc = draw_value(&entry->params[p], cfg->sweep.seed, id, id % entries, m, where, st);
    }
  } else {
    size_t id = 0;
    for (size_t e = 0; e < plan->entry_count && rc == RT_OK; ++e) {
      const rt_sweep_entry *entry = &plan->entries[e];
      const uint64_t n = grid_size(entry);
      const uint64_t bits = swept_bits(entry);
      for (uint64_t t = 0; t < n && rc == RT_OK; ++t, ++id) {
        rt_model_config *m = &models[id];
        *m = entry->base;
        m->swept = bits;
        /* Mixed radix, the last-listed key the fastest digit. */
        uint64_t rest = t;
        for (size_t p = entry->param_count; p-- > 0 && rc == RT_OK;) {
          const rt_sweep_param *param = &entry->params[p];
          const size_t which = (size_t)(rest % param->value_count);
          rest /= param->value_count;
          rc = apply_value(param, m, e, param->values[which], where, st);
        }
      }
    }
  }
  if (rc != RT_OK) {
    free(models);
    return rc;
  }
  *models_out = models;
  *count_out = total;
  return RT_OK;
}
