/* .npy reader: the five dtypes, format versions, header variants, label columns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtrain/data.h"
#include "test_util.h"

static int group_setup(void **state) {
  (void)state;
  return tu_make_dir("/tmp/rt_test_npy_XXXXXX");
}

static int group_teardown(void **state) {
  (void)state;
  return tu_remove_tree(tu_dir);
}

/* Writes a .npy file with the given dict text (padded to a 64-byte boundary with spaces and a
 * final newline, as numpy does) and payload. Returns the payload offset. */
static size_t write_npy_raw(const char *path, int major, const char *dict, const void *data,
                            size_t nbytes) {
  size_t pre = major == 1 ? 10 : 12;
  size_t dl = strlen(dict);
  size_t total = pre + dl + 1;
  size_t padded = (total + 63) / 64 * 64;
  size_t hlen = padded - pre;
  unsigned char *h = malloc(padded);
  assert_non_null(h);
  memcpy(h, "\x93NUMPY", 6);
  h[6] = (unsigned char)major;
  h[7] = 0;
  h[8] = (unsigned char)(hlen & 0xff);
  h[9] = (unsigned char)((hlen >> 8) & 0xff);
  if (major != 1) {
    h[10] = (unsigned char)((hlen >> 16) & 0xff);
    h[11] = (unsigned char)((hlen >> 24) & 0xff);
  }
  memcpy(h + pre, dict, dl);
  memset(h + pre + dl, ' ', padded - pre - dl);
  h[padded - 1] = '\n';
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(h, 1, padded, f), padded);
  if (nbytes) assert_int_equal(fwrite(data, 1, nbytes, f), nbytes);
  assert_int_equal(fclose(f), 0);
  free(h);
  return padded;
}

static size_t write_npy(const char *name, char *path, size_t pathsz, const char *descr, size_t rows,
                        size_t cols, const void *data, size_t itemsize) {
  tu_path_in(path, pathsz, name);
  char dict[256];
  snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, %zu), }",
           descr, rows, cols);
  return write_npy_raw(path, 1, dict, data, rows * cols * itemsize);
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

static void read_ok(const rt_data_options *o, rt_data_info *info, rt_shard *sh) {
  rt_status st;
  rt_status_clear(&st);
  rt_code rc = rt_data_probe(o, info, &st);
  if (rc != RT_OK) fail_msg("probe %s: %s", o->path, st.message);
  assert_int_equal(info->format, RT_FORMAT_NPY);
  rc = rt_data_read_all(o, info, sh, &st);
  if (rc != RT_OK) fail_msg("read %s: %s", o->path, st.message);
  if (sh->rows) assert_int_equal((uintptr_t)sh->x % 64, 0);
}

/* Checks a 3x3 array whose element [r][c] converts to want[r*3+c], label column 1. */
static void check_3x3(const char *path, const float *want, int dtype) {
  rt_data_options o = opts(path, 1);
  rt_data_info info;
  rt_shard sh;
  read_ok(&o, &info, &sh);
  assert_int_equal(info.npy_dtype, dtype);
  assert_int_equal(info.rows, 3);
  assert_int_equal(info.columns, 3);
  assert_int_equal(info.features, 2);
  assert_int_equal(info.has_label, 1);
  assert_int_equal(sh.rows, 3);
  assert_int_equal(sh.first_row, 0);
  for (int r = 0; r < 3; ++r) {
    if (sh.x[r * 2] != want[r * 3] || sh.x[r * 2 + 1] != want[r * 3 + 2] ||
        sh.y[r] != want[r * 3 + 1])
      fail_msg("%s row %d: got %g %g | %g", path, r, sh.x[r * 2], sh.x[r * 2 + 1], sh.y[r]);
  }
  rt_shard_free(&sh);
}

static void test_dtype_f4(void **state) {
  (void)state;
  const float v[9] = {1.5f, 0, -2.25f, 3e30f, 1, 1e-30f, -0.0f, 2, 7};
  char path[512];
  write_npy("f4.npy", path, sizeof path, "<f4", 3, 3, v, 4);
  check_3x3(path, v, RT_NPY_F32);
}

static void test_dtype_f8(void **state) {
  (void)state;
  const double v[9] = {1.5, 0, -2.25, 3e30, 1, 0.1, -1e-300, 2, 16777217.0};
  float want[9];
  for (int i = 0; i < 9; ++i) want[i] = (float)v[i];
  char path[512];
  write_npy("f8.npy", path, sizeof path, "<f8", 3, 3, v, 8);
  check_3x3(path, want, RT_NPY_F64);
}

static void test_dtype_u1(void **state) {
  (void)state;
  const uint8_t v[9] = {0, 1, 2, 127, 128, 255, 9, 1, 0};
  float want[9];
  for (int i = 0; i < 9; ++i) want[i] = (float)v[i];
  char path[512];
  write_npy("u1.npy", path, sizeof path, "|u1", 3, 3, v, 1);
  check_3x3(path, want, RT_NPY_U8);
  write_npy("u1_lt.npy", path, sizeof path, "<u1", 3, 3, v, 1);
  check_3x3(path, want, RT_NPY_U8);
}

static void test_dtype_i4(void **state) {
  (void)state;
  const int32_t v[9] = {0, -1, 2, INT32_MAX, INT32_MIN, 16777217, 5, 0, -7};
  float want[9];
  for (int i = 0; i < 9; ++i) want[i] = (float)v[i];
  char path[512];
  write_npy("i4.npy", path, sizeof path, "<i4", 3, 3, v, 4);
  check_3x3(path, want, RT_NPY_I32);
}

