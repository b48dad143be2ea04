/* The fused-GEMM rule (src/models/fused_gemm.h) on this build's BLAS: for every shape the rule
 * fuses, a member's columns of one product over many members' weights are bit-identical to its
 * own product, at every place among the fused columns; the shapes the benchmarks and the issue
 * need are fusable. A failure names the BLAS: the rule must change, never this test. On a BLAS
 * the rule does not fuse on (rt_gemm_fusion_established: OpenBLAS's Haswell kernels, e.g. on AMD
 * Zen) those tests say so and are skipped; rt_gemm_members giving every member its solo bits is
 * asserted on every BLAS. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fused_gemm.h"

static float *numbers(size_t n, uint64_t seed) {
  float *v = malloc((n ? n : 1) * sizeof *v);
  assert_non_null(v);
  uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (size_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    v[i] = (float)((s >> 40) & 0xffffff) / 8388608.0f - 1.0f;
  }
  return v;
}

/* One product over m members of widths n[i] against each member's own; returns the members
 * compared (those the rule fuses). trans_a: A is k x rows (a gradient X^T G); trans_b: B holds
 * the members' rows stacked (n x k each, centres). */
static size_t compare(int ta, int tb, size_t rows, size_t k, const size_t *n, size_t m,
                      uint64_t seed) {
  size_t nf = 0;
  for (size_t i = 0; i < m; ++i) nf += n[i];
  float *a = numbers(rows * k, seed), *b = numbers(k * nf, seed + 1);
  float *c = malloc(rows * nf * sizeof *c), *own = malloc(rows * nf * sizeof *own);
  float *bi = malloc(k * nf * sizeof *bi);
  assert_true(c && own && bi);
  const size_t lda = ta ? rows : k;
  rt_gemm_rowmajor(ta, tb, rows, nf, k, a, lda, b, tb ? k : nf, c, nf);
  size_t compared = 0;
  for (size_t i = 0, col = 0; i < m; col += n[i], ++i) {
    if (!rt_gemm_fusable(rows, n[i], k)) continue;
    if (tb) memcpy(bi, b + col * k, n[i] * k * sizeof *bi);
    else
      for (size_t r = 0; r < k; ++r) memcpy(bi + r * n[i], b + r * nf + col, n[i] * sizeof *bi);
    rt_gemm_rowmajor(ta, tb, rows, n[i], k, a, lda, bi, tb ? k : n[i], own, n[i]);
    for (size_t r = 0; r < rows; ++r)
      if (memcmp(own + r * n[i], c + r * nf + col, n[i] * sizeof *c) != 0) {
        print_error(
            "the BLAS computes a column differently in a fused product: %s%s %zu x %zu x "
            "%zu, member %zu (%zu columns at column %zu of %zu), row %zu\n",
            ta ? "T" : "N", tb ? "T" : "N", rows, n[i], k, i, n[i], col, nf, r);
        fail();
      }
    ++compared;
  }
  free(a), free(b), free(c), free(own), free(bi);
  return compared;
}

/* Skips the calling test, saying why, where this BLAS is not one the rule fuses on. */
static void needs_fusion(const char *test) {
  if (rt_gemm_fusion_established()) return;
  print_message(
      "%s: OpenBLAS core %s is not one products are fused on (fused_gemm.h): column "
      "independence is not asserted on this BLAS\n",
      test, rt_gemm_blas_core());
  skip();
}

/* The products of the benchmarks, all members fused. */
static void benchmark_shapes_fuse(void **state) {
  (void)state;
  needs_fusion("benchmark_shapes_fuse");
  size_t ten[64], wide[16], k10[16];
  for (size_t i = 0; i < 64; ++i) ten[i] = 10;
  for (size_t i = 0; i < 16; ++i) wide[i] = 128, k10[i] = 10;
  /* softmax: forward X W (128 x 10 x 784 each) and gradient X^T G (784 x 10 x 128 each) */
  assert_int_equal(compare(0, 0, 128, 784, ten, 64, 1), 64);
  assert_int_equal(compare(1, 0, 784, 128, ten, 64, 2), 64);
  /* MLP 784-128-10: the first layer forward and gradient */
  assert_int_equal(compare(0, 0, 128, 784, wide, 16, 3), 16);
  assert_int_equal(compare(1, 0, 784, 128, wide, 16, 4), 16);
  /* k-means, k = 10, batch 1024: X C^T */
  assert_int_equal(compare(0, 1, 1024, 784, k10, 16, 5), 16);
}

