/* Asynchronous successive halving replayed from the states (asha.h). */
#include "asha.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "results.h"
#include "rng.h"
#include "sweep.h"
#include "sweep_tpe.h"

int rt_rank_metric(const rt_config *cfg, const rt_model_spec *specs, size_t n, char *metric,
                   size_t size) {
  const char *const *names = NULL;
  const rt_family *fam = n ? rt_family_find(specs[0].hp.kind) : NULL;
  const int has = fam && rt_family_metric_names(fam, &specs[0], &names) > 0;
  rt_sweep_metric_of(cfg, has ? names[0] : NULL, metric, size); /* results' */
  return rt_sweep_goal_resolve(cfg->sweep.goal, metric) == RT_GOAL_MAXIMIZE;
}

void rt_asha_plan(const rt_config *cfg, const rt_model_spec *specs, size_t n, rt_asha *plan) {
  (void)rt_asha_plan_of(cfg, n, plan);
  plan->maximize = rt_rank_metric(cfg, specs, n, plan->metric, sizeof plan->metric);
}

size_t rt_asha_plan_of(const rt_config *cfg, size_t n, rt_asha *plan) {
  memset(plan, 0, sizeof *plan);
  plan->min_passes = (uint64_t)cfg->sweep.asha_min_passes;
  plan->eta = (uint64_t)cfg->sweep.asha_eta;
  plan->parallel =
      cfg->sweep.parallel > 0 && (size_t)cfg->sweep.parallel < n ? (size_t)cfg->sweep.parallel : n;
  plan->brackets = 1;
  plan->halving = rt_sweep_halves(cfg);
  if (cfg->sweep.method == RT_SWEEP_TPE && !cfg->sweep.expanded && cfg->sweep_plan) {
    plan->tpe = 1;
    plan->startup = (size_t)cfg->sweep.tpe_startup;
    plan->gamma = cfg->sweep.tpe_gamma;
    plan->candidates = (size_t)cfg->sweep.tpe_candidates;
    plan->seed = cfg->sweep.seed;
    plan->cfg = cfg;
  }
  if (cfg->sweep.method == RT_SWEEP_HYPERBAND) {
    uint64_t rungs[64];
    plan->brackets = rt_asha_rungs(plan, (uint64_t)cfg->run.passes, rungs, 64) + 1;
  }
  return plan->brackets;
}

size_t rt_tpe_rounds(const rt_asha *plan, size_t n) {
  if (!plan->tpe || n <= plan->startup) return 0;
  return (n - plan->startup + plan->parallel - 1) / plan->parallel;
}

size_t rt_asha_rungs(const rt_asha *plan, uint64_t passes, uint64_t *rungs, size_t cap) {
  size_t k = 0;
  if (!plan->halving) return 0;
  for (uint64_t r = plan->min_passes; r < passes && k < cap; r *= plan->eta) {
    rungs[k++] = r;
    if (r > UINT64_MAX / plan->eta) break;
  }
  return k;
}

uint64_t rt_asha_max_work(const rt_asha *plan, size_t n, uint64_t passes) {
  uint64_t rungs[64];
  const size_t k = rt_asha_rungs(plan, passes, rungs, 64);
  uint64_t work = 0;
  for (size_t b = 0; b < plan->brackets; ++b) {
    uint64_t reach = n / plan->brackets + (b < n % plan->brackets), before = 0;
    for (size_t i = b < k ? b : k; i <= k; ++i) {
      const uint64_t at = i < k ? rungs[i] : passes;
      work += reach * (at - before);
      before = at;
      /* Every model in a place at once: a rung's models arrive together, floor(n / eta) go on.
       * Else a model arriving later and better goes on too: all but the eta - 1 first may. */
      if (plan->parallel >= n) reach /= plan->eta;
      else reach = reach > plan->eta - 1 ? reach - (plan->eta - 1) : 0;
    }
  }
  return work;
}

enum { NEW = 0, ACTIVE, PAUSED, DONE };

typedef rt_rank_entry rung_entry; /* a model that completed a rung, ranked there (fixed then) */

typedef struct replay {
  const rt_asha *plan;
  const rt_model_spec *specs;
  void **states;
  size_t n;
  unsigned char *status;
  uint64_t *progress;     /* passes done by the replay's account */
  size_t *waiting_at;     /* PAUSED: the rung index */
  rung_entry **completed; /* per bracket and rung [b * rung_count + k]: who completed it, kept
                             sorted (rt_rank_entry_cmp: a total order, so the order is unique) */
  size_t *completed_n;    /* the same */
  size_t lists;           /* brackets x rungs */
  uint64_t rungs[64];
  size_t rung_count;
  size_t next_new;
  /* tpe */
  rt_model_spec *mutable_specs;
  double *points; /* [j * width]: model j's point, once it started */
  size_t width;   /* the most params of an entry */
  rt_status *st;
} replay;

