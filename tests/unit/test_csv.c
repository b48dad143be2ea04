/* CSV reader: header and delimiter detection, CRLF, blank lines, label column positions. */
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
  return tu_make_dir("/tmp/rt_test_csv_XXXXXX");
}

static int group_teardown(void **state) {
  (void)state;
  return tu_remove_tree(tu_dir);
}

/* Writes text to tu_dir/name; the full path goes to path. */
static void write_file(const char *name, const char *text, char *path, size_t pathsz) {
  tu_path_in(path, pathsz, name);
  tu_write_text(path, text);
}

static rt_data_options opts(const char *path, int label, int header, char delim) {
  rt_data_options o;
  memset(&o, 0, sizeof o);
  o.path = path;
  o.format = RT_FORMAT_AUTO;
  o.label_column = label;
  o.header = header;
  o.delimiter = delim;
  return o;
}

/* Probes and reads every row; fails the test with the library's message on error. */
static void read_ok(const rt_data_options *o, rt_data_info *info, rt_shard *sh) {
  rt_status st;
  rt_status_clear(&st);
  rt_code rc = rt_data_probe(o, info, &st);
  if (rc != RT_OK) fail_msg("probe %s: %s", o->path, st.message);
  rc = rt_data_read_all(o, info, sh, &st);
  if (rc != RT_OK) fail_msg("read %s: %s", o->path, st.message);
  assert_int_equal(info->format, RT_FORMAT_CSV);
  if (sh->rows) assert_int_equal((uintptr_t)sh->x % 64, 0);
}

static void assert_floats(const float *got, const float *want, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (got[i] != want[i]) fail_msg("value %zu: got %.9g, want %.9g", i, got[i], want[i]);
}

static void test_header_comma(void **state) {
  (void)state;
  char path[512];
  const char *text = "a,b,label\n1,2,0\n3.5,-4e2,1\n";
  write_file("hdr.csv", text, path, sizeof path);
  rt_data_options o = opts(path, 2, -1, 0);
  rt_data_info info;
  rt_shard sh;
  read_ok(&o, &info, &sh);
  assert_int_equal(info.has_header, 1);
  assert_int_equal(info.delimiter, ',');
  assert_int_equal(info.columns, 3);
  assert_int_equal(info.features, 2);
  assert_int_equal(info.has_label, 1);
  assert_int_equal(info.data_begin, 10);
  assert_int_equal(info.data_end, strlen(text));
  assert_int_equal(info.rows, 0);
  assert_int_equal(sh.rows, 2);
  assert_int_equal(sh.features, 2);
  assert_int_equal(sh.first_row, 10);
  const float x[] = {1, 2, 3.5f, -400};
  const float y[] = {0, 1};
  assert_floats(sh.x, x, 4);
  assert_non_null(sh.y);
  assert_floats(sh.y, y, 2);
  rt_shard_free(&sh);
  assert_null(sh.x);
  assert_int_equal(sh.rows, 0);
}

static void test_no_header(void **state) {
  (void)state;
  char path[512];
  write_file("nohdr.csv", "1,2,3\n4,5,6\n", path, sizeof path);
  rt_data_options o = opts(path, 0, -1, 0);
  rt_data_info info;
  rt_shard sh;
  read_ok(&o, &info, &sh);
  assert_int_equal(info.has_header, 0);
  assert_int_equal(info.data_begin, 0);
  assert_int_equal(sh.rows, 2);
  const float x[] = {2, 3, 5, 6};
  const float y[] = {1, 4};
  assert_floats(sh.x, x, 4);
  assert_floats(sh.y, y, 2);
  rt_shard_free(&sh);
}

static void test_header_forced(void **state) {
  (void)state;
  char path[512];
  write_file("numhdr.csv", "0,1,2\n5,6,7\n", path, sizeof path);
  /* header: 1 takes a numeric first line as the header */
  rt_data_options o = opts(path, -1, 1, 0);
  rt_data_info info;
  rt_shard sh;
  read_ok(&o, &info, &sh);
  assert_int_equal(info.has_header, 1);
  assert_int_equal(info.data_begin, 6);
  assert_int_equal(sh.rows, 1);
  assert_null(sh.y);
  const float x[] = {5, 6, 7};
  assert_floats(sh.x, x, 3);
  rt_shard_free(&sh);

  /* header: 0 reads a text first line as data and fails on it */
  write_file("texthdr.csv", "a,b,c\n5,6,7\n", path, sizeof path);
  o = opts(path, -1, 0, 0);
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_probe(&o, &info, &st), RT_OK);
  assert_int_equal(info.has_header, 0);
  assert_int_equal(rt_data_read_all(&o, &info, &sh, &st), RT_ERR_DATA);
  assert_non_null(strstr(st.message, "texthdr.csv:1: column 1: expected a number, found 'a'"));
  assert_null(sh.x);
  assert_int_equal(sh.rows, 0);
}

