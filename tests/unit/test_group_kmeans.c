/* k-means fused groups (family_kmeans.c: group_floats, group_gather, group_batch, group_scatter):
 * every member of a group of m = 1, 2, 3, 7, 16 ends with exactly the bytes (whole state buffer)
 * it gets alone, with members that differ in k, init_sample, init_trials, lloyd_passes (members
 * in a Lloyd pass next to members in a mini-batch pass), the optimizer keys k-means ignores, a
 * member that diverges (a NaN centre) and partial last batches; directly through the four
 * operations, and through the CPU backend's driver rt_cpu_integrate_group_visit with a stop that
 * cuts the visit. A group of one equals integrate_batch (the shared solo code). The distance
 * product's column independence under OpenBLAS is checked on its own, so that a BLAS that breaks
 * it is named as the cause. RT_BENCH_GROUP_KMEANS=1 adds a timing (printed, never asserted): one
 * fused batch of 16 models (k 10, 784 features, batch 1024) against 16 solo batches. */
#include <cblas.h>
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

#include "backend.h"
#include "family_kmeans.h"
#include "fused_gemm.h"
#include "model.h"
#include "rng.h"
#include "test_util.h"

extern const rt_family rt_family_kmeans;

static const rt_family *family(void) {
  const rt_family *fam = rt_family_find("kmeans");
  assert_true(fam == &rt_family_kmeans);
  assert_non_null(fam->group_floats);
  return fam;
}

/* Member i's hyper-parameters: everything a group may mix (k, init, Lloyd passes, and the
 * gradient keys that k-means ignores); algorithm is the group's. */
static rt_model_spec member_spec(size_t i, size_t d, long batch, uint64_t passes,
                                 rt_kmeans_algorithm algorithm) {
  static const long ks[] = {3, 10, 1, 7, 4, 12, 5, 2, 9, 6, 11, 8, 3, 10, 13, 2};
  rt_model_spec s = tu_spec("kmeans", d, 0);
  s.id = i;
  s.seed = 4242;
  s.label_column = -1;
  s.hp.k = ks[i % (sizeof ks / sizeof *ks)];
  s.hp.batch_size = batch;
  s.hp.init_sample = (long)(20 + 37 * (i % 5));
  s.hp.init_trials = (long)(i % 3); /* 0: auto */
  s.hp.algorithm = algorithm;
  s.hp.lloyd_passes = algorithm == RT_KMEANS_MINIBATCH ? (long)(i % (passes + 1)) : 0;
  s.hp.learning_rate = 0.001 * (double)(i + 1);
  s.hp.l2 = 0.01 * (double)(i % 4);
  s.hp.optimizer = i % 2 ? RT_OPT_ADAM : RT_OPT_SGD;
  s.passes = passes;
  s.total_batches = 1;
  return s;
}

/* Blobs: row r near one of 6 random centres (noise 0.3). */
static float *make_data(size_t rows, size_t d, uint64_t key) {
  float *x = aligned_alloc(64, ((rows * d * sizeof(float)) + 63) / 64 * 64);
  assert_non_null(x);
  for (size_t r = 0; r < rows; ++r) {
    const size_t c = (size_t)(rt_rng_uniform(key, r) * 6.0);
    for (size_t f = 0; f < d; ++f)
      x[r * d + f] = (float)(4.0 * rt_rng_uniform(rt_key_push(key, 1), c * d + f) - 2.0 +
                             0.6 * rt_rng_uniform(rt_key_push(key, 2), r * d + f) - 0.3);
  }
  return x;
}

typedef struct group_case {
  size_t m, d, rows;
  long batch;
  uint64_t passes;
  rt_kmeans_algorithm algorithm;
  size_t diverging; /* member whose first centre gets a NaN (>= m: none) */
} group_case;

/* Fresh states of the case's members, initialised from the shard by k-means++ (each with its own
 * key); every header gets the same rng_key, the batch order a group shares. */
