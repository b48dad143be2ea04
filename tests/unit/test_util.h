/* Shared helpers of the unit tests: a scratch directory under /tmp, paths in it, whole-file
 * writes and reads, directory entry counts. Header-only: every helper is static inline, so a test
 * that uses only some of them gets no unused-function warnings (tu_remove_tree, recursive, is
 * static and marked unused instead). Not a test itself: the test glob is tests/unit/test_*.c. */
#ifndef RINGTRAIN_TEST_UTIL_H
#define RINGTRAIN_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* This test program's scratch directory, made by tu_make_dir. */
static char tu_dir[256] __attribute__((unused));

/* Creates tu_dir from a mkdtemp template ("/tmp/rt_test_x.XXXXXX"); 0, or -1 on failure (the
 * return value of a cmocka setup function). */
static inline int tu_make_dir(const char *tmpl) {
  snprintf(tu_dir, sizeof tu_dir, "%s", tmpl);
  return mkdtemp(tu_dir) ? 0 : -1;
}

/* Removes a file or a whole directory tree (making directories writable first, since a test may
 * have made one read-only). 0 when path itself was removed, -1 otherwise. Not inline: recursive. */
static __attribute__((unused)) int tu_remove_tree(const char *path) {
  struct stat sb;
  if (lstat(path, &sb) != 0) return -1;
  if (!S_ISDIR(sb.st_mode)) return unlink(path);
  chmod(path, 0700);
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      char child[1024];
      snprintf(child, sizeof child, "%s/%s", path, e->d_name);
      tu_remove_tree(child);
    }
    closedir(d);
  }
  return rmdir(path);
}

/* out = tu_dir/rel. */
static inline void tu_path_in(char *out, size_t size, const char *rel) {
  snprintf(out, size, "%s/%s", tu_dir, rel);
}

/* Creates (or truncates) path with exactly n bytes of data; fails the test on any error. */
static inline void tu_write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  if (n) assert_int_equal(fwrite(data, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
}

/* Creates (or truncates) path with the text (without its NUL). */
static inline void tu_write_text(const char *path, const char *text) {
  tu_write_bytes(path, text, strlen(text));
}

/* Whole contents of a file, malloc'ed with a NUL appended, its length in *len (if len is not
 * NULL); NULL if the file cannot be opened. Fails the test if it cannot be read. */
static inline char *tu_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  assert_true(n >= 0);
  rewind(f);
  char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  if (len) *len = (size_t)n;
  return buf;
}

/* Number of entries (other than . and ..) in a directory. */
static inline int tu_count_entries(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) ++n;
  closedir(d);
  return n;
}

#endif /* RINGTRAIN_TEST_UTIL_H */
