/* Population-based training's steps, replayable from the states (pbt.h). */
#include "pbt.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asha.h"
#include "config_internal.h"
#include "rng.h"

void rt_pbt_plan(const rt_config *cfg, const rt_model_spec *specs, size_t n, rt_pbt *plan) {
  rt_pbt_plan_of(cfg, n, plan);
  plan->maximize = rt_rank_metric(cfg, specs, n, plan->metric, sizeof plan->metric);
}

void rt_pbt_plan_of(const rt_config *cfg, size_t n, rt_pbt *plan) {
  memset(plan, 0, sizeof *plan);
  plan->interval = (uint64_t)cfg->sweep.pbt_interval;
  plan->q = (size_t)floor(cfg->sweep.pbt_fraction * (double)n);
  if (plan->q < 1) plan->q = 1;
  if (2 * plan->q > n) plan->q = n / 2; /* bottom and top apart (0 for a single model) */
  plan->perturb = cfg->sweep.pbt_perturb;
  plan->seed = cfg->sweep.seed;
}

uint64_t rt_pbt_steps(const rt_pbt *plan, uint64_t passes) {
  return passes > 0 ? (passes - 1) / plan->interval : 0;
}

/* The stream of step g's choices for `model`. */
static uint64_t choice_key(const rt_pbt *plan, uint64_t g, size_t model) {
  return rt_key_push(rt_key_push(rt_key_push(plan->seed, RT_PBT_STREAM), g), (uint64_t)model);
}

rt_code rt_pbt_decide(const rt_pbt *plan, const rt_model_spec *specs, void *const *states, size_t n,
                      uint64_t g, rt_pbt_copy *copies, rt_status *st) {
  const uint64_t p = g * plan->interval;
  rt_rank_entry *order = malloc((n ? n : 1) * sizeof *order);
  if (!order) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot rank %zu models", n);
  for (size_t j = 0; j < n; ++j)
    order[j] = rt_rank_entry_at(plan->metric, plan->maximize, &specs[j], states[j], j, p);
  qsort(order, n, sizeof *order, rt_rank_entry_cmp);
  for (size_t k = 0; k < plan->q; ++k) {
    rt_pbt_copy *c = &copies[k];
    c->model = order[n - 1 - k].j;
    c->source = order[rt_rng_below(choice_key(plan, g, c->model), 0, plan->q)].j;
    c->metric = rt_metric_at(plan->metric, &specs[c->model], states[c->model], p);
    c->source_metric = rt_metric_at(plan->metric, &specs[c->source], states[c->source], p);
  }
  free(order);
  return RT_OK;
}

void rt_pbt_perturb(const rt_pbt *plan, uint64_t g, size_t model, const rt_model_config *own,
                    const rt_model_config *source, rt_model_config *out) {
  *out = *own;
  const uint64_t stream = choice_key(plan, g, model);
  for (size_t i = 0; i < rt_model_key_count(); ++i) {
    if (!(source->swept >> i & 1u)) continue;
    const rt_config_key *key = rt_config_key_find(RT_SECTION_MODEL, rt_model_key_name(i));
    char was[64], text[64], why[256];
    double v;
    if (!key || key->type != RT_KEY_NUMBER || !rt_config_key_format(key, source, was, sizeof was) ||
        !rt_config_parse_number(was, &v))
      continue;
    const double factor = rt_rng_below(rt_key_push(stream, (uint64_t)i), 0, 2)
                              ? 1.0 + plan->perturb
                              : 1.0 - plan->perturb;
    /* The product, or the copied value itself where the key refuses the product. */
    if (!rt_config_format_double(v * factor, text, sizeof text) ||
        rt_config_key_apply(key, out, text, NULL, why, sizeof why) != RT_APPLY_OK)
      (void)rt_config_key_apply(key, out, was, NULL, why, sizeof why);
  }
}

void rt_pbt_copy_state(const rt_model_spec *spec, const void *from, void *to) {
  const rt_state_layout l = rt_state_layout_of(spec);
  const rt_state_header *f = from;
  rt_state_header *t = to;
  t->step = f->step;
  t->samples = f->samples;
  t->diverged = f->diverged;
  /* Parameters and optimizer state: from the parameters' offset to the end. */
  memcpy((char *)to + l.params_offset, (const char *)from + l.params_offset,
         l.total_bytes - l.params_offset);
}

/* The swept number keys of `m` (their key-table indices), at most cap; returns how many. */
static size_t number_keys(const rt_model_config *m, size_t *index, size_t cap) {
  size_t k = 0;
  for (size_t i = 0; i < rt_model_key_count() && k < cap; ++i) {
    if (!(m->swept >> i & 1u)) continue;
    const rt_config_key *key = rt_config_key_find(RT_SECTION_MODEL, rt_model_key_name(i));
    if (key && key->type == RT_KEY_NUMBER) index[k++] = i;
  }
  return k;
}

