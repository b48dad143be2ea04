/* Optimizers and learning-rate schedules, shared by every gradient-trained family. */
#include <math.h>

#include "model.h"

static const double rt_pi = 3.14159265358979323846;

size_t rt_optimizer_aux_count(const rt_model_spec *spec, size_t param_count) {
  switch (spec->hp.optimizer) {
    case RT_OPT_ADAM: return 2 * param_count;   /* first and second moments */
    case RT_OPT_SGD: return spec->hp.momentum > 0.0 ? param_count : 0; /* velocity */
  }
  return 0;
}

double rt_learning_rate(const rt_model_spec *spec, uint64_t step) {
  const double lr = spec->hp.learning_rate;
  switch (spec->hp.schedule) {
    case RT_SCHED_CONSTANT: return lr;
    case RT_SCHED_INVERSE_TIME: return lr / (1.0 + spec->hp.decay * (double)step);
    case RT_SCHED_COSINE: {
      const double total = (double)(spec->total_batches * spec->passes);
      if (total <= 1.0) return lr;
      double t = (double)step / total;
      if (t > 1.0) t = 1.0;
      return 0.5 * lr * (1.0 + cos(rt_pi * t));
    }
  }
  return lr;
}

void rt_optimizer_step(const rt_model_spec *spec, float *params, float *aux, const float *grad,
                       size_t n, uint64_t step) {
  const float lr = (float)rt_learning_rate(spec, step);
  if (spec->hp.optimizer == RT_OPT_ADAM) {
    const float b1 = (float)spec->hp.beta1, b2 = (float)spec->hp.beta2;
    const double t = (double)step + 1.0;
    /* Bias corrections folded into the step size, computed once per step in double. */
    const float c1 = (float)(1.0 / (1.0 - pow(spec->hp.beta1, t)));
    const float c2 = (float)(1.0 / (1.0 - pow(spec->hp.beta2, t)));
    const float eps = (float)spec->hp.epsilon;
    float *m = aux, *v = aux + n;
    for (size_t i = 0; i < n; ++i) {
      const float g = grad[i];
      m[i] = b1 * m[i] + (1.0f - b1) * g;
      v[i] = b2 * v[i] + (1.0f - b2) * g * g;
      params[i] -= lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
    }
    return;
  }
  if (spec->hp.momentum > 0.0) {
    const float mu = (float)spec->hp.momentum;
    for (size_t i = 0; i < n; ++i) {
      aux[i] = mu * aux[i] + grad[i];
      params[i] -= lr * aux[i];
    }
    return;
  }
  for (size_t i = 0; i < n; ++i) params[i] -= lr * grad[i];
}
