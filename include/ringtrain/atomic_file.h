/* Atomic file output and output-directory helpers.
 *
 * A file written through rt_atomic_* appears at its final path either complete or not at all:
 * the data goes to PATH.tmp.<pid>.<random> in the same directory (created with mkstemp), and
 * commit flushes, fsyncs, closes, renames it over PATH and fsyncs the directory.
 *
 * Many files: commit them into a batch (rt_atomic_commit_in). Each file is still fsync'ed before
 * it is renamed over its final path, so it is complete under its final name or absent; but the
 * committed files go in groups of 64 whose fsyncs run at once on up to 8 background threads
 * (which a journaling filesystem commits together) while the next group is written, the renames
 * follow in commit order, and the directory fsync, which makes the renames durable, runs once per
 * directory at rt_atomic_batch_finish. Writing N files into one folder costs one open and one
 * fsync per file plus one per folder (instead of two each, one after another). A committed file
 * reaches its final name at the latest when the batch finishes. Until then a crash can undo
 * renames (leaving the old file, or none), never expose a partial file.
 *
 * Errors: "PATH: cannot write: <strerror>" (PATH is the final path as given). Problems the user
 * can fix (EACCES, EPERM, EROFS, ENOENT, ENOTDIR, EISDIR, ENAMETOOLONG, ELOOP, ENOSPC, EDQUOT)
 * are RT_ERR_OUTPUT without a source location; anything else is RT_ERR_IO, prefixed with the
 * source file:line (RT_FAIL_AT). */
#ifndef RINGTRAIN_ATOMIC_FILE_H
#define RINGTRAIN_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "ringtrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rt_atomic_file rt_atomic_file;

/* Creates the temporary file for `path`. On success *out is a handle that must be finished with
 * exactly one of rt_atomic_commit or rt_atomic_abort. The final file gets mode 0666 & ~umask
 * (like fopen would), not mkstemp's 0600. On failure *out is NULL and nothing is left behind. */
rt_code rt_atomic_open(const char *path, rt_atomic_file **out, rt_status *st);

/* The stdio stream of the temporary file ("wb"). Callers may fwrite/fprintf to it directly;
 * write errors are then reported at commit (as "cannot write: Input/output error" when the
 * stream's error flag is set, since errno is no longer known). Prefer rt_atomic_write, which
 * reports the real errno. Do not fclose it. */
FILE *rt_atomic_stream(rt_atomic_file *f);

/* The final path given to rt_atomic_open. */
const char *rt_atomic_path(const rt_atomic_file *f);

/* fwrite with a checked result; on failure the handle stays open (abort it). */
rt_code rt_atomic_write(rt_atomic_file *f, const void *data, size_t len, rt_status *st);

/* fflush + fsync + fclose + rename over the final path + fsync of the directory.
 * Always releases the handle and sets *f to NULL; on failure the temporary file is removed and
 * the final path is untouched (unless the failure is the directory fsync after the rename).
 * *f == NULL is an internal error. */
rt_code rt_atomic_commit(rt_atomic_file **f, rt_status *st);

/* A set of directories whose fsync is deferred (see the top of this file). */
typedef struct rt_atomic_batch rt_atomic_batch;

/* An empty batch. */
rt_code rt_atomic_batch_begin(rt_atomic_batch **out, rt_status *st);

/* rt_atomic_commit into batch (batch NULL: rt_atomic_commit): flushes the stream now (write
 * errors are reported here), then the file waits in the batch's group for its fsync and rename.
 * Always releases the handle and sets *f to NULL. A failure to fsync, close or rename a file is
 * returned by the commit that fills the next group, or by rt_atomic_batch_finish, and names that
 * file; the files committed after it are removed. */
rt_code rt_atomic_commit_in(rt_atomic_batch *batch, rt_atomic_file **f, rt_status *st);

/* The files still waiting reach their final names, then every directory of the batch is
 * fsync'ed once, in the order first committed to. Always releases the batch and sets *batch to
 * NULL. Errors name the file, or the directory ("DIR: cannot write: <strerror>"). *batch == NULL
 * is a no-op. */
rt_code rt_atomic_batch_finish(rt_atomic_batch **batch, rt_status *st);

/* Releases a batch without finishing it (after an error): files still waiting are removed, the
 * renames done stay. NULL is a no-op. */
void rt_atomic_batch_free(rt_atomic_batch **batch);

/* Closes and removes the temporary file; releases the handle and sets *f to NULL.
 * f == NULL or *f == NULL is a no-op. */
void rt_atomic_abort(rt_atomic_file **f);

/* Writes data[0..len) to path atomically. data may be NULL when len == 0. */
rt_code rt_write_file_atomic(const char *path, const void *data, size_t len, rt_status *st);

/* The same, committed into batch (NULL: rt_write_file_atomic). */
rt_code rt_write_file_atomic_in(rt_atomic_batch *batch, const char *path, const void *data,
                                size_t len, rt_status *st);

/* Tests: every fsync this module makes (is_dir: 1 for a directory, 0 for a file) calls fn
 * instead of fsync(2), which may count it or fail it (return -1 with errno set); NULL restores
 * fsync(2). fn may be called from several threads at once (a batch's group). Process-wide; set it
 * only while no file is being written. */
typedef int (*rt_fsync_hook)(int fd, int is_dir, void *user);
void rt_atomic_set_fsync_hook(rt_fsync_hook fn, void *user);

/* fsync of a directory, making a rename done in it durable (EINVAL, a filesystem that cannot
 * sync directories, is not an error). Errors as above, naming dir. */
rt_code rt_sync_dir(const char *dir, rt_status *st);

/* out = "dir/name"; "dir/name: path too long" (RT_ERR_OUTPUT) when it does not fit in cap. */
rt_code rt_path_join(char *out, size_t cap, const char *dir, const char *name, rt_status *st);

/* mkdir -p: creates dir and its missing parents (mode 0777 & ~umask). Existing directories are
 * fine; an existing non-directory is "P: cannot create directory: Not a directory".
 * Errors name the path component that failed: "P: cannot create directory: <strerror>",
 * RT_ERR_OUTPUT (RT_ERR_IO with file:line for errors the user cannot fix). */
rt_code rt_mkdir_p(const char *dir, rt_status *st);

/* Creates dir if needed (rt_mkdir_p), then creates and removes a probe file in it. Failure:
 * "DIR: output directory is not writable: <strerror>", RT_ERR_OUTPUT. */
rt_code rt_check_writable_dir(const char *dir, rt_status *st);

#ifdef __cplusplus
}
#endif
#endif