/* One step's copies: configs, specs and (apply_states) the states. */
static rt_code apply_step(const rt_pbt *plan, rt_model_spec *specs, rt_model_config *models,
                          size_t n, void **states, uint64_t g, int apply_states,
                          rt_asha_spec_fn spec_of, void *user, FILE *lineage, rt_status *st) {
  rt_pbt_copy *copies = malloc((plan->q ? plan->q : 1) * sizeof *copies);
  if (!copies) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate %zu copies", plan->q);
  rt_code rc = rt_pbt_decide(plan, specs, states, n, g, copies, st);
  for (size_t k = 0; rc == RT_OK && k < plan->q; ++k) {
    const rt_pbt_copy *c = &copies[k];
    const rt_model_config was = models[c->model];
    rt_model_config next;
    rt_model_spec spec;
    rt_pbt_perturb(plan, g, c->model, &was, &models[c->source], &next);
    if ((rc = spec_of(user, c->model, &next, &spec, st))) break;
    models[c->model] = next;
    const size_t bytes = rt_state_layout_of(&spec).total_bytes;
    if (bytes != rt_state_layout_of(&specs[c->source]).total_bytes ||
        bytes != rt_state_layout_of(&specs[c->model]).total_bytes) {
      rc = rt_fail(st, RT_ERR_CONFIG,
                   "pbt: model %zu cannot take the state of model %zu: their states differ in "
                   "size (give the swept keys values that keep the same optimizer state)",
                   c->model, c->source);
      break;
    }
    specs[c->model] = spec;
    if (apply_states) rt_pbt_copy_state(&spec, states[c->source], states[c->model]);
    if (lineage) {
      fprintf(lineage, "%" PRIu64 ",%" PRIu64 ",%zu,%.17g,%zu,%.17g", g, g * plan->interval,
              c->model, c->metric, c->source, c->source_metric);
      size_t index[64];
      const size_t keys = number_keys(&was, index, 64);
      for (size_t i = 0; i < keys; ++i) {
        const rt_config_key *key =
            rt_config_key_find(RT_SECTION_MODEL, rt_model_key_name(index[i]));
        char now[64] = "", before[64] = "";
        (void)rt_config_key_format(key, &next, now, sizeof now);
        (void)rt_config_key_format(key, &was, before, sizeof before);
        fprintf(lineage, ",%s,%s", now, before);
      }
      fputc('\n', lineage);
    }
  }
  free(copies);
  return rc;
}

rt_code rt_pbt_catch_up(const rt_pbt *plan, rt_model_spec *specs, rt_model_config *models, size_t n,
                        void **states, rt_asha_spec_fn spec_of, void *user, rt_status *st) {
  if (plan->q == 0) return RT_OK;
  for (;;) {
    for (size_t j = 0; j < n; ++j)
      if (!states[j]) return RT_OK; /* not started */
    const uint64_t g = rt_state_head(states[0])->pbt_steps + 1, p = g * plan->interval;
    if (g > rt_pbt_steps(plan, specs[0].passes)) return RT_OK;
    for (size_t j = 0; j < n; ++j) {
      const rt_state_header *h = rt_state_head(states[j]);
      if (h->pbt_steps != g - 1)
        return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                          "pbt: model %zu has %" PRIu64 " steps, model 0 %" PRIu64, j, h->pbt_steps,
                          g - 1);
      if (h->pass != p || h->position || h->batch_cursor) return RT_OK; /* not at its pass */
    }
    rt_code rc;
    RT_TRY(rc, apply_step(plan, specs, models, n, states, g, 1, spec_of, user, NULL, st));
    for (size_t j = 0; j < n; ++j) rt_state_head(states[j])->pbt_steps = g;
  }
}

rt_code rt_pbt_replay(const rt_pbt *plan, rt_model_spec *specs, rt_model_config *models, size_t n,
                      void *const *states, uint64_t steps, rt_asha_spec_fn spec_of, void *user,
                      char **lineage, rt_status *st) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = NULL;
  if (lineage) {
    *lineage = NULL;
    if (!(f = open_memstream(&text, &len)))
      return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot open the lineage text");
    fprintf(f, "step,pass,model_id,%s,copied_from,source_%s", plan->metric, plan->metric);
    size_t index[64];
    const size_t keys = n ? number_keys(&models[0], index, 64) : 0;
    for (size_t i = 0; i < keys; ++i)
      fprintf(f, ",%s,%s_was", rt_model_key_name(index[i]), rt_model_key_name(index[i]));
    fputc('\n', f);
  }
  rt_code rc = RT_OK;
  for (uint64_t g = 1; rc == RT_OK && g <= steps && plan->q; ++g)
    rc = apply_step(plan, specs, models, n, (void **)states, g, 0, spec_of, user, f, st);
  if (f && fclose(f) != 0 && rc == RT_OK)
    rc = RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot write the lineage text");
  if (lineage && rc == RT_OK) *lineage = text;
  else free(text);
  return rc;
}
