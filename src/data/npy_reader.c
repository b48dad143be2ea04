/* .npy reader: format versions 1.0, 2.0 and 3.0, 2-D C-order arrays of little-endian float32,
 * float64, uint8, int32 or int64, converted to float32 (C casts; non-finite values rejected).
 *
 * Shard s of S holds rows [s*N/S, (s+1)*N/S); reading it seeks to
 * payload + first_row*columns*itemsize and reads only those rows. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

#define NPY_MAX_HEADER ((uint64_t)16 << 20)
#define NPY_MAX_DIMS 32

typedef struct npy_dtype_entry {
  const char *descr;
  rt_npy_dtype dtype;
  size_t itemsize;
} npy_dtype_entry;

static const npy_dtype_entry npy_dtypes[] = {
    {"<f4", RT_NPY_F32, 4}, {"<f8", RT_NPY_F64, 8}, {"|u1", RT_NPY_U8, 1},
    {"<u1", RT_NPY_U8, 1},  {"<i4", RT_NPY_I32, 4}, {"<i8", RT_NPY_I64, 8},
};

size_t rt_npy_itemsize(int dtype) {
  switch (dtype) {
    case RT_NPY_F32: return 4;
    case RT_NPY_F64: return 8;
    case RT_NPY_U8: return 1;
    case RT_NPY_I32: return 4;
    case RT_NPY_I64: return 8;
    default: return 0;
  }
}

/* ---- header dict parser (a small subset of Python literals) ---- */

typedef struct hparse {
  const char *s;
  size_t n, i;
  uint64_t base; /* file offset of s[0], for messages */
  const char *path;
  rt_status *st;
} hparse;

typedef enum { V_STR, V_BOOL, V_NONE, V_INT, V_SEQ, V_OTHER } vkind;

typedef struct hvalue {
  vkind kind;
  const char *str; /* V_STR: contents without quotes (escapes left as they are) */
  size_t len;
  int b;                       /* V_BOOL */
  uint64_t ints[NPY_MAX_DIMS]; /* V_SEQ of non-negative integers */
  size_t nints;
  int seq_ints_only; /* V_SEQ: every element was an integer and there were <= NPY_MAX_DIMS */
  uint64_t at;       /* file offset where the value starts */
} hvalue;

static void hp_ws(hparse *h) {
  while (h->i < h->n &&
         (h->s[h->i] == ' ' || h->s[h->i] == '\t' || h->s[h->i] == '\n' || h->s[h->i] == '\r'))
    ++h->i;
}

static rt_code hp_error(hparse *h, const char *expected) {
  char found[24];
  if (h->i >= h->n) {
    snprintf(found, sizeof found, "end of header");
  } else {
    unsigned char c = (unsigned char)h->s[h->i];
    if (c >= 0x20 && c < 0x7f) snprintf(found, sizeof found, "'%c'", c);
    else snprintf(found, sizeof found, "byte 0x%02x", c);
  }
  return rt_fail(h->st, RT_ERR_DATA, "%s: bad .npy header at byte %llu: expected %s, found %s",
                 h->path, (unsigned long long)(h->base + h->i), expected, found);
}

static rt_code hp_value(hparse *h, hvalue *v, int depth);

static rt_code hp_string(hparse *h, const char **str, size_t *len) {
  char q = h->s[h->i];
  size_t start = ++h->i;
  while (h->i < h->n && h->s[h->i] != q) {
    if (h->s[h->i] == '\\') ++h->i;
    ++h->i;
  }
  if (h->i >= h->n) return hp_error(h, "a closing quote");
  *str = h->s + start;
  *len = h->i - start;
  ++h->i;
  return RT_OK;
}

