/* The optimizers' element loops (src/models/optimizer.c, rt_optimizer_step_block) against a plain
 * loop of the scalar updates (scalar_math.h: rt_adam_update, rt_momentum_update, rt_sgd_update),
 * bit for bit: the library's loops are vectorised in every build type (CMakeLists.txt), and a
 * weight must not depend on that (no fused multiply-adds, no approximate square roots or
 * divisions, no reassociation; the CUDA kernels use the same scalar updates). Blocks of every length around the
 * vector widths and strided rows, with gradients that are 0, below Adam's gradient floor,
 * subnormal, tiny, ordinary and large, and moments near FLT_MIN, over several steps. */
#include <float.h>
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
#include "scalar_math.h"
#include "test_util.h"

enum { MAX_ROWS = 5, MAX_LD = 80, MAX_N = MAX_ROWS * MAX_LD };

/* A float drawn from a mix of magnitudes (uniform draws in [0, 1) from the counter-based stream). */
static float draw(uint64_t key, uint64_t i, int nonnegative) {
  const double u = rt_rng_uniform(key, 2 * i);
  const double w = rt_rng_uniform(key, 2 * i + 1);
  const int kind = (int)(u * 8.0);
  float x;
  switch (kind) {
    case 0: x = 0.0f; break;
    case 1: x = (float)(w * 1e-17); break;         /* below RT_ADAM_GRAD_FLOOR */
    case 2: x = (float)(w * 1e-39); break;         /* subnormal */
    case 3: x = FLT_MIN * (float)(1.0 + w); break; /* at the flush threshold */
    case 4: x = (float)(w * 1e-6); break;
    case 5: x = (float)(w * 1e3); break;
    default: x = (float)(2.0 * w - 1.0); break;
  }
  if (!nonnegative && w < 0.5) x = -x;
  return x;
}

/* rows x cols elements at row stride ld, updated `steps` times by the library and by the plain
 * loop from the same start; every array compared byte for byte after each step. */
static void check(const rt_model_spec *spec, size_t rows, size_t cols, size_t ld, uint64_t key) {
  static float p[2][MAX_N], m[2][MAX_N], v[2][MAX_N], g[MAX_N];
  const size_t n = rows * ld;
  for (size_t i = 0; i < n; ++i) {
    p[0][i] = p[1][i] = draw(rt_key_push(key, 1), i, 0);
    m[0][i] = m[1][i] = draw(rt_key_push(key, 2), i, 0);
    v[0][i] = v[1][i] = draw(rt_key_push(key, 3), i, 1);
  }
  for (uint64_t step = 0; step < 4; ++step) {
    for (size_t i = 0; i < n; ++i) g[i] = draw(rt_key_push(rt_key_push(key, 4), step), i, 0);
    rt_optimizer_step_block(spec, step, p[0], m[0], v[0], g, rows, cols, ld);
    const float lr = (float)rt_learning_rate(spec, step);
    const float b1 = (float)spec->hp.beta1, b2 = (float)spec->hp.beta2;
    const float c1 = (float)rt_adam_bias_correction(spec->hp.beta1, step);
    const float c2 = (float)rt_adam_bias_correction(spec->hp.beta2, step);
    for (size_t r = 0; r < rows; ++r)
      for (size_t i = r * ld; i < r * ld + cols; ++i) {
        if (spec->hp.optimizer == RT_OPT_ADAM)
          rt_adam_update(&p[1][i], &m[1][i], &v[1][i], g[i], lr, b1, b2, c1, c2,
                         (float)spec->hp.epsilon);
        else if (spec->hp.momentum > 0.0)
          rt_momentum_update(&p[1][i], &m[1][i], g[i], lr, (float)spec->hp.momentum);
        else rt_sgd_update(&p[1][i], g[i], lr);
      }
    if (memcmp(p[0], p[1], n * sizeof(float)) != 0 || memcmp(m[0], m[1], n * sizeof(float)) != 0 ||
        memcmp(v[0], v[1], n * sizeof(float)) != 0)
      fail_msg(
          "optimizer %d (momentum %g): %zu x %zu at stride %zu, step %llu: the library's "
          "loop differs from the scalar updates",
          (int)spec->hp.optimizer, spec->hp.momentum, rows, cols, ld, (unsigned long long)step);
  }
}

