/* CUDA backend: devices, device shards, slots, the shared per-batch driver and the logistic
 * (softmax regression) family. kmeans, linear and mlp are in rt_cuda_families.cu.
 *
 * Mirrors src/backend_cpu.c and src/family_logistic.c step by step:
 *   batch order   permutation on the host, rt_batch_order_key (the CPU's own function);
 *   logits        cuBLAS sgemm, fp32 compute (no TF32), atomics off: deterministic;
 *   softmax/loss  one thread per row, classes in index order exactly like the CPU loop; per-row
 *                 losses (double) into a buffer, then ONE block sums them in a fixed tree order
 *                 (no floating-point atomics anywhere), so the result does not vary run to run;
 *   gradients     cuBLAS sgemm for W, a column-sum kernel for b (rows in index order, like the
 *                 CPU), L2 folded into the optimizer kernel (gw + l2 * w, before the update);
 *   optimizer     element-wise kernels built on src/scalar_math.h, learning rate and Adam bias
 *                 corrections computed on the host in double exactly as src/optimizer.c does.
 * Divergence: the loss kernel sets header.diverged on the device when a batch loss is not finite;
 * the optimizer kernel reads it and skips the update, so the state stops changing at the same
 * batch as on the CPU without the host ever waiting for the device. Families that update the
 * state themselves (kmeans, linear exact) issue their update before the batch's loss kernel and
 * skip it when the flag is already set, as rt_cpu_integrate_shard() skips integrate_batch. */
#include "rt_cuda.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <math_constants.h>

#include "rt_cuda_internal.h"
#include "scalar_math.h"

extern "C" {
#include "backend.h"     /* rt_batch_order_key (no C++ guards of its own) */
#include "cuda_health.h" /* the wording of CUDA start-up failures */
}

std::atomic<unsigned long long> rt_cuda_launches{0};

namespace {

constexpr int kRowThreads = 128;      /* threads per block of the one-thread-per-row kernels */
constexpr int kElemThreads = 256;     /* element-wise kernels */
constexpr int kReduceThreads = 256;   /* the single-block reductions; a power of two */
constexpr int kMaxElemBlocks = 4096; /* the optimizer kernel strides beyond this */
/* cuBLAS workspace per handle: 32 MiB is NVIDIA's recommendation for Hopper (4 MiB elsewhere). */
constexpr size_t kBlasWorkspaceBytes = size_t(32) << 20;
/* Two pinned staging buffers of this size feed shard uploads. */
constexpr size_t kStagingBytes = size_t(64) << 20;
constexpr size_t kPinnedBytes = 256; /* header mirror readback and evaluation sums */

enum opt_kind { OPT_SGD = 0, OPT_MOMENTUM = 1, OPT_ADAM = 2 };

struct opt_args {
  int kind;
  float lr, b1, b2, c1, c2, eps, mu, l2;
  unsigned long long n;  /* parameters */
  unsigned long long nw; /* leading parameters that get L2 (the weights, not the bias) */
};

/* ---- Kernels --------------------------------------------------------------------------------- */

/* z += b, then softmax in place: the loop of logistic_probabilities() for one row. */
__device__ void softmax_row(float *z, const float *b, int c) {
  float m = -CUDART_INF_F;
  for (int k = 0; k < c; ++k) {
    z[k] += b[k];
    if (z[k] > m) m = z[k];
  }
  float s = 0.0f;
  for (int k = 0; k < c; ++k) {
    z[k] = expf(z[k] - m);
    s += z[k];
  }
  const float inv = 1.0f / s;
  for (int k = 0; k < c; ++k) z[k] *= inv;
}

/* Labels come validated from the loaders; an out-of-range one still must not write out of
 * bounds here: it makes the row's loss NaN (the model diverges instead of corrupting memory). */
__device__ bool label_of(const float *y, int i, int c, int *label) {
  const float v = y[i];
  if (!(v >= 0.0f && v < (float)c)) return false;
  *label = (int)v;
  return true;
}

/* Training: logits -> probabilities -> (P - Y) / rows in place, per-row loss -log(rt_loss_probability(p_y))
 * as logistic_gradient() computes it. */
__global__ void softmax_xent_kernel(float *z, const float *b, const float *y, int rows, int c,
                                    float inv_rows, double *row_loss) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  float *zi = z + (size_t)i * (size_t)c;
  softmax_row(zi, b, c);
  int label = 0;
  if (!label_of(y, i, c, &label)) {
    row_loss[i] = CUDART_NAN;
    for (int k = 0; k < c; ++k) zi[k] *= inv_rows;
    return;
  }
  const float py = rt_loss_probability(zi[label]);
  row_loss[i] = -log((double)py);
  zi[label] -= 1.0f;
  for (int k = 0; k < c; ++k) zi[k] *= inv_rows;
}

/* Evaluation: probabilities, arg-max (first maximum wins, as on the CPU) and
 * -log(rt_loss_probability(p_y)) as rt_cpu_evaluate_shard() computes them. */
__global__ void eval_rows_kernel(float *z, const float *b, const float *y, int rows, int c,
                                 double *row_loss, double *row_hit) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= rows) return;
  float *zi = z + (size_t)i * (size_t)c;
  softmax_row(zi, b, c);
  int label = 0;
  if (!label_of(y, i, c, &label)) {
    row_loss[i] = CUDART_NAN;
    row_hit[i] = 0.0;
    return;
  }
  int best = 0;
  for (int k = 1; k < c; ++k)
    if (zi[k] > zi[best]) best = k;
  row_hit[i] = best == label ? 1.0 : 0.0;
  const float p = zi[label];
  row_loss[i] = -log((double)rt_loss_probability(p));
}

/* One block. The batch loss decides divergence exactly like rt_cpu_integrate_shard():
 * diverged |= !isfinite(loss); pass_loss_sum += diverged ? NaN : loss. */
__global__ void batch_loss_kernel(const double *row_loss, int rows, rt_state_header *h) {
  __shared__ double sh[kReduceThreads];
  const double loss = rt_fixed_sum(row_loss, rows, sh);
  if (threadIdx.x == 0) {
    if (!isfinite(loss)) h->diverged = 1;
    h->pass_loss_sum += h->diverged ? CUDART_NAN : loss;
  }
}

