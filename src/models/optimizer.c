/* Optimizers and learning-rate schedules, shared by every gradient-trained family. */
#include <math.h>

#include "model.h"
#include "scalar_math.h"

/* Columns of per-column coefficients rt_optimizer_step_members fills at a time (on the stack). */
#define RT_OPT_BLOCK_COLS 256

size_t rt_optimizer_aux_count(const rt_model_spec *spec, size_t param_count) {
  switch (spec->hp.optimizer) {
    case RT_OPT_ADAM: return 2 * param_count; /* first and second moments */
    case RT_OPT_SGD: return spec->hp.momentum > 0.0 ? param_count : 0; /* velocity */
  }
  return 0;
}

double rt_learning_rate(const rt_model_spec *spec, uint64_t step) {
  return rt_lr_at(spec->hp.learning_rate, spec->hp.schedule, spec->hp.decay, step,
                  spec->total_batches * spec->passes);
}

void rt_optimizer_step_block(const rt_model_spec *spec, uint64_t step, float *params, float *m,
                             float *v, const float *grad, size_t rows, size_t cols, size_t ld) {
  if (rows > 1 && ld == cols) { /* contiguous: one row, so the loop is not cut every `cols` */
    cols *= rows;
    ld = cols;
    rows = 1;
  }
  const float lr = (float)rt_learning_rate(spec, step);
  const rt_optimizer_class kind = rt_optimizer_class_of(spec);
  if (kind == RT_OPTIMIZER_ADAM) {
    const float b1 = (float)spec->hp.beta1, b2 = (float)spec->hp.beta2;
    /* Bias corrections folded into the step size, computed once per step in double. */
    const float c1 = (float)rt_adam_bias_correction(spec->hp.beta1, step);
    const float c2 = (float)rt_adam_bias_correction(spec->hp.beta2, step);
    const float eps = (float)spec->hp.epsilon;
    for (size_t r = 0; r < rows; ++r)
      for (size_t i = r * ld, end = i + cols; i < end; ++i)
        rt_adam_update(&params[i], &m[i], &v[i], grad[i], lr, b1, b2, c1, c2, eps);
    return;
  }
  if (kind == RT_OPTIMIZER_MOMENTUM) {
    const float mu = (float)spec->hp.momentum;
    for (size_t r = 0; r < rows; ++r)
      for (size_t i = r * ld, end = i + cols; i < end; ++i)
        rt_momentum_update(&params[i], &m[i], grad[i], lr, mu);
    return;
  }
  for (size_t r = 0; r < rows; ++r)
    for (size_t i = r * ld, end = i + cols; i < end; ++i) rt_sgd_update(&params[i], grad[i], lr);
}

void rt_optimizer_step(const rt_model_spec *spec, float *params, float *aux, const float *grad,
                       size_t n, uint64_t step) {
  /* The solo layout is one block of one row: moments (or velocity) at aux, second moments after
   * them. */
  rt_optimizer_step_block(spec, step, params, aux, aux ? aux + n : NULL, grad, 1, n, n);
}

rt_optimizer_class rt_optimizer_class_of(const rt_model_spec *spec) {
  if (spec->hp.optimizer == RT_OPT_ADAM) return RT_OPTIMIZER_ADAM;
  return spec->hp.momentum > 0.0 ? RT_OPTIMIZER_MOMENTUM : RT_OPTIMIZER_SGD;
}

/* Members [first, first + count) of rt_optimizer_step_members, count * cols <= RT_OPT_BLOCK_COLS:
 * each member's coefficients repeated over its columns, then one loop along each row over all of
 * them (vectorised across members, where one member's row of a few columns would not be); on the
 * decay's rows the decayed gradient first goes to a row of its own (geff). Also compiled for AVX2,
 * chosen at load time where the CPU has it: the same bits (element-wise IEEE operations, no FMA in
 * that target, no reassociation; tests/unit/test_optimizer.c), and measured on the softmax sweep
 * of scripts/bench_groups.sh (64 members, rows of up to 256 columns): fused 2.6 s against 3.2 s
 * with the baseline's SSE2 alone; AVX-512 was no faster (2.85 s). */
