/* libFuzzer target: the config reader. The input is YAML text parsed as if it were the file
 * /fuzz/config.yaml; a config that parses is validated and written back as YAML (to a memory
 * stream, so every writer path runs), and everything is freed. Crashes, sanitizer reports and
 * leaks are the findings; parse and validation errors are the expected outcome for most inputs.
 * A config whose sweep expands to more than FUZZ_MODELS_MAX models is parsed (the expansion is
 * part of the reader) and freed, but not validated or written: both are linear in the model
 * count and a legitimate 950,000-model grid takes ~50 s and 1.4 GB under the sanitizers, which
 * would only stall the fuzzer (and trip its memory limit) without testing anything new.
 * Build and run: scripts/test.sh --fuzz N (tests/fuzz/CMakeLists.txt, docs/RELIABILITY.md). */
#define _GNU_SOURCE /* open_memstream */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtrain/config.h"
#include "ringtrain/status.h"

#define FUZZ_MODELS_MAX 10000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A status message is one line: a newline in it would be a reader bug. */
static void check_status(const rt_status *st) {
  if (memchr(st->message, '\n', strnlen(st->message, sizeof st->message))) abort();
  if (st->code != RT_OK && st->message[0] == '\0') abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rt_config cfg;
  rt_status st;
  rt_status_clear(&st);
  if (rt_config_parse((const char *)data, size, "/fuzz/config.yaml", &cfg, &st) != RT_OK) {
    check_status(&st);
    return 0;
  }
  if (cfg.model_count > FUZZ_MODELS_MAX) {
    rt_config_free(&cfg);
    return 0;
  }
  rt_status_clear(&st);
  if (rt_config_validate(&cfg, &st) == RT_OK) {
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out) {
      rt_status_clear(&st);
      (void)rt_config_write_yaml(&cfg, out, &st);
      fclose(out);
      free(text);
    }
  } else {
    check_status(&st);
  }
  rt_config_free(&cfg);
  return 0;
}