static rt_code hp_value(hparse *h, hvalue *v, int depth) {
  memset(v, 0, sizeof *v);
  hp_ws(h);
  v->at = h->base + h->i;
  if (h->i >= h->n) return hp_error(h, "a value");
  char c = h->s[h->i];
  if (c == '\'' || c == '"') {
    v->kind = V_STR;
    return hp_string(h, &v->str, &v->len);
  }
  if (c == '(' || c == '[') {
    if (depth > 8) return hp_error(h, "less deeply nested values");
    char close = c == '(' ? ')' : ']';
    ++h->i;
    v->kind = V_SEQ;
    v->seq_ints_only = 1;
    for (;;) {
      hp_ws(h);
      if (h->i < h->n && h->s[h->i] == close) {
        ++h->i;
        return RT_OK;
      }
      hvalue *e = malloc(sizeof *e);
      if (!e) return rt_fail(h->st, RT_ERR_NOMEM, "%s: out of memory parsing the header", h->path);
      rt_code rc = hp_value(h, e, depth + 1);
      if (rc == RT_OK) {
        if (e->kind == V_INT && v->nints < NPY_MAX_DIMS) v->ints[v->nints++] = e->ints[0];
        else v->seq_ints_only = 0;
      }
      free(e);
      if (rc != RT_OK) return rc;
      hp_ws(h);
      if (h->i < h->n && h->s[h->i] == ',') {
        ++h->i;
        continue;
      }
      if (h->i < h->n && h->s[h->i] == close) {
        ++h->i;
        return RT_OK;
      }
      return hp_error(h, close == ')' ? "',' or ')'" : "',' or ']'");
    }
  }
  if (c >= '0' && c <= '9') {
    uint64_t x = 0;
    while (h->i < h->n && h->s[h->i] >= '0' && h->s[h->i] <= '9') {
      uint64_t d = (uint64_t)(h->s[h->i] - '0');
      if (x > (UINT64_MAX - d) / 10) return hp_error(h, "a smaller integer");
      x = x * 10 + d;
      ++h->i;
    }
    if (h->i < h->n && (h->s[h->i] == 'L' || h->s[h->i] == 'l')) ++h->i; /* Python 2 long */
    v->kind = V_INT;
    v->ints[0] = x;
    return RT_OK;
  }
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_') {
    size_t start = h->i;
    while (h->i < h->n &&
           ((h->s[h->i] >= 'A' && h->s[h->i] <= 'Z') || (h->s[h->i] >= 'a' && h->s[h->i] <= 'z') ||
            (h->s[h->i] >= '0' && h->s[h->i] <= '9') || h->s[h->i] == '_'))
      ++h->i;
    size_t len = h->i - start;
    if (len == 4 && memcmp(h->s + start, "True", 4) == 0) {
      v->kind = V_BOOL;
      v->b = 1;
    } else if (len == 5 && memcmp(h->s + start, "False", 5) == 0) {
      v->kind = V_BOOL;
      v->b = 0;
    } else if (len == 4 && memcmp(h->s + start, "None", 4) == 0) {
      v->kind = V_NONE;
    } else {
      h->i = start;
      return hp_error(h, "True, False, None, a string, a number or a tuple");
    }
    return RT_OK;
  }
  if (c == '-' || c == '+' || c == '.') {
    /* A number we never need (e.g. in an unknown key): skip it. */
    ++h->i;
    while (h->i < h->n &&
           ((h->s[h->i] >= '0' && h->s[h->i] <= '9') || h->s[h->i] == '.' || h->s[h->i] == 'e' ||
            h->s[h->i] == 'E' || h->s[h->i] == '-' || h->s[h->i] == '+'))
      ++h->i;
    v->kind = V_OTHER;
    return RT_OK;
  }
  return hp_error(h, "a value");
}

typedef struct npy_header {
  int have_descr, have_fortran, have_shape;
  hvalue descr, fortran, shape;
} npy_header;

