/* A model = immutable spec + ONE flat state buffer. The state buffer is the only thing that is
 * handed off between ranks, written to model files, hashed and compared; everything needed to
 * continue training anywhere is in it. */
#ifndef RINGTRAIN_MODEL_H
#define RINGTRAIN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ringtrain/config.h"
#include "ringtrain/results.h"
#include "ringtrain/status.h"

struct rt_csr_rows; /* sparse_rows.h */

/* What the data fixes about every model of a run. */
typedef struct rt_problem {
  size_t features;      /* the model's input width: its view's (view.h), else the data's */
  size_t data_features; /* feature columns of the data rows the view picks from */
  int libsvm_base;      /* trained on LIBSVM rows: their first index + 1 (1 or 2); 0: not */
  size_t classes;       /* 0 when no model of the run classifies */
  uint64_t train_rows;  /* all training rows over all shards; 0 = not known (check on CSV) */
} rt_problem;

typedef struct rt_model_spec {
  uint64_t id;        /* index in the config's models list */
  rt_model_config hp; /* hyper-parameters */
  rt_problem problem;
  uint64_t seed;          /* run seed */
  uint64_t passes;        /* passes to train */
  uint64_t shards;        /* S: logical shards of the training data */
  uint64_t shards_used;   /* run.shards_in_use: the first n shards are visited (0: all S) */
  int succession;         /* run.succession: rotate, fixed or shuffle (src/engine/route.h) */
  uint64_t total_batches; /* batches in one pass over all shards (for the cosine schedule) */
  int label_column;       /* as resolved against the training file (-1: none) */
  const struct rt_scaling *scaling; /* data.normalize of the run (not owned; NULL: none) */
  int eval_every_pass; /* run.eval_every_pass: the state keeps per-pass validation sums */
} rt_model_spec;

#define RT_STATE_MAGIC 0x3153544154535452ULL /* "RTSTATS1" little-endian */
#define RT_STATE_ALIGN 64

/* Fixed-size header at the start of every state buffer (128 bytes). */
typedef struct rt_state_header {
  uint64_t magic;
  uint64_t model_id;
  uint64_t pass;        /* passes completed */
  uint64_t position;    /* shards completed in the current pass, 0..S-1 */
  uint64_t step;        /* optimizer steps taken */
  uint64_t rng_key;     /* the model's own RNG key, derived from (seed, id) */
  uint64_t samples;     /* rows integrated, all passes */
  uint64_t diverged;    /* 1 once a loss was not finite; training stops updating then */
  double pass_loss_sum; /* sum of per-row losses in the current pass */
  uint64_t pass_loss_rows;
  uint64_t param_count;   /* floats of parameters */
  uint64_t aux_count;     /* floats of optimizer state */
  uint64_t history_count; /* doubles of per-pass training loss (= passes) */
  uint64_t stopped_early; /* 0, or the pass after which early termination stopped the model */
  uint64_t batch_cursor;  /* batches of the current shard visit done; nonzero only in a state
                              stopped mid-visit (a checkpoint on a signal), 0 otherwise */
  uint64_t pbt_steps;     /* sweep.method pbt: the exploit/explore steps applied (src/engine/pbt.h);
                             0 otherwise */
} rt_state_header;

/* Byte offsets inside a state buffer. */
typedef struct rt_state_layout {
  size_t history_offset;     /* double[passes] */
  size_t val_history_offset; /* double[passes][RT_EVAL_SUMS + 1] (sums, rows) or none */
  size_t val_history_doubles;
  size_t params_offset; /* float[param_count] */
  size_t aux_offset;    /* float[aux_count] */
  size_t total_bytes;
  size_t param_count, aux_count;
} rt_state_layout;

/* What a family learns, which decides how labels are read and which metrics apply. */
typedef enum rt_task {
  RT_TASK_CLASSIFICATION = 0, /* labels are class indices 0..classes-1 */
  RT_TASK_REGRESSION,         /* labels are real-valued targets */
  RT_TASK_CLUSTERING          /* labels are ignored */
} rt_task;

/* Evaluation accumulates at most this many double sums over rows (in row order); shards' sums are
 * added in shard order, so metrics do not depend on the rank layout. */
#define RT_EVAL_SUMS 6
#define RT_MAX_METRICS 4

/* The families, by their position in the one registry (src/models/registry.c): the CUDA backend
 * finds its kernels for a family by this id (cuda/compute.cu), so a family added here without
 * kernels is a compile error there, not a second list to keep in step. */
typedef enum rt_family_id {
  RT_FAMILY_LOGISTIC = 0,
  RT_FAMILY_KMEANS,
  RT_FAMILY_LINEAR,
  RT_FAMILY_MLP,
  RT_FAMILY_COUNT
} rt_family_id;

