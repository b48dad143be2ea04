/* What every classifying family (logistic, mlp classification) does with its output layer
 * (classify.h): softmax of rows, the predicted class (first maximum wins), prediction columns
 * and the log-loss and accuracy sums of an evaluation. */
#include "classify.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "exp_floats.h"
#include "scalar_math.h"

void rt_softmax_rows(float *z, size_t rows, size_t c) { rt_softmax_rows_ld(z, rows, c, c); }

/* Floats of shifted logits exponentiated at once (rt_exp_floats), rows after rows. */
#define RT_SOFTMAX_CHUNK 1024

/* One row of more than RT_SOFTMAX_CHUNK logits: shifted by its maximum m, exponentiated piece by
 * piece and summed in column order, then scaled. */
static void softmax_long_row(float *zi, size_t c, float m, float *buf) {
  float s = 0.0f;
  for (size_t k0 = 0; k0 < c; k0 += RT_SOFTMAX_CHUNK) {
    const size_t n = c - k0 < RT_SOFTMAX_CHUNK ? c - k0 : RT_SOFTMAX_CHUNK;
    for (size_t k = 0; k < n; ++k) buf[k] = zi[k0 + k] - m;
    rt_exp_floats(buf, n);
    for (size_t k = 0; k < n; ++k) {
      zi[k0 + k] = buf[k];
      s += buf[k];
    }
  }
  const float inv = 1.0f / s;
  for (size_t k = 0; k < c; ++k) zi[k] *= inv;
}

static float row_max(const float *zi, size_t c) {
  float m = -INFINITY;
  for (size_t k = 0; k < c; ++k)
    if (zi[k] > m) m = zi[k];
  return m;
}

/* Per row: e^(z - max), summed in column order, times 1 / sum. The exponentials of as many rows as
 * fit RT_SOFTMAX_CHUNK floats are taken at once (rt_exp_floats: a value's result does not depend
 * on where it sits), so every row gets the same numbers whatever ld and rows are. */
void rt_softmax_rows_ld(float *z, size_t rows, size_t c, size_t ld) {
  float buf[RT_SOFTMAX_CHUNK];
  for (size_t i = 0; i < rows;) {
    if (c > RT_SOFTMAX_CHUNK) {
      float *zi = z + i * ld;
      softmax_long_row(zi, c, row_max(zi, c), buf);
      ++i;
      continue;
    }
    const size_t first = i;
    size_t n = 0;
    for (; i < rows && n + c <= RT_SOFTMAX_CHUNK; ++i) {
      const float *zi = z + i * ld;
      const float m = row_max(zi, c);
      for (size_t k = 0; k < c; ++k) buf[n++] = zi[k] - m;
    }
    rt_exp_floats(buf, n);
    n = 0;
    for (size_t r = first; r < i; ++r) {
      float *zi = z + r * ld, s = 0.0f;
      for (size_t k = 0; k < c; ++k) {
        zi[k] = buf[n++];
        s += zi[k];
      }
      const float inv = 1.0f / s;
      for (size_t k = 0; k < c; ++k) zi[k] *= inv;
    }
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
