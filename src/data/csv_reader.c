/* CSV / whitespace-delimited text reader.
 *
 * Lines end with '\n' (a '\r' before it is dropped). Blank lines (empty, or only spaces, tabs and
 * '\r') are skipped everywhere. A UTF-8 byte order mark at the start of the file is ignored.
 * Fields: with ',' they are separated by commas and trimmed of spaces/tabs; with ' ' they are
 * separated by runs of spaces/tabs (leading/trailing ones ignored). Every field is read as strtof
 * reads it (bit for bit: parse_float.c's fast path where it is sure, strtof itself otherwise) and
 * must be consumed entirely and be finite.
 *
 * Shards: the data bytes [B0, B1) (B0 = info->data_begin, B1 = file size) are cut at
 * c(s) = B0 + s*(B1-B0)/S (128-bit product). A line starting at byte p belongs to shard s iff
 * snap(c(s)) <= p < snap(c(s+1)), where snap(c) is the first line start >= c. That is the same as
 * c(s) <= p < c(s+1) when both are counted as line starts, so a reader starts at snap(c(s)) (found
 * by scanning forward from c(s)-1 to the first '\n') and stops at the first line that starts at or
 * after c(s+1), reading only the rest of that last line past its range. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "parse_float.h"

#define SMALL_CHUNK ((size_t)64 << 10)

/* Buffered line source over [.., end) of one file. buf holds file bytes [base, base+len) and
 * buf[len] == '\0' always (a sentinel that stops strtof). */
typedef struct line_src {
  const char *path;
  int fd;
  uint64_t end;      /* do not read at or beyond this offset */
  uint64_t soft_end; /* read in RT_DATA_CHUNK pieces below this offset, SMALL_CHUNK above */
  char *buf;
  size_t cap; /* allocated cap + 1 bytes */
  size_t len, pos;
  uint64_t base;
  uint64_t next; /* file offset of the next unread byte (== base + len) */
} line_src;

