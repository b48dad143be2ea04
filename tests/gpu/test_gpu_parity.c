/* CUDA backend against the CPU reference: the same initial state integrated over the same shard
 * by rt_cpu_integrate_shard and rt_cuda_integrate_shard must agree (parameters and optimizer state
 * within 1e-4 relative, header counters exactly, loss sums within 1e-4), for every optimizer and
 * schedule; likewise a whole engine-like run (visits, pass closing, history) and evaluation.
 * Exits 77 (ctest: skipped) when no CUDA device is visible. */
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

#define FEATURES 13
#define CLASSES 4
#define BATCH 16
#define SHARDS 3
#define PASSES 2
static const size_t shard_rows[SHARDS] = {203, 160, 97}; /* partial last batches, 13+10+7 */
#define TOTAL_BATCHES 30

/* Host shards and their device copies, shared by all tests. */
static rt_shard host_shards[SHARDS];
static rt_cuda_shard *dev_shards[SHARDS];

static const double rel_tol = 1e-4;

static int close_enough(double a, double b) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  const double scale = fmax(fabs(a), fabs(b));
  return fabs(a - b) <= rel_tol * scale + 1e-6;
}

/* A learnable problem: labels from a random linear teacher, features in [-1, 1]. */
static void make_shard(rt_shard *s, size_t rows, uint64_t key) {
  memset(s, 0, sizeof *s);
  s->rows = rows;
  s->features = FEATURES;
  s->x = aligned_alloc(64, (rows * FEATURES * sizeof(float) + 63) / 64 * 64);
  s->y = malloc(rows * sizeof(float));
  assert_non_null(s->x);
  assert_non_null(s->y);
  const uint64_t teacher = rt_key_push(7, 99);
  for (size_t i = 0; i < rows; ++i) {
    float best = -INFINITY;
    size_t label = 0;
    for (size_t f = 0; f < FEATURES; ++f)
      s->x[i * FEATURES + f] = 2.0f * rt_rng_uniform_f(key, i * FEATURES + f) - 1.0f;
    for (size_t k = 0; k < CLASSES; ++k) {
      float z = 0.0f;
      for (size_t f = 0; f < FEATURES; ++f)
        z += s->x[i * FEATURES + f] * (2.0f * rt_rng_uniform_f(teacher, f * CLASSES + k) - 1.0f);
      if (z > best) {
        best = z;
        label = k;
      }
    }
    /* 10% label noise keeps the loss away from zero. */
    if (rt_rng_uniform_f(key, 1000000 + i) < 0.1f) label = rt_rng_below(key, 2000000 + i, CLASSES);
    s->y[i] = (float)label;
  }
}

static rt_model_spec make_spec(rt_optimizer opt, double momentum, rt_schedule sched, double l2) {
  rt_model_spec s;
  memset(&s, 0, sizeof s);
  strcpy(s.hp.kind, "logistic");
  s.id = 3;
  s.hp.optimizer = opt;
  s.hp.learning_rate = opt == RT_OPT_ADAM ? 0.01 : 0.1;
  s.hp.momentum = momentum;
  s.hp.l2 = l2;
  s.hp.beta1 = 0.9;
  s.hp.beta2 = 0.999;
  s.hp.epsilon = 1e-8;
  s.hp.schedule = sched;
  s.hp.decay = 0.05;
  s.hp.batch_size = BATCH;
  s.problem.features = FEATURES;
  s.problem.classes = CLASSES;
  s.seed = 12345;
  s.passes = PASSES;
  s.shards = SHARDS;
  s.total_batches = TOTAL_BATCHES;
  s.label_column = 0;
  return s;
}

typedef struct cpu_run {
  float *ws;
  uint64_t *order;
} cpu_run;

static cpu_run cpu_run_new(const rt_model_spec *spec) {
  const rt_family *fam = rt_family_find("logistic");
  const rt_state_layout l = rt_state_layout_of(spec);
  cpu_run r;
  r.ws = malloc((l.param_count + fam->workspace_floats(spec, BATCH)) * sizeof(float));
  r.order = malloc(64 * sizeof(uint64_t));
  assert_non_null(r.ws);
  assert_non_null(r.order);
  return r;
}

static void cpu_run_free(cpu_run *r) {
  free(r->ws);
  free(r->order);
}