static void test_dtype_i8(void **state) {
  (void)state;
  const int64_t v[9] = {0, -1, 2, INT64_MAX, INT64_MIN, ((int64_t)1 << 40) + 1, 5, 1, -7};
  float want[9];
  for (int i = 0; i < 9; ++i) want[i] = (float)v[i];
  char path[512];
  write_npy("i8.npy", path, sizeof path, "<i8", 3, 3, v, 8);
  check_3x3(path, want, RT_NPY_I64);
}

static void test_versions_and_header_variants(void **state) {
  (void)state;
  const float v[6] = {1, 2, 3, 4, 5, 6};
  const char *dicts[] = {
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
      "{\"shape\": (2, 3), \"descr\": \"<f4\", \"fortran_order\": False}",
      "{'fortran_order':False,'shape':(2L,3L),'descr':'<f4'}",
      "  {  'descr' : '<f4' ,\n 'fortran_order' : False , 'shape' : ( 2 , 3 , ) , }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3], 'extra': (1, 'x', None, -2.5)}",
  };
  const int majors[] = {1, 2, 3};
  char path[512];
  for (size_t m = 0; m < 3; ++m) {
    for (size_t d = 0; d < sizeof dicts / sizeof dicts[0]; ++d) {
      snprintf(path, sizeof path, "%s/var_%zu_%zu.npy", tu_dir, m, d);
      size_t payload = write_npy_raw(path, majors[m], dicts[d], v, sizeof v);
      rt_data_options o = opts(path, -1);
      rt_data_info info;
      rt_shard sh;
      read_ok(&o, &info, &sh);
      assert_int_equal(info.npy_payload, payload);
      assert_int_equal(info.rows, 2);
      assert_int_equal(info.columns, 3);
      assert_int_equal(info.features, 3);
      assert_int_equal(info.has_label, 0);
      assert_int_equal(sh.rows, 2);
      assert_null(sh.y);
      for (int i = 0; i < 6; ++i) assert_true(sh.x[i] == v[i]);
      rt_shard_free(&sh);
    }
  }
}

static void test_label_positions(void **state) {
  (void)state;
  float v[20];
  for (int i = 0; i < 20; ++i) v[i] = (float)i;
  char path[512];
  write_npy("lab.npy", path, sizeof path, "<f4", 4, 5, v, 4);
  const int labels[] = {-1, 0, 2, 4};
  for (size_t li = 0; li < 4; ++li) {
    int lab = labels[li];
    rt_data_options o = opts(path, lab);
    rt_data_info info;
    rt_shard sh;
    read_ok(&o, &info, &sh);
    assert_int_equal(sh.features, lab < 0 ? 5 : 4);
    size_t k = 0;
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 5; ++c) {
        if (c == lab) assert_true(sh.y[r] == v[r * 5 + c]);
        else assert_true(sh.x[k++] == v[r * 5 + c]);
      }
    }
    if (lab < 0) assert_null(sh.y);
    rt_shard_free(&sh);
  }
}

static void test_trailing_bytes_and_shard_offsets(void **state) {
  (void)state;
  /* 10 rows x 2 cols int32 plus trailing junk bytes (tolerated); shard s of 3 starts at row
   * s*10/3 and its values come from the right offset. */
  int32_t v[22];
  for (int i = 0; i < 22; ++i) v[i] = i * 3 - 5;
  char path[512];
  tu_path_in(path, sizeof path, "trail.npy");
  write_npy_raw(path, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (10, 2), }", v,
                sizeof v);
  rt_data_options o = opts(path, 0);
  rt_data_info info;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_probe(&o, &info, &st), RT_OK);
  const size_t start[] = {0, 3, 6, 10};
  for (size_t s = 0; s < 3; ++s) {
    rt_shard sh;
    assert_int_equal(rt_data_read_shard(&o, &info, s, 3, &sh, &st), RT_OK);
    assert_int_equal(sh.first_row, start[s]);
    assert_int_equal(sh.rows, start[s + 1] - start[s]);
    for (size_t r = 0; r < sh.rows; ++r) {
      size_t fr = start[s] + r;
      assert_true(sh.y[r] == (float)v[fr * 2]);
      assert_true(sh.x[r] == (float)v[fr * 2 + 1]);
    }
    rt_shard_free(&sh);
  }
}

static void test_nonfinite_rejected(void **state) {
  (void)state;
  float v[6] = {1, 2, 3, 4, 5, 6};
  char path[512];
  union {
    uint32_t u;
    float f;
  } nanbits = {0x7fc00000u};
  v[4] = nanbits.f; /* element [1, 1] */
  size_t payload = write_npy("nan.npy", path, sizeof path, "<f4", 2, 3, v, 4);
  rt_data_options o = opts(path, -1);
  rt_data_info info;
  rt_shard sh;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_probe(&o, &info, &st), RT_OK);
  assert_int_equal(rt_data_read_all(&o, &info, &sh, &st), RT_ERR_DATA);
  char want[128];
  snprintf(want, sizeof want, "nan.npy: element [1, 1] at byte %zu is NaN", payload + 16);
  if (!strstr(st.message, want)) fail_msg("message '%s' lacks '%s'", st.message, want);
  assert_null(sh.x);
  /* the shard that does not hold the bad row reads fine */
  assert_int_equal(rt_data_read_shard(&o, &info, 0, 2, &sh, &st), RT_OK);
  assert_int_equal(sh.rows, 1);
  rt_shard_free(&sh);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dtype_f4),
      cmocka_unit_test(test_dtype_f8),
      cmocka_unit_test(test_dtype_u1),
      cmocka_unit_test(test_dtype_i4),
      cmocka_unit_test(test_dtype_i8),
      cmocka_unit_test(test_versions_and_header_variants),
      cmocka_unit_test(test_label_positions),
      cmocka_unit_test(test_trailing_bytes_and_shard_offsets),
      cmocka_unit_test(test_nonfinite_rejected),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
