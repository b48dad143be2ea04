/* CUDA backend against the CPU reference (logistic family and the shared driver): the same initial
 * state integrated over the same shard by rt_cpu_integrate_shard and rt_cuda_integrate_shard must
 * agree (parameters and optimizer state within 1e-4 relative, header counters exactly, loss sums
 * within 1e-4), for every optimizer and schedule; likewise a whole engine-like run (visits, pass
 * closing, history) and evaluation. Two sizes of problem:
 *   tiny   13 features, 4 classes, batch 16, three shards with partial last batches;
 *   real   784 features (MNIST-like), batch 256, 10 and 128 classes, two shards of 1000 and 700
 *          rows (partial last batches), plain SGD and momentum: Adam's first steps divide the
 *          gradient by its own magnitude, so a gradient element within rounding of zero may take
 *          a different sign on the two backends, which with 100,000 weights happens, and is
 *          covered on the tiny problem where it does not.
 * Also the kernel launches of a visit, counted by rt_cuda_launch_count, against the count by
 * construction (printed per batch). Exits 77 (ctest: skipped) when no CUDA device is usable. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <cuda_runtime_api.h>

#include "backend.h"
#include "gpu_test.h"
#include "model.h"
#include "rng.h"
#include "rt_cuda.h"

#define MAX_SHARDS 3
#define PASSES 2

/* A classification problem: its shards on the host and on the device. */
typedef struct problem {
  const char *name;
  size_t features, classes, batch, shards;
  size_t rows[MAX_SHARDS];
  size_t slot_rows; /* the slot's max rows: evaluation runs in chunks of this many */
  uint64_t key;
  rt_shard host[MAX_SHARDS];
  rt_cuda_shard *dev[MAX_SHARDS];
} problem;

static problem tiny = {
    "13 features, 4 classes, batch 16", 13, 4, 16, 3, {203, 160, 97}, 64, 2024, {{0}}, {0}};
static problem real10 = {
    "784 features, 10 classes, batch 256", 784, 10, 256, 2, {1000, 700, 0}, 256, 3031, {{0}}, {0}};
static problem real128 = {"784 features, 128 classes, batch 256",
                          784,
                          128,
                          256,
                          2,
                          {1000, 700, 0},
                          256,
                          4049,
                          {{0}},
                          {0}};

static uint64_t total_batches(const problem *p) {
  uint64_t n = 0;
  for (size_t s = 0; s < p->shards; ++s) n += (p->rows[s] + p->batch - 1) / p->batch;
  return n;
}

static int problem_up(problem *p) {
  rt_status st;
  rt_status_clear(&st);
  float *teacher = malloc(p->features * p->classes * sizeof *teacher);
  if (!teacher) return -1;
  gt_teacher(teacher, p->features, p->classes, rt_key_push(7, 99));
  for (size_t s = 0; s < p->shards; ++s) {
    gt_teacher_shard(&p->host[s], p->rows[s], p->features, p->classes,
                     rt_key_push(p->key, (uint64_t)s), teacher, 0.1f);
    if (rt_cuda_shard_upload(&p->host[s], NULL, &p->dev[s], &st) != RT_OK) {
      fprintf(stderr, "rt_cuda_shard_upload: %s\n", st.message);
      free(teacher);
      return -1;
    }
    if (rt_cuda_shard_rows(p->dev[s]) != p->rows[s] ||
        rt_cuda_shard_features(p->dev[s]) != p->features) {
      free(teacher);
      return -1;
    }
  }
  free(teacher);
  return 0;
}

static void problem_down(problem *p) {
  for (size_t s = 0; s < p->shards; ++s) {
    rt_cuda_shard_free(p->dev[s]);
    rt_shard_free(&p->host[s]);
    p->dev[s] = NULL;
  }
}

static rt_model_spec make_spec(const problem *p, rt_optimizer opt, double momentum,
                               rt_schedule sched, double l2) {
  rt_model_spec s = gt_spec("logistic", 3, p->features, p->classes, (long)p->batch, p->shards,
                            total_batches(p), 12345, PASSES);
  s.hp.optimizer = opt;
  s.hp.learning_rate = opt == RT_OPT_ADAM ? 0.01 : 0.1;
  s.hp.momentum = momentum;
  s.hp.l2 = l2;
  s.hp.schedule = sched;
  s.hp.decay = 0.05;
  return s;
}

