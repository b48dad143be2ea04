/* Run configuration: parsed from YAML, adjusted by --set key=value, validated before any work. */
#ifndef RINGTRAIN_CONFIG_H
#define RINGTRAIN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ringtrain/data.h"
#include "ringtrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RT_PATH_MAX 4096
#define RT_NAME_MAX 64

typedef enum rt_optimizer { RT_OPT_SGD = 0, RT_OPT_ADAM } rt_optimizer;
typedef enum rt_schedule {
  RT_SCHED_CONSTANT = 0,
  RT_SCHED_INVERSE_TIME,
  RT_SCHED_COSINE
} rt_schedule;
/* kmeans: online mini-batch updates (Sculley) or exact full-batch Lloyd steps, one per pass. */
typedef enum rt_kmeans_algorithm { RT_KMEANS_MINIBATCH = 0, RT_KMEANS_LLOYD } rt_kmeans_algorithm;
/* linear: closed-form least squares / ridge, or gradient steps with the optimizer settings. */
typedef enum rt_solver { RT_SOLVER_EXACT = 0, RT_SOLVER_SGD } rt_solver;
/* mlp: activation of the hidden layers. */
typedef enum rt_activation {
  RT_ACTIVATION_RELU = 0,
  RT_ACTIVATION_TANH,
  RT_ACTIVATION_GELU
} rt_activation;
/* mlp: softmax cross-entropy over the classes, or one linear output with squared error. */
typedef enum rt_mlp_output { RT_OUTPUT_CLASSIFICATION = 0, RT_OUTPUT_REGRESSION } rt_mlp_output;
/* mlp: weight initialisation; auto = he for relu, xavier otherwise (rt_init_scheme_resolve). */
typedef enum rt_init_scheme { RT_INIT_AUTO = 0, RT_INIT_HE, RT_INIT_XAVIER } rt_init_scheme;
/* data.residency: a rank's shards in memory, or read batch by batch from their .npy file. */
typedef enum rt_residency {
  RT_RESIDENCY_AUTO = 0, /* in memory while they fit data.memory_budget, the rest streamed */
  RT_RESIDENCY_MEMORY,
  RT_RESIDENCY_STREAM
} rt_residency;
/* data.normalize: feature scaling from a statistics pass over the ring before training. */
typedef enum rt_normalize {
  RT_NORMALIZE_NONE = 0,
  RT_NORMALIZE_STANDARD, /* (x - mean) / standard deviation, per feature */
  RT_NORMALIZE_MINMAX,   /* (x - min) / (max - min), per feature */
  RT_NORMALIZE_AUTO      /* models only: as data.normalize (the default); resolved per model */
} rt_normalize;

#define RT_HIDDEN_MAX 8 /* mlp: at most this many hidden layers */
#define RT_VIEW_MAX 32  /* features: at most this many column ranges */

/* sweep.method: how the `models:` entries expand into the list of models trained. */
typedef enum rt_sweep_method {
  RT_SWEEP_GRID = 0, /* every combination of each entry's value lists (distributions not allowed) */
  RT_SWEEP_RANDOM,   /* sweep.count models drawn from the lists and distributions */
  RT_SWEEP_ASHA,     /* drawn as random; trained by asynchronous successive halving
                        (src/engine/asha.h): rungs, promotions, admissions in a fixed order */
  RT_SWEEP_HYPERBAND, /* asha in brackets that start at later rungs (asha.h) */
  RT_SWEEP_TPE,       /* the first sweep.tpe.startup drawn as random, the rest suggested by the
                         tree-structured Parzen estimator in rounds of sweep.parallel from the
                         results so far (src/config/sweep_tpe.h, src/engine/asha.h) */
  RT_SWEEP_PBT        /* population-based training: drawn as random, trained together; every
                         sweep.pbt.interval passes the bottom copy the states of top members and
                         perturb their hyper-parameters (src/engine/pbt.h) */
} rt_sweep_method;

/* sweep.early_terminate.type. */
enum { RT_EARLY_NONE = 0, RT_EARLY_MEDIAN = 1, RT_EARLY_ASHA = 2 };

