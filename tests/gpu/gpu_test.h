/* Shared fixtures of the GPU test programs, the one place for them: the start every program makes
 * (gpu_test_start: exit 77, ctest's skipped, with the reason when this machine has no usable CUDA
 * device, otherwise device 0 made current; scripts/gpu/validate.sh runs these programs directly
 * and counts 77 as a failure there); the spec builders (gt_spec, gt_family_keys); host shards
 * (gt_shard_alloc); the host side of a CPU-vs-GPU comparison as the engine drives it (fresh state,
 * workspace, visit bookkeeping); the device side (slot, upload, download); and the comparisons
 * (gt_close and its tolerances, gt_compare_states). Header-only: every helper is static inline. */
#ifndef RINGTRAIN_TESTS_GPU_TEST_H
#define RINGTRAIN_TESTS_GPU_TEST_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backend.h"
#include "model.h"
#include "rng.h"
#include "rt_cuda.h"

/* 0: go on; 77: skip (said why); 1: failure (said why). */
static inline int gpu_test_start(void) {
  rt_status st;
  rt_status_clear(&st);
  int count = 0;
  if (rt_cuda_device_count(&count, &st) != RT_OK) {
    fprintf(stderr, "rt_cuda_device_count: %s\n", st.message);
    return 1;
  }
  if (count == 0) {
    printf("SKIPPED: no usable CUDA device: %s\n", rt_cuda_no_device_reason());
    return 77;
  }
  char problem[512];
  rt_cuda_use_device(0, problem, sizeof problem);
  if (problem[0]) {
    fprintf(stderr, "%s\n", problem);
    return 1;
  }
  return 0;
}

/* ---- specs ----------------------------------------------------------------------------------- */

/* A spec of `kind` for model `id` on data of this shape (features, classes, batch_size, shards and
 * their total_batches), with seed and passes, plain SGD (learning rate left to the caller) and
 * Adam's usual beta1 0.9, beta2 0.999, epsilon 1e-8, the model keys seed, data_order and
 * start_shard at their auto values for (seed, id); every other field zero (schedule constant,
 * label column 0). */
static inline rt_model_spec gt_spec(const char *kind, uint64_t id, size_t features, size_t classes,
                                    long batch, uint64_t shards, uint64_t total_batches,
                                    uint64_t seed, uint64_t passes) {
  rt_model_spec s;
  memset(&s, 0, sizeof s);
  snprintf(s.hp.kind, sizeof s.hp.kind, "%s", kind);
  s.id = id;
  s.hp.optimizer = RT_OPT_SGD;
  s.hp.beta1 = 0.9;
  s.hp.beta2 = 0.999;
  s.hp.epsilon = 1e-8;
  s.hp.batch_size = batch;
  s.problem.features = features;
  s.problem.data_features = features; /* no view: the model reads every column */
  s.problem.classes = classes;
  s.seed = seed;
  s.passes = passes;
  s.shards = shards;
  s.total_batches = total_batches;
  rt_model_config_resolve(&s.hp, seed, id); /* seed and data_order as auto gives them */
  s.hp.start_shard = (long)id;              /* start_shard auto in a config of one cost class */
  return s;
}

/* Every family's keys at a usable value, so one spec can be turned into any kind: learning rate
 * 0.05, constant schedule (decay 0.05 for the others), kmeans k and init_sample, linear exact with
 * an intercept, mlp with one hidden layer of `hidden` units and classification output. */
static inline void gt_family_keys(rt_model_spec *s, long k, long init_sample, long hidden,
                                  rt_activation activation) {
  s->hp.learning_rate = 0.05;
  s->hp.schedule = RT_SCHED_CONSTANT;
  s->hp.decay = 0.05;
  s->hp.k = k;
  s->hp.init_sample = init_sample;
  s->hp.solver = RT_SOLVER_EXACT;
  s->hp.fit_intercept = 1;
  s->hp.hidden_count = 1;
  s->hp.hidden[0] = hidden;
  s->hp.activation = activation;
  s->hp.output = RT_OUTPUT_CLASSIFICATION;
}