static rt_code hp_dict(hparse *h, npy_header *hd) {
  hp_ws(h);
  if (h->i >= h->n || h->s[h->i] != '{') return hp_error(h, "'{' (a Python dict)");
  ++h->i;
  for (;;) {
    hp_ws(h);
    if (h->i < h->n && h->s[h->i] == '}') {
      ++h->i;
      break;
    }
    if (h->i >= h->n || (h->s[h->i] != '\'' && h->s[h->i] != '"'))
      return hp_error(h, "a quoted key or '}'");
    const char *key = NULL;
    size_t klen = 0;
    rt_code rc;
    RT_TRY(rc, hp_string(h, &key, &klen));
    hp_ws(h);
    if (h->i >= h->n || h->s[h->i] != ':') return hp_error(h, "':'");
    ++h->i;
    hvalue tmp, *dst = &tmp;
    int *seen = NULL;
    if (klen == 5 && memcmp(key, "descr", 5) == 0) {
      dst = &hd->descr;
      seen = &hd->have_descr;
    } else if (klen == 13 && memcmp(key, "fortran_order", 13) == 0) {
      dst = &hd->fortran;
      seen = &hd->have_fortran;
    } else if (klen == 5 && memcmp(key, "shape", 5) == 0) {
      dst = &hd->shape;
      seen = &hd->have_shape;
    }
    if (seen && *seen)
      return rt_fail(h->st, RT_ERR_DATA, "%s: bad .npy header: key '%.*s' appears twice", h->path,
                     (int)klen, key);
    RT_TRY(rc, hp_value(h, dst, 0));
    if (seen) *seen = 1;
    hp_ws(h);
    if (h->i < h->n && h->s[h->i] == ',') {
      ++h->i;
      continue;
    }
    if (h->i < h->n && h->s[h->i] == '}') {
      ++h->i;
      break;
    }
    return hp_error(h, "',' or '}'");
  }
  /* Padding: spaces and the final newline (tolerate NULs too). */
  while (h->i < h->n && (h->s[h->i] == ' ' || h->s[h->i] == '\t' || h->s[h->i] == '\n' ||
                         h->s[h->i] == '\r' || h->s[h->i] == '\0'))
    ++h->i;
  if (h->i < h->n) return hp_error(h, "only padding after the dict");
  return RT_OK;
}

static void format_shape(const hvalue *shape, char *out, size_t outsz) {
  size_t k = 0;
  k += (size_t)snprintf(out + k, outsz - k, "(");
  for (size_t i = 0; i < shape->nints && k < outsz; ++i)
    k += (size_t)snprintf(out + k, outsz - k, "%s%llu", i ? ", " : "",
                          (unsigned long long)shape->ints[i]);
  if (k < outsz) snprintf(out + k, outsz - k, shape->nints == 1 ? ",)" : ")");
}

static void descr_text(const hvalue *v, char *out, size_t outsz) {
  size_t k = 0;
  for (size_t i = 0; i < v->len && k + 4 < outsz && i < 32; ++i) {
    unsigned char c = (unsigned char)v->str[i];
    out[k++] = (c >= 0x20 && c < 0x7f && c != '\'') ? (char)c : '?';
  }
  out[k] = '\0';
}