/* Mixed widths and shapes around the bound, every layout the families use. */
static void mixed_shapes_agree(void **state) {
  (void)state;
  needs_fusion("mixed_shapes_agree");
  const size_t widths[] = {1, 3, 7, 10, 24, 33, 64, 128, 5};
  const size_t rows_v[] = {17, 128, 300, 512}, k_v[] = {100, 784, 1001};
  size_t compared = 0;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (size_t r = 0; r < sizeof rows_v / sizeof *rows_v; ++r)
        for (size_t q = 0; q < sizeof k_v / sizeof *k_v; ++q)
          compared += compare(ta, tb, rows_v[r], k_v[q], widths, sizeof widths / sizeof *widths,
                              (uint64_t)(ta * 100 + tb * 10 + r * 3 + q));
  assert_true(compared > 100);
}

/* The bound itself: small products are never fused; a product just above it is, where the BLAS
 * is established. */
static void bound(void **state) {
  (void)state;
  assert_false(rt_gemm_above_small_bound(100, 100, 100));
  assert_false(rt_gemm_above_small_bound(2, 36, 784));
  assert_true(rt_gemm_above_small_bound(128, 10, 784));
  assert_true(rt_gemm_above_small_bound(1001, 1000, 1));
  assert_false(rt_gemm_fusable(100, 100, 100));
  assert_int_equal(rt_gemm_fusable(128, 10, 784), rt_gemm_fusion_established());
  print_message("OpenBLAS core %s: products %s fused\n", rt_gemm_blas_core(),
                rt_gemm_fusion_established() ? "are" : "are not");
}

/* rt_gemm_members, the families' group product, gives every member exactly its solo product on
 * any BLAS (fused where the rule allows, member by member elsewhere): the softmax and MLP
 * benchmark shapes, forward and gradient. */
static void members_get_solo_bits(void **state) {
  (void)state;
  const size_t rows_v[] = {128, 784}, k_v[] = {784, 128}, w_v[] = {10, 128}, m_v[] = {64, 16};
  for (int t = 0; t < 2; ++t)
    for (int s = 0; s < 2; ++s) {
      const size_t rows = rows_v[t], k = k_v[t], w = w_v[s], m = m_v[s];
      float *a = numbers(rows * k, 11 + (uint64_t)t), *b = numbers(k * m * w, 13 + (uint64_t)s);
      float *c = malloc(rows * m * w * sizeof *c), *own = malloc(rows * w * sizeof *own);
      float *bi = malloc(k * w * sizeof *bi);
      assert_true(c && own && bi);
      const int ta = t; /* 0: X W (rows x k); 1: X^T G (A stored k x rows) */
      rt_gemm_members(ta, rows, k, a, ta ? rows : k, b, w, m, c);
      for (size_t i = 0; i < m; ++i) {
        for (size_t r = 0; r < k; ++r) memcpy(bi + r * w, b + r * m * w + i * w, w * sizeof *bi);
        rt_gemm_rowmajor(ta, 0, rows, w, k, a, ta ? rows : k, bi, w, own, w);
        for (size_t r = 0; r < rows; ++r)
          if (memcmp(own + r * w, c + r * m * w + i * w, w * sizeof *c) != 0)
            fail_msg(
                "rt_gemm_members: member %zu of %zu (%zu x %zu x %zu%s), row %zu differs from "
                "its solo product (OpenBLAS core %s)",
                i, m, rows, w, k, ta ? ", A transposed" : "", r, rt_gemm_blas_core());
      }
      free(a), free(b), free(c), free(own), free(bi);
    }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(benchmark_shapes_fuse),
      cmocka_unit_test(mixed_shapes_agree),
      cmocka_unit_test(bound),
      cmocka_unit_test(members_get_solo_bits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