/* "sgd", "momentum" or "adam": the optimizer in test messages. */
static inline const char *gt_opt_label(const rt_model_spec *s) {
  if (s->hp.optimizer == RT_OPT_ADAM) return "adam";
  return s->hp.momentum > 0.0 ? "momentum" : "sgd";
}

/* ---- the host side, as the engine drives it --------------------------------------------------- */

/* A host shard of rows x features, its x 64-byte aligned and y allocated, values left to the
 * caller (rt_shard_free). */
static inline void gt_shard_alloc(rt_shard *s, size_t rows, size_t features) {
  memset(s, 0, sizeof *s);
  s->rows = rows;
  s->features = features;
  s->x = aligned_alloc(64, (rows * features * sizeof(float) + 63) / 64 * 64);
  s->y = malloc(rows * sizeof(float));
  assert_non_null(s->x);
  assert_non_null(s->y);
}

/* A random linear teacher: d x c weights in [-1, 1) drawn from key (t: d * c floats). */
static inline void gt_teacher(float *t, size_t d, size_t c, uint64_t key) {
  for (size_t i = 0; i < d * c; ++i) t[i] = 2.0f * rt_rng_uniform_f(key, i) - 1.0f;
}

/* A learnable classification shard of rows x d (gt_shard_alloc): features in [-1, 1) drawn from
 * key, labels the teacher's arg-max (first maximum), then a fraction `noise` of them replaced by
 * a random class (keeps the loss away from zero). */
static inline void gt_teacher_shard(rt_shard *s, size_t rows, size_t d, size_t c, uint64_t key,
                                    const float *teacher, float noise) {
  gt_shard_alloc(s, rows, d);
  for (size_t i = 0; i < rows; ++i) {
    float best = -INFINITY;
    size_t label = 0;
    for (size_t f = 0; f < d; ++f) s->x[i * d + f] = 2.0f * rt_rng_uniform_f(key, i * d + f) - 1.0f;
    for (size_t k = 0; k < c; ++k) {
      float z = 0.0f;
      for (size_t f = 0; f < d; ++f) z += s->x[i * d + f] * teacher[f * c + k];
      if (z > best) {
        best = z;
        label = k;
      }
    }
    if (rt_rng_uniform_f(key, 1000000000ull + i) < noise)
      label = rt_rng_below(key, 2000000000ull + i, c);
    s->y[i] = (float)label;
  }
}

/* A fresh host state; with a first shard, the family's data initialisation on it when the family
 * has one (as rt_engine_new_state does on the model's first shard). Its size in *bytes. */
static inline void *gt_fresh_state(const rt_model_spec *spec, const rt_shard *first,
                                   size_t *bytes) {
  rt_status st;
  rt_status_clear(&st);
  void *state = NULL;
  assert_int_equal(rt_state_create(spec, &state, bytes, &st), RT_OK);
  const rt_family *fam = rt_family_find(spec->hp.kind);
  if (first && fam->init_from_data) {
    const rt_state_layout l = rt_state_layout_of(spec);
    fam->init_from_data(spec, rt_state_head(state)->rng_key, rt_state_params(state, &l),
                        rt_state_aux(state, &l), first, NULL);
  }
  return state;
}

/* The engine's CPU workspace (param_count + workspace_floats(batch)) and batch order buffer. */
typedef struct gt_cpu_run {
  rt_cpu_scratch scratch;
} gt_cpu_run;

static inline gt_cpu_run gt_cpu_run_new(const rt_model_spec *spec) {
  (void)spec;
  gt_cpu_run r = {{0}};
  return r;
}

static inline void gt_cpu_run_free(gt_cpu_run *r) { rt_cpu_scratch_free(&r->scratch); }

