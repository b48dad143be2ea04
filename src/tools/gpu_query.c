/* rt-gpu-query: what this node offers the CUDA backend, for scripts/gpu/validate.sh and for a
 * first look at a new node.
 *
 *   - the CUDA version the driver supports and the runtime, cuBLAS and NCCL that were loaded;
 *   - every visible device: name, compute capability, memory (total, free), multiprocessors,
 *     memory bus and clock (and the peak bandwidth they imply);
 *   - the device-to-device copy bandwidth of one device (--copy-mib M, default 1024; 0 = skip),
 *     the best of --repeats copies: the memory-bandwidth floor of the throughput figures;
 *   - with --gemm, on that device, the backend's matrix product (cuda/gemm.cu) for the shapes the
 *     families issue: whether it equals its host emulation and is the same alone as in its batch,
 *     and its speed against cublasSgemmStridedBatched (GFLOP/s, best of --repeats).
 *
 * No device visible: one line on stderr saying why (no driver, a driver too old for this runtime,
 * no GPU, CUDA_VISIBLE_DEVICES), exit 1. A build without the CUDA backend says so, exit 1.
 * Output: a table, or one JSON object with --json. Usage: rt-gpu-query [--copy-mib M]
 * [--copy-device D] [--repeats R] [--gemm] [--json] */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if RINGTRAIN_WITH_CUDA
#include "gemm.h"
#include "rt_cuda.h"
#include "rt_cuda_query.h"
#endif

static const char usage_text[] =
    "Usage: rt-gpu-query [--copy-mib M] [--copy-device D] [--repeats R] [--gemm] [--json]\n"
    "Lists the CUDA driver, runtime, cuBLAS and NCCL versions and every visible device, and\n"
    "measures device D's (default 0) device-to-device copy bandwidth over M MiB (default 1024;\n"
    "0 skips it), best of R copies (default 10). No device: one line saying why, exit 1.\n"
    "  --gemm   also check and time the backend's matrix product on device D for the families'\n"
    "           shapes against cuBLAS (exit 1 when it differs from its emulation or alone)\n"
    "  --json   print one JSON object instead of the table\n";

static long parse_long(const char *name, const char *text, long min, long max) {
  char *end = NULL;
  errno = 0;
  const long v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > max) {
    fprintf(stderr, "rt-gpu-query: %s expects an integer in [%ld, %ld], got '%s'\n", name, min, max,
            text);
    exit(2);
  }
  return v;
}

#if RINGTRAIN_WITH_CUDA

#define MAX_DEVICES 64

/* "13.0" from 13000; "none" for 0. */
static void cuda_version_text(int v, char *out, size_t cap) {
  if (v <= 0) snprintf(out, cap, "none");
  else snprintf(out, cap, "%d.%d", v / 1000, v % 1000 / 10);
}

/* JSON string contents (the names are plain ASCII; quotes, backslashes and control characters are
 * escaped anyway). */
