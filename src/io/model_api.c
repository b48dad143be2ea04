/* The public model-file API (include/ringtrain/model_api.h): a loaded .rtm (src/io/rtm_load.c)
 * behind an opaque handle, its summary, data read and scaled for it, evaluation and prediction
 * with its family's CPU code. What the CLI's eval, predict and inspect use instead of the private
 * model headers. */
#include "ringtrain/model_api.h"

#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "data_internal.h"
#include "dataset.h"
#include "row_source.h"
#include "rtm_load.h"
#include "sparse_rows.h"
#include "view.h"

_Static_assert(RT_MODEL_METRICS_MAX == RT_MAX_METRICS, "one metric limit");
_Static_assert((int)RT_MODEL_CLASSIFIES == (int)RT_TASK_CLASSIFICATION &&
                   (int)RT_MODEL_REGRESSES == (int)RT_TASK_REGRESSION &&
                   (int)RT_MODEL_CLUSTERS == (int)RT_TASK_CLUSTERING,
               "the public task names the family's task");

/* Rows per evaluation or prediction chunk (the workspace is sized for it). */
#define CHUNK_ROWS 256

struct rt_model {
  rt_loaded_model loaded; /* in place: its spec points at its own scaling */
};

rt_code rt_model_open(const char *path, rt_model **out, rt_status *st) {
  *out = NULL;
  rt_model *m = calloc(1, sizeof *m);
  if (!m) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a model");
  rt_code rc = rt_model_load(path, &m->loaded, st);
  if (rc) {
    free(m);
    return rc;
  }
  *out = m;
  return RT_OK;
}

void rt_model_close(rt_model *m) {
  if (!m) return;
  rt_model_unload(&m->loaded);
  free(m);
}

void rt_model_summarize(const rt_model *model, rt_model_summary *out) {
  const rt_loaded_model *m = &model->loaded;
  const rt_state_header *h = (const rt_state_header *)m->file.state;
  memset(out, 0, sizeof *out);
  out->kind = m->spec.hp.kind;
  out->id = m->spec.id;
  out->task = (rt_model_kind_of_task)m->family->task(&m->spec);
  out->features = m->spec.problem.features;
  out->classes = m->spec.problem.classes;
  out->label_column = m->spec.label_column;
  out->format_version = m->file.version;
  out->sha256 = m->file.sha256;
  out->spec_text = m->file.spec_text;
  out->state_bytes = m->file.state_len;
  out->param_count = m->layout.param_count;
  out->aux_count = m->layout.aux_count;
  out->passes = m->spec.passes;
  out->passes_done = h->pass;
  out->position = h->position;
  out->optimizer_steps = h->step;
  out->samples = h->samples;
  out->diverged = h->diverged != 0;
  out->loss_history = (const double *)((const char *)m->file.state + m->layout.history_offset);
  out->output_width = m->family->output_width(&m->spec);
  const char *const *names = NULL;
  out->metric_count = rt_family_metric_names(m->family, &m->spec, &names);
  for (size_t k = 0; k < out->metric_count; ++k) out->metric_names[k] = names[k];
}

rt_code rt_model_read_data(const rt_model *model, const char *path, long label_column,
                           int need_labels, rt_shard *rows, rt_status *st) {
  const rt_loaded_model *m = &model->loaded;
  memset(rows, 0, sizeof *rows);
  const rt_task task = m->family->task(&m->spec);
  if (task == RT_TASK_CLUSTERING) need_labels = 0; /* clustering is evaluated without labels */
  const size_t d = m->spec.problem.data_features;  /* a view picks its columns from these */
  /* A LIBSVM file is read with the training data's columns and first index ("+ 1", 0: auto). */
  rt_data_options opt = {.path = path,
                         .header = -1,
                         .label_column = -1,
                         .libsvm_features = d,
                         .libsvm_base = m->spec.problem.libsvm_base};
  rt_data_info info;
  rt_code rc;
  RT_TRY(rc, rt_data_probe(&opt, &info, st));
  long col = label_column != -2 ? label_column : m->spec.label_column;
  if (info.format == RT_FORMAT_LIBSVM) col = 0; /* every LIBSVM line starts with its label */
  else if (col == -1 || info.columns == d) col = -1;
  if (col >= 0 && info.columns != d + 1)
    return rt_fail(st, RT_ERR_DATA,
                   "%s: expected %zu feature columns (+1 label column), found %zu columns", path, d,
                   info.columns);
  if (col < 0 && need_labels)
    return rt_fail(st, RT_ERR_DATA,
                   "%s: has %zu columns: expected %zu features plus a label column", path,
                   info.columns, d);
  if (col < 0 && info.columns != d)
    return rt_fail(st, RT_ERR_DATA, "%s: expected %zu feature columns, found %zu", path, d,
                   info.columns);
  opt.label_column = (int)col;
  RT_TRY(rc, rt_data_probe(&opt, &info, st));
  RT_TRY(rc, rt_data_read_all(&opt, &info, rows, st));
  /* Sparse rows stay sparse when the family takes them and the model sees them as they are;
   * else they are made dense for it. */
  const int keep_sparse = m->family->eval_rows_sparse && m->family->predict_sparse &&
                          rt_view_all(&m->spec.hp) && m->scaling.kind == RT_NORMALIZE_NONE;
  if (rows->indptr && !keep_sparse) {
    float *x = NULL;
    rc = rt_data_alloc_floats(rows->rows * d, &x, path, st);
    if (rc == RT_OK) rc = rt_shard_copy_rows(rows, 0, rows->rows, x, NULL, st);
    if (rc != RT_OK) {
      free(x);
      rt_shard_free(rows);
      return rc;
    }
    free(rows->indptr), free(rows->indices), free(rows->values);
    rows->indptr = NULL, rows->indices = NULL, rows->values = NULL;
    rows->x = x;
  }
  rt_model_prepare_rows(m, rows);  /* the training run's data.normalize */
  if (!rt_view_all(&m->spec.hp)) { /* then the model's view, as training gathered it */
    const size_t w = m->spec.problem.features;
    float *x = NULL;
    rc = rt_data_alloc_floats(rows->rows * w, &x, path, st);
    if (rc != RT_OK) {
      rt_shard_free(rows);
      return rc;
    }
    rt_view_gather(&m->spec.hp, rows->x, rows->rows, d, x);
    free(rows->x);
    rows->x = x;
    rows->features = w;
  }
  if (rows->y && task == RT_TASK_CLASSIFICATION &&
      (rc = rt_labels_check(&opt, &info, rows, m->spec.problem.classes, st))) {
    rt_shard_free(rows);
    return rc;
  }
  return RT_OK;
}