static void each_shape(const rt_model_spec *spec) {
  for (size_t cols = 1; cols <= 67; ++cols) check(spec, 1, cols, cols, 100 + cols);
  check(spec, 3, 37, 40, 7);
  check(spec, MAX_ROWS, 64, MAX_LD, 8);
  check(spec, 4, 17, 33, 9);
}

static rt_model_spec base(void) {
  rt_model_spec s = tu_spec_sgd("logistic", 4, 3, 8);
  s.total_batches = 10;
  s.passes = 1;
  return s;
}

static void adam(void **unused) {
  (void)unused;
  rt_model_spec s = base();
  s.hp.optimizer = RT_OPT_ADAM;
  s.hp.learning_rate = 0.003;
  each_shape(&s);
}

static void momentum(void **unused) {
  (void)unused;
  rt_model_spec s = base();
  s.hp.momentum = 0.9;
  each_shape(&s);
}

static void plain_sgd(void **unused) {
  (void)unused;
  rt_model_spec s = base();
  each_shape(&s);
}

/* ---- Members side by side (rt_optimizer_step_members, rt_optimizer_step_runs) ----------------
 * Each member's block gets exactly the bits rt_optimizer_step_block gives it alone (checked above
 * against the scalar updates), after its own L2 decay (rt_decay) or none, with its own
 * hyper-parameters and step, whatever its neighbours:
 * counts and widths around the blocks of coefficients the library fills, rows with a stride
 * wider than the members, members skipped (inactive, or a loss that is not finite) and optimizer
 * classes mixed. */
enum { MEMBERS_MAX = 40, COLS_MAX = 130, ROWS_M = 3, PAD = 5 };
enum { FLOATS_M = ROWS_M * (MEMBERS_MAX * COLS_MAX + PAD) };

/* Member i of class `kind` (0 adam, 1 momentum, 2 sgd), with hyper-parameters of its own (an L2
 * for two members of three). */
static rt_model_spec member_of(int kind, size_t i) {
  rt_model_spec s = base();
  s.hp.learning_rate = 0.001 * (double)(i + 1);
  s.hp.l2 = i % 3 == 0 ? 0.0 : 0.01 * (double)(i + 1);
  if (kind == 0) {
    s.hp.optimizer = RT_OPT_ADAM;
    s.hp.beta1 = 0.8 + 0.01 * (double)(i % 7);
    s.hp.beta2 = 0.99 + 0.001 * (double)(i % 5);
    s.hp.epsilon = 1e-8 * (double)(1 + i % 3);
  } else if (kind == 1) {
    s.hp.momentum = 0.5 + 0.05 * (double)(i % 9);
  }
  return s;
}

static float mp[2][FLOATS_M], mm[2][FLOATS_M], mv[2][FLOATS_M], mg[2][FLOATS_M];

static void fill_members(size_t n, uint64_t key) {
  for (size_t i = 0; i < n; ++i) {
    mp[0][i] = mp[1][i] = draw(rt_key_push(key, 1), i, 0);
    mm[0][i] = mm[1][i] = draw(rt_key_push(key, 2), i, 0);
    mv[0][i] = mv[1][i] = draw(rt_key_push(key, 3), i, 1);
    mg[0][i] = mg[1][i] = draw(rt_key_push(key, 4), i, 0);
  }
}

static float l2_of(const rt_model_spec *spec) { return (float)spec->hp.l2; }

/* The reference: member i alone, its decay (l2 * params added to its gradient on the decay's
 * rows, when l2 > 0) and then rt_optimizer_step_block. */
static void alone(const rt_model_spec *spec, uint64_t step, const rt_decay *decay, size_t o,
                  size_t rows, size_t cols, size_t ld) {
  const float l2 = decay ? decay->of(spec) : 0.0f;
  if (l2 > 0.0f)
    for (size_t r = 0; r < decay->rows; ++r)
      for (size_t k = r * ld + o; k < r * ld + o + cols; ++k) mg[1][k] += l2 * mp[1][k];
  rt_optimizer_step_block(spec, step, mp[1] + o, mm[1] + o, mv[1] + o, mg[1] + o, rows, cols, ld);
}

