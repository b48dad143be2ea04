/* Public entry points of include/ringtrain/data.h and the file helpers the readers share. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "csv_cache.h"
#include "data_internal.h"

rt_code rt_data_open(const char *path, int *fd, uint64_t *size, rt_status *st) {
  *fd = -1;
  *size = 0;
  int f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0) {
    int e = errno;
    switch (e) {
      case ENOENT:
      case EACCES:
      case ENOTDIR:
      case EISDIR:
      case ELOOP:
      case ENAMETOOLONG:
      case EPERM: return rt_fail(st, RT_ERR_DATA, "%s: cannot open: %s", path, strerror(e));
      default: return RT_FAIL_AT(st, RT_ERR_IO, "open %s: %s", path, strerror(e));
    }
  }
  struct stat sb;
  if (fstat(f, &sb) != 0) {
    int e = errno;
    (void)close(f);
    return RT_FAIL_AT(st, RT_ERR_IO, "fstat %s: %s", path, strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    (void)close(f);
    if (S_ISDIR(sb.st_mode))
      return rt_fail(st, RT_ERR_DATA, "%s: cannot open: %s", path, strerror(EISDIR));
    return rt_fail(st, RT_ERR_DATA, "%s: cannot open: not a regular file", path);
  }
  *fd = f;
  *size = sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
  return RT_OK;
}

rt_code rt_data_close(int fd, const char *path, rt_status *st) {
  if (fd < 0) return RT_OK;
  if (close(fd) != 0) {
    int e = errno;
    if (st && st->code == RT_OK)
      return RT_FAIL_AT(st, RT_ERR_IO, "close %s: %s", path, strerror(e));
    return RT_ERR_IO;
  }
  return RT_OK;
}

rt_code rt_data_pread(int fd, const char *path, void *buf, size_t n, uint64_t offset, size_t *got,
                      rt_status *st) {
  size_t done = 0;
  char *p = buf;
  while (done < n) {
    uint64_t at = offset + done;
    if (at > (uint64_t)INT64_MAX)
      return RT_FAIL_AT(st, RT_ERR_IO, "read %s: offset %llu too large", path,
                        (unsigned long long)at);
    size_t want = n - done;
    if (want > ((size_t)1 << 30)) want = (size_t)1 << 30;
    ssize_t r = pread(fd, p + done, want, (off_t)at);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      return RT_FAIL_AT(st, RT_ERR_IO, "read %s: %s", path, strerror(e));
    }
    if (r == 0) break;
    done += (size_t)r;
  }
  *got = done;
  return RT_OK;
}

rt_code rt_data_alloc_floats(size_t n, float **out, const char *path, rt_status *st) {
  *out = NULL;
  if (n == 0) return RT_OK;
  if (n > (SIZE_MAX - 63) / sizeof(float))
    return rt_fail(st, RT_ERR_NOMEM, "%s: %zu values do not fit in memory", path, n);
  size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
  float *p = aligned_alloc(64, bytes);
  if (!p)
    return rt_fail(st, RT_ERR_NOMEM, "%s: cannot allocate %zu bytes for %zu values", path, bytes,
                   n);
  *out = p;
  return RT_OK;
}

static int has_extension(const char *path, const char *ext) {
  const size_t n = strlen(path), e = strlen(ext);
  return n >= e && strcasecmp(path + n - e, ext) == 0;
}

/* AUTO: .npy, .libsvm / .svm / .svmlight, otherwise CSV. */
static rt_file_format format_of(const char *path) {
  if (has_extension(path, ".npy")) return RT_FORMAT_NPY;
  if (has_extension(path, ".libsvm") || has_extension(path, ".svm") ||
      has_extension(path, ".svmlight"))
    return RT_FORMAT_LIBSVM;
  return RT_FORMAT_CSV;
}

