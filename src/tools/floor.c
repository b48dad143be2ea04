/* rt-floor: measures this machine's performance floors for the benchmarks.
 *
 *   - memory bandwidth, STREAM-like, over one large array (default 512 MiB): "read" sums the
 *     array (float, many independent accumulators), "copy" is a[i] = b[i] over its two halves,
 *     "triad" is a[i] = b[i] + s * c[i] over its three thirds (bytes counted as STREAM does:
 *     every element read or written once, write-allocate traffic not counted);
 *   - cblas_sgemm GFLOP/s for a large square product (2048^3) and for the two skinny products of
 *     a softmax-regression step: logits X.W (M=256 batch, N=10 classes, K=784 features) and the
 *     weight gradient X^T.G (M=784, N=10, K=256);
 *   - the first-layer products of an MLP 784-128-10 at batch 128 (issue 14's benchmark), for one
 *     member alone (X.W1 128x128x784, X^T.dH 784x128x128: what `fuse: off` computes) and for 16
 *     members fused into one product (128x2048x784, 784x2048x128): the most that fusing these
 *     products can save.
 *
 * Each figure is the best of --repeats runs (default 5). OpenBLAS and OpenMP use --threads
 * threads (default 1). Output: a '#'-prefixed header and an aligned table, or one JSON object
 * with --json. Usage: rt-floor [--threads T] [--size-mib M] [--repeats R] [--json] */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef RINGTRAIN_VERSION
#define RINGTRAIN_VERSION "unknown"
#endif

/* OpenBLAS extensions (declared by OpenBLAS's cblas.h; repeated here in case another cblas.h is
 * found first). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_config(void);
char *openblas_get_corename(void);

#define ACC 64          /* independent accumulators in the read kernel */
#define MIN_SECONDS 0.2 /* each timed sgemm repetition runs at least this long */
#define PAD 256         /* floats between the operands of copy and triad */

static const char usage_text[] =
    "Usage: rt-floor [--threads T] [--size-mib M] [--repeats R] [--json]\n"
    "Measures memory bandwidth (read, copy, triad over an M MiB array, default 512) and\n"
    "cblas_sgemm GFLOP/s (2048x2048x2048, the softmax-regression shapes 256x10x784 X.W and\n"
    "784x10x256 X^T.G, and an MLP's first-layer products for 1 and 16 members of width 128 at\n"
    "batch 128) with T OpenBLAS/OpenMP threads (default 1); best of R runs (default 5).\n"
    "  --json   print one JSON object instead of the table\n";

static void die(const char *what) {
  fprintf(stderr, "rt-floor: %s: %s\n", what, strerror(errno));
  exit(1);
}

static double now_seconds(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) die("clock_gettime");
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long parse_long(const char *name, const char *text, long min, long max) {
  char *end = NULL;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "rt-floor: %s expects an integer in [%ld, %ld], got '%s'\n", name, min, max,
            text);
    exit(2);
  }
  return v;
}

static void *alloc_aligned(size_t bytes) {
  void *p = NULL;
  int rc = posix_memalign(&p, 64, bytes);
  if (rc != 0) {
    errno = rc;
    die("cannot allocate memory");
  }
  return p;
}

/* ---- memory bandwidth ---------------------------------------------------------------------- */

static volatile float g_sink; /* keeps the sums live */

/* Sum of x[0..n), n a multiple of ACC. Each accumulator lane is independent, so the compiler may
 * vectorize across lanes without reassociating anything. */
static float sum_block(const float *restrict x, size_t n) {
  float acc[ACC] = {0};
  for (size_t i = 0; i < n; i += ACC)
    for (int k = 0; k < ACC; ++k) acc[k] += x[i + k];
  float s = 0.0f;
  for (int k = 0; k < ACC; ++k) s += acc[k];
  return s;
}

static double read_pass(const float *x, size_t n, float *sink) {
  const size_t chunks = n / ACC;
  float total = 0.0f;
  double t0 = now_seconds();
#pragma omp parallel reduction(+ : total)
  {
    int nt = omp_get_num_threads(), id = omp_get_thread_num();
    size_t lo = chunks * (size_t)id / (size_t)nt, hi = chunks * (size_t)(id + 1) / (size_t)nt;
    total += sum_block(x + lo * ACC, (hi - lo) * ACC);
  }
  double t = now_seconds() - t0;
  *sink += total;
  return t;
}

static double copy_pass(float *restrict a, const float *restrict b, size_t n) {
  double t0 = now_seconds();
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) a[i] = b[i];
  return now_seconds() - t0;
}

