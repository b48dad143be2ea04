/* Logical shards: concatenating shards 0..S-1 gives read_all exactly; the cut rule of data.h;
 * empty shards; the rows counted per shard equal the rows read; the validation split. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtrain/data.h"
#include "rng.h"
#include "test_util.h"

static int group_setup(void **state) {
  (void)state;
  return tu_make_dir("/tmp/rt_test_shard_XXXXXX");
}

static int group_teardown(void **state) {
  (void)state;
  return tu_remove_tree(tu_dir);
}

/* Writes n bytes to tu_dir/name; the full path goes to path. */
static void write_bytes(const char *name, const void *data, size_t n, char *path, size_t pathsz) {
  tu_path_in(path, pathsz, name);
  tu_write_bytes(path, data, n);
}

static rt_data_options opts(const char *path, int label) {
  rt_data_options o;
  memset(&o, 0, sizeof o);
  o.path = path;
  o.format = RT_FORMAT_AUTO;
  o.label_column = label;
  o.header = -1;
  o.delimiter = 0;
  return o;
}

static void probe_ok(const rt_data_options *o, rt_data_info *info) {
  rt_status st;
  rt_status_clear(&st);
  if (rt_data_probe(o, info, &st) != RT_OK) fail_msg("probe %s: %s", o->path, st.message);
}

static void shard_ok(const rt_data_options *o, const rt_data_info *info, size_t s, size_t S,
                     rt_shard *sh) {
  rt_status st;
  rt_status_clear(&st);
  if (rt_data_read_shard(o, info, s, S, sh, &st) != RT_OK)
    fail_msg("read %s shard %zu/%zu: %s", o->path, s, S, st.message);
  if (sh->rows == 0) {
    assert_null(sh->x);
    assert_null(sh->y);
  } else {
    assert_int_equal((uintptr_t)sh->x % 64, 0);
  }
}

/* Reads shards 0..S-1 and checks their concatenation equals `all` bit for bit.
 * rows_out[s] gets each shard's row count, first_out[s] its first_row. */
static void check_concat(const rt_data_options *o, const rt_data_info *info, const rt_shard *all,
                         size_t S, size_t *rows_out, uint64_t *first_out) {
  size_t r = 0, f = all->features;
  /* What `check` counts without reading a field (rt_data_count_shard_rows) is what is read. */
  uint64_t counted[16];
  assert_true(S <= 16);
  rt_status cst;
  rt_status_clear(&cst);
  if (rt_data_count_shard_rows(o, info, S, counted, &cst) != RT_OK)
    fail_msg("count %s: %s", o->path, cst.message);
  for (size_t s = 0; s < S; ++s) {
    rt_shard sh;
    shard_ok(o, info, s, S, &sh);
    if (counted[s] != sh.rows)
      fail_msg("%s: S=%zu shard %zu: counted %llu rows, read %zu", o->path, S, s,
               (unsigned long long)counted[s], sh.rows);
    assert_int_equal(sh.features, f);
    assert_true(r + sh.rows <= all->rows);
    if (sh.rows) {
      if (memcmp(sh.x, all->x + r * f, sh.rows * f * sizeof(float)) != 0)
        fail_msg("%s: S=%zu shard %zu features differ from read_all", o->path, S, s);
      if (all->y) {
        assert_non_null(sh.y);
        if (memcmp(sh.y, all->y + r, sh.rows * sizeof(float)) != 0)
          fail_msg("%s: S=%zu shard %zu labels differ from read_all", o->path, S, s);
      }
    }
    if (rows_out) rows_out[s] = sh.rows;
    if (first_out) first_out[s] = sh.first_row;
    r += sh.rows;
    rt_shard_free(&sh);
  }
  if (r != all->rows)
    fail_msg("%s: S=%zu shards hold %zu rows, read_all %zu", o->path, S, r, all->rows);
}

static const size_t shard_counts[] = {1, 2, 3, 4, 7};