/* engine.c serve(): the header bookkeeping after a visit, on a host state. */
static int cpu_finish_visit(const rt_model_spec *spec, void *state) {
  const rt_state_layout l = rt_state_layout_of(spec);
  rt_state_header *h = rt_state_head(state);
  if (++h->position == SHARDS) {
    rt_state_history(state, &l)[h->pass] =
        h->pass_loss_rows ? h->pass_loss_sum / (double)h->pass_loss_rows : 0.0;
    h->pass_loss_sum = 0.0;
    h->pass_loss_rows = 0;
    h->position = 0;
    h->pass += 1;
  }
  return h->pass == spec->passes;
}

static rt_cuda_slot *new_slot(const rt_model_spec *spec, size_t state_bytes) {
  rt_status st;
  rt_status_clear(&st);
  rt_cuda_slot *slot = NULL;
  /* 64 rows: evaluation then runs in several chunks. */
  if (rt_cuda_slot_create(state_bytes, 64, FEATURES, CLASSES, rt_cuda_work_floats(spec, 64), &slot,
                          &st) != RT_OK)
    fail_msg("rt_cuda_slot_create: %s", st.message);
  return slot;
}

/* Upload and wait: the CPU run then changes the same host state freely. */
static void upload(rt_cuda_slot *slot, const void *state, size_t bytes) {
  rt_status st;
  rt_status_clear(&st);
  if (rt_cuda_state_upload(slot, state, bytes, &st) != RT_OK || rt_cuda_slot_sync(slot, &st) != RT_OK)
    fail_msg("upload: %s", st.message);
}

static void *download(rt_cuda_slot *slot, size_t bytes) {
  rt_status st;
  rt_status_clear(&st);
  void *out = aligned_alloc(RT_STATE_ALIGN, bytes);
  assert_non_null(out);
  if (rt_cuda_state_download(slot, out, bytes, &st) != RT_OK || rt_cuda_slot_sync(slot, &st) != RT_OK)
    fail_msg("download: %s", st.message);
  return out;
}

/* Compares two states: header counters exactly, sums / parameters / optimizer state within the
 * tolerance. Returns the number of mismatches (each printed). */
static int compare_states(const rt_model_spec *spec, void *cpu, void *gpu, const char *what) {
  const rt_state_layout l = rt_state_layout_of(spec);
  const rt_state_header *a = rt_state_head(cpu), *b = rt_state_head(gpu);
  int bad = 0;
#define SAME_U64(field)                                                                    \
  if (a->field != b->field) {                                                              \
    print_error("%s: header." #field " cpu %llu gpu %llu\n", what,                         \
                (unsigned long long)a->field, (unsigned long long)b->field);               \
    bad++;                                                                                 \
  }
  SAME_U64(magic)
  SAME_U64(model_id)
  SAME_U64(pass)
  SAME_U64(position)
  SAME_U64(step)
  SAME_U64(rng_key)
  SAME_U64(samples)
  SAME_U64(diverged)
  SAME_U64(pass_loss_rows)
  SAME_U64(param_count)
  SAME_U64(aux_count)
  SAME_U64(history_count)
#undef SAME_U64
  if (!close_enough(a->pass_loss_sum, b->pass_loss_sum)) {
    print_error("%s: pass_loss_sum cpu %.9g gpu %.9g\n", what, a->pass_loss_sum, b->pass_loss_sum);
    bad++;
  }
  const double *ha = rt_state_history(cpu, &l), *hb = rt_state_history(gpu, &l);
  for (size_t p = 0; p < spec->passes; ++p)
    if (!close_enough(ha[p], hb[p])) {
      print_error("%s: history[%zu] cpu %.9g gpu %.9g\n", what, p, ha[p], hb[p]);
      bad++;
    }
  const float *pa = rt_state_params(cpu, &l), *pb = rt_state_params(gpu, &l);
  for (size_t i = 0; i < l.param_count; ++i)
    if (!close_enough(pa[i], pb[i]) && bad++ < 20)
      print_error("%s: param %zu cpu %.9g gpu %.9g\n", what, i, (double)pa[i], (double)pb[i]);
  const float *xa = rt_state_aux(cpu, &l), *xb = rt_state_aux(gpu, &l);
  for (size_t i = 0; i < l.aux_count; ++i)
    if (!close_enough(xa[i], xb[i]) && bad++ < 20)
      print_error("%s: aux %zu cpu %.9g gpu %.9g\n", what, i, (double)xa[i], (double)xb[i]);
  return bad;
}

static const char *opt_label(const rt_model_spec *s) {
  if (s->hp.optimizer == RT_OPT_ADAM) return "adam";
  return s->hp.momentum > 0.0 ? "momentum" : "sgd";
}

