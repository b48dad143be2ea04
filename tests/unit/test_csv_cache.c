/* `ringtrain convert` (rt_data_convert) and the parsed-shard cache beside a CSV (data.cache):
 * both must give exactly the values the CSV reader gives (rows, features, labels, first_row for
 * messages), for any shard count, with a header, CRLF, blank lines and the label in the middle;
 * a changed file must not be served from a stale entry; a cache that cannot be written or an
 * entry that is damaged must never be an error; convert's errors name the file and line and leave
 * no output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ringtrain/data.h"
#include "test_util.h"

static int group_setup(void **state) {
  (void)state;
  return tu_make_dir("/tmp/rt_test_csv_cache_XXXXXX");
}

static int group_teardown(void **state) {
  (void)state;
  return tu_remove_tree(tu_dir);
}

/* A CSV of `rows` rows: a header, the label in column 2 of 6, blank lines and CRLF here and
 * there, numbers of every usual form (integers, decimals, exponents, negative zero). */
static void write_csv(const char *path, int rows, int salt) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "a,b,label,c,d,e\n");
  for (int r = 0; r < rows; ++r) {
    if (r % 17 == 3) fprintf(f, "\n");
    fprintf(f, "%d, %.6g,%d,%.9g,%de-3,-0.0%s\n", r + salt, r * 0.37, r % 3, r / 7.0 - 3.0, r * 11,
            r % 5 == 0 ? "\r" : "");
  }
  fclose(f);
}

static void assert_same_shard(const rt_shard *a, const rt_shard *b) {
  assert_int_equal(a->rows, b->rows);
  assert_int_equal(a->features, b->features);
  assert_int_equal(a->first_row, b->first_row);
  if (a->rows) {
    assert_memory_equal(a->x, b->x, a->rows * a->features * sizeof(float));
    assert_memory_equal(a->y, b->y, a->rows * sizeof(float));
  }
}

static rt_data_options csv_options(const char *path, int cache) {
  rt_data_options o = {.path = path, .header = -1, .label_column = 2, .cache = cache};
  return o;
}

static size_t cache_entries(const char *csv) {
  char dir[600];
  snprintf(dir, sizeof dir, "%s.rtcache", csv);
  int n = tu_count_entries(dir);
  return n < 0 ? 0 : (size_t)n;
}

/* Every shard of every layout read through the cache (missing, then hit) equals the text read. */
static void test_cache_same_values(void **state) {
  (void)state;
  char path[512];
  tu_path_in(path, sizeof path, "same.csv");
  write_csv(path, 500, 0);
  rt_data_options plain = csv_options(path, 0), cached = csv_options(path, 1);
  rt_data_info info;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_probe(&plain, &info, &st), RT_OK);
  const size_t layouts[] = {1, 2, 3, 7};
  size_t written = 0;
  for (size_t l = 0; l < sizeof layouts / sizeof *layouts; ++l) {
    const size_t S = layouts[l];
    for (int round = 0; round < 2; ++round)
      for (size_t s = 0; s < S; ++s) {
        rt_shard want, got;
        assert_int_equal(rt_data_read_shard(&plain, &info, s, S, &want, &st), RT_OK);
        assert_int_equal(rt_data_read_shard(&cached, &info, s, S, &got, &st), RT_OK);
        assert_same_shard(&want, &got);
        rt_shard_free(&want);
        rt_shard_free(&got);
      }
    written += S;
    assert_int_equal(cache_entries(path), written);
  }
}

/* A changed file (new size, time) gets a new key: no stale values, and the old entry goes. */
static void test_cache_changed_file(void **state) {
  (void)state;
  char path[512];
  tu_path_in(path, sizeof path, "changed.csv");
  write_csv(path, 200, 0);
  rt_data_options cached = csv_options(path, 1);
  rt_data_info info;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_probe(&cached, &info, &st), RT_OK);
  rt_shard a;
  assert_int_equal(rt_data_read_shard(&cached, &info, 0, 2, &a, &st), RT_OK);
  assert_int_equal(cache_entries(path), 1);
  /* Same size, other values, a later time: the entry must not be used. */
  write_csv(path, 200, 5);
  struct timespec times[2] = {{0, UTIME_OMIT}, {time(NULL) + 10, 0}};
  assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
  rt_data_info info2;
  assert_int_equal(rt_data_probe(&cached, &info2, &st), RT_OK);
  rt_shard b, want;
  assert_int_equal(rt_data_read_shard(&cached, &info2, 0, 2, &b, &st), RT_OK);
  rt_data_options plain = csv_options(path, 0);
  assert_int_equal(rt_data_read_shard(&plain, &info2, 0, 2, &want, &st), RT_OK);
  assert_same_shard(&want, &b);
  assert_true(a.x[0] != b.x[0]);
  assert_int_equal(cache_entries(path), 1); /* the old entry was replaced, not kept */
  rt_shard_free(&a);
  rt_shard_free(&b);
  rt_shard_free(&want);
}

/* The entry is what a hit serves: a damaged entry (not a .npy any more) is ignored and rewritten;
 * an entry whose values were changed in place is served as is (proof that hits read it). */
