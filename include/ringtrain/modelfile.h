/* The ringtrain model file (.rtm): one model's spec (text) and its flat state buffer.
 *
 * Layout (all integers little-endian):
 *
 *   offset     size     field
 *   0          8        magic "RTMODEL\0"
 *   8          u32      format version (1)
 *   12         u32      flags (0)
 *   16         u64      spec length S
 *   24         u64      state length T
 *   32         S        spec text: UTF-8 "key=value\n" lines in a canonical order chosen by the
 *                       caller; no NUL bytes; every line has a non-empty key before '=';
 *                       ends with '\n' (S == 0, an empty spec, is allowed)
 *   32+S       P        zero padding, P = the least P >= 0 making 32+S+P a multiple of 64, so
 *                       the state is 64-byte aligned in the file
 *   32+S+P     T        state (opaque bytes)
 *   end-32     32       SHA-256 of every preceding byte
 *
 * File size = 32 + S + P + T + 32; the smallest valid file (S = T = 0) is 96 bytes.
 *
 * Reading validates everything and reports the first problem as one RT_ERR_MODEL_FILE line
 * naming the file, the byte offset and what was expected, e.g.
 *   m.rtm: truncated at byte 20: expected at least 96 bytes
 *   m.rtm: not a ringtrain model file (bad magic at offset 0)
 *   m.rtm: unsupported format version 7 at offset 8: expected 1
 *   m.rtm: truncated at byte 500: header says 1088 bytes (spec 40, state 1000), file has 500
 *   m.rtm: trailing garbage at byte 1088: header says 1088 bytes, file has 1090
 *   m.rtm: checksum mismatch: file is corrupted
 * Structure is checked first (header, lengths against the file size), then the checksum, then
 * the spec text and padding. No input makes the decoder crash or over-allocate: lengths are
 * checked against the actual file size before anything is allocated. */
#ifndef RINGTRAIN_MODELFILE_H
#define RINGTRAIN_MODELFILE_H

#include <stddef.h>
#include <stdint.h>

#include "ringtrain/atomic_file.h"
#include "ringtrain/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RT_MODEL_FILE_MAGIC "RTMODEL" /* plus its NUL: 8 bytes */
#define RT_MODEL_FILE_VERSION 1u
#define RT_MODEL_FILE_HEADER_SIZE 32
#define RT_MODEL_FILE_ALIGN 64
#define RT_MODEL_FILE_MIN_SIZE 96

typedef struct rt_model_file {
  uint32_t version;
  char *spec_text; /* NUL-terminated copy of the spec (spec_len bytes + NUL) */
  size_t spec_len;
  void *state; /* 64-byte aligned; never NULL after a successful read, even if state_len == 0 */
  size_t state_len;
  uint8_t sha256[32]; /* the checksum stored in (and verified against) the file */
} rt_model_file;

/* Encodes a model file into a new malloc'ed buffer (*bytes, *len; free() it). spec_text must
 * follow the rules above (else RT_ERR_INTERNAL: it is the caller's bug). state may be NULL when
 * state_len == 0. Deterministic: same inputs, same bytes. */
rt_code rt_model_file_encode(const char *spec_text, const void *state, size_t state_len,
                             void **bytes, size_t *len, rt_status *st);

/* Encodes and writes atomically (rt_atomic_*): path appears complete or not at all. Output
 * errors as in atomic_file.h ("PATH: cannot write: ..."). */
rt_code rt_model_file_write(const char *path, const char *spec_text, const void *state,
                            size_t state_len, rt_status *st);

/* The same, committed into batch (its directory fsync deferred to rt_atomic_batch_finish); NULL:
 * rt_model_file_write. */
rt_code rt_model_file_write_in(rt_atomic_batch *batch, const char *path, const char *spec_text,
                               const void *state, size_t state_len, rt_status *st);

/* Decodes and validates bytes[0..len). name_for_messages names the source in messages
 * (NULL: "model file"). On success *out owns fresh copies (release with rt_model_file_free);
 * on failure *out is zeroed and holds nothing. */
rt_code rt_model_file_decode(const void *bytes, size_t len, const char *name_for_messages,
                             rt_model_file *out, rt_status *st);

/* Reads and validates a model file. A regular file is read once, straight into the aligned
 * state buffer (no second copy of the state); other files (pipes) are read into memory first.
 * A missing/unreadable file is RT_ERR_MODEL_FILE "PATH: cannot open: <strerror>"; a read error
 * is RT_ERR_IO. On failure *out is zeroed and holds nothing. */
rt_code rt_model_file_read(const char *path, rt_model_file *out, rt_status *st);

/* Releases what *mf owns and zeroes it. NULL and zeroed structs are fine. */
void rt_model_file_free(rt_model_file *mf);

/* Finds `key` in spec text spec[0..spec_len) made of "key=value\n" lines. Returns a pointer to
 * the first byte of the value inside spec (NOT NUL-terminated: it ends at the line's '\n' or at
 * spec_len) and sets *value_len (if value_len is not NULL); NULL when the key is absent (or
 * key is empty or contains '=' or '\n'). Only whole keys match ("lr" does not match
 * "lr_decay=..."); with duplicate keys, the first wins. */
const char *rt_spec_lookup(const char *spec, size_t spec_len, const char *key, size_t *value_len);

/* rt_spec_lookup on a decoded model file's spec. The pointer stays valid until
 * rt_model_file_free. */
const char *rt_model_file_spec_get(const rt_model_file *mf, const char *key, size_t *value_len);

/* Copies the value of `key` into buf (always NUL-terminated when bufsize > 0).
 * Returns 0 on success, -1 if the key is absent, 1 if the value did not fit (buf then holds
 * the truncated value). */
int rt_model_file_spec_copy(const rt_model_file *mf, const char *key, char *buf, size_t bufsize);

#ifdef __cplusplus
}
#endif
#endif
