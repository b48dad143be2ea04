/* Bad-input corpus: every file listed in tests/bad_input/data/EXPECTED must be rejected with
 * RT_ERR_DATA and a one-line message naming the file and containing the listed substring. For
 * cases that get past the probe, every shard split must report the very same message (so line
 * numbers and byte offsets do not depend on which shard found the error). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringtrain/data.h"

#define CORPUS_DIR RT_TEST_SOURCE_DIR "/tests/bad_input/data"

typedef struct bad_case {
  char name[256];
  char expect[512];
  rt_data_options opt;
  char path[1024];
  int line;
} bad_case;

static int parse_options(const char *text, rt_data_options *o) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", text);
  for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    if (strncmp(tok, "label=", 6) == 0) o->label_column = atoi(tok + 6);
    else if (strncmp(tok, "header=", 7) == 0) o->header = atoi(tok + 7);
    else if (strcmp(tok, "delim=comma") == 0) o->delimiter = ',';
    else if (strcmp(tok, "delim=space") == 0) o->delimiter = ' ';
    else if (strcmp(tok, "delim=auto") == 0) o->delimiter = 0;
    else if (strcmp(tok, "format=csv") == 0) o->format = RT_FORMAT_CSV;
    else if (strcmp(tok, "format=npy") == 0) o->format = RT_FORMAT_NPY;
    else if (strcmp(tok, "format=auto") == 0) o->format = RT_FORMAT_AUTO;
    else return -1;
  }
  return 0;
}

/* Reads EXPECTED; returns the number of cases (a malloc'd array in *out). */
static size_t load_cases(bad_case **out) {
  FILE *f = fopen(CORPUS_DIR "/EXPECTED", "r");
  if (!f) fail_msg("cannot open %s/EXPECTED: %s", CORPUS_DIR, strerror(errno));
  size_t n = 0, cap = 64;
  bad_case *cases = calloc(cap, sizeof *cases);
  assert_non_null(cases);
  char line[2048];
  int lineno = 0;
  while (fgets(line, sizeof line, f)) {
    ++lineno;
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0' || line[0] == '#') continue;
    char *tab = strchr(line, '\t');
    if (!tab || tab == line || tab[1] == '\0')
      fail_msg("EXPECTED:%d: want FILE<TAB>SUBSTRING", lineno);
    *tab = '\0';
    char *expect = tab + 1;
    char *opts = strchr(expect, '\t');
    if (opts) *opts++ = '\0';
    if (n == cap) {
      cap *= 2;
      cases = realloc(cases, cap * sizeof *cases);
      assert_non_null(cases);
    }
    bad_case *c = &cases[n++];
    memset(c, 0, sizeof *c);
    if (snprintf(c->name, sizeof c->name, "%s", line) >= (int)sizeof c->name ||
        snprintf(c->expect, sizeof c->expect, "%s", expect) >= (int)sizeof c->expect ||
        snprintf(c->path, sizeof c->path, "%s/%s", CORPUS_DIR, c->name) >= (int)sizeof c->path)
      fail_msg("EXPECTED:%d: line too long", lineno);
    c->line = lineno;
    c->opt.path = c->path;
    c->opt.format = RT_FORMAT_AUTO;
    c->opt.label_column = 0;
    c->opt.header = -1;
    c->opt.delimiter = 0;
    if (opts && parse_options(opts, &c->opt) != 0)
      fail_msg("EXPECTED:%d: bad options '%s'", lineno, opts);
  }
  fclose(f);
  *out = cases;
  return n;
}

/* Returns 1 if the status matches the case, else prints why and returns 0. */
static int status_matches(const bad_case *c, rt_code rc, const rt_status *st, const char *where) {
  int ok = 1;
  if (rc != RT_ERR_DATA || st->code != RT_ERR_DATA) {
    print_message("%s (EXPECTED:%d) %s: code %s, want RT_ERR_DATA: %s\n", c->name, c->line, where,
                  rt_code_name(rc), st->message);
    ok = 0;
  }
  if (!strstr(st->message, c->expect)) {
    print_message("%s (EXPECTED:%d) %s: message\n  '%s'\nlacks\n  '%s'\n", c->name, c->line, where,
                  st->message, c->expect);
    ok = 0;
  }
  if (!strstr(st->message, c->name)) {
    print_message("%s %s: message does not name the file: %s\n", c->name, where, st->message);
    ok = 0;
  }
  if (strchr(st->message, '\n')) {
    print_message("%s %s: message has a newline\n", c->name, where);
    ok = 0;
  }
  return ok;
}

