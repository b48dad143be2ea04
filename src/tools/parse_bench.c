/* rt-parse-bench: how fast the data reader's number parsing is against glibc's strtof, on the
 * fields of a real text file, and whether it gives the same bits.
 *
 * The file is read into memory, its fields (separated by commas, blanks and newlines) are found
 * once, then parsed twice: with rt_scan_float (src/data/parse_float.h, strtof where it declines,
 * exactly as the CSV reader does) and with strtof alone, each timed over the same fields (best of
 * --repeat runs). Every value is compared bit for bit; any difference is reported and the exit
 * code is 1. Prints one line: fields, MB, both rates, their ratio, the share the fast path took.
 *
 * Usage: rt-parse-bench FILE [--repeat N] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../data/parse_float.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int is_separator(char c) {
  return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0) {
    fputs("usage: rt-parse-bench FILE [--repeat N]\n", argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  int repeat = 3;
  if (argc == 4 && strcmp(argv[2], "--repeat") == 0) repeat = atoi(argv[3]);
  if (repeat < 1 || (argc != 2 && argc != 4)) {
    fputs("rt-parse-bench: expected FILE [--repeat N >= 1]\n", stderr);
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    fprintf(stderr, "rt-parse-bench: %s: %s\n", argv[1], strerror(errno));
    return 2;
  }
  fseek(f, 0, SEEK_END);
  const long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = malloc((size_t)size + 1);
  if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "rt-parse-bench: %s: cannot read %ld bytes\n", argv[1], size);
    return 1;
  }
  fclose(f);
  text[size] = '\0';
  /* Field starts and ends; a header line's words are fields too (both parsers decline them). */
  size_t cap = (size_t)size / 2 + 16, n = 0;
  char **starts = malloc(cap * sizeof *starts), **ends = malloc(cap * sizeof *ends);
  if (!starts || !ends) return 1;
  for (char *p = text, *end = text + size; p < end;) {
    while (p < end && is_separator(*p)) ++p;
    if (p >= end) break;
    char *e = p;
    while (e < end && !is_separator(*e)) ++e;
    starts[n] = p;
    ends[n] = e;
    ++n;
    p = e;
  }
  float *fast = malloc(n * sizeof *fast), *slow = malloc(n * sizeof *slow);
  if (!fast || !slow) return 1;
  double best_fast = 1e30, best_slow = 1e30;
  size_t taken = 0;
  for (int r = 0; r < repeat; ++r) {
    double t0 = now();
    taken = 0;
    for (size_t i = 0; i < n; ++i) {
      const char *e;
      if (rt_scan_float(starts[i], ends[i], &fast[i], &e) && e == ends[i]) {
        ++taken;
      } else {
        fast[i] = strtof(starts[i], NULL);
      }
    }
    double t1 = now();
    for (size_t i = 0; i < n; ++i) slow[i] = strtof(starts[i], NULL);
    double t2 = now();
    if (t1 - t0 < best_fast) best_fast = t1 - t0;
    if (t2 - t1 < best_slow) best_slow = t2 - t1;
  }
  size_t differ = 0;
  for (size_t i = 0; i < n; ++i)
    if (memcmp(&fast[i], &slow[i], sizeof(float)) != 0) {
      if (differ++ < 5)
        fprintf(stderr, "rt-parse-bench: '%.*s': %a, strtof %a\n", (int)(ends[i] - starts[i]),
                starts[i], (double)fast[i], (double)slow[i]);
    }
  const double mb = (double)size / 1e6;
  printf(
      "%s: %zu fields, %.1f MB: rt_scan_float %.0f MB/s, strtof %.0f MB/s, %.2fx; fast path "
      "%.1f%% of fields; %zu differ\n",
      argv[1], n, mb, mb / best_fast, mb / best_slow, best_slow / best_fast,
      n ? 100.0 * (double)taken / (double)n : 0.0, differ);
  free(text);
  free(starts);
  free(ends);
  free(fast);
  free(slow);
  return differ ? 1 : 0;
}
