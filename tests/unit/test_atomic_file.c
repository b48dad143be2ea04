/* Atomic file output (single files and batches with one directory fsync per folder), mkdir -p
 * and the writable-directory check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "ringtrain/atomic_file.h"
#include "test_util.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static int setup(void **cm) {
  (void)cm;
  return tu_make_dir("/tmp/rt_test_atomic.XXXXXX");
}

static int teardown(void **cm) {
  (void)cm;
  tu_remove_tree(tu_dir);
  return 0;
}

static void assert_file_text(const char *path, const char *expected) {
  size_t n = 0;
  char *got = tu_read_file(path, &n);
  assert_non_null(got);
  assert_int_equal(n, strlen(expected));
  assert_string_equal(got, expected);
  free(got);
}

static int is_root(void) { return geteuid() == 0; }

/* ---- tests --------------------------------------------------------------------------------- */

static void test_commit_creates_file(void **cm) {
  (void)cm;
  char path[512];
  tu_path_in(path, sizeof path, "out.txt");
  rt_status st;
  rt_status_clear(&st);
  rt_atomic_file *f = NULL;
  assert_int_equal(rt_atomic_open(path, &f, &st), RT_OK);
  assert_non_null(f);
  assert_string_equal(rt_atomic_path(f), path);
  FILE *s = rt_atomic_stream(f);
  assert_non_null(s);
  assert_true(fprintf(s, "hello %d\n", 42) > 0);
  assert_int_equal(rt_atomic_write(f, "world\n", 6, &st), RT_OK);
  /* Nothing at the final path yet; exactly one temporary file next to it. */
  assert_int_equal(access(path, F_OK), -1);
  assert_int_equal(tu_count_entries(tu_dir), 1);
  assert_int_equal(rt_atomic_commit(&f, &st), RT_OK);
  assert_null(f);
  assert_file_text(path, "hello 42\nworld\n");
  assert_int_equal(tu_count_entries(tu_dir), 1); /* no temp files left behind */
}

static void test_temp_name_and_mode(void **cm) {
  (void)cm;
  char path[512];
  tu_path_in(path, sizeof path, "m.bin");
  mode_t old = umask(022);
  rt_status st;
  rt_atomic_file *f = NULL;
  assert_int_equal(rt_atomic_open(path, &f, &st), RT_OK);
  DIR *d = opendir(tu_dir);
  assert_non_null(d);
  struct dirent *e;
  char prefix[64];
  snprintf(prefix, sizeof prefix, "m.bin.tmp.%ld.", (long)getpid());
  int found = 0;
  while ((e = readdir(d)) != NULL)
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strlen(e->d_name) == strlen(prefix) + 6)
      found = 1;
  closedir(d);
  assert_true(found);
  assert_int_equal(rt_atomic_commit(&f, &st), RT_OK);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0644);
  umask(old);
}

static void test_overwrite_is_atomic(void **cm) {
  (void)cm;
  char path[512];
  tu_path_in(path, sizeof path, "data.txt");
  tu_write_text(path, "old contents\n");
  rt_status st;
  rt_atomic_file *f = NULL;
  assert_int_equal(rt_atomic_open(path, &f, &st), RT_OK);
  assert_int_equal(rt_atomic_write(f, "new\n", 4, &st), RT_OK);
  assert_file_text(path, "old contents\n"); /* readers see the old file until commit */
  assert_int_equal(rt_atomic_commit(&f, &st), RT_OK);
  assert_file_text(path, "new\n");
  assert_int_equal(tu_count_entries(tu_dir), 1);
}

static void test_abort_leaves_nothing(void **cm) {
  (void)cm;
  char path[512];
  tu_path_in(path, sizeof path, "never.txt");
  rt_status st;
  rt_atomic_file *f = NULL;
  assert_int_equal(rt_atomic_open(path, &f, &st), RT_OK);
  assert_int_equal(rt_atomic_write(f, "junk", 4, &st), RT_OK);
  rt_atomic_abort(&f);
  assert_null(f);
  assert_int_equal(tu_count_entries(tu_dir), 0);
  assert_int_equal(access(path, F_OK), -1);

  /* Abort over an existing file keeps it. */
  tu_write_text(path, "keep\n");
  assert_int_equal(rt_atomic_open(path, &f, &st), RT_OK);
  rt_atomic_abort(&f);
  assert_file_text(path, "keep\n");
  assert_int_equal(tu_count_entries(tu_dir), 1);

  rt_atomic_abort(&f); /* already NULL */
  rt_atomic_abort(NULL);
}

