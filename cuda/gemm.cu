/* The CUDA backend's matrix product (declared in gemm.h and rt_cuda_internal.h): every forward,
 * gradient and distance product of every family, per model and fused, goes through
 * rt_cuda_gemm_launch. Each element of C is one fmaf chain over the inner dimension in index order,
 * so its bits depend only on its own row of op(A) and column of op(B): not on the launch shape,
 * the tile, the batch count or the strides (gemm.h says why cuBLAS is not used). A thread computes
 * a tm x tn tile from registers, reading A and B straight from global memory (the L1 cache serves
 * the reuse); the same per-thread function runs on the host in rt_cuda_gemm_emulate. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "rt_cuda_internal.h"

namespace {

constexpr int kBlockX = 16, kBlockY = 16;
/* Below this many blocks the tiles shrink (more, smaller blocks; the same bits). */
constexpr unsigned long long kEnoughBlocks = 256;

/* Elements (i, j) of product z for the thread (tx, ty) of block (bx, by): i = bx 16 TM + tx + 16 t,
 * j = by 16 TN + ty + 16 u. */
template <int TM, int TN>
__host__ __device__ inline void gemm_thread(const rt_cuda_gemm &g, unsigned bx, unsigned by,
                                            unsigned z, unsigned tx, unsigned ty) {
  const float *a = g.a + (long long)z * g.sa;
  const float *b = g.b + (long long)z * g.sb;
  float *c = g.c + (long long)z * g.sc;
  /* op(A)(i, p) = a[i * a_i + p * a_p]; op(B)(p, j) = b[p * b_p + j * b_j]. */
  const long long a_i = g.ta ? g.lda : 1, a_p = g.ta ? 1 : g.lda;
  const long long b_p = g.tb ? g.ldb : 1, b_j = g.tb ? 1 : g.ldb;
  long long i[TM], j[TN];
  bool row_ok[TM], col_ok[TN];
  bool any_row = false, any_col = false;
  RT_UNROLL
  for (int t = 0; t < TM; ++t) {
    i[t] = (long long)bx * (kBlockX * TM) + tx + (long long)kBlockX * t;
    row_ok[t] = i[t] < g.m;
    any_row = any_row || row_ok[t];
  }
  RT_UNROLL
  for (int u = 0; u < TN; ++u) {
    j[u] = (long long)by * (kBlockY * TN) + ty + (long long)kBlockY * u;
    col_ok[u] = j[u] < g.n;
    any_col = any_col || col_ok[u];
  }
  if (!any_row || !any_col) return; /* a thread past C's edge: nothing to compute */
  float acc[TM][TN];
  RT_UNROLL
  for (int t = 0; t < TM; ++t) RT_UNROLL
  for (int u = 0; u < TN; ++u) acc[t][u] = 0.0f;
  for (int p = 0; p < g.k; ++p) {
    float av[TM], bv[TN];
    RT_UNROLL
    for (int t = 0; t < TM; ++t) av[t] = row_ok[t] ? a[i[t] * a_i + (long long)p * a_p] : 0.0f;
    RT_UNROLL
    for (int u = 0; u < TN; ++u) bv[u] = col_ok[u] ? b[(long long)p * b_p + j[u] * b_j] : 0.0f;
    RT_UNROLL
    for (int t = 0; t < TM; ++t) RT_UNROLL
    for (int u = 0; u < TN; ++u) acc[t][u] = fmaf(av[t], bv[u], acc[t][u]);
  }
  RT_UNROLL
  for (int t = 0; t < TM; ++t) RT_UNROLL
  for (int u = 0; u < TN; ++u)
    if (row_ok[t] && col_ok[u]) c[i[t] + j[u] * (long long)g.ldc] = acc[t][u];
}

/* One block of the launch, (bx, by0, z0) in a grid of gy x gz blocks along y and z: the blocks
 * beyond the grid's y and z limits are reached by striding. The kernel's body, and what the host
 * emulation runs for every block and thread of the same launch. */
template <int TM, int TN>
__host__ __device__ inline void gemm_block(const rt_cuda_gemm &g, unsigned ny, unsigned bx,
                                           unsigned by0, unsigned z0, unsigned gy, unsigned gz,
                                           unsigned tx, unsigned ty) {
  for (unsigned z = z0; z < (unsigned)g.count; z += gz)
    for (unsigned by = by0; by < ny; by += gy) gemm_thread<TM, TN>(g, bx, by, z, tx, ty);
}

template <int TM, int TN>
__global__ void __launch_bounds__(kBlockX *kBlockY) gemm_kernel(rt_cuda_gemm g, unsigned ny) {
  gemm_block<TM, TN>(g, ny, blockIdx.x, blockIdx.y, blockIdx.z, gridDim.y, gridDim.z, threadIdx.x,
                     threadIdx.y);
}

int tile_of(int t) { return t == 4 ? 4 : t == 2 ? 2 : 1; }

/* Blocks along y (columns of C) before the cap. */
unsigned long long blocks_y(const rt_cuda_gemm *g, int tn) {
  return rt_cuda_ceil_div(g->n, kBlockY * tn);
}