rt_code rt_model_evaluate(const rt_model *model, const rt_shard *rows, double *values,
                          rt_status *st) {
  const rt_loaded_model *m = &model->loaded;
  float *ws = malloc(m->family->workspace_floats(&m->spec, CHUNK_ROWS) * sizeof *ws);
  if (!ws) return rt_fail(st, RT_ERR_NOMEM, "out of memory");
  double sums[RT_EVAL_SUMS] = {0}, all[RT_MAX_METRICS] = {0};
  rt_cpu_evaluate_shard(&m->spec, m->family, m->file.state, rows, ws, CHUNK_ROWS, sums);
  m->family->metrics(&m->spec, sums, rows->rows, all);
  free(ws);
  const char *const *names = NULL;
  const size_t count = rt_family_metric_names(m->family, &m->spec, &names);
  for (size_t k = 0; k < count; ++k) values[k] = all[k];
  return RT_OK;
}

/* Predictions for n rows, chunk by chunk: dense rows x (d floats each), or (x NULL) the sparse
 * rows [first, first + n) of `sparse`. */
static rt_code predict_chunks(const rt_model *model, const float *x, const rt_shard *sparse,
                              size_t first, size_t n, float *out, rt_status *st) {
  const rt_loaded_model *m = &model->loaded;
  const size_t width = m->family->output_width(&m->spec), d = m->spec.problem.features;
  const size_t chunk = n < CHUNK_ROWS ? n : CHUNK_ROWS;
  float *ws = malloc((m->family->workspace_floats(&m->spec, chunk ? chunk : 1) + 1) * sizeof *ws);
  if (!ws) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate prediction buffers");
  const float *params = (const float *)((const char *)m->file.state + m->layout.params_offset);
  for (size_t at = 0; at < n; at += chunk) {
    const size_t k = at + chunk <= n ? chunk : n - at;
    if (x) {
      m->family->predict(&m->spec, params, x + at * d, k, out + at * width, ws);
    } else {
      const rt_csr_rows xs = {k, sparse->indptr + first + at, sparse->indices, sparse->values, 0};
      m->family->predict_sparse(&m->spec, params, &xs, out + at * width, ws);
    }
  }
  free(ws);
  return RT_OK;
}

rt_code rt_model_predict(const rt_model *model, const float *x, size_t rows, float *out,
                         rt_status *st) {
  return predict_chunks(model, x, NULL, 0, rows, out, st);
}

rt_code rt_model_predict_rows(const rt_model *model, const rt_shard *rows, size_t first, size_t n,
                              float *out, rt_status *st) {
  if (rows->x) return rt_model_predict(model, rows->x + first * rows->features, n, out, st);
  return predict_chunks(model, NULL, rows, first, n, out, st);
}

void rt_model_output_name(const rt_model *model, size_t column, char *buf, size_t cap) {
  const rt_loaded_model *m = &model->loaded;
  m->family->output_name(&m->spec, column, buf, cap);
}

size_t rt_model_config_metric_names(const rt_model_config *model, const char *const **names) {
  *names = NULL;
  const rt_family *fam = rt_family_find(model->kind);
  if (!fam) return 0;
  rt_model_spec spec;
  memset(&spec, 0, sizeof spec);
  spec.hp = *model;
  return rt_family_metric_names(fam, &spec, names);
}
