/* The optimizers' element loops (src/models/optimizer.c, rt_optimizer_step_block) against a plain
 * loop of the scalar updates (scalar_math.h: rt_adam_update, rt_momentum_update, rt_sgd_update),
 * bit for bit: the library's loops are vectorised in every build type (CMakeLists.txt), and a
 * weight must not depend on that (no fused multiply-adds, no approximate square roots or
 * divisions, no reassociation; the CUDA kernels use the same scalar updates). Blocks of every length around the
 * vector widths and strided rows, with gradients that are 0, below Adam's gradient floor,
 * subnormal, tiny, ordinary and large, and moments near FLT_MIN, over several steps. */
#include <float.h>
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

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(adam),
      cmocka_unit_test(momentum),
      cmocka_unit_test(plain_sgd),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
