/* Internal to the CUDA backend (C++/CUDA only), the one header the cuda/ files share: checked-call
 * macros and NVTX ranges; the slot struct (slots.cu), the workspace carver, the batch a family is
 * handed and the per-family table rt_cuda_family (the driver in compute.cu calls the families in
 * family_<kind>.cu through it); the pieces several families share (family_shared.cu: sgemm,
 * softmax, residual and column-sum launches, device reductions, launch geometry, the labels
 * check) and the few helpers the device/driver files share with each other.
 *
 * RT_CUDA_CHECK(st, call), RT_CUBLAS_CHECK(st, call), RT_CUSPARSE_CHECK(st, call),
 * RT_NCCL_CHECK(st, call) return from the enclosing function (which returns rt_code) when the call
 * fails, with the message
 *   "cuda/file.cu:123: cudaMalloc(&p, n) failed: out of memory (cudaErrorMemoryAllocation)".
 * CUDA, cuBLAS and cuSPARSE failures are RT_ERR_INTERNAL (allocation failures RT_ERR_NOMEM), NCCL failures
 * RT_ERR_MPI. The RT_*_CALL variants are expressions giving the rt_code instead of returning, for
 * code that has to clean up. */
#ifndef RINGTRAIN_RT_CUDA_INTERNAL_H
#define RINGTRAIN_RT_CUDA_INTERNAL_H

#include <stdarg.h>
#include <stdio.h>

#include <atomic>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusparse.h>
#include <nccl.h>
#include <nvtx3/nvToolsExt.h>

#include "ringtrain/status.h"
#include "rt_cuda.h" /* rt_state_header, rt_model_spec (model.h under extern "C") */
#include "gemm.h"
#include "family_rules.h" /* rt_model_refuse: the families' wording (after rt_cuda.h: model.h) */

static inline rt_code rt_cuda_result(rt_status *st, cudaError_t e, const char *call,
                                     const char *file, int line) {
  if (e == cudaSuccess) return RT_OK;
  return rt_fail_at(st, e == cudaErrorMemoryAllocation ? RT_ERR_NOMEM : RT_ERR_INTERNAL, file, line,
                    "%s failed: %s (%s)", call, cudaGetErrorString(e), cudaGetErrorName(e));
}

static inline rt_code rt_cublas_result(rt_status *st, cublasStatus_t s, const char *call,
                                       const char *file, int line) {
  if (s == CUBLAS_STATUS_SUCCESS) return RT_OK;
  return rt_fail_at(st, s == CUBLAS_STATUS_ALLOC_FAILED ? RT_ERR_NOMEM : RT_ERR_INTERNAL, file,
                    line, "%s failed: %s (%s)", call, cublasGetStatusString(s),
                    cublasGetStatusName(s));
}

static inline rt_code rt_cusparse_result(rt_status *st, cusparseStatus_t s, const char *call,
                                         const char *file, int line) {
  if (s == CUSPARSE_STATUS_SUCCESS) return RT_OK;
  return rt_fail_at(st, s == CUSPARSE_STATUS_ALLOC_FAILED ? RT_ERR_NOMEM : RT_ERR_INTERNAL, file,
                    line, "%s failed: %s (%s)", call, cusparseGetErrorString(s),
                    cusparseGetErrorName(s));
}

static inline rt_code rt_nccl_result(rt_status *st, ncclResult_t r, const char *call,
                                     const char *file, int line) {
  if (r == ncclSuccess) return RT_OK;
  return rt_fail_at(st, RT_ERR_MPI, file, line, "%s failed: %s (NCCL error %d)", call,
                    ncclGetErrorString(r), (int)r);
}

/* The launch counter behind rt_cuda_launch_count (device.cu). */
extern std::atomic<unsigned long long> rt_cuda_launches;
static inline void rt_cuda_count_launch(void) {
  rt_cuda_launches.fetch_add(1, std::memory_order_relaxed);
}