rt_code rt_npy_probe(const rt_data_options *opt, rt_data_info *info, rt_status *st) {
  const char *path = opt->path;
  int fd;
  uint64_t size;
  rt_code rc;
  RT_TRY(rc, rt_data_open(path, &fd, &size, st));
  char *htext = NULL;
  unsigned char pre[12];
  size_t got = 0;
  rc = rt_data_pread(fd, path, pre, sizeof pre, 0, &got, st);
  if (rc != RT_OK) goto done;
  static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (memcmp(pre, magic, got < 6 ? got : 6) != 0 || got == 0) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: not a .npy file: bad magic bytes at byte 0 (expected \\x93NUMPY)%s", path,
                 got == 0 ? " - the file is empty" : "");
    goto done;
  }
  if (got < 10) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: .npy header truncated at byte %zu: expected at least 10 bytes of preamble",
                 path, got);
    goto done;
  }
  unsigned major = pre[6], minor = pre[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: unsupported .npy version %u.%u at byte 6 (expected 1.0, 2.0 or 3.0)", path,
                 major, minor);
    goto done;
  }
  uint64_t hstart, hlen;
  if (major == 1) {
    hstart = 10;
    hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8;
  } else {
    if (got < 12) {
      rc = rt_fail(st, RT_ERR_DATA,
                   "%s: .npy header truncated at byte %zu: expected 12 bytes of preamble for "
                   "version %u.0",
                   path, got, major);
      goto done;
    }
    hstart = 12;
    hlen = (uint64_t)pre[8] | (uint64_t)pre[9] << 8 | (uint64_t)pre[10] << 16 |
           (uint64_t)pre[11] << 24;
  }
  if (hlen > NPY_MAX_HEADER) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: bad .npy header at byte 8: header length %llu is implausible (expected at "
                 "most %llu)",
                 path, (unsigned long long)hlen, (unsigned long long)NPY_MAX_HEADER);
    goto done;
  }
  if (hstart + hlen > size) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: .npy header truncated at byte %llu: expected %llu header bytes from byte "
                 "%llu",
                 path, (unsigned long long)size, (unsigned long long)hlen,
                 (unsigned long long)hstart);
    goto done;
  }
  htext = malloc((size_t)hlen + 1);
  if (!htext) {
    rc = rt_fail(st, RT_ERR_NOMEM, "%s: cannot allocate %llu bytes for the header", path,
                 (unsigned long long)hlen + 1);
    goto done;
  }
  rc = rt_data_pread(fd, path, htext, (size_t)hlen, hstart, &got, st);
  if (rc != RT_OK) goto done;
  if (got != hlen) {
    rc = rt_fail(st, RT_ERR_DATA, "%s: .npy header truncated at byte %llu", path,
                 (unsigned long long)(hstart + got));
    goto done;
  }
  htext[hlen] = '\0';

  npy_header hd;
  memset(&hd, 0, sizeof hd);
  hparse h = {htext, (size_t)hlen, 0, hstart, path, st};
  rc = hp_dict(&h, &hd);
  if (rc != RT_OK) goto done;
  const char *missing = !hd.have_descr     ? "descr"
                        : !hd.have_fortran ? "fortran_order"
                        : !hd.have_shape   ? "shape"
                                           : NULL;
  if (missing) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: bad .npy header: no '%s' key (expected 'descr', "
                 "'fortran_order' and 'shape')",
                 path, missing);
    goto done;
  }
  /* dtype */
  if (hd.descr.kind != V_STR) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: unsupported dtype (structured or non-string descr at byte %llu; expected "
                 "float32, float64, uint8, int32 or int64)",
                 path, (unsigned long long)hd.descr.at);
    goto done;
  }
  const npy_dtype_entry *dt = NULL;
  for (size_t i = 0; i < sizeof npy_dtypes / sizeof npy_dtypes[0]; ++i)
    if (hd.descr.len == strlen(npy_dtypes[i].descr) &&
        memcmp(hd.descr.str, npy_dtypes[i].descr, hd.descr.len) == 0)
      dt = &npy_dtypes[i];
  if (!dt) {
    char d[40];
    descr_text(&hd.descr, d, sizeof d);
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: unsupported dtype '%s' (expected %sfloat32, float64, uint8, int32 or int64)",
                 path, d, d[0] == '>' ? "little-endian " : "");
    goto done;
  }
  if (hd.fortran.kind != V_BOOL) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: bad .npy header at byte %llu: fortran_order must be True or "
                 "False",
                 path, (unsigned long long)hd.fortran.at);
    goto done;
  }
  if (hd.fortran.b) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: fortran_order is True: column-major arrays are not supported (expected C "
                 "order; save numpy.ascontiguousarray(a))",
                 path);
    goto done;
  }
  if (hd.shape.kind != V_SEQ || !hd.shape.seq_ints_only) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: bad .npy header at byte %llu: shape must be a tuple of integers", path,
                 (unsigned long long)hd.shape.at);
    goto done;
  }
  char shape_txt[128];
  format_shape(&hd.shape, shape_txt, sizeof shape_txt);
  if (hd.shape.nints != 2) {
    rc = rt_fail(st, RT_ERR_DATA, "%s: shape %s is %zu-D: expected a 2-D array (rows, columns)",
                 path, shape_txt, hd.shape.nints);
    goto done;
  }
  uint64_t rows = hd.shape.ints[0], cols = hd.shape.ints[1];
  if (cols == 0) {
    rc = rt_fail(st, RT_ERR_DATA, "%s: shape %s has no columns", path, shape_txt);
    goto done;
  }
  if (rows == 0) {
    rc = rt_fail(st, RT_ERR_DATA, "%s: no data rows (shape %s)", path, shape_txt);
    goto done;
  }
  if (cols > (uint64_t)(SIZE_MAX / 64)) {
    rc = rt_fail(st, RT_ERR_DATA, "%s: shape %s has too many columns", path, shape_txt);
    goto done;
  }
  if (opt->label_column >= 0 && (uint64_t)opt->label_column >= cols) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: label_column %d is out of range: shape %s has %llu column%s (expected "
                 "label_column < %llu, or -1 for none)",
                 path, opt->label_column, shape_txt, (unsigned long long)cols, cols == 1 ? "" : "s",
                 (unsigned long long)cols);
    goto done;
  }
  size_t has_label = opt->label_column >= 0 ? 1 : 0;
  if (cols - has_label == 0) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: no feature columns: shape %s has 1 column and it is the label "
                 "(label_column %d)",
                 path, shape_txt, opt->label_column);
    goto done;
  }
  uint64_t payload = hstart + hlen;
  unsigned __int128 need = (unsigned __int128)rows * cols * dt->itemsize;
  if (need > (unsigned __int128)(UINT64_MAX - payload)) {
    rc = rt_fail(st, RT_ERR_DATA, "%s: shape %s is too large", path, shape_txt);
    goto done;
  }
  if ((uint64_t)need > size - payload) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: payload truncated at byte %llu: expected %llu bytes of data after byte "
                 "%llu (shape %s, %zu-byte items), file has %llu",
                 path, (unsigned long long)size, (unsigned long long)need,
                 (unsigned long long)payload, shape_txt, dt->itemsize,
                 (unsigned long long)(size - payload));
    goto done;
  }
  info->format = RT_FORMAT_NPY;
  info->columns = (size_t)cols;
  info->features = (size_t)cols - has_label;
  info->has_label = (int)has_label;
  info->has_header = 0;
  info->delimiter = 0;
  info->data_begin = payload;
  info->data_end = size;
  info->rows = rows;
  info->npy_dtype = (int)dt->dtype;
  info->npy_payload = payload;