rt_code rt_data_check_options(const rt_data_options *opt, rt_file_format *format, rt_status *st) {
  if (!opt || !opt->path || !opt->path[0])
    return rt_fail(st, RT_ERR_CONFIG, "data options: no file path given");
  if (opt->label_column < -1)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%s: label_column %d is invalid (expected -1 or a column index)", opt->path,
                   opt->label_column);
  if (opt->header < -1 || opt->header > 1)
    return rt_fail(st, RT_ERR_CONFIG, "%s: header option %d is invalid (expected -1, 0 or 1)",
                   opt->path, opt->header);
  if (opt->delimiter != 0 && opt->delimiter != ',' && opt->delimiter != ' ' &&
      opt->delimiter != '\t')
    return rt_fail(st, RT_ERR_CONFIG,
                   "%s: delimiter option 0x%02x is invalid (expected auto, ',' or ' ')", opt->path,
                   (unsigned)(unsigned char)opt->delimiter);
  rt_file_format f = opt->format;
  if (f == RT_FORMAT_AUTO) f = format_of(opt->path);
  if (f != RT_FORMAT_CSV && f != RT_FORMAT_NPY && f != RT_FORMAT_LIBSVM)
    return rt_fail(st, RT_ERR_CONFIG, "%s: unknown data format %d", opt->path, (int)opt->format);
  *format = f;
  return RT_OK;
}

rt_code rt_data_probe(const rt_data_options *opt, rt_data_info *info, rt_status *st) {
  rt_file_format format = RT_FORMAT_AUTO;
  if (info) memset(info, 0, sizeof *info);
  rt_code rc;
  RT_TRY(rc, rt_data_check_options(opt, &format, st));
  if (!info) return rt_fail(st, RT_ERR_INTERNAL, "rt_data_probe: info is NULL");
  info->format = format;
  rc = format == RT_FORMAT_NPY      ? rt_npy_probe(opt, info, st)
       : format == RT_FORMAT_LIBSVM ? rt_libsvm_probe(opt, info, st)
                                    : rt_csv_probe(opt, info, st);
  if (rc != RT_OK) {
    memset(info, 0, sizeof *info);
    return rc;
  }
  return RT_OK;
}

rt_code rt_data_read_shard(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                           size_t nshards, rt_shard *out, rt_status *st) {
  if (out) memset(out, 0, sizeof *out);
  rt_file_format format = RT_FORMAT_AUTO;
  rt_code rc;
  RT_TRY(rc, rt_data_check_options(opt, &format, st));
  if (!info || !out) return rt_fail(st, RT_ERR_INTERNAL, "rt_data_read_shard: NULL argument");
  if (nshards == 0 || shard >= nshards)
    return rt_fail(st, RT_ERR_INTERNAL, "%s: shard %zu out of range for %zu shards", opt->path,
                   shard, nshards);
  if (info->format != format)
    return rt_fail(st, RT_ERR_INTERNAL, "%s: data info does not match the options (format)",
                   opt->path);
  size_t has_label = opt->label_column >= 0 ? 1 : 0;
  if (info->columns == 0 || info->features + has_label != info->columns ||
      (has_label && (size_t)opt->label_column >= info->columns))
    return rt_fail(st, RT_ERR_INTERNAL, "%s: data info does not match the options (columns)",
                   opt->path);
  out->features = info->features;
  const int cached = format == RT_FORMAT_CSV && opt->cache;
  if (cached) {
    int hit = 0;
    RT_TRY(rc, rt_csv_cache_read(opt, info, shard, nshards, out, &hit, st));
    if (hit) return RT_OK;
  }
  if (format == RT_FORMAT_LIBSVM) {
    uint64_t c0, c1;
    rt_data_shard_range(info, shard, nshards, &c0, &c1);
    rc = rt_libsvm_read_range(opt, info, c0, c1, out, st);
  } else {
    rc = format == RT_FORMAT_NPY ? rt_npy_read_shard(opt, info, shard, nshards, out, st)
                                 : rt_csv_read_shard(opt, info, shard, nshards, out, st);
  }
  if (rc != RT_OK) {
    rt_shard_free(out);
    return rc;
  }
  if (cached) rt_csv_cache_write(opt, info, shard, nshards, out);
  return RT_OK;
}

rt_code rt_data_read_all(const rt_data_options *opt, const rt_data_info *info, rt_shard *out,
                         rt_status *st) {
  return rt_data_read_shard(opt, info, 0, 1, out, st);
}
