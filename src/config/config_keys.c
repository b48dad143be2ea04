/* The table of known config keys and the per-key parse / check / format helpers. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"
#include "edit_distance.h"
#include "numfmt.h"
#include "rng.h"

/* ---------------------------------------------------------------------------------------------
 * Named values
 * ------------------------------------------------------------------------------------------- */

/* Model kinds: add a row per family. Aliases are stored under their canonical name. */
static const rt_key_choice model_kinds[] = {
    {"logistic", 0, 0}, {"softmax", 0, 1}, {"kmeans", 1, 0},
    {"linear", 2, 0},   {"mlp", 3, 0},     {NULL, 0, 0},
};

static const rt_key_choice formats[] = {
    {"auto", RT_FORMAT_AUTO, 0},     {"csv", RT_FORMAT_CSV, 0},         {"npy", RT_FORMAT_NPY, 0},
    {"libsvm", RT_FORMAT_LIBSVM, 0}, {"svmlight", RT_FORMAT_LIBSVM, 1}, {NULL, 0, 0},
};

static const rt_key_choice headers[] = {
    {"auto", -1, 0}, {"true", 1, 0}, {"false", 0, 0}, {"yes", 1, 1}, {"no", 0, 1}, {NULL, 0, 0},
};

static const rt_key_choice delimiters[] = {
    {"auto", 0, 0}, {"comma", ',', 0}, {"whitespace", ' ', 0}, {",", ',', 1}, {NULL, 0, 0},
};

static const rt_key_choice label_columns[] = {{"last", -1, 1}, {NULL, 0, 0}};
static const rt_key_choice auto_zero[] = {{"auto", 0, 0}, {NULL, 0, 0}};

static const rt_key_choice backends[] = {
    {"auto", 0, 0},
    {"cpu", 1, 0},
    {"cuda", 2, 0},
    {NULL, 0, 0},
};

static const rt_key_choice optimizers[] = {
    {"sgd", RT_OPT_SGD, 0},
    {"adam", RT_OPT_ADAM, 0},
    {NULL, 0, 0},
};

static const rt_key_choice schedules[] = {
    {"constant", RT_SCHED_CONSTANT, 0},
    {"inverse_time", RT_SCHED_INVERSE_TIME, 0},
    {"cosine", RT_SCHED_COSINE, 0},
    {NULL, 0, 0},
};

static const rt_key_choice booleans[] = {
    {"true", 1, 0}, {"false", 0, 0}, {"yes", 1, 1}, {"no", 0, 1}, {NULL, 0, 0},
};

static const rt_key_choice kmeans_algorithms[] = {
    {"minibatch", RT_KMEANS_MINIBATCH, 0},
    {"lloyd", RT_KMEANS_LLOYD, 0},
    {NULL, 0, 0},
};

static const rt_key_choice solvers[] = {
    {"exact", RT_SOLVER_EXACT, 0},
    {"sgd", RT_SOLVER_SGD, 0},
    {NULL, 0, 0},
};

static const rt_key_choice activations[] = {
    {"relu", RT_ACTIVATION_RELU, 0},
    {"tanh", RT_ACTIVATION_TANH, 0},
    {"gelu", RT_ACTIVATION_GELU, 0},
    {NULL, 0, 0},
};

static const rt_key_choice mlp_outputs[] = {
    {"classification", RT_OUTPUT_CLASSIFICATION, 0},
    {"regression", RT_OUTPUT_REGRESSION, 0},
    {NULL, 0, 0},
};

static const rt_key_choice init_schemes[] = {
    {"auto", RT_INIT_AUTO, 0},
    {"he", RT_INIT_HE, 0},
    {"xavier", RT_INIT_XAVIER, 0},
    {NULL, 0, 0},
};

static const rt_key_choice residencies[] = {
    {"auto", RT_RESIDENCY_AUTO, 0},
    {"memory", RT_RESIDENCY_MEMORY, 0},
    {"stream", RT_RESIDENCY_STREAM, 0},
    {NULL, 0, 0},
};

static const rt_key_choice normalizations[] = {
    {"none", RT_NORMALIZE_NONE, 0},
    {"standard", RT_NORMALIZE_STANDARD, 0},
    {"minmax", RT_NORMALIZE_MINMAX, 0},
    {NULL, 0, 0},
};

static const rt_key_choice model_normalizations[] = {
    {"auto", RT_NORMALIZE_AUTO, 0},
    {"none", RT_NORMALIZE_NONE, 0},
    {"standard", RT_NORMALIZE_STANDARD, 0},
    {"minmax", RT_NORMALIZE_MINMAX, 0},
    {NULL, 0, 0},
};

static const rt_key_choice sweep_methods[] = {
    {"grid", RT_SWEEP_GRID, 0},
    {"random", RT_SWEEP_RANDOM, 0},
    {"asha", RT_SWEEP_ASHA, 0},
    {"hyperband", RT_SWEEP_HYPERBAND, 0},
    {"tpe", RT_SWEEP_TPE, 0},
    {"pbt", RT_SWEEP_PBT, 0},
    {NULL, 0, 0},
};

static const rt_key_choice sweep_goals[] = {
    {"auto", RT_GOAL_AUTO, 0},         {"minimize", RT_GOAL_MINIMIZE, 0},
    {"maximize", RT_GOAL_MAXIMIZE, 0}, {"min", RT_GOAL_MINIMIZE, 1},
    {"max", RT_GOAL_MAXIMIZE, 1},      {NULL, 0, 0},
};

static const rt_key_choice successions[] = {
    {"rotate", 0, 0}, {"fixed", 1, 0}, {"shuffle", 2, 0}, {NULL, 0, 0}};

static const rt_key_choice fuse_modes[] = {{"auto", 1, 0}, {"off", 0, 0}, {NULL, 0, 0}};

static const rt_key_choice early_types[] = {{"none", RT_EARLY_NONE, 0},
                                            {"median", RT_EARLY_MEDIAN, 0},
                                            {"asha", RT_EARLY_ASHA, 0},
                                            {NULL, 0, 0}};

/* The result metrics a sweep can rank by; the names without "val_" are aliases. */
static const rt_key_choice sweep_metrics[] = {
    {"auto", 0, 0},         {"val_logloss", 1, 0},
    {"val_accuracy", 2, 0}, {"val_rmse", 3, 0},
    {"val_mae", 4, 0},      {"val_r2", 5, 0},
    {"val_inertia", 6, 0},  {"val_mean_sq_distance", 7, 0},
    {"train_loss", 8, 0},   {"logloss", 1, 1},
    {"accuracy", 2, 1},     {"rmse", 3, 1},
    {"mae", 4, 1},          {"r2", 5, 1},
    {"inertia", 6, 1},      {"mean_sq_distance", 7, 1},
    {NULL, 0, 0},
};

static const rt_key_choice count_none[] = {{"none", 0, 0}, {NULL, 0, 0}};
static const rt_key_choice all_zero[] = {{"all", 0, 0}, {NULL, 0, 0}};
static const rt_key_choice never_zero[] = {{"never", 0, 0}, {NULL, 0, 0}};

/* ---------------------------------------------------------------------------------------------
 * The table. Order is the order of the YAML writer and of reference.yaml.
 * ------------------------------------------------------------------------------------------- */

#define CFG(member) offsetof(rt_config, member)
#define MOD(member) offsetof(rt_model_config, member)
#define SIZE_OF(type, member) sizeof(((type *)0)->member)
#define NO_INT 0, 0
#define NO_NUM 0.0, 0.0, 0, 0
/* The schema fields of a key that is not a model key and no results.csv column. */
/* The kinds that take gradient steps with the optimizer keys. */
#define GRADIENT_KINDS "logistic mlp linear:solver=sgd"
#define NO_SCHEMA RT_SPEC_NONE, 0, NULL, NULL, RT_SHOW_NEVER, NULL

