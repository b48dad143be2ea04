/* The .rtm model file format: layout, round trips, and rejection of every damaged variant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ringtrain/hash.h"
#include "ringtrain/modelfile.h"
#include "test_util.h"

/* SHA-256 that must succeed in a test. */
static void test_sha(const void *data, size_t len, uint8_t *out) {
  rt_status st;
  assert_int_equal(rt_sha256(data, len, out, &st), RT_OK);
}

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *const SPEC =
    "kind=logistic\nlr_decay=0.5\nlr=0.01\nclasses=3\nnote=\nexpr=a=b\n";

static int setup(void **cm) {
  (void)cm;
  return tu_make_dir("/tmp/rt_test_modelfile.XXXXXX");
}

static int teardown(void **cm) {
  (void)cm;
  tu_remove_tree(tu_dir);
  return 0;
}

static void fill_state(uint8_t *s, size_t n) {
  for (size_t i = 0; i < n; ++i) s[i] = (uint8_t)(i * 37u + 11u);
}

static void encode_ok(const char *spec, const void *state, size_t state_len, uint8_t **bytes,
                      size_t *len) {
  rt_status st;
  rt_status_clear(&st);
  void *b = NULL;
  assert_int_equal(rt_model_file_encode(spec, state, state_len, &b, len, &st), RT_OK);
  assert_non_null(b);
  *bytes = b;
}

static uint64_t get_u64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
static void put_u64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = (uint8_t)(v >> (8 * i));
}

/* Recomputes the trailing checksum after a deliberate edit, so later checks are reached. */
static void reseal(uint8_t *bytes, size_t len) { test_sha(bytes, len - 32, bytes + len - 32); }

/* Decoding must fail with RT_ERR_MODEL_FILE and a one-line message naming the source. */
static void expect_decode_error(const uint8_t *bytes, size_t len, const char *expected_substring) {
  rt_status st;
  rt_status_clear(&st);
  rt_model_file mf;
  rt_code rc = rt_model_file_decode(bytes, len, "m.rtm", &mf, &st);
  if (rc != RT_ERR_MODEL_FILE)
    fail_msg("expected RT_ERR_MODEL_FILE, got %s (%s)", rt_code_name(rc), st.message);
  assert_int_equal(st.code, RT_ERR_MODEL_FILE);
  assert_null(mf.spec_text);
  assert_null(mf.state);
  assert_int_equal(strncmp(st.message, "m.rtm: ", 7), 0);
  assert_null(strchr(st.message, '\n'));
  if (expected_substring && !strstr(st.message, expected_substring))
    fail_msg("message '%s' lacks '%s'", st.message, expected_substring);
}

static void expect_read_error(const char *path, const char *expected_substring) {
  rt_status st;
  rt_status_clear(&st);
  rt_model_file mf;
  rt_code rc = rt_model_file_read(path, &mf, &st);
  if (rc != RT_ERR_MODEL_FILE)
    fail_msg("expected RT_ERR_MODEL_FILE, got %s (%s)", rt_code_name(rc), st.message);
  assert_null(mf.spec_text);
  assert_null(mf.state);
  assert_int_equal(strncmp(st.message, path, strlen(path)), 0);
  if (expected_substring && !strstr(st.message, expected_substring))
    fail_msg("message '%s' lacks '%s'", st.message, expected_substring);
}

/* ---- tests --------------------------------------------------------------------------------- */

static void test_layout(void **cm) {
  (void)cm;
  uint8_t state[100];
  fill_state(state, sizeof state);
  uint8_t *b;
  size_t len;
  encode_ok(SPEC, state, sizeof state, &b, &len);
  size_t s = strlen(SPEC);
  size_t off = (32 + s + 63) / 64 * 64;
  assert_int_equal(len, off + sizeof state + 32);
  assert_memory_equal(b, "RTMODEL\0", 8);
  assert_memory_equal(b + 8, "\1\0\0\0", 4);
  assert_memory_equal(b + 12, "\0\0\0\0", 4);
  assert_int_equal(get_u64(b + 16), s);
  assert_int_equal(get_u64(b + 24), sizeof state);
  assert_memory_equal(b + 32, SPEC, s);
  for (size_t i = 32 + s; i < off; ++i) assert_int_equal(b[i], 0);
  assert_int_equal(off % 64, 0);
  assert_memory_equal(b + off, state, sizeof state);
  uint8_t d[32];
  test_sha(b, len - 32, d);
  assert_memory_equal(b + len - 32, d, 32);
  free(b);

  /* 32 + S already a multiple of 64: no padding. */
  const char *spec32 = "k=01234567890123456789012345678\n";
  assert_int_equal(strlen(spec32), 32);
  encode_ok(spec32, state, 1, &b, &len);
  assert_int_equal(len, 64 + 1 + 32);
  assert_int_equal(b[64], state[0]);
  free(b);

  /* Empty spec and state: the smallest file. */
  encode_ok("", NULL, 0, &b, &len);
  assert_int_equal(len, RT_MODEL_FILE_MIN_SIZE);
  free(b);
}