/* One block: acc[k] += the fixed-order sum of column k (n values, columns `stride` apart), for
 * k < sums (evaluation chunks are added in order). */
__global__ void eval_reduce_kernel(const double *cols, size_t stride, int sums, int n,
                                   double *acc) {
  __shared__ double sh[kReduceThreads];
  for (int k = 0; k < sums; ++k) {
    const double v = rt_fixed_sum(cols + (size_t)k * stride, n, sh);
    if (threadIdx.x == 0) acc[k] += v;
  }
}

/* Bias gradient: column sums of G over the rows in index order (the CPU's loop order). */
__global__ void bias_grad_kernel(const float *g, int rows, int c, float *gb) {
  const int k = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= c) return;
  float s = 0.0f;
  for (int i = 0; i < rows; ++i) s += g[(size_t)i * (size_t)c + (size_t)k];
  gb[k] = s;
}

__global__ void optimizer_kernel(const rt_state_header *h, float *p, float *aux, const float *g,
                                 opt_args a) {
  if (h->diverged) return; /* set by batch_loss_kernel of this batch or an earlier one */
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < a.n; i += stride) {
    float gi = g[i];
    if (a.l2 > 0.0f && i < a.nw) gi = gi + a.l2 * p[i];
    switch (a.kind) {
      case OPT_ADAM:
        rt_adam_update(&p[i], &aux[i], &aux[a.n + i], gi, a.lr, a.b1, a.b2, a.c1, a.c2, a.eps);
        break;
      case OPT_MOMENTUM: rt_momentum_update(&p[i], &aux[i], gi, a.lr, a.mu); break;
      default: rt_sgd_update(&p[i], gi, a.lr); break;
    }
  }
}

/* The host-owned header fields after a shard visit. */
__global__ void header_commit_kernel(rt_state_header *h, unsigned long long step,
                                     unsigned long long samples, unsigned long long loss_rows) {
  h->step = step;
  h->samples = samples;
  h->pass_loss_rows = loss_rows;
}

/* engine.c serve(): position / pass bookkeeping, closing a pass into the history. */
__global__ void visit_end_kernel(rt_state_header *h, double *history, int close_pass,
                                 unsigned long long closed_pass, unsigned long long closed_rows,
                                 unsigned long long position, unsigned long long pass) {
  if (close_pass) {
    history[closed_pass] = closed_rows ? h->pass_loss_sum / (double)closed_rows : 0.0;
    /* Finite batch losses can still add up to an overflow: that is divergence too (as on the CPU). */
    if (!isfinite(history[closed_pass])) h->diverged = 1;
    h->pass_loss_sum = 0.0;
    h->pass_loss_rows = 0;
  }
  h->position = position;
  h->pass = pass;
}

/* ---- Host helpers ---------------------------------------------------------------------------- */

/* "1.2 GiB", "35.0 MiB", "12.0 KiB", "100 bytes". */
const char *format_bytes(size_t b, char *buf, size_t cap) {
  const double v = (double)b;
  if (v >= 1024.0 * 1024.0 * 1024.0) snprintf(buf, cap, "%.1f GiB", v / (1024.0 * 1024.0 * 1024.0));
  else if (v >= 1024.0 * 1024.0) snprintf(buf, cap, "%.1f MiB", v / (1024.0 * 1024.0));
  else if (v >= 1024.0) snprintf(buf, cap, "%.1f KiB", v / 1024.0);
  else snprintf(buf, cap, "%zu bytes", b);
  return buf;
}

size_t round_up(size_t n) { return (n + 255) / 256 * 256; } /* cudaMalloc granularity */

/* Blocks covering n threads; n <= INT_MAX is checked before any launch. */
int blocks_for(size_t n, int threads) {
  const size_t b = (n + (size_t)threads - 1) / (size_t)threads;
  return b == 0 ? 1 : (int)b;
}

/* For the grid-stride kernels. */
int capped_blocks_for(size_t n, int threads) {
  const int b = blocks_for(n, threads);
  return b > kMaxElemBlocks ? kMaxElemBlocks : b;
}

} /* namespace */

/* ---- Devices and memory ---------------------------------------------------------------------- */

/* Why the last rt_cuda_device_count found no device (src/cuda_health.h). */
static char no_device_reason[384] = "no CUDA device is visible";

extern "C" const char *rt_cuda_no_device_reason(void) { return no_device_reason; }

extern "C" rt_code rt_cuda_device_count(int *count, rt_status *st) {
  (void)st; /* every failure of CUDA's start-up is an answer here, not an error */
  *count = 0;
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaSuccess && n > 0) {
    *count = n;
    return RT_OK;
  }
  int driver = 0, runtime = 0;
  /* cudaDriverGetVersion gives 0 without a driver; neither call needs a device. */
  if (cudaDriverGetVersion(&driver) != cudaSuccess) driver = 0;
  if (cudaRuntimeGetVersion(&runtime) != cudaSuccess) runtime = 0;
  (void)cudaGetLastError(); /* clear what the calls above left */
  rt_cuda_health h = RT_CUDA_START_FAILED;
  if (e == cudaSuccess || e == cudaErrorNoDevice) h = RT_CUDA_NO_DEVICE;
  else if (e == cudaErrorInsufficientDriver && driver == 0) h = RT_CUDA_NO_DRIVER;
  else if (e == cudaErrorInsufficientDriver && driver < runtime) h = RT_CUDA_OLD_DRIVER;
  else if (e == cudaErrorStubLibrary) h = RT_CUDA_STUB_DRIVER;
  rt_cuda_health_text(h, driver, runtime, e == cudaSuccess ? nullptr : cudaGetErrorName(e),
                      cudaGetErrorString(e), getenv("CUDA_VISIBLE_DEVICES"), no_device_reason,
                      sizeof no_device_reason);
  return RT_OK;
}