/* Random CSV: header, varied number widths, blank lines, CRLF on some lines. */
static void test_csv_concat_equals_all(void **state) {
  (void)state;
  const size_t nrows = 997, cols = 5;
  size_t cap = nrows * 128 + 64;
  char *text = malloc(cap);
  assert_non_null(text);
  size_t k = (size_t)snprintf(text, cap, "a,b,c,d,label\n");
  const uint64_t key = 12345;
  uint64_t draw = 0;
  for (size_t r = 0; r < nrows; ++r) {
    if (rt_rng_below(key, draw++, 20) == 0) k += (size_t)snprintf(text + k, cap - k, "\n");
    for (size_t c = 0; c < cols; ++c) {
      double v = (rt_rng_uniform(key, draw++) - 0.5) * 2000.0;
      int digits = (int)rt_rng_below(key, draw++, 9);
      k += (size_t)snprintf(text + k, cap - k, "%.*f%s", digits, v, c + 1 == cols ? "" : ",");
    }
    k += (size_t)snprintf(text + k, cap - k, rt_rng_below(key, draw++, 3) == 0 ? "\r\n" : "\n");
  }
  char path[512];
  write_bytes("rand.csv", text, k, path, sizeof path);

  rt_data_options o = opts(path, 4);
  rt_data_info info;
  probe_ok(&o, &info);
  rt_shard all;
  shard_ok(&o, &info, 0, 1, &all);
  assert_int_equal(all.rows, nrows);

  /* Reference for the cut rule: a non-blank line starting at p belongs to shard s iff
   * c(s) <= p < c(s+1) with c(s) = B0 + s*(B1-B0)/S. */
  uint64_t *starts = malloc(nrows * sizeof *starts);
  assert_non_null(starts);
  size_t ns = 0;
  for (size_t p = info.data_begin; p < k;) {
    const char *nl = memchr(text + p, '\n', k - p);
    size_t end = nl ? (size_t)(nl - text) : k;
    int blank = 1;
    for (size_t i = p; i < end; ++i)
      if (text[i] != '\r' && text[i] != ' ') blank = 0;
    if (!blank) starts[ns++] = p;
    p = end + 1;
  }
  assert_int_equal(ns, nrows);

  for (size_t si = 0; si < sizeof shard_counts / sizeof shard_counts[0]; ++si) {
    size_t S = shard_counts[si];
    size_t rows[8];
    uint64_t first[8];
    check_concat(&o, &info, &all, S, rows, first);
    uint64_t span = info.data_end - info.data_begin;
    for (size_t s = 0; s < S; ++s) {
      uint64_t c0 = info.data_begin + s * span / S, c1 = info.data_begin + (s + 1) * span / S;
      size_t want = 0;
      uint64_t want_first = 0;
      for (size_t i = 0; i < ns; ++i)
        if (starts[i] >= c0 && starts[i] < c1) {
          if (!want) want_first = starts[i];
          ++want;
        }
      assert_int_equal(rows[s], want);
      if (want) assert_int_equal(first[s], want_first);
    }
  }
  free(starts);
  free(text);
  rt_shard_free(&all);
}

/* Eight 6-byte lines: cuts on line starts stay, mid-line cuts move to the next line. */
static void test_csv_cut_positions(void **state) {
  (void)state;
  const char *text = "1,2,3\n2,3,4\n3,4,5\n4,5,6\n5,6,7\n6,7,8\n7,8,9\n8,9,0\n";
  char path[512];
  write_bytes("cuts.csv", text, strlen(text), path, sizeof path);
  rt_data_options o = opts(path, -1);
  rt_data_info info;
  probe_ok(&o, &info);
  assert_int_equal(info.data_begin, 0);
  assert_int_equal(info.data_end, 48);
  rt_shard all;
  shard_ok(&o, &info, 0, 1, &all);
  assert_int_equal(all.rows, 8);

  struct {
    size_t S;
    size_t rows[5];
    uint64_t first[5];
  } cases[] = {
      {2, {4, 4}, {0, 24}},                      /* cut at 24: a line start */
      {4, {2, 2, 2, 2}, {0, 12, 24, 36}},        /* cuts at 12, 24, 36: all line starts */
      {3, {3, 3, 2}, {0, 18, 36}},               /* cuts at 16, 32: mid-line */
      {5, {2, 2, 1, 2, 1}, {0, 12, 24, 30, 42}}, /* cuts at 9, 19, 28, 38 */
  };
  for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ++ci) {
    size_t rows[5];
    uint64_t first[5];
    check_concat(&o, &info, &all, cases[ci].S, rows, first);
    for (size_t s = 0; s < cases[ci].S; ++s) {
      if (rows[s] != cases[ci].rows[s] || first[s] != cases[ci].first[s])
        fail_msg("S=%zu shard %zu: rows %zu first %llu, want %zu / %llu", cases[ci].S, s, rows[s],
                 (unsigned long long)first[s], cases[ci].rows[s],
                 (unsigned long long)cases[ci].first[s]);
    }
  }
  rt_shard_free(&all);

  /* With a header the data range starts after it: B0 = 6, 48 data bytes. */
  const char *text2 = "x,y,z\n1,2,3\n2,3,4\n3,4,5\n4,5,6\n5,6,7\n6,7,8\n7,8,9\n8,9,0\n";
  write_bytes("cuts_hdr.csv", text2, strlen(text2), path, sizeof path);
  probe_ok(&o, &info);
  assert_int_equal(info.data_begin, 6);
  shard_ok(&o, &info, 0, 1, &all);
  size_t rows[4];
  uint64_t first[4];
  check_concat(&o, &info, &all, 4, rows, first);
  for (size_t s = 0; s < 4; ++s) {
    assert_int_equal(rows[s], 2);
    assert_int_equal(first[s], 6 + 12 * s);
  }
  rt_shard_free(&all);
}

