/* CUDA backend, sparse products (rt_cuda_internal.h, "Sparse products"): a batch of LIBSVM rows
 * multiplied as CSR, so that its cost grows with its non-zeros rather than rows x features: the
 * first product of logistic, linear (solver sgd) and the MLP, Z_i = X W_i, and its weight
 * gradient, G_i = X^T D_i, for each member of a fused group (group.cu, group_mlp.cu).
 *
 * Both are cuSPARSE SpMM calls whose sparse operand is not transposed by cuSPARSE: X for the
 * forward product, X's transpose (made by the feed with csr2csc, a permutation of the entries:
 * feed.cu) for the gradient. cuSPARSE's SpMM documentation says which of its CSR algorithms give
 * the same bits on every run: only CSR_ALG3, and only with op(A) = A (ALG1 and ALG2, and every
 * transposed product, "may produce slightly different results across runs"). So CSR_ALG3 it is,
 * untransposed. The same documentation excludes CSR_ALG3 from SpMM's batched modes (C_i = A B_i),
 * so a group cannot have its members' products in one call: each member gets its own call with
 * the same operands it has alone, and its bits do not depend on its group's size, at the price of
 * one launch per member on sparse batches. tests/gpu/test_gpu_data_paths.c checks both (two runs,
 * a member alone and in a group) and the products against the dense ones to rounding.
 *
 * The descriptors are host objects made per call (a batch's non-zeros change from batch to
 * batch); the work buffer belongs to the slot and grows when cuSPARSE asks for more. */
#include "rt_cuda.h"

#include "rt_cuda_internal.h"

rt_code rt_cuda_sparse_handle_on(cudaStream_t stream, cusparseHandle_t *out, rt_status *st) {
  cusparseHandle_t h = nullptr;
  rt_code rc;
  RT_TRY(rc, RT_CUSPARSE_CALL(st, cusparseCreate(&h)));
  if ((rc = RT_CUSPARSE_CALL(st, cusparseSetStream(h, stream))) != RT_OK) {
    (void)cusparseDestroy(h);
    return rc;
  }
  *out = h;
  return RT_OK;
}

