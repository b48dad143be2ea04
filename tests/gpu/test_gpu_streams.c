/* Eight models on eight concurrent slots (each its own CUDA stream and workspace)
 * against the same eight models trained one at a time: the final states must be bit-identical,
 * whatever order the host issues the models' visits in. Nothing a model computes may depend on
 * what runs beside it on the device (no shared workspace, no atomics, no order taken from timing).
 * Real shapes: 784 features, batch 256, 10 classes, two shards (2048 and 1536 rows), two passes;
 * the eight models cover every family and optimizer. Exits 77 (ctest: skipped) when no CUDA device
 * is usable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gpu_test.h"
#include "model.h"
#include "rng.h"
#include "rt_cuda.h"

#define FEATURES 784
#define CLASSES 10
#define BATCH 256
#define SHARDS 2
#define MODELS 8
static const size_t shard_rows[SHARDS] = {2048, 1536};

static rt_shard host[SHARDS];
static rt_cuda_shard *dev[SHARDS];
static rt_model_spec specs[MODELS];

/* Features in [-1, 1]; the label is the arg-max of a random linear teacher (the linear models
 * regress on it as a number). */
static void make_shard(rt_shard *s, size_t rows, uint64_t key) {
  gt_shard_alloc(s, rows, FEATURES);
  const uint64_t teacher = rt_key_push(11, 7);
  for (size_t i = 0; i < rows; ++i) {
    float best = -1e30f;
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
    s->y[i] = (float)label;
  }
}

static rt_model_spec base(uint64_t id, const char *kind) {
  uint64_t batches = 0;
  for (size_t k = 0; k < SHARDS; ++k) batches += (shard_rows[k] + BATCH - 1) / BATCH;
  rt_model_spec s = gt_spec(kind, id, FEATURES, CLASSES, BATCH, SHARDS, batches, 99, 2);
  gt_family_keys(&s, CLASSES, 256, 128, RT_ACTIVATION_TANH);
  s.problem.train_rows = shard_rows[0] + shard_rows[1];
  return s;
}

static void make_specs(void) {
  specs[0] = base(0, "logistic");
  specs[1] = base(1, "logistic");
  specs[1].hp.optimizer = RT_OPT_ADAM;
  specs[1].hp.learning_rate = 0.01;
  specs[1].hp.l2 = 1e-4;
  specs[2] = base(2, "logistic");
  specs[2].hp.momentum = 0.9;
  specs[2].hp.schedule = RT_SCHED_COSINE;
  specs[3] = base(3, "mlp");
  specs[3].hp.optimizer = RT_OPT_ADAM;
  specs[3].hp.learning_rate = 0.005;
  specs[4] = base(4, "mlp");
  specs[4].hp.activation = RT_ACTIVATION_RELU;
  specs[4].hp.hidden_count = 2;
  specs[4].hp.hidden[0] = 64;
  specs[4].hp.hidden[1] = 32;
  specs[4].hp.momentum = 0.9;
  specs[5] = base(5, "kmeans");
  specs[6] = base(6, "linear");
  specs[6].hp.alpha = 1.0;
  specs[6].problem.classes = 0;
  specs[6].passes = 1; /* the exact solver needs the data once (as train.c sets it) */
  specs[7] = base(7, "linear");
  specs[7].hp.solver = RT_SOLVER_SGD;
  specs[7].hp.optimizer = RT_OPT_ADAM;
  specs[7].hp.learning_rate = 0.01;
  specs[7].problem.classes = 0;
}

/* A fresh state; kmeans starts from its first shard (as rt_engine_new_state does). */
static void *fresh_state(const rt_model_spec *spec, size_t *bytes) {
  return gt_fresh_state(spec, &host[spec->id % SHARDS], bytes);
}

static rt_cuda_slot *new_slot(const rt_model_spec *spec, size_t bytes) {
  return gt_slot_new(spec, bytes, BATCH, FEATURES, CLASSES);
}

/* Issues model j's next shard visit on its slot; returns 1 once the model has done all passes. */
static int issue_visit(rt_cuda_slot *slot, const rt_model_spec *spec) {
  rt_status st;
  rt_status_clear(&st);
  const uint64_t shard = (spec->id + rt_cuda_slot_header(slot)->position) % SHARDS; /* rotate */
  int done = 0;
  if (rt_cuda_integrate_shard(slot, spec, dev[shard], shard, &st) != RT_OK ||
      rt_cuda_finish_visit(slot, spec, SHARDS, &done, &st) != RT_OK)
    fail_msg("model %llu: %s", (unsigned long long)spec->id, st.message);
  return done;
}