static void test_whitespace(void **state) {
  (void)state;
  char path[512];
  write_file("ws.txt", "  1 2\t3\n4\t\t5   6  \n\t7 8 9\n", path, sizeof path);
  rt_data_options o = opts(path, -1, -1, 0);
  rt_data_info info;
  rt_shard sh;
  read_ok(&o, &info, &sh);
  assert_int_equal(info.delimiter, ' ');
  assert_int_equal(info.columns, 3);
  assert_int_equal(info.has_header, 0);
  assert_int_equal(sh.rows, 3);
  const float x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  assert_floats(sh.x, x, 9);
  rt_shard_free(&sh);

  /* whitespace with a header and an explicit tab delimiter option */
  write_file("ws_hdr.tsv", "x\ty\tz\n1\t2\t3\n", path, sizeof path);
  o = opts(path, 2, -1, '\t');
  read_ok(&o, &info, &sh);
  assert_int_equal(info.delimiter, ' ');
  assert_int_equal(info.has_header, 1);
  assert_int_equal(sh.rows, 1);
  const float x2[] = {1, 2};
  assert_floats(sh.x, x2, 2);
  assert_true(sh.y[0] == 3.0f);
  rt_shard_free(&sh);
}

static void test_comma_with_spaces(void **state) {
  (void)state;
  char path[512];
  write_file("spaced.csv", " 1 , 2,3 \n4,  5 ,6\n", path, sizeof path);
  rt_data_options o = opts(path, -1, -1, 0);
  rt_data_info info;
  rt_shard sh;
  read_ok(&o, &info, &sh);
  assert_int_equal(info.delimiter, ',');
  assert_int_equal(sh.rows, 2);
  const float x[] = {1, 2, 3, 4, 5, 6};
  assert_floats(sh.x, x, 6);
  rt_shard_free(&sh);

  /* an explicit ' ' delimiter on a file with commas makes them part of the fields */
  write_file("commas_ws.csv", "1,2 3\n", path, sizeof path);
  o = opts(path, -1, 0, ' ');
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_probe(&o, &info, &st), RT_OK);
  assert_int_equal(info.delimiter, ' ');
  assert_int_equal(info.columns, 2);
  assert_int_equal(rt_data_read_all(&o, &info, &sh, &st), RT_ERR_DATA);
  assert_non_null(strstr(st.message, "commas_ws.csv:1: column 1: expected a number, found '1,2'"));
}

static void test_crlf(void **state) {
  (void)state;
  char path[512];
  write_file("crlf.csv", "a,b\r\n1,2\r\n\r\n3,4\r\n", path, sizeof path);
  rt_data_options o = opts(path, 1, -1, 0);
  rt_data_info info;
  rt_shard sh;
  read_ok(&o, &info, &sh);
  assert_int_equal(info.has_header, 1);
  assert_int_equal(info.data_begin, 5);
  assert_int_equal(sh.rows, 2);
  const float x[] = {1, 3};
  const float y[] = {2, 4};
  assert_floats(sh.x, x, 2);
  assert_floats(sh.y, y, 2);
  rt_shard_free(&sh);

  write_file("crlf_ws.txt", "1 2\r\n3 4 \r\n", path, sizeof path);
  o = opts(path, -1, -1, 0);
  read_ok(&o, &info, &sh);
  assert_int_equal(info.delimiter, ' ');
  assert_int_equal(sh.rows, 2);
  const float x2[] = {1, 2, 3, 4};
  assert_floats(sh.x, x2, 4);
  rt_shard_free(&sh);
}

static void test_label_positions(void **state) {
  (void)state;
  char path[512];
  write_file("lab.csv", "c0,c1,c2,c3\n10,11,12,13\n20,21,22,23\n", path, sizeof path);
  const int labels[] = {-1, 0, 1, 3};
  for (size_t li = 0; li < sizeof labels / sizeof labels[0]; ++li) {
    int lab = labels[li];
    rt_data_options o = opts(path, lab, -1, 0);
    rt_data_info info;
    rt_shard sh;
    read_ok(&o, &info, &sh);
    assert_int_equal(sh.rows, 2);
    size_t nf = lab < 0 ? 4 : 3;
    assert_int_equal(info.features, nf);
    assert_int_equal(info.has_label, lab >= 0);
    float want[8];
    size_t k = 0;
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 4; ++c)
        if (c != lab) want[k++] = (float)(10 * (r + 1) + c);
    assert_floats(sh.x, want, k);
    if (lab < 0) {
      assert_null(sh.y);
    } else {
      assert_true(sh.y[0] == (float)(10 + lab));
      assert_true(sh.y[1] == (float)(20 + lab));
    }
    rt_shard_free(&sh);
  }
}

