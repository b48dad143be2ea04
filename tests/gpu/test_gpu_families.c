/* The CUDA kernels of kmeans, linear (exact and sgd) and mlp against the CPU reference: the same
 * state integrated over the same shards by rt_cpu_integrate_shard and rt_cuda_integrate_shard must
 * agree after one shard visit and after a whole multi-pass, multi-shard run through
 * rt_cuda_finish_visit: header counters exactly; float parameters and optimizer state within 1e-4
 * relative; kmeans counts and Lloyd sums (doubles in aux) exactly, the Lloyd pass's largest
 * distance (far_dist, a distance from X C^T) within 1e-4; linear exact statistics (doubles in aux) within
 * 1e-9 relative; and after the run (and, for linear exact, the host-side solve of both states) the
 * evaluation sums within 1e-4 relative. Divergence (a NaN feature) must stop both at the same
 * batch. Two sizes: a tiny problem (11 features, batch 16) for every option, and real shapes (784
 * features, batch 256, 10 classes or blobs, an MLP with 128 hidden units) for each family. Every
 * visit's kernel launches (rt_cuda_launch_count) must be the same for each batch, and are printed
 * per batch. Exits 77 (ctest: skipped) when no CUDA device is usable. */
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
#include "route.h"
#include "family_kmeans.h"
#include "model.h"
#include "gpu_test.h"
#include "rng.h"
#include "rt_cuda.h"

#define PASSES 2
#define MAX_SHARDS 3

/* One size of problem and its three data sets, on the host and on the device: class labels (a
 * linear teacher, 10% label noise); regression targets on uncentred features (tiny: offsets of 20
 * on every third column, so the exact solver's shift matters); and tight blobs around integer
 * prototypes for kmeans, so that no row sits near a tie between two centres (a near-tie could
 * resolve differently under the CPU's and the GPU's rounding of X C^T and then the counts, compared
 * exactly, would differ). The tests run on `cur`. */
typedef struct data_set {
  const char *name;
  size_t features, classes, batch, shards, slot_rows, blobs;
  size_t rows[MAX_SHARDS];
  float offset; /* added to every third feature of the regression data */
  uint64_t key;
  rt_shard cls_host[MAX_SHARDS], reg_host[MAX_SHARDS], blob_host[MAX_SHARDS];
  rt_cuda_shard *cls_dev[MAX_SHARDS], *reg_dev[MAX_SHARDS], *blob_dev[MAX_SHARDS];
} data_set;

/* tiny: partial last batches 13+10+7 of 16 rows; evaluation in several chunks of 64 rows; kmeans
 * k = blobs, so no two centres share a blob. real: 784 features, batch 256, 1000 + 700 rows,
 * centred regression features (the learning rates stay those of a well-conditioned problem). */
static data_set tiny = {.name = "tiny",
                        .features = 11,
                        .classes = 3,
                        .batch = 16,
                        .shards = 3,
                        .slot_rows = 64,
                        .blobs = 6,
                        .rows = {203, 160, 97},
                        .offset = 20.0f,
                        .key = 2024};
static data_set real = {.name = "784 features, batch 256",
                        .features = 784,
                        .classes = 10,
                        .batch = 256,
                        .shards = 2,
                        .slot_rows = 256,
                        .blobs = 10,
                        .rows = {1000, 700, 0},
                        .offset = 0.0f,
                        .key = 3037};
static data_set *cur = &tiny;

static size_t total_rows(const data_set *d) {
  size_t n = 0;
  for (size_t s = 0; s < d->shards; ++s) n += d->rows[s];
  return n;
}

static uint64_t total_batches(const data_set *d, size_t batch) {
  uint64_t n = 0;
  for (size_t s = 0; s < d->shards; ++s) n += (d->rows[s] + batch - 1) / batch;
  return n;
}

/* The linear exact solver's statistics (doubles in aux): within 1e-9 relative plus 1e-9. */
static const double stats_tol = 1e-9;

static int stats_close(double a, double b) { return gt_close(a, b, stats_tol, 1e-9); }

static void alloc_shard(rt_shard *s, size_t rows) { gt_shard_alloc(s, rows, cur->features); }

static void make_cls_shard(rt_shard *s, size_t rows, uint64_t key) {
  const size_t nf = cur->features, nc = cur->classes;
  alloc_shard(s, rows);
  const uint64_t teacher = rt_key_push(7, 99);
  for (size_t i = 0; i < rows; ++i) {
    float best = -INFINITY;
    size_t label = 0;
    for (size_t f = 0; f < nf; ++f)
      s->x[i * nf + f] = 2.0f * rt_rng_uniform_f(key, i * nf + f) - 1.0f;
    for (size_t k = 0; k < nc; ++k) {
      float z = 0.0f;
      for (size_t f = 0; f < nf; ++f)
        z += s->x[i * nf + f] * (2.0f * rt_rng_uniform_f(teacher, f * nc + k) - 1.0f);
      if (z > best) {
        best = z;
        label = k;
      }
    }
    if (rt_rng_uniform_f(key, 1000000 + i) < 0.1f) label = rt_rng_below(key, 2000000 + i, nc);
    s->y[i] = (float)label;
  }
}

