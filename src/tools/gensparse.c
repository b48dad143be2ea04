/* rt-gensparse: writes a synthetic sparse binary classification problem as a LIBSVM file, for the
 * sparse benchmark (scripts/bench_sparse.sh).
 *
 * Row r has exactly --nnz non-zeros in distinct columns drawn uniformly from --features (written
 * 1-based, ascending), values uniform in (0, 1) printed with 4 significant digits; its label is 1
 * when x.w > 0 for a teacher w_j ~ N(0, 1) fixed by --problem-seed, else 0 (about half each).
 * Every number is a pure function of (seed, row, draw) through SplitMix64, so two files with
 * different --seed values are samples of the same problem (a training and a test set).
 *
 * Usage: rt-gensparse --rows N --features D --nnz K --out FILE [--seed S] [--problem-seed P] */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* A uniform double in [0, 1) from (key, a, b). */
static double uniform(uint64_t key, uint64_t a, uint64_t b) {
  return (double)(mix(mix(key ^ mix(a)) ^ b) >> 11) * 0x1.0p-53;
}

static int cmp_u64(const void *a, const void *b) {
  const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int usage(const char *why) {
  fprintf(stderr,
          "rt-gensparse: %s\nusage: rt-gensparse --rows N --features D --nnz K --out FILE "
          "[--seed S] [--problem-seed P]\n",
          why);
  return 2;
}

static int parse_u64(const char *text, uint64_t *out) {
  char *end = NULL;
  errno = 0;
  const unsigned long long v = strtoull(text, &end, 10);
  if (errno || !end || *end || end == text) return 0;
  *out = (uint64_t)v;
  return 1;
}

int main(int argc, char **argv) {
  uint64_t rows = 0, features = 0, nnz = 0, seed = 1, problem = 7;
  const char *out = NULL;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      printf(
          "usage: rt-gensparse --rows N --features D --nnz K --out FILE [--seed S] "
          "[--problem-seed P]\n");
      return 0;
    }
    if (i + 1 >= argc) return usage("every option takes a value");
    const char *v = argv[++i];
    int ok = 1;
    if (strcmp(argv[i - 1], "--rows") == 0) ok = parse_u64(v, &rows);
    else if (strcmp(argv[i - 1], "--features") == 0) ok = parse_u64(v, &features);
    else if (strcmp(argv[i - 1], "--nnz") == 0) ok = parse_u64(v, &nnz);
    else if (strcmp(argv[i - 1], "--seed") == 0) ok = parse_u64(v, &seed);
    else if (strcmp(argv[i - 1], "--problem-seed") == 0) ok = parse_u64(v, &problem);
    else if (strcmp(argv[i - 1], "--out") == 0) out = v;
    else return usage("unknown option");
    if (!ok) return usage("expected a non-negative integer");
  }
  if (!rows || !features || !nnz || !out)
    return usage("--rows, --features, --nnz and --out are required");
  if (nnz > features) return usage("--nnz must not exceed --features");
  if (features > UINT32_MAX) return usage("--features must fit 32 bits");
  float *w = malloc(features * sizeof *w);
  uint64_t *cols = malloc(nnz * sizeof *cols);
  FILE *f = fopen(out, "w");
  if (!w || !cols || !f) {
    fprintf(stderr, "rt-gensparse: %s: %s\n", out, strerror(errno));
    return 1;
  }
  for (uint64_t j = 0; j < features; ++j) { /* Box-Muller */
    const double u1 = uniform(problem, j, 1) + 0x1.0p-54, u2 = uniform(problem, j, 2);
    w[j] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
  }
  static char line[1 << 16];
  for (uint64_t r = 0; r < rows; ++r) {
    uint64_t got = 0, draw = 0;
    while (got < nnz) { /* distinct columns by rejection */
      const uint64_t c = (uint64_t)(uniform(seed, r, draw++) * (double)features);
      int dup = 0;
      for (uint64_t k = 0; k < got && !dup; ++k) dup = cols[k] == c;
      if (!dup) cols[got++] = c;
    }
    qsort(cols, nnz, sizeof *cols, cmp_u64);
    double z = 0.0;
    size_t at = 2; /* the label goes in front */
    for (uint64_t k = 0; k < nnz; ++k) {
      const float v = (float)(0.0001 + 0.9998 * uniform(seed ^ 0x5151, r, k));
      char num[32];
      snprintf(num, sizeof num, "%.4g", (double)v);
      z += (double)w[cols[k]] * strtod(num, NULL);
      at += (size_t)snprintf(line + at, sizeof line - at, " %llu:%s",
                             (unsigned long long)cols[k] + 1, num);
      if (at >= sizeof line - 64) return usage("--nnz too large for one line");
    }
    line[0] = z > 0.0 ? '1' : '0';
    line[1] = ' ';
    if (fprintf(f, "%c%s\n", line[0], line + 2) < 0) {
      fprintf(stderr, "rt-gensparse: %s: %s\n", out, strerror(errno));
      return 1;
    }
  }
  if (fclose(f) != 0) {
    fprintf(stderr, "rt-gensparse: %s: %s\n", out, strerror(errno));
    return 1;
  }
  free(w), free(cols);
  return 0;
}