static void test_round_trip_and_determinism(void **cm) {
  (void)cm;
  size_t sizes[] = {0, 1, 63, 64, 65, 1000, 4096};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; ++k) {
    size_t n = sizes[k];
    uint8_t *state = malloc(n ? n : 1);
    assert_non_null(state);
    fill_state(state, n);
    uint8_t *b1, *b2, *b3;
    size_t l1, l2, l3;
    encode_ok(SPEC, state, n, &b1, &l1);
    encode_ok(SPEC, state, n, &b2, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);

    rt_status st;
    rt_status_clear(&st);
    rt_model_file mf;
    assert_int_equal(rt_model_file_decode(b1, l1, "m.rtm", &mf, &st), RT_OK);
    assert_int_equal(mf.version, 1);
    assert_int_equal(mf.spec_len, strlen(SPEC));
    assert_string_equal(mf.spec_text, SPEC);
    assert_int_equal(mf.state_len, n);
    assert_non_null(mf.state);
    assert_int_equal((uintptr_t)mf.state % 64, 0);
    if (n) assert_memory_equal(mf.state, state, n);
    assert_memory_equal(mf.sha256, b1 + l1 - 32, 32);

    /* Re-encoding what was decoded gives the same bytes. */
    encode_ok(mf.spec_text, mf.state, mf.state_len, &b3, &l3);
    assert_int_equal(l3, l1);
    assert_memory_equal(b3, b1, l1);
    rt_model_file_free(&mf);
    assert_null(mf.state);
    rt_model_file_free(&mf); /* idempotent */
    free(b1);
    free(b2);
    free(b3);
    free(state);
  }
}

static void test_write_read_file(void **cm) {
  (void)cm;
  char path[512];
  tu_path_in(path, sizeof path, "model.rtm");
  uint8_t state[777];
  fill_state(state, sizeof state);
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_model_file_write(path, SPEC, state, sizeof state, &st), RT_OK);
  assert_int_equal(tu_count_entries(tu_dir), 1); /* no temp file left */

  uint8_t *enc;
  size_t enc_len, raw_len;
  encode_ok(SPEC, state, sizeof state, &enc, &enc_len);
  uint8_t *raw = (uint8_t *)tu_read_file(path, &raw_len);
  assert_non_null(raw);
  assert_int_equal(raw_len, enc_len);
  assert_memory_equal(raw, enc, enc_len); /* write and encode agree byte for byte */

  rt_model_file mf;
  assert_int_equal(rt_model_file_read(path, &mf, &st), RT_OK);
  assert_string_equal(mf.spec_text, SPEC);
  assert_int_equal(mf.state_len, sizeof state);
  assert_int_equal((uintptr_t)mf.state % 64, 0);
  assert_memory_equal(mf.state, state, sizeof state);
  assert_memory_equal(mf.sha256, enc + enc_len - 32, 32);
  rt_model_file_free(&mf);

  /* Overwrite with an empty state. */
  assert_int_equal(rt_model_file_write(path, "a=1\n", NULL, 0, &st), RT_OK);
  assert_int_equal(rt_model_file_read(path, &mf, &st), RT_OK);
  assert_string_equal(mf.spec_text, "a=1\n");
  assert_int_equal(mf.state_len, 0);
  assert_non_null(mf.state);
  rt_model_file_free(&mf);
  free(raw);
  free(enc);
}