double rt_metric_at(const char *metric, const rt_model_spec *spec, const void *state, uint64_t p) {
  void *s = (void *)state; /* read only */
  const rt_state_layout l = rt_state_layout_of(spec);
  if (!s || p == 0 || p > rt_state_head(s)->pass) return NAN;
  if (strcmp(metric, "train_loss") == 0) return rt_state_history(s, &l)[p - 1];
  if (!spec->eval_every_pass) return NAN;
  const double *sums = rt_state_val_history(s, &l) + (p - 1) * (RT_EVAL_SUMS + 1);
  if (!(sums[RT_EVAL_SUMS] > 0)) return NAN;
  const rt_family *fam = rt_family_find(spec->hp.kind);
  const char *const *names = NULL;
  const size_t count = rt_family_metric_names(fam, spec, &names);
  double values[RT_MAX_METRICS] = {0};
  fam->metrics(spec, sums, (uint64_t)sums[RT_EVAL_SUMS], values);
  for (size_t k = 0; k < count; ++k)
    if (strcmp(metric + 4, names[k]) == 0) return values[k];
  return NAN;
}

rt_rank_entry rt_rank_entry_at(const char *metric, int maximize, const rt_model_spec *spec,
                               const void *state, size_t j, uint64_t p) {
  const double v = rt_metric_at(metric, spec, state, p);
  /* Diverged by pass p: its training loss of that pass is not finite (what the state said then;
   * a later divergence does not change an earlier ranking). */
  const int diverged = !isfinite(rt_metric_at("train_loss", spec, state, p));
  rt_rank_entry e = {maximize ? -v : v, !isfinite(v) || diverged, j};
  return e;
}

int rt_rank_entry_cmp(const void *a, const void *b) {
  const rt_rank_entry *x = a, *y = b;
  if (x->bad != y->bad) return x->bad - y->bad;
  if (!x->bad && x->key != y->key) return x->key < y->key ? -1 : 1;
  return x->j < y->j ? -1 : x->j > y->j;
}

/* Model j's entry for the rung at pass p. */
static rung_entry entry_of(const replay *r, size_t j, uint64_t p) {
  return rt_rank_entry_at(r->plan->metric, r->plan->maximize, &r->specs[j], r->states[j], j, p);
}

/* Model e completed rung list `at`: into its place in the list's order (binary search, then the
 * later entries moved up), so that promotable reads the ranking without sorting it every time it
 * fills a place (sorting there took 90% of a 2,000-model sweep's time). */
static void rung_insert(replay *r, size_t at, rung_entry e) {
  rung_entry *list = r->completed[at];
  size_t lo = 0, hi = r->completed_n[at];
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (rt_rank_entry_cmp(&list[mid], &e) < 0) lo = mid + 1;
    else hi = mid;
  }
  memmove(list + lo + 1, list + lo, (r->completed_n[at] - lo) * sizeof *list);
  list[lo] = e;
  r->completed_n[at]++;
}

/* The best model waiting at some rung that may go on (ASHA's promotion: the highest rung first,
 * then the lower bracket), or r->n when none. */
static size_t promotable(replay *r) {
  for (size_t k = r->rung_count; k-- > 0;) {
    for (size_t b = 0; b < r->plan->brackets; ++b) {
      const size_t at = b * r->rung_count + k;
      const size_t nk = r->completed_n[at], top = nk / (size_t)r->plan->eta;
      for (size_t i = 0; i < top; ++i) {
        const size_t j = r->completed[at][i].j;
        if (r->status[j] == PAUSED && r->waiting_at[j] == k) return j;
      }
    }
  }
  return r->n;
}

/* An observation of tpe: a started model with a value, ranked as results rank halving runs. */
typedef struct observed {
  rung_entry e;
  uint64_t passes;
} observed;

static int observed_first(const void *a, const void *b) {
  const observed *x = a, *y = b;
  if (x->passes != y->passes) return x->passes > y->passes ? -1 : 1;
  return rt_rank_entry_cmp(&x->e, &y->e);
}

/* The widest entry of a tpe plan's sweep (points are stored at this stride). */
static size_t tpe_width(const rt_asha *plan) {
  size_t width = 0;
  if (!plan->tpe) return 0;
  const rt_sweep_plan *sweep = plan->cfg->sweep_plan;
  for (size_t e = 0; e < sweep->entry_count; ++e)
    if (sweep->entries[e].param_count > width) width = sweep->entries[e].param_count;
  return width;
}

/* Model i's point, suggested from the observations of its entry before model j (its round's
 * first). */
