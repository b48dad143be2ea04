/* CSV / whitespace-delimited text reader.
 *
 * Lines end with '\n' (a '\r' before it is dropped). Blank lines (empty, or only spaces, tabs and
 * '\r') are skipped everywhere. A UTF-8 byte order mark at the start of the file is ignored.
 * Fields: with ',' they are separated by commas and trimmed of spaces/tabs; with ' ' they are
 * separated by runs of spaces/tabs (leading/trailing ones ignored). Every field is read as strtof
 * reads it (bit for bit: parse_float.c's fast path rt_lines_where it is sure, strtof itself otherwise) and
 * must be consumed entirely and be finite.
 *
 * Shards: the data bytes [B0, B1) (B0 = info->data_begin, B1 = file size) are cut at
 * c(s) = B0 + s*(B1-B0)/S (128-bit product). A line starting at byte p belongs to shard s iff
 * snap(c(s)) <= p < snap(c(s+1)), rt_lines_where snap(c) is the first line start >= c. That is the same as
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
#include "line_source.h"
#include "parse_float.h"

/* Next field of a trimmed, non-blank line: returns 0 when there are no more fields.
 * *cursor is rt_lines_where the previous field ended (initially the line start). */
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
    while (a < b && rt_is_blank(*a)) ++a;
    while (b > a && rt_is_blank(b[-1])) --b;
    *fa = a;
    *fb = b;
    *cursor = e;
    return 1;
  }
  while (s < q && rt_is_blank(*s)) ++s;
  if (s >= q) return 0;
  char *e = s;
  while (e < q && !rt_is_blank(*e)) ++e;
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

typedef struct csv_ctx {
  const char *path;
  int fd;
  char delim;
  size_t columns;
  long label; /* -1 = none */
} csv_ctx;

static rt_code column_count_error(const csv_ctx *c, uint64_t off, size_t found, rt_status *st) {
  char loc[RT_MESSAGE_MAX];
  rt_lines_where(loc, sizeof loc, c->fd, c->path, off);
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
    while (s < q && rt_is_blank(*s)) ++s;
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
    while (s < q && rt_is_blank(*s)) ++s;
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
      rt_lines_where(loc, sizeof loc, c->fd, c->path, off);
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
  rt_lines src;
  rc = rt_lines_init(&src, path, fd, 0, size, 0, st);
  if (rc != RT_OK) goto done;

  char *p, *q;
  uint64_t off = 0, lineno = 0;
  int have = 0;
  /* First non-blank line. */
  for (;;) {
    rc = rt_lines_next(&src, &p, &q, &off, &have, st);
    if (rc != RT_OK) goto done;
    if (!have) break;
    ++lineno;
    if (off == 0 && q - p >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
        (unsigned char)p[2] == 0xBF) {
      p += 3;
      off = 3;
    }
    char *a = p, *b = q;
    if (!rt_lines_trim(&a, &b)) break;
  }
  if (!have) {
    rc = rt_fail(st, RT_ERR_DATA, "%s: no data rows (%s)", path,
                 size == 0 ? "the file is empty" : "the file has only blank lines");
    goto done;
  }
  int header = opt->header;
  if (header < 0) {
    char *a = p, *b = q;
    rt_lines_trim(&a, &b);
    header = looks_like_header(resolve_delim(opt->delimiter, a, b), a, b);
  }
  uint64_t header_line = lineno;
  if (header) {
    for (;;) {
      rc = rt_lines_next(&src, &p, &q, &off, &have, st);
      if (rc != RT_OK) goto done;
      if (!have) break;
      ++lineno;
      char *a = p, *b = q;
      if (!rt_lines_trim(&a, &b)) break;
    }
    if (!have) {
      rc = rt_fail(st, RT_ERR_DATA,
                   "%s: no data rows (expected lines of numbers after the header on line %llu)",
                   path, (unsigned long long)header_line);
      goto done;
    }
  }
  char *a = p, *b = q;
  rt_lines_trim(&a, &b);
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
  rt_lines_free(&src);
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
  rt_lines src;
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
  rc = rt_lines_range(path, fd, info, c0, c1, &src, st);
  if (rc != RT_OK) goto done;
  char *p, *q;
  uint64_t off = 0;
  int have = 0;
  size_t cap = 0;
  int first_line = 1, first_seen = 0;
  for (;;) {
    rc = rt_lines_next(&src, &p, &q, &off, &have, st);
    if (rc != RT_OK) goto done;
    if (first_line) {
      /* Kept when the shard has no rows: its snapped start (the first line start >= c0). */
      out->first_row = have ? off : b1;
      first_line = 0;
    }
    if (!have || off >= c1) break;
    if (rt_lines_trim(&p, &q)) continue;
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
  rt_lines_free(&src);
  {
    rt_code crc = rt_data_close(fd, path, st);
    if (rc == RT_OK) rc = crc;
  }
  return rc;
}

rt_code rt_csv_read_shard(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                          size_t nshards, rt_shard *out, rt_status *st) {
  uint64_t c0, c1;
  rt_data_shard_range(info, shard, nshards, &c0, &c1);
  return read_range(opt, info, c0, c1, 0, out, st);
}

rt_code rt_csv_read_piece(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                          size_t nshards, size_t piece, size_t npieces, rt_shard *out,
                          rt_status *st) {
  uint64_t c0, c1;
  rt_data_shard_range(info, shard, nshards, &c0, &c1);
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
  rt_data_shard_range(info, shard, nshards, &c0, &c1);
  rt_code rc = read_range(opt, info, c0, c1, 1, &sh, st);
  *first_row = sh.first_row;
  rt_shard_free(&sh);
  return rc;
}