static void test_every_byte_flip_detected(void **cm) {
  (void)cm;
  uint8_t state[70];
  fill_state(state, sizeof state);
  uint8_t *b;
  size_t len;
  encode_ok("kind=logistic\nlr=0.1\n", state, sizeof state, &b, &len);
  uint8_t *copy = malloc(len);
  assert_non_null(copy);
  const uint8_t masks[] = {0x01, 0x10, 0x80, 0xff};
  for (size_t off = 0; off < len; ++off) {
    for (size_t m = 0; m < sizeof masks; ++m) {
      memcpy(copy, b, len);
      copy[off] ^= masks[m];
      expect_decode_error(copy, len, NULL);
    }
  }
  /* The same through files (one mask), and a flip in the state names the checksum. */
  char path[512];
  tu_path_in(path, sizeof path, "flip.rtm");
  for (size_t off = 0; off < len; ++off) {
    memcpy(copy, b, len);
    copy[off] ^= 0xff;
    tu_write_bytes(path, copy, len);
    expect_read_error(path, NULL);
  }
  memcpy(copy, b, len);
  copy[len - 40] ^= 0x04;
  rt_status st;
  rt_model_file mf;
  assert_int_equal(rt_model_file_decode(copy, len, "m.rtm", &mf, &st), RT_ERR_MODEL_FILE);
  assert_string_equal(st.message, "m.rtm: checksum mismatch: file is corrupted");
  tu_write_bytes(path, copy, len);
  assert_int_equal(rt_model_file_read(path, &mf, &st), RT_ERR_MODEL_FILE);
  char expected[1024];
  snprintf(expected, sizeof expected, "%s: checksum mismatch: file is corrupted", path);
  assert_string_equal(st.message, expected);
  free(copy);
  free(b);
}

static void test_every_truncation_detected(void **cm) {
  (void)cm;
  uint8_t state[70];
  fill_state(state, sizeof state);
  uint8_t *b;
  size_t len;
  encode_ok("kind=logistic\nlr=0.1\n", state, sizeof state, &b, &len);
  char path[512];
  tu_path_in(path, sizeof path, "trunc.rtm");
  for (size_t n = 0; n < len; ++n) {
    expect_decode_error(n ? b : NULL, n, "truncated at byte");
    tu_write_bytes(path, b, n);
    expect_read_error(path, "truncated at byte");
  }
  rt_status st;
  rt_model_file mf;
  assert_int_equal(rt_model_file_decode(b, 20, "m.rtm", &mf, &st), RT_ERR_MODEL_FILE);
  assert_string_equal(st.message, "m.rtm: truncated at byte 20: expected at least 96 bytes");
  assert_int_equal(rt_model_file_decode(b, len - 1, "m.rtm", &mf, &st), RT_ERR_MODEL_FILE);
  char expected[256];
  snprintf(expected, sizeof expected,
           "m.rtm: truncated at byte %zu: header says %zu bytes (spec 21, state 70), file has %zu",
           len - 1, len, len - 1);
  assert_string_equal(st.message, expected);
  free(b);
}

static void test_trailing_bytes_detected(void **cm) {
  (void)cm;
  uint8_t *b;
  size_t len;
  encode_ok("a=1\n", "xyz", 3, &b, &len);
  uint8_t *longer = malloc(len + 5);
  assert_non_null(longer);
  memcpy(longer, b, len);
  memset(longer + len, 0, 5);
  char expected[256];
  snprintf(expected, sizeof expected,
           "m.rtm: trailing garbage at byte %zu: header says %zu bytes, file has %zu", len, len,
           len + 1);
  rt_status st;
  rt_model_file mf;
  assert_int_equal(rt_model_file_decode(longer, len + 1, "m.rtm", &mf, &st), RT_ERR_MODEL_FILE);
  assert_string_equal(st.message, expected);
  expect_decode_error(longer, len + 5, "trailing garbage");
  char path[512];
  tu_path_in(path, sizeof path, "trailing.rtm");
  tu_write_bytes(path, longer, len + 1);
  expect_read_error(path, "trailing garbage");
  free(longer);
  free(b);
}

