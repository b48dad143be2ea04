/* Linear least squares / ridge: the exact solver against closed-form solutions computed in long
 * double, independence of the batch split, one pass of statistics finished for several alphas,
 * the singular cases, the sgd solver's gradient (finite differences), its integrate path, its
 * convergence to the exact solution, metrics and checks. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model.h"
#include "rng.h"
#include "test_util.h"

/* The exact solver's aux layout (doubles), as documented in src/models/family_linear.c. */
enum { LIN_ROWS = 0, LIN_Y0, LIN_SYY, LIN_SOLVED, LIN_JITTER, LIN_TRAIN_LOSS, LIN_HEAD = 8 };

static size_t pad8(size_t n) { return (n + 7) / 8 * 8; }
static size_t stats_doubles(size_t d) {
  return LIN_HEAD + pad8(d) + (d + 1) * (d + 1) + 2 * (d + 1);
}
static double *solution_of(float *aux, size_t d) {
  return (double *)(void *)aux + LIN_HEAD + pad8(d) + (d + 1) * (d + 1) + (d + 1);
}

/* Referenced directly so that the family's object is linked in whatever the registry does. */
extern const rt_family rt_family_linear;

static const rt_family *linear(void) {
  const rt_family *fam = rt_family_find("linear");
  assert_true(fam == &rt_family_linear);
  return fam;
}

static rt_model_spec make_spec(size_t d, rt_solver solver, int fit_intercept, double alpha) {
  rt_model_spec s = tu_spec_sgd("linear", d, 0, 32);
  s.hp.solver = solver;
  s.hp.fit_intercept = fit_intercept;
  s.hp.alpha = alpha;
  return s;
}

static float *alloc_aux(const rt_model_spec *s) {
  const size_t bytes = (linear()->aux_floats(s) * sizeof(float) + 63) / 64 * 64;
  float *aux = aligned_alloc(64, bytes ? bytes : 64);
  assert_non_null(aux);
  memset(aux, 0, bytes ? bytes : 64);
  return aux;
}

/* Uncentred, badly scaled rows: x_j = s_j (c_j + z), s_j from 1e-3 to 1e3, c_j ~ 1e4, z in
 * (-1, 1); y = sum_j t_j x_j + b_true + noise with t_j ~ 1 / s_j. */
static void make_data(size_t n, size_t d, double b_true, uint64_t seed, float *x, float *y) {
  const uint64_t key = rt_key_push(seed, n * 1000 + d);
  for (size_t i = 0; i < n; ++i) {
    double t = b_true + 0.1 * (2.0 * rt_rng_uniform(key, 7 * n * d + i) - 1.0);
    for (size_t j = 0; j < d; ++j) {
      const double sj = pow(10.0, -3.0 + 6.0 * (double)j / (double)(d > 1 ? d - 1 : 1));
      const double cj = 1e4 * (1.0 + 0.37 * (double)j);
      const double z = 2.0 * rt_rng_uniform(key, i * d + j) - 1.0;
      x[i * d + j] = (float)(sj * (cj + z));
      t += (j % 2 ? -1.0 : 1.0) * (0.5 + 0.3 * (double)j) / sj * (double)x[i * d + j];
    }
    y[i] = (float)t;
  }
}

/* Solves a x = b (n x n, row-major) by Gaussian elimination with partial pivoting, in long double,
 * after scaling rows and columns to a unit diagonal (a and b are overwritten). */
static void solve_ld(long double *a, long double *b, size_t n, long double *x) {
  long double *sc = malloc(n * sizeof *sc);
  for (size_t i = 0; i < n; ++i) sc[i] = a[i * n + i] > 0 ? 1.0L / sqrtl(a[i * n + i]) : 1.0L;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) a[i * n + j] *= sc[i] * sc[j];
    b[i] *= sc[i];
  }
  for (size_t k = 0; k < n; ++k) {
    size_t p = k;
    for (size_t i = k + 1; i < n; ++i)
      if (fabsl(a[i * n + k]) > fabsl(a[p * n + k])) p = i;
    for (size_t j = 0; j < n && p != k; ++j) {
      const long double t = a[k * n + j];
      a[k * n + j] = a[p * n + j], a[p * n + j] = t;
    }
    if (p != k) {
      const long double t = b[k];
      b[k] = b[p], b[p] = t;
    }
    for (size_t i = k + 1; i < n; ++i) {
      const long double f = a[i * n + k] / a[k * n + k];
      for (size_t j = k; j < n; ++j) a[i * n + j] -= f * a[k * n + j];
      b[i] -= f * b[k];
    }
  }
  for (size_t k = n; k-- > 0;) {
    long double t = b[k];
    for (size_t j = k + 1; j < n; ++j) t -= a[k * n + j] * x[j];
    x[k] = t / a[k * n + k];
  }
  for (size_t i = 0; i < n; ++i) x[i] *= sc[i];
  free(sc);
}

