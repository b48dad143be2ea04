/* sweep.method: asha, asynchronous successive halving (Li et al., "A System for Massively Parallel
 * Hyperparameter Tuning"), decided at pass boundaries from values every rank holds, so that the
 * same models stop at the same passes on any rank count and across a kill and resume.
 *
 * Rungs: r, r eta, r eta^2, ... passes (r = sweep.asha.min_passes), those below run.passes. The
 * run advances in ticks: in a tick every model in a place trains on (at most sweep.parallel
 * places, all models by default) until the first of them reaches a rung or its last pass: the
 * decisions below fall only there, so a tick is the passes between two decisions, one engine
 * call (the ring stays full inside it). After a tick a model that reached run.passes is
 * done; one that reached a rung waits there (paused, stopped_early = that pass). Then free places
 * are filled, one at a time, as ASHA's get_job does: from the highest rung down, the best model of
 * a rung that is among the top floor(n / eta) of the n models that completed that rung, by
 * sweep.metric at the rung's pass (ties: lower id; no value or a diverged model: last), and still
 * waits there, is promoted (goes on); when no rung has one, the next model not yet started (lowest
 * id) starts. The run ends when no model is in a place. A model still waiting then stopped at its
 * rung (results mark it stopped early, with its passes).
 *
 * No schedule is stored: rt_asha_next replays every tick from the start on the states' passes and
 * per-pass metrics (validation sums along the ring, or the training loss history), which are the
 * same bits on every rank; a tick whose models have not all finished their pass (a stop cut it) is
 * the tick to continue. A model that has not started has no state (NULL) or one at pass 0. Within
 * a process the caller may keep the replay (rt_asha.keep): the next call continues it from the
 * tick it stopped at, which gives what a replay from the start would, since the states only move
 * on (a resume replays from the start once). Without it a sweep of n models replays O(n^2) ticks.
 *
 * sweep.method: tpe runs this schedule with the tree-structured Parzen estimator choosing the
 * hyper-parameters of the models as they start (see rt_asha.tpe): without rungs (each model
 * trains to its end) or, with sweep.early_terminate: asha, with asha's.
 *
 * sweep.method: hyperband runs brackets of this: bracket b (model id mod brackets) starts at the
 * b-th rung (its first rung r eta^b, the last bracket none), and each bracket ranks its own models;
 * the places are shared, promotions taken from the highest rung first. */
#ifndef RINGTRAIN_ASHA_H
#define RINGTRAIN_ASHA_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "ringtrain/config.h"
#include "ringtrain/status.h"

/* tpe: builds model j's spec from its config `model` into *spec (the caller knows the data). */
typedef rt_code (*rt_asha_spec_fn)(void *user, size_t j, const rt_model_config *model,
                                   rt_model_spec *spec, rt_status *st);

/* A replay kept between calls of rt_asha_next (rt_asha.keep); opaque. */
typedef struct rt_asha_replay rt_asha_replay;
void rt_asha_replay_free(rt_asha_replay *kept); /* NULL-safe */

typedef struct rt_asha {
  int halving; /* rungs (asha, hyperband, tpe with early_terminate asha); 0: none, a model in a
                  place trains to its end (tpe alone) */
  uint64_t min_passes, eta;
  size_t parallel; /* places: 1..n */
  size_t brackets; /* 1 (asha); hyperband: one per rung and one without: model j is in bracket
                      j mod brackets, whose rungs are bracket 0's from the b-th on, ranked apart */
  char metric[40]; /* the ranking metric: "train_loss" or "val_<name>" */
  int maximize;
  /* tpe: models from `startup` on are suggested in rounds of `parallel` (src/config/sweep_tpe.h):
   * the round of model j >= startup is (j - startup) / parallel, decided when its first model
   * takes a place, from every started model of the same entry that has a value by then (its
   * metric at the passes the replay has seen it train), ranked as results rank halving runs:
   * more passes first, then by the metric (no value or diverged: last), then by id. The
   * suggestion's stream is rt_key_push(rt_key_push(sweep.seed, RT_TPE_STREAM), j). */
  int tpe;
  size_t startup;
  double gamma;
  size_t candidates;
  uint64_t seed;
  const rt_config *cfg;    /* tpe: the models entries */
  rt_asha_spec_fn spec_of; /* tpe: set by the caller before rt_asha_next */
  void *spec_user;
  /* NULL: every call replays from the start; else *keep is the replay so far (NULL before the
   * first call), continued by each call on the same specs and states arrays (so tpe suggests each
   * round once); the caller frees it (rt_asha_replay_free). */
  rt_asha_replay **keep;
} rt_asha;

