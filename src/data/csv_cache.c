/* The cache of parsed CSV shards: text is parsed once per shard layout.
 *
 * Shard s of S of DIR/NAME.csv, once parsed, is written as a float32 .npy of its rows (every
 * column, the label too, in file order) to DIR/NAME.csv.rtcache/shard-<s>-of-<S>-<key>.npy, where
 * <key> (16 hex digits) is a SHA-256 of what decides the shard's values: the CSV's size,
 * modification time (ns) and inode, where its data begins (after the header), its delimiter and
 * column count, and the cache format's version. A later read of the same shard of the unchanged
 * file reads that .npy instead of the text: the same floats (strtof's, written and read back
 * bit for bit), so the same model bytes. A changed file gets a new key; writing an entry removes
 * the shard's entries of other keys.
 *
 * The cache is an optimisation, never a source of errors: a folder that cannot be created or
 * written (read-only data, a full disk) just means no cache, and an entry that cannot be read as
 * the expected .npy is ignored (and rewritten). Each entry is written atomically, so ranks on
 * one shared filesystem never see a partial one; ranks own distinct shards, so they never write
 * the same entry at once (two runs that do write the same bytes). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "csv_cache.h"
#include "data_internal.h"
#include "npy_writer.h"
#include "ringtrain/atomic_file.h"
#include "ringtrain/config.h"
#include "ringtrain/hash.h"

#define CACHE_FORMAT_VERSION 1
#define KEY_HEX 16

/* The entry's folder and file name (no error: 0 when the paths do not fit). */
static int entry_paths(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                       size_t nshards, char *dir, size_t dir_cap, char *file, size_t file_cap,
                       char *prefix, size_t prefix_cap) {
  struct stat sb;
  if (stat(opt->path, &sb) != 0 || !S_ISREG(sb.st_mode)) return 0;
  const uint64_t stamp[8] = {CACHE_FORMAT_VERSION,
                             (uint64_t)sb.st_size,
                             (uint64_t)sb.st_mtim.tv_sec,
                             (uint64_t)sb.st_mtim.tv_nsec,
                             (uint64_t)sb.st_ino,
                             info->data_begin,
                             (uint64_t)(unsigned char)info->delimiter,
                             (uint64_t)info->columns};
  uint8_t digest[RT_SHA256_LEN];
  if (rt_sha256(stamp, sizeof stamp, digest, NULL) != RT_OK) return 0;
  char key[2 * RT_SHA256_LEN + 1];
  rt_hex(digest, RT_SHA256_LEN, key);
  key[KEY_HEX] = '\0';
  int n = snprintf(dir, dir_cap, "%s.rtcache", opt->path);
  if (n < 0 || (size_t)n >= dir_cap) return 0;
  n = snprintf(prefix, prefix_cap, "shard-%zu-of-%zu-", shard, nshards);
  if (n < 0 || (size_t)n >= prefix_cap) return 0;
  n = snprintf(file, file_cap, "%s/%s%s.npy", dir, prefix, key);
  return n >= 0 && (size_t)n < file_cap;
}

int rt_csv_cache_entry(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                       size_t nshards, char *path, size_t cap) {
  char dir[RT_PATH_MAX], prefix[64];
  return entry_paths(opt, info, shard, nshards, dir, sizeof dir, path, cap, prefix,
                     sizeof prefix) &&
         access(path, R_OK) == 0;
}

rt_code rt_csv_cache_read(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                          size_t nshards, rt_shard *out, int *hit, rt_status *st) {
  *hit = 0;
  char dir[RT_PATH_MAX], file[RT_PATH_MAX + 64], prefix[64];
  if (!entry_paths(opt, info, shard, nshards, dir, sizeof dir, file, sizeof file, prefix,
                   sizeof prefix) ||
      access(file, R_OK) != 0)
    return RT_OK;
  rt_data_options copt = {.path = file, .format = RT_FORMAT_NPY, .label_column = opt->label_column};
  rt_data_info cinfo;
  rt_status ignored;
  rt_status_clear(&ignored);
  if (rt_data_probe(&copt, &cinfo, &ignored) != RT_OK || cinfo.npy_dtype != RT_NPY_F32 ||
      cinfo.columns != info->columns)
    return RT_OK;
  rt_shard sh;
  rt_code rc = rt_data_read_shard(&copt, &cinfo, 0, 1, &sh, &ignored);
  if (rc == RT_ERR_NOMEM) return rt_fail(st, rc, "%s", ignored.message);
  if (rc != RT_OK) return RT_OK;
  uint64_t first_row = 0;
  rc = rt_csv_shard_first_row(opt, info, shard, nshards, &first_row, st);
  if (rc != RT_OK) {
    rt_shard_free(&sh);
    return rc;
  }
  sh.first_row = first_row;
  *out = sh;
  *hit = 1;
  return RT_OK;
}

/* Removes the shard's entries of other keys (stale: the file changed). */
static void remove_stale(const char *dir, const char *prefix, const char *keep) {
  DIR *d = opendir(dir);
  if (!d) return;
  const size_t plen = strlen(prefix);
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (strncmp(e->d_name, prefix, plen) != 0 || strcmp(e->d_name, keep) == 0) continue;
    const char *rest = e->d_name + plen;
    if (strlen(rest) != KEY_HEX + 4 || strcmp(rest + KEY_HEX, ".npy") != 0) continue;
    char path[RT_PATH_MAX + 300];
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path) unlink(path);
  }
  closedir(d);
}

