/* Optimizers and learning-rate schedules, shared by every gradient-trained family. */
#include "model.h"
#include "scalar_math.h"

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
  const float lr = (float)rt_learning_rate(spec, step);
  if (spec->hp.optimizer == RT_OPT_ADAM) {
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
  if (spec->hp.momentum > 0.0) {
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
