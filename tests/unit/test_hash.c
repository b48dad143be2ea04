/* SHA-256 against the FIPS 180-2 / NIST example vectors, one-shot and incremental. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ringtrain/hash.h"

/* SHA-256 that must succeed in a test. */
static void test_sha(const void *data, size_t len, uint8_t *out) {
  rt_status st;
  assert_int_equal(rt_sha256(data, len, out, &st), RT_OK);
}

static const char *const NIST448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char *const NIST896 =
    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

static void assert_digest_hex(const uint8_t d[RT_SHA256_LEN], const char *expected) {
  char hex[RT_SHA256_HEX_LEN + 1];
  rt_hex(d, RT_SHA256_LEN, hex);
  assert_string_equal(hex, expected);
}

static void one_shot(const char *msg, const char *expected) {
  uint8_t d[RT_SHA256_LEN];
  test_sha(msg, strlen(msg), d);
  assert_digest_hex(d, expected);
  rt_status st;
  rt_status_clear(&st);
  memset(d, 0, sizeof d);
  assert_int_equal(rt_sha256(msg, strlen(msg), d, &st), RT_OK);
  assert_digest_hex(d, expected);
}

/* Hashes msg in two pieces split at every position. */
static void incremental_splits(const char *msg, const char *expected) {
  size_t n = strlen(msg);
  for (size_t cut = 0; cut <= n; ++cut) {
    rt_status st;
    rt_status_clear(&st);
    rt_sha256_ctx c;
    uint8_t d[RT_SHA256_LEN];
    assert_int_equal(rt_sha256_init(&c, &st), RT_OK);
    assert_int_equal(rt_sha256_update(&c, msg, cut, &st), RT_OK);
    assert_int_equal(rt_sha256_update(&c, msg + cut, n - cut, &st), RT_OK);
    assert_int_equal(rt_sha256_final(&c, d, &st), RT_OK);
    assert_null(c.evp);
    assert_digest_hex(d, expected);
    rt_sha256_ctx_free(&c); /* idempotent after final */
  }
}

static void test_empty(void **cm) {
  (void)cm;
  one_shot("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  uint8_t d[RT_SHA256_LEN];
  test_sha(NULL, 0, d);
  assert_digest_hex(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  incremental_splits("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_abc(void **cm) {
  (void)cm;
  one_shot("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  incremental_splits("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_nist_448_bit(void **cm) {
  (void)cm;
  assert_int_equal(strlen(NIST448) * 8, 448);
  one_shot(NIST448, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  incremental_splits(NIST448, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_nist_896_bit(void **cm) {
  (void)cm;
  one_shot(NIST896, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  incremental_splits(NIST896, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_million_a_incremental(void **cm) {
  (void)cm;
  const char *expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  char chunk[1000];
  memset(chunk, 'a', sizeof chunk);
  rt_status st;
  rt_status_clear(&st);
  rt_sha256_ctx c;
  uint8_t d[RT_SHA256_LEN];
  assert_int_equal(rt_sha256_init(&c, &st), RT_OK);
  for (int i = 0; i < 1000; ++i)
    assert_int_equal(rt_sha256_update(&c, chunk, sizeof chunk, &st), RT_OK);
  assert_int_equal(rt_sha256_final(&c, d, &st), RT_OK);
  assert_digest_hex(d, expected);

  /* Odd-sized pieces cross the 64-byte block boundaries differently. */
  assert_int_equal(rt_sha256_init(&c, &st), RT_OK);
  size_t left = 1000000;
  size_t step = 1;
  while (left > 0) {
    size_t n = step < left ? step : left;
    if (n > sizeof chunk) n = sizeof chunk;
    assert_int_equal(rt_sha256_update(&c, chunk, n, &st), RT_OK);
    left -= n;
    step = step * 7 % 997 + 1;
  }
  assert_int_equal(rt_sha256_final(&c, d, &st), RT_OK);
  assert_digest_hex(d, expected);

  /* And the one-shot on the whole buffer. */
  char *big = malloc(1000000);
  assert_non_null(big);
  memset(big, 'a', 1000000);
  test_sha(big, 1000000, d);
  free(big);
  assert_digest_hex(d, expected);
}

static void test_released_context(void **cm) {
  (void)cm;
  rt_status st;
  rt_status_clear(&st);
  rt_sha256_ctx c;
  uint8_t d[RT_SHA256_LEN];
  assert_int_equal(rt_sha256_init(&c, &st), RT_OK);
  rt_sha256_ctx_free(&c);
  rt_sha256_ctx_free(&c);
  assert_int_equal(rt_sha256_update(&c, "x", 1, &st), RT_ERR_INTERNAL);
  assert_int_equal(st.code, RT_ERR_INTERNAL);
  assert_non_null(strstr(st.message, "src/util/hash.c:")); /* RT_FAIL_AT location */
  assert_int_equal(rt_sha256_final(&c, d, &st), RT_ERR_INTERNAL);
  rt_sha256_ctx_free(NULL);
}

static void test_hex(void **cm) {
  (void)cm;
  const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  char out[2 * sizeof bytes + 1];
  memset(out, 'Z', sizeof out);
  rt_hex(bytes, sizeof bytes, out);
  assert_string_equal(out, "00017f80abff");
  char empty[1] = {'Z'};
  rt_hex(bytes, 0, empty);
  assert_string_equal(empty, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_abc),
      cmocka_unit_test(test_nist_448_bit),
      cmocka_unit_test(test_nist_896_bit),
      cmocka_unit_test(test_million_a_incremental),
      cmocka_unit_test(test_released_context),
      cmocka_unit_test(test_hex),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
