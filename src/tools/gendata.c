/* rt-gendata: writes a synthetic classification or regression data set (float32 .npy or CSV) for
 * benchmarks.
 *
 * Each class c has a mean vector m_c with independent N(0, separation^2 / (2 * features)) entries,
 * so two class means lie about `separation` noise standard deviations apart; a row of class y is
 * m_y plus N(0, 1) noise in every feature. Labels are uniform over the classes. With the default
 * separation (4.5) a linear softmax classifier reaches roughly 90% accuracy: learnable, not
 * trivial.
 *
 * Every number is a pure function of (seed, row, column) through a counter-based generator
 * (SplitMix64 + Box-Muller in float), so the output does not depend on the thread count (it may
 * differ in the last bits between C libraries, whose logf/sinf/cosf may round differently). The
 * class means depend only on --problem-seed, so files written with different --seed values (a
 * training set and a validation set, say) are samples of the same problem.
 *
 * --regression writes a linear regression problem instead: feature j of every row is
 * mu_j + N(0, 1), and the label column holds the target y = b + x.w + noise * N(0, 1), with
 * mu_j ~ N(0, 1), w_j ~ N(0, 1 / features) (so x.w varies with a standard deviation of about 1)
 * and b ~ N(0, 1) fixed by --problem-seed. With the default noise (0.5) the best linear fit
 * explains about 80% of the target's variance (R^2 ~ 0.8). The classification options (--classes,
 * --separation) do not apply; the output of every other option is unchanged by this mode.
 *
 * Usage: rt-gendata --rows N --features D (--classes C | --regression) --out FILE [options];
 * see --help. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef RINGTRAIN_VERSION
#define RINGTRAIN_VERSION "unknown"
#endif

#define BLOCK_ROWS 2048

static const char usage_text[] =
    "Usage: rt-gendata --rows N --features D --classes C --out FILE [options]\n"
    "       rt-gendata --rows N --features D --regression --out FILE [options]\n"
    "Writes a synthetic classification problem: Gaussian class clusters, one label column\n"
    "(with --regression: a linear regression problem, the target in the label column).\n"
    "\n"
    "  --rows N            number of rows (samples), >= 1\n"
    "  --features D        number of feature columns, >= 1\n"
    "  --classes C         number of classes, 2..16777216 (labels 0..C-1)\n"
    "  --out FILE          output file ('-' for standard output)\n"
    "  --seed S            seed of the rows (labels and noise), default 1\n"
    "  --problem-seed P    seed of the class means, default 1; keep it equal for a training\n"
    "                      and a validation file and give them different --seed values\n"
    "  --separation X      distance between class means in noise standard deviations,\n"
    "                      default 4.5 (larger is easier)\n"
    "  --label-last        put the label in the last column (default: column 0)\n"
    "  --regression        write a linear regression problem instead (no --classes): features\n"
    "                      mu + N(0, 1), target b + x.w + noise in the label column (mu, w, b\n"
    "                      fixed by --problem-seed; R^2 of the best linear fit ~ 0.8)\n"
    "  --noise S           standard deviation of the target noise with --regression, default 0.5\n"
    "  --csv               write CSV instead of .npy: no header, the label as an integer,\n"
    "                      features with 9 significant digits (exact float32; slower)\n"
    "  --threads T         OpenMP threads used to generate (default: all; output is the same)\n"
    "  --help, --version\n"
    "\n"
    "The .npy file is float32, 2-D, C order, shape (N, D + 1), format version 1.0.\n";

/* ---- counter-based random numbers ---------------------------------------------------------- */

static uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t key_push(uint64_t key, uint64_t id) {
  return mix64(key ^ mix64(id + 0x632be59bd9b4e019ULL));
}

static uint64_t draw(uint64_t key, uint64_t counter) { return mix64(key ^ mix64(counter)); }

/* Two independent N(0, 1) numbers from one 64-bit draw (two 24-bit uniforms, Box-Muller in
 * float: the tails stop at 5.8 standard deviations, which is plenty for benchmark data). */
static void normal_pair(uint64_t key, uint64_t counter, float *z0, float *z1) {
  uint64_t bits = draw(key, counter);
  /* u1 in (0, 1] so that log(u1) is finite; u2 in [0, 1). Both exact in float. */
  float u1 = (float)((bits >> 40) + 1) * (1.0f / 16777216.0f);
  float u2 = (float)((bits >> 8) & 0xffffffULL) * (1.0f / 16777216.0f);
  float r = sqrtf(-2.0f * logf(u1));
  float theta = 6.28318530717958647692f * u2;
  *z0 = r * cosf(theta);
  *z1 = r * sinf(theta);
}

