/* Fused CUDA groups (cuda/group.cu, rt_cuda_group_*): the invariants of a group visit on a GPU,
 * for logistic, for linear with solver sgd (with an intercept), for k-means (mini-batch, and
 * Lloyd passes mixed with mini-batch ones) and for MLPs of one and of two hidden layers
 * (activations, optimizers and L2 mixed). Which groups fuse is host logic, tested without a
 * device in tests/unit/test_cuda_groups.c.
 *  1. Bytes: 8 members (SGD, momentum, Adam; learning rates, L2 or alpha and schedules mixed)
 *     integrated together over two passes of every shard give, member by member, exactly the
 *     bytes of the same member integrated as a group of one, and of a group of 3 of them taken
 *     from the same context (what early termination leaves). The element-wise kernels are the
 *     same device functions and the products one fmaf chain per element whatever the batch count
 *     (cuda/gemm.h; cuBLAS's strided-batched sgemm broke exactly this on an H200, 2026-12-04).
 *  2. CPU: every member within the CPU-vs-GPU tolerance of its CPU visit (gt_compare_states).
 *     MLP also, and k-means instead: exactly the bytes of the model integrated on its own slot
 *     (rt_cuda_integrate_shard, family_kmeans.cu), the path tests/gpu/test_gpu_families.c holds
 *     against the CPU on data without near-ties (uniform rows like these have them).
 *  3. Launches whatever the group size (1, 3, 8), counted by rt_cuda_launch_count: 6 per batch
 *     (logistic, linear with an intercept); k-means 5, 6 when every member is in a Lloyd pass, 7
 *     when some are and some are not; an MLP of L weight layers 6L, 7L when some member has L2; with CUDA Graphs one a visit, and the same bytes as launch
 *     by launch.
 * Linear targets are the class labels taken as numbers (a regression like any other).
 * Three shapes: 13 features, 4 classes, batch 16 over three uneven shards (partial batches);
 * 784 features, 10 classes, batch 128 over 1000 and 700 rows (SGD and momentum only there: see
 * test_gpu_parity.c on Adam's first steps); and, for logistic and a one-layer MLP, 100 features,
 * 2 classes, batch 4096 over 9000 and 5000 rows (long sums into small gradients). Exits 77
 * (ctest: skipped) when no CUDA device is usable. */
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
#include "family_kmeans.h"
#include "gpu_test.h"
#include "model.h"
#include "rng.h"
#include "rt_cuda.h"

#define MAX_SHARDS 3
#define PASSES 2
#define MEMBERS 8

typedef struct problem {
  const char *name;
  size_t features, classes, batch, shards;
  size_t rows[MAX_SHARDS];
  int adam; /* Adam members allowed */
  uint64_t key;
  rt_shard host[MAX_SHARDS];
  rt_cuda_shard *dev[MAX_SHARDS];
} problem;

static problem tiny = {
    "13 features, 4 classes, batch 16", 13, 4, 16, 3, {203, 160, 97}, 1, 77, {{0}}, {0}};
static problem real = {
    "784 features, 10 classes, batch 128", 784, 10, 128, 2, {1000, 700, 0}, 0, 78, {{0}}, {0}};
/* Long sums into a small output (the weight gradients sum 4096 rows into 100 x 2): where a BLAS
 * would most likely pick another kernel or split-K for another batch count. */
static problem tall = {
    "100 features, 2 classes, batch 4096", 100, 2, 4096, 2, {9000, 5000, 0}, 0, 79, {{0}}, {0}};

static uint64_t total_batches(const problem *p) {
  uint64_t n = 0;
  for (size_t s = 0; s < p->shards; ++s) n += (p->rows[s] + p->batch - 1) / p->batch;
  return n;
}

/* The shards of gt_teacher_shard (10% label noise), on the host and the device. */
static int problem_up(problem *p) {
  rt_status st;
  rt_status_clear(&st);
  float *teacher = malloc(p->features * p->classes * sizeof *teacher);
  if (!teacher) return -1;
  gt_teacher(teacher, p->features, p->classes, rt_key_push(p->key, 999));
  int rc = 0;
  for (size_t s = 0; rc == 0 && s < p->shards; ++s) {
    gt_teacher_shard(&p->host[s], p->rows[s], p->features, p->classes, rt_key_push(p->key, s),
                     teacher, 0.1f);
    if (rt_cuda_shard_upload(&p->host[s], NULL, &p->dev[s], &st) != RT_OK) {
      fprintf(stderr, "rt_cuda_shard_upload: %s\n", st.message);
      rc = -1;
    }
  }
  free(teacher);
  return rc;
}

