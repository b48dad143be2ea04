/* Data paths as the user means them (src/config/config_path.c): made absolute for a written config,
 * and compared as the files they name when a resume checks its config against the checkpoint's
 * (rt_config_diff), whatever the working directory and however the path was written. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_internal.h"
#include "ringtrain/config.h"

static char top[RT_PATH_MAX]; /* a fresh folder, the working directory of every test */

static int make_top(void **state) {
  (void)state;
  char tmpl[] = "/tmp/rt-config-path.XXXXXX";
  if (!mkdtemp(tmpl) || chdir(tmpl) != 0) return -1;
  if (!getcwd(top, sizeof top)) return -1; /* /tmp may itself be a link */
  return mkdir("a", 0777) || mkdir("b", 0777) || mkdir("a/data", 0777) || mkdir("b/data", 0777) ||
         symlink("a", "link");
}

static void touch(const char *path) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  assert_int_equal(fclose(f), 0);
}

static void expect_absolute(const char *path, const char *suffix) {
  char out[RT_PATH_MAX], want[2 * RT_PATH_MAX];
  assert_int_equal(rt_path_absolute(path, out, sizeof out), 0);
  if (path[0] == '/') snprintf(want, sizeof want, "%s", suffix);
  else snprintf(want, sizeof want, "%s%s", top, suffix);
  assert_string_equal(out, want);
}

static void test_absolute(void **state) {
  (void)state;
  expect_absolute("a/data/t.csv", "/a/data/t.csv");
  expect_absolute("./a//data/./t.csv", "/a/data/t.csv");
  expect_absolute("a/data/", "/a/data");
  expect_absolute(".", "");
  expect_absolute("link/../b", "/link/../b"); /* ".." stays: "link" may be a link */
  expect_absolute("/x//y/./z/", "/x/y/z");
  expect_absolute("/", "/");
  char small[8];
  assert_int_equal(rt_path_absolute("a/data/t.csv", small, sizeof small), ENAMETOOLONG);
  assert_int_equal(rt_path_absolute("/abcdefgh", small, sizeof small), ENAMETOOLONG);
}

static void test_resolved(void **state) {
  (void)state;
  touch("a/data/t.csv");
  char x[RT_PATH_MAX], y[RT_PATH_MAX], want[RT_PATH_MAX + 64];
  snprintf(want, sizeof want, "%s/a/data/t.csv", top);
  assert_int_equal(rt_path_resolved("link/data/t.csv", x, sizeof x), 0);
  assert_string_equal(x, want);
  assert_int_equal(rt_path_resolved("b/../a/data/./t.csv", y, sizeof y), 0);
  assert_string_equal(y, want);
  /* A file that does not exist (any more) resolves lexically. */
  snprintf(want, sizeof want, "%s/b/data/gone.csv", top);
  assert_int_equal(rt_path_resolved("b/data/gone.csv", x, sizeof x), 0);
  assert_string_equal(x, want);
}

static void parse(const char *text, const char *path, rt_config *cfg) {
  rt_status st;
  rt_config_defaults(cfg);
  assert_int_equal(rt_config_parse(text, strlen(text), path, cfg, &st), RT_OK);
}

/* A checkpoint's config holds absolute paths; the resuming one relative paths. */
static void test_diff_compares_files(void **state) {
  (void)state;
  touch("a/data/t.csv");
  touch("b/data/t.csv");
  const char *relative = "data: {train: data/t.csv}\nmodels:\n  - {kind: logistic}\n";
  char absolute[RT_PATH_MAX + 64];
  snprintf(absolute, sizeof absolute,
           "data: {train: %s/a/data/t.csv}\nmodels:\n  - {kind: logistic}\n", top);
  rt_config was, same, via_link, other;
  parse(absolute, "/anywhere/checkpoint/config.yaml", &was);
  parse(relative, "a/c.yaml", &same);
  parse(relative, "link/c.yaml", &via_link);
  parse(relative, "b/c.yaml", &other);
  char buf[2 * RT_PATH_MAX];
  assert_int_equal(rt_config_diff(&was, &same, buf, sizeof buf), 0);
  assert_int_equal(rt_config_diff(&was, &via_link, buf, sizeof buf), 0);
  assert_int_equal(chdir("a"), 0); /* from the config's own folder */
  rt_config here;
  parse(relative, "c.yaml", &here);
  assert_int_equal(rt_config_diff(&was, &here, buf, sizeof buf), 0);
  assert_int_equal(chdir(".."), 0);
  /* Another file under the same relative name: refused, showing where it resolved. */
  assert_int_equal(rt_config_diff(&was, &other, buf, sizeof buf), 1);
  char want[3 * RT_PATH_MAX];
  snprintf(want, sizeof want,
           "data.train (checkpoint: %s/a/data/t.csv, now: b/data/t.csv = %s/b/data/t.csv)", top,
           top);
  assert_string_equal(buf, want);
  rt_config_free(&was), rt_config_free(&same), rt_config_free(&via_link), rt_config_free(&other);
  rt_config_free(&here);
}

/* A config written from a relative one reads back as the same files from any folder. */
static void test_written_paths_are_absolute(void **state) {
  (void)state;
  touch("a/data/t.csv");
  rt_config cfg, back;
  parse("data: {train: data/t.csv}\nmodels:\n  - {kind: logistic}\n", "a/c.yaml", &cfg);
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  assert_non_null(out);
  rt_status st;
  assert_int_equal(rt_config_write_yaml(&cfg, out, &st), RT_OK);
  assert_int_equal(fclose(out), 0);
  char want[RT_PATH_MAX + 32];
  snprintf(want, sizeof want, "train: \"%s/a/data/t.csv\"", top);
  assert_non_null(strstr(text, want));
  assert_int_equal(chdir("b"), 0);
  parse(text, "../elsewhere/config.yaml", &back);
  assert_int_equal(chdir(".."), 0); /* cfg's path is relative to top */
  char buf[RT_PATH_MAX];
  assert_int_equal(rt_config_diff(&back, &cfg, buf, sizeof buf), 0);
  free(text);
  rt_config_free(&cfg), rt_config_free(&back);
}

static int remove_top(void **state) {
  (void)state;
  char cmd[RT_PATH_MAX + 16];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
  return chdir("/") != 0 || system(cmd) != 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_absolute),
      cmocka_unit_test(test_resolved),
      cmocka_unit_test(test_diff_compares_files),
      cmocka_unit_test(test_written_paths_are_absolute),
  };
  return cmocka_run_group_tests(tests, make_top, remove_top);
}