done:
  free(htext);
  {
    rt_code crc = rt_data_close(fd, path, st);
    if (rc == RT_OK) rc = crc;
  }
  return rc;
}

/* ---- payload conversion ---- */

static inline uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t le64(const unsigned char *p) {
  return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static rt_code bad_value(const rt_npy_layout *c, uint64_t row, size_t col, double v,
                         rt_status *st) {
  unsigned long long byte =
      (unsigned long long)(c->payload + ((uint64_t)row * c->cols + col) * c->itemsize);
  if (isnan(v))
    return rt_fail(st, RT_ERR_DATA,
                   "%s: element [%llu, %zu] at byte %llu is NaN (expected finite values)", c->path,
                   (unsigned long long)row, col, byte);
  if (isinf(v))
    return rt_fail(st, RT_ERR_DATA,
                   "%s: element [%llu, %zu] at byte %llu is infinite (expected finite values)",
                   c->path, (unsigned long long)row, col, byte);
  return rt_fail(st, RT_ERR_DATA,
                 "%s: element [%llu, %zu] at byte %llu: value %g overflows float32 (expected "
                 "finite float32 values)",
                 c->path, (unsigned long long)row, col, byte, v);
}

rt_code rt_npy_convert_rows(const rt_npy_layout *c, const unsigned char *src, size_t n,
                            uint64_t row0, float *x, float *y, rt_status *st) {
  const size_t cols = c->cols, lab = c->label;
  float *xo = x;
  for (size_t r = 0; r < n; ++r) {
    const unsigned char *p = src + r * cols * c->itemsize;
    for (size_t col = 0; col < cols; ++col) {
      float v;
      switch (c->dtype) {
        case RT_NPY_F32: {
          uint32_t bits = le32(p + col * 4);
          if ((bits & 0x7f800000u) == 0x7f800000u) {
            float f;
            memcpy(&f, &bits, sizeof f);
            return bad_value(c, row0 + r, col, (double)f, st);
          }
          memcpy(&v, &bits, sizeof v);
          break;
        }
        case RT_NPY_F64: {
          uint64_t bits = le64(p + col * 8);
          double d;
          memcpy(&d, &bits, sizeof d);
          if (!isfinite(d) || fabs(d) > (double)FLT_MAX) return bad_value(c, row0 + r, col, d, st);
          v = (float)d;
          break;
        }
        case RT_NPY_U8: v = (float)p[col]; break;
        case RT_NPY_I32: v = (float)(int32_t)le32(p + col * 4); break;
        default: v = (float)(int64_t)le64(p + col * 8); break;
      }
      if (col == lab) y[r] = v;
      else *xo++ = v;
    }
  }
  return RT_OK;
}

rt_code rt_npy_read_shard(const rt_data_options *opt, const rt_data_info *info, size_t shard,
                          size_t nshards, rt_shard *out, rt_status *st) {
  const char *path = opt->path;
  size_t itemsize = rt_npy_itemsize(info->npy_dtype);
  if (!itemsize || info->rows == 0)
    return rt_fail(st, RT_ERR_INTERNAL, "%s: data info has no npy dtype/rows (was it probed?)",
                   path);
  const uint64_t nrows = info->rows;
  const uint64_t r0 = rt_data_cut(0, nrows, shard, nshards),
                 r1 = rt_data_cut(0, nrows, shard + 1, nshards);
  const size_t cols = info->columns, features = info->features;
  const size_t row_bytes = cols * itemsize;
  out->first_row = r0;
  if (r1 == r0) return RT_OK;
  if ((r1 - r0) > (uint64_t)(SIZE_MAX / sizeof(float) / cols))
    return rt_fail(st, RT_ERR_NOMEM, "%s: shard %zu of %zu has too many rows for memory", path,
                   shard, nshards);
  const size_t n = (size_t)(r1 - r0);

  int fd;
  uint64_t size;
  rt_code rc;
  RT_TRY(rc, rt_data_open(path, &fd, &size, st));
  unsigned char *buf = NULL;
  const uint64_t payload = info->npy_payload;
  const uint64_t need_end = payload + nrows * row_bytes;
  if (size < need_end) {
    rc = rt_fail(st, RT_ERR_DATA,
                 "%s: payload truncated at byte %llu: expected %llu bytes of data after byte "
                 "%llu, file has %llu (did it change since it was probed?)",
                 path, (unsigned long long)size, (unsigned long long)(nrows * row_bytes),
                 (unsigned long long)payload,
                 (unsigned long long)(size > payload ? size - payload : 0));
    goto done;
  }
  rc = rt_data_alloc_floats(n * features, &out->x, path, st);
  if (rc != RT_OK) goto done;
  if (opt->label_column >= 0) {
    out->y = malloc(n * sizeof(float));
    if (!out->y) {
      rc = rt_fail(st, RT_ERR_NOMEM, "%s: cannot allocate labels for %zu rows", path, n);
      goto done;
    }
  }
  size_t chunk_rows = RT_DATA_CHUNK / row_bytes;
  if (chunk_rows == 0) chunk_rows = 1;
  if (chunk_rows > n) chunk_rows = n;
  buf = malloc(chunk_rows * row_bytes);
  if (!buf) {
    rc = rt_fail(st, RT_ERR_NOMEM, "%s: cannot allocate a %zu byte read buffer", path,
                 chunk_rows * row_bytes);
    goto done;
  }
  rt_npy_layout c = {path,
                     info->npy_dtype,
                     cols,
                     itemsize,
                     opt->label_column >= 0 ? (size_t)opt->label_column : SIZE_MAX,
                     payload};
  for (size_t done_rows = 0; done_rows < n;) {
    size_t k = n - done_rows < chunk_rows ? n - done_rows : chunk_rows;
    uint64_t at = payload + (r0 + done_rows) * row_bytes;
    size_t got = 0;
    rc = rt_data_pread(fd, path, buf, k * row_bytes, at, &got, st);
    if (rc != RT_OK) goto done;
    if (got != k * row_bytes) {
      rc = rt_fail(st, RT_ERR_DATA,
                   "%s: payload truncated at byte %llu: expected %llu bytes of data after byte "
                   "%llu (did the file change since it was probed?)",
                   path, (unsigned long long)(at + got), (unsigned long long)(nrows * row_bytes),
                   (unsigned long long)payload);
      goto done;
    }
    rc = rt_npy_convert_rows(&c, buf, k, r0 + done_rows, out->x + done_rows * features,
                             out->y ? out->y + done_rows : NULL, st);
    if (rc != RT_OK) goto done;
    done_rows += k;
  }
  out->rows = n;

done:
  free(buf);
  {
    rt_code crc = rt_data_close(fd, path, st);
    if (rc == RT_OK) rc = crc;
  }
  return rc;
}
