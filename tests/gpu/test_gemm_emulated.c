/* The CUDA backend's matrix product (cuda/gemm.cu) run by its host emulation, which executes the
 * kernel's own per-thread code over the whole launch: every element must equal one fmaf chain over
 * the inner dimension in order (the same bits the device gives, fmaf being exactly rounded on
 * both), for every transpose, tile shape, batch count and stride, with nothing outside C written.
 * This is what makes a model's products the same in a fused group of any size and alone; it needs
 * no GPU (label unit). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gemm.h"

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

/* n floats in [-1, 1) with a spread of exponents (so that the order of the sum shows). */
static float *random_floats(size_t n, uint64_t seed) {
  float *v = malloc((n ? n : 1) * sizeof *v);
  assert_non_null(v);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t r = mix(seed * 0x9e3779b97f4a7c15ULL + i);
    const float u = (float)(r >> 40) / (float)(1 << 24) * 2.0f - 1.0f;
    v[i] = u * ldexpf(1.0f, (int)(r % 13) - 6);
  }
  return v;
}

/* The definition: C_z(i, j) = fmaf chain over p of op(A_z)(i, p) op(B_z)(p, j), from +0. */
static float reference(const rt_cuda_gemm *g, int z, int i, int j) {
  const float *a = g->a + (long long)z * g->sa, *b = g->b + (long long)z * g->sb;
  float acc = 0.0f;
  for (int p = 0; p < g->k; ++p) {
    const float av = g->ta ? a[p + (long long)i * g->lda] : a[i + (long long)p * g->lda];
    const float bv = g->tb ? b[j + (long long)p * g->ldb] : b[p + (long long)j * g->ldb];
    acc = fmaf(av, bv, acc);
  }
  return acc;
}

static const float kSentinel = -12345.5f;

/* A product of `count` m x n x k matrices with padded leading dimensions and strides (A shared
 * when share_a), C filled with a sentinel. */
typedef struct {
  rt_cuda_gemm g;
  float *a, *b, *c;
  size_t a_floats, b_floats, c_floats;
} problem;

static problem make(int ta, int tb, int m, int n, int k, int count, int share_a, uint64_t seed) {
  problem p;
  memset(&p, 0, sizeof p);
  rt_cuda_gemm *g = &p.g;
  g->ta = ta;
  g->tb = tb;
  g->m = m;
  g->n = n;
  g->k = k;
  g->lda = (ta ? k : m) + 3;
  g->ldb = (tb ? n : k) + 1;
  g->ldc = m + 2;
  const long long a_cols = ta ? m : k, b_cols = tb ? k : n;
  g->sa = share_a ? 0 : (long long)g->lda * a_cols + 5;
  g->sb = (long long)g->ldb * b_cols + 7;
  g->sc = (long long)g->ldc * n + 4;
  g->count = count;
  const size_t a_floats = (size_t)(g->sa * (count - 1) + (long long)g->lda * a_cols);
  const size_t b_floats = (size_t)(g->sb * (count - 1) + (long long)g->ldb * b_cols);
  p.c_floats = (size_t)(g->sc * (count - 1) + (long long)g->ldc * n);
  p.a_floats = a_floats;
  p.b_floats = b_floats;
  p.a = random_floats(a_floats, seed);
  p.b = random_floats(b_floats, seed + 1);
  p.c = malloc(p.c_floats * sizeof *p.c);
  assert_non_null(p.c);
  g->a = p.a;
  g->b = p.b;
  g->c = p.c;
  return p;
}

static void reset_c(problem *p) {
  for (size_t i = 0; i < p->c_floats; ++i) p->c[i] = kSentinel;
}

/* Every element of C equals the reference bit for bit; every float between them is untouched. */
static void check(const problem *p, const char *what) {
  const rt_cuda_gemm *g = &p->g;
  char *written = calloc(p->c_floats, 1);
  assert_non_null(written);
  for (int z = 0; z < g->count; ++z)
    for (int j = 0; j < g->n; ++j)
      for (int i = 0; i < g->m; ++i) {
        const size_t at = (size_t)((long long)z * g->sc + i + (long long)j * g->ldc);
        const float want = reference(g, z, i, j);
        if (memcmp(&p->c[at], &want, sizeof want) != 0)
          fail_msg(
              "%s: ta %d tb %d %d x %d x %d, product %d of %d, element (%d, %d): %a, "
              "want %a",
              what, g->ta, g->tb, g->m, g->n, g->k, z, g->count, i, j, (double)p->c[at],
              (double)want);
        written[at] = 1;
      }
  for (size_t i = 0; i < p->c_floats; ++i)
    if (!written[i] && p->c[i] != kSentinel)
      fail_msg("%s: float %zu outside C was written", what, i);
  free(written);
}