/* One visit of a host shard (shard index `index`) by the CPU backend. */
static inline void gt_cpu_visit(const rt_model_spec *spec, void *state, const rt_shard *shard,
                                uint64_t index, gt_cpu_run *r) {
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_cpu_integrate_shard(spec, rt_family_find(spec->hp.kind), state, shard, index,
                                          &r->scratch, &st),
                   RT_OK);
}

/* engine.c serve(): the header bookkeeping after a visit, on a host state (the pass's mean loss
 * into the history and the family's pass_end, if any and not diverged, when a pass closes).
 * Returns 1 once the model has done all its passes. */
static inline int gt_cpu_finish_visit(const rt_model_spec *spec, void *state) {
  const rt_state_layout l = rt_state_layout_of(spec);
  const rt_family *fam = rt_family_find(spec->hp.kind);
  rt_state_header *h = rt_state_head(state);
  if (++h->position == spec->shards) {
    rt_state_history(state, &l)[h->pass] =
        h->pass_loss_rows ? h->pass_loss_sum / (double)h->pass_loss_rows : 0.0;
    if (fam->pass_end && !h->diverged)
      fam->pass_end(spec, h->pass, rt_state_params(state, &l), rt_state_aux(state, &l));
    h->pass_loss_sum = 0.0;
    h->pass_loss_rows = 0;
    h->position = 0;
    h->pass += 1;
  }
  return h->pass == spec->passes;
}

/* ---- the device side ------------------------------------------------------------------------- */

/* A slot for a state of state_bytes, batches (and evaluation chunks) of up to rows rows of this
 * shape, and the work floats the spec's kernels need (which must not be zero). */
static inline rt_cuda_slot *gt_slot_new(const rt_model_spec *spec, size_t state_bytes, size_t rows,
                                        size_t features, size_t classes) {
  rt_status st;
  rt_status_clear(&st);
  rt_cuda_slot *slot = NULL;
  const size_t work = rt_cuda_work_floats(spec, rows);
  assert_true(work > 0);
  if (rt_cuda_slot_create(state_bytes, rows, features, classes, work, &slot, &st) != RT_OK)
    fail_msg("rt_cuda_slot_create: %s", st.message);
  return slot;
}

/* Upload and wait: the CPU run then changes the same host state freely. */
static inline void gt_upload(rt_cuda_slot *slot, const void *state, size_t bytes) {
  rt_status st;
  rt_status_clear(&st);
  if (rt_cuda_state_upload(slot, state, bytes, &st) != RT_OK ||
      rt_cuda_slot_sync(slot, &st) != RT_OK)
    fail_msg("upload: %s", st.message);
}

/* The slot's state, downloaded into a new buffer (free) and waited for. */
static inline void *gt_download(rt_cuda_slot *slot, size_t bytes) {
  rt_status st;
  rt_status_clear(&st);
  void *out = aligned_alloc(RT_STATE_ALIGN, bytes);
  assert_non_null(out);
  if (rt_cuda_state_download(slot, out, bytes, &st) != RT_OK ||
      rt_cuda_slot_sync(slot, &st) != RT_OK)
    fail_msg("download: %s", st.message);
  return out;
}

/* ---- comparisons ----------------------------------------------------------------------------- */

/* The CPU-vs-GPU tolerance of float results (parameters, optimizer state, loss sums, evaluation
 * sums): relative, plus an absolute floor for values near zero. */
#define GT_REL_TOL 1e-4
#define GT_ABS_TOL 1e-6

/* a and b within rel (relative to the larger magnitude) plus abs_tol; a NaN agrees only with a NaN,
 * and equal values (infinities included) agree. */
static inline int gt_close(double a, double b, double rel, double abs_tol) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  if (a == b) return 1; /* infinities */
  const double scale = fmax(fabs(a), fabs(b));
  return fabs(a - b) <= rel * scale + abs_tol;
}