#define RT_TPE_STREAM 0x747065ULL /* "tpe": purpose tag of the suggestions */

/* Model j's value of `metric` ("train_loss" or "val_<name>") at pass p (1-based) from its state:
 * the training loss history, or the validation sums measured along the ring every pass; NAN when
 * it has none (no state, not that far, no validation rows). */
double rt_metric_at(const char *metric, const rt_model_spec *spec, const void *state, uint64_t p);

/* A model's place in a ranking at pass p, as asha, tpe and pbt rank: by the metric (key: negated
 * when higher is better, lower first), a model without a value or diverged by then last (bad),
 * ties to the lower id. */
typedef struct rt_rank_entry {
  double key;
  int bad;
  size_t j;
} rt_rank_entry;
rt_rank_entry rt_rank_entry_at(const char *metric, int maximize, const rt_model_spec *spec,
                               const void *state, size_t j, uint64_t p);
/* qsort order: the better first. */
int rt_rank_entry_cmp(const void *a, const void *b);

/* The metric a deciding sweep ranks by, as results rank (sweep.metric, else the first metric of
 * model 0's family) into metric[size]; returns 1 when higher is better. */
int rt_rank_metric(const rt_config *cfg, const rt_model_spec *specs, size_t n, char *metric,
                   size_t size);

/* The plan of a config's asha or hyperband sweep over n models (metric as results rank:
 * sweep.metric, else model 0's family's first validation metric). */
void rt_asha_plan(const rt_config *cfg, const rt_model_spec *specs, size_t n, rt_asha *plan);
/* The plan's rungs, places and brackets alone (no metric: what check prints); returns brackets. */
size_t rt_asha_plan_of(const rt_config *cfg, size_t n, rt_asha *plan);

/* Rungs of a model of `passes` passes into rungs[] (at most cap), ascending; returns how many. */
size_t rt_asha_rungs(const rt_asha *plan, uint64_t passes, uint64_t *rungs, size_t cap);

/* The most model-passes the plan can spend on n models of `passes` passes: in each bracket its
 * n_0 models reach its first rung; from rung k at most floor(n_k / eta) go on when every model
 * has a place at once (they reach each rung together), else at most n_k - (eta - 1) (a model
 * that arrives later and ranks in the top then goes on too, as in ASHA). */
uint64_t rt_asha_max_work(const rt_asha *plan, size_t n, uint64_t passes);

/* Replays the schedule on the states (NULL: not started) and gives the current tick: upto[j] =
 * the pass model j trains to in it (its pass when it has no place; a model a stop cut inside the
 * tick continues to the same pass); *done = 1 when no model has a
 * place (the sweep is over; upto is then every model's pass). Sets each started state's
 * stopped_early: the rung pass it waits at, else 0. tpe: specs[j] of every model the replay
 * suggests becomes the suggestion's (a started model's must not change: RT_ERR_INTERNAL). The
 * replay stops at the first tick that is not complete: a model's suggestion depends only on the
 * states of models with lower ids, so loading a checkpoint in id order can replay as it goes. */
rt_code rt_asha_next(const rt_asha *plan, rt_model_spec *specs, size_t n, void **states,
                     uint64_t *upto, int *done, rt_status *st);

/* tpe: the rounds of suggestions of n models (0 when none is suggested). */
size_t rt_tpe_rounds(const rt_asha *plan, size_t n);

#endif