static void test_write_file_atomic(void **cm) {
  (void)cm;
  char path[512];
  tu_path_in(path, sizeof path, "w.txt");
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_write_file_atomic(path, "abc", 3, &st), RT_OK);
  assert_file_text(path, "abc");
  assert_int_equal(rt_write_file_atomic(path, NULL, 0, &st), RT_OK);
  assert_file_text(path, "");
  assert_int_equal(tu_count_entries(tu_dir), 1);

  /* Relative path: the directory is "." */
  char cwd[1024];
  assert_non_null(getcwd(cwd, sizeof cwd));
  assert_int_equal(chdir(tu_dir), 0);
  assert_int_equal(rt_write_file_atomic("rel.txt", "r", 1, &st), RT_OK);
  assert_int_equal(chdir(cwd), 0);
  tu_path_in(path, sizeof path, "rel.txt");
  assert_file_text(path, "r");
}

static void test_unwritable_directory(void **cm) {
  (void)cm;
  rt_status st;
  rt_atomic_file *f = NULL;
  char file[512], path[512];

  /* A regular file used as a directory: ENOTDIR, for root and everyone else. */
  tu_path_in(file, sizeof file, "file");
  tu_write_text(file, "x");
  tu_path_in(path, sizeof path, "file/sub/out.bin");
  rt_status_clear(&st);
  assert_int_equal(rt_atomic_open(path, &f, &st), RT_ERR_OUTPUT);
  assert_null(f);
  char expected[1024];
  snprintf(expected, sizeof expected, "%s: cannot write: %s", path, strerror(ENOTDIR));
  assert_string_equal(st.message, expected);
  assert_int_equal(rt_write_file_atomic(path, "x", 1, &st), RT_ERR_OUTPUT);
  assert_non_null(strstr(st.message, path));

  /* A missing directory: ENOENT. */
  tu_path_in(path, sizeof path, "missing/out.bin");
  assert_int_equal(rt_write_file_atomic(path, "x", 1, &st), RT_ERR_OUTPUT);
  snprintf(expected, sizeof expected, "%s: cannot write: %s", path, strerror(ENOENT));
  assert_string_equal(st.message, expected);

  /* chmod 0555 only blocks non-root users. */
  if (!is_root()) {
    char ro[512];
    tu_path_in(ro, sizeof ro, "ro");
    assert_int_equal(mkdir(ro, 0755), 0);
    assert_int_equal(chmod(ro, 0555), 0);
    tu_path_in(path, sizeof path, "ro/out.bin");
    assert_int_equal(rt_write_file_atomic(path, "x", 1, &st), RT_ERR_OUTPUT);
    snprintf(expected, sizeof expected, "%s: cannot write: %s", path, strerror(EACCES));
    assert_string_equal(st.message, expected);
    assert_int_equal(tu_count_entries(ro), 0);
    chmod(ro, 0755);
  }
  assert_int_equal(tu_count_entries(tu_dir), 1 + (is_root() ? 0 : 1)); /* only "file" (and "ro") */
}

static void test_target_is_directory(void **cm) {
  (void)cm;
  char path[512];
  tu_path_in(path, sizeof path, "adir");
  assert_int_equal(mkdir(path, 0755), 0);
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_write_file_atomic(path, "x", 1, &st), RT_ERR_OUTPUT);
  char expected[1024];
  snprintf(expected, sizeof expected, "%s: cannot write: %s", path, strerror(EISDIR));
  assert_string_equal(st.message, expected);
  assert_int_equal(tu_count_entries(tu_dir), 1); /* the temp file was removed */
  assert_int_equal(tu_count_entries(path), 0);
}