namespace {

/* cuSPARSE's CSR algorithm 3, the one its documentation calls deterministic (untransposed sparse
 * operand only; dense operands row-major here). CSR_ALG2, NVIDIA's choice for row-major operands
 * where speed matters, is documented as possibly differing from run to run. The gpu test runs
 * every product twice. */
constexpr cusparseSpMMAlg_t kSpmmAlg = CUSPARSE_SPMM_CSR_ALG3;

rt_code sparse_handle(rt_cuda_slot *slot, rt_status *st) {
  return slot->sparse ? RT_OK : rt_cuda_sparse_handle_on(slot->stream, &slot->sparse, st);
}

/* The slot's work buffer of at least `bytes`: a larger one replaces it once the stream is done
 * with the old one. */
rt_code work_buffer(rt_cuda_slot *slot, size_t bytes, rt_status *st) {
  if (bytes <= slot->sparse_ws_bytes && slot->sparse_ws) return RT_OK;
  RT_CUDA_CHECK(st, cudaStreamSynchronize(slot->stream));
  if (slot->sparse_ws) (void)cudaFree(slot->sparse_ws);
  slot->sparse_ws = nullptr;
  slot->sparse_ws_bytes = 0;
  RT_CUDA_CHECK(st, cudaMalloc(&slot->sparse_ws, bytes ? bytes : 1));
  slot->sparse_ws_bytes = bytes;
  return RT_OK;
}

/* C (rows x n, row-major) = A B: A sparse (rows x k in CSR: offsets from 0, indices, values; nnz
 * entries, nnz > 0), B dense (k x n, row-major). */
rt_code spmm(rt_cuda_slot *slot, int rows, int k, int nnz, const int *offs, const int *idx,
             const float *vals, const float *b, int n, float *c, rt_status *st) {
  cusparseConstSpMatDescr_t a_d = nullptr;
  cusparseConstDnMatDescr_t b_d = nullptr;
  cusparseDnMatDescr_t c_d = nullptr;
  const float one = 1.0f, zero = 0.0f;
  rt_code rc = RT_CUSPARSE_CALL(
      st, cusparseCreateConstCsr(&a_d, rows, k, nnz, offs, idx, vals, CUSPARSE_INDEX_32I,
                                 CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F));
  if (rc == RT_OK)
    rc = RT_CUSPARSE_CALL(
        st, cusparseCreateConstDnMat(&b_d, k, n, n, b, CUDA_R_32F, CUSPARSE_ORDER_ROW));
  if (rc == RT_OK)
    rc = RT_CUSPARSE_CALL(st,
                          cusparseCreateDnMat(&c_d, rows, n, n, c, CUDA_R_32F, CUSPARSE_ORDER_ROW));
  size_t need = 0;
  if (rc == RT_OK)
    rc =
        RT_CUSPARSE_CALL(st, cusparseSpMM_bufferSize(slot->sparse, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                                     CUSPARSE_OPERATION_NON_TRANSPOSE, &one, a_d,
                                                     b_d, &zero, c_d, CUDA_R_32F, kSpmmAlg, &need));
  if (rc == RT_OK) rc = work_buffer(slot, need, st);
  if (rc == RT_OK) {
    rt_cuda_count_launch();
    rc = RT_CUSPARSE_CALL(st, cusparseSpMM(slot->sparse, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                           CUSPARSE_OPERATION_NON_TRANSPOSE, &one, a_d, b_d, &zero,
                                           c_d, CUDA_R_32F, kSpmmAlg, slot->sparse_ws));
  }
  /* Host objects only: the call issued keeps what it needs. */
  if (a_d) (void)cusparseDestroySpMat(a_d);
  if (b_d) (void)cusparseDestroyDnMat(b_d);
  if (c_d) (void)cusparseDestroyDnMat(c_d);
  return rc;
}

/* For m members: C_i (a_rows x n, row-major, c_stride floats apart) = A B_i with A sparse (a_rows x
 * a_cols in CSR, nnz entries) and B_i (a_cols x n, row-major) b_stride floats apart: per member
 * C_i zeroed, then one SpMM (none when A has no entries). */
rt_code members_spmm(rt_cuda_slot *slot, int a_rows, int a_cols, int nnz, const int *offs,
                     const int *idx, const float *vals, const float *b, long long b_stride, int n,
                     float *c, long long c_stride, int m, rt_status *st) {
  rt_code rc;
  if (nnz > 0) RT_TRY(rc, sparse_handle(slot, st));
  for (int i = 0; i < m; ++i) {
    float *ci = c + (size_t)i * (size_t)c_stride;
    /* Zeros first, also under a product: C is workspace that may hold a diverged model's NaN
     * from an earlier visit, and cuSPARSE does not document that beta = 0 never reads C. */
    RT_CUDA_CHECK(st,
                  cudaMemsetAsync(ci, 0, (size_t)a_rows * (size_t)n * sizeof(float), slot->stream));
    if (nnz > 0)
      RT_TRY(rc, spmm(slot, a_rows, a_cols, nnz, offs, idx, vals, b + (size_t)i * (size_t)b_stride,
                      n, ci, st));
  }
  return RT_OK;
}

} /* namespace */

rt_code rt_cuda_csr_products(rt_cuda_slot *slot, const rt_cuda_csr_batch &x, const float *w,
                             long long w_stride, int n, float *z, long long z_stride, int m,
                             rt_status *st) {
  return members_spmm(slot, x.rows, x.d, x.nnz, x.offs, x.cols, x.vals, w, w_stride, n, z, z_stride,
                      m, st);
}

rt_code rt_cuda_csr_gradients(rt_cuda_slot *slot, const rt_cuda_csr_batch &x, const float *d,
                              long long d_stride, int n, float *g, long long g_stride, int m,
                              rt_status *st) {
  return members_spmm(slot, x.d, x.rows, x.nnz, x.t_offs, x.t_rows, x.t_vals, d, d_stride, n, g,
                      g_stride, m, st);
}

void rt_cuda_sparse_free(rt_cuda_slot *slot) {
  if (slot->sparse) (void)cusparseDestroy(slot->sparse);
  if (slot->sparse_ws) (void)cudaFree(slot->sparse_ws);
  slot->sparse = nullptr;
  slot->sparse_ws = nullptr;
  slot->sparse_ws_bytes = 0;
}
