/* Shared helpers of the unit tests, the one place for them: a scratch directory under /tmp, paths
 * in it, whole-file writes and reads, directory entry counts; and the model fixtures: spec
 * builders (tu_spec, tu_spec_sgd), the gradient check against central finite differences of a
 * reference loss (tu_check_gradient) and the fresh-state comparison (tu_state_create_twice).
 * Header-only: every helper is static inline, so a test that uses only some of them gets no
 * unused-function warnings (tu_remove_tree, recursive, is static and marked unused instead). Not a
 * test itself: the test glob is tests/unit/test_*.c. */
#ifndef RINGTRAIN_TEST_UTIL_H
#define RINGTRAIN_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "model.h"

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

/* ---- model fixtures -------------------------------------------------------------------------- */

/* A spec of `kind` with every field zero but its shape: features, classes (0 where the family has
 * none), one pass over one shard of one batch. Tests set the family's own keys on top. */
static inline rt_model_spec tu_spec(const char *kind, size_t features, size_t classes) {
  rt_model_spec s;
  memset(&s, 0, sizeof s);
  snprintf(s.hp.kind, sizeof s.hp.kind, "%s", kind);
  s.problem.features = features;
  s.problem.classes = classes;
  s.passes = 1;
  s.shards = 1;
  s.total_batches = 1;
  return s;
}

/* tu_spec with plain SGD at learning rate 0.1, batch_size `batch`, and Adam's usual beta1 0.9,
 * beta2 0.999, epsilon 1e-8 (for a test that switches to Adam): a gradient family's spec. */
static inline rt_model_spec tu_spec_sgd(const char *kind, size_t features, size_t classes,
                                        long batch) {
  rt_model_spec s = tu_spec(kind, features, classes);
  s.hp.optimizer = RT_OPT_SGD;
  s.hp.learning_rate = 0.1;
  s.hp.batch_size = batch;
  s.hp.beta1 = 0.9;
  s.hp.beta2 = 0.999;
  s.hp.epsilon = 1e-8;
  return s;
}

/* A test's reference: the mean loss of the batch (x, y: rows rows) at parameters p, in double. */
typedef double (*tu_loss_fn)(const rt_model_spec *s, const double *p, const float *x,
                             const float *y, size_t rows);

/* One gradient check: fam->batch_gradient at params on (x, y) against the reference. */
typedef struct tu_gradient_check {
  const rt_family *fam;
  const rt_model_spec *spec;     /* the objective, regularisation included */
  const rt_model_spec *reported; /* spec without the regularisation: what loss_sum measures */
  tu_loss_fn loss;
  const float *params, *x, *y;
  size_t rows;
  double loss_tol; /* |loss_sum / rows - loss(reported)| must stay below loss_tol ... */
  int loss_scaled; /* ... times max(1, |loss(reported)|) when set */
  double grad_tol; /* each component's error relative to max(1e-3, |numeric|) at most this */
} tu_gradient_check;

/* Runs c->fam->batch_gradient (with a workspace of workspace_floats(rows)), checks the loss it
 * reports against c->loss of c->reported, and every component of the gradient against central
 * differences (h = 1e-4) of c->loss of c->spec, in double; fails the test at the first component
 * out of tolerance (naming it) or at a NaN. The gradient (param_count floats) goes to grad, the
 * reported loss sum to *loss_sum. */
static inline void tu_check_gradient(const tu_gradient_check *c, float *grad, double *loss_sum) {
  const size_t n = c->fam->param_count(c->spec);
  float *ws = malloc(c->fam->workspace_floats(c->spec, c->rows) * sizeof *ws);
  double *pd = calloc(n, sizeof *pd);
  assert_non_null(ws);
  assert_non_null(pd);
  *loss_sum = 0.0;
  c->fam->batch_gradient(c->spec, c->params, c->x, c->y, c->rows, grad, loss_sum, ws);
  for (size_t i = 0; i < n; ++i) pd[i] = c->params[i];
  const double ref = c->loss(c->reported, pd, c->x, c->y, c->rows);
  const double loss_tol = c->loss_tol * (c->loss_scaled ? fmax(1.0, fabs(ref)) : 1.0);
  if (!(fabs(*loss_sum / (double)c->rows - ref) < loss_tol))
    fail_msg("loss %.9g, reference %.9g", *loss_sum / (double)c->rows, ref);
  const double h = 1e-4;
  for (size_t i = 0; i < n; ++i) {
    const double saved = pd[i];
    pd[i] = saved + h;
    const double up = c->loss(c->spec, pd, c->x, c->y, c->rows);
    pd[i] = saved - h;
    const double down = c->loss(c->spec, pd, c->x, c->y, c->rows);
    pd[i] = saved;
    const double numeric = (up - down) / (2 * h);
    const double err = fabs(numeric - (double)grad[i]) / fmax(1e-3, fabs(numeric));
    if (!(err <= c->grad_tol))
      fail_msg("param %zu: analytic %.8g numeric %.8g", i, (double)grad[i], numeric);
  }
  free(ws), free(pd);
}

/* Creates the fresh state of spec twice: both must succeed with the same size and the same bytes
 * (deterministic layout and initialisation). Returns the first (rt_state_free), its size in
 * *bytes. */
static inline void *tu_state_create_twice(const rt_model_spec *spec, size_t *bytes) {
  void *a = NULL, *b = NULL;
  size_t na = 0, nb = 0;
  rt_status st;
  assert_int_equal(rt_state_create(spec, &a, &na, &st), RT_OK);
  assert_int_equal(rt_state_create(spec, &b, &nb, &st), RT_OK);
  assert_int_equal(na, nb);
  assert_memory_equal(a, b, na);
  rt_state_free(b);
  *bytes = na;
  return a;
}

#endif /* RINGTRAIN_TEST_UTIL_H */