/* One shard visit from the initial state, CPU vs GPU. */
static void one_visit(const rt_model_spec *spec, uint64_t shard) {
  const rt_family *fam = rt_family_find("logistic");
  rt_status st;
  rt_status_clear(&st);
  void *cpu = NULL;
  size_t bytes = 0;
  assert_int_equal(rt_state_create(spec, &cpu, &bytes, &st), RT_OK);
  rt_cuda_slot *slot = new_slot(spec, bytes);
  upload(slot, cpu, bytes);
  if (rt_cuda_integrate_shard(slot, spec, dev_shards[shard], shard, &st) != RT_OK)
    fail_msg("integrate: %s", st.message);
  cpu_run r = cpu_run_new(spec);
  rt_cpu_integrate_shard(spec, fam, cpu, &host_shards[shard], shard, r.ws, r.order);
  void *gpu = download(slot, bytes);
  /* The mirror follows the host-owned counters without a sync. */
  const rt_state_header *m = rt_cuda_slot_header(slot);
  assert_int_equal(m->step, rt_state_head(cpu)->step);
  assert_int_equal(m->samples, rt_state_head(cpu)->samples);
  char what[96];
  snprintf(what, sizeof what, "%s/%s/l2=%g shard %llu", opt_label(spec),
           rt_schedule_name(spec->hp.schedule), spec->hp.l2, (unsigned long long)shard);
  const int bad = compare_states(spec, cpu, gpu, what);
  assert_true(rt_state_head(cpu)->step > 0);
  assert_int_equal(bad, 0);
  free(gpu);
  cpu_run_free(&r);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
}

static const rt_schedule all_schedules[] = {RT_SCHED_CONSTANT, RT_SCHED_INVERSE_TIME,
                                           RT_SCHED_COSINE};

/* o = 0 sgd, 1 sgd + momentum, 2 adam. */
static rt_model_spec spec_for(int o, rt_schedule sched, double l2) {
  return make_spec(o == 2 ? RT_OPT_ADAM : RT_OPT_SGD, o == 1 ? 0.9 : 0.0, sched, l2);
}

static void test_one_visit_all_optimizers_and_schedules(void **unused) {
  (void)unused;
  for (int o = 0; o < 3; ++o)
    for (int s = 0; s < 3; ++s) {
      const rt_model_spec spec = spec_for(o, all_schedules[s], 0.0);
      one_visit(&spec, 0);
    }
}

static void test_one_visit_with_l2(void **unused) {
  (void)unused;
  for (int o = 0; o < 3; ++o) {
    const rt_model_spec spec = spec_for(o, RT_SCHED_COSINE, 1e-3);
    one_visit(&spec, 1);
  }
}

/* A whole run as the engine drives it on one rank: every pass visits every shard in succession
 * order, the visit bookkeeping closes passes into the history. */
static void whole_run(const rt_model_spec *spec) {
  const rt_family *fam = rt_family_find("logistic");
  rt_status st;
  rt_status_clear(&st);
  void *cpu = NULL;
  size_t bytes = 0;
  assert_int_equal(rt_state_create(spec, &cpu, &bytes, &st), RT_OK);
  rt_cuda_slot *slot = new_slot(spec, bytes);
  upload(slot, cpu, bytes);
  cpu_run r = cpu_run_new(spec);
  int cpu_done = 0, gpu_done = 0, visits = 0;
  while (!cpu_done) {
    const rt_state_header *h = rt_state_head(cpu);
    const uint64_t shard = (spec->id + h->position) % SHARDS; /* rt_succession_shard */
    rt_cpu_integrate_shard(spec, fam, cpu, &host_shards[shard], shard, r.ws, r.order);
    cpu_done = cpu_finish_visit(spec, cpu);
    assert_false(gpu_done);
    if (rt_cuda_integrate_shard(slot, spec, dev_shards[shard], shard, &st) != RT_OK ||
        rt_cuda_finish_visit(slot, spec, SHARDS, &gpu_done, &st) != RT_OK)
      fail_msg("visit %d: %s", visits, st.message);
    assert_int_equal(cpu_done, gpu_done);
    visits++;
  }
  assert_int_equal(visits, SHARDS * PASSES);
  void *gpu = download(slot, bytes);
  char what[96];
  snprintf(what, sizeof what, "whole run %s/%s", opt_label(spec), rt_schedule_name(spec->hp.schedule));
  assert_int_equal(compare_states(spec, cpu, gpu, what), 0);
  assert_int_equal(rt_state_head(gpu)->step, TOTAL_BATCHES * PASSES);
  /* The refreshed mirror is the device header. */
  if (rt_cuda_header_refresh(slot, &st) != RT_OK) fail_msg("refresh: %s", st.message);
  assert_memory_equal(rt_cuda_slot_header(slot), gpu, sizeof(rt_state_header));
  free(gpu);
  cpu_run_free(&r);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
}