enum { STREAM_MEANS = 1, STREAM_LABELS = 2, STREAM_NOISE = 3, STREAM_COEFS = 4, STREAM_TARGET = 5 };

/* ---- options ------------------------------------------------------------------------------- */

typedef struct options {
  long long rows, features, classes;
  uint64_t seed, problem_seed;
  double separation, noise;
  int label_last, csv, threads, regression, separation_set, noise_set;
  const char *out;
} options;

static void usage_error(const char *fmt, const char *arg) {
  fputs("rt-gendata: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs("\nTry 'rt-gendata --help'.\n", stderr);
  exit(2);
}

static long long parse_count(const char *name, const char *text, long long min, long long max) {
  char *end = NULL;
  errno = 0;
  long long value = strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
    fprintf(stderr, "rt-gendata: %s expects an integer in [%lld, %lld], got '%s'\n", name, min, max,
            text);
    exit(2);
  }
  return value;
}

static uint64_t parse_seed(const char *name, const char *text) {
  char *end = NULL;
  errno = 0;
  if (text[0] == '-') usage_error("seeds are non-negative integers, got '%s'", text);
  unsigned long long value = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') {
    fprintf(stderr, "rt-gendata: %s expects a non-negative integer, got '%s'\n", name, text);
    exit(2);
  }
  return (uint64_t)value;
}

static double parse_positive(const char *name, const char *text) {
  char *end = NULL;
  errno = 0;
  double value = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(value > 0.0) || !isfinite(value)) {
    fprintf(stderr, "rt-gendata: %s expects a positive number, got '%s'\n", name, text);
    exit(2);
  }
  return value;
}

static double parse_noise(const char *name, const char *text) {
  char *end = NULL;
  errno = 0;
  double value = strtod(text, &end);
  if (errno != 0 || end == text || *end != '\0' || !(value >= 0.0) || !isfinite(value)) {
    fprintf(stderr, "rt-gendata: %s expects a number >= 0, got '%s'\n", name, text);
    exit(2);
  }
  return value;
}

static void parse_options(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  o->rows = o->features = o->classes = -1;
  o->seed = 1;
  o->problem_seed = 1;
  o->separation = 4.5;
  o->noise = 0.5;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage_text, stdout);
      exit(fflush(stdout) == 0 ? 0 : 1);
    }
    if (strcmp(a, "--version") == 0) {
      printf("rt-gendata (ringtrain) %s\n", RINGTRAIN_VERSION);
      exit(fflush(stdout) == 0 ? 0 : 1);
    }
    if (strcmp(a, "--label-last") == 0) {
      o->label_last = 1;
      continue;
    }
    if (strcmp(a, "--csv") == 0) {
      o->csv = 1;
      continue;
    }
    if (strcmp(a, "--regression") == 0) {
      o->regression = 1;
      continue;
    }
    static const char *const valued[] = {"--rows",       "--features", "--classes",
                                         "--out",        "--seed",     "--problem-seed",
                                         "--separation", "--threads",  "--noise"};
    int known = 0;
    for (size_t k = 0; k < sizeof valued / sizeof valued[0]; ++k)
      known |= strcmp(a, valued[k]) == 0;
    if (!known) usage_error("unknown option '%s'", a);
    if (i + 1 >= argc) usage_error("%s needs a value", a);
    const char *v = argv[++i];
    if (strcmp(a, "--rows") == 0) o->rows = parse_count(a, v, 1, LLONG_MAX / 2);
    else if (strcmp(a, "--features") == 0) o->features = parse_count(a, v, 1, 1LL << 24);
    else if (strcmp(a, "--classes") == 0) o->classes = parse_count(a, v, 2, 1LL << 24);
    else if (strcmp(a, "--out") == 0) o->out = v;
    else if (strcmp(a, "--seed") == 0) o->seed = parse_seed(a, v);
    else if (strcmp(a, "--problem-seed") == 0) o->problem_seed = parse_seed(a, v);
    else if (strcmp(a, "--separation") == 0) {
      o->separation = parse_positive(a, v);
      o->separation_set = 1;
    } else if (strcmp(a, "--noise") == 0) {
      o->noise = parse_noise(a, v);
      o->noise_set = 1;
    } else o->threads = (int)parse_count(a, v, 1, 4096);
  }
  if (o->rows < 0) usage_error("%s is required", "--rows");
  if (o->features < 0) usage_error("%s is required", "--features");
  if (o->regression) {
    if (o->classes >= 0) usage_error("%s does not apply to --regression", "--classes");
    if (o->separation_set) usage_error("%s does not apply to --regression", "--separation");
  } else {
    if (o->noise_set) usage_error("%s applies to --regression only", "--noise");
    if (o->classes < 0) usage_error("%s is required", "--classes");
  }
  if (o->out == NULL) usage_error("%s is required", "--out");
}

