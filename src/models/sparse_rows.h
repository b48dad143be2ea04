/* Sparse input rows (CSR) for the families' products, so that a batch of LIBSVM rows costs what
 * its non-zeros cost, not rows x features: the first product of logistic, linear (solver sgd) and
 * the MLP, Z = X W, and its gradient, GW = X^T D, and the lazy plain-SGD update that touches only
 * the weight rows a batch has non-zeros in.
 *
 * Arithmetic: every output element is a sum over one row's non-zeros in ascending column order
 * (forward) or over the batch's rows in row order (gradient), computed the same way whatever the
 * number of columns n: a member's columns in a group's product have exactly its solo bits. Against
 * the dense path on the same rows the sums run in another order: equal to rounding.
 *
 * Lazy updates: plain SGD (no momentum, no Adam) leaves a weight row with a zero gradient alone
 * except for its L2 decay w <- w - lr * l2 * w. That decay is kept as one scale per member (w =
 * scale * v, v stored), so a batch reads and writes only the weight rows of its non-zeros, each
 * non-zero's update applied as it comes (no gradient array: its memory traffic would cost more
 * than the arithmetic). The stored weights are settled
 * (v multiplied by the scale, the scale back to 1) at fixed batches of a visit: every
 * rt_sparse_settle_period batches, after the visit's last batch, and when the scale falls below
 * RT_LAZY_MIN_SCALE. A visit stops between batches only at settled points, so a stop and resume
 * give the bits an uninterrupted run gives. */
#ifndef RINGTRAIN_SPARSE_ROWS_H
#define RINGTRAIN_SPARSE_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* A batch (or evaluation chunk) of sparse rows: row r's non-zeros are columns indices[k]
 * (ascending) with values values[k], k in [indptr[r], indptr[r + 1]) (offsets into the shard's
 * arrays: a batch is a slice of its shard, not a copy). */
typedef struct rt_csr_rows {
  size_t rows;
  const uint64_t *indptr; /* rows + 1 */
  const uint32_t *indices;
  const float *values;
  /* Training batches: settle the lazy scales after this batch (the backend sets it by
   * rt_sparse_settle_period and on a visit's last batch). */
  int settle;
} rt_csr_rows;

/* A scale below this (in magnitude) is settled at once, before it loses precision. */
#define RT_LAZY_MIN_SCALE 1e-6

/* Z (rows x n, row stride ldz) = X W, with W features x n at row stride ldw. */
void rt_csr_product(const rt_csr_rows *x, const float *w, size_t ldw, size_t n, float *z,
                    size_t ldz);

/* GW (features x n, row stride ldg) += X^T D, D rows x n at row stride ldd: only the rows of GW
 * that the batch has non-zeros in change. */
void rt_csr_gradient(const rt_csr_rows *x, const float *d, size_t ldd, size_t n, float *gw,
                     size_t ldg);

/* Whether a member updates lazily on sparse batches: plain SGD (no optimizer state). */
int rt_lazy_member(const rt_model_spec *spec);

/* Batches between settles of a group of m members (decay: a member's L2 decay coefficient, the
 * one its lazy steps take; 0 for none) when some rt_lazy_member decays: about features / batch
 * rows, so that settling (features x columns work) costs about what the batches between cost; 1
 * when none does (nothing to settle). */
size_t rt_sparse_settle_period(const rt_model_spec *const *specs, size_t m, size_t batch_rows,
                               float (*decay)(const rt_model_spec *spec));

/* Products of a lazy member's stored weights (rows x cols at row stride ld) made those of its
 * weights: times its scale (nothing at scale 1). */
void rt_lazy_scale_products(float *z, size_t rows, size_t cols, size_t ld, double scale);

/* Settles every member of a group: member i's weights start at w + i * cols (features rows at
 * row stride ld). */
void rt_lazy_settle_members(float *w, size_t m, size_t features, size_t cols, size_t ld,
                            double *scale);

/* One lazy plain-SGD step of a member's weights (features rows x cols at row stride ld, holding
 * w / *scale) on sparse rows x with the member's deltas (x->rows x cols at row stride ldd, dL/dz
 * of the batch mean): the L2 decay (coefficient decay, learning rate lr) into *scale, then
 * w -= lr * x_rj * delta_r for each non-zero x_rj, rows in order and each row's non-zeros in
 * column order: only the rows of w the batch touches are read or written (no gradient array). */
void rt_lazy_sgd_step(float *w, size_t features, size_t cols, size_t ld, const rt_csr_rows *x,
                      const float *delta, size_t ldd, float lr, float decay, double *scale);

/* Settles a member's weights: w *= *scale, *scale = 1 (nothing when it is 1). */
void rt_lazy_settle(float *w, size_t features, size_t cols, size_t ld, double *scale);

/* Floats a group buffer keeps for the lazy scales of m members (doubles, 64-byte aligned where
 * the buffer puts them: before the batch-size dependent scratch, so that gather and scatter find
 * them whatever the batch size). */
static inline size_t rt_lazy_scales_floats(size_t m) { return (2 * m + 15) / 16 * 16; }
/* A visit's start (group_gather): every scale 1. */
static inline void rt_lazy_scales_reset(double *scale, size_t m) {
  for (size_t i = 0; i < m; ++i) scale[i] = 1.0;
}

#endif