#define RT_CUDA_CALL(st, call) rt_cuda_result((st), (call), #call, __FILE__, __LINE__)
#define RT_CUBLAS_CALL(st, call) rt_cublas_result((st), (call), #call, __FILE__, __LINE__)
#define RT_CUSPARSE_CALL(st, call) rt_cusparse_result((st), (call), #call, __FILE__, __LINE__)
#define RT_NCCL_CALL(st, call) rt_nccl_result((st), (call), #call, __FILE__, __LINE__)

#define RT_CUDA_CHECK(st, call)                          \
  do {                                                   \
    const rt_code rt_check_rc_ = RT_CUDA_CALL(st, call); \
    if (rt_check_rc_ != RT_OK) return rt_check_rc_;      \
  } while (0)
/* For cuBLAS compute calls only (each counts as one launch); setup calls use RT_CUBLAS_CALL. */
#define RT_CUBLAS_CHECK(st, call)                          \
  do {                                                     \
    rt_cuda_count_launch();                                \
    const rt_code rt_check_rc_ = RT_CUBLAS_CALL(st, call); \
    if (rt_check_rc_ != RT_OK) return rt_check_rc_;        \
  } while (0)
/* For cuSPARSE compute calls only (each counts as one launch); setup calls use RT_CUSPARSE_CALL. */
#define RT_CUSPARSE_CHECK(st, call)                          \
  do {                                                       \
    rt_cuda_count_launch();                                  \
    const rt_code rt_check_rc_ = RT_CUSPARSE_CALL(st, call); \
    if (rt_check_rc_ != RT_OK) return rt_check_rc_;          \
  } while (0)
#define RT_NCCL_CHECK(st, call)                          \
  do {                                                   \
    const rt_code rt_check_rc_ = RT_NCCL_CALL(st, call); \
    if (rt_check_rc_ != RT_OK) return rt_check_rc_;      \
  } while (0)

/* After a kernel launch: counts it (rt_cuda_launch_count) and reports launch errors (bad
 * configuration) at once, with the line of the launch; errors while the kernel runs surface at the
 * next synchronising call. */
#define RT_CUDA_CHECK_LAUNCH(st)           \
  do {                                     \
    rt_cuda_count_launch();                \
    RT_CUDA_CHECK(st, cudaGetLastError()); \
  } while (0)

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

/* ---- Slots and families (slots.cu, compute.cu and the family_*.cu files) ------------------ */

/* A shard in device memory (shards.cu; see rt_cuda.h). */
struct rt_cuda_shard {
  size_t rows, features;
  float *x;                        /* rows * features, row-major */
  float *y;                        /* rows, NULL without labels */
  const struct rt_scaling *scaled; /* the scaling its rows hold (rt_dataset.scaled), or NULL */
  const rt_shard *host;            /* a streamed shard (x NULL): its rows come through a feed
                                      (feed.cu) from this host shard; NULL: x holds them */
  /* A sparse shard (x NULL): rows in CSR, as the host shard holds them (ringtrain/data.h); a
   * feed makes each batch dense on the device (feed.cu). NULL otherwise. */
  uint64_t *indptr; /* rows + 1 */
  uint32_t *indices;
  float *values;
  size_t nnz;
  uint64_t
      *host_indptr; /* a host copy of indptr: each batch's non-zeros, known when it is issued */
};

/* Whether a shard's batches come through a feed (streamed or sparse) rather than from x. */
static inline int rt_cuda_shard_fed(const rt_cuda_shard *s) {
  return s->host != nullptr || s->indptr != nullptr;
}

/* A slot's input buffer and map for a model that does not read the shard's rows as they are
 * (input.cu): allocated at the first such model, device memory and the host copy of the map. */
struct rt_cuda_input {
  float *x;                   /* max_rows x width_cap: one batch of the model's input */
  int *cols;                  /* data_cap: the data column of each input column */
  float *offset, *scale;      /* data_cap each: the scaling of those columns */
  size_t width_cap, data_cap; /* allocated for */
  size_t width;               /* the map loaded: its columns */
  int scaled;                 /* 1: it scales */
  int loaded;                 /* 0: nothing valid on the device */
  int *host_cols;             /* data_cap: the map loaded, as uploaded */
  float *host_offset, *host_scale;
};