static double triad_pass(float *restrict a, const float *restrict b, const float *restrict c,
                         float s, size_t n) {
  double t0 = now_seconds();
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) a[i] = b[i] + s * c[i];
  return now_seconds() - t0;
}

/* ---- sgemm --------------------------------------------------------------------------------- */

typedef struct gemm_shape {
  const char *name;
  CBLAS_TRANSPOSE ta;
  int m, n, k;
} gemm_shape;

static void fill(float *p, size_t n, uint32_t seed) {
  uint32_t s = seed * 2654435761u + 1u;
  for (size_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    p[i] = (float)(s >> 8) * (1.0f / 16777216.0f) - 0.5f;
  }
}

/* Best GFLOP/s of `repeats` timed runs, each looping the product for >= MIN_SECONDS. */
static double gemm_gflops(const gemm_shape *g, int repeats) {
  const int m = g->m, n = g->n, k = g->k;
  /* A is m x k (or, transposed, stored k x m); B is k x n; C is m x n; all row-major. */
  float *a = alloc_aligned((size_t)m * (size_t)k * sizeof(float));
  float *b = alloc_aligned((size_t)k * (size_t)n * sizeof(float));
  float *c = alloc_aligned((size_t)m * (size_t)n * sizeof(float));
  fill(a, (size_t)m * (size_t)k, 1);
  fill(b, (size_t)k * (size_t)n, 2);
  memset(c, 0, (size_t)m * (size_t)n * sizeof(float));
  const int lda = g->ta == CblasNoTrans ? k : m;
  /* Warm up and calibrate the number of calls per timed run. */
  long calls = 1;
  for (;;) {
    double t0 = now_seconds();
    for (long i = 0; i < calls; ++i)
      cblas_sgemm(CblasRowMajor, g->ta, CblasNoTrans, m, n, k, 1.0f, a, lda, b, n, 0.0f, c, n);
    double t = now_seconds() - t0;
    if (t >= MIN_SECONDS / 4 || calls >= (1L << 30)) {
      double per_call = t / (double)calls;
      calls = per_call > 0 ? (long)ceil(MIN_SECONDS / per_call) : calls;
      if (calls < 1) calls = 1;
      break;
    }
    calls *= 4;
  }
  double best = 0.0;
  for (int r = 0; r < repeats; ++r) {
    double t0 = now_seconds();
    for (long i = 0; i < calls; ++i)
      cblas_sgemm(CblasRowMajor, g->ta, CblasNoTrans, m, n, k, 1.0f, a, lda, b, n, 0.0f, c, n);
    double t = now_seconds() - t0;
    double gflops = 2.0 * m * n * (double)k * (double)calls / t * 1e-9;
    if (gflops > best) best = gflops;
  }
  if (!isfinite(c[0])) fputs("rt-floor: warning: sgemm produced a non-finite value\n", stderr);
  free(a);
  free(b);
  free(c);
  return best;
}

