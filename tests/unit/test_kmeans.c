/* k-means: blob recovery, sgemm distances against a naive double computation, k-means++
 * initialisation (deterministic, sample only; greedy trials lower the potential), dead-centre
 * re-seeding, Lloyd passes (exact per-centre sums, the pass end, the accumulators reset, the
 * Lloyd fixed point of a reference written here, empty centres), prediction and evaluation on
 * known centres, hyper-parameter checks, the spec text. Labels are NULL throughout. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "family_kmeans.h"
#include "model.h"
#include "rng.h"
#include "test_util.h"

/* A direct reference links the family in (the registry's reference is weak). */
extern const rt_family rt_family_kmeans;

static const rt_family *family(void) {
  const rt_family *fam = rt_family_find("kmeans");
  assert_true(fam == &rt_family_kmeans);
  return fam;
}

static rt_model_spec make_spec(size_t d, long k, long batch, long init_sample) {
  rt_model_spec s = tu_spec("kmeans", d, 0);
  s.hp.k = k;
  s.hp.batch_size = batch;
  s.hp.init_sample = init_sample;
  s.label_column = -1;
  return s;
}

/* Parameters, aux and workspace of one model, as the engine lays them out: params and aux
 * 64-byte aligned; the workspace deliberately only float-aligned (one float past an aligned
 * start) and exactly workspace_floats(rows) long, so overruns show under the sanitizers. */
typedef struct model_buf {
  float *params, *aux, *ws_base, *ws;
} model_buf;

static void *alloc64(size_t floats) {
  void *p = aligned_alloc(64, (floats * sizeof(float) + 63) / 64 * 64);
  assert_non_null(p);
  memset(p, 0, floats * sizeof(float));
  return p;
}

static model_buf model_alloc(const rt_model_spec *s, size_t ws_rows) {
  const rt_family *fam = family();
  model_buf m;
  m.params = alloc64(fam->param_count(s));
  m.aux = alloc64(fam->aux_floats(s));
  m.ws_base = malloc((fam->workspace_floats(s, ws_rows) + 1) * sizeof(float));
  assert_non_null(m.ws_base);
  m.ws = m.ws_base + 1;
  return m;
}

static void model_free(model_buf *m) { free(m->params), free(m->aux), free(m->ws_base); }

static double naive_sq(const float *a, const float *b, size_t d) {
  double s = 0.0;
  for (size_t f = 0; f < d; ++f) s += ((double)a[f] - b[f]) * ((double)a[f] - b[f]);
  return s;
}

/* Nearest centre by the naive double computation (first minimum). */
static size_t naive_nearest(const float *x, const float *c, size_t k, size_t d, double *dist) {
  size_t best = 0;
  double bd = naive_sq(x, c, d);
  for (size_t j = 1; j < k; ++j) {
    const double t = naive_sq(x, c + j * d, d);
    if (t < bd) bd = t, best = j;
  }
  if (dist) *dist = bd;
  return best;
}