/* One model family. Training goes through the group operations (group_*: a model alone is a
 * group of one) or, for models those do not take (group_capable), integrate_batch. Gradient
 * families (logistic, mlp, linear with solver sgd) share the optimizers and also provide
 * batch_gradient, the same arithmetic for one model (the gradient checks use it).
 * Batch math is CPU here; the CUDA backend provides its own kernels behind the same spec/state
 * contract. Optional members may be NULL. */
typedef struct rt_family {
  const char *kind;
  rt_family_id id; /* its position in the registry */
  rt_task (*task)(const rt_model_spec *spec);
  /* Checks hyper-parameters against the problem before any work. */
  rt_code (*check)(const rt_model_spec *spec, rt_status *st);
  size_t (*param_count)(const rt_model_spec *spec);
  /* Floats of state after the parameters; NULL: the optimizer's (moments, velocity). */
  size_t (*aux_floats)(const rt_model_spec *spec);
  /* Deterministic initial parameters from the model's RNG key. */
  void (*init_params)(const rt_model_spec *spec, uint64_t key, float *params);
  /* Optional: initialisation that needs data (k-means++), run where the model starts, on the first
   * shard of its succession (resident or streamed); the same on any rank layout. Fails only when
   * a streamed shard's rows cannot be read, or memory runs out (st may be NULL). */
  rt_code (*init_from_data)(const rt_model_spec *spec, uint64_t key, float *params, float *aux,
                            const rt_shard *first_shard, rt_status *st);
  /* Scratch floats needed for `rows` rows (training batch, evaluation or prediction chunk). */
  size_t (*workspace_floats)(const rt_model_spec *spec, size_t rows);
  /* Gradient families: loss and mean gradient of a batch (plus L2 where it applies) into grad;
   * *loss_sum the sum of per-row losses (before the update). Not a training path: the group
   * operations of one model compute the same; tests check gradients with it. */
  void (*batch_gradient)(const rt_model_spec *spec, const float *params, const float *x,
                         const float *y, size_t rows, float *grad, double *loss_sum, float *ws);
  /* Other families: the whole update of one batch; *loss_sum as above. step is the 0-based
   * number of batches integrated before this one. */
  void (*integrate_batch)(const rt_model_spec *spec, float *params, float *aux, const float *x,
                          const float *y, size_t rows, uint64_t step, double *loss_sum, float *ws);
  /* Fused integration of a GROUP: m models of this family that share every batch (same batch
   * size, order and succession: src/engine/groups.h), driven batch by batch by the CPU backend
   * (src/engine/backend_cpu.c, rt_cpu_integrate_group_visit). A group of one is the solo path:
   * every model of a family that has these trains through them, so a member's bits equal its
   * solo bits exactly when the fused arithmetic computes every member's numbers as a group of
   * one would (GEMMs over concatenated weights: column independence; element-wise work in the
   * same per-member loops). All four are set together or not at all (then the backend uses
   * integrate_batch, member by member).
   * group_floats: floats of the group buffer for m members and batches of up to `rows` rows
   *   (the members' parameters and optimizer state in the family's fused layout, plus scratch).
   * group_gather: before the first batch of a visit, the members' states (params and aux, from
   *   their state buffers) into the group buffer g.
   * group_batch: one batch for every member: *active[i] == 0 means member i has diverged and
   *   must not change (its loss_sums[i] is then ignored); steps[i] is member i's 0-based optimizer
   *   step; loss_sums[i] gets member i's sum of per-row losses before the update (a member whose
   *   loss is not finite is marked diverged by the backend afterwards, as in the solo path).
   * group_scatter: after the last batch of a visit (or at a stop between batches), g back into
   *   the members' state buffers (params and aux only; headers are the backend's). */
  size_t (*group_floats)(const rt_model_spec *const *specs, size_t m, size_t rows);
  void (*group_gather)(const rt_model_spec *const *specs, size_t m, void *const *states, float *g);
  void (*group_batch)(const rt_model_spec *const *specs, size_t m, float *g, const float *x,
                      const float *y, size_t rows, const uint64_t *steps,
                      const unsigned char *active, double *loss_sums);
  void (*group_scatter)(const rt_model_spec *const *specs, size_t m, const float *g,
                        void *const *states);
  /* Optional, with the group operations: whether a model trains through them (NULL: every model
   * of the family does). The members of a group agree on it (groups.c groups by solver and
   * algorithm); a model that does not trains member by member through integrate_batch. Linear:
   * solver sgd only. */
  int (*group_capable)(const rt_model_spec *spec);
  /* Optional, with the group operations: sparse input (LIBSVM shards, sparse_rows.h), so that a
   * batch costs what its non-zeros cost. group_batch_sparse is group_batch on x->rows sparse rows
   * (the model's input as it is: no view, no scaling of its own); plain-SGD members update lazily
   * and settle when x->settle says so. sparse_settle_period: batches between the settled points
   * of a visit of these members (the only points a visit may stop at between batches; NULL: 1).
   * eval_rows_sparse and predict_sparse: eval_rows and predict on sparse rows (ws as for
   * x->rows rows). Without them sparse rows are made dense batch by batch. */
  void (*group_batch_sparse)(const rt_model_spec *const *specs, size_t m, float *g,
                             const struct rt_csr_rows *x, const float *y, const uint64_t *steps,
                             const unsigned char *active, double *loss_sums);
  size_t (*sparse_settle_period)(const rt_model_spec *const *specs, size_t m, size_t rows);
  /* Optional: integrate_batch on sparse rows, for the models the group operations do not take
   * (linear's solver exact: statistics over the non-zeros). */
  void (*integrate_batch_sparse)(const rt_model_spec *spec, float *params, float *aux,
                                 const struct rt_csr_rows *x, const float *y, uint64_t step,
                                 double *loss_sum, float *ws);
  void (*eval_rows_sparse)(const rt_model_spec *spec, const float *params,
                           const struct rt_csr_rows *x, const float *y, float *ws, double *sums);
  void (*predict_sparse)(const rt_model_spec *spec, const float *params,
                         const struct rt_csr_rows *x, float *out, float *ws);
  /* Optional: at the end of every pass, after its last batch and before the model moves on (or
   * is written), where the engine closes the pass (CPU: engine.c serve; CUDA: the family's
   * device hook, run by rt_cuda_finish_visit); pass is the 0-based pass just completed. Not
   * called once the model has diverged. For updates that need a whole pass (k-means Lloyd
   * steps: the centres move to the means accumulated over the pass). */
  void (*pass_end)(const rt_model_spec *spec, uint64_t pass, float *params, float *aux);
  /* Optional: after the last pass (e.g. solve the normal equations). */
  rt_code (*finish)(const rt_model_spec *spec, float *params, float *aux, rt_status *st);
  /* Optional: the training loss of the last pass once finish has run, for families whose
   * batches cannot know it (the exact solver accumulates statistics, the loss needs the fit). */
  double (*finished_train_loss)(const rt_model_spec *spec, const float *params, const float *aux);
  /* Prediction: output_width columns per row, named by output_name. */
  size_t (*output_width)(const rt_model_spec *spec);
  void (*output_name)(const rt_model_spec *spec, size_t column, char *buf, size_t cap);
  void (*predict)(const rt_model_spec *spec, const float *params, const float *x, size_t rows,
                  float *out, float *ws);
  /* Evaluation: adds this chunk's sums into sums[RT_EVAL_SUMS] (row order). */
  void (*eval_rows)(const rt_model_spec *spec, const float *params, const float *x, const float *y,
                    size_t rows, float *ws, double *sums);
  /* Metric names (with the "val_" prefix in results) and values from total sums over n rows;
   * lower is better for all but those listed as higher_is_better. */
  size_t metric_count;
  const char *const *metric_names;
  void (*metrics)(const rt_model_spec *spec, const double *sums, uint64_t rows, double *values);
  /* Optional: metric names that depend on the spec (an MLP classifies or regresses); overrides
   * metric_count / metric_names. Use rt_family_metric_names. */
  size_t (*metric_names_of)(const rt_model_spec *spec, const char *const **names);
} rt_family;