static void test_cache_entry_is_read(void **state) {
  (void)state;
  char path[512], dir[600];
  tu_path_in(path, sizeof path, "entry.csv");
  write_csv(path, 100, 0);
  rt_data_options cached = csv_options(path, 1), plain = csv_options(path, 0);
  rt_data_info info;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_probe(&cached, &info, &st), RT_OK);
  rt_shard want, got;
  assert_int_equal(rt_data_read_shard(&plain, &info, 0, 1, &want, &st), RT_OK);
  assert_int_equal(rt_data_read_shard(&cached, &info, 0, 1, &got, &st), RT_OK);
  rt_shard_free(&got);
  snprintf(dir, sizeof dir, "%s.rtcache", path);
  char entry[900];
  {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls %s/shard-0-of-1-*.npy", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(entry, sizeof entry, p));
    pclose(p);
    entry[strcspn(entry, "\n")] = '\0';
  }
  /* Change feature 0 of row 0 (column 0 of the file: the first float after the 128-byte header). */
  size_t len = 0;
  char *bytes = tu_read_file(entry, &len);
  assert_non_null(bytes);
  const float changed = 1234.5f;
  memcpy(bytes + 128, &changed, sizeof changed);
  tu_write_bytes(entry, bytes, len);
  assert_int_equal(rt_data_read_shard(&cached, &info, 0, 1, &got, &st), RT_OK);
  assert_true(got.x[0] == changed);
  rt_shard_free(&got);
  /* Truncated: not a usable .npy; the text is parsed and the entry rewritten. */
  tu_write_bytes(entry, bytes, 60);
  free(bytes);
  assert_int_equal(rt_data_read_shard(&cached, &info, 0, 1, &got, &st), RT_OK);
  assert_same_shard(&want, &got);
  rt_shard_free(&got);
  struct stat sb;
  assert_int_equal(stat(entry, &sb), 0);
  assert_true(sb.st_size > 128);
  rt_shard_free(&want);
}

/* A cache folder that cannot be made (a file holds its name) is no error. */
static void test_cache_unwritable(void **state) {
  (void)state;
  char path[512], blocker[600];
  tu_path_in(path, sizeof path, "blocked.csv");
  write_csv(path, 50, 0);
  snprintf(blocker, sizeof blocker, "%s.rtcache", path);
  tu_write_text(blocker, "not a folder\n");
  rt_data_options cached = csv_options(path, 1), plain = csv_options(path, 0);
  rt_data_info info;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_probe(&cached, &info, &st), RT_OK);
  rt_shard want, got;
  assert_int_equal(rt_data_read_shard(&plain, &info, 1, 2, &want, &st), RT_OK);
  assert_int_equal(rt_data_read_shard(&cached, &info, 1, 2, &got, &st), RT_OK);
  assert_same_shard(&want, &got);
  rt_shard_free(&want);
  rt_shard_free(&got);
}

/* convert: the .npy holds every column in file order, the same floats as the text; read back with
 * the same label column it equals the CSV's rows. */
static void test_convert_values(void **state) {
  (void)state;
  char csv[512], npy[512];
  tu_path_in(csv, sizeof csv, "conv.csv");
  tu_path_in(npy, sizeof npy, "conv.npy");
  write_csv(csv, 300, 0);
  rt_data_options in = csv_options(csv, 0);
  rt_convert_result res;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_convert(&in, npy, &res, &st), RT_OK);
  assert_int_equal(res.rows, 300);
  assert_int_equal(res.columns, 6);
  rt_data_info ci, ni;
  rt_data_options out = {.path = npy, .label_column = 2};
  assert_int_equal(rt_data_probe(&in, &ci, &st), RT_OK);
  assert_int_equal(rt_data_probe(&out, &ni, &st), RT_OK);
  assert_int_equal(ni.npy_dtype, RT_NPY_F32);
  assert_int_equal(ni.rows, 300);
  rt_shard a, b;
  assert_int_equal(rt_data_read_all(&in, &ci, &a, &st), RT_OK);
  assert_int_equal(rt_data_read_all(&out, &ni, &b, &st), RT_OK);
  assert_int_equal(a.rows, b.rows);
  assert_memory_equal(a.x, b.x, a.rows * a.features * sizeof(float));
  assert_memory_equal(a.y, b.y, a.rows * sizeof(float));
  rt_shard_free(&a);
  rt_shard_free(&b);
}

/* convert's errors: the CSV's own message (file and line), and no output left behind; the input
 * as output is refused. */
static void test_convert_errors(void **state) {
  (void)state;
  char csv[512], npy[512];
  tu_path_in(csv, sizeof csv, "bad.csv");
  tu_path_in(npy, sizeof npy, "bad.npy");
  tu_write_text(csv, "1,2,3\n4,5,6\n7,x,9\n");
  rt_data_options in = {.path = csv, .header = -1, .label_column = -1};
  rt_convert_result res;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_convert(&in, npy, &res, &st), RT_ERR_DATA);
  assert_non_null(strstr(st.message, "bad.csv:3: column 2: expected a number, found 'x'"));
  assert_int_not_equal(access(npy, F_OK), 0);
  char leftover[1200];
  snprintf(leftover, sizeof leftover, "ls %s | grep -c 'bad.npy.tmp' > /dev/null", tu_dir);
  assert_int_not_equal(system(leftover), 0);
  rt_status_clear(&st);
  tu_write_text(csv, "1,2,3\n");
  assert_int_equal(rt_data_convert(&in, csv, &res, &st), RT_ERR_USAGE);
  assert_non_null(strstr(st.message, "the output is the input file"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cache_same_values),   cmocka_unit_test(test_cache_changed_file),
      cmocka_unit_test(test_cache_entry_is_read), cmocka_unit_test(test_cache_unwritable),
      cmocka_unit_test(test_convert_values),      cmocka_unit_test(test_convert_errors),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