const rt_config_key rt_config_keys[] = {
    /* data */
    {RT_SECTION_DATA, "train", RT_KEY_PATH, RT_STORE_TEXT, CFG(data.train),
     SIZE_OF(rt_config, data.train), NO_INT, NO_NUM, NULL, 1, NULL,
     "training data (.csv or .npy); relative paths resolve against the config's folder", NULL,
     NO_SCHEMA},
    {RT_SECTION_DATA, "validation", RT_KEY_PATH, RT_STORE_TEXT, CFG(data.validation),
     SIZE_OF(rt_config, data.validation), NO_INT, NO_NUM, NULL, 0, "",
     "held-out data file (\"\" = none); exclusive with validation_fraction", NULL, NO_SCHEMA},
    {RT_SECTION_DATA, "format", RT_KEY_ENUM, RT_STORE_FORMAT, CFG(data.format), 0, NO_INT, NO_NUM,
     formats, 0, "auto", "file format: auto (by extension: .npy, else CSV), csv or npy", NULL,
     NO_SCHEMA},
    {RT_SECTION_DATA, "label_column", RT_KEY_INT, RT_STORE_INT, CFG(data.label_column), 0, -1,
     INT_MAX, NO_NUM, label_columns, 0, "0",
     "0-based column holding the label (classes) or regression target; -1 (or last) = the last "
     "column",
     NULL, NO_SCHEMA},
    {RT_SECTION_DATA, "header", RT_KEY_ENUM, RT_STORE_INT, CFG(data.header), 0, NO_INT, NO_NUM,
     headers, 0, "auto",
     "CSV header line: auto (detected: a non-numeric field in the first line), true or false", NULL,
     NO_SCHEMA},
    {RT_SECTION_DATA, "delimiter", RT_KEY_ENUM, RT_STORE_CHAR, CFG(data.delimiter), 0, NO_INT,
     NO_NUM, delimiters, 0, "auto",
     "CSV field separator: auto (from the first data line), comma or whitespace (spaces/tabs)",
     NULL, NO_SCHEMA},
    {RT_SECTION_DATA, "cache", RT_KEY_ENUM, RT_STORE_INT, CFG(data.cache), 0, NO_INT, NO_NUM,
     booleans, 0, "true",
     "CSV: true = each shard, once parsed, is kept as .npy in FILE.rtcache/ beside the file (keyed "
     "by the file's size, time and inode) and read from there while the file is unchanged; false "
     "= parse the text every time",
     NULL, NO_SCHEMA},
    {RT_SECTION_DATA, "residency", RT_KEY_ENUM, RT_STORE_INT, CFG(data.residency), 0, NO_INT,
     NO_NUM, residencies, 0, "auto",
     "memory (every owned shard held in memory), stream (read batch by batch from its .npy file, "
     "or a CSV's parsed-shard cache entry, read ahead on a thread) or auto (in memory while the "
     "owned shards fit data.memory_budget, the rest streamed); the model bytes are the same",
     NULL, NO_SCHEMA},
    {RT_SECTION_DATA, "memory_budget", RT_KEY_INT, RT_STORE_LONG, CFG(data.memory_budget), 0, 1,
     1L << 62, NO_NUM, auto_zero, 0, "auto",
     "bytes of shard rows a rank may hold in memory under residency auto; auto (or 0) = half of "
     "the host's memory divided by the ranks on it",
     NULL, NO_SCHEMA},
    {RT_SECTION_DATA, "validation_fraction", RT_KEY_NUMBER, RT_STORE_DOUBLE,
     CFG(data.validation_fraction), 0, NO_INT, 0.0, 1.0, 0, 1, NULL, 0, "0",
     "fraction of each training shard held out for validation, in [0, 1)", NULL, NO_SCHEMA},
    {RT_SECTION_DATA, "shards", RT_KEY_INT, RT_STORE_LONG, CFG(data.shards), 0, 1, 1L << 20, NO_NUM,
     auto_zero, 0, "auto",
     "logical shards the training data is cut into (1..1048576); auto (or 0) = one per rank", NULL,
     NO_SCHEMA},
    {RT_SECTION_DATA, "classes", RT_KEY_INT, RT_STORE_LONG, CFG(data.classes), 0, 2, 1L << 24,
     NO_NUM, auto_zero, 0, "auto",
     "number of classes (2..16777216); auto (or 0) = largest label in the training data + 1 (a file holding one class only is refused then)",
     NULL, NO_SCHEMA},
    {RT_SECTION_DATA, "normalize", RT_KEY_ENUM, RT_STORE_NORMALIZE, CFG(data.normalize), 0, NO_INT,
     NO_NUM, normalizations, 0, "none",
     "none, standard (zero mean, unit variance) or minmax (to [0, 1]): feature scaling computed "
     "by a statistics pass over the ring before training, stored in every model file and applied "
     "by predict/eval",
     NULL, NO_SCHEMA},
    {RT_SECTION_DATA, "seed", RT_KEY_UINT64, RT_STORE_DATA_SEED, CFG(data.seed), 0, NO_INT, NO_NUM,
     auto_zero, 0, "auto", "seed of the validation split (0..2^64-1); auto = run.seed", NULL,
     NO_SCHEMA},
    /* run */
    {RT_SECTION_RUN,
     "passes",
     RT_KEY_INT,
     RT_STORE_LONG,
     CFG(run.passes),
     0,
     1,
     1000000000,
     NO_NUM,
     NULL,
     0,
     "1",
     "passes over the training data (each model visits every shard once)",
     NULL,
     RT_SPEC_NONE,
     11,
     NULL,
     NULL,
     RT_SHOW_NEVER,
     NULL},
    {RT_SECTION_RUN, "seed", RT_KEY_UINT64, RT_STORE_U64, CFG(run.seed), 0, NO_INT, NO_NUM, NULL, 0,
     "1", "seed of everything random (initialisation, batch order); 0..2^64-1", NULL, NO_SCHEMA},
    {RT_SECTION_RUN, "output", RT_KEY_STRING, RT_STORE_TEXT, CFG(run.output),
     SIZE_OF(rt_config, run.output), NO_INT, NO_NUM, NULL, 0, "runs/latest",
     "folder for models, metrics and logs; relative to the working directory (not the config)",
     NULL, NO_SCHEMA},
    {RT_SECTION_RUN, "threads", RT_KEY_INT, RT_STORE_LONG, CFG(run.threads), 0, 1, 1024, NO_NUM,
     NULL, 0, "1", "BLAS/OpenMP threads per rank, 1..1024 (1 gives bit-identical results)", NULL,
     NO_SCHEMA},
    {RT_SECTION_RUN, "succession", RT_KEY_ENUM, RT_STORE_INT, CFG(run.succession), 0, NO_INT,
     NO_NUM, successions, 0, "rotate",
     "shard order of each model: rotate (from its start_shard mod n), fixed (every model "
     "0..n-1) or shuffle (a new seeded order every pass, staggered by model)",
     NULL, NO_SCHEMA},
    {RT_SECTION_RUN, "shards_in_use", RT_KEY_INT, RT_STORE_LONG, CFG(run.shards_in_use), 0, 1,
     1L << 20, NO_NUM, auto_zero, 0, "auto",
     "train on the first n shards only (1..data.shards); auto (or 0) = all", NULL, NO_SCHEMA},
    {RT_SECTION_RUN, "eval_every_pass", RT_KEY_ENUM, RT_STORE_INT, CFG(run.eval_every_pass), 0,
     NO_INT, NO_NUM, booleans, 0, "false",
     "true: validation metrics for every pass in history.csv, measured along the ring (after a "
     "model integrates a shard, on that shard's validation rows)",
     NULL, NO_SCHEMA},
    {RT_SECTION_RUN, "backend", RT_KEY_ENUM, RT_STORE_TEXT, CFG(run.backend),
     SIZE_OF(rt_config, run.backend), NO_INT, NO_NUM, backends, 0, "auto",
     "compute backend: auto, cpu or cuda", NULL, NO_SCHEMA},
    {RT_SECTION_RUN, "profile_passes", RT_KEY_INT_RANGE, RT_STORE_LONG_PAIR, CFG(run.profile_first),
     0, 1, 1000000000, NO_NUM, NULL, 0, "[]",
     "[first, last]: the 1-based passes (inclusive) a profiler captures; [] = the whole run", NULL,
     NO_SCHEMA},
    {RT_SECTION_RUN, "trace", RT_KEY_ENUM, RT_STORE_INT, CFG(run.trace), 0, NO_INT, NO_NUM,
     booleans, 0, "false",
     "true: write trace.json to the run directory, a timeline of every rank (Chrome trace events, "
     "for Perfetto or chrome://tracing); also ringtrain train --trace",
     NULL, NO_SCHEMA},
    {RT_SECTION_RUN, "trace_events", RT_KEY_INT, RT_STORE_LONG, CFG(run.trace_events), 0, 64,
     100000000, NO_NUM, NULL, 0, "1000000",
     "trace: events each rank keeps, 64..100000000 (24 bytes each); past it the oldest are "
     "dropped and counted",
     NULL, NO_SCHEMA},
    {RT_SECTION_RUN, "checkpoint_every", RT_KEY_INT, RT_STORE_LONG, CFG(run.checkpoint_every), 0, 1,
     1000000000, NO_NUM, never_zero, 0, "never",
     "write a checkpoint to RUN_DIR/checkpoints after every n passes (1..1000000000); never (or "
     "0) = only when stopped by SIGTERM/SIGINT; resume with ringtrain train --resume RUN_DIR",
     NULL, NO_SCHEMA},
    {RT_SECTION_RUN, "keep_checkpoints", RT_KEY_INT, RT_STORE_LONG, CFG(run.keep_checkpoints), 0, 1,
     1000000, NO_NUM, NULL, 0, "2",
     "checkpoints kept in RUN_DIR/checkpoints (1..1000000); older ones are deleted", NULL,
     NO_SCHEMA},
    {RT_SECTION_RUN, "fuse", RT_KEY_ENUM, RT_STORE_INT, CFG(run.fuse), 0, NO_INT, NO_NUM,
     fuse_modes, 0, "auto",
     "auto: models that can share every batch (same kind, input, batch size, data_order, "
     "succession and shards in use) travel and integrate as one group; off: every model alone. "
     "The bits trained are the same either way",
     NULL, NO_SCHEMA},
    {RT_SECTION_RUN, "timeout", RT_KEY_INT, RT_STORE_LONG, CFG(run.timeout), 0, 1, 100000000,
     NO_NUM, count_none, 0, "none",
     "watchdog: seconds a rank may wait for a hand-off with nothing arriving before the job ends "
     "with an error naming the model, pass and ranks (1..100000000); none (or 0) = wait forever",
     NULL, NO_SCHEMA},
    /* sweep */
    {RT_SECTION_SWEEP, "method", RT_KEY_ENUM, RT_STORE_METHOD, CFG(sweep.method), 0, NO_INT, NO_NUM,
     sweep_methods, 0, "grid",
     "how the models entries expand: grid (every combination of each entry's value lists), "
     "random (count models drawn from the lists and distributions), asha (drawn as random, "
     "trained by asynchronous successive halving: see sweep.asha), hyperband (asha in "
     "brackets that start at later rungs), tpe (the first sweep.tpe.startup drawn as random, "
     "the rest suggested by the tree-structured Parzen estimator in rounds of sweep.parallel "
     "from the results so far) or pbt (population-based training: see sweep.pbt)",
     NULL, NO_SCHEMA},
    {RT_SECTION_SWEEP, "count", RT_KEY_INT, RT_STORE_LONG, CFG(sweep.count), 0, 1,
     RT_SWEEP_MODELS_MAX, NO_NUM, count_none, 0, "none",
     "random, asha, hyperband, tpe, pbt: the total number of models, 1..1000000, spread over the "
     "entries round-robin; none = not given (required by them, unused by grid)",
     NULL, NO_SCHEMA},
    {RT_SECTION_SWEEP, "seed", RT_KEY_UINT64, RT_STORE_SWEEP_SEED, CFG(sweep.seed), 0, NO_INT,
     NO_NUM, auto_zero, 0, "auto", "seed of the random draws (0..2^64-1); auto = run.seed", NULL,
     NO_SCHEMA},
    {RT_SECTION_SWEEP, "metric.name", RT_KEY_ENUM, RT_STORE_TEXT_AUTO, CFG(sweep.metric),
     SIZE_OF(rt_config, sweep.metric), NO_INT, NO_NUM, sweep_metrics, 0, "auto",
     "the metric that ranks the models: val_logloss, val_accuracy, val_rmse, val_mae, val_r2, "
     "val_inertia, val_mean_sq_distance or train_loss; auto = each family's first metric",
     NULL, NO_SCHEMA},
    {RT_SECTION_SWEEP, "metric.goal", RT_KEY_ENUM, RT_STORE_GOAL, CFG(sweep.goal), 0, NO_INT,
     NO_NUM, sweep_goals, 0, "auto",
     "minimize or maximize the metric; auto = maximize accuracy and r2, minimize the others", NULL,
     NO_SCHEMA},
    {RT_SECTION_SWEEP, "early_terminate.type", RT_KEY_ENUM, RT_STORE_INT,
     CFG(sweep.early_terminate), 0, NO_INT, NO_NUM, early_types, 0, "none",
     "none; median: stop a model at a pass boundary when its training loss is worse than the "
     "median of the models of its kind at that pass; asha (with sweep.method: tpe): stop models "
     "at asha's rungs (sweep.asha)",
     NULL, NO_SCHEMA},
    {RT_SECTION_SWEEP, "early_terminate.min_passes", RT_KEY_INT, RT_STORE_LONG,
     CFG(sweep.early_min_passes), 0, 1, 1000000000, NO_NUM, NULL, 0, "1",
     "passes every model trains before early termination may stop it", NULL, NO_SCHEMA},
    {RT_SECTION_SWEEP, "asha.min_passes", RT_KEY_INT, RT_STORE_LONG, CFG(sweep.asha_min_passes), 0,
     1, 1000000000, NO_NUM, NULL, 0, "1",
     "asha, hyperband: passes of the first rung; rungs at min_passes * eta^k passes below "
     "run.passes",
     NULL, NO_SCHEMA},
    {RT_SECTION_SWEEP, "asha.eta", RT_KEY_INT, RT_STORE_LONG, CFG(sweep.asha_eta), 0, 2, 1000,
     NO_NUM, NULL, 0, "3",
     "asha, hyperband: a model that completes a rung goes on when it ranks in the top 1/eta of "
     "the models that completed that rung (2..1000)",
     NULL, NO_SCHEMA},
    {RT_SECTION_SWEEP, "parallel", RT_KEY_INT, RT_STORE_LONG, CFG(sweep.parallel), 0, 1,
     RT_SWEEP_MODELS_MAX, NO_NUM, all_zero, 0, "all",
     "asha, hyperband, tpe: models training at once; a place freed by a model that stops goes "
     "to a promotion, else to the next model not yet started (in id order); tpe: also the "
     "models of a round of suggestions; all = every model starts at once",
     NULL, NO_SCHEMA},
    {RT_SECTION_SWEEP, "tpe.startup", RT_KEY_INT, RT_STORE_LONG, CFG(sweep.tpe_startup), 0, 1,
     RT_SWEEP_MODELS_MAX, NO_NUM, NULL, 0, "10",
     "tpe: models drawn at random (as sweep.method: random) before the estimator suggests", NULL,
     NO_SCHEMA},
    {RT_SECTION_SWEEP, "tpe.gamma", RT_KEY_NUMBER, RT_STORE_DOUBLE, CFG(sweep.tpe_gamma), 0, NO_INT,
     0.0, 1.0, 1, 1, NULL, 0, "0.25",
     "tpe: the fraction of the results so far that form the good density, in (0, 1)", NULL,
     NO_SCHEMA},
    {RT_SECTION_SWEEP, "tpe.candidates", RT_KEY_INT, RT_STORE_LONG, CFG(sweep.tpe_candidates), 0, 1,
     100000, NO_NUM, NULL, 0, "24",
     "tpe: points drawn from the good density per suggestion; the one most likely good rather "
     "than bad is taken (1..100000)",
     NULL, NO_SCHEMA},
    {RT_SECTION_SWEEP, "pbt.interval", RT_KEY_INT, RT_STORE_LONG, CFG(sweep.pbt_interval), 0, 1,
     1000000000, NO_NUM, NULL, 0, "2",
     "pbt: passes between two exploit/explore steps (the steps fall after passes interval, "
     "2 interval, ... below run.passes)",
     NULL, NO_SCHEMA},
    {RT_SECTION_SWEEP, "pbt.fraction", RT_KEY_NUMBER, RT_STORE_DOUBLE, CFG(sweep.pbt_fraction), 0,
     NO_INT, 0.0, 0.5, 1, 0, NULL, 0, "0.25",
     "pbt: the bottom floor(fraction n) models copy the state of one of the top floor(fraction "
     "n), in (0, 0.5]",
     NULL, NO_SCHEMA},
    {RT_SECTION_SWEEP, "pbt.perturb", RT_KEY_NUMBER, RT_STORE_DOUBLE, CFG(sweep.pbt_perturb), 0,
     NO_INT, 0.0, 1.0, 1, 1, NULL, 0, "0.2",
     "pbt: each swept key of a copying model becomes the copied model's value times 1 - perturb "
     "or 1 + perturb (a seeded coin; the copied value where the key refuses it), in (0, 1)",
     NULL, NO_SCHEMA},
    {RT_SECTION_SWEEP, "expanded", RT_KEY_ENUM, RT_STORE_INT, CFG(sweep.expanded), 0, NO_INT,
     NO_NUM, booleans, 0, "false",
     "true: the models list is already expanded (resolved configs): one model per entry, taken "
     "as written",
     NULL, NO_SCHEMA},
    /* models[] */
    {RT_SECTION_MODEL, "kind", RT_KEY_ENUM, RT_STORE_TEXT, MOD(kind),
     SIZE_OF(rt_model_config, kind), NO_INT, NO_NUM, model_kinds, 1, NULL,
     "model family: logistic (multinomial logistic regression; alias softmax), kmeans "
     "(k-means clustering), linear (least squares / ridge regression) or mlp (multilayer "
     "perceptron)",
     NULL, RT_SPEC_NONE, 0, NULL, NULL, RT_SHOW_NEVER, NULL},
    {RT_SECTION_MODEL, "optimizer", RT_KEY_ENUM, RT_STORE_OPTIMIZER, MOD(optimizer), 0, NO_INT,
     NO_NUM, optimizers, 0, "adam", "sgd or adam", NULL, RT_SPEC_ALL, 1, GRADIENT_KINDS, NULL,
     RT_SHOW_ALWAYS, ""},
    {RT_SECTION_MODEL,
     "learning_rate",
     RT_KEY_NUMBER,
     RT_STORE_DOUBLE,
     MOD(learning_rate),
     0,
     NO_INT,
     0.0,
     HUGE_VAL,
     1,
     0,
     NULL,
     0,
     "0.01",
     "step size, > 0",
     NULL,
     RT_SPEC_ALL,
     2,
     GRADIENT_KINDS,
     NULL,
     RT_SHOW_ALWAYS,
     "lr"},
    {RT_SECTION_MODEL,
     "momentum",
     RT_KEY_NUMBER,
     RT_STORE_DOUBLE,
     MOD(momentum),
     0,
     NO_INT,
     0.0,
     1.0,
     0,
     1,
     NULL,
     0,
     "0",
     "sgd momentum, in [0, 1)",
     NULL,
     RT_SPEC_ALL,
     3,
     GRADIENT_KINDS,
     "optimizer=sgd",
     RT_SHOW_CHANGED,
     "mom"},
    {RT_SECTION_MODEL,
     "l2",
     RT_KEY_NUMBER,
     RT_STORE_DOUBLE,
     MOD(l2),
     0,
     NO_INT,
     0.0,
     HUGE_VAL,
     0,
     0,
     NULL,
     0,
     "0",
     "L2 penalty on the weights, >= 0",
     NULL,
     RT_SPEC_ALL,
     4,
     "logistic mlp",
     NULL,
     RT_SHOW_CHANGED,
     "l2"},
    {RT_SECTION_MODEL,
     "beta1",
     RT_KEY_NUMBER,
     RT_STORE_DOUBLE,
     MOD(beta1),
     0,
     NO_INT,
     0.0,
     1.0,
     0,
     1,
     NULL,
     0,
     "0.9",
     "adam first-moment decay, in [0, 1)",
     NULL,
     RT_SPEC_ALL,
     5,
     GRADIENT_KINDS,
     "optimizer=adam",
     RT_SHOW_CHANGED,
     "beta1"},
    {RT_SECTION_MODEL,
     "beta2",
     RT_KEY_NUMBER,
     RT_STORE_DOUBLE,
     MOD(beta2),
     0,
     NO_INT,
     0.0,
     1.0,
     0,
     1,
     NULL,
     0,
     "0.999",
     "adam second-moment decay, in [0, 1)",
     NULL,
     RT_SPEC_ALL,
     6,
     GRADIENT_KINDS,
     "optimizer=adam",
     RT_SHOW_CHANGED,
     "beta2"},
    {RT_SECTION_MODEL,
     "epsilon",
     RT_KEY_NUMBER,
     RT_STORE_DOUBLE,
     MOD(epsilon),
     0,
     NO_INT,
     0.0,
     HUGE_VAL,
     1,
     0,
     NULL,
     0,
     "1e-08",
     "adam denominator guard, > 0",
     NULL,
     RT_SPEC_ALL,
     7,
     GRADIENT_KINDS,
     "optimizer=adam",
     RT_SHOW_CHANGED,
     "epsilon"},
    {RT_SECTION_MODEL, "schedule", RT_KEY_ENUM, RT_STORE_SCHEDULE, MOD(schedule), 0, NO_INT, NO_NUM,
     schedules, 0, "constant",
     "learning-rate schedule: constant, inverse_time (lr / (1 + decay * step)) or cosine", NULL,
     RT_SPEC_ALL, 8, GRADIENT_KINDS, NULL, RT_SHOW_CHANGED, ""},
    {RT_SECTION_MODEL,
     "decay",
     RT_KEY_NUMBER,
     RT_STORE_DOUBLE,
     MOD(decay),
     0,
     NO_INT,
     0.0,
     HUGE_VAL,
     0,
     0,
     NULL,
     0,
     "0.001",
     "inverse_time decay rate, >= 0",
     NULL,
     RT_SPEC_ALL,
     9,
     GRADIENT_KINDS,
     "schedule=inverse_time",
     RT_SHOW_CHANGED,
     "decay"},
    {RT_SECTION_MODEL,
     "batch_size",
     RT_KEY_INT,
     RT_STORE_LONG,
     MOD(batch_size),
     0,
     1,
     1L << 30,
     NO_NUM,
     NULL,
     0,
     "32",
     "rows per gradient step, 1..1073741824",
     NULL,
     RT_SPEC_ALL,
     10,
     GRADIENT_KINDS " kmeans",
     NULL,
     RT_SHOW_ALWAYS,
     "batch"},
    /* models[]: kmeans */
    {RT_SECTION_MODEL,
     "k",
     RT_KEY_INT,
     RT_STORE_LONG,
     MOD(k),
     0,
     1,
     1L << 24,
     NO_NUM,
     NULL,
     0,
     "8",
     "kmeans: number of centres, 1..16777216",
     NULL,
     RT_SPEC_ALL,
     12,
     "kmeans",
     NULL,
     RT_SHOW_ALWAYS,
     "k"},
    {RT_SECTION_MODEL,
     "init_sample",
     RT_KEY_INT,
     RT_STORE_LONG,
     MOD(init_sample),
     0,
     1,
     1L << 30,
     NO_NUM,
     NULL,
     0,
     "10000",
     "kmeans: rows of the first shard sampled for the k-means++ initialisation, 1..1073741824",
     NULL,
     RT_SPEC_ALL,
     18,
     "kmeans",
     NULL,
     RT_SHOW_CHANGED,
     "init_sample"},
    {RT_SECTION_MODEL,
     "init_trials",
     RT_KEY_INT,
     RT_STORE_LONG,
     MOD(init_trials),
     0,
     1,
     1024,
     NO_NUM,
     auto_zero,
     0,
     "auto",
     "kmeans: candidates drawn for each k-means++ centre, keeping the one that lowers the "
     "potential most (greedy k-means++), 1..1024; auto (or 0) = 2 + floor(ln k); 1 = plain "
     "k-means++",
     NULL,
     RT_SPEC_KINDS,
     19,
     "kmeans",
     NULL,
     RT_SHOW_CHANGED,
     "init_trials"},
    {RT_SECTION_MODEL, "algorithm", RT_KEY_ENUM, RT_STORE_ALGORITHM, MOD(algorithm), 0, NO_INT,
     NO_NUM, kmeans_algorithms, 0, "minibatch",
     "kmeans: minibatch (Sculley's online updates, batch by batch) or lloyd (every pass is one "
     "exact Lloyd step: rows assigned to the nearest centre, centres moved to the means at the "
     "pass end)",
     NULL, RT_SPEC_KINDS, 20, "kmeans", NULL, RT_SHOW_CHANGED, ""},
    {RT_SECTION_MODEL,
     "lloyd_passes",
     RT_KEY_INT,
     RT_STORE_LONG,
     MOD(lloyd_passes),
     0,
     0,
     1000000000,
     NO_NUM,
     NULL,
     0,
     "0",
     "kmeans with algorithm minibatch: the last n of run.passes are exact Lloyd steps "
     "(0..run.passes; 0 = none)",
     NULL,
     RT_SPEC_KINDS,
     21,
     "kmeans",
     "algorithm=minibatch",
     RT_SHOW_CHANGED,
     "lloyd_passes"},
    /* models[]: linear */
    {RT_SECTION_MODEL, "solver", RT_KEY_ENUM, RT_STORE_SOLVER, MOD(solver), 0, NO_INT, NO_NUM,
     solvers, 0, "exact",
     "linear: exact (closed-form solve of the normal equations) or sgd (gradient steps with the "
     "optimizer settings)",
     NULL, RT_SPEC_ALL, 13, "linear", NULL, RT_SHOW_ALWAYS, ""},
    {RT_SECTION_MODEL,
     "alpha",
     RT_KEY_NUMBER,
     RT_STORE_DOUBLE,
     MOD(alpha),
     0,
     NO_INT,
     0.0,
     HUGE_VAL,
     0,
     0,
     NULL,
     0,
     "0",
     "linear: ridge penalty, >= 0 (0 = ordinary least squares)",
     NULL,
     RT_SPEC_ALL,
     14,
     "linear",
     NULL,
     RT_SHOW_ALWAYS,
     "alpha"},
    {RT_SECTION_MODEL, "fit_intercept", RT_KEY_ENUM, RT_STORE_INT, MOD(fit_intercept), 0, NO_INT,
     NO_NUM, booleans, 0, "true", "linear: fit an intercept (bias) term: true or false", NULL,
     RT_SPEC_ALL, 22, "linear", NULL, RT_SHOW_CHANGED, "fit_intercept"},
    /* models[]: mlp */
    {RT_SECTION_MODEL,
     "hidden",
     RT_KEY_INT_LIST,
     RT_STORE_LONG_LIST,
     MOD(hidden),
     RT_HIDDEN_MAX,
     1,
     1L << 20,
     NO_NUM,
     NULL,
     0,
     "[64]",
     "mlp: hidden layer widths, 1 to 8 entries, each 1..1048576, e.g. [64, 32]",
     "hidden width",
     RT_SPEC_ALL,
     15,
     "mlp",
     NULL,
     RT_SHOW_ALWAYS,
     ""},
    {RT_SECTION_MODEL, "activation", RT_KEY_ENUM, RT_STORE_ACTIVATION, MOD(activation), 0, NO_INT,
     NO_NUM, activations, 0, "relu", "mlp: activation of the hidden layers: relu, tanh or gelu",
     NULL, RT_SPEC_ALL, 16, "mlp", NULL, RT_SHOW_ALWAYS, ""},
    {RT_SECTION_MODEL, "output", RT_KEY_ENUM, RT_STORE_OUTPUT, MOD(output), 0, NO_INT, NO_NUM,
     mlp_outputs, 0, "classification",
     "mlp: classification or regression: softmax cross-entropy over classes, or one linear "
     "output with squared error",
     NULL, RT_SPEC_ALL, 17, "mlp", NULL, RT_SHOW_CHANGED, ""},
    {RT_SECTION_MODEL, "init", RT_KEY_ENUM, RT_STORE_INIT, MOD(init), 0, NO_INT, NO_NUM,
     init_schemes, 0, "auto",
     "mlp: weight initialisation: auto (he for relu, xavier otherwise), he or xavier", NULL,
     RT_SPEC_ALL, 23, "mlp", NULL, RT_SHOW_CHANGED, "init"},
    /* models[]: every kind, resolved per model (rt_model_config_resolve) */
    {RT_SECTION_MODEL, "seed", RT_KEY_UINT64, RT_STORE_U64_AUTO, MOD(seed), 0, NO_INT, NO_NUM,
     auto_zero, 0, "auto",
     "the model's own randomness (initial weights, k-means++ draws), 0..2^64-1; auto = derived "
     "from run.seed and the model id (resolved configs carry the number)",
     NULL, RT_SPEC_ALL, 24, NULL, NULL, RT_SHOW_GIVEN, "seed"},
    {RT_SECTION_MODEL, "data_order", RT_KEY_UINT64, RT_STORE_U64_AUTO, MOD(data_order), 0, NO_INT,
     NO_NUM, auto_zero, 0, "auto",
     "data-order key, 0..2^64-1: the batch order inside every shard is drawn from it, so models "
     "that share it (and kind, input, batch size and succession) share every batch and train as "
     "one group (run.fuse); auto = run.seed",
     NULL, RT_SPEC_ALL, 25, NULL, NULL, RT_SHOW_GIVEN, "order"},
    {RT_SECTION_MODEL,
     "start_shard",
     RT_KEY_INT,
     RT_STORE_LONG_AUTO,
     MOD(start_shard),
     0,
     0,
     1000000000,
     NO_NUM,
     auto_zero,
     0,
     "auto",
     "where the model's succession starts: rotate and shuffle visit position p at (start_shard "
     "+ p) mod the shards in use, 0..1000000000; auto = spread over the shards by cost (models "
     "that cost the same per batch take turns; one such class: the model id)",
     NULL,
     RT_SPEC_ALL,
     26,
     NULL,
     NULL,
     RT_SHOW_GIVEN,
     "start"},
    {RT_SECTION_MODEL, "normalize", RT_KEY_ENUM, RT_STORE_NORMALIZE, MOD(normalize), 0, NO_INT,
     NO_NUM, model_normalizations, 0, "auto",
     "the model's feature scaling: auto (data.normalize, the default), none, standard or minmax; "
     "models that differ are scaled batch by batch (the data is never copied per model) and form "
     "different groups",
     NULL, RT_SPEC_KINDS, 28, "logistic kmeans linear mlp", NULL, RT_SHOW_GIVEN, "normalize"},
    {RT_SECTION_MODEL,
     "features",
     RT_KEY_COLUMN_LIST,
     RT_STORE_LONG_LIST,
     MOD(view),
     2 * RT_VIEW_MAX,
     0,
     (1L << 30) - 1,
     NO_NUM,
     NULL,
     0,
     "all",
     "the model's view of the data: all, or the feature columns it sees (0-based, the label "
     "left out), columns and half-open ranges in the order given, e.g. [0:128, 300, 512:784]; "
     "models with different views form different groups; model files record the view and "
     "predict/eval apply it",
     NULL,
     RT_SPEC_KINDS,
     27,
     "logistic kmeans linear mlp",
     NULL,
     RT_SHOW_CHANGED,
     "features"},
    /* models[]: sweep record */
    {RT_SECTION_MODEL, "swept", RT_KEY_NAME_LIST, RT_STORE_KEY_MASK, MOD(swept), 0, NO_INT, NO_NUM,
     NULL, 0, "[]",
     "the keys the sweep set in this model, e.g. [learning_rate, batch_size] (resolved configs "
     "carry it; results have one column per swept key)",
     NULL, RT_SPEC_NONE, 0, NULL, NULL, RT_SHOW_NEVER, NULL},
};