/* The metric names of a model (count returned). */
size_t rt_family_metric_names(const rt_family *fam, const rt_model_spec *spec,
                              const char *const **names);

/* The family of a kind (canonical names, as stored), or NULL. */
const rt_family *rt_family_find(const char *kind);
/* The family of registry position `id` (0..RT_FAMILY_COUNT-1), or NULL. */
const rt_family *rt_family_at(size_t id);
/* The task a models: entry trains for (from its kind and hyper-parameters alone). */
rt_task rt_model_config_task(const rt_model_config *hp);

rt_state_layout rt_state_layout_of(const rt_model_spec *spec);
size_t rt_optimizer_aux_count(const rt_model_spec *spec, size_t param_count);

/* The header of a fresh state (no parameters touched). */
void rt_state_header_init(const rt_model_spec *spec, rt_state_header *h);
/* The host-side bookkeeping of one shard visit of `rows` rows: the counters every backend
 * advances (step, samples, pass_loss_rows, position, pass). Not the loss sums or history, which
 * depend on the data. Lets a rank know a model's header without holding the model. */
void rt_state_header_advance(rt_state_header *h, uint64_t rows, uint64_t batch, uint64_t shards);

/* Allocates (64-byte aligned) and initialises a fresh state. */
rt_code rt_state_create(const rt_model_spec *spec, void **state, size_t *bytes, rt_status *st);
void rt_state_free(void *state);