/* o = 0 sgd, 1 sgd + momentum, 2 adam. */
static rt_model_spec spec_for(const problem *p, int o, rt_schedule sched, double l2) {
  return make_spec(p, o == 2 ? RT_OPT_ADAM : RT_OPT_SGD, o == 1 ? 0.9 : 0.0, sched, l2);
}

/* A slot for the problem's batches and evaluation chunks. */
static rt_cuda_slot *new_slot(const problem *p, const rt_model_spec *spec, size_t state_bytes) {
  return gt_slot_new(spec, state_bytes, p->slot_rows, p->features, p->classes);
}

/* One shard visit from the initial state, CPU vs GPU. */
static void one_visit(problem *p, const rt_model_spec *spec, uint64_t shard) {
  rt_status st;
  rt_status_clear(&st);
  size_t bytes = 0;
  void *cpu = gt_fresh_state(spec, NULL, &bytes);
  rt_cuda_slot *slot = new_slot(p, spec, bytes);
  gt_upload(slot, cpu, bytes);
  if (rt_cuda_integrate_shard(slot, spec, p->dev[shard], shard, &st) != RT_OK)
    fail_msg("integrate: %s", st.message);
  gt_cpu_run r = gt_cpu_run_new(spec);
  gt_cpu_visit(spec, cpu, &p->host[shard], shard, &r);
  void *gpu = gt_download(slot, bytes);
  /* The mirror follows the host-owned counters without a sync. */
  const rt_state_header *m = rt_cuda_slot_header(slot);
  assert_int_equal(m->step, rt_state_head(cpu)->step);
  assert_int_equal(m->samples, rt_state_head(cpu)->samples);
  char what[160];
  snprintf(what, sizeof what, "%s: %s/%s/l2=%g shard %llu", p->name, gt_opt_label(spec),
           rt_schedule_name(spec->hp.schedule), spec->hp.l2, (unsigned long long)shard);
  const int bad = gt_compare_states(spec, cpu, gpu, what);
  assert_true(rt_state_head(cpu)->step > 0);
  assert_int_equal(bad, 0);
  free(gpu);
  gt_cpu_run_free(&r);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
}

static const rt_schedule all_schedules[] = {RT_SCHED_CONSTANT, RT_SCHED_INVERSE_TIME,
                                            RT_SCHED_COSINE};

static void test_one_visit_all_optimizers_and_schedules(void **unused) {
  (void)unused;
  for (int o = 0; o < 3; ++o)
    for (int s = 0; s < 3; ++s) {
      const rt_model_spec spec = spec_for(&tiny, o, all_schedules[s], 0.0);
      one_visit(&tiny, &spec, 0);
    }
}

static void test_one_visit_with_l2(void **unused) {
  (void)unused;
  for (int o = 0; o < 3; ++o) {
    const rt_model_spec spec = spec_for(&tiny, o, RT_SCHED_COSINE, 1e-3);
    one_visit(&tiny, &spec, 1);
  }
}

/* A whole run as the engine drives it on one rank: every pass visits every shard in succession
 * order, the visit bookkeeping closes passes into the history. */
static void whole_run(problem *p, const rt_model_spec *spec) {
  rt_status st;
  rt_status_clear(&st);
  size_t bytes = 0;
  void *cpu = gt_fresh_state(spec, NULL, &bytes);
  rt_cuda_slot *slot = new_slot(p, spec, bytes);
  gt_upload(slot, cpu, bytes);
  gt_cpu_run r = gt_cpu_run_new(spec);
  int cpu_done = 0, gpu_done = 0;
  size_t visits = 0;
  while (!cpu_done) {
    const rt_state_header *h = rt_state_head(cpu);
    const uint64_t shard = (spec->id + h->position) % p->shards; /* rotate from start_shard = id */
    gt_cpu_visit(spec, cpu, &p->host[shard], shard, &r);
    cpu_done = gt_cpu_finish_visit(spec, cpu);
    assert_false(gpu_done);
    if (rt_cuda_integrate_shard(slot, spec, p->dev[shard], shard, &st) != RT_OK ||
        rt_cuda_finish_visit(slot, spec, p->shards, &gpu_done, &st) != RT_OK)
      fail_msg("visit %zu: %s", visits, st.message);
    assert_int_equal(cpu_done, gpu_done);
    visits++;
  }
  assert_int_equal(visits, p->shards * PASSES);
  void *gpu = gt_download(slot, bytes);
  char what[160];
  snprintf(what, sizeof what, "%s: whole run %s/%s", p->name, gt_opt_label(spec),
           rt_schedule_name(spec->hp.schedule));
  assert_int_equal(gt_compare_states(spec, cpu, gpu, what), 0);
  assert_int_equal(rt_state_head(gpu)->step, total_batches(p) * PASSES);
  /* The refreshed mirror is the device header. */
  if (rt_cuda_header_refresh(slot, &st) != RT_OK) fail_msg("refresh: %s", st.message);
  assert_memory_equal(rt_cuda_slot_header(slot), gpu, sizeof(rt_state_header));
  free(gpu);
  gt_cpu_run_free(&r);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
}