static void make_reg_shard(rt_shard *s, size_t rows, uint64_t key) {
  const size_t nf = cur->features;
  alloc_shard(s, rows);
  const uint64_t teacher = rt_key_push(8, 77);
  for (size_t i = 0; i < rows; ++i) {
    double t = 30.0;
    for (size_t f = 0; f < nf; ++f) {
      const float v = 2.0f * rt_rng_uniform_f(key, i * nf + f) - 1.0f;
      s->x[i * nf + f] = v + (f % 3 == 0 ? cur->offset : 0.0f);
      t += (double)v * (2.0 * rt_rng_uniform(teacher, f) - 1.0);
    }
    t += 0.1 * (rt_rng_uniform(key, 1000000 + i) - 0.5);
    s->y[i] = (float)t;
  }
}

/* Rows at prototype j + noise * U(-1/2, 1/2) per feature; prototype coordinates are integers in
 * [-4, 4]; y = j. noise = 0: exact copies (every distance is then exact in float). */
static void make_blob_shard(rt_shard *s, size_t rows, uint64_t key, size_t prototypes,
                            float noise) {
  const size_t nf = cur->features;
  alloc_shard(s, rows);
  const uint64_t proto = rt_key_push(9, 55);
  for (size_t i = 0; i < rows; ++i) {
    const size_t j = rt_rng_below(key, i, prototypes);
    for (size_t f = 0; f < nf; ++f)
      s->x[i * nf + f] = (float)((int)rt_rng_below(proto, j * nf + f, 9) - 4) +
                         noise * (rt_rng_uniform_f(key, 1000000 + i * nf + f) - 0.5f);
    s->y[i] = (float)j;
  }
}

static int is_kind(const rt_model_spec *spec, const char *kind) {
  return strcmp(spec->hp.kind, kind) == 0;
}

static int regression(const rt_model_spec *spec) {
  return rt_family_find(spec->hp.kind)->task(spec) == RT_TASK_REGRESSION;
}

static int classification(const rt_model_spec *spec) {
  return rt_family_find(spec->hp.kind)->task(spec) == RT_TASK_CLASSIFICATION;
}

static const rt_shard *host_set(const rt_model_spec *spec) {
  return is_kind(spec, "kmeans") ? cur->blob_host
         : regression(spec)      ? cur->reg_host
                                 : cur->cls_host;
}
static rt_cuda_shard **dev_set(const rt_model_spec *spec) {
  return is_kind(spec, "kmeans") ? cur->blob_dev : regression(spec) ? cur->reg_dev : cur->cls_dev;
}

static rt_model_spec base_spec(const char *kind, uint64_t id) {
  rt_model_spec s = gt_spec(kind, id, cur->features, cur->classes, (long)cur->batch, cur->shards,
                            total_batches(cur, cur->batch), 12345, PASSES);
  gt_family_keys(&s, (long)cur->blobs, 100, 8, RT_ACTIVATION_RELU);
  s.problem.train_rows = total_rows(cur);
  return s;
}

/* o = 0 sgd, 1 sgd + momentum, 2 adam. */
static void set_optimizer(rt_model_spec *s, int o, rt_schedule sched) {
  s->hp.optimizer = o == 2 ? RT_OPT_ADAM : RT_OPT_SGD;
  s->hp.momentum = o == 1 ? 0.9 : 0.0;
  s->hp.learning_rate = o == 2 ? 0.01 : 0.05;
  s->hp.schedule = sched;
}

static void describe(const rt_model_spec *s, char *buf, size_t cap) {
  if (is_kind(s, "kmeans"))
    snprintf(buf, cap, "kmeans k=%ld %s lloyd_passes=%ld", s->hp.k,
             rt_kmeans_algorithm_name(s->hp.algorithm), s->hp.lloyd_passes);
  else if (is_kind(s, "linear"))
    snprintf(buf, cap, "linear %s fi=%d alpha=%g %s",
             s->hp.solver == RT_SOLVER_EXACT ? "exact" : "sgd", s->hp.fit_intercept, s->hp.alpha,
             gt_opt_label(s));
  else
    snprintf(buf, cap, "mlp %s %s hidden=%d %s l2=%g", rt_activation_name(s->hp.activation),
             rt_mlp_output_name(s->hp.output), s->hp.hidden_count, gt_opt_label(s), s->hp.l2);
}

/* A fresh host state; with from_data, the family's data initialisation on the model's first shard
 * (as rt_engine_new_state does). */
static void *fresh_state(const rt_model_spec *spec, int from_data, size_t *bytes) {
  return gt_fresh_state(spec, from_data ? &host_set(spec)[spec->id % cur->shards] : NULL, bytes);
}

/* A slot for batches and evaluation chunks of the current data set. */
static rt_cuda_slot *new_slot(const rt_model_spec *spec, size_t state_bytes) {
  const size_t rows =
      cur->slot_rows > (size_t)spec->hp.batch_size ? cur->slot_rows : (size_t)spec->hp.batch_size;
  return gt_slot_new(spec, state_bytes, rows, cur->features, cur->classes);
}

static void gpu_visit(rt_cuda_slot *slot, const rt_model_spec *spec, rt_cuda_shard *shard,
                      uint64_t index) {
  rt_status st;
  rt_status_clear(&st);
  if (rt_cuda_integrate_shard(slot, spec, shard, index, &st) != RT_OK)
    fail_msg("rt_cuda_integrate_shard: %s", st.message);
}