/* C refilled with the sentinel, the launch of `shape` emulated, the result checked. */
static void run_shape(problem *p, rt_cuda_gemm_shape shape, const char *what) {
  reset_c(p);
  rt_cuda_gemm_emulate(&p->g, shape);
  check(p, what);
}

static void drop(problem *p) {
  free(p->a);
  free(p->b);
  free(p->c);
}

/* Every transpose and tile shape, odd sizes (inner dimensions that end a staged tile of 16 early
 * too), a shared and an own A, the chosen shape and the shared-memory form too. */
static void test_every_tile_and_transpose(void **unused) {
  (void)unused;
  static const int sizes[][3] = {{1, 1, 1},    {10, 37, 50},  {33, 17, 9},
                                 {70, 5, 131}, {3, 129, 0},   {64, 64, 64},
                                 {1, 200, 3},  {65, 130, 17}, {128, 70, 33}};
  static const int tiles[] = {1, 2, 4};
  uint64_t seed = 1;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s)
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (int share = 0; share < 2; ++share) {
          problem p = make(ta, tb, sizes[s][0], sizes[s][1], sizes[s][2], 3, share, seed++);
          for (int tm = 0; tm < 3; ++tm)
            for (int tn = 0; tn < 3; ++tn) {
              run_shape(&p, rt_cuda_gemm_shape_with(&p.g, tiles[tm], tiles[tn]), "tile shape");
            }
          run_shape(&p, rt_cuda_gemm_shape_of(&p.g), "chosen shape");
          run_shape(&p, rt_cuda_gemm_shape_tiled(&p.g), "shared-memory form");
          drop(&p);
        }
}

/* Product z of a batch of 16 is the same bits as the same operands as a batch of one: what lets
 * a model's bytes not depend on its group's size. The shapes of the fused groups' products. */
static void test_batch_count_independent(void **unused) {
  (void)unused;
  /* logistic forward (c x r x d), its gradient (c x d x r, B transposed), a k-means distance
   * product (A transposed), an MLP first layer's forward. */
  static const int shapes[][5] = {
      {0, 0, 10, 256, 784}, {0, 1, 10, 784, 256}, {1, 0, 10, 1024, 64}, {0, 0, 128, 128, 97}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; ++s) {
    problem many =
        make(shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], shapes[s][4], 16, 0, 100 + s);
    reset_c(&many);
    rt_cuda_gemm_emulate(&many.g, rt_cuda_gemm_shape_of(&many.g));
    for (int z = 0; z < 16; z += 5) {
      rt_cuda_gemm one = many.g;
      one.a = many.g.a + (long long)z * many.g.sa;
      one.b = many.g.b + (long long)z * many.g.sb;
      one.count = 1;
      const size_t floats = (size_t)((long long)one.ldc * one.n);
      float *c = malloc(floats * sizeof *c);
      assert_non_null(c);
      one.c = c;
      const rt_cuda_gemm_shape shape = rt_cuda_gemm_shape_of(&one);
      rt_cuda_gemm_emulate(&one, shape);
      for (int j = 0; j < one.n; ++j)
        if (memcmp(c + (long long)j * one.ldc,
                   many.c + (long long)z * many.g.sc + (long long)j * many.g.ldc,
                   (size_t)one.m * sizeof *c) != 0)
          fail_msg("shape %zu: product %d of 16 differs from the same product alone (column %d)", s,
                   z, j);
      free(c);
    }
    drop(&many);
  }
}

/* The chosen launch: tiles of 1, 2 or 4, blocks that just cover C, the grid's y and z within
 * CUDA's 65,535 (the kernel strides beyond), small products with small tiles. */
