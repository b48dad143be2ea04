/* Using a trained model file (.rtm), in the manner of liblinear's model API: open one, read its
 * summary (spec, training cursor, loss history), read data for it, evaluate it on data, predict,
 * close it. Single process, no MPI. What `ringtrain eval`, `predict` and `inspect` (src/cli) use;
 * the file format itself is include/ringtrain/modelfile.h. Implemented in src/io/model_api.c on the
 * library's private model code (the families' predict and metrics, the run's feature scaling). */
#ifndef RINGTRAIN_PUBLIC_MODEL_API_H
#define RINGTRAIN_PUBLIC_MODEL_API_H

#include <stddef.h>
#include <stdint.h>

#include "ringtrain/config.h"
#include "ringtrain/data.h"
#include "ringtrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A loaded model file: its spec and state checked against each other. Opaque. */
typedef struct rt_model rt_model;

#define RT_MODEL_METRICS_MAX 4

/* What a model learns, which decides how labels are read. */
typedef enum rt_model_kind_of_task {
  RT_MODEL_CLASSIFIES = 0, /* labels are class indices 0..classes-1 */
  RT_MODEL_REGRESSES,      /* labels are real-valued targets */
  RT_MODEL_CLUSTERS        /* labels are ignored */
} rt_model_kind_of_task;

/* What a model file holds. Pointers stay valid until rt_model_close. */
typedef struct rt_model_summary {
  const char *kind; /* "logistic", "kmeans", "linear", "mlp" */
  uint64_t id;      /* the model's id in its run */
  rt_model_kind_of_task task;
  size_t features;         /* feature columns the model reads */
  size_t classes;          /* 0 when it does not classify */
  int label_column;        /* the label column of its training data (-1: none) */
  uint32_t format_version; /* of the file (include/ringtrain/modelfile.h) */
  const uint8_t *sha256;   /* [32]: the file's checksum, verified */
  const char *spec_text;   /* the spec as stored: "key=value\n" lines */
  size_t state_bytes, param_count,
      aux_count;   /* the state buffer, its parameter and optimizer floats */
  uint64_t passes; /* passes it was to train */
  uint64_t passes_done, position, optimizer_steps, samples; /* the training cursor */
  int diverged;                                             /* a training loss was not finite */
  const double *loss_history; /* mean training loss of each pass done: [min(passes_done, passes)] */
  size_t output_width;        /* columns rt_model_predict writes per row */
  size_t metric_count;        /* metrics rt_model_evaluate gives, and their names */
  const char *metric_names[RT_MODEL_METRICS_MAX];
} rt_model_summary;

/* Reads and verifies a model file (include/ringtrain/modelfile.h) and checks that its state fits
 * its spec; errors are RT_ERR_MODEL_FILE naming the file. On failure *out is NULL. */
rt_code rt_model_open(const char *path, rt_model **out, rt_status *st);
/* Releases the model (NULL is fine). */
void rt_model_close(rt_model *m);

void rt_model_summarize(const rt_model *m, rt_model_summary *out);

/* Reads every row of the data file at `path` for the model: the feature columns it was trained on,
 * plus a label column when the file has one more column (label_column: its index; -2: the one
 * stored in the model; -1: none). need_labels: the labels are required (ignored for clustering
 * models). The rows are scaled as the training run scaled its data (data.normalize), and a
 * classifier's labels checked against its classes. Errors are RT_ERR_DATA naming the file. */
rt_code rt_model_read_data(const rt_model *m, const char *path, long label_column, int need_labels,
                           rt_shard *rows, rt_status *st);

/* The model's validation metrics on rows read by rt_model_read_data (names as in the summary),
 * into values[metric_count]. */
rt_code rt_model_evaluate(const rt_model *m, const rt_shard *rows, double *values, rt_status *st);

/* Predictions for `rows` rows of x (row-major, summary.features floats each, as read by
 * rt_model_read_data) into out[rows * output_width]: for classifiers the predicted class and the
 * class probabilities, for regression the prediction, for k-means the nearest centre and its
 * distance. */
rt_code rt_model_predict(const rt_model *m, const float *x, size_t rows, float *out, rt_status *st);
/* Predictions for rows [first, first + n) of rows read by rt_model_read_data (dense, or sparse
 * where the model takes LIBSVM rows as they are), as rt_model_predict. */
rt_code rt_model_predict_rows(const rt_model *m, const rt_shard *rows, size_t first, size_t n,
                              float *out, rt_status *st);
/* The name of prediction column `column` ("predicted", "p0", ...). */
void rt_model_output_name(const rt_model *m, size_t column, char *buf, size_t cap);

/* The metrics the results of a models: entry carry (names without the "val_" prefix), as
 * rt_model_evaluate gives them for its family; 0 for an unknown kind. */
size_t rt_model_config_metric_names(const rt_model_config *model, const char *const **names);

#ifdef __cplusplus
}
#endif
#endif