/* Header counters exactly, loss sums / history / parameters within GT_REL_TOL; aux by family:
 * kmeans counts exactly, linear exact statistics within stats_tol, optimizer state within
 * GT_REL_TOL. Returns the number of mismatches (the first ones printed). */
static int compare_states(const rt_model_spec *spec, void *cpu, void *gpu, const char *what) {
  const rt_state_layout l = rt_state_layout_of(spec);
  int bad = gt_compare_head_and_params(spec, cpu, gpu, what);
  if (is_kind(spec, "kmeans") || (is_kind(spec, "linear") && spec->hp.solver == RT_SOLVER_EXACT)) {
    const double *xa = (const double *)(const void *)rt_state_aux(cpu, &l);
    const double *xb = (const double *)(const void *)rt_state_aux(gpu, &l);
    const int counts = is_kind(spec, "kmeans");
    /* kmeans: counts, seen and the Lloyd sums exactly; far_dist is a distance (X C^T). */
    const size_t far =
        counts && rt_kmeans_lloyd_passes(spec) > 0 ? rt_kmeans_aux_of(spec).far_dist : (size_t)-1;
    for (size_t i = 0; i < l.aux_count / 2; ++i) {
      const int ok = i == far ? gt_close_enough(xa[i], xb[i])
                     : counts ? gt_same_double(xa[i], xb[i])
                              : stats_close(xa[i], xb[i]);
      if (!ok && bad++ < 20)
        print_error("%s: aux double %zu cpu %.17g gpu %.17g\n", what, i, xa[i], xb[i]);
    }
  } else {
    bad = gt_compare_aux_floats(spec, cpu, gpu, what, bad);
  }
  return bad;
}

/* Evaluation sums of a state on every shard, CPU vs GPU: within GT_REL_TOL; correct predictions of a
 * classifier within one row (a near-tie may resolve differently after rounding). */
static void compare_evaluation(const rt_model_spec *spec, void *state, size_t bytes,
                               const char *what) {
  const rt_family *fam = rt_family_find(spec->hp.kind);
  rt_status st;
  rt_status_clear(&st);
  rt_cuda_slot *slot = new_slot(spec, bytes);
  gt_upload(slot, state, bytes);
  const size_t ws_rows = 50;
  float *ws = malloc(fam->workspace_floats(spec, ws_rows) * sizeof(float));
  assert_non_null(ws);
  for (size_t s = 0; s < cur->shards; ++s) {
    double cpu[RT_EVAL_SUMS] = {0}, gpu[RT_EVAL_SUMS] = {0};
    rt_cpu_evaluate_shard(spec, fam, state, &host_set(spec)[s], ws, ws_rows, cpu);
    if (rt_cuda_evaluate_shard(slot, spec, dev_set(spec)[s], gpu, &st) != RT_OK)
      fail_msg("rt_cuda_evaluate_shard: %s", st.message);
    int bad = 0;
    for (int k = 0; k < RT_EVAL_SUMS; ++k) {
      const int ok = classification(spec) && k == 1 ? fabs(cpu[k] - gpu[k]) <= 1.0
                                                    : gt_close_enough(cpu[k], gpu[k]);
      if (!ok) {
        print_error("%s: shard %zu evaluation sum %d cpu %.12g gpu %.12g\n", what, s, k, cpu[k],
                    gpu[k]);
        bad++;
      }
    }
    assert_int_equal(bad, 0);
    assert_true(cpu[0] > 0.0); /* something was measured */
  }
  free(ws);
  rt_cuda_slot_free(slot);
}

/* One shard visit from a fresh state, CPU vs GPU. Returns the CPU state (caller frees). */
static void *one_visit(const rt_model_spec *spec, uint64_t shard, int from_data) {
  size_t bytes = 0;
  void *cpu = fresh_state(spec, from_data, &bytes);
  rt_cuda_slot *slot = new_slot(spec, bytes);
  gt_upload(slot, cpu, bytes);
  const uint64_t before = rt_cuda_launch_count();
  gpu_visit(slot, spec, dev_set(spec)[shard], shard);
  const uint64_t launched = rt_cuda_launch_count() - before;
  gt_cpu_run r = gt_cpu_run_new(spec);
  gt_cpu_visit(spec, cpu, &host_set(spec)[shard], shard, &r);
  void *gpu = gt_download(slot, bytes);
  const rt_state_header *m = rt_cuda_slot_header(slot);
  assert_int_equal(m->step, rt_state_head(cpu)->step);
  assert_int_equal(m->samples, rt_state_head(cpu)->samples);
  char what[200], desc[120];
  describe(spec, desc, sizeof desc);
  snprintf(what, sizeof what, "%s (%s), one visit of shard %llu", desc, cur->name,
           (unsigned long long)shard);
  /* The same launches for every batch, plus the visit's header commit. */
  const uint64_t batches =
      (host_set(spec)[shard].rows + (size_t)spec->hp.batch_size - 1) / (size_t)spec->hp.batch_size;
  print_message("%s: kernel launches per batch %.2f\n", what,
                (double)(launched - 1) / (double)batches);
  assert_int_equal((launched - 1) % batches, 0);
  assert_int_equal(compare_states(spec, cpu, gpu, what), 0);
  assert_int_equal(rt_state_head(cpu)->diverged, 0);
  free(gpu);
  gt_cpu_run_free(&r);
  rt_cuda_slot_free(slot);
  return cpu;
}