static void test_blank_lines_bom_no_trailing_newline(void **state) {
  (void)state;
  char path[512];
  write_file("blank.csv", "\n  \n1,2\n\r\n\t\n3,4", path, sizeof path);
  rt_data_options o = opts(path, -1, -1, 0);
  rt_data_info info;
  rt_shard sh;
  read_ok(&o, &info, &sh);
  assert_int_equal(info.has_header, 0);
  assert_int_equal(info.data_begin, 4);
  assert_int_equal(sh.rows, 2);
  assert_int_equal(sh.first_row, 4);
  const float x[] = {1, 2, 3, 4};
  assert_floats(sh.x, x, 4);
  rt_shard_free(&sh);

  write_file("bom.csv",
             "\xEF\xBB\xBF"
             "f,g\n5,6\n",
             path, sizeof path);
  o = opts(path, 0, -1, 0);
  read_ok(&o, &info, &sh);
  assert_int_equal(info.has_header, 1);
  assert_int_equal(sh.rows, 1);
  assert_true(sh.y[0] == 5.0f && sh.x[0] == 6.0f);
  rt_shard_free(&sh);

  write_file("bom_nohdr.csv",
             "\xEF\xBB\xBF"
             "5,6\n",
             path, sizeof path);
  read_ok(&o, &info, &sh);
  assert_int_equal(info.has_header, 0);
  assert_int_equal(info.data_begin, 3);
  assert_int_equal(sh.rows, 1);
  assert_true(sh.y[0] == 5.0f && sh.x[0] == 6.0f);
  rt_shard_free(&sh);
}

static void test_number_forms(void **state) {
  (void)state;
  char path[512];
  write_file("nums.csv", "+1,.5,1e-3,-0,1E+2,0.1,3.4028234e38,1e-45\n", path, sizeof path);
  rt_data_options o = opts(path, -1, -1, 0);
  rt_data_info info;
  rt_shard sh;
  read_ok(&o, &info, &sh);
  assert_int_equal(sh.rows, 1);
  const float x[] = {1, 0.5f, 1e-3f, -0.0f, 100, 0.1f, 3.4028234e38f, strtof("1e-45", NULL)};
  assert_floats(sh.x, x, 8);
  rt_shard_free(&sh);
}

static void test_error_line_numbers(void **state) {
  (void)state;
  char path[512];
  /* line 1 header, 2 data, 3 blank, 4 data (CRLF), 5 bad */
  write_file("lines.csv", "a,b,c\n1,2,3\n\n4,5,6\r\n7,x8,9\n", path, sizeof path);
  rt_data_options o = opts(path, 0, -1, 0);
  rt_data_info info;
  rt_shard sh;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_probe(&o, &info, &st), RT_OK);
  for (size_t S = 1; S <= 4; ++S) {
    int failures = 0;
    for (size_t s = 0; s < S; ++s) {
      rt_code rc = rt_data_read_shard(&o, &info, s, S, &sh, &st);
      if (rc == RT_OK) {
        rt_shard_free(&sh);
        continue;
      }
      ++failures;
      assert_int_equal(rc, RT_ERR_DATA);
      assert_string_equal(strrchr(st.message, '/') + 1,
                          "lines.csv:5: column 2: expected a number, found 'x8'");
    }
    assert_int_equal(failures, 1);
  }
}

static void test_long_lines(void **state) {
  (void)state;
  /* 30000 columns: lines of ~150 KB exercise buffer growth in probe and read */
  const size_t cols = 30000, rows = 5;
  size_t cap = rows * cols * 8 + 16;
  char *text = malloc(cap);
  assert_non_null(text);
  size_t k = 0;
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c)
      k += (size_t)snprintf(text + k, cap - k, "%zu%c", (r * 7 + c) % 1000,
                            c + 1 == cols ? '\n' : ',');
  char path[512];
  write_file("long.csv", text, path, sizeof path);
  free(text);
  rt_data_options o = opts(path, (int)cols - 1, -1, 0);
  rt_data_info info;
  rt_shard sh;
  read_ok(&o, &info, &sh);
  assert_int_equal(info.columns, cols);
  assert_int_equal(sh.rows, rows);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c + 1 < cols; ++c)
      if (sh.x[r * (cols - 1) + c] != (float)((r * 7 + c) % 1000))
        fail_msg("row %zu col %zu", r, c);
    assert_true(sh.y[r] == (float)((r * 7 + cols - 1) % 1000));
  }
  rt_shard_free(&sh);
}

static void test_format_override(void **state) {
  (void)state;
  char path[512];
  /* a .npy extension but format CSV forces the text reader */
  write_file("text.npy", "1,2\n", path, sizeof path);
  rt_data_options o = opts(path, -1, -1, 0);
  o.format = RT_FORMAT_CSV;
  rt_data_info info;
  rt_shard sh;
  read_ok(&o, &info, &sh);
  assert_int_equal(sh.rows, 1);
  rt_shard_free(&sh);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_header_comma),
      cmocka_unit_test(test_no_header),
      cmocka_unit_test(test_header_forced),
      cmocka_unit_test(test_whitespace),
      cmocka_unit_test(test_comma_with_spaces),
      cmocka_unit_test(test_crlf),
      cmocka_unit_test(test_label_positions),
      cmocka_unit_test(test_blank_lines_bom_no_trailing_newline),
      cmocka_unit_test(test_number_forms),
      cmocka_unit_test(test_error_line_numbers),
      cmocka_unit_test(test_long_lines),
      cmocka_unit_test(test_format_override),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
