/* A model's view of the data (its `features` key): half-open ranges of the data's feature columns,
 * in the order given. Rows are gathered into the model's input batch by batch; the data itself
 * is never copied per view. Without a view (view_count 0) the model sees every column as is. */
#ifndef RINGTRAIN_VIEW_H
#define RINGTRAIN_VIEW_H

#include <stddef.h>
#include <string.h>

#include "ringtrain/config.h"
#include "ringtrain/status.h"

static inline int rt_view_all(const rt_model_config *hp) { return hp->view_count == 0; }

/* Columns the model sees of rows of data_features columns. */
static inline size_t rt_view_width(const rt_model_config *hp, size_t data_features) {
  if (rt_view_all(hp)) return data_features;
  size_t w = 0;
  for (int i = 0; i < hp->view_count; i += 2) w += (size_t)(hp->view[i + 1] - hp->view[i]);
  return w;
}

/* Whether two models see the same columns in the same order. */
static inline int rt_view_same(const rt_model_config *a, const rt_model_config *b) {
  return a->view_count == b->view_count &&
         memcmp(a->view, b->view, (size_t)a->view_count * sizeof a->view[0]) == 0;
}

/* The view's columns of `rows` rows of data_features columns (x) into out (rows x width). */
static inline void rt_view_gather(const rt_model_config *hp, const float *x, size_t rows,
                                  size_t data_features, float *out) {
  for (size_t r = 0; r < rows; ++r) {
    const float *row = x + r * data_features;
    for (int i = 0; i < hp->view_count; i += 2) {
      const size_t n = (size_t)(hp->view[i + 1] - hp->view[i]);
      memcpy(out, row + hp->view[i], n * sizeof *out);
      out += n;
    }
  }
}

/* The model's input rows: its view's columns (every column without one) of `rows` rows of
 * data_features columns, scaled when offset is not NULL by the one scaling formula
 * x' = (x - offset) * scale (float), column by column with the data's column's offset and scale:
 * the bits in-place scaling of the whole rows followed by the gather would give. */
static inline void rt_view_input(const rt_model_config *hp, const float *offset, const float *scale,
                                 const float *x, size_t rows, size_t data_features, float *out) {
  if (!offset) {
    if (rt_view_all(hp)) memcpy(out, x, rows * data_features * sizeof *out);
    else rt_view_gather(hp, x, rows, data_features, out);
    return;
  }
  for (size_t r = 0; r < rows; ++r) {
    const float *row = x + r * data_features;
    if (rt_view_all(hp)) {
      for (size_t c = 0; c < data_features; ++c) *out++ = (row[c] - offset[c]) * scale[c];
      continue;
    }
    for (int i = 0; i < hp->view_count; i += 2)
      for (size_t c = (size_t)hp->view[i]; c < (size_t)hp->view[i + 1]; ++c)
        *out++ = (row[c] - offset[c]) * scale[c];
  }
}

/* Every column of the view exists in rows of data_features columns; else RT_ERR_CONFIG naming
 * the column and the data's width (the caller's prefix names the config and the model). */
static inline rt_code rt_view_check(const rt_model_config *hp, size_t data_features,
                                    const char *prefix, rt_status *st) {
  for (int i = 0; i < hp->view_count; i += 2)
    if ((size_t)hp->view[i + 1] > data_features)
      return rt_fail(st, RT_ERR_CONFIG,
                     "%sfeatures: column %ld is past the data's %zu feature columns (expected "
                     "columns 0..%zu, ranges a:b with b <= %zu)",
                     prefix, hp->view[i + 1] - 1, data_features, data_features - 1, data_features);
  return RT_OK;
}

#endif
