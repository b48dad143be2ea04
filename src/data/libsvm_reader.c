/* LIBSVM / SVMlight reader: sparse rows "label [qid:n] index:value index:value ... [# comment]".
 *
 * Lines end with '\n' ('\r' before it dropped); blank lines and lines whose first non-blank byte
 * is '#' are skipped. The label is a number (read as the CSV reader reads numbers: strtof's bits);
 * a qid:n token right after it is ignored; then index:value pairs separated by spaces or tabs,
 * indices decimal and strictly increasing within a line, values finite numbers. Everything after
 * a '#' is a comment. Shards are cut by bytes, exactly as CSV shards are (line_source.h).
 *
 * Indices: the file's first index (the base) is 0 when an index 0 appears anywhere in the file,
 * else 1 (as scikit-learn's load_svmlight_file decides with zero_based="auto"), unless the options
 * give it; the feature count is the largest index - base + 1 unless the options give it. The
 * probe reads the whole file once to learn both (and the rows and non-zeros), so every rank cuts
 * and numbers the same way. Shards are CSR (rt_shard.indptr/indices/values): memory grows with
 * the non-zeros. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"
#include "line_source.h"
#include "parse_float.h"

/* A number token [a, b) read as strtof reads it (the fast path where it is sure). 0 on failure. */
static int number(const char *a, const char *b, float *v) {
  if (a == b) return 0;
  const char *e;
  if (!(rt_scan_float(a, b, v, &e) && e == b)) {
    char buf[64];
    const size_t n = (size_t)(b - a);
    if (n >= sizeof buf) return 0;
    memcpy(buf, a, n);
    buf[n] = '\0';
    char *end = NULL;
    *v = strtof(buf, &end);
    if (end != buf + n) return 0;
  }
  return isfinite(*v);
}

/* One token's text for messages: at most 40 bytes, non-printable bytes as '?'. */
static void token_text(const char *a, const char *b, char *out, size_t cap) {
  size_t k = 0;
  for (const char *p = a; p < b && k + 4 < cap && k < 40; ++p)
    out[k++] = (*p >= 0x20 && *p < 0x7f && *p != '\'') ? *p : '?';
  if (b - a > 40) out[k++] = '.', out[k++] = '.', out[k++] = '.';
  out[k] = '\0';
}

typedef struct parsed_line {
  float label;
  size_t count; /* pairs */
} parsed_line;

/* Parses one trimmed, non-blank, non-comment line. Pairs go to idx/val (grown as needed) from
 * *used on; indices are checked against [base, base + features) when features > 0, and the
 * smallest and largest seen are tracked. Errors name the file and line. */
typedef struct line_ctx {
  const char *path;
  int fd;
  int base;        /* -1: not known yet (probe) */
  size_t features; /* 0: not known yet (probe) */
  uint64_t min_index, max_index;
  uint32_t *idx;
  float *val;
  size_t used, cap;
} line_ctx;

static rt_code line_error(const line_ctx *c, uint64_t off, rt_status *st, const char *fmt,
                          const char *tok_a, const char *tok_b, uint64_t n) {
  char loc[RT_MESSAGE_MAX], tok[64];
  rt_lines_where(loc, sizeof loc, c->fd, c->path, off);
  token_text(tok_a, tok_b, tok, sizeof tok);
  char what[RT_MESSAGE_MAX];
  snprintf(what, sizeof what, fmt, tok, (unsigned long long)n);
  return rt_fail(st, RT_ERR_DATA, "%s: %s", loc, what);
}