/* A line longer than the split leaves later shards empty. */
static void test_csv_empty_shards(void **state) {
  (void)state;
  char text[1024];
  size_t k = 0;
  for (int c = 0; c < 60; ++c)
    k += (size_t)snprintf(text + k, sizeof text - k, "%s100", c ? "," : "");
  k += (size_t)snprintf(text + k, sizeof text - k, "\n");
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 60; ++c)
      k += (size_t)snprintf(text + k, sizeof text - k, "%d%s", r, c == 59 ? "\n" : ",");
  char path[512];
  write_bytes("empty_shards.csv", text, k, path, sizeof path);
  rt_data_options o = opts(path, 0);
  rt_data_info info;
  probe_ok(&o, &info);
  rt_shard all;
  shard_ok(&o, &info, 0, 1, &all);
  assert_int_equal(all.rows, 3);
  const size_t S = 7;
  size_t rows[7];
  check_concat(&o, &info, &all, S, rows, NULL);
  int empty = 0;
  for (size_t s = 0; s < S; ++s) empty += rows[s] == 0;
  assert_true(empty >= 3);
  assert_int_equal(rows[0], 1); /* the long first line fills shard 0's range and more */
  rt_shard_free(&all);

  /* more shards than bytes */
  write_bytes("tiny.csv", "1\n2\n", 4, path, sizeof path);
  o = opts(path, -1);
  probe_ok(&o, &info);
  shard_ok(&o, &info, 0, 1, &all);
  check_concat(&o, &info, &all, 9, NULL, NULL);
  rt_shard_free(&all);
}

static size_t write_npy_f4(const char *name, char *path, size_t pathsz, size_t rows, size_t cols,
                           const float *v) {
  char dict[128];
  snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %zu), }",
           rows, cols);
  size_t dl = strlen(dict), padded = (10 + dl + 1 + 63) / 64 * 64, hlen = padded - 10;
  size_t total = padded + rows * cols * 4;
  unsigned char *b = malloc(total);
  assert_non_null(b);
  memcpy(b, "\x93NUMPY\x01\x00", 8);
  b[8] = (unsigned char)(hlen & 0xff);
  b[9] = (unsigned char)(hlen >> 8);
  memset(b + 10, ' ', hlen);
  memcpy(b + 10, dict, dl);
  b[padded - 1] = '\n';
  memcpy(b + padded, v, rows * cols * 4);
  write_bytes(name, b, total, path, pathsz);
  free(b);
  return padded;
}