/* Closed-form ridge in long double: min sum (y - x.w - b)^2 + alpha |w|^2 (b free when fitted,
 * by centring; else b = 0). out: w (d), then b. Only the columns with use[j] set take part
 * (NULL: all); the others get weight 0. */
static void reference_ridge(const float *x, const float *y, size_t n, size_t d, int fit_intercept,
                            double alpha, const int *use, double *out) {
  long double *mx = calloc(d, sizeof *mx), my = 0;
  long double *a = calloc(d * d, sizeof *a), *b = calloc(d, sizeof *b), *w = calloc(d, sizeof *w);
  size_t *col = malloc(d * sizeof *col), m = 0;
  for (size_t j = 0; j < d; ++j)
    if (!use || use[j]) col[m++] = j;
  if (fit_intercept) {
    for (size_t i = 0; i < n; ++i) {
      my += y[i];
      for (size_t j = 0; j < d; ++j) mx[j] += x[i * d + j];
    }
    my /= (long double)n;
    for (size_t j = 0; j < d; ++j) mx[j] /= (long double)n;
  }
  for (size_t i = 0; i < n; ++i) {
    const long double ty = y[i] - my;
    for (size_t p = 0; p < m; ++p) {
      const long double xp = x[i * d + col[p]] - mx[col[p]];
      b[p] += xp * ty;
      for (size_t q = 0; q < m; ++q) a[p * m + q] += xp * (x[i * d + col[q]] - mx[col[q]]);
    }
  }
  for (size_t p = 0; p < m; ++p) a[p * m + p] += alpha;
  solve_ld(a, b, m, w);
  long double bias = my;
  for (size_t j = 0; j <= d; ++j) out[j] = 0.0;
  for (size_t p = 0; p < m; ++p) {
    out[col[p]] = (double)w[p];
    bias -= w[p] * mx[col[p]];
  }
  out[d] = fit_intercept ? (double)bias : 0.0;
  free(mx), free(a), free(b), free(w), free(col);
}

/* Integrates rows [0, n) in batches of the given sizes (cycled) with the exact solver. */
static void accumulate(const rt_model_spec *s, float *aux, const float *x, const float *y, size_t n,
                       const size_t *sizes, size_t nsizes) {
  const rt_family *fam = linear();
  const size_t d = s->problem.features;
  size_t most = 1;
  for (size_t k = 0; k < nsizes; ++k)
    if (sizes[k] > most) most = sizes[k];
  /* Offset by one float: the engine's scratch follows the gradient, of any alignment. */
  float *ws = malloc((fam->workspace_floats(s, most) + 1) * sizeof *ws);
  float params[64];
  for (size_t first = 0, k = 0; first < n; ++k) {
    size_t rows = sizes[k % nsizes];
    if (rows > n - first) rows = n - first;
    double loss = -1.0;
    fam->integrate_batch(s, params, aux, x + first * d, y + first, rows, k, &loss, ws + 1);
    assert_true(loss == 0.0); /* the statistics pass reports no loss */
    first += rows;
  }
  free(ws);
}

static double rel_err(double got, double want) {
  return fabs(got - want) / fmax(fabs(want), 1e-300);
}

static void expect_close(const double *got, const double *want, size_t n, double tol,
                         const char *what) {
  for (size_t j = 0; j < n; ++j)
    if (!(rel_err(got[j], want[j]) <= tol))
      fail_msg("%s: component %zu: got %.17g, want %.17g (relative error %.3g > %.1g)", what, j,
               got[j], want[j], rel_err(got[j], want[j]), tol);
}

