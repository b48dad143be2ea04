/* What every classifying family (logistic, mlp classification) does with its output layer
 * (classify.h): softmax of rows, the predicted class (first maximum wins), prediction columns
 * and the log-loss and accuracy sums of an evaluation. */
#include "classify.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "scalar_math.h"

void rt_softmax_rows(float *z, size_t rows, size_t c) { rt_softmax_rows_ld(z, rows, c, c); }

void rt_softmax_rows_ld(float *z, size_t rows, size_t c, size_t ld) {
  for (size_t i = 0; i < rows; ++i) {
    float *zi = z + i * ld;
    float m = -INFINITY;
    for (size_t k = 0; k < c; ++k)
      if (zi[k] > m) m = zi[k];
    float s = 0.0f;
    for (size_t k = 0; k < c; ++k) {
      zi[k] = expf(zi[k] - m);
      s += zi[k];
    }
    const float inv = 1.0f / s;
    for (size_t k = 0; k < c; ++k) zi[k] *= inv;
  }
}

size_t rt_argmax(const float *p, size_t n) {
  size_t best = 0;
  for (size_t k = 1; k < n; ++k)
    if (p[k] > p[best]) best = k;
  return best;
}

void rt_class_predict_rows(const float *probs, size_t rows, size_t c, float *out) {
  for (size_t i = 0; i < rows; ++i) {
    const float *p = probs + i * c;
    float *o = out + i * (c + 1);
    o[0] = (float)rt_argmax(p, c);
    memcpy(o + 1, p, c * sizeof *p);
  }
}

void rt_class_eval_sums(const float *probs, const float *y, size_t rows, size_t c, double *sums) {
  for (size_t i = 0; i < rows; ++i) {
    const float *p = probs + i * c;
    const size_t label = (size_t)y[i];
    sums[1] += rt_argmax(p, c) == label;
    sums[0] -= log((double)rt_loss_probability(p[label]));
  }
}

void rt_class_output_name(size_t column, char *buf, size_t cap) {
  if (column == 0) snprintf(buf, cap, "predicted");
  else snprintf(buf, cap, "p%zu", column - 1);
}