static double gaussian(uint64_t key, uint64_t i) {
  const double u1 = 1.0 - rt_rng_uniform(key, 2 * i), u2 = rt_rng_uniform(key, 2 * i + 1);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

/* One pass over a shard the way the CPU backend does it: batches in a permuted order; returns
 * the summed loss. */
static double run_pass(const rt_model_spec *s, model_buf *m, const float *x, size_t rows,
                       uint64_t pass, uint64_t *step) {
  const rt_family *fam = family();
  const size_t d = s->problem.features, batch = (size_t)s->hp.batch_size;
  const size_t nb = (rows + batch - 1) / batch;
  uint64_t *order = malloc(nb * sizeof *order);
  assert_non_null(order);
  rt_rng_permutation(rt_key_push(77, pass), order, nb);
  double total = 0.0;
  for (size_t b = 0; b < nb; ++b) {
    const size_t first = (size_t)order[b] * batch;
    const size_t n = first + batch <= rows ? batch : rows - first;
    double loss = -1.0;
    fam->integrate_batch(s, m->params, m->aux, x + first * d, NULL, n, (*step)++, &loss, m->ws);
    assert_true(isfinite(loss) && loss >= 0.0);
    total += loss;
  }
  free(order);
  return total;
}

/* 4 well-separated blobs in 5-D, 200 points each (noise 0.1), shuffled: every true centre is
 * recovered within 0.05 after k-means++ and a few passes. */
static void blobs_recovered(void **state) {
  (void)state;
  enum { D = 5, K = 4, PER = 200, N = K * PER };
  const rt_family *fam = family();
  rt_model_spec s = make_spec(D, K, 32, 10000);
  const uint64_t key = rt_key_push(2024, 1);
  const float truth[K * D] = {0, 0, 0, 0, 0, 3, 0, 0, 1, 0, 0, 3, -1, 0, 2, -2, 1, 3, 3, -1};
  for (size_t a = 0; a < K; ++a)
    for (size_t b = a + 1; b < K; ++b) assert_true(naive_sq(truth + a * D, truth + b * D, D) > 4.0);
  uint64_t perm[N];
  rt_rng_permutation(rt_key_push(key, 9), perm, N);
  float *x = malloc(N * D * sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < N; ++i) {
    const size_t c = (size_t)perm[i] / PER; /* shuffled: row i belongs to blob perm[i] / PER */
    for (size_t f = 0; f < D; ++f)
      x[i * D + f] = truth[c * D + f] + (float)(0.1 * gaussian(key, i * D + f));
  }
  rt_shard shard = {.rows = N, .features = D, .x = x, .y = NULL, .first_row = 0};
  model_buf m = model_alloc(&s, 32);
  fam->init_from_data(&s, rt_key_push(5, 5), m.params, m.aux, &shard, NULL);
  uint64_t step = 0;
  double first = 0.0, last = 0.0;
  for (uint64_t p = 0; p < 5; ++p) {
    const double loss = run_pass(&s, &m, x, N, p, &step);
    if (p == 0) first = loss;
    last = loss;
  }
  assert_true(last <= first);
  assert_true(last / N < 0.1); /* noise variance 5 * 0.01 per row */
  for (size_t c = 0; c < K; ++c) {
    double dist;
    naive_nearest(truth + c * D, m.params, K, D, &dist);
    if (sqrt(dist) > 0.05) fail_msg("true centre %zu recovered only within %g", c, sqrt(dist));
  }
  /* Counts cover every row of every pass (no re-seeding was needed), seen counts them too. */
  const double *counts = (const double *)m.aux;
  double total = 0.0;
  for (size_t c = 0; c < K; ++c) total += counts[c];
  assert_true(total == 5.0 * N);
  assert_true(counts[K] == 5.0 * N);
  model_free(&m);
  free(x);
}

/* The sgemm expansion agrees with a naive double computation: nearest centre, distance
 * (prediction), loss (integration) and inertia (evaluation). */
static void sgemm_distances_match_naive(void **state) {
  (void)state;
  enum { D = 13, K = 7, R = 37 };
  const rt_family *fam = family();
  rt_model_spec s = make_spec(D, K, R, 100);
  const uint64_t key = rt_key_push(31, 337);
  float x[R * D], out[R * 2];
  for (size_t i = 0; i < R * D; ++i) x[i] = 2.0f * rt_rng_uniform_f(key, i) - 1.0f;
  model_buf m = model_alloc(&s, R);
  for (size_t i = 0; i < K * D; ++i) m.params[i] = 1.5f * rt_rng_uniform_f(key, 10000 + i) - 0.75f;
  fam->predict(&s, m.params, x, R, out, m.ws);
  double naive_total = 0.0;
  for (size_t i = 0; i < R; ++i) {
    double dmin;
    naive_nearest(x + i * D, m.params, K, D, &dmin);
    naive_total += dmin;
    const size_t c = (size_t)out[2 * i];
    assert_true(c < K && (float)c == out[2 * i]);
    /* The chosen centre is a nearest one (up to rounding), and the distance matches. */
    assert_true(fabs(naive_sq(x + i * D, m.params + c * D, D) - dmin) <= 1e-4 * dmin);
    const double got = (double)out[2 * i + 1] * out[2 * i + 1];
    if (fabs(got - dmin) > 1e-4 * dmin) fail_msg("row %zu: %.9g vs naive %.9g", i, got, dmin);
  }
  double sums[RT_EVAL_SUMS] = {0};
  fam->eval_rows(&s, m.params, x, NULL, R, m.ws, sums);
  assert_true(fabs(sums[0] - naive_total) <= 1e-4 * naive_total);
  assert_true(sums[1] == R);
  double loss = -1.0;
  fam->integrate_batch(&s, m.params, m.aux, x, NULL, R, 0, &loss, m.ws);
  assert_true(fabs(loss - naive_total) <= 1e-4 * naive_total);
  assert_true(loss == sums[0]); /* same computation, same order */
  model_free(&m);
}

/* k-means++: the same key gives the same centres, another key others; the centres are rows of
 * the sample (the first init_sample indices of the RT_STREAM_SAMPLE permutation) and nothing
 * outside the sample matters. */
static void init_deterministic_and_sampled(void **state) {
  (void)state;
  enum { D = 3, K = 5, N = 500, M = 50 };
  const rt_family *fam = family();
  rt_model_spec s = make_spec(D, K, 16, M);
  float *x = malloc(N * D * sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < N * D; ++i) x[i] = 10.0f * rt_rng_uniform_f(99, i);
  rt_shard shard = {.rows = N, .features = D, .x = x};
  const uint64_t key = rt_key_push(7, 3);
  model_buf a = model_alloc(&s, 1), b = model_alloc(&s, 1), c = model_alloc(&s, 1);
  memset(a.aux, 0xff, fam->aux_floats(&s) * sizeof(float)); /* init resets the aux area */
  fam->init_from_data(&s, key, a.params, a.aux, &shard, NULL);
  fam->init_from_data(&s, key, b.params, b.aux, &shard, NULL);
  assert_memory_equal(a.params, b.params, K * D * sizeof(float));
  for (size_t i = 0; i < fam->aux_floats(&s); ++i) assert_true(a.aux[i] == 0.0f);
  fam->init_from_data(&s, rt_key_push(7, 4), c.params, c.aux, &shard, NULL);
  assert_memory_not_equal(a.params, c.params, K * D * sizeof(float));
  uint64_t perm[N];
  rt_rng_permutation(rt_key_push(key, RT_STREAM_SAMPLE), perm, N);
  int in_sample[N] = {0};
  for (size_t i = 0; i < M; ++i) in_sample[perm[i]] = 1;
  for (size_t j = 0; j < K; ++j) {
    int found = 0;
    for (size_t i = 0; i < M && !found; ++i)
      found = memcmp(a.params + j * D, x + perm[i] * D, D * sizeof(float)) == 0;
    assert_true(found);
    for (size_t l = 0; l < j; ++l) /* distinct data: distinct centres */
      assert_memory_not_equal(a.params + j * D, a.params + l * D, D * sizeof(float));
  }
  for (size_t i = 0; i < N; ++i)
    if (!in_sample[i])
      for (size_t f = 0; f < D; ++f) x[i * D + f] = 1e6f; /* would dominate D^2 if looked at */
  fam->init_from_data(&s, key, b.params, b.aux, &shard, NULL);
  assert_memory_equal(a.params, b.params, K * D * sizeof(float));
  model_free(&a), model_free(&b), model_free(&c);
  free(x);
}

/* Fewer distinct rows than k: every distinct row becomes a centre, the rest duplicate. */
static void init_with_few_distinct_rows(void **state) {
  (void)state;
  enum { D = 2, K = 5, N = 30 };
  const rt_family *fam = family();
  rt_model_spec s = make_spec(D, K, 8, 1000);
  float x[N * D];
  for (size_t i = 0; i < N; ++i) x[2 * i] = (float)(i % 3), x[2 * i + 1] = -(float)(i % 3);
  rt_shard shard = {.rows = N, .features = D, .x = x};
  model_buf m = model_alloc(&s, 1);
  fam->init_from_data(&s, 12345, m.params, m.aux, &shard, NULL);
  int seen[3] = {0};
  for (size_t j = 0; j < K; ++j) {
    const float v = m.params[2 * j];
    assert_true(v == 0.0f || v == 1.0f || v == 2.0f);
    assert_true(m.params[2 * j + 1] == -v);
    seen[(int)v] = 1;
  }
  assert_true(seen[0] && seen[1] && seen[2]);
  /* An empty first shard leaves the zeros for the dead-centre rule. */
  rt_shard empty = {.rows = 0, .features = D, .x = NULL};
  fam->init_from_data(&s, 12345, m.params, m.aux, &empty, NULL);
  for (size_t i = 0; i < K * D; ++i) assert_true(m.params[i] == 0.0f);
  model_free(&m);
}

/* Dead centres: far-away centres win no row; once the model has seen 10 k rows they are
 * re-seeded to the batch rows farthest from their centres (largest first, each row once), get
 * count 1 and then attract the points of the blob nobody covered. */
static void dead_centres_reseeded(void **state) {
  (void)state;
  enum { D = 2, K = 4, N = 300, B = 10 };
  const rt_family *fam = family();
  rt_model_spec s = make_spec(D, K, B, 100);
  const float blob[3][2] = {{0, 0}, {5, 5}, {10, 0}};
  float x[N * D];
  uint64_t perm[N];
  rt_rng_permutation(4242, perm, N);
  for (size_t i = 0; i < N; ++i)
    for (size_t f = 0; f < D; ++f)
      x[i * D + f] = blob[perm[i] % 3][f] + (float)(0.2 * gaussian(4343, i * D + f));
  model_buf m = model_alloc(&s, B);
  const float start[K * D] = {0, 0, 5, 5, 1000, 1000, -1000, 1000};
  memcpy(m.params, start, sizeof start);
  const double *counts = (const double *)m.aux;
  double loss;
  /* Three batches bring the model to 30 < 10 k = 40 rows: nothing is re-seeded yet. */
  for (size_t b = 0; b < 3; ++b)
    fam->integrate_batch(&s, m.params, m.aux, x + b * B * D, NULL, B, b, &loss, m.ws);
  assert_true(counts[K] == 30.0);
  assert_true(counts[2] == 0.0 && counts[3] == 0.0);
  assert_memory_equal(m.params + 2 * D, start + 2 * D, 2 * D * sizeof(float));
  /* Batch 4 reaches 40: the expected rows are those with the largest nearest distance before
   * the batch's update. */
  float before[K * D];
  memcpy(before, m.params, sizeof before);
  const float *xb = x + 3 * B * D;
  double far[B];
  for (size_t i = 0; i < B; ++i) naive_nearest(xb + i * D, before, K, D, &far[i]);
  size_t first = 0, second = 0;
  for (size_t i = 1; i < B; ++i)
    if (far[i] > far[first]) first = i;
  second = first == 0 ? 1 : 0;
  for (size_t i = 0; i < B; ++i)
    if (i != first && far[i] > far[second]) second = i;
  fam->integrate_batch(&s, m.params, m.aux, xb, NULL, B, 3, &loss, m.ws);
  assert_true(counts[2] == 1.0 && counts[3] == 1.0);
  assert_memory_equal(m.params + 2 * D, xb + first * D, D * sizeof(float));
  assert_memory_equal(m.params + 3 * D, xb + second * D, D * sizeof(float));
  /* The rest of the data, twice: the re-seeded centres take part (count grows). */
  uint64_t step = 4;
  for (size_t b = 4; b < N / B; ++b)
    fam->integrate_batch(&s, m.params, m.aux, x + b * B * D, NULL, B, step++, &loss, m.ws);
  run_pass(&s, &m, x, N, 1, &step);
  assert_true(counts[2] > 10.0 || counts[3] > 10.0);
  /* The third blob (10, 0), which at first fell to centre 1, has a centre of its own now. */
  double dist;
  naive_nearest(blob[2], m.params, K, D, &dist);
  assert_true(sqrt(dist) < 0.5);
  double total = 0.0;
  for (size_t c = 0; c < K; ++c) total += counts[c];
  assert_true(total == 2.0 * N + 2.0); /* every row once per pass, plus the two re-seeds */
  model_free(&m);
}

/* Known centres: exact clusters (first minimum on a tie), distances, inertia. */
static void predict_and_eval_known_centres(void **state) {
  (void)state;
  const rt_family *fam = family();
  rt_model_spec s = make_spec(2, 3, 4, 10);
  model_buf m = model_alloc(&s, 4);
  const float centres[6] = {0, 0, 3, 0, 0, 4};
  memcpy(m.params, centres, sizeof centres);
  const float x[8] = {0, 0, 3, 4, 1.5f, 0, 3, 1};
  float out[8];
  assert_int_equal(fam->output_width(&s), 2);
  char name[16];
  fam->output_name(&s, 0, name, sizeof name);
  assert_string_equal(name, "cluster");
  fam->output_name(&s, 1, name, sizeof name);
  assert_string_equal(name, "distance");
  fam->predict(&s, m.params, x, 4, out, m.ws);
  const float expect[8] = {0, 0, 2, 3, 0, 1.5f, 1, 1};
  for (size_t i = 0; i < 8; ++i)
    if (out[i] != expect[i])
      fail_msg("output %zu: %g, expected %g", i, (double)out[i], (double)expect[i]);
  double sums[RT_EVAL_SUMS] = {0}, values[RT_MAX_METRICS] = {0};
  fam->eval_rows(&s, m.params, x, NULL, 3, m.ws, sums); /* two chunks, as the backend would */
  fam->eval_rows(&s, m.params, x + 6, NULL, 1, m.ws, sums);
  assert_true(sums[0] == 12.25);
  assert_true(sums[1] == 4.0);
  assert_int_equal(fam->metric_count, 2);
  assert_string_equal(fam->metric_names[0], "inertia");
  assert_string_equal(fam->metric_names[1], "mean_sq_distance");
  fam->metrics(&s, sums, 4, values);
  assert_true(values[0] == 12.25);
  assert_true(values[1] == 12.25 / 4.0);
  assert_int_equal(rt_metric_higher_is_better("inertia"), 0);
  assert_int_equal(rt_metric_higher_is_better("mean_sq_distance"), 0);
  model_free(&m);
}

static void check_and_layout(void **state) {
  (void)state;
  const rt_family *fam = family();
  rt_model_spec s = make_spec(6, 50, 8, 100);
  s.id = 3;
  rt_status st;
  assert_int_equal(fam->task(&s), RT_TASK_CLUSTERING);
  assert_int_equal(rt_model_config_task(&s.hp), RT_TASK_CLUSTERING);
  s.problem.train_rows = 40;
  assert_int_equal(fam->check(&s, &st), RT_ERR_CONFIG);
  assert_string_equal(st.message, "model 3 (kmeans): k = 50 is more than the 40 training rows");
  s.hp.k = 40;
  assert_int_equal(fam->check(&s, &st), RT_OK);
  s.hp.k = 50;
  s.problem.train_rows = 0; /* not known (CSV): nothing to compare */
  assert_int_equal(fam->check(&s, &st), RT_OK);
  s.hp.k = 0;
  assert_int_equal(fam->check(&s, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "model 3 (kmeans)"));
  assert_null(strchr(st.message, '\n'));
  s.hp.k = 2;
  s.problem.features = 0;
  assert_int_equal(fam->check(&s, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "model 3 (kmeans)"));
  /* State: k x features parameters (zero until data), counts and rows seen in aux. */
  s.problem.features = 6;
  s.hp.k = 5;
  s.passes = 2;
  const rt_state_layout l = rt_state_layout_of(&s);
  assert_int_equal(l.param_count, 30);
  assert_int_equal(l.aux_count, 12);
  assert_int_equal(l.aux_offset % 64, 0);
  void *a = NULL;
  size_t bytes = 0;
  assert_int_equal(rt_state_create(&s, &a, &bytes, &st), RT_OK);
  const float *p = rt_state_params(a, &l);
  for (size_t i = 0; i < l.param_count; ++i) assert_true(p[i] == 0.0f);
  rt_state_free(a);
}

/* A NaN in the data makes the loss NaN (the engine then marks the model diverged). */
static void nan_input_gives_nan_loss(void **state) {
  (void)state;
  const rt_family *fam = family();
  rt_model_spec s = make_spec(3, 2, 2, 10);
  model_buf m = model_alloc(&s, 2);
  float x[6] = {1, 2, 3, 4, 5, 6};
  double loss = 0.0;
  fam->integrate_batch(&s, m.params, m.aux, x, NULL, 2, 0, &loss, m.ws);
  assert_true(isfinite(loss));
  x[4] = NAN;
  fam->integrate_batch(&s, m.params, m.aux, x, NULL, 2, 1, &loss, m.ws);
  assert_true(isnan(loss));
  model_free(&m);
}

/* Labels are ignored: the same batches with and without y give identical states. */
static void labels_ignored(void **state) {
  (void)state;
  enum { D = 4, K = 3, N = 64 };
  const rt_family *fam = family();
  rt_model_spec s = make_spec(D, K, 8, 20);
  float x[N * D], y[N];
  for (size_t i = 0; i < N * D; ++i) x[i] = rt_rng_uniform_f(5, i);
  for (size_t i = 0; i < N; ++i) y[i] = (float)(i % 7);
  rt_shard with = {.rows = N, .features = D, .x = x, .y = y},
           without = {.rows = N, .features = D, .x = x};
  model_buf a = model_alloc(&s, 8), b = model_alloc(&s, 8);
  fam->init_from_data(&s, 1, a.params, a.aux, &with, NULL);
  fam->init_from_data(&s, 1, b.params, b.aux, &without, NULL);
  double la, lb;
  for (size_t r = 0; r < N; r += 8) {
    fam->integrate_batch(&s, a.params, a.aux, x + r * D, y + r, 8, r / 8, &la, a.ws);
    fam->integrate_batch(&s, b.params, b.aux, x + r * D, NULL, 8, r / 8, &lb, b.ws);
    assert_true(la == lb);
  }
  assert_memory_equal(a.params, b.params, K * D * sizeof(float));
  assert_memory_equal(a.aux, b.aux, fam->aux_floats(&s) * sizeof(float));
  double sa[RT_EVAL_SUMS] = {0}, sb[RT_EVAL_SUMS] = {0};
  fam->eval_rows(&s, a.params, x, y, 8, a.ws, sa);
  fam->eval_rows(&s, a.params, x, NULL, 8, a.ws, sb);
  assert_memory_equal(sa, sb, sizeof sa);
  model_free(&a), model_free(&b);
}

/* ---- greedy k-means++ and Lloyd passes ----------------------------------------------------- */

/* Potential of centres over rows: sum of the naive squared distance to the nearest centre. */
static double potential(const float *x, size_t n, const float *c, size_t k, size_t d) {
  double total = 0.0;
  for (size_t i = 0; i < n; ++i) {
    double dist;
    naive_nearest(x + i * d, c, k, d, &dist);
    total += dist;
  }
  return total;
}

/* Anisotropic, overlapping blobs: 8 centres in D dimensions, N rows. */
static float *mixture(size_t n, size_t d, uint64_t key) {
  float *x = malloc(n * d * sizeof *x);
  assert_non_null(x);
  for (size_t i = 0; i < n; ++i) {
    const size_t c = rt_rng_below(key, i, 8);
    for (size_t f = 0; f < d; ++f) {
      const double centre = 4.0 * (rt_rng_uniform(rt_key_push(key, 1), c * d + f) - 0.5);
      const double spread = f % 2 ? 0.3 : 1.2;
      x[i * d + f] = (float)(centre + spread * gaussian(rt_key_push(key, 2), i * d + f));
    }
  }
  return x;
}

/* Greedy k-means++ (auto: 2 + floor(ln k) candidates per centre) gives a lower potential than
 * plain k-means++ (init_trials 1) on average over 40 keys, and never starts elsewhere (centre 0 is
 * the same draw). The sample is the whole shard, so the potential it lowers is the one measured. */
static void greedy_init_beats_plain(void **state) {
  (void)state;
  enum { D = 4, K = 12, N = 600, KEYS = 40 };
  const rt_family *fam = family();
  float *x = mixture(N, D, 606);
  rt_shard shard = {.rows = N, .features = D, .x = x};
  rt_model_spec plain = make_spec(D, K, 16, N), greedy = plain;
  plain.hp.init_trials = 1;
  assert_int_equal(rt_kmeans_init_trials(&plain), 1);
  assert_int_equal(rt_kmeans_init_trials(&greedy), 2 + 2); /* floor(ln 12) = 2 */
  model_buf a = model_alloc(&plain, 1), b = model_alloc(&greedy, 1);
  double sum_plain = 0.0, sum_greedy = 0.0;
  int greedy_wins = 0;
  for (uint64_t key = 0; key < KEYS; ++key) {
    fam->init_from_data(&plain, key, a.params, a.aux, &shard, NULL);
    fam->init_from_data(&greedy, key, b.params, b.aux, &shard, NULL);
    assert_memory_equal(a.params, b.params, D * sizeof(float)); /* centre 0 */
    const double pa = potential(x, N, a.params, K, D), pb = potential(x, N, b.params, K, D);
    sum_plain += pa;
    sum_greedy += pb;
    greedy_wins += pb < pa;
  }
  if (!(sum_greedy < 0.9 * sum_plain))
    fail_msg("greedy mean potential %.1f, plain %.1f", sum_greedy / KEYS, sum_plain / KEYS);
  assert_true(greedy_wins > KEYS / 2);
  model_free(&a), model_free(&b);
  free(x);
}

static rt_model_spec lloyd_spec(size_t d, long k, long batch, uint64_t passes, long lloyd_passes) {
  rt_model_spec s = make_spec(d, k, batch, 100000);
  s.passes = passes;
  if (lloyd_passes < 0) s.hp.algorithm = RT_KMEANS_LLOYD;
  else s.hp.lloyd_passes = lloyd_passes;
  return s;
}

/* A pass through the family as the engine drives it: the batches, then the pass end. */
static double run_engine_pass(const rt_model_spec *s, model_buf *m, const float *x, size_t rows,
                              uint64_t pass, uint64_t *step) {
  const double loss = run_pass(s, m, x, rows, pass, step);
  family()->pass_end(s, pass, m->params, m->aux);
  return loss;
}

/* The reference Lloyd step written here: naive double distances (first minimum), means in double
 * rounded to float, an empty centre keeps its place. Returns the inertia before the step. */
static double reference_lloyd_step(const float *x, size_t n, float *c, size_t k, size_t d) {
  double *sum = calloc(k * d, sizeof *sum), *count = calloc(k, sizeof *count), total = 0.0;
  assert_non_null(sum);
  assert_non_null(count);
  for (size_t i = 0; i < n; ++i) {
    double dist;
    const size_t j = naive_nearest(x + i * d, c, k, d, &dist);
    total += dist;
    count[j] += 1.0;
    for (size_t f = 0; f < d; ++f) sum[j * d + f] += x[i * d + f];
  }
  for (size_t j = 0; j < k; ++j)
    if (count[j] > 0.0)
      for (size_t f = 0; f < d; ++f) c[j * d + f] = (float)(sum[j * d + f] / count[j]);
  free(sum), free(count);
  return total;
}

/* algorithm lloyd: every pass is one exact Lloyd step. From the same start as the reference, the
 * per-pass loss is the reference's inertia before the step, the loss never rises, and both reach
 * the same fixed point (the centres stop moving, equal to the reference's). */
static void lloyd_reaches_reference_fixed_point(void **state) {
  (void)state;
  enum { D = 4, K = 6, N = 500, PASSES = 40 };
  float *x = mixture(N, D, 2718);
  rt_shard shard = {.rows = N, .features = D, .x = x};
  rt_model_spec s = lloyd_spec(D, K, 32, PASSES, -1);
  model_buf m = model_alloc(&s, 32);
  family()->init_from_data(&s, 99, m.params, m.aux, &shard, NULL);
  const rt_kmeans_aux_layout al = rt_kmeans_aux_of(&s);
  assert_true(((double *)(void *)m.aux)[al.lloyd_now] == 1.0); /* pass 0 is a Lloyd step */
  float ref[K * D], before[K * D];
  memcpy(ref, m.params, sizeof ref);
  uint64_t step = 0;
  double previous = INFINITY;
  int still = 0;
  for (uint64_t p = 0; p < PASSES; ++p) {
    memcpy(before, m.params, sizeof before);
    const double loss = run_engine_pass(&s, &m, x, N, p, &step);
    const double want = reference_lloyd_step(x, N, ref, K, D);
    if (fabs(loss - want) > 1e-5 * want)
      fail_msg("pass %llu: loss %.9g, reference %.9g", (unsigned long long)p, loss, want);
    assert_true(loss <= previous * (1.0 + 1e-6)); /* Lloyd never raises the inertia */
    previous = loss;
    still = memcmp(before, m.params, sizeof before) == 0;
  }
  assert_true(still); /* converged: the last step moved nothing */
  for (size_t i = 0; i < K * D; ++i)
    if (fabs(m.params[i] - ref[i]) > 1e-5f * (1.0f + fabsf(ref[i])))
      fail_msg("centre value %zu: %.9g, reference %.9g", i, (double)m.params[i], (double)ref[i]);
  /* A fixed point: one more reference step moves nothing. */
  memcpy(before, ref, sizeof before);
  reference_lloyd_step(x, N, ref, K, D);
  assert_memory_equal(before, ref, sizeof ref);
  model_free(&m);
  free(x);
}

/* One Lloyd batch: centres do not move; sums are the per-centre sums of the batch started at 0 in
 * row order then added; counts, the farthest row; Sculley's counts and seen are left alone. The
 * pass end moves the centres to the means and zeroes every accumulator. */
static void lloyd_accumulates_and_resets(void **state) {
  (void)state;
  enum { D = 3, K = 3, B = 20 };
  const rt_family *fam = family();
  rt_model_spec s = lloyd_spec(D, K, B, 4, 2); /* passes 0, 1 mini-batch; 2, 3 Lloyd */
  assert_int_equal(fam->aux_floats(&s), 2 * (2 * K + 3 + K * D + D));
  const rt_kmeans_aux_layout al = rt_kmeans_aux_of(&s);
  float x[2 * B * D];
  for (size_t i = 0; i < 2 * B * D; ++i) x[i] = 10.0f * rt_rng_uniform_f(31, i) - 5.0f;
  rt_shard shard = {.rows = 2 * B, .features = D, .x = x};
  model_buf m = model_alloc(&s, B);
  double *a = (double *)(void *)m.aux;
  fam->init_from_data(&s, 5, m.params, m.aux, &shard, NULL);
  assert_true(a[al.lloyd_now] == 0.0);
  double loss;
  fam->integrate_batch(&s, m.params, m.aux, x, NULL, B, 0, &loss, m.ws); /* mini-batch */
  assert_true(a[al.seen] == B);
  for (size_t i = al.far_dist; i < al.doubles; ++i) assert_true(a[i] == 0.0);
  fam->pass_end(&s, 0, m.params, m.aux);
  assert_true(a[al.lloyd_now] == 0.0);
  fam->pass_end(&s, 1, m.params, m.aux);
  assert_true(a[al.lloyd_now] == 1.0); /* pass 2 is a Lloyd step */
  float start[K * D];
  memcpy(start, m.params, sizeof start);
  double counts_before[K + 1];
  memcpy(counts_before, a, sizeof counts_before);
  double want_sum[K * D] = {0}, want_count[K] = {0}, far = 0.0;
  size_t far_row = 0;
  for (size_t b = 0; b < 2; ++b) {
    const float *xb = x + b * B * D;
    fam->integrate_batch(&s, m.params, m.aux, xb, NULL, B, 1 + b, &loss, m.ws);
    double part[K * D] = {0};
    for (size_t i = 0; i < B; ++i) {
      double dist;
      const size_t c = naive_nearest(xb + i * D, start, K, D, &dist);
      want_count[c] += 1.0;
      for (size_t f = 0; f < D; ++f) part[c * D + f] += (double)xb[i * D + f];
      if (dist > far * (1.0 + 1e-6)) far = dist, far_row = b * B + i;
    }
    for (size_t j = 0; j < K * D; ++j) want_sum[j] += part[j];
  }
  assert_memory_equal(m.params, start, sizeof start);          /* centres wait for the pass end */
  assert_memory_equal(a, counts_before, sizeof counts_before); /* Sculley's state untouched */
  for (size_t j = 0; j < K * D; ++j)
    if (a[al.sums + j] != want_sum[j])
      fail_msg("sum %zu: %.17g, expected %.17g", j, a[al.sums + j], want_sum[j]);
  for (size_t c = 0; c < K; ++c) assert_true(a[al.lloyd_counts + c] == want_count[c]);
  assert_true(fabs(a[al.far_dist] - far) <= 1e-4 * far);
  for (size_t f = 0; f < D; ++f) assert_true(a[al.far_row + f] == (double)x[far_row * D + f]);
  fam->pass_end(&s, 2, m.params, m.aux);
  for (size_t c = 0; c < K; ++c)
    for (size_t f = 0; f < D; ++f) {
      const float expect =
          want_count[c] > 0 ? (float)(want_sum[c * D + f] / want_count[c]) : start[c * D + f];
      assert_true(m.params[c * D + f] == expect);
    }
  for (size_t i = al.far_dist; i < al.doubles; ++i)
    if (a[i] != 0.0) fail_msg("aux double %zu = %g after the pass end", i, a[i]);
  assert_true(a[al.lloyd_now] == 1.0); /* pass 3 is a Lloyd step too */
  fam->pass_end(&s, 3, m.params, m.aux);
  assert_true(a[al.lloyd_now] == 0.0); /* no pass after the last */
  model_free(&m);
}

/* An empty centre at a Lloyd pass end: the first one (lowest index) moves to the row farthest
 * from its nearest centre (the first such row of the pass); a second empty centre stays. */
static void lloyd_empty_centre_moves_to_farthest_row(void **state) {
  (void)state;
  enum { D = 2, K = 4, N = 12 };
  const rt_family *fam = family();
  rt_model_spec s = lloyd_spec(D, K, 4, 2, -1);
  /* Three rows at squared distance 200 from their nearest centre, (20, 0) first: the farthest
   * row is the first of the pass, inside a batch and across batches. */
  const float x[N * D] = {0, 0,  1, 0, 0, 1, 10, 10, 11,  10, 20, 0,
                          0, 20, 0, 9, 1, 9, 0,  8,  -10, 10, 1,  1};
  model_buf m = model_alloc(&s, 4);
  double *a = (double *)(void *)m.aux;
  a[rt_kmeans_aux_of(&s).lloyd_now] = 1.0;
  const float start[K * D] = {0, 0, 10, 10, 100, 100, -100, -100};
  memcpy(m.params, start, sizeof start);
  double loss;
  for (size_t b = 0; b < N / 4; ++b)
    fam->integrate_batch(&s, m.params, m.aux, x + b * 4 * D, NULL, 4, b, &loss, m.ws);
  fam->pass_end(&s, 0, m.params, m.aux);
  /* (20, 0) is the first farthest row: centre 2 moves there; centre 3 keeps its place. */
  assert_true(m.params[2 * D] == 20.0f && m.params[2 * D + 1] == 0.0f);
  assert_true(m.params[3 * D] == -100.0f && m.params[3 * D + 1] == -100.0f);
  /* Centre 0: the mean of the rows nearest (0, 0). */
  double sx = 0, sy = 0, n = 0;
  for (size_t i = 0; i < N; ++i) {
    double dist;
    if (naive_nearest(x + i * D, start, K, D, &dist) == 0)
      sx += x[i * D], sy += x[i * D + 1], n += 1;
  }
  assert_true(m.params[0] == (float)(sx / n) && m.params[1] == (float)(sy / n));
  model_free(&m);
}

/* lloyd_passes: the last n passes only; mini-batch passes before them behave as before (the same
 * state as a pure mini-batch model with the same start, apart from the added aux). */
static void lloyd_passes_follow_minibatch(void **state) {
  (void)state;
  enum { D = 4, K = 5, N = 400, B = 25 };
  const rt_family *fam = family();
  float *x = mixture(N, D, 77);
  rt_shard shard = {.rows = N, .features = D, .x = x};
  rt_model_spec mixed = lloyd_spec(D, K, B, 5, 3), mb = lloyd_spec(D, K, B, 5, 0);
  model_buf a = model_alloc(&mixed, B), b = model_alloc(&mb, B);
  fam->init_from_data(&mixed, 3, a.params, a.aux, &shard, NULL);
  fam->init_from_data(&mb, 3, b.params, b.aux, &shard, NULL);
  uint64_t sa = 0, sb = 0;
  double la[5], lb[5];
  for (uint64_t p = 0; p < 5; ++p) {
    la[p] = run_engine_pass(&mixed, &a, x, N, p, &sa);
    lb[p] = run_engine_pass(&mb, &b, x, N, p, &sb);
    if (p < 2) { /* mini-batch passes: identical trajectories */
      assert_true(la[p] == lb[p]);
      assert_memory_equal(a.params, b.params, K * D * sizeof(float));
      assert_memory_equal(a.aux, b.aux, (2 * K + 2) * sizeof(float));
    }
  }
  /* Lloyd steps (passes 2-4) never raise the loss; the last one has settled below mini-batch's. */
  assert_true(la[3] <= la[2] * (1.0 + 1e-9) && la[4] <= la[3] * (1.0 + 1e-9));
  assert_true(potential(x, N, a.params, K, D) <= potential(x, N, b.params, K, D) * (1.0 + 1e-3));
  model_free(&a), model_free(&b);
  free(x);
}

/* The kmeans keys round-trip through the model-file spec text; a spec text written before they
 * existed reads with their defaults; other families' text does not carry them. */
static void spec_text_keys(void **state) {
  (void)state;
  rt_model_spec s = lloyd_spec(7, 3, 16, 6, 4);
  /* Spec text is read back with the key table's ranges (as every config is checked): the keys
   * this family does not read get valid values, as a config gives them. */
  s.hp.learning_rate = 0.01, s.hp.epsilon = 1e-8, s.hp.hidden[0] = 64, s.hp.hidden_count = 1;
  s.hp.init_trials = 9;
  char *text = rt_spec_to_text(&s);
  assert_non_null(text);
  assert_non_null(strstr(text, "\ninit_trials=9\nalgorithm=minibatch\nlloyd_passes=4\n"));
  rt_model_spec back;
  rt_status st;
  assert_int_equal(rt_spec_from_text(text, "m.rtm", &back, &st), RT_OK);
  assert_int_equal(back.hp.init_trials, 9);
  assert_int_equal(back.hp.algorithm, RT_KMEANS_MINIBATCH);
  assert_int_equal(back.hp.lloyd_passes, 4);
  char *again = rt_spec_to_text(&back);
  assert_string_equal(text, again);
  free(again);
  /* Without the three lines (an older file): minibatch, no Lloyd passes, auto trials. */
  char *old = strstr(text, "init_trials=");
  char *rest = strstr(text, "solver=");
  memmove(old, rest, strlen(rest) + 1);
  assert_int_equal(rt_spec_from_text(text, "old.rtm", &back, &st), RT_OK);
  assert_int_equal(back.hp.init_trials, 0);
  assert_int_equal(back.hp.algorithm, RT_KMEANS_MINIBATCH);
  assert_int_equal(back.hp.lloyd_passes, 0);
  free(text);
  s.hp.algorithm = RT_KMEANS_LLOYD;
  s.hp.lloyd_passes = 0;
  text = rt_spec_to_text(&s);
  assert_non_null(strstr(text, "\nalgorithm=lloyd\n"));
  free(text);
  strcpy(s.hp.kind, "logistic");
  text = rt_spec_to_text(&s);
  assert_null(strstr(text, "algorithm="));
  assert_null(strstr(text, "init_trials="));
  free(text);
  /* The family check refuses more Lloyd passes than passes. */
  s = lloyd_spec(7, 3, 16, 6, 7);
  s.id = 4;
  assert_int_equal(family()->check(&s, &st), RT_ERR_CONFIG);
  assert_string_equal(st.message,
                      "model 4 (kmeans): lloyd_passes = 7; it must be 0..6 (the passes)");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(blobs_recovered),
      cmocka_unit_test(sgemm_distances_match_naive),
      cmocka_unit_test(init_deterministic_and_sampled),
      cmocka_unit_test(init_with_few_distinct_rows),
      cmocka_unit_test(dead_centres_reseeded),
      cmocka_unit_test(predict_and_eval_known_centres),
      cmocka_unit_test(check_and_layout),
      cmocka_unit_test(nan_input_gives_nan_loss),
      cmocka_unit_test(labels_ignored),
      cmocka_unit_test(greedy_init_beats_plain),
      cmocka_unit_test(lloyd_reaches_reference_fixed_point),
      cmocka_unit_test(lloyd_accumulates_and_resets),
      cmocka_unit_test(lloyd_empty_centre_moves_to_farthest_row),
      cmocka_unit_test(lloyd_passes_follow_minibatch),
      cmocka_unit_test(spec_text_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