static void exact_case(int fit_intercept, double alpha) {
  const rt_family *fam = linear();
  enum { N = 600, D = 6 };
  float *x = malloc(N * D * sizeof *x), *y = malloc(N * sizeof *y);
  make_data(N, D, fit_intercept ? 3.7 : 0.0, 11, x, y);
  double ref[D + 1];
  reference_ridge(x, y, N, D, fit_intercept, alpha, NULL, ref);
  rt_model_spec s = make_spec(D, RT_SOLVER_EXACT, fit_intercept, alpha);
  assert_int_equal(fam->check(&s, NULL), RT_OK);
  const size_t p = fam->param_count(&s);
  assert_int_equal(p, D + (fit_intercept ? 1 : 0));
  assert_int_equal(fam->aux_floats(&s), 2 * stats_doubles(D));
  /* Uneven batches; then one batch; then single rows. */
  const size_t uneven[] = {7, 1, 33, 19, 64, 2, 101, 13};
  const size_t whole[] = {N}, single[] = {1};
  const size_t *splits[] = {uneven, whole, single};
  const size_t counts[] = {8, 1, 1};
  double first[D + 1];
  for (int v = 0; v < 3; ++v) {
    float *aux = alloc_aux(&s), params[D + 1];
    accumulate(&s, aux, x, y, N, splits[v], counts[v]);
    assert_true(((double *)(void *)aux)[LIN_ROWS] == N);
    assert_int_equal(fam->finish(&s, params, aux, NULL), RT_OK);
    const double *sol = solution_of(aux, D);
    assert_true(((double *)(void *)aux)[LIN_SOLVED] == 1.0);
    expect_close(sol, ref, D + (size_t)fit_intercept, 1e-5, "double solution vs closed form");
    double fp[D + 1];
    for (size_t j = 0; j < p; ++j) fp[j] = params[j];
    expect_close(fp, ref, p, 1e-5, "float parameters vs closed form");
    if (!fit_intercept) assert_true(sol[D] == 0.0);
    if (v == 0) memcpy(first, sol, sizeof first);
    else expect_close(sol, first, D + 1, 1e-9, "another batch split");
    free(aux);
  }
  free(x), free(y);
}

static void exact_with_intercept(void **state) {
  (void)state;
  exact_case(1, 0.0);
}
static void exact_with_intercept_ridge(void **state) {
  (void)state;
  exact_case(1, 25.0);
}
static void exact_without_intercept(void **state) {
  (void)state;
  exact_case(0, 0.0);
}
static void exact_without_intercept_ridge(void **state) {
  (void)state;
  exact_case(0, 25.0);
}

/* One pass of statistics (accumulated under alpha 0), finished for two alphas and both
 * fit_intercept settings: each equals its own closed form. */
static void statistics_finish_for_any_alpha(void **state) {
  (void)state;
  const rt_family *fam = linear();
  enum { N = 300, D = 4 };
  float *x = malloc(N * D * sizeof *x), *y = malloc(N * sizeof *y);
  make_data(N, D, -2.5, 5, x, y);
  rt_model_spec s = make_spec(D, RT_SOLVER_EXACT, 1, 0.0);
  float *aux = alloc_aux(&s);
  const size_t sizes[] = {32};
  accumulate(&s, aux, x, y, N, sizes, 1);
  const size_t bytes = fam->aux_floats(&s) * sizeof(float);
  const double alphas[] = {0.5, 400.0};
  for (int fi = 0; fi <= 1; ++fi)
    for (int k = 0; k < 2; ++k) {
      rt_model_spec t = make_spec(D, RT_SOLVER_EXACT, fi, alphas[k]);
      assert_int_equal(fam->aux_floats(&t), fam->aux_floats(&s)); /* same layout */
      float *copy = alloc_aux(&t), params[D + 1];
      memcpy(copy, aux, bytes);
      assert_int_equal(fam->finish(&t, params, copy, NULL), RT_OK);
      double ref[D + 1];
      reference_ridge(x, y, N, D, fi, alphas[k], NULL, ref);
      expect_close(solution_of(copy, D), ref, D + (size_t)fi, 1e-5,
                   "finished from shared statistics");
      /* finish leaves the statistics as they were: a second finish gives the same bits */
      float again[D + 1];
      assert_int_equal(fam->finish(&t, again, copy, NULL), RT_OK);
      assert_memory_equal(params, again, fam->param_count(&t) * sizeof(float));
      free(copy);
    }
  free(aux), free(x), free(y);
}