static rt_code src_init(line_src *s, const char *path, int fd, uint64_t from, uint64_t end,
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

static void src_free(line_src *s) {
  free(s->buf);
  s->buf = NULL;
}

/* Next line: *line .. *line_end (no '\n'), *off its file offset. *have = 0 at end of data. */
static rt_code src_next(line_src *s, char **line, char **line_end, uint64_t *off, int *have,
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

static int is_blank_char(char c) { return c == ' ' || c == '\t'; }

/* Trims spaces, tabs and '\r' at the end and spaces/tabs at the start; returns 1 if blank. */
static int trim_line(char **p, char **q) {
  char *a = *p, *b = *q;
  while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r')) --b;
  while (a < b && is_blank_char(*a)) ++a;
  *p = a;
  *q = b;
  return a == b;
}

/* Next field of a trimmed, non-blank line: returns 0 when there are no more fields.
 * *cursor is where the previous field ended (initially the line start). */
static int next_field(char delim, char **cursor, char *q, int *first, char **fa, char **fb) {
  char *s = *cursor;
  if (delim == ',') {
    if (!*first) {
      if (s >= q) return 0;
      ++s; /* skip the comma */
    }
    *first = 0;
    char *e = memchr(s, ',', (size_t)(q - s));
    if (!e) e = q;
    char *a = s, *b = e;
    while (a < b && is_blank_char(*a)) ++a;
    while (b > a && is_blank_char(b[-1])) --b;
    *fa = a;
    *fb = b;
    *cursor = e;
    return 1;
  }
  while (s < q && is_blank_char(*s)) ++s;
  if (s >= q) return 0;
  char *e = s;
  while (e < q && !is_blank_char(*e)) ++e;
  *first = 0;
  *fa = s;
  *fb = e;
  *cursor = e;
  return 1;
}

static size_t count_fields(char delim, char *p, char *q) {
  char *cur = p, *a, *b;
  int first = 1;
  size_t n = 0;
  while (next_field(delim, &cur, q, &first, &a, &b)) ++n;
  return n;
}

/* Field text for a message: at most 40 bytes, non-printable bytes as '?'. */
static void field_text(const char *a, const char *b, char *out, size_t outsz) {
  size_t n = (size_t)(b - a), k = 0;
  size_t lim = outsz - 4;
  if (lim > 40) lim = 40;
  for (size_t i = 0; i < n && k < lim; ++i) {
    unsigned char c = (unsigned char)a[i];
    out[k++] = (c >= 0x20 && c < 0x7f && c != '\'') ? (char)c : '?';
  }
  if (n > lim) {
    out[k++] = '.';
    out[k++] = '.';
    out[k++] = '.';
  }
  out[k] = '\0';
}

typedef enum {
  FIELD_OK = 0,
  FIELD_EMPTY,
  FIELD_NOT_NUMBER,
  FIELD_NAN,
  FIELD_INF,
  FIELD_RANGE
} field_result;

static field_result parse_field(char *a, char *b, float *v) {
  if (a == b) return FIELD_EMPTY;
  if (isspace((unsigned char)*a)) return FIELD_NOT_NUMBER;
  char *e = NULL;
  float f = strtof(a, &e);
  if (e != b) return FIELD_NOT_NUMBER;
  if (isnan(f)) return FIELD_NAN;
  if (isinf(f)) {
    for (char *c = a; c < b; ++c)
      if (*c == 'i' || *c == 'I') return FIELD_INF;
    return FIELD_RANGE;
  }
  *v = f;
  return FIELD_OK;
}

/* 1-based line number of the line starting at `off` (counts '\n' in [0, off)); 0 on failure. */
static uint64_t line_number_at(int fd, const char *path, uint64_t off) {
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
static void where(char *out, size_t outsz, int fd, const char *path, uint64_t off) {
  uint64_t ln = line_number_at(fd, path, off);
  if (ln) snprintf(out, outsz, "%s:%llu", path, (unsigned long long)ln);
  else snprintf(out, outsz, "%s: line at byte %llu", path, (unsigned long long)off);
}

typedef struct csv_ctx {
  const char *path;
  int fd;
  char delim;
  size_t columns;
  long label; /* -1 = none */
} csv_ctx;

static rt_code column_count_error(const csv_ctx *c, uint64_t off, size_t found, rt_status *st) {
  char loc[RT_MESSAGE_MAX];
  where(loc, sizeof loc, c->fd, c->path, off);
  return rt_fail(st, RT_ERR_DATA, "%s: expected %zu column%s, found %zu", loc, c->columns,
                 c->columns == 1 ? "" : "s", found);
}

/* The common case of parse_row in one sweep over the line: every field a number rt_scan_float
 * reads (strtof's bits), surrounded by nothing but blanks and delimiters, and exactly `columns`
 * of them. Returns 0 when the line is anything else (the caller then parses it field by field,
 * which finds the value or the error strtof gives); xrow / *y may then hold partial values. */
static int parse_row_fast(const csv_ctx *c, const char *p, const char *q, float *xrow, float *y) {
  const char *s = p;
  size_t col = 0;
  float *xo = xrow;
  for (;;) {
    while (s < q && is_blank_char(*s)) ++s;
    float v;
    const char *e = s;
    /* Unsigned integers of up to 7 digits are exact floats: no need for the general reader. */
    uint32_t iv = 0;
    while (e < q && e - s < 8 && (unsigned)(*e - '0') < 10u) iv = iv * 10 + (uint32_t)(*e++ - '0');
    if (e > s && e - s < 8 &&
        (e == q || !((unsigned)(*e - '0') < 10u || *e == '.' || *e == 'e' || *e == 'E' ||
                     *e == 'x' || *e == 'X'))) {
      if (col == c->columns) return 0;
      v = (float)iv;
    } else if (col == c->columns || !rt_scan_float(s, q, &v, &e)) {
      return 0;
    }
    if ((long)col == c->label) *y = v;
    else *xo++ = v;
    ++col;
    s = e;
    while (s < q && is_blank_char(*s)) ++s;
    if (s == q) return col == c->columns;
    if (c->delim == ',') {
      if (*s != ',') return 0;
      ++s;
    } else if (s == e) {
      return 0; /* the number ran into a byte that is neither blank nor the end */
    }
  }
}

/* Parses one trimmed, non-blank line into xrow / *y. */
static rt_code parse_row(const csv_ctx *c, char *p, char *q, uint64_t off, float *xrow, float *y,
                         rt_status *st) {
  if (parse_row_fast(c, p, q, xrow, y)) return RT_OK;
  char *cur = p, *a, *b;
  int first = 1;
  size_t col = 0;
  float *xo = xrow;
  while (next_field(c->delim, &cur, q, &first, &a, &b)) {
    if (col >= c->columns) return column_count_error(c, off, count_fields(c->delim, p, q), st);
    float v = 0.0f;
    field_result fr = parse_field(a, b, &v);
    if (fr != FIELD_OK) {
      size_t n = count_fields(c->delim, p, q);
      if (n != c->columns) return column_count_error(c, off, n, st);
      char loc[RT_MESSAGE_MAX], txt[64];
      where(loc, sizeof loc, c->fd, c->path, off);
      field_text(a, b, txt, sizeof txt);
      switch (fr) {
        case FIELD_EMPTY:
          return rt_fail(st, RT_ERR_DATA, "%s: column %zu: empty field (expected a number)", loc,
                         col + 1);
        case FIELD_NAN:
          return rt_fail(st, RT_ERR_DATA,
                         "%s: column %zu: NaN value '%s' is not allowed (expected a finite number)",
                         loc, col + 1, txt);
        case FIELD_INF:
          return rt_fail(st, RT_ERR_DATA,
                         "%s: column %zu: infinite value '%s' is not allowed (expected a finite "
                         "number)",
                         loc, col + 1, txt);
        case FIELD_RANGE:
          return rt_fail(st, RT_ERR_DATA,
                         "%s: column %zu: value '%s' overflows float32 (expected a finite number)",
                         loc, col + 1, txt);
        default:
          return rt_fail(st, RT_ERR_DATA, "%s: column %zu: expected a number, found '%s'", loc,
                         col + 1, txt);
      }
    }
    if ((long)col == c->label) *y = v;
    else *xo++ = v;
    ++col;
  }
  if (col != c->columns) return column_count_error(c, off, col, st);
  return RT_OK;
}

/* Header auto-detection: the line is a header if any non-empty field is not a number. */
static int looks_like_header(char delim, char *p, char *q) {
  char *cur = p, *a, *b;
  int first = 1;
  while (next_field(delim, &cur, q, &first, &a, &b)) {
    if (a == b) continue;
    if (isspace((unsigned char)*a)) return 1;
    char *e = NULL; /* b is at a delimiter, blank, '\r', '\n' or '\0': strtod stops there */
    (void)strtod(a, &e);
    if (e != b) return 1;
  }
  return 0;
}

static char resolve_delim(char opt_delim, char *p, char *q) {
  if (opt_delim == ',') return ',';
  if (opt_delim == ' ' || opt_delim == '\t') return ' ';
  return memchr(p, ',', (size_t)(q - p)) ? ',' : ' ';
}

rt_code rt_csv_probe(const rt_data_options *opt, rt_data_info *info, rt_status *st) {
  const char *path = opt->path;
  int fd;
  uint64_t size;
  rt_code rc;
  RT_TRY(rc, rt_data_open(path, &fd, &size, st));
  line_src src;
  rc = src_init(&src, path, fd, 0, size, 0, st);
  if (rc != RT_OK) goto done;

  char *p, *q;
  uint64_t off = 0, lineno = 0;
  int have = 0;
  /* First non-blank line. */
  for (;;) {
    rc = src_next(&src, &p, &q, &off, &have, st);
    if (rc != RT_OK) goto done;
    if (!have) break;
    ++lineno;
    if (off == 0 && q - p >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
        (unsigned char)p[2] == 0xBF) {
      p += 3;
      off = 3;
    }
    char *a = p, *b = q;
    if (!trim_line(&a, &b)) break;
  }
  if (!have) {
    rc = rt_fail(st, RT_ERR_DATA, "%s: no data rows (%s)", path,
                 size == 0 ? "the file is empty" : "the file has only blank lines");
    goto done;
  }
  int header = opt->header;
  if (header < 0) {
    char *a = p, *b = q;
    trim_line(&a, &b);
    header = looks_like_header(resolve_delim(opt->delimiter, a, b), a, b);
  }
  uint64_t header_line = lineno;
  if (header) {
    for (;;) {
      rc = src_next(&src, &p, &q, &off, &have, st);
      if (rc != RT_OK) goto done;
      if (!have) break;
      ++lineno;
      char *a = p, *b = q;
      if (!trim_line(&a, &b)) break;
    }
    if (!have) {
      rc = rt_fail(st, RT_ERR_DATA,
                   "%s: no data rows (expected lines of numbers after the header on line %llu)",
                   path, (unsigned long long)header_line);
      goto done;
    }
  }
  char *a = p, *b = q;
  trim_line(&a, &b);
  char delim = resolve_delim(opt->delimiter, a, b);
  size_t columns = count_fields(delim, a, b);
  if (opt->label_column >= 0 && (size_t)opt->label_column >= columns) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s:%llu: label_column %d is out of range: the first data line has %zu column%s "
                 "(expected label_column < %zu, or -1 for none)",
                 path, (unsigned long long)lineno, opt->label_column, columns,
                 columns == 1 ? "" : "s", columns);
    goto done;
  }
  size_t has_label = opt->label_column >= 0 ? 1 : 0;
  if (columns - has_label == 0) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s:%llu: no feature columns: the data has 1 column and it is the label "
                 "(label_column %d)",
                 path, (unsigned long long)lineno, opt->label_column);
    goto done;
  }
  info->format = RT_FORMAT_CSV;
  info->columns = columns;
  info->features = columns - has_label;
  info->has_label = (int)has_label;
  info->has_header = header ? 1 : 0;
  info->delimiter = delim;
  info->data_begin = off;
  info->data_end = size;
  info->rows = 0;