const size_t rt_config_key_count = sizeof rt_config_keys / sizeof rt_config_keys[0];

/* RT_STORE_LONG_PAIR stores (first, last) as two adjacent longs. */
_Static_assert(offsetof(rt_config, run.profile_last) ==
                   offsetof(rt_config, run.profile_first) + sizeof(long),
               "run.profile_first and run.profile_last must be adjacent");
/* RT_STORE_LONG_LIST stores the count (int) right after the array. */
_Static_assert(offsetof(rt_model_config, hidden_count) ==
                   offsetof(rt_model_config, hidden) + RT_HIDDEN_MAX * sizeof(long),
               "rt_model_config.hidden_count must follow the hidden array");
_Static_assert(sizeof(((rt_model_config *)0)->hidden) == RT_HIDDEN_MAX * sizeof(long),
               "rt_model_config.hidden must hold RT_HIDDEN_MAX longs");
_Static_assert(offsetof(rt_model_config, view_count) ==
                   offsetof(rt_model_config, view) + 2 * RT_VIEW_MAX * sizeof(long),
               "rt_model_config.view_count must follow the view array");

/* ---------------------------------------------------------------------------------------------
 * Lookup
 * ------------------------------------------------------------------------------------------- */

const char *rt_section_name(rt_section section) {
  switch (section) {
    case RT_SECTION_DATA: return "data";
    case RT_SECTION_RUN: return "run";
    case RT_SECTION_MODEL: return "models";
    case RT_SECTION_SWEEP: return "sweep";
    case RT_SECTION_COUNT: break;
  }
  return "?";
}