/* Whether a method draws its models (random, asha, hyperband, tpe: sweep.count models, the
 * first ones at random). */
static inline int rt_sweep_method_draws(rt_sweep_method m) {
  return m == RT_SWEEP_RANDOM || m == RT_SWEEP_ASHA || m == RT_SWEEP_HYPERBAND ||
         m == RT_SWEEP_TPE || m == RT_SWEEP_PBT;
}
/* sweep.metric.goal; auto = by the metric (rt_sweep_goal_resolve). */
typedef enum rt_sweep_goal { RT_GOAL_AUTO = 0, RT_GOAL_MINIMIZE, RT_GOAL_MAXIMIZE } rt_sweep_goal;

#define RT_SWEEP_MODELS_MAX 1000000 /* a sweep expanding to more models is a config error */

/* One entry of `models:`. Families read the fields that apply to them. */
typedef struct rt_model_config {
  char kind[RT_NAME_MAX]; /* "logistic", "kmeans", "linear" or "mlp" */
  rt_optimizer optimizer; /* default adam */
  double learning_rate;   /* default 0.01, > 0 */
  double momentum;        /* sgd only, default 0.0, in [0, 1) */
  double l2;              /* default 0.0, >= 0 */
  double beta1, beta2;    /* adam, defaults 0.9, 0.999, in [0, 1) */
  double epsilon;         /* adam, default 1e-8, > 0 */
  rt_schedule schedule;   /* default constant */
  double decay;           /* inverse_time: lr / (1 + decay * step), default 1e-3, >= 0 */
  long batch_size;        /* default 32, >= 1 */
  /* kmeans */
  long k;                        /* number of centres, default 8, 1..2^24 */
  long init_sample;              /* rows of the first shard sampled for k-means++, default 10000,
                              1..2^30 */
  long init_trials;              /* candidates drawn per k-means++ centre, the one lowering the
                              potential most kept (greedy k-means++), 1..1024; 0 (YAML: auto,
                              the default) = 2 + floor(ln k); 1 = plain k-means++ */
  rt_kmeans_algorithm algorithm; /* default minibatch; lloyd: every pass is a Lloyd step */
  long lloyd_passes;             /* minibatch: the last n of run.passes are Lloyd steps, 0..passes;
                              default 0 (with algorithm lloyd: 0 or run.passes) */
  /* linear (least squares; ridge when alpha > 0) */
  rt_solver solver;  /* default exact */
  double alpha;      /* ridge penalty, default 0.0, >= 0 */
  int fit_intercept; /* 1 (default) | 0 */
  /* mlp */
  long hidden[RT_HIDDEN_MAX]; /* hidden layer widths (input side first), each 1..2^20 */
  int hidden_count;           /* 1..RT_HIDDEN_MAX entries used; default [64] */
  /* every kind: the model's view of the data (the `features` key) */
  rt_normalize normalize;     /* the model's feature scaling; auto (the default) = data.normalize,
                             resolved per model (rt_check_spec_base) */
  long view[2 * RT_VIEW_MAX]; /* half-open ranges [view[2i], view[2i+1]) of the data's feature
                                 columns (label left out), in the order given */
  int view_count;             /* longs used (twice the ranges); 0 (YAML: all, the default) =
                                 every column */
  rt_activation activation;   /* default relu */
  rt_mlp_output output;       /* default classification */
  rt_init_scheme init;        /* default auto */
  /* every kind: the model's randomness and its data order (src/engine/groups.h) */
  uint64_t seed;       /* the model's own randomness (initial weights, k-means++ draws); auto (the
                          default) = derived from run.seed and the model id; written resolved */
  uint64_t data_order; /* data-order key: the batch order inside every shard is drawn from it;
                          auto (the default) = run.seed; models that share it (and the rest of
                          rt_models_can_group) share every batch and can form a group */
  long start_shard;    /* where its succession starts: rotate and shuffle visit position p at
                          (start_shard + p) mod n; auto (the default) = spread over the shards by
                          cost class (src/config/start_shard.c; one class: the model id),
                          resolved for the whole config; written resolved */
  uint64_t given;      /* bit i set: model key i was given a value (not `auto`); read only for the
                     keys resolved per model (seed, data_order: rt_model_config_resolve;
                     start_shard: rt_config_parse / rt_config_set); default 0 */
  /* sweep */
  uint64_t swept;   /* bit i set: model key i (rt_model_key_name(i)) was set by the sweep
                              (a list, values or a distribution in the entry, or the entry's
                              `swept:` key, which written configs carry); default 0 (YAML: []) */
  int line, column; /* where the entry starts in the config (1-based; 0 for --set-made);
                              every model expanded from one entry has the entry's position */
} rt_model_config;

