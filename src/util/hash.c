/* SHA-256 through OpenSSL's EVP interface and hex text of digests (include/ringtrain/hash.h),
 * for model files, checkpoints and the state digests of results; OpenSSL failures come back as
 * statuses. */
#include "ringtrain/hash.h"

#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/evp.h>

/* The most recent OpenSSL error as text (or a fallback), for messages. */
static const char *openssl_error(char *buf, size_t size) {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  ERR_error_string_n(e, buf, size);
  ERR_clear_error();
  return buf;
}

rt_code rt_sha256_init(rt_sha256_ctx *ctx, rt_status *st) {
  char err[256];
  ctx->evp = NULL;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!md)
    return RT_FAIL_AT(st, RT_ERR_NOMEM, "EVP_MD_CTX_new failed: %s",
                      openssl_error(err, sizeof err));
  if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
    EVP_MD_CTX_free(md);
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "EVP_DigestInit_ex(sha256) failed: %s",
                      openssl_error(err, sizeof err));
  }
  ctx->evp = md;
  return RT_OK;
}

rt_code rt_sha256_update(rt_sha256_ctx *ctx, const void *data, size_t len, rt_status *st) {
  char err[256];
  if (!ctx->evp) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_sha256_update on a released context");
  if (len == 0) return RT_OK;
  if (EVP_DigestUpdate((EVP_MD_CTX *)ctx->evp, data, len) != 1) {
    rt_sha256_ctx_free(ctx);
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "EVP_DigestUpdate failed: %s",
                      openssl_error(err, sizeof err));
  }
  return RT_OK;
}

rt_code rt_sha256_final(rt_sha256_ctx *ctx, uint8_t out[RT_SHA256_LEN], rt_status *st) {
  char err[256];
  if (!ctx->evp) return RT_FAIL_AT(st, RT_ERR_INTERNAL, "rt_sha256_final on a released context");
  unsigned int n = 0;
  int ok = EVP_DigestFinal_ex((EVP_MD_CTX *)ctx->evp, out, &n);
  rt_sha256_ctx_free(ctx);
  if (ok != 1 || n != RT_SHA256_LEN)
    return RT_FAIL_AT(st, RT_ERR_INTERNAL, "EVP_DigestFinal_ex failed: %s",
                      openssl_error(err, sizeof err));
  return RT_OK;
}

void rt_sha256_ctx_free(rt_sha256_ctx *ctx) {
  if (!ctx) return;
  EVP_MD_CTX_free((EVP_MD_CTX *)ctx->evp); /* NULL-safe */
  ctx->evp = NULL;
}

rt_code rt_sha256(const void *data, size_t len, uint8_t out[RT_SHA256_LEN], rt_status *st) {
  rt_sha256_ctx c;
  rt_code rc = rt_sha256_init(&c, st);
  if (rc == RT_OK) rc = rt_sha256_update(&c, data, len, st);
  if (rc == RT_OK) rc = rt_sha256_final(&c, out, st);
  rt_sha256_ctx_free(&c);
  return rc;
}

void rt_hex(const uint8_t *bytes, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0xf];
  }
  out[2 * n] = '\0';
}