/* One model-in-flight context (see rt_cuda.h). Everything device-side is allocated once, at
 * creation: the state buffer, one float workspace the families carve per call (rt_work_carver),
 * and RT_EVAL_SUMS columns of max_rows doubles for per-row values (training: column 0 holds the
 * per-row losses of a batch; evaluation: one column per evaluation sum). */
struct rt_cuda_slot {
  int device;
  cudaStream_t stream;
  cudaEvent_t done;    /* recorded after everything each call issues (rt_cuda_slot_query) */
  cublasHandle_t blas; /* made on first use (rt_cuda_slot_blas): linear exact's only */
  /* capacities */
  size_t state_cap, max_rows, max_features, max_classes, work_cap;
  /* device memory, allocated once */
  unsigned char *state;
  float *work;      /* work_cap floats: gradient and family scratch */
  double *row_vals; /* RT_EVAL_SUMS columns of max_rows doubles */
  double *acc;      /* RT_EVAL_SUMS: evaluation sums */
  /* host side */
  unsigned char *pinned;    /* kPinnedBytes of pinned memory for small readbacks */
  unsigned char *staging;   /* state_cap bytes of pinned memory: state uploads and downloads */
  cudaEvent_t staging_free; /* recorded after the last use of the staging buffer on the stream */
  cudaEvent_t copy_done;    /* recorded after the last download's host copy */
  struct {                  /* the pending download's host copy (a host function on the stream) */
    void *dst;
    const void *src;
    size_t bytes;
  } copy_out;
  rt_state_header mirror;
  int has_model;
  size_t state_bytes;
  uint64_t *order; /* batch order of the current visit */
  size_t order_cap;
  rt_cuda_input input;       /* a model's own input (input.cu); unused by most models */
  struct rt_cuda_feed *feed; /* a streamed shard's batches (feed.cu); NULL until the first */
  int (*between)(void *);    /* rt_cuda_slot_between: called before each fed batch, or NULL */
  void *between_user;
  /* Sparse products (sparse_products.cu), made at the first: cuSPARSE on the slot's stream and
   * its work buffer. */
  cusparseHandle_t sparse;
  void *sparse_ws;
  size_t sparse_ws_bytes;
};

/* One batch of sparse rows on the device as the sparse products take it (feed.cu makes it): X
 * (rows x d) in CSR and its transpose X^T (d x rows) in CSR, both with 32-bit offsets and
 * indices, each row's entries in ascending column order. The arrays belong to the feed and stay
 * valid until the batch is done (rt_cuda_feed_done). */
struct rt_cuda_csr_batch {
  int rows, d, nnz;
  const int *offs, *cols; /* X: rows + 1 offsets (from 0), nnz column indices */
  const float *vals;
  const int *t_offs, *t_rows; /* X^T: d + 1 offsets, nnz row indices */
  const float *t_vals;
};

/* A cuSPARSE handle bound to `stream` into *out (sparse_products.cu); on failure none is kept
 * (*out untouched): a handle left on the default stream would run outside the stream's ordering.
 * The slots' SpMM handles and the feeds' transposers (feed.cu) are made by it. */
rt_code rt_cuda_sparse_handle_on(cudaStream_t stream, cusparseHandle_t *out, rt_status *st);

/* Sparse products (sparse_products.cu), cuSPARSE's SpMM with X or X^T as the sparse operand, never
 * transposed by cuSPARSE (its transposed products may sum in another order on every run), one
 * call per member (a member's bits do not depend on its group's size), on the slot's stream:
 *   forward   Z_i (rows x n, row-major, z_stride floats apart) = X W_i, W_i (d x n, row-major)
 *             w_stride floats apart;
 *   gradient  G_i (d x n, row-major, g_stride apart) = X^T D_i, D_i (rows x n, row-major)
 *             d_stride apart.
 * A batch without non-zeros gives zeros. */