static void same_members(const char *what, size_t count, size_t cols, size_t n) {
  if (memcmp(mp[0], mp[1], n * sizeof(float)) != 0 ||
      memcmp(mm[0], mm[1], n * sizeof(float)) != 0 || memcmp(mv[0], mv[1], n * sizeof(float)) != 0)
    fail_msg("%s: %zu members of %zu columns differ from their updates alone", what, count, cols);
}

static void members_of_one_class(int kind) {
  static const size_t counts[] = {2, 3, 7, 26, MEMBERS_MAX}, widths[] = {1, 3, 10, 67, COLS_MAX};
  rt_model_spec specs[MEMBERS_MAX];
  const rt_model_spec *sp[MEMBERS_MAX];
  uint64_t steps[MEMBERS_MAX];
  for (size_t i = 0; i < MEMBERS_MAX; ++i) {
    specs[i] = member_of(kind, i);
    sp[i] = &specs[i];
    steps[i] = i % 4; /* members need not stand at one step */
  }
  const rt_decay decay = {l2_of, ROWS_M - 1}; /* the last row as a bias row */
  for (int decayed = 0; decayed < 2; ++decayed)
    for (size_t a = 0; a < sizeof counts / sizeof *counts; ++a)
      for (size_t b = 0; b < sizeof widths / sizeof *widths; ++b) {
        const size_t count = counts[a], cols = widths[b], ld = count * cols + PAD;
        const size_t n = ROWS_M * ld;
        const rt_decay *dc = decayed ? &decay : NULL;
        fill_members(n, 1000 * count + cols + decayed);
        rt_optimizer_step_members(sp, steps, count, dc, mp[0], mm[0], mv[0], mg[0], ROWS_M, cols,
                                  ld);
        for (size_t i = 0; i < count; ++i) alone(sp[i], steps[i], dc, i * cols, ROWS_M, cols, ld);
        same_members(
            decayed ? "rt_optimizer_step_members with a decay" : "rt_optimizer_step_members", count,
            cols, n);
      }
}

static void members_adam(void **unused) {
  (void)unused;
  members_of_one_class(0);
}

static void members_momentum(void **unused) {
  (void)unused;
  members_of_one_class(1);
}

static void members_sgd(void **unused) {
  (void)unused;
  members_of_one_class(2);
}

static size_t rows_m(const rt_model_spec *spec) {
  (void)spec;
  return ROWS_M;
}

/* Classes in runs and mixed, members skipped: every updated member as alone, the others as they
 * were. */
static void runs(void **unused) {
  (void)unused;
  enum { M = 30, COLS = 10 };
  static const int kinds[M] = {0, 0, 0, 1, 1, 2, 2, 2, 2, 0, 2, 0, 1, 0, 0,
                               0, 0, 0, 0, 2, 2, 1, 1, 1, 0, 0, 2, 2, 2, 0};
  rt_model_spec specs[M];
  const rt_model_spec *sp[M];
  uint64_t steps[M];
  unsigned char active[M];
  double loss[M];
  for (size_t i = 0; i < M; ++i) {
    specs[i] = member_of(kinds[i], i);
    sp[i] = &specs[i];
    steps[i] = 2;
    active[i] = i % 7 != 3;
    loss[i] = i % 11 == 5 ? NAN : (i % 13 == 8 ? INFINITY : 1.0);
  }
  const size_t ld = M * COLS + PAD, n = ROWS_M * ld;
  fill_members(n, 77);
  const rt_decay decay = {l2_of, ROWS_M - 1};
  rt_optimizer_step_runs(sp, steps, active, loss, M, rows_m, &decay, mp[0], mm[0], mv[0], mg[0],
                         COLS, ld);
  size_t updated = 0;
  for (size_t i = 0; i < M; ++i) {
    if (!active[i] || !isfinite(loss[i])) continue;
    alone(sp[i], steps[i], &decay, i * COLS, ROWS_M, COLS, ld);
    ++updated;
  }
  assert_true(updated > M / 2 && updated < M);
  same_members("rt_optimizer_step_runs", M, COLS, n);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(adam),
      cmocka_unit_test(momentum),
      cmocka_unit_test(plain_sgd),
      cmocka_unit_test(members_adam),
      cmocka_unit_test(members_momentum),
      cmocka_unit_test(members_sgd),
      cmocka_unit_test(runs),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