static void test_npy_concat_and_counts(void **state) {
  (void)state;
  const size_t rowcounts[] = {1, 5, 100, 1001};
  for (size_t ri = 0; ri < 4; ++ri) {
    const size_t N = rowcounts[ri], C = 4;
    float *v = malloc(N * C * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < N * C; ++i) v[i] = rt_rng_uniform_f(99, i) * 10.0f - 5.0f;
    char path[512], name[64];
    snprintf(name, sizeof name, "rows%zu.npy", N);
    write_npy_f4(name, path, sizeof path, N, C, v);
    rt_data_options o = opts(path, 3);
    rt_data_info info;
    probe_ok(&o, &info);
    rt_shard all;
    shard_ok(&o, &info, 0, 1, &all);
    assert_int_equal(all.rows, N);
    for (size_t si = 0; si < sizeof shard_counts / sizeof shard_counts[0]; ++si) {
      size_t S = shard_counts[si];
      size_t rows[8];
      uint64_t first[8];
      check_concat(&o, &info, &all, S, rows, first);
      for (size_t s = 0; s < S; ++s) {
        assert_int_equal(first[s], s * N / S);
        assert_int_equal(rows[s], (s + 1) * N / S - s * N / S);
      }
    }
    rt_shard_free(&all);
    free(v);
  }
}

static void test_bad_shard_arguments(void **state) {
  (void)state;
  char path[512];
  write_bytes("args.csv", "1,2\n", 4, path, sizeof path);
  rt_data_options o = opts(path, -1);
  rt_data_info info;
  probe_ok(&o, &info);
  rt_shard sh;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_read_shard(&o, &info, 2, 2, &sh, &st), RT_ERR_INTERNAL);
  assert_int_equal(rt_data_read_shard(&o, &info, 0, 0, &sh, &st), RT_ERR_INTERNAL);
  assert_null(sh.x);
  /* the file changed after probing */
  write_bytes("args.csv", "1,2\n3,4\n", 8, path, sizeof path);
  assert_int_equal(rt_data_read_shard(&o, &info, 0, 1, &sh, &st), RT_ERR_DATA);
  assert_non_null(strstr(st.message, "args.csv"));
}

/* ---- validation split ---- */

static void make_shard(rt_shard *sh, size_t rows, size_t f, int with_y) {
  memset(sh, 0, sizeof *sh);
  sh->rows = rows;
  sh->features = f;
  sh->first_row = 77;
  if (rows) {
    sh->x = aligned_alloc(64, (rows * f * sizeof(float) + 63) / 64 * 64);
    assert_non_null(sh->x);
    for (size_t i = 0; i < rows * f; ++i) sh->x[i] = (float)(i / f) + 0.25f * (float)(i % f);
    if (with_y) {
      sh->y = malloc(rows * sizeof(float));
      assert_non_null(sh->y);
      for (size_t i = 0; i < rows; ++i) sh->y[i] = (float)i;
    }
  }
}

/* Row index of each output row (x[r*f] holds the original row index). */
static void row_ids(const rt_shard *sh, size_t *ids) {
  for (size_t r = 0; r < sh->rows; ++r) {
    ids[r] = (size_t)sh->x[r * sh->features];
    for (size_t c = 0; c < sh->features; ++c)
      assert_true(sh->x[r * sh->features + c] == (float)ids[r] + 0.25f * (float)c);
    if (sh->y) assert_true(sh->y[r] == (float)ids[r]);
  }
}

static void split(size_t rows, double frac, uint64_t seed, size_t idx, int with_y, rt_shard *tr,
                  rt_shard *va) {
  rt_shard in;
  make_shard(&in, rows, 3, with_y);
  rt_status st;
  rt_status_clear(&st);
  if (rt_shard_split_validation(&in, frac, seed, idx, tr, va, &st) != RT_OK)
    fail_msg("split: %s", st.message);
  assert_null(in.x);
  assert_int_equal(in.rows, 0);
}