/* Training loss recorded by finish: mean 1/2 residual^2 at the solution, against a direct sum. */
static void exact_train_loss(void **state) {
  (void)state;
  const rt_family *fam = linear();
  enum { N = 200, D = 3 };
  float x[N * D], y[N], params[D + 1];
  make_data(N, D, 1.0, 3, x, y);
  for (int fi = 0; fi <= 1; ++fi) {
    rt_model_spec s = make_spec(D, RT_SOLVER_EXACT, fi, 2.0);
    float *aux = alloc_aux(&s);
    const size_t sizes[] = {17};
    accumulate(&s, aux, x, y, N, sizes, 1);
    assert_int_equal(fam->finish(&s, params, aux, NULL), RT_OK);
    const double *w = solution_of(aux, D);
    long double sse = 0;
    for (size_t i = 0; i < N; ++i) {
      long double e = w[D] - (long double)y[i];
      for (size_t j = 0; j < D; ++j) e += (long double)w[j] * x[i * D + j];
      sse += e * e;
    }
    const double want = (double)(0.5L * sse / N);
    assert_true(rel_err(((double *)(void *)aux)[LIN_TRAIN_LOSS], want) < 1e-6);
    free(aux);
  }
}

/* alpha = 0 with a constant column: solved with jitter, the constant column gets weight 0 and
 * the others are the fit without it. */
static void singular_constant_column(void **state) {
  (void)state;
  const rt_family *fam = linear();
  enum { N = 120, D = 4 };
  float x[N * D], y[N], params[D + 1];
  make_data(N, D, 0.5, 8, x, y);
  for (size_t i = 0; i < N; ++i) x[i * D + 2] = 7.25f;
  rt_model_spec s = make_spec(D, RT_SOLVER_EXACT, 1, 0.0);
  float *aux = alloc_aux(&s);
  const size_t sizes[] = {10};
  accumulate(&s, aux, x, y, N, sizes, 1);
  assert_int_equal(fam->finish(&s, params, aux, NULL), RT_OK);
  const double *head = (const double *)(void *)aux, *w = solution_of(aux, D);
  assert_true(head[LIN_SOLVED] == 2.0);
  assert_true(head[LIN_JITTER] > 0.0 && head[LIN_JITTER] <= 1e-6);
  assert_true(w[2] == 0.0 && params[2] == 0.0f);
  const int use[D] = {1, 1, 0, 1};
  double ref[D + 1];
  reference_ridge(x, y, N, D, 1, 0.0, use, ref);
  expect_close(w, ref, D + 1, 1e-5, "constant column: the fit without it");
  for (size_t j = 0; j <= D; ++j) assert_true(isfinite(params[j]));
  free(aux);
}

/* alpha = 0 with two identical columns, and fewer rows than features: finite weights whose
 * predictions are the least-squares fit. */
static void singular_collinear_and_underdetermined(void **state) {
  (void)state;
  const rt_family *fam = linear();
  enum { N = 80, D = 3 };
  float x[N * D], y[N], params[D + 1];
  const uint64_t key = rt_key_push(99, 1);
  for (size_t i = 0; i < N; ++i) {
    x[i * D] = rt_rng_uniform_f(key, 3 * i) * 4.0f - 2.0f;
    x[i * D + 1] = x[i * D];
    x[i * D + 2] = rt_rng_uniform_f(key, 3 * i + 1) + 5.0f;
    y[i] = 1.5f * x[i * D] - 0.5f * x[i * D + 2] + 2.0f + 0.01f * rt_rng_uniform_f(key, 3 * i + 2);
  }
  rt_model_spec s = make_spec(D, RT_SOLVER_EXACT, 1, 0.0);
  float *aux = alloc_aux(&s);
  const size_t sizes[] = {N};
  accumulate(&s, aux, x, y, N, sizes, 1);
  assert_int_equal(fam->finish(&s, params, aux, NULL), RT_OK);
  const double *w = solution_of(aux, D);
  assert_true(((double *)(void *)aux)[LIN_SOLVED] == 2.0);
  const int use[D] = {1, 0, 1};
  double ref[D + 1];
  reference_ridge(x, y, N, D, 1, 0.0, use, ref);
  assert_true(rel_err(w[0] + w[1], ref[0]) < 1e-6); /* the weight is shared between the twins */
  assert_true(rel_err(w[0], w[1]) < 1e-6);          /* evenly: the minimum-norm split */
  assert_true(rel_err(w[2], ref[2]) < 1e-6);
  assert_true(rel_err(w[3], ref[3]) < 1e-6);
  free(aux);

  /* 3 rows, 5 features: interpolates the rows. */
  enum { M = 3, E = 5 };
  float xs[M * E], ys[M] = {1.0f, -2.0f, 0.5f}, ps[E + 1], out[M];
  for (size_t i = 0; i < M * E; ++i) xs[i] = rt_rng_uniform_f(key, 1000 + i) * 2.0f - 1.0f;
  rt_model_spec u = make_spec(E, RT_SOLVER_EXACT, 1, 0.0);
  aux = alloc_aux(&u);
  const size_t one[] = {1};
  accumulate(&u, aux, xs, ys, M, one, 1);
  assert_int_equal(fam->finish(&u, ps, aux, NULL), RT_OK);
  assert_true(((double *)(void *)aux)[LIN_SOLVED] == 2.0);
  fam->predict(&u, ps, xs, M, out, NULL);
  for (size_t i = 0; i < M; ++i) assert_true(fabs(out[i] - ys[i]) < 1e-4);
  free(aux);
}