static void test_header_errors(void **cm) {
  (void)cm;
  uint8_t *b;
  size_t len;
  encode_ok("a=1\n", "0123456789", 10, &b, &len);
  uint8_t *c = malloc(len);
  assert_non_null(c);
  rt_status st;
  rt_model_file mf;

  memcpy(c, b, len);
  memcpy(c, "PK\3\4", 4);
  assert_int_equal(rt_model_file_decode(c, len, "m.rtm", &mf, &st), RT_ERR_MODEL_FILE);
  assert_string_equal(st.message, "m.rtm: not a ringtrain model file (bad magic at offset 0)");
  assert_int_equal(rt_model_file_decode("hello", 5, "m.rtm", &mf, &st), RT_ERR_MODEL_FILE);
  assert_string_equal(st.message, "m.rtm: not a ringtrain model file (bad magic at offset 0)");
  assert_int_equal(rt_model_file_decode(b, 0, NULL, &mf, &st), RT_ERR_MODEL_FILE);
  assert_string_equal(st.message, "model file: truncated at byte 0: expected at least 96 bytes");

  memcpy(c, b, len);
  c[8] = 2;
  reseal(c, len);
  assert_int_equal(rt_model_file_decode(c, len, "m.rtm", &mf, &st), RT_ERR_MODEL_FILE);
  assert_string_equal(st.message, "m.rtm: unsupported format version 2 at offset 8: expected 1");

  memcpy(c, b, len);
  c[15] = 0x80;
  reseal(c, len);
  assert_int_equal(rt_model_file_decode(c, len, "m.rtm", &mf, &st), RT_ERR_MODEL_FILE);
  assert_string_equal(st.message, "m.rtm: unsupported flags 0x80000000 at offset 12: expected 0");

  /* Lengths near and at UINT64_MAX, and combinations that would wrap. */
  const uint64_t evil[] = {UINT64_MAX,
                           UINT64_MAX - 1,
                           UINT64_MAX - 31,
                           UINT64_MAX - 63,
                           UINT64_MAX - 95,
                           UINT64_MAX / 2,
                           (uint64_t)1 << 63,
                           (uint64_t)1 << 32,
                           (uint64_t)len,
                           (uint64_t)len - 64,
                           (uint64_t)len - 95,
                           0,
                           1,
                           5,
                           64};
  size_t ne = sizeof evil / sizeof evil[0];
  for (size_t i = 0; i < ne; ++i) {
    for (size_t j = 0; j < ne; ++j) {
      memcpy(c, b, len);
      put_u64(c + 16, evil[i]);
      put_u64(c + 24, evil[j]);
      if (evil[i] == 4 && evil[j] == 10) continue; /* the original */
      reseal(c, len);
      expect_decode_error(c, len, NULL);
    }
  }
  free(c);
  free(b);
}

static void test_content_errors(void **cm) {
  (void)cm;
  uint8_t *b;
  size_t len;
  rt_status st;
  rt_model_file mf;

  encode_ok("ab=1\ncd=2\n", "s", 1, &b, &len);
  b[32 + 6] = '\0'; /* "cd" -> "c\0" */
  reseal(b, len);
  assert_int_equal(rt_model_file_decode(b, len, "m.rtm", &mf, &st), RT_ERR_MODEL_FILE);
  assert_string_equal(st.message,
                      "m.rtm: invalid spec text: NUL byte at offset 38: expected key=value lines");

  b[32 + 6] = 'd';
  b[32 + 9] = 'x'; /* final '\n' */
  reseal(b, len);
  assert_int_equal(rt_model_file_decode(b, len, "m.rtm", &mf, &st), RT_ERR_MODEL_FILE);
  assert_string_equal(st.message,
                      "m.rtm: invalid spec text at offset 41: expected it to end with a newline");

  b[32 + 9] = '\n';
  b[32 + 7] = ':'; /* "cd:2" */
  reseal(b, len);
  assert_int_equal(rt_model_file_decode(b, len, "m.rtm", &mf, &st), RT_ERR_MODEL_FILE);
  assert_string_equal(st.message,
                      "m.rtm: invalid spec text at offset 37: expected a key=value line");

  b[32 + 7] = '=';
  b[32 + 10] = 1; /* first padding byte */
  reseal(b, len);
  assert_int_equal(rt_model_file_decode(b, len, "m.rtm", &mf, &st), RT_ERR_MODEL_FILE);
  assert_string_equal(st.message, "m.rtm: nonzero padding byte at offset 42: expected 0");

  b[32 + 10] = 0;
  reseal(b, len);
  assert_int_equal(rt_model_file_decode(b, len, "m.rtm", &mf, &st), RT_OK);
  rt_model_file_free(&mf);
  free(b);
}