static void test_whole_run(void **unused) {
  (void)unused;
  for (int o = 0; o < 3; ++o) {
    const rt_model_spec spec = spec_for(o, all_schedules[o], 1e-4);
    whole_run(&spec);
  }
}

/* Evaluation of a trained state: log-loss sum within the tolerance, correct predictions equal
 * (one row of slack: a near-tie between two classes may resolve differently after rounding). */
static void test_evaluate(void **unused) {
  (void)unused;
  const rt_family *fam = rt_family_find("logistic");
  const rt_model_spec spec = spec_for(2, RT_SCHED_CONSTANT, 0.0);
  rt_status st;
  rt_status_clear(&st);
  void *cpu = NULL;
  size_t bytes = 0;
  assert_int_equal(rt_state_create(&spec, &cpu, &bytes, &st), RT_OK);
  cpu_run r = cpu_run_new(&spec);
  rt_cpu_integrate_shard(&spec, fam, cpu, &host_shards[0], 0, r.ws, r.order);
  rt_cuda_slot *slot = new_slot(&spec, bytes);
  upload(slot, cpu, bytes);
  const size_t ws_rows = 50;
  float *ws = malloc(ws_rows * CLASSES * 2 * sizeof(float));
  assert_non_null(ws);
  for (int s = 0; s < SHARDS; ++s) {
    double sums[RT_EVAL_SUMS] = {0}, gpu_sums[RT_EVAL_SUMS] = {0};
    rt_cpu_evaluate_shard(&spec, fam, cpu, &host_shards[s], ws, ws_rows, sums);
    const double cpu_loss = sums[0], cpu_hits = sums[1]; /* logistic: log-loss, correct */
    if (rt_cuda_evaluate_shard(slot, &spec, dev_shards[s], gpu_sums, &st) != RT_OK)
      fail_msg("evaluate: %s", st.message);
    const double gpu_loss = gpu_sums[0], gpu_hits = gpu_sums[1];
    for (int k = 2; k < RT_EVAL_SUMS; ++k) assert_true(gpu_sums[k] == 0.0);
    print_message("shard %d: log-loss cpu %.9g gpu %.9g, correct cpu %.0f gpu %.0f\n", s, cpu_loss,
                  gpu_loss, cpu_hits, gpu_hits);
    assert_true(close_enough(cpu_loss, gpu_loss));
    assert_true(fabs(cpu_hits - gpu_hits) <= 1.0);
    assert_true(cpu_hits > 0.0);
  }
  free(ws);
  cpu_run_free(&r);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
}

/* A NaN feature makes its batch's loss NaN: both backends flag the model as diverged and stop
 * updating from that batch on, so the parameters stay finite and the counters still advance. */
static void test_nan_feature_matches_cpu(void **unused) {
  (void)unused;
  const rt_family *fam = rt_family_find("logistic");
  const rt_model_spec spec = spec_for(0, RT_SCHED_CONSTANT, 0.0);
  rt_status st;
  rt_status_clear(&st);
  rt_shard poisoned = host_shards[2];
  const size_t n = poisoned.rows * FEATURES;
  poisoned.x = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
  assert_non_null(poisoned.x);
  memcpy(poisoned.x, host_shards[2].x, n * sizeof(float));
  poisoned.x[40 * FEATURES + 3] = NAN;
  rt_cuda_shard *dev = NULL;
  if (rt_cuda_shard_upload(&poisoned, NULL, &dev, &st) != RT_OK) fail_msg("upload shard: %s", st.message);
  void *cpu = NULL;
  size_t bytes = 0;
  assert_int_equal(rt_state_create(&spec, &cpu, &bytes, &st), RT_OK);
  rt_cuda_slot *slot = new_slot(&spec, bytes);
  upload(slot, cpu, bytes);
  if (rt_cuda_integrate_shard(slot, &spec, dev, 2, &st) != RT_OK) fail_msg("integrate: %s", st.message);
  cpu_run r = cpu_run_new(&spec);
  rt_cpu_integrate_shard(&spec, fam, cpu, &poisoned, 2, r.ws, r.order);
  void *gpu = download(slot, bytes);
  assert_int_equal(compare_states(&spec, cpu, gpu, "nan feature"), 0);
  const rt_state_layout l = rt_state_layout_of(&spec);
  assert_int_equal(rt_state_head(cpu)->diverged, 1);
  assert_int_equal(rt_state_head(gpu)->diverged, 1);
  for (size_t i = 0; i < l.param_count; ++i) assert_true(isfinite(rt_state_params(gpu, &l)[i]));
  free(gpu);
  cpu_run_free(&r);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
  rt_cuda_shard_free(dev);
  free(poisoned.x);
}