/* The launch of shape s, block by block and thread by thread, as the device runs it. */
template <int TM, int TN>
void emulate(const rt_cuda_gemm &g, const rt_cuda_gemm_shape &s) {
  const unsigned ny = (unsigned)blocks_y(&g, TN);
  for (unsigned z0 = 0; z0 < s.gz; ++z0)
    for (unsigned by0 = 0; by0 < s.gy; ++by0)
      for (unsigned bx = 0; bx < s.gx; ++bx)
        for (unsigned ty = 0; ty < (unsigned)kBlockY; ++ty)
          for (unsigned tx = 0; tx < (unsigned)kBlockX; ++tx)
            gemm_block<TM, TN>(g, ny, bx, by0, z0, s.gy, s.gz, tx, ty);
}

/* Calls F<TM, TN>(args) for the shape's tiles. */
#define RT_GEMM_DISPATCH(F, s, ...)              \
  switch ((s).tm * 8 + (s).tn) {                 \
    case 4 * 8 + 4: F<4, 4>(__VA_ARGS__); break; \
    case 4 * 8 + 2: F<4, 2>(__VA_ARGS__); break; \
    case 4 * 8 + 1: F<4, 1>(__VA_ARGS__); break; \
    case 2 * 8 + 4: F<2, 4>(__VA_ARGS__); break; \
    case 2 * 8 + 2: F<2, 2>(__VA_ARGS__); break; \
    case 2 * 8 + 1: F<2, 1>(__VA_ARGS__); break; \
    case 1 * 8 + 4: F<1, 4>(__VA_ARGS__); break; \
    case 1 * 8 + 2: F<1, 2>(__VA_ARGS__); break; \
    default: F<1, 1>(__VA_ARGS__); break;        \
  }

template <int TM, int TN>
void launch(const rt_cuda_gemm &g, const rt_cuda_gemm_shape &s, cudaStream_t stream) {
  gemm_kernel<TM, TN><<<dim3(s.gx, s.gy, s.gz), dim3(kBlockX, kBlockY), 0, stream>>>(
      g, (unsigned)blocks_y(&g, TN));
}

} /* namespace */

extern "C" rt_cuda_gemm_shape rt_cuda_gemm_shape_with(const rt_cuda_gemm *g, int tm, int tn) {
  rt_cuda_gemm_shape s;
  s.tiled = 0;
  s.tm = tile_of(tm);
  s.tn = tile_of(tn);
  rt_cuda_gemm_grid(g, kBlockX * s.tm, kBlockY * s.tn, &s);
  return s;
}

extern "C" rt_cuda_gemm_shape rt_cuda_gemm_shape_of(const rt_cuda_gemm *g) {
  int tm = g->m > 2 * kBlockX ? 4 : g->m > kBlockX ? 2 : 1;
  int tn = g->n > 2 * kBlockY ? 4 : g->n > kBlockY ? 2 : 1;
  for (;;) {
    const unsigned long long blocks =
        rt_cuda_ceil_div(g->m, kBlockX * tm) * blocks_y(g, tn) * (unsigned long long)g->count;
    if (blocks >= kEnoughBlocks || (tm == 1 && tn == 1)) break;
    if (tm >= tn) tm /= 2;
    else tn /= 2;
  }
  return rt_cuda_gemm_shape_with(g, tm, tn);
}

extern "C" void rt_cuda_gemm_emulate(const rt_cuda_gemm *g, rt_cuda_gemm_shape shape) {
  if (g->m <= 0 || g->n <= 0 || g->count <= 0) return;
  if (shape.tiled) {
    rt_cuda_gemm_tiled_emulate(g, &shape);
    return;
  }
  RT_GEMM_DISPATCH(emulate, shape, *g, shape);
}

rt_code rt_cuda_gemm_launch_shape(cudaStream_t stream, const rt_cuda_gemm *g,
                                  const rt_cuda_gemm_shape *s, rt_status *st) {
  if (g->m < 0 || g->n < 0 || g->k < 0 || g->count < 0)
    return rt_fail(st, RT_ERR_INTERNAL, "matrix product of %d x %d x %d, %d times", g->m, g->n,
                   g->k, g->count);
  if (g->m == 0 || g->n == 0 || g->count == 0) return RT_OK;
  if (s->tiled) return rt_cuda_gemm_tiled_launch(stream, g, s, st);
  RT_GEMM_DISPATCH(launch, (*s), *g, *s, stream);
  RT_CUDA_CHECK_LAUNCH(st);
  return RT_OK;
}

rt_code rt_cuda_gemm_launch(cudaStream_t stream, const rt_cuda_gemm *g, rt_status *st) {
  static const int tiled = [] {
    const char *v = getenv("RINGTRAIN_CUDA_GEMM");
    return v && strcmp(v, "tiled") == 0;
  }();
  const rt_cuda_gemm_shape s =
      tiled && g->m >= 32 && g->n >= 32 ? rt_cuda_gemm_shape_tiled(g) : rt_cuda_gemm_shape_of(g);
  return rt_cuda_gemm_launch_shape(stream, g, &s, st);
}
