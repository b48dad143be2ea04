/* Atomic file output (temporary file, fsync, rename), batches of them with one directory fsync
 * per folder, and the output-directory helpers (include/ringtrain/atomic_file.h). */
#include "ringtrain/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

struct rt_atomic_file {
  char *path; /* final path, as given */
  char *tmp;  /* temporary file next to it */
  char *dir;  /* directory holding both, for the fsync after rename */
  FILE *fp;
};

/* Errors that the user can fix by choosing another output location or freeing space. */
static int user_fixable(int e) {
  switch (e) {
    case EACCES:
    case EPERM:
    case EROFS:
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
    case ENAMETOOLONG:
    case ELOOP:
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
      return 1;
    default: return 0;
  }
}

/* "PATH: <what>: <strerror>" as RT_ERR_OUTPUT, or RT_ERR_IO with file:line and the failed step. */
static rt_code fail_errno(rt_status *st, const char *file, int line, int e, const char *path,
                          const char *what, const char *step) {
  if (user_fixable(e)) return rt_fail(st, RT_ERR_OUTPUT, "%s: %s: %s", path, what, strerror(e));
  return rt_fail_at(st, RT_ERR_IO, file, line, "%s: %s: %s (%s)", path, what, strerror(e), step);
}
#define FAIL_WRITE(st, e, path, step) \
  fail_errno((st), __FILE__, __LINE__, (e), (path), "cannot write", (step))

/* fsync(2), or the tests' hook. */
static rt_fsync_hook fsync_hook;
static void *fsync_hook_user;

void rt_atomic_set_fsync_hook(rt_fsync_hook fn, void *user) {
  fsync_hook = fn;
  fsync_hook_user = user;
}

static int sync_fd(int fd, int is_dir) {
  return fsync_hook ? fsync_hook(fd, is_dir, fsync_hook_user) : fsync(fd);
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* The directory part of path: "." when there is none, "/" for files in the root. */
static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return dup_str(".");
  if (slash == path) return dup_str("/");
  size_t n = (size_t)(slash - path);
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, path, n);
  d[n] = '\0';
  return d;
}

static void free_handle(rt_atomic_file *f) {
  if (!f) return;
  free(f->path);
  free(f->tmp);
  free(f->dir);
  free(f);
}

static mode_t current_umask(void) {
  /* There is no read-only query in POSIX; set and restore (output is written from one thread). */
  mode_t m = umask(022);
  umask(m);
  return m;
}

rt_code rt_atomic_open(const char *path, rt_atomic_file **out, rt_status *st) {
  if (!out) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_atomic_open: out is NULL");
  *out = NULL;
  if (!path) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_atomic_open: path is NULL");
  if (!*path) return rt_fail(st, RT_ERR_OUTPUT, "output file name is empty");

  rt_atomic_file *f = calloc(1, sizeof *f);
  if (!f) return RT_FAIL_AT(st, RT_ERR_NOMEM, "%s: cannot allocate atomic file handle", path);
  f->path = dup_str(path);
  f->dir = dir_of(path);
  size_t tmp_size = strlen(path) + 64;
  f->tmp = malloc(tmp_size);
  if (!f->path || !f->dir || !f->tmp) {
    free_handle(f);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "%s: cannot allocate atomic file handle", path);
  }
  snprintf(f->tmp, tmp_size, "%s.tmp.%ld.XXXXXX", path, (long)getpid());

  int fd = mkstemp(f->tmp);
  if (fd < 0) {
    int e = errno;
    rt_code rc = FAIL_WRITE(st, e, path, "mkstemp");
    free_handle(f);
    return rc;
  }
  if (fchmod(fd, (mode_t)(0666 & ~current_umask())) != 0) {
    int e = errno;
    close(fd);
    unlink(f->tmp);
    rt_code rc = FAIL_WRITE(st, e, path, "fchmod");
    free_handle(f);
    return rc;
  }
  f->fp = fdopen(fd, "wb");
  if (!f->fp) {
    int e = errno;
    close(fd);
    unlink(f->tmp);
    rt_code rc = FAIL_WRITE(st, e, path, "fdopen");
    free_handle(f);
    return rc;
  }
  *out = f;
  return RT_OK;
}

FILE *rt_atomic_stream(rt_atomic_file *f) { return f ? f->fp : NULL; }

const char *rt_atomic_path(const rt_atomic_file *f) { return f ? f->path : NULL; }

