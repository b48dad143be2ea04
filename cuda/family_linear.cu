/* CUDA kernels of the linear family (exact and sgd solvers), behind the shared per-batch driver of
 * compute.cu; mirrors src/models/family_linear.c step by step. exact: the batch shifted by the first row
 * and converted to double on the device, G by cublasDsyrk (lower column-major = the CPU's upper
 * row-major), r by cublasDgemv, sum y'^2 by a fixed-order block sum: the CPU's aux layout, sums
 * equal to double rounding; the solve (family finish) stays on the host (src/engine/train.c applies
 * it). sgd: X w and X^T e as products of gemm.h with one column (a fused group's bits), the shared residual kernel (family_shared.cu: the CPU's float
 * expressions), the intercept gradient a row-order column sum, the ridge alpha/train_rows folded
 * into the driver's optimizer kernel. Evaluation: squared and absolute errors, y and y^2 per row.
 * Nothing adds floating-point values atomically; every reduction has a fixed order. */
#include "rt_cuda.h"

#include <math.h>

#include "row_math.cuh"
#include "rt_cuda_internal.h"

namespace {

/* The exact solver's aux layout, as family_linear.c defines it (doubles): head [0, 8), x0
 * [8, 8 + pad8(d)), G (q x q, row-major upper), r (q), w (q); q = d + 1. */
enum { LIN_ROWS = 0, LIN_Y0 = 1, LIN_SYY = 2, LIN_HEAD = 8 };

size_t pad8(size_t n) { return (n + 7) / 8 * 8; }

bool linear_exact(const rt_model_spec *spec) { return spec->hp.solver == RT_SOLVER_EXACT; }

size_t linear_params(const rt_model_spec *spec) {
  return spec->problem.features + (spec->hp.fit_intercept ? 1 : 0);
}

struct linear_ws {
  float *grad;    /* sgd: the gradient (w, then b) */
  float *e;       /* sgd: rows, X w, then the residuals / rows */
  double *xd;     /* exact: rows x q, the shifted batch with its column of ones */
  double *yd;     /* exact: rows, y - y0 */
  double *ysq;    /* exact: rows, (y - y0)^2 */
  float *blas_ws; /* exact: cuBLAS's workspace (kRtBlasWorkspaceBytes) */
};

linear_ws linear_carve(const rt_model_spec *spec, size_t rows, float *base, size_t *used) {
  rt_work_carver w = {base, 0};
  linear_ws o = {};
  if (linear_exact(spec)) {
    o.xd = w.doubles(rows * (spec->problem.features + 1));
    o.yd = w.doubles(rows);
    o.ysq = w.doubles(rows);
    o.blas_ws = w.floats(kRtBlasWorkspaceBytes / sizeof(float));
  } else {
    o.grad = w.floats(linear_params(spec));
    o.e = w.floats(rows);
  }
  if (used) *used = w.used;
  return o;
}

size_t linear_work(const rt_model_spec *spec, size_t rows) {
  size_t used = 0;
  (void)linear_carve(spec, rows, nullptr, &used);
  return used;
}

rt_code linear_check(const rt_model_spec *spec, size_t rows, int has_labels, rt_status *st) {
  rt_code rc = rt_cuda_check_dim(spec, "features + 1", spec->problem.features + 1, st);
  if (rc == RT_OK && linear_exact(spec))
    rc = rt_cuda_check_dim(spec, "rows x (features + 1)", rows * (spec->problem.features + 1), st);
  if (rc == RT_OK) rc = rt_cuda_needs_labels(spec, has_labels, st);
  return rc;
}

/* The first row the model integrates fixes the shift (x0, y0). One block. */
__global__ void linear_shift_kernel(const rt_state_header *h, double *head, double *x0,
                                    const float *x, const float *y, int d) {
  if (h->diverged || head[LIN_ROWS] != 0.0) return;
  for (int j = threadIdx.x; j < d; j += blockDim.x) x0[j] = (double)x[j];
  if (threadIdx.x == 0) head[LIN_Y0] = (double)y[0];
}

/* x~ = (x - x0, 1), y' = y - y0 and y'^2 in double, exactly exact_accumulate()'s loop. Zeros once
 * the model has diverged, so the cuBLAS updates that follow add nothing (the CPU skips the
 * batch; +0 leaves every finite or non-finite sum as it is). */
__global__ void linear_convert_kernel(const rt_state_header *h, const double *head,
                                      const double *x0, const float *x, const float *y, int rows,
                                      int d, double *xd, double *yd, double *ysq) {
  const bool off = h->diverged != 0;
  const size_t q = (size_t)d + 1, n = (size_t)rows * q;
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  const size_t first = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  for (size_t idx = first; idx < n; idx += stride) {
    const size_t i = idx / q, j = idx % q;
    xd[idx] = off ? 0.0 : j < (size_t)d ? (double)x[i * (size_t)d + j] - x0[j] : 1.0;
  }
  const double y0 = head[LIN_Y0];
  for (size_t i = first; i < (size_t)rows; i += stride) {
    const double v = (double)y[i] - y0;
    yd[i] = off ? 0.0 : v;
    ysq[i] = off ? 0.0 : v * v;
  }
}

/* One block, after the cuBLAS updates: syy += sum y'^2 (fixed order), rows += rows, and the
 * batch's "loss": syy * 0 + sum_j (G_jj * 0 + r_j * 0), i.e. 0, or NaN once a sum is not finite
 * (exact_accumulate()). */
__global__ void linear_stats_end_kernel(const rt_state_header *h, double *head, const double *g,
                                        const double *r, const double *ysq, int rows, int q,
                                        double *loss) {
  __shared__ double sh[kBlockThreads];
  if (h->diverged) { /* uniform; the batch's loss becomes NaN through the flag anyway */
    if (threadIdx.x == 0) loss[0] = 0.0;
    return;
  }
  const double s = rt_fixed_sum(ysq, rows, sh);
  if (threadIdx.x != 0) return;
  const double syy = head[LIN_SYY] + s;
  head[LIN_SYY] = syy;
  head[LIN_ROWS] += (double)rows;
  double check = syy * 0.0;
  for (int j = 0; j < q; ++j) check += g[(size_t)j * (size_t)q + (size_t)j] * 0.0 + r[j] * 0.0;
  loss[0] = check;
}

/* linear_eval_rows(): y^ = b + sum_j p_j x_j in double (features in order); sums (y^ - y)^2,
 * |y^ - y|, y, y^2. */
__global__ void linear_eval_kernel(const float *p, const float *x, const float *y, int rows, int d,
                                   int fit_intercept, double *cols, size_t stride) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  const float *xi = x + (size_t)i * (size_t)d;
  double acc = fit_intercept ? (double)p[d] : 0.0;
  for (int j = 0; j < d; ++j) acc += (double)p[j] * (double)xi[j];
  const double t = (double)y[i], e = acc - t;
  cols[i] = e * e;
  cols[stride + i] = fabs(e);
  cols[2 * stride + i] = t;
  cols[3 * stride + i] = t * t;
}