const rt_config_key *rt_config_key_find(rt_section section, const char *name) {
  for (size_t i = 0; i < rt_config_key_count; ++i)
    if (rt_config_keys[i].section == section && strcmp(rt_config_keys[i].name, name) == 0)
      return &rt_config_keys[i];
  return NULL;
}

/* Names people reach for from other tools: suggested, never accepted. */
static const struct {
  rt_section section;
  const char *name, *key;
} familiar_names[] = {
    {RT_SECTION_MODEL, "lr", "learning_rate"},
    {RT_SECTION_MODEL, "learningrate", "learning_rate"},
    {RT_SECTION_MODEL, "step_size", "learning_rate"},
    {RT_SECTION_MODEL, "bs", "batch_size"},
    {RT_SECTION_MODEL, "batch", "batch_size"},
    {RT_SECTION_MODEL, "weight_decay", "l2"},
    {RT_SECTION_MODEL, "lambda", "l2"},
    {RT_SECTION_MODEL, "n_clusters", "k"},
    {RT_SECTION_MODEL, "clusters", "k"},
    {RT_SECTION_MODEL, "num_clusters", "k"},
    {RT_SECTION_MODEL, "centers", "k"},
    {RT_SECTION_MODEL, "centres", "k"},
    {RT_SECTION_MODEL, "ridge", "alpha"},
    {RT_SECTION_MODEL, "intercept", "fit_intercept"},
    {RT_SECTION_MODEL, "bias", "fit_intercept"},
    {RT_SECTION_MODEL, "hidden_layers", "hidden"},
    {RT_SECTION_MODEL, "hidden_layer_sizes", "hidden"},
    {RT_SECTION_MODEL, "hidden_sizes", "hidden"},
    {RT_SECTION_MODEL, "layers", "hidden"},
    {RT_SECTION_MODEL, "act", "activation"},
    {RT_SECTION_MODEL, "task", "output"},
    {RT_SECTION_MODEL, "objective", "output"},
    {RT_SECTION_MODEL, "loss", "output"},
    {RT_SECTION_MODEL, "initialization", "init"},
    {RT_SECTION_MODEL, "initialisation", "init"},
    {RT_SECTION_MODEL, "weight_init", "init"},
    {RT_SECTION_MODEL, "eps", "epsilon"},
    {RT_SECTION_MODEL, "opt", "optimizer"},
    {RT_SECTION_MODEL, "type", "kind"},
    {RT_SECTION_MODEL, "model", "kind"},
    {RT_SECTION_MODEL, "lr_schedule", "schedule"},
    {RT_SECTION_RUN, "epochs", "passes"},
    {RT_SECTION_RUN, "iterations", "passes"},
    {RT_SECTION_RUN, "random_seed", "seed"},
    {RT_SECTION_RUN, "output_dir", "output"},
    {RT_SECTION_RUN, "out", "output"},
    {RT_SECTION_RUN, "device", "backend"},
    {RT_SECTION_DATA, "path", "train"},
    {RT_SECTION_DATA, "file", "train"},
    {RT_SECTION_DATA, "training", "train"},
    {RT_SECTION_DATA, "val", "validation"},
    {RT_SECTION_DATA, "valid", "validation"},
    {RT_SECTION_DATA, "val_fraction", "validation_fraction"},
    {RT_SECTION_DATA, "target", "label_column"},
    {RT_SECTION_DATA, "label", "label_column"},
    {RT_SECTION_DATA, "separator", "delimiter"},
    {RT_SECTION_DATA, "sep", "delimiter"},
    {RT_SECTION_DATA, "num_classes", "classes"},
    {RT_SECTION_DATA, "normalise", "normalize"},
    {RT_SECTION_DATA, "normalization", "normalize"},
    {RT_SECTION_DATA, "normalisation", "normalize"},
    {RT_SECTION_DATA, "scaling", "normalize"},
    {RT_SECTION_DATA, "scale", "normalize"},
    {RT_SECTION_DATA, "standardize", "normalize"},
    {RT_SECTION_SWEEP, "strategy", "method"},
    {RT_SECTION_SWEEP, "search", "method"},
    {RT_SECTION_SWEEP, "algorithm", "method"},
    {RT_SECTION_SWEEP, "n_trials", "count"},
    {RT_SECTION_SWEEP, "trials", "count"},
    {RT_SECTION_SWEEP, "num_samples", "count"},
    {RT_SECTION_SWEEP, "samples", "count"},
    {RT_SECTION_SWEEP, "n_iter", "count"},
    {RT_SECTION_SWEEP, "random_seed", "seed"},
    {RT_SECTION_SWEEP, "objective", "metric"},
    {RT_SECTION_SWEEP, "goal", "metric"},
};