static void test_empty_path(void **cm) {
  (void)cm;
  rt_status st;
  rt_atomic_file *f = (rt_atomic_file *)&st; /* must be reset to NULL */
  assert_int_equal(rt_atomic_open("", &f, &st), RT_ERR_OUTPUT);
  assert_null(f);
  assert_int_equal(rt_atomic_commit(&f, &st), RT_ERR_INTERNAL);
}

static void test_mkdir_p(void **cm) {
  (void)cm;
  rt_status st;
  rt_status_clear(&st);
  char path[512];
  tu_path_in(path, sizeof path, "a/b/c/d");
  assert_int_equal(rt_mkdir_p(path, &st), RT_OK);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_true(S_ISDIR(sb.st_mode));
  assert_int_equal(rt_mkdir_p(path, &st), RT_OK); /* existing is fine */

  tu_path_in(path, sizeof path, "x//y///z/");
  assert_int_equal(rt_mkdir_p(path, &st), RT_OK);
  tu_path_in(path, sizeof path, "x/y/z");
  assert_int_equal(stat(path, &sb), 0);
  assert_true(S_ISDIR(sb.st_mode));

  assert_int_equal(rt_mkdir_p("/", &st), RT_OK);
  assert_int_equal(rt_mkdir_p(".", &st), RT_OK);

  /* A regular file in the way. */
  char file[512];
  tu_path_in(file, sizeof file, "a/file");
  tu_write_text(file, "x");
  tu_path_in(path, sizeof path, "a/file/sub/deeper");
  assert_int_equal(rt_mkdir_p(path, &st), RT_ERR_OUTPUT);
  char expected[1024];
  snprintf(expected, sizeof expected, "%s: cannot create directory: %s", file, strerror(ENOTDIR));
  assert_string_equal(st.message, expected);
  assert_int_equal(rt_mkdir_p(file, &st), RT_ERR_OUTPUT);

  assert_int_equal(rt_mkdir_p("", &st), RT_ERR_OUTPUT);

  if (!is_root()) {
    char ro[512];
    tu_path_in(ro, sizeof ro, "ro");
    assert_int_equal(mkdir(ro, 0555), 0);
    tu_path_in(path, sizeof path, "ro/sub");
    assert_int_equal(rt_mkdir_p(path, &st), RT_ERR_OUTPUT);
    snprintf(expected, sizeof expected, "%s: cannot create directory: %s", path, strerror(EACCES));
    assert_string_equal(st.message, expected);
  }
}

static void test_check_writable_dir(void **cm) {
  (void)cm;
  rt_status st;
  rt_status_clear(&st);
  char path[512];
  tu_path_in(path, sizeof path, "runs/latest");
  assert_int_equal(rt_check_writable_dir(path, &st), RT_OK);
  assert_int_equal(tu_count_entries(path), 0); /* the probe is gone */
  assert_int_equal(rt_check_writable_dir(path, &st), RT_OK);

  char file[512];
  tu_path_in(file, sizeof file, "plain");
  tu_write_text(file, "x");
  tu_path_in(path, sizeof path, "plain/out");
  assert_int_equal(rt_check_writable_dir(path, &st), RT_ERR_OUTPUT);
  assert_non_null(strstr(st.message, file));
  assert_int_equal(rt_check_writable_dir(file, &st), RT_ERR_OUTPUT);
  assert_non_null(strstr(st.message, file));

  if (!is_root()) {
    char ro[512];
    tu_path_in(ro, sizeof ro, "ro");
    assert_int_equal(mkdir(ro, 0555), 0);
    assert_int_equal(rt_check_writable_dir(ro, &st), RT_ERR_OUTPUT);
    char expected[1024];
    snprintf(expected, sizeof expected, "%s: output directory is not writable: %s", ro,
             strerror(EACCES));
    assert_string_equal(st.message, expected);
  }
}

/* ---- batches: counted and failed fsyncs through the hook ------------------------------------ */

