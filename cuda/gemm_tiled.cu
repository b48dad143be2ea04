/* The matrix product's shared-memory form (gemm.h, shape.tiled): 16 x 16 threads compute a 64 x 64
 * block of C, 4 x 4 elements each, from tiles of op(A) and op(B) staged in shared memory 16 steps
 * of the inner dimension at a time, each warp reading global memory in contiguous runs (64 floats,
 * or 16 along p for an operand stored that way). Each element is still one fmaf chain over
 * p = 0 .. k-1 in order from +0 (a tile's steps in order, the tiles in order, no step past k), so
 * its bits are gemm.cu's: the form is chosen for speed alone (RINGTRAIN_CUDA_GEMM,
 * rt_cuda_gemm_launch). The three phases of a tile (load,
 * compute, store) are functions the kernel calls per thread between barriers and the host
 * emulation calls for every thread of the block in turn, phase by phase. */
#include <math.h>
#include <string.h>

#include "gemm.h"
#include "rt_cuda_internal.h"

namespace {

constexpr int kT = 16;         /* threads along each side of a block */
constexpr int kTile = 4;       /* elements per thread along each side */
constexpr int kB = kT * kTile; /* 64: the block's rows and columns of C */
constexpr int kK = 16;         /* inner-dimension steps per staged tile */

struct tiles {
  /* Rows of 66 floats: a warp staging along p writes 16 rows of two columns, at banks
   * 2 q + r (mod 32), all distinct (65 would give 17 banks for 32 stores). */
  float a[kK][kB + 2]; /* a[q][r] = op(A)(i0 + r, p0 + q), 0 outside */
  float b[kK][kB + 2]; /* b[q][c] = op(B)(p0 + q, j0 + c), 0 outside */
};

/* Thread tid (0..255) stages its 4 elements of each tile: consecutive threads read consecutive
 * floats of memory (along i or p for A, along p or j for B, as the transpose lays them out). */
__host__ __device__ inline void stage(const rt_cuda_gemm &g, const float *a, const float *b,
                                      long long i0, long long j0, long long p0, int tid, tiles &s) {
  RT_UNROLL
  for (int q = 0; q < kK * kB / (kT * kT); ++q) {
    const int e = tid + q * kT * kT;
    /* A: column-major op(A) = A (ta 0: i fastest) or A^T (ta 1: p fastest). */
    const int ar = g.ta ? e / kK : e % kB, aq = g.ta ? e % kK : e / kB;
    const long long i = i0 + ar;
    const long long pa = p0 + aq;
    s.a[aq][ar] = i < g.m && pa < g.k
                      ? (g.ta ? a[pa + i * (long long)g.lda] : a[i + pa * (long long)g.lda])
                      : 0.0f;
    /* B: op(B) = B (tb 0: p fastest) or B^T (tb 1: j fastest). */
    const int bc = g.tb ? e % kB : e / kK, bq = g.tb ? e / kB : e % kK;
    const long long j = j0 + bc;
    const long long pb = p0 + bq;
    s.b[bq][bc] = j < g.n && pb < g.k
                      ? (g.tb ? b[j + pb * (long long)g.ldb] : b[pb + j * (long long)g.ldb])
                      : 0.0f;
  }
}

/* Thread (tx, ty) adds steps 0 .. steps-1 of the staged tile to its elements, in order. */
__host__ __device__ inline void accumulate(const tiles &s, int steps, int tx, int ty,
                                           float (&acc)[kTile][kTile]) {
  for (int q = 0; q < steps; ++q) {
    float av[kTile], bv[kTile];
    RT_UNROLL
    for (int t = 0; t < kTile; ++t) av[t] = s.a[q][tx + kT * t];
    RT_UNROLL
    for (int u = 0; u < kTile; ++u) bv[u] = s.b[q][ty + kT * u];
    RT_UNROLL
    for (int t = 0; t < kTile; ++t) RT_UNROLL
    for (int u = 0; u < kTile; ++u) acc[t][u] = fmaf(av[t], bv[u], acc[t][u]);
  }
}

__host__ __device__ inline void store(const rt_cuda_gemm &g, float *c, long long i0, long long j0,
                                      int tx, int ty, const float (&acc)[kTile][kTile]) {
  RT_UNROLL
  for (int t = 0; t < kTile; ++t) RT_UNROLL
  for (int u = 0; u < kTile; ++u) {
    const long long i = i0 + tx + kT * t, j = j0 + ty + kT * u;
    if (i < g.m && j < g.n) c[i + j * (long long)g.ldc] = acc[t][u];
  }
}

__global__ void __launch_bounds__(kT *kT) gemm_tiled_kernel(rt_cuda_gemm g, unsigned ny) {
  __shared__ tiles s;
  const int tx = (int)threadIdx.x, ty = (int)threadIdx.y, tid = ty * kT + tx;
  for (unsigned z = blockIdx.z; z < (unsigned)g.count; z += gridDim.z)
    for (unsigned by = blockIdx.y; by < ny; by += gridDim.y) {
      const float *a = g.a + (long long)z * g.sa, *b = g.b + (long long)z * g.sb;
      const long long i0 = (long long)blockIdx.x * kB, j0 = (long long)by * kB;
      float acc[kTile][kTile];
      RT_UNROLL
      for (int t = 0; t < kTile; ++t) RT_UNROLL
      for (int u = 0; u < kTile; ++u) acc[t][u] = 0.0f;
      for (long long p0 = 0; p0 < g.k; p0 += kK) {
        stage(g, a, b, i0, j0, p0, tid, s);
        __syncthreads();
        accumulate(s, g.k - p0 < kK ? (int)(g.k - p0) : kK, tx, ty, acc);
        __syncthreads();
      }
      store(g, g.c + (long long)z * g.sc, i0, j0, tx, ty, acc);
    }
}

} /* namespace */