const char *rt_config_key_suggest(rt_section section, const char *name) {
  for (size_t i = 0; i < sizeof familiar_names / sizeof familiar_names[0]; ++i)
    if (familiar_names[i].section == section && strcmp(familiar_names[i].name, name) == 0)
      return familiar_names[i].key;
  /* Nested keys ("metric.name") are suggested by their mapping's name. */
  static const char *const nested[] = {"metric"};
  const char *names[sizeof rt_config_keys / sizeof rt_config_keys[0]];
  size_t n = 0;
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    if (rt_config_keys[i].section != section) continue;
    const char *key = rt_config_keys[i].name;
    if (strchr(key, '.')) {
      key = NULL;
      for (size_t j = 0; j < sizeof nested / sizeof nested[0]; ++j)
        if (strncmp(rt_config_keys[i].name, nested[j], strlen(nested[j])) == 0 &&
            rt_config_keys[i].name[strlen(nested[j])] == '.')
          key = nested[j];
      for (size_t j = 0; key && j < n; ++j)
        if (names[j] == key) key = NULL;
      if (!key) continue;
    }
    names[n++] = key;
  }
  return rt_suggest(name, names, n);
}

/* Appends text to buf (always terminated, silently truncated). */
static void append(char *buf, size_t size, const char *text) {
  size_t used = strlen(buf);
  if (used + 1 >= size) return;
  size_t room = size - used - 1, n = strlen(text);
  if (n > room) n = room;
  memcpy(buf + used, text, n);
  buf[used + n] = '\0';
}

/* The name a key is given by at its own level: "metric" for "metric.name". */
static size_t head_length(const char *name) {
  const char *dot = strchr(name, '.');
  return dot ? (size_t)(dot - name) : strlen(name);
}

void rt_config_key_list(rt_section section, char *buf, size_t size) {
  if (size == 0) return;
  buf[0] = '\0';
  int first = 1;
  const char *previous = NULL;
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    if (rt_config_keys[i].section != section) continue;
    const char *name = rt_config_keys[i].name;
    size_t n = head_length(name);
    if (previous && head_length(previous) == n && strncmp(previous, name, n) == 0) continue;
    previous = name;
    char head[64];
    snprintf(head, sizeof head, "%.*s", (int)n, name);
    if (!first) append(buf, size, ", ");
    append(buf, size, head);
    first = 0;
  }
}

static void choice_list(const rt_key_choice *choices, char *buf, size_t size) {
  int first = 1;
  for (const rt_key_choice *c = choices; c && c->name; ++c) {
    if (c->alias) continue;
    if (!first) append(buf, size, ", ");
    append(buf, size, c->name);
    first = 0;
  }
}

void rt_config_key_expected(const rt_config_key *key, char *buf, size_t size) {
  if (size == 0) return;
  buf[0] = '\0';
  switch (key->type) {
    case RT_KEY_INT:
    case RT_KEY_UINT64: append(buf, size, "an integer"); break;
    case RT_KEY_NUMBER: append(buf, size, "a number"); break;
    case RT_KEY_ENUM:
      append(buf, size, "one of: ");
      choice_list(key->choices, buf, size);
      break;
    case RT_KEY_PATH: append(buf, size, "a path"); break;
    case RT_KEY_STRING: append(buf, size, "a string"); break;
    case RT_KEY_INT_RANGE: append(buf, size, "a list of two integers [first, last]"); break;
    case RT_KEY_INT_LIST: {
      char text[128];
      snprintf(text, sizeof text, "a list of 1 to %zu integers (each a %s)", key->size,
               key->item ? key->item : "value");
      append(buf, size, text);
      break;
    }
    case RT_KEY_NAME_LIST: append(buf, size, "a list of model key names"); break;
    case RT_KEY_COLUMN_LIST:
      append(buf, size,
             "all, or a list of columns and half-open column ranges, e.g. [0:128, 300, 512:784]");
      break;
  }
}

int rt_model_kind_known(const char *name) {
  for (const rt_key_choice *c = model_kinds; c->name; ++c)
    if (!c->alias && strcmp(c->name, name) == 0) return 1;
  return 0;
}

static const rt_key_choice *choice_by_name(const rt_key_choice *choices, const char *name) {
  for (const rt_key_choice *c = choices; c && c->name; ++c)
    if (strcmp(c->name, name) == 0) return c;
  return NULL;
}