/* A whole run as the engine drives it on one rank (every pass visits every shard in succession
 * order, the bookkeeping closes passes into the history), then the family's finish on the host
 * for both states (linear exact: the solve), then evaluation. */
static void whole_run(const rt_model_spec *spec, int from_data) {
  const rt_family *fam = rt_family_find(spec->hp.kind);
  rt_status st;
  rt_status_clear(&st);
  size_t bytes = 0;
  void *cpu = fresh_state(spec, from_data, &bytes);
  rt_cuda_slot *slot = new_slot(spec, bytes);
  gt_upload(slot, cpu, bytes);
  gt_cpu_run r = gt_cpu_run_new(spec);
  int cpu_done = 0, gpu_done = 0, visits = 0;
  while (!cpu_done) {
    const rt_state_header *h = rt_state_head(cpu);
    const uint64_t shard = rt_route_shard(spec, h->pass, h->position);
    gt_cpu_visit(spec, cpu, &host_set(spec)[shard], shard, &r);
    cpu_done = gt_cpu_finish_visit(spec, cpu);
    assert_false(gpu_done);
    gpu_visit(slot, spec, dev_set(spec)[shard], shard);
    if (rt_cuda_finish_visit(slot, spec, cur->shards, &gpu_done, &st) != RT_OK)
      fail_msg("visit %d: %s", visits, st.message);
    assert_int_equal(cpu_done, gpu_done);
    visits++;
  }
  assert_int_equal(visits, cur->shards * spec->passes);
  void *gpu = gt_download(slot, bytes);
  char what[200], desc[120];
  describe(spec, desc, sizeof desc);
  snprintf(what, sizeof what, "%s (%s), whole run", desc, cur->name);
  assert_int_equal(compare_states(spec, cpu, gpu, what), 0);
  assert_int_equal(rt_state_head(gpu)->step,
                   total_batches(cur, (size_t)spec->hp.batch_size) * spec->passes);
  assert_int_equal(rt_state_head(gpu)->diverged, 0);
  if (rt_cuda_header_refresh(slot, &st) != RT_OK) fail_msg("refresh: %s", st.message);
  assert_memory_equal(rt_cuda_slot_header(slot), gpu, sizeof(rt_state_header));
  if (fam->finish) {
    const rt_state_layout l = rt_state_layout_of(spec);
    assert_int_equal(fam->finish(spec, rt_state_params(cpu, &l), rt_state_aux(cpu, &l), &st),
                     RT_OK);
    assert_int_equal(fam->finish(spec, rt_state_params(gpu, &l), rt_state_aux(gpu, &l), &st),
                     RT_OK);
    const float *pa = rt_state_params(cpu, &l), *pb = rt_state_params(gpu, &l);
    int bad = 0;
    for (size_t i = 0; i < l.param_count; ++i)
      if (!gt_close_enough(pa[i], pb[i]) && bad++ < 20)
        print_error("%s: solved param %zu cpu %.9g gpu %.9g\n", what, i, (double)pa[i],
                    (double)pb[i]);
    assert_int_equal(bad, 0);
  }
  compare_evaluation(spec, cpu, bytes, what);
  free(gpu);
  gt_cpu_run_free(&r);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
}

/* A NaN feature in row 40 of shard 2: both backends flag the model as diverged at that batch and
 * change nothing from the next batch on; the counters still advance. */
static void nan_visit(const rt_model_spec *spec, int from_data) {
  rt_status st;
  rt_status_clear(&st);
  const rt_shard *clean = &host_set(spec)[2];
  rt_shard poisoned = *clean;
  const size_t n = poisoned.rows * cur->features;
  poisoned.x = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
  assert_non_null(poisoned.x);
  memcpy(poisoned.x, clean->x, n * sizeof(float));
  poisoned.x[40 * cur->features + 4] = NAN;
  rt_cuda_shard *dev = NULL;
  if (rt_cuda_shard_upload(&poisoned, NULL, &dev, &st) != RT_OK)
    fail_msg("upload shard: %s", st.message);
  size_t bytes = 0;
  void *cpu = fresh_state(spec, from_data, &bytes);
  rt_cuda_slot *slot = new_slot(spec, bytes);
  gt_upload(slot, cpu, bytes);
  gpu_visit(slot, spec, dev, 2);
  gt_cpu_run r = gt_cpu_run_new(spec);
  gt_cpu_visit(spec, cpu, &poisoned, 2, &r);
  void *gpu = gt_download(slot, bytes);
  char what[160], desc[120];
  describe(spec, desc, sizeof desc);
  snprintf(what, sizeof what, "%s, NaN feature", desc);
  assert_int_equal(compare_states(spec, cpu, gpu, what), 0);
  assert_int_equal(rt_state_head(cpu)->diverged, 1);
  assert_int_equal(rt_state_head(gpu)->diverged, 1);
  assert_true(isnan(rt_state_head(gpu)->pass_loss_sum));
  free(gpu);
  gt_cpu_run_free(&r);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
  rt_cuda_shard_free(dev);
  free(poisoned.x);
}

/* ---- kmeans ---------------------------------------------------------------------------------- */

