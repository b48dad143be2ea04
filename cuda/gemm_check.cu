/* The matrix product of gemm.cu on a real device, checked and timed (declared in gemm.h): its C
 * against the host emulation bit for bit (both forms, registers and shared memory), its last
 * product alone against the same product in the batch, and both against
 * cublasSgemmStridedBatched for speed (and, as a recorded fact, whether
 * cuBLAS's product is the same alone). Serves tests/gpu/test_gpu_gemm.c and rt-gpu-query --gemm
 * (scripts/gpu/validate.sh). */
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "rt_cuda_internal.h"

namespace {

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

/* Values in [-64, 64), uniform in [-1, 1) scaled by 2^-6 .. 2^6, so that the order of a sum
 * shows. */
void fill(float *v, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; ++i) {
    const uint64_t r = mix(seed * 0x9e3779b97f4a7c15ULL + i);
    const float u = (float)(r >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
    v[i] = ldexpf(u, (int)(r % 13) - 6);
  }
}

struct bench {
  float *ha = nullptr, *hb = nullptr, *hc = nullptr, *he = nullptr, *h1 = nullptr;
  float *da = nullptr, *db = nullptr, *dc = nullptr, *d1 = nullptr;
  cudaStream_t s = nullptr;
  cudaEvent_t t0 = nullptr, t1 = nullptr;
  cublasHandle_t blas = nullptr;
  ~bench() {
    if (s) (void)cudaStreamSynchronize(s);
    if (blas) (void)cublasDestroy(blas);
    if (t0) (void)cudaEventDestroy(t0);
    if (t1) (void)cudaEventDestroy(t1);
    if (s) (void)cudaStreamDestroy(s);
    (void)cudaFree(da), (void)cudaFree(db), (void)cudaFree(dc), (void)cudaFree(d1);
    free(ha), free(hb), free(hc), free(he), free(h1);
  }
};

/* Launches between a timing's two events: the device stays busy, so the host's launch time (a
 * few microseconds, more for cuBLAS, which picks its kernel on the host) is not what is timed. */
constexpr int kBackToBack = 10;

/* The best of `repeats` timings of kBackToBack runs of issue() on b.s, in seconds per run, after
 * one warm-up. */
template <typename F>
rt_code best_time(bench &b, int repeats, F issue, double *seconds, rt_status *st) {
  rt_code rc;
  RT_TRY(rc, issue());
  float best = 0.0f;
  for (int r = 0; r < repeats; ++r) {
    RT_CUDA_CHECK(st, cudaEventRecord(b.t0, b.s));
    for (int i = 0; i < kBackToBack; ++i) RT_TRY(rc, issue());
    RT_CUDA_CHECK(st, cudaEventRecord(b.t1, b.s));
    RT_CUDA_CHECK(st, cudaEventSynchronize(b.t1));
    float ms = 0.0f;
    RT_CUDA_CHECK(st, cudaEventElapsedTime(&ms, b.t0, b.t1));
    if (r == 0 || ms < best) best = ms;
  }
  *seconds = 1e-3 * (double)best / kBackToBack;
  return RT_OK;
}

rt_code cublas_product(bench &b, const rt_cuda_gemm &g, rt_status *st) {
  const float one = 1.0f, zero = 0.0f;
  RT_CUBLAS_CHECK(st, cublasSgemmStridedBatched(b.blas, g.ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                                g.tb ? CUBLAS_OP_T : CUBLAS_OP_N, g.m, g.n, g.k,
                                                &one, g.a, g.lda, g.sa, g.b, g.ldb, g.sb, &zero,
                                                g.c, g.ldc, g.sc, g.count));
  return RT_OK;
}

const rt_cuda_gemm_case kCases[] = {
    /* ta, tb, m, n, k, count, share_b (column-major, as the families issue them) */
    {0, 0, 10, 256, 784, 64, 1},  {0, 1, 10, 784, 256, 64, 1},  {0, 0, 10, 256, 784, 1, 1},
    {0, 0, 128, 128, 784, 16, 1}, {0, 1, 128, 784, 128, 16, 1}, {1, 0, 128, 128, 10, 16, 0},
    {1, 0, 10, 1024, 784, 16, 1}, {0, 1, 2, 100, 4096, 8, 1},   {0, 0, 10, 128, 128, 16, 0},
    {0, 1, 10, 128, 128, 16, 0},
};
const char *const kCaseNames[] = {
    "softmax forward, 64 members (Z = W X, batch 256, 784 -> 10)",
    "softmax weight gradient, 64 members (X^T Delta over 256 rows)",
    "softmax forward, one model alone",
    "MLP first layer forward, 16 members (784 -> 128, batch 128)",
    "MLP first layer weight gradient, 16 members",
    "MLP delta back through the output layer, 16 members (10 -> 128)",
    "k-means distances, 16 members (k = 10, batch 1024, 784 features)",
    "tall: 8 members' gradients summed over 4096 rows into 100 x 2",
    "MLP output layer forward, 16 members (128 -> 10, batch 128)",
    "MLP output layer weight gradient, 16 members",
};
static_assert(sizeof kCases / sizeof kCases[0] == sizeof kCaseNames / sizeof kCaseNames[0],
              "a name per case");

} /* namespace */