static void suggest_point(replay *r, size_t j, size_t i, observed *obs, const double **ranked) {
  const rt_asha *plan = r->plan;
  const rt_sweep_plan *sweep = plan->cfg->sweep_plan;
  double *point = r->points + i * r->width;
  const size_t entry = rt_sweep_entry_of(sweep, i);
  size_t m = 0;
  for (size_t o = 0; o < j; ++o) { /* models before the round: every started one is below j */
    if (r->status[o] == NEW || r->progress[o] == 0 || rt_sweep_entry_of(sweep, o) != entry)
      continue;
    obs[m].e = entry_of(r, o, r->progress[o]);
    obs[m++].passes = r->progress[o];
  }
  qsort(obs, m, sizeof *obs, observed_first);
  for (size_t k = 0; k < m; ++k) ranked[k] = r->points + obs[k].e.j * r->width;
  rt_tpe_suggest(&sweep->entries[entry], ranked, m, plan->gamma, plan->candidates,
                 rt_key_push(rt_key_push(plan->seed, RT_TPE_STREAM), (uint64_t)i), point);
}

/* tpe: decides the round that model j (its first) opens: each of its models gets the point
 * suggested from the observations of its entry (suggest_point), its config and its spec. */
static rt_code decide_round(replay *r, size_t j) {
  const rt_asha *plan = r->plan;
  const size_t end = j + plan->parallel < r->n ? j + plan->parallel : r->n;
  observed *obs = malloc((j ? j : 1) * sizeof *obs);
  const double **ranked = malloc((j ? j : 1) * sizeof *ranked);
  rt_code rc = obs && ranked
                   ? RT_OK
                   : RT_FAIL_AT(r->st, RT_ERR_NOMEM, "cannot allocate %zu observations", j);
  for (size_t i = j; rc == RT_OK && i < end; ++i) {
    suggest_point(r, j, i, obs, ranked);
    const double *point = r->points + i * r->width;
    rt_model_config model;
    rt_model_spec spec;
    rc = rt_sweep_point_apply(plan->cfg, i, point, &model, r->st);
    if (rc == RT_OK) rc = plan->spec_of(plan->spec_user, i, &model, &spec, r->st);
    if (rc != RT_OK) break;
    if (r->states[i]) { /* started when an earlier tick decided it: the same spec again */
      char *was = rt_spec_to_text(&r->specs[i]), *now = rt_spec_to_text(&spec);
      if (!was || !now) rc = RT_FAIL_AT(r->st, RT_ERR_NOMEM, "cannot format a spec");
      else if (strcmp(was, now) != 0)
        rc = RT_FAIL_AT(r->st, RT_ERR_INTERNAL,
                        "tpe: model %zu started with other hyper-parameters than the replay "
                        "suggests",
                        i);
      free(was), free(now);
    } else {
      r->mutable_specs[i] = spec;
    }
  }
  free(obs);
  free((void *)ranked);
  return rc;
}

/* Model j takes a place for the first time: tpe knows its point from then on (drawn, or the
 * round it opens suggested). */
static rt_code admit(replay *r, size_t j) {
  const rt_asha *plan = r->plan;
  if (!plan->tpe) return RT_OK;
  if (j < plan->startup) {
    rt_sweep_random_point(plan->cfg->sweep_plan, plan->seed, j, r->points + j * r->width);
    return RT_OK;
  }
  return (j - plan->startup) % plan->parallel == 0 ? decide_round(r, j) : RT_OK;
}

/* Fills free places: promotions first, then new models in id order. */
static rt_code fill(replay *r, size_t *active) {
  while (*active < r->plan->parallel) {
    size_t j = promotable(r);
    if (j == r->n) {
      if (r->next_new >= r->n) return RT_OK;
      j = r->next_new++;
      rt_code rc;
      RT_TRY(rc, admit(r, j));
    }
    r->status[j] = ACTIVE;
    ++*active;
  }
  return RT_OK;
}

/* The rung index of model j's bracket whose pass is p, or rung_count (bracket b has the rungs
 * from index b on). */
static size_t rung_of(const replay *r, size_t j, uint64_t p) {
  for (size_t k = j % r->plan->brackets; k < r->rung_count; ++k)
    if (r->rungs[k] == p) return k;
  return r->rung_count;
}

/* The pass at which model j's next decision falls: its bracket's next rung, else its end. */
static uint64_t next_stop(const replay *r, size_t j) {
  for (size_t k = j % r->plan->brackets; k < r->rung_count; ++k)
    if (r->rungs[k] > r->progress[j] && r->rungs[k] < r->specs[j].passes) return r->rungs[k];
  return r->specs[j].passes;
}

