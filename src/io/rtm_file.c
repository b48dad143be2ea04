/* The .rtm model file format (include/ringtrain/modelfile.h): header, spec text, padding,
 * state bytes and SHA-256, encoded, written atomically, read and decoded with every field checked
 * (a damaged or truncated file is named with what is wrong); and lookups of spec-text keys.
 * Loading a model from it (spec and state that agree) is rtm_load.c. */
#include "ringtrain/modelfile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ringtrain/atomic_file.h"
#include "ringtrain/hash.h"

static const uint8_t magic[8] = {'R', 'T', 'M', 'O', 'D', 'E', 'L', '\0'};

/* Where things are in a file, derived from the header. */
typedef struct layout {
  uint64_t spec_len;  /* S */
  uint64_t state_off; /* 32 + S + padding */
  uint64_t state_len; /* T */
  uint64_t total;     /* state_off + T + 32 */
} layout;

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_u32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/* 32 + S rounded up to a multiple of 64. Caller guarantees no overflow (S <= 2^63). */
static uint64_t state_offset(uint64_t spec_len) {
  uint64_t end = RT_MODEL_FILE_HEADER_SIZE + spec_len;
  return (end + (RT_MODEL_FILE_ALIGN - 1)) / RT_MODEL_FILE_ALIGN * RT_MODEL_FILE_ALIGN;
}

/* Checks the header (hdr holds the first `avail` bytes of the file, avail <= 32) against the
 * file size and fills *lo. */
static rt_code check_header(const uint8_t *hdr, size_t avail, uint64_t file_len, const char *name,
                            layout *lo, rt_status *st) {
  size_t m = avail < sizeof magic ? avail : sizeof magic;
  if (memcmp(hdr, magic, m) != 0)
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: not a ringtrain model file (bad magic at offset 0)",
                   name);
  if (file_len < RT_MODEL_FILE_MIN_SIZE || avail < RT_MODEL_FILE_HEADER_SIZE)
    return rt_fail(st, RT_ERR_MODEL_FILE,
                   "%s: truncated at byte %" PRIu64 ": expected at least %d bytes", name, file_len,
                   RT_MODEL_FILE_MIN_SIZE);
  uint32_t version = get_u32(hdr + 8);
  if (version != RT_MODEL_FILE_VERSION)
    return rt_fail(st, RT_ERR_MODEL_FILE,
                   "%s: unsupported format version %" PRIu32 " at offset 8: expected %u", name,
                   version, RT_MODEL_FILE_VERSION);
  uint32_t flags = get_u32(hdr + 12);
  if (flags != 0)
    return rt_fail(st, RT_ERR_MODEL_FILE,
                   "%s: unsupported flags 0x%08" PRIx32 " at offset 12: expected 0", name, flags);
  uint64_t s = get_u64(hdr + 16), t = get_u64(hdr + 24);
  /* Room for the variable parts: the file minus the fixed header and the checksum. */
  uint64_t room = file_len - RT_MODEL_FILE_HEADER_SIZE - RT_SHA256_LEN;
  if (s > room)
    return rt_fail(st, RT_ERR_MODEL_FILE,
                   "%s: truncated at byte %" PRIu64 ": header says the spec is %" PRIu64
                   " bytes (offset 16), file has %" PRIu64,
                   name, file_len, s, file_len);
  if (t > room)
    return rt_fail(st, RT_ERR_MODEL_FILE,
                   "%s: truncated at byte %" PRIu64 ": header says the state is %" PRIu64
                   " bytes (offset 24), file has %" PRIu64,
                   name, file_len, t, file_len);
  /* s, t <= room < 2^64 - 64; state_offset(s) <= room + 95; the sum below cannot wrap unless
   * file_len is within 2^63 of UINT64_MAX, which is checked. */
  uint64_t off = state_offset(s);
  if (t > UINT64_MAX - RT_SHA256_LEN - off)
    return rt_fail(st, RT_ERR_MODEL_FILE,
                   "%s: truncated at byte %" PRIu64 ": header lengths (spec %" PRIu64
                   ", state %" PRIu64 ") overflow",
                   name, file_len, s, t);
  uint64_t total = off + t + RT_SHA256_LEN;
  if (total > file_len)
    return rt_fail(st, RT_ERR_MODEL_FILE,
                   "%s: truncated at byte %" PRIu64 ": header says %" PRIu64 " bytes (spec %" PRIu64
                   ", state %" PRIu64 "), file has %" PRIu64,
                   name, file_len, total, s, t, file_len);
  if (total < file_len)
    return rt_fail(st, RT_ERR_MODEL_FILE,
                   "%s: trailing garbage at byte %" PRIu64 ": header says %" PRIu64
                   " bytes, file has %" PRIu64,
                   name, total, total, file_len);
  if (t > SIZE_MAX - RT_MODEL_FILE_ALIGN || s > SIZE_MAX - 1)
    return rt_fail(st, RT_ERR_MODEL_FILE,
                   "%s: too large for this system (spec %" PRIu64 ", state %" PRIu64 ")", name, s,
                   t);
  lo->spec_len = s;
  lo->state_off = off;
  lo->state_len = t;
  lo->total = total;
  return RT_OK;
}