extern "C" rt_cuda_gemm_shape rt_cuda_gemm_shape_tiled(const rt_cuda_gemm *g) {
  rt_cuda_gemm_shape s;
  s.tiled = 1;
  s.tm = s.tn = kTile;
  rt_cuda_gemm_grid(g, kB, kB, &s);
  return s;
}

void rt_cuda_gemm_tiled_emulate(const rt_cuda_gemm *g, const rt_cuda_gemm_shape *s) {
  tiles staged;                     /* the block's shared memory */
  float acc[kT * kT][kTile][kTile]; /* every thread's registers (24 KB of stack in all) */
  const unsigned ny = (unsigned)rt_cuda_ceil_div(g->n, kB);
  for (unsigned z0 = 0; z0 < s->gz; ++z0)
    for (unsigned by0 = 0; by0 < s->gy; ++by0)
      for (unsigned bx = 0; bx < s->gx; ++bx)
        /* The block's own striding, as the kernel's loops run it. */
        for (unsigned z = z0; z < (unsigned)g->count; z += s->gz)
          for (unsigned by = by0; by < ny; by += s->gy) {
            const float *a = g->a + (long long)z * g->sa, *b = g->b + (long long)z * g->sb;
            const long long i0 = (long long)bx * kB, j0 = (long long)by * kB;
            memset(acc, 0, sizeof acc);
            for (long long p0 = 0; p0 < g->k; p0 += kK) {
              for (int tid = 0; tid < kT * kT; ++tid) stage(*g, a, b, i0, j0, p0, tid, staged);
              for (int tid = 0; tid < kT * kT; ++tid)
                accumulate(staged, g->k - p0 < kK ? (int)(g->k - p0) : kK, tid % kT, tid / kT,
                           acc[tid]);
            }
            for (int tid = 0; tid < kT * kT; ++tid)
              store(*g, g->c + (long long)z * g->sc, i0, j0, tid % kT, tid / kT, acc[tid]);
          }
}

rt_code rt_cuda_gemm_tiled_launch(cudaStream_t stream, const rt_cuda_gemm *g,
                                  const rt_cuda_gemm_shape *s, rt_status *st) {
  gemm_tiled_kernel<<<dim3(s->gx, s->gy, s->gz), dim3(kT, kT), 0, stream>>>(
      *g, (unsigned)rt_cuda_ceil_div(g->n, kB));
  RT_CUDA_CHECK_LAUNCH(st);
  return RT_OK;
}