static void test_whole_run(void **unused) {
  (void)unused;
  for (int o = 0; o < 3; ++o) {
    const rt_model_spec spec = spec_for(&tiny, o, all_schedules[o], 1e-4);
    whole_run(&tiny, &spec);
  }
}

/* Evaluation of a state trained on shard 0: log-loss sum within the tolerance, correct predictions
 * equal (one row of slack: a near-tie between two classes may resolve differently after
 * rounding). */
static void evaluate(problem *p, int o) {
  const rt_family *fam = rt_family_find("logistic");
  const rt_model_spec spec = spec_for(p, o, RT_SCHED_CONSTANT, 0.0);
  rt_status st;
  rt_status_clear(&st);
  size_t bytes = 0;
  void *cpu = gt_fresh_state(&spec, NULL, &bytes);
  gt_cpu_run r = gt_cpu_run_new(&spec);
  gt_cpu_visit(&spec, cpu, &p->host[0], 0, &r);
  rt_cuda_slot *slot = new_slot(p, &spec, bytes);
  gt_upload(slot, cpu, bytes);
  const size_t ws_rows = 50;
  float *ws = malloc(fam->workspace_floats(&spec, ws_rows) * sizeof(float));
  assert_non_null(ws);
  for (size_t s = 0; s < p->shards; ++s) {
    double sums[RT_EVAL_SUMS] = {0}, gpu_sums[RT_EVAL_SUMS] = {0};
    rt_cpu_evaluate_shard(&spec, fam, cpu, &p->host[s], ws, ws_rows, sums);
    const double cpu_loss = sums[0], cpu_hits = sums[1]; /* logistic: log-loss, correct */
    if (rt_cuda_evaluate_shard(slot, &spec, p->dev[s], gpu_sums, &st) != RT_OK)
      fail_msg("evaluate: %s", st.message);
    const double gpu_loss = gpu_sums[0], gpu_hits = gpu_sums[1];
    for (int k = 2; k < RT_EVAL_SUMS; ++k) assert_true(gpu_sums[k] == 0.0);
    print_message("%s, shard %zu: log-loss cpu %.9g gpu %.9g, correct cpu %.0f gpu %.0f\n", p->name,
                  s, cpu_loss, gpu_loss, cpu_hits, gpu_hits);
    assert_true(gt_close_enough(cpu_loss, gpu_loss));
    assert_true(fabs(cpu_hits - gpu_hits) <= 1.0);
    assert_true(cpu_hits > 0.0);
  }
  free(ws);
  gt_cpu_run_free(&r);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
}

static void test_evaluate(void **unused) {
  (void)unused;
  evaluate(&tiny, 2);
}

/* ---- real shapes ------------------------------------------------------------------------------ */

static void test_real_shapes_one_visit(void **unused) {
  (void)unused;
  problem *ps[] = {&real10, &real128};
  for (int i = 0; i < 2; ++i)
    for (int o = 0; o < 2; ++o) {
      const rt_model_spec spec =
          spec_for(ps[i], o, o ? RT_SCHED_COSINE : RT_SCHED_INVERSE_TIME, o ? 1e-4 : 0.0);
      one_visit(ps[i], &spec, 0);
      one_visit(ps[i], &spec, 1);
    }
}

static void test_real_shapes_whole_run(void **unused) {
  (void)unused;
  problem *ps[] = {&real10, &real128};
  for (int i = 0; i < 2; ++i) {
    const rt_model_spec spec = spec_for(ps[i], 1, RT_SCHED_COSINE, 1e-4);
    whole_run(ps[i], &spec);
  }
}

static void test_real_shapes_evaluate(void **unused) {
  (void)unused;
  evaluate(&real10, 0);
  evaluate(&real128, 1);
}

/* ---- launches, errors, memory ------------------------------------------------------------------ */

/* A logistic visit launches, per batch: the logits sgemm, softmax-cross-entropy, the gradient
 * sgemm, the bias column sums, the batch-loss reduction and the optimizer (6), then one header
 * commit for the visit; finish_visit adds one more. */