static void make_states(const group_case *c, const rt_model_spec *specs, const rt_shard *shard,
                        void **states, size_t *bytes) {
  const rt_family *fam = family();
  for (size_t i = 0; i < c->m; ++i) {
    rt_status st;
    memset(&st, 0, sizeof st);
    assert_int_equal(rt_state_create(&specs[i], &states[i], &bytes[i], &st), RT_OK);
    const rt_state_layout l = rt_state_layout_of(&specs[i]);
    float *params = rt_state_params(states[i], &l);
    fam->init_from_data(&specs[i], rt_key_push(99, i), params, rt_state_aux(states[i], &l), shard,
                        NULL);
    if (i == c->diverging) params[0] = NAN;
    rt_state_head(states[i])->rng_key = 777;
  }
}

/* Aligned-to-a-float-only group buffer of floats (the layout must not rely on more). */
static float *group_buffer(const rt_model_spec *const *sp, size_t m, size_t rows, float **base) {
  const size_t n = family()->group_floats(sp, m, rows);
  *base = malloc((n + 1) * sizeof(float));
  assert_non_null(*base);
  for (size_t j = 0; j <= n; ++j) (*base)[j] = -12345.0f; /* garbage the layout must overwrite */
  return *base + 1;
}

/* Closes a pass for the members the way the engine does (pass_end unless diverged, pass + 1). */
static void close_pass(const rt_model_spec *const *sp, void *const *states, size_t m,
                       uint64_t pass) {
  for (size_t i = 0; i < m; ++i) {
    rt_state_header *h = rt_state_head(states[i]);
    const rt_state_layout l = rt_state_layout_of(sp[i]);
    if (!h->diverged)
      family()->pass_end(sp[i], pass, rt_state_params(states[i], &l), rt_state_aux(states[i], &l));
    h->pass += 1;
  }
}

/* The passes over the shard through the four group operations directly, members sp[0..m):
 * batches in a fixed permuted order, gathered once per pass and scattered at its end (and once
 * in the middle of pass 0, as at a stop), active from the headers, divergence marked as the
 * backend does. */
static void run_direct(const rt_model_spec *const *sp, void *const *states, size_t m,
                       const rt_shard *shard, uint64_t passes, double *losses) {
  const rt_family *fam = family();
  const size_t batch = (size_t)sp[0]->hp.batch_size, d = shard->features;
  const size_t nb = (shard->rows + batch - 1) / batch;
  float *base;
  float *g = group_buffer(sp, m, batch, &base);
  uint64_t *order = malloc(nb * sizeof *order), *steps = calloc(m, sizeof *steps);
  unsigned char *active = malloc(m);
  double *loss = malloc(m * sizeof *loss);
  assert_true(order && steps && active && loss);
  for (uint64_t p = 0; p < passes; ++p) {
    rt_rng_permutation(rt_key_push(5, p), order, nb);
    fam->group_gather(sp, m, states, g);
    for (size_t b = 0; b < nb; ++b) {
      if (p == 0 && b == nb / 2) { /* a cut: scatter and gather again */
        fam->group_scatter(sp, m, g, states);
        fam->group_gather(sp, m, states, g);
      }
      const size_t first = (size_t)order[b] * batch;
      const size_t rows = first + batch <= shard->rows ? batch : shard->rows - first;
      for (size_t i = 0; i < m; ++i) {
        active[i] = !rt_state_head(states[i])->diverged;
        loss[i] = 0.0;
      }
      fam->group_batch(sp, m, g, shard->x + first * d, NULL, rows, steps, active, loss);
      for (size_t i = 0; i < m; ++i) {
        if (active[i] && !isfinite(loss[i])) rt_state_head(states[i])->diverged = 1;
        losses[i * passes * nb + p * nb + b] = active[i] ? loss[i] : 0.0;
        steps[i] += 1;
      }
    }
    fam->group_scatter(sp, m, g, states);
    close_pass(sp, states, m, p);
  }
  free(base), free(order), free(steps), free(active), free(loss);
}

/* The same passes for ONE model through integrate_batch (what the unit tests of test_kmeans.c
 * exercise): the solo path a group of one must equal. */