/* Private (src/config/sweep.h): the models entries as written, before expansion. */
struct rt_sweep_plan;

typedef struct rt_config {
  char path[RT_PATH_MAX]; /* the config file as given */
  char dir[RT_PATH_MAX];  /* its folder: relative data paths resolve against it */
  struct {
    char train[RT_PATH_MAX];      /* resolved path, required */
    char validation[RT_PATH_MAX]; /* resolved path or "" */
    rt_file_format format;        /* auto | csv | npy */
    int label_column;             /* the label (class) or regression target; default 0;
                                     -1 (YAML: -1 or last) = the last column: the
                                     loader resolves it once the column count is known (this is
                                     not rt_data_options' -1 = no label) */
    int header;                   /* auto (-1) | true (1) | false (0); YAML also yes/no */
    char delimiter;               /* auto (0) | comma (',') | whitespace (' ') */
    int cache;                    /* CSV: 1 (default) = parsed shards cached beside the file */
    int residency;                /* RT_RESIDENCY_*: where a rank's shards live, default auto */
    long memory_budget;           /* bytes of shard rows per rank for residency auto; 0 (YAML:
                                     auto) = half the host's memory over its ranks */
    double validation_fraction;   /* default 0.0 in [0, 1); exclusive with validation */
    long shards;                  /* default 0 (YAML: auto) = number of ranks; else 1..2^20 */
    long classes;                 /* default 0 (YAML: auto) = max label + 1 over the training
                                     data; else 2..2^24 */
    rt_normalize normalize;       /* default none */
    uint64_t seed;                /* validation split seed, default (YAML: auto) = run.seed */
    int seed_set;                 /* 0: seed follows run.seed (parse and --set keep it equal) */
  } data;
  struct {
    long passes;              /* default 1, 1..1e9 */
    uint64_t seed;            /* default 1 */
    char output[RT_PATH_MAX]; /* default "runs/latest"; relative to the working directory */
    long threads;             /* BLAS/OpenMP threads per rank, default 1 (bit-identical results) */
    char backend[16];         /* auto | cpu | cuda (cuda needs the CUDA backend built) */
    int eval_every_pass;      /* 1: validation metrics per pass in history.csv, default 0 */
    int succession;           /* 0 rotate (default), 1 fixed, 2 shuffle (src/engine/route.h) */
    long shards_in_use;       /* 0 (auto) = all shards; else the first n shards are trained on */
    long profile_first;       /* run.profile_passes [first, last]: the 1-based, inclusive */
    long profile_last;        /* passes a profiler captures (cudaProfilerStart/Stop); 0, 0 =
                                  not set (YAML: [], the default): the tool captures the whole
                                  run. Set: 1 <= first <= last <= passes (see profile.h) */
    int trace;                /* 1: write RUN_DIR/trace.json (Chrome trace events, src/io/trace.h);
                                  default 0; `ringtrain train --trace` sets it */
    long trace_events;        /* trace: events each rank keeps, 64..100000000, default 1000000;
                                  past it the oldest are dropped (and counted) */
    long checkpoint_every;    /* passes between checkpoints; 0 (YAML: never, the default) = only
                                  on SIGTERM/SIGINT (src/io/checkpoint.h) */
    long keep_checkpoints;    /* checkpoints kept, default 2; older ones are pruned */
    int fuse;                 /* 1 auto (default): models that can share every batch travel and
                                  integrate as one group (src/engine/groups.h); 0 off: every
                                  model is a group of its own. Bytes are the same either way */
    long timeout;             /* watchdog: seconds a rank may wait for a hand-off with nothing
                                  arriving; 0 (YAML: none, the default) = no watchdog */
  } run;
  struct {
    rt_sweep_method method; /* default grid */
    long count;             /* random: the total number of models drawn, 1..1000000; 0
                                  (YAML: none, the default) = not given (an error with random) */
    uint64_t seed;          /* seed of the random draws, default (YAML: auto) = run.seed */
    int seed_set;           /* 0: seed follows run.seed (parse and --set keep it equal) */
    char metric[32];        /* metric.name: what ranks the models: val_logloss, val_accuracy,
                                  val_rmse, val_mae, val_r2, val_inertia, val_mean_sq_distance or
                                  train_loss; "" (YAML: auto, the default) = each family's first */
    rt_sweep_goal goal;     /* metric.goal: minimize | maximize | auto (default: by metric) */
    int early_terminate;    /* sweep.early_terminate.type (RT_EARLY_*): none (default); median:
                                  a model stops at a pass boundary when its training loss is
                                  worse than the median of the models of its kind at that pass;
                                  asha (tpe only): its models stop at asha's rungs */
    long early_min_passes;  /* sweep.early_terminate.min_passes: decide from this pass on, >= 1,
                                  default 1 */
    long asha_min_passes;   /* sweep.asha.min_passes: the first rung's passes r (rungs at
                                  r eta^k below run.passes), >= 1, default 1 */
    long asha_eta;          /* sweep.asha.eta: the top 1/eta of a rung is promoted, >= 2,
                                  default 3 */
    long parallel;          /* sweep.parallel: asha, hyperband, tpe: models training at once
                                  (the others wait for a place, in id order); tpe: also the size
                                  of its rounds of suggestions; 0 (YAML: all, the default) = all */
    long tpe_startup;       /* sweep.tpe.startup: models drawn at random before tpe suggests,
                                  >= 1, default 10 */
    long pbt_interval;      /* sweep.pbt.interval: passes between exploit/explore steps,
                                  >= 1, below run.passes, default 2 */
    double pbt_fraction;    /* sweep.pbt.fraction: the bottom (and top) fraction of the
                                  population, (0, 0.5], default 0.25 */
    double pbt_perturb;     /* sweep.pbt.perturb: a copied number key is multiplied by 1 - p or
                                  1 + p, (0, 1), default 0.2 */
    double tpe_gamma;       /* sweep.tpe.gamma: the fraction of the results that are the good
                                  ones, (0, 1), default 0.25 */
    long tpe_candidates;    /* sweep.tpe.candidates: points drawn from the good density per
                                  suggestion, >= 1, default 24 */
    int expanded;           /* 1: the models list is already the expansion (written configs):
                                  each entry is one model, lists and distributions are errors;
                                  method, count and seed are kept for the record only */
  } sweep;
  /* The expanded models: position = model id. */
  size_t model_count;
  rt_model_config *models;
  struct rt_sweep_plan *sweep_plan; /* owned; what --set sweep.* / run.seed re-expand; NULL when
                                       the config was not parsed (built in code) */
} rt_config;

