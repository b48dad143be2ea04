/* Shared body of the data-file fuzz targets (fuzz_csv.c, fuzz_npy.c): the readers take a path,
 * so each input is written to one per-process temporary file under /tmp (made with mkstemps at
 * the first input, removed at exit) and read back with auto-detected options, without a label
 * column and with the label in column 0: probe, count the rows, read everything, read every
 * logical shard of 1 and 3. */
#ifndef RT_FUZZ_DATA_COMMON_H
#define RT_FUZZ_DATA_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringtrain/data.h"
#include "ringtrain/status.h"

static char fuzz_path[64];
static int fuzz_fd = -1;

static void fuzz_remove_file(void) {
  if (fuzz_fd >= 0) {
    close(fuzz_fd);
    unlink(fuzz_path);
  }
}

/* Writes the input as the whole content of the temporary file. */
static void fuzz_write_file(const char *suffix, const uint8_t *data, size_t size) {
  if (fuzz_fd < 0) {
    snprintf(fuzz_path, sizeof fuzz_path, "/tmp/ringtrain-fuzz-XXXXXX%s", suffix);
    fuzz_fd = mkstemps(fuzz_path, (int)strlen(suffix));
    if (fuzz_fd < 0) {
      perror("mkstemps");
      abort();
    }
    atexit(fuzz_remove_file);
  }
  if (ftruncate(fuzz_fd, 0) != 0) abort();
  size_t done = 0;
  while (done < size) {
    ssize_t n = pwrite(fuzz_fd, data + done, size - done, (off_t)done);
    if (n <= 0) abort();
    done += (size_t)n;
  }
}

static void fuzz_check_status(const rt_status *st) {
  if (memchr(st->message, '\n', strnlen(st->message, sizeof st->message))) abort();
  if (st->code != RT_OK && st->message[0] == '\0') abort();
}

/* What a shard says about itself must hold for its buffers (ASan checks the accesses). */
static void fuzz_touch_shard(const rt_shard *sh, const rt_data_info *info) {
  if (sh->features != info->features) abort();
  if (sh->rows == 0) return;
  volatile float sink = 0.0f;
  if (sh->indptr) { /* sparse rows: offsets ascending, columns in range */
    if (sh->indptr[0] != 0) abort();
    for (size_t i = 0; i < sh->rows; ++i) {
      if (sh->indptr[i + 1] < sh->indptr[i]) abort();
      for (uint64_t k = sh->indptr[i]; k < sh->indptr[i + 1]; ++k) {
        if (sh->indices[k] >= sh->features) abort();
        sink += sh->values[k];
      }
    }
  } else {
    sink += sh->x[0] + sh->x[sh->rows * sh->features - 1];
  }
  if (sh->y) sink += sh->y[0] + sh->y[sh->rows - 1];
  (void)sink;
}

static void fuzz_read_file(void) {
  for (int label = -1; label <= 0; ++label) {
    rt_data_options opt = {.path = fuzz_path,
                           .format = RT_FORMAT_AUTO,
                           .label_column = label,
                           .header = -1,
                           .delimiter = 0};
    rt_data_info info;
    rt_status st;
    rt_status_clear(&st);
    if (rt_data_probe(&opt, &info, &st) != RT_OK) {
      fuzz_check_status(&st);
      continue;
    }
    uint64_t rows = 0;
    rt_status_clear(&st);
    if (rt_data_count_rows(&opt, &info, &rows, &st) != RT_OK) fuzz_check_status(&st);
    rt_shard all;
    memset(&all, 0, sizeof all);
    rt_status_clear(&st);
    size_t all_rows = 0;
    int all_ok = rt_data_read_all(&opt, &info, &all, &st) == RT_OK;
    if (all_ok) {
      fuzz_touch_shard(&all, &info);
      all_rows = all.rows;
      /* LIBSVM: the probe's count (every row parsed) and the counter's agree with the rows. */
      if (info.format == RT_FORMAT_LIBSVM && (info.rows != all.rows || rows != all.rows)) abort();
      rt_shard_free(&all);
    } else {
      fuzz_check_status(&st);
    }
    for (size_t nshards = 1; nshards <= 3; nshards += 2) {
      size_t sum = 0;
      int shards_ok = 1;
      for (size_t s = 0; s < nshards; ++s) {
        rt_shard sh;
        memset(&sh, 0, sizeof sh);
        rt_status_clear(&st);
        if (rt_data_read_shard(&opt, &info, s, nshards, &sh, &st) != RT_OK) {
          fuzz_check_status(&st);
          shards_ok = 0;
          continue;
        }
        fuzz_touch_shard(&sh, &info);
        sum += sh.rows;
        rt_shard_free(&sh);
      }
      /* The shards of a file that reads whole are its rows, cut without loss or overlap. */
      if (all_ok && shards_ok && sum != all_rows) abort();
    }
  }
}

#endif