/* ---- output -------------------------------------------------------------------------------- */

/* The file being written, removed when writing fails so that no truncated file is left. */
static const char *g_partial_output;

static void die_io(const char *what, const char *path) {
  fprintf(stderr, "rt-gendata: %s '%s': %s\n", what, path, strerror(errno));
  if (g_partial_output != NULL && remove(g_partial_output) != 0)
    fprintf(stderr, "rt-gendata: cannot remove the incomplete '%s': %s\n", g_partial_output,
            strerror(errno));
  exit(1);
}

static int host_is_little_endian(void) {
  const uint32_t one = 1;
  unsigned char first;
  memcpy(&first, &one, 1);
  return first == 1;
}

/* The header numpy writes: magic, version 1.0, little-endian header length, then the dict
 * padded with spaces and ending in '\n' so that the data start at a multiple of 64 bytes. */
static void write_npy_header(FILE *f, const char *path, long long rows, long long cols) {
  char dict[256];
  int n = snprintf(dict, sizeof dict,
                   "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld), }", rows, cols);
  if (n < 0 || (size_t)n >= sizeof dict) {
    fputs("rt-gendata: internal error formatting the .npy header\n", stderr);
    exit(1);
  }
  size_t unpadded = 10 + (size_t)n + 1; /* magic+version+length, dict, '\n' */
  size_t total = (unpadded + 63) / 64 * 64;
  size_t header_len = total - 10;
  unsigned char head[10] = {0x93,
                            'N',
                            'U',
                            'M',
                            'P',
                            'Y',
                            1,
                            0,
                            (unsigned char)(header_len & 0xff),
                            (unsigned char)(header_len >> 8)};
  char padded[320];
  memcpy(padded, dict, (size_t)n);
  memset(padded + n, ' ', header_len - (size_t)n - 1);
  padded[header_len - 1] = '\n';
  if (fwrite(head, 1, sizeof head, f) != sizeof head ||
      fwrite(padded, 1, header_len, f) != header_len)
    die_io("cannot write", path);
}

/* Fills rows [first, first + count) of the table (label column included) into `out`. */
static void generate_block(const options *o, const float *means, long long first, long long count,
                           float *out) {
  const long long d = o->features;
  const long long cols = d + 1;
  const long long pairs = (d + 1) / 2;
  const uint64_t label_key = key_push(key_push(o->seed, STREAM_LABELS), 0);
  const uint64_t noise_key = key_push(key_push(o->seed, STREAM_NOISE), 0);
#pragma omp parallel for schedule(static)
  for (long long r = 0; r < count; ++r) {
    const uint64_t row = (uint64_t)(first + r);
    /* A 32-bit uniform times the class count (<= 2^24) fits in 64 bits; the bias is below
     * classes / 2^32. */
    const uint64_t label = ((draw(label_key, row) >> 32) * (uint64_t)o->classes) >> 32;
    const float *m = means + (size_t)label * (size_t)d;
    float *dst = out + (size_t)r * (size_t)cols;
    float *x = o->label_last ? dst : dst + 1;
    dst[o->label_last ? d : 0] = (float)label;
    for (long long p = 0; p < pairs; ++p) {
      float z0, z1;
      normal_pair(noise_key, row * (uint64_t)pairs + (uint64_t)p, &z0, &z1);
      const long long j = 2 * p;
      x[j] = m[j] + z0;
      if (j + 1 < d) x[j + 1] = m[j + 1] + z1;
    }
  }
}

/* The regression problem: mu (features), w (features), b; all from --problem-seed. */
typedef struct regression_problem {
  float *mu, *w;
  double b;
} regression_problem;

static int make_regression_problem(const options *o, regression_problem *p) {
  const long long d = o->features, count = 2 * d + 1;
  float *z = malloc((size_t)(count + 1) * sizeof *z);
  if (z == NULL) return -1;
  const uint64_t key = key_push(key_push(o->problem_seed, STREAM_COEFS), 0);
  for (long long k = 0; k < count; k += 2) normal_pair(key, (uint64_t)k / 2, &z[k], &z[k + 1]);
  const double w_scale = 1.0 / sqrt((double)d);
  for (long long j = 0; j < d; ++j) z[d + j] = (float)(w_scale * z[d + j]);
  p->mu = z;
  p->w = z + d;
  p->b = (double)z[2 * d];
  return 0;
}

/* Fills rows [first, first + count) of a regression table (target in the label column). The
 * target is computed in double from the float features as written, in feature order. */