rt_code rt_atomic_write(rt_atomic_file *f, const void *data, size_t len, rt_status *st) {
  if (!f || !f->fp) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_atomic_write on a closed handle");
  if (len == 0) return RT_OK;
  errno = 0;
  if (fwrite(data, 1, len, f->fp) != len) {
    int e = errno ? errno : EIO;
    return FAIL_WRITE(st, e, f->path, "fwrite");
  }
  return RT_OK;
}

/* Makes a completed rename durable. Some filesystems cannot fsync a directory (EINVAL); the
 * rename itself has happened then, so that is not an error. */
static rt_code sync_dir(const char *dir, const char *path, rt_status *st) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  if (dfd < 0) return FAIL_WRITE(st, errno, path, "open directory for fsync");
  if (sync_fd(dfd, 1) != 0 && errno != EINVAL) {
    int e = errno;
    close(dfd);
    return FAIL_WRITE(st, e, path, "fsync directory");
  }
  if (close(dfd) != 0) return FAIL_WRITE(st, errno, path, "close directory");
  return RT_OK;
}

rt_code rt_sync_dir(const char *dir, rt_status *st) { return sync_dir(dir, dir, st); }

rt_code rt_path_join(char *out, size_t cap, const char *dir, const char *name, rt_status *st) {
  const int n = snprintf(out, cap, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= cap)
    return rt_fail(st, RT_ERR_OUTPUT, "%s/%s: path too long", dir, name);
  return RT_OK;
}

/* A batch: committed files wait in a group until it is full; then their fsyncs run in the
 * background on up to BATCH_THREADS threads at once (a journaling filesystem commits concurrent
 * fsyncs together, where one after another each waits for its own journal commit) while the next
 * group fills. When that one is full too (or the batch finishes), the syncing group lands: its
 * files are closed and renamed in commit order. Each directory is fsync'ed once, at the finish. */
enum { BATCH_GROUP = 64, BATCH_THREADS = 8 };

/* One thread's share of a group's fsyncs: files first, first + stride, ... */
typedef struct sync_share {
  rt_atomic_file **files;
  int *errnos;
  size_t n, first, stride;
} sync_share;

struct rt_atomic_batch {
  char **dirs; /* each once, in the order first seen */
  size_t count, cap;
  rt_atomic_file *group[2][BATCH_GROUP]; /* committed and flushed: filling, and syncing */
  size_t fill[2];
  int filling; /* the group being filled; the other one syncs when `syncing` */
  int syncing;
  int errnos[BATCH_GROUP]; /* of the syncing group's files (0: synced) */
  pthread_t threads[BATCH_THREADS];
  int started[BATCH_THREADS];
  sync_share share[BATCH_THREADS];
};

rt_code rt_atomic_batch_begin(rt_atomic_batch **out, rt_status *st) {
  if (!out) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_atomic_batch_begin: out is NULL");
  *out = calloc(1, sizeof **out);
  if (!*out) return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot allocate a batch of files");
  return RT_OK;
}

/* Takes dir (allocated) into the batch unless it is there already (then frees it). A batch
 * holds a handful of folders; the newest is checked first. */
static rt_code batch_add(rt_atomic_batch *b, char *dir, rt_status *st) {
  for (size_t i = b->count; i-- > 0;)
    if (strcmp(b->dirs[i], dir) == 0) {
      free(dir);
      return RT_OK;
    }
  if (b->count == b->cap) {
    const size_t cap = b->cap ? 2 * b->cap : 4;
    char **grown = realloc(b->dirs, cap * sizeof *grown);
    if (!grown) {
      free(dir);
      return RT_FAIL_AT(st, RT_ERR_NOMEM, "cannot record a directory to sync");
    }
    b->dirs = grown;
    b->cap = cap;
  }
  b->dirs[b->count++] = dir;
  return RT_OK;
}

/* The end of a commit, its file already fsync'ed (sync_errno 0) or not: fclose, rename over the
 * final path, then the directory fsync now (batch NULL) or recorded in the batch. On failure the
 * temporary file is removed. Releases f. */
