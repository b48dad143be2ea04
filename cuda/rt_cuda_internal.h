/* Internal to the CUDA backend (C++/CUDA only): checked-call macros and NVTX ranges.
 *
 * RT_CUDA_CHECK(st, call), RT_CUBLAS_CHECK(st, call), RT_NCCL_CHECK(st, call) return from the
 * enclosing function (which returns rt_code) when the call fails, with the message
 *   "cuda/file.cu:123: cudaMalloc(&p, n) failed: out of memory (cudaErrorMemoryAllocation)".
 * CUDA and cuBLAS failures are RT_ERR_INTERNAL (allocation failures RT_ERR_NOMEM), NCCL failures
 * RT_ERR_MPI. The RT_*_CALL variants are expressions giving the rt_code instead of returning, for
 * code that has to clean up. */
#ifndef RINGTRAIN_RT_CUDA_INTERNAL_H
#define RINGTRAIN_RT_CUDA_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>
#include <nvtx3/nvToolsExt.h>

#include "ringtrain/status.h"

static inline rt_code rt_cuda_result(rt_status *st, cudaError_t e, const char *call,
                                     const char *file, int line) {
  if (e == cudaSuccess) return RT_OK;
  return rt_fail_at(st, e == cudaErrorMemoryAllocation ? RT_ERR_NOMEM : RT_ERR_INTERNAL, file,
                    line, "%s failed: %s (%s)", call, cudaGetErrorString(e), cudaGetErrorName(e));
}

static inline rt_code rt_cublas_result(rt_status *st, cublasStatus_t s, const char *call,
                                       const char *file, int line) {
  if (s == CUBLAS_STATUS_SUCCESS) return RT_OK;
  return rt_fail_at(st, s == CUBLAS_STATUS_ALLOC_FAILED ? RT_ERR_NOMEM : RT_ERR_INTERNAL, file,
                    line, "%s failed: %s (%s)", call, cublasGetStatusString(s),
                    cublasGetStatusName(s));
}

static inline rt_code rt_nccl_result(rt_status *st, ncclResult_t r, const char *call,
                                     const char *file, int line) {
  if (r == ncclSuccess) return RT_OK;
  return rt_fail_at(st, RT_ERR_MPI, file, line, "%s failed: %s (NCCL error %d)", call,
                    ncclGetErrorString(r), (int)r);
}

#define RT_CUDA_CALL(st, call) rt_cuda_result((st), (call), #call, __FILE__, __LINE__)
#define RT_CUBLAS_CALL(st, call) rt_cublas_result((st), (call), #call, __FILE__, __LINE__)
#define RT_NCCL_CALL(st, call) rt_nccl_result((st), (call), #call, __FILE__, __LINE__)

#define RT_CUDA_CHECK(st, call)                       \
  do {                                                \
    const rt_code rt_check_rc_ = RT_CUDA_CALL(st, call); \
    if (rt_check_rc_ != RT_OK) return rt_check_rc_;   \
  } while (0)
#define RT_CUBLAS_CHECK(st, call)                       \
  do {                                                  \
    const rt_code rt_check_rc_ = RT_CUBLAS_CALL(st, call); \
    if (rt_check_rc_ != RT_OK) return rt_check_rc_;     \
  } while (0)
#define RT_NCCL_CHECK(st, call)                       \
  do {                                                \
    const rt_code rt_check_rc_ = RT_NCCL_CALL(st, call); \
    if (rt_check_rc_ != RT_OK) return rt_check_rc_;   \
  } while (0)

/* A kernel launch: launch errors (bad configuration) are reported at once, with the line of the
 * launch; errors while the kernel runs surface at the next synchronising call. */
#define RT_CUDA_CHECK_LAUNCH(st) RT_CUDA_CHECK(st, cudaGetLastError())

/* ---- NVTX ranges in the "ringtrain" domain (no-ops unless a profiler is attached) ---------- */

static inline nvtxDomainHandle_t rt_nvtx_domain(void) {
  static const nvtxDomainHandle_t domain = nvtxDomainCreateA("ringtrain"); /* thread-safe init */
  return domain;
}

__attribute__((format(printf, 1, 2))) static inline void rt_nvtx_push(const char *fmt, ...) {
  char text[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  nvtxEventAttributes_t attr = {};
  attr.version = NVTX_VERSION;
  attr.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
  attr.messageType = NVTX_MESSAGE_TYPE_ASCII;
  attr.message.ascii = text; /* copied by the tool during the call */
  nvtxDomainRangePushEx(rt_nvtx_domain(), &attr);
}

static inline void rt_nvtx_pop(void) { nvtxDomainRangePop(rt_nvtx_domain()); }

/* Pops the range when the scope ends, whichever return is taken. */
struct rt_nvtx_scope {
  rt_nvtx_scope() = default;
  rt_nvtx_scope(const rt_nvtx_scope &) = delete;
  rt_nvtx_scope &operator=(const rt_nvtx_scope &) = delete;
  ~rt_nvtx_scope() { rt_nvtx_pop(); }
};

#endif