extern "C" const rt_cuda_gemm_case *rt_cuda_gemm_cases(size_t *count, const char *const **names) {
  *count = sizeof kCases / sizeof kCases[0];
  if (names) *names = kCaseNames;
  return kCases;
}

extern "C" rt_code rt_cuda_gemm_check(const rt_cuda_gemm_case *c, int repeats,
                                      rt_cuda_gemm_result *out, rt_status *st) {
  memset(out, 0, sizeof *out);
  if (c->m < 1 || c->n < 1 || c->k < 1 || c->count < 1 || repeats < 0)
    return rt_fail(st, RT_ERR_USAGE, "rt_cuda_gemm_check: %d x %d x %d, %d products, %d repeats",
                   c->m, c->n, c->k, c->count, repeats);
  /* Full matrices; the operands' pointers are set below, on the device and on the host. */
  rt_cuda_gemm g = rt_cuda_gemm_of(c->ta, c->tb, c->m, c->n, c->k, nullptr, c->ta ? c->k : c->m,
                                   (long long)c->m * c->k, nullptr, c->tb ? c->n : c->k,
                                   c->share_b ? 0 : (long long)c->k * c->n, nullptr, c->m,
                                   (long long)c->m * c->n, c->count);
  const size_t na = (size_t)g.sa * (size_t)g.count;
  const size_t nb = (size_t)c->k * (size_t)c->n * (size_t)(c->share_b ? 1 : g.count);
  const size_t nc = (size_t)g.sc * (size_t)g.count;
  bench b;
  b.ha = (float *)malloc(na * sizeof(float));
  b.hb = (float *)malloc(nb * sizeof(float));
  b.hc = (float *)malloc(nc * sizeof(float));
  b.he = (float *)malloc(nc * sizeof(float));
  b.h1 = (float *)malloc((size_t)g.sc * sizeof(float));
  if (!b.ha || !b.hb || !b.hc || !b.he || !b.h1)
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a %d x %d x %d product's host copies",
                      c->m, c->n, c->k);
  fill(b.ha, na, 1);
  fill(b.hb, nb, 2);
  RT_CUDA_CHECK(st, cudaMalloc((void **)&b.da, na * sizeof(float)));
  RT_CUDA_CHECK(st, cudaMalloc((void **)&b.db, nb * sizeof(float)));
  RT_CUDA_CHECK(st, cudaMalloc((void **)&b.dc, nc * sizeof(float)));
  RT_CUDA_CHECK(st, cudaMalloc((void **)&b.d1, (size_t)g.sc * sizeof(float)));
  RT_CUDA_CHECK(st, cudaStreamCreateWithFlags(&b.s, cudaStreamNonBlocking));
  RT_CUDA_CHECK(st, cudaEventCreate(&b.t0));
  RT_CUDA_CHECK(st, cudaEventCreate(&b.t1));
  rt_code rc;
  if ((rc = RT_CUBLAS_CALL(st, cublasCreate(&b.blas))) ||
      (rc = RT_CUBLAS_CALL(st, cublasSetStream(b.blas, b.s))) ||
      (rc = RT_CUBLAS_CALL(st, cublasSetAtomicsMode(b.blas, CUBLAS_ATOMICS_NOT_ALLOWED))) ||
      (rc = RT_CUBLAS_CALL(st, cublasSetMathMode(b.blas, CUBLAS_DEFAULT_MATH))))
    return rc;
  /* On the products' own (non-blocking) stream: a plain cudaMemcpy from pageable memory may
   * return before its data has landed, and nothing would order it before that stream. */
  RT_CUDA_CHECK(st, cudaMemcpyAsync(b.da, b.ha, na * sizeof(float), cudaMemcpyHostToDevice, b.s));
  RT_CUDA_CHECK(st, cudaMemcpyAsync(b.db, b.hb, nb * sizeof(float), cudaMemcpyHostToDevice, b.s));

  /* Ours: the batch, the last product alone, the emulation. */
  g.a = b.da;
  g.b = b.db;
  g.c = b.dc;
  rt_cuda_gemm last = g;
  last.a = b.da + (g.count - 1) * g.sa;
  last.b = b.db + (g.count - 1) * g.sb;
  last.c = b.d1;
  last.count = 1;
  const rt_cuda_gemm_shape plain = rt_cuda_gemm_shape_of(&g), tiled = rt_cuda_gemm_shape_tiled(&g);
  const rt_cuda_gemm_shape plain_last = rt_cuda_gemm_shape_of(&last);
  RT_TRY(rc, rt_cuda_gemm_launch_shape(b.s, &g, &plain, st));
  RT_TRY(rc, rt_cuda_gemm_launch_shape(b.s, &last, &plain_last, st));
  RT_CUDA_CHECK(st, cudaMemcpyAsync(b.hc, b.dc, nc * sizeof(float), cudaMemcpyDeviceToHost, b.s));
  RT_CUDA_CHECK(
      st, cudaMemcpyAsync(b.h1, b.d1, (size_t)g.sc * sizeof(float), cudaMemcpyDeviceToHost, b.s));
  RT_CUDA_CHECK(st, cudaStreamSynchronize(b.s));
  rt_cuda_gemm host = g;
  host.a = b.ha;
  host.b = b.hb;
  host.c = b.he;
  rt_cuda_gemm_emulate(&host, rt_cuda_gemm_shape_of(&host));
  const float *last_in_batch = b.hc + (size_t)(g.count - 1) * (size_t)g.sc;
  out->same_as_emulation = memcmp(b.hc, b.he, nc * sizeof(float)) == 0;
  out->batch_independent = memcmp(b.h1, last_in_batch, (size_t)g.sc * sizeof(float)) == 0;
  /* The shared-memory form: the same bits as the emulation (of either form). */
  RT_CUDA_CHECK(st,
                cudaMemsetAsync(b.dc, 0xff, nc * sizeof(float), b.s)); /* NaN: unwritten shows */
  RT_TRY(rc, rt_cuda_gemm_launch_shape(b.s, &g, &tiled, st));
  RT_CUDA_CHECK(st, cudaMemcpyAsync(b.hc, b.dc, nc * sizeof(float), cudaMemcpyDeviceToHost, b.s));
  RT_CUDA_CHECK(st, cudaStreamSynchronize(b.s));
  out->tiled_same_as_emulation = memcmp(b.hc, b.he, nc * sizeof(float)) == 0;

  /* cuBLAS: the same batch and the same last product alone. */
  RT_TRY(rc, cublas_product(b, g, st));
  RT_TRY(rc, cublas_product(b, last, st));
  RT_CUDA_CHECK(st, cudaMemcpyAsync(b.hc, b.dc, nc * sizeof(float), cudaMemcpyDeviceToHost, b.s));
  RT_CUDA_CHECK(
      st, cudaMemcpyAsync(b.h1, b.d1, (size_t)g.sc * sizeof(float), cudaMemcpyDeviceToHost, b.s));
  RT_CUDA_CHECK(st, cudaStreamSynchronize(b.s));
  out->cublas_independent = memcmp(b.h1, last_in_batch, (size_t)g.sc * sizeof(float)) == 0;

  if (repeats > 0) {
    RT_TRY(rc, best_time(
                   b, repeats, [&] { return rt_cuda_gemm_launch_shape(b.s, &g, &plain, st); },
                   &out->ours_seconds, st));
    RT_TRY(rc, best_time(
                   b, repeats, [&] { return rt_cuda_gemm_launch_shape(b.s, &g, &tiled, st); },
                   &out->tiled_seconds, st));
    RT_TRY(rc, best_time(
                   b, repeats, [&] { return cublas_product(b, g, st); }, &out->cublas_seconds, st));
  }
  return RT_OK;
}
