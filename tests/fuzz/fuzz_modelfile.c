/* libFuzzer target: the model file (.rtm) reader. The input is decoded as it is; since almost
 * every mutation breaks the SHA-256 at the end of the file, an input at least as long as the
 * smallest model file is decoded a second time with its checksum made right, so that the spec
 * text and padding checks and what comes after them see the mutated bytes too. A file that
 * decodes has its spec rebuilt with rt_spec_from_text, and the checksum-fixed file is loaded
 * through rt_model_load (spec against state, the stored feature scaling) from a per-process
 * temporary file. Run with scripts/test.sh --fuzz N. */
#define _GNU_SOURCE /* mkstemps */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "rtm_load.h"
#include "ringtrain/hash.h"
#include "ringtrain/modelfile.h"
#include "ringtrain/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_path[64];
static int fuzz_fd = -1;

static void remove_file(void) {
  if (fuzz_fd >= 0) {
    close(fuzz_fd);
    unlink(fuzz_path);
  }
}

static void write_file(const uint8_t *data, size_t size) {
  if (fuzz_fd < 0) {
    snprintf(fuzz_path, sizeof fuzz_path, "/tmp/ringtrain-fuzz-XXXXXX.rtm");
    fuzz_fd = mkstemps(fuzz_path, 4);
    if (fuzz_fd < 0) {
      perror("mkstemps");
      abort();
    }
    atexit(remove_file);
  }
  if (ftruncate(fuzz_fd, 0) != 0) abort();
  size_t done = 0;
  while (done < size) {
    ssize_t n = pwrite(fuzz_fd, data + done, size - done, (off_t)done);
    if (n <= 0) abort();
    done += (size_t)n;
  }
}

static void check_status(const rt_status *st) {
  if (memchr(st->message, '\n', strnlen(st->message, sizeof st->message))) abort();
  if (st->code != RT_OK && st->message[0] == '\0') abort();
}

/* Decodes bytes; on success checks what the decoder promises and parses the spec. */
static int decode(const uint8_t *bytes, size_t size) {
  rt_model_file mf;
  rt_status st;
  rt_status_clear(&st);
  if (rt_model_file_decode(bytes, size, "fuzz.rtm", &mf, &st) != RT_OK) {
    check_status(&st);
    return 0;
  }
  if (!mf.state || mf.spec_text[mf.spec_len] != '\0' || strlen(mf.spec_text) != mf.spec_len)
    abort();
  if (mf.state_len) {
    volatile uint8_t sink =
        ((const uint8_t *)mf.state)[0] ^ ((const uint8_t *)mf.state)[mf.state_len - 1];
    (void)sink;
  }
  char kind[RT_NAME_MAX];
  (void)rt_model_file_spec_copy(&mf, "kind", kind, sizeof kind);
  rt_model_spec spec;
  rt_status_clear(&st);
  if (rt_spec_from_text(mf.spec_text, "fuzz.rtm", &spec, &st) != RT_OK) check_status(&st);
  rt_model_file_free(&mf);
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  (void)decode(data, size);
  if (size < RT_MODEL_FILE_MIN_SIZE) return 0;
  uint8_t *fixed = malloc(size);
  if (!fixed) abort();
  memcpy(fixed, data, size);
  rt_status st;
  if (rt_sha256(fixed, size - RT_SHA256_LEN, fixed + size - RT_SHA256_LEN, &st) != RT_OK) abort();
  if (decode(fixed, size)) {
    write_file(fixed, size);
    rt_loaded_model m;
    rt_status_clear(&st);
    if (rt_model_load(fuzz_path, &m, &st) == RT_OK) rt_model_unload(&m);
    else check_status(&st);
  }
  free(fixed);
  return 0;
}
