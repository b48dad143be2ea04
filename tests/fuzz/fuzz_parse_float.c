/* libFuzzer target: rt_scan_float (src/data/parse_float.h), the CSV reader's number fast path,
 * against glibc's strtof. Each input is a text; wherever the fast reader accepts a number at its
 * start, strtof on exactly the bytes it consumed must consume them all and give the same bits
 * (a difference aborts: a finding). Run with scripts/test.sh --fuzz N. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_float.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char text[4097];
  memcpy(text, data, size);
  text[size] = '\0';
  float v;
  const char *end;
  if (!rt_scan_float(text, text + size, &v, &end)) return 0;
  char copy[4097];
  const size_t n = (size_t)(end - text);
  memcpy(copy, text, n);
  copy[n] = '\0';
  char *strtof_end = NULL;
  const float want = strtof(copy, &strtof_end);
  if (strtof_end != copy + n || memcmp(&v, &want, sizeof v) != 0) {
    fprintf(stderr, "rt_scan_float '%s': %a over %zu bytes; strtof %a over %td bytes\n", copy,
            (double)v, n, (double)want, strtof_end - copy);
    abort();
  }
  return 0;
}