typedef struct sync_counts {
  int files, dirs;     /* fsyncs seen (atomics: a batch syncs on several threads) */
  char fail_name[64];  /* fail the fsync of the file whose temporary name starts with this */
  int fail_errno;      /* ... with this errno; 0: no failure */
  int fail_dirs_errno; /* fail every directory fsync with this errno; 0: none */
} sync_counts;

/* The file behind fd, from /proc: the temporary name of the file being synced. */
static int fd_name_starts(int fd, const char *prefix) {
  char link[64], target[1024];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0) return 0;
  target[n] = '\0';
  const char *base = strrchr(target, '/');
  return strncmp(base ? base + 1 : target, prefix, strlen(prefix)) == 0;
}

static int counting_fsync(int fd, int is_dir, void *user) {
  sync_counts *c = user;
  __atomic_fetch_add(is_dir ? &c->dirs : &c->files, 1, __ATOMIC_RELAXED);
  if (is_dir && c->fail_dirs_errno) {
    errno = c->fail_dirs_errno;
    return -1;
  }
  if (!is_dir && c->fail_errno && fd_name_starts(fd, c->fail_name)) {
    errno = c->fail_errno;
    return -1;
  }
  return fsync(fd);
}

/* Commits name into batch with text as its content. */
static rt_code commit_text(rt_atomic_batch *batch, const char *name, const char *text,
                           rt_status *st) {
  char path[512];
  tu_path_in(path, sizeof path, name);
  return rt_write_file_atomic_in(batch, path, text, strlen(text), st);
}

static void test_batch_syncs_each_directory_once(void **cm) {
  (void)cm;
  char sub[512];
  tu_path_in(sub, sizeof sub, "models");
  assert_int_equal(mkdir(sub, 0777), 0);
  sync_counts c = {0};
  rt_atomic_set_fsync_hook(counting_fsync, &c);
  rt_status st;
  rt_status_clear(&st);
  /* One file alone: one fsync for it, one for its directory (as before batches). */
  assert_int_equal(commit_text(NULL, "alone.txt", "alone", &st), RT_OK);
  assert_int_equal(c.files, 1);
  assert_int_equal(c.dirs, 1);
  /* 150 files in models/ and 20 next to it, interleaved: one fsync per file, one per folder. */
  c.files = c.dirs = 0;
  rt_atomic_batch *b = NULL;
  assert_int_equal(rt_atomic_batch_begin(&b, &st), RT_OK);
  char name[64], text[64];
  for (int i = 0; i < 170; ++i) {
    if (i % 17 == 5) snprintf(name, sizeof name, "top-%03d.txt", i);
    else snprintf(name, sizeof name, "models/%03d.rtm", i);
    snprintf(text, sizeof text, "file %d\n", i);
    /* Before its commit a file is nowhere under its final name. */
    char path[512];
    tu_path_in(path, sizeof path, name);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(commit_text(b, name, text, &st), RT_OK);
  }
  assert_int_equal(c.dirs, 0); /* no directory synced before the finish */
  assert_int_equal(rt_atomic_batch_finish(&b, &st), RT_OK);
  assert_null(b);
  rt_atomic_set_fsync_hook(NULL, NULL);
  assert_int_equal(c.files, 170);
  assert_int_equal(c.dirs, 2);
  for (int i = 0; i < 170; ++i) {
    char path[512];
    if (i % 17 == 5) snprintf(name, sizeof name, "top-%03d.txt", i);
    else snprintf(name, sizeof name, "models/%03d.rtm", i);
    snprintf(text, sizeof text, "file %d\n", i);
    tu_path_in(path, sizeof path, name);
    assert_file_text(path, text);
  }
  /* No temporary file left: 160 model files; alone.txt, 10 top files and models/ above them. */
  assert_int_equal(tu_count_entries(sub), 160);
  assert_int_equal(tu_count_entries(tu_dir), 1 + 10 + 1);
}

