/* What every classifying family (logistic, mlp classification) does with its output layer:
 * softmax, the predicted class (first maximum wins, as in the CUDA kernels), prediction columns
 * and the evaluation sums [0] log-loss, [1] correct predictions. */
#ifndef RINGTRAIN_CLASSIFY_H
#define RINGTRAIN_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

/* Row-wise softmax of rows x c logits in place: e^(z - max) by rt_exp_floats (exp_floats.h), summed
 * in column order, times 1 / sum. */
void rt_softmax_rows(float *z, size_t rows, size_t c);
/* The same for c columns of rows at row stride ld (one member's segment of a fused group's
 * logits); every row gets the arithmetic of rt_softmax_rows whatever ld is. */
void rt_softmax_rows_ld(float *z, size_t rows, size_t c, size_t ld);
size_t rt_argmax(const float *p, size_t n);
/* out: per row the predicted class, then the c probabilities (c + 1 columns). */
void rt_class_predict_rows(const float *probs, size_t rows, size_t c, float *out);
/* Adds log-loss and correct predictions of rows with labels y into sums[0], sums[1]. */
void rt_class_eval_sums(const float *probs, const float *y, size_t rows, size_t c, double *sums);
/* "predicted", "p0", "p1", ... */
void rt_class_output_name(size_t column, char *buf, size_t cap);

#endif