rt_code rt_cuda_csr_products(rt_cuda_slot *slot, const rt_cuda_csr_batch &x, const float *w,
                             long long w_stride, int n, float *z, long long z_stride, int m,
                             rt_status *st);
rt_code rt_cuda_csr_gradients(rt_cuda_slot *slot, const rt_cuda_csr_batch &x, const float *d,
                              long long d_stride, int n, float *g, long long g_stride, int m,
                              rt_status *st);
void rt_cuda_sparse_free(rt_cuda_slot *slot);

/* Feeds (feed.cu): a streamed shard's batches brought to the device while kernels run, read and
 * copied once for `consumers` streams (a group's members). open: the visit's batches (order[k0..nb)
 * of batch_rows rows; order NULL: in turn), read ahead on the host, into the feed of `slot`;
 * next: the next batch's `rows` rows (*x, device; another count is RT_ERR_INTERNAL) copied on
 * the feed's own stream; take: work issued on
 * `stream` from now on waits for that copy; used: consumer i's kernels of the batch are issued on
 * `stream`; done: every consumer has said so (the buffer is refilled only after their kernels);
 * close: stops the read-ahead (the buffers stay for the next visit). free: at the slot's end. */
rt_code rt_cuda_feed_open(rt_cuda_slot *slot, const rt_cuda_shard *shard, const uint64_t *order,
                          size_t nb, size_t k0, size_t batch_rows, size_t consumers, rt_status *st);
rt_code rt_cuda_feed_next(rt_cuda_slot *slot, size_t rows, const float **x, rt_status *st);
/* next, for a consumer of sparse rows (a sparse shard's feed only): the next batch as CSR and its
 * transpose (*csr), made on the feed's stream, when it is at most half dense (*sparse = 1); a
 * denser batch is made dense as by next (*x, *sparse = 0), where dense products are the faster.
 * Either way the batch is taken, used and done as by next. */
rt_code rt_cuda_feed_next_csr(rt_cuda_slot *slot, size_t rows, rt_cuda_csr_batch *csr, int *sparse,
                              const float **x, rt_status *st);
rt_code rt_cuda_feed_take(rt_cuda_slot *slot, cudaStream_t stream, rt_status *st);
rt_code rt_cuda_feed_used(rt_cuda_slot *slot, size_t consumer, cudaStream_t stream, rt_status *st);
rt_code rt_cuda_feed_done(rt_cuda_slot *slot, rt_status *st);
void rt_cuda_feed_close(rt_cuda_slot *slot);
void rt_cuda_feed_free(struct rt_cuda_feed *feed);

/* A model's own input (input.cu). prepare: *on = 1 when spec's batches are to be gathered (its
 * view, its own scaling), the slot's map then made spec's (allocated, uploaded when it changed);
 * *on = 0: the model reads the shard's rows as they are. gather: `rows` rows of data_features
 * floats at rows_x (device) into the slot's input buffer, one kernel on the slot's stream; *x =
 * the buffer. */
rt_code rt_cuda_input_prepare(rt_cuda_slot *slot, const rt_model_spec *spec,
                              const rt_cuda_shard *shard, int *on, rt_status *st);
rt_code rt_cuda_input_gather(rt_cuda_slot *slot, const float *rows_x, size_t data_features,
                             int rows, const float **x, rt_status *st);
void rt_cuda_input_free(rt_cuda_input *in);

/* Bump allocator over a slot's workspace: every piece starts on a 256-byte boundary (the
 * workspace itself comes from cudaMalloc). With base == nullptr it only measures, so the same
 * code sizes a workspace (rt_cuda_work_floats) and carves it. */
struct rt_work_carver {
  float *base;
  size_t used; /* floats */
  static size_t padded(size_t floats) { return (floats + 63) / 64 * 64; }
  float *floats(size_t n) {
    float *p = base ? base + used : nullptr;
    used += padded(n);
    return p;
  }
  double *doubles(size_t n) { return (double *)(void *)floats(2 * n); }
  int *ints(size_t n) { return (int *)(void *)floats(n); }
};