static void test_split_counts_union_order(void **state) {
  (void)state;
  const size_t rows_list[] = {0, 1, 2, 10, 333};
  const double fracs[] = {0.0, 0.1, 0.25, 0.5, 0.999, 1.0};
  for (size_t ri = 0; ri < 5; ++ri) {
    for (size_t fi = 0; fi < 6; ++fi) {
      size_t n = rows_list[ri];
      rt_shard tr, va;
      split(n, fracs[fi], 42, 3, (int)(ri % 2), &tr, &va);
      size_t k = (size_t)(n * fracs[fi] + 0.5);
      assert_int_equal(va.rows, k);
      assert_int_equal(rt_validation_split_rows(n, fracs[fi]), k); /* the rule `check` counts by */
      assert_int_equal(tr.rows, n - k);
      assert_int_equal(tr.features, 3);
      assert_int_equal(va.features, 3);
      assert_int_equal(tr.first_row, 77);
      if (tr.rows == 0) assert_null(tr.x);
      if (va.rows == 0) assert_null(va.x);
      if (va.rows) assert_int_equal((uintptr_t)va.x % 64, 0);
      size_t *a = calloc(n + 1, sizeof *a), *b = calloc(n + 1, sizeof *b);
      unsigned char *seen = calloc(n + 1, 1);
      assert_true(a && b && seen);
      row_ids(&tr, a);
      row_ids(&va, b);
      for (size_t i = 1; i < tr.rows; ++i) assert_true(a[i - 1] < a[i]);
      for (size_t i = 1; i < va.rows; ++i) assert_true(b[i - 1] < b[i]);
      for (size_t i = 0; i < tr.rows; ++i) seen[a[i]]++;
      for (size_t i = 0; i < va.rows; ++i) seen[b[i]]++;
      for (size_t i = 0; i < n; ++i) assert_int_equal(seen[i], 1);
      free(a);
      free(b);
      free(seen);
      rt_shard_free(&tr);
      rt_shard_free(&va);
    }
  }
}

static void test_split_deterministic(void **state) {
  (void)state;
  const size_t n = 200;
  size_t ref[200], other[200];
  rt_shard tr, va;
  split(n, 0.3, 7, 1, 1, &tr, &va);
  row_ids(&va, ref);
  assert_int_equal(va.rows, 60);
  rt_shard_free(&tr);
  rt_shard_free(&va);

  split(n, 0.3, 7, 1, 0, &tr, &va); /* same seed and shard: same rows */
  row_ids(&va, other);
  assert_memory_equal(ref, other, 60 * sizeof ref[0]);
  rt_shard_free(&tr);
  rt_shard_free(&va);

  split(n, 0.3, 7, 2, 1, &tr, &va); /* another shard index */
  row_ids(&va, other);
  assert_memory_not_equal(ref, other, 60 * sizeof ref[0]);
  rt_shard_free(&tr);
  rt_shard_free(&va);

  split(n, 0.3, 8, 1, 1, &tr, &va); /* another seed */
  row_ids(&va, other);
  assert_memory_not_equal(ref, other, 60 * sizeof ref[0]);
  rt_shard_free(&tr);
  rt_shard_free(&va);

  /* the documented key derivation */
  uint64_t perm[200];
  uint64_t key = rt_key_push(rt_key_push(rt_key_push(7, RT_STREAM_VALIDATION_SPLIT), 1), 0);
  rt_rng_permutation(key, perm, n);
  unsigned char chosen[200] = {0};
  for (size_t i = 0; i < 60; ++i) chosen[perm[i]] = 1;
  size_t j = 0;
  for (size_t i = 0; i < n; ++i)
    if (chosen[i]) assert_int_equal(ref[j++], i);
}

static void test_split_aliasing_and_errors(void **state) {
  (void)state;
  rt_shard sh, va;
  make_shard(&sh, 50, 2, 1);
  rt_status st;
  rt_status_clear(&st);
  /* train may be the input itself */
  assert_int_equal(rt_shard_split_validation(&sh, 0.2, 1, 0, &sh, &va, &st), RT_OK);
  assert_int_equal(sh.rows, 40);
  assert_int_equal(va.rows, 10);
  rt_shard_free(&sh);
  rt_shard_free(&va);

  rt_shard tr;
  make_shard(&sh, 5, 2, 0);
  assert_int_equal(rt_shard_split_validation(&sh, 1.5, 1, 0, &tr, &va, &st), RT_ERR_CONFIG);
  assert_null(sh.x); /* consumed even on error */
  assert_null(tr.x);
  assert_null(va.x);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_csv_concat_equals_all),
      cmocka_unit_test(test_csv_cut_positions),
      cmocka_unit_test(test_csv_empty_shards),
      cmocka_unit_test(test_npy_concat_and_counts),
      cmocka_unit_test(test_bad_shard_arguments),
      cmocka_unit_test(test_split_counts_union_order),
      cmocka_unit_test(test_split_deterministic),
      cmocka_unit_test(test_split_aliasing_and_errors),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