done:
  src_free(&src);
  {
    rt_code crc = rt_data_close(fd, path, st);
    if (rc == RT_OK) rc = crc;
  }
  return rc;
}

/* Grows the shard's x (aligned) and y to hold `ncap` rows. */
static rt_code grow_rows(const csv_ctx *c, rt_shard *out, size_t features, size_t *cap, size_t ncap,
                         rt_status *st) {
  if (ncap <= *cap) return RT_OK;
  if (features && ncap > SIZE_MAX / sizeof(float) / features)
    return rt_fail(st, RT_ERR_NOMEM, "%s: too many rows for memory", c->path);
  float *nx = NULL;
  rt_code rc;
  RT_TRY(rc, rt_data_alloc_floats(ncap * features, &nx, c->path, st));
  if (out->x && out->rows) memcpy(nx, out->x, out->rows * features * sizeof(float));
  if (c->label >= 0) {
    float *ny = realloc(out->y, ncap * sizeof(float));
    if (!ny) {
      free(nx);
      return rt_fail(st, RT_ERR_NOMEM, "%s: cannot allocate labels for %zu rows", c->path, ncap);
    }
    out->y = ny;
  }
  free(out->x);
  out->x = nx;
  *cap = ncap;
  return RT_OK;
}

/* Opens the lines that start in the cut range [c0, c1): *src is positioned at the first line
 * start >= c0 (everything up to the first '\n' at or after c0-1 is skipped); the caller stops
 * at the first line that starts at or after c1. */