static void run_integrate(const rt_model_spec *spec, void *state, const rt_shard *shard,
                          uint64_t passes, double *losses) {
  const rt_family *fam = family();
  const size_t batch = (size_t)spec->hp.batch_size, d = shard->features;
  const size_t nb = (shard->rows + batch - 1) / batch;
  float *ws = malloc((fam->workspace_floats(spec, batch) + 1) * sizeof *ws);
  uint64_t *order = malloc(nb * sizeof *order);
  assert_true(ws && order);
  const rt_state_layout l = rt_state_layout_of(spec);
  rt_state_header *h = rt_state_head(state);
  const rt_model_spec *sp[1] = {spec};
  void *states[1] = {state};
  for (uint64_t p = 0; p < passes; ++p) {
    rt_rng_permutation(rt_key_push(5, p), order, nb);
    for (size_t b = 0; b < nb; ++b) {
      const size_t first = (size_t)order[b] * batch;
      const size_t rows = first + batch <= shard->rows ? batch : shard->rows - first;
      losses[p * nb + b] = 0.0;
      if (h->diverged) continue;
      double loss = 0.0;
      fam->integrate_batch(spec, rt_state_params(state, &l), rt_state_aux(state, &l),
                           shard->x + first * d, NULL, rows, b, &loss, ws + 1);
      losses[p * nb + b] = loss;
      if (!isfinite(loss)) h->diverged = 1;
    }
    close_pass(sp, states, 1, p);
  }
  free(ws), free(order);
}

static void assert_same_state(const void *a, const void *b, size_t bytes, size_t member, size_t m) {
  if (memcmp(a, b, bytes) != 0) {
    print_error("member %zu of a group of %zu differs from its solo state\n", member, m);
    fail();
  }
}

/* Group of m against each member alone (both through the group operations) and against
 * integrate_batch; the members must have trained (changed) and the diverging one diverged. */
static void check_case(const group_case *c) {
  const size_t m = c->m;
  rt_model_spec *specs = calloc(m, sizeof *specs);
  const rt_model_spec **sp = calloc(m, sizeof *sp);
  void **grp = calloc(m, sizeof *grp), **solo = calloc(m, sizeof *solo),
       **integ = calloc(m, sizeof *integ), **fresh = calloc(m, sizeof *fresh);
  size_t *bytes = calloc(m, sizeof *bytes);
  assert_true(specs && sp && grp && solo && integ && fresh && bytes);
  for (size_t i = 0; i < m; ++i) {
    specs[i] = member_spec(i, c->d, c->batch, c->passes, c->algorithm);
    sp[i] = &specs[i];
  }
  float *x = make_data(c->rows, c->d, 31 + m);
  const rt_shard shard = {.rows = c->rows, .features = c->d, .x = x};
  make_states(c, specs, &shard, grp, bytes);
  make_states(c, specs, &shard, solo, bytes);
  make_states(c, specs, &shard, integ, bytes);
  make_states(c, specs, &shard, fresh, bytes);
  /* every batch's loss of every member: group, alone, integrate_batch */
  const size_t nl = c->passes * ((c->rows + (size_t)c->batch - 1) / (size_t)c->batch);
  double *lg = calloc(m * nl, sizeof *lg), *ls = calloc(m * nl, sizeof *ls),
         *li = calloc(m * nl, sizeof *li);
  assert_true(lg && ls && li);
  run_direct(sp, grp, m, &shard, c->passes, lg);
  for (size_t i = 0; i < m; ++i) {
    run_direct(&sp[i], &solo[i], 1, &shard, c->passes, ls + i * nl);
    run_integrate(sp[i], integ[i], &shard, c->passes, li + i * nl);
  }
  for (size_t i = 0; i < m; ++i) {
    if (memcmp(lg + i * nl, ls + i * nl, nl * sizeof *lg) != 0) {
      print_error("member %zu (k %ld) of a group of %zu: batch losses differ from its solo ones\n",
                  i, specs[i].hp.k, m);
      fail();
    }
    assert_memory_equal(ls + i * nl, li + i * nl, nl * sizeof *ls);
    assert_same_state(grp[i], solo[i], bytes[i], i, m);
    assert_same_state(solo[i], integ[i], bytes[i], i, 1);
    const rt_state_layout l = rt_state_layout_of(sp[i]);
    assert_int_equal(rt_state_head(grp[i])->diverged, i == c->diverging);
    if (i != c->diverging)
      assert_true(memcmp(rt_state_params(grp[i], &l), rt_state_params(fresh[i], &l),
                         l.param_count * sizeof(float)) != 0 ||
                  specs[i].hp.k == 1);
    rt_state_free(grp[i]), rt_state_free(solo[i]), rt_state_free(integ[i]);
    rt_state_free(fresh[i]);
  }
  free(x), free(specs), free(sp), free(grp), free(solo), free(integ), free(fresh), free(bytes);
  free(lg), free(ls), free(li);
}