/* No rows: zeros, recorded as unsolved. A NaN in the data: the pass reports a NaN loss. */
static void degenerate_statistics(void **state) {
  (void)state;
  const rt_family *fam = linear();
  rt_model_spec s = make_spec(2, RT_SOLVER_EXACT, 1, 0.0);
  float *aux = alloc_aux(&s), params[3] = {1, 1, 1};
  assert_int_equal(fam->finish(&s, params, aux, NULL), RT_OK);
  assert_true(params[0] == 0.0f && params[1] == 0.0f && params[2] == 0.0f);
  assert_true(((double *)(void *)aux)[LIN_SOLVED] == 3.0);
  float x[4] = {1, 2, 3, 4}, y[2] = {1, 2}, ws[64];
  double loss = -1.0;
  fam->integrate_batch(&s, params, aux, x, y, 2, 0, &loss, ws);
  assert_true(loss == 0.0);
  x[3] = NAN;
  fam->integrate_batch(&s, params, aux, x, y, 2, 1, &loss, ws);
  assert_true(isnan(loss));
  free(aux);
  /* The sgd solver's finish does nothing. */
  rt_model_spec g = make_spec(2, RT_SOLVER_SGD, 1, 0.0);
  float p2[3] = {1, 2, 3};
  assert_int_equal(fam->finish(&g, p2, NULL, NULL), RT_OK);
  assert_true(p2[0] == 1.0f && p2[1] == 2.0f && p2[2] == 3.0f);
}

/* ---- solver sgd ---------------------------------------------------------------------------- */

/* mean 1/2 (x.w + b - y)^2 + (alpha / train_rows)/2 |w|^2, in double. */
static double reference_loss(const rt_model_spec *s, const double *p, const float *x,
                             const float *y, size_t rows) {
  const size_t d = s->problem.features;
  double total = 0.0, reg = 0.0;
  for (size_t i = 0; i < rows; ++i) {
    double e = (s->hp.fit_intercept ? p[d] : 0.0) - y[i];
    for (size_t j = 0; j < d; ++j) e += (double)x[i * d + j] * p[j];
    total += 0.5 * e * e;
  }
  for (size_t j = 0; j < d; ++j) reg += p[j] * p[j];
  return total / (double)rows + 0.5 * s->hp.alpha / (double)s->problem.train_rows * reg;
}

/* Relative error of each component at most 1e-3; the reported loss (no ridge term) within 1e-5. */
static void check_gradient(size_t d, size_t rows, int fit_intercept, double alpha) {
  const rt_family *fam = linear();
  rt_model_spec s = make_spec(d, RT_SOLVER_SGD, fit_intercept, alpha);
  s.problem.train_rows = 40;
  const size_t n = fam->param_count(&s);
  float *params = malloc(n * sizeof *params), *grad = malloc(n * sizeof *grad);
  float *x = malloc(rows * d * sizeof *x), *y = malloc(rows * sizeof *y);
  const uint64_t key = rt_key_push(17, d * 100 + rows);
  for (size_t i = 0; i < n; ++i) params[i] = 2.0f * rt_rng_uniform_f(key, i) - 1.0f;
  for (size_t i = 0; i < rows * d; ++i) x[i] = 2.0f * rt_rng_uniform_f(key, 1000 + i) - 1.0f;
  for (size_t i = 0; i < rows; ++i) y[i] = 3.0f * rt_rng_uniform_f(key, 5000 + i);
  rt_model_spec s0 = s; /* the reported loss has no ridge term */
  s0.hp.alpha = 0.0;
  double loss_sum = 0.0;
  tu_check_gradient(&(tu_gradient_check){.fam = fam,
                                         .spec = &s,
                                         .reported = &s0,
                                         .loss = reference_loss,
                                         .params = params,
                                         .x = x,
                                         .y = y,
                                         .rows = rows,
                                         .loss_tol = 1e-5,
                                         .grad_tol = 1e-3},
                    grad, &loss_sum);
  free(params), free(grad), free(x), free(y);
}