/* Spec text rules: no NUL, "key=value" lines with a non-empty key, final '\n'. `base` is the
 * offset of spec[0] in the file (for messages). */
static rt_code check_spec(const char *spec, uint64_t len, uint64_t base, rt_code code,
                          const char *name, rt_status *st) {
  const char *nul = memchr(spec, '\0', (size_t)len);
  if (nul)
    return rt_fail(
        st, code, "%s: invalid spec text: NUL byte at offset %" PRIu64 ": expected key=value lines",
        name, base + (uint64_t)(nul - spec));
  if (len > 0 && spec[len - 1] != '\n')
    return rt_fail(st, code,
                   "%s: invalid spec text at offset %" PRIu64 ": expected it to end with a newline",
                   name, base + len - 1);
  uint64_t i = 0;
  while (i < len) {
    const char *line = spec + i;
    const char *eol = memchr(line, '\n', (size_t)(len - i)); /* present: the text ends with '\n' */
    size_t line_len = (size_t)(eol - line);
    const char *eq = memchr(line, '=', line_len);
    if (!eq || eq == line)
      return rt_fail(st, code,
                     "%s: invalid spec text at offset %" PRIu64 ": expected a key=value line", name,
                     base + i);
    i += line_len + 1;
  }
  return RT_OK;
}

static rt_code check_padding(const uint8_t *pad, size_t n, uint64_t base, const char *name,
                             rt_status *st) {
  for (size_t i = 0; i < n; ++i)
    if (pad[i] != 0)
      return rt_fail(st, RT_ERR_MODEL_FILE,
                     "%s: nonzero padding byte at offset %" PRIu64 ": expected 0", name, base + i);
  return RT_OK;
}

/* Header + spec + padding for an encode/write (malloc'ed, *prefix_len bytes = state offset). */
static rt_code build_prefix(const char *spec_text, const void *state, size_t state_len,
                            uint8_t **prefix, size_t *prefix_len, rt_status *st) {
  *prefix = NULL;
  if (!spec_text) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "model file: spec text is NULL");
  if (!state && state_len > 0) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "model file: state is NULL");
  size_t s = strlen(spec_text);
  rt_code rc;
  RT_TRY(rc,
         check_spec(spec_text, s, RT_MODEL_FILE_HEADER_SIZE, RT_ERR_INTERNAL, "model file", st));
  if (s > SIZE_MAX / 4 || state_len > SIZE_MAX / 4)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL,
                      "model file: spec (%zu bytes) or state (%zu bytes) too large", s, state_len);
  size_t off = (size_t)state_offset(s);
  uint8_t *p = calloc(off, 1);
  if (!p) return RT_FAIL_AT(st, RT_ERR_NOMEM, "model file: cannot allocate %zu bytes", off);
  memcpy(p, magic, sizeof magic);
  put_u32(p + 8, RT_MODEL_FILE_VERSION);
  put_u32(p + 12, 0);
  put_u64(p + 16, s);
  put_u64(p + 24, state_len);
  memcpy(p + RT_MODEL_FILE_HEADER_SIZE, spec_text, s);
  *prefix = p;
  *prefix_len = off;
  return RT_OK;
}

rt_code rt_model_file_encode(const char *spec_text, const void *state, size_t state_len,
                             void **bytes, size_t *len, rt_status *st) {
  if (!bytes || !len) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_model_file_encode: NULL output");
  *bytes = NULL;
  *len = 0;
  uint8_t *prefix;
  size_t off;
  rt_code rc;
  RT_TRY(rc, build_prefix(spec_text, state, state_len, &prefix, &off, st));
  size_t total = off + state_len + RT_SHA256_LEN; /* no wrap: both parts <= SIZE_MAX / 4 */
  uint8_t *out = malloc(total);
  if (!out) {
    free(prefix);
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "model file: cannot allocate %zu bytes", total);
  }
  memcpy(out, prefix, off);
  free(prefix);
  if (state_len) memcpy(out + off, state, state_len);
  rc = rt_sha256(out, off + state_len, out + off + state_len, st);
  if (rc != RT_OK) {
    free(out);
    return rc;
  }
  *bytes = out;
  *len = total;
  return RT_OK;
}

