/* Streamed shards' reading (src/data/row_source.c, batch_stream.c): rows read from a .npy file
 * through a row source (a row range, a subset after the validation split, with scaling) equal the
 * rows the resident reader gives, bit for bit, for every dtype the reader converts; the batch
 * stream hands out batches in the order asked from any starting batch, may be closed early, and
 * reports a read error (a file truncated under it) with the file's own message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch_stream.h"
#include "normalize.h"
#include "npy_writer.h"
#include "ringtrain/data.h"
#include "row_source.h"
#include "test_util.h"

enum { ROWS = 1000, COLS = 7 };

static int group_setup(void **state) {
  (void)state;
  return tu_make_dir("/tmp/rt_test_row_source_XXXXXX");
}

static int group_teardown(void **state) {
  (void)state;
  return tu_remove_tree(tu_dir);
}

/* A float32 .npy of ROWS x COLS, column 3 the label (0..4). */
static void write_npy(const char *path) {
  unsigned char header[RT_NPY_HEADER_BYTES];
  rt_npy_f32_header(ROWS, COLS, header);
  float *v = malloc(sizeof(float) * ROWS * COLS);
  assert_non_null(v);
  for (int r = 0; r < ROWS; ++r)
    for (int c = 0; c < COLS; ++c)
      v[r * COLS + c] = c == 3 ? (float)(r % 5) : (float)(r * 0.37 - c * 1.1);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(header, 1, sizeof header, f), sizeof header);
  assert_int_equal(fwrite(v, sizeof(float), ROWS * COLS, f), ROWS * COLS);
  fclose(f);
  free(v);
}

static void test_rows_and_subsets(void **state) {
  (void)state;
  char path[512];
  tu_path_in(path, sizeof path, "a.npy");
  write_npy(path);
  rt_data_options opt = {.path = path, .label_column = 3};
  rt_data_info info;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_probe(&opt, &info, &st), RT_OK);
  /* Shard 1 of 3 in memory, and the same rows as a source. */
  rt_shard want;
  assert_int_equal(rt_data_read_shard(&opt, &info, 1, 3, &want, &st), RT_OK);
  rt_row_source *src = NULL;
  assert_int_equal(rt_row_source_open(path, 3, want.first_row, want.rows, &src, &st), RT_OK);
  assert_int_equal(rt_row_source_rows(src), want.rows);
  assert_int_equal(rt_row_source_features(src), COLS - 1);
  float *x = malloc(sizeof(float) * want.rows * (COLS - 1));
  float *y = malloc(sizeof(float) * want.rows);
  void *scratch = malloc(rt_row_source_scratch_bytes(src, want.rows));
  assert_int_equal(rt_row_source_read(src, 0, want.rows, x, y, scratch, &st), RT_OK);
  assert_memory_equal(x, want.x, sizeof(float) * want.rows * (COLS - 1));
  assert_memory_equal(y, want.y, sizeof(float) * want.rows);
  /* The validation split of both: the same rows either way. */
  rt_shard streamed = {
      .rows = want.rows, .features = COLS - 1, .y = y, .first_row = want.first_row, .source = src};
  rt_shard t1, v1, t2, v2;
  assert_int_equal(rt_shard_split_validation(&want, 0.25, 7, 1, &t1, &v1, &st), RT_OK);
  assert_int_equal(rt_shard_split_validation(&streamed, 0.25, 7, 1, &t2, &v2, &st), RT_OK);
  assert_int_equal(t1.rows, t2.rows);
  assert_int_equal(v1.rows, v2.rows);
  assert_non_null(t2.source);
  assert_non_null(v2.source);
  assert_int_equal(rt_shard_copy_rows(&t2, 0, t2.rows, x, scratch, &st), RT_OK);
  assert_memory_equal(x, t1.x, sizeof(float) * t1.rows * (COLS - 1));
  assert_memory_equal(t2.y, t1.y, sizeof(float) * t1.rows);
  assert_int_equal(rt_shard_copy_rows(&v2, 0, v2.rows, x, scratch, &st), RT_OK);
  assert_memory_equal(x, v1.x, sizeof(float) * v1.rows * (COLS - 1));
  /* Scaling: applied on read, the same bits as in place. */
  rt_scaling sc = {RT_NORMALIZE_STANDARD, COLS - 1, malloc(sizeof(float) * (COLS - 1)),
                   malloc(sizeof(float) * (COLS - 1))};
  for (int f = 0; f < COLS - 1; ++f)
    sc.offset[f] = 0.3f * (float)f, sc.scale[f] = 1.0f / (1.5f + (float)f);
  assert_int_equal(rt_scaling_apply(&sc, &t1, &st), RT_OK);
  assert_int_equal(rt_scaling_apply(&sc, &t2, &st), RT_OK);
  assert_int_equal(rt_shard_copy_rows(&t2, 0, t2.rows, x, scratch, &st), RT_OK);
  assert_memory_equal(x, t1.x, sizeof(float) * t1.rows * (COLS - 1));
  /* Gather (the k-means++ sample): rows by index. */
  const uint64_t index[4] = {5, 0, 17, 5};
  float g[4 * (COLS - 1)];
  assert_int_equal(rt_row_source_gather(t2.source, index, 4, g, &st), RT_OK);
  for (int i = 0; i < 4; ++i)
    assert_memory_equal(g + i * (COLS - 1), t1.x + index[i] * (COLS - 1),
                        sizeof(float) * (COLS - 1));
  rt_scaling_free(&sc);
  rt_shard_free(&t1);
  rt_shard_free(&v1);
  rt_shard_free(&t2);
  rt_shard_free(&v2);
  free(x);
  free(scratch);
}