rt_code linear_exact_batch(rt_cuda_slot *slot, const rt_cuda_batch *b, rt_cuda_batch_out *out,
                           rt_status *st) {
  const int d = (int)b->spec->problem.features, q = d + 1, r = b->rows;
  const linear_ws w = linear_carve(b->spec, (size_t)r, slot->work, nullptr);
  double *head = (double *)(void *)b->aux, *x0 = head + LIN_HEAD;
  double *g = x0 + pad8((size_t)d), *rv = g + (size_t)q * (size_t)q;
  linear_shift_kernel<<<1, kBlockThreads, 0, slot->stream>>>(b->dh, head, x0, b->x, b->y, d);
  RT_CUDA_CHECK_LAUNCH(st);
  const size_t n = (size_t)r * (size_t)q;
  linear_convert_kernel<<<rt_cuda_elem_blocks(n), kRtElemThreads, 0, slot->stream>>>(
      b->dh, head, x0, b->x, b->y, r, d, w.xd, w.yd, w.ysq);
  RT_CUDA_CHECK_LAUNCH(st);
  /* Column-major, xd is M (q x rows) with the shifted rows as columns: G += M M^T. The CPU's
   * row-major upper triangle is the column-major lower one; r += M y'. */
  const double one = 1.0;
  rt_code rc;
  RT_TRY(rc, rt_cuda_slot_blas(slot, w.blas_ws, st));
  RT_CUBLAS_CHECK(st, cublasDsyrk(slot->blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, q, r, &one, w.xd,
                                  q, &one, g, q));
  RT_CUBLAS_CHECK(st,
                  cublasDgemv(slot->blas, CUBLAS_OP_N, q, r, &one, w.xd, q, w.yd, 1, &one, rv, 1));
  linear_stats_end_kernel<<<1, kBlockThreads, 0, slot->stream>>>(b->dh, head, g, rv, w.ysq, r, q,
                                                                 slot->row_vals);
  RT_CUDA_CHECK_LAUNCH(st);
  out->loss_n = 1;
  out->gradient = 0;
  return RT_OK;
}