rt_code rt_model_file_write(const char *path, const char *spec_text, const void *state,
                            size_t state_len, rt_status *st) {
  return rt_model_file_write_in(NULL, path, spec_text, state, state_len, st);
}

rt_code rt_model_file_write_in(rt_atomic_batch *batch, const char *path, const char *spec_text,
                               const void *state, size_t state_len, rt_status *st) {
  uint8_t *prefix;
  size_t off;
  rt_code rc;
  RT_TRY(rc, build_prefix(spec_text, state, state_len, &prefix, &off, st));
  /* Streamed, so the state is not copied: header+spec+padding, state, checksum. */
  rt_sha256_ctx h = {NULL};
  uint8_t digest[RT_SHA256_LEN];
  rt_atomic_file *f = NULL;
  rc = rt_sha256_init(&h, st);
  if (rc == RT_OK) rc = rt_sha256_update(&h, prefix, off, st);
  if (rc == RT_OK) rc = rt_sha256_update(&h, state, state_len, st);
  if (rc == RT_OK) rc = rt_sha256_final(&h, digest, st);
  if (rc == RT_OK) rc = rt_atomic_open(path, &f, st);
  if (rc == RT_OK) rc = rt_atomic_write(f, prefix, off, st);
  if (rc == RT_OK) rc = rt_atomic_write(f, state, state_len, st);
  if (rc == RT_OK) rc = rt_atomic_write(f, digest, sizeof digest, st);
  if (rc == RT_OK) rc = rt_atomic_commit_in(batch, &f, st);
  else rt_atomic_abort(&f);
  rt_sha256_ctx_free(&h);
  free(prefix);
  return rc;
}

void rt_model_file_free(rt_model_file *mf) {
  if (!mf) return;
  free(mf->spec_text);
  free(mf->state);
  memset(mf, 0, sizeof *mf);
}

/* Allocates the output buffers for a layout (spec with NUL, 64-byte-aligned state). */
static rt_code alloc_outputs(const layout *lo, const char *name, rt_model_file *out,
                             rt_status *st) {
  size_t s = (size_t)lo->spec_len, t = (size_t)lo->state_len;
  size_t t_alloc = t == 0
                       ? RT_MODEL_FILE_ALIGN
                       : (t + RT_MODEL_FILE_ALIGN - 1) / RT_MODEL_FILE_ALIGN * RT_MODEL_FILE_ALIGN;
  out->spec_text = malloc(s + 1);
  out->state = aligned_alloc(RT_MODEL_FILE_ALIGN, t_alloc);
  if (!out->spec_text || !out->state) {
    rt_model_file_free(out);
    return RT_FAIL_AT(st, RT_ERR_NOMEM,
                      "%s: cannot allocate memory for spec (%zu bytes) and state (%zu bytes)", name,
                      s, t);
  }
  out->version = RT_MODEL_FILE_VERSION;
  out->spec_len = s;
  out->state_len = t;
  out->spec_text[s] = '\0';
  return RT_OK;
}

/* Checksum, spec and padding checks shared by decode and read; the structure is already known
 * to be sound. `prefix` holds bytes [0, state_off). */
static rt_code check_contents(const uint8_t *prefix, const layout *lo,
                              const uint8_t stored[RT_SHA256_LEN],
                              const uint8_t computed[RT_SHA256_LEN], const char *name,
                              rt_status *st) {
  if (memcmp(stored, computed, RT_SHA256_LEN) != 0)
    return rt_fail(st, RT_ERR_MODEL_FILE, "%s: checksum mismatch: file is corrupted", name);
  uint64_t spec_end = RT_MODEL_FILE_HEADER_SIZE + lo->spec_len;
  rt_code rc = check_spec((const char *)prefix + RT_MODEL_FILE_HEADER_SIZE, lo->spec_len,
                          RT_MODEL_FILE_HEADER_SIZE, RT_ERR_MODEL_FILE, name, st);
  if (rc != RT_OK) return rc;
  return check_padding(prefix + spec_end, (size_t)(lo->state_off - spec_end), spec_end, name, st);
}