/* Appends a shard's rows as the file holds them (the label back in its column) to f. */
static rt_code append_rows(rt_atomic_file *f, const rt_shard *sh, size_t cols, long label,
                           rt_status *st) {
  enum { BLOCK_ROWS = 1024 };
  const size_t features = sh->features;
  float *block = malloc((size_t)BLOCK_ROWS * cols * sizeof *block);
  if (!block) return rt_fail(st, RT_ERR_NOMEM, "cannot allocate a cache write buffer");
  rt_code rc = RT_OK;
  for (size_t r0 = 0; rc == RT_OK && r0 < sh->rows; r0 += BLOCK_ROWS) {
    const size_t n = sh->rows - r0 < BLOCK_ROWS ? sh->rows - r0 : BLOCK_ROWS;
    for (size_t i = 0; i < n; ++i) {
      const float *x = sh->x + (r0 + i) * features;
      float *row = block + i * cols;
      if (label < 0) {
        memcpy(row, x, features * sizeof *x);
        continue;
      }
      memcpy(row, x, (size_t)label * sizeof *x);
      row[label] = sh->y[r0 + i];
      memcpy(row + label + 1, x + label, (features - (size_t)label) * sizeof *x);
    }
    rc = rt_atomic_write(f, block, n * cols * sizeof *block, st);
  }
  free(block);
  return rc;
}

/* Opens the entry's temporary file with a provisional header (the folder made if need be). */
static int open_entry(const char *dir, const char *file, size_t cols, rt_atomic_file **f) {
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) return 0;
  rt_status ignored;
  rt_status_clear(&ignored);
  if (rt_atomic_open(file, f, &ignored) != RT_OK) return 0;
  unsigned char header[RT_NPY_HEADER_BYTES];
  rt_npy_f32_header(0, cols, header);
  if (rt_atomic_write(*f, header, sizeof header, &ignored) != RT_OK) {
    rt_atomic_abort(f);
    return 0;
  }
  return 1;
}

/* Writes the final header and commits; 1 when the entry is in place. */
static int commit_entry(rt_atomic_file **f, uint64_t rows, size_t cols, const char *dir,
                        const char *prefix, const char *file) {
  rt_status ignored;
  rt_status_clear(&ignored);
  unsigned char header[RT_NPY_HEADER_BYTES];
  rt_npy_f32_header(rows, cols, header);
  if (fseek(rt_atomic_stream(*f), 0, SEEK_SET) != 0 ||
      rt_atomic_write(*f, header, sizeof header, &ignored) != RT_OK) {
    rt_atomic_abort(f);
    return 0;
  }
  if (rt_atomic_commit(f, &ignored) != RT_OK) return 0;
  remove_stale(dir, prefix, strrchr(file, '/') + 1);
  return 1;
}

int rt_csv_cache_write(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                       size_t nshards, const rt_shard *sh) {
  char dir[RT_PATH_MAX], file[RT_PATH_MAX + 64], prefix[64];
  if (sh->rows == 0 || !entry_paths(opt, info, shard, nshards, dir, sizeof dir, file, sizeof file,
                                    prefix, sizeof prefix))
    return 0;
  rt_atomic_file *f = NULL;
  if (!open_entry(dir, file, info->columns, &f)) return 0;
  rt_status ignored;
  rt_status_clear(&ignored);
  if (append_rows(f, sh, info->columns, opt->label_column, &ignored) != RT_OK) {
    rt_atomic_abort(&f);
    return 0;
  }
  return commit_entry(&f, sh->rows, info->columns, dir, prefix, file);
}

rt_code rt_csv_cache_build(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                           size_t nshards, int *written, rt_status *st) {
  *written = 0;
  char dir[RT_PATH_MAX], file[RT_PATH_MAX + 64], prefix[64];
  if (!entry_paths(opt, info, shard, nshards, dir, sizeof dir, file, sizeof file, prefix,
                   sizeof prefix))
    return RT_OK;
  rt_atomic_file *f = NULL;
  if (!open_entry(dir, file, info->columns, &f)) return RT_OK;
  /* Pieces of about 2 * RT_DATA_CHUNK (8 MiB) of text each: memory stays bounded. */
  uint64_t c0, c1;
  rt_data_shard_range(info, shard, nshards, &c0, &c1);
  const size_t pieces = (size_t)((c1 - c0) / (RT_DATA_CHUNK * 2) + 1);
  uint64_t rows = 0;
  int write_ok = 1;
  for (size_t p = 0; p < pieces; ++p) {
    rt_shard sh;
    rt_code rc = rt_csv_read_piece(opt, info, shard, nshards, p, pieces, &sh, st);
    if (rc != RT_OK) { /* the data's own error: reported, and no cache folder left behind */
      rt_atomic_abort(&f);
      rmdir(dir); /* only when empty */
      return rc;
    }
    rt_status ignored;
    rt_status_clear(&ignored);
    if (write_ok && append_rows(f, &sh, info->columns, opt->label_column, &ignored) != RT_OK)
      write_ok = 0; /* keep parsing: a data error further on is still the user's to see */
    rows += sh.rows;
    rt_shard_free(&sh);
  }
  if (!write_ok || rows == 0) {
    rt_atomic_abort(&f);
    rmdir(dir); /* only when empty */
    return RT_OK;
  }
  *written = commit_entry(&f, rows, info->columns, dir, prefix, file);
  return RT_OK;
}
