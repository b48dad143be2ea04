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
typedef enum rt_schedule { RT_SCHED_CONSTANT = 0, RT_SCHED_INVERSE_TIME, RT_SCHED_COSINE } rt_schedule;
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
/* data.normalize: feature scaling from a statistics pass over the ring before training. */
typedef enum rt_normalize {
  RT_NORMALIZE_NONE = 0,
  RT_NORMALIZE_STANDARD, /* (x - mean) / standard deviation, per feature */
  RT_NORMALIZE_MINMAX    /* (x - min) / (max - min), per feature */
} rt_normalize;

#define RT_HIDDEN_MAX 8 /* mlp: at most this many hidden layers */

/* One entry of `models:`. Families read the fields that apply to them. */
typedef struct rt_model_config {
  char kind[RT_NAME_MAX];  /* "logistic", "kmeans", "linear" or "mlp" */
  rt_optimizer optimizer;  /* default adam */
  double learning_rate;    /* default 0.01, > 0 */
  double momentum;         /* sgd only, default 0.0, in [0, 1) */
  double l2;               /* default 0.0, >= 0 */
  double beta1, beta2;     /* adam, defaults 0.9, 0.999, in [0, 1) */
  double epsilon;          /* adam, default 1e-8, > 0 */
  rt_schedule schedule;    /* default constant */
  double decay;            /* inverse_time: lr / (1 + decay * step), default 1e-3, >= 0 */
  long batch_size;         /* default 32, >= 1 */
  /* kmeans */
  long k;                  /* number of centres, default 8, 1..2^24 */
  long init_sample;        /* rows of the first shard sampled for k-means++, default 10000,
                              1..2^30 */
  /* linear (least squares; ridge when alpha > 0) */
  rt_solver solver;        /* default exact */
  double alpha;            /* ridge penalty, default 0.0, >= 0 */
  int fit_intercept;       /* 1 (default) | 0 */
  /* mlp */
  long hidden[RT_HIDDEN_MAX]; /* hidden layer widths (input side first), each 1..2^20 */
  int hidden_count;           /* 1..RT_HIDDEN_MAX entries used; default [64] */
  rt_activation activation;   /* default relu */
  rt_mlp_output output;       /* default classification */
  rt_init_scheme init;        /* default auto */
  int line, column;        /* where the entry starts in the config (1-based; 0 for --set-made) */
} rt_model_config;

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
    double validation_fraction;   /* default 0.0 in [0, 1); exclusive with validation */
    long shards;                  /* default 0 (YAML: auto) = number of ranks; else 1..2^20 */
    long classes;                 /* default 0 (YAML: auto) = max label + 1 over the training
                                     data; else 2..2^24 */
    rt_normalize normalize;       /* default none */
    uint64_t seed;                /* validation split seed, default (YAML: auto) = run.seed */
    int seed_set;                 /* 0: seed follows run.seed (parse and --set keep it equal) */
  } data;
  struct {
    long passes;               /* default 1, 1..1e9 */
    uint64_t seed;             /* default 1 */
    char output[RT_PATH_MAX];  /* default "runs/latest"; relative to the working directory */
    long threads;              /* BLAS/OpenMP threads per rank, default 1 (bit-identical results) */
    char backend[16];          /* auto | cpu | cuda (cuda needs the CUDA backend built) */
    long profile_first;        /* run.profile_passes [first, last]: the 1-based, inclusive */
    long profile_last;         /* passes a profiler captures (cudaProfilerStart/Stop); 0, 0 =
                                  not set (YAML: [], the default): the tool captures the whole
                                  run. Set: 1 <= first <= last <= passes (see profile.h) */
  } run;
  size_t model_count;
  rt_model_config *models;
} rt_config;

/* Fills every field with its default (no models). */
void rt_config_defaults(rt_config *cfg);

/* Parses YAML text; `path` names the file in messages and fixes `dir` (NULL: "<config>", dir
 * "."). cfg is (re)initialised with rt_config_defaults first, so it must not own models; on
 * failure it owns nothing. Relative data.train / data.validation are joined to `dir` (kept as is
 * when dir is "."); run.output is not. Unknown keys are errors that suggest the closest valid key;
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
 * config's folder (they are relative to the working directory). Models cannot be added. */
rt_code rt_config_set(rt_config *cfg, const char *assignment, rt_status *st);

/* Cross-field checks run after all overrides (e.g. validation vs validation_fraction, at least
 * one model, known kind), and every stored value re-checked against the key table (so fields set
 * directly in the struct are caught too). Messages start with "path: " when cfg->path is set. */
rt_code rt_config_validate(const rt_config *cfg, rt_status *st);

/* Writes the resolved config (every key, defaults included) as YAML that rt_config_parse reads
 * back into an identical struct, from any folder: relative data paths (relative to the working
 * directory once parsed) are written made absolute with getcwd(). */
rt_code rt_config_write_yaml(const rt_config *cfg, FILE *out, rt_status *st);

/* Names used in files and tables. */
const char *rt_optimizer_name(rt_optimizer opt);
const char *rt_schedule_name(rt_schedule sched);
const char *rt_solver_name(rt_solver solver);
const char *rt_activation_name(rt_activation activation);
const char *rt_mlp_output_name(rt_mlp_output output);
const char *rt_init_scheme_name(rt_init_scheme init);
const char *rt_normalize_name(rt_normalize normalize);

/* The scheme `init` stands for: auto -> he for relu, xavier otherwise; he and xavier as is. */
rt_init_scheme rt_init_scheme_resolve(rt_init_scheme init, rt_activation activation);

void rt_config_free(rt_config *cfg);

#ifdef __cplusplus
}
#endif
#endif