/* Whether the sweep stops models at asha's rungs: sweep.method asha or hyperband, or tpe with
 * sweep.early_terminate: asha (src/engine/asha.h). */
static inline int rt_sweep_halves(const rt_config *cfg) {
  return cfg->sweep.method == RT_SWEEP_ASHA || cfg->sweep.method == RT_SWEEP_HYPERBAND ||
         (cfg->sweep.method == RT_SWEEP_TPE && cfg->sweep.early_terminate == RT_EARLY_ASHA);
}
/* Whether the sweep places its models (asha, hyperband, tpe): models wait for one of
 * sweep.parallel places and start in id order (src/engine/asha.h). */
static inline int rt_sweep_places(const rt_config *cfg) {
  return rt_sweep_halves(cfg) || cfg->sweep.method == RT_SWEEP_TPE;
}
/* Whether the sweep decides as it goes (asha, hyperband, tpe, pbt): it ranks the models at the
 * passes where decisions fall, on metrics measured every pass (eval_every_pass implied). */
static inline int rt_sweep_decides(const rt_config *cfg) {
  return rt_sweep_places(cfg) || cfg->sweep.method == RT_SWEEP_PBT;
}

/* Fills every field with its default (no models). */
void rt_config_defaults(rt_config *cfg);

/* Parses YAML text; `path` names the file in messages and fixes `dir` (NULL: "<config>", dir
 * "."). The `models:` entries are expanded as the `sweep:` section says into cfg->models (rules:
 * src/config/sweep.h, configs/reference.yaml); an expansion that the sweep settings do not allow is
 * left pending for rt_config_validate (see there), with no models. cfg is (re)initialised with
 * rt_config_defaults first, so it must not own models; on failure it owns nothing. Relative
 * data.train / data.validation are joined to `dir` (kept as is when dir is "."); run.output is
 * not. Unknown keys are errors that suggest the closest valid key;
 * every error is one line "path:line:column: what was expected" with code RT_ERR_CONFIG. data.train
 * and a non-empty models list (each entry with a kind) are required. No data file is opened.
 * YAML merge keys ("<<: *anchor") are supported inside sections and model entries. */