/* One batch (or one evaluation chunk) as the driver hands it to a family; device pointers. */
struct rt_cuda_batch {
  const rt_model_spec *spec;
  rt_state_header *dh; /* the device header */
  float *params, *aux;
  const float *x, *y; /* rows x features, rows (NULL for families without labels) */
  int rows;
};

/* What a family's batch did, for the shared driver (rt_cuda_integrate_shard). */
struct rt_cuda_batch_out {
  int loss_n;   /* per-row loss entries in slot->row_vals[0..loss_n) */
  int gradient; /* 1: the gradient is in the first param_count floats of the workspace, the
                   driver steps the optimizer; 0: the family updated the state itself */
  float l2;     /* gradient families: L2 the optimizer kernel adds to the leading nw parameters */
  size_t nw;
};

/* The CUDA side of one model family; which family is the registry's business (src/models/registry.c,
 * cuda_family_of in compute.cu). */
struct rt_cuda_family {
  /* Workspace floats (padded pieces) for `rows` rows: one training batch (gradient included) or
   * one evaluation chunk. */
  size_t (*work_floats)(const rt_model_spec *spec, size_t rows);
  /* RT_OK when every product dimension fits an int and the spec's labels are there. */
  rt_code (*check)(const rt_model_spec *spec, size_t rows, int has_labels, rt_status *st);
  /* One training batch on slot->stream. A family that updates the state itself (gradient = 0)
   * skips the update on the device when b->dh->diverged is set: the driver issues the batch
   * before the batch's loss reduction, so the flag is the one before this batch, exactly as
   * rt_cpu_integrate_shard() skips integrate_batch. */
  rt_code (*batch)(rt_cuda_slot *slot, const rt_cuda_batch *b, rt_cuda_batch_out *out,
                   rt_status *st);
  /* One evaluation chunk: per-row values into the columns of slot->row_vals (column k = sum k of
   * the CPU's eval_rows); *sums_n the number of columns. */
  rt_code (*eval)(rt_cuda_slot *slot, const rt_cuda_batch *b, int *sums_n, rt_status *st);
  /* Optional: the family's pass_end (src/models/model.h) on the device, for 0-based pass `pass` just
   * closed; issued on slot->stream after the header bookkeeping, so it sees the diverged flag
   * that bookkeeping may have set (a diverged model is left alone, as on the CPU). */
  rt_code (*pass_end)(rt_cuda_slot *slot, const rt_model_spec *spec, uint64_t pass, rt_status *st);
};

extern const rt_cuda_family rt_cuda_family_logistic; /* family_logistic.cu */
extern const rt_cuda_family rt_cuda_family_kmeans;   /* family_kmeans.cu */
extern const rt_cuda_family rt_cuda_family_linear;   /* family_linear.cu */
extern const rt_cuda_family rt_cuda_family_mlp;      /* family_mlp.cu */

/* ---- Shared by the device/driver files --------------------------------------------------- */

/* cudaMalloc granularity: sizes of device allocations (shards.cu, slots.cu). */
static inline size_t rt_cuda_round_up(size_t n) { return (n + 255) / 256 * 256; }
/* cuBLAS workspace per handle: 32 MiB is NVIDIA's recommendation for Hopper (4 MiB elsewhere).
 * Only linear exact's double products use cuBLAS (every float product is gemm.cu's); its
 * workspace is part of that family's slot workspace (family_linear.cu). */
constexpr size_t kRtBlasWorkspaceBytes = size_t(32) << 20;
/* slot->blas, created on first use and bound to the slot's stream (fp64/fp32 compute, no TF32,
 * atomics off, host pointer mode), with `ws` (kRtBlasWorkspaceBytes, 256-byte aligned) as its
 * workspace for the calls that follow. */
rt_code rt_cuda_slot_blas(rt_cuda_slot *slot, void *ws, rt_status *st);
/* Records slot->done after everything issued so far (slots.cu; rt_cuda_slot_query polls it). */
rt_code rt_cuda_mark_done(rt_cuda_slot *slot, rt_status *st);
/* One of this library's kernels (compute.cu): rt_cuda_use_device (device.cu) loads it to check
 * that the device can run what the fat binary holds. */