static inline rt_state_header *rt_state_head(void *state) { return (rt_state_header *)state; }
static inline float *rt_state_params(void *state, const rt_state_layout *l) {
  return (float *)((char *)state + l->params_offset);
}
static inline float *rt_state_aux(void *state, const rt_state_layout *l) {
  return (float *)((char *)state + l->aux_offset);
}
static inline double *rt_state_history(void *state, const rt_state_layout *l) {
  return (double *)((char *)state + l->history_offset);
}
/* Per-pass validation sums (run.eval_every_pass): pass p at [p * (RT_EVAL_SUMS + 1)], the last
 * of each block being the rows evaluated. */
static inline double *rt_state_val_history(void *state, const rt_state_layout *l) {
  return (double *)((char *)state + l->val_history_offset);
}

/* rt_metric_higher_is_better: include/ringtrain/results.h. */

/* Builds the spec text stored in model files (canonical key=value lines). Caller frees. */
char *rt_spec_to_text(const rt_model_spec *spec);
/* Rebuilds a spec from model-file text; errors name `file`. */
rt_code rt_spec_from_text(const char *text, const char *file, rt_model_spec *spec, rt_status *st);

/* Learning rate at optimizer step `step` (0-based) under the spec's schedule. */
double rt_learning_rate(const rt_model_spec *spec, uint64_t step);
/* One optimizer update of a block of `rows` rows of `cols` values at row stride ld (params, grad
 * and the optimizer state m, v all in that layout: a member's block inside a fused group buffer,
 * or a whole solo model as one row): adam uses m and v, sgd with momentum m (the velocity), plain
 * sgd neither (they may be NULL). Every element gets the same arithmetic whatever the layout. */
void rt_optimizer_step_block(const rt_model_spec *spec, uint64_t step, float *params, float *m,
                             float *v, const float *grad, size_t rows, size_t cols, size_t ld);
/* The optimizers, as far as the arithmetic of an update goes (adam; sgd with momentum; plain
 * sgd): members of one class can be updated in one loop. */
typedef enum { RT_OPTIMIZER_ADAM, RT_OPTIMIZER_MOMENTUM, RT_OPTIMIZER_SGD } rt_optimizer_class;
rt_optimizer_class rt_optimizer_class_of(const rt_model_spec *spec);
/* A weight decay added to the gradient before an optimizer step: grad += of(spec) * params on
 * the first `rows` rows of a member's block, for members whose of(spec) > 0 (L2 on the weights,
 * not on a bias row). */
typedef struct rt_decay {
  float (*of)(const rt_model_spec *spec);
  size_t rows;
} rt_decay;
/* grad (rows x cols at row stride ld) += l2 * w, element by element with rt_l2_decayed (a plain
 * loop, never a BLAS level-1 call: its result must not depend on where the block sits). */
void rt_add_l2(float *grad, const float *w, float l2, size_t rows, size_t cols, size_t ld);
/* rt_optimizer_step_block for `count` members of one optimizer class side by side: member i's
 * block of rows x cols starts at column i * cols of params, m, v and grad (row stride ld), with
 * its own hyper-parameters and step (steps[i]), after its decay (NULL: none; grad may be
 * overwritten). Each element gets exactly the arithmetic of the decay loop and
 * rt_optimizer_step_block on the member alone; the loops run along rows across members. */
void rt_optimizer_step_members(const rt_model_spec *const *specs, const uint64_t *steps,
                               size_t count, const rt_decay *decay, float *params, float *m,
                               float *v, float *grad, size_t rows, size_t cols, size_t ld);
/* The optimizer updates of a fused group's m members side by side (member i's block at column
 * i * cols, rows_of(its spec) rows): those that are active and whose batch loss is finite, in runs
 * of consecutive members of one optimizer class and row count (rt_optimizer_step_members). */
void rt_optimizer_step_runs(const rt_model_spec *const *specs, const uint64_t *steps,
                            const unsigned char *active, const double *loss_sums, size_t m,
                            size_t (*rows_of)(const rt_model_spec *), const rt_decay *decay,
                            float *params, float *mom, float *v, float *grad, size_t cols,
                            size_t ld);
/* One optimizer update of params with grad; step is the 0-based count before this update. */
void rt_optimizer_step(const rt_model_spec *spec, float *params, float *aux, const float *grad,
                       size_t n, uint64_t step);

#endif