static void test_launch_count(void **unused) {
  (void)unused;
  rt_status st;
  rt_status_clear(&st);
  problem *ps[] = {&tiny, &real128};
  for (int i = 0; i < 2; ++i)
    for (int o = 0; o < 3; o += 2) {
      problem *p = ps[i];
      const rt_model_spec spec = spec_for(p, o, RT_SCHED_CONSTANT, 0.0);
      size_t bytes = 0;
      void *state = gt_fresh_state(&spec, NULL, &bytes);
      rt_cuda_slot *slot = new_slot(p, &spec, bytes);
      gt_upload(slot, state, bytes);
      const uint64_t before = rt_cuda_launch_count();
      if (rt_cuda_integrate_shard(slot, &spec, p->dev[0], 0, &st) != RT_OK)
        fail_msg("integrate: %s", st.message);
      const uint64_t visit = rt_cuda_launch_count() - before;
      int done = 0;
      if (rt_cuda_finish_visit(slot, &spec, p->shards, &done, &st) != RT_OK)
        fail_msg("finish: %s", st.message);
      const uint64_t batches = (p->rows[0] + p->batch - 1) / p->batch;
      print_message("kernel launches per batch (logistic, %s, %s): %.2f\n", gt_opt_label(&spec),
                    p->name, (double)(visit - 1) / (double)batches);
      assert_int_equal(visit, 6 * batches + 1);
      assert_int_equal(rt_cuda_launch_count() - before, 6 * batches + 2);
      if (rt_cuda_slot_sync(slot, &st) != RT_OK) fail_msg("sync: %s", st.message);
      rt_cuda_slot_free(slot);
      rt_state_free(state);
    }
}

/* A NaN feature makes its batch's loss NaN: both backends flag the model as diverged and stop
 * updating from that batch on, so the parameters stay finite and the counters still advance. */
static void test_nan_feature_matches_cpu(void **unused) {
  (void)unused;
  const rt_model_spec spec = spec_for(&tiny, 0, RT_SCHED_CONSTANT, 0.0);
  rt_status st;
  rt_status_clear(&st);
  rt_shard poisoned = tiny.host[2];
  const size_t n = poisoned.rows * tiny.features;
  poisoned.x = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
  assert_non_null(poisoned.x);
  memcpy(poisoned.x, tiny.host[2].x, n * sizeof(float));
  poisoned.x[40 * tiny.features + 3] = NAN;
  rt_cuda_shard *dev = NULL;
  if (rt_cuda_shard_upload(&poisoned, NULL, &dev, &st) != RT_OK)
    fail_msg("upload shard: %s", st.message);
  size_t bytes = 0;
  void *cpu = gt_fresh_state(&spec, NULL, &bytes);
  rt_cuda_slot *slot = new_slot(&tiny, &spec, bytes);
  gt_upload(slot, cpu, bytes);
  if (rt_cuda_integrate_shard(slot, &spec, dev, 2, &st) != RT_OK)
    fail_msg("integrate: %s", st.message);
  gt_cpu_run r = gt_cpu_run_new(&spec);
  gt_cpu_visit(&spec, cpu, &poisoned, 2, &r);
  void *gpu = gt_download(slot, bytes);
  assert_int_equal(gt_compare_states(&spec, cpu, gpu, "nan feature"), 0);
  const rt_state_layout l = rt_state_layout_of(&spec);
  assert_int_equal(rt_state_head(cpu)->diverged, 1);
  assert_int_equal(rt_state_head(gpu)->diverged, 1);
  for (size_t i = 0; i < l.param_count; ++i) assert_true(isfinite(rt_state_params(gpu, &l)[i]));
  free(gpu);
  gt_cpu_run_free(&r);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
  rt_cuda_shard_free(dev);
  free(poisoned.x);
}

/* Kinds without kernels are a clear config error, and nothing is launched (the kmeans, linear and
 * mlp kernels are tested in test_gpu_families.c). */
static void test_unknown_kind_is_config_error(void **unused) {
  (void)unused;
  rt_model_spec spec = spec_for(&tiny, 0, RT_SCHED_CONSTANT, 0.0);
  rt_status st;
  rt_status_clear(&st);
  size_t bytes = 0;
  void *cpu = gt_fresh_state(&spec, NULL, &bytes);
  rt_cuda_slot *slot = new_slot(&tiny, &spec, bytes);
  gt_upload(slot, cpu, bytes);
  strcpy(spec.hp.kind, "perceptron");
  const uint64_t before = rt_cuda_launch_count();
  assert_int_equal(rt_cuda_integrate_shard(slot, &spec, tiny.dev[0], 0, &st), RT_ERR_CONFIG);
  assert_non_null(
      strstr(st.message, "model 3 (perceptron): the CUDA backend has no kernels for this kind"));
  assert_int_equal(rt_cuda_launch_count(), before);
  assert_int_equal(rt_cuda_work_floats(&spec, 64), 0);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
}

