/* Data paths as the user means them. A config's relative data paths are joined to the config's
 * folder when it is parsed, so they stay relative to the working directory of the run; a resolved
 * config written into a run directory or checkpoint stores them absolute (rt_path_absolute), and
 * a resume compares the two as the files they name (rt_path_resolved), never as text. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_internal.h"

/* Removes "." and empty components from an absolute path, in place. ".." stays: with symbolic
 * links, "link/.." need not be the folder that holds "link". */
static void normalize_lexically(char *path) {
  char *out = path + 1; /* path[0] == '/' */
  const char *in = path + 1;
  for (int more = *in != '\0'; more;) {
    const size_t n = strcspn(in, "/");
    more = in[n] == '/' && in[n + 1] != '\0'; /* read before out overwrites in[n] */
    if (n > 0 && !(n == 1 && in[0] == '.')) {
      memmove(out, in, n);
      out += n;
      *out++ = '/';
    }
    in += n + 1;
  }
  if (out > path + 1) out--; /* no trailing slash */
  *out = '\0';
}

int rt_path_absolute(const char *path, char *out, size_t cap) {
  size_t n = strlen(path);
  if (path[0] == '/') {
    if (n + 1 > cap) return ENAMETOOLONG;
    memcpy(out, path, n + 1);
  } else {
    char cwd[RT_PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return errno == ERANGE ? ENAMETOOLONG : errno;
    size_t c = strlen(cwd);
    int slash = cwd[c - 1] != '/';
    if (c + (size_t)slash + n + 1 > cap) return ENAMETOOLONG;
    memcpy(out, cwd, c);
    if (slash) out[c] = '/';
    memcpy(out + c + (size_t)slash, path, n + 1);
  }
  normalize_lexically(out);
  return 0;
}

int rt_path_resolved(const char *path, char *out, size_t cap) {
  char real[PATH_MAX];
  if (realpath(path, real)) {
    size_t n = strlen(real);
    if (n + 1 > cap) return ENAMETOOLONG;
    memcpy(out, real, n + 1);
    return 0;
  }
  return rt_path_absolute(path, out, cap); /* the file is gone: compare where it would be */
}