/* ---- main ---------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  long threads = 1, size_mib = 512, repeats = 5;
  int json = 0;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage_text, stdout);
      return fflush(stdout) == 0 ? 0 : 1;
    } else if (strcmp(a, "--version") == 0) {
      printf("rt-floor (ringtrain) %s\n", RINGTRAIN_VERSION);
      return fflush(stdout) == 0 ? 0 : 1;
    } else if (strcmp(a, "--json") == 0) {
      json = 1;
    } else if (i + 1 < argc && strcmp(a, "--threads") == 0) {
      threads = parse_long(a, argv[++i], 1, 4096);
    } else if (i + 1 < argc && strcmp(a, "--size-mib") == 0) {
      size_mib = parse_long(a, argv[++i], 1, 1L << 20);
    } else if (i + 1 < argc && strcmp(a, "--repeats") == 0) {
      repeats = parse_long(a, argv[++i], 1, 1000);
    } else {
      fprintf(stderr, "rt-floor: unknown option or missing value: '%s'\n%s", a, usage_text);
      return 2;
    }
  }
  omp_set_num_threads((int)threads);
  openblas_set_num_threads((int)threads);

  /* Memory bandwidth. The array is written once first, in the same thread layout as the passes,
   * so every page is resident (and local to the thread that reads it) before timing. */
  const size_t bytes = (size_t)size_mib << 20;
  const size_t n = bytes / sizeof(float) / ACC * ACC;
  if (n < 4 * PAD) {
    fputs("rt-floor: --size-mib is too small\n", stderr);
    return 2;
  }
  float *x = alloc_aligned(n * sizeof(float));
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) x[i] = (float)(i & 1023) * (1.0f / 1024.0f);
  float sink = 0.0f;
  double read_best = INFINITY, copy_best = INFINITY, triad_best = INFINITY;
  for (long r = 0; r < repeats; ++r) {
    double t = read_pass(x, n, &sink);
    if (t < read_best) read_best = t;
  }
  /* The copy/triad operands are consecutive pieces of the array, PAD floats apart so that they
   * do not share their addresses' low 12 bits (4K aliasing would slow the loads down). */
  const size_t half = (n - PAD) / 2, third = (n - 2 * PAD) / 3;
  for (long r = 0; r < repeats; ++r) {
    double t = copy_pass(x, x + half + PAD, half);
    if (t < copy_best) copy_best = t;
  }
  for (long r = 0; r < repeats; ++r) {
    double t = triad_pass(x, x + third + PAD, x + 2 * (third + PAD), 0.5f, third);
    if (t < triad_best) triad_best = t;
  }
  g_sink = sink;
  free(x);
  const double array_bytes = (double)n * sizeof(float);
  const double read_gbs = array_bytes / read_best * 1e-9;
  const double copy_gbs = 2.0 * (double)half * sizeof(float) / copy_best * 1e-9;
  const double triad_gbs = 3.0 * (double)third * sizeof(float) / triad_best * 1e-9;

  static const gemm_shape shapes[] = {
      {"square 2048x2048x2048", CblasNoTrans, 2048, 2048, 2048},
      {"X.W 256x10x784", CblasNoTrans, 256, 10, 784},
      {"X^T.G 784x10x256", CblasTrans, 784, 10, 256},
      {"mlp X.W1 128x128x784", CblasNoTrans, 128, 128, 784},
      {"mlp x16 X.W1 128x2048x784", CblasNoTrans, 128, 2048, 784},
      {"mlp X^T.dH 784x128x128", CblasTrans, 784, 128, 128},
      {"mlp x16 X^T.dH 784x2048x128", CblasTrans, 784, 2048, 128},
  };
  enum { SHAPES = sizeof shapes / sizeof *shapes };
  double gflops[SHAPES];
  for (int s = 0; s < SHAPES; ++s) gflops[s] = gemm_gflops(&shapes[s], (int)repeats);

  const char *config = openblas_get_config();
  const char *core = openblas_get_corename();
  if (json) {
    printf(
        "{\"tool\": \"rt-floor\", \"version\": \"%s\", \"threads\": %ld, "
        "\"openblas_threads\": %d, \"openblas_core\": \"%s\", \"array_mib\": %.1f, "
        "\"repeats\": %ld, \"read_gbs\": %.3f, \"copy_gbs\": %.3f, \"triad_gbs\": %.3f, "
        "\"sgemm_square_gflops\": %.3f, \"sgemm_xw_gflops\": %.3f, "
        "\"sgemm_xtg_gflops\": %.3f, \"sgemm_mlp_xw_gflops\": %.3f, "
        "\"sgemm_mlp16_xw_gflops\": %.3f, \"sgemm_mlp_xtg_gflops\": %.3f, "
        "\"sgemm_mlp16_xtg_gflops\": %.3f}\n",
        RINGTRAIN_VERSION, threads, openblas_get_num_threads(), core ? core : "unknown",
        array_bytes / 1048576.0, repeats, read_gbs, copy_gbs, triad_gbs, gflops[0], gflops[1],
        gflops[2], gflops[3], gflops[4], gflops[5], gflops[6]);
  } else {
    printf("# rt-floor %s: threads %ld (OpenBLAS %d), best of %ld\n", RINGTRAIN_VERSION, threads,
           openblas_get_num_threads(), repeats);
    printf("# OpenBLAS: %s (core %s)\n", config ? config : "unknown", core ? core : "unknown");
    printf("# memory: %.0f MiB array of float; GB = 1e9 bytes\n", array_bytes / 1048576.0);
    printf("%-32s %12s %s\n", "measure", "value", "unit");
    printf("%-32s %12.2f %s\n", "read (sum)", read_gbs, "GB/s");
    printf("%-32s %12.2f %s\n", "copy a=b", copy_gbs, "GB/s");
    printf("%-32s %12.2f %s\n", "triad a=b+s*c", triad_gbs, "GB/s");
    for (int s = 0; s < SHAPES; ++s) {
      char label[64];
      snprintf(label, sizeof label, "sgemm %s", shapes[s].name);
      printf("%-32s %12.2f %s\n", label, gflops[s], "GFLOP/s");
    }
  }
  if (fflush(stdout) != 0 || ferror(stdout)) die("cannot write to standard output");
  return 0;
}