static rt_code range_lines(const char *path, int fd, const rt_data_info *info, uint64_t c0,
                           uint64_t c1, line_src *src, rt_status *st) {
  const uint64_t b0 = info->data_begin, b1 = info->data_end;
  rt_code rc;
  RT_TRY(rc, src_init(src, path, fd, c0 == b0 ? b0 : c0 - 1, b1, c1, st));
  if (c0 != b0) {
    char *p, *q;
    uint64_t off;
    int have;
    RT_TRY(rc, src_next(src, &p, &q, &off, &have, st));
  }
  return RT_OK;
}

/* Reads the rows whose lines start in [c0, c1) (first_row_only: stops once out->first_row is
 * known, reading no row). */
static rt_code read_range(const rt_data_options *opt, const rt_data_info *info, uint64_t c0,
                          uint64_t c1, int first_row_only, rt_shard *out, rt_status *st) {
  const char *path = opt->path;
  if (info->delimiter != ',' && info->delimiter != ' ')
    return rt_fail(st, RT_ERR_INTERNAL, "%s: data info has no delimiter (was it probed?)", path);
  if (info->data_begin > info->data_end)
    return rt_fail(st, RT_ERR_INTERNAL, "%s: data info has a bad byte range", path);
  int fd;
  uint64_t size;
  rt_code rc;
  RT_TRY(rc, rt_data_open(path, &fd, &size, st));
  line_src src;
  memset(&src, 0, sizeof src);
  if (size != info->data_end) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: file is %llu bytes, expected %llu (did it change since it "
                 "was probed?)",
                 path, (unsigned long long)size, (unsigned long long)info->data_end);
    goto done;
  }
  const uint64_t b1 = info->data_end;
  csv_ctx c = {path, fd, info->delimiter, info->columns, opt->label_column};
  const size_t features = info->features;
  rc = range_lines(path, fd, info, c0, c1, &src, st);
  if (rc != RT_OK) goto done;
  char *p, *q;
  uint64_t off = 0;
  int have = 0;
  size_t cap = 0;
  int first_line = 1, first_seen = 0;
  for (;;) {
    rc = src_next(&src, &p, &q, &off, &have, st);
    if (rc != RT_OK) goto done;
    if (first_line) {
      /* Kept when the shard has no rows: its snapped start (the first line start >= c0). */
      out->first_row = have ? off : b1;
      first_line = 0;
    }
    if (!have || off >= c1) break;
    if (trim_line(&p, &q)) continue;
    if (!first_seen) {
      out->first_row = off;
      first_seen = 1;
      if (first_row_only) break;
    }
    if (out->rows == cap) {
      size_t ncap;
      if (cap == 0) {
        uint64_t est = (c1 - off) / ((uint64_t)(q - p) + 1);
        est += est / 8 + 16;
        ncap = est > (uint64_t)(SIZE_MAX / 2) ? SIZE_MAX / 2 : (size_t)est;
      } else {
        uint64_t per_row = (off - out->first_row) / out->rows + 1;
        uint64_t est = out->rows + (c1 - off) / per_row;
        est += est / 8 + 16;
        ncap = cap + cap / 4 + 16;
        if (est > ncap && est < (uint64_t)(SIZE_MAX / 2)) ncap = (size_t)est;
      }
      rc = grow_rows(&c, out, features, &cap, ncap, st);
      if (rc != RT_OK) goto done;
    }
    float yv = 0.0f;
    rc = parse_row(&c, p, q, off, out->x + out->rows * features, &yv, st);
    if (rc != RT_OK) goto done;
    if (c.label >= 0) out->y[out->rows] = yv;
    out->rows++;
  }
  if (out->rows == 0) {
    free(out->x);
    free(out->y);
    out->x = NULL;
    out->y = NULL;
  }

