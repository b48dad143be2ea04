/* The fused-GEMM rule (fused_gemm.h): a probe per call shape, remembered per thread. */
#include "fused_gemm.h"

#include <cblas.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void rt_gemm_rowmajor(int trans_a, int trans_b, size_t rows, size_t n, size_t k, const float *a,
                      size_t lda, const float *b, size_t ldb, float *c, size_t ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, (int)rows, (int)n, (int)k, 1.0f, a, (int)lda, b,
              (int)ldb, 0.0f, c, (int)ldc);
}

/* Fixed pseudo-random numbers in [-1, 1) (SplitMix64): the same probe everywhere. */
static void fill(float *v, size_t n, uint64_t seed) {
  uint64_t z = seed;
  for (size_t i = 0; i < n; ++i) {
    uint64_t x = (z += 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    v[i] = (float)(x >> 40) * (2.0f / 16777216.0f) - 1.0f;
  }
}

/* Runs the probe: 1 when the member's columns at the first and the last place agree. */
static int probe(int ta, int tb, size_t rows, size_t n, size_t k, size_t nf) {
  const size_t na = rows * k, nb = k * nf, nc = rows * nf;
  float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b);
  float *c = malloc(nc * sizeof *c), *own = malloc(k * n * sizeof *own);
  float *solo = malloc(rows * n * sizeof *solo);
  int same = a && b && c && own && solo;
  if (same) {
    fill(a, na, 1);
    fill(b, nb, 2);
    rt_gemm_rowmajor(ta, tb, rows, nf, k, a, ta ? rows : k, b, tb ? k : nf, c, nf);
    const size_t places[2] = {0, nf - n};
    for (size_t p = 0; p < 2 && same; ++p) {
      const size_t col = places[p];
      if (tb) { /* B is n_fused x k: the member's rows */
        memcpy(own, b + col * k, k * n * sizeof *own);
      } else { /* B is k x n_fused: the member's columns */
        for (size_t r = 0; r < k; ++r) memcpy(own + r * n, b + r * nf + col, n * sizeof *own);
      }
      rt_gemm_rowmajor(ta, tb, rows, n, k, a, ta ? rows : k, own, tb ? k : n, solo, n);
      for (size_t r = 0; r < rows && same; ++r)
        same = memcmp(solo + r * n, c + r * nf + col, n * sizeof *solo) == 0;
    }
  }
  free(a), free(b), free(c), free(own), free(solo);
  return same;
}

enum { REMEMBERED = 64 };
typedef struct shape {
  size_t rows, n, k, nf;
  int ta, tb, fusable;
} shape;

int rt_gemm_fusable(int trans_a, int trans_b, size_t rows, size_t n, size_t k, size_t n_fused) {
  static _Thread_local shape seen[REMEMBERED];
  static _Thread_local size_t count, next;
  if (n_fused <= n || rows == 0 || n == 0 || k == 0) return 1; /* alone: it is the solo call */
  trans_a = !!trans_a, trans_b = !!trans_b;
  for (size_t i = 0; i < count; ++i) {
    const shape *s = &seen[i];
    if (s->rows == rows && s->n == n && s->k == k && s->nf == n_fused && s->ta == trans_a &&
        s->tb == trans_b)
      return s->fusable;
  }
  const shape s = {rows, n, k, n_fused, trans_a, trans_b, probe(trans_a, trans_b, rows, n, k,
                                                                n_fused)};
  if (count < REMEMBERED) seen[count++] = s;
  else seen[next++ % REMEMBERED] = s; /* the oldest goes */
  return s.fusable;
}