static void test_kmeans_one_visit(void **unused) {
  (void)unused;
  const rt_model_spec spec = base_spec("kmeans", 1);
  for (int from_data = 0; from_data < 2; ++from_data) {
    void *cpu = one_visit(&spec, from_data ? 0 : 2, from_data);
    /* From all-zero centres (from_data = 0) at most one more centre wins rows per batch until
     * seen >= 10 k: the dead-centre rule re-seeds the rest, so that path is compared too. */
    const rt_state_layout l = rt_state_layout_of(&spec);
    const double *counts = (const double *)(const void *)rt_state_aux(cpu, &l);
    for (long c = 0; c < spec.hp.k; ++c) assert_true(counts[c] >= 1.0);
    assert_true(counts[spec.hp.k] == (double)tiny.rows[from_data ? 0 : 2]); /* seen */
    rt_state_free(cpu);
  }
}

static void test_kmeans_whole_run(void **unused) {
  (void)unused;
  rt_model_spec spec = base_spec("kmeans", 1);
  whole_run(&spec, 1);
  /* From zeros, mixed centres sit between blobs for a while; with this id every assignment of the
   * run is decided by a margin far above the float rounding of X C^T (checked on the CPU run). */
  spec.id = 4;
  spec.hp.seed = rt_model_seed_auto(spec.seed, 4), spec.hp.start_shard = 4; /* as auto for id 4 */
  whole_run(&spec, 0);
}

/* More dead centres than one block has threads (k = 300 > 256). The data are exact copies of 40
 * integer prototypes and k-means++ samples every row, so it picks the 40 prototypes as centres
 * 0..39 and duplicates them as 40..299 (a duplicate loses every tie to its lower-index twin):
 * every distance is exact on both backends. Once 3000 rows were seen, the 260 dead centres are
 * re-seeded over several batches (in centre order, from the lowest unused row, all distances being
 * 0), some waiting for a later batch. */
static void test_kmeans_many_dead_centres(void **unused) {
  (void)unused;
  rt_status st;
  rt_status_clear(&st);
  rt_model_spec spec = base_spec("kmeans", 0);
  spec.hp.k = 300;
  spec.hp.init_sample = 3500;
  spec.hp.batch_size = 64;
  spec.shards = 1;
  spec.passes = 1;
  rt_shard big; /* exact prototypes: every distance and every tie is exact on both backends */
  make_blob_shard(&big, 3500, rt_key_push(2025, 1), 40, 0.0f);
  spec.problem.train_rows = big.rows;
  spec.total_batches = (big.rows + 63) / 64;
  rt_cuda_shard *dev = NULL;
  if (rt_cuda_shard_upload(&big, NULL, &dev, &st) != RT_OK)
    fail_msg("upload shard: %s", st.message);
  size_t bytes = 0;
  void *cpu = fresh_state(&spec, 0, &bytes);
  const rt_state_layout l = rt_state_layout_of(&spec);
  rt_family_find("kmeans")->init_from_data(&spec, rt_state_head(cpu)->rng_key,
                                           rt_state_params(cpu, &l), rt_state_aux(cpu, &l), &big,
                                           NULL);
  rt_cuda_slot *slot = new_slot(&spec, bytes);
  gt_upload(slot, cpu, bytes);
  gpu_visit(slot, &spec, dev, 0);
  gt_cpu_run r = gt_cpu_run_new(&spec);
  gt_cpu_visit(&spec, cpu, &big, 0, &r);
  void *gpu = gt_download(slot, bytes);
  assert_int_equal(compare_states(&spec, cpu, gpu, "kmeans k=300"), 0);
  const double *counts = (const double *)(const void *)rt_state_aux(cpu, &l);
  long reseeded = 0;
  for (long c = 256; c < spec.hp.k; ++c) reseeded += counts[c] == 1.0;
  assert_true(reseeded > 0); /* the second chunk of centres was reached */
  free(gpu);
  gt_cpu_run_free(&r);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
  rt_cuda_shard_free(dev);
  rt_shard_free(&big);
}

static void test_kmeans_nan(void **unused) {
  (void)unused;
  const rt_model_spec spec = base_spec("kmeans", 2);
  nan_visit(&spec, 1);
}

/* Lloyd passes: one visit (the accumulators of a Lloyd pass: counts and sums exactly, centres
 * unmoved), whole runs of only Lloyd passes and of mini-batch then Lloyd passes (the pass ends on
 * the device after rt_cuda_finish_visit), and a NaN feature. */
static void test_kmeans_lloyd(void **unused) {
  (void)unused;
  rt_model_spec spec = base_spec("kmeans", 1);
  spec.hp.algorithm = RT_KMEANS_LLOYD;
  void *cpu = one_visit(&spec, 0, 1);
  const rt_state_layout l = rt_state_layout_of(&spec);
  const rt_kmeans_aux_layout al = rt_kmeans_aux_of(&spec);
  const double *a = (const double *)(const void *)rt_state_aux(cpu, &l);
  double rows = 0.0;
  for (long c = 0; c < spec.hp.k; ++c) rows += a[al.lloyd_counts + (size_t)c];
  assert_true(rows == (double)cur->rows[0]);
  assert_true(a[al.far_dist] > 0.0 && a[al.lloyd_now] == 1.0);
  rt_state_free(cpu);
  whole_run(&spec, 1);
  spec.hp.algorithm = RT_KMEANS_MINIBATCH;
  spec.hp.lloyd_passes = 2;
  spec.passes = 3; /* one mini-batch pass, then two Lloyd passes */
  whole_run(&spec, 1);
  spec = base_spec("kmeans", 2);
  spec.hp.algorithm = RT_KMEANS_LLOYD;
  nan_visit(&spec, 1);
}