static void sgd_gradient_with_intercept_and_ridge(void **state) {
  (void)state;
  check_gradient(5, 9, 1, 3.0);
}
static void sgd_gradient_without_intercept(void **state) {
  (void)state;
  check_gradient(7, 13, 0, 0.0);
}

/* integrate_batch with solver sgd = batch_gradient then rt_optimizer_step, bit for bit. */
static void sgd_integrate_is_the_gradient_path(void **state) {
  (void)state;
  const rt_family *fam = linear();
  enum { D = 6, R = 11 };
  rt_model_spec s = make_spec(D, RT_SOLVER_SGD, 1, 1.0);
  s.problem.train_rows = 100;
  s.hp.optimizer = RT_OPT_ADAM;
  s.hp.learning_rate = 0.05;
  const size_t n = fam->param_count(&s), na = fam->aux_floats(&s);
  assert_int_equal(na, rt_optimizer_aux_count(&s, n));
  float x[R * D], y[R], pa[D + 1] = {0}, pb[D + 1] = {0}, aa[2 * (D + 1)] = {0},
                               ab[2 * (D + 1)] = {0};
  const uint64_t key = rt_key_push(5, 5);
  for (size_t i = 0; i < R * D; ++i) x[i] = rt_rng_uniform_f(key, i) - 0.5f;
  for (size_t i = 0; i < R; ++i) y[i] = rt_rng_uniform_f(key, 100 + i);
  float *ws = malloc((n + fam->workspace_floats(&s, R)) * sizeof *ws);
  for (uint64_t step = 0; step < 5; ++step) {
    double la = 0.0, lb = 0.0;
    fam->integrate_batch(&s, pa, aa, x, y, R, step, &la, ws);
    fam->batch_gradient(&s, pb, x, y, R, ws, &lb, ws + n);
    rt_optimizer_step(&s, pb, ab, ws, n, step);
    assert_true(la == lb);
    assert_memory_equal(pa, pb, sizeof pa);
    assert_memory_equal(aa, ab, sizeof aa);
  }
  free(ws);
}

/* On a well-conditioned problem, sgd (momentum, cosine schedule) reaches the exact ridge
 * solution of the same alpha. */
static void sgd_converges_to_exact(void **state) {
  (void)state;
  const rt_family *fam = linear();
  enum { N = 512, D = 4, B = 32, PASSES = 150 };
  float *x = malloc(N * D * sizeof *x), y[N];
  const uint64_t key = rt_key_push(23, 4);
  const float wt[D] = {1.5f, -2.0f, 0.5f, 3.0f};
  for (size_t i = 0; i < N; ++i) {
    float t = 0.75f + 0.05f * (rt_rng_uniform_f(key, 9000 + i) - 0.5f);
    for (size_t j = 0; j < D; ++j) {
      x[i * D + j] = (2.0f * rt_rng_uniform_f(key, i * D + j) - 1.0f) * (1.0f + 0.25f * (float)j);
      t += wt[j] * x[i * D + j];
    }
    y[i] = t;
  }
  const double alpha = 40.0; /* visible shrinkage: alpha / N = 0.078 per row */
  rt_model_spec ex = make_spec(D, RT_SOLVER_EXACT, 1, alpha);
  float *aux = alloc_aux(&ex), exact_params[D + 1];
  const size_t sizes[] = {B};
  accumulate(&ex, aux, x, y, N, sizes, 1);
  assert_int_equal(fam->finish(&ex, exact_params, aux, NULL), RT_OK);
  double ref[D + 1];
  reference_ridge(x, y, N, D, 1, alpha, NULL, ref);
  assert_true(fabs(ref[0] - wt[0]) > 0.05); /* the ridge matters */

  rt_model_spec s = make_spec(D, RT_SOLVER_SGD, 1, alpha);
  s.problem.train_rows = N;
  s.hp.momentum = 0.9;
  s.hp.learning_rate = 0.05;
  s.hp.schedule = RT_SCHED_COSINE;
  s.passes = PASSES;
  s.total_batches = N / B;
  const size_t n = fam->param_count(&s);
  float params[D + 1], *saux = calloc(fam->aux_floats(&s), sizeof *saux);
  float *ws = malloc(fam->workspace_floats(&s, B) * sizeof *ws);
  fam->init_params(&s, 1, params);
  uint64_t step = 0;
  for (int p = 0; p < PASSES; ++p)
    for (size_t first = 0; first < N; first += B, ++step) {
      double loss = 0.0;
      fam->integrate_batch(&s, params, saux, x + first * D, y + first, B, step, &loss, ws);
      assert_true(isfinite(loss));
    }
  for (size_t j = 0; j < n; ++j)
    if (fabs(params[j] - exact_params[j]) > 1e-2)
      fail_msg("param %zu: sgd %.6g exact %.6g", j, (double)params[j], (double)exact_params[j]);
  free(x), free(aux), free(saux), free(ws);
}