extern "C" rt_code rt_cuda_device_bus_id(int device, char *buf, size_t cap, rt_status *st) {
  if (cap < 13 || cap > (size_t)INT_MAX)
    return rt_fail(st, RT_ERR_INTERNAL, "rt_cuda_device_bus_id: a buffer of %zu bytes", cap);
  RT_CUDA_CHECK(st, cudaDeviceGetPCIBusId(buf, (int)cap, device));
  return RT_OK;
}

extern "C" void rt_cuda_use_device(int device, char *problem, size_t cap) {
  problem[0] = '\0';
  cudaError_t e = cudaSetDevice(device);
  if (e != cudaSuccess) {
    snprintf(problem, cap, "device %d cannot be used: %s (%s)", device, cudaGetErrorString(e),
             cudaGetErrorName(e));
    (void)cudaGetLastError();
    return;
  }
  /* Loading one of our kernels fails when the fat binary has nothing this device can run. */
  cudaFuncAttributes attr;
  e = cudaFuncGetAttributes(&attr, header_commit_kernel);
  if (e == cudaSuccess) return;
  (void)cudaGetLastError();
  cudaDeviceProp p;
  memset(&p, 0, sizeof p);
  if (cudaGetDeviceProperties(&p, device) != cudaSuccess) {
    (void)cudaGetLastError();
    snprintf(p.name, sizeof p.name, "unknown");
  }
  snprintf(problem, cap, "device %d (%s, compute capability %d.%d) cannot run this ringtrain's "
           "kernels: %s (%s)", device, p.name, p.major, p.minor, cudaGetErrorString(e),
           cudaGetErrorName(e));
}

extern "C" uint64_t rt_cuda_launch_count(void) {
  return (uint64_t)rt_cuda_launches.load(std::memory_order_relaxed);
}

