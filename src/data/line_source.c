/* Lines of a byte range of a text data file (line_source.h). */
#include "line_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

#define SMALL_CHUNK ((size_t)64 << 10)

rt_code rt_lines_init(rt_lines *s, const char *path, int fd, uint64_t from, uint64_t end,
                      uint64_t soft_end, rt_status *st) {
  memset(s, 0, sizeof *s);
  s->path = path;
  s->fd = fd;
  s->end = end;
  s->soft_end = soft_end;
  s->base = from;
  s->next = from;
  uint64_t want = soft_end > from ? soft_end - from + SMALL_CHUNK : SMALL_CHUNK;
  if (want > RT_DATA_CHUNK) want = RT_DATA_CHUNK;
  s->cap = (size_t)want;
  s->buf = malloc(s->cap + 1);
  if (!s->buf)
    return rt_fail(st, RT_ERR_NOMEM, "%s: cannot allocate a %zu byte read buffer", path,
                   s->cap + 1);
  s->buf[0] = '\0';
  return RT_OK;
}

void rt_lines_free(rt_lines *s) {
  free(s->buf);
  s->buf = NULL;
}

/* Next line: *line .. *line_end (no '\n'), *off its file offset. *have = 0 at end of data. */
rt_code rt_lines_next(rt_lines *s, char **line, char **line_end, uint64_t *off, int *have,
                      rt_status *st) {
  size_t scanned = s->pos;
  for (;;) {
    char *nl = memchr(s->buf + scanned, '\n', s->len - scanned);
    if (nl) {
      *line = s->buf + s->pos;
      *line_end = nl;
      *off = s->base + s->pos;
      s->pos = (size_t)(nl - s->buf) + 1;
      *have = 1;
      return RT_OK;
    }
    if (s->next >= s->end) {
      if (s->pos < s->len) {
        *line = s->buf + s->pos;
        *line_end = s->buf + s->len;
        *off = s->base + s->pos;
        s->pos = s->len;
        *have = 1;
      } else {
        *have = 0;
      }
      return RT_OK;
    }
    /* Need more bytes: drop what was consumed, then append a chunk. */
    if (s->pos > 0) {
      memmove(s->buf, s->buf + s->pos, s->len - s->pos);
      s->base += s->pos;
      s->len -= s->pos;
      s->pos = 0;
    }
    scanned = s->len;
    uint64_t want = s->next < s->soft_end ? s->soft_end - s->next : SMALL_CHUNK;
    if (want > RT_DATA_CHUNK) want = RT_DATA_CHUNK;
    if (want > s->end - s->next) want = s->end - s->next;
    if (s->cap - s->len < want) {
      size_t ncap = s->cap * 2;
      if (ncap < s->len + (size_t)want) ncap = s->len + (size_t)want;
      char *nb = realloc(s->buf, ncap + 1);
      if (!nb)
        return rt_fail(st, RT_ERR_NOMEM, "%s: cannot allocate a %zu byte line buffer", s->path,
                       ncap + 1);
      s->buf = nb;
      s->cap = ncap;
    }
    size_t got = 0;
    rt_code rc;
    RT_TRY(rc, rt_data_pread(s->fd, s->path, s->buf + s->len, (size_t)want, s->next, &got, st));
    if (got < want)
      return rt_fail(st, RT_ERR_DATA,
                     "%s: file ends at byte %llu, expected %llu bytes (did it change while being "
                     "read?)",
                     s->path, (unsigned long long)(s->next + got), (unsigned long long)s->end);
    s->len += got;
    s->next += got;
    s->buf[s->len] = '\0';
  }
}

/* Trims spaces, tabs and '\r' at the end and spaces/tabs at the start; returns 1 if blank. */
int rt_lines_trim(char **p, char **q) {
  char *a = *p, *b = *q;
  while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) --b;
  while (a < b && rt_is_blank(*a)) ++a;
  *p = a;
  *q = b;
  return a == b;
}

/* 1-based line number of the line starting at `off` (counts '\n' in [0, off)); 0 on failure. */
uint64_t rt_lines_number_at(int fd, const char *path, uint64_t off) {
  size_t bufsz = (size_t)1 << 20;
  char *buf = malloc(bufsz);
  if (!buf) return 0;
  uint64_t lines = 0, at = 0;
  while (at < off) {
    size_t want = off - at < bufsz ? (size_t)(off - at) : bufsz;
    size_t got = 0;
    if (rt_data_pread(fd, path, buf, want, at, &got, NULL) != RT_OK || got == 0) {
      free(buf);
      return 0;
    }
    for (char *p = buf, *end = buf + got; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; ++p)
      ++lines;
    at += got;
  }
  free(buf);
  return lines + 1;
}

/* "PATH:LINE" (or "PATH: byte N" when the line cannot be counted) for messages. */
void rt_lines_where(char *out, size_t outsz, int fd, const char *path, uint64_t off) {
  uint64_t ln = rt_lines_number_at(fd, path, off);
  if (ln) snprintf(out, outsz, "%s:%llu", path, (unsigned long long)ln);
  else snprintf(out, outsz, "%s: line at byte %llu", path, (unsigned long long)off);
}

/* Opens the lines that start in the cut range [c0, c1): *src is positioned at the first line
 * start >= c0 (everything up to the first '\n' at or after c0-1 is skipped); the caller stops
 * at the first line that starts at or after c1. */
rt_code rt_lines_range(const char *path, int fd, const rt_data_info *info, uint64_t c0, uint64_t c1,
                       rt_lines *src, rt_status *st) {
  const uint64_t b0 = info->data_begin, b1 = info->data_end;
  rt_code rc;
  RT_TRY(rc, rt_lines_init(src, path, fd, c0 == b0 ? b0 : c0 - 1, b1, c1, st));
  if (c0 != b0) {
    char *p, *q;
    uint64_t off;
    int have;
    RT_TRY(rc, rt_lines_next(src, &p, &q, &off, &have, st));
  }
  return RT_OK;
}