/* ---- prediction, evaluation, checks, layout ------------------------------------------------ */

static void metrics_by_hand(void **state) {
  (void)state;
  const rt_family *fam = linear();
  rt_model_spec s = make_spec(1, RT_SOLVER_EXACT, 1, 0.0);
  const float params[2] = {2.0f, 1.0f}; /* y^ = 2x + 1 */
  const float x[4] = {0, 1, 2, 3}, y[4] = {1.5f, 3.0f, 4.0f, 8.0f};
  float out[4];
  assert_int_equal(fam->output_width(&s), 1);
  char name[16];
  fam->output_name(&s, 0, name, sizeof name);
  assert_string_equal(name, "prediction");
  fam->predict(&s, params, x, 4, out, NULL);
  assert_true(out[0] == 1.0f && out[1] == 3.0f && out[2] == 5.0f && out[3] == 7.0f);
  double sums[RT_EVAL_SUMS] = {0}, values[RT_MAX_METRICS] = {0};
  fam->eval_rows(&s, params, x, y, 1, NULL, sums); /* two chunks add up */
  fam->eval_rows(&s, params, x + 1, y + 1, 3, NULL, sums);
  assert_true(sums[0] == 2.25 && sums[1] == 2.5 && sums[2] == 16.5 && sums[3] == 91.25);
  assert_int_equal(fam->metric_count, 3);
  assert_string_equal(fam->metric_names[0], "rmse");
  assert_string_equal(fam->metric_names[1], "mae");
  assert_string_equal(fam->metric_names[2], "r2");
  assert_true(rt_metric_higher_is_better("r2") && !rt_metric_higher_is_better("rmse"));
  fam->metrics(&s, sums, 4, values);
  assert_float_equal(values[0], 0.75, 1e-15);
  assert_float_equal(values[1], 0.625, 1e-15);
  assert_float_equal(values[2], 1.0 - 2.25 / (91.25 - 16.5 * 16.5 / 4.0), 1e-15);
  /* Without intercept the last parameter is not read. */
  rt_model_spec t = make_spec(1, RT_SOLVER_SGD, 0, 0.0);
  fam->predict(&t, params, x + 3, 1, out, NULL);
  assert_true(out[0] == 6.0f);
}

/* A constant target: r2 = 1 for a perfect prediction, else 0 (never a division by ~0). */
static void r2_of_constant_target(void **state) {
  (void)state;
  const rt_family *fam = linear();
  rt_model_spec s = make_spec(1, RT_SOLVER_EXACT, 1, 0.0);
  const float x[3] = {1, 2, 3}, y[3] = {0.1f, 0.1f, 0.1f};
  const float exact_params[2] = {0.0f, 0.1f}, off[2] = {0.0f, 0.2f};
  double sums[RT_EVAL_SUMS] = {0}, values[RT_MAX_METRICS];
  fam->eval_rows(&s, exact_params, x, y, 3, NULL, sums);
  fam->metrics(&s, sums, 3, values);
  assert_true(values[2] == 1.0 && values[0] == 0.0);
  memset(sums, 0, sizeof sums);
  fam->eval_rows(&s, off, x, y, 3, NULL, sums);
  fam->metrics(&s, sums, 3, values);
  assert_true(values[2] == 0.0);
  assert_true(values[0] > 0.09 && values[0] < 0.11);
}