/* Kinds without kernels are a clear config error, and nothing is launched (the kmeans, linear and
 * mlp kernels are tested in test_gpu_families.c). */
static void test_unknown_kind_is_config_error(void **unused) {
  (void)unused;
  rt_model_spec spec = spec_for(0, RT_SCHED_CONSTANT, 0.0);
  rt_status st;
  rt_status_clear(&st);
  void *cpu = NULL;
  size_t bytes = 0;
  assert_int_equal(rt_state_create(&spec, &cpu, &bytes, &st), RT_OK);
  rt_cuda_slot *slot = new_slot(&spec, bytes);
  upload(slot, cpu, bytes);
  strcpy(spec.hp.kind, "perceptron");
  assert_int_equal(rt_cuda_integrate_shard(slot, &spec, dev_shards[0], 0, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "no kernels for kind 'perceptron'"));
  assert_int_equal(rt_cuda_work_floats(&spec, 64), 0);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
}

/* The memory check names what is missing. */
static void test_check_fits_message(void **unused) {
  (void)unused;
  rt_status st;
  rt_status_clear(&st);
  size_t free_b = 0, total_b = 0;
  assert_int_equal(rt_cuda_mem_info(&free_b, &total_b, &st), RT_OK);
  assert_true(free_b > 0 && free_b <= total_b);
  assert_int_equal(rt_cuda_check_fits(1024, "a tiny thing", &st), RT_OK);
  assert_int_equal(rt_cuda_check_fits(total_b * 2, "loading shards", &st), RT_ERR_NOMEM);
  print_message("%s\n", st.message);
  assert_non_null(strstr(st.message, "loading shards needs"));
  assert_non_null(strstr(st.message, "missing"));
}

static int setup_shards(void **unused) {
  (void)unused;
  rt_status st;
  rt_status_clear(&st);
  for (int s = 0; s < SHARDS; ++s) {
    make_shard(&host_shards[s], shard_rows[s], rt_key_push(2024, (uint64_t)s));
    if (rt_cuda_shard_upload(&host_shards[s], NULL, &dev_shards[s], &st) != RT_OK) {
      fprintf(stderr, "rt_cuda_shard_upload: %s\n", st.message);
      return -1;
    }
    if (rt_cuda_shard_rows(dev_shards[s]) != shard_rows[s] ||
        rt_cuda_shard_features(dev_shards[s]) != FEATURES)
      return -1;
  }
  return 0;
}

static int teardown_shards(void **unused) {
  (void)unused;
  for (int s = 0; s < SHARDS; ++s) {
    rt_cuda_shard_free(dev_shards[s]);
    rt_shard_free(&host_shards[s]);
  }
  return 0;
}

int main(void) {
  rt_status st;
  rt_status_clear(&st);
  int count = 0;
  if (rt_cuda_device_count(&count, &st) != RT_OK) {
    fprintf(stderr, "rt_cuda_device_count: %s\n", st.message);
    return 1;
  }
  if (count == 0) {
    printf("SKIPPED: no CUDA device visible\n");
    return 77;
  }
  int device = -1;
  if (rt_cuda_select_device(0, &device, &st) != RT_OK) {
    fprintf(stderr, "rt_cuda_select_device: %s\n", st.message);
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_visit_all_optimizers_and_schedules),
      cmocka_unit_test(test_one_visit_with_l2),
      cmocka_unit_test(test_whole_run),
      cmocka_unit_test(test_evaluate),
      cmocka_unit_test(test_nan_feature_matches_cpu),
      cmocka_unit_test(test_unknown_kind_is_config_error),
      cmocka_unit_test(test_check_fits_message),
  };
  return cmocka_run_group_tests(tests, setup_shards, teardown_shards);
}
