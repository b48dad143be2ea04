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

void rt_optimizer_step(const rt_model_spec *spec, float *params, float *aux, const float *grad,
                       size_t n, uint64_t step) {
  const float lr = (float)rt_learning_rate(spec, step);
  if (spec->hp.optimizer == RT_OPT_ADAM) {
    const float b1 = (float)spec->hp.beta1, b2 = (float)spec->hp.beta2;
    /* Bias corrections folded into the step size, computed once per step in double. */
    const float c1 = (float)rt_adam_bias_correction(spec->hp.beta1, step);
    const float c2 = (float)rt_adam_bias_correction(spec->hp.beta2, step);
    const float eps = (float)spec->hp.epsilon;
    float *m = aux, *v = aux + n;
    for (size_t i = 0; i < n; ++i)
      rt_adam_update(&params[i], &m[i], &v[i], grad[i], lr, b1, b2, c1, c2, eps);
    return;
  }
  if (spec->hp.momentum > 0.0) {
    const float mu = (float)spec->hp.momentum;
    for (size_t i = 0; i < n; ++i) rt_momentum_update(&params[i], &aux[i], grad[i], lr, mu);
    return;
  }
  for (size_t i = 0; i < n; ++i) rt_sgd_update(&params[i], grad[i], lr);
}