/* Every model trained alone: its slot created, used and freed before the next one starts. */
static void one_at_a_time(void **out) {
  rt_status st;
  rt_status_clear(&st);
  for (size_t j = 0; j < MODELS; ++j) {
    size_t bytes = 0;
    void *state = fresh_state(&specs[j], &bytes);
    rt_cuda_slot *slot = new_slot(&specs[j], bytes);
    if (rt_cuda_state_upload(slot, state, bytes, &st) != RT_OK) fail_msg("upload: %s", st.message);
    while (!issue_visit(slot, &specs[j])) {
    }
    if (rt_cuda_state_download(slot, state, bytes, &st) != RT_OK ||
        rt_cuda_slot_sync(slot, &st) != RT_OK)
      fail_msg("download: %s", st.message);
    rt_cuda_slot_free(slot);
    out[j] = state;
  }
}

/* All models at once, each on its own slot, their visits issued round by round in the given order
 * without any synchronisation between them. */
static void concurrently(void **out, int reverse) {
  rt_status st;
  rt_status_clear(&st);
  rt_cuda_slot *slots[MODELS];
  size_t bytes[MODELS];
  int done[MODELS] = {0};
  for (size_t j = 0; j < MODELS; ++j) {
    void *state = fresh_state(&specs[j], &bytes[j]);
    slots[j] = new_slot(&specs[j], bytes[j]);
    if (rt_cuda_state_upload(slots[j], state, bytes[j], &st) != RT_OK)
      fail_msg("upload: %s", st.message);
    out[j] = state; /* uploaded through the staging buffer: free to receive the result */
  }
  for (int busy = 1; busy;) {
    busy = 0;
    for (size_t i = 0; i < MODELS; ++i) {
      const size_t j = reverse ? MODELS - 1 - i : i;
      if (done[j]) continue;
      done[j] = issue_visit(slots[j], &specs[j]);
      busy |= !done[j];
    }
  }
  for (size_t j = 0; j < MODELS; ++j)
    if (rt_cuda_state_download(slots[j], out[j], bytes[j], &st) != RT_OK)
      fail_msg("download: %s", st.message);
  for (size_t j = 0; j < MODELS; ++j) {
    if (rt_cuda_slot_sync(slots[j], &st) != RT_OK) fail_msg("sync: %s", st.message);
    rt_cuda_slot_free(slots[j]);
  }
}

static void test_concurrent_equals_sequential(void **unused) {
  (void)unused;
  void *alone[MODELS], *together[MODELS], *reversed[MODELS];
  one_at_a_time(alone);
  concurrently(together, 0);
  concurrently(reversed, 1);
  int bad = 0;
  for (size_t j = 0; j < MODELS; ++j) {
    const size_t bytes = rt_state_layout_of(&specs[j]).total_bytes;
    const rt_state_header *h = rt_state_head(alone[j]);
    assert_int_equal(h->pass, specs[j].passes);
    assert_true(h->step > 0);
    if (memcmp(alone[j], together[j], bytes) != 0) {
      print_error("model %zu (%s): concurrent streams changed its bytes\n", j, specs[j].hp.kind);
      bad++;
    }
    if (memcmp(alone[j], reversed[j], bytes) != 0) {
      print_error("model %zu (%s): issuing in reverse order changed its bytes\n", j,
                  specs[j].hp.kind);
      bad++;
    }
    rt_state_free(alone[j]);
    rt_state_free(together[j]);
    rt_state_free(reversed[j]);
  }
  assert_int_equal(bad, 0);
}

static int setup(void **unused) {
  (void)unused;
  rt_status st;
  rt_status_clear(&st);
  make_specs();
  for (size_t s = 0; s < SHARDS; ++s) {
    make_shard(&host[s], shard_rows[s], rt_key_push(2026, s));
    if (rt_cuda_shard_upload(&host[s], NULL, &dev[s], &st) != RT_OK) {
      fprintf(stderr, "rt_cuda_shard_upload: %s\n", st.message);
      return -1;
    }
  }
  return 0;
}

static int teardown(void **unused) {
  (void)unused;
  for (size_t s = 0; s < SHARDS; ++s) {
    rt_cuda_shard_free(dev[s]);
    rt_shard_free(&host[s]);
  }
  return 0;
}

int main(void) {
  const int start = gpu_test_start();
  if (start != 0) return start;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_concurrent_equals_sequential)};
  return cmocka_run_group_tests(tests, setup, teardown);
}