/* A Lloyd pass end with empty centres, on exact prototypes (every distance and tie exact on both
 * backends): from all-zero centres every row goes to centre 0 (first minimum), so at the pass end
 * centre 0 is the mean, centre 1 the first row farthest from the origin, the others stay 0. */
static void test_kmeans_lloyd_empty_centres(void **unused) {
  (void)unused;
  rt_status st;
  rt_status_clear(&st);
  rt_model_spec spec = base_spec("kmeans", 0);
  spec.hp.algorithm = RT_KMEANS_LLOYD;
  spec.shards = 1;
  spec.passes = 1;
  rt_shard exact;
  make_blob_shard(&exact, 300, rt_key_push(2026, 3), 12, 0.0f);
  spec.problem.train_rows = exact.rows;
  spec.total_batches = (exact.rows + cur->batch - 1) / cur->batch;
  rt_cuda_shard *dev = NULL;
  if (rt_cuda_shard_upload(&exact, NULL, &dev, &st) != RT_OK)
    fail_msg("upload shard: %s", st.message);
  size_t bytes = 0;
  void *cpu = fresh_state(&spec, 0, &bytes);
  const rt_state_layout l = rt_state_layout_of(&spec);
  ((double *)(void *)rt_state_aux(cpu, &l))[rt_kmeans_aux_of(&spec).lloyd_now] = 1.0;
  rt_cuda_slot *slot = new_slot(&spec, bytes);
  gt_upload(slot, cpu, bytes);
  gpu_visit(slot, &spec, dev, 0);
  int done = 0;
  if (rt_cuda_finish_visit(slot, &spec, 1, &done, &st) != RT_OK) fail_msg("finish: %s", st.message);
  gt_cpu_run r = gt_cpu_run_new(&spec);
  gt_cpu_visit(&spec, cpu, &exact, 0, &r);
  assert_int_equal(gt_cpu_finish_visit(&spec, cpu), done);
  void *gpu = gt_download(slot, bytes);
  assert_int_equal(compare_states(&spec, cpu, gpu, "kmeans lloyd, empty centres"), 0);
  const float *c = rt_state_params(gpu, &l);
  const size_t nf = cur->features;
  double far_d = -1.0, centre1 = 0.0;
  int found = 0;
  for (size_t f = 0; f < nf; ++f) centre1 += (double)c[nf + f] * c[nf + f];
  for (size_t i = 0; i < exact.rows; ++i) {
    double n = 0.0;
    for (size_t f = 0; f < nf; ++f) n += (double)exact.x[i * nf + f] * exact.x[i * nf + f];
    if (n > far_d) far_d = n;
    found |= memcmp(c + nf, exact.x + i * nf, nf * sizeof(float)) == 0;
  }
  assert_true(found && centre1 == far_d); /* a row, one of the farthest from the origin */
  for (size_t f = 2 * nf; f < (size_t)spec.hp.k * nf; ++f) assert_true(c[f] == 0.0f);
  free(gpu);
  gt_cpu_run_free(&r);
  rt_cuda_slot_free(slot);
  rt_state_free(cpu);
  rt_cuda_shard_free(dev);
  rt_shard_free(&exact);
}

/* ---- linear ---------------------------------------------------------------------------------- */

static rt_model_spec linear_spec(rt_solver solver, int fit_intercept, double alpha) {
  rt_model_spec s = base_spec("linear", 2);
  s.hp.solver = solver;
  s.hp.fit_intercept = fit_intercept;
  s.hp.alpha = alpha;
  s.problem.classes = 0;                       /* a regression-only run */
  if (solver == RT_SOLVER_EXACT) s.passes = 1; /* as train.c sets it */
  return s;
}

static void test_linear_exact_one_visit(void **unused) {
  (void)unused;
  for (int fi = 0; fi < 2; ++fi) {
    const rt_model_spec spec = linear_spec(RT_SOLVER_EXACT, fi, 0.0);
    rt_state_free(one_visit(&spec, 0, 0));
    rt_state_free(one_visit(&spec, 2, 0));
  }
}

static void test_linear_exact_whole_run(void **unused) {
  (void)unused;
  rt_model_spec spec = linear_spec(RT_SOLVER_EXACT, 1, 0.0);
  whole_run(&spec, 0);
  spec = linear_spec(RT_SOLVER_EXACT, 0, 2.5);
  spec.passes = 2; /* statistics of two passes: the same solve, twice the rows */
  whole_run(&spec, 0);
}

static void test_linear_sgd(void **unused) {
  (void)unused;
  for (int o = 0; o < 3; ++o)
    for (int fi = 0; fi < 2; ++fi) {
      rt_model_spec spec = linear_spec(RT_SOLVER_SGD, fi, o == 1 ? 0.0 : 5.0);
      set_optimizer(&spec, o, o == 2 ? RT_SCHED_COSINE : RT_SCHED_INVERSE_TIME);
      /* Offsets of 20 make the largest Hessian eigenvalue about 1600: plain steps below 1e-3. */
      spec.hp.learning_rate = o == 2 ? 0.01 : o == 1 ? 1e-4 : 2e-4;
      rt_state_free(one_visit(&spec, 1, 0));
      if (fi == o % 2) whole_run(&spec, 0);
    }
}