static const rt_key_choice *choice_by_value(const rt_key_choice *choices, long long value) {
  for (const rt_key_choice *c = choices; c && c->name; ++c)
    if (!c->alias && c->value == value) return c;
  return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Parsing one value
 * ------------------------------------------------------------------------------------------- */

void rt_config_show_value(const char *text, char *buf, size_t size) {
  size_t n = 0, limit = size - 4;
  if (limit > 60) limit = 60;
  for (; text[n] && n < limit; ++n) {
    unsigned char ch = (unsigned char)text[n];
    buf[n] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
  }
  buf[n] = '\0';
  if (text[n]) memcpy(buf + n, "...", 4);
}

/* 1: parsed; 0: not a decimal integer; -1: overflow (*out = LLONG_MIN or LLONG_MAX). */
static int parse_int(const char *text, long long *out) {
  const char *p = text;
  if (*p == '+' || *p == '-') ++p;
  if (*p < '0' || *p > '9') return 0; /* also rejects "", leading spaces, "- 1" */
  errno = 0;
  char *end = NULL;
  long long v = strtoll(text, &end, 10);
  if (end == text || *end != '\0') return 0;
  *out = v;
  return errno == ERANGE ? -1 : 1;
}

/* Same for unsigned 64-bit values; negative numbers come back as -2 (range). */
static int parse_u64(const char *text, uint64_t *out) {
  const char *p = text;
  int negative = 0;
  if (*p == '+' || *p == '-') negative = *p++ == '-';
  if (*p < '0' || *p > '9') return 0;
  errno = 0;
  char *end = NULL;
  unsigned long long v = strtoull(p, &end, 10);
  if (end == p || *end != '\0') return 0;
  if (errno == ERANGE) return -1;
  if (negative && v != 0) return -2;
  *out = (uint64_t)v;
  return 1;
}

/* 1: parsed; 0: not a number; 2: NaN or infinite (or overflows a double). */
static int parse_number(const char *text, double *out) {
  static const char *const non_finite[] = {"nan", "inf", "infinity", ".nan", ".inf"};
  const char *p = text;
  if (*p == '+' || *p == '-') ++p;
  for (size_t i = 0; i < sizeof non_finite / sizeof non_finite[0]; ++i)
    if (strcasecmp(p, non_finite[i]) == 0) return 2;
  if (!((*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9'))) return 0;
  for (const char *q = p; *q; ++q)
    if (!strchr("0123456789.eE+-", *q)) return 0; /* no hex floats, no spaces */
  errno = 0;
  char *end = NULL;
  double v = strtod(text, &end);
  if (end == text || *end != '\0') return 0;
  if (!isfinite(v) || (errno == ERANGE && fabs(v) == HUGE_VAL)) return 2;
  /* Underflow (ERANGE with a tiny result) is accepted: the nearest double is stored. */
  *out = v;
  return 1;
}

static void named_suffix(const rt_config_key *key, char *buf, size_t size) {
  char names[128] = "";
  choice_list(key->choices, names, sizeof names);
  if (names[0]) snprintf(buf, size, " (or %s)", names);
  else if (size) buf[0] = '\0';
}

static rt_apply_result int_range_why(const rt_config_key *key, int below, const char *text,
                                     char *why, size_t why_size) {
  char suffix[160], value[80];
  named_suffix(key, suffix, sizeof suffix);
  rt_config_show_value(text, value, sizeof value);
  if (below) snprintf(why, why_size, "must be >= %lld%s, got %s", key->imin, suffix, value);
  else snprintf(why, why_size, "must be <= %lld, got %s", key->imax, value);
  return RT_APPLY_RANGE;
}

static rt_apply_result type_why(const rt_config_key *key, const char *text, char *why,
                                size_t why_size) {
  char expected[256], value[80];
  rt_config_key_expected(key, expected, sizeof expected);
  rt_config_show_value(text, value, sizeof value);
  if (key->type == RT_KEY_ENUM) {
    const char *names[32];
    size_t n = 0;
    for (const rt_key_choice *c = key->choices; c->name && n < 32; ++c) names[n++] = c->name;
    const char *near = rt_suggest(text, names, n);
    if (near) {
      const rt_key_choice *c = choice_by_name(key->choices, near);
      if (c && c->alias) c = choice_by_value(key->choices, c->value);
      snprintf(why, why_size, "expected %s; got '%s'; did you mean '%s'?", expected, value,
               c ? c->name : near);
      return RT_APPLY_TYPE;
    }
    snprintf(why, why_size, "expected %s; got '%s'", expected, value);
    return RT_APPLY_TYPE;
  }
  snprintf(why, why_size, "expected %s, got '%s'", expected, value);
  return RT_APPLY_TYPE;
}

static void store_integer(const rt_config_key *key, void *field, long long v) {
  switch (key->store) {
    case RT_STORE_INT: *(int *)field = (int)v; break;
    case RT_STORE_LONG: *(long *)field = (long)v; break;
    case RT_STORE_U64: *(uint64_t *)field = (uint64_t)v; break;
    case RT_STORE_CHAR: *(char *)field = (char)v; break;
    case RT_STORE_FORMAT: *(rt_file_format *)field = (rt_file_format)v; break;
    case RT_STORE_OPTIMIZER: *(rt_optimizer *)field = (rt_optimizer)v; break;
    case RT_STORE_SCHEDULE: *(rt_schedule *)field = (rt_schedule)v; break;
    case RT_STORE_SOLVER: *(rt_solver *)field = (rt_solver)v; break;
    case RT_STORE_ALGORITHM: *(rt_kmeans_algorithm *)field = (rt_kmeans_algorithm)v; break;
    case RT_STORE_ACTIVATION: *(rt_activation *)field = (rt_activation)v; break;
    case RT_STORE_OUTPUT: *(rt_mlp_output *)field = (rt_mlp_output)v; break;
    case RT_STORE_INIT: *(rt_init_scheme *)field = (rt_init_scheme)v; break;
    case RT_STORE_NORMALIZE: *(rt_normalize *)field = (rt_normalize)v; break;
    case RT_STORE_METHOD: *(rt_sweep_method *)field = (rt_sweep_method)v; break;
    case RT_STORE_GOAL: *(rt_sweep_goal *)field = (rt_sweep_goal)v; break;
    case RT_STORE_DOUBLE: *(double *)field = (double)v; break;
    case RT_STORE_TEXT:
    case RT_STORE_TEXT_AUTO:
    case RT_STORE_DATA_SEED:
    case RT_STORE_SWEEP_SEED:
    case RT_STORE_KEY_MASK:
    case RT_STORE_LONG_PAIR:
    case RT_STORE_LONG_LIST:
    case RT_STORE_U64_AUTO: break; /* handled by the callers */
    case RT_STORE_LONG_AUTO: *(long *)field = (long)v; break;
  }
}

static long long load_integer(const rt_config_key *key, const void *field) {
  switch (key->store) {
    case RT_STORE_INT: return *(const int *)field;
    case RT_STORE_LONG: return *(const long *)field;
    case RT_STORE_U64: return (long long)*(const uint64_t *)field;
    case RT_STORE_CHAR: return *(const char *)field;
    case RT_STORE_FORMAT: return (long long)*(const rt_file_format *)field;
    case RT_STORE_OPTIMIZER: return (long long)*(const rt_optimizer *)field;
    case RT_STORE_SCHEDULE: return (long long)*(const rt_schedule *)field;
    case RT_STORE_SOLVER: return (long long)*(const rt_solver *)field;
    case RT_STORE_ALGORITHM: return (long long)*(const rt_kmeans_algorithm *)field;
    case RT_STORE_ACTIVATION: return (long long)*(const rt_activation *)field;
    case RT_STORE_OUTPUT: return (long long)*(const rt_mlp_output *)field;
    case RT_STORE_INIT: return (long long)*(const rt_init_scheme *)field;
    case RT_STORE_NORMALIZE: return (long long)*(const rt_normalize *)field;
    case RT_STORE_METHOD: return (long long)*(const rt_sweep_method *)field;
    case RT_STORE_GOAL: return (long long)*(const rt_sweep_goal *)field;
    case RT_STORE_DOUBLE:
    case RT_STORE_TEXT:
    case RT_STORE_TEXT_AUTO:
    case RT_STORE_DATA_SEED:
    case RT_STORE_SWEEP_SEED:
    case RT_STORE_KEY_MASK:
    case RT_STORE_LONG_PAIR:
    case RT_STORE_LONG_LIST:
    case RT_STORE_U64_AUTO: break;
    case RT_STORE_LONG_AUTO: return *(const long *)field;
  }
  return 0;
}

static rt_apply_result apply_text(const rt_config_key *key, char *field, const char *text,
                                  const char *dir, char *why, size_t why_size) {
  size_t n = strlen(text);
  if (key->type == RT_KEY_PATH && text[0] != '/' && dir && dir[0] && strcmp(dir, ".") != 0) {
    size_t d = strlen(dir);
    int slash = dir[d - 1] != '/';
    if (d + (size_t)slash + n + 1 > key->size) {
      snprintf(why, why_size, "path too long once joined to '%s' (at most %zu bytes)", dir,
               key->size - 1);
      return RT_APPLY_TYPE;
    }
    memcpy(field, dir, d);
    if (slash) field[d] = '/';
    memcpy(field + d + (size_t)slash, text, n + 1);
    return RT_APPLY_OK;
  }
  if (n + 1 > key->size) {
    snprintf(why, why_size, "%s too long (at most %zu bytes)",
             key->type == RT_KEY_PATH ? "path" : "value", key->size - 1);
    return RT_APPLY_TYPE;
  }
  memcpy(field, text, n + 1);
  return RT_APPLY_OK;
}

/* Copies text[begin, end) without surrounding spaces into buf (always terminated; 0 when it does
 * not fit). */
static int trimmed(const char *begin, const char *end, char *buf, size_t size) {
  while (begin < end && (*begin == ' ' || *begin == '\t')) ++begin;
  while (end > begin && (end[-1] == ' ' || end[-1] == '\t')) --end;
  size_t n = (size_t)(end - begin);
  if (n + 1 > size) return 0;
  memcpy(buf, begin, n);
  buf[n] = '\0';
  return 1;
}

/* The items text of a list value: "[a, b]" or "a, b" -> "a, b" (trimmed, one optional pair of
 * brackets removed); 0 when it does not fit or the brackets do not pair up. */
static int list_body(const char *text, char *bare, size_t cap) {
  char inner[512];
  if (cap > sizeof inner || !trimmed(text, text + strlen(text), inner, cap)) return 0;
  size_t n = strlen(inner);
  if (n > 0 && inner[0] == '[') {
    if (inner[n - 1] != ']') return 0;
    inner[n - 1] = '\0';
    memmove(inner, inner + 1, n - 1);
  } else if (n > 0 && inner[n - 1] == ']') {
    return 0;
  }
  return trimmed(inner, inner + strlen(inner), bare, cap);
}

/* RT_KEY_INT_RANGE: "[a, b]", "a,b", "[]" or "" (not set). */
static rt_apply_result apply_int_range(const rt_config_key *key, long *field, const char *text,
                                       char *why, size_t why_size) {
  char bare[128], first_text[64], last_text[64];
  if (!list_body(text, bare, sizeof bare)) return type_why(key, text, why, why_size);
  if (bare[0] == '\0') { /* [] or nothing: not set */
    field[0] = field[1] = 0;
    return RT_APPLY_OK;
  }
  const char *comma = strchr(bare, ',');
  if (!comma || strchr(comma + 1, ',') || !trimmed(bare, comma, first_text, sizeof first_text) ||
      !trimmed(comma + 1, bare + strlen(bare), last_text, sizeof last_text))
    return type_why(key, text, why, why_size);
  long long first = 0, last = 0;
  int rf = parse_int(first_text, &first), rl = parse_int(last_text, &last);
  if (rf == 0 || rl == 0) return type_why(key, text, why, why_size);
  char value[80];
  rt_config_show_value(text, value, sizeof value);
  if (rf < 0) first = first_text[0] == '-' ? LLONG_MIN : LLONG_MAX;
  if (rl < 0) last = last_text[0] == '-' ? LLONG_MIN : LLONG_MAX;
  if (first < key->imin) {
    snprintf(why, why_size, "must start at a pass >= %lld, got %s", key->imin, value);
    return RT_APPLY_RANGE;
  }
  if (last > key->imax) {
    snprintf(why, why_size, "must end at a pass <= %lld, got %s", key->imax, value);
    return RT_APPLY_RANGE;
  }
  if (first > last) {
    snprintf(why, why_size, "must be [first, last] with first <= last, got %s", value);
    return RT_APPLY_RANGE;
  }
  field[0] = (long)first;
  field[1] = (long)last;
  return RT_APPLY_OK;
}

/* RT_KEY_INT_LIST: "[a, b, c]", "a,b,c" or "a" into values[0..*count) (at most key->size). */
static rt_apply_result apply_int_list(const rt_config_key *key, long *values, int *count,
                                      const char *text, char *why, size_t why_size) {
  const char *item = key->item ? key->item : "value";
  char bare[512], value[80];
  rt_config_show_value(text, value, sizeof value);
  if (!list_body(text, bare, sizeof bare)) return type_why(key, text, why, why_size);
  if (bare[0] == '\0') {
    snprintf(why, why_size, "expected at least one %s, got an empty list", item);
    return RT_APPLY_TYPE;
  }
  size_t used = 0, items = 1;
  for (const char *p = bare; *p; ++p) items += *p == ',';
  if (items > key->size) {
    snprintf(why, why_size, "must list at most %zu %ss, got %zu", key->size, item, items);
    return RT_APPLY_RANGE;
  }
  const char *p = bare;
  for (;;) {
    const char *comma = strchr(p, ',');
    const char *stop = comma ? comma : p + strlen(p);
    char one[64];
    long long v = 0;
    if (!trimmed(p, stop, one, sizeof one)) return type_why(key, text, why, why_size);
    int r = parse_int(one, &v);
    if (r == 0) return type_why(key, text, why, why_size);
    if (r < 0) v = one[0] == '-' ? LLONG_MIN : LLONG_MAX;
    if (v < key->imin || v > key->imax) {
      char shown[80];
      rt_config_show_value(one, shown, sizeof shown);
      snprintf(why, why_size, "must have every %s %s %lld, got %s in %s", item,
               v < key->imin ? ">=" : "<=", v < key->imin ? key->imin : key->imax, shown, value);
      return RT_APPLY_RANGE;
    }
    values[used++] = (long)v;
    if (!comma) break;
    p = comma + 1;
  }
  *count = (int)used;
  return RT_APPLY_OK;
}

/* RT_KEY_COLUMN_LIST: "all", or "[a:b, c, ...]" / "a:b,c" / "c" into pairs (values, *count longs). */
static rt_apply_result apply_column_list(const rt_config_key *key, long *values, int *count,
                                         const char *text, char *why, size_t why_size) {
  char bare[512], value[80];
  rt_config_show_value(text, value, sizeof value);
  if (strcmp(text, "all") == 0) {
    *count = 0;
    return RT_APPLY_OK;
  }
  if (!list_body(text, bare, sizeof bare) || bare[0] == '\0')
    return type_why(key, text, why, why_size);
  size_t items = 1;
  for (const char *p = bare; *p; ++p) items += *p == ',';
  if (items > key->size / 2) {
    snprintf(why, why_size, "must list at most %zu column ranges, got %zu", key->size / 2, items);
    return RT_APPLY_RANGE;
  }
  size_t used = 0;
  for (const char *p = bare;;) {
    const char *comma = strchr(p, ',');
    const char *stop = comma ? comma : p + strlen(p);
    char one[64];
    if (!trimmed(p, stop, one, sizeof one)) return type_why(key, text, why, why_size);
    char *colon = strchr(one, ':');
    long long a = 0, b = 0;
    if (colon) *colon = '\0';
    if (parse_int(one, &a) != 1 || (colon && parse_int(colon + 1, &b) != 1))
      return type_why(key, text, why, why_size);
    if (!colon) b = a + 1;
    if (a < key->imin || b - 1 > key->imax || a >= b) {
      snprintf(why, why_size,
               "must have columns in [%lld, %lld] and ranges a:b with a < b (half-open), got %s",
               key->imin, key->imax, value);
      return RT_APPLY_RANGE;
    }
    values[used++] = (long)a;
    values[used++] = (long)b;
    if (!comma) break;
    p = comma + 1;
  }
  *count = (int)used;
  return RT_APPLY_OK;
}

/* RT_KEY_NAME_LIST: "[a, b]", "a,b", "a", "[]" or "" into a mask of model keys. */
static rt_apply_result apply_name_list(const rt_config_key *key, uint64_t *mask, const char *text,
                                       char *why, size_t why_size) {
  char inner[1024];
  const char *end = text + strlen(text);
  if (!trimmed(text, end, inner, sizeof inner)) return type_why(key, text, why, why_size);
  size_t n = strlen(inner);
  if (n > 0 && inner[0] == '[') {
    if (inner[n - 1] != ']') return type_why(key, text, why, why_size);
    inner[n - 1] = '\0';
    memmove(inner, inner + 1, n - 1);
  } else if (n > 0 && inner[n - 1] == ']') {
    return type_why(key, text, why, why_size);
  }
  char bare[1024];
  if (!trimmed(inner, inner + strlen(inner), bare, sizeof bare))
    return type_why(key, text, why, why_size);
  uint64_t bits = 0;
  for (const char *p = bare; *p;) {
    const char *comma = strchr(p, ',');
    const char *stop = comma ? comma : p + strlen(p);
    char one[64];
    if (!trimmed(p, stop, one, sizeof one) || one[0] == '\0')
      return type_why(key, text, why, why_size);
    const rt_config_key *named = rt_config_key_find(RT_SECTION_MODEL, one);
    if (!named || named->type == RT_KEY_NAME_LIST) {
      char shown[80];
      rt_config_show_value(one, shown, sizeof shown);
      const char *near = named ? NULL : rt_config_key_suggest(RT_SECTION_MODEL, one);
      if (near)
        snprintf(why, why_size, "expected a list of model key names, got '%s'; did you mean '%s'?",
                 shown, near);
      else snprintf(why, why_size, "expected a list of model key names, got '%s'", shown);
      return RT_APPLY_TYPE;
    }
    bits |= UINT64_C(1) << rt_model_key_index(named);
    if (!comma) break;
    p = comma + 1;
    if (*p == '\0') return type_why(key, text, why, why_size); /* "a," */
  }
  *mask = bits;
  return RT_APPLY_OK;
}

/* RT_STORE_U64_AUTO, RT_STORE_LONG_AUTO, and model enums shown when given (RT_SHOW_GIVEN): the
 * key's bit in rt_model_config.given. */
static void set_given(const rt_config_key *key, void *obj, int given) {
  rt_model_config *model = (rt_model_config *)obj;
  const uint64_t bit = UINT64_C(1) << rt_model_key_index(key);
  model->given = given ? model->given | bit : model->given & ~bit;
}

rt_apply_result rt_config_key_apply(const rt_config_key *key, void *obj, const char *text,
                                    const char *dir, char *why, size_t why_size) {
  char *field = (char *)obj + key->offset;
  if (why_size) why[0] = '\0';
  switch (key->type) {
    case RT_KEY_INT: {
      long long v = 0;
      const rt_key_choice *c = choice_by_name(key->choices, text);
      if (key->store == RT_STORE_LONG_AUTO) {
        if (c) return set_given(key, obj, 0), RT_APPLY_OK;
        int r = parse_int(text, &v);
        if (r == 0) return type_why(key, text, why, why_size);
        if (r < 0 || v < key->imin || v > key->imax)
          return int_range_why(key, r < 0 ? text[0] == '-' : v < key->imin, text, why, why_size);
        *(long *)field = (long)v;
        return set_given(key, obj, 1), RT_APPLY_OK;
      }
      if (c) {
        store_integer(key, field, c->value);
        return RT_APPLY_OK;
      }
      int r = parse_int(text, &v);
      if (r == 0) return type_why(key, text, why, why_size);
      if (r < 0) return int_range_why(key, text[0] == '-', text, why, why_size);
      if ((v < key->imin || v > key->imax) && !choice_by_value(key->choices, v))
        return int_range_why(key, v < key->imin, text, why, why_size);
      store_integer(key, field, v);
      return RT_APPLY_OK;
    }
    case RT_KEY_UINT64: {
      uint64_t v = 0;
      const rt_key_choice *c = choice_by_name(key->choices, text);
      if (key->store == RT_STORE_DATA_SEED) {
        rt_config *cfg = (rt_config *)obj;
        if (c) {
          cfg->data.seed_set = 0;
          cfg->data.seed = cfg->run.seed;
          return RT_APPLY_OK;
        }
      }
      if (key->store == RT_STORE_SWEEP_SEED) {
        rt_config *cfg = (rt_config *)obj;
        if (c) {
          cfg->sweep.seed_set = 0;
          cfg->sweep.seed = cfg->run.seed;
          return RT_APPLY_OK;
        }
      }
      if (key->store == RT_STORE_U64_AUTO && c) return set_given(key, obj, 0), RT_APPLY_OK;
      int r = parse_u64(text, &v);
      if (r == 0) return type_why(key, text, why, why_size);
      if (r < 0) {
        char value[80], suffix[160];
        rt_config_show_value(text, value, sizeof value);
        named_suffix(key, suffix, sizeof suffix);
        if (r == -2) snprintf(why, why_size, "must be >= 0%s, got %s", suffix, value);
        else snprintf(why, why_size, "must be <= %" PRIu64 ", got %s", UINT64_MAX, value);
        return RT_APPLY_RANGE;
      }
      if (key->store == RT_STORE_DATA_SEED) {
        rt_config *cfg = (rt_config *)obj;
        cfg->data.seed = v;
        cfg->data.seed_set = 1;
      } else if (key->store == RT_STORE_SWEEP_SEED) {
        rt_config *cfg = (rt_config *)obj;
        cfg->sweep.seed = v;
        cfg->sweep.seed_set = 1;
      } else {
        *(uint64_t *)field = v;
        if (key->store == RT_STORE_U64_AUTO) set_given(key, obj, 1);
      }
      return RT_APPLY_OK;
    }
    case RT_KEY_NUMBER: {
      double v = 0.0;
      int r = parse_number(text, &v);
      if (r == 0) return type_why(key, text, why, why_size);
      if (r == 2) {
        char value[80];
        rt_config_show_value(text, value, sizeof value);
        snprintf(why, why_size, "expected a finite number, got '%s'", value);
        return RT_APPLY_TYPE;
      }
      int low_bad = key->dmin_open ? !(v > key->dmin) : !(v >= key->dmin);
      int high_bad = key->dmax_open ? !(v < key->dmax) : !(v <= key->dmax);
      if (low_bad || high_bad) {
        char value[80];
        rt_config_show_value(text, value, sizeof value);
        if (key->dmax == HUGE_VAL)
          snprintf(why, why_size, "must be %s %g, got %s", key->dmin_open ? ">" : ">=", key->dmin,
                   value);
        else
          snprintf(why, why_size, "must be in %c%g, %g%c, got %s", key->dmin_open ? '(' : '[',
                   key->dmin, key->dmax, key->dmax_open ? ')' : ']', value);
        return RT_APPLY_RANGE;
      }
      *(double *)field = v;
      return RT_APPLY_OK;
    }
    case RT_KEY_ENUM: {
      const rt_key_choice *c = choice_by_name(key->choices, text);
      if (!c) return type_why(key, text, why, why_size);
      if (key->store == RT_STORE_TEXT || key->store == RT_STORE_TEXT_AUTO) {
        const rt_key_choice *canonical = c->alias ? choice_by_value(key->choices, c->value) : c;
        if (!canonical) canonical = c;
        const char *stored =
            key->store == RT_STORE_TEXT_AUTO && canonical->value == 0 ? "" : canonical->name;
        return apply_text(key, field, stored, NULL, why, why_size);
      }
      store_integer(key, field, c->value);
      /* A model key shown only when given (normalize): resolving auto later does not give it. */
      if (key->section == RT_SECTION_MODEL && key->show == RT_SHOW_GIVEN)
        set_given(key, obj, strcmp(c->name, "auto") != 0);
      return RT_APPLY_OK;
    }
    case RT_KEY_PATH:
      if (text[0] == '\0') {
        if (key->required) {
          snprintf(why, why_size, "expected a path, got ''");
          return RT_APPLY_TYPE;
        }
        field[0] = '\0';
        return RT_APPLY_OK;
      }
      return apply_text(key, field, text, dir, why, why_size);
    case RT_KEY_STRING:
      if (text[0] == '\0') {
        snprintf(why, why_size, "expected a non-empty string, got ''");
        return RT_APPLY_TYPE;
      }
      return apply_text(key, field, text, NULL, why, why_size);
    case RT_KEY_INT_RANGE: {
      long pair[2] = {0, 0};
      rt_apply_result r = apply_int_range(key, pair, text, why, why_size);
      if (r == RT_APPLY_OK) memcpy(field, pair, sizeof pair);
      return r;
    }
    case RT_KEY_INT_LIST:
    case RT_KEY_COLUMN_LIST: { /* RT_STORE_LONG_LIST: the longs, then their count */
      long values[64];
      int count = 0;
      if (key->size > sizeof values / sizeof values[0]) {
        snprintf(why, why_size, "internal error: list capacity too large");
        return RT_APPLY_TYPE;
      }
      rt_apply_result r = key->type == RT_KEY_INT_LIST
                              ? apply_int_list(key, values, &count, text, why, why_size)
                              : apply_column_list(key, values, &count, text, why, why_size);
      if (r != RT_APPLY_OK) return r;
      memset(field, 0, key->size * sizeof(long));
      memcpy(field, values, (size_t)count * sizeof(long));
      memcpy(field + key->size * sizeof(long), &count, sizeof count);
      return RT_APPLY_OK;
    }
    case RT_KEY_NAME_LIST: {
      uint64_t mask = 0;
      rt_apply_result r = apply_name_list(key, &mask, text, why, why_size);
      if (r == RT_APPLY_OK) memcpy(field, &mask, sizeof mask);
      return r;
    }
  }
  snprintf(why, why_size, "internal error: unknown key type");
  return RT_APPLY_TYPE;
}

/* ---------------------------------------------------------------------------------------------
 * Formatting one value
 * ------------------------------------------------------------------------------------------- */

/* Shortest %g text that reads back as exactly v (at most 17 significant digits). */
static int format_double(double v, char *buf, size_t size) {
  char text[RT_NUMFMT_MAX];
  const int n = snprintf(buf, size, "%s", rt_format_double(v, text));
  return n >= 0 && (size_t)n < size;
}

static int is_given(const rt_config_key *key, const void *obj) {
  return ((const rt_model_config *)obj)->given >> rt_model_key_index(key) & 1;
}

int rt_config_key_format(const rt_config_key *key, const void *obj, char *buf, size_t size) {
  const char *field = (const char *)obj + key->offset;
  int n = 0;
  if (size == 0) return 0;
  buf[0] = '\0';
  switch (key->type) {
    case RT_KEY_INT: {
      long long v = load_integer(key, field);
      if (key->store == RT_STORE_LONG_AUTO) {
        n = is_given(key, obj) ? snprintf(buf, size, "%lld", v) : snprintf(buf, size, "auto");
        break;
      }
      const rt_key_choice *c = choice_by_value(key->choices, v);
      n = c ? snprintf(buf, size, "%s", c->name) : snprintf(buf, size, "%lld", v);
      break;
    }
    case RT_KEY_UINT64:
      if (key->store == RT_STORE_DATA_SEED) {
        const rt_config *cfg = (const rt_config *)obj;
        n = cfg->data.seed_set ? snprintf(buf, size, "%" PRIu64, cfg->data.seed)
                               : snprintf(buf, size, "auto");
      } else if (key->store == RT_STORE_SWEEP_SEED) {
        const rt_config *cfg = (const rt_config *)obj;
        n = cfg->sweep.seed_set ? snprintf(buf, size, "%" PRIu64, cfg->sweep.seed)
                                : snprintf(buf, size, "auto");
      } else if (key->store == RT_STORE_U64_AUTO && !is_given(key, obj)) {
        n = snprintf(buf, size, "auto");
      } else {
        n = snprintf(buf, size, "%" PRIu64, *(const uint64_t *)field);
      }
      break;
    case RT_KEY_NUMBER:
      return isfinite(*(const double *)field) && format_double(*(const double *)field, buf, size);
    case RT_KEY_ENUM:
      if (key->store == RT_STORE_TEXT_AUTO) {
        if (!memchr(field, '\0', key->size)) return 0;
        if (field[0] == '\0') {
          const rt_key_choice *c = choice_by_value(key->choices, 0);
          if (!c) return 0;
          n = snprintf(buf, size, "%s", c->name);
        } else {
          /* Only canonical names are stored. */
          const rt_key_choice *c = choice_by_name(key->choices, field);
          if (!c || c->alias || c->value == 0) return 0;
          n = snprintf(buf, size, "%s", field);
        }
      } else if (key->store == RT_STORE_TEXT) {
        if (!memchr(field, '\0', key->size)) return 0;
        n = snprintf(buf, size, "%s", field);
      } else {
        const rt_key_choice *c = choice_by_value(key->choices, load_integer(key, field));
        if (!c) return 0;
        n = snprintf(buf, size, "%s", c->name);
      }
      break;
    case RT_KEY_PATH:
    case RT_KEY_STRING:
      if (!memchr(field, '\0', key->size)) return 0;
      n = snprintf(buf, size, "%s", field);
      break;
    case RT_KEY_INT_RANGE: {
      long pair[2];
      memcpy(pair, field, sizeof pair);
      n = pair[0] == 0 && pair[1] == 0 ? snprintf(buf, size, "[]")
                                       : snprintf(buf, size, "[%ld, %ld]", pair[0], pair[1]);
      break;
    }
    case RT_KEY_INT_LIST: {
      int count = 0;
      memcpy(&count, field + key->size * sizeof(long), sizeof count);
      if (count < 0 || (size_t)count > key->size) return 0;
      n = snprintf(buf, size, "[");
      for (int i = 0; i < count && n >= 0 && (size_t)n < size; ++i) {
        long v;
        memcpy(&v, field + (size_t)i * sizeof(long), sizeof v);
        int m = snprintf(buf + n, size - (size_t)n, "%s%ld", i ? ", " : "", v);
        n = m < 0 ? -1 : n + m;
      }
      if (n >= 0 && (size_t)n < size) {
        int m = snprintf(buf + n, size - (size_t)n, "]");
        n = m < 0 ? -1 : n + m;
      }
      break;
    }
    case RT_KEY_COLUMN_LIST: {
      int count = 0;
      memcpy(&count, field + key->size * sizeof(long), sizeof count);
      if (count < 0 || (size_t)count > key->size || count % 2) return 0;
      if (count == 0) {
        n = snprintf(buf, size, "all");
        break;
      }
      n = snprintf(buf, size, "[");
      for (int i = 0; i < count && n >= 0 && (size_t)n < size; i += 2) {
        long a, b;
        memcpy(&a, field + (size_t)i * sizeof(long), sizeof a);
        memcpy(&b, field + (size_t)(i + 1) * sizeof(long), sizeof b);
        int m = b == a + 1 ? snprintf(buf + n, size - (size_t)n, "%s%ld", i ? ", " : "", a)
                           : snprintf(buf + n, size - (size_t)n, "%s%ld:%ld", i ? ", " : "", a, b);
        n = m < 0 ? -1 : n + m;
      }
      if (n >= 0 && (size_t)n < size) {
        int m = snprintf(buf + n, size - (size_t)n, "]");
        n = m < 0 ? -1 : n + m;
      }
      break;
    }
    case RT_KEY_NAME_LIST: {
      uint64_t mask;
      memcpy(&mask, field, sizeof mask);
      n = snprintf(buf, size, "[");
      size_t models = rt_model_key_count();
      for (size_t i = 0; i < 64 && n >= 0 && (size_t)n < size; ++i) {
        if (!(mask >> i & 1u)) continue;
        const rt_config_key *named = rt_model_key_at(i);
        if (i >= models || !named || named->type == RT_KEY_NAME_LIST) return 0;
        int m = snprintf(buf + n, size - (size_t)n, "%s%s", (size_t)n > 1 ? ", " : "", named->name);
        n = m < 0 ? -1 : n + m;
      }
      if (n >= 0 && (size_t)n < size) {
        int m = snprintf(buf + n, size - (size_t)n, "]");
        n = m < 0 ? -1 : n + m;
      }
      break;
    }
  }
  return n >= 0 && (size_t)n < size;
}

void rt_model_config_defaults(rt_model_config *model) {
  memset(model, 0, sizeof *model);
  char why[256];
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    const rt_config_key *key = &rt_config_keys[i];
    if (key->section != RT_SECTION_MODEL || !key->default_text) continue;
    /* The defaults are checked by the unit tests; they cannot fail. */
    (void)rt_config_key_apply(key, model, key->default_text, NULL, why, sizeof why);
  }
}

uint64_t rt_model_seed_auto(uint64_t run_seed, uint64_t id) {
  return rt_key_push(rt_key_push(run_seed, 0x6d6f64656cULL /* "model" */), id);
}

static uint64_t model_bit(const char *name) {
  return UINT64_C(1) << rt_model_key_index(rt_config_key_find(RT_SECTION_MODEL, name));
}

void rt_model_config_resolve(rt_model_config *model, uint64_t run_seed, uint64_t id) {
  if (!(model->given & model_bit("seed"))) model->seed = rt_model_seed_auto(run_seed, id);
  if (!(model->given & model_bit("data_order"))) model->data_order = run_seed;
}

void rt_model_config_pin(rt_model_config *model, uint64_t run_seed, uint64_t id) {
  rt_model_config_resolve(model, run_seed, id);
  model->given |= model_bit("seed") | model_bit("data_order") | model_bit("start_shard");
}

/* ---------------------------------------------------------------------------------------------
 * Model keys by position, and shared parsers
 * ------------------------------------------------------------------------------------------- */

int rt_config_key_is_list(const rt_config_key *key) {
  return key->type == RT_KEY_INT_RANGE || key->type == RT_KEY_INT_LIST ||
         key->type == RT_KEY_NAME_LIST || key->type == RT_KEY_COLUMN_LIST;
}

size_t rt_model_key_index(const rt_config_key *key) {
  size_t index = 0;
  for (const rt_config_key *k = rt_config_keys; k < key; ++k)
    index += k->section == RT_SECTION_MODEL;
  return index;
}

const rt_config_key *rt_model_key_at(size_t index) {
  for (size_t i = 0; i < rt_config_key_count; ++i) {
    if (rt_config_keys[i].section != RT_SECTION_MODEL) continue;
    if (index-- == 0) return &rt_config_keys[i];
  }
  return NULL;
}

size_t rt_model_key_count(void) {
  size_t n = 0;
  for (size_t i = 0; i < rt_config_key_count; ++i)
    n += rt_config_keys[i].section == RT_SECTION_MODEL;
  return n;
}

const char *rt_model_key_name(size_t index) {
  const rt_config_key *key = rt_model_key_at(index);
  return key ? key->name : NULL;
}

int rt_model_key_text(const rt_model_config *model, size_t index, char *buf, size_t size) {
  const rt_config_key *key = rt_model_key_at(index);
  if (!key) {
    if (size) buf[0] = '\0';
    return 0;
  }
  return rt_config_key_format(key, model, buf, size);
}

int rt_model_swept_text(const rt_model_config *model, char *buf, size_t size) {
  if (size == 0) return 0;
  buf[0] = '\0';
  size_t used = 0;
  for (size_t i = 0; i < 64; ++i) {
    if (!(model->swept >> i & 1u)) continue;
    const rt_config_key *key = rt_model_key_at(i);
    if (!key) return 0;
    char value[256];
    if (!rt_config_key_format(key, model, value, sizeof value)) return 0;
    int n = snprintf(buf + used, size - used, "%s%s=%s", used ? " " : "", key->name, value);
    if (n < 0 || (size_t)n >= size - used) return 0;
    used += (size_t)n;
  }
  return 1;
}

int rt_config_parse_int(const char *text, long long *out) { return parse_int(text, out); }

int rt_config_parse_number(const char *text, double *out) { return parse_number(text, out); }

int rt_config_format_double(double v, char *buf, size_t size) {
  return isfinite(v) && format_double(v, buf, size);
}
