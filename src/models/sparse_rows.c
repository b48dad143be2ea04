/* Sparse products and lazy plain-SGD updates of the families' first layer (sparse_rows.h). */
#include "sparse_rows.h"

#include <math.h>
#include <string.h>

void rt_csr_product(const rt_csr_rows *x, const float *w, size_t ldw, size_t n, float *z,
                    size_t ldz) {
  for (size_t r = 0; r < x->rows; ++r) {
    float *zr = z + r * ldz;
    memset(zr, 0, n * sizeof *zr);
    for (uint64_t k = x->indptr[r]; k < x->indptr[r + 1]; ++k) {
      const float v = x->values[k];
      const float *wr = w + (size_t)x->indices[k] * ldw;
      for (size_t t = 0; t < n; ++t) zr[t] += v * wr[t];
    }
  }
}

void rt_csr_gradient(const rt_csr_rows *x, const float *d, size_t ldd, size_t n, float *gw,
                     size_t ldg) {
  for (size_t r = 0; r < x->rows; ++r) {
    const float *dr = d + r * ldd;
    for (uint64_t k = x->indptr[r]; k < x->indptr[r + 1]; ++k) {
      const float v = x->values[k];
      float *gr = gw + (size_t)x->indices[k] * ldg;
      for (size_t t = 0; t < n; ++t) gr[t] += v * dr[t];
    }
  }
}

int rt_lazy_member(const rt_model_spec *spec) {
  return spec->hp.optimizer == RT_OPT_SGD && !(spec->hp.momentum > 0.0);
}

size_t rt_sparse_settle_period(const rt_model_spec *const *specs, size_t m, size_t batch_rows,
                               float (*decay)(const rt_model_spec *spec)) {
  int any = 0;
  for (size_t i = 0; i < m; ++i) any |= rt_lazy_member(specs[i]) && decay(specs[i]) > 0.0f;
  if (!any || batch_rows == 0) return 1;
  const size_t features = specs[0]->problem.features;
  const size_t p = (features + batch_rows - 1) / batch_rows;
  return p > 0 ? p : 1;
}

void rt_lazy_scale_products(float *z, size_t rows, size_t cols, size_t ld, double scale) {
  if (scale == 1.0) return;
  for (size_t r = 0; r < rows; ++r)
    for (size_t k = 0; k < cols; ++k) z[r * ld + k] = (float)((double)z[r * ld + k] * scale);
}

void rt_lazy_settle_members(float *w, size_t m, size_t features, size_t cols, size_t ld,
                            double *scale) {
  for (size_t i = 0; i < m; ++i) rt_lazy_settle(w + i * cols, features, cols, ld, &scale[i]);
}

void rt_lazy_settle(float *w, size_t features, size_t cols, size_t ld, double *scale) {
  if (*scale == 1.0) return;
  const double s = *scale;
  for (size_t j = 0; j < features; ++j)
    for (size_t t = 0; t < cols; ++t) w[j * ld + t] = (float)((double)w[j * ld + t] * s);
  *scale = 1.0;
}

void rt_lazy_sgd_step(float *w, size_t features, size_t cols, size_t ld, const rt_csr_rows *x,
                      const float *delta, size_t ldd, float lr, float decay, double *scale) {
  if (decay > 0.0f) {
    *scale *= 1.0 - (double)lr * (double)decay;
    if (fabs(*scale) < RT_LAZY_MIN_SCALE) rt_lazy_settle(w, features, cols, ld, scale);
  }
  const double step = (double)lr / *scale;
  for (size_t r = 0; r < x->rows; ++r) {
    const float *dr = delta + r * ldd;
    for (uint64_t k = x->indptr[r]; k < x->indptr[r + 1]; ++k) {
      const double v = step * (double)x->values[k];
      float *wr = w + (size_t)x->indices[k] * ld;
      for (size_t t = 0; t < cols; ++t) wr[t] -= (float)(v * (double)dr[t]);
    }
  }
}