extern "C" rt_code rt_cuda_stream_create(void **stream, rt_status *st) {
  cudaStream_t s = NULL;
  RT_CUDA_CHECK(st, cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  *stream = (void *)s;
  return RT_OK;
}

extern "C" rt_code rt_cuda_stream_sync(void *stream, rt_status *st) {
  RT_CUDA_CHECK(st, cudaStreamSynchronize((cudaStream_t)stream));
  return RT_OK;
}

extern "C" void rt_cuda_stream_destroy(void *stream) {
  if (stream) (void)cudaStreamDestroy((cudaStream_t)stream);
}

extern "C" rt_code rt_cuda_stream_order(void *from_stream, void *to_stream, rt_status *st) {
  cudaEvent_t ev;
  RT_CUDA_CHECK(st, cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  cudaError_t e = cudaEventRecord(ev, (cudaStream_t)from_stream);
  if (e == cudaSuccess) e = cudaStreamWaitEvent((cudaStream_t)to_stream, ev, 0);
  /* Destroying a recorded event is safe: its resources are released once it completes. */
  const cudaError_t d = cudaEventDestroy(ev);
  RT_CUDA_CHECK(st, e);
  RT_CUDA_CHECK(st, d);
  return RT_OK;
}

extern "C" rt_code rt_cuda_mem_info(size_t *free_b, size_t *total_b, rt_status *st) {
  RT_CUDA_CHECK(st, cudaMemGetInfo(free_b, total_b));
  return RT_OK;
}

extern "C" rt_code rt_cuda_check_fits(size_t need_bytes, const char *what, rt_status *st) {
  int device = 0;
  size_t free_b = 0, total_b = 0;
  RT_CUDA_CHECK(st, cudaGetDevice(&device));
  RT_CUDA_CHECK(st, cudaMemGetInfo(&free_b, &total_b));
  if (need_bytes <= free_b) return RT_OK;
  char have[32], need[32], miss[32];
  return rt_fail(st, RT_ERR_NOMEM, "device %d has %s free, %s needs %s: %s missing", device,
                 format_bytes(free_b, have, sizeof have), what,
                 format_bytes(need_bytes, need, sizeof need),
                 format_bytes(need_bytes - free_b, miss, sizeof miss));
}

/* ---- Device shards --------------------------------------------------------------------------- */

struct rt_cuda_shard {
  size_t rows, features;
  float *x; /* rows * features, row-major */
  float *y; /* rows, NULL without labels */
};

extern "C" size_t rt_cuda_shard_bytes(size_t rows, size_t features, int has_labels) {
  return round_up(rows * features * sizeof(float)) +
         (has_labels ? round_up(rows * sizeof(float)) : 0);
}

namespace {

struct copy_part {
  char *dst;
  const char *src;
  size_t bytes;
};

/* Host -> device through two pinned staging buffers used in turn: while one is being copied to
 * the device the other is filled. Returns after the stream has drained. */
rt_code staged_upload(const copy_part *parts, int nparts, cudaStream_t stream, rt_status *st) {
  size_t total = 0;
  for (int i = 0; i < nparts; ++i) total += parts[i].bytes;
  if (total == 0) return RT_OK;
  const size_t chunk = total < kStagingBytes ? total : kStagingBytes;
  char *stage[2] = {nullptr, nullptr};
  cudaEvent_t ready[2] = {nullptr, nullptr};
  bool used[2] = {false, false};
  rt_code rc = RT_OK;
  for (int b = 0; b < 2 && rc == RT_OK; ++b) {
    rc = RT_CUDA_CALL(st, cudaHostAlloc((void **)&stage[b], chunk, cudaHostAllocDefault));
    if (rc == RT_OK) rc = RT_CUDA_CALL(st, cudaEventCreateWithFlags(&ready[b], cudaEventDisableTiming));
  }
  int which = 0;
  for (int i = 0; i < nparts && rc == RT_OK; ++i) {
    for (size_t off = 0; off < parts[i].bytes && rc == RT_OK; off += chunk) {
      const size_t n = parts[i].bytes - off < chunk ? parts[i].bytes - off : chunk;
      if (used[which]) rc = RT_CUDA_CALL(st, cudaEventSynchronize(ready[which]));
      if (rc != RT_OK) break;
      memcpy(stage[which], parts[i].src + off, n);
      rc = RT_CUDA_CALL(st, cudaMemcpyAsync(parts[i].dst + off, stage[which], n,
                                            cudaMemcpyHostToDevice, stream));
      if (rc == RT_OK) rc = RT_CUDA_CALL(st, cudaEventRecord(ready[which], stream));
      used[which] = true;
      which ^= 1;
    }
  }
  /* Drain before the staging memory goes, also on failure (copies may still read it). */
  const rt_code sync_rc = RT_CUDA_CALL(rc == RT_OK ? st : nullptr, cudaStreamSynchronize(stream));
  if (rc == RT_OK) rc = sync_rc;
  for (int b = 0; b < 2; ++b) {
    if (ready[b]) (void)cudaEventDestroy(ready[b]);
    if (stage[b]) (void)cudaFreeHost(stage[b]);
  }
  return rc;
}

} /* namespace */

extern "C" rt_code rt_cuda_shard_upload(const rt_shard *host, void *stream, rt_cuda_shard **out,
                                        rt_status *st) {
  *out = nullptr;
  rt_nvtx_push("upload shard (%zu rows x %zu features)", host->rows, host->features);
  rt_nvtx_scope nvtx_range;
  rt_cuda_shard *d = (rt_cuda_shard *)calloc(1, sizeof *d);
  if (!d) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a device shard descriptor");
  d->rows = host->rows;
  d->features = host->features;
  const size_t xb = host->rows * host->features * sizeof(float);
  const size_t yb = host->y ? host->rows * sizeof(float) : 0;
  rt_code rc = rt_cuda_check_fits(rt_cuda_shard_bytes(host->rows, host->features, host->y != nullptr),
                                  "loading a shard", st);
  if (rc == RT_OK && xb) rc = RT_CUDA_CALL(st, cudaMalloc((void **)&d->x, xb));
  if (rc == RT_OK && yb) rc = RT_CUDA_CALL(st, cudaMalloc((void **)&d->y, yb));
  if (rc == RT_OK) {
    const copy_part parts[2] = {{(char *)d->x, (const char *)host->x, xb},
                                {(char *)d->y, (const char *)host->y, yb}};
    rc = staged_upload(parts, 2, (cudaStream_t)stream, st);
  }
  if (rc != RT_OK) {
    rt_cuda_shard_free(d);
    return rc;
  }
  *out = d;
  return RT_OK;
}

extern "C" void rt_cuda_shard_free(rt_cuda_shard *shard) {
  if (!shard) return;
  if (shard->x) (void)cudaFree(shard->x);
  if (shard->y) (void)cudaFree(shard->y);
  free(shard);
}

extern "C" size_t rt_cuda_shard_rows(const rt_cuda_shard *shard) { return shard->rows; }
extern "C" size_t rt_cuda_shard_features(const rt_cuda_shard *shard) { return shard->features; }

/* ---- Slots ----------------------------------------------------------------------------------- */

/* struct rt_cuda_slot: rt_cuda_internal.h (the family files carve its workspace). */

namespace {

/* The kernels of a kind: its family in the one registry (src/model.c), by id. A family added
 * there without a case here is a -Wswitch error. */
const rt_cuda_family *cuda_family_of(const char *kind) {
  const rt_family *fam = rt_family_find(kind);
  if (!fam) return nullptr;
  switch (fam->id) {
    case RT_FAMILY_LOGISTIC: return &rt_cuda_family_logistic;
    case RT_FAMILY_KMEANS: return &rt_cuda_family_kmeans;
    case RT_FAMILY_LINEAR: return &rt_cuda_family_linear;
    case RT_FAMILY_MLP: return &rt_cuda_family_mlp;
    case RT_FAMILY_COUNT: break;
  }
  return nullptr;
}

} /* namespace */

extern "C" size_t rt_cuda_work_floats(const rt_model_spec *spec, size_t max_rows) {
  const rt_cuda_family *f = cuda_family_of(spec->hp.kind);
  return f ? f->work_floats(spec, max_rows) : 0;
}

extern "C" size_t rt_cuda_slot_bytes(size_t max_state_bytes, size_t max_batch_rows,
                                     size_t max_features, size_t max_classes, size_t work_floats) {
  (void)max_features, (void)max_classes; /* bounds only: the workspace holds the math */
  return round_up(max_state_bytes) + round_up((work_floats ? work_floats : 1) * sizeof(float)) +
         round_up(RT_EVAL_SUMS * max_batch_rows * sizeof(double)) +
         round_up(RT_EVAL_SUMS * sizeof(double)) + kBlasWorkspaceBytes;
}

extern "C" rt_code rt_cuda_slot_create(size_t max_state_bytes, size_t max_batch_rows,
                                       size_t max_features, size_t max_classes, size_t work_floats,
                                       rt_cuda_slot **out, rt_status *st) {
  *out = nullptr;
  if (max_state_bytes < sizeof(rt_state_header) || max_batch_rows == 0 || max_features == 0)
    return rt_fail(st, RT_ERR_INTERNAL,
                   "rt_cuda_slot_create: bad sizes (state %zu bytes, %zu rows, %zu features)",
                   max_state_bytes, max_batch_rows, max_features);
  rt_code rc = rt_cuda_check_fits(
      rt_cuda_slot_bytes(max_state_bytes, max_batch_rows, max_features, max_classes, work_floats),
      "a training slot", st);
  if (rc != RT_OK) return rc;
  rt_cuda_slot *s = (rt_cuda_slot *)calloc(1, sizeof *s);
  if (!s) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a slot descriptor");
  s->state_cap = max_state_bytes;
  s->max_rows = max_batch_rows;
  s->max_features = max_features;
  s->max_classes = max_classes;
  s->work_cap = work_floats;
  const size_t work_bytes = (work_floats ? work_floats : 1) * sizeof(float);
  if ((rc = RT_CUDA_CALL(st, cudaGetDevice(&s->device))) ||
      (rc = RT_CUDA_CALL(st, cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking))) ||
      (rc = RT_CUDA_CALL(st, cudaEventCreateWithFlags(&s->done, cudaEventDisableTiming))) ||
      (rc = RT_CUDA_CALL(st, cudaMalloc(&s->blas_ws, kBlasWorkspaceBytes))) ||
      (rc = RT_CUDA_CALL(st, cudaMalloc((void **)&s->state, max_state_bytes))) ||
      (rc = RT_CUDA_CALL(st, cudaMalloc((void **)&s->work, work_bytes))) ||
      (rc = RT_CUDA_CALL(st, cudaMalloc((void **)&s->row_vals,
                                        RT_EVAL_SUMS * max_batch_rows * sizeof(double)))) ||
      (rc = RT_CUDA_CALL(st, cudaMalloc((void **)&s->acc, RT_EVAL_SUMS * sizeof(double)))) ||
      (rc = RT_CUDA_CALL(st, cudaHostAlloc((void **)&s->pinned, kPinnedBytes, cudaHostAllocDefault))) ||
      (rc = RT_CUDA_CALL(st, cudaHostAlloc((void **)&s->staging, max_state_bytes, cudaHostAllocDefault))) ||
      (rc = RT_CUDA_CALL(st, cudaEventCreateWithFlags(&s->staging_free, cudaEventDisableTiming))) ||
      (rc = RT_CUDA_CALL(st, cudaEventCreateWithFlags(&s->copy_done, cudaEventDisableTiming))) ||
      (rc = RT_CUBLAS_CALL(st, cublasCreate(&s->blas))) ||
      /* cublasSetStream resets the workspace to the shared default pool: set ours after it. */
      (rc = RT_CUBLAS_CALL(st, cublasSetStream(s->blas, s->stream))) ||
      (rc = RT_CUBLAS_CALL(st, cublasSetWorkspace(s->blas, s->blas_ws, kBlasWorkspaceBytes))) ||
      (rc = RT_CUBLAS_CALL(st, cublasSetAtomicsMode(s->blas, CUBLAS_ATOMICS_NOT_ALLOWED))) ||
      /* Default math with cublasSgemm is fp32 compute; TF32 only comes with the TF32 math mode or
       * a *_FAST_TF32 compute type, neither of which is used. */
      (rc = RT_CUBLAS_CALL(st, cublasSetMathMode(s->blas, CUBLAS_DEFAULT_MATH))) ||
      (rc = RT_CUBLAS_CALL(st, cublasSetPointerMode(s->blas, CUBLAS_POINTER_MODE_HOST)))) {
    rt_cuda_slot_free(s);
    return rc;
  }
  *out = s;
  return RT_OK;
}

extern "C" void rt_cuda_slot_free(rt_cuda_slot *s) {
  if (!s) return;
  if (s->stream) (void)cudaStreamSynchronize(s->stream);
  if (s->blas) (void)cublasDestroy(s->blas);
  if (s->blas_ws) (void)cudaFree(s->blas_ws);
  if (s->state) (void)cudaFree(s->state);
  if (s->work) (void)cudaFree(s->work);
  if (s->row_vals) (void)cudaFree(s->row_vals);
  if (s->acc) (void)cudaFree(s->acc);
  if (s->pinned) (void)cudaFreeHost(s->pinned);
  if (s->staging) (void)cudaFreeHost(s->staging);
  if (s->staging_free) (void)cudaEventDestroy(s->staging_free);
  if (s->copy_done) (void)cudaEventDestroy(s->copy_done);
  if (s->done) (void)cudaEventDestroy(s->done);
  if (s->stream) (void)cudaStreamDestroy(s->stream);
  free(s->order);
  free(s);
}

extern "C" void *rt_cuda_slot_stream(rt_cuda_slot *slot) { return (void *)slot->stream; }
extern "C" void *rt_cuda_slot_state(rt_cuda_slot *slot) { return slot->state; }
extern "C" size_t rt_cuda_slot_state_capacity(const rt_cuda_slot *slot) { return slot->state_cap; }
extern "C" size_t rt_cuda_slot_state_bytes(const rt_cuda_slot *slot) { return slot->state_bytes; }
extern "C" const rt_state_header *rt_cuda_slot_header(const rt_cuda_slot *slot) {
  return &slot->mirror;
}

namespace {

rt_code check_state_size(const rt_cuda_slot *slot, size_t bytes, rt_status *st) {
  if (bytes < sizeof(rt_state_header) || bytes > slot->state_cap)
    return rt_fail(st, RT_ERR_INTERNAL,
                   "a state of %zu bytes does not fit this slot (header %zu, capacity %zu bytes)",
                   bytes, sizeof(rt_state_header), slot->state_cap);
  return RT_OK;
}

rt_code mark_done(rt_cuda_slot *slot, rt_status *st) {
  RT_CUDA_CHECK(st, cudaEventRecord(slot->done, slot->stream));
  return RT_OK;
}

/* `ev` marks the last use of something on the slot's stream; an event never recorded counts as
 * complete. Never waits: still in flight is the caller's mistake, reported. */
rt_code staging_ready(cudaEvent_t ev, const char *what, rt_status *st) {
  const cudaError_t e = cudaEventQuery(ev);
  if (e == cudaErrorNotReady) {
    (void)cudaGetLastError(); /* an answer, not a pending error */
    return rt_fail(st, RT_ERR_INTERNAL, "%s was issued while the slot's previous state copy is "
                   "still in flight (synchronise the slot in between)", what);
  }
  return rt_cuda_result(st, e, "cudaEventQuery", __FILE__, __LINE__);
}

/* Runs on a CUDA thread once the device-to-host copy into the staging buffer is done. */
void CUDART_CB copy_out_of_staging(void *user) {
  const rt_cuda_slot *slot = (const rt_cuda_slot *)user;
  memcpy(slot->copy_out.dst, slot->copy_out.src, slot->copy_out.bytes);
}

} /* namespace */

extern "C" rt_code rt_cuda_state_upload(rt_cuda_slot *slot, const void *host_state, size_t bytes,
                                        rt_status *st) {
  /* The host writes the staging buffer: every earlier use of it on the stream must be over. */
  rt_code rc = check_state_size(slot, bytes, st);
  if (rc == RT_OK) rc = staging_ready(slot->staging_free, "a state upload", st);
  if (rc != RT_OK) return rc;
  const rt_state_header *h = (const rt_state_header *)host_state;
  rt_nvtx_push("upload model %llu state", (unsigned long long)h->model_id);
  rt_nvtx_scope nvtx_range;
  memcpy(slot->staging, host_state, bytes); /* the caller's buffer is free from here on */
  RT_CUDA_CHECK(st, cudaMemcpyAsync(slot->state, slot->staging, bytes, cudaMemcpyHostToDevice,
                                    slot->stream));
  RT_CUDA_CHECK(st, cudaEventRecord(slot->staging_free, slot->stream));
  memcpy(&slot->mirror, host_state, sizeof slot->mirror);
  slot->state_bytes = bytes;
  slot->has_model = 1;
  return mark_done(slot, st);
}

extern "C" rt_code rt_cuda_state_download(rt_cuda_slot *slot, void *host_state, size_t bytes,
                                          rt_status *st) {
  if (!slot->has_model)
    return rt_fail(st, RT_ERR_INTERNAL, "rt_cuda_state_download: the slot holds no model");
  if (bytes < slot->state_bytes)
    return rt_fail(st, RT_ERR_INTERNAL,
                   "rt_cuda_state_download: buffer of %zu bytes for a state of %zu bytes", bytes,
                   slot->state_bytes);
  /* The device side of the staging buffer is ordered by the stream (after an upload's copy from
   * it); only the host copy of an earlier download must be over, as copy_out is rewritten. */
  rt_code rc;
  RT_TRY(rc, staging_ready(slot->copy_done, "a state download", st));
  RT_CUDA_CHECK(st, cudaMemcpyAsync(slot->staging, slot->state, slot->state_bytes,
                                    cudaMemcpyDeviceToHost, slot->stream));
  slot->copy_out.dst = host_state;
  slot->copy_out.src = slot->staging;
  slot->copy_out.bytes = slot->state_bytes;
  RT_CUDA_CHECK(st, cudaLaunchHostFunc(slot->stream, copy_out_of_staging, slot));
  RT_CUDA_CHECK(st, cudaEventRecord(slot->copy_done, slot->stream));
  RT_CUDA_CHECK(st, cudaEventRecord(slot->staging_free, slot->stream));
  return mark_done(slot, st);
}

extern "C" rt_code rt_cuda_header_refresh(rt_cuda_slot *slot, rt_status *st) {
  RT_CUDA_CHECK(st, cudaMemcpyAsync(slot->pinned, slot->state, sizeof(rt_state_header),
                                    cudaMemcpyDeviceToHost, slot->stream));
  RT_CUDA_CHECK(st, cudaStreamSynchronize(slot->stream));
  memcpy(&slot->mirror, slot->pinned, sizeof slot->mirror);
  slot->has_model = 1;
  return RT_OK;
}

extern "C" rt_code rt_cuda_state_adopt(rt_cuda_slot *slot, size_t bytes, rt_status *st) {
  rt_code rc;
  RT_TRY(rc, check_state_size(slot, bytes, st));
  slot->state_bytes = bytes;
  return rt_cuda_header_refresh(slot, st);
}

extern "C" rt_code rt_cuda_state_arrive(rt_cuda_slot *slot, size_t bytes,
                                        const rt_state_header *expected, rt_status *st) {
  rt_code rc;
  RT_TRY(rc, check_state_size(slot, bytes, st));
  slot->state_bytes = bytes;
  slot->mirror = *expected;
  slot->has_model = 1;
  return RT_OK;
}

extern "C" rt_code rt_cuda_slot_sync(rt_cuda_slot *slot, rt_status *st) {
  RT_CUDA_CHECK(st, cudaStreamSynchronize(slot->stream));
  return RT_OK;
}

extern "C" rt_code rt_cuda_slot_query(rt_cuda_slot *slot, int *done, rt_status *st) {
  const cudaError_t e = cudaEventQuery(slot->done);
  if (e == cudaErrorNotReady) {
    (void)cudaGetLastError(); /* "not ready" is an answer, not a pending error */
    *done = 0;
    return RT_OK;
  }
  *done = 1;
  return rt_cuda_result(st, e, "cudaEventQuery(slot->done)", __FILE__, __LINE__);
}

/* ---- Shared pieces of the families ------------------------------------------------------- */

int rt_cuda_elem_blocks(size_t n) { return capped_blocks_for(n, kElemThreads); }

rt_code rt_cuda_rm_sgemm(rt_cuda_slot *slot, int ta, int tb, int m, int n, int k, const float *a,
                         const float *b, float *c, rt_status *st) {
  /* cuBLAS is column-major: a row-major matrix is its column-major transpose, so compute
   * C^T (n x m) = op(B)^T op(A)^T with the stored matrices as they are. */
  const float one = 1.0f, zero = 0.0f;
  RT_CUBLAS_CHECK(st, cublasSgemm(slot->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                  ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &one, b, tb ? k : n, a,
                                  ta ? m : k, &zero, c, n));
  return RT_OK;
}

rt_code rt_cuda_softmax_xent(rt_cuda_slot *slot, float *z, const float *b, const float *y,
                             int rows, int c, double *row_loss, rt_status *st) {
  softmax_xent_kernel<<<blocks_for((size_t)rows, kRowThreads), kRowThreads, 0, slot->stream>>>(
      z, b, y, rows, c, 1.0f / (float)rows, row_loss);
  RT_CUDA_CHECK_LAUNCH(st);
  return RT_OK;
}

rt_code rt_cuda_softmax_eval(rt_cuda_slot *slot, float *z, const float *b, const float *y,
                             int rows, int c, double *loss, double *hit, rt_status *st) {
  eval_rows_kernel<<<blocks_for((size_t)rows, kRowThreads), kRowThreads, 0, slot->stream>>>(
      z, b, y, rows, c, loss, hit);
  RT_CUDA_CHECK_LAUNCH(st);
  return RT_OK;
}

rt_code rt_cuda_column_sums(rt_cuda_slot *slot, const float *g, int rows, int c, float *gb,
                            rt_status *st) {
  bias_grad_kernel<<<blocks_for((size_t)c, kElemThreads), kElemThreads, 0, slot->stream>>>(
      g, rows, c, gb);
  RT_CUDA_CHECK_LAUNCH(st);
  return RT_OK;
}

/* ---- logistic ------------------------------------------------------------------------------ */

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
  if (!has_labels)
    return rt_model_refuse(st, RT_ERR_DATA, spec, "needs labels, the device shard has none");
  return RT_OK;
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

const rt_cuda_family rt_cuda_family_logistic = {logistic_work, logistic_check,
                                                logistic_batch, logistic_eval, nullptr};

/* ---- Compute --------------------------------------------------------------------------------- */

namespace {

/* The family of a spec, before anything else is looked at (its layout included); then the
 * family's own rules (the same check the CPU runs, src/family_*.c), which the CUDA family's
 * check and the layout rely on. */
rt_code check_kind(const rt_model_spec *spec, const rt_cuda_family **fam, rt_status *st) {
  const rt_family *host = rt_family_find(spec->hp.kind);
  *fam = cuda_family_of(spec->hp.kind); /* nullptr for a kind the registry does not know */
  if (!*fam)
    return rt_model_refuse(st, RT_ERR_CONFIG, spec,
                           "the CUDA backend has no kernels for this kind (use backend: cpu)");
  return host->check(spec, st);
}

/* The CUDA limits of a spec for batches (or evaluation chunks) of rows_per_call rows. */
rt_code check_limits(const rt_cuda_family *fam, const rt_model_spec *spec, size_t rows_per_call,
                     int has_labels, rt_status *st) {
  rt_code rc;
  if ((rc = rt_cuda_check_dim(spec, "features", spec->problem.features, st)) ||
      (rc = rt_cuda_check_dim(spec, "rows per batch", rows_per_call, st)))
    return rc;
  return fam->check(spec, rows_per_call, has_labels, st);
}

/* Everything a launch relies on, checked before anything is issued. */
rt_code check_model(const rt_cuda_slot *slot, const rt_cuda_family *fam, const rt_model_spec *spec,
                    const rt_cuda_shard *shard, const rt_state_layout *l, size_t rows_per_call,
                    rt_status *st) {
  const size_t d = spec->problem.features, c = spec->problem.classes;
  const unsigned long long id = (unsigned long long)spec->id;
  if (!slot->has_model)
    return rt_fail(st, RT_ERR_INTERNAL, "model %llu: the CUDA slot holds no state", id);
  if (slot->mirror.magic != RT_STATE_MAGIC || slot->mirror.model_id != spec->id)
    return rt_fail(st, RT_ERR_INTERNAL,
                   "model %llu: the CUDA slot holds a different or damaged state (model %llu)", id,
                   (unsigned long long)slot->mirror.model_id);
  if (slot->state_bytes != l->total_bytes)
    return rt_fail(st, RT_ERR_INTERNAL, "model %llu: state is %zu bytes, its layout says %zu", id,
                   slot->state_bytes, l->total_bytes);
  const rt_code rc = check_limits(fam, spec, rows_per_call, shard->rows == 0 || shard->y != nullptr, st);
  if (rc != RT_OK) return rc;
  const size_t work = fam->work_floats(spec, rows_per_call);
  if (d > slot->max_features || c > slot->max_classes || rows_per_call > slot->max_rows ||
      work > slot->work_cap)
    return rt_fail(st, RT_ERR_INTERNAL,
                   "model %llu: %zu features, %zu classes, %zu rows per batch, %zu workspace floats "
                   "exceed the CUDA slot's %zu, %zu, %zu, %zu", id, d, c, rows_per_call, work,
                   slot->max_features, slot->max_classes, slot->max_rows, slot->work_cap);
  if (shard->features != d)
    return rt_fail(st, RT_ERR_DATA, "model %llu expects %zu features, the device shard has %zu",
                   id, d, shard->features);
  return RT_OK;
}

} /* namespace */

extern "C" rt_code rt_cuda_check_spec(const rt_model_spec *spec, rt_status *st) {
  const rt_cuda_family *fam = nullptr;
  const rt_code rc = check_kind(spec, &fam, st);
  if (rc != RT_OK) return rc;
  return check_limits(fam, spec, (size_t)spec->hp.batch_size, 1, st);
}

extern "C" rt_code rt_cuda_integrate_shard(rt_cuda_slot *slot, const rt_model_spec *spec,
                                           const rt_cuda_shard *shard, uint64_t shard_index,
                                           rt_status *st) {
  const rt_cuda_family *fam = nullptr;
  rt_code rc;
  RT_TRY(rc, check_kind(spec, &fam, st));
  const rt_state_layout l = rt_state_layout_of(spec);
  const size_t batch = (size_t)spec->hp.batch_size;
  if ((rc = check_model(slot, fam, spec, shard, &l, batch, st)) != RT_OK) return rc;
  rt_state_header *m = &slot->mirror;
  rt_nvtx_push("integrate model %llu pass %llu shard %llu", (unsigned long long)spec->id,
               (unsigned long long)m->pass, (unsigned long long)shard_index);
  rt_nvtx_scope nvtx_range;

  const size_t d = spec->problem.features;
  rt_state_header *dh = (rt_state_header *)slot->state;
  float *params = (float *)(slot->state + l.params_offset);
  float *aux = (float *)(slot->state + l.aux_offset);

  const size_t nb = (shard->rows + batch - 1) / batch;
  if (nb > slot->order_cap) {
    uint64_t *grown = (uint64_t *)realloc(slot->order, nb * sizeof *grown);
    if (!grown) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate the batch order of %zu batches", nb);
    slot->order = grown;
    slot->order_cap = nb;
  }
  rt_rng_permutation(rt_batch_order_key(m, m->pass, shard_index), slot->order, nb);

  const rt_model_config *hp = &spec->hp;
  opt_args a = {};
  a.kind = hp->optimizer == RT_OPT_ADAM ? OPT_ADAM : hp->momentum > 0.0 ? OPT_MOMENTUM : OPT_SGD;
  a.b1 = (float)hp->beta1;
  a.b2 = (float)hp->beta2;
  a.eps = (float)hp->epsilon;
  a.mu = (float)hp->momentum;
  a.n = l.param_count;
  const uint64_t total_steps = spec->total_batches * spec->passes;
  const int opt_blocks = capped_blocks_for(l.param_count, kElemThreads);

  for (size_t k = 0; k < nb; ++k) {
    const size_t first = (size_t)slot->order[k] * batch;
    const size_t rows = first + batch <= shard->rows ? batch : shard->rows - first;
    rt_cuda_batch b;
    b.spec = spec;
    b.dh = dh;
    b.params = params;
    b.aux = aux;
    b.x = shard->x + first * d;
    b.y = shard->y ? shard->y + first : nullptr;
    b.rows = (int)rows;
    rt_cuda_batch_out out = {};
    if ((rc = fam->batch(slot, &b, &out, st)) != RT_OK) return rc;
    /* diverged |= !isfinite(loss); pass_loss_sum += diverged ? NaN : loss (rt_cpu_integrate_shard) */
    batch_loss_kernel<<<1, kReduceThreads, 0, slot->stream>>>(slot->row_vals, out.loss_n, dh);
    RT_CUDA_CHECK_LAUNCH(st);
    if (out.gradient) {
      a.lr = (float)rt_lr_at(hp->learning_rate, hp->schedule, hp->decay, m->step, total_steps);
      if (a.kind == OPT_ADAM) {
        a.c1 = (float)rt_adam_bias_correction(hp->beta1, m->step);
        a.c2 = (float)rt_adam_bias_correction(hp->beta2, m->step);
      }
      a.l2 = out.l2;
      a.nw = out.nw;
      optimizer_kernel<<<opt_blocks, kElemThreads, 0, slot->stream>>>(dh, params, aux, slot->work,
                                                                        a);
      RT_CUDA_CHECK_LAUNCH(st);
    }
    /* The host-owned counters advance for every batch, diverged or not (as on the CPU). */
    m->pass_loss_rows += rows;
    m->samples += rows;
    m->step += 1;
  }
  header_commit_kernel<<<1, 1, 0, slot->stream>>>(dh, m->step, m->samples, m->pass_loss_rows);
  RT_CUDA_CHECK_LAUNCH(st);
  return mark_done(slot, st);
}

extern "C" rt_code rt_cuda_finish_visit(rt_cuda_slot *slot, const rt_model_spec *spec,
                                        uint64_t shards, int *model_done, rt_status *st) {
  const rt_cuda_family *fam = nullptr;
  rt_code rc;
  RT_TRY(rc, check_kind(spec, &fam, st));
  rt_state_header *m = &slot->mirror;
  if (!slot->has_model || m->pass >= spec->passes || shards == 0)
    return rt_fail(st, RT_ERR_INTERNAL,
                   "model %llu: finish_visit at pass %llu of %llu (%llu shards)",
                   (unsigned long long)spec->id, (unsigned long long)m->pass,
                   (unsigned long long)spec->passes, (unsigned long long)shards);
  const rt_state_layout l = rt_state_layout_of(spec);
  int close = 0;
  const unsigned long long closed_pass = m->pass, closed_rows = m->pass_loss_rows;
  if (++m->position == shards) {
    close = 1;
    m->pass_loss_sum = 0.0;
    m->pass_loss_rows = 0;
    m->position = 0;
    m->pass += 1;
  }
  visit_end_kernel<<<1, 1, 0, slot->stream>>>(
      (rt_state_header *)slot->state, (double *)(slot->state + l.history_offset), close,
      closed_pass, closed_rows, m->position, m->pass);
  RT_CUDA_CHECK_LAUNCH(st);
  /* The family's pass end, where engine.c serve() calls it: after the pass is closed. */
  if (close && fam->pass_end && (rc = fam->pass_end(slot, spec, closed_pass, st)) != RT_OK) return rc;
  *model_done = m->pass == spec->passes;
  return mark_done(slot, st);
}

extern "C" rt_code rt_cuda_evaluate_shard(rt_cuda_slot *slot, const rt_model_spec *spec,
                                          const rt_cuda_shard *shard, double *sums,
                                          rt_status *st) {
  const rt_cuda_family *fam = nullptr;
  rt_code rc;
  RT_TRY(rc, check_kind(spec, &fam, st));
  const rt_state_layout l = rt_state_layout_of(spec);
  if ((rc = check_model(slot, fam, spec, shard, &l, slot->max_rows, st)) != RT_OK) return rc;
  rt_nvtx_push("evaluate model %llu (%zu rows)", (unsigned long long)spec->id, shard->rows);
  rt_nvtx_scope nvtx_range;
  const size_t d = spec->problem.features;
  const size_t chunk = slot->max_rows;
  RT_CUDA_CHECK(st, cudaMemsetAsync(slot->acc, 0, RT_EVAL_SUMS * sizeof(double), slot->stream));
  for (size_t first = 0; first < shard->rows; first += chunk) {
    rt_cuda_batch b;
    b.spec = spec;
    b.dh = (rt_state_header *)slot->state;
    b.params = (float *)(slot->state + l.params_offset);
    b.aux = (float *)(slot->state + l.aux_offset);
    b.x = shard->x + first * d;
    b.y = shard->y ? shard->y + first : nullptr;
    b.rows = (int)(first + chunk <= shard->rows ? chunk : shard->rows - first);
    int n = 0;
    if ((rc = fam->eval(slot, &b, &n, st)) != RT_OK) return rc;
    eval_reduce_kernel<<<1, kReduceThreads, 0, slot->stream>>>(slot->row_vals, slot->max_rows, n,
                                                                b.rows, slot->acc);
    RT_CUDA_CHECK_LAUNCH(st);
  }
  RT_CUDA_CHECK(st, cudaMemcpyAsync(slot->pinned, slot->acc, RT_EVAL_SUMS * sizeof(double),
                                    cudaMemcpyDeviceToHost, slot->stream));
  RT_CUDA_CHECK(st, cudaStreamSynchronize(slot->stream));
  double got[RT_EVAL_SUMS];
  memcpy(got, slot->pinned, sizeof got);
  for (int k = 0; k < RT_EVAL_SUMS; ++k) sums[k] += got[k];
  return mark_done(slot, st);
}