const void *rt_cuda_probe_kernel(void);

/* ---- The matrix product (gemm.cu; gemm.h says what it guarantees) ---------------------------- */
/* Loops over a thread's tile of a product, unrolled on the device (the host compiler, which
 * compiles the same functions for the emulation, knows no such pragma). */
#ifdef __CUDA_ARCH__
#define RT_UNROLL _Pragma("unroll")
#else
#define RT_UNROLL
#endif
static inline unsigned long long rt_cuda_ceil_div(long long a, long long b) {
  return (unsigned long long)((a + b - 1) / b);
}
/* A shape's grid for blocks covering `rows` x `cols` of C (gemm.cu, gemm_tiled.cu): gx blocks down
 * m, gy across n and gz over the products, gy and gz capped at 65,535 (the kernels stride beyond;
 * the uncapped gy is rt_cuda_ceil_div(g->n, cols)). */
static inline void rt_cuda_gemm_grid(const rt_cuda_gemm *g, int rows, int cols,
                                     rt_cuda_gemm_shape *s) {
  const unsigned long long cap = 65535, gy = rt_cuda_ceil_div(g->n, cols);
  s->gx = (unsigned)rt_cuda_ceil_div(g->m, rows);
  s->gy = (unsigned)(gy < cap ? gy : cap);
  s->gz = (unsigned)((unsigned long long)g->count < cap ? (unsigned long long)g->count : cap);
}
/* g's products on `stream`: one launch (none when C is empty), in the form gemm.h says. */
rt_code rt_cuda_gemm_launch(cudaStream_t stream, const rt_cuda_gemm *g, rt_status *st);
/* The same with a given shape (rt_cuda_gemm_shape_of, _with or _tiled). */
rt_code rt_cuda_gemm_launch_shape(cudaStream_t stream, const rt_cuda_gemm *g,
                                  const rt_cuda_gemm_shape *s, rt_status *st);
/* The shared-memory form (gemm_tiled.cu): its launch, and its host emulation. */
rt_code rt_cuda_gemm_tiled_launch(cudaStream_t stream, const rt_cuda_gemm *g,
                                  const rt_cuda_gemm_shape *s, rt_status *st);
void rt_cuda_gemm_tiled_emulate(const rt_cuda_gemm *g, const rt_cuda_gemm_shape *s);
/* A product in cublasSgemmStridedBatched's argument order (alpha 1, beta 0), and its launch. */
static inline rt_cuda_gemm rt_cuda_gemm_of(int ta, int tb, int m, int n, int k, const float *a,
                                           int lda, long long sa, const float *b, int ldb,
                                           long long sb, float *c, int ldc, long long sc,
                                           int count) {
  rt_cuda_gemm g;
  g.ta = ta;
  g.tb = tb;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a = a;
  g.lda = lda;
  g.sa = sa;
  g.b = b;
  g.ldb = ldb;
  g.sb = sb;
  g.c = c;
  g.ldc = ldc;
  g.sc = sc;
  g.count = count;
  return g;
}
static inline rt_code rt_cuda_gemm_issue(cudaStream_t stream, int ta, int tb, int m, int n, int k,
                                         const float *a, int lda, long long sa, const float *b,
                                         int ldb, long long sb, float *c, int ldc, long long sc,
                                         int count, rt_status *st) {
  const rt_cuda_gemm g =
      rt_cuda_gemm_of(ta, tb, m, n, k, a, lda, sa, b, ldb, sb, c, ldc, sc, count);
  return rt_cuda_gemm_launch(stream, &g, st);
}

/* ---- Shared pieces of the families (family_shared.cu), all on slot->stream -------------- */
/* Row-major C (m x n) = op(A) op(B) in fp32 (rt_cuda_gemm_launch): ta / tb = 1 when A / B are
 * stored transposed (A stored k x m, B stored n x k), as cblas_sgemm(CblasRowMajor, ...). */