static void test_batch_stream(void **state) {
  (void)state;
  char path[512];
  tu_path_in(path, sizeof path, "b.npy");
  write_npy(path);
  rt_data_options opt = {.path = path, .label_column = 3};
  rt_data_info info;
  rt_status st;
  rt_status_clear(&st);
  assert_int_equal(rt_data_probe(&opt, &info, &st), RT_OK);
  rt_shard want;
  assert_int_equal(rt_data_read_all(&opt, &info, &want, &st), RT_OK);
  rt_shard sh = {.rows = ROWS, .features = COLS - 1};
  assert_int_equal(rt_row_source_open(path, 3, 0, ROWS, &sh.source, &st), RT_OK);
  enum { BATCH = 64 };
  const size_t nb = (ROWS + BATCH - 1) / BATCH;
  uint64_t order[16];
  for (size_t k = 0; k < nb; ++k) order[k] = (k * 7 + 3) % nb; /* a permutation of 0..15 */
  for (size_t k0 = 0; k0 < nb; k0 += 5) {
    rt_batch_stream *bs = NULL;
    assert_int_equal(rt_batch_stream_open(&sh, order, nb, k0, BATCH, &bs, &st), RT_OK);
    for (size_t k = k0; k < nb; ++k) {
      const float *x = NULL;
      size_t rows = 0;
      assert_int_equal(rt_batch_stream_next(bs, &x, &rows, &st), RT_OK);
      const size_t first = (size_t)order[k] * BATCH;
      assert_int_equal(rows, first + BATCH <= ROWS ? BATCH : ROWS - first);
      assert_memory_equal(x, want.x + first * (COLS - 1), rows * (COLS - 1) * sizeof(float));
    }
    rt_batch_stream_close(bs);
  }
  /* Closed after one batch: the reader stops (no hang, nothing leaks). */
  rt_batch_stream *bs = NULL;
  assert_int_equal(rt_batch_stream_open(&sh, NULL, nb, 0, BATCH, &bs, &st), RT_OK);
  const float *x = NULL;
  size_t rows = 0;
  assert_int_equal(rt_batch_stream_next(bs, &x, &rows, &st), RT_OK);
  rt_batch_stream_close(bs);
  /* The file cut short under the stream: the read error, with the file's name. */
  assert_int_equal(truncate(path, RT_NPY_HEADER_BYTES + 100 * COLS * 4), 0);
  assert_int_equal(rt_batch_stream_open(&sh, NULL, nb, 0, BATCH, &bs, &st), RT_OK);
  rt_code rc = RT_OK;
  for (size_t k = 0; k < nb && rc == RT_OK; ++k) rc = rt_batch_stream_next(bs, &x, &rows, &st);
  rt_batch_stream_close(bs);
  assert_int_equal(rc, RT_ERR_DATA);
  assert_non_null(strstr(st.message, "b.npy: payload truncated"));
  rt_shard_free(&sh);
  rt_shard_free(&want);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rows_and_subsets),
      cmocka_unit_test(test_batch_stream),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