rt_code linear_sgd_batch(rt_cuda_slot *slot, const rt_cuda_batch *b, rt_cuda_batch_out *out,
                         rt_status *st) {
  const int d = (int)b->spec->problem.features, r = b->rows;
  const int fi = b->spec->hp.fit_intercept != 0;
  const linear_ws w = linear_carve(b->spec, (size_t)r, slot->work, nullptr);
  /* Row-major X (rows x d) is column-major A (d x rows): X w = A^T w, X^T e = A e, each as a
   * product with one column (gemm.h), the same bits as a fused group's (group.cu). */
  rt_code rc;
  RT_TRY(rc, rt_cuda_gemm_issue(slot->stream, 1, 0, r, 1, d, b->x, d, 0, b->params, d, 0, w.e, r, 0,
                                1, st));
  RT_TRY(rc,
         rt_cuda_residual(slot, w.e, fi ? b->params + d : nullptr, b->y, r, slot->row_vals, st));
  RT_TRY(rc, rt_cuda_gemm_issue(slot->stream, 0, 0, d, 1, r, b->x, d, 0, w.e, r, 0, w.grad, d, 0, 1,
                                st));
  if (fi) RT_TRY(rc, rt_cuda_column_sums(slot, w.e, r, 1, w.grad + d, st));
  out->loss_n = r;
  out->gradient = 1;
  out->l2 = rt_cuda_linear_ridge(b->spec); /* on the weights, not the intercept */
  out->nw = (size_t)d;
  return RT_OK;
}

rt_code linear_batch(rt_cuda_slot *slot, const rt_cuda_batch *b, rt_cuda_batch_out *out,
                     rt_status *st) {
  return linear_exact(b->spec) ? linear_exact_batch(slot, b, out, st)
                               : linear_sgd_batch(slot, b, out, st);
}

rt_code linear_eval(rt_cuda_slot *slot, const rt_cuda_batch *b, int *sums_n, rt_status *st) {
  const int d = (int)b->spec->problem.features, r = b->rows;
  linear_eval_kernel<<<rt_cuda_row_blocks(r), kRowThreads, 0, slot->stream>>>(
      b->params, b->x, b->y, r, d, b->spec->hp.fit_intercept != 0, slot->row_vals, slot->max_rows);
  RT_CUDA_CHECK_LAUNCH(st);
  *sums_n = 4;
  return RT_OK;
}

} /* namespace */

/* The ridge coefficient of the per-row objective: alpha / train_rows (family_linear.c); shared
 * with fused groups (group.cu). */
float rt_cuda_linear_ridge(const rt_model_spec *spec) {
  const double n = (double)spec->problem.train_rows;
  return (float)(n > 0.0 ? spec->hp.alpha / n : spec->hp.alpha);
}

const rt_cuda_family rt_cuda_family_linear = {linear_work, linear_check, linear_batch, linear_eval,
                                              nullptr};
