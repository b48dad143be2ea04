/* Lines of a byte range of a text data file (CSV, LIBSVM): a buffered source that reads the
 * range in chunks, the cut rule for shards of text (a line belongs to the range it starts in),
 * and "PATH:LINE" locations for messages. Private to the data readers. */
#ifndef RINGTRAIN_LINE_SOURCE_H
#define RINGTRAIN_LINE_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "ringtrain/data.h"
#include "ringtrain/status.h"

/* Buffered line source over [.., end) of one file. buf holds file bytes [base, base+len) and
 * buf[len] == '\0' always (a sentinel that stops strtof). */
typedef struct rt_lines {
  const char *path;
  int fd;
  uint64_t end;      /* do not read at or beyond this offset */
  uint64_t soft_end; /* read in RT_DATA_CHUNK pieces below this offset, small ones above */
  char *buf;
  size_t cap; /* allocated cap + 1 bytes */
  size_t len, pos;
  uint64_t base;
  uint64_t next; /* file offset of the next unread byte (== base + len) */
} rt_lines;

static inline int rt_is_blank(char c) { return c == ' ' || c == '\t'; }

rt_code rt_lines_init(rt_lines *s, const char *path, int fd, uint64_t from, uint64_t end,
                      uint64_t soft_end, rt_status *st);
void rt_lines_free(rt_lines *s);
/* Next line: *line .. *line_end (no '\n'), *off its file offset. *have = 0 at end of data. */
rt_code rt_lines_next(rt_lines *s, char **line, char **line_end, uint64_t *off, int *have,
                      rt_status *st);
/* Trims spaces, tabs and '\r' at the end and spaces/tabs at the start; returns 1 if blank. */
int rt_lines_trim(char **p, char **q);
/* 1-based line number of the line starting at `off` (counts '\n' in [0, off)); 0 on failure. */
uint64_t rt_lines_number_at(int fd, const char *path, uint64_t off);
/* "PATH:LINE" (or "PATH: line at byte N" when the line cannot be counted) for messages. */
void rt_lines_where(char *out, size_t outsz, int fd, const char *path, uint64_t off);
/* Opens the lines that start in the cut range [c0, c1) of the data [data_begin, data_end): *src
 * is positioned at the first line start >= c0; the caller stops at the first line that starts
 * at or after c1. */
rt_code rt_lines_range(const char *path, int fd, const rt_data_info *info, uint64_t c0, uint64_t c1,
                       rt_lines *src, rt_status *st);

#endif