static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; ++s) {
    const unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static double peak_gbs(const rt_cuda_device_info *d) {
  /* Double data rate: two transfers per clock over the whole bus. */
  return 2.0 * (double)d->memory_clock_khz * 1e3 * (double)d->memory_bus_bits / 8.0 / 1e9;
}

/* The case's GFLOP/s at `seconds` a batch of products (0 when not timed). */
static double gflops(const rt_cuda_gemm_case *c, double seconds) {
  if (seconds <= 0.0) return 0.0;
  return 2.0 * c->m * c->n * (double)c->k * c->count / seconds / 1e9;
}

static int fail(const rt_status *st) {
  fprintf(stderr, "rt-gpu-query: %s\n", st->message);
  return 1;
}

int main(int argc, char **argv) {
  long copy_mib = 1024, copy_device = 0, repeats = 10;
  int json = 0, gemm = 0;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      fputs(usage_text, stdout);
      return 0;
    } else if (strcmp(a, "--json") == 0) {
      json = 1;
    } else if (strcmp(a, "--gemm") == 0) {
      gemm = 1;
    } else if (i + 1 < argc && strcmp(a, "--copy-mib") == 0) {
      copy_mib = parse_long(a, argv[++i], 0, 1L << 20);
    } else if (i + 1 < argc && strcmp(a, "--copy-device") == 0) {
      copy_device = parse_long(a, argv[++i], 0, MAX_DEVICES - 1);
    } else if (i + 1 < argc && strcmp(a, "--repeats") == 0) {
      repeats = parse_long(a, argv[++i], 1, 1000);
    } else {
      fprintf(stderr, "rt-gpu-query: unknown argument '%s'\n%s", a, usage_text);
      return 2;
    }
  }

  rt_status st;
  rt_status_clear(&st);
  int driver = 0, runtime = 0, count = 0;
  if (rt_cuda_device_count(&count, &st) != RT_OK) return fail(&st);
  rt_cuda_versions(&driver, &runtime);
  char driver_text[32], runtime_text[32];
  cuda_version_text(driver, driver_text, sizeof driver_text);
  cuda_version_text(runtime, runtime_text, sizeof runtime_text);
  if (count == 0) {
    const char *visible = getenv("CUDA_VISIBLE_DEVICES");
    char driver_note[80];
    if (driver == 0) snprintf(driver_note, sizeof driver_note, "none loaded (libcuda.so.1)");
    else snprintf(driver_note, sizeof driver_note, "supports CUDA %s", driver_text);
    fprintf(stderr, "rt-gpu-query: no CUDA device: %s; driver: %s; runtime: CUDA %s%s%s\n",
            rt_cuda_no_device_reason(), driver_note, runtime_text,
            visible ? "; CUDA_VISIBLE_DEVICES=" : "", visible ? visible : "");
    return 1;
  }
  if (count > MAX_DEVICES) count = MAX_DEVICES;
  if (copy_device >= count) {
    fprintf(stderr, "rt-gpu-query: --copy-device %ld, but only %d device(s) are visible\n",
            copy_device, count);
    return 2;
  }
  int cublas = 0, nccl = 0;
  if (rt_cuda_library_versions(&cublas, &nccl, &st) != RT_OK) return fail(&st);
  static rt_cuda_device_info info[MAX_DEVICES];
  for (int d = 0; d < count; ++d)
    if (rt_cuda_device_info_of(d, &info[d], &st) != RT_OK) return fail(&st);
  double copy_bps = 0.0;
  if (copy_mib > 0 && rt_cuda_copy_bandwidth((int)copy_device, (size_t)copy_mib << 20, (int)repeats,
                                             &copy_bps, &st) != RT_OK)
    return fail(&st);
  size_t cases = 0;
  const char *const *names = NULL;
  const rt_cuda_gemm_case *gc = rt_cuda_gemm_cases(&cases, &names);
  enum { MAX_CASES = 32 };
  static rt_cuda_gemm_result gr[MAX_CASES];
  int gemm_bad = 0;
  if (gemm) {
    char problem[512];
    rt_cuda_use_device((int)copy_device, problem, sizeof problem);
    if (problem[0]) {
      fprintf(stderr, "rt-gpu-query: %s\n", problem);
      return 1;
    }
    if (cases > MAX_CASES) cases = MAX_CASES;
    for (size_t i = 0; i < cases; ++i) {
      if (rt_cuda_gemm_check(&gc[i], (int)repeats, &gr[i], &st) != RT_OK) return fail(&st);
      if (!gr[i].same_as_emulation || !gr[i].tiled_same_as_emulation || !gr[i].batch_independent)
        gemm_bad = 1;
    }
  } else {
    cases = 0;
  }

  const double mib = 1024.0 * 1024.0;
  if (json) {
    printf(
        "{\"driver_cuda\":\"%s\",\"runtime_cuda\":\"%s\",\"cublas\":\"%d.%d.%d\","
        "\"nccl\":\"%d.%d.%d\",\"device_count\":%d,\"devices\":[",
        driver_text, runtime_text, cublas / 10000, cublas / 100 % 100, cublas % 100, nccl / 10000,
        nccl / 100 % 100, nccl % 100, count);
    for (int d = 0; d < count; ++d) {
      const rt_cuda_device_info *x = &info[d];
      printf("%s{\"index\":%d,\"name\":", d ? "," : "", d);
      json_string(stdout, x->name);
      printf(
          ",\"compute_capability\":\"%d.%d\",\"memory_total_mib\":%.0f,"
          "\"memory_free_mib\":%.0f,\"multiprocessors\":%d,\"memory_bus_bits\":%d,"
          "\"memory_clock_mhz\":%.0f,\"memory_peak_gbs\":%.1f,\"pci_bus_id\":",
          x->cc_major, x->cc_minor, (double)x->total_bytes / mib, (double)x->free_bytes / mib,
          x->multiprocessors, x->memory_bus_bits, x->memory_clock_khz / 1e3, peak_gbs(x));
      json_string(stdout, x->pci_bus_id);
      putchar('}');
    }
    printf("],\"copy\":");
    if (copy_mib > 0)
      printf("{\"device\":%ld,\"mib\":%ld,\"repeats\":%ld,\"gbs\":%.1f}", copy_device, copy_mib,
             repeats, copy_bps / 1e9);
    else printf("null");
    printf(",\"gemm\":[");
    for (size_t i = 0; i < cases; ++i) {
      const rt_cuda_gemm_case *c = &gc[i];
      printf("%s{\"case\":", i ? "," : "");
      json_string(stdout, names[i]);
      printf(
          ",\"ta\":%d,\"tb\":%d,\"m\":%d,\"n\":%d,\"k\":%d,\"count\":%d,\"ours_gflops\":%.1f,"
          "\"tiled_gflops\":%.1f,\"cublas_gflops\":%.1f,\"same_as_emulation\":%s,"
          "\"tiled_same_as_emulation\":%s,\"batch_independent\":%s,"
          "\"cublas_batch_independent\":%s}",
          c->ta, c->tb, c->m, c->n, c->k, c->count, gflops(c, gr[i].ours_seconds),
          gflops(c, gr[i].tiled_seconds), gflops(c, gr[i].cublas_seconds),
          gr[i].same_as_emulation ? "true" : "false",
          gr[i].tiled_same_as_emulation ? "true" : "false",
          gr[i].batch_independent ? "true" : "false", gr[i].cublas_independent ? "true" : "false");
    }
    printf("]}\n");
    return gemm_bad;
  }
  printf("# driver supports CUDA %s; runtime CUDA %s; cuBLAS %d.%d.%d; NCCL %d.%d.%d\n",
         driver_text, runtime_text, cublas / 10000, cublas / 100 % 100, cublas % 100, nccl / 10000,
         nccl / 100 % 100, nccl % 100);
  printf("%-3s %-28s %4s %11s %11s %4s %6s %10s  %s\n", "dev", "name", "cc", "total_MiB",
         "free_MiB", "SMs", "bus", "peak_GB/s", "pci");
  for (int d = 0; d < count; ++d) {
    const rt_cuda_device_info *x = &info[d];
    printf("%-3d %-28s %d.%-2d %11.0f %11.0f %4d %6d %10.1f  %s\n", d, x->name, x->cc_major,
           x->cc_minor, (double)x->total_bytes / mib, (double)x->free_bytes / mib,
           x->multiprocessors, x->memory_bus_bits, peak_gbs(x), x->pci_bus_id);
  }
  if (copy_mib > 0)
    printf(
        "# device %ld copy bandwidth: %.1f GB/s (%ld MiB device-to-device, best of %ld; read + "
        "write bytes)\n",
        copy_device, copy_bps / 1e9, copy_mib, repeats);
  if (cases > 0)
    printf("# products on device %ld (cuda/gemm.cu vs cublasSgemmStridedBatched, best of %ld):\n",
           copy_device, repeats);
  for (size_t i = 0; i < cases; ++i)
    printf(
        "#   %s: ours %.0f GFLOP/s (shared-memory form %.0f), cuBLAS %.0f; = emulation %s (%s), "
        "alone = batched %s (cuBLAS %s)\n",
        names[i], gflops(&gc[i], gr[i].ours_seconds), gflops(&gc[i], gr[i].tiled_seconds),
        gflops(&gc[i], gr[i].cublas_seconds), gr[i].same_as_emulation ? "yes" : "NO",
        gr[i].tiled_same_as_emulation ? "yes" : "NO", gr[i].batch_independent ? "yes" : "NO",
        gr[i].cublas_independent ? "yes" : "no");
  return gemm_bad;
}

#else /* a build without the CUDA backend */

int main(int argc, char **argv) {
  for (int i = 1; i < argc; ++i)
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage_text, stdout);
      return 0;
    }
  (void)parse_long;
  fprintf(stderr,
          "rt-gpu-query: this build has no CUDA backend (configure with "
          "-DRINGTRAIN_CUDA=ON where nvcc and NCCL exist)\n");
  return 1;
}

#endif
