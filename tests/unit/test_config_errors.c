/* The bad-config corpus: every .yaml file in tests/bad_input/config must fail to load (or to validate)
 * with RT_ERR_CONFIG and a one-line message containing the text EXPECTED gives for it. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ringtrain/config.h"

#define CORPUS RT_TEST_SOURCE_DIR "/tests/bad_input/config"
#define MAX_CASES 256

typedef struct corpus_case {
  char file[128];
  char expected[512];
} corpus_case;

static corpus_case cases[MAX_CASES];
static size_t case_count;

static int has_suffix(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int read_expected(void **state) {
  (void)state;
  FILE *f = fopen(CORPUS "/EXPECTED", "r");
  if (!f) return -1;
  char line[1024];
  case_count = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (line[0] == '\0' || line[0] == '#') continue;
    char *tab = strchr(line, '\t');
    if (!tab || case_count == MAX_CASES) {
      fclose(f);
      return -1;
    }
    *tab = '\0';
    corpus_case *c = &cases[case_count++];
    if (strlen(line) >= sizeof c->file || strlen(tab + 1) >= sizeof c->expected) {
      fclose(f);
      return -1;
    }
    memcpy(c->file, line, strlen(line) + 1);
    memcpy(c->expected, tab + 1, strlen(tab + 1) + 1);
  }
  return fclose(f) == 0 ? 0 : -1;
}

/* Each listed file fails as expected. */
static void test_corpus_messages(void **state) {
  (void)state;
  assert_true(case_count >= 15);
  int failures = 0;
  for (size_t i = 0; i < case_count; ++i) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%.127s", CORPUS, cases[i].file);
    rt_config cfg;
    rt_status st;
    rt_status_clear(&st);
    rt_code rc = rt_config_load(path, &cfg, &st);
    if (rc == RT_OK) rc = rt_config_validate(&cfg, &st);
    rt_config_free(&cfg);
    const char *problem = NULL;
    if (rc != RT_ERR_CONFIG) problem = "wrong code";
    else if (!strstr(st.message, cases[i].expected)) problem = "message lacks the expected text";
    else if (strchr(st.message, '\n') || strchr(st.message, '\r'))
      problem = "message is not one line";
    else if (strncmp(st.message, path, strlen(path)) != 0 || st.message[strlen(path)] != ':')
      problem = "message does not start with the config path";
    if (problem) {
      print_error("%s: %s\n  code:     %s\n  message:  %s\n  expected: %s\n", cases[i].file,
                  problem, rt_code_name(rc), st.message, cases[i].expected);
      ++failures;
    }
  }
  assert_int_equal(failures, 0);
}

/* Every corpus file is listed, and every listed file exists, exactly once. */
static void test_corpus_complete(void **state) {
  (void)state;
  DIR *dir = opendir(CORPUS);
  assert_non_null(dir);
  int unlisted = 0;
  size_t files = 0;
  struct dirent *entry;
  while ((entry = readdir(dir)) != NULL) {
    if (!has_suffix(entry->d_name, ".yaml")) continue;
    ++files;
    int listed = 0;
    for (size_t i = 0; i < case_count; ++i) listed += strcmp(cases[i].file, entry->d_name) == 0;
    if (listed != 1) {
      print_error("%s is listed %d times in EXPECTED\n", entry->d_name, listed);
      ++unlisted;
    }
  }
  assert_int_equal(closedir(dir), 0);
  assert_int_equal(unlisted, 0);
  assert_int_equal(files, case_count);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_corpus_messages),
      cmocka_unit_test(test_corpus_complete),
  };
  return cmocka_run_group_tests(tests, read_expected, NULL);
}