static rt_code parse_line(line_ctx *c, const char *p, const char *q, uint64_t off, parsed_line *out,
                          rt_status *st) {
  const char *hash = memchr(p, '#', (size_t)(q - p));
  if (hash) q = hash;
  while (q > p && rt_is_blank(q[-1])) --q;
  const char *s = p;
  const char *e = s;
  while (e < q && !rt_is_blank(*e)) ++e;
  if (!number(s, e, &out->label))
    return line_error(c, off, st, "expected a finite number as the label, found '%s'", s, e, 0);
  out->count = 0;
  uint64_t prev = 0;
  int first = 1;
  for (s = e;;) {
    while (s < q && rt_is_blank(*s)) ++s;
    if (s >= q) break;
    e = s;
    while (e < q && !rt_is_blank(*e)) ++e;
    const char *colon = memchr(s, ':', (size_t)(e - s));
    if (!colon) return line_error(c, off, st, "expected index:value, found '%s'", s, e, 0);
    if (first && colon - s == 3 && memcmp(s, "qid", 3) == 0) { /* qid:n is ignored */
      first = 0;
      s = e;
      continue;
    }
    first = 0;
    uint64_t index = 0;
    const char *d = s;
    for (; d < colon && (unsigned)(*d - '0') < 10u; ++d) {
      if (index > UINT32_MAX) break;
      index = index * 10 + (uint64_t)(*d - '0');
    }
    if (d == s || d != colon || index > UINT32_MAX)
      return line_error(c, off, st,
                        "expected index:value with a whole-number index below 2^32, found '%s'", s,
                        e, 0);
    float v;
    if (!number(colon + 1, e, &v))
      return line_error(c, off, st, "expected index:value with a finite number value, found '%s'",
                        s, e, 0);
    if (out->count > 0 && index <= prev)
      return line_error(c, off, st, "indices must increase along a line: '%s' follows index %llu",
                        s, e, prev);
    if (c->base >= 0 && index < (uint64_t)c->base)
      return line_error(c, off, st, "index in '%s' is below the first index, %llu", s, e,
                        (uint64_t)c->base);
    if (c->features > 0 && c->base >= 0 && index - (uint64_t)c->base >= c->features)
      return line_error(c, off, st,
                        "index in '%s' is past the %llu features (expected indices "
                        "of the training data's columns)",
                        s, e, c->features);
    prev = index;
    if (index < c->min_index) c->min_index = index;
    if (index > c->max_index) c->max_index = index;
    if (c->idx || c->val) {
      if (c->used == c->cap) {
        const size_t ncap = c->cap ? c->cap * 2 : 1024;
        uint32_t *ni = realloc(c->idx, ncap * sizeof *ni);
        if (ni) c->idx = ni;
        float *nv = ni ? realloc(c->val, ncap * sizeof *nv) : NULL;
        if (nv) c->val = nv;
        if (!ni || !nv)
          return rt_fail(st, RT_ERR_NOMEM, "%s: cannot allocate %zu non-zeros", c->path, ncap);
        c->cap = ncap;
      }
      c->idx[c->used] = (uint32_t)(index - (uint64_t)(c->base > 0 ? c->base : 0));
      c->val[c->used] = v;
      c->used++;
    }
    out->count++;
    s = e;
  }
  return RT_OK;
}

rt_code rt_libsvm_probe(const rt_data_options *opt, rt_data_info *info, rt_status *st) {
  const char *path = opt->path;
  int fd;
  uint64_t size;
  rt_code rc;
  RT_TRY(rc, rt_data_open(path, &fd, &size, st));
  rt_lines src;
  rc = rt_lines_init(&src, path, fd, 0, size, size, st);
  line_ctx c = {path, fd, -1, 0, UINT64_MAX, 0, NULL, NULL, 0, 0};
  uint64_t rows = 0, nonzeros = 0;
  for (int have = 1; rc == RT_OK;) {
    char *p, *q;
    uint64_t off;
    rc = rt_lines_next(&src, &p, &q, &off, &have, st);
    if (rc != RT_OK || !have) break;
    if (rt_lines_trim(&p, &q) || *p == '#') continue;
    parsed_line pl;
    rc = parse_line(&c, p, q, off, &pl, st);
    ++rows;
    nonzeros += pl.count;
  }
  rt_lines_free(&src);
  {
    rt_code crc = rt_data_close(fd, path, st);
    if (rc == RT_OK) rc = crc;
  }
  if (rc != RT_OK) return rc;
  if (rows == 0)
    return rt_fail(st, RT_ERR_DATA, "%s: no data rows (expected lines 'label index:value ...')",
                   path);
  const int base = opt->libsvm_base > 0 ? opt->libsvm_base - 1 : c.min_index == 0 ? 0 : 1;
  if (nonzeros && c.min_index < (uint64_t)base)
    return rt_fail(st, RT_ERR_DATA, "%s: has index %llu, below the first index %d", path,
                   (unsigned long long)c.min_index, base);
  size_t features = opt->libsvm_features;
  const uint64_t needed = nonzeros ? c.max_index - (uint64_t)base + 1 : 1;
  if (features == 0) features = (size_t)needed;
  else if (needed > features)
    return rt_fail(st, RT_ERR_DATA,
                   "%s: has index %llu, past the %zu features of the training data (first index "
                   "%d)",
                   path, (unsigned long long)c.max_index, features, base);
  if (opt->label_column > 0)
    return rt_fail(st, RT_ERR_CONFIG,
                   "%s: label_column %d: a LIBSVM file's label is its first token (expected "
                   "label_column 0 or -1)",
                   path, opt->label_column);
  info->format = RT_FORMAT_LIBSVM;
  info->features = features;
  info->columns = features + 1;
  info->has_label = 1;
  info->data_begin = 0;
  info->data_end = size;
  info->rows = rows;
  info->nonzeros = nonzeros;
  info->libsvm_base = base;
  return RT_OK;
}