static void checks(void **state) {
  (void)state;
  const rt_family *fam = linear();
  rt_status st;
  rt_model_spec s = make_spec(3, RT_SOLVER_EXACT, 1, 0.0);
  assert_int_equal(fam->task(&s), RT_TASK_REGRESSION);
  assert_int_equal(rt_model_config_task(&s.hp), RT_TASK_REGRESSION);
  assert_int_equal(fam->check(&s, &st), RT_OK);
  s.hp.alpha = -0.5;
  assert_int_equal(fam->check(&s, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "alpha"));
  assert_non_null(strstr(st.message, "(linear)"));
  s.hp.alpha = NAN;
  assert_int_equal(fam->check(&s, &st), RT_ERR_CONFIG);
  s.hp.alpha = INFINITY;
  assert_int_equal(fam->check(&s, &st), RT_ERR_CONFIG);
  s.hp.alpha = 1.0;
  s.problem.features = 0;
  assert_int_equal(fam->check(&s, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "no feature columns"));
  s.problem.features = 16000;
  assert_int_equal(fam->check(&s, &st), RT_OK);
  s.problem.features = 16001;
  assert_int_equal(fam->check(&s, &st), RT_ERR_CONFIG);
  assert_non_null(strstr(st.message, "solver: sgd"));
  s.hp.solver = RT_SOLVER_SGD;
  assert_int_equal(fam->check(&s, &st), RT_OK);
  s.problem.features = 1u << 20;
  assert_int_equal(fam->check(&s, &st), RT_OK);
}

static void state_layout(void **state) {
  (void)state;
  const rt_family *fam = linear();
  rt_model_spec s = make_spec(13, RT_SOLVER_EXACT, 1, 0.0);
  s.seed = 3;
  rt_state_layout l = rt_state_layout_of(&s);
  assert_int_equal(l.param_count, 14);
  assert_int_equal(l.aux_count, 2 * stats_doubles(13));
  assert_int_equal(l.aux_offset % 64, 0);
  s.hp.fit_intercept = 0; /* the statistics do not depend on fit_intercept */
  assert_int_equal(rt_state_layout_of(&s).aux_count, l.aux_count);
  assert_int_equal(rt_state_layout_of(&s).param_count, 13);
  void *a = NULL;
  size_t bytes = 0;
  rt_status st;
  assert_int_equal(rt_state_create(&s, &a, &bytes, &st), RT_OK);
  const float *p = rt_state_params(a, &l);
  for (size_t j = 0; j < 13; ++j) assert_true(p[j] == 0.0f);
  rt_state_free(a);
  rt_model_spec g = make_spec(13, RT_SOLVER_SGD, 1, 0.0);
  assert_int_equal(rt_state_layout_of(&g).aux_count, 0); /* plain sgd: no optimizer state */
  g.hp.optimizer = RT_OPT_ADAM;
  assert_int_equal(rt_state_layout_of(&g).aux_count, 28);
  assert_true(fam->workspace_floats(&g, 32) >= 14 + 32);
  /* The spec text keeps solver, alpha and fit_intercept. */
  g.hp.alpha = 0.125;
  g.hp.fit_intercept = 0;
  /* Spec text is read back with the key table's ranges (as every config is checked): the keys
   * this family does not read get valid values, as a config gives them. */
  g.hp.k = 8, g.hp.init_sample = 10000, g.hp.hidden[0] = 64, g.hp.hidden_count = 1;
  char *text = rt_spec_to_text(&g);
  rt_model_spec back;
  assert_int_equal(rt_spec_from_text(text, "m.rtm", &back, &st), RT_OK);
  assert_int_equal(back.hp.solver, RT_SOLVER_SGD);
  assert_true(back.hp.alpha == 0.125);
  assert_int_equal(back.hp.fit_intercept, 0);
  free(text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(exact_with_intercept),
      cmocka_unit_test(exact_with_intercept_ridge),
      cmocka_unit_test(exact_without_intercept),
      cmocka_unit_test(exact_without_intercept_ridge),
      cmocka_unit_test(statistics_finish_for_any_alpha),
      cmocka_unit_test(exact_train_loss),
      cmocka_unit_test(singular_constant_column),
      cmocka_unit_test(singular_collinear_and_underdetermined),
      cmocka_unit_test(degenerate_statistics),
      cmocka_unit_test(sgd_gradient_with_intercept_and_ridge),
      cmocka_unit_test(sgd_gradient_without_intercept),
      cmocka_unit_test(sgd_integrate_is_the_gradient_path),
      cmocka_unit_test(sgd_converges_to_exact),
      cmocka_unit_test(metrics_by_hand),
      cmocka_unit_test(r2_of_constant_target),
      cmocka_unit_test(checks),
      cmocka_unit_test(state_layout),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