static rt_code finish_commit(rt_atomic_file *f, int sync_errno, rt_atomic_batch *batch,
                             rt_status *st) {
  const char *step = sync_errno ? "fsync" : NULL;
  int e = sync_errno;
  const int close_rc = fclose(f->fp);
  f->fp = NULL;
  if (!step && close_rc != 0) {
    e = errno;
    step = "fclose";
  }
  if (!step && rename(f->tmp, f->path) != 0) {
    e = errno;
    step = "rename";
  }
  rt_code rc;
  if (step) {
    rc = FAIL_WRITE(st, e, f->path, step);
    unlink(f->tmp); /* best effort: the original error is the one to report */
  } else if (batch) {
    rc = batch_add(batch, f->dir, st); /* the batch owns the directory name now */
    f->dir = NULL;
  } else {
    rc = sync_dir(f->dir, f->path, st);
  }
  free_handle(f);
  return rc;
}

static void *sync_share_run(void *arg) {
  const sync_share *s = arg;
  for (size_t i = s->first; i < s->n; i += s->stride)
    s->errnos[i] = sync_fd(fileno(s->files[i]->fp), 0) == 0 ? 0 : errno ? errno : EIO;
  return NULL;
}

/* The full group starts syncing in the background and an empty one fills. A share whose thread
 * cannot be started is synced here and now. */
static void start_sync(rt_atomic_batch *b) {
  const int g = b->filling;
  const size_t n = b->fill[g], threads = n < BATCH_THREADS ? n : BATCH_THREADS;
  for (size_t t = 0; t < BATCH_THREADS; ++t) b->started[t] = 0;
  for (size_t t = 0; t < threads; ++t) {
    b->share[t] = (sync_share){b->group[g], b->errnos, n, t, threads};
    b->started[t] = pthread_create(&b->threads[t], NULL, sync_share_run, &b->share[t]) == 0;
    if (!b->started[t]) sync_share_run(&b->share[t]);
  }
  b->syncing = 1;
  b->filling = !g;
}

/* Waits for the syncing group's fsyncs; with `land`, its files then reach their final names in
 * commit order (after the first failure the rest are removed), else they are all removed. */
static rt_code finish_sync(rt_atomic_batch *b, int land, rt_status *st) {
  if (!b->syncing) return RT_OK;
  for (size_t t = 0; t < BATCH_THREADS; ++t)
    if (b->started[t]) pthread_join(b->threads[t], NULL);
  const int g = !b->filling;
  rt_code rc = land ? RT_OK : RT_ERR_OUTPUT;
  for (size_t i = 0; i < b->fill[g]; ++i) {
    rt_atomic_file *f = b->group[g][i];
    if (rc == RT_OK) rc = finish_commit(f, b->errnos[i], b, st);
    else rt_atomic_abort(&f);
  }
  b->fill[g] = 0;
  b->syncing = 0;
  return land ? rc : RT_OK;
}

/* Removes the files of the group being filled. */
static void discard_filling(rt_atomic_batch *b) {
  for (size_t i = 0; i < b->fill[b->filling]; ++i) rt_atomic_abort(&b->group[b->filling][i]);
  b->fill[b->filling] = 0;
}

void rt_atomic_batch_free(rt_atomic_batch **batch) {
  if (!batch || !*batch) return;
  rt_atomic_batch *b = *batch;
  (void)finish_sync(b, 0, NULL);
  discard_filling(b);
  for (size_t i = 0; i < b->count; ++i) free(b->dirs[i]);
  free(b->dirs);
  free(b);
  *batch = NULL;
}

rt_code rt_atomic_batch_finish(rt_atomic_batch **batch, rt_status *st) {
  if (!batch || !*batch) return RT_OK;
  rt_atomic_batch *b = *batch;
  rt_code rc = finish_sync(b, 1, st);
  if (rc == RT_OK && b->fill[b->filling] > 0) {
    start_sync(b);
    rc = finish_sync(b, 1, st);
  }
  for (size_t i = 0; rc == RT_OK && i < b->count; ++i) rc = rt_sync_dir(b->dirs[i], st);
  rt_atomic_batch_free(batch);
  return rc;
}

rt_code rt_atomic_commit(rt_atomic_file **fp_handle, rt_status *st) {
  return rt_atomic_commit_in(NULL, fp_handle, st);
}