/* A replay from the start: its tables for n models (tpe: the points too). */
static rt_code replay_init(replay *r, const rt_asha *plan, rt_model_spec *specs, size_t n,
                           void **states, rt_status *st) {
  memset(r, 0, sizeof *r);
  r->plan = plan;
  r->specs = specs;
  r->mutable_specs = specs;
  r->states = states;
  r->n = n;
  r->st = st;
  r->width = tpe_width(plan);
  r->points = calloc((n ? n : 1) * (r->width ? r->width : 1), sizeof *r->points);
  uint64_t longest = 0;
  for (size_t j = 0; j < n; ++j)
    if (specs[j].passes > longest) longest = specs[j].passes;
  r->rung_count = rt_asha_rungs(plan, longest, r->rungs, 64);
  r->status = calloc(n ? n : 1, 1);
  r->progress = calloc(n ? n : 1, sizeof *r->progress);
  r->waiting_at = calloc(n ? n : 1, sizeof *r->waiting_at);
  r->lists = plan->brackets * r->rung_count;
  r->completed_n = calloc(r->lists + 1, sizeof *r->completed_n);
  r->completed = calloc(r->lists + 1, sizeof *r->completed);
  int ok = r->status && r->progress && r->waiting_at && r->completed_n && r->completed && r->points;
  for (size_t k = 0; ok && k < r->lists; ++k)
    ok = (r->completed[k] = malloc((n ? n : 1) * sizeof **r->completed)) != NULL;
  return ok ? RT_OK
            : RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the asha schedule of %zu models", n);
}

static void replay_free(replay *r) {
  for (size_t k = 0; r->completed && k < r->lists; ++k) free(r->completed[k]);
  free(r->completed), free(r->completed_n), free(r->waiting_at), free(r->progress);
  free(r->points);
  free(r->status);
  memset(r, 0, sizeof *r);
}

/* A replay kept between calls (rt_asha.keep), with the places it has filled. */
struct rt_asha_replay {
  replay r;
  size_t active;
};

void rt_asha_replay_free(rt_asha_replay *kept) {
  if (!kept) return;
  replay_free(&kept->r);
  free(kept);
}

rt_code rt_asha_next(const rt_asha *plan, rt_model_spec *specs, size_t n, void **states,
                     uint64_t *upto, int *done, rt_status *st) {
  rt_asha_replay fresh, *R = plan->keep ? *plan->keep : NULL;
  rt_code rc = RT_OK;
  if (R && (R->r.n != n || R->r.specs != specs || R->r.states != states))
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "asha: a kept replay of other models");
  if (!R) { /* from the start: the tables, then the first places filled */
    R = plan->keep ? calloc(1, sizeof *R) : &fresh;
    if (!R) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate an asha replay");
    R->active = 0;
    rc = replay_init(&R->r, plan, specs, n, states, st);
    if (rc == RT_OK) rc = fill(&R->r, &R->active);
    if (plan->keep) *plan->keep = R; /* freed by the caller, also after a failure */
  }
  replay *r = &R->r;
  r->plan = plan;
  r->st = st;
  uint64_t stride = 1;
  *done = 0;
  while (rc == RT_OK) {
    if (R->active == 0) {
      *done = 1;
      break;
    }
    /* The tick: every model in a place trains `stride` passes, as far as the first of them
     * reaches a rung or its end (no decision falls inside it, so it is the single-pass ticks it
     * spans, in one engine call). Is it complete: has every model in a place trained them? */
    stride = UINT64_MAX;
    for (size_t j = 0; j < n; ++j)
      if (r->status[j] == ACTIVE) {
        const uint64_t d = next_stop(r, j) - r->progress[j];
        if (d < stride) stride = d;
      }
    int complete = 1; /* (a model may be further on: later ticks moved it) */
    for (size_t j = 0; j < n; ++j) {
      if (r->status[j] != ACTIVE) continue;
      const uint64_t pass = states[j] ? rt_state_head(states[j])->pass : 0;
      if (pass < r->progress[j] + stride) complete = 0;
    }
    if (!complete) break;
    for (size_t j = 0; j < n; ++j) { /* the tick's decisions, in id order */
      if (r->status[j] != ACTIVE) continue;
      const uint64_t p = r->progress[j] += stride;
      const size_t k = rung_of(r, j, p);
      if (p >= specs[j].passes) {
        r->status[j] = DONE;
        --R->active;
      } else if (k < r->rung_count) {
        const size_t at = (j % plan->brackets) * r->rung_count + k;
        r->status[j] = PAUSED;
        r->waiting_at[j] = k;
        rung_insert(r, at, entry_of(r, j, p));
        --R->active;
      }
    }
    rc = fill(r, &R->active);
  }
  for (size_t j = 0; rc == RT_OK && j < n; ++j) {
    const uint64_t pass = states[j] ? rt_state_head(states[j])->pass : 0;
    upto[j] = r->status[j] == ACTIVE && !*done ? r->progress[j] + stride : pass;
    if (states[j])
      rt_state_head(states[j])->stopped_early =
          r->status[j] == PAUSED ? r->rungs[r->waiting_at[j]] : 0;
  }
  if (!plan->keep) replay_free(r);
  return rc;
}