static int run_case(const bad_case *c) {
  rt_data_info info;
  rt_shard sh;
  rt_status st;
  rt_status_clear(&st);
  rt_code rc = rt_data_probe(&c->opt, &info, &st);
  if (rc != RT_OK) return status_matches(c, rc, &st, "probe");
  rc = rt_data_read_all(&c->opt, &info, &sh, &st);
  if (rc == RT_OK) {
    print_message("%s (EXPECTED:%d): read %zu rows without error\n", c->name, c->line, sh.rows);
    rt_shard_free(&sh);
    return 0;
  }
  if (sh.x || sh.y || sh.rows) {
    print_message("%s: failed read left data in the shard\n", c->name);
    return 0;
  }
  if (!status_matches(c, rc, &st, "read_all")) return 0;
  rt_status all = st;
  const size_t splits[] = {2, 3, 5};
  for (size_t i = 0; i < sizeof splits / sizeof splits[0]; ++i) {
    size_t S = splits[i], failed = 0;
    for (size_t s = 0; s < S; ++s) {
      rt_status_clear(&st);
      rc = rt_data_read_shard(&c->opt, &info, s, S, &sh, &st);
      if (rc == RT_OK) {
        rt_shard_free(&sh);
        continue;
      }
      ++failed;
      if (rc != all.code || strcmp(st.message, all.message) != 0) {
        print_message("%s: shard %zu/%zu says '%s', read_all said '%s'\n", c->name, s, S,
                      st.message, all.message);
        return 0;
      }
    }
    if (failed == 0) {
      print_message("%s: no shard of %zu reported the error\n", c->name, S);
      return 0;
    }
  }
  return 1;
}

static void test_corpus(void **state) {
  (void)state;
  bad_case *cases = NULL;
  size_t n = load_cases(&cases);
  assert_true(n >= 11);
  int failures = 0;
  for (size_t i = 0; i < n; ++i)
    if (!run_case(&cases[i])) ++failures;
  free(cases);
  if (failures) fail_msg("%d of %zu corpus cases failed", failures, n);
}

/* Every file in the corpus folder is a case (except EXPECTED, scripts and READMEs). */
static void test_corpus_files_listed(void **state) {
  (void)state;
  bad_case *cases = NULL;
  size_t n = load_cases(&cases);
  DIR *d = opendir(CORPUS_DIR);
  assert_non_null(d);
  struct dirent *e;
  int missing = 0;
  while ((e = readdir(d)) != NULL) {
    const char *nm = e->d_name;
    size_t len = strlen(nm);
    if (nm[0] == '.' || strcmp(nm, "EXPECTED") == 0 || strncmp(nm, "README", 6) == 0 ||
        (len > 3 && strcmp(nm + len - 3, ".py") == 0))
      continue;
    int found = 0;
    for (size_t i = 0; i < n && !found; ++i) found = strcmp(cases[i].name, nm) == 0;
    if (!found) {
      print_message("corpus file %s is not listed in EXPECTED\n", nm);
      ++missing;
    }
  }
  closedir(d);
  for (size_t i = 0; i < n; ++i) {
    if (access(cases[i].path, R_OK) != 0) {
      print_message("EXPECTED:%d: %s does not exist\n", cases[i].line, cases[i].name);
      ++missing;
    }
  }
  free(cases);
  assert_int_equal(missing, 0);
}

static void test_missing_file(void **state) {
  (void)state;
  const char *paths[] = {"/nonexistent_rt_dir/data/x.csv", "/nonexistent_rt_dir/data/x.npy"};
  for (size_t i = 0; i < 2; ++i) {
    rt_data_options o = {.path = paths[i], .format = RT_FORMAT_AUTO, .header = -1};
    rt_data_info info;
    rt_status st;
    rt_status_clear(&st);
    assert_int_equal(rt_data_probe(&o, &info, &st), RT_ERR_DATA);
    char want[256];
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", paths[i]);
    assert_string_equal(st.message, want);
  }
}

static void test_directory_and_options(void **state) {
  (void)state;
  rt_data_options o = {.path = CORPUS_DIR, .format = RT_FORMAT_CSV, .header = -1};
  rt_data_info info;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_probe(&o, &info, &st), RT_ERR_DATA);
  assert_non_null(strstr(st.message, "cannot open: Is a directory"));

  rt_data_options bad = {.path = CORPUS_DIR "/csv_nan.csv", .label_column = -2, .header = -1};
  assert_int_equal(rt_data_probe(&bad, &info, &st), RT_ERR_CONFIG);
  bad.label_column = 0;
  bad.delimiter = ';';
  assert_int_equal(rt_data_probe(&bad, &info, &st), RT_ERR_CONFIG);
  bad.delimiter = 0;
  bad.header = 2;
  assert_int_equal(rt_data_probe(&bad, &info, &st), RT_ERR_CONFIG);
  bad.path = NULL;
  assert_int_equal(rt_data_probe(&bad, &info, &st), RT_ERR_CONFIG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_corpus),
      cmocka_unit_test(test_corpus_files_listed),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_directory_and_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