__attribute__((target_clones("avx2", "default"))) static void step_block_of_members(
    const rt_model_spec *const *specs, const uint64_t *steps, size_t count, const rt_decay *decay,
    float *params, float *m, float *v, const float *grad, size_t rows, size_t cols, size_t ld) {
  float lr[RT_OPT_BLOCK_COLS], b1[RT_OPT_BLOCK_COLS], b2[RT_OPT_BLOCK_COLS], c1[RT_OPT_BLOCK_COLS],
      c2[RT_OPT_BLOCK_COLS], eps[RT_OPT_BLOCK_COLS], l2[RT_OPT_BLOCK_COLS], geff[RT_OPT_BLOCK_COLS];
  const rt_optimizer_class kind = rt_optimizer_class_of(specs[0]);
  const size_t n = count * cols;
  int decays = 0;
  for (size_t i = 0; i < count; ++i) {
    const rt_model_spec *s = specs[i];
    const float rate = (float)rt_learning_rate(s, steps[i]);
    /* The same float roundings as rt_optimizer_step_block's, per member. */
    const float f1 = kind == RT_OPTIMIZER_ADAM ? (float)s->hp.beta1 : (float)s->hp.momentum;
    const float f2 = (float)s->hp.beta2;
    const float g1 = (float)rt_adam_bias_correction(s->hp.beta1, steps[i]);
    const float g2 = (float)rt_adam_bias_correction(s->hp.beta2, steps[i]);
    const float e = (float)s->hp.epsilon;
    const float w = decay ? decay->of(s) : 0.0f;
    decays |= w > 0.0f;
    for (size_t k = i * cols; k < (i + 1) * cols; ++k) {
      lr[k] = rate;
      b1[k] = f1;
      b2[k] = f2;
      c1[k] = g1;
      c2[k] = g2;
      eps[k] = e;
      l2[k] = w;
    }
  }
  const size_t decay_rows = decays ? decay->rows : 0;
  for (size_t r = 0; r < rows; ++r) {
    float *p = params + r * ld, *mr = m ? m + r * ld : NULL, *vr = v ? v + r * ld : NULL;
    const float *g = grad + r * ld;
    if (r < decay_rows) { /* grad + l2 * params, as the decay loop of step_members_one by one */
      for (size_t k = 0; k < n; ++k) {
        /* Computed for every column, kept where l2 > 0 (else g, its sign of zero included): a
         * select, vectorised (-fno-trapping-math, CMakeLists.txt). */
        const float decayed = rt_l2_decayed(g[k], p[k], l2[k]);
        geff[k] = l2[k] > 0.0f ? decayed : g[k];
      }
      g = geff;
    }
    switch (kind) {
      case RT_OPTIMIZER_ADAM:
        for (size_t k = 0; k < n; ++k)
          rt_adam_update(&p[k], &mr[k], &vr[k], g[k], lr[k], b1[k], b2[k], c1[k], c2[k], eps[k]);
        break;
      case RT_OPTIMIZER_MOMENTUM:
        for (size_t k = 0; k < n; ++k) rt_momentum_update(&p[k], &mr[k], g[k], lr[k], b1[k]);
        break;
      case RT_OPTIMIZER_SGD:
        for (size_t k = 0; k < n; ++k) rt_sgd_update(&p[k], g[k], lr[k]);
        break;
    }
  }
}

void rt_add_l2(float *grad, const float *w, float l2, size_t rows, size_t cols, size_t ld) {
  for (size_t r = 0; r < rows; ++r)
    for (size_t k = r * ld, end = k + cols; k < end; ++k)
      grad[k] = rt_l2_decayed(grad[k], w[k], l2);
}

/* The members one by one: each one's decay on its gradient, then rt_optimizer_step_block. */
static void step_members_one_by_one(const rt_model_spec *const *specs, const uint64_t *steps,
                                    size_t count, const rt_decay *decay, float *params, float *m,
                                    float *v, float *grad, size_t rows, size_t cols, size_t ld) {
  for (size_t i = 0; i < count; ++i) {
    const size_t o = i * cols;
    const float l2 = decay ? decay->of(specs[i]) : 0.0f;
    if (l2 > 0.0f)
      rt_add_l2(grad + o, params + o, l2, decay->rows < rows ? decay->rows : rows, cols, ld);
    rt_optimizer_step_block(specs[i], steps[i], params + o, m ? m + o : NULL, v ? v + o : NULL,
                            grad + o, rows, cols, ld);
  }
}

void rt_optimizer_step_members(const rt_model_spec *const *specs, const uint64_t *steps,
                               size_t count, const rt_decay *decay, float *params, float *m,
                               float *v, float *grad, size_t rows, size_t cols, size_t ld) {
  if (count == 1 || cols > RT_OPT_BLOCK_COLS / 2) { /* nothing to gain from the columns of others */
    step_members_one_by_one(specs, steps, count, decay, params, m, v, grad, rows, cols, ld);
    return;
  }
  const size_t per_block = RT_OPT_BLOCK_COLS / cols;
  for (size_t first = 0; first < count; first += per_block) {
    const size_t n = count - first < per_block ? count - first : per_block, o = first * cols;
    step_block_of_members(specs + first, steps + first, n, decay, params + o, m ? m + o : NULL,
                          v ? v + o : NULL, grad + o, rows, cols, ld);
  }
}

void rt_optimizer_step_runs(const rt_model_spec *const *specs, const uint64_t *steps,
                            const unsigned char *active, const double *loss_sums, size_t m,
                            size_t (*rows_of)(const rt_model_spec *), const rt_decay *decay,
                            float *params, float *mom, float *v, float *grad, size_t cols,
                            size_t ld) {
  for (size_t first = 0, last; first < m; first = last) {
    last = first + 1;
    if (!active[first] || !isfinite(loss_sums[first])) continue;
    const rt_optimizer_class kind = rt_optimizer_class_of(specs[first]);
    const size_t rows = rows_of(specs[first]);
    while (last < m && active[last] && isfinite(loss_sums[last]) &&
           rt_optimizer_class_of(specs[last]) == kind && rows_of(specs[last]) == rows)
      ++last;
    const size_t o = first * cols;
    rt_optimizer_step_members(specs + first, steps + first, last - first, decay, params + o,
                              mom ? mom + o : NULL, v ? v + o : NULL, grad + o, rows, cols, ld);
  }
}