/* Keeps a stream busy for 0.3 s: a host function that sleeps. */
static void CUDART_CB hold_stream(void *unused) {
  (void)unused;
  const struct timespec ts = {0, 300000000L};
  nanosleep(&ts, NULL);
}

/* State copies go through the slot's staging buffer, with the stream held busy so that every copy
 * is still queued when the next call comes: the host buffer of an upload is free at once
 * (overwriting it right after changes nothing on the device); a second upload while the first is
 * in flight, and a second download while the first is, are refused rather than waited for; a
 * download right behind an upload needs no synchronisation. */
static void test_state_copies(void **unused) {
  (void)unused;
  const rt_model_spec spec = spec_for(&real128, 2, RT_SCHED_CONSTANT, 0.0);
  rt_status st;
  rt_status_clear(&st);
  size_t bytes = 0;
  void *state = gt_fresh_state(&spec, NULL, &bytes);
  void *copy = aligned_alloc(RT_STATE_ALIGN, bytes), *back = aligned_alloc(RT_STATE_ALIGN, bytes);
  void *back2 = aligned_alloc(RT_STATE_ALIGN, bytes);
  assert_non_null(copy);
  assert_non_null(back);
  assert_non_null(back2);
  memcpy(copy, state, bytes);
  rt_cuda_slot *slot = new_slot(&real128, &spec, bytes);
  assert_int_equal(cudaLaunchHostFunc((cudaStream_t)rt_cuda_slot_stream(slot), hold_stream, NULL),
                   cudaSuccess);
  assert_int_equal(rt_cuda_state_upload(slot, state, bytes, &st), RT_OK);
  memset(state, 0xA5, bytes); /* the device must still get the bytes of the call */
  assert_int_equal(rt_cuda_state_upload(slot, state, bytes, &st), RT_ERR_INTERNAL);
  assert_non_null(strstr(st.message, "still in flight"));
  assert_int_equal(rt_cuda_state_download(slot, back, bytes, &st), RT_OK);
  assert_int_equal(rt_cuda_state_download(slot, back2, bytes, &st), RT_ERR_INTERNAL);
  if (rt_cuda_slot_sync(slot, &st) != RT_OK) fail_msg("sync: %s", st.message);
  assert_memory_equal(back, copy, bytes);
  /* Once synchronised, both kinds of copy are accepted again. */
  assert_int_equal(rt_cuda_state_upload(slot, copy, bytes, &st), RT_OK);
  assert_int_equal(rt_cuda_state_download(slot, back2, bytes, &st), RT_OK);
  if (rt_cuda_slot_sync(slot, &st) != RT_OK) fail_msg("sync: %s", st.message);
  assert_memory_equal(back2, copy, bytes);
  rt_cuda_slot_free(slot);
  rt_state_free(state);
  free(copy);
  free(back);
  free(back2);
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

static int setup_problems(void **unused) {
  (void)unused;
  return problem_up(&tiny) || problem_up(&real10) || problem_up(&real128) ? -1 : 0;
}

static int teardown_problems(void **unused) {
  (void)unused;
  problem_down(&tiny);
  problem_down(&real10);
  problem_down(&real128);
  return 0;
}

int main(void) {
  const int start = gpu_test_start();
  if (start != 0) return start;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_one_visit_all_optimizers_and_schedules),
      cmocka_unit_test(test_one_visit_with_l2),
      cmocka_unit_test(test_whole_run),
      cmocka_unit_test(test_evaluate),
      cmocka_unit_test(test_real_shapes_one_visit),
      cmocka_unit_test(test_real_shapes_whole_run),
      cmocka_unit_test(test_real_shapes_evaluate),
      cmocka_unit_test(test_launch_count),
      cmocka_unit_test(test_nan_feature_matches_cpu),
      cmocka_unit_test(test_unknown_kind_is_config_error),
      cmocka_unit_test(test_state_copies),
      cmocka_unit_test(test_check_fits_message),
  };
  return cmocka_run_group_tests(tests, setup_problems, teardown_problems);
}