/* m = 1, 2, 3, 7 with 787 features (not a multiple of the norms' 8 lanes), 3 passes (members with
 * 0..3 Lloyd passes), batch 128 over 300 rows (a partial last batch of 44): members with k >= 10
 * are fused in the full batches, the others and the partial batch take their own sgemm; and with
 * 37 features, batch 16 over 117 rows (partial 5), where no member is fused. */
static void groups_equal_solo(void **state) {
  (void)state;
  const size_t ms[] = {1, 2, 3, 7};
  for (size_t j = 0; j < sizeof ms / sizeof *ms; ++j) {
    const group_case c = {ms[j], 787, 300, 128, 3, RT_KMEANS_MINIBATCH, ms[j] > 1 ? 1 : 9};
    check_case(&c);
    const group_case small = {ms[j], 37, 117, 16, 3, RT_KMEANS_MINIBATCH, ms[j] > 2 ? 2 : 9};
    check_case(&small);
  }
  const group_case solo_diverging = {1, 37, 117, 16, 3, RT_KMEANS_MINIBATCH, 0};
  check_case(&solo_diverging);
}

/* algorithm lloyd for every member (groups never mix algorithms), first member diverging. */
static void lloyd_groups_equal_solo(void **state) {
  (void)state;
  const group_case c = {7, 787, 300, 128, 3, RT_KMEANS_LLOYD, 0};
  check_case(&c);
}

/* 16 members on the benchmark's features (784), batch 256 over 700 rows (partial batch 188). */
static void large_group_equals_solo(void **state) {
  (void)state;
  const group_case c = {16, 784, 700, 256, 2, RT_KMEANS_MINIBATCH, 11};
  check_case(&c);
}

/* ---- through the backend's driver, with a stop that cuts a visit ----------------------------- */

typedef struct stop_after {
  int calls, at; /* stops once, when calls reaches at */
} stop_after;

static int stop_once(void *user) {
  stop_after *s = user;
  return s->calls++ == s->at;
}

/* Passes over the shard by rt_cpu_integrate_group_visit for the members sp[0..m); the first
 * visit is stopped after `cut` batches and continued. */
static void run_driver(const rt_model_spec *const *sp, void *const *states, size_t m,
                       const rt_shard *shard, uint64_t passes, int cut) {
  rt_cpu_scratch scratch;
  memset(&scratch, 0, sizeof scratch);
  rt_status st;
  memset(&st, 0, sizeof st);
  for (uint64_t p = 0; p < passes; ++p) {
    int complete = 0;
    stop_after stop = {0, p == 0 ? cut : -1};
    assert_int_equal(rt_cpu_integrate_group_visit(sp, family(), states, m, shard, 0, &scratch,
                                                  stop_once, &stop, &complete, &st),
                     RT_OK);
    if (!complete) {
      assert_int_equal(rt_state_head(states[0])->batch_cursor, (uint64_t)cut);
      assert_int_equal(rt_cpu_integrate_group_visit(sp, family(), states, m, shard, 0, &scratch,
                                                    NULL, NULL, &complete, &st),
                       RT_OK);
    }
    assert_true(complete);
    close_pass(sp, states, m, p);
  }
  rt_cpu_scratch_free(&scratch);
}