static void generate_regression_block(const options *o, const regression_problem *p,
                                      long long first, long long count, float *out) {
  const long long d = o->features;
  const long long cols = d + 1;
  const long long pairs = (d + 1) / 2;
  const uint64_t noise_key = key_push(key_push(o->seed, STREAM_NOISE), 0);
  const uint64_t target_key = key_push(key_push(o->seed, STREAM_TARGET), 0);
#pragma omp parallel for schedule(static)
  for (long long r = 0; r < count; ++r) {
    const uint64_t row = (uint64_t)(first + r);
    float *dst = out + (size_t)r * (size_t)cols;
    float *x = o->label_last ? dst : dst + 1;
    for (long long q = 0; q < pairs; ++q) {
      float z0, z1;
      normal_pair(noise_key, row * (uint64_t)pairs + (uint64_t)q, &z0, &z1);
      const long long j = 2 * q;
      x[j] = p->mu[j] + z0;
      if (j + 1 < d) x[j + 1] = p->mu[j + 1] + z1;
    }
    double y = p->b;
    for (long long j = 0; j < d; ++j) y += (double)p->w[j] * (double)x[j];
    float e0, e1;
    normal_pair(target_key, row, &e0, &e1);
    dst[o->label_last ? d : 0] = (float)(y + o->noise * (double)e0);
  }
}

static void write_csv_block(FILE *f, const char *path, const options *o, const float *block,
                            long long count) {
  const long long cols = o->features + 1;
  const long long label_col = o->label_last ? o->features : 0;
  for (long long r = 0; r < count; ++r) {
    const float *row = block + (size_t)r * (size_t)cols;
    for (long long c = 0; c < cols; ++c) {
      int rc;
      if (c == label_col && !o->regression)
        rc = fprintf(f, c + 1 < cols ? "%d," : "%d\n", (int)row[c]);
      else rc = fprintf(f, c + 1 < cols ? "%.9g," : "%.9g\n", (double)row[c]);
      if (rc < 0) die_io("cannot write", path);
    }
  }
}

int main(int argc, char **argv) {
  options o;
  parse_options(argc, argv, &o);
  if (o.threads > 0) omp_set_num_threads(o.threads);

  const long long d = o.features, cols = o.features + 1;
  /* Regression has no classes: one (unused) row of means keeps the code below as it was. */
  const long long classes = o.regression ? 1 : o.classes;
  float *means = malloc((size_t)classes * (size_t)d * sizeof *means);
  float *block = malloc((size_t)BLOCK_ROWS * (size_t)cols * sizeof *block);
  regression_problem problem = {0};
  if (means == NULL || block == NULL ||
      (o.regression && make_regression_problem(&o, &problem) != 0)) {
    fputs("rt-gendata: out of memory\n", stderr);
    return 1;
  }
  /* Entries N(0, s^2 / (2D)): |m_a - m_b| is then about s. */
  const double scale = o.separation / sqrt(2.0 * (double)d);
  const uint64_t mean_key = key_push(key_push(o.problem_seed, STREAM_MEANS), 0);
  const long long mean_count = classes * d;
  for (long long k = 0; k < mean_count; k += 2) {
    float z0, z1;
    normal_pair(mean_key, (uint64_t)k / 2, &z0, &z1);
    means[k] = (float)(scale * z0);
    if (k + 1 < mean_count) means[k + 1] = (float)(scale * z1);
  }

  const int to_stdout = strcmp(o.out, "-") == 0;
  FILE *f = to_stdout ? stdout : fopen(o.out, "wb");
  if (f == NULL) die_io("cannot create", o.out);
  if (!to_stdout) {
    /* Only a regular file is removed on failure (never /dev/full, a pipe, ...). */
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) die_io("cannot stat", o.out);
    if (S_ISREG(sb.st_mode)) g_partial_output = o.out;
  }
  const int swap = !host_is_little_endian();
  if (!o.csv) write_npy_header(f, o.out, o.rows, cols);

  for (long long first = 0; first < o.rows; first += BLOCK_ROWS) {
    long long count = o.rows - first < BLOCK_ROWS ? o.rows - first : BLOCK_ROWS;
    if (o.regression) generate_regression_block(&o, &problem, first, count, block);
    else generate_block(&o, means, first, count, block);
    if (o.csv) {
      write_csv_block(f, o.out, &o, block, count);
      continue;
    }
    size_t n = (size_t)count * (size_t)cols;
    if (swap) {
      for (size_t i = 0; i < n; ++i) {
        uint32_t u;
        memcpy(&u, &block[i], 4);
        u = (u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) | (u << 24);
        memcpy(&block[i], &u, 4);
      }
    }
    if (fwrite(block, sizeof *block, n, f) != n) die_io("cannot write", o.out);
  }
  if (to_stdout ? fflush(f) != 0 : fclose(f) != 0) die_io("cannot write", o.out);
  free(block);
  free(means);
  free(problem.mu);
  return 0;
}