static void test_linear_nan(void **unused) {
  (void)unused;
  rt_model_spec spec = linear_spec(RT_SOLVER_EXACT, 1, 0.0);
  nan_visit(&spec, 0);
  spec = linear_spec(RT_SOLVER_SGD, 1, 1.0);
  spec.hp.learning_rate = 0.001;
  nan_visit(&spec, 0);
}

/* ---- mlp ------------------------------------------------------------------------------------- */

static rt_model_spec mlp_spec(rt_activation act, rt_mlp_output output, int o, double l2, int deep) {
  rt_model_spec s = base_spec("mlp", 1);
  s.hp.activation = act;
  s.hp.output = output;
  set_optimizer(&s, o, o == 1 ? RT_SCHED_COSINE : RT_SCHED_CONSTANT);
  s.hp.l2 = l2;
  if (deep) {
    s.hp.hidden_count = 2;
    s.hp.hidden[0] = 9;
    s.hp.hidden[1] = 6;
  }
  if (output == RT_OUTPUT_REGRESSION)
    s.hp.learning_rate = o == 2 ? 1e-3 : 1e-5; /* uncentred data */
  return s;
}

static void test_mlp_one_visit(void **unused) {
  (void)unused;
  const rt_activation acts[] = {RT_ACTIVATION_RELU, RT_ACTIVATION_TANH, RT_ACTIVATION_GELU};
  for (int a = 0; a < 3; ++a)
    for (int o = 0; o < 3; ++o) {
      const rt_model_spec cls =
          mlp_spec(acts[a], RT_OUTPUT_CLASSIFICATION, o, o == 2 ? 1e-3 : 0.0, a != 1);
      rt_state_free(one_visit(&cls, 0, 0));
      const rt_model_spec reg =
          mlp_spec(acts[a], RT_OUTPUT_REGRESSION, o, o == 0 ? 1e-3 : 0.0, a == 1);
      rt_state_free(one_visit(&reg, 1, 0));
    }
}

static void test_mlp_whole_run(void **unused) {
  (void)unused;
  rt_model_spec spec = mlp_spec(RT_ACTIVATION_RELU, RT_OUTPUT_CLASSIFICATION, 2, 1e-4, 1);
  whole_run(&spec, 0);
  spec = mlp_spec(RT_ACTIVATION_TANH, RT_OUTPUT_CLASSIFICATION, 1, 0.0, 0);
  whole_run(&spec, 0);
  spec = mlp_spec(RT_ACTIVATION_GELU, RT_OUTPUT_REGRESSION, 0, 1e-4, 1);
  whole_run(&spec, 0);
}

static void test_mlp_nan(void **unused) {
  (void)unused;
  rt_model_spec spec = mlp_spec(RT_ACTIVATION_RELU, RT_OUTPUT_CLASSIFICATION, 2, 0.0, 1);
  nan_visit(&spec, 0);
  spec = mlp_spec(RT_ACTIVATION_GELU, RT_OUTPUT_REGRESSION, 0, 0.0, 0);
  nan_visit(&spec, 0);
}

/* ---- real shapes (784 features, batch 256, 10 classes) ---------------------------------------- */

static int use_real(void **unused) {
  (void)unused;
  cur = &real;
  return 0;
}

static int use_tiny(void **unused) {
  (void)unused;
  cur = &tiny;
  return 0;
}

/* Smooth activations and plain or momentum SGD only: a ReLU unit whose input is within rounding of
 * zero, or Adam's first step on a gradient within rounding of zero, may go either way on the two
 * backends, and with 100,000 weights and 128 hidden units over 256 rows some do (the tiny problem
 * covers ReLU and Adam). */
static void test_real_kmeans(void **unused) {
  (void)unused;
  rt_model_spec spec = base_spec("kmeans", 1); /* k = 10 = the number of blobs, from the data */
  rt_state_free(one_visit(&spec, 1, 1));
  whole_run(&spec, 1);
}

static void test_real_linear(void **unused) {
  (void)unused;
  rt_model_spec spec = linear_spec(RT_SOLVER_EXACT, 1, 0.5);
  rt_state_free(one_visit(&spec, 0, 0));
  whole_run(&spec, 0);
  for (int o = 0; o < 2; ++o) {
    spec = linear_spec(RT_SOLVER_SGD, o, 1.0);
    set_optimizer(&spec, o, RT_SCHED_INVERSE_TIME);
    spec.hp.learning_rate = o ? 0.002 : 0.01;
    rt_state_free(one_visit(&spec, 1, 0));
    whole_run(&spec, 0);
  }
}