done:
  src_free(&src);
  {
    rt_code crc = rt_data_close(fd, path, st);
    if (rc == RT_OK) rc = crc;
  }
  return rc;
}

/* The cut range [c0, c1) of logical shard `shard` of `nshards`. */
static void shard_range(const rt_data_info *info, size_t shard, size_t nshards, uint64_t *c0,
                        uint64_t *c1) {
  const uint64_t b0 = info->data_begin, span = info->data_end - b0;
  *c0 = rt_data_cut(b0, span, shard, nshards);
  *c1 = rt_data_cut(b0, span, shard + 1, nshards);
}

rt_code rt_csv_read_shard(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                          size_t nshards, rt_shard *out, rt_status *st) {
  uint64_t c0, c1;
  shard_range(info, shard, nshards, &c0, &c1);
  return read_range(opt, info, c0, c1, 0, out, st);
}

rt_code rt_csv_read_piece(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                          size_t nshards, size_t piece, size_t npieces, rt_shard *out,
                          rt_status *st) {
  uint64_t c0, c1;
  shard_range(info, shard, nshards, &c0, &c1);
  memset(out, 0, sizeof *out);
  out->features = info->features;
  rt_code rc = read_range(opt, info, rt_data_cut(c0, c1 - c0, piece, npieces),
                          rt_data_cut(c0, c1 - c0, piece + 1, npieces), 0, out, st);
  if (rc != RT_OK) rt_shard_free(out);
  return rc;
}

rt_code rt_csv_shard_first_row(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                               size_t nshards, uint64_t *first_row, rt_status *st) {
  rt_shard sh;
  memset(&sh, 0, sizeof sh);
  uint64_t c0, c1;
  shard_range(info, shard, nshards, &c0, &c1);
  rt_code rc = read_range(opt, info, c0, c1, 1, &sh, st);
  *first_row = sh.first_row;
  rt_shard_free(&sh);
  return rc;
}