static void problem_down(problem *p) {
  for (size_t s = 0; s < p->shards; ++s) {
    rt_cuda_shard_free(p->dev[s]);
    rt_shard_free(&p->host[s]);
    p->dev[s] = NULL;
  }
}

static int is_kmeans(const rt_model_spec *s) { return strcmp(s->hp.kind, "kmeans") == 0; }

static int is_mlp(const rt_model_spec *s) { return strcmp(s->hp.kind, "mlp") == 0; }

/* Member i of an MLP group ("mlp": one hidden layer of 16; "mlp2": 16 then 8): its own
 * activation (relu, tanh, gelu), optimizer, learning rate and L2 (members 3 and 7), one data
 * order; its initial weights from its own seed. */
static rt_model_spec mlp_member(const problem *p, const char *kind, int i) {
  rt_model_spec s = gt_spec("mlp", (uint64_t)i, p->features, p->classes, (long)p->batch, p->shards,
                            total_batches(p), 4242, PASSES);
  gt_family_keys(&s, 1, 1, 16, (rt_activation)(i % 3));
  if (strcmp(kind, "mlp2") == 0) {
    s.hp.hidden_count = 2;
    s.hp.hidden[1] = 8;
  }
  const int o = p->adam ? i % 3 : i % 2; /* 0 sgd, 1 momentum, 2 adam */
  s.hp.optimizer = o == 2 ? RT_OPT_ADAM : RT_OPT_SGD;
  s.hp.momentum = o == 1 ? 0.9 : 0.0;
  s.hp.learning_rate = (o == 2 ? 0.005 : 0.02) * (1.0 + 0.25 * i);
  s.hp.l2 = i % 4 == 3 ? 1e-3 : 0.0;
  for (size_t k = 0; k < p->shards; ++k) s.problem.train_rows += p->rows[k];
  s.hp.data_order = 31337;
  return s;
}

/* Member i of a k-means group ("kmeans": mini-batch passes; "kmeans-lloyd": even members all
 * Lloyd passes, odd ones a mini-batch pass then a Lloyd pass): k = classes + 1, its own k-means++
 * draws (its seed), one data order. */
static rt_model_spec kmeans_member(const problem *p, const char *kind, int i) {
  rt_model_spec s = gt_spec("kmeans", (uint64_t)i, p->features, p->classes, (long)p->batch,
                            p->shards, total_batches(p), 4242, PASSES);
  s.hp.k = (long)p->classes + 1;
  s.hp.init_sample = 64;
  if (strcmp(kind, "kmeans-lloyd") == 0) {
    s.hp.algorithm = i % 2 ? RT_KMEANS_MINIBATCH : RT_KMEANS_LLOYD;
    s.hp.lloyd_passes = i % 2 ? 1 : 0;
  }
  for (size_t k = 0; k < p->shards; ++k) s.problem.train_rows += p->rows[k];
  s.hp.data_order = 31337;
  return s;
}

/* Member i of the group (kind "logistic" or "linear", solver sgd): its own optimizer, learning
 * rate, L2 (alpha) and schedule; one data order. k-means kinds: kmeans_member. */
static rt_model_spec member(const problem *p, const char *kind, int i) {
  if (strncmp(kind, "kmeans", 6) == 0) return kmeans_member(p, kind, i);
  if (strncmp(kind, "mlp", 3) == 0) return mlp_member(p, kind, i);
  const int linear = strcmp(kind, "linear") == 0;
  rt_model_spec s = gt_spec(kind, (uint64_t)i, p->features, linear ? 0 : p->classes, (long)p->batch,
                            p->shards, total_batches(p), 4242, PASSES);
  const int o = p->adam ? i % 3 : i % 2; /* 0 sgd, 1 momentum, 2 adam */
  s.hp.optimizer = o == 2 ? RT_OPT_ADAM : RT_OPT_SGD;
  s.hp.momentum = o == 1 ? 0.9 : 0.0;
  /* linear: plain steps well below 2 / (the Hessian's largest eigenvalue, about features / 3),
   * momentum included */
  const double plain = linear ? 0.02 / (double)p->features : 0.1;
  s.hp.learning_rate = (o == 2 ? 0.01 : plain) * (1.0 + 0.25 * i);
  s.hp.l2 = !linear && i % 4 == 3 ? 1e-3 : 0.0;
  s.hp.solver = RT_SOLVER_SGD;
  s.hp.fit_intercept = 1;
  s.hp.alpha = linear ? 0.5 * i : 0.0;
  for (size_t k = 0; k < p->shards; ++k) s.problem.train_rows += p->rows[k];
  s.hp.schedule = i % 2 ? RT_SCHED_COSINE : RT_SCHED_CONSTANT;
  s.hp.decay = 0.05;
  s.hp.data_order = 31337; /* shared: the members see the same batches */
  return s;
}