rt_code rt_cuda_rm_sgemm(rt_cuda_slot *slot, int ta, int tb, int m, int n, int k, const float *a,
                         const float *b, float *c, rt_status *st);
/* The same for `count` products at once (one launch): product i reads
 * a + i sa and b + i sb and writes c + i sc (strides in floats; 0 shares an operand). The fused
 * groups' products, and those of a model on its own slot (count 1) that must equal a group of
 * one's. */
rt_code rt_cuda_rm_sgemm_batched(rt_cuda_slot *slot, int ta, int tb, int m, int n, int k,
                                 const float *a, long long sa, const float *b, long long sb,
                                 float *c, long long sc, int count, rt_status *st);
/* z (rows x c) += b per row, softmax, per-row -log(rt_loss_probability(p_y)) into row_loss and
 * (P - Y) / rows in place: the CPU's softmax cross-entropy gradient (logistic, mlp). */
rt_code rt_cuda_softmax_xent(rt_cuda_slot *slot, float *z, const float *b, const float *y, int rows,
                             int c, double *row_loss, rt_status *st);
/* Evaluation: z += b, softmax, per-row log-loss into loss and 1/0 (first arg-max == label) into
 * hit. */
rt_code rt_cuda_softmax_eval(rt_cuda_slot *slot, float *z, const float *b, const float *y, int rows,
                             int c, double *loss, double *hit, rt_status *st);
/* gb[k] = sum over rows (in row order, float) of g[i][k]: the CPU's bias-gradient loop. */
rt_code rt_cuda_column_sums(rt_cuda_slot *slot, const float *g, int rows, int c, float *gb,
                            rt_status *st);
/* Squared error (linear sgd, the mlp's regression output): e = (e + b) - y in float, per-row loss
 * 0.5 e^2 (double) into row_loss, e / rows in place; b may be NULL (no intercept). */
rt_code rt_cuda_residual(rt_cuda_slot *slot, float *e, const float *b, const float *y, int rows,
                         double *row_loss, rt_status *st);
/* RT_OK when the device shard has labels, else the families' refusal (src/models/family_rules.h). */
rt_code rt_cuda_needs_labels(const rt_model_spec *spec, int has_labels, rt_status *st);
/* Sum over the block in a fixed tree order (blockDim.x a power of two, sh[blockDim.x]); every
 * thread gets it. */
static __device__ __forceinline__ double rt_block_sum(double v, double *sh) {
  const int t = threadIdx.x;
  sh[t] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] += sh[t + s];
    __syncthreads();
  }
  const double total = sh[0];
  __syncthreads();
  return total;
}

/* Fixed-order sum of n values: thread t adds t, t+T, t+2T, ... in order, then the block tree.
 * The order depends on n and blockDim.x only, never on timing: no floating-point atomics. */
static __device__ __forceinline__ double rt_fixed_sum(const double *v, int n, double *sh) {
  double acc = 0.0;
  for (int i = threadIdx.x; i < n; i += blockDim.x) acc += v[i];
  return rt_block_sum(acc, sh);
}

/* Elementwise kernels get a grid-stride launch of at most this many blocks. */
int rt_cuda_elem_blocks(size_t n);
constexpr int kRtElemThreads = 256;
constexpr int kRowThreads = 128;   /* threads per block of the one-thread-per-row kernels */
constexpr int kBlockThreads = 256; /* single-block kernels; a power of two (tree reductions) */
/* Blocks of kRowThreads covering `rows` rows (at least one). */
int rt_cuda_row_blocks(int rows);

/* A dimension handed to a product or to an int-indexed kernel (in the families' wording,
 * src/models/family_rules.h). */
static inline rt_code rt_cuda_check_dim(const rt_model_spec *spec, const char *what, size_t n,
                                        rt_status *st) {
  if (n <= (size_t)0x7fffffff) return RT_OK;
  return rt_model_refuse(st, RT_ERR_CONFIG, spec,
                         "%s = %zu is beyond the CUDA backend's 32-bit product dimensions", what,
                         n);
}

#endif