rt_code rt_model_file_decode(const void *bytes, size_t len, const char *name_for_messages,
                             rt_model_file *out, rt_status *st) {
  const char *name = name_for_messages ? name_for_messages : "model file";
  if (!out) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_model_file_decode: out is NULL");
  memset(out, 0, sizeof *out);
  if (!bytes && len > 0)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_model_file_decode: bytes is NULL");
  static const uint8_t empty[1] = {0};
  const uint8_t *b = bytes ? bytes : empty;
  layout lo;
  rt_code rc;
  RT_TRY(rc, check_header(b, len < RT_MODEL_FILE_HEADER_SIZE ? len : RT_MODEL_FILE_HEADER_SIZE, len,
                          name, &lo, st));
  uint8_t computed[RT_SHA256_LEN];
  RT_TRY(rc, rt_sha256(b, len - RT_SHA256_LEN, computed, st));
  RT_TRY(rc, check_contents(b, &lo, b + len - RT_SHA256_LEN, computed, name, st));
  RT_TRY(rc, alloc_outputs(&lo, name, out, st));
  memcpy(out->spec_text, b + RT_MODEL_FILE_HEADER_SIZE, out->spec_len);
  if (out->state_len) memcpy(out->state, b + lo.state_off, out->state_len);
  memcpy(out->sha256, b + len - RT_SHA256_LEN, RT_SHA256_LEN);
  return RT_OK;
}

/* Reads exactly n bytes at file offset `at`; a short read means the file shrank meanwhile. */
static rt_code read_exact(FILE *fp, void *buf, size_t n, uint64_t at, const char *path,
                          rt_status *st) {
  if (n == 0) return RT_OK;
  errno = 0;
  size_t got = fread(buf, 1, n, fp);
  if (got == n) return RT_OK;
  if (ferror(fp))
    return RT_FAIL_AT(st, RT_ERR_IO, "%s: read error at byte %" PRIu64 ": %s", path, at + got,
                      strerror(errno ? errno : EIO));
  return rt_fail(st, RT_ERR_MODEL_FILE,
                 "%s: truncated at byte %" PRIu64 ": expected %zu more bytes", path, at + got,
                 n - got);
}

/* Reads a whole non-regular file (pipe, FIFO) into memory. */
static rt_code slurp(FILE *fp, const char *path, uint8_t **data, size_t *len, rt_status *st) {
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  if (!buf) return RT_FAIL_AT(st, RT_ERR_NOMEM, "%s: cannot allocate read buffer", path);
  for (;;) {
    if (n == cap) {
      if (cap > SIZE_MAX / 2) {
        free(buf);
        return RT_FAIL_AT(st, RT_ERR_NOMEM, "%s: file too large", path);
      }
      uint8_t *bigger = realloc(buf, cap * 2);
      if (!bigger) {
        free(buf);
        return RT_FAIL_AT(st, RT_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, cap * 2);
      }
      buf = bigger;
      cap *= 2;
    }
    errno = 0;
    size_t got = fread(buf + n, 1, cap - n, fp);
    n += got;
    if (got == 0) {
      if (ferror(fp)) {
        int e = errno ? errno : EIO;
        free(buf);
        return RT_FAIL_AT(st, RT_ERR_IO, "%s: read error at byte %zu: %s", path, n, strerror(e));
      }
      break;
    }
  }
  *data = buf;
  *len = n;
  return RT_OK;
}

/* Streams a regular file of known size: header, spec+padding, state straight into the aligned
 * buffer, checksum; hashing on the way. */