static void driver_groups_equal_solo(void **state) {
  (void)state;
  const size_t ms[] = {2, 3, 7};
  for (size_t j = 0; j < sizeof ms / sizeof *ms; ++j) {
    const group_case c = {ms[j], 784, 150, 128, 3, RT_KMEANS_MINIBATCH, 1};
    const size_t m = c.m;
    rt_model_spec specs[7];
    const rt_model_spec *sp[7];
    void *grp[7], *solo[7];
    size_t bytes[7];
    for (size_t i = 0; i < m; ++i) {
      specs[i] = member_spec(i + 1, c.d, c.batch, c.passes, c.algorithm); /* k 10 fused */
      specs[i].id = i;
      sp[i] = &specs[i];
    }
    float *x = make_data(c.rows, c.d, 8);
    const rt_shard shard = {.rows = c.rows, .features = c.d, .x = x};
    make_states(&c, specs, &shard, grp, bytes);
    make_states(&c, specs, &shard, solo, bytes);
    run_driver(sp, grp, m, &shard, c.passes, 1);
    for (size_t i = 0; i < m; ++i) run_driver(&sp[i], &solo[i], 1, &shard, c.passes, 0);
    for (size_t i = 0; i < m; ++i) {
      assert_int_equal(rt_state_head(grp[i])->diverged, i == c.diverging);
      assert_int_equal(rt_state_head(grp[i])->samples, c.passes * c.rows);
      assert_same_state(grp[i], solo[i], bytes[i], i, m);
      rt_state_free(grp[i]), rt_state_free(solo[i]);
    }
    free(x);
  }
}

/* ---- the BLAS property the fusion rests on ---------------------------------------------------- */

/* One sgemm X C_cat^T against one per member: the columns of every member that the rule of
 * fused_gemm.h fuses (its own product above the small-matrix bound) must be bit-identical. If this
 * fails, this build's BLAS computes an output column differently depending on the others (or
 * takes another path above the bound): the rule, not this test, must change. Members below the
 * bound are not compared: there OpenBLAS 0.3.21's small-matrix kernels do differ. Skipped, and
 * said, on a BLAS the rule does not fuse on (rt_gemm_fusion_established). */
static void distance_product_columns_independent(void **state) {
  (void)state;
  if (!rt_gemm_fusion_established()) {
    print_message(
        "OpenBLAS core %s is not one products are fused on (fused_gemm.h): column "
        "independence is not asserted on this BLAS\n",
        rt_gemm_blas_core());
    skip();
  }
  const size_t rows_v[] = {2, 7, 128, 300, 1024}, d_v[] = {9, 37, 784}, m_v[] = {16, 5};
  size_t compared = 0;
  for (size_t a = 0; a < sizeof rows_v / sizeof *rows_v; ++a)
    for (size_t b = 0; b < sizeof d_v / sizeof *d_v; ++b)
      for (size_t e = 0; e < sizeof m_v / sizeof *m_v; ++e) {
        const size_t rows = rows_v[a], d = d_v[b], m = m_v[e];
        size_t K = 0, koff[16], kk[16];
        for (size_t i = 0; i < m; ++i) {
          koff[i] = K;
          kk[i] = (size_t)member_spec(i + e, d, 1, 1, RT_KMEANS_MINIBATCH).hp.k * (b + 1);
          K += kk[i];
        }
        float *x = make_data(rows, d, 3 + a), *c = make_data(K, d, 4 + b);
        float *fused = malloc(rows * K * sizeof *fused), *alone = malloc(rows * K * sizeof *alone);
        assert_true(fused && alone);
        rt_gemm_rowmajor(0, 1, rows, K, d, x, d, c, d, fused, K);
        for (size_t i = 0; i < m; ++i) {
          const size_t k = kk[i];
          if (!rt_gemm_fusable(rows, k, d)) continue;
          rt_gemm_rowmajor(0, 1, rows, k, d, x, d, c + koff[i] * d, d, alone, k);
          ++compared;
          for (size_t r = 0; r < rows; ++r)
            if (memcmp(fused + r * K + koff[i], alone + r * k, k * sizeof *alone) != 0) {
              print_error(
                  "the BLAS broke column independence above the fused_gemm.h bound: "
                  "%zu x %zu x %zu, member %zu (k %zu at column %zu), row %zu\n",
                  rows, K, d, i, k, koff[i], r);
              fail();
            }
        }
        free(x), free(c), free(fused), free(alone);
      }
  assert_true(compared >= 50);
}