/* gt_close at GT_REL_TOL, GT_ABS_TOL. */
static inline int gt_close_enough(double a, double b) {
  return gt_close(a, b, GT_REL_TOL, GT_ABS_TOL);
}

/* Exactly equal, or both NaN. */
static inline int gt_same_double(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

/* Two states' headers (counters exactly; pass_loss_sum within gt_close_enough), histories and
 * parameters (within gt_close_enough); aux is left to the caller (gt_compare_aux_floats, or a
 * family's own rule). Returns the number of mismatches (the first ones printed, naming `what`). */
static inline int gt_compare_head_and_params(const rt_model_spec *spec, void *cpu, void *gpu,
                                             const char *what) {
  const rt_state_layout l = rt_state_layout_of(spec);
  const rt_state_header *a = rt_state_head(cpu), *b = rt_state_head(gpu);
  int bad = 0;
#define GT_SAME_U64(field)                                                                       \
  if (a->field != b->field) {                                                                    \
    print_error("%s: header." #field " cpu %llu gpu %llu\n", what, (unsigned long long)a->field, \
                (unsigned long long)b->field);                                                   \
    bad++;                                                                                       \
  }
  GT_SAME_U64(magic)
  GT_SAME_U64(model_id)
  GT_SAME_U64(pass)
  GT_SAME_U64(position)
  GT_SAME_U64(step)
  GT_SAME_U64(rng_key)
  GT_SAME_U64(samples)
  GT_SAME_U64(diverged)
  GT_SAME_U64(pass_loss_rows)
  GT_SAME_U64(param_count)
  GT_SAME_U64(aux_count)
  GT_SAME_U64(history_count)
#undef GT_SAME_U64
  if (!gt_close_enough(a->pass_loss_sum, b->pass_loss_sum)) {
    print_error("%s: pass_loss_sum cpu %.9g gpu %.9g\n", what, a->pass_loss_sum, b->pass_loss_sum);
    bad++;
  }
  const double *ha = rt_state_history(cpu, &l), *hb = rt_state_history(gpu, &l);
  for (size_t p = 0; p < spec->passes; ++p)
    if (!gt_close_enough(ha[p], hb[p])) {
      print_error("%s: history[%zu] cpu %.9g gpu %.9g\n", what, p, ha[p], hb[p]);
      bad++;
    }
  const float *pa = rt_state_params(cpu, &l), *pb = rt_state_params(gpu, &l);
  for (size_t i = 0; i < l.param_count; ++i)
    if (!gt_close_enough(pa[i], pb[i]) && bad++ < 20)
      print_error("%s: param %zu cpu %.9g gpu %.9g\n", what, i, (double)pa[i], (double)pb[i]);
  return bad;
}

/* Aux as floats (the optimizers' state) within gt_close_enough; bad: the mismatches so far (only
 * the first 20 in all are printed). Returns bad plus this part's mismatches. */
static inline int gt_compare_aux_floats(const rt_model_spec *spec, void *cpu, void *gpu,
                                        const char *what, int bad) {
  const rt_state_layout l = rt_state_layout_of(spec);
  const float *xa = rt_state_aux(cpu, &l), *xb = rt_state_aux(gpu, &l);
  for (size_t i = 0; i < l.aux_count; ++i)
    if (!gt_close_enough(xa[i], xb[i]) && bad++ < 20)
      print_error("%s: aux %zu cpu %.9g gpu %.9g\n", what, i, (double)xa[i], (double)xb[i]);
  return bad;
}

/* A state whose aux is the optimizers' floats: header, history, parameters and aux. Returns the
 * number of mismatches. */
static inline int gt_compare_states(const rt_model_spec *spec, void *cpu, void *gpu,
                                    const char *what) {
  return gt_compare_aux_floats(spec, cpu, gpu, what,
                               gt_compare_head_and_params(spec, cpu, gpu, what));
}

#endif