static rt_code read_regular(FILE *fp, uint64_t file_len, const char *path, rt_model_file *out,
                            rt_status *st) {
  uint8_t hdr[RT_MODEL_FILE_HEADER_SIZE];
  size_t want = file_len < sizeof hdr ? (size_t)file_len : sizeof hdr;
  rt_code rc;
  RT_TRY(rc, read_exact(fp, hdr, want, 0, path, st));
  layout lo;
  RT_TRY(rc, check_header(hdr, want, file_len, path, &lo, st));

  size_t off = (size_t)lo.state_off;
  uint8_t *prefix = malloc(off);
  if (!prefix) return RT_FAIL_AT(st, RT_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, off);
  memcpy(prefix, hdr, sizeof hdr);
  rc = alloc_outputs(&lo, path, out, st);
  rt_sha256_ctx h = {NULL};
  uint8_t stored[RT_SHA256_LEN], computed[RT_SHA256_LEN];
  if (rc == RT_OK) rc = read_exact(fp, prefix + sizeof hdr, off - sizeof hdr, sizeof hdr, path, st);
  if (rc == RT_OK) rc = read_exact(fp, out->state, out->state_len, off, path, st);
  if (rc == RT_OK) rc = read_exact(fp, stored, sizeof stored, off + lo.state_len, path, st);
  if (rc == RT_OK && fgetc(fp) != EOF) /* the file grew while being read */
    rc = rt_fail(st, RT_ERR_MODEL_FILE,
                 "%s: trailing garbage at byte %" PRIu64 ": expected end of file", path, lo.total);
  if (rc == RT_OK && ferror(fp))
    rc = RT_FAIL_AT(st, RT_ERR_IO, "%s: read error at byte %" PRIu64 ": %s", path, lo.total,
                    strerror(errno ? errno : EIO));
  if (rc == RT_OK) rc = rt_sha256_init(&h, st);
  if (rc == RT_OK) rc = rt_sha256_update(&h, prefix, off, st);
  if (rc == RT_OK) rc = rt_sha256_update(&h, out->state, out->state_len, st);
  if (rc == RT_OK) rc = rt_sha256_final(&h, computed, st);
  if (rc == RT_OK) rc = check_contents(prefix, &lo, stored, computed, path, st);
  if (rc == RT_OK) {
    memcpy(out->spec_text, prefix + RT_MODEL_FILE_HEADER_SIZE, out->spec_len);
    memcpy(out->sha256, stored, sizeof stored);
  }
  rt_sha256_ctx_free(&h);
  free(prefix);
  if (rc != RT_OK) rt_model_file_free(out);
  return rc;
}

rt_code rt_model_file_read(const char *path, rt_model_file *out, rt_status *st) {
  if (!out) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_model_file_read: out is NULL");
  memset(out, 0, sizeof *out);
  if (!path) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_model_file_read: path is NULL");
  FILE *fp = fopen(path, "rb");
  if (!fp) return rt_fail(st, RT_ERR_MODEL_FILE, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  rt_code rc;
  if (fstat(fileno(fp), &sb) != 0) {
    rc = RT_FAIL_AT(st, RT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
  } else if (S_ISDIR(sb.st_mode)) {
    rc = rt_fail(st, RT_ERR_MODEL_FILE, "%s: cannot open: %s", path, strerror(EISDIR));
  } else if (S_ISREG(sb.st_mode)) {
    rc = read_regular(fp, (uint64_t)sb.st_size, path, out, st);
  } else {
    uint8_t *data = NULL;
    size_t len = 0;
    rc = slurp(fp, path, &data, &len, st);
    if (rc == RT_OK) rc = rt_model_file_decode(data, len, path, out, st);
    free(data);
  }
  fclose(fp); /* read-only stream: nothing to lose */
  return rc;
}

const char *rt_spec_lookup(const char *spec, size_t spec_len, const char *key, size_t *value_len) {
  if (!spec || !key) return NULL;
  size_t klen = strlen(key);
  if (klen == 0 || memchr(key, '=', klen) || memchr(key, '\n', klen)) return NULL;
  size_t i = 0;
  while (i < spec_len) {
    const char *line = spec + i;
    const char *eol = memchr(line, '\n', spec_len - i);
    size_t line_len = eol ? (size_t)(eol - line) : spec_len - i;
    if (line_len > klen && line[klen] == '=' && memcmp(line, key, klen) == 0) {
      if (value_len) *value_len = line_len - klen - 1;
      return line + klen + 1;
    }
    i += line_len + 1;
  }
  return NULL;
}

const char *rt_model_file_spec_get(const rt_model_file *mf, const char *key, size_t *value_len) {
  if (!mf) return NULL;
  return rt_spec_lookup(mf->spec_text, mf->spec_len, key, value_len);
}

int rt_model_file_spec_copy(const rt_model_file *mf, const char *key, char *buf, size_t bufsize) {
  size_t n = 0;
  const char *v = rt_model_file_spec_get(mf, key, &n);
  if (!v) {
    if (buf && bufsize) buf[0] = '\0';
    return -1;
  }
  if (!buf || bufsize == 0) return n == 0 ? 0 : 1;
  size_t c = n < bufsize - 1 ? n : bufsize - 1;
  memcpy(buf, v, c);
  buf[c] = '\0';
  return c == n ? 0 : 1;
}
