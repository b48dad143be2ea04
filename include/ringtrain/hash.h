/* SHA-256 (via OpenSSL libcrypto's EVP interface) and hex encoding. */
#ifndef RINGTRAIN_HASH_H
#define RINGTRAIN_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "ringtrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RT_SHA256_LEN 32
#define RT_SHA256_HEX_LEN 64 /* hex digits, without the terminating NUL */

/* One-shot SHA-256 of data[0..len) (data may be NULL when len == 0). Fails only when OpenSSL
 * cannot allocate its context (RT_ERR_NOMEM / RT_ERR_INTERNAL). */
rt_code rt_sha256(const void *data, size_t len, uint8_t out[RT_SHA256_LEN], rt_status *st);

/* Incremental SHA-256. Usage:
 *   rt_sha256_ctx c;
 *   if (rt_sha256_init(&c, st)) return st->code;
 *   rt_sha256_update(&c, p, n, st) ...; rt_sha256_final(&c, digest, st);
 * The context owns an OpenSSL EVP_MD_CTX. rt_sha256_final and every failing call release it;
 * call rt_sha256_ctx_free to abandon a context early. rt_sha256_ctx_free is idempotent, so it
 * is always safe to call (also after final or after a failure). */
typedef struct rt_sha256_ctx {
  void *evp; /* EVP_MD_CTX *, NULL when released */
} rt_sha256_ctx;

rt_code rt_sha256_init(rt_sha256_ctx *ctx, rt_status *st);
/* data may be NULL when len == 0. */
rt_code rt_sha256_update(rt_sha256_ctx *ctx, const void *data, size_t len, rt_status *st);
rt_code rt_sha256_final(rt_sha256_ctx *ctx, uint8_t out[RT_SHA256_LEN], rt_status *st);
void rt_sha256_ctx_free(rt_sha256_ctx *ctx);

/* Lower-case hex of bytes[0..n) into out, which must hold 2n+1 chars (NUL-terminated). */
void rt_hex(const uint8_t *bytes, size_t n, char *out);

#ifdef __cplusplus
}
#endif
#endif