static void test_shapes(void **unused) {
  (void)unused;
  static const int dims[][4] = {{10, 256, 784, 64}, {1, 1, 1, 1},         {5000, 3, 2, 1},
                                {3, 3000000, 2, 1}, {10, 10, 10, 100000}, {640, 256, 784, 1}};
  for (size_t s = 0; s < sizeof dims / sizeof dims[0]; ++s) {
    rt_cuda_gemm g;
    memset(&g, 0, sizeof g);
    g.m = dims[s][0];
    g.n = dims[s][1];
    g.k = dims[s][2];
    g.count = dims[s][3];
    const rt_cuda_gemm_shape sh = rt_cuda_gemm_shape_of(&g);
    assert_true(sh.tm == 1 || sh.tm == 2 || sh.tm == 4);
    assert_true(sh.tn == 1 || sh.tn == 2 || sh.tn == 4);
    const long long cover_m = (long long)sh.gx * 16 * sh.tm;
    assert_true(cover_m >= g.m && cover_m - g.m < 16LL * sh.tm);
    assert_true(sh.gy >= 1 && sh.gy <= 65535 && sh.gz >= 1 && sh.gz <= 65535);
    const long long want_y = (g.n + 16LL * sh.tn - 1) / (16LL * sh.tn);
    assert_int_equal(sh.gy, want_y < 65535 ? want_y : 65535);
    assert_int_equal(sh.gz, g.count < 65535 ? g.count : 65535);
  }
  rt_cuda_gemm small;
  memset(&small, 0, sizeof small);
  small.m = 10;
  small.n = 256;
  small.k = 784;
  small.count = 1;
  /* 10 rows fit one block row: no tile of 4 rows; few blocks: the columns' tile shrinks too. */
  const rt_cuda_gemm_shape sh = rt_cuda_gemm_shape_of(&small);
  assert_int_equal(sh.tm, 1);
  assert_int_equal(sh.tn, 1);
}

/* More products than the grid's z limit, and more column blocks than its y limit: the kernel's
 * striding over the capped grid reaches every one (the emulation runs the capped launch). */
static void test_beyond_grid_limits(void **unused) {
  (void)unused;
  problem p = make(0, 0, 2, 3, 4, 70000, 1, 7);
  rt_cuda_gemm_shape sh = rt_cuda_gemm_shape_of(&p.g);
  assert_int_equal(sh.gz, 65535);
  run_shape(&p, sh, "70,000 products");
  sh = rt_cuda_gemm_shape_tiled(&p.g);
  assert_int_equal(sh.gz, 65535);
  run_shape(&p, sh, "70,000 products, shared-memory form");
  drop(&p);
  problem wide = make(0, 0, 1, 65536 * 64 + 100, 2, 1, 0, 8);
  sh = rt_cuda_gemm_shape_of(&wide.g);
  assert_int_equal(sh.tn, 4);
  assert_int_equal(sh.gy, 65535); /* 65,538 column blocks of 64 */
  run_shape(&wide, sh, "4,194,404 columns");
  sh = rt_cuda_gemm_shape_tiled(&wide.g);
  assert_int_equal(sh.gy, 65535);
  run_shape(&wide, sh, "4,194,404 columns, shared-memory form");
  drop(&wide);
}

/* A chain that ends at -0 (tiny negative products round to -0 and stay there): no form may add
 * steps past k (fmaf(0, 0, -0) would make it +0), whatever the staged tile's length. */
static void test_negative_zero(void **unused) {
  (void)unused;
  for (int k = 1; k <= 40; k += 13) {
    problem p = make(0, 0, 33, 33, k, 2, 0, 9);
    for (size_t i = 0; i < p.a_floats; ++i) p.a[i] = -1e-30f;
    for (size_t i = 0; i < p.b_floats; ++i) p.b[i] = 1e-30f;
    const rt_cuda_gemm_shape shapes[] = {rt_cuda_gemm_shape_of(&p.g),
                                         rt_cuda_gemm_shape_tiled(&p.g)};
    for (size_t s = 0; s < 2; ++s) {
      run_shape(&p, shapes[s], "a chain ending at -0");
      assert_true(signbit(p.c[0]) && p.c[0] == 0.0f);
    }
    drop(&p);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_tile_and_transpose),
      cmocka_unit_test(test_batch_count_independent),
      cmocka_unit_test(test_shapes),
      cmocka_unit_test(test_beyond_grid_limits),
      cmocka_unit_test(test_negative_zero),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