/* ---- benchmark (RT_BENCH_GROUP_KMEANS=1; printed, never asserted) ------------------------------ */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void bench_fused_batch(void **state) {
  (void)state;
  const char *on = getenv("RT_BENCH_GROUP_KMEANS");
  if (!on || strcmp(on, "1") != 0) {
    skip();
    return;
  }
  enum { M = 16, D = 784, B = 1024, REPS = 20 };
  const rt_family *fam = family();
  rt_model_spec specs[M];
  const rt_model_spec *sp[M];
  void *states[M];
  size_t bytes[M];
  for (size_t i = 0; i < M; ++i) {
    specs[i] = member_spec(i, D, B, 10, RT_KMEANS_MINIBATCH);
    specs[i].hp.k = 10;
    specs[i].hp.lloyd_passes = 0;
    sp[i] = &specs[i];
  }
  const group_case c = {M, D, 8 * B, B, 10, RT_KMEANS_MINIBATCH, M};
  float *x = make_data(c.rows, D, 1);
  const rt_shard shard = {.rows = c.rows, .features = D, .x = x};
  make_states(&c, specs, &shard, states, bytes);
  uint64_t steps[M] = {0};
  unsigned char active[M];
  double loss[M];
  memset(active, 1, sizeof active);
  float *base, *solo_base[M], *solo_g[M];
  float *g = group_buffer(sp, M, B, &base);
  fam->group_gather(sp, M, states, g);
  for (size_t i = 0; i < M; ++i) {
    solo_g[i] = group_buffer(&sp[i], 1, B, &solo_base[i]);
    fam->group_gather(&sp[i], 1, &states[i], solo_g[i]);
  }
  double best_fused = 1e30, best_solo = 1e30;
  for (int rep = 0; rep < REPS; ++rep) {
    const float *xb = x + (size_t)(rep % 8) * B * D;
    double t0 = now_s();
    fam->group_batch(sp, M, g, xb, NULL, B, steps, active, loss);
    double t1 = now_s();
    for (size_t i = 0; i < M; ++i)
      fam->group_batch(&sp[i], 1, solo_g[i], xb, NULL, B, steps, active, loss);
    double t2 = now_s();
    if (t1 - t0 < best_fused) best_fused = t1 - t0;
    if (t2 - t1 < best_solo) best_solo = t2 - t1;
  }
  /* the distance product alone: one sgemm against 16 */
  float *prod = malloc((size_t)B * M * 10 * sizeof *prod);
  assert_non_null(prod);
  double gemm_fused = 1e30, gemm_solo = 1e30;
  for (int rep = 0; rep < REPS; ++rep) {
    double t0 = now_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, M * 10, D, 1.0f, x, D, g, D, 0.0f, prod,
                M * 10);
    double t1 = now_s();
    for (size_t i = 0; i < M; ++i)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, 10, D, 1.0f, x, D, g + i * 10 * D, D,
                  0.0f, prod + i * B * 10, 10);
    double t2 = now_s();
    if (t1 - t0 < gemm_fused) gemm_fused = t1 - t0;
    if (t2 - t1 < gemm_solo) gemm_solo = t2 - t1;
  }
  printf("bench k-means group: %d models k 10, %d features, batch %d (best of %d)\n", M, D, B,
         REPS);
  printf("  batch: fused %.3f ms, %d solo %.3f ms, ratio %.2fx\n", 1e3 * best_fused, M,
         1e3 * best_solo, best_solo / best_fused);
  printf("  distance sgemm alone: fused %.3f ms, %d solo %.3f ms, ratio %.2fx\n", 1e3 * gemm_fused,
         M, 1e3 * gemm_solo, gemm_solo / gemm_fused);
  free(prod), free(base), free(x);
  for (size_t i = 0; i < M; ++i) free(solo_base[i]), rt_state_free(states[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(distance_product_columns_independent),
      cmocka_unit_test(groups_equal_solo),
      cmocka_unit_test(lloyd_groups_equal_solo),
      cmocka_unit_test(large_group_equals_solo),
      cmocka_unit_test(driver_groups_equal_solo),
      cmocka_unit_test(bench_fused_batch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