static void test_batch_fsync_failure(void **cm) {
  (void)cm;
  sync_counts c = {.fail_errno = EIO};
  snprintf(c.fail_name, sizeof c.fail_name, "f069.txt.tmp.");
  rt_atomic_set_fsync_hook(counting_fsync, &c);
  rt_status st;
  rt_status_clear(&st);
  rt_atomic_batch *b = NULL;
  assert_int_equal(rt_atomic_batch_begin(&b, &st), RT_OK);
  int failed_at = -1;
  for (int i = 0; i < 200 && failed_at < 0; ++i) {
    char name[64];
    snprintf(name, sizeof name, "f%03d.txt", i);
    if (commit_text(b, name, name, &st) != RT_OK) failed_at = i;
  }
  if (failed_at < 0 && rt_atomic_batch_finish(&b, &st) != RT_OK) failed_at = 200;
  rt_atomic_batch_free(&b);
  rt_atomic_set_fsync_hook(NULL, NULL);
  /* Reported by the commit that filled the failing file's group (or the finish), naming the file
   * and the step. */
  assert_true(failed_at >= 69);
  assert_int_equal(st.code, RT_ERR_IO);
  assert_non_null(strstr(st.message, "f069.txt: cannot write: Input/output error (fsync)"));
  /* The files committed before it are complete, it and the rest of its group are not there,
   * and no temporary file is left. */
  for (int i = 0; i < 200; ++i) {
    char name[64], path[512];
    snprintf(name, sizeof name, "f%03d.txt", i);
    tu_path_in(path, sizeof path, name);
    if (i < 69) assert_file_text(path, name);
    else assert_int_equal(access(path, F_OK), -1);
  }
  assert_int_equal(tu_count_entries(tu_dir), 69);
  assert_int_equal(c.dirs, 0);
}

static void test_batch_directory_sync_failure(void **cm) {
  (void)cm;
  sync_counts c = {.fail_dirs_errno = ENOSPC};
  rt_atomic_set_fsync_hook(counting_fsync, &c);
  rt_status st;
  rt_status_clear(&st);
  rt_atomic_batch *b = NULL;
  assert_int_equal(rt_atomic_batch_begin(&b, &st), RT_OK);
  assert_int_equal(commit_text(b, "a.txt", "a", &st), RT_OK);
  assert_int_equal(rt_atomic_batch_finish(&b, &st), RT_ERR_OUTPUT);
  rt_atomic_set_fsync_hook(NULL, NULL);
  assert_null(b);
  char expected[600];
  snprintf(expected, sizeof expected, "%s: cannot write: No space left on device", tu_dir);
  assert_string_equal(st.message, expected);
  char path[512];
  tu_path_in(path, sizeof path, "a.txt");
  assert_file_text(path, "a"); /* renamed; only its durability is in doubt */
}

static void test_batch_free_discards_waiting_files(void **cm) {
  (void)cm;
  char path[512];
  tu_path_in(path, sizeof path, "b.txt");
  tu_write_text(path, "old\n");
  rt_status st;
  rt_atomic_batch *b = NULL;
  assert_int_equal(rt_atomic_batch_begin(&b, &st), RT_OK);
  assert_int_equal(commit_text(b, "a.txt", "a", &st), RT_OK);
  assert_int_equal(commit_text(b, "b.txt", "new\n", &st), RT_OK);
  rt_atomic_batch_free(&b);
  assert_null(b);
  assert_file_text(path, "old\n"); /* a file still waiting never replaces the old one */
  assert_int_equal(tu_count_entries(tu_dir), 1);
  rt_atomic_batch_free(&b); /* NULL */
  assert_int_equal(rt_atomic_batch_finish(&b, &st), RT_OK);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_commit_creates_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_temp_name_and_mode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_overwrite_is_atomic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_abort_leaves_nothing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_file_atomic, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unwritable_directory, setup, teardown),
      cmocka_unit_test_setup_teardown(test_target_is_directory, setup, teardown),
      cmocka_unit_test_setup_teardown(test_empty_path, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mkdir_p, setup, teardown),
      cmocka_unit_test_setup_teardown(test_check_writable_dir, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batch_syncs_each_directory_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batch_fsync_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batch_directory_sync_failure, setup, teardown),
      cmocka_unit_test_setup_teardown(test_batch_free_discards_waiting_files, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