rt_code rt_config_parse(const char *text, size_t length, const char *path, rt_config *cfg,
                        rt_status *st);

/* Reads and parses a file (missing file: RT_ERR_CONFIG "path: cannot open: <strerror>"). */
rt_code rt_config_load(const char *path, rt_config *cfg, rt_status *st);

/* Applies one "key=value" override, e.g. "run.passes=3", "data.shards=8",
 * "models.1.learning_rate=0.05" or "models.*.batch_size=128". Same key table and checks as the
 * file; errors are RT_ERR_CONFIG "--set ASSIGNMENT: ...". Paths given here are NOT joined to the
 * config's folder (they are relative to the working directory). Models cannot be added.
 * models.N refers to the EXPANDED list (N = model id). Order: sweep overrides (sweep.method,
 * sweep.count, sweep.seed, sweep.expanded, and run.seed while sweep.seed follows it) expand the
 * models entries of a parsed config again, then every models.* override given so far is applied
 * again, in its order; so sweep overrides act before the expansion and model overrides after it,
 * whatever their order on the command line. While the expansion is pending (random without a
 * count yet, ...), models.* overrides are checked and kept for when it succeeds. On a config
 * whose models are already expanded (sweep.expanded: true), sweep.method/count/seed are errors. */
rt_code rt_config_set(rt_config *cfg, const char *assignment, rt_status *st);

/* Cross-field checks run after all overrides (e.g. validation vs validation_fraction, at least
 * one model, known kind), and every stored value re-checked against the key table (so fields set
 * directly in the struct are caught too). Messages start with "path: " when cfg->path is set.
 * A sweep that could not be expanded with the final sweep settings (random without a count, a
 * distribution under grid, a grid over RT_SWEEP_MODELS_MAX models, a models override past the
 * end of the new list) is reported here: rt_config_parse and rt_config_set keep such an error
 * pending, since a later --set sweep.* may still fix it; its message names the file, line and
 * column of what is wrong (prefixed "--set ASSIGNMENT: " when an override caused it). */
rt_code rt_config_validate(const rt_config *cfg, rt_status *st);

/* Writes the resolved config (every key, defaults included) as YAML that rt_config_parse reads
 * back into an identical struct, from any folder: relative data paths (relative to the working
 * directory once parsed) are written made absolute with getcwd(). The models are the EXPANDED
 * list, each fully specified with its `swept` keys, under a sweep section kept for the record
 * (method, count, seed, metric) and marked `expanded: true`, so that reading it back gives the
 * same models in the same order (one per entry) without drawing anything again. */
rt_code rt_config_write_yaml(const rt_config *cfg, FILE *out, rt_status *st);

/* The keys of a models entry, in table order (bit i of rt_model_config.swept is key i). */
/* The keys whose values differ between `was` and `now` (every model key of every model, models
 * by position), except those that do not change what is trained (run.output, checkpoint_every,
 * keep_checkpoints, timeout, trace, trace_events, profile_passes). Data paths compare as the
 * files they name (resolved against the working directory, symbolic links followed), not as text:
 * a checkpoint stores them absolute, a resuming config may give them relative. Fills buf with
 * "key (checkpoint: A, now: B); ..." (truncated to size) and returns the count. */