rt_code rt_atomic_commit_in(rt_atomic_batch *batch, rt_atomic_file **fp_handle, rt_status *st) {
  if (!fp_handle || !*fp_handle)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_atomic_commit on a NULL handle");
  rt_atomic_file *f = *fp_handle;
  *fp_handle = NULL;
  const char *step = NULL;
  int e = 0;
  if (ferror(f->fp)) {
    e = EIO; /* an earlier unchecked write to the stream failed; its errno is gone */
    step = "earlier write";
  } else if (fflush(f->fp) != 0) {
    e = errno;
    step = "fflush";
  }
  if (step) {
    rt_code rc = FAIL_WRITE(st, e, f->path, step);
    rt_atomic_abort(&f);
    return rc;
  }
  if (!batch)
    return finish_commit(f, sync_fd(fileno(f->fp), 0) == 0 ? 0 : errno ? errno : EIO, NULL, st);
  batch->group[batch->filling][batch->fill[batch->filling]++] = f;
  if (batch->fill[batch->filling] < BATCH_GROUP) return RT_OK;
  /* Full: the group before it lands, then this one syncs while the next fills. */
  rt_code rc = finish_sync(batch, 1, st);
  if (rc) {
    discard_filling(batch);
    return rc;
  }
  start_sync(batch);
  return RT_OK;
}

void rt_atomic_abort(rt_atomic_file **fp_handle) {
  if (!fp_handle || !*fp_handle) return;
  rt_atomic_file *f = *fp_handle;
  *fp_handle = NULL;
  if (f->fp) fclose(f->fp); /* results do not matter: the file is discarded */
  unlink(f->tmp);
  free_handle(f);
}

rt_code rt_write_file_atomic(const char *path, const void *data, size_t len, rt_status *st) {
  return rt_write_file_atomic_in(NULL, path, data, len, st);
}

rt_code rt_write_file_atomic_in(rt_atomic_batch *batch, const char *path, const void *data,
                                size_t len, rt_status *st) {
  rt_atomic_file *f = NULL;
  rt_code rc;
  RT_TRY(rc, rt_atomic_open(path, &f, st));
  rc = rt_atomic_write(f, data, len, st);
  if (rc != RT_OK) {
    rt_atomic_abort(&f);
    return rc;
  }
  return rt_atomic_commit_in(batch, &f, st);
}

/* Creates one directory; an existing directory is success. */
static rt_code mkdir_one(const char *p, rt_status *st) {
  if (mkdir(p, 0777) == 0) return RT_OK;
  int e = errno;
  struct stat sb;
  /* Whatever mkdir said (EEXIST, but also EACCES/EROFS on some systems for existing
   * directories), an existing directory is what we wanted. */
  if (stat(p, &sb) == 0) {
    if (S_ISDIR(sb.st_mode)) return RT_OK;
    e = ENOTDIR;
  }
  return fail_errno(st, __FILE__, __LINE__, e, p, "cannot create directory", "mkdir");
}

rt_code rt_mkdir_p(const char *dir, rt_status *st) {
  if (!dir) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_mkdir_p: dir is NULL");
  if (!*dir) return rt_fail(st, RT_ERR_OUTPUT, "output directory name is empty");
  char *buf = dup_str(dir);
  if (!buf) return RT_FAIL_AT(st, RT_ERR_NOMEM, "%s: cannot allocate path buffer", dir);
  rt_code rc = RT_OK;
  /* Every prefix that ends just before a '/' (and follows a non-'/'), then the whole path. */
  for (char *p = buf + 1; *p && rc == RT_OK; ++p) {
    if (*p == '/' && p[-1] != '/') {
      *p = '\0';
      rc = mkdir_one(buf, st);
      *p = '/';
    }
  }
  if (rc == RT_OK) rc = mkdir_one(buf, st);
  free(buf);
  return rc;
}

rt_code rt_check_writable_dir(const char *dir, rt_status *st) {
  rt_code rc;
  RT_TRY(rc, rt_mkdir_p(dir, st));
  size_t n = strlen(dir) + 32;
  char *probe = malloc(n);
  if (!probe) return RT_FAIL_AT(st, RT_ERR_NOMEM, "%s: cannot allocate path buffer", dir);
  snprintf(probe, n, "%s/.rt-write-probe.XXXXXX", dir);
  int fd = mkstemp(probe);
  if (fd < 0) {
    rc = fail_errno(st, __FILE__, __LINE__, errno, dir, "output directory is not writable",
                    "mkstemp");
  } else {
    int close_rc = close(fd);
    int close_errno = errno;
    if (unlink(probe) != 0)
      rc = fail_errno(st, __FILE__, __LINE__, errno, dir, "output directory is not writable",
                      "unlink probe");
    else if (close_rc != 0)
      rc = fail_errno(st, __FILE__, __LINE__, close_errno, dir, "output directory is not writable",
                      "close probe");
  }
  free(probe);
  return rc;
}