/* The launches one batch of pass `pass` takes for the group specs[0..m), by construction
 * (cuda/group.cu): 6 for logistic and linear with an intercept; k-means 3 (norms, product,
 * assignment) + 1 (loss) + 1 when some member is in a mini-batch pass + 2 when some member is in a
 * Lloyd pass. */
static uint64_t launches_per_batch(const rt_model_spec *const *specs, size_t m, uint64_t pass) {
  if (is_mlp(specs[0])) { /* L weight layers: 6L, and L more with L2 */
    const uint64_t layers = (uint64_t)specs[0]->hp.hidden_count + 1;
    int l2 = 0;
    for (size_t i = 0; i < m; ++i) l2 |= specs[i]->hp.l2 > 0.0;
    return 6 * layers + (l2 ? layers : 0);
  }
  if (!is_kmeans(specs[0])) return 6;
  int minibatch = 0, lloyd = 0;
  for (size_t i = 0; i < m; ++i) {
    if (rt_kmeans_lloyd_pass(specs[i], pass)) lloyd = 1;
    else minibatch = 1;
  }
  return 4 + (uint64_t)minibatch + 2 * (uint64_t)lloyd;
}

/* Trains members[0..m) of specs through PASSES passes of every shard in the group context g
 * (the engine's visit bookkeeping between visits); states[] are updated. *launches gets the
 * launches of the whole run, *batches its batches, *expected the launches launches_per_batch
 * predicts. */
static void train_group(problem *p, rt_cuda_group *g, const rt_model_spec *const *specs,
                        void **states, size_t m, uint64_t *launches, uint64_t *batches,
                        uint64_t *expected) {
  rt_status st;
  rt_status_clear(&st);
  *launches = 0;
  *batches = 0;
  *expected = 0;
  for (uint64_t pass = 0; pass < PASSES; ++pass)
    for (uint64_t pos = 0; pos < p->shards; ++pos) {
      const uint64_t shard = pos; /* the tests' succession: shard = position */
      const uint64_t before = rt_cuda_launch_count();
      if (rt_cuda_group_integrate(g, specs, states, m, p->dev[shard], shard, &st) != RT_OK)
        fail_msg("rt_cuda_group_integrate (%zu members): %s", m, st.message);
      *launches += rt_cuda_launch_count() - before;
      const uint64_t nb = (p->rows[shard] + p->batch - 1) / p->batch;
      *batches += nb;
      *expected += nb * launches_per_batch(specs, m, pass);
      for (size_t i = 0; i < m; ++i) gt_cpu_finish_visit(specs[i], states[i]);
    }
}

/* The same passes for one model on a slot of its own (rt_cuda_integrate_shard: the solo path,
 * family_<kind>.cu); *state is updated. */
static void train_slot(problem *p, const rt_model_spec *spec, void *state, size_t bytes) {
  rt_status st;
  rt_status_clear(&st);
  rt_cuda_slot *slot = gt_slot_new(spec, bytes, p->batch, p->features, p->classes + 1);
  for (uint64_t pass = 0; pass < PASSES; ++pass)
    for (uint64_t pos = 0; pos < p->shards; ++pos) {
      gt_upload(slot, state, bytes);
      if (rt_cuda_integrate_shard(slot, spec, p->dev[pos], pos, &st) != RT_OK)
        fail_msg("rt_cuda_integrate_shard: %s", st.message);
      void *out = gt_download(slot, bytes);
      memcpy(state, out, bytes);
      free(out);
      gt_cpu_finish_visit(spec, state);
    }
  rt_cuda_slot_free(slot);
}

static rt_cuda_group *new_group(const rt_model_spec *const *specs, size_t m, const problem *p) {
  rt_status st;
  rt_status_clear(&st);
  size_t most = 1;
  for (size_t s = 0; s < p->shards; ++s)
    if ((p->rows[s] + p->batch - 1) / p->batch > most)
      most = (p->rows[s] + p->batch - 1) / p->batch;
  rt_cuda_group *g = NULL;
  if (rt_cuda_group_create(specs, m, most, &g, &st) != RT_OK)
    fail_msg("rt_cuda_group_create: %s", st.message);
  rt_cuda_group_use_graphs(g, 0); /* launch by launch, whatever RINGTRAIN_CUDA_GRAPHS says */
  return g;
}