static void test_real_mlp(void **unused) {
  (void)unused;
  for (int o = 0; o < 2; ++o) {
    rt_model_spec spec =
        mlp_spec(RT_ACTIVATION_TANH, RT_OUTPUT_CLASSIFICATION, o, o ? 1e-4 : 0.0, 0);
    spec.hp.hidden[0] = 128;
    rt_state_free(one_visit(&spec, 0, 0));
    whole_run(&spec, 0);
  }
  rt_model_spec spec = mlp_spec(RT_ACTIVATION_GELU, RT_OUTPUT_REGRESSION, 1, 0.0, 1);
  spec.hp.hidden[0] = 64;
  spec.hp.hidden[1] = 32;
  rt_state_free(one_visit(&spec, 1, 0));
}

/* ---- workspace sizes and checks -------------------------------------------------------------- */

/* Every family has kernels; the workspace grows with the rows; a slot too small for a model is an
 * error before anything is issued. */
static void test_workspace_and_checks(void **unused) {
  (void)unused;
  const rt_model_spec specs[] = {base_spec("kmeans", 0), linear_spec(RT_SOLVER_EXACT, 1, 0.0),
                                 linear_spec(RT_SOLVER_SGD, 0, 0.0),
                                 mlp_spec(RT_ACTIVATION_TANH, RT_OUTPUT_REGRESSION, 0, 0.0, 1)};
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; ++i) {
    const size_t small = rt_cuda_work_floats(&specs[i], 16),
                 large = rt_cuda_work_floats(&specs[i], 256);
    assert_true(small > 0);
    assert_true(large > small);
  }
  rt_status st;
  rt_status_clear(&st);
  const rt_model_spec spec = mlp_spec(RT_ACTIVATION_RELU, RT_OUTPUT_CLASSIFICATION, 0, 0.0, 1);
  size_t bytes = 0;
  void *state = fresh_state(&spec, 0, &bytes);
  rt_cuda_slot *slot = NULL;
  if (rt_cuda_slot_create(bytes, tiny.batch, tiny.features, tiny.classes,
                          rt_cuda_work_floats(&spec, tiny.batch) - 1, &slot, &st) != RT_OK)
    fail_msg("rt_cuda_slot_create: %s", st.message);
  gt_upload(slot, state, bytes);
  assert_int_equal(rt_cuda_integrate_shard(slot, &spec, tiny.cls_dev[0], 0, &st), RT_ERR_INTERNAL);
  assert_non_null(strstr(st.message, "workspace"));
  rt_cuda_slot_free(slot);
  rt_state_free(state);
}

static int set_up(data_set *d) {
  rt_status st;
  rt_status_clear(&st);
  cur = d;
  for (size_t s = 0; s < d->shards; ++s) {
    make_cls_shard(&d->cls_host[s], d->rows[s], rt_key_push(d->key, (uint64_t)s));
    make_reg_shard(&d->reg_host[s], d->rows[s], rt_key_push(d->key + 2024, (uint64_t)s));
    make_blob_shard(&d->blob_host[s], d->rows[s], rt_key_push(d->key + 4048, (uint64_t)s), d->blobs,
                    0.1f);
    if (rt_cuda_shard_upload(&d->cls_host[s], NULL, &d->cls_dev[s], &st) != RT_OK ||
        rt_cuda_shard_upload(&d->reg_host[s], NULL, &d->reg_dev[s], &st) != RT_OK ||
        rt_cuda_shard_upload(&d->blob_host[s], NULL, &d->blob_dev[s], &st) != RT_OK) {
      fprintf(stderr, "rt_cuda_shard_upload: %s\n", st.message);
      return -1;
    }
  }
  cur = &tiny;
  return 0;
}

static void tear_down(data_set *d) {
  for (size_t s = 0; s < d->shards; ++s) {
    rt_cuda_shard_free(d->cls_dev[s]);
    rt_cuda_shard_free(d->reg_dev[s]);
    rt_cuda_shard_free(d->blob_dev[s]);
    rt_shard_free(&d->cls_host[s]);
    rt_shard_free(&d->reg_host[s]);
    rt_shard_free(&d->blob_host[s]);
  }
}

static int setup_shards(void **unused) {
  (void)unused;
  return set_up(&tiny) || set_up(&real) ? -1 : 0;
}

static int teardown_shards(void **unused) {
  (void)unused;
  tear_down(&tiny);
  tear_down(&real);
  return 0;
}

int main(void) {
  const int start = gpu_test_start();
  if (start != 0) return start;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_kmeans_one_visit),
      cmocka_unit_test(test_kmeans_whole_run),
      cmocka_unit_test(test_kmeans_many_dead_centres),
      cmocka_unit_test(test_kmeans_nan),
      cmocka_unit_test(test_kmeans_lloyd),
      cmocka_unit_test(test_kmeans_lloyd_empty_centres),
      cmocka_unit_test(test_linear_exact_one_visit),
      cmocka_unit_test(test_linear_exact_whole_run),
      cmocka_unit_test(test_linear_sgd),
      cmocka_unit_test(test_linear_nan),
      cmocka_unit_test(test_mlp_one_visit),
      cmocka_unit_test(test_mlp_whole_run),
      cmocka_unit_test(test_mlp_nan),
      cmocka_unit_test_setup_teardown(test_real_kmeans, use_real, use_tiny),
      cmocka_unit_test_setup_teardown(test_real_linear, use_real, use_tiny),
      cmocka_unit_test_setup_teardown(test_real_mlp, use_real, use_tiny),
      cmocka_unit_test(test_workspace_and_checks),
  };
  return cmocka_run_group_tests(tests, setup_shards, teardown_shards);
}
