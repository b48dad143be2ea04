/* librt_launch_count.so: counts the kernels, memory copies and memsets a CUDA process runs on the
 * device, for the "kernel launches per batch" figure of scripts/gpu/validate.sh. Every kernel is
 * counted, ours and cuBLAS's alike, whatever API launched it (CUPTI activity records).
 *
 * Not linked into anything: the CUDA driver loads it into a process started with
 *   CUDA_INJECTION64_PATH=/abs/path/librt_launch_count.so RT_LAUNCH_COUNT_FILE=/abs/path/out
 * and calls InitializeInjection when CUDA initialises. At exit it appends one line to
 * RT_LAUNCH_COUNT_FILE:
 *   {"kernels":N,"memcpys":N,"memsets":N,"dropped":N}
 * (dropped: records CUPTI lost, the counts are then too low and the line says so). Problems are
 * reported on stderr as "rt_launch_count: ..." and leave the file without a line; the traced
 * process itself is never stopped. Activity tracing slows launches down: time nothing with it. */
#include <cupti.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define BUFFER_BYTES ((size_t)8 << 20)
#define RECORD_ALIGN 8

int InitializeInjection(void);

static uint64_t kernels, memcpys, memsets, dropped;
static int active;

static void count_add(uint64_t *counter, uint64_t n) {
  __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static int cupti_ok(CUptiResult r, const char *call) {
  if (r == CUPTI_SUCCESS) return 1;
  const char *text = "unknown error";
  if (cuptiGetResultString(r, &text) != CUPTI_SUCCESS) text = "unknown error";
  fprintf(stderr, "rt_launch_count: %s failed: %s\n", call, text);
  return 0;
}

static void CUPTIAPI buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records) {
  *buffer = aligned_alloc(RECORD_ALIGN, BUFFER_BYTES);
  *size = *buffer ? BUFFER_BYTES : 0;
  *max_records = 0; /* as many as fit */
}

static void CUPTIAPI buffer_completed(CUcontext context, uint32_t stream, uint8_t *buffer,
                                      size_t size, size_t valid) {
  (void)size;
  CUpti_Activity *record = NULL;
  uint64_t k = 0, c = 0, s = 0;
  while (cuptiActivityGetNextRecord(buffer, valid, &record) == CUPTI_SUCCESS) {
    switch (record->kind) {
      case CUPTI_ACTIVITY_KIND_KERNEL:
      case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: ++k; break;
      case CUPTI_ACTIVITY_KIND_MEMCPY: ++c; break;
      case CUPTI_ACTIVITY_KIND_MEMSET: ++s; break;
      default: break;
    }
  }
  count_add(&kernels, k);
  count_add(&memcpys, c);
  count_add(&memsets, s);
  size_t lost = 0;
  if (cuptiActivityGetNumDroppedRecords(context, stream, &lost) == CUPTI_SUCCESS && lost > 0)
    count_add(&dropped, (uint64_t)lost);
  free(buffer);
}

static void write_counts(void) {
  if (!active) return;
  active = 0;
  cupti_ok(cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED), "cuptiActivityFlushAll");
  const char *path = getenv("RT_LAUNCH_COUNT_FILE");
  FILE *f = fopen(path, "a");
  if (!f) {
    fprintf(stderr, "rt_launch_count: cannot open RT_LAUNCH_COUNT_FILE '%s'\n", path);
    return;
  }
  fprintf(f, "{\"kernels\":%llu,\"memcpys\":%llu,\"memsets\":%llu,\"dropped\":%llu}\n",
          (unsigned long long)__atomic_load_n(&kernels, __ATOMIC_RELAXED),
          (unsigned long long)__atomic_load_n(&memcpys, __ATOMIC_RELAXED),
          (unsigned long long)__atomic_load_n(&memsets, __ATOMIC_RELAXED),
          (unsigned long long)__atomic_load_n(&dropped, __ATOMIC_RELAXED));
  if (fclose(f) != 0) fprintf(stderr, "rt_launch_count: cannot write '%s'\n", path);
}

/* Called by the CUDA driver (CUDA_INJECTION64_PATH). Returns 1: CUDA goes on in every case. */
int InitializeInjection(void) {
  if (active) return 1;
  const char *path = getenv("RT_LAUNCH_COUNT_FILE");
  if (!path || !path[0]) {
    fprintf(stderr, "rt_launch_count: RT_LAUNCH_COUNT_FILE is not set; nothing is counted\n");
    return 1;
  }
  if (!cupti_ok(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed),
                "cuptiActivityRegisterCallbacks") ||
      !cupti_ok(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL),
                "cuptiActivityEnable(CONCURRENT_KERNEL)") ||
      !cupti_ok(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMCPY), "cuptiActivityEnable(MEMCPY)") ||
      !cupti_ok(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_MEMSET), "cuptiActivityEnable(MEMSET)"))
    return 1;
  active = 1;
  /* Registered after the CUDA runtime's own exit handler, so it runs before the runtime tears
   * the contexts down. */
  if (atexit(write_counts) != 0) {
    fprintf(stderr, "rt_launch_count: atexit failed; nothing is counted\n");
    active = 0;
  }
  return 1;
}