rt_code rt_libsvm_read_range(const rt_data_options *opt, const rt_data_info *info, uint64_t c0,
                             uint64_t c1, rt_shard *out, rt_status *st) {
  const char *path = opt->path;
  int fd;
  uint64_t size;
  rt_code rc;
  RT_TRY(rc, rt_data_open(path, &fd, &size, st));
  if (size != info->data_end) {
    rt_data_close(fd, path, NULL);
    return rt_fail(st, RT_ERR_DATA,
                   "%s: file is %llu bytes, expected %llu (did it change since it "
                   "was probed?)",
                   path, (unsigned long long)size, (unsigned long long)info->data_end);
  }
  rt_lines src;
  memset(&src, 0, sizeof src);
  line_ctx c = {path, fd, info->libsvm_base, info->features, UINT64_MAX, 0, NULL, NULL, 0, 0};
  size_t rows = 0, cap = 0;
  uint64_t *indptr = NULL;
  float *y = NULL;
  int first_line = 1, first_seen = 0;
  rc = rt_lines_range(path, fd, info, c0, c1, &src, st);
  /* idx/val non-NULL switches parse_line to storing pairs. */
  c.idx = malloc(1024 * sizeof *c.idx);
  c.val = malloc(1024 * sizeof *c.val);
  c.cap = 1024;
  if (rc == RT_OK && (!c.idx || !c.val))
    rc = rt_fail(st, RT_ERR_NOMEM, "%s: cannot allocate non-zeros", path);
  while (rc == RT_OK) {
    char *p, *q;
    uint64_t off = 0;
    int have = 0;
    rc = rt_lines_next(&src, &p, &q, &off, &have, st);
    if (rc != RT_OK) break;
    if (first_line) {
      out->first_row = have ? off : info->data_end;
      first_line = 0;
    }
    if (!have || off >= c1) break;
    if (rt_lines_trim(&p, &q) || *p == '#') continue;
    if (!first_seen) out->first_row = off, first_seen = 1;
    if (rows + 1 >= cap) {
      const size_t ncap = cap ? cap * 2 : 1024;
      uint64_t *np = realloc(indptr, (ncap + 1) * sizeof *np);
      if (np) indptr = np;
      float *ny = np ? realloc(y, ncap * sizeof *ny) : NULL;
      if (ny) y = ny;
      if (!np || !ny) {
        rc = rt_fail(st, RT_ERR_NOMEM, "%s: cannot allocate %zu rows", path, ncap);
        break;
      }
      cap = ncap;
    }
    if (rows == 0) indptr[0] = 0;
    parsed_line pl;
    rc = parse_line(&c, p, q, off, &pl, st);
    if (rc != RT_OK) break;
    y[rows] = pl.label;
    indptr[rows + 1] = c.used;
    ++rows;
  }
  rt_lines_free(&src);
  {
    rt_code crc = rt_data_close(fd, path, st);
    if (rc == RT_OK) rc = crc;
  }
  if (rc != RT_OK || rows == 0) {
    free(indptr), free(y), free(c.idx), free(c.val);
    return rc;
  }
  out->rows = rows;
  out->features = info->features;
  out->indptr = indptr;
  out->y = opt->label_column >= 0 ? y : (free(y), NULL);
  out->indices = c.idx;
  out->values = c.val;
  return RT_OK;
}