static void test_encode_rejects_bad_input(void **cm) {
  (void)cm;
  rt_status st;
  void *b = (void *)&st;
  size_t len = 123;
  assert_int_equal(rt_model_file_encode("a=1", "x", 1, &b, &len, &st), RT_ERR_INTERNAL);
  assert_null(b);
  assert_int_equal(len, 0);
  assert_int_equal(rt_model_file_encode("noequals\n", "x", 1, &b, &len, &st), RT_ERR_INTERNAL);
  assert_int_equal(rt_model_file_encode("=1\n", "x", 1, &b, &len, &st), RT_ERR_INTERNAL);
  assert_int_equal(rt_model_file_encode("a=1\n\n", "x", 1, &b, &len, &st), RT_ERR_INTERNAL);
  assert_int_equal(rt_model_file_encode(NULL, "x", 1, &b, &len, &st), RT_ERR_INTERNAL);
  assert_int_equal(rt_model_file_encode("a=1\n", NULL, 1, &b, &len, &st), RT_ERR_INTERNAL);
  char path[512];
  tu_path_in(path, sizeof path, "bad.rtm");
  assert_int_equal(rt_model_file_write(path, "a=1", "x", 1, &st), RT_ERR_INTERNAL);
  assert_int_equal(tu_count_entries(tu_dir), 0);
}

static void test_read_errors(void **cm) {
  (void)cm;
  char path[512];
  tu_path_in(path, sizeof path, "absent.rtm");
  rt_status st;
  rt_model_file mf;
  assert_int_equal(rt_model_file_read(path, &mf, &st), RT_ERR_MODEL_FILE);
  char expected[1024];
  snprintf(expected, sizeof expected, "%s: cannot open: No such file or directory", path);
  assert_string_equal(st.message, expected);

  assert_int_equal(rt_model_file_read(tu_dir, &mf, &st), RT_ERR_MODEL_FILE);
  snprintf(expected, sizeof expected, "%s: cannot open: %s", tu_dir, strerror(EISDIR));
  assert_string_equal(st.message, expected);

  /* Writing into a missing directory is an output error. */
  tu_path_in(path, sizeof path, "missing/m.rtm");
  assert_int_equal(rt_model_file_write(path, "a=1\n", "x", 1, &st), RT_ERR_OUTPUT);
  assert_non_null(strstr(st.message, "cannot write"));
}

static void test_read_from_fifo(void **cm) {
  (void)cm;
  uint8_t state[300];
  fill_state(state, sizeof state);
  uint8_t *b;
  size_t len;
  encode_ok(SPEC, state, sizeof state, &b, &len);
  char path[512];
  tu_path_in(path, sizeof path, "pipe.rtm");
  assert_int_equal(mkfifo(path, 0600), 0);
  for (int extra = 0; extra < 2; ++extra) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      FILE *f = fopen(path, "wb");
      if (!f) _exit(1);
      size_t n = len + (size_t)extra;
      int ok = fwrite(b, 1, len, f) == len && (extra == 0 || fputc(0, f) == 0);
      ok = fclose(f) == 0 && ok;
      (void)n;
      _exit(ok ? 0 : 1);
    }
    rt_status st;
    rt_status_clear(&st);
    rt_model_file mf;
    rt_code rc = rt_model_file_read(path, &mf, &st);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (extra == 0) {
      assert_int_equal(rc, RT_OK);
      assert_string_equal(mf.spec_text, SPEC);
      assert_memory_equal(mf.state, state, sizeof state);
      assert_int_equal((uintptr_t)mf.state % 64, 0);
      rt_model_file_free(&mf);
    } else {
      assert_int_equal(rc, RT_ERR_MODEL_FILE);
      assert_non_null(strstr(st.message, "trailing garbage"));
    }
  }
  free(b);
}