static void *copy_state(const void *state, size_t bytes) {
  void *c = aligned_alloc(RT_STATE_ALIGN, bytes);
  assert_non_null(c);
  memcpy(c, state, bytes);
  return c;
}

static void group_invariants(problem *p, const char *kind) {
  rt_model_spec specs[MEMBERS];
  const rt_model_spec *sp[MEMBERS];
  void *fused[MEMBERS], *fresh[MEMBERS];
  size_t bytes[MEMBERS];
  for (int i = 0; i < MEMBERS; ++i) {
    specs[i] = member(p, kind, i);
    sp[i] = &specs[i];
    /* k-means: k-means++ on the first shard, each member with its own draws */
    fresh[i] = gt_fresh_state(&specs[i], is_kmeans(&specs[i]) ? &p->host[0] : NULL, &bytes[i]);
    fused[i] = copy_state(fresh[i], bytes[i]);
  }
  assert_true(rt_cuda_group_fusable(&specs[0]));
  assert_true(rt_cuda_group_uniform(sp, MEMBERS));
  rt_cuda_group *g = new_group(sp, MEMBERS, p);
  uint64_t launches = 0, batches = 0, expected = 0;
  train_group(p, g, sp, fused, MEMBERS, &launches, &batches, &expected);
  print_message("%s, %s: group of %d: %.2f launches per batch\n", kind, p->name, MEMBERS,
                (double)launches / (double)batches);
  assert_int_equal(launches, expected);

  /* A group of 3 from the same context: members 1, 4, 6. */
  const size_t pick[3] = {1, 4, 6};
  const rt_model_spec *sub[3];
  void *three[3];
  for (int k = 0; k < 3; ++k) {
    sub[k] = sp[pick[k]];
    three[k] = copy_state(fresh[pick[k]], bytes[pick[k]]);
  }
  train_group(p, g, sub, three, 3, &launches, &batches, &expected);
  assert_int_equal(launches, expected);
  rt_cuda_group_free(g);

  int broken = 0;
  for (int i = 0; i < MEMBERS; ++i) {
    /* Alone: a group of one, its own context. */
    void *alone = copy_state(fresh[i], bytes[i]);
    rt_cuda_group *g1 = new_group(&sp[i], 1, p);
    train_group(p, g1, &sp[i], &alone, 1, &launches, &batches, &expected);
    assert_int_equal(launches, expected);
    rt_cuda_group_free(g1);
    if (memcmp(alone, fused[i], bytes[i]) != 0) {
      print_error(
          "%s: member %d (%s) differs between a group of %d and alone: the batched "
          "products (cuda/gemm.cu) or a kernel depend on the group's size\n",
          p->name, i, gt_opt_label(&specs[i]), MEMBERS);
      broken++;
    }
    for (int k = 0; k < 3; ++k)
      if ((int)pick[k] == i && memcmp(alone, three[k], bytes[i]) != 0) {
        print_error("%s: member %d differs between a group of 3 and alone (as above)\n", p->name,
                    i);
        broken++;
      }
    if (is_kmeans(&specs[i]) || is_mlp(&specs[i])) {
      /* Its own slot, the solo kernels (the path tests/gpu/test_gpu_families.c holds against the
       * CPU): the same bytes. */
      void *solo = copy_state(fresh[i], bytes[i]);
      train_slot(p, &specs[i], solo, bytes[i]);
      if (memcmp(solo, alone, bytes[i]) != 0) {
        print_error("%s: %s member %d differs between its own slot and a group of one\n", p->name,
                    specs[i].hp.kind, i);
        broken++;
      }
      rt_state_free(solo);
      if (is_kmeans(&specs[i])) {
        rt_state_free(alone);
        continue;
      }
    }
    /* The CPU, visit by visit. */
    void *cpu = copy_state(fresh[i], bytes[i]);
    gt_cpu_run r = gt_cpu_run_new(&specs[i]);
    for (uint64_t pass = 0; pass < PASSES; ++pass)
      for (uint64_t pos = 0; pos < p->shards; ++pos) {
        gt_cpu_visit(&specs[i], cpu, &p->host[pos], pos, &r);
        gt_cpu_finish_visit(&specs[i], cpu);
      }
    char what[160];
    snprintf(what, sizeof what, "%s: member %d (%s) fused vs CPU", p->name, i,
             gt_opt_label(&specs[i]));
    assert_int_equal(gt_compare_states(&specs[i], cpu, fused[i], what), 0);
    gt_cpu_run_free(&r);
    rt_state_free(cpu);
    rt_state_free(alone);
  }
  assert_int_equal(broken, 0);
  for (int k = 0; k < 3; ++k) rt_state_free(three[k]);
  for (int i = 0; i < MEMBERS; ++i) {
    rt_state_free(fused[i]);
    rt_state_free(fresh[i]);
  }
}

