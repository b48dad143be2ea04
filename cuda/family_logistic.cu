/* CUDA kernels of the logistic (softmax regression) family, behind the shared per-batch driver of
 * compute.cu; mirrors src/models/family_logistic.c step by step: logits by the product of gemm.h, softmax and
 * per-row losses by the shared softmax cross-entropy kernel (family_shared.cu), the weight
 * gradient X^T G by the same product, the bias gradient a row-order column sum, L2 on the weights folded into
 * the driver's optimizer kernel (gw + l2 * w, before the update). Evaluation: log-loss and correct
 * predictions per row. */
#include "rt_cuda.h"

#include "rt_cuda_internal.h"

namespace {

/* Workspace: the gradient (W then b), then logits / probabilities / dL/dlogits (rows x c). */
struct logistic_ws {
  float *grad, *prob;
};

logistic_ws logistic_carve(const rt_model_spec *spec, size_t rows, float *base, size_t *used) {
  const size_t d = spec->problem.features, c = spec->problem.classes;
  rt_work_carver w = {base, 0};
  logistic_ws o;
  o.grad = w.floats((d + 1) * c);
  o.prob = w.floats(rows * c);
  if (used) *used = w.used;
  return o;
}

size_t logistic_work(const rt_model_spec *spec, size_t rows) {
  size_t used = 0;
  (void)logistic_carve(spec, rows, nullptr, &used);
  return used;
}

rt_code logistic_check(const rt_model_spec *spec, size_t rows, int has_labels, rt_status *st) {
  (void)rows;
  const size_t d = spec->problem.features, c = spec->problem.classes;
  rt_code rc;
  if ((rc = rt_cuda_check_dim(spec, "classes", c, st)) ||
      (rc = rt_cuda_check_dim(spec, "features x classes", d * c, st)))
    return rc;
  return rt_cuda_needs_labels(spec, has_labels, st);
}

rt_code logistic_batch(rt_cuda_slot *slot, const rt_cuda_batch *b, rt_cuda_batch_out *out,
                       rt_status *st) {
  const rt_model_spec *spec = b->spec;
  const int d = (int)spec->problem.features, c = (int)spec->problem.classes, r = b->rows;
  const logistic_ws w = logistic_carve(spec, (size_t)r, slot->work, nullptr);
  const float *wt = b->params, *bias = b->params + (size_t)d * (size_t)c;
  float *gw = w.grad, *gb = w.grad + (size_t)d * (size_t)c;
  rt_code rc;
  if ((rc = rt_cuda_rm_sgemm(slot, 0, 0, r, c, d, b->x, wt, w.prob, st)) ||
      (rc = rt_cuda_softmax_xent(slot, w.prob, bias, b->y, r, c, slot->row_vals, st)) ||
      /* gW (d x c) = X^T G */
      (rc = rt_cuda_rm_sgemm(slot, 1, 0, d, c, r, b->x, w.prob, gw, st)) ||
      (rc = rt_cuda_column_sums(slot, w.prob, r, c, gb, st)))
    return rc;
  out->loss_n = r;
  out->gradient = 1;
  out->l2 = (float)spec->hp.l2; /* gw + l2 * w in the optimizer kernel */
  out->nw = (size_t)d * (size_t)c;
  return RT_OK;
}

/* sums: [0] log-loss, [1] correct predictions. */
rt_code logistic_eval(rt_cuda_slot *slot, const rt_cuda_batch *b, int *sums_n, rt_status *st) {
  const rt_model_spec *spec = b->spec;
  const int d = (int)spec->problem.features, c = (int)spec->problem.classes, r = b->rows;
  const logistic_ws w = logistic_carve(spec, (size_t)r, slot->work, nullptr);
  rt_code rc;
  if ((rc = rt_cuda_rm_sgemm(slot, 0, 0, r, c, d, b->x, b->params, w.prob, st)) ||
      (rc = rt_cuda_softmax_eval(slot, w.prob, b->params + (size_t)d * (size_t)c, b->y, r, c,
                                 slot->row_vals, slot->row_vals + slot->max_rows, st)))
    return rc;
  *sums_n = 2;
  return RT_OK;
}

} /* namespace */

const rt_cuda_family rt_cuda_family_logistic = {logistic_work, logistic_check, logistic_batch,
                                                logistic_eval, nullptr};