/* Deterministic random mutations: decoding must never crash or leak, whatever it returns. */
static void test_fuzz_decode(void **cm) {
  (void)cm;
  uint8_t state[130];
  fill_state(state, sizeof state);
  uint8_t *b;
  size_t len;
  encode_ok(SPEC, state, sizeof state, &b, &len);
  uint8_t *c = malloc(len + 64);
  assert_non_null(c);
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (int iter = 0; iter < 20000; ++iter) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    memcpy(c, b, len);
    size_t n = len;
    switch (x % 4) {
      case 0: /* random byte edits */
        for (int k = 0; k < 1 + (int)((x >> 8) % 4); ++k)
          c[(x >> (16 + 8 * k)) % len] ^= (uint8_t)(1 + (x >> 40) % 255);
        break;
      case 1: /* random lengths, resealed */
        put_u64(c + 16, x >> 3);
        put_u64(c + 24, x * 0x2545F4914F6CDD1DULL);
        reseal(c, len);
        break;
      case 2: /* random small lengths, resealed */
        put_u64(c + 16, (x >> 5) % 200);
        put_u64(c + 24, (x >> 20) % 300);
        reseal(c, len);
        break;
      default: /* random truncation / extension */
        n = (size_t)((x >> 10) % (len + 64));
        if (n > len) memset(c + len, (int)(x & 0xff), n - len);
        break;
    }
    rt_status st;
    rt_model_file mf;
    rt_code rc = rt_model_file_decode(c, n, "m.rtm", &mf, &st);
    if (rc == RT_OK) {
      assert_int_equal(n, len);
      assert_memory_equal(c, b, len); /* only the intact file decodes */
      rt_model_file_free(&mf);
    } else {
      assert_int_equal(rc, RT_ERR_MODEL_FILE);
    }
  }
  free(c);
  free(b);
}

static void test_spec_lookup(void **cm) {
  (void)cm;
  uint8_t *b;
  size_t len;
  encode_ok(SPEC, "s", 1, &b, &len);
  rt_status st;
  rt_model_file mf;
  assert_int_equal(rt_model_file_decode(b, len, "m.rtm", &mf, &st), RT_OK);
  size_t n = 99;
  const char *v = rt_model_file_spec_get(&mf, "lr", &n);
  assert_non_null(v);
  assert_int_equal(n, 4);
  assert_memory_equal(v, "0.01", 4);
  v = rt_model_file_spec_get(&mf, "lr_decay", &n);
  assert_non_null(v);
  assert_int_equal(n, 3);
  assert_memory_equal(v, "0.5", 3);
  assert_null(rt_model_file_spec_get(&mf, "l", &n));
  assert_null(rt_model_file_spec_get(&mf, "lr_", &n));
  assert_null(rt_model_file_spec_get(&mf, "kind=logistic", &n));
  assert_null(rt_model_file_spec_get(&mf, "", &n));
  assert_null(rt_model_file_spec_get(&mf, "missing", &n));
  assert_null(rt_model_file_spec_get(&mf, "0.01", &n)); /* values are not keys */
  v = rt_model_file_spec_get(&mf, "note", &n);
  assert_non_null(v);
  assert_int_equal(n, 0);
  v = rt_model_file_spec_get(&mf, "expr", NULL);
  assert_non_null(v);
  assert_memory_equal(v, "a=b\n", 4);

  char buf[16];
  assert_int_equal(rt_model_file_spec_copy(&mf, "kind", buf, sizeof buf), 0);
  assert_string_equal(buf, "logistic");
  assert_int_equal(rt_model_file_spec_copy(&mf, "kind", buf, 4), 1);
  assert_string_equal(buf, "log");
  assert_int_equal(rt_model_file_spec_copy(&mf, "nope", buf, sizeof buf), -1);
  assert_string_equal(buf, "");
  assert_int_equal(rt_model_file_spec_copy(&mf, "note", buf, sizeof buf), 0);
  assert_string_equal(buf, "");
  rt_model_file_free(&mf);

  /* The raw helper: first of duplicates wins; an unterminated last line still works. */
  const char *raw = "a=1\nb=2\na=3\nc=4";
  v = rt_spec_lookup(raw, strlen(raw), "a", &n);
  assert_non_null(v);
  assert_memory_equal(v, "1", n);
  v = rt_spec_lookup(raw, strlen(raw), "c", &n);
  assert_non_null(v);
  assert_int_equal(n, 1);
  assert_memory_equal(v, "4", 1);
  assert_null(rt_spec_lookup(raw, 3, "b", &n)); /* outside the given length */
  assert_null(rt_model_file_spec_get(NULL, "a", &n));
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_round_trip_and_determinism, setup, teardown),
      cmocka_unit_test_setup_teardown(test_write_read_file, setup, teardown),
      cmocka_unit_test_setup_teardown(test_every_byte_flip_detected, setup, teardown),
      cmocka_unit_test_setup_teardown(test_every_truncation_detected, setup, teardown),
      cmocka_unit_test_setup_teardown(test_trailing_bytes_detected, setup, teardown),
      cmocka_unit_test_setup_teardown(test_header_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_content_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encode_rejects_bad_input, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_read_from_fifo, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fuzz_decode, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spec_lookup, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