static void test_tiny(void **unused) {
  (void)unused;
  group_invariants(&tiny, "logistic");
}

static void test_real(void **unused) {
  (void)unused;
  group_invariants(&real, "logistic");
}

static void test_linear_tiny(void **unused) {
  (void)unused;
  group_invariants(&tiny, "linear");
}

static void test_linear_real(void **unused) {
  (void)unused;
  group_invariants(&real, "linear");
}

/* CUDA Graphs (rt_cuda_group_use_graphs): the same bytes as launch by launch, one launch a visit
 * (the graph), over two passes so that later visits update the graph in place. */
static void graphs(problem *p, const char *kind) {
  rt_model_spec specs[MEMBERS];
  const rt_model_spec *sp[MEMBERS];
  void *plain[MEMBERS], *graphed[MEMBERS];
  size_t bytes[MEMBERS];
  for (int i = 0; i < MEMBERS; ++i) {
    specs[i] = member(p, kind, i);
    sp[i] = &specs[i];
    plain[i] = gt_fresh_state(&specs[i], is_kmeans(&specs[i]) ? &p->host[0] : NULL, &bytes[i]);
    graphed[i] = copy_state(plain[i], bytes[i]);
  }
  uint64_t launches = 0, batches = 0, expected = 0;
  rt_cuda_group *g = new_group(sp, MEMBERS, p);
  rt_cuda_group_use_graphs(g, 0);
  train_group(p, g, sp, plain, MEMBERS, &launches, &batches, &expected);
  rt_cuda_group_free(g);
  g = new_group(sp, MEMBERS, p);
  rt_cuda_group_use_graphs(g, 1);
  train_group(p, g, sp, graphed, MEMBERS, &launches, &batches, &expected);
  rt_cuda_group_free(g);
  print_message("%s, %s, CUDA Graphs: %llu launches for %llu visits\n", kind, p->name,
                (unsigned long long)launches, (unsigned long long)(PASSES * p->shards));
  assert_int_equal(launches, PASSES * p->shards);
  for (int i = 0; i < MEMBERS; ++i) {
    if (memcmp(plain[i], graphed[i], bytes[i]) != 0)
      fail_msg("%s, %s: member %d differs with CUDA Graphs", kind, p->name, i);
    rt_state_free(plain[i]);
    rt_state_free(graphed[i]);
  }
}

static void test_graphs(void **unused) {
  (void)unused;
  graphs(&tiny, "logistic");
  graphs(&real, "logistic");
  graphs(&tiny, "linear");
  graphs(&tiny, "kmeans-lloyd");
  graphs(&tiny, "mlp2");
}

static void test_kmeans_tiny(void **unused) {
  (void)unused;
  group_invariants(&tiny, "kmeans");
  group_invariants(&tiny, "kmeans-lloyd");
}

static void test_kmeans_real(void **unused) {
  (void)unused;
  group_invariants(&real, "kmeans");
  group_invariants(&real, "kmeans-lloyd");
}

static void test_mlp_tiny(void **unused) {
  (void)unused;
  group_invariants(&tiny, "mlp");
  group_invariants(&tiny, "mlp2");
}

static void test_mlp_real(void **unused) {
  (void)unused;
  group_invariants(&real, "mlp");
  group_invariants(&real, "mlp2");
}

static void test_tall(void **unused) {
  (void)unused;
  group_invariants(&tall, "logistic");
  group_invariants(&tall, "mlp");
}

static int setup(void **unused) {
  (void)unused;
  return problem_up(&tiny) || problem_up(&real) || problem_up(&tall) ? -1 : 0;
}

static int teardown(void **unused) {
  (void)unused;
  problem_down(&tiny);
  problem_down(&real);
  problem_down(&tall);
  return 0;
}

int main(void) {
  const int start = gpu_test_start();
  if (start != 0) return start;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tiny),        cmocka_unit_test(test_real),
      cmocka_unit_test(test_linear_tiny), cmocka_unit_test(test_linear_real),
      cmocka_unit_test(test_kmeans_tiny), cmocka_unit_test(test_kmeans_real),
      cmocka_unit_test(test_mlp_tiny),    cmocka_unit_test(test_mlp_real),
      cmocka_unit_test(test_graphs),      cmocka_unit_test(test_tall),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