size_t rt_config_diff(const rt_config *was, const rt_config *now, char *buf, size_t size);

size_t rt_model_key_count(void);
const char *rt_model_key_name(size_t index); /* NULL past the end */
/* The value of model key `index` as config text ("0.01", "adam", "[128, 64]"); 0 when it does
 * not fit or is not representable. */
int rt_model_key_text(const rt_model_config *model, size_t index, char *buf, size_t size);
/* Model key `index` as a results.csv field: the plain form of model files (numbers in their
 * shortest round-trip form, integers in decimal, true/false as 1/0, enums by name), list items
 * separated by spaces ("64 32"); 0 when it does not fit or is not representable. */
int rt_model_key_field(const rt_model_config *model, size_t index, char *buf, size_t size);
/* Sets model key `index` from such a field, with the key table's types and ranges; 0 when the
 * text is not a valid value (nothing stored then). */
int rt_model_key_set_field(rt_model_config *model, size_t index, const char *text);

/* The defaults of a models entry (kind ""; the kind is required). */
void rt_model_config_defaults(rt_model_config *model);

/* The value `auto` stands for in model key `seed` of model `id` under run.seed `run_seed`: the
 * model's own RNG key rt_key_push(rt_key_push(run_seed, "model"), id) (src/util/rng.h). */
uint64_t rt_model_seed_auto(uint64_t run_seed, uint64_t id);

/* Resolves the model keys whose `auto` depends on the model's place in the run (the one rule):
 * seed (rt_model_seed_auto) and data_order (= run_seed), each only where it was not given
 * (rt_model_config.given). rt_config_parse and rt_config_set keep every model of a config
 * resolved (so they follow --set run.seed=...); the specs are built through it too, so a config
 * made in code trains alike. start_shard's auto depends on the other models of the config: those
 * two resolve it for the whole config (src/config/start_shard.c); a config made in code keeps the
 * number it holds. */
void rt_model_config_resolve(rt_model_config *model, uint64_t run_seed, uint64_t id);

/* The hyper-parameters that matter for the model's family in one short line, the same in
 * `train`, `check` and `results`: "adam lr=0.01 batch=32", "k=10 batch=64", "exact alpha=0",
 * "[64,32] tanh sgd lr=0.1 mom=0.9 batch=64". The family's own keys come first, then the shared
 * ones; each key the model reads is shown as the key table says (always, or when it differs
 * from the default). 0 when buf is too small (then it holds what fitted). */
int rt_model_config_summary(const rt_model_config *model, char *buf, size_t size);

/* The swept keys with their values, "learning_rate=0.01 batch_size=64" ("" when none); 0 when
 * buf is too small (then it holds what fitted). */
int rt_model_swept_text(const rt_model_config *model, char *buf, size_t size);

/* The goal of ranking by `metric` ("val_accuracy", ...; pass the family's first metric when
 * sweep.metric is ""): `goal` unless auto; auto = maximize for val_accuracy and val_r2, minimize
 * for every other metric. Never returns auto. */
rt_sweep_goal rt_sweep_goal_resolve(rt_sweep_goal goal, const char *metric);

/* Names used in files and tables. */
const char *rt_sweep_method_name(rt_sweep_method method);
const char *rt_sweep_goal_name(rt_sweep_goal goal);
const char *rt_optimizer_name(rt_optimizer opt);
const char *rt_schedule_name(rt_schedule sched);
const char *rt_solver_name(rt_solver solver);
const char *rt_kmeans_algorithm_name(rt_kmeans_algorithm algorithm);
const char *rt_activation_name(rt_activation activation);
const char *rt_mlp_output_name(rt_mlp_output output);
const char *rt_init_scheme_name(rt_init_scheme init);
const char *rt_normalize_name(rt_normalize normalize);

/* The scheme `init` stands for: auto -> he for relu, xavier otherwise; he and xavier as is. */
rt_init_scheme rt_init_scheme_resolve(rt_init_scheme init, rt_activation activation);

/* Frees the models and the sweep plan. */
void rt_config_free(rt_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
